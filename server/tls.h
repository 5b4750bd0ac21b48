/* TLS on kehud's listener (docs/security.md): the context made from the
 * configuration (certificate, key, the CA of client certificates and the map
 * from client certificates to org units), and each connection's TLS state,
 * driven over memory BIOs by the connection's libuv stream. conn.c feeds it
 * what the socket brought and takes what is to be written; it knows nothing
 * of OpenSSL. */
#ifndef KEHU_TLS_H
#define KEHU_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "wire.h"

struct tls_ctx;
struct tls_conn;

/* Makes the context from cfg's tls_* settings: 0 and *out NULL when TLS is
 * not configured (no tls_cert), 0 and *out set, or -1 with a message naming
 * the file in err. */
int tls_ctx_load(const struct config *cfg, struct tls_ctx **out, char *err, size_t errsz);
/* Drops the caller's reference; connections hold their own. */
void tls_ctx_put(struct tls_ctx *t);
/* "AB:CD:..." of the server's certificate (for the log). */
const char *tls_ctx_fingerprint(const struct tls_ctx *t);

/* A connection's TLS state, using t (a reference is taken). NULL when out of memory. */
struct tls_conn *tls_conn_new(struct tls_ctx *t);
void tls_conn_free(struct tls_conn *tc);

enum tls_input {
    TLS_IN_OK = 0,      /* consumed; plaintext (if any) is in the decoder */
    TLS_IN_CLOSED = 1,  /* the client sent close_notify */
    TLS_IN_FAILED = -1, /* a handshake or record error: why in tls_conn_error */
    TLS_IN_NOMEM = -2,
};
/* Feeds bytes from the socket: advances the handshake, and appends the
 * plaintext it decrypts to dec. What the handshake answers waits until
 * tls_conn_output. */
enum tls_input tls_conn_input(struct tls_conn *tc, const void *data, size_t n, struct wire_decoder *dec);
/* Encrypts plain (dropped unless the handshake is done and nothing failed)
 * and appends everything waiting for the socket (handshake messages, alerts,
 * records) to out. 0, or -1 out of memory or a TLS error. */
int tls_conn_output(struct tls_conn *tc, const void *plain, size_t n, struct wire_buf *out);
/* Bytes waiting for tls_conn_output even with no plaintext. */
size_t tls_conn_pending(const struct tls_conn *tc);
int tls_conn_ready(const struct tls_conn *tc);   /* the handshake is done */
int tls_conn_partial(const struct tls_conn *tc); /* a record began but is not whole */
const char *tls_conn_error(const struct tls_conn *tc);
/* After the handshake: the unit the client certificate maps to (0: none,
 * or no certificate), and a name for the log (fingerprint or subject). */
int64_t tls_conn_unit(const struct tls_conn *tc);
const char *tls_conn_peer_name(const struct tls_conn *tc);

/* The first byte of a connection: a TLS record of type handshake (0x16)
 * starts a ClientHello; a Kehu frame starts with its length's high byte,
 * which no allowed frame size makes 0x16. */
static inline int tls_sniff(uint8_t first)
{
    return first == 0x16;
}

#endif
