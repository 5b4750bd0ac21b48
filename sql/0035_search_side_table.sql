-- Kehu schema 35: the search side table.
--
-- customer search used the GIN indexes on search_tokens and search_text
-- alone. A GIN index hands back every match of a key before the first page
-- can be chosen (王: 57,000 customers at a million), so a broad term cost in
-- proportion to its matches. This table holds, for every customer, one row
-- per thing a search looks up by equality, beside the customer's pinyin sort
-- key: a B-tree range on (token, rank) is already in the order of the
-- results, and the first page is read with LIMIT whatever the number of
-- matches (server/rpc_customer.c, customer_search).
--
--   rank 0  the name as stored: a search for exactly a customer's name shows
--           them first
--   rank 1  each of search_tokens: one or two Han characters, initials, whole
--           syllables and joined pinyin, Latin words
--   rank 2  every run of three or four digits inside a run of digits of
--           search_text (phones, the e-mail's digits, the external
--           reference): a phone fragment "1380" is found without the
--           trigram index
--
-- Longer substrings (three or more letters or Han characters that are not a
-- whole token, five or more digits) still go through the trigram index.
--
-- The rows are derived from the customer's columns by the trigger below, so
-- every writer (add, edit, import, merge, the sealing of ID numbers, a
-- restore) keeps them; kehu-seed, which loads with triggers off, fills them
-- with customer_search_key_fill. There is no foreign key: the trigger
-- removes a deleted customer's rows, and a check per inserted row would
-- double the cost of a load. Merged and archived customers keep their rows
-- (unarchiving needs no work); the search joins the customer and leaves them
-- out with the scope.
CREATE TABLE customer_search_key (
    token       text COLLATE "C" NOT NULL,
    rank        smallint NOT NULL,
    sort_key    text COLLATE "C" NOT NULL,
    customer_id bigint NOT NULL
);

-- A customer's rows (without the sort key and id). The name is left out when
-- too long for a B-tree item (names are at most 200 characters: never).
CREATE FUNCTION customer_search_key_rows(p_name text, p_tokens text[], p_text text)
RETURNS TABLE (token text, rank smallint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_name, 0::smallint WHERE p_name <> '' AND octet_length(p_name) <= 1024
    UNION
    SELECT t, 1::smallint FROM unnest(p_tokens) AS t
    UNION
    SELECT substr(m[1], i, n), 2::smallint
      FROM regexp_matches(p_text, '[0-9]{3,}', 'g') AS m,
           generate_series(3, 4) AS n,
           generate_series(1, length(m[1]) - n + 1) AS i
$$;

CREATE FUNCTION customer_search_key_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM customer_search_key WHERE customer_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO customer_search_key (token, rank, sort_key, customer_id)
        SELECT k.token, k.rank, NEW.sort_key, NEW.id
          FROM customer_search_key_rows(NEW.name, NEW.search_tokens, NEW.search_text) AS k;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER customer_search_key_added AFTER INSERT OR DELETE ON customer
    FOR EACH ROW EXECUTE FUNCTION customer_search_key_sync();
CREATE TRIGGER customer_search_key_changed AFTER UPDATE OF name, sort_key, search_tokens, search_text ON customer
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.sort_key IS DISTINCT FROM NEW.sort_key
          OR OLD.search_tokens IS DISTINCT FROM NEW.search_tokens OR OLD.search_text IS DISTINCT FROM NEW.search_text)
    EXECUTE FUNCTION customer_search_key_sync();

-- The rows of the customers first_id..last_id that have none, in one
-- set-based statement (sorted: the index is filled in its own order). For
-- loads that ran with triggers off; 0 customers again does nothing.
CREATE FUNCTION customer_search_key_fill(first_id bigint, last_id bigint) RETURNS bigint
LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO customer_search_key (token, rank, sort_key, customer_id)
        SELECT k.token, k.rank, c.sort_key, c.id
          FROM customer c, customer_search_key_rows(c.name, c.search_tokens, c.search_text) AS k
         WHERE c.id BETWEEN first_id AND last_id
           AND NOT EXISTS (SELECT 1 FROM customer_search_key x WHERE x.customer_id = c.id)
         ORDER BY 1, 2, 3, 4
        RETURNING 1)
    SELECT count(*) FROM ins
$$;

-- One page of customer search: (id, rank, sort_key) in the order shown, at
-- most p_limit rows. Ranks 0 and 1 and the digit part of rank 2 are ranges
-- of the side table, already in pinyin order, read with LIMIT; each key's
-- customer is looked up by id (LATERAL ... OFFSET 0: one primary-key probe a
-- key, never a join the planner may turn around) for the scope and for
-- leaving merged and archived customers out. Rank 2 runs only when ranks 0
-- and 1 leave room; its LIKE branch (other substrings, through the trigram
-- index) orders the first 1,000 matches the index gives. A NULL argument
-- matches nothing. p_kind and p_scope are the caller's scope as
-- rpc_scope_params gives it: 0 all, 1 a unit's subtree, 2 an owner, 3
-- nothing, 4 the owners in a unit's subtree.
--
-- PL/pgSQL and the settings: kehud's prepared statements get generic plans,
-- whose cost estimates for a LIMIT over an unknown token passed JIT's
-- threshold (0.45 s compiling for a 1 ms query); and no estimate should
-- turn a range into a sequential scan.
CREATE FUNCTION customer_search_page(p_kind integer, p_scope bigint, p_like text, p_token text, p_typed text,
                                     p_limit integer, p_digits text)
RETURNS TABLE (id bigint, rank integer, sort_key text)
LANGUAGE plpgsql STABLE ROWS 20 SET jit = off SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    every boolean := p_kind = 0;
    units bigint[];
    owners bigint[];
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
            (SELECT k.customer_id AS id, k.sort_key FROM customer_search_key k
               CROSS JOIN LATERAL (SELECT FROM customer c WHERE c.id = k.customer_id
                                      AND c.merged_into IS NULL AND c.status <> 'archived'
                                      AND (every OR c.branch_id = ANY (units) OR c.owner_id = ANY (owners)) OFFSET 0) v
              WHERE (SELECT yes FROM room) AND k.token = p_digits AND k.rank = 2
                AND k.customer_id NOT IN (SELECT id FROM r0) AND k.customer_id NOT IN (SELECT id FROM r1)
              ORDER BY k.sort_key, k.customer_id LIMIT p_limit)
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

-- The rows of the customers there are, then the indexes: built from the
-- whole table at once rather than grown row by row.
INSERT INTO customer_search_key (token, rank, sort_key, customer_id)
SELECT k.token, k.rank, c.sort_key, c.id
  FROM customer c, customer_search_key_rows(c.name, c.search_tokens, c.search_text) AS k;
ALTER TABLE customer_search_key ADD PRIMARY KEY (token, rank, sort_key, customer_id);
CREATE INDEX customer_search_key_customer ON customer_search_key (customer_id);
ANALYZE customer_search_key;
