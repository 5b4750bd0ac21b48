#include "db_copy.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

enum copy_state { X_CONNECTING, X_IDLE, X_BUSY, X_COPY_PUT, X_COPYING, X_ENDING, X_DEAD };

struct db_copy {
    uv_loop_t *loop;
    PGconn *pg;
    uv_poll_t *poll;
    int fd, events;
    enum copy_state state;
    db_cb cb;
    void *arg;
    PGresult *last;      /* the operation's last result */
    char *pending;       /* COPY data not yet accepted by libpq */
    size_t pending_len;
    uv_timer_t *failed;  /* reports a connection that could not even start, on the next turn */
    int in_callback;     /* closing from inside a callback waits until it returns */
    void (*notice)(const char *message, void *arg);
    void *notice_arg;
    int doomed;
};

static void release(struct db_copy *x);

static void on_poll(uv_poll_t *h, int status, int events);

static void poll_closed(uv_handle_t *h)
{
    free(h);
}

static void unwatch(struct db_copy *x)
{
    if (x->poll) {
        uv_poll_stop(x->poll);
        uv_close((uv_handle_t *)x->poll, poll_closed);
        x->poll = NULL;
    }
    x->fd = -1;
    x->events = 0;
}

static int watch(struct db_copy *x, int events)
{
    int fd = PQsocket(x->pg);
    if (fd < 0)
        return -1;
    if (x->poll && x->fd != fd)
        unwatch(x);
    if (!x->poll) {
        x->poll = xcalloc(1, sizeof *x->poll);
        if (uv_poll_init(x->loop, x->poll, fd) < 0) {
            free(x->poll);
            x->poll = NULL;
            return -1;
        }
        x->poll->data = x;
        x->fd = fd;
        x->events = 0;
    }
    if (events != x->events) {
        if (uv_poll_start(x->poll, events, on_poll) < 0)
            return -1;
        x->events = events;
    }
    return 0;
}

/* Calls the operation's callback once, with the last result. Every caller
 * returns right after: the callback may have closed x. */
static void finish(struct db_copy *x, enum db_outcome outcome, const char *message)
{
    db_cb cb = x->cb;
    void *arg = x->arg;
    x->cb = NULL;
    PGresult *last = x->last;
    x->last = NULL;
    struct db_result r = {
        .outcome = outcome, .failed_stmt = -1, .message = message ? message : "", .primary = "", .column = "", .constraint = "", .detail = ""
    };
    PGresult *res[1] = { last };
    r.res = res;
    r.nres = 1;
    if (last && outcome == DB_ERROR) {
        const char *st = PQresultErrorField(last, PG_DIAG_SQLSTATE);
        snprintf(r.sqlstate, sizeof r.sqlstate, "%s", st ? st : "");
        r.message = PQresultErrorMessage(last);
        const char *p = PQresultErrorField(last, PG_DIAG_MESSAGE_PRIMARY),
                   *col = PQresultErrorField(last, PG_DIAG_COLUMN_NAME),
                   *con = PQresultErrorField(last, PG_DIAG_CONSTRAINT_NAME);
        r.primary = p ? p : "";
        r.column = col ? col : "";
        r.constraint = con ? con : "";
        const char *det = PQresultErrorField(last, PG_DIAG_MESSAGE_DETAIL);
        r.detail = det ? det : "";
        r.failed_stmt = 0;
    }
    x->in_callback++;
    if (cb)
        cb(&r, arg);
    x->in_callback--;
    if (last)
        PQclear(last);
    if (x->doomed && x->in_callback == 0)
        release(x);
}

static void dead(struct db_copy *x, const char *why)
{
    if (x->state == X_DEAD)
        return;
    log_warn(0, 0, "import connection lost: %s", why);
    x->state = X_DEAD;
    unwatch(x);
    finish(x, DB_UNAVAILABLE, "database unavailable");
}

static int flush_out(struct db_copy *x)
{
    int r = PQflush(x->pg);
    if (r < 0) {
        dead(x, PQerrorMessage(x->pg));
        return -1;
    }
    if (watch(x, r == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) < 0) {
        dead(x, "cannot watch the socket");
        return -1;
    }
    return r;
}

/* Collects results until the operation is over. */
static void read_results(struct db_copy *x)
{
    if (!PQconsumeInput(x->pg)) {
        dead(x, PQerrorMessage(x->pg));
        return;
    }
    while (x->state == X_BUSY || x->state == X_ENDING) {
        if (PQisBusy(x->pg))
            return;
        PGresult *r = PQgetResult(x->pg);
        if (!r) { /* the operation is over */
            int ok = !x->last || PQresultStatus(x->last) == PGRES_COMMAND_OK ||
                     PQresultStatus(x->last) == PGRES_TUPLES_OK;
            x->state = X_IDLE;
            finish(x, ok ? DB_OK : DB_ERROR, NULL);
            return;
        }
        if (PQresultStatus(r) == PGRES_COPY_IN) { /* ready for data */
            PQclear(r);
            x->state = X_COPYING;
            finish(x, DB_OK, NULL);
            return;
        }
        /* keep the first error, else the latest result */
        if (x->last && PQresultStatus(x->last) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            if (x->last)
                PQclear(x->last);
            x->last = r;
        }
    }
}

/* Offers the pending COPY data to libpq; done when all of it was taken. */
static void put_pending(struct db_copy *x)
{
    while (x->pending_len > 0) {
        int r = PQputCopyData(x->pg, x->pending, (int)x->pending_len);
        if (r < 0) {
            dead(x, PQerrorMessage(x->pg));
            return;
        }
        if (r == 0) /* libpq's buffer is full: wait for writable */
            break;
        free(x->pending);
        x->pending = NULL;
        x->pending_len = 0;
    }
    int f = flush_out(x);
    if (f < 0)
        return;
    if (x->pending_len == 0 && f == 0) {
        x->state = X_COPYING;
        finish(x, DB_OK, NULL);
    } else if (watch(x, UV_READABLE | UV_WRITABLE) < 0) {
        dead(x, "cannot watch the socket");
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct db_copy *x = h->data;
    if (status < 0) {
        dead(x, uv_strerror(status));
        return;
    }
    switch (x->state) {
    case X_CONNECTING:
        switch (PQconnectPoll(x->pg)) {
        case PGRES_POLLING_READING:
            if (watch(x, UV_READABLE) < 0)
                dead(x, "cannot watch the socket");
            return;
        case PGRES_POLLING_WRITING:
            if (watch(x, UV_WRITABLE) < 0)
                dead(x, "cannot watch the socket");
            return;
        case PGRES_POLLING_OK:
            if (PQsetnonblocking(x->pg, 1) != 0 || watch(x, UV_READABLE) < 0) {
                dead(x, PQerrorMessage(x->pg));
                return;
            }
            x->state = X_IDLE;
            finish(x, DB_OK, NULL);
            return;
        default:
            dead(x, PQerrorMessage(x->pg));
            return;
        }
    case X_COPY_PUT:
        if (events & UV_WRITABLE)
            put_pending(x);
        if (x->state == X_COPY_PUT && (events & UV_READABLE) && !PQconsumeInput(x->pg))
            dead(x, PQerrorMessage(x->pg));
        return;
    case X_BUSY:
    case X_ENDING:
        if ((events & UV_WRITABLE) && flush_out(x) < 0)
            return;
        if (events & UV_READABLE)
            read_results(x);
        return;
    default:
        /* idle or copying: notices or the server going away */
        if ((events & UV_READABLE) && (!PQconsumeInput(x->pg) || PQstatus(x->pg) == CONNECTION_BAD))
            dead(x, PQerrorMessage(x->pg));
        else if (events & UV_WRITABLE)
            flush_out(x);
        return;
    }
}

static int begin(struct db_copy *x, enum copy_state need, db_cb cb, void *arg)
{
    if (x->state != need) {
        struct db_result r = { .outcome = DB_UNAVAILABLE, .failed_stmt = -1,
                               .message = x->state == X_DEAD ? "database unavailable" : "import connection busy" };
        cb(&r, arg);
        return -1;
    }
    x->cb = cb;
    x->arg = arg;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

static void report_failed_start(uv_timer_t *t)
{
    struct db_copy *x = t->data;
    uv_close((uv_handle_t *)t, timer_closed);
    x->failed = NULL;
    x->state = X_IDLE; /* so that dead() reports it */
    dead(x, x->pg ? PQerrorMessage(x->pg) : "out of memory");
}

struct db_copy *db_copy_open(uv_loop_t *loop, const char *conninfo, db_cb cb, void *arg)
{
    struct db_copy *x = xcalloc(1, sizeof *x);
    x->loop = loop;
    x->fd = -1;
    x->cb = cb;
    x->arg = arg;
    x->state = X_CONNECTING;
    x->pg = PQconnectStart(conninfo);
    if (!x->pg || PQstatus(x->pg) == CONNECTION_BAD || watch(x, UV_WRITABLE) < 0) {
        /* the callback must not run before the caller has the handle */
        x->failed = xcalloc(1, sizeof *x->failed);
        uv_timer_init(loop, x->failed);
        x->failed->data = x;
        uv_timer_start(x->failed, report_failed_start, 0, 0);
    }
    return x;
}

void db_copy_exec(struct db_copy *x, const char *sql, db_cb cb, void *arg)
{
    if (begin(x, X_IDLE, cb, arg) < 0)
        return;
    if (!PQsendQuery(x->pg, sql)) {
        dead(x, PQerrorMessage(x->pg));
        return;
    }
    x->state = X_BUSY;
    flush_out(x);
}

void db_copy_put(struct db_copy *x, const char *data, size_t len, db_cb cb, void *arg)
{
    if (begin(x, X_COPYING, cb, arg) < 0)
        return;
    x->pending = xmalloc(len ? len : 1);
    memcpy(x->pending, data, len);
    x->pending_len = len;
    x->state = X_COPY_PUT;
    put_pending(x);
}

void db_copy_end(struct db_copy *x, db_cb cb, void *arg)
{
    if (begin(x, X_COPYING, cb, arg) < 0)
        return;
    if (PQputCopyEnd(x->pg, NULL) < 0) {
        dead(x, PQerrorMessage(x->pg));
        return;
    }
    x->state = X_ENDING;
    flush_out(x);
}

static void notice_received(void *arg, const PGresult *res)
{
    struct db_copy *x = arg;
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (x->notice && msg && !x->doomed && x->state != X_DEAD)
        x->notice(msg, x->notice_arg);
}

void db_copy_on_notice(struct db_copy *x, void (*cb)(const char *message, void *arg), void *arg)
{
    x->notice = cb;
    x->notice_arg = arg;
    if (x->pg)
        PQsetNoticeReceiver(x->pg, notice_received, x);
}

static void release(struct db_copy *x)
{
    free(x->pending);
    free(x);
}

void db_copy_close(struct db_copy *x)
{
    if (!x)
        return;
    x->cb = NULL;
    unwatch(x);
    if (x->pg)
        PQfinish(x->pg);
    x->pg = NULL;
    x->state = X_DEAD;
    if (x->failed) {
        uv_timer_stop(x->failed);
        uv_close((uv_handle_t *)x->failed, timer_closed);
    }
    if (x->last)
        PQclear(x->last);
    x->last = NULL;
    if (x->in_callback)
        x->doomed = 1; /* finish() releases it once the callback returns */
    else
        release(x);
}
