/* The audit trail read back: AuditList (filters, newest first, keyset pages)
 * and AuditVerify (the hash chain walked from the newest checkpoint, or whole). Auditors and
 * admins only (ACT_AUDIT_READ). What is written, and when, is audit.c's. */
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "rpc.h"
#include "server.h"

#define LIST_DEFAULT 50
#define LIST_MAX 1000

/* ---- AuditList */

#define ENTRY_COLUMNS                                                                                         \
    "seq, " SQL_MS("at") ", user_id, username, peer, action, customer_ids::text, detail, result, encode(hash, 'hex')"

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static ProtobufCBinaryData hex_bytes(struct req *r, const char *hex)
{
    ProtobufCBinaryData b;
    size_t len = hex ? strlen(hex) / 2 : 0;
    b.data = arena_alloc(&r->arena, len ? len : 1);
    b.len = len;
    for (size_t i = 0; i < len; i++)
        b.data[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
    return b;
}

static Kehu__V1__AuditEntry *entry_from_row(struct req *r, const struct db_result *res, int row)
{
    Kehu__V1__AuditEntry *e = arena_alloc(&r->arena, sizeof *e);
    kehu__v1__audit_entry__init(e);
    e->seq = db_get_i64(res, 0, row, 0);
    e->at_ms = db_get_i64(res, 0, row, 1);
    e->user_id = db_get_i64(res, 0, row, 2);
    e->username = arena_strdup(&r->arena, db_get(res, 0, row, 3));
    e->peer = arena_strdup(&r->arena, db_get(res, 0, row, 4));
    e->action = arena_strdup(&r->arena, db_get(res, 0, row, 5));
    int64_t ids[1024];
    const char *text = db_get(res, 0, row, 6);
    int n = authz_parse_path(text, ids, (int)(sizeof ids / sizeof ids[0]));
    if (n > 0) {
        e->customer_ids = arena_alloc(&r->arena, (size_t)n * sizeof *e->customer_ids);
        memcpy(e->customer_ids, ids, (size_t)n * sizeof *ids);
        e->n_customer_ids = (size_t)n;
    }
    e->detail = arena_strdup(&r->arena, db_get(res, 0, row, 7));
    e->result = arena_strdup(&r->arena, db_get(res, 0, row, 8));
    e->hash = hex_bytes(r, db_get(res, 0, row, 9));
    return e;
}

static void listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    const Kehu__V1__AuditList *m = r->msg->audit_list;
    uint32_t limit = m->limit ? m->limit : LIST_DEFAULT;
    int rows = db_rows(res, 0);
    int shown = rows > (int)limit ? (int)limit : rows;
    Kehu__V1__AuditEntries *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__audit_entries__init(out);
    out->entries = arena_alloc(&r->arena, sizeof *out->entries * (size_t)(shown ? shown : 1));
    for (int i = 0; i < shown; i++)
        out->entries[out->n_entries++] = entry_from_row(r, res, i);
    if (rows > shown && shown > 0) {
        out->next_before_seq = out->entries[shown - 1]->seq;
        int64_t total = db_get_i64(res, 1, 0, 0); /* matching from the cursor on */
        out->remaining = total > shown ? (uint32_t)(total - shown) : 1;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_AUDIT_ENTRIES, out);
}

#define AUDIT_MS_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z */

static void audit_list(struct req *r)
{
    const Kehu__V1__AuditList *m = r->msg->audit_list;
    if (!m) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, NULL, "empty AuditList");
        return;
    }
    if (m->limit > LIST_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "limit", "limit is at most %d", LIST_MAX);
        return;
    }
    if (m->customer_id < 0 || m->before_seq < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, m->customer_id < 0 ? "customer_id" : "before_seq",
                 "must not be negative");
        return;
    }
    /* times PostgreSQL can hold: from 1970 to the end of year 9999 */
    if (m->since_ms < 0 || m->since_ms > AUDIT_MS_MAX || m->until_ms < 0 || m->until_ms > AUDIT_MS_MAX) {
        int since_bad = m->since_ms < 0 || m->since_ms > AUDIT_MS_MAX;
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, since_bad ? "since_ms" : "until_ms",
                 "%s must be a time between 1970 and 9999 in Unix milliseconds", since_bad ? "since" : "until");
        return;
    }
    if (m->since_ms && m->until_ms && m->until_ms <= m->since_ms) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "until_ms", "until must be after since");
        return;
    }
    const char *problem;
    if ((problem = rpc_text_problem(m->user, 64, 0)) || (problem = rpc_text_problem(m->action, 64, 0))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, rpc_text_problem(m->user, 64, 0) ? "user" : "action", "%s",
                 problem);
        return;
    }
    /* only the filters given, so that each is planned with its index */
    char sql[1024];
    const char *p[7];
    int np = 0;
    size_t n = (size_t)snprintf(sql, sizeof sql, "SELECT " ENTRY_COLUMNS " FROM audit_log WHERE true");
    if (m->user && *m->user) {
        p[np++] = m->user;
        n += (size_t)snprintf(sql + n, sizeof sql - n, " AND username = $%d", np);
    }
    if (m->customer_id) {
        p[np++] = arena_printf(&r->arena, "{%lld}", (long long)m->customer_id);
        n += (size_t)snprintf(sql + n, sizeof sql - n, " AND customer_ids @> $%d::bigint[]", np);
    }
    if (m->since_ms) {
        p[np++] = arena_printf(&r->arena, "%lld", (long long)m->since_ms);
        n += (size_t)snprintf(sql + n, sizeof sql - n, " AND at >= 'epoch'::timestamptz + $%d::bigint * interval '1 ms'",
                              np);
    }
    if (m->until_ms) {
        p[np++] = arena_printf(&r->arena, "%lld", (long long)m->until_ms);
        n += (size_t)snprintf(sql + n, sizeof sql - n, " AND at < 'epoch'::timestamptz + $%d::bigint * interval '1 ms'",
                              np);
    }
    if (m->action && *m->action) {
        p[np++] = m->action;
        n += (size_t)snprintf(sql + n, sizeof sql - n, " AND action = $%d", np);
    }
    if (m->before_seq) {
        p[np++] = arena_printf(&r->arena, "%lld", (long long)m->before_seq);
        n += (size_t)snprintf(sql + n, sizeof sql - n, " AND seq < $%d::bigint", np);
    }
    /* how many match from the cursor on, so that a page says what remains */
    char count_sql[1024];
    snprintf(count_sql, sizeof count_sql, "SELECT count(*) FROM audit_log%s",
             sql + strlen("SELECT " ENTRY_COLUMNS " FROM audit_log"));
    int nfilter = np;
    p[np++] = arena_printf(&r->arena, "%u", (m->limit ? m->limit : LIST_DEFAULT) + 1);
    snprintf(sql + n, sizeof sql - n, " ORDER BY seq DESC LIMIT $%d::int", np);
    struct db_call *call = db_call_new(r->srv->db, listed, r);
    db_call_add_sql(call, sql, np, p);
    db_call_add_sql(call, count_sql, nfilter, p);
    db_call_send(call);
}

const struct rpc_entry rpc_audit_list = { KEHU__V1__REQUEST__OP_AUDIT_LIST, "audit_list", ACT_AUDIT_READ, 0,
                                          audit_list };

/* ---- AuditVerify: the chain walked from the newest verified checkpoint
 * (full: from the first row), on the long-statement pool; an intact walk
 * leaves its head as the next checkpoint (sql/0017). */

static struct db_stmt verify_stmt = DB_STMT("SELECT ok, rows_checked, bad_seq, reason, last_seq,"
                                            " encode(last_hash, 'hex'), from_seq FROM audit_verify_from($1::boolean)");

static void verified(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "audit_verify returned no row");
        return;
    }
    Kehu__V1__AuditVerifyResult *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__audit_verify_result__init(out);
    out->ok = db_get_bool(res, 0, 0, 0);
    out->rows = db_get_i64(res, 0, 0, 1);
    out->bad_seq = db_get_i64(res, 0, 0, 2);
    out->reason = arena_strdup(&r->arena, db_get(res, 0, 0, 3));
    out->last_seq = db_get_i64(res, 0, 0, 4);
    out->last_hash = hex_bytes(r, db_get(res, 0, 0, 5));
    out->from_seq = db_get_i64(res, 0, 0, 6);
    out->full = r->msg->audit_verify && r->msg->audit_verify->full;
    audit_note_detail(r, "%s: %lld rows%s%s%s", out->ok ? "intact" : "broken", (long long)out->rows,
                      out->full ? " (full)" : out->from_seq ? " after the checkpoint" : "", out->ok ? "" : ", ",
                      out->ok ? "" : out->reason);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_AUDIT_VERIFY, out);
}

static void audit_verify(struct req *r)
{
    const char *p[] = { r->msg->audit_verify && r->msg->audit_verify->full ? "true" : "false" };
    db_query(r->srv->db_long, &verify_stmt, 1, p, verified, r);
}

const struct rpc_entry rpc_audit_verify = { KEHU__V1__REQUEST__OP_AUDIT_VERIFY, "audit_verify", ACT_AUDIT_READ, 0,
                                            audit_verify };
