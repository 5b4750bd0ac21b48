/* Customer RPCs: add (with duplicate detection), get, edit (optimistic
 * concurrency, field history by trigger), list (filters, keyset pages),
 * search (Chinese by substring, pinyin and initials), archive, history.
 *
 * Every customer field a client may set is described once, in `fields`:
 * add, edit (and later import) validate and normalise through it. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "directory.h"
#include "id_number.h"
#include "log.h"
#include "mask.h"
#include "rpc.h"
#include "row_msg.h"
#include "customer_fields.h"
#include "search_keys.h"
#include "server.h"
#include "validate.h"

/* ---- small shared helpers */

char *rpc_money_sql(struct arena *a, int64_t minor)
{
    uint64_t abs = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    return arena_printf(a, "%s%llu.%02llu", minor < 0 ? "-" : "", (unsigned long long)(abs / 100),
                        (unsigned long long)(abs % 100));
}

static Kehu__V1__CustomerKind kind_from_sql(const char *s)
{
    return s && strcmp(s, "corporate") == 0 ? KEHU__V1__CUSTOMER_KIND__CORPORATE : KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
}

static Kehu__V1__CustomerStatus status_from_sql(const char *s)
{
    static const char *const names[] = { "", "active", "in_pool", "churned", "archived" };
    for (int i = 1; s && i < 5; i++)
        if (strcmp(names[i], s) == 0)
            return (Kehu__V1__CustomerStatus)i;
    return KEHU__V1__CUSTOMER_STATUS__CUSTOMER_STATUS_UNSPECIFIED;
}

static int may(struct req *r, enum authz_action act, const struct db_result *res, int stmt, int row);

/* Whether the caller sees this row's ID number and phones in full: the
 * 'unmask' permission over it (never while it waits in a pool: authz.c). */
static int unmasked(struct req *r, const struct db_result *res, int stmt, int row)
{
    return may(r, ACT_CUSTOMER_UNMASK, res, stmt, row);
}

const char *rpc_customer_id_number(struct req *r, const struct db_result *res, int stmt, int row, int whole)
{
    const char *stored = db_get(res, stmt, row, COL_ID_NUMBER);
    if (!stored || !*stored)
        return "";
    if (!whole) {
        const char *masked = db_get(res, stmt, row, COL_ID_MASKED);
        if (masked && *masked)
            return arena_strdup(&r->arena, masked);
    }
    /* whole, or no masked form stored (a number that did not open when it
     * was written): open it here */
    const char *plain = id_number_open(&r->arena, stored);
    return whole ? arena_strdup(&r->arena, plain) : mask_id_number(&r->arena, plain);
}

Kehu__V1__Customer *rpc_customer_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__Customer *c = arena_alloc(&r->arena, sizeof *c);
    kehu__v1__customer__init(c);
    c->id = db_get_i64(res, stmt, row, COL_ID);
    audit_note_customer(r, c->id);
    c->version = db_get_i64(res, stmt, row, COL_VERSION);
    c->kind = kind_from_sql(db_get(res, stmt, row, COL_KIND));
    c->name = rpc_col(r, res, stmt, row, COL_NAME);
    c->ext_ref = rpc_col(r, res, stmt, row, COL_EXT_REF);
    c->gender = rpc_col(r, res, stmt, row, COL_GENDER);
    c->birth = rpc_col(r, res, stmt, row, COL_BIRTH);
    c->phones = arena_split(&r->arena, rpc_col(r, res, stmt, row, COL_PHONES), ',', &c->n_phones);
    c->email = rpc_col(r, res, stmt, row, COL_EMAIL);
    c->company = rpc_col(r, res, stmt, row, COL_COMPANY);
    c->address = rpc_col(r, res, stmt, row, COL_ADDRESS);
    c->region = rpc_col(r, res, stmt, row, COL_REGION);
    c->industry = rpc_col(r, res, stmt, row, COL_INDUSTRY);
    c->size = rpc_col(r, res, stmt, row, COL_SIZE);
    c->occupation = rpc_col(r, res, stmt, row, COL_OCCUPATION);
    c->source = rpc_col(r, res, stmt, row, COL_SOURCE);
    c->tags = arena_split(&r->arena, rpc_col(r, res, stmt, row, COL_TAGS), ',', &c->n_tags);
    c->notes = rpc_col(r, res, stmt, row, COL_NOTES);
    c->owner_id = db_get_i64(res, stmt, row, COL_OWNER_ID);
    c->owner = rpc_col(r, res, stmt, row, COL_OWNER);
    c->branch_id = db_get_i64(res, stmt, row, COL_BRANCH_ID);
    c->branch = rpc_col(r, res, stmt, row, COL_BRANCH);
    c->since = rpc_col(r, res, stmt, row, COL_SINCE);
    c->status = status_from_sql(db_get(res, stmt, row, COL_STATUS));
    c->created_at_ms = db_get_i64(res, stmt, row, COL_CREATED);
    c->created_by = rpc_col(r, res, stmt, row, COL_CREATED_BY);
    c->updated_at_ms = db_get_i64(res, stmt, row, COL_UPDATED);
    c->updated_by = rpc_col(r, res, stmt, row, COL_UPDATED_BY);
    c->last_contact_ms = db_get_i64(res, stmt, row, COL_LAST_CONTACT);
    c->revenue_minor = db_get_i64(res, stmt, row, COL_REVENUE);
    c->balance_minor = db_get_i64(res, stmt, row, COL_BALANCE);
    int whole = unmasked(r, res, stmt, row);
    c->id_number = (char *)rpc_customer_id_number(r, res, stmt, row, whole);
    int sensitive = *c->id_number || c->n_phones;
    if (whole) {
        if (sensitive)
            audit_note_unmasked(r);
    } else {
        c->masked = 1;
        for (size_t i = 0; i < c->n_phones; i++)
            c->phones[i] = mask_phone(&r->arena, c->phones[i]);
    }
    return c;
}

/* The authorization target of a CUSTOMER_COLUMNS row (paths into the
 * caller's arrays). */
static int row_target(const struct db_result *res, int stmt, int row, int64_t *path, int64_t *owner_path,
                      struct authz_target *t)
{
    int n = authz_parse_path(db_get(res, stmt, row, COL_PATH), path, AUTHZ_MAX_DEPTH);
    int on = authz_parse_path(db_get(res, stmt, row, COL_OWNER_PATH), owner_path, AUTHZ_MAX_DEPTH);
    memset(t, 0, sizeof *t);
    t->unit_path = path;
    t->path_len = n < 0 ? 0 : n;
    t->owner_id = db_get_i64(res, stmt, row, COL_OWNER_ID);
    t->owner_path = owner_path;
    t->owner_path_len = on < 0 ? 0 : on;
    const char *status = db_get(res, stmt, row, COL_STATUS);
    t->in_pool = status && strcmp(status, "in_pool") == 0;
    return n;
}

struct authz_target rpc_customer_target(const struct rpc_customer_ref *ref)
{
    struct authz_target t = { .unit_path = ref->path, .path_len = ref->path_len, .owner_id = ref->owner_id,
                              .owner_path = ref->owner_path, .owner_path_len = ref->owner_path_len,
                              .in_pool = strcmp(ref->status, "in_pool") == 0 };
    return t;
}

static int may(struct req *r, enum authz_action act, const struct db_result *res, int stmt, int row)
{
    int64_t path[AUTHZ_MAX_DEPTH], owner_path[AUTHZ_MAX_DEPTH];
    struct authz_target t;
    row_target(res, stmt, row, path, owner_path, &t);
    const char *why;
    return authz_check(req_who(r), act, &t, &why) == KEHU__V1__CODE__OK;
}

static void reply_customer(struct req *r, const struct db_result *res, int stmt)
{
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CUSTOMER, rpc_customer_from_row(r, res, stmt, 0));
}

/* ---- loading one customer for a handler */

static struct db_stmt customer_by_id = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS " FROM customer c" CUSTOMER_JOINS "WHERE c.id = $1");

struct load {
    int64_t id;
    struct db_stmt *joined; /* a lean statement's joined twin (NULL: the statement joins) */
    const char *field; /* how the request names the customer */
    int tombstone_ok;    /* a merged customer is loaded too (unmerge) */
    void *ctx;
    enum authz_action act;
    void (*then)(struct req *r, const struct rpc_customer_ref *ref);
    const char *missing; /* the answer for a customer missing or unreadable; NULL "no customer N" */
    int64_t merged_into; /* a tombstone's: the customer it went into */
};

/* The one answer for a customer that is missing and for one the caller may
 * not read: nothing in it depends on which. */
static void load_not_found(struct req *r, const struct load *l)
{
    if (l->missing)
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, l->field, "%s", l->missing);
    else
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, l->field, "no customer %lld", (long long)l->id);
}

/* The customer a tombstone was merged into, named only when the caller may
 * read it (else it is "another customer", as for any id one may not see). */
static void tombstone_told(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct load *l = r->state;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) == 1 && may(r, ACT_CUSTOMER_READ, res, 0, 0))
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, l->field, "customer %lld was merged into customer %lld",
                 (long long)l->id, (long long)l->merged_into);
    else
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, l->field, "customer %lld was merged into another customer",
                 (long long)l->id);
}

/* A lean row's directory columns (CUSTOMER_COLUMNS_LEAN, then the grades,
 * then what fills them). */
static const struct directory_row lean_row = {
    .owner_id = COL_OWNER_ID, .branch_id = COL_BRANCH_ID, .created_by_id = CUSTOMER_NCOLS + 1,
    .updated_by_id = CUSTOMER_NCOLS + 2, .version = CUSTOMER_NCOLS + 3,
    .owner = COL_OWNER, .branch = COL_BRANCH, .created_by = COL_CREATED_BY, .updated_by = COL_UPDATED_BY,
    .path = COL_PATH, .owner_path = COL_OWNER_PATH,
};

static void loaded(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct load *l = r->state;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) {
        load_not_found(r, l);
        return;
    }
    if (l->joined && directory_fill(r->srv, res->res[0], 0, &lean_row) < 0) {
        /* kehud's copy of the directory is older than the row: joined */
        struct db_stmt *joined = l->joined;
        l->joined = NULL;
        const char *p[] = { rpc_num(r, l->id) };
        db_query(r->srv->db, joined, 1, p, loaded, r);
        return;
    }
    struct rpc_customer_ref ref = { .id = l->id, .ctx = l->ctx };
    struct authz_target t;
    row_target(res, 0, 0, ref.path, ref.owner_path, &t);
    ref.path_len = t.path_len;
    ref.owner_path_len = t.owner_path_len;
    const char *why;
    Kehu__V1__Code code = authz_check(req_who(r), l->act, &t, &why);
    if (code == KEHU__V1__CODE__NOT_FOUND) {
        load_not_found(r, l);
        return;
    }
    if (code != KEHU__V1__CODE__OK) {
        req_fail(r, code, NULL, "%s", why);
        return;
    }
    int64_t merged_into = db_get_i64(res, 0, 0, COL_MERGED_INTO);
    if (merged_into && !l->tombstone_ok) { /* a tombstone: say where the customer went, if the caller may see it */
        l->merged_into = merged_into;
        const char *p[] = { rpc_num(r, merged_into) };
        db_query(r->srv->db, &customer_by_id, 1, p, tombstone_told, r);
        return;
    }
    ref.version = db_get_i64(res, 0, 0, COL_VERSION);
    ref.branch_id = db_get_i64(res, 0, 0, COL_BRANCH_ID);
    ref.owner_id = t.owner_id;
    ref.unmasked = unmasked(r, res, 0, 0);
    snprintf(ref.status, sizeof ref.status, "%s", db_get(res, 0, 0, COL_STATUS));
    /* the row stays reachable for handlers that want it */
    r->state = (void *)res;
    l->then(r, &ref);
}

void rpc_customer_load(struct req *r, int64_t id, enum authz_action act,
                       void (*then)(struct req *r, const struct rpc_customer_ref *ref))
{
    rpc_customer_load_ctx(r, id, act, then, NULL, NULL);
}

void rpc_customer_load_ctx(struct req *r, int64_t id, enum authz_action act,
                           void (*then)(struct req *r, const struct rpc_customer_ref *ref), void *ctx,
                           const char *field)
{
    rpc_customer_load_as(r, id, act, then, ctx, field, NULL);
}

static void load_by(struct req *r, struct db_stmt *stmt, struct db_stmt *joined, int64_t id,
                    enum authz_action act, void (*then)(struct req *r, const struct rpc_customer_ref *ref),
                    void *ctx, const char *field, const char *missing);

void rpc_customer_load_as(struct req *r, int64_t id, enum authz_action act,
                          void (*then)(struct req *r, const struct rpc_customer_ref *ref), void *ctx,
                          const char *field, const char *missing)
{
    load_by(r, &customer_by_id, NULL, id, act, then, ctx, field, missing);
}

/* Loads through stmt: customer_by_id, or a statement with the same columns
 * first (and the same one row by id); with `joined`, stmt is its lean twin
 * (CUSTOMER_COLUMNS_LEAN, and lean_row's columns after the others). */
static void load_by(struct req *r, struct db_stmt *stmt, struct db_stmt *joined, int64_t id,
                    enum authz_action act, void (*then)(struct req *r, const struct rpc_customer_ref *ref),
                    void *ctx, const char *field, const char *missing)
{
    Kehu__V1__Request__OpCase op = r->msg->op_case;
    if (!field)
        field = op == KEHU__V1__REQUEST__OP_CUSTOMER_GET || op == KEHU__V1__REQUEST__OP_CUSTOMER_EDIT ||
                                op == KEHU__V1__REQUEST__OP_CUSTOMER_ARCHIVE
                            ? "id"
                            : "customer_id";
    if (id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "a customer id is required");
        return;
    }
    audit_note_customer(r, id);
    struct load *l = arena_alloc(&r->arena, sizeof *l);
    l->id = id;
    l->joined = joined;
    l->field = field;
    l->tombstone_ok = act == ACT_CUSTOMER_DELETE && op == KEHU__V1__REQUEST__OP_CUSTOMER_UNMERGE;
    l->ctx = ctx;
    l->act = act;
    l->then = then;
    l->missing = missing;
    r->state = l;
    char *p0 = arena_printf(&r->arena, "%lld", (long long)id);
    const char *p[] = { p0 };
    db_query(r->srv->db, stmt, 1, p, loaded, r);
}

/* Fills values from a CUSTOMER_COLUMNS row (the current record). */
void rpc_customer_values(struct req *r, struct cvalues *v, const struct db_result *res, int stmt)
{
    for (int i = 0; i < CF_COUNT; i++)
        v->text[i] = i == FI_ID_NUMBER ? (char *)rpc_customer_id_number(r, res, stmt, 0, 1)
                                       : rpc_col(r, res, stmt, 0, customer_fields[i].row_col);
}

/* ---- CustomerAdd */

struct add_state {
    struct cvalues v;
    int64_t owner_id, branch_id;
    const char *owner_name;
};

static struct db_stmt add_owner = DB_STMT(
    "SELECT u.id, u.role::text, u.disabled_at IS NOT NULL, coalesce(o.branch_id, 0), b.id, b.kind::text,"
    " b.path::text, b.name, o.path::text FROM app_user u JOIN org_unit o ON o.id = u.unit_id"
    " LEFT JOIN org_unit b ON b.id = o.branch_id WHERE u.username = lower($1)");

/* Probable duplicates (customer_probable_duplicates in sql/0002): $1 phones,
 * $2 ID number, $3 name, $4 company. */
static struct db_stmt dup_find = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS ", m.reason FROM customer_probable_duplicates($1::text[], $2, $3, $4) m"
    " JOIN customer c ON c.id = m.id" CUSTOMER_JOINS "ORDER BY c.id LIMIT 10");

static void add_inserted(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct add_state *st = r->state;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "23505") == 0)
            req_fail(r, KEHU__V1__CODE__CONFLICT, "ext_ref", "external reference '%s' is already used in this branch",
                     st->v.text[FI_EXT_REF]);
        else
            req_fail_db(r, res);
        return;
    }
    int last = res->nres - 1;
    if (db_rows(res, last) == 1) {
        Kehu__V1__Customer *c = rpc_customer_from_row(r, res, last, 0);
        log_info(r->conn->id, r->id, "customer %lld added: %s", (long long)c->id, c->name);
        req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CUSTOMER, c);
        return;
    }
    /* not inserted: probable duplicates (the first statement lists them) */
    int n = db_rows(res, 0);
    if (n == 0) { /* a duplicate appeared between the two statements */
        req_fail(r, KEHU__V1__CODE__CONFLICT, NULL, "a probable duplicate was added at the same moment: try again");
        return;
    }
    Kehu__V1__Duplicates *d = arena_alloc(&r->arena, sizeof *d);
    kehu__v1__duplicates__init(d);
    d->matches = arena_alloc(&r->arena, sizeof *d->matches * (size_t)n);
    const char *first = NULL, *elsewhere = NULL;
    char hidden[256] = "";
    size_t nh = 0;
    for (int i = 0; i < n; i++) {
        const char *reason = rpc_col(r, res, 0, i, CUSTOMER_NCOLS);
        if (!may(r, ACT_CUSTOMER_READ, res, 0, i)) {
            /* someone else's customer: that it exists (to avoid two reps
             * chasing one customer), never which, whose or where; the
             * probe and the customer it hit go to the audit trail */
            int64_t id = db_get_i64(res, 0, i, COL_ID);
            audit_note_customer(r, id);
            if (nh < sizeof hidden)
                nh += (size_t)snprintf(hidden + nh, sizeof hidden - nh, "%s%lld", nh ? "," : "", (long long)id);
            if (!elsewhere)
                elsewhere = reason;
            continue;
        }
        Kehu__V1__Duplicate *m = arena_alloc(&r->arena, sizeof *m);
        kehu__v1__duplicate__init(m);
        m->reason = (char *)reason;
        m->customer = rpc_customer_from_row(r, res, 0, i);
        if (!first)
            first = arena_printf(&r->arena, "customer %lld (%s)", (long long)m->customer->id, reason);
        d->matches[d->n_matches++] = m;
    }
    if (elsewhere) { /* one entry for all of them: not even how many */
        Kehu__V1__Duplicate *m = arena_alloc(&r->arena, sizeof *m);
        kehu__v1__duplicate__init(m);
        m->reason = arena_printf(&r->arena, "%s: " RPC_DUPLICATE_ELSEWHERE, elsewhere);
        d->matches[d->n_matches++] = m;
        audit_note_detail(r, "duplicate probe (%s) matched customers the caller may not read: %s", elsewhere, hidden);
    }
    r->status.code = KEHU__V1__CODE__CONFLICT;
    r->status.message =
        first ? arena_printf(&r->arena, "probable duplicate of %s%s; add with force to create anyway", first,
                             d->n_matches > 1 ? " and others" : "")
              : arena_printf(&r->arena, "probable duplicate (%s): " RPC_DUPLICATE_ELSEWHERE
                                        "; add with force to create anyway", elsewhere);
    r->status.field = "";
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_DUPLICATES, d);
}

/* INSERT ... SELECT ... WHERE force OR no probable duplicate, as one
 * statement whose text follows the field table: built once, prepared. */
static struct db_stmt *insert_stmt(void)
{
    static char sql[4096];
    static struct db_stmt st;
    if (st.sql)
        return &st;
    size_t n = (size_t)snprintf(sql, sizeof sql, "WITH c AS (INSERT INTO customer (branch_id, owner_id, created_by,"
                                                 " updated_by, sort_key, search_text, search_tokens");
    for (int i = 0; i < CF_COUNT; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", %s", customer_fields[i].name);
    n += (size_t)snprintf(sql + n, sizeof sql - n, ") SELECT $1, $2, $3, $3, $4, $5, $6::text[]");
    for (int i = 0; i < CF_COUNT; i++) /* field i is $(8 + i) */
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", %s$%d%s", i == FI_SINCE ? "coalesce(" : "", 8 + i,
                              i == FI_SINCE ? "::date, current_date)" : customer_fields[i].cast);
    snprintf(sql + n, sizeof sql - n,
             " WHERE $7::boolean OR NOT EXISTS (SELECT 1 FROM customer_probable_duplicates($%d::text[], $%d, $%d, $%d))"
             " RETURNING *) SELECT " CUSTOMER_COLUMNS " FROM c" CUSTOMER_JOINS,
             8 + FI_PHONES, 8 + FI_ID_NUMBER, 8 + FI_NAME, 8 + FI_COMPANY);
    st.sql = sql;
    return &st;
}

static void add_insert(struct req *r)
{
    struct add_state *st = r->state;
    const Kehu__V1__CustomerAdd *m = r->msg->customer_add;
    struct customer_keys k;
    if (customer_keys(&r->arena, &st->v, &k) < 0) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "could not compute search keys");
        return;
    }
    const char *params[8 + CF_COUNT];
    params[0] = arena_printf(&r->arena, "%lld", (long long)st->branch_id);
    params[1] = st->owner_id ? arena_printf(&r->arena, "%lld", (long long)st->owner_id) : NULL;
    params[2] = arena_printf(&r->arena, "%lld", (long long)req_who(r)->user_id);
    params[3] = k.sort_key;
    params[4] = k.text;
    params[5] = k.tokens;
    params[6] = m->force ? "true" : "false";
    for (int i = 0; i < CF_COUNT; i++) /* $(8 + i) */
        params[7 + i] = customer_field_param(&r->arena, &st->v, i);
    const char *dup_params[4] = { params[7 + FI_PHONES], params[7 + FI_ID_NUMBER], params[7 + FI_NAME],
                                  params[7 + FI_COMPANY] };
    struct db_call *call = db_call_new(r->srv->db, add_inserted, r);
    db_call_add(call, &dup_find, 4, dup_params);
    db_call_add(call, insert_stmt(), 7 + CF_COUNT, params);
    rpc_pool_after_add(call, params[2]); /* assignment rules; the customer re-read last */
    audit_call_send(r, call);
}

static void add_resolved(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct add_state *st = r->state;
    const Kehu__V1__CustomerAdd *m = r->msg->customer_add;
    if (!req_db_ok(r, res))
        return;
    /* owner */
    int64_t owner_branch = 0;
    if (st->owner_name) {
        if (db_rows(res, 0) != 1) {
            req_fail(r, KEHU__V1__CODE__NOT_FOUND, "owner", "no user named '%s'", st->owner_name);
            return;
        }
        Kehu__V1__Role role = rpc_role_from_sql(db_get(res, 0, 0, 1));
        if (db_get_bool(res, 0, 0, 2)) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "owner", "user '%s' is disabled", st->owner_name);
            return;
        }
        if (role != KEHU__V1__ROLE__ACCOUNT_MANAGER && role != KEHU__V1__ROLE__BRANCH_MANAGER) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "owner",
                     "an owner is an account manager or a branch manager; '%s' is not", st->owner_name);
            return;
        }
        st->owner_id = db_get_i64(res, 0, 0, 0);
        owner_branch = db_get_i64(res, 0, 0, 3);
    }
    /* branch: as given, else the owner's, else the caller's. Each candidate
     * row has id, kind, path, name from column `c0` of statement `stmt`. */
    int stmt = -1, c0 = 0;
    if (m->branch && *m->branch) {
        if (db_rows(res, 1) != 1) {
            req_fail(r, KEHU__V1__CODE__NOT_FOUND, "branch", "no org unit '%s'", m->branch);
            return;
        }
        stmt = 1;
    } else if (st->owner_id && owner_branch) {
        stmt = 0;
        c0 = 4;
    } else if (db_rows(res, 2) == 1) {
        stmt = 2;
    }
    if (stmt < 0 || strcmp(db_get(res, stmt, 0, c0 + 1), "branch") != 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "branch",
                 stmt < 0 ? "choose the customer's branch" : "'%s' is not a branch: choose the customer's branch",
                 stmt < 0 ? "" : db_get(res, stmt, 0, c0 + 3));
        return;
    }
    st->branch_id = db_get_i64(res, stmt, 0, c0);
    if (st->owner_id && owner_branch != st->branch_id) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "owner", "'%s' does not work in branch '%s'", st->owner_name,
                 db_get(res, stmt, 0, c0 + 3));
        return;
    }
    int64_t path[AUTHZ_MAX_DEPTH], owner_path[AUTHZ_MAX_DEPTH];
    int n = authz_parse_path(db_get(res, stmt, 0, c0 + 2), path, AUTHZ_MAX_DEPTH);
    int on = st->owner_id ? authz_parse_path(db_get(res, 0, 0, 8), owner_path, AUTHZ_MAX_DEPTH) : 0;
    struct authz_target t = { .unit_path = path, .path_len = n < 0 ? 0 : n, .owner_id = st->owner_id,
                              .owner_path = owner_path, .owner_path_len = on < 0 ? 0 : on };
    const char *why;
    if (authz_check(req_who(r), ACT_CUSTOMER_WRITE, &t, &why) != KEHU__V1__CODE__OK) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL, "%s: a new customer must be within it",
                 authz_cell(req_who(r), ACT_CUSTOMER_WRITE));
        return;
    }
    add_insert(r);
}

/* The Customer message as field values, in the order of `fields`. */
static const char *customer_field_value(struct req *r, const Kehu__V1__Customer *c, int i)
{
    switch (i) {
    case FI_NAME: return c->name;
    case FI_KIND: return c->kind == KEHU__V1__CUSTOMER_KIND__CORPORATE ? "corporate" : "individual";
    case FI_EXT_REF: return c->ext_ref;
    case FI_GENDER: return c->gender;
    case FI_BIRTH: return c->birth;
    case FI_ID_NUMBER: return c->id_number;
    case FI_EMAIL: return c->email;
    case FI_COMPANY: return c->company;
    case FI_ADDRESS: return c->address;
    case FI_REGION: return c->region;
    case FI_INDUSTRY: return c->industry;
    case FI_SIZE: return c->size;
    case FI_OCCUPATION: return c->occupation;
    case FI_SOURCE: return c->source;
    case FI_NOTES: return c->notes;
    case FI_SINCE: return c->since;
    case FI_PHONES:
    case FI_TAGS: {
        char **items = i == FI_PHONES ? c->phones : c->tags;
        size_t n = i == FI_PHONES ? c->n_phones : c->n_tags, len = 1;
        for (size_t k = 0; k < n; k++) {
            if (strchr(items[k], ','))
                return NULL; /* a comma inside one entry: refused below */
            len += strlen(items[k]) + 1;
        }
        char *s = arena_alloc(&r->arena, len);
        for (size_t k = 0; k < n; k++) {
            if (k)
                strcat(s, ",");
            strcat(s, items[k]);
        }
        return s;
    }
    }
    return "";
}

static void customer_add(struct req *r)
{
    const Kehu__V1__CustomerAdd *m = r->msg->customer_add;
    if (!m || !m->customer) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer", "the customer is missing");
        return;
    }
    struct add_state *st = arena_alloc(&r->arena, sizeof *st);
    r->state = st;
    for (int i = 0; i < CF_COUNT; i++) {
        const char *value = customer_field_value(r, m->customer, i);
        const char *why = value ? customer_field_set(&r->arena, &st->v, i, value) : "must not contain commas inside one entry";
        if (why) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, customer_fields[i].name, "%s %s", customer_fields[i].name, why);
            return;
        }
    }
    const struct principal *who = req_who(r);
    st->owner_name = m->owner && *m->owner ? m->owner
                     : who->role == KEHU__V1__ROLE__ACCOUNT_MANAGER ? who->username : NULL;
    const char *p_owner[] = { st->owner_name };
    const char *p_branch[] = { m->branch && *m->branch ? m->branch : NULL };
    const char *p_mine[] = { arena_printf(&r->arena, "%lld", (long long)(who->branch_id ? who->branch_id : who->unit_id)) };
    struct db_call *call = db_call_new(r->srv->db, add_resolved, r);
    db_call_add(call, &add_owner, 1, p_owner);
    db_call_add(call, &rpc_branch_place_by_ref, 1, p_branch);
    db_call_add(call, &rpc_unit_place_by_id, 1, p_mine);
    db_call_send(call);
}

const struct rpc_entry rpc_customer_add = { KEHU__V1__REQUEST__OP_CUSTOMER_ADD, "customer_add", ACT_CUSTOMER_WRITE, 0,
                                            customer_add };

/* ---- CustomerGet */

/* With the grades in force, in the same statement: after the customer's
 * columns, "dimension grade OVERRIDDEN IS_NEW" (0/1 each) per grade,
 * comma-separated in grade_now's order. They are kept on the row
 * (c.grades, sql/0038) and exact while the earliest end of the overrides
 * behind them (c.grade_until) has not passed; after it, until kehud's
 * timer brings the row up to date, customer_grades_now computes them
 * (grade_now; a function call, so that the other gets set up no plan for
 * it), so an override that ran out never shows.
 * Authorization, masking and the audit are the load's, as for every
 * customer read; the grades of a customer the caller may not read are
 * never looked at. */
#define GRADES_NOW                                                                                    \
    "CASE WHEN c.grade_until IS NULL OR c.grade_until >= current_date THEN c.grades"                  \
    " ELSE customer_grades_now(c.id) END"
static struct db_stmt customer_by_id_graded = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS ", " GRADES_NOW " FROM customer c" CUSTOMER_JOINS "WHERE c.id = $1");
/* The same without the joins, the names and paths from kehud's copy of the
 * directory (directory.c): they were half of PostgreSQL's work for a get. */
static struct db_stmt customer_by_id_graded_lean = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS_LEAN ", " GRADES_NOW ", c.created_by, c.updated_by,"
    " (SELECT v FROM directory_version) FROM customer c WHERE c.id = $1");

static void get_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    (void)ref;
    const struct db_result *res = r->state;
    Kehu__V1__Customer *cu = rpc_customer_from_row(r, res, 0, 0);
    size_t n = 0;
    char **items = arena_split(&r->arena, rpc_col(r, res, 0, 0, CUSTOMER_NCOLS), ',', &n);
    cu->grades = arena_alloc(&r->arena, sizeof *cu->grades * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        char *dim = items[i], *grade = strchr(dim, ' ');
        char *flags = grade ? strchr(grade + 1, ' ') : NULL;
        if (!flags || strlen(flags) != 3) {
            req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "unexpected grades");
            return;
        }
        *grade++ = 0;
        *flags++ = 0;
        Kehu__V1__Grade *g = arena_alloc(&r->arena, sizeof *g);
        kehu__v1__grade__init(g);
        g->dimension = dim;
        g->grade = grade;
        g->overridden = flags[0] == '1';
        g->is_new = flags[1] == '1';
        cu->grades[cu->n_grades++] = g;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CUSTOMER, cu);
}

static void customer_get(struct req *r)
{
    load_by(r, &customer_by_id_graded_lean, &customer_by_id_graded, r->msg->customer_get ? r->msg->customer_get->id : 0,
            ACT_CUSTOMER_READ, get_loaded, NULL, NULL, NULL);
}

const struct rpc_entry rpc_customer_get = { KEHU__V1__REQUEST__OP_CUSTOMER_GET, "customer_get", ACT_CUSTOMER_READ, 0,
                                            customer_get };

/* ---- CustomerEdit: read, merge, recompute keys, update if the version still matches
 *
 * Without a version (0) only the named fields change, on the record as it
 * is: the update is still made against the version just read, and when
 * someone saved in between, the record is read again and the named fields
 * applied to it (a few times), so another change is never lost. */

#define EDIT_ATTEMPTS 5

/* A field named by an edit: its name, or one of the other names import
 * accepts (phone, 电话, ...); owner and branch are not set by editing. */
static int edit_field(const char *name)
{
    int i = customer_field_find(name);
    if (i < 0)
        i = customer_field_from_header(name);
    return i >= 0 && i < CF_COUNT ? i : -1;
}

static void edit_loaded(struct req *r, const struct rpc_customer_ref *ref);

static void edit_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__CustomerEdit *m = r->msg->customer_edit;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "23505") == 0)
            req_fail(r, KEHU__V1__CODE__CONFLICT, "ext_ref", "that external reference is already used in this branch");
        else
            req_fail_db(r, res);
        return;
    }
    if (db_rows(res, 0) == 1) {
        reply_customer(r, res, 0);
        return;
    }
    int *attempts = r->state;
    if (m->version == 0 && db_rows(res, 1) == 1 && ++*attempts < EDIT_ATTEMPTS) {
        /* someone saved in between: the named fields again, on the new record */
        rpc_customer_load_ctx(r, m->id, ACT_CUSTOMER_WRITE, edit_loaded, attempts, "id");
        return;
    }
    /* someone else saved first: answer CONFLICT with the record as it is now */
    if (db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "id", "no customer %lld", (long long)m->id);
        return;
    }
    Kehu__V1__Customer *now = rpc_customer_from_row(r, res, 1, 0);
    r->status.code = KEHU__V1__CODE__CONFLICT;
    r->status.field = "version";
    r->status.message = arena_printf(&r->arena, "customer %lld changed since version %lld: it is now at version %lld",
                                     (long long)m->id, (long long)m->version, (long long)now->version);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CUSTOMER, now);
}

static void edit_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CustomerEdit *m = r->msg->customer_edit;
    const struct db_result *row = r->state;
    int64_t expected = m->version ? m->version : ref->version;
    if (ref->version != expected) {
        Kehu__V1__Customer *now = rpc_customer_from_row(r, row, 0, 0);
        r->status.code = KEHU__V1__CODE__CONFLICT;
        r->status.field = "version";
        r->status.message = arena_printf(&r->arena,
                                         "customer %lld changed since version %lld: it is now at version %lld",
                                         (long long)m->id, (long long)m->version, (long long)ref->version);
        req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CUSTOMER, now);
        return;
    }
    struct cvalues v;
    rpc_customer_values(r, &v, row, 0);
    int changed[CF_COUNT] = { 0 };
    for (size_t k = 0; k < m->n_set; k++) {
        int i = edit_field(m->set[k]->field);
        const char *why = customer_field_set(&r->arena, &v, i, m->set[k]->value ? m->set[k]->value : "");
        if (why) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, customer_fields[i].name, "%s %s", customer_fields[i].name, why);
            return;
        }
        if (i == FI_KIND && !*v.text[i]) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "kind", "kind is required");
            return;
        }
        if (i == FI_SINCE && !*v.text[i]) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "since", "since is required");
            return;
        }
        changed[i] = 1;
    }
    struct customer_keys k;
    if (customer_keys(&r->arena, &v, &k) < 0) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "could not compute search keys");
        return;
    }
    char sql[4096];
    size_t n = (size_t)snprintf(sql, sizeof sql,
                                "WITH c AS (UPDATE customer SET version = version + 1, updated_at = now(),"
                                " updated_by = $3, sort_key = $4, search_text = $5, search_tokens = $6::text[]");
    const char *params[6 + CF_COUNT];
    params[0] = arena_printf(&r->arena, "%lld", (long long)m->id);
    params[1] = arena_printf(&r->arena, "%lld", (long long)expected);
    params[2] = arena_printf(&r->arena, "%lld", (long long)req_who(r)->user_id);
    params[3] = k.sort_key;
    params[4] = k.text;
    params[5] = k.tokens;
    int np = 6;
    for (int i = 0; i < CF_COUNT; i++) {
        if (!changed[i])
            continue;
        params[np] = customer_field_param(&r->arena, &v, i);
        np++;
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", %s = $%d%s", customer_fields[i].name, np, customer_fields[i].cast);
    }
    snprintf(sql + n, sizeof sql - n,
             " WHERE id = $1 AND version = $2 AND merged_into IS NULL RETURNING *)"
             " SELECT " CUSTOMER_COLUMNS " FROM c" CUSTOMER_JOINS);
    r->state = ref->ctx; /* the attempts so far */
    struct db_call *call = db_call_new(r->srv->db, edit_done, r);
    db_call_add_sql(call, sql, np, params);
    db_call_add(call, &customer_by_id, 1, params); /* the current record, for a CONFLICT */
    audit_call_send(r, call);
}

static void customer_edit(struct req *r)
{
    const Kehu__V1__CustomerEdit *m = r->msg->customer_edit;
    if (!m || m->id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "a customer id is required");
        return;
    }
    if (m->version < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "version", "a version is positive (0: the current record)");
        return;
    }
    if (m->n_set == 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "set", "nothing to change");
        return;
    }
    for (size_t k = 0; k < m->n_set; k++) {
        const char *f = m->set[k]->field ? m->set[k]->field : "";
        int i = edit_field(f);
        if (i < 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "set",
                     "'%s' is not a customer field one can set (owner and status change through assign and archive)", f);
            return;
        }
        for (size_t j = 0; j < k; j++)
            if (edit_field(m->set[j]->field) == i) {
                req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "set", "'%s' is set twice", customer_fields[i].name);
                return;
            }
    }
    int *attempts = arena_alloc(&r->arena, sizeof *attempts);
    *attempts = 0;
    rpc_customer_load_ctx(r, m->id, ACT_CUSTOMER_WRITE, edit_loaded, attempts, "id");
}

const struct rpc_entry rpc_customer_edit = { KEHU__V1__REQUEST__OP_CUSTOMER_EDIT, "customer_edit", ACT_CUSTOMER_WRITE,
                                             0, customer_edit };

/* ---- CustomerArchive */

static struct db_stmt archive_stmt = DB_STMT(
    "WITH c AS (UPDATE customer SET status = 'archived', version = version + 1, updated_at = now(), updated_by = $3"
    " WHERE id = $1 AND ($2::bigint = 0 OR version = $2) AND status <> 'archived' RETURNING *)"
    " SELECT " CUSTOMER_COLUMNS " FROM c" CUSTOMER_JOINS);

static void archive_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, "version", "customer %lld changed meanwhile: read it again",
                 (long long)r->msg->customer_archive->id);
        return;
    }
    reply_customer(r, res, 0);
}

static void archive_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CustomerArchive *m = r->msg->customer_archive;
    if (strcmp(ref->status, "archived") == 0) {
        reply_customer(r, r->state, 0); /* already archived: nothing to do */
        return;
    }
    if (m->version && m->version != ref->version) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, "version", "customer %lld changed since version %lld: it is now at version %lld",
                 (long long)m->id, (long long)m->version, (long long)ref->version);
        return;
    }
    const char *p[] = { arena_printf(&r->arena, "%lld", (long long)m->id),
                        arena_printf(&r->arena, "%lld", (long long)m->version),
                        arena_printf(&r->arena, "%lld", (long long)req_who(r)->user_id) };
    audit_query(r, &archive_stmt, 3, p, archive_done);
}

static void customer_archive(struct req *r)
{
    const Kehu__V1__CustomerArchive *m = r->msg->customer_archive;
    rpc_customer_load(r, m ? m->id : 0, ACT_CUSTOMER_DELETE, archive_loaded);
}

const struct rpc_entry rpc_customer_archive = { KEHU__V1__REQUEST__OP_CUSTOMER_ARCHIVE, "customer_archive",
                                                ACT_CUSTOMER_DELETE, 0, customer_archive };

/* ---- CustomerUnarchive: an archived customer active again (customer_unarchive in sql/0015) */

static struct db_stmt unarchive_stmt = DB_STMT("SELECT customer_unarchive($1, $2, $3)");

static void unarchive_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "id", "no customer %lld", (long long)r->msg->customer_unarchive->id);
        return;
    }
    reply_customer(r, res, 1);
}

static void unarchive_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CustomerUnarchive *m = r->msg->customer_unarchive;
    if (strcmp(ref->status, "archived") != 0) {
        reply_customer(r, r->state, 0); /* not archived: nothing to do */
        return;
    }
    const char *p[] = { arena_printf(&r->arena, "%lld", (long long)m->id),
                        arena_printf(&r->arena, "%lld", (long long)m->version),
                        arena_printf(&r->arena, "%lld", (long long)req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, unarchive_done, r);
    db_call_add(call, &unarchive_stmt, 3, p);
    db_call_add(call, &customer_by_id, 1, p);
    audit_call_send(r, call);
}

static void customer_unarchive(struct req *r)
{
    const Kehu__V1__CustomerUnarchive *m = r->msg->customer_unarchive;
    rpc_customer_load_ctx(r, m ? m->id : 0, ACT_CUSTOMER_DELETE, unarchive_loaded, NULL, "id");
}

const struct rpc_entry rpc_customer_unarchive = { KEHU__V1__REQUEST__OP_CUSTOMER_UNARCHIVE, "customer_unarchive",
                                                  ACT_CUSTOMER_DELETE, 0, customer_unarchive };

/* ---- CustomerList and CustomerSearch: the caller's scope, filters, keyset pages */

struct sorting {
    const char *name;
    const char *key;   /* the sort expression */
    const char *cast;  /* of the cursor's value */
    int desc;
};

static const struct sorting sortings[] = {
    { "name", "c.sort_key", "::text", 0 },
    { "created", "c.created_at", "::timestamptz", 1 },
    { "last_contact", "coalesce(c.last_contact_at, '-infinity')", "::timestamptz", 1 },
    { "revenue", "c.revenue", "::numeric", 1 },
};

/* A cursor is the last row's sort value and id, hex-encoded so that it is
 * opaque and safe in a shell. */
static char *cursor_make(struct arena *a, const char *value, const char *id)
{
    size_t n = strlen(value), m = strlen(id);
    char *out = arena_alloc(a, (n + m + 1) * 2 + 1), *p = out;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%02x", (unsigned char)value[i]);
    p += sprintf(p, "1f");
    for (size_t i = 0; i < m; i++)
        p += sprintf(p, "%02x", (unsigned char)id[i]);
    return out;
}

static int cursor_parse(struct arena *a, const char *hex, char **value, char **id)
{
    size_t n = strlen(hex);
    if (n % 2 || n > 2000)
        return -1;
    char *raw = arena_alloc(a, n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        raw[i] = (char)v;
    }
    char *sep = strchr(raw, 0x1f);
    if (!sep)
        return -1;
    *sep = 0;
    *value = raw;
    *id = sep + 1;
    int64_t check;
    return parse_i64(*id, &check) == 0 ? 0 : -1;
}

/* A customer list counts what follows a page up to this many ("more than
 * N more" past it). The count reads every row it counts, and a filter that
 * passes one row in twenty reads twenty for each: at 10,000 the count was
 * most of a first page's time over a branch of a million (0.1 to 16 s),
 * at 1,000 it stays within milliseconds for the filters that are common,
 * and the rare ones count by their indexes. Past it the list says "more
 * than N more", which is true, rather than a guess. */
#define LIST_COUNT_CAP 1000

/* Up to how many customers of a region, an industry or a source a list
 * pages by the value's index rather than by the walk of its order (page_sql).
 * By the index a page costs a row read for each of the value's n customers,
 * by the walk limit * N / n for N in the scope: the same near the square
 * root of 20 * N, 4,500 at a million (a walk past a cut of 1,000 read
 * 21,000 rows). Its count is read from the index alone (sql/0043), so
 * counting this far stays cheap. A tag's count reads the rows: it keeps
 * the count's cap. */
#define LIST_INDEX_CUT 5000

struct sqlbuf {
    char *s;
    size_t len, cap;
    const char *params[32];
    int n;
    int branch_param; /* 1 + the index of the --branch parameter when it is the unit's id (filled in once found) */
    int kept_grades;  /* the filters read the grades kept on the customer row (set by grade_filter_sql) */
    int indexed;      /* a filter leads indexes in every list order (a kept grade, a status; sql/0034) */
    /* the filters page_sql matches two ways: each clause as cond has it (by an index) and per row */
    struct two_way {
        const char *by_index, *per_row;
        int cut; /* by the index up to this many */
    } ways[4];
    int n_ways;
};

static void sql_add(struct req *r, struct sqlbuf *b, const char *text)
{
    size_t t = strlen(text);
    if (b->len + t + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap : 1024) * 2 + t;
        char *s = arena_alloc(&r->arena, cap);
        if (b->s)
            memcpy(s, b->s, b->len + 1);
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, t + 1);
    b->len += t;
}

/* Appends text with "$?" replaced by the next parameter's number. */
static void sql_param(struct req *r, struct sqlbuf *b, const char *text, const char *value)
{
    b->params[b->n++] = value;
    const char *q = strstr(text, "$?");
    char head[512];
    snprintf(head, sizeof head, "%.*s$%d%s", (int)(q - text), text, b->n, q + 2);
    sql_add(r, b, head);
}

/* Appends a filter on value that page_sql may match two ways, which admit
 * the same rows: by_index (what cond holds) and per_row, each a format of the
 * parameter's number; by the index up to cut customers. */
static void sql_two_way(struct req *r, struct sqlbuf *b, const char *by_index, const char *per_row, int cut,
                        const char *value)
{
    b->params[b->n++] = value;
    struct two_way *w = &b->ways[b->n_ways++];
    w->cut = cut;
    w->by_index = arena_printf(&r->arena, by_index, b->n);
    w->per_row = arena_printf(&r->arena, per_row, b->n);
    sql_add(r, b, w->by_index);
}

void rpc_scope_params(struct req *r, enum authz_action act, const char **kind, const char **id)
{
    struct authz_scope s = authz_customer_scope(req_who(r), act);
    static const char *const kinds[] = { [SCOPE_NONE] = "3", [SCOPE_ALL] = "0", [SCOPE_UNIT] = "1",
                                         [SCOPE_OWNER] = "2", [SCOPE_TEAM] = "4" };
    *kind = kinds[s.kind];
    *id = arena_printf(&r->arena, "%lld", (long long)s.id);
}

/* The units (or the team's users) are gathered into an array once, before
 * the rows are read (an InitPlan), and each row is tested against it: as
 * IN (SELECT ...), a semi-join, the planner estimated the scope from
 * org_unit's statistics (a table of a few rows, never analysed by autovacuum,
 * planned as hundreds) and started from the units, reading every customer of
 * the branch and sorting them (seconds at a million) instead of walking the
 * list's order. The rows it admits are the same. */
char *rpc_scope_predicate(struct arena *a, struct authz_scope s, const char *branch_col, const char *owner_col)
{
    switch (s.kind) {
    case SCOPE_ALL:
        return "true";
    case SCOPE_UNIT:
        return arena_printf(a, "%s = ANY (ARRAY(SELECT id FROM org_unit WHERE path @> ARRAY[%lld::bigint]))", branch_col,
                            (long long)s.id);
    case SCOPE_OWNER:
        return arena_printf(a, "%s = %lld", owner_col, (long long)s.id);
    case SCOPE_TEAM:
        return arena_printf(a,
                            "%s = ANY (ARRAY(SELECT tu.id FROM app_user tu JOIN org_unit tuo ON tuo.id = tu.unit_id"
                            " WHERE tuo.path @> ARRAY[%lld::bigint]))",
                            owner_col, (long long)s.id);
    default:
        return "false";
    }
}

/* The customers act covers for the caller, as an " AND ..." clause. */
static void scope_sql(struct req *r, struct sqlbuf *b, enum authz_action act)
{
    struct authz_scope s = authz_customer_scope(req_who(r), act);
    sql_add(r, b, " AND ");
    sql_add(r, b, rpc_scope_predicate(&r->arena, s, "c.branch_id", "c.owner_id"));
}

struct page_state {
    const struct sorting *sort;
    uint32_t limit;
};

static void page_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct page_state *ps = r->state;
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0);
    Kehu__V1__CustomerPage *page = arena_alloc(&r->arena, sizeof *page);
    kehu__v1__customer_page__init(page);
    int shown = n > (int)ps->limit ? (int)ps->limit : n;
    page->customers = arena_alloc(&r->arena, sizeof *page->customers * (size_t)(shown ? shown : 1));
    for (int i = 0; i < shown; i++)
        page->customers[page->n_customers++] = rpc_customer_from_row(r, res, 0, i);
    uint32_t upto;
    page->next_cursor = ps->sort ? rpc_customer_next_cursor(r, res, &upto) : "";
    if (*page->next_cursor) {
        int64_t counted = db_get_i64(res, 0, 0, CUSTOMER_NCOLS + 1);
        page->remaining = (uint32_t)(counted - upto);
        page->remaining_more = counted > LIST_COUNT_CAP;
        if (page->remaining_more)
            page->remaining = (uint32_t)(LIST_COUNT_CAP - upto);
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CUSTOMERS, page);
}

char *rpc_customer_next_cursor(struct req *r, const struct db_result *res, uint32_t *shown)
{
    const struct page_state *ps = r->state;
    int n = db_rows(res, 0);
    *shown = n > (int)ps->limit ? ps->limit : (uint32_t)n;
    if (n <= (int)ps->limit) /* one row more than asked means there is a next page */
        return "";
    return cursor_make(&r->arena, db_get(res, 0, (int)*shown - 1, CUSTOMER_NCOLS), db_get(res, 0, (int)*shown - 1, COL_ID));
}


static const char *status_filter(const char *s)
{
    static const char *const ok[] = { "active", "in_pool", "churned", "archived" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, ok[i]) == 0)
            return ok[i];
    return NULL;
}

static int date_filter(struct req *r, const char *value, const char *field)
{
    const char *why;
    if (value && *value && (why = validate_date(value))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "%s %s", field, why);
        return -1;
    }
    return 0;
}

/* The customers whose effective grade on dim is grade (grade_of's answer),
 * as a set: the computed grades without an override in force, and the
 * latest overrides in force. Per row, grade_of was a function call for every
 * customer a list passed (seconds over a branch of a million); as a set the
 * planner hashes it once. abc and lifecycle, the grades lists filter on,
 * are kept on the customer row instead, with indexes in each list order:
 * a set of most customers (the common grade) was still hashed first.
 * dim is a dimension grade_filter_parse accepted: its column is named
 * directly (influence has none: overrides only). */
static void grade_filter_sql(struct req *r, struct sqlbuf *b, const char *dim, const char *grade, int stale)
{
    /* abc and lifecycle are kept on the row (sql/0034), exact unless an
     * override behind a row ran out since (stale: some row's grade_until
     * passed, until kehud's timer brings it up to date); then the set below */
    if (!stale && (strcmp(dim, "abc") == 0 || strcmp(dim, "lifecycle") == 0)) {
        b->kept_grades = b->indexed = 1;
        sql_param(r, b, strcmp(dim, "abc") == 0 ? " AND c.grade_abc = $?::text" : " AND c.grade_lifecycle = $?::text", grade);
        return;
    }
    static const char *const columns[] = { "abc",    "volume", "value_tier", "asset_tier",
                                           "lifecycle", "credit", "needs",      "potential" };
    const char *column = NULL;
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++)
        if (strcmp(dim, columns[i]) == 0)
            column = columns[i];
#define IN_FORCE(o) " AND " o ".status = 'active' AND (" o ".until IS NULL OR " o ".until >= current_date)"
    sql_add(r, b, " AND c.id IN (");
    if (column) {
        sql_add(r, b, arena_printf(&r->arena, "SELECT g.customer_id FROM customer_grade g WHERE g.%s = ", column));
        sql_param(r, b, "$? AND NOT EXISTS (SELECT 1 FROM grade_override x WHERE x.customer_id = g.customer_id", grade);
        sql_param(r, b, " AND x.dimension = $?" IN_FORCE("x") ") UNION ALL ", dim);
    }
    sql_param(r, b, "SELECT o.customer_id FROM grade_override o WHERE o.dimension = $?" IN_FORCE("o"), dim);
    sql_param(r, b, " AND o.grade = $? AND NOT EXISTS (SELECT 1 FROM grade_override n"
                    " WHERE n.customer_id = o.customer_id AND n.dimension = o.dimension" IN_FORCE("n") " AND n.id > o.id))",
              grade);
#undef IN_FORCE
}

/* The filters of a customer list over alias c, and the caller's scope for
 * act, appended to b as " AND ..." clauses; -1 when refused (answered). */
static int filter_sql(struct req *r, const Kehu__V1__CustomerList *m, enum authz_action act, int stale,
                      struct sqlbuf *b)
{
    const char *grade_dim = NULL, *grade = NULL;
    if (m->grade && *m->grade) {
        const char *why;
        if (grade_filter_parse(&r->arena, m->grade, &grade_dim, &grade, &why) < 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "grade", "%s", why);
            return -1;
        }
    }
    if (date_filter(r, m->created_from, "created_from") < 0 || date_filter(r, m->created_to, "created_to") < 0)
        return -1;
    scope_sql(r, b, act);
    if (grade) { /* the effective grade: an override in force, else the last run's */
        grade_filter_sql(r, b, grade_dim, grade, stale);
    }
    const char *status = m->status && *m->status ? m->status : "";
    if (!*status) {
        sql_add(r, b, " AND c.status <> 'archived'");
    } else if (strcmp(status, "all") != 0) {
        if (!status_filter(status)) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "status", "status is active, in_pool, churned, archived or all");
            return -1;
        }
        sql_param(r, b, " AND c.status = $?::customer_status", status);
        b->indexed = 1;
    }
    if (m->owner && *m->owner)
        sql_param(r, b, " AND c.owner_id = (SELECT id FROM app_user WHERE username = lower($?))", m->owner);
    if (m->branch && *m->branch && b->branch_param) {
        /* the unit was looked up first: its id (filled in then), not a lookup per list */
        sql_param(r, b, " AND c.branch_id = ANY (ARRAY(SELECT s.id FROM org_unit s WHERE s.path @> ARRAY[$?::bigint]))",
                  m->branch);
        b->branch_param = b->n;
    } else if (m->branch && *m->branch) {
        sql_param(r, b,
                  " AND c.branch_id = ANY (ARRAY(SELECT s.id FROM org_unit s"
                  " WHERE s.path @> ARRAY[org_unit_ref($?::text, 'branch')]))",
                  m->branch);
    }
    /* by their indexes (the tags' GIN, sql/0043's B-trees), or per row in
     * forms no index serves: = ANY, IS NOT DISTINCT FROM (the value is never
     * NULL here, so it admits what = admits) */
    if (m->tag && *m->tag)
        sql_two_way(r, b, " AND c.tags @> ARRAY[$%d::text]", " AND $%d::text = ANY (c.tags)", LIST_COUNT_CAP, m->tag);
    if (m->region && *m->region)
        sql_two_way(r, b, " AND c.region = $%d", " AND c.region IS NOT DISTINCT FROM $%d", LIST_INDEX_CUT,
                    m->region);
    if (m->industry && *m->industry)
        sql_two_way(r, b, " AND c.industry = $%d", " AND c.industry IS NOT DISTINCT FROM $%d", LIST_INDEX_CUT,
                    m->industry);
    if (m->source && *m->source)
        sql_two_way(r, b, " AND c.source = $%d", " AND c.source IS NOT DISTINCT FROM $%d", LIST_INDEX_CUT,
                    m->source);
    if (m->created_from && *m->created_from)
        sql_param(r, b, " AND c.created_at >= $?::date", m->created_from);
    if (m->created_to && *m->created_to)
        sql_param(r, b, " AND c.created_at < $?::date + 1", m->created_to);
    return 0;
}

int rpc_customer_filter_sql(struct req *r, const Kehu__V1__CustomerList *m, enum authz_action act, int stale,
                            char **sql, const char ***params, int *nparams)
{
    static const Kehu__V1__CustomerList none = KEHU__V1__CUSTOMER_LIST__INIT;
    struct sqlbuf *b = arena_alloc(&r->arena, sizeof *b);
    memset(b, 0, sizeof *b);
    sql_add(r, b, "c.merged_into IS NULL");
    if (filter_sql(r, m ? m : &none, act, stale, b) < 0)
        return -1;
    *sql = b->s;
    *params = b->params;
    *nparams = b->n;
    return 0;
}

/* A list whose filters name an owner or a unit waits for them to be found. */
struct filter_check {
    struct req *r;
    const Kehu__V1__CustomerList *m;
    const struct page_state *ps;
    struct sqlbuf b;
    db_cb cb;
};

/* An owner filter naming a user the caller may not see gets what a missing
 * one gets (units are visible to everyone): a list that is merely empty
 * would hide a typo, and a different answer would reveal the user. */
int rpc_customer_filter_found(struct req *r, const Kehu__V1__CustomerList *m, const struct db_result *res,
                              int owner_stmt, int branch_stmt)
{
    if (m->owner && *m->owner) {
        int readable = db_rows(res, owner_stmt) == 1;
        if (readable) {
            int64_t path[AUTHZ_MAX_DEPTH];
            struct authz_target t = rpc_user_target(res, owner_stmt, 0, path);
            readable = rpc_user_readable(r, &t);
        }
        if (!readable) {
            req_fail(r, KEHU__V1__CODE__NOT_FOUND, "owner", "no user named '%s'", m->owner);
            return -1;
        }
    }
    if (m->branch && *m->branch && db_rows(res, branch_stmt) == 0) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "branch", "no org unit '%s'", m->branch);
        return -1;
    }
    return 0;
}

/* Whether some row's kept grades an ended override made stale (sql/0034,
 * 0038): none on most days (kehud's timer refreshes them), found by an
 * index. A read: the list then filters on the overrides in force instead. */
static struct db_stmt list_grades_stale = DB_STMT("SELECT EXISTS (SELECT 1 FROM customer WHERE grade_until < current_date)");

/* The lookups a list's filters wait for; kept_grades: the filters read the
 * grades kept on the customer row, which may be stale. */
static void filter_lookups(struct db_call *call, const Kehu__V1__CustomerList *m, int kept_grades)
{
    const char *po[] = { m->owner && *m->owner ? m->owner : "" };
    const char *pb[] = { m->branch && *m->branch ? m->branch : "" };
    db_call_add(call, &rpc_user_by_name, 1, po);
    db_call_add(call, &rpc_branch_place_by_ref, 1, pb);
    if (kept_grades)
        db_call_add(call, &list_grades_stale, 0, NULL);
}

void rpc_customer_filter_lookups(struct arena *a, struct db_call *call, const Kehu__V1__CustomerList *m)
{
    /* the grade filter's own parser (a grade it refuses is answered later, by rpc_customer_filter_sql) */
    const char *dim = NULL, *grade, *why;
    if (m->grade && *m->grade && grade_filter_parse(a, m->grade, &dim, &grade, &why) < 0)
        dim = NULL;
    filter_lookups(call, m, dim && (strcmp(dim, "abc") == 0 || strcmp(dim, "lifecycle") == 0));
}

/* The staleness statement follows the branch's when the lookups added it. */
int rpc_customer_filter_stale(const struct db_result *res, int branch_stmt)
{
    if (db_rows(res, branch_stmt + 1) != 1)
        return 0;
    const char *v = db_get(res, branch_stmt + 1, 0, 0);
    return v && strcmp(v, "t") == 0;
}

/* A list's statement: its page (the rows that pass cond, in order, one more
 * than the limit) and the count of what follows (indexed: in order too).
 *
 * A tag, a region, an industry or a source is matched two ways (b->ways),
 * which admit the same rows. Its index finds every customer with the value,
 * then they are sorted: right for a rare value, slow for a common one (tag
 * VIP: 17,000 rows read and sorted at a million customers for a page of 20).
 * Tested per row on the walk of the list's order, a common value gives its
 * page after a few thousand rows, a rare one reads the whole order (a region
 * no customer has: all million). The generic plan cannot tell them apart;
 * the count can, taken first with the index (up to the cut and one;
 * sql/0043's indexes cover the scope and the status too, so a region's count
 * reads the index alone): up to the cut (LIST_COUNT_CAP for a tag,
 * LIST_INDEX_CUT for the others) the index's page is cheap, past it the walk
 * is. The count shown stops at the cap as for any list (page_done). Each way
 * is a branch of a UNION ALL gated on the count (a one-time filter: the
 * other branch is never run).
 * The index's branch takes the ids as the count does (the value's index,
 * its scope and status from the index alone), then those rows by the
 * primary key, sorted and cut to the page behind a fence (OFFSET 0): as one
 * scan with all the conditions, the generic plan ANDed the value's bitmap
 * with the owner's index (an account manager's half a million entries, 250
 * ms at a million) or walked the list's order. */
static char *page_sql(struct req *r, const struct page_state *ps, const char *cond, const struct sqlbuf *b,
                      const char *order)
{
    if (!b->n_ways) {
        const char *count = arena_printf(&r->arena, "(SELECT count(*) FROM (SELECT 1 FROM customer c WHERE %s%s%d) z)",
                                         cond, b->indexed ? order : " LIMIT ", LIST_COUNT_CAP + 1);
        return arena_printf(&r->arena, "SELECT " CUSTOMER_COLUMNS ", %s::text, %s FROM customer c" CUSTOMER_JOINS
                                       "WHERE %s%s%u",
                            ps->sort->key, count, cond, order, ps->limit + 1);
    }
    const char *walk = cond;
    int cut = INT_MAX; /* the lowest of the filters' */
    for (int i = 0; i < b->n_ways; i++) {
        const struct two_way *w = &b->ways[i];
        if (w->cut < cut)
            cut = w->cut;
        const char *at = strstr(walk, w->by_index);
        walk = arena_printf(&r->arena, "%.*s%s%s", (int)(at - walk), walk, w->per_row, at + strlen(w->by_index));
    }
    const char *count = arena_printf(&r->arena, "(SELECT count(*) FROM (SELECT 1 FROM customer c WHERE %s LIMIT %d) z)",
                                     cond, cut + 1);
    return arena_printf(&r->arena,
                        "WITH n AS MATERIALIZED (SELECT %s AS n) SELECT " CUSTOMER_COLUMNS ", %s::text, (SELECT n FROM n)"
                        " FROM ((SELECT c.* FROM (SELECT c.* FROM customer c WHERE c.id = ANY (ARRAY(SELECT c.id FROM"
                        " customer c WHERE %s LIMIT %d)) AND (SELECT n FROM n) <= %d OFFSET 0) c%s%u)"
                        " UNION ALL (SELECT c.* FROM customer c WHERE %s AND (SELECT n FROM n) > %d%s%u)) c"
                        CUSTOMER_JOINS "%s%u",
                        count, ps->sort->key, cond, cut + 1, cut, order, ps->limit + 1, walk, cut, order,
                        ps->limit + 1, order, ps->limit + 1);
}

/* A list's statement, its page and its count of what follows, in ps's order
 * (stale: see grade_filter_sql); -1 when m was refused (answered). */
static int list_sql(struct req *r, const Kehu__V1__CustomerList *m, const struct page_state *ps, int stale,
                    struct sqlbuf *out)
{
    struct sqlbuf b = { .branch_param = m->branch && *m->branch }; /* looked up below */
    sql_add(r, &b, "SELECT " CUSTOMER_COLUMNS ", ");
    sql_add(r, &b, ps->sort->key); /* the cursor's value: the last row's sort key */
    sql_add(r, &b, "::text FROM customer c" CUSTOMER_JOINS "WHERE ");
    size_t cond_at = b.len; /* the conditions (over c alone) start here: counted again below */
    sql_add(r, &b, "c.merged_into IS NULL");
    /* the request's own action: read for a list, export for an export page */
    if (filter_sql(r, m, r->rpc->action, stale, &b) < 0)
        return -1;
    if (m->after && *m->after) {
        char *value, *id;
        if (cursor_parse(&r->arena, m->after, &value, &id) < 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "after", "not a cursor this server gave");
            return -1;
        }
        char cmp[256];
        snprintf(cmp, sizeof cmp, " AND (%s, c.id) %s ($?%s, ", ps->sort->key, ps->sort->desc ? "<" : ">", ps->sort->cast);
        sql_param(r, &b, cmp, value);
        sql_param(r, &b, "$?::bigint)", id);
    }
    /* how many follow from the cursor on, counted up to a cap so that a page of a million stays cheap; the same
     * conditions and parameters, in a subquery computed once. With a filter that leads an index in the list's
     * order, the count reads that index in that order too: its cap's rows, whatever the value. Unordered, the
     * generic plan (a grade passes a third of the rows, it guesses) scanned the table until the cap passed: a
     * rare grade read twenty rows for each it counted (grade A: 0.1 s). Without such an index the scan in the
     * table's order stays: the rows are the same, read in sequence. */
    char order[160];
    snprintf(order, sizeof order, " ORDER BY %s %s, c.id %s LIMIT ", ps->sort->key, ps->sort->desc ? "DESC" : "ASC",
             ps->sort->desc ? "DESC" : "ASC");
    const char *cond = arena_strdup(&r->arena, b.s + cond_at);
    b.s = page_sql(r, ps, cond, &b, order);
    b.len = strlen(b.s);
    b.cap = b.len + 1;
    *out = b;
    return 0;
}

static void filter_checked(const struct db_result *res, void *arg)
{
    struct filter_check *fc = arg;
    struct req *r = fc->r;
    if (!req_db_ok(r, res))
        return;
    if (rpc_customer_filter_found(r, fc->m, res, 0, 1) < 0)
        return;
    if (fc->b.kept_grades && rpc_customer_filter_stale(res, 1) && list_sql(r, fc->m, fc->ps, 1, &fc->b) < 0)
        return; /* (refused already the first time, if at all) */
    if (fc->b.branch_param)
        fc->b.params[fc->b.branch_param - 1] = arena_strdup(&r->arena, db_get(res, 1, 0, 0));
    struct db_call *call = db_call_new(r->srv->db, fc->cb, r);
    db_call_add_sql(call, fc->b.s, fc->b.n, fc->b.params);
    db_call_send(call);
}

int rpc_customer_list_start(struct req *r, const Kehu__V1__CustomerList *m, uint32_t default_limit, db_cb cb)
{
    static const Kehu__V1__CustomerList none = KEHU__V1__CUSTOMER_LIST__INIT;
    if (!m)
        m = &none;
    struct page_state *ps = arena_alloc(&r->arena, sizeof *ps);
    r->state = ps;
    ps->sort = &sortings[0];
    if (m->sort && *m->sort) {
        ps->sort = NULL;
        for (size_t i = 0; i < sizeof sortings / sizeof sortings[0]; i++)
            if (strcmp(m->sort, sortings[i].name) == 0)
                ps->sort = &sortings[i];
        if (!ps->sort) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "sort", "sort by name, created, last_contact or revenue");
            return -1;
        }
    }
    ps->limit = m->limit ? m->limit : default_limit;
    if (ps->limit > 1000) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "limit", "at most 1000 customers per page");
        return -1;
    }
    struct sqlbuf b;
    if (list_sql(r, m, ps, 0, &b) < 0)
        return -1;
    if ((m->owner && *m->owner) || (m->branch && *m->branch) || b.kept_grades) {
        /* the filters name a user and a unit: they must exist (for the caller); kept grades may be stale */
        struct filter_check *fc = arena_alloc(&r->arena, sizeof *fc);
        *fc = (struct filter_check){ .r = r, .m = m, .ps = ps, .b = b, .cb = cb };
        struct db_call *call = db_call_new(r->srv->db, filter_checked, fc);
        filter_lookups(call, m, b.kept_grades); /* the grade as filter_sql parsed it */
        db_call_send(call);
        return 0;
    }
    struct db_call *call = db_call_new(r->srv->db, cb, r);
    db_call_add_sql(call, b.s, b.n, b.params);
    db_call_send(call);
    return 0;
}

static void customer_list(struct req *r)
{
    rpc_customer_list_start(r, r->msg->customer_list, 50, page_done);
}



const struct rpc_entry rpc_customer_list = { KEHU__V1__REQUEST__OP_CUSTOMER_LIST, "customer_list", ACT_CUSTOMER_READ,
                                             0, customer_list };

/* One prepared statement for every search, in three ranks: an exact name or
 * ID number, then whole tokens, then parts. customer_search_page
 * (sql/0035_search_side_table.sql, sql/0040_search_key_digits.sql, its digit
 * ranges read by one function since sql/0042_search_digit_ranges.sql) chooses
 * the page's ids in order, most of it from ranges of the B-tree side table
 * customer_search_key that are already in pinyin order, so a page costs the
 * same however many customers match (王: 57,000 at a million); only the page's rows are joined here for
 * their columns. $1 kind and $2 unit or owner are the caller's scope; $5 the
 * name as typed, $4 the token (a whole syllable, initials, one or two Chinese
 * characters), $7 three or four digits, $3 a LIKE pattern for any other part,
 * each NULL when the query has no such form. */
static struct db_stmt search_stmt = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS ", '' FROM customer_search_page($1::int, $2::bigint, $3, $4, $5, $6::int, $7)"
    " WITH ORDINALITY AS top (id, rank, sort_key, n) JOIN customer c ON c.id = top.id" CUSTOMER_JOINS
    "ORDER BY top.n");

static void customer_search(struct req *r)
{
    const Kehu__V1__CustomerSearch *m = r->msg->customer_search;
    struct search_keys_query q;
    int rc = m && m->text ? search_keys_query(m->text, &q) : SEARCH_KEYS_EEMPTY;
    if (rc < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "text",
                 rc == SEARCH_KEYS_ESHORT ? "type at least three characters (or one or two Chinese characters or letters)"
                 : rc == SEARCH_KEYS_EINVAL ? "the search text is not valid UTF-8"
                                            : "type something to search for");
        return;
    }
    struct page_state *ps = arena_alloc(&r->arena, sizeof *ps);
    r->state = ps;
    ps->limit = m->limit ? m->limit : 20;
    if (ps->limit > 200) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "limit", "at most 200 results");
        return;
    }
    const char *kind, *scope_id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &scope_id);
    const char *p[] = {
        kind,
        scope_id,
        (q.modes & SEARCH_KEYS_BY_TEXT) && !*q.digits ? q.like : NULL,
        (q.modes & SEARCH_KEYS_BY_TOKEN) ? q.token : NULL,
        m->text,
        arena_printf(&r->arena, "%u", ps->limit),
        *q.digits ? q.digits : NULL,
    };
    db_query(r->srv->db, &search_stmt, 7, p, page_done, r);
}

const struct rpc_entry rpc_customer_search = { KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH, "customer_search",
                                               ACT_CUSTOMER_READ, 0, customer_search };

/* ---- CustomerHistory */

/* The name an id in a logged value stands for: the owner's username, the
 * branch's name; "" for other fields. */
#define HISTORY_NAME(v)                                                                                            \
    "coalesce(CASE WHEN " v " !~ '^[0-9]{1,18}$' THEN NULL"                                                        \
    " WHEN l.field = 'owner_id' THEN (SELECT x.username FROM app_user x WHERE x.id = " v "::bigint)"             \
    " WHEN l.field = 'branch_id' THEN (SELECT x.name FROM org_unit x WHERE x.id = " v "::bigint) END, '')"

static struct db_stmt history_stmt = DB_STMT(
    "SELECT " SQL_MS("l.changed_at") ", coalesce(u.username, ''), l.entity, l.entity_id, l.field,"
    " coalesce(CASE WHEN l.field = 'id_number' THEN id_open(l.old_value) ELSE l.old_value END, ''),"
    " coalesce(CASE WHEN l.field = 'id_number' THEN id_open(l.new_value) ELSE l.new_value END, ''), l.version,"
    HISTORY_NAME("l.old_value") ", " HISTORY_NAME("l.new_value")
    " FROM change_log l LEFT JOIN app_user u ON u.id = l.changed_by"
    " WHERE l.customer_id = $1 ORDER BY l.id DESC LIMIT $2");

static struct row_msg change_row = ROW_MSG(kehu__v1__change__descriptor,
    "at_ms,by,entity,entity_id,field,old_value,new_value,version,old_name,new_name");

static void history_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const int *unmasked_p = r->state;
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0);
    Kehu__V1__Changes *ch = arena_alloc(&r->arena, sizeof *ch);
    kehu__v1__changes__init(ch);
    ch->changes = arena_alloc(&r->arena, sizeof *ch->changes * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__Change *c = row_msg(r, &change_row, res, 0, i, 0);
        if (!*unmasked_p && strcmp(c->field, "id_number") == 0) {
            c->old_value = mask_id_number(&r->arena, c->old_value);
            c->new_value = mask_id_number(&r->arena, c->new_value);
        } else if (!*unmasked_p && strcmp(c->field, "phones") == 0) {
            c->old_value = mask_digits(&r->arena, c->old_value);
            c->new_value = mask_digits(&r->arena, c->new_value);
        }
        ch->changes[ch->n_changes++] = c;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CHANGES, ch);
}

static void history_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CustomerHistory *m = r->msg->customer_history;
    uint32_t limit = m->limit && m->limit <= 1000 ? m->limit : 100;
    int *unmasked_p = arena_alloc(&r->arena, sizeof *unmasked_p);
    *unmasked_p = ref->unmasked;
    r->state = unmasked_p;
    const char *p[] = { arena_printf(&r->arena, "%lld", (long long)ref->id), arena_printf(&r->arena, "%u", limit) };
    db_query(r->srv->db, &history_stmt, 2, p, history_done, r);
}

static void customer_history(struct req *r)
{
    const Kehu__V1__CustomerHistory *m = r->msg->customer_history;
    rpc_customer_load(r, m ? m->customer_id : 0, ACT_CUSTOMER_READ, history_loaded);
}

const struct rpc_entry rpc_customer_history = { KEHU__V1__REQUEST__OP_CUSTOMER_HISTORY, "customer_history",
                                                ACT_CUSTOMER_READ, 0, customer_history };
