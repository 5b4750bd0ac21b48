/* Lists that never cut silently: every list pages with a keyset cursor and
 * says how many rows remain (followup due with the policy's contacts, churn
 * list, care today), through the wire and through the kehu command line;
 * follow-ups by WeChat and SMS.
 *
 * The organisation is it_org_build's; the big owner's customers are written
 * straight into the database (as it_assign.c loads its data). */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static kehu_client *big;
static struct it_cli cli;

/* ---------------------------------------------------------------- SQL */

static PGconn *pg;

static void pg_do(const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        char msg[800];
        snprintf(msg, sizeof msg, "%s  SQL: %.400s", PQerrorMessage(pg), sql);
        PQclear(r);
        fail_msg("%s", msg);
    }
    PQclear(r);
}

static int64_t pg_i64(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t pg_i64(const char *fmt, ...)
{
    char sql[2000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char msg[800];
        snprintf(msg, sizeof msg, "%.400s: %s", sql, PQerrorMessage(pg));
        PQclear(r);
        fail_msg("%s", msg);
    }
    int64_t v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* YYYY-MM-DD of today (UTC) + offset days. */
static const char *day(int offset)
{
    static char ring[8][11];
    static int next;
    char *s = ring[next++ % 8];
    time_t t = (time_t)(((int64_t)time(NULL) / 86400 + offset) * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s, 11, "%Y-%m-%d", &tm);
    return s;
}

#define BIG_N 2700

static int setup(void **state)
{
    (void)state;
    if (it_cli_open(&cli) < 0)
        return -1;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    it_add_user("big.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
    big = it_login("big.am", IT_PASSWORD);
    pg = PQconnectdb(it_env.conninfo);
    if (PQstatus(pg) != CONNECTION_OK)
        return -1;
    /* An account manager with 2,700 customers: the relationship of each
     * began 0..149 days ago (a C customer asks for a contact every 90 days:
     * about 45% of them are due within a week), half of them have a planned
     * follow-up due between 4 days ago and 10 days ahead, and some a birthday
     * today; a tenth have an open churn warning. */
    char sql[2000];
    snprintf(sql, sizeof sql,
             "SET kehu.bulk = 'on';"
             " INSERT INTO customer (branch_id, owner_id, name, since, revenue, birth)"
             " SELECT (SELECT id FROM org_unit WHERE name = '上海分行'), u.id, '大客户' || i, current_date - i %% 150,"
             "  (i * 37 %% 1000) * 10.5, CASE WHEN i %% 9 = 0 THEN (current_date - interval '30 years')::date END"
             " FROM generate_series(1, %d) i, app_user u WHERE u.username = 'big.am';"
             " INSERT INTO followup (branch_id, customer_id, kind, status, due, owner_id, created_by)"
             " SELECT c.branch_id, c.id, 'call', 'planned', current_date + (c.id %% 15)::int - 4, c.owner_id,"
             "  c.owner_id FROM customer c JOIN app_user u ON u.id = c.owner_id"
             " WHERE u.username = 'big.am' AND c.id %% 2 = 0;"
             " INSERT INTO churn_warning (customer_id, branch_id, raised_on, reasons)"
             " SELECT c.id, c.branch_id, current_date - (c.id %% 30)::int, '{silent}' FROM customer c"
             " JOIN app_user u ON u.id = c.owner_id WHERE u.username = 'big.am' AND c.id %% 10 = 3;"
             " UPDATE grade_policy SET value = 'greeting' WHERE key = 'service.C.care';"
             " RESET kehu.bulk;",
             BIG_N);
    pg_do(sql);
    return 0;
}

static int teardown(void **state)
{
    kehu_close(big);
    it_org_close(&org);
    PQfinish(pg);
    it_cli_close(&cli);
    return it_teardown(state);
}

/* ---------------------------------------------------------------- requests */

static Kehu__V1__Response *due_page(kehu_client *c, uint32_t limit, const char *after, int code)
{
    Kehu__V1__FollowupDue m = KEHU__V1__FOLLOWUP_DUE__INIT;
    m.limit = limit;
    m.after = (char *)(after ? after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_DUE;
    req.followup_due = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *churn_page(kehu_client *c, uint32_t limit, const char *after, int code)
{
    Kehu__V1__ChurnList m = KEHU__V1__CHURN_LIST__INIT;
    m.limit = limit;
    m.after = (char *)(after ? after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_LIST;
    req.churn_list = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *care_page(kehu_client *c, uint32_t limit, const char *after, int code)
{
    Kehu__V1__CareToday m = KEHU__V1__CARE_TODAY__INIT;
    m.limit = limit;
    m.after = (char *)(after ? after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CARE_TODAY;
    req.care_today = &m;
    return it_call(c, &req, code);
}

/* A row of the due list as one string, to find duplicates. */
static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---------------------------------------------------------------- tests */

/* Every due contact across pages: the planned follow-ups and the policy's
 * contacts, in one order (day, grade, customer), with the right remaining
 * counts, no duplicates, no gaps; the totals equal independent SQL counts. */
static void test_due_pages(void **state)
{
    (void)state;
    int64_t planned = pg_i64("SELECT count(*) FROM followup f JOIN customer c ON c.id = f.customer_id"
                             " JOIN app_user u ON u.id = f.owner_id WHERE u.username = 'big.am'"
                             " AND f.status = 'planned' AND f.due <= current_date + 7");
    int64_t policy = pg_i64("SELECT count(*) FROM customer c JOIN app_user u ON u.id = c.owner_id,"
                            " customer_contacts_due(c.id) d WHERE u.username = 'big.am' AND d.due <= current_date + 7");
    assert_true(planned > 1000 && policy > 1000); /* each past the old silent cut */
    int64_t total = planned + policy;
    char **seen = calloc((size_t)total + 1, sizeof *seen);
    int64_t n = 0, n_planned = 0, n_policy = 0, pages = 0;
    char after[512] = "", last_due[16] = "";
    int64_t t0 = it_now_ms();
    for (;;) {
        Kehu__V1__Response *r = due_page(big, 700, after, C(OK));
        const Kehu__V1__Followups *l = r->followups;
        pages++;
        int64_t got = (int64_t)(l->n_followups + l->n_contacts_due);
        assert_true(got <= 700);
        /* the page's days never go back before the last page's */
        for (size_t i = 0; i < l->n_followups; i++) {
            assert_true(strcmp(l->followups[i]->due, last_due) >= 0);
            assert_true(n < total);
            seen[n] = malloc(48);
            snprintf(seen[n++], 48, "f%lld", (long long)l->followups[i]->id);
            assert_true(l->followups[i]->customer_id > 0);
        }
        for (size_t i = 0; i < l->n_contacts_due; i++) {
            assert_true(strcmp(l->contacts_due[i]->due, last_due) >= 0);
            assert_true(n < total);
            seen[n] = malloc(48);
            snprintf(seen[n++], 48, "p%lld-%s", (long long)l->contacts_due[i]->customer_id, l->contacts_due[i]->kind);
        }
        n_planned += (int64_t)l->n_followups;
        n_policy += (int64_t)l->n_contacts_due;
        for (size_t i = 0; i < l->n_followups; i++)
            if (strcmp(l->followups[i]->due, last_due) > 0)
                snprintf(last_due, sizeof last_due, "%s", l->followups[i]->due);
        for (size_t i = 0; i < l->n_contacts_due; i++)
            if (strcmp(l->contacts_due[i]->due, last_due) > 0)
                snprintf(last_due, sizeof last_due, "%s", l->contacts_due[i]->due);
        /* what remains is what the next pages hold */
        assert_int_equal(l->remaining, total - n);
        if (!*l->next_cursor) {
            assert_int_equal(got, l->n_followups + l->n_contacts_due);
            kehu_response_free(r);
            break;
        }
        assert_int_equal(got, 700);
        snprintf(after, sizeof after, "%s", l->next_cursor);
        kehu_response_free(r);
    }
    print_message("it_lists: followup due of an owner of %d customers: %lld rows in %lld pages of 700, %lld ms\n", BIG_N,
                  (long long)n, (long long)pages, (long long)(it_now_ms() - t0));
    assert_int_equal(n, total);
    assert_int_equal(n_planned, planned);
    assert_int_equal(n_policy, policy);
    assert_int_equal(pages, (total + 699) / 700);
    qsort(seen, (size_t)n, sizeof *seen, str_cmp);
    for (int64_t i = 1; i < n; i++)
        assert_string_not_equal(seen[i - 1], seen[i]);
    for (int64_t i = 0; i < n; i++)
        free(seen[i]);
    free(seen);

    /* bad paging arguments name their field */
    kehu_response_free(due_page(big, 1001, NULL, C(INVALID_ARGUMENT)));
    kehu_response_free(due_page(big, 10, "zz", C(INVALID_ARGUMENT)));
    Kehu__V1__Response *r = churn_page(big, 1, NULL, C(OK));
    char churn_cursor[512];
    snprintf(churn_cursor, sizeof churn_cursor, "%s", r->churn_warnings->next_cursor);
    kehu_response_free(r);
    r = due_page(big, 10, churn_cursor, C(INVALID_ARGUMENT)); /* another list's cursor */
    assert_string_equal(r->status->field, "after");
    kehu_response_free(r);
}

/* Churn warnings: ranked by value at risk, paged, counted. */
static void test_churn_pages(void **state)
{
    (void)state;
    int64_t total = pg_i64("SELECT count(*) FROM churn_warning w JOIN customer c ON c.id = w.customer_id"
                           " JOIN app_user u ON u.id = c.owner_id WHERE u.username = 'big.am'"
                           " AND w.status IN ('open', 'acknowledged')");
    assert_true(total > 100); /* past the old silent default */
    int64_t n = 0, last_value = INT64_MAX;
    char after[512] = "";
    for (;;) {
        Kehu__V1__Response *r = churn_page(big, 100, after, C(OK));
        const Kehu__V1__ChurnWarnings *l = r->churn_warnings;
        for (size_t i = 0; i < l->n_warnings; i++) {
            assert_true(l->warnings[i]->value_at_risk <= last_value);
            last_value = l->warnings[i]->value_at_risk;
            assert_true(l->warnings[i]->customer_id > 0);
        }
        n += (int64_t)l->n_warnings;
        assert_int_equal(l->remaining, total - n);
        int more = *l->next_cursor != 0;
        snprintf(after, sizeof after, "%s", l->next_cursor);
        kehu_response_free(r);
        if (!more)
            break;
    }
    assert_int_equal(n, total);
}

/* Care tasks: every birthday of today, paged. */
static void test_care_pages(void **state)
{
    (void)state;
    int64_t total = pg_i64("SELECT count(*) FROM customer c JOIN app_user u ON u.id = c.owner_id"
                           " WHERE u.username = 'big.am' AND c.birth IS NOT NULL"
                           " AND to_char(c.birth, 'MM-DD') = to_char(current_date, 'MM-DD')");
    assert_true(total > 250);
    int64_t n = 0;
    char after[512] = "";
    for (;;) {
        Kehu__V1__Response *r = care_page(big, 120, after, C(OK));
        const Kehu__V1__CareTasks *l = r->care_tasks;
        n += (int64_t)l->n_tasks;
        assert_int_equal(l->remaining, total - n);
        int more = *l->next_cursor != 0;
        snprintf(after, sizeof after, "%s", l->next_cursor);
        kehu_response_free(r);
        if (!more)
            break;
    }
    assert_int_equal(n, total);
}

/* Follow-ups by WeChat and SMS. */
static void test_wechat_sms(void **state)
{
    (void)state;
    int64_t cust = pg_i64("SELECT min(c.id) FROM customer c JOIN app_user u ON u.id = c.owner_id"
                          " WHERE u.username = 'big.am'");
    for (const char **k = (const char *[]){ "wechat", "sms", NULL }; *k; k++) {
        Kehu__V1__FollowupPlan m = KEHU__V1__FOLLOWUP_PLAN__INIT;
        m.customer_id = cust;
        m.kind = (char *)*k;
        m.due = (char *)day(1);
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_PLAN;
        req.followup_plan = &m;
        Kehu__V1__Response *r = it_call(big, &req, C(OK));
        assert_string_equal(r->followup->kind, *k);
        kehu_response_free(r);
        Kehu__V1__FollowupLog l = KEHU__V1__FOLLOWUP_LOG__INIT;
        l.customer_id = cust;
        l.kind = (char *)*k;
        l.outcome = "回复了";
        req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LOG;
        req.followup_log = &l;
        r = it_call(big, &req, C(OK));
        assert_string_equal(r->followup->kind, *k);
        assert_string_equal(r->followup->status, "done");
        kehu_response_free(r);
    }
    /* through the command line too */
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)cust);
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("followup", "plan", id, "--kind", "wechat", "--due", day(2))), 0,
                  "wechat");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("followup", "log", id, "--kind", "sms")), 0, "sms");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("followup", "log", id, "--kind", "fax")), 2, "wechat");
}

static void test_cli_login(void **state)
{
    (void)state;
    it_cli_expect(&cli, it_cli_run(&cli, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), IT_ARGS("login", "big.am")), 0, NULL);
}

/* The command line: a page says how many more remain and how to get them;
 * --json stays an array with the cursor on stderr; --all gets everything. */
static void test_cli_pages(void **state)
{
    (void)state;
    int64_t total = pg_i64("SELECT count(*) FROM followup f JOIN app_user u ON u.id = f.owner_id"
                           " WHERE u.username = 'big.am' AND f.status = 'planned' AND f.due <= current_date + 7")
                  + pg_i64("SELECT count(*) FROM customer c JOIN app_user u ON u.id = c.owner_id,"
                           " customer_contacts_due(c.id) d WHERE u.username = 'big.am' AND d.due <= current_date + 7");
    char more[64];
    snprintf(more, sizeof more, "%lld more", (long long)(total - 50));
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("followup", "due", "--limit", "50")), 0, more);
    it_cli_expect(&cli, 0, 0, "--after ");
    it_cli_expect(&cli, 0, 0, "CUSTOMER");
    /* the customer's id is shown */
    int64_t first = pg_i64("SELECT min(c.id) FROM customer c JOIN app_user u ON u.id = c.owner_id"
                           " WHERE u.username = 'big.am' AND c.since = current_date - 149");
    char id[24];
    snprintf(id, sizeof id, " %lld ", (long long)first);
    it_cli_expect(&cli, 0, 0, id);

    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("followup", "due", "--limit", "50", "--json")), 0,
                  "next_cursor: ");
    assert_true(cli.out[0] == '[');
    char rem[64];
    snprintf(rem, sizeof rem, "remaining: %lld", (long long)(total - 50));
    it_cli_expect(&cli, 0, 0, rem);

    /* (the whole list is more than the test keeps of stdout: its end is enough) */
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("followup", "due", "--all", "--json")), 0, NULL);
    assert_null(strstr(cli.err, "next_cursor"));
    assert_null(strstr(cli.err, "more"));
    int64_t churn = pg_i64("SELECT count(*) FROM churn_warning WHERE status = 'open'");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("churn", "list", "--all", "--csv", "--limit", "30")), 0, NULL);
    int64_t lines = 0;
    for (const char *p = cli.out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, churn + 1); /* the header and every row */
    assert_null(strstr(cli.err, "next_cursor"));
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("churn", "list", "--limit", "20")), 0, "more");
    it_cli_expect(&cli, 0, 0, "--after ");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("care", "today", "--limit", "20")), 0, "more");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("churn", "list", "--all", "--json")), 0, NULL);
    assert_null(strstr(cli.err, "next_cursor"));
}

/* ---------------------------------------------------------------- reassignment */

static int64_t user_id(const char *username)
{
    return pg_i64("SELECT id FROM app_user WHERE username = '%s'", username);
}

/* n customers of owner in 上海分行, written straight into the database. */
static void load_customers(const char *owner, int n)
{
    char sql[600];
    snprintf(sql, sizeof sql,
             "SET kehu.bulk = 'on'; INSERT INTO customer (branch_id, owner_id, name) SELECT (SELECT id FROM org_unit"
             " WHERE name = '上海分行'), %lld, '%s 的客户' || i FROM generate_series(1, %d) i; RESET kehu.bulk;",
             (long long)user_id(owner), owner, n);
    pg_do(sql);
}

static Kehu__V1__Request *assign_req(Kehu__V1__Assign *m, const char *from, Kehu__V1__CustomerList *filter,
                                     const char **to, int dry)
{
    static Kehu__V1__Request req;
    kehu__v1__assign__init(m);
    m->from_user = (char *)(from ? from : "");
    if (filter) {
        m->filter = filter;
        m->use_filter = 1;
    }
    m->to = (char **)to;
    m->n_to = 1;
    m->reason = "调整";
    m->dry_run = dry;
    kehu__v1__request__init(&req);
    req.op_case = KEHU__V1__REQUEST__OP_ASSIGN;
    req.assign = m;
    return &req;
}

static Kehu__V1__Request *undo_req(int64_t batch, int dry)
{
    static Kehu__V1__AssignUndo m;
    static Kehu__V1__Request req;
    kehu__v1__assign_undo__init(&m);
    m.batch_id = batch;
    m.dry_run = dry;
    kehu__v1__request__init(&req);
    req.op_case = KEHU__V1__REQUEST__OP_ASSIGN_UNDO;
    req.assign_undo = &m;
    return &req;
}

struct pending {
    int done;
    int code;
    int64_t moved, stale, n_stale_ids;
};

static void pending_cb(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct pending *p = arg;
    p->done = 1;
    p->code = resp ? (int)st->code : -1;
    if (resp && resp->assign) {
        p->moved = resp->assign->moved;
        p->stale = resp->assign->no_longer_matching;
        p->n_stale_ids = (int64_t)resp->assign->n_no_longer_matching_ids;
    }
}

/* Two batches over the same customers: the first (a handover of ax.am's 300
 * customers to a5.am, held open here in a database session of its own)
 * holds their row locks when a filter batch `--owner ax.am --to a3.am`
 * arrives; once the first commits, the filter must move nothing (none is
 * ax.am's any more) and say so. */
static void test_filter_race(void **state)
{
    (void)state;
    it_add_user("ax.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
    it_add_user("a5.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
    it_add_user("a3.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
    load_customers("ax.am", 300);
    PGconn *first = it_pg_open();
    char sql[400];
    snprintf(sql, sizeof sql,
             "BEGIN; SET LOCAL kehu.bulk = 'on'; UPDATE customer SET owner_id = %lld WHERE owner_id = %lld",
             (long long)user_id("a5.am"), (long long)user_id("ax.am"));
    it_pg_do(first, sql);
    int64_t waiting_before = pg_i64("SELECT count(*) FROM pg_locks WHERE NOT granted");

    Kehu__V1__Assign m;
    Kehu__V1__CustomerList f = KEHU__V1__CUSTOMER_LIST__INIT;
    f.owner = "ax.am";
    const char *to[] = { "a3.am", NULL };
    struct pending p = { 0 };
    struct kehu_status st;
    uint64_t id;
    assert_int_equal(kehu_send(org.admin, assign_req(&m, NULL, &f, to, 0), pending_cb, &p, &id, &st), 0);
    /* until the filter batch waits for the locks (no sleeping on a guess) */
    int64_t deadline = it_now_ms() + 20000;
    while (pg_i64("SELECT count(*) FROM pg_locks WHERE NOT granted") <= waiting_before) {
        assert_true(it_now_ms() < deadline);
        assert_int_equal(kehu_run(org.admin, 5), 1); /* still pending */
        assert_false(p.done);
    }
    it_pg_do(first, "COMMIT");
    PQfinish(first);
    while (!p.done)
        assert_true(kehu_run(org.admin, 10000) >= 0);
    assert_int_equal(p.code, C(OK));
    assert_int_equal(p.moved, 0);
    assert_int_equal(p.stale, 300);
    assert_int_equal(p.n_stale_ids, 300); /* the admin reads them all */
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id = %lld", (long long)user_id("a5.am")), 300);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id = %lld", (long long)user_id("a3.am")), 0);

    /* the same through the command line, without a race: nothing matches, nothing moves */
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("logout")), 0, NULL);
    it_cli_expect(&cli, it_cli_run(&cli, IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin")), 0,
                  NULL);
    it_cli_expect(&cli,
                  it_cli_run(&cli, NULL,
                             IT_ARGS("assign", "--filter", "--owner", "ax.am", "--to", "a3.am", "--reason", "r",
                                     "--dry-run", "--json")),
                  0, "\"no_longer_matching\": 0");
}

/* A branch manager naming a user or a batch of another branch gets exactly
 * the answer a missing one gets; refusals name no customer they may not read. */
static void test_reassign_messages(void **state)
{
    (void)state;
    it_add_user("bj.am2", KEHU__V1__ROLE__ACCOUNT_MANAGER, "北京分行", IT_PASSWORD);
    char sql[600];
    snprintf(sql, sizeof sql,
             "SET kehu.bulk = 'on'; INSERT INTO customer (branch_id, owner_id, name) SELECT (SELECT id FROM org_unit"
             " WHERE name = '北京分行'), %lld, '北京客户' || i FROM generate_series(1, 3) i; RESET kehu.bulk;",
             (long long)user_id("bj.am"));
    pg_do(sql);
    Kehu__V1__Assign m;
    const char *to[] = { "zhang.wei", NULL };
    Kehu__V1__Response *hidden = it_call(org.mgr, assign_req(&m, "bj.am", NULL, to, 1), C(NOT_FOUND));
    Kehu__V1__Response *missing = it_call(org.mgr, assign_req(&m, "no.such", NULL, to, 1), C(NOT_FOUND));
    assert_string_equal(hidden->status->field, missing->status->field);
    assert_string_equal(hidden->status->message, "no user named 'bj.am'");
    assert_string_equal(missing->status->message, "no user named 'no.such'");
    kehu_response_free(hidden);
    kehu_response_free(missing);
    /* a receiver of another branch likewise */
    const char *to_bj[] = { "bj.am2", NULL };
    hidden = it_call(org.mgr, assign_req(&m, "li.lei", NULL, to_bj, 1), C(NOT_FOUND));
    assert_string_equal(hidden->status->message, "no user named 'bj.am2'");
    kehu_response_free(hidden);

    /* a batch of 北京分行 */
    Kehu__V1__Response *r = it_call(org.admin, assign_req(&m, "bj.am", NULL, to_bj, 0), C(OK));
    int64_t batch = r->assign->batch_id;
    assert_true(batch > 0);
    kehu_response_free(r);
    int64_t none = batch + 100000;
    for (int dry = 0; dry <= 1; dry++) {
        hidden = it_call(org.mgr, undo_req(batch, dry), C(NOT_FOUND));
        missing = it_call(org.mgr, undo_req(none, dry), C(NOT_FOUND));
        char want[64];
        snprintf(want, sizeof want, "no batch %lld", (long long)batch);
        assert_string_equal(hidden->status->message, want);
        snprintf(want, sizeof want, "no batch %lld", (long long)none);
        assert_string_equal(missing->status->message, want);
        assert_string_equal(hidden->status->field, missing->status->field);
        assert_null(strstr(hidden->status->message, "customer"));
        kehu_response_free(hidden);
        kehu_response_free(missing);
    }
    /* the admin may */
    kehu_response_free(it_call(org.admin, undo_req(batch, 1), C(OK)));
}

/* An undo never hands customers back to a disabled user: the dry run says
 * so, the real run refuses the same way and changes nothing. */
static void test_undo_to_disabled(void **state)
{
    (void)state;
    it_add_user("gone.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
    load_customers("gone.am", 40);
    Kehu__V1__Assign m;
    const char *to[] = { "zhang.wei", NULL };
    Kehu__V1__Response *r = it_call(org.admin, assign_req(&m, "gone.am", NULL, to, 0), C(OK));
    int64_t batch = r->assign->batch_id;
    assert_int_equal(r->assign->moved, 40);
    kehu_response_free(r);
    Kehu__V1__UserDisable d = KEHU__V1__USER_DISABLE__INIT;
    d.username = "gone.am";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_DISABLE;
    req.user_disable = &d;
    it_expect(org.admin, &req, C(OK), NULL);
    int64_t held = pg_i64("SELECT count(*) FROM customer WHERE owner_id = %lld", (long long)user_id("zhang.wei"));
    for (int dry = 1; dry >= 0; dry--) {
        r = it_call(org.admin, undo_req(batch, dry), C(FAILED_PRECONDITION));
        assert_non_null(strstr(r->status->message, "40 customers back to gone.am (disabled)"));
        assert_string_equal(r->status->field, "batch_id");
        kehu_response_free(r);
    }
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id = %lld", (long long)user_id("zhang.wei")),
                     held);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id = %lld", (long long)user_id("gone.am")), 0);
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)batch);
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("assign", "undo", b, "--dry-run")), 1, "gone.am (disabled)");
}

/* ---------------------------------------------------------------- the recycle job */

static Kehu__V1__Response *recycle_page(kehu_client *c, int dry, uint32_t limit, const char *after, int code)
{
    Kehu__V1__PoolRecycle m = KEHU__V1__POOL_RECYCLE__INIT;
    m.as_of = (char *)day(31);
    m.dry_run = dry;
    m.limit = limit;
    m.after = (char *)(after ? after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_POOL_RECYCLE;
    req.pool_recycle = &m;
    return it_call(c, &req, code);
}

/* A dry run names the customers it would recycle, a page at a time; a
 * branch manager may dry-run, and sees their branch only; a real run stays
 * the admin's. */
static void test_recycle_dry_run(void **state)
{
    (void)state;
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("pool", "rules", "set", "--force", "C.followup_days=30")), 0, NULL);
    int64_t all = pg_i64("SELECT count(*) FROM customer WHERE owner_id IS NOT NULL AND merged_into IS NULL"
                         " AND status IN ('active', 'churned')");
    int64_t sh = pg_i64("SELECT count(*) FROM customer c JOIN org_unit b ON b.id = c.branch_id WHERE b.name = '上海分行'"
                        " AND c.owner_id IS NOT NULL AND c.merged_into IS NULL AND c.status IN ('active', 'churned')");
    assert_true(sh < all); /* 北京分行 has some */
    /* the scheduler's form (the whole job) counts the same */
    assert_int_equal(pg_i64("SELECT recycled FROM pool_recycle(current_date + 31, true, NULL)"), all);
    Kehu__V1__Response *r = recycle_page(org.admin, 1, 7, NULL, C(OK));
    const Kehu__V1__PoolRecycleResult *p = r->pool_recycled;
    assert_int_equal(p->recycled, all);
    assert_int_equal(p->n_customers, 7);
    assert_int_equal(p->remaining, all - 7);
    assert_true(p->customers[0]->customer_id > 0 && *p->customers[0]->name);
    kehu_response_free(r);

    /* the branch manager: their branch, every one of it across pages */
    int64_t n = 0, last = 0;
    char after[256] = "";
    for (;;) {
        r = recycle_page(org.mgr, 1, 1000, after, C(OK));
        p = r->pool_recycled;
        assert_int_equal(p->recycled, sh);
        for (size_t i = 0; i < p->n_customers; i++) {
            assert_true(p->customers[i]->customer_id > last);
            last = p->customers[i]->customer_id;
            assert_int_equal(pg_i64("SELECT count(*) FROM customer c JOIN org_unit b ON b.id = c.branch_id"
                                    " WHERE c.id = %lld AND b.name = '上海分行'",
                                    (long long)last),
                             1);
        }
        n += (int64_t)p->n_customers;
        assert_int_equal(p->remaining, sh - n);
        int more = *p->next_cursor != 0;
        snprintf(after, sizeof after, "%s", p->next_cursor);
        kehu_response_free(r);
        if (!more)
            break;
    }
    assert_int_equal(n, sh);
    kehu_response_free(recycle_page(org.mgr, 0, 0, NULL, C(PERMISSION_DENIED)));
    kehu_response_free(recycle_page(org.li, 1, 0, NULL, C(PERMISSION_DENIED)));
    /* nothing changed */
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id IS NOT NULL AND merged_into IS NULL"
                            " AND status IN ('active', 'churned')"),
                     all);

    /* the command line names them and says how many more */
    char more[64];
    snprintf(more, sizeof more, "%lld more", (long long)(all - 5));
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("pool", "recycle", "--dry-run", "--as-of", day(31), "--limit", "5")),
                  0, more);
    it_cli_expect(&cli, 0, 0, "no follow-up");
    it_cli_expect(&cli, 0, 0, "dry run: recycle as of");
}

/* ---------------------------------------------------------------- the other lists */

/* Pages through a list with `limit` per page: `call` sends one page's
 * request (after: the cursor) and returns how many rows it held, the next
 * cursor and the remaining count. Checks each remaining count and returns
 * the total. */
typedef Kehu__V1__Response *(*page_call)(const char *after, uint32_t limit, size_t *n, const char **next,
                                          uint32_t *remaining);

static int64_t walk(page_call call, uint32_t limit, int64_t expect)
{
    char after[512] = "";
    int64_t seen = 0;
    for (int pages = 0; pages < 1000; pages++) {
        size_t n;
        const char *next;
        uint32_t remaining;
        Kehu__V1__Response *r = call(after, limit, &n, &next, &remaining);
        assert_true(n <= limit);
        seen += (int64_t)n;
        assert_int_equal(remaining, expect - seen);
        int more = *next != 0;
        snprintf(after, sizeof after, "%s", next);
        kehu_response_free(r);
        if (!more)
            return seen;
        assert_int_equal(n, limit);
    }
    fail_msg("a list that never ends");
    return -1;
}

static Kehu__V1__Response *users_call(const char *after, uint32_t limit, size_t *n, const char **next,
                                      uint32_t *remaining)
{
    Kehu__V1__UserList m = KEHU__V1__USER_LIST__INIT;
    m.limit = limit;
    m.after = (char *)after;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_LIST;
    req.user_list = &m;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    *n = r->users->n_users;
    *next = r->users->next_cursor;
    *remaining = r->users->remaining;
    return r;
}

static Kehu__V1__Response *units_call(const char *after, uint32_t limit, size_t *n, const char **next,
                                      uint32_t *remaining)
{
    Kehu__V1__OrgList m = KEHU__V1__ORG_LIST__INIT;
    m.limit = limit;
    m.after = (char *)after;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_LIST;
    req.org_list = &m;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    *n = r->org_units->n_units;
    *next = r->org_units->next_cursor;
    *remaining = r->org_units->remaining;
    return r;
}

static int64_t one_customer;

static Kehu__V1__Response *contacts_call(const char *after, uint32_t limit, size_t *n, const char **next,
                                         uint32_t *remaining)
{
    Kehu__V1__ContactList m = KEHU__V1__CONTACT_LIST__INIT;
    m.customer_id = one_customer;
    m.limit = limit;
    m.after = (char *)after;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CONTACT_LIST;
    req.contact_list = &m;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    *n = r->contacts->n_contacts;
    *next = r->contacts->next_cursor;
    *remaining = r->contacts->remaining;
    return r;
}

static Kehu__V1__Response *followups_call(const char *after, uint32_t limit, size_t *n, const char **next,
                                          uint32_t *remaining)
{
    Kehu__V1__FollowupList m = KEHU__V1__FOLLOWUP_LIST__INIT;
    m.customer_id = one_customer;
    m.limit = limit;
    m.after = (char *)after;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LIST;
    req.followup_list = &m;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    *n = r->followups->n_followups;
    *next = r->followups->next_cursor;
    *remaining = r->followups->remaining;
    return r;
}

static Kehu__V1__Response *history_call(const char *after, uint32_t limit, size_t *n, const char **next,
                                        uint32_t *remaining)
{
    Kehu__V1__AssignHistory m = KEHU__V1__ASSIGN_HISTORY__INIT;
    m.customer_id = one_customer;
    m.limit = limit;
    m.after = (char *)after;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSIGN_HISTORY;
    req.assign_history = &m;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    assert_int_equal(r->assign_history->n_owners, 4); /* every owner, whatever the page */
    *n = r->assign_history->n_entries;
    *next = r->assign_history->next_cursor;
    *remaining = r->assign_history->remaining;
    return r;
}


/* customer list --tag, --region, --industry, --source: a value on more of
 * the caller's customers than the cut pages by the walk of the list's order,
 * a rarer one by the value's index, and a page past the cut moves from one
 * to the other: every customer of the value the branch manager may read
 * once, in order, and none they may not. The cuts are server/rpc_customer.c's
 * LIST_COUNT_CAP (a tag) and LIST_INDEX_CUT (the others). */
#define INDEX_CUT 5000
#define HEAVY_N 5300
enum value_filter { BY_TAG, BY_REGION, BY_INDUSTRY, BY_SOURCE };

static Kehu__V1__Response *value_page(kehu_client *c, enum value_filter f, const char *value, uint32_t limit,
                                      const char *after)
{
    Kehu__V1__CustomerList m = KEHU__V1__CUSTOMER_LIST__INIT;
    char **field[] = { [BY_TAG] = &m.tag, [BY_REGION] = &m.region, [BY_INDUSTRY] = &m.industry, [BY_SOURCE] = &m.source };
    *field[f] = (char *)value;
    m.sort = "revenue";
    m.limit = limit;
    m.after = (char *)after;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
    req.customer_list = &m;
    return it_call(c, &req, C(OK));
}

static void test_value_pages(void **state)
{
    (void)state;
    /* HEAVY_N more customers of big.am with the heavy values, one in 500 of
     * them the rare ones instead (and the rare tag too), and bj.am (北京分行)
     * one customer with each */
    char sql[800];
    snprintf(sql, sizeof sql,
             "SET kehu.bulk = 'on';"
             " INSERT INTO customer (branch_id, owner_id, name, revenue, tags, region, industry, source)"
             " SELECT u.unit_id, u.id, '滨海客户' || i, (i * 37 %% 1000) * 10.5, ARRAY['heavy'], '滨海', '重工', 'trade_show'"
             "  FROM generate_series(1, %d) i, app_user u WHERE u.username = 'big.am';"
             " RESET kehu.bulk;",
             HEAVY_N);
    pg_do(sql);
    pg_do("SET kehu.bulk = 'on';"
          " UPDATE customer c SET tags = ARRAY['heavy', 'rare'], region = '雪域', industry = '航天', source = 'b2b_platform'"
          "  FROM app_user u WHERE u.id = c.owner_id AND u.username = 'big.am' AND c.region = '滨海' AND c.id % 500 = 0;"
          " INSERT INTO customer (branch_id, owner_id, name, revenue, tags, region, industry, source)"
          " SELECT u.unit_id, u.id, '北京大客户', 999999, ARRAY['heavy', 'rare'], '滨海', '重工', 'trade_show'"
          "  FROM app_user u WHERE u.username = 'bj.am';"
          " INSERT INTO customer (branch_id, owner_id, name, revenue, tags, region, industry, source)"
          " SELECT u.unit_id, u.id, '北京小客户', 999998, ARRAY['heavy', 'rare'], '雪域', '航天', 'b2b_platform'"
          "  FROM app_user u WHERE u.username = 'bj.am';"
          " RESET kehu.bulk;");
    int64_t outsider[2] = {
        pg_i64("SELECT c.id FROM customer c JOIN app_user u ON u.id = c.owner_id WHERE u.username = 'bj.am'"
               " AND c.region = '滨海'"),
        pg_i64("SELECT c.id FROM customer c JOIN app_user u ON u.id = c.owner_id WHERE u.username = 'bj.am'"
               " AND c.region = '雪域'"),
    };
    static const struct {
        enum value_filter f;
        const char *values[2], *sql; /* heavy, rare; the column's test */
    } cases[] = {
        { BY_TAG, { "heavy", "rare" }, "'%s' = ANY (c.tags)" },
        { BY_REGION, { "滨海", "雪域" }, "c.region = '%s'" },
        { BY_INDUSTRY, { "重工", "航天" }, "c.industry = '%s'" },
        { BY_SOURCE, { "trade_show", "b2b_platform" }, "c.source = '%s'" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int v = 0; v < 2; v++) {
            char test[128];
            snprintf(test, sizeof test, cases[k].sql, cases[k].values[v]);
            /* what the branch manager of 上海分行 may read */
            snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM customer c WHERE %s AND c.merged_into IS NULL AND c.status <> 'archived'"
                     " AND c.branch_id IN (SELECT id FROM org_unit WHERE path @> ARRAY[org_unit_ref('上海分行', 'branch')])",
                     test);
            int64_t expected = pg_i64("%s", sql);
            if (v == 0)
                assert_true(expected > INDEX_CUT); /* past the cut: the walk, then the index */
            else
                assert_true(expected > 0 && expected < 20); /* the index */
            char cursor[256] = "";
            int64_t seen = 0, last_rev = INT64_MAX, last_id = INT64_MAX;
            int pages = 0;
            do {
                Kehu__V1__Response *r = value_page(org.mgr, cases[k].f, cases[k].values[v], 400, cursor);
                Kehu__V1__CustomerPage *p = r->customers;
                if (pages++ == 0 && v == 0)
                    assert_true(p->remaining_more); /* more than the cap follow the first page */
                for (size_t i = 0; i < p->n_customers; i++) {
                    Kehu__V1__Customer *c = p->customers[i];
                    assert_int_not_equal(c->id, outsider[0]); /* another branch's, never the branch manager's */
                    assert_int_not_equal(c->id, outsider[1]);
                    /* in order (revenue, then id, descending), so never twice */
                    assert_true(c->revenue_minor < last_rev || (c->revenue_minor == last_rev && c->id < last_id));
                    last_rev = c->revenue_minor;
                    last_id = c->id;
                    seen++;
                }
                snprintf(cursor, sizeof cursor, "%s", p->next_cursor);
                kehu_response_free(r);
            } while (*cursor);
            assert_int_equal(seen, expected);
            if (v == 0)
                assert_true(pages > 13); /* 400 a page: the cut was crossed on the way */
            /* bj.am reads their own customer of the value and nothing else */
            Kehu__V1__Response *r = value_page(org.bj, cases[k].f, cases[k].values[v], 50, "");
            if (cases[k].f == BY_TAG) { /* both of bj.am's have both tags */
                assert_int_equal(r->customers->n_customers, 2);
            } else {
                assert_int_equal(r->customers->n_customers, 1);
                assert_int_equal(r->customers->customers[0]->id, outsider[v]);
            }
            kehu_response_free(r);
        }
    }
}

/* Users, units, a customer's contacts, follow-ups and owner history: pages
 * with the right remaining counts, against SQL counts. */
static void test_other_lists(void **state)
{
    (void)state;
    assert_int_equal(walk(users_call, 3, pg_i64("SELECT count(*) FROM app_user")), pg_i64("SELECT count(*) FROM app_user"));
    assert_int_equal(walk(units_call, 2, pg_i64("SELECT count(*) FROM org_unit")), pg_i64("SELECT count(*) FROM org_unit"));

    one_customer = pg_i64("SELECT min(c.id) FROM customer c JOIN app_user u ON u.id = c.owner_id"
                          " WHERE u.username = 'big.am'");
    for (int i = 0; i < 5; i++) {
        Kehu__V1__Contact k = KEHU__V1__CONTACT__INIT;
        char name[32];
        snprintf(name, sizeof name, "联系人%d", i);
        k.name = name;
        k.key_person = i % 2;
        Kehu__V1__ContactAdd m = KEHU__V1__CONTACT_ADD__INIT;
        m.customer_id = one_customer;
        m.contact = &k;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CONTACT_ADD;
        req.contact_add = &m;
        it_expect(org.admin, &req, C(OK), NULL);
    }
    assert_int_equal(walk(contacts_call, 2, 5), 5);
    int64_t fus = pg_i64("SELECT count(*) FROM followup WHERE customer_id = %lld", (long long)one_customer);
    assert_true(fus >= 4);
    assert_int_equal(walk(followups_call, 3, fus), fus);

    /* three moves: big.am -> zhang.wei -> li.lei -> zhang.wei */
    static const char *const to[] = { "zhang.wei", "li.lei", "zhang.wei" };
    for (int i = 0; i < 3; i++) {
        int64_t ids[] = { one_customer };
        Kehu__V1__Assign m = KEHU__V1__ASSIGN__INIT;
        m.customer_ids = ids;
        m.n_customer_ids = 1;
        m.to = (char **)&to[i];
        m.n_to = 1;
        m.reason = "轮换";
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_ASSIGN;
        req.assign = &m;
        it_expect(org.admin, &req, C(OK), NULL);
    }
    assert_int_equal(walk(history_call, 1, 3), 3);

    /* transactions (paged already): the count of what follows */
    char cid[24];
    snprintf(cid, sizeof cid, "%lld", (long long)one_customer);
    for (int i = 0; i < 5; i++)
        it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("txn", "add", cid, "--amount", "10.00")), 0, NULL);
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("txn", "list", cid, "--limit", "2")), 0, "3 more");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("contact", "list", cid, "--limit", "2")), 0, "3 more");
    /* payments and asset snapshots too */
    static const char *const days[] = { "2026-01-05", "2026-02-05", "2026-03-05" };
    for (int i = 0; i < 3; i++) {
        it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("payment", "add", cid, "--amount", "5.00", "--date", days[i])),
                      0, NULL);
        it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("asset", "add", cid, "--balance", "100.00", "--date", days[i])),
                      0, NULL);
    }
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("payment", "list", cid, "--limit", "2")), 0, "1 more");
    /* customer list: how many of big.am's customers follow the first page,
     * counted up to 1,000 (server/rpc_customer.c LIST_COUNT_CAP) */
    char owner_more[48];
    long long following = (long long)pg_i64("SELECT count(*) - 100 FROM customer c JOIN app_user u ON u.id = c.owner_id"
                                            " WHERE u.username = 'big.am' AND c.merged_into IS NULL AND c.status <> 'archived'");
    if (following > 900)
        snprintf(owner_more, sizeof owner_more, "more than 900 more");
    else
        snprintf(owner_more, sizeof owner_more, "%lld more", following);
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("customer", "list", "--owner", "big.am", "--limit", "100")), 0,
                  owner_more);
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("asset", "list", cid, "--limit", "2")), 0, "1 more");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("user", "list", "--limit", "2", "--json")), 0, "remaining: ");

    /* the audit trail: a page says how many entries follow it */
    int64_t plans = pg_i64("SELECT count(*) FROM audit_log WHERE action = 'followup_plan'");
    assert_true(plans >= 3);
    Kehu__V1__AuditList a = KEHU__V1__AUDIT_LIST__INIT;
    a.action = "followup_plan";
    a.limit = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_AUDIT_LIST;
    req.audit_list = &a;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    assert_int_equal(r->audit_entries->n_entries, 1);
    assert_int_equal(r->audit_entries->remaining, plans - 1);
    kehu_response_free(r);
    char more[64];
    snprintf(more, sizeof more, "%lld more", (long long)(plans - 2));
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("audit", "list", "--action", "followup_plan", "--limit", "2")),
                  0, more);
    it_cli_expect(&cli, 0, 0, "--after ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_pages),  cmocka_unit_test(test_churn_pages), cmocka_unit_test(test_care_pages),
        cmocka_unit_test(test_cli_login),  cmocka_unit_test(test_cli_pages),   cmocka_unit_test(test_wechat_sms),
        cmocka_unit_test(test_filter_race), cmocka_unit_test(test_reassign_messages),
        cmocka_unit_test(test_undo_to_disabled), cmocka_unit_test(test_recycle_dry_run),
        cmocka_unit_test(test_other_lists), cmocka_unit_test(test_value_pages),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
