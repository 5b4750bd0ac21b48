/* The frame codec: split and coalesced reads, oversize, garbage, budgets;
 * the check of strings and enums on the encoded bytes. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"
#include "wire_check.h"

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

/* A customer add whose name is `name` (its bytes, NUL included) and kind `kind`,
 * packed as a frame payload into out. */
static size_t customer_add_frame(uint8_t *out, size_t cap, const char *name, size_t name_len, int kind)
{
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    Kehu__V1__CustomerAdd ca = KEHU__V1__CUSTOMER_ADD__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    char marker[64];
    memset(marker, '#', name_len);
    marker[name_len] = 0;
    cu.name = marker; /* packed with placeholders, the real bytes written over them */
    cu.kind = (Kehu__V1__CustomerKind)kind;
    ca.customer = &cu;
    ca.owner = "li.lei";
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &ca;
    f.id = 7;
    f.body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f.request = &req;
    size_t n = kehu__v1__frame__get_packed_size(&f);
    assert_true(n <= cap);
    kehu__v1__frame__pack(&f, out);
    uint8_t *at = memmem(out, n, marker, name_len);
    assert_non_null(at);
    memcpy(at, name, name_len);
    return n;
}

static void test_check_strings_and_enums(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct wire_problem p;
    size_t n = customer_add_frame(buf, sizeof buf, "张三", strlen("张三"), 1);
    assert_int_equal(wire_check(&kehu__v1__frame__descriptor, buf, n, &p), 0);
    n = customer_add_frame(buf, sizeof buf, "ab\0cd", 5, 1);
    assert_int_equal(wire_check(&kehu__v1__frame__descriptor, buf, n, &p), -1);
    assert_string_equal(p.field, "request.customer_add.customer.name");
    assert_string_equal(p.why, "contains a NUL character");
    n = customer_add_frame(buf, sizeof buf, "ab\xff", 3, 1);
    assert_int_equal(wire_check(&kehu__v1__frame__descriptor, buf, n, &p), -1);
    assert_string_equal(p.why, "is not valid UTF-8");
    n = customer_add_frame(buf, sizeof buf, "ok", 2, 99);
    assert_int_equal(wire_check(&kehu__v1__frame__descriptor, buf, n, &p), -1);
    assert_string_equal(p.field, "request.customer_add.customer.kind");
    assert_string_equal(p.why, "has an unknown value 99");
    n = customer_add_frame(buf, sizeof buf, "ok", 2, -1);
    assert_int_equal(wire_check(&kehu__v1__frame__descriptor, buf, n, &p), -1);
    /* truncated bytes are unpack's to refuse, never read past */
    for (size_t k = 0; k < n; k++)
        wire_check(&kehu__v1__frame__descriptor, buf, k, &p);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        { "", 1 }, { "abc", 1 }, { "张三", 1 }, { "\xF0\x9F\x98\x80", 1 }, { "\xC2\xA5", 1 },
        { "\xff", 0 }, { "\xC0\xAF", 0 } /* overlong */, { "\xE0\x80\xAF", 0 }, { "\xED\xA0\x80", 0 } /* surrogate */,
        { "\xF4\x90\x80\x80", 0 } /* past U+10FFFF */, { "\xE5\xBC", 0 } /* cut */, { "\x80", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(wire_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s)), cases[i].ok);
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
        cmocka_unit_test(test_check_strings_and_enums),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
