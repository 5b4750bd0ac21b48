-- Kehu schema 15: repairing mistakes — reversals of transactions and
-- payments, undoable merges, archived customers made active again.

-- ---------------------------------------------------------------- reversals
--
-- Money is never edited in place: a wrong transaction or payment is
-- corrected by a row negating it (same date, the amounts negated), linked
-- both ways, with the reason. A row is reversed at most once. The arrears
-- and the grading ignore a reversed row together with its reversal (the pair
-- adds up to nothing, and the original must not count as a purchase or a
-- credit sale either); sums over both (revenue) come out right by themselves.

ALTER TABLE txn
    ADD COLUMN reverses bigint REFERENCES txn (id),
    ADD COLUMN reversed_by bigint REFERENCES txn (id),
    ADD COLUMN reason text CHECK (length(reason) BETWEEN 1 AND 500);
CREATE UNIQUE INDEX txn_reverses ON txn (reverses) WHERE reverses IS NOT NULL;

ALTER TABLE payment
    ADD COLUMN reverses bigint REFERENCES payment (id),
    ADD COLUMN reversed_by bigint REFERENCES payment (id),
    ADD COLUMN reason text CHECK (length(reason) BETWEEN 1 AND 500),
    DROP CONSTRAINT payment_amount_check,
    -- a reversal carries the negated amount
    ADD CONSTRAINT payment_amount_check CHECK (CASE WHEN reverses IS NULL THEN amount > 0 ELSE amount < 0 END);
CREATE UNIQUE INDEX payment_reverses ON payment (reverses) WHERE reverses IS NOT NULL;

-- Reverses transaction t: the negating row, the link, the customer's
-- revenue (and balance for a sale on credit). Returns the reversal's id.
CREATE FUNCTION txn_reverse(t bigint, why text, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    o txn;
    rid bigint;
BEGIN
    SELECT * INTO o FROM txn WHERE id = t FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no transaction %', t USING ERRCODE = 'KH404', COLUMN = 'id';
    END IF;
    IF o.reverses IS NOT NULL THEN
        RAISE EXCEPTION 'transaction % is itself a reversal (of transaction %)', t, o.reverses
            USING ERRCODE = 'KH412', COLUMN = 'id';
    END IF;
    IF o.reversed_by IS NOT NULL THEN
        RAISE EXCEPTION 'transaction % is already reversed by transaction %', t, o.reversed_by
            USING ERRCODE = 'KH409', COLUMN = 'id';
    END IF;
    INSERT INTO txn (branch_id, customer_id, date, amount, margin, product, category, channel, on_credit, due,
                     created_by, reverses, reason)
    VALUES (o.branch_id, o.customer_id, o.date, -o.amount, -o.margin, o.product, o.category, o.channel, false, NULL,
            actor, o.id, why)
    RETURNING id INTO rid;
    UPDATE txn SET reversed_by = rid WHERE id = o.id;
    UPDATE customer SET revenue = revenue - o.amount,
                        balance = balance - CASE WHEN o.on_credit THEN o.amount ELSE 0 END
     WHERE id = o.customer_id;
    RETURN rid;
END
$$;

CREATE FUNCTION payment_reverse(p bigint, why text, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    o payment;
    rid bigint;
BEGIN
    SELECT * INTO o FROM payment WHERE id = p FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no payment %', p USING ERRCODE = 'KH404', COLUMN = 'id';
    END IF;
    IF o.reverses IS NOT NULL THEN
        RAISE EXCEPTION 'payment % is itself a reversal (of payment %)', p, o.reverses
            USING ERRCODE = 'KH412', COLUMN = 'id';
    END IF;
    IF o.reversed_by IS NOT NULL THEN
        RAISE EXCEPTION 'payment % is already reversed by payment %', p, o.reversed_by
            USING ERRCODE = 'KH409', COLUMN = 'id';
    END IF;
    INSERT INTO payment (branch_id, customer_id, date, amount, method, reference, note, created_by, reverses, reason)
    VALUES (o.branch_id, o.customer_id, o.date, -o.amount, o.method, o.reference, o.note, actor, o.id, why)
    RETURNING id INTO rid;
    UPDATE payment SET reversed_by = rid WHERE id = o.id;
    UPDATE customer SET balance = balance + o.amount WHERE id = o.customer_id;
    RETURN rid;
END
$$;

-- Replaces schema 5's: reversed rows and their reversals do not count.
CREATE OR REPLACE FUNCTION customer_arrears(as_of date)
RETURNS TABLE (customer_id bigint, balance numeric, oldest_unpaid_due date, days_overdue integer, credit_txns bigint,
               paid_on_time bigint)
LANGUAGE sql STABLE AS $$
    SELECT s.customer_id,
           sum(s.credit) - sum(s.paid),
           min(s.due) FILTER (WHERE s.credit > 0 AND s.credit_so_far > s.paid_total),
           coalesce(greatest(as_of - min(s.due) FILTER (WHERE s.credit > 0 AND s.credit_so_far > s.paid_total), 0), 0),
           count(*) FILTER (WHERE s.credit > 0 AND (s.due < as_of OR s.paid_so_far >= s.credit_so_far)),
           count(*) FILTER (WHERE s.credit > 0 AND s.paid_so_far >= s.credit_so_far)
      FROM (SELECT e.customer_id, e.due, e.credit, e.paid,
                   sum(e.credit) OVER w AS credit_so_far,
                   sum(e.paid) OVER w AS paid_so_far,
                   sum(e.paid) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS paid_total
              FROM (SELECT t.customer_id, t.due AS at, 1 AS kind, t.date, t.id, t.due, t.amount AS credit, 0 AS paid
                      FROM txn t
                     WHERE t.on_credit AND t.date <= as_of AND t.reversed_by IS NULL
                    UNION ALL
                    SELECT p.customer_id, p.date, 0, p.date, p.id, NULL, 0, p.amount
                      FROM payment p
                     WHERE p.date <= as_of AND p.reversed_by IS NULL AND p.reverses IS NULL) e
            WINDOW w AS (PARTITION BY e.customer_id ORDER BY e.at, e.kind, e.date, e.id)) s
     GROUP BY s.customer_id
$$;

-- grade_run (schema 6) reads every transaction in one pass; the same pass
-- without reversed rows and reversals, so that a reversed sale is not a
-- purchase (frequency, recency, months bought). The function is long: the
-- one predicate is added to its text rather than repeating it here.
DO $$
DECLARE
    def text;
    fixed text;
BEGIN
    SELECT pg_get_functiondef('grade_run(text, date, boolean, bigint)'::regprocedure) INTO def;
    fixed := regexp_replace(def, '(FROM txn t\s+WHERE t\.date <= d)([^a-z_.])',
                            '\1 AND t.reversed_by IS NULL AND t.reverses IS NULL\2');
    IF fixed = def THEN
        RAISE EXCEPTION 'grade_run: the transaction pass was not found';
    END IF;
    EXECUTE fixed;
END
$$;

-- ---------------------------------------------------------------- merges
--
-- A merge records what it needs to be undone: both customers' rows as they
-- were, the ids of every row that moved from OTHER to KEEP, both customers'
-- asset snapshots (a merge adds them up) and KEEP's version after the merge.
-- customer_unmerge undoes it while KEEP is still at that version and nothing
-- was added to KEEP since.
CREATE TABLE customer_merge (
    id             bigserial PRIMARY KEY,
    branch_id      bigint NOT NULL,
    keep_id        bigint NOT NULL REFERENCES customer (id),
    other_id       bigint NOT NULL REFERENCES customer (id),
    keep_before    jsonb NOT NULL,
    other_before   jsonb NOT NULL,
    moved          jsonb NOT NULL,   -- {"contact": [ids], "txn": [...], ...}
    assets_before  jsonb NOT NULL,   -- both customers' asset_snapshot rows
    keep_version   bigint,           -- KEEP's version the merge left
    merged_at      timestamptz NOT NULL DEFAULT now(),
    merged_by      bigint REFERENCES app_user (id),
    undone_at      timestamptz,
    undone_by      bigint REFERENCES app_user (id)
);
CREATE INDEX customer_merge_other ON customer_merge (other_id, id);
CREATE INDEX customer_merge_keep ON customer_merge (keep_id, id);

-- The tables whose rows a merge moves (customer_move_rows), in one place.
CREATE FUNCTION customer_merge_tables() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['contact', 'txn', 'payment', 'followup', 'document', 'change_log']
$$;

-- What a merge of OTHER into KEEP would move: OTHER's rows per table.
CREATE FUNCTION customer_merge_counts(other bigint) RETURNS TABLE (what text, n bigint) LANGUAGE plpgsql STABLE AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY customer_merge_tables() || ARRAY['asset_snapshot'] LOOP
        what := t;
        EXECUTE format('SELECT count(*) FROM %I WHERE customer_id = $1', t) INTO n USING other;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Called before the rows move: records the state the merge can be undone to.
CREATE FUNCTION customer_merge_record(keep bigint, other bigint, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t text;
    ids jsonb;
    moved jsonb := '{}';
    mid bigint;
BEGIN
    FOREACH t IN ARRAY customer_merge_tables() LOOP
        EXECUTE format('SELECT coalesce(jsonb_agg(id ORDER BY id), ''[]'') FROM %I WHERE customer_id = $1', t)
            INTO ids USING other;
        moved := moved || jsonb_build_object(t, ids);
    END LOOP;
    INSERT INTO customer_merge (branch_id, keep_id, other_id, keep_before, other_before, moved, assets_before, merged_by)
    SELECT k.branch_id, keep, other, to_jsonb(k), to_jsonb(o), moved,
           (SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.id), '[]') FROM asset_snapshot a
             WHERE a.customer_id IN (keep, other)),
           actor
      FROM customer k, customer o WHERE k.id = keep AND o.id = other
    RETURNING id INTO mid;
    RETURN mid;
END
$$;

-- Sets a customer's row back to a recorded one (to_jsonb(customer)): every
-- column but the id, the generated ones and the bookkeeping of the change
-- itself; the version moves on.
CREATE FUNCTION customer_restore_row(cust bigint, rec jsonb, actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cols text;
BEGIN
    SELECT string_agg(format('%I = r.%I', a.attname, a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = 'customer'::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
       AND a.attname NOT IN ('id', 'version', 'updated_at', 'updated_by');
    EXECUTE format('UPDATE customer c SET %s, version = c.version + 1, updated_at = now(), updated_by = $2'
                   ' FROM jsonb_populate_record(NULL::customer, $1) r WHERE c.id = $3', cols)
      USING rec, actor, cust;
END
$$;

-- Undoes merge m (by its id, or by OTHER's id: the latest merge of it).
-- Refuses when KEEP changed since (its version, or rows added to it).
-- Returns the merge's id.
CREATE FUNCTION customer_unmerge(m bigint, other bigint, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    g customer_merge;
    k customer;
    t text;
    n bigint;
BEGIN
    IF m > 0 THEN
        SELECT * INTO g FROM customer_merge WHERE id = m FOR UPDATE;
    ELSE
        SELECT * INTO g FROM customer_merge WHERE other_id = other ORDER BY id DESC LIMIT 1 FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        IF m > 0 THEN
            RAISE EXCEPTION 'no merge %', m USING ERRCODE = 'KH404', COLUMN = 'merge_id';
        END IF;
        RAISE EXCEPTION 'customer % was not merged into another', other USING ERRCODE = 'KH404', COLUMN = 'other_id';
    END IF;
    IF g.undone_at IS NOT NULL THEN
        RAISE EXCEPTION 'merge % (customer % into %) was already undone', g.id, g.other_id, g.keep_id
            USING ERRCODE = 'KH412', COLUMN = CASE WHEN m > 0 THEN 'merge_id' ELSE 'other_id' END;
    END IF;
    SELECT * INTO k FROM customer WHERE id = g.keep_id FOR UPDATE;
    PERFORM 1 FROM customer WHERE id = g.other_id FOR UPDATE;
    IF k.version <> g.keep_version OR k.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'customer % changed since the merge (version % then, % now): the merge can no longer be undone',
            g.keep_id, g.keep_version, k.version USING ERRCODE = 'KH409', COLUMN = 'keep_version';
    END IF;
    FOREACH t IN ARRAY ARRAY['contact', 'txn', 'payment', 'followup', 'document', 'asset_snapshot'] LOOP
        EXECUTE format('SELECT count(*) FROM %I WHERE customer_id = $1 AND created_at > $2', t)
            INTO n USING g.keep_id, g.merged_at;
        IF n > 0 THEN
            RAISE EXCEPTION 'customer % has % new % row(s) since the merge: the merge can no longer be undone',
                g.keep_id, n, t USING ERRCODE = 'KH409', COLUMN = 'keep_version';
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM asset_snapshot WHERE customer_id = g.keep_id AND updated_at > g.merged_at) THEN
        RAISE EXCEPTION 'customer %''s assets changed since the merge: the merge can no longer be undone', g.keep_id
            USING ERRCODE = 'KH409', COLUMN = 'keep_version';
    END IF;
    -- the rows that moved go back (they keep OTHER's branch as it was)
    FOREACH t IN ARRAY customer_merge_tables() LOOP
        IF t = 'change_log' THEN
            UPDATE change_log SET customer_id = g.other_id
             WHERE id IN (SELECT jsonb_array_elements_text(g.moved -> t)::bigint);
        ELSE
            EXECUTE format('UPDATE %I SET customer_id = $1, branch_id = $2'
                           ' WHERE id IN (SELECT jsonb_array_elements_text($3)::bigint)', t)
              USING g.other_id, (g.other_before ->> 'branch_id')::bigint, g.moved -> t;
        END IF;
    END LOOP;
    -- the asset snapshots as they were, ids included
    SET LOCAL kehu.bulk = 'on';
    DELETE FROM asset_snapshot WHERE customer_id IN (g.keep_id, g.other_id);
    INSERT INTO asset_snapshot SELECT * FROM jsonb_populate_recordset(NULL::asset_snapshot, g.assets_before);
    SET LOCAL kehu.bulk = 'off';
    PERFORM customer_restore_row(g.other_id, g.other_before, actor);
    PERFORM customer_restore_row(g.keep_id, g.keep_before, actor);
    UPDATE customer_merge SET undone_at = now(), undone_by = actor WHERE id = g.id;
    INSERT INTO change_log (branch_id, customer_id, entity, entity_id, field, old_value, new_value, version, changed_by)
    SELECT c.branch_id, c.id, 'customer', c.id, 'unmerged', g.id::text, o.name, c.version, actor
      FROM customer c, customer o WHERE c.id = g.keep_id AND o.id = g.other_id;
    RETURN g.id;
END
$$;

-- ---------------------------------------------------------------- unarchive

CREATE FUNCTION customer_unarchive(cust bigint, expected bigint, actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c customer;
BEGIN
    SELECT * INTO c FROM customer WHERE id = cust FOR UPDATE;
    IF c.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'customer % was merged into customer %: undo the merge (customer unmerge %) instead',
            cust, c.merged_into, cust USING ERRCODE = 'KH412', COLUMN = 'id';
    END IF;
    IF c.status <> 'archived' THEN
        RETURN; -- not archived: nothing to do
    END IF;
    IF expected > 0 AND c.version <> expected THEN
        RAISE EXCEPTION 'customer % changed since version %: it is now at version %', cust, expected, c.version
            USING ERRCODE = 'KH409', COLUMN = 'version';
    END IF;
    UPDATE customer SET status = 'active', version = version + 1, updated_at = now(), updated_by = actor
     WHERE id = cust;
END
$$;
