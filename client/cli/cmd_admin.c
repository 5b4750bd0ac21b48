/* Administration: admin backup|stats.
 *
 * A backup is pulled from kehud chunk by chunk into FILE.part (created
 * exclusively, mode 0600: the dump holds every customer and password hash),
 * hashed as it arrives, checked against the SHA-256 the server sends with
 * the last chunk, fsync'd and only then renamed to FILE. On any failure, or
 * a signal, the part file is removed. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "out.h"
#include "term.h"

enum {
    O_FORCE = 0x100,
};


static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- admin backup */



/* What the first chunk said the backup is of, and what the last one said it
 * is: a chunk without data, its strings in the buffers below; then the file
 * it went to and how long it took. */
struct backup_info {
    Kehu__V1__AdminBackupChunk rec; /* first: the record backup_rec reads */
    char sha256[crypto_hash_sha256_BYTES * 2 + 1];
    char server_version[96], database[128], kehud_version[32], format[32];
    const char *file;
    double seconds;
};

static void backup_info_init(struct backup_info *info)
{
    *info = (struct backup_info){ .rec = KEHU__V1__ADMIN_BACKUP_CHUNK__INIT };
    info->rec.sha256 = info->sha256;
    info->rec.server_version = info->server_version;
    info->rec.database = info->database;
    info->rec.kehud_version = info->kehud_version;
    info->rec.format = info->format;
}

/* Pulls the whole backup into fd; returns 0 or an exit code (printed). */
static int pull(struct cli *cli, int fd, struct backup_info *info)
{
    crypto_hash_sha256_state sha;
    crypto_hash_sha256_init(&sha);
    uint64_t received = 0;
    int rc = CLI_OK;
    for (;;) {
        Kehu__V1__AdminBackup m = KEHU__V1__ADMIN_BACKUP__INIT;
        m.backup_id = info->rec.backup_id;
        m.offset = received;
        Kehu__V1__Request req;
        cli_request(&req, KEHU__V1__REQUEST__OP_ADMIN_BACKUP, &m);
        Kehu__V1__Response *resp;
        if ((rc = cli_call(cli, &req, &resp)))
            break;
        const Kehu__V1__AdminBackupChunk *ch = resp->admin_backup;
        if (resp->result_case != KEHU__V1__RESPONSE__RESULT_ADMIN_BACKUP || !ch || !ch->backup_id ||
            (info->rec.backup_id && ch->backup_id != info->rec.backup_id) || ch->offset != received) {
            rc = cli_bad_reply(cli, resp);
            break;
        }
        info->rec.backup_id = ch->backup_id;
        if (ch->offset == 0 && *ch->server_version) { /* the header */
            snprintf(info->server_version, sizeof info->server_version, "%s", ch->server_version);
            snprintf(info->database, sizeof info->database, "%s", ch->database);
            snprintf(info->kehud_version, sizeof info->kehud_version, "%s", ch->kehud_version);
            snprintf(info->format, sizeof info->format, "%s", ch->format);
            info->rec.schema_version = ch->schema_version;
            info->rec.started_at_ms = ch->started_at_ms;
        }
        if (cli_write_all(fd, ch->data.data, ch->data.len) < 0) {
            rc = cli_error(cli, CLI_REFUSED, "cannot write %s: %s", cli_part_path, strerror(errno));
            kehu_response_free(resp);
            break;
        }
        crypto_hash_sha256_update(&sha, ch->data.data, ch->data.len);
        received += ch->data.len;
        term_progress("backing up", received, 0);
        if (ch->done) {
            unsigned char h[crypto_hash_sha256_BYTES];
            crypto_hash_sha256_final(&sha, h);
            sodium_bin2hex(info->sha256, sizeof info->sha256, h, sizeof h);
            info->rec.size = received;
            if (ch->size != received)
                rc = cli_error(cli, CLI_TRANSPORT, "the server sent %" PRIu64 " bytes but says the backup has %" PRIu64,
                               received, ch->size);
            else if (strcmp(info->sha256, ch->sha256) != 0)
                rc = cli_error(cli, CLI_TRANSPORT, "the backup received has SHA-256 %s, the server sent %s",
                               info->sha256, ch->sha256);
            kehu_response_free(resp);
            break;
        }
        kehu_response_free(resp);
    }
    term_progress_done();
    return rc;
}


/* The directory entry of the rename reaches the disk too. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void backup_file(struct json_w *w, const void *msg)
{
    json_str(w, ((const struct backup_info *)msg)->file);
}
/* to the millisecond */
static void backup_seconds(struct json_w *w, const void *msg)
{
    json_double(w, (double)(int64_t)(((const struct backup_info *)msg)->seconds * 1000 + 0.5) / 1000);
}
static const struct rec_calc backup_calc[] = { { "file", backup_file, NULL }, { "seconds", backup_seconds, NULL },
                                               { NULL, NULL, NULL } };
static const struct rec_kind backup_rec = {
    &kehu__v1__admin_backup_chunk__descriptor,
    "file=@file size sha256 format database server_version schema_version kehud_version started_at=started_at_ms "
    "seconds=@seconds",
    NULL, NULL, backup_calc,
};

static void print_backup(struct cli *cli, const struct backup_info *info)
{
    if (cli->json) {
        cli_json_record(&backup_rec, info);
        return;
    }
    char started[OUT_TIME_BUFSZ], hs[32];
    out_time_ms(info->rec.started_at_ms, started, sizeof started);
    cli_human_size(info->rec.size, hs, sizeof hs);
    cli_say("backup written to %s\n", info->file);
    struct out_kv *kv = out_kv_new();
    out_kv_addf(kv, "size", "%s (%" PRIu64 " bytes)", hs, info->rec.size);
    out_kv_add(kv, "sha256", info->sha256);
    out_kv_addf(kv, "database", "%s, PostgreSQL %s, schema %d", info->database, info->server_version,
                info->rec.schema_version);
    out_kv_addf(kv, "taken", "%s in %.1f s (%s)", started, info->seconds, info->format);
    out_kv_print(kv, stdout);
    out_kv_free(kv);
}

static int run_backup(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, O_FORCE },
        { NULL, 0, NULL, 0 },
    };
    int c, rc, force = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == O_FORCE)
            force = 1;
        else
            return cli->opt_rc;
    }
    if ((rc = cli_args(cli, argc, argv, 1, 1)))
        return rc;
    const char *out = argv[optind];
    if (!*out)
        return cli_usage_error(cli, "FILE: expected a file name");
    struct stat st;
    if (!force && lstat(out, &st) == 0)
        return cli_error(cli, CLI_USAGE, "%s exists: give --force to overwrite it", out);
    if (strlen(out) + 6 > sizeof cli_part_path)
        return cli_usage_error(cli, "FILE: the name is too long");
    if (sodium_init() < 0)
        return cli_error(cli, CLI_TRANSPORT, "cannot initialise libsodium");

    /* the part file first: an unwritable place fails before the server works */
    snprintf(cli_part_path, sizeof cli_part_path, "%s.part", out);
    cli_part_guard(1);
    int fd = open(cli_part_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        cli_part_guard(0);
        if (e == EEXIST)
            return cli_error(cli, CLI_REFUSED, "%s.part exists: another backup may be writing it (remove it if not)",
                             out);
        return cli_error(cli, CLI_REFUSED, "cannot create %s.part: %s", out, strerror(e));
    }
    double t0 = mono_s();
    struct backup_info info;
    backup_info_init(&info);
    rc = pull(cli, fd, &info);
    if (rc == CLI_OK && fsync(fd) < 0)
        rc = cli_error(cli, CLI_REFUSED, "cannot write %s: %s", cli_part_path, strerror(errno));
    if (close(fd) < 0 && rc == CLI_OK)
        rc = cli_error(cli, CLI_REFUSED, "cannot write %s: %s", cli_part_path, strerror(errno));
    if (rc == CLI_OK)
        rc = cli_place_file(cli, cli_part_path, out, force, 0);
    if (rc != CLI_OK)
        unlink(cli_part_path);
    else
        sync_dir(out);
    cli_part_guard(0);
    if (rc == CLI_OK) {
        info.file = out;
        info.seconds = mono_s() - t0;
        print_backup(cli, &info);
    }
    return rc;
}

/* ---- admin stats */

/* {"name": count, ...} of a list of named counts */
static void json_counts(struct json_w *w, Kehu__V1__AdminCount *const *c, size_t n)
{
    json_begin_object(w);
    for (size_t i = 0; i < n; i++)
        json_kuint(w, c[i]->name, c[i]->count);
    json_end_object(w);
}
static void json_by_status(struct json_w *w, const void *msg)
{
    const Kehu__V1__AdminStatsResult *s = msg;
    json_counts(w, s->customers_by_status, s->n_customers_by_status);
}
static void json_limits(struct json_w *w, const void *msg)
{
    const Kehu__V1__AdminStatsResult *s = msg;
    json_counts(w, s->limits, s->n_limits);
}
static const struct rec_calc stats_calc[] = { { "by_status", json_by_status, NULL }, { "limits", json_limits, NULL },
                                              { NULL, NULL, NULL } };
/* the last grading run's members only when there was one; limits: the
 * connection layer's counters (docs/security.md) */
static const struct rec_kind stats_rec = {
    &kehu__v1__admin_stats_result__descriptor,
    "customers customers_by_status=@by_status customers_merged users_enabled users_disabled units contacts "
    "transactions followups_open followups_overdue documents grading_runs ~last_run_id? "
    "~last_run_kind?last_run_id ~last_run_dry?last_run_id ~last_run_at=last_run_at_ms?last_run_id "
    "~#last_run_duration_ms?last_run_id ~last_run_customers?last_run_id ~last_run_changed?last_run_id "
    "database_bytes database postgres_version schema_version schema_expected kehud_version protocol_version "
    "started_at=started_at_ms uptime_s connections limits=@limits at=at_ms",
    NULL, NULL, stats_calc,
};

/* For people: a line a subject, counts with what they are made of. */
static void stats_text(const void *msg)
{
    const Kehu__V1__AdminStatsResult *s = msg;
    char t[OUT_TIME_BUFSZ], size[32], byst[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < s->n_customers_by_status && off < sizeof byst; i++)
        off += (size_t)snprintf(byst + off, sizeof byst - off, "%s%s %" PRIu64, i ? ", " : "",
                                s->customers_by_status[i]->name, s->customers_by_status[i]->count);
    struct out_kv *kv = out_kv_new();
    out_kv_addf(kv, "customers", "%" PRIu64 " (%s; %" PRIu64 " merged away)", s->customers, byst,
                s->customers_merged);
    out_kv_addf(kv, "users", "%" PRIu64 " enabled, %" PRIu64 " disabled", s->users_enabled, s->users_disabled);
    out_kv_addf(kv, "units", "%" PRIu64, s->units);
    out_kv_addf(kv, "contacts", "%" PRIu64, s->contacts);
    out_kv_addf(kv, "transactions", "%" PRIu64, s->transactions);
    out_kv_addf(kv, "follow-ups open", "%" PRIu64 " (%" PRIu64 " overdue)", s->followups_open, s->followups_overdue);
    out_kv_addf(kv, "documents", "%" PRIu64, s->documents);
    if (s->last_run_id) {
        out_time_ms(s->last_run_at_ms, t, sizeof t);
        out_kv_addf(kv, "grading runs",
                    "%" PRIu64 "; latest #%" PRId64 " %s%s at %s, %.1f s, %" PRIu64 " customers, %" PRIu64 " changed",
                    s->grading_runs, s->last_run_id, s->last_run_kind, s->last_run_dry ? " (dry)" : "", t,
                    (double)s->last_run_duration_ms / 1000, s->last_run_customers, s->last_run_changed);
    } else {
        out_kv_add(kv, "grading runs", "none");
    }
    cli_human_size(s->database_bytes, size, sizeof size);
    out_kv_addf(kv, "database", "%s, %s, PostgreSQL %s", s->database, size, s->postgres_version);
    out_kv_addf(kv, "schema", "%d (this kehud needs %d)", s->schema_version, s->schema_expected);
    int64_t up = s->uptime_s;
    out_time_ms(s->started_at_ms, t, sizeof t);
    out_kv_addf(kv, "kehud", "%s, protocol %u, up %" PRId64 "d %02" PRId64 ":%02" PRId64 ":%02" PRId64 " (since %s)",
                s->kehud_version, s->protocol_version, up / 86400, up / 3600 % 24, up / 60 % 60, up % 60, t);
    out_kv_addf(kv, "connections", "%u", s->connections);
    char lim[1024] = "";
    off = 0;
    for (size_t i = 0; i < s->n_limits && off < sizeof lim; i++)
        if (s->limits[i]->count) /* only what happened */
            off += (size_t)snprintf(lim + off, sizeof lim - off, "%s%s %" PRIu64, off ? ", " : "",
                                    s->limits[i]->name, s->limits[i]->count);
    out_kv_add(kv, "limits", off ? lim : "nothing refused");
    out_kv_print(kv, stdout);
    out_kv_free(kv);
}

static const struct cli_record_kind stats_kind = { .rec = &stats_rec, .one = stats_text };

CLI_ONE_COMMAND(run_stats, KEHU__V1__REQUEST__OP_ADMIN_STATS, &kehu__v1__admin_stats__descriptor, NULL, NULL,
                KEHU__V1__RESPONSE__RESULT_ADMIN_STATS, &stats_kind)

const struct cli_cmd cmd_admin_table[] = {
    { "admin backup", "FILE [--force]",
      N_("a pg_dump archive of the whole database, checked by SHA-256 (admin; restore: scripts/restore)"), 1,
      run_backup },
    { "admin stats", "", N_("counts of customers, users, transactions, follow-ups, runs; database and kehud"), 1,
      run_stats },
    { NULL, NULL, NULL, 0, NULL },
};
