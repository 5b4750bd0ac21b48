/* The kehu command line as scripts use it: exit codes, --json, the token store. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "itest.h"

static int kehu(const char *const *env, const char *const *args)
{
    return it_cli_run(&it_kehu, env, args);
}

static void expect(int rc, int want, const char *needle)
{
    it_cli_expect(&it_kehu, rc, want, needle);
}

#define ARGS IT_ARGS
#define ENV IT_ENV
#define ADMIN_PW "KEHU_PASSWORD=" TH_ADMIN_PASSWORD

static void test_ping_and_usage(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("ping")), 0, "pong");
    expect(kehu(NULL, ARGS("ping", "--json")), 0, "\"database_ok\": true");
    expect(kehu(NULL, ARGS("no-such-command")), 2, "no-such-command");
    expect(kehu(NULL, ARGS("ping", "--no-such-flag")), 2, "--no-such-flag");
    expect(kehu(NULL, ARGS("--server", "127.0.0.1:1", "ping")), 3, "cannot connect");
    expect(kehu(NULL, ARGS("--server", "127.0.0.1:1", "ping", "--json")), 3, "\"code\": \"UNAVAILABLE\"");
    expect(kehu(NULL, ARGS("help")), 0, "org add");
}

static void test_login_and_token_store(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("whoami")), 1, "not logged in");
    expect(kehu(ENV("KEHU_PASSWORD=wrong-password"), ARGS("login", "admin")), 1, "UNAUTHENTICATED");
    expect(kehu(NULL, ARGS("login", "admin")), 2, "KEHU_PASSWORD"); /* no terminal, no password: usage */
    expect(kehu(ENV(ADMIN_PW), ARGS("login", "admin")), 0, "admin");

    char path[200];
    struct stat st;
    snprintf(path, sizeof path, "%s/kehu", it_kehu.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/kehu/sessions", it_kehu.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    expect(kehu(NULL, ARGS("whoami", "--json")), 0, "\"username\": \"admin\"");
    assert_non_null(strstr(it_kehu.out, "\"role\": \"admin\""));
    assert_int_equal(it_kehu.out[0], '{');
    expect(kehu(NULL, ARGS("--json", "whoami")), 0, "\"id\": 1"); /* global flags before the command too */
}

static void test_org_and_users(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("org", "add", "西南区", "--kind", "region", "--parent", "总行", "--json")), 0,
           "\"kind\": \"region\"");
    expect(kehu(NULL, ARGS("org", "add", "成都分行", "--kind", "branch", "--parent", "西南区")), 0, "成都分行");
    expect(kehu(NULL, ARGS("org", "add", "成都分行", "--kind", "branch", "--parent", "西南区")), 1,
           "kehu: CONFLICT:");
    assert_non_null(strstr(it_kehu.err, "[name]"));
    expect(kehu(NULL, ARGS("org", "add", "成都分行", "--kind", "branch", "--parent", "西南区", "--json")), 1,
           "\"code\": \"CONFLICT\"");
    assert_non_null(strstr(it_kehu.out, "\"field\": \"name\""));
    expect(kehu(NULL, ARGS("org", "add", "X", "--kind", "planet", "--parent", "总行")), 2, "planet");
    expect(kehu(NULL, ARGS("org", "list")), 0, "成都分行");
    expect(kehu(NULL, ARGS("org", "list", "--json")), 0, "\"name\": \"西南区\"");
    assert_int_equal(it_kehu.out[0], '[');

    expect(kehu(ENV("KEHU_NEW_PASSWORD=cd-pass-123"),
                ARGS("user", "add", "cd.am", "--role", "account_manager", "--unit", "成都分行", "--name", "刘洋")),
           0, "cd.am");
    expect(kehu(ENV("KEHU_NEW_PASSWORD=cd-pass-123"),
                ARGS("user", "add", "cd.am", "--role", "account_manager", "--unit", "成都分行")),
           1, "[username]");
    expect(kehu(ENV("KEHU_NEW_PASSWORD=cd-pass-123"), ARGS("user", "add", "cd.x", "--role", "boss", "--unit", "成都分行")),
           2, "boss");
    expect(kehu(NULL, ARGS("user", "list", "--unit", "成都分行", "--json")), 0, "\"display_name\": \"刘洋\"");
    expect(kehu(NULL, ARGS("user", "move", "cd.am", "--unit", "西南区", "--json")), 0, "\"unit_name\": \"西南区\"");
    expect(kehu(NULL, ARGS("user", "disable", "cd.am", "--json")), 0, "\"disabled\": true");
    expect(kehu(NULL, ARGS("user", "disable", "nobody.at.all")), 1, "NOT_FOUND");
}

static void test_other_users_rights(void **state)
{
    (void)state;
    /* a second login replaces the stored session for this server */
    expect(kehu(ENV(ADMIN_PW), ARGS("login", "admin")), 0, NULL);
    expect(kehu(ENV("KEHU_NEW_PASSWORD=am-pass-123"),
                ARGS("user", "add", "cli.am", "--role", "account_manager", "--unit", "成都分行")),
           0, NULL);
    expect(kehu(ENV("KEHU_PASSWORD=am-pass-123"), ARGS("login", "cli.am")), 0, NULL);
    expect(kehu(NULL, ARGS("whoami", "--json")), 0, "\"username\": \"cli.am\"");
    expect(kehu(NULL, ARGS("user", "list")), 1, "PERMISSION_DENIED");
    expect(kehu(NULL, ARGS("org", "add", "Y", "--kind", "region", "--parent", "总行")), 1, "PERMISSION_DENIED");
}

static void test_logout(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("logout")), 0, NULL);
    expect(kehu(NULL, ARGS("whoami")), 1, "not logged in");
    expect(kehu(NULL, ARGS("logout")), 0, "not logged in");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_and_usage),
        cmocka_unit_test(test_login_and_token_store),
        cmocka_unit_test(test_org_and_users),
        cmocka_unit_test(test_other_users_rights),
        cmocka_unit_test(test_logout),
    };
    return it_finish(cmocka_run_group_tests(tests, it_cli_setup, it_cli_teardown));
}
