/* Backup and restore end to end: a base with Chinese customers, contacts,
 * transactions, follow-ups, a document and grades; `kehu admin backup FILE`
 * through the real CLI (its SHA-256 checked against the file); scripts/restore
 * into a second, fresh cluster; every table's rows and every sequence equal
 * between the two; a kehud serving the restored base. Also who may back up,
 * unwritable targets, a failing pg_dump (its stderr reaches the user, no
 * part file stays) and pg_dump stopped when the client goes away. */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#ifndef KEHU_SOURCE_DIR
#error "KEHU_SOURCE_DIR must name the source tree (for scripts/restore)"
#endif

#define ARGS IT_ARGS
#define ENV IT_ENV
#define ADMIN_PW "KEHU_PASSWORD=" TH_ADMIN_PASSWORD
#define NCUST 100

static struct it_cli li;       /* a second token store: li.lei, an account manager */
static struct it_cli auditor;  /* zhao.min */
static long long corp_id, first_id, idnum_id;

static int kehu(const char *const *env, const char *const *args)
{
    return it_cli_run(&it_kehu, env, args);
}

static void expect(int rc, int want, const char *needle)
{
    it_cli_expect(&it_kehu, rc, want, needle);
}

static const char *path_in(const struct it_cli *c, const char *name)
{
    static char p[4][300];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", c->dir, name);
    return p[k];
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* The string after "key": "...", from a JSON document. */
static void json_str_of(const char *doc, const char *key, char *out, size_t n)
{
    char k[80];
    snprintf(k, sizeof k, "\"%s\": \"", key);
    const char *p = strstr(doc, k);
    if (!p)
        fail_msg("no %s in %s", k, doc);
    p += strlen(k);
    size_t len = strcspn(p, "\"");
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), p);
}

/* ---- The base */

static void test_load(void **state)
{
    (void)state;
    expect(kehu(ENV(ADMIN_PW), ARGS("login", "admin")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "华东区", "--kind", "region", "--parent", "总行")), 0, NULL);
    expect(kehu(NULL, ARGS("org", "add", "上海分行", "--kind", "branch", "--parent", "华东区")), 0, NULL);
    expect(kehu(ENV("KEHU_NEW_PASSWORD=" IT_PASSWORD),
                ARGS("user", "add", "li.lei", "--role", "account_manager", "--unit", "上海分行", "--name", "李雷")),
           0, NULL);
    expect(kehu(ENV("KEHU_NEW_PASSWORD=" IT_PASSWORD),
                ARGS("user", "add", "zhao.min", "--role", "auditor", "--unit", "总行", "--name", "赵敏")),
           0, NULL);

    /* customers by import: 100 Chinese names, their transactions by external reference */
    static const char *const sur[] = { "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周" };
    static const char *const given[] = { "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋" };
    char *csv = malloc(64 * 1024), *tx = malloc(128 * 1024);
    size_t n = (size_t)sprintf(csv, "ext_ref,姓名,电话,地区,客户经理,标签\n");
    size_t m = (size_t)sprintf(tx, "customer,date,amount,product\n");
    for (int i = 0; i < NCUST; i++) {
        n += (size_t)sprintf(csv + n, "C%03d,%s%s%s,139%08d,上海,li.lei,%s\n", i, sur[i % 10], given[i / 10],
                             i % 3 ? "" : "华", 10000000 + i * 7, i % 4 ? "普通" : "vip");
        for (int t = 0; t < 1 + i % 5; t++)
            m += (size_t)sprintf(tx + m, "C%03d,2026-%02d-%02d,%d.%02d,%s\n", i, 1 + (i + t) % 11, 1 + t * 5,
                                 (i + 1) * (t + 3) * 37 % 50000 + 10, (i * 7 + t) % 100, t % 2 ? "理财" : "基金");
    }
    write_file(path_in(&it_kehu, "客户.csv"), csv, 0644);
    write_file(path_in(&it_kehu, "交易.csv"), tx, 0644);
    free(csv);
    free(tx);
    expect(kehu(NULL, ARGS("customer", "import", "客户.csv", "--branch", "上海分行", "--json")), 0, "\"imported\": 100");
    expect(kehu(NULL, ARGS("txn", "import", "交易.csv", "--json")), 0, NULL);

    expect(kehu(NULL, ARGS("customer", "add", "--name", "上海武当贸易有限公司", "--kind", "corporate", "--company",
                           "武当贸易", "--phone", "02155550000", "--branch", "上海分行", "--owner", "li.lei",
                           "--json")),
           0, NULL);
    corp_id = it_cli_json_num(&it_kehu, "id");
    char id[24];
    snprintf(id, sizeof id, "%lld", corp_id);
    expect(kehu(NULL, ARGS("contact", "add", id, "--name", "张经理", "--title", "采购总监", "--phone", "13900001111",
                           "--key")),
           0, NULL);
    expect(kehu(NULL, ARGS("contact", "add", id, "--name", "欧阳娜娜", "--email", "ouyang@example.cn")), 0, NULL);
    expect(kehu(NULL, ARGS("txn", "add", id, "--amount", "123456.78", "--product", "对公贷款", "--margin", "2345.60")),
           0, NULL);
    expect(kehu(NULL, ARGS("followup", "plan", id, "--kind", "visit", "--due", "2026-12-15", "--note", "年终拜访")), 0,
           NULL);
    expect(kehu(NULL, ARGS("followup", "log", id, "--kind", "call", "--outcome", "有意向", "--note", "电话沟通",
                           "--next", "2027-01-10")),
           0, NULL);
    write_file(path_in(&it_kehu, "合同.txt"), "合同 第一条：……\n", 0644);
    expect(kehu(NULL, ARGS("doc", "put", id, "合同.txt")), 0, NULL);
    /* a customer with an ID number (sealed with kehud's key, which no backup holds): NCUST + 2 customers */
    expect(kehu(NULL, ARGS("customer", "add", "--name", "陈身份", "--id-number", "11010519491231002X", "--branch",
                           "上海分行", "--owner", "li.lei", "--json")),
           0, NULL);
    idnum_id = it_cli_json_num(&it_kehu, "id");
    expect(kehu(NULL, ARGS("customer", "search", "wangwei", "--json")), 0, "王伟");
    first_id = it_cli_json_num(&it_kehu, "id");
    expect(kehu(NULL, ARGS("grade", "run", "--json")), 0, NULL);
}

static long long sql_count(const char *sql)
{
    PGconn *c = PQconnectdb(it_env.conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long long n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return n;
}

static void test_stats(void **state)
{
    (void)state;
    expect(kehu(NULL, ARGS("admin", "stats", "--json")), 0, "\"customers_by_status\"");
    assert_int_equal(it_cli_json_num(&it_kehu, "customers"), NCUST + 2);
    assert_int_equal(it_cli_json_num(&it_kehu, "active"), NCUST + 2);
    assert_int_equal(it_cli_json_num(&it_kehu, "users_enabled"), 3);
    assert_int_equal(it_cli_json_num(&it_kehu, "contacts"), 2);
    /* the visit, the next call and the calls churn warnings planned */
    assert_int_equal(it_cli_json_num(&it_kehu, "followups_open"),
                     sql_count("SELECT count(*) FROM followup WHERE status = 'planned'"));
    assert_true(it_cli_json_num(&it_kehu, "followups_open") >= 2);
    assert_int_equal(it_cli_json_num(&it_kehu, "transactions"), sql_count("SELECT count(*) FROM txn"));
    assert_int_equal(it_cli_json_num(&it_kehu, "documents"), 1);
    assert_int_equal(it_cli_json_num(&it_kehu, "grading_runs"), 1);
    assert_int_equal(it_cli_json_num(&it_kehu, "last_run_customers"), NCUST + 2);
    assert_int_equal(it_cli_json_num(&it_kehu, "schema_version"), it_cli_json_num(&it_kehu, "schema_expected"));
    assert_true(it_cli_json_num(&it_kehu, "database_bytes") > 1000000);
    assert_true(it_cli_json_num(&it_kehu, "connections") >= 1);
    assert_true(it_cli_json_num(&it_kehu, "transactions") > NCUST);
    expect(kehu(NULL, ARGS("admin", "stats")), 0, "customers:");
    assert_non_null(strstr(it_kehu.out, "PostgreSQL 15"));

    /* an auditor may look, an account manager may not */
    expect(it_cli_run(&auditor, ENV("KEHU_PASSWORD=" IT_PASSWORD), ARGS("login", "zhao.min")), 0, NULL);
    it_cli_expect(&auditor, it_cli_run(&auditor, NULL, ARGS("admin", "stats", "--json")), 0, "\"transactions\"");
    expect(it_cli_run(&li, ENV("KEHU_PASSWORD=" IT_PASSWORD), ARGS("login", "li.lei")), 0, NULL);
    it_cli_expect(&li, it_cli_run(&li, NULL, ARGS("admin", "stats")), 1, "PERMISSION_DENIED");
}

/* ---- Who may back up, and where to */

static void test_refused(void **state)
{
    (void)state;
    it_cli_expect(&li, it_cli_run(&li, NULL, ARGS("admin", "backup", "x.dump")), 1, "kehu: PERMISSION_DENIED:");
    assert_false(exists(path_in(&li, "x.dump")));
    assert_false(exists(path_in(&li, "x.dump.part")));
    it_cli_expect(&auditor, it_cli_run(&auditor, NULL, ARGS("admin", "backup", "x.dump", "--json")), 1,
                  "\"code\": \"PERMISSION_DENIED\"");
    assert_false(exists(path_in(&auditor, "x.dump.part")));

    expect(kehu(NULL, ARGS("admin", "backup", "no-such-dir/x.dump")), 1, "cannot create no-such-dir/x.dump.part");
    assert_false(exists(path_in(&it_kehu, "no-such-dir")));
    write_file(path_in(&it_kehu, "taken.dump"), "keep me", 0644);
    expect(kehu(NULL, ARGS("admin", "backup", "taken.dump")), 2, "taken.dump exists: give --force");
    expect(kehu(NULL, ARGS("admin", "backup")), 2, "FILE");
}

/* ---- Backup, restore, compare */

/* "table|rows|md5" for every table of the public schema, and every
 * sequence's last value: what must be equal after a restore. The audit
 * trail only up to seq audit_upto (none when negative): the source goes on
 * recording (the backup's own request is recorded once it is answered). */
static char *fingerprint(const char *conninfo, long long audit_upto)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", conninfo, PQerrorMessage(c));
    PGresult *t = PQexec(c, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    assert_int_equal(PQresultStatus(t), PGRES_TUPLES_OK);
    assert_true(PQntuples(t) >= 20);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (int i = 0; i < PQntuples(t); i++) {
        char sql[512];
        const char *name = PQgetvalue(t, i, 0);
        if (audit_upto < 0 && strcmp(name, "audit_log") == 0)
            continue;
        snprintf(sql, sizeof sql,
                 "SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM public.\"%s\" x%s",
                 name, strcmp(name, "audit_log") == 0 ? " WHERE x.seq <= $1::bigint" : "");
        char upto[24];
        snprintf(upto, sizeof upto, "%lld", audit_upto);
        const char *params[1] = { upto };
        PGresult *r = PQexecParams(c, sql, strcmp(name, "audit_log") == 0 ? 1 : 0, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        len += (size_t)snprintf(out + len, cap - len, "%s|%s|%s\n", name, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
        PQclear(r);
    }
    PQclear(t);
    PGresult *s = PQexec(c, "SELECT string_agg(sequencename || '=' || coalesce(last_value, 0), ',' ORDER BY sequencename)"
                            " FROM pg_sequences WHERE schemaname = 'public'");
    assert_int_equal(PQresultStatus(s), PGRES_TUPLES_OK);
    len += (size_t)snprintf(out + len, cap - len, "sequences|%s\n", PQgetvalue(s, 0, 0));
    PQclear(s);
    PQfinish(c);
    assert_true(len < cap - 1);
    return out;
}

/* Runs argv with the extra environment; stdout+stderr into out. The exit status. */
static int run_cmd(const char *const *argv, const char *const *env, char *out, size_t n)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], out + len, n - 1 - len)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0)
            len += (size_t)r;
    out[len] = 0;
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The restored base with its ID number key lost: a kehud given another key
 * refuses to start, saying why and how to go on; started without ID
 * numbers it serves everything else, the numbers shown as unavailable, and
 * refuses to store new ones. Returns whether all held (failing in place). */
#define WRONG_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
static int restored_key(struct th_env *e2, const char *server)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", idnum_id);
    expect(kehu(NULL, ARGS("customer", "show", id, "--json", "--server", server)), 0,
           "\"id_number\": \"11010519491231002X\"");
    if (th_kehud_start(e2, ARGS("--id-key", WRONG_KEY)) == 0)
        fail_msg("kehud started on the restored base with a wrong ID number key");
    assert_true(e2->kehud_status != 0);
    char log[600], text[65536];
    snprintf(log, sizeof log, "%s/kehud.log", e2->dir);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    if (!strstr(text, "is not the key this database's ID numbers were sealed with") ||
        !strstr(text, "without_id_numbers"))
        fail_msg("kehud's refusal of a wrong key does not say why:\n%s", text);

    assert_int_equal(th_kehud_start(e2, ARGS("--id-key", WRONG_KEY, "--without-id-numbers", "1")), 0);
    expect(kehu(ENV(ADMIN_PW), ARGS("login", "admin", "--server", server)), 0, NULL);
    expect(kehu(NULL, ARGS("customer", "show", id, "--json", "--server", server)), 0,
           "\"id_number\": \"(unavailable)\"");
    expect(kehu(NULL, ARGS("customer", "list", "--all", "--json", "--server", server)), 0, "(unavailable)");
    assert_non_null(strstr(it_kehu.out, "上海武当贸易有限公司"));
    expect(kehu(NULL, ARGS("customer", "export", "--output", "without-ids.csv", "--server", server)), 0, NULL);
    f = fopen(path_in(&it_kehu, "without-ids.csv"), "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, "(unavailable)"));
    assert_non_null(strstr(text, "上海武当贸易有限公司"));
    /* li sees it masked as anyone else would: there is nothing to mask */
    /* a new number cannot be sealed: refused, saying why */
    expect(kehu(NULL, ARGS("customer", "add", "--name", "新身份", "--id-number", "310101199001011234", "--branch",
                           "上海分行", "--owner", "li.lei", "--server", server)),
           1, "without its ID number key");
    assert_non_null(strstr(it_kehu.err, "FAILED_PRECONDITION"));
    /* everything else is written as usual */
    expect(kehu(NULL, ARGS("customer", "add", "--name", "无证件客户", "--branch", "上海分行", "--owner", "li.lei",
                           "--server", server)),
           0, NULL);
    return 1;
}

static void test_backup_restore(void **state)
{
    (void)state;
    /* a session left over from the load would be touched (last_used_at) by
     * later requests; every row must be as the dump has it, so nothing
     * else talks to the source from here to the comparison */
    expect(kehu(NULL, ARGS("admin", "backup", "base.dump", "--json")), 0, "\"sha256\": \"");
    char sha[80], out[8192];
    json_str_of(it_kehu.out, "sha256", sha, sizeof sha);
    long long size = it_cli_json_num(&it_kehu, "size");
    PGconn *pg = it_pg_open();
    assert_int_equal(it_cli_json_num(&it_kehu, "schema_version"), it_pg_i64(pg, "SELECT max(version) FROM schema_migration"));
    PQfinish(pg);
    const char *dump = path_in(&it_kehu, "base.dump");
    assert_false(exists(path_in(&it_kehu, "base.dump.part")));
    struct stat st;
    assert_int_equal(stat(dump, &st), 0);
    assert_int_equal((long long)st.st_size, size);
    assert_int_equal(st.st_mode & 0777, 0600);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", dump);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, p));
    pclose(p);
    if (strncmp(line, sha, 64) != 0)
        fail_msg("the CLI printed SHA-256 %s, the file has %.64s", sha, line);
    char *before = fingerprint(it_env.conninfo, -1);

    /* the human output names size and hash too */
    expect(kehu(NULL, ARGS("admin", "backup", "base2.dump")), 0, "backup written to base2.dump");
    assert_non_null(strstr(it_kehu.out, "sha256:"));
    assert_non_null(strstr(it_kehu.out, "bytes)"));

    /* each backup is one audit row (not one per chunk), naming its size and hash */
    pg = it_pg_open();
    long long rows = 0;
    for (int wait = 0; wait < 100 && rows < 2; wait++) {
        rows = it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE action = 'admin_backup' AND username = 'admin'");
        if (rows < 2)
            usleep(20000);
    }
    assert_int_equal(rows, 2);
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM audit_log WHERE action = 'admin_backup' AND result = 'ok'"
                          " AND detail LIKE '%%%lld bytes, sha256 %.64s'", size, sha);
    assert_int_equal(it_pg_i64(pg, q), 1);
    PQfinish(pg);

    /* restore into a fresh cluster with the documented script */
    struct th_env e2;
    assert_int_equal(th_pg_create(&e2), 0);
    char restore[512], kehud_env[600];
    snprintf(restore, sizeof restore, "%s/scripts/restore", KEHU_SOURCE_DIR);
    snprintf(kehud_env, sizeof kehud_env, "KEHUD_BIN=%s", it_env.kehud_bin);
    int rc = run_cmd(ARGS("/bin/bash", restore, dump, "--db", e2.conninfo), ENV(kehud_env, "KEHUD_ID_KEY=" TH_ID_KEY),
                     out, sizeof out);
    if (rc != 0) {
        th_env_down(&e2);
        fail_msg("scripts/restore exited %d:\n%s", rc, out);
    }
    assert_non_null(strstr(out, "schema is up to date"));
    /* kehud serves the restored base as kehu_app, which has a fresh password
     * (the restore made the role without one), never as the owner */
    assert_non_null(strstr(out, "user=kehu_app"));
    char app_pw_file[400];
    snprintf(app_pw_file, sizeof app_pw_file, "%s.kehu_app.password", dump);
    struct stat pst;
    assert_int_equal(stat(app_pw_file, &pst), 0);
    assert_int_equal(pst.st_mode & 0777, 0600);
    PGconn *roles = PQconnectdb(e2.conninfo);
    assert_int_equal(it_pg_i64(roles, "SELECT count(*) FROM pg_authid WHERE rolname = 'kehu_app'"
                                      " AND rolpassword IS NOT NULL AND NOT rolsuper AND rolcanlogin"),
                     1);
    PQfinish(roles);
    /* a second restore into the now full database is refused, changing nothing */
    rc = run_cmd(ARGS("/bin/bash", restore, dump, "--db", e2.conninfo), ENV(kehud_env, "KEHUD_ID_KEY=" TH_ID_KEY),
                 out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "not empty"));

    /* a restore given the wrong key: the base is restored, but the script says the key does not fit (exit 1) */
    struct th_env e3;
    assert_int_equal(th_pg_create(&e3), 0);
    rc = run_cmd(ARGS("/bin/bash", restore, dump, "--db", e3.conninfo),
                 ENV(kehud_env, "KEHUD_ID_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"), out,
                 sizeof out);
    th_env_down(&e3);
    if (rc != 1 || !strstr(out, "is not the one this backup's ID numbers were sealed with"))
        fail_msg("scripts/restore with a wrong key exited %d:\n%s", rc, out);

    PGconn *restored = PQconnectdb(e2.conninfo);
    long long upto = it_pg_i64(restored, "SELECT coalesce(max(seq), 0) FROM audit_log");
    PQfinish(restored);
    assert_true(upto > 0);
    /* the audit trail as far as the dump saw it: equal too */
    char *audit_src = fingerprint(it_env.conninfo, upto), *audit_dst = fingerprint(e2.conninfo, upto);
    const char *as = strstr(audit_src, "audit_log|"), *ad = strstr(audit_dst, "audit_log|");
    assert_non_null(as);
    assert_non_null(ad);
    assert_memory_equal(as, ad, (size_t)(strchr(as, '\n') - as));
    free(audit_src);
    free(audit_dst);
    char *after = fingerprint(e2.conninfo, -1);
    if (strcmp(before, after) != 0) {
        /* name only the tables that differ: the whole listing is too long to read */
        char diff[4096] = "";
        size_t dl = 0;
        for (char *a = before, *b = after; *a && *b;) {
            char *ae = strchr(a, '\n'), *be = strchr(b, '\n');
            if (!ae || !be)
                break;
            if (ae - a != be - b || memcmp(a, b, (size_t)(ae - a)) != 0)
                dl += (size_t)snprintf(diff + dl, dl < sizeof diff ? sizeof diff - dl : 0, "  source   %.*s\n  restored %.*s\n",
                                       (int)(ae - a), a, (int)(be - b), b);
            a = ae + 1;
            b = be + 1;
        }
        th_env_down(&e2);
        fail_msg("the restored base differs:\n%s", diff);
    }
    assert_non_null(strstr(before, "\ncustomer|102|"));
    assert_non_null(strstr(before, "\ngrade_history|"));
    free(before);
    free(after);

    /* a kehud on the restored base: the same admin, customers, search keys */
    if (th_kehud_config(&e2) < 0 || th_kehud_start(&e2, NULL) < 0) {
        th_env_down(&e2);
        fail_msg("kehud did not start on the restored base");
    }
    char server[64], id[24];
    snprintf(server, sizeof server, "127.0.0.1:%d", e2.port);
    snprintf(id, sizeof id, "%lld", corp_id);
    int ok = kehu(ENV(ADMIN_PW), ARGS("login", "admin", "--server", server)) == 0 &&
             kehu(NULL, ARGS("customer", "show", id, "--json", "--server", server)) == 0 &&
             strstr(it_kehu.out, "上海武当贸易有限公司") && strstr(it_kehu.out, "\"grades\"") &&
             kehu(NULL, ARGS("customer", "search", "wangwei", "--server", server)) == 0 &&
             strstr(it_kehu.out, "王伟") && kehu(NULL, ARGS("contact", "list", id, "--server", server)) == 0 &&
             strstr(it_kehu.out, "欧阳娜娜") && kehu(NULL, ARGS("doc", "list", id, "--server", server)) == 0 &&
             strstr(it_kehu.out, "合同.txt");
    char copy_out[sizeof it_kehu.out], copy_err[sizeof it_kehu.err];
    memcpy(copy_out, it_kehu.out, sizeof copy_out);
    memcpy(copy_err, it_kehu.err, sizeof copy_err);
    if (ok)
        ok = restored_key(&e2, server);
    th_env_down(&e2);
    if (!ok)
        fail_msg("on the restored base:\nstdout: %s\nstderr: %s", copy_out, copy_err);
}

/* The documented restore into a fresh cluster of its own: the kehud.conf it
 * leaves serves as kehu_app with the password it set, the owner only in
 * db_owner (as scripts/up writes it), so kehud does not run as the
 * superuser and the audit trail stays protected. */
static void test_restore_var(void **state)
{
    (void)state;
    const char *dump = path_in(&it_kehu, "base.dump");
    assert_true(exists(dump));
    char dir[] = "/var/tmp/kehu-it-restore-XXXXXX";
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0755); /* the postgres user must reach it */
    char var[300], restore[512], kehud_env[600], pgport[40], out[8192];
    snprintf(var, sizeof var, "%s/var", dir);
    snprintf(restore, sizeof restore, "%s/scripts/restore", KEHU_SOURCE_DIR);
    snprintf(kehud_env, sizeof kehud_env, "KEHUD_BIN=%s", it_env.kehud_bin);
    snprintf(pgport, sizeof pgport, "KEHU_PG_PORT=%d", th_free_port());
    int rc = run_cmd(ARGS("/bin/bash", restore, dump, "--var", var), ENV(kehud_env, pgport, "KEHUD_ID_KEY=" TH_ID_KEY),
                     out, sizeof out);
    char conf[4096] = "", app_pw[128] = "", path[400];
    snprintf(path, sizeof path, "%s/kehud.conf", var);
    FILE *f = fopen(path, "r");
    if (f) {
        conf[fread(conf, 1, sizeof conf - 1, f)] = 0;
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/pg-app.password", var);
    f = fopen(path, "r");
    if (f) {
        if (!fgets(app_pw, sizeof app_pw, f))
            app_pw[0] = 0;
        fclose(f);
    }
    app_pw[strcspn(app_pw, "\n")] = 0;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", dir);
    if (rc != 0)
        fail_msg("scripts/restore --var exited %d:\n%s", rc, out);
    const char *db = strstr(conf, "\ndb = ");
    if (!db || !strstr(conf, "\ndb_owner = ") || strlen(app_pw) < 32)
        fail_msg("kehud.conf after restore:\n%s", conf);
    char want[200];
    snprintf(want, sizeof want, "user=kehu_app dbname=kehu password=%s\n", app_pw);
    const char *eol = strchr(db + 1, '\n');
    if (!strstr(db, want) || strstr(db, want) > eol)
        fail_msg("kehud.conf does not serve as kehu_app with its password:\n%s", conf);
    assert_non_null(strstr(strstr(conf, "\ndb_owner = "), "user=kehu "));
}

/* ---- pg_dump failing, and stopped when the client goes */

static void serve_with_pg_dump(const char *pg_dump)
{
    assert_int_equal(th_kehud_start(&it_env, pg_dump ? ARGS("--pg-dump", pg_dump) : NULL), 0);
}

static void test_pg_dump_fails(void **state)
{
    (void)state;
    const char *fake = path_in(&it_kehu, "fake-pg_dump");
    write_file(fake, "#!/bin/sh\nprintf 'PGDMP partial' \necho 'pg_dump: error: connection to server failed: 模拟故障' >&2\nexit 1\n",
               0755);
    serve_with_pg_dump(fake);
    expect(kehu(NULL, ARGS("admin", "backup", "failed.dump")), 1, "模拟故障");
    assert_non_null(strstr(it_kehu.err, "kehu: INTERNAL: pg_dump failed (exit status 1)"));
    assert_false(exists(path_in(&it_kehu, "failed.dump")));
    assert_false(exists(path_in(&it_kehu, "failed.dump.part")));

    serve_with_pg_dump("/bin/false");
    expect(kehu(NULL, ARGS("admin", "backup", "failed.dump", "--json")), 1, "\"code\": \"INTERNAL\"");
    assert_non_null(strstr(it_kehu.err, "pg_dump failed (exit status 1)"));
    assert_false(exists(path_in(&it_kehu, "failed.dump.part")));

    serve_with_pg_dump("/nonexistent/pg_dump");
    expect(kehu(NULL, ARGS("admin", "backup", "failed.dump")), 1, "cannot run pg_dump (/nonexistent/pg_dump)");
    assert_false(exists(path_in(&it_kehu, "failed.dump.part")));
}

/* A backup of 3,000,000 bytes: chunks of 512 KiB and the rest, one audit row. */
static void test_chunks_and_one_record(void **state)
{
    (void)state;
    const char *fake = path_in(&it_kehu, "sized-pg_dump");
    write_file(fake, "#!/bin/sh\nhead -c 3000000 /dev/zero\n", 0755);
    serve_with_pg_dump(fake);
    PGconn *pg = it_pg_open();
    const char *count = "SELECT count(*) FROM audit_log WHERE action = 'admin_backup'";
    usleep(100000); /* the records of earlier backups are written */
    long long before = it_pg_i64(pg, count);

    kehu_client *c = it_admin();
    Kehu__V1__AdminBackup m = KEHU__V1__ADMIN_BACKUP__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ADMIN_BACKUP;
    req.admin_backup = &m;
    uint64_t total = 0;
    int chunks = 0, done = 0;
    while (!done) {
        Kehu__V1__Response *r = it_call(c, &req, KEHU__V1__CODE__OK);
        const Kehu__V1__AdminBackupChunk *ch = r->admin_backup;
        done = ch->done;
        if (!done)
            assert_int_equal(ch->data.len, 512 * 1024);
        total += ch->data.len;
        chunks++;
        m.backup_id = ch->backup_id;
        m.offset = total;
        kehu_response_free(r);
        assert_true(chunks < 20);
    }
    kehu_close(c);
    assert_int_equal(total, 3000000);
    assert_int_equal(chunks, 6); /* 5 x 512 KiB + 378,560 bytes */
    long long after = before;
    for (int i = 0; i < 100 && after == before; i++) {
        usleep(20000);
        after = it_pg_i64(pg, count);
    }
    usleep(100000);
    assert_int_equal(it_pg_i64(pg, count) - before, 1);
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE action = 'admin_backup'"
                                   " AND detail LIKE '%: 3000000 bytes, sha256 %'"),
                     1);
    PQfinish(pg);
    serve_with_pg_dump(NULL);
}

static void test_client_goes_away(void **state)
{
    (void)state;
    /* a pg_dump that would write forever: only the client's pace holds it */
    const char *fake = path_in(&it_kehu, "endless-pg_dump");
    const char *pidfile = path_in(&it_kehu, "endless.pid");
    char script[600];
    snprintf(script, sizeof script, "#!/bin/sh\necho $$ > '%s'\nexec cat /dev/zero\n", pidfile);
    write_file(fake, script, 0755);
    serve_with_pg_dump(fake);

    kehu_client *c = it_admin();
    Kehu__V1__AdminBackup m = KEHU__V1__ADMIN_BACKUP__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ADMIN_BACKUP;
    req.admin_backup = &m;
    Kehu__V1__Response *r = it_call(c, &req, KEHU__V1__CODE__OK);
    assert_int_equal(r->result_case, KEHU__V1__RESPONSE__RESULT_ADMIN_BACKUP);
    assert_int_equal(r->admin_backup->data.len, 512 * 1024); /* whole chunks, not what one pipe read gave */
    assert_false(r->admin_backup->done);
    uint64_t id = r->admin_backup->backup_id;
    uint64_t got = r->admin_backup->data.len;
    kehu_response_free(r);
    /* a second backup on the same connection waits for the first */
    it_expect(c, &req, KEHU__V1__CODE__FAILED_PRECONDITION, NULL);
    /* the offset must follow on */
    m.backup_id = id;
    m.offset = got + 1;
    it_expect(c, &req, KEHU__V1__CODE__INVALID_ARGUMENT, "offset");
    m.offset = got;
    r = it_call(c, &req, KEHU__V1__CODE__OK);
    assert_int_equal(r->admin_backup->offset, got);
    kehu_response_free(r);

    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    assert_int_equal(kill(pid, 0), 0);
    kehu_close(c);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        usleep(50000);
        gone = kill(pid, 0) < 0 && errno == ESRCH; /* killed and reaped */
    }
    if (!gone)
        fail_msg("pg_dump (pid %d) still runs 5 s after its client left", pid);
    /* the backup let go of between chunks still has its one audit record */
    PGconn *pg = it_pg_open();
    long long abandoned = 0;
    for (int i = 0; i < 100 && !abandoned; i++) {
        abandoned = it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE action = 'admin_backup'"
                                  " AND result = 'UNAVAILABLE' AND detail LIKE '%abandoned by the client after 1048576 bytes'");
        if (!abandoned)
            usleep(20000);
    }
    PQfinish(pg);
    assert_int_equal(abandoned, 1);

    /* kehud stopping (SIGTERM) in the middle of a backup stops pg_dump too, and exits cleanly */
    c = it_admin();
    m.backup_id = 0;
    m.offset = 0;
    kehu_response_free(it_call(c, &req, KEHU__V1__CODE__OK));
    f = fopen(pidfile, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 10000), 0);
    assert_true(kill(pid, 0) < 0 && errno == ESRCH);
    kehu_close(c);
    serve_with_pg_dump(NULL);
    expect(kehu(NULL, ARGS("ping")), 0, NULL);
}

static int setup(void **state)
{
    if (it_cli_open(&li) < 0 || it_cli_open(&auditor) < 0)
        return -1;
    return it_cli_setup(state);
}

static int teardown(void **state)
{
    it_cli_close(&li);
    it_cli_close(&auditor);
    return it_cli_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_backup_restore),
        cmocka_unit_test(test_restore_var),
        cmocka_unit_test(test_pg_dump_fails),
        cmocka_unit_test(test_chunks_and_one_record),
        cmocka_unit_test(test_client_goes_away),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
