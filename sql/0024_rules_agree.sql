-- Rules that agree, part two (docs/grading.md).
--
-- Asset tiers drive service: the service level a customer gets (contact
-- interval, care, leadership contacts, the SLA factor) is the higher of its
-- ABC grade and the level its asset tier maps to (service.tier_vip [A],
-- service.tier_wealth [B], service.tier_general [C]); service.level = abc
-- uses the ABC grade alone. customer_service_level() says which and why.
--
-- The four-level grade (the `volume` dimension, A-D) combines sales volume,
-- credit and influence: the sales grade (A-D from the year's sales), one
-- level lower when the credit is below volume.credit_floor, one higher for
-- high influence and one lower for low (volume.influence = on).
--
-- The sales grade's thresholds are quantiles of the run's buyers by default
-- (volume.basis = quantile: the top volume.a_share of the customers with
-- sales are A, the next up to volume.b_share B, up to volume.c_share C, the
-- rest D), so they fit any base and currency; volume.basis = fixed uses the
-- amounts volume.a_min ... as before. The run records the thresholds it
-- used in its parameters (volume.a_min_used ...).
--
-- Churn warnings watch assets too: a customer that held an asset tier
-- churn.recent_days ago and whose assets fell by churn.drop_share is warned
-- (aum_drop), with the assets at risk in its value.
--
-- Leadership contacts: per service level, who makes the visit and the
-- contact (service.<L>.visit_by, call_by: owner, branch_manager, or
-- team:NAME) and a leader's contact every service.<L>.leader_days by
-- service.<L>.leader_by; the due lists put each on those people.
--
-- Policy cross-checks: contradictions between keys that may be meant (a
-- higher grade served less than a lower one, cycle_silent not below
-- cycle_churned, ...) are refused by grade policy set unless forced, and
-- then reported as warnings (policy_contradictions).
--
-- New relationships in the pool: a pool rule of its own ('new'), for
-- customers held at C as new, so they are not recycled before they had a
-- chance; it must agree with the service policy as the others do.

ALTER TABLE grade_policy DROP CONSTRAINT grade_policy_type_check;
ALTER TABLE grade_policy ADD CONSTRAINT grade_policy_type_check CHECK (type IN ('int', 'num', 'choice', 'role'));

INSERT INTO grade_policy (position, key, value, type, min, max, choices, description) VALUES
 (13, 'volume.basis', 'quantile', 'choice', NULL, NULL, '{quantile,fixed}',
  'sales grade thresholds: quantiles of the run''s buyers (volume.*_share) or fixed amounts (volume.*_min)'),
 (14, 'volume.a_share', '0.10', 'num', 0, 1, NULL, 'quantile basis: share of the customers with sales graded volume A'),
 (15, 'volume.b_share', '0.30', 'num', 0, 1, NULL, 'quantile basis: share graded A or B'),
 (16, 'volume.c_share', '0.60', 'num', 0, 1, NULL, 'quantile basis: share graded A, B or C; the rest: D'),
 (17, 'volume.credit_floor', 'BB', 'choice', NULL, NULL, '{none,AAA,AA,A,BBB,BB,B,CCC,CC,C}',
  'four-level grade: credit below this lowers the sales grade one level (none: credit does not count)'),
 (18, 'volume.influence', 'on', 'choice', NULL, NULL, '{on,off}',
  'four-level grade: high influence raises the sales grade one level, low lowers it one'),
 (90, 'service.level', 'higher', 'choice', NULL, NULL, '{higher,abc}',
  'the service level: the higher of the ABC grade and the asset tier''s level, or the ABC grade alone'),
 (91, 'service.tier_vip', 'A', 'choice', NULL, NULL, '{A,B,C}', 'the service level asset tier vip gives'),
 (92, 'service.tier_wealth', 'B', 'choice', NULL, NULL, '{A,B,C}', 'the service level asset tier wealth gives'),
 (93, 'service.tier_general', 'C', 'choice', NULL, NULL, '{A,B,C}', 'the service level asset tier general gives'),
 (107, 'service.A.visit_by', 'owner', 'role', NULL, NULL, NULL, 'grade A: who visits (owner, branch_manager, team:NAME)'),
 (108, 'service.A.call_by', 'owner', 'role', NULL, NULL, NULL, 'grade A: who makes the regular contact'),
 (109, 'service.A.leader_days', '30', 'int', 0, 3650, NULL, 'grade A: a leader''s contact at least every N days (0 none)'),
 (127, 'service.A.leader_by', 'branch_manager', 'role', NULL, NULL, NULL, 'grade A: who makes the leader''s contact'),
 (117, 'service.B.visit_by', 'owner', 'role', NULL, NULL, NULL, 'grade B: who visits (owner, branch_manager, team:NAME)'),
 (118, 'service.B.call_by', 'owner', 'role', NULL, NULL, NULL, 'grade B: who makes the regular contact'),
 (119, 'service.B.leader_days', '0', 'int', 0, 3650, NULL, 'grade B: a leader''s contact at least every N days (0 none)'),
 (128, 'service.B.leader_by', 'branch_manager', 'role', NULL, NULL, NULL, 'grade B: who makes the leader''s contact'),
 (129, 'service.C.visit_by', 'owner', 'role', NULL, NULL, NULL, 'grade C: who visits (owner, branch_manager, team:NAME)'),
 (130, 'service.C.call_by', 'owner', 'role', NULL, NULL, NULL, 'grade C: who makes the regular contact'),
 (131, 'service.C.leader_days', '0', 'int', 0, 3650, NULL, 'grade C: a leader''s contact at least every N days (0 none)'),
 (132, 'service.C.leader_by', 'branch_manager', 'role', NULL, NULL, NULL, 'grade C: who makes the leader''s contact');

ALTER TABLE customer_grade ADD COLUMN sales_grade text;
UPDATE grade_policy SET description = 'fixed basis: annual sales (yuan) for sales grade A' WHERE key = 'volume.a_min';
UPDATE grade_policy SET description = 'fixed basis: annual sales (yuan) for sales grade B' WHERE key = 'volume.b_min';
UPDATE grade_policy SET description = 'fixed basis: annual sales (yuan) for sales grade C; below: D' WHERE key = 'volume.c_min';
UPDATE grade_policy SET description = 'composite score: weight of the sales grade' WHERE key = 'score.w_volume';

INSERT INTO grade_policy (position, key, value, type, min, max, choices, description) VALUES
 (77, 'churn.month_share', '0.05', 'num', 0, 1, NULL,
  'churn warnings raised in any 30 days: at most this share of the active customers, the most valuable at risk first (1: all)');

-- ---------------------------------------------------------------- the policy

-- As in sql/0011, and: a 'role' value is owner, branch_manager or team:NAME
-- naming a team that exists; the volume shares rise from A to C.
CREATE OR REPLACE FUNCTION grade_policy_set(keys text[], vals text[], actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p    grade_policy;
    v    text;
    n    numeric;
    i    integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        SELECT * INTO p FROM grade_policy WHERE key = keys[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown policy key "%" (see kehu grade policy show)', keys[i]
                USING ERRCODE = 'KH400', COLUMN = keys[i];
        END IF;
        v := btrim(vals[i]);
        IF p.type = 'choice' THEN
            IF NOT v = ANY (p.choices) THEN
                RAISE EXCEPTION '% must be one of %', p.key, array_to_string(p.choices, ', ')
                    USING ERRCODE = 'KH400', COLUMN = p.key;
            END IF;
        ELSIF p.type = 'role' THEN
            IF v LIKE 'team:%' THEN
                IF NOT EXISTS (SELECT 1 FROM org_unit t WHERE t.kind = 'team' AND lower(t.name) = lower(substr(v, 6))) THEN
                    RAISE EXCEPTION '%: there is no team "%"', p.key, substr(v, 6)
                        USING ERRCODE = 'KH400', COLUMN = p.key;
                END IF;
            ELSIF v NOT IN ('owner', 'branch_manager') THEN
                RAISE EXCEPTION '% must be owner, branch_manager or team:NAME', p.key
                    USING ERRCODE = 'KH400', COLUMN = p.key;
            END IF;
        ELSE
            IF v !~ (CASE p.type WHEN 'int' THEN '^-?[0-9]{1,12}$' ELSE '^-?([0-9]{1,14}(\.[0-9]{0,6})?|\.[0-9]{1,6})$' END) THEN
                RAISE EXCEPTION '% must be %, not "%"', p.key,
                    CASE p.type WHEN 'int' THEN 'a whole number' ELSE 'a number' END, v
                    USING ERRCODE = 'KH400', COLUMN = p.key;
            END IF;
            n := v::numeric;
            IF n < p.min OR n > p.max THEN
                RAISE EXCEPTION '% must be between % and %', p.key, p.min, p.max
                    USING ERRCODE = 'KH400', COLUMN = p.key;
            END IF;
            v := n::text;
        END IF;
        UPDATE grade_policy SET value = v, updated_at = now(), updated_by = actor WHERE key = p.key;
    END LOOP;
    -- relations that must hold between keys
    IF grade_policy_num('abc.a_share') > grade_policy_num('abc.b_share') THEN
        RAISE EXCEPTION 'abc.a_share must not exceed abc.b_share' USING ERRCODE = 'KH400', COLUMN = 'abc.a_share';
    ELSIF NOT (grade_policy_num('volume.a_min') >= grade_policy_num('volume.b_min')
               AND grade_policy_num('volume.b_min') >= grade_policy_num('volume.c_min')) THEN
        RAISE EXCEPTION 'volume thresholds must not increase from A to C (a_min >= b_min >= c_min)' USING ERRCODE = 'KH400', COLUMN = 'volume.a_min';
    ELSIF NOT (grade_policy_num('volume.a_share') <= grade_policy_num('volume.b_share')
               AND grade_policy_num('volume.b_share') <= grade_policy_num('volume.c_share')) THEN
        RAISE EXCEPTION 'volume shares must not decrease from A to C (a_share <= b_share <= c_share)' USING ERRCODE = 'KH400', COLUMN = 'volume.a_share';
    ELSIF NOT (grade_policy_num('asset.vip_min') >= grade_policy_num('asset.wealth_min')
               AND grade_policy_num('asset.wealth_min') >= grade_policy_num('asset.general_min')) THEN
        RAISE EXCEPTION 'asset thresholds must satisfy vip_min >= wealth_min >= general_min' USING ERRCODE = 'KH400', COLUMN = 'asset.vip_min';
    ELSIF grade_policy_num('value.high_min') < grade_policy_num('value.medium_min') THEN
        RAISE EXCEPTION 'value.high_min must not be below value.medium_min' USING ERRCODE = 'KH400', COLUMN = 'value.high_min';
    ELSIF grade_policy_num('lifecycle.silent_days') >= grade_policy_num('lifecycle.churned_days') THEN
        RAISE EXCEPTION 'lifecycle.silent_days must be below lifecycle.churned_days' USING ERRCODE = 'KH400', COLUMN = 'lifecycle.silent_days';
    ELSIF NOT (grade_policy_num('credit.b_days') <= grade_policy_num('credit.ccc_days')
               AND grade_policy_num('credit.ccc_days') <= grade_policy_num('credit.cc_days')
               AND grade_policy_num('credit.cc_days') <= grade_policy_num('credit.c_days')) THEN
        RAISE EXCEPTION 'credit days must satisfy b_days <= ccc_days <= cc_days <= c_days' USING ERRCODE = 'KH400', COLUMN = 'credit.b_days';
    ELSIF grade_policy_num('score.w_volume') + grade_policy_num('score.w_credit') + grade_policy_num('score.w_influence') <= 0 THEN
        RAISE EXCEPTION 'the score weights must not all be zero' USING ERRCODE = 'KH400', COLUMN = 'score.w_volume';
    ELSIF grade_policy_num('needs.price_margin') > grade_policy_num('needs.quality_margin') THEN
        RAISE EXCEPTION 'needs.price_margin must not exceed needs.quality_margin' USING ERRCODE = 'KH400', COLUMN = 'needs.price_margin';
    END IF;
END
$$;

-- Contradictions within the grading and service policy that a setter may
-- mean (so --force keeps them, with a warning): the key to look at and what
-- is wrong, in words.
CREATE FUNCTION grade_policy_contradictions() RETURNS TABLE (field text, problem text) LANGUAGE sql STABLE AS $$
    WITH s AS (SELECT g, grade_policy_num('service.' || g || '.call_days') AS call_days,
                      grade_policy_num('service.' || g || '.visit_days') AS visit_days,
                      grade_policy_num('service.' || g || '.sla_factor') AS sla,
                      grade_policy_num('service.' || g || '.complaint_priority') AS prio,
                      array_position(ARRAY['gift', 'greeting', 'none'], grade_policy_text('service.' || g || '.care')) AS care,
                      grade_policy_num('service.' || g || '.review_days') AS review_days
                 FROM unnest(ARRAY['A', 'B', 'C']) g),
         pairs AS (SELECT hi.g AS hi, lo.g AS lo, hi.call_days AS h_call, lo.call_days AS l_call,
                          hi.visit_days AS h_visit, lo.visit_days AS l_visit, hi.sla AS h_sla, lo.sla AS l_sla,
                          hi.prio AS h_prio, lo.prio AS l_prio, hi.care AS h_care, lo.care AS l_care
                     FROM s hi JOIN s lo ON hi.g < lo.g)
    SELECT 'lifecycle.cycle_silent',
           format('lifecycle.cycle_silent (%s) is not below lifecycle.cycle_churned (%s): a customer with a known '
                  'rhythm would be churned before it is ever silent', trim_scale(grade_policy_num('lifecycle.cycle_silent')),
                  trim_scale(grade_policy_num('lifecycle.cycle_churned')))
     WHERE grade_policy_num('lifecycle.cycle_silent') >= grade_policy_num('lifecycle.cycle_churned')
    UNION ALL
    SELECT 'churn.recent_days',
           format('churn.recent_days (%s) is not below lifecycle.churned_days (%s): the recent window reaches past churn',
                  grade_policy_num('churn.recent_days'), grade_policy_num('lifecycle.churned_days'))
     WHERE grade_policy_num('churn.recent_days') >= grade_policy_num('lifecycle.churned_days')
    UNION ALL
    SELECT 'service.' || p.hi || '.call_days',
           format('grade %s customers are contacted less often (every %s days) than grade %s (every %s days)',
                  p.hi, p.h_call, p.lo, p.l_call)
      FROM pairs p WHERE p.l_call > 0 AND (p.h_call = 0 OR p.h_call > p.l_call)
    UNION ALL
    SELECT 'service.' || p.hi || '.visit_days',
           format('grade %s customers are visited less often (%s) than grade %s (every %s days)', p.hi,
                  CASE WHEN p.h_visit = 0 THEN 'never' ELSE 'every ' || p.h_visit || ' days' END,
                  p.lo, p.l_visit)
      FROM pairs p WHERE p.l_visit > 0 AND (p.h_visit = 0 OR p.h_visit > p.l_visit)
    UNION ALL
    SELECT 'service.' || p.hi || '.sla_factor',
           format('grade %s cases get longer SLA times (x%s) than grade %s (x%s)', p.hi, trim_scale(p.h_sla), p.lo,
                  trim_scale(p.l_sla))
      FROM pairs p WHERE p.h_sla > p.l_sla
    UNION ALL
    SELECT 'service.' || p.hi || '.complaint_priority',
           format('grade %s complaints come after grade %s (priority %s against %s)', p.hi, p.lo, p.h_prio, p.l_prio)
      FROM pairs p WHERE p.h_prio > p.l_prio
    UNION ALL
    SELECT 'service.' || p.hi || '.care',
           format('grade %s gets less care (%s) than grade %s (%s)', p.hi, grade_policy_text('service.' || p.hi || '.care'),
                  p.lo, grade_policy_text('service.' || p.lo || '.care'))
      FROM pairs p WHERE p.h_care > p.l_care
    UNION ALL
    SELECT 'service.tier_vip',
           format('asset tier vip gives a lower service level (%s) than wealth (%s) or general (%s)',
                  grade_policy_text('service.tier_vip'), grade_policy_text('service.tier_wealth'),
                  grade_policy_text('service.tier_general'))
     WHERE grade_policy_text('service.tier_vip') > grade_policy_text('service.tier_wealth')
        OR grade_policy_text('service.tier_wealth') > grade_policy_text('service.tier_general')
$$;

-- The contradictions between the pool rules (those of ids, or all for NULL)
-- and the service policy (sql/0023), the new relationships' rule included
-- (measured against the C contact interval, and not shorter than
-- new_months would hold them new); for ids NULL, those within the policy
-- too (grade_policy_contradictions).
CREATE OR REPLACE FUNCTION policy_contradictions(ids bigint[] DEFAULT NULL) RETURNS TABLE (field text, problem text)
LANGUAGE sql STABLE AS $$
    SELECT q.field, q.problem FROM (
    SELECT 0 AS o, r.branch_id, r.grade, r.grade || '.followup_days' AS field,
           format('%s customers%s return to the pool after %s days without a follow-up, but the service policy asks '
                  'for a contact only every %s days (service.%s.call_days), and pool.grace_days adds %s: an owner '
                  'following the policy would lose them', r.grade,
                  CASE WHEN b.name IS NULL THEN '' ELSE ' of ' || b.name END, r.followup_days, p.call_days, p.g,
                  g.grace) AS problem
      FROM pool_rule r
      LEFT JOIN org_unit b ON b.id = r.branch_id
     CROSS JOIN LATERAL (SELECT CASE r.grade WHEN 'new' THEN 'C' ELSE r.grade END AS g) gg
     CROSS JOIN LATERAL (SELECT gg.g, grade_policy_num('service.' || gg.g || '.call_days')::integer AS call_days) p
     CROSS JOIN (SELECT grade_policy_num('pool.grace_days')::integer AS grace) g
     WHERE r.followup_days > 0 AND p.call_days > 0 AND r.followup_days < p.call_days + g.grace
       AND (ids IS NULL OR r.id = ANY (ids))
    UNION ALL
    SELECT 0, r.branch_id, r.grade, r.grade || '.' || k.key,
           format('new relationships%s return to the pool after %s days without %s, but they are new for %s months '
                  '(new_months): they would go before they had a chance',
                  CASE WHEN b.name IS NULL THEN '' ELSE ' of ' || b.name END, k.days, k.what,
                  grade_policy_num('new_months'))
      FROM pool_rule r
      LEFT JOIN org_unit b ON b.id = r.branch_id
     CROSS JOIN LATERAL (VALUES ('followup_days', r.followup_days, 'a follow-up'),
                                ('txn_days', r.txn_days, 'a purchase')) k(key, days, what)
     WHERE r.grade = 'new' AND k.days > 0 AND k.days < grade_policy_num('new_months') * 30
       AND (ids IS NULL OR r.id = ANY (ids))
    UNION ALL
    SELECT 1, NULL, NULL, c.field, c.problem FROM grade_policy_contradictions() c WHERE ids IS NULL
    ) q
    ORDER BY q.o, q.branch_id NULLS FIRST, q.grade, q.field
$$;

-- As in sql/0023; the field of a policy contradiction is its key.
CREATE OR REPLACE FUNCTION policy_agree_assert(p_branch bigint, p_all boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    x record;
BEGIN
    SELECT * INTO x
      FROM policy_contradictions(CASE WHEN p_all THEN NULL
                                      ELSE ARRAY(SELECT r.id FROM pool_rule r
                                                  WHERE r.branch_id IS NOT DISTINCT FROM p_branch) END)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%; change both together, or give --force to keep it anyway', x.problem
            USING ERRCODE = 'KH400',
                  COLUMN = CASE WHEN NOT p_all THEN x.field WHEN x.field LIKE '%.followup_days' OR x.field LIKE '%.txn_days'
                                THEN 'values' ELSE x.field END;
    END IF;
END
$$;

-- ---------------------------------------------------------------- the run

-- grade_run of sql/0019, with the four-level grade (volume) combining the
-- sales grade, credit and influence, and the sales grade's thresholds from
-- quantiles (volume.basis); customer_grade.sales_grade keeps the sales grade.
CREATE OR REPLACE FUNCTION grade_run(p_kind text, d date, p_dry boolean, actor bigint, p_branch bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    run          bigint;
    t0           timestamptz := clock_timestamp();
    pol          jsonb;
    by_margin    boolean := grade_policy_text('abc.metric') = 'margin';
    by_branch    boolean := grade_policy_text('abc.scope') = 'branch';
    -- credit grades best first; a credit placed after the floor holds ABC at B
    credit_order text[] := ARRAY['AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC', 'CC', 'C'];
    credit_floor integer := coalesce(array_position(ARRAY['AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC', 'CC', 'C'],
                                                    grade_policy_text('abc.credit_floor')), 100);
    a_share      numeric := grade_policy_num('abc.a_share');
    b_share      numeric := grade_policy_num('abc.b_share');
    new_start    date := d - make_interval(months => grade_policy_num('new_months')::integer);
    vol_a        numeric := grade_policy_num('volume.a_min');
    vol_b        numeric := grade_policy_num('volume.b_min');
    vol_c        numeric := grade_policy_num('volume.c_min');
    by_quantile  boolean := grade_policy_text('volume.basis') = 'quantile';
    vol_a_share  numeric := grade_policy_num('volume.a_share');
    vol_b_share  numeric := grade_policy_num('volume.b_share');
    vol_c_share  numeric := grade_policy_num('volume.c_share');
    vol_floor    integer := coalesce(array_position(ARRAY['AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC', 'CC', 'C'],
                                                    grade_policy_text('volume.credit_floor')), 100);
    vol_infl     boolean := grade_policy_text('volume.influence') = 'on';
    q_a          numeric;
    q_b          numeric;
    q_c          numeric;
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
    cyc_start    date := d - make_interval(months => grade_policy_num('lifecycle.cycle_months')::integer);
    cyc_min      integer := grade_policy_num('lifecycle.cycle_min_purchases');
    cyc_silent   numeric := grade_policy_num('lifecycle.cycle_silent');
    cyc_churned  numeric := grade_policy_num('lifecycle.cycle_churned');
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
    IF p_branch IS NOT NULL AND full_run AND NOT by_branch THEN
        RAISE EXCEPTION 'a full run of one branch needs ABC ranked within each branch (abc.scope = branch)'
            USING ERRCODE = 'KH412';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('kehu.grade_run')) THEN
        RAISE EXCEPTION 'another grading run is in progress' USING ERRCODE = '55P03';
    END IF;
    -- the live grading moves forward in time: history, warnings and tasks stay in date order
    IF NOT p_dry AND EXISTS (SELECT 1 FROM grading_run r WHERE NOT r.dry_run AND r.duration_ms IS NOT NULL
                                AND r.as_of > d AND (p_branch IS NULL OR r.branch_id IS NULL
                                                     OR r.branch_id = p_branch)) THEN
        RAISE EXCEPTION 'the live grading is already as of %: a run as of % can only be a back-test (a dry run)',
            (SELECT max(r.as_of) FROM grading_run r WHERE NOT r.dry_run AND r.duration_ms IS NOT NULL), d
            USING ERRCODE = 'KH412', COLUMN = 'as_of';
    END IF;
    SELECT jsonb_object_agg(key, value ORDER BY position) INTO pol FROM grade_policy WHERE key NOT LIKE 'service.%';
    -- the follow-ups it plans announce through the run's own events, not one by one
    PERFORM set_config('kehu.bulk', 'on', true);
    INSERT INTO grading_run (kind, as_of, dry_run, params, started_by, branch_id)
    VALUES (p_kind, d, p_dry, pol, actor, p_branch) RETURNING id INTO run;

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
           -- the customer's purchase cycle in days (mean interval), NULL without enough purchases
           CASE WHEN t.cyc_n >= cyc_min THEN (t.last_purchase - t.cyc_first)::numeric / (t.cyc_n - 1) END AS cycle,
           coalesce(t.recent_n, 0) AS recent_n, coalesce(t.recent_amt, 0) AS recent_amt,
           coalesce(t.base_n, 0) AS base_n, coalesce(t.base_amt, 0) AS base_amt
      FROM customer c
      LEFT JOIN (SELECT t.customer_id,
                        min(t.date) AS first_date,
                        max(t.date) FILTER (WHERE t.amount > 0) AS last_purchase,
                        min(t.date) FILTER (WHERE t.date > cyc_start AND t.amount > 0) AS cyc_first,
                        count(*) FILTER (WHERE t.date > cyc_start AND t.amount > 0) AS cyc_n,
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
                  WHERE t.date <= d AND t.reversed_by IS NULL AND t.reverses IS NULL  -- a reversed sale is no purchase (0015)
                  GROUP BY t.customer_id) t ON t.customer_id = c.id
     CROSS JOIN LATERAL (SELECT least(c.since, coalesce(t.first_date, c.since)) AS start) s
     WHERE c.merged_into IS NULL AND c.status <> 'archived' AND s.start <= d
       AND (p_branch IS NULL OR c.branch_id = p_branch);
    GET DIAGNOSTICS n_graded = ROW_COUNT;
    ANALYZE gr_cust;
    -- the sales grade's thresholds: quantiles of the run's buyers (the least
    -- sales among the top shares), or the fixed amounts; kept in the run's
    -- parameters
    IF by_quantile AND full_run THEN
        SELECT percentile_disc(1 - vol_a_share) WITHIN GROUP (ORDER BY c.sales),
               percentile_disc(1 - vol_b_share) WITHIN GROUP (ORDER BY c.sales),
               percentile_disc(1 - vol_c_share) WITHIN GROUP (ORDER BY c.sales)
          INTO q_a, q_b, q_c
          FROM gr_cust c WHERE c.sales > 0;
        IF q_a IS NOT NULL THEN
            -- a share of 0 grades nobody: the threshold is above every buyer
            vol_a := CASE WHEN vol_a_share > 0 THEN q_a ELSE 1e15 END;
            vol_b := CASE WHEN vol_b_share > 0 THEN q_b ELSE 1e15 END;
            vol_c := CASE WHEN vol_c_share > 0 THEN q_c ELSE 1e15 END;
        END IF;
    END IF;
    IF full_run THEN
        UPDATE grading_run
           SET params = params || jsonb_build_object('volume.a_min_used', vol_a::text, 'volume.b_min_used', vol_b::text,
                                                     'volume.c_min_used', vol_c::text)
         WHERE id = run;
    END IF;

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
               g.sales AS g_sales,
               g.lifecycle AS g_lifecycle, g.abc_held AS g_abc_held, g.sales_grade AS g_sales_grade
          FROM gr_cust c
          LEFT JOIN ab ON ab.id = c.id
          LEFT JOIN x ON x.customer_id = c.id
          LEFT JOIN customer_grade g ON g.customer_id = c.id
    ), r AS (
        SELECT i.id, i.branch_id, i.owner_id, i.version, i.status, i.start, i.last_purchase, i.aum, i.ov,
               i.keep_last, i.g_abc_held, i.cycle,
               i.recent_n, i.recent_amt, i.base_n, i.base_amt,
               CASE WHEN i.keep_last THEN i.g_abc ELSE i.abc_rule END AS abc0,
               CASE WHEN i.keep_last THEN i.g_abc_new ELSE i.is_new END AS abc_new,
               i.g_volume,
               CASE WHEN i.keep_last THEN coalesce(i.g_sales_grade, i.g_volume)
                    WHEN i.sales >= vol_a AND i.sales > 0 THEN 'A' WHEN i.sales >= vol_b AND i.sales > 0 THEN 'B'
                    WHEN i.sales >= vol_c AND i.sales > 0 THEN 'C'
                    ELSE 'D' END AS sales_grade,
               CASE WHEN i.keep_last THEN i.g_asset_tier
                    WHEN i.aum >= vip_min THEN 'vip' WHEN i.aum >= wealth_min THEN 'wealth'
                    WHEN i.aum >= general_min AND i.aum > 0 THEN 'general' END AS asset_tier,
               CASE WHEN d - coalesce(i.last_purchase, i.start) >= greatest(churned, ceil(cyc_churned * i.cycle))
                        THEN 'churned'
                    WHEN d - coalesce(i.last_purchase, i.start) >= greatest(silent, ceil(cyc_silent * i.cycle))
                        THEN 'silent'
                    -- won back: buying again after a lapse the last run saw (silent,
                    -- churned, or already won back while the return is recent),
                    -- never on a first grading
                    WHEN i.first_recent - i.last_before >= silent
                         AND i.g_lifecycle IN ('silent', 'churned', 'won_back') THEN 'won_back'
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
        SELECT r.*, h.abc, h.abc_held, s.score, s.value_tier, v4.volume,
               coalesce(r.ov ->> 'lifecycle', r.lifecycle) AS lifecycle_eff,
               ARRAY[coalesce(r.ov ->> 'abc', h.abc), coalesce(r.ov ->> 'volume', v4.volume),
                     coalesce(r.ov ->> 'value_tier', s.value_tier), coalesce(r.ov ->> 'asset_tier', r.asset_tier),
                     coalesce(r.ov ->> 'lifecycle', r.lifecycle), coalesce(r.ov ->> 'credit', r.credit),
                     coalesce(r.ov ->> 'needs', r.needs), coalesce(r.ov ->> 'potential', r.potential),
                     r.ov ->> 'influence'] AS eff
          FROM r
         CROSS JOIN LATERAL (
                -- the credit gate, on the effective credit (an assessment counts); a lifecycle run keeps it
                SELECT CASE WHEN r.keep_last THEN r.g_abc_held
                            ELSE r.abc0 = 'A' AND array_position(credit_order, coalesce(r.ov ->> 'credit', r.credit))
                                                  > credit_floor END AS abc_held) hh
         CROSS JOIN LATERAL (SELECT CASE WHEN hh.abc_held AND r.abc0 = 'A' THEN 'B' ELSE r.abc0 END AS abc,
                                    coalesce(hh.abc_held, false) AS abc_held) h
         -- the four-level grade: the sales grade, one lower for credit below the floor, one up or down
         -- for high or low influence; a lifecycle run keeps it
         CROSS JOIN LATERAL (
                SELECT CASE WHEN r.keep_last AND r.g_volume IS NOT NULL THEN r.g_volume
                            ELSE (ARRAY['A', 'B', 'C', 'D'])[least(4, greatest(1,
                                    array_position(ARRAY['A', 'B', 'C', 'D'], r.sales_grade)
                                    + CASE WHEN array_position(credit_order, coalesce(r.ov ->> 'credit', r.credit))
                                                > vol_floor THEN 1 ELSE 0 END
                                    + CASE WHEN NOT vol_infl THEN 0 WHEN r.ov ->> 'influence' = 'high' THEN -1
                                           WHEN r.ov ->> 'influence' = 'low' THEN 1 ELSE 0 END))] END AS volume) v4
          -- the score counts the sales grade (credit and influence have their own weights)
          LEFT JOIN sc s ON s.volume = coalesce(r.ov ->> 'volume', r.sales_grade)
                        AND s.credit = coalesce(r.ov ->> 'credit', r.credit, 'none')
                        AND s.influence = coalesce(r.ov ->> 'influence', 'medium')
        OFFSET 0
    )
    SELECT e.id, e.branch_id, e.owner_id, e.version, e.status, e.abc, e.abc_held, e.abc_new, e.volume, e.sales_grade, e.value_tier, e.asset_tier,
           e.lifecycle, e.credit, e.needs, e.potential, e.score, e.metric, e.sales, e.aum, e.start, e.last_purchase,
           e.eff, e.lifecycle_eff, e.recent_n, e.recent_amt, e.base_n, e.base_amt, e.cycle,
           g.customer_id IS NOT NULL AS was_graded,
           g.recorded IS DISTINCT FROM e.eff AS eff_changed,
           -- the run's date first: a run on another day rewrites every row anyway
           g.customer_id IS NOT NULL
           AND (g.as_of <> d OR g.recorded IS DISTINCT FROM e.eff
                OR (g.branch_id, g.abc, g.abc_held, g.abc_new, g.volume, g.sales_grade, g.value_tier, g.asset_tier, g.lifecycle, g.credit,
                    g.needs, g.potential, g.score, g.metric, g.sales, g.aum, g.since, g.last_purchase)
                   IS DISTINCT FROM
                   (e.branch_id, e.abc, e.abc_held, e.abc_new, e.volume, e.sales_grade, e.value_tier, e.asset_tier, e.lifecycle, e.credit,
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
    -- (a branch run always looks: its customers may have moved in or out since)
    n_gone := CASE WHEN p_branch IS NULL THEN (SELECT count(*) FROM customer_grade) - n_kept ELSE 1 END;
    CREATE TEMP TABLE gr_diff ON COMMIT DROP AS
    SELECT n.id AS customer_id, n.branch_id, n.owner_id, n.version, g.recorded AS before, n.eff AS after
      FROM gr_new n LEFT JOIN customer_grade g ON g.customer_id = n.id
     WHERE n.eff_changed
    UNION ALL
    SELECT g.customer_id, g.branch_id, NULL, NULL, g.recorded, NULL
      FROM customer_grade g
     WHERE n_gone > 0 AND (p_branch IS NULL OR g.branch_id = p_branch)
       AND NOT EXISTS (SELECT 1 FROM gr_new n WHERE n.id = g.customer_id)
       -- one that moved to another branch is still graded, there
       AND NOT EXISTS (SELECT 1 FROM customer c WHERE p_branch IS NOT NULL AND c.id = g.customer_id
                          AND c.branch_id <> p_branch AND c.merged_into IS NULL AND c.status <> 'archived');
    GET DIAGNOSTICS n_changed = ROW_COUNT;
    INSERT INTO grade_history (run_id, customer_id, branch_id, as_of, before, after)
    SELECT run, x.customer_id, x.branch_id, d, x.before, x.after FROM gr_diff x;

    RAISE NOTICE 'kehu.progress 4/5 grades';
    -- rows whose values did not move are not rewritten
    DELETE FROM customer_grade g USING gr_diff x WHERE x.after IS NULL AND g.customer_id = x.customer_id;
    UPDATE customer_grade g
       SET branch_id = n.branch_id, run_id = run, as_of = d, abc = n.abc, abc_held = n.abc_held, abc_new = n.abc_new, volume = n.volume, sales_grade = n.sales_grade,
           value_tier = n.value_tier, asset_tier = n.asset_tier, lifecycle = n.lifecycle, credit = n.credit,
           needs = n.needs, potential = n.potential, score = n.score, metric = n.metric, sales = n.sales, aum = n.aum,
           since = n.start, last_purchase = n.last_purchase, recorded = n.eff
      FROM gr_new n
     WHERE n.row_changed AND g.customer_id = n.id;
    INSERT INTO customer_grade (customer_id, branch_id, run_id, as_of, abc, abc_held, abc_new, volume, sales_grade, value_tier, asset_tier,
                                lifecycle, credit, needs, potential, score, metric, sales, aum, since, last_purchase,
                                recorded)
    SELECT n.id, n.branch_id, run, d, n.abc, n.abc_held, n.abc_new, n.volume, n.sales_grade, n.value_tier, n.asset_tier, n.lifecycle, n.credit,
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

-- Churn warnings as in sql/0019, and aum_drop: assets that fell by
-- churn.drop_share since the start of the recent window, for a customer that
-- held an asset tier then (it counts as established).
CREATE OR REPLACE FUNCTION grade_churn_warnings(run bigint, d date, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    recent    numeric := grade_policy_num('churn.recent_days');
    baseline  numeric := grade_policy_num('churn.baseline_days');
    keep      numeric := 1 - grade_policy_num('churn.drop_share');
    min_base  bigint := grade_policy_num('churn.min_baseline');
    sat_drop  numeric := grade_policy_num('churn.satisfaction_drop');
    min_complaints numeric := grade_policy_num('churn.complaints');
    aum_weight numeric := grade_policy_num('churn.aum_weight');
    tier_min  numeric := grade_policy_num('asset.general_min');
    month_share numeric := grade_policy_num('churn.month_share');
    cap       bigint;
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
           n.reasons, n.value_at_risk, c.id AS warning_id
      FROM (SELECT n.id, n.branch_id, n.owner_id, n.version,
                   -- what leaving would cost a year: the revenue that fell away against the baseline, and
                   -- the assets at their yearly yield (churn.aum_weight)
                   round(greatest(n.base_amt * 365 / baseline - n.recent_amt * 365 / recent, 0)
                         + greatest(n.aum, coalesce(a0.aum, 0)) * aum_weight, 2) AS value_at_risk,
                   -- only an established customer can be warned: a baseline of purchases, or a known rhythm
                   -- (one-off buyers falling silent are not churn), or what complaints and surveys say
                   -- (or one that held an asset tier at the start of the recent window)
                   CASE WHEN n.base_n >= min_base OR n.cycle IS NOT NULL OR s.customer_id IS NOT NULL
                             OR a0.aum >= tier_min THEN
                       -- a customer churned by its purchases is watched for its assets alone
                       array_remove(ARRAY[
                           CASE WHEN n.lifecycle_eff <> 'churned' AND n.base_n >= min_base
                                 AND n.recent_n < keep * n.base_n * recent / baseline
                                THEN 'frequency_drop' END,
                           CASE WHEN n.lifecycle_eff <> 'churned' AND n.base_n >= min_base
                                 AND n.recent_amt < keep * n.base_amt * recent / baseline
                                THEN 'amount_drop' END,
                           CASE WHEN n.lifecycle_eff = 'silent' AND (n.base_n >= min_base OR n.cycle IS NOT NULL)
                                THEN 'silent' END,
                           CASE WHEN n.lifecycle_eff <> 'churned'
                                 AND s.satisfaction_recent <= s.satisfaction_baseline - sat_drop THEN 'satisfaction_drop' END,
                           CASE WHEN n.lifecycle_eff <> 'churned' AND s.complaints >= min_complaints THEN 'complaints' END,
                           CASE WHEN a0.aum >= tier_min AND n.aum < keep * a0.aum THEN 'aum_drop' END], NULL)
                   ELSE '{}' END AS reasons
              FROM gr_new n
              LEFT JOIN customer_service_signals(d, recent::integer, baseline::integer) s ON s.customer_id = n.id
              LEFT JOIN customer_aum(d - recent::integer) a0 ON a0.customer_id = n.id
             -- a depositor is watched while it holds assets, whatever its purchases say
             WHERE (n.lifecycle_eff <> 'churned' OR a0.aum >= tier_min) AND n.status <> 'churned'
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
    -- still there: new reasons join, the value at risk is today's
    UPDATE churn_warning c
       SET reasons = (SELECT array_agg(DISTINCT r ORDER BY r) FROM unnest(c.reasons || w.reasons) r),
           value_at_risk = w.value_at_risk
      FROM gr_warn w
     WHERE c.id = w.warning_id AND w.watched AND cardinality(w.reasons) > 0
       AND (NOT (c.reasons @> w.reasons) OR c.value_at_risk IS DISTINCT FROM w.value_at_risk)
       AND c.status IN ('open', 'acknowledged');
    -- new ones: at most churn.month_share of the active customers raised in any 30 days (with those
    -- raised in the 29 days before), the most valuable at risk first; the others wait for a later run
    IF month_share < 1 THEN
        cap := greatest(0, floor(month_share * (SELECT count(*) FROM gr_new n
                                                 WHERE n.lifecycle_eff IN ('new', 'active', 'loyal', 'won_back')))
                           - (SELECT count(*) FROM churn_warning c
                               WHERE c.raised_on > d - 30 AND c.raised_on <= d
                                 AND c.branch_id IN (SELECT DISTINCT n.branch_id FROM gr_new n)));
    END IF;
    CREATE TEMP TABLE gr_fresh ON COMMIT DROP AS
    WITH fresh AS (
        INSERT INTO churn_warning (customer_id, branch_id, run_id, raised_on, reasons, value_at_risk)
        SELECT w.id, w.branch_id, run, d, w.reasons, w.value_at_risk
          FROM (SELECT w.* FROM gr_warn w WHERE w.warning_id IS NULL
                 ORDER BY w.value_at_risk DESC, w.id LIMIT cap) w
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

-- ---------------------------------------------------------------- the service level

-- The service level of an ABC grade and an asset tier (NULL: none).
CREATE FUNCTION grade_service_level(abc text, tier text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN tier IS NULL OR grade_policy_text('service.level') = 'abc' THEN coalesce(abc, 'C')
                ELSE least(coalesce(abc, 'C'), coalesce(grade_policy_text('service.tier_' || tier), 'C')) END
$$;

-- A customer's service level today (its grades in force) and why.
CREATE FUNCTION customer_service_level(cust bigint) RETURNS TABLE (level text, reason text) LANGUAGE sql STABLE AS $$
    SELECT l.level,
           CASE WHEN l.level < g.abc
                THEN format('service level %s from asset tier %s (service.tier_%s), above ABC grade %s', l.level, g.tier,
                            g.tier, g.abc)
                WHEN g.tier IS NOT NULL AND grade_policy_text('service.level') = 'abc'
                THEN format('service level %s from ABC grade %s (service.level = abc: asset tier %s not counted)',
                            l.level, g.abc, g.tier)
                ELSE format('service level %s from ABC grade %s', l.level, g.abc) END
      FROM (SELECT coalesce(grade_of(cust, 'abc'), 'C') AS abc, grade_of(cust, 'asset_tier') AS tier) g
     CROSS JOIN LATERAL (SELECT grade_service_level(g.abc, g.tier) AS level) l
$$;

-- Who makes a service level's contacts (the service.<L>.*_by keys) and
-- how often the leader's contact is due.
CREATE FUNCTION grade_service_roles(g text)
RETURNS TABLE (visit_by text, call_by text, leader_days integer, leader_by text) LANGUAGE sql STABLE AS $$
    SELECT max(value) FILTER (WHERE key = 'service.' || g || '.visit_by'),
           max(value) FILTER (WHERE key = 'service.' || g || '.call_by'),
           max(value) FILTER (WHERE key = 'service.' || g || '.leader_days')::integer,
           max(value) FILTER (WHERE key = 'service.' || g || '.leader_by')
      FROM grade_policy WHERE key LIKE 'service.' || g || '.%'
$$;


-- The contacts the service level asks for, for the customers ids (one
-- set-based pass, for due lists over thousands of customers): the next
-- visit (visit_days after the last visit done, or after the relationship
-- began), the next contact of any kind (call_days after the last one), and
-- the leader's contact (leader_days after the last contact made by one of
-- the people it falls to), each with who makes it (by: owner,
-- branch_manager, team:NAME), the people that is, and the service level.
CREATE FUNCTION service_contacts(ids bigint[])
RETURNS TABLE (customer_id bigint, kind text, due date, last date, by text, people bigint[], level text)
LANGUAGE sql STABLE AS $$
    WITH pol AS MATERIALIZED (
        SELECT l.g, s.visit_days, s.call_days, r.visit_by, r.call_by, r.leader_days, r.leader_by
          FROM unnest(ARRAY['A', 'B', 'C']) l(g)
         CROSS JOIN LATERAL grade_service(l.g) s CROSS JOIN LATERAL grade_service_roles(l.g) r
    ), lvl AS MATERIALIZED (
        SELECT grade_policy_text('service.level') = 'abc' AS abc_only, grade_policy_text('service.tier_vip') AS vip,
               grade_policy_text('service.tier_wealth') AS wealth, grade_policy_text('service.tier_general') AS general
    ), c AS MATERIALIZED (
        -- the grades in force today (grade_of written as joins)
        SELECT c.id, c.branch_id, c.owner_id, coalesce(cg.since, c.since) AS start,
               (c.last_contact_at AT TIME ZONE 'UTC')::date AS last_contact,
               coalesce(oa.grade, cg.abc, 'C') AS abc, coalesce(ot.grade, cg.asset_tier) AS tier
          FROM customer c
          LEFT JOIN customer_grade cg ON cg.customer_id = c.id
          LEFT JOIN LATERAL (SELECT o.grade FROM grade_override o
                              WHERE o.customer_id = c.id AND o.dimension = 'abc' AND o.status = 'active'
                                AND (o.until IS NULL OR o.until >= current_date) ORDER BY o.id DESC LIMIT 1) oa ON true
          LEFT JOIN LATERAL (SELECT o.grade FROM grade_override o
                              WHERE o.customer_id = c.id AND o.dimension = 'asset_tier' AND o.status = 'active'
                                AND (o.until IS NULL OR o.until >= current_date) ORDER BY o.id DESC LIMIT 1) ot ON true
         WHERE c.id = ANY (ids) AND c.merged_into IS NULL AND c.status NOT IN ('archived', 'churned')
    ), x AS MATERIALIZED (
        SELECT c.*, lv.level, k.kind, k.days, k.who
          FROM c CROSS JOIN lvl l
         CROSS JOIN LATERAL (SELECT CASE WHEN c.tier IS NULL OR l.abc_only THEN c.abc
                                         ELSE least(c.abc, coalesce(CASE c.tier WHEN 'vip' THEN l.vip
                                                                                WHEN 'wealth' THEN l.wealth
                                                                                ELSE l.general END, 'C')) END AS level) lv
          JOIN pol p ON p.g = lv.level
         CROSS JOIN LATERAL (VALUES ('visit', p.visit_days, coalesce(p.visit_by, 'owner')),
                                    ('call', p.call_days, coalesce(p.call_by, 'owner')),
                                    ('leader_call', p.leader_days, p.leader_by)) k(kind, days, who)
         WHERE k.days > 0 AND k.who IS NOT NULL
    ), bm AS MATERIALIZED (
        SELECT b.id AS branch_id, array_agg(u.id ORDER BY u.id) AS people
          FROM org_unit b JOIN app_user u ON u.role = 'branch_manager' AND u.disabled_at IS NULL
                                         AND b.path @> ARRAY[u.unit_id]
         WHERE b.id IN (SELECT x.branch_id FROM x WHERE x.who = 'branch_manager')
         GROUP BY b.id
    ), tm AS MATERIALIZED (
        SELECT w.who, w.branch_id, array_agg(u.id ORDER BY u.id) AS people
          FROM (SELECT DISTINCT x.who, x.branch_id FROM x WHERE x.who LIKE 'team:%') w
          JOIN org_unit t ON t.kind = 'team' AND lower(t.name) = lower(substr(w.who, 6))
                         AND (t.branch_id IS NULL OR t.branch_id = w.branch_id)
          JOIN app_user u ON u.unit_id = t.id AND u.disabled_at IS NULL
         GROUP BY w.who, w.branch_id
    ), xp AS (
        -- nobody of the kind: the owner
        SELECT x.*, coalesce(CASE x.who WHEN 'owner' THEN NULL WHEN 'branch_manager' THEN bm.people ELSE tm.people END,
                             CASE WHEN x.owner_id IS NULL THEN '{}'::bigint[] ELSE ARRAY[x.owner_id] END) AS people
          FROM x
          LEFT JOIN bm ON x.who = 'branch_manager' AND bm.branch_id = x.branch_id
          LEFT JOIN tm ON tm.who = x.who AND tm.branch_id = x.branch_id
    )
    SELECT xp.id, xp.kind, coalesce(l.last, xp.start) + xp.days, l.last, xp.who, xp.people, xp.level
      FROM xp
     CROSS JOIN LATERAL (
            SELECT CASE xp.kind
                       WHEN 'call' THEN xp.last_contact
                       WHEN 'visit' THEN (SELECT (max(f.done_at) AT TIME ZONE 'UTC')::date FROM followup f
                                           WHERE f.customer_id = xp.id AND f.kind = 'visit' AND f.status = 'done')
                       ELSE (SELECT (max(f.done_at) AT TIME ZONE 'UTC')::date FROM followup f
                              WHERE f.customer_id = xp.id AND f.status = 'done' AND f.owner_id = ANY (xp.people))
                   END AS last) l
$$;

-- The same for one customer (grade show).
DROP FUNCTION customer_contacts_due(bigint);
CREATE FUNCTION customer_contacts_due(cust bigint)
RETURNS TABLE (kind text, due date, last date, by text, people bigint[], level text) LANGUAGE sql STABLE AS $$
    SELECT s.kind, s.due, s.last, s.by, s.people, s.level FROM service_contacts(ARRAY[cust]) s
$$;

-- The customers whose policy contacts may fall to usr other than as their
-- owner: for a branch manager, those of the branches they lead, and for a
-- member of a team the policy names, those of its branch, whose service
-- level has a contact by someone else than the owner (the due lists look
-- at these besides the customers usr owns).
CREATE FUNCTION service_contact_customers(usr bigint) RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
    WITH lv AS (SELECT array_agg(l) AS levels FROM unnest(ARRAY['A', 'B', 'C']) l
                 CROSS JOIN LATERAL grade_service(l) s CROSS JOIN LATERAL grade_service_roles(l) r
                WHERE (s.visit_days > 0 AND r.visit_by <> 'owner') OR (s.call_days > 0 AND r.call_by <> 'owner')
                   OR (r.leader_days > 0 AND r.leader_by <> 'owner')),
         br AS (SELECT b.id FROM app_user u JOIN org_unit b ON b.kind = 'branch' AND b.path @> ARRAY[u.unit_id]
                 WHERE u.id = usr AND u.role = 'branch_manager'
                UNION
                SELECT b.id FROM app_user u JOIN org_unit t ON t.id = u.unit_id AND t.kind = 'team'
                  JOIN org_unit b ON b.kind = 'branch' AND (t.branch_id IS NULL OR t.branch_id = b.id)
                 WHERE u.id = usr
                   AND EXISTS (SELECT 1 FROM grade_policy p WHERE p.type = 'role' AND lower(p.value) = 'team:' || lower(t.name)))
    SELECT g.customer_id FROM customer_grade g, lv
     WHERE lv.levels IS NOT NULL AND g.branch_id IN (SELECT id FROM br)
       AND grade_service_level(g.abc, g.asset_tier) = ANY (lv.levels)
    UNION
    SELECT o.customer_id FROM grade_override o, lv
     WHERE lv.levels IS NOT NULL AND o.status = 'active' AND o.dimension IN ('abc', 'asset_tier')
       AND o.branch_id IN (SELECT id FROM br)
$$;

-- The policy for one service level in words, for `kehu grade show`.
CREATE OR REPLACE FUNCTION grade_service_text(g text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT concat_ws(', ',
                     CASE WHEN s.visit_days > 0 THEN 'a visit every ' || s.visit_days || ' days'
                          || CASE WHEN r.visit_by <> 'owner' THEN ' by ' || r.visit_by ELSE '' END END,
                     CASE WHEN s.call_days > 0 THEN 'a contact every ' || s.call_days || ' days'
                          || CASE WHEN r.call_by <> 'owner' THEN ' by ' || r.call_by ELSE '' END END,
                     CASE WHEN r.leader_days > 0 THEN 'a contact by ' || r.leader_by || ' every ' || r.leader_days || ' days' END,
                     CASE WHEN s.dedicated THEN 'a dedicated account manager' END,
                     'complaint priority ' || s.complaint_priority,
                     'SLA x' || trim_scale(s.sla_factor),
                     CASE WHEN s.review_days > 0 THEN 'a manager review every ' || s.review_days || ' days' END,
                     CASE WHEN s.care <> 'none' THEN 'birthday and festival ' || s.care END)
      FROM grade_service(g) s CROSS JOIN grade_service_roles(g) r
$$;

-- Why the four-level grade (volume) is what it is, for `kehu grade show`:
-- "" when it is the sales grade.
CREATE FUNCTION grade_volume_note(cust bigint) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN g.sales_grade IS NULL OR g.sales_grade = g.volume THEN ''
                ELSE concat_ws(', ', 'sales grade ' || g.sales_grade,
                               CASE WHEN array_position(ARRAY['AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC', 'CC', 'C'],
                                                        coalesce(grade_of(cust, 'credit'), g.credit))
                                         > coalesce(array_position(ARRAY['AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC', 'CC', 'C'],
                                                                   grade_policy_text('volume.credit_floor')), 100)
                                    THEN 'one lower: credit ' || coalesce(grade_of(cust, 'credit'), g.credit)
                                         || ' is below ' || grade_policy_text('volume.credit_floor') || ' (volume.credit_floor)' END,
                               CASE grade_of(cust, 'influence') WHEN 'high' THEN 'one higher: influence high'
                                                                WHEN 'low' THEN 'one lower: influence low' END) END
      FROM customer_grade g WHERE g.customer_id = cust
$$;

-- ---------------------------------------------------------------- new relationships in the pool

-- Their own rule (grade 'new'): by default 180 days without a follow-up
-- (new_months), no purchase limit, so a customer just won is not recycled
-- before it could buy.
ALTER TABLE pool_rule DROP CONSTRAINT pool_rule_grade_check;
ALTER TABLE pool_rule ADD CONSTRAINT pool_rule_grade_check CHECK (grade IN ('A', 'B', 'C', 'new'));
INSERT INTO pool_rule (branch_id, grade, followup_days, txn_days, warn_days, claim_per_day, max_held, cooldown_days,
                       exempt_open_case, exempt_txn_days, exempt_tag)
SELECT r.branch_id, 'new', greatest(180, r.followup_days), 0, r.warn_days, r.claim_per_day, r.max_held,
       r.cooldown_days, r.exempt_open_case, r.exempt_txn_days, r.exempt_tag
  FROM pool_rule r WHERE r.grade = 'C';

-- As in sql/0012, with the grade 'new'.
CREATE OR REPLACE FUNCTION pool_rule_set(branch bigint, grades text[], keys text[], vals text[], actor bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    v integer;
    entry text;
    bad text;
BEGIN
    IF branch IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pool_rule WHERE branch_id = branch) THEN
        INSERT INTO pool_rule (branch_id, grade, followup_days, txn_days, warn_days, claim_per_day, max_held,
                               cooldown_days, exempt_open_case, exempt_txn_days, exempt_tag, updated_by)
        SELECT branch, grade, followup_days, txn_days, warn_days, claim_per_day, max_held, cooldown_days,
               exempt_open_case, exempt_txn_days, exempt_tag, actor
          FROM pool_rule WHERE branch_id IS NULL;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(keys), 0) LOOP
        entry := coalesce(grades[i], '') || '.' || coalesce(keys[i], '');
        IF grades[i] IS NULL OR grades[i] NOT IN ('A', 'B', 'C', 'new', '*') THEN
            RAISE EXCEPTION 'no grade "%" (A, B, C, new for new relationships, or * for all)', coalesce(grades[i], '')
                USING ERRCODE = 'KH400', COLUMN = entry;
        END IF;
        IF keys[i] IS NULL OR NOT keys[i] = ANY (pool_rule_keys()) THEN
            RAISE EXCEPTION 'no pool rule "%" (%)', coalesce(keys[i], ''), array_to_string(pool_rule_keys(), ', ')
                USING ERRCODE = 'KH400', COLUMN = entry;
        END IF;
        IF keys[i] = 'exempt_open_case' THEN
            IF vals[i] IS NULL OR vals[i] NOT IN ('true', 'false', 'yes', 'no', 'on', 'off', '1', '0') THEN
                RAISE EXCEPTION '% must be true or false, not "%"', keys[i], coalesce(vals[i], '')
                    USING ERRCODE = 'KH400', COLUMN = entry;
            END IF;
            UPDATE pool_rule SET exempt_open_case = vals[i]::boolean, updated_at = now(), updated_by = actor
             WHERE branch_id IS NOT DISTINCT FROM branch AND (grades[i] = '*' OR grade = grades[i]);
        ELSIF keys[i] = 'exempt_tag' THEN
            IF length(coalesce(vals[i], '')) > 50 THEN
                RAISE EXCEPTION '% is at most 50 characters', keys[i] USING ERRCODE = 'KH400', COLUMN = entry;
            END IF;
            UPDATE pool_rule SET exempt_tag = coalesce(vals[i], ''), updated_at = now(), updated_by = actor
             WHERE branch_id IS NOT DISTINCT FROM branch AND (grades[i] = '*' OR grade = grades[i]);
        ELSE
            IF vals[i] IS NULL OR vals[i] !~ '^[0-9]{1,5}$' THEN
                RAISE EXCEPTION '% is a whole number of 0 to 99999, not "%"', keys[i], coalesce(vals[i], '')
                    USING ERRCODE = 'KH400', COLUMN = entry;
            END IF;
            v := vals[i]::integer;
            EXECUTE format('UPDATE pool_rule SET %I = $1, updated_at = now(), updated_by = $2'
                           ' WHERE branch_id IS NOT DISTINCT FROM $3 AND ($4 = ''*'' OR grade = $4)', keys[i])
              USING v, actor, branch, grades[i];
        END IF;
        n := n + 1;
    END LOOP;
    SELECT grade INTO bad FROM pool_rule WHERE branch_id IS NOT DISTINCT FROM branch
       AND warn_days > 0 AND warn_days >= greatest(followup_days, txn_days) AND greatest(followup_days, txn_days) > 0
     ORDER BY grade LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'warn_days must be shorter than the limits it warns of (grade %)', bad
            USING ERRCODE = 'KH400', COLUMN = bad || '.warn_days';
    END IF;
    RETURN n;
END
$$;


-- As in sql/0016, with new relationships under their own rule.
CREATE OR REPLACE FUNCTION pool_recycle(d date, dry boolean, actor bigint, p_scope_kind integer, p_scope_id bigint)
RETURNS pool_run LANGUAGE plpgsql AS $$
DECLARE
    s_set bigint[] := assign_scope_set(p_scope_kind, p_scope_id);
    run pool_run;
    t0 timestamptz := clock_timestamp();
    bulk boolean;
BEGIN
    IF NOT dry AND p_scope_kind <> 0 THEN
        RAISE EXCEPTION 'only the whole recycle job runs for real' USING ERRCODE = '42501';
    END IF;
    IF NOT pg_try_advisory_xact_lock(7010, 1) THEN
        RAISE EXCEPTION 'a recycle is in progress' USING ERRCODE = '55P03';
    END IF;
    -- the rule in force per branch and grade
    CREATE TEMP TABLE pr_rule ON COMMIT DROP AS
    SELECT b.id AS branch_id, g.grade, r.followup_days, r.txn_days, r.warn_days, r.exempt_open_case,
           r.exempt_txn_days, r.exempt_tag, r.updated_at::date AS rule_since
      FROM org_unit b CROSS JOIN (VALUES ('A'), ('B'), ('C'), ('new')) g(grade)
     CROSS JOIN LATERAL pool_rule_for(b.id, g.grade) r
     WHERE b.kind = 'branch';
    -- every owned customer with the day each trigger falls due
    CREATE TEMP TABLE pr_cand ON COMMIT DROP AS
    WITH owned AS (
        SELECT c.id, c.branch_id, c.owner_id, c.tags, c.last_contact_at, c.created_at,
               coalesce((SELECT o.grade FROM grade_override o
                          WHERE o.customer_id = c.id AND o.dimension = 'abc' AND o.status = 'active'
                            AND (o.until IS NULL OR o.until >= d) ORDER BY o.id DESC LIMIT 1),
                        -- held at C as new by the last grading: the new relationships' rule
                        CASE WHEN g.abc_new THEN 'new' END,
                        g.abc, 'C') AS grade
          FROM customer c LEFT JOIN customer_grade g ON g.customer_id = c.id
         WHERE c.owner_id IS NOT NULL AND c.status IN ('active', 'churned') AND c.merged_into IS NULL
           AND assign_in(c.branch_id, c.owner_id, p_scope_kind, p_scope_id, s_set)
    ), base AS (
        SELECT o.*, t.last_txn,
               -- the clock starts again when the owner got the customer
               greatest(o.created_at, (SELECT max(h.at) FROM assignment_history h
                                        WHERE h.customer_id = o.id AND h.to_owner = o.owner_id))::date AS owned_on
          FROM owned o
          LEFT JOIN LATERAL (SELECT max(x.date) AS last_txn FROM txn x WHERE x.customer_id = o.id AND x.date <= d) t
                 ON true
    ), dues AS (
        SELECT b.id, b.branch_id, b.owner_id, b.grade, r.warn_days,
               -- and never before the rule itself: a limit counts from the day it took
               -- effect, so a new or stricter rule (or a base just loaded) warns
               -- first instead of emptying the branch at once
               CASE WHEN r.followup_days > 0
                    THEN greatest(b.owned_on, r.rule_since, b.last_contact_at::date) + r.followup_days END AS due_f,
               CASE WHEN r.txn_days > 0 THEN greatest(b.owned_on, r.rule_since, b.last_txn) + r.txn_days END AS due_t,
               (r.exempt_open_case AND EXISTS (SELECT 1 FROM customer_open_cases() oc WHERE oc.customer_id = b.id))
               OR (r.exempt_txn_days > 0 AND coalesce(b.last_txn > d - r.exempt_txn_days, false))
               OR (r.exempt_tag <> '' AND b.tags @> ARRAY[r.exempt_tag]) AS exempt
          FROM base b JOIN pr_rule r ON r.branch_id = b.branch_id AND r.grade = b.grade
    )
    SELECT dues.*, least(due_f, due_t) AS due,
           CASE WHEN due_t IS NULL OR due_f <= due_t THEN 'followup' ELSE 'txn' END AS trig
      FROM dues WHERE due_f IS NOT NULL OR due_t IS NOT NULL;

    INSERT INTO pool_run (as_of, dry_run, started_by) VALUES (d, dry, actor) RETURNING * INTO run;
    SELECT count(*) INTO run.examined FROM pr_cand;
    SELECT count(*) INTO run.exempted FROM pr_cand WHERE exempt AND due <= d;
    SELECT count(*) FILTER (WHERE trig = 'followup'), count(*) FILTER (WHERE trig = 'txn')
      INTO run.by_followup, run.by_txn FROM pr_cand WHERE NOT exempt AND due <= d;
    run.recycled := run.by_followup + run.by_txn;

    -- warnings: due within warn_days, not yet warned for that due date
    CREATE TEMP TABLE pr_warn ON COMMIT DROP AS
    SELECT p.* FROM pr_cand p
     WHERE NOT p.exempt AND p.warn_days > 0 AND p.due > d AND p.due - p.warn_days <= d
       AND NOT EXISTS (SELECT 1 FROM pool_warning w WHERE w.customer_id = p.id AND w.owner_id = p.owner_id
                                                      AND w.due_on = p.due);
    SELECT count(*) INTO run.warned FROM pr_warn;

    IF NOT dry THEN
        WITH f AS (
            INSERT INTO followup (branch_id, customer_id, kind, due, note, owner_id, created_by, updated_by)
            SELECT w.branch_id, w.id, 'call', w.due,
                   '公海预警 pool warning: returns to the pool on ' || w.due || CASE w.trig
                       WHEN 'followup' THEN ' unless a follow-up is logged' ELSE ' unless it buys' END,
                   w.owner_id, actor, actor
              FROM pr_warn w
            RETURNING id, customer_id
        )
        INSERT INTO pool_warning (customer_id, branch_id, owner_id, trigger, due_on, raised_on, followup_id)
        SELECT w.id, w.branch_id, w.owner_id, w.trig, w.due, d, f.id FROM pr_warn w JOIN f ON f.customer_id = w.id;
        INSERT INTO pool_event (customer_id, branch_id, kind, from_owner, to_owner, reason, as_of, actor)
        SELECT w.id, w.branch_id, 'warn', w.owner_id, w.owner_id,
               w.trig || ' limit: returns to the pool on ' || w.due, d, actor FROM pr_warn w;
        PERFORM kehu_announce_detail('pool.warning', c.id, c.branch_id, c.version, c.owner_id, actor,
                                     w.trig || ' ' || w.due)
           FROM pr_warn w JOIN customer c ON c.id = w.id;

        -- recycles: one statement per trigger, each with its reason for the assignment history
        bulk := run.recycled > 5000;
        IF bulk THEN
            PERFORM set_config('kehu.bulk', 'on', true);
        END IF;
        PERFORM set_config('kehu.assign_kind', 'recycle', true);
        PERFORM set_config('kehu.assign_reason', 'no logged follow-up within the limit', true);
        PERFORM pool_put(array_agg(p.id), array_agg('recycle'::text),
                         array_agg('no logged follow-up within the limit (reached ' || p.due || ')'), actor, d)
           FROM pr_cand p WHERE NOT p.exempt AND p.due <= d AND p.trig = 'followup' HAVING count(*) > 0;
        PERFORM set_config('kehu.assign_reason', 'no transaction within the limit', true);
        PERFORM pool_put(array_agg(p.id), array_agg('recycle'::text),
                         array_agg('no transaction within the limit (reached ' || p.due || ')'), actor, d)
           FROM pr_cand p WHERE NOT p.exempt AND p.due <= d AND p.trig = 'txn' HAVING count(*) > 0;
        PERFORM set_config('kehu.assign_kind', '', true);
        PERFORM set_config('kehu.assign_reason', '', true);
        IF bulk THEN
            PERFORM set_config('kehu.bulk', 'off', true);
            PERFORM kehu_announce_detail('pool.recycled', 0, x.branch_id, 0, NULL, actor, x.n::text)
               FROM (SELECT branch_id, count(*) AS n FROM pr_cand WHERE NOT exempt AND due <= d GROUP BY 1) x;
        END IF;
    END IF;

    run.duration_ms := (extract(epoch FROM clock_timestamp() - t0) * 1000)::bigint;
    UPDATE pool_run SET examined = run.examined, warned = run.warned, recycled = run.recycled,
                        by_followup = run.by_followup, by_txn = run.by_txn, exempted = run.exempted,
                        duration_ms = run.duration_ms
     WHERE id = run.id;
    IF dry THEN
        DELETE FROM pool_run WHERE id = run.id;
        run.id := 0;
    END IF;
    -- pr_cand stays to the end of the transaction: a dry run's caller lists it
    DROP TABLE pr_rule, pr_warn;
    RETURN run;
END

$$;
