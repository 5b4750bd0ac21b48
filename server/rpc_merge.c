/* CustomerMerge: KEEP absorbs OTHER.
 *
 * Both are loaded and authorized for writing; the merged profile is worked
 * out here (KEEP's values win, its empty fields are filled from OTHER,
 * phones and tags are united, notes joined, the earlier "since" kept) so
 * that the search keys can be recomputed; then one database call — one
 * transaction — locks both rows at the versions read, moves every contact,
 * transaction, follow-up, document and history row (customer_move_rows in
 * sql/0004_merge.sql), updates KEEP and leaves OTHER as a tombstone pointing
 * at KEEP. */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "customer_fields.h"
#include "log.h"
#include "rpc.h"
#include "server.h"

struct merge {
    struct cvalues keep;
    int64_t keep_version;
};

static struct db_stmt lock_stmt = DB_STMT("SELECT customer_lock_versions($1, $2, $3, $4)");
static struct db_stmt move_stmt = DB_STMT("SELECT customer_move_rows($1, $2)");
static struct db_stmt tombstone_stmt = DB_STMT(
    "UPDATE customer SET status = 'archived', merged_into = $1, version = version + 1, updated_at = now(),"
    " updated_by = $3 WHERE id = $2");
static struct db_stmt merged_log_stmt = DB_STMT(
    "INSERT INTO change_log (branch_id, customer_id, entity, entity_id, field, old_value, new_value, version, changed_by)"
    " SELECT c.branch_id, c.id, 'customer', c.id, 'merged', $2::text, o.name, c.version, $3"
    " FROM customer c, customer o WHERE c.id = $1 AND o.id = $2::bigint");

/* Unites two comma-separated lists, KEEP's entries first, at most 10. */
static char *unite(struct req *r, const char *a, const char *b)
{
    size_t na, nb;
    char **va = rpc_split(&r->arena, a ? a : "", ',', &na), **vb = rpc_split(&r->arena, b ? b : "", ',', &nb);
    const char *all[20];
    size_t n = 0;
    for (size_t i = 0; i < na && n < 10; i++)
        all[n++] = va[i];
    for (size_t i = 0; i < nb && n < 10; i++) {
        int dup = 0;
        for (size_t k = 0; k < n; k++)
            dup |= strcmp(all[k], vb[i]) == 0;
        if (!dup)
            all[n++] = vb[i];
    }
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(all[i]) + 1;
    char *out = arena_alloc(&r->arena, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, all[i]);
    }
    return out;
}

static void merged(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__CustomerMerge *m = r->msg->customer_merge;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "40001") == 0)
            req_fail(r, KEHU__V1__CODE__CONFLICT, NULL, "customer %lld or %lld changed while merging: try again",
                     (long long)m->keep_id, (long long)m->other_id);
        else if (strcmp(res->sqlstate, "23505") == 0)
            req_fail(r, KEHU__V1__CODE__CONFLICT, "ext_ref", "the merged external reference is already used in the branch");
        else
            req_fail_db(r, res);
        return;
    }
    const int keep_row = 3; /* the statement that updated KEEP */
    if (db_rows(res, keep_row) != 1) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, NULL, "customer %lld changed while merging: try again",
                 (long long)m->keep_id);
        return;
    }
    log_info(r->conn->id, r->id, "customer %lld merged into %lld", (long long)m->other_id, (long long)m->keep_id);
    r->resp.result_case = KEHU__V1__RESPONSE__RESULT_CUSTOMER;
    r->resp.customer = rpc_customer_from_row(r, res, keep_row, 0);
    req_reply(r);
}

static void other_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CustomerMerge *m = r->msg->customer_merge;
    struct merge *mg = ref->ctx;
    struct cvalues other, v = mg->keep;
    rpc_customer_values(r, &other, r->state, 0);
    int changed[CF_COUNT] = { 0 };
    for (int i = 0; i < CF_COUNT; i++) {
        const char *k = mg->keep.text[i] ? mg->keep.text[i] : "", *o = other.text[i] ? other.text[i] : "";
        if (i == FI_PHONES || i == FI_TAGS) {
            v.text[i] = unite(r, k, o);
        } else if (i == FI_NOTES && *k && *o && strcmp(k, o) != 0) {
            v.text[i] = arena_printf(&r->arena, "%s\n%s", k, o);
        } else if (i == FI_SINCE && *o && strcmp(o, k) < 0) {
            v.text[i] = (char *)o;
        } else if (!*k && *o && i != FI_EXT_REF) { /* an external reference is unique per branch: not copied */
            v.text[i] = (char *)o;
        }
        changed[i] = strcmp(v.text[i] ? v.text[i] : "", k) != 0;
    }
    struct customer_keys keys;
    if (customer_keys(&r->arena, &v, &keys) < 0) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "could not compute search keys");
        return;
    }
    const char *keep = arena_printf(&r->arena, "%lld", (long long)m->keep_id);
    const char *oth = arena_printf(&r->arena, "%lld", (long long)m->other_id);
    const char *actor = arena_printf(&r->arena, "%lld", (long long)req_who(r)->user_id);
    /* KEEP's update: the merged fields, the money, the last contact */
    char sql[4096];
    const char *params[6 + CF_COUNT] = { keep, actor, keys.sort_key, keys.text, keys.tokens, oth };
    int np = 6;
    size_t n = (size_t)snprintf(sql, sizeof sql,
                                "WITH o AS (SELECT revenue, balance, last_contact_at FROM customer WHERE id = $6),"
                                " c AS (UPDATE customer k SET version = k.version + 1, updated_at = now(),"
                                " updated_by = $2, sort_key = $3, search_text = $4, search_tokens = $5::text[],"
                                " revenue = k.revenue + o.revenue, balance = k.balance + o.balance,"
                                " last_contact_at = greatest(k.last_contact_at, o.last_contact_at)");
    for (int i = 0; i < CF_COUNT; i++) {
        if (!changed[i])
            continue;
        params[np] = customer_field_param(&r->arena, &v, i);
        np++;
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", %s = $%d%s", customer_fields[i].name, np,
                              customer_fields[i].cast);
    }
    snprintf(sql + n, sizeof sql - n, " FROM o WHERE k.id = $1 RETURNING k.*) SELECT " CUSTOMER_COLUMNS
             " FROM c" CUSTOMER_JOINS);
    const char *lock_p[] = { keep, arena_printf(&r->arena, "%lld", (long long)mg->keep_version), oth,
                             arena_printf(&r->arena, "%lld", (long long)ref->version) };
    const char *move_p[] = { keep, oth };
    const char *tomb_p[] = { keep, oth, actor };
    const char *log_p[] = { keep, oth, actor };
    struct db_call *call = db_call_new(r->srv->db, merged, r);
    db_call_add(call, &lock_stmt, 4, lock_p);
    db_call_add(call, &move_stmt, 2, move_p);
    db_call_add(call, &tombstone_stmt, 3, tomb_p);
    db_call_add_sql(call, sql, np, params);
    db_call_add(call, &merged_log_stmt, 3, log_p);
    audit_call_send(r, call);
}

static void keep_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CustomerMerge *m = r->msg->customer_merge;
    struct merge *mg = arena_alloc(&r->arena, sizeof *mg);
    rpc_customer_values(r, &mg->keep, r->state, 0);
    mg->keep_version = ref->version;
    rpc_customer_load_ctx(r, m->other_id, ACT_CUSTOMER_DELETE, other_loaded, mg, "other_id");
}

static void customer_merge(struct req *r)
{
    const Kehu__V1__CustomerMerge *m = r->msg->customer_merge;
    if (!m || m->keep_id <= 0 || m->other_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, m && m->keep_id > 0 ? "other_id" : "keep_id",
                 "the two customers' ids are required");
        return;
    }
    if (m->keep_id == m->other_id) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "other_id", "a customer cannot be merged into itself");
        return;
    }
    rpc_customer_load_ctx(r, m->keep_id, ACT_CUSTOMER_WRITE, keep_loaded, NULL, "keep_id");
}

const struct rpc_entry rpc_customer_merge = { KEHU__V1__REQUEST__OP_CUSTOMER_MERGE, "customer_merge",
                                              ACT_CUSTOMER_DELETE, 0, customer_merge };
