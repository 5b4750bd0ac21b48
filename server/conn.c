#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "rpc.h"
#include "log.h"
#include "server.h"
#include "util.h"

#define READ_CHUNK 65536

static void conn_process(struct conn *c);

void conn_ref(struct conn *c)
{
    c->refs++;
}

void conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    import_drop(c);
    rpc_doc_upload_free(c->upload);
    admin_backup_drop(c);
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
    return c->out.len + c->writing.len;
}

/* Reading stops while a connection has too much in progress or too much
 * unsent output: a client that does not read its replies cannot make the
 * server buffer without bound. */
static int over_limits(const struct conn *c)
{
    return c->inflight >= c->srv->cfg.max_inflight || output_pending(c) > c->srv->cfg.max_output;
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
    server_want_flush(c->srv, c);
}

void conn_send(struct conn *c, const Kehu__V1__Frame *f)
{
    if (c->state == CONN_CLOSED)
        return;
    /* Replies are bounded by pausing the reader; pushed events are not, so a
     * client that stopped reading altogether is let go. */
    if (output_pending(c) > 4 * c->srv->cfg.max_output) {
        conn_close(c, "not reading: unsent output over 4 x max_output");
        return;
    }
    if (wire_pack(&c->out, f) < 0) {
        conn_close(c, "out of memory packing a reply");
        return;
    }
    server_want_flush(c->srv, c);
}

void conn_refuse(struct conn *c, Kehu__V1__Code code, const char *message)
{
    Kehu__V1__Status st = KEHU__V1__STATUS__INIT;
    st.code = code;
    st.message = (char *)message;
    Kehu__V1__Response resp = KEHU__V1__RESPONSE__INIT;
    resp.status = &st;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.body_case = KEHU__V1__FRAME__BODY_RESPONSE;
    f.response = &resp;
    log_info(c->id, 0, "refusing the connection: %s", message);
    conn_send(c, &f);
    conn_drain(c);
}

void conn_request_done(struct conn *c)
{
    c->inflight--;
    if (c->state != CONN_CLOSED)
        server_want_flush(c->srv, c);
}

static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    c->writing.len = 0;
    if (status < 0) {
        if (c->state != CONN_CLOSED)
            conn_close(c, uv_strerror(status));
    } else if (c->state != CONN_CLOSED) {
        server_want_flush(c->srv, c);
    }
    conn_unref(c);
}

void conn_flush(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->out.len > 0 && c->writing.len == 0) {
        /* swap buffers: the queued replies go out in one write */
        struct wire_buf tmp = c->writing;
        c->writing = c->out;
        c->out = tmp;
        c->out.len = 0;
        uv_buf_t b = uv_buf_init((char *)c->writing.data, (unsigned)c->writing.len);
        c->wreq.data = c;
        conn_ref(c);
        int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
        if (rc < 0) {
            conn_unref(c);
            c->writing.len = 0;
            conn_close(c, uv_strerror(rc));
            return;
        }
    }
    if (c->state == CONN_CLOSING) {
        maybe_finish_closing(c);
        return;
    }
    if (!over_limits(c)) {
        conn_process(c); /* frames already buffered while reading was paused */
        if (!over_limits(c))
            read_start(c);
    }
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
            char msg[160];
            snprintf(msg, sizeof msg, "frame of %u bytes exceeds the limit of %zu bytes", c->in.claimed,
                     c->srv->cfg.max_frame);
            conn_refuse(c, KEHU__V1__CODE__RESOURCE_EXHAUSTED, msg);
            return;
        }
        dispatch_frame(c, payload, len);
        c->progress_ms = uv_now(c->srv->loop);
    }
    if (over_limits(c))
        read_stop(c);
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
    if (wire_decoder_pending(&c->in) == 0)
        c->progress_ms = uv_now(c->srv->loop); /* a new frame begins */
    if (wire_decoder_feed(&c->in, buf->base, (size_t)n) != WIRE_NEED_MORE) {
        conn_close(c, "out of memory reading");
        return;
    }
    conn_process(c);
}

void conn_check_timeouts(struct conn *c, uint64_t now_ms)
{
    const struct config *cfg = &c->srv->cfg;
    if (c->state == CONN_HELLO && now_ms - c->accepted_ms > (uint64_t)cfg->hello_timeout * 1000) {
        conn_refuse(c, KEHU__V1__CODE__INVALID_ARGUMENT, "no Hello in time: closing");
        return;
    }
    /* paused reading is the server's doing, not a slow sender */
    if ((c->state == CONN_HELLO || c->state == CONN_OPEN) && c->reading && wire_decoder_pending(&c->in) > 0 &&
        now_ms - c->progress_ms > (uint64_t)cfg->frame_timeout * 1000)
        conn_close(c, "a frame began but did not arrive in time");
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
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char host[INET6_ADDRSTRLEN] = "";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->nconns > s->cfg.max_connections) {
        conn_refuse(c, KEHU__V1__CODE__RESOURCE_EXHAUSTED, "too many connections");
        return;
    }
    log_debug(c->id, 0, "accepted from %s", c->peer);
    read_start(c);
}
