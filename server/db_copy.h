/* A PostgreSQL connection of one's own, outside the pool, for work the
 * pipelined pool cannot carry: COPY (not allowed in pipeline mode) inside a
 * transaction that stays open across many requests, as a streamed import
 * needs. Asynchronous on the loop like the pool: non-blocking libpq watched
 * with uv_poll. One operation at a time; each callback is called once. */
#ifndef KEHU_DB_COPY_H
#define KEHU_DB_COPY_H

#include <stddef.h>
#include <uv.h>

#include "db.h"

struct db_copy;

/* Connects; cb(r) with r->outcome DB_OK once ready (then the other calls may
 * be used) or DB_UNAVAILABLE. */
struct db_copy *db_copy_open(uv_loop_t *loop, const char *conninfo, db_cb cb, void *arg);
/* Runs SQL text (may hold several statements, no parameters) or, when it
 * starts a COPY ... FROM STDIN, runs it until the copy is ready for data.
 * The callback sees the last result. */
void db_copy_exec(struct db_copy *x, const char *sql, db_cb cb, void *arg);
/* Sends COPY data (whole text-format lines); cb once it has left the buffer. */
void db_copy_put(struct db_copy *x, const char *data, size_t len, db_cb cb, void *arg);
/* Ends the COPY; cb with its result (an error here names the bad line). */
void db_copy_end(struct db_copy *x, db_cb cb, void *arg);
/* Hands every notice (RAISE NOTICE ...) the server sends to cb, as it
 * arrives, while a statement runs: how a long job reports progress. */
void db_copy_on_notice(struct db_copy *x, void (*cb)(const char *message, void *arg), void *arg);
/* Closes the connection (an open transaction rolls back). No callback is
 * called after this; one pending is dropped. Safe on NULL. */
void db_copy_close(struct db_copy *x);

#endif
