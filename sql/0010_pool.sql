-- Kehu schema 10: the public pool (公海) and assignment rules.
--
-- A pool belongs to a branch (one or more per branch; the default one, 公海,
-- is made on demand). A customer in a pool has no owner, status 'in_pool',
-- and a pool_entry row saying which pool, since when, from whom and why;
-- reads mask its phones and ID number for everybody.
--
-- Customers come to a pool by:
--   recycle  pool_recycle(): no logged follow-up for N days or no
--            transaction for M days (per ABC grade, per branch or everywhere:
--            pool_rule), unless exempt (an open case, a transaction within X
--            days, a protective tag); the owner is warned K days before;
--   release  pool_release(): the owner (or someone who may reassign it) with
--            a reason; an A customer only by someone who may reassign it;
--   rule     assign_route(): a new or imported customer without owner that no
--            assignment rule could route.
-- They leave it by pool_claim(): atomic, within the day's claim limit and the
-- cap on customers held, not by the previous owner within the cooldown.
-- Every move is a pool_event row (and, when the owner changes, an
-- assignment_history row from the trigger of sql/0007).

-- ---------------------------------------------------------------- pools

CREATE TABLE pool (
    id          bigserial PRIMARY KEY,
    branch_id   bigint NOT NULL REFERENCES org_unit (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  bigint REFERENCES app_user (id),
    UNIQUE (branch_id, name)
);
CREATE UNIQUE INDEX pool_one_default ON pool (branch_id) WHERE is_default;

-- The branch's default pool, made the first time it is needed.
CREATE FUNCTION pool_default_of(branch bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    pid bigint;
BEGIN
    SELECT id INTO pid FROM pool WHERE branch_id = branch AND is_default;
    IF FOUND THEN
        RETURN pid;
    END IF;
    INSERT INTO pool (branch_id, name, is_default) VALUES (branch, '公海', true)
        ON CONFLICT DO NOTHING RETURNING id INTO pid;
    IF pid IS NULL THEN -- made meanwhile by another transaction
        SELECT id INTO pid FROM pool WHERE branch_id = branch AND is_default;
    END IF;
    RETURN pid;
END
$$;

-- Where each customer in a pool is, since when, from whom, why.
CREATE TABLE pool_entry (
    customer_id  bigint PRIMARY KEY REFERENCES customer (id),
    pool_id      bigint NOT NULL REFERENCES pool (id),
    since        timestamptz NOT NULL DEFAULT now(),
    from_owner   bigint REFERENCES app_user (id),
    kind         text NOT NULL CHECK (kind IN ('recycle', 'release', 'rule')),
    reason       text
);
CREATE INDEX pool_entry_pool ON pool_entry (pool_id, since DESC, customer_id);

-- Every recycle, release, claim, warning and routing into a pool.
CREATE TABLE pool_event (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customer (id),
    branch_id    bigint NOT NULL,
    pool_id      bigint REFERENCES pool (id),
    kind         text NOT NULL CHECK (kind IN ('recycle', 'release', 'claim', 'warn', 'rule')),
    from_owner   bigint REFERENCES app_user (id),
    to_owner     bigint REFERENCES app_user (id),
    reason       text,
    as_of        date,
    actor        bigint REFERENCES app_user (id),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pool_event_customer ON pool_event (customer_id, id);
CREATE INDEX pool_event_claims ON pool_event (to_owner, at) WHERE kind = 'claim';

-- ---------------------------------------------------------------- rules

-- Recycle triggers, exemptions and claim limits per ABC grade, everywhere
-- (branch_id NULL) or for one branch (which then wins). A customer without
-- an ABC grade counts as C. 0 turns a trigger, a warning or a limit off.
CREATE TABLE pool_rule (
    id                bigserial PRIMARY KEY,
    branch_id         bigint REFERENCES org_unit (id),
    grade             text NOT NULL CHECK (grade IN ('A', 'B', 'C')),
    followup_days     integer NOT NULL CHECK (followup_days >= 0),   -- N: no logged follow-up for N days
    txn_days          integer NOT NULL CHECK (txn_days >= 0),        -- M: no transaction for M days
    warn_days         integer NOT NULL CHECK (warn_days >= 0),       -- K: the owner is warned K days before
    claim_per_day     integer NOT NULL CHECK (claim_per_day >= 0),   -- claims a person may make a day
    max_held          integer NOT NULL CHECK (max_held >= 0),        -- a claimer holding this many may not claim
    cooldown_days     integer NOT NULL CHECK (cooldown_days >= 0),   -- the previous owner may not reclaim within
    exempt_open_case  boolean NOT NULL,                              -- never recycled with an open case
    exempt_txn_days   integer NOT NULL CHECK (exempt_txn_days >= 0), -- nor with a transaction within these days
    exempt_tag        text NOT NULL,                                 -- nor with this tag ('' none)
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        bigint REFERENCES app_user (id)
);
CREATE UNIQUE INDEX pool_rule_scope ON pool_rule (coalesce(branch_id, 0), grade);

INSERT INTO pool_rule (branch_id, grade, followup_days, txn_days, warn_days, claim_per_day, max_held, cooldown_days,
                       exempt_open_case, exempt_txn_days, exempt_tag)
VALUES (NULL, 'A', 90, 365, 14, 5, 0, 30, true, 30, 'protected'),
       (NULL, 'B', 60, 180, 7, 10, 0, 30, true, 30, 'protected'),
       (NULL, 'C', 30, 90, 7, 20, 0, 30, true, 30, 'protected');

CREATE FUNCTION pool_rule_keys() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['followup_days', 'txn_days', 'warn_days', 'claim_per_day', 'max_held', 'cooldown_days',
                 'exempt_open_case', 'exempt_txn_days', 'exempt_tag']
$$;

-- The rule in force for a branch and a grade.
CREATE FUNCTION pool_rule_for(branch bigint, g text) RETURNS pool_rule LANGUAGE sql STABLE AS $$
    SELECT r FROM pool_rule r WHERE r.grade = coalesce(g, 'C') AND (r.branch_id = branch OR r.branch_id IS NULL)
     ORDER BY r.branch_id IS NULL LIMIT 1
$$;

-- Sets rule values: grades[i].keys[i] = vals[i], for a branch (its rows made
-- from the ones everywhere on first use) or everywhere (branch NULL). All or
-- none; a bad key or value raises 22023 with the key as DETAIL.
CREATE FUNCTION pool_rule_set(branch bigint, grades text[], keys text[], vals text[], actor bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    v integer;
BEGIN
    IF branch IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pool_rule WHERE branch_id = branch) THEN
        INSERT INTO pool_rule (branch_id, grade, followup_days, txn_days, warn_days, claim_per_day, max_held,
                               cooldown_days, exempt_open_case, exempt_txn_days, exempt_tag, updated_by)
        SELECT branch, grade, followup_days, txn_days, warn_days, claim_per_day, max_held, cooldown_days,
               exempt_open_case, exempt_txn_days, exempt_tag, actor
          FROM pool_rule WHERE branch_id IS NULL;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(keys), 0) LOOP
        IF grades[i] IS NULL OR grades[i] NOT IN ('A', 'B', 'C', '*') THEN
            RAISE EXCEPTION 'no grade "%" (A, B, C, or * for all three)', grades[i] USING ERRCODE = '22023',
                DETAIL = coalesce(grades[i], '') || '.' || keys[i];
        END IF;
        IF NOT keys[i] = ANY (pool_rule_keys()) THEN
            RAISE EXCEPTION 'no pool rule "%" (%)', keys[i], array_to_string(pool_rule_keys(), ', ')
                USING ERRCODE = '22023', DETAIL = grades[i] || '.' || keys[i];
        END IF;
        IF keys[i] = 'exempt_open_case' THEN
            IF vals[i] NOT IN ('true', 'false', 'yes', 'no', 'on', 'off', '1', '0') THEN
                RAISE EXCEPTION '% must be true or false, not "%"', keys[i], vals[i] USING ERRCODE = '22023',
                    DETAIL = grades[i] || '.' || keys[i];
            END IF;
            UPDATE pool_rule SET exempt_open_case = vals[i]::boolean, updated_at = now(), updated_by = actor
             WHERE branch_id IS NOT DISTINCT FROM branch AND (grades[i] = '*' OR grade = grades[i]);
        ELSIF keys[i] = 'exempt_tag' THEN
            IF length(vals[i]) > 50 THEN
                RAISE EXCEPTION '% is at most 50 characters', keys[i] USING ERRCODE = '22023',
                    DETAIL = grades[i] || '.' || keys[i];
            END IF;
            UPDATE pool_rule SET exempt_tag = vals[i], updated_at = now(), updated_by = actor
             WHERE branch_id IS NOT DISTINCT FROM branch AND (grades[i] = '*' OR grade = grades[i]);
        ELSE
            IF vals[i] !~ '^[0-9]{1,5}$' THEN
                RAISE EXCEPTION '% is a whole number of 0 to 99999, not "%"', keys[i], vals[i]
                    USING ERRCODE = '22023', DETAIL = grades[i] || '.' || keys[i];
            END IF;
            v := vals[i]::integer;
            EXECUTE format('UPDATE pool_rule SET %I = $1, updated_at = now(), updated_by = $2'
                           ' WHERE branch_id IS NOT DISTINCT FROM $3 AND ($4 = ''*'' OR grade = $4)', keys[i])
              USING v, actor, branch, grades[i];
        END IF;
        n := n + 1;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pool_rule WHERE branch_id IS NOT DISTINCT FROM branch
                AND warn_days > 0 AND warn_days >= greatest(followup_days, txn_days)
                AND greatest(followup_days, txn_days) > 0) THEN
        RAISE EXCEPTION 'warn_days must be shorter than the limits it warns of' USING ERRCODE = '22023',
            DETAIL = 'warn_days';
    END IF;
    RETURN n;
END
$$;

-- Customers with an open case. Cases are not in the schema yet: until the
-- migration that adds them replaces this function, nobody has one (like
-- customer_service_signals in sql/0006).
CREATE FUNCTION customer_open_cases() RETURNS TABLE (customer_id bigint) LANGUAGE sql STABLE AS $$
    SELECT NULL::bigint WHERE false
$$;

-- ---------------------------------------------------------------- warnings

-- The warning K days before a recycle: once per owner and due date (a later
-- follow-up moves the due date, and a new warning comes before the new one).
CREATE TABLE pool_warning (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customer (id),
    branch_id    bigint NOT NULL,
    owner_id     bigint NOT NULL REFERENCES app_user (id),
    trigger      text NOT NULL CHECK (trigger IN ('followup', 'txn')),
    due_on       date NOT NULL,             -- the day it returns to the pool unless something happens
    raised_on    date NOT NULL,
    followup_id  bigint REFERENCES followup (id),  -- the call planned for the owner
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, owner_id, due_on)
);
CREATE INDEX pool_warning_owner ON pool_warning (owner_id, due_on) WHERE status = 'open';

-- ---------------------------------------------------------------- the recycle job

CREATE TABLE pool_run (
    id           bigserial PRIMARY KEY,
    as_of        date NOT NULL,
    dry_run      boolean NOT NULL,
    examined     bigint NOT NULL DEFAULT 0,
    warned       bigint NOT NULL DEFAULT 0,
    recycled     bigint NOT NULL DEFAULT 0,
    by_followup  bigint NOT NULL DEFAULT 0,
    by_txn       bigint NOT NULL DEFAULT 0,
    exempted     bigint NOT NULL DEFAULT 0,
    started_by   bigint REFERENCES app_user (id),
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms  bigint
);

-- Whether the scheduled recycle has yet to run today.
CREATE FUNCTION pool_schedule_due(today date) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM pool_run WHERE NOT dry_run AND duration_ms IS NOT NULL AND as_of >= today)
$$;

-- Moves customers into their branch's default pool: owner gone, status
-- in_pool, a pool_entry and a pool_event each, the owner's planned
-- follow-ups of them cancelled and their warnings closed. ids: the
-- customers; kinds/reasons: per customer.
CREATE FUNCTION pool_put(ids bigint[], kinds text[], reasons text[], actor bigint, d date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS pool_put_rows (customer_id bigint, kind text, reason text, from_owner bigint,
                                                   branch_id bigint, pool_id bigint) ON COMMIT DROP;
    TRUNCATE pool_put_rows;
    INSERT INTO pool_put_rows
    SELECT c.id, x.kind, x.reason, c.owner_id, c.branch_id, NULL
      FROM unnest(ids, kinds, reasons) x(id, kind, reason) JOIN customer c ON c.id = x.id
     WHERE c.status IN ('active', 'churned') AND c.merged_into IS NULL;
    UPDATE pool_put_rows p SET pool_id = d.pool_id
      FROM (SELECT b.branch_id, pool_default_of(b.branch_id) AS pool_id
              FROM (SELECT DISTINCT branch_id FROM pool_put_rows) b) d
     WHERE d.branch_id = p.branch_id AND p.pool_id IS NULL;
    UPDATE customer c SET owner_id = NULL, status = 'in_pool', version = c.version + 1, updated_at = now(),
                          updated_by = actor
      FROM pool_put_rows p WHERE c.id = p.customer_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO pool_entry (customer_id, pool_id, from_owner, kind, reason)
    SELECT customer_id, pool_id, from_owner, kind, reason FROM pool_put_rows
    ON CONFLICT (customer_id) DO UPDATE SET pool_id = EXCLUDED.pool_id, since = now(),
        from_owner = EXCLUDED.from_owner, kind = EXCLUDED.kind, reason = EXCLUDED.reason;
    INSERT INTO pool_event (customer_id, branch_id, pool_id, kind, from_owner, reason, as_of, actor)
    SELECT customer_id, branch_id, pool_id, kind, from_owner, reason, d, actor FROM pool_put_rows;
    UPDATE followup f SET status = 'cancelled', updated_at = now(), updated_by = actor
      FROM pool_put_rows p
     WHERE f.customer_id = p.customer_id AND f.status = 'planned' AND f.owner_id = p.from_owner;
    UPDATE pool_warning w SET status = 'closed' FROM pool_put_rows p
     WHERE w.customer_id = p.customer_id AND w.status = 'open';
    RETURN n;
END
$$;

-- The recycle job, for every branch at once: warnings K days before, then
-- the recycles, as of d. A dry run changes nothing and counts the same.
-- One at a time (an advisory lock; a second waits for none: 55P03).
-- Returns the pool_run row (its id is 0 for a dry run).
CREATE FUNCTION pool_recycle(d date, dry boolean, actor bigint) RETURNS pool_run LANGUAGE plpgsql AS $$
DECLARE
    run pool_run;
    t0 timestamptz := clock_timestamp();
    bulk boolean;
BEGIN
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
    DROP TABLE pr_rule, pr_cand, pr_warn;
    RETURN run;
END
$$;

-- ---------------------------------------------------------------- release and claim

-- The owner lets a customer go to a pool (the branch's default one unless
-- pool_ref names another of the branch). may_reassign: the caller may
-- reassign the customer (a manager); needed for someone else's customer
-- and for an A customer. Raises 55000 (not possible now), 42501 (not
-- allowed), 22023 (a bad argument) with the field as DETAIL.
CREATE FUNCTION pool_release(cust bigint, actor bigint, may_reassign boolean, why text, pool_ref text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    c customer;
    pid bigint;
BEGIN
    IF coalesce(btrim(why), '') = '' THEN
        RAISE EXCEPTION 'give the reason for the release' USING ERRCODE = '22023', DETAIL = 'reason';
    END IF;
    SELECT * INTO c FROM customer WHERE id = cust FOR UPDATE;
    IF NOT FOUND OR c.merged_into IS NOT NULL OR c.status = 'archived' THEN
        RAISE EXCEPTION 'no such customer' USING ERRCODE = '55000', DETAIL = 'customer_id';
    END IF;
    IF c.status = 'in_pool' THEN
        RAISE EXCEPTION 'customer % is already in a pool', cust USING ERRCODE = '55000', DETAIL = 'customer_id';
    END IF;
    IF c.owner_id IS NULL THEN
        RAISE EXCEPTION 'customer % has no owner to release it', cust USING ERRCODE = '55000', DETAIL = 'customer_id';
    END IF;
    IF c.owner_id IS DISTINCT FROM actor AND NOT may_reassign THEN
        RAISE EXCEPTION 'only the owner or a manager may release customer %', cust USING ERRCODE = '42501';
    END IF;
    IF NOT may_reassign AND coalesce(grade_of(cust, 'abc'), 'C') = 'A' THEN
        RAISE EXCEPTION 'customer % is an A customer: a branch manager releases it', cust USING ERRCODE = '42501';
    END IF;
    IF coalesce(pool_ref, '') <> '' THEN
        SELECT id INTO pid FROM pool
         WHERE branch_id = c.branch_id AND (lower(name) = lower(pool_ref) OR id::text = pool_ref);
        IF pid IS NULL THEN
            RAISE EXCEPTION 'no pool "%" in the customer''s branch', pool_ref USING ERRCODE = '22023', DETAIL = 'pool';
        END IF;
    END IF;
    PERFORM set_config('kehu.assign_kind', 'release', true);
    PERFORM set_config('kehu.assign_reason', btrim(why), true);
    PERFORM pool_put(ARRAY[cust], ARRAY['release'], ARRAY[btrim(why)], actor, current_date);
    IF pid IS NOT NULL THEN
        UPDATE pool_entry SET pool_id = pid WHERE customer_id = cust;
        UPDATE pool_event SET pool_id = pid WHERE id = (SELECT max(id) FROM pool_event WHERE customer_id = cust);
    END IF;
    PERFORM set_config('kehu.assign_kind', '', true);
    PERFORM set_config('kehu.assign_reason', '', true);
    RETURN cust;
END
$$;

-- Takes a customer out of its pool for `who`, atomically: of any number of
-- claims at once exactly one finds it still in the pool. Claims by one
-- person are serialised (an advisory lock) so that the day's limit and the
-- cap hold under concurrency. Raises 55000 'already claimed by X' (or the
-- cooldown), 53400 for the daily limit and the cap.
CREATE FUNCTION pool_claim(cust bigint, who bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    c customer;
    e pool_entry;
    r pool_rule;
    n bigint;
    cap integer;
    winner text;
BEGIN
    PERFORM pg_advisory_xact_lock(7011, who::integer);
    SELECT * INTO c FROM customer WHERE id = cust;
    IF c.status IS DISTINCT FROM 'in_pool' THEN
        SELECT username INTO winner FROM app_user WHERE id = c.owner_id;
        RAISE EXCEPTION 'customer % is not in a pool%', cust, coalesce(': already claimed by ' || winner, '')
            USING ERRCODE = '55000', DETAIL = 'customer_id';
    END IF;
    SELECT * INTO e FROM pool_entry WHERE customer_id = cust;
    r := pool_rule_for(c.branch_id, grade_of(cust, 'abc'));
    IF e.from_owner = who AND r.cooldown_days > 0 AND e.since > now() - make_interval(days => r.cooldown_days) THEN
        RAISE EXCEPTION 'you were its owner: you may claim customer % again from %', cust,
            (e.since + make_interval(days => r.cooldown_days))::date USING ERRCODE = '55000', DETAIL = 'customer_id';
    END IF;
    IF r.claim_per_day > 0 THEN
        SELECT count(*) INTO n FROM pool_event
         WHERE kind = 'claim' AND to_owner = who AND at >= date_trunc('day', now());
        IF n >= r.claim_per_day THEN
            RAISE EXCEPTION 'daily claim limit reached (% a day)', r.claim_per_day USING ERRCODE = '53400';
        END IF;
    END IF;
    SELECT CASE WHEN r.max_held > 0 AND u.max_customers IS NOT NULL THEN least(r.max_held, u.max_customers)
                WHEN r.max_held > 0 THEN r.max_held ELSE u.max_customers END
      INTO cap FROM app_user u WHERE u.id = who;
    IF cap IS NOT NULL THEN
        SELECT count(*) INTO n FROM customer
         WHERE owner_id = who AND status <> 'archived' AND merged_into IS NULL;
        IF n >= cap THEN
            RAISE EXCEPTION 'you hold % customers, the most you may (%)', n, cap USING ERRCODE = '53400';
        END IF;
    END IF;
    PERFORM set_config('kehu.assign_kind', 'claim', true);
    PERFORM set_config('kehu.assign_reason', 'claimed from the pool', true);
    UPDATE customer SET owner_id = who, status = 'active', version = version + 1, updated_at = now(), updated_by = who
     WHERE id = cust AND status = 'in_pool';
    IF NOT FOUND THEN -- someone else's claim committed first
        SELECT u.username INTO winner FROM customer x JOIN app_user u ON u.id = x.owner_id WHERE x.id = cust;
        RAISE EXCEPTION 'customer % is not in the pool: already claimed by %', cust, coalesce(winner, 'someone')
            USING ERRCODE = '55000', DETAIL = 'customer_id';
    END IF;
    PERFORM set_config('kehu.assign_kind', '', true);
    PERFORM set_config('kehu.assign_reason', '', true);
    DELETE FROM pool_entry WHERE customer_id = cust;
    INSERT INTO pool_event (customer_id, branch_id, pool_id, kind, from_owner, to_owner, reason, as_of, actor)
    VALUES (cust, c.branch_id, e.pool_id, 'claim', e.from_owner, who, 'claimed from the pool', current_date, who);
    RETURN cust;
END
$$;

-- ---------------------------------------------------------------- assignment rules

-- Ordered rules per branch: the first whose criteria (NULL = any; compared
-- without case) all hold routes the customer to a user, or round robin over
-- the active account managers of a team (ordered by id, skipping disabled
-- users and those at their max_customers). A customer no rule matches (or
-- whose target is full) goes to the branch's default pool. A branch without
-- rules routes nothing: its new customers without owner stay unassigned.
CREATE TABLE assign_rule (
    id           bigserial PRIMARY KEY,
    branch_id    bigint NOT NULL REFERENCES org_unit (id),
    position     integer NOT NULL,
    region       text,
    industry     text,
    source       text,
    size         text,
    grade        text CHECK (grade IN ('A', 'B', 'C')),
    target_user  bigint REFERENCES app_user (id),
    target_team  bigint REFERENCES org_unit (id),
    rr_last      bigint,  -- round robin: the member given the last customer
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   bigint REFERENCES app_user (id),
    CHECK ((target_user IS NULL) <> (target_team IS NULL)),
    UNIQUE (branch_id, position)
);

-- Replaces a branch's rules with the given ordered list, all or none:
-- targets checked (an active account or branch manager of the branch, a team
-- under it), criteria and grades checked. 22023 with 'rules[i].field' as DETAIL.
CREATE FUNCTION assign_rule_set(branch bigint, regions text[], industries text[], sources text[], sizes text[],
                                grades text[], users text[], teams text[], actor bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(cardinality(users), 0);
    uid bigint;
    tid bigint;
    u record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM org_unit WHERE id = branch AND kind = 'branch') THEN
        RAISE EXCEPTION 'rules belong to a branch' USING ERRCODE = '22023', DETAIL = 'branch';
    END IF;
    DELETE FROM assign_rule WHERE branch_id = branch;
    FOR i IN 1 .. n LOOP
        uid := NULL;
        tid := NULL;
        IF (coalesce(users[i], '') = '') = (coalesce(teams[i], '') = '') THEN
            RAISE EXCEPTION 'rule %: give a user or a team to route to', i USING ERRCODE = '22023',
                DETAIL = format('rules[%s].to', i);
        END IF;
        IF nullif(grades[i], '') NOT IN ('A', 'B', 'C') THEN
            RAISE EXCEPTION 'rule %: no ABC grade "%"', i, grades[i] USING ERRCODE = '22023',
                DETAIL = format('rules[%s].grade', i);
        END IF;
        IF nullif(sources[i], '') NOT IN ('b2b_platform', 'trade_show', 'search_engine',
                                                         'purchased_list', 'referral', 'walk_in', 'other') THEN
            RAISE EXCEPTION 'rule %: no source "%"', i, sources[i] USING ERRCODE = '22023',
                DETAIL = format('rules[%s].source', i);
        END IF;
        IF coalesce(users[i], '') <> '' THEN
            SELECT x.id, x.role, x.disabled_at, o.branch_id INTO u
              FROM app_user x JOIN org_unit o ON o.id = x.unit_id WHERE x.username = lower(users[i]);
            IF NOT FOUND THEN
                RAISE EXCEPTION 'rule %: no user "%"', i, users[i] USING ERRCODE = '22023',
                    DETAIL = format('rules[%s].to', i);
            END IF;
            IF u.disabled_at IS NOT NULL OR u.role NOT IN ('account_manager', 'branch_manager')
               OR u.branch_id IS DISTINCT FROM branch THEN
                RAISE EXCEPTION 'rule %: "%" is not an active account or branch manager of the branch', i, users[i]
                    USING ERRCODE = '22023', DETAIL = format('rules[%s].to', i);
            END IF;
            uid := u.id;
        ELSE
            SELECT o.id INTO tid FROM org_unit o
             WHERE (lower(o.name) = lower(teams[i]) OR o.id::text = teams[i]) AND o.kind = 'team'
               AND o.branch_id = branch;
            IF tid IS NULL THEN
                RAISE EXCEPTION 'rule %: no team "%" in the branch', i, teams[i] USING ERRCODE = '22023',
                    DETAIL = format('rules[%s].to', i);
            END IF;
        END IF;
        INSERT INTO assign_rule (branch_id, position, region, industry, source, size, grade, target_user, target_team,
                                 updated_by)
        VALUES (branch, i, nullif(regions[i], ''), nullif(industries[i], ''), nullif(sources[i], ''),
                nullif(sizes[i], ''), nullif(grades[i], ''), uid, tid, actor);
    END LOOP;
    RETURN n;
END
$$;

-- Routes the given customers (those without owner, active, in a branch with
-- rules) by the rules; returns what happened to each: the rule, the new
-- owner (NULL: the pool). A dry run changes nothing, round robin cursors
-- included, and says the same.
CREATE FUNCTION assign_route(ids bigint[], actor bigint, dry boolean)
RETURNS TABLE (customer_id bigint, rule_id bigint, owner_id bigint, pool_id bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    rl record;
    members bigint[];
    room bigint[];
    k integer;
    tries integer;
    cids bigint[];
    owners bigint[];
    cid bigint;
    got bigint;
    last bigint;
BEGIN
    -- most branches have no rules: then nothing to do, cheaply
    IF NOT EXISTS (SELECT 1 FROM customer c JOIN assign_rule r ON r.branch_id = c.branch_id WHERE c.id = ANY (ids)) THEN
        RETURN;
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS ar_match (customer_id bigint PRIMARY KEY, branch_id bigint, rule_id bigint,
                                              owner_id bigint, pool_id bigint) ON COMMIT DROP;
    DELETE FROM ar_match;
    INSERT INTO ar_match (customer_id, branch_id, rule_id)
    SELECT c.id, c.branch_id,
           (SELECT r.id FROM assign_rule r
             WHERE r.branch_id = c.branch_id
               AND (r.region IS NULL OR lower(r.region) = lower(c.region))
               AND (r.industry IS NULL OR lower(r.industry) = lower(c.industry))
               AND (r.source IS NULL OR r.source = c.source)
               AND (r.size IS NULL OR lower(r.size) = lower(c.size))
               AND (r.grade IS NULL OR r.grade = grade_of(c.id, 'abc'))
             ORDER BY r.position LIMIT 1)
      FROM customer c
     WHERE c.id = ANY (ids) AND c.owner_id IS NULL AND c.status = 'active' AND c.merged_into IS NULL
       AND EXISTS (SELECT 1 FROM assign_rule r WHERE r.branch_id = c.branch_id);

    FOR rl IN SELECT r.* FROM assign_rule r WHERE r.id IN (SELECT m.rule_id FROM ar_match m) ORDER BY r.id LOOP
        -- candidates in order, with the room each has left (NULL: no cap)
        SELECT array_agg(x.id ORDER BY x.id), array_agg(x.room ORDER BY x.id) INTO members, room
          FROM (SELECT u.id, u.max_customers - (SELECT count(*) FROM customer h
                                                 WHERE h.owner_id = u.id AND h.status <> 'archived'
                                                   AND h.merged_into IS NULL)
                                       - (SELECT count(*) FROM ar_match a WHERE a.owner_id = u.id) AS room
                  FROM app_user u JOIN org_unit o ON o.id = u.unit_id
                 WHERE u.disabled_at IS NULL
                   AND CASE WHEN rl.target_user IS NOT NULL THEN u.id = rl.target_user
                            ELSE u.role = 'account_manager' AND o.path @> ARRAY[rl.target_team] END) x;
        SELECT array_agg(m.customer_id ORDER BY m.customer_id) INTO cids FROM ar_match m WHERE m.rule_id = rl.id;
        owners := array_fill(NULL::bigint, ARRAY[cardinality(cids)]);
        -- start after the member given the last customer
        k := 1;
        IF members IS NOT NULL AND rl.rr_last IS NOT NULL THEN
            k := coalesce((SELECT min(i) FROM generate_subscripts(members, 1) i WHERE members[i] > rl.rr_last), 1);
        END IF;
        last := rl.rr_last;
        FOR j IN 1 .. coalesce(cardinality(cids), 0) LOOP
            got := NULL;
            tries := 0;
            WHILE members IS NOT NULL AND tries < cardinality(members) LOOP
                IF room[k] IS NULL OR room[k] > 0 THEN
                    got := members[k];
                    room[k] := room[k] - 1;
                END IF;
                k := k % cardinality(members) + 1;
                tries := tries + 1;
                EXIT WHEN got IS NOT NULL;
            END LOOP;
            owners[j] := got;
            IF got IS NOT NULL THEN
                last := got;
            END IF;
        END LOOP;
        UPDATE ar_match m SET owner_id = x.o FROM unnest(cids, owners) x(c, o) WHERE m.customer_id = x.c;
        IF NOT dry AND last IS DISTINCT FROM rl.rr_last THEN
            UPDATE assign_rule SET rr_last = last WHERE id = rl.id;
        END IF;
    END LOOP;
    UPDATE ar_match m SET pool_id = d.pid
      FROM (SELECT b.branch_id, CASE WHEN dry THEN (SELECT p.id FROM pool p WHERE p.branch_id = b.branch_id
                                                                              AND p.is_default)
                                     ELSE pool_default_of(b.branch_id) END AS pid
              FROM (SELECT DISTINCT a.branch_id FROM ar_match a WHERE a.owner_id IS NULL) b) d
     WHERE m.owner_id IS NULL AND m.branch_id = d.branch_id;

    IF NOT dry THEN
        PERFORM set_config('kehu.assign_kind', 'rule', true);
        PERFORM set_config('kehu.assign_reason', 'assignment rules', true);
        UPDATE customer c SET owner_id = m.owner_id, version = c.version + 1, updated_at = now(), updated_by = actor
          FROM ar_match m WHERE c.id = m.customer_id AND m.owner_id IS NOT NULL;
        UPDATE customer c SET status = 'in_pool', version = c.version + 1, updated_at = now(), updated_by = actor
          FROM ar_match m WHERE c.id = m.customer_id AND m.owner_id IS NULL;
        INSERT INTO pool_entry (customer_id, pool_id, kind, reason)
        SELECT m.customer_id, m.pool_id, 'rule', CASE WHEN m.rule_id IS NULL THEN 'no assignment rule matched'
                                                   ELSE 'the rule''s target has no room' END
          FROM ar_match m WHERE m.owner_id IS NULL
        ON CONFLICT (customer_id) DO NOTHING;
        INSERT INTO pool_event (customer_id, branch_id, pool_id, kind, to_owner, reason, as_of, actor)
        SELECT m.customer_id, m.branch_id, m.pool_id, 'rule', m.owner_id,
               CASE WHEN m.owner_id IS NOT NULL THEN 'assignment rule ' || r.position
                    WHEN m.rule_id IS NULL THEN 'no assignment rule matched'
                    ELSE 'assignment rule ' || r.position || ': its target has no room' END, current_date, actor
          FROM ar_match m LEFT JOIN assign_rule r ON r.id = m.rule_id;
        PERFORM set_config('kehu.assign_kind', '', true);
        PERFORM set_config('kehu.assign_reason', '', true);
    END IF;
    RETURN QUERY SELECT m.customer_id, m.rule_id, m.owner_id, m.pool_id FROM ar_match m ORDER BY m.customer_id;
END
$$;

-- The customers this transaction added (by `actor`) without owner, routed:
-- what an add and an import call before they commit.
CREATE FUNCTION assign_route_new(actor bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM assign_route(ARRAY(SELECT c.id FROM customer c
                                             WHERE c.created_at = now() AND c.created_by = actor
                                               AND c.owner_id IS NULL AND c.status = 'active'), actor, false)
$$;
