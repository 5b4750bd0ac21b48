/* Reassignment (issue 5): one customer, a list, a filter, a leaving user's
 * customers spread by capacity; dry runs that show exactly what the real
 * run does; refusals that change nothing; scope; follow-ups moving along;
 * the owner history; undo; events; the performance split of handovers
 * across regions; 10,000 customers moved atomically; and the command line.
 *
 * The organisation is it_org_build's plus 华北区 > 天津分行 (tj.am, tj.mgr)
 * and more account managers in 上海一组. Customers are written straight
 * into the database (as it_grade.c loads its data). */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static kehu_client *tj_mgr, *tj_am;
static struct it_cli cli_admin;

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

/* The username of a customer's owner ("" none), in a static buffer. */
static const char *owner_of(int64_t id)
{
    static char buf[8][64];
    static int k;
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(u.username, '') FROM customer c LEFT JOIN app_user u ON u.id = c.owner_id WHERE c.id = %lld",
             (long long)id);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    char *out = buf[k++ % 8];
    snprintf(out, 64, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static int64_t user_id(const char *username)
{
    return pg_i64("SELECT id FROM app_user WHERE username = '%s'", username);
}

static int64_t add_customer(const char *name, const char *owner, const char *branch, const char *tag)
{
    return pg_i64("INSERT INTO customer (branch_id, owner_id, name, tags) VALUES ((SELECT id FROM org_unit WHERE name"
                  " = '%s'), (SELECT id FROM app_user WHERE username = '%s'), '%s', '{%s}') RETURNING id",
                  branch, owner, name, tag ? tag : "");
}

/* ---------------------------------------------------------------- requests */

struct areq {
    const int64_t *ids;
    size_t n_ids;
    const char *from;
    Kehu__V1__CustomerList *filter;
    const char *to[8];
    const char *reason;
    int dry;
};

static Kehu__V1__Response *assign(kehu_client *c, const struct areq *a, int code, const char *needle)
{
    Kehu__V1__Assign m = KEHU__V1__ASSIGN__INIT;
    m.customer_ids = (int64_t *)a->ids;
    m.n_customer_ids = a->n_ids;
    m.from_user = (char *)a->from;
    if (a->filter) {
        m.filter = a->filter;
        m.use_filter = 1;
    }
    size_t n = 0;
    while (n < 8 && a->to[n])
        n++;
    m.to = (char **)a->to;
    m.n_to = n;
    m.reason = (char *)(a->reason ? a->reason : "test");
    m.dry_run = a->dry;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSIGN;
    req.assign = &m;
    struct kehu_status st;
    Kehu__V1__Response *resp = kehu_call(c, &req, &st);
    if (!resp)
        fail_msg("assign: %s", st.message);
    if (st.code != code)
        fail_msg("assign: expected %s, got %s: %s", kehu_code_name(code), kehu_code_name(st.code), st.message);
    if (needle && !strstr(st.message, needle))
        fail_msg("assign: expected '%s' in the message: %s", needle, st.message);
    if (code == C(OK))
        assert_non_null(resp->assign);
    return resp;
}

static Kehu__V1__Response *undo(kehu_client *c, int64_t batch, int dry, int code, const char *needle)
{
    Kehu__V1__AssignUndo m = KEHU__V1__ASSIGN_UNDO__INIT;
    m.batch_id = batch;
    m.dry_run = dry;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSIGN_UNDO;
    req.assign_undo = &m;
    struct kehu_status st;
    Kehu__V1__Response *resp = kehu_call(c, &req, &st);
    if (!resp)
        fail_msg("undo: %s", st.message);
    if (st.code != code)
        fail_msg("undo %lld: expected %s, got %s: %s", (long long)batch, kehu_code_name(code),
                 kehu_code_name(st.code), st.message);
    if (needle && !strstr(st.message, needle))
        fail_msg("undo: expected '%s' in the message: %s", needle, st.message);
    return resp;
}

static void user_cap(const char *username, int64_t cap)
{
    Kehu__V1__UserCap m = KEHU__V1__USER_CAP__INIT;
    m.username = (char *)username;
    m.max_customers = cap;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_CAP;
    req.user_cap = &m;
    it_expect(org.admin, &req, C(OK), NULL);
}

static int64_t count_to(const Kehu__V1__AssignResult *a, const char *to)
{
    int64_t n = 0;
    for (size_t i = 0; i < a->n_moves; i++)
        n += strcmp(a->moves[i]->to, to) == 0;
    return n;
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
    (void)state;
    if (it_cli_open(&cli_admin) < 0)
        return -1;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    it_expect(org.admin, it_req_org_add("华北区", KEHU__V1__UNIT_KIND__REGION, "总行"), C(OK), NULL);
    it_expect(org.admin, it_req_org_add("天津分行", KEHU__V1__UNIT_KIND__BRANCH, "华北区"), C(OK), NULL);
    it_add_user("tj.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "天津分行", IT_PASSWORD);
    it_add_user("tj.mgr", KEHU__V1__ROLE__BRANCH_MANAGER, "天津分行", IT_PASSWORD);
    static const char *const ams[] = { "sun.li", "zhou.yu", "wu.di", "zheng.an", "old.am", "big.leave", "r1", "r2",
                                       "r3" };
    for (size_t i = 0; i < sizeof ams / sizeof ams[0]; i++)
        it_add_user(ams[i], KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
    tj_mgr = it_login("tj.mgr", IT_PASSWORD);
    tj_am = it_login("tj.am", IT_PASSWORD);
    pg = PQconnectdb(it_env.conninfo);
    if (PQstatus(pg) != CONNECTION_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    kehu_close(tj_mgr);
    kehu_close(tj_am);
    it_org_close(&org);
    PQfinish(pg);
    it_cli_close(&cli_admin);
    return it_teardown(state);
}

/* ---------------------------------------------------------------- tests */

/* One customer: owner, version, history, its open follow-ups move along. */
static void test_one(void **state)
{
    (void)state;
    int64_t id = add_customer("王一", "li.lei", "上海分行", NULL);
    int64_t li = user_id("li.lei"), other = user_id("wang.fang");
    pg_i64("INSERT INTO followup (branch_id, customer_id, kind, status, due, owner_id) SELECT branch_id, id, 'call',"
           " 'planned', current_date + 3, %lld FROM customer WHERE id = %lld RETURNING id", (long long)li, (long long)id);
    pg_i64("INSERT INTO followup (branch_id, customer_id, kind, status, done_at, owner_id) SELECT branch_id, id,"
           " 'visit', 'done', now(), %lld FROM customer WHERE id = %lld RETURNING id", (long long)li, (long long)id);
    pg_i64("INSERT INTO followup (branch_id, customer_id, kind, status, due, owner_id) SELECT branch_id, id, 'visit',"
           " 'planned', current_date + 5, %lld FROM customer WHERE id = %lld RETURNING id", (long long)other,
           (long long)id);
    int64_t v0 = pg_i64("SELECT version FROM customer WHERE id = %lld", (long long)id);
    struct areq a = { .ids = &id, .n_ids = 1, .to = { "zhang.wei" }, .reason = "li.lei goes on leave" };
    Kehu__V1__Response *r = assign(org.admin, &a, C(OK), NULL);
    assert_int_equal(r->assign->moved, 1);
    assert_true(r->assign->batch_id > 0);
    assert_string_equal(r->assign->moves[0]->from, "li.lei");
    assert_string_equal(r->assign->moves[0]->to, "zhang.wei");
    assert_int_equal(r->assign->moves[0]->version, v0 + 1);
    assert_string_equal(owner_of(id), "zhang.wei");
    assert_int_equal(pg_i64("SELECT version FROM customer WHERE id = %lld", (long long)id), v0 + 1);
    assert_int_equal(pg_i64("SELECT count(*) FROM assignment_history WHERE customer_id = %lld AND kind = 'assign'"
                            " AND batch_id = %lld AND reason = 'li.lei goes on leave'",
                            (long long)id, (long long)r->assign->batch_id),
                     1);
    /* the planned call of li.lei moves, the done visit and the manager's own plan stay */
    assert_int_equal(pg_i64("SELECT count(*) FROM followup WHERE customer_id = %lld AND owner_id = %lld AND status ="
                            " 'planned'", (long long)id, (long long)user_id("zhang.wei")),
                     1);
    assert_int_equal(pg_i64("SELECT count(*) FROM followup WHERE customer_id = %lld AND owner_id = %lld AND status ="
                            " 'done'", (long long)id, (long long)li),
                     1);
    assert_int_equal(pg_i64("SELECT count(*) FROM followup WHERE customer_id = %lld AND owner_id = %lld",
                            (long long)id, (long long)other),
                     1);
    /* the change log has the owner change too */
    assert_int_equal(pg_i64("SELECT count(*) FROM change_log WHERE customer_id = %lld AND field = 'owner_id'",
                            (long long)id),
                     1);
    kehu_response_free(r);
    /* already with the receiver: nothing to move */
    r = assign(org.admin, &a, C(OK), NULL);
    assert_int_equal(r->assign->moved, 0);
    assert_int_equal(r->assign->batch_id, 0);
    kehu_response_free(r);
}

/* A list to two receivers: round robin by customer id. */
static void test_list(void **state)
{
    (void)state;
    int64_t ids[3];
    ids[2] = add_customer("列表三", "li.lei", "上海分行", NULL);
    ids[0] = add_customer("列表一", "li.lei", "上海分行", NULL);
    ids[1] = add_customer("列表二", "li.lei", "上海分行", NULL);
    struct areq a = { .ids = ids, .n_ids = 3, .to = { "zhou.yu", "sun.li" }, .reason = "rebalance" };
    Kehu__V1__Response *r = assign(org.admin, &a, C(OK), NULL);
    assert_int_equal(r->assign->moved, 3);
    /* by id: ids[2] < ids[0] < ids[1] */
    assert_string_equal(owner_of(ids[2]), "zhou.yu");
    assert_string_equal(owner_of(ids[0]), "sun.li");
    assert_string_equal(owner_of(ids[1]), "zhou.yu");
    assert_int_equal(count_to(r->assign, "zhou.yu"), 2);
    assert_int_equal(count_to(r->assign, "sun.li"), 1);
    kehu_response_free(r);
    /* an unknown id refuses the whole list */
    int64_t bad[] = { ids[0], 99999999 };
    struct areq b = { .ids = bad, .n_ids = 2, .to = { "li.lei" } };
    kehu_response_free(assign(org.admin, &b, C(NOT_FOUND), "99999999"));
    assert_string_equal(owner_of(ids[0]), "sun.li");
}

/* A filter: the customers `customer list` would show with it. */
static void test_filter(void **state)
{
    (void)state;
    int64_t sh1 = add_customer("标签一", "li.lei", "上海分行", "fx");
    int64_t sh2 = add_customer("标签二", "zhang.wei", "上海分行", "fx");
    int64_t sh3 = add_customer("无标签", "li.lei", "上海分行", NULL);
    int64_t bj1 = add_customer("北京标签", "bj.am", "北京分行", "fx");
    Kehu__V1__CustomerList f = KEHU__V1__CUSTOMER_LIST__INIT;
    f.tag = "fx";
    f.branch = "上海分行";
    struct areq a = { .filter = &f, .to = { "wu.di" }, .reason = "tagged fx" };
    Kehu__V1__Response *r = assign(org.admin, &a, C(OK), NULL);
    assert_int_equal(r->assign->moved, 2);
    kehu_response_free(r);
    assert_string_equal(owner_of(sh1), "wu.di");
    assert_string_equal(owner_of(sh2), "wu.di");
    assert_string_equal(owner_of(sh3), "li.lei");
    assert_string_equal(owner_of(bj1), "bj.am");
    /* a branch manager's filter covers their branch only */
    f.branch = "";
    struct areq b = { .filter = &f, .to = { "zheng.an" }, .reason = "tagged fx, by the manager" };
    r = assign(org.mgr, &b, C(OK), NULL);
    assert_int_equal(r->assign->moved, 2);
    kehu_response_free(r);
    assert_string_equal(owner_of(sh1), "zheng.an");
    assert_string_equal(owner_of(bj1), "bj.am");
    /* a filter with the grade and branch both given (parameters numbered apart) */
    f.grade = "C";
    f.branch = "上海分行";
    r = assign(org.admin, &b, C(OK), NULL);
    assert_int_equal(r->assign->moved, 0);
    kehu_response_free(r);
}

/* A leaving user's customers spread by capacity: caps respected, a disabled
 * receiver skipped, counts exact; the dry run shows exactly what the real
 * run then does and changes nothing. */
static void test_capacity_and_dry_run(void **state)
{
    (void)state;
    int64_t ids[10];
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "离职客户%d", i);
        ids[i] = add_customer(name, "old.am", "上海分行", NULL);
    }
    /* zhou.yu holds 2 (from test_list): cap 5 leaves room for 3; wu.di holds none (test_filter's went on) */
    user_cap("zhou.yu", 5);
    user_cap("wu.di", 2);
    it_add_user("gone.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", IT_PASSWORD);
    Kehu__V1__UserDisable d = KEHU__V1__USER_DISABLE__INIT;
    d.username = "gone.am";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_DISABLE;
    req.user_disable = &d;
    it_expect(org.admin, &req, C(OK), NULL);

    struct areq a = { .from = "old.am", .to = { "zhou.yu", "gone.am", "r1", "wu.di" }, .reason = "old.am leaves",
                      .dry = 1 };
    int64_t batches = pg_i64("SELECT count(*) FROM reassign_batch");
    int64_t hist = pg_i64("SELECT count(*) FROM assignment_history");
    Kehu__V1__Response *dry = assign(org.admin, &a, C(OK), NULL);
    assert_true(dry->assign->dry_run);
    assert_int_equal(dry->assign->batch_id, 0);
    assert_int_equal(dry->assign->moved, 10);
    /* round robin zhou.yu, r1, wu.di (gone.am skipped): z r w z r w z r r r */
    assert_int_equal(count_to(dry->assign, "zhou.yu"), 3);
    assert_int_equal(count_to(dry->assign, "wu.di"), 2);
    assert_int_equal(count_to(dry->assign, "r1"), 5);
    assert_int_equal(count_to(dry->assign, "gone.am"), 0);
    /* nothing changed */
    for (int i = 0; i < 10; i++)
        assert_string_equal(owner_of(ids[i]), "old.am");
    assert_int_equal(pg_i64("SELECT count(*) FROM reassign_batch"), batches);
    assert_int_equal(pg_i64("SELECT count(*) FROM assignment_history"), hist);

    a.dry = 0;
    Kehu__V1__Response *real = assign(org.admin, &a, C(OK), NULL);
    assert_int_equal(real->assign->moved, dry->assign->moved);
    assert_string_equal(real->assign->kind, "handover");
    for (size_t i = 0; i < real->assign->n_moves; i++) {
        assert_int_equal(real->assign->moves[i]->customer_id, dry->assign->moves[i]->customer_id);
        assert_string_equal(real->assign->moves[i]->to, dry->assign->moves[i]->to);
        assert_string_equal(owner_of(real->assign->moves[i]->customer_id), real->assign->moves[i]->to);
    }
    /* the receivers' summary: holdings after, caps */
    for (size_t i = 0; i < real->assign->n_receivers; i++) {
        const Kehu__V1__AssignReceiver *rv = real->assign->receivers[i];
        if (!strcmp(rv->username, "zhou.yu"))
            assert_true(rv->count == 3 && rv->holds == 5 && rv->cap == 5);
        if (!strcmp(rv->username, "gone.am"))
            assert_true(rv->count == 0 && rv->disabled);
    }
    assert_int_equal(pg_i64("SELECT count(*) FROM reassign_item WHERE batch_id = %lld", (long long)real->assign->batch_id),
                     10);
    assert_int_equal(pg_i64("SELECT count(*) FROM assignment_history WHERE batch_id = %lld AND kind = 'handover'",
                            (long long)real->assign->batch_id),
                     10);
    kehu_response_free(dry);
    kehu_response_free(real);
}

/* Receivers that cannot take them: refused, nothing moved. */
static void test_all_full(void **state)
{
    (void)state;
    int64_t ids[2] = { add_customer("满员一", "li.lei", "上海分行", NULL), add_customer("满员二", "li.lei", "上海分行", NULL) };
    int64_t batches = pg_i64("SELECT count(*) FROM reassign_batch");
    struct areq a = { .ids = ids, .n_ids = 2, .to = { "zhou.yu", "wu.di" }, .reason = "full" };
    kehu_response_free(assign(org.admin, &a, C(FAILED_PRECONDITION), "zhou.yu holds 5 of 5"));
    struct areq b = { .ids = ids, .n_ids = 2, .to = { "gone.am" }, .reason = "disabled" };
    kehu_response_free(assign(org.admin, &b, C(FAILED_PRECONDITION), "disabled"));
    assert_string_equal(owner_of(ids[0]), "li.lei");
    assert_string_equal(owner_of(ids[1]), "li.lei");
    assert_int_equal(pg_i64("SELECT count(*) FROM reassign_batch"), batches);
    /* room for one of two is no room */
    user_cap("wu.di", 3);
    kehu_response_free(assign(org.admin, &a, C(FAILED_PRECONDITION), "room for 1"));
    assert_string_equal(owner_of(ids[0]), "li.lei");
    user_cap("wu.di", -1);
    user_cap("zhou.yu", -1);
}

/* Scope: a branch manager within their branch only; an account manager not at all. */
static void test_scope(void **state)
{
    (void)state;
    int64_t sh = add_customer("上海范围", "li.lei", "上海分行", NULL);
    int64_t bj = add_customer("北京范围", "bj.am", "北京分行", NULL);
    struct areq a = { .ids = &bj, .n_ids = 1, .to = { "zhang.wei" } };
    kehu_response_free(assign(org.mgr, &a, C(NOT_FOUND), "no customer"));
    struct areq b = { .ids = &sh, .n_ids = 1, .to = { "bj.am" } };
    /* a receiver the caller may not read is as unknown as a missing one */
    kehu_response_free(assign(org.mgr, &b, C(NOT_FOUND), "no user named 'bj.am'"));
    struct areq c = { .ids = &sh, .n_ids = 1, .to = { "zhao.min" } };
    kehu_response_free(assign(org.admin, &c, C(INVALID_ARGUMENT), "auditor"));
    kehu_response_free(assign(org.li, &a, C(PERMISSION_DENIED), NULL));
    kehu_response_free(assign(org.li, &(struct areq){ .ids = &sh, .n_ids = 1, .to = { "zhang.wei" } },
                              C(PERMISSION_DENIED), NULL));
    /* a mixed list: one outside the branch refuses all */
    int64_t both[] = { sh, bj };
    kehu_response_free(assign(org.mgr, &(struct areq){ .ids = both, .n_ids = 2, .to = { "zhang.wei" } },
                              C(NOT_FOUND), NULL));
    assert_string_equal(owner_of(sh), "li.lei");
    /* within the branch it works */
    kehu_response_free(assign(org.mgr, &(struct areq){ .ids = &sh, .n_ids = 1, .to = { "zhang.wei" } }, C(OK), NULL));
    assert_string_equal(owner_of(sh), "zhang.wei");
    /* the leaving user's customers must all be in scope */
    int64_t b2 = add_customer("北京离职", "old.am", "北京分行", NULL);
    kehu_response_free(assign(org.mgr, &(struct areq){ .from = "old.am", .to = { "zhang.wei" } }, C(PERMISSION_DENIED),
                              NULL));
    assert_string_equal(owner_of(b2), "old.am");
}

/* Every owner in order, and undo (refused after a customer moved again, and twice). */
static void test_history_and_undo(void **state)
{
    (void)state;
    int64_t ids[3] = { add_customer("撤销一", "li.lei", "上海分行", NULL), add_customer("撤销二", "li.lei", "上海分行", NULL),
                       add_customer("撤销三", "zhang.wei", "上海分行", NULL) };
    Kehu__V1__Response *r = assign(org.admin, &(struct areq){ .ids = ids, .n_ids = 3, .to = { "sun.li" } }, C(OK), NULL);
    int64_t b1 = r->assign->batch_id;
    kehu_response_free(r);
    /* a later edit of another field does not block the undo */
    pg_do("UPDATE customer SET notes = 'edited', version = version + 1 WHERE id IN (SELECT customer_id FROM"
          " reassign_item WHERE batch_id = (SELECT max(id) FROM reassign_batch))");
    Kehu__V1__Response *d = undo(org.admin, b1, 1, C(OK), NULL);
    assert_int_equal(d->assign_undone->moved, 3);
    assert_string_equal(owner_of(ids[0]), "sun.li");
    kehu_response_free(d);
    d = undo(org.admin, b1, 0, C(OK), NULL);
    assert_int_equal(d->assign_undone->moved, 3);
    assert_int_equal(d->assign_undone->undo_of, b1);
    int64_t b2 = d->assign_undone->batch_id;
    kehu_response_free(d);
    assert_string_equal(owner_of(ids[0]), "li.lei");
    assert_string_equal(owner_of(ids[1]), "li.lei");
    assert_string_equal(owner_of(ids[2]), "zhang.wei");
    kehu_response_free(undo(org.admin, b1, 0, C(FAILED_PRECONDITION), "undone already"));
    kehu_response_free(undo(org.admin, b2, 0, C(FAILED_PRECONDITION), "cannot be undone itself"));
    kehu_response_free(undo(org.admin, 999999, 0, C(NOT_FOUND), NULL));

    /* moved again: the undo names it and changes nothing */
    r = assign(org.admin, &(struct areq){ .ids = ids, .n_ids = 2, .to = { "zhou.yu" } }, C(OK), NULL);
    int64_t b3 = r->assign->batch_id;
    kehu_response_free(r);
    kehu_response_free(assign(org.admin, &(struct areq){ .ids = &ids[1], .n_ids = 1, .to = { "wu.di" } }, C(OK), NULL));
    char needle[64];
    snprintf(needle, sizeof needle, "%lld", (long long)ids[1]);
    kehu_response_free(undo(org.admin, b3, 0, C(FAILED_PRECONDITION), needle));
    assert_string_equal(owner_of(ids[0]), "zhou.yu");
    assert_string_equal(owner_of(ids[1]), "wu.di");
    /* moved away and back again also counts as moved */
    kehu_response_free(assign(org.admin, &(struct areq){ .ids = &ids[1], .n_ids = 1, .to = { "zhou.yu" } }, C(OK), NULL));
    kehu_response_free(undo(org.admin, b3, 0, C(FAILED_PRECONDITION), needle));
    /* an account manager may not undo */
    kehu_response_free(undo(org.li, b3, 0, C(PERMISSION_DENIED), NULL));

    /* the history of ids[1]: li.lei, sun.li, li.lei, zhou.yu, wu.di, zhou.yu */
    Kehu__V1__AssignHistory h = KEHU__V1__ASSIGN_HISTORY__INIT;
    h.customer_id = ids[1];
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSIGN_HISTORY;
    req.assign_history = &h;
    Kehu__V1__Response *hr = it_call(org.mgr, &req, C(OK));
    static const char *const want[] = { "li.lei", "sun.li", "li.lei", "zhou.yu", "wu.di", "zhou.yu" };
    assert_int_equal(hr->assign_history->n_owners, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(hr->assign_history->owners[i], want[i]);
    assert_string_equal(hr->assign_history->entries[1]->kind, "undo");
    assert_string_equal(hr->assign_history->owner, "zhou.yu");
    kehu_response_free(hr);
    /* only who can read the customer */
    it_expect(org.bj, &req, C(NOT_FOUND), NULL);
}

/* Events: the old owner, the new owner and a manager of each; nobody else. */
static int subscribe(kehu_client *c, const char *unit)
{
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    if (unit) {
        s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
        s.unit = (char *)unit;
    } else {
        s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
        s.mine = 1;
    }
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &s;
    struct kehu_status st;
    kehu_response_free(kehu_call(c, &req, &st));
    return st.code;
}

/* The kinds of the events for customer `cust` that reached c within quiet_ms of each other. */
static void events_for(kehu_client *c, int64_t cust, char *kinds, size_t size, int quiet_ms)
{
    struct kehu_status st;
    Kehu__V1__Event *ev;
    kinds[0] = 0;
    while ((ev = it_next_change(c, quiet_ms, &st)) != NULL) {
        if (ev->customer_id == cust) {
            size_t n = strlen(kinds);
            snprintf(kinds + n, size - n, "%s%s", n ? " " : "", ev->kind);
        }
        kehu_event_free(ev);
    }
}

static int64_t cross_id;

static void test_events_and_split(void **state)
{
    (void)state;
    int64_t id = add_customer("跨区客户", "li.lei", "上海分行", NULL);
    cross_id = id;
    assert_int_equal(subscribe(org.li, NULL), C(OK));
    assert_int_equal(subscribe(tj_am, NULL), C(OK));
    assert_int_equal(subscribe(org.mgr, "上海分行"), C(OK));
    assert_int_equal(subscribe(tj_mgr, "天津分行"), C(OK));
    assert_int_equal(subscribe(org.bj, NULL), C(OK));
    assert_int_equal(subscribe(org.zhang, NULL), C(OK));
    Kehu__V1__Response *r =
        assign(org.admin, &(struct areq){ .ids = &id, .n_ids = 1, .to = { "tj.am" }, .reason = "moves to Tianjin" },
               C(OK), NULL);
    assert_true(r->assign->moves[0]->cross_region);
    assert_int_equal(r->assign->split_percent, 60);
    int64_t batch = r->assign->batch_id;
    kehu_response_free(r);
    char k[256];
    events_for(org.li, id, k, sizeof k, 1500);
    assert_string_equal(k, "customer.reassigned");
    events_for(tj_am, id, k, sizeof k, 300);
    assert_string_equal(k, "customer.updated");
    events_for(org.mgr, id, k, sizeof k, 300);
    assert_string_equal(k, "customer.reassigned");
    events_for(tj_mgr, id, k, sizeof k, 300);
    assert_string_equal(k, "customer.updated");
    events_for(org.bj, id, k, sizeof k, 300);
    assert_string_equal(k, "");
    events_for(org.zhang, id, k, sizeof k, 300);
    assert_string_equal(k, "");
    /* the customer follows its receiver to 天津分行, and the split is recorded */
    assert_int_equal(pg_i64("SELECT branch_id FROM customer WHERE id = %lld", (long long)id),
                     pg_i64("SELECT id FROM org_unit WHERE name = '天津分行'"));
    assert_int_equal(pg_i64("SELECT count(*) FROM performance_split WHERE batch_id = %lld AND customer_id = %lld AND"
                            " from_share = 60 AND to_share = 40 AND from_region = (SELECT id FROM org_unit WHERE name ="
                            " '华东区') AND to_region = (SELECT id FROM org_unit WHERE name = '华北区')",
                            (long long)batch, (long long)id),
                     1);
    /* the policy: checked, admin only */
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *fvs[] = { &fv };
    fv.field = "handover.split";
    fv.value = "101";
    Kehu__V1__AssignPolicySet ps = KEHU__V1__ASSIGN_POLICY_SET__INIT;
    ps.values = fvs;
    ps.n_values = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSIGN_POLICY_SET;
    req.assign_policy_set = &ps;
    it_expect(org.admin, &req, C(INVALID_ARGUMENT), NULL);
    fv.value = "70";
    it_expect(org.mgr, &req, C(PERMISSION_DENIED), NULL);
    it_expect(org.admin, &req, C(OK), NULL);
    int64_t id2 = add_customer("跨区客户二", "li.lei", "上海分行", NULL);
    r = assign(org.admin, &(struct areq){ .ids = &id2, .n_ids = 1, .to = { "tj.am" } }, C(OK), NULL);
    assert_int_equal(r->assign->split_percent, 70);
    assert_int_equal(pg_i64("SELECT count(*) FROM performance_split WHERE batch_id = %lld AND from_share = 70 AND"
                            " to_share = 30", (long long)r->assign->batch_id),
                     1);
    kehu_response_free(r);
    /* an undo voids the split of the batch it takes back */
    kehu_response_free(undo(org.admin, batch, 0, C(OK), NULL));
    assert_int_equal(pg_i64("SELECT count(*) FROM performance_split WHERE batch_id = %lld AND void_by IS NOT NULL",
                            (long long)batch),
                     1);
    assert_string_equal(owner_of(id), "li.lei");
    assert_int_equal(pg_i64("SELECT branch_id FROM customer WHERE id = %lld", (long long)id),
                     pg_i64("SELECT id FROM org_unit WHERE name = '上海分行'"));
    /* a moved-within-region customer records no split */
    int64_t id3 = add_customer("同区客户", "li.lei", "上海分行", NULL);
    r = assign(org.admin, &(struct areq){ .ids = &id3, .n_ids = 1, .to = { "zhang.wei" } }, C(OK), NULL);
    assert_false(r->assign->moves[0]->cross_region);
    assert_int_equal(pg_i64("SELECT count(*) FROM performance_split WHERE batch_id = %lld", (long long)r->assign->batch_id),
                     0);
    kehu_response_free(r);
    for (kehu_client **c = (kehu_client *[]){ org.li, tj_am, org.mgr, tj_mgr, org.bj, org.zhang, NULL }; *c; c++) {
        Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
        s.off = 1;
        Kehu__V1__Request q = KEHU__V1__REQUEST__INIT;
        q.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
        q.subscribe = &s;
        it_expect(*c, &q, C(OK), NULL);
        struct kehu_status st;
        Kehu__V1__Event *ev;
        while ((ev = kehu_next_event(*c, 100, &st)) != NULL)
            kehu_event_free(ev);
    }
}

/* A leaving user's 10,000 customers to three receivers: a failure midway
 * changes nothing; then the whole batch, timed; then its undo, timed. */
static void test_ten_thousand(void **state)
{
    (void)state;
    const int N = 10000;
    /* a batch of 10,000 takes seconds; on a machine busy with other work,
     * many more: the client waits long enough for either */
    kehu_set_timeout(org.admin, 300000);
    int64_t leaver = user_id("big.leave");
    int64_t t0 = it_now_ms();
    char sql[600];
    snprintf(sql, sizeof sql,
             "SET kehu.bulk = 'on'; INSERT INTO customer (branch_id, owner_id, name) SELECT (SELECT id FROM org_unit"
             " WHERE name = '上海分行'), %lld, '大批客户' || i FROM generate_series(1, %d) i; RESET kehu.bulk;",
             (long long)leaver, N);
    pg_do(sql);
    print_message("it_assign: %d customers loaded in %lld ms\n", N, (long long)(it_now_ms() - t0));
    int64_t first = pg_i64("SELECT min(id) FROM customer WHERE owner_id = %lld", (long long)leaver);
    int64_t hist = pg_i64("SELECT count(*) FROM assignment_history");
    int64_t logs = pg_i64("SELECT count(*) FROM change_log");
    int64_t batches = pg_i64("SELECT count(*) FROM reassign_batch");
    int64_t held = pg_i64("SELECT count(*) FROM customer WHERE owner_id IN (%lld, %lld, %lld)",
                          (long long)user_id("r1"), (long long)user_id("r2"), (long long)user_id("r3"));
    struct areq a = { .from = "big.leave", .to = { "r1", "r2", "r3" }, .reason = "big.leave leaves" };

    /* 1: the cap of the last receiver runs out */
    user_cap("r1", 3400);
    user_cap("r2", 3400);
    user_cap("r3", 3000);
    kehu_response_free(assign(org.admin, &a, C(FAILED_PRECONDITION), "r3 holds 0 of 3000"));
    user_cap("r1", -1);
    user_cap("r2", -1);
    user_cap("r3", -1);
    /* 2: a failure in the 5,000th row's update */
    pg_do("CREATE SEQUENCE it_fail_seq;"
          "CREATE FUNCTION it_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
          " IF nextval('it_fail_seq') = 5000 THEN RAISE EXCEPTION 'it_assign: failing on the 5000th row'; END IF;"
          " RETURN NEW; END $$;"
          "CREATE TRIGGER it_fail BEFORE UPDATE OF owner_id ON customer FOR EACH ROW EXECUTE FUNCTION it_fail();");
    Kehu__V1__Response *r = assign(org.admin, &a, C(INTERNAL), NULL);
    kehu_response_free(r);
    assert_int_equal(pg_i64("SELECT last_value FROM it_fail_seq"), 5000);
    pg_do("DROP TRIGGER it_fail ON customer; DROP FUNCTION it_fail(); DROP SEQUENCE it_fail_seq;");
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id = %lld", (long long)leaver), N);
    assert_int_equal(pg_i64("SELECT count(*) FROM assignment_history"), hist);
    assert_int_equal(pg_i64("SELECT count(*) FROM change_log"), logs);
    assert_int_equal(pg_i64("SELECT count(*) FROM reassign_batch"), batches);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id IN (%lld, %lld, %lld)",
                            (long long)user_id("r1"), (long long)user_id("r2"), (long long)user_id("r3")),
                     held);

    /* 3: the whole batch */
    t0 = it_now_ms();
    r = assign(org.admin, &a, C(OK), NULL);
    int64_t ms = it_now_ms() - t0;
    assert_int_equal(r->assign->moved, N);
    assert_int_equal(r->assign->n_moves, N);
    assert_int_equal(count_to(r->assign, "r1"), 3334);
    assert_int_equal(count_to(r->assign, "r2"), 3333);
    assert_int_equal(count_to(r->assign, "r3"), 3333);
    int64_t batch = r->assign->batch_id;
    kehu_response_free(r);
    print_message("it_assign: %d customers of a leaving user moved to 3 receivers in %lld ms (one batch, one request)\n",
                  N, (long long)ms);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id = %lld", (long long)leaver), 0);
    assert_int_equal(pg_i64("SELECT owner_id FROM customer WHERE id = %lld", (long long)first), user_id("r1"));
    assert_int_equal(pg_i64("SELECT count(*) FROM assignment_history WHERE batch_id = %lld", (long long)batch), N);
    assert_int_equal(pg_i64("SELECT customers FROM reassign_batch WHERE id = %lld", (long long)batch), N);

    /* 4: and back */
    t0 = it_now_ms();
    r = undo(org.admin, batch, 0, C(OK), NULL);
    ms = it_now_ms() - t0;
    assert_int_equal(r->assign_undone->moved, N);
    kehu_response_free(r);
    print_message("it_assign: undo of that batch in %lld ms\n", (long long)ms);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer WHERE owner_id = %lld", (long long)leaver), N);
    kehu_set_timeout(org.admin, KEHU_DEFAULT_TIMEOUT_MS);
}

/* The command line: shapes and exit codes. */
static int kehu(const char *const *args)
{
    return it_cli_run(&cli_admin, NULL, args);
}

static void test_cli(void **state)
{
    (void)state;
    it_cli_expect(&cli_admin,
                  it_cli_run(&cli_admin, IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin")), 0,
                  NULL);
    int64_t id = add_customer("命令行客户", "li.lei", "上海分行", NULL);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", ids, "--to", "zhang.wei", "--reason", "cli", "--dry-run", "--json")),
                  0, "\"dry_run\": true");
    assert_non_null(strstr(cli_admin.out, "\"moves\": ["));
    assert_non_null(strstr(cli_admin.out, "\"by_receiver\": {"));
    assert_non_null(strstr(cli_admin.out, "\"zhang.wei\": 1"));
    assert_non_null(strstr(cli_admin.out, "\"name\": \"命令行客户\""));
    assert_int_equal(it_cli_json_num(&cli_admin, "batch_id"), 0);
    assert_string_equal(owner_of(id), "li.lei");
    /* usage errors: 2 */
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", ids, "--to", "zhang.wei")), 2, "--reason");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "--to", "zhang.wei", "--reason", "x")), 2, NULL);
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", ids, "--from", "li.lei", "--to", "zhang.wei", "--reason", "x")), 2,
                  NULL);
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "--tag", "x", "--to", "zhang.wei", "--reason", "x")), 2, "--filter");
    /* refusals: 1 */
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "99999999", "--to", "zhang.wei", "--reason", "x", "--json")), 1,
                  "NOT_FOUND");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "--from", "li.lei", "--to", "li.lei", "--reason", "x")), 1,
                  "INVALID_ARGUMENT");
    /* the real thing, a table of moves */
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", ids, "--to", "zhang.wei", "--reason", "cli")), 0, "命令行客户");
    assert_non_null(strstr(cli_admin.out, "batch "));
    assert_string_equal(owner_of(id), "zhang.wei");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "history", ids, "--json")), 0, "\"owners\": [");
    assert_non_null(strstr(cli_admin.out, "\"zhang.wei\""));
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "history", ids)), 0, "li.lei → zhang.wei");
    /* filter form, dry run, in JSON */
    it_cli_expect(&cli_admin,
                  kehu(IT_ARGS("assign", "--filter", "--owner", "zhang.wei", "--branch", "上海分行", "--to", "sun.li",
                               "--reason", "x", "--dry-run", "--json")),
                  0, "\"dry_run\": true");
    int64_t batch = pg_i64("SELECT max(id) FROM reassign_batch");
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)batch);
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "undo", b, "--json")), 0, "\"kind\": \"undo\"");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "undo", b)), 1, "FAILED_PRECONDITION");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "undo", "x")), 2, NULL);
    assert_string_equal(owner_of(id), "li.lei");
    /* caps and the policy */
    it_cli_expect(&cli_admin, kehu(IT_ARGS("user", "cap", "sun.li", "50", "--json")), 0, "\"max_customers\": 50");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("user", "cap", "sun.li", "none")), 0, "no cap");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("user", "cap", "sun.li", "-3")), 2, NULL);
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "policy", "show")), 0, "handover.split");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "policy", "set", "handover.split=60")), 0, "60");
    it_cli_expect(&cli_admin, kehu(IT_ARGS("assign", "policy", "set", "nope=1")), 1, "INVALID_ARGUMENT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_capacity_and_dry_run),
        cmocka_unit_test(test_all_full),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_history_and_undo),
        cmocka_unit_test(test_events_and_split),
        cmocka_unit_test(test_ten_thousand),
        cmocka_unit_test(test_cli),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
