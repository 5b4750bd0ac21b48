/* The one kehud process: its loop, listener, connections and shutdown. */
#ifndef KEHU_SERVER_H
#define KEHU_SERVER_H

#include <sodium.h>
#include <uv.h>

#include "config.h"
#include "conn_limits.h"

struct conn;
struct db_pool;
struct tls_ctx;

struct server {
    uv_loop_t *loop;
    struct config cfg;
    struct db_pool *db;
    struct db_pool *db_long;  /* reports: statements that scan the whole base, kept off the request pool */
    uv_tcp_t listener;
    uv_signal_t sigint, sigterm;
    uv_signal_t sighup;       /* re-reads the TLS certificate and key */
    struct tls_ctx *tls;      /* TLS on the listener; NULL: plaintext only (server/tls.c) */
    uv_prepare_t flusher;     /* replies go out once per loop turn, here */
    uv_timer_t grace;         /* bounds the wait for requests in flight at shutdown */
    uv_timer_t janitor;       /* once a second: connection timeouts */
    struct conn *conns;       /* every open connection */
    int nconns;
    struct grade_state *grade; /* grading runs and their schedule (rpc_grade.c) */
    struct pool_state *pool;   /* the recycle job's schedule (rpc_pool.c) */
    struct case_sched *cases;  /* the deadlines' scheduler (rpc_case.c) */
    struct event_log *events;  /* announcements numbered and kept for resumed subscriptions (event_log.c) */
    struct directory *directory; /* users' and units' names and paths, for customer reads (directory.c) */
    struct conn *flush_list;  /* connections with output or a paused read to look at, */
    struct conn *flush_tail;  /* in the order they asked: a reply queued before a fan-out goes out before it */
    uint64_t next_conn_id;
    int64_t started_at_ms;    /* unix time of the start, for the uptime */
    int stopping;
    uint64_t stop_started;
    int exit_code;
    char dummy_hash[crypto_pwhash_STRBYTES]; /* verified against for unknown users */
    struct limits limits;     /* per address, the login throttle, the counters (conn_limits.c) */
    struct conn *unauth_head, *unauth_tail; /* connections not logged in, oldest first */
};

/* Runs until SIGINT/SIGTERM; returns the process exit code. */
int server_run(const struct config *cfg);
/* Schedules a look at the connection before the loop next waits. */
void server_want_flush(struct server *s, struct conn *c);

#endif
