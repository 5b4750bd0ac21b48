/* The asynchronous PostgreSQL pool: see db.h for the model.
 *
 * Each connection keeps a FIFO of the calls it has sent. Reading results
 * walks that FIFO: a statement's results end with a NULL from PQgetResult and
 * a call ends with PGRES_PIPELINE_SYNC. libpq traps handled here: the socket
 * may change during PQconnectPoll; a poll handle is closed before its fd is;
 * input is drained completely after every wake-up; while PQflush reports
 * unsent data we watch for writable as well as readable. */
#include "db.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

enum conn_state { DBC_DOWN, DBC_CONNECTING, DBC_READY };

struct call_stmt {
    struct db_stmt *st; /* NULL: sql is sent unprepared */
    char *sql;
    int nparams;
    char **params;
};

struct db_call {
    struct db_pool *pool;
    db_cb cb;
    void *arg;
    struct call_stmt *stmts;
    int nstmt, cap;
    PGresult **res;
    int cur;           /* statement whose results are being read */
    int prepare_only;  /* an internal segment preparing statements */
    enum db_outcome outcome;
    char sqlstate[6];
    char *message;
    char *primary, *column, *constraint, *detail; /* of a PostgreSQL error (db_result) */
    int failed_stmt;
    uint64_t queued_at;
    struct db_call *next;
};

struct db_conn {
    struct db_pool *pool;
    int index;
    enum conn_state state;
    PGconn *pg;
    uv_poll_t *poll;
    int fd, events;
    uv_timer_t retry;
    int backoff_ms;
    struct db_call *head, *tail; /* sent, awaiting results */
    int inflight;
    struct db_call *pend, *pend_tail; /* to send at the end of this loop turn */
    int npend;
    int listener;                /* only LISTENs: takes no calls */
    unsigned char *prepared;     /* by statement id */
    int nprepared;
};

struct db_pool {
    uv_loop_t *loop;
    char *conninfo;
    char *setup_sql;                   /* sent first on every new connection */
    int size;
    int timeout_ms;
    struct db_conn *conns;
    uv_timer_t janitor;
    uv_timer_t later;                  /* delivers failures outside the caller's stack */
    /* sends what a loop turn asked for, one write a connection: an idle
     * handle runs before the loop waits for I/O (and, while active, keeps it
     * from waiting), whichever phase of the turn deferred a call */
    uv_idle_t turn;
    int in_turn;                       /* turn_send is running */
    struct db_call *waiting, *waiting_tail; /* no connection ready yet, one is coming */
    struct db_call *failed, *failed_tail;
    int nconns;                        /* size, plus the listening connection if any */
    char *channel;
    db_notify_cb on_notify;
    void (*on_listening)(void *arg);
    void *notify_arg;
    int closing;
    int open_handles;
};

static int next_stmt_id;

static void conn_connect(struct db_conn *dc);
static void conn_broken(struct db_conn *dc, const char *why);
static void conn_on_poll(uv_poll_t *h, int status, int events);
static void pool_send(struct db_pool *p, struct db_call *c);
static void deliver_failed(uv_timer_t *t);
static void conn_send(struct db_conn *dc, struct db_call *c);
static void conn_defer(struct db_conn *dc, struct db_call *c);
static void turn_send(uv_idle_t *h);
static void push(struct db_call **head, struct db_call **tail, struct db_call *c);

/* ---- calls */

struct db_call *db_call_new(struct db_pool *p, db_cb cb, void *arg)
{
    struct db_call *c = xcalloc(1, sizeof *c);
    c->pool = p;
    c->cb = cb;
    c->arg = arg;
    c->failed_stmt = -1;
    return c;
}

db_cb db_call_swap_cb(struct db_call *c, db_cb cb, void *arg, void **old_arg)
{
    db_cb old = c->cb;
    *old_arg = c->arg;
    c->cb = cb;
    c->arg = arg;
    return old;
}

static struct call_stmt *call_push(struct db_call *c)
{
    if (c->nstmt == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->stmts = xrealloc(c->stmts, (size_t)c->cap * sizeof *c->stmts);
    }
    struct call_stmt *cs = &c->stmts[c->nstmt++];
    memset(cs, 0, sizeof *cs);
    return cs;
}

static void copy_params(struct call_stmt *cs, int nparams, const char *const *params)
{
    cs->nparams = nparams;
    cs->params = nparams ? xcalloc((size_t)nparams, sizeof(char *)) : NULL;
    for (int i = 0; i < nparams; i++)
        cs->params[i] = params[i] ? xstrdup(params[i]) : NULL;
}

void db_call_add(struct db_call *c, struct db_stmt *st, int nparams, const char *const *params)
{
    if (!st->id)
        st->id = ++next_stmt_id;
    struct call_stmt *cs = call_push(c);
    cs->st = st;
    copy_params(cs, nparams, params);
}

void db_call_add_sql(struct db_call *c, const char *sql, int nparams, const char *const *params)
{
    struct call_stmt *cs = call_push(c);
    cs->sql = xstrdup(sql);
    copy_params(cs, nparams, params);
}

static void call_free(struct db_call *c)
{
    for (int i = 0; i < c->nstmt; i++) {
        for (int j = 0; j < c->stmts[i].nparams; j++)
            free(c->stmts[i].params[j]);
        free(c->stmts[i].params);
        free(c->stmts[i].sql);
        if (c->res)
            PQclear(c->res[i]);
    }
    free(c->stmts);
    free(c->res);
    free(c->message);
    free(c->primary);
    free(c->column);
    free(c->constraint);
    free(c->detail);
    free(c);
}

static void call_set_error(struct db_call *c, enum db_outcome outcome, const char *sqlstate, const char *message)
{
    if (c->outcome != DB_OK)
        return; /* the first failure is the one worth reporting */
    c->outcome = outcome;
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", sqlstate ? sqlstate : "");
    free(c->message);
    c->message = xstrdup(message ? message : "");
    size_t n = strlen(c->message);
    while (n > 0 && (c->message[n - 1] == '\n' || c->message[n - 1] == ' '))
        c->message[--n] = 0;
    c->failed_stmt = c->cur;
}

/* A statement's error as PostgreSQL reported it, its fields kept apart. */
static void call_set_pg_error(struct db_call *c, const PGresult *r)
{
    if (c->outcome != DB_OK)
        return;
    call_set_error(c, DB_ERROR, PQresultErrorField(r, PG_DIAG_SQLSTATE), PQresultErrorMessage(r));
    const char *p = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), *col = PQresultErrorField(r, PG_DIAG_COLUMN_NAME),
               *con = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME),
               *det = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    c->primary = xstrdup(p ? p : "");
    c->detail = xstrdup(det ? det : "");
    c->column = xstrdup(col ? col : "");
    c->constraint = xstrdup(con ? con : "");
}

static void call_finish(struct db_call *c)
{
    if (c->cb) {
        struct db_result r = {
            .outcome = c->outcome,
            .nres = c->nstmt,
            .res = c->res,
            .message = c->message ? c->message : "",
            .primary = c->primary ? c->primary : "",
            .column = c->column ? c->column : "",
            .constraint = c->constraint ? c->constraint : "",
            .detail = c->detail ? c->detail : "",
            .failed_stmt = c->failed_stmt,
        };
        memcpy(r.sqlstate, c->sqlstate, sizeof r.sqlstate);
        c->cb(&r, c->arg);
    }
    call_free(c);
}

static void push(struct db_call **head, struct db_call **tail, struct db_call *c)
{
    c->next = NULL;
    if (*tail)
        (*tail)->next = c;
    else
        *head = c;
    *tail = c;
}

/* Delivers a failure on the next loop turn, not inside the caller's stack. */
static void fail_later(struct db_pool *p, struct db_call *c, const char *why)
{
    call_set_error(c, DB_UNAVAILABLE, "08006", why);
    push(&p->failed, &p->failed_tail, c);
    uv_timer_start(&p->later, deliver_failed, 0, 0);
}

/* ---- result helpers */

int db_rows(const struct db_result *r, int stmt)
{
    return stmt < r->nres && r->res && r->res[stmt] ? PQntuples(r->res[stmt]) : 0;
}

const char *db_get(const struct db_result *r, int stmt, int row, int col)
{
    if (stmt >= r->nres || !r->res || !r->res[stmt] || row >= PQntuples(r->res[stmt]) ||
        col >= PQnfields(r->res[stmt]) || PQgetisnull(r->res[stmt], row, col))
        return NULL;
    return PQgetvalue(r->res[stmt], row, col);
}

int64_t db_get_i64(const struct db_result *r, int stmt, int row, int col)
{
    const char *v = db_get(r, stmt, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

int db_get_bool(const struct db_result *r, int stmt, int row, int col)
{
    const char *v = db_get(r, stmt, row, col);
    return v && v[0] == 't';
}

/* ---- polling */

static void pool_handle_closed(struct db_pool *p)
{
    if (--p->open_handles == 0 && p->closing) {
        free(p->conninfo);
        free(p->setup_sql);
        free(p->channel);
        free(p->conns);
        free(p);
    }
}

static void poll_closed(uv_handle_t *h)
{
    struct db_pool *p = h->data;
    free(h);
    pool_handle_closed(p);
}

static void embedded_closed(uv_handle_t *h)
{
    pool_handle_closed(h->data);
}

static void conn_unwatch(struct db_conn *dc)
{
    if (dc->poll) {
        uv_poll_stop(dc->poll);
        dc->poll->data = dc->pool;
        uv_close((uv_handle_t *)dc->poll, poll_closed);
        dc->poll = NULL;
    }
    dc->fd = -1;
    dc->events = 0;
}

/* Watches the connection's current socket for `events`, re-creating the
 * handle when libpq switched sockets. */
static int conn_watch(struct db_conn *dc, int events)
{
    int fd = PQsocket(dc->pg);
    if (fd < 0)
        return -1;
    if (dc->poll && dc->fd != fd)
        conn_unwatch(dc);
    if (!dc->poll) {
        dc->poll = xcalloc(1, sizeof *dc->poll);
        if (uv_poll_init(dc->pool->loop, dc->poll, fd) < 0) {
            free(dc->poll);
            dc->poll = NULL;
            return -1;
        }
        dc->pool->open_handles++;
        dc->poll->data = dc;
        dc->fd = fd;
        dc->events = 0;
    }
    if (events != dc->events) {
        if (uv_poll_start(dc->poll, events, conn_on_poll) < 0)
            return -1;
        dc->events = events;
    }
    return 0;
}

/* ---- connection life */

static void retry_fire(uv_timer_t *t)
{
    conn_connect(t->data);
}

static void pool_fail_waiting(struct db_pool *p, const char *why)
{
    while (p->waiting) {
        struct db_call *c = p->waiting;
        p->waiting = c->next;
        if (!p->waiting)
            p->waiting_tail = NULL;
        call_set_error(c, DB_UNAVAILABLE, "08006", why);
        call_finish(c);
    }
}

static int pool_connecting(const struct db_pool *p)
{
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].state == DBC_CONNECTING)
            return 1;
    return 0;
}

int db_backoff_next(int ms)
{
    ms = ms ? ms * 2 : 100;
    return ms > 2000 ? 2000 : ms;
}

static void conn_schedule_retry(struct db_conn *dc)
{
    dc->backoff_ms = db_backoff_next(dc->backoff_ms);
    uv_timer_start(&dc->retry, retry_fire, (uint64_t)dc->backoff_ms, 0);
}

static void conn_connect_failed(struct db_conn *dc, const char *why)
{
    if (!dc->pool->closing && (dc->backoff_ms == 0 || log_enabled(LOG_DEBUG)))
        log_warn(0, 0, "database connection %d failed: %s", dc->index, why);
    conn_unwatch(dc);
    if (dc->pg)
        PQfinish(dc->pg);
    dc->pg = NULL;
    dc->state = DBC_DOWN;
    struct db_pool *p = dc->pool;
    if (!pool_connecting(p) && db_pool_ready(p) == 0)
        pool_fail_waiting(p, "database unavailable");
    if (!p->closing)
        conn_schedule_retry(dc);
}

/* A connection's settings that PostgreSQL refused: said, not hidden (the
 * connection still serves, with the defaults). */
static void setup_done(const struct db_result *res, void *arg)
{
    struct db_conn *dc = arg;
    if (res->outcome == DB_ERROR)
        log_error(0, 0, "database connection %d: its settings were refused: %s", dc->index, res->message);
}

static void listening(const struct db_result *res, void *arg)
{
    struct db_conn *dc = arg;
    if (res->outcome == DB_ERROR)
        log_error(0, 0, "database connection %d: LISTEN refused: %s", dc->index, res->message);
    if (res->outcome != DB_OK)
        return; /* lost: the reconnection LISTENs again */
    if (dc->pool->on_listening)
        dc->pool->on_listening(dc->pool->notify_arg);
}

static void conn_ready(struct db_conn *dc)
{
    if (PQsetnonblocking(dc->pg, 1) != 0 || PQenterPipelineMode(dc->pg) != 1) {
        conn_connect_failed(dc, PQerrorMessage(dc->pg));
        return;
    }
    if (dc->backoff_ms)
        log_info(0, 0, "database connection %d is back", dc->index);
    else
        log_debug(0, 0, "database connection %d ready", dc->index);
    dc->state = DBC_READY;
    dc->backoff_ms = 0;
    if (dc->prepared)
        memset(dc->prepared, 0, (size_t)dc->nprepared);
    if (conn_watch(dc, UV_READABLE) < 0) {
        conn_broken(dc, "cannot watch the socket");
        return;
    }
    struct db_pool *p = dc->pool;
    if (dc->listener) {
        char *quoted = PQescapeIdentifier(dc->pg, p->channel, strlen(p->channel));
        char sql[160];
        snprintf(sql, sizeof sql, "LISTEN %s", quoted ? quoted : "kehu");
        PQfreemem(quoted);
        struct db_call *listen = db_call_new(p, listening, dc);
        db_call_add_sql(listen, sql, 0, NULL);
        conn_defer(dc, listen);
        return;
    }
    /* one statement per setting: a prepared statement (the extended
     * protocol) takes a single command */
    struct db_call *setup = db_call_new(p, setup_done, dc);
    char *sql = xstrdup(p->setup_sql), *save = NULL;
    for (char *one = strtok_r(sql, ";", &save); one; one = strtok_r(NULL, ";", &save))
        if (one[strspn(one, " \t\n")])
            db_call_add_sql(setup, one, 0, NULL);
    free(sql);
    conn_defer(dc, setup);
    struct db_call *w = p->waiting;
    p->waiting = p->waiting_tail = NULL;
    while (w) {
        struct db_call *next = w->next;
        pool_send(p, w);
        w = next;
    }
}

static void conn_connect_step(struct db_conn *dc)
{
    switch (PQconnectPoll(dc->pg)) {
    case PGRES_POLLING_READING:
        if (conn_watch(dc, UV_READABLE) < 0)
            conn_connect_failed(dc, "cannot watch the socket");
        break;
    case PGRES_POLLING_WRITING:
        if (conn_watch(dc, UV_WRITABLE) < 0)
            conn_connect_failed(dc, "cannot watch the socket");
        break;
    case PGRES_POLLING_OK:
        conn_ready(dc);
        break;
    default:
        conn_connect_failed(dc, PQerrorMessage(dc->pg));
        break;
    }
}

static void conn_connect(struct db_conn *dc)
{
    if (dc->pool->closing)
        return;
    dc->pg = PQconnectStart(dc->pool->conninfo);
    if (!dc->pg || PQstatus(dc->pg) == CONNECTION_BAD) {
        conn_connect_failed(dc, dc->pg ? PQerrorMessage(dc->pg) : "out of memory");
        return;
    }
    dc->state = DBC_CONNECTING;
    /* libpq: behave as if PQconnectPoll had asked for writable */
    if (conn_watch(dc, UV_WRITABLE) < 0)
        conn_connect_failed(dc, "cannot watch the socket");
}

/* The connection is gone: fail what it carried and start again. */
static void conn_broken(struct db_conn *dc, const char *why)
{
    struct db_pool *p = dc->pool;
    if (!p->closing)
        log_warn(0, 0, "database connection %d lost: %s", dc->index, why);
    conn_unwatch(dc);
    if (dc->pg)
        PQfinish(dc->pg);
    dc->pg = NULL;
    dc->state = DBC_DOWN;
    struct db_call *c = dc->head;
    dc->head = dc->tail = NULL;
    dc->inflight = 0;
    struct db_call *pend = dc->pend;
    dc->pend = dc->pend_tail = NULL;
    dc->npend = 0;
    while (c) {
        struct db_call *next = c->next;
        call_set_error(c, DB_UNAVAILABLE, "08006", "database unavailable");
        call_finish(c);
        c = next;
    }
    if (!p->closing) {
        dc->backoff_ms = 0;
        conn_schedule_retry(dc);
    }
    /* not sent yet: another connection takes them (or they wait, or fail
     * when none is coming); this connection's own setup is dropped */
    while (pend) {
        struct db_call *next = pend->next;
        if (pend->cb)
            pool_send(p, pend);
        else
            call_free(pend);
        pend = next;
    }
}

/* ---- sending */

static int conn_flush(struct db_conn *dc)
{
    int r = PQflush(dc->pg);
    if (r < 0) {
        conn_broken(dc, PQerrorMessage(dc->pg));
        return -1;
    }
    if (conn_watch(dc, r == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) < 0) {
        conn_broken(dc, "cannot watch the socket");
        return -1;
    }
    return 0;
}

static void stmt_name(char *buf, size_t n, const struct db_stmt *st)
{
    snprintf(buf, n, "k%d", st->id);
}

static int is_prepared(struct db_conn *dc, int id)
{
    return id < dc->nprepared && dc->prepared[id];
}

static void set_prepared(struct db_conn *dc, int id, int on)
{
    if (id >= dc->nprepared) {
        int n = id + 64;
        dc->prepared = xrealloc(dc->prepared, (size_t)n);
        memset(dc->prepared + dc->nprepared, 0, (size_t)(n - dc->nprepared));
        dc->nprepared = n;
    }
    dc->prepared[id] = (unsigned char)on;
}

static void conn_enqueue(struct db_conn *dc, struct db_call *c)
{
    c->res = xcalloc((size_t)(c->nstmt ? c->nstmt : 1), sizeof(PGresult *));
    c->cur = 0;
    c->queued_at = uv_now(dc->pool->loop);
    push(&dc->head, &dc->tail, c);
    dc->inflight++;
}

/* Prepares, in a segment of its own, the call's statements this connection
 * has not seen yet: a failure there must not swallow the call's statements. */
static int conn_prepare_missing(struct db_conn *dc, struct db_call *c)
{
    struct db_call *prep = NULL;
    char name[32];
    for (int i = 0; i < c->nstmt; i++) {
        struct db_stmt *st = c->stmts[i].st;
        if (!st || is_prepared(dc, st->id))
            continue;
        if (!prep)
            prep = db_call_new(dc->pool, NULL, NULL);
        int dup = 0;
        for (int j = 0; j < prep->nstmt; j++)
            dup |= prep->stmts[j].st == st;
        if (dup)
            continue;
        db_call_add(prep, st, 0, NULL);
        prep->prepare_only = 1;
        stmt_name(name, sizeof name, st);
        if (!PQsendPrepare(dc->pg, name, st->sql, c->stmts[i].nparams, NULL)) {
            call_free(prep);
            return -1;
        }
        set_prepared(dc, st->id, 1);
    }
    if (!prep)
        return 0;
    if (!PQpipelineSync(dc->pg)) {
        call_free(prep);
        return -1;
    }
    conn_enqueue(dc, prep);
    return 0;
}

static void conn_send(struct db_conn *dc, struct db_call *c)
{
    char name[32];
    if (conn_prepare_missing(dc, c) < 0)
        goto broken;
    for (int i = 0; i < c->nstmt; i++) {
        struct call_stmt *cs = &c->stmts[i];
        const char *const *params = (const char *const *)cs->params;
        if (cs->st) {
            stmt_name(name, sizeof name, cs->st);
            if (!PQsendQueryPrepared(dc->pg, name, cs->nparams, params, NULL, NULL, 0))
                goto broken;
        } else if (!PQsendQueryParams(dc->pg, cs->sql, cs->nparams, NULL, params, NULL, NULL, 0)) {
            goto broken;
        }
    }
#ifdef LIBPQ_HAS_SEND_PIPELINE_SYNC
    if (!PQsendPipelineSync(dc->pg)) /* the flush is the turn's (turn_send) */
        goto broken;
#else
    if (!PQpipelineSync(dc->pg)) /* libpq before 17 pushes here: corked by turn_send */
        goto broken;
#endif
    conn_enqueue(dc, c);
    return;
broken:
    /* the call joins the FIFO so that conn_broken fails it with the rest */
    conn_enqueue(dc, c);
    conn_broken(dc, PQerrorMessage(dc->pg));
}

/* The calls a loop turn makes leave together: each connection's are sent
 * before the loop next waits for I/O, with one flush, instead of one write
 * per call. */
static void conn_defer(struct db_conn *dc, struct db_call *c)
{
    push(&dc->pend, &dc->pend_tail, c);
    dc->npend++;
    struct db_pool *p = dc->pool;
    if (!p->in_turn && !uv_is_active((uv_handle_t *)&p->turn))
        uv_idle_start(&p->turn, turn_send);
}

static void cork(struct db_conn *dc, int on)
{
#if !defined(LIBPQ_HAS_SEND_PIPELINE_SYNC) && defined(TCP_CORK)
    /* libpq before 17 flushes at every Sync: corked, the turn's calls still
     * leave the socket as one segment (a local socket has no TCP: no-op) */
    int fd = PQsocket(dc->pg);
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
#else
    (void)dc;
    (void)on;
#endif
}

static void turn_send(uv_idle_t *h)
{
    struct db_pool *p = h->data;
    uv_idle_stop(h);
    p->in_turn = 1; /* a call deferred meanwhile (a broken connection handed its calls on): the loop below */
    for (int again = 1; again;) {
        again = 0;
        for (int i = 0; i < p->nconns; i++) {
            struct db_conn *dc = &p->conns[i];
            if (!dc->pend || dc->state != DBC_READY)
                continue;
            int many = dc->npend > 1;
            if (many)
                cork(dc, 1);
            while (dc->pend && dc->state == DBC_READY) {
                struct db_call *c = dc->pend;
                dc->pend = c->next;
                if (!dc->pend)
                    dc->pend_tail = NULL;
                dc->npend--;
                conn_send(dc, c);
            }
            if (dc->state == DBC_READY) {
                if (many)
                    cork(dc, 0);
                conn_flush(dc);
            }
        }
        for (int i = 0; i < p->nconns; i++)
            again |= p->conns[i].pend && p->conns[i].state == DBC_READY;
    }
    p->in_turn = 0;
}

static void pool_send(struct db_pool *p, struct db_call *c)
{
    struct db_conn *best = NULL;
    for (int i = 0; i < p->size; i++) {
        struct db_conn *dc = &p->conns[i];
        if (dc->state == DBC_READY && (!best || dc->inflight + dc->npend < best->inflight + best->npend))
            best = dc;
    }
    if (best) {
        conn_defer(best, c);
    } else if (p->closing) { /* the loop is winding down: no later turn to wait for */
        call_set_error(c, DB_UNAVAILABLE, "08006", "server shutting down");
        call_finish(c);
    } else if (pool_connecting(p)) {
        c->queued_at = uv_now(p->loop);
        push(&p->waiting, &p->waiting_tail, c);
    } else {
        fail_later(p, c, "database unavailable");
    }
}

void db_call_send(struct db_call *c)
{
    pool_send(c->pool, c);
}

void db_query(struct db_pool *p, struct db_stmt *st, int nparams, const char *const *params, db_cb cb, void *arg)
{
    struct db_call *c = db_call_new(p, cb, arg);
    db_call_add(c, st, nparams, params);
    db_call_send(c);
}

/* ---- receiving */

static void conn_take_result(struct db_conn *dc, struct db_call *c, PGresult *r)
{
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        if (c->prepare_only) {
            PQclear(r);
        } else if (c->cur < c->nstmt && !c->res[c->cur]) {
            c->res[c->cur] = r;
        } else {
            PQclear(r);
        }
        break;
    case PGRES_PIPELINE_ABORTED:
        call_set_error(c, DB_ERROR, "25P02", "statement skipped after an earlier error");
        PQclear(r);
        break;
    default: {
        call_set_pg_error(c, r);
        if (c->prepare_only && c->cur < c->nstmt)
            set_prepared(dc, c->stmts[c->cur].st->id, 0);
        PQclear(r);
        break;
    }
    }
}

static void conn_read(struct db_conn *dc)
{
    if (!PQconsumeInput(dc->pg)) {
        conn_broken(dc, PQerrorMessage(dc->pg));
        return;
    }
    while (dc->state == DBC_READY && dc->head && !PQisBusy(dc->pg)) {
        struct db_call *c = dc->head;
        PGresult *r = PQgetResult(dc->pg);
        if (!r) { /* end of one statement's results */
            c->cur++;
            continue;
        }
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
            conn_take_result(dc, c, r);
            continue;
        }
        PQclear(r);
        dc->head = c->next;
        if (!dc->head)
            dc->tail = NULL;
        dc->inflight--;
        if (c->prepare_only && c->outcome != DB_OK) {
            log_error(0, 0, "preparing a statement failed: %s", c->message);
            for (int i = 0; i < c->nstmt; i++)
                set_prepared(dc, c->stmts[i].st->id, 0);
        }
        call_finish(c); /* may send more calls, even on this connection */
    }
    PGnotify *n;
    while (dc->state == DBC_READY && (n = PQnotifies(dc->pg))) {
        if (dc->pool->on_notify)
            dc->pool->on_notify(n->relname, n->extra, dc->pool->notify_arg);
        PQfreemem(n);
    }
    if (dc->state == DBC_READY && PQstatus(dc->pg) == CONNECTION_BAD)
        conn_broken(dc, PQerrorMessage(dc->pg));
}

static void conn_on_poll(uv_poll_t *h, int status, int events)
{
    struct db_conn *dc = h->data;
    if (dc->state == DBC_CONNECTING) {
        conn_connect_step(dc);
        return;
    }
    if (dc->state != DBC_READY)
        return;
    if (status < 0) {
        conn_broken(dc, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE) {
        if (conn_flush(dc) < 0)
            return;
    }
    if (events & UV_READABLE) {
        conn_read(dc);
        if (dc->state == DBC_READY && (dc->events & UV_WRITABLE))
            conn_flush(dc);
    }
}

/* ---- pool */

static void deliver_failed(uv_timer_t *t)
{
    struct db_pool *p = t->data;
    struct db_call *c = p->failed;
    p->failed = p->failed_tail = NULL;
    while (c) {
        struct db_call *next = c->next;
        call_finish(c);
        c = next;
    }
}

/* Gives up on round trips that take too long: a database that stopped
 * answering must not hang requests. */
static void janitor(uv_timer_t *t)
{
    struct db_pool *p = t->data;
    uint64_t now = uv_now(p->loop);
    for (int i = 0; i < p->nconns; i++) {
        struct db_conn *dc = &p->conns[i];
        if (dc->state == DBC_READY && dc->head && now - dc->head->queued_at > (uint64_t)p->timeout_ms)
            conn_broken(dc, "no answer within db_timeout");
    }
    uint64_t wait_limit = p->timeout_ms < 5000 ? (uint64_t)p->timeout_ms : 5000;
    if (p->waiting && now - p->waiting->queued_at > wait_limit)
        pool_fail_waiting(p, "database unavailable: no connection");
}

struct db_pool *db_pool_new(uv_loop_t *loop, const char *conninfo, int size, int timeout_ms, const char *channel,
                            db_notify_cb on_notify, void *arg)
{
    struct db_pool *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->conninfo = xstrdup(conninfo);
    p->size = size;
    p->nconns = size + (channel ? 1 : 0);
    p->timeout_ms = timeout_ms;
    p->channel = channel ? xstrdup(channel) : NULL;
    p->on_notify = on_notify;
    p->notify_arg = arg;
    /* Statements here are prepared once and run many times with different
     * parameters; planning each run (custom plans) cost more than running
     * it, measured on customer search: 3 ms planning, 1 ms execution.
     * No JIT: a generic plan's estimate covers every branch it may take
     * (a list's index way and walk of its order both), so a list that
     * reads 600 buffers in 3 ms passed jit_above_cost and spent 68 ms
     * compiling 63 functions, on every run. */
    p->setup_sql = xstrdup("SET plan_cache_mode = force_generic_plan; SET jit = off");
    p->conns = xcalloc((size_t)p->nconns, sizeof *p->conns);
    for (int i = 0; i < p->nconns; i++) {
        struct db_conn *dc = &p->conns[i];
        dc->pool = p;
        dc->index = i;
        dc->fd = -1;
        dc->listener = i >= size;
        uv_timer_init(loop, &dc->retry);
        dc->retry.data = dc;
        p->open_handles++;
    }
    uv_timer_init(loop, &p->janitor);
    p->janitor.data = p;
    uv_timer_init(loop, &p->later);
    p->later.data = p;
    uv_idle_init(loop, &p->turn);
    p->turn.data = p;
    p->open_handles += 3;
    return p;
}

void db_pool_start(struct db_pool *p)
{
    for (int i = 0; i < p->nconns; i++)
        conn_connect(&p->conns[i]);
    uv_timer_start(&p->janitor, janitor, 1000, 1000);
    uv_unref((uv_handle_t *)&p->janitor);
}

void db_pool_on_listening(struct db_pool *p, void (*on_listening)(void *arg))
{
    p->on_listening = on_listening;
}

void db_pool_set_setup(struct db_pool *p, const char *sql)
{
    free(p->setup_sql);
    p->setup_sql = xstrdup(sql);
}

int db_pool_ready(const struct db_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->size; i++)
        n += p->conns[i].state == DBC_READY;
    return n;
}

void db_pool_close(struct db_pool *p)
{
    p->closing = 1;
    for (int i = 0; i < p->nconns; i++) {
        struct db_conn *dc = &p->conns[i];
        if (dc->state == DBC_CONNECTING)
            conn_connect_failed(dc, "closing");
        else if (dc->state == DBC_READY)
            conn_broken(dc, "closing");
        uv_timer_stop(&dc->retry);
        free(dc->prepared);
        dc->prepared = NULL;
    }
    pool_fail_waiting(p, "server shutting down");
    deliver_failed(&p->later);
    for (int i = 0; i < p->nconns; i++) {
        p->conns[i].retry.data = p;
        uv_close((uv_handle_t *)&p->conns[i].retry, embedded_closed);
    }
    uv_close((uv_handle_t *)&p->janitor, embedded_closed);
    uv_close((uv_handle_t *)&p->later, embedded_closed);
    uv_close((uv_handle_t *)&p->turn, embedded_closed);
}
