/* The annual review (年末评审) and the win-back list (挽回), end to end
 * (docs/grading.md): through the wire and, for the main path, the kehu
 * command line.
 *
 * A small hand-made base written into the test database (上海分行 unless
 * said otherwise), graded live as of D0 = 2025-06-30 and D = 2025-12-20:
 *   大客户甲  li.lei's, 100,000 a month: A
 *   乙客户    li.lei's, 30,000 a month: B
 *   丙客户    li.lei's, 1,000 a month: C
 *   丁客户    zhang.wei's, 2,000 a month: B (the B share is wide here)
 *   丁二 丁三 zhang.wei's, small: C
 *   流失甲    li.lei's, 500,000 a month until October 2024: A at D0, churned at D
 *   流失丙    li.lei's, 500 a month until October 2024: C, churned at D (not listed)
 *   放弃乙    li.lei's, 40,000 a month: B, then given up (churn lost)
 *   北京甲    bj.am's (北京分行), 150,000 a month: A; unreadable for 上海分行
 *
 * The review's clock is kehu_clock (kehu_now()), moved by the test into and
 * out of the window (25-30 December 2025). */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static kehu_client *committee, *finance;
static struct it_cli cli_committee, cli_mgr, cli_finance;
static PGconn *pg;
static int64_t committee_id, finance_id, mgr_id;

enum { BIG, MID, SMALL, ZH1, ZH2, ZH3, LOST_A, LOST_C, GIVEUP, BJA, NC };
static const struct {
    const char *name;
    int bj;
    const char *owner;
    int64_t monthly; /* yuan */
    const char *until; /* the last month with a purchase */
} cs[NC] = {
    [BIG] = { "大客户甲", 0, "li.lei", 100000, "2025-12" },  [MID] = { "乙客户", 0, "li.lei", 30000, "2025-12" },
    [SMALL] = { "丙客户", 0, "li.lei", 1000, "2025-12" },    [ZH1] = { "丁客户", 0, "zhang.wei", 2000, "2025-12" },
    [ZH2] = { "丁二", 0, "zhang.wei", 800, "2025-12" },      [ZH3] = { "丁三", 0, "zhang.wei", 600, "2025-12" },
    [LOST_A] = { "流失甲", 0, "li.lei", 500000, "2024-10" }, [LOST_C] = { "流失丙", 0, "li.lei", 500, "2024-10" },
    [GIVEUP] = { "放弃乙", 0, "li.lei", 40000, "2025-11" },  [BJA] = { "北京甲", 1, "bj.am", 150000, "2025-12" },
};

static int64_t cid(int i)
{
    return 3001 + i;
}

static void clock_at(const char *ts)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE kehu_clock SET offset_ms = (extract(epoch FROM '%s'::timestamptz) - extract(epoch FROM "
             "clock_timestamp())) * 1000",
             ts);
    it_pg_do(pg, sql);
}

static void load(void)
{
    char sql[8192];
    int n = snprintf(sql, sizeof sql,
                     "SET kehu.bulk = 'on'; BEGIN;"
                     "INSERT INTO customer (id, branch_id, owner_id, name, since) VALUES ");
    for (int i = 0; i < NC; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n,
                      "%s(%lld, (SELECT id FROM org_unit WHERE name = '%s'),"
                      " (SELECT id FROM app_user WHERE username = '%s'), '%s', '2022-01-01')",
                      i ? "," : "", (long long)cid(i), cs[i].bj ? "北京分行" : "上海分行", cs[i].owner, cs[i].name);
    n += snprintf(sql + n, sizeof sql - (size_t)n, ";");
    for (int i = 0; i < NC; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n,
                      "INSERT INTO txn (branch_id, customer_id, date, amount)"
                      " SELECT c.branch_id, c.id, m::date + 14, %lld FROM customer c,"
                      " generate_series('2023-01-01'::date, '%s-01'::date, '1 month') m WHERE c.id = %lld;",
                      (long long)cs[i].monthly, cs[i].until, (long long)cid(i));
    snprintf(sql + n, sizeof sql - (size_t)n,
             "UPDATE customer c SET revenue = t.r FROM (SELECT customer_id, sum(amount) r FROM txn GROUP BY 1) t"
             " WHERE t.customer_id = c.id;"
             "SELECT setval('customer_id_seq', (SELECT max(id) FROM customer));"
             "UPDATE grade_policy SET value = '0.2' WHERE key = 'abc.a_share';"
             "UPDATE grade_policy SET value = '0.5' WHERE key = 'abc.b_share';"
             "COMMIT;");
    it_pg_do(pg, sql);
}

static void grade_run(const char *as_of)
{
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    m.as_of = (char *)as_of;
    m.live = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &m;
    kehu_response_free(it_call(org.admin, &req, C(OK)));
}

/* The effective grade on a dimension: today, or on a day (after the
 * review, whose overrides hold until the end of 2026, whatever the
 * machine's date). */
static const char *grade_on(int i, const char *dim, const char *day)
{
    static char g[8][8];
    static int k;
    char sql[256];
    if (day)
        snprintf(sql, sizeof sql, "SELECT coalesce(grade_override_on(%lld, '%s', '%s'), (SELECT %s FROM customer_grade"
                 " WHERE customer_id = %lld))", (long long)cid(i), dim, day, dim, (long long)cid(i));
    else
        snprintf(sql, sizeof sql, "SELECT grade_of(%lld, '%s')", (long long)cid(i), dim);
    PGresult *r = PQexec(pg, sql);
    char *out = g[k++ % 8];
    snprintf(out, 8, "%s", PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
    PQclear(r);
    return out;
}

static const char *abc_of(int i)
{
    return grade_on(i, "abc", NULL);
}

static int64_t q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t q(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return it_pg_i64(pg, sql);
}

/* ---------------------------------------------------------------- requests */

static Kehu__V1__Response *decide(kehu_client *c, int64_t cust, const char *step, const char *grade,
                                  const char *reason, int code, const char *field)
{
    Kehu__V1__ReviewDecide m = KEHU__V1__REVIEW_DECIDE__INIT;
    m.customer_id = cust;
    m.step = (char *)step;
    m.grade = (char *)(grade ? grade : "");
    m.reason = (char *)(reason ? reason : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_DECIDE;
    req.review_decide = &m;
    Kehu__V1__Response *resp = it_call(c, &req, code);
    if (field)
        assert_string_equal(resp->status->field, field);
    return resp;
}

static void decide_ok(kehu_client *c, int i, const char *step, const char *grade, const char *reason)
{
    kehu_response_free(decide(c, cid(i), step, grade, reason, C(OK), NULL));
}

static Kehu__V1__Response *review_open(kehu_client *c, int code, const char *field)
{
    Kehu__V1__ReviewOpen m = KEHU__V1__REVIEW_OPEN__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_OPEN;
    req.review_open = &m;
    Kehu__V1__Response *resp = it_call(c, &req, code);
    if (field)
        assert_string_equal(resp->status->field, field);
    return resp;
}

static void vip(kehu_client *c, int i, const char *action, const char *reason, int code, const char *field)
{
    Kehu__V1__VipChange m = KEHU__V1__VIP_CHANGE__INIT;
    m.customer_id = cid(i);
    m.action = (char *)action;
    m.reason = (char *)(reason ? reason : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_VIP_CHANGE;
    req.vip_change = &m;
    it_expect(c, &req, code, field);
}

static Kehu__V1__Response *winback_list(kehu_client *c, const char *status)
{
    Kehu__V1__WinbackList m = KEHU__V1__WINBACK_LIST__INIT;
    m.status = (char *)status;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_WINBACK_LIST;
    req.winback_list = &m;
    Kehu__V1__Response *resp = it_call(c, &req, C(OK));
    assert_non_null(resp->winback_entries);
    return resp;
}

static const Kehu__V1__WinbackEntry *find_entry(const Kehu__V1__Response *resp, int i)
{
    for (size_t k = 0; k < resp->winback_entries->n_entries; k++)
        if (resp->winback_entries->entries[k]->customer_id == cid(i))
            return resp->winback_entries->entries[k];
    return NULL;
}

static Kehu__V1__Response *winback_act(kehu_client *c, int64_t id, const char *action, const char *text, int code,
                                       const char *field)
{
    Kehu__V1__WinbackAct m = KEHU__V1__WINBACK_ACT__INIT;
    m.id = id;
    m.action = (char *)action;
    if (strcmp(action, "plan") == 0)
        m.plan = (char *)text;
    else
        m.reason = (char *)text;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_WINBACK_ACT;
    req.winback_act = &m;
    Kehu__V1__Response *resp = it_call(c, &req, code);
    if (field)
        assert_string_equal(resp->status->field, field);
    return resp;
}

/* Subscribes c to its own customers' events. */
static void subscribe_mine(kehu_client *c)
{
    Kehu__V1__Subscribe m = KEHU__V1__SUBSCRIBE__INIT;
    m.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    m.mine = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &m;
    kehu_response_free(it_call(c, &req, C(OK)));
}

/* Whether an event of this kind for this customer comes before none came for 2 s. */
static int event_seen(kehu_client *c, const char *kind, int64_t cust, const char *detail)
{
    struct kehu_status st;
    Kehu__V1__Event *ev;
    int seen = 0;
    while ((ev = it_next_change(c, 2000, &st)) != NULL) {
        if (strcmp(ev->kind, kind) == 0 && ev->customer_id == cust && (!detail || strstr(ev->detail, detail)))
            seen = 1;
        kehu_event_free(ev);
        if (seen)
            break;
    }
    return seen;
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
    (void)state;
    if (it_cli_open(&cli_committee) < 0 || it_cli_open(&cli_mgr) < 0 || it_cli_open(&cli_finance) < 0)
        return -1;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    it_add_user("wei.wy", KEHU__V1__ROLE__COMMITTEE, "总行", IT_PASSWORD);
    it_add_user("qian.cw", KEHU__V1__ROLE__FINANCE, "总行", IT_PASSWORD);
    committee = it_login("wei.wy", IT_PASSWORD);
    finance = it_login("qian.cw", IT_PASSWORD);
    pg = it_pg_open();
    committee_id = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'wei.wy'");
    finance_id = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'qian.cw'");
    mgr_id = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'wang.fang'");
    load();
    return 0;
}

static int teardown(void **state)
{
    if (pg)
        PQfinish(pg);
    kehu_close(committee);
    kehu_close(finance);
    it_org_close(&org);
    it_cli_close(&cli_committee);
    it_cli_close(&cli_mgr);
    it_cli_close(&cli_finance);
    return it_teardown(state);
}

/* ---------------------------------------------------------------- the win-back list */

static void test_winback(void **state)
{
    (void)state;
    grade_run("2025-06-30");
    assert_string_equal(abc_of(LOST_A), "A");
    grade_run("2025-12-20");
    assert_string_equal(abc_of(BIG), "A");
    assert_string_equal(abc_of(BJA), "A");
    assert_string_equal(abc_of(MID), "B");
    assert_string_equal(abc_of(GIVEUP), "B");
    assert_int_equal(q("SELECT count(*) FROM customer_grade WHERE customer_id = %lld AND lifecycle = 'churned'",
                       (long long)cid(LOST_A)), 1);
    assert_int_equal(q("SELECT count(*) FROM customer_grade WHERE customer_id = %lld AND lifecycle = 'churned'",
                       (long long)cid(LOST_C)), 1);

    /* the lost A customer is listed with the grade it held, its value and owner; the lost C one is not */
    Kehu__V1__Response *resp = winback_list(org.li, NULL);
    const Kehu__V1__WinbackEntry *e = find_entry(resp, LOST_A);
    assert_non_null(e);
    assert_string_equal(e->grade, "A");
    assert_string_equal(e->owner, "li.lei");
    assert_string_equal(e->source, "lifecycle");
    assert_string_equal(e->status, "open");
    assert_true(e->value >= (int64_t)12 * 500000 * 100 / 2); /* its last year of purchases, in fen */
    assert_null(find_entry(resp, LOST_C));
    int64_t lost_a_entry = e->id;
    kehu_response_free(resp);

    /* given up: a B customer joins the list at once, and its owner hears of it */
    subscribe_mine(org.li);
    Kehu__V1__ChurnLost lost = KEHU__V1__CHURN_LOST__INIT;
    lost.customer_id = cid(GIVEUP);
    lost.reason = "competitor_offer";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_LOST;
    req.churn_lost = &lost;
    kehu_response_free(it_call(org.li, &req, C(OK)));
    assert_true(event_seen(org.li, "winback.added", cid(GIVEUP), "B"));
    resp = winback_list(org.li, "open");
    e = find_entry(resp, GIVEUP);
    assert_non_null(e);
    assert_string_equal(e->grade, "B");
    assert_string_equal(e->source, "lost");
    int64_t giveup_entry = e->id;
    /* most valuable first */
    assert_true(resp->winback_entries->n_entries == 2);
    assert_int_equal(resp->winback_entries->entries[0]->customer_id, cid(LOST_A));
    kehu_response_free(resp);

    /* paged, with what remains */
    Kehu__V1__WinbackList m = KEHU__V1__WINBACK_LIST__INIT;
    m.limit = 1;
    req.op_case = KEHU__V1__REQUEST__OP_WINBACK_LIST;
    req.winback_list = &m;
    resp = it_call(org.li, &req, C(OK));
    assert_int_equal(resp->winback_entries->n_entries, 1);
    assert_int_equal(resp->winback_entries->remaining, 1);
    m.after = resp->winback_entries->next_cursor;
    Kehu__V1__Response *resp2 = it_call(org.li, &req, C(OK));
    assert_int_equal(resp2->winback_entries->n_entries, 1);
    assert_int_equal(resp2->winback_entries->entries[0]->customer_id, cid(GIVEUP));
    assert_int_equal(resp2->winback_entries->remaining, 0);
    kehu_response_free(resp2);
    kehu_response_free(resp);

    /* another branch's: none listed, and an entry of theirs is a missing one */
    resp = winback_list(org.bj, NULL);
    assert_int_equal(resp->winback_entries->n_entries, 0);
    kehu_response_free(resp);
    Kehu__V1__Response *a = winback_act(org.bj, giveup_entry, "close", "不要了", C(NOT_FOUND), "id");
    Kehu__V1__Response *b = winback_act(org.bj, 999999, "close", "不要了", C(NOT_FOUND), "id");
    char ma[128];
    snprintf(ma, sizeof ma, "no win-back entry %lld", (long long)giveup_entry);
    assert_string_equal(a->status->message, ma);
    assert_string_equal(b->status->message, "no win-back entry 999999");
    kehu_response_free(a);
    kehu_response_free(b);
    /* the service agent may read but not change it */
    kehu_response_free(winback_act(org.agent, giveup_entry, "close", "不要了", C(PERMISSION_DENIED), NULL));

    /* a plan, then closed with a reason (none: refused naming the field) */
    kehu_response_free(winback_act(org.li, giveup_entry, "plan", "行长拜访，优惠续约", C(OK), NULL));
    kehu_response_free(winback_act(org.li, giveup_entry, "close", "", C(INVALID_ARGUMENT), "reason"));
    resp = winback_act(org.li, giveup_entry, "close", "客户已与他行签约三年", C(OK), NULL);
    assert_true(event_seen(org.li, "winback.closed", cid(GIVEUP), "客户已与他行签约三年"));
    assert_string_equal(resp->winback_entry->status, "closed");
    assert_string_equal(resp->winback_entry->plan, "行长拜访，优惠续约");
    assert_string_equal(resp->winback_entry->close_reason, "客户已与他行签约三年");
    assert_string_equal(resp->winback_entry->closed_by, "li.lei");
    kehu_response_free(resp);
    kehu_response_free(winback_act(org.li, giveup_entry, "close", "again", C(FAILED_PRECONDITION), "id"));

    /* won back: a purchase after the loss takes it off the open list */
    it_pg_do(pg, "INSERT INTO txn (branch_id, customer_id, date, amount) SELECT branch_id, id, '2025-12-22', 80000"
                 " FROM customer WHERE name = '流失甲'");
    resp = winback_list(org.li, NULL);
    assert_null(find_entry(resp, LOST_A));
    assert_null(find_entry(resp, GIVEUP));
    kehu_response_free(resp);
    assert_true(event_seen(org.li, "winback.won_back", cid(LOST_A), NULL));
    resp = winback_list(org.li, "all");
    e = find_entry(resp, LOST_A);
    assert_non_null(e);
    assert_int_equal(e->id, lost_a_entry);
    assert_string_equal(e->status, "won_back");
    assert_string_equal(e->closed_on, "2025-12-22");
    kehu_response_free(resp);
    /* the next run does not list it again, nor the closed one */
    grade_run("2025-12-21");
    assert_int_equal(q("SELECT count(*) FROM winback WHERE status = 'open'"), 0);
    /* every change audited */
    assert_true(q("SELECT count(*) FROM audit_log WHERE action = 'winback_act'") >= 3);
}

/* ---------------------------------------------------------------- the annual review */

static int cli(struct it_cli *c, const char *const *args)
{
    return it_cli_run(c, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), args);
}

static void test_review(void **state)
{
    (void)state;
    it_cli_expect(&cli_committee, cli(&cli_committee, IT_ARGS("login", "wei.wy")), 0, NULL);
    it_cli_expect(&cli_mgr, cli(&cli_mgr, IT_ARGS("login", "wang.fang")), 0, NULL);
    it_cli_expect(&cli_finance, cli(&cli_finance, IT_ARGS("login", "qian.cw")), 0, NULL);

    /* outside the window: refused, naming it */
    clock_at("2025-12-20 10:00:00+00");
    kehu_response_free(review_open(committee, C(FAILED_PRECONDITION), "window"));
    it_cli_expect(&cli_committee, cli(&cli_committee, IT_ARGS("review", "open", "--json")), 1, "FAILED_PRECONDITION");
    clock_at("2025-12-26 10:00:00+00");
    /* the wrong role */
    kehu_response_free(review_open(org.li, C(PERMISSION_DENIED), NULL));
    kehu_response_free(review_open(org.mgr, C(PERMISSION_DENIED), NULL));
    kehu_response_free(review_open(finance, C(PERMISSION_DENIED), NULL));

    /* the committee opens it (the command line): the last run proposes */
    it_cli_expect(&cli_committee, cli(&cli_committee, IT_ARGS("review", "open", "--json")), 0, "\"status\": \"open\"");
    assert_int_equal(it_cli_json_num(&cli_committee, "year"), 2025);
    assert_int_equal(it_cli_json_num(&cli_committee, "items"), NC);
    assert_true(strstr(cli_committee.out, "\"window_from\": \"2025-12-25\"") != NULL);
    assert_true(strstr(cli_committee.out, "\"window_to\": \"2025-12-30\"") != NULL);
    kehu_response_free(review_open(committee, C(CONFLICT), "year"));

    /* the region's first rating (the branch manager of 上海分行, by the command line) */
    it_cli_expect(&cli_mgr, cli(&cli_mgr, IT_ARGS("review", "rate", "3001", "--confirm", "--json")), 0,
                  "\"rated\": \"A\"");
    it_cli_expect(&cli_mgr, cli(&cli_mgr, IT_ARGS("review", "rate", "3002", "--grade", "A", "--json")), 1,
                  "[reason]");
    it_cli_expect(&cli_mgr, cli(&cli_mgr, IT_ARGS("review", "rate", "3002", "--grade", "A", "--reason",
                                                  "新增代发工资业务，年交易额将翻倍", "--json")),
                  0, "\"rated_by\": \"wang.fang\"");
    decide_ok(org.mgr, ZH1, "rate", NULL, NULL);
    /* a bad grade, a bad step */
    kehu_response_free(decide(org.mgr, cid(SMALL), "rate", "E", "x", C(INVALID_ARGUMENT), "grade"));
    kehu_response_free(decide(org.mgr, cid(SMALL), "vote", "A", "x", C(INVALID_ARGUMENT), "step"));
    /* another branch's customer does not exist for them: the answer for a missing one */
    Kehu__V1__Response *a = decide(org.mgr, cid(BJA), "rate", "B", "x", C(NOT_FOUND), NULL);
    Kehu__V1__Response *b = decide(org.mgr, 999999, "rate", "B", "x", C(NOT_FOUND), NULL);
    assert_string_equal(a->status->field, b->status->field);
    assert_null(strstr(a->status->message, "北京"));
    kehu_response_free(a);
    kehu_response_free(b);
    /* the wrong role for the step */
    kehu_response_free(decide(finance, cid(MID), "rate", "B", "x", C(PERMISSION_DENIED), NULL));
    kehu_response_free(decide(org.li, cid(MID), "rate", "B", "x", C(PERMISSION_DENIED), NULL));
    kehu_response_free(decide(org.mgr, cid(MID), "final", "B", "x", C(PERMISSION_DENIED), NULL));
    kehu_response_free(decide(org.mgr, cid(MID), "credit", "A", "x", C(PERMISSION_DENIED), NULL));

    /* finance confirms credit: none was proposed (no credit sales), so one is given with a reason */
    kehu_response_free(decide(finance, cid(BIG), "credit", NULL, NULL, C(INVALID_ARGUMENT), "grade"));
    kehu_response_free(decide(finance, cid(BIG), "credit", "AA", NULL, C(INVALID_ARGUMENT), "reason"));
    it_cli_expect(&cli_finance, cli(&cli_finance, IT_ARGS("review", "credit", "3001", "--grade", "AA", "--reason",
                                                          "审计报表良好，无逾期", "--json")),
                  0, "\"credit_by\": \"qian.cw\"");

    /* the committee's final review: confirms the region's A, lowers 丁客户 with a reason */
    decide_ok(committee, MID, "final", NULL, NULL);
    kehu_response_free(decide(committee, cid(ZH1), "final", "C", NULL, C(INVALID_ARGUMENT), "reason"));
    decide_ok(committee, ZH1, "final", "C", "全年仅小额交易，不符合B类标准");
    /* once the committee decided, the first rating stays */
    kehu_response_free(decide(org.mgr, cid(ZH1), "rate", "A", "x", C(FAILED_PRECONDITION), "customer_id"));

    /* the VIP list: with reasons, by the committee only */
    vip(committee, BIG, "add", NULL, C(INVALID_ARGUMENT), "reason");
    vip(org.li, BIG, "add", "x", C(PERMISSION_DENIED), NULL);
    vip(org.mgr, BIG, "add", "x", C(PERMISSION_DENIED), NULL);
    vip(committee, BIG, "add", "年度贡献第一", C(OK), NULL);
    vip(committee, BIG, "add", "again", C(CONFLICT), "customer_id");
    vip(committee, MID, "add", "战略客户", C(OK), NULL);
    vip(committee, MID, "withdraw", "", C(INVALID_ARGUMENT), "reason");
    vip(committee, MID, "withdraw", "战略合作终止", C(OK), NULL);
    vip(committee, SMALL, "withdraw", "x", C(FAILED_PRECONDITION), "customer_id");

    /* the items to rate, paged, of the caller's customers only */
    Kehu__V1__ReviewItems im = KEHU__V1__REVIEW_ITEMS__INIT;
    im.limit = 3;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_ITEMS;
    req.review_items = &im;
    Kehu__V1__Response *resp = it_call(org.mgr, &req, C(OK));
    assert_int_equal(resp->review_item_list->n_items, 3);
    assert_int_equal(resp->review_item_list->remaining, NC - 1 - 3); /* 北京甲 is not theirs */
    kehu_response_free(resp);
    im.limit = 0;
    im.status = "unrated";
    resp = it_call(committee, &req, C(OK));
    assert_int_equal(resp->review_item_list->n_items, NC - 3);
    kehu_response_free(resp);

    /* finalizing: outside the window refused, in it the outcome takes effect */
    clock_at("2025-12-31 10:00:00+00");
    Kehu__V1__ReviewFinalize fm = KEHU__V1__REVIEW_FINALIZE__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_FINALIZE;
    req.review_finalize = &fm;
    it_expect(committee, &req, C(FAILED_PRECONDITION), "window");
    kehu_response_free(decide(org.mgr, cid(SMALL), "rate", NULL, NULL, C(FAILED_PRECONDITION), "window"));
    vip(committee, SMALL, "add", "x", C(FAILED_PRECONDITION), "window");
    clock_at("2025-12-29 10:00:00+00");
    it_expect(org.mgr, &req, C(PERMISSION_DENIED), NULL);
    it_cli_expect(&cli_committee, cli(&cli_committee, IT_ARGS("review", "finalize", "--json")), 0,
                  "\"status\": \"final\"");

    /* the grades in force: overrides asked by the rater, approved by the committee */
    assert_string_equal(grade_on(MID, "abc", "2026-06-30"), "A");
    assert_string_equal(grade_on(ZH1, "abc", "2026-06-30"), "C");
    assert_string_equal(grade_on(BIG, "abc", "2026-06-30"), "A");
    assert_int_equal(q("SELECT count(*) FROM grade_override WHERE customer_id = %lld AND dimension = 'abc'"
                       " AND grade = 'A' AND status = 'active' AND requested_by = %lld AND approved_by = %lld"
                       " AND until = '2026-12-31'",
                       (long long)cid(MID), (long long)mgr_id, (long long)committee_id), 1);
    assert_int_equal(q("SELECT count(*) FROM grade_override WHERE customer_id = %lld AND dimension = 'abc'"
                       " AND grade = 'C' AND status = 'active' AND approved_by = %lld",
                       (long long)cid(ZH1), (long long)committee_id), 1);
    /* no override where the review kept what the rules compute */
    assert_int_equal(q("SELECT count(*) FROM grade_override WHERE customer_id = %lld", (long long)cid(BIG)
                       ) - q("SELECT count(*) FROM grade_override WHERE customer_id = %lld AND dimension = 'credit'",
                             (long long)cid(BIG)), 0);
    /* credit: an assessment by finance, and the rating in force */
    assert_int_equal(q("SELECT count(*) FROM credit_assessment WHERE customer_id = %lld AND grade = 'AA'"
                       " AND reviewer_id = %lld AND override_id IS NOT NULL",
                       (long long)cid(BIG), (long long)finance_id), 1);
    assert_string_equal(grade_on(BIG, "credit", "2026-06-30"), "AA");
    /* final: no decision changes any more */
    kehu_response_free(decide(committee, cid(SMALL), "final", "B", "x", C(FAILED_PRECONDITION), "year"));

    /* the report: what changed and who decided (the command line) */
    it_cli_expect(&cli_committee, cli(&cli_committee, IT_ARGS("review", "report", "--json")), 0, NULL);
    const char *out = cli_committee.out;
    assert_true(strstr(out, "\"changes\"") != NULL);
    assert_true(strstr(out, "新增代发工资业务，年交易额将翻倍") != NULL); /* the region's reason for 乙客户 */
    assert_true(strstr(out, "\"rated_by\": \"wang.fang\"") != NULL);
    assert_true(strstr(out, "全年仅小额交易，不符合B类标准") != NULL);
    assert_true(strstr(out, "\"role\": \"finance\"") != NULL);
    assert_true(strstr(out, "\"decided_by\": \"qian.cw\"") != NULL);
    assert_true(strstr(out, "战略合作终止") != NULL);
    assert_true(strstr(out, "\"dimension\": \"vip\"") != NULL);

    Kehu__V1__ReviewReport rm = KEHU__V1__REVIEW_REPORT__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_REPORT;
    req.review_report = &rm;
    resp = it_call(committee, &req, C(OK));
    const Kehu__V1__ReviewChanges *rc = resp->review_changes;
    /* 乙客户 abc B>A (committee after the region), 丁客户 abc B>C (committee), 大客户甲 credit >AA (finance),
     * VIP: 大客户甲 add, 乙客户 add and withdraw */
    assert_int_equal(rc->n_changes, 6);
    int seen = 0;
    for (size_t k = 0; k < rc->n_changes; k++) {
        const Kehu__V1__ReviewChange *ch = rc->changes[k];
        if (ch->customer_id == cid(MID) && strcmp(ch->dimension, "abc") == 0) {
            assert_string_equal(ch->before, "B");
            assert_string_equal(ch->after, "A");
            assert_string_equal(ch->decided_by, "wei.wy");
            assert_string_equal(ch->role, "committee");
            assert_string_equal(ch->rated_by, "wang.fang");
            seen |= 1;
        }
        if (ch->customer_id == cid(ZH1) && strcmp(ch->dimension, "abc") == 0) {
            assert_string_equal(ch->after, "C");
            assert_string_equal(ch->reason, "全年仅小额交易，不符合B类标准");
            seen |= 2;
        }
        if (ch->customer_id == cid(BIG) && strcmp(ch->dimension, "credit") == 0) {
            assert_string_equal(ch->after, "AA");
            assert_string_equal(ch->role, "finance");
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    assert_string_equal(rc->review->status, "final");
    assert_int_equal(rc->review->vip_added, 2);
    assert_int_equal(rc->review->vip_withdrawn, 1);
    kehu_response_free(resp);
    /* a branch's view of the report: its customers only */
    resp = it_call(org.bj, &req, C(OK));
    assert_int_equal(resp->review_changes->n_changes, 0);
    assert_int_equal(resp->review_changes->review->items, 1);
    kehu_response_free(resp);

    /* the VIP list kept */
    Kehu__V1__VipList vl = KEHU__V1__VIP_LIST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_VIP_LIST;
    req.vip_list = &vl;
    resp = it_call(org.li, &req, C(OK));
    assert_int_equal(resp->vip_entries->n_entries, 1);
    assert_int_equal(resp->vip_entries->entries[0]->customer_id, cid(BIG));
    assert_string_equal(resp->vip_entries->entries[0]->reason, "年度贡献第一");
    assert_string_equal(resp->vip_entries->entries[0]->decided_by, "wei.wy");
    kehu_response_free(resp);
    it_cli_expect(&cli_mgr, cli(&cli_mgr, IT_ARGS("vip", "list", "--withdrawn")), 0, "战略合作终止");

    /* people's output: the report's summary and table, a page of items with what follows, the win-back list */
    it_cli_expect(&cli_committee, cli(&cli_committee, IT_ARGS("review", "report")), 0, "annual review 2025 (final");
    it_cli_expect(&cli_committee, cli(&cli_committee, IT_ARGS("review", "items", "--limit", "2")), 0, "8 more");
    it_cli_expect(&cli_mgr, cli(&cli_mgr, IT_ARGS("churn", "winback", "--status", "all")), 0, "won_back");
    it_cli_expect(&cli_mgr, cli(&cli_mgr, IT_ARGS("churn", "winback", "--status", "all", "--csv")), 0,
                  "id,customer_id,customer_name");
    if (getenv("IT_REVIEW_SHOW"))
        printf("%s%s", cli_mgr.out, cli_committee.out);

    /* every decision audited, refused ones included */
    assert_true(q("SELECT count(*) FROM audit_log WHERE action = 'review_decide'") >= 10);
    assert_true(q("SELECT count(*) FROM audit_log WHERE action = 'vip_change'") >= 4);
    assert_true(q("SELECT count(*) FROM audit_log WHERE action = 'review_finalize'") >= 1);

    /* the new roles in the matrix */
    assert_int_equal(q("SELECT count(*) FROM role_permission WHERE role IN ('committee', 'finance')"),
                     2 * q("SELECT cardinality(perm_actions())"));
    clock_at("2025-12-29 10:00:00+00");
    it_pg_do(pg, "UPDATE kehu_clock SET offset_ms = 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_winback),
        cmocka_unit_test(test_review),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
