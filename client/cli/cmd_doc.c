/* Documents: doc put|get|list. Files travel in chunks; a download is written
 * to a temporary file next to the target, checked against the server's
 * SHA-256 and only then renamed into place. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "out.h"
#include "term.h"

#define PUT_CHUNK (256u * 1024u)  /* well under any frame limit */
#define GET_CHUNK (512u * 1024u)  /* the server's maximum */
#define PROGRESS_FROM (1u << 20)  /* files smaller than this show no bar */
#define NAME_COLS 40

/* ---- Small helpers */


/* The MIME type of a file name's extension, for the common ones. */
static const char *guess_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        { "pdf", "application/pdf" },
        { "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
        { "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
        { "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
        { "doc", "application/msword" },
        { "xls", "application/vnd.ms-excel" },
        { "jpg", "image/jpeg" },
        { "jpeg", "image/jpeg" },
        { "png", "image/png" },
        { "gif", "image/gif" },
        { "txt", "text/plain" },
        { "csv", "text/csv" },
        { "zip", "application/zip" },
    };
    const char *dot = strrchr(name, '.');
    if (dot && dot != name)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static void sha_hex(crypto_hash_sha256_state *st, char hex[crypto_hash_sha256_BYTES * 2 + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(st, h);
    sodium_bin2hex(hex, crypto_hash_sha256_BYTES * 2 + 1, h, sizeof h);
}

static char *size_text(const void *msg)
{
    char size[32];
    cli_human_size(((const Kehu__V1__Doc *)msg)->size, size, sizeof size);
    return out_xstrdup(size);
}

static const struct rec_calc doc_calc[] = { { "size", NULL, size_text }, { NULL, NULL, NULL } };
static const struct rec_col doc_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("NAME"), "name", OUT_LEFT, NAME_COLS },
    { N_("TYPE"), "type", OUT_LEFT, NAME_COLS }, { N_("SIZE"), "@size", OUT_RIGHT, 0 },
    { N_("CREATED"), "created_at_ms", OUT_LEFT, 0 }, { N_("BY"), "created_by", OUT_LEFT, 0 }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind doc_rec = {
    &kehu__v1__doc__descriptor, "id customer_id name type size sha256 created_at_ms created_by", doc_cols,
    N_("no documents"), doc_calc,
};
static const struct cli_record_kind doc_kind = { .rec = &doc_rec };

/* ---- doc put */

static int put_failed(struct cli *cli, FILE *f, int rc)
{
    term_progress_done();
    if (f)
        fclose(f);
    return rc;
}

static int run_put(struct cli *cli, int argc, char **argv)
{
    /* given empty, --name is refused below: not sent as a field */
    static const struct cli_flag flags[] = {
        { "name", "", 0, 0, NULL, CLI_FLAG_VALUE }, { "type", "", 0, 0, NULL, CLI_FLAG_VALUE },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    struct cmd_words ws = { .n = 0 };
    int rc;
    if ((rc = cli_flags(cli, argc, argv, NULL, flags, NULL, NULL, &ws)))
        return rc;
    const char *name = cli_flag_value(&ws, "--name"), *type = cli_flag_value(&ws, "--type");
    int64_t customer_id;
    if ((rc = cli_args(cli, argc, argv, 2, 2)) ||
        (rc = cmd_customer_parse_int(cli, "CUSTOMER_ID", argv[optind], 1, INT64_MAX, &customer_id)))
        return rc;
    const char *path = argv[optind + 1];
    if (!name) {
        const char *slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
    }
    if (!*name)
        return cli_usage_error(cli, "FILE: '%s' has no file name: give --name", path);
    if (!type)
        type = guess_type(name);
    if (sodium_init() < 0)
        return cli_error(cli, CLI_TRANSPORT, "cannot initialise libsodium");

    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error(cli, CLI_USAGE, "cannot read %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cli_error(cli, CLI_USAGE, "cannot read %s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size, sent = 0;
    unsigned char *buf = out_xmalloc(PUT_CHUNK);
    crypto_hash_sha256_state sha;
    crypto_hash_sha256_init(&sha);
    uint64_t upload_id = 0;
    Kehu__V1__Doc *doc = NULL;
    Kehu__V1__Response *resp = NULL;
    rc = CLI_OK;
    do {
        size_t want = size - sent < PUT_CHUNK ? (size_t)(size - sent) : PUT_CHUNK;
        size_t got = fread(buf, 1, want, f);
        if (got != want) {
            rc = cli_error(cli, CLI_USAGE, "%s: %s", path,
                           ferror(f) ? strerror(errno) : "the file shrank while being read");
            break;
        }
        crypto_hash_sha256_update(&sha, buf, got);
        Kehu__V1__DocPut m = KEHU__V1__DOC_PUT__INIT;
        if (upload_id) {
            m.upload_id = upload_id;
        } else {
            m.customer_id = customer_id;
            m.name = (char *)name;
            m.type = (char *)type;
            m.size = size;
        }
        m.data.data = buf;
        m.data.len = got;
        m.last = sent + got == size;
        Kehu__V1__Request req;
        cli_request(&req, KEHU__V1__REQUEST__OP_DOC_PUT, &m);
        if ((rc = cli_call(cli, &req, &resp)))
            break;
        sent += got;
        if (m.last) {
            if (resp->result_case != KEHU__V1__RESPONSE__RESULT_DOC || !resp->doc) {
                rc = cli_bad_reply(cli, resp);
                resp = NULL;
                break;
            }
            doc = resp->doc;
        } else {
            if (resp->result_case != KEHU__V1__RESPONSE__RESULT_DOC_UPLOAD || !resp->doc_upload ||
                resp->doc_upload->received != sent || (upload_id && resp->doc_upload->upload_id != upload_id)) {
                rc = cli_bad_reply(cli, resp);
                resp = NULL;
                break;
            }
            upload_id = resp->doc_upload->upload_id;
            kehu_response_free(resp);
            resp = NULL;
        }
        if (size >= PROGRESS_FROM)
            term_progress("uploading", sent, size);
    } while (!doc);
    free(buf);
    if (rc) {
        kehu_response_free(resp);
        return put_failed(cli, f, rc);
    }
    term_progress_done();
    fclose(f);
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    sha_hex(&sha, hex);
    if (strcmp(hex, doc->sha256) != 0) {
        rc = cli_error(cli, CLI_TRANSPORT, "document %" PRId64 " was stored with SHA-256 %s, but %s has %s", doc->id,
                       doc->sha256, path, hex);
        kehu_response_free(resp);
        return rc;
    }
    if (cli->json) {
        cli_json_record(&doc_rec, doc);
    } else {
        char hs[32];
        cli_human_size(doc->size, hs, sizeof hs);
        cli_say("stored document %" PRId64 ": %s (%s, %s)\n", doc->id, doc->name, hs, doc->type);
    }
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- doc get */


static Kehu__V1__Response *get_chunk(struct cli *cli, int64_t id, uint64_t offset, int *rc)
{
    Kehu__V1__DocGet m = KEHU__V1__DOC_GET__INIT;
    m.id = id;
    m.offset = offset;
    m.length = GET_CHUNK;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_DOC_GET, &m);
    Kehu__V1__Response *resp;
    if ((*rc = cli_call(cli, &req, &resp)))
        return NULL;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_DOC || !resp->doc || resp->doc->offset != offset ||
        offset + resp->doc->data.len > resp->doc->size) {
        *rc = cli_bad_reply(cli, resp);
        return NULL;
    }
    return resp;
}

/* The file a document is saved as when no --output is given: its name in
 * the current directory, never a path. */
static char *default_output(const Kehu__V1__Doc *d)
{
    const char *n = d->name;
    if (!*n || strchr(n, '/') || strcmp(n, ".") == 0 || strcmp(n, "..") == 0) {
        char buf[48];
        snprintf(buf, sizeof buf, "document-%" PRId64, d->id);
        return out_xstrdup(buf);
    }
    return out_xstrdup(n);
}

/* Writes the whole download to fd; returns 0 or an exit code (printed). */
static int download(struct cli *cli, Kehu__V1__Response *first, int fd, crypto_hash_sha256_state *sha)
{
    const Kehu__V1__Doc *d = first->doc;
    Kehu__V1__Response *resp = first;
    uint64_t done = 0;
    int rc = CLI_OK;
    for (;;) {
        const Kehu__V1__Doc *chunk = resp->doc;
        if (chunk->size != d->size || strcmp(chunk->sha256, d->sha256) != 0) {
            rc = cli_error(cli, CLI_TRANSPORT, "document %" PRId64 " changed during the download", d->id);
            break;
        }
        for (size_t off = 0; off < chunk->data.len;) {
            ssize_t w = write(fd, chunk->data.data + off, chunk->data.len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = cli_error(cli, CLI_REFUSED, "cannot write %s: %s", cli_part_path, strerror(errno));
                break;
            }
            off += (size_t)w;
        }
        if (rc)
            break;
        crypto_hash_sha256_update(sha, chunk->data.data, chunk->data.len);
        done += chunk->data.len;
        if (d->size >= PROGRESS_FROM)
            term_progress("downloading", done, d->size);
        if (done == d->size)
            break;
        if (chunk->data.len == 0) { /* no progress: the server would keep us here forever */
            rc = cli_error(cli, CLI_TRANSPORT, "the server sent an empty chunk at offset %" PRIu64, done);
            break;
        }
        if (resp != first)
            kehu_response_free(resp);
        resp = get_chunk(cli, d->id, done, &rc);
        if (!resp) {
            resp = first;
            break;
        }
    }
    if (resp != first)
        kehu_response_free(resp);
    term_progress_done();
    return rc;
}


static int run_get(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "output", "", 0, 0, NULL, CLI_FLAG_VALUE }, { "force", "", 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 }
    };
    struct cmd_words ws = { .n = 0 };
    int64_t id;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, NULL, flags, NULL, NULL, &ws)) ||
        (rc = cli_id_arg(cli, argc, argv, "DOC_ID", &id)))
        return rc;
    const char *output = cli_flag_value(&ws, "--output");
    int force = cli_flag_given(&ws, "--force");
    if (output && !*output)
        return cli_usage_error(cli, "--output: expected a file name");
    if (sodium_init() < 0)
        return cli_error(cli, CLI_TRANSPORT, "cannot initialise libsodium");

    Kehu__V1__Response *first = get_chunk(cli, id, 0, &rc);
    if (!first)
        return rc;
    const Kehu__V1__Doc *d = first->doc;
    char *out = output ? out_xstrdup(output) : default_output(d);
    struct stat st;
    if (!force && lstat(out, &st) == 0) {
        rc = cli_error(cli, CLI_USAGE, "%s exists: give --force to overwrite it, or --output FILE", out);
        goto done;
    }
    /* the temporary file sits next to the target, so the rename stays on one file system */
    const char *slash = strrchr(out, '/');
    int dirlen = slash ? (int)(slash - out) + 1 : 0;
    snprintf(cli_part_path, sizeof cli_part_path, "%.*s.%s.kehu-XXXXXX", dirlen, out, slash ? slash + 1 : out);
    cli_part_guard(1);
    int fd = mkstemp(cli_part_path);
    if (fd < 0) {
        rc = cli_error(cli, CLI_REFUSED, "cannot create a temporary file for %s: %s", out, strerror(errno));
        cli_part_path[0] = 0;
        goto done;
    }
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    crypto_hash_sha256_state sha;
    crypto_hash_sha256_init(&sha);
    rc = download(cli, first, fd, &sha);
    if (close(fd) < 0 && rc == CLI_OK)
        rc = cli_error(cli, CLI_REFUSED, "cannot write %s: %s", cli_part_path, strerror(errno));
    if (rc == CLI_OK) {
        char hex[crypto_hash_sha256_BYTES * 2 + 1];
        sha_hex(&sha, hex);
        if (strcmp(hex, d->sha256) != 0)
            rc = cli_error(cli, CLI_TRANSPORT,
                           "document %" PRId64 ": the download has SHA-256 %s, not %s; nothing saved", d->id, hex,
                           d->sha256);
    }
    if (rc == CLI_OK)
        rc = cli_place_file(cli, cli_part_path, out, force, 1);
    if (rc != CLI_OK)
        unlink(cli_part_path);
    cli_part_guard(0);
    if (rc == CLI_OK) {
        if (cli->json) {
            struct json_w w;
            json_init(&w, stdout, 1);
            json_begin_object(&w);
            rec_json_members(&w, &doc_rec, d);
            json_kstr(&w, "path", out);
            json_end_object(&w);
        } else {
            char hs[32];
            cli_human_size(d->size, hs, sizeof hs);
            cli_say("saved document %" PRId64 " (%s) as %s\n", d->id, hs, out);
        }
    }
done:
    free(out);
    kehu_response_free(first);
    return rc;
}

/* ---- doc list */

CLI_LIST_COMMAND(run_list, KEHU__V1__REQUEST__OP_DOC_LIST, &kehu__v1__doc_list__descriptor, "CUSTOMER_ID",
                 "customer_id", KEHU__V1__RESPONSE__RESULT_DOCS, "docs", &doc_kind, NULL)

const struct cli_cmd cmd_doc_table[] = {
    { "doc put", "CUSTOMER_ID FILE [--name N] [--type MIME]",
      N_("store a file with a customer (the type is guessed from the extension)"), 1, run_put },
    { "doc get", "DOC_ID [--output FILE] [--force]",
      N_("download a document (default: its name in the current directory; never overwrites without --force)"), 1,
      run_get },
    { "doc list", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]", N_("a customer's documents, newest first"), 1,
      run_list },
    { NULL, NULL, NULL, 0, NULL },
};
