#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dispatch.h"
#include "log.h"
#include "server.h"
#include "tls.h"
#include "util.h"

#define READ_CHUNK 65536

static void conn_process(struct conn *c);

static int logged_in(const struct conn *c)
{
    return c->who.user_id != 0;
}

void conn_ref(struct conn *c)
{
    c->refs++;
}

void *conn_stream(const struct conn *c, const struct conn_stream_ops *ops)
{
    for (int i = 0; i < CONN_STREAMS; i++)
        if (c->streams[i].ops == ops)
            return c->streams[i].data;
    return NULL;
}

int conn_stream_set(struct conn *c, const struct conn_stream_ops *ops, void *data)
{
    struct conn_stream *free_slot = NULL;
    for (int i = 0; i < CONN_STREAMS; i++) {
        struct conn_stream *st = &c->streams[i];
        if (st->ops == ops) {
            if (data) {
                st->data = data;
            } else {
                st->ops = NULL;
                st->data = NULL;
            }
            return 0;
        }
        if (!st->ops && !free_slot)
            free_slot = st;
    }
    if (!data)
        return 0;
    if (!free_slot)
        return -1;
    free_slot->ops = ops;
    free_slot->data = data;
    return 0;
}

static int has_streams(const struct conn *c)
{
    for (int i = 0; i < CONN_STREAMS; i++)
        if (c->streams[i].ops)
            return 1;
    return 0;
}

void conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    c->srv->limits.output_total -= c->out.len + c->writing.len;
    limits_peer_put(c->srv, c->addr);
    for (int i = 0; i < CONN_STREAMS; i++) {
        struct conn_stream *st = &c->streams[i];
        if (st->ops) {
            const struct conn_stream_ops *ops = st->ops;
            void *data = st->data;
            st->ops = NULL;
            st->data = NULL;
            ops->drop(c, data);
        }
    }
    tls_conn_free(c->tls);
    wire_decoder_free(&c->in);
    wire_buf_free(&c->out);
    wire_buf_free(&c->writing);
    free(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char chunk[READ_CHUNK]; /* one loop, one reader at a time: the bytes are copied out at once */
    buf->base = chunk;
    buf->len = sizeof chunk;
}

static size_t output_pending(const struct conn *c)
{
    return c->out.len + c->writing.len + (c->tls ? tls_conn_pending(c->tls) : 0);
}

/* Before login a connection may have less in progress and queued: it may
 * be anybody's. */
static int inflight_limit(const struct conn *c)
{
    return logged_in(c) ? c->srv->cfg.max_inflight : c->srv->cfg.max_inflight_unauth;
}

static size_t output_limit(const struct conn *c)
{
    return logged_in(c) ? c->srv->cfg.max_output : c->srv->cfg.max_output_unauth;
}

static int over_output_total(const struct conn *c)
{
    return output_pending(c) > 0 && c->srv->limits.output_total > c->srv->cfg.max_output_total;
}

/* Reading stops while a connection has too much in progress or too much
 * unsent output, or while all connections together have too much unsent
 * output and it has some: a client that does not read its replies cannot
 * make the server buffer without bound, nor hold more than its share of the
 * database (its requests in flight are bounded, so others keep their
 * latency). */
static int over_limits(const struct conn *c)
{
    return c->inflight >= inflight_limit(c) || output_pending(c) > output_limit(c) || over_output_total(c);
}

/* Appends bytes already framed (or raw, for a client that is not Kehu's). */
static int out_append(struct conn *c, const void *data, size_t n)
{
    if (wire_buf_reserve(&c->out, n) < 0)
        return -1;
    memcpy(c->out.data + c->out.len, data, n);
    c->out.len += n;
    c->srv->limits.output_total += n;
    return 0;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);

static void read_start(struct conn *c)
{
    if (!c->reading && (c->state == CONN_HELLO || c->state == CONN_OPEN)) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) {
            c->reading = 1;
            c->progress_ms = uv_now(c->srv->loop); /* a pause is not the sender's delay */
        }
    }
}

static void read_stop(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->addr) /* NULL when the accept itself failed */
        c->addr->conns--;
    conn_unref(c);
    if (s->stopping && s->nconns == 0)
        server_want_flush(s, NULL); /* lets the server finish its shutdown */
}

void conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    log_info(c->id, 0, "closed: %s", why);
    c->state = CONN_CLOSED;
    c->reading = 0;
    conn_auth_changed(c);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* A connection in CLOSING state closes once nothing is in flight or unsent. */
static void maybe_finish_closing(struct conn *c)
{
    if (c->state == CONN_CLOSING && c->inflight == 0 && output_pending(c) == 0)
        conn_close(c, "done");
}

void conn_drain(struct conn *c)
{
    if (c->state == CONN_CLOSED || c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    read_stop(c);
    conn_auth_changed(c);
    server_want_flush(c->srv, c);
}

static void stop_if_idle(struct conn *c)
{
    if (c->stop_when_idle && c->inflight == 0 && output_pending(c) == 0 && wire_decoder_pending(&c->in) == 0)
        conn_drain(c);
}

void conn_stop(struct conn *c)
{
    if (c->state != CONN_HELLO && c->state != CONN_OPEN)
        return;
    if (c->inflight == 0 && output_pending(c) == 0) {
        conn_drain(c);
        return;
    }
    c->stop_when_idle = 1;
    server_want_flush(c->srv, c);
}

void conn_close_flushed(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSING; /* conn_flush writes and reads nothing more */
    read_stop(c);
    conn_flush(c);
    conn_close(c, why);
}

/* Replies are bounded by pausing the reader; pushed events are not, so a
 * client that stopped reading altogether is let go. 0, or -1 when closed. */
static int let_go_if_not_reading(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return -1;
    if (output_pending(c) > 4 * output_limit(c)) {
        limits_count(c->srv, LC_CLOSED_NOT_READING);
        conn_close(c, logged_in(c) ? "not reading: unsent output over 4 x max_output"
                                   : "not reading: unsent output over 4 x max_output_unauth");
        return -1;
    }
    return 0;
}

void conn_send_packed(struct conn *c, const void *frame, size_t len)
{
    if (let_go_if_not_reading(c) < 0)
        return;
    if (out_append(c, frame, len) < 0) {
        conn_close(c, "out of memory queueing an event");
        return;
    }
    server_want_flush(c->srv, c);
}

void conn_send(struct conn *c, const Kehu__V1__Frame *f)
{
    if (let_go_if_not_reading(c) < 0)
        return;
    size_t before = c->out.len;
    if (wire_pack(&c->out, f) < 0) {
        conn_close(c, "out of memory packing a reply");
        return;
    }
    c->srv->limits.output_total += c->out.len - before;
    server_want_flush(c->srv, c);
}

/* conn_refuse without the log line: for refusals by the thousand under a
 * flood, which are counted and summed up in the log instead. */
static void refuse_quietly(struct conn *c, Kehu__V1__Code code, const char *message)
{
    Kehu__V1__Status st = KEHU__V1__STATUS__INIT;
    st.code = code;
    st.message = (char *)message;
    Kehu__V1__Response resp = KEHU__V1__RESPONSE__INIT;
    resp.status = &st;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.body_case = KEHU__V1__FRAME__BODY_RESPONSE;
    f.response = &resp;
    conn_send(c, &f);
    conn_drain(c);
}

void conn_refuse(struct conn *c, Kehu__V1__Code code, const char *message)
{
    log_info(c->id, 0, "refusing the connection: %s", message);
    refuse_quietly(c, code, message);
}

void conn_request_done(struct conn *c)
{
    c->inflight--;
    c->active_ms = uv_now(c->srv->loop);
    conn_auth_changed(c);
    if (c->state != CONN_CLOSED)
        server_want_flush(c->srv, c);
}

void conn_auth_changed(struct conn *c)
{
    struct server *s = c->srv;
    int want = (c->state == CONN_HELLO || c->state == CONN_OPEN) && !logged_in(c);
    if (want == c->unauth)
        return;
    c->unauth = want;
    if (want) {
        c->unauth_prev = s->unauth_tail;
        c->unauth_next = NULL;
        if (s->unauth_tail)
            s->unauth_tail->unauth_next = c;
        else
            s->unauth_head = c;
        s->unauth_tail = c;
        s->limits.unauth++;
        c->addr->unauth++;
        c->unauth_since_ms = uv_now(s->loop);
        size_t m = s->cfg.max_frame_unauth < s->cfg.max_frame ? s->cfg.max_frame_unauth : s->cfg.max_frame;
        c->in.max_frame = m;
        return;
    }
    if (c->unauth_prev)
        c->unauth_prev->unauth_next = c->unauth_next;
    else
        s->unauth_head = c->unauth_next;
    if (c->unauth_next)
        c->unauth_next->unauth_prev = c->unauth_prev;
    else
        s->unauth_tail = c->unauth_prev;
    c->unauth_next = c->unauth_prev = NULL;
    s->limits.unauth--;
    c->addr->unauth--;
    if (logged_in(c))
        c->in.max_frame = s->cfg.max_frame;
}

void conn_expire_session(struct conn *c)
{
    if (c->who.user_id)
        conn_expire_session_at(c, now_unix_ms());
}

void conn_expire_session_at(struct conn *c, int64_t now_ms)
{
    if (c->who.user_id && c->who.expires_at_ms <= now_ms) {
        log_info(c->id, 0, "session of %s expired", c->who.username);
        memset(&c->who, 0, sizeof c->who);
        conn_auth_changed(c); /* it must log in again within auth_timeout */
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    w->data = NULL; /* no write in progress */
    c->srv->limits.output_total -= c->writing.len;
    c->writing.len = 0;
    if (status < 0) {
        if (c->state != CONN_CLOSED)
            conn_close(c, uv_strerror(status));
    } else if (c->state != CONN_CLOSED) {
        server_want_flush(c->srv, c);
    }
    conn_unref(c);
}

/* TLS: the queued replies are encrypted into the buffer being written, with
 * what the handshake has to say; the count of queued bytes follows. */
static int tls_encrypt(struct conn *c)
{
    size_t plain = c->out.len;
    int rc = tls_conn_output(c->tls, c->out.data, c->out.len, &c->writing);
    c->out.len = 0;
    c->srv->limits.output_total = c->srv->limits.output_total + c->writing.len - plain;
    return rc;
}

/* What uv_try_write does, by send(2) rather than write(2): a socket's
 * write passes through the file layer first (position lock, checks, file
 * notification), and a fan-out pays that once per subscriber. The bytes
 * sent, 0 when the socket takes nothing now, or a libuv error. */
static int try_send(struct conn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
        return UV_EBADF;
    ssize_t n;
    do
        n = send(fd, c->writing.data, c->writing.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? UV_EAGAIN : uv_translate_sys_error(errno);
    return (int)n;
}

void conn_flush(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->writing.len == 0 && c->tls && (c->out.len > 0 || tls_conn_pending(c->tls) > 0)) {
        if (tls_encrypt(c) < 0) {
            limits_count(c->srv, LC_CLOSED_TLS_ERROR);
            if (c->writing.len == 0) {
                conn_close(c, "TLS: cannot encrypt the replies");
                return;
            }
            conn_drain(c); /* what was encrypted goes out, then the socket closes */
        }
    } else if (c->out.len > 0 && c->writing.len == 0) {
        /* swap buffers: the queued replies go out in one write */
        struct wire_buf tmp = c->writing;
        c->writing = c->out;
        c->out = tmp;
        c->out.len = 0;
    }
    if (c->writing.len > 0 && !c->wreq.data) {
        /* Straight to the socket when it takes it all (nearly always): a
         * uv_write costs a callback, another flush of this connection and an
         * epoll_ctl on the next turn, which a fan-out to a thousand
         * subscribers pays a thousand times. Only the rest waits for a
         * writable socket. */
        int n = try_send(c);
        if (n < 0 && n != UV_EAGAIN) {
            c->srv->limits.output_total -= c->writing.len;
            c->writing.len = 0;
            conn_close(c, uv_strerror(n));
            return;
        }
        if (n > 0) {
            memmove(c->writing.data, c->writing.data + n, c->writing.len - (size_t)n);
            c->writing.len -= (size_t)n;
            c->srv->limits.output_total -= (size_t)n;
        }
    }
    if (c->writing.len > 0 && !c->wreq.data) {
        uv_buf_t b = uv_buf_init((char *)c->writing.data, (unsigned)c->writing.len);
        c->wreq.data = c;
        conn_ref(c);
        int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
        if (rc < 0) {
            c->wreq.data = NULL;
            conn_unref(c);
            c->srv->limits.output_total -= c->writing.len;
            c->writing.len = 0;
            conn_close(c, uv_strerror(rc));
            return;
        }
    }
    if (c->state == CONN_CLOSING) {
        maybe_finish_closing(c);
        return;
    }
    int was_reading = c->reading;
    if (!over_limits(c)) {
        conn_process(c); /* frames already buffered while reading was paused */
        if (!over_limits(c))
            read_start(c);
    }
    /* kehud is stopping: what was read has been answered, so a connection
     * left with nothing to do goes (one that was paused and reads again gets
     * a turn of the loop first, and the janitor's look a second later) */
    if (was_reading)
        stop_if_idle(c);
}

/* "4 MiB", "64 KiB", "1000 bytes" */
static const char *size_text(char *buf, size_t n, size_t v)
{
    if (v >= (1u << 20) && v % (1u << 20) == 0)
        snprintf(buf, n, "%zu MiB", v >> 20);
    else if (v >= 1024 && v % 1024 == 0)
        snprintf(buf, n, "%zu KiB", v >> 10);
    else
        snprintf(buf, n, "%zu bytes", v);
    return buf;
}

/* The first bytes of a client that is not Kehu's read as an absurd frame
 * length: tell an HTTP client in its own words, and anyone else what the
 * first frame claimed (a TLS client was told apart by its first byte). */
static void refuse_big_frame(struct conn *c)
{
    struct server *s = c->srv;
    const uint8_t *b = c->in.buf + c->in.start;
    static const char *const methods[] = { "GET ", "POST", "PUT ", "HEAD", "OPTI", "DELE", "PATC", "CONN", "PRI " };
    if (c->state == CONN_HELLO) {
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
            if (memcmp(b, methods[i], 4) == 0) {
                static const char reply[] =
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                    "Content-Length: 89\r\n\r\n"
                    "This is kehud, a Kehu server: it speaks Kehu's own protocol (kehu.v1 frames), not HTTP.\n\n";
                limits_count(s, LC_CLOSED_NOT_KEHU);
                log_info(c->id, 0, "an HTTP request from %s: not a Kehu client", c->peer);
                if (out_append(c, reply, sizeof reply - 1) < 0) {
                    conn_close(c, "out of memory");
                    return;
                }
                server_want_flush(s, c);
                conn_drain(c);
                return;
            }
    }
    limits_count(s, LC_CLOSED_FRAME);
    char msg[200], lim[32];
    size_text(lim, sizeof lim, c->in.max_frame);
    snprintf(msg, sizeof msg, "frame of %u bytes exceeds the %s limit%s%s", c->in.claimed, lim,
             logged_in(c) ? "" : " before login",
             c->state == CONN_HELLO ? " (is this a Kehu client? a connection begins with a Hello frame)" : "");
    conn_refuse(c, KEHU__V1__CODE__RESOURCE_EXHAUSTED, msg);
}

/* Takes whole frames from the input buffer while the limits allow. */
static void conn_process(struct conn *c)
{
    while ((c->state == CONN_HELLO || c->state == CONN_OPEN) && !over_limits(c)) {
        const uint8_t *payload;
        size_t len;
        int r = wire_decoder_next(&c->in, &payload, &len);
        if (r == WIRE_NEED_MORE)
            return;
        if (r == WIRE_TOO_BIG) {
            refuse_big_frame(c);
            return;
        }
        c->active_ms = uv_now(c->srv->loop);
        dispatch_frame(c, payload, len);
        c->progress_ms = uv_now(c->srv->loop);
    }
    if (over_limits(c)) {
        if (c->reading && over_output_total(c))
            limits_count(c->srv, LC_PAUSED_OUTPUT_TOTAL);
        read_stop(c);
    }
}

/* The first byte tells TLS from plaintext (tls_sniff). Plaintext is for
 * loopback only unless allow_plaintext; TLS needs a certificate. 0 to go
 * on, -1 when the connection was refused. */
static int choose_wire(struct conn *c, uint8_t first)
{
    struct server *s = c->srv;
    if (!tls_sniff(first)) {
        c->wire = WIRE_PLAIN;
        if (s->cfg.allow_plaintext || (c->loopback && s->cfg.plaintext_loopback))
            return 0;
        limits_count(s, LC_REFUSED_PLAINTEXT);
        conn_refuse(c, KEHU__V1__CODE__PERMISSION_DENIED,
                    "plaintext connections are accepted from this machine only: connect with TLS (kehu --tls)");
        return -1;
    }
    c->wire = WIRE_TLS;
    if (!s->tls) {
        limits_count(s, LC_CLOSED_NOT_KEHU);
        conn_close(c, "a TLS handshake, but TLS is not configured (tls_cert)");
        return -1;
    }
    c->tls = tls_conn_new(s->tls);
    if (!c->tls) {
        conn_close(c, "out of memory for TLS");
        return -1;
    }
    return 0;
}

/* Ciphertext in: the handshake advances, plaintext goes to the decoder. 0
 * to go on, -1 when the connection is going. */
static int tls_read(struct conn *c, const void *data, size_t n)
{
    struct server *s = c->srv;
    int was_ready = tls_conn_ready(c->tls);
    enum tls_input r = tls_conn_input(c->tls, data, n, &c->in);
    if (tls_conn_pending(c->tls) > 0)
        server_want_flush(s, c);
    if (!was_ready && tls_conn_ready(c->tls)) {
        limits_count(s, LC_TLS_HANDSHAKES);
        c->cert_unit = tls_conn_unit(c->tls);
        c->accepted_ms = uv_now(s->loop); /* the Hello deadline counts from here */
        if (*tls_conn_peer_name(c->tls))
            log_info(c->id, 0, "TLS from %s with client certificate %s%s", c->peer, tls_conn_peer_name(c->tls),
                     c->cert_unit ? " (logins limited to a unit)" : "");
    }
    if (r == TLS_IN_OK)
        return 0;
    if (r == TLS_IN_CLOSED) {
        if (c->inflight > 0 || output_pending(c) > 0)
            conn_drain(c);
        else
            conn_close(c, "client closed the TLS session");
        return -1;
    }
    if (r == TLS_IN_NOMEM) {
        conn_close(c, "out of memory reading");
        return -1;
    }
    char why[240];
    snprintf(why, sizeof why, "TLS %s", tls_conn_error(c->tls));
    if (was_ready) {
        limits_count(s, LC_CLOSED_TLS_ERROR);
        conn_close(c, why);
        return -1;
    }
    limits_count(s, LC_CLOSED_TLS_HANDSHAKE);
    log_info(c->id, 0, "from %s: %s", c->peer, why);
    conn_drain(c); /* the alert goes out, then the socket closes */
    return -1;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (n == 0)
        return;
    if (n < 0) {
        if (n == UV_EOF && (c->inflight > 0 || output_pending(c) > 0)) {
            conn_drain(c); /* answer what was asked, then close */
            return;
        }
        conn_close(c, n == UV_EOF ? "client closed the connection" : uv_strerror((int)n));
        return;
    }
    if (c->state != CONN_HELLO && c->state != CONN_OPEN)
        return;
    if (c->wire == WIRE_UNKNOWN && choose_wire(c, (uint8_t)buf->base[0]) < 0)
        return;
    if (wire_decoder_pending(&c->in) == 0)
        c->progress_ms = uv_now(c->srv->loop); /* a new frame begins */
    if (c->tls) {
        if (tls_read(c, buf->base, (size_t)n) < 0)
            return;
    } else if (wire_decoder_feed(&c->in, buf->base, (size_t)n) != WIRE_NEED_MORE) {
        conn_close(c, "out of memory reading");
        return;
    }
    conn_process(c);
}

void conn_check_timeouts(struct conn *c, uint64_t now_ms)
{
    struct server *s = c->srv;
    const struct config *cfg = &s->cfg;
    if (c->state != CONN_HELLO && c->state != CONN_OPEN)
        return;
    stop_if_idle(c);
    conn_expire_session(c);
    conn_auth_changed(c);
    char msg[120];
    /* a TLS handshake begun and not finished: nothing can be said to it but an alert */
    if (c->tls && !tls_conn_ready(c->tls)) {
        if (now_ms - c->accepted_ms > (uint64_t)cfg->tls_handshake_timeout * 1000) {
            limits_count(s, LC_CLOSED_TLS_HANDSHAKE_TIMEOUT);
            conn_close(c, "TLS handshake not finished in time (tls_handshake_timeout)");
        }
        return;
    }
    if (c->state == CONN_HELLO && now_ms - c->accepted_ms > (uint64_t)cfg->hello_timeout * 1000) {
        limits_count(s, LC_CLOSED_HELLO);
        conn_refuse(c, KEHU__V1__CODE__INVALID_ARGUMENT, "no Hello in time: closing");
        return;
    }
    /* a login in progress is let finish: its own check bounds it */
    if (c->state == CONN_OPEN && c->unauth && c->logins == 0 &&
        now_ms - c->unauth_since_ms > (uint64_t)cfg->auth_timeout * 1000) {
        limits_count(s, LC_CLOSED_AUTH);
        snprintf(msg, sizeof msg, "not logged in within %d s (auth_timeout): closing", cfg->auth_timeout);
        conn_refuse(c, KEHU__V1__CODE__UNAUTHENTICATED, msg);
        return;
    }
    /* a subscription waiting for events, or an import or upload between its chunks, is not idle */
    if (c->state == CONN_OPEN && !c->unauth && c->inflight == 0 && output_pending(c) == 0 &&
        c->sub.kind == SUB_NONE && !has_streams(c) && now_ms - c->active_ms > (uint64_t)cfg->idle_timeout * 1000) {
        limits_count(s, LC_CLOSED_IDLE);
        snprintf(msg, sizeof msg, "idle for %d s (idle_timeout): closing", cfg->idle_timeout);
        conn_refuse(c, KEHU__V1__CODE__UNAVAILABLE, msg);
        return;
    }
    /* paused reading is the server's doing, not a slow sender */
    if ((c->state == CONN_HELLO || c->state == CONN_OPEN) && c->reading &&
        (wire_decoder_pending(&c->in) > 0 || (c->tls && tls_conn_partial(c->tls))) &&
        now_ms - c->progress_ms > (uint64_t)cfg->frame_timeout * 1000)
        conn_close(c, "a frame began but did not arrive in time");
}

/* A refusal by the thousand is summed up in the log once in a while. */
static void note_refusal(struct server *s, const char *what, const struct conn *c)
{
    struct limits *l = &s->limits;
    uint64_t now = uv_now(s->loop);
    l->refusals_unlogged++;
    if (now - l->last_refusal_log_ms < 10000 && l->last_refusal_log_ms)
        return;
    log_warn(c->id, 0, "refused %llu connection(s) in the last %llu s, this one from %s: %s",
             (unsigned long long)l->refusals_unlogged,
             (unsigned long long)(l->last_refusal_log_ms ? (now - l->last_refusal_log_ms + 999) / 1000 : 0), c->peer,
             what);
    l->refusals_unlogged = 0;
    l->last_refusal_log_ms = now;
}

/* The oldest connection not logged in (none with a login in progress), to
 * make room: it has had the longest to log in. */
static struct conn *eviction_victim(struct server *s, const struct conn *except)
{
    int looked = 0;
    for (struct conn *v = s->unauth_head; v && looked < 16; v = v->unauth_next, looked++)
        if (v != except && v->logins == 0)
            return v;
    return NULL;
}

/* Decides whether a new connection may stay: NULL, or why not. Connections
 * not logged in may not take the slots kept for logged-in users: past that
 * share, the oldest of them makes room for the new one. */
static const char *admit(struct conn *c, enum limit_counter *counter)
{
    struct server *s = c->srv;
    const struct config *cfg = &s->cfg;
    if (c->addr->conns > cfg->max_conns_per_address) {
        *counter = LC_REFUSED_ADDRESS;
        return "too many connections from your address (max_conns_per_address)";
    }
    if (c->addr->unauth > cfg->max_unauth_per_address) {
        *counter = LC_REFUSED_ADDRESS_UNAUTH;
        return "too many connections not logged in from your address (max_unauth_per_address)";
    }
    int unauth_cap = cfg->max_connections - cfg->reserved_connections;
    if (unauth_cap < 1)
        unauth_cap = 1;
    if (s->nconns > cfg->max_connections || s->limits.unauth > unauth_cap) {
        struct conn *v = eviction_victim(s, c);
        if (!v) {
            *counter = LC_REFUSED_FULL;
            return "too many connections";
        }
        limits_count(s, LC_EVICTED_UNAUTH);
        note_refusal(s, "evicted the oldest connection not logged in", v);
        refuse_quietly(v, KEHU__V1__CODE__RESOURCE_EXHAUSTED,
                       "closed to make room: not logged in while the server is full");
    }
    return NULL;
}

void conn_accept(struct server *s)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->id = ++s->next_conn_id;
    c->state = CONN_HELLO;
    c->refs = 1; /* the socket handle; dropped in on_closed */
    wire_decoder_init(&c->in, s->cfg.max_frame);
    c->accepted_ms = c->progress_ms = uv_now(s->loop);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, "accept failed");
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        int port = 0;
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            uv_ip4_name(a, host, sizeof host);
            port = ntohs(a->sin_port);
            c->loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, host, sizeof host);
            port = ntohs(a->sin6_port);
            c->loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
                          (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->addr = limits_peer_get(s, host);
    c->addr->conns++;
    conn_auth_changed(c);
    enum limit_counter counter;
    const char *refusal = admit(c, &counter);
    if (refusal) {
        limits_count(s, counter);
        note_refusal(s, refusal, c);
        refuse_quietly(c, KEHU__V1__CODE__RESOURCE_EXHAUSTED, refusal);
        return;
    }
    log_debug(c->id, 0, "accepted from %s", c->peer);
    read_start(c);
}
