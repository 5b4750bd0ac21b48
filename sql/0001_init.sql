-- Kehu schema 1: the organisation tree, users and sessions.
--
-- Units form a tree: head office -> region -> branch -> team. `path` holds the
-- ids from the head office down to the unit itself, so "is X inside Y" is
-- `Y = ANY(X.path)` (GIN-indexed) and a subtree is `path @> ARRAY[Y]`.
-- `branch_id` is the branch a unit is or belongs to; every table holding
-- customer data will carry it (see DESIGN.md, scale-out).

CREATE TYPE unit_kind AS ENUM ('head_office', 'region', 'branch', 'team');
CREATE TYPE user_role AS ENUM ('admin', 'branch_manager', 'account_manager', 'service_agent', 'auditor');

CREATE TABLE org_unit (
    id          bigserial PRIMARY KEY,
    parent_id   bigint REFERENCES org_unit (id),
    kind        unit_kind NOT NULL,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    path        bigint[] NOT NULL,
    branch_id   bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'head_office') = (parent_id IS NULL))
);
CREATE UNIQUE INDEX org_unit_name_key ON org_unit (lower(name));
CREATE UNIQUE INDEX org_unit_one_head_office ON org_unit ((true)) WHERE kind = 'head_office';
CREATE INDEX org_unit_path ON org_unit USING gin (path);
CREATE INDEX org_unit_parent ON org_unit (parent_id);

-- Which kind of unit may sit under which.
CREATE FUNCTION org_unit_kind_allowed(parent unit_kind, child unit_kind) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE child
        WHEN 'region' THEN parent IN ('head_office', 'region')
        WHEN 'branch' THEN parent IN ('head_office', 'region')
        WHEN 'team'   THEN parent IN ('branch', 'team')
        ELSE false
    END
$$;

-- Fills path and branch_id, and keeps the tree's shape valid whatever inserts it.
CREATE FUNCTION org_unit_place() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p org_unit;
BEGIN
    IF NEW.parent_id IS NULL THEN
        NEW.path := ARRAY[NEW.id];
        NEW.branch_id := NULL;
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
    RETURN NEW;
END
$$;
CREATE TRIGGER org_unit_place BEFORE INSERT ON org_unit FOR EACH ROW EXECUTE FUNCTION org_unit_place();

CREATE TABLE app_user (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name    text NOT NULL DEFAULT '',
    role            user_role NOT NULL,
    unit_id         bigint NOT NULL REFERENCES org_unit (id),
    password_hash   text NOT NULL,
    disabled_at     timestamptz,
    failed_logins   integer NOT NULL DEFAULT 0,
    last_failed_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX app_user_unit ON app_user (unit_id);

CREATE TABLE session (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES app_user (id),
    token_hash    bytea NOT NULL UNIQUE,    -- BLAKE2b of the token; the token itself is never stored
    client        text NOT NULL DEFAULT '',
    peer          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX session_by_user ON session (user_id) WHERE revoked_at IS NULL;

-- Small facts about this installation (for example that the demo was loaded).
CREATE TABLE setting (
    key         text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
