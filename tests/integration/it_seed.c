/* kehu-seed --db on a real base: the seeded data gives every grading
 * dimension something to grade — asset snapshots in every asset tier, sales
 * on credit with their payments, balances overdue today by days in every
 * credit band, birthdays for care — with customer.balance exactly what the
 * credit sales and payments add up to; and the same seed loads the same
 * rows into another branch. Dates are fixed (--as-of, a grading run as of
 * that day), so the counts do not depend on the day the test runs. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x
#define AS_OF "2026-06-30"

static struct it_org org;

/* kehu-seed --db into the test's database as its owner (a superuser: the
 * fast path with triggers off); PGOPTIONS carries the ID key (th_env_up). */
static void seed(const char *branch, const char *seed_no, const char *customers)
{
    char cmd[2048], log[300];
    snprintf(log, sizeof log, "%s/seed.log", it_env.dir);
    snprintf(cmd, sizeof cmd, "'%s' --db '%s' --branch %s --seed %s --customers %s --as-of " AS_OF " >'%s' 2>&1",
             KEHU_SEED_BIN, it_env.conninfo, branch, seed_no, customers, log);
    int rc = system(cmd);
    if (rc != 0) {
        char out[8192] = "";
        FILE *f = fopen(log, "r");
        if (f) {
            out[fread(out, 1, sizeof out - 1, f)] = 0;
            fclose(f);
        }
        fail_msg("kehu-seed failed (%d):\n%s", rc, out);
    }
}

static int64_t val(PGconn *pg, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return it_pg_i64(pg, sql);
}

#define BRANCH(name) "(SELECT id FROM org_unit WHERE name = '" name "')"
#define SH BRANCH("上海分行")

static void test_seeded_base_has_credit_and_assets(void **state)
{
    (void)state;
    seed("上海分行", "11", "5000");
    PGconn *pg = it_pg_open();

    /* assets: most individuals and some companies hold some; every product */
    int64_t people = val(pg, "SELECT count(*) FROM customer WHERE branch_id = " SH " AND kind = 'individual'");
    int64_t holders = val(pg,
                          "SELECT count(DISTINCT a.customer_id) FROM asset_snapshot a JOIN customer c"
                          " ON c.id = a.customer_id WHERE c.branch_id = " SH " AND c.kind = 'individual'");
    assert_true(holders > people * 3 / 10 && holders < people * 9 / 10);
    assert_true(val(pg, "SELECT count(DISTINCT a.customer_id) FROM asset_snapshot a JOIN customer c"
                        " ON c.id = a.customer_id WHERE c.kind = 'corporate' AND c.branch_id = " SH) > 0);
    assert_int_equal(val(pg, "SELECT count(DISTINCT product) FROM asset_snapshot WHERE branch_id = " SH
                             " AND product IN ('deposit', 'wealth', 'fund', 'insurance')"),
                     4);
    assert_int_equal(val(pg, "SELECT count(*) FROM asset_snapshot WHERE date > '" AS_OF "'"), 0);
    assert_int_equal(val(pg, "SELECT count(*) FROM asset_snapshot a JOIN customer c ON c.id = a.customer_id"
                             " WHERE a.branch_id <> c.branch_id"),
                     0);

    /* credit: companies only, due on or after the sale, paid mostly; the
     * balance of every customer is its credit sales minus its payments */
    assert_true(val(pg, "SELECT count(*) FROM txn WHERE on_credit AND branch_id = " SH) > 1000);
    assert_int_equal(val(pg, "SELECT count(*) FROM txn t JOIN customer c ON c.id = t.customer_id"
                             " WHERE t.on_credit AND c.kind <> 'corporate'"),
                     0);
    assert_true(val(pg, "SELECT count(*) FROM payment WHERE branch_id = " SH) > 1000);
    assert_int_equal(val(pg, "SELECT count(*) FROM payment WHERE date > '" AS_OF "'"), 0);
    assert_int_equal(val(pg, "SELECT count(*) FROM customer c"
                             " LEFT JOIN (SELECT customer_id, sum(amount) s FROM txn WHERE on_credit GROUP BY 1) t"
                             "  ON t.customer_id = c.id"
                             " LEFT JOIN (SELECT customer_id, sum(amount) s FROM payment GROUP BY 1) p"
                             "  ON p.customer_id = c.id"
                             " WHERE c.balance <> coalesce(t.s, 0) - coalesce(p.s, 0)"),
                     0);
    assert_true(val(pg, "SELECT count(*) FROM customer WHERE balance > 0 AND branch_id = " SH) > 50);
    /* overdue on as_of in every band the credit rules tell apart */
    static const int lo[] = { 1, 30, 60, 90, 180 }, hi[] = { 29, 59, 89, 179, 100000 };
    for (int b = 0; b < 5; b++) {
        int64_t n = val(pg, "SELECT count(*) FROM customer_arrears('" AS_OF "') a JOIN customer c ON c.id = a.customer_id"
                            " WHERE c.branch_id = " SH " AND a.days_overdue BETWEEN %d AND %d",
                        lo[b], hi[b]);
        if (n == 0)
            fail_msg("no customer overdue by %d to %d days", lo[b], hi[b]);
    }

    /* a full grading run as of that day: every credit grade and asset tier */
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    m.as_of = AS_OF;
    m.kind = "full";
    m.live = 1; /* dated before today: live, not a back-test, so that its grades are kept */
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &m;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    static const char *const credit[] = { "AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C" };
    static const char *const tiers[] = { "vip", "wealth", "general" };
    for (size_t i = 0; i < sizeof credit / sizeof credit[0] + sizeof tiers / sizeof tiers[0]; i++) {
        int is_credit = i < sizeof credit / sizeof credit[0];
        const char *g = is_credit ? credit[i] : tiers[i - sizeof credit / sizeof credit[0]];
        int64_t n = 0;
        for (size_t k = 0; k < r->grade_run->n_counts; k++)
            if (strcmp(r->grade_run->counts[k]->dimension, is_credit ? "credit" : "asset_tier") == 0 &&
                strcmp(r->grade_run->counts[k]->grade, g) == 0)
                n = r->grade_run->counts[k]->customers;
        if (n == 0)
            fail_msg("no customer graded %s %s", is_credit ? "credit" : "asset tier", g);
    }
    kehu_response_free(r);
    /* vip is a few percent of the holders, not most of them */
    int64_t vip = val(pg, "SELECT count(*) FROM customer_grade WHERE asset_tier = 'vip' AND branch_id = " SH);
    int64_t tiered = val(pg, "SELECT count(*) FROM customer_grade WHERE asset_tier IS NOT NULL AND branch_id = " SH);
    assert_true(vip * 100 < tiered * 15);

    /* care: the owners' A and B customers have birthdays coming */
    Kehu__V1__CareToday ct = KEHU__V1__CARE_TODAY__INIT;
    ct.date = AS_OF;
    ct.days = 30;
    Kehu__V1__Request creq = KEHU__V1__REQUEST__INIT;
    creq.op_case = KEHU__V1__REQUEST__OP_CARE_TODAY;
    creq.care_today = &ct;
    r = it_call(org.li, &creq, C(OK));
    size_t birthdays = 0;
    for (size_t k = 0; k < r->care_tasks->n_tasks; k++)
        birthdays += strcmp(r->care_tasks->tasks[k]->occasion, "birthday") == 0;
    assert_true(birthdays > 0);
    kehu_response_free(r);
    PQfinish(pg);
}

/* A digest of what seed S loaded into a branch for customers 1..N, by
 * customer number (whatever their ids and owners). */
static int64_t digest(PGconn *pg, const char *branch, int seed_no, int n)
{
    char who[300];
    snprintf(who, sizeof who,
             "c.branch_id = (SELECT id FROM org_unit WHERE name = '%s') AND c.ext_ref LIKE 'SEED-%d-%%%%'"
             " AND split_part(c.ext_ref, '-', 3)::int <= %d",
             branch, seed_no, n);
    return val(pg,
               "SELECT ('x' || left(md5(string_agg(r, '|' ORDER BY r)), 15))::bit(60)::bigint FROM ("
               " SELECT split_part(c.ext_ref, '-', 3) || ' ' || c.name || c.balance || ' ' || c.revenue AS r"
               "  FROM customer c WHERE %s"
               " UNION ALL SELECT split_part(c.ext_ref, '-', 3) || ' t ' || t.date || t.amount || t.on_credit"
               "   || coalesce(t.due::text, '') FROM txn t JOIN customer c ON c.id = t.customer_id WHERE %s"
               " UNION ALL SELECT split_part(c.ext_ref, '-', 3) || ' p ' || p.date || p.amount || p.method"
               "   || coalesce(p.reference, '') || coalesce(p.note, '') || p.created_at"
               "  FROM payment p JOIN customer c ON c.id = p.customer_id WHERE %s"
               " UNION ALL SELECT split_part(c.ext_ref, '-', 3) || ' a ' || a.date || a.product || a.balance"
               "  FROM asset_snapshot a JOIN customer c ON c.id = a.customer_id WHERE %s) x",
               who, who, who, who);
}

/* The same seed and date give the same customers, sales, payments and
 * snapshots (in another branch, under other ids); another seed other ones. */
static void test_same_seed_same_rows(void **state)
{
    (void)state;
    /* a branch in the same city (the city in its name draws customers), without account managers */
    it_expect(org.admin, it_req_org_add("上海浦东分行", KEHU__V1__UNIT_KIND__BRANCH, "华东区"), C(OK), NULL);
    seed("上海浦东分行", "11", "800");
    seed("上海浦东分行", "12", "800");
    PGconn *pg = it_pg_open();
    assert_true(val(pg, "SELECT count(*) FROM payment WHERE branch_id = " BRANCH("上海浦东分行")) > 0);
    int64_t a = digest(pg, "上海分行", 11, 800), b = digest(pg, "上海浦东分行", 11, 800);
    if (a != b)
        fail_msg("seed 11 loaded other rows into 上海浦东分行 than into 上海分行");
    if (digest(pg, "上海浦东分行", 12, 800) == b)
        fail_msg("seeds 11 and 12 loaded the same rows");
    PQfinish(pg);
}

static int setup(void **state)
{
    (void)state;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    it_org_close(&org);
    return it_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_base_has_credit_and_assets),
        cmocka_unit_test(test_same_seed_same_rows),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
