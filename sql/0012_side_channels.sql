-- Kehu schema 12: no side channels.
--
-- A customer the caller may not read does not exist for them: the pool's
-- functions answer with Kehu's own refusals (KH4xx, a plain message, the
-- request field as COLUMN) and never name another user; the duplicate check
-- stays on its indexes whatever plan the pool's prepared statements get.

-- ---------------------------------------------------------------- the duplicate check

-- Probable duplicates of a new customer. The same answer as before, but each
-- kind of key is looked up on its own index and the live-customer test is a
-- filter of that lookup: the old shape joined the matches back to the whole
-- table, and the generic plan that kehud's prepared statements get
-- (plan_cache_mode = force_generic_plan) walked the primary key of every
-- customer to do it (720 ms at 414,000 customers instead of 0.11 ms).
-- PL/pgSQL keeps the body from being inlined into the caller's plan, where
-- the generic estimates for a parameter array would again decide; inside,
-- sequential scans are ruled out and JIT (whose compile alone takes longer
-- than the lookups) is off. ROWS 5: the callers join the matches by id.
CREATE OR REPLACE FUNCTION customer_probable_duplicates(p_phones text[], p_id_number text, p_name text, p_company text)
RETURNS TABLE (id bigint, reason text) LANGUAGE plpgsql STABLE ROWS 5
SET enable_seqscan = off SET jit = off AS $$
BEGIN
    RETURN QUERY
    SELECT d.id, min(d.reason) FROM (
        SELECT c.id, 'same phone ' || p AS reason FROM unnest(p_phones) p JOIN customer c ON c.phones @> ARRAY[p]
         WHERE c.merged_into IS NULL AND c.status <> 'archived'
        UNION ALL
        SELECT c.id, 'same ID number' FROM customer c
         WHERE p_id_number IS NOT NULL AND c.id_number_hash = id_hash(p_id_number)
           AND c.merged_into IS NULL AND c.status <> 'archived'
        UNION ALL
        SELECT c.id, 'same name and company' FROM customer c
         WHERE p_company IS NOT NULL
           AND c.name_key = lower(regexp_replace(p_name, '[[:space:][:punct:]]+', '', 'g'))
           AND c.company_key = lower(regexp_replace(p_company, '[[:space:][:punct:]]+', '', 'g'))
           AND c.merged_into IS NULL AND c.status <> 'archived'
    ) d GROUP BY d.id;
END
$$;

-- ---------------------------------------------------------------- pool rules

-- As in sql/0010, with Kehu's refusals: KH400 naming the entry of the
-- request's `set` that is wrong ("A.followup_days").
CREATE OR REPLACE FUNCTION pool_rule_set(branch bigint, grades text[], keys text[], vals text[], actor bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    v integer;
    entry text;
    bad text;
BEGIN
    IF branch IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pool_rule WHERE branch_id = branch) THEN
        INSERT INTO pool_rule (branch_id, grade, followup_days, txn_days, warn_days, claim_per_day, max_held,
                               cooldown_days, exempt_open_case, exempt_txn_days, exempt_tag, updated_by)
        SELECT branch, grade, followup_days, txn_days, warn_days, claim_per_day, max_held, cooldown_days,
               exempt_open_case, exempt_txn_days, exempt_tag, actor
          FROM pool_rule WHERE branch_id IS NULL;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(keys), 0) LOOP
        entry := coalesce(grades[i], '') || '.' || coalesce(keys[i], '');
        IF grades[i] IS NULL OR grades[i] NOT IN ('A', 'B', 'C', '*') THEN
            RAISE EXCEPTION 'no grade "%" (A, B, C, or * for all three)', coalesce(grades[i], '')
                USING ERRCODE = 'KH400', COLUMN = entry;
        END IF;
        IF keys[i] IS NULL OR NOT keys[i] = ANY (pool_rule_keys()) THEN
            RAISE EXCEPTION 'no pool rule "%" (%)', coalesce(keys[i], ''), array_to_string(pool_rule_keys(), ', ')
                USING ERRCODE = 'KH400', COLUMN = entry;
        END IF;
        IF keys[i] = 'exempt_open_case' THEN
            IF vals[i] IS NULL OR vals[i] NOT IN ('true', 'false', 'yes', 'no', 'on', 'off', '1', '0') THEN
                RAISE EXCEPTION '% must be true or false, not "%"', keys[i], coalesce(vals[i], '')
                    USING ERRCODE = 'KH400', COLUMN = entry;
            END IF;
            UPDATE pool_rule SET exempt_open_case = vals[i]::boolean, updated_at = now(), updated_by = actor
             WHERE branch_id IS NOT DISTINCT FROM branch AND (grades[i] = '*' OR grade = grades[i]);
        ELSIF keys[i] = 'exempt_tag' THEN
            IF length(coalesce(vals[i], '')) > 50 THEN
                RAISE EXCEPTION '% is at most 50 characters', keys[i] USING ERRCODE = 'KH400', COLUMN = entry;
            END IF;
            UPDATE pool_rule SET exempt_tag = coalesce(vals[i], ''), updated_at = now(), updated_by = actor
             WHERE branch_id IS NOT DISTINCT FROM branch AND (grades[i] = '*' OR grade = grades[i]);
        ELSE
            IF vals[i] IS NULL OR vals[i] !~ '^[0-9]{1,5}$' THEN
                RAISE EXCEPTION '% is a whole number of 0 to 99999, not "%"', keys[i], coalesce(vals[i], '')
                    USING ERRCODE = 'KH400', COLUMN = entry;
            END IF;
            v := vals[i]::integer;
            EXECUTE format('UPDATE pool_rule SET %I = $1, updated_at = now(), updated_by = $2'
                           ' WHERE branch_id IS NOT DISTINCT FROM $3 AND ($4 = ''*'' OR grade = $4)', keys[i])
              USING v, actor, branch, grades[i];
        END IF;
        n := n + 1;
    END LOOP;
    SELECT grade INTO bad FROM pool_rule WHERE branch_id IS NOT DISTINCT FROM branch
       AND warn_days > 0 AND warn_days >= greatest(followup_days, txn_days) AND greatest(followup_days, txn_days) > 0
     ORDER BY grade LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'warn_days must be shorter than the limits it warns of (grade %)', bad
            USING ERRCODE = 'KH400', COLUMN = bad || '.warn_days';
    END IF;
    RETURN n;
END
$$;

-- ---------------------------------------------------------------- release

-- As in sql/0010, with Kehu's refusals and their fields. kehud has already
-- found the customer readable (a customer one may not read is NOT_FOUND
-- before this runs); 'no customer N' here is one gone meanwhile.
CREATE OR REPLACE FUNCTION pool_release(cust bigint, actor bigint, may_reassign boolean, why text, pool_ref text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    c customer;
    pid bigint;
BEGIN
    IF coalesce(btrim(why), '') = '' THEN
        RAISE EXCEPTION 'give the reason for the release' USING ERRCODE = 'KH400', COLUMN = 'reason';
    END IF;
    SELECT * INTO c FROM customer WHERE id = cust FOR UPDATE;
    IF NOT FOUND OR c.merged_into IS NOT NULL OR c.status = 'archived' THEN
        RAISE EXCEPTION 'no customer %', cust USING ERRCODE = 'KH404', COLUMN = 'customer_id';
    END IF;
    IF c.status = 'in_pool' THEN
        RAISE EXCEPTION 'customer % is already in a pool', cust USING ERRCODE = 'KH412', COLUMN = 'customer_id';
    END IF;
    IF c.owner_id IS NULL THEN
        RAISE EXCEPTION 'customer % has no owner to release it', cust USING ERRCODE = 'KH412', COLUMN = 'customer_id';
    END IF;
    IF c.owner_id IS DISTINCT FROM actor AND NOT may_reassign THEN
        RAISE EXCEPTION 'only the owner or a manager may release customer %', cust
            USING ERRCODE = 'KH403', COLUMN = 'customer_id';
    END IF;
    IF NOT may_reassign AND coalesce(grade_of(cust, 'abc'), 'C') = 'A' THEN
        RAISE EXCEPTION 'customer % is an A customer: a branch manager releases it', cust
            USING ERRCODE = 'KH403', COLUMN = 'customer_id';
    END IF;
    IF coalesce(pool_ref, '') <> '' THEN
        SELECT id INTO pid FROM pool
         WHERE branch_id = c.branch_id AND (lower(name) = lower(pool_ref) OR id::text = pool_ref);
        IF pid IS NULL THEN
            RAISE EXCEPTION 'no pool "%" in the customer''s branch', pool_ref USING ERRCODE = 'KH404', COLUMN = 'pool';
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

-- ---------------------------------------------------------------- claim

-- As in sql/0010, but it never names who holds a customer: kehud lets a
-- claim through only for a customer the claimer may see (in a pool of their
-- branch, or readable by the matrix), so one that is not in a pool (now) is
-- 'not in a pool', whoever got it. Refusals are KH412 (not now), KH429 (the
-- day's limit, the cap), with the request's field.
CREATE OR REPLACE FUNCTION pool_claim(cust bigint, who bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    c customer;
    e pool_entry;
    r pool_rule;
    n bigint;
    cap integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7011, who::integer);
    SELECT * INTO c FROM customer WHERE id = cust;
    IF NOT FOUND OR c.merged_into IS NOT NULL OR c.status = 'archived' THEN
        RAISE EXCEPTION 'no customer %', cust USING ERRCODE = 'KH404', COLUMN = 'customer_id';
    END IF;
    IF c.status IS DISTINCT FROM 'in_pool' THEN
        RAISE EXCEPTION 'customer % is not in a pool', cust USING ERRCODE = 'KH412', COLUMN = 'customer_id';
    END IF;
    SELECT * INTO e FROM pool_entry WHERE customer_id = cust;
    r := pool_rule_for(c.branch_id, grade_of(cust, 'abc'));
    IF e.from_owner = who AND r.cooldown_days > 0 AND e.since > now() - make_interval(days => r.cooldown_days) THEN
        RAISE EXCEPTION 'you were its owner: you may claim customer % again from %', cust,
            (e.since + make_interval(days => r.cooldown_days))::date USING ERRCODE = 'KH412', COLUMN = 'customer_id';
    END IF;
    IF r.claim_per_day > 0 THEN
        SELECT count(*) INTO n FROM pool_event
         WHERE kind = 'claim' AND to_owner = who AND at >= date_trunc('day', now());
        IF n >= r.claim_per_day THEN
            RAISE EXCEPTION 'daily claim limit reached (% a day)', r.claim_per_day
                USING ERRCODE = 'KH429', COLUMN = 'customer_id';
        END IF;
    END IF;
    SELECT CASE WHEN r.max_held > 0 AND u.max_customers IS NOT NULL THEN least(r.max_held, u.max_customers)
                WHEN r.max_held > 0 THEN r.max_held ELSE u.max_customers END
      INTO cap FROM app_user u WHERE u.id = who;
    IF cap IS NOT NULL THEN
        SELECT count(*) INTO n FROM customer
         WHERE owner_id = who AND status <> 'archived' AND merged_into IS NULL;
        IF n >= cap THEN
            RAISE EXCEPTION 'you hold % customers, the most you may (%)', n, cap
                USING ERRCODE = 'KH429', COLUMN = 'customer_id';
        END IF;
    END IF;
    PERFORM set_config('kehu.assign_kind', 'claim', true);
    PERFORM set_config('kehu.assign_reason', 'claimed from the pool', true);
    UPDATE customer SET owner_id = who, status = 'active', version = version + 1, updated_at = now(), updated_by = who
     WHERE id = cust AND status = 'in_pool';
    IF NOT FOUND THEN -- someone else's claim committed first
        RAISE EXCEPTION 'customer % is not in a pool any more: someone claimed it first', cust
            USING ERRCODE = 'KH412', COLUMN = 'customer_id';
    END IF;
    PERFORM set_config('kehu.assign_kind', '', true);
    PERFORM set_config('kehu.assign_reason', '', true);
    DELETE FROM pool_entry WHERE customer_id = cust;
    INSERT INTO pool_event (customer_id, branch_id, pool_id, kind, from_owner, to_owner, reason, as_of, actor)
    VALUES (cust, c.branch_id, e.pool_id, 'claim', e.from_owner, who, 'claimed from the pool', current_date, who);
    RETURN cust;
END
$$;
