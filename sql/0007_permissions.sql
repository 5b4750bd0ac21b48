-- Kehu schema 7: the permission matrix.
--
-- What a role may do to customers is a matrix role x action -> scope, edited
-- by an admin and read by kehud's one authorization function (authz.c), which
-- keeps it in memory and reloads it when "perm.changed" is announced.
--
-- Scopes, relative to the user asking:
--   none    nothing
--   own     customers they own
--   team    customers owned by anyone in their unit or below (their team)
--   branch  customers of their branch (or of their unit's subtree, above branches)
--   region  customers of their region (the nearest region above them; the
--           whole network for someone at the head office)
--   all     every customer
-- For 'admin' (managing users) the scope applies to where the user sits.

CREATE TYPE perm_scope AS ENUM ('none', 'own', 'team', 'branch', 'region', 'all');

CREATE FUNCTION perm_actions() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['read', 'edit', 'reassign', 'override_grade', 'export', 'unmask', 'delete', 'admin']
$$;

CREATE TABLE role_permission (
    role        user_role NOT NULL,
    action      text NOT NULL CHECK (action = ANY (perm_actions())),
    scope       perm_scope NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  bigint REFERENCES app_user (id),
    PRIMARY KEY (role, action)
);

INSERT INTO role_permission (role, action, scope)
SELECT r::user_role, a, s::perm_scope
  FROM (VALUES
    ('admin',           ARRAY['all', 'all', 'all', 'all', 'all', 'all', 'all', 'all']),
    ('branch_manager',  ARRAY['branch', 'branch', 'branch', 'branch', 'branch', 'branch', 'branch', 'branch']),
    ('account_manager', ARRAY['own', 'own', 'none', 'own', 'own', 'own', 'own', 'none']),
    ('service_agent',   ARRAY['branch', 'none', 'none', 'none', 'none', 'none', 'none', 'none']),
    ('auditor',         ARRAY['all', 'none', 'none', 'none', 'all', 'none', 'none', 'none'])
  ) d(r, scopes),
  LATERAL unnest(perm_actions(), d.scopes) u(a, s);

-- The matrix's version: every change counts it up, and kehud applies a
-- matrix read at version v only if it holds none newer (a reload answered
-- late must not undo a later change).
CREATE TABLE role_permission_version (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  bigint NOT NULL
);
INSERT INTO role_permission_version VALUES (true, 1);

-- Changes the matrix: every (role, action, scope) of the arrays, all or none.
-- Rules that would lock everybody out are refused: an admin keeps 'admin' and
-- 'read' over everything, and a scope never widens an action beyond 'read'
-- (what one may change one must be able to see). Announces "perm.changed".
CREATE FUNCTION role_permission_set(roles text[], actions text[], scopes text[], actor bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    bad record;
BEGIN
    IF cardinality(roles) IS DISTINCT FROM cardinality(actions) OR cardinality(roles) IS DISTINCT FROM cardinality(scopes) THEN
        RAISE EXCEPTION 'roles, actions and scopes must be as many' USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(roles), 0) LOOP
        IF NOT EXISTS (SELECT 1 FROM unnest(enum_range(NULL::user_role)) r WHERE r::text = roles[i]) THEN
            RAISE EXCEPTION 'no role "%": admin, branch_manager, account_manager, service_agent, auditor', roles[i]
                USING ERRCODE = '22023', DETAIL = 'role';
        END IF;
        IF NOT actions[i] = ANY (perm_actions()) THEN
            RAISE EXCEPTION 'no action "%": %', actions[i], array_to_string(perm_actions(), ', ')
                USING ERRCODE = '22023', DETAIL = 'action';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM unnest(enum_range(NULL::perm_scope)) s WHERE s::text = scopes[i]) THEN
            RAISE EXCEPTION 'no scope "%": none, own, team, branch, region, all', scopes[i]
                USING ERRCODE = '22023', DETAIL = 'scope';
        END IF;
        UPDATE role_permission
           SET scope = scopes[i]::perm_scope, updated_at = now(), updated_by = actor
         WHERE role = roles[i]::user_role AND action = actions[i] AND scope <> scopes[i]::perm_scope;
        n := n + 1;
    END LOOP;
    IF EXISTS (SELECT 1 FROM role_permission WHERE role = 'admin' AND action IN ('admin', 'read') AND scope <> 'all') THEN
        RAISE EXCEPTION 'the admin role keeps read and admin over everything (someone must be able to repair the matrix)'
            USING ERRCODE = '22023', DETAIL = 'scope';
    END IF;
    SELECT p.role, p.action, p.scope, r.scope AS read_scope INTO bad
      FROM role_permission p JOIN role_permission r ON r.role = p.role AND r.action = 'read'
     WHERE p.action NOT IN ('read', 'admin') AND p.scope > r.scope
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% would % customers (%) beyond those it may read (%)', bad.role, bad.action, bad.scope, bad.read_scope
            USING ERRCODE = '22023', DETAIL = 'scope';
    END IF;
    UPDATE role_permission_version SET version = version + 1;
    PERFORM pg_notify('kehu', 'perm.changed');
    RETURN n;
END
$$;

-- Every unit knows its region (the nearest region at or above it), as it
-- knows its branch: the 'region' scope without a search up the tree.
ALTER TABLE org_unit ADD COLUMN region_id bigint;
UPDATE org_unit o SET region_id = (SELECT r.id FROM org_unit r WHERE r.id = ANY (o.path) AND r.kind = 'region'
                                    ORDER BY cardinality(r.path) DESC LIMIT 1);

CREATE OR REPLACE FUNCTION org_unit_place() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p org_unit;
BEGIN
    IF NEW.parent_id IS NULL THEN
        NEW.path := ARRAY[NEW.id];
        NEW.branch_id := NULL;
        NEW.region_id := NULL;
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM org_unit WHERE id = NEW.parent_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'parent unit % does not exist', NEW.parent_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NOT org_unit_kind_allowed(p.kind, NEW.kind) THEN
        RAISE EXCEPTION 'a % cannot be placed under a %', NEW.kind, p.kind USING ERRCODE = 'check_violation';
    END IF;
    NEW.path := p.path || NEW.id;
    NEW.branch_id := CASE WHEN NEW.kind = 'branch' THEN NEW.id ELSE p.branch_id END;
    NEW.region_id := CASE WHEN NEW.kind = 'region' THEN NEW.id ELSE p.region_id END;
    RETURN NEW;
END
$$;

-- The region of a unit (0 none).
CREATE FUNCTION user_region(unit bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT region_id FROM org_unit WHERE id = unit), 0)
$$;

-- Announcements now carry the path of the owner's unit as well (for the
-- 'team' scope): "kind customer branch version owner actor {path} {owner_path} [detail]".
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
                                        coalesce(owner_path, '{}')::text));
END
$$;

CREATE OR REPLACE FUNCTION kehu_announce_detail(kind text, customer_id bigint, branch_id bigint, version bigint,
                                                owner_id bigint, actor bigint, detail text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('kehu', concat_ws(' ', $1, $2, $3, $4, coalesce($5, 0), coalesce($6, 0),
                                       (SELECT o.path::text FROM org_unit o WHERE o.id = $3),
                                       coalesce((SELECT o.path FROM app_user u JOIN org_unit o ON o.id = u.unit_id
                                                  WHERE u.id = $5), '{}')::text, $7))
$$;

-- ---------------------------------------------------------------- ownership

-- How many customers a person may hold (NULL: no limit); reassignment,
-- assignment rules and pool claims respect it.
ALTER TABLE app_user ADD COLUMN max_customers integer CHECK (max_customers IS NULL OR max_customers >= 0);

-- Every change of a customer's owner or branch, whoever made it and however
-- (a reassignment batch, a rule, the pool): the customer's whole line of
-- owners. Written by a trigger, so no path that moves a customer can skip it;
-- the writer says why through transaction settings kehu.assign_kind,
-- kehu.assign_batch and kehu.assign_reason.
CREATE TABLE assignment_history (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customer (id),
    from_owner   bigint REFERENCES app_user (id),
    to_owner     bigint REFERENCES app_user (id),
    from_branch  bigint NOT NULL,
    to_branch    bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('assign', 'handover', 'undo', 'rule', 'release', 'recycle', 'claim',
                                               'merge', 'other')),
    batch_id     bigint,
    reason       text,
    actor        bigint REFERENCES app_user (id),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assignment_history_customer ON assignment_history (customer_id, id);
CREATE INDEX assignment_history_batch ON assignment_history (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX assignment_history_to ON assignment_history (to_owner, at);

CREATE FUNCTION customer_owner_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO assignment_history (customer_id, from_owner, to_owner, from_branch, to_branch, kind, batch_id, reason,
                                    actor)
    VALUES (NEW.id, OLD.owner_id, NEW.owner_id, OLD.branch_id, NEW.branch_id,
            coalesce(nullif(current_setting('kehu.assign_kind', true), ''), 'other'),
            nullif(current_setting('kehu.assign_batch', true), '')::bigint,
            nullif(current_setting('kehu.assign_reason', true), ''), NEW.updated_by);
    RETURN NULL;
END
$$;
CREATE TRIGGER customer_owner_changed AFTER UPDATE OF owner_id, branch_id ON customer
    FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id OR OLD.branch_id IS DISTINCT FROM NEW.branch_id)
    EXECUTE FUNCTION customer_owner_changed();

-- ---------------------------------------------------------------- ID numbers at rest

-- ID numbers are stored encrypted (AES-256-CBC, a random IV each time:
-- "enc1:" || hex(iv || ciphertext)) with a key from kehud's configuration
-- (id_key), which kehud hands to every session it opens as kehu.id_key and
-- which is never stored in the database. Equality (duplicates, search by ID
-- number) goes through id_number_hash, an HMAC under a second key derived
-- from the same one. A trigger seals whatever plain value is written, so
-- every path that writes customers (add, edit, import, merge, COPY) is
-- covered; reads open it with id_open().
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE FUNCTION id_key(purpose text) RETURNS bytea LANGUAGE plpgsql STABLE AS $$
DECLARE
    k text := current_setting('kehu.id_key', true);
BEGIN
    IF k IS NULL OR k !~ '^[0-9a-fA-F]{64}$' THEN
        RAISE EXCEPTION 'kehu.id_key is not set: ID numbers are encrypted with the key in kehud''s configuration (id_key)'
            USING ERRCODE = '28000';
    END IF;
    RETURN hmac(convert_to(purpose, 'UTF8'), decode(k, 'hex'), 'sha256');
END
$$;

CREATE FUNCTION id_hash(plain text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN plain IS NULL OR plain = '' THEN NULL
                ELSE encode(hmac(convert_to(upper(plain), 'UTF8'), id_key('kehu id index'), 'sha256'), 'hex') END
$$;

CREATE FUNCTION id_seal(plain text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    iv bytea;
BEGIN
    IF plain IS NULL OR plain = '' OR plain LIKE 'enc1:%' THEN
        RETURN nullif(plain, '');
    END IF;
    iv := gen_random_bytes(16);
    RETURN 'enc1:' || encode(iv || encrypt_iv(convert_to(plain, 'UTF8'), id_key('kehu id seal'), iv, 'aes-cbc/pad:pkcs'),
                             'hex');
END
$$;

CREATE FUNCTION id_open(sealed text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN sealed LIKE 'enc1:%'
                THEN convert_from(decrypt_iv(substr(decode(substr(sealed, 6), 'hex'), 17), id_key('kehu id seal'),
                                             substr(decode(substr(sealed, 6), 'hex'), 1, 16), 'aes-cbc/pad:pkcs'), 'UTF8')
                ELSE sealed END
$$;

ALTER TABLE customer ADD COLUMN id_number_hash text;

CREATE FUNCTION customer_seal_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id_number IS NULL OR NEW.id_number = '' THEN
        NEW.id_number := NULL;
        NEW.id_number_hash := NULL;
    ELSIF NEW.id_number NOT LIKE 'enc1:%' THEN
        NEW.id_number_hash := id_hash(NEW.id_number);
        IF TG_OP = 'UPDATE' AND NEW.id_number_hash IS NOT DISTINCT FROM OLD.id_number_hash THEN
            NEW.id_number := OLD.id_number; /* the same number: no new ciphertext, no change logged */
        ELSE
            NEW.id_number := id_seal(NEW.id_number);
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER customer_seal_id BEFORE INSERT OR UPDATE OF id_number ON customer
    FOR EACH ROW EXECUTE FUNCTION customer_seal_id();
-- even for a bulk load that turns triggers off (session_replication_role =
-- replica, as kehu-seed does): no path may store a number in the clear
ALTER TABLE customer ENABLE ALWAYS TRIGGER customer_seal_id;

-- The numbers already stored: out of the search text, then sealed, as a
-- bulk change (kehu.bulk: no field history, no announcements — the change
-- log must not receive the clear numbers as "old values"), and the clear
-- numbers the change log already holds sealed too.
DROP INDEX customer_id_number;
SET LOCAL kehu.bulk = 'on';
UPDATE customer SET search_text = replace(search_text, lower(id_number), ''), id_number = id_number
 WHERE id_number IS NOT NULL AND id_number NOT LIKE 'enc1:%';
UPDATE change_log SET old_value = id_seal(old_value), new_value = id_seal(new_value)
 WHERE field = 'id_number' AND (old_value NOT LIKE 'enc1:%' OR new_value NOT LIKE 'enc1:%');
RESET kehu.bulk;
CREATE INDEX customer_id_number_hash ON customer (id_number_hash) WHERE id_number_hash IS NOT NULL;

CREATE OR REPLACE FUNCTION change_log_skip(field text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT field IN ('version', 'updated_at', 'updated_by', 'created_at', 'created_by', 'sort_key', 'search_text',
                     'search_tokens', 'name_key', 'company_key', 'revenue', 'balance', 'last_contact_at',
                     'id_number_hash')
$$;

CREATE OR REPLACE FUNCTION customer_probable_duplicates(p_phones text[], p_id_number text, p_name text, p_company text)
RETURNS TABLE (id bigint, reason text) LANGUAGE sql STABLE AS $$
    SELECT d.id, min(d.reason) FROM (
        SELECT c.id, 'same phone ' || p AS reason FROM customer c, unnest(p_phones) p WHERE c.phones @> ARRAY[p]
        UNION ALL
        SELECT c.id, 'same ID number' FROM customer c
         WHERE p_id_number IS NOT NULL AND c.id_number_hash = id_hash(p_id_number)
        UNION ALL
        SELECT c.id, 'same name and company' FROM customer c
         WHERE p_company IS NOT NULL
           AND c.name_key = lower(regexp_replace(p_name, '[[:space:][:punct:]]+', '', 'g'))
           AND c.company_key = lower(regexp_replace(p_company, '[[:space:][:punct:]]+', '', 'g'))
    ) d JOIN customer x ON x.id = d.id
    WHERE x.merged_into IS NULL AND x.status <> 'archived'
    GROUP BY d.id
$$;

-- Phones are looked up one by one on every add and every imported row (the
-- duplicate check): their GIN index takes new entries at once rather than
-- in a pending list that each lookup would otherwise scan whole (which made
-- an import into a freshly loaded base several times slower). Tags alike.
ALTER INDEX customer_phones SET (fastupdate = off);
ALTER INDEX customer_tags SET (fastupdate = off);
SELECT gin_clean_pending_list('customer_phones'::regclass), gin_clean_pending_list('customer_tags'::regclass);
