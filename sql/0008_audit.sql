-- The audit trail (docs/audit.md) and the database role split it needs.
--
-- Migrations run as the owner (`db_owner`, a superuser or the owner of the
-- schema); kehud serves as kehu_app, which may read and write the business
-- tables but only SELECT and INSERT audit_log. Every row of audit_log
-- carries a SHA-256 over its fields and the previous row's hash, and a
-- gapless seq, so a row edited or removed behind kehud's back is found by
-- audit_verify().

-- ---- the role kehud serves as ----------------------------------------------
-- Roles are per cluster: another database of the same cluster may have made it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kehu_app') THEN
        CREATE ROLE kehu_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO kehu_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kehu_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO kehu_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO kehu_app;
-- tables, sequences and functions of later migrations (made by the same owner) get the same
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO kehu_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO kehu_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO kehu_app;

-- ---- audit_log ----------------------------------------------------------------
-- One row per audited request. action is the RPC's name as kehud's dispatch
-- table spells it (customer_get, customer_edit, login, ...); result is 'ok'
-- or the status code's name (UNAUTHENTICATED for a failed login). user_id 0:
-- nobody was logged in (then username is the name a failed login tried).
CREATE TABLE audit_log (
    seq           bigint PRIMARY KEY,           -- 1, 2, 3 ...: previous + 1, under the append lock
    at            timestamptz NOT NULL,
    user_id       bigint NOT NULL,
    username      text NOT NULL,
    peer          text NOT NULL,                -- the client's address, host:port
    action        text NOT NULL,
    customer_ids  bigint[] NOT NULL DEFAULT '{}',
    detail        text NOT NULL DEFAULT '',
    result        text NOT NULL,
    prev_hash     bytea NOT NULL,
    hash          bytea NOT NULL
);
CREATE INDEX audit_log_user ON audit_log (username, seq);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_customers ON audit_log USING gin (customer_ids);

REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM kehu_app;
GRANT SELECT, INSERT ON audit_log TO kehu_app;

-- Belt and braces: even the owner must disable this trigger first.
CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();

-- The hash of a row: SHA-256 of the previous row's hash followed by every
-- other field in a canonical text form (numbers in decimal, the time in
-- microseconds since the epoch, each text field prefixed with its length in
-- bytes so that no two rows encode alike). The first row's previous hash is
-- empty.
CREATE FUNCTION audit_hash(prev bytea, seq bigint, at timestamptz, user_id bigint, username text, peer text,
                           action text, customer_ids bigint[], detail text, result text)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(prev || convert_to(concat_ws('|',
        seq::text,
        (extract(epoch FROM at) * 1000000)::bigint::text,
        user_id::text,
        octet_length(username) || ':' || username,
        octet_length(peer) || ':' || peer,
        octet_length(action) || ':' || action,
        coalesce(array_to_string(customer_ids, ','), ''),
        octet_length(detail) || ':' || detail,
        octet_length(result) || ':' || result), 'UTF8'))
$$;

-- Appends rows, one per array element (all arrays of one length). Times are
-- Unix microseconds; customers[i] is an array literal ('{1,2}'). Takes a
-- transaction-scoped lock so the chain stays linear: the lock is held to the
-- end of the caller's transaction, so call it last. The hashes are chained
-- one by one, the rows inserted in one statement (a batch of reads costs one
-- executor pass, not one per row). Returns the last seq.
CREATE FUNCTION audit_append(ats bigint[], user_ids bigint[], usernames text[], peers text[], actions text[],
                             customers text[], details text[], results text[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n         integer := coalesce(array_length(actions, 1), 0);
    last_seq  bigint;
    last_hash bytea;
    seqs      bigint[] := '{}';
    times     timestamptz[] := '{}';
    prevs     bytea[] := '{}';
    hashes    bytea[] := '{}';
    t         timestamptz;
BEGIN
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('kehu.audit_log'));
    SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        last_seq := 0;
        last_hash := '\x'::bytea;
    END IF;
    -- the chain is sequential: hashes one by one, then one INSERT for all rows
    FOR i IN 1 .. n LOOP
        last_seq := last_seq + 1;
        t := 'epoch'::timestamptz + ats[i] * interval '1 microsecond';
        seqs[i] := last_seq;
        times[i] := t;
        prevs[i] := last_hash;
        last_hash := audit_hash(last_hash, last_seq, t, coalesce(user_ids[i], 0), coalesce(usernames[i], ''),
                                coalesce(peers[i], ''), actions[i], coalesce(customers[i], '{}')::bigint[],
                                coalesce(details[i], ''), coalesce(results[i], ''));
        hashes[i] := last_hash;
    END LOOP;
    INSERT INTO audit_log (seq, at, user_id, username, peer, action, customer_ids, detail, result, prev_hash, hash)
    SELECT u.seq, u.t, coalesce(u.uid, 0), coalesce(u.uname, ''), coalesce(u.peer, ''), u.action,
           coalesce(u.cust, '{}')::bigint[], coalesce(u.detail, ''), coalesce(u.result, ''), u.prev, u.hash
      FROM unnest(seqs, times, user_ids, usernames, peers, actions, customers, details, results, prevs, hashes)
           u(seq, t, uid, uname, peer, action, cust, detail, result, prev, hash);
    RETURN last_seq;
END
$$;

-- The record of a change, added as the last statement of the change's own
-- transaction: written only when that transaction wrote something (an
-- update that matched no row, a version conflict, writes nothing and gets no
-- 'ok' row; kehud then records the refusal as it records reads). NULL when
-- nothing was written. new_customer: the transaction added a customer, whose
-- id (the sequence's value in this session) joins customers.
CREATE FUNCTION audit_change(at bigint, user_id bigint, username text, peer text, action text, customers bigint[],
                             detail text, new_customer boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    IF pg_current_xact_id_if_assigned() IS NULL THEN
        RETURN NULL;
    END IF;
    customers := coalesce(customers, '{}');
    IF new_customer THEN
        BEGIN
            customers := customers || currval(pg_get_serial_sequence('customer', 'id'));
        EXCEPTION WHEN object_not_in_prerequisite_state THEN
            NULL; -- no customer was added in this session after all
        END;
    END IF;
    RETURN audit_append(ARRAY[at], ARRAY[user_id], ARRAY[username], ARRAY[peer], ARRAY[action],
                        ARRAY[customers::text], ARRAY[detail], ARRAY['ok']);
END
$$;

-- Walks the chain from the first row: every seq present (1, 2, ...), every
-- row's prev_hash the hash of the row before, every hash recomputed equal.
-- The first fault found: bad_seq and reason 'edited' (a row's fields no
-- longer match its hash), 'missing' (bad_seq was removed), 'chain broken'
-- (a row's hash is its own but it does not follow the row before: a row
-- replaced or re-hashed). The newest rows removed together leave no gap:
-- compare last_seq and last_hash with a head noted earlier (docs/audit.md).
CREATE FUNCTION audit_verify(OUT ok boolean, OUT rows_checked bigint, OUT bad_seq bigint, OUT reason text,
                             OUT last_seq bigint, OUT last_hash bytea)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r         record;
    want_seq  bigint := 1;
    prev      bytea := '\x'::bytea;
BEGIN
    ok := true;
    rows_checked := 0;
    bad_seq := 0;
    reason := '';
    last_seq := 0;
    last_hash := '\x'::bytea;
    FOR r IN SELECT * FROM audit_log ORDER BY seq LOOP
        IF r.seq <> want_seq THEN
            ok := false; bad_seq := want_seq; reason := 'missing';
            RETURN;
        END IF;
        IF r.hash IS DISTINCT FROM audit_hash(r.prev_hash, r.seq, r.at, r.user_id, r.username, r.peer, r.action,
                                              r.customer_ids, r.detail, r.result) THEN
            ok := false; bad_seq := r.seq; reason := 'edited';
            RETURN;
        END IF;
        IF r.prev_hash IS DISTINCT FROM prev THEN
            ok := false; bad_seq := r.seq; reason := 'chain broken';
            RETURN;
        END IF;
        rows_checked := rows_checked + 1;
        prev := r.hash;
        want_seq := r.seq + 1;
        last_seq := r.seq;
        last_hash := r.hash;
    END LOOP;
END
$$;
