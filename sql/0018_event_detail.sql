-- Announcements that people can read: `kehu watch` shows the customer's
-- name, who acted and which fields changed, and one summary line for a bulk
-- job (an import) instead of one line per row.
--
-- The payload keeps its form, "kind customer branch version owner actor
-- {path} {owner_path} [detail]", and gains a tail after a record separator
-- (E'\x1e'), its parts separated by unit separators (E'\x1f'):
--   job           the transaction id of a bulk job (kehu.job set), else ""
--   actor_name    the acting user's username ("" for kehud itself)
--   customer_name the customer's name
--   fields        the fields that changed, comma-separated (updates only)
-- kehud checks, for each receiver, that they may read the customer before
-- anything of this reaches them (server/notify.c).

-- Text safe inside the tail: no separators, at most 200 characters.
CREATE FUNCTION kehu_announce_part(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT left(translate(coalesce(t, ''), E'\x1e\x1f', '  '), 200)
$$;

-- The tail of an announcement of a change to customer p_cust at p_version.
-- The changed fields are the ones this transaction logged at that version.
-- PL/pgSQL, so that its queries are planned once per session, not per row of
-- an import.
CREATE FUNCTION kehu_announce_tail(p_kind text, p_cust bigint, p_name text, p_version bigint, p_actor bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    job    text := '';
    who    text;
    fields text;
BEGIN
    IF coalesce(current_setting('kehu.job', true), '') NOT IN ('', 'off') THEN
        job := txid_current()::text;
    END IF;
    SELECT u.username INTO who FROM app_user u WHERE u.id = p_actor;
    IF p_kind NOT LIKE '%.created' AND p_kind ~ '^(customer|contact)\.' THEN
        SELECT left(string_agg(DISTINCT l.field, ',' ORDER BY l.field), 1000) INTO fields
          FROM change_log l
         WHERE l.customer_id = p_cust AND l.version = p_version AND l.changed_at = now() AND l.field <> 'created';
    END IF;
    RETURN E'\x1e' || job || E'\x1f' || kehu_announce_part(who) || E'\x1f' || kehu_announce_part(p_name)
        || E'\x1f' || coalesce(fields, '');
END
$$;

CREATE OR REPLACE FUNCTION kehu_announce(kind text, cust customer, actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    path bigint[];
    owner_path bigint[];
BEGIN
    IF current_setting('kehu.bulk', true) = 'on' THEN
        RETURN;
    END IF;
    SELECT o.path INTO path FROM org_unit o WHERE o.id = cust.branch_id;
    SELECT o.path INTO owner_path FROM app_user u JOIN org_unit o ON o.id = u.unit_id WHERE u.id = cust.owner_id;
    PERFORM pg_notify('kehu', concat_ws(' ', kind, cust.id, cust.branch_id, cust.version,
                                        coalesce(cust.owner_id, 0), coalesce(actor, 0), path::text,
                                        coalesce(owner_path, '{}')::text)
                              || kehu_announce_tail(kind, cust.id, cust.name, cust.version, actor));
END
$$;

-- PL/pgSQL now (planned once per session): a grading run or a batch of
-- reassignments announces customer by customer.
CREATE OR REPLACE FUNCTION kehu_announce_detail(kind text, customer_id bigint, branch_id bigint, version bigint,
                                                owner_id bigint, actor bigint, detail text) RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    path       text;
    owner_path text;
    cust_name  text;
BEGIN
    SELECT o.path::text INTO path FROM org_unit o WHERE o.id = $3;
    SELECT o.path::text INTO owner_path FROM app_user u JOIN org_unit o ON o.id = u.unit_id WHERE u.id = $5;
    SELECT c.name INTO cust_name FROM customer c WHERE c.id = $2;
    PERFORM pg_notify('kehu', concat_ws(' ', $1, $2, $3, $4, coalesce($5, 0), coalesce($6, 0), path,
                                        coalesce(owner_path, '{}'), $7)
                              || kehu_announce_tail($1, $2, cust_name, $4, $6));
END
$$;

-- The end of a bulk job (its connection SET kehu.job = 'on'): its
-- announcements were marked with this transaction's id, and kehud sends each
-- receiver one summary event (kind, e.g. 'import.done') of what they may see
-- instead of one event per row: "job.done JOB KIND ACTOR" E'\x1e' actor_name.
CREATE FUNCTION kehu_job_done(kind text, actor bigint) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('kehu', concat_ws(' ', 'job.done', txid_current(), $1, coalesce($2, 0))
                             || E'\x1e' || kehu_announce_part((SELECT u.username FROM app_user u WHERE u.id = $2)))
$$;
