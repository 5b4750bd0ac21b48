-- Kehu schema 2: the customer base — customers, contacts, transactions, and a
-- field-level change history. Every table holding customer data carries
-- branch_id (the branch the customer belongs to) so that it could be
-- distributed by branch.
--
-- Changes are announced with NOTIFY from triggers, so that every writer (a
-- handler, an import, a merge, a later job) is covered, and every kehud
-- listening on this database hears them after commit.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TYPE customer_kind AS ENUM ('individual', 'corporate');
CREATE TYPE customer_status AS ENUM ('active', 'in_pool', 'churned', 'archived');

CREATE TABLE customer (
    id               bigserial PRIMARY KEY,
    branch_id        bigint NOT NULL REFERENCES org_unit (id),
    owner_id         bigint REFERENCES app_user (id),
    version          bigint NOT NULL DEFAULT 1,
    kind             customer_kind NOT NULL DEFAULT 'individual',
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    ext_ref          text CHECK (length(ext_ref) BETWEEN 1 AND 100),
    gender           text CHECK (gender IN ('male', 'female')),
    birth            date,
    id_number        text,
    phones           text[] NOT NULL DEFAULT '{}',
    email            text,
    company          text,
    address          text,
    region           text,
    industry         text,
    size             text,
    occupation       text,
    source           text CHECK (source IN ('b2b_platform', 'trade_show', 'search_engine', 'purchased_list',
                                            'referral', 'walk_in', 'other')),
    tags             text[] NOT NULL DEFAULT '{}',
    notes            text,
    since            date NOT NULL DEFAULT current_date,
    status           customer_status NOT NULL DEFAULT 'active',
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       bigint REFERENCES app_user (id),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       bigint REFERENCES app_user (id),
    last_contact_at  timestamptz,
    revenue          numeric(18, 2) NOT NULL DEFAULT 0,
    balance          numeric(18, 2) NOT NULL DEFAULT 0,
    merged_into      bigint REFERENCES customer (id),
    -- computed by kehud (pinyin needs ICU): see server/search_keys.c
    sort_key         text COLLATE "C" NOT NULL DEFAULT '',  -- pinyin, compared bytewise
    search_text      text NOT NULL DEFAULT '',
    search_tokens    text[] NOT NULL DEFAULT '{}',
    -- the normalised name and company duplicates are matched on
    name_key         text GENERATED ALWAYS AS (lower(regexp_replace(name, '[[:space:][:punct:]]+', '', 'g'))) STORED,
    company_key      text GENERATED ALWAYS AS (lower(regexp_replace(coalesce(company, ''), '[[:space:][:punct:]]+', '', 'g'))) STORED
);
CREATE UNIQUE INDEX customer_ext_ref_key ON customer (branch_id, ext_ref) WHERE ext_ref IS NOT NULL;
CREATE INDEX customer_branch_sort ON customer (branch_id, sort_key, id);
CREATE INDEX customer_owner_sort ON customer (owner_id, sort_key, id);
CREATE INDEX customer_sort ON customer (sort_key, id);
CREATE INDEX customer_created ON customer (created_at, id);
CREATE INDEX customer_last_contact ON customer (last_contact_at, id);
CREATE INDEX customer_revenue ON customer (revenue, id);
CREATE INDEX customer_phones ON customer USING gin (phones);
CREATE INDEX customer_tags ON customer USING gin (tags);
CREATE INDEX customer_id_number ON customer (id_number) WHERE id_number IS NOT NULL;
CREATE INDEX customer_name_company ON customer (name_key, company_key);
CREATE INDEX customer_search_text ON customer USING gin (search_text gin_trgm_ops);
CREATE INDEX customer_search_tokens ON customer USING gin (search_tokens);

CREATE TABLE contact (
    id           bigserial PRIMARY KEY,
    branch_id    bigint NOT NULL REFERENCES org_unit (id),
    customer_id  bigint NOT NULL REFERENCES customer (id),
    version      bigint NOT NULL DEFAULT 1,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    title        text,
    phones       text[] NOT NULL DEFAULT '{}',
    email        text,
    key_person   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES app_user (id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   bigint REFERENCES app_user (id)
);
CREATE INDEX contact_customer ON contact (customer_id, id);

CREATE TABLE txn (
    id           bigserial PRIMARY KEY,
    branch_id    bigint NOT NULL REFERENCES org_unit (id),
    customer_id  bigint NOT NULL REFERENCES customer (id),
    date         date NOT NULL,
    amount       numeric(18, 2) NOT NULL,
    margin       numeric(18, 2),
    product      text,
    category     text,
    channel      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES app_user (id)
);
CREATE INDEX txn_customer ON txn (customer_id, date DESC, id DESC);
CREATE INDEX txn_branch_date ON txn (branch_id, date);

-- Who changed what: one row per changed field of a customer or a contact.
CREATE TABLE change_log (
    id           bigserial PRIMARY KEY,
    branch_id    bigint NOT NULL,
    customer_id  bigint NOT NULL REFERENCES customer (id),
    entity       text NOT NULL CHECK (entity IN ('customer', 'contact')),
    entity_id    bigint NOT NULL,
    field        text NOT NULL,
    old_value    text,
    new_value    text,
    version      bigint NOT NULL,
    changed_by   bigint REFERENCES app_user (id),
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_log_customer ON change_log (customer_id, id);

-- Probable duplicates of a customer with these phones, ID number, name and
-- company: the same phone, the same ID number, or the same normalised name
-- and company (the company must be given). Live customers only.
CREATE FUNCTION customer_probable_duplicates(p_phones text[], p_id_number text, p_name text, p_company text)
RETURNS TABLE (id bigint, reason text) LANGUAGE sql STABLE AS $$
    SELECT d.id, min(d.reason) FROM (
        SELECT c.id, 'same phone ' || p AS reason FROM customer c, unnest(p_phones) p WHERE c.phones @> ARRAY[p]
        UNION ALL
        SELECT c.id, 'same ID number' FROM customer c WHERE p_id_number IS NOT NULL AND c.id_number = p_id_number
        UNION ALL
        SELECT c.id, 'same name and company' FROM customer c
         WHERE p_company IS NOT NULL
           AND c.name_key = lower(regexp_replace(p_name, '[[:space:][:punct:]]+', '', 'g'))
           AND c.company_key = lower(regexp_replace(p_company, '[[:space:][:punct:]]+', '', 'g'))
    ) d JOIN customer x ON x.id = d.id
    WHERE x.merged_into IS NULL AND x.status <> 'archived'
    GROUP BY d.id
$$;

-- Fields that are bookkeeping, not the customer's story: not logged.
CREATE FUNCTION change_log_skip(field text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT field IN ('version', 'updated_at', 'updated_by', 'created_at', 'created_by', 'sort_key', 'search_text',
                     'search_tokens', 'name_key', 'company_key', 'revenue', 'balance', 'last_contact_at')
$$;

-- Announces a change to a customer after commit, as
-- "kind customer_id branch_id version owner_id actor_id branch_path".
CREATE FUNCTION kehu_announce(kind text, cust customer, actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    path bigint[];
BEGIN
    -- a bulk load (a transaction import) announces once per customer at its end
    IF current_setting('kehu.bulk', true) = 'on' THEN
        RETURN;
    END IF;
    SELECT o.path INTO path FROM org_unit o WHERE o.id = cust.branch_id;
    PERFORM pg_notify('kehu', concat_ws(' ', kind, cust.id, cust.branch_id, cust.version,
                                        coalesce(cust.owner_id, 0), coalesce(actor, 0), path::text));
END
$$;

-- Logs every changed field of a customer or contact row and announces the
-- change. An update that touched only bookkeeping (revenue moved by a new
-- transaction, say) is announced by what caused it, not here.
CREATE FUNCTION customer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cust      customer;
    kind      text;
    actor     bigint;
    logged    integer;
    entity    text := CASE TG_TABLE_NAME WHEN 'customer' THEN 'customer' ELSE 'contact' END;
    old_json  jsonb := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) ELSE '{}'::jsonb END;
    new_json  jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('kehu.bulk', true) = 'on' THEN
        RETURN NULL; /* bulk loads only move bookkeeping (revenue): nothing to log */
    END IF;
    new_json := to_jsonb(NEW);
    IF TG_TABLE_NAME = 'customer' THEN
        cust := NEW;
    ELSE
        SELECT * INTO cust FROM customer WHERE id = NEW.customer_id;
    END IF;
    actor := CASE WHEN TG_OP = 'INSERT' THEN NEW.created_by ELSE NEW.updated_by END;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO change_log (branch_id, customer_id, entity, entity_id, field, old_value, new_value, version, changed_by)
        VALUES (cust.branch_id, cust.id, entity, NEW.id, 'created', NULL, NEW.name, cust.version, actor);
        kind := entity || '.created';
    ELSE
        INSERT INTO change_log (branch_id, customer_id, entity, entity_id, field, old_value, new_value, version, changed_by)
        SELECT cust.branch_id, cust.id, entity, NEW.id, n.key, old_json ->> n.key, n.value #>> '{}', cust.version, actor
          FROM jsonb_each(new_json) n
         WHERE NOT change_log_skip(n.key) AND (old_json -> n.key) IS DISTINCT FROM n.value;
        GET DIAGNOSTICS logged = ROW_COUNT;
        IF logged = 0 THEN
            RETURN NULL;
        END IF;
        IF entity = 'customer' AND cust.status = 'archived' AND old_json ->> 'status' <> 'archived' THEN
            kind := 'customer.archived';
        ELSE
            kind := entity || '.updated';
        END IF;
    END IF;
    PERFORM kehu_announce(kind, cust, actor);
    RETURN NULL;
END
$$;
CREATE TRIGGER customer_changed AFTER INSERT OR UPDATE ON customer
    FOR EACH ROW EXECUTE FUNCTION customer_changed();
CREATE TRIGGER contact_changed AFTER INSERT OR UPDATE ON contact
    FOR EACH ROW EXECUTE FUNCTION customer_changed();

-- Rows that belong to a customer (transactions, and later follow-ups and
-- documents) announce "<table>.created".
CREATE FUNCTION customer_row_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cust customer;
BEGIN
    IF current_setting('kehu.bulk', true) = 'on' THEN
        RETURN NULL; /* announced once per customer at the end of the load */
    END IF;
    SELECT * INTO cust FROM customer WHERE id = NEW.customer_id;
    PERFORM kehu_announce(TG_TABLE_NAME || '.created', cust, NEW.created_by);
    RETURN NULL;
END
$$;
CREATE TRIGGER txn_added AFTER INSERT ON txn FOR EACH ROW EXECUTE FUNCTION customer_row_added();
