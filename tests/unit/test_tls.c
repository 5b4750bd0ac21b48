/* server/tls.c without sockets: a client SSL and kehud's TLS state talk
 * through buffers cut in every size (one byte at a time included), frames
 * come out whole; mutated ClientHellos, lone bytes and empty reads end in a
 * refusal or a wait, never a crash (run under ASan by scripts/test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "tls.h"
#include "wire.h"

static char dir[64];
static struct tls_ctx *ctx;

/* A self-signed P-256 certificate and its key, in dir. */
static int make_cert(void)
{
    snprintf(dir, sizeof dir, "/tmp/kehu-tls-unit-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!key || !x)
        return -1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"kehud-test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, key, EVP_sha256()))
        return -1;
    char p[128];
    snprintf(p, sizeof p, "%s/cert.pem", dir);
    FILE *f = fopen(p, "w");
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(p, sizeof p, "%s/key.pem", dir);
    f = fopen(p, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (make_cert() < 0)
        return -1;
    struct config c;
    config_defaults(&c);
    snprintf(c.tls_cert, sizeof c.tls_cert, "%s/cert.pem", dir);
    snprintf(c.tls_key, sizeof c.tls_key, "%s/key.pem", dir);
    char err[300];
    if (tls_ctx_load(&c, &ctx, err, sizeof err) < 0 || !ctx) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tls_ctx_put(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t next_rand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32);
}

/* A client over memory BIOs. */
struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out; /* in: from the server; out: to the server */
};

static void client_open(struct client *cl)
{
    cl->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(cl->ctx, TLS1_3_VERSION);
    cl->ssl = SSL_new(cl->ctx);
    cl->in = BIO_new(BIO_s_mem());
    cl->out = BIO_new(BIO_s_mem());
    SSL_set_bio(cl->ssl, cl->in, cl->out);
    SSL_set_connect_state(cl->ssl);
}

static void client_close(struct client *cl)
{
    SSL_free(cl->ssl);
    SSL_CTX_free(cl->ctx);
}

/* Moves what the client wrote to the server in pieces of at most chunk bytes. */
static enum tls_input to_server(struct client *cl, struct tls_conn *tc, struct wire_decoder *dec, size_t chunk)
{
    char buf[65536];
    int n;
    enum tls_input r = TLS_IN_OK;
    while ((n = BIO_read(cl->out, buf, sizeof buf)) > 0)
        for (int off = 0; off < n && r == TLS_IN_OK;) {
            size_t k = (size_t)(n - off) < chunk ? (size_t)(n - off) : chunk;
            r = tls_conn_input(tc, buf + off, k, dec);
            off += (int)k;
        }
    return r;
}

static void to_client(struct client *cl, struct tls_conn *tc, const void *plain, size_t n)
{
    struct wire_buf out = { 0 };
    assert_int_equal(tls_conn_output(tc, plain, n, &out), 0);
    if (out.len)
        assert_int_equal(BIO_write(cl->in, out.data, (int)out.len), (int)out.len);
    wire_buf_free(&out);
}

static void handshake_and_talk(size_t chunk)
{
    struct client cl;
    client_open(&cl);
    struct tls_conn *tc = tls_conn_new(ctx);
    assert_non_null(tc);
    struct wire_decoder dec;
    wire_decoder_init(&dec, 1 << 20);
    for (int round = 0; round < 10 && !(tls_conn_ready(tc) && SSL_is_init_finished(cl.ssl)); round++) {
        int r = SSL_do_handshake(cl.ssl);
        if (r != 1)
            assert_int_equal(SSL_get_error(cl.ssl, r), SSL_ERROR_WANT_READ);
        assert_int_equal(to_server(&cl, tc, &dec, chunk), TLS_IN_OK);
        to_client(&cl, tc, NULL, 0);
    }
    assert_true(tls_conn_ready(tc));
    assert_int_equal(tls_conn_unit(tc), 0);
    /* frames of several sizes, one larger than a record, both ways */
    static uint8_t big[40000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    size_t sizes[] = { 1, 5, 1000, sizeof big };
    for (size_t s = 0; s < 4; s++) {
        assert_int_equal(SSL_write(cl.ssl, big, (int)sizes[s]), (int)sizes[s]);
        assert_int_equal(to_server(&cl, tc, &dec, chunk), TLS_IN_OK);
        assert_int_equal(wire_decoder_pending(&dec), sizes[s]);
        wire_decoder_free(&dec);
        wire_decoder_init(&dec, 1 << 20);
        to_client(&cl, tc, big, sizes[s]);
        static uint8_t back[sizeof big];
        size_t got = 0;
        int n;
        while (got < sizes[s] && (n = SSL_read(cl.ssl, back + got, (int)(sizeof back - got))) > 0)
            got += (size_t)n;
        assert_int_equal(got, sizes[s]);
        assert_memory_equal(back, big, sizes[s]);
    }
    assert_int_equal(tls_conn_pending(tc), 0);
    /* close_notify */
    SSL_shutdown(cl.ssl);
    assert_int_equal(to_server(&cl, tc, &dec, chunk), TLS_IN_CLOSED);
    wire_decoder_free(&dec);
    tls_conn_free(tc);
    client_close(&cl);
}

static void test_handshake_any_chunking(void **state)
{
    (void)state;
    size_t chunks[] = { 1, 2, 3, 7, 64, 517, 65536 };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        handshake_and_talk(chunks[i]);
}

/* The sniff decides by one byte, and no frame length kehud allows starts with 0x16. */
static void test_sniff(void **state)
{
    (void)state;
    assert_true(tls_sniff(0x16));
    for (int b = 0; b < 256; b++)
        if (b != 0x16)
            assert_false(tls_sniff((uint8_t)b));
    assert_true((uint64_t)0x16 << 24 > (uint64_t)64 << 20); /* config.c: max_frame at most 64 MiB */
}

static void test_garbage_and_mutations(void **state)
{
    (void)state;
    /* a real ClientHello to mutate */
    struct client cl;
    client_open(&cl);
    SSL_do_handshake(cl.ssl);
    static uint8_t hello[4096];
    int hn = BIO_read(cl.out, hello, sizeof hello);
    assert_true(hn > 100);
    client_close(&cl);
    struct wire_decoder dec;
    for (int round = 0; round < 3000; round++) {
        uint8_t m[4096];
        memcpy(m, hello, (size_t)hn);
        size_t n = (size_t)hn;
        int kind = round % 4;
        if (kind == 0) { /* flip a few bytes */
            for (int k = 0; k < 1 + (int)(next_rand() % 4); k++)
                m[next_rand() % n] ^= (uint8_t)(1 + next_rand() % 255);
        } else if (kind == 1) { /* cut short */
            n = 1 + next_rand() % n;
        } else if (kind == 2) { /* random bytes after the first */
            n = 1 + next_rand() % 600;
            for (size_t i = 1; i < n; i++)
                m[i] = (uint8_t)next_rand();
        } else { /* a record header claiming the most */
            m[3] = 0xff;
            m[4] = 0xff;
            n = 5 + next_rand() % 64;
        }
        struct tls_conn *tc = tls_conn_new(ctx);
        assert_non_null(tc);
        wire_decoder_init(&dec, 1 << 20);
        size_t chunk = 1 + next_rand() % 32;
        enum tls_input r = tls_conn_input(tc, m, 0, &dec); /* an empty read */
        for (size_t off = 0; off < n && r == TLS_IN_OK; off += chunk)
            r = tls_conn_input(tc, m + off, off + chunk > n ? n - off : chunk, &dec);
        assert_true(r == TLS_IN_OK || r == TLS_IN_FAILED);
        if (r == TLS_IN_FAILED)
            assert_true(*tls_conn_error(tc));
        assert_false(tls_conn_ready(tc)); /* a ClientHello alone never finishes one */
        struct wire_buf out = { 0 };
        assert_true(tls_conn_output(tc, "late", 4, &out) == 0 || r == TLS_IN_FAILED);
        wire_buf_free(&out);
        assert_int_equal(wire_decoder_pending(&dec), 0);
        wire_decoder_free(&dec);
        tls_conn_free(tc);
    }
    ERR_clear_error();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_handshake_any_chunking),
        cmocka_unit_test(test_garbage_and_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
