/* The frame codec: split and coalesced reads, oversize, garbage, budgets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static void ping_frame(Kehu__V1__Frame *f, Kehu__V1__Request *req, Kehu__V1__Ping *ping, uint64_t id,
                       const char *payload)
{
    kehu__v1__frame__init(f);
    kehu__v1__request__init(req);
    kehu__v1__ping__init(ping);
    ping->payload.data = (uint8_t *)payload;
    ping->payload.len = strlen(payload);
    req->op_case = KEHU__V1__REQUEST__OP_PING;
    req->ping = ping;
    f->id = id;
    f->body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f->request = req;
}

static void pack_ping(struct wire_buf *b, uint64_t id, const char *payload)
{
    Kehu__V1__Frame f;
    Kehu__V1__Request req;
    Kehu__V1__Ping ping;
    ping_frame(&f, &req, &ping, id, payload);
    assert_true(wire_pack(b, &f) > 0);
}

/* Unpacks the next frame and checks it is the ping we sent. */
static void expect_ping(struct wire_decoder *d, uint64_t id, const char *payload)
{
    const uint8_t *p;
    size_t len;
    assert_int_equal(wire_decoder_next(d, &p, &len), WIRE_FRAME);
    struct wire_budget b;
    wire_budget_init(&b, 1 << 20);
    Kehu__V1__Frame *f = wire_unpack(&b, p, len);
    assert_non_null(f);
    assert_int_equal(f->id, id);
    assert_int_equal(f->body_case, KEHU__V1__FRAME__BODY_REQUEST);
    assert_int_equal(f->request->op_case, KEHU__V1__REQUEST__OP_PING);
    assert_int_equal(f->request->ping->payload.len, strlen(payload));
    assert_memory_equal(f->request->ping->payload.data, payload, strlen(payload));
    kehu__v1__frame__free_unpacked(f, &b.alloc);
    assert_int_equal(b.used, 0); /* everything given back */
}

static void test_split_byte_by_byte(void **state)
{
    (void)state;
    struct wire_buf b = { 0 };
    pack_ping(&b, 7, "hello, 张三");
    struct wire_decoder d;
    wire_decoder_init(&d, 1024);
    const uint8_t *p;
    size_t len;
    for (size_t i = 0; i + 1 < b.len; i++) {
        assert_int_equal(wire_decoder_feed(&d, b.data + i, 1), WIRE_NEED_MORE);
        assert_int_equal(wire_decoder_next(&d, &p, &len), WIRE_NEED_MORE);
    }
    wire_decoder_feed(&d, b.data + b.len - 1, 1);
    expect_ping(&d, 7, "hello, 张三");
    assert_int_equal(wire_decoder_next(&d, &p, &len), WIRE_NEED_MORE);
    assert_int_equal(wire_decoder_pending(&d), 0);
    wire_decoder_free(&d);
    wire_buf_free(&b);
}

static void test_coalesced(void **state)
{
    (void)state;
    struct wire_buf b = { 0 };
    for (int i = 1; i <= 50; i++)
        pack_ping(&b, (uint64_t)i, i % 2 ? "odd" : "even");
    pack_ping(&b, 51, "partial");
    size_t cut = b.len - 3; /* the last frame arrives in two pieces */
    struct wire_decoder d;
    wire_decoder_init(&d, 1024);
    wire_decoder_feed(&d, b.data, cut);
    for (int i = 1; i <= 50; i++)
        expect_ping(&d, (uint64_t)i, i % 2 ? "odd" : "even");
    const uint8_t *p;
    size_t len;
    assert_int_equal(wire_decoder_next(&d, &p, &len), WIRE_NEED_MORE);
    wire_decoder_feed(&d, b.data + cut, 3);
    expect_ping(&d, 51, "partial");
    wire_decoder_free(&d);
    wire_buf_free(&b);
}

static void test_empty_frame(void **state)
{
    (void)state;
    /* a zero-length frame is a valid, empty Frame (id 0, no body) */
    struct wire_decoder d;
    wire_decoder_init(&d, 1024);
    uint8_t zero[4] = { 0, 0, 0, 0 };
    wire_decoder_feed(&d, zero, 4);
    const uint8_t *p;
    size_t len;
    assert_int_equal(wire_decoder_next(&d, &p, &len), WIRE_FRAME);
    assert_int_equal(len, 0);
    wire_decoder_free(&d);
}

static void test_oversize_rejected_from_header(void **state)
{
    (void)state;
    struct wire_decoder d;
    wire_decoder_init(&d, 1024);
    uint8_t hdr[4] = { 0x7f, 0xff, 0xff, 0xff }; /* claims 2 GiB */
    wire_decoder_feed(&d, hdr, 4);
    const uint8_t *p;
    size_t len;
    assert_int_equal(wire_decoder_next(&d, &p, &len), WIRE_TOO_BIG);
    assert_int_equal(d.claimed, 0x7fffffff);
    assert_true(d.cap <= 4096); /* nothing near the claimed size was allocated */
    wire_decoder_free(&d);

    /* exactly at the limit is fine, one over is not */
    wire_decoder_init(&d, 1024);
    uint8_t at[4] = { 0, 0, 4, 0 }, over[4] = { 0, 0, 4, 1 };
    wire_decoder_feed(&d, at, 4);
    assert_int_equal(wire_decoder_next(&d, &p, &len), WIRE_NEED_MORE);
    wire_decoder_free(&d);
    wire_decoder_init(&d, 1024);
    wire_decoder_feed(&d, over, 4);
    assert_int_equal(wire_decoder_next(&d, &p, &len), WIRE_TOO_BIG);
    wire_decoder_free(&d);
}

static void test_garbage_payload(void **state)
{
    (void)state;
    static const uint8_t garbage[][8] = {
        { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, /* endless varint */
        { 0x12, 0x7f, 0x01, 0x02, 0, 0, 0, 0 },             /* submessage longer than the data */
        { 0x0f, 0, 0, 0, 0, 0, 0, 0 },                      /* wire type 7 does not exist */
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        struct wire_budget b;
        wire_budget_init(&b, 1 << 20);
        assert_null(wire_unpack(&b, garbage[i], sizeof garbage[i]));
        assert_int_equal(b.used, 0);
    }
}

static void test_random_bytes_never_crash(void **state)
{
    (void)state;
    srand(12345);
    uint8_t buf[256];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        struct wire_budget b;
        wire_budget_init(&b, 4096);
        Kehu__V1__Frame *f = wire_unpack(&b, buf, n);
        if (f)
            kehu__v1__frame__free_unpacked(f, &b.alloc);
        assert_int_equal(b.used, 0);
    }
}

/* A response listing many empty users: small on the wire, large in memory. */
static void test_budget_limits_expansion(void **state)
{
    (void)state;
    enum { N = 5000 };
    Kehu__V1__User users[N], *ptrs[N];
    for (int i = 0; i < N; i++) {
        kehu__v1__user__init(&users[i]);
        ptrs[i] = &users[i];
    }
    Kehu__V1__Users list = KEHU__V1__USERS__INIT;
    list.n_users = N;
    list.users = ptrs;
    Kehu__V1__Response resp = KEHU__V1__RESPONSE__INIT;
    resp.result_case = KEHU__V1__RESPONSE__RESULT_USERS;
    resp.users = &list;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = 1;
    f.body_case = KEHU__V1__FRAME__BODY_RESPONSE;
    f.response = &resp;
    struct wire_buf b = { 0 };
    assert_true(wire_pack(&b, &f) > 0);
    size_t wire_len = b.len - WIRE_HEADER;
    assert_true(wire_len < 4 * N); /* two bytes per empty user */

    struct wire_budget small;
    wire_budget_init(&small, 64 * 1024);
    assert_null(wire_unpack(&small, b.data + WIRE_HEADER, wire_len));
    assert_int_equal(small.used, 0);

    struct wire_budget big;
    wire_budget_init(&big, 64 << 20);
    Kehu__V1__Frame *g = wire_unpack(&big, b.data + WIRE_HEADER, wire_len);
    assert_non_null(g);
    assert_int_equal(g->response->users->n_users, N);
    kehu__v1__frame__free_unpacked(g, &big.alloc);
    assert_int_equal(big.used, 0);
    wire_buf_free(&b);
}

static void test_code_names(void **state)
{
    (void)state;
    assert_string_equal(wire_code_name(KEHU__V1__CODE__OK), "OK");
    assert_string_equal(wire_code_name(KEHU__V1__CODE__RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
    assert_string_equal(wire_code_name(999), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_byte_by_byte),
        cmocka_unit_test(test_coalesced),
        cmocka_unit_test(test_empty_frame),
        cmocka_unit_test(test_oversize_rejected_from_header),
        cmocka_unit_test(test_garbage_payload),
        cmocka_unit_test(test_random_bytes_never_crash),
        cmocka_unit_test(test_budget_limits_expansion),
        cmocka_unit_test(test_code_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
