#include "audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "migrate.h"
#include "rpc.h"
#include "server.h"

#define AUDIT_FLUSH_MS 10       /* how long a read's record may wait to be written */
#define AUDIT_BATCH 512         /* records that are written at once without waiting */
#define AUDIT_QUEUE_MAX 200000  /* records kept while the database is away; older ones are dropped beyond */
#define AUDIT_RETRY_MS 1000     /* after a failed flush */
#define AUDIT_IDS_MAX 10000     /* customers named in one record (an export page names at most 1000) */

/* One queued record; its strings are its own. */
struct record {
    int64_t at_us, user_id;
    char *username, *peer, *action, *customers, *detail;
    const char *result;
};

struct audit_state {
    struct server *srv;
    struct db_pool *pool;       /* one connection of its own: a batch waiting for its commit holds up no request */
    uv_timer_t timer;
    struct record *q;           /* queued, oldest first */
    size_t n, cap;
    struct record *flying;      /* the batch being written */
    size_t n_flying;
    int retry_wait;             /* a failed flush: wait before the next */
    uint64_t dropped;
    void (*stopped)(struct server *s);
};

static struct audit_state *state;  /* one server per process */

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void record_free(struct record *rec)
{
    free(rec->username);
    free(rec->peer);
    free(rec->action);
    free(rec->customers);
    free(rec->detail);
}

/* "{1,2,3}" of a request's customers, malloc'd. */
static char *ids_literal(const int64_t *ids, size_t n)
{
    if (n > AUDIT_IDS_MAX)
        n = AUDIT_IDS_MAX;
    char *s = xmalloc(n * 21 + 3), *p = s;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%lld", i ? "," : "", (long long)ids[i]);
    *p++ = '}';
    *p = 0;
    return s;
}

/* ---- writing batches */

static void flush(struct audit_state *a);

static void stop_if_done(struct audit_state *a)
{
    if (a->stopped && !a->flying && (a->n == 0 || a->retry_wait)) {
        if (a->n)
            log_error(0, 0, "audit: %zu record(s) of reads could not be written before stopping", a->n);
        void (*done)(struct server *) = a->stopped;
        a->stopped = NULL;
        uv_timer_stop(&a->timer);
        done(a->srv);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct audit_state *a = t->data;
    a->retry_wait = 0;
    flush(a);
}

static void flushed(const struct db_result *res, void *arg)
{
    struct audit_state *a = arg;
    if (res->outcome != DB_OK) {
        log_error(0, 0, "audit: writing %zu record(s) failed (%s), retrying in %d ms", a->n_flying,
                  res->message ? res->message : "?", AUDIT_RETRY_MS);
        /* put them back in front, dropping the oldest beyond the limit */
        size_t keep = a->n_flying;
        if (keep + a->n > AUDIT_QUEUE_MAX) {
            size_t drop = keep + a->n - AUDIT_QUEUE_MAX;
            if (drop > keep)
                drop = keep;
            for (size_t i = 0; i < drop; i++)
                record_free(&a->flying[i]);
            a->dropped += drop;
            log_error(0, 0, "audit: %zu record(s) of reads dropped (%llu so far)", drop,
                      (unsigned long long)a->dropped);
            memmove(a->flying, a->flying + drop, (keep - drop) * sizeof *a->flying);
            keep -= drop;
        }
        if (a->n + keep > a->cap) {
            a->cap = a->n + keep;
            a->q = xrealloc(a->q, a->cap * sizeof *a->q);
        }
        memmove(a->q + keep, a->q, a->n * sizeof *a->q);
        memcpy(a->q, a->flying, keep * sizeof *a->q);
        a->n += keep;
        free(a->flying);
        a->flying = NULL;
        a->n_flying = 0;
        a->retry_wait = 1;
        uv_timer_start(&a->timer, on_timer, AUDIT_RETRY_MS, 0);
        stop_if_done(a);
        return;
    }
    for (size_t i = 0; i < a->n_flying; i++)
        record_free(&a->flying[i]);
    free(a->flying);
    a->flying = NULL;
    a->n_flying = 0;
    if (a->n)
        flush(a);
    stop_if_done(a);
}

static struct db_stmt append_stmt = DB_STMT("SELECT audit_append($1::bigint[], $2::bigint[], $3::text[], $4::text[],"
                                            " $5::text[], $6::text[], $7::text[], $8::text[])");

static void flush(struct audit_state *a)
{
    if (a->flying || a->n == 0 || a->retry_wait)
        return;
    uv_timer_stop(&a->timer);
    size_t n = a->n < AUDIT_BATCH * 4 ? a->n : AUDIT_BATCH * 4;
    a->flying = xmalloc(n * sizeof *a->flying);
    memcpy(a->flying, a->q, n * sizeof *a->q);
    memmove(a->q, a->q + n, (a->n - n) * sizeof *a->q);
    a->n -= n;
    a->n_flying = n;

    struct arena ar = { 0 };
    const char **col[6];
    for (int k = 0; k < 6; k++)
        col[k] = arena_alloc(&ar, n * sizeof(char *));
    size_t numlen = n * 22 + 3;
    char *ats = arena_alloc(&ar, numlen), *uids = arena_alloc(&ar, numlen);
    char *pa = ats, *pu = uids;
    *pa++ = '{';
    *pu++ = '{';
    for (size_t i = 0; i < n; i++) {
        const struct record *rec = &a->flying[i];
        pa += sprintf(pa, "%s%lld", i ? "," : "", (long long)rec->at_us);
        pu += sprintf(pu, "%s%lld", i ? "," : "", (long long)rec->user_id);
        col[0][i] = rec->username;
        col[1][i] = rec->peer;
        col[2][i] = rec->action;
        col[3][i] = rec->customers;
        col[4][i] = rec->detail;
        col[5][i] = rec->result;
    }
    strcpy(pa, "}");
    strcpy(pu, "}");
    const char *p[8] = { ats, uids };
    for (int k = 0; k < 6; k++)
        p[2 + k] = rpc_pg_array(&ar, col[k], n);
    db_query(a->pool, &append_stmt, 8, p, flushed, a); /* copies the parameters */
    arena_free(&ar);
}

static void enqueue(struct audit_state *a, struct record *rec)
{
    if (a->n >= AUDIT_QUEUE_MAX) {
        record_free(rec);
        if (a->dropped++ % 1000 == 0)
            log_error(0, 0, "audit: the queue of reads is full (the database is away?): %llu record(s) dropped",
                      (unsigned long long)a->dropped);
        return;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->q = xrealloc(a->q, a->cap * sizeof *a->q);
    }
    a->q[a->n++] = *rec;
    if (a->retry_wait || a->flying)
        return; /* the timer or the batch in flight will come back for it */
    if (a->n >= AUDIT_BATCH)
        flush(a);
    else if (!uv_is_active((uv_handle_t *)&a->timer))
        uv_timer_start(&a->timer, on_timer, AUDIT_FLUSH_MS, 0);
}

void audit_start(struct server *s)
{
    struct audit_state *a = xcalloc(1, sizeof *a);
    a->srv = s;
    a->pool = db_pool_new(s->loop, s->cfg.db, 1, s->cfg.db_timeout * 1000, NULL, NULL, NULL);
    db_pool_start(a->pool);
    uv_timer_init(s->loop, &a->timer);
    a->timer.data = a;
    state = a;
}

static void timer_closed(uv_handle_t *h)
{
    struct audit_state *a = h->data;
    for (size_t i = 0; i < a->n; i++)
        record_free(&a->q[i]);
    free(a->q);
    free(a);
}

static void (*stop_then)(struct server *s);

static void stop_done(struct server *s)
{
    struct audit_state *a = state;
    state = NULL;
    db_pool_close(a->pool);
    uv_close((uv_handle_t *)&a->timer, timer_closed);
    stop_then(s);
}

void audit_stop(struct server *s, void (*done)(struct server *s))
{
    struct audit_state *a = state;
    if (!a) {
        done(s);
        return;
    }
    stop_then = done;
    a->stopped = stop_done;
    a->retry_wait = 0; /* one last try */
    flush(a);
    stop_if_done(a);
}

void audit_check_role(PGconn *pg)
{
    PGresult *r = PQexec(pg, "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
                             " (SELECT pg_get_userbyid(relowner) = current_user FROM pg_class"
                             "  WHERE oid = to_regclass('audit_log'))");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        const char *role = PQgetvalue(r, 0, 0);
        if (PQgetvalue(r, 0, 1)[0] == 't')
            log_warn(0, 0, "the database role %s is a superuser: the audit trail is not protected from this role"
                           " (serve as kehu_app, migrate with db_owner)", role);
        else if (PQgetvalue(r, 0, 2)[0] == 't')
            log_warn(0, 0, "the database role %s owns audit_log: the audit trail is not protected from this role",
                     role);
    }
    PQclear(r);
}

/* ---- requests */

void audit_request_begin(struct req *r)
{
    r->audit.at_us = wall_us();
    r->audit.detail = "";
    const struct principal *who = &r->conn->who;
    r->audit.user_id = who->user_id;
    snprintf(r->audit.username, sizeof r->audit.username, "%s", who->user_id ? who->username : "");
}

void audit_note_customer(struct req *r, int64_t id)
{
    struct req_audit *a = &r->audit;
    if (id <= 0)
        return;
    size_t from = a->n_customers > 16 ? a->n_customers - 16 : 0;
    for (size_t i = from; i < a->n_customers; i++)
        if (a->customers[i] == id)
            return;
    if (a->n_customers == a->cap_customers) {
        size_t cap = a->cap_customers ? a->cap_customers * 2 : 4;
        int64_t *ids = arena_alloc(&r->arena, cap * sizeof *ids);
        if (a->n_customers)
            memcpy(ids, a->customers, a->n_customers * sizeof *ids);
        a->customers = ids;
        a->cap_customers = cap;
    }
    a->customers[a->n_customers++] = id;
}

void audit_note_unmasked(struct req *r)
{
    r->audit.n_unmasked++;
}

/* The record's free text: the handler's, and how many customers were shown
 * unmasked (unmasking is audited as such). */
static const char *record_detail(struct req *r)
{
    const char *d = r->audit.detail ? r->audit.detail : "";
    if (!r->audit.n_unmasked)
        return d;
    return arena_printf(&r->arena, "%s%sunmasked: %zu customer%s", d, *d ? "; " : "", r->audit.n_unmasked,
                        r->audit.n_unmasked == 1 ? "" : "s");
}

void audit_note_detail(struct req *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->audit.detail = arena_strdup(&r->arena, buf);
}

/* Who the record names: the user logged in when the request ended (a login
 * names its user), else the one it began with (a logout), else the name a
 * failed login tried. */
static void record_who(struct req *r, int64_t *user_id, const char **username)
{
    const struct principal *who = &r->conn->who;
    if (who->user_id) {
        *user_id = who->user_id;
        *username = who->username;
    } else if (r->audit.user_id) {
        *user_id = r->audit.user_id;
        *username = r->audit.username;
    } else {
        *user_id = 0;
        *username = r->msg && !r->unsound && r->msg->op_case == KEHU__V1__REQUEST__OP_LOGIN && r->msg->login &&
                            r->msg->login->username
                        ? r->msg->login->username
                        : "";
    }
}

static int is_last_chunk(const struct req *r)
{
    switch (r->msg->op_case) {
    case KEHU__V1__REQUEST__OP_ADMIN_BACKUP: /* the chunk that says the backup is complete */
        return r->resp.result_case == KEHU__V1__RESPONSE__RESULT_ADMIN_BACKUP && r->resp.admin_backup &&
               r->resp.admin_backup->done;
    case KEHU__V1__REQUEST__OP_IMPORT_CHUNK:
        return r->msg->import_chunk && r->msg->import_chunk->last;
    case KEHU__V1__REQUEST__OP_DOC_PUT:
        return r->msg->doc_put && r->msg->doc_put->last;
    default:
        return 1;
    }
}

void audit_request_done(struct req *r)
{
    struct audit_state *a = state;
    if (!a || !r->rpc || !r->msg || (r->rpc->flags & RPC_NO_AUDIT))
        return;
    int ok = r->status.code == KEHU__V1__CODE__OK;
    if (r->audit.written && ok)
        return; /* committed with the change */
    /* a chunked upload is one record, at its last chunk, unless a chunk fails */
    if ((r->rpc->flags & RPC_AUDIT_LAST) && ok && !is_last_chunk(r))
        return;
    struct record rec = { 0 };
    int64_t uid;
    const char *uname;
    record_who(r, &uid, &uname);
    rec.at_us = r->audit.at_us;
    rec.user_id = uid;
    rec.username = xstrdup(uname);
    rec.peer = xstrdup(r->conn->peer);
    rec.action = xstrdup(r->rpc->name);
    rec.customers = ids_literal(r->audit.customers, r->audit.n_customers);
    rec.detail = xstrdup(record_detail(r));
    rec.result = ok ? "ok" : wire_code_name(r->status.code);
    enqueue(a, &rec);
}

void audit_record(int64_t at_us, int64_t user_id, const char *username, const char *peer, const char *action,
                  const char *detail, const char *result)
{
    struct audit_state *a = state;
    if (!a)
        return;
    struct record rec = { 0 };
    rec.at_us = at_us ? at_us : wall_us();
    rec.user_id = user_id;
    rec.username = xstrdup(username ? username : "");
    rec.peer = xstrdup(peer ? peer : "");
    rec.action = xstrdup(action);
    rec.customers = xstrdup("{}");
    rec.detail = xstrdup(detail ? detail : "");
    rec.result = result;
    enqueue(a, &rec);
}

/* ---- changes */

static struct db_stmt change_stmt =
    DB_STMT("SELECT audit_change($1::bigint, $2::bigint, $3, $4, $5, $6::bigint[], $7, $8::boolean)");

static void change_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct db_result own = *res;
    if (own.nres > 0) {
        if (res->outcome == DB_OK)
            r->audit.written = db_get(res, res->nres - 1, 0, 0) != NULL;
        own.nres--;
        if (own.failed_stmt == own.nres) /* the record itself failed: the change rolled back with it */
            log_error(r->conn->id, r->id, "%s: writing its audit record failed: %s", r->rpc->name,
                      res->message ? res->message : "?");
    }
    r->audit.then(&own, r);
}

static void add_change_record(struct req *r, struct db_call *call)
{
    int64_t uid;
    const char *uname;
    record_who(r, &uid, &uname);
    char *ids = ids_literal(r->audit.customers, r->audit.n_customers);
    const char *p[8] = { arena_printf(&r->arena, "%lld", (long long)r->audit.at_us),
                         arena_printf(&r->arena, "%lld", (long long)uid),
                         uname,
                         r->conn->peer,
                         r->rpc->name,
                         arena_strdup(&r->arena, ids),
                         record_detail(r),
                         /* an add names the customer it made, known only inside its transaction */
                         r->msg->op_case == KEHU__V1__REQUEST__OP_CUSTOMER_ADD ? "true" : "false" };
    free(ids);
    db_call_add(call, &change_stmt, 8, p);
}

void audit_call_send(struct req *r, struct db_call *call)
{
    add_change_record(r, call);
    void *arg;
    r->audit.then = db_call_swap_cb(call, change_done, r, &arg);
    if (arg != r)
        fatal("audit_call_send: the call's argument must be its request");
    db_call_send(call);
}

void audit_query(struct req *r, struct db_stmt *st, int nparams, const char *const *params, db_cb cb)
{
    struct db_call *call = db_call_new(r->srv->db, cb, r);
    db_call_add(call, st, nparams, params);
    audit_call_send(r, call);
}

/* Appends s to b as an SQL string literal (standard_conforming_strings). */
static size_t put_literal(char *b, size_t at, size_t size, const char *s)
{
    if (at < size)
        b[at] = '\'';
    at++;
    for (; *s; s++) {
        if (*s == '\'') {
            if (at < size)
                b[at] = '\'';
            at++;
        }
        if (at < size)
            b[at] = *s;
        at++;
    }
    if (at < size)
        b[at] = '\'';
    return at + 1;
}

const char *audit_commit_sql(struct server *s, struct req *r, int64_t actor, const char *action, const char *detail)
{
    static char sql[4096];
    (void)s;
    int64_t uid = actor;
    const char *uname = actor ? "" : "kehud", *peer = "";
    int64_t at = wall_us();
    if (r) {
        record_who(r, &uid, &uname);
        peer = r->conn->peer;
        at = r->audit.at_us;
        r->audit.written = 1;
    }
    size_t n = (size_t)snprintf(sql, sizeof sql, "SELECT audit_change(%lld, %lld, ", (long long)at, (long long)uid);
    n = put_literal(sql, n, sizeof sql, uname);
    n += n < sizeof sql ? (size_t)snprintf(sql + n, sizeof sql - n, ", ") : 0;
    n = put_literal(sql, n, sizeof sql, peer);
    n += n < sizeof sql ? (size_t)snprintf(sql + n, sizeof sql - n, ", ") : 0;
    n = put_literal(sql, n, sizeof sql, action);
    n += n < sizeof sql ? (size_t)snprintf(sql + n, sizeof sql - n, ", '{}', ") : 0;
    n = put_literal(sql, n, sizeof sql, detail ? detail : "");
    n += n < sizeof sql ? (size_t)snprintf(sql + n, sizeof sql - n, ", false); COMMIT") : 0;
    if (n >= sizeof sql)
        fatal("audit_commit_sql: the record does not fit");
    return sql;
}
