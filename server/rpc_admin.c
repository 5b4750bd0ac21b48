/* Administration: backups (pg_dump's archive streamed to the client) and
 * the counts of `kehu admin stats`.
 *
 * A backup is a pg_dump child process started with uv_spawn, its stdout and
 * stderr read through pipes on the loop. The client pulls the archive chunk
 * by chunk, as it does a document: the first request starts pg_dump, each
 * next one names the backup and the bytes received so far. kehud reads the
 * pipe only while its buffer (two chunks) has room, so pg_dump writes no
 * faster than the client takes; a full pipe simply blocks it. The request
 * waiting for bytes is answered as soon as there are some (up to a chunk),
 * with an empty chunk every BACKUP_KEEPALIVE_MS while pg_dump says nothing
 * (waiting for a lock), and with `done`, the size and the SHA-256 only once
 * pg_dump has exited with status 0; any other exit answers with its stderr.
 * The backup lives apart from the connection: when the connection goes
 * (its conn_stream is dropped), pg_dump is killed, reaped, its handles closed, and
 * then the backup is freed. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "conn.h"
#include "directory.h"
#include "log.h"
#include "migrate.h"
#include "rpc.h"
#include "server.h"

#ifndef KEHU_PG_BINDIR
#define KEHU_PG_BINDIR "/usr/lib/postgresql/15/bin"
#endif

#define BACKUP_CHUNK (512u * 1024u)    /* the most one reply carries, as for documents */
#define BACKUP_BUF (2 * BACKUP_CHUNK)  /* read ahead while a chunk travels */
#define BACKUP_ERR_MAX 2048            /* pg_dump's stderr kept for the message */
#define BACKUP_KEEPALIVE_MS 10000      /* an empty chunk when pg_dump is silent this long */
#define BACKUP_LOCK_WAIT "--lock-wait-timeout=60000"

extern char **environ;

struct admin_backup {
    struct server *srv;
    struct conn *conn;       /* NULL once the backup is over for the client */
    uint64_t id;
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t keepalive;
    int handles_open;        /* close callbacks still to come */
    int closing;
    int reading;             /* stdout is being read */
    int out_eof, err_eof, exited;
    int64_t exit_status;
    int term_signal;
    int over;                /* answered in full, failed, or abandoned: no more chunks */
    int header_sent;
    char read_error[128];    /* a failed read of pg_dump's stdout */
    unsigned char *buf;      /* bytes read, not yet handed out */
    size_t len;
    uint64_t sent;           /* bytes handed out */
    crypto_hash_sha256_state sha;
    char errtext[BACKUP_ERR_MAX];
    size_t errlen;
    struct req *waiting;     /* a chunk request waiting for bytes */
    int flush_now;           /* the keepalive: answer with what there is, even nothing */
    /* its audit record: one per backup, written with the last chunk, a
     * failed chunk, or when the client lets it go (backup_over) */
    int audited;
    int64_t at_us, user_id;
    char username[64], peer[64];
    /* the first chunk's header */
    char server_version[96], database[128];
    int schema_version;
    int64_t started_at_ms;
};

static uint64_t next_backup_id;

/* ---- The pg_dump process */

/* The pg_dump to run: the configured one, else PostgreSQL 15's as the
 * scripts find it (pg_config --bindir at build time, then Debian's path). */
static const char *pg_dump_path(const struct config *cfg)
{
    if (cfg->pg_dump[0])
        return cfg->pg_dump;
    static const char *const candidates[] = { KEHU_PG_BINDIR "/pg_dump", "/usr/lib/postgresql/15/bin/pg_dump" };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return candidates[0];
}

/* Whom pg_dump connects as: backup_db, else kehud's own db. (Where a
 * db_owner setting exists, the schema's owner is the better default: it
 * reads everything whatever the grants of the role kehud serves as.) */
static const char *backup_conninfo(const struct config *cfg)
{
    /* the owner sees every table (kehu_app may not read all that a dump needs) */
    return cfg->backup_db[0] ? cfg->backup_db : config_owner_db(cfg);
}

/* Appends key='value' to a connection string being built (libpq quoting). */
static void conninfo_add(struct arena *a, char **s, const char *key, const char *value)
{
    size_t n = strlen(value);
    char *q = arena_alloc(a, 2 * n + 3), *p = q;
    *p++ = '\'';
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '\'' || value[i] == '\\')
            *p++ = '\\';
        *p++ = value[i];
    }
    *p++ = '\'';
    *p = 0;
    *s = arena_printf(a, "%s%s%s=%s", *s, **s ? " " : "", key, q);
}

/* The connection string for pg_dump without its password, which goes to
 * the child's environment (PGPASSWORD) instead: a command line is visible
 * to every local user, an environment only to the same user. NULL with
 * *why when the string does not parse. */
static char *conninfo_split(struct arena *a, const char *conninfo, char **password, const char **why)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (!opts) {
        *why = arena_strdup(a, err ? err : "out of memory");
        PQfreemem(err);
        return NULL;
    }
    char *s = arena_strdup(a, "");
    *password = NULL;
    int have_app = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            *password = arena_strdup(a, o->val);
            continue;
        }
        if (strcmp(o->keyword, "application_name") == 0)
            have_app = 1;
        conninfo_add(a, &s, o->keyword, o->val);
    }
    if (!have_app)
        conninfo_add(a, &s, "application_name", "kehud backup");
    PQconninfoFree(opts);
    return s;
}

/* The environment of the child: ours without PGPASSWORD, plus the password. */
static char **child_env(struct arena *a, const char *password)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = arena_alloc(a, (n + 2) * sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "PGPASSWORD=", 11) != 0)
            env[k++] = environ[i];
    if (password)
        env[k++] = arena_printf(a, "PGPASSWORD=%s", password);
    env[k] = NULL;
    return env;
}

static void backup_answer(struct admin_backup *b);
static void backup_read(struct admin_backup *b);

static void on_handle_closed(uv_handle_t *h)
{
    struct admin_backup *b = h->data;
    if (--b->handles_open == 0) {
        free(b->buf);
        free(b);
    }
}

static void close_handle(struct admin_backup *b, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

/* Once the backup is over for the client and pg_dump has been reaped, its
 * handles go, and with the last of them the backup. */
static void backup_maybe_close(struct admin_backup *b)
{
    if (b->closing || !b->over || !b->exited)
        return;
    b->closing = 1;
    uv_timer_stop(&b->keepalive);
    close_handle(b, (uv_handle_t *)&b->out);
    close_handle(b, (uv_handle_t *)&b->err);
    close_handle(b, (uv_handle_t *)&b->keepalive);
    close_handle(b, (uv_handle_t *)&b->proc);
}

static void backup_drop(struct conn *c, void *stream);
/* A backup streams through its connection, one at a time. */
static const struct conn_stream_ops backup_stream = { "backup", backup_drop };

/* No more chunks for anyone: the connection lets go of it, a pg_dump still
 * running is stopped. */
static void backup_over(struct admin_backup *b)
{
    if (b->over)
        return;
    b->over = 1;
    if (!b->audited) {
        b->audited = 1;
        char detail[160];
        snprintf(detail, sizeof detail, "backup %llu abandoned by the client after %llu bytes",
                 (unsigned long long)b->id, (unsigned long long)b->sent);
        audit_record(b->at_us, b->user_id, b->username, b->peer, "admin_backup", detail, "UNAVAILABLE");
    }
    if (b->conn && conn_stream(b->conn, &backup_stream) == b)
        conn_stream_set(b->conn, &backup_stream, NULL);
    b->conn = NULL;
    if (b->reading) {
        uv_read_stop((uv_stream_t *)&b->out);
        b->reading = 0;
    }
    if (!b->exited) {
        int rc = uv_process_kill(&b->proc, SIGTERM);
        if (rc < 0 && rc != UV_ESRCH)
            log_warn(0, 0, "backup %llu: cannot stop pg_dump (pid %d): %s", (unsigned long long)b->id,
                     b->proc.pid, uv_strerror(rc));
    }
    backup_maybe_close(b);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct admin_backup *b = p->data;
    b->exited = 1;
    b->exit_status = status;
    b->term_signal = term_signal;
    if (b->over) {
        backup_maybe_close(b);
        return;
    }
    backup_answer(b);
}

static void on_alloc_out(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct admin_backup *b = h->data;
    (void)suggested;
    buf->base = (char *)b->buf + b->len;
    buf->len = BACKUP_BUF - b->len;
}

static void on_read_out(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct admin_backup *b = s->data;
    (void)buf;
    if (n == 0)
        return;
    if (n < 0) {
        if (n != UV_EOF)
            snprintf(b->read_error, sizeof b->read_error, "reading pg_dump's output: %s", uv_strerror((int)n));
        b->out_eof = 1;
        uv_read_stop(s);
        b->reading = 0;
    } else {
        crypto_hash_sha256_update(&b->sha, b->buf + b->len, (size_t)n);
        b->len += (size_t)n;
        if (b->len == BACKUP_BUF) {
            uv_read_stop(s);
            b->reading = 0;
        }
    }
    if (b->over)
        return;
    backup_answer(b);
}

static void on_alloc_err(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char scratch[4096]; /* copied out at once */
    buf->base = scratch;
    buf->len = sizeof scratch;
}

static void on_read_err(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct admin_backup *b = s->data;
    if (n == 0)
        return;
    if (n < 0) {
        b->err_eof = 1;
        uv_read_stop(s);
        if (!b->over)
            backup_answer(b);
        return;
    }
    size_t keep = sizeof b->errtext - 1 - b->errlen;
    if ((size_t)n < keep)
        keep = (size_t)n;
    memcpy(b->errtext + b->errlen, buf->base, keep);
    b->errlen += keep;
    b->errtext[b->errlen] = 0;
}

/* Reads stdout while the buffer has room. */
static void backup_read(struct admin_backup *b)
{
    if (b->reading || b->out_eof || b->over || b->len == BACKUP_BUF)
        return;
    int rc = uv_read_start((uv_stream_t *)&b->out, on_alloc_out, on_read_out);
    if (rc < 0) {
        snprintf(b->read_error, sizeof b->read_error, "reading pg_dump's output: %s", uv_strerror(rc));
        b->out_eof = 1;
        return;
    }
    b->reading = 1;
}

/* A chunk of b for r, at the current offset; the first carries the header. */
static Kehu__V1__AdminBackupChunk *chunk_new(struct admin_backup *b, struct req *r)
{
    Kehu__V1__AdminBackupChunk *ch = arena_alloc(&r->arena, sizeof *ch);
    kehu__v1__admin_backup_chunk__init(ch);
    ch->backup_id = b->id;
    ch->offset = b->sent;
    if (!b->header_sent) {
        b->header_sent = 1;
        ch->server_version = arena_strdup(&r->arena, b->server_version);
        ch->schema_version = b->schema_version;
        ch->started_at_ms = b->started_at_ms;
        ch->database = arena_strdup(&r->arena, b->database);
        ch->kehud_version = KEHU_VERSION;
        ch->format = "pg_dump -Fc";
    }
    return ch;
}

static void on_keepalive(uv_timer_t *t)
{
    struct admin_backup *b = t->data;
    if (b->waiting && b->waiting->conn->state == CONN_CLOSED) {
        backup_answer(b); /* stops pg_dump even while it writes nothing */
        return;
    }
    if (b->waiting && !b->over) {
        b->flush_now = 1; /* what there is, or an empty chunk */
        backup_answer(b);
    }
}

/* pg_dump's stderr as one line for a message: trimmed, newlines as "; ". */
static const char *err_line(struct arena *a, const struct admin_backup *b)
{
    char *s = arena_strdup(a, b->errtext);
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
        s[--n] = 0;
    if (!n)
        return "(nothing on stderr)";
    char *out = arena_alloc(a, 2 * n + 1), *p = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            *p++ = ';';
            *p++ = ' ';
        } else {
            *p++ = s[i];
        }
    }
    *p = 0;
    return out;
}

/* Answers the waiting request if there is anything to answer with. */
static void backup_answer(struct admin_backup *b)
{
    struct req *r = b->waiting;
    if (!r) {
        backup_read(b);
        return;
    }
    if (r->conn->state == CONN_CLOSED) {
        b->waiting = NULL;
        b->audited = 1; /* the failed request is the record */
        backup_over(b);
        req_fail(r, KEHU__V1__CODE__UNAVAILABLE, NULL, "the connection closed");
        return;
    }
    int complete = b->out_eof && b->err_eof && b->exited;
    int ok = complete && !b->read_error[0] && b->term_signal == 0 && b->exit_status == 0;
    if (complete && !ok) {
        b->waiting = NULL;
        const char *why = b->read_error[0]          ? b->read_error
                          : b->term_signal          ? arena_printf(&r->arena, "killed by signal %d", b->term_signal)
                                                    : arena_printf(&r->arena, "exit status %lld",
                                                                   (long long)b->exit_status);
        const char *stderr_line = err_line(&r->arena, b);
        log_error(r->conn->id, r->id, "backup %llu: pg_dump failed (%s) after %llu bytes: %s",
                  (unsigned long long)b->id, why, (unsigned long long)(b->sent + b->len), stderr_line);
        b->audited = 1; /* the failed request is the record */
        backup_over(b);
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "pg_dump failed (%s): %s", why, stderr_line);
        return;
    }
    /* whole chunks (pg_dump writes a few KiB at a time: one reply each
     * would be thousands of small ones), the rest at the end, or what there
     * is when the keepalive asks */
    if (!complete && b->len < BACKUP_CHUNK && !b->flush_now) {
        backup_read(b);
        return; /* the keepalive timer runs meanwhile */
    }
    b->flush_now = 0;
    size_t n = b->len < BACKUP_CHUNK ? b->len : BACKUP_CHUNK;
    int done = complete && n == b->len;
    Kehu__V1__AdminBackupChunk *ch = chunk_new(b, r);
    if (n) {
        ch->data.data = arena_alloc(&r->arena, n);
        memcpy(ch->data.data, b->buf, n);
        ch->data.len = n;
        memmove(b->buf, b->buf + n, b->len - n);
        b->len -= n;
        b->sent += n;
    }
    if (done) {
        unsigned char h[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&b->sha, h);
        char *hex = arena_alloc(&r->arena, 2 * sizeof h + 1);
        sodium_bin2hex(hex, 2 * sizeof h + 1, h, sizeof h);
        ch->done = 1;
        ch->size = b->sent;
        ch->sha256 = hex;
        b->audited = 1; /* this request's record is the backup's */
        audit_note_detail(r, "backup %llu: %llu bytes, sha256 %s", (unsigned long long)b->id,
                          (unsigned long long)b->sent, hex);
        log_info(r->conn->id, r->id, "backup %llu: %llu bytes, sha256 %s, %.1f s", (unsigned long long)b->id,
                 (unsigned long long)b->sent, hex, (double)(now_unix_ms() - b->started_at_ms) / 1000);
    }
    b->waiting = NULL;
    uv_timer_stop(&b->keepalive);
    if (done)
        backup_over(b);
    else
        backup_read(b);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ADMIN_BACKUP, ch);
}

/* Makes r wait for the next bytes of b. */
static void backup_wait(struct admin_backup *b, struct req *r)
{
    b->waiting = r;
    uv_timer_start(&b->keepalive, on_keepalive, BACKUP_KEEPALIVE_MS, BACKUP_KEEPALIVE_MS);
    backup_answer(b);
}

/* The connection is going: pg_dump is stopped (backup_over). */
static void backup_drop(struct conn *c, void *stream)
{
    (void)c;
    backup_over(stream);
}

/* ---- AdminBackup */

static struct db_stmt backup_header_stmt = DB_STMT(
    "SELECT current_setting('server_version'), (SELECT coalesce(max(version), 0) FROM schema_migration),"
    " current_database(), " SQL_MS("now()"));

static void backup_spawn(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (r->conn->state == CONN_CLOSED) {
        req_fail(r, KEHU__V1__CODE__UNAVAILABLE, NULL, "the connection closed");
        return;
    }
    if (conn_stream(r->conn, &backup_stream)) { /* two starts pipelined */
        req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, NULL, "a backup is already in progress on this connection");
        return;
    }
    const struct config *cfg = &r->srv->cfg;
    const char *why = NULL;
    char *password = NULL;
    char *conninfo = conninfo_split(&r->arena, backup_conninfo(cfg), &password, &why);
    if (!conninfo) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "the backup connection string does not parse: %s", why);
        return;
    }
    const char *path = pg_dump_path(cfg);
    char *args[] = { (char *)path, "--format=custom", "--no-password", BACKUP_LOCK_WAIT,
                     arena_printf(&r->arena, "--dbname=%s", conninfo), NULL };

    struct admin_backup *b = xcalloc(1, sizeof *b);
    b->srv = r->srv;
    b->id = ++next_backup_id;
    b->buf = xmalloc(BACKUP_BUF);
    crypto_hash_sha256_init(&b->sha);
    snprintf(b->server_version, sizeof b->server_version, "%s", db_get(res, 0, 0, 0));
    b->schema_version = (int)db_get_i64(res, 0, 0, 1);
    snprintf(b->database, sizeof b->database, "%s", db_get(res, 0, 0, 2));
    b->started_at_ms = db_get_i64(res, 0, 0, 3);

    uv_pipe_init(r->srv->loop, &b->out, 0);
    uv_pipe_init(r->srv->loop, &b->err, 0);
    uv_timer_init(r->srv->loop, &b->keepalive);
    b->out.data = b->err.data = b->keepalive.data = b->proc.data = b;
    b->handles_open = 4;

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&b->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&b->err;
    uv_process_options_t opt = { 0 };
    opt.file = path;
    opt.args = args;
    opt.env = child_env(&r->arena, password);
    opt.stdio = stdio;
    opt.stdio_count = 3;
    opt.exit_cb = on_exit_cb;
    int rc = uv_spawn(r->srv->loop, &b->proc, &opt);
    if (password)
        sodium_memzero(password, strlen(password));
    if (rc < 0) {
        b->exited = 1; /* there is nothing to reap */
        b->over = 1;
        backup_maybe_close(b);
        log_error(r->conn->id, r->id, "backup: cannot run %s: %s", path, uv_strerror(rc));
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "cannot run pg_dump (%s): %s; set pg_dump in kehud's configuration",
                 path, uv_strerror(rc));
        return;
    }
    log_info(r->conn->id, r->id, "backup %llu: %s started (pid %d) for %s", (unsigned long long)b->id, path,
             b->proc.pid, req_who(r)->username);
    b->conn = r->conn;
    if (conn_stream_set(r->conn, &backup_stream, b) < 0) {
        backup_over(b);
        req_fail(r, KEHU__V1__CODE__RESOURCE_EXHAUSTED, NULL, "this connection serves too many streams at once");
        return;
    }
    b->at_us = r->audit.at_us;
    b->user_id = req_who(r)->user_id;
    snprintf(b->username, sizeof b->username, "%s", req_who(r)->username);
    snprintf(b->peer, sizeof b->peer, "%s", r->conn->peer);
    uv_read_start((uv_stream_t *)&b->err, on_alloc_err, on_read_err);
    backup_wait(b, r);
}

static void admin_backup(struct req *r)
{
    const Kehu__V1__AdminBackup *m = r->msg->admin_backup;
    struct admin_backup *b = conn_stream(r->conn, &backup_stream);
    if (!m->backup_id) {
        if (b) {
            req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, NULL,
                     "backup %llu is still in progress on this connection", (unsigned long long)b->id);
            return;
        }
        db_query(r->srv->db, &backup_header_stmt, 0, NULL, backup_spawn, r);
        return;
    }
    if (!b || b->id != m->backup_id) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "backup_id", "no backup %llu in progress on this connection",
                 (unsigned long long)m->backup_id);
        return;
    }
    if (b->waiting) {
        req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, NULL, "ask for one chunk at a time");
        return;
    }
    if (m->offset != b->sent) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "offset", "the next chunk starts at %llu, not %llu",
                 (unsigned long long)b->sent, (unsigned long long)m->offset);
        return;
    }
    backup_wait(b, r);
}

/* one audit record per backup, at its last chunk (RPC_AUDIT_LAST) */
const struct rpc_entry rpc_admin_backup = { KEHU__V1__REQUEST__OP_ADMIN_BACKUP, "admin_backup", ACT_ADMIN_BACKUP,
                                            RPC_AUDIT_LAST, admin_backup };

/* ---- AdminStats */

static struct db_stmt stats_stmt = DB_STMT(
    "SELECT (SELECT count(*) FROM customer WHERE merged_into IS NULL),"
    " (SELECT count(*) FROM customer WHERE merged_into IS NOT NULL),"
    " (SELECT count(*) FROM app_user WHERE disabled_at IS NULL),"
    " (SELECT count(*) FROM app_user WHERE disabled_at IS NOT NULL),"
    " (SELECT count(*) FROM org_unit), (SELECT count(*) FROM contact), (SELECT count(*) FROM txn),"
    " (SELECT count(*) FROM followup WHERE status = 'planned'),"
    " (SELECT count(*) FROM followup WHERE status = 'planned' AND due < current_date),"
    " (SELECT count(*) FROM document), (SELECT count(*) FROM grading_run),"
    " pg_database_size(current_database()), current_database(), current_setting('server_version'),"
    " (SELECT coalesce(max(version), 0) FROM schema_migration), " SQL_MS("now()") ", current_setting('work_mem')");
static struct db_stmt stats_status_stmt = DB_STMT(
    "SELECT s::text, count(c.id) FROM unnest(enum_range(NULL::customer_status)) s"
    " LEFT JOIN customer c ON c.status = s AND c.merged_into IS NULL GROUP BY s ORDER BY s");
static struct db_stmt stats_run_stmt = DB_STMT(
    "SELECT id, kind, dry_run, " SQL_MS("started_at") ", coalesce(duration_ms, 0), coalesce(customers, 0),"
    " coalesce(changed, 0) FROM grading_run ORDER BY id DESC LIMIT 1");

static void stats_count(struct req *r, Kehu__V1__AdminStatsResult *s, const char *name, uint64_t n)
{
    Kehu__V1__AdminCount *c = arena_alloc(&r->arena, sizeof *c);
    kehu__v1__admin_count__init(c);
    c->name = (char *)name;
    c->count = n;
    s->limits[s->n_limits++] = c;
}

/* The connection layer's counters (conn_limits.h) and its gauges. */
static void stats_limits(struct req *r, Kehu__V1__AdminStatsResult *s)
{
    const struct limits *l = &r->srv->limits;
    s->limits = arena_alloc(&r->arena, (LC_COUNT + 6) * sizeof *s->limits);
    for (int i = 0; i < LC_COUNT; i++)
        stats_count(r, s, limits_counter_name((enum limit_counter)i), l->counts[i]);
    stats_count(r, s, "connections_not_logged_in", (uint64_t)l->unauth);
    stats_count(r, s, "output_queued_bytes", l->output_total);
    stats_count(r, s, "password_checks_queued", (uint64_t)(l->auth.queued + l->auth.running));
    uint64_t tls = 0;
    for (const struct conn *c = r->srv->conns; c; c = c->next)
        tls += c->wire == WIRE_TLS && c->state != CONN_CLOSED;
    stats_count(r, s, "connections_tls", tls);
    uint64_t filled, joined;
    directory_counts(r->srv, &filled, &joined);
    stats_count(r, s, "customer_reads_from_directory", filled);
    stats_count(r, s, "customer_reads_joined", joined);
}

static void stats_got(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__AdminStatsResult *s = arena_alloc(&r->arena, sizeof *s);
    kehu__v1__admin_stats_result__init(s);
    uint64_t *counts[] = { &s->customers, &s->customers_merged, &s->users_enabled, &s->users_disabled,
                           &s->units, &s->contacts, &s->transactions, &s->followups_open,
                           &s->followups_overdue, &s->documents, &s->grading_runs, &s->database_bytes };
    int col = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        *counts[i] = (uint64_t)db_get_i64(res, 0, 0, col++);
    s->database = arena_strdup(&r->arena, db_get(res, 0, 0, col++));
    s->postgres_version = arena_strdup(&r->arena, db_get(res, 0, 0, col++));
    s->schema_version = (int32_t)db_get_i64(res, 0, 0, col++);
    s->at_ms = db_get_i64(res, 0, 0, col++);
    s->report_work_mem = arena_strdup(&r->arena, db_get(res, 0, 0, col++));

    int n = db_rows(res, 1);
    s->customers_by_status = arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *s->customers_by_status);
    for (int i = 0; i < n; i++) {
        Kehu__V1__AdminCount *c = arena_alloc(&r->arena, sizeof *c);
        kehu__v1__admin_count__init(c);
        c->name = arena_strdup(&r->arena, db_get(res, 1, i, 0));
        c->count = (uint64_t)db_get_i64(res, 1, i, 1);
        s->customers_by_status[s->n_customers_by_status++] = c;
    }
    if (db_rows(res, 2) == 1) {
        s->last_run_id = db_get_i64(res, 2, 0, 0);
        s->last_run_kind = arena_strdup(&r->arena, db_get(res, 2, 0, 1));
        s->last_run_dry = db_get_bool(res, 2, 0, 2);
        s->last_run_at_ms = db_get_i64(res, 2, 0, 3);
        s->last_run_duration_ms = db_get_i64(res, 2, 0, 4);
        s->last_run_customers = (uint64_t)db_get_i64(res, 2, 0, 5);
        s->last_run_changed = (uint64_t)db_get_i64(res, 2, 0, 6);
    }
    s->schema_expected = migrate_expected();
    s->kehud_version = KEHU_VERSION;
    s->protocol_version = KEHU_PROTOCOL_VERSION;
    s->started_at_ms = r->srv->started_at_ms;
    s->uptime_s = (now_unix_ms() - r->srv->started_at_ms) / 1000;
    s->connections = (uint32_t)r->srv->nconns;
    stats_limits(r, s);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ADMIN_STATS, s);
}

static void admin_stats(struct req *r)
{
    /* counting a million customers takes a moment: off the request pool */
    struct db_call *call = db_call_new(r->srv->db_long, stats_got, r);
    db_call_add(call, &stats_stmt, 0, NULL);
    db_call_add(call, &stats_status_stmt, 0, NULL);
    db_call_add(call, &stats_run_stmt, 0, NULL);
    db_call_send(call);
}

const struct rpc_entry rpc_admin_stats = { KEHU__V1__REQUEST__OP_ADMIN_STATS, "admin_stats", ACT_ADMIN_STATS, 0,
                                           admin_stats };
