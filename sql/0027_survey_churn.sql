-- Surveys as a churn-warning reason (docs/cases.md): the satisfaction
-- signals of a customer count recorded surveys beside the 1-5 asked when a
-- case closes. A survey's perceived / expected is put on the same scale as
-- 5 x the ratio, within 1 and 5 (expectations met or passed: 5; perceived
-- at half of expected: 2.5), so a fall in either is a fall of one average.
CREATE OR REPLACE FUNCTION customer_service_signals(d date, recent_days integer, baseline_days integer)
RETURNS TABLE (customer_id bigint, complaints bigint, satisfaction_recent numeric, satisfaction_baseline numeric)
LANGUAGE sql STABLE AS $$
    WITH w AS (SELECT (d + 1)::timestamp AT TIME ZONE 'UTC' AS hi,
                      (d + 1 - recent_days)::timestamp AT TIME ZONE 'UTC' AS mid,
                      (d + 1 - recent_days - baseline_days)::timestamp AT TIME ZONE 'UTC' AS lo),
         x AS (SELECT s.customer_id, s.nature = 'complaint' AND s.created_at >= w.mid AND s.created_at < w.hi AS complaint,
                      s.satisfaction::numeric AS score, s.closed_at AS at
                 FROM service_case s, w
                WHERE s.created_at < w.hi AND (s.created_at >= w.lo OR s.closed_at >= w.lo)
               UNION ALL
               SELECT v.customer_id, false, least(5, greatest(1, 5 * v.satisfaction)), v.recorded_at
                 FROM survey v, w
                WHERE v.status = 'recorded' AND v.recorded_at >= w.lo AND v.recorded_at < w.hi)
    SELECT x.customer_id, count(*) FILTER (WHERE x.complaint),
           avg(x.score) FILTER (WHERE x.at >= w.mid AND x.at < w.hi),
           avg(x.score) FILTER (WHERE x.at >= w.lo AND x.at < w.mid)
      FROM x, w
     GROUP BY x.customer_id
$$;
