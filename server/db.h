/* The asynchronous PostgreSQL pool.
 *
 * A few libpq connections in pipeline mode, watched with uv_poll on the one
 * loop. A call is one statement or several; the statements of a call are
 * sent back to back and closed by one Sync, so PostgreSQL runs them as one
 * implicit transaction: all commit or none do. Calls from many clients share
 * connections and go out in the same write, which is how a few connections
 * serve many clients.
 *
 * Statements are prepared lazily, once per connection, from a static
 * `struct db_stmt`. Parameters are text. The callback is always called, once,
 * from the loop — never from inside db_call_send. */
#ifndef KEHU_DB_H
#define KEHU_DB_H

#include <libpq-fe.h>
#include <stdint.h>
#include <uv.h>

struct db_stmt {
    const char *sql;
    int id; /* assigned on first use; 0 until then */
};
#define DB_STMT(sqltext) { .sql = (sqltext) }

enum db_outcome {
    DB_OK,
    DB_ERROR,       /* PostgreSQL refused a statement: sqlstate and message say why */
    DB_UNAVAILABLE, /* no connection, connection lost, or timed out */
};

struct db_result {
    enum db_outcome outcome;
    int nres;
    PGresult **res;      /* one per statement, in order; NULL where none */
    char sqlstate[6];
    const char *message; /* PostgreSQL's whole text (ERROR, DETAIL, CONTEXT): for logs, never for users */
    const char *primary; /* the primary message alone ("" when none) */
    const char *column;  /* the column named by the error (RAISE ... USING COLUMN), "" when none */
    const char *constraint; /* the constraint that failed, "" when none */
    const char *detail;  /* the DETAIL (older Kehu functions name the request field there), "" when none */
    int failed_stmt;     /* index of the statement that failed, -1 if none */
};

typedef void (*db_cb)(const struct db_result *r, void *arg);

struct db_pool;
struct db_call;

/* With a channel, one more connection LISTENs on it (and never carries
 * calls); each NOTIFY payload reaches on_notify, after its transaction
 * committed. Notifications sent while that connection was down are lost. */
typedef void (*db_notify_cb)(const char *channel, const char *payload, void *arg);
struct db_pool *db_pool_new(uv_loop_t *loop, const char *conninfo, int size, int timeout_ms, const char *channel,
                            db_notify_cb on_notify, void *arg);
/* The settings each connection starts with (before db_pool_start; default:
 * generic plans and no JIT, the right choice for short prepared statements). */
void db_pool_set_setup(struct db_pool *p, const char *sql);
/* Called (with on_notify's arg) each time the listening connection's LISTEN
 * is in place: at the start and after every reconnection. Whatever was
 * committed before that moment was announced to no one here. */
void db_pool_on_listening(struct db_pool *p, void (*on_listening)(void *arg));
void db_pool_start(struct db_pool *p);
/* Fails whatever is queued or in flight with DB_UNAVAILABLE and closes every
 * connection; the pool is freed once its handles are closed. */
void db_pool_close(struct db_pool *p);
/* Connections ready to take calls. */
int db_pool_ready(const struct db_pool *p);
/* The wait before the next attempt to reach PostgreSQL after one of ms
 * failed (0: the first failure): 100 ms doubling up to 2 s. The pool's
 * connections and kehud's start (wait_db) retry on this one schedule. */
int db_backoff_next(int ms);

struct db_call *db_call_new(struct db_pool *p, db_cb cb, void *arg);
/* params[i] NULL is SQL NULL; strings are copied. */
void db_call_add(struct db_call *c, struct db_stmt *st, int nparams, const char *const *params);
/* A statement whose text varies (lists with optional filters): sent
 * unprepared. Still planned generically on the pool's connections
 * (plan_cache_mode = force_generic_plan holds for the unnamed statement
 * too), so its SQL must suit any parameter value; the report connection
 * (plan_cache_mode = auto) plans for the actual ones. */
void db_call_add_sql(struct db_call *c, const char *sql, int nparams, const char *const *params);
void db_call_send(struct db_call *c);
/* Puts cb(arg) in place of the callback the call was made with, which it
 * returns (and its argument in *old_arg): for wrappers that look at the
 * results first (audit.c). */
db_cb db_call_swap_cb(struct db_call *c, db_cb cb, void *arg, void **old_arg);
/* One statement: new + add + send. */
void db_query(struct db_pool *p, struct db_stmt *st, int nparams, const char *const *params, db_cb cb, void *arg);

/* Result helpers for the common shapes. */
int db_rows(const struct db_result *r, int stmt);
const char *db_get(const struct db_result *r, int stmt, int row, int col); /* NULL for SQL NULL */
int64_t db_get_i64(const struct db_result *r, int stmt, int row, int col);
int db_get_bool(const struct db_result *r, int stmt, int row, int col);

#endif
