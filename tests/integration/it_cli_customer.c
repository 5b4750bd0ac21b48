/* The customer commands of the kehu command line as scripts use them:
 * --json shapes, exit codes, optimistic versions, duplicates, transactions,
 * history and `watch --json` through a pipe. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

static long long cust_id; /* the customer the tests share */

static int kehu(const char *const *env, const char *const *args)
{
    return it_cli_run(&it_kehu, env, args);
}

#define ARGS IT_ARGS
#define ENV IT_ENV
#define ADMIN_PW "KEHU_PASSWORD=" TH_ADMIN_PASSWORD

static void expect(int rc, int want, const char *needle)
{
    it_cli_expect(&it_kehu, rc, want, needle);
}

/* The text must be in stdout. */
static void has(const char *needle)
{
    if (!strstr(it_kehu.out, needle))
        fail_msg("stdout lacks '%s'\nstdout: %s\nstderr: %s", needle, it_kehu.out, it_kehu.err);
}

static long long json_num(const char *key)
{
    return it_cli_json_num(&it_kehu, key);
}

static const char *id_str(void)
{
    static char s[32];
    snprintf(s, sizeof s, "%lld", cust_id);
    return s;
}

static void test_add_and_show(void **state)
{
    (void)state;
    expect(kehu(ENV(ADMIN_PW), ARGS("login", "admin")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "华东区", "--kind", "region", "--parent", "总行")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "杭州分行", "--kind", "branch", "--parent", "华东区")), 0, NULL);

    expect(kehu(NULL, ARGS("customer", "add", "--name", "张三丰", "--phone", "13800138000", "--tag", "vip", "--tag",
                           "老客户", "--company", "武当贸易", "--birth", "1980-05-06", "--branch", "杭州分行",
                           "--json")),
           0, "\"name\": \"张三丰\"");
    assert_int_equal(it_kehu.out[0], '{');
    cust_id = json_num("id");
    assert_true(cust_id > 0);
    assert_int_equal(json_num("version"), 1);

    expect(kehu(NULL, ARGS("customer", "show", id_str(), "--json")), 0, "\"company\": \"武当贸易\"");
    static const char *const keys[] = { "id",         "version",   "kind",       "name",       "ext_ref",
                                        "gender",     "birth",     "id_number",  "phones",     "email",
                                        "company",    "address",   "region",     "industry",   "size",
                                        "occupation", "source",    "tags",       "notes",      "owner_id",
                                        "owner",      "branch_id", "branch",     "since",      "status",
                                        "created_at", "created_by", "updated_at", "updated_by", "last_contact_at",
                                        "revenue",    "balance" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char k[64];
        snprintf(k, sizeof k, "\"%s\":", keys[i]);
        has(k);
    }
    has("\"13800138000\"");
    has("\"老客户\"");
    has("\"birth\": \"1980-05-06\"");
    has("\"branch\": \"杭州分行\"");
    has("\"status\": \"active\"");
    has("\"revenue\": \"0.00\"");
    has("\"created_by\": \"admin\"");

    expect(kehu(NULL, ARGS("customer", "show", id_str())), 0, "张三丰");
    has("vip, 老客户");
    expect(kehu(NULL, ARGS("customer", "show", "999999", "--json")), 1, "\"code\": \"NOT_FOUND\"");
    expect(kehu(NULL, ARGS("customer", "show", "abc")), 2, "abc");
    expect(kehu(NULL, ARGS("customer", "add", "--name", "李四", "--birth", "1980-02-30")), 2, "--birth");
    expect(kehu(NULL, ARGS("customer", "add", "--kind", "alien", "--name", "李四")), 2, "--kind");
}

static void test_edit_and_stale_version(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("customer", "edit", id_str(), "--version", "1", "--set", "company=峨眉实业", "--set",
                           "tags=vip,重点", "--json")),
           0, "\"company\": \"峨眉实业\"");
    assert_int_equal(json_num("version"), 2);
    has("\"重点\"");

    expect(kehu(NULL, ARGS("customer", "edit", id_str(), "--version", "1", "--set", "region=浙江")), 1,
           "kehu: CONFLICT:");
    assert_non_null(strstr(it_kehu.err, "changed since version 1: it is now at version 2"));
    expect(kehu(NULL, ARGS("customer", "edit", id_str(), "--version", "1", "--set", "region=浙江", "--json")), 1,
           "\"code\": \"CONFLICT\"");
    has("\"current\":");
    assert_int_equal(json_num("version"), 2);
    expect(kehu(NULL, ARGS("customer", "edit", id_str(), "--version", "2", "--set", "region=浙江")), 0,
           "updated to version 3");
    /* without --version: only the named field, on the current record */
    expect(kehu(NULL, ARGS("customer", "edit", id_str(), "--set", "region=江苏")), 0, "updated to version 4");
}

static void test_list_and_search(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("customer", "list", "--json")), 0, "\"name\": \"张三丰\"");
    assert_int_equal(it_kehu.out[0], '[');
    expect(kehu(NULL, ARGS("customer", "list", "--branch", "杭州分行")), 0, "张三丰");
    has("REVENUE");
    expect(kehu(NULL, ARGS("customer", "list", "--csv")), 0, "id,version,kind,name");
    expect(kehu(NULL, ARGS("customer", "search", "张", "--json")), 0, "\"name\": \"张三丰\"");
    assert_int_equal(it_kehu.out[0], '[');
    expect(kehu(NULL, ARGS("customer", "list", "--sort", "height")), 2, "--sort");
}

static void test_duplicates(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("customer", "add", "--name", "张三丰", "--phone", "13800138000", "--branch", "杭州分行")),
           1, "kehu: CONFLICT: probable duplicate of customer");
    assert_non_null(strstr(it_kehu.err, "--force"));
    assert_non_null(strstr(it_kehu.err, id_str()));
    expect(kehu(NULL, ARGS("customer", "add", "--name", "张三丰", "--phone", "13800138000", "--branch", "杭州分行",
                           "--json")),
           1, "\"duplicates\":");
    has("\"code\": \"CONFLICT\"");
    has("\"reason\":");
    expect(kehu(NULL, ARGS("customer", "add", "--name", "张三丰", "--phone", "13800138000", "--branch", "杭州分行",
                           "--force")),
           0, "added customer");
}

static void test_transactions(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("txn", "add", id_str(), "--amount", "1234.5", "--date", "2026-03-01", "--margin", "200",
                           "--product", "龙井茶", "--json")),
           0, "\"amount\": \"1234.50\"");
    has("\"margin\": \"200.00\"");
    expect(kehu(NULL, ARGS("txn", "add", id_str(), "--amount", "-34.05", "--date", "2026-03-02", "--json")), 0,
           "\"margin\": null");
    expect(kehu(NULL, ARGS("txn", "add", id_str(), "--amount", "12.345")), 2, "--amount");
    expect(kehu(NULL, ARGS("txn", "add", id_str(), "--amount", "10", "--date", "2026-3-1")), 2, "--date");
    expect(kehu(NULL, ARGS("txn", "add", id_str(), "--amount", "99", "--date", "2026-03-03")), 0,
           "added transaction");
    assert_non_null(strstr(it_kehu.out, "2026-03-03 99.00"));
    expect(kehu(NULL, ARGS("txn", "list", id_str(), "--json")), 0, "\"amount\": \"-34.05\"");
    assert_int_equal(it_kehu.out[0], '[');
    has("\"amount\": \"1234.50\"");
    expect(kehu(NULL, ARGS("txn", "list", id_str())), 0, "龙井茶");
    has("1,234.50"); /* people read amounts grouped; --json above keeps the plain decimal */
    expect(kehu(NULL, ARGS("txn", "list", id_str(), "--csv")), 0, ",1234.50,"); /* and --csv */
    expect(kehu(NULL, ARGS("customer", "show", id_str(), "--json")), 0, "\"revenue\": \"1299.45\"");
}

static void test_contacts(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("contact", "add", id_str(), "--name", "王五", "--title", "采购经理", "--phone",
                           "13900139000", "--key", "--json")),
           0, "\"key_person\": true");
    long long contact = json_num("id");
    char cid[32];
    snprintf(cid, sizeof cid, "%lld", contact);
    expect(kehu(NULL, ARGS("contact", "list", id_str())), 0, "采购经理");
    expect(kehu(NULL, ARGS("contact", "list", id_str(), "--json")), 0, "\"name\": \"王五\"");
    assert_int_equal(it_kehu.out[0], '[');
    expect(kehu(NULL, ARGS("contact", "edit", cid, "--version", "1", "--set", "title=总经理")), 0,
           "updated to version 2");
    expect(kehu(NULL, ARGS("contact", "edit", cid, "--version", "1", "--set", "title=董事")), 1, "CONFLICT");
}

static void test_history(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("customer", "history", id_str(), "--json")), 0, "\"field\": \"company\"");
    assert_int_equal(it_kehu.out[0], '[');
    has("\"new_value\": \"峨眉实业\"");
    has("\"old_value\": \"武当贸易\"");
    expect(kehu(NULL, ARGS("customer", "history", id_str())), 0, "峨眉实业");
}

/* Reads from fd until needle has arrived or timeout_ms passed; 0 when found. */
static int read_until(int fd, char *buf, size_t size, size_t *len, const char *needle, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    while (!strstr(buf, needle)) {
        int left = (int)(deadline - it_now_ms());
        if (left <= 0)
            return -1;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = read(fd, buf + *len, size - 1 - *len);
        if (n <= 0)
            return -1;
        *len += (size_t)n;
        buf[*len] = 0;
    }
    return 0;
}

static void test_watch(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("customer", "show", id_str(), "--json")), 0, NULL);
    char version[32];
    snprintf(version, sizeof version, "%lld", json_num("version"));

    int po[2], pe[2];
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        it_cli_exec(&it_kehu, NULL, ARGS("watch", "--customer", id_str(), "--json"));
    }
    close(po[1]);
    close(pe[1]);
    char obuf[8192] = "", ebuf[2048] = "";
    size_t olen = 0, elen = 0;
    int subscribed = read_until(pe[0], ebuf, sizeof ebuf, &elen, "watching", 10000);

    int edited = kehu(NULL, ARGS("customer", "edit", id_str(), "--version", version, "--set", "notes=看见了"));
    int64_t t0 = it_now_ms();
    char want[64];
    snprintf(want, sizeof want, "\"customer_id\":%lld", cust_id);
    /* wait for the edit's event (the creation's may arrive first) */
    int seen = read_until(po[0], obuf, sizeof obuf, &olen, "\"kind\":\"customer.updated\"", 5000);
    int64_t waited = it_now_ms() - t0;

    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    close(po[0]);
    close(pe[0]);
    if (subscribed || edited || seen)
        fail_msg("watch: subscribed %d, edit exit %d, event seen %d\nwatch stdout: %s\nwatch stderr: %s\n"
                 "edit stderr: %s",
                 subscribed, edited, seen, obuf, ebuf, it_kehu.err);
    (void)waited; /* the event came while the watcher waited (5 s at most): liveness, not a speed test */
    assert_non_null(strstr(obuf, "\"kind\":\"customer.updated\""));
    assert_non_null(strstr(obuf, want));
    assert_non_null(strstr(obuf, "\"version\":"));
    assert_non_null(strchr(obuf, '\n'));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* interrupted: a clean exit */
}

static void test_archive(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("customer", "archive", id_str())), 0, "archived customer");
    expect(kehu(NULL, ARGS("customer", "show", id_str(), "--json")), 0, "\"status\": \"archived\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_show),
        cmocka_unit_test(test_edit_and_stale_version),
        cmocka_unit_test(test_list_and_search),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_contacts),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_watch),
        cmocka_unit_test(test_archive),
    };
    return it_finish(cmocka_run_group_tests(tests, it_cli_setup, it_cli_teardown));
}
