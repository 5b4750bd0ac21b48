#include "server.h"
#include "rpc.h"

#include <stdlib.h>
#include <string.h>
#include <unicode/uclean.h>

#include "conn.h"
#include "audit.h"
#include "db.h"
#include "directory.h"
#include "event_log.h"
#include "log.h"
#include "migrate.h"
#include "notify.h"
#include "search_keys.h"
#include "service.h"
#include "setup.h"
#include "tls.h"
#include "util.h"

void server_want_flush(struct server *s, struct conn *c)
{
    if (c && !c->in_flush_list) {
        c->in_flush_list = 1;
        conn_ref(c);
        c->flush_next = NULL;
        if (s->flush_tail)
            s->flush_tail->flush_next = c;
        else
            s->flush_list = c;
        s->flush_tail = c;
    }
    /* the flusher is unreferenced while idle so it never keeps the loop alive
     * by itself; it is referenced while it has work */
    uv_ref((uv_handle_t *)&s->flusher);
}

static void finish_shutdown(struct server *s);

/* Runs once per loop turn, before the loop waits: sends every queued reply
 * and resumes connections that were paused. Repeats while handling one
 * connection queued another. */
static void on_flush(uv_prepare_t *h)
{
    struct server *s = h->data;
    while (s->flush_list) {
        struct conn *list = s->flush_list;
        s->flush_list = s->flush_tail = NULL;
        while (list) {
            struct conn *c = list;
            list = c->flush_next;
            c->in_flush_list = 0;
            conn_flush(c);
            conn_unref(c);
        }
    }
    uv_unref((uv_handle_t *)&s->flusher);
    if (s->stopping && s->nconns == 0)
        finish_shutdown(s);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct server *s = l->data;
    if (status < 0) {
        log_warn(0, 0, "accept: %s", uv_strerror(status));
        return;
    }
    if (s->stopping)
        return;
    conn_accept(s);
}

static void close_quietly(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Everything is answered or abandoned: close the remaining handles so that
 * uv_run returns. */
static void close_all(struct server *s)
{
    db_pool_close(s->db);
    db_pool_close(s->db_long);
    uv_timer_stop(&s->grace);
    close_quietly((uv_handle_t *)&s->grace);
    close_quietly((uv_handle_t *)&s->janitor);
    close_quietly((uv_handle_t *)&s->flusher);
    close_quietly((uv_handle_t *)&s->sigint);
    close_quietly((uv_handle_t *)&s->sigterm);
    close_quietly((uv_handle_t *)&s->sighup);
}

static void finish_shutdown(struct server *s)
{
    if (s->stopping == 2)
        return;
    s->stopping = 2;
    log_info(0, 0, "all connections closed");
    grade_shutdown(s);
    pool_shutdown(s);
    case_shutdown(s);
    audit_stop(s, close_all); /* the last reads' records are written first */
}

static void on_janitor(uv_timer_t *t)
{
    struct server *s = t->data;
    uint64_t now = uv_now(s->loop);
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next; /* closing unlinks only in the close callback, but stay safe */
        conn_check_timeouts(c, now);
    }
    limits_sweep(s, now);
}

static void on_grace_over(uv_timer_t *t)
{
    struct server *s = t->data;
    log_warn(0, 0, "shutdown grace of %d s is over: closing %d connection(s) with requests in flight",
             s->cfg.shutdown_grace, s->nconns);
    grade_shutdown(s); /* a run's request is answered, its transaction rolled back */
    auth_sched_stop(&s->limits.auth); /* password checks not yet started are answered at once */
    for (struct conn *c = s->conns; c; c = c->next)
        conn_close_flushed(c, "shutdown"); /* those answers go out before the close */
}

static void begin_shutdown(struct server *s, const char *why)
{
    if (s->stopping) {
        /* a terminal's Ctrl-C and a supervisor's SIGTERM often arrive together:
         * only a later repeat means "stop waiting" */
        if (uv_now(s->loop) - s->stop_started < 2000)
            return;
        log_warn(0, 0, "%s again: closing everything now", why);
        on_grace_over(&s->grace);
        return;
    }
    s->stopping = 1;
    s->stop_started = uv_now(s->loop);
    log_info(0, 0, "%s: stopping (no new connections; finishing requests in flight)", why);
    service_notify("STOPPING=1");
    close_quietly((uv_handle_t *)&s->listener);
    for (struct conn *c = s->conns; c; c = c->next)
        conn_stop(c);
    uv_timer_start(&s->grace, on_grace_over, (uint64_t)s->cfg.shutdown_grace * 1000, 0);
    server_want_flush(s, NULL);
}

/* SIGHUP: the certificate, key, client CA and client map are read again;
 * connections made from now on use them, open ones keep theirs. A file
 * that does not load leaves the old context in place. */
static void on_sighup(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    (void)signum;
    if (!*s->cfg.tls_cert) {
        log_info(0, 0, "SIGHUP: no TLS configured (tls_cert), nothing to re-read");
        return;
    }
    char err[700];
    struct tls_ctx *fresh;
    if (tls_ctx_load(&s->cfg, &fresh, err, sizeof err) < 0) {
        log_error(0, 0, "SIGHUP: %s; keeping the certificate in use", err);
        return;
    }
    tls_ctx_put(s->tls);
    s->tls = fresh;
    limits_count(s, LC_TLS_RELOADS);
    log_info(0, 0, "SIGHUP: TLS certificate re-read, SHA-256 %s (new connections use it)", tls_ctx_fingerprint(fresh));
}

static void on_signal(uv_signal_t *h, int signum)
{
    begin_shutdown(h->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int listen_on(struct server *s)
{
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(s->cfg.listen, s->cfg.port, (struct sockaddr_in *)&addr);
    if (rc < 0)
        rc = uv_ip6_addr(s->cfg.listen, s->cfg.port, (struct sockaddr_in6 *)&addr);
    if (rc < 0) {
        log_error(0, 0, "listen address '%s' is not an IPv4 or IPv6 address", s->cfg.listen);
        return -1;
    }
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection)) < 0) {
        log_error(0, 0, "cannot listen on %s:%d: %s", s->cfg.listen, s->cfg.port, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->listener, NULL);
        return -1;
    }
    return 0;
}

int server_run(const struct config *cfg)
{
    struct server *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->loop = uv_default_loop();
    s->loop->data = s;
    s->started_at_ms = now_unix_ms();

    /* one connection for the start-up checks: the schema, the permission
     * matrix, the ID number key, whether the role could rewrite the audit trail */
    char err[512];
    PGconn *pg = service_connect_db(cfg, err, sizeof err); /* waits wait_db seconds for PostgreSQL */
    if (!pg || migrate_check_pg(pg, err, sizeof err) < 0 || perm_load_sync(pg, err, sizeof err) < 0 ||
        setup_id_key_check(pg, cfg, err, sizeof err) < 0) {
        log_error(0, 0, "%s", err);
        PQfinish(pg);
        free(s);
        return 1;
    }
    audit_check_role(pg);
    PQfinish(pg);
    /* a real Argon2id hash to verify unknown usernames against, so that a
     * wrong username costs as much time as a wrong password */
    if (crypto_pwhash_str(s->dummy_hash, "kehu-no-such-user", 17, cfg->hash_ops, cfg->hash_mem) != 0) {
        log_error(0, 0, "cannot hash: hash_mem %zu is too large for this machine", cfg->hash_mem);
        free(s);
        return 1;
    }

    if (tls_ctx_load(cfg, &s->tls, err, sizeof err) < 0) {
        log_error(0, 0, "%s", err);
        free(s);
        return 1;
    }
    if (search_keys_init() < 0) {
        log_error(0, 0, "cannot open ICU's Han-Latin transliterator (libicu)");
        tls_ctx_put(s->tls);
        free(s);
        return 1;
    }
    limits_init(s);
    s->events = event_log_new();
    uv_prepare_init(s->loop, &s->flusher);
    s->flusher.data = s;
    uv_prepare_start(&s->flusher, on_flush);
    uv_unref((uv_handle_t *)&s->flusher);
    uv_timer_init(s->loop, &s->grace);
    s->grace.data = s;
    uv_timer_init(s->loop, &s->janitor);
    s->janitor.data = s;
    uv_timer_start(&s->janitor, on_janitor, 1000, 1000);
    uv_unref((uv_handle_t *)&s->janitor);
    grade_schedule_start(s);
    audit_start(s);
    pool_schedule_start(s);
    uv_signal_init(s->loop, &s->sigint);
    uv_signal_init(s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_init(s->loop, &s->sighup);
    s->sighup.data = s;
    uv_signal_start(&s->sighup, on_sighup, SIGHUP);
    signal(SIGPIPE, SIG_IGN);

    s->db = db_pool_new(s->loop, cfg->db, cfg->pool_size, cfg->db_timeout * 1000, NOTIFY_CHANNEL, notify_dispatch, s);
    db_pool_on_listening(s->db, notify_listening);
    db_pool_start(s->db);
    directory_start(s);
    case_sched_start(s);
    /* a report over a million customers takes seconds: on its own connection
     * it holds up no pipelined request, with memory to sort and custom plans */
    s->db_long = db_pool_new(s->loop, cfg->db, 1, cfg->report_timeout * 1000, NULL, NULL, NULL);
    db_pool_set_setup(s->db_long, "SET work_mem = '256MB'; SET plan_cache_mode = auto");
    db_pool_start(s->db_long);

    if (listen_on(s) < 0) {
        s->exit_code = 1;
        s->stopping = 1;
        finish_shutdown(s);
    } else {
        log_info(0, 0, "kehud %s listening on %s:%d (protocol %u, %d database connections)", KEHU_VERSION,
                 cfg->listen, cfg->port, KEHU_PROTOCOL_VERSION, cfg->pool_size);
        if (s->tls)
            log_info(0, 0, "TLS 1.3 on the same port, certificate SHA-256 %s; plaintext %s", tls_ctx_fingerprint(s->tls),
                     cfg->allow_plaintext ? "from any address (allow_plaintext)" : "from loopback only");
        else
            log_info(0, 0, "no TLS (tls_cert unset): plaintext %s", cfg->allow_plaintext ? "from any address"
                                                                                        : "from loopback only");
        service_notify("READY=1");
    }
    uv_run(s->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(s->loop);
    if (rc != 0)
        log_warn(0, 0, "loop closed with handles still open: %s", uv_strerror(rc));
    uv_library_shutdown();  /* joins the thread pool: each worker closes its transliterator */
    search_keys_shutdown();
    u_cleanup(); /* ICU's caches, so that a leak checker sees a clean exit */
    limits_free(s);
    tls_ctx_put(s->tls);
    event_log_free(s->events);
    directory_free(s);
    int code = s->exit_code;
    if (code == 0)
        log_info(0, 0, "stopped");
    free(s);
    return code;
}
