/* The organisation tree and users: adding, listing, moving, disabling, and
 * who may do which. */
#include <stdio.h>
#include <string.h>

#include "itest.h"

#define R(x) KEHU__V1__ROLE__##x
#define K(x) KEHU__V1__UNIT_KIND__##x
#define C(x) KEHU__V1__CODE__##x

static Kehu__V1__Request *req_org_list(void)
{
    static Kehu__V1__OrgList m;
    static Kehu__V1__Request req;
    kehu__v1__org_list__init(&m);
    kehu__v1__request__init(&req);
    req.op_case = KEHU__V1__REQUEST__OP_ORG_LIST;
    req.org_list = &m;
    return &req;
}

static Kehu__V1__Request *req_user_disable(const char *username)
{
    static Kehu__V1__UserDisable m;
    static Kehu__V1__Request req;
    kehu__v1__user_disable__init(&m);
    kehu__v1__request__init(&req);
    m.username = (char *)username;
    req.op_case = KEHU__V1__REQUEST__OP_USER_DISABLE;
    req.user_disable = &m;
    return &req;
}

static Kehu__V1__Request *req_user_move(const char *username, const char *unit)
{
    static Kehu__V1__UserMove m;
    static Kehu__V1__Request req;
    kehu__v1__user_move__init(&m);
    kehu__v1__request__init(&req);
    m.username = (char *)username;
    m.unit = (char *)unit;
    req.op_case = KEHU__V1__REQUEST__OP_USER_MOVE;
    req.user_move = &m;
    return &req;
}

/* Builds: 总行 > 华南区 > 深圳分行 > 深圳一组, and 总行 > 北京分行. */
static int build_tree(void **state)
{
    if (it_setup(state) < 0)
        return -1;
    kehu_client *a = it_admin();
    it_expect(a, it_req_org_add("华南区", K(REGION), "总行"), C(OK), NULL);
    it_expect(a, it_req_org_add("深圳分行", K(BRANCH), "华南区"), C(OK), NULL);
    it_expect(a, it_req_org_add("深圳一组", K(TEAM), "深圳分行"), C(OK), NULL);
    it_expect(a, it_req_org_add("北京分行", K(BRANCH), "1"), C(OK), NULL); /* parent by id */
    it_expect(a, it_req_user_add("sz.manager", R(BRANCH_MANAGER), "深圳分行", "manager-pass-1"), C(OK), NULL);
    it_expect(a, it_req_user_add("sz.am", R(ACCOUNT_MANAGER), "深圳一组", "am-pass-123"), C(OK), NULL);
    it_expect(a, it_req_user_add("bj.am", R(ACCOUNT_MANAGER), "北京分行", "am-pass-123"), C(OK), NULL);
    it_expect(a, it_req_user_add("audit", R(AUDITOR), "总行", "audit-pass-1"), C(OK), NULL);
    kehu_close(a);
    return 0;
}

static void test_tree_order_and_fields(void **state)
{
    (void)state;
    kehu_client *am = it_login("sz.am", "am-pass-123"); /* anyone may read the tree */
    Kehu__V1__Response *r = it_call(am, req_org_list(), C(OK));
    Kehu__V1__OrgUnitList *l = r->org_units;
    assert_true(l->n_units >= 5);
    assert_int_equal(l->units[0]->kind, K(HEAD_OFFICE));
    assert_int_equal(l->units[0]->depth, 0);
    /* every unit comes after its parent */
    for (size_t i = 1; i < l->n_units; i++) {
        int parent_seen = 0;
        for (size_t j = 0; j < i; j++)
            parent_seen |= l->units[j]->id == l->units[i]->parent_id;
        assert_true(parent_seen);
    }
    for (size_t i = 0; i < l->n_units; i++) {
        Kehu__V1__OrgUnit *u = l->units[i];
        if (strcmp(u->name, "深圳一组") == 0) {
            assert_int_equal(u->kind, K(TEAM));
            assert_int_equal(u->depth, 3);
            assert_string_equal(u->parent_name, "深圳分行");
            assert_int_not_equal(u->branch_id, 0); /* a team belongs to its branch */
        }
        if (strcmp(u->name, "华南区") == 0)
            assert_int_equal(u->branch_id, 0);
    }
    kehu_response_free(r);
    kehu_close(am);
}

static void test_org_add_errors(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    it_expect(a, it_req_org_add("华南区", K(REGION), "总行"), C(CONFLICT), "name");
    it_expect(a, it_req_org_add("华南区", K(BRANCH), "总行"), C(CONFLICT), "name"); /* names are unique */
    it_expect(a, it_req_org_add("一组", K(TEAM), "总行"), C(INVALID_ARGUMENT), "parent");
    it_expect(a, it_req_org_add("区中区", K(BRANCH), "深圳分行"), C(INVALID_ARGUMENT), "parent");
    it_expect(a, it_req_org_add("X", K(BRANCH), "no such unit"), C(NOT_FOUND), "parent");
    it_expect(a, it_req_org_add("", K(BRANCH), "总行"), C(INVALID_ARGUMENT), "name");
    it_expect(a, it_req_org_add(" 空格", K(BRANCH), "总行"), C(INVALID_ARGUMENT), "name");
    it_expect(a, it_req_org_add("二号总行", K(HEAD_OFFICE), "总行"), C(INVALID_ARGUMENT), "kind");
    it_expect(a, it_req_org_add("X", K(BRANCH), ""), C(INVALID_ARGUMENT), "parent");
    kehu_close(a);
    kehu_client *m = it_login("sz.manager", "manager-pass-1");
    it_expect(m, it_req_org_add("深圳二组", K(TEAM), "深圳分行"), C(PERMISSION_DENIED), NULL);
    kehu_close(m);
}

static void test_user_add_and_errors(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    Kehu__V1__Response *r = it_call(a, it_req_user_add("new.user", R(SERVICE_AGENT), "深圳分行", "service-pass"), C(OK));
    assert_string_equal(r->user->username, "new.user");
    assert_int_equal(r->user->role, R(SERVICE_AGENT));
    assert_string_equal(r->user->unit_name, "深圳分行");
    assert_false(r->user->disabled);
    kehu_response_free(r);
    it_expect(a, it_req_user_add("new.user", R(SERVICE_AGENT), "深圳分行", "service-pass"), C(CONFLICT), "username");
    it_expect(a, it_req_user_add("Bad Name", R(SERVICE_AGENT), "深圳分行", "service-pass"), C(INVALID_ARGUMENT),
              "username");
    it_expect(a, it_req_user_add("x", R(SERVICE_AGENT), "深圳分行", "service-pass"), C(INVALID_ARGUMENT), "username");
    it_expect(a, it_req_user_add("ok.name", 0, "深圳分行", "service-pass"), C(INVALID_ARGUMENT), "role");
    it_expect(a, it_req_user_add("ok.name", R(AUDITOR), "nowhere", "service-pass"), C(NOT_FOUND), "unit");
    it_expect(a, it_req_user_add("ok.name", R(AUDITOR), "总行", "short"), C(INVALID_ARGUMENT), "password");
    kehu_close(a);
    /* the new user can log in */
    kehu_client *u = it_login("new.user", "service-pass");
    kehu_close(u);
}

static void test_branch_manager_scope(void **state)
{
    (void)state;
    kehu_client *m = it_login("sz.manager", "manager-pass-1");
    /* inside the branch, ordinary roles: allowed */
    it_expect(m, it_req_user_add("sz.am2", R(ACCOUNT_MANAGER), "深圳一组", "am-pass-123"), C(OK), NULL);
    /* another branch, or a role above their own: refused */
    it_expect(m, it_req_user_add("bj.am2", R(ACCOUNT_MANAGER), "北京分行", "am-pass-123"), C(PERMISSION_DENIED), NULL);
    it_expect(m, it_req_user_add("sz.admin", R(ADMIN), "深圳分行", "admin-pass-1"), C(PERMISSION_DENIED), NULL);
    it_expect(m, it_req_user_add("sz.boss", R(BRANCH_MANAGER), "深圳分行", "admin-pass-1"), C(PERMISSION_DENIED), NULL);
    /* lists: their own subtree by default, another unit refused */
    Kehu__V1__Response *r = it_call(m, it_req_user_list(NULL, 0), C(OK));
    int saw_bj = 0, saw_sz = 0;
    for (size_t i = 0; i < r->users->n_users; i++) {
        saw_bj |= strcmp(r->users->users[i]->username, "bj.am") == 0;
        saw_sz |= strcmp(r->users->users[i]->username, "sz.am") == 0;
    }
    assert_false(saw_bj);
    assert_true(saw_sz);
    kehu_response_free(r);
    it_expect(m, it_req_user_list("北京分行", 0), C(PERMISSION_DENIED), NULL);
    /* moves and disables within scope only */
    it_expect(m, req_user_move("bj.am", "深圳一组"), C(NOT_FOUND), "username"); /* not theirs to see */
    it_expect(m, req_user_move("sz.am2", "北京分行"), C(PERMISSION_DENIED), NULL);
    it_expect(m, req_user_disable("sz.manager"), C(PERMISSION_DENIED), NULL);
    kehu_close(m);

    kehu_client *am = it_login("sz.am", "am-pass-123");
    it_expect(am, it_req_user_list(NULL, 0), C(PERMISSION_DENIED), NULL);
    it_expect(am, it_req_user_add("x.y", R(ACCOUNT_MANAGER), "深圳一组", "am-pass-123"), C(PERMISSION_DENIED), NULL);
    kehu_close(am);

    kehu_client *au = it_login("audit", "audit-pass-1"); /* auditors read everything, change nothing */
    Kehu__V1__Response *all = it_call(au, it_req_user_list("北京分行", 0), C(OK));
    assert_int_equal(all->users->n_users, 1);
    assert_string_equal(all->users->users[0]->username, "bj.am");
    kehu_response_free(all);
    it_expect(au, req_user_disable("bj.am"), C(PERMISSION_DENIED), NULL);
    kehu_close(au);
}

static void test_list_filters(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    Kehu__V1__Response *r = it_call(a, it_req_user_list("华南区", R(ACCOUNT_MANAGER)), C(OK));
    assert_true(r->users->n_users >= 1);
    for (size_t i = 0; i < r->users->n_users; i++) {
        assert_int_equal(r->users->users[i]->role, R(ACCOUNT_MANAGER));
        assert_non_null(strstr(r->users->users[i]->username, "sz."));
    }
    kehu_response_free(r);
    it_expect(a, it_req_user_list("no such unit", 0), C(NOT_FOUND), "unit");
    kehu_close(a);
}

static void test_move_and_disable(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    it_expect(a, it_req_user_add("mover", R(ACCOUNT_MANAGER), "深圳一组", "mover-pass-1"), C(OK), NULL);
    Kehu__V1__Response *r = it_call(a, req_user_move("mover", "北京分行"), C(OK));
    assert_string_equal(r->user->unit_name, "北京分行");
    kehu_response_free(r);
    it_expect(a, req_user_move("mover", "nowhere"), C(NOT_FOUND), "unit");
    it_expect(a, req_user_move("nobody", "北京分行"), C(NOT_FOUND), "username");

    /* disabling ends the user's sessions at once and blocks new logins */
    kehu_client *u = it_login("mover", "mover-pass-1");
    char token[64];
    snprintf(token, sizeof token, "%s", kehu_token(u));
    it_expect(u, it_req_whoami(), C(OK), NULL);
    r = it_call(a, req_user_disable("mover"), C(OK));
    assert_true(r->user->disabled);
    kehu_response_free(r);
    it_expect(u, it_req_whoami(), C(UNAUTHENTICATED), NULL);
    struct kehu_status st;
    assert_int_equal(kehu_resume(u, token, NULL, &st), C(UNAUTHENTICATED));
    assert_int_equal(kehu_login(u, "mover", "mover-pass-1", NULL, &st), C(UNAUTHENTICATED));
    assert_non_null(strstr(st.message, "disabled"));
    kehu_close(u);
    /* nobody may disable themselves: the last admin cannot lock everyone out */
    it_expect(a, req_user_disable("admin"), C(PERMISSION_DENIED), NULL);
    kehu_close(a);
}

static Kehu__V1__Customer *get(kehu_client *c, int64_t id, Kehu__V1__Response **keep)
{
    Kehu__V1__CustomerGet g = KEHU__V1__CUSTOMER_GET__INIT;
    g.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &g;
    *keep = it_call(c, &req, C(OK));
    return (*keep)->customer;
}

/* A customer read names its branch, owner and who created and changed it
 * from kehud's copy of the directory while that copy is as new as the row:
 * a rename or a move is shown by the very next read (read joined once,
 * while the copy is read again), then the copy serves again. */
static void test_customer_read_follows_the_directory(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    it_expect(a, it_req_org_add("目录分行", K(BRANCH), "华南区"), C(OK), NULL);
    it_expect(a, it_req_org_add("目录一组", K(TEAM), "目录分行"), C(OK), NULL);
    it_expect(a, it_req_user_add("dir.am", R(ACCOUNT_MANAGER), "目录一组", "dir-pass-12"), C(OK), NULL);
    it_expect(a, it_req_user_add("dir.mgr", R(BRANCH_MANAGER), "目录分行", "dir-pass-12"), C(OK), NULL);
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    cu.name = "目录客户";
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    Kehu__V1__CustomerAdd add = KEHU__V1__CUSTOMER_ADD__INIT;
    add.customer = &cu;
    add.branch = "目录分行";
    add.owner = "dir.am";
    add.force = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &add;
    Kehu__V1__Response *r = it_call(a, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);

    kehu_client *mgr = it_login("dir.mgr", "dir-pass-12");
    get(mgr, id, &r); /* the copy catches up with the adds above (or is read joined) */
    kehu_response_free(r);
    uint64_t filled = it_admin_count(a, "customer_reads_from_directory"), joined = it_admin_count(a, "customer_reads_joined");
    Kehu__V1__Customer *c = get(mgr, id, &r);
    assert_string_equal(c->branch, "目录分行");
    assert_string_equal(c->owner, "dir.am");
    assert_string_equal(c->created_by, "admin");
    kehu_response_free(r);
    assert_int_equal(it_admin_count(a, "customer_reads_from_directory"), filled + 1);
    assert_int_equal(it_admin_count(a, "customer_reads_joined"), joined);

    /* renamed: the next read says so */
    Kehu__V1__OrgRename rn = KEHU__V1__ORG_RENAME__INIT;
    rn.unit = "目录分行";
    rn.name = "目录中心支行";
    Kehu__V1__Request rreq = KEHU__V1__REQUEST__INIT;
    rreq.op_case = KEHU__V1__REQUEST__OP_ORG_RENAME;
    rreq.org_rename = &rn;
    it_expect(a, &rreq, C(OK), NULL);
    c = get(mgr, id, &r);
    assert_string_equal(c->branch, "目录中心支行");
    kehu_response_free(r);
    assert_int_equal(it_admin_count(a, "customer_reads_joined"), joined + 1);

    /* the owner moved to another branch: the same user shown, and the
     * customer still in sight of its branch's manager */
    it_expect(a, req_user_move("dir.am", "北京分行"), C(OK), NULL);
    c = get(mgr, id, &r);
    assert_string_equal(c->owner, "dir.am");
    assert_string_equal(c->branch, "目录中心支行");
    kehu_response_free(r);
    /* and the copy serves again once read */
    int64_t deadline = it_now_ms() + 5000;
    uint64_t before;
    do {
        before = it_admin_count(a, "customer_reads_from_directory");
        get(mgr, id, &r);
        kehu_response_free(r);
    } while (it_admin_count(a, "customer_reads_from_directory") == before && it_now_ms() < deadline);
    assert_true(it_admin_count(a, "customer_reads_from_directory") > before);

    /* a customer one may not read is not found, read from the copy too */
    kehu_client *bj = it_login("bj.am", "am-pass-123");
    Kehu__V1__CustomerGet g = KEHU__V1__CUSTOMER_GET__INIT;
    g.id = id;
    Kehu__V1__Request greq = KEHU__V1__REQUEST__INIT;
    greq.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    greq.customer_get = &g;
    before = it_admin_count(a, "customer_reads_from_directory");
    it_expect(bj, &greq, C(NOT_FOUND), "id");
    assert_int_equal(it_admin_count(a, "customer_reads_from_directory"), before + 1);
    kehu_close(bj);

    /* without a version to compare with (its row gone), every read is joined */
    PGconn *pg = it_pg_open();
    it_pg_do(pg, "DELETE FROM directory_version");
    before = it_admin_count(a, "customer_reads_joined");
    c = get(mgr, id, &r);
    assert_string_equal(c->branch, "目录中心支行");
    kehu_response_free(r);
    assert_int_equal(it_admin_count(a, "customer_reads_joined"), before + 1);
    it_pg_do(pg, "INSERT INTO directory_version (v) VALUES (1000000)");
    PQfinish(pg);
    kehu_close(mgr);
    kehu_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_order_and_fields),
        cmocka_unit_test(test_org_add_errors),
        cmocka_unit_test(test_user_add_and_errors),
        cmocka_unit_test(test_branch_manager_scope),
        cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_move_and_disable),
        cmocka_unit_test(test_customer_read_follows_the_directory),
    };
    return it_finish(cmocka_run_group_tests(tests, build_tree, it_teardown));
}
