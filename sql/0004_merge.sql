-- Kehu schema 4: merging two customers (CustomerMerge).

-- Locks both customers and checks that nobody changed them since they were
-- read; raises serialization_failure (40001) otherwise, which rolls the
-- whole merge back.
CREATE FUNCTION customer_lock_versions(keep bigint, keep_version bigint, other bigint, other_version bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    SELECT count(*) INTO n FROM (
        SELECT 1 FROM customer
         WHERE (id = keep AND version = keep_version OR id = other AND version = other_version)
           AND merged_into IS NULL
         ORDER BY id FOR UPDATE) locked;
    IF n <> 2 THEN
        RAISE EXCEPTION 'customer % or % changed while merging', keep, other USING ERRCODE = 'serialization_failure';
    END IF;
END
$$;

-- Moves everything a customer owns — contacts, transactions, follow-ups,
-- documents and its history — to another.
CREATE FUNCTION customer_move_rows(keep bigint, other bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    branch bigint;
BEGIN
    SELECT branch_id INTO branch FROM customer WHERE id = keep;
    UPDATE contact SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE txn SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE followup SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE document SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE change_log SET customer_id = keep WHERE customer_id = other;
END
$$;
