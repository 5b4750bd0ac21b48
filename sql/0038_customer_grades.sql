-- Kehu schema 38: every effective grade kept on the customer row.
--
-- customer get answered with the customer's grades as grade_now computes
-- them: the nine dimensions unnested, the overrides in force looked up, a
-- string_agg, on every get (about a quarter of the statement's CPU). sql/0034
-- keeps the effective abc and lifecycle grades on the row for lists; the
-- same triggers now keep all of them there, as the get shows them:
--
--   grades       "dimension grade OVERRIDDEN IS_NEW" (0/1 each) per grade
--                that grade_now returns, comma-separated in grade_dims()
--                order: what customer get read from grade_now before
--   grade_until  now the earliest end of the overrides in force behind any
--                dimension (was: behind abc or lifecycle)
--
-- An override that ends by the calendar changes the effective grades
-- without a write. Readers therefore trust the kept grades only while
-- grade_until has not passed (a date compare on the row they read) and
-- compute them otherwise (the get falls back to grade_now, a grade-filtered
-- list to the set of overrides in force); kehud brings such rows up to date
-- on a timer (customer_list_grades_expire, server/rpc_grade.c), so the
-- fallback is rare (between the day's turn and the next look) and no read
-- writes.
ALTER TABLE customer ADD COLUMN grades text;

-- One kept grade, as grade_now gives it: the override's if any, else the
-- computed one; NULL when there is neither (grade_now has no row then).
-- STABLE as its body is (text || integer is): so it is inlined, where a call
-- per grade cost a third of a refresh.
CREATE FUNCTION grade_item(dim text, computed text, override text, is_new boolean) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN coalesce(override, computed) IS NOT NULL
                THEN dim || ' ' || coalesce(override, computed) || ' ' || (override IS NOT NULL)::int
                     || (dim = 'abc' AND override IS NULL AND coalesce(is_new, false))::int END
$$;

-- Brings the kept grades of the given customers up to date (a no-op for
-- those already right: an unchanged row is not rewritten). Set-based: the
-- overrides in force pivoted per customer, one expression per dimension.
CREATE OR REPLACE FUNCTION customer_list_grades_refresh(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    WITH i AS MATERIALIZED (SELECT DISTINCT u.id FROM unnest(ids) u(id)),
    w AS (SELECT DISTINCT ON (o.customer_id, o.dimension) o.customer_id, o.dimension, o.grade, o.until
            FROM grade_override o JOIN i ON i.id = o.customer_id
           WHERE o.status = 'active' AND (o.until IS NULL OR o.until >= current_date)
           ORDER BY o.customer_id, o.dimension, o.id DESC),
    o AS (SELECT w.customer_id,
                 max(w.grade) FILTER (WHERE w.dimension = 'abc') AS abc,
                 max(w.grade) FILTER (WHERE w.dimension = 'volume') AS volume,
                 max(w.grade) FILTER (WHERE w.dimension = 'value_tier') AS value_tier,
                 max(w.grade) FILTER (WHERE w.dimension = 'asset_tier') AS asset_tier,
                 max(w.grade) FILTER (WHERE w.dimension = 'lifecycle') AS lifecycle,
                 max(w.grade) FILTER (WHERE w.dimension = 'credit') AS credit,
                 max(w.grade) FILTER (WHERE w.dimension = 'needs') AS needs,
                 max(w.grade) FILTER (WHERE w.dimension = 'potential') AS potential,
                 max(w.grade) FILTER (WHERE w.dimension = 'influence') AS influence,
                 min(w.until) AS until
            FROM w GROUP BY w.customer_id)
    UPDATE customer c
       SET grade_abc = e.abc, grade_lifecycle = e.lifecycle, grade_until = e.until, grades = e.grades
      FROM (SELECT i.id, coalesce(o.abc, g.abc) AS abc, coalesce(o.lifecycle, g.lifecycle) AS lifecycle, o.until,
                   nullif(concat_ws(',', grade_item('abc', g.abc, o.abc, g.abc_new),
                                    grade_item('volume', g.volume, o.volume, false),
                                    grade_item('value_tier', g.value_tier, o.value_tier, false),
                                    grade_item('asset_tier', g.asset_tier, o.asset_tier, false),
                                    grade_item('lifecycle', g.lifecycle, o.lifecycle, false),
                                    grade_item('credit', g.credit, o.credit, false),
                                    grade_item('needs', g.needs, o.needs, false),
                                    grade_item('potential', g.potential, o.potential, false),
                                    grade_item('influence', NULL, o.influence, false)), '') AS grades
              FROM i
              LEFT JOIN customer_grade g ON g.customer_id = i.id
              LEFT JOIN o ON o.customer_id = i.id) e
     WHERE c.id = e.id
       AND (c.grade_abc, c.grade_lifecycle, c.grade_until, c.grades) IS DISTINCT FROM (e.abc, e.lifecycle, e.until, e.grades)
$$;

-- A customer's grades today in the kept form, computed (grade_now): what a
-- get reads when the kept ones may be stale. PL/pgSQL, so that a get whose
-- kept grades are current (nearly all) pays for a function call it does not
-- make, not for setting up and tearing down a subquery's plan (sort, hash
-- join, aggregate) it does not run, as it did with the subquery inline.
CREATE FUNCTION customer_grades_now(cust bigint) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT string_agg(n.dimension || ' ' || n.grade || ' ' || n.overridden::int || n.is_new::int, ',')
              FROM grade_now(cust) n);
END
$$;

-- Moving the kept grades is not an edit of the customer (as in sql/0034 and
-- 0036): the trigger that logs edits skips updates that moved only them.
DROP TRIGGER customer_changed_update ON customer;
CREATE TRIGGER customer_changed_update AFTER UPDATE ON customer FOR EACH ROW
    WHEN (current_setting('kehu.bulk', true) IS DISTINCT FROM 'on'
          AND OLD.grade_abc IS NOT DISTINCT FROM NEW.grade_abc AND OLD.grade_lifecycle IS NOT DISTINCT FROM NEW.grade_lifecycle
          AND OLD.grade_until IS NOT DISTINCT FROM NEW.grade_until AND OLD.grades IS NOT DISTINCT FROM NEW.grades)
    EXECUTE FUNCTION customer_changed();

SELECT customer_list_grades_refresh(ARRAY(SELECT customer_id FROM customer_grade
                                          UNION SELECT customer_id FROM grade_override WHERE status = 'active'));
