/* What grading does for the people who use it (docs/grading.md): churn
 * warnings and their follow-ups, events, permissions, the policy, runs at
 * the same time, the schedule, the service policy (contacts due, care),
 * reports and the command line.
 *
 * The data is a small hand-made customer base written straight into the
 * test database (as it_grade.c does), each customer made for a purpose:
 *   甲级客户 A, li.lei's, birthday today, never contacted
 *   无主大客户 A without an owner (上海分行)
 *   北京大客户, 北京二号 bj.am's (北京分行); 张伟客户 zhang.wei's (A)
 *   乙级客户 B, li.lei's, steady (no warning)
 *   额降客户 as often as ever, much smaller amounts (amount_drop); given up
 *   频降客户 a purchase every 15 days, then one in 90 (frequency_drop)
 *   沉默客户 silent at D1 (all three reasons); buys again (big) before D2
 *   无主沉默客户 silent, no owner: a warning without a planned call
 *   丙级客户 C, li.lei's, birthday today (care none)
 *   新客户 new at both runs (abc override rules)
 *   普通客户一..九 steady fillers of several owners
 * Expected grades and churn reasons come from a small model of the rules
 * in this file (ABC by revenue with the shares this test sets, and the
 * churn reasons); the hand-made customers are also checked against what
 * they were made for, so the data cannot silently drift.
 *
 * Runs: R1 full as of D1 = 2025-06-15, again as of D1 (no duplicates),
 * R2 full as of D2 = 2025-09-15; dry runs; at the end kehud restarts with
 * --grade_schedule 1 and makes a full run as of today on its own. */
#include <libpq-fe.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static struct it_cli cli_admin, cli_li;

/* ---------------------------------------------------------------- dates (days since 1970-01-01, UTC) */

static int days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

#define DAY(y, m, d) days_from_civil(y, m, d)

static int add_months(int day, int k)
{
    static const int len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    int t = y * 12 + (m - 1) + k;
    y = t / 12;
    m = t % 12 + 1;
    int l = m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : len[m - 1];
    return DAY(y, m, d < l ? d : l);
}

static const char *dstr(int day)
{
    static char ring[32][32];
    static int next;
    char *s = ring[next++ % 32];
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    snprintf(s, 32, "%04d-%02d-%02d", y, m, d);
    return s;
}

static int today(void)
{
    return (int)(time(NULL) / 86400);
}

static const char *money(int64_t fen)
{
    static char ring[16][32];
    static int next;
    char *s = ring[next++ % 16];
    uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(s, 32, "%s%llu.%02llu", fen < 0 ? "-" : "", (unsigned long long)(a / 100), (unsigned long long)(a % 100));
    return s;
}

static int D1, D2;

/* ---------------------------------------------------------------- the customers */

enum { A1, A2, BJ1, ZH1, B1, BJ2, AMT, FREQ, SILENT, NOOWN, C1, NEW1, F1, F2, F3, F4, F5, F6, F7, F8, F9, NC };
enum { SH, BJ };                      /* 上海分行, 北京分行 */
enum { O_NONE, O_LI, O_ZHANG, O_BJ }; /* owners */

struct cust {
    const char *name;
    int branch, owner, since, birthday;
};
static struct cust cs[NC];

static int64_t cid(int i)
{
    return 2001 + i;
}

static int index_of(int64_t id)
{
    return id >= 2001 && id < 2001 + NC ? (int)(id - 2001) : -1;
}

struct txn {
    int c, date;
    int64_t amount; /* fen */
};
static struct txn tx[2000];
static int ntx;

static void buy(int c, int date, int64_t amount)
{
    if (ntx == (int)(sizeof tx / sizeof tx[0]))
        fail_msg("too many transactions");
    tx[ntx++] = (struct txn){ c, date, amount };
}

static void every(int c, int from, int to, int step, int64_t amount)
{
    for (int d = from; d <= to; d += step)
        buy(c, d, amount);
}

static void monthly(int c, int from, int to, int64_t amount)
{
    for (int k = 0; add_months(from, k) <= to; k++)
        buy(c, add_months(from, k), amount);
}

static void add(int i, const char *name, int branch, int owner, int since, int birthday)
{
    cs[i] = (struct cust){ name, branch, owner, since, birthday };
}

static void make_data(void)
{
    int s22 = DAY(2022, 1, 1), end = DAY(2025, 12, 31);
    add(A1, "甲级客户", SH, O_LI, s22, 1);
    monthly(A1, DAY(2022, 1, 20), end, 9000000);
    add(A2, "无主大客户", SH, O_NONE, s22, 0);
    monthly(A2, DAY(2022, 1, 21), end, 8000000);
    add(BJ1, "北京大客户", BJ, O_BJ, s22, 0);
    monthly(BJ1, DAY(2022, 1, 22), end, 7000000);
    add(ZH1, "张伟客户", SH, O_ZHANG, s22, 0);
    monthly(ZH1, DAY(2022, 1, 23), end, 6000000);
    add(B1, "乙级客户", SH, O_LI, s22, 0);
    monthly(B1, DAY(2022, 1, 24), end, 4000000);
    add(BJ2, "北京二号", BJ, O_BJ, s22, 0);
    monthly(BJ2, DAY(2022, 1, 25), end, 3500000);
    add(AMT, "额降客户", SH, O_LI, s22, 0);
    monthly(AMT, DAY(2024, 3, 25), DAY(2025, 2, 25), 900000);
    monthly(AMT, DAY(2025, 3, 25), DAY(2025, 11, 25), 10000);
    add(FREQ, "频降客户", SH, O_LI, s22, 0);
    every(FREQ, DAY(2024, 3, 20), DAY(2025, 3, 15), 15, 400000);
    buy(FREQ, DAY(2025, 5, 1), 2000000);
    add(SILENT, "沉默客户", SH, O_LI, s22, 0);
    monthly(SILENT, DAY(2023, 1, 10), DAY(2025, 2, 10), 300000);
    monthly(SILENT, DAY(2025, 7, 1), DAY(2025, 9, 1), 10000000); /* back, and big: C -> B at D2 */
    add(NOOWN, "无主沉默客户", SH, O_NONE, s22, 0);
    monthly(NOOWN, DAY(2023, 1, 12), DAY(2025, 1, 12), 250000);
    add(C1, "丙级客户", SH, O_LI, s22, 1);
    monthly(C1, DAY(2022, 1, 26), end, 50000);
    add(NEW1, "新客户", SH, O_LI, DAY(2025, 5, 1), 0);
    monthly(NEW1, DAY(2025, 5, 10), DAY(2025, 12, 10), 100000);
    static const char *const fillers[] = { "普通客户一", "普通客户二", "普通客户三", "普通客户四", "普通客户五",
                                           "普通客户六", "普通客户七", "普通客户八", "普通客户九" };
    for (int k = 0; k < 9; k++) {
        int i = F1 + k;
        add(i, fillers[k], k < 7 ? SH : BJ, k < 5 ? O_LI : k < 7 ? O_NONE : O_BJ, DAY(2023, 1, 1), 0);
        monthly(i, DAY(2023, 1, 5), end, 151000 + 10000 * k);
    }
}

/* ---------------------------------------------------------------- the model */

enum { R_FREQ = 1, R_AMOUNT = 2, R_SILENT = 4 };

struct model {
    int graded[NC], is_new[NC], rank[NC], silent[NC], reasons[NC], n;
    int64_t metric[NC];
    char abc[NC][2];
};

static int status_churned[NC]; /* given up (ChurnLost): no warnings */

/* the shares this test sets (GradePolicySet) */
#define A_PCT 20
#define B_PCT 50

static void model_eval(int D, struct model *m)
{
    memset(m, 0, sizeof *m);
    int win = add_months(D, -12), newer = add_months(D, -6);
    int rec_lo = D - 90, base_lo = rec_lo - 365;
    for (int i = 0; i < NC; i++) {
        int start = cs[i].since, last = -1;
        int64_t rn = 0, bn = 0, ra = 0, ba = 0;
        for (int k = 0; k < ntx; k++) {
            const struct txn *t = &tx[k];
            if (t->c != i)
                continue;
            if (t->date < start)
                start = t->date;
            if (t->date > D)
                continue;
            if (t->date > win)
                m->metric[i] += t->amount;
            if (t->amount > 0) {
                if (t->date > last)
                    last = t->date;
                if (t->date > rec_lo)
                    rn++, ra += t->amount;
                else if (t->date > base_lo)
                    bn++, ba += t->amount;
            }
        }
        if (start > D)
            continue;
        m->graded[i] = 1;
        m->is_new[i] = start > newer;
        int idle = D - (last >= 0 ? last : start);
        m->silent[i] = idle >= 90 && idle < 365;
        if (idle < 365 && !status_churned[i]) {
            /* recent < (1 - 0.5) x baseline x 90 / 365, exactly */
            if (bn >= 3 && rn * 365 * 2 < bn * 90)
                m->reasons[i] |= R_FREQ;
            if (bn >= 3 && ra * 365 * 2 < ba * 90)
                m->reasons[i] |= R_AMOUNT;
            if (m->silent[i])
                m->reasons[i] |= R_SILENT;
        }
    }
    int order[NC], n = 0;
    for (int i = 0; i < NC; i++)
        if (m->graded[i] && !m->is_new[i])
            order[n++] = i;
    for (int a = 0; a < n; a++) /* by metric descending, then id */
        for (int b = a + 1; b < n; b++)
            if (m->metric[order[b]] > m->metric[order[a]] ||
                (m->metric[order[b]] == m->metric[order[a]] && order[b] < order[a])) {
                int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    m->n = n;
    for (int r = 0; r < n; r++) {
        int i = order[r];
        m->rank[i] = r + 1;
        const char *g = m->metric[i] <= 0 ? "C" : r + 1 <= n * A_PCT / 100 ? "A" : r + 1 <= n * B_PCT / 100 ? "B" : "C";
        snprintf(m->abc[i], sizeof m->abc[i], "%s", g);
    }
    for (int i = 0; i < NC; i++)
        if (m->graded[i] && m->is_new[i])
            snprintf(m->abc[i], sizeof m->abc[i], "C");
}

static struct model m1, m2; /* as of D1 and D2 */

/* ---------------------------------------------------------------- the database */

static int64_t branch_id[2], li_id, zhang_id, bj_id;

static void load_database(void)
{
    PGconn *pg = it_pg_open();
    branch_id[SH] = it_pg_i64(pg, "SELECT id FROM org_unit WHERE name = '上海分行'");
    branch_id[BJ] = it_pg_i64(pg, "SELECT id FROM org_unit WHERE name = '北京分行'");
    li_id = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'li.lei'");
    zhang_id = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'zhang.wei'");
    bj_id = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'bj.am'");
    const int64_t owners[] = { 0, li_id, zhang_id, bj_id };
    size_t cap = 1 << 20, n = 0;
    char *sql = malloc(cap);
    assert_non_null(sql);
#define OUT(...) (n += (size_t)snprintf(sql + n, cap - n, __VA_ARGS__), assert_true(n < cap))
    int y, mo, d;
    civil_from_days(today(), &y, &mo, &d);
    OUT("SET kehu.bulk = 'on'; BEGIN;\n"
        "INSERT INTO customer (id, branch_id, owner_id, name, since, birth) VALUES\n");
    for (int i = 0; i < NC; i++) {
        char owner[24], birth[24];
        snprintf(owner, sizeof owner, cs[i].owner ? "%lld" : "NULL", (long long)owners[cs[i].owner]);
        /* 1980 is a leap year: a birthday on 29 February works too */
        snprintf(birth, sizeof birth, cs[i].birthday ? "'1980-%02d-%02d'" : "NULL", mo, d);
        OUT("%s(%lld, %lld, %s, '%s', '%s', %s)", i ? ",\n" : "", (long long)cid(i),
            (long long)branch_id[cs[i].branch], owner, cs[i].name, dstr(cs[i].since), birth);
    }
    OUT(";\nINSERT INTO txn (branch_id, customer_id, date, amount) VALUES\n");
    for (int k = 0; k < ntx; k++)
        OUT("%s(%lld, %lld, '%s', %s)", k ? ",\n" : "", (long long)branch_id[cs[tx[k].c].branch],
            (long long)cid(tx[k].c), dstr(tx[k].date), money(tx[k].amount));
    OUT(";\nUPDATE customer c SET revenue = t.revenue FROM (SELECT customer_id, sum(amount) AS revenue FROM txn"
        " GROUP BY 1) t WHERE t.customer_id = c.id;\n"
        "SELECT setval('customer_id_seq', (SELECT max(id) FROM customer));\nCOMMIT;");
#undef OUT
    it_pg_do(pg, sql);
    free(sql);
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM txn"), ntx);
    PQfinish(pg);
}

/* ---------------------------------------------------------------- requests */

static Kehu__V1__Response *copy_response(const Kehu__V1__Response *resp)
{
    size_t len = kehu__v1__response__get_packed_size(resp);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    kehu__v1__response__pack(resp, buf);
    Kehu__V1__Response *r = kehu__v1__response__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(r);
    return r;
}

struct slot {
    int done;
    struct kehu_status st;
    Kehu__V1__Response *resp;
};

static void slot_done(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct slot *s = arg;
    s->done = 1;
    s->st = *st;
    s->resp = resp ? copy_response(resp) : NULL;
}

static void send_async(kehu_client *c, Kehu__V1__Request *req, struct slot *s)
{
    memset(s, 0, sizeof *s);
    struct kehu_status st;
    if (kehu_send(c, req, slot_done, s, NULL, &st) < 0)
        fail_msg("send: %s", st.message);
}

struct progress {
    int n;
    char detail[16][64];
};

/* Takes the grade.progress events queued on c (others are dropped). */
static void take_progress(kehu_client *c, struct progress *p)
{
    struct kehu_status st;
    Kehu__V1__Event *ev;
    while ((ev = kehu_next_event(c, 0, &st)) != NULL) {
        if (strcmp(ev->kind, "grade.progress") == 0 && p->n < 16)
            snprintf(p->detail[p->n++], sizeof p->detail[0], "%s", ev->detail);
        kehu_event_free(ev);
    }
}

/* GradeRun sent as the CLI sends it (kehu_send, then the frames as they
 * come); expects `code`; the progress events it got on the way. */
static Kehu__V1__Response *grade_run(kehu_client *c, int D, int dry, int code, struct progress *p)
{
    struct progress local;
    if (!p)
        p = &local;
    memset(p, 0, sizeof *p);
    take_progress(c, &local); /* whatever was queued before is not this run's */
    memset(p, 0, sizeof *p);
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    m.as_of = (char *)(D ? dstr(D) : "");
    m.dry_run = dry;
    m.live = !dry; /* the test moves the date forward run by run */
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &m;
    struct slot s;
    send_async(c, &req, &s);
    int64_t deadline = it_now_ms() + 60000;
    while (!s.done && it_now_ms() < deadline) {
        if (kehu_run(c, 100) < 0 && !s.done)
            fail_msg("grade run: the connection failed");
        take_progress(c, p);
    }
    take_progress(c, p);
    if (!s.done)
        fail_msg("grade run as of %s: no answer in 60 s", dstr(D));
    if (!s.resp)
        fail_msg("grade run: %s", s.st.message);
    if (s.st.code != code)
        fail_msg("grade run as of %s: expected %s, got %s: %s", D ? dstr(D) : "today", kehu_code_name(code),
                 kehu_code_name(s.st.code), s.st.message);
    if (code == C(OK))
        assert_non_null(s.resp->grade_run);
    return s.resp;
}

static int subscribe_mine(kehu_client *c)
{
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    s.mine = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &s;
    struct kehu_status st;
    kehu_response_free(kehu_call(c, &req, &st));
    return st.code;
}

static int subscribe_unit(kehu_client *c, const char *unit)
{
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
    s.unit = (char *)unit;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &s;
    struct kehu_status st;
    kehu_response_free(kehu_call(c, &req, &st));
    return st.code;
}

struct evs {
    int n;
    struct {
        char kind[40];
        int64_t cust, owner;
        char detail[512];
    } e[400];
};

/* Events until none came for quiet_ms. */
static void collect(kehu_client *c, int quiet_ms, struct evs *out)
{
    memset(out, 0, sizeof *out);
    struct kehu_status st;
    Kehu__V1__Event *ev;
    while ((ev = it_next_change(c, quiet_ms, &st)) != NULL) {
        if (out->n < 400) {
            snprintf(out->e[out->n].kind, sizeof out->e[0].kind, "%s", ev->kind);
            out->e[out->n].cust = ev->customer_id;
            out->e[out->n].owner = ev->owner_id;
            snprintf(out->e[out->n].detail, sizeof out->e[0].detail, "%s", ev->detail);
            out->n++;
        }
        kehu_event_free(ev);
    }
}

static int count_events(const struct evs *e, const char *kind, int64_t cust)
{
    int n = 0;
    for (int k = 0; k < e->n; k++)
        n += strcmp(e->e[k].kind, kind) == 0 && (cust < 0 || e->e[k].cust == cust);
    return n;
}

static const char *event_detail(const struct evs *e, const char *kind, int64_t cust)
{
    for (int k = 0; k < e->n; k++)
        if (strcmp(e->e[k].kind, kind) == 0 && e->e[k].cust == cust)
            return e->e[k].detail;
    return NULL;
}

static Kehu__V1__Response *churn_list(kehu_client *c, const char *status)
{
    Kehu__V1__ChurnList m = KEHU__V1__CHURN_LIST__INIT;
    m.status = (char *)(status ? status : "");
    m.limit = 1000;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_LIST;
    req.churn_list = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    assert_non_null(r->churn_warnings);
    return r;
}

static Kehu__V1__Response *followup_due(kehu_client *c, unsigned days)
{
    Kehu__V1__FollowupDue m = KEHU__V1__FOLLOWUP_DUE__INIT;
    m.days = days;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_DUE;
    req.followup_due = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    assert_non_null(r->followups);
    return r;
}

static Kehu__V1__Response *followup_list(kehu_client *c, int i)
{
    Kehu__V1__FollowupList m = KEHU__V1__FOLLOWUP_LIST__INIT;
    m.customer_id = cid(i);
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LIST;
    req.followup_list = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    assert_non_null(r->followups);
    return r;
}

static Kehu__V1__Response *customer_get(kehu_client *c, int64_t id, int code)
{
    Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
    m.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *grade_show(kehu_client *c, int i, int code)
{
    Kehu__V1__GradeShow m = KEHU__V1__GRADE_SHOW__INIT;
    m.customer_id = cid(i);
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_SHOW;
    req.grade_show = &m;
    return it_call(c, &req, code);
}

static const Kehu__V1__Grade *find_grade(Kehu__V1__Grade **g, size_t n, const char *dim)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(g[k]->dimension, dim) == 0)
            return g[k];
    return NULL;
}

static Kehu__V1__Response *override(kehu_client *c, int i, const char *dim, const char *grade, int code,
                                    const char *field)
{
    Kehu__V1__GradeOverride m = KEHU__V1__GRADE_OVERRIDE__INIT;
    m.customer_id = cid(i);
    m.dimension = (char *)dim;
    m.grade = (char *)grade;
    m.reason = "服务测试";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_OVERRIDE;
    req.grade_override = &m;
    Kehu__V1__Response *r = it_call(c, &req, code);
    if (field)
        assert_string_equal(r->status->field, field);
    return r;
}

struct kv {
    const char *k, *v;
};

static Kehu__V1__Response *policy_set(kehu_client *c, const struct kv *kv, size_t n, int code)
{
    Kehu__V1__FieldValue fv[8];
    Kehu__V1__FieldValue *vals[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        kehu__v1__field_value__init(&fv[i]);
        fv[i].field = (char *)kv[i].k;
        fv[i].value = (char *)kv[i].v;
        vals[i] = &fv[i];
    }
    Kehu__V1__GradePolicySet m = KEHU__V1__GRADE_POLICY_SET__INIT;
    m.n_values = n;
    m.values = vals;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_POLICY_SET;
    req.grade_policy_set = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *policy_show(kehu_client *c)
{
    Kehu__V1__GradePolicyShow m = KEHU__V1__GRADE_POLICY_SHOW__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_POLICY_SHOW;
    req.grade_policy_show = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    assert_non_null(r->policy);
    return r;
}

/* "key=value\n" for every policy value (malloc'd) */
static char *policy_text(kehu_client *c)
{
    Kehu__V1__Response *r = policy_show(c);
    size_t cap = 16384, n = 0;
    char *s = calloc(1, cap);
    assert_non_null(s);
    for (size_t k = 0; k < r->policy->n_values; k++)
        n += (size_t)snprintf(s + n, cap - n, "%s=%s\n", r->policy->values[k]->key, r->policy->values[k]->value);
    assert_true(n < cap);
    kehu_response_free(r);
    return s;
}

static const char *policy_value(const Kehu__V1__GradePolicy *p, const char *key)
{
    for (size_t k = 0; k < p->n_values; k++)
        if (strcmp(p->values[k]->key, key) == 0)
            return p->values[k]->value;
    return NULL;
}

struct rq {
    const char *kind, *unit, *owner, *by;
    unsigned top;
    int64_t from_run, to_run;
};

static Kehu__V1__Response *report(kehu_client *c, struct rq q, int code)
{
    Kehu__V1__ReportGet m = KEHU__V1__REPORT_GET__INIT;
    m.kind = (char *)q.kind;
    m.unit = (char *)(q.unit ? q.unit : "");
    m.owner = (char *)(q.owner ? q.owner : "");
    m.by = (char *)(q.by ? q.by : "");
    m.top = q.top;
    m.from_run = q.from_run;
    m.to_run = q.to_run;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REPORT_GET;
    req.report_get = &m;
    Kehu__V1__Response *r = it_call(c, &req, code);
    if (code == C(OK))
        assert_non_null(r->report);
    return r;
}

/* ---------------------------------------------------------------- checks on many things at once */

static long checks, failures;

__attribute__((format(printf, 2, 3))) static void check(int ok, const char *fmt, ...)
{
    checks++;
    if (ok)
        return;
    failures++;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("  MISMATCH %s\n", msg);
}

static void checks_done(const char *label)
{
    print_message("it_grade_service: %s: %ld checks, %ld mismatches\n", label, checks, failures);
    long f = failures;
    checks = failures = 0;
    if (f)
        fail_msg("%s: %ld mismatches (shown above)", label, f);
}

static int reasons_of(const Kehu__V1__ChurnWarning *w)
{
    int r = 0;
    for (size_t j = 0; j < w->n_reasons; j++)
        r |= !strcmp(w->reasons[j], "frequency_drop") ? R_FREQ
           : !strcmp(w->reasons[j], "amount_drop")  ? R_AMOUNT
           : !strcmp(w->reasons[j], "silent")       ? R_SILENT
                                                    : 64;
    return r;
}

static int reasons_text(const char *s)
{
    int r = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        r |= !strcmp(t, "frequency_drop") ? R_FREQ : !strcmp(t, "amount_drop") ? R_AMOUNT
           : !strcmp(t, "silent")         ? R_SILENT
                                          : 64;
    return r;
}

static int64_t owner_id_of(int i)
{
    const int64_t owners[] = { 0, li_id, zhang_id, bj_id };
    return owners[cs[i].owner];
}

/* ---------------------------------------------------------------- the tests */

static int64_t r1_id, r2_id;
static int64_t warn_id[NC]; /* the warnings raised by R1 */

static int setup(void **state)
{
    (void)state;
    if (it_cli_open(&cli_admin) < 0 || it_cli_open(&cli_li) < 0)
        return -1;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    D1 = DAY(2025, 6, 15);
    D2 = DAY(2025, 9, 15);
    return 0;
}

static int teardown(void **state)
{
    it_org_close(&org);
    it_cli_close(&cli_admin);
    it_cli_close(&cli_li);
    return it_teardown(state);
}

/* The data, and that it is what each customer was made for. */
static void test_load(void **state)
{
    (void)state;
    make_data();
    model_eval(D1, &m1);
    model_eval(D2, &m2);
    static const struct {
        int i;
        const char *g1, *g2;
        int r1, r2;
    } made[] = {
        { A1, "A", "A", 0, 0 },
        { A2, "A", "A", 0, 0 },
        { BJ1, "A", "A", 0, 0 },
        { ZH1, "A", "A", 0, 0 },
        { B1, "B", "B", 0, 0 },
        { AMT, "B", "B", R_AMOUNT, R_AMOUNT },
        { FREQ, "B", "B", R_FREQ, R_FREQ | R_AMOUNT | R_SILENT },
        { SILENT, "C", "B", R_FREQ | R_AMOUNT | R_SILENT, 0 },
        { NOOWN, "C", "C", R_FREQ | R_AMOUNT | R_SILENT, R_FREQ | R_AMOUNT | R_SILENT },
        { C1, "C", "C", 0, 0 },
        { NEW1, "C", "C", 0, 0 },
    };
    for (size_t k = 0; k < sizeof made / sizeof made[0]; k++) {
        int i = made[k].i;
        if (strcmp(m1.abc[i], made[k].g1) || strcmp(m2.abc[i], made[k].g2) || m1.reasons[i] != made[k].r1 ||
            m2.reasons[i] != made[k].r2)
            fail_msg("the data: %s is %s/%s with reasons %d/%d, made to be %s/%s with %d/%d: fix the data", cs[i].name,
                     m1.abc[i], m2.abc[i], m1.reasons[i], m2.reasons[i], made[k].g1, made[k].g2, made[k].r1,
                     made[k].r2);
    }
    int warned = 0, moved = 0;
    for (int i = 0; i < NC; i++) {
        warned += m1.reasons[i] != 0;
        moved += strcmp(m1.abc[i], m2.abc[i]) != 0;
    }
    if (warned != 4 || moved < 2 || !m1.is_new[NEW1] || !m2.is_new[NEW1])
        fail_msg("the data: %d warned, %d abc moves D1 -> D2: fix the data", warned, moved);
    load_database();
    print_message("it_grade_service: %d customers, %d transactions; D1 %s, D2 %s, today %s\n", NC, ntx, dstr(D1),
                  dstr(D2), dstr(today()));
}

/* Before any run: reports refuse; the policy refuses what it must, all or none. */
static void test_before_first_run(void **state)
{
    (void)state;
    /* no run yet */
    kehu_response_free(report(org.admin, (struct rq){ .kind = "abc" }, C(FAILED_PRECONDITION)));
    kehu_response_free(report(org.admin, (struct rq){ .kind = "kpi" }, C(UNIMPLEMENTED)));
    /* an account manager does not start runs */
    kehu_response_free(grade_run(org.li, D1, 0, C(PERMISSION_DENIED), NULL));
    kehu_response_free(grade_run(org.li, D1, 1, C(PERMISSION_DENIED), NULL));

    char *before = policy_text(org.admin);
    static const struct {
        struct kv kv[2];
        size_t n;
        const char *key; /* the message must name it */
    } bad[] = {
        { { { "abc.no_such_key", "1" } }, 1, "abc.no_such_key" },
        { { { "abc.a_share", "1.5" } }, 1, "abc.a_share" },
        { { { "abc.window_months", "twelve" } }, 1, "abc.window_months" },
        { { { "volume.a_min", "1e6" } }, 1, "volume.a_min" },
        { { { "abc.a_share", "0.3" } }, 1, "abc.a_share" },                       /* b_share is 0.20 */
        { { { "abc.a_share", "0.3" }, { "abc.b_share", "0.2" } }, 2, "abc.a_share" }, /* a relation broken */
        { { { "volume.a_min", "2000000" }, { "abc.no_such_key", "1" } }, 2, "abc.no_such_key" }, /* all or none */
        { { { "abc.b_share", "0.6" }, { "churn.drop_share", "-0.1" } }, 2, "churn.drop_share" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        Kehu__V1__Response *r = policy_set(org.admin, bad[k].kv, bad[k].n, C(INVALID_ARGUMENT));
        check(strstr(r->status->message, bad[k].key) != NULL, "policy set %s=%s: the refusal '%s' does not name %s",
              bad[k].kv[0].k, bad[k].kv[0].v, r->status->message, bad[k].key);
        kehu_response_free(r);
        char *now = policy_text(org.admin);
        check(strcmp(before, now) == 0, "policy set %s=%s%s%s (refused) changed the policy", bad[k].kv[0].k,
              bad[k].kv[0].v, bad[k].n > 1 ? ", " : "", bad[k].n > 1 ? bad[k].kv[1].k : "");
        free(now);
    }
    /* only an admin changes it */
    static const struct kv shares[] = { { "abc.a_share", "0.20" }, { "abc.b_share", "0.50" } };
    kehu_response_free(policy_set(org.mgr, shares, 2, C(PERMISSION_DENIED)));
    kehu_response_free(policy_set(org.li, shares, 1, C(PERMISSION_DENIED)));
    char *now = policy_text(org.admin);
    check(strcmp(before, now) == 0, "a refused policy set by a non-admin changed the policy");
    free(now);
    /* a valid set of two keys applies both */
    Kehu__V1__Response *r = policy_set(org.admin, shares, 2, C(OK));
    const char *a = policy_value(r->policy, "abc.a_share"), *b = policy_value(r->policy, "abc.b_share");
    check(a && b && fabs(strtod(a, NULL) - 0.20) < 1e-12 && fabs(strtod(b, NULL) - 0.50) < 1e-12,
          "policy set a_share 0.20, b_share 0.50: the answer shows %s, %s", a ? a : "-", b ? b : "-");
    kehu_response_free(r);
    r = policy_show(org.li); /* anyone may read it */
    a = policy_value(r->policy, "abc.a_share");
    b = policy_value(r->policy, "abc.b_share");
    check(a && b && fabs(strtod(a, NULL) - 0.20) < 1e-12 && fabs(strtod(b, NULL) - 0.50) < 1e-12,
          "policy show after the set: a_share %s, b_share %s", a ? a : "-", b ? b : "-");
    /* nothing else moved */
    size_t differ = 0;
    for (size_t k = 0; k < r->policy->n_values; k++) {
        char line[200];
        snprintf(line, sizeof line, "%s=%s\n", r->policy->values[k]->key, r->policy->values[k]->value);
        if (strcmp(r->policy->values[k]->key, "abc.a_share") && strcmp(r->policy->values[k]->key, "abc.b_share"))
            differ += strstr(before, line) == NULL;
    }
    check(differ == 0, "policy set of two keys changed %zu other values", differ);
    kehu_response_free(r);
    free(before);
    checks_done("before the first run: reports, permissions, policy");
}

/* R1: progress for the requester; grade.changed and churn.warning events to
 * those who watch, each only what is theirs. */
static void test_first_run_events(void **state)
{
    (void)state;
    kehu_client *w_branch = it_login("wang.fang", IT_PASSWORD);
    kehu_client *w_li = it_login("li.lei", IT_PASSWORD);
    kehu_client *w_zhang = it_login("zhang.wei", IT_PASSWORD);
    kehu_client *w_bj = it_login("bj.am", IT_PASSWORD);
    assert_int_equal(subscribe_unit(w_branch, "上海分行"), C(OK));
    assert_int_equal(subscribe_mine(w_li), C(OK));
    assert_int_equal(subscribe_mine(w_zhang), C(OK));
    assert_int_equal(subscribe_mine(w_bj), C(OK));

    /* every warning the model expects, whatever the share of the customers (churn.month_share) */
    static const struct kv all_warned[] = { { "churn.month_share", "1" } };
    kehu_response_free(policy_set(org.admin, all_warned, 1, C(OK)));
    struct progress p;
    Kehu__V1__Response *r = grade_run(org.admin, D1, 0, C(OK), &p);
    r1_id = r->grade_run->run_id;
    int graded = 0, warned = 0;
    for (int i = 0; i < NC; i++) {
        graded += m1.graded[i];
        warned += m1.reasons[i] != 0;
    }
    check(r1_id > 0, "R1: run_id %lld", (long long)r1_id);
    check(r->grade_run->customers == graded, "R1: %lld customers graded, expected %d",
          (long long)r->grade_run->customers, graded);
    check(r->grade_run->warnings_raised == warned, "R1: warnings_raised %lld, expected %d",
          (long long)r->grade_run->warnings_raised, warned);
    kehu_response_free(r);
    /* the requester saw the run's five steps, in order */
    check(p.n == 5, "R1: %d grade.progress events to the requester, expected 5", p.n);
    for (int k = 0; k < p.n && k < 5; k++) {
        char want[16];
        snprintf(want, sizeof want, "%d/5 ", k + 1);
        check(strncmp(p.detail[k], want, strlen(want)) == 0 && strlen(p.detail[k]) > strlen(want),
              "R1: progress event %d is '%s', expected '%s<step>'", k + 1, p.detail[k], want);
    }
    check(p.n > 0 && strcmp(p.detail[0], "1/5 transactions") == 0, "R1: the first progress event is '%s'",
          p.n ? p.detail[0] : "(none)");

    struct evs *e = malloc(sizeof *e);
    assert_non_null(e);
    struct {
        kehu_client *c;
        const char *who;
    } watchers[] = { { w_branch, "wang.fang (上海分行)" },
                     { w_li, "li.lei (mine)" },
                     { w_zhang, "zhang.wei (mine)" },
                     { w_bj, "bj.am (mine)" } };
    for (int w = 0; w < 4; w++) {
        /* announcements go to every watcher at once: after the first is quiet, the rest have theirs */
        collect(watchers[w].c, w == 0 ? 1500 : 300, e);
        int changed = 0, warnings = 0;
        for (int i = 0; i < NC; i++) {
            int theirs = w == 0 ? cs[i].branch == SH
                       : w == 1 ? cs[i].owner == O_LI
                       : w == 2 ? cs[i].owner == O_ZHANG
                                : cs[i].owner == O_BJ;
            int want_changed = theirs && m1.graded[i], want_warning = theirs && m1.reasons[i] != 0;
            changed += want_changed;
            warnings += want_warning;
            int n = count_events(e, "grade.changed", cid(i));
            check(n == want_changed, "R1: %s got %d grade.changed for %s, expected %d", watchers[w].who, n,
                  cs[i].name, want_changed);
            const char *d = event_detail(e, "grade.changed", cid(i));
            if (d) {
                char want[32];
                snprintf(want, sizeof want, "abc:->%s", m1.abc[i]);
                check(strstr(d, want) != NULL && strstr(d, "lifecycle:->") != NULL,
                      "R1: %s: grade.changed of %s says '%s', expected it to name %s and the lifecycle",
                      watchers[w].who, cs[i].name, d, want);
            }
            n = count_events(e, "churn.warning", cid(i));
            check(n == want_warning, "R1: %s got %d churn.warning for %s, expected %d", watchers[w].who, n,
                  cs[i].name, want_warning);
            d = event_detail(e, "churn.warning", cid(i));
            if (d)
                check(reasons_text(d) == m1.reasons[i], "R1: churn.warning of %s says '%s', expected reasons %d",
                      cs[i].name, d, m1.reasons[i]);
        }
        check(e->n == changed + warnings, "R1: %s got %d events, expected %d grade.changed + %d churn.warning",
              watchers[w].who, e->n, changed, warnings);
        for (int k = 0; k < e->n; k++) {
            int i = index_of(e->e[k].cust);
            check(i >= 0 && e->e[k].owner == owner_id_of(i), "R1: %s got %s for customer %lld with owner %lld",
                  watchers[w].who, e->e[k].kind, (long long)e->e[k].cust, (long long)e->e[k].owner);
            if (w > 0)
                check(e->e[k].owner == (w == 1 ? li_id : w == 2 ? zhang_id : bj_id),
                      "R1: %s (mine) got %s about customer %lld owned by %lld", watchers[w].who, e->e[k].kind,
                      (long long)e->e[k].cust, (long long)e->e[k].owner);
            check(strcmp(e->e[k].kind, "grade.progress") != 0, "R1: %s (not the requester) got grade.progress",
                  watchers[w].who);
        }
    }
    free(e);
    kehu_close(w_branch);
    kehu_close(w_li);
    kehu_close(w_zhang);
    kehu_close(w_bj);
    checks_done("R1: progress and events");
}

/* The open warnings against the model: exactly these customers, these reasons. */
static void check_open_warnings(const char *label, kehu_client *c, const struct model *m, int only_owner)
{
    Kehu__V1__Response *r = churn_list(c, NULL);
    int seen[NC] = { 0 };
    for (size_t k = 0; k < r->churn_warnings->n_warnings; k++) {
        const Kehu__V1__ChurnWarning *w = r->churn_warnings->warnings[k];
        int i = index_of(w->customer_id);
        if (i < 0) {
            check(0, "%s: a warning for an unknown customer %lld", label, (long long)w->customer_id);
            continue;
        }
        seen[i]++;
        check(reasons_of(w) == m->reasons[i], "%s: %s's warning has reasons %d, expected %d", label, cs[i].name,
              reasons_of(w), m->reasons[i]);
        check(!strcmp(w->grade, m->abc[i]), "%s: %s's warning shows grade %s, expected %s", label, cs[i].name,
              w->grade, m->abc[i]);
        check(!strcmp(w->customer_name, cs[i].name), "%s: warning names '%s', expected %s", label, w->customer_name,
              cs[i].name);
    }
    for (int i = 0; i < NC; i++) {
        int want = m->reasons[i] != 0 && (!only_owner || cs[i].owner == only_owner);
        check(seen[i] == want, "%s: %s has %d open warnings, expected %d", label, cs[i].name, seen[i], want);
    }
    kehu_response_free(r);
}

/* The churn warnings: list, follow-ups, no duplicates, ack, lost, recovery. */
static void test_churn_warnings(void **state)
{
    (void)state;
    check_open_warnings("R1 churn list (admin)", org.admin, &m1, 0);
    check_open_warnings("R1 churn list (li.lei)", org.li, &m1, O_LI);
    Kehu__V1__Response *r = churn_list(org.admin, NULL);
    for (size_t k = 0; k < r->churn_warnings->n_warnings; k++) {
        const Kehu__V1__ChurnWarning *w = r->churn_warnings->warnings[k];
        int i = index_of(w->customer_id);
        if (i < 0)
            continue;
        warn_id[i] = w->id;
        check(!strcmp(w->status, "open") && !strcmp(w->raised_on, dstr(D1)),
              "R1: %s's warning is %s, raised on %s", cs[i].name, w->status, w->raised_on);
    }
    kehu_response_free(r);

    /* each warned customer with an owner has a call planned for the owner, due in 3 days */
    for (int i = 0; i < NC; i++) {
        if (!m1.graded[i])
            continue;
        Kehu__V1__Response *l = followup_list(org.admin, i);
        int n = 0;
        for (size_t k = 0; k < l->followups->n_followups; k++) {
            const Kehu__V1__Followup *f = l->followups->followups[k];
            if (strncmp(f->note, "Churn warning", 13) != 0)
                continue;
            n++;
            check(!strcmp(f->kind, "call") && !strcmp(f->status, "planned") && !strcmp(f->due, dstr(D1 + 3)) &&
                      !strcmp(f->owner, "li.lei"),
                  "R1: %s's churn follow-up: %s %s due %s for %s", cs[i].name, f->kind, f->status, f->due, f->owner);
        }
        int want = m1.reasons[i] && cs[i].owner != O_NONE;
        check(n == want, "R1: %s has %d churn warning follow-ups, expected %d", cs[i].name, n, want);
        kehu_response_free(l);
    }
    r = followup_due(org.li, 7);
    int due[NC] = { 0 };
    for (size_t k = 0; k < r->followups->n_followups; k++) {
        const Kehu__V1__Followup *f = r->followups->followups[k];
        int i = index_of(f->customer_id);
        if (i >= 0 && strncmp(f->note, "Churn warning", 13) == 0)
            due[i]++;
    }
    for (int i = 0; i < NC; i++)
        check(due[i] == (m1.reasons[i] && cs[i].owner == O_LI), "R1: li.lei's due list has %d churn calls for %s",
              due[i], cs[i].name);
    kehu_response_free(r);

    /* the same run again: nothing raised, still one open warning each */
    r = grade_run(org.admin, D1, 0, C(OK), NULL);
    check(r->grade_run->warnings_raised == 0 && r->grade_run->changed == 0,
          "R1 again: %lld warnings raised, %lld changed, expected none", (long long)r->grade_run->warnings_raised,
          (long long)r->grade_run->changed);
    kehu_response_free(r);
    check_open_warnings("R1 again", org.admin, &m1, 0);
    r = churn_list(org.admin, "all");
    check(r->churn_warnings->n_warnings == 4, "R1 again: %zu warnings in all, expected 4",
          r->churn_warnings->n_warnings);
    kehu_response_free(r);

    /* ChurnAck: a plan is required; then acknowledged, with the plan and who */
    Kehu__V1__ChurnAck ack = KEHU__V1__CHURN_ACK__INIT;
    ack.warning_id = warn_id[FREQ];
    ack.plan = "";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_ACK;
    req.churn_ack = &ack;
    it_expect(org.li, &req, C(INVALID_ARGUMENT), "plan");
    ack.plan = "上门拜访，提供季度优惠";
    it_expect(org.bj, &req, C(NOT_FOUND), NULL); /* not bj.am's to see */
    r = it_call(org.li, &req, C(OK));
    const Kehu__V1__ChurnWarning *cw = r->churn_warning;
    check(cw && cw->id == warn_id[FREQ] && !strcmp(cw->status, "acknowledged") &&
              !strcmp(cw->plan, "上门拜访，提供季度优惠") && !strcmp(cw->acked_by, "li.lei") && cw->acked_at_ms > 0,
          "churn ack: status %s plan '%s' acked_by '%s'", r->churn_warning ? r->churn_warning->status : "-",
          r->churn_warning ? r->churn_warning->plan : "-", r->churn_warning ? r->churn_warning->acked_by : "-");
    kehu_response_free(r);

    /* ChurnLost: the reason is checked; the warning closes as lost, the customer is churned */
    Kehu__V1__ChurnLost lost = KEHU__V1__CHURN_LOST__INIT;
    lost.customer_id = cid(AMT);
    lost.reason = "bored";
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_LOST;
    req.churn_lost = &lost;
    it_expect(org.li, &req, C(INVALID_ARGUMENT), "reason");
    r = churn_list(org.admin, "lost");
    check(r->churn_warnings->n_warnings == 0, "a refused churn lost closed %zu warnings",
          r->churn_warnings->n_warnings);
    kehu_response_free(r);
    lost.reason = "competitor_offer";
    lost.note = "被竞争对手挖走";
    r = it_call(org.li, &req, C(OK));
    check(r->churn_warning && r->churn_warning->id == warn_id[AMT] && !strcmp(r->churn_warning->status, "lost") &&
              !strcmp(r->churn_warning->lost_reason, "competitor_offer"),
          "churn lost: warning %lld (expected %lld) status %s lost_reason %s",
          (long long)(r->churn_warning ? r->churn_warning->id : 0), (long long)warn_id[AMT],
          r->churn_warning ? r->churn_warning->status : "-", r->churn_warning ? r->churn_warning->lost_reason : "-");
    kehu_response_free(r);
    status_churned[AMT] = 1;
    m2.reasons[AMT] = 0; /* it would be warned as of D2, but it was given up */
    r = customer_get(org.li, cid(AMT), C(OK));
    check(r->customer->status == KEHU__V1__CUSTOMER_STATUS__CHURNED, "churn lost: the customer's status is %d",
          r->customer->status);
    kehu_response_free(r);
    m1.reasons[AMT] = 0; /* no longer open */
    check_open_warnings("after ack and lost", org.admin, &m1, 0);

    /* R2 as of D2: 沉默客户 bought again (recovered); 频降客户's warning takes the new
     * reasons; 额降客户, given up, gets no new warning though its sales still fall */
    kehu_client *w_branch = it_login("wang.fang", IT_PASSWORD);
    assert_int_equal(subscribe_unit(w_branch, "上海分行"), C(OK));
    r = grade_run(org.admin, D2, 0, C(OK), NULL);
    r2_id = r->grade_run->run_id;
    int raised = 0;
    for (int i = 0; i < NC; i++)
        raised += m2.reasons[i] && !warn_id[i];
    check(r->grade_run->warnings_raised == raised, "R2: warnings_raised %lld, expected %d",
          (long long)r->grade_run->warnings_raised, raised);
    kehu_response_free(r);
    check_open_warnings("R2 churn list", org.admin, &m2, 0);
    r = churn_list(org.admin, "all");
    int per[NC] = { 0 };
    for (size_t k = 0; k < r->churn_warnings->n_warnings; k++) {
        const Kehu__V1__ChurnWarning *w = r->churn_warnings->warnings[k];
        int i = index_of(w->customer_id);
        if (i < 0)
            continue;
        per[i]++;
        if (i == SILENT)
            check(w->id == warn_id[SILENT] && !strcmp(w->status, "recovered"), "R2: 沉默客户's warning %lld is %s",
                  (long long)w->id, w->status);
        if (i == FREQ)
            check(w->id == warn_id[FREQ] && !strcmp(w->status, "acknowledged") && !strcmp(w->plan, "上门拜访，提供季度优惠"),
                  "R2: 频降客户's warning %lld is %s", (long long)w->id, w->status);
        if (i == AMT)
            check(w->id == warn_id[AMT] && !strcmp(w->status, "lost"), "R2: 额降客户's warning %lld is %s",
                  (long long)w->id, w->status);
    }
    for (int i = 0; i < NC; i++)
        check(per[i] == (warn_id[i] != 0), "R2: %s has %d warnings in all, expected %d", cs[i].name, per[i],
              warn_id[i] != 0);
    kehu_response_free(r);
    r = churn_list(org.admin, "recovered");
    check(r->churn_warnings->n_warnings == 1 && r->churn_warnings->warnings[0]->customer_id == cid(SILENT),
          "R2: %zu recovered warnings, expected 沉默客户's only", r->churn_warnings->n_warnings);
    kehu_response_free(r);

    /* the run's events name the changes: 沉默客户 abc C>B, lifecycle silent>won_back */
    struct evs *e = malloc(sizeof *e);
    assert_non_null(e);
    collect(w_branch, 1500, e);
    const char *d = event_detail(e, "grade.changed", cid(SILENT));
    check(d && strstr(d, "abc:C>B") && strstr(d, "lifecycle:silent>won_back"),
          "R2: grade.changed of 沉默客户 says '%s', expected abc:C>B and lifecycle:silent>won_back", d ? d : "(none)");
    for (int i = 0; i < NC; i++) {
        if (cs[i].branch != SH)
            continue;
        d = event_detail(e, "grade.changed", cid(i));
        char want[32];
        snprintf(want, sizeof want, "abc:%s>%s", m1.abc[i], m2.abc[i]);
        if (strcmp(m1.abc[i], m2.abc[i]) != 0)
            check(d && strstr(d, want), "R2: grade.changed of %s says '%s', expected %s", cs[i].name, d ? d : "(none)",
                  want);
        else
            check(!d || !strstr(d, "abc:"), "R2: grade.changed of %s says '%s', but its abc stayed %s", cs[i].name,
                  d, m1.abc[i]);
    }
    check(count_events(e, "churn.warning", -1) == 0, "R2: %d churn.warning events, expected none",
          count_events(e, "churn.warning", -1));
    free(e);
    kehu_close(w_branch);

    /* an acknowledgement of a closed warning is refused */
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_ACK;
    req.churn_ack = &ack;
    ack.warning_id = warn_id[SILENT];
    it_expect(org.li, &req, C(FAILED_PRECONDITION), NULL);
    ack.warning_id = warn_id[AMT];
    it_expect(org.li, &req, C(FAILED_PRECONDITION), NULL);
    checks_done("churn warnings");
}

static const char *const abc_grades[] = { "A", "B", "C" };

/* The rows of one dimension: every grade, best first; customers and shares add up. */
static void check_rows(const char *label, Kehu__V1__ReportRow **rows, size_t nrows, const char *dim,
                       const char *const *grades, int ngrades, int64_t want_customers)
{
    int k = 0;
    int64_t n = 0;
    double cshare = 0, mshare = 0;
    for (size_t j = 0; j < nrows; j++) {
        const Kehu__V1__ReportRow *row = rows[j];
        if (strcmp(row->dimension, dim) != 0)
            continue;
        check(k < ngrades && !strcmp(row->grade, grades[k]), "%s: %s row %d is '%s', expected '%s'", label, dim, k,
              row->grade, k < ngrades ? grades[k] : "(none)");
        k++;
        n += row->customers;
        cshare += row->customer_share;
        mshare += row->metric_share;
        check(want_customers == 0 ||
                  fabs(row->customer_share - (double)row->customers / (double)want_customers) < 1e-9,
              "%s: %s %s: share %.12g of %lld customers", label, dim, row->grade, row->customer_share,
              (long long)row->customers);
    }
    check(k == ngrades, "%s: %d %s rows, expected %d", label, k, dim, ngrades);
    check(n == want_customers, "%s: %s rows add up to %lld customers, expected %lld", label, dim, (long long)n,
          (long long)want_customers);
    check(fabs(cshare - 1) < 1e-9, "%s: %s customer shares add up to %.15g", label, dim, cshare);
    check(fabs(mshare - 1) < 1e-9, "%s: %s metric shares add up to %.15g", label, dim, mshare);
}

static int in_scope(int i, int owner, int branch)
{
    return m2.graded[i] && (owner < 0 || cs[i].owner == owner) && (branch < 0 || cs[i].branch == branch);
}

/* abc rows against the model (as of D2) for the customers in scope. */
static void check_abc(const char *label, Kehu__V1__ReportRow **rows, size_t nrows, int owner, int branch)
{
    int64_t n = 0;
    for (int i = 0; i < NC; i++)
        n += in_scope(i, owner, branch);
    check_rows(label, rows, nrows, "abc", abc_grades, 3, n);
    for (size_t j = 0; j < nrows; j++) {
        const Kehu__V1__ReportRow *row = rows[j];
        int64_t cnt = 0, total = 0;
        for (int i = 0; i < NC; i++)
            if (in_scope(i, owner, branch) && !strcmp(m2.abc[i], row->grade))
                cnt++, total += m2.metric[i];
        check(row->customers == cnt && row->metric_total_minor == total,
              "%s: abc %s: %lld customers %s, expected %lld %s", label, row->grade, (long long)row->customers,
              money(row->metric_total_minor), (long long)cnt, money(total));
    }
}

static void test_reports(void **state)
{
    (void)state;
    int graded = 0;
    for (int i = 0; i < NC; i++)
        graded += m2.graded[i];
    /* abc, the company */
    Kehu__V1__Response *r = report(org.admin, (struct rq){ .kind = "abc", .top = 3 }, C(OK));
    const Kehu__V1__Report *rep = r->report;
    check(rep->run_id == r2_id && !strcmp(rep->as_of, dstr(D2)) && !strcmp(rep->metric, "revenue"),
          "report abc: run %lld as of %s metric %s, expected run %lld as of %s, revenue", (long long)rep->run_id,
          rep->as_of, rep->metric, (long long)r2_id, dstr(D2));
    check_abc("report abc", rep->rows, rep->n_rows, -1, -1);
    /* top 3 per grade by metric */
    for (int g = 0; g < 3; g++) {
        int taken[NC] = { 0 }, k = 0;
        for (size_t j = 0; j < rep->n_top; j++) {
            const Kehu__V1__ReportTop *t = rep->top[j];
            if (strcmp(t->grade, abc_grades[g]) != 0)
                continue;
            int best = -1;
            for (int i = 0; i < NC; i++)
                if (m2.graded[i] && !taken[i] && !strcmp(m2.abc[i], abc_grades[g]) &&
                    (best < 0 || m2.metric[i] > m2.metric[best]))
                    best = i;
            check(best >= 0 && t->customer_id == cid(best) && t->rank == k + 1 && t->metric_minor == m2.metric[best],
                  "report abc top %s #%d: customer %lld rank %d metric %s, expected %lld (%s)", abc_grades[g], k + 1,
                  (long long)t->customer_id, t->rank, money(t->metric_minor), (long long)(best >= 0 ? cid(best) : 0),
                  best >= 0 ? cs[best].name : "-");
            if (best >= 0)
                taken[best] = 1;
            k++;
        }
        check(k == 3, "report abc top %s: %d customers, expected 3", abc_grades[g], k);
    }
    /* the migration R1 -> R2 (the default: from the run before the latest, which changed nothing) */
    check(rep->from_run > 0 && rep->from_run < r2_id, "report abc: from_run %lld", (long long)rep->from_run);
    kehu_response_free(r);
    r = report(org.admin, (struct rq){ .kind = "abc", .from_run = r1_id, .to_run = r2_id }, C(OK));
    rep = r->report;
    check(rep->from_run == r1_id && rep->run_id == r2_id, "report abc R1 -> R2: from %lld to %lld",
          (long long)rep->from_run, (long long)rep->run_id);
    int64_t total = 0;
    for (int f = 0; f < 3; f++)
        for (int t = 0; t < 3; t++) {
            int64_t want = 0, got = 0;
            for (int i = 0; i < NC; i++)
                want += m1.graded[i] && !strcmp(m1.abc[i], abc_grades[f]) && !strcmp(m2.abc[i], abc_grades[t]);
            for (size_t j = 0; j < rep->n_migration; j++)
                if (!strcmp(rep->migration[j]->from, abc_grades[f]) && !strcmp(rep->migration[j]->to, abc_grades[t]))
                    got += rep->migration[j]->customers;
            check(got == want, "report migration %s -> %s: %lld, expected %lld", abc_grades[f], abc_grades[t],
                  (long long)got, (long long)want);
            total += want;
        }
    int64_t sum = 0;
    for (size_t j = 0; j < rep->n_migration; j++)
        sum += rep->migration[j]->customers;
    check(sum == total && total == graded, "report migration: %lld customers in all, expected %lld (%d graded)",
          (long long)sum, (long long)total, graded);
    kehu_response_free(r);
    kehu_response_free(report(org.admin, (struct rq){ .kind = "abc", .from_run = 999999 }, C(NOT_FOUND)));
    kehu_response_free(report(org.admin, (struct rq){ .kind = "kpi" }, C(UNIMPLEMENTED)));

    /* narrowed: an account manager's own customers; an owner; a unit; by branch */
    r = report(org.li, (struct rq){ .kind = "abc" }, C(OK));
    check_abc("report abc (li.lei)", r->report->rows, r->report->n_rows, O_LI, -1);
    kehu_response_free(r);
    r = report(org.admin, (struct rq){ .kind = "abc", .owner = "li.lei" }, C(OK));
    check_abc("report abc --owner li.lei", r->report->rows, r->report->n_rows, O_LI, -1);
    kehu_response_free(r);
    r = report(org.admin, (struct rq){ .kind = "abc", .unit = "北京分行" }, C(OK));
    check_abc("report abc --unit 北京分行", r->report->rows, r->report->n_rows, -1, BJ);
    kehu_response_free(r);
    r = report(org.mgr, (struct rq){ .kind = "abc" }, C(OK)); /* 上海分行's manager */
    check_abc("report abc (wang.fang)", r->report->rows, r->report->n_rows, -1, SH);
    kehu_response_free(r);
    r = report(org.admin, (struct rq){ .kind = "abc", .by = "branch" }, C(OK));
    check_abc("report abc by branch (all)", r->report->rows, r->report->n_rows, -1, -1);
    check(r->report->n_groups == 2, "report by branch: %zu groups, expected 2", r->report->n_groups);
    for (size_t k = 0; k < r->report->n_groups; k++) {
        const Kehu__V1__ReportGroup *g = r->report->groups[k];
        int b = !strcmp(g->name, "上海分行") ? SH : !strcmp(g->name, "北京分行") ? BJ : -1;
        check(b >= 0 && g->id == branch_id[b], "report by branch: group '%s' id %lld", g->name, (long long)g->id);
        if (b >= 0) {
            char label[64];
            snprintf(label, sizeof label, "report by branch: %s", g->name);
            check_abc(label, g->rows, g->n_rows, -1, b);
        }
    }
    kehu_response_free(r);

    /* tiers and lifecycle: every dimension's rows add up */
    r = report(org.admin, (struct rq){ .kind = "tiers" }, C(OK));
    static const char *const value[] = { "high", "medium", "low" };
    static const char *const asset[] = { "vip", "wealth", "general", "none" };
    static const char *const volume[] = { "A", "B", "C", "D" };
    check_rows("report tiers", r->report->rows, r->report->n_rows, "value_tier", value, 3, graded);
    check_rows("report tiers", r->report->rows, r->report->n_rows, "asset_tier", asset, 4, graded);
    check_rows("report tiers", r->report->rows, r->report->n_rows, "volume", volume, 4, graded);
    check(r->report->n_rows == 11 && !strcmp(r->report->rows[0]->dimension, "value_tier") &&
              !strcmp(r->report->rows[3]->dimension, "asset_tier") && !strcmp(r->report->rows[7]->dimension, "volume"),
          "report tiers: %zu rows, dimensions not in the order value_tier, asset_tier, volume", r->report->n_rows);
    kehu_response_free(r);
    static const char *const life[] = { "new", "active", "loyal", "silent", "churned", "won_back" };
    for (int churn = 0; churn < 2; churn++) {
        r = report(org.admin, (struct rq){ .kind = churn ? "churn" : "lifecycle" }, C(OK));
        check_rows(churn ? "report churn" : "report lifecycle", r->report->rows, r->report->n_rows, "lifecycle", life,
                   6, graded);
        int silent = 0;
        for (int i = 0; i < NC; i++)
            silent += m2.graded[i] && m2.silent[i];
        for (size_t j = 0; j < r->report->n_rows; j++)
            if (!strcmp(r->report->rows[j]->grade, "silent"))
                check(r->report->rows[j]->customers == silent, "report lifecycle: %lld silent, expected %d",
                      (long long)r->report->rows[j]->customers, silent);
        if (churn) { /* the open warnings */
            int seen[NC] = { 0 };
            for (size_t k = 0; k < r->report->n_warnings; k++) {
                int i = index_of(r->report->warnings[k]->customer_id);
                if (i >= 0)
                    seen[i]++;
            }
            for (int i = 0; i < NC; i++)
                check(seen[i] == (m2.reasons[i] != 0), "report churn: %s has %d open warnings, expected %d",
                      cs[i].name, seen[i], m2.reasons[i] != 0);
            check(r->report->n_warnings == 2, "report churn: %zu warnings", r->report->n_warnings);
        } else {
            check(r->report->n_warnings == 0, "report lifecycle: %zu warnings", r->report->n_warnings);
        }
        kehu_response_free(r);
    }
    checks_done("reports");
}

static void test_permissions(void **state)
{
    (void)state;
    /* approval is for managers: li.lei's raise to A waits, and li.lei cannot approve it */
    Kehu__V1__Response *r = override(org.li, B1, "abc", "A", C(OK), NULL);
    check(r->override && !strcmp(r->override->status, "pending"), "li.lei raises 乙级客户 to A: %s",
          r->override ? r->override->status : "-");
    int64_t pending = r->override ? r->override->id : 0;
    kehu_response_free(r);
    Kehu__V1__GradeApprove ap = KEHU__V1__GRADE_APPROVE__INIT;
    ap.override_id = pending;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_APPROVE;
    req.grade_approve = &ap;
    it_expect(org.li, &req, C(PERMISSION_DENIED), NULL);
    it_expect(org.zhang, &req, C(PERMISSION_DENIED), NULL);
    r = grade_show(org.li, B1, C(OK));
    const Kehu__V1__Grade *g = find_grade(r->grades->grades, r->grades->n_grades, "abc");
    check(g && !strcmp(g->grade, "B") && !g->overridden, "a pending raise changed 乙级客户's abc to %s",
          g ? g->grade : "-");
    kehu_response_free(r);
    ap.reject = 1; /* the branch manager says no */
    r = it_call(org.mgr, &req, C(OK));
    check(r->override && !strcmp(r->override->status, "rejected"), "wang.fang rejects: %s",
          r->override ? r->override->status : "-");
    kehu_response_free(r);

    /* a new customer: only an admin grades it other than C */
    r = grade_show(org.li, NEW1, C(OK));
    g = find_grade(r->grades->grades, r->grades->n_grades, "abc");
    check(g && !strcmp(g->grade, "C") && g->is_new, "新客户: abc %s is_new %d", g ? g->grade : "-", g ? g->is_new : -1);
    kehu_response_free(r);
    kehu_response_free(override(org.li, NEW1, "abc", "B", C(PERMISSION_DENIED), "grade"));
    kehu_response_free(override(org.mgr, NEW1, "abc", "B", C(PERMISSION_DENIED), "grade"));
    r = grade_show(org.admin, NEW1, C(OK));
    g = find_grade(r->grades->grades, r->grades->n_grades, "abc");
    check(g && !strcmp(g->grade, "C") && !g->overridden, "refused overrides changed 新客户's abc to %s",
          g ? g->grade : "-");
    kehu_response_free(r);
    r = override(org.admin, NEW1, "abc", "B", C(OK), NULL);
    check(r->override && !strcmp(r->override->status, "active") && !strcmp(r->override->grade, "B"),
          "admin overrides 新客户 to B: %s", r->override ? r->override->status : "-");
    kehu_response_free(r);
    r = grade_show(org.li, NEW1, C(OK));
    g = find_grade(r->grades->grades, r->grades->n_grades, "abc");
    check(g && !strcmp(g->grade, "B") && g->overridden && !strcmp(g->computed, "C"),
          "新客户 after the admin's override: abc %s overridden %d computed %s", g ? g->grade : "-",
          g ? g->overridden : -1, g ? g->computed : "-");
    kehu_response_free(r);
    r = override(org.admin, NEW1, "abc", "", C(OK), NULL); /* ended again: the reports stay the model's */
    kehu_response_free(r);
    r = grade_show(org.li, NEW1, C(OK));
    g = find_grade(r->grades->grades, r->grades->n_grades, "abc");
    check(g && !strcmp(g->grade, "C") && !g->overridden && g->is_new, "新客户 after the revocation: abc %s",
          g ? g->grade : "-");
    kehu_response_free(r);

    /* another account manager's customer does not exist for them */
    kehu_response_free(grade_show(org.zhang, A1, C(NOT_FOUND)));
    kehu_response_free(grade_show(org.bj, B1, C(NOT_FOUND)));
    kehu_response_free(grade_show(org.zhang, ZH1, C(OK)));

    /* credit assessments: a manager's; the assessed grade is in force */
    Kehu__V1__CreditAssess ca = KEHU__V1__CREDIT_ASSESS__INIT;
    ca.customer_id = cid(F1);
    ca.grade = "BB";
    ca.notes = "年度授信复核：回款偶有延迟";
    req.op_case = KEHU__V1__REQUEST__OP_CREDIT_ASSESS;
    req.credit_assess = &ca;
    it_expect(org.li, &req, C(PERMISSION_DENIED), NULL);
    r = grade_show(org.li, F1, C(OK));
    check(r->grades->n_assessments == 0 && !find_grade(r->grades->grades, r->grades->n_grades, "credit"),
          "a refused assessment left %zu assessments", r->grades->n_assessments);
    kehu_response_free(r);
    r = it_call(org.mgr, &req, C(OK));
    check(r->override && !strcmp(r->override->dimension, "credit") && !strcmp(r->override->grade, "BB") &&
              !strcmp(r->override->status, "active") && !strcmp(r->override->approved_by, "wang.fang") &&
              *r->override->until,
          "credit assess by wang.fang: %s %s %s approved by %s until %s", r->override ? r->override->dimension : "-",
          r->override ? r->override->grade : "-", r->override ? r->override->status : "-",
          r->override ? r->override->approved_by : "-", r->override ? r->override->until : "-");
    kehu_response_free(r);
    r = grade_show(org.li, F1, C(OK));
    const Kehu__V1__CustomerGrades *cg = r->grades;
    g = find_grade(cg->grades, cg->n_grades, "credit");
    check(g && !strcmp(g->grade, "BB") && g->overridden, "after the assessment: credit %s overridden %d",
          g ? g->grade : "(none)", g ? g->overridden : -1);
    check(cg->n_assessments == 1 && !strcmp(cg->assessments[0]->reviewer, "wang.fang") &&
              !strcmp(cg->assessments[0]->grade, "BB") && !strcmp(cg->assessments[0]->notes, ca.notes) &&
              !strcmp(cg->assessments[0]->date, dstr(today())),
          "grade show assessments: %zu, reviewer %s grade %s notes '%s' date %s", cg->n_assessments,
          cg->n_assessments ? cg->assessments[0]->reviewer : "-", cg->n_assessments ? cg->assessments[0]->grade : "-",
          cg->n_assessments ? cg->assessments[0]->notes : "-", cg->n_assessments ? cg->assessments[0]->date : "-");
    kehu_response_free(r);
    r = customer_get(org.li, cid(F1), C(OK));
    g = find_grade(r->customer->grades, r->customer->n_grades, "credit");
    check(g && !strcmp(g->grade, "BB"), "customer get after the assessment: credit %s", g ? g->grade : "(none)");
    kehu_response_free(r);
    checks_done("permissions");
}

/* One run at a time; requests are answered while a run is in progress. The
 * run is held at its third step (a table lock on grade_history, taken by the
 * test), so that "in progress" is a fact, not a matter of timing. */
static void test_concurrency(void **state)
{
    (void)state;
    PGconn *pg = it_pg_open();
    it_pg_do(pg, "BEGIN; LOCK TABLE grade_history IN EXCLUSIVE MODE");
    kehu_client *a = it_admin();
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    m.as_of = (char *)dstr(D2);
    m.dry_run = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &m;
    struct slot s;
    send_async(a, &req, &s);
    /* wait until it reports the step it is held at */
    int held = 0;
    int64_t deadline = it_now_ms() + 20000;
    while (!held && !s.done && it_now_ms() < deadline) {
        struct kehu_status st;
        Kehu__V1__Event *ev = kehu_next_event(a, 200, &st);
        if (ev && !strcmp(ev->kind, "grade.progress") && !strncmp(ev->detail, "3/5", 3))
            held = 1;
        kehu_event_free(ev);
    }
    if (!held) {
        PQfinish(pg);
        fail_msg("the run did not reach its third step (done %d: %s)", s.done, s.st.message);
    }
    /* a second run, from another client, is refused at once */
    Kehu__V1__Response *r = grade_run(org.mgr, D2, 1, C(FAILED_PRECONDITION), NULL);
    kehu_response_free(r);
    r = grade_run(org.admin, D1, 0, C(FAILED_PRECONDITION), NULL);
    kehu_response_free(r);
    /* other requests are answered meanwhile */
    r = customer_get(org.li, cid(A1), C(OK));
    check(find_grade(r->customer->grades, r->customer->n_grades, "abc") != NULL, "customer get during a run: no abc");
    kehu_response_free(r);
    kehu_response_free(grade_show(org.admin, A1, C(OK)));
    kehu_run(a, 0);
    check(!s.done, "the run answered before the requests made while it was held");
    it_pg_do(pg, "COMMIT");
    PQfinish(pg);
    deadline = it_now_ms() + 60000;
    while (!s.done && it_now_ms() < deadline)
        if (kehu_run(a, 200) < 0)
            break;
    check(s.done && s.st.code == C(OK) && s.resp && s.resp->grade_run && s.resp->grade_run->dry_run &&
              s.resp->grade_run->run_id == 0,
          "the held run: done %d %s %s", s.done, kehu_code_name(s.st.code), s.st.message);
    int graded = 0;
    for (int i = 0; i < NC; i++)
        graded += m2.graded[i];
    if (s.resp && s.resp->grade_run) {
        /* since R2 only the credit assessment of 普通客户一 (in force through a year on) changed anything */
        const Kehu__V1__GradeRunResult *g = s.resp->grade_run;
        int64_t credit = 0;
        for (size_t k = 0; k < g->n_moves; k++)
            if (!strcmp(g->moves[k]->dimension, "credit") && !*g->moves[k]->from && !strcmp(g->moves[k]->to, "BB"))
                credit += g->moves[k]->customers;
        check(g->customers == graded && g->changed == 1 && credit == 1,
              "the held dry run as of D2: %lld customers, %lld changed, %lld credit moves to BB, expected %d, 1, 1",
              (long long)g->customers, (long long)g->changed, (long long)credit, graded);
    }
    kehu_response_free(s.resp);
    kehu_close(a);
    /* and the next run may go */
    r = grade_run(org.admin, D2, 1, C(OK), NULL);
    kehu_response_free(r);
    checks_done("one run at a time");
}

/* A dry run of the given kind by c, answered with code. */
static Kehu__V1__Response *run_kind(kehu_client *c, int D, const char *kind, int code)
{
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    m.as_of = (char *)dstr(D);
    m.kind = (char *)kind;
    m.dry_run = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &m;
    return it_call(c, &req, code);
}

/* Company-wide runs are head office's; a branch manager grades their own
 * branch only: a lifecycle run at any time, a full run where ABC ranks
 * within each branch. */
static void test_branch_scope(void **state)
{
    (void)state;
    int sh = 0, all = 0;
    for (int i = 0; i < NC; i++) {
        all += m2.graded[i];
        sh += m2.graded[i] && cs[i].branch == SH;
    }
    Kehu__V1__Response *r = run_kind(org.mgr, D2, "full", C(FAILED_PRECONDITION));
    check(strstr(r->status->message, "abc.scope") != NULL, "a branch manager's full run under company ranking: %s",
          r->status->message);
    kehu_response_free(r);
    r = run_kind(org.mgr, D2, "lifecycle", C(OK));
    check(r->grade_run && r->grade_run->customers == sh, "wang.fang's lifecycle run graded %lld customers, 上海分行 has %d",
          r->grade_run ? (long long)r->grade_run->customers : -1LL, sh);
    kehu_response_free(r);
    struct kv branch_scope[] = { { "abc.scope", "branch" } }, company_scope[] = { { "abc.scope", "company" } };
    kehu_response_free(policy_set(org.admin, branch_scope, 1, C(OK)));
    r = run_kind(org.mgr, D2, "full", C(OK));
    check(r->grade_run && r->grade_run->customers == sh, "wang.fang's full run graded %lld customers, 上海分行 has %d",
          r->grade_run ? (long long)r->grade_run->customers : -1LL, sh);
    kehu_response_free(r);
    r = run_kind(org.admin, D2, "full", C(OK));
    check(r->grade_run && r->grade_run->customers == all, "the admin's run graded %lld customers of %d",
          r->grade_run ? (long long)r->grade_run->customers : -1LL, all);
    kehu_response_free(r);
    kehu_response_free(policy_set(org.admin, company_scope, 1, C(OK)));
    kehu_response_free(run_kind(org.li, D2, "lifecycle", C(PERMISSION_DENIED)));
    checks_done("grading scope");
}

/* A run dated before today is a back-test: computed, reported, rolled back;
 * a live one only by an admin and never before the latest live run. */
static void test_backtest(void **state)
{
    (void)state;
    PGconn *pg = it_pg_open();
    static const char *const digest =
        "SELECT hashtextextended((SELECT count(*) FROM churn_warning)::text || '/' || (SELECT count(*) FROM followup)"
        " || '/' || (SELECT count(*) FROM grading_run) || '/' || (SELECT count(*) FROM grade_history) || '/' ||"
        " coalesce((SELECT string_agg(customer_id || ':' || recorded::text, ',' ORDER BY customer_id)"
        " FROM customer_grade), ''), 0)";
    int64_t before = it_pg_i64(pg, digest);
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    m.as_of = (char *)dstr(D1 - 30);
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &m;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    check(r->grade_run && r->grade_run->backtest && r->grade_run->dry_run && r->grade_run->run_id == 0 &&
              r->grade_run->customers > 0,
          "a run as of %s is a back-test: backtest %d dry %d run %lld customers %lld", dstr(D1 - 30),
          r->grade_run ? r->grade_run->backtest : -1, r->grade_run ? r->grade_run->dry_run : -1,
          r->grade_run ? (long long)r->grade_run->run_id : -1LL, r->grade_run ? (long long)r->grade_run->customers : -1LL);
    kehu_response_free(r);
    check(it_pg_i64(pg, digest) == before, "a back-test changed grades, history, runs, warnings or tasks");
    /* live: not before the latest live run; not by a branch manager */
    m.live = 1;
    r = it_call(org.admin, &req, C(FAILED_PRECONDITION));
    check(!strcmp(r->status->field, "as_of") && strstr(r->status->message, "back-test"),
          "a live run before the latest: %s [%s]", r->status->message, r->status->field);
    kehu_response_free(r);
    m.kind = "lifecycle";
    r = it_call(org.mgr, &req, C(PERMISSION_DENIED));
    check(!strcmp(r->status->field, "live"), "a branch manager's live back-dated run: %s [%s]", r->status->message,
          r->status->field);
    kehu_response_free(r);
    check(it_pg_i64(pg, digest) == before, "a refused run changed something");
    PQfinish(pg);
    checks_done("back-tests");
}

static const Kehu__V1__ContactDue *find_contact(const Kehu__V1__Followups *f, int i, const char *kind)
{
    for (size_t k = 0; k < f->n_contacts_due; k++)
        if (f->contacts_due[k]->customer_id == cid(i) && !strcmp(f->contacts_due[k]->kind, kind))
            return f->contacts_due[k];
    return NULL;
}

static void test_service_policy(void **state)
{
    (void)state;
    int t = today();
    int start = cs[A1].since; /* before its first purchase */
    Kehu__V1__Response *r = followup_due(org.li, 7);
    const Kehu__V1__Followups *f = r->followups;
    const Kehu__V1__ContactDue *v = find_contact(f, A1, "visit"), *c = find_contact(f, A1, "call");
    check(v && !strcmp(v->due, dstr(start + 30)) && v->overdue_days == t - (start + 30) && !*v->last &&
              !strcmp(v->grade, "A") && !strcmp(v->customer_name, "甲级客户"),
          "due: 甲级客户 visit due %s overdue %d last '%s' grade %s, expected %s, %d", v ? v->due : "(none)",
          v ? v->overdue_days : -1, v ? v->last : "-", v ? v->grade : "-", dstr(start + 30), t - (start + 30));
    check(c && !strcmp(c->due, dstr(start + 14)) && c->overdue_days == t - (start + 14) && !*c->last,
          "due: 甲级客户 call due %s overdue %d, expected %s, %d", c ? c->due : "(none)", c ? c->overdue_days : -1,
          dstr(start + 14), t - (start + 14));
    /* B: a call every 30 days, no visits; a given-up customer asks for nothing */
    check(!find_contact(f, B1, "visit") && find_contact(f, B1, "call") &&
              !strcmp(find_contact(f, B1, "call")->due, dstr(cs[B1].since + 30)),
          "due: 乙级客户 (B) should have a call due %s and no visit", dstr(cs[B1].since + 30));
    check(!find_contact(f, AMT, "call") && !find_contact(f, AMT, "visit"), "due: 额降客户 (churned) has contacts due");
    for (size_t k = 0; k < f->n_contacts_due; k++) {
        int i = index_of(f->contacts_due[k]->customer_id);
        check(i >= 0 && cs[i].owner == O_LI && strcmp(f->contacts_due[k]->kind, "owner") != 0,
              "due (li.lei): %s for customer %lld (%s)", f->contacts_due[k]->kind,
              (long long)f->contacts_due[k]->customer_id, i >= 0 ? cs[i].name : "?");
    }
    kehu_response_free(r);

    /* a visit today: the next visit is due in 30 days, the next contact in 14 */
    Kehu__V1__FollowupLog lg = KEHU__V1__FOLLOWUP_LOG__INIT;
    lg.customer_id = cid(A1);
    lg.kind = "visit";
    lg.outcome = "拜访顺利";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LOG;
    req.followup_log = &lg;
    kehu_response_free(it_call(org.li, &req, C(OK)));
    r = followup_due(org.li, 60);
    f = r->followups;
    v = find_contact(f, A1, "visit");
    c = find_contact(f, A1, "call");
    check(v && !strcmp(v->due, dstr(t + 30)) && v->overdue_days == 0 && !strcmp(v->last, dstr(t)),
          "due after a visit today: 甲级客户 visit due %s (last %s, overdue %d), expected %s", v ? v->due : "(none)",
          v ? v->last : "-", v ? v->overdue_days : -1, dstr(t + 30));
    check(c && !strcmp(c->due, dstr(t + 14)) && c->overdue_days == 0, "due after a visit today: call due %s, expected %s",
          c ? c->due : "(none)", dstr(t + 14));
    kehu_response_free(r);
    r = followup_due(org.li, 7); /* neither is due within a week now */
    check(!find_contact(r->followups, A1, "visit") && !find_contact(r->followups, A1, "call"),
          "due within 7 days after a visit today still lists 甲级客户");
    kehu_response_free(r);

    /* the branch manager, for themselves: A customers without an owner */
    r = followup_due(org.mgr, 7);
    f = r->followups;
    int flags = 0;
    for (size_t k = 0; k < f->n_contacts_due; k++) {
        const Kehu__V1__ContactDue *d = f->contacts_due[k];
        if (strcmp(d->kind, "owner") != 0)
            continue;
        flags++;
        int i = index_of(d->customer_id);
        check(i >= 0 && cs[i].owner == O_NONE && cs[i].branch == SH && !strcmp(m2.abc[i], "A") &&
                  !strcmp(d->grade, "A") && !*d->due,
              "due (wang.fang): owner flag for %lld (%s) grade %s due '%s'", (long long)d->customer_id,
              i >= 0 ? cs[i].name : "?", d->grade, d->due);
    }
    int want = 0;
    for (int i = 0; i < NC; i++)
        want += cs[i].owner == O_NONE && cs[i].branch == SH && !strcmp(m2.abc[i], "A");
    check(want == 1 && flags == want && find_contact(f, A2, "owner"), "due (wang.fang): %d owner flags, expected %d",
          flags, want);
    kehu_response_free(r);

    /* care today: 甲级客户 (A) has a birthday: a gift; 丙级客户 (C) too, but C gets no care */
    Kehu__V1__CareToday ct = KEHU__V1__CARE_TODAY__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CARE_TODAY;
    req.care_today = &ct;
    r = it_call(org.li, &req, C(OK));
    int gift = 0;
    for (size_t k = 0; k < r->care_tasks->n_tasks; k++) {
        const Kehu__V1__CareTask *x = r->care_tasks->tasks[k];
        int i = index_of(x->customer_id);
        check(i != C1, "care today: 丙级客户 (C) has a %s task", x->occasion);
        check(i >= 0 && cs[i].owner == O_LI && !strcmp(x->date, dstr(t)) && !strcmp(x->owner, "li.lei"),
              "care today: %s task for %lld (%s) on %s", x->occasion, (long long)x->customer_id,
              i >= 0 ? cs[i].name : "?", x->date);
        if (i == A1 && !strcmp(x->occasion, "birthday"))
            gift += !strcmp(x->action, "gift") && !strcmp(x->grade, "A") && !strcmp(x->customer_name, "甲级客户");
    }
    check(gift == 1, "care today: 甲级客户's birthday gift listed %d times", gift);
    kehu_response_free(r);

    /* the Spring Festival (from the festival calendar): A gets gifts, B greetings, C nothing */
    r = policy_show(org.li);
    char festival[11] = "2027-02-06";
    for (size_t k = 0; k < r->policy->n_festivals; k++)
        if (!strcmp(r->policy->festivals[k]->occasion, "spring_festival")) {
            snprintf(festival, sizeof festival, "%s", r->policy->festivals[k]->date);
            break;
        }
    kehu_response_free(r);
    ct.date = festival;
    r = it_call(org.li, &req, C(OK));
    int got[NC] = { 0 };
    for (size_t k = 0; k < r->care_tasks->n_tasks; k++) {
        const Kehu__V1__CareTask *x = r->care_tasks->tasks[k];
        int i = index_of(x->customer_id);
        if (i < 0 || strcmp(x->occasion, "spring_festival") != 0)
            continue;
        got[i]++;
        const char *act = !strcmp(m2.abc[i], "A") ? "gift" : "greeting";
        check(!strcmp(x->action, act) && !strcmp(x->date, festival) && !strcmp(x->grade, m2.abc[i]),
              "care on %s: %s (%s) gets %s, expected %s", festival, cs[i].name, x->grade, x->action, act);
    }
    for (int i = 0; i < NC; i++) {
        if (status_churned[i]) { /* given up: not asserted (see the report) */
            if (got[i])
                print_message("it_grade_service: note: care on %s lists %s, whose status is churned\n", festival,
                              cs[i].name);
            continue;
        }
        int w = cs[i].owner == O_LI && m2.graded[i] && strcmp(m2.abc[i], "C") != 0;
        check(got[i] == w, "care on %s: %s (%s) has %d spring_festival tasks, expected %d", festival, cs[i].name,
              m2.abc[i], got[i], w);
    }
    check(got[A1] == 1 && got[B1] == 1, "care on %s: expected a gift for 甲级客户 and a greeting for 乙级客户",
          festival);
    kehu_response_free(r);
    checks_done("service policy");
}

/* ---------------------------------------------------------------- the command line */

static int kehu(struct it_cli *c, const char *const *env, const char *const *args)
{
    return it_cli_run(c, env, args);
}

/* Where the JSON value that starts at p ends (p at its first character). */
static const char *json_skip(const char *p)
{
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1])
                p++;
        return *p ? p + 1 : p;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; *p; p++) {
            if (*p == '"') {
                p = json_skip(p) - 1;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
        }
        return p;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != '\n')
        p++;
    return p;
}

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* The members of the object at p: keys[k] (up to n) and where each value starts. Returns the count. */
static int json_members(const char *p, char keys[][40], const char **vals, int n)
{
    int k = 0;
    p = ws(p);
    if (*p != '{')
        return -1;
    p = ws(p + 1);
    while (*p == '"') {
        const char *e = json_skip(p);
        if (k < n) {
            snprintf(keys[k], 40, "%.*s", (int)(e - p - 2), p + 1);
            vals[k] = NULL;
        }
        p = ws(e);
        if (*p != ':')
            return -1;
        p = ws(p + 1);
        if (k < n)
            vals[k] = p;
        k++;
        p = ws(json_skip(p));
        if (*p == ',')
            p = ws(p + 1);
    }
    return *p != '}' ? -1 : k < n ? k : n;
}

static const char *member(char keys[][40], const char **vals, int n, const char *key)
{
    for (int k = 0; k < n; k++)
        if (!strcmp(keys[k], key))
            return vals[k];
    return NULL;
}

static void test_cli(void **state)
{
    (void)state;
    it_cli_expect(&cli_admin, kehu(&cli_admin, IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin")),
                  0, NULL);
    it_cli_expect(&cli_li, kehu(&cli_li, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), IT_ARGS("login", "li.lei")), 0, NULL);

    /* report abc --json: one object; run_id, metric, rows A, B, C */
    Kehu__V1__Response *pr = report(org.admin, (struct rq){ .kind = "abc" }, C(OK));
    it_cli_expect(&cli_admin, kehu(&cli_admin, NULL, IT_ARGS("--json", "report", "abc")), 0, NULL);
    const char *out = cli_admin.out;
    const char *end = json_skip(ws(out));
    check(*ws(out) == '{' && *ws(end) == 0, "report --json: not exactly one JSON object:\n%s", out);
    char keys[64][40];
    const char *vals[64];
    int n = json_members(out, keys, vals, 64);
    check(n > 0, "report --json: cannot read the object:\n%s", out);
    const char *v = member(keys, vals, n, "run_id");
    check(v && strtoll(v, NULL, 10) == pr->report->run_id, "report --json: run_id %.20s, expected %lld", v ? v : "-",
          (long long)pr->report->run_id);
    v = member(keys, vals, n, "metric");
    check(v && !strncmp(v, "\"revenue\"", 9), "report --json: metric %.20s", v ? v : "-");
    v = member(keys, vals, n, "rows");
    check(v && *v == '[', "report --json: no rows array");
    int row = 0;
    if (v && *v == '[') {
        const char *p = ws(v + 1);
        while (*p == '{') {
            char rk[16][40];
            const char *rv[16];
            int rn = json_members(p, rk, rv, 16);
            const char *g = member(rk, rv, rn, "grade"), *cu = member(rk, rv, rn, "customers"),
                       *csh = member(rk, rv, rn, "customer_share"), *mt = member(rk, rv, rn, "metric_total"),
                       *msh = member(rk, rv, rn, "metric_share");
            char want[8];
            snprintf(want, sizeof want, "\"%s\"", row < 3 ? abc_grades[row] : "?");
            check(g && !strncmp(g, want, strlen(want)), "report --json: row %d grade %.8s, expected %s", row,
                  g ? g : "-", want);
            const Kehu__V1__ReportRow *pw = row < (int)pr->report->n_rows ? pr->report->rows[row] : NULL;
            check(cu && pw && strtoll(cu, NULL, 10) == pw->customers, "report --json: row %d customers %.10s", row,
                  cu ? cu : "-");
            check(csh && msh && pw && fabs(strtod(csh, NULL) - pw->customer_share) < 1e-6 &&
                      fabs(strtod(msh, NULL) - pw->metric_share) < 1e-6,
                  "report --json: row %d shares %.12s %.12s", row, csh ? csh : "-", msh ? msh : "-");
            /* money as a decimal string */
            char money_want[40];
            snprintf(money_want, sizeof money_want, "\"%s\"", pw ? money(pw->metric_total_minor) : "?");
            check(mt && !strncmp(mt, money_want, strlen(money_want)), "report --json: row %d metric_total %.24s, "
                  "expected %s", row, mt ? mt : "-", money_want);
            row++;
            p = ws(json_skip(p));
            if (*p == ',')
                p = ws(p + 1);
        }
    }
    check(row == 3, "report --json: %d rows, expected 3", row);
    kehu_response_free(pr);

    /* customer show --json: the grades as an object */
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)cid(A1));
    it_cli_expect(&cli_admin, kehu(&cli_admin, NULL, IT_ARGS("--json", "customer", "show", id)), 0, NULL);
    n = json_members(cli_admin.out, keys, vals, 64);
    v = n > 0 ? member(keys, vals, n, "grades") : NULL;
    check(v && *v == '{', "customer show --json: no \"grades\" object:\n%s", cli_admin.out);
    if (v && *v == '{') {
        char gk[16][40];
        const char *gv[16];
        int gn = json_members(v, gk, gv, 16);
        const char *abc = member(gk, gv, gn, "abc"), *life = member(gk, gv, gn, "lifecycle");
        check(abc && !strncmp(abc, "\"A\"", 3) && life && *life == '"', "customer show --json: grades abc %.6s",
              abc ? abc : "-");
    }

    /* grade run --dry-run --json: no run id, the counts */
    it_cli_expect(&cli_admin, kehu(&cli_admin, NULL, IT_ARGS("grade", "run", "--dry-run", "--json")), 0, NULL);
    n = json_members(cli_admin.out, keys, vals, 64);
    v = n > 0 ? member(keys, vals, n, "run_id") : NULL;
    check(v && !strncmp(v, "null", 4), "grade run --dry-run --json: run_id %.10s\n%s", v ? v : "-", cli_admin.out);
    v = n > 0 ? member(keys, vals, n, "dry_run") : NULL;
    check(v && !strncmp(v, "true", 4), "grade run --dry-run --json: dry_run %.10s", v ? v : "-");
    v = n > 0 ? member(keys, vals, n, "customers") : NULL;
    check(v && strtoll(v, NULL, 10) == NC, "grade run --dry-run --json: customers %.10s, expected %d", v ? v : "-", NC);
    v = n > 0 ? member(keys, vals, n, "counts") : NULL;
    check(v && *v == '[' && strstr(v, "\"dimension\": \"abc\""), "grade run --dry-run --json: no abc counts");
    it_cli_expect(&cli_li, kehu(&cli_li, NULL, IT_ARGS("grade", "run", "--dry-run")), 1, "PERMISSION_DENIED");

    /* a grade that does not exist: refused by the server, exit 1 */
    int rc = kehu(&cli_admin, NULL,
                  IT_ARGS("grade", "override", id, "--dimension", "abc", "--grade", "Z", "--reason", "测试"));
    check(rc == 1 && strstr(cli_admin.err, "INVALID_ARGUMENT"), "grade override --grade Z: exit %d, stderr %s", rc,
          cli_admin.err);
    Kehu__V1__Response *r = grade_show(org.admin, A1, C(OK));
    const Kehu__V1__Grade *g = find_grade(r->grades->grades, r->grades->n_grades, "abc");
    check(g && !g->overridden && r->grades->n_overrides == 0, "grade override --grade Z left an override");
    kehu_response_free(r);

    /* the human tables name the customer */
    it_cli_expect(&cli_li, kehu(&cli_li, NULL, IT_ARGS("care", "today")), 0, "甲级客户");
    check(strstr(cli_li.out, "丙级客户") == NULL, "care today lists 丙级客户 (C):\n%s", cli_li.out);
    check(strstr(cli_li.out, "birthday") && strstr(cli_li.out, "gift"), "care today: no birthday gift:\n%s",
          cli_li.out);
    it_cli_expect(&cli_li, kehu(&cli_li, NULL, IT_ARGS("followup", "due")), 0, "丙级客户");
    check(strstr(cli_li.out, "乙级客户") != NULL, "followup due lacks 乙级客户:\n%s", cli_li.out);
    it_cli_expect(&cli_li, kehu(&cli_li, NULL, IT_ARGS("followup", "due", "--days", "60")), 0, "甲级客户");
    checks_done("the command line");
}

/* kehud restarted with --grade_schedule 1 makes this month's full run by
 * itself, once. */
/* Complaints and satisfaction reach the churn rules through
 * customer_service_signals, which the cases migration will fill: standing
 * in for it, a function with fixed signals for three customers. */
static void test_service_signals(void **state)
{
    (void)state;
    PGconn *pg = it_pg_open();
    int64_t ids[3];
    PGresult *q = PQexec(pg, "SELECT g.customer_id FROM customer_grade g JOIN customer c ON c.id = g.customer_id"
                             " WHERE g.lifecycle <> 'churned' AND c.status <> 'churned' ORDER BY g.customer_id LIMIT 3");
    assert_int_equal(PQntuples(q), 3);
    for (int k = 0; k < 3; k++)
        ids[k] = strtoll(PQgetvalue(q, k, 0), NULL, 10);
    PQclear(q);
    char sql[1024];
    /* 0: two complaints (the default limit); 1: satisfaction 2.5 against 4.5; 2: one complaint and a small dip */
    snprintf(sql, sizeof sql,
             "CREATE OR REPLACE FUNCTION customer_service_signals(d date, recent_days integer, baseline_days integer)"
             " RETURNS TABLE (customer_id bigint, complaints bigint, satisfaction_recent numeric,"
             " satisfaction_baseline numeric) LANGUAGE sql STABLE AS $$"
             " VALUES (%lld::bigint, 2::bigint, NULL::numeric, NULL::numeric), (%lld, 0, 2.5, 4.5), (%lld, 1, 4.0, 4.5) $$",
             (long long)ids[0], (long long)ids[1], (long long)ids[2]);
    it_pg_do(pg, sql);
    Kehu__V1__Response *r = grade_run(org.admin, D2, 0, C(OK), NULL);
    kehu_response_free(r);
    const char *want[3] = { "complaints", "satisfaction_drop", NULL };
    r = churn_list(org.admin, NULL);
    for (int k = 0; k < 3; k++) {
        int has_complaints = 0, has_satisfaction = 0;
        for (size_t j = 0; j < r->churn_warnings->n_warnings; j++) {
            const Kehu__V1__ChurnWarning *w = r->churn_warnings->warnings[j];
            if (w->customer_id != ids[k])
                continue;
            for (size_t x = 0; x < w->n_reasons; x++) {
                has_complaints |= !strcmp(w->reasons[x], "complaints");
                has_satisfaction |= !strcmp(w->reasons[x], "satisfaction_drop");
            }
        }
        int want_c = want[k] && !strcmp(want[k], "complaints"), want_s = want[k] && !strcmp(want[k], "satisfaction_drop");
        check(has_complaints == want_c && has_satisfaction == want_s,
              "signals: customer %lld has complaints %d satisfaction_drop %d, expected %d %d", (long long)ids[k],
              has_complaints, has_satisfaction, want_c, want_s);
    }
    kehu_response_free(r);
    it_pg_do(pg,
             "CREATE OR REPLACE FUNCTION customer_service_signals(d date, recent_days integer, baseline_days integer)"
             " RETURNS TABLE (customer_id bigint, complaints bigint, satisfaction_recent numeric,"
             " satisfaction_baseline numeric) LANGUAGE sql STABLE AS $$"
             " SELECT NULL::bigint, NULL::bigint, NULL::numeric, NULL::numeric WHERE false $$");
    PQfinish(pg);
    checks_done("complaint and satisfaction signals");
}

static void test_schedule(void **state)
{
    (void)state;
    it_org_close(&org);
    PGconn *pg = it_pg_open();
    int64_t before = it_pg_i64(pg, "SELECT coalesce(max(id), 0) FROM grading_run");
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM grading_run WHERE NOT dry_run AND as_of >= current_date"), 0);
    if (th_kehud_start(&it_env, IT_ARGS("--grade_schedule", "1")) < 0) {
        PQfinish(pg);
        fail_msg("kehud did not start with --grade_schedule 1");
    }
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM grading_run WHERE id > %lld AND NOT dry_run AND duration_ms IS NOT NULL",
             (long long)before);
    int64_t t0 = it_now_ms(), runs = 0;
    while ((runs = it_pg_i64(pg, sql)) == 0 && it_now_ms() - t0 < 20000)
        usleep(100000);
    check(runs == 1, "schedule: %lld runs within %lld ms of the start", (long long)runs, (long long)(it_now_ms() - t0));
    print_message("it_grade_service: the scheduled run came %lld ms after kehud started\n",
                  (long long)(it_now_ms() - t0));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM grading_run WHERE id > %lld AND kind = 'full' AND as_of = current_date"
             " AND started_by IS NULL",
             (long long)before);
    check(it_pg_i64(pg, sql) == 1, "schedule: the run is not a full run as of today, started by nobody");
    /* the people see it */
    kehu_client *a = it_admin();
    Kehu__V1__Response *r = report(a, (struct rq){ .kind = "abc" }, C(OK));
    check(r->report->run_id > before && !strcmp(r->report->as_of, dstr(today())),
          "schedule: report abc is of run %lld as of %s, expected a run after %lld as of %s",
          (long long)r->report->run_id, r->report->as_of, (long long)before, dstr(today()));
    int64_t n = 0;
    for (size_t k = 0; k < r->report->n_rows; k++)
        n += r->report->rows[k]->customers;
    check(n == NC, "schedule: the scheduled run graded %lld customers, expected %d", (long long)n, NC);
    kehu_response_free(r);
    r = grade_show(a, A1, C(OK));
    check(r->grades->run_id > before && !strcmp(r->grades->as_of, dstr(today())),
          "schedule: 甲级客户 last graded by run %lld as of %s", (long long)r->grades->run_id, r->grades->as_of);
    kehu_response_free(r);
    /* and only one: the schedule looks every second */
    sleep(3);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM grading_run WHERE id > %lld", (long long)before);
    check(it_pg_i64(pg, sql) == 1, "schedule: %lld runs after 3 more seconds, expected 1",
          (long long)it_pg_i64(pg, sql));
    kehu_close(a);
    PQfinish(pg);
    checks_done("the schedule");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_before_first_run),
        cmocka_unit_test(test_first_run_events),
        cmocka_unit_test(test_churn_warnings),
        cmocka_unit_test(test_reports),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_branch_scope),
        cmocka_unit_test(test_backtest),
        cmocka_unit_test(test_service_policy),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_service_signals),
        cmocka_unit_test(test_schedule),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
