/* The CLI's output to the byte: for each record kind, --json, --csv and the
 * human table or record, through the real wire, compared with a transcript
 * kept in tests/integration/golden/cli_output.txt. Chinese text and money
 * are in most records.
 *
 * Times of day the server stamps (created_at ...) and today's date are
 * written as <time> and <today>, so the transcript does not depend on when
 * it runs. KEHU_GOLDEN_UPDATE=1 writes the transcript instead of comparing
 * (then read the diff before committing it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define ARGS IT_ARGS
#define ENV IT_ENV
#define GOLDEN KEHU_SOURCE_DIR "/tests/integration/golden/cli_output.txt"

static char *transcript;
static size_t t_len, t_cap;
static char today[16];
static int squash; /* numbers of 2 digits or more as <n> (audit sequence numbers, written in a race) */

static void t_put(const char *s, size_t n)
{
    if (t_len + n + 1 > t_cap) {
        t_cap = (t_len + n + 1) * 2;
        transcript = realloc(transcript, t_cap);
        assert_non_null(transcript);
    }
    memcpy(transcript + t_len, s, n);
    t_len += n;
    transcript[t_len] = 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* s with ISO times (YYYY-MM-DDTHH:MM:SSZ) as <time>, today's date as
 * <today>, a time in ms (13 digits) as <ms>, a loopback port as <port> and a SHA-256 (64 hex digits, an audit
 * row's hash: it covers the row's time) as <hash>. */
static void t_put_normal(const char *s)
{
    size_t n = strlen(s), tl = strlen(today);
    for (size_t i = 0; i < n;) {
        if (i + 20 <= n && is_digit(s[i]) && is_digit(s[i + 3]) && s[i + 4] == '-' && s[i + 7] == '-' &&
            s[i + 10] == 'T' && s[i + 13] == ':' && s[i + 16] == ':' && s[i + 19] == 'Z') {
            t_put("<time>", 6);
            i += 20;
        } else if (strncmp(s + i, "127.0.0.1:", 10) == 0 && is_digit(s[i + 10])) {
            t_put("127.0.0.1:<port>", 16);
            for (i += 10; is_digit(s[i]);)
                i++;
        } else if ((i == 0 || !is_digit(s[i - 1])) && strspn(s + i, "0123456789") == 13) {
            t_put("<ms>", 4); /* milliseconds since 1970 */
            i += 13;
        } else if ((i == 0 || !is_hex(s[i - 1])) && strspn(s + i, "0123456789abcdef") == 64) {
            t_put("<hash>", 6);
            i += 64;
        } else if (squash && (i == 0 || !is_digit(s[i - 1])) && strspn(s + i, "0123456789") >= 2) {
            t_put("<n>", 3);
            i += strspn(s + i, "0123456789");
        } else if (strncmp(s + i, "\"duration_ms\": ", 15) == 0 && is_digit(s[i + 15])) {
            t_put("\"duration_ms\": <n>", 18); /* how long a run took */
            for (i += 15; is_digit(s[i]);)
                i++;
        } else if (strncmp(s + i, "duration:", 9) == 0) {
            size_t sp = strspn(s + i + 9, " ");
            t_put(s + i, 9 + sp);
            t_put("<duration>", 10);
            i += 9 + sp;
            i += strcspn(s + i, "\n");
        } else if (i + tl <= n && strncmp(s + i, today, tl) == 0) {
            t_put("<today>", 7);
            i += tl;
        } else {
            t_put(s + i, 1);
            i++;
        }
    }
}

/* Runs kehu with args and appends "$ kehu ARGS", its exit code, stdout and
 * stderr to the transcript. Returns the exit code. */
static int run(const char *const *env, const char *const *args)
{
    int rc = it_cli_run(&it_kehu, env, args);
    t_put("$ kehu", 6);
    for (size_t i = 0; args[i]; i++) {
        t_put(" ", 1);
        t_put(args[i], strlen(args[i]));
    }
    char line[64];
    snprintf(line, sizeof line, "\n[exit %d]\n", rc);
    t_put(line, strlen(line));
    t_put_normal(it_kehu.out);
    if (it_kehu.err[0]) {
        t_put("[stderr]\n", 9);
        t_put_normal(it_kehu.err);
    }
    return rc;
}

/* The command in its three forms: --json, --csv, and for people. */
#define THREE(...)                               \
    do {                                         \
        run(NULL, ARGS(__VA_ARGS__, "--json"));  \
        run(NULL, ARGS(__VA_ARGS__, "--csv"));   \
        run(NULL, ARGS(__VA_ARGS__));            \
    } while (0)

static void test_records(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);

    assert_int_equal(run(ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), ARGS("login", "admin")), 0);
    THREE("whoami");
    run(NULL, ARGS("org", "add", "华东区", "--kind", "region", "--parent", "总行", "--json"));
    run(NULL, ARGS("org", "add", "上海分行", "--kind", "branch", "--parent", "华东区", "--csv"));
    run(NULL, ARGS("org", "add", "上海一组", "--kind", "team", "--parent", "上海分行"));
    run(ENV("KEHU_NEW_PASSWORD=password-1"),
        ARGS("user", "add", "li.lei", "--role", "account_manager", "--unit", "上海一组", "--name", "李雷"));
    run(ENV("KEHU_NEW_PASSWORD=password-2"),
        ARGS("user", "add", "wang.fang", "--role", "branch_manager", "--unit", "上海分行", "--name", "王芳", "--json"));
    THREE("org", "list");
    THREE("user", "list", "--unit", "上海一组");

    /* a customer with Chinese text everywhere */
    assert_int_equal(run(NULL, ARGS("customer", "add", "--name", "张三丰", "--kind", "individual", "--phone",
                                    "13800138000", "--email", "zsf@example.cn", "--company", "武当山贸易有限公司",
                                    "--region", "湖北", "--industry", "贸易", "--tag", "重要", "--tag", "老客户",
                                    "--owner", "li.lei", "--json")),
                     0);
    long long id = it_cli_json_num(&it_kehu, "id");
    char cid[32];
    snprintf(cid, sizeof cid, "%lld", id);
    assert_int_equal(run(NULL, ARGS("customer", "add", "--name", "北京远航科技有限公司", "--kind", "corporate",
                                    "--phone", "010-88886666", "--owner", "li.lei")),
                     0);
    THREE("customer", "show", cid);
    THREE("customer", "list");
    THREE("customer", "search", "张三");

    /* contacts, transactions and money */
    run(NULL, ARGS("contact", "add", cid, "--name", "李四", "--title", "财务总监", "--phone", "13900001111", "--phone",
                   "021-55556666", "--email", "lisi@example.cn", "--key", "--json"));
    run(NULL, ARGS("contact", "add", cid, "--name", "王五", "--csv"));
    THREE("contact", "list", cid);
    run(NULL, ARGS("txn", "add", cid, "--amount", "1234.50", "--date", "2026-01-15", "--margin", "12.30", "--product",
                   "理财", "--category", "基金", "--channel", "柜台", "--json"));
    run(NULL, ARGS("txn", "add", cid, "--amount", "-0.05", "--date", "2026-01-16", "--csv"));
    run(NULL, ARGS("txn", "add", cid, "--amount", "88000", "--date", "2026-02-01", "--on-credit", "--due", "2026-03-01"));
    THREE("txn", "list", cid);
    run(NULL, ARGS("txn", "reverse", "2", "--reason", "录入错误", "--json"));
    run(NULL, ARGS("payment", "add", cid, "--amount", "120.50", "--date", "2026-02-10", "--method", "cash",
                   "--reference", "收据 0042", "--note", "现金，含\"引号\"", "--json"));
    run(NULL, ARGS("payment", "add", cid, "--amount", "1000", "--date", "2026-02-11", "--csv"));
    run(NULL, ARGS("payment", "add", cid, "--amount", "7.07", "--date", "2026-02-12"));
    run(NULL, ARGS("payment", "reverse", "3", "--reason", "重复", "--json"));
    THREE("payment", "list", cid);
    THREE("arrears", cid, "--as-of", "2026-04-01");
    run(NULL, ARGS("asset", "add", cid, "--balance", "50000", "--product", "理财", "--date", "2026-01-20", "--json"));
    run(NULL, ARGS("asset", "add", cid, "--balance", "60000.5", "--product", "deposit", "--date", "2026-01-21", "--csv"));
    run(NULL, ARGS("asset", "add", cid, "--balance", "1.5", "--product", "fund", "--date", "2026-01-22"));
    THREE("asset", "list", cid);
    THREE("payment", "list", cid, "--limit", "2");

    /* follow-ups and documents */
    run(NULL, ARGS("followup", "plan", cid, "--kind", "visit", "--due", "2030-06-01", "--note", "上门拜访", "--json"));
    run(NULL, ARGS("followup", "plan", cid, "--kind", "call", "--due", "2030-06-02", "--csv"));
    run(NULL, ARGS("followup", "log", cid, "--kind", "visit", "--outcome", "满意", "--note", "聊了理财", "--at",
                   "2026-02-01", "--json"));
    THREE("followup", "list", cid);
    char path[256]; /* kehu runs in it_kehu.dir */
    snprintf(path, sizeof path, "%s/合同.txt", it_kehu.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("合同内容 contract text\n", f);
    fclose(f);
    run(NULL, ARGS("doc", "put", cid, "合同.txt", "--json"));
    run(NULL, ARGS("doc", "put", cid, "合同.txt", "--name", "第二份.txt", "--type", "text/plain"));
    THREE("doc", "list", cid);

    /* grades, cases, the network */
    THREE("grade", "show", cid);
    run(NULL, ARGS("case", "open", cid, "--nature", "complaint", "--kind", "service", "--severity", "2", "--channel",
                   "phone", "--title", "柜台排队太久", "--note", "等了一小时", "--json"));
    THREE("case", "show", "1");
    THREE("case", "list");
    THREE("case", "queue");
    THREE("case", "list", "--status", "closed");
    run(NULL, ARGS("calendar", "set", "2026-10-01", "holiday", "--name", "国庆"));
    THREE("calendar", "show", "2026");
    THREE("calendar", "show", "2031");
    run(NULL, ARGS("survey", "send", cid, "--case", "1", "--json"));
    run(NULL, ARGS("survey", "record", "1", "--score", "服务=4/5", "--score", "速度=3/3"));
    run(NULL, ARGS("survey", "send", cid));
    THREE("survey", "list");
    THREE("survey", "list", "--pending");
    THREE("case", "alerts");
    THREE("pool", "list");
    THREE("assign", "history", cid);
    THREE("pool", "pools");
    THREE("access", "explain", "li.lei", cid);

    /* the audit trail: numbers, a time both ways, a list of ids, a hash (rows
     * long written: the last ones may still be on their way) */
    squash = 1;
    THREE("audit", "list", "--action", "customer_add");
    THREE("audit", "list", "--action", "payment_add", "--limit", "2");
    squash = 0;

    /* refusals and usage errors */
    THREE("customer", "show", "999999");
    THREE("payment", "add", cid, "--amount", "12.345");
    THREE("asset", "list", "abc");

    /* replies printed by one table row each (cli_run_one), and enum options */
    THREE("user", "list", "--role", "account_manager");
    run(NULL, ARGS("user", "list", "--role", "boss"));
    run(NULL, ARGS("org", "add", "某区", "--kind", "galaxy", "--parent", "总行"));
    /* options marked required in the flag table: a usage error before any request */
    run(NULL, ARGS("org", "add", "某组", "--kind", "team"));
    run(NULL, ARGS("user", "add", "zhao.liu", "--role", "account_manager"));
    run(NULL, ARGS("user", "move", "li.lei"));
    THREE("perm", "show");
    THREE("hours", "show");
    THREE("grade", "policy", "show");
    THREE("assign", "policy", "show");
    run(NULL, ARGS("pool", "add", "二号池", "--branch", "上海分行", "--json"));
    run(NULL, ARGS("pool", "add", "三号池", "--branch", "上海分行"));
    run(NULL, ARGS("pool", "add", "四号池"));
    run(NULL, ARGS("pool", "release", cid));
    run(NULL, ARGS("pool", "release", cid, "--reason", "长期未联系", "--json"));
    run(NULL, ARGS("pool", "claim", cid));
    run(NULL, ARGS("pool", "release", cid, "--reason", "再次释放"));
    THREE("pool", "list");
    run(NULL, ARGS("pool", "claim", cid, "--json"));
    run(NULL, ARGS("assign", cid, "--to", "wang.fang", "--reason", "调岗", "--json"));
    THREE("assign", cid, "--to", "li.lei", "--reason", "回调", "--dry-run");
    THREE("customer", "history", cid);
    THREE("assign", "undo", "1", "--dry-run");
    run(NULL, ARGS("assign", "undo", "1", "--reason", "撤回"));
    run(NULL, ARGS("assign", "undo", "x"));
    THREE("report", "cases");
    THREE("report", "abc");
    THREE("report", "abc", "--by", "branch");
    THREE("grade", "show", cid);
    char csv[256];
    snprintf(csv, sizeof csv, "%s/客户.csv", it_kehu.dir);
    f = fopen(csv, "w");
    assert_non_null(f);
    fputs("姓名,电话,出生日期,未知列,id\n赵六,13700001111,1990-01-01,x,\n钱七,12,1990-13-01,y,\n张三丰,13800138000,,z,\n", f);
    fclose(f);
    run(NULL, ARGS("customer", "import", "客户.csv", "--branch", "上海分行", "--dry-run", "--json"));
    run(NULL, ARGS("customer", "import", "客户.csv", "--branch", "上海分行", "--dry-run"));
    /* the annual review's records: a grading run and a review whose window
     * is today alone, set up off the transcript (their output holds the
     * year and run times) */
    THREE("vip", "list");
    THREE("vip", "list", "--withdrawn");
    THREE("churn", "winback");
    assert_int_equal(it_cli_run(&it_kehu, NULL, ARGS("grade", "run")), 0);
    assert_int_equal(it_cli_run(&it_kehu, NULL, ARGS("review", "open", "--from", today, "--to", today)), 0);
    THREE("review", "items");
    assert_int_equal(it_cli_run(&it_kehu, NULL, ARGS("review", "rate", cid, "--confirm")), 0);
    THREE("review", "items", "--status", "all");
    run(NULL, ARGS("review", "rate", "2", "--confirm"));
    run(NULL, ARGS("review", "rate", "2", "--grade", "B", "--reason", "往来稳定", "--csv"));

    /* rules, caps, due follow-ups and a case's history */
    THREE("followup", "due", "--days", "3660");
    THREE("followup", "due", "--user", "wang.fang", "--days", "3660", "--limit", "1");
    THREE("pool", "rules", "show");
    THREE("assign", "rules", "show", "--branch", "上海分行");
    THREE("user", "cap", "li.lei", "none");
    run(NULL, ARGS("case", "comment", "1", "--note", "已致电客户", "--json"));
    THREE("case", "show", "1");

    /* what a grading run leaves: a customer's grades and history, the
     * reports with their money, top customers and migration between runs
     * (a dry run's duration is masked: it is the time it took) */
    THREE("grade", "run", "--dry-run");
    THREE("grade", "show", cid);
    THREE("grade", "show", "2");
    assert_int_equal(it_cli_run(&it_kehu, NULL, ARGS("grade", "run")), 0);
    THREE("report", "abc", "--top", "3");
    THREE("report", "abc", "--by", "owner", "--from-run", "1");
    THREE("report", "lifecycle");
    THREE("report", "churn");
    /* the plan of a merge, and policy values set to what they are */
    THREE("customer", "merge", cid, "2", "--dry-run");
    THREE("grade", "policy", "set", "abc.a_share=0.05", "new_months=6");
    THREE("assign", "policy", "set", "handover.split=60");

    if (getenv("KEHU_GOLDEN_UPDATE")) {
        FILE *g = fopen(GOLDEN, "w");
        assert_non_null(g);
        fwrite(transcript, 1, t_len, g);
        assert_int_equal(fclose(g), 0);
        return;
    }
    FILE *g = fopen(GOLDEN, "r");
    assert_non_null(g);
    static char want[1 << 20];
    size_t wn = fread(want, 1, sizeof want - 1, g);
    fclose(g);
    want[wn] = 0;
    if (wn != t_len || memcmp(want, transcript, wn) != 0) {
        /* the first line that differs, with the command it belongs to */
        size_t i = 0, line = 1, cmd = 0;
        while (i < wn && i < t_len && want[i] == transcript[i]) {
            if (want[i] == '\n') {
                line++;
                if (want[i + 1] == '$')
                    cmd = i + 1;
            }
            i++;
        }
        const char *nl = strchr(transcript + cmd, '\n');
        int cl = nl ? (int)(nl - (transcript + cmd)) : 40;
        size_t ls = i;
        while (ls > 0 && transcript[ls - 1] != '\n')
            ls--;
        const char *wl = want + ls, *gl = transcript + ls;
        fail_msg("output differs from %s at line %zu, in '%.*s'\nwant: %.*s\ngot:  %.*s", GOLDEN, line, cl,
                 transcript + cmd, (int)strcspn(wl, "\n"), wl, (int)strcspn(gl, "\n"), gl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
    };
    return it_finish(cmocka_run_group_tests(tests, it_cli_setup, it_cli_teardown));
}
