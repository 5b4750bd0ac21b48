/* libkehu: a blocking, poll(2)-driven client for the Kehu wire protocol. */
#include "kehu.h"
#include "i18n.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "wire.h"

struct pending {
    uint64_t id;
    kehu_cb cb;
    void *arg;
    Kehu__V1__Response *sync_resp; /* for kehu_call: filled instead of a callback */
    int sync_done;
    struct pending *next;
};

struct queued_event {
    Kehu__V1__Event *ev;
    struct queued_event *next;
};

struct kehu_client {
    int fd;
    char server[256];
    char server_name[128];
    int timeout_ms;
    uint64_t next_id;
    struct wire_decoder dec;
    struct pending *pending; /* in send order */
    int npending;
    struct queued_event *ev_head, *ev_tail;
    char *token;
    int greeted;       /* the Hello was answered: the peer speaks Kehu */
    uint64_t received; /* bytes read on this socket */
};

/* Before the Hello is answered, bytes that are not a Kehu frame come from
 * something else on the port (an HTTP or PostgreSQL server, TLS...). */
#define NOT_KEHUD "%s is not a kehud server (it answered the handshake in another protocol)%s"

static void set_status(struct kehu_status *st, int code, const char *field, const char *fmt, ...)
{
    if (!st)
        return;
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof st->message, fmt, ap);
    va_end(ap);
    snprintf(st->field, sizeof st->field, "%s", field ? field : "");
}

static void copy_status(struct kehu_status *st, const Kehu__V1__Status *s)
{
    if (!st)
        return;
    if (!s) {
        set_status(st, KEHU__V1__CODE__OK, NULL, "%s", "");
        return;
    }
    set_status(st, (int)s->code, s->field, "%s", s->message ? s->message : "");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- names */

const char *kehu_code_name(int code)
{
    if (code == KEHU_TRANSPORT)
        return "UNAVAILABLE";
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&kehu__v1__code__descriptor, code);
    return v ? v->name : NULL;
}

static const char *const role_names[] = {
    [KEHU__V1__ROLE__ADMIN] = "admin",
    [KEHU__V1__ROLE__BRANCH_MANAGER] = "branch_manager",
    [KEHU__V1__ROLE__ACCOUNT_MANAGER] = "account_manager",
    [KEHU__V1__ROLE__SERVICE_AGENT] = "service_agent",
    [KEHU__V1__ROLE__AUDITOR] = "auditor",
};

static const char *const kind_names[] = {
    [KEHU__V1__UNIT_KIND__HEAD_OFFICE] = "head_office",
    [KEHU__V1__UNIT_KIND__REGION] = "region",
    [KEHU__V1__UNIT_KIND__BRANCH] = "branch",
    [KEHU__V1__UNIT_KIND__TEAM] = "team",
};

#define NAMES_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *kehu_role_name(Kehu__V1__Role role)
{
    return (int)role > 0 && (int)role < NAMES_LEN(role_names) ? role_names[role] : NULL;
}

Kehu__V1__Role kehu_role_parse(const char *name)
{
    for (int i = 1; name && i < NAMES_LEN(role_names); i++)
        if (role_names[i] && strcmp(role_names[i], name) == 0)
            return (Kehu__V1__Role)i;
    return KEHU__V1__ROLE__ROLE_UNSPECIFIED;
}

const char *kehu_unit_kind_name(Kehu__V1__UnitKind kind)
{
    return (int)kind > 0 && (int)kind < NAMES_LEN(kind_names) ? kind_names[kind] : NULL;
}

Kehu__V1__UnitKind kehu_unit_kind_parse(const char *name)
{
    for (int i = 1; name && i < NAMES_LEN(kind_names); i++)
        if (kind_names[i] && strcmp(kind_names[i], name) == 0)
            return (Kehu__V1__UnitKind)i;
    return KEHU__V1__UNIT_KIND__UNIT_KIND_UNSPECIFIED;
}

/* ---- socket */

static int split_server(const char *server, char *host, size_t hn, char *port, size_t pn)
{
    const char *colon;
    if (server[0] == '[') { /* [v6]:port */
        const char *end = strchr(server, ']');
        if (!end || end[1] != ':')
            return -1;
        snprintf(host, hn, "%.*s", (int)(end - server - 1), server + 1);
        colon = end + 1;
    } else {
        colon = strrchr(server, ':');
        if (!colon)
            return -1;
        snprintf(host, hn, "%.*s", (int)(colon - server), server);
    }
    snprintf(port, pn, "%s", colon + 1);
    return host[0] && port[0] ? 0 : -1;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int left = (int)(deadline - now_ms());
        if (left < 0)
            left = 0;
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, left);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int dial(const char *server, int timeout_ms, struct kehu_status *st)
{
    char host[200], port[32];
    if (split_server(server, host, sizeof host, port, sizeof port) < 0) {
        set_status(st, KEHU_TRANSPORT, "server", "bad server address '%s': expected HOST:PORT", server);
        return -1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        set_status(st, KEHU_TRANSPORT, "server", "cannot resolve %s: %s", server, gai_strerror(gai));
        return -1;
    }
    int64_t deadline = now_ms() + timeout_ms;
    int fd = -1, err = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            socklen_t len = sizeof err;
            if (w == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                break;
            if (w < 0)
                err = -w;
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        set_status(st, KEHU_TRANSPORT, NULL, "cannot connect to %s: %s", server, strerror(err ? err : ECONNREFUSED));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void drop_socket(kehu_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    wire_decoder_free(&c->dec);
    wire_decoder_init(&c->dec, KEHU_DEFAULT_MAX_FRAME * 64);
}

/* Fails every pending call: the connection is gone. */
static void fail_pending(kehu_client *c, const struct kehu_status *why)
{
    struct pending *p = c->pending;
    c->pending = NULL;
    c->npending = 0;
    while (p) {
        struct pending *next = p->next;
        if (p->cb) {
            p->cb(NULL, why, p->arg);
            free(p);
        } else {
            p->sync_done = -1; /* the kehu_call waiting on it owns and frees it */
        }
        p = next;
    }
}

static int transport_error(kehu_client *c, struct kehu_status *st, const char *fmt, const char *detail)
{
    struct kehu_status why;
    set_status(&why, KEHU_TRANSPORT, NULL, fmt, c->server, detail ? detail : "");
    drop_socket(c);
    fail_pending(c, &why);
    if (st)
        *st = why;
    return -1;
}

static int write_all(kehu_client *c, const uint8_t *p, size_t n, struct kehu_status *st)
{
    int64_t deadline = now_ms() + c->timeout_ms;
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(c->fd, POLLOUT, deadline);
            if (r < 0)
                return transport_error(c, st, "connection to %s: %s", strerror(-r));
            continue;
        }
        return transport_error(c, st, "connection to %s lost: %s", strerror(errno));
    }
    return 0;
}

static int send_frame(kehu_client *c, Kehu__V1__Frame *f, struct kehu_status *st)
{
    if (c->fd < 0) {
        set_status(st, KEHU_TRANSPORT, NULL, "not connected to %s", c->server);
        return -1;
    }
    struct wire_buf b = { 0 };
    if (wire_pack(&b, f) < 0) /* fails what is pending, the request just queued included */
        return transport_error(c, st, "%s: out of memory packing a request%s", "");
    int r = write_all(c, b.data, b.len, st);
    wire_buf_free(&b);
    return r;
}

static void queue_event(kehu_client *c, Kehu__V1__Event *ev)
{
    struct queued_event *q = malloc(sizeof *q);
    if (!q) {
        kehu__v1__event__free_unpacked(ev, NULL);
        return;
    }
    q->ev = ev;
    q->next = NULL;
    if (c->ev_tail)
        c->ev_tail->next = q;
    else
        c->ev_head = q;
    c->ev_tail = q;
}

/* Handles one received frame: a response completes its pending call, an event
 * is queued. A response with id 0 is the server refusing the connection. */
static int handle_frame(kehu_client *c, Kehu__V1__Frame *f, struct kehu_status *st)
{
    if (f->body_case == KEHU__V1__FRAME__BODY_EVENT && f->id == 0) {
        Kehu__V1__Event *ev = f->event;
        f->event = NULL;
        f->body_case = KEHU__V1__FRAME__BODY__NOT_SET;
        kehu__v1__frame__free_unpacked(f, NULL);
        queue_event(c, ev);
        return 0;
    }
    if (f->body_case != KEHU__V1__FRAME__BODY_RESPONSE) {
        kehu__v1__frame__free_unpacked(f, NULL);
        return transport_error(c, st, c->greeted ? "%s sent an unexpected frame%s" : NOT_KEHUD, "");
    }
    Kehu__V1__Response *resp = f->response;
    f->response = NULL;
    f->body_case = KEHU__V1__FRAME__BODY__NOT_SET;
    uint64_t id = f->id;
    kehu__v1__frame__free_unpacked(f, NULL);

    if (id == 0) { /* connection-level error: the server closes after it */
        struct kehu_status why;
        copy_status(&why, resp->status);
        if (why.code == KEHU__V1__CODE__OK)
            why.code = KEHU__V1__CODE__INTERNAL;
        kehu__v1__response__free_unpacked(resp, NULL);
        drop_socket(c);
        fail_pending(c, &why);
        if (st)
            *st = why;
        return -1;
    }
    struct pending **pp = &c->pending;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    if (!*pp) {
        kehu__v1__response__free_unpacked(resp, NULL);
        return 0; /* an answer nobody waits for any more */
    }
    struct pending *p = *pp;
    *pp = p->next;
    c->npending--;
    if (p->cb) {
        struct kehu_status s;
        copy_status(&s, resp->status);
        p->cb(resp, &s, p->arg);
        kehu__v1__response__free_unpacked(resp, NULL);
        free(p);
    } else {
        p->sync_resp = resp;
        p->sync_done = 1;
    }
    return 0;
}

/* Reads once (waiting until deadline) and handles every whole frame. */
static int read_some(kehu_client *c, int64_t deadline, struct kehu_status *st)
{
    if (c->fd < 0) {
        set_status(st, KEHU_TRANSPORT, NULL, "not connected to %s", c->server);
        return -1;
    }
    int w = wait_fd(c->fd, POLLIN, deadline);
    if (w == -ETIMEDOUT) {
        set_status(st, KEHU_TRANSPORT, NULL, "timeout waiting for %s", c->server);
        return -2;
    }
    if (w < 0)
        return transport_error(c, st, "connection to %s: %s", strerror(-w));
    uint8_t buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0)
        return transport_error(c, st, c->greeted || !c->received ? "%s closed the connection%s" : NOT_KEHUD, "");
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 0;
        return transport_error(c, st, "connection to %s lost: %s", strerror(errno));
    }
    c->received += (uint64_t)n;
    if (wire_decoder_feed(&c->dec, buf, (size_t)n) == WIRE_NOMEM)
        return transport_error(c, st, "%s: out of memory%s", "");
    for (;;) {
        const uint8_t *payload;
        size_t len;
        int r = wire_decoder_next(&c->dec, &payload, &len);
        if (r == WIRE_NEED_MORE)
            return 0;
        if (r != WIRE_FRAME)
            return transport_error(c, st, c->greeted ? "%s sent an oversized frame%s" : NOT_KEHUD, "");
        Kehu__V1__Frame *f = kehu__v1__frame__unpack(NULL, len, payload);
        if (!f)
            return transport_error(c, st, c->greeted ? "%s sent a malformed frame%s" : NOT_KEHUD, "");
        if (handle_frame(c, f, st) < 0)
            return -1;
    }
}

/* ---- public calls */

static struct pending *add_pending(kehu_client *c, kehu_cb cb, void *arg)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->id = ++c->next_id;
    p->cb = cb;
    p->arg = arg;
    struct pending **pp = &c->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
    c->npending++;
    return p;
}

static void remove_pending(kehu_client *c, struct pending *p)
{
    for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            c->npending--;
            return;
        }
}

static int send_request(kehu_client *c, struct pending *p, const Kehu__V1__Request *req, struct kehu_status *st)
{
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = p->id;
    f.body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f.request = (Kehu__V1__Request *)req;
    return send_frame(c, &f, st);
}

static int check_connected(kehu_client *c, struct kehu_status *st)
{
    if (c->fd >= 0)
        return 0;
    set_status(st, KEHU_TRANSPORT, NULL, "not connected to %s", c->server);
    return -1;
}

int kehu_send(kehu_client *c, const Kehu__V1__Request *req, kehu_cb cb, void *arg, uint64_t *id,
              struct kehu_status *st)
{
    if (check_connected(c, st) < 0)
        return -1;
    struct pending *p = add_pending(c, cb, arg);
    if (!p) {
        set_status(st, KEHU_TRANSPORT, NULL, "out of memory");
        return -1;
    }
    uint64_t pid = p->id;
    if (send_request(c, p, req, st) < 0)
        return -1; /* the callback has run with the transport error */
    if (id)
        *id = pid;
    return 0;
}

Kehu__V1__Response *kehu_call(kehu_client *c, const Kehu__V1__Request *req, struct kehu_status *st)
{
    if (check_connected(c, st) < 0)
        return NULL;
    struct pending *p = add_pending(c, NULL, NULL);
    if (!p) {
        set_status(st, KEHU_TRANSPORT, NULL, "out of memory");
        return NULL;
    }
    /* p stays owned here: fail_pending unlinks it and marks sync_done = -1 */
    struct kehu_status local;
    if (!st)
        st = &local;
    if (send_request(c, p, req, st) < 0) {
        free(p);
        return NULL;
    }
    int64_t deadline = now_ms() + c->timeout_ms;
    while (!p->sync_done) {
        int r = read_some(c, deadline, st);
        if (r == -2) { /* timeout: forget the call; a late answer is dropped */
            remove_pending(c, p);
            free(p);
            return NULL;
        }
        if (r < 0 && p->sync_done != 1)
            break;
    }
    Kehu__V1__Response *resp = p->sync_done == 1 ? p->sync_resp : NULL;
    if (p->sync_done != 1 && st->code != KEHU_TRANSPORT && st->code == KEHU__V1__CODE__OK)
        set_status(st, KEHU_TRANSPORT, NULL, "connection to %s lost", c->server);
    free(p);
    if (resp)
        copy_status(st, resp->status);
    return resp;
}

void kehu_response_free(Kehu__V1__Response *r)
{
    if (r)
        kehu__v1__response__free_unpacked(r, NULL);
}

int kehu_run(kehu_client *c, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    struct kehu_status st;
    while (c->npending > 0) {
        int r = read_some(c, deadline, &st);
        if (r == -2)
            break;
        if (r < 0)
            return -1;
    }
    return c->npending;
}

int kehu_pending(const kehu_client *c)
{
    return c->npending;
}

Kehu__V1__Event *kehu_next_event(kehu_client *c, int timeout_ms, struct kehu_status *st)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!c->ev_head) {
        int r = read_some(c, deadline, st);
        if (r == -2) {
            set_status(st, KEHU_TRANSPORT, NULL, "timeout");
            return NULL;
        }
        if (r < 0)
            return NULL;
    }
    struct queued_event *q = c->ev_head;
    c->ev_head = q->next;
    if (!c->ev_head)
        c->ev_tail = NULL;
    Kehu__V1__Event *ev = q->ev;
    free(q);
    return ev;
}

void kehu_event_free(Kehu__V1__Event *ev)
{
    if (ev)
        kehu__v1__event__free_unpacked(ev, NULL);
}

/* ---- connection */

static int handshake(kehu_client *c, struct kehu_status *st)
{
    Kehu__V1__Hello hello = KEHU__V1__HELLO__INIT;
    hello.protocol_version = KEHU_PROTOCOL_VERSION;
    hello.client = "libkehu " KEHU_VERSION;
    hello.language = (char *)kehu_i18n_lang(); /* refusals come back in the client's language */
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_HELLO;
    req.hello = &hello;
    c->greeted = 0;
    c->received = 0;
    Kehu__V1__Response *resp = kehu_call(c, &req, st);
    if (!resp)
        return -1;
    int code = st->code;
    c->greeted = 1;
    if (code == KEHU__V1__CODE__OK && resp->result_case == KEHU__V1__RESPONSE__RESULT_HELLO)
        snprintf(c->server_name, sizeof c->server_name, "%s", resp->hello->server ? resp->hello->server : "");
    kehu_response_free(resp);
    return code == KEHU__V1__CODE__OK ? 0 : -1;
}

kehu_client *kehu_connect(const char *server, int timeout_ms, struct kehu_status *st)
{
    struct kehu_status local;
    if (!st)
        st = &local;
    if (!server || !*server)
        server = KEHU_DEFAULT_SERVER;
    kehu_client *c = calloc(1, sizeof *c);
    if (!c) {
        set_status(st, KEHU_TRANSPORT, NULL, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : KEHU_DEFAULT_TIMEOUT_MS;
    snprintf(c->server, sizeof c->server, "%s", server);
    wire_decoder_init(&c->dec, KEHU_DEFAULT_MAX_FRAME * 64);
    c->fd = dial(server, c->timeout_ms, st);
    if (c->fd < 0 || handshake(c, st) < 0) {
        kehu_close(c);
        return NULL;
    }
    set_status(st, KEHU__V1__CODE__OK, NULL, "%s", "");
    return c;
}

void kehu_close(kehu_client *c)
{
    if (!c)
        return;
    struct kehu_status why;
    set_status(&why, KEHU_TRANSPORT, NULL, "connection closed by the client");
    drop_socket(c);
    fail_pending(c, &why);
    wire_decoder_free(&c->dec);
    while (c->ev_head) {
        struct queued_event *q = c->ev_head;
        c->ev_head = q->next;
        kehu_event_free(q->ev);
        free(q);
    }
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
    }
    free(c);
}

int kehu_fd(const kehu_client *c)
{
    return c->fd;
}

const char *kehu_server(const kehu_client *c)
{
    return c->server;
}

const char *kehu_server_name(const kehu_client *c)
{
    return c->server_name;
}

void kehu_set_timeout(kehu_client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : KEHU_DEFAULT_TIMEOUT_MS;
}

const char *kehu_token(const kehu_client *c)
{
    return c->token;
}

static void keep_token(kehu_client *c, const char *token)
{
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
    }
    c->token = token ? strdup(token) : NULL;
}

/* Runs a session request; on OK hands back the Session (owned by the caller). */
static int session_call(kehu_client *c, Kehu__V1__Request *req, Kehu__V1__Session **out, struct kehu_status *st)
{
    struct kehu_status local;
    if (!st)
        st = &local;
    if (out)
        *out = NULL;
    Kehu__V1__Response *resp = kehu_call(c, req, st);
    if (!resp)
        return st->code;
    int code = st->code;
    if (code == KEHU__V1__CODE__OK && resp->result_case == KEHU__V1__RESPONSE__RESULT_SESSION && out) {
        *out = resp->session;
        resp->session = NULL;
        resp->result_case = KEHU__V1__RESPONSE__RESULT__NOT_SET;
    }
    kehu_response_free(resp);
    return code;
}

int kehu_login(kehu_client *c, const char *username, const char *password, Kehu__V1__Session **out,
               struct kehu_status *st)
{
    Kehu__V1__Login login = KEHU__V1__LOGIN__INIT;
    login.username = (char *)username;
    login.password = (char *)password;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    req.login = &login;
    Kehu__V1__Session *s = NULL;
    int code = session_call(c, &req, &s, st);
    if (code == KEHU__V1__CODE__OK && s && s->token)
        keep_token(c, s->token);
    if (out)
        *out = s;
    else
        kehu_session_free(s);
    return code;
}

int kehu_resume(kehu_client *c, const char *token, Kehu__V1__Session **out, struct kehu_status *st)
{
    Kehu__V1__Resume resume = KEHU__V1__RESUME__INIT;
    resume.token = (char *)token;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_RESUME;
    req.resume = &resume;
    char *copy = token ? strdup(token) : NULL; /* token may be c->token itself */
    int code = session_call(c, &req, out, st);
    if (code == KEHU__V1__CODE__OK)
        keep_token(c, copy);
    free(copy);
    return code;
}

int kehu_logout(kehu_client *c, struct kehu_status *st)
{
    Kehu__V1__Logout logout = KEHU__V1__LOGOUT__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGOUT;
    req.logout = &logout;
    int code = session_call(c, &req, NULL, st);
    if (code == KEHU__V1__CODE__OK)
        keep_token(c, NULL);
    return code;
}

void kehu_session_free(Kehu__V1__Session *s)
{
    if (s)
        kehu__v1__session__free_unpacked(s, NULL);
}

int kehu_reconnect(kehu_client *c, struct kehu_status *st)
{
    struct kehu_status local;
    if (!st)
        st = &local;
    struct kehu_status why;
    set_status(&why, KEHU_TRANSPORT, NULL, "reconnecting to %s", c->server);
    drop_socket(c);
    fail_pending(c, &why);
    c->fd = dial(c->server, c->timeout_ms, st);
    if (c->fd < 0 || handshake(c, st) < 0)
        return st->code;
    if (c->token)
        return kehu_resume(c, c->token, NULL, st);
    set_status(st, KEHU__V1__CODE__OK, NULL, "%s", "");
    return 0;
}
