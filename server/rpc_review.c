/* The annual review (年末评审), the VIP list and the win-back list (挽回):
 * docs/grading.md, sql/0025_review.sql.
 *
 * The review: in a yearly window (by default 25 to 30 December, the
 * review.window_* policy keys), the last grading run proposes every
 * customer's ABC grade and credit rating (ReviewOpen); each region's first
 * rating confirms or adjusts the grade, with a reason to adjust
 * (ReviewDecide step rate, matrix action review_rate); the committee
 * gives the final word (step final, review_final) and keeps the VIP list
 * (VipChange, review_final); finance confirms credit ratings (step
 * credit, review_credit). ReviewFinalize turns the outcome into grade
 * overrides (asked by the rater, approved by the committee) and credit
 * assessments; ReviewReport lists what changed and who decided. The
 * window is checked in SQL against the review clock (kehu_now()).
 *
 * The win-back list: lost A and B customers (sql/0025: added in a grading
 * run's aftermath and when a churn warning closes as lost), with their
 * value, owner and plan, until won back (checked whenever the list is
 * read) or closed with a reason.
 *
 * Every customer is reached through the authorization function: one the
 * caller may not read is missing for them; lists cover the caller's scope
 * (RPC_SCOPE_SQL). Changes are audited (audit_call_send). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "log.h"
#include "page.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"
#include "validate.h"

#define REASON_MAX 500
#define PLAN_MAX 2000
#define UNIT_MAX 200
#define USERNAME_MAX 64
#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define YEAR_MIN 2000
#define YEAR_MAX 2200

/* The year as a statement parameter: NULL for 0 (the default); -1 after
 * answering a year out of range. */
static int year_param(struct req *r, int32_t year, const char **out)
{
    *out = NULL;
    if (year == 0)
        return 0;
    if (year < YEAR_MIN || year > YEAR_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "year", "year must be between %d and %d", YEAR_MIN, YEAR_MAX);
        return -1;
    }
    *out = arena_printf(&r->arena, "%d", (int)year);
    return 0;
}

/* ---- the review as the protocol shows it */

/* $1 the year (NULL: the latest), $2 $3 the caller's scope: the counts are
 * of the customers they may read. */
static struct db_stmt review_stmt = DB_STMT(
    "SELECT r.id, r.year, r.window_from::text, r.window_to::text, r.status, r.run_id, coalesce(ob.username, ''),"
    " coalesce(fb.username, ''), coalesce(" SQL_MS("r.finalized_at") ", 0), s.items, s.rated, s.adjusted,"
    " s.final_decided, s.credit_confirmed, s.changed, v.added, v.withdrawn,"
    " review_today() BETWEEN r.window_from AND r.window_to"
    " FROM review_get($1::int) r LEFT JOIN app_user ob ON ob.id = r.opened_by"
    " LEFT JOIN app_user fb ON fb.id = r.finalized_by"
    " CROSS JOIN LATERAL (SELECT count(*) AS items, count(i.rated) AS rated,"
    "  count(*) FILTER (WHERE i.rated <> i.proposed) AS adjusted, count(i.final) AS final_decided,"
    "  count(i.credit_by) AS credit_confirmed,"
    "  count(*) FILTER (WHERE coalesce(i.final, i.rated, i.proposed) <> i.proposed"
    "   OR (i.credit IS NOT NULL AND i.credit IS DISTINCT FROM i.credit_proposed)) AS changed"
    "  FROM review_item i JOIN customer c ON c.id = i.customer_id WHERE i.review_id = r.id AND" RPC_SCOPE_SQL(2, 3) ") s"
    " CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE x.action = 'add') AS added,"
    "  count(*) FILTER (WHERE x.action = 'withdraw') AS withdrawn"
    "  FROM vip_change x JOIN customer c ON c.id = x.customer_id WHERE x.review_id = r.id AND" RPC_SCOPE_SQL(2, 3) ") v");

static struct row_msg review_row = ROW_MSG(kehu__v1__review__descriptor,
    "id,year,window_from,window_to,status,run_id,opened_by,finalized_by,finalized_at_ms,items,"
    "rated,adjusted,final_decided,credit_confirmed,changed,vip_added,vip_withdrawn");

static Kehu__V1__Review *review_from_row(struct req *r, const struct db_result *res, int stmt)
{
    Kehu__V1__Review *v = row_msg(r, &review_row, res, stmt, 0, 0);
    v->in_window = strcmp(db_get(res, stmt, 0, 17), "t") == 0;
    return v;
}

/* Answers with the review the call's last statement reads. */
static void review_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    int stmt = req_db_last_one(r, res, "year", "no annual review");
    if (stmt < 0)
        return;
    Kehu__V1__Review *v = review_from_row(r, res, stmt);
    log_info(r->conn->id, r->id, "annual review %d: %s", (int)v->year, v->status);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_REVIEW, v);
}

/* ---- ReviewOpen */

static struct db_stmt open_stmt = DB_STMT("SELECT review_open($1::int, $2::date, $3::date, $4::bigint)");

static void review_open(struct req *r)
{
    const Kehu__V1__ReviewOpen *m = r->msg->review_open;
    const char *year, *why;
    if (year_param(r, m ? m->year : 0, &year) < 0)
        return;
    const char *from = m ? rpc_opt(m->window_from) : NULL, *to = m ? rpc_opt(m->window_to) : NULL;
    if (from && (why = validate_date(from))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "window_from", "window_from %s", why);
        return;
    }
    if (to && (why = validate_date(to))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "window_to", "window_to %s", why);
        return;
    }
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { year, from, to, rpc_num(r, req_who(r)->user_id) };
    const char *ps[] = { year, kind, id };
    struct db_call *call = db_call_new(r->srv->db, review_done, r);
    db_call_add(call, &open_stmt, 4, p);
    db_call_add(call, &review_stmt, 3, ps);
    audit_call_send(r, call);
}

const struct rpc_entry rpc_review_open = { KEHU__V1__REQUEST__OP_REVIEW_OPEN, "review_open", ACT_REVIEW_FINAL, 0,
                                           review_open };

/* ---- ReviewShow */

static void review_show(struct req *r)
{
    const Kehu__V1__ReviewShow *m = r->msg->review_show;
    const char *year, *kind, *id;
    if (year_param(r, m ? m->year : 0, &year) < 0)
        return;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { year, kind, id };
    db_query(r->srv->db, &review_stmt, 3, p, review_done, r);
}

const struct rpc_entry rpc_review_show = { KEHU__V1__REQUEST__OP_REVIEW_SHOW, "review_show", ACT_CUSTOMER_READ, 0,
                                           review_show };

/* ---- ReviewFinalize */

static struct db_stmt finalize_stmt = DB_STMT("SELECT review_finalize($1::int, $2::bigint)");

static void review_finalize(struct req *r)
{
    const Kehu__V1__ReviewFinalize *m = r->msg->review_finalize;
    const char *year, *kind, *id;
    if (year_param(r, m ? m->year : 0, &year) < 0)
        return;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { year, rpc_num(r, req_who(r)->user_id) };
    const char *ps[] = { year, kind, id };
    struct db_call *call = db_call_new(r->srv->db, review_done, r);
    db_call_add(call, &finalize_stmt, 2, p);
    db_call_add(call, &review_stmt, 3, ps);
    audit_call_send(r, call);
}

const struct rpc_entry rpc_review_finalize = { KEHU__V1__REQUEST__OP_REVIEW_FINALIZE, "review_finalize",
                                               ACT_REVIEW_FINAL, 0, review_finalize };

/* ---- items */

#define ITEM_COLUMNS                                                                                            \
    "i.customer_id, c.name, coalesce(ow.username, ''), coalesce(b.name, ''), i.proposed, coalesce(i.rated, ''),"  \
    " coalesce(ru.username, ''), coalesce(i.rate_reason, ''), coalesce(i.final, ''), coalesce(fu.username, ''),"  \
    " coalesce(i.final_reason, ''), coalesce(i.credit_proposed, ''), coalesce(i.credit, ''),"                    \
    " coalesce(cu.username, ''), coalesce(i.credit_reason, ''), coalesce(i.final, i.rated, i.proposed),"          \
    " EXISTS (SELECT 1 FROM vip_list v WHERE v.customer_id = i.customer_id AND v.status = 'listed')"
#define ITEM_NCOLS 17
#define ITEM_JOINS                                                                                               \
    " JOIN customer c ON c.id = i.customer_id LEFT JOIN app_user ow ON ow.id = c.owner_id"                      \
    " LEFT JOIN org_unit b ON b.id = c.branch_id LEFT JOIN app_user ru ON ru.id = i.rated_by"                   \
    " LEFT JOIN app_user fu ON fu.id = i.final_by LEFT JOIN app_user cu ON cu.id = i.credit_by "

static struct row_msg item_row = ROW_MSG(kehu__v1__review_item__descriptor,
    "customer_id,customer_name,owner,branch,proposed,rated,rated_by,rate_reason,final,final_by,"
    "final_reason,credit_proposed,credit,credit_by,credit_reason,outcome");

static Kehu__V1__ReviewItem *item_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__ReviewItem *it = row_msg(r, &item_row, res, stmt, row, 0);
    audit_note_customer(r, it->customer_id);
    it->vip = strcmp(db_get(res, stmt, row, 16), "t") == 0;
    return it;
}

/* ---- ReviewDecide */

static struct db_stmt decide_stmt =
    DB_STMT("SELECT review_decide($1::int, $2::bigint, $3::text, $4::text, $5::text, $6::bigint)");
static struct db_stmt item_stmt = DB_STMT("SELECT " ITEM_COLUMNS " FROM review_item i" ITEM_JOINS
                                          "WHERE i.review_id = (SELECT id FROM review_get($1::int))"
                                          " AND i.customer_id = $2::bigint");

static void decided(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "customer_id", "no such customer");
        return;
    }
    Kehu__V1__ReviewItem *it = item_from_row(r, res, 1, 0);
    log_info(r->conn->id, r->id, "annual review: %s of customer %lld", r->msg->review_decide->step,
             (long long)it->customer_id);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_REVIEW_ITEM, it);
}

static void decide_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__ReviewDecide *m = r->msg->review_decide;
    const char *year = ref->ctx;
    const char *cust = rpc_num(r, ref->id);
    const char *p[] = { year, cust, m->step, rpc_opt(m->grade), rpc_opt(m->reason), rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, decided, r);
    db_call_add(call, &decide_stmt, 6, p);
    db_call_add(call, &item_stmt, 2, p);
    audit_call_send(r, call);
}

static void review_decide(struct req *r)
{
    const Kehu__V1__ReviewDecide *m = r->msg->review_decide;
    if (!m || m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    enum authz_action act;
    if (m->step && strcmp(m->step, "rate") == 0)
        act = ACT_REVIEW_RATE;
    else if (m->step && strcmp(m->step, "final") == 0)
        act = ACT_REVIEW_FINAL;
    else if (m->step && strcmp(m->step, "credit") == 0)
        act = ACT_REVIEW_CREDIT;
    else {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "step",
                 "step is rate (a region's first rating), final (the committee) or credit (finance)");
        return;
    }
    if (rpc_check_text(r, "grade", m->grade, 8, 0) < 0 || rpc_check_text(r, "reason", m->reason, REASON_MAX, 1) < 0)
        return;
    const char *year;
    if (year_param(r, m->year, &year) < 0)
        return;
    /* the step's right on this customer: NOT_FOUND when it cannot even be read */
    rpc_customer_load_ctx(r, m->customer_id, act, decide_loaded, (void *)year, "customer_id");
}

const struct rpc_entry rpc_review_decide = { KEHU__V1__REQUEST__OP_REVIEW_DECIDE, "review_decide", ACT_CUSTOMER_READ,
                                             0, review_decide };

/* ---- ReviewItems */

/* $1 year, $2 $3 scope, $4 filter, $5 unit, $6 page plus one, $7 cursor. */
static struct db_stmt items_stmt = DB_STMT(
    "SELECT " ITEM_COLUMNS ", count(*) OVER (), i.customer_id::text FROM review_item i" ITEM_JOINS
    "WHERE i.review_id = (SELECT id FROM review_get($1::int)) AND" RPC_SCOPE_SQL(2, 3)
    " AND c.merged_into IS NULL"
    " AND CASE $4::text WHEN 'unrated' THEN i.rated IS NULL"
    "  WHEN 'adjusted' THEN i.rated <> i.proposed OR i.final <> coalesce(i.rated, i.proposed)"
    "  WHEN 'changed' THEN coalesce(i.final, i.rated, i.proposed) <> i.proposed"
    "   OR (i.credit IS NOT NULL AND i.credit IS DISTINCT FROM i.credit_proposed)"
    "  ELSE true END"
    " AND ($5::text IS NULL OR c.branch_id IN (SELECT o.id FROM org_unit o WHERE o.path @> ARRAY[org_unit_ref($5::text)]))"
    " AND ($7::bigint IS NULL OR i.customer_id > $7::bigint)"
    " ORDER BY i.customer_id LIMIT $6");

static void items_listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__ReviewItemList *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__review_item_list__init(list);
    int n = page_end(r, r->state, res, 0, ITEM_NCOLS + 1, &list->next_cursor, &list->remaining);
    list->items = arena_alloc(&r->arena, sizeof *list->items * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        list->items[list->n_items++] = item_from_row(r, res, 0, i);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_REVIEW_ITEM_LIST, list);
}

static void review_items(struct req *r)
{
    const Kehu__V1__ReviewItems *m = r->msg->review_items;
    const char *status = m && m->status && *m->status ? m->status : "all";
    if (strcmp(status, "all") != 0 && strcmp(status, "unrated") != 0 && strcmp(status, "adjusted") != 0 &&
        strcmp(status, "changed") != 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "status", "status is all, unrated, adjusted or changed");
        return;
    }
    const char *unit = m ? rpc_opt(m->unit) : NULL, *year;
    if (unit && rpc_check_text(r, "unit", unit, UNIT_MAX, 0) < 0)
        return;
    if (year_param(r, m ? m->year : 0, &year) < 0)
        return;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "review_items", "i", m ? m->limit : 0, m ? m->after : NULL, LIST_DEFAULT, LIST_MAX) < 0)
        return;
    r->state = pg;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { year, kind, id, status, unit, pg->fetch, pg->key[0] };
    db_query(r->srv->db, &items_stmt, 7, p, items_listed, r);
}

const struct rpc_entry rpc_review_items = { KEHU__V1__REQUEST__OP_REVIEW_ITEMS, "review_items", ACT_CUSTOMER_READ, 0,
                                            review_items };

/* ---- ReviewReport */

/* What changed and who decided, customers in the caller's scope: the ABC
 * grade (the region's rating or the committee's decision that differs from
 * what it received), the credit rating finance changed, each VIP decision.
 * $1 year, $2 $3 scope, $4 page plus one, $5..$7 the cursor (customer,
 * dimension, sequence). */
static struct db_stmt report_stmt = DB_STMT(
    "WITH rv AS (SELECT * FROM review_get($1::int)),"
    " ch AS (SELECT i.customer_id, 'abc' AS dim, 0::bigint AS seq, i.proposed AS before,"
    "   coalesce(i.final, i.rated, i.proposed) AS after,"
    "   CASE WHEN i.final IS NOT NULL THEN i.final_by ELSE i.rated_by END AS by,"
    "   CASE WHEN i.final IS NOT NULL THEN 'committee' ELSE 'region' END AS role,"
    "   CASE WHEN i.final IS NOT NULL THEN i.final_reason ELSE i.rate_reason END AS reason,"
    "   CASE WHEN i.final IS NOT NULL THEN i.rated_by END AS rated_by,"
    "   CASE WHEN i.final IS NOT NULL THEN i.rate_reason END AS rate_reason, coalesce(i.final_at, i.rated_at) AS at"
    "  FROM review_item i, rv WHERE i.review_id = rv.id"
    "   AND (i.rated <> i.proposed OR i.final <> coalesce(i.rated, i.proposed))"
    "  UNION ALL"
    "  SELECT i.customer_id, 'credit', 0, coalesce(i.credit_proposed, ''), i.credit, i.credit_by, 'finance',"
    "   i.credit_reason, NULL, NULL, i.credit_at"
    "  FROM review_item i, rv WHERE i.review_id = rv.id AND i.credit IS DISTINCT FROM i.credit_proposed"
    "   AND i.credit IS NOT NULL"
    "  UNION ALL"
    "  SELECT x.customer_id, 'vip', x.id, CASE x.action WHEN 'add' THEN 'no' ELSE 'yes' END,"
    "   CASE x.action WHEN 'add' THEN 'yes' ELSE 'no' END, x.decided_by, 'committee', x.reason, NULL, NULL, x.at"
    "  FROM vip_change x, rv WHERE x.review_id = rv.id)"
    " SELECT ch.customer_id, c.name, ch.dim, ch.before, ch.after, coalesce(u.username, ''), ch.role,"
    "  coalesce(ch.reason, ''), coalesce(ru.username, ''), coalesce(ch.rate_reason, ''),"
    "  coalesce(" SQL_MS("ch.at") ", 0), count(*) OVER (), ch.customer_id::text, ch.dim, ch.seq::text"
    " FROM ch JOIN customer c ON c.id = ch.customer_id LEFT JOIN app_user u ON u.id = ch.by"
    " LEFT JOIN app_user ru ON ru.id = ch.rated_by"
    " WHERE" RPC_SCOPE_SQL(2, 3) "AND c.merged_into IS NULL"
    " AND ($5::bigint IS NULL OR (ch.customer_id, ch.dim, ch.seq) > ($5::bigint, $6::text, $7::bigint))"
    " ORDER BY ch.customer_id, ch.dim, ch.seq LIMIT $4");

static struct row_msg review_change_row = ROW_MSG(kehu__v1__review_change__descriptor,
    "customer_id,customer_name,dimension,before,after,decided_by,role,reason,rated_by,"
    "rate_reason,at_ms");

static void reported(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__ReviewChanges *rc = arena_alloc(&r->arena, sizeof *rc);
    kehu__v1__review_changes__init(rc);
    rc->review = review_from_row(r, res, 0);
    int n = page_end(r, r->state, res, 1, 11, &rc->next_cursor, &rc->remaining);
    rc->changes = arena_alloc(&r->arena, sizeof *rc->changes * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__ReviewChange *ch = row_msg(r, &review_change_row, res, 1, i, 0);
        audit_note_customer(r, ch->customer_id);
        rc->changes[rc->n_changes++] = ch;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_REVIEW_CHANGES, rc);
}

static void review_report(struct req *r)
{
    const Kehu__V1__ReviewReport *m = r->msg->review_report;
    const char *year;
    if (year_param(r, m ? m->year : 0, &year) < 0)
        return;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "review_report", "iti", m ? m->limit : 0, m ? m->after : NULL, LIST_DEFAULT, LIST_MAX) < 0)
        return;
    r->state = pg;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *ps[] = { year, kind, id };
    const char *p[] = { year, kind, id, pg->fetch, pg->key[0], pg->key[1], pg->key[2] };
    struct db_call *call = db_call_new(r->srv->db, reported, r);
    db_call_add(call, &review_stmt, 3, ps);
    db_call_add(call, &report_stmt, 7, p);
    db_call_send(call);
}

const struct rpc_entry rpc_review_report = { KEHU__V1__REQUEST__OP_REVIEW_REPORT, "review_report", ACT_CUSTOMER_READ,
                                             0, review_report };

/* ---- the VIP list */

#define VIP_COLUMNS                                                                                               \
    "v.customer_id, c.name, coalesce(ow.username, ''), v.status, v.reason, coalesce(u.username, ''),"           \
    " " SQL_MS("v.decided_at") ", coalesce(rv.year, 0)"
#define VIP_JOINS                                                                                                \
    " JOIN customer c ON c.id = v.customer_id LEFT JOIN app_user ow ON ow.id = c.owner_id"                      \
    " LEFT JOIN app_user u ON u.id = v.decided_by LEFT JOIN annual_review rv ON rv.id = v.review_id "

static struct row_msg vip_row = ROW_MSG(kehu__v1__vip_entry__descriptor,
    "customer_id,customer_name,owner,status,reason,decided_by,at_ms,year");

static Kehu__V1__VipEntry *vip_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__VipEntry *e = row_msg(r, &vip_row, res, stmt, row, 0);
    audit_note_customer(r, e->customer_id);
    return e;
}

static struct db_stmt vip_do = DB_STMT("SELECT vip_change_do($1::bigint, $2::text, $3::text, $4::bigint)");
static struct db_stmt vip_get = DB_STMT("SELECT " VIP_COLUMNS " FROM vip_list v" VIP_JOINS "WHERE v.customer_id = $1");

static void vip_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "customer_id", "no such customer");
        return;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_VIP_ENTRY, vip_from_row(r, res, 1, 0));
}

static void vip_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__VipChange *m = r->msg->vip_change;
    const char *p[] = { rpc_num(r, ref->id), m->action, rpc_opt(m->reason), rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, vip_done, r);
    db_call_add(call, &vip_do, 4, p);
    db_call_add(call, &vip_get, 1, p);
    audit_call_send(r, call);
}

static void vip_change(struct req *r)
{
    const Kehu__V1__VipChange *m = r->msg->vip_change;
    if (!m || m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    if (!m->action || (strcmp(m->action, "add") != 0 && strcmp(m->action, "withdraw") != 0)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "action", "action is add or withdraw");
        return;
    }
    if (!m->reason || !*m->reason) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "a reason is required to %s a VIP", m->action);
        return;
    }
    if (rpc_check_text(r, "reason", m->reason, REASON_MAX, 1) < 0)
        return;
    rpc_customer_load(r, m->customer_id, ACT_REVIEW_FINAL, vip_loaded);
}

const struct rpc_entry rpc_vip_change = { KEHU__V1__REQUEST__OP_VIP_CHANGE, "vip_change", ACT_REVIEW_FINAL, 0,
                                          vip_change };

/* $1 $2 scope, $3 status, $4 page plus one, $5 cursor. */
static struct db_stmt vip_list_stmt = DB_STMT(
    "SELECT " VIP_COLUMNS ", count(*) OVER (), v.customer_id::text FROM vip_list v" VIP_JOINS
    "WHERE" RPC_SCOPE_SQL(1, 2) "AND c.merged_into IS NULL AND v.status = $3"
    " AND ($5::bigint IS NULL OR v.customer_id > $5::bigint) ORDER BY v.customer_id LIMIT $4");

static void vip_listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__VipEntries *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__vip_entries__init(list);
    int n = page_end(r, r->state, res, 0, 9, &list->next_cursor, &list->remaining);
    list->entries = arena_alloc(&r->arena, sizeof *list->entries * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        list->entries[list->n_entries++] = vip_from_row(r, res, 0, i);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_VIP_ENTRIES, list);
}

static void vip_list(struct req *r)
{
    const Kehu__V1__VipList *m = r->msg->vip_list;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "vip_list", "i", m ? m->limit : 0, m ? m->after : NULL, LIST_DEFAULT, LIST_MAX) < 0)
        return;
    r->state = pg;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { kind, id, m && m->withdrawn ? "withdrawn" : "listed", pg->fetch, pg->key[0] };
    db_query(r->srv->db, &vip_list_stmt, 5, p, vip_listed, r);
}

const struct rpc_entry rpc_vip_list = { KEHU__V1__REQUEST__OP_VIP_LIST, "vip_list", ACT_CUSTOMER_READ, 0, vip_list };

/* ---- the win-back list */

#define WINBACK_COLUMNS                                                                                           \
    "w.id, w.customer_id, c.name, coalesce(ow.username, ''), w.grade, (w.value * 100)::bigint, w.lost_on::text,"  \
    " w.source, w.status, coalesce(w.plan, ''), coalesce(w.close_reason, ''), coalesce(cb.username, ''),"        \
    " coalesce(w.closed_on::text, '')"
#define WINBACK_NCOLS 13
#define WINBACK_JOINS                                                                                            \
    " JOIN customer c ON c.id = w.customer_id LEFT JOIN app_user ow ON ow.id = c.owner_id"                      \
    " LEFT JOIN app_user cb ON cb.id = w.closed_by "

static struct row_msg winback_row = ROW_MSG(kehu__v1__winback_entry__descriptor,
    "id,customer_id,customer_name,owner,grade,value,lost_on,source,status,plan,close_reason,"
    "closed_by,closed_on");

static Kehu__V1__WinbackEntry *winback_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__WinbackEntry *e = row_msg(r, &winback_row, res, stmt, row, 0);
    audit_note_customer(r, e->customer_id);
    return e;
}

/* Customers bought again since they were lost: won back, before listing. */
static struct db_stmt winback_won_stmt = DB_STMT("SELECT winback_won(review_today(), $1::bigint)");
/* $1 $2 scope, $3 owner's username or NULL, $4 statuses, $5 page plus one,
 * $6 $7 the cursor (value, id): the most valuable first. */
static struct db_stmt winback_list_stmt = DB_STMT(
    "SELECT " WINBACK_COLUMNS ", count(*) OVER (), w.value::text, w.id::text FROM winback w" WINBACK_JOINS
    "WHERE" RPC_SCOPE_SQL(1, 2) "AND c.merged_into IS NULL"
    " AND ($3::text IS NULL OR c.owner_id = (SELECT u.id FROM app_user u WHERE u.username = lower($3)))"
    " AND w.status = ANY ($4::text[])"
    " AND ($6::numeric IS NULL OR (w.value, w.id) < ($6::numeric, $7::bigint))"
    " ORDER BY w.value DESC, w.id DESC LIMIT $5");

static void winback_listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__WinbackList *m = r->msg->winback_list;
    if (!req_db_ok(r, res))
        return;
    int stmt = res->nres - 1;
    if (stmt > 1 && rpc_user_visible(r, res, 0, m->user, "user") < 0)
        return;
    Kehu__V1__WinbackEntries *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__winback_entries__init(list);
    int n = page_end(r, r->state, res, stmt, WINBACK_NCOLS + 1, &list->next_cursor, &list->remaining);
    list->entries = arena_alloc(&r->arena, sizeof *list->entries * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        list->entries[list->n_entries++] = winback_from_row(r, res, stmt, i);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_WINBACK_ENTRIES, list);
}

static void winback_list(struct req *r)
{
    const Kehu__V1__WinbackList *m = r->msg->winback_list;
    const char *status = m && m->status ? m->status : "", *statuses;
    if (!*status || strcmp(status, "open") == 0)
        statuses = "{open}";
    else if (strcmp(status, "all") == 0)
        statuses = "{open,won_back,closed}";
    else if (strcmp(status, "won_back") == 0 || strcmp(status, "closed") == 0)
        statuses = arena_printf(&r->arena, "{%s}", status);
    else {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "status", "status is open (default), won_back, closed or all");
        return;
    }
    const char *user = m && m->user && *m->user ? m->user : NULL;
    if (user && rpc_check_text(r, "user", user, USERNAME_MAX, 0) < 0)
        return;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "winback_list", "ni", m ? m->limit : 0, m ? m->after : NULL, LIST_DEFAULT, LIST_MAX) < 0)
        return;
    r->state = pg;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *actor = rpc_num(r, req_who(r)->user_id);
    const char *p[] = { kind, id, user, statuses, pg->fetch, pg->key[0], pg->key[1] };
    struct db_call *call = db_call_new(r->srv->db, winback_listed, r);
    if (user)
        db_call_add(call, &rpc_user_by_name, 1, &user);
    db_call_add(call, &winback_won_stmt, 1, &actor);
    db_call_add(call, &winback_list_stmt, 7, p);
    db_call_send(call);
}

const struct rpc_entry rpc_winback_list = { KEHU__V1__REQUEST__OP_WINBACK_LIST, "winback_list", ACT_CUSTOMER_READ, 0,
                                            winback_list };

/* The entry's customer, if the caller may read it ($2 $3): an entry out of
 * sight is as unknown as its customer. */
static struct db_stmt winback_find = DB_STMT(
    "SELECT w.customer_id FROM winback w JOIN customer c ON c.id = w.customer_id WHERE w.id = $1 AND" RPC_SCOPE_SQL(2, 3));
static struct db_stmt winback_do = DB_STMT("SELECT winback_act($1::bigint, $2::text, $3::text, $4::bigint)");
static struct db_stmt winback_get = DB_STMT("SELECT " WINBACK_COLUMNS " FROM winback w" WINBACK_JOINS "WHERE w.id = $1");

static void winback_acted(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "id", "no win-back entry %lld", (long long)r->msg->winback_act->id);
        return;
    }
    Kehu__V1__WinbackEntry *e = winback_from_row(r, res, 1, 0);
    log_info(r->conn->id, r->id, "win-back entry %lld of customer %lld: %s", (long long)e->id,
             (long long)e->customer_id, r->msg->winback_act->action);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_WINBACK_ENTRY, e);
}

static void winback_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__WinbackAct *m = r->msg->winback_act;
    const char *text = strcmp(m->action, "plan") == 0 ? m->plan : m->reason;
    const char *p[] = { rpc_num(r, m->id), m->action, rpc_opt(text), rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, winback_acted, r);
    db_call_add(call, &winback_do, 4, p);
    db_call_add(call, &winback_get, 1, p);
    audit_call_send(r, call);
}

static void winback_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__WinbackAct *m = r->msg->winback_act;
    const char *missing = arena_printf(&r->arena, "no win-back entry %lld", (long long)m->id);
    if (!req_db_one(r, res, "id", "%s", missing))
        return;
    /* the right to change the customer (PERMISSION_DENIED for one the caller may only read) */
    rpc_customer_load_as(r, db_get_i64(res, 0, 0, 0), ACT_CUSTOMER_WRITE, winback_loaded, NULL, "id", missing);
}

static void winback_act(struct req *r)
{
    const Kehu__V1__WinbackAct *m = r->msg->winback_act;
    if (!m || m->id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "a win-back entry id is required");
        return;
    }
    int plan = m->action && strcmp(m->action, "plan") == 0, close = m->action && strcmp(m->action, "close") == 0;
    if (!plan && !close) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "action", "action is plan or close");
        return;
    }
    if (plan && (!m->plan || !*m->plan)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "plan", "a win-back plan is required");
        return;
    }
    if (close && (!m->reason || !*m->reason)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "a reason is required to close a win-back entry");
        return;
    }
    if (rpc_check_text(r, "plan", m->plan, PLAN_MAX, 1) < 0 ||
        rpc_check_text(r, "reason", m->reason, REASON_MAX, 1) < 0)
        return;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { rpc_num(r, m->id), kind, id };
    db_query(r->srv->db, &winback_find, 3, p, winback_found, r);
}

const struct rpc_entry rpc_winback_act = { KEHU__V1__REQUEST__OP_WINBACK_ACT, "winback_act", ACT_CUSTOMER_WRITE, 0,
                                           winback_act };
