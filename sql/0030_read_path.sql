-- Kehu schema 30: the read path without per-call planning.
--
-- A SQL function PostgreSQL cannot inline is parsed and planned again in
-- every statement that calls it. grade_now called grade_override_on (a
-- SELECT with FROM: not inlinable) once per dimension, so every customer
-- get planned that lookup nine times. The functions below give the same
-- output as those of 0006 and none is planned per call:
--   grade_dims               an expression: inlined
--   grade_of,                PL/pgSQL (below: a lookup cannot be inlined
--   grade_override_on        into a scalar expression), plans kept per
--                            connection
--   grade_now                one SELECT (a set-returning SQL function,
--                            STABLE, not STRICT: inlined into the FROM of
--                            its caller), the overrides in force read once
--                            for all dimensions by one index scan
-- (a SQL function is inlined only while it stays STABLE or IMMUTABLE,
-- without SET, SECURITY DEFINER or STRICT; grade_now calls no function.)

CREATE OR REPLACE FUNCTION grade_dims() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['abc', 'volume', 'value_tier', 'asset_tier', 'lifecycle', 'credit', 'needs', 'potential', 'influence']
$$;

-- A scalar function that reads a table cannot be inlined (PostgreSQL inlines
-- a scalar SQL function only when its body is an expression without
-- subqueries), so these two are PL/pgSQL: their statements are planned once
-- per connection and kept, where a SQL function is parsed and planned again
-- in every statement that calls it.
CREATE OR REPLACE FUNCTION grade_override_on(cust bigint, dim text, at date) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT o.grade FROM grade_override o
             WHERE o.customer_id = cust AND o.dimension = dim AND o.status = 'active' AND (o.until IS NULL OR o.until >= at)
             ORDER BY o.id DESC LIMIT 1);
END
$$;

-- (an override's grade is never NULL: the first lookup decides when it finds one)
CREATE OR REPLACE FUNCTION grade_of(cust bigint, dim text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    g text;
BEGIN
    SELECT o.grade INTO g FROM grade_override o
     WHERE o.customer_id = cust AND o.dimension = dim AND o.status = 'active'
       AND (o.until IS NULL OR o.until >= current_date)
     ORDER BY o.id DESC LIMIT 1;
    IF g IS NOT NULL THEN
        RETURN g;
    END IF;
    RETURN (SELECT CASE dim WHEN 'abc' THEN x.abc WHEN 'volume' THEN x.volume WHEN 'value_tier' THEN x.value_tier
                            WHEN 'asset_tier' THEN x.asset_tier WHEN 'lifecycle' THEN x.lifecycle
                            WHEN 'credit' THEN x.credit WHEN 'needs' THEN x.needs
                            WHEN 'potential' THEN x.potential END
              FROM customer_grade x WHERE x.customer_id = cust);
END
$$;

-- The override in force per dimension: the latest active one (highest id)
-- whose end has not passed, as grade_override_on picks it.
CREATE OR REPLACE FUNCTION grade_now(cust bigint)
RETURNS TABLE (dimension text, grade text, computed text, overridden boolean, is_new boolean) LANGUAGE sql STABLE AS $$
    SELECT d.dim, coalesce(o.grade, d.computed), d.computed, o.grade IS NOT NULL,
           d.dim = 'abc' AND o.grade IS NULL AND d.is_new
      FROM (SELECT u.dim, u.computed, u.i, coalesce(g.abc_new, false) AS is_new
              FROM (SELECT 1) one
              LEFT JOIN customer_grade g ON g.customer_id = cust
              CROSS JOIN LATERAL unnest(ARRAY['abc', 'volume', 'value_tier', 'asset_tier', 'lifecycle', 'credit',
                                              'needs', 'potential', 'influence'],
                                        ARRAY[g.abc, g.volume, g.value_tier, g.asset_tier, g.lifecycle, g.credit,
                                              g.needs, g.potential, NULL]) WITH ORDINALITY u(dim, computed, i)) d
      LEFT JOIN (SELECT DISTINCT ON (x.dimension) x.dimension, x.grade
                   FROM grade_override x
                  WHERE x.customer_id = cust AND x.status = 'active' AND (x.until IS NULL OR x.until >= current_date)
                  ORDER BY x.dimension, x.id DESC) o ON o.dimension = d.dim
     WHERE coalesce(o.grade, d.computed) IS NOT NULL
     ORDER BY d.i
$$;
