/* Cases, the operations around them: the service-quality early warning (a
 * weekly job of the deadline scheduler: over the threshold, and rising
 * against the weeks before, once per week), periodic satisfaction surveys
 * sampled per grade (a monthly job, deterministic, once per period with two
 * kehud), team queues (assign to a team, take from it, my teams' queue),
 * the admin's settings (severity levels, escalation rules, survey rules,
 * policies), the report's added figures, and the CLI's main paths — with
 * the moved clock, never sleeping for minutes. Another branch's user gets
 * NOT_FOUND exactly as for a missing id. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static PGconn *pg;
static int64_t cust_li; /* li.lei's customer, 上海分行 */
static int64_t cust_bj; /* bj.am's customer, 北京分行 */

/* ---------------------------------------------------------------- helpers */

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

/* Moves the cases' clock to Unix second `at` and wakes the schedulers. */
static void clock_at(int64_t at)
{
    pg_do("UPDATE kehu_clock SET offset_ms = (%lld - extract(epoch FROM clock_timestamp())) * 1000", (long long)at);
    pg_do("NOTIFY kehu, 'due.wake 0'");
}

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

static int64_t open_case(kehu_client *who, int64_t cust, const char *nature, const char *kind, int sev,
                         const char *product)
{
    Kehu__V1__CaseOpen m = KEHU__V1__CASE_OPEN__INIT;
    m.customer_id = cust;
    m.nature = (char *)nature;
    m.kind = (char *)kind;
    m.severity = sev;
    m.channel = "counter";
    m.title = "理财产品收益不符";
    m.product = (char *)(product ? product : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_OPEN;
    req.case_open = &m;
    Kehu__V1__Response *r = it_call(who, &req, C(OK));
    int64_t id = r->case_->id;
    if (product)
        assert_string_equal(r->case_->product, product);
    kehu_response_free(r);
    return id;
}

static Kehu__V1__Response *act(kehu_client *who, int64_t id, const char *action, const char *queue, int code,
                               const char *field)
{
    Kehu__V1__CaseAct m = KEHU__V1__CASE_ACT__INIT;
    m.id = id;
    m.action = (char *)action;
    m.queue = (char *)(queue ? queue : "");
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

static Kehu__V1__Response *queue_page(kehu_client *who, uint32_t limit, const char *after)
{
    Kehu__V1__CaseList l = KEHU__V1__CASE_LIST__INIT;
    l.queue = 1;
    l.limit = limit;
    l.after = (char *)(after ? after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_LIST;
    req.case_list = &l;
    return it_call(who, &req, C(OK));
}

static int in_page(const Kehu__V1__CasePage *p, int64_t id)
{
    for (size_t i = 0; i < p->n_cases; i++)
        if (p->cases[i]->id == id)
            return 1;
    return 0;
}

static Kehu__V1__Response *settings_set(kehu_client *who, const char *key, const char *value, int code,
                                        const char *field)
{
    Kehu__V1__CaseSetting s = KEHU__V1__CASE_SETTING__INIT;
    s.key = (char *)key;
    s.value = (char *)value;
    Kehu__V1__CaseSetting *sp[] = { &s };
    Kehu__V1__CaseSettingsSet m = KEHU__V1__CASE_SETTINGS_SET__INIT;
    m.settings = sp;
    m.n_settings = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_SETTINGS_SET;
    req.case_settings_set = &m;
    Kehu__V1__Response *r = it_call(who, &req, code);
    if (field)
        assert_string_equal(r->status->field, field);
    if (code != C(OK)) {
        kehu_response_free(r);
        return NULL;
    }
    return r;
}

static const char *setting(const Kehu__V1__CaseSettings *l, const char *key)
{
    for (size_t i = 0; i < l->n_settings; i++)
        if (!strcmp(l->settings[i]->key, key))
            return l->settings[i]->value;
    fail_msg("no setting %s", key);
    return NULL;
}

static void subscribe_mine(kehu_client *who)
{
    Kehu__V1__Subscribe sub = KEHU__V1__SUBSCRIBE__INIT;
    sub.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    sub.mine = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &sub;
    it_expect(who, &req, C(OK), NULL);
}

/* The pending job's period and due time (Unix seconds). */
static int64_t job_due(const char *job, char *period, size_t n)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT period FROM due_action WHERE case_id IS NULL AND target = '%s' AND fired_at IS NULL", job);
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("no pending %s job", job);
    snprintf(period, n, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return pg_i64("SELECT extract(epoch FROM due_at)::bigint FROM due_action WHERE case_id IS NULL AND target = '%s'"
                  " AND fired_at IS NULL", job);
}

/* ---------------------------------------------------------------- two kehud */

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

static void stop_second(void)
{
    kill(second_pid, SIGTERM);
    int st;
    waitpid(second_pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---------------------------------------------------------------- tests */

static void test_setup(void **state)
{
    (void)state;
    it_org_build(&org);
    pg = it_pg_open();
    cust_li = add_customer(org.li, "王五");
    cust_bj = add_customer(org.bj, "赵六");
}

/* Valid complaints about one product or one branch in a week: above the
 * threshold, then rising against the weeks before; each alert once. */
static void test_quality_alerts(void **state)
{
    (void)state;
    char week[32], next[32];
    int64_t due = job_due("quality", week, sizeof week);
    int64_t monday = due - 7 * 86400; /* the week's first local midnight */
    subscribe_mine(org.mgr);
    start_second();

    clock_at(monday + 86400 + 10 * 3600); /* Tuesday 10:00 local */
    for (int i = 0; i < 6; i++)
        open_case(org.agent, cust_li, "complaint", "product", 3, "理财A");
    open_case(org.agent, cust_li, "request", "enquiry", 4, "理财A"); /* not a valid complaint */
    for (int i = 0; i < 2; i++)
        open_case(org.bj, cust_bj, "complaint", "service", 3, "理财A");
    assert_int_equal(pg_i64("SELECT count(*) FROM quality_alert"), 0);

    /* the week ends: both kehud awake, the job fires once */
    clock_at(due + 1);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM due_action WHERE target = 'quality' AND period = '%s'"
             " AND fired_at IS NOT NULL", week);
    wait_count(1, sql);
    assert_int_equal(pg_i64("SELECT count(*) FROM quality_alert"), 2); /* 上海分行, and 理财A in it */
    assert_int_equal(pg_i64("SELECT count(*) FROM quality_alert a JOIN org_unit b ON b.id = a.branch_id WHERE"
                            " b.name = '上海分行' AND a.complaints = 6 AND a.reason = 'threshold'"),
                     2);
    /* the manager hears of it */
    struct kehu_status st;
    Kehu__V1__Event *ev = NULL;
    for (int i = 0; i < 50; i++) {
        ev = it_next_change(org.mgr, 5000, &st);
        if (!ev || !strcmp(ev->kind, "quality.alert"))
            break;
        kehu_event_free(ev);
        ev = NULL;
    }
    if (!ev)
        fail_msg("the manager heard of no alert: %s", st.message);
    assert_non_null(strstr(ev->detail, "valid complaints"));
    kehu_event_free(ev);

    /* the next week is planned, and nothing fires twice */
    due = job_due("quality", next, sizeof next);
    assert_string_not_equal(next, week);
    clock_at(due - 3600);
    usleep(1200 * 1000);
    assert_int_equal(pg_i64("SELECT count(*) FROM quality_alert"), 2);

    /* a rise: three complaints about a product none complained of before */
    Kehu__V1__Response *r = settings_set(org.admin, "policy.quality_threshold", "100", C(OK), NULL);
    kehu_response_free(r);
    clock_at(due - 2 * 86400);
    for (int i = 0; i < 3; i++)
        open_case(org.agent, cust_li, "complaint", "product", 3, "信用卡");
    clock_at(due + 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM due_action WHERE target = 'quality' AND period = '%s'"
             " AND fired_at IS NOT NULL", next);
    wait_count(1, sql);
    assert_int_equal(pg_i64("SELECT count(*) FROM quality_alert WHERE period = '%s'", next), 1);
    assert_int_equal(pg_i64("SELECT count(*) FROM quality_alert WHERE period = '%s' AND key = '信用卡'"
                            " AND reason = 'rise' AND baseline = 0",
                            next),
                     1);
    stop_second();
    assert_int_equal(pg_i64("SELECT count(*) FROM due_action WHERE target = 'quality' AND fired_at IS NOT NULL"), 2);

    /* listed for managers, newest first, paged */
    Kehu__V1__QualityAlertList l = KEHU__V1__QUALITY_ALERT_LIST__INIT;
    l.limit = 2;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_QUALITY_ALERT_LIST;
    req.quality_alert_list = &l;
    r = it_call(org.mgr, &req, C(OK));
    assert_int_equal(r->quality_alerts->n_alerts, 2);
    assert_string_equal(r->quality_alerts->alerts[0]->key, "信用卡");
    assert_int_equal(r->quality_alerts->remaining, 1);
    char cursor[128];
    snprintf(cursor, sizeof cursor, "%s", r->quality_alerts->next_cursor);
    assert_true(strlen(cursor) < sizeof cursor - 1);
    kehu_response_free(r);
    l.after = cursor;
    r = it_call(org.admin, &req, C(OK));
    assert_int_equal(r->quality_alerts->n_alerts, 1);
    assert_string_equal(r->quality_alerts->next_cursor, "");
    kehu_response_free(r);
    l.after = "12";
    it_expect(org.mgr, &req, C(INVALID_ARGUMENT), "after"); /* not a cursor the list gave */
    l.after = "";
    it_expect(org.bj, &req, C(PERMISSION_DENIED), NULL); /* account managers (own customers) do not get them */
    pg_do("UPDATE case_policy SET value = 5 WHERE key = 'quality_threshold'");
    pg_do("UPDATE kehu_clock SET offset_ms = 0");
}

/* Periodic surveys: every A customer, 20% of B, 5% of C (here each month),
 * sampled in a stable order, sent once per customer and period. */
static void test_periodic_surveys(void **state)
{
    (void)state;
    int64_t ids[44];
    for (int i = 0; i < 44; i++) {
        char name[32];
        snprintf(name, sizeof name, "抽样客户%d", i);
        ids[i] = add_customer(org.li, name);
        pg_do("INSERT INTO grade_override (customer_id, branch_id, dimension, grade, reason, status)"
              " SELECT id, branch_id, 'abc', '%s', 'test', 'active' FROM customer WHERE id = %lld",
              i < 4 ? "A" : i < 24 ? "B" : "C", (long long)ids[i]);
    }
    Kehu__V1__CaseSetting s[4] = { KEHU__V1__CASE_SETTING__INIT, KEHU__V1__CASE_SETTING__INIT,
                                   KEHU__V1__CASE_SETTING__INIT, KEHU__V1__CASE_SETTING__INIT };
    s[0].key = "survey.A.every", s[0].value = "month";
    s[1].key = "survey.B.every", s[1].value = "month";
    s[2].key = "survey.C.every", s[2].value = "month";
    s[3].key = "policy.survey_batch", s[3].value = "10";
    Kehu__V1__CaseSetting *sp[] = { &s[0], &s[1], &s[2], &s[3] };
    Kehu__V1__CaseSettingsSet m = KEHU__V1__CASE_SETTINGS_SET__INIT;
    m.settings = sp;
    m.n_settings = 4;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_SETTINGS_SET;
    req.case_settings_set = &m;
    kehu_response_free(it_call(org.admin, &req, C(OK)));

    char month[32], next[32];
    int64_t due = job_due("survey", month, sizeof month);
    start_second();
    clock_at(due + 1);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM due_action WHERE target = 'survey' AND period = '%s'"
             " AND fired_at IS NOT NULL", month);
    wait_count(1, sql);
    /* the sample, computed here on the test's own ids: those whose md5(id/period) as a fraction of 2^32 is
       below the grade's share (A 100%, B 20%, C 5%) */
    int64_t want = 0;
    for (int g = 0; g < 3; g++) {
        int lo = g == 0 ? 0 : g == 1 ? 4 : 24, hi = g == 0 ? 4 : g == 1 ? 24 : 44;
        const char *share = g == 0 ? "1" : g == 1 ? "0.2" : "0.05";
        char list[1024] = "";
        for (int i = lo; i < hi; i++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%lld", i > lo ? "," : "", (long long)ids[i]);
        }
        char cond[256];
        snprintf(cond, sizeof cond, "('x' || substr(md5(x::text || '/' || '%s'), 1, 8))::bit(32)::bigint < %s * 4294967296",
                 month, share);
        int64_t n = pg_i64("SELECT count(*) FROM unnest(ARRAY[%s]::bigint[]) x WHERE %s", list, cond);
        assert_int_equal(pg_i64("SELECT count(*) FROM unnest(ARRAY[%s]::bigint[]) x JOIN survey v ON v.customer_id = x"
                                " AND v.period = '%s' WHERE %s",
                                list, month, cond),
                         n);
        assert_int_equal(pg_i64("SELECT count(*) FROM survey v WHERE v.customer_id = ANY (ARRAY[%s]::bigint[])"
                                " AND v.period = '%s'",
                                list, month),
                         n);
        want += n;
    }
    assert_true(want >= 4);
    assert_int_equal(pg_i64("SELECT count(*) FROM survey WHERE period = '%s'", month), want);
    assert_int_equal(pg_i64("SELECT count(*) FROM survey WHERE period = '%s' AND sent_by IS NULL AND status = 'sent'",
                            month),
                     want);
    /* sampled over several steps of ten customers */
    assert_int_equal(pg_i64("SELECT count(*) FROM due_action WHERE target = 'survey' AND period = '%s'"
                            " AND progress >= %lld",
                            month, (long long)ids[43]),
                     1);
    /* next month is planned; this one never runs again */
    due = job_due("survey", next, sizeof next);
    assert_string_not_equal(next, month);
    pg_do("NOTIFY kehu, 'due.wake 0'");
    usleep(1200 * 1000);
    stop_second();
    assert_int_equal(pg_i64("SELECT count(*) FROM survey WHERE period = '%s'", month), want);
    assert_int_equal(pg_i64("SELECT count(*) FROM due_action WHERE target = 'survey' AND period = '%s'", month), 1);

    /* pending surveys: li.lei's, paged; Beijing sees none of them */
    Kehu__V1__SurveyList sl = KEHU__V1__SURVEY_LIST__INIT;
    sl.pending = 1;
    sl.limit = 2;
    req.op_case = KEHU__V1__REQUEST__OP_SURVEY_LIST;
    req.survey_list = &sl;
    Kehu__V1__Response *r = it_call(org.li, &req, C(OK));
    assert_int_equal(r->surveys->n_surveys, 2);
    assert_int_equal(r->surveys->remaining, want - 2);
    assert_string_equal(r->surveys->surveys[0]->period, month);
    kehu_response_free(r);
    r = it_call(org.bj, &req, C(OK));
    assert_int_equal(r->surveys->n_surveys, 0);
    kehu_response_free(r);
    pg_do("UPDATE kehu_clock SET offset_ms = 0");
    /* a recorded survey far below expectations is a churn signal: 5 x 1/5 on the 1-5 scale */
    int64_t sv = pg_i64("SELECT min(id) FROM survey WHERE period = '%s'", month);
    int64_t who = pg_i64("SELECT customer_id FROM survey WHERE id = %lld", (long long)sv);
    Kehu__V1__SurveyScore sc = KEHU__V1__SURVEY_SCORE__INIT;
    sc.aspect = "服务";
    sc.expected = 5;
    sc.perceived = 1;
    Kehu__V1__SurveyScore *scp[] = { &sc };
    Kehu__V1__SurveyRecord rec = KEHU__V1__SURVEY_RECORD__INIT;
    rec.id = sv;
    rec.scores = scp;
    rec.n_scores = 1;
    req.op_case = KEHU__V1__REQUEST__OP_SURVEY_RECORD;
    req.survey_record = &rec;
    r = it_call(org.li, &req, C(OK));
    assert_string_equal(r->survey->satisfaction, "0.2");
    kehu_response_free(r);
    assert_int_equal(pg_i64("SELECT satisfaction_recent * 10 FROM customer_service_signals((now() AT TIME ZONE 'UTC')::date,"
                            " 90, 180) WHERE customer_id = %lld", (long long)who),
                     10);
    pg_do("UPDATE kehu_clock SET offset_ms = 0");
    pg_do("UPDATE survey_rule SET every = 'quarter'");
}

/* Team queues: a case in a team's queue shows in the queue of those in the
 * team (and above it), is taken once, and does not exist for another branch. */
static void test_team_queue(void **state)
{
    (void)state;
    int64_t id = open_case(org.agent, cust_li, "complaint", "service", 2, NULL);
    Kehu__V1__Response *r = act(org.agent, id, "queue", "上海一组", C(OK), NULL);
    assert_string_equal(r->case_->queue, "上海一组");
    assert_string_equal(r->case_->handler, "");
    assert_string_equal(r->case_->status, "assigned");
    kehu_response_free(r);
    act(org.agent, id, "queue", "北京分行", C(NOT_FOUND), "queue"); /* not a team of the case's branch */
    act(org.agent, id, "queue", "", C(INVALID_ARGUMENT), "queue");

    /* in the queue of li.lei (上海一组) and of the branch's agent above the team; not of zhang.wei, in the
       team, who may not read li.lei's customer */
    r = queue_page(org.li, 50, NULL);
    assert_true(in_page(r->cases, id));
    kehu_response_free(r);
    r = queue_page(org.zhang, 500, NULL);
    assert_false(in_page(r->cases, id));
    kehu_response_free(r);
    r = queue_page(org.agent, 500, NULL);
    assert_true(in_page(r->cases, id));
    kehu_response_free(r);

    /* another branch: the case does not exist, exactly as a missing id */
    int64_t missing = pg_i64("SELECT max(id) + 1000 FROM service_case");
    Kehu__V1__Response *a = act(org.bj, id, "take", NULL, C(NOT_FOUND), "id");
    (void)a;
    Kehu__V1__CaseAct m = KEHU__V1__CASE_ACT__INIT;
    m.action = "take";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_ACT;
    req.case_act = &m;
    m.id = id;
    Kehu__V1__Response *x = it_call(org.bj, &req, C(NOT_FOUND));
    m.id = missing;
    Kehu__V1__Response *y = it_call(org.bj, &req, C(NOT_FOUND));
    char want[64];
    snprintf(want, sizeof want, "no case %lld", (long long)id);
    assert_string_equal(x->status->message, want);
    snprintf(want, sizeof want, "no case %lld", (long long)missing);
    assert_string_equal(y->status->message, want);
    assert_string_equal(x->status->field, y->status->field);
    kehu_response_free(x);
    kehu_response_free(y);
    r = queue_page(org.bj, 500, NULL);
    assert_false(in_page(r->cases, id));
    kehu_response_free(r);

    /* taken once */
    r = act(org.li, id, "take", NULL, C(OK), NULL);
    assert_string_equal(r->case_->handler, "li.lei");
    assert_string_equal(r->case_->queue, "上海一组");
    kehu_response_free(r);
    act(org.zhang, id, "take", NULL, C(NOT_FOUND), "id");
    act(org.agent, id, "take", NULL, C(FAILED_PRECONDITION), "id");
    r = queue_page(org.agent, 500, NULL);
    assert_false(in_page(r->cases, id));
    kehu_response_free(r);
    r = queue_page(org.li, 500, NULL);
    if (!in_page(r->cases, id))
        fail_msg("li.lei's queue lacks case %lld: %zu cases, handler %lld", (long long)id, r->cases->n_cases,
                 (long long)pg_i64("SELECT coalesce(handler_id, 0) FROM service_case WHERE id = %lld", (long long)id));
    kehu_response_free(r);

    /* a branch-level queue: those in a team below it may not take from it */
    int64_t id2 = open_case(org.agent, cust_li, "request", "help", 1, NULL);
    kehu_response_free(act(org.agent, id2, "queue", "上海分行", C(OK), NULL));
    act(org.li, id2, "take", NULL, C(PERMISSION_DENIED), "id");
    r = queue_page(org.li, 500, NULL);
    assert_false(in_page(r->cases, id2));
    kehu_response_free(r);
    /* the queue by priority and deadline, paged with how many remain */
    int64_t id3 = open_case(org.agent, cust_li, "request", "help", 4, NULL);
    kehu_response_free(act(org.agent, id3, "queue", "上海分行", C(OK), NULL));
    r = queue_page(org.mgr, 1, NULL);
    assert_int_equal(r->cases->n_cases, 1);
    assert_int_equal(r->cases->cases[0]->id, id2); /* severity 1 before severity 4 */
    assert_true(r->cases->remaining >= 1);
    kehu_response_free(r);
    r = act(org.mgr, id2, "take", NULL, C(OK), NULL);
    assert_string_equal(r->case_->handler, "wang.fang");
    kehu_response_free(r);
    assert_true(pg_i64("SELECT count(*) FROM case_event WHERE case_id = %lld AND kind = 'queue'", (long long)id) == 1);
    assert_true(pg_i64("SELECT count(*) FROM audit_log WHERE action = 'case_act'") >= 4);
}

/* Severity levels, escalation rules, survey rules and policies: admins set
 * them with clear errors naming the key, everyone reads them, audited. */
static void test_settings(void **state)
{
    (void)state;
    Kehu__V1__Response *r = settings_set(org.admin, "severity.2.respond_hours", "3", C(OK), NULL);
    assert_string_equal(setting(r->case_settings, "severity.2.respond_hours"), "3");
    kehu_response_free(r);
    settings_set(org.mgr, "severity.2.respond_hours", "3", C(PERMISSION_DENIED), NULL);
    settings_set(org.admin, "severity.2.respond_hours", "40", C(INVALID_ARGUMENT), "severity.2.respond_hours");
    settings_set(org.admin, "severity.5.name", "x", C(INVALID_ARGUMENT), "severity.5.name");
    settings_set(org.admin, "escalation.complaint.3.breach", "fire", C(INVALID_ARGUMENT),
                 "escalation.complaint.3.breach");
    settings_set(org.admin, "escalation.praise.3.warn", "notify", C(INVALID_ARGUMENT), "escalation.praise.3.warn");
    settings_set(org.admin, "survey.B.share", "120%", C(INVALID_ARGUMENT), "survey.B.share");
    settings_set(org.admin, "policy.nothing", "1", C(INVALID_ARGUMENT), "policy.nothing");
    settings_set(org.admin, "colour", "red", C(INVALID_ARGUMENT), "colour");
    r = settings_set(org.admin, "escalation.complaint.3.warn_at", "50%", C(OK), NULL);
    assert_string_equal(setting(r->case_settings, "escalation.complaint.3.warn_at"), "50%");
    kehu_response_free(r);
    /* a refused batch changes nothing */
    Kehu__V1__CaseSetting s[2] = { KEHU__V1__CASE_SETTING__INIT, KEHU__V1__CASE_SETTING__INIT };
    s[0].key = "severity.1.name", s[0].value = "特急";
    s[1].key = "severity.1.resolve_hours", s[1].value = "0";
    Kehu__V1__CaseSetting *sp[] = { &s[0], &s[1] };
    Kehu__V1__CaseSettingsSet m = KEHU__V1__CASE_SETTINGS_SET__INIT;
    m.settings = sp;
    m.n_settings = 2;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_SETTINGS_SET;
    req.case_settings_set = &m;
    it_expect(org.admin, &req, C(INVALID_ARGUMENT), "severity.1.resolve_hours");
    Kehu__V1__CaseSettingsShow sh = KEHU__V1__CASE_SETTINGS_SHOW__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_SETTINGS_SHOW;
    req.case_settings_show = &sh;
    r = it_call(org.agent, &req, C(OK));
    assert_string_equal(setting(r->case_settings, "severity.1.name"), "critical");
    assert_string_equal(setting(r->case_settings, "survey.A.share"), "100%");
    kehu_response_free(r);
    /* the new warning point is used by the next case */
    int64_t id = open_case(org.agent, cust_li, "complaint", "service", 3, NULL);
    assert_int_equal(pg_i64("SELECT count(*) FROM service_case WHERE id = %lld AND"
                            " respond_warn = work_add(branch_id, created_at, respond_hours * 0.5)",
                            (long long)id),
                     1);
    assert_true(pg_i64("SELECT count(*) FROM audit_log WHERE action = 'case_settings_set'") >= 2);
    pg_do("UPDATE case_escalation_rule SET warn_at = NULL");
    pg_do("UPDATE case_severity SET respond_hours = 2 WHERE level = 2");
}

static void test_report(void **state)
{
    (void)state;
    Kehu__V1__CaseReport m = KEHU__V1__CASE_REPORT__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_REPORT;
    req.case_report = &m;
    Kehu__V1__Response *r = it_call(org.mgr, &req, C(OK));
    const Kehu__V1__CaseReportResult *x = r->case_report;
    int product = 0, weeks = 0, months = 0;
    for (size_t i = 0; i < x->n_counts; i++)
        if (!strcmp(x->counts[i]->dimension, "product") && !strcmp(x->counts[i]->key, "理财A"))
            product = (int)x->counts[i]->cases;
    assert_int_equal(product, 7); /* Beijing's two are not the manager's to see */
    for (size_t i = 0; i < x->n_trend; i++) {
        weeks += !strcmp(x->trend[i]->period, "week");
        months += !strcmp(x->trend[i]->period, "month");
    }
    assert_true(weeks >= 2 && months >= 1);
    assert_int_equal(x->repeat_complainants, 1); /* 王五 */
    assert_int_equal(x->n_repeats, 1);
    char want[64];
    snprintf(want, sizeof want, "%lld 王五", (long long)cust_li);
    assert_string_equal(x->repeats[0]->key, want);
    kehu_response_free(r);
    r = it_call(org.bj, &req, C(OK));
    assert_int_equal(r->case_report->total, 2);
    assert_int_equal(r->case_report->repeat_complainants, 1);
    kehu_response_free(r);
}

/* ---- the command line */

static struct it_cli cli_mgr, cli_admin, cli_bj;

static void kc(struct it_cli *c, int want, const char *needle, const char *const *args)
{
    int rc = it_cli_run(c, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), args);
    it_cli_expect(c, rc, want, needle);
}

static void test_cli(void **state)
{
    (void)state;
    assert_int_equal(it_cli_open(&cli_mgr), 0);
    assert_int_equal(it_cli_open(&cli_admin), 0);
    assert_int_equal(it_cli_open(&cli_bj), 0);
    kc(&cli_mgr, 0, NULL, IT_ARGS("login", "wang.fang"));
    it_cli_expect(&cli_admin, it_cli_run(&cli_admin, IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin")),
                  0, NULL);
    kc(&cli_bj, 0, NULL, IT_ARGS("login", "bj.am"));
    char cust[24];
    snprintf(cust, sizeof cust, "%lld", (long long)cust_li);
    kc(&cli_mgr, 0, "\"product\": \"基金B\"", IT_ARGS("case", "open", cust, "--nature", "complaint", "--kind", "product",
                                                     "--severity", "2", "--channel", "phone", "--title", "净值披露延迟",
                                                     "--product", "基金B", "--json"));
    char id[24];
    snprintf(id, sizeof id, "%lld", it_cli_json_num(&cli_mgr, "id"));
    kc(&cli_mgr, 2, "--queue", IT_ARGS("case", "assign", id, "--to", "chen.jing", "--queue", "上海一组"));
    kc(&cli_mgr, 0, "assigned", IT_ARGS("case", "assign", id, "--queue", "上海一组"));
    kc(&cli_mgr, 0, "(上海一组)", IT_ARGS("case", "queue"));
    kc(&cli_mgr, 0, ",基金B,上海一组", IT_ARGS("case", "list", "--csv", "--customer", cust));
    kc(&cli_bj, 1, "NOT_FOUND", IT_ARGS("case", "take", id));
    kc(&cli_mgr, 0, "handler wang.fang", IT_ARGS("case", "take", id));
    kc(&cli_mgr, 0, "team queue 上海一组", IT_ARGS("case", "show", id));
    kc(&cli_mgr, 0, "more", IT_ARGS("case", "queue", "--limit", "1"));
    /* settings */
    kc(&cli_mgr, 0, "respond_hours", IT_ARGS("case", "severity", "show"));
    kc(&cli_mgr, 1, "PERMISSION_DENIED", IT_ARGS("case", "severity", "set", "2", "--name", "重大"));
    kc(&cli_admin, 0, "重大", IT_ARGS("case", "severity", "set", "2", "--name", "重大", "--definition", "客户无法使用产品"));
    kc(&cli_admin, 1, "severity.2.respond_hours", IT_ARGS("case", "severity", "set", "2", "--respond", "99"));
    kc(&cli_admin, 2, "--warn", IT_ARGS("case", "severity", "set", "2", "--warn", "notify"));
    kc(&cli_admin, 0, "reassign",
       IT_ARGS("case", "escalation", "set", "request", "4", "--warn-at", "70%", "--breach", "reassign"));
    kc(&cli_admin, 0, "\"escalation.request.4.warn_at\": \"70%\"", IT_ARGS("case", "escalation", "show", "--json"));
    kc(&cli_admin, 1, "escalation.request.4.warn", IT_ARGS("case", "escalation", "set", "request", "4", "--warn", "x"));
    kc(&cli_admin, 0, "30%", IT_ARGS("survey", "rules", "set", "B", "--share", "30%"));
    kc(&cli_admin, 1, "survey.B.every", IT_ARGS("survey", "rules", "set", "B", "--every", "week"));
    kc(&cli_admin, 0, "quality_threshold", IT_ARGS("case", "policy", "set", "quality_threshold=8"));
    kc(&cli_admin, 1, "policy.quality_rise", IT_ARGS("case", "policy", "set", "quality_rise=0.5"));
    kc(&cli_admin, 2, "KEY=VALUE", IT_ARGS("case", "policy", "set", "quality_rise"));
    kc(&cli_mgr, 0, "policy.quality_threshold,8", IT_ARGS("case", "settings", "show", "--csv"));
    /* alerts, surveys, the report */
    kc(&cli_mgr, 0, "信用卡", IT_ARGS("case", "alerts"));
    kc(&cli_mgr, 0, "more", IT_ARGS("case", "alerts", "--limit", "1"));
    kc(&cli_bj, 1, "PERMISSION_DENIED", IT_ARGS("case", "alerts"));
    kc(&cli_mgr, 0, "more", IT_ARGS("survey", "list", "--pending", "--limit", "2"));
    kc(&cli_mgr, 0, "\"period\"", IT_ARGS("survey", "list", "--pending", "--json"));
    kc(&cli_bj, 0, "no surveys", IT_ARGS("survey", "list", "--pending"));
    kc(&cli_bj, 1, "NOT_FOUND", IT_ARGS("survey", "list", cust));
    kc(&cli_mgr, 0, "\"repeat_complainants\": 1", IT_ARGS("report", "cases", "--json"));
    assert_non_null(strstr(cli_mgr.out, "\"trend\""));
    kc(&cli_mgr, 0, "product,基金B,1", IT_ARGS("report", "cases", "--csv"));
    assert_non_null(strstr(cli_mgr.out, "\nweek,"));
    kc(&cli_mgr, 0, "\"total\": 0", IT_ARGS("report", "cases", "--owner", "zhang.wei", "--json"));
    kc(&cli_mgr, 0, "\"repeat_complainants\": 1", IT_ARGS("report", "cases", "--owner", "li.lei", "--json"));
    kc(&cli_mgr, 1, "no user named 'bj.am'", IT_ARGS("report", "cases", "--owner", "bj.am"));
    kc(&cli_mgr, 1, "no user named 'nobody'", IT_ARGS("report", "cases", "--owner", "nobody"));
    kc(&cli_mgr, 0, "repeat complainants 1", IT_ARGS("report", "cases"));
    assert_non_null(strstr(cli_mgr.out, "-W"));
    it_cli_close(&cli_mgr);
    it_cli_close(&cli_admin);
    it_cli_close(&cli_bj);
}

/* A week that ended while kehud was down: its quality job runs once when kehud is back. */
static void test_job_restart(void **state)
{
    (void)state;
    char week[32], next[32];
    int64_t due = job_due("quality", week, sizeof week);
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    pg_do("UPDATE kehu_clock SET offset_ms = (%lld - extract(epoch FROM clock_timestamp())) * 1000",
          (long long)(due + 3600));
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM due_action WHERE target = 'quality' AND period = '%s'"
             " AND fired_at IS NOT NULL", week);
    wait_count(1, sql);
    usleep(1200 * 1000); /* a scheduler step more: nothing runs twice */
    assert_int_equal(pg_i64("SELECT count(*) FROM due_action WHERE target = 'quality' AND period = '%s'", week), 1);
    job_due("quality", next, sizeof next);
    assert_string_not_equal(next, week);
    pg_do("UPDATE kehu_clock SET offset_ms = 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup),    cmocka_unit_test(test_quality_alerts), cmocka_unit_test(test_periodic_surveys),
        cmocka_unit_test(test_team_queue), cmocka_unit_test(test_settings),     cmocka_unit_test(test_report),
        cmocka_unit_test(test_cli),      cmocka_unit_test(test_job_restart),
    };
    return it_finish(cmocka_run_group_tests(tests, it_setup, it_teardown));
}
