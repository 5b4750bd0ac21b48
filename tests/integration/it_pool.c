/* The public pool (公海) and assignment rules, end to end through the kehu
 * command line (and libkehu where it takes many connections at once):
 * recycles by each trigger with the warning before, limits per grade,
 * exemptions, release, claims within the day's limit, the cap and the
 * cooldown, the claimer's view of the earlier history, masking while in the
 * pool, fifty claims of one customer at once, every move recorded; and an
 * import of 1,000 customers routed by ordered assignment rules.
 *
 * Days: T is today (UTC); recycles run --as-of T+n, since every customer
 * here became its owner's today. */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x
#define PW "KEHU_PASSWORD=" IT_PASSWORD

static struct it_org org;
enum { U_ADMIN, U_LI, U_ZHANG, U_MGR, U_BJ, U_AUDITOR, U_AGENT, U_SUN, U_BJ2, NU };
static const char *const usernames[NU] = { "admin", "li.lei", "zhang.wei", "wang.fang", "bj.am",
                                           "zhao.min", "chen.jing", "sun.li", "bj.two" };
static struct it_cli cl[NU];

/* ---------------------------------------------------------------- helpers */

static PGconn *pg;

static void pg_do(const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        char msg[700];
        snprintf(msg, sizeof msg, "%s  SQL: %.400s", PQerrorMessage(pg), sql);
        PQclear(r);
        fail_msg("%s", msg);
    }
    PQclear(r);
}

static long long pg_num(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long pg_num(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char msg[2400];
        snprintf(msg, sizeof msg, "%s: %s", sql, PQerrorMessage(pg));
        PQclear(r);
        fail_msg("%s", msg);
    }
    long long v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
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

/* kehu as user u; rc must be want and needle (if any) in the output. */
static void k(int u, int want, const char *needle, const char *const *args)
{
    int rc = it_cli_run(&cl[u], IT_ENV(PW), args);
    it_cli_expect(&cl[u], rc, want, needle);
}

static long long k_id(int u, const char *const *args)
{
    k(u, 0, NULL, args);
    return it_cli_json_num(&cl[u], "id");
}

static const char *num(long long v)
{
    static char ring[32][24];
    static int next;
    char *s = ring[next++ % 32];
    snprintf(s, 24, "%lld", v);
    return s;
}

static long long add_customer(const char *name, const char *phone, const char *owner, const char *branch)
{
    return k_id(U_ADMIN, IT_ARGS("customer", "add", "--name", name, "--phone", phone, "--owner", owner, "--branch",
                                 branch, "--json"));
}

static long long recycle(const char *as_of, const char *key)
{
    k(U_ADMIN, 0, NULL, IT_ARGS("pool", "recycle", "--as-of", as_of, "--json"));
    return it_cli_json_num(&cl[U_ADMIN], key);
}

static const char *status_of(long long id)
{
    static char s[32];
    PGresult *r = PQexec(pg, "SELECT 1");
    PQclear(r);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT status::text FROM customer WHERE id = %lld", id);
    r = PQexec(pg, sql);
    snprintf(s, sizeof s, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
    PQclear(r);
    return s;
}

static long long owner_of(long long id)
{
    return pg_num("SELECT coalesce(owner_id, 0) FROM customer WHERE id = %lld", id);
}

static long long uid(const char *username)
{
    return pg_num("SELECT id FROM app_user WHERE username = '%s'", username);
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < NU; i++)
        if (it_cli_open(&cl[i]) < 0)
            return -1;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    it_add_user("sun.li", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
    it_add_user("bj.two", KEHU__V1__ROLE__ACCOUNT_MANAGER, "北京分行", IT_PASSWORD);
    pg = PQconnectdb(it_env.conninfo);
    if (PQstatus(pg) != CONNECTION_OK)
        return -1;
    return 0;
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

static void test_login(void **state)
{
    (void)state;
    int rc = it_cli_run(&cl[U_ADMIN], IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin"));
    it_cli_expect(&cl[U_ADMIN], rc, 0, NULL);
    for (int i = 1; i < NU; i++)
        k(i, 0, NULL, IT_ARGS("login", usernames[i]));
}

/* ---------------------------------------------------------------- recycling */

static long long c_f, c_a, c_tag, c_recent, c_bt, c_rel, c_bj2, p[6];

static void test_rules(void **state)
{
    (void)state;
    /* everywhere: C recycles after 30 days without a follow-up (no transaction trigger), warned 5 days before */
    k(U_ADMIN, 0, "updated", IT_ARGS("pool", "rules", "set", "C.followup_days=30", "C.txn_days=0", "C.warn_days=5",
                                     "C.claim_per_day=3", "C.cooldown_days=10", "C.exempt_txn_days=45",
                                     "A.followup_days=90"));
    /* 北京: the transaction trigger only */
    k(U_ADMIN, 0, NULL, IT_ARGS("pool", "rules", "set", "--branch", "北京分行", "C.followup_days=0", "C.txn_days=60",
                                "C.warn_days=5", "C.max_held=1"));
    k(U_ADMIN, 0, "\"grade\": \"C\"", IT_ARGS("pool", "rules", "show", "--json"));
    /* refused, all or none */
    /* each refusal plain, naming the entry at fault, never PostgreSQL's text */
    k(U_ADMIN, 1, "INVALID_ARGUMENT: no pool rule \"nonsense\"",
      IT_ARGS("pool", "rules", "set", "C.followup_days=7", "C.nonsense=1"));
    assert_non_null(strstr(cl[U_ADMIN].err, "[C.nonsense]"));
    k(U_ADMIN, 1, "INVALID_ARGUMENT", IT_ARGS("pool", "rules", "set", "C.followup_days=abc"));
    assert_non_null(strstr(cl[U_ADMIN].err, "[C.followup_days]"));
    k(U_ADMIN, 1, "INVALID_ARGUMENT", IT_ARGS("pool", "rules", "set", "X.followup_days=1"));
    assert_non_null(strstr(cl[U_ADMIN].err, "[X.followup_days]"));
    k(U_ADMIN, 1, "INVALID_ARGUMENT", IT_ARGS("pool", "rules", "set", "C.warn_days=40"));
    assert_non_null(strstr(cl[U_ADMIN].err, "[C.warn_days]"));
    assert_null(strstr(cl[U_ADMIN].err, "PL/pgSQL"));
    assert_null(strstr(cl[U_ADMIN].err, "CONTEXT"));
    assert_int_equal(pg_num("SELECT followup_days FROM pool_rule WHERE branch_id IS NULL AND grade = 'C'"), 30);
    /* an account manager may not; a branch manager only for the branch */
    k(U_LI, 1, "PERMISSION_DENIED", IT_ARGS("pool", "rules", "set", "--branch", "上海分行", "C.followup_days=7"));
    k(U_MGR, 1, "PERMISSION_DENIED", IT_ARGS("pool", "rules", "set", "C.followup_days=7"));
    k(U_MGR, 1, "PERMISSION_DENIED", IT_ARGS("pool", "rules", "set", "--branch", "北京分行", "C.followup_days=7"));
}

static void test_recycle(void **state)
{
    (void)state;
    c_f = add_customer("跟进客户", "13800000001", "li.lei", "上海分行");
    k(U_ADMIN, 0, NULL, IT_ARGS("customer", "edit", num(c_f), "--version", "1", "--set", "id_number=11010519491231002X"));
    c_a = add_customer("大客户甲", "13800000002", "li.lei", "上海分行");
    k(U_ADMIN, 0, NULL, IT_ARGS("grade", "override", num(c_a), "--dimension", "abc", "--grade", "A", "--reason", "测试"));
    c_tag = add_customer("保护客户", "13800000003", "li.lei", "上海分行");
    k(U_ADMIN, 0, NULL, IT_ARGS("customer", "edit", num(c_tag), "--version", "1", "--set", "tags=protected"));
    c_recent = add_customer("近期交易客户", "13800000004", "li.lei", "上海分行");
    k(U_LI, 0, NULL, IT_ARGS("txn", "add", num(c_recent), "--amount", "100.00", "--date", day(0)));
    c_bt = add_customer("北京交易客户", "13800000005", "bj.am", "北京分行");
    k(U_BJ, 0, NULL, IT_ARGS("txn", "add", num(c_bt), "--amount", "300.00", "--date", day(-50)));
    c_bj2 = add_customer("北京二号", "13800000006", "bj.two", "北京分行");
    /* li's history with c_f, for whoever claims it later */
    k(U_LI, 0, NULL, IT_ARGS("txn", "add", num(c_f), "--amount", "88.00", "--date", day(-400)));

    /* li hears the warning */
    Kehu__V1__Subscribe sub = KEHU__V1__SUBSCRIBE__INIT;
    sub.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    sub.mine = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &sub;
    it_expect(org.li, &req, C(OK), NULL);

    /* a dry run changes nothing */
    k(U_ADMIN, 0, "\"dry_run\": true", IT_ARGS("pool", "recycle", "--as-of", day(31), "--dry-run", "--json"));
    assert_true(it_cli_json_num(&cl[U_ADMIN], "recycled") >= 1);
    assert_int_equal(it_cli_json_num(&cl[U_ADMIN], "run_id"), 0);
    assert_string_equal(status_of(c_f), "active");
    assert_int_equal(pg_num("SELECT count(*) FROM pool_warning"), 0);

    /* T+26: within 5 days of the 30: c_f's owner is warned, once */
    assert_int_equal(recycle(day(26), "warned"), 1);
    assert_int_equal(it_cli_json_num(&cl[U_ADMIN], "recycled"), 0);
    assert_int_equal(pg_num("SELECT count(*) FROM pool_warning WHERE customer_id = %lld AND owner_id = %lld"
                            " AND due_on = '%s' AND trigger = 'followup'", c_f, uid("li.lei"), day(30)), 1);
    assert_int_equal(pg_num("SELECT count(*) FROM followup WHERE customer_id = %lld AND status = 'planned'"
                            " AND owner_id = %lld AND due = '%s'", c_f, uid("li.lei"), day(30)), 1);
    struct kehu_status st;
    Kehu__V1__Event *ev;
    int warned = 0;
    while ((ev = kehu_next_event(org.li, 3000, &st)) != NULL) {
        if (strcmp(ev->kind, "pool.warning") == 0 && ev->customer_id == c_f) {
            warned = 1;
            assert_non_null(strstr(ev->detail, "followup"));
        }
        kehu_event_free(ev);
        if (warned)
            break;
    }
    assert_true(warned);
    k(U_LI, 0, "跟进客户", IT_ARGS("followup", "due", "--days", "40"));
    assert_int_equal(recycle(day(26), "warned"), 0); /* once per period */

    /* T+31: c_f goes (no follow-up for 30 days); the A customer (90 days), the protected one and the one
     * that bought within 45 days stay */
    assert_int_equal(recycle(day(31), "recycled"), 1);
    assert_int_equal(it_cli_json_num(&cl[U_ADMIN], "by_followup"), 1);
    assert_int_equal(it_cli_json_num(&cl[U_ADMIN], "exempted"), 2);
    assert_string_equal(status_of(c_f), "in_pool");
    assert_int_equal(owner_of(c_f), 0);
    assert_string_equal(status_of(c_a), "active");
    assert_string_equal(status_of(c_tag), "active");
    assert_string_equal(status_of(c_recent), "active");
    assert_string_equal(status_of(c_bt), "active"); /* 北京: no follow-up trigger, its transaction clock runs to 60 */
    assert_int_equal(pg_num("SELECT count(*) FROM pool_entry WHERE customer_id = %lld AND kind = 'recycle'"
                            " AND from_owner = %lld AND reason LIKE '%%follow-up%%'", c_f, uid("li.lei")), 1);
    assert_int_equal(pg_num("SELECT count(*) FROM assignment_history WHERE customer_id = %lld AND kind = 'recycle'"
                            " AND from_owner = %lld AND to_owner IS NULL", c_f, uid("li.lei")), 1);
    assert_int_equal(pg_num("SELECT count(*) FROM followup WHERE customer_id = %lld AND status = 'planned'", c_f), 0);
    assert_int_equal(pg_num("SELECT count(*) FROM pool_warning WHERE customer_id = %lld AND status = 'open'", c_f), 0);

    /* T+61: the transaction trigger in 北京 */
    recycle(day(61), "recycled");
    assert_true(it_cli_json_num(&cl[U_ADMIN], "by_txn") >= 1);
    assert_string_equal(status_of(c_bt), "in_pool");
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event WHERE customer_id = %lld AND kind = 'recycle'"
                            " AND reason LIKE '%%transaction%%'", c_bt), 1);
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event WHERE customer_id = %lld AND kind = 'warn'", c_bt), 0);
    assert_string_equal(status_of(c_a), "active");
    assert_string_equal(status_of(c_tag), "active");
    /* not an admin: no recycle by hand; a dry run of what the manager may read */
    k(U_MGR, 1, "PERMISSION_DENIED", IT_ARGS("pool", "recycle"));
    k(U_MGR, 0, "dry run", IT_ARGS("pool", "recycle", "--dry-run"));
}

/* ---------------------------------------------------------------- masking and access */

static void test_masking(void **state)
{
    (void)state;
    /* a pool list: masked, for an account manager of the branch and for the auditor */
    k(U_ZHANG, 0, "跟进客户", IT_ARGS("pool", "list", "--json"));
    assert_null(strstr(cl[U_ZHANG].out, "13800000001"));
    assert_null(strstr(cl[U_ZHANG].out, "11010519491231002X"));
    assert_non_null(strstr(cl[U_ZHANG].out, "\"masked\": true"));
    assert_null(strstr(cl[U_ZHANG].out, "北京交易客户"));   /* another branch's pool */
    k(U_AUDITOR, 0, "北京交易客户", IT_ARGS("pool", "list", "--json"));
    assert_null(strstr(cl[U_AUDITOR].out, "13800000001"));
    /* even a branch manager, who may unmask, sees it masked while it is in the pool */
    k(U_MGR, 0, "****", IT_ARGS("customer", "show", num(c_f), "--json"));
    assert_null(strstr(cl[U_MGR].out, "13800000001"));
    assert_null(strstr(cl[U_MGR].out, "11010519491231002X"));
    k(U_MGR, 0, NULL, IT_ARGS("customer", "search", "跟进客户", "--json"));
    assert_null(strstr(cl[U_MGR].out, "13800000001"));
    k(U_ADMIN, 0, "****", IT_ARGS("customer", "list", "--status", "in_pool", "--json"));
    assert_null(strstr(cl[U_ADMIN].out, "13800000001"));
    /* the previous owner no longer sees it as theirs */
    k(U_LI, 1, "NOT_FOUND", IT_ARGS("customer", "show", num(c_f)));
    /* a service agent has no pool; bj.am none of 上海's */
    k(U_AGENT, 1, "PERMISSION_DENIED", IT_ARGS("pool", "list"));
    k(U_BJ, 0, "北京交易客户", IT_ARGS("pool", "list"));
    assert_null(strstr(cl[U_BJ].out, "跟进客户"));
    k(U_MGR, 0, "公海", IT_ARGS("pool", "pools"));
}

/* ---------------------------------------------------------------- release */

static void test_release(void **state)
{
    (void)state;
    c_rel = add_customer("放弃客户", "13800000010", "li.lei", "上海分行");
    k(U_LI, 2, "--reason", IT_ARGS("pool", "release", num(c_rel)));
    k(U_ZHANG, 1, "NOT_FOUND", IT_ARGS("pool", "release", num(c_rel), "--reason", "不是我的"));
    k(U_LI, 0, "released", IT_ARGS("pool", "release", num(c_rel), "--reason", "客户已移居外地"));
    assert_string_equal(status_of(c_rel), "in_pool");
    assert_int_equal(pg_num("SELECT count(*) FROM pool_entry WHERE customer_id = %lld AND kind = 'release'"
                            " AND reason = '客户已移居外地'", c_rel), 1);
    assert_int_equal(pg_num("SELECT count(*) FROM assignment_history WHERE customer_id = %lld AND kind = 'release'"
                            " AND reason = '客户已移居外地'", c_rel), 1);
    k(U_LI, 1, "NOT_FOUND", IT_ARGS("pool", "release", num(c_rel), "--reason", "again"));
    k(U_MGR, 1, "FAILED_PRECONDITION", IT_ARGS("pool", "release", num(c_rel), "--reason", "again"));
    assert_non_null(strstr(cl[U_MGR].err, "is already in a pool [customer_id]"));
    /* an A customer: a manager releases it */
    k(U_LI, 1, "PERMISSION_DENIED", IT_ARGS("pool", "release", num(c_a), "--reason", "太忙"));
    assert_non_null(strstr(cl[U_LI].err, "a branch manager releases it [customer_id]"));
    assert_null(strstr(cl[U_LI].err, "PL/pgSQL"));
    k(U_MGR, 1, "NOT_FOUND", IT_ARGS("pool", "release", num(c_a), "--reason", "x", "--pool", "没有这个池"));
    assert_non_null(strstr(cl[U_MGR].err, "[pool]"));
    k(U_MGR, 0, NULL, IT_ARGS("pool", "release", num(c_a), "--reason", "重新分配"));
    assert_string_equal(status_of(c_a), "in_pool");
    /* into a second pool of the branch */
    k(U_MGR, 0, "重点池", IT_ARGS("pool", "add", "重点池", "--branch", "上海分行"));
    k(U_LI, 1, "PERMISSION_DENIED", IT_ARGS("pool", "add", "我的池", "--branch", "上海分行"));
    for (int i = 0; i < 6; i++) {
        char name[32], phone[16];
        snprintf(name, sizeof name, "池客户%d", i);
        snprintf(phone, sizeof phone, "1380000002%d", i);
        p[i] = add_customer(name, phone, "li.lei", "上海分行");
        k(U_LI, 0, NULL, IT_ARGS("pool", "release", num(p[i]), "--reason", "清理", "--pool", i == 5 ? "重点池" : "公海"));
    }
    k(U_ZHANG, 0, "池客户5", IT_ARGS("pool", "list", "--pool", "重点池"));
    assert_null(strstr(cl[U_ZHANG].out, "池客户4"));
}

/* ---------------------------------------------------------------- claims */

static void test_claim(void **state)
{
    (void)state;
    /* the cooldown: li lost c_f and let c_rel go */
    k(U_LI, 1, "FAILED_PRECONDITION", IT_ARGS("pool", "claim", num(c_f)));
    k(U_LI, 1, "FAILED_PRECONDITION", IT_ARGS("pool", "claim", num(c_rel)));
    /* zhang claims c_f and sees its earlier history, unmasked now */
    k(U_ZHANG, 0, "claimed", IT_ARGS("pool", "claim", num(c_f)));
    assert_int_equal(owner_of(c_f), uid("zhang.wei"));
    assert_string_equal(status_of(c_f), "active");
    k(U_ZHANG, 0, "13800000001", IT_ARGS("customer", "show", num(c_f), "--json"));
    k(U_ZHANG, 0, "11010519491231002X", IT_ARGS("customer", "show", num(c_f), "--json"));
    k(U_ZHANG, 0, "88.00", IT_ARGS("txn", "list", num(c_f)));
    k(U_ZHANG, 0, "公海预警", IT_ARGS("followup", "list", num(c_f)));
    k(U_ZHANG, 0, "id_number", IT_ARGS("customer", "history", num(c_f)));
    k(U_ZHANG, 0, "recycle", IT_ARGS("pool", "log", num(c_f)));
    k(U_ZHANG, 0, "claim", IT_ARGS("pool", "log", num(c_f)));
    /* the pool's other viewers lose sight of it with the claim: its log is
     * a missing customer's, and the branch's log leaves it out */
    char missing[64];
    snprintf(missing, sizeof missing, "NOT_FOUND: no customer %lld [customer_id]", c_f);
    k(U_SUN, 1, missing, IT_ARGS("pool", "log", num(c_f)));
    snprintf(missing, sizeof missing, "NOT_FOUND: no customer %lld [customer_id]", c_f + 1000000);
    k(U_SUN, 1, missing, IT_ARGS("pool", "log", num(c_f + 1000000)));
    k(U_SUN, 0, NULL, IT_ARGS("pool", "log", "--limit", "1000"));
    assert_null(strstr(cl[U_SUN].out, "跟进客户"));
    assert_null(strstr(cl[U_SUN].out, "zhang.wei"));
    k(U_MGR, 0, "跟进客户", IT_ARGS("pool", "log", "--limit", "1000"));
    /* a colleague's customer never in a pool is no more there than a missing one */
    long long never = add_customer("从未入池", "13800000088", "zhang.wei", "上海分行");
    snprintf(missing, sizeof missing, "NOT_FOUND: no customer %lld [customer_id]", never);
    k(U_SUN, 1, missing, IT_ARGS("pool", "log", num(never)));
    k(U_ZHANG, 0, NULL, IT_ARGS("pool", "log", num(never)));
    /* a second claim of the same customer: a colleague's customer, which sun.li
     * may not read, is a missing one (not "claimed by zhang.wei") */
    snprintf(missing, sizeof missing, "NOT_FOUND: no customer %lld [customer_id]", c_f);
    k(U_SUN, 1, missing, IT_ARGS("pool", "claim", num(c_f)));
    assert_null(strstr(cl[U_SUN].err, "zhang.wei"));
    assert_null(strstr(cl[U_SUN].err, "PL/pgSQL"));
    /* the owner's own customer is not in a pool: said plainly, with the field */
    k(U_ZHANG, 1, "FAILED_PRECONDITION: customer", IT_ARGS("pool", "claim", num(c_f)));
    assert_non_null(strstr(cl[U_ZHANG].err, "is not in a pool [customer_id]"));
    /* the day's limit for C: 3 */
    k(U_ZHANG, 0, NULL, IT_ARGS("pool", "claim", num(p[0])));
    k(U_ZHANG, 0, NULL, IT_ARGS("pool", "claim", num(p[1])));
    k(U_ZHANG, 1, "RESOURCE_EXHAUSTED", IT_ARGS("pool", "claim", num(p[2])));
    assert_string_equal(status_of(p[2]), "in_pool");
    /* the cap: sun.li may hold 1 */
    pg_do("UPDATE app_user SET max_customers = 1 WHERE username = 'sun.li'");
    k(U_SUN, 0, NULL, IT_ARGS("pool", "claim", num(p[2])));
    k(U_SUN, 1, "RESOURCE_EXHAUSTED", IT_ARGS("pool", "claim", num(p[3])));
    /* the rule's cap: 北京 C max_held 1, bj.two holds 1 (c_bj2 was recycled at T+61) */
    assert_string_equal(status_of(c_bj2), "in_pool");
    add_customer("北京三号", "13800000007", "bj.two", "北京分行");
    k(U_BJ2, 1, "RESOURCE_EXHAUSTED", IT_ARGS("pool", "claim", num(c_bt)));
    /* another branch's pool does not exist for them; a service agent may not claim */
    k(U_BJ, 1, "NOT_FOUND", IT_ARGS("pool", "claim", num(p[3])));
    k(U_AGENT, 1, "PERMISSION_DENIED", IT_ARGS("pool", "claim", num(p[3])));
    /* every claim recorded, once */
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event WHERE kind = 'claim'"), 4);
    assert_int_equal(pg_num("SELECT count(*) FROM assignment_history WHERE kind = 'claim'"), 4);
    assert_int_equal(pg_num("SELECT count(*) FROM pool_entry WHERE customer_id IN (%lld, %lld, %lld, %lld)", c_f,
                            p[0], p[1], p[2]), 0);
}

/* ---------------------------------------------------------------- fifty at once */

#define RACERS 50

struct race {
    int done;
    Kehu__V1__Code code;
    char message[200];
};

static void race_done(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct race *r = arg;
    r->done = 1;
    r->code = resp ? (Kehu__V1__Code)st->code : (Kehu__V1__Code)-1;
    snprintf(r->message, sizeof r->message, "%.199s", st->message);
}

static void test_concurrent_claims(void **state)
{
    (void)state;
    static kehu_client *c[RACERS];
    static struct race res[RACERS];
    for (int i = 0; i < RACERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "racer%02d", i);
        it_add_user(name, KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
        c[i] = it_login(name, IT_PASSWORD);
    }
    long long target = p[4];
    Kehu__V1__PoolClaim m = KEHU__V1__POOL_CLAIM__INIT;
    m.customer_id = target;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_POOL_CLAIM;
    req.pool_claim = &m;
    for (int i = 0; i < RACERS; i++) {
        struct kehu_status st;
        assert_int_equal(kehu_send(c[i], &req, race_done, &res[i], NULL, &st), 0);
    }
    int ok = 0, lost = 0, winner = -1;
    for (int i = 0; i < RACERS; i++) {
        while (!res[i].done)
            assert_true(kehu_run(c[i], 30000) >= 0);
        if (res[i].code == C(OK)) {
            ok++;
            winner = i;
        } else if ((res[i].code == C(FAILED_PRECONDITION) && strstr(res[i].message, "not in a pool")) ||
                   (res[i].code == C(NOT_FOUND) && strstr(res[i].message, "no customer"))) {
            /* lost the race: in the pool when it looked, or already someone else's (so not there for them) */
            lost++;
        } else {
            fail_msg("racer %d: %d %s", i, res[i].code, res[i].message);
        }
    }
    assert_int_equal(ok, 1);
    assert_int_equal(lost, RACERS - 1);
    char name[32];
    snprintf(name, sizeof name, "racer%02d", winner);
    assert_int_equal(owner_of(target), uid(name));
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event WHERE kind = 'claim' AND customer_id = %lld", target), 1);
    assert_int_equal(pg_num("SELECT count(*) FROM assignment_history WHERE kind = 'claim' AND customer_id = %lld",
                            target), 1);
    for (int i = 0; i < RACERS; i++)
        kehu_close(c[i]);
    /* the record: every recycle, release and claim so far */
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event WHERE kind = 'release'"), 8);
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event WHERE kind = 'recycle'"),
                     pg_num("SELECT count(*) FROM assignment_history WHERE kind = 'recycle'"));
    k(U_ADMIN, 0, "release", IT_ARGS("pool", "log", "--limit", "100"));
}

/* ---------------------------------------------------------------- assignment rules */

static long long old_unowned[3];

static void test_assign_rules_set(void **state)
{
    (void)state;
    k(U_ADMIN, 0, NULL, IT_ARGS("org", "add", "上海二组", "--kind", "team", "--parent", "上海分行"));
    const char *rr[] = { "rr.one", "rr.two", "rr.three", "rr.four" };
    for (int i = 0; i < 4; i++)
        it_add_user(rr[i], KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海二组", IT_PASSWORD);
    pg_do("UPDATE app_user SET max_customers = 50 WHERE username = 'rr.three'");
    /* customers without owner from before the rules: they stay unassigned */
    for (int i = 0; i < 3; i++) {
        char name[32], phone[16];
        snprintf(name, sizeof name, "旧无主客户%d", i);
        snprintf(phone, sizeof phone, "1370000000%d", i);
        old_unowned[i] = k_id(U_ADMIN, IT_ARGS("customer", "add", "--name", name, "--phone", phone, "--branch",
                                               "上海分行", "--region", "华北", "--json"));
        assert_int_equal(owner_of(old_unowned[i]), 0);
        assert_string_equal(status_of(old_unowned[i]), "active");
    }
    /* validation: all or none */
    k(U_ADMIN, 1, "INVALID_ARGUMENT", IT_ARGS("assign", "rules", "set", "--branch", "上海分行",
                                              "industry=制造,to=li.lei", "region=华东,to=team:没有这个组"));
    k(U_ADMIN, 1, "INVALID_ARGUMENT", IT_ARGS("assign", "rules", "set", "--branch", "上海分行", "grade=Z,to=li.lei"));
    k(U_ADMIN, 1, "INVALID_ARGUMENT", IT_ARGS("assign", "rules", "set", "--branch", "上海分行", "to=bj.am"));
    k(U_ADMIN, 1, "INVALID_ARGUMENT", IT_ARGS("assign", "rules", "set", "--branch", "上海分行", "source=tv,to=li.lei"));
    k(U_ADMIN, 2, NULL, IT_ARGS("assign", "rules", "set", "--branch", "上海分行", "region=华东"));
    assert_int_equal(pg_num("SELECT count(*) FROM assign_rule"), 0);
    k(U_LI, 1, "PERMISSION_DENIED", IT_ARGS("assign", "rules", "set", "industry=制造,to=li.lei"));
    k(U_MGR, 0, "round robin",
      IT_ARGS("assign", "rules", "set", "industry=制造,to=li.lei", "region=华东,to=team:上海二组",
              "source=referral,to=zhang.wei"));
    k(U_LI, 0, "team:上海二组", IT_ARGS("assign", "rules", "show"));
    /* a disabled target is refused */
    k(U_ADMIN, 0, NULL, IT_ARGS("user", "disable", "rr.four"));
    k(U_ADMIN, 1, "INVALID_ARGUMENT", IT_ARGS("assign", "rules", "set", "--branch", "上海分行", "to=rr.four"));
    assert_int_equal(pg_num("SELECT count(*) FROM assign_rule"), 3);

    /* a dry run over the existing customers without owner changes nothing */
    long long pool_events = pg_num("SELECT count(*) FROM pool_event");
    k(U_MGR, 0, "\"target\": \"pool:公海\"", IT_ARGS("assign", "rules", "apply", "--dry-run", "--json"));
    assert_int_equal(it_cli_json_num(&cl[U_MGR], "customers"), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(owner_of(old_unowned[i]), 0);
        assert_string_equal(status_of(old_unowned[i]), "active");
    }
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event"), pool_events);
    assert_int_equal(pg_num("SELECT count(*) FROM assign_rule WHERE rr_last IS NOT NULL"), 0);
    /* for real: 华北 matches nothing: the pool */
    k(U_MGR, 0, NULL, IT_ARGS("assign", "rules", "apply"));
    for (int i = 0; i < 3; i++)
        assert_string_equal(status_of(old_unowned[i]), "in_pool");
    /* a new customer without owner is routed at once */
    long long id = k_id(U_MGR, IT_ARGS("customer", "add", "--name", "新制造客户", "--phone", "13600000001", "--industry",
                                       "制造", "--json"));
    assert_int_equal(owner_of(id), uid("li.lei"));
    assert_non_null(strstr(cl[U_MGR].out, "\"owner\": \"li.lei\""));
}

static void test_assign_import(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/import.csv", cl[U_ADMIN].dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "ext_ref,name,phone,region,industry,source,branch\n");
    for (int i = 0; i < 1000; i++) {
        const char *region = "华东", *industry = "零售", *source = "";
        int r = i % 10;
        if (r == 0)
            industry = "制造";
        else if (r == 7)
            region = "华南", source = "referral";
        else if (r >= 8)
            region = "华北";
        fprintf(f, "IMP%04d,导入客户%04d,139%08d,%s,%s,%s,上海分行\n", i, i, i, region, industry, source);
    }
    fclose(f);
    k(U_ADMIN, 0, "\"imported\": 1000", IT_ARGS("customer", "import", "import.csv", "--json"));
#define IMPORTED "SELECT count(*) FROM customer c WHERE c.ext_ref LIKE 'IMP%%' "
    assert_int_equal(pg_num(IMPORTED), 1000);
    assert_int_equal(pg_num(IMPORTED "AND owner_id = %lld", uid("li.lei")), 100);
    assert_int_equal(pg_num(IMPORTED "AND owner_id = %lld", uid("zhang.wei")), 100);
    assert_int_equal(pg_num(IMPORTED "AND status = 'in_pool' AND owner_id IS NULL"), 200);
    assert_int_equal(pg_num(IMPORTED "AND status = 'in_pool' AND EXISTS (SELECT 1 FROM pool_entry e"
                                     " WHERE e.customer_id = c.id AND e.kind = 'rule')"), 200);
    /* the team's round robin: the capped member filled to 50, the disabled one skipped, the others even */
    assert_int_equal(pg_num("SELECT count(*) FROM customer WHERE owner_id = %lld", uid("rr.three")), 50);
    assert_int_equal(pg_num(IMPORTED "AND owner_id = %lld", uid("rr.four")), 0);
    long long one = pg_num(IMPORTED "AND owner_id = %lld", uid("rr.one"));
    long long two = pg_num(IMPORTED "AND owner_id = %lld", uid("rr.two"));
    long long three = pg_num(IMPORTED "AND owner_id = %lld", uid("rr.three"));
    assert_int_equal(one + two + three, 600);
    assert_true(llabs(one - two) <= 1);
    /* each routed by rule, recorded */
    assert_int_equal(pg_num("SELECT count(*) FROM assignment_history h JOIN customer c ON c.id = h.customer_id"
                            " WHERE c.ext_ref LIKE 'IMP%%' AND h.kind = 'rule'"), 800);
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event v JOIN customer c ON c.id = v.customer_id"
                            " WHERE c.ext_ref LIKE 'IMP%%' AND v.kind = 'rule'"), 1000);
}

/* A limit counts from the day its rule took effect: a base loaded with
 * customers untouched for months is not emptied into the pool the day the
 * rules are set (their owners are warned first); once the rule is older
 * than the limit, the same customer goes. */
static void test_rule_clock(void **state)
{
    (void)state;
    long long c = add_customer("老客户", "13800000099", "li.lei", "上海分行");
    pg_do("SET session_replication_role = replica"); /* back-date the load itself, as an import of old data would */
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE customer SET created_at = now() - interval '200 days', last_contact_at = now() - interval '200 days'"
             " WHERE id = %lld", c);
    pg_do(sql);
    pg_do("SET session_replication_role = origin");
    k(U_ADMIN, 0, "updated", IT_ARGS("pool", "rules", "set", "C.followup_days=30", "C.warn_days=5"));
    recycle(day(1), "recycled");
    assert_string_equal(status_of(c), "active");
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event WHERE customer_id = %lld", c), 0);
    /* the rule has been in force for 100 days: 200 days without a follow-up now count */
    pg_do("UPDATE pool_rule SET updated_at = now() - interval '100 days' WHERE branch_id IS NULL AND grade = 'C'");
    recycle(day(1), "recycled");
    assert_string_equal(status_of(c), "in_pool");
    assert_int_equal(pg_num("SELECT count(*) FROM pool_event WHERE customer_id = %lld AND kind = 'recycle'", c), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_recycle),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_claim),
        cmocka_unit_test(test_concurrent_claims),
        cmocka_unit_test(test_assign_rules_set),
        cmocka_unit_test(test_assign_import),
        cmocka_unit_test(test_rule_clock),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
