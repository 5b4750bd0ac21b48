/* Cases end to end: the workflow over the wire (every transition recorded
 * and announced to the owner), permissions (another branch's case does not
 * exist), compensation approval, working time against an independent
 * computation over many generated cases (weekends, holidays, make-up days,
 * business-hour edges, lunch, pauses), escalation with a moved clock, the
 * pool and churn hooks, exactly-once firing with two kehud, and a breach
 * that happened while kehud was down firing once when it is back.
 *
 * The clock: kehu_clock.offset_ms moves the cases' clock (kehu_now());
 * "NOTIFY kehu, 'due.wake 0'" wakes the schedulers at once. */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static PGconn *pg;
static int64_t cust_li; /* li.lei's customer, 上海分行 */
static int64_t cust_bj; /* bj.am's customer, 北京分行 */

/* ---------------------------------------------------------------- helpers */

static int64_t add_customer(kehu_client *who, const char *name)
{
    Kehu__V1__Customer c = KEHU__V1__CUSTOMER__INIT;
    c.name = (char *)name;
    Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
    m.customer = &c;
    m.force = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &m;
    Kehu__V1__Response *r = it_call(who, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

static Kehu__V1__Response *open_case(kehu_client *who, int64_t cust, const char *nature, const char *kind, int sev,
                                     int code)
{
    Kehu__V1__CaseOpen m = KEHU__V1__CASE_OPEN__INIT;
    m.customer_id = cust;
    m.nature = (char *)nature;
    m.kind = (char *)kind;
    m.severity = sev;
    m.channel = "phone";
    m.title = "柜台服务态度差";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_OPEN;
    req.case_open = &m;
    return it_call(who, &req, code);
}

static int64_t open_id(kehu_client *who, int64_t cust, int sev)
{
    Kehu__V1__Response *r = open_case(who, cust, "complaint", "service", sev, C(OK));
    int64_t id = r->case_->id;
    kehu_response_free(r);
    return id;
}

/* One transition; returns the response (free it) or NULL when code is not OK. */
static Kehu__V1__Response *act(kehu_client *who, int64_t id, const char *action, Kehu__V1__CaseAct *extra, int code,
                               const char *field)
{
    Kehu__V1__CaseAct m = KEHU__V1__CASE_ACT__INIT;
    if (extra)
        m = *extra;
    m.id = id;
    m.action = (char *)action;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_ACT;
    req.case_act = &m;
    Kehu__V1__Response *r = it_call(who, &req, code);
    if (field)
        assert_string_equal(r->status->field, field);
    if (code != C(OK)) {
        kehu_response_free(r);
        return NULL;
    }
    return r;
}

static void act_ok(kehu_client *who, int64_t id, const char *action, Kehu__V1__CaseAct *extra, const char *status)
{
    Kehu__V1__Response *r = act(who, id, action, extra, C(OK), NULL);
    assert_string_equal(r->case_->status, status);
    kehu_response_free(r);
}

static Kehu__V1__Response *get_case(kehu_client *who, int64_t id, int code)
{
    Kehu__V1__CaseGet m = KEHU__V1__CASE_GET__INIT;
    m.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_GET;
    req.case_get = &m;
    return it_call(who, &req, code);
}

static void pg_do(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pg_do(const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    it_pg_do(pg, sql);
}

static int64_t pg_i64(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t pg_i64(const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return it_pg_i64(pg, sql);
}

/* Moves the cases' clock so that kehu_now() is `at` (Unix seconds), and wakes the schedulers. */
static void clock_at(int64_t at)
{
    pg_do("UPDATE kehu_clock SET offset_ms = (%lld - extract(epoch FROM clock_timestamp())) * 1000",
          (long long)at);
    pg_do("NOTIFY kehu, 'due.wake 0'");
}

/* Waits until the SQL count reaches want (20 s: the machine may be busy). */
static void wait_count(int64_t want, const char *sql)
{
    int64_t n = -1;
    for (int i = 0; i < 400; i++) {
        n = it_pg_i64(pg, sql);
        if (n >= want)
            break;
        usleep(50 * 1000);
    }
    if (n != want)
        fail_msg("%s: %lld, expected %lld", sql, (long long)n, (long long)want);
}

/* ---------------------------------------------------------------- working time, independently */

/* Local time is UTC+8 (Asia/Shanghai, no daylight saving). */
#define TZ_S (8 * 3600)
struct hours {
    int opens, closes, lunch_from, lunch_to; /* seconds after local midnight; lunch 0 = none */
};
struct calday {
    int64_t day; /* local days since the epoch */
    int working;
};
static struct calday cal[64];
static int ncal;

static int is_working(int64_t day)
{
    for (int i = 0; i < ncal; i++)
        if (cal[i].day == day)
            return cal[i].working;
    int dow = (int)((day + 3) % 7); /* 1970-01-01 was a Thursday: 0 = Monday */
    return dow < 5;
}

/* The working intervals of a local day, in Unix seconds. */
static int intervals(const struct hours *h, int64_t day, int64_t s[2], int64_t e[2])
{
    if (!is_working(day))
        return 0;
    int64_t base = day * 86400 - TZ_S;
    if (!h->lunch_from) {
        s[0] = base + h->opens, e[0] = base + h->closes;
        return 1;
    }
    s[0] = base + h->opens, e[0] = base + h->lunch_from;
    s[1] = base + h->lunch_to, e[1] = base + h->closes;
    return 2;
}

static int64_t local_day(int64_t t)
{
    int64_t x = t + TZ_S;
    return x >= 0 ? x / 86400 : -((-x + 86399) / 86400);
}

static int64_t c_work_between(const struct hours *h, int64_t a, int64_t b)
{
    int64_t sum = 0;
    for (int64_t d = local_day(a); a < b && d <= local_day(b); d++) {
        int64_t s[2], e[2];
        int n = intervals(h, d, s, e);
        for (int i = 0; i < n; i++) {
            int64_t lo = s[i] > a ? s[i] : a, hi = e[i] < b ? e[i] : b;
            if (hi > lo)
                sum += hi - lo;
        }
    }
    return sum;
}

static int64_t c_work_add(const struct hours *h, int64_t start, int64_t secs)
{
    if (secs <= 0)
        return start;
    for (int64_t d = local_day(start);; d++) {
        int64_t s[2], e[2];
        int n = intervals(h, d, s, e);
        for (int i = 0; i < n; i++) {
            int64_t from = s[i] > start ? s[i] : start;
            if (e[i] <= from)
                continue;
            if (secs <= e[i] - from)
                return from + secs;
            secs -= e[i] - from;
        }
    }
}

/* 2026-09-28 (a Monday) 00:00 local as Unix seconds, and its local day. */
#define MON0 ((int64_t)1790553600 - TZ_S)
#define DAY0 (MON0 / 86400 + 1)

static void set_calendar(void)
{
    /* National Day week: 10-01..10-07 holidays, make-up working days Sunday 09-27 and Saturday 10-10 */
    static const struct {
        const char *day;
        int working;
    } days[] = { { "2026-10-01", 0 }, { "2026-10-02", 0 }, { "2026-10-05", 0 }, { "2026-10-06", 0 },
                 { "2026-10-07", 0 }, { "2026-09-27", 1 }, { "2026-10-10", 1 }, { "2026-10-21", 0 } };
    ncal = 0;
    Kehu__V1__CalendarDay d[8], *dp[8];
    for (size_t i = 0; i < 8; i++) {
        kehu__v1__calendar_day__init(&d[i]);
        d[i].day = (char *)days[i].day;
        d[i].working = days[i].working;
        d[i].name = "国庆";
        dp[i] = &d[i];
        struct tm tm = { 0 };
        strptime(days[i].day, "%Y-%m-%d", &tm);
        cal[ncal].day = timegm(&tm) / 86400;
        cal[ncal++].working = days[i].working;
    }
    Kehu__V1__CalendarSet m = KEHU__V1__CALENDAR_SET__INIT;
    m.days = dp;
    m.n_days = 8;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CALENDAR_SET;
    req.calendar_set = &m;
    it_expect(org.li, &req, C(PERMISSION_DENIED), NULL); /* admins edit the calendar */
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    assert_int_equal(r->calendar->n_days, 8);
    kehu_response_free(r);
}

static void set_hours(const char *branch, const char *opens, const char *closes, const char *lf, const char *lt,
                      int code, const char *field)
{
    Kehu__V1__BusinessHours h = KEHU__V1__BUSINESS_HOURS__INIT;
    h.branch = (char *)branch;
    h.opens = (char *)opens;
    h.closes = (char *)closes;
    h.lunch_from = (char *)lf;
    h.lunch_to = (char *)lt;
    Kehu__V1__HoursSet m = KEHU__V1__HOURS_SET__INIT;
    m.hours = &h;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_HOURS_SET;
    req.hours_set = &m;
    it_expect(org.admin, &req, code, field);
}

/* ---------------------------------------------------------------- tests */

static void test_setup(void **state)
{
    (void)state;
    it_org_build(&org);
    pg = it_pg_open();
    cust_li = add_customer(org.li, "王五");
    cust_bj = add_customer(org.bj, "赵六");
    set_calendar();
    set_hours("上海分行", "09:00", "17:30", "12:00", "13:00", C(OK), NULL);
    set_hours("上海分行", "09:00", "17:30", "13:00", "12:00", C(INVALID_ARGUMENT), "hours");
    set_hours("无此分行", "09:00", "17:30", "", "", C(NOT_FOUND), "branch");
    set_hours("", "25:00", "17:30", "", "", C(INVALID_ARGUMENT), "hours");
}

static void test_workflow(void **state)
{
    (void)state;
    /* the owner hears of a case on their customer */
    Kehu__V1__Subscribe sub = KEHU__V1__SUBSCRIBE__INIT;
    sub.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    sub.mine = 1;
    Kehu__V1__Request sreq = KEHU__V1__REQUEST__INIT;
    sreq.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    sreq.subscribe = &sub;
    it_expect(org.li, &sreq, C(OK), NULL);

    Kehu__V1__Response *r = open_case(org.agent, cust_li, "complaint", "service", 2, C(OK));
    Kehu__V1__Case *k = r->case_;
    int64_t id = k->id;
    assert_string_equal(k->status, "new");
    assert_true(k->respond_by > k->created_at && k->resolve_by > k->respond_by);
    assert_string_equal(k->grade, "C");
    assert_string_equal(k->respond_hours, "2");
    kehu_response_free(r);
    struct kehu_status st;
    Kehu__V1__Event *ev = it_next_change(org.li, 5000, &st);
    if (!ev)
        fail_msg("the owner heard nothing: %s", st.message);
    assert_string_equal(ev->kind, "case.opened");
    assert_int_equal(ev->customer_id, cust_li);
    kehu_event_free(ev);

    /* bad input names its field */
    kehu_response_free(open_case(org.agent, cust_li, "complaint", "enquiry", 2, C(INVALID_ARGUMENT)));
    kehu_response_free(open_case(org.agent, cust_li, "praise", "service", 2, C(INVALID_ARGUMENT)));
    kehu_response_free(open_case(org.agent, cust_li, "complaint", "service", 5, C(INVALID_ARGUMENT)));

    Kehu__V1__CaseAct x = KEHU__V1__CASE_ACT__INIT;
    x.to = "chen.jing";
    act(org.li, id, "assign", &x, C(NOT_FOUND), "to"); /* a user li.lei may not see */
    act_ok(org.mgr, id, "assign", &x, "assigned");
    x.to = "bj.am"; /* may not see the customer */
    act(org.admin, id, "assign", &x, C(INVALID_ARGUMENT), "to");
    act_ok(org.agent, id, "start", NULL, "in_progress");
    act(org.agent, id, "start", NULL, C(FAILED_PRECONDITION), "id");
    act_ok(org.agent, id, "wait", NULL, "waiting");
    act_ok(org.agent, id, "resume", NULL, "in_progress");
    act(org.agent, id, "resolve", NULL, C(INVALID_ARGUMENT), "cause");
    x = (Kehu__V1__CaseAct)KEHU__V1__CASE_ACT__INIT;
    x.cause = "柜员培训不足";
    x.action_taken = "道歉并回访";
    act_ok(org.agent, id, "resolve", &x, "resolved");
    act(org.agent, id, "close", NULL, C(INVALID_ARGUMENT), "satisfaction");
    x = (Kehu__V1__CaseAct)KEHU__V1__CASE_ACT__INIT;
    x.satisfaction = 4;
    act_ok(org.agent, id, "close", &x, "closed");
    act(org.agent, id, "reopen", NULL, C(INVALID_ARGUMENT), "reason");
    x = (Kehu__V1__CaseAct)KEHU__V1__CASE_ACT__INIT;
    x.note = "客户不满意";
    act_ok(org.agent, id, "reopen", &x, "in_progress");
    x.nature = "request";
    x.kind = "enquiry";
    x.note = "实为咨询";
    r = act(org.agent, id, "reclassify", &x, C(OK), NULL);
    assert_string_equal(r->case_->nature, "request");
    kehu_response_free(r);
    x = (Kehu__V1__CaseAct)KEHU__V1__CASE_ACT__INIT;
    x.note = "已电话联系";
    act_ok(org.mgr, id, "comment", &x, "in_progress");

    r = get_case(org.li, id, C(OK));
    k = r->case_;
    static const char *const kinds[] = { "opened", "assign", "start", "wait", "resume", "resolve",
                                         "close", "reopen", "reclassify", "comment" };
    assert_int_equal(k->n_events, 10);
    for (size_t i = 0; i < 10; i++)
        assert_string_equal(k->events[i]->kind, kinds[i]);
    assert_string_equal(k->events[1]->actor, "wang.fang");
    assert_string_equal(k->events[8]->note, "complaint/service > request/enquiry: 实为咨询");
    assert_string_equal(k->handler, "chen.jing");
    kehu_response_free(r);
    /* audited */
    assert_true(pg_i64("SELECT count(*) FROM audit_log WHERE action = 'case_act'") >= 9);

    /* the queue: the agent's open cases by priority then deadline */
    int64_t id2 = open_id(org.agent, cust_li, 1);
    act_ok(org.agent, id2, "start", NULL, "in_progress");
    Kehu__V1__CaseList l = KEHU__V1__CASE_LIST__INIT;
    l.queue = 1;
    l.limit = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_LIST;
    req.case_list = &l;
    r = it_call(org.agent, &req, C(OK));
    assert_int_equal(r->cases->n_cases, 1);
    assert_int_equal(r->cases->cases[0]->id, id2); /* severity 1: the earlier deadline */
    assert_int_equal(r->cases->remaining, 1);
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", r->cases->next_cursor);
    kehu_response_free(r);
    l.after = cursor;
    r = it_call(org.agent, &req, C(OK));
    assert_int_equal(r->cases->n_cases, 1);
    assert_int_equal(r->cases->cases[0]->id, id);
    assert_string_equal(r->cases->next_cursor, "");
    kehu_response_free(r);
}

static void test_permissions(void **state)
{
    (void)state;
    int64_t id = open_id(org.agent, cust_li, 3);
    int64_t missing = pg_i64("SELECT coalesce(max(id), 0) + 1000 FROM service_case");
    /* Beijing: the case answers exactly as a missing one */
    Kehu__V1__Response *a = get_case(org.bj, id, C(NOT_FOUND));
    Kehu__V1__Response *b = get_case(org.bj, missing, C(NOT_FOUND));
    char want[64];
    snprintf(want, sizeof want, "no case %lld", (long long)id);
    assert_string_equal(a->status->message, want);
    snprintf(want, sizeof want, "no case %lld", (long long)missing);
    assert_string_equal(b->status->message, want);
    assert_string_equal(a->status->field, b->status->field);
    kehu_response_free(a);
    kehu_response_free(b);
    Kehu__V1__CaseAct x = KEHU__V1__CASE_ACT__INIT;
    x.note = "x";
    act(org.bj, id, "comment", &x, C(NOT_FOUND), "id");
    kehu_response_free(open_case(org.bj, cust_li, "complaint", "service", 2, C(NOT_FOUND)));
    /* lists: nothing of Shanghai */
    Kehu__V1__CaseList l = KEHU__V1__CASE_LIST__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_LIST;
    req.case_list = &l;
    Kehu__V1__Response *r = it_call(org.bj, &req, C(OK));
    for (size_t i = 0; i < r->cases->n_cases; i++)
        assert_int_not_equal(r->cases->cases[i]->customer_id, cust_li);
    kehu_response_free(r);
    /* Beijing's own customer works */
    int64_t bid = open_id(org.bj, cust_bj, 3);
    r = get_case(org.bj, bid, C(OK));
    kehu_response_free(r);
    kehu_response_free(get_case(org.li, bid, C(NOT_FOUND))); /* nor the other way */
}

static void test_compensation(void **state)
{
    (void)state;
    int64_t id = open_id(org.agent, cust_li, 2);
    Kehu__V1__CaseAct x = KEHU__V1__CASE_ACT__INIT;
    x.cause = "产品缺陷";
    x.action_taken = "退款";
    x.compensation_minor = 60000;
    x.compensation_kind = "cash";
    act(org.agent, id, "resolve", &x, C(FAILED_PRECONDITION), "compensation");
    Kehu__V1__CaseAct ap = KEHU__V1__CASE_ACT__INIT;
    ap.compensation_minor = 60000;
    act(org.agent, id, "approve", &ap, C(PERMISSION_DENIED), "compensation");
    kehu_response_free(act(org.mgr, id, "approve", &ap, C(OK), NULL));
    Kehu__V1__Response *r = act(org.agent, id, "resolve", &x, C(OK), NULL);
    assert_int_equal(r->case_->compensation_minor, 60000);
    assert_string_equal(r->case_->approved_by, "wang.fang");
    kehu_response_free(r);
    /* at or below the limit, no approval */
    id = open_id(org.agent, cust_li, 2);
    x.compensation_minor = 50000;
    kehu_response_free(act(org.agent, id, "resolve", &x, C(OK), NULL));
}

static void test_working_time(void **state)
{
    (void)state;
    struct hours plain = { 9 * 3600, 17 * 3600 + 1800, 0, 0 };
    struct hours lunch = { 9 * 3600, 17 * 3600 + 1800, 12 * 3600, 13 * 3600 };
    int64_t sh = pg_i64("SELECT id FROM org_unit WHERE name = '上海分行'");
    srand(14);
    for (int i = 0; i < 400; i++) {
        int use_lunch = i % 2;
        const struct hours *h = use_lunch ? &lunch : &plain;
        int64_t branch = use_lunch ? sh : 999999;
        /* starts: a day in the first 5 weeks, at an edge or anywhere, to the second */
        static const int edges[] = { 0, 9 * 3600, 12 * 3600, 13 * 3600, 17 * 3600 + 1800, 9 * 3600 - 1, 17 * 3600 + 1799 };
        int64_t start = MON0 - 86400 + (rand() % 35) * 86400 +
                        (i % 3 == 0 ? edges[rand() % 7] : rand() % 86400);
        int64_t secs = (rand() % 4 == 0) ? (rand() % 40) * 900 : rand() % (60 * 3600);
        int64_t want = c_work_add(h, start, secs);
        int64_t got = pg_i64("SELECT (extract(epoch FROM work_add(%lld, to_timestamp(%lld), %lld / 3600.0)) * 1000)::bigint",
                             (long long)branch, (long long)start, (long long)secs);
        if (llabs(got - want * 1000) > 1)
            fail_msg("work_add(%s, %lld, %llds): %lld, expected %lld", use_lunch ? "lunch" : "plain",
                     (long long)start, (long long)secs, (long long)got / 1000, (long long)want);
        int64_t end = start + (rand() % (20 * 86400));
        int64_t wb = c_work_between(h, start, end);
        int64_t gb = pg_i64("SELECT round(work_between(%lld, to_timestamp(%lld), to_timestamp(%lld)) * 3600)::bigint",
                            (long long)branch, (long long)start, (long long)end);
        if (gb != wb)
            fail_msg("work_between(%s, %lld, %lld): %llds, expected %llds", use_lunch ? "lunch" : "plain",
                     (long long)start, (long long)end, (long long)gb, (long long)wb);
    }
    (void)DAY0;

    /* a case: targets from the open time, and a pause that never counts */
    int64_t t0 = MON0 + 14 * 86400 + 10 * 3600; /* Monday 10-12 10:00 */
    clock_at(t0);
    Kehu__V1__Response *r = open_case(org.agent, cust_li, "complaint", "product", 3, C(OK));
    int64_t id = r->case_->id;
    int64_t resolve_by = r->case_->resolve_by / 1000;
    assert_true(llabs(r->case_->respond_by / 1000 - c_work_add(&lunch, t0, 4 * 3600)) <= 1);
    assert_true(llabs(resolve_by - c_work_add(&lunch, t0, 42 * 3600 + 1800)) <= 1);
    kehu_response_free(r);
    act_ok(org.agent, id, "start", NULL, "in_progress");
    clock_at(t0 + 3600);
    act_ok(org.agent, id, "wait", NULL, "waiting");
    int64_t t2 = t0 + 2 * 86400 + 5 * 3600; /* Wednesday 15:00 */
    clock_at(t2);
    r = act(org.agent, id, "resume", NULL, C(OK), NULL);
    int64_t left = c_work_between(&lunch, t0 + 3600, resolve_by);
    int64_t want = c_work_add(&lunch, t2, left);
    if (llabs(r->case_->resolve_by / 1000 - want) > 2)
        fail_msg("resolve_by after the pause: %lld, expected %lld", (long long)r->case_->resolve_by / 1000,
                 (long long)want);
    double paused = atof(r->case_->paused_hours);
    double pw = (double)c_work_between(&lunch, t0 + 3600, t2) / 3600;
    assert_true(paused > pw - 0.01 && paused < pw + 0.01);
    kehu_response_free(r);
    pg_do("UPDATE kehu_clock SET offset_ms = 0");
}

static void test_escalation(void **state)
{
    (void)state;
    int64_t t0 = MON0 + 21 * 86400 + 10 * 3600; /* Monday 10-19 10:00 */
    clock_at(t0);
    int64_t id = open_id(org.agent, cust_li, 1); /* respond 1 h, resolve 8.5 h */
    /* nothing before the warning point */
    clock_at(t0 + 47 * 60);
    usleep(300 * 1000);
    assert_int_equal(pg_i64("SELECT count(*) FROM case_event WHERE case_id = %lld AND actor IS NULL", (long long)id), 0);
    clock_at(t0 + 49 * 60); /* past 80% of an hour */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM case_event WHERE case_id = %lld AND kind = 'warning'", (long long)id);
    wait_count(1, sql);
    clock_at(t0 + 61 * 60);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM case_event WHERE case_id = %lld AND kind = 'breach'", (long long)id);
    wait_count(1, sql);
    Kehu__V1__Response *r = get_case(org.mgr, id, C(OK));
    assert_string_equal(r->case_->handler, "wang.fang");
    assert_int_equal(r->case_->level, 1);
    kehu_response_free(r);
    /* the planned task at the new level */
    assert_int_equal(pg_i64("SELECT count(*) FROM followup f JOIN app_user u ON u.id = f.owner_id WHERE"
                            " u.username = 'wang.fang' AND f.status = 'planned' AND f.note LIKE 'case %lld:%%'",
                            (long long)id),
                     1);
    /* a rule: a level-2 request's response warning reassigns (to the branch's least-loaded agent) */
    pg_do("UPDATE case_escalation_rule SET action = 'reassign' WHERE nature = 'request' AND severity = 2"
          " AND point = 'warn'");
    clock_at(t0 + 86400); /* Tuesday 10:00 */
    r = open_case(org.li, cust_li, "request", "help", 2, C(OK));
    id = r->case_->id;
    assert_string_equal(r->case_->handler, "");
    kehu_response_free(r);
    clock_at(t0 + 86400 + 100 * 60); /* past 80% of two hours */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM case_event WHERE case_id = %lld AND kind = 'warning'"
             " AND note = 'respond warning: reassigned to chen.jing'", (long long)id);
    wait_count(1, sql);
    r = get_case(org.li, id, C(OK));
    assert_string_equal(r->case_->handler, "chen.jing");
    assert_string_equal(r->case_->status, "assigned");
    kehu_response_free(r);
    pg_do("UPDATE kehu_clock SET offset_ms = 0");
}

static void test_hooks(void **state)
{
    (void)state;
    int64_t c = add_customer(org.li, "钱七");
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_open_cases() WHERE customer_id = %lld", (long long)c), 0);
    int64_t id = open_id(org.agent, c, 4);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_open_cases() WHERE customer_id = %lld", (long long)c), 1);
    open_id(org.agent, c, 4);
    Kehu__V1__CaseAct x = KEHU__V1__CASE_ACT__INIT;
    x.cause = "c";
    x.action_taken = "a";
    act_ok(org.agent, id, "resolve", &x, "resolved");
    x.satisfaction = 1;
    act_ok(org.agent, id, "close", &x, "closed");
    /* two valid complaints and a satisfaction of 1: the churn signals */
    assert_int_equal(pg_i64("SELECT complaints FROM customer_service_signals((now() AT TIME ZONE 'UTC')::date, 90, 180)"
                            " WHERE customer_id = %lld",
                            (long long)c),
                     2);
    assert_int_equal(pg_i64("SELECT satisfaction_recent::bigint FROM customer_service_signals("
                            "(now() AT TIME ZONE 'UTC')::date, 90, 180) WHERE customer_id = %lld",
                            (long long)c),
                     1);
    /* a grading run raises the churn warning for the complaints (this small
     * base is not held to the monthly share of warnings) */
    pg_do("UPDATE grade_policy SET value = '1' WHERE key = 'churn.month_share'");
    Kehu__V1__GradeRun g = KEHU__V1__GRADE_RUN__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &g;
    kehu_response_free(it_call(org.admin, &req, C(OK)));
    assert_int_equal(pg_i64("SELECT count(*) FROM churn_warning WHERE customer_id = %lld AND status = 'open'"
                            " AND 'complaints' = ANY (reasons)",
                            (long long)c),
                     1);
    /* the open case holds the customer out of the pool's recycling */
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_open_cases() WHERE customer_id = %lld", (long long)c), 1);
}

/* ---- the command line */

static struct it_cli cli_agent, cli_bj;

static void kc(struct it_cli *c, int want, const char *needle, const char *const *args)
{
    int rc = it_cli_run(c, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), args);
    it_cli_expect(c, rc, want, needle);
}

static void test_cli(void **state)
{
    (void)state;
    assert_int_equal(it_cli_open(&cli_agent), 0);
    assert_int_equal(it_cli_open(&cli_bj), 0);
    kc(&cli_agent, 0, NULL, IT_ARGS("login", "chen.jing"));
    kc(&cli_bj, 0, NULL, IT_ARGS("login", "bj.am"));
    char cust[24];
    snprintf(cust, sizeof cust, "%lld", (long long)cust_li);
    kc(&cli_agent, 0, "\"respond_by\"", IT_ARGS("case", "open", cust, "--nature", "complaint", "--kind", "product",
                                                 "--severity", "2", "--channel", "wechat", "--title", "理财产品收益不符",
                                                 "--json"));
    assert_non_null(strstr(cli_agent.out, "\"status\": \"new\""));
    assert_non_null(strstr(cli_agent.out, "\"resolve_by\""));
    char id[24];
    snprintf(id, sizeof id, "%lld", it_cli_json_num(&cli_agent, "id"));
    /* usage errors: 2; refusals: 1 */
    kc(&cli_agent, 2, "--title", IT_ARGS("case", "open", cust, "--nature", "complaint", "--kind", "product",
                                          "--severity", "2", "--channel", "wechat"));
    kc(&cli_agent, 2, "--severity", IT_ARGS("case", "open", cust, "--nature", "complaint", "--kind", "product",
                                             "--severity", "9", "--channel", "wechat", "--title", "t"));
    kc(&cli_agent, 1, "kind", IT_ARGS("case", "open", cust, "--nature", "complaint", "--kind", "help", "--severity",
                                      "2", "--channel", "wechat", "--title", "t"));
    kc(&cli_bj, 1, "NOT_FOUND", IT_ARGS("case", "show", id));
    kc(&cli_agent, 0, "in_progress", IT_ARGS("case", "start", id));
    kc(&cli_agent, 0, "waiting", IT_ARGS("case", "wait", id));
    kc(&cli_agent, 0, "in_progress", IT_ARGS("case", "resume", id));
    kc(&cli_agent, 1, "FAILED_PRECONDITION", IT_ARGS("case", "resolve", id, "--cause", "产品说明不清", "--action",
                                                     "补偿", "--compensation", "800.00", "--compensation-kind", "cash"));
    kc(&cli_agent, 0, "resolved", IT_ARGS("case", "resolve", id, "--cause", "产品说明不清", "--action", "补偿",
                                          "--compensation", "300.00", "--compensation-kind", "cash"));
    kc(&cli_agent, 2, "--satisfaction", IT_ARGS("case", "close", id));
    kc(&cli_agent, 0, "\"satisfaction\": 5", IT_ARGS("case", "close", id, "--satisfaction", "5", "--json"));
    kc(&cli_agent, 0, "\"compensation\": \"300.00\"", IT_ARGS("case", "show", id, "--json"));
    kc(&cli_agent, 0, "resolve", IT_ARGS("case", "show", id));
    kc(&cli_agent, 0, "理财产品收益不符", IT_ARGS("case", "list", "--customer", cust));
    kc(&cli_agent, 0, "理财产品收益不符", IT_ARGS("case", "list", "--unit", "上海分行", "--status", "closed"));
    kc(&cli_agent, 0, "no cases", IT_ARGS("case", "list", "--unit", "北京分行"));
    kc(&cli_agent, 1, "status", IT_ARGS("case", "list", "--status", "lost"));
    kc(&cli_agent, 0, "\"resolve_met\"", IT_ARGS("report", "cases", "--json"));
    assert_true(it_cli_json_num(&cli_agent, "total") >= 5);
    assert_true(it_cli_json_num(&cli_agent, "resolved") >= 1);
    kc(&cli_agent, 0, "on time", IT_ARGS("report", "cases", "--unit", "上海分行"));
    kc(&cli_agent, 1, "period", IT_ARGS("report", "cases", "--period", "2026-13"));
    kc(&cli_bj, 0, NULL, IT_ARGS("report", "cases", "--json", "--period", "2026"));
    assert_true(it_cli_json_num(&cli_bj, "total") <= 1); /* Beijing counts only its own */
    kc(&cli_agent, 0, "more", IT_ARGS("case", "list", "--limit", "1"));
    kc(&cli_agent, 0, NULL, IT_ARGS("case", "queue", "--json"));
    assert_int_equal(cli_agent.out[0], '[');
    /* a survey about the case: satisfaction = perceived / expected */
    kc(&cli_agent, 0, "\"status\": \"sent\"", IT_ARGS("survey", "send", cust, "--case", id, "--json"));
    char sv[24];
    snprintf(sv, sizeof sv, "%lld", it_cli_json_num(&cli_agent, "id"));
    kc(&cli_agent, 2, "--score", IT_ARGS("survey", "record", sv, "--score", "服务=6/4"));
    kc(&cli_bj, 1, "NOT_FOUND", IT_ARGS("survey", "record", sv, "--score", "服务=4/4"));
    kc(&cli_agent, 0, "\"satisfaction\": 0.75", IT_ARGS("survey", "record", sv, "--score", "服务=4/4", "--score",
                                                         "速度=4/2", "--json"));
    kc(&cli_agent, 1, "FAILED_PRECONDITION", IT_ARGS("survey", "record", sv, "--score", "服务=4/4"));
    kc(&cli_agent, 0, "速度 2/4", IT_ARGS("survey", "list", cust));
    kc(&cli_bj, 1, "NOT_FOUND", IT_ARGS("survey", "list", cust));
    kc(&cli_agent, 0, "国庆", IT_ARGS("calendar", "show", "2026"));
    kc(&cli_agent, 1, "PERMISSION_DENIED", IT_ARGS("calendar", "set", "2026-12-31", "holiday"));
    kc(&cli_agent, 0, "上海分行", IT_ARGS("hours", "show"));
    it_cli_close(&cli_agent);
    it_cli_close(&cli_bj);
}

/* ---- two kehud, and a restart */

static pid_t second_pid;

static void start_second(void)
{
    int port = th_free_port();
    char port_arg[16];
    snprintf(port_arg, sizeof port_arg, "%d", port);
    second_pid = fork();
    if (second_pid == 0) {
        int log = open(th_kehud_log(&it_env), O_WRONLY | O_APPEND);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        execl(it_env.kehud_bin, it_env.kehud_bin, "serve", "--config", it_env.config, "--port", port_arg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1500; i++) {
        int fd = th_connect_raw(port);
        if (fd >= 0) {
            close(fd);
            return;
        }
        usleep(20 * 1000);
    }
    fail_msg("the second kehud did not start");
}

#define MANY 300

static void test_exactly_once_two_kehud(void **state)
{
    (void)state;
    start_second();
    int64_t t0 = MON0 + 28 * 86400 + 9 * 3600; /* Monday 10-26 09:00 */
    clock_at(t0);
    int64_t first = 0;
    for (int i = 0; i < MANY; i++) {
        int64_t id = open_id(org.agent, cust_li, 1 + i % 4);
        if (!first)
            first = id;
    }
    /* everything due at once, both schedulers awake */
    clock_at(t0 + 60 * 86400);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM due_action WHERE case_id >= %lld AND fired_at IS NOT NULL",
             (long long)first);
    wait_count(4 * MANY, sql);
    assert_int_equal(pg_i64("SELECT count(*) FROM case_event WHERE case_id >= %lld AND actor IS NULL", (long long)first),
                     4 * MANY);
    assert_int_equal(pg_i64("SELECT count(*) FROM (SELECT case_id, note FROM case_event WHERE actor IS NULL"
                            " GROUP BY 1, 2 HAVING count(*) > 1) d"),
                     0);
    int64_t by = pg_i64("SELECT count(DISTINCT fired_by) FROM due_action WHERE case_id >= %lld", (long long)first);
    print_message("fired by %lld kehud\n", (long long)by);
    kill(second_pid, SIGTERM);
    int st;
    waitpid(second_pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pg_do("UPDATE kehu_clock SET offset_ms = 0");
}

static void test_restart(void **state)
{
    (void)state;
    int64_t t0 = MON0 + 35 * 86400 + 9 * 3600; /* Monday 11-02 09:00 */
    clock_at(t0);
    int64_t id = open_id(org.agent, cust_li, 1);
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    /* the breach happens while kehud is down */
    pg_do("UPDATE kehu_clock SET offset_ms = (%lld - extract(epoch FROM clock_timestamp())) * 1000",
          (long long)(t0 + 10 * 86400));
    assert_int_equal(pg_i64("SELECT count(*) FROM due_action WHERE case_id = %lld AND fired_at IS NULL", (long long)id),
                     4);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM due_action WHERE case_id = %lld AND fired_at IS NOT NULL",
             (long long)id);
    wait_count(4, sql);
    usleep(1200 * 1000); /* a scheduler step more: nothing fires twice */
    assert_int_equal(pg_i64("SELECT count(*) FROM case_event WHERE case_id = %lld AND actor IS NULL", (long long)id), 4);
    pg_do("UPDATE kehu_clock SET offset_ms = 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup),       cmocka_unit_test(test_workflow),
        cmocka_unit_test(test_permissions), cmocka_unit_test(test_compensation),
        cmocka_unit_test(test_working_time), cmocka_unit_test(test_escalation),
        cmocka_unit_test(test_hooks),       cmocka_unit_test(test_cli),       cmocka_unit_test(test_exactly_once_two_kehud),
        cmocka_unit_test(test_restart),
    };
    return it_finish(cmocka_run_group_tests(tests, it_setup, it_teardown));
}
