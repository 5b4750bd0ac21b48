-- Kehu schema 39: a new customer's search keys written per statement.
--
-- sql/0035 wrote the side table's rows of an inserted customer from a row
-- trigger: a PL/pgSQL call and an INSERT ... SELECT per customer, so an
-- import of 20,000 customers ran 20,000 small statements, each putting its
-- ~50 keys at ~50 scattered places of the (token, rank, sort_key,
-- customer_id) index. Now a statement trigger reads the statement's new
-- rows (a transition table) and writes all their keys in one INSERT, sorted
-- in the index's order, so the index is walked once from left to right.
-- The keys are the same: the same customer_search_key_rows of the same
-- stored columns (after the BEFORE triggers), whoever inserts (one add, an
-- import, a merge, kehu-seed with triggers on). Deletes and updates keep
-- sql/0035's row triggers.

CREATE FUNCTION customer_search_key_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_search_key (token, rank, sort_key, customer_id)
    SELECT k.token, k.rank, a.sort_key, a.id
      FROM added a, customer_search_key_rows(a.name, a.search_tokens, a.search_text) AS k
     ORDER BY k.token COLLATE "C", k.rank, a.sort_key COLLATE "C", a.id;
    RETURN NULL;
END $$;

DROP TRIGGER customer_search_key_added ON customer;
CREATE TRIGGER customer_search_key_added AFTER INSERT ON customer
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION customer_search_key_insert();
CREATE TRIGGER customer_search_key_removed AFTER DELETE ON customer
    FOR EACH ROW EXECUTE FUNCTION customer_search_key_sync();
