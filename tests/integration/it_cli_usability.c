/* The kehu command line as people use it: --help anywhere, usage errors as
 * JSON, dates counted from today, "not a kehud server", names in watch lines
 * and history, one summary line for an import, empty lists that say so, and
 * on a terminal (a pseudo-terminal here) the pager and tables that fit. */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define ARGS IT_ARGS
#define ENV IT_ENV
#define ADMIN_PW "KEHU_PASSWORD=" TH_ADMIN_PASSWORD

static char cust[32]; /* the customer the tests share, with a long Chinese name */

static int kehu(const char *const *env, const char *const *args)
{
    return it_cli_run(&it_kehu, env, args);
}

static void expect(int rc, int want, const char *needle)
{
    it_cli_expect(&it_kehu, rc, want, needle);
}

static void has(const char *needle)
{
    if (!strstr(it_kehu.out, needle))
        fail_msg("stdout lacks '%s'\nstdout: %s\nstderr: %s", needle, it_kehu.out, it_kehu.err);
}

/* Reads from fd until needle has arrived or timeout_ms passed; 0 when found. */
static int read_until(int fd, char *buf, size_t size, size_t *len, const char *needle, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    while (!needle || !strstr(buf, needle)) {
        int left = (int)(deadline - it_now_ms());
        if (left <= 0)
            return -1;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = read(fd, buf + *len, size - 1 - *len);
        if (n <= 0)
            return needle ? -1 : 0;
        *len += (size_t)n;
        buf[*len] = 0;
    }
    return 0;
}

/* ---- A watcher: `kehu watch ...` in the background, stdout and stderr piped */

struct watcher {
    pid_t pid;
    int out, err;
    char obuf[65536], ebuf[4096];
    size_t olen, elen;
};

static void watch_start(struct watcher *w, const struct it_cli *c, const char *const *args)
{
    int po[2], pe[2];
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    memset(w, 0, sizeof *w);
    w->pid = fork();
    if (w->pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        it_cli_exec(c, NULL, args);
    }
    close(po[1]);
    close(pe[1]);
    w->out = po[0];
    w->err = pe[0];
    if (read_until(w->err, w->ebuf, sizeof w->ebuf, &w->elen, "watching", 10000))
        fail_msg("the watcher did not start: %s", w->ebuf);
}

static int watch_wait(struct watcher *w, const char *needle, int timeout_ms)
{
    return read_until(w->out, w->obuf, sizeof w->obuf, &w->olen, needle, timeout_ms);
}

static void watch_stop(struct watcher *w)
{
    kill(w->pid, SIGINT);
    int status;
    waitpid(w->pid, &status, 0);
    close(w->out);
    close(w->err);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- Tests */

static void test_help_and_usage(void **state)
{
    (void)state;
    /* help anywhere, exit 0, before any connection or prompt */
    expect(kehu(NULL, ARGS("customer", "add", "--help")), 0, "usage: kehu customer add");
    expect(kehu(NULL, ARGS("customer", "add", "--kind", "alien", "--help")), 0, "usage: kehu customer add");
    expect(kehu(NULL, ARGS("help", "customer", "edit")), 0, "usage: kehu customer edit");
    expect(kehu(NULL, ARGS("customer", "--help")), 0, "usage: kehu customer list");
    expect(kehu(NULL, ARGS("login", "-h")), 0, "usage: kehu login");
    expect(kehu(NULL, ARGS("--server", "127.0.0.1:1", "followup", "plan", "--help")), 0, "usage: kehu followup plan");
    expect(kehu(NULL, ARGS("help")), 0, "next-monday");

    /* usage errors: exit 2, and with --json (before or after) the JSON error */
    expect(kehu(NULL, ARGS("customer", "list", "--limit", "x", "--json")), 2, "--limit");
    has("\"code\": \"USAGE\"");
    has("\"message\": \"customer list: --limit: expected");
    expect(kehu(NULL, ARGS("--json", "customer", "add", "--kind", "alien", "--name", "x")), 2, "\"code\": \"USAGE\"");
    expect(kehu(NULL, ARGS("--json", "no-such-command")), 2, "\"code\": \"USAGE\"");
    expect(kehu(NULL, ARGS("--json", "customer")), 2, "missing subcommand");
    has("\"code\": \"USAGE\"");
    expect(kehu(NULL, ARGS("customer", "list", "--limit", "x")), 2, "--limit");
    assert_int_equal(it_kehu.out[0], 0); /* without --json nothing on stdout */
}

/* A plain TCP server that answers like an HTTP server: accepts `n`
 * connections, reads a little of each and sends a 400. */
static pid_t fake_http(int n, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    if (pid == 0) {
        static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        for (int i = 0; i < n; i++) {
            int c = accept(fd, NULL, NULL);
            char buf[256];
            if (c < 0)
                _exit(1);
            (void)!read(c, buf, sizeof buf);
            (void)!write(c, reply, sizeof reply - 1);
            close(c);
        }
        _exit(0);
    }
    close(fd);
    return pid;
}

static void test_not_kehud(void **state)
{
    (void)state;
    int port;
    pid_t pid = fake_http(2, &port);
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", port);
    expect(kehu(NULL, ARGS("--server", server, "ping")), 3, "is not a kehud server");
    assert_null(strstr(it_kehu.err, "oversized"));
    expect(kehu(NULL, ARGS("--server", server, "ping", "--json")), 3, "\"code\": \"UNAVAILABLE\"");
    has("is not a kehud server");
    waitpid(pid, NULL, 0);
    /* the test's PostgreSQL answers the handshake with its own error */
    snprintf(server, sizeof server, "127.0.0.1:%d", it_env.pg_port);
    expect(kehu(NULL, ARGS("--server", server, "ping")), 3, "is not a kehud server");
    /* kehud itself still answers */
    expect(kehu(NULL, ARGS("ping")), 0, "pong");
}

static void test_setup_and_empty_lists(void **state)
{
    (void)state;
    expect(kehu(ENV(ADMIN_PW), ARGS("login", "admin")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "华东区", "--kind", "region", "--parent", "总行")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "上海分行", "--kind", "branch", "--parent", "华东区")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "北京分行", "--kind", "branch", "--parent", "总行")), 0, NULL);
    expect(kehu(ENV("KEHU_NEW_PASSWORD=li-pass-123"),
                ARGS("user", "add", "li.lei", "--role", "account_manager", "--unit", "上海分行")),
           0, NULL);
    expect(kehu(ENV("KEHU_NEW_PASSWORD=bj-pass-123"),
                ARGS("user", "add", "bj.am", "--role", "account_manager", "--unit", "北京分行")),
           0, NULL);

    /* nothing yet: a sentence, not a bare header; JSON stays an array */
    expect(kehu(NULL, ARGS("customer", "list")), 0, "no customers match");
    assert_null(strstr(it_kehu.out, "PHONE"));
    expect(kehu(NULL, ARGS("customer", "list", "--json")), 0, "[");
    assert_null(strstr(it_kehu.out, "no customers"));

    expect(kehu(NULL, ARGS("customer", "add", "--name", "上海浦东新区世纪大道国际贸易发展有限公司", "--company",
                           "上海浦东新区世纪大道国际贸易发展有限公司集团总部", "--phone", "13800138000", "--branch",
                           "上海分行", "--json")),
           0, "\"id\":");
    snprintf(cust, sizeof cust, "%lld", it_cli_json_num(&it_kehu, "id"));
    expect(kehu(NULL, ARGS("customer", "search", "没有这个客户")), 0, "no customers match");
    expect(kehu(NULL, ARGS("followup", "list", cust)), 0, "no follow-ups");
}

/* The day n days from today, in local time, as YYYY-MM-DD (mktime
 * normalises the day of the month). */
static void day_from_today(int n, char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_mday += n;
    tm.tm_hour = 12; /* clear of daylight-saving edges */
    mktime(&tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

static void expect_due(const char *form, int days)
{
    char want[40], due[16];
    day_from_today(days, due, sizeof due);
    snprintf(want, sizeof want, "\"due\": \"%s\"", due);
    expect(kehu(NULL, ARGS("followup", "plan", cust, "--kind", "call", "--due", form, "--json")), 0, want);
}

static void test_relative_dates(void **state)
{
    (void)state;
    expect_due("today", 0);
    expect_due("tomorrow", 1);
    expect_due("+3d", 3);
    expect_due("+2w", 14);
    /* the next Friday after today: 1 to 7 days on */
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    expect_due("next-friday", (5 - tm.tm_wday + 6) % 7 + 1);
    expect_due("next-sunday", (0 - tm.tm_wday + 6) % 7 + 1);
    expect(kehu(NULL, ARGS("followup", "plan", cust, "--kind", "call", "--due", "2031-01-02", "--json")), 0,
           "\"due\": \"2031-01-02\"");

    /* followup log --next plans the next one */
    char want[40], due[16];
    day_from_today(2, due, sizeof due);
    expect(kehu(NULL, ARGS("followup", "log", cust, "--kind", "visit", "--next", "+2d")), 0, NULL);
    snprintf(want, sizeof want, "\"due\": \"%s\"", due);
    expect(kehu(NULL, ARGS("followup", "list", cust, "--json")), 0, want);

    expect(kehu(NULL, ARGS("followup", "plan", cust, "--kind", "call", "--due", "+3x")), 2, "--due");
    assert_non_null(strstr(it_kehu.err, "next-monday"));
    expect(kehu(NULL, ARGS("followup", "plan", cust, "--kind", "call", "--due", "next-someday")), 2, "--due");
    expect(kehu(NULL, ARGS("followup", "log", cust, "--kind", "call", "--next", "yesterday", "--json")), 2,
           "\"code\": \"USAGE\"");
}

/* customer edit with the version just read. */
static void edit(const char *set1, const char *set2)
{
    expect(kehu(NULL, ARGS("customer", "show", cust, "--json")), 0, NULL);
    char version[32];
    snprintf(version, sizeof version, "%lld", it_cli_json_num(&it_kehu, "version"));
    if (set2)
        expect(kehu(NULL, ARGS("customer", "edit", cust, "--version", version, "--set", set1, "--set", set2)), 0, NULL);
    else
        expect(kehu(NULL, ARGS("customer", "edit", cust, "--version", version, "--set", set1)), 0, NULL);
}

static void test_watch_lines(void **state)
{
    (void)state;
    struct watcher w;
    watch_start(&w, &it_kehu, ARGS("watch", "--customer", cust));
    edit("email=a@b.cn", "notes=VIP");
    int seen = watch_wait(&w, "customer.updated", 10000);
    watch_stop(&w);
    if (seen)
        fail_msg("no event line\nstdout: %s\nstderr: %s", w.obuf, w.ebuf);
    /* the customer's name, who acted and what changed */
    assert_non_null(strstr(w.obuf, "customer.updated 上海浦东新区世纪大道国际贸易发展有限公司 (customer "));
    assert_non_null(strstr(w.obuf, " by admin: email, notes"));

    watch_start(&w, &it_kehu, ARGS("watch", "--customer", cust, "--json"));
    edit("region=浦东", NULL);
    seen = watch_wait(&w, "\"kind\":\"customer.updated\"", 10000);
    watch_stop(&w);
    if (seen)
        fail_msg("no event line\nstdout: %s\nstderr: %s", w.obuf, w.ebuf);
    char want[64];
    snprintf(want, sizeof want, "\"customer_id\":%s,\"version\":", cust);
    assert_non_null(strstr(w.obuf, want));
    assert_non_null(strstr(w.obuf, "\"actor_name\":\"admin\""));
    assert_non_null(strstr(w.obuf, "\"fields\":[\"region\"]"));
    assert_non_null(strstr(w.obuf, "\"customer_name\":\"上海浦东新区世纪大道国际贸易发展有限公司\""));
}

/* An import of a few hundred rows while two watch: the one who may read the
 * customers gets one summary line, not one per row; the one who may not
 * (another branch's account manager, subscribed to the whole bank) gets
 * nothing at all. */
static void test_import_summary(void **state)
{
    (void)state;
    /* IT_IMPORT_ROWS=11000 measures a big one */
    const char *env_rows = getenv("IT_IMPORT_ROWS");
    int rows = env_rows && atoi(env_rows) > 0 && atoi(env_rows) <= 99999 ? atoi(env_rows) : 300;
    char path[200];
    snprintf(path, sizeof path, "%s/many.csv", it_kehu.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "name,phone,owner\n");
    for (int i = 0; i < rows; i++)
        fprintf(f, "批量客户%05d,139%08d,li.lei\n", i, i);
    fclose(f);

    struct it_cli bj;
    assert_int_equal(it_cli_open(&bj), 0);
    it_cli_expect(&bj, it_cli_run(&bj, ENV("KEHU_PASSWORD=bj-pass-123"), ARGS("login", "bj.am")), 0, NULL);

    struct watcher all, other;
    watch_start(&all, &it_kehu, ARGS("watch", "--unit", "总行", "--json"));
    watch_start(&other, &bj, ARGS("watch", "--unit", "总行", "--json"));
    char imported[64], created[64];
    snprintf(imported, sizeof imported, "\"imported\": %d", rows);
    snprintf(created, sizeof created, "customer.created:%d", rows);
    int64_t t0 = it_now_ms();
    expect(kehu(NULL, ARGS("customer", "import", "many.csv", "--branch", "上海分行", "--json")), 0, imported);
    int64_t t1 = it_now_ms();
    int seen = watch_wait(&all, "import.done", 60000);
    print_message("it_cli_usability: %d rows imported in %lld ms, the summary line %lld ms later\n", rows,
                  (long long)(t1 - t0), (long long)(it_now_ms() - t1));
    watch_wait(&other, NULL, 1500); /* whatever the other one gets meanwhile */
    /* a change after the import still comes one by one */
    edit("notes=after", NULL);
    char later_id[48];
    snprintf(later_id, sizeof later_id, "\"customer_id\":%s,", cust);
    int later = watch_wait(&all, later_id, 10000);
    /* a reassignment batch of those customers is a bulk job too: one summary line */
    expect(kehu(ENV("KEHU_NEW_PASSWORD=sun-pass-123"),
                ARGS("user", "add", "sun.li", "--role", "account_manager", "--unit", "上海分行")),
           0, NULL);
    expect(kehu(NULL, ARGS("assign", "--from", "li.lei", "--to", "sun.li", "--reason", "调岗", "--json")), 0, NULL);
    int reassigned = watch_wait(&all, "reassign.done", 30000);
    watch_stop(&all);
    watch_stop(&other);
    it_cli_close(&bj);
    if (seen || later || reassigned)
        fail_msg("summary %d, later event %d, reassignment summary %d\nstdout: %s\nstderr: %s", seen, later,
                 reassigned, all.obuf, all.ebuf);
    assert_int_equal(count(all.obuf, "\"kind\":\"reassign.done\""), 1);
    assert_int_equal(count(all.obuf, "\"kind\":\"customer.reassigned\""), 0);
    assert_int_equal(count(all.obuf, "\"kind\":\"import.done\""), 1);
    assert_int_equal(count(all.obuf, "\"kind\":\"customer.created\""), 0);
    assert_non_null(strstr(all.obuf, "\"actor_name\":\"admin\""));
    assert_non_null(strstr(all.obuf, created));
    assert_true(count(all.obuf, "\n") <= 4);
    if (other.olen)
        fail_msg("the other branch saw: %s", other.obuf);
}

static void test_history_names(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("assign", cust, "--to", "bj.am", "--reason", "接手")), 0, NULL);
    expect(kehu(NULL, ARGS("customer", "history", cust, "--json")), 0, "\"field\": \"owner_id\"");
    has("\"new_name\": \"bj.am\"");
    has("\"old_name\": \"上海分行\"");
    has("\"new_name\": \"北京分行\"");
    expect(kehu(NULL, ARGS("customer", "history", cust)), 0, "bj.am");
    has("北京分行");
}

/* ---- On a terminal */

/* Runs kehu on a pseudo-terminal `cols` wide; its output (CRs removed) in
 * out. Returns the exit status. */
static int kehu_tty(const char *const *env, const char *const *args, int cols, char *out, size_t size)
{
    int master;
    struct winsize ws = { .ws_row = 40, .ws_col = (unsigned short)cols };
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    assert_true(pid >= 0);
    if (pid == 0)
        it_cli_exec(&it_kehu, env, args);
    size_t len = 0;
    int64_t deadline = it_now_ms() + 20000;
    for (;;) {
        struct pollfd p = { .fd = master, .events = POLLIN };
        int left = (int)(deadline - it_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        char buf[4096];
        ssize_t n = read(master, buf, sizeof buf);
        if (n <= 0)
            break; /* EIO: the child and its pager are gone */
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != '\r' && len + 1 < size)
                out[len++] = buf[i];
    }
    out[len] = 0;
    close(master);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Terminal columns of a line of our test data: CJK (U+3000..U+9FFF) and
 * fullwidth forms 2, other characters 1. */
static size_t cols_of(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        w += (k == 3 && ((c >= 0xE3 && c <= 0xE9) || (c == 0xEF && (unsigned char)s[i + 1] <= 0xBD))) ? 2 : 1;
        i += k;
    }
    return w;
}

static void test_pager_and_width(void **state)
{
    (void)state;
    static char out[65536];
    /* a table on a terminal goes through the pager */
    assert_int_equal(kehu_tty(ENV("KEHU_PAGER=sed s/^/PAGED:/", "COLUMNS=200"), ARGS("customer", "list"), 200, out,
                              sizeof out),
                     0);
    if (!strstr(out, "PAGED:ID"))
        fail_msg("no pager on a terminal: %s", out);
    /* PAGER too; "cat" or empty means none */
    assert_int_equal(kehu_tty(ENV("PAGER=sed s/^/PAGED:/", "COLUMNS=200"), ARGS("customer", "list"), 200, out,
                              sizeof out),
                     0);
    assert_non_null(strstr(out, "PAGED:ID"));
    assert_int_equal(kehu_tty(ENV("KEHU_PAGER=", "PAGER=sed s/^/PAGED:/", "COLUMNS=200"), ARGS("customer", "list"),
                              200, out, sizeof out),
                     0);
    assert_null(strstr(out, "PAGED:"));
    /* never for --json or --csv, never into a pipe */
    assert_int_equal(kehu_tty(ENV("KEHU_PAGER=sed s/^/PAGED:/"), ARGS("customer", "list", "--json"), 200, out,
                              sizeof out),
                     0);
    assert_null(strstr(out, "PAGED:"));
    assert_int_equal(kehu_tty(ENV("KEHU_PAGER=sed s/^/PAGED:/"), ARGS("customer", "list", "--csv"), 200, out,
                              sizeof out),
                     0);
    assert_null(strstr(out, "PAGED:"));
    expect(kehu(ENV("KEHU_PAGER=sed s/^/PAGED:/"), ARGS("customer", "list")), 0, "ID");
    assert_null(strstr(it_kehu.out, "PAGED:"));

    /* COLUMNS=60: every line fits, the Chinese text cut with an ellipsis,
     * never inside a character; the id and the amount whole */
    assert_int_equal(kehu_tty(ENV("KEHU_PAGER=cat", "COLUMNS=60"), ARGS("customer", "search", "上海浦东新区"), 120, out,
                              sizeof out),
                     0);
    if (!strstr(out, "…") || !strstr(out, cust) || !strstr(out, "0.00"))
        fail_msg("not cut as expected: %s", out);
    for (char *line = out; *line;) {
        size_t n = strcspn(line, "\n");
        if (cols_of(line, n) > 60)
            fail_msg("%zu columns: %.*s", cols_of(line, n), (int)n, line);
        line += n + (line[n] == '\n');
    }
    assert_null(strstr(out, "\xef\xbf\xbd")); /* no U+FFFD */
    /* without COLUMNS, the terminal's own width */
    assert_int_equal(kehu_tty(ENV("KEHU_PAGER=cat", "COLUMNS="), ARGS("customer", "search", "上海浦东新区"), 50, out,
                              sizeof out),
                     0);
    assert_non_null(strstr(out, "…"));
    for (char *line = out; *line;) {
        size_t n = strcspn(line, "\n");
        if (cols_of(line, n) > 50)
            fail_msg("%zu columns on a 50-column terminal: %.*s", cols_of(line, n), (int)n, line);
        line += n + (line[n] == '\n');
    }
    /* through a pipe the same list is not fitted to COLUMNS */
    expect(kehu(ENV("COLUMNS=60"), ARGS("customer", "search", "上海浦东新区")), 0, "13800138000");
    size_t widest = 0;
    for (char *line = it_kehu.out; *line;) {
        size_t n = strcspn(line, "\n");
        if (cols_of(line, n) > widest)
            widest = cols_of(line, n);
        line += n + (line[n] == '\n');
    }
    assert_true(widest > 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage),
        cmocka_unit_test(test_not_kehud),
        cmocka_unit_test(test_setup_and_empty_lists),
        cmocka_unit_test(test_relative_dates),
        cmocka_unit_test(test_watch_lines),
        cmocka_unit_test(test_import_summary),
        cmocka_unit_test(test_history_names),
        cmocka_unit_test(test_pager_and_width),
    };
    return it_finish(cmocka_run_group_tests(tests, it_cli_setup, it_cli_teardown));
}
