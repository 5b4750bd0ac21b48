/* Repairing mistakes through the kehu command line and the wire: merges
 * planned, confirmed and undone, archived customers brought back,
 * transactions and payments reversed, imports that update customers from an
 * edited export, imports cancelled before their commit, and edits that
 * change only the fields they name. */
#define _GNU_SOURCE /* posix_openpt, ptsname */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define ARGS IT_ARGS
#define ENV IT_ENV
#define ADMIN_PW "KEHU_PASSWORD=" TH_ADMIN_PASSWORD

static int kehu(const char *const *args)
{
    return it_cli_run(&it_kehu, NULL, args);
}

static void expect(int rc, int want, const char *needle)
{
    it_cli_expect(&it_kehu, rc, want, needle);
}

static long long json_num(const char *key)
{
    return it_cli_json_num(&it_kehu, key);
}

static const char *num(long long v)
{
    static char bufs[8][32];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 32, "%lld", v);
    return b;
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", it_kehu.dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", it_kehu.dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* A customer added through the CLI; its id. */
static long long add_customer(const char *name, const char *phone, const char *company)
{
    expect(kehu(ARGS("customer", "add", "--name", name, "--phone", phone, "--company", company, "--branch",
                     "杭州分行", "--force", "--json")),
           0, NULL);
    return json_num("id");
}

/* Every row a customer owns, per table, as "contact=1 txn=2 ...". */
static void child_counts(PGconn *pg, long long id, char *out, size_t n)
{
    static const char *const tables[] = { "contact", "txn", "payment", "followup", "document", "asset_snapshot" };
    size_t k = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE customer_id = %lld", tables[i], id);
        k += (size_t)snprintf(out + k, n - k, "%s=%lld ", tables[i], (long long)it_pg_i64(pg, sql));
    }
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(balance), 0) * 100 FROM asset_snapshot WHERE customer_id = %lld", id);
    snprintf(out + k, n - k, "aum=%lld", (long long)it_pg_i64(pg, sql));
}

/* The customer's row in the database, every column but the bookkeeping of
 * the last change. */
static char *row_text(PGconn *pg, long long id)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT (to_jsonb(c) - 'version' - 'updated_at' - 'updated_by')::text FROM customer c WHERE id = %lld",
             id);
    PGresult *r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    char *s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return s;
}

static void test_setup(void **state)
{
    (void)state;
    expect(it_cli_run(&it_kehu, ENV(ADMIN_PW), ARGS("login", "admin")), 0, NULL);
    expect(kehu(ARGS("org", "add", "华东区", "--kind", "region", "--parent", "总行")), 0, NULL);
    expect(kehu(ARGS("org", "add", "杭州分行", "--kind", "branch", "--parent", "华东区")), 0, NULL);
}

/* Two customers with rows of every kind. */
static void fill(long long id, const char *tag)
{
    expect(kehu(ARGS("contact", "add", num(id), "--name", tag)), 0, NULL);
    expect(kehu(ARGS("txn", "add", num(id), "--amount", "1234.56", "--date", "2026-01-05")), 0, NULL);
    expect(kehu(ARGS("payment", "add", num(id), "--amount", "10.01", "--date", "2026-01-06")), 0, NULL);
    expect(kehu(ARGS("asset", "add", num(id), "--balance", "5000.00", "--date", "2026-01-01")), 0, NULL);
    expect(kehu(ARGS("followup", "plan", num(id), "--kind", "call", "--due", "2030-01-01")), 0, NULL);
    write_file("doc.txt", tag);
    expect(kehu(ARGS("doc", "put", num(id), "doc.txt")), 0, NULL);
}

static void test_merge_plan_and_undo(void **state)
{
    (void)state;
    long long keep = add_customer("王小明", "13800000001", "明日贸易");
    long long other = add_customer("王晓明", "13800000002", "明日贸易");
    expect(kehu(ARGS("customer", "edit", num(other), "--set", "region=浙江", "--set", "email=wx@example.com")), 0,
           NULL);
    fill(keep, "甲");
    fill(other, "乙");
    expect(kehu(ARGS("contact", "add", num(other), "--name", "丙")), 0, NULL);

    PGconn *pg = it_pg_open();
    char keep_before[400], other_before[400], keep_after[400];
    child_counts(pg, keep, keep_before, sizeof keep_before);
    child_counts(pg, other, other_before, sizeof other_before);
    char *keep_row = row_text(pg, keep), *other_row = row_text(pg, other);

    /* the plan: both records, what moves, the fields taken over; nothing changes */
    expect(kehu(ARGS("customer", "merge", num(keep), num(other), "--dry-run", "--json")), 0, "\"dry_run\": true");
    assert_non_null(strstr(it_kehu.out, "\"contacts\": 2"));
    assert_non_null(strstr(it_kehu.out, "\"txns\": 1"));
    assert_non_null(strstr(it_kehu.out, "\"payments\": 1"));
    assert_non_null(strstr(it_kehu.out, "\"followups\": 1"));
    assert_non_null(strstr(it_kehu.out, "\"documents\": 1"));
    assert_non_null(strstr(it_kehu.out, "\"assets\": 1"));
    assert_non_null(strstr(it_kehu.out, "\"field\": \"region\""));
    assert_non_null(strstr(it_kehu.out, "\"after\": \"浙江\""));
    assert_non_null(strstr(it_kehu.out, "\"field\": \"revenue\""));
    assert_non_null(strstr(it_kehu.out, "\"after\": \"2469.12\""));
    expect(kehu(ARGS("customer", "merge", num(keep), num(other), "--dry-run")), 0, "keep:  customer");
    char *again = row_text(pg, keep);
    assert_string_equal(again, keep_row);
    free(again);

    /* the merge (no terminal: no question) moves what the plan said */
    expect(kehu(ARGS("customer", "merge", num(keep), num(other))), 0, "undo with: kehu customer unmerge");
    child_counts(pg, keep, keep_after, sizeof keep_after);
    char want[200];
    snprintf(want, sizeof want, "contact=3 txn=2 payment=2 followup=2 document=2 asset_snapshot=1 aum=1000000");
    assert_string_equal(keep_after, want);
    expect(kehu(ARGS("customer", "show", num(keep), "--json")), 0, "\"region\": \"浙江\"");
    assert_non_null(strstr(it_kehu.out, "\"revenue\": \"2469.12\""));

    /* undone: both records and all their rows exactly as before */
    expect(kehu(ARGS("customer", "unmerge", num(other))), 0, "undone");
    char keep_now[400], other_now[400];
    child_counts(pg, keep, keep_now, sizeof keep_now);
    child_counts(pg, other, other_now, sizeof other_now);
    assert_string_equal(keep_now, keep_before);
    assert_string_equal(other_now, other_before);
    char *k2 = row_text(pg, keep), *o2 = row_text(pg, other);
    assert_string_equal(k2, keep_row);
    assert_string_equal(o2, other_row);
    free(k2);
    free(o2);
    expect(kehu(ARGS("customer", "show", num(other), "--json")), 0, "\"status\": \"active\"");
    expect(kehu(ARGS("customer", "unmerge", num(other))), 1, "already undone");

    /* merged again, then the kept customer changes: the merge stays */
    expect(kehu(ARGS("customer", "merge", num(keep), num(other), "--yes", "--json")), 0, NULL);
    long long merge_id = json_num("merge_id");
    assert_true(merge_id > 0);
    expect(kehu(ARGS("customer", "edit", num(keep), "--set", "industry=零售")), 0, NULL);
    expect(kehu(ARGS("customer", "unmerge", num(merge_id))), 1, "changed since the merge");
    expect(kehu(ARGS("customer", "show", num(other))), 1, "was merged into");
    free(keep_row);
    free(other_row);
    PQfinish(pg);
}

/* On a terminal the merge shows both records and asks; "n" merges nothing. */
static void test_merge_confirmation(void **state)
{
    (void)state;
    long long keep = add_customer("李雷", "13900000001", "韩梅梅公司");
    long long other = add_customer("李雷雷", "13900000002", "韩梅梅公司");
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    char *slave_name = ptsname(master);
    assert_non_null(slave_name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid();
        int s = open(slave_name, O_RDWR);
        if (s < 0)
            _exit(99);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        close(master);
        it_cli_exec(&it_kehu, NULL, ARGS("customer", "merge", num(keep), num(other)));
    }
    char out[8192];
    size_t n = 0;
    int answered = 0;
    for (int waited = 0; waited < 100; waited++) {
        struct pollfd p = { master, POLLIN, 0 };
        if (poll(&p, 1, 100) > 0) {
            ssize_t k = read(master, out + n, sizeof out - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
            out[n] = 0;
        }
        if (!answered && strstr(out, "[y/N]")) {
            assert_int_equal(write(master, "n\n", 2), 2);
            answered = 1;
        }
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(master);
    assert_true(answered);
    assert_non_null(strstr(out, "李雷"));
    assert_non_null(strstr(out, "keep:  customer"));
    assert_non_null(strstr(out, "not merged"));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    expect(kehu(ARGS("customer", "show", num(other), "--json")), 0, "\"status\": \"active\"");
}

static void test_unarchive(void **state)
{
    (void)state;
    long long id = add_customer("韩梅梅", "13700000001", "星光");
    expect(kehu(ARGS("customer", "archive", num(id))), 0, "archived");
    expect(kehu(ARGS("customer", "unarchive", num(id), "--json")), 0, "\"status\": \"active\"");
    expect(kehu(ARGS("customer", "unarchive", "999999")), 1, "NOT_FOUND");
}

static void test_reversals(void **state)
{
    (void)state;
    long long id = add_customer("赵六", "13600000001", "六合");
    expect(kehu(ARGS("txn", "add", num(id), "--amount", "100.10", "--on-credit", "--due", "2026-02-01", "--date",
                     "2026-01-01", "--json")),
           0, NULL);
    long long t = json_num("id");
    expect(kehu(ARGS("txn", "add", num(id), "--amount", "50.00", "--date", "2026-01-02")), 0, NULL);
    expect(kehu(ARGS("arrears", num(id), "--json")), 0, "\"balance\": \"100.10\"");
    expect(kehu(ARGS("txn", "reverse", num(t))), 2, "--reason");
    expect(kehu(ARGS("txn", "reverse", num(t), "--reason", "录入错误", "--json")), 0, "\"amount\": \"-100.10\"");
    long long rev = json_num("id");
    assert_non_null(strstr(it_kehu.out, "\"reason\": \"录入错误\""));
    expect(kehu(ARGS("txn", "reverse", num(t), "--reason", "again")), 1, "already reversed");
    expect(kehu(ARGS("txn", "reverse", num(rev), "--reason", "again")), 1, "itself a reversal");
    expect(kehu(ARGS("txn", "reverse", "999999", "--reason", "x")), 1, "no transaction 999999");
    expect(kehu(ARGS("txn", "list", num(id))), 0, "reversed by");
    assert_non_null(strstr(it_kehu.out, "-100.10"));
    assert_non_null(strstr(it_kehu.out, "reverses "));
    assert_non_null(strstr(it_kehu.out, num(t)));
    expect(kehu(ARGS("arrears", num(id), "--json")), 0, "\"balance\": \"0.00\"");
    assert_non_null(strstr(it_kehu.out, "\"oldest_unpaid_due\": null"));
    expect(kehu(ARGS("customer", "show", num(id), "--json")), 0, "\"revenue\": \"50.00\"");
    assert_non_null(strstr(it_kehu.out, "\"balance\": \"0.00\""));

    expect(kehu(ARGS("payment", "add", num(id), "--amount", "30.00", "--date", "2026-01-03", "--json")), 0,
           "\"balance\": \"-30.00\"");
    long long p = json_num("id");
    expect(kehu(ARGS("payment", "reverse", num(p), "--reason", "退票", "--json")), 0, "\"amount\": \"-30.00\"");
    assert_non_null(strstr(it_kehu.out, "\"balance\": \"0.00\""));
    expect(kehu(ARGS("payment", "reverse", num(p), "--reason", "again")), 1, "already reversed");
    expect(kehu(ARGS("payment", "list", num(id))), 0, "reversed by");
    expect(kehu(ARGS("arrears", num(id), "--json")), 0, "\"balance\": \"0.00\"");
    /* a reversed sale is no purchase for the grading */
    expect(kehu(ARGS("txn", "add", num(id), "--amount", "70.00", "--date", "2026-01-20", "--json")), 0, NULL);
    long long late = json_num("id");
    expect(kehu(ARGS("txn", "reverse", num(late), "--reason", "重复录入")), 0, "reversed by");
    expect(kehu(ARGS("grade", "run")), 0, NULL);
    PGconn *pg = it_pg_open();
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT extract(day FROM last_purchase)::bigint FROM customer_grade WHERE customer_id = %lld",
             id);
    assert_int_equal(it_pg_i64(pg, sql), 2); /* the sale of the 2nd, not the reversed one of the 20th */
    PQfinish(pg);
    /* the reversals are in the audit trail */
    expect(kehu(ARGS("audit", "list", "--customer", num(id), "--json")), 0, "txn_reverse");
    assert_non_null(strstr(it_kehu.out, "payment_reverse"));
}

/* Several people change different fields of one customer at once, none of
 * them naming a version: every change is there in the end. */
static void test_edit_named_fields_only(void **state)
{
    (void)state;
    long long id = add_customer("孙七", "13500000001", "七星");
    expect(kehu(ARGS("customer", "show", num(id), "--json")), 0, NULL);
    long long v = json_num("version");
    /* someone changes the region after we read version v */
    expect(kehu(ARGS("customer", "edit", num(id), "--version", num(v), "--set", "region=江苏")), 0, NULL);
    /* our change names only the phone: the region stays */
    expect(kehu(ARGS("customer", "edit", num(id), "--phone", "13500000009")), 0, NULL);
    expect(kehu(ARGS("customer", "show", num(id), "--json")), 0, "\"region\": \"江苏\"");
    assert_non_null(strstr(it_kehu.out, "13500000009"));
    /* with --version it stays strict */
    expect(kehu(ARGS("customer", "edit", num(id), "--version", num(v), "--set", "size=大")), 1, "CONFLICT");
    /* the Chinese header names work after --set too */
    expect(kehu(ARGS("customer", "edit", num(id), "--set", "行业=金融", "--json")), 0, "\"industry\": \"金融\"");

    static const char *const sets[] = { "address=南京路1号", "occupation=教师", "size=中", "notes=备注一",
                                        "email=s7@example.com", "industry=制造" };
    pid_t pids[6];
    for (int i = 0; i < 6; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            int null = open("/dev/null", O_RDWR);
            dup2(null, 1);
            dup2(null, 2);
            it_cli_exec(&it_kehu, NULL, ARGS("customer", "edit", num(id), "--set", sets[i]));
        }
    }
    for (int i = 0; i < 6; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    expect(kehu(ARGS("customer", "show", num(id), "--json")), 0, "\"address\": \"南京路1号\"");
    assert_non_null(strstr(it_kehu.out, "\"occupation\": \"教师\""));
    assert_non_null(strstr(it_kehu.out, "\"size\": \"中\""));
    assert_non_null(strstr(it_kehu.out, "\"notes\": \"备注一\""));
    assert_non_null(strstr(it_kehu.out, "\"email\": \"s7@example.com\""));
    assert_non_null(strstr(it_kehu.out, "\"industry\": \"制造\""));
    assert_non_null(strstr(it_kehu.out, "\"region\": \"江苏\""));

    expect(kehu(ARGS("help", "customer", "edit")), 0, "电话");
}

static void test_duplicates_skipped_on_request(void **state)
{
    (void)state;
    write_file("dups.csv", "name,phone\n周八,13400000001\n周八,13400000001\n吴九,13400000002\n");
    expect(kehu(ARGS("customer", "import", "dups.csv", "--branch", "杭州分行", "--duplicates", "skip")), 0,
           "skipped 1");
    /* without asking, a duplicate not imported is still "partly done" */
    write_file("dups2.csv", "name,phone\n郑十,13400000003\n郑十,13400000003\n");
    expect(kehu(ARGS("customer", "import", "dups2.csv", "--branch", "杭州分行")), 4, NULL);
}

/* A file large enough that its checks take a moment after the last chunk. */
static void big_file(const char *name, int rows, const char *prefix)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", it_kehu.dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("name,phone,tags\n", f);
    for (int i = 0; i < rows; i++)
        fprintf(f, "%s%d,139%08d,批量\n", prefix, i, 50000000 + i);
    fclose(f);
}

static long long count_prefix(const char *prefix)
{
    PGconn *pg = it_pg_open();
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM customer WHERE name LIKE '%s%%'", prefix);
    long long n = it_pg_i64(pg, sql);
    PQfinish(pg);
    return n;
}

static void ignore_answer(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    (void)resp;
    (void)st;
    (void)arg;
}

/* A client that sent the whole file and went away before the answer (as a
 * killed CLI does, or an old client without the commit step): nothing is
 * committed, however late it went. */
static void test_import_dropped_after_last_chunk(void **state)
{
    (void)state;
    big_file("drop.csv", 3000, "断开");
    char *data = read_file("drop.csv");
    size_t len = strlen(data);
    kehu_client *c = it_admin();
    Kehu__V1__ImportBegin b = KEHU__V1__IMPORT_BEGIN__INIT;
    b.kind = "customers";
    b.branch = "杭州分行";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_IMPORT_BEGIN;
    req.import_begin = &b;
    Kehu__V1__Response *r = it_call(c, &req, KEHU__V1__CODE__OK);
    uint64_t id = r->import_started->import_id;
    kehu_response_free(r);
    size_t off = 0;
    while (off < len) {
        size_t n = len - off > 200000 ? 200000 : len - off;
        Kehu__V1__ImportChunk ch = KEHU__V1__IMPORT_CHUNK__INIT;
        ch.import_id = id;
        ch.data.data = (uint8_t *)data + off;
        ch.data.len = n;
        ch.last = off + n == len;
        req.op_case = KEHU__V1__REQUEST__OP_IMPORT_CHUNK;
        req.import_chunk = &ch;
        if (ch.last) {
            struct kehu_status st;
            uint64_t rid;
            assert_int_equal(kehu_send(c, &req, ignore_answer, NULL, &rid, &st), 0);
            kehu_run(c, 50); /* the last chunk is on its way */
        } else {
            kehu_response_free(it_call(c, &req, KEHU__V1__CODE__OK));
        }
        off += n;
    }
    kehu_close(c);
    /* the server finishes its checks, then must roll back instead of committing */
    for (int i = 0; i < 40; i++) {
        usleep(250 * 1000);
        FILE *log = fopen(th_kehud_log(&it_env), "r");
        char line[1024];
        int done = 0;
        while (log && fgets(line, sizeof line, log))
            done |= strstr(line, "cancelled by the client") != NULL || strstr(line, "abandoned") != NULL;
        if (log)
            fclose(log);
        if (done)
            break;
    }
    usleep(300 * 1000);
    assert_int_equal(count_prefix("断开"), 0);
}

/* Ctrl-C while the server checks the last chunk: nothing imported, and the CLI says so. */
static void test_import_interrupted(void **state)
{
    (void)state;
    big_file("ctrlc.csv", 3000, "中断");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char out[300], err[300];
        snprintf(out, sizeof out, "%s/ctrlc.out", it_kehu.dir);
        snprintf(err, sizeof err, "%s/ctrlc.err", it_kehu.dir);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        it_cli_exec(&it_kehu, NULL, ARGS("customer", "import", "ctrlc.csv", "--branch", "杭州分行"));
    }
    /* the signal once the import is under way (the file is sent in well under a second) */
    for (int i = 0; i < 100; i++) {
        usleep(50 * 1000);
        FILE *log = fopen(th_kehud_log(&it_env), "r");
        char line[1024];
        int begun = 0;
        while (log && fgets(line, sizeof line, log))
            begun |= strstr(line, "ctrlc.csv") != NULL;
        if (log)
            fclose(log);
        if (begun)
            break;
    }
    usleep(200 * 1000);
    kill(pid, SIGINT);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char *err = read_file("ctrlc.err");
    if (!strstr(err, "import cancelled, nothing was imported"))
        fail_msg("stderr: %s", err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 128 + SIGINT);
    usleep(1500 * 1000);
    assert_int_equal(count_prefix("中断"), 0);
}

/* Replaces the first `from` in a file's text by `to`. */
static void edit_file(const char *name, const char *from, const char *to)
{
    char *text = read_file(name);
    char *at = strstr(text, from);
    if (!at)
        fail_msg("%s lacks '%s':\n%s", name, from, text);
    size_t n = strlen(text), nf = strlen(from), nt = strlen(to);
    char *out = malloc(n - nf + nt + 1);
    memcpy(out, text, (size_t)(at - text));
    memcpy(out + (at - text), to, nt);
    strcpy(out + (at - text) + nt, at + nf);
    write_file(name, out);
    free(out);
}

/* export -> edit -> import --update: the edited fields change, a row whose
 * customer changed since the export is rejected with its line, money and
 * grades are read but not imported, a row without id is a new customer. */
static void test_export_edit_import_update(void **state)
{
    (void)state;
    expect(kehu(ARGS("org", "add", "宁波分行", "--kind", "branch", "--parent", "华东区")), 0, NULL);
    expect(kehu(ARGS("customer", "add", "--name", "钱一", "--phone", "13300000001", "--address", "旧地址甲",
                     "--branch", "宁波分行", "--json")),
           0, NULL);
    long long a = json_num("id");
    expect(kehu(ARGS("customer", "add", "--name", "钱二", "--phone", "13300000002", "--region", "区域乙",
                     "--branch", "宁波分行", "--json")),
           0, NULL);
    long long b = json_num("id");
    expect(kehu(ARGS("txn", "add", num(a), "--amount", "8888.88", "--date", "2026-01-10")), 0, NULL);
    expect(kehu(ARGS("grade", "run")), 0, NULL);
    expect(kehu(ARGS("customer", "export", "--branch", "宁波分行", "--output", "exp.csv")), 0, NULL);
    char *text = read_file("exp.csv");
    assert_non_null(strstr(text, ",version,grade_abc,grade_volume"));
    assert_non_null(strstr(text, "8888.88"));

    /* someone changes 钱二 after the export */
    expect(kehu(ARGS("customer", "edit", num(b), "--set", "industry=餐饮")), 0, NULL);
    edit_file("exp.csv", "旧地址甲", "新地址甲，二楼");
    edit_file("exp.csv", "区域乙", "区域乙改");
    edit_file("exp.csv", "8888.88", "1.00"); /* money is not imported */
    char *t = read_file("exp.csv");
    size_t n = strlen(t);
    char *more = malloc(n + 100);
    snprintf(more, n + 100, "%s,,新客户丙\n", t);
    write_file("exp.csv", more);
    free(more);

    expect(kehu(ARGS("customer", "import", "exp.csv", "--branch", "宁波分行", "--update", "--dry-run", "--json")), 4, "\"updated\": 1");
    assert_non_null(strstr(it_kehu.out, "\"imported\": 1"));
    assert_non_null(strstr(it_kehu.out, "\"field\": \"version\""));
    assert_non_null(strstr(it_kehu.out, "grade_abc"));
    expect(kehu(ARGS("customer", "show", num(a), "--json")), 0, "旧地址甲");

    expect(kehu(ARGS("customer", "import", "exp.csv", "--branch", "宁波分行", "--update", "--json")), 4, "\"updated\": 1");
    assert_non_null(strstr(it_kehu.out, "\"total\": 3"));
    assert_non_null(strstr(it_kehu.out, "\"imported\": 1"));
    assert_non_null(strstr(it_kehu.out, "changed since version"));
    assert_non_null(strstr(it_kehu.out, "\"line\": 2")); /* 钱二 (qian er) sorts before 钱一 */
    /* the grade columns are recognised, not unknown */
    char *unknown = strstr(it_kehu.out, "\"unknown_columns\": [");
    assert_non_null(unknown);
    assert_int_equal(strncmp(unknown, "\"unknown_columns\": []", 21), 0);
    assert_non_null(strstr(it_kehu.out, "\"ignored_columns\": ["));

    expect(kehu(ARGS("customer", "show", num(a), "--json")), 0, "\"address\": \"新地址甲，二楼\"");
    assert_non_null(strstr(it_kehu.out, "\"revenue\": \"8888.88\""));
    assert_non_null(strstr(it_kehu.out, "13300000001"));
    expect(kehu(ARGS("customer", "show", num(b), "--json")), 0, "\"region\": \"区域乙\"");
    assert_non_null(strstr(it_kehu.out, "\"industry\": \"餐饮\""));
    expect(kehu(ARGS("customer", "search", "新客户丙", "--json")), 0, "新客户丙");
    expect(kehu(ARGS("customer", "history", num(a), "--json")), 0, "新地址甲");

    /* a second round: unchanged rows change nothing */
    expect(kehu(ARGS("customer", "export", "--branch", "宁波分行", "--output", "exp2.csv")), 0, NULL);
    expect(kehu(ARGS("customer", "import", "exp2.csv", "--update", "--json")), 0, "\"updated\": 0");
}

/* An export interrupted while it waits for the server leaves no
 * FILE.partial-XXXXXX behind. The "server" here accepts and never answers. */
static void test_export_interrupted(void **state)
{
    (void)state;
    int port = th_free_port();
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 4), 0);
    char server[64], path[300];
    snprintf(server, sizeof server, "127.0.0.1:%d", port);
    snprintf(path, sizeof path, "%s/kehu/sessions", it_kehu.dir); /* a session for it: the CLI then connects */
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "%s 0123456789abcdef admin\n", server);
    fclose(f);
    static const int sigs[] = { SIGINT, SIGTERM };
    for (int k = 0; k < 2; k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int null = open("/dev/null", O_RDWR);
            dup2(null, 1);
            dup2(null, 2);
            it_cli_exec(&it_kehu, NULL, ARGS("--server", server, "customer", "export", "--output", "cut.csv"));
        }
        int found = 0;
        for (int i = 0; i < 100 && !found; i++) {
            usleep(50 * 1000);
            char cmd[400];
            snprintf(cmd, sizeof cmd, "ls %s | grep -q 'cut.csv.partial-'", it_kehu.dir);
            found = system(cmd) == 0;
        }
        assert_true(found);
        kill(pid, sigs[k]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        char cmd[400];
        snprintf(cmd, sizeof cmd, "ls %s | grep -q 'cut.csv'", it_kehu.dir);
        assert_int_not_equal(system(cmd), 0);
    }
    close(ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup),
        cmocka_unit_test(test_merge_plan_and_undo),
        cmocka_unit_test(test_merge_confirmation),
        cmocka_unit_test(test_unarchive),
        cmocka_unit_test(test_reversals),
        cmocka_unit_test(test_edit_named_fields_only),
        cmocka_unit_test(test_duplicates_skipped_on_request),
        cmocka_unit_test(test_export_edit_import_update),
        cmocka_unit_test(test_export_interrupted),
        cmocka_unit_test(test_import_dropped_after_last_chunk),
        cmocka_unit_test(test_import_interrupted),
    };
    return it_finish(cmocka_run_group_tests(tests, it_cli_setup, it_cli_teardown));
}
