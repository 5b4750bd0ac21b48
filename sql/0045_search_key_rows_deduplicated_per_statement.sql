-- Kehu schema 45: an insert's search keys de-duplicated once per statement.
--
-- customer_search_key_rows removes a customer's repeated (token, rank)
-- rows with UNION. Inlined into the statement trigger's INSERT (sql/0039)
-- that is one hash aggregate per inserted customer, each sized by the
-- planner's guess for the digit part (10 matches × 1,000 positions, a
-- 409 kB table): for 20,000 customers 1.0–1.3 s of backend CPU, against
-- 0.3 s for the same rows without it. The insert sorts its rows in the
-- index's order anyway, so there the repeats are removed by that sort
-- (a Unique step after it), once for the statement.
--
-- customer_search_key_rows_all is the rows with their repeats (a digit run
-- found twice in search_text, a token given twice); customer_search_key_rows
-- is the same rows once each, as before: the same set, from the same single
-- definition, for the other writers (edits, deletes, the fill, rebuilds).

CREATE FUNCTION customer_search_key_rows_all(p_name text, p_tokens text[], p_text text)
RETURNS TABLE (token text, rank smallint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_name, 0::smallint WHERE p_name <> '' AND octet_length(p_name) <= 1024
    UNION ALL
    SELECT t, 1::smallint FROM unnest(p_tokens) AS t
    UNION ALL
    SELECT substr(m[1], i, CASE WHEN i = length(m[1]) - 2 THEN 3 ELSE 4 END), 2::smallint
      FROM regexp_matches(p_text, '[0-9]{3,}', 'g') AS m,
           generate_series(1, length(m[1]) - 2) AS i
$$;

CREATE OR REPLACE FUNCTION customer_search_key_rows(p_name text, p_tokens text[], p_text text)
RETURNS TABLE (token text, rank smallint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT DISTINCT k.token, k.rank FROM customer_search_key_rows_all(p_name, p_tokens, p_text) AS k
$$;

-- The statement's keys sorted in the index's order, repeats dropped after
-- the sort (hash aggregation off: over ~38 rows a customer it would spill,
-- and the sort is needed for the order anyway).
CREATE OR REPLACE FUNCTION customer_search_key_insert() RETURNS trigger LANGUAGE plpgsql
SET enable_hashagg = off AS $$
BEGIN
    INSERT INTO customer_search_key (token, rank, sort_key, customer_id)
    SELECT DISTINCT k.token COLLATE "C", k.rank, a.sort_key COLLATE "C", a.id
      FROM added a, customer_search_key_rows_all(a.name, a.search_tokens, a.search_text) AS k
     ORDER BY 1, 2, 3, 4;
    RETURN NULL;
END $$;
