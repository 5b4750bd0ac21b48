-- Kehu schema 6: the grading engine. The rules are in docs/grading.md; this
-- file is their one implementation: grade_run evaluates every live customer
-- in one set-based pass (aggregates over txn, window functions for the
-- ranking) inside the caller's transaction, so a dry run is the same run
-- rolled back.
--
-- Storage:
--   grade_policy      the rule book's numbers, key = value, validated here
--   festival          the lunar festivals' Gregorian dates (care tasks)
--   grading_run       one row per run: parameters, counts, moves, duration
--   customer_grade    per customer, what the last run computed (the rules'
--                     grades before overrides, the inputs, and `recorded`:
--                     the effective grades the history last recorded)
--   grade_history     one row per customer and run whose effective grades
--                     changed: before and after, as arrays in grade_dims() order
--   grade_override    grades set by hand, pending approval or in force
--   credit_assessment reviews of a customer's credit
--   churn_warning     one open warning per customer at most
--
-- Effective grade = the override in force, else the computed grade. Reading
-- paths overlay the overrides in force today (grade_of, grade_now), so an
-- override or its expiry shows at once, without waiting for a run and
-- without touching customer_grade, which a run may be rewriting.

-- The dimensions, in the order of the history arrays.
CREATE FUNCTION grade_dims() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['abc', 'volume', 'value_tier', 'asset_tier', 'lifecycle', 'credit', 'needs', 'potential', 'influence']
$$;

-- The grades a dimension takes, best first.
CREATE FUNCTION grade_values(dim text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE dim
        WHEN 'abc' THEN ARRAY['A', 'B', 'C']
        WHEN 'volume' THEN ARRAY['A', 'B', 'C', 'D']
        WHEN 'value_tier' THEN ARRAY['high', 'medium', 'low']
        WHEN 'asset_tier' THEN ARRAY['vip', 'wealth', 'general']
        WHEN 'lifecycle' THEN ARRAY['new', 'active', 'loyal', 'silent', 'churned', 'won_back']
        WHEN 'credit' THEN ARRAY['AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC', 'CC', 'C']
        WHEN 'needs' THEN ARRAY['price', 'quality', 'service']
        WHEN 'potential' THEN ARRAY['high', 'low']
        WHEN 'influence' THEN ARRAY['high', 'medium', 'low']
    END
$$;

-- ---------------------------------------------------------------- policy

CREATE TABLE grade_policy (
    key          text PRIMARY KEY,
    value        text NOT NULL,
    type         text NOT NULL CHECK (type IN ('int', 'num', 'choice')),
    min          numeric,
    max          numeric,
    choices      text[],
    description  text NOT NULL,
    position     integer NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   bigint REFERENCES app_user (id)
);

INSERT INTO grade_policy (position, key, value, type, min, max, choices, description) VALUES
 (1, 'abc.metric', 'revenue', 'choice', NULL, NULL, '{revenue,margin}', 'ABC ranks customers by revenue or by margin'),
 (2, 'abc.scope', 'company', 'choice', NULL, NULL, '{company,branch}', 'ABC ranks across the company or within each branch'),
 (3, 'abc.window_months', '12', 'int', 1, 120, NULL, 'ABC metric window, months back from the evaluation date'),
 (4, 'abc.a_share', '0.05', 'num', 0, 1, NULL, 'share of ranked customers graded A'),
 (5, 'abc.b_share', '0.20', 'num', 0, 1, NULL, 'share of ranked customers graded A or B'),
 (6, 'new_months', '6', 'int', 0, 120, NULL, 'a relationship younger than this is new (C, outside the ranking)'),
 (10, 'volume.a_min', '1000000', 'num', 0, 1e13, NULL, 'annual sales (yuan) for volume A'),
 (11, 'volume.b_min', '200000', 'num', 0, 1e13, NULL, 'annual sales (yuan) for volume B'),
 (12, 'volume.c_min', '50000', 'num', 0, 1e13, NULL, 'annual sales (yuan) for volume C; below: D'),
 (20, 'score.w_volume', '0.5', 'num', 0, 100, NULL, 'composite score: weight of the volume grade'),
 (21, 'score.w_credit', '0.3', 'num', 0, 100, NULL, 'composite score: weight of the credit grade'),
 (22, 'score.w_influence', '0.2', 'num', 0, 100, NULL, 'composite score: weight of the influence'),
 (23, 'value.high_min', '70', 'num', 0, 100, NULL, 'composite score for value tier high'),
 (24, 'value.medium_min', '40', 'num', 0, 100, NULL, 'composite score for value tier medium; below: low'),
 (30, 'asset.general_min', '100000', 'num', 0, 1e13, NULL, 'AUM (yuan) for asset tier general'),
 (31, 'asset.wealth_min', '500000', 'num', 0, 1e13, NULL, 'AUM (yuan) for asset tier wealth'),
 (32, 'asset.vip_min', '2000000', 'num', 0, 1e13, NULL, 'AUM (yuan) for asset tier vip'),
 (40, 'lifecycle.silent_days', '90', 'int', 1, 3650, NULL, 'days without a purchase before a customer is silent'),
 (41, 'lifecycle.churned_days', '365', 'int', 1, 3650, NULL, 'days without a purchase before a customer is churned'),
 (42, 'lifecycle.loyal_days', '730', 'int', 1, 36500, NULL, 'relationship length (days) for loyal'),
 (43, 'lifecycle.loyal_months', '6', 'int', 1, 12, NULL, 'months with purchases among the last 12 for loyal'),
 (50, 'credit.b_days', '30', 'int', 1, 3650, NULL, 'days overdue for credit B at best'),
 (51, 'credit.ccc_days', '60', 'int', 1, 3650, NULL, 'days overdue for credit CCC'),
 (52, 'credit.cc_days', '90', 'int', 1, 3650, NULL, 'days overdue for credit CC'),
 (53, 'credit.c_days', '180', 'int', 1, 3650, NULL, 'days overdue for credit C'),
 (60, 'needs.service_contacts', '6', 'int', 1, 10000, NULL, 'follow-ups done in the ABC window for needs service'),
 (61, 'needs.price_margin', '0.10', 'num', -100, 100, NULL, 'margin / sales below this: needs price'),
 (62, 'needs.quality_margin', '0.30', 'num', -100, 100, NULL, 'margin / sales at least this: needs quality'),
 (63, 'potential.growth', '0.20', 'num', 0, 100, NULL, 'growth from the first to the second half of the ABC window for potential high'),
 (70, 'churn.recent_days', '90', 'int', 7, 3650, NULL, 'churn warning: the recent window (days)'),
 (71, 'churn.baseline_days', '365', 'int', 7, 3650, NULL, 'churn warning: the baseline before the recent window (days)'),
 (72, 'churn.drop_share', '0.5', 'num', 0, 1, NULL, 'churn warning: a fall of at least this share below the baseline'),
 (73, 'churn.min_baseline', '3', 'int', 1, 100000, NULL, 'churn warning: purchases the baseline needs'),
 (74, 'churn.complaints', '2', 'int', 1, 1000, NULL, 'churn warning: complaints in the recent window'),
 (75, 'churn.satisfaction_drop', '1', 'num', 0, 10, NULL, 'churn warning: fall of the average satisfaction (1-5) below the baseline'),
 (80, 'run.event_limit', '5000', 'int', 0, 10000000, NULL, 'a run changing more customers announces per branch instead'),
 (81, 'schedule.full', 'monthly', 'choice', NULL, NULL, '{monthly,off}', 'full runs by the schedule (the first in each month)'),
 (82, 'schedule.lifecycle', 'daily', 'choice', NULL, NULL, '{daily,off}', 'lifecycle runs by the schedule (the first each day)'),
 (100, 'service.A.visit_days', '30', 'int', 0, 3650, NULL, 'grade A: a visit at least every N days (0 none)'),
 (101, 'service.A.call_days', '14', 'int', 0, 3650, NULL, 'grade A: a contact at least every N days (0 none)'),
 (102, 'service.A.dedicated', '1', 'int', 0, 1, NULL, 'grade A: a dedicated account manager is required'),
 (103, 'service.A.complaint_priority', '1', 'int', 1, 4, NULL, 'grade A: complaint priority (1 highest)'),
 (104, 'service.A.sla_factor', '0.5', 'num', 0.1, 10, NULL, 'grade A: factor on case SLA times'),
 (105, 'service.A.review_days', '30', 'int', 0, 3650, NULL, 'grade A: a manager reviews the customer every N days'),
 (106, 'service.A.care', 'gift', 'choice', NULL, NULL, '{gift,greeting,none}', 'grade A: birthday and festival care'),
 (110, 'service.B.visit_days', '0', 'int', 0, 3650, NULL, 'grade B: a visit at least every N days (0 none)'),
 (111, 'service.B.call_days', '30', 'int', 0, 3650, NULL, 'grade B: a contact at least every N days (0 none)'),
 (112, 'service.B.dedicated', '0', 'int', 0, 1, NULL, 'grade B: a dedicated account manager is required'),
 (113, 'service.B.complaint_priority', '2', 'int', 1, 4, NULL, 'grade B: complaint priority (1 highest)'),
 (114, 'service.B.sla_factor', '0.75', 'num', 0.1, 10, NULL, 'grade B: factor on case SLA times'),
 (115, 'service.B.review_days', '90', 'int', 0, 3650, NULL, 'grade B: a manager reviews the customer every N days'),
 (116, 'service.B.care', 'greeting', 'choice', NULL, NULL, '{gift,greeting,none}', 'grade B: birthday and festival care'),
 (120, 'service.C.visit_days', '0', 'int', 0, 3650, NULL, 'grade C: a visit at least every N days (0 none)'),
 (121, 'service.C.call_days', '90', 'int', 0, 3650, NULL, 'grade C: a contact at least every N days (0 none)'),
 (122, 'service.C.dedicated', '0', 'int', 0, 1, NULL, 'grade C: a dedicated account manager is required'),
 (123, 'service.C.complaint_priority', '3', 'int', 1, 4, NULL, 'grade C: complaint priority (1 highest)'),
 (124, 'service.C.sla_factor', '1', 'num', 0.1, 10, NULL, 'grade C: factor on case SLA times'),
 (125, 'service.C.review_days', '180', 'int', 0, 3650, NULL, 'grade C: a manager reviews the customer every N days'),
 (126, 'service.C.care', 'none', 'choice', NULL, NULL, '{gift,greeting,none}', 'grade C: birthday and festival care');

CREATE FUNCTION grade_policy_num(k text) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT value::numeric FROM grade_policy WHERE key = k
$$;

CREATE FUNCTION grade_policy_text(k text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT value FROM grade_policy WHERE key = k
$$;

-- Sets several keys at once, all or none: each value is checked against its
-- key's type and range, then the relations between keys. A refusal is SQL
-- state 22023 with a message naming the key.
CREATE FUNCTION grade_policy_set(keys text[], vals text[], actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p    grade_policy;
    v    text;
    n    numeric;
    i    integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        SELECT * INTO p FROM grade_policy WHERE key = keys[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown policy key "%" (see kehu grade policy show)', keys[i] USING ERRCODE = '22023';
        END IF;
        v := btrim(vals[i]);
        IF p.type = 'choice' THEN
            IF NOT v = ANY (p.choices) THEN
                RAISE EXCEPTION '% must be one of %', p.key, array_to_string(p.choices, ', ') USING ERRCODE = '22023';
            END IF;
        ELSE
            IF v !~ (CASE p.type WHEN 'int' THEN '^-?[0-9]{1,12}$' ELSE '^-?([0-9]{1,14}(\.[0-9]{0,6})?|\.[0-9]{1,6})$' END) THEN
                RAISE EXCEPTION '% must be %, not "%"', p.key,
                    CASE p.type WHEN 'int' THEN 'a whole number' ELSE 'a number' END, v USING ERRCODE = '22023';
            END IF;
            n := v::numeric;
            IF n < p.min OR n > p.max THEN
                RAISE EXCEPTION '% must be between % and %', p.key, p.min, p.max USING ERRCODE = '22023';
            END IF;
            v := n::text;
        END IF;
        UPDATE grade_policy SET value = v, updated_at = now(), updated_by = actor WHERE key = p.key;
    END LOOP;
    -- relations that must hold between keys
    IF grade_policy_num('abc.a_share') > grade_policy_num('abc.b_share') THEN
        RAISE EXCEPTION 'abc.a_share must not exceed abc.b_share' USING ERRCODE = '22023';
    ELSIF NOT (grade_policy_num('volume.a_min') >= grade_policy_num('volume.b_min')
               AND grade_policy_num('volume.b_min') >= grade_policy_num('volume.c_min')) THEN
        RAISE EXCEPTION 'volume thresholds must not increase from A to C (a_min >= b_min >= c_min)' USING ERRCODE = '22023';
    ELSIF NOT (grade_policy_num('asset.vip_min') >= grade_policy_num('asset.wealth_min')
               AND grade_policy_num('asset.wealth_min') >= grade_policy_num('asset.general_min')) THEN
        RAISE EXCEPTION 'asset thresholds must satisfy vip_min >= wealth_min >= general_min' USING ERRCODE = '22023';
    ELSIF grade_policy_num('value.high_min') < grade_policy_num('value.medium_min') THEN
        RAISE EXCEPTION 'value.high_min must not be below value.medium_min' USING ERRCODE = '22023';
    ELSIF grade_policy_num('lifecycle.silent_days') >= grade_policy_num('lifecycle.churned_days') THEN
        RAISE EXCEPTION 'lifecycle.silent_days must be below lifecycle.churned_days' USING ERRCODE = '22023';
    ELSIF NOT (grade_policy_num('credit.b_days') <= grade_policy_num('credit.ccc_days')
               AND grade_policy_num('credit.ccc_days') <= grade_policy_num('credit.cc_days')
               AND grade_policy_num('credit.cc_days') <= grade_policy_num('credit.c_days')) THEN
        RAISE EXCEPTION 'credit days must satisfy b_days <= ccc_days <= cc_days <= c_days' USING ERRCODE = '22023';
    ELSIF grade_policy_num('score.w_volume') + grade_policy_num('score.w_credit') + grade_policy_num('score.w_influence') <= 0 THEN
        RAISE EXCEPTION 'the score weights must not all be zero' USING ERRCODE = '22023';
    ELSIF grade_policy_num('needs.price_margin') > grade_policy_num('needs.quality_margin') THEN
        RAISE EXCEPTION 'needs.price_margin must not exceed needs.quality_margin' USING ERRCODE = '22023';
    END IF;
END
$$;

-- The lunar festivals' dates. Care tasks fall on them.
CREATE TABLE festival (
    date      date PRIMARY KEY,
    occasion  text NOT NULL CHECK (occasion IN ('spring_festival', 'mid_autumn'))
);
INSERT INTO festival (date, occasion) VALUES
 ('2010-02-14', 'spring_festival'), ('2011-02-03', 'spring_festival'), ('2012-01-23', 'spring_festival'),
 ('2013-02-10', 'spring_festival'), ('2014-01-31', 'spring_festival'), ('2015-02-19', 'spring_festival'),
 ('2016-02-08', 'spring_festival'), ('2017-01-28', 'spring_festival'), ('2018-02-16', 'spring_festival'),
 ('2019-02-05', 'spring_festival'), ('2020-01-25', 'spring_festival'), ('2021-02-12', 'spring_festival'),
 ('2022-02-01', 'spring_festival'), ('2023-01-22', 'spring_festival'), ('2024-02-10', 'spring_festival'),
 ('2025-01-29', 'spring_festival'), ('2026-02-17', 'spring_festival'), ('2027-02-06', 'spring_festival'),
 ('2028-01-26', 'spring_festival'), ('2029-02-13', 'spring_festival'), ('2030-02-03', 'spring_festival'),
 ('2031-01-23', 'spring_festival'), ('2032-02-11', 'spring_festival'), ('2033-01-31', 'spring_festival'),
 ('2034-02-19', 'spring_festival'), ('2035-02-08', 'spring_festival'),
 ('2010-09-22', 'mid_autumn'), ('2011-09-12', 'mid_autumn'), ('2012-09-30', 'mid_autumn'),
 ('2013-09-19', 'mid_autumn'), ('2014-09-08', 'mid_autumn'), ('2015-09-27', 'mid_autumn'),
 ('2016-09-15', 'mid_autumn'), ('2017-10-04', 'mid_autumn'), ('2018-09-24', 'mid_autumn'),
 ('2019-09-13', 'mid_autumn'), ('2020-10-01', 'mid_autumn'), ('2021-09-21', 'mid_autumn'),
 ('2022-09-10', 'mid_autumn'), ('2023-09-29', 'mid_autumn'), ('2024-09-17', 'mid_autumn'),
 ('2025-10-06', 'mid_autumn'), ('2026-09-25', 'mid_autumn'), ('2027-09-15', 'mid_autumn'),
 ('2028-10-03', 'mid_autumn'), ('2029-09-22', 'mid_autumn'), ('2030-09-12', 'mid_autumn'),
 ('2031-10-01', 'mid_autumn'), ('2032-09-19', 'mid_autumn'), ('2033-09-08', 'mid_autumn'),
 ('2034-09-27', 'mid_autumn'), ('2035-09-16', 'mid_autumn');

-- ---------------------------------------------------------------- runs and grades

CREATE TABLE grading_run (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('full', 'lifecycle')),
    as_of            date NOT NULL,
    dry_run          boolean NOT NULL DEFAULT false,
    params           jsonb NOT NULL,
    counts           jsonb,          -- [{dimension, grade, customers}]
    moves            jsonb,          -- [{dimension, from, to, customers}]
    customers        bigint,
    changed          bigint,
    warnings_raised  bigint,
    started_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration_ms      bigint,
    started_by       bigint REFERENCES app_user (id)
);

-- Derived data, written only by grade_run: no foreign keys, whose checks
-- would cost a lookup per row of a million-row run.
CREATE TABLE customer_grade (
    customer_id    bigint PRIMARY KEY,
    branch_id      bigint NOT NULL,
    run_id         bigint NOT NULL,
    as_of          date NOT NULL,
    -- the rules' grades (before overrides)
    abc            text NOT NULL,
    abc_new        boolean NOT NULL,
    volume         text NOT NULL,
    value_tier     text NOT NULL,
    asset_tier     text,
    lifecycle      text NOT NULL,
    credit         text,
    needs          text,
    potential      text,
    -- the inputs
    score          numeric(4, 1) NOT NULL,
    metric         numeric(18, 2) NOT NULL,
    sales          numeric(18, 2) NOT NULL,
    aum            numeric(18, 2) NOT NULL,
    since          date NOT NULL,
    last_purchase  date,
    -- the effective grades (grade_dims() order) the history last recorded
    recorded       text[] NOT NULL
) WITH (fillfactor = 90);

CREATE TABLE grade_history (
    customer_id  bigint NOT NULL,
    run_id       bigint NOT NULL,
    branch_id    bigint NOT NULL,
    as_of        date NOT NULL,
    before       text[],          -- NULL: not graded before
    after        text[],          -- NULL: no longer graded (archived, merged)
    PRIMARY KEY (customer_id, run_id)
);

CREATE TABLE grade_override (
    id            bigserial PRIMARY KEY,
    customer_id   bigint NOT NULL REFERENCES customer (id),
    branch_id     bigint NOT NULL,
    dimension     text NOT NULL CHECK (dimension = ANY (grade_dims())),
    grade         text NOT NULL CHECK (grade = ANY (grade_values(dimension))),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    until         date,
    status        text NOT NULL CHECK (status IN ('pending', 'active', 'rejected', 'revoked')),
    requested_by  bigint REFERENCES app_user (id),
    approved_by   bigint REFERENCES app_user (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    ended_by      bigint REFERENCES app_user (id)
);
CREATE INDEX grade_override_customer ON grade_override (customer_id, dimension, id) WHERE status IN ('pending', 'active');
CREATE INDEX grade_override_pending ON grade_override (branch_id, id) WHERE status = 'pending';

CREATE TABLE credit_assessment (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customer (id),
    branch_id    bigint NOT NULL,
    grade        text NOT NULL CHECK (grade = ANY (grade_values('credit'))),
    notes        text,
    reviewer_id  bigint NOT NULL REFERENCES app_user (id),
    date         date NOT NULL DEFAULT current_date,
    override_id  bigint REFERENCES grade_override (id),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_assessment_customer ON credit_assessment (customer_id, id);

CREATE TABLE churn_warning (
    id            bigserial PRIMARY KEY,
    customer_id   bigint NOT NULL REFERENCES customer (id),
    branch_id     bigint NOT NULL,
    run_id        bigint,          -- the run that raised it
    raised_on     date NOT NULL,
    reasons       text[] NOT NULL,
    -- closed: the customer was merged into another or archived
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'recovered', 'lost', 'closed')),
    plan          text,
    acked_by      bigint REFERENCES app_user (id),
    acked_at      timestamptz,
    lost_reason   text CHECK (lost_reason IN ('dropped', 'needs_unmet', 'competitor_offer', 'lower_price', 'circumstances')),
    note          text,
    closed_on     date,
    followup_id   bigint REFERENCES followup (id)
);
CREATE UNIQUE INDEX churn_warning_open ON churn_warning (customer_id) WHERE status IN ('open', 'acknowledged');
CREATE INDEX churn_warning_branch ON churn_warning (branch_id, id);

-- The override in force on a dimension on a date, if any.
CREATE FUNCTION grade_override_on(cust bigint, dim text, at date) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT o.grade FROM grade_override o
     WHERE o.customer_id = cust AND o.dimension = dim AND o.status = 'active' AND (o.until IS NULL OR o.until >= at)
     ORDER BY o.id DESC LIMIT 1
$$;

-- A customer's effective grade on a dimension today ('abc' ... 'influence').
-- One expression without FROM, so that the planner inlines it into the
-- query that calls it (as a function call it costs far more).
CREATE FUNCTION grade_of(cust bigint, dim text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT o.grade FROM grade_override o
                      WHERE o.customer_id = cust AND o.dimension = dim AND o.status = 'active'
                        AND (o.until IS NULL OR o.until >= current_date)
                      ORDER BY o.id DESC LIMIT 1),
                    (SELECT CASE dim WHEN 'abc' THEN g.abc WHEN 'volume' THEN g.volume WHEN 'value_tier' THEN g.value_tier
                                     WHEN 'asset_tier' THEN g.asset_tier WHEN 'lifecycle' THEN g.lifecycle
                                     WHEN 'credit' THEN g.credit WHEN 'needs' THEN g.needs
                                     WHEN 'potential' THEN g.potential END
                       FROM customer_grade g WHERE g.customer_id = cust))
$$;

-- A customer's grades today, one row per dimension that has one.
CREATE FUNCTION grade_now(cust bigint)
RETURNS TABLE (dimension text, grade text, computed text, overridden boolean, is_new boolean) LANGUAGE sql STABLE AS $$
    SELECT d.dim, coalesce(o.g, d.computed), d.computed, o.g IS NOT NULL, d.dim = 'abc' AND o.g IS NULL AND d.is_new
      FROM (SELECT u.dim, u.computed, u.i, coalesce(g.abc_new, false) AS is_new
              FROM (SELECT 1) one
              LEFT JOIN customer_grade g ON g.customer_id = cust
              CROSS JOIN LATERAL unnest(grade_dims(),
                                        ARRAY[g.abc, g.volume, g.value_tier, g.asset_tier, g.lifecycle, g.credit,
                                              g.needs, g.potential, NULL]) WITH ORDINALITY u(dim, computed, i)) d
      LEFT JOIN LATERAL (SELECT grade_override_on(cust, d.dim, current_date) AS g) o ON true
     WHERE coalesce(o.g, d.computed) IS NOT NULL
     ORDER BY d.i
$$;

-- Announces a grading event: like kehu_announce, with a detail at the end.
CREATE FUNCTION kehu_announce_detail(kind text, customer_id bigint, branch_id bigint, version bigint, owner_id bigint,
                                     actor bigint, detail text) RETURNS void LANGUAGE sql AS $$
    -- by position: org_unit has columns of the parameters' names
    SELECT pg_notify('kehu', concat_ws(' ', $1, $2, $3, $4, coalesce($5, 0), coalesce($6, 0),
                                       (SELECT o.path::text FROM org_unit o WHERE o.id = $3), $7))
$$;

-- "abc:B>A lifecycle:active>silent": what changed between two grade arrays.
CREATE FUNCTION grade_change_text(before text[], after text[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(d.dim || ':' || coalesce(before[d.i], '-') || '>' || coalesce(after[d.i], '-'), ' ' ORDER BY d.i)
      FROM unnest(grade_dims()) WITH ORDINALITY d(dim, i)
     WHERE before[d.i] IS DISTINCT FROM after[d.i]
$$;

-- ---------------------------------------------------------------- the run

-- Runs a grading of kind 'full' or 'lifecycle' as of a date, inside the
-- caller's transaction (a dry run is rolled back by the caller), and returns
-- the run's id. Progress goes out as notices "kehu.progress STEP/7 WHAT".
-- Only one run at a time: a second gets SQL state 55P03. The policy is read
-- once into variables (plain values in the statements, not a lookup a row).
CREATE FUNCTION grade_run(p_kind text, d date, p_dry boolean, actor bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    run          bigint;
    t0           timestamptz := clock_timestamp();
    pol          jsonb;
    by_margin    boolean := grade_policy_text('abc.metric') = 'margin';
    by_branch    boolean := grade_policy_text('abc.scope') = 'branch';
    a_share      numeric := grade_policy_num('abc.a_share');
    b_share      numeric := grade_policy_num('abc.b_share');
    new_start    date := d - make_interval(months => grade_policy_num('new_months')::integer);
    vol_a        numeric := grade_policy_num('volume.a_min');
    vol_b        numeric := grade_policy_num('volume.b_min');
    vol_c        numeric := grade_policy_num('volume.c_min');
    w_vol        numeric := grade_policy_num('score.w_volume');
    w_credit     numeric := grade_policy_num('score.w_credit');
    w_infl       numeric := grade_policy_num('score.w_influence');
    high_min     numeric := grade_policy_num('value.high_min');
    medium_min   numeric := grade_policy_num('value.medium_min');
    general_min  numeric := grade_policy_num('asset.general_min');
    wealth_min   numeric := grade_policy_num('asset.wealth_min');
    vip_min      numeric := grade_policy_num('asset.vip_min');
    silent       integer := grade_policy_num('lifecycle.silent_days');
    churned      integer := grade_policy_num('lifecycle.churned_days');
    loyal_days   integer := grade_policy_num('lifecycle.loyal_days');
    loyal_months integer := grade_policy_num('lifecycle.loyal_months');
    b_days       integer := grade_policy_num('credit.b_days');
    ccc_days     integer := grade_policy_num('credit.ccc_days');
    cc_days      integer := grade_policy_num('credit.cc_days');
    c_days       integer := grade_policy_num('credit.c_days');
    svc_contacts integer := grade_policy_num('needs.service_contacts');
    price_margin numeric := grade_policy_num('needs.price_margin');
    qual_margin  numeric := grade_policy_num('needs.quality_margin');
    grown        numeric := 1 + grade_policy_num('potential.growth');
    recent       integer := grade_policy_num('churn.recent_days');
    baseline     integer := grade_policy_num('churn.baseline_days');
    ev_limit     bigint := grade_policy_num('run.event_limit');
    w_months     integer := grade_policy_num('abc.window_months');
    w_start      date := d - make_interval(months => w_months);
    w_mid        date := d - make_interval(months => w_months) / 2;
    y_start      date := d - interval '12 months';
    m12_start    date := date_trunc('month', d) - interval '11 months';
    -- the first days of the 12 calendar months ending with d's month (loyal)
    m_starts     date[] := ARRAY(SELECT (m12_start + make_interval(months => i))::date FROM generate_series(0, 11) i);
    full_run     boolean := p_kind = 'full';
    n_graded     bigint;
    n_kept       bigint;
    n_gone       bigint;
    n_changed    bigint;
    n_warned     bigint;
BEGIN
    IF p_kind NOT IN ('full', 'lifecycle') THEN
        RAISE EXCEPTION 'the kind of run must be full or lifecycle' USING ERRCODE = '22023';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('kehu.grade_run')) THEN
        RAISE EXCEPTION 'another grading run is in progress' USING ERRCODE = '55P03';
    END IF;
    SELECT jsonb_object_agg(key, value ORDER BY position) INTO pol FROM grade_policy WHERE key NOT LIKE 'service.%';
    -- the follow-ups it plans announce through the run's own events, not one by one
    PERFORM set_config('kehu.bulk', 'on', true);
    INSERT INTO grading_run (kind, as_of, dry_run, params, started_by)
    VALUES (p_kind, d, p_dry, pol, actor) RETURNING id INTO run;

    RAISE NOTICE 'kehu.progress 1/5 transactions';
    -- The population (live customers whose relationship started by d) with,
    -- per customer, everything the rules need from its transactions, in one
    -- pass over txn (rows dated after d do not count). The pass costs by the
    -- row and by the customer held in memory (a numeric sum's state is
    -- large), so: the date tests come before the numeric amount > 0, which
    -- most rows then skip; the window's revenue is the sum of its halves, and
    -- the 12 months' sales are that revenue when the window is 12 months
    -- long; sum(margin) is NULL when no margin was recorded; the months with
    -- purchases are a bit mask (width_bucket over the months' first days).
    CREATE TEMP TABLE gr_cust ON COMMIT DROP AS
    SELECT c.id, c.branch_id, c.owner_id, c.version, c.status, s.start, s.start > new_start AS is_new,
           coalesce(CASE WHEN by_margin THEN t.margin_w ELSE t.rev_w END, 0) AS metric,
           coalesce(t.rev_w, 0) AS rev_w, coalesce(t.margin_w, 0) AS margin_w,
           t.margin_w IS NOT NULL AS has_margin,
           coalesce(CASE WHEN y_start = w_start THEN t.rev_w ELSE t.sales_y END, 0) AS sales,
           coalesce(t.half1, 0) AS half1, coalesce(t.half2, 0) AS half2,
           t.last_purchase, t.last_before, t.first_recent, coalesce(t.months, 0) AS months,
           coalesce(t.recent_n, 0) AS recent_n, coalesce(t.recent_amt, 0) AS recent_amt,
           coalesce(t.base_n, 0) AS base_n, coalesce(t.base_amt, 0) AS base_amt
      FROM customer c
      LEFT JOIN (SELECT t.customer_id,
                        min(t.date) AS first_date,
                        max(t.date) FILTER (WHERE t.amount > 0) AS last_purchase,
                        max(t.date) FILTER (WHERE t.date <= d - silent AND t.amount > 0) AS last_before,
                        min(t.date) FILTER (WHERE t.date > d - silent AND t.amount > 0) AS first_recent,
                        coalesce(sum(t.amount) FILTER (WHERE t.date > w_start AND t.date <= w_mid), 0) AS half1,
                        coalesce(sum(t.amount) FILTER (WHERE t.date > w_mid), 0) AS half2,
                        coalesce(sum(t.amount) FILTER (WHERE t.date > w_start AND t.date <= w_mid), 0)
                        + coalesce(sum(t.amount) FILTER (WHERE t.date > w_mid), 0) AS rev_w,
                        sum(t.margin) FILTER (WHERE t.date > w_start) AS margin_w,
                        coalesce(sum(t.amount) FILTER (WHERE y_start <> w_start AND t.date > y_start), 0) AS sales_y,
                        bit_or(1 << (12 - width_bucket(t.date, m_starts)))
                            FILTER (WHERE t.date >= m12_start AND t.amount > 0) AS months,
                        count(*) FILTER (WHERE t.date > d - recent AND t.amount > 0) AS recent_n,
                        sum(t.amount) FILTER (WHERE t.date > d - recent AND t.amount > 0) AS recent_amt,
                        count(*) FILTER (WHERE t.date > d - recent - baseline AND t.date <= d - recent
                                           AND t.amount > 0) AS base_n,
                        sum(t.amount) FILTER (WHERE t.date > d - recent - baseline AND t.date <= d - recent
                                                AND t.amount > 0) AS base_amt
                   FROM txn t
                  WHERE t.date <= d
                  GROUP BY t.customer_id) t ON t.customer_id = c.id
     CROSS JOIN LATERAL (SELECT least(c.since, coalesce(t.first_date, c.since)) AS start) s
     WHERE c.merged_into IS NULL AND c.status <> 'archived' AND s.start <= d;
    GET DIAGNOSTICS n_graded = ROW_COUNT;
    ANALYZE gr_cust;

    RAISE NOTICE 'kehu.progress 2/5 grading';
    -- One statement from here to the effective grades and what changed
    -- since the last run (CTEs referenced once are folded into one plan;
    -- nothing in between is written out). Every join over the million
    -- customers costs, so there are few:
    --   cut, ab  the ABC rank among the customers that are not new, in the
    --            company or the branch (part), on narrow rows: only those
    --            graded A or B come out (the cuts are counted apart, so the
    --            window does not hold a whole partition)
    --   x        the (few) customers with credit (customer_arrears), assets
    --            (customer_aum), follow-ups done in the window or overrides
    --            in force on d, one row each: one join below instead of four
    --   i        the population with these inputs
    --   r        the rules' grades, or for a lifecycle run those the last run
    --            computed (all but the lifecycle)
    --   sc, e    the effective grades (overrides over the rules); the score
    --            and value tier looked up in a table of the 4 × 10 × 3
    --            combinations of volume, credit and influence (rather than
    --            numeric arithmetic for each customer)
    -- and at the end what the last run stored (customer_grade): whether the
    -- history must record a change (eff_changed) and whether the stored row
    -- must be rewritten (row_changed).
    CREATE TEMP TABLE gr_new ON COMMIT DROP AS
    WITH cut AS (
        SELECT x.part, floor(count(*) * a_share)::bigint AS a_n, floor(count(*) * b_share)::bigint AS b_n
          FROM (SELECT CASE WHEN by_branch THEN c.branch_id ELSE 0 END AS part FROM gr_cust c WHERE NOT c.is_new) x
         GROUP BY x.part
    ), ranked AS (
        -- a metric <= 0 is C whatever its rank, and ranks after every metric > 0
        SELECT c.id, CASE WHEN by_branch THEN c.branch_id ELSE 0 END AS part,
               row_number() OVER (PARTITION BY CASE WHEN by_branch THEN c.branch_id ELSE 0 END
                                  ORDER BY c.metric DESC, c.id) AS rk
          FROM gr_cust c
         WHERE NOT c.is_new AND c.metric > 0
    ), ab AS (
        SELECT k.id, CASE WHEN k.rk <= t.a_n THEN 'A' ELSE 'B' END AS abc
          FROM ranked k JOIN cut t ON t.part = k.part
         WHERE k.rk <= greatest(t.a_n, t.b_n)
    ), x AS (
        -- one row per customer with any of them (overrides: the latest per dimension)
        SELECT y.customer_id, max(y.credit_txns) AS credit_txns, max(y.paid_on_time) AS paid_on_time,
               max(y.days_overdue) AS days_overdue, max(y.aum) AS aum, sum(y.done) AS done,
               jsonb_object_agg(y.dimension, y.grade) FILTER (WHERE y.dimension IS NOT NULL) AS ov
          FROM (SELECT a.customer_id, a.credit_txns, a.paid_on_time, a.days_overdue, NULL::numeric AS aum,
                       NULL::integer AS done, NULL::text AS dimension, NULL::text AS grade
                  FROM customer_arrears(d) a
                UNION ALL
                SELECT m.customer_id, NULL, NULL, NULL, m.aum, NULL, NULL, NULL FROM customer_aum(d) m
                UNION ALL
                SELECT fu.customer_id, NULL, NULL, NULL, NULL, 1, NULL, NULL
                  FROM followup fu
                 WHERE fu.status = 'done' AND fu.done_at::date > w_start AND fu.done_at::date <= d
                UNION ALL
                (SELECT DISTINCT ON (go.customer_id, go.dimension) go.customer_id, NULL, NULL, NULL, NULL, NULL,
                        go.dimension, go.grade
                   FROM grade_override go
                  WHERE go.status = 'active' AND (go.until IS NULL OR go.until >= d)
                  ORDER BY go.customer_id, go.dimension, go.id DESC)) y
         GROUP BY y.customer_id
    ), i AS (
        SELECT c.*,
               coalesce(x.credit_txns, 0) AS credit_txns, coalesce(x.paid_on_time, 0) AS paid_on_time,
               coalesce(x.days_overdue, 0) AS days_overdue,
               CASE WHEN x.credit_txns > 0 THEN x.paid_on_time::numeric / x.credit_txns END AS on_time,
               coalesce(x.aum, 0) AS aum, coalesce(x.done, 0) AS contacts_done, x.ov,
               CASE WHEN c.is_new THEN 'C' ELSE coalesce(ab.abc, 'C') END AS abc_rule,
               -- a lifecycle run keeps the last run's grades but the lifecycle
               NOT full_run AND g.customer_id IS NOT NULL AS keep_last,
               g.abc AS g_abc, g.abc_new AS g_abc_new, g.volume AS g_volume, g.asset_tier AS g_asset_tier,
               g.credit AS g_credit, g.needs AS g_needs, g.potential AS g_potential, g.metric AS g_metric,
               g.sales AS g_sales
          FROM gr_cust c
          LEFT JOIN ab ON ab.id = c.id
          LEFT JOIN x ON x.customer_id = c.id
          LEFT JOIN customer_grade g ON g.customer_id = c.id
    ), r AS (
        SELECT i.id, i.branch_id, i.owner_id, i.version, i.status, i.start, i.last_purchase, i.aum, i.ov,
               i.recent_n, i.recent_amt, i.base_n, i.base_amt,
               CASE WHEN i.keep_last THEN i.g_abc ELSE i.abc_rule END AS abc,
               CASE WHEN i.keep_last THEN i.g_abc_new ELSE i.is_new END AS abc_new,
               CASE WHEN i.keep_last THEN i.g_volume
                    WHEN i.sales >= vol_a THEN 'A' WHEN i.sales >= vol_b THEN 'B' WHEN i.sales >= vol_c THEN 'C'
                    ELSE 'D' END AS volume,
               CASE WHEN i.keep_last THEN i.g_asset_tier
                    WHEN i.aum >= vip_min THEN 'vip' WHEN i.aum >= wealth_min THEN 'wealth'
                    WHEN i.aum >= general_min AND i.aum > 0 THEN 'general' END AS asset_tier,
               CASE WHEN d - coalesce(i.last_purchase, i.start) >= churned THEN 'churned'
                    WHEN d - coalesce(i.last_purchase, i.start) >= silent THEN 'silent'
                    WHEN i.first_recent - i.last_before >= silent THEN 'won_back'
                    WHEN i.is_new THEN 'new'
                    WHEN d - i.start >= loyal_days AND bit_count(i.months::bit(12)) >= loyal_months THEN 'loyal'
                    ELSE 'active' END AS lifecycle,
               CASE WHEN i.keep_last THEN i.g_credit
                    WHEN i.credit_txns = 0 THEN NULL
                    WHEN i.days_overdue >= c_days THEN 'C'
                    WHEN i.days_overdue >= cc_days THEN 'CC'
                    WHEN i.days_overdue >= ccc_days THEN 'CCC'
                    WHEN i.days_overdue >= b_days THEN 'B'
                    WHEN i.on_time >= 0.98 THEN CASE WHEN i.days_overdue > 0 THEN 'BBB' ELSE 'AAA' END
                    WHEN i.on_time >= 0.95 THEN CASE WHEN i.days_overdue > 0 THEN 'BBB' ELSE 'AA' END
                    WHEN i.on_time >= 0.90 THEN CASE WHEN i.days_overdue > 0 THEN 'BBB' ELSE 'A' END
                    WHEN i.on_time >= 0.80 THEN 'BBB'
                    WHEN i.on_time >= 0.65 THEN 'BB'
                    ELSE 'B' END AS credit,
               CASE WHEN i.keep_last THEN i.g_needs
                    WHEN i.rev_w <= 0 THEN NULL
                    WHEN i.contacts_done >= svc_contacts THEN 'service'
                    WHEN NOT i.has_margin THEN NULL
                    WHEN i.margin_w / i.rev_w < price_margin THEN 'price'
                    WHEN i.margin_w / i.rev_w >= qual_margin THEN 'quality' END AS needs,
               CASE WHEN i.keep_last THEN i.g_potential
                    WHEN i.rev_w <= 0 THEN NULL
                    WHEN i.is_new OR i.half2 >= grown * i.half1 THEN 'high'
                    ELSE 'low' END AS potential,
               CASE WHEN i.keep_last THEN i.g_metric ELSE i.metric END AS metric,
               CASE WHEN i.keep_last THEN i.g_sales ELSE i.sales END AS sales
          FROM i
        OFFSET 0  -- computed once a row: without the fence each use below would repeat the CASEs
    ), sc AS (
        SELECT s.*, CASE WHEN s.score >= high_min THEN 'high' WHEN s.score >= medium_min THEN 'medium'
                         ELSE 'low' END AS value_tier
          FROM (SELECT v.g AS volume, c.g AS credit, n.g AS influence,
                       round((w_vol * v.p + w_credit * c.p + w_infl * n.p) / (w_vol + w_credit + w_infl), 1) AS score
                  FROM (VALUES ('A', 100), ('B', 70), ('C', 40), ('D', 10)) v (g, p),
                       (VALUES ('AAA', 100), ('AA', 90), ('A', 80), ('BBB', 65), ('BB', 50), ('B', 35), ('CCC', 20),
                               ('CC', 10), ('C', 0), ('none', 60)) c (g, p),
                       (VALUES ('high', 100), ('medium', 50), ('low', 0)) n (g, p)) s
    ), e AS (
        SELECT r.*, s.score, s.value_tier,
               coalesce(r.ov ->> 'lifecycle', r.lifecycle) AS lifecycle_eff,
               ARRAY[coalesce(r.ov ->> 'abc', r.abc), coalesce(r.ov ->> 'volume', r.volume),
                     coalesce(r.ov ->> 'value_tier', s.value_tier), coalesce(r.ov ->> 'asset_tier', r.asset_tier),
                     coalesce(r.ov ->> 'lifecycle', r.lifecycle), coalesce(r.ov ->> 'credit', r.credit),
                     coalesce(r.ov ->> 'needs', r.needs), coalesce(r.ov ->> 'potential', r.potential),
                     r.ov ->> 'influence'] AS eff
          FROM r
          LEFT JOIN sc s ON s.volume = coalesce(r.ov ->> 'volume', r.volume)
                        AND s.credit = coalesce(r.ov ->> 'credit', r.credit, 'none')
                        AND s.influence = coalesce(r.ov ->> 'influence', 'medium')
        OFFSET 0
    )
    SELECT e.id, e.branch_id, e.owner_id, e.version, e.status, e.abc, e.abc_new, e.volume, e.value_tier, e.asset_tier,
           e.lifecycle, e.credit, e.needs, e.potential, e.score, e.metric, e.sales, e.aum, e.start, e.last_purchase,
           e.eff, e.lifecycle_eff, e.recent_n, e.recent_amt, e.base_n, e.base_amt,
           g.customer_id IS NOT NULL AS was_graded,
           g.recorded IS DISTINCT FROM e.eff AS eff_changed,
           -- the run's date first: a run on another day rewrites every row anyway
           g.customer_id IS NOT NULL
           AND (g.as_of <> d OR g.recorded IS DISTINCT FROM e.eff
                OR (g.branch_id, g.abc, g.abc_new, g.volume, g.value_tier, g.asset_tier, g.lifecycle, g.credit,
                    g.needs, g.potential, g.score, g.metric, g.sales, g.aum, g.since, g.last_purchase)
                   IS DISTINCT FROM
                   (e.branch_id, e.abc, e.abc_new, e.volume, e.value_tier, e.asset_tier, e.lifecycle, e.credit,
                    e.needs, e.potential, e.score, e.metric, e.sales, e.aum, e.start, e.last_purchase)) AS row_changed
      FROM e
      LEFT JOIN customer_grade g ON g.customer_id = e.id;
    ANALYZE gr_new;

    RAISE NOTICE 'kehu.progress 3/5 history';
    -- History and the moves: only customers whose effective grades changed,
    -- or who stopped being graded (archived, merged, or not yet there on d):
    -- those have a customer_grade row and no gr_new row, and are looked for
    -- only when the counts say there are some.
    SELECT count(*) FILTER (WHERE n.was_graded) INTO n_kept FROM gr_new n;
    n_gone := (SELECT count(*) FROM customer_grade) - n_kept;
    CREATE TEMP TABLE gr_diff ON COMMIT DROP AS
    SELECT n.id AS customer_id, n.branch_id, n.owner_id, n.version, g.recorded AS before, n.eff AS after
      FROM gr_new n LEFT JOIN customer_grade g ON g.customer_id = n.id
     WHERE n.eff_changed
    UNION ALL
    SELECT g.customer_id, g.branch_id, NULL, NULL, g.recorded, NULL
      FROM customer_grade g
     WHERE n_gone > 0 AND NOT EXISTS (SELECT 1 FROM gr_new n WHERE n.id = g.customer_id);
    GET DIAGNOSTICS n_changed = ROW_COUNT;
    INSERT INTO grade_history (run_id, customer_id, branch_id, as_of, before, after)
    SELECT run, x.customer_id, x.branch_id, d, x.before, x.after FROM gr_diff x;

    RAISE NOTICE 'kehu.progress 4/5 grades';
    -- rows whose values did not move are not rewritten
    DELETE FROM customer_grade g USING gr_diff x WHERE x.after IS NULL AND g.customer_id = x.customer_id;
    UPDATE customer_grade g
       SET branch_id = n.branch_id, run_id = run, as_of = d, abc = n.abc, abc_new = n.abc_new, volume = n.volume,
           value_tier = n.value_tier, asset_tier = n.asset_tier, lifecycle = n.lifecycle, credit = n.credit,
           needs = n.needs, potential = n.potential, score = n.score, metric = n.metric, sales = n.sales, aum = n.aum,
           since = n.start, last_purchase = n.last_purchase, recorded = n.eff
      FROM gr_new n
     WHERE n.row_changed AND g.customer_id = n.id;
    INSERT INTO customer_grade (customer_id, branch_id, run_id, as_of, abc, abc_new, volume, value_tier, asset_tier,
                                lifecycle, credit, needs, potential, score, metric, sales, aum, since, last_purchase,
                                recorded)
    SELECT n.id, n.branch_id, run, d, n.abc, n.abc_new, n.volume, n.value_tier, n.asset_tier, n.lifecycle, n.credit,
           n.needs, n.potential, n.score, n.metric, n.sales, n.aum, n.start, n.last_purchase, n.eff
      FROM gr_new n
     WHERE NOT n.was_graded;

    RAISE NOTICE 'kehu.progress 5/5 churn warnings';
    n_warned := grade_churn_warnings(run, d, actor);

    -- Events: one per changed customer, or one per branch past the limit.
    IF n_changed <= ev_limit THEN
        PERFORM kehu_announce_detail('grade.changed', x.customer_id, x.branch_id, coalesce(x.version, 0), x.owner_id,
                                     actor, grade_change_text(x.before, x.after))
           FROM gr_diff x;
    ELSE
        PERFORM kehu_announce_detail('grade.changed', 0, x.branch_id, 0, 0, actor, count(*) || ' customers')
           FROM gr_diff x GROUP BY x.branch_id;
    END IF;

    -- The counts and the moves, from the distinct combinations of grades
    -- (a few thousand) rather than from every customer.
    UPDATE grading_run
       SET customers = n_graded, changed = n_changed, warnings_raised = n_warned,
           counts = (SELECT coalesce(jsonb_agg(jsonb_build_object('dimension', c.dim, 'grade', c.grade, 'customers', c.n)
                                               ORDER BY c.i, array_position(grade_values(c.dim), c.grade)), '[]')
                       FROM (SELECT u.i, (grade_dims())[u.i] AS dim, u.grade, sum(x.n) AS n
                               FROM (SELECT n.eff, count(*) AS n FROM gr_new n GROUP BY n.eff) x
                              CROSS JOIN LATERAL unnest(x.eff) WITH ORDINALITY u(grade, i)
                              WHERE u.grade IS NOT NULL
                              GROUP BY u.i, u.grade) c),
           moves = (SELECT coalesce(jsonb_agg(jsonb_build_object('dimension', m.dim, 'from', m.f, 'to', m.t, 'customers', m.n)
                                              ORDER BY m.i, array_position(grade_values(m.dim), m.f) NULLS FIRST,
                                                       array_position(grade_values(m.dim), m.t) NULLS FIRST), '[]')
                      FROM (SELECT u.i, (grade_dims())[u.i] AS dim, x.before[u.i] AS f, x.after[u.i] AS t, sum(x.n) AS n
                              FROM (SELECT y.before, y.after, count(*) AS n FROM gr_diff y GROUP BY y.before, y.after) x
                             CROSS JOIN generate_series(1, cardinality(grade_dims())) u(i)
                             WHERE x.before[u.i] IS DISTINCT FROM x.after[u.i]
                             GROUP BY u.i, x.before[u.i], x.after[u.i]) m),
           duration_ms = (extract(epoch FROM clock_timestamp() - t0) * 1000)::bigint
     WHERE id = run;
    RETURN run;
END
$$;

-- Churn warnings for run `run` as of d, from gr_new (the run's temp table):
-- raises new ones (each with a call planned for the owner, and announced),
-- adds new reasons to open ones, closes as recovered those whose reasons
-- are gone. Returns how many were raised.
CREATE FUNCTION grade_churn_warnings(run bigint, d date, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    recent    numeric := grade_policy_num('churn.recent_days');
    baseline  numeric := grade_policy_num('churn.baseline_days');
    keep      numeric := 1 - grade_policy_num('churn.drop_share');
    min_base  bigint := grade_policy_num('churn.min_baseline');
    sat_drop  numeric := grade_policy_num('churn.satisfaction_drop');
    min_complaints numeric := grade_policy_num('churn.complaints');
    raised    bigint;
BEGIN
    -- One pass over the run's customers and the open warnings, side by side:
    -- each customer graded by the run and not churned (watched) with its
    -- reasons (without a baseline or a service signal it can only be silent,
    -- so the arithmetic is done for the others only, once a row: the fence)
    -- and its open warning if any, and the open warnings of the other
    -- customers. The statements below each take their part of it (checking
    -- the status again: a warning may have been acknowledged meanwhile).
    CREATE TEMP TABLE gr_warn ON COMMIT DROP AS
    SELECT coalesce(n.id, c.customer_id) AS id, n.branch_id, n.owner_id, n.version, n.id IS NOT NULL AS watched,
           n.reasons, c.id AS warning_id
      FROM (SELECT n.id, n.branch_id, n.owner_id, n.version,
                   CASE WHEN n.base_n >= min_base OR n.lifecycle_eff = 'silent' OR s.customer_id IS NOT NULL THEN
                       array_remove(ARRAY[
                           CASE WHEN n.base_n >= min_base AND n.recent_n < keep * n.base_n * recent / baseline
                                THEN 'frequency_drop' END,
                           CASE WHEN n.base_n >= min_base AND n.recent_amt < keep * n.base_amt * recent / baseline
                                THEN 'amount_drop' END,
                           CASE WHEN n.lifecycle_eff = 'silent' THEN 'silent' END,
                           CASE WHEN s.satisfaction_recent <= s.satisfaction_baseline - sat_drop THEN 'satisfaction_drop' END,
                           CASE WHEN s.complaints >= min_complaints THEN 'complaints' END], NULL)
                   ELSE '{}' END AS reasons
              FROM gr_new n
              LEFT JOIN customer_service_signals(d, recent::integer, baseline::integer) s ON s.customer_id = n.id
             WHERE n.lifecycle_eff <> 'churned' AND n.status <> 'churned'
            OFFSET 0) n
      FULL JOIN (SELECT c.id, c.customer_id FROM churn_warning c WHERE c.status IN ('open', 'acknowledged')) c
             ON c.customer_id = n.id
     WHERE cardinality(n.reasons) > 0 OR c.id IS NOT NULL;

    -- reasons gone (and the customer not churned meanwhile): recovered
    UPDATE churn_warning c SET status = 'recovered', closed_on = d
      FROM gr_warn w
     WHERE c.id = w.warning_id AND w.watched AND cardinality(w.reasons) = 0
       AND c.status IN ('open', 'acknowledged');
    -- the customer is gone (merged, archived): nothing to win back here
    UPDATE churn_warning c SET status = 'closed', closed_on = d
      FROM gr_warn w
     WHERE c.id = w.warning_id AND NOT w.watched AND c.status IN ('open', 'acknowledged')
       AND EXISTS (SELECT 1 FROM customer x WHERE x.id = w.id AND (x.merged_into IS NOT NULL OR x.status = 'archived'));
    -- still there: new reasons join
    UPDATE churn_warning c
       SET reasons = (SELECT array_agg(DISTINCT r ORDER BY r) FROM unnest(c.reasons || w.reasons) r)
      FROM gr_warn w
     WHERE c.id = w.warning_id AND w.watched AND NOT (c.reasons @> w.reasons)
       AND c.status IN ('open', 'acknowledged');
    -- new ones
    CREATE TEMP TABLE gr_fresh ON COMMIT DROP AS
    WITH fresh AS (
        INSERT INTO churn_warning (customer_id, branch_id, run_id, raised_on, reasons)
        SELECT w.id, w.branch_id, run, d, w.reasons FROM gr_warn w
         WHERE w.warning_id IS NULL
         ORDER BY w.id  -- in the customers' order: their foreign key checks and index entries in sequence
        RETURNING id, customer_id, reasons
    )
    SELECT f.id, f.customer_id, f.reasons, w.branch_id, w.owner_id, w.version FROM fresh f JOIN gr_warn w ON w.id = f.customer_id;
    GET DIAGNOSTICS raised = ROW_COUNT;
    -- each with a call planned for the owner
    WITH planned AS (
        INSERT INTO followup (branch_id, customer_id, kind, due, note, owner_id, created_by)
        SELECT f.branch_id, f.customer_id, 'call', d + 3, 'Churn warning: ' || array_to_string(f.reasons, ', '),
               f.owner_id, actor
          FROM gr_fresh f WHERE f.owner_id IS NOT NULL
         ORDER BY f.customer_id
        RETURNING id, customer_id
    )
    UPDATE churn_warning c SET followup_id = p.id
      FROM planned p JOIN gr_fresh f ON f.customer_id = p.customer_id
     WHERE c.id = f.id;
    IF raised <= grade_policy_num('run.event_limit') THEN
        PERFORM kehu_announce_detail('churn.warning', f.customer_id, f.branch_id, f.version, f.owner_id, actor,
                                     array_to_string(f.reasons, ','))
           FROM gr_fresh f;
    ELSE
        PERFORM kehu_announce_detail('churn.warning', 0, f.branch_id, 0, 0, actor, count(*) || ' customers')
           FROM gr_fresh f GROUP BY f.branch_id;
    END IF;
    RETURN raised;
END
$$;

-- ---------------------------------------------------------------- service policy

-- What an ABC grade gets (the service.<G>.* keys).
CREATE FUNCTION grade_service(g text)
RETURNS TABLE (visit_days integer, call_days integer, dedicated boolean, complaint_priority integer,
               sla_factor numeric, review_days integer, care text) LANGUAGE sql STABLE AS $$
    SELECT max(value) FILTER (WHERE key = 'service.' || g || '.visit_days')::integer,
           max(value) FILTER (WHERE key = 'service.' || g || '.call_days')::integer,
           max(value) FILTER (WHERE key = 'service.' || g || '.dedicated') = '1',
           max(value) FILTER (WHERE key = 'service.' || g || '.complaint_priority')::integer,
           max(value) FILTER (WHERE key = 'service.' || g || '.sla_factor')::numeric,
           max(value) FILTER (WHERE key = 'service.' || g || '.review_days')::integer,
           max(value) FILTER (WHERE key = 'service.' || g || '.care')
      FROM grade_policy WHERE key LIKE 'service.' || g || '.%'
$$;

-- The contacts a customer's grade asks for: the next visit (visit_days after
-- the last visit done, or after the relationship began) and the next
-- contact of any kind (call_days after the last one).
CREATE FUNCTION customer_contacts_due(cust bigint)
RETURNS TABLE (kind text, due date, last date) LANGUAGE sql STABLE AS $$
    WITH c AS (SELECT coalesce(grade_of(c.id, 'abc'), 'C') AS g, coalesce(cg.since, c.since) AS start,
                      (c.last_contact_at AT TIME ZONE 'UTC')::date AS last_contact
                 FROM customer c LEFT JOIN customer_grade cg ON cg.customer_id = c.id
                WHERE c.id = cust AND c.merged_into IS NULL AND c.status NOT IN ('archived', 'churned')),
         v AS (SELECT (max(f.done_at) AT TIME ZONE 'UTC')::date AS last_visit
                 FROM followup f WHERE f.customer_id = cust AND f.kind = 'visit' AND f.status = 'done')
    SELECT 'visit', coalesce(v.last_visit, c.start) + s.visit_days, v.last_visit
      FROM c CROSS JOIN v CROSS JOIN LATERAL grade_service(c.g) s WHERE s.visit_days > 0
    UNION ALL
    SELECT 'call', coalesce(c.last_contact, c.start) + s.call_days, c.last_contact
      FROM c CROSS JOIN LATERAL grade_service(c.g) s WHERE s.call_days > 0
$$;

-- The policy for one grade in words, for `kehu grade show`.
CREATE FUNCTION grade_service_text(g text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT concat_ws(', ',
                     CASE WHEN s.visit_days > 0 THEN 'a visit every ' || s.visit_days || ' days' END,
                     CASE WHEN s.call_days > 0 THEN 'a contact every ' || s.call_days || ' days' END,
                     CASE WHEN s.dedicated THEN 'a dedicated account manager' END,
                     'complaint priority ' || s.complaint_priority,
                     'SLA x' || trim_scale(s.sla_factor),
                     CASE WHEN s.review_days > 0 THEN 'a manager review every ' || s.review_days || ' days' END,
                     CASE WHEN s.care <> 'none' THEN 'birthday and festival ' || s.care END)
      FROM grade_service(g) s
$$;

-- Which run the schedule asks for today: a full run when none ran this
-- month, else a lifecycle run when none ran today; NULL when none.
CREATE FUNCTION grade_schedule_due(today date) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN grade_policy_text('schedule.full') = 'monthly'
             AND NOT EXISTS (SELECT 1 FROM grading_run r WHERE r.kind = 'full' AND NOT r.dry_run
                                AND r.duration_ms IS NOT NULL AND r.as_of >= date_trunc('month', today)::date)
            THEN 'full'
        WHEN grade_policy_text('schedule.lifecycle') = 'daily'
             AND NOT EXISTS (SELECT 1 FROM grading_run r WHERE NOT r.dry_run AND r.duration_ms IS NOT NULL
                                AND r.as_of >= today)
            THEN 'lifecycle'
    END
$$;

-- ---------------------------------------------------------------- service signals

-- What complaints and satisfaction surveys say of each customer as of d, for
-- the churn warnings: complaints opened in (d - recent_days, d], and the
-- average satisfaction in that window and in the baseline before it. Cases
-- and surveys are not in the schema yet: until the migration that adds them
-- replaces this function, no customer has a signal.
CREATE FUNCTION customer_service_signals(d date, recent_days integer, baseline_days integer)
RETURNS TABLE (customer_id bigint, complaints bigint, satisfaction_recent numeric, satisfaction_baseline numeric)
LANGUAGE sql STABLE AS $$
    SELECT NULL::bigint, NULL::bigint, NULL::numeric, NULL::numeric WHERE false
$$;
