-- Kehu schema 40: fewer digit rows in the search side table.
--
-- sql/0035 kept every run of three and of four digits in search_text as a
-- rank 2 row of customer_search_key: 2n - 5 rows for a run of n digits, 21
-- for an 8613800138000 phone, most of the table. A three-digit run is also
-- the start of the four-digit run that continues it, unless it ends its run
-- of digits. So this keeps
--
--   every run of four digits, and
--   the last three digits of every run of three or more digits,
--
-- n - 2 rows for a run of n digits, and nothing is lost: a search for four
-- digits reads its row as before; a search for three digits abc reads the
-- rows abc (abc ends a run) and abc0 .. abc9 (abc is followed by a digit),
-- eleven ranges of the index each already in pinyin order, merged
-- (customer_search_page below) and read with LIMIT as before.
--
-- Ranks 0 and 1 are unchanged. The table is rebuilt from the customers:
-- emptied, filled, then indexed whole.
--
-- The GIN index on customer.search_tokens (sql/0002) goes: search has read
-- the side table's tokens since sql/0035, no other query reads the index,
-- and every insert and import still paid for its upkeep.

CREATE OR REPLACE FUNCTION customer_search_key_rows(p_name text, p_tokens text[], p_text text)
RETURNS TABLE (token text, rank smallint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_name, 0::smallint WHERE p_name <> '' AND octet_length(p_name) <= 1024
    UNION
    SELECT t, 1::smallint FROM unnest(p_tokens) AS t
    UNION
    SELECT substr(m[1], i, CASE WHEN i = length(m[1]) - 2 THEN 3 ELSE 4 END), 2::smallint
      FROM regexp_matches(p_text, '[0-9]{3,}', 'g') AS m,
           generate_series(1, length(m[1]) - 2) AS i
$$;

-- As in sql/0035, but for three digits the rank 2 part reads eleven
-- ranges: the digits themselves and the digits followed by each digit. Each
-- range is read in its order, its customers probed for the scope, up to the
-- page's size (a customer among the page's first is among the first of
-- every range it is in), then the at most eleven pages are merged, a
-- customer found in several (1380 and 1388 for 138) kept once. (Merging the
-- ranges before the probe let the planner sort every match of all eleven
-- at a million customers: 85 ms.)
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
            (SELECT DISTINCT d.id, d.sort_key FROM (
                (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = p_digits AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '0' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '1' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '2' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '3' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '4' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '5' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '6' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '7' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '8' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
                UNION ALL (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
                   CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                     AND c.merged_into IS NULL AND c.status <> 'archived'
                     AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
                 WHERE (SELECT yes FROM room) AND k.token = three || '9' AND k.rank = 2
                   AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
                 ORDER BY k.sort_key, k.customer_id LIMIT p_limit)) d
              ORDER BY d.sort_key, d.id LIMIT p_limit)
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

-- The rows again, from the customers, then the indexes built whole (as in
-- sql/0035; the memory makes the sorts fewer passes).
DROP INDEX IF EXISTS customer_search_tokens;
SET LOCAL maintenance_work_mem = '512MB';
ALTER TABLE customer_search_key DROP CONSTRAINT customer_search_key_pkey;
DROP INDEX customer_search_key_customer;
TRUNCATE customer_search_key;
INSERT INTO customer_search_key (token, rank, sort_key, customer_id)
SELECT k.token, k.rank, c.sort_key, c.id
  FROM customer c, customer_search_key_rows(c.name, c.search_tokens, c.search_text) AS k;
ALTER TABLE customer_search_key ADD PRIMARY KEY (token, rank, sort_key, customer_id);
CREATE INDEX customer_search_key_customer ON customer_search_key (customer_id);
ANALYZE customer_search_key;
