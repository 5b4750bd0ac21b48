-- Idempotency keys: a write sent with Request.idempotency_key is done once per
-- user and key; its answer is kept (24 hours) so that a client repeating it
-- after a lost connection gets the same answer instead of a second write.
CREATE TABLE idempotency_key (
    user_id    bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 64),
    op         integer NOT NULL,            -- the request's kind: the same key for another kind is refused
    created_at timestamptz NOT NULL DEFAULT now(),
    response   bytea,                       -- the packed Response; NULL while the write runs
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_key_created ON idempotency_key (created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_key TO kehu_app;
