/* The connection layer's limits (docs/security.md), through the real wire on
 * loopback. Clients come from chosen addresses (127.0.0.0/8 is all local):
 * the attacker's limits must not touch a well-behaved client elsewhere.
 * kehud is restarted with the settings each case needs, made small so that
 * every case takes seconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "wire.h"

/* Under AddressSanitizer freed memory stays in its quarantine and all runs
 * several times slower: memory is then printed, not judged. Times are
 * printed and judged only when KEHU_JUDGE_TIMES is set (a quiet machine):
 * a test's verdict never depends on how busy the machine is. */
#ifdef __SANITIZE_ADDRESS__
#define JUDGE_COSTS 0
#else
#define JUDGE_COSTS 1
#endif
#define JUDGE_TIMES (JUDGE_COSTS && getenv("KEHU_JUDGE_TIMES") != NULL)

#define ARGS IT_ARGS
#define C(x) KEHU__V1__CODE__##x

static void serve(const char *const *args)
{
    if (th_kehud_start(&it_env, args) < 0)
        fail_msg("kehud did not start");
}

/* ---- a raw client from a chosen address */

struct rc {
    int fd;
    struct wire_decoder dec;
    uint64_t next_id;
};

static int rc_open(struct rc *r, const char *src)
{
    memset(r, 0, sizeof *r);
    r->next_id = 1;
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->fd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton(AF_INET, src, &a.sin_addr);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)it_env.port) };
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    int one = 1;
    setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(r->fd, (struct sockaddr *)&a, sizeof a) < 0 || connect(r->fd, (struct sockaddr *)&to, sizeof to) < 0) {
        close(r->fd);
        r->fd = -1;
        return -1;
    }
    wire_decoder_init(&r->dec, 64u << 20);
    return 0;
}

static void rc_close(struct rc *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    wire_decoder_free(&r->dec);
}

static int rc_write(struct rc *r, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(r->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void pack_req(struct wire_buf *b, uint64_t id, Kehu__V1__Request *req)
{
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = id;
    f.body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f.request = req;
    assert_true(wire_pack(b, &f) > 0);
}

static uint64_t rc_send(struct rc *r, Kehu__V1__Request *req)
{
    struct wire_buf b = { 0 };
    uint64_t id = r->next_id++;
    pack_req(&b, id, req);
    int rc = rc_write(r, b.data, b.len);
    wire_buf_free(&b);
    return rc < 0 ? 0 : id;
}

/* The next frame, or NULL at EOF (*eof = 1) or timeout. */
static Kehu__V1__Frame *rc_recv(struct rc *r, int timeout_ms, int *eof)
{
    *eof = 0;
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        const uint8_t *p;
        size_t len;
        if (wire_decoder_next(&r->dec, &p, &len) == WIRE_FRAME) {
            Kehu__V1__Frame *f = kehu__v1__frame__unpack(NULL, len, p);
            assert_non_null(f);
            return f;
        }
        int left = (int)(deadline - it_now_ms());
        if (left <= 0)
            return NULL;
        struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
        if (poll(&pfd, 1, left) <= 0)
            continue;
        char buf[65536];
        ssize_t n = recv(r->fd, buf, sizeof buf, 0);
        if (n <= 0) {
            *eof = 1;
            return NULL;
        }
        wire_decoder_feed(&r->dec, buf, (size_t)n);
    }
}

/* The status of the next response (events skipped), its message in msg;
 * -1 at EOF, -2 on timeout. *id_out the frame's id. */
static int rc_status(struct rc *r, int timeout_ms, uint64_t *id_out, char *msg, size_t msgsz)
{
    for (;;) {
        int eof;
        Kehu__V1__Frame *f = rc_recv(r, timeout_ms, &eof);
        if (!f)
            return eof ? -1 : -2;
        if (f->body_case != KEHU__V1__FRAME__BODY_RESPONSE) {
            kehu__v1__frame__free_unpacked(f, NULL);
            continue;
        }
        int code = f->response->status ? (int)f->response->status->code : 0;
        if (msg)
            snprintf(msg, msgsz, "%s", f->response->status ? f->response->status->message : "");
        if (id_out)
            *id_out = f->id;
        kehu__v1__frame__free_unpacked(f, NULL);
        return code;
    }
}

static Kehu__V1__Request *req_hello(void)
{
    static Kehu__V1__Hello h;
    static Kehu__V1__Request req;
    kehu__v1__hello__init(&h);
    h.protocol_version = KEHU_PROTOCOL_VERSION;
    h.client = "it_limits";
    kehu__v1__request__init(&req);
    req.op_case = KEHU__V1__REQUEST__OP_HELLO;
    req.hello = &h;
    return &req;
}

static Kehu__V1__Request *req_login(const char *user, const char *password)
{
    static Kehu__V1__Login m;
    static Kehu__V1__Request req;
    kehu__v1__login__init(&m);
    m.username = (char *)user;
    m.password = (char *)password;
    kehu__v1__request__init(&req);
    req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    req.login = &m;
    return &req;
}

/* Connected from src and past Hello; -1 when the server refused. */
static int rc_hello(struct rc *r, const char *src)
{
    if (rc_open(r, src) < 0)
        return -1;
    if (!rc_send(r, req_hello()) || rc_status(r, 5000, NULL, NULL, 0) != C(OK)) {
        rc_close(r);
        return -1;
    }
    return 0;
}

static int rc_login(struct rc *r, const char *user, const char *password, char *msg, size_t msgsz)
{
    if (!rc_send(r, req_login(user, password)))
        return -1;
    return rc_status(r, 10000, NULL, msg, msgsz);
}

static int rc_ping(struct rc *r)
{
    if (!rc_send(r, it_req_ping()))
        return -1;
    return rc_status(r, 10000, NULL, NULL, 0);
}

/* kehud's resident memory, kB */
static long kehud_rss_kb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)it_env.kehud_pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* One of the connection layer's counters in `admin stats`. */
static long long stat_of(const char *name)
{
    kehu_client *a = it_admin();
    uint64_t v = it_admin_count(a, name);
    kehu_close(a);
    return (long long)v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* n pings one after the other on c: the percentile pct of their times, us. */
static int64_t ping_pct(kehu_client *c, int n, int pct)
{
    int64_t *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        struct kehu_status st;
        kehu_response_free(kehu_call(c, it_req_ping(), &st));
        assert_int_equal(st.code, C(OK));
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[i] = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_i64);
    int64_t v = t[(n - 1) * pct / 100];
    free(t);
    return v;
}

/* How long one password check of an unknown name takes now (the
 * server's Argon2 costs on this machine, as loaded as it is), ms. */
static int64_t one_check_ms(const char *src)
{
    struct rc r;
    assert_int_equal(rc_hello(&r, src), 0);
    int64_t t0 = it_now_ms();
    assert_int_equal(rc_login(&r, "nobody.measured", "whatever-1", NULL, 0), C(UNAUTHENTICATED));
    int64_t ms = it_now_ms() - t0;
    rc_close(&r);
    return ms;
}

/* A real login behind a flood waits at most for the checks already
 * running: a few checks' time, not the flood's. */
static int64_t login_allowed_ms(int64_t check_ms)
{
    return check_ms * 3 < 1500 ? 1500 : check_ms * 3;
}

/* ---- the frame limit, and a client that is not Kehu's */

static void test_frame_limit_and_not_kehu(void **state)
{
    (void)state;
    serve(NULL);
    struct rc r;
    assert_int_equal(rc_open(&r, "127.0.0.1"), 0);
    uint8_t hdr[4] = { 0, 1, 0x86, 0xa0 }; /* 100000 bytes */
    assert_int_equal(rc_write(&r, hdr, 4), 0);
    char msg[300];
    assert_int_equal(rc_status(&r, 5000, NULL, msg, sizeof msg), C(RESOURCE_EXHAUSTED));
    if (!strstr(msg, "frame of 100000 bytes exceeds the 64 KiB limit before login"))
        fail_msg("refusal: %s", msg);
    rc_close(&r);

    /* an HTTP client is answered in HTTP */
    assert_int_equal(rc_open(&r, "127.0.0.1"), 0);
    const char get[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(rc_write(&r, get, sizeof get - 1), 0);
    char buf[1024];
    size_t len = 0;
    ssize_t n;
    struct pollfd pfd = { .fd = r.fd, .events = POLLIN };
    while (len < sizeof buf - 1 && poll(&pfd, 1, 5000) > 0 && (n = recv(r.fd, buf + len, sizeof buf - 1 - len, 0)) > 0)
        len += (size_t)n;
    buf[len] = 0;
    rc_close(&r);
    if (strncmp(buf, "HTTP/1.1 400", 12) != 0 || !strstr(buf, "This is kehud"))
        fail_msg("an HTTP client got: %s", buf);
    assert_true(stat_of("closed_not_kehu_protocol") >= 1);
    assert_true(stat_of("closed_frame_too_big") >= 1);
}

/* ---- the deadline to log in, the idle timeout */

static void test_auth_deadline_and_idle(void **state)
{
    (void)state;
    serve(ARGS("--auth-timeout", "2", "--idle-timeout", "3"));
    struct rc anon, idle, watching;
    assert_int_equal(rc_hello(&anon, "127.0.0.2"), 0);
    assert_int_equal(rc_hello(&idle, "127.0.0.3"), 0);
    assert_int_equal(rc_login(&idle, "admin", TH_ADMIN_PASSWORD, NULL, 0), C(OK));
    assert_int_equal(rc_hello(&watching, "127.0.0.3"), 0);
    assert_int_equal(rc_login(&watching, "admin", TH_ADMIN_PASSWORD, NULL, 0), C(OK));
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    s.mine = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &s;
    assert_true(rc_send(&watching, &req));
    assert_int_equal(rc_status(&watching, 5000, NULL, NULL, 0), C(OK));
    int64_t t0 = it_now_ms();

    /* Hello but no login: told, then closed, within the deadline plus the janitor's second */
    char msg[300];
    uint64_t id = 99;
    int code = rc_status(&anon, 4500, &id, msg, sizeof msg);
    if (code != C(UNAUTHENTICATED) || id != 0 || !strstr(msg, "not logged in within 2 s"))
        fail_msg("no login: code %d id %llu '%s' after %lld ms", code, (unsigned long long)id, msg,
                 (long long)(it_now_ms() - t0));
    assert_int_equal(rc_status(&anon, 2000, NULL, NULL, 0), -1);
    assert_true(it_now_ms() - t0 >= 1500);

    /* logged in and idle: closed after idle_timeout; a subscription waits for events, it is not idle */
    code = rc_status(&idle, 5000, &id, msg, sizeof msg);
    if (code != C(UNAVAILABLE) || id != 0 || !strstr(msg, "idle for 3 s"))
        fail_msg("idle: code %d '%s' after %lld ms", code, msg, (long long)(it_now_ms() - t0));
    assert_int_equal(rc_ping(&watching), C(OK));
    rc_close(&anon);
    rc_close(&idle);
    rc_close(&watching);
    assert_true(stat_of("closed_auth_timeout") >= 1);
    assert_true(stat_of("closed_idle_timeout") >= 1);
}

/* ---- connections per address; slots kept for logged-in users */

static void test_per_address_and_headroom(void **state)
{
    (void)state;
    serve(ARGS("--max-connections", "40", "--reserved-connections", "10", "--max-unauth-per-address", "12"));
    /* a user logged in before the flood */
    struct rc early;
    assert_int_equal(rc_hello(&early, "127.0.0.9"), 0);
    assert_int_equal(rc_login(&early, "admin", TH_ADMIN_PASSWORD, NULL, 0), C(OK));

    struct rc flood[40];
    int n = 0, refused = 0;
    for (int i = 0; i < 13; i++)
        if (rc_hello(&flood[n], "127.0.0.2") == 0)
            n++;
        else
            refused++;
    assert_int_equal(n, 12); /* the 13th from one address is refused */
    assert_int_equal(refused, 1);
    /* two more addresses: past the 30 slots for those not logged in, the
     * oldest make room */
    for (int a = 3; a <= 4; a++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", a);
        for (int i = 0; i < 12 && n < 40; i++)
            if (rc_hello(&flood[n], src) == 0)
                n++;
    }
    /* a well-behaved client from elsewhere still gets in and logs in */
    struct rc good;
    assert_int_equal(rc_hello(&good, "127.0.0.20"), 0);
    assert_int_equal(rc_login(&good, "admin", TH_ADMIN_PASSWORD, NULL, 0), C(OK));
    assert_int_equal(rc_ping(&good), C(OK));
    assert_int_equal(rc_ping(&early), C(OK));
    for (int i = 0; i < n; i++)
        rc_close(&flood[i]);
    rc_close(&good);
    rc_close(&early);
    assert_true(stat_of("refused_max_unauth_per_address") >= 1);
    assert_true(stat_of("evicted_not_logged_in") >= 1);
}

/* ---- what a connection not logged in may make the server hold */

static void test_unauth_memory_bounded(void **state)
{
    (void)state;
    serve(NULL);
    enum { NC = 50 };
    struct rc cs[NC];
    for (int i = 0; i < NC; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.1.%d", 1 + i / 10);
        assert_int_equal(rc_hello(&cs[i], src), 0);
        int bufsz = 4096; /* small socket buffers: what kehud holds is what counts */
        setsockopt(cs[i].fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
        fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
    }
    long before = kehud_rss_kb();
    /* 4 KiB pings, written without ever reading a reply */
    static uint8_t payload[4000];
    memset(payload, 'x', sizeof payload);
    Kehu__V1__Ping p = KEHU__V1__PING__INIT;
    p.payload.data = payload;
    p.payload.len = sizeof payload;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_PING;
    req.ping = &p;
    struct wire_buf b = { 0 };
    for (int i = 0; i < 16; i++)
        pack_req(&b, 100 + (uint64_t)i, &req);
    size_t off[NC] = { 0 };
    long long sent = 0;
    int64_t end = it_now_ms() + 2500;
    while (it_now_ms() < end) {
        int wrote = 0;
        for (int i = 0; i < NC; i++) {
            ssize_t w = send(cs[i].fd, b.data + off[i], b.len - off[i], MSG_NOSIGNAL);
            if (w > 0) {
                off[i] = (off[i] + (size_t)w) % b.len;
                sent += w;
                wrote = 1;
            }
        }
        if (!wrote)
            usleep(10000);
    }
    long after = kehud_rss_kb();
    wire_buf_free(&b);
    print_message("unauthenticated flood: %lld bytes sent, kehud RSS %ld -> %ld kB\n", sent, before, after);
    /* others are still served */
    kehu_client *c = it_connect();
    it_expect(c, it_req_ping(), C(OK), NULL);
    kehu_close(c);
    for (int i = 0; i < NC; i++)
        rc_close(&cs[i]);
    if (JUDGE_COSTS && after - before > 40 * 1024)
        fail_msg("kehud grew by %ld kB holding what 50 connections not logged in asked for", after - before);
}

/* ---- the login throttle under pipelining and parallel connections */

static void expect_throttled(const char *user, const char *attacker, const char *other)
{
    struct rc a, b;
    char msg[300];
    assert_int_equal(rc_hello(&a, attacker), 0);
    int code = rc_login(&a, user, IT_PASSWORD, msg, sizeof msg);
    if (code != C(RESOURCE_EXHAUSTED) || !strstr(msg, "from your address"))
        fail_msg("the right password from the attacking address: code %d '%s'", code, msg);
    rc_close(&a);
    /* never the right password from a different, well-behaved address */
    assert_int_equal(rc_hello(&b, other), 0);
    code = rc_login(&b, user, IT_PASSWORD, msg, sizeof msg);
    if (code != C(OK))
        fail_msg("the right password from another address: code %d '%s'", code, msg);
    rc_close(&b);
}

static void test_throttle_pipelined(void **state)
{
    (void)state;
    serve(NULL);
    it_add_user("victim.one", KEHU__V1__ROLE__ACCOUNT_MANAGER, "1", IT_PASSWORD);
    /* an admin watching is told */
    kehu_client *adm = it_admin();
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    s.mine = 1;
    Kehu__V1__Request sub = KEHU__V1__REQUEST__INIT;
    sub.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    sub.subscribe = &s;
    it_expect(adm, &sub, C(OK), NULL);

    struct rc r;
    assert_int_equal(rc_hello(&r, "127.0.0.2"), 0);
    struct wire_buf b = { 0 };
    for (int i = 0; i < 60; i++)
        pack_req(&b, 10 + (uint64_t)i, req_login("victim.one", "wrong-password"));
    assert_int_equal(rc_write(&r, b.data, b.len), 0);
    wire_buf_free(&b);
    int checked = 0, throttled = 0;
    for (int i = 0; i < 60; i++) {
        int code = rc_status(&r, 10000, NULL, NULL, 0);
        if (code == C(UNAUTHENTICATED))
            checked++;
        else if (code == C(RESOURCE_EXHAUSTED))
            throttled++;
        else
            fail_msg("login %d: code %d", i, code);
    }
    rc_close(&r);
    print_message("60 pipelined wrong logins: %d checked, %d refused unchecked\n", checked, throttled);
    assert_true(checked <= 5);
    expect_throttled("victim.one", "127.0.0.2", "127.0.0.3");

    struct kehu_status st;
    Kehu__V1__Event *ev = it_next_event(adm, 5000, &st);
    if (!ev)
        fail_msg("no event for the admin: %s", st.message);
    assert_string_equal(ev->kind, "login.throttled");
    assert_non_null(strstr(ev->detail, "victim.one"));
    assert_non_null(strstr(ev->detail, "127.0.0.2"));
    kehu_event_free(ev);
    kehu_close(adm);
    /* and the audit trail */
    usleep(300 * 1000);
    PGconn *pg = it_pg_open();
    assert_true(it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE action = 'login' AND username = 'victim.one'"
                              " AND detail LIKE '%throttled%' AND peer LIKE '127.0.0.2:%'") >= 1);
    assert_true(it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE action = 'login' AND username = 'victim.one'"
                              " AND result = 'RESOURCE_EXHAUSTED' AND detail LIKE 'refused before the check%'") >= 1);
    PQfinish(pg);
}

static void test_throttle_parallel(void **state)
{
    (void)state;
    serve(NULL);
    it_add_user("victim.two", KEHU__V1__ROLE__ACCOUNT_MANAGER, "1", IT_PASSWORD);
    enum { N = 30 };
    struct rc cs[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(rc_hello(&cs[i], "127.0.0.4"), 0);
    /* every attempt written before any is answered */
    for (int i = 0; i < N; i++)
        assert_true(rc_send(&cs[i], req_login("victim.two", "wrong-password")));
    int checked = 0;
    for (int i = 0; i < N; i++) {
        int code = rc_status(&cs[i], 10000, NULL, NULL, 0);
        assert_true(code == C(UNAUTHENTICATED) || code == C(RESOURCE_EXHAUSTED));
        checked += code == C(UNAUTHENTICATED);
        rc_close(&cs[i]);
    }
    print_message("30 parallel wrong logins: %d checked\n", checked);
    assert_true(checked <= 5);
    expect_throttled("victim.two", "127.0.0.4", "127.0.0.5");
    assert_true(stat_of("login_throttled_account_address") >= 1);
}

/* ---- a flood of logins with unknown names, with real Argon2 costs */

static void test_login_flood(void **state)
{
    (void)state;
    /* unknown names are checked against a hash made with these costs */
    serve(ARGS("--hash-mem", "67108864", "--hash-ops", "2"));
    kehu_client *warm = it_admin();
    kehu_close(warm);
    int64_t check_ms = one_check_ms("127.0.0.31");
    enum { NC = 10, PER = 30 };
    struct rc cs[NC];
    struct wire_buf b = { 0 };
    for (int i = 0; i < PER; i++) {
        char name[32];
        snprintf(name, sizeof name, "nobody.%d", i);
        pack_req(&b, 10 + (uint64_t)i, req_login(name, "whatever-1"));
    }
    for (int i = 0; i < NC; i++) {
        assert_int_equal(rc_hello(&cs[i], "127.0.0.6"), 0);
        assert_int_equal(rc_write(&cs[i], b.data, b.len), 0);
    }
    wire_buf_free(&b);
    usleep(200 * 1000);
    int64_t t0 = it_now_ms();
    kehu_client *c = it_admin();
    int64_t login_ms = it_now_ms() - t0;
    int64_t p50 = ping_pct(c, 20, 50);
    print_message("during a flood of %d logins: a real login took %lld ms (one check %lld ms), ping p50 %lld us\n",
                  NC * PER, (long long)login_ms, (long long)check_ms, (long long)p50);
    kehu_close(c);
    for (int i = 0; i < NC; i++)
        rc_close(&cs[i]);
    if (JUDGE_TIMES && login_ms > login_allowed_ms(check_ms))
        fail_msg("a real login took %lld ms behind the flood (one check: %lld ms)", (long long)login_ms,
                 (long long)check_ms);
}

/* ---- one client pipelining as fast as kehud takes it does not slow the others */

static void hostile_lists(int port_unused)
{
    (void)port_unused;
    struct rc r;
    if (rc_hello(&r, "127.0.0.7") < 0 || rc_login(&r, "admin", TH_ADMIN_PASSWORD, NULL, 0) != C(OK))
        _exit(1);
    fcntl(r.fd, F_SETFL, O_NONBLOCK);
    Kehu__V1__UserList m = KEHU__V1__USER_LIST__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_LIST;
    req.user_list = &m;
    struct wire_buf b = { 0 };
    for (int i = 0; i < 1000; i++)
        pack_req(&b, 10 + (uint64_t)i, &req);
    /* as many requests in flight as kehud takes, replies read and thrown
     * away (so that kehud never pauses it for unsent output), until killed */
    size_t off = 0;
    char sink[65536];
    for (;;) {
        struct pollfd pfd = { .fd = r.fd, .events = POLLIN | POLLOUT };
        if (poll(&pfd, 1, 1000) < 0)
            _exit(1);
        if (pfd.revents & POLLIN)
            if (recv(r.fd, sink, sizeof sink, 0) == 0)
                _exit(0);
        if (pfd.revents & POLLOUT) {
            ssize_t w = send(r.fd, b.data + off, b.len - off, MSG_NOSIGNAL);
            if (w > 0)
                off = (off + (size_t)w) % b.len;
        }
    }
}

static void test_fairness(void **state)
{
    (void)state;
    serve(NULL);
    for (int i = 0; i < 40; i++) { /* something to list */
        char name[32];
        snprintf(name, sizeof name, "fair.user%d", i);
        it_add_user(name, KEHU__V1__ROLE__ACCOUNT_MANAGER, "1", IT_PASSWORD);
    }
    kehu_client *c = it_admin();
    int64_t base = ping_pct(c, 200, 50);
    pid_t pid = fork();
    if (pid == 0)
        hostile_lists(0);
    usleep(300 * 1000);
    int64_t loaded = ping_pct(c, 200, 50);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    print_message("ping p50 %lld us alone, %lld us beside a client pipelining lists\n",
                  (long long)base, (long long)loaded);
    kehu_close(c);
    if (JUDGE_TIMES && loaded > base * 10 + 5000)
        fail_msg("ping p50 went from %lld to %lld us", (long long)base, (long long)loaded);
}

/* ---- a watch ends with its session */

static void test_watch_stops_at_expiry(void **state)
{
    (void)state;
    serve(ARGS("--session-ttl", "3"));
    kehu_client *w = it_login("li.lei", IT_PASSWORD);
    int64_t t0 = it_now_ms();
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    s.mine = 1;
    Kehu__V1__Request sub = KEHU__V1__REQUEST__INIT;
    sub.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    sub.subscribe = &s;
    it_expect(w, &sub, C(OK), NULL);

    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    cu.name = "过期测试";
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    char *phones[] = { "13800001111" };
    cu.phones = phones;
    cu.n_phones = 1;
    Kehu__V1__CustomerAdd add = KEHU__V1__CUSTOMER_ADD__INIT;
    add.customer = &cu;
    add.force = 1;
    add.owner = "";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &add;
    kehu_client *e = it_login("li.lei", IT_PASSWORD);
    Kehu__V1__Response *resp = it_call(e, &req, C(OK));
    int64_t id = resp->customer->id, version = resp->customer->version;
    kehu_response_free(resp);
    kehu_close(e);

    char note[32];
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *fvs[1] = { &fv };
    fv.field = "notes";
    fv.value = note;
    Kehu__V1__CustomerEdit m = KEHU__V1__CUSTOMER_EDIT__INIT;
    m.id = id;
    m.n_set = 1;
    m.set = fvs;
    Kehu__V1__Request ed = KEHU__V1__REQUEST__INIT;
    ed.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    ed.customer_edit = &m;

    /* while the session lasts, the watch sees the change */
    snprintf(note, sizeof note, "one");
    m.version = version++;
    e = it_login("li.lei", IT_PASSWORD);
    it_expect(e, &ed, C(OK), NULL);
    kehu_close(e);
    struct kehu_status st;
    Kehu__V1__Event *ev = it_next_change(w, 3000, &st);
    if (!ev)
        fail_msg("no event while the session lasts: %s", st.message);
    kehu_event_free(ev);

    /* after its expiry, nothing more */
    int64_t left = t0 + 3000 + 300 - it_now_ms();
    if (left > 0)
        usleep((useconds_t)left * 1000);
    snprintf(note, sizeof note, "two");
    m.version = version++;
    e = it_login("li.lei", IT_PASSWORD);
    it_expect(e, &ed, C(OK), NULL);
    kehu_close(e);
    ev = it_next_change(w, 1500, &st);
    if (ev)
        fail_msg("event %s reached a watch whose session had expired", ev->kind);
    kehu_close(w);
}

/* ---- many hostile connections and a login flood at once */

static void test_load(void **state)
{
    (void)state;
    serve(getenv("IT_CHEAP") ? NULL : ARGS("--hash-mem", "67108864", "--hash-ops", "2", "--login-threads", "1"));
    kehu_client *c = it_admin();
    int64_t base99 = ping_pct(c, 200, 99);
    kehu_close(c);
    int64_t check_ms = one_check_ms("127.0.0.32");

    /* as many connections as a few seconds allow, from 100 addresses; many
     * of them refused or evicted, which is the point */
    enum { MAXC = 4000 };
    struct rc *cs = calloc(MAXC, sizeof *cs);
    int n = 0;
    int64_t end = it_now_ms() + 3000;
    for (int i = 0; i < MAXC && it_now_ms() < end; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.%d.%d", 10 + i % 100 / 50, 1 + i % 50);
        if (rc_open(&cs[n], src) == 0) {
            rc_send(&cs[n], req_hello());
            n++;
        }
    }
    /* a login flood from ten of those addresses: every connection of theirs
     * pipelines unknown names */
    struct wire_buf b = { 0 };
    for (int i = 0; i < 10; i++)
        pack_req(&b, 100 + (uint64_t)i, req_login("nobody.at.all", "whatever-1"));
    int flooding = 0;
    for (int i = 0; i < n; i++)
        if (i % 100 < 10 && rc_write(&cs[i], b.data, b.len) == 0)
            flooding++;
    wire_buf_free(&b);
    usleep(200 * 1000);

    int64_t t0 = it_now_ms();
    struct kehu_status st;
    c = kehu_connect(it_server(), 10000, &st);
    if (!c)
        fail_msg("connect under load: %s", st.message);
    int64_t connect_ms = it_now_ms() - t0;
    if (kehu_login(c, "admin", TH_ADMIN_PASSWORD, NULL, &st) != C(OK))
        fail_msg("login under load after %lld ms: %s", (long long)(it_now_ms() - t0), st.message);
    int64_t login_ms = it_now_ms() - t0;
    print_message("connect + Hello took %lld ms, password checks queued %lld\n", (long long)connect_ms,
                  stat_of("password_checks_queued"));
    int64_t load50 = ping_pct(c, 100, 50), load99 = ping_pct(c, 200, 99);
    print_message("ping p50 under load %lld us\n", (long long)load50);
    kehu_close(c);
    print_message("%d hostile connections opened (%d flooding logins): a real login took %lld ms (one check %lld ms); "
                  "ping p99 %lld us (alone %lld us)\n",
                  n, flooding, (long long)login_ms, (long long)check_ms, (long long)load99, (long long)base99);
    for (int i = 0; i < n; i++)
        rc_close(&cs[i]);
    free(cs);
    if (JUDGE_TIMES && login_ms > login_allowed_ms(check_ms))
        fail_msg("a real login took %lld ms (one check: %lld ms)", (long long)login_ms, (long long)check_ms);
    /* this 2-core machine's scheduler alone gives a p99 of up to ~10 ms
     * while others build on it: a normal p99 is taken as at least 10 ms */
    int64_t allowed = 3 * (base99 < 10000 ? 10000 : base99);
    if (JUDGE_TIMES && load99 > allowed)
        fail_msg("ping p99 %lld us under load, %lld us alone", (long long)load99, (long long)base99);
}

static int setup(void **state)
{
    if (it_setup(state) < 0)
        return -1;
    struct it_org o;
    it_org_build(&o);
    it_org_close(&o);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_limit_and_not_kehu),
        cmocka_unit_test(test_auth_deadline_and_idle),
        cmocka_unit_test(test_per_address_and_headroom),
        cmocka_unit_test(test_unauth_memory_bounded),
        cmocka_unit_test(test_throttle_pipelined),
        cmocka_unit_test(test_throttle_parallel),
        cmocka_unit_test(test_login_flood),
        cmocka_unit_test(test_fairness),
        cmocka_unit_test(test_watch_stops_at_expiry),
        cmocka_unit_test(test_load),
    };
    if (getenv("IT_ONLY")) /* one case while working on it */
        cmocka_set_test_filter(getenv("IT_ONLY"));
    return it_finish(cmocka_run_group_tests(tests, setup, it_teardown));
}
