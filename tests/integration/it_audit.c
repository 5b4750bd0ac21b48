/* The audit trail (docs/audit.md): what is recorded (logins, failed logins,
 * reads, lists, exports, changes, refusals) with its user, peer, customers
 * and result; a change and its record commit together; reads are written
 * within moments; the serving role cannot rewrite the trail; list filters;
 * who may read it; verify finds an edited row, a removed row and, with a
 * noted head, the newest rows cut; the command line's shapes and exit codes.
 *
 * The tests run in order and share the trail they build. The database is
 * read directly as the owner (it_env.conninfo) to check what kehud wrote. */
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x
#define POLL_MS 5000

static struct it_org org;
static struct it_cli cli_aud, cli_li;
static PGconn *owner;
static int64_t cust;          /* li.lei's customer, read and changed below */
static int64_t started_ms;    /* Unix ms before the first request of the tests */

/* ---- the database, as its owner */

static PGresult *sql_ok(const char *sql)
{
    PGresult *r = PQexec(owner, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(owner));
    return r;
}

static long long sql_num(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sql_num(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = sql_ok(sql);
    long long v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

/* Polls until the count query answers at least want (reads are written in
 * batches a few ms apart); returns the last count. */
static long long wait_count(long long want, const char *where)
{
    long long n = -1;
    int64_t until = it_now_ms() + POLL_MS;
    do {
        n = sql_num("SELECT count(*) FROM audit_log WHERE %s", where);
        if (n >= want)
            return n;
        usleep(5000);
    } while (it_now_ms() < until);
    fail_msg("after %d ms, %lld audit row(s) where %s (wanted %lld)", POLL_MS, n, where, want);
    return n;
}

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- requests */

static Kehu__V1__Response *login_raw(kehu_client *c, const char *user, const char *pw, int code)
{
    Kehu__V1__Login m = KEHU__V1__LOGIN__INIT;
    m.username = (char *)user;
    m.password = (char *)pw;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    req.login = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *get(kehu_client *c, int64_t id, int code)
{
    Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
    m.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *edit(kehu_client *c, int64_t id, int64_t version, const char *field, const char *value,
                                int code)
{
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *fvs[1] = { &fv };
    fv.field = (char *)field;
    fv.value = (char *)value;
    Kehu__V1__CustomerEdit m = KEHU__V1__CUSTOMER_EDIT__INIT;
    m.id = id;
    m.version = version;
    m.n_set = 1;
    m.set = fvs;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *audit_list(kehu_client *c, const Kehu__V1__AuditList *m, int code)
{
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_AUDIT_LIST;
    req.audit_list = (Kehu__V1__AuditList *)m;
    return it_call(c, &req, code);
}

static int kehu(struct it_cli *c, const char *const *env, const char *const *args)
{
    return it_cli_run(c, env, args);
}

/* ---- setup */

static int setup(void **state)
{
    if (it_setup(state) < 0 || it_cli_open(&cli_aud) < 0 || it_cli_open(&cli_li) < 0)
        return -1;
    owner = PQconnectdb(it_env.conninfo);
    if (PQstatus(owner) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect as the owner: %s", PQerrorMessage(owner));
        return -1;
    }
    started_ms = unix_ms();
    return 0;
}

static int teardown(void **state)
{
    it_org_close(&org);
    if (owner)
        PQfinish(owner);
    it_cli_close(&cli_aud);
    it_cli_close(&cli_li);
    return it_teardown(state);
}

/* ---- tests */

static void test_role_split(void **state)
{
    (void)state;
    /* kehud serves as kehu_app, which is no superuser and owns nothing */
    assert_int_equal(sql_num("SELECT count(*) FROM pg_roles WHERE rolname = 'kehu_app' AND NOT rolsuper"), 1);
    /* its connections (a slow kehud, under valgrind say, may still be opening them) */
    long long sessions = 0;
    for (int i = 0; i < 250 && sessions == 0; i++) {
        sessions = sql_num("SELECT count(*) FROM pg_stat_activity WHERE usename = 'kehu_app'");
        if (!sessions)
            usleep(20 * 1000);
    }
    assert_true(sessions > 0);
    assert_int_equal(sql_num("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
                             " WHERE r.rolname = 'kehu_app' AND c.relnamespace = 'public'::regnamespace"),
                     0);
    assert_null(strstr(it_env.app_conninfo, "user=kehu ")); /* the test would prove nothing */
}

static void test_logins(void **state)
{
    (void)state;
    it_org_build(&org); /* logs everyone in */
    wait_count(1, "action = 'login' AND username = 'li.lei' AND result = 'ok' AND user_id > 0"
                  " AND peer LIKE '127.0.0.1:%'");

    kehu_client *c = it_connect();
    kehu_response_free(login_raw(c, "li.lei", "wrong-password", C(UNAUTHENTICATED)));
    kehu_response_free(login_raw(c, "no.such.user", "whatever-1", C(UNAUTHENTICATED)));
    kehu_close(c);
    wait_count(1, "action = 'login' AND username = 'li.lei' AND result = 'UNAUTHENTICATED' AND peer LIKE '127.0.0.1:%'");
    wait_count(1, "action = 'login' AND username = 'no.such.user' AND user_id = 0 AND result = 'UNAUTHENTICATED'"
                  " AND peer LIKE '127.0.0.1:%'");
    /* hello and ping are not recorded */
    kehu_close(it_connect());
    assert_int_equal(sql_num("SELECT count(*) FROM audit_log WHERE action IN ('hello', 'ping', 'whoami')"), 0);
}

static void test_reads(void **state)
{
    (void)state;
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    cu.name = "审计客户";
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    Kehu__V1__CustomerAdd add = KEHU__V1__CUSTOMER_ADD__INIT;
    add.customer = &cu;
    add.force = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &add;
    Kehu__V1__Response *r = it_call(org.li, &req, C(OK));
    cust = r->customer->id;
    kehu_response_free(r);
    /* the add committed with its record, which names the new customer */
    assert_int_equal(sql_num("SELECT count(*) FROM audit_log WHERE action = 'customer_add' AND username = 'li.lei'"
                             " AND customer_ids = ARRAY[%lld]::bigint[] AND result = 'ok'",
                             (long long)cust),
                     1);

    int64_t t0 = it_now_ms();
    kehu_response_free(get(org.li, cust, C(OK)));
    char where[512];
    snprintf(where, sizeof where,
             "action = 'customer_get' AND username = 'li.lei' AND customer_ids = ARRAY[%lld]::bigint[]"
             " AND result = 'ok'",
             (long long)cust);
    wait_count(1, where);
    print_message("customer_get's record was readable %lld ms after the reply\n", (long long)(it_now_ms() - t0));

    /* a read refused is recorded with its code and the record asked for */
    kehu_response_free(get(org.bj, cust, C(NOT_FOUND)));
    snprintf(where, sizeof where,
             "action = 'customer_get' AND username = 'bj.am' AND customer_ids = ARRAY[%lld]::bigint[]"
             " AND result = 'NOT_FOUND'",
             (long long)cust);
    wait_count(1, where);

    /* search, list and export name the customers they returned */
    Kehu__V1__CustomerSearch s = KEHU__V1__CUSTOMER_SEARCH__INIT;
    s.text = "审计";
    Kehu__V1__Request rs = KEHU__V1__REQUEST__INIT;
    rs.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
    rs.customer_search = &s;
    kehu_response_free(it_call(org.li, &rs, C(OK)));
    Kehu__V1__CustomerList l = KEHU__V1__CUSTOMER_LIST__INIT;
    Kehu__V1__Request rl = KEHU__V1__REQUEST__INIT;
    rl.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
    rl.customer_list = &l;
    kehu_response_free(it_call(org.li, &rl, C(OK)));
    Kehu__V1__ExportPage e = KEHU__V1__EXPORT_PAGE__INIT;
    e.filter = &l;
    Kehu__V1__Request re = KEHU__V1__REQUEST__INIT;
    re.op_case = KEHU__V1__REQUEST__OP_EXPORT_PAGE;
    re.export_page = &e;
    kehu_response_free(it_call(org.li, &re, C(OK)));
    const char *actions[] = { "customer_search", "customer_list", "export_page" };
    for (int i = 0; i < 3; i++) {
        snprintf(where, sizeof where,
                 "action = '%s' AND username = 'li.lei' AND customer_ids @> ARRAY[%lld]::bigint[] AND result = 'ok'",
                 actions[i], (long long)cust);
        wait_count(1, where);
    }
}

static void test_change_commits_with_its_record(void **state)
{
    (void)state;
    char ok_edits[256];
    snprintf(ok_edits, sizeof ok_edits,
             "SELECT count(*) FROM audit_log WHERE action = 'customer_edit' AND result = 'ok'"
             " AND customer_ids = ARRAY[%lld]::bigint[]",
             (long long)cust);
    assert_int_equal(sql_num("%s", ok_edits), 0);
    Kehu__V1__Response *r = edit(org.li, cust, 1, "address", "上海市徐汇区", C(OK));
    assert_int_equal(r->customer->version, 2);
    kehu_response_free(r);
    /* no waiting: the record committed with the change, before the reply */
    assert_int_equal(sql_num("%s", ok_edits), 1);

    /* a stale version changes nothing and leaves no 'ok' record, only the refusal */
    kehu_response_free(edit(org.li, cust, 1, "address", "北京", C(CONFLICT)));
    char where[256];
    snprintf(where, sizeof where,
             "action = 'customer_edit' AND result = 'CONFLICT' AND customer_ids = ARRAY[%lld]::bigint[]",
             (long long)cust);
    wait_count(1, where);
    assert_int_equal(sql_num("%s", ok_edits), 1);
    /* a change refused by the authorization function: the same */
    kehu_response_free(edit(org.bj, cust, 2, "address", "北京", C(NOT_FOUND)));
    kehu_response_free(edit(org.agent, cust, 2, "address", "北京", C(PERMISSION_DENIED)));
    assert_int_equal(sql_num("%s", ok_edits), 1);

    /* the change's record holds its transaction's lock only to its commit: a
     * burst of changes and reads all land, in one linear chain */
    for (int i = 0; i < 20; i++) {
        char v[32];
        snprintf(v, sizeof v, "地址%d", i);
        kehu_response_free(edit(org.li, cust, 2 + i, "address", v, C(OK)));
        kehu_response_free(get(org.li, cust, C(OK)));
    }
    assert_int_equal(sql_num("%s", ok_edits), 21);
}

static void test_app_role_cannot_rewrite(void **state)
{
    (void)state;
    PGconn *app = PQconnectdb(it_env.app_conninfo);
    assert_int_equal(PQstatus(app), CONNECTION_OK);
    const char *attempts[] = { "UPDATE audit_log SET detail = 'forged' WHERE seq = 1",
                               "DELETE FROM audit_log WHERE seq = 1", "TRUNCATE audit_log",
                               "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                               "DROP TABLE audit_log" };
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        PGresult *r = PQexec(app, attempts[i]);
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (!code || strcmp(code, "42501") != 0)
            fail_msg("as kehu_app, %s: %s (%s)", attempts[i], code ? code : "succeeded", PQresultErrorMessage(r));
        PQclear(r);
    }
    /* appending is what it may do (through audit_append) */
    PGresult *r = PQexec(app, "SELECT count(*) FROM audit_log");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(app);

    /* even the owner is stopped by the trigger unless it disables it first */
    r = PQexec(owner, "UPDATE audit_log SET detail = 'forged' WHERE seq = 1");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorMessage(r), "append-only"));
    PQclear(r);
}

static void test_list_filters_and_rights(void **state)
{
    (void)state;
    Kehu__V1__AuditList m = KEHU__V1__AUDIT_LIST__INIT;
    /* an account manager may not read the trail; an auditor and an admin may */
    kehu_response_free(audit_list(org.li, &m, C(PERMISSION_DENIED)));
    kehu_response_free(audit_list(org.mgr, &m, C(PERMISSION_DENIED)));
    kehu_response_free(audit_list(org.admin, &m, C(OK)));

    struct {
        const char *user;
        int64_t customer;
        int64_t since;
        const char *action;
        const char *where;
    } cases[] = {
        { "li.lei", 0, 0, NULL, "username = 'li.lei'" },
        { NULL, cust, 0, NULL, "customer_ids @> ARRAY[%lld]::bigint[]" },
        { NULL, 0, started_ms, NULL, "at >= 'epoch'::timestamptz + %lld * interval '1 ms'" },
        { "bj.am", cust, 0, "customer_get", "username = 'bj.am' AND customer_ids @> ARRAY[%lld]::bigint[]"
                                            " AND action = 'customer_get'" },
    };
    /* let the reads so far be written, so that the database and the list see the same rows */
    kehu_response_free(get(org.li, cust, C(OK)));
    char where[256];
    snprintf(where, sizeof where, "action = 'customer_get' AND username = 'li.lei'");
    wait_count(22, where);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Kehu__V1__AuditList f = KEHU__V1__AUDIT_LIST__INIT;
        f.user = (char *)(cases[k].user ? cases[k].user : "");
        f.customer_id = cases[k].customer;
        f.since_ms = cases[k].since;
        f.action = (char *)(cases[k].action ? cases[k].action : "");
        f.limit = 1000;
        /* the rows up to now (the listing itself is recorded after it) */
        long long top = sql_num("SELECT coalesce(max(seq), 0) FROM audit_log");
        f.before_seq = top + 1;
        char cond[256], q[512];
        snprintf(cond, sizeof cond, cases[k].where,
                 (long long)(cases[k].customer ? cases[k].customer : cases[k].since));
        snprintf(q, sizeof q, "SELECT string_agg(seq::text, ',' ORDER BY seq DESC) FROM audit_log WHERE seq <= %lld AND %s",
                 top, cond);
        PGresult *pr = sql_ok(q);
        const char *want = PQgetisnull(pr, 0, 0) ? "" : PQgetvalue(pr, 0, 0);
        Kehu__V1__Response *r = audit_list(org.auditor, &f, C(OK));
        char got[8192] = "";
        size_t n = 0;
        for (size_t i = 0; i < r->audit_entries->n_entries && n < sizeof got - 24; i++)
            n += (size_t)snprintf(got + n, sizeof got - n, "%s%lld", i ? "," : "",
                                  (long long)r->audit_entries->entries[i]->seq);
        if (strcmp(got, want) != 0)
            fail_msg("audit list where %s: got %s, wanted %s", cond, got, want);
        assert_true(r->audit_entries->n_entries > 0);
        kehu_response_free(r);
        PQclear(pr);
    }

    /* keyset pages: newest first, no row twice, none skipped */
    long long top = sql_num("SELECT max(seq) FROM audit_log"); /* rows written later have higher seqs */
    long long total = sql_num("SELECT count(*) FROM audit_log WHERE seq <= %lld", top);
    Kehu__V1__AuditList p = KEHU__V1__AUDIT_LIST__INIT;
    p.limit = 7;
    p.before_seq = top + 1;
    long long seen = 0, last = p.before_seq;
    for (;;) {
        Kehu__V1__Response *r = audit_list(org.auditor, &p, C(OK));
        for (size_t i = 0; i < r->audit_entries->n_entries; i++) {
            assert_int_equal(r->audit_entries->entries[i]->seq, last - 1);
            last = r->audit_entries->entries[i]->seq;
            seen++;
        }
        p.before_seq = r->audit_entries->next_before_seq;
        kehu_response_free(r);
        if (!p.before_seq)
            break;
    }
    assert_int_equal(seen, total);
    assert_int_equal(last, 1);
}

static void test_cli(void **state)
{
    (void)state;
    it_cli_expect(&cli_aud, kehu(&cli_aud, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), IT_ARGS("login", "zhao.min")), 0,
                  NULL);
    it_cli_expect(&cli_li, kehu(&cli_li, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), IT_ARGS("login", "li.lei")), 0, NULL);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)cust);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "list", "--customer", id, "--json")), 0,
                  "\"action\": \"customer_get\"");
    assert_int_equal(cli_aud.out[0], '[');
    assert_non_null(strstr(cli_aud.out, "\"customer_ids\": ["));
    assert_non_null(strstr(cli_aud.out, "\"peer\": \"127.0.0.1:"));
    assert_non_null(strstr(cli_aud.out, "\"result\": \"NOT_FOUND\""));
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "list", "--user", "no.such.user", "--since", "1h")),
                  0, "UNAUTHENTICATED");
    it_cli_expect(&cli_aud,
                  kehu(&cli_aud, NULL, IT_ARGS("audit", "list", "--user", "li.lei", "--since", "2000-01-01", "--json")),
                  0, "\"username\": \"li.lei\"");
    assert_null(strstr(cli_aud.out, "\"username\": \"bj.am\""));
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "list", "--since", "yesterday")), 2, "--since");
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "list")), 0, "ACTION");
    it_cli_expect(&cli_li, kehu(&cli_li, NULL, IT_ARGS("audit", "list")), 1, "PERMISSION_DENIED");
    it_cli_expect(&cli_li, kehu(&cli_li, NULL, IT_ARGS("audit", "verify", "--json")), 1, "\"code\": \"PERMISSION_DENIED\"");

    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify")), 0, "intact");
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full", "--json")), 0, "\"ok\": true");
    assert_int_equal(cli_aud.out[0], '{');
    assert_true(it_cli_json_num(&cli_aud, "rows") > 20);
    assert_int_equal(it_cli_json_num(&cli_aud, "bad_seq"), 0);
    assert_int_equal(it_cli_json_num(&cli_aud, "from_seq"), 0);
    assert_non_null(strstr(cli_aud.out, "\"full\": true"));
    /* without --full: from the checkpoint the last verify left, the rows since only */
    long long head = it_cli_json_num(&cli_aud, "last_seq");
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--json")), 0, "\"ok\": true");
    assert_true(it_cli_json_num(&cli_aud, "from_seq") >= head);
    assert_true(it_cli_json_num(&cli_aud, "rows") < 20);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify")), 0, "after the checkpoint at seq");
    /* kehu_app reads the checkpoints but cannot write one */
    PGconn *app = PQconnectdb(it_env.app_conninfo);
    assert_int_equal(PQstatus(app), CONNECTION_OK);
    assert_true(it_pg_i64(app, "SELECT count(*) FROM audit_checkpoint") > 0);
    PGresult *res = PQexec(app, "INSERT INTO audit_checkpoint (seq, hash, rows_checked, from_seq) VALUES (999999, '\\x00', 0, 0)");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    res = PQexec(app, "UPDATE audit_checkpoint SET hash = '\\x00'");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    PQfinish(app);
}

/* The seq of a row that is surely written (not one of the last few). */
static long long middle_seq(void)
{
    return sql_num("SELECT max(seq) / 2 FROM audit_log");
}

static void tamper(const char *sql)
{
    char all[1024];
    snprintf(all, sizeof all,
             "BEGIN; SELECT pg_advisory_xact_lock(hashtext('kehu.audit_log'));"
             " ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; %s;"
             " ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only; COMMIT",
             sql);
    PQclear(sql_ok(all));
}

/* The newest checkpoint, after making sure one covers every row written so far. */
static long long checkpoint_now(void)
{
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify")), 0, "intact");
    return sql_num("SELECT max(seq) FROM audit_checkpoint");
}

/* Waits until the trail holds a row after seq. */
static void rows_after(long long seq)
{
    for (int i = 0; i < 100 && sql_num("SELECT coalesce(max(seq), 0) FROM audit_log") <= seq; i++) {
        kehu_response_free(get(org.li, cust, C(OK)));
        usleep(20000);
    }
    assert_true(sql_num("SELECT coalesce(max(seq), 0) FROM audit_log") > seq);
}

static void test_verify_finds_tampering(void **state)
{
    (void)state;
    long long cp = checkpoint_now();
    long long k = middle_seq();
    assert_true(k < cp);
    char sql[512], want[128];
    PGresult *saved = sql_ok("SELECT seq, detail FROM audit_log WHERE seq = (SELECT max(seq) / 2 FROM audit_log)");
    char *detail = PQescapeLiteral(owner, PQgetvalue(saved, 0, 1), strlen(PQgetvalue(saved, 0, 1)));

    /* one field of one row before the checkpoint changed: the walk from the
     * checkpoint does not see it, the full walk does */
    snprintf(sql, sizeof sql, "UPDATE audit_log SET detail = 'nothing to see' WHERE seq = %lld", k);
    tamper(sql);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify")), 0, "after the checkpoint");
    snprintf(want, sizeof want, "seq %lld: edited", k);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full")), 1, want);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full", "--json")), 1,
                  "\"reason\": \"edited\"");
    assert_int_equal(it_cli_json_num(&cli_aud, "bad_seq"), k);

    /* the row re-hashed to match its new content: its successor no longer follows it */
    snprintf(sql, sizeof sql,
             "UPDATE audit_log SET hash = audit_hash(prev_hash, seq, at, user_id, username, peer, action,"
             " customer_ids, detail, result) WHERE seq = %lld",
             k);
    tamper(sql);
    snprintf(want, sizeof want, "seq %lld: chain broken", k + 1);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full")), 1, want);

    /* put back as it was (the hash is a function of the fields): the chain is whole again */
    snprintf(sql, sizeof sql,
             "UPDATE audit_log SET detail = %s WHERE seq = %lld;"
             " UPDATE audit_log SET hash = audit_hash(prev_hash, seq, at, user_id, username, peer, action,"
             " customer_ids, detail, result) WHERE seq = %lld",
             detail, k, k);
    PQfreemem(detail);
    PQclear(saved);
    tamper(sql);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full")), 0, "intact");

    /* a row after the newest checkpoint changed: the walk from the checkpoint finds it */
    cp = checkpoint_now();
    rows_after(cp + 2);
    snprintf(sql, sizeof sql, "UPDATE audit_log SET detail = 'nothing to see' WHERE seq = %lld", cp + 2);
    tamper(sql);
    snprintf(want, sizeof want, "seq %lld: edited", cp + 2);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify")), 1, want);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--json")), 1, "\"reason\": \"edited\"");
    assert_int_equal(it_cli_json_num(&cli_aud, "from_seq"), cp);
    /* a broken walk leaves no checkpoint behind */
    assert_int_equal(sql_num("SELECT max(seq) FROM audit_checkpoint"), cp);
    /* the checkpoint's own row changed (re-hashed, so that the rows after it no longer follow) */
    snprintf(sql, sizeof sql,
             "UPDATE audit_log SET detail = 'nothing to see' WHERE seq = %lld;"
             " UPDATE audit_log SET hash = audit_hash(prev_hash, seq, at, user_id, username, peer, action,"
             " customer_ids, detail, result) WHERE seq = %lld",
             cp, cp);
    tamper(sql);
    snprintf(want, sizeof want, "seq %lld: edited", cp);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify")), 1, want);

    /* the newest rows cut off, checkpoint and all: the walk from the checkpoint misses its row */
    snprintf(sql, sizeof sql, "DELETE FROM audit_log WHERE seq >= %lld", cp - 1);
    tamper(sql);
    snprintf(want, sizeof want, "seq %lld", cp);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify")), 1, want);
    /* the full walk sees a whole, shorter chain: only a head noted before shows the cut */
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full", "--json")), 0, "\"ok\": true");
    long long head = it_cli_json_num(&cli_aud, "last_seq");
    const char *h = strstr(cli_aud.out, "\"last_hash\": \"");
    assert_non_null(h);
    char headarg[128];
    snprintf(headarg, sizeof headarg, "%lld:%.64s", head, h + strlen("\"last_hash\": \""));
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full", "--head", headarg)), 0, "intact");
    snprintf(sql, sizeof sql, "DELETE FROM audit_log WHERE seq >= %lld; DELETE FROM audit_checkpoint WHERE seq >= %lld",
             head - 2, head - 2);
    tamper(sql);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full")), 0, "intact");
    snprintf(want, sizeof want, "seq %lld", head);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full", "--head", headarg)), 1, want);

    /* a row removed from the middle */
    long long gone = middle_seq() + 1;
    snprintf(sql, sizeof sql, "DELETE FROM audit_log WHERE seq = %lld", gone);
    tamper(sql);
    snprintf(want, sizeof want, "seq %lld: missing", gone);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full")), 1, want);
    it_cli_expect(&cli_aud, kehu(&cli_aud, NULL, IT_ARGS("audit", "verify", "--full", "--json")), 1,
                  "\"reason\": \"missing\"");
    assert_int_equal(it_cli_json_num(&cli_aud, "bad_seq"), gone);
}

static void test_shutdown_writes_the_last_reads(void **state)
{
    (void)state;
    /* reads answered just before SIGTERM are written before kehud exits */
    const char *q = "SELECT count(*) FROM audit_log WHERE action = 'customer_get' AND username = 'li.lei'";
    long long before = sql_num("%s", q);
    for (int i = 0; i < 50; i++)
        kehu_response_free(get(org.li, cust, C(OK)));
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 30000), 0);
    assert_true(sql_num("%s", q) >= before + 50);
    it_org_close(&org);
    memset(&org, 0, sizeof org);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_split),
        cmocka_unit_test(test_logins),
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_change_commits_with_its_record),
        cmocka_unit_test(test_app_role_cannot_rewrite),
        cmocka_unit_test(test_list_filters_and_rights),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_verify_finds_tampering),
        cmocka_unit_test(test_shutdown_writes_the_last_reads),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
