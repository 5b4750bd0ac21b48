-- Cases, continued (docs/cases.md): the product a case is about, team
-- queues, editable severity levels and escalation rules (a warning point per
-- nature x severity), periodic satisfaction surveys sampled per grade, and
-- the service-quality early warning. The periodic jobs are rows of
-- due_action (case_id NULL, one row per job and period), fired by the same
-- scheduler as the cases' deadlines, so each period's job runs once across
-- kehuds and restarts.

-- ---------------------------------------------------------------- cases

ALTER TABLE service_case ADD COLUMN product text CHECK (length(product) BETWEEN 1 AND 100);
ALTER TABLE service_case ADD COLUMN queue_id bigint REFERENCES org_unit (id);
CREATE INDEX service_case_queue ON service_case (queue_id, priority) WHERE queue_id IS NOT NULL AND handler_id IS NULL
    AND status NOT IN ('resolved', 'closed');
CREATE INDEX service_case_created ON service_case (created_at);

-- The warning point of each nature x severity (a share of the target; NULL:
-- case_policy.warn_at). Kept on the 'warn' row.
ALTER TABLE case_escalation_rule ADD COLUMN warn_at numeric CHECK (warn_at > 0 AND warn_at < 1);

CREATE FUNCTION case_warn_at(p_nature text, p_severity integer) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT r.warn_at FROM case_escalation_rule r
                      WHERE r.nature = p_nature AND r.severity = p_severity AND r.point = 'warn'),
                    case_policy_num('warn_at'), 0.8)
$$;

DROP FUNCTION case_open(bigint, bigint, text, text, integer, text, text, text);
CREATE FUNCTION case_open(actor bigint, cust bigint, p_nature text, p_kind text, p_severity integer, p_channel text,
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
    g := coalesce(grade_of(cust, 'abc'), 'C');
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

-- Without a product (as before it had one).
CREATE FUNCTION case_open(actor bigint, cust bigint, p_nature text, p_kind text, p_severity integer, p_channel text,
                          p_title text, p_note text) RETURNS service_case LANGUAGE sql AS $$
    SELECT case_open(actor, cust, p_nature, p_kind, p_severity, p_channel, p_title, p_note, NULL::text)
$$;

-- A team queue: 'queue' puts case id_ in the queue of unit p_unit (an id or
-- a name; the case's branch or a unit under it), without a handler; 'take'
-- gives a queued case to actor, who must sit in that unit or above it.
CREATE FUNCTION case_queue_do(actor bigint, id_ bigint, act text, p_unit text, p_note text) RETURNS service_case
LANGUAGE plpgsql AS $$
DECLARE
    c     service_case;
    was   text;
    q     org_unit;
    n     integer;
    me    app_user;
    note  text := nullif(btrim(coalesce(p_note, '')), '');
BEGIN
    SELECT * INTO c FROM service_case WHERE id = id_ FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no case %', id_ USING ERRCODE = 'KH404', COLUMN = 'id';
    END IF;
    IF c.status IN ('resolved', 'closed') THEN
        RAISE EXCEPTION 'case % is %: reopen it first', c.id, c.status USING ERRCODE = 'KH412', COLUMN = 'id';
    END IF;
    was := c.status;
    SELECT * INTO me FROM app_user WHERE id = actor;
    IF act = 'queue' THEN
        SELECT count(*) INTO n FROM org_unit o
         WHERE o.path @> ARRAY[c.branch_id]
           AND (CASE WHEN p_unit ~ '^[0-9]{1,18}$' THEN p_unit::bigint END = o.id OR lower(o.name) = lower(btrim(p_unit)));
        IF n <> 1 THEN
            RAISE EXCEPTION 'no team ''%'' in the case''s branch', p_unit USING ERRCODE = 'KH404', COLUMN = 'queue';
        END IF;
        SELECT o.* INTO q FROM org_unit o
         WHERE o.path @> ARRAY[c.branch_id]
           AND (CASE WHEN p_unit ~ '^[0-9]{1,18}$' THEN p_unit::bigint END = o.id OR lower(o.name) = lower(btrim(p_unit)));
        c.queue_id := q.id;
        c.handler_id := NULL;
        IF c.status = 'new' THEN c.status := 'assigned'; END IF;
        note := coalesce(note, 'to the queue of ' || q.name);
    ELSIF act = 'take' THEN
        IF c.queue_id IS NULL OR c.handler_id IS NOT NULL THEN
            RAISE EXCEPTION 'case % is not waiting in a queue', c.id USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        SELECT * INTO q FROM org_unit WHERE id = c.queue_id;
        IF me.role <> 'admin' AND NOT q.path @> ARRAY[me.unit_id] THEN
            RAISE EXCEPTION 'you are not in team %', q.name USING ERRCODE = 'KH403', COLUMN = 'id';
        END IF;
        c.handler_id := actor;
        IF c.status = 'new' THEN c.status := 'assigned'; END IF;
        note := coalesce(note, 'from the queue of ' || q.name);
    ELSE
        RAISE EXCEPTION 'unknown case action %', act USING ERRCODE = 'KH400', COLUMN = 'action';
    END IF;
    c.version := c.version + 1;
    c.updated_at := kehu_now();
    UPDATE service_case s SET queue_id = c.queue_id, handler_id = c.handler_id, status = c.status,
           version = c.version, updated_at = c.updated_at
     WHERE s.id = c.id;
    PERFORM case_record(c, act, actor, was, note);
    RETURN c;
END
$$;

-- ---------------------------------------------------------------- settings

-- Periodic satisfaction surveys: per ABC grade, the share of its customers
-- surveyed each period (1 = every one).
CREATE TABLE survey_rule (
    grade  text PRIMARY KEY CHECK (grade IN ('A', 'B', 'C')),
    share  numeric NOT NULL CHECK (share >= 0 AND share <= 1),
    every  text NOT NULL CHECK (every IN ('month', 'quarter', 'year'))
);
INSERT INTO survey_rule VALUES ('A', 1, 'quarter'), ('B', 0.2, 'quarter'), ('C', 0.05, 'quarter');

INSERT INTO case_policy VALUES
 ('quality_threshold', 5, 'valid complaints about one product or one branch in a week above this: an alert'),
 ('quality_rise', 2, 'or at least quality_min and more than this many times the mean of the weeks before'),
 ('quality_min', 3, 'the fewest complaints a rise alert needs'),
 ('quality_weeks', 4, 'how many weeks before make the mean'),
 ('survey_batch', 2000, 'customers the survey job samples per scheduler step');

-- Every setting as key, value, note: severity.N.*, escalation.NATURE.N.*,
-- survey.G.*, policy.*.
CREATE FUNCTION case_settings() RETURNS TABLE (key text, value text, note text) LANGUAGE sql STABLE AS $$
    SELECT k, v, n FROM (
        SELECT 1 AS o, s.level AS a, x.i AS b, 'severity.' || s.level || '.' || x.f AS k, x.v AS v, '' AS n
          FROM case_severity s,
               LATERAL (VALUES (1, 'name', s.name), (2, 'definition', s.definition),
                               (3, 'respond_hours', trim_scale(s.respond_hours)::text),
                               (4, 'resolve_hours', trim_scale(s.resolve_hours)::text)) x(i, f, v)
        UNION ALL
        SELECT 2, CASE w.nature WHEN 'complaint' THEN 0 ELSE 10 END + w.severity, x.i,
               'escalation.' || w.nature || '.' || w.severity || '.' || x.f, x.v, ''
          FROM case_escalation_rule w
          LEFT JOIN case_escalation_rule b ON b.nature = w.nature AND b.severity = w.severity AND b.point = 'breach',
               LATERAL (VALUES (1, 'warn_at', trim_scale(round(case_warn_at(w.nature, w.severity) * 100, 2))::text || '%'),
                               (2, 'warn', w.action), (3, 'breach', coalesce(b.action, 'escalate'))) x(i, f, v)
         WHERE w.point = 'warn'
        UNION ALL
        SELECT 3, ascii(r.grade), x.i, 'survey.' || r.grade || '.' || x.f, x.v, ''
          FROM survey_rule r,
               LATERAL (VALUES (1, 'share', trim_scale(round(r.share * 100, 2))::text || '%'), (2, 'every', r.every)) x(i, f, v)
        UNION ALL
        SELECT 4, 0, 0, 'policy.' || p.key,
               CASE p.key WHEN 'warn_at' THEN trim_scale(round(p.value * 100, 2))::text || '%'
                          ELSE trim_scale(p.value)::text END, p.note FROM case_policy p
    ) z ORDER BY o, a, b, k
$$;

-- "80%", "0.8" -> 0.8; NULL when not a number.
CREATE FUNCTION case_share(v text) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN btrim(v) ~ '^[0-9]{1,3}(\.[0-9]{1,4})?%$' THEN rtrim(btrim(v), '%')::numeric / 100
                WHEN btrim(v) ~ '^[0-9](\.[0-9]{1,6})?$' THEN btrim(v)::numeric END
$$;

CREATE FUNCTION case_setting_bad(k text, why text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: %', k, why USING ERRCODE = 'KH400', COLUMN = k;
END
$$;

-- Sets each keys[i] to vals[i] (all or nothing); KH400 naming the key.
CREATE FUNCTION case_settings_set(keys text[], vals text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    i    integer;
    k    text;
    v    text;
    p    text[];
    lvl  integer;
    num  numeric;
    resp numeric[] := ARRAY[NULL, NULL, NULL, NULL]::numeric[];
    reso numeric[] := ARRAY[NULL, NULL, NULL, NULL]::numeric[];
BEGIN
    IF coalesce(cardinality(keys), 0) = 0 OR cardinality(keys) <> coalesce(cardinality(vals), -1) THEN
        RAISE EXCEPTION 'at least one KEY=VALUE is required' USING ERRCODE = 'KH400', COLUMN = 'settings';
    END IF;
    FOR i IN 1 .. cardinality(keys) LOOP
        k := btrim(keys[i]);
        v := btrim(coalesce(vals[i], ''));
        p := string_to_array(lower(k), '.');
        IF p[1] = 'severity' AND cardinality(p) = 3 THEN
            lvl := CASE WHEN p[2] ~ '^[1-4]$' THEN p[2]::integer END;
            IF lvl IS NULL THEN
                PERFORM case_setting_bad(k, 'severity levels are 1 to 4');
            END IF;
            IF p[3] = 'name' THEN
                IF v = '' OR length(v) > 50 THEN PERFORM case_setting_bad(k, 'a name of 1 to 50 characters'); END IF;
                UPDATE case_severity SET name = v WHERE level = lvl;
            ELSIF p[3] = 'definition' THEN
                IF length(v) > 500 THEN PERFORM case_setting_bad(k, 'at most 500 characters'); END IF;
                UPDATE case_severity SET definition = v WHERE level = lvl;
            ELSIF p[3] IN ('respond_hours', 'resolve_hours') THEN
                num := CASE WHEN v ~ '^[0-9]{1,5}(\.[0-9]{1,4})?$' THEN v::numeric END;
                IF num IS NULL OR num <= 0 OR num > 10000 THEN
                    PERFORM case_setting_bad(k, 'working hours, more than 0 and at most 10000');
                END IF;
                IF p[3] = 'respond_hours' THEN
                    resp[lvl] := num;
                ELSE
                    reso[lvl] := num;
                END IF;
            ELSE
                PERFORM case_setting_bad(k, 'a severity has name, definition, respond_hours and resolve_hours');
            END IF;
        ELSIF p[1] = 'escalation' AND cardinality(p) = 4 THEN
            IF p[2] NOT IN ('complaint', 'request') THEN
                PERFORM case_setting_bad(k, 'the nature is complaint or request');
            END IF;
            lvl := CASE WHEN p[3] ~ '^[1-4]$' THEN p[3]::integer END;
            IF lvl IS NULL THEN
                PERFORM case_setting_bad(k, 'severity levels are 1 to 4');
            END IF;
            IF p[4] = 'warn_at' THEN
                num := case_share(v);
                IF num IS NULL OR num <= 0 OR num >= 1 THEN
                    PERFORM case_setting_bad(k, 'a share of the target between 0 and 100%, like 80%');
                END IF;
                UPDATE case_escalation_rule SET warn_at = num WHERE nature = p[2] AND severity = lvl AND point = 'warn';
            ELSIF p[4] IN ('warn', 'breach') THEN
                IF v NOT IN ('notify', 'reassign', 'escalate') THEN
                    PERFORM case_setting_bad(k, 'the action is notify, reassign or escalate');
                END IF;
                INSERT INTO case_escalation_rule (nature, severity, point, action) VALUES (p[2], lvl, p[4], v)
                ON CONFLICT (nature, severity, point) DO UPDATE SET action = excluded.action;
            ELSE
                PERFORM case_setting_bad(k, 'an escalation rule has warn_at, warn and breach');
            END IF;
        ELSIF p[1] = 'survey' AND cardinality(p) = 3 THEN
            IF p[2] NOT IN ('a', 'b', 'c') THEN
                PERFORM case_setting_bad(k, 'the grade is A, B or C');
            END IF;
            IF p[3] = 'share' THEN
                num := case_share(v);
                IF num IS NULL OR num < 0 OR num > 1 THEN
                    PERFORM case_setting_bad(k, 'a share of the grade''s customers from 0 to 100%, like 20%');
                END IF;
                INSERT INTO survey_rule VALUES (upper(p[2]), num, 'quarter')
                ON CONFLICT (grade) DO UPDATE SET share = excluded.share;
            ELSIF p[3] = 'every' THEN
                IF v NOT IN ('month', 'quarter', 'year') THEN
                    PERFORM case_setting_bad(k, 'every month, quarter or year');
                END IF;
                INSERT INTO survey_rule VALUES (upper(p[2]), 0, v) ON CONFLICT (grade) DO UPDATE SET every = excluded.every;
            ELSE
                PERFORM case_setting_bad(k, 'a survey rule has share and every');
            END IF;
        ELSIF p[1] = 'policy' AND cardinality(p) = 2 THEN
            IF NOT EXISTS (SELECT 1 FROM case_policy WHERE key = p[2]) THEN
                PERFORM case_setting_bad(k, 'the policies are ' || (SELECT string_agg(key, ', ' ORDER BY key) FROM case_policy));
            END IF;
            num := CASE WHEN p[2] = 'warn_at' THEN case_share(v)
                        WHEN v ~ '^[0-9]{1,12}(\.[0-9]{1,4})?$' THEN v::numeric END;
            IF num IS NULL OR num < 0 OR (p[2] = 'warn_at' AND (num <= 0 OR num >= 1))
               OR (p[2] IN ('quality_weeks', 'quality_min', 'quality_threshold') AND (num <> trunc(num) OR num > 1000))
               OR (p[2] = 'survey_batch' AND (num <> trunc(num) OR num < 1 OR num > 100000))
               OR (p[2] = 'quality_weeks' AND num < 1) OR (p[2] = 'quality_rise' AND num < 1) THEN
                PERFORM case_setting_bad(k, CASE p[2] WHEN 'warn_at' THEN 'a share between 0 and 100%, like 80%'
                                                      WHEN 'quality_rise' THEN 'a factor of at least 1, like 2'
                                                      WHEN 'compensation_approval_above' THEN 'an amount, like 500.00'
                                                      WHEN 'survey_batch' THEN 'a whole number from 1 to 100000'
                                                      ELSE 'a whole number from 1 to 1000' END);
            END IF;
            UPDATE case_policy SET value = num WHERE key = p[2];
        ELSE
            PERFORM case_setting_bad(k, 'settings are severity.N.*, escalation.NATURE.N.*, survey.GRADE.* and policy.*');
        END IF;
    END LOOP;
    -- both targets of a level at once, so that either order of the keys works
    FOR lvl IN 1 .. 4 LOOP
        CONTINUE WHEN resp[lvl] IS NULL AND reso[lvl] IS NULL;
        UPDATE case_severity SET respond_hours = coalesce(resp[lvl], respond_hours),
               resolve_hours = coalesce(reso[lvl], resolve_hours)
         WHERE level = lvl AND coalesce(resp[lvl], respond_hours) <= coalesce(reso[lvl], resolve_hours);
        IF NOT FOUND THEN
            PERFORM case_setting_bad('severity.' || lvl || CASE WHEN resp[lvl] IS NULL THEN '.resolve_hours' ELSE '.respond_hours' END,
                                     'the response target cannot exceed the resolution target');
        END IF;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------- periodic jobs on the one scheduler

ALTER TABLE due_action ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE due_action DROP CONSTRAINT IF EXISTS due_action_target_check;
ALTER TABLE due_action DROP CONSTRAINT IF EXISTS due_action_point_check;
ALTER TABLE due_action ADD COLUMN period text;
ALTER TABLE due_action ADD COLUMN progress bigint NOT NULL DEFAULT 0; -- a job done in steps: the last customer id done
ALTER TABLE due_action ADD CONSTRAINT due_action_shape CHECK (
    (case_id IS NOT NULL AND target IN ('respond', 'resolve') AND point IN ('warn', 'breach') AND period IS NULL)
    OR (case_id IS NULL AND target IN ('survey', 'quality') AND point = 'run' AND period IS NOT NULL));
CREATE UNIQUE INDEX due_action_job ON due_action (target, period) WHERE case_id IS NULL;

-- The time zone periods are counted in (the default business hours').
CREATE FUNCTION case_tz() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT tz FROM business_hours WHERE branch_id = 0), 'Asia/Shanghai')
$$;

-- A job's period: the survey job runs monthly ('2026-10', due at the
-- month's first local midnight); the quality job weekly ('2026-W41', due at
-- the local midnight the week ends).
CREATE FUNCTION case_job_plan(p_job text, p_period text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    due timestamptz;
BEGIN
    IF p_job = 'survey' THEN
        due := to_date(p_period, 'YYYY-MM')::timestamp AT TIME ZONE case_tz();
    ELSE
        due := (to_date(p_period, 'IYYY-"W"IW') + 7)::timestamp AT TIME ZONE case_tz();
    END IF;
    INSERT INTO due_action (case_id, target, point, due_at, period) VALUES (NULL, p_job, 'run', due, p_period)
    ON CONFLICT (target, period) WHERE case_id IS NULL DO NOTHING;
    PERFORM pg_notify('kehu', 'due.wake ' || greatest(0, (extract(epoch FROM due - kehu_now()) * 1000)::bigint));
END
$$;

-- The period after `period` of a job, or the current one when later.
CREATE FUNCTION case_job_next(p_job text, p_period text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE p_job
        WHEN 'survey' THEN to_char(greatest(to_date(p_period, 'YYYY-MM') + interval '1 month',
                                            date_trunc('month', kehu_now() AT TIME ZONE case_tz())), 'YYYY-MM')
        ELSE to_char(greatest(to_date(p_period, 'IYYY-"W"IW') + 7,
                              date_trunc('week', kehu_now() AT TIME ZONE case_tz())::date), 'IYYY-"W"IW') END
$$;

-- A customer's place in a period's sample: a stable pseudo-random number
-- in [0, 1) from md5(id/period); the customer is in a sample of share s
-- when it is below s.
CREATE FUNCTION survey_sample_at(cust bigint, label text) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT ('x' || substr(md5(cust::text || '/' || label), 1, 8))::bit(32)::bigint / 4294967296.0
$$;

ALTER TABLE survey ALTER COLUMN sent_by DROP NOT NULL; -- NULL: sent by the sampling job
ALTER TABLE survey ADD COLUMN period text;             -- a periodic survey's period ('2026-Q4')
CREATE UNIQUE INDEX survey_period ON survey (customer_id, period) WHERE period IS NOT NULL;
CREATE INDEX survey_pending ON survey (id) WHERE status = 'sent';

-- The survey job of month p_period, one step: the next p_limit customers
-- after id p_after. For each grade whose rule's period starts this month
-- (the rule's label: '2026-10', '2026-Q4', '2026'), each active customer of
-- the grade whose survey_sample_at(id, label) is below the rule's share gets
-- a survey (once per customer and period). Returns the last id done, NULL
-- when no customer was left: a long base is sampled over many short steps,
-- the cases' deadlines firing between them.
CREATE FUNCTION survey_job(p_period text, p_after bigint, p_limit integer) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    m     date := to_date(p_period, 'YYYY-MM');
    last_ bigint;
BEGIN
    SELECT max(x.id) INTO last_ FROM (SELECT c.id FROM customer c WHERE c.id > p_after ORDER BY c.id LIMIT p_limit) x;
    IF last_ IS NULL THEN
        RETURN NULL;
    END IF;
    WITH r AS (SELECT r.grade, r.share,
                      CASE r.every WHEN 'month' THEN to_char(m, 'YYYY-MM') WHEN 'quarter' THEN to_char(m, 'YYYY-"Q"Q')
                                   ELSE to_char(m, 'YYYY') END AS label
                 FROM survey_rule r
                WHERE r.share > 0 AND (r.every = 'month' OR (r.every = 'quarter' AND extract(month FROM m)::int % 3 = 1)
                                       OR (r.every = 'year' AND extract(month FROM m)::int = 1))),
         g AS MATERIALIZED (SELECT c.id, c.branch_id, grade_of(c.id, 'abc') AS grade FROM customer c
                             WHERE c.id > p_after AND c.id <= last_ AND c.merged_into IS NULL AND c.status = 'active'
                               AND EXISTS (SELECT 1 FROM r))
    INSERT INTO survey (customer_id, branch_id, sent_by, sent_at, period)
    SELECT g.id, g.branch_id, NULL, kehu_now(), r.label FROM g JOIN r ON r.grade = g.grade
     WHERE survey_sample_at(g.id, r.label) < r.share
    ON CONFLICT (customer_id, period) WHERE period IS NOT NULL DO NOTHING;
    RETURN last_;
END
$$;

-- What a month's survey job sent, for its outcome.
CREATE FUNCTION survey_job_outcome(p_period text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'surveys ' || coalesce(string_agg(v.period || ': ' || v.n, ', ' ORDER BY v.period), 'none due')
      FROM (SELECT s.period, count(*) AS n FROM survey s
             WHERE s.period IN (p_period, to_char(to_date(p_period, 'YYYY-MM'), 'YYYY-"Q"Q'), left(p_period, 4))
               AND s.sent_by IS NULL
             GROUP BY 1) v
$$;

-- ---------------------------------------------------------------- service-quality early warning

CREATE TABLE quality_alert (
    id          bigserial PRIMARY KEY,
    period      text NOT NULL,          -- the ISO week, '2026-W41'
    week_start  date NOT NULL,
    dimension   text NOT NULL CHECK (dimension IN ('branch', 'product')),
    branch_id   bigint NOT NULL REFERENCES org_unit (id),
    key         text NOT NULL,          -- the branch's name, or the product
    complaints  integer NOT NULL,
    baseline    numeric NOT NULL,       -- the mean of the weeks before
    reason      text NOT NULL CHECK (reason IN ('threshold', 'rise')),
    created_at  timestamptz NOT NULL,
    UNIQUE (period, dimension, branch_id, key)
);
CREATE INDEX quality_alert_branch ON quality_alert (branch_id, id);

-- The quality job of ISO week `period`: valid complaints opened that week
-- (local time) per branch and per product of a branch; above
-- quality_threshold, or at least quality_min and more than quality_rise
-- times the mean of the quality_weeks weeks before: an alert row (once per
-- week, dimension and key) announced to the branch's managers.
CREATE FUNCTION quality_job(p_period text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    w0    date := to_date(p_period, 'IYYY-"W"IW');
    nw    integer := case_policy_num('quality_weeks')::integer;
    thr   numeric := case_policy_num('quality_threshold');
    rise  numeric := case_policy_num('quality_rise');
    mn    numeric := case_policy_num('quality_min');
    tz    text := case_tz();
    a     quality_alert;
    mgr   bigint;
    k     integer := 0;
BEGIN
    FOR a IN
        WITH x AS (SELECT s.branch_id, d.dim, d.key,
                          floor(((s.created_at AT TIME ZONE tz)::date - w0) / 7.0)::int AS wk -- 0 this week, -1 ... before
                     FROM service_case s JOIN org_unit b ON b.id = s.branch_id,
                          LATERAL (VALUES ('branch', b.name), ('product', s.product)) d(dim, key)
                    WHERE s.nature = 'complaint' AND d.key IS NOT NULL
                      AND s.created_at >= (w0 - 7 * nw)::timestamp AT TIME ZONE tz
                      AND s.created_at < (w0 + 7)::timestamp AT TIME ZONE tz),
             t AS (SELECT branch_id, dim, key, count(*) FILTER (WHERE wk = 0) AS n,
                          count(*) FILTER (WHERE wk < 0)::numeric / nw AS base
                     FROM x GROUP BY 1, 2, 3)
        SELECT 0, p_period, w0, t.dim, t.branch_id, t.key, t.n, round(t.base, 2),
               CASE WHEN t.n > thr THEN 'threshold' ELSE 'rise' END, kehu_now()
          FROM t
         WHERE t.n > thr OR (t.n >= mn AND t.n > rise * t.base)
         ORDER BY t.branch_id, t.dim, t.key
    LOOP
        INSERT INTO quality_alert (period, week_start, dimension, branch_id, key, complaints, baseline, reason, created_at)
        VALUES (a.period, a.week_start, a.dimension, a.branch_id, a.key, a.complaints, a.baseline, a.reason, a.created_at)
        ON CONFLICT DO NOTHING RETURNING * INTO a;
        CONTINUE WHEN a.id IS NULL OR a.id = 0;
        k := k + 1;
        FOR mgr IN SELECT u.id FROM app_user u WHERE u.unit_id = a.branch_id AND u.role = 'branch_manager'
                                                 AND u.disabled_at IS NULL ORDER BY u.id LOOP
            PERFORM kehu_announce_detail('quality.alert', 0, a.branch_id, a.id, mgr, NULL,
                'alert ' || a.id || ' ' || a.period || ' ' || a.dimension || ' ' || a.key || ': ' || a.complaints
                || ' valid complaints' || CASE a.reason WHEN 'threshold' THEN ' (above ' || trim_scale(thr) || ')'
                                                    ELSE ' (weeks before: ' || trim_scale(a.baseline) || ' a week)' END);
        END LOOP;
    END LOOP;
    RETURN 'quality ' || p_period || ': ' || k || ' alerts';
END
$$;

-- ---------------------------------------------------------------- the scheduler's step, with the jobs

CREATE OR REPLACE FUNCTION case_due_fire(n integer, who text) RETURNS TABLE (fired integer, next_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    d   due_action;
    k   integer := 0;
    out_ text;
    last_ bigint;
    t   timestamptz := kehu_clock_now();
BEGIN
    -- a case's due action is locked with its case, skipping both when
    -- another transaction holds either: two schedulers never wait on each other
    FOR d IN SELECT a.* FROM due_action a JOIN service_case s ON s.id = a.case_id
              WHERE a.fired_at IS NULL AND a.due_at <= t
              ORDER BY a.due_at LIMIT n FOR UPDATE OF a, s SKIP LOCKED LOOP
        out_ := case_due_perform(d);
        UPDATE due_action SET fired_at = kehu_clock_now(), fired_by = who, outcome = out_,
               lag_ms = (extract(epoch FROM kehu_clock_now() - d.due_at) * 1000)::bigint
         WHERE id = d.id;
        k := k + 1;
    END LOOP;
    -- a periodic job (a period's surveys, a step at a time; a week's quality check), then the next period's row
    FOR d IN SELECT a.* FROM due_action a
              WHERE a.case_id IS NULL AND a.fired_at IS NULL AND a.due_at <= t
              ORDER BY a.due_at LIMIT 1 FOR UPDATE OF a SKIP LOCKED LOOP
        IF d.target = 'survey' THEN
            last_ := survey_job(d.period, d.progress, coalesce(case_policy_num('survey_batch'), 2000)::integer);
            IF last_ IS NOT NULL THEN -- more to do: the row stays due, the scheduler steps again at once
                UPDATE due_action SET progress = last_ WHERE id = d.id;
                k := k + 1;
                CONTINUE;
            END IF;
            out_ := survey_job_outcome(d.period);
        ELSE
            out_ := quality_job(d.period);
        END IF;
        UPDATE due_action SET fired_at = kehu_clock_now(), fired_by = who, outcome = out_,
               lag_ms = (extract(epoch FROM kehu_clock_now() - d.due_at) * 1000)::bigint
         WHERE id = d.id;
        PERFORM case_job_plan(d.target, case_job_next(d.target, d.period));
        k := k + 1;
    END LOOP;
    RETURN QUERY SELECT k, (SELECT (extract(epoch FROM min(due_at) - kehu_clock_now()) * 1000)::bigint
                              FROM due_action WHERE fired_at IS NULL);
END
$$;

-- The first periods: next month's surveys, this week's quality check.
SELECT case_job_plan('survey', to_char(date_trunc('month', now() AT TIME ZONE case_tz()) + interval '1 month', 'YYYY-MM'));
SELECT case_job_plan('quality', to_char(now() AT TIME ZONE case_tz(), 'IYYY-"W"IW'));
