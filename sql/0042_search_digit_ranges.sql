-- Kehu schema 42: customer_search_page's digit ranges read by one function.
--
-- sql/0040 reads, for three digits abc, eleven ranges of customer_search_key's
-- rank 2 rows (abc itself and abc0 .. abc9) and wrote the same subquery
-- eleven times, one per range. That subquery is now
-- customer_search_digit_range, called once per range. It is a single SELECT
-- in SQL, so the planner inlines it: each call is the subquery as before, read
-- in its order, and the eleven are merged by a Merge Append that pulls from
-- each only as many rows as the page needs (about 30 probes of the customer
-- for a page of 20 at a million customers). Written instead as one subquery
-- LATERAL to an array of the eleven tokens, every range was read to the page's
-- size before the merge (220 probes, 1,148 buffers against 212).
--
-- The customers already found by name or token (r0, r1) are now left out
-- after each range's LIMIT rather than before: still the same page, since a
-- customer among r2's first n is among the first n + |r0| + |r1| (at most the
-- page's size) of every range it is in, and the page takes r0 and r1 first.
-- Results, order and scope are those of sql/0040; no data changes.

-- One range of rank 2 rows, in pinyin order, its customers probed for the
-- scope (as customer_search_page's), at most p_limit of them.
CREATE OR REPLACE FUNCTION customer_search_digit_range(p_token text, p_limit integer, every boolean,
                                                       units bigint[], owners bigint[])
RETURNS TABLE (id bigint, sort_key text)
LANGUAGE sql STABLE AS $$
    SELECT k.customer_id, k.sort_key FROM customer_search_key k
      CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                             AND c.merged_into IS NULL AND c.status <> 'archived'
                             AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
     WHERE k.token = p_token AND k.rank = 2
     ORDER BY k.sort_key, k.customer_id LIMIT p_limit
$$;

-- As in sql/0040; for three digits the rank 2 part reads eleven ranges: the
-- digits themselves and the digits followed by each digit, each up to the
-- page's size, merged, a customer found in several (1380 and 1388 for 138)
-- kept once. (Merging the ranges before the probe let the planner sort every
-- match of all eleven at a million customers: 85 ms.)
CREATE OR REPLACE FUNCTION customer_search_page(p_kind integer, p_scope bigint, p_like text, p_token text,
                                                p_typed text, p_limit integer, p_digits text)
RETURNS TABLE (id bigint, rank integer, sort_key text)
LANGUAGE plpgsql STABLE ROWS 20 SET jit = off SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    every boolean := p_kind = 0;
    units bigint[];
    owners bigint[];
    three text := CASE WHEN length(p_digits) = 3 THEN p_digits END;
BEGIN
    IF p_kind = 1 THEN
        units := ARRAY(SELECT u.id FROM org_unit u WHERE u.path @> ARRAY[p_scope]);
    ELSIF p_kind = 2 THEN
        owners := ARRAY[p_scope];
    ELSIF p_kind = 4 THEN
        owners := ARRAY(SELECT tu.id FROM app_user tu JOIN org_unit tuo ON tuo.id = tu.unit_id
                         WHERE tuo.path @> ARRAY[p_scope]);
    END IF;
    RETURN QUERY
    WITH r0 AS MATERIALIZED (
        (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
           CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                                  AND c.merged_into IS NULL AND c.status <> 'archived'
                                  AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
          WHERE k.token = p_typed AND k.rank = 0
          ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
        UNION
        (SELECT c.id, c.sort_key FROM customer c
          WHERE c.id_number_hash = id_hash(regexp_replace(p_typed, '\s', '', 'g'))
            AND c.merged_into IS NULL AND c.status <> 'archived'
            AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners))
          LIMIT 10)),
    r1 AS MATERIALIZED (
        SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
          CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                                 AND c.merged_into IS NULL AND c.status <> 'archived'
                                 AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
         WHERE k.token = p_token AND k.rank = 1 AND k.customer_id NOT IN (SELECT id FROM r0)
         ORDER BY k.sort_key, k.customer_id LIMIT p_limit),
    room AS (SELECT (SELECT count(*) FROM r0) + (SELECT count(*) FROM r1) < p_limit AS yes),
    r2 AS MATERIALIZED (
        SELECT x.id, x.sort_key FROM (
            (SELECT DISTINCT d.id, d.sort_key COLLATE "C" FROM (
                SELECT * FROM customer_search_digit_range(p_digits, p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '0', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '1', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '2', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '3', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '4', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '5', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '6', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '7', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '8', p_limit, every, units, owners)
                UNION ALL SELECT * FROM customer_search_digit_range(three || '9', p_limit, every, units, owners)) d
              WHERE (SELECT yes FROM room)
                AND d.id NOT IN (SELECT id FROM r0) AND d.id NOT IN (SELECT id FROM r1)
              ORDER BY d.sort_key COLLATE "C", d.id LIMIT p_limit)
            UNION ALL
            (SELECT c.id, c.sort_key FROM customer c
              WHERE (SELECT yes FROM room) AND c.search_text LIKE p_like
                AND c.merged_into IS NULL AND c.status <> 'archived'
                AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners))
                AND c.id NOT IN (SELECT id FROM r0) AND c.id NOT IN (SELECT id FROM r1)
              LIMIT 1000)) x
        ORDER BY x.sort_key, x.id LIMIT p_limit)
    SELECT t.id, t.rank, t.sort_key::text FROM (
        SELECT r0.id, 0 AS rank, r0.sort_key FROM r0
        UNION ALL SELECT r1.id, 1, r1.sort_key FROM r1
        UNION ALL SELECT r2.id, 2, r2.sort_key FROM r2) t
    ORDER BY t.rank, t.sort_key, t.id LIMIT p_limit;
END $$;
