/* The wire: pipelining, oversized and garbage frames, slow readers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "wire.h"

struct echo {
    int answered;
    int mismatched;
    int failed;
};

struct expect_payload {
    struct echo *echo;
    char payload[32];
};

static void on_ping(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct expect_payload *e = arg;
    if (!resp || st->code != KEHU__V1__CODE__OK) {
        e->echo->failed++;
        return;
    }
    e->echo->answered++;
    if (resp->ping->payload.len != strlen(e->payload) ||
        memcmp(resp->ping->payload.data, e->payload, resp->ping->payload.len) != 0)
        e->echo->mismatched++;
}

static void on_login(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct echo *e = arg;
    if (!resp || st->code != KEHU__V1__CODE__OK)
        e->failed++;
    else
        e->answered++;
}

/* Many requests in flight on one connection; every answer matches its request. */
static void test_pipelined(void **state)
{
    (void)state;
    enum { N = 300 };
    kehu_client *c = it_connect();
    struct echo echo = { 0 }, logins = { 0 };
    struct expect_payload *ex = calloc(N, sizeof *ex);
    Kehu__V1__Login login = KEHU__V1__LOGIN__INIT;
    login.username = "admin";
    login.password = TH_ADMIN_PASSWORD;
    Kehu__V1__Request login_req = KEHU__V1__REQUEST__INIT;
    login_req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    login_req.login = &login;
    struct kehu_status st;
    for (int i = 0; i < N; i++) {
        ex[i].echo = &echo;
        snprintf(ex[i].payload, sizeof ex[i].payload, "ping-%d", i);
        Kehu__V1__Request *req = it_req_ping();
        req->ping->payload.data = (uint8_t *)ex[i].payload;
        req->ping->payload.len = strlen(ex[i].payload);
        assert_int_equal(kehu_send(c, req, on_ping, &ex[i], NULL, &st), 0);
        if (i % 50 == 0) /* slow requests (thread pool) among fast ones */
            assert_int_equal(kehu_send(c, &login_req, on_login, &logins, NULL, &st), 0);
    }
    assert_int_equal(kehu_run(c, 30000), 0);
    assert_int_equal(echo.answered, N);
    assert_int_equal(echo.mismatched, 0);
    assert_int_equal(echo.failed, 0);
    assert_int_equal(logins.answered, N / 50);
    free(ex);
    kehu_close(c);
}

static void test_oversized_length(void **state)
{
    (void)state;
    kehu_client *bystander = it_connect();
    int fd = it_raw_connect();
    it_raw_hello(fd, KEHU_PROTOCOL_VERSION);
    it_raw_expect(fd, 1, KEHU__V1__CODE__OK, 0);
    static const unsigned char huge[4] = { 0x7f, 0xff, 0xff, 0xff };
    it_raw_write(fd, huge, sizeof huge);
    it_raw_expect(fd, 0, KEHU__V1__CODE__RESOURCE_EXHAUSTED, 1);
    close(fd);
    it_expect(bystander, it_req_ping(), KEHU__V1__CODE__OK, NULL);

    /* a real frame one byte over the 1 MiB limit */
    fd = it_raw_connect();
    it_raw_hello(fd, KEHU_PROTOCOL_VERSION);
    it_raw_expect(fd, 1, KEHU__V1__CODE__OK, 0);
    size_t n = (1u << 20) + 1;
    unsigned char *big = calloc(1, n + 4);
    big[0] = (unsigned char)(n >> 24);
    big[1] = (unsigned char)(n >> 16);
    big[2] = (unsigned char)(n >> 8);
    big[3] = (unsigned char)n;
    it_raw_write(fd, big, 4 + 100); /* the server answers from the header alone */
    it_raw_expect(fd, 0, KEHU__V1__CODE__RESOURCE_EXHAUSTED, 1);
    free(big);
    close(fd);
    it_expect(bystander, it_req_ping(), KEHU__V1__CODE__OK, NULL);
    kehu_close(bystander);
}

static void test_garbage(void **state)
{
    (void)state;
    kehu_client *bystander = it_connect();
    static const unsigned char junk[] = { 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    int fd = it_raw_connect();
    it_raw_write(fd, junk, sizeof junk);
    it_raw_expect(fd, 0, KEHU__V1__CODE__INVALID_ARGUMENT, 1);
    close(fd);

    /* random frame bodies from a seeded generator: whatever the server makes
     * of them, it answers only with errors and keeps serving others */
    srand(7);
    for (int round = 0; round < 50; round++) {
        unsigned char buf[4 + 200];
        size_t body = 1 + (size_t)(rand() % 200);
        buf[0] = buf[1] = buf[2] = 0;
        buf[3] = (unsigned char)body;
        for (size_t i = 0; i < body; i++)
            buf[4 + i] = (unsigned char)rand();
        fd = it_raw_connect();
        it_raw_write(fd, buf, 4 + body);
        int eof = 0;
        Kehu__V1__Frame *f;
        while ((f = it_raw_recv(fd, 300, &eof))) {
            assert_int_equal(f->body_case, KEHU__V1__FRAME__BODY_RESPONSE);
            assert_int_not_equal(f->response->status->code, KEHU__V1__CODE__OK);
            kehu__v1__frame__free_unpacked(f, NULL);
        }
        close(fd);
    }
    it_expect(bystander, it_req_ping(), KEHU__V1__CODE__OK, NULL);
    kehu_close(bystander);
}

static void test_bad_frames(void **state)
{
    (void)state;
    int fd = it_raw_connect();
    it_raw_hello(fd, KEHU_PROTOCOL_VERSION);
    it_raw_expect(fd, 1, KEHU__V1__CODE__OK, 0);
    /* a request with no operation set */
    Kehu__V1__Request empty = KEHU__V1__REQUEST__INIT;
    it_raw_send(fd, 2, &empty);
    it_raw_expect(fd, 2, KEHU__V1__CODE__INVALID_ARGUMENT, 0);
    /* a second Hello */
    it_raw_hello(fd, KEHU_PROTOCOL_VERSION);
    it_raw_expect(fd, 1, KEHU__V1__CODE__INVALID_ARGUMENT, 0);
    /* still serving */
    it_raw_send(fd, 3, it_req_ping());
    it_raw_expect(fd, 3, KEHU__V1__CODE__OK, 0);
    /* a request with id 0 is refused and the connection closed */
    it_raw_send(fd, 0, it_req_ping());
    it_raw_expect(fd, 0, KEHU__V1__CODE__INVALID_ARGUMENT, 1);
    close(fd);
}

/* A client that sends without reading stops being read; nobody else suffers,
 * and it gets every answer once it reads. */
static void test_slow_reader(void **state)
{
    (void)state;
    enum { N = 3000 };
    int fd = it_raw_connect();
    it_raw_hello(fd, KEHU_PROTOCOL_VERSION);
    it_raw_expect(fd, 1, KEHU__V1__CODE__OK, 0);
    static char payload[4000];
    memset(payload, 'x', sizeof payload);
    Kehu__V1__Request *req = it_req_ping();
    req->ping->payload.data = (uint8_t *)payload;
    req->ping->payload.len = sizeof payload;
    /* ~12 MB of replies requested; the writes below would block if the
     * server stopped reading for good, so send from a child process */
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < N; i++)
            it_raw_send(fd, (uint64_t)(i + 2), req);
        _exit(0);
    }
    usleep(300 * 1000);
    kehu_client *other = it_connect();
    int64_t t0 = it_now_ms();
    it_expect(other, it_req_ping(), KEHU__V1__CODE__OK, NULL);
    assert_true(it_now_ms() - t0 < 10000); /* answered while the other is paused, not after it */
    kehu_close(other);
    int got = 0, eof = 0;
    static char seen[N + 2];
    while (got < N) {
        Kehu__V1__Frame *f = it_raw_recv(fd, 20000, &eof);
        if (!f)
            break;
        assert_true(f->id >= 2 && f->id < N + 2);
        assert_false(seen[f->id]); /* each answered once */
        seen[f->id] = 1;
        assert_int_equal(f->response->ping->payload.len, sizeof payload);
        kehu__v1__frame__free_unpacked(f, NULL);
        got++;
    }
    assert_int_equal(got, N);
    int status;
    waitpid(pid, &status, 0);
    close(fd);
}

/* A connection that never says Hello, or that stops in the middle of a frame,
 * is closed (the suite runs kehud with 1-second limits). */
static void test_timeouts(void **state)
{
    (void)state;
    int fd = it_raw_connect();
    int64_t t0 = it_now_ms();
    it_raw_expect(fd, 0, KEHU__V1__CODE__INVALID_ARGUMENT, 1); /* no Hello */
    assert_true(it_now_ms() - t0 >= 900);
    close(fd);

    fd = it_raw_connect();
    it_raw_hello(fd, KEHU_PROTOCOL_VERSION);
    it_raw_expect(fd, 1, KEHU__V1__CODE__OK, 0);
    static const unsigned char half[] = { 0, 0, 0, 50, 0x08, 0x01 }; /* 50 bytes announced, 2 sent */
    it_raw_write(fd, half, sizeof half);
    t0 = it_now_ms();
    int eof = 0;
    assert_null(it_raw_recv(fd, 10000, &eof));
    assert_true(eof);
    assert_true(it_now_ms() - t0 >= 900);
    close(fd);

    /* a client that is merely quiet between frames stays */
    kehu_client *c = it_connect();
    usleep(2500 * 1000);
    it_expect(c, it_req_ping(), KEHU__V1__CODE__OK, NULL);
    kehu_close(c);
}

static int setup(void **state)
{
    (void)state;
    static const char *const fast[] = { "--hello-timeout", "1", "--frame-timeout", "1", NULL };
    return th_env_up(&it_env, fast) < 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_oversized_length),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_timeouts),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, it_teardown));
}
