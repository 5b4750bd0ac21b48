-- Rules that agree with each other.
--
-- Won back needs a real earlier lapse: a customer is 'won_back' only when
-- the last run recorded it silent or churned (or already won back while
-- its return is recent); a first grading never calls anyone won back
-- (grade_run, redefined whole below).
--
-- The live grading moves forward in time: a run that would commit as of a
-- date before the latest live run is refused (kehud makes any run dated
-- before today a back-test, rolled back like a dry run, unless asked for a
-- live one).
--
-- Grading scope: a run over one branch (p_branch) grades, records and warns
-- that branch's customers only; kehud lets a branch manager start such a run
-- for their own branch, and only when ABC ranks within each branch
-- (abc.scope = branch) or for a lifecycle run; company-wide runs are for
-- admins. A branch run is not the month's run for the schedule.

-- Runs a grading of kind 'full' or 'lifecycle' as of a date, inside the
-- caller's transaction (a dry run is rolled back by the caller), and returns
-- the run's id. Progress goes out as notices "kehu.progress STEP/7 WHAT".
-- Only one run at a time: a second gets SQL state 55P03. The policy is read
-- once into variables (plain values in the statements, not a lookup a row).
-- Credit gates the top grade: a customer whose (effective) credit is below
-- abc.credit_floor is held at B whatever its contribution (A customers are
-- sound and creditworthy); customer_grade.abc_held says so, for grade show.
INSERT INTO grade_policy (position, key, value, type, min, max, choices, description) VALUES
 (7, 'abc.credit_floor', 'B', 'choice', NULL, NULL, '{none,AAA,AA,A,BBB,BB,B,CCC,CC,C}',
  'credit below this holds a customer at ABC B at best (none: credit does not gate)');
ALTER TABLE customer_grade ADD COLUMN abc_held boolean NOT NULL DEFAULT false;

-- Each customer's own rhythm (采购周期): silence and churn are counted in
-- its purchase cycles, not in fixed days alone. The cycle is the mean
-- interval between its purchases over the last lifecycle.cycle_months
-- (needs lifecycle.cycle_min_purchases of them; fewer: no cycle, the fixed
-- days apply). Silent after max(silent_days, cycle_silent x cycle) days
-- without a purchase, churned after max(churned_days, cycle_churned x cycle).
INSERT INTO grade_policy (position, key, value, type, min, max, choices, description) VALUES
 (44, 'lifecycle.cycle_months', '24', 'int', 1, 120, NULL,
  'the purchase cycle is measured over this many months back'),
 (45, 'lifecycle.cycle_min_purchases', '4', 'int', 2, 1000, NULL,
  'purchases in that window needed to know a customer''s cycle (fewer: the fixed days apply)'),
 (46, 'lifecycle.cycle_silent', '2', 'num', 1, 100, NULL,
  'silent after this many of its own cycles without a purchase (never before silent_days)'),
 (47, 'lifecycle.cycle_churned', '4', 'num', 1, 100, NULL,
  'churned after this many of its own cycles without a purchase (never before churned_days)');

ALTER TABLE grading_run ADD COLUMN branch_id bigint REFERENCES org_unit (id);  -- NULL: the whole company

DROP FUNCTION grade_run(text, date, boolean, bigint);
CREATE FUNCTION grade_run(p_kind text, d date, p_dry boolean, actor bigint, p_branch bigint DEFAULT NULL)
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
               g.lifecycle AS g_lifecycle, g.abc_held AS g_abc_held
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
               CASE WHEN i.keep_last THEN i.g_volume
                    WHEN i.sales >= vol_a THEN 'A' WHEN i.sales >= vol_b THEN 'B' WHEN i.sales >= vol_c THEN 'C'
                    ELSE 'D' END AS volume,
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
        SELECT r.*, h.abc, h.abc_held, s.score, s.value_tier,
               coalesce(r.ov ->> 'lifecycle', r.lifecycle) AS lifecycle_eff,
               ARRAY[coalesce(r.ov ->> 'abc', h.abc), coalesce(r.ov ->> 'volume', r.volume),
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
          LEFT JOIN sc s ON s.volume = coalesce(r.ov ->> 'volume', r.volume)
                        AND s.credit = coalesce(r.ov ->> 'credit', r.credit, 'none')
                        AND s.influence = coalesce(r.ov ->> 'influence', 'medium')
        OFFSET 0
    )
    SELECT e.id, e.branch_id, e.owner_id, e.version, e.status, e.abc, e.abc_held, e.abc_new, e.volume, e.value_tier, e.asset_tier,
           e.lifecycle, e.credit, e.needs, e.potential, e.score, e.metric, e.sales, e.aum, e.start, e.last_purchase,
           e.eff, e.lifecycle_eff, e.recent_n, e.recent_amt, e.base_n, e.base_amt, e.cycle,
           g.customer_id IS NOT NULL AS was_graded,
           g.recorded IS DISTINCT FROM e.eff AS eff_changed,
           -- the run's date first: a run on another day rewrites every row anyway
           g.customer_id IS NOT NULL
           AND (g.as_of <> d OR g.recorded IS DISTINCT FROM e.eff
                OR (g.branch_id, g.abc, g.abc_held, g.abc_new, g.volume, g.value_tier, g.asset_tier, g.lifecycle, g.credit,
                    g.needs, g.potential, g.score, g.metric, g.sales, g.aum, g.since, g.last_purchase)
                   IS DISTINCT FROM
                   (e.branch_id, e.abc, e.abc_held, e.abc_new, e.volume, e.value_tier, e.asset_tier, e.lifecycle, e.credit,
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
       SET branch_id = n.branch_id, run_id = run, as_of = d, abc = n.abc, abc_held = n.abc_held, abc_new = n.abc_new, volume = n.volume,
           value_tier = n.value_tier, asset_tier = n.asset_tier, lifecycle = n.lifecycle, credit = n.credit,
           needs = n.needs, potential = n.potential, score = n.score, metric = n.metric, sales = n.sales, aum = n.aum,
           since = n.start, last_purchase = n.last_purchase, recorded = n.eff
      FROM gr_new n
     WHERE n.row_changed AND g.customer_id = n.id;
    INSERT INTO customer_grade (customer_id, branch_id, run_id, as_of, abc, abc_held, abc_new, volume, value_tier, asset_tier,
                                lifecycle, credit, needs, potential, score, metric, sales, aum, since, last_purchase,
                                recorded)
    SELECT n.id, n.branch_id, run, d, n.abc, n.abc_held, n.abc_new, n.volume, n.value_tier, n.asset_tier, n.lifecycle, n.credit,
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

-- Which run the schedule asks for today: a company-wide full run when none
-- ran this month, else a lifecycle run when none ran today; NULL when none.
-- A branch's own run does not count for the company.
CREATE OR REPLACE FUNCTION grade_schedule_due(today date) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN grade_policy_text('schedule.full') = 'monthly'
             AND NOT EXISTS (SELECT 1 FROM grading_run r WHERE r.kind = 'full' AND NOT r.dry_run
                                AND r.branch_id IS NULL
                                AND r.duration_ms IS NOT NULL AND r.as_of >= date_trunc('month', today)::date)
            THEN 'full'
        WHEN grade_policy_text('schedule.lifecycle') = 'daily'
             AND NOT EXISTS (SELECT 1 FROM grading_run r WHERE NOT r.dry_run AND r.duration_ms IS NOT NULL
                                AND r.branch_id IS NULL AND r.as_of >= today)
            THEN 'lifecycle'
    END
$$;

-- Churn warnings that a branch can act on (measured with scripts/calibrate,
-- docs/grading.md): only an established customer is warned — one with a
-- baseline of purchases or a known rhythm, or a complaint or survey signal;
-- a one-off buyer falling silent is not churn. Each warning carries its
-- value at risk (the yearly revenue that fell away against the baseline,
-- plus the assets at churn.aum_weight), so lists show the most valuable
-- first.
ALTER TABLE churn_warning ADD COLUMN value_at_risk numeric(18, 2) NOT NULL DEFAULT 0;
CREATE INDEX churn_warning_value ON churn_warning (value_at_risk DESC, id) WHERE status IN ('open', 'acknowledged');
INSERT INTO grade_policy (position, key, value, type, min, max, choices, description) VALUES
 (76, 'churn.aum_weight', '0.02', 'num', 0, 1, NULL,
  'churn value at risk: yearly revenue per yuan of assets (AUM), added to the revenue that fell away');

-- Churn warnings for run `run` as of d, from gr_new (the run's temp table):
-- raises new ones (each with a call planned for the owner, and announced),
-- adds new reasons to open ones, closes as recovered those whose reasons
-- are gone. Returns how many were raised.
CREATE OR REPLACE FUNCTION grade_churn_warnings(run bigint, d date, actor bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    recent    numeric := grade_policy_num('churn.recent_days');
    baseline  numeric := grade_policy_num('churn.baseline_days');
    keep      numeric := 1 - grade_policy_num('churn.drop_share');
    min_base  bigint := grade_policy_num('churn.min_baseline');
    sat_drop  numeric := grade_policy_num('churn.satisfaction_drop');
    min_complaints numeric := grade_policy_num('churn.complaints');
    aum_weight numeric := grade_policy_num('churn.aum_weight');
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
                         + n.aum * aum_weight, 2) AS value_at_risk,
                   -- only an established customer can be warned: a baseline of purchases, or a known rhythm
                   -- (one-off buyers falling silent are not churn), or what complaints and surveys say
                   CASE WHEN n.base_n >= min_base OR n.cycle IS NOT NULL OR s.customer_id IS NOT NULL THEN
                       array_remove(ARRAY[
                           CASE WHEN n.base_n >= min_base AND n.recent_n < keep * n.base_n * recent / baseline
                                THEN 'frequency_drop' END,
                           CASE WHEN n.base_n >= min_base AND n.recent_amt < keep * n.base_amt * recent / baseline
                                THEN 'amount_drop' END,
                           CASE WHEN n.lifecycle_eff = 'silent' AND (n.base_n >= min_base OR n.cycle IS NOT NULL)
                                THEN 'silent' END,
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
    -- still there: new reasons join, the value at risk is today's
    UPDATE churn_warning c
       SET reasons = (SELECT array_agg(DISTINCT r ORDER BY r) FROM unnest(c.reasons || w.reasons) r),
           value_at_risk = w.value_at_risk
      FROM gr_warn w
     WHERE c.id = w.warning_id AND w.watched AND cardinality(w.reasons) > 0
       AND (NOT (c.reasons @> w.reasons) OR c.value_at_risk IS DISTINCT FROM w.value_at_risk)
       AND c.status IN ('open', 'acknowledged');
    -- new ones
    CREATE TEMP TABLE gr_fresh ON COMMIT DROP AS
    WITH fresh AS (
        INSERT INTO churn_warning (customer_id, branch_id, run_id, raised_on, reasons, value_at_risk)
        SELECT w.id, w.branch_id, run, d, w.reasons, w.value_at_risk FROM gr_warn w
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
