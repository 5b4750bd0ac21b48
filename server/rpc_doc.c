/* Documents kept with a customer: uploaded and downloaded in chunks so that
 * no frame comes near the frame limit.
 *
 * An upload lives on its connection (a conn_stream), one at a time: the
 * first DocPut names the customer, the file and its whole size (at most
 * doc_max_bytes) and is authorized; later ones carry the upload_id it got
 * back; the last is authorized again and stores the document in one INSERT,
 * the SHA-256 having been computed as the bytes arrived. The buffer grows
 * with what actually arrives, never to the announced size at once. A closed
 * connection drops its upload (conn_unref). A rejected chunk of a known
 * upload ends that upload, so the client can start over.
 *
 * Downloads read substring(content ...) of an uncompressed, out-of-line
 * column, so a chunk costs the pages it covers, not the whole file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "conn.h"
#include "log.h"
#include "page.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"

#define DOC_CHUNK_MAX (512u * 1024u)
#define DOC_NAME_MAX 200
#define DOC_TYPE_MAX 100

enum upload_state {
    UPLOAD_CHECKING, /* the first chunk's authorization is in flight */
    UPLOAD_OPEN,     /* taking chunks */
    UPLOAD_STORING,  /* the last chunk arrived: authorizing again, then storing */
};

struct doc_upload {
    uint64_t id;
    enum upload_state state;
    int64_t customer_id;
    char *name, *type;
    uint64_t size, received;
    unsigned char *data;
    size_t cap;
    crypto_hash_sha256_state sha;
};

static uint64_t next_upload_id;

static void upload_free(struct doc_upload *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->type);
    free(u->data);
    free(u);
}

static void upload_drop(struct conn *c, void *stream)
{
    (void)c;
    upload_free(stream);
}

/* An upload lives on its connection, one at a time. */
static const struct conn_stream_ops upload_stream = { "document upload", upload_drop };

static struct doc_upload *upload_of(struct conn *c)
{
    return conn_stream(c, &upload_stream);
}

/* Ends the connection's upload (a failure, a rejected chunk, or stored). */
static void upload_end(struct conn *c)
{
    upload_free(upload_of(c));
    conn_stream_set(c, &upload_stream, NULL);
}

static void upload_append(struct doc_upload *u, const uint8_t *data, size_t len)
{
    if (len == 0)
        return;
    if (u->received + len > u->cap) {
        size_t cap = u->cap ? u->cap * 2 : DOC_CHUNK_MAX;
        if (cap < u->received + len)
            cap = u->received + len;
        if (cap > u->size)
            cap = u->size;
        u->data = xrealloc(u->data, cap);
        u->cap = cap;
    }
    memcpy(u->data + u->received, data, len);
    u->received += len;
    crypto_hash_sha256_update(&u->sha, data, len);
}

/* ---- the record as the protocol shows it */

#define DOC_COLUMNS                                                                                    \
    "d.id, d.customer_id, d.name, d.type, d.size, d.sha256, " SQL_MS("d.created_at") ","               \
    " coalesce(u.username, '')"
#define DOC_NCOLS 8

static struct row_msg doc_row = ROW_MSG(kehu__v1__doc__descriptor,
    "id,customer_id,name,type,size,sha256,created_at_ms,created_by");

static Kehu__V1__Doc *doc_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    return row_msg(r, &doc_row, res, stmt, row, 0);
}

/* ---- checks */

static const char *name_problem(const char *s)
{
    if (!s || !*s)
        return "is required";
    const char *why = rpc_text_problem(s, DOC_NAME_MAX, 0);
    if (why)
        return why;
    if (strchr(s, '/') || strchr(s, '\\'))
        return "must not contain slashes (a file name, not a path)";
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return "is not a file name";
    return NULL;
}

/* A MIME type: type/subtype of token characters, stored lower-case. */
static const char *type_problem(const char *s)
{
    static const char token[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&^_.+-";
    size_t n = strlen(s), a = strspn(s, token);
    if (n > DOC_TYPE_MAX)
        return "is too long";
    if (a == 0 || s[a] != '/' || a + 1 == n || strspn(s + a + 1, token) != n - a - 1)
        return "is not a MIME type (type/subtype, e.g. application/pdf)";
    return NULL;
}

/* ---- the customer a document belongs to, authorized */

static struct db_stmt doc_customer = DB_STMT(
    "SELECT c.id, b.path::text, coalesce(c.owner_id, 0), " SQL_OWNER_PATH " FROM customer c"
    " JOIN org_unit b ON b.id = c.branch_id"
    " WHERE c.id = $1 AND c.merged_into IS NULL");

/* OK, or the code to answer with (NOT_FOUND for a customer not visible). */
static Kehu__V1__Code customer_check(struct req *r, const struct db_result *res, int stmt, int row, int path_col,
                                     enum authz_action act, const char **why)
{
    int64_t path[AUTHZ_MAX_DEPTH], owner_path[AUTHZ_MAX_DEPTH];
    int n = authz_parse_path(db_get(res, stmt, row, path_col), path, AUTHZ_MAX_DEPTH);
    int on = authz_parse_path(db_get(res, stmt, row, path_col + 2), owner_path, AUTHZ_MAX_DEPTH);
    struct authz_target t = { .unit_path = path, .path_len = n < 0 ? 0 : n,
                              .owner_id = db_get_i64(res, stmt, row, path_col + 1),
                              .owner_path = owner_path, .owner_path_len = on < 0 ? 0 : on };
    return authz_check(req_who(r), act, &t, why);
}

/* ---- DocPut */

static struct db_stmt doc_insert = DB_STMT(
    "WITH d AS (INSERT INTO document (branch_id, customer_id, name, type, size, sha256, content, created_by)"
    " SELECT c.branch_id, c.id, $2, $3, $4::bigint, $5, $6::bytea, $7 FROM customer c WHERE c.id = $1 RETURNING *)"
    " SELECT " DOC_COLUMNS " FROM d LEFT JOIN app_user u ON u.id = d.created_by");

static void doc_stored(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_one(r, res, "customer_id", "no such customer"))
        return;
    Kehu__V1__Doc *d = doc_from_row(r, res, 0, 0);
    log_info(r->conn->id, r->id, "document %lld for customer %lld: %s, %llu bytes", (long long)d->id,
             (long long)d->customer_id, d->name, (unsigned long long)d->size);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_DOC, d);
}

/* Hands the finished upload to the database and lets go of it. */
static void doc_store(struct req *r)
{
    struct doc_upload *u = upload_of(r->conn);
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex_hash[crypto_hash_sha256_BYTES * 2 + 1];
    crypto_hash_sha256_final(&u->sha, hash);
    sodium_bin2hex(hex_hash, sizeof hex_hash, hash, sizeof hash);
    /* bytea in its hex text form: \x followed by two digits a byte */
    size_t hexlen = (size_t)u->size * 2 + 3;
    char *content = xmalloc(hexlen);
    content[0] = '\\';
    content[1] = 'x';
    sodium_bin2hex(content + 2, hexlen - 2, u->data ? u->data : (const unsigned char *)"", (size_t)u->size);
    const char *size = arena_printf(&r->arena, "%llu", (unsigned long long)u->size);
    const char *who = rpc_num(r, req_who(r)->user_id);
    const char *p[] = { rpc_num(r, u->customer_id), u->name, u->type, size, hex_hash, content, who };
    struct db_call *call = db_call_new(r->srv->db, doc_stored, r);
    db_call_add(call, &doc_insert, 7, p); /* copies the parameters */
    free(content);
    upload_end(r->conn);
    audit_call_send(r, call);
}

static void reply_progress(struct req *r, const struct doc_upload *u)
{
    Kehu__V1__DocUpload *up = arena_alloc(&r->arena, sizeof *up);
    kehu__v1__doc_upload__init(up);
    up->upload_id = u->id;
    up->received = u->received;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_DOC_UPLOAD, up);
}

/* The customer of the upload was loaded for the first or the last chunk. */
static void put_customer(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct doc_upload *u = upload_of(r->conn);
    const Kehu__V1__DocPut *m = r->msg->doc_put;
    if (res->outcome != DB_OK) {
        upload_end(r->conn);
        req_fail_db(r, res);
        return;
    }
    const char *why = "no such customer";
    Kehu__V1__Code code = db_rows(res, 0) == 1 ? customer_check(r, res, 0, 0, 1, ACT_CUSTOMER_WRITE, &why)
                                               : KEHU__V1__CODE__NOT_FOUND;
    if (code != KEHU__V1__CODE__OK) {
        int64_t id = u->customer_id;
        upload_end(r->conn);
        if (code == KEHU__V1__CODE__NOT_FOUND)
            req_fail(r, code, "customer_id", "no customer %lld", (long long)id);
        else
            req_fail(r, code, NULL, "%s", why);
        return;
    }
    if (u->state == UPLOAD_CHECKING) {
        u->state = UPLOAD_OPEN;
        upload_append(u, m->data.data, m->data.len);
        if (!m->last) {
            reply_progress(r, u);
            return;
        }
    }
    doc_store(r);
}

static void load_customer(struct req *r, int64_t customer_id)
{
    audit_note_customer(r, customer_id);
    const char *p[] = { rpc_num(r, customer_id) };
    db_query(r->srv->db, &doc_customer, 1, p, put_customer, r);
}

/* Fails the request; a known upload ends with it. */
static void put_fail(struct req *r, int end, Kehu__V1__Code code, const char *field, const char *msg)
{
    if (end)
        upload_end(r->conn);
    req_fail(r, code, field, "%s", msg);
}

static void doc_put_first(struct req *r)
{
    const Kehu__V1__DocPut *m = r->msg->doc_put;
    struct conn *c = r->conn;
    size_t max = r->srv->cfg.doc_max_bytes;
    const char *why;
    char msg[256];
    if (upload_of(c)) {
        req_fail(r, KEHU__V1__CODE__RESOURCE_EXHAUSTED, "upload_id",
                 "upload %llu is still open on this connection: finish it first (one upload at a time)",
                 (unsigned long long)upload_of(c)->id);
        return;
    }
    if (m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    if ((why = name_problem(m->name))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "name", "name %s", why);
        return;
    }
    if (m->type && *m->type && (why = type_problem(m->type))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "type", "type %s", why);
        return;
    }
    if (m->size > max) {
        req_fail(r, KEHU__V1__CODE__RESOURCE_EXHAUSTED, "size", "a document may have at most %zu bytes, not %llu", max,
                 (unsigned long long)m->size);
        return;
    }
    if (m->data.len > DOC_CHUNK_MAX) {
        snprintf(msg, sizeof msg, "a chunk may have at most %u bytes", DOC_CHUNK_MAX);
        put_fail(r, 0, KEHU__V1__CODE__INVALID_ARGUMENT, "data", msg);
        return;
    }
    if (m->data.len > m->size || (m->last && m->data.len != m->size)) {
        snprintf(msg, sizeof msg, "the chunk has %zu bytes of a document announced with %llu", m->data.len,
                 (unsigned long long)m->size);
        put_fail(r, 0, KEHU__V1__CODE__INVALID_ARGUMENT, m->data.len > m->size ? "data" : "size", msg);
        return;
    }
    struct doc_upload *u = xcalloc(1, sizeof *u);
    u->id = ++next_upload_id;
    u->state = UPLOAD_CHECKING;
    u->customer_id = m->customer_id;
    u->name = xstrdup(m->name);
    u->type = xstrdup(m->type && *m->type ? m->type : "application/octet-stream");
    for (char *p = u->type; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    u->size = m->size;
    crypto_hash_sha256_init(&u->sha);
    /* reserved now: a second upload is refused while this one is checked */
    if (conn_stream_set(c, &upload_stream, u) < 0) {
        upload_free(u);
        req_fail(r, KEHU__V1__CODE__RESOURCE_EXHAUSTED, NULL, "this connection serves too many streams at once");
        return;
    }
    load_customer(r, u->customer_id);
}

static void doc_put_next(struct req *r)
{
    const Kehu__V1__DocPut *m = r->msg->doc_put;
    struct doc_upload *u = upload_of(r->conn);
    char msg[256];
    if (!u || u->id != m->upload_id || u->state != UPLOAD_OPEN) {
        snprintf(msg, sizeof msg, "no upload %llu open on this connection", (unsigned long long)m->upload_id);
        put_fail(r, 0, KEHU__V1__CODE__INVALID_ARGUMENT, "upload_id", msg);
        return;
    }
    if (m->data.len > DOC_CHUNK_MAX) {
        snprintf(msg, sizeof msg, "a chunk may have at most %u bytes; upload %llu is abandoned", DOC_CHUNK_MAX,
                 (unsigned long long)u->id);
        put_fail(r, 1, KEHU__V1__CODE__INVALID_ARGUMENT, "data", msg);
        return;
    }
    if (m->data.len > u->size - u->received) {
        snprintf(msg, sizeof msg, "%llu more bytes than the %llu announced; upload %llu is abandoned",
                 (unsigned long long)(u->received + m->data.len - u->size), (unsigned long long)u->size,
                 (unsigned long long)u->id);
        put_fail(r, 1, KEHU__V1__CODE__INVALID_ARGUMENT, "data", msg);
        return;
    }
    if (m->last && u->received + m->data.len != u->size) {
        snprintf(msg, sizeof msg, "the upload ended after %llu of the %llu bytes announced; upload %llu is abandoned",
                 (unsigned long long)(u->received + m->data.len), (unsigned long long)u->size,
                 (unsigned long long)u->id);
        put_fail(r, 1, KEHU__V1__CODE__INVALID_ARGUMENT, "size", msg);
        return;
    }
    upload_append(u, m->data.data, m->data.len);
    if (!m->last) {
        reply_progress(r, u);
        return;
    }
    u->state = UPLOAD_STORING;
    load_customer(r, u->customer_id); /* permissions may have changed while the bytes came */
}

static void doc_put(struct req *r)
{
    const Kehu__V1__DocPut *m = r->msg->doc_put;
    if (!m) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    if (m->upload_id)
        doc_put_next(r);
    else
        doc_put_first(r);
}

const struct rpc_entry rpc_doc_put = { KEHU__V1__REQUEST__OP_DOC_PUT, "doc_put", ACT_CUSTOMER_WRITE, RPC_AUDIT_LAST, doc_put };

/* ---- DocGet */

/* The document, its customer's place for the check, and the chunk. */
static struct db_stmt doc_get_stmt = DB_STMT(
    "SELECT " DOC_COLUMNS ", b.path::text, coalesce(c.owner_id, 0), " SQL_OWNER_PATH ", substring(d.content FROM $2::int + 1 FOR $3::int)"
    " FROM document d JOIN customer c ON c.id = d.customer_id JOIN org_unit b ON b.id = c.branch_id"
    " LEFT JOIN app_user u ON u.id = d.created_by WHERE d.id = $1");

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static void doc_got(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__DocGet *m = r->msg->doc_get;
    if (!req_db_ok(r, res))
        return;
    const char *why;
    if (db_rows(res, 0) == 1)
        audit_note_customer(r, db_get_i64(res, 0, 0, 1));
    /* a document of a customer the caller may not read does not exist for them */
    if (db_rows(res, 0) != 1 ||
        customer_check(r, res, 0, 0, DOC_NCOLS, ACT_CUSTOMER_READ, &why) != KEHU__V1__CODE__OK) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "id", "no document %lld", (long long)m->id);
        return;
    }
    Kehu__V1__Doc *d = doc_from_row(r, res, 0, 0);
    if (m->offset > d->size) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "offset", "offset %llu is past the end (%llu bytes)",
                 (unsigned long long)m->offset, (unsigned long long)d->size);
        return;
    }
    /* the chunk arrives as bytea's hex text: \x0a1b... */
    const char *hex = db_get(res, 0, 0, DOC_NCOLS + 3);
    size_t n = hex && hex[0] == '\\' && hex[1] == 'x' ? strlen(hex + 2) / 2 : 0;
    uint8_t *data = arena_alloc(&r->arena, n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 + 2 * i]), lo = hexval(hex[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
            req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "the database sent a chunk that is not hex");
            return;
        }
        data[i] = (uint8_t)(hi << 4 | lo);
    }
    d->data.data = data;
    d->data.len = n;
    d->offset = m->offset;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_DOC, d);
}

static void doc_get(struct req *r)
{
    const Kehu__V1__DocGet *m = r->msg->doc_get;
    if (!m || m->id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "a document id is required");
        return;
    }
    if (m->length > DOC_CHUNK_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "length", "a chunk may have at most %u bytes", DOC_CHUNK_MAX);
        return;
    }
    if (m->offset > (uint64_t)INT32_MAX - DOC_CHUNK_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "offset", "offset %llu is past the end",
                 (unsigned long long)m->offset);
        return;
    }
    const char *p[] = { rpc_num(r, m->id), arena_printf(&r->arena, "%llu", (unsigned long long)m->offset),
                        arena_printf(&r->arena, "%u", m->length ? m->length : DOC_CHUNK_MAX) };
    db_query(r->srv->db, &doc_get_stmt, 3, p, doc_got, r);
}

const struct rpc_entry rpc_doc_get = { KEHU__V1__REQUEST__OP_DOC_GET, "doc_get", ACT_CUSTOMER_READ, 0, doc_get };

/* ---- DocList */

/* Newest first, a page: $2 the cursor, $3 the page plus one; then the count
 * after the cursor and the key. */
static struct db_stmt doc_list_stmt = DB_STMT(
    "SELECT " DOC_COLUMNS ", count(*) OVER (), d.id::text FROM document d LEFT JOIN app_user u ON u.id = d.created_by"
    " WHERE d.customer_id = $1 AND ($2::bigint IS NULL OR d.id < $2::bigint) ORDER BY d.id DESC LIMIT $3");

static void docs_listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__Docs *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__docs__init(list);
    int n = page_end(r, r->state, res, 0, DOC_NCOLS + 1, &list->next_cursor, &list->remaining);
    list->docs = arena_alloc(&r->arena, sizeof *list->docs * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        list->docs[list->n_docs++] = doc_from_row(r, res, 0, i);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_DOCS, list);
}

static void doc_list_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    struct page *pg = ref->ctx;
    r->state = pg;
    const char *p[] = { rpc_num(r, ref->id), pg->key[0], pg->fetch };
    db_query(r->srv->db, &doc_list_stmt, 3, p, docs_listed, r);
}

static void doc_list(struct req *r)
{
    const Kehu__V1__DocList *m = r->msg->doc_list;
    if (!m || m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "doc_list", "i", m->limit, m->after, 200, 1000) < 0)
        return;
    rpc_customer_load_ctx(r, m->customer_id, ACT_CUSTOMER_READ, doc_list_loaded, pg, "customer_id");
}

const struct rpc_entry rpc_doc_list = { KEHU__V1__REQUEST__OP_DOC_LIST, "doc_list", ACT_CUSTOMER_READ, 0, doc_list };
