/* The read path's shape (no timings: benchmarks live in bench/ and
 * scripts/bench):
 *  - grade_now, grade_of and grade_override_on (sql/0030) give exactly what
 *    the definitions of sql/0006 gave, over computed grades, overrides in
 *    force, expired, pending and stacked ones; and none is planned per call
 *    (grade_now inlined, the scalar lookups in PL/pgSQL);
 *  - customer get carries the same grades in one statement, masked or not
 *    as before, through many pipelined gets over the pool's per-turn sends;
 *  - the report connection runs with its settings (work_mem 256MB), which
 *    PostgreSQL used to refuse as one prepared statement of two commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static PGconn *pg;

/* sql/0006's definitions, kept here as the reference the new ones must match. */
static const char *const old_defs =
    "CREATE FUNCTION pg_temp.old_override_on(cust bigint, dim text, at date) RETURNS text LANGUAGE sql STABLE AS $$"
    "    SELECT o.grade FROM grade_override o"
    "     WHERE o.customer_id = cust AND o.dimension = dim AND o.status = 'active' AND (o.until IS NULL OR o.until >= at)"
    "     ORDER BY o.id DESC LIMIT 1 $$;"
    "CREATE FUNCTION pg_temp.old_grade_now(cust bigint)"
    " RETURNS TABLE (dimension text, grade text, computed text, overridden boolean, is_new boolean)"
    " LANGUAGE sql STABLE AS $$"
    "    SELECT d.dim, coalesce(o.g, d.computed), d.computed, o.g IS NOT NULL, d.dim = 'abc' AND o.g IS NULL AND d.is_new"
    "      FROM (SELECT u.dim, u.computed, u.i, coalesce(g.abc_new, false) AS is_new"
    "              FROM (SELECT 1) one"
    "              LEFT JOIN customer_grade g ON g.customer_id = cust"
    "              CROSS JOIN LATERAL unnest(grade_dims(),"
    "                                        ARRAY[g.abc, g.volume, g.value_tier, g.asset_tier, g.lifecycle, g.credit,"
    "                                              g.needs, g.potential, NULL]) WITH ORDINALITY u(dim, computed, i)) d"
    "      LEFT JOIN LATERAL (SELECT pg_temp.old_override_on(cust, d.dim, current_date) AS g) o ON true"
    "     WHERE coalesce(o.g, d.computed) IS NOT NULL"
    "     ORDER BY d.i $$;";

static int setup(void **state)
{
    if (it_setup(state) != 0)
        return -1;
    it_org_build(&org);
    pg = it_pg_open();
    /* 90 customers, most graded, with overrides of every kind */
    it_pg_do(pg,
             "SET kehu.bulk = 'on';"
             " INSERT INTO customer (branch_id, owner_id, name, id_number)"
             " SELECT (SELECT id FROM org_unit WHERE name = '上海分行'), (SELECT id FROM app_user WHERE username = 'li.lei'),"
             "        '读路径' || g, CASE WHEN g % 2 = 0 THEN '11010519491231002' || (g % 10) END"
             "   FROM generate_series(1, 90) g;"
             " INSERT INTO customer_grade (customer_id, branch_id, run_id, as_of, abc, abc_new, volume, value_tier,"
             "   asset_tier, lifecycle, credit, needs, potential, score, metric, sales, aum, since, recorded)"
             " SELECT c.id, c.branch_id, 0, current_date, (ARRAY['A', 'B', 'C'])[1 + c.id % 3], c.id % 2 = 0, 'B', 'low',"
             "        CASE WHEN c.id % 4 <> 0 THEN 'general' END, 'active', CASE WHEN c.id % 5 = 0 THEN 'AA' END,"
             "        CASE WHEN c.id % 6 = 0 THEN 'price' END, 'low', 1, 1, 1, 1, current_date, '{}'"
             "   FROM customer c WHERE c.name LIKE '读路径%' AND c.id % 7 <> 0;"
             " INSERT INTO grade_override (customer_id, branch_id, dimension, grade, reason, until, status)"
             " SELECT c.id, c.branch_id, d.dim, d.grade, 'test', d.until, d.status"
             "   FROM customer c CROSS JOIN LATERAL (VALUES"
             "     ('abc', 'A', NULL::date, 'active', c.id % 3 = 0),"
             "     ('abc', 'B', NULL, 'active', c.id % 9 = 0),"                       /* stacked: the later wins */
             "     ('volume', 'D', current_date - 1, 'active', c.id % 4 = 1),"        /* expired */
             "     ('volume', 'A', current_date, 'active', c.id % 8 = 1),"            /* ends today: in force */
             "     ('credit', 'C', NULL, 'pending', c.id % 5 = 2),"                   /* not in force */
             "     ('influence', 'high', NULL, 'active', c.id % 7 = 0),"              /* ungraded customer */
             "     ('needs', 'service', current_date + 3, 'active', c.id % 2 = 1),"
             "     ('potential', 'high', NULL, 'revoked', c.id % 3 = 1)) d(dim, grade, until, status, pick)"
             "  WHERE c.name LIKE '读路径%' AND d.pick;");
    it_pg_do(pg, old_defs);
    return 0;
}

static int teardown(void **state)
{
    PQfinish(pg);
    it_org_close(&org);
    return it_teardown(state);
}

/* The functions answer as sql/0006's did, customer by customer. */
static void test_grades_as_before(void **state)
{
    (void)state;
    assert_true(it_pg_i64(pg, "SELECT count(*) FROM grade_override") > 40);
    assert_int_equal(0, it_pg_i64(pg, "SELECT count(*) FROM customer c"
                                      " WHERE ARRAY(SELECT row(x.*)::text FROM grade_now(c.id) x) IS DISTINCT FROM"
                                      "       ARRAY(SELECT row(x.*)::text FROM pg_temp.old_grade_now(c.id) x)"));
    assert_int_equal(0, it_pg_i64(pg, "SELECT count(*) FROM customer c CROSS JOIN unnest(grade_dims()) d(dim)"
                                      " WHERE grade_of(c.id, d.dim) IS DISTINCT FROM"
                                      "       coalesce(pg_temp.old_override_on(c.id, d.dim, current_date),"
                                      "                (SELECT x.grade FROM pg_temp.old_grade_now(c.id) x"
                                      "                  WHERE x.dimension = d.dim AND NOT x.overridden))"));
    assert_int_equal(0, it_pg_i64(pg, "SELECT count(*) FROM customer c CROSS JOIN unnest(grade_dims()) d(dim)"
                                      " CROSS JOIN (VALUES (current_date), (current_date + 2), (current_date - 5)) t(at)"
                                      " WHERE grade_override_on(c.id, d.dim, t.at) IS DISTINCT FROM"
                                      "       pg_temp.old_override_on(c.id, d.dim, t.at)"));
    /* some customers have each case */
    assert_true(it_pg_i64(pg, "SELECT count(*) FROM customer c, grade_now(c.id) x WHERE x.overridden") > 20);
    assert_true(it_pg_i64(pg, "SELECT count(*) FROM customer c, grade_now(c.id) x WHERE x.is_new") > 5);
    assert_true(it_pg_i64(pg, "SELECT count(*) FROM customer c, grade_now(c.id) x WHERE x.dimension = 'influence'") > 5);
}

/* grade_now is inlined: the plan reads the tables; no call of a SQL
 * function is left to plan at run time. */
static void test_inlined(void **state)
{
    (void)state;
    const char *const queries[] = {
        "EXPLAIN (VERBOSE) SELECT * FROM grade_now(1)",
        "EXPLAIN (VERBOSE) SELECT (SELECT string_agg(n.grade, ',') FROM grade_now(c.id) n) FROM customer c WHERE c.id = 1",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        PGresult *r = PQexec(pg, queries[i]);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        for (int row = 0; row < PQntuples(r); row++) {
            const char *line = PQgetvalue(r, row, 0);
            /* an inlined set-returning function stays as "Subquery Scan on grade_now" */
            if (strstr(line, "grade_now(") || strstr(line, "grade_of(") || strstr(line, "grade_override_on(") ||
                strstr(line, "grade_dims(") || strstr(line, "Function Scan on grade"))
                fail_msg("%s: not inlined: %s", queries[i], line);
        }
        PQclear(r);
    }
    /* the scalar lookups cannot be inlined: PL/pgSQL keeps their plans */
    assert_int_equal(2, it_pg_i64(pg, "SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
                                      " WHERE p.proname IN ('grade_of', 'grade_override_on') AND l.lanname = 'plpgsql'"));
}

/* What a pipelined get answered. */
struct got {
    int done, code, masked, stars;
    int64_t id;
    char grades[600];
};

static void got_one(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    (void)st;
    struct got *g = arg;
    g->done = 1;
    g->code = resp ? (int)resp->status->code : -1;
    if (!resp || !resp->customer)
        return;
    const Kehu__V1__Customer *cu = resp->customer;
    g->id = cu->id;
    g->masked = cu->masked;
    g->stars = *cu->id_number ? strchr(cu->id_number, '*') != NULL : -1;
    for (size_t k = 0; k < cu->n_grades; k++)
        snprintf(g->grades + strlen(g->grades), sizeof g->grades - strlen(g->grades), "%s%s %s %d%d", k ? "," : "",
                 cu->grades[k]->dimension, cu->grades[k]->grade, cu->grades[k]->overridden, cu->grades[k]->is_new);
}

/* customer get: the grades of grade_now, in its order, pipelined gets from
 * two roles (masked for the service agent, in full for the owner). */
static void test_get_grades(void **state)
{
    (void)state;
    PGresult *ids = PQexec(pg, "SELECT id, coalesce(string_agg(dimension || ' ' || grade || ' ' || overridden::int"
                               " || is_new::int, ',' ORDER BY g.n), ''), bool_or(c.id_number IS NOT NULL)"
                               " FROM customer c LEFT JOIN LATERAL pg_temp.old_grade_now(c.id) WITH ORDINALITY"
                               " AS g (dimension, grade, computed, overridden, is_new, n) ON true"
                               " WHERE name LIKE '读路径%' GROUP BY c.id ORDER BY c.id");
    assert_int_equal(PQresultStatus(ids), PGRES_TUPLES_OK);
    int n = PQntuples(ids);
    assert_int_equal(n, 90);
    kehu_client *who[] = { org.li, org.agent };
    for (int w = 0; w < 2; w++) {
        static struct got got[90];
        memset(got, 0, sizeof got);
        for (int i = 0; i < n; i++) {
            Kehu__V1__CustomerGet get = KEHU__V1__CUSTOMER_GET__INIT;
            get.id = strtoll(PQgetvalue(ids, i, 0), NULL, 10);
            Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
            req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
            req.customer_get = &get;
            uint64_t rid;
            struct kehu_status st;
            assert_int_equal(kehu_send(who[w], &req, got_one, &got[i], &rid, &st), 0);
        }
        while (kehu_pending(who[w]) > 0)
            assert_true(kehu_run(who[w], 10000) >= 0);
        for (int i = 0; i < n; i++) {
            assert_true(got[i].done);
            assert_int_equal(got[i].code, C(OK));
            assert_int_equal(got[i].id, strtoll(PQgetvalue(ids, i, 0), NULL, 10));
            assert_string_equal(got[i].grades, PQgetvalue(ids, i, 1));
            if (strcmp(PQgetvalue(ids, i, 2), "t") == 0) {
                assert_int_equal(got[i].stars, w == 1);
                assert_int_equal(got[i].masked, w == 1);
            }
        }
    }
    PQclear(ids);
}

/* The report connection's settings are in force (admin stats reads
 * work_mem on that connection). */
static void test_report_settings(void **state)
{
    (void)state;
    Kehu__V1__AdminStats m = KEHU__V1__ADMIN_STATS__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ADMIN_STATS;
    req.admin_stats = &m;
    Kehu__V1__Response *resp = it_call(org.admin, &req, C(OK));
    assert_string_equal(resp->admin_stats->report_work_mem, "256MB");
    kehu_response_free(resp);
    FILE *f = fopen(th_kehud_log(&it_env), "r");
    assert_non_null(f);
    char line[1000];
    while (fgets(line, sizeof line, f))
        if (strstr(line, "settings were refused"))
            fail_msg("kehud: %s", line);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grades_as_before),
        cmocka_unit_test(test_inlined),
        cmocka_unit_test(test_get_grades),
        cmocka_unit_test(test_report_settings),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
