/* Password hashing, session tokens and the authorization function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "authz.h"
#include "mask.h"

/* cheap Argon2id parameters: the tests check behaviour, not cost */
#define OPS 1
#define MEM (16 * 1024)

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static void test_hash_and_verify(void **state)
{
    (void)state;
    char h1[crypto_pwhash_STRBYTES], h2[crypto_pwhash_STRBYTES];
    assert_int_equal(auth_hash(h1, "correct horse 马", OPS, MEM), 0);
    assert_int_equal(auth_hash(h2, "correct horse 马", OPS, MEM), 0);
    assert_memory_equal(h1, "$argon2id$", 10);
    assert_string_not_equal(h1, h2); /* salted */
    assert_int_equal(auth_verify(h1, "correct horse 马"), 0);
    assert_int_equal(auth_verify(h2, "correct horse 马"), 0);
    assert_int_equal(auth_verify(h1, "correct horse"), -1);
    assert_int_equal(auth_verify(h1, ""), -1);
    assert_int_equal(auth_verify("not a hash", "x"), -1);
}

static void test_tokens(void **state)
{
    (void)state;
    char t1[AUTH_TOKEN_LEN + 1], t2[AUTH_TOKEN_LEN + 1], h1[AUTH_HASH_HEX], h2[AUTH_HASH_HEX], again[AUTH_HASH_HEX];
    auth_new_token(t1, h1);
    auth_new_token(t2, h2);
    assert_int_equal(strlen(t1), AUTH_TOKEN_LEN);
    assert_string_not_equal(t1, t2);
    assert_int_equal(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), AUTH_TOKEN_LEN);
    assert_int_equal(strlen(h1), 64);
    auth_token_hash(t1, again);
    assert_string_equal(h1, again);
    assert_string_not_equal(h1, h2);
}

static void test_password_policy(void **state)
{
    (void)state;
    assert_non_null(auth_password_problem("short"));
    assert_null(auth_password_problem("eight888"));
    char longpw[300];
    memset(longpw, 'a', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = 0;
    assert_non_null(auth_password_problem(longpw));
}

static struct principal who(Kehu__V1__Role role, int64_t unit, int64_t user)
{
    struct principal p = { .user_id = user, .role = role, .unit_id = unit };
    return p;
}

static void test_authz(void **state)
{
    (void)state;
    const char *why;
    static const int64_t branch3[] = { 1, 2, 3 }, team4[] = { 1, 2, 3, 4 }, branch5[] = { 1, 5 };
    struct authz_target in_team = { team4, 4, KEHU__V1__ROLE__ACCOUNT_MANAGER, 99, 0, NULL, 0, 0 };
    struct authz_target other_branch = { branch5, 2, KEHU__V1__ROLE__ACCOUNT_MANAGER, 98, 0, NULL, 0, 0 };
    struct authz_target new_admin = { branch3, 3, KEHU__V1__ROLE__ADMIN, 0, 0, NULL, 0, 0 };
    struct principal nobody = { 0 };
    struct principal admin = who(KEHU__V1__ROLE__ADMIN, 1, 1);
    struct principal mgr = who(KEHU__V1__ROLE__BRANCH_MANAGER, 3, 2);
    struct principal am = who(KEHU__V1__ROLE__ACCOUNT_MANAGER, 4, 3);
    struct principal auditor = who(KEHU__V1__ROLE__AUDITOR, 1, 4);

    assert_int_equal(authz_check(&nobody, ACT_PUBLIC, NULL, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&nobody, ACT_SESSION, NULL, &why), KEHU__V1__CODE__UNAUTHENTICATED);
    assert_int_equal(authz_check(NULL, ACT_ORG_READ, NULL, &why), KEHU__V1__CODE__UNAUTHENTICATED);

    assert_int_equal(authz_check(&admin, ACT_ORG_WRITE, NULL, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&mgr, ACT_ORG_WRITE, NULL, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    assert_int_equal(authz_check(&am, ACT_ORG_READ, NULL, &why), KEHU__V1__CODE__OK);

    /* a branch manager manages account managers in their own subtree only */
    assert_int_equal(authz_check(&mgr, ACT_USER_WRITE, &in_team, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&mgr, ACT_USER_WRITE, &other_branch, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    assert_int_equal(authz_check(&mgr, ACT_USER_WRITE, &new_admin, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    assert_int_equal(authz_check(&mgr, ACT_USER_READ, &in_team, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&mgr, ACT_USER_READ, &other_branch, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    struct authz_target self = { branch3, 3, KEHU__V1__ROLE__ACCOUNT_MANAGER, 2, 0, NULL, 0, 0 };
    assert_int_equal(authz_check(&mgr, ACT_USER_WRITE, &self, &why), KEHU__V1__CODE__PERMISSION_DENIED);

    /* account managers manage nobody; auditors read everyone, change nothing */
    assert_int_equal(authz_check(&am, ACT_USER_READ, NULL, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    assert_int_equal(authz_check(&am, ACT_USER_WRITE, &in_team, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    assert_int_equal(authz_check(&auditor, ACT_USER_READ, &other_branch, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&auditor, ACT_USER_WRITE, &in_team, &why), KEHU__V1__CODE__PERMISSION_DENIED);

    /* an admin may do anything except to their own account */
    assert_int_equal(authz_check(&admin, ACT_USER_WRITE, &other_branch, &why), KEHU__V1__CODE__OK);
    struct authz_target admin_self = { branch3, 1, KEHU__V1__ROLE__ADMIN, 1, 0, NULL, 0, 0 };
    assert_int_equal(authz_check(&admin, ACT_USER_WRITE, &admin_self, &why), KEHU__V1__CODE__PERMISSION_DENIED);
}

/* Customers: admins and auditors read all, managers and agents their
 * branch, account managers their own; a record one may not read is
 * NOT_FOUND, one one may read but not change is PERMISSION_DENIED. */
static void test_authz_customers(void **state)
{
    (void)state;
    const char *why;
    static const int64_t sh[] = { 1, 2, 3 }, bj[] = { 1, 5 };
    struct authz_target mine = { sh, 3, 0, 0, 10, NULL, 0, 0 }, colleague = { sh, 3, 0, 0, 11, NULL, 0, 0 },
                        beijing = { bj, 2, 0, 0, 12, NULL, 0, 0 };
    struct principal admin = { .user_id = 1, .role = KEHU__V1__ROLE__ADMIN, .unit_id = 1 };
    struct principal mgr = { .user_id = 2, .role = KEHU__V1__ROLE__BRANCH_MANAGER, .unit_id = 3, .branch_id = 3 };
    struct principal am = { .user_id = 10, .role = KEHU__V1__ROLE__ACCOUNT_MANAGER, .unit_id = 4, .branch_id = 3 };
    struct principal agent = { .user_id = 20, .role = KEHU__V1__ROLE__SERVICE_AGENT, .unit_id = 3, .branch_id = 3 };
    struct principal auditor = { .user_id = 30, .role = KEHU__V1__ROLE__AUDITOR, .unit_id = 1 };

    assert_int_equal(authz_check(&admin, ACT_CUSTOMER_WRITE, &beijing, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&mgr, ACT_CUSTOMER_WRITE, &colleague, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&mgr, ACT_CUSTOMER_READ, &beijing, &why), KEHU__V1__CODE__NOT_FOUND);
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_WRITE, &mine, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_READ, &colleague, &why), KEHU__V1__CODE__NOT_FOUND);
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_WRITE, &colleague, &why), KEHU__V1__CODE__NOT_FOUND);
    assert_int_equal(authz_check(&agent, ACT_CUSTOMER_READ, &colleague, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&agent, ACT_CUSTOMER_WRITE, &colleague, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    assert_int_equal(authz_check(&agent, ACT_CUSTOMER_WRITE, NULL, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    assert_int_equal(authz_check(&auditor, ACT_CUSTOMER_READ, &beijing, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&auditor, ACT_CUSTOMER_WRITE, &beijing, &why), KEHU__V1__CODE__PERMISSION_DENIED);

    struct authz_scope s = authz_customer_scope(&am, ACT_CUSTOMER_READ);
    assert_int_equal(s.kind, SCOPE_OWNER);
    assert_int_equal(s.id, 10);
    s = authz_customer_scope(&mgr, ACT_CUSTOMER_READ);
    assert_int_equal(s.kind, SCOPE_UNIT);
    assert_int_equal(s.id, 3);
    assert_int_equal(authz_customer_scope(&auditor, ACT_CUSTOMER_WRITE).kind, SCOPE_NONE);
}

/* The matrix is editable: team and region scopes, an action switched off
 * and on, and the explanation naming the cell. Restores the defaults. */
static void test_authz_matrix(void **state)
{
    (void)state;
    const char *why;
    /* head office 1 > region 2 > branch 3 > team 4; branch 5 under head office; region 2 > branch 6 */
    static const int64_t b3[] = { 1, 2, 3 }, t4[] = { 1, 2, 3, 4 }, b5[] = { 1, 5 }, b6[] = { 1, 2, 6 };
    struct authz_target team_cust = { b3, 3, 0, 0, 11, t4, 4, 0 };  /* owned by 11, who sits in team 4 */
    struct authz_target branch_cust = { b3, 3, 0, 0, 12, b3, 3, 0 }; /* owned by 12, who sits in branch 3 */
    struct authz_target region_cust = { b6, 3, 0, 0, 13, b6, 3, 0 };
    struct authz_target far_cust = { b5, 2, 0, 0, 14, b5, 2, 0 };
    struct principal am = { .user_id = 10, .role = KEHU__V1__ROLE__ACCOUNT_MANAGER, .unit_id = 4, .branch_id = 3,
                            .region_id = 2 };
    enum perm_scope saved = authz_perm(KEHU__V1__ROLE__ACCOUNT_MANAGER, PERM_READ);

    authz_set_perm(KEHU__V1__ROLE__ACCOUNT_MANAGER, PERM_READ, PS_TEAM);
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_READ, &team_cust, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_READ, &branch_cust, &why), KEHU__V1__CODE__NOT_FOUND);
    struct authz_scope s = authz_customer_scope(&am, ACT_CUSTOMER_READ);
    assert_int_equal(s.kind, SCOPE_TEAM);
    assert_int_equal(s.id, 4);
    /* one's own customer is in one's team even without an owner path */
    struct authz_target own = { b3, 3, 0, 0, 10, NULL, 0, 0 };
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_READ, &own, &why), KEHU__V1__CODE__OK);

    authz_set_perm(KEHU__V1__ROLE__ACCOUNT_MANAGER, PERM_READ, PS_REGION);
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_READ, &region_cust, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_READ, &far_cust, &why), KEHU__V1__CODE__NOT_FOUND);
    /* readable, but 'edit' stays own: PERMISSION_DENIED, and explained */
    assert_int_equal(authz_check(&am, ACT_CUSTOMER_WRITE, &region_cust, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    char buf[512];
    assert_int_equal(authz_explain(&am, ACT_CUSTOMER_WRITE, &region_cust, buf, sizeof buf),
                     KEHU__V1__CODE__PERMISSION_DENIED);
    assert_non_null(strstr(buf, "account_manager/edit = own"));
    assert_non_null(strstr(buf, "readable"));
    assert_int_equal(authz_explain(&am, ACT_CUSTOMER_READ, &region_cust, buf, sizeof buf), KEHU__V1__CODE__OK);
    assert_non_null(strstr(buf, "allowed"));

    /* a manager placed directly at a branch with no region: region = the branch */
    struct principal mgr5 = { .user_id = 2, .role = KEHU__V1__ROLE__BRANCH_MANAGER, .unit_id = 5, .branch_id = 5 };
    authz_set_perm(KEHU__V1__ROLE__BRANCH_MANAGER, PERM_EXPORT, PS_REGION);
    assert_int_equal(authz_customer_scope(&mgr5, ACT_CUSTOMER_EXPORT).id, 5);
    authz_set_perm(KEHU__V1__ROLE__BRANCH_MANAGER, PERM_EXPORT, PS_NONE);
    assert_int_equal(authz_check(&mgr5, ACT_CUSTOMER_EXPORT, &far_cust, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    assert_int_equal(authz_check(&mgr5, ACT_CUSTOMER_EXPORT, NULL, &why), KEHU__V1__CODE__PERMISSION_DENIED);

    /* 'admin' below all: managing users of one's unit; the org needs 'all' */
    authz_set_perm(KEHU__V1__ROLE__BRANCH_MANAGER, PERM_ADMIN, PS_NONE);
    struct authz_target user5 = { b5, 2, KEHU__V1__ROLE__ACCOUNT_MANAGER, 99, 0, NULL, 0, 0 };
    assert_int_equal(authz_check(&mgr5, ACT_USER_WRITE, &user5, &why), KEHU__V1__CODE__PERMISSION_DENIED);
    authz_set_perm(KEHU__V1__ROLE__BRANCH_MANAGER, PERM_ADMIN, PS_BRANCH);
    assert_int_equal(authz_check(&mgr5, ACT_USER_WRITE, &user5, &why), KEHU__V1__CODE__OK);
    assert_int_equal(authz_check(&mgr5, ACT_ORG_WRITE, NULL, &why), KEHU__V1__CODE__PERMISSION_DENIED);

    authz_set_perm(KEHU__V1__ROLE__ACCOUNT_MANAGER, PERM_READ, saved);
    authz_set_perm(KEHU__V1__ROLE__BRANCH_MANAGER, PERM_EXPORT, PS_BRANCH);
    assert_int_equal(perm_action_from_name("override_grade"), PERM_OVERRIDE_GRADE);
    assert_int_equal(perm_scope_from_name("region"), PS_REGION);
    assert_int_equal(perm_scope_from_name("everything"), -1);
}

static void test_masks(void **state)
{
    (void)state;
    struct arena a = { 0 };
    assert_string_equal(mask_phone(&a, "13812345678"), "138****5678");
    assert_string_equal(mask_id_number(&a, "11010519491231002X"), "110105********002X");
    assert_string_equal(mask_phone(&a, "+86 138 1234 5678"), "+86**********5678");
    assert_string_equal(mask_phone(&a, "12345"), "****5");
    assert_string_equal(mask_phone(&a, "7"), "*");
    assert_string_equal(mask_phone(&a, ""), "");
    assert_string_equal(mask_keep(&a, "电话一二三四五六七八九", 3, 4), "电话一****六七八九");
    assert_string_equal(mask_digits(&a, "[\"13812345678\", \"12345\"]"), "[\"138****5678\", \"****5\"]");
    assert_string_equal(mask_digits(&a, "11010519491231002X"), "110***********002X");
    assert_string_equal(mask_digits(&a, "1234"), "1234");
    /* invalid UTF-8 is counted byte by byte: nothing passes unmasked */
    assert_string_equal(mask_phone(&a, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"), "\x80\x80\x80****\x80\x80\x80\x80");
    assert_string_equal(mask_phone(&a, "\x80\x80"), "*\x80");
    assert_string_equal(mask_phone(&a, "\xE4\xB8"), "*\xB8");
    arena_free(&a);
}

static void test_parse_path(void **state)
{
    (void)state;
    int64_t p[4];
    assert_int_equal(authz_parse_path("{1,3,7}", p, 4), 3);
    assert_int_equal(p[0], 1);
    assert_int_equal(p[2], 7);
    assert_int_equal(authz_parse_path("{}", p, 4), 0);
    assert_int_equal(authz_parse_path("{1,2,3,4,5}", p, 4), -1);
    assert_int_equal(authz_parse_path("1,2", p, 4), -1);
    assert_int_equal(authz_parse_path(NULL, p, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_verify),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_password_policy),
        cmocka_unit_test(test_authz),
        cmocka_unit_test(test_authz_customers),
        cmocka_unit_test(test_authz_matrix),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_parse_path),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
