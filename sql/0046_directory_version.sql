-- Kehu schema 46: a version of the directory (users' names and units, the
-- units' names and paths), so that kehud can keep it in memory.
--
-- A customer read joined four rows of other tables for the names and
-- paths it shows and authorizes by (the branch, the owner and the owner's
-- unit, who created and who last changed it): setting up those joins was
-- about half of PostgreSQL's work for a get by id. kehud now keeps those
-- tables' few columns in memory, and a read returns this version beside
-- the row: kehud uses its copy only when the copy is at least that new
-- (server/directory.c), else the joined statement. Every statement that
-- changes what the copy holds moves the version, in its own transaction.
CREATE TABLE directory_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    v   bigint NOT NULL
);
INSERT INTO directory_version (v) VALUES (1);

CREATE FUNCTION directory_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_version SET v = v + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER directory_moved AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON org_unit
    FOR EACH STATEMENT EXECUTE FUNCTION directory_moved();
CREATE TRIGGER directory_moved AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF username, unit_id ON app_user
    FOR EACH STATEMENT EXECUTE FUNCTION directory_moved();
