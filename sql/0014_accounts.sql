-- Kehu schema 14: accounts and the organisation after the first week.
--
-- Passwords that must be changed at the next login (an admin's reset, or the
-- offline `kehud reset-password`); unit names unique among siblings only
-- (every branch has its own 营业部), a unit named by its path
-- ('华东区/上海分行/营业部') wherever a unit is named; units renamed and moved
-- with their subtree.

ALTER TABLE app_user ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- ---------------------------------------------------------------- names

DROP INDEX org_unit_name_key;
CREATE UNIQUE INDEX org_unit_sibling_name_key ON org_unit (coalesce(parent_id, 0), lower(name));
CREATE INDEX org_unit_lower_name ON org_unit (lower(name));
-- '/' separates the names of a path (rows from before are not re-checked)
ALTER TABLE org_unit ADD CONSTRAINT org_unit_name_no_slash CHECK (position('/' IN name) = 0) NOT VALID;

-- A unit's path of names: from below the head office down to the unit,
-- '/'-separated ('华东区/上海分行/营业部'); the head office's is its name.
CREATE FUNCTION org_unit_path_name(unit bigint) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg(o.name, '/' ORDER BY array_position(u.path, o.id))
      FROM org_unit u JOIN org_unit o ON o.id = ANY (u.path)
     WHERE u.id = unit AND (o.parent_id IS NOT NULL OR u.parent_id IS NULL)
$$;

-- The units a reference names: its id, its path of names (the head office's
-- name may lead), or every unit of that name. One element when it names one
-- unit, none when it names nothing.
CREATE FUNCTION org_unit_match(ref text) RETURNS bigint[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    ids    bigint[];
    parts  text[];
    cur    bigint;
    head   org_unit;
    first  integer := 1;
BEGIN
    IF ref IS NULL OR ref = '' THEN
        RETURN '{}';
    END IF;
    IF ref ~ '^[0-9]{1,18}$' THEN
        SELECT id INTO cur FROM org_unit WHERE id = ref::bigint;
        IF FOUND THEN
            RETURN ARRAY[cur];
        END IF;
    END IF;
    IF position('/' IN ref) > 0 THEN
        parts := string_to_array(btrim(ref, '/'), '/');
        SELECT * INTO head FROM org_unit WHERE parent_id IS NULL;
        IF NOT FOUND OR coalesce(cardinality(parts), 0) = 0 THEN
            RETURN '{}';
        END IF;
        cur := head.id;
        IF lower(btrim(parts[1])) = lower(head.name)
           AND NOT EXISTS (SELECT 1 FROM org_unit WHERE parent_id = head.id AND lower(name) = lower(btrim(parts[1]))) THEN
            first := 2;
        END IF;
        FOR k IN first .. cardinality(parts) LOOP
            SELECT id INTO cur FROM org_unit WHERE parent_id = cur AND lower(name) = lower(btrim(parts[k]));
            IF NOT FOUND THEN
                RETURN '{}';
            END IF;
        END LOOP;
        RETURN ARRAY[cur];
    END IF;
    SELECT array_agg(id ORDER BY path) INTO ids FROM org_unit WHERE lower(name) = lower(ref);
    RETURN coalesce(ids, '{}');
END
$$;

-- The refusal of a name several units share, naming their paths.
CREATE FUNCTION org_unit_ambiguity(ref text, ids bigint[]) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format('''%s'' names %s units: %s; name one by its path', ref, cardinality(ids),
                  (SELECT string_agg(org_unit_path_name(x.i), ', ' ORDER BY x.o) FROM unnest(ids) WITH ORDINALITY x(i, o)))
$$;

-- The unit a request names (`field`, for the refusal): NULL when none; a
-- name several units share is refused (KH400) with their paths.
CREATE FUNCTION org_unit_ref(ref text, field text DEFAULT 'unit') RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    ids bigint[] := org_unit_match(ref);
BEGIN
    IF cardinality(ids) > 1 THEN
        RAISE EXCEPTION '%', org_unit_ambiguity(ref, ids) USING ERRCODE = 'KH400', COLUMN = coalesce(field, 'unit');
    END IF;
    RETURN ids[1];
END
$$;

-- ---------------------------------------------------------------- users

-- "user.changed USER ROLE UNIT BRANCH REGION MUST_CHANGE": every kehud
-- updates the logged-in connections of that user (a new role or place
-- counts from the next request).
CREATE FUNCTION user_announce(uid bigint) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('kehu', format('user.changed %s %s %s %s %s %s', u.id, u.role, u.unit_id, coalesce(o.branch_id, 0),
                                    coalesce(o.region_id, 0), u.must_change_password::int))
      FROM app_user u JOIN org_unit o ON o.id = u.unit_id
     WHERE u.id = uid
$$;

-- A new password hash (own change: must_change false; a reset: true), and
-- every session of the user but `keep` (0 none) ended and announced, each
-- by its id (a login right after a reset must not be ended by an
-- announcement heard late).
CREATE FUNCTION user_set_password(uid bigint, hash text, must_change boolean, keep bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_user
       SET password_hash = hash, must_change_password = must_change, failed_logins = 0, last_failed_at = NULL,
           updated_at = now()
     WHERE id = uid;
    WITH s AS (UPDATE session SET revoked_at = now()
                WHERE user_id = uid AND revoked_at IS NULL AND id <> coalesce(keep, 0) RETURNING id)
    SELECT count(pg_notify('kehu', format('session.revoked %s 0', s.id))) INTO STRICT keep FROM s;
    PERFORM user_announce(uid);
END
$$;

-- ---------------------------------------------------------------- units

-- Moves a unit with its subtree under new_parent: checks the placement
-- (kind, cycles, depth, a sibling of the same name), recomputes path,
-- branch and region below it, and when a team changes branch, the customers
-- its users own in the branch it left follow them (with the rows that carry
-- their branch; logged, in the owner history and announced), so that the
-- new branch's managers see them. The users of the subtree are announced
-- (their branch and region changed). Returns how many customers followed.
CREATE FUNCTION org_unit_move(unit bigint, new_parent bigint, actor bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    u          org_unit;
    p          org_unit;
    old_branch bigint;
    new_branch bigint;
    deepest    integer;
    moved      integer := 0;
    t          text;
    bulk       text := coalesce(current_setting('kehu.bulk', true), '');
BEGIN
    -- one move at a time: two crossing moves must not make a cycle together
    PERFORM pg_advisory_xact_lock(hashtext('kehu.org_unit_move'));
    SELECT * INTO u FROM org_unit WHERE id = unit FOR UPDATE;
    SELECT * INTO p FROM org_unit WHERE id = new_parent;
    IF u.parent_id IS NULL THEN
        RAISE EXCEPTION 'the head office cannot be moved' USING ERRCODE = 'KH400', COLUMN = 'unit';
    END IF;
    IF p.id = u.id THEN
        RAISE EXCEPTION 'cannot move ''%'' under itself', org_unit_path_name(u.id)
            USING ERRCODE = 'KH400', COLUMN = 'parent';
    END IF;
    IF u.id = ANY (p.path) THEN
        RAISE EXCEPTION 'cannot move ''%'' under ''%'': that unit lies inside it', org_unit_path_name(u.id),
            org_unit_path_name(p.id) USING ERRCODE = 'KH400', COLUMN = 'parent';
    END IF;
    IF NOT org_unit_kind_allowed(p.kind, u.kind) THEN
        RAISE EXCEPTION 'a % cannot be placed under a % (''%'')', u.kind, p.kind, org_unit_path_name(p.id)
            USING ERRCODE = 'KH400', COLUMN = 'parent';
    END IF;
    IF u.parent_id = p.id THEN
        RETURN 0;
    END IF;
    IF EXISTS (SELECT 1 FROM org_unit WHERE parent_id = p.id AND lower(name) = lower(u.name)) THEN
        RAISE EXCEPTION '''%'' already has a unit named ''%''', org_unit_path_name(p.id), u.name
            USING ERRCODE = 'KH409', COLUMN = 'parent';
    END IF;
    SELECT max(cardinality(d.path) - array_position(d.path, u.id)) INTO deepest
      FROM org_unit d WHERE d.path @> ARRAY[u.id];
    IF cardinality(p.path) + 1 + deepest > 16 THEN
        RAISE EXCEPTION 'the organisation tree may be at most 16 levels deep' USING ERRCODE = 'KH400', COLUMN = 'parent';
    END IF;
    old_branch := u.branch_id;

    UPDATE org_unit SET parent_id = p.id WHERE id = u.id;
    UPDATE org_unit d
       SET path = n.path,
           branch_id = (SELECT b.id FROM org_unit b WHERE b.id = ANY (n.path) AND b.kind = 'branch'),
           region_id = (SELECT r.id FROM org_unit r WHERE r.id = ANY (n.path) AND r.kind = 'region'
                         ORDER BY array_position(n.path, r.id) DESC LIMIT 1)
      FROM (SELECT x.id, p.path || x.path[array_position(x.path, u.id):] AS path
              FROM org_unit x WHERE x.path @> ARRAY[u.id]) n
     WHERE d.id = n.id;
    SELECT branch_id INTO new_branch FROM org_unit WHERE id = u.id;

    IF u.kind = 'team' AND old_branch IS DISTINCT FROM new_branch AND new_branch IS NOT NULL THEN
        CREATE TEMP TABLE org_move_customer ON COMMIT DROP AS
        SELECT c.id, c.owner_id, c.version + 1 AS version
          FROM customer c JOIN app_user ow ON ow.id = c.owner_id JOIN org_unit o ON o.id = ow.unit_id
         WHERE o.path @> ARRAY[u.id] AND c.branch_id = old_branch AND c.merged_into IS NULL;
        moved := (SELECT count(*) FROM org_move_customer);
        -- set-based, as assign_apply: the trigger neither logs nor announces
        -- under kehu.bulk; the change log and the events are written below
        PERFORM set_config('kehu.assign_kind', 'other', true),
                set_config('kehu.assign_reason', format('unit %s moved to %s', u.name, org_unit_path_name(p.id)), true),
                set_config('kehu.bulk', 'on', true);
        UPDATE customer c SET branch_id = new_branch, version = m.version, updated_by = actor, updated_at = now()
          FROM org_move_customer m WHERE c.id = m.id;
        -- everything that carries the customers' branch follows them
        FOREACH t IN ARRAY ARRAY['contact', 'txn', 'payment', 'asset_snapshot', 'followup', 'document',
                                 'customer_grade', 'churn_warning', 'grade_override'] LOOP
            EXECUTE format('UPDATE %I x SET branch_id = $1 FROM org_move_customer m WHERE x.customer_id = m.id', t)
              USING new_branch;
        END LOOP;
        PERFORM set_config('kehu.assign_kind', '', true), set_config('kehu.assign_reason', '', true),
                set_config('kehu.bulk', bulk, true);
        INSERT INTO change_log (branch_id, customer_id, entity, entity_id, field, old_value, new_value, version,
                                changed_by)
        SELECT new_branch, m.id, 'customer', m.id, 'branch_id', old_branch::text, new_branch::text, m.version, actor
          FROM org_move_customer m;
        -- the new side hears customer.updated, the old one (which no longer
        -- sees them) customer.reassigned; past the event limit once per side
        IF moved <= assign_policy_num('event_limit') THEN
            PERFORM kehu_announce_detail('customer.updated', m.id, new_branch, m.version, m.owner_id, actor,
                                         format('unit %s moved', u.id))
               FROM org_move_customer m ORDER BY m.id;
            PERFORM kehu_announce_detail('customer.reassigned', m.id, old_branch, m.version, m.owner_id, actor,
                                         format('unit %s moved', u.id))
               FROM org_move_customer m ORDER BY m.id;
        ELSIF moved > 0 THEN
            PERFORM kehu_announce_detail('customer.reassigned', 0, b.id, 0, 0, actor,
                                         format('unit %s moved customers=%s', u.id, moved))
               FROM org_unit b WHERE b.id IN (old_branch, new_branch);
        END IF;
        DROP TABLE org_move_customer;
    END IF;

    PERFORM user_announce(a.id)
       FROM app_user a JOIN org_unit o ON o.id = a.unit_id
      WHERE o.path @> ARRAY[u.id];
    RETURN moved;
END
$$;

-- ---------------------------------------------------------------- teams named in assignment rules

-- assign_rule_set (sql/0010_pool.sql) as it was, but for the team of a rule:
-- named by id, path or a name only one team of the branch has (every 营业部
-- may have its 一组), an ambiguous name refused with the paths.
CREATE OR REPLACE FUNCTION assign_rule_set(branch bigint, regions text[], industries text[], sources text[], sizes text[],
                                grades text[], users text[], teams text[], actor bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(cardinality(users), 0);
    uid bigint;
    tid bigint;
    tids bigint[];
    u record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM org_unit WHERE id = branch AND kind = 'branch') THEN
        RAISE EXCEPTION 'rules belong to a branch' USING ERRCODE = '22023', DETAIL = 'branch';
    END IF;
    DELETE FROM assign_rule WHERE branch_id = branch;
    FOR i IN 1 .. n LOOP
        uid := NULL;
        tid := NULL;
        IF (coalesce(users[i], '') = '') = (coalesce(teams[i], '') = '') THEN
            RAISE EXCEPTION 'rule %: give a user or a team to route to', i USING ERRCODE = '22023',
                DETAIL = format('rules[%s].to', i);
        END IF;
        IF nullif(grades[i], '') NOT IN ('A', 'B', 'C') THEN
            RAISE EXCEPTION 'rule %: no ABC grade "%"', i, grades[i] USING ERRCODE = '22023',
                DETAIL = format('rules[%s].grade', i);
        END IF;
        IF nullif(sources[i], '') NOT IN ('b2b_platform', 'trade_show', 'search_engine',
                                                         'purchased_list', 'referral', 'walk_in', 'other') THEN
            RAISE EXCEPTION 'rule %: no source "%"', i, sources[i] USING ERRCODE = '22023',
                DETAIL = format('rules[%s].source', i);
        END IF;
        IF coalesce(users[i], '') <> '' THEN
            SELECT x.id, x.role, x.disabled_at, o.branch_id INTO u
              FROM app_user x JOIN org_unit o ON o.id = x.unit_id WHERE x.username = lower(users[i]);
            IF NOT FOUND THEN
                RAISE EXCEPTION 'rule %: no user "%"', i, users[i] USING ERRCODE = '22023',
                    DETAIL = format('rules[%s].to', i);
            END IF;
            IF u.disabled_at IS NOT NULL OR u.role NOT IN ('account_manager', 'branch_manager')
               OR u.branch_id IS DISTINCT FROM branch THEN
                RAISE EXCEPTION 'rule %: "%" is not an active account or branch manager of the branch', i, users[i]
                    USING ERRCODE = '22023', DETAIL = format('rules[%s].to', i);
            END IF;
            uid := u.id;
        ELSE
            -- by id, path, or a name only one team of the branch has
            SELECT array_agg(o.id ORDER BY o.path) INTO tids FROM org_unit o
             WHERE o.id = ANY (org_unit_match(teams[i])) AND o.kind = 'team' AND o.branch_id = branch;
            IF cardinality(tids) > 1 THEN
                RAISE EXCEPTION 'rule %: %', i, org_unit_ambiguity(teams[i], tids) USING ERRCODE = '22023',
                    DETAIL = format('rules[%s].to', i);
            END IF;
            tid := tids[1];
            IF tid IS NULL THEN
                RAISE EXCEPTION 'rule %: no team "%" in the branch', i, teams[i] USING ERRCODE = '22023',
                    DETAIL = format('rules[%s].to', i);
            END IF;
        END IF;
        INSERT INTO assign_rule (branch_id, position, region, industry, source, size, grade, target_user, target_team,
                                 updated_by)
        VALUES (branch, i, nullif(regions[i], ''), nullif(industries[i], ''), nullif(sources[i], ''),
                nullif(sizes[i], ''), nullif(grades[i], ''), uid, tid, actor);
    END LOOP;
    RETURN n;
END
$$;
