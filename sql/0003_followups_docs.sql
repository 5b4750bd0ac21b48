-- Kehu schema 3: follow-ups (visits, calls, e-mails, meetings planned and
-- done) and documents kept with a customer. Both carry branch_id like every
-- table holding customer data.
--
-- Logging a follow-up moves customer.last_contact_at in the same statement
-- (kehud's FollowupLog); that is bookkeeping: it does not bump the
-- customer's version. Follow-ups announce followup.created and (when their
-- status changes) followup.updated, documents document.created.

CREATE TABLE followup (
    id           bigserial PRIMARY KEY,
    branch_id    bigint NOT NULL REFERENCES org_unit (id),
    customer_id  bigint NOT NULL REFERENCES customer (id),
    kind         text NOT NULL CHECK (kind IN ('visit', 'call', 'email', 'meeting')),
    status       text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'done', 'cancelled')),
    due          date,                 -- planned: the day it is due
    done_at      timestamptz,          -- done: when it happened
    outcome      text,
    note         text,
    next         date,                 -- done: the next follow-up planned when this one was logged
    owner_id     bigint NOT NULL REFERENCES app_user (id),   -- who should do it (or did it)
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES app_user (id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   bigint REFERENCES app_user (id),
    CHECK (status <> 'planned' OR due IS NOT NULL),
    CHECK (status <> 'done' OR done_at IS NOT NULL)
);
-- "what is due for this person", oldest first
CREATE INDEX followup_owner_due ON followup (owner_id, due, id) WHERE status = 'planned';
-- a customer's follow-ups, and the earliest planned one of a kind
CREATE INDEX followup_customer ON followup (customer_id, id);
CREATE INDEX followup_customer_planned ON followup (customer_id, kind, due, id) WHERE status = 'planned';
CREATE TRIGGER followup_added AFTER INSERT ON followup FOR EACH ROW EXECUTE FUNCTION customer_row_added();

-- A planned follow-up done or cancelled (moving rows to another customer,
-- as a merge does, is not a change of the follow-up itself).
CREATE FUNCTION followup_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cust customer;
BEGIN
    SELECT * INTO cust FROM customer WHERE id = NEW.customer_id;
    PERFORM kehu_announce('followup.updated', cust, NEW.updated_by);
    RETURN NULL;
END
$$;
CREATE TRIGGER followup_changed AFTER UPDATE OF status ON followup
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION followup_changed();

CREATE TABLE document (
    id           bigserial PRIMARY KEY,
    branch_id    bigint NOT NULL REFERENCES org_unit (id),
    customer_id  bigint NOT NULL REFERENCES customer (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200 AND strpos(name, '/') = 0),
    type         text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES app_user (id),
    CHECK (octet_length(content) = size)
);
-- Stored uncompressed out of line, so that a download chunk
-- (substring(content from ... for ...)) reads only the pages it needs.
ALTER TABLE document ALTER COLUMN content SET STORAGE EXTERNAL;
CREATE INDEX document_customer ON document (customer_id, id);
CREATE TRIGGER document_added AFTER INSERT ON document FOR EACH ROW EXECUTE FUNCTION customer_row_added();
