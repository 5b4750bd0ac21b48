-- Kehu schema 25: the annual review (年末评审), the VIP list and the
-- win-back list (挽回). The rules are in docs/grading.md.
--
-- Two roles join the matrix: committee (the annual review's final word and
-- the VIP list) and finance (confirms credit ratings). A value added to an
-- enum can be used only once the transaction that added it has committed,
-- so this migration commits after adding them and goes on in a second
-- transaction (migrate.c runs the file as one multi-statement string inside
-- its BEGIN ... COMMIT; IF NOT EXISTS makes the first part safe to run again
-- should the second fail).
ALTER TYPE user_role ADD VALUE IF NOT EXISTS 'committee';
ALTER TYPE user_role ADD VALUE IF NOT EXISTS 'finance';
COMMIT;
BEGIN;

-- ---------------------------------------------------------------- the matrix

-- Three actions of the annual review, each over customers:
--   review_rate    a region's first rating: confirm or adjust the proposed ABC grade
--   review_final   the committee's final review, and the VIP list
--   review_credit  confirm or adjust the credit rating (finance)
CREATE OR REPLACE FUNCTION perm_actions() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['read', 'edit', 'reassign', 'override_grade', 'export', 'unmask', 'delete', 'log_contact',
                 'review_rate', 'review_final', 'review_credit', 'admin']
$$;

INSERT INTO role_permission (role, action, scope)
SELECT r::user_role, a, s::perm_scope
  FROM (VALUES
    ('admin',           'review_rate', 'all'), ('admin', 'review_final', 'all'), ('admin', 'review_credit', 'all'),
    ('branch_manager',  'review_rate', 'branch'), ('branch_manager', 'review_final', 'none'),
    ('branch_manager',  'review_credit', 'none'),
    ('account_manager', 'review_rate', 'none'), ('account_manager', 'review_final', 'none'),
    ('account_manager', 'review_credit', 'none'),
    ('service_agent',   'review_rate', 'none'), ('service_agent', 'review_final', 'none'),
    ('service_agent',   'review_credit', 'none'),
    ('auditor',         'review_rate', 'none'), ('auditor', 'review_final', 'none'), ('auditor', 'review_credit', 'none')
  ) d(r, a, s)
ON CONFLICT (role, action) DO NOTHING;

-- The new roles: they read the customers of their region (the whole network
-- from the head office) and do their part of the review, nothing else.
INSERT INTO role_permission (role, action, scope)
SELECT r::user_role, a,
       (CASE WHEN a = 'read' OR (r = 'committee' AND a = 'review_final') OR (r = 'finance' AND a = 'review_credit')
             THEN 'region' ELSE 'none' END)::perm_scope
  FROM unnest(ARRAY['committee', 'finance']) r, unnest(perm_actions()) a
ON CONFLICT (role, action) DO NOTHING;
UPDATE role_permission_version SET version = version + 1;

-- ---------------------------------------------------------------- the review's window

-- Month and day (MMDD) of the window's first and last day, in the review's year.
INSERT INTO grade_policy (position, key, value, type, min, max, choices, description) VALUES
 (90, 'review.window_from', '1225', 'int', 101, 1231, NULL,
  'annual review: first day of the window, as MMDD (1225: 25 December)'),
 (91, 'review.window_to', '1230', 'int', 101, 1231, NULL,
  'annual review: last day of the window, as MMDD (1230: 30 December)');

-- The review's clock: the day of kehu_now() (UTC), which tests move.
CREATE FUNCTION review_today() RETURNS date LANGUAGE sql STABLE AS $$
    SELECT (kehu_now() AT TIME ZONE 'UTC')::date
$$;

-- A day MMDD of a year; a wrong day (0230) is refused naming the key.
CREATE FUNCTION review_day(y integer, mmdd integer, k text) RETURNS date LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN make_date(y, mmdd / 100, mmdd % 100);
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RAISE EXCEPTION '% (%) is not a day of the year: give it as MMDD', k, mmdd USING ERRCODE = 'KH400', COLUMN = k;
END
$$;

-- ---------------------------------------------------------------- the review

CREATE TABLE annual_review (
    id            bigserial PRIMARY KEY,
    year          integer NOT NULL UNIQUE CHECK (year BETWEEN 2000 AND 2200),
    window_from   date NOT NULL,
    window_to     date NOT NULL CHECK (window_to >= window_from),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'final')),
    run_id        bigint NOT NULL,          -- the grading run whose grades it proposes
    opened_by     bigint REFERENCES app_user (id),
    opened_at     timestamptz NOT NULL DEFAULT now(),
    finalized_by  bigint REFERENCES app_user (id),
    finalized_at  timestamptz
);

-- One row per customer under review: the run's proposal, then each step's
-- decision with who took it and why.
CREATE TABLE review_item (
    review_id          bigint NOT NULL REFERENCES annual_review (id),
    customer_id        bigint NOT NULL REFERENCES customer (id),
    branch_id          bigint NOT NULL,
    proposed           text NOT NULL,       -- ABC, as the run computed it
    credit_proposed    text,                -- the run's credit rating (none without credit history)
    rated              text, rated_by bigint REFERENCES app_user (id), rate_reason text, rated_at timestamptz,
    final              text, final_by bigint REFERENCES app_user (id), final_reason text, final_at timestamptz,
    credit             text, credit_by bigint REFERENCES app_user (id), credit_reason text, credit_at timestamptz,
    override_id        bigint REFERENCES grade_override (id),  -- written when the review was finalized
    credit_override_id bigint REFERENCES grade_override (id),
    PRIMARY KEY (review_id, customer_id)
);

-- The VIP list, kept from year to year: each customer listed or withdrawn,
-- with the last decision; every decision in vip_change.
CREATE TABLE vip_list (
    customer_id  bigint PRIMARY KEY REFERENCES customer (id),
    branch_id    bigint NOT NULL,
    status       text NOT NULL CHECK (status IN ('listed', 'withdrawn')),
    reason       text NOT NULL,
    decided_by   bigint NOT NULL REFERENCES app_user (id),
    decided_at   timestamptz NOT NULL DEFAULT now(),
    review_id    bigint REFERENCES annual_review (id)
);
CREATE TABLE vip_change (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customer (id),
    branch_id    bigint NOT NULL,
    review_id    bigint NOT NULL REFERENCES annual_review (id),
    action       text NOT NULL CHECK (action IN ('add', 'withdraw')),
    reason       text NOT NULL,
    decided_by   bigint NOT NULL REFERENCES app_user (id),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vip_change_review ON vip_change (review_id, customer_id);

-- The review of a year (NULL: the latest), refused as a missing one.
CREATE FUNCTION review_get(p_year integer) RETURNS annual_review LANGUAGE plpgsql STABLE AS $$
DECLARE
    rv annual_review;
BEGIN
    SELECT * INTO rv FROM annual_review r WHERE p_year IS NULL OR r.year = p_year ORDER BY r.year DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION '%', CASE WHEN p_year IS NULL THEN 'no annual review yet (kehu review open)'
                                  ELSE 'no annual review of ' || p_year END
            USING ERRCODE = 'KH404', COLUMN = 'year';
    END IF;
    RETURN rv;
END
$$;

-- The review of a year, open and with today in its window, for a decision.
CREATE FUNCTION review_for_decision(p_year integer) RETURNS annual_review LANGUAGE plpgsql STABLE AS $$
DECLARE
    rv annual_review := review_get(p_year);
    today date := review_today();
BEGIN
    IF rv.status <> 'open' THEN
        RAISE EXCEPTION 'the annual review of % is final: its decisions can no longer change', rv.year
            USING ERRCODE = 'KH412', COLUMN = 'year';
    END IF;
    IF today NOT BETWEEN rv.window_from AND rv.window_to THEN
        RAISE EXCEPTION 'the annual review of % takes decisions from % to %, not on %', rv.year, rv.window_from,
            rv.window_to, today USING ERRCODE = 'KH412', COLUMN = 'window';
    END IF;
    RETURN rv;
END
$$;

-- Opens the review of a year: the window (by default the policy's days in
-- that year) must hold today; the last live company-wide grading run
-- proposes every graded customer's ABC grade and credit rating.
CREATE FUNCTION review_open(p_year integer, p_from date, p_to date, actor bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    today date := review_today();
    y integer := coalesce(p_year, extract(year FROM review_today())::integer);
    f date;
    t date;
    run bigint;
    rid bigint;
BEGIN
    IF y < 2000 OR y > 2200 THEN
        RAISE EXCEPTION 'year must be between 2000 and 2200' USING ERRCODE = 'KH400', COLUMN = 'year';
    END IF;
    f := coalesce(p_from, review_day(y, grade_policy_num('review.window_from')::integer, 'review.window_from'));
    t := coalesce(p_to, review_day(y, grade_policy_num('review.window_to')::integer, 'review.window_to'));
    IF t < f THEN
        RAISE EXCEPTION 'the window ends (%) before it begins (%)', t, f USING ERRCODE = 'KH400', COLUMN = 'window_to';
    END IF;
    IF t - f > 62 THEN
        RAISE EXCEPTION 'a review window is at most two months long' USING ERRCODE = 'KH400', COLUMN = 'window_to';
    END IF;
    IF today NOT BETWEEN f AND t THEN
        RAISE EXCEPTION 'the annual review of % opens in its window, % to %, not on %', y, f, t, today
            USING ERRCODE = 'KH412', COLUMN = 'window';
    END IF;
    IF EXISTS (SELECT 1 FROM annual_review r WHERE r.year = y) THEN
        RAISE EXCEPTION 'the annual review of % is already open (kehu review show)', y
            USING ERRCODE = 'KH409', COLUMN = 'year';
    END IF;
    SELECT r.id INTO run FROM grading_run r
     WHERE NOT r.dry_run AND r.duration_ms IS NOT NULL AND r.kind = 'full' AND r.branch_id IS NULL
     ORDER BY r.as_of DESC, r.id DESC LIMIT 1;
    IF run IS NULL THEN
        RAISE EXCEPTION 'no grading run to propose grades: run kehu grade run first' USING ERRCODE = 'KH412',
            COLUMN = 'year';
    END IF;
    INSERT INTO annual_review (year, window_from, window_to, run_id, opened_by) VALUES (y, f, t, run, actor)
    RETURNING id INTO rid;
    INSERT INTO review_item (review_id, customer_id, branch_id, proposed, credit_proposed)
    SELECT rid, g.customer_id, c.branch_id, g.abc, g.credit
      FROM customer_grade g JOIN customer c ON c.id = g.customer_id
     WHERE c.merged_into IS NULL AND c.status <> 'archived'
     ORDER BY g.customer_id;
    RETURN rid;
END
$$;

-- One decision on one customer (the caller checked the step's right on it):
-- step rate (the region's first rating), final (the committee) or credit
-- (finance). An empty grade confirms what the step receives; another grade
-- needs a reason.
CREATE FUNCTION review_decide(p_year integer, cust bigint, p_step text, p_grade text, p_reason text, actor bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rv annual_review := review_for_decision(p_year);
    it review_item;
    before text;
    g text := nullif(btrim(coalesce(p_grade, '')), '');
    why text := nullif(btrim(coalesce(p_reason, '')), '');
    c customer;
BEGIN
    SELECT * INTO it FROM review_item i WHERE i.review_id = rv.id AND i.customer_id = cust FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'customer % is not under the annual review of % (it was not graded when the review opened)',
            cust, rv.year USING ERRCODE = 'KH404', COLUMN = 'customer_id';
    END IF;
    IF p_step IN ('rate', 'final') THEN
        IF g IS NOT NULL AND NOT g = ANY (grade_values('abc')) THEN
            RAISE EXCEPTION 'grade must be A, B or C' USING ERRCODE = 'KH400', COLUMN = 'grade';
        END IF;
        before := CASE p_step WHEN 'rate' THEN it.proposed ELSE coalesce(it.rated, it.proposed) END;
        IF p_step = 'rate' AND it.final IS NOT NULL THEN
            RAISE EXCEPTION 'the committee has decided customer % already: the first rating can no longer change', cust
                USING ERRCODE = 'KH412', COLUMN = 'customer_id';
        END IF;
    ELSIF p_step = 'credit' THEN
        IF g IS NOT NULL AND NOT g = ANY (grade_values('credit')) THEN
            RAISE EXCEPTION 'grade must be a credit rating: %', array_to_string(grade_values('credit'), ', ')
                USING ERRCODE = 'KH400', COLUMN = 'grade';
        END IF;
        before := it.credit_proposed;
        IF g IS NULL AND before IS NULL THEN
            RAISE EXCEPTION 'customer % has no proposed credit rating to confirm: give one with a reason', cust
                USING ERRCODE = 'KH400', COLUMN = 'grade';
        END IF;
    ELSE
        RAISE EXCEPTION 'step must be rate, final or credit' USING ERRCODE = 'KH400', COLUMN = 'step';
    END IF;
    g := coalesce(g, before);
    IF g IS DISTINCT FROM before AND why IS NULL THEN
        RAISE EXCEPTION 'a reason is required to change % from % to %', CASE p_step WHEN 'credit' THEN 'the credit rating'
                        ELSE 'the ABC grade' END, coalesce(before, 'none'), g
            USING ERRCODE = 'KH400', COLUMN = 'reason';
    END IF;
    IF length(why) > 500 THEN
        RAISE EXCEPTION 'reason is at most 500 characters' USING ERRCODE = 'KH400', COLUMN = 'reason';
    END IF;
    IF p_step = 'rate' THEN
        UPDATE review_item SET rated = g, rated_by = actor, rate_reason = why, rated_at = now()
         WHERE review_id = rv.id AND customer_id = cust;
    ELSIF p_step = 'final' THEN
        UPDATE review_item SET final = g, final_by = actor, final_reason = why, final_at = now()
         WHERE review_id = rv.id AND customer_id = cust;
    ELSE
        UPDATE review_item SET credit = g, credit_by = actor, credit_reason = why, credit_at = now()
         WHERE review_id = rv.id AND customer_id = cust;
    END IF;
    SELECT * INTO c FROM customer WHERE id = cust;
    PERFORM kehu_announce_detail('review.decided', c.id, c.branch_id, c.version, c.owner_id, actor,
                                 p_step || ' ' || CASE p_step WHEN 'credit' THEN 'credit' ELSE 'abc' END || ':'
                                 || coalesce(before, '-') || '>' || g);
END
$$;

-- The VIP list changes in the review's window, each change with its reason.
CREATE FUNCTION vip_change_do(cust bigint, p_action text, p_reason text, actor bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    rv annual_review;
    why text := nullif(btrim(coalesce(p_reason, '')), '');
    cur text;
    c customer;
BEGIN
    IF p_action NOT IN ('add', 'withdraw') THEN
        RAISE EXCEPTION 'action must be add or withdraw' USING ERRCODE = 'KH400', COLUMN = 'action';
    END IF;
    IF why IS NULL THEN
        RAISE EXCEPTION 'a reason is required to % a VIP', CASE p_action WHEN 'add' THEN 'add' ELSE 'withdraw' END
            USING ERRCODE = 'KH400', COLUMN = 'reason';
    END IF;
    IF length(why) > 500 THEN
        RAISE EXCEPTION 'reason is at most 500 characters' USING ERRCODE = 'KH400', COLUMN = 'reason';
    END IF;
    -- the open review whose window holds today
    SELECT * INTO rv FROM annual_review r
     WHERE r.status = 'open' AND review_today() BETWEEN r.window_from AND r.window_to ORDER BY r.year DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the VIP list changes in the annual review''s window only (no review is open on %)',
            review_today() USING ERRCODE = 'KH412', COLUMN = 'window';
    END IF;
    SELECT * INTO c FROM customer WHERE id = cust FOR UPDATE;
    SELECT v.status INTO cur FROM vip_list v WHERE v.customer_id = cust;
    IF p_action = 'add' AND cur = 'listed' THEN
        RAISE EXCEPTION 'customer % is on the VIP list already', cust USING ERRCODE = 'KH409', COLUMN = 'customer_id';
    ELSIF p_action = 'withdraw' AND cur IS DISTINCT FROM 'listed' THEN
        RAISE EXCEPTION 'customer % is not on the VIP list', cust USING ERRCODE = 'KH412', COLUMN = 'customer_id';
    END IF;
    INSERT INTO vip_list (customer_id, branch_id, status, reason, decided_by, decided_at, review_id)
    VALUES (cust, c.branch_id, CASE p_action WHEN 'add' THEN 'listed' ELSE 'withdrawn' END, why, actor, now(), rv.id)
    ON CONFLICT (customer_id) DO UPDATE
       SET branch_id = EXCLUDED.branch_id, status = EXCLUDED.status, reason = EXCLUDED.reason,
           decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at, review_id = EXCLUDED.review_id;
    INSERT INTO vip_change (customer_id, branch_id, review_id, action, reason, decided_by)
    VALUES (cust, c.branch_id, rv.id, p_action, why, actor);
    PERFORM kehu_announce_detail('vip.' || CASE p_action WHEN 'add' THEN 'added' ELSE 'withdrawn' END, c.id,
                                 c.branch_id, c.version, c.owner_id, actor, left(why, 200));
END
$$;

-- Finalizes a review: each customer ends with the committee's grade, else
-- the region's, else the run's; where that is not the grade in force, the
-- overrides in force on ABC end and, when it differs from what the rules
-- compute, an override holds it until the end of the next year, asked by
-- whoever rated it and approved by the committee member who finalized.
-- Credit ratings finance confirmed become credit assessments, and an
-- adjusted one an override likewise. Returns how many grades changed.
CREATE FUNCTION review_finalize(p_year integer, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    rv annual_review := review_for_decision(p_year);
    until_d date;
    n bigint;
    nc bigint;
BEGIN
    PERFORM 1 FROM annual_review WHERE id = rv.id FOR UPDATE;
    until_d := make_date(rv.year + 1, 12, 31);
    CREATE TEMP TABLE rv_out ON COMMIT DROP AS
    SELECT i.customer_id, i.branch_id, i.proposed, coalesce(i.final, i.rated, i.proposed) AS outcome,
           grade_of(i.customer_id, 'abc') AS eff, coalesce(i.rated_by, i.final_by) AS asked_by,
           left('annual review ' || rv.year || ': ' || coalesce(CASE WHEN i.final IS NOT NULL THEN i.final_reason END,
                                                                 i.rate_reason, 'confirmed'), 500) AS reason,
           i.credit_by IS NOT NULL AS credit_decided, i.credit_proposed, coalesce(i.credit, i.credit_proposed) AS credit_out,
           grade_of(i.customer_id, 'credit') AS credit_eff, i.credit_by,
           left('annual review ' || rv.year || ': ' || coalesce(i.credit_reason, 'confirmed'), 500) AS credit_reason
      FROM review_item i JOIN customer c ON c.id = i.customer_id
     WHERE i.review_id = rv.id AND c.merged_into IS NULL AND c.status <> 'archived';

    -- ABC
    UPDATE grade_override o SET status = 'revoked', ended_at = now(), ended_by = actor
      FROM rv_out x
     WHERE o.customer_id = x.customer_id AND o.dimension = 'abc' AND o.status IN ('active', 'pending')
       AND x.outcome IS DISTINCT FROM x.eff;
    WITH ins AS (
        INSERT INTO grade_override (customer_id, branch_id, dimension, grade, reason, until, status, requested_by,
                                    approved_by)
        SELECT x.customer_id, x.branch_id, 'abc', x.outcome, x.reason, until_d, 'active', coalesce(x.asked_by, actor), actor
          FROM rv_out x
         WHERE x.outcome IS DISTINCT FROM x.eff AND x.outcome <> x.proposed
         ORDER BY x.customer_id
        RETURNING id, customer_id
    )
    UPDATE review_item i SET override_id = ins.id FROM ins WHERE i.review_id = rv.id AND i.customer_id = ins.customer_id;
    SELECT count(*) INTO n FROM rv_out x WHERE x.outcome IS DISTINCT FROM x.eff;

    -- credit
    UPDATE grade_override o SET status = 'revoked', ended_at = now(), ended_by = actor
      FROM rv_out x
     WHERE x.credit_decided AND o.customer_id = x.customer_id AND o.dimension = 'credit'
       AND o.status IN ('active', 'pending') AND x.credit_out IS DISTINCT FROM x.credit_eff;
    WITH ins AS (
        INSERT INTO grade_override (customer_id, branch_id, dimension, grade, reason, until, status, requested_by,
                                    approved_by)
        SELECT x.customer_id, x.branch_id, 'credit', x.credit_out, x.credit_reason, until_d, 'active', x.credit_by, x.credit_by
          FROM rv_out x
         WHERE x.credit_decided AND x.credit_out IS DISTINCT FROM x.credit_eff
           AND x.credit_out IS DISTINCT FROM x.credit_proposed
         ORDER BY x.customer_id
        RETURNING id, customer_id
    )
    UPDATE review_item i SET credit_override_id = ins.id FROM ins
     WHERE i.review_id = rv.id AND i.customer_id = ins.customer_id;
    INSERT INTO credit_assessment (customer_id, branch_id, grade, notes, reviewer_id, date, override_id)
    SELECT x.customer_id, x.branch_id, x.credit_out, x.credit_reason, x.credit_by, review_today(), i.credit_override_id
      FROM rv_out x JOIN review_item i ON i.review_id = rv.id AND i.customer_id = x.customer_id
     WHERE x.credit_decided
     ORDER BY x.customer_id;
    SELECT count(*) INTO nc FROM rv_out x WHERE x.credit_decided AND x.credit_out IS DISTINCT FROM x.credit_eff;

    -- the grades that changed, announced as grading changes are
    PERFORM kehu_announce_detail('grade.changed', c.id, c.branch_id, c.version, c.owner_id, actor,
                                 concat_ws(' ', CASE WHEN x.outcome IS DISTINCT FROM x.eff
                                                     THEN 'abc:' || coalesce(x.eff, '-') || '>' || x.outcome END,
                                           CASE WHEN x.credit_decided AND x.credit_out IS DISTINCT FROM x.credit_eff
                                                THEN 'credit:' || coalesce(x.credit_eff, '-') || '>' || x.credit_out END)
                                 || ' (annual review)')
       FROM rv_out x JOIN customer c ON c.id = x.customer_id
      WHERE x.outcome IS DISTINCT FROM x.eff OR (x.credit_decided AND x.credit_out IS DISTINCT FROM x.credit_eff);

    UPDATE annual_review SET status = 'final', finalized_by = actor, finalized_at = now() WHERE id = rv.id;
    DROP TABLE rv_out;
    RETURN n + nc;
END
$$;

-- ---------------------------------------------------------------- the win-back list

-- Lost A and B customers: churned by the lifecycle grading, or given up
-- (a churn warning closed as lost). Each stays on the list, with the grade
-- it held and what it was worth, until it is won back (a purchase after the
-- day it was lost) or closed with a reason. One open entry per customer;
-- a loss that was closed is not listed again until the customer has bought
-- once more and is lost anew.
CREATE TABLE winback (
    id            bigserial PRIMARY KEY,
    customer_id   bigint NOT NULL REFERENCES customer (id),
    branch_id     bigint NOT NULL,
    grade         text NOT NULL CHECK (grade IN ('A', 'B')),
    value         numeric(18, 2) NOT NULL DEFAULT 0,
    lost_on       date NOT NULL,
    source        text NOT NULL CHECK (source IN ('lifecycle', 'lost')),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'won_back', 'closed')),
    plan          text,
    close_reason  text,
    closed_by     bigint REFERENCES app_user (id),
    closed_on     date,
    warning_id    bigint REFERENCES churn_warning (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX winback_open ON winback (customer_id) WHERE status = 'open';
CREATE INDEX winback_customer ON winback (customer_id, lost_on);
CREATE INDEX winback_value ON winback (value DESC, id) WHERE status = 'open';

-- The best ABC grade a customer held in the year up to d (the grading
-- history, and the grade in force), A or B; NULL when it held neither.
CREATE FUNCTION winback_grade(cust bigint, d date) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT min(x.g) FROM (
        SELECT h.before[array_position(grade_dims(), 'abc')] AS g FROM grade_history h
         WHERE h.customer_id = cust AND h.as_of > d - 365 AND h.as_of <= d
        UNION ALL
        SELECT h.after[array_position(grade_dims(), 'abc')] FROM grade_history h
         WHERE h.customer_id = cust AND h.as_of > d - 365 AND h.as_of <= d
        UNION ALL
        SELECT grade_of(cust, 'abc')) x
     WHERE x.g IN ('A', 'B')
$$;

-- What a lost customer was worth a year: the revenue of its last year of
-- purchases.
CREATE FUNCTION winback_value(cust bigint) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(t.amount), 0) FROM txn t
     WHERE t.customer_id = cust AND t.reversed_by IS NULL AND t.reverses IS NULL
       AND t.date > (SELECT max(l.date) - 365 FROM txn l WHERE l.customer_id = cust AND l.amount > 0)
$$;

-- Open entries whose customer bought again since the loss are won back;
-- those whose customer went away (merged, archived) close. Cheap (the open
-- entries only): run whenever the list is read. Returns how many were won back.
CREATE FUNCTION winback_won(d date, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    WITH won AS (
        UPDATE winback w SET status = 'won_back', closed_on = b.first_buy
          FROM (SELECT w2.id, min(t.date) AS first_buy
                  FROM winback w2 JOIN txn t ON t.customer_id = w2.customer_id AND t.date > w2.lost_on
                 WHERE w2.status = 'open' AND t.amount > 0 AND t.reversed_by IS NULL AND t.reverses IS NULL
                 GROUP BY w2.id) b
         WHERE w.id = b.id AND w.status = 'open'
        RETURNING w.customer_id, w.grade)
    SELECT count(*) FROM (
        SELECT kehu_announce_detail('winback.won_back', c.id, c.branch_id, c.version, c.owner_id, actor, won.grade)
          FROM won JOIN customer c ON c.id = won.customer_id) x INTO n;
    UPDATE winback w SET status = 'closed', close_reason = 'the customer was merged or archived', closed_on = d
      FROM customer c
     WHERE w.status = 'open' AND c.id = w.customer_id AND (c.merged_into IS NOT NULL OR c.status = 'archived');
    RETURN n;
END
$$;

-- Brings the list up to date as of d: winback_won, then the customers the
-- grading records churned that held A or B in the year before join it:
-- those run p_run found churned (its history rows), or with p_run NULL
-- every customer recorded churned (once, below, for a base graded before
-- the list existed). Announces each change. Returns how many were added.
CREATE FUNCTION winback_sync(d date, actor bigint, p_run bigint DEFAULT NULL) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    lc integer := array_position(grade_dims(), 'lifecycle');
    n bigint;
BEGIN
    PERFORM winback_won(d, actor);
    CREATE TEMP TABLE wb_new ON COMMIT DROP AS
    SELECT g.customer_id, c.branch_id, c.version, c.owner_id,
           coalesce((SELECT max(h.as_of) FROM grade_history h
                      WHERE h.customer_id = g.customer_id AND h.after[lc] = 'churned'
                        AND h.before[lc] IS DISTINCT FROM 'churned'), g.as_of) AS lost_on,
           g.last_purchase
      FROM customer_grade g JOIN customer c ON c.id = g.customer_id
     WHERE g.recorded[lc] = 'churned' AND c.merged_into IS NULL AND c.status <> 'archived'
       AND (p_run IS NULL OR EXISTS (SELECT 1 FROM grade_history h WHERE h.customer_id = g.customer_id
                                        AND h.run_id = p_run AND h.after[lc] = 'churned'))
       AND NOT EXISTS (SELECT 1 FROM winback w WHERE w.customer_id = g.customer_id
                          AND (w.status = 'open' OR w.lost_on >= coalesce(g.last_purchase, '-infinity'::date)));
    WITH ins AS (
        INSERT INTO winback (customer_id, branch_id, grade, value, lost_on, source)
        SELECT x.customer_id, x.branch_id, x.grade, winback_value(x.customer_id), x.lost_on, 'lifecycle'
          FROM (SELECT w.*, winback_grade(w.customer_id, w.lost_on) AS grade FROM wb_new w) x
         WHERE x.grade IS NOT NULL
         ORDER BY x.customer_id
        ON CONFLICT DO NOTHING
        RETURNING customer_id, grade)
    SELECT count(*) FROM (
        SELECT kehu_announce_detail('winback.added', w.customer_id, w.branch_id, w.version, w.owner_id, actor, ins.grade)
          FROM ins JOIN wb_new w ON w.customer_id = ins.customer_id) x INTO n;
    DROP TABLE wb_new;
    RETURN n;
END
$$;

-- A plan for an open entry, or its closing with a reason (given up).
CREATE FUNCTION winback_act(p_id bigint, p_action text, p_text text, actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    w winback;
    c customer;
    txt text := nullif(btrim(coalesce(p_text, '')), '');
BEGIN
    IF p_action NOT IN ('plan', 'close') THEN
        RAISE EXCEPTION 'action must be plan or close' USING ERRCODE = 'KH400', COLUMN = 'action';
    END IF;
    IF txt IS NULL THEN
        RAISE EXCEPTION '%', CASE p_action WHEN 'plan' THEN 'a win-back plan is required'
                                 ELSE 'a reason is required to close a win-back entry' END
            USING ERRCODE = 'KH400', COLUMN = CASE p_action WHEN 'plan' THEN 'plan' ELSE 'reason' END;
    END IF;
    SELECT * INTO w FROM winback WHERE id = p_id FOR UPDATE;
    IF w.status <> 'open' THEN
        RAISE EXCEPTION 'win-back entry % is %: only an open one takes a plan or is closed', p_id,
            replace(w.status, '_', ' ') USING ERRCODE = 'KH412', COLUMN = 'id';
    END IF;
    IF p_action = 'plan' THEN
        UPDATE winback SET plan = txt WHERE id = p_id;
    ELSE
        UPDATE winback SET status = 'closed', close_reason = txt, closed_by = actor, closed_on = review_today()
         WHERE id = p_id;
    END IF;
    SELECT * INTO c FROM customer WHERE id = w.customer_id;
    PERFORM kehu_announce_detail('winback.' || CASE p_action WHEN 'plan' THEN 'planned' ELSE 'closed' END, c.id,
                                 c.branch_id, c.version, c.owner_id, actor, left(txt, 200));
END
$$;

-- In a live grading run's aftermath (its row gets its duration when it is
-- done, inside the run's transaction).
CREATE FUNCTION winback_after_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM winback_sync(NEW.as_of, NEW.started_by, NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER winback_after_run AFTER UPDATE OF duration_ms ON grading_run
    FOR EACH ROW WHEN (OLD.duration_ms IS NULL AND NEW.duration_ms IS NOT NULL AND NOT NEW.dry_run)
    EXECUTE FUNCTION winback_after_run();

-- A churn warning closed as lost: an A or B customer joins the list at once.
CREATE FUNCTION winback_on_lost() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c customer;
    d date := coalesce(NEW.closed_on, review_today());
    g text;
BEGIN
    SELECT * INTO c FROM customer WHERE id = NEW.customer_id;
    g := winback_grade(c.id, d);
    IF g IS NULL OR EXISTS (SELECT 1 FROM winback w WHERE w.customer_id = c.id AND w.status = 'open') THEN
        RETURN NULL;
    END IF;
    INSERT INTO winback (customer_id, branch_id, grade, value, lost_on, source, warning_id, plan)
    VALUES (c.id, c.branch_id, g, greatest(winback_value(c.id), NEW.value_at_risk), d, 'lost', NEW.id, NEW.plan);
    PERFORM kehu_announce_detail('winback.added', c.id, c.branch_id, c.version, c.owner_id, c.updated_by, g);
    RETURN NULL;
END
$$;
CREATE TRIGGER winback_on_lost_insert AFTER INSERT ON churn_warning
    FOR EACH ROW WHEN (NEW.status = 'lost') EXECUTE FUNCTION winback_on_lost();
CREATE TRIGGER winback_on_lost_update AFTER UPDATE OF status ON churn_warning
    FOR EACH ROW WHEN (NEW.status = 'lost' AND OLD.status IS DISTINCT FROM 'lost') EXECUTE FUNCTION winback_on_lost();

-- A base graded before the list existed: its lost A and B customers now.
SELECT winback_sync(current_date, NULL);
