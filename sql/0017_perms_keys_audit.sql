-- Kehu schema 17: logging a contact as an action of the permission matrix,
-- the matrix's changes audited cell by cell, a check that kehud's ID number
-- key is the one the base was sealed with (and a way to serve a base without
-- it), and verified checkpoints of the audit trail.

-- ---------------------------------------------------------------- log_contact

-- Logging a contact (a call taken, a visit made) and planning the next one
-- is an action of its own: a service agent who answers the branch's phone
-- may log calls on every customer of the branch without being allowed to
-- edit them.
CREATE OR REPLACE FUNCTION perm_actions() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['read', 'edit', 'reassign', 'override_grade', 'export', 'unmask', 'delete', 'log_contact', 'admin']
$$;

INSERT INTO role_permission (role, action, scope)
VALUES ('admin', 'log_contact', 'all'), ('branch_manager', 'log_contact', 'branch'),
       ('account_manager', 'log_contact', 'own'), ('service_agent', 'log_contact', 'branch'),
       ('auditor', 'log_contact', 'none')
ON CONFLICT (role, action) DO NOTHING;
UPDATE role_permission_version SET version = version + 1;

-- The record of a change may carry what the change's own SQL says about it:
-- a function that knows the old values sets kehu.audit_detail for its
-- transaction (set_config(..., true)), and audit_change adds it to the
-- record's detail.
CREATE OR REPLACE FUNCTION audit_change(at bigint, user_id bigint, username text, peer text, action text,
                                        customers bigint[], detail text, new_customer boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    own text := nullif(current_setting('kehu.audit_detail', true), '');
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
    IF own IS NOT NULL THEN
        detail := concat_ws('; ', nullif(detail, ''), own);
    END IF;
    RETURN audit_append(ARRAY[at], ARRAY[user_id], ARRAY[username], ARRAY[peer], ARRAY[action],
                        ARRAY[customers::text], ARRAY[detail], ARRAY['ok']);
END
$$;

-- As in 0007, with Kehu's own refusal codes (the request field named), and
-- every cell given recorded for the audit trail as "role action: old -> new"
-- ("old (unchanged)" when it already was so).
CREATE OR REPLACE FUNCTION role_permission_set(roles text[], actions text[], scopes text[], actor bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    bad record;
    old perm_scope;
    cells text[] := '{}';
BEGIN
    IF cardinality(roles) IS DISTINCT FROM cardinality(actions) OR cardinality(roles) IS DISTINCT FROM cardinality(scopes) THEN
        RAISE EXCEPTION 'roles, actions and scopes must be as many' USING ERRCODE = 'KH400', COLUMN = 'cells';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(roles), 0) LOOP
        IF NOT EXISTS (SELECT 1 FROM unnest(enum_range(NULL::user_role)) r WHERE r::text = roles[i]) THEN
            RAISE EXCEPTION 'no role "%": admin, branch_manager, account_manager, service_agent, auditor', roles[i]
                USING ERRCODE = 'KH400', COLUMN = 'role';
        END IF;
        IF NOT actions[i] = ANY (perm_actions()) THEN
            RAISE EXCEPTION 'no action "%": %', actions[i], array_to_string(perm_actions(), ', ')
                USING ERRCODE = 'KH400', COLUMN = 'action';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM unnest(enum_range(NULL::perm_scope)) s WHERE s::text = scopes[i]) THEN
            RAISE EXCEPTION 'no scope "%": none, own, team, branch, region, all', scopes[i]
                USING ERRCODE = 'KH400', COLUMN = 'scope';
        END IF;
        SELECT p.scope INTO old FROM role_permission p WHERE p.role = roles[i]::user_role AND p.action = actions[i]
           FOR UPDATE;
        cells := cells || format('%s %s: %s', roles[i], actions[i],
                                 CASE WHEN old::text = scopes[i] THEN old::text || ' (unchanged)'
                                      ELSE coalesce(old::text, 'none') || ' -> ' || scopes[i] END);
        UPDATE role_permission
           SET scope = scopes[i]::perm_scope, updated_at = now(), updated_by = actor
         WHERE role = roles[i]::user_role AND action = actions[i] AND scope <> scopes[i]::perm_scope;
        n := n + 1;
    END LOOP;
    IF EXISTS (SELECT 1 FROM role_permission WHERE role = 'admin' AND action IN ('admin', 'read') AND scope <> 'all') THEN
        RAISE EXCEPTION 'the admin role keeps read and admin over everything (someone must be able to repair the matrix)'
            USING ERRCODE = 'KH400', COLUMN = 'scope';
    END IF;
    SELECT p.role, p.action, p.scope, r.scope AS read_scope INTO bad
      FROM role_permission p JOIN role_permission r ON r.role = p.role AND r.action = 'read'
     WHERE p.action NOT IN ('read', 'admin') AND p.scope > r.scope
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% would % customers (%) beyond those it may read (%)', bad.role, bad.action, bad.scope, bad.read_scope
            USING ERRCODE = 'KH400', COLUMN = 'scope';
    END IF;
    UPDATE role_permission_version SET version = version + 1;
    PERFORM set_config('kehu.audit_detail', array_to_string(cells, '; '), true);
    PERFORM pg_notify('kehu', 'perm.changed');
    RETURN n;
END
$$;

-- ---------------------------------------------------------------- the ID number key

-- kehud's id_key never enters the database, but a value derived from it
-- does: an HMAC under the key of a fixed text, written at the first start
-- of a base (id_key_verify). A kehud started with another key finds a
-- different value and refuses to serve (a base restored with a wrong or a
-- lost key would otherwise answer every read of an ID number with an
-- error, and seal new numbers with a key that opens none of the old).
-- The value tells nothing about the key.
CREATE TABLE id_key_check (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    mac      text NOT NULL,
    made_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE UPDATE, DELETE, TRUNCATE ON id_key_check FROM kehu_app;
GRANT SELECT, INSERT ON id_key_check TO kehu_app;

-- Without its key (kehud's without_id_numbers), kehud gives its sessions
-- kehu.id_key = 'none': stored numbers read as '(unavailable)', new ones
-- are refused, a search by ID number finds nothing.
CREATE FUNCTION id_unavailable() RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '(unavailable)'::text
$$;

CREATE FUNCTION id_key_available() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('kehu.id_key', true), '') <> 'none'
$$;

CREATE OR REPLACE FUNCTION id_key(purpose text) RETURNS bytea LANGUAGE plpgsql STABLE AS $$
DECLARE
    k text := current_setting('kehu.id_key', true);
BEGIN
    IF k = 'none' THEN
        RAISE EXCEPTION 'ID numbers are unavailable: kehud serves this base without its ID number key, so no ID number can be stored'
            USING ERRCODE = 'KH412', COLUMN = 'id_number';
    END IF;
    IF k IS NULL OR k !~ '^[0-9a-fA-F]{64}$' THEN
        RAISE EXCEPTION 'kehu.id_key is not set: ID numbers are encrypted with the key in kehud''s configuration (id_key)'
            USING ERRCODE = '28000';
    END IF;
    RETURN hmac(convert_to(purpose, 'UTF8'), decode(k, 'hex'), 'sha256');
END
$$;

CREATE OR REPLACE FUNCTION id_hash(plain text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN plain IS NULL OR plain = '' OR NOT id_key_available() THEN NULL
                ELSE encode(hmac(convert_to(upper(plain), 'UTF8'), id_key('kehu id index'), 'sha256'), 'hex') END
$$;

-- Opens a sealed number; one that does not open (no key, or a number sealed
-- with another key) reads as '(unavailable)' rather than failing the whole
-- list or export it is part of. id_open stays a plain SQL expression (inlined
-- into the query: most rows hold no number); the sealed ones go through
-- id_open_sealed, whose error handler catches what does not decrypt.
CREATE FUNCTION id_open_sealed(sealed text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    k bytea;
    raw bytea;
BEGIN
    IF NOT id_key_available() THEN
        RETURN id_unavailable();
    END IF;
    k := id_key('kehu id seal'); -- no key at all is the caller's mistake: that still fails
    BEGIN
        raw := decode(substr(sealed, 6), 'hex');
        RETURN convert_from(decrypt_iv(substr(raw, 17), k, substr(raw, 1, 16), 'aes-cbc/pad:pkcs'), 'UTF8');
    EXCEPTION WHEN OTHERS THEN
        RETURN id_unavailable();
    END;
END
$$;

CREATE OR REPLACE FUNCTION id_open(sealed text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN sealed LIKE 'enc1:%' THEN id_open_sealed(sealed) ELSE sealed END
$$;

CREATE FUNCTION id_key_mac() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT encode(id_key('kehu id key check'), 'hex')
$$;

-- Whether the session's key is the base's: 'ok'; 'new' when the base had
-- no check value yet (made now: a new base, or one from before this
-- migration whose stored numbers the key opens); 'wrong' otherwise.
CREATE FUNCTION id_key_verify() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    stored text;
    r record;
BEGIN
    SELECT mac INTO stored FROM id_key_check;
    IF FOUND THEN
        RETURN CASE WHEN stored = id_key_mac() THEN 'ok' ELSE 'wrong' END;
    END IF;
    -- a base from before the check: the key must open what it sealed (the
    -- opened number must give the stored hash, which a wrong key cannot)
    FOR r IN SELECT id_number, id_number_hash FROM customer WHERE id_number LIKE 'enc1:%' LIMIT 20 LOOP
        IF id_hash(id_open(r.id_number)) IS DISTINCT FROM r.id_number_hash THEN
            RETURN 'wrong';
        END IF;
    END LOOP;
    INSERT INTO id_key_check (mac) VALUES (id_key_mac()) ON CONFLICT (one) DO NOTHING;
    RETURN 'new';
END
$$;

-- ---------------------------------------------------------------- audit checkpoints

-- A checkpoint is a row of the chain (seq, hash) that a verify found intact
-- from the first row or from the checkpoint before. `verify` walks from the
-- newest checkpoint only: its row must still be there with its hash, the
-- rows after it must follow it. Only the schema's owner writes checkpoints:
-- kehu_app may read them and call audit_verify_from, which writes one
-- only for what it has just verified itself (docs/audit.md).
CREATE TABLE audit_checkpoint (
    seq           bigint PRIMARY KEY,
    hash          bytea NOT NULL,
    rows_checked  bigint NOT NULL,     -- rows that verify walked to get here
    from_seq      bigint NOT NULL,     -- where that walk began (0: the first row)
    at            timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON audit_checkpoint FROM kehu_app;
GRANT SELECT ON audit_checkpoint TO kehu_app;

-- The walk of audit_verify (0008) from a known row: rows after from_seq,
-- the first of them following from_hash.
CREATE FUNCTION audit_walk(p_from_seq bigint, p_from_hash bytea, OUT ok boolean, OUT rows_checked bigint,
                           OUT bad_seq bigint, OUT reason text, OUT last_seq bigint, OUT last_hash bytea)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r         record;
    want_seq  bigint := p_from_seq + 1;
    prev      bytea := p_from_hash;
BEGIN
    ok := true;
    rows_checked := 0;
    bad_seq := 0;
    reason := '';
    last_seq := p_from_seq;
    last_hash := p_from_hash;
    FOR r IN SELECT * FROM audit_log WHERE seq > p_from_seq ORDER BY seq LOOP
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

-- Verifies from the newest checkpoint (full: from the first row) and, when
-- intact, records the head as the next checkpoint. from_seq: where the walk
-- began. Runs as the owner (SECURITY DEFINER) so that it may write the
-- checkpoint kehu_app cannot.
CREATE FUNCTION audit_verify_from(p_full boolean, OUT ok boolean, OUT rows_checked bigint, OUT bad_seq bigint,
                                  OUT reason text, OUT last_seq bigint, OUT last_hash bytea, OUT from_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cp audit_checkpoint;
    r  audit_log;
    w  record;
BEGIN
    from_seq := 0;
    IF NOT p_full THEN
        SELECT * INTO cp FROM audit_checkpoint ORDER BY seq DESC LIMIT 1;
        IF FOUND THEN
            from_seq := cp.seq;
            SELECT * INTO r FROM audit_log WHERE seq = cp.seq;
            IF NOT FOUND OR r.hash IS DISTINCT FROM cp.hash
               OR r.hash IS DISTINCT FROM audit_hash(r.prev_hash, r.seq, r.at, r.user_id, r.username, r.peer, r.action,
                                                     r.customer_ids, r.detail, r.result) THEN
                ok := false; rows_checked := 0; bad_seq := cp.seq;
                reason := CASE WHEN r.seq IS NULL THEN 'missing' ELSE 'edited' END;
                last_seq := 0; last_hash := '\x'::bytea;
                RETURN;
            END IF;
        END IF;
    END IF;
    SELECT * INTO w FROM audit_walk(from_seq, CASE WHEN from_seq = 0 THEN '\x'::bytea ELSE cp.hash END);
    ok := w.ok; rows_checked := w.rows_checked; bad_seq := w.bad_seq; reason := w.reason;
    last_seq := w.last_seq; last_hash := w.last_hash;
    IF ok AND last_seq > 0 THEN
        INSERT INTO audit_checkpoint (seq, hash, rows_checked, from_seq)
        VALUES (last_seq, last_hash, rows_checked, from_seq) ON CONFLICT (seq) DO NOTHING;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION audit_verify_from(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_verify_from(boolean) TO kehu_app;
