/* Reassignment RPCs: Assign (given customers, a user's, or a filter's, to
 * one receiver or several by capacity; dry runs), AssignUndo, AssignHistory,
 * UserCap, and the reassignment policy (the performance split of handovers
 * across regions).
 *
 * The moves themselves are one SQL function (sql/0009_reassign.sql,
 * assign_customers / assign_undo) run as one statement, so a batch is whole
 * or nothing. Here: the request's shape, the receivers (existing, able to
 * own customers, and such that the caller could reassign the customers once
 * they are theirs — the authorization function decides), and the caller's
 * 'reassign' scope handed to the SQL, which applies it to every customer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "page.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"

#define ASSIGN_MAX_IDS 100000
#define ASSIGN_MAX_RECEIVERS 50
#define ASSIGN_MAX_SHOWN 100000
#define REASON_MAX 500

/* A refusal raised by the SQL functions, answered with the code its
 * SQLSTATE stands for and the message without libpq's decoration. */
static void fail_sql(struct req *r, const struct db_result *res, const char *field)
{
    static const struct {
        const char *state;
        Kehu__V1__Code code;
    } map[] = {
        { "P0002", KEHU__V1__CODE__NOT_FOUND },
        { "42501", KEHU__V1__CODE__PERMISSION_DENIED },
        { "55000", KEHU__V1__CODE__FAILED_PRECONDITION },
        { "22023", KEHU__V1__CODE__INVALID_ARGUMENT },
        { "40001", KEHU__V1__CODE__CONFLICT },
        { "40P01", KEHU__V1__CODE__CONFLICT },
    };
    if (res->outcome == DB_ERROR)
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
            if (strcmp(res->sqlstate, map[i].state) != 0)
                continue;
            /* the server's own words (the primary message), never PostgreSQL's DETAIL or CONTEXT */
            const char *msg = res->primary && *res->primary ? res->primary : "the reassignment was refused";
            size_t n = strcspn(msg, "\n");
            if (map[i].code == KEHU__V1__CODE__CONFLICT)
                req_fail(r, map[i].code, NULL, "another change got in the way, try again (%.*s)", (int)n, msg);
            else
                req_fail(r, map[i].code, map[i].code == KEHU__V1__CODE__PERMISSION_DENIED ? NULL : field, "%.*s",
                         (int)n, msg);
            return;
        }
    req_fail_db(r, res);
}

static const char *reason_problem(const char *reason, int required)
{
    if (!reason || !*reason)
        return required ? "a reason is required" : NULL;
    return rpc_text_problem(reason, REASON_MAX, 0);
}

/* ---- the moves of a batch, as assign_customers and assign_undo return them */

enum { M_BATCH, M_CUSTOMER, M_NAME, M_FROM_ID, M_FROM, M_TO_ID, M_TO, M_FROM_BRANCH, M_TO_BRANCH, M_VERSION, M_SPLIT };

static Kehu__V1__AssignReceiver *receiver_of(struct req *r, Kehu__V1__AssignResult *out, const char *username)
{
    for (size_t i = 0; i < out->n_receivers; i++)
        if (strcmp(out->receivers[i]->username, username) == 0)
            return out->receivers[i];
    return NULL;
}

/* The result from the moves (statement `stmt`) and, when given, the
 * receivers' summary (statement `recv`: username, cap, disabled, holds). */
/* A bulk batch (a leaving user's customers, a filter, more than BULK_IDS
 * ids) is a bulk job (sql/0018): its per-customer announcements are counted
 * per watcher, who hears one summary when it commits (job_done_stmt last),
 * not a line per customer; a few customers moved by id are still announced
 * one by one. Statement 0 of a batch's call (off: nothing happens). */
#define BULK_IDS 20
static struct db_stmt job_on_stmt = DB_STMT("SELECT set_config('kehu.job', $1, true)");
static struct db_stmt job_done_stmt = DB_STMT("SELECT kehu_job_done('reassign.done', $1::bigint)");

static struct row_msg assign_receiver_row = ROW_MSG(kehu__v1__assign_receiver__descriptor,
    "username,cap,disabled,holds");

static Kehu__V1__AssignResult *result_from(struct req *r, const struct db_result *res, int stmt, int recv, int dry)
{
    Kehu__V1__AssignResult *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__assign_result__init(out);
    int n = db_rows(res, stmt);
    out->dry_run = dry;
    out->moved = n;
    out->batch_id = n ? db_get_i64(res, stmt, 0, M_BATCH) : 0;
    int shown = n > ASSIGN_MAX_SHOWN ? ASSIGN_MAX_SHOWN : n;
    out->moves_omitted = n - shown;
    out->moves = arena_alloc(&r->arena, sizeof *out->moves * (size_t)(shown ? shown : 1));
    int nrecv = recv >= 0 ? db_rows(res, recv) : 0;
    out->receivers = arena_alloc(&r->arena, sizeof *out->receivers * (size_t)(nrecv + n + 1));
    for (int i = 0; i < nrecv; i++) {
        Kehu__V1__AssignReceiver *a = row_msg(r, &assign_receiver_row, res, recv, i, 0);
        out->receivers[out->n_receivers++] = a;
    }
    for (int i = 0; i < n; i++) {
        const char *to = db_get(res, stmt, i, M_TO);
        Kehu__V1__AssignReceiver *a = receiver_of(r, out, to ? to : "");
        if (!a) { /* an undo: the receivers are the previous owners */
            a = arena_alloc(&r->arena, sizeof *a);
            kehu__v1__assign_receiver__init(a);
            a->username = arena_strdup(&r->arena, to ? to : "");
            a->cap = -1;
            a->holds = -1;
            out->receivers[out->n_receivers++] = a;
        }
        a->count++;
        if (i >= shown)
            continue;
        Kehu__V1__AssignMove *mv = arena_alloc(&r->arena, sizeof *mv);
        kehu__v1__assign_move__init(mv);
        mv->customer_id = db_get_i64(res, stmt, i, M_CUSTOMER);
        mv->name = rpc_col(r, res, stmt, i, M_NAME);
        mv->from = rpc_col(r, res, stmt, i, M_FROM);
        mv->to = rpc_col(r, res, stmt, i, M_TO);
        mv->from_branch_id = db_get_i64(res, stmt, i, M_FROM_BRANCH);
        mv->to_branch_id = db_get_i64(res, stmt, i, M_TO_BRANCH);
        mv->version = db_get_i64(res, stmt, i, M_VERSION);
        mv->cross_region = db_get_bool(res, stmt, i, M_SPLIT);
        out->moves[out->n_moves++] = mv;
    }
    /* a dry run's holdings are those before it: show them after */
    if (dry && recv >= 0)
        for (size_t i = 0; i < out->n_receivers; i++)
            out->receivers[i]->holds += out->receivers[i]->count;
    return out;
}

/* ---- Assign */

struct assign_state {
    const char **to; /* lower-case receivers, in order */
    size_t n_to;
    int64_t *to_ids;
    const char *from; /* lower-case, or NULL */
    int64_t from_id;
};

/* The receivers, and the user given up (last), by name: USER_COLUMNS, then
 * the path of the branch they sit in ("" above branches) and their cap. */
#define U_BRANCH_PATH USER_NCOLS
#define U_CAP (USER_NCOLS + 1)
static struct db_stmt users_by_name = DB_STMT(
    "SELECT " USER_COLUMNS ", coalesce(bo.path::text, ''), coalesce(u.max_customers, -1) FROM" USER_FROM
    "LEFT JOIN org_unit bo ON bo.id = o.branch_id WHERE u.username = ANY ($1::text[])");

static const char receivers_sql[] =
    "SELECT u.username, coalesce(u.max_customers, -1), u.disabled_at IS NOT NULL,"
    " (SELECT count(*) FROM customer c WHERE c.owner_id = u.id AND c.merged_into IS NULL AND c.status <> 'archived')"
    " FROM unnest($1::bigint[]) WITH ORDINALITY r(id, ord) JOIN app_user u ON u.id = r.id ORDER BY r.ord";
static struct db_stmt receivers_stmt = DB_STMT(receivers_sql);
static struct db_stmt split_now = DB_STMT("SELECT assign_policy_num('handover.split')::bigint");
/* What assign_customers left out as no longer matching (after it, in the same transaction). */
static struct db_stmt stale_stmt = DB_STMT(
    "SELECT coalesce(nullif(current_setting('kehu.assign_stale', true), ''), '0')::bigint,"
    " coalesce(nullif(current_setting('kehu.assign_stale_ids', true), ''), '{}')");

/* "{1,2}" -> "1,2" */
static char *array_inner(struct req *r, const char *braced)
{
    size_t n = braced ? strlen(braced) : 0;
    if (n < 2)
        return "";
    char *s = arena_strdup(&r->arena, braced + 1);
    s[n - 2] = 0;
    return s;
}

static void assign_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__Assign *m = r->msg->assign;
    if (res->outcome != DB_OK) {
        fail_sql(r, res, m->n_customer_ids ? "customer_ids" : m->from_user && *m->from_user ? "from" : "to");
        return;
    }
    Kehu__V1__AssignResult *out = result_from(r, res, 1, 2, m->dry_run);
    out->kind = m->from_user && *m->from_user ? "handover" : "assign";
    out->split_percent = db_get_i64(res, 3, 0, 0);
    out->no_longer_matching = db_get_i64(res, 4, 0, 0);
    size_t n_ids;
    const char *ids = db_get(res, 4, 0, 1);
    char **parts = arena_split(&r->arena, array_inner(r, ids), ',', &n_ids);
    out->no_longer_matching_ids = arena_alloc(&r->arena, sizeof *out->no_longer_matching_ids * (n_ids + 1));
    for (size_t i = 0; i < n_ids; i++) {
        int64_t id;
        if (*parts[i] && parse_i64(parts[i], &id) == 0)
            out->no_longer_matching_ids[out->n_no_longer_matching_ids++] = id;
    }
    log_info(r->conn->id, r->id, "assign%s: batch %lld, %lld customer(s) to %zu receiver(s), %lld no longer matching",
             m->dry_run ? " (dry run)" : "", (long long)out->batch_id, (long long)out->moved, out->n_receivers,
             (long long)out->no_longer_matching);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ASSIGN, out);
}

/* The row of a user the caller may read (else -1: one they may not read
 * does not exist for them). */
static int row_of(struct req *r, const struct db_result *res, const char *username)
{
    for (int i = 0; i < db_rows(res, 0); i++) {
        if (strcmp(db_get(res, 0, i, 1), username) != 0)
            continue;
        int64_t path[AUTHZ_MAX_DEPTH];
        struct authz_target t = rpc_user_target(res, 0, i, path);
        if (!rpc_user_readable(r, &t))
            return -1;
        return i;
    }
    return -1;
}

/* The filter's condition for assign_customers to evaluate again under its
 * locks: each parameter $N becomes $1[N], an element of the one array the
 * function passes. */
static char *filter_for_recheck(struct req *r, const char *where)
{
    char *out = arena_alloc(&r->arena, strlen(where) * 2 + 1), *p = out;
    for (const char *s = where; *s;) {
        if (s[0] == '$' && s[1] >= '0' && s[1] <= '9') {
            size_t d = strspn(s + 1, "0123456789");
            p += sprintf(p, "$1[%.*s]", (int)d, s + 1);
            s += 1 + d;
        } else {
            *p++ = *s++;
        }
    }
    *p = 0;
    return out;
}

/* May this user receive customers from the caller: they exist, own customers
 * by role, sit in a branch, and a customer of theirs (in their branch) would
 * be inside the caller's 'reassign' scope. -1 when refused (answered). */
static int receiver_ok(struct req *r, const struct db_result *res, int row, const char *name)
{
    if (row < 0) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "to", "no user named '%s'", name);
        return -1;
    }
    Kehu__V1__Role role = rpc_role_from_sql(db_get(res, 0, row, 3));
    if (role != KEHU__V1__ROLE__ACCOUNT_MANAGER && role != KEHU__V1__ROLE__BRANCH_MANAGER) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "to",
                 "%s's role is %s: only account managers and branch managers own customers", name,
                 db_get(res, 0, row, 3));
        return -1;
    }
    int64_t bpath[AUTHZ_MAX_DEPTH], upath[AUTHZ_MAX_DEPTH];
    int bn = authz_parse_path(db_get(res, 0, row, U_BRANCH_PATH), bpath, AUTHZ_MAX_DEPTH);
    if (bn <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "to", "%s sits above any branch and cannot own customers",
                 name);
        return -1;
    }
    int un = rpc_user_row_path(res, 0, row, 0, upath, AUTHZ_MAX_DEPTH);
    struct authz_target t = { .unit_path = bpath, .path_len = bn, .owner_id = db_get_i64(res, 0, row, 0),
                              .owner_path = upath, .owner_path_len = un < 0 ? 0 : un };
    const char *why;
    if (authz_check(req_who(r), ACT_CUSTOMER_REASSIGN, &t, &why) != KEHU__V1__CODE__OK) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "to",
                 "%s is outside your scope: you could not reassign their customers (%s)", name,
                 authz_cell(req_who(r), ACT_CUSTOMER_REASSIGN));
        return -1;
    }
    return 0;
}

static char *ids_array(struct req *r, const int64_t *ids, size_t n)
{
    char *s = arena_alloc(&r->arena, n * 21 + 3), *p = s;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%lld", i ? "," : "", (long long)ids[i]);
    *p++ = '}';
    *p = 0;
    return s;
}

/* "filter branch=上海分行 grade=C": how a filter chose, for the batch. */
static char *filter_words(struct req *r, const Kehu__V1__CustomerList *f)
{
    static const Kehu__V1__CustomerList none = KEHU__V1__CUSTOMER_LIST__INIT;
    if (!f)
        f = &none;
    const char *names[] = { "owner", "branch", "grade", "status", "tag", "region", "industry", "source",
                            "created_from", "created_to" };
    const char *vals[] = { f->owner, f->branch, f->grade, f->status, f->tag, f->region, f->industry, f->source,
                           f->created_from, f->created_to };
    char *s = "filter";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (vals[i] && *vals[i])
            s = arena_printf(&r->arena, "%s %s=%s", s, names[i], vals[i]);
    return s;
}

static void assign_users(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct assign_state *st = r->state;
    const Kehu__V1__Assign *m = r->msg->assign;
    if (!req_db_ok(r, res))
        return;
    for (size_t i = 0; i < st->n_to; i++) {
        int row = row_of(r, res, st->to[i]);
        if (receiver_ok(r, res, row, st->to[i]) < 0)
            return;
        st->to_ids[i] = db_get_i64(res, 0, row, 0);
    }
    if (st->from) {
        int row = row_of(r, res, st->from);
        if (row < 0) {
            req_fail(r, KEHU__V1__CODE__NOT_FOUND, "from", "no user named '%s'", st->from);
            return;
        }
        st->from_id = db_get_i64(res, 0, row, 0);
    }

    /* the candidates: $1.. of the selection, then the function's own */
    const char *params[48];
    int np = 0;
    const char *ids_sql, *selection, *recheck = NULL, *recheck_args = NULL;
    int strict = 1;
    if (m->n_customer_ids) {
        params[np++] = ids_array(r, m->customer_ids, m->n_customer_ids);
        ids_sql = "$1::bigint[]";
        selection = "ids";
    } else if (st->from) {
        params[np++] = rpc_num(r, st->from_id);
        ids_sql = "ARRAY(SELECT c.id FROM customer c WHERE c.owner_id = $1::bigint AND c.merged_into IS NULL)";
        selection = arena_printf(&r->arena, "from %s", st->from);
    } else {
        char *where;
        const char **fp;
        int nf;
        if (m->filter && rpc_customer_filter_found(r, m->filter, res, 1, 2) < 0)
            return;
        int stale = m->filter && rpc_customer_filter_stale(res, 2);
        if (rpc_customer_filter_sql(r, m->filter, ACT_CUSTOMER_REASSIGN, stale, &where, &fp, &nf) < 0)
            return;
        if (nf > 32) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "filter", "too many filters");
            return;
        }
        for (int i = 0; i < nf; i++)
            params[np++] = fp[i];
        ids_sql = arena_printf(&r->arena, "ARRAY(SELECT c.id FROM customer c WHERE %s)", where);
        recheck = filter_for_recheck(r, where);
        recheck_args = arena_pg_array(&r->arena, fp, (size_t)nf);
        selection = filter_words(r, m->filter);
        strict = 0;
    }
    const char *sk, *si, *rk, *ri;
    rpc_scope_params(r, ACT_CUSTOMER_REASSIGN, &sk, &si);
    rpc_scope_params(r, ACT_CUSTOMER_READ, &rk, &ri);
    int base = np;
    params[np++] = ids_array(r, st->to_ids, st->n_to);
    params[np++] = st->from ? "handover" : "assign";
    params[np++] = selection;
    params[np++] = m->reason;
    params[np++] = rpc_num(r, req_who(r)->user_id);
    params[np++] = m->dry_run ? "true" : "false";
    params[np++] = sk;
    params[np++] = si;
    params[np++] = rk;
    params[np++] = ri;
    params[np++] = strict ? "true" : "false";
    params[np++] = st->from ? rpc_num(r, st->from_id) : NULL;
    params[np++] = recheck;
    params[np++] = recheck_args;
    char *sql = arena_printf(&r->arena,
                             "SELECT * FROM assign_customers(%s, $%d::bigint[], $%d, $%d, $%d, $%d::bigint,"
                             " $%d::boolean, $%d::int, $%d::bigint, $%d::int, $%d::bigint, $%d::boolean, $%d::bigint,"
                             " $%d::text, $%d::text[])",
                             ids_sql, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7, base + 8,
                             base + 9, base + 10, base + 11, base + 12, base + 13, base + 14);
    const char *rp[] = { params[base] };
    int bulk = !m->dry_run && (!m->n_customer_ids || m->n_customer_ids > BULK_IDS);
    const char *job[] = { bulk ? "on" : "off" };
    struct db_call *call = db_call_new(r->srv->db, assign_done, r);
    db_call_add(call, &job_on_stmt, 1, job);
    db_call_add_sql(call, sql, np, params);
    db_call_add(call, &receivers_stmt, 1, rp);
    db_call_add(call, &split_now, 0, NULL);
    db_call_add(call, &stale_stmt, 0, NULL);
    if (bulk) {
        const char *actor[] = { rpc_num(r, req_who(r)->user_id) };
        db_call_add(call, &job_done_stmt, 1, actor);
    }
    db_call_send(call);
}

static char *lower_dup(struct req *r, const char *s)
{
    char *out = arena_strdup(&r->arena, s);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

static void assign(struct req *r)
{
    const Kehu__V1__Assign *m = r->msg->assign;
    if (!m) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_ids", "say which customers and to whom");
        return;
    }
    int forms = (m->n_customer_ids > 0) + (m->from_user && *m->from_user) + (m->use_filter != 0);
    if (forms != 1) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_ids",
                 forms ? "choose one of: customer ids, a user's customers (from), a filter"
                       : "say which customers: customer ids, a user's customers (from) or a filter");
        return;
    }
    if (m->n_customer_ids > ASSIGN_MAX_IDS) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_ids", "at most %d customers by id per batch",
                 ASSIGN_MAX_IDS);
        return;
    }
    for (size_t i = 0; i < m->n_customer_ids; i++)
        if (m->customer_ids[i] <= 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_ids", "%lld is not a customer id",
                     (long long)m->customer_ids[i]);
            return;
        }
    if (m->n_to == 0 || m->n_to > ASSIGN_MAX_RECEIVERS) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "to", m->n_to ? "at most %d receivers" : "a receiver is required",
                 ASSIGN_MAX_RECEIVERS);
        return;
    }
    const char *why = reason_problem(m->reason, 1);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "reason: %s", why);
        return;
    }
    struct assign_state *st = arena_alloc(&r->arena, sizeof *st);
    st->n_to = m->n_to;
    st->to = arena_alloc(&r->arena, sizeof *st->to * (m->n_to + 1));
    st->to_ids = arena_alloc(&r->arena, sizeof *st->to_ids * m->n_to);
    for (size_t i = 0; i < m->n_to; i++) {
        if (!m->to[i] || !*m->to[i] || strlen(m->to[i]) > 64) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "to", "a receiver's username is required");
            return;
        }
        st->to[i] = lower_dup(r, m->to[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(st->to[i], st->to[j]) == 0) {
                req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "to", "%s is named twice", st->to[i]);
                return;
            }
    }
    if (m->from_user && *m->from_user) {
        st->from = lower_dup(r, m->from_user);
        for (size_t i = 0; i < st->n_to; i++)
            if (strcmp(st->from, st->to[i]) == 0) {
                req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "to", "%s cannot receive their own customers",
                         st->from);
                return;
            }
        st->to[st->n_to] = st->from;
    }
    r->state = st;
    const char *p[] = { arena_pg_array(&r->arena, st->to, st->n_to + (st->from != NULL)) };
    struct db_call *call = db_call_new(r->srv->db, assign_users, r);
    db_call_add(call, &users_by_name, 1, p);
    /* a filter's owner and unit must exist, as for customer list: a typo must not look like "no customers" */
    if (!m->n_customer_ids && !st->from && m->filter)
        rpc_customer_filter_lookups(&r->arena, call, m->filter);
    db_call_send(call);
}

const struct rpc_entry rpc_assign = { KEHU__V1__REQUEST__OP_ASSIGN, "assign", ACT_CUSTOMER_REASSIGN, 0, assign };

/* ---- AssignUndo */

static struct db_stmt undo_stmt =
    DB_STMT("SELECT * FROM assign_undo($1::bigint, $2, $3::bigint, $4::boolean, $5::int, $6::bigint, $7::int,"
            " $8::bigint)");

static void undo_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__AssignUndo *m = r->msg->assign_undo;
    if (res->outcome != DB_OK) {
        fail_sql(r, res, "batch_id");
        return;
    }
    Kehu__V1__AssignResult *out = result_from(r, res, 0, -1, m->dry_run);
    out->kind = "undo";
    out->undo_of = m->batch_id;
    out->split_percent = db_get_i64(res, 1, 0, 0);
    log_info(r->conn->id, r->id, "assign_undo%s of batch %lld: batch %lld, %lld customer(s)",
             m->dry_run ? " (dry run)" : "", (long long)m->batch_id, (long long)out->batch_id, (long long)out->moved);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ASSIGN_UNDONE, out);
}

static void assign_undo(struct req *r)
{
    const Kehu__V1__AssignUndo *m = r->msg->assign_undo;
    if (!m || m->batch_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "batch_id", "a batch id is required");
        return;
    }
    const char *why = reason_problem(m->reason, 0);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "reason: %s", why);
        return;
    }
    const char *sk, *si, *rk, *ri;
    rpc_scope_params(r, ACT_CUSTOMER_REASSIGN, &sk, &si);
    rpc_scope_params(r, ACT_CUSTOMER_READ, &rk, &ri);
    const char *p[] = { rpc_num(r, m->batch_id), m->reason && *m->reason ? m->reason : NULL,
                        rpc_num(r, req_who(r)->user_id), m->dry_run ? "true" : "false", sk, si, rk, ri };
    struct db_call *call = db_call_new(r->srv->db, undo_done, r);
    db_call_add(call, &undo_stmt, 8, p);
    db_call_add(call, &split_now, 0, NULL);
    db_call_send(call);
}

const struct rpc_entry rpc_assign_undo = { KEHU__V1__REQUEST__OP_ASSIGN_UNDO, "assign_undo", ACT_CUSTOMER_REASSIGN, 0,
                                           assign_undo };

/* ---- AssignHistory: every owner a customer has had */

static struct db_stmt history_head = DB_STMT(
    "SELECT c.name, coalesce(u.username, '') FROM customer c LEFT JOIN app_user u ON u.id = c.owner_id WHERE c.id = $1");
static struct db_stmt history_rows = DB_STMT(
    "SELECT " SQL_MS("h.at") ", h.kind, coalesce(fu.username, ''), coalesce(tu.username, ''), coalesce(fb.name, ''),"
    " coalesce(tb.name, ''), coalesce(h.batch_id, 0), coalesce(h.reason, ''), coalesce(au.username, ''),"
    " count(*) OVER (), h.id::text"
    " FROM assignment_history h LEFT JOIN app_user fu ON fu.id = h.from_owner LEFT JOIN app_user tu ON tu.id = h.to_owner"
    " LEFT JOIN org_unit fb ON fb.id = h.from_branch LEFT JOIN org_unit tb ON tb.id = h.to_branch"
    " LEFT JOIN app_user au ON au.id = h.actor WHERE h.customer_id = $1 AND ($2::bigint IS NULL OR h.id > $2::bigint)"
    " ORDER BY h.id LIMIT $3");
/* The whole chain of owners, whatever the page. */
static struct db_stmt history_chain = DB_STMT(
    "SELECT coalesce(fu.username, ''), coalesce(tu.username, '') FROM assignment_history h"
    " LEFT JOIN app_user fu ON fu.id = h.from_owner LEFT JOIN app_user tu ON tu.id = h.to_owner"
    " WHERE h.customer_id = $1 ORDER BY h.id");

static struct row_msg assign_history_entry_row = ROW_MSG(kehu__v1__assign_history_entry__descriptor,
    "at_ms,kind,from,to,from_branch,to_branch,batch_id,reason,actor");

static void history_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__AssignHistoryResult *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__assign_history_result__init(out);
    out->customer_id = r->msg->assign_history->customer_id;
    out->name = rpc_col(r, res, 0, 0, 0);
    out->owner = rpc_col(r, res, 0, 0, 1);
    int n = page_end(r, r->state, res, 1, 10, &out->next_cursor, &out->remaining);
    int nc = db_rows(res, 2);
    out->entries = arena_alloc(&r->arena, sizeof *out->entries * (size_t)(n ? n : 1));
    out->owners = arena_alloc(&r->arena, sizeof *out->owners * (size_t)(nc + 1));
    for (int i = 0; i < nc; i++) {
        char *from = rpc_col(r, res, 2, i, 0), *to = rpc_col(r, res, 2, i, 1);
        if (i == 0)
            out->owners[out->n_owners++] = from;
        if (strcmp(out->owners[out->n_owners - 1], to) != 0) /* a change of branch alone is no new owner */
            out->owners[out->n_owners++] = to;
    }
    for (int i = 0; i < n; i++) {
        Kehu__V1__AssignHistoryEntry *e = row_msg(r, &assign_history_entry_row, res, 1, i, 0);
        out->entries[out->n_entries++] = e;
    }
    if (nc == 0)
        out->owners[out->n_owners++] = out->owner;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ASSIGN_HISTORY, out);
}

static void history_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    struct page *pg = ref->ctx;
    r->state = pg;
    const char *p[] = { rpc_num(r, ref->id), pg->key[0], pg->fetch };
    struct db_call *call = db_call_new(r->srv->db, history_done, r);
    db_call_add(call, &history_head, 1, p);
    db_call_add(call, &history_rows, 3, p);
    db_call_add(call, &history_chain, 1, p);
    db_call_send(call);
}

static void assign_history(struct req *r)
{
    const Kehu__V1__AssignHistory *m = r->msg->assign_history;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "assign_history", "i", m ? m->limit : 0, m ? m->after : NULL, 500, 1000) < 0)
        return;
    rpc_customer_load_ctx(r, m ? m->customer_id : 0, ACT_CUSTOMER_READ, history_loaded, pg, "customer_id");
}

const struct rpc_entry rpc_assign_history = { KEHU__V1__REQUEST__OP_ASSIGN_HISTORY, "assign_history",
                                              ACT_CUSTOMER_READ, 0, assign_history };

/* ---- UserCap: how many customers a person may hold */

static struct db_stmt cap_user = DB_STMT("SELECT " USER_COLUMNS " FROM" USER_FROM "WHERE u.username = lower($1)");
static struct db_stmt cap_set = DB_STMT(
    "UPDATE app_user u SET max_customers = $2::integer, updated_at = now() WHERE u.id = $1"
    " RETURNING u.username, coalesce(u.max_customers, -1),"
    " (SELECT count(*) FROM customer c WHERE c.owner_id = u.id AND c.merged_into IS NULL AND c.status <> 'archived')");

static void cap_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__UserCapResult *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__user_cap_result__init(out);
    out->username = rpc_col(r, res, 0, 0, 0);
    out->max_customers = db_get_i64(res, 0, 0, 1);
    out->holds = db_get_i64(res, 0, 0, 2);
    log_info(r->conn->id, r->id, "user_cap: %s max %lld (holds %lld)", out->username, (long long)out->max_customers,
             (long long)out->holds);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_USER_CAP, out);
}

static void cap_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__UserCap *m = r->msg->user_cap;
    if (!req_db_ok(r, res))
        return;
    /* a user the caller may not see is as unknown as a missing one */
    if (rpc_user_visible(r, res, 0, m->username, "username") < 0)
        return;
    int64_t path[AUTHZ_MAX_DEPTH];
    struct authz_target t = rpc_user_target(res, 0, 0, path);
    if (req_authorize(r, &t) < 0)
        return;
    const char *p[] = { db_get(res, 0, 0, 0), m->max_customers < 0 ? NULL : rpc_num(r, m->max_customers) };
    db_query(r->srv->db, &cap_set, 2, p, cap_done, r);
}

static void user_cap(struct req *r)
{
    const Kehu__V1__UserCap *m = r->msg->user_cap;
    if (!m || !m->username || !*m->username) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "username", "a username is required");
        return;
    }
    if (m->max_customers < -1 || m->max_customers > 10000000) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "max_customers",
                 "a cap is a number of customers from 0 to 10000000, or -1 for none");
        return;
    }
    const char *p[] = { m->username };
    db_query(r->srv->db, &cap_user, 1, p, cap_found, r);
}

const struct rpc_entry rpc_user_cap = { KEHU__V1__REQUEST__OP_USER_CAP, "user_cap", ACT_USER_WRITE, 0, user_cap };

/* ---- AssignPolicyShow, AssignPolicySet */

static struct db_stmt policy_rows = DB_STMT("SELECT key, value, description FROM assign_policy ORDER BY position");
static struct db_stmt policy_set = DB_STMT("SELECT assign_policy_set($1::text[], $2::text[], $3)");

static void policy_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK) {
        fail_sql(r, res, "values");
        return;
    }
    int rows = res->nres - 1;
    Kehu__V1__AssignPolicy *p = arena_alloc(&r->arena, sizeof *p);
    kehu__v1__assign_policy__init(p);
    ROW_MSGS(r, &rpc_policy_value_row, res, rows, db_rows(res, rows), p, values);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ASSIGN_POLICY, p);
}

static void policy_show(struct req *r)
{
    db_query(r->srv->db, &policy_rows, 0, NULL, policy_done, r);
}

static void policy_set_handler(struct req *r)
{
    const Kehu__V1__AssignPolicySet *m = r->msg->assign_policy_set;
    if (!m || m->n_values == 0 || m->n_values > 32) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "values", "give KEY=VALUE (at most 32)");
        return;
    }
    const char **keys = arena_alloc(&r->arena, sizeof *keys * m->n_values);
    const char **vals = arena_alloc(&r->arena, sizeof *vals * m->n_values);
    for (size_t i = 0; i < m->n_values; i++) {
        if (!m->values[i]->field || !*m->values[i]->field || !m->values[i]->value) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "values", "give KEY=VALUE");
            return;
        }
        keys[i] = m->values[i]->field;
        vals[i] = m->values[i]->value;
    }
    const char *p[] = { arena_pg_array(&r->arena, keys, m->n_values), arena_pg_array(&r->arena, vals, m->n_values),
                        rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, policy_done, r);
    db_call_add(call, &policy_set, 3, p);
    db_call_add(call, &policy_rows, 0, NULL);
    db_call_send(call);
}

const struct rpc_entry rpc_assign_policy_show = { KEHU__V1__REQUEST__OP_ASSIGN_POLICY_SHOW, "assign_policy_show",
                                                  ACT_ORG_READ, 0, policy_show };
const struct rpc_entry rpc_assign_policy_set = { KEHU__V1__REQUEST__OP_ASSIGN_POLICY_SET, "assign_policy_set",
                                                 ACT_ORG_WRITE, 0, policy_set_handler };
