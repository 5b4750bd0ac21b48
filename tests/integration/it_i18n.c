/* The Chinese interface: the command line under LANG=zh_CN.UTF-8 (and under
 * a Chinese locale that was never generated), kehud's refusals in the
 * client's language over the wire, export headers and system-written notes
 * in the reader's language; English unchanged under C. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "wire.h"

#define ARGS IT_ARGS
#define ENV IT_ENV
#define ADMIN_PW "KEHU_PASSWORD=" TH_ADMIN_PASSWORD
#define ZH "LANG=zh_CN.UTF-8"
/* a Chinese locale no machine has: setlocale fails, the catalogue is still found */
#define ZH_MISSING "LANG=zh_CN.KEHU-NOT-GENERATED"

static int kehu(const char *const *env, const char *const *args)
{
    return it_cli_run(&it_kehu, env, args);
}

static void expect(int rc, int want, const char *needle)
{
    it_cli_expect(&it_kehu, rc, want, needle);
}

static void absent(const char *needle)
{
    if (strstr(it_kehu.out, needle) || strstr(it_kehu.err, needle)) {
        fprintf(stderr, "unexpected '%s' in\nstdout:\n%s\nstderr:\n%s\n", needle, it_kehu.out, it_kehu.err);
        fail();
    }
}

static void test_help(void **state)
{
    (void)state;
    expect(kehu(ENV(ZH), ARGS("--help")), 0, "用法：kehu");
    expect(kehu(ENV(ZH), ARGS("--help")), 0, "登录并保存会话");
    assert_non_null(strstr(it_kehu.out, "命令：")); /* the help's heading */
    assert_non_null(strstr(it_kehu.out, "全局选项"));
    absent("log in and keep the session");
    /* the fallback: C.UTF-8 and LANGUAGE from LANG */
    expect(kehu(ENV(ZH_MISSING), ARGS("help", "whoami")), 0, "显示当前登录的用户（需要会话：kehu login）。");
    expect(kehu(ENV("LC_ALL=zh_CN.KEHU-NOT-GENERATED"), ARGS("help")), 0, "命令：");
    /* English as before under C and an English locale */
    expect(kehu(NULL, ARGS("--help")), 0, "usage: kehu [--server HOST:PORT]");
    assert_non_null(strstr(it_kehu.out, "\nCommands:\n  login [USERNAME]"));
    absent("登录并保存会话");
    expect(kehu(ENV("LANG=en_US.UTF-8"), ARGS("help", "logout")), 0, "end the session and forget it.");
}

static void test_usage_errors(void **state)
{
    (void)state;
    expect(kehu(ENV(ZH), ARGS("customer", "add")), 2, "kehu: customer add: 必须给出 --name");
    assert_non_null(strstr(it_kehu.err, "用法：kehu customer add"));
    expect(kehu(ENV(ZH_MISSING), ARGS("no-such-command")), 2, "未知命令“no-such-command”");
    /* codes stay as they are for scripts */
    expect(kehu(ENV(ZH), ARGS("customer", "add", "--json")), 2, "\"code\": \"USAGE\"");
    expect(kehu(NULL, ARGS("customer", "add")), 2, "kehu: customer add: --name is required\n");
    /* options marked required in a flag table */
    expect(kehu(ENV(ZH), ARGS("pool", "add", "某池")), 2, "kehu: pool add: 必须给出 --branch\n");
    expect(kehu(ENV(ZH), ARGS("user", "add", "zhao.liu", "--role", "auditor")), 2, "kehu: user add: 必须给出 --unit\n");
    expect(kehu(NULL, ARGS("org", "add", "某组", "--kind", "team")), 2, "kehu: org add: --parent is required\n");
}

static void test_refusals(void **state)
{
    (void)state;
    expect(kehu(ENV(ADMIN_PW), ARGS("login", "admin")), 0, NULL);
    /* a refusal worded in C */
    expect(kehu(ENV(ZH), ARGS("user", "disable", "nobody.at.all")), 1, "kehu: NOT_FOUND: 没有名为“nobody.at.all”的用户");
    expect(kehu(NULL, ARGS("user", "disable", "nobody.at.all")), 1, "kehu: NOT_FOUND: no user named 'nobody.at.all'");
    expect(kehu(ENV(ZH), ARGS("user", "disable", "nobody.at.all", "--json")), 1, "\"code\": \"NOT_FOUND\"");
    assert_non_null(strstr(it_kehu.out, "没有名为"));
    /* refusals raised in SQL, one with values filled in */
    expect(kehu(ENV(ZH), ARGS("org", "move", "总行", "--parent", "总行")), 1, "总行不能移动");
    expect(kehu(NULL, ARGS("org", "move", "总行", "--parent", "总行")), 1, "the head office cannot be moved");
    expect(kehu(ENV(ZH), ARGS("org", "add", "译区", "--kind", "region", "--parent", "总行")), 0, NULL);
    expect(kehu(ENV(ZH), ARGS("org", "add", "译分行", "--kind", "branch", "--parent", "译区")), 0, "已添加机构");
    expect(kehu(ENV(ZH), ARGS("org", "move", "译区", "--parent", "译区")), 1, "不能把“译区”移到它自己之下");
    expect(kehu(NULL, ARGS("org", "move", "译区", "--parent", "译区")), 1, "cannot move '译区' under itself");
    /* the empty text of a record kind's table, translated where shown */
    expect(kehu(ENV(ZH), ARGS("case", "list", "--status", "closed")), 0, "没有工单\n");
    expect(kehu(ENV(ZH), ARGS("calendar", "show", "2031")), 0, "未设置节假日或调休工作日\n");
    expect(kehu(NULL, ARGS("calendar", "show", "2031")), 0, "no holidays or make-up working days set\n");
}

/* The same refusal through the wire, with and without Hello.language. */
static char *login_refusal(const char *language)
{
    int fd = it_raw_connect();
    Kehu__V1__Hello h = KEHU__V1__HELLO__INIT;
    h.protocol_version = KEHU_PROTOCOL_VERSION;
    h.client = "it_i18n";
    h.language = (char *)language;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_HELLO;
    req.hello = &h;
    it_raw_send(fd, 1, &req);
    it_raw_expect(fd, 1, KEHU__V1__CODE__OK, 0);

    Kehu__V1__Login login = KEHU__V1__LOGIN__INIT;
    login.username = "admin";
    login.password = "not-the-password";
    Kehu__V1__Request lr = KEHU__V1__REQUEST__INIT;
    lr.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    lr.login = &login;
    it_raw_send(fd, 2, &lr);
    int eof;
    Kehu__V1__Frame *f = it_raw_recv(fd, 30000, &eof);
    assert_non_null(f);
    assert_int_equal(f->id, 2);
    assert_int_equal(f->response->status->code, KEHU__V1__CODE__UNAUTHENTICATED);
    char *msg = strdup(f->response->status->message);
    kehu__v1__frame__free_unpacked(f, NULL);
    close(fd);
    return msg;
}

static void test_wire(void **state)
{
    (void)state;
    char *zh = login_refusal("zh_CN");
    char *zh_full = login_refusal("zh_CN.UTF-8");
    char *en = login_refusal("");
    char *other = login_refusal("fr_FR");
    assert_string_equal(zh, "用户名或密码错误");
    assert_string_equal(zh_full, "用户名或密码错误");
    assert_string_equal(en, "wrong username or password");
    assert_string_equal(other, "wrong username or password");
    free(zh);
    free(zh_full);
    free(en);
    free(other);
}

static void test_paging_line(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("customer", "add", "--name", "王译一", "--branch", "译分行", "--phone", "13900000001")), 0, NULL);
    expect(kehu(NULL, ARGS("customer", "add", "--name", "王译二", "--branch", "译分行", "--phone", "13900000002")), 0, NULL);
    expect(kehu(NULL, ARGS("customer", "add", "--name", "王译三", "--branch", "译分行", "--phone", "13900000003")), 0, NULL);
    expect(kehu(ENV(ZH), ARGS("customer", "list", "--limit", "1")), 0, "还有 2 条（--all 显示全部）；下一页：");
    expect(kehu(NULL, ARGS("customer", "list", "--limit", "1")), 0, "2 more (--all for every one); the next page:");
    expect(kehu(ENV(ZH), ARGS("customer", "archive", "3")), 0, "已归档客户 3 王译三");
    /* a field's check: the field and the check's detail both in Chinese */
    expect(kehu(ENV(ZH), ARGS("customer", "add", "--name", "王译四", "--branch", "译分行", "--phone", "12")), 1,
           "kehu: INVALID_ARGUMENT: ");
    assert_non_null(strstr(it_kehu.err, "至少需要 5 位数字"));
    expect(kehu(NULL, ARGS("customer", "add", "--name", "王译四", "--branch", "译分行", "--phone", "12")), 1,
           "needs at least 5 digits");
}

static void slurp(const char *name, char *buf, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", it_kehu.dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void test_export_headers(void **state)
{
    (void)state;
    static char csv[65536];
    expect(kehu(ENV(ZH), ARGS("customer", "export", "--output", "zh.csv")), 0, NULL);
    slurp("zh.csv", csv, sizeof csv);
    assert_non_null(strstr(csv, "\xEF\xBB\xBF系统编号,客户编号,客户名称,客户类型,性别,出生日期,证件号码,电话,"));
    assert_non_null(strstr(csv, ",客户经理,所属机构,建档日期,状态,交易额,欠款余额,创建时间,更新时间,版本,ABC等级"));
    assert_non_null(strstr(csv, "王译一"));
    /* read back: every header known, the rows matched by their system id */
    expect(kehu(ENV(ZH), ARGS("customer", "import", "zh.csv", "--update", "--dry-run")), 0, NULL);
    absent("未知的列");
    absent("unknown columns");
    expect(kehu(NULL, ARGS("customer", "export", "--output", "en.csv")), 0, NULL);
    slurp("en.csv", csv, sizeof csv);
    assert_non_null(strstr(csv, "\xEF\xBB\xBFid,ext_ref,name,kind,gender,birth,id_number,phones,"));
}

static void test_system_notes(void **state)
{
    (void)state;
    /* the form grading writes with a churn warning's planned call */
    expect(kehu(NULL, ARGS("followup", "plan", "1", "--kind", "call", "--due", "+3d", "--note",
                           "Churn warning: silent, complaints")),
           0, NULL);
    expect(kehu(ENV(ZH), ARGS("followup", "list", "1", "--json")), 0, "\"note\": \"流失预警：沉默、投诉增多\"");
    assert_non_null(strstr(it_kehu.out, "\"kind\": \"call\"")); /* values for scripts stay */
    expect(kehu(NULL, ARGS("followup", "list", "1", "--json")), 0, "\"note\": \"Churn warning: silent, complaints\"");
    /* a note a person wrote is left as it is */
    expect(kehu(NULL, ARGS("followup", "plan", "2", "--kind", "call", "--due", "+3d", "--note", "silent")), 0, NULL);
    expect(kehu(ENV(ZH), ARGS("followup", "list", "2", "--json")), 0, "\"note\": \"silent\"");
}

static void test_amounts(void **state)
{
    (void)state;
    /* the same figures in both languages: two decimals, never the locale's
     * decimal comma */
    expect(kehu(ENV(ZH), ARGS("txn", "add", "1", "--amount", "1234567.5", "--product", "理财")), 0, "已添加交易");
    assert_non_null(strstr(it_kehu.out, "1,234,567.50")); /* for people: thousands grouped */
    expect(kehu(ENV("LANG=de_DE.UTF-8"), ARGS("txn", "add", "1", "--amount", "1234.5")), 0, "1,234.50");
    /* for scripts: the plain decimal whatever the language */
    expect(kehu(ENV(ZH), ARGS("txn", "list", "1", "--json")), 0, "\"amount\": \"1234567.50\"");
    expect(kehu(ENV(ZH), ARGS("txn", "list", "1", "--csv")), 0, ",1234567.50,");
}

/* One English header, two meanings: the key person of a contact list and
 * the key of a policy's values each have their own translation (msgctxt). */
static void test_contexts(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("contact", "add", "1", "--name", "李关键", "--key")), 0, NULL);
    expect(kehu(ENV(ZH), ARGS("contact", "list", "1")), 0, "关键人");
    absent("参数");
    expect(kehu(NULL, ARGS("contact", "list", "1")), 0, "KEY");
    expect(kehu(ENV(ZH), ARGS("assign", "policy", "show")), 0, "参数");
    absent("关键人");
    expect(kehu(NULL, ARGS("assign", "policy", "show")), 0, "KEY");
    absent("\004"); /* never the context itself */
}

/* An enum option's refusal names the option and every accepted value, in
 * the reader's language. */
static void test_enum_options(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("user", "add", "x.y", "--role", "boss", "--unit", "总行")), 2,
           "kehu: user add: --role: unknown role 'boss': use admin, branch_manager, account_manager, service_agent, "
           "auditor, committee or finance\n");
    expect(kehu(ENV(ZH), ARGS("user", "add", "x.y", "--role", "boss", "--unit", "总行")), 2,
           "--role：未知角色“boss”：可用 admin、branch_manager、account_manager、service_agent、auditor、committee 或 "
           "finance");
    expect(kehu(NULL, ARGS("org", "add", "某区", "--kind", "galaxy", "--parent", "总行")), 2,
           "--kind: unknown unit kind 'galaxy': use head_office, region, branch or team\n");
    expect(kehu(NULL, ARGS("user", "list", "--role", "Admin")), 2, "--role: unknown role 'Admin'");
    expect(kehu(NULL, ARGS("user", "set-role", "admin", "clerk")), 2, "ROLE: unknown role 'clerk'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_paging_line),
        cmocka_unit_test(test_export_headers),
        cmocka_unit_test(test_system_notes),
        cmocka_unit_test(test_amounts),
        cmocka_unit_test(test_contexts),
        cmocka_unit_test(test_enum_options),
    };
    return it_finish(cmocka_run_group_tests(tests, it_cli_setup, it_cli_teardown));
}
