/* CustomerMerge: KEEP absorbs OTHER; CustomerUnmerge undoes it.
 *
 * Both are loaded and authorized for writing; the merged profile is worked
 * out here (KEEP's values win, its empty fields are filled from OTHER,
 * phones and tags are united, notes joined, the earlier "since" kept) so
 * that the search keys can be recomputed. A dry run answers that plan —
 * both records, the fields KEEP takes over, OTHER's rows that would move —
 * and changes nothing. A merge is one database call — one transaction — that
 * locks both rows at the versions read (or at the versions a plan showed),
 * records what is needed to undo it (customer_merge_record in
 * sql/0015_repairs.sql), moves every contact, transaction, payment, asset
 * snapshot, follow-up, document and history row (customer_move_rows in
 * sql/0005), updates KEEP and leaves OTHER as a tombstone pointing at KEEP.
 * Unmerge (customer_unmerge in sql/0015) puts everything back while KEEP is
 * still at the version the merge left it at. */
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
    Kehu__V1__Customer *keep_c;
    Kehu__V1__MergePlan *plan; /* a dry run's answer, completed by the counts */
};

static struct db_stmt lock_stmt = DB_STMT("SELECT customer_lock_versions($1, $2, $3, $4)");
static struct db_stmt move_stmt = DB_STMT("SELECT customer_move_rows($1, $2)");
static struct db_stmt tombstone_stmt = DB_STMT(
    "UPDATE customer SET status = 'archived', merged_into = $1, version = version + 1, updated_at = now(),"
    " updated_by = $3 WHERE id = $2");
static struct db_stmt record_stmt = DB_STMT("SELECT customer_merge_record($1, $2, $3)");
static struct db_stmt merge_done_stmt = DB_STMT(
    "UPDATE customer_merge m SET keep_version = c.version FROM customer c"
    " WHERE c.id = m.keep_id AND m.id = currval(pg_get_serial_sequence('customer_merge', 'id')) RETURNING m.id");
static struct db_stmt counts_stmt = DB_STMT("SELECT what, n FROM customer_merge_counts($1)");
static struct db_stmt merged_log_stmt = DB_STMT(
    "INSERT INTO change_log (branch_id, customer_id, entity, entity_id, field, old_value, new_value, version, changed_by)"
    " SELECT c.branch_id, c.id, 'customer', c.id, 'merged', $2::text, o.name, c.version, $3"
    " FROM customer c, customer o WHERE c.id = $1 AND o.id = $2::bigint");

/* Unites two comma-separated lists, KEEP's entries first, at most 10. */
static char *unite(struct req *r, const char *a, const char *b)
{
    size_t na, nb;
    char **va = arena_split(&r->arena, a ? a : "", ',', &na), **vb = arena_split(&r->arena, b ? b : "", ',', &nb);
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
    const int keep_row = 4, done_row = 6; /* the statements that updated KEEP and closed the record */
    if (db_rows(res, keep_row) != 1) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, NULL, "customer %lld changed while merging: try again",
                 (long long)m->keep_id);
        return;
    }
    Kehu__V1__Customer *c = rpc_customer_from_row(r, res, keep_row, 0);
    c->merge_id = db_rows(res, done_row) == 1 ? db_get_i64(res, done_row, 0, 0) : 0;
    log_info(r->conn->id, r->id, "customer %lld merged into %lld (merge %lld)", (long long)m->other_id,
             (long long)m->keep_id, (long long)c->merge_id);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CUSTOMER, c);
}

/* The dry run: the plan with OTHER's rows per table. */
static void counted(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct merge *mg = r->state;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__MergePlan *plan = mg->plan;
    int n = db_rows(res, 0);
    plan->moves = arena_alloc(&r->arena, sizeof *plan->moves * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        static const struct {
            const char *table, *what;
        } names[] = { { "contact", "contacts" },   { "txn", "txns" },           { "payment", "payments" },
                      { "followup", "followups" }, { "document", "documents" }, { "change_log", "history" },
                      { "asset_snapshot", "assets" } };
        const char *t = db_get(res, 0, i, 0);
        Kehu__V1__MergeMove *mv = arena_alloc(&r->arena, sizeof *mv);
        kehu__v1__merge_move__init(mv);
        mv->what = arena_strdup(&r->arena, t);
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (strcmp(names[k].table, t) == 0)
                mv->what = (char *)names[k].what;
        mv->count = db_get_i64(res, 0, i, 1);
        plan->moves[plan->n_moves++] = mv;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_MERGE_PLAN, plan);
}

static void plan_field(struct req *r, Kehu__V1__MergePlan *plan, const char *field, const char *before,
                       const char *after)
{
    Kehu__V1__MergeField *f = arena_alloc(&r->arena, sizeof *f);
    kehu__v1__merge_field__init(f);
    f->field = (char *)field;
    f->before = (char *)(before ? before : "");
    f->after = (char *)(after ? after : "");
    plan->fields[plan->n_fields++] = f;
}

static void other_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CustomerMerge *m = r->msg->customer_merge;
    struct merge *mg = ref->ctx;
    struct cvalues other, v = mg->keep;
    rpc_customer_values(r, &other, r->state, 0);
    if ((m->keep_version && m->keep_version != mg->keep_version) ||
        (m->other_version && m->other_version != ref->version)) {
        int keep = m->keep_version && m->keep_version != mg->keep_version;
        req_fail(r, KEHU__V1__CODE__CONFLICT, keep ? "keep_version" : "other_version",
                 "customer %lld changed since version %lld: it is now at version %lld (look at the merge again)",
                 (long long)(keep ? m->keep_id : m->other_id), (long long)(keep ? m->keep_version : m->other_version),
                 (long long)(keep ? mg->keep_version : ref->version));
        return;
    }
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
    if (m->dry_run) {
        Kehu__V1__Customer *oc = rpc_customer_from_row(r, r->state, 0, 0);
        Kehu__V1__MergePlan *plan = arena_alloc(&r->arena, sizeof *plan);
        kehu__v1__merge_plan__init(plan);
        plan->keep = mg->keep_c;
        plan->other = oc;
        plan->fields = arena_alloc(&r->arena, sizeof *plan->fields * (CF_COUNT + 3));
        for (int i = 0; i < CF_COUNT; i++)
            if (changed[i])
                plan_field(r, plan, customer_fields[i].name, mg->keep.text[i], v.text[i]);
        if (oc->revenue_minor)
            plan_field(r, plan, "revenue", rpc_money_sql(&r->arena, mg->keep_c->revenue_minor),
                       rpc_money_sql(&r->arena, mg->keep_c->revenue_minor + oc->revenue_minor));
        if (oc->balance_minor)
            plan_field(r, plan, "balance", rpc_money_sql(&r->arena, mg->keep_c->balance_minor),
                       rpc_money_sql(&r->arena, mg->keep_c->balance_minor + oc->balance_minor));
        plan->grades = arena_printf(&r->arena,
                                    "customer %lld keeps its grades until the next grading run, which grades it on "
                                    "both customers' transactions; customer %lld is no longer graded",
                                    (long long)m->keep_id, (long long)m->other_id);
        mg->plan = plan;
        r->state = mg;
        const char *p[] = { arena_printf(&r->arena, "%lld", (long long)m->other_id) };
        db_query(r->srv->db, &counts_stmt, 1, p, counted, r);
        return;
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
    db_call_add(call, &record_stmt, 3, log_p);
    db_call_add(call, &move_stmt, 2, move_p);
    db_call_add(call, &tombstone_stmt, 3, tomb_p);
    db_call_add_sql(call, sql, np, params);
    db_call_add(call, &merged_log_stmt, 3, log_p);
    db_call_add(call, &merge_done_stmt, 0, NULL);
    audit_call_send(r, call);
}

static void keep_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CustomerMerge *m = r->msg->customer_merge;
    struct merge *mg = arena_alloc(&r->arena, sizeof *mg);
    rpc_customer_values(r, &mg->keep, r->state, 0);
    mg->keep_version = ref->version;
    mg->keep_c = rpc_customer_from_row(r, r->state, 0, 0);
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

/* ---- CustomerUnmerge */

struct unmerge {
    int64_t merge_id, keep_id, other_id;
    const char *missing;
};

static struct db_stmt merge_find_stmt = DB_STMT(
    "SELECT id, keep_id, other_id FROM customer_merge WHERE id = $1 OR ($1 = 0 AND other_id = $2)"
    " ORDER BY id DESC LIMIT 1");
static struct db_stmt unmerge_stmt = DB_STMT("SELECT customer_unmerge($1, 0, $2)");
static struct db_stmt merged_pair_stmt = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS " FROM customer c" CUSTOMER_JOINS "WHERE c.id = $1");

static void unmerged(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct unmerge *u = r->state;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 1) != 1 || db_rows(res, 2) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, u->merge_id ? "merge_id" : "other_id", "%s", u->missing);
        return;
    }
    Kehu__V1__MergeUndone *d = arena_alloc(&r->arena, sizeof *d);
    kehu__v1__merge_undone__init(d);
    d->merge_id = u->merge_id;
    d->keep = rpc_customer_from_row(r, res, 1, 0);
    d->other = rpc_customer_from_row(r, res, 2, 0);
    log_info(r->conn->id, r->id, "merge %lld undone: customer %lld split from %lld", (long long)u->merge_id,
             (long long)u->other_id, (long long)u->keep_id);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_MERGE_UNDONE, d);
}

static void unmerge_keep_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    struct unmerge *u = ref->ctx;
    r->state = u;
    const char *p[] = { arena_printf(&r->arena, "%lld", (long long)u->merge_id),
                        arena_printf(&r->arena, "%lld", (long long)req_who(r)->user_id) };
    const char *kp[] = { arena_printf(&r->arena, "%lld", (long long)u->keep_id) };
    const char *op[] = { arena_printf(&r->arena, "%lld", (long long)u->other_id) };
    struct db_call *call = db_call_new(r->srv->db, unmerged, r);
    db_call_add(call, &unmerge_stmt, 2, p);
    db_call_add(call, &merged_pair_stmt, 1, kp);
    db_call_add(call, &merged_pair_stmt, 1, op);
    audit_call_send(r, call);
}

static void unmerge_other_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    struct unmerge *u = ref->ctx;
    rpc_customer_load_as(r, u->keep_id, ACT_CUSTOMER_DELETE, unmerge_keep_loaded, u,
                          u->merge_id && r->msg->customer_unmerge->merge_id ? "merge_id" : "other_id", u->missing);
}

static void merge_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct unmerge *u = r->state;
    const char *field = r->msg->customer_unmerge->merge_id ? "merge_id" : "other_id";
    if (!req_db_one(r, res, field, "%s", u->missing))
        return;
    u->merge_id = db_get_i64(res, 0, 0, 0);
    u->keep_id = db_get_i64(res, 0, 0, 1);
    u->other_id = db_get_i64(res, 0, 0, 2);
    rpc_customer_load_as(r, u->other_id, ACT_CUSTOMER_DELETE, unmerge_other_loaded, u, field, u->missing);
}

static void customer_unmerge(struct req *r)
{
    const Kehu__V1__CustomerUnmerge *m = r->msg->customer_unmerge;
    if (!m || (m->merge_id <= 0 && m->other_id <= 0)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "merge_id", "the merge's id or the merged customer's id is required");
        return;
    }
    struct unmerge *u = arena_alloc(&r->arena, sizeof *u);
    memset(u, 0, sizeof *u);
    u->missing = m->merge_id > 0 ? arena_printf(&r->arena, "no merge %lld", (long long)m->merge_id)
                                 : arena_printf(&r->arena, "customer %lld was not merged into another",
                                                (long long)m->other_id);
    r->state = u;
    const char *p[] = { arena_printf(&r->arena, "%lld", (long long)(m->merge_id > 0 ? m->merge_id : 0)),
                        arena_printf(&r->arena, "%lld", (long long)m->other_id) };
    db_query(r->srv->db, &merge_find_stmt, 2, p, merge_found, r);
}

const struct rpc_entry rpc_customer_unmerge = { KEHU__V1__REQUEST__OP_CUSTOMER_UNMERGE, "customer_unmerge",
                                                ACT_CUSTOMER_DELETE, 0, customer_unmerge };
