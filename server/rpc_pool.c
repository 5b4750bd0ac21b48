/* The public pool (公海) and assignment rules (sql/0010_pool.sql).
 *
 * Pools belong to branches. Who works in a branch (account and branch
 * managers) sees its pools and claims from them; admins and auditors see
 * every pool; admins and the branch's managers manage pools, their rules and
 * the branch's assignment rules (pool_check in authz.c). A customer in a pool
 * has no owner: its record, in a pool list or anywhere, shows phones and ID
 * number masked (rpc_customer_from_row).
 *
 * Claims and releases are one SQL function each (pool_claim, pool_release),
 * so that a claim is atomic (of fifty at once exactly one wins) and its
 * limits hold under concurrency. The recycle job (pool_recycle: warnings K
 * days before, then the recycles, for every branch at once) runs on the pool
 * for long statements, on demand (PoolRecycle) or from a schedule like the
 * grading runs': kehud looks every pool_schedule seconds and runs it once a
 * day; one at a time across kehuds by an advisory lock.
 *
 * Assignment rules route new customers without owner: customer add and
 * import call assign_route_new in their own transaction (rpc_pool_after_add,
 * RPC_POOL_ROUTE_IMPORT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "customer_fields.h"
#include "log.h"
#include "page.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"
#include "util.h"
#include "validate.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define REASON_MAX 500
#define POOL_NAME_MAX 100
#define RULES_MAX 200
#define CRITERION_MAX 100
#define SCHEDULE_FIRST_MS 90000 /* the first look at the schedule, after the grading schedule's */

struct pool_state {
    uv_timer_t schedule;
    int schedule_on;
    int running; /* a scheduled recycle in flight */
};

static int is_admin(const struct principal *who)
{
    return who->role == KEHU__V1__ROLE__ADMIN;
}

/* Where the caller's pools are: 0 every branch (admins, auditors), else the
 * unit whose subtree holds them (their branch). */
static char *pool_scope(struct req *r)
{
    const struct principal *who = req_who(r);
    if (who->role == KEHU__V1__ROLE__ADMIN || who->role == KEHU__V1__ROLE__AUDITOR)
        return "0";
    return rpc_num(r, who->branch_id ? who->branch_id : who->unit_id);
}

/* Authorizes `act` against the branch whose path is in row 0, column c. */
static int authorize_path(struct req *r, enum authz_action act, const struct db_result *res, int stmt, int c)
{
    int64_t path[AUTHZ_MAX_DEPTH];
    int n = authz_parse_path(db_get(res, stmt, 0, c), path, AUTHZ_MAX_DEPTH);
    struct authz_target t = { .unit_path = path, .path_len = n < 0 ? 0 : n };
    const char *why;
    Kehu__V1__Code code = authz_check(req_who(r), act, &t, &why);
    if (code == KEHU__V1__CODE__OK)
        return 0;
    req_fail(r, code, NULL, "%s", why);
    return -1;
}

/* A callback whose first statement looked up the branch a request names
 * (id, kind, path): its id once found and authorized for act; 0 after
 * answering. */
static int64_t branch_found(struct req *r, const struct db_result *res, enum authz_action act, const char *name)
{
    if (!req_db_ok(r, res))
        return 0;
    if (db_rows(res, 0) != 1 || strcmp(db_get(res, 0, 0, 1), "branch") != 0) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "branch", "no branch '%s'", name && *name ? name : "(yours)");
        return 0;
    }
    if (authorize_path(r, act, res, 0, 2) < 0)
        return 0;
    return db_get_i64(res, 0, 0, 0);
}

/* ---- PoolAdd */

static struct db_stmt pool_insert = DB_STMT(
    "WITH p AS (INSERT INTO pool (branch_id, name, created_by) VALUES ($1, $2, $3) RETURNING *)"
    " SELECT p.id, p.name, p.branch_id, b.name, p.is_default, 0 FROM p JOIN org_unit b ON b.id = p.branch_id");

static struct row_msg pool_row = ROW_MSG(kehu__v1__pool_info__descriptor,
    "id,name,branch_id,branch,is_default,customers");

static Kehu__V1__PoolInfo *pool_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    return row_msg(r, &pool_row, res, stmt, row, 0);
}

static void pool_added(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "23505") == 0)
            req_fail(r, KEHU__V1__CODE__CONFLICT, "name", "the branch already has a pool named '%s'",
                     r->msg->pool_add->name);
        else
            req_fail_db(r, res);
        return;
    }
    r->resp.result_case = KEHU__V1__RESPONSE__RESULT_POOL;
    r->resp.pool = pool_from_row(r, res, 0, 0);
    log_info(r->conn->id, r->id, "pool %lld '%s' added in %s", (long long)r->resp.pool->id, r->resp.pool->name,
             r->resp.pool->branch);
    req_reply(r);
}

static void pool_add_branch(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__PoolAdd *m = r->msg->pool_add;
    int64_t branch = branch_found(r, res, ACT_POOL_MANAGE, m->branch);
    if (!branch)
        return;
    const char *p[] = { rpc_num(r, branch), m->name, rpc_num(r, req_who(r)->user_id) };
    db_query(r->srv->db, &pool_insert, 3, p, pool_added, r);
}

static void pool_add(struct req *r)
{
    const Kehu__V1__PoolAdd *m = r->msg->pool_add;
    if (!m || !m->name || !*m->name) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "name", "name the pool");
        return;
    }
    if (rpc_check_text(r, "name", m->name, POOL_NAME_MAX, 0) < 0)
        return;
    if (!m->branch || !*m->branch) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "branch", "name the pool's branch");
        return;
    }
    const char *p[] = { m->branch };
    db_query(r->srv->db, &rpc_branch_place_by_ref, 1, p, pool_add_branch, r);
}

const struct rpc_entry rpc_pool_add = { KEHU__V1__REQUEST__OP_POOL_ADD, "pool_add", ACT_POOL_MANAGE, 0, pool_add };

/* ---- PoolPools */

/* $1 the caller's scope (pool_scope), $2 a branch by name or id ('' any). */
static struct db_stmt pools_stmt = DB_STMT(
    "SELECT p.id, p.name, p.branch_id, b.name, p.is_default,"
    " (SELECT count(*) FROM pool_entry e WHERE e.pool_id = p.id)"
    " FROM pool p JOIN org_unit b ON b.id = p.branch_id"
    " WHERE ($1::bigint = 0 OR b.path @> ARRAY[$1::bigint])"
    " AND ($2 = '' OR b.id = org_unit_ref($2, 'branch')) AND ($2 = '' OR org_unit_ref($2, 'branch') IS NOT NULL)"
    " ORDER BY b.path, NOT p.is_default, p.name");

static void pools_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0);
    Kehu__V1__PoolInfos *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__pool_infos__init(out);
    out->pools = arena_alloc(&r->arena, sizeof *out->pools * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        out->pools[out->n_pools++] = pool_from_row(r, res, 0, i);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_POOLS, out);
}

static void pool_pools(struct req *r)
{
    const Kehu__V1__PoolPools *m = r->msg->pool_pools;
    const char *p[] = { pool_scope(r), m && m->branch ? m->branch : "" };
    db_query(r->srv->db, &pools_stmt, 2, p, pools_done, r);
}

const struct rpc_entry rpc_pool_pools = { KEHU__V1__REQUEST__OP_POOL_POOLS, "pool_pools", ACT_POOL_READ, 0,
                                          pool_pools };

/* ---- PoolList */

/* $1 scope, $2 pool ('' all), $3 branch ('' any), $4 the page plus one, $5
 * offset, $6 $7 the cursor (since in microseconds, customer id); after the
 * columns the count after the cursor, then the keys. */
static struct db_stmt pool_list_stmt = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS ", e.pool_id, p.name, " SQL_MS("e.since") ", coalesce(fu.username, ''), e.kind,"
    " coalesce(e.reason, ''), coalesce(grade_of(c.id, 'abc'), ''), count(*) OVER (),"
    " (extract(epoch FROM e.since) * 1000000)::bigint::text, c.id::text"
    " FROM pool_entry e JOIN pool p ON p.id = e.pool_id JOIN org_unit pb ON pb.id = p.branch_id"
    " JOIN customer c ON c.id = e.customer_id" CUSTOMER_JOINS
    " LEFT JOIN app_user fu ON fu.id = e.from_owner"
    " WHERE ($1::bigint = 0 OR pb.path @> ARRAY[$1::bigint])"
    " AND ($2 = '' OR lower(p.name) = lower($2) OR p.id::text = $2)"
    " AND ($3 = '' OR pb.id = org_unit_ref($3, 'branch')) AND ($3 = '' OR org_unit_ref($3, 'branch') IS NOT NULL)"
    " AND c.status = 'in_pool' AND c.merged_into IS NULL"
    " AND ($6::bigint IS NULL OR ((extract(epoch FROM e.since) * 1000000)::bigint, c.id) < ($6::bigint, $7::bigint))"
    " ORDER BY e.since DESC, c.id DESC LIMIT $4 OFFSET $5");

static void pool_list_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__PoolCustomers *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__pool_customers__init(out);
    int n = page_end(r, r->state, res, 0, CUSTOMER_NCOLS + 8, &out->next_cursor, &out->remaining);
    uint32_t skipped = r->msg->pool_list ? r->msg->pool_list->offset : 0; /* an old client's offset */
    out->remaining = out->remaining > skipped ? out->remaining - skipped : out->next_cursor[0] != 0;
    out->customers = arena_alloc(&r->arena, sizeof *out->customers * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__PoolCustomer *pc = arena_alloc(&r->arena, sizeof *pc);
        kehu__v1__pool_customer__init(pc);
        pc->customer = rpc_customer_from_row(r, res, 0, i); /* in a pool: masked */
        int c0 = CUSTOMER_NCOLS;
        pc->pool_id = db_get_i64(res, 0, i, c0);
        pc->pool = rpc_col(r, res, 0, i, c0 + 1);
        pc->since_ms = db_get_i64(res, 0, i, c0 + 2);
        pc->from_owner = rpc_col(r, res, 0, i, c0 + 3);
        pc->kind = rpc_col(r, res, 0, i, c0 + 4);
        pc->reason = rpc_col(r, res, 0, i, c0 + 5);
        pc->grade = rpc_col(r, res, 0, i, c0 + 6);
        out->total = (uint64_t)db_get_i64(res, 0, i, c0 + 7);
        out->customers[out->n_customers++] = pc;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_POOL_CUSTOMERS, out);
}

static void pool_list(struct req *r)
{
    const Kehu__V1__PoolList *m = r->msg->pool_list;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "pool_list", "ii", m ? m->limit : 0, m ? m->after : NULL, LIST_DEFAULT, LIST_MAX) < 0)
        return;
    r->state = pg;
    const char *p[] = { pool_scope(r),
                        m && m->pool ? m->pool : "",
                        m && m->branch ? m->branch : "",
                        pg->fetch,
                        rpc_num(r, m ? m->offset : 0),
                        pg->key[0],
                        pg->key[1] };
    db_query(r->srv->db, &pool_list_stmt, 7, p, pool_list_done, r);
}

const struct rpc_entry rpc_pool_list = { KEHU__V1__REQUEST__OP_POOL_LIST, "pool_list", ACT_POOL_READ, 0, pool_list };

/* ---- PoolClaim, PoolRelease */

/* Where a customer is: status, its branch's path, owner, owner's path. */
static struct db_stmt customer_place = DB_STMT(
    "SELECT c.id, c.status::text, o.path::text, coalesce(c.owner_id, 0), " SQL_OWNER_PATH
    " FROM customer c JOIN org_unit o ON o.id = c.branch_id WHERE c.id = $1 AND c.merged_into IS NULL"
    " AND c.status <> 'archived'");

static struct db_stmt claim_stmt = DB_STMT("SELECT pool_claim($1, $2)");
static struct db_stmt release_stmt = DB_STMT("SELECT pool_release($1, $2, $3, $4, $5)");
static struct db_stmt customer_reread = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS " FROM customer c" CUSTOMER_JOINS "WHERE c.id = $1");

static void moved(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__Customer *c = rpc_customer_from_row(r, res, 1, 0);
    int claim = r->msg->op_case == KEHU__V1__REQUEST__OP_POOL_CLAIM;
    log_info(r->conn->id, r->id, "customer %lld %s by %s", (long long)c->id, claim ? "claimed" : "released",
             req_who(r)->username);
    if (claim) {
        r->resp.result_case = KEHU__V1__RESPONSE__RESULT_POOL_CLAIMED;
        r->resp.pool_claimed = c;
    } else {
        r->resp.result_case = KEHU__V1__RESPONSE__RESULT_POOL_RELEASED;
        r->resp.pool_released = c;
    }
    req_reply(r);
}

/* A customer the caller may not see is one that does not exist: the same
 * code, message and field for both (it_leaks.c compares them). */
static void no_customer(struct req *r, int64_t id)
{
    req_fail(r, KEHU__V1__CODE__NOT_FOUND, "customer_id", "no customer %lld", (long long)id);
}

/* The authorization target of a customer_place row (statement stmt). */
static struct authz_target place_target(const struct db_result *res, int stmt, int64_t *path, int64_t *owner_path)
{
    int n = authz_parse_path(db_get(res, stmt, 0, 2), path, AUTHZ_MAX_DEPTH);
    int on = authz_parse_path(db_get(res, stmt, 0, 4), owner_path, AUTHZ_MAX_DEPTH);
    const char *status = db_get(res, stmt, 0, 1);
    struct authz_target t = { .unit_path = path, .path_len = n < 0 ? 0 : n, .owner_id = db_get_i64(res, stmt, 0, 3),
                              .owner_path = owner_path, .owner_path_len = on < 0 ? 0 : on,
                              .in_pool = status && strcmp(status, "in_pool") == 0 };
    return t;
}

/* Whether the caller sees the customer of a customer_place row at all: one
 * waiting in a pool the caller works with (pool_act on its branch), or one
 * the matrix lets them read. Nothing about any other is said, not even
 * that it is someone else's now. */
static int place_visible(struct req *r, const struct db_result *res, enum authz_action pool_act)
{
    if (db_rows(res, 0) != 1)
        return 0;
    int64_t path[AUTHZ_MAX_DEPTH], owner_path[AUTHZ_MAX_DEPTH];
    struct authz_target t = place_target(res, 0, path, owner_path);
    const char *why;
    if (t.in_pool && authz_check(req_who(r), pool_act, &t, &why) == KEHU__V1__CODE__OK)
        return 1;
    return authz_check(req_who(r), ACT_CUSTOMER_READ, &t, &why) == KEHU__V1__CODE__OK;
}

static void claim_placed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    int64_t id = r->msg->pool_claim->customer_id;
    if (!req_db_ok(r, res))
        return;
    /* a customer of the caller's pools, or one they may read (whose claim
     * pool_claim refuses as not in a pool) */
    if (!place_visible(r, res, ACT_POOL_CLAIM)) {
        no_customer(r, id);
        return;
    }
    const char *p[] = { rpc_num(r, id), rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, moved, r);
    db_call_add(call, &claim_stmt, 2, p);
    db_call_add(call, &customer_reread, 1, p);
    db_call_send(call);
}

static void pool_claim(struct req *r)
{
    const Kehu__V1__PoolClaim *m = r->msg->pool_claim;
    if (!m || m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "give the customer's id");
        return;
    }
    const char *p[] = { rpc_num(r, m->customer_id) };
    db_query(r->srv->db, &customer_place, 1, p, claim_placed, r);
}

const struct rpc_entry rpc_pool_claim = { KEHU__V1__REQUEST__OP_POOL_CLAIM, "pool_claim", ACT_POOL_CLAIM, 0,
                                          pool_claim };

static void release_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__PoolRelease *m = r->msg->pool_release;
    struct authz_target t = rpc_customer_target(ref);
    const char *why;
    int may_reassign = authz_check(req_who(r), ACT_CUSTOMER_REASSIGN, &t, &why) == KEHU__V1__CODE__OK;
    const char *p[] = { rpc_num(r, ref->id), rpc_num(r, req_who(r)->user_id), may_reassign ? "true" : "false", m->reason,
                        m->pool ? m->pool : "" };
    struct db_call *call = db_call_new(r->srv->db, moved, r);
    db_call_add(call, &release_stmt, 5, p);
    db_call_add(call, &customer_reread, 1, p);
    db_call_send(call);
}

static void pool_release(struct req *r)
{
    const Kehu__V1__PoolRelease *m = r->msg->pool_release;
    if (!m || m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "give the customer's id");
        return;
    }
    if (!m->reason || !*m->reason) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "give the reason for the release");
        return;
    }
    if (rpc_check_text(r, "reason", m->reason, REASON_MAX, 0) < 0 ||
        (m->pool && rpc_check_text(r, "pool", m->pool, POOL_NAME_MAX, 0) < 0))
        return;
    rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_READ, release_loaded);
}

/* Dispatch lets anyone logged in through: release_loaded asks whether they
 * own the customer or may reassign it. */
const struct rpc_entry rpc_pool_release = { KEHU__V1__REQUEST__OP_POOL_RELEASE, "pool_release", ACT_CUSTOMER_READ, 0,
                                            pool_release };

/* ---- PoolRules */

#define POOL_RULE_COLUMNS                                                                                        \
    "coalesce(b.name, ''), r.grade, r.followup_days, r.txn_days, r.warn_days, r.claim_per_day, r.max_held,"      \
    " r.cooldown_days, r.exempt_open_case, r.exempt_txn_days, r.exempt_tag"

/* $1 scope, $2 branch id (0: every branch in scope). */
static struct db_stmt rules_stmt = DB_STMT(
    "SELECT " POOL_RULE_COLUMNS " FROM pool_rule r LEFT JOIN org_unit b ON b.id = r.branch_id"
    " WHERE r.branch_id IS NULL OR (($1::bigint = 0 OR b.path @> ARRAY[$1::bigint])"
    " AND ($2::bigint = 0 OR b.id = $2::bigint))"
    " ORDER BY r.branch_id IS NOT NULL, b.name, r.grade");
static struct db_stmt rules_set_stmt = DB_STMT("SELECT pool_rule_set($1, $2::text[], $3::text[], $4::text[], $5)");
/* After a change, in its transaction: the rules of its branch must agree with the service policy
 * (sql/0023), or, forced, what they leave contradicting it. */
static struct db_stmt agree_stmt = DB_STMT("SELECT policy_agree_assert($1::bigint, false)");
static struct db_stmt contradictions_stmt = DB_STMT("SELECT field || ': ' || problem FROM policy_contradictions()");

static struct row_msg pool_rule_row = ROW_MSG(kehu__v1__pool_rule__descriptor,
    "branch,grade,followup_days,txn_days,warn_days,claim_per_day,max_held,cooldown_days,"
    "exempt_open_case,exempt_txn_days,exempt_tag");

static void rules_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    const Kehu__V1__PoolRules *m = r->msg->pool_rules;
    int forced = m->n_set && m->force;
    int last = res->nres - 1, n = db_rows(res, last);
    Kehu__V1__PoolRuleList *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__pool_rule_list__init(out);
    if (forced) /* statement 1: what the set leaves contradicting */
        out->warnings = rpc_cells(r, res, 1, 0, &out->n_warnings);
    ROW_MSGS(r, &pool_rule_row, res, last, n, out, rules);
    if (m->n_set)
        out->changed = (int32_t)db_get_i64(res, 0, 0, 0);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_POOL_RULE_LIST, out);
}

/* Shows, or sets and shows, the rules of branch `branch_id` (0 everywhere). */
static void rules_go(struct req *r, int64_t branch_id)
{
    const Kehu__V1__PoolRules *m = r->msg->pool_rules;
    const char *p[5] = { 0 };
    if (m->n_set) {
        const char **grades = arena_alloc(&r->arena, sizeof *grades * m->n_set);
        const char **keys = arena_alloc(&r->arena, sizeof *keys * m->n_set);
        const char **vals = arena_alloc(&r->arena, sizeof *vals * m->n_set);
        for (size_t i = 0; i < m->n_set; i++) {
            const char *f = m->set[i]->field ? m->set[i]->field : "";
            const char *dot = strchr(f, '.');
            if (!dot) {
                req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, f,
                         "'%s': name a grade and a key, as in A.followup_days (or *.claim_per_day)", f);
                return;
            }
            grades[i] = arena_printf(&r->arena, "%.*s", (int)(dot - f), f);
            keys[i] = dot + 1;
            vals[i] = m->set[i]->value ? m->set[i]->value : "";
        }
        p[0] = branch_id ? rpc_num(r, branch_id) : NULL;
        p[1] = arena_pg_array(&r->arena, grades, m->n_set);
        p[2] = arena_pg_array(&r->arena, keys, m->n_set);
        p[3] = arena_pg_array(&r->arena, vals, m->n_set);
        p[4] = rpc_num(r, req_who(r)->user_id);
    }
    /* statements: the set, the check (or, forced, what contradicts), the rules */
    struct db_call *call = db_call_new(r->srv->db, rules_done, r);
    if (m->n_set) {
        db_call_add(call, &rules_set_stmt, 5, p);
        if (m->force)
            db_call_add(call, &contradictions_stmt, 0, NULL);
        else
            db_call_add(call, &agree_stmt, 1, p);
    }
    const char *q[] = { pool_scope(r), rpc_num(r, branch_id) };
    db_call_add(call, &rules_stmt, 2, q);
    db_call_send(call);
}

static void rules_branch(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__PoolRules *m = r->msg->pool_rules;
    int64_t branch = branch_found(r, res, m->n_set ? ACT_POOL_MANAGE : ACT_POOL_READ, m->branch);
    if (!branch)
        return;
    rules_go(r, branch);
}

static void pool_rules(struct req *r)
{
    const Kehu__V1__PoolRules *m = r->msg->pool_rules;
    if (!m) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, NULL, "the request is empty");
        return;
    }
    if (m->n_set > RULES_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "set", "at most %d values at once", RULES_MAX);
        return;
    }
    if (m->branch && *m->branch) {
        const char *p[] = { m->branch };
        db_query(r->srv->db, &rpc_branch_place_by_ref, 1, p, rules_branch, r);
        return;
    }
    if (m->n_set && !is_admin(req_who(r))) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "branch",
                 "only an admin sets the rules everywhere; a branch manager sets them for the branch (--branch)");
        return;
    }
    rules_go(r, 0);
}

const struct rpc_entry rpc_pool_rules = { KEHU__V1__REQUEST__OP_POOL_RULES, "pool_rules", ACT_POOL_READ, 0,
                                          pool_rules };

/* ---- PoolRecycle and its schedule */

static struct db_stmt recycle_stmt = DB_STMT(
    "SELECT id, as_of::text, dry_run, examined, warned, recycled, by_followup, by_txn, exempted, duration_ms"
    " FROM pool_recycle($1::date, $2::boolean, $3)");
/* By hand: within the caller's scope ($4, $5; only the whole job runs for
 * real); a dry run then lists a page of what it would recycle from the
 * candidates pool_recycle left ($1 the day, $2 the cursor, $3 the page plus
 * one). Not prepared: pr_cand exists only after the first statement ran. */
static struct db_stmt recycle_scoped_stmt = DB_STMT(
    "SELECT id, as_of::text, dry_run, examined, warned, recycled, by_followup, by_txn, exempted, duration_ms"
    " FROM pool_recycle($1::date, $2::boolean, $3, $4::int, $5::bigint)");
static const char recycle_list_sql[] =
    "SELECT p.id, c.name, coalesce(u.username, ''), p.trig, p.due::text, count(*) OVER (), p.id::text"
    " FROM pr_cand p JOIN customer c ON c.id = p.id LEFT JOIN app_user u ON u.id = p.owner_id"
    " WHERE NOT p.exempt AND p.due <= $1::date AND ($2::bigint IS NULL OR p.id > $2::bigint)"
    " ORDER BY p.id LIMIT $3";
#define RECYCLE_LIST_DEFAULT 100
#define RECYCLE_LIST_MAX 1000

static struct row_msg pool_recycle_result_row = ROW_MSG(kehu__v1__pool_recycle_result__descriptor,
    "run_id,as_of,dry_run,examined,warned,recycled,by_followup,by_txn,exempted,duration_ms");

static struct row_msg pool_recycle_customer_row = ROW_MSG(kehu__v1__pool_recycle_customer__descriptor,
    "customer_id,name,owner,trigger,due");

static void recycled(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "55P03") == 0)
            req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, NULL, "a recycle is in progress");
        else
            req_fail_db(r, res);
        return;
    }
    Kehu__V1__PoolRecycleResult *out = row_msg(r, &pool_recycle_result_row, res, 0, 0, 0);
    if (res->nres > 1) { /* a dry run's page of customers */
        int n = page_end(r, r->state, res, 1, 6, &out->next_cursor, &out->remaining);
        out->customers = arena_alloc(&r->arena, sizeof *out->customers * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) {
            Kehu__V1__PoolRecycleCustomer *c = row_msg(r, &pool_recycle_customer_row, res, 1, i, 0);
            audit_note_customer(r, c->customer_id);
            out->customers[out->n_customers++] = c;
        }
    }
    log_info(r->conn->id, r->id, "pool recycle as of %s%s: %lld examined, %lld warned, %lld recycled in %lld ms",
             out->as_of, out->dry_run ? " (dry)" : "", (long long)out->examined, (long long)out->warned,
             (long long)out->recycled, (long long)out->duration_ms);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_POOL_RECYCLED, out);
}

static void pool_recycle(struct req *r)
{
    const Kehu__V1__PoolRecycle *m = r->msg->pool_recycle;
    int dry = m && m->dry_run;
    if (!dry && !is_admin(req_who(r))) { /* a dry run shows what the caller may read */
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL, "only an admin runs the recycle job by hand");
        return;
    }
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "pool_recycle", "i", m ? m->limit : 0, m ? m->after : NULL, RECYCLE_LIST_DEFAULT,
                   RECYCLE_LIST_MAX) < 0)
        return;
    r->state = pg;
    char today[11];
    validate_today(today);
    const char *as_of = m && m->as_of && *m->as_of ? m->as_of : today;
    const char *why = validate_date(as_of);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "as_of", "as_of %s", why);
        return;
    }
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { as_of, dry ? "true" : "false", rpc_num(r, req_who(r)->user_id), kind, id };
    struct db_call *call = db_call_new(r->srv->db_long, recycled, r);
    db_call_add(call, &recycle_scoped_stmt, 5, p);
    if (dry) {
        const char *lp[] = { as_of, pg->key[0], pg->fetch };
        db_call_add_sql(call, recycle_list_sql, 3, lp);
    }
    db_call_send(call);
}

const struct rpc_entry rpc_pool_recycle = { KEHU__V1__REQUEST__OP_POOL_RECYCLE, "pool_recycle", ACT_POOL_MANAGE, 0,
                                            pool_recycle };

static struct db_stmt schedule_due = DB_STMT("SELECT pool_schedule_due(current_date)");

static void scheduled_done(const struct db_result *res, void *arg)
{
    struct server *s = arg;
    if (s->pool)
        s->pool->running = 0;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "55P03") != 0)
            log_warn(0, 0, "scheduled pool recycle failed: %s", res->message ? res->message : "?");
        return;
    }
    log_info(0, 0, "scheduled pool recycle as of %s: %s examined, %s warned, %s recycled in %s ms",
             db_get(res, 0, 0, 1), db_get(res, 0, 0, 3), db_get(res, 0, 0, 4), db_get(res, 0, 0, 5),
             db_get(res, 0, 0, 9));
}

static void schedule_checked(const struct db_result *res, void *arg)
{
    struct server *s = arg;
    if (!s->pool || s->stopping || res->outcome != DB_OK || db_rows(res, 0) != 1 || !db_get_bool(res, 0, 0, 0)) {
        if (s->pool)
            s->pool->running = 0;
        return;
    }
    char today[11];
    validate_today(today);
    const char *p[] = { today, "false", NULL };
    db_query(s->db_long, &recycle_stmt, 3, p, scheduled_done, s);
}

static void on_schedule(uv_timer_t *t)
{
    struct server *s = t->data;
    if (s->stopping || !s->pool || s->pool->running || !db_pool_ready(s->db))
        return;
    s->pool->running = 1;
    db_query(s->db, &schedule_due, 0, NULL, schedule_checked, s);
}

void pool_schedule_start(struct server *s)
{
    if (s->cfg.pool_schedule <= 0)
        return;
    struct pool_state *ps = xcalloc(1, sizeof *ps);
    s->pool = ps;
    uv_timer_init(s->loop, &ps->schedule);
    ps->schedule.data = s;
    uint64_t every = (uint64_t)s->cfg.pool_schedule * 1000;
    uv_timer_start(&ps->schedule, on_schedule, every < SCHEDULE_FIRST_MS ? every : SCHEDULE_FIRST_MS, every);
    uv_unref((uv_handle_t *)&ps->schedule);
    ps->schedule_on = 1;
}

static void schedule_closed(uv_handle_t *h)
{
    free(h->data);
}

void pool_shutdown(struct server *s)
{
    struct pool_state *ps = s->pool;
    if (!ps)
        return;
    s->pool = NULL; /* a scheduled run's callbacks find nothing to update */
    if (ps->schedule_on) {
        ps->schedule_on = 0;
        uv_timer_stop(&ps->schedule);
        ps->schedule.data = ps;
        uv_close((uv_handle_t *)&ps->schedule, schedule_closed);
    } else {
        free(ps);
    }
}

/* ---- PoolEvents */

#define POOL_EVENT_SELECT                                                                                         \
    "SELECT v.id, v.customer_id, c.name, v.kind, coalesce(p.name, ''), coalesce(fu.username, ''),"              \
    " coalesce(tu.username, ''), coalesce(v.reason, ''), coalesce(v.as_of::text, ''), coalesce(au.username, ''), " \
    SQL_MS("v.at") " FROM pool_event v JOIN customer c ON c.id = v.customer_id"                                \
    " LEFT JOIN pool p ON p.id = v.pool_id LEFT JOIN app_user fu ON fu.id = v.from_owner"                      \
    " LEFT JOIN app_user tu ON tu.id = v.to_owner LEFT JOIN app_user au ON au.id = v.actor "

/* Pages, newest first: $2 the page plus one, $3 the cursor; after the
 * event's columns the count after the cursor, then the key. */
#define POOL_EVENT_PAGE(from_where)                                                                   \
    "SELECT x.*, count(*) OVER (), x.id::text FROM (" POOL_EVENT_SELECT from_where ") x"             \
    " WHERE $3::bigint IS NULL OR x.id < $3::bigint ORDER BY x.id DESC LIMIT $2"
#define POOL_EVENT_KEYCOL 12
static struct db_stmt events_of_customer = DB_STMT(POOL_EVENT_PAGE("WHERE v.customer_id = $1"));
/* $1 the caller's pools, $4 and $5 their read scope (RPC_SCOPE_SQL): the
 * events of customers waiting in those pools or readable by the caller. */
static struct db_stmt events_in_scope = DB_STMT(POOL_EVENT_PAGE(
    "JOIN org_unit b ON b.id = v.branch_id WHERE ($1::bigint = 0 OR b.path @> ARRAY[$1::bigint])"
    " AND (c.status = 'in_pool' OR" RPC_SCOPE_SQL(4, 5) ")"));

static struct row_msg pool_event_row = ROW_MSG(kehu__v1__pool_event__descriptor,
    "id,customer_id,customer,kind,pool,from_owner,to_owner,reason,as_of,actor,at_ms");

static void events_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__PoolEventList *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__pool_event_list__init(out);
    int n = page_end(r, r->state, res, 0, POOL_EVENT_KEYCOL, &out->next_cursor, &out->remaining);
    ROW_MSGS(r, &pool_event_row, res, 0, n, out, events);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_POOL_EVENT_LIST, out);
}

static void events_placed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__PoolEvents *m = r->msg->pool_events;
    if (!req_db_ok(r, res))
        return;
    /* who may read the customer, or sees it waiting in their pools: once
     * someone else holds it, its record (owners, reasons) is theirs */
    if (!place_visible(r, res, ACT_POOL_READ)) {
        no_customer(r, m->customer_id);
        return;
    }
    struct page *pg = r->state;
    const char *p[] = { rpc_num(r, m->customer_id), pg->fetch, pg->key[0] };
    db_query(r->srv->db, &events_of_customer, 3, p, events_done, r);
}

static void pool_events(struct req *r)
{
    const Kehu__V1__PoolEvents *m = r->msg->pool_events;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "pool_events", "i", m ? m->limit : 0, m ? m->after : NULL, LIST_DEFAULT, LIST_MAX) < 0)
        return;
    r->state = pg;
    if (m && m->customer_id) {
        const char *p[] = { rpc_num(r, m->customer_id) };
        db_query(r->srv->db, &customer_place, 1, p, events_placed, r);
        return;
    }
    const char *authz_why;
    if (authz_check(req_who(r), ACT_POOL_READ, NULL, &authz_why) != KEHU__V1__CODE__OK) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL, "%s", authz_why);
        return;
    }
    const char *k, *i;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &k, &i);
    const char *p[] = { pool_scope(r), pg->fetch, pg->key[0], k, i };
    db_query(r->srv->db, &events_in_scope, 5, p, events_done, r);
}

/* Anyone who may read a customer may read its pool record (events_placed). */
const struct rpc_entry rpc_pool_events = { KEHU__V1__REQUEST__OP_POOL_EVENTS, "pool_events", ACT_SESSION, 0,
                                           pool_events };

/* ---- AssignRules */

static struct db_stmt assign_rules_stmt = DB_STMT(
    "SELECT r.position, coalesce(r.region, ''), coalesce(r.industry, ''), coalesce(r.source, ''),"
    " coalesce(r.size, ''), coalesce(r.grade, ''), coalesce(u.username, ''), coalesce(t.name, '')"
    " FROM assign_rule r LEFT JOIN app_user u ON u.id = r.target_user LEFT JOIN org_unit t ON t.id = r.target_team"
    " WHERE r.branch_id = $1 ORDER BY r.position");
static struct db_stmt assign_rules_set_stmt = DB_STMT(
    "SELECT assign_rule_set($1, $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
    " $9)");

struct assign_state {
    int64_t branch_id;
    const char *branch;
};

static struct row_msg assign_rule_row = ROW_MSG(kehu__v1__assign_rule__descriptor,
    "position,region,industry,source,size,grade,user,team");

static void assign_rules_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct assign_state *st = r->state;
    if (!req_db_ok(r, res))
        return;
    int last = res->nres - 1, n = db_rows(res, last);
    Kehu__V1__AssignRuleList *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__assign_rule_list__init(out);
    out->branch_id = st->branch_id;
    out->branch = (char *)st->branch;
    ROW_MSGS(r, &assign_rule_row, res, last, n, out, rules);
    if (res->nres > 1)
        log_info(r->conn->id, r->id, "assignment rules of %s set: %d", st->branch, n);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ASSIGN_RULE_LIST, out);
}

static const char *criterion(const char *s)
{
    return s ? s : "";
}

static void assign_rules_branch(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__AssignRules *m = r->msg->assign_rules;
    int64_t branch = branch_found(r, res, m->set ? ACT_POOL_MANAGE : ACT_POOL_READ, m->branch);
    if (!branch)
        return;
    struct assign_state *st = arena_alloc(&r->arena, sizeof *st);
    st->branch_id = branch;
    st->branch = rpc_col(r, res, 0, 0, 3);
    r->state = st;
    const char *id = rpc_num(r, st->branch_id);
    struct db_call *call = db_call_new(r->srv->db, assign_rules_done, r);
    if (m->set) {
        size_t n = m->n_rules;
        const char **cols[7];
        for (int k = 0; k < 7; k++)
            cols[k] = arena_alloc(&r->arena, sizeof *cols[k] * (n ? n : 1));
        for (size_t i = 0; i < n; i++) {
            const Kehu__V1__AssignRule *a = m->rules[i];
            cols[0][i] = criterion(a->region);
            cols[1][i] = criterion(a->industry);
            cols[2][i] = criterion(a->source);
            cols[3][i] = criterion(a->size);
            cols[4][i] = criterion(a->grade);
            cols[5][i] = criterion(a->user);
            cols[6][i] = criterion(a->team);
        }
        const char *p[9];
        p[0] = id;
        for (int k = 0; k < 7; k++)
            p[1 + k] = arena_pg_array(&r->arena, cols[k], n);
        p[8] = rpc_num(r, req_who(r)->user_id);
        db_call_add(call, &assign_rules_set_stmt, 9, p);
    }
    const char *q[] = { id };
    db_call_add(call, &assign_rules_stmt, 1, q);
    db_call_send(call);
}

/* The branch a request names, or the caller's own. */
static const char *branch_ref(struct req *r, const char *given)
{
    if (given && *given)
        return given;
    const struct principal *who = req_who(r);
    return who->branch_id ? rpc_num(r, who->branch_id) : "";
}

static void assign_rules(struct req *r)
{
    const Kehu__V1__AssignRules *m = r->msg->assign_rules;
    if (!m) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, NULL, "the request is empty");
        return;
    }
    if (m->n_rules > RULES_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "rules", "at most %d rules", RULES_MAX);
        return;
    }
    if (!m->set && m->n_rules) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "set", "rules are given only to set them");
        return;
    }
    for (size_t i = 0; i < m->n_rules; i++) {
        const Kehu__V1__AssignRule *a = m->rules[i];
        const char *vals[] = { a->region, a->industry, a->source, a->size, a->grade, a->user, a->team };
        static const char *const names[] = { "region", "industry", "source", "size", "grade", "to", "to" };
        for (int k = 0; k < 7; k++) {
            const char *why = rpc_text_problem(criterion(vals[k]), CRITERION_MAX, 0);
            if (why) {
                req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, arena_printf(&r->arena, "rules[%zu].%s", i + 1, names[k]),
                         "rule %zu: %s %s", i + 1, names[k], why);
                return;
            }
        }
    }
    const char *p[] = { branch_ref(r, m->branch) };
    db_query(r->srv->db, &rpc_branch_place_by_ref, 1, p, assign_rules_branch, r);
}

const struct rpc_entry rpc_assign_rules = { KEHU__V1__REQUEST__OP_ASSIGN_RULES, "assign_rules", ACT_POOL_READ, 0,
                                            assign_rules };

/* ---- AssignRuleApply */

/* $1 branch, $2 actor, $3 dry. */
static struct db_stmt apply_stmt = DB_STMT(
    "SELECT coalesce(r.position, 0), coalesce(u.username, 'pool:' || coalesce(p.name, '公海')), count(*)"
    " FROM assign_route(ARRAY(SELECT c.id FROM customer c WHERE c.branch_id = $1 AND c.owner_id IS NULL"
    "  AND c.status = 'active' AND c.merged_into IS NULL), $2, $3::boolean) x"
    " LEFT JOIN assign_rule r ON r.id = x.rule_id LEFT JOIN app_user u ON u.id = x.owner_id"
    " LEFT JOIN pool p ON p.id = x.pool_id GROUP BY 1, 2 ORDER BY 1, 2");

static void applied(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0);
    Kehu__V1__AssignRuleApplyResult *out = arena_alloc(&r->arena, sizeof *out);
    kehu__v1__assign_rule_apply_result__init(out);
    out->dry_run = r->msg->assign_rule_apply->dry_run;
    out->counts = arena_alloc(&r->arena, sizeof *out->counts * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__AssignRouteCount *c = arena_alloc(&r->arena, sizeof *c);
        kehu__v1__assign_route_count__init(c);
        c->position = (int32_t)db_get_i64(res, 0, i, 0);
        c->target = rpc_col(r, res, 0, i, 1);
        c->customers = db_get_i64(res, 0, i, 2);
        out->customers += c->customers;
        out->counts[out->n_counts++] = c;
    }
    log_info(r->conn->id, r->id, "assignment rules applied%s: %lld customers", out->dry_run ? " (dry run)" : "",
             (long long)out->customers);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ASSIGN_APPLIED, out);
}

static void apply_branch(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__AssignRuleApply *m = r->msg->assign_rule_apply;
    int64_t branch = branch_found(r, res, ACT_POOL_MANAGE, m->branch);
    if (!branch)
        return;
    const char *p[] = { rpc_num(r, branch), rpc_num(r, req_who(r)->user_id), m->dry_run ? "true" : "false" };
    db_query(r->srv->db_long, &apply_stmt, 3, p, applied, r);
}

static void assign_rule_apply(struct req *r)
{
    const Kehu__V1__AssignRuleApply *m = r->msg->assign_rule_apply;
    const char *p[] = { branch_ref(r, m ? m->branch : NULL) };
    db_query(r->srv->db, &rpc_branch_place_by_ref, 1, p, apply_branch, r);
}

const struct rpc_entry rpc_assign_rule_apply = { KEHU__V1__REQUEST__OP_ASSIGN_RULE_APPLY, "assign_rule_apply",
                                                 ACT_POOL_MANAGE, 0, assign_rule_apply };

/* ---- routing new customers */

static struct db_stmt route_added = DB_STMT("SELECT assign_route_new($1)");
static struct db_stmt route_reread = DB_STMT(
    "SELECT " CUSTOMER_COLUMNS " FROM customer c" CUSTOMER_JOINS
    "WHERE c.created_at = now() AND c.created_by = $1 ORDER BY c.id DESC LIMIT 1");

void rpc_pool_after_add(struct db_call *call, const char *actor)
{
    const char *p[] = { actor };
    db_call_add(call, &route_added, 1, p);
    db_call_add(call, &route_reread, 1, p);
}
