/* A client connection: reading frames, queueing replies, limits, closing. */
#ifndef KEHU_CONN_H
#define KEHU_CONN_H

#include <stdint.h>
#include <uv.h>

#include "authz.h"
#include "notify.h"
#include "wire.h"

struct server;

enum conn_state {
    CONN_HELLO,   /* waiting for the Hello */
    CONN_OPEN,    /* serving requests */
    CONN_CLOSING, /* no new requests; closes once in-flight requests are answered and sent */
    CONN_CLOSED,  /* the socket is closed; late replies are dropped */
};

/* A long-running request a connection serves across several of its
 * requests (an import, a document upload, a backup stream): held through
 * its ops, so that the connection knows none of them by name and a new kind
 * needs no change here. */
struct conn;
struct conn_stream_ops {
    const char *name;
    /* The connection is going: abandon the stream (roll back, stop a child)
     * and free it. */
    void (*drop)(struct conn *c, void *stream);
};
#define CONN_STREAMS 4
struct conn_stream {
    const struct conn_stream_ops *ops; /* NULL: a free slot */
    void *data;
};

/* What the connection speaks, told by its first byte (tls.h). */
enum conn_wire {
    WIRE_UNKNOWN, /* nothing read yet */
    WIRE_PLAIN,   /* Kehu frames straight on the socket */
    WIRE_TLS,     /* Kehu frames inside TLS (server/tls.c) */
};

struct tls_conn;

struct conn {
    struct server *srv;
    uint64_t id;
    uv_tcp_t tcp;
    enum conn_state state;
    int refs;                 /* the socket handle, each request in flight, the flush list */
    char peer[64];
    struct wire_decoder in;
    struct wire_buf out;      /* replies not yet handed to the socket */
    struct wire_buf writing;  /* replies being written */
    uv_write_t wreq;
    int reading;              /* uv_read_start is in effect */
    int inflight;
    uint64_t accepted_ms;     /* loop time of the accept */
    uint64_t progress_ms;     /* loop time a frame was last completed or begun from empty */
    int in_flush_list;
    struct principal who;     /* valid when who.user_id != 0 */
    struct subscription sub;  /* which pushed events this connection wants */
    struct conn_stream streams[CONN_STREAMS]; /* long-running requests it serves (conn_stream) */
    struct conn *next, *prev, *flush_next;
    /* limits (docs/security.md) */
    struct peer_addr *addr;   /* the client's address and what it holds */
    int unauth;               /* counted among those not logged in (s->unauth_head list) */
    struct conn *unauth_next, *unauth_prev;
    uint64_t unauth_since_ms; /* loop time of the Hello, or of the session's end */
    uint64_t active_ms;       /* loop time a request last arrived or was answered */
    int logins;               /* logins in progress (their checks reserved, conn_limits.c) */
    /* transport (docs/security.md, TLS) */
    enum conn_wire wire;
    int loopback;             /* the peer is a loopback address */
    struct tls_conn *tls;     /* WIRE_TLS: its TLS state */
    int64_t cert_unit;        /* mutual TLS: logins are limited to this unit's subtree; 0 none */
    int stop_when_idle;       /* kehud is stopping: drain once nothing is in flight (conn_stop) */
    int lang;                 /* the Hello's language: TR_ZH refusals in Chinese, 0 English (tr.h) */
};

/* The connection's stream of that kind, or NULL. */
void *conn_stream(const struct conn *c, const struct conn_stream_ops *ops);
/* Holds data as the connection's stream of that kind, or with data NULL
 * lets it go without dropping it. 0, or -1 when every slot is taken. */
int conn_stream_set(struct conn *c, const struct conn_stream_ops *ops, void *data);

void conn_accept(struct server *s);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
/* Queues a frame for the socket (dropped if the connection is closed). */
void conn_send(struct conn *c, const Kehu__V1__Frame *f);
/* Queues a frame packed already (wire_pack), the same bytes for many
 * connections: a pushed event is encoded once. */
void conn_send_packed(struct conn *c, const void *frame, size_t len);
/* Sends a connection-level error (frame id 0), then closes. */
void conn_refuse(struct conn *c, Kehu__V1__Code code, const char *message);
/* No more requests; close once what is in flight has been answered. */
void conn_drain(struct conn *c);
/* Closes the socket now. */
void conn_close(struct conn *c, const char *why);
/* kehud is stopping: an idle connection closes at once; one with requests
 * in flight keeps being read (new requests are answered UNAVAILABLE, not
 * cut off) and closes once they are answered and sent. */
void conn_stop(struct conn *c);
/* Hands what is queued to the socket, then closes it (the grace is over:
 * the answers just given to abandoned requests still reach their client). */
void conn_close_flushed(struct conn *c, const char *why);
/* A request finished: reading may resume. */
void conn_request_done(struct conn *c);
/* Called once a second: closes a connection that never said Hello, or that
 * began a frame and stopped sending it (each would hold a buffer for free). */
void conn_check_timeouts(struct conn *c, uint64_t now_ms);
/* Called from the flusher: writes queued output, resumes paused reading. */
void conn_flush(struct conn *c);
/* The connection's login changed (a login, a resume, a session that ended):
 * moves it in or out of the count of those not logged in, whose limits are
 * tighter. Cheap; called after every request and once a second. */
void conn_auth_changed(struct conn *c);
/* Ends the connection's session if it expired (its events stop with it). */
void conn_expire_session(struct conn *c);
/* The same at a time read once for many connections (now_unix_ms). */
void conn_expire_session_at(struct conn *c, int64_t now_ms);

#endif
