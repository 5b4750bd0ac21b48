/* Clients that survive bad links, through the real wire: a subscription
 * resumed after a dropped connection gets what it missed, after a kehud
 * restart it is told to refresh; writes repeated under an idempotency key
 * are done once; `kehu watch` keeps going across a restart. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "kehu_reconnect.h"

#define C(x) KEHU__V1__CODE__##x

static kehu_client *admin;
static int64_t cust;
static int64_t version;

static Kehu__V1__Request *req_add(const char *name, const char *key)
{
    static Kehu__V1__Customer cu;
    static Kehu__V1__CustomerAdd add;
    static Kehu__V1__Request req;
    static char nm[64], k[64];
    kehu__v1__customer__init(&cu);
    kehu__v1__customer_add__init(&add);
    kehu__v1__request__init(&req);
    snprintf(nm, sizeof nm, "%s", name);
    snprintf(k, sizeof k, "%s", key ? key : "");
    cu.name = nm;
    add.customer = &cu;
    add.force = 1;
    add.branch = "重连分行";
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &add;
    req.idempotency_key = k;
    return &req;
}

/* Changes the customer's notes (a customer.updated event): the new version. */
static void edit(const char *notes)
{
    Kehu__V1__CustomerEdit e = KEHU__V1__CUSTOMER_EDIT__INIT;
    e.id = cust;
    e.version = version;
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT;
    fv.field = "notes";
    fv.value = (char *)notes;
    Kehu__V1__FieldValue *sets[] = { &fv };
    e.version = 0; /* only the notes change, on the current record */
    e.n_set = 1;
    e.set = sets;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &e;
    Kehu__V1__Response *r = it_call(admin, &req, C(OK));
    version = r->customer->version;
    kehu_response_free(r);
}

static int setup(void **state)
{
    if (it_setup(state) < 0)
        return -1;
    admin = it_admin();
    it_expect(admin, it_req_org_add("重连分行", KEHU__V1__UNIT_KIND__BRANCH, "总行"), C(OK), NULL);
    Kehu__V1__Response *r = it_call(admin, req_add("断线客户", NULL), C(OK));
    cust = r->customer->id;
    version = r->customer->version;
    kehu_response_free(r);
    return 0;
}

static int teardown(void **state)
{
    kehu_close(admin);
    return it_teardown(state);
}

struct link_log {
    int lost, back;
    int64_t back_at;
};

static void on_link(enum kehu_link what, const struct kehu_status *why, void *arg)
{
    (void)why;
    struct link_log *l = arg;
    if (what == KEHU_LINK_LOST)
        l->lost++;
    else {
        l->back++;
        l->back_at = it_now_ms();
    }
}

static kehu_watch *watch_unit(kehu_client *c, struct link_log *l)
{
    Kehu__V1__Subscribe sub = KEHU__V1__SUBSCRIBE__INIT;
    sub.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
    sub.unit = "总行";
    struct kehu_status st;
    kehu_watch *w = kehu_watch_start(c, &sub, on_link, l, &st);
    if (!w)
        fail_msg("subscribe: %s", st.message);
    return w;
}

/* Events until one of kind for our customer at version `v` (0: any), within 20 s. */
static Kehu__V1__Event *wait_event(kehu_watch *w, const char *kind, int64_t v)
{
    int64_t deadline = it_now_ms() + 20000;
    while (it_now_ms() < deadline) {
        struct kehu_status st;
        Kehu__V1__Event *ev = kehu_watch_next(w, 500, &st);
        if (!ev) {
            if (st.code != KEHU_TRANSPORT || strcmp(st.message, "timeout") != 0)
                fail_msg("watch: %s", st.message);
            continue;
        }
        if (strcmp(ev->kind, kind) == 0 && (!v || (ev->customer_id == cust && ev->version == v)))
            return ev;
        kehu_event_free(ev);
    }
    fail_msg("no %s event (version %lld)", kind, (long long)v);
    return NULL;
}

/* The link drops while kehud stays: the events of the changes made
 * meanwhile are sent on resubscription, numbered after the last one seen. */
static void test_drop_replays_missed(void **state)
{
    (void)state;
    struct link_log l = { 0 };
    kehu_client *c = it_admin();
    kehu_watch *w = watch_unit(c, &l);
    edit("一");
    Kehu__V1__Event *ev = wait_event(w, "customer.updated", version);
    uint64_t seq = ev->seq, stream = ev->stream;
    assert_true(seq > 0 && stream > 0);
    kehu_event_free(ev);

    shutdown(kehu_fd(c), SHUT_RDWR); /* the link is gone */
    edit("二");
    int64_t v2 = version;
    edit("三");
    int64_t v3 = version;
    ev = wait_event(w, "customer.updated", v2);
    assert_int_equal(l.lost, 1);
    assert_int_equal(l.back, 1);
    assert_int_equal(ev->stream, stream);
    assert_true(ev->seq > seq);
    seq = ev->seq;
    kehu_event_free(ev);
    ev = wait_event(w, "customer.updated", v3);
    assert_true(ev->seq > seq);
    kehu_event_free(ev);
    kehu_watch_free(w);
    kehu_close(c);
}

/* kehud restarts: the watch comes back by itself (backoff, session resumed
 * by its token) and is told to refresh, then gets the new events. Prints
 * how long the watch took to be back once kehud accepted again. */
static void test_restart_says_refresh(void **state)
{
    (void)state;
    struct link_log l = { 0 };
    kehu_client *c = it_admin();
    kehu_watch *w = watch_unit(c, &l);
    edit("四");
    kehu_event_free(wait_event(w, "customer.updated", version));

    PGconn *pg = it_pg_open();
    int64_t before = it_pg_i64(pg, "SELECT (extract(epoch FROM now()) * 1000)::bigint");
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    struct kehu_status st;
    assert_null(kehu_watch_next(w, 300, &st)); /* notices the loss */
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    int64_t up = it_now_ms();
    Kehu__V1__Event *ev = wait_event(w, "events.missed", 0);
    print_message("watch back %lld ms after kehud accepted again (backoff with jitter, 200 ms doubling to 10 s)\n",
                  (long long)(l.back_at - up));
    kehu_event_free(ev);
    kehu_close(admin);
    admin = it_admin();
    assert_true(l.lost >= 1);
    assert_int_equal(l.back, 1);
    /* kehud accepts before its LISTEN is in place (it serves while the
     * database is still coming up): a change committed before then is
     * heard by no one here (the watch is told to refresh once the LISTEN
     * is in place: test_listener_lost_says_refresh), so to see its event
     * the edit waits for it */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %%' AND backend_start >= to_timestamp(%lld / 1000.0)",
             (long long)before);
    int64_t deadline = it_now_ms() + 20000;
    while (it_pg_i64(pg, sql) < 1) {
        if (it_now_ms() > deadline)
            fail_msg("kehud's LISTEN not in place 20 s after its restart");
        usleep(20000);
    }
    PQfinish(pg);
    edit("五");
    kehu_event_free(wait_event(w, "customer.updated", version));
    kehu_watch_free(w);

    /* the reconnection itself: connect, Hello, resume the session */
    int64_t t0 = it_now_ms();
    assert_int_equal(kehu_reconnect(c, &st), 0);
    print_message("kehu_reconnect (connect, Hello, Resume): %lld ms\n", (long long)(it_now_ms() - t0));
    kehu_close(c);
}

static int org_list_code(kehu_client *c)
{
    Kehu__V1__OrgList ol = KEHU__V1__ORG_LIST__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_LIST;
    req.org_list = &ol;
    struct kehu_status st;
    Kehu__V1__Response *r = kehu_call(c, &req, &st);
    kehu_response_free(r);
    return st.code;
}

/* kehud's listening connection is lost while kehud and its other database
 * connections stay: whatever is committed until its LISTEN is back is
 * announced to no one here. Once it is back, every open watch is told to
 * refresh, and the sessions and users those lost announcements would have
 * changed are read again: a session revoked and an account disabled
 * meanwhile (behind kehud's back, as another kehud would) stop working. */
static void test_listener_lost_says_refresh(void **state)
{
    (void)state;
    it_add_user("gap.one", KEHU__V1__ROLE__BRANCH_MANAGER, "重连分行", "gap-pass-1");
    it_add_user("gap.two", KEHU__V1__ROLE__BRANCH_MANAGER, "重连分行", "gap-pass-2");
    kehu_client *one = it_login("gap.one", "gap-pass-1");
    kehu_client *two = it_login("gap.two", "gap-pass-2");
    assert_int_equal(org_list_code(one), C(OK));
    assert_int_equal(org_list_code(two), C(OK));
    struct link_log l = { 0 };
    kehu_client *c = it_admin();
    kehu_watch *w = watch_unit(c, &l);
    edit("七"); /* the LISTEN is in place: this one is heard */
    kehu_event_free(wait_event(w, "customer.updated", version));

    PGconn *pg = it_pg_open();
    /* the listener cannot come back until it may log in again */
    it_pg_do(pg, "ALTER ROLE kehu_app NOLOGIN");
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                   " WHERE usename = 'kehu_app' AND query LIKE 'LISTEN %') t"),
                     1);
    usleep(300000); /* a failed attempt or two */
    edit("八"); /* committed, announced to no one here */
    int64_t lost_version = version;
    it_pg_do(pg, "UPDATE session SET revoked_at = now() WHERE user_id = (SELECT id FROM app_user WHERE username = 'gap.one')");
    it_pg_do(pg, "UPDATE app_user SET disabled_at = now() WHERE username = 'gap.two'");
    assert_int_equal(org_list_code(one), C(OK)); /* not yet known here */
    it_pg_do(pg, "ALTER ROLE kehu_app LOGIN");
    PQfinish(pg);

    int64_t deadline = it_now_ms() + 20000, refreshed = 0;
    while (!refreshed && it_now_ms() < deadline) {
        struct kehu_status st;
        Kehu__V1__Event *ev = kehu_watch_next(w, 500, &st);
        if (!ev)
            continue;
        if (strcmp(ev->kind, "customer.updated") == 0 && ev->customer_id == cust && ev->version == lost_version)
            fail_msg("the change made while kehud was not listening was announced after all");
        refreshed = strcmp(ev->kind, "events.missed") == 0;
        kehu_event_free(ev);
    }
    if (!refreshed)
        fail_msg("no events.missed after the listening connection came back");
    assert_int_equal(l.lost, 0); /* the watch's own link never dropped */
    /* the sessions were read again before the watch was told (the same
     * connection, in order): both users are out */
    assert_int_equal(org_list_code(one), C(UNAUTHENTICATED));
    assert_int_equal(org_list_code(two), C(UNAUTHENTICATED));
    edit("九"); /* and the next change is heard again */
    kehu_event_free(wait_event(w, "customer.updated", version));
    kehu_watch_free(w);
    kehu_close(c);
    kehu_close(one);
    kehu_close(two);
}

static int64_t count_named(const char *name)
{
    PGconn *pg = it_pg_open();
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM customer WHERE name = '%s'", name);
    int64_t n = it_pg_i64(pg, sql);
    PQfinish(pg);
    return n;
}

/* The same key twice: done once, the second answer is the first's. */
static void test_idempotent_repeat(void **state)
{
    (void)state;
    Kehu__V1__Response *a = it_call(admin, req_add("幂等客户", "key-one"), C(OK));
    assert_false(a->replayed);
    Kehu__V1__Response *b = it_call(admin, req_add("幂等客户", "key-one"), C(OK));
    assert_true(b->replayed);
    assert_int_equal(a->customer->id, b->customer->id);
    kehu_response_free(a);
    kehu_response_free(b);
    assert_int_equal(count_named("幂等客户"), 1);
    /* the key names one write: another kind of request under it is refused */
    Kehu__V1__OrgList ol = KEHU__V1__ORG_LIST__INIT;
    Kehu__V1__Request other = KEHU__V1__REQUEST__INIT;
    other.op_case = KEHU__V1__REQUEST__OP_ORG_LIST;
    other.org_list = &ol;
    other.idempotency_key = "key-one";
    it_expect(admin, &other, C(INVALID_ARGUMENT), "idempotency_key");
    /* keys are per user: the same key from another user is another write */
    it_add_user("idem.am", KEHU__V1__ROLE__BRANCH_MANAGER, "重连分行", "idem-pass-1");
    kehu_client *am = it_login("idem.am", "idem-pass-1");
    Kehu__V1__Response *d = it_call(am, req_add("幂等客户", "key-one"), C(OK));
    assert_false(d->replayed);
    kehu_response_free(d);
    kehu_close(am);
    assert_int_equal(count_named("幂等客户"), 2);
}

static void ignore(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    (void)resp;
    (void)st;
    (void)arg;
}

/* The answer is lost with the connection: the retry on a new connection,
 * same key, gets it without a second write. */
static void test_lost_answer_retried(void **state)
{
    (void)state;
    kehu_client *c = it_admin();
    struct kehu_status st;
    Kehu__V1__Request *req = req_add("丢失回答", "key-lost");
    assert_int_equal(kehu_send(c, req, ignore, NULL, NULL, &st), 0);
    shutdown(kehu_fd(c), SHUT_RDWR); /* sent, and gone before the answer */
    Kehu__V1__Response *r = kehu_call_retry(c, req_add("丢失回答", "key-lost"), 20000, NULL, NULL, &st);
    assert_non_null(r);
    assert_int_equal(st.code, C(OK));
    assert_true(r->replayed);
    kehu_response_free(r);
    assert_int_equal(count_named("丢失回答"), 1);

    /* a write whose connection died with kehud: repeated after the restart */
    assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
    assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    r = kehu_call_retry(c, req_add("重启之后", NULL), 20000, NULL, NULL, &st);
    assert_non_null(r);
    assert_int_equal(st.code, C(OK));
    kehu_response_free(r);
    assert_int_equal(count_named("重启之后"), 1);
    kehu_close(c);
    kehu_close(admin);
    admin = it_admin();
}

/* Reads from fd into buf until needle shows up (0) or timeout (-1). */
static int read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    while (!strstr(buf, needle)) {
        int left = (int)(deadline - it_now_ms());
        if (left <= 0)
            return -1;
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = read(fd, buf + *len, cap - *len - 1);
        if (n <= 0)
            return -1;
        *len += (size_t)n;
        buf[*len] = 0;
    }
    return 0;
}

/* `kehu watch` keeps going across a kehud restart and says so on stderr. */
static void test_cli_watch_across_restart(void **state)
{
    (void)state;
    struct it_cli cli;
    assert_int_equal(it_cli_open(&cli), 0);
    assert_int_equal(it_cli_run(&cli, IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin")), 0);
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
        it_cli_exec(&cli, NULL, IT_ARGS("watch", "--unit", "总行", "--json"));
    }
    close(po[1]);
    close(pe[1]);
    static char obuf[16384], ebuf[4096];
    size_t olen = 0, elen = 0;
    obuf[0] = ebuf[0] = 0;
    int ok = read_until(pe[0], ebuf, sizeof ebuf, &elen, "watching", 10000) == 0;
    if (ok) {
        assert_int_equal(th_kehud_signal(&it_env, SIGTERM), 0);
        assert_int_equal(th_kehud_wait(&it_env, 15000), 0);
        ok = read_until(pe[0], ebuf, sizeof ebuf, &elen, "offline", 10000) == 0;
    }
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    kehu_close(admin);
    admin = it_admin();
    if (ok)
        ok = read_until(pe[0], ebuf, sizeof ebuf, &elen, "back online", 20000) == 0;
    if (ok) {
        edit("六");
        char want[64];
        snprintf(want, sizeof want, "\"version\":%lld", (long long)version);
        ok = read_until(po[0], obuf, sizeof obuf, &olen, want, 10000) == 0;
    }
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    close(po[0]);
    close(pe[0]);
    it_cli_close(&cli);
    if (!ok)
        fail_msg("watch across a restart\nstdout: %s\nstderr: %s", obuf, ebuf);
    assert_non_null(strstr(obuf, "\"kind\":\"events.missed\""));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The CLI's write whose answer is lost with the connection (kehud's
 * test_drop_keyed_answers closes it after the write is done and recorded):
 * kehu reconnects, repeats it under the same key, reports success, and the
 * customer is there once. When no answer ever comes, it says the write may
 * or may not have been made. */
static void test_cli_write_answer_lost(void **state)
{
    (void)state;
    assert_int_equal(th_kehud_start(&it_env, IT_ARGS("--test-drop-keyed-answers=2")), 0);
    kehu_close(admin);
    admin = it_admin();
    struct it_cli cli;
    assert_int_equal(it_cli_open(&cli), 0);
    int rc = it_cli_run(&cli, IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin"));
    it_cli_expect(&cli, rc, 0, NULL);
    rc = it_cli_run(&cli, NULL, IT_ARGS("customer", "add", "--name", "回答丢失客户", "--branch", "重连分行",
                                        "--force", "--json"));
    it_cli_expect(&cli, rc, 0, "\"id\"");
    assert_non_null(strstr(cli.err, "reconnecting"));
    assert_int_equal(count_named("回答丢失客户"), 1);
    rc = it_cli_run(&cli, NULL, IT_ARGS("org", "add", "回答丢失支行", "--kind", "branch", "--parent", "总行"));
    it_cli_expect(&cli, rc, 0, NULL);
    PGconn *pg = it_pg_open();
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM org_unit WHERE name = '回答丢失支行'"), 1);
    PQfinish(pg);
    /* the hook is spent: the next write is answered at once */
    rc = it_cli_run(&cli, NULL, IT_ARGS("customer", "add", "--name", "回答未丢客户", "--branch", "重连分行",
                                        "--force"));
    it_cli_expect(&cli, rc, 0, NULL);
    assert_null(strstr(cli.err, "reconnecting"));
    assert_int_equal(count_named("回答未丢客户"), 1);
    /* every answer lost, the recorded one too: kehu gives up after a few
     * tries, says the write may or may not have been made (exit 3), and it
     * was made once */
    assert_int_equal(th_kehud_start(&it_env, IT_ARGS("--test-drop-keyed-answers=100")), 0);
    rc = it_cli_run(&cli, NULL, IT_ARGS("customer", "add", "--name", "回答总丢客户", "--branch", "重连分行",
                                        "--force"));
    it_cli_expect(&cli, rc, 3, "may or may not have been made");
    assert_int_equal(count_named("回答总丢客户"), 1);
    it_cli_close(&cli);
    assert_int_equal(th_kehud_start(&it_env, NULL), 0);
    kehu_close(admin);
    admin = it_admin();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drop_replays_missed),
        cmocka_unit_test(test_restart_says_refresh),
        cmocka_unit_test(test_listener_lost_says_refresh),
        cmocka_unit_test(test_idempotent_repeat),
        cmocka_unit_test(test_lost_answer_retried),
        cmocka_unit_test(test_cli_watch_across_restart),
        cmocka_unit_test(test_cli_write_answer_lost),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
