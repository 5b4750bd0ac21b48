/* The grades kept on the customer row (sql/0034, 0038) that a customer list
 * filters on and customer show (get by id) reads, against what `kehu grade
 * show` says, through the command line, after everything that moves a grade
 * or a status: a grade run, an override in force at once, one pending and
 * then approved, a revocation by a newer override, an archive, a release
 * into the pool and a claim, an override whose end has passed (the row
 * stale: reads compute the grades, none writes, until kehud's timer brings
 * it up to date) and the next run. Every check lists each abc and lifecycle
 * grade as the admin and as an account manager (whose list holds only their
 * customers), compares every customer's grades in customer show with grade
 * show's, and the rows' kept grades with grade_of and grade_now in the
 * database. */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PW "KEHU_PASSWORD=" IT_PASSWORD

static struct it_org org;
enum { U_ADMIN, U_LI, U_ZHANG, U_MGR, NU };
static const char *const usernames[NU] = { "admin", "li.lei", "zhang.wei", "wang.fang" };
static struct it_cli cl[NU];
static PGconn *pg;

#define NC 9
static long long cust[NC];
static int owner_of[NC];           /* U_LI or U_ZHANG, -1 in the pool */
static const char *status_of[NC]; /* as kehud keeps it */

static const char *const abc_values[] = { "A", "B", "C" };
static const char *const life_values[] = { "new", "active", "loyal", "silent", "churned", "won_back" };

static void k(int u, int want, const char *needle, const char *const *args)
{
    int rc = it_cli_run(&cl[u], IT_ENV(PW), args);
    it_cli_expect(&cl[u], rc, want, needle);
}

static const char *num(long long v)
{
    static char ring[32][24];
    static int next;
    char *s = ring[next++ % 32];
    snprintf(s, 24, "%lld", v);
    return s;
}

static const char *day(int plus)
{
    static char ring[16][11];
    static int next;
    char *s = ring[next++ % 16];
    time_t t = time(NULL) + (time_t)plus * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s, 11, "%Y-%m-%d", &tm);
    return s;
}

/* The effective grade `grade show` gives for dimension dim ("" if none). */
static const char *shown_grade(long long id, const char *dim, char *out, size_t outsz)
{
    k(U_ADMIN, 0, NULL, IT_ARGS("grade", "show", num(id), "--json"));
    const char *g = strstr(cl[U_ADMIN].out, "\"grades\"");
    assert_non_null(g);
    const char *end = strchr(g, '}');
    char key[32];
    snprintf(key, sizeof key, "\"%s\": \"", dim);
    const char *at = strstr(g, key);
    out[0] = 0;
    if (at && at < end)
        snprintf(out, outsz, "%.*s", (int)strcspn(at + strlen(key), "\""), at + strlen(key));
    return out;
}

/* The "grades" object of `kehu ARGS... ID --json` as the admin. */
static void grades_json(const char *what, long long id, char *out, size_t outsz)
{
    k(U_ADMIN, 0, NULL, IT_ARGS(what, "show", num(id), "--json"));
    const char *g = strstr(cl[U_ADMIN].out, "\"grades\": {");
    assert_non_null(g);
    snprintf(out, outsz, "%.*s", (int)(strchr(g, '}') - g + 1), g);
}

/* Whether id is among the customers of `kehu customer list ARGS --json` as u. */
static int listed(int u, long long id)
{
    char needle[40];
    snprintf(needle, sizeof needle, "\n    \"id\": %lld,", id);
    return strstr(cl[u].out, needle) != NULL;
}

/* Every list by grade agrees with grade show, for the admin and li.lei. */
static void check_lists(const char *label, const char *status)
{
    char shown[NC][2][32];
    for (int i = 0; i < NC; i++) {
        shown_grade(cust[i], "abc", shown[i][0], sizeof shown[i][0]);
        shown_grade(cust[i], "lifecycle", shown[i][1], sizeof shown[i][1]);
        /* get by id: every dimension as grade show has it */
        char in_get[512], in_show[512];
        grades_json("customer", cust[i], in_get, sizeof in_get);
        grades_json("grade", cust[i], in_show, sizeof in_show);
        if (strcmp(in_get, in_show) != 0)
            fail_msg("%s: customer %lld: customer show has %s, grade show %s", label, cust[i], in_get, in_show);
    }
    for (int d = 0; d < 2; d++) {
        const char *const *values = d ? life_values : abc_values;
        size_t nv = d ? sizeof life_values / sizeof *life_values : sizeof abc_values / sizeof *abc_values;
        for (size_t v = 0; v < nv; v++) {
            char filter[48];
            snprintf(filter, sizeof filter, "%s=%s", d ? "lifecycle" : "abc", values[v]);
            for (int u = U_ADMIN; u <= U_LI; u++) {
                k(u, 0, NULL, IT_ARGS("customer", "list", "--grade", filter, "--status", status, "--limit", "1000",
                                      "--json"));
                for (int i = 0; i < NC; i++) {
                    int want = strcmp(shown[i][d], values[v]) == 0 && (u == U_ADMIN || owner_of[i] == U_LI) &&
                               (strcmp(status, "all") == 0 || strcmp(status, status_of[i]) == 0);
                    if (listed(u, cust[i]) != want)
                        fail_msg("%s: customer list --grade %s --status %s as %s: customer %lld (grade show: %s) %s",
                                 label, filter, status, usernames[u], cust[i], shown[i][d][0] ? shown[i][d] : "none",
                                 want ? "missing" : "listed");
                }
            }
        }
    }
    /* the kept grades themselves: grade_of's, or marked stale */
    PGresult *r = PQexec(pg, "SELECT count(*) FROM customer c WHERE (c.grade_until IS NULL OR c.grade_until >= current_date)"
                             " AND (c.grade_abc IS DISTINCT FROM grade_of(c.id, 'abc')"
                             "      OR c.grade_lifecycle IS DISTINCT FROM grade_of(c.id, 'lifecycle'))");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    if (strcmp(PQgetvalue(r, 0, 0), "0") != 0)
        fail_msg("%s: %s customers keep grades other than grade_of's", label, PQgetvalue(r, 0, 0));
    PQclear(r);
    /* and the get's (flags too: overridden, new) */
    r = PQexec(pg, "SELECT count(*) FROM customer c WHERE (c.grade_until IS NULL OR c.grade_until >= current_date)"
                   " AND c.grades IS DISTINCT FROM (SELECT string_agg(n.dimension || ' ' || n.grade || ' '"
                   " || n.overridden::int || n.is_new::int, ',') FROM grade_now(c.id) n)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    if (strcmp(PQgetvalue(r, 0, 0), "0") != 0)
        fail_msg("%s: %s customers keep grades other than grade_now's", label, PQgetvalue(r, 0, 0));
    PQclear(r);
    print_message("it_list_grades: %s: lists and gets agree with grade show\n", label);
}

static long long override(int u, long long id, const char *dim, const char *grade, const char *until)
{
    if (until)
        k(u, 0, NULL, IT_ARGS("grade", "override", num(id), "--dimension", dim, "--grade", grade, "--reason", "测试",
                              "--until", until, "--json"));
    else
        k(u, 0, NULL, IT_ARGS("grade", "override", num(id), "--dimension", dim, "--grade", grade, "--reason", "测试",
                              "--json"));
    return it_cli_json_num(&cl[u], "id");
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < NU; i++)
        if (it_cli_open(&cl[i]) < 0)
            return -1;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    pg = PQconnectdb(it_env.conninfo);
    return PQstatus(pg) == CONNECTION_OK ? 0 : -1;
}

static int teardown(void **state)
{
    if (pg)
        PQfinish(pg);
    it_org_close(&org);
    for (int i = 0; i < NU; i++)
        it_cli_close(&cl[i]);
    return it_teardown(state);
}

static void test_moves(void **state)
{
    (void)state;
    int rc = it_cli_run(&cl[U_ADMIN], IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin"));
    it_cli_expect(&cl[U_ADMIN], rc, 0, NULL);
    for (int u = 1; u < NU; u++)
        k(u, 0, NULL, IT_ARGS("login", usernames[u]));
    /* revenue from large to none, and purchases from recent to long ago: A, B and C, several lifecycles */
    static const char *const amounts[NC] = { "90000.00", "30000.00", "8000.00", "3000.00", "900.00",
                                             "300.00",   "80.00",    "20.00",   NULL };
    static const int ago[NC] = { 5, 20, 400, 60, 10, 700, 30, 200, 0 };
    for (int i = 0; i < NC; i++) {
        char name[32], phone[16];
        snprintf(name, sizeof name, "分级客户%d", i + 1);
        snprintf(phone, sizeof phone, "1390000%04d", i + 1);
        owner_of[i] = i % 3 == 2 ? U_ZHANG : U_LI;
        status_of[i] = "active";
        k(U_ADMIN, 0, NULL, IT_ARGS("customer", "add", "--name", name, "--phone", phone, "--owner",
                                    usernames[owner_of[i]], "--branch", "上海分行", "--json"));
        cust[i] = it_cli_json_num(&cl[U_ADMIN], "id");
        if (amounts[i])
            k(U_ADMIN, 0, NULL, IT_ARGS("txn", "add", num(cust[i]), "--amount", amounts[i], "--date", day(-ago[i])));
    }
    check_lists("before any run", "all");
    /* customers of long standing (a new one is C for all but the admin) */
    it_pg_do(pg, "UPDATE customer SET since = current_date - 1500");

    k(U_ADMIN, 0, NULL, IT_ARGS("grade", "run"));
    check_lists("after a run", "all");
    check_lists("after a run, the default statuses", "active");

    /* an override by the admin is in force at once; a newer one replaces it */
    override(U_ADMIN, cust[7], "abc", "A", NULL);
    override(U_ADMIN, cust[6], "lifecycle", "loyal", NULL);
    check_lists("overrides in force", "all");
    override(U_ADMIN, cust[7], "abc", "B", NULL);
    check_lists("a newer override", "all");

    /* one that waits for the branch manager changes nothing until approved */
    long long pending = override(U_LI, cust[4], "abc", "A", NULL);
    check_lists("an override pending", "all");
    k(U_MGR, 0, NULL, IT_ARGS("grade", "approve", num(pending)));
    check_lists("the override approved", "all");

    /* statuses: an archive, a release into the pool, a claim */
    k(U_ADMIN, 0, NULL, IT_ARGS("customer", "archive", num(cust[3])));
    status_of[3] = "archived";
    check_lists("archived", "all");
    check_lists("archived, the default statuses", "active");
    k(U_LI, 0, NULL, IT_ARGS("pool", "release", num(cust[1]), "--reason", "测试"));
    owner_of[1] = -1;
    status_of[1] = "in_pool";
    check_lists("released into the pool", "all");
    check_lists("released, in the pool", "in_pool");
    k(U_ZHANG, 0, NULL, IT_ARGS("pool", "claim", num(cust[1])));
    owner_of[1] = U_ZHANG;
    status_of[1] = "active";
    check_lists("claimed", "all");

    /* an override whose end has passed while nothing was written (the day
     * turned): the row keeps the old grades, marked stale; lists and gets
     * compute them instead, and write nothing, until kehud's timer (off in
     * the tests' kehud) brings the row up to date */
    override(U_ADMIN, cust[0], "abc", "C", day(3));
    check_lists("an override with an end", "all");
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer WHERE grade_until IS NOT NULL"), 1);
    it_pg_do(pg, "ALTER TABLE grade_override DISABLE TRIGGER grade_override_updated");
    it_pg_do(pg, "UPDATE grade_override SET until = current_date - 1 WHERE until IS NOT NULL");
    it_pg_do(pg, "UPDATE customer SET grade_until = current_date - 1 WHERE grade_until IS NOT NULL");
    it_pg_do(pg, "ALTER TABLE grade_override ENABLE TRIGGER grade_override_updated");
    char g[32];
    assert_string_not_equal(shown_grade(cust[0], "abc", g, sizeof g), "C");
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM customer WHERE id = %lld AND grade_abc = 'C'", cust[0]);
    assert_int_equal(it_pg_i64(pg, sql), 1); /* stale: the list must not take it at its word */
    check_lists("an override ended, the row stale", "all");
    check_lists("an override ended, the row stale, the default statuses", "active");
    assert_int_equal(it_pg_i64(pg, sql), 1); /* no read wrote */
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer WHERE grade_until < current_date"), 1);
    /* kehud's timer: a look every second */
    if (th_kehud_start(&it_env, IT_ARGS("--grade_expire_schedule", "1")) < 0)
        fail_msg("kehud did not start with --grade_expire_schedule 1");
    int64_t t0 = it_now_ms();
    while (it_pg_i64(pg, "SELECT count(*) FROM customer WHERE grade_until IS NOT NULL") != 0 && it_now_ms() - t0 < 20000)
        usleep(100000);
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer WHERE grade_until IS NOT NULL"), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM customer WHERE id = %lld AND grade_abc = grade_of(id, 'abc')", cust[0]);
    assert_int_equal(it_pg_i64(pg, sql), 1); /* the timer brought it up to date */
    print_message("it_list_grades: the timer refreshed the stale row %lld ms after kehud started\n",
                  (long long)(it_now_ms() - t0));
    check_lists("an override ended, the row refreshed", "all");
    k(U_ADMIN, 0, NULL, IT_ARGS("grade", "run"));
    check_lists("the next run", "all");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moves),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
