/* Accounts and the organisation after the first week: one's own password,
 * a reset that forces a change, enable, set-role, unit names unique among
 * siblings and named by path, rename and move with their subtree, and the
 * offline `kehud reset-password`: on the wire and through the kehu CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x
#define R(x) KEHU__V1__ROLE__##x
#define K(x) KEHU__V1__UNIT_KIND__##x
#define ARGS IT_ARGS
#define ENV IT_ENV

/* ---- request builders */

static Kehu__V1__Request *req_passwd(const char *current, const char *next)
{
    static Kehu__V1__PasswordChange m;
    static Kehu__V1__Request req;
    kehu__v1__password_change__init(&m);
    kehu__v1__request__init(&req);
    m.current_password = (char *)current;
    m.new_password = (char *)next;
    req.op_case = KEHU__V1__REQUEST__OP_PASSWORD_CHANGE;
    req.password_change = &m;
    return &req;
}

static Kehu__V1__Request *req_reset(const char *username, const char *next)
{
    static Kehu__V1__UserResetPassword m;
    static Kehu__V1__Request req;
    kehu__v1__user_reset_password__init(&m);
    kehu__v1__request__init(&req);
    m.username = (char *)username;
    m.new_password = (char *)next;
    req.op_case = KEHU__V1__REQUEST__OP_USER_RESET_PASSWORD;
    req.user_reset_password = &m;
    return &req;
}

static Kehu__V1__Request *req_enable(const char *username)
{
    static Kehu__V1__UserEnable m;
    static Kehu__V1__Request req;
    kehu__v1__user_enable__init(&m);
    kehu__v1__request__init(&req);
    m.username = (char *)username;
    req.op_case = KEHU__V1__REQUEST__OP_USER_ENABLE;
    req.user_enable = &m;
    return &req;
}

static Kehu__V1__Request *req_disable(const char *username)
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

static Kehu__V1__Request *req_set_role(const char *username, Kehu__V1__Role role)
{
    static Kehu__V1__UserSetRole m;
    static Kehu__V1__Request req;
    kehu__v1__user_set_role__init(&m);
    kehu__v1__request__init(&req);
    m.username = (char *)username;
    m.role = role;
    req.op_case = KEHU__V1__REQUEST__OP_USER_SET_ROLE;
    req.user_set_role = &m;
    return &req;
}

static Kehu__V1__Request *req_rename(const char *unit, const char *name)
{
    static Kehu__V1__OrgRename m;
    static Kehu__V1__Request req;
    kehu__v1__org_rename__init(&m);
    kehu__v1__request__init(&req);
    m.unit = (char *)unit;
    m.name = (char *)name;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_RENAME;
    req.org_rename = &m;
    return &req;
}

static Kehu__V1__Request *req_move(const char *unit, const char *parent)
{
    static Kehu__V1__OrgMove m;
    static Kehu__V1__Request req;
    kehu__v1__org_move__init(&m);
    kehu__v1__request__init(&req);
    m.unit = (char *)unit;
    m.parent = (char *)parent;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_MOVE;
    req.org_move = &m;
    return &req;
}

static Kehu__V1__Request *req_customer_get(int64_t id)
{
    static Kehu__V1__CustomerGet m;
    static Kehu__V1__Request req;
    kehu__v1__customer_get__init(&m);
    kehu__v1__request__init(&req);
    m.id = id;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &m;
    return &req;
}

/* A customer added by c (an account manager: theirs, in their branch). */
static int64_t add_customer(kehu_client *c, const char *name)
{
    Kehu__V1__Customer cu;
    kehu__v1__customer__init(&cu);
    cu.name = (char *)name;
    Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
    m.customer = &cu;
    m.force = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

/* Expects code with a message containing needle. */
static void expect_msg(kehu_client *c, Kehu__V1__Request *req, int code, const char *field, const char *needle)
{
    Kehu__V1__Response *r = it_call(c, req, code);
    if (!strstr(r->status->message, needle))
        fail_msg("expected '%s' in: %s", needle, r->status->message);
    assert_string_equal(r->status->field, field);
    kehu_response_free(r);
}

static kehu_client *login_expect(const char *username, const char *password, int code)
{
    kehu_client *c = it_connect();
    struct kehu_status st;
    Kehu__V1__Session *s = NULL;
    int got = kehu_login(c, username, password, &s, &st);
    if (got != code)
        fail_msg("login %s: expected %d, got %d: %s", username, code, got, st.message);
    kehu_session_free(s);
    return c;
}

/* ---- the organisation of these tests: two branches each with its 营业部 */

static int setup(void **state)
{
    if (it_cli_setup(state) < 0)
        return -1;
    kehu_client *a = it_admin();
    it_expect(a, it_req_org_add("华东区", K(REGION), "总行"), C(OK), NULL);
    it_expect(a, it_req_org_add("华北区", K(REGION), "总行"), C(OK), NULL);
    it_expect(a, it_req_org_add("上海分行", K(BRANCH), "华东区"), C(OK), NULL);
    it_expect(a, it_req_org_add("北京分行", K(BRANCH), "华北区"), C(OK), NULL);
    it_expect(a, it_req_org_add("营业部", K(TEAM), "上海分行"), C(OK), NULL);
    /* the same name under another branch: unique among siblings only */
    it_expect(a, it_req_org_add("营业部", K(TEAM), "北京分行"), C(OK), NULL);
    kehu_close(a);
    it_add_user("sh.bm", R(BRANCH_MANAGER), "上海分行", IT_PASSWORD);
    it_add_user("bj.bm", R(BRANCH_MANAGER), "北京分行", IT_PASSWORD);
    return 0;
}

static void test_names_and_paths(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    /* a third under the same parent: refused */
    it_expect(a, it_req_org_add("营业部", K(TEAM), "北京分行"), C(CONFLICT), "name");
    /* the ambiguous name is refused wherever a unit is named, listing the paths */
    expect_msg(a, it_req_user_add("yy.x", R(ACCOUNT_MANAGER), "营业部", "am-pass-123"), C(INVALID_ARGUMENT), "unit",
               "华东区/上海分行/营业部, 华北区/北京分行/营业部");
    expect_msg(a, it_req_org_add("一组", K(TEAM), "营业部"), C(INVALID_ARGUMENT), "parent", "name one by its path");
    /* a path names one; the head office may lead; names are case-blind */
    Kehu__V1__Response *r =
        it_call(a, it_req_user_add("yy.sh", R(ACCOUNT_MANAGER), "华东区/上海分行/营业部", "am-pass-123"), C(OK));
    assert_string_equal(r->user->unit_name, "营业部");
    kehu_response_free(r);
    r = it_call(a, it_req_org_add("一组", K(TEAM), "总行/华北区/北京分行/营业部"), C(OK));
    assert_string_equal(r->org_unit->path, "华北区/北京分行/营业部/一组");
    kehu_response_free(r);
    it_expect(a, it_req_user_list("华北区/北京分行/营业部", 0), C(OK), NULL);
    it_expect(a, it_req_user_list("华北区/北京分行/没有", 0), C(NOT_FOUND), "unit");
    /* '/' cannot be part of a name */
    it_expect(a, it_req_org_add("A/B", K(TEAM), "上海分行"), C(INVALID_ARGUMENT), "name");
    kehu_close(a);
}

static void test_rename(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    Kehu__V1__Response *r = it_call(a, req_rename("华北区/北京分行/营业部", "北京营业部"), C(OK));
    assert_string_equal(r->org_unit->path, "华北区/北京分行/北京营业部");
    kehu_response_free(r);
    /* now the name is unique again, and a sibling's name is refused */
    it_expect(a, it_req_user_list("营业部", 0), C(OK), NULL);
    it_expect(a, it_req_org_add("临时", K(TEAM), "北京分行"), C(OK), NULL);
    it_expect(a, req_rename("临时", "北京营业部"), C(CONFLICT), "name");
    it_expect(a, req_rename("临时", "a/b"), C(INVALID_ARGUMENT), "name");
    it_expect(a, req_rename("没有这个", "x"), C(NOT_FOUND), "unit");
    /* back, for the tests after */
    it_expect(a, req_rename("北京营业部", "营业部"), C(OK), NULL);
    /* only admins over the network change the tree */
    kehu_client *m = it_login("sh.bm", IT_PASSWORD);
    it_expect(m, req_rename("华东区/上海分行/营业部", "x"), C(PERMISSION_DENIED), NULL);
    it_expect(m, req_move("华东区/上海分行/营业部", "北京分行"), C(PERMISSION_DENIED), NULL);
    kehu_close(m);
    kehu_close(a);
}

static void test_move_refusals(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    it_expect(a, it_req_org_add("江苏片区", K(REGION), "华东区"), C(OK), NULL);
    /* a cycle: under itself or its own subtree */
    expect_msg(a, req_move("华东区", "华东区/江苏片区"), C(INVALID_ARGUMENT), "parent", "lies inside it");
    expect_msg(a, req_move("华东区", "华东区"), C(INVALID_ARGUMENT), "parent", "under itself");
    /* kinds: a branch under a team, a team under a region */
    expect_msg(a, req_move("上海分行", "华北区/北京分行/营业部"), C(INVALID_ARGUMENT), "parent",
               "a branch cannot be placed under a team");
    expect_msg(a, req_move("华东区/上海分行/营业部", "华北区"), C(INVALID_ARGUMENT), "parent",
               "a team cannot be placed under a region");
    it_expect(a, req_move("总行", "华东区"), C(INVALID_ARGUMENT), NULL);
    /* the same name already there */
    it_expect(a, req_move("华东区/上海分行/营业部", "北京分行"), C(CONFLICT), "parent");
    it_expect(a, req_move("上海分行", "没有"), C(NOT_FOUND), "parent");
    /* a region moved under another keeps its subtree's paths right */
    Kehu__V1__Response *r = it_call(a, req_move("江苏片区", "华北区"), C(OK));
    assert_string_equal(r->org_unit->path, "华北区/江苏片区");
    kehu_response_free(r);
    kehu_close(a);
}

static void test_move_scopes(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    it_expect(a, it_req_org_add("二组", K(TEAM), "华东区/上海分行/营业部"), C(OK), NULL);
    it_expect(a, it_req_org_add("小组", K(TEAM), "华东区/上海分行/营业部/二组"), C(OK), NULL);
    it_add_user("sh.am2", R(ACCOUNT_MANAGER), "华东区/上海分行/营业部/二组/小组", IT_PASSWORD);
    kehu_client *am = it_login("sh.am2", IT_PASSWORD);
    int64_t cust = add_customer(am, "移动客户");
    kehu_client *sh = it_login("sh.bm", IT_PASSWORD), *bj = it_login("bj.bm", IT_PASSWORD);
    it_expect(sh, req_customer_get(cust), C(OK), NULL);
    it_expect(bj, req_customer_get(cust), C(NOT_FOUND), NULL);

    /* 二组 with its 小组 goes to 北京分行: the customers its people own follow */
    Kehu__V1__Response *r = it_call(a, req_move("华东区/上海分行/营业部/二组", "华北区/北京分行/营业部"), C(OK));
    assert_string_equal(r->org_unit->path, "华北区/北京分行/营业部/二组");
    int64_t team = r->org_unit->id, bj_branch = r->org_unit->branch_id;
    assert_true(bj_branch != 0);
    kehu_response_free(r);
    PGconn *pg = it_pg_open();
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM org_unit o JOIN org_unit t ON t.id = %lld"
             " WHERE o.path @> ARRAY[t.id] AND o.branch_id = %lld AND o.path[1:cardinality(t.path)] = t.path"
             " AND o.region_id = (SELECT id FROM org_unit WHERE name = '华北区')",
             (long long)team, (long long)bj_branch);
    assert_int_equal(it_pg_i64(pg, sql), 2); /* 二组 and 小组: path, branch and region recomputed */
    snprintf(sql, sizeof sql, "SELECT branch_id FROM customer WHERE id = %lld", (long long)cust);
    assert_int_equal(it_pg_i64(pg, sql), bj_branch);
    /* logged and in the owner history like any change of branch */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM change_log WHERE customer_id = %lld AND field = 'branch_id' AND new_value = '%lld'",
             (long long)cust, (long long)bj_branch);
    assert_int_equal(it_pg_i64(pg, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM assignment_history WHERE customer_id = %lld AND to_branch = %lld",
             (long long)cust, (long long)bj_branch);
    assert_int_equal(it_pg_i64(pg, sql), 1);
    PQfinish(pg);

    /* the branch managers' views follow on their next request */
    it_expect(bj, req_customer_get(cust), C(OK), NULL);
    it_expect(sh, req_customer_get(cust), C(NOT_FOUND), NULL);
    it_expect(am, req_customer_get(cust), C(OK), NULL);
    /* and the moved user's own session knows its new branch at once: what it adds lands there */
    int64_t added = add_customer(am, "移动后客户");
    it_expect(bj, req_customer_get(added), C(OK), NULL);
    it_expect(sh, req_customer_get(added), C(NOT_FOUND), NULL);
    kehu_close(am);
    kehu_close(sh);
    kehu_close(bj);
    kehu_close(a);
}

static void test_passwd(void **state)
{
    (void)state;
    it_add_user("pw.user", R(ACCOUNT_MANAGER), "上海分行", "first-pass-1");
    kehu_client *c = it_login("pw.user", "first-pass-1");
    kehu_client *other = it_login("pw.user", "first-pass-1");
    expect_msg(c, req_passwd("wrong-pass-1", "second-pass-2"), C(PERMISSION_DENIED), "current_password",
               "current password");
    it_expect(c, req_passwd("first-pass-1", "short"), C(INVALID_ARGUMENT), "new_password");
    it_expect(c, req_passwd("first-pass-1", "first-pass-1"), C(INVALID_ARGUMENT), "new_password");
    it_expect(c, req_passwd("", "second-pass-2"), C(INVALID_ARGUMENT), "current_password");
    it_expect(c, req_passwd("first-pass-1", "second-pass-2"), C(OK), NULL);
    /* this session goes on, the other has ended */
    it_expect(c, it_req_whoami(), C(OK), NULL);
    it_expect(other, it_req_whoami(), C(UNAUTHENTICATED), NULL);
    kehu_close(login_expect("pw.user", "first-pass-1", C(UNAUTHENTICATED)));
    kehu_close(login_expect("pw.user", "second-pass-2", C(OK)));
    kehu_close(other);
    kehu_close(c);
    /* audited */
    PGconn *pg = it_pg_open();
    assert_true(it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE action = 'password_change' AND result = 'ok'"
                              " AND username = 'pw.user'") >= 1);
    PQfinish(pg);
}

static void test_reset_forces_change(void **state)
{
    (void)state;
    it_add_user("rs.user", R(ACCOUNT_MANAGER), "华东区/上海分行/营业部", "first-pass-1");
    kehu_client *before = it_login("rs.user", "first-pass-1");
    kehu_client *a = it_admin();
    it_expect(a, req_reset("rs.user", "short"), C(INVALID_ARGUMENT), "new_password");
    it_expect(a, req_reset("nobody.here", "temp-pass-123"), C(NOT_FOUND), "username");
    it_expect(a, req_reset("admin", "temp-pass-123"), C(PERMISSION_DENIED), NULL); /* one's own: passwd */
    Kehu__V1__Response *r = it_call(a, req_reset("rs.user", "temp-pass-123"), C(OK));
    assert_true(r->user->must_change_password);
    kehu_response_free(r);
    /* the user's sessions ended */
    it_expect(before, it_req_whoami(), C(UNAUTHENTICATED), NULL);
    kehu_close(before);

    /* login says a change is required; until then only the change (and whoami, logout) */
    kehu_client *c = it_connect();
    struct kehu_status st;
    Kehu__V1__Session *s = NULL;
    assert_int_equal(kehu_login(c, "rs.user", "temp-pass-123", &s, &st), C(OK));
    assert_true(s->user->must_change_password);
    kehu_session_free(s);
    it_expect(c, it_req_whoami(), C(OK), NULL);
    expect_msg(c, it_req_user_list(NULL, 0), C(FAILED_PRECONDITION), "", "kehu passwd");
    expect_msg(c, req_customer_get(1), C(FAILED_PRECONDITION), "", "must be changed");
    /* a resumed session is held to it as well */
    kehu_client *again = it_connect();
    assert_int_equal(kehu_resume(again, kehu_token(c), NULL, &st), C(OK));
    it_expect(again, req_customer_get(1), C(FAILED_PRECONDITION), NULL);
    it_expect(c, req_passwd("temp-pass-123", "own-pass-456"), C(OK), NULL);
    it_expect(c, it_req_ping(), C(OK), NULL);
    r = it_call(c, it_req_whoami(), C(OK));
    assert_false(r->user->must_change_password);
    kehu_response_free(r);
    it_expect(c, req_customer_get(999999), C(NOT_FOUND), NULL); /* past the gate */
    it_expect(again, req_customer_get(999999), C(NOT_FOUND), NULL);
    kehu_close(again);
    kehu_close(c);

    /* branch managers: their own branch's account managers only; others look missing */
    kehu_client *sh = it_login("sh.bm", IT_PASSWORD), *bj = it_login("bj.bm", IT_PASSWORD);
    it_expect(sh, req_reset("rs.user", "temp-pass-789"), C(OK), NULL);
    it_expect(bj, req_reset("rs.user", "temp-pass-789"), C(NOT_FOUND), "username");
    it_expect(sh, req_reset("bj.bm", "temp-pass-789"), C(NOT_FOUND), "username");
    it_expect(sh, req_reset("admin", "temp-pass-789"), C(NOT_FOUND), "username"); /* the head office's */
    kehu_close(sh);
    kehu_close(bj);
    PGconn *pg = it_pg_open();
    assert_true(it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE action = 'user_reset_password'"
                              " AND result = 'ok' AND detail = 'rs.user'") >= 2);
    PQfinish(pg);
    kehu_close(a);
}

static void test_enable_and_set_role(void **state)
{
    (void)state;
    it_add_user("en.user", R(ACCOUNT_MANAGER), "上海分行", "first-pass-1");
    kehu_client *a = it_admin();
    kehu_client *before = login_expect("en.user", "first-pass-1", C(OK));
    it_expect(a, req_disable("en.user"), C(OK), NULL);
    it_expect(before, it_req_user_list(NULL, 0), C(UNAUTHENTICATED), NULL); /* its session ended with the disable */
    kehu_close(before);
    kehu_close(login_expect("en.user", "first-pass-1", C(UNAUTHENTICATED)));
    Kehu__V1__Response *r = it_call(a, req_enable("en.user"), C(OK));
    assert_false(r->user->disabled);
    kehu_response_free(r);
    it_expect(a, req_enable("en.user"), C(OK), NULL); /* already enabled: still fine */
    kehu_client *u = login_expect("en.user", "first-pass-1", C(OK));

    /* the disable's notice reaching kehud only now (notices come late under
     * load) ends the sessions it ended, not the one begun since */
    PGconn *pg = it_pg_open();
    it_pg_do(pg, "SELECT pg_notify('kehu', format('session.revoked 0 %s %s', u.id, max(s.id)))"
                 " FROM app_user u JOIN session s ON s.user_id = u.id AND s.revoked_at IS NOT NULL"
                 " WHERE u.username = 'en.user' GROUP BY u.id");
    PQfinish(pg);
    for (int i = 0; i < 10; i++) {
        it_expect(u, it_req_user_list(NULL, 0), C(PERMISSION_DENIED), NULL); /* still logged in: refused, not UNAUTHENTICATED */
        usleep(50 * 1000);
    }

    /* set-role counts from the user's next request, on the session they hold */
    it_expect(u, it_req_user_list(NULL, 0), C(PERMISSION_DENIED), NULL);
    r = it_call(a, req_set_role("en.user", R(BRANCH_MANAGER)), C(OK));
    assert_int_equal(r->user->role, R(BRANCH_MANAGER));
    kehu_response_free(r);
    it_expect(u, it_req_user_list(NULL, 0), C(OK), NULL);
    it_expect(a, req_set_role("en.user", R(SERVICE_AGENT)), C(OK), NULL);
    it_expect(u, it_req_user_list(NULL, 0), C(PERMISSION_DENIED), NULL);
    it_expect(a, req_set_role("en.user", 0), C(INVALID_ARGUMENT), "role");
    it_expect(a, req_set_role("admin", R(AUDITOR)), C(PERMISSION_DENIED), NULL); /* not oneself */

    /* a branch manager hands out only the ordinary roles, in their branch */
    kehu_client *sh = it_login("sh.bm", IT_PASSWORD);
    it_expect(sh, req_set_role("en.user", R(ACCOUNT_MANAGER)), C(OK), NULL);
    it_expect(sh, req_set_role("en.user", R(BRANCH_MANAGER)), C(PERMISSION_DENIED), NULL);
    it_expect(sh, req_set_role("bj.bm", R(ACCOUNT_MANAGER)), C(NOT_FOUND), "username");
    it_expect(sh, req_disable("en.user"), C(OK), NULL);
    it_expect(sh, req_enable("en.user"), C(OK), NULL);
    kehu_close(sh);
    kehu_client *am = it_login("en.user", "first-pass-1");
    it_expect(am, req_enable("sh.bm"), C(PERMISSION_DENIED), NULL);
    kehu_close(am);
    kehu_close(u);
    kehu_close(a);
}

static void test_offline_reset(void **state)
{
    (void)state;
    it_add_user("admin2", R(ADMIN), "总行", "admin2-pass-1");
    kehu_client *held = it_login("admin2", "admin2-pass-1");
    /* disabled behind kehud's back (the held session knows nothing of it): the reset enables it again */
    PGconn *pg = it_pg_open();
    it_pg_do(pg, "UPDATE app_user SET disabled_at = now() WHERE username = 'admin2'");
    assert_int_equal(th_kehud_run(&it_env, ARGS("reset-password"), NULL, 0), 2);
    setenv("KEHU_NEW_PASSWORD", "short", 1);
    assert_int_equal(th_kehud_run(&it_env, ARGS("reset-password", "admin2"), NULL, 0), 2);
    setenv("KEHU_NEW_PASSWORD", "recovered-pass-1", 1);
    assert_int_equal(th_kehud_run(&it_env, ARGS("reset-password", "nobody.here"), NULL, 0), 1);
    char out[512];
    assert_int_equal(th_kehud_run(&it_env, ARGS("reset-password", "admin2"), out, sizeof out), 0);
    unsetenv("KEHU_NEW_PASSWORD");
    assert_non_null(strstr(out, "admin2"));
    assert_non_null(strstr(out, "enabled again"));
    /* the running kehud heard it: the held session has ended */
    int code = C(OK);
    for (int i = 0; i < 100 && code == C(OK); i++) {
        struct kehu_status hs;
        kehu_response_free(kehu_call(held, it_req_whoami(), &hs));
        code = hs.code;
        if (code == C(OK))
            usleep(50 * 1000);
    }
    assert_int_equal(code, C(UNAUTHENTICATED));
    kehu_close(held);
    kehu_close(login_expect("admin2", "admin2-pass-1", C(UNAUTHENTICATED)));
    kehu_client *c = it_connect();
    struct kehu_status st;
    Kehu__V1__Session *s = NULL;
    assert_int_equal(kehu_login(c, "admin2", "recovered-pass-1", &s, &st), C(OK));
    assert_true(s->user->must_change_password);
    kehu_session_free(s);
    it_expect(c, it_req_org_add("X区", K(REGION), "总行"), C(FAILED_PRECONDITION), NULL);
    it_expect(c, req_passwd("recovered-pass-1", "admin2-pass-2"), C(OK), NULL);
    it_expect(c, it_req_org_add("X区", K(REGION), "总行"), C(OK), NULL);
    kehu_close(c);
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE action = 'user_reset_password'"
                                   " AND username = '(kehud)' AND detail LIKE 'admin2 %'"),
                     1);
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM session s JOIN app_user u ON u.id = s.user_id"
                                   " WHERE u.username = 'admin2' AND s.revoked_at IS NULL"),
                     1); /* the one opened after */
    assert_true(it_pg_i64(pg, "SELECT ok::int FROM audit_verify()") == 1);
    PQfinish(pg);
}

/* ---- the command line */

static int kehu(const char *const *env, const char *const *args)
{
    return it_cli_run(&it_kehu, env, args);
}

static void expect(int rc, int want, const char *needle)
{
    it_cli_expect(&it_kehu, rc, want, needle);
}

static void test_cli(void **state)
{
    (void)state;
    expect(kehu(ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), ARGS("login", "admin")), 0, NULL);
    expect(kehu(ENV("KEHU_NEW_PASSWORD=cli-pass-123"),
                ARGS("user", "add", "cli.u", "--role", "account_manager", "--unit", "华东区/上海分行/营业部")),
           0, NULL);
    /* org rename / move: JSON with the path; refusals exit 1; usage 2 */
    expect(kehu(NULL, ARGS("org", "add", "三组", "--kind", "team", "--parent", "华东区/上海分行/营业部")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "rename", "三组", "四组", "--json")), 0, "\"path\": \"华东区/上海分行/营业部/四组\"");
    expect(kehu(NULL, ARGS("org", "move", "四组", "--parent", "营业部")), 1, "华东区/上海分行/营业部, 华北区/北京分行/营业部");
    assert_non_null(strstr(it_kehu.err, "kehu: INVALID_ARGUMENT:"));
    assert_non_null(strstr(it_kehu.err, "[parent]"));
    expect(kehu(NULL, ARGS("org", "move", "四组", "--parent", "华北区/北京分行/营业部", "--json")), 0,
           "\"path\": \"华北区/北京分行/营业部/四组\"");
    expect(kehu(NULL, ARGS("org", "move", "华东区", "--parent", "华东区", "--json")), 1, "\"field\": \"parent\"");
    expect(kehu(NULL, ARGS("org", "move", "四组")), 2, "--parent");
    expect(kehu(NULL, ARGS("org", "rename", "四组")), 2, NULL);
    expect(kehu(NULL, ARGS("org", "list", "--json")), 0, "\"path\": \"华东区/上海分行\"");

    /* user enable / set-role */
    expect(kehu(NULL, ARGS("user", "disable", "cli.u")), 0, NULL);
    expect(kehu(NULL, ARGS("user", "enable", "cli.u", "--json")), 0, "\"disabled\": false");
    expect(kehu(NULL, ARGS("user", "set-role", "cli.u", "service_agent", "--json")), 0,
           "\"role\": \"service_agent\"");
    expect(kehu(NULL, ARGS("user", "set-role", "cli.u", "boss")), 2, "boss");
    expect(kehu(NULL, ARGS("user", "enable", "nobody.here")), 1, "NOT_FOUND");
    expect(kehu(NULL, ARGS("user", "set-role", "cli.u", "account_manager")), 0, NULL);

    /* reset-password, then the user's login without a terminal: told to run kehu passwd */
    expect(kehu(NULL, ARGS("user", "reset-password", "cli.u")), 2, "KEHU_NEW_PASSWORD");
    expect(kehu(ENV("KEHU_NEW_PASSWORD=temp-pass-123"), ARGS("user", "reset-password", "cli.u", "--json")), 0,
           "\"must_change_password\": true");
    expect(kehu(ENV("KEHU_PASSWORD=temp-pass-123"), ARGS("login", "cli.u", "--json")), 0,
           "\"must_change_password\": true");
    assert_non_null(strstr(it_kehu.err, "kehu passwd"));
    expect(kehu(NULL, ARGS("customer", "list")), 1, "FAILED_PRECONDITION");
    expect(kehu(NULL, ARGS("whoami", "--json")), 0, "\"must_change_password\": true");
    /* passwd: wrong current refused, usage errors, then done */
    expect(kehu(ENV("KEHU_PASSWORD=wrong-pass-1", "KEHU_NEW_PASSWORD=cli-pass-456"), ARGS("passwd")), 1,
           "PERMISSION_DENIED");
    expect(kehu(ENV("KEHU_PASSWORD=temp-pass-123"), ARGS("passwd")), 2, "KEHU_NEW_PASSWORD");
    expect(kehu(ENV("KEHU_PASSWORD=temp-pass-123", "KEHU_NEW_PASSWORD=cli-pass-456"), ARGS("passwd", "extra")), 2,
           NULL);
    expect(kehu(ENV("KEHU_PASSWORD=temp-pass-123", "KEHU_NEW_PASSWORD=cli-pass-456"), ARGS("passwd", "--json")), 0,
           "\"password_changed\": true");
    expect(kehu(NULL, ARGS("customer", "list", "--json")), 0, NULL);

    /* after another reset, a login given KEHU_NEW_PASSWORD changes it at once */
    expect(kehu(ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), ARGS("login", "admin")), 0, NULL);
    expect(kehu(ENV("KEHU_NEW_PASSWORD=temp-pass-789"), ARGS("user", "reset-password", "cli.u")), 0, NULL);
    expect(kehu(ENV("KEHU_PASSWORD=temp-pass-789", "KEHU_NEW_PASSWORD=cli-pass-789"), ARGS("login", "cli.u", "--json")),
           0, "\"must_change_password\": false");
    expect(kehu(NULL, ARGS("customer", "list", "--json")), 0, NULL);
    expect(kehu(ENV("KEHU_PASSWORD=cli-pass-789"), ARGS("login", "cli.u")), 0, NULL);
}

/* Branches named alike in two regions: every way a branch is named refuses the ambiguous name and takes a path. */
static void test_branch_refs(void **state)
{
    (void)state;
    kehu_client *a = it_admin();
    it_expect(a, it_req_org_add("同名分行", K(BRANCH), "华东区"), C(OK), NULL);
    it_expect(a, it_req_org_add("同名分行", K(BRANCH), "华北区"), C(OK), NULL);
    kehu_close(a);
    expect(kehu(ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), ARGS("login", "admin")), 0, NULL);
    expect(kehu(NULL, ARGS("customer", "list", "--branch", "同名分行")), 1, "华东区/同名分行, 华北区/同名分行");
    assert_non_null(strstr(it_kehu.err, "[branch]"));
    expect(kehu(NULL, ARGS("customer", "list", "--branch", "华北区/同名分行", "--json")), 0, NULL);
    expect(kehu(NULL, ARGS("pool", "list", "--branch", "同名分行")), 1, "name one by its path");
    expect(kehu(NULL, ARGS("customer", "add", "--name", "某客户", "--branch", "同名分行")), 1, "[branch]");
    char path[300];
    snprintf(path, sizeof path, "%s/branches.csv", it_kehu.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("name,branch\n甲,同名分行\n乙,华东区/同名分行\n", f);
    fclose(f);
    expect(kehu(NULL, ARGS("customer", "import", "branches.csv", "--dry-run", "--json")), 4, "\"line\": 2");
    assert_non_null(strstr(it_kehu.out, "name one by its path"));
    assert_null(strstr(it_kehu.out, "\"line\": 3"));

    /* a team in an assignment rule: two 一组 in one branch (under 营业部 and 二部) */
    expect(kehu(NULL, ARGS("org", "add", "二部", "--kind", "team", "--parent", "华东区/上海分行")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "一组", "--kind", "team", "--parent", "华东区/上海分行/营业部")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "一组", "--kind", "team", "--parent", "华东区/上海分行/二部")), 0, NULL);
    expect(kehu(NULL, ARGS("assign", "rules", "set", "--branch", "上海分行", "to=team:一组")), 1,
           "'一组' names 2 units: 华东区/上海分行/营业部/一组, 华东区/上海分行/二部/一组; name one by its path");
    assert_null(strstr(it_kehu.err, "CONTEXT")); /* the server's words only */
    expect(kehu(NULL, ARGS("assign", "rules", "set", "--branch", "上海分行", "to=team:华东区/上海分行/二部/一组", "--json")),
           0, "一组");
    /* the 一组 of 北京分行 is not one of this branch's */
    expect(kehu(NULL, ARGS("assign", "rules", "set", "--branch", "上海分行", "to=team:华北区/北京分行/营业部/一组")), 1,
           "no team");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_paths),
        cmocka_unit_test(test_rename),
        cmocka_unit_test(test_move_refusals),
        cmocka_unit_test(test_move_scopes),
        cmocka_unit_test(test_passwd),
        cmocka_unit_test(test_reset_forces_change),
        cmocka_unit_test(test_enable_and_set_role),
        cmocka_unit_test(test_offline_reset),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_branch_refs),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, it_cli_teardown));
}
