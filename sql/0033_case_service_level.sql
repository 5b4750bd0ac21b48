-- A case's priority and SLA factor follow the customer's service level (the
-- higher of the ABC grade and the asset tier's level, 0024), not the ABC
-- grade alone: a large depositor graded C by contribution is served as the
-- level its assets give. The rest of case_open is 0026's.
CREATE OR REPLACE FUNCTION case_open(actor bigint, cust bigint, p_nature text, p_kind text, p_severity integer, p_channel text,
                          p_title text, p_note text, p_product text) RETURNS service_case LANGUAGE plpgsql AS $$
DECLARE
    cu   customer;
    sev  case_severity;
    g    text;
    prio integer;
    f    numeric;
    t    timestamptz := kehu_now();
    c    service_case;
    w    numeric;
BEGIN
    PERFORM case_check_kind(p_nature, p_kind);
    SELECT * INTO sev FROM case_severity WHERE level = p_severity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'severity must be 1 to 4' USING ERRCODE = 'KH400', COLUMN = 'severity';
    END IF;
    IF p_channel IS NULL OR p_channel NOT IN ('phone', 'visit', 'email', 'wechat', 'online', 'letter', 'counter') THEN
        RAISE EXCEPTION 'channel must be phone, visit, email, wechat, online, letter or counter'
              USING ERRCODE = 'KH400', COLUMN = 'channel';
    END IF;
    IF p_title IS NULL OR btrim(p_title) = '' THEN
        RAISE EXCEPTION 'a title is required' USING ERRCODE = 'KH400', COLUMN = 'title';
    END IF;
    SELECT * INTO cu FROM customer WHERE id = cust AND merged_into IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no customer %', cust USING ERRCODE = 'KH404', COLUMN = 'customer_id';
    END IF;
    w := case_warn_at(p_nature, p_severity);
    g := coalesce((SELECT l.level FROM customer_service_level(cust) l), 'C');
    SELECT coalesce(s.complaint_priority, 3), coalesce(s.sla_factor, 1) INTO prio, f FROM grade_service(g) s;
    prio := coalesce(prio, 3);
    f := coalesce(f, 1);
    INSERT INTO service_case (customer_id, branch_id, nature, kind, severity, channel, title, note, grade, priority,
                              sla_factor, respond_hours, resolve_hours, respond_warn, respond_by, resolve_warn,
                              resolve_by, opened_by, created_at, updated_at, product)
    VALUES (cust, cu.branch_id, p_nature, p_kind, p_severity, p_channel, btrim(p_title), nullif(p_note, ''), g, prio, f,
            sev.respond_hours * f, sev.resolve_hours * f,
            work_add(cu.branch_id, t, sev.respond_hours * f * w), work_add(cu.branch_id, t, sev.respond_hours * f),
            work_add(cu.branch_id, t, sev.resolve_hours * f * w), work_add(cu.branch_id, t, sev.resolve_hours * f),
            actor, t, t, nullif(btrim(coalesce(p_product, '')), ''))
    RETURNING * INTO c;
    PERFORM case_record(c, 'opened', actor, NULL, c.title);
    PERFORM case_schedule(c);
    RETURN c;
END
$$;
