#include "tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util.h"

#define RECORD 16384      /* plaintext per SSL_write: one TLS record */
#define BIO_KEEP 4096     /* an idle connection's BIO keeps at most this much memory */
#define FP_TEXT (32 * 3)  /* "AB:CD:...:EF" and its NUL */

/* One line of tls_client_map: a certificate by fingerprint or common name. */
struct unit_map {
    int by_cn;
    char key[256]; /* lower-case hex without colons, or the CN */
    int64_t unit;
};

struct tls_ctx {
    int refs;
    SSL_CTX *ssl;
    struct unit_map *map;
    size_t nmap;
    char fingerprint[FP_TEXT];
};

struct tls_conn {
    struct tls_ctx *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
    int ready, failed;
    int64_t unit;
    char peer[120];
    char error[160];
};

static void ssl_error(char *buf, size_t n, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char reason[200] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    snprintf(buf, n, "%s%s%s", what, *reason ? ": " : "", reason);
}

static void hex_fingerprint(const unsigned char *md, unsigned len, char *out, int colons)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (unsigned i = 0; i < len; i++) {
        if (colons && i)
            out[k++] = ':';
        out[k++] = colons ? hex[md[i] >> 4] : (char)tolower(hex[md[i] >> 4]);
        out[k++] = colons ? hex[md[i] & 15] : (char)tolower(hex[md[i] & 15]);
    }
    out[k] = 0;
}

static int cert_sha256(X509 *x, char *out, int colons)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!X509_digest(x, EVP_sha256(), md, &len))
        return -1;
    hex_fingerprint(md, len, out, colons);
    return 0;
}

/* "sha256:AB:CD..." or "AB:cd..." -> "abcd..." (64 digits), else -1. */
static int normal_hex(const char *in, char *out, size_t n)
{
    if (strncasecmp(in, "sha256:", 7) == 0)
        in += 7;
    size_t k = 0;
    for (; *in; in++) {
        if (*in == ':')
            continue;
        if (!isxdigit((unsigned char)*in) || k + 1 >= n)
            return -1;
        out[k++] = (char)tolower((unsigned char)*in);
    }
    out[k] = 0;
    return k == 64 ? 0 : -1;
}

/* tls_client_map: "sha256:HEX UNIT_ID" or "cn:COMMON NAME UNIT_ID" per line. */
static int load_map(struct tls_ctx *t, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "tls_client_map: cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int lineno = 0;
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = 0;
        if (!*s || *s == '#')
            continue;
        char *last = e;
        while (last > s && !isspace((unsigned char)last[-1]))
            last--;
        char *end;
        long long unit = strtoll(last, &end, 10);
        char *key_end = last;
        while (key_end > s && isspace((unsigned char)key_end[-1]))
            key_end--;
        struct unit_map m = { 0 };
        m.unit = unit;
        int ok = last > s && *end == 0 && unit > 0 && key_end > s;
        if (ok) {
            *key_end = 0;
            if (strncasecmp(s, "cn:", 3) == 0 && s[3]) {
                m.by_cn = 1;
                ok = strlen(s + 3) < sizeof m.key;
                if (ok)
                    snprintf(m.key, sizeof m.key, "%s", s + 3);
            } else {
                ok = normal_hex(s, m.key, sizeof m.key) == 0;
            }
        }
        if (!ok) {
            snprintf(err, errsz, "tls_client_map %s:%d: expected 'sha256:FINGERPRINT UNIT_ID' or 'cn:NAME UNIT_ID'",
                     path, lineno);
            fclose(f);
            return -1;
        }
        if (t->nmap == cap) {
            cap = cap ? cap * 2 : 8;
            t->map = xrealloc(t->map, cap * sizeof *t->map);
        }
        t->map[t->nmap++] = m;
    }
    fclose(f);
    return 0;
}

int tls_ctx_load(const struct config *cfg, struct tls_ctx **out, char *err, size_t errsz)
{
    *out = NULL;
    if (!*cfg->tls_cert)
        return 0;
    struct tls_ctx *t = xcalloc(1, sizeof *t);
    t->refs = 1;
    SSL_CTX *ctx = t->ssl = SSL_CTX_new(TLS_server_method());
    const char *key = *cfg->tls_key ? cfg->tls_key : cfg->tls_cert;
    if (!ctx) {
        ssl_error(err, errsz, "TLS: cannot make a context");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    /* an idle connection keeps no read or write buffer */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* no resumption tickets: nothing to send after the handshake, nothing to keep */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        char what[600];
        snprintf(what, sizeof what, "tls_cert: cannot load the certificate %s", cfg->tls_cert);
        ssl_error(err, errsz, what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        char what[600];
        snprintf(what, sizeof what, "tls_key: cannot load the key %s for the certificate", key);
        ssl_error(err, errsz, what);
        goto fail;
    }
    if (*cfg->tls_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_ca);
        if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1 || !names) {
            char what[600];
            snprintf(what, sizeof what, "tls_ca: cannot load the client CA %s", cfg->tls_ca);
            ssl_error(err, errsz, what);
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (cfg->tls_client_cert_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    }
    if (*cfg->tls_client_map && load_map(t, cfg->tls_client_map, err, errsz) < 0)
        goto fail;
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (!x || cert_sha256(x, t->fingerprint, 1) < 0)
        snprintf(t->fingerprint, sizeof t->fingerprint, "?");
    *out = t;
    return 0;
fail:
    tls_ctx_put(t);
    return -1;
}

void tls_ctx_put(struct tls_ctx *t)
{
    if (!t || --t->refs > 0)
        return;
    SSL_CTX_free(t->ssl);
    free(t->map);
    free(t);
}

const char *tls_ctx_fingerprint(const struct tls_ctx *t)
{
    return t->fingerprint;
}

struct tls_conn *tls_conn_new(struct tls_ctx *t)
{
    struct tls_conn *tc = calloc(1, sizeof *tc);
    if (!tc)
        return NULL;
    tc->ssl = SSL_new(t->ssl);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    if (!tc->ssl || !tc->rbio || !tc->wbio) {
        SSL_free(tc->ssl);
        BIO_free(tc->rbio);
        BIO_free(tc->wbio);
        free(tc);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio); /* the SSL owns them now */
    SSL_set_accept_state(tc->ssl);
    tc->ctx = t;
    t->refs++;
    return tc;
}

void tls_conn_free(struct tls_conn *tc)
{
    if (!tc)
        return;
    SSL_free(tc->ssl);
    tls_ctx_put(tc->ctx);
    free(tc);
}

/* A memory BIO keeps the largest buffer it ever held: one that is empty and
 * holds more than BIO_KEEP is swapped for a new one, so that an idle
 * connection costs little after a burst. */
static void trim(struct tls_conn *tc, int reading)
{
    BIO *b = reading ? tc->rbio : tc->wbio;
    BUF_MEM *bm = NULL;
    if (BIO_ctrl_pending(b) != 0 || BIO_get_mem_ptr(b, &bm) != 1 || !bm || bm->max <= BIO_KEEP)
        return;
    BIO *fresh = BIO_new(BIO_s_mem());
    if (!fresh)
        return;
    if (reading) {
        SSL_set0_rbio(tc->ssl, fresh);
        tc->rbio = fresh;
    } else {
        SSL_set0_wbio(tc->ssl, fresh);
        tc->wbio = fresh;
    }
}

static enum tls_input fail(struct tls_conn *tc, const char *what)
{
    tc->failed = 1;
    ssl_error(tc->error, sizeof tc->error, what);
    return TLS_IN_FAILED;
}

/* The handshake is done: which unit the client's certificate maps to. */
static void handshake_done(struct tls_conn *tc)
{
    tc->ready = 1;
    X509 *x = SSL_get0_peer_certificate(tc->ssl);
    if (!x)
        return;
    char fp[FP_TEXT], cn[256] = "";
    if (cert_sha256(x, fp, 0) < 0)
        return;
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    snprintf(tc->peer, sizeof tc->peer, "%s%s%.16s…", *cn ? cn : "", *cn ? " sha256:" : "sha256:", fp);
    const struct tls_ctx *t = tc->ctx;
    for (size_t i = 0; i < t->nmap; i++)
        if (t->map[i].by_cn ? *cn && strcmp(t->map[i].key, cn) == 0 : strcmp(t->map[i].key, fp) == 0) {
            tc->unit = t->map[i].unit;
            return;
        }
}

enum tls_input tls_conn_input(struct tls_conn *tc, const void *data, size_t n, struct wire_decoder *dec)
{
    if (tc->failed)
        return TLS_IN_FAILED;
    if (n > 0 && BIO_write(tc->rbio, data, (int)n) != (int)n)
        return TLS_IN_NOMEM;
    enum tls_input rc = TLS_IN_OK;
    for (;;) {
        if (!tc->ready) {
            int r = SSL_do_handshake(tc->ssl);
            if (r != 1) {
                int e = SSL_get_error(tc->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    break;
                rc = fail(tc, "handshake");
                break;
            }
            handshake_done(tc);
        }
        char buf[RECORD];
        int r = SSL_read(tc->ssl, buf, sizeof buf);
        if (r > 0) {
            if (wire_decoder_feed(dec, buf, (size_t)r) == WIRE_NOMEM) {
                rc = TLS_IN_NOMEM;
                break;
            }
            continue;
        }
        int e = SSL_get_error(tc->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            rc = TLS_IN_CLOSED;
            break;
        }
        rc = fail(tc, "record");
        break;
    }
    ERR_clear_error();
    trim(tc, 1);
    return rc;
}

static int drain(struct tls_conn *tc, struct wire_buf *out)
{
    size_t k = BIO_ctrl_pending(tc->wbio);
    if (k == 0)
        return 0;
    if (wire_buf_reserve(out, k) < 0)
        return -1;
    int r = BIO_read(tc->wbio, out->data + out->len, (int)k);
    if (r > 0)
        out->len += (size_t)r;
    return 0;
}

int tls_conn_output(struct tls_conn *tc, const void *plain, size_t n, struct wire_buf *out)
{
    const char *p = plain;
    int rc = 0;
    while (tc->ready && !tc->failed && n > 0) {
        size_t k = n > RECORD ? RECORD : n;
        int w = SSL_write(tc->ssl, p, (int)k);
        if (w <= 0) {
            fail(tc, "write");
            rc = -1;
            break;
        }
        p += w;
        n -= (size_t)w;
        if (drain(tc, out) < 0)
            return -1;
    }
    if (drain(tc, out) < 0)
        return -1;
    trim(tc, 0);
    return rc;
}

size_t tls_conn_pending(const struct tls_conn *tc)
{
    return BIO_ctrl_pending(tc->wbio);
}

int tls_conn_ready(const struct tls_conn *tc)
{
    return tc->ready;
}

int tls_conn_partial(const struct tls_conn *tc)
{
    return SSL_has_pending(tc->ssl);
}

const char *tls_conn_error(const struct tls_conn *tc)
{
    return tc->error;
}

int64_t tls_conn_unit(const struct tls_conn *tc)
{
    return tc->unit;
}

const char *tls_conn_peer_name(const struct tls_conn *tc)
{
    return tc->peer;
}
