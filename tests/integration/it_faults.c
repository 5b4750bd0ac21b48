/* Faults and the service's life: kehud started before PostgreSQL, stopping
 * with requests arriving, a grading run cut by the grace period, kill -9
 * during writes, PostgreSQL restarted under load, clients vanishing in the
 * middle of a stream, and many idle connections. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "wire.h"

#define C(x) KEHU__V1__CODE__##x
#define BRANCH "故障分行"

static kehu_client *admin;

static int setup(void **state)
{
    if (it_setup(state) < 0)
        return -1;
    admin = it_admin();
    it_expect(admin, it_req_org_add(BRANCH, KEHU__V1__UNIT_KIND__BRANCH, "总行"), C(OK), NULL);
    return 0;
}

static int teardown(void **state)
{
    kehu_close(admin);
    return it_teardown(state);
}

/* A customer add whose name and external reference are `marker`. */
static Kehu__V1__Request *req_add(const char *marker)
{
    static Kehu__V1__Customer cu;
    static Kehu__V1__CustomerAdd add;
    static Kehu__V1__Request req;
    static char name[64], phone[32];
    static char *phones[1], *tags[2] = { "故障", "kill" };
    kehu__v1__customer__init(&cu);
    kehu__v1__customer_add__init(&add);
    kehu__v1__request__init(&req);
    snprintf(name, sizeof name, "%s", marker);
    unsigned h = 0;
    for (const char *p = marker; *p; p++)
        h = h * 31 + (unsigned char)*p;
    snprintf(phone, sizeof phone, "139%08u", h % 100000000u);
    phones[0] = phone;
    cu.name = name;
    cu.ext_ref = name;
    cu.n_phones = 1;
    cu.phones = phones;
    cu.n_tags = 2;
    cu.tags = tags;
    add.customer = &cu;
    add.force = 1;
    add.branch = BRANCH;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &add;
    return &req;
}

static int ping_code(kehu_client *c)
{
    struct kehu_status st;
    kehu_response_free(kehu_call(c, it_req_ping(), &st));
    return st.code;
}

/* How long kehud's log is now: wait_log looks only after it. */
static long log_size(void)
{
    FILE *f = fopen(th_kehud_log(&it_env), "r");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Waits until kehud's log holds needle after offset `from` (the log is
 * appended across restarts). */
static void wait_log(long from, const char *needle, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        FILE *f = fopen(th_kehud_log(&it_env), "r");
        if (f) {
            static char buf[1 << 20];
            fseek(f, from, SEEK_SET);
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            if (strstr(buf, needle))
                return;
        }
        if (it_now_ms() > deadline)
            fail_msg("kehud's log never said '%s'", needle);
        usleep(50 * 1000);
    }
}

/* Sessions of kehud's (and pg_dump's) with a transaction open, besides ours. */
static int64_t open_transactions(PGconn *pg)
{
    return it_pg_i64(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'kehu' AND pid <> pg_backend_pid()"
                         " AND backend_type = 'client backend' AND xact_start IS NOT NULL");
}

/* Every transaction kehud held for a vanished client ends (a rollback takes
 * a moment after the socket closes: poll, never hang). */
static void expect_no_open_transaction(void)
{
    PGconn *pg = it_pg_open();
    int64_t deadline = it_now_ms() + 20000;
    while (open_transactions(pg) > 0) {
        if (it_now_ms() > deadline) {
            fail_msg("a transaction stays open: %lld",
                     (long long)it_pg_i64(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'kehu' AND"
                                              " pid <> pg_backend_pid() AND xact_start IS NOT NULL"));
        }
        usleep(100 * 1000);
    }
    PQfinish(pg);
}

/* ---- starting: PostgreSQL down at start */

static int notify_open(char *path, size_t n)
{
    snprintf(path, n, "%s/notify.sock", it_env.dir);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        fail_msg("notify socket: %s", strerror(errno));
    return fd;
}

/* Every datagram kehud sent, joined by newlines (waits up to timeout_ms for
 * the first). */
static void notify_read(int fd, char *out, size_t n, int timeout_ms)
{
    size_t len = 0;
    out[0] = 0;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        ssize_t r = recv(fd, out + len, n - len - 2, len ? MSG_DONTWAIT : 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        out[len++] = '\n';
        out[len] = 0;
    }
}

static void test_start_waits_for_database(void **state)
{
    (void)state;
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    assert_int_equal(th_pg_stop(&it_env), 0);

    /* as today without wait_db: status 1 at once */
    assert_true(th_kehud_start(&it_env, NULL) < 0);
    assert_int_equal(it_env.kehud_status, 1);

    char path[300], got[4096];
    int nfd = notify_open(path, sizeof path);
    setenv("NOTIFY_SOCKET", path, 1);
    pid_t starter = fork();
    assert_true(starter >= 0);
    if (starter == 0) {
        /* PostgreSQL comes up a while after kehud */
        sleep(3);
        _exit(th_pg_start(&it_env) == 0 ? 0 : 1);
    }
    static const char *const wait_args[] = { "--wait-db", "-1", NULL };
    long from = log_size();
    int rc = th_kehud_start(&it_env, wait_args); /* returns once kehud listens */
    int st = 0;
    waitpid(starter, &st, 0);
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(rc, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    wait_log(from, "waiting for PostgreSQL", 1000);
    notify_read(nfd, got, sizeof got, 5000);
    assert_non_null(strstr(got, "STATUS=waiting for PostgreSQL"));
    assert_non_null(strstr(got, "READY=1"));
    assert_true(strstr(got, "STATUS=waiting") < strstr(got, "READY=1"));

    kehu_client *c = it_admin();
    assert_int_equal(ping_code(c), C(OK));
    kehu_close(c);
    /* and it says so when it stops */
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    notify_read(nfd, got, sizeof got, 5000);
    assert_non_null(strstr(got, "STOPPING=1"));
    close(nfd);
    unlink(path);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    kehu_close(admin);
    admin = it_admin();
}

/* ---- stopping */

struct tally {
    int ok, unavailable, other;
    char message[256];
};

static void count(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct tally *t = arg;
    if (resp && st->code == C(OK))
        t->ok++;
    else if (resp && st->code == C(UNAVAILABLE))
        t->unavailable++;
    else
        t->other++;
    snprintf(t->message, sizeof t->message, "%s", st->message);
}

/* A request arriving on a busy connection after SIGTERM is answered
 * UNAVAILABLE; what was in flight is answered as usual. */
static void test_sigterm_answers_late_requests(void **state)
{
    (void)state;
    static const char *const slow[] = { "--hash-ops", "6", "--hash-mem", "67108864", NULL };
    assert_int_equal(th_kehud_start(&it_env, slow), 0);
    it_add_user("late.user", KEHU__V1__ROLE__ACCOUNT_MANAGER, "1", "late-pass-1");
    kehu_client *c = it_connect();
    Kehu__V1__Login login = KEHU__V1__LOGIN__INIT;
    login.username = "late.user";
    login.password = "late-pass-1";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    req.login = &login;
    struct tally logins = { 0 }, late = { 0 };
    struct kehu_status st;
    for (int i = 0; i < 4; i++)
        assert_int_equal(kehu_send(c, &req, count, &logins, NULL, &st), 0);
    it_expect(c, it_req_ping(), C(OK), NULL); /* every login was read */
    assert_true(logins.ok + logins.other < 4);

    long from = log_size();
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    wait_log(from, "SIGTERM: stopping", 10000);
    assert_int_equal(kehu_send(c, it_req_ping(), count, &late, NULL, &st), 0);
    assert_int_equal(kehu_run(c, 30000), 0);
    assert_int_equal(late.unavailable, 1);
    assert_non_null(strstr(late.message, "stopping"));
    assert_int_equal(logins.ok, 4);
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    kehu_close(c);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    kehu_close(admin);
    admin = it_admin();
}

/* A grading run still going when the grace period ends is answered: the
 * client learns that the run was abandoned, not just a closed connection. */
static void test_grace_cuts_grading_run(void **state)
{
    (void)state;
    static const char *const short_grace[] = { "--shutdown-grace", "1", NULL };
    assert_int_equal(th_kehud_start(&it_env, short_grace), 0);
    kehu_client *c = it_admin();
    PGconn *pg = it_pg_open();
    it_pg_do(pg, "BEGIN");
    it_pg_do(pg, "LOCK TABLE grading_run IN EXCLUSIVE MODE"); /* the run waits to record itself */
    Kehu__V1__GradeRun gr = KEHU__V1__GRADE_RUN__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_GRADE_RUN;
    req.grade_run = &gr;
    struct tally t = { 0 };
    struct kehu_status st;
    assert_int_equal(kehu_send(c, &req, count, &t, NULL, &st), 0);
    PGconn *watch = it_pg_open();
    int64_t deadline = it_now_ms() + 20000;
    while (it_pg_i64(watch, "SELECT count(*) FROM pg_locks WHERE NOT granted") == 0) {
        assert_true(it_now_ms() < deadline);
        usleep(50 * 1000);
    }
    PQfinish(watch);
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(kehu_run(c, 30000), 0);
    assert_int_equal(t.unavailable, 1);
    assert_non_null(strstr(t.message, "grading run"));
    it_pg_do(pg, "ROLLBACK");
    PQfinish(pg);
    assert_int_equal(th_kehud_wait(&it_env, 20000), 0);
    kehu_close(c);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    kehu_close(admin);
    admin = it_admin();
}

/* ---- kill -9 during a stream of writes */

#define WRITERS 4

/* A writer in a child process: adds customers one after another and writes
 * "id marker" to its file for each one acknowledged, until the connection
 * goes. No cmocka here. */
static _Noreturn void writer(int n, const char *file)
{
    FILE *out = fopen(file, "w");
    struct kehu_status st;
    kehu_client *c = kehu_connect(it_server(), 10000, &st);
    if (!out || !c || kehu_login(c, "admin", TH_ADMIN_PASSWORD, NULL, &st) != C(OK))
        _exit(2);
    for (int i = 0; i < 100000; i++) {
        char marker[64];
        snprintf(marker, sizeof marker, "k9-%d-%d", n, i);
        Kehu__V1__Response *r = kehu_call(c, req_add(marker), &st);
        if (!r)
            break; /* the connection went: kehud was killed */
        if (st.code == C(OK) && r->customer) {
            fprintf(out, "%lld %s\n", (long long)r->customer->id, marker);
            fflush(out);
        }
        kehu_response_free(r);
    }
    fclose(out);
    _exit(0);
}

static int lines_in(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    int n = 0;
    for (int ch; (ch = fgetc(f)) != EOF;)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void test_kill9_keeps_acknowledged_writes(void **state)
{
    (void)state;
    char files[WRITERS][300];
    pid_t kids[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        snprintf(files[i], sizeof files[i], "%s/acks-%d", it_env.dir, i);
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0)
            writer(i, files[i]);
    }
    /* kill once every writer has had some writes acknowledged */
    int64_t deadline = it_now_ms() + 60000;
    for (;;) {
        int ready = 0;
        for (int i = 0; i < WRITERS; i++)
            ready += lines_in(files[i]) >= 10;
        if (ready == WRITERS)
            break;
        assert_true(it_now_ms() < deadline);
        usleep(20 * 1000);
    }
    assert_int_equal(th_kehud_signal(&it_env, SIGKILL), 0);
    assert_int_equal(th_kehud_wait(&it_env, 10000), 128 + SIGKILL);
    for (int i = 0; i < WRITERS; i++) {
        int st = 0;
        waitpid(kids[i], &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);

    PGconn *pg = it_pg_open();
    int acked = 0;
    for (int i = 0; i < WRITERS; i++) {
        FILE *f = fopen(files[i], "r");
        assert_non_null(f);
        long long id;
        char marker[64], sql[256];
        while (fscanf(f, "%lld %63s", &id, marker) == 2) {
            snprintf(sql, sizeof sql, "SELECT count(*) FROM customer WHERE id = %lld AND ext_ref = '%s'", id, marker);
            assert_int_equal(it_pg_i64(pg, sql), 1);
            acked++;
        }
        fclose(f);
    }
    /* a customer is there whole or not at all: its phones, tags, search
     * keys, history and audit record came in its one transaction */
    int64_t there = it_pg_i64(pg, "SELECT count(*) FROM customer WHERE ext_ref LIKE 'k9-%'");
    assert_true(there >= acked);
    assert_true(there <= acked + WRITERS); /* at most one unacknowledged write per writer committed */
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer c WHERE ext_ref LIKE 'k9-%' AND"
                                   " (cardinality(phones) <> 1 OR cardinality(tags) <> 2 OR search_text = '' OR"
                                   "  NOT EXISTS (SELECT 1 FROM change_log l WHERE l.customer_id = c.id))"),
                     0);
    PQfinish(pg);
    expect_no_open_transaction();
    kehu_close(admin);
    admin = it_admin();
    assert_int_equal(ping_code(admin), C(OK));
}

/* ---- PostgreSQL stopped and restarted under load */

#define LOADERS 3
#define PIPELINED 20

static void test_database_restart_under_load(void **state)
{
    (void)state;
    kehu_client *c[LOADERS];
    for (int i = 0; i < LOADERS; i++)
        c[i] = it_admin();
    pid_t kehud = it_env.kehud_pid;
    struct tally t[LOADERS] = { 0 };
    struct kehu_status st;
    char marker[64];
    for (int i = 0; i < LOADERS; i++)
        for (int j = 0; j < PIPELINED; j++) {
            snprintf(marker, sizeof marker, "pg-%d-%d", i, j);
            assert_int_equal(kehu_send(c[i], req_add(marker), count, &t[i], NULL, &st), 0);
        }
    assert_int_equal(th_pg_stop(&it_env), 0);
    /* every write in flight is answered: done, or UNAVAILABLE; none hangs or cuts the connection */
    for (int i = 0; i < LOADERS; i++) {
        assert_int_equal(kehu_run(c[i], 30000), 0);
        assert_int_equal(t[i].ok + t[i].unavailable, PIPELINED);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < LOADERS; i++) {
            snprintf(marker, sizeof marker, "pg-down-%d-%d", i, round);
            it_expect(c[i], req_add(marker), C(UNAVAILABLE), NULL);
        }
    assert_int_equal(th_pg_start(&it_env), 0);
    for (int i = 0; i < LOADERS; i++) {
        int64_t deadline = it_now_ms() + 20000;
        for (int j = 0;; j++) {
            snprintf(marker, sizeof marker, "pg-up-%d-%d", i, j);
            Kehu__V1__Response *r = kehu_call(c[i], req_add(marker), &st);
            assert_non_null(r); /* the same connection throughout */
            kehu_response_free(r);
            if (st.code == C(OK))
                break;
            assert_int_equal(st.code, C(UNAVAILABLE));
            assert_true(it_now_ms() < deadline);
            usleep(100 * 1000);
        }
        kehu_close(c[i]);
    }
    assert_int_equal(it_env.kehud_pid, kehud); /* kehud was never restarted */
    assert_int_equal(ping_code(admin), C(OK));
}

/* ---- clients vanishing in the middle of a stream */

static int64_t vanish_customer(void)
{
    struct kehu_status st;
    Kehu__V1__Response *r = kehu_call(admin, req_add("vanish-owner"), &st);
    assert_int_equal(st.code, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

static void test_vanish_mid_import(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        kehu_client *c = it_admin();
        Kehu__V1__ImportBegin b = KEHU__V1__IMPORT_BEGIN__INIT;
        b.kind = "customers";
        b.branch = BRANCH;
        b.size = 1 << 20;
        b.confirm = round == 1;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_IMPORT_BEGIN;
        req.import_begin = &b;
        Kehu__V1__Response *r = it_call(c, &req, C(OK));
        uint64_t id = r->import_started->import_id;
        kehu_response_free(r);
        static const char csv[] = "name,phone,ext_ref\n"
                                  "半途客户一,13900000001,vanish-1\n"
                                  "半途客户二,13900000002,vanish-2\n";
        Kehu__V1__ImportChunk ch = KEHU__V1__IMPORT_CHUNK__INIT;
        ch.import_id = id;
        ch.data.data = (uint8_t *)csv;
        ch.data.len = sizeof csv - 1;
        ch.last = round == 1; /* round 1: all sent, awaiting the commit the client never gives */
        req.op_case = KEHU__V1__REQUEST__OP_IMPORT_CHUNK;
        req.import_chunk = &ch;
        kehu_response_free(it_call(c, &req, C(OK)));
        kehu_close(c); /* gone */
        expect_no_open_transaction();
    }
    PGconn *pg = it_pg_open();
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer WHERE ext_ref LIKE 'vanish-%'"), 0);
    PQfinish(pg);
    assert_int_equal(ping_code(admin), C(OK));
}

static void test_vanish_mid_upload(void **state)
{
    (void)state;
    int64_t cust = vanish_customer();
    kehu_client *c = it_admin();
    static uint8_t data[4096];
    memset(data, 'x', sizeof data);
    Kehu__V1__DocPut put = KEHU__V1__DOC_PUT__INIT;
    put.customer_id = cust;
    put.name = "半途.bin";
    put.type = "application/octet-stream";
    put.size = 100000;
    put.data.data = data;
    put.data.len = sizeof data;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_DOC_PUT;
    req.doc_put = &put;
    kehu_response_free(it_call(c, &req, C(OK)));
    kehu_close(c);
    expect_no_open_transaction();
    PGconn *pg = it_pg_open();
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM document WHERE name = '半途.bin'"), 0);
    PQfinish(pg);
    /* nothing stuck: the next upload goes through whole */
    kehu_client *again = it_admin();
    put.size = sizeof data;
    put.last = 1;
    put.name = "整个.bin";
    kehu_response_free(it_call(again, &req, C(OK)));
    kehu_close(again);
}

static void test_vanish_mid_export(void **state)
{
    (void)state;
    kehu_client *c = it_admin();
    Kehu__V1__ExportPage ep = KEHU__V1__EXPORT_PAGE__INIT;
    Kehu__V1__CustomerList f = KEHU__V1__CUSTOMER_LIST__INIT;
    f.limit = 5;
    ep.filter = &f;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_EXPORT_PAGE;
    req.export_page = &ep;
    kehu_response_free(it_call(c, &req, C(OK)));
    struct kehu_status st;
    struct tally t = { 0 };
    for (int i = 0; i < 5; i++) /* asked, then gone before the answers */
        assert_int_equal(kehu_send(c, &req, count, &t, NULL, &st), 0);
    kehu_close(c);
    expect_no_open_transaction();
    assert_int_equal(ping_code(admin), C(OK));
}

static void test_vanish_mid_backup(void **state)
{
    (void)state;
    kehu_client *c = it_admin();
    Kehu__V1__AdminBackup b = KEHU__V1__ADMIN_BACKUP__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ADMIN_BACKUP;
    req.admin_backup = &b;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    kehu_response_free(r);
    kehu_close(c); /* gone after the first chunk */
    expect_no_open_transaction();
    /* no pg_dump left behind */
    char cmd[128], out[256] = "";
    snprintf(cmd, sizeof cmd, "pgrep -P %d pg_dump", (int)it_env.kehud_pid);
    int64_t deadline = it_now_ms() + 20000;
    for (;;) {
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = 0;
        pclose(p);
        if (n == 0)
            break;
        assert_true(it_now_ms() < deadline);
        usleep(100 * 1000);
    }
    /* and the next backup starts */
    kehu_client *again = it_admin();
    r = it_call(again, &req, C(OK));
    kehu_response_free(r);
    kehu_close(again);
    expect_no_open_transaction();
}

/* ---- many idle connections while others are served */

static void test_idle_connections(void **state)
{
    (void)state;
    /* 10,000 in the benchmark run (KEHU_IT_IDLE=10000); fewer by default,
     * to keep the suite quick on a shared machine */
    int n = getenv("KEHU_IT_IDLE") ? atoi(getenv("KEHU_IT_IDLE")) : 2000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl); /* kehud inherits it */
    if ((rlim_t)n + 200 > rl.rlim_cur)
        n = (int)rl.rlim_cur - 200;
    char lim[32], conns[32];
    snprintf(lim, sizeof lim, "%d", n + 100);
    snprintf(conns, sizeof conns, "%d", n + 2000);
    const char *const args[] = { "--max-connections", conns, "--max-conns-per-address", lim,
                                 "--max-unauth-per-address", lim, "--hello-timeout", "3600",
                                 "--auth-timeout", "3600", NULL };
    assert_int_equal(th_kehud_start(&it_env, args), 0);
    int *fds = calloc((size_t)n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        fds[i] = it_raw_connect();
        if (i % 2 == 0)
            it_raw_hello(fds[i], KEHU_PROTOCOL_VERSION); /* half said Hello, half not even that */
    }
    kehu_client *c = it_admin();
    for (int i = 0; i < 20; i++) {
        char marker[64];
        snprintf(marker, sizeof marker, "idle-%d", i);
        it_expect(c, req_add(marker), C(OK), NULL);
        assert_int_equal(ping_code(c), C(OK));
    }
    kehu_close(c);
    /* the idle ones are still there, and still answered */
    int eof = 0, answered = 0;
    it_raw_send(fds[n - 2], 2, it_req_ping());
    for (Kehu__V1__Frame *f; !answered && (f = it_raw_recv(fds[n - 2], 10000, &eof));) {
        answered = f->id == 2; /* after the Hello's answer */
        kehu__v1__frame__free_unpacked(f, NULL);
    }
    assert_true(answered);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    kehu_close(admin);
    admin = it_admin();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_waits_for_database),
        cmocka_unit_test(test_sigterm_answers_late_requests),
        cmocka_unit_test(test_grace_cuts_grading_run),
        cmocka_unit_test(test_kill9_keeps_acknowledged_writes),
        cmocka_unit_test(test_database_restart_under_load),
        cmocka_unit_test(test_vanish_mid_import),
        cmocka_unit_test(test_vanish_mid_upload),
        cmocka_unit_test(test_vanish_mid_export),
        cmocka_unit_test(test_vanish_mid_backup),
        cmocka_unit_test(test_idle_connections),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
