-- Kehu schema 36: ID numbers read without opening them; imports logged as a set.
--
-- id_number_masked: the form a reader without the 'unmask' permission sees
-- (the first 6 and last 4 characters, the rest starred: mask_id_number in
-- server/mask.c), kept beside the sealed number. kehud opens a sealed number
-- only for a caller who may see it whole, and then itself (server/
-- id_number.c: the same AES and key as id_open, without a PL/pgSQL call and
-- its error handler per row). The masked form is no secret: every reader of
-- the customer sees it.

CREATE FUNCTION id_mask(plain text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN plain IS NULL OR plain = '' OR plain = id_unavailable() THEN NULL
                WHEN length(plain) >= 14 THEN left(plain, 6) || repeat('*', length(plain) - 10) || right(plain, 4)
                WHEN length(plain) > 1 THEN repeat('*', length(plain) - 1) || right(plain, 1)
                ELSE '*' END
$$;

ALTER TABLE customer ADD COLUMN id_number_masked text;

-- Every write of a number keeps its masked form: a number in the clear is
-- masked here before it is sealed; one that comes sealed (an import sealed
-- it in kehud and brings its hash and masked form along; a merge copies a
-- stored number) keeps the masked form it brings, or gets it from the
-- number itself. A number that does not open leaves it NULL: kehud then
-- opens the number to mask it.
CREATE OR REPLACE FUNCTION customer_seal_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id_number IS NULL OR NEW.id_number = '' THEN
        NEW.id_number := NULL;
        NEW.id_number_hash := NULL;
        NEW.id_number_masked := NULL;
    ELSIF NEW.id_number NOT LIKE 'enc1:%' THEN
        NEW.id_number_hash := id_hash(NEW.id_number);
        NEW.id_number_masked := id_mask(NEW.id_number);
        IF TG_OP = 'UPDATE' AND NEW.id_number_hash IS NOT DISTINCT FROM OLD.id_number_hash THEN
            NEW.id_number := OLD.id_number; /* the same number: no new ciphertext, no change logged */
        ELSE
            NEW.id_number := id_seal(NEW.id_number);
        END IF;
    ELSIF NEW.id_number_masked IS NULL
          OR (TG_OP = 'UPDATE' AND NEW.id_number IS DISTINCT FROM OLD.id_number
              AND NEW.id_number_masked IS NOT DISTINCT FROM OLD.id_number_masked) THEN
        NEW.id_number_masked := id_mask(id_open(NEW.id_number));
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION change_log_skip(field text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT field IN ('version', 'updated_at', 'updated_by', 'created_at', 'created_by', 'sort_key', 'search_text',
                     'search_tokens', 'name_key', 'company_key', 'revenue', 'balance', 'last_contact_at',
                     'id_number_hash', 'id_number_masked')
$$;

-- A bulk change (kehu.bulk) is logged and announced by whoever makes it, as
-- a set: the trigger is not even queued for its rows. Updates under it
-- were skipped already; inserts are too now (the only bulk insert is an
-- import of customers, which writes their 'created' rows and announcements
-- in one statement each: server/rpc_import.c). Updates keep sql/0034's
-- condition too: moving the list grades alone is no edit.
DROP TRIGGER customer_changed ON customer;
DROP TRIGGER customer_changed_update ON customer;
CREATE TRIGGER customer_changed AFTER INSERT ON customer
    FOR EACH ROW WHEN (current_setting('kehu.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION customer_changed();
CREATE TRIGGER customer_changed_update AFTER UPDATE ON customer FOR EACH ROW
    WHEN (current_setting('kehu.bulk', true) IS DISTINCT FROM 'on'
          AND OLD.grade_abc IS NOT DISTINCT FROM NEW.grade_abc AND OLD.grade_lifecycle IS NOT DISTINCT FROM NEW.grade_lifecycle
          AND OLD.grade_until IS NOT DISTINCT FROM NEW.grade_until)
    EXECUTE FUNCTION customer_changed();

-- The numbers stored already, when this session has the key (kehud migrate
-- has it; without it they stay NULL and kehud masks them as it reads them).
-- A bulk change: no version, no history, no announcement.
DO $$
BEGIN
    IF current_setting('kehu.id_key', true) ~ '^[0-9a-fA-F]{64}$' THEN
        PERFORM set_config('kehu.bulk', 'on', true);
        UPDATE customer SET id_number_masked = id_mask(id_open(id_number)) WHERE id_number IS NOT NULL;
        PERFORM set_config('kehu.bulk', '', true);
    END IF;
END
$$;
