-- Kehu schema 9: reassignment (issue 5). (0008 is another migration's number.)
--
-- A reassignment moves customers to other owners in batches: one customer, a
-- list, a filtered set, or every customer of a user who leaves, to one user
-- or spread over several by round robin within each person's cap. A batch is
-- one transaction, is recorded with its reason and each move, and can be
-- undone as a whole while none of its customers has changed owner again.
--
-- The owner history itself (assignment_history) is written by the trigger of
-- schema 7; the functions here say why through kehu.assign_kind,
-- kehu.assign_batch and kehu.assign_reason.

-- Settings of reassignment, checked by assign_policy_set.
CREATE TABLE assign_policy (
    position     integer NOT NULL,
    key          text PRIMARY KEY,
    value        text NOT NULL,
    min          numeric NOT NULL,
    max          numeric NOT NULL,
    description  text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   bigint REFERENCES app_user (id)
);
INSERT INTO assign_policy (position, key, value, min, max, description) VALUES
 (1, 'handover.split', '60', 0, 100,
  'a customer handed over across regions: the handing side''s share of its performance (percent; the receiving side gets the rest)'),
 (2, 'event_limit', '1000', 0, 10000000,
  'a batch moving more customers announces once per owner and branch instead of once per customer');

CREATE FUNCTION assign_policy_num(k text) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT value::numeric FROM assign_policy WHERE key = k
$$;

-- Sets keys, all or none: whole numbers within each key's range.
CREATE FUNCTION assign_policy_set(keys text[], vals text[], actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p assign_policy;
BEGIN
    IF cardinality(keys) IS DISTINCT FROM cardinality(vals) THEN
        RAISE EXCEPTION 'keys and values must be as many' USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(keys), 0) LOOP
        SELECT * INTO p FROM assign_policy WHERE key = keys[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no key "%": %', keys[i], (SELECT string_agg(key, ', ' ORDER BY position) FROM assign_policy)
                USING ERRCODE = '22023';
        END IF;
        IF vals[i] !~ '^[0-9]{1,9}$' OR vals[i]::numeric < p.min OR vals[i]::numeric > p.max THEN
            RAISE EXCEPTION '% must be a whole number from % to %, not "%"', keys[i], p.min, p.max, vals[i]
                USING ERRCODE = '22023';
        END IF;
        UPDATE assign_policy SET value = (vals[i]::integer)::text, updated_at = now(), updated_by = actor
         WHERE key = keys[i];
    END LOOP;
END
$$;

-- A batch of moves. Dry runs are never stored.
CREATE TABLE reassign_batch (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('assign', 'handover', 'undo')),
    selection   text NOT NULL,          -- how the customers were chosen: "ids", "from li.lei", "filter ..."
    reason      text NOT NULL,
    actor       bigint NOT NULL REFERENCES app_user (id),
    customers   integer NOT NULL,
    undo_of     bigint REFERENCES reassign_batch (id),   -- kind 'undo': the batch it took back
    undone_at   timestamptz,
    undone_by   bigint REFERENCES app_user (id),
    undone_in   bigint REFERENCES reassign_batch (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reassign_item (
    batch_id     bigint NOT NULL,       -- reassign_batch
    -- customers and users are never deleted (archived, merged, disabled):
    -- no foreign keys on these, which would cost a check per row of a batch
    customer_id  bigint NOT NULL,
    from_owner   bigint,
    to_owner     bigint,
    from_branch  bigint NOT NULL,
    to_branch    bigint NOT NULL,
    version      bigint NOT NULL,       -- the customer's version right after the move
    PRIMARY KEY (batch_id, customer_id)
);
CREATE INDEX reassign_item_customer ON reassign_item (customer_id);

-- Customers handed over across regions: how their performance is split
-- between the handing and the receiving side from that day on, for the KPI
-- reports (the split in force when it happened). An undo voids the rows of
-- the batch it takes back.
CREATE TABLE performance_split (
    id           bigserial PRIMARY KEY,
    batch_id     bigint NOT NULL REFERENCES reassign_batch (id),
    customer_id  bigint NOT NULL,       -- (no foreign keys per row, as in reassign_item)
    from_owner   bigint,
    to_owner     bigint,
    from_branch  bigint NOT NULL,
    to_branch    bigint NOT NULL,
    from_region  bigint,                -- NULL: a branch under no region
    to_region    bigint,
    from_share   numeric(5, 2) NOT NULL CHECK (from_share BETWEEN 0 AND 100),
    to_share     numeric(5, 2) NOT NULL CHECK (to_share BETWEEN 0 AND 100),
    from_date    date NOT NULL DEFAULT current_date,
    void_by      bigint REFERENCES reassign_batch (id)
);
CREATE INDEX performance_split_customer ON performance_split (customer_id, from_date);
CREATE INDEX performance_split_batch ON performance_split (batch_id);

-- Scopes as kehud passes them (RPC_SCOPE_SQL): kind 0 all, 1 branches under
-- unit id, 2 owned by id, 3 nothing, 4 owned by anyone in unit id's subtree.
-- For many customers at once: the ids a scope's test compares with (kind 1:
-- the units under id, for the branch; kind 4: the users in id's subtree, for
-- the owner), found once, and the test of one customer against them.
CREATE FUNCTION assign_scope_set(p_kind integer, p_id bigint) RETURNS bigint[] LANGUAGE sql STABLE AS $$
    SELECT CASE p_kind
           WHEN 1 THEN ARRAY(SELECT o.id FROM org_unit o WHERE o.path @> ARRAY[p_id])
           WHEN 4 THEN ARRAY(SELECT u.id FROM app_user u JOIN org_unit o ON o.id = u.unit_id
                              WHERE o.path @> ARRAY[p_id])
           ELSE '{}'::bigint[] END
$$;

CREATE FUNCTION assign_in(p_branch bigint, p_owner bigint, p_kind integer, p_id bigint, p_set bigint[])
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_kind = 0 OR (p_kind = 1 AND p_branch = ANY (p_set)) OR (p_kind = 2 AND p_owner = p_id)
        OR (p_kind = 4 AND p_owner = ANY (p_set))
$$;

-- "12, 13, 14 and 7 more": a few ids of a refusal.
CREATE FUNCTION assign_some(ids bigint[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT array_to_string(ids[1:10], ', ')
           || CASE WHEN cardinality(ids) > 10 THEN format(' and %s more', cardinality(ids) - 10) ELSE '' END
$$;

-- Carries out the moves in the temporary table assign_move (customer_id,
-- name, from_owner, to_owner, from_branch, to_branch, version, from_region,
-- to_region) as batch b: the
-- customers (owner, branch, version; the change log and the owner history),
-- their open follow-ups, the rows that carry their branch, the items, the
-- split of handovers across regions (unless an undo), and the events.
CREATE FUNCTION assign_apply(b bigint, p_kind text, p_reason text, actor bigint, with_split boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n        bigint;
    ev_limit bigint := assign_policy_num('event_limit');
    bulk     text := coalesce(current_setting('kehu.bulk', true), '');
    share    numeric := assign_policy_num('handover.split');
    t        text;
BEGIN
    SELECT count(*) INTO n FROM assign_move;
    PERFORM set_config('kehu.assign_kind', p_kind, true), set_config('kehu.assign_batch', b::text, true),
            set_config('kehu.assign_reason', p_reason, true);
    -- the customer_changed trigger neither logs nor announces under kehu.bulk:
    -- the change log is written below in one statement, the events at the end
    PERFORM set_config('kehu.bulk', 'on', true);
    UPDATE customer c
       SET owner_id = m.to_owner, branch_id = m.to_branch, version = m.version, updated_by = actor,
           updated_at = now()
      FROM assign_move m
     WHERE c.id = m.customer_id;
    PERFORM set_config('kehu.bulk', bulk, true);
    INSERT INTO change_log (branch_id, customer_id, entity, entity_id, field, old_value, new_value, version, changed_by)
    SELECT m.to_branch, m.customer_id, 'customer', m.customer_id, f.field, f.old, f.new, m.version, actor
      FROM assign_move m,
           LATERAL (VALUES ('owner_id', m.from_owner::text, m.to_owner::text),
                           ('branch_id', m.from_branch::text, m.to_branch::text)) f(field, old, new)
     WHERE f.old IS DISTINCT FROM f.new;

    -- open follow-ups of the previous owner go with the customer
    UPDATE followup f
       SET owner_id = m.to_owner, updated_by = actor, updated_at = now()
      FROM assign_move m
     WHERE f.customer_id = m.customer_id AND f.status = 'planned' AND f.owner_id = m.from_owner
       AND m.to_owner IS NOT NULL;
    -- CASES: when cases exist, the customer's open cases held by the previous
    -- owner move here as well (UPDATE ... SET owner_id = m.to_owner ...).

    -- everything that carries the customer's branch follows it
    IF EXISTS (SELECT 1 FROM assign_move WHERE from_branch <> to_branch) THEN
        FOREACH t IN ARRAY ARRAY['contact', 'txn', 'payment', 'asset_snapshot', 'followup', 'document',
                                 'customer_grade', 'churn_warning', 'grade_override'] LOOP
            EXECUTE format('UPDATE %I x SET branch_id = m.to_branch FROM assign_move m'
                           ' WHERE x.customer_id = m.customer_id AND m.from_branch <> m.to_branch', t);
        END LOOP;
    END IF;

    INSERT INTO reassign_item (batch_id, customer_id, from_owner, to_owner, from_branch, to_branch, version)
    SELECT b, customer_id, from_owner, to_owner, from_branch, to_branch, version FROM assign_move;

    IF with_split THEN
        INSERT INTO performance_split (batch_id, customer_id, from_owner, to_owner, from_branch, to_branch,
                                       from_region, to_region, from_share, to_share)
        SELECT b, m.customer_id, m.from_owner, m.to_owner, m.from_branch, m.to_branch, nullif(m.from_region, 0),
               nullif(m.to_region, 0), share, 100 - share
          FROM assign_move m
         WHERE m.from_region <> m.to_region;
    END IF;

    -- Events. The new side hears customer.updated as for any edit; the old
    -- side (who can no longer read the customer) hears customer.reassigned,
    -- addressed to where the customer was, so that the previous owner and
    -- their branch's managers receive it. Past the limit: one per owner and
    -- branch on each side (customer 0).
    IF n <= ev_limit THEN
        PERFORM kehu_announce_detail('customer.updated', m.customer_id, m.to_branch, m.version, m.to_owner, actor,
                                     format('reassigned batch=%s from=%s to=%s', b, coalesce(m.from_owner, 0),
                                            coalesce(m.to_owner, 0)))
           FROM assign_move m ORDER BY m.customer_id;
        PERFORM kehu_announce_detail('customer.reassigned', m.customer_id, m.from_branch, m.version, m.from_owner,
                                     actor, format('batch=%s from=%s to=%s', b, coalesce(m.from_owner, 0),
                                                   coalesce(m.to_owner, 0)))
           FROM assign_move m ORDER BY m.customer_id;
    ELSE
        PERFORM kehu_announce_detail('customer.reassigned', 0, m.to_branch, 0, m.to_owner, actor,
                                     format('batch=%s to=%s customers=%s', b, coalesce(m.to_owner, 0), count(*)))
           FROM assign_move m GROUP BY m.to_branch, m.to_owner;
        PERFORM kehu_announce_detail('customer.reassigned', 0, m.from_branch, 0, m.from_owner, actor,
                                     format('batch=%s from=%s customers=%s', b, coalesce(m.from_owner, 0), count(*)))
           FROM assign_move m GROUP BY m.from_branch, m.from_owner;
    END IF;
END
$$;

-- The moves, as every function here returns them.
CREATE TYPE assign_move_row AS (
    batch_id     bigint,
    customer_id  bigint,
    name         text,
    from_owner   bigint,
    from_user    text,
    to_owner     bigint,
    to_user      text,
    from_branch  bigint,
    to_branch    bigint,
    version      bigint,
    split        boolean
);

-- (split: the move crosses regions)
CREATE FUNCTION assign_result(b bigint) RETURNS SETOF assign_move_row LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT b, m.customer_id, m.name, m.from_owner, fu.username, m.to_owner, tu.username, m.from_branch, m.to_branch,
           m.version, m.from_region <> m.to_region
      FROM assign_move m
      LEFT JOIN app_user fu ON fu.id = m.from_owner
      LEFT JOIN app_user tu ON tu.id = m.to_owner
     ORDER BY m.customer_id;
END
$$;

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
CREATE FUNCTION assign_customers(p_ids bigint[], p_receivers bigint[], p_kind text, p_selection text, p_reason text,
                                 p_actor bigint, p_dry boolean, p_scope_kind integer, p_scope_id bigint,
                                 p_read_kind integer, p_read_id bigint, p_strict boolean, p_from bigint)
RETURNS SETOF assign_move_row LANGUAGE plpgsql AS $$
DECLARE
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

    DROP TABLE IF EXISTS assign_cand, assign_recv, assign_move;
    CREATE TEMP TABLE assign_cand ON COMMIT DROP AS
    SELECT c.id, c.name, c.owner_id, c.branch_id, c.version, c.merged_into IS NULL AS live,
           coalesce(assign_in(c.branch_id, c.owner_id, p_scope_kind, p_scope_id, s_set), false) AS may,
           coalesce(assign_in(c.branch_id, c.owner_id, p_read_kind, p_read_id, r_set), false) AS seen
      FROM customer c
     WHERE c.id IN (SELECT unnest(p_ids))
       AND (p_from IS NULL OR c.owner_id = p_from);
    ANALYZE assign_cand;

    IF p_strict THEN
        SELECT array_agg(x.id ORDER BY x.id) INTO bad
          FROM (SELECT unnest(p_ids) AS id EXCEPT SELECT id FROM assign_cand WHERE live AND (seen OR may)) x
         WHERE p_from IS NULL;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'no customer %', assign_some(bad) USING ERRCODE = 'P0002';
        END IF;
        SELECT array_agg(id ORDER BY id) INTO bad FROM assign_cand WHERE live AND NOT may;
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
CREATE FUNCTION assign_undo(p_batch bigint, p_reason text, p_actor bigint, p_dry boolean, p_scope_kind integer,
                            p_scope_id bigint)
RETURNS SETOF assign_move_row LANGUAGE plpgsql AS $$
DECLARE
    orig  reassign_batch;
    s_set bigint[] := assign_scope_set(p_scope_kind, p_scope_id);
    last  bigint;
    b     bigint := 0;
    n     bigint;
    bad   bigint[];
    why   text;
BEGIN
    SELECT * INTO orig FROM reassign_batch WHERE id = p_batch FOR UPDATE;
    IF NOT FOUND THEN
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
                        AND assign_in(i.from_branch, i.from_owner, p_scope_kind, p_scope_id, s_set), false) AS may
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

    SELECT array_agg(customer_id ORDER BY customer_id) INTO bad FROM assign_move WHERE NOT may;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'you may not reassign customer % (where it is or where it would go back to)',
            assign_some(bad) USING ERRCODE = '42501';
    END IF;
    SELECT array_agg(customer_id ORDER BY customer_id) INTO bad FROM assign_move WHERE moved;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'batch % cannot be undone: % of its customers changed owner since: %', p_batch,
            cardinality(bad), assign_some(bad) USING ERRCODE = '55000';
    END IF;
    ALTER TABLE assign_move DROP COLUMN moved, DROP COLUMN may;
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
