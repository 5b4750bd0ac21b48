/* kehu customer import | txn import | customer export: CSV files in and out.
 *
 * An import sends the file's bytes as they are (the server detects UTF-8,
 * GBK/GB18030 or UTF-16 and reads the header), chunk by chunk, showing
 * progress on a terminal; the last answer lists the rejected rows by line.
 * An export writes the pages the server renders (UTF-8 with a BOM, so Excel
 * opens it correctly) to a file or stdout.
 *
 * An import is committed only when the client says so, after the server has
 * checked and staged the whole file: SIGINT or SIGTERM before that drops the
 * connection, which rolls everything back ("import cancelled, nothing was
 * imported"); once the commit is sent the signals wait for its answer, and
 * the CLI says the import was committed. An interrupted export removes its
 * temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "out.h"
#include "term.h"

#define CHUNK (256u * 1024)
#define IMPORT_FINISH_MS (60 * 60 * 1000)

enum { O_DRY_RUN = 0x200, O_DUPLICATES, O_BRANCH, O_UPDATE };

/* An import's result --json: its counts, then the rows it did not import. */
static const struct rec_kind import_rec = { &kehu__v1__import_result__descriptor,
                                            "total imported updated skipped dry_run encoding", NULL, NULL, NULL };
static const struct rec_col rejected_cols[] = {
    { N_("LINE"), "line", OUT_RIGHT, 0 },
    { N_("FIELD"), "field", OUT_LEFT, 0 },
    { N_("REASON"), "reason", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind rejected_rec = { &kehu__v1__rejected_row__descriptor, "line field reason", rejected_cols,
                                              NULL, NULL };
static const struct rec_kind duplicate_rec = { &kehu__v1__duplicate_row__descriptor,
                                               "line existing_id? other_line? reason", NULL, NULL, NULL };

static void print_result(struct cli *cli, const Kehu__V1__ImportResult *res)
{
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        rec_json_members(&w, &import_rec, res);
        cli_json_records(&w, "rejected", &rejected_rec, (void *const *)res->rejected, res->n_rejected);
        cli_json_records(&w, "duplicates", &duplicate_rec, (void *const *)res->duplicates, res->n_duplicates);
        cli_json_strs(&w, "unknown_columns", res->unknown_columns, res->n_unknown_columns);
        cli_json_strs(&w, "ignored_columns", res->ignored_columns, res->n_ignored_columns);
        json_end_object(&w);
        json_finish(&w);
        return;
    }
    cli_say("%s %llu of %llu rows (%s)%s\n", res->dry_run ? "would import" : "imported",
            (unsigned long long)res->imported, (unsigned long long)res->total, res->encoding,
            res->dry_run ? ": dry run, nothing changed" : "");
    if (res->updated)
        cli_say("%s %llu existing customers\n", res->dry_run ? "would update" : "updated",
                (unsigned long long)res->updated);
    if (res->n_ignored_columns) {
        char *cols = cmd_customer_join(res->ignored_columns, res->n_ignored_columns, ", ");
        cli_say("columns read but not imported (they are not set by an import): %s\n", cols);
        free(cols);
    }
    if (res->skipped)
        cli_say("skipped %llu probable duplicates (not imported)\n", (unsigned long long)res->skipped);
    if (res->n_unknown_columns) {
        char *cols = cmd_customer_join(res->unknown_columns, res->n_unknown_columns, ", ");
        cli_say("unknown columns, not imported: %s\n", cols);
        free(cols);
    }
    if (res->n_rejected) {
        cli_say("rejected rows:\n");
        rec_table(stdout, &rejected_rec, (void *const *)res->rejected, res->n_rejected);
    }
    if (res->n_duplicates) {
        static const char *const head[] = { "LINE", "DUPLICATE OF", "REASON" };
        struct out_table *t = out_table_new(3, head);
        out_table_align(t, 0, OUT_RIGHT);
        for (size_t i = 0; i < res->n_duplicates; i++) {
            const Kehu__V1__DuplicateRow *d = res->duplicates[i];
            char line[24], of[48];
            snprintf(line, sizeof line, "%llu", (unsigned long long)d->line);
            if (d->existing_id)
                snprintf(of, sizeof of, "customer %lld", (long long)d->existing_id);
            else
                snprintf(of, sizeof of, "line %llu", (unsigned long long)d->other_line);
            const char *row[] = { line, of, d->reason };
            out_table_add(t, row);
        }
        cli_say("probable duplicates%s:\n", res->skipped ? ", not imported (--duplicates create imports them)" : "");
        out_table_print(t, stdout);
        out_table_free(t);
    }
}

/* ---- signals: an import cancelled, an export's temporary file removed */

static volatile sig_atomic_t stop_signal;
static volatile int import_fd = -1;   /* the connection, shut down at a signal */
static char partial_path[4096];       /* an export's temporary file */

static void on_import_signal(int sig)
{
    stop_signal = sig;
    if (import_fd >= 0)
        shutdown(import_fd, SHUT_RDWR); /* the call in progress fails at once; the server rolls back */
}

static void on_export_signal(int sig)
{
    if (partial_path[0])
        unlink(partial_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked poll or read returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static void restore_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
}

static int cancelled(struct cli *cli)
{
    term_progress_done();
    cli_error(cli, CLI_REFUSED, "import cancelled, nothing was imported");
    return 128 + stop_signal;
}

/* Commits a staged import; the signals wait meanwhile: once the commit is
 * sent, what was committed is what the CLI reports. */
static int import_rc(const Kehu__V1__ImportResult *res, const char *duplicates)
{
    /* duplicates skipped on request are success: only rejected rows, or
     * duplicates left out without being asked, are "partly done" */
    return res->n_rejected || (res->skipped && !(duplicates && *duplicates)) ? CLI_PARTIAL : CLI_OK;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A chunk sent ahead of the previous one's answer, and its own answer as
 * its callback left it. */
struct ahead {
    int busy, done, progress, result; /* result: the answer's result case */
    uint64_t sent;             /* the file's bytes sent up to this chunk */
    uint64_t rows_done;
    struct kehu_status st;
};

static void ahead_answered(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct ahead *a = arg;
    a->done = 1;
    a->st = *st;
    if (!resp && a->st.code == KEHU__V1__CODE__OK)
        a->st.code = KEHU_TRANSPORT;
    a->result = resp ? (int)resp->result_case : -1;
    a->progress = resp && resp->result_case == KEHU__V1__RESPONSE__RESULT_IMPORT_PROGRESS;
    a->rows_done = a->progress ? resp->import_progress->rows_done : 0;
}

/* Waits for a chunk's answer (as long as a call waits) and shows progress;
 * returns CLI_OK, or the exit code of its failure. */
static int ahead_settle(struct cli *cli, struct ahead *a, const char *label, uint64_t size)
{
    int64_t deadline = mono_ms() + (cli->timeout_ms > 0 ? cli->timeout_ms : 30000);
    while (!a->done) {
        if (stop_signal)
            return cancelled(cli);
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            struct kehu_status st = { .code = KEHU_TRANSPORT };
            snprintf(st.message, sizeof st.message, "timeout");
            return cli_fail_status(cli, &st);
        }
        struct pollfd p = { .fd = kehu_fd(cli->client), .events = POLLIN };
        if (p.fd < 0 || (poll(&p, 1, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)) {
            if (!a->done) { /* the library calls back with the error as it sees it */
                a->done = 1;
                a->st.code = KEHU_TRANSPORT;
                snprintf(a->st.message, sizeof a->st.message, "%s", _("connection lost"));
            }
            break;
        }
        kehu_run(cli->client, 0); /* an error calls every pending callback */
    }
    a->busy = 0;
    if (a->st.code != KEHU__V1__CODE__OK)
        return stop_signal ? cancelled(cli) : cli_fail_status(cli, &a->st);
    if (!a->progress) { /* as cli_bad_reply says it */
        struct kehu_status st = { .code = KEHU_TRANSPORT };
        snprintf(st.message, sizeof st.message, _("%s sent an unexpected reply (result %d)"), cli->server, a->result);
        return cli_fail_status(cli, &st);
    }
    term_progress(label, size ? a->sent : a->rows_done, size ? size : 0);
    return CLI_OK;
}

static int commit_import(struct cli *cli, uint64_t id, Kehu__V1__ImportResult *staged, const char *duplicates)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    if (stop_signal) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return cancelled(cli);
    }
    Kehu__V1__ImportChunk chunk = KEHU__V1__IMPORT_CHUNK__INIT;
    chunk.import_id = id;
    chunk.commit = 1;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_IMPORT_CHUNK, &chunk);
    Kehu__V1__Response *resp;
    int rc = cli_call(cli, &req, &resp);
    if (rc == CLI_OK && resp->result_case != KEHU__V1__RESPONSE__RESULT_IMPORT_RESULT)
        rc = cli_bad_reply(cli, resp);
    else if (rc == CLI_OK) {
        staged->imported = resp->import_result->imported;
        staged->updated = resp->import_result->updated;
        staged->awaiting_commit = 0;
        print_result(cli, staged);
        rc = import_rc(staged, duplicates);
        kehu_response_free(resp);
        /* blocked meanwhile: a signal that came now is too late to cancel */
        sigset_t pending;
        sigpending(&pending);
        if (stop_signal || sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) ||
            sigismember(&pending, SIGHUP))
            fprintf(stderr, _("kehu: interrupted too late: the import was already committed (%llu rows)\n"),
                    (unsigned long long)staged->imported);
        restore_signals();
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int run_import(struct cli *cli, int argc, char **argv, const char *kind)
{
    static const struct option customer_opts[] = {
        { "dry-run", no_argument, NULL, O_DRY_RUN },
        { "duplicates", required_argument, NULL, O_DUPLICATES },
        { "branch", required_argument, NULL, O_BRANCH },
        { "update", no_argument, NULL, O_UPDATE },
        { NULL, 0, NULL, 0 },
    };
    static const struct option txn_opts[] = {
        { "dry-run", no_argument, NULL, O_DRY_RUN },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__ImportBegin begin = KEHU__V1__IMPORT_BEGIN__INIT;
    begin.kind = (char *)kind;
    begin.confirm = 1;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, strcmp(kind, "customers") == 0 ? customer_opts : txn_opts)) != -1) {
        switch (c) {
        case O_DRY_RUN: begin.dry_run = 1; break;
        case O_DUPLICATES:
            if (strcmp(optarg, "skip") && strcmp(optarg, "create"))
                return cli_usage_error(cli, "--duplicates is skip or create, not '%s'", optarg);
            begin.duplicates = optarg;
            break;
        case O_BRANCH: begin.branch = optarg; break;
        case O_UPDATE: begin.update = 1; break;
        default: return cli->opt_rc;
        }
    }
    if ((rc = cli_args(cli, argc, argv, 1, 1)))
        return rc;
    const char *path = argv[optind];
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_error(cli, CLI_USAGE, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        begin.size = (uint64_t)st.st_size;
    const char *slash = strrchr(path, '/');
    begin.file_name = (char *)(slash ? slash + 1 : path);

    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_IMPORT_BEGIN, &begin);
    Kehu__V1__Response *resp;
    stop_signal = 0;
    catch_signals(on_import_signal); /* from here on a signal cancels the import */
    if ((rc = cli_call(cli, &req, &resp))) {
        restore_signals();
        if (fd)
            close(fd);
        return stop_signal ? cancelled(cli) : rc;
    }
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_IMPORT_STARTED) {
        restore_signals();
        if (fd)
            close(fd);
        return cli_bad_reply(cli, resp);
    }
    uint64_t id = resp->import_started->import_id;
    kehu_response_free(resp);
    import_fd = kehu_fd(cli->client);

    /* Chunks go out one ahead of the answers: kehud parses one while this
     * reads and sends the next (kehud starts it after the previous one's
     * answer). Each has a buffer of its own until its answer. */
    static char bufs[2][CHUNK];
    struct ahead ahead[2];
    memset(ahead, 0, sizeof ahead);
    int cur = 0;
    uint64_t sent = 0;
    const char *label = strcmp(kind, "customers") == 0 ? "importing customers" : "importing transactions";
    for (;;) {
        if (stop_signal) {
            rc = cancelled(cli);
            break;
        }
        char *buf = bufs[cur];
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cli_error(cli, CLI_USAGE, "cannot read %s: %s", path, strerror(errno));
            break; /* the server rolls the import back when the connection closes */
        }
        /* a short read is not the end: only a read of 0 is, checked by peeking ahead */
        Kehu__V1__ImportChunk chunk = KEHU__V1__IMPORT_CHUNK__INIT;
        chunk.import_id = id;
        chunk.data.data = (uint8_t *)buf;
        chunk.data.len = (size_t)n;
        chunk.last = n == 0;
        req.op_case = KEHU__V1__REQUEST__OP_IMPORT_CHUNK;
        req.import_chunk = &chunk;
        if (stop_signal) {
            rc = cancelled(cli);
            break;
        }
        if (!chunk.last) {
            struct ahead *a = &ahead[cur];
            memset(a, 0, sizeof *a);
            a->busy = 1;
            sent += (uint64_t)n;
            a->sent = sent;
            struct kehu_status why;
            if (kehu_send(cli->client, &req, ahead_answered, a, NULL, &why) < 0) {
                rc = stop_signal ? cancelled(cli) : cli_fail_status(cli, &why);
                break;
            }
            cur ^= 1; /* the other buffer: the chunk sent before this one, answered first */
            if (ahead[cur].busy && (rc = ahead_settle(cli, &ahead[cur], label, begin.size)))
                break;
            continue;
        }
        if (ahead[cur ^ 1].busy && (rc = ahead_settle(cli, &ahead[cur ^ 1], label, begin.size)))
            break;
        /* the set-based end of a large import takes long: wait for it */
        kehu_set_timeout(cli->client, cli->timeout_ms > IMPORT_FINISH_MS ? cli->timeout_ms : IMPORT_FINISH_MS);
        if ((rc = cli_call(cli, &req, &resp))) {
            if (stop_signal)
                rc = cancelled(cli);
            break;
        }
        term_progress_done();
        if (resp->result_case != KEHU__V1__RESPONSE__RESULT_IMPORT_RESULT) {
            rc = cli_bad_reply(cli, resp);
            break;
        }
        Kehu__V1__ImportResult *res = resp->import_result;
        if (res->awaiting_commit) {
            rc = commit_import(cli, id, res, begin.duplicates);
        } else {
            print_result(cli, res);
            rc = import_rc(res, begin.duplicates);
        }
        kehu_response_free(resp);
        break;
    }
    import_fd = -1;
    restore_signals();
    if (fd)
        close(fd);
    return rc;
}

static int run_customer_import(struct cli *cli, int argc, char **argv)
{
    return run_import(cli, argc, argv, "customers");
}

static int run_txn_import(struct cli *cli, int argc, char **argv)
{
    return run_import(cli, argc, argv, "txns");
}


static int run_customer_export(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__CustomerList list = KEHU__V1__CUSTOMER_LIST__INIT;
    struct cmd_words ws = { .w = { "customer", "export" }, .n = 2 };
    const char *output = "-";
    int rc;
    if ((rc = cmd_customer_list_options(cli, argc, argv, &list, &ws, NULL, &output)))
        return rc;
    /* into a temporary file renamed at the end: never a half-written export */
    char tmp[4096] = "";
    int fd = 1;
    if (strcmp(output, "-") != 0) {
        if (snprintf(tmp, sizeof tmp, "%s.partial-XXXXXX", output) >= (int)sizeof tmp)
            return cli_usage_error(cli, "--output: the path is too long");
        catch_signals(on_export_signal);
        fd = mkstemp(tmp);
        if (fd < 0) {
            restore_signals();
            return cli_error(cli, CLI_USAGE, "cannot write %s: %s", output, strerror(errno));
        }
        snprintf(partial_path, sizeof partial_path, "%s", tmp);
        fchmod(fd, 0644);
    }
    Kehu__V1__ExportPage page = KEHU__V1__EXPORT_PAGE__INIT;
    page.filter = &list;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_EXPORT_PAGE, &page);
    char cursor[512] = "";
    uint64_t rows = 0;
    for (;;) {
        list.after = cursor;
        Kehu__V1__Response *resp;
        if ((rc = cli_call(cli, &req, &resp)))
            break;
        if (resp->result_case != KEHU__V1__RESPONSE__RESULT_EXPORT_DATA ||
            (*cursor && strcmp(resp->export_data->next_cursor, cursor) == 0)) {
            rc = cli_bad_reply(cli, resp);
            break;
        }
        const Kehu__V1__ExportData *d = resp->export_data;
        if (cli_write_all(fd, d->csv.data, d->csv.len) < 0) {
            rc = cli_error(cli, CLI_USAGE, "cannot write %s: %s", *tmp ? output : "stdout", strerror(errno));
            kehu_response_free(resp);
            break;
        }
        rows += d->rows;
        if (*tmp)
            term_progress("exporting customers", rows, 0);
        snprintf(cursor, sizeof cursor, "%s", d->next_cursor);
        kehu_response_free(resp);
        if (!*cursor)
            break;
    }
    if (*tmp) {
        term_progress_done();
        if (rc == CLI_OK && (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, output) < 0)) {
            rc = cli_error(cli, CLI_USAGE, "cannot write %s: %s", output, strerror(errno));
            unlink(tmp);
        } else if (rc != CLI_OK) {
            close(fd);
            unlink(tmp);
        }
        partial_path[0] = 0;
        restore_signals();
        if (rc == CLI_OK)
            fprintf(stderr, _("exported %llu customers to %s\n"), (unsigned long long)rows, output);
    }
    return rc;
}

const struct cli_cmd cmd_import_table[] = {
    { "customer import", "FILE.csv [--dry-run] [--duplicates skip|create] [--branch UNIT] [--update]",
      N_("import customers from CSV (UTF-8, GBK or UTF-16; Chinese or English headers); --update: rows matching a "
      "customer by id or ext_ref update it (only if still at the row's version, when the file has a version column), "
      "as an edited customer export does; the other rows are new customers. Ctrl-C before the end imports nothing"),
      1, run_customer_import },
    { "customer export",
      "[--owner U] [--branch B] [--status S] [--tag T] [--region R] [--industry I] [--source S] "
      "[--created-from DATE] [--created-to DATE] [--sort S] [--output FILE]",
      N_("export customers as CSV that Excel opens (UTF-8 with BOM), with their version and grades (grade_abc ...); "
      "edit it and import it back with customer import --update"),
      1, run_customer_export },
    { "txn import", "FILE.csv [--dry-run]", N_("import transactions from CSV (customer, date, amount, ...)"), 1,
      run_txn_import },
    { NULL, NULL, NULL, 0, NULL },
};
