/* Rules that agree (docs/grading.md): asset tiers drive service, the
 * four-level grade combines sales, credit and influence, the sales grade's
 * thresholds fit the base (quantiles), assets falling raise a churn
 * warning, leadership and team contacts reach the right people, the policy
 * refuses contradictions (or, forced, warns), and new relationships have a
 * pool rule of their own.
 *
 * A small base written straight into the test database, T = today:
 *   存款大户 li.lei's, 3,000,000 yuan deposited, no purchase in the year
 *            (ABC C), birthday today; at R2 its deposits fell to 600,000
 *   欠款大户 li.lei's, the biggest buyer, a credit sale 159 days overdue
 *   重点客户 li.lei's, second biggest (ABC B)
 *   新开户   li.lei's, since T-30 (new)
 *   老客户丙 li.lei's, one small purchase (C)
 *   普通客户01..20 zhang.wei's, 10,000 .. 200,000 yuan each
 * R1 full as of T-1, R2 full as of T (both live). */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static struct it_cli cli;

enum { DEP, BAD, KEY, NEW1, OLDC, F1, NC = F1 + 20 };

static int64_t cid(int i)
{
    return 3001 + i;
}

static const char *day(int delta)
{
    static char ring[16][16];
    static int next;
    char *s = ring[next++ % 16];
    time_t t = time(NULL) + (time_t)delta * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s, 16, "%Y-%m-%d", &tm);
    return s;
}

static void load(void)
{
    PGconn *pg = it_pg_open();
    int64_t sh = it_pg_i64(pg, "SELECT id FROM org_unit WHERE name = '上海分行'");
    int64_t li = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'li.lei'");
    int64_t zh = it_pg_i64(pg, "SELECT id FROM app_user WHERE username = 'zhang.wei'");
    char *sql = malloc(1 << 16);
    assert_non_null(sql);
    size_t n = 0, cap = 1 << 16;
#define OUT(...) (n += (size_t)snprintf(sql + n, cap - n, __VA_ARGS__), assert_true(n < cap))
    OUT("SET kehu.bulk = 'on'; BEGIN;\nINSERT INTO customer (id, branch_id, owner_id, name, since, birth) VALUES\n");
    OUT("(%lld, %lld, %lld, '存款大户', '%s', '1980-%s'),\n", (long long)cid(DEP), (long long)sh, (long long)li,
        day(-800), day(0) + 5);
    OUT("(%lld, %lld, %lld, '欠款大户', '%s', NULL),\n", (long long)cid(BAD), (long long)sh, (long long)li, day(-800));
    OUT("(%lld, %lld, %lld, '重点客户', '%s', NULL),\n", (long long)cid(KEY), (long long)sh, (long long)li, day(-800));
    OUT("(%lld, %lld, %lld, '新开户', '%s', NULL),\n", (long long)cid(NEW1), (long long)sh, (long long)li, day(-30));
    OUT("(%lld, %lld, %lld, '老客户丙', '%s', NULL)", (long long)cid(OLDC), (long long)sh, (long long)li, day(-800));
    for (int i = 0; i < 20; i++)
        OUT(",\n(%lld, %lld, %lld, '普通客户%02d', '%s', NULL)", (long long)cid(F1 + i), (long long)sh, (long long)zh,
            i + 1, day(-800));
    OUT(";\nINSERT INTO txn (branch_id, customer_id, date, amount) VALUES\n");
    OUT("(%lld, %lld, '%s', 500)", (long long)sh, (long long)cid(DEP), day(-500));
    for (int k = 1; k <= 12; k++)
        OUT(",\n(%lld, %lld, '%s', 100000)", (long long)sh, (long long)cid(BAD), day(-30 * k + 10));
    OUT(",\n(%lld, %lld, '%s', 300000)", (long long)sh, (long long)cid(KEY), day(-60));
    OUT(",\n(%lld, %lld, '%s', 1000)", (long long)sh, (long long)cid(OLDC), day(-100));
    for (int i = 0; i < 20; i++)
        OUT(",\n(%lld, %lld, '%s', %d)", (long long)sh, (long long)cid(F1 + i), day(-60), (i + 1) * 10000);
    /* a credit sale never paid, due 160 days ago */
    OUT(";\nINSERT INTO txn (branch_id, customer_id, date, amount, on_credit, due) VALUES"
        " (%lld, %lld, '%s', 50000, true, '%s');\n",
        (long long)sh, (long long)cid(BAD), day(-190), day(-160));
    OUT("INSERT INTO asset_snapshot (branch_id, customer_id, date, balance) VALUES (%lld, %lld, '%s', 3000000);\n",
        (long long)sh, (long long)cid(DEP), day(-200));
    OUT("SELECT setval('customer_id_seq', (SELECT max(id) FROM customer));\nCOMMIT;");
#undef OUT
    it_pg_do(pg, sql);
    free(sql);
    PQfinish(pg);
}

static Kehu__V1__Response *grade_run(kehu_client *c, int delta)
{
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    m.as_of = (char *)day(delta);
    m.live = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    assert_non_null(r->grade_run);
    return r;
}

static Kehu__V1__Response *grade_show(kehu_client *c, int i)
{
    Kehu__V1__GradeShow m = KEHU__V1__GRADE_SHOW__INIT;
    m.customer_id = cid(i);
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_SHOW;
    req.grade_show = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    assert_non_null(r->grades);
    return r;
}

static const char *grade_in(const Kehu__V1__CustomerGrades *g, const char *dim)
{
    for (size_t k = 0; k < g->n_grades; k++)
        if (strcmp(g->grades[k]->dimension, dim) == 0)
            return g->grades[k]->grade;
    return "";
}

/* Sets key=value pairs ("k", "v", ..., NULL); expects code (and field when refused). */
static Kehu__V1__Response *policy_set(kehu_client *c, int force, int code, const char *field, ...)
{
    Kehu__V1__FieldValue fv[8], *pv[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, field);
    for (const char *k; (k = va_arg(ap, const char *)) && n < 8; n++) {
        kehu__v1__field_value__init(&fv[n]);
        fv[n].field = (char *)k;
        fv[n].value = va_arg(ap, char *);
        pv[n] = &fv[n];
    }
    va_end(ap);
    Kehu__V1__GradePolicySet m = KEHU__V1__GRADE_POLICY_SET__INIT;
    m.values = pv;
    m.n_values = n;
    m.force = force;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_POLICY_SET;
    req.grade_policy_set = &m;
    if (code != C(OK)) {
        it_expect(c, &req, code, field);
        return NULL;
    }
    return it_call(c, &req, C(OK));
}

static Kehu__V1__Response *due(kehu_client *c)
{
    Kehu__V1__FollowupDue m = KEHU__V1__FOLLOWUP_DUE__INIT;
    m.days = 7;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_DUE;
    req.followup_due = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    assert_non_null(r->followups);
    return r;
}

/* The policy contact of that kind for customer i in a due list, or NULL. */
static const Kehu__V1__ContactDue *due_of(const Kehu__V1__Followups *f, int i, const char *kind)
{
    for (size_t k = 0; k < f->n_contacts_due; k++)
        if (f->contacts_due[k]->customer_id == cid(i) && strcmp(f->contacts_due[k]->kind, kind) == 0)
            return f->contacts_due[k];
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    if (it_cli_open(&cli) < 0 || th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    load();
    return 0;
}

static int teardown(void **state)
{
    it_org_close(&org);
    it_cli_close(&cli);
    return it_teardown(state);
}

/* R1: the sales grade's thresholds come from the base; the distribution is reported. */
static void test_thresholds(void **state)
{
    (void)state;
    Kehu__V1__Response *r = grade_run(org.admin, -1);
    const Kehu__V1__GradeRunResult *g = r->grade_run;
    int64_t vol_a = 0, vol_d = 0, high = 0;
    for (size_t k = 0; k < g->n_counts; k++) {
        const Kehu__V1__GradeCount *x = g->counts[k];
        if (!strcmp(x->dimension, "volume") && !strcmp(x->grade, "A"))
            vol_a = x->customers;
        if (!strcmp(x->dimension, "volume") && !strcmp(x->grade, "D"))
            vol_d = x->customers;
        if (!strcmp(x->dimension, "value_tier") && !strcmp(x->grade, "high"))
            high = x->customers;
    }
    /* 23 buyers: the top 10% (3) sales grade A, one of them held one lower by its credit */
    print_message("it_grade_rules: volume A %lld, D %lld, value high %lld of %lld\n", (long long)vol_a,
                  (long long)vol_d, (long long)high, (long long)g->customers);
    assert_int_equal(vol_a, 2);
    assert_true(vol_d < g->customers / 2);
    assert_true(high >= 1);
    assert_non_null(strstr(g->params, "\"volume.a_min_used\""));
    kehu_response_free(r);
}

/* A depositor graded C by contribution gets the service of A, says why, and its contacts and care. */
static void test_asset_tier_service(void **state)
{
    (void)state;
    Kehu__V1__Response *r = grade_show(org.li, DEP);
    const Kehu__V1__CustomerGrades *g = r->grades;
    assert_string_equal(grade_in(g, "abc"), "C");
    assert_string_equal(grade_in(g, "asset_tier"), "vip");
    assert_string_equal(g->service_level, "A");
    assert_non_null(strstr(g->service_reason, "asset tier vip"));
    assert_non_null(strstr(g->service, "a contact every 14 days"));
    kehu_response_free(r);

    r = due(org.li);
    const Kehu__V1__ContactDue *d = due_of(r->followups, DEP, "call");
    assert_non_null(d);
    assert_string_equal(d->grade, "A");
    assert_string_equal(d->by, "owner");
    assert_non_null(due_of(r->followups, DEP, "visit"));
    /* the leader's contact is not the owner's */
    assert_null(due_of(r->followups, DEP, "leader_call"));
    kehu_response_free(r);

    /* the branch manager gets the leader's monthly contact */
    r = due(org.mgr);
    d = due_of(r->followups, DEP, "leader_call");
    assert_non_null(d);
    assert_string_equal(d->by, "branch_manager");
    assert_null(due_of(r->followups, DEP, "call"));
    kehu_response_free(r);

    /* birthday care as an A customer: a gift */
    Kehu__V1__CareToday m = KEHU__V1__CARE_TODAY__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CARE_TODAY;
    req.care_today = &m;
    r = it_call(org.li, &req, C(OK));
    int found = 0;
    for (size_t k = 0; k < r->care_tasks->n_tasks; k++)
        if (r->care_tasks->tasks[k]->customer_id == cid(DEP) && !strcmp(r->care_tasks->tasks[k]->occasion, "birthday")) {
            found = 1;
            assert_string_equal(r->care_tasks->tasks[k]->action, "gift");
        }
    assert_true(found);
    kehu_response_free(r);

    /* a complaint opened on it is served as an A customer's: A's priority first */
    Kehu__V1__CaseOpen co = KEHU__V1__CASE_OPEN__INIT;
    co.customer_id = cid(DEP);
    co.nature = "complaint";
    co.kind = "service";
    co.severity = 2;
    co.channel = "phone";
    co.title = "等候时间太长";
    req.op_case = KEHU__V1__REQUEST__OP_CASE_OPEN;
    req.case_open = &co;
    r = it_call(org.li, &req, C(OK));
    assert_string_equal(r->case_->grade, "A");
    assert_int_equal(r->case_->priority, 1);
    kehu_response_free(r);

    /* service.level = abc: the ABC grade alone */
    kehu_response_free(policy_set(org.admin, 0, C(OK), NULL, "service.level", "abc", NULL));
    r = grade_show(org.li, DEP);
    assert_string_equal(r->grades->service_level, "C");
    kehu_response_free(r);
    kehu_response_free(policy_set(org.admin, 0, C(OK), NULL, "service.level", "higher", NULL));
}

/* Credit holds the top grades and the four-level grade, and grade show says why. */
static void test_credit(void **state)
{
    (void)state;
    Kehu__V1__Response *r = grade_show(org.li, BAD);
    const Kehu__V1__CustomerGrades *g = r->grades;
    assert_string_equal(grade_in(g, "credit"), "CC");
    assert_string_equal(grade_in(g, "abc"), "B");
    assert_non_null(strstr(g->abc_note, "held at B"));
    assert_string_equal(grade_in(g, "volume"), "B");
    assert_non_null(strstr(g->volume_note, "sales grade A"));
    assert_non_null(strstr(g->volume_note, "credit CC"));
    kehu_response_free(r);
    r = grade_show(org.li, KEY);
    assert_string_equal(grade_in(r->grades, "volume"), "A");
    assert_string_equal(r->grades->volume_note, "");
    kehu_response_free(r);
}

/* Contradictions within the policy: refused naming the key, or forced and warned. */
static void test_policy_crosscheck(void **state)
{
    (void)state;
    policy_set(org.admin, 0, C(INVALID_ARGUMENT), "lifecycle.cycle_silent", "lifecycle.cycle_silent", "5", NULL);
    policy_set(org.admin, 0, C(INVALID_ARGUMENT), "service.A.sla_factor", "service.B.sla_factor", "0.4", NULL);
    policy_set(org.admin, 0, C(INVALID_ARGUMENT), "service.B.visit_by", "service.B.visit_by", "team:没有这个组", NULL);
    policy_set(org.admin, 0, C(INVALID_ARGUMENT), "service.B.visit_by", "service.B.visit_by", "president", NULL);
    Kehu__V1__Response *r = policy_set(org.admin, 1, C(OK), NULL, "lifecycle.cycle_silent", "5", NULL);
    int warned = 0;
    for (size_t k = 0; k < r->policy->n_warnings; k++)
        warned |= strstr(r->policy->warnings[k], "cycle_silent") != NULL;
    assert_true(warned);
    kehu_response_free(r);
    /* a set that mends it is accepted unforced */
    kehu_response_free(policy_set(org.admin, 0, C(OK), NULL, "lifecycle.cycle_silent", "2", NULL));
}

/* A named team makes the B customers' visits: on its members' due lists, not only the owner's. */
static void test_team_contacts(void **state)
{
    (void)state;
    kehu_response_free(policy_set(org.admin, 0, C(OK), NULL, "service.B.visit_days", "30", "service.B.visit_by",
                                  "team:上海一组", NULL));
    Kehu__V1__Response *r = due(org.mgr); /* wang.fang is not in the team */
    assert_null(due_of(r->followups, KEY, "visit"));
    kehu_response_free(r);
    r = due(org.li); /* li.lei is in it */
    const Kehu__V1__ContactDue *d = due_of(r->followups, KEY, "visit");
    assert_non_null(d);
    assert_string_equal(d->by, "team:上海一组");
    assert_string_equal(d->grade, "B");
    kehu_response_free(r);
    kehu_response_free(policy_set(org.admin, 0, C(OK), NULL, "service.B.visit_days", "0", "service.B.visit_by",
                                  "owner", NULL));
}

static Kehu__V1__Response *pool_rules(kehu_client *c, int force, int code, const char *field, const char *k,
                                      const char *v)
{
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *pv[] = { &fv };
    fv.field = (char *)k;
    fv.value = (char *)v;
    Kehu__V1__PoolRules m = KEHU__V1__POOL_RULES__INIT;
    if (k) {
        m.set = pv;
        m.n_set = 1;
    }
    m.force = force;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_POOL_RULES;
    req.pool_rules = &m;
    if (code != C(OK)) {
        it_expect(c, &req, code, field);
        return NULL;
    }
    return it_call(c, &req, C(OK));
}

/* New relationships have a pool rule of their own: not recycled with the other C customers. */
static void test_pool_new(void **state)
{
    (void)state;
    Kehu__V1__Response *r = pool_rules(org.admin, 0, C(OK), NULL, NULL, NULL);
    int has_new = 0;
    for (size_t k = 0; k < r->pool_rule_list->n_rules; k++)
        if (!strcmp(r->pool_rule_list->rules[k]->grade, "new")) {
            has_new = 1;
            assert_true(r->pool_rule_list->rules[k]->followup_days >= 180);
            assert_int_equal(r->pool_rule_list->rules[k]->txn_days, 0);
        }
    assert_true(has_new);
    kehu_response_free(r);

    Kehu__V1__PoolRecycle m = KEHU__V1__POOL_RECYCLE__INIT;
    m.as_of = (char *)day(130);
    m.dry_run = 1;
    m.limit = 1000;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_POOL_RECYCLE;
    req.pool_recycle = &m;
    r = it_call(org.admin, &req, C(OK));
    int old_c = 0, new_c = 0;
    for (size_t k = 0; k < r->pool_recycled->n_customers; k++) {
        old_c |= r->pool_recycled->customers[k]->customer_id == cid(OLDC);
        new_c |= r->pool_recycled->customers[k]->customer_id == cid(NEW1);
    }
    assert_true(old_c);
    assert_false(new_c);
    kehu_response_free(r);

    /* a limit shorter than new_months contradicts the rule's purpose */
    pool_rules(org.admin, 0, C(INVALID_ARGUMENT), "new.followup_days", "new.followup_days", "60");
    r = pool_rules(org.admin, 1, C(OK), NULL, "new.followup_days", "60");
    assert_true(r->pool_rule_list->n_warnings >= 1);
    kehu_response_free(r);
    kehu_response_free(pool_rules(org.admin, 0, C(OK), NULL, "new.followup_days", "180"));
}

/* R2: the depositor's assets fell: a churn warning with the assets at risk. */
static void test_aum_drop(void **state)
{
    (void)state;
    PGconn *pg = it_pg_open();
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO asset_snapshot (branch_id, customer_id, date, balance)"
             " SELECT branch_id, id, '%s', 600000 FROM customer WHERE id = %lld",
             day(0), (long long)cid(DEP));
    it_pg_do(pg, sql);
    PQfinish(pg);
    kehu_response_free(grade_run(org.admin, 0));
    Kehu__V1__ChurnList m = KEHU__V1__CHURN_LIST__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_LIST;
    req.churn_list = &m;
    Kehu__V1__Response *r = it_call(org.li, &req, C(OK));
    int found = 0;
    for (size_t k = 0; k < r->churn_warnings->n_warnings; k++) {
        const Kehu__V1__ChurnWarning *w = r->churn_warnings->warnings[k];
        if (w->customer_id != cid(DEP))
            continue;
        found = 1;
        int aum = 0;
        for (size_t j = 0; j < w->n_reasons; j++)
            aum |= !strcmp(w->reasons[j], "aum_drop");
        assert_true(aum);
        assert_true(w->value_at_risk > 0);
    }
    assert_true(found);
    kehu_response_free(r);
}

/* The command line: grade show says the service level and why; a run shows the sales thresholds it used. */
static void test_cli(void **state)
{
    (void)state;
    it_cli_expect(&cli, it_cli_run(&cli, IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin")), 0,
                  NULL);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)cid(DEP));
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("grade", "show", id)), 0, "from asset tier");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("grade", "run", "--dry-run")), 0, "sales grade from");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("grade", "run", "--dry-run")), 0, "volume");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thresholds),   cmocka_unit_test(test_asset_tier_service),
        cmocka_unit_test(test_credit),       cmocka_unit_test(test_policy_crosscheck),
        cmocka_unit_test(test_team_contacts), cmocka_unit_test(test_pool_new),
        cmocka_unit_test(test_aum_drop),     cmocka_unit_test(test_cli),
    };
    return it_finish(cmocka_run_group_tests_name("it_grade_rules", tests, setup, teardown));
}
