-- Kehu schema 44: the search side table without its index by customer.
--
-- customer_search_key had a second index, on customer_id, read only to find
-- a customer's rows when the customer is edited or deleted. An import of
-- 20,000 customers wrote ~760,000 entries into it beside the ~760,000 of the
-- primary key: about a third of the side table's cost of an import, and
-- 0.27 GB at a million customers.
--
-- A customer's rows are exactly customer_search_key_rows of its stored
-- name, search_tokens and search_text, with its sort_key and id: every
-- writer derives them so (the triggers, customer_search_key_fill,
-- migrations that rebuild the table). So the old rows of an edited or
-- deleted customer are found from the OLD columns, one primary-key probe a
-- row, and the index by customer goes. A change of customer_search_key_rows
-- must therefore rebuild the table from the customers (as sql/0040 does), or
-- the rows written by the old function would be left behind.

CREATE OR REPLACE FUNCTION customer_search_key_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM customer_search_key x
         USING customer_search_key_rows(OLD.name, OLD.search_tokens, OLD.search_text) AS k
         WHERE x.token = k.token AND x.rank = k.rank AND x.sort_key = OLD.sort_key AND x.customer_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO customer_search_key (token, rank, sort_key, customer_id)
        SELECT k.token, k.rank, NEW.sort_key, NEW.id
          FROM customer_search_key_rows(NEW.name, NEW.search_tokens, NEW.search_text) AS k;
    END IF;
    RETURN NULL;
END $$;

-- As in sql/0035, but a customer that already has its rows is recognised by
-- the primary key (its rows conflict) rather than by a look-up by customer.
CREATE OR REPLACE FUNCTION customer_search_key_fill(first_id bigint, last_id bigint) RETURNS bigint
LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO customer_search_key (token, rank, sort_key, customer_id)
        SELECT k.token, k.rank, c.sort_key, c.id
          FROM customer c, customer_search_key_rows(c.name, c.search_tokens, c.search_text) AS k
         WHERE c.id BETWEEN first_id AND last_id
         ORDER BY 1, 2, 3, 4
        ON CONFLICT DO NOTHING
        RETURNING 1)
    SELECT count(*) FROM ins
$$;

DROP INDEX customer_search_key_customer;
