-- Kehu schema 34: the grades lists filter on, kept on the customer row.
--
-- customer list --grade A asked for the customers whose effective grade
-- (an override in force, else the last run's: grade_of) is A as a set from
-- customer_grade and grade_override: at a million customers the planner
-- hashed most of them first (seconds for the most common grade). The
-- effective abc and lifecycle grades now sit on the customer row beside the
-- sort keys, so a list reads them where it reads the row, and indexes can
-- lead with them.
--
--   grade_abc, grade_lifecycle  the effective grades (grade_of's answers)
--   grade_until                 the earliest end of the overrides in force
--                               behind them: from the day after, the row
--                               may be stale, and a list by grade brings it
--                               up to date before it reads
--                               (customer_list_grades_expire)
--
-- They are kept by triggers, set-based (a grade run writes customer_grade
-- in a few statements; each fires once): customer_grade (what a run
-- stores) and grade_override (a new override, an approval, a revocation),
-- and for an override that ended by the calendar, by the list. Pool recycling,
-- claims and status changes move the status, which is a column already.
ALTER TABLE customer ADD COLUMN grade_abc text, ADD COLUMN grade_lifecycle text, ADD COLUMN grade_until date;

-- Brings the list grades of the given customers up to date (a no-op for
-- those already right: an unchanged row is not rewritten).
CREATE FUNCTION customer_list_grades_refresh(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    WITH i AS MATERIALIZED (SELECT DISTINCT u.id FROM unnest(ids) u(id)),
    o AS (SELECT DISTINCT ON (o.customer_id, o.dimension) o.customer_id, o.dimension, o.grade, o.until
            FROM grade_override o JOIN i ON i.id = o.customer_id
           WHERE o.dimension IN ('abc', 'lifecycle') AND o.status = 'active'
             AND (o.until IS NULL OR o.until >= current_date)
           ORDER BY o.customer_id, o.dimension, o.id DESC)
    UPDATE customer c
       SET grade_abc = e.abc, grade_lifecycle = e.lifecycle, grade_until = e.until
      FROM (SELECT i.id, coalesce(oa.grade, g.abc) AS abc, coalesce(ol.grade, g.lifecycle) AS lifecycle,
                   least(oa.until, ol.until) AS until
              FROM i
              LEFT JOIN customer_grade g ON g.customer_id = i.id
              LEFT JOIN o oa ON oa.customer_id = i.id AND oa.dimension = 'abc'
              LEFT JOIN o ol ON ol.customer_id = i.id AND ol.dimension = 'lifecycle') e
     WHERE c.id = e.id
       AND (c.grade_abc, c.grade_lifecycle, c.grade_until) IS DISTINCT FROM (e.abc, e.lifecycle, e.until)
$$;

CREATE FUNCTION customer_grade_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM customer_list_grades_refresh(ARRAY(SELECT customer_id FROM old_rows));
    ELSE
        PERFORM customer_list_grades_refresh(ARRAY(SELECT customer_id FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER customer_grade_inserted AFTER INSERT ON customer_grade
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_grade_moved();
CREATE TRIGGER customer_grade_updated AFTER UPDATE ON customer_grade
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_grade_moved();
CREATE TRIGGER customer_grade_deleted AFTER DELETE ON customer_grade
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_grade_moved();
CREATE TRIGGER grade_override_inserted AFTER INSERT ON grade_override
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_grade_moved();
CREATE TRIGGER grade_override_updated AFTER UPDATE ON grade_override
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_grade_moved();
CREATE TRIGGER grade_override_deleted AFTER DELETE ON grade_override
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customer_grade_moved();

-- The rows whose override has ended since they were kept (the day turned,
-- nothing was written): a list that filters on the kept grades brings them
-- up to date first. Normally none: a probe of customer_grade_until.
CREATE FUNCTION customer_list_grades_expire() RETURNS void LANGUAGE sql AS $$
    SELECT customer_list_grades_refresh(ARRAY(SELECT id FROM customer WHERE grade_until < current_date))
     WHERE EXISTS (SELECT 1 FROM customer WHERE grade_until < current_date)
$$;

-- Moving the list grades is not an edit of the customer: no change log, no
-- event, no new version (the grade run announces its own changes). The
-- trigger that logs edits skips updates that moved them (only the refresh
-- above writes them, and it writes nothing else); its name keeps its place
-- in the order triggers fire in.
DROP TRIGGER customer_changed ON customer;
CREATE TRIGGER customer_changed AFTER INSERT ON customer FOR EACH ROW EXECUTE FUNCTION customer_changed();
CREATE TRIGGER customer_changed_update AFTER UPDATE ON customer FOR EACH ROW
    WHEN (OLD.grade_abc IS NOT DISTINCT FROM NEW.grade_abc AND OLD.grade_lifecycle IS NOT DISTINCT FROM NEW.grade_lifecycle
          AND OLD.grade_until IS NOT DISTINCT FROM NEW.grade_until)
    EXECUTE FUNCTION customer_changed();

SELECT customer_list_grades_refresh(ARRAY(SELECT customer_id FROM customer_grade
                                          UNION SELECT customer_id FROM grade_override WHERE status = 'active'));

-- A list filtered by grade or status, in each of its four orders (server/
-- rpc_customer.c sortings): the filter's value then the sort key, so that a
-- first page reads its 21 rows in order and the count of what follows reads
-- at most its cap, whatever the value (kehud's plans are generic: they
-- cannot tell a rare value from a common one).
CREATE INDEX customer_abc_name ON customer (grade_abc, sort_key, id);
CREATE INDEX customer_abc_created ON customer (grade_abc, created_at, id);
CREATE INDEX customer_abc_last_contact ON customer (grade_abc, (coalesce(last_contact_at, '-infinity'::timestamptz)), id);
CREATE INDEX customer_abc_revenue ON customer (grade_abc, revenue, id);
CREATE INDEX customer_lifecycle_name ON customer (grade_lifecycle, sort_key, id);
CREATE INDEX customer_lifecycle_created ON customer (grade_lifecycle, created_at, id);
CREATE INDEX customer_lifecycle_last_contact ON customer (grade_lifecycle, (coalesce(last_contact_at, '-infinity'::timestamptz)), id);
CREATE INDEX customer_lifecycle_revenue ON customer (grade_lifecycle, revenue, id);
CREATE INDEX customer_status_name ON customer (status, sort_key, id);
CREATE INDEX customer_status_created ON customer (status, created_at, id);
CREATE INDEX customer_status_last_contact ON customer (status, (coalesce(last_contact_at, '-infinity'::timestamptz)), id);
CREATE INDEX customer_status_revenue ON customer (status, revenue, id);
CREATE INDEX customer_grade_until ON customer (grade_until) WHERE grade_until IS NOT NULL;
