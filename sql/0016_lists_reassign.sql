-- Kehu schema 16: follow-ups by WeChat and SMS; reassignment that checks
-- every criterion of a batch under its locks, answers for what the caller
-- may not read as for what does not exist, and never undoes a batch into the
-- hands of a disabled user; the recycle job within a scope, for dry runs
-- that name the customers.

-- The channels used in China beside visit, call, e-mail and meeting.
ALTER TABLE followup DROP CONSTRAINT followup_kind_check;
ALTER TABLE followup ADD CONSTRAINT followup_kind_check
    CHECK (kind IN ('visit', 'call', 'email', 'meeting', 'wechat', 'sms'));

-- Reassignment (schema 9's functions, with more arguments: the old forms go).
DROP FUNCTION assign_customers(bigint[], bigint[], text, text, text, bigint, boolean, integer, bigint, integer, bigint,
                               boolean, bigint);
DROP FUNCTION assign_undo(bigint, text, bigint, boolean, integer, bigint);

-- One reassignment, whole or not at all.
--
-- p_ids: the candidates (kehud selects them: given ids, a user's customers,
-- or a filter); p_receivers: the receiving users in the order given. The
-- candidates are locked; with p_strict every one must be there and inside
-- the caller's 'reassign' scope (p_scope_kind, p_scope_id as RPC_SCOPE_SQL;
-- the 'read' scope tells an unknown customer from a forbidden one), else the
-- batch is refused; without (a filter), those outside are left out. With
-- p_from only customers that user still owns count. Customers already with
-- one of the receivers stay. The rest go, in id order, round robin to the
-- receivers that are enabled and under their cap (counting what they hold,
-- live and not archived, plus what this batch gives them); when room runs
-- out the batch is refused, naming who is full. A receiver's customers move
-- to the receiver's branch. p_dry: the same moves, nothing written.
--
-- Schema 16: every criterion is checked again under the locks. The
-- candidates were chosen before the locks were taken; another batch may have
-- moved them meanwhile (a filter `--owner amX` waiting for a handover of
-- amX's customers must not then move them from their new owner). p_filter
-- (NULL: none) is the filter's condition over customer c, its parameters
-- written $1[N] for p_filter_args[N]; with p_from, the customer must still be
-- that user's. What no longer matches is left out and reported in the
-- transaction's settings kehu.assign_stale (how many) and
-- kehu.assign_stale_ids (those the caller may read: '{...}'). A handover
-- (p_from) leaves out the customers the caller may not read (they do not
-- exist for them) and refuses naming only readable ones.
CREATE FUNCTION assign_customers(p_ids bigint[], p_receivers bigint[], p_kind text, p_selection text, p_reason text,
                                 p_actor bigint, p_dry boolean, p_scope_kind integer, p_scope_id bigint,
                                 p_read_kind integer, p_read_id bigint, p_strict boolean, p_from bigint,
                                 p_filter text, p_filter_args text[])
RETURNS SETOF assign_move_row LANGUAGE plpgsql AS $$
DECLARE
    still    bigint[] := p_ids;
    n_stale  bigint;
    stale    bigint[];
    b        bigint := 0;
    n        bigint;
    room     bigint;
    s_set    bigint[] := assign_scope_set(p_scope_kind, p_scope_id);
    r_set    bigint[] := assign_scope_set(p_read_kind, p_read_id);
    bad      bigint[];
    full_msg text;
BEGIN
    IF p_kind NOT IN ('assign', 'handover') THEN
        RAISE EXCEPTION 'the kind of a reassignment is assign or handover' USING ERRCODE = '22023';
    END IF;
    IF coalesce(btrim(p_reason), '') = '' THEN
        RAISE EXCEPTION 'a reason is required' USING ERRCODE = '22023';
    END IF;
    -- receivers first, customers second: the order every batch locks in
    PERFORM 1 FROM app_user WHERE id = ANY (p_receivers) ORDER BY id FOR UPDATE;
    PERFORM 1 FROM customer WHERE id IN (SELECT unnest(p_ids)) ORDER BY id FOR UPDATE;

    -- under the locks, each statement sees what the batches before committed
    IF p_filter IS NOT NULL THEN
        EXECUTE format('SELECT coalesce(array_agg(c.id), ''{}'') FROM customer c WHERE c.id = ANY ($2) AND (%s)',
                       p_filter)
           INTO still USING p_filter_args, p_ids;
    END IF;

    DROP TABLE IF EXISTS assign_cand, assign_recv, assign_move;
    CREATE TEMP TABLE assign_cand ON COMMIT DROP AS
    SELECT c.id, c.name, c.owner_id, c.branch_id, c.version, c.merged_into IS NULL AS live,
           coalesce(assign_in(c.branch_id, c.owner_id, p_scope_kind, p_scope_id, s_set), false) AS may,
           coalesce(assign_in(c.branch_id, c.owner_id, p_read_kind, p_read_id, r_set), false) AS seen
      FROM customer c
     WHERE c.id IN (SELECT unnest(still))
       AND (p_from IS NULL OR c.owner_id = p_from);
    ANALYZE assign_cand;

    -- chosen, but no longer matching: counted, and named where readable
    n_stale := 0;
    IF p_filter IS NOT NULL OR p_from IS NOT NULL THEN
        SELECT count(*), array_agg(c.id ORDER BY c.id)
                         FILTER (WHERE assign_in(c.branch_id, c.owner_id, p_read_kind, p_read_id, r_set))
          INTO n_stale, stale
          FROM (SELECT DISTINCT unnest(p_ids) AS id) x
          JOIN customer c ON c.id = x.id
         WHERE NOT EXISTS (SELECT 1 FROM assign_cand a WHERE a.id = x.id);
    END IF;
    PERFORM set_config('kehu.assign_stale', n_stale::text, true),
            set_config('kehu.assign_stale_ids', coalesce(stale, '{}')::text, true);

    IF p_strict THEN
        SELECT array_agg(x.id ORDER BY x.id) INTO bad
          FROM (SELECT unnest(p_ids) AS id EXCEPT SELECT id FROM assign_cand WHERE live AND (seen OR may)) x
         WHERE p_from IS NULL;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'no customer %', assign_some(bad) USING ERRCODE = 'P0002';
        END IF;
        SELECT array_agg(id ORDER BY id) FILTER (WHERE seen), count(*) INTO bad, n
          FROM assign_cand WHERE live AND NOT may;
        IF n > 0 AND bad IS NULL THEN -- a handover: none of those the caller may read are named
            RAISE EXCEPTION 'you may not reassign some of these customers: they are outside your scope'
                USING ERRCODE = '42501';
        END IF;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'you may not reassign customer %', assign_some(bad) USING ERRCODE = '42501';
        END IF;
    END IF;
    DELETE FROM assign_cand WHERE NOT live OR NOT may OR owner_id = ANY (p_receivers);
    SELECT count(*) INTO n FROM assign_cand;

    CREATE TEMP TABLE assign_recv ON COMMIT DROP AS
    SELECT r.ord, u.id, u.username, u.disabled_at IS NOT NULL AS disabled, u.max_customers AS cap,
           o.branch_id,
           (SELECT count(*) FROM customer c
             WHERE c.owner_id = u.id AND c.merged_into IS NULL AND c.status <> 'archived') AS holds
      FROM unnest(p_receivers) WITH ORDINALITY r(id, ord)
      JOIN app_user u ON u.id = r.id
      JOIN org_unit o ON o.id = u.unit_id;
    IF NOT EXISTS (SELECT 1 FROM assign_recv WHERE NOT disabled) THEN
        RAISE EXCEPTION 'no receiver can take customers: % disabled',
            (SELECT string_agg(username, ', ' ORDER BY ord) FROM assign_recv)
            || CASE WHEN (SELECT count(*) FROM assign_recv) > 1 THEN ' are' ELSE ' is' END
            USING ERRCODE = '55000';
    END IF;
    SELECT sum(least(greatest(coalesce(cap - holds, n), 0), n)) INTO room FROM assign_recv WHERE NOT disabled;
    IF room < n THEN
        SELECT string_agg(format('%s holds %s of %s', username, holds, cap), ', ' ORDER BY ord) INTO full_msg
          FROM assign_recv WHERE NOT disabled;
        RAISE EXCEPTION 'not enough room for % customers (room for %): %', n, room, full_msg USING ERRCODE = '55000';
    END IF;

    -- round robin: the k-th customer (by id) takes the k-th free place, places
    -- ordered by round and then by the receivers' order
    CREATE TEMP TABLE assign_move ON COMMIT DROP AS
    WITH cand AS (SELECT a.*, row_number() OVER (ORDER BY a.id) AS k FROM assign_cand a),
         place AS (SELECT r.id AS to_owner, r.branch_id AS to_branch,
                          row_number() OVER (ORDER BY s.i, r.ord) AS k
                     FROM assign_recv r,
                          generate_series(1, least(coalesce(r.cap - r.holds, n), n)) s(i)
                    WHERE NOT r.disabled),
         pairs AS (SELECT c.id AS customer_id, c.name, c.owner_id AS from_owner, p.to_owner,
                          c.branch_id AS from_branch, coalesce(p.to_branch, c.branch_id) AS to_branch,
                          c.version + 1 AS version
                     FROM cand c JOIN place p USING (k)),
         reg AS MATERIALIZED (SELECT x.br, user_region(x.br) AS r
                                FROM (SELECT from_branch AS br FROM pairs UNION SELECT to_branch FROM pairs) x)
    SELECT m.*, fr.r AS from_region, tr.r AS to_region
      FROM pairs m JOIN reg fr ON fr.br = m.from_branch JOIN reg tr ON tr.br = m.to_branch;
    ANALYZE assign_move;

    IF NOT p_dry AND n > 0 THEN
        INSERT INTO reassign_batch (kind, selection, reason, actor, customers)
        VALUES (p_kind, p_selection, p_reason, p_actor, n) RETURNING id INTO b;
        PERFORM assign_apply(b, p_kind, p_reason, p_actor, true);
    END IF;
    RETURN QUERY SELECT * FROM assign_result(b);
END
$$;

-- Takes a batch back as a new batch of kind 'undo': each customer returns to
-- its previous owner and branch (caps are not applied: this restores what
-- was). Refused when the batch is an undo itself or was undone already, or
-- when any of its customers changed owner or branch since (a later edit of
-- other fields does not matter), naming them; the caller's 'reassign' scope
-- must hold each customer where it is and where it goes back to.
--
-- Schema 16: a batch none of whose customers the caller may read (p_read_kind,
-- p_read_id), where they are or where they were, is as unknown as a missing
-- one, and refusals name only the customers the caller may read. A batch
-- that would hand customers back to a disabled user is refused (dry run or
-- not), naming the user and how many: reassign them instead.
CREATE FUNCTION assign_undo(p_batch bigint, p_reason text, p_actor bigint, p_dry boolean, p_scope_kind integer,
                            p_scope_id bigint, p_read_kind integer, p_read_id bigint)
RETURNS SETOF assign_move_row LANGUAGE plpgsql AS $$
DECLARE
    orig  reassign_batch;
    s_set bigint[] := assign_scope_set(p_scope_kind, p_scope_id);
    r_set bigint[] := assign_scope_set(p_read_kind, p_read_id);
    n_bad bigint;
    who   text;
    last  bigint;
    b     bigint := 0;
    n     bigint;
    bad   bigint[];
    why   text;
BEGIN
    SELECT * INTO orig FROM reassign_batch WHERE id = p_batch FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (
            SELECT 1 FROM reassign_item i JOIN customer c ON c.id = i.customer_id
             WHERE i.batch_id = p_batch
               AND (assign_in(c.branch_id, c.owner_id, p_read_kind, p_read_id, r_set)
                    OR assign_in(i.from_branch, i.from_owner, p_read_kind, p_read_id, r_set))) THEN
        RAISE EXCEPTION 'no batch %', p_batch USING ERRCODE = 'P0002';
    END IF;
    IF orig.kind = 'undo' THEN
        RAISE EXCEPTION 'batch % is the undo of batch %: it cannot be undone itself (reassign again instead)',
            p_batch, orig.undo_of USING ERRCODE = '55000';
    END IF;
    IF orig.undone_at IS NOT NULL THEN
        RAISE EXCEPTION 'batch % was undone already (by batch %)', p_batch, orig.undone_in USING ERRCODE = '55000';
    END IF;
    PERFORM 1 FROM customer WHERE id IN (SELECT customer_id FROM reassign_item WHERE batch_id = p_batch)
     ORDER BY id FOR UPDATE;

    -- moved and back again shows as a later line in the owner history
    SELECT max(id) INTO last FROM assignment_history WHERE batch_id = p_batch;
    DROP TABLE IF EXISTS assign_move;
    CREATE TEMP TABLE assign_move ON COMMIT DROP AS
    WITH pairs AS (
        SELECT i.customer_id, c.name, c.owner_id AS from_owner, i.from_owner AS to_owner, c.branch_id AS from_branch,
               i.from_branch AS to_branch, c.version + 1 AS version,
               -- moved since: not where the batch put it, merged away, or moved
               -- and back again (a later line in its owner history)
               (c.owner_id IS DISTINCT FROM i.to_owner OR c.branch_id <> i.to_branch OR c.merged_into IS NOT NULL
                OR l.customer_id IS NOT NULL) AS moved,
               coalesce(assign_in(c.branch_id, c.owner_id, p_scope_kind, p_scope_id, s_set)
                        AND assign_in(i.from_branch, i.from_owner, p_scope_kind, p_scope_id, s_set), false) AS may,
               coalesce(assign_in(c.branch_id, c.owner_id, p_read_kind, p_read_id, r_set), false) AS seen
          FROM reassign_item i
          JOIN customer c ON c.id = i.customer_id
          LEFT JOIN (SELECT DISTINCT h.customer_id FROM assignment_history h
                      WHERE h.id > last AND h.customer_id IN (SELECT customer_id FROM reassign_item WHERE batch_id = p_batch))
                 l ON l.customer_id = i.customer_id
         WHERE i.batch_id = p_batch),
         reg AS MATERIALIZED (SELECT x.br, user_region(x.br) AS r
                                FROM (SELECT from_branch AS br FROM pairs UNION SELECT to_branch FROM pairs) x)
    SELECT m.*, fr.r AS from_region, tr.r AS to_region
      FROM pairs m JOIN reg fr ON fr.br = m.from_branch JOIN reg tr ON tr.br = m.to_branch;
    ANALYZE assign_move;

    SELECT count(*), array_agg(customer_id ORDER BY customer_id) FILTER (WHERE seen) INTO n_bad, bad
      FROM assign_move WHERE NOT may;
    IF n_bad > 0 THEN
        IF bad IS NULL THEN
            RAISE EXCEPTION 'you may not undo batch %: it moved customers outside your scope', p_batch
                USING ERRCODE = '42501';
        END IF;
        RAISE EXCEPTION 'you may not reassign customer % (where it is or where it would go back to)',
            assign_some(bad) USING ERRCODE = '42501';
    END IF;
    SELECT count(*), array_agg(customer_id ORDER BY customer_id) FILTER (WHERE seen) INTO n_bad, bad
      FROM assign_move WHERE moved;
    IF n_bad > 0 THEN
        IF bad IS NULL THEN
            RAISE EXCEPTION 'batch % cannot be undone: some of its customers changed owner since', p_batch
                USING ERRCODE = '55000';
        END IF;
        RAISE EXCEPTION 'batch % cannot be undone: % of its customers changed owner since: %', p_batch,
            cardinality(bad), assign_some(bad) USING ERRCODE = '55000';
    END IF;
    -- never back to someone who can no longer work: the customers would be
    -- out of anyone's hands
    SELECT count(*), string_agg(DISTINCT u.username, ', ') INTO n_bad, who
      FROM assign_move m JOIN app_user u ON u.id = m.to_owner WHERE u.disabled_at IS NOT NULL;
    IF n_bad > 0 THEN
        RAISE EXCEPTION 'batch % cannot be undone: it would hand % customer% back to % (disabled); reassign %',
            p_batch, n_bad, CASE WHEN n_bad = 1 THEN '' ELSE 's' END, who,
            CASE WHEN n_bad = 1 THEN 'it instead' ELSE 'them instead' END USING ERRCODE = '55000';
    END IF;
    ALTER TABLE assign_move DROP COLUMN moved, DROP COLUMN may, DROP COLUMN seen;
    SELECT count(*) INTO n FROM assign_move;

    IF NOT p_dry THEN
        why := format('undo of batch %s', p_batch) || CASE WHEN coalesce(btrim(p_reason), '') <> ''
                                                           THEN ': ' || p_reason ELSE '' END;
        INSERT INTO reassign_batch (kind, selection, reason, actor, customers, undo_of)
        VALUES ('undo', format('batch %s', p_batch), why, p_actor, n, p_batch) RETURNING id INTO b;
        PERFORM assign_apply(b, 'undo', why, p_actor, false);
        UPDATE reassign_batch SET undone_at = now(), undone_by = p_actor, undone_in = b WHERE id = p_batch;
        UPDATE performance_split SET void_by = b WHERE batch_id = p_batch AND void_by IS NULL;
    END IF;
    RETURN QUERY SELECT * FROM assign_result(b);
END
$$;

-- ---------------------------------------------------------------- the recycle job

-- pool_recycle of schema 10 within a scope (kinds as RPC_SCOPE_SQL; 0, 0:
-- everything): the customers, and so the counts, are those inside it, so a
-- branch manager's dry run covers their branch and shows nothing of others.
-- Only the whole job (scope 0) runs for real. The candidates stay in the
-- temporary table pr_cand (id, branch_id, owner_id, grade, warn_days, due_f,
-- due_t, exempt, due, trig) until the transaction ends, for a dry run's list
-- of the customers it would recycle.
CREATE FUNCTION pool_recycle(d date, dry boolean, actor bigint, p_scope_kind integer, p_scope_id bigint)
RETURNS pool_run LANGUAGE plpgsql AS $$
DECLARE
    s_set bigint[] := assign_scope_set(p_scope_kind, p_scope_id);
    run pool_run;
    t0 timestamptz := clock_timestamp();
    bulk boolean;
BEGIN
    IF NOT dry AND p_scope_kind <> 0 THEN
        RAISE EXCEPTION 'only the whole recycle job runs for real' USING ERRCODE = '42501';
    END IF;
    IF NOT pg_try_advisory_xact_lock(7010, 1) THEN
        RAISE EXCEPTION 'a recycle is in progress' USING ERRCODE = '55P03';
    END IF;
    -- the rule in force per branch and grade
    CREATE TEMP TABLE pr_rule ON COMMIT DROP AS
    SELECT b.id AS branch_id, g.grade, r.followup_days, r.txn_days, r.warn_days, r.exempt_open_case,
           r.exempt_txn_days, r.exempt_tag, r.updated_at::date AS rule_since
      FROM org_unit b CROSS JOIN (VALUES ('A'), ('B'), ('C')) g(grade)
     CROSS JOIN LATERAL pool_rule_for(b.id, g.grade) r
     WHERE b.kind = 'branch';
    -- every owned customer with the day each trigger falls due
    CREATE TEMP TABLE pr_cand ON COMMIT DROP AS
    WITH owned AS (
        SELECT c.id, c.branch_id, c.owner_id, c.tags, c.last_contact_at, c.created_at,
               coalesce((SELECT o.grade FROM grade_override o
                          WHERE o.customer_id = c.id AND o.dimension = 'abc' AND o.status = 'active'
                            AND (o.until IS NULL OR o.until >= d) ORDER BY o.id DESC LIMIT 1), g.abc, 'C') AS grade
          FROM customer c LEFT JOIN customer_grade g ON g.customer_id = c.id
         WHERE c.owner_id IS NOT NULL AND c.status IN ('active', 'churned') AND c.merged_into IS NULL
           AND assign_in(c.branch_id, c.owner_id, p_scope_kind, p_scope_id, s_set)
    ), base AS (
        SELECT o.*, t.last_txn,
               -- the clock starts again when the owner got the customer
               greatest(o.created_at, (SELECT max(h.at) FROM assignment_history h
                                        WHERE h.customer_id = o.id AND h.to_owner = o.owner_id))::date AS owned_on
          FROM owned o
          LEFT JOIN LATERAL (SELECT max(x.date) AS last_txn FROM txn x WHERE x.customer_id = o.id AND x.date <= d) t
                 ON true
    ), dues AS (
        SELECT b.id, b.branch_id, b.owner_id, b.grade, r.warn_days,
               -- and never before the rule itself: a limit counts from the day it took
               -- effect, so a new or stricter rule (or a base just loaded) warns
               -- first instead of emptying the branch at once
               CASE WHEN r.followup_days > 0
                    THEN greatest(b.owned_on, r.rule_since, b.last_contact_at::date) + r.followup_days END AS due_f,
               CASE WHEN r.txn_days > 0 THEN greatest(b.owned_on, r.rule_since, b.last_txn) + r.txn_days END AS due_t,
               (r.exempt_open_case AND EXISTS (SELECT 1 FROM customer_open_cases() oc WHERE oc.customer_id = b.id))
               OR (r.exempt_txn_days > 0 AND coalesce(b.last_txn > d - r.exempt_txn_days, false))
               OR (r.exempt_tag <> '' AND b.tags @> ARRAY[r.exempt_tag]) AS exempt
          FROM base b JOIN pr_rule r ON r.branch_id = b.branch_id AND r.grade = b.grade
    )
    SELECT dues.*, least(due_f, due_t) AS due,
           CASE WHEN due_t IS NULL OR due_f <= due_t THEN 'followup' ELSE 'txn' END AS trig
      FROM dues WHERE due_f IS NOT NULL OR due_t IS NOT NULL;

    INSERT INTO pool_run (as_of, dry_run, started_by) VALUES (d, dry, actor) RETURNING * INTO run;
    SELECT count(*) INTO run.examined FROM pr_cand;
    SELECT count(*) INTO run.exempted FROM pr_cand WHERE exempt AND due <= d;
    SELECT count(*) FILTER (WHERE trig = 'followup'), count(*) FILTER (WHERE trig = 'txn')
      INTO run.by_followup, run.by_txn FROM pr_cand WHERE NOT exempt AND due <= d;
    run.recycled := run.by_followup + run.by_txn;

    -- warnings: due within warn_days, not yet warned for that due date
    CREATE TEMP TABLE pr_warn ON COMMIT DROP AS
    SELECT p.* FROM pr_cand p
     WHERE NOT p.exempt AND p.warn_days > 0 AND p.due > d AND p.due - p.warn_days <= d
       AND NOT EXISTS (SELECT 1 FROM pool_warning w WHERE w.customer_id = p.id AND w.owner_id = p.owner_id
                                                      AND w.due_on = p.due);
    SELECT count(*) INTO run.warned FROM pr_warn;

    IF NOT dry THEN
        WITH f AS (
            INSERT INTO followup (branch_id, customer_id, kind, due, note, owner_id, created_by, updated_by)
            SELECT w.branch_id, w.id, 'call', w.due,
                   '公海预警 pool warning: returns to the pool on ' || w.due || CASE w.trig
                       WHEN 'followup' THEN ' unless a follow-up is logged' ELSE ' unless it buys' END,
                   w.owner_id, actor, actor
              FROM pr_warn w
            RETURNING id, customer_id
        )
        INSERT INTO pool_warning (customer_id, branch_id, owner_id, trigger, due_on, raised_on, followup_id)
        SELECT w.id, w.branch_id, w.owner_id, w.trig, w.due, d, f.id FROM pr_warn w JOIN f ON f.customer_id = w.id;
        INSERT INTO pool_event (customer_id, branch_id, kind, from_owner, to_owner, reason, as_of, actor)
        SELECT w.id, w.branch_id, 'warn', w.owner_id, w.owner_id,
               w.trig || ' limit: returns to the pool on ' || w.due, d, actor FROM pr_warn w;
        PERFORM kehu_announce_detail('pool.warning', c.id, c.branch_id, c.version, c.owner_id, actor,
                                     w.trig || ' ' || w.due)
           FROM pr_warn w JOIN customer c ON c.id = w.id;

        -- recycles: one statement per trigger, each with its reason for the assignment history
        bulk := run.recycled > 5000;
        IF bulk THEN
            PERFORM set_config('kehu.bulk', 'on', true);
        END IF;
        PERFORM set_config('kehu.assign_kind', 'recycle', true);
        PERFORM set_config('kehu.assign_reason', 'no logged follow-up within the limit', true);
        PERFORM pool_put(array_agg(p.id), array_agg('recycle'::text),
                         array_agg('no logged follow-up within the limit (reached ' || p.due || ')'), actor, d)
           FROM pr_cand p WHERE NOT p.exempt AND p.due <= d AND p.trig = 'followup' HAVING count(*) > 0;
        PERFORM set_config('kehu.assign_reason', 'no transaction within the limit', true);
        PERFORM pool_put(array_agg(p.id), array_agg('recycle'::text),
                         array_agg('no transaction within the limit (reached ' || p.due || ')'), actor, d)
           FROM pr_cand p WHERE NOT p.exempt AND p.due <= d AND p.trig = 'txn' HAVING count(*) > 0;
        PERFORM set_config('kehu.assign_kind', '', true);
        PERFORM set_config('kehu.assign_reason', '', true);
        IF bulk THEN
            PERFORM set_config('kehu.bulk', 'off', true);
            PERFORM kehu_announce_detail('pool.recycled', 0, x.branch_id, 0, NULL, actor, x.n::text)
               FROM (SELECT branch_id, count(*) AS n FROM pr_cand WHERE NOT exempt AND due <= d GROUP BY 1) x;
        END IF;
    END IF;

    run.duration_ms := (extract(epoch FROM clock_timestamp() - t0) * 1000)::bigint;
    UPDATE pool_run SET examined = run.examined, warned = run.warned, recycled = run.recycled,
                        by_followup = run.by_followup, by_txn = run.by_txn, exempted = run.exempted,
                        duration_ms = run.duration_ms
     WHERE id = run.id;
    IF dry THEN
        DELETE FROM pool_run WHERE id = run.id;
        run.id := 0;
    END IF;
    -- pr_cand stays to the end of the transaction: a dry run's caller lists it
    DROP TABLE pr_rule, pr_warn;
    RETURN run;
END
$$;

CREATE OR REPLACE FUNCTION pool_recycle(d date, dry boolean, actor bigint) RETURNS pool_run LANGUAGE sql AS $$
    SELECT * FROM pool_recycle(d, dry, actor, 0, 0)
$$;
