/* Churn warnings and care tasks (docs/grading.md, sql/0006_grading.sql).
 *
 * Grading runs raise churn warnings (one open per customer at most) and
 * close them as recovered. Here people read them (ChurnList), answer them
 * with a win-back plan (ChurnAck), or give the customer up (ChurnLost:
 * the warning closes as lost, with the reason, and the customer becomes
 * churned, in one transaction). CareToday lists the birthdays and festivals
 * on which a person's customers get a gift or a greeting, by the service
 * policy of their ABC grade.
 *
 * Lists cover only the customers in the caller's scope (RPC_SCOPE_SQL);
 * a change loads its customer through rpc_customer_load (write). Dates are
 * UTC days, as everywhere in kehud (validate_today). */
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

#define PLAN_MAX 2000
#define NOTE_MAX 2000
#define USERNAME_MAX 64
#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define CARE_DAYS_MAX 366
#define CARE_DEFAULT 500
#define CARE_MAX 5000 /* tasks in one reply: keeps it well under a frame */

static const char *const lost_reasons[] = { "dropped", "needs_unmet", "competitor_offer", "lower_price",
                                            "circumstances" };

/* ---- the warning as the protocol shows it */

static struct row_msg rpc_churn_warning_row = ROW_MSG(kehu__v1__churn_warning__descriptor,
    "id,customer_id,customer_name,owner,raised_on,reasons,status,plan,acked_by,acked_at_ms,"
    "lost_reason,grade");

Kehu__V1__ChurnWarning *rpc_churn_warning_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__ChurnWarning *w = row_msg(r, &rpc_churn_warning_row, res, stmt, row, 0);
    audit_note_customer(r, w->customer_id);
    return w;
}

static void reply_warning(struct req *r, const struct db_result *res, int stmt)
{
    Kehu__V1__ChurnWarning *w = rpc_churn_warning_from_row(r, res, stmt, 0);
    log_info(r->conn->id, r->id, "churn warning %lld for customer %lld %s", (long long)w->id,
             (long long)w->customer_id, w->status);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CHURN_WARNING, w);
}

/* ---- ChurnList */

/* The named owner (statement 0, rpc_user_by_name: one the caller may not
 * see answers as an unknown name)
 * and the warnings (statement 1): $1 $2 the caller's scope, $3 the owner's
 * username or NULL, $4 the statuses, $5 the page plus one, $6..$8 the
 * cursor. Ranked by value at risk (what the grading run put on the warning:
 * revenue fallen away and assets at risk), then the newest raised: columns
 * CHURN_WARNING_COLUMNS, the value in fen, the count of warnings after the
 * cursor, the keys. Tombstones of merged customers are left out. */
#define CHURN_WARNING_NCOLS 12
#define LIST_COL_VALUE CHURN_WARNING_NCOLS
#define LIST_COL_KEYS (CHURN_WARNING_NCOLS + 2)
static struct db_stmt list_stmt = DB_STMT(
    "SELECT " CHURN_WARNING_COLUMNS ", (w.value_at_risk * 100)::bigint, count(*) OVER (), w.value_at_risk::text,"
    " w.raised_on::text, w.id::text FROM churn_warning w" CHURN_WARNING_JOINS
    "WHERE" RPC_SCOPE_SQL(1, 2) "AND c.merged_into IS NULL"
    " AND ($3::text IS NULL OR c.owner_id = (SELECT u.id FROM app_user u WHERE u.username = lower($3)))"
    " AND w.status = ANY ($4::text[])"
    " AND ($6::numeric IS NULL OR (w.value_at_risk, w.raised_on, w.id) < ($6::numeric, $7::date, $8::bigint))"
    " ORDER BY w.value_at_risk DESC, w.raised_on DESC, w.id DESC LIMIT $5");

static void listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__ChurnList *m = r->msg->churn_list;
    if (!req_db_ok(r, res))
        return;
    int stmt = res->nres - 1;
    if (stmt > 0 && rpc_user_visible(r, res, 0, m->user, "user") < 0)
        return;
    Kehu__V1__ChurnWarnings *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__churn_warnings__init(list);
    int n = page_end(r, r->state, res, stmt, LIST_COL_KEYS, &list->next_cursor, &list->remaining);
    list->warnings = arena_alloc(&r->arena, sizeof *list->warnings * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__ChurnWarning *w = rpc_churn_warning_from_row(r, res, stmt, i);
        w->value_at_risk = db_get_i64(res, stmt, i, LIST_COL_VALUE);
        list->warnings[list->n_warnings++] = w;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CHURN_WARNINGS, list);
}

static void churn_list(struct req *r)
{
    const Kehu__V1__ChurnList *m = r->msg->churn_list;
    const char *status = m && m->status ? m->status : "", *statuses;
    if (!*status)
        statuses = "{open,acknowledged}";
    else if (strcmp(status, "all") == 0)
        statuses = "{open,acknowledged,recovered,lost,closed}";
    else if (strcmp(status, "open") == 0 || strcmp(status, "acknowledged") == 0 || strcmp(status, "recovered") == 0 ||
             strcmp(status, "lost") == 0 || strcmp(status, "closed") == 0)
        statuses = arena_printf(&r->arena, "{%s}", status);
    else {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "status",
                 "status is open, acknowledged, recovered, lost, closed or all (default: open and acknowledged)");
        return;
    }
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "churn_list", "ndi", m ? m->limit : 0, m ? m->after : NULL, LIST_DEFAULT, LIST_MAX) < 0)
        return;
    r->state = pg;
    const char *user = m && m->user && *m->user ? m->user : NULL;
    if (user && rpc_check_text(r, "user", user, USERNAME_MAX, 0) < 0)
        return;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { kind, id, user, statuses, pg->fetch, pg->key[0], pg->key[1], pg->key[2] };
    struct db_call *call = db_call_new(r->srv->db, listed, r);
    if (user)
        db_call_add(call, &rpc_user_by_name, 1, &user);
    db_call_add(call, &list_stmt, 8, p);
    db_call_send(call);
}

const struct rpc_entry rpc_churn_list = { KEHU__V1__REQUEST__OP_CHURN_LIST, "churn_list", ACT_CUSTOMER_READ, 0,
                                          churn_list };

/* ---- ChurnAck */

/* The warning's customer, if the caller may read it ($2 $3): a warning out
 * of sight is as unknown as its customer. */
static struct db_stmt ack_find = DB_STMT(
    "SELECT w.customer_id FROM churn_warning w JOIN customer c ON c.id = w.customer_id"
    " WHERE w.id = $1 AND" RPC_SCOPE_SQL(2, 3));
/* Statement 1 tells why nothing was acknowledged: the warning's status now. */
static struct db_stmt ack_update = DB_STMT(
    "WITH w AS (UPDATE churn_warning w SET status = 'acknowledged', plan = $2, acked_by = $3, acked_at = now()"
    "  WHERE w.id = $1 AND w.status IN ('open', 'acknowledged') RETURNING w.*)"
    " SELECT " CHURN_WARNING_COLUMNS " FROM w" CHURN_WARNING_JOINS);
static struct db_stmt ack_status = DB_STMT("SELECT w.status FROM churn_warning w WHERE w.id = $1");

static void acked(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__ChurnAck *m = r->msg->churn_ack;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) {
        if (db_rows(res, 1) == 1)
            req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, "warning_id",
                     "churn warning %lld is %s: only an open one is acknowledged (or given a new plan)", (long long)m->warning_id,
                     db_get(res, 1, 0, 0));
        else
            req_fail(r, KEHU__V1__CODE__NOT_FOUND, "warning_id", "no churn warning %lld", (long long)m->warning_id);
        return;
    }
    reply_warning(r, res, 0);
}

static void ack_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__ChurnAck *m = r->msg->churn_ack;
    const char *p[] = { rpc_num(r, m->warning_id), m->plan, rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, acked, r);
    db_call_add(call, &ack_update, 3, p);
    db_call_add(call, &ack_status, 1, p);
    audit_call_send(r, call);
}

static void ack_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__ChurnAck *m = r->msg->churn_ack;
    if (!req_db_one(r, res, "warning_id", "no churn warning %lld", (long long)m->warning_id))
        return;
    /* the loader checks the right to change it (PERMISSION_DENIED for one the caller may only read) */
    rpc_customer_load_as(r, db_get_i64(res, 0, 0, 0), ACT_CUSTOMER_WRITE, ack_loaded, NULL, "warning_id",
                         arena_printf(&r->arena, "no churn warning %lld", (long long)m->warning_id));
}

static void churn_ack(struct req *r)
{
    const Kehu__V1__ChurnAck *m = r->msg->churn_ack;
    if (!m || m->warning_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "warning_id", "a churn warning id is required");
        return;
    }
    if (!m->plan || !*m->plan) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "plan", "a win-back plan is required");
        return;
    }
    if (rpc_check_text(r, "plan", m->plan, PLAN_MAX, 1) < 0)
        return;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { rpc_num(r, m->warning_id), kind, id };
    db_query(r->srv->db, &ack_find, 3, p, ack_found, r);
}

const struct rpc_entry rpc_churn_ack = { KEHU__V1__REQUEST__OP_CHURN_ACK, "churn_ack", ACT_CUSTOMER_WRITE, 0,
                                         churn_ack };

/* ---- ChurnLost */

/* One call, one transaction. The customer first: its row lock makes two
 * calls for the same customer take turns; the trigger logs and announces
 * the status change. Then the open warning closes as lost, or, when none is
 * open, a closed one records the loss. $1 customer, $2 reason, $3 note,
 * $4 caller. */
static struct db_stmt lost_customer = DB_STMT(
    "UPDATE customer SET status = 'churned', version = version + 1, updated_at = now(), updated_by = $2"
    " WHERE id = $1 AND status <> 'churned'");
static struct db_stmt lost_warning = DB_STMT(
    "WITH closed AS (UPDATE churn_warning w SET status = 'lost', lost_reason = $2, note = $3, closed_on = current_date"
    "  WHERE w.customer_id = $1 AND w.status IN ('open', 'acknowledged') RETURNING w.*),"
    " added AS (INSERT INTO churn_warning (customer_id, branch_id, raised_on, reasons, status, lost_reason, note,"
    "  closed_on) SELECT c.id, c.branch_id, current_date, '{}', 'lost', $2, $3, current_date FROM customer c"
    "  WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM closed) RETURNING *),"
    /* the call the warning planned has no point any more */
    " cancelled AS (UPDATE followup f SET status = 'cancelled', updated_at = now(), updated_by = $4"
    "  FROM closed WHERE f.id = closed.followup_id AND f.status = 'planned' RETURNING f.id),"
    " w AS (SELECT * FROM closed UNION ALL SELECT * FROM added)"
    " SELECT " CHURN_WARNING_COLUMNS " FROM w" CHURN_WARNING_JOINS " CROSS JOIN (SELECT count(*) FROM cancelled) x");

static void lost_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 1) != 1) { /* the customer went away between loading and writing */
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "customer_id", "no such customer");
        return;
    }
    reply_warning(r, res, 1);
}

static void lost_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__ChurnLost *m = r->msg->churn_lost;
    if (strcmp(ref->status, "archived") == 0) { /* churning it would bring it back from the archive */
        req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, "customer_id", "customer %lld is archived", (long long)ref->id);
        return;
    }
    const char *cust = rpc_num(r, ref->id), *actor = rpc_num(r, req_who(r)->user_id);
    const char *pc[] = { cust, actor };
    const char *pw[] = { cust, m->reason, m->note && *m->note ? m->note : NULL, rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, lost_done, r);
    db_call_add(call, &lost_customer, 2, pc);
    db_call_add(call, &lost_warning, 4, pw);
    audit_call_send(r, call);
}

static void churn_lost(struct req *r)
{
    const Kehu__V1__ChurnLost *m = r->msg->churn_lost;
    if (!m || m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    int known = 0;
    for (size_t i = 0; m->reason && i < sizeof lost_reasons / sizeof lost_reasons[0]; i++)
        known |= strcmp(m->reason, lost_reasons[i]) == 0;
    if (!known) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason",
                 "reason is dropped, needs_unmet, competitor_offer, lower_price or circumstances");
        return;
    }
    if (rpc_check_text(r, "note", m->note, NOTE_MAX, 1) < 0)
        return;
    rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_WRITE, lost_loaded);
}

const struct rpc_entry rpc_churn_lost = { KEHU__V1__REQUEST__OP_CHURN_LOST, "churn_lost", ACT_CUSTOMER_WRITE, 0,
                                          churn_lost };

/* ---- CareToday */

/* The person asked about (rpc_user_by_name, statement 0 when it is not
 * the caller, for the check) and a page of the tasks (statement 1): live
 * customers they own, in the caller's scope ($5 $6), whose service level
 * (the higher of the ABC grade, C when ungraded, and the asset tier's
 * level; grade_of written as joins, for owners of many customers) gets care, with a birthday or a festival in [$2, $2 + $3].
 * A birthday falls on its day in each year of the range (adding whole
 * years to 29 Feb gives 28 Feb in other years). $1 the owner's username,
 * $4 the page plus one, $7..$10 the cursor (date, occasion, sort key, id);
 * after the task's columns the count of tasks after the cursor and the keys. */
static struct db_stmt care_stmt = DB_STMT(
    "WITH p AS (SELECT v.grade, grade_policy_text('service.' || v.grade || '.care') AS action"
    "  FROM unnest(grade_values('abc')) v(grade)),"
    " x AS (SELECT c.id, c.name, c.sort_key, c.birth, u.username, p.grade, p.action"
    "  FROM customer c JOIN app_user u ON u.id = c.owner_id LEFT JOIN customer_grade g ON g.customer_id = c.id"
    "  LEFT JOIN (SELECT DISTINCT ON (o.customer_id) o.customer_id, o.grade FROM grade_override o"
    "   WHERE o.dimension = 'abc' AND o.status = 'active' AND (o.until IS NULL OR o.until >= current_date)"
    "   ORDER BY o.customer_id, o.id DESC) o ON o.customer_id = c.id"
    "  LEFT JOIN (SELECT DISTINCT ON (o.customer_id) o.customer_id, o.grade FROM grade_override o"
    "   WHERE o.dimension = 'asset_tier' AND o.status = 'active' AND (o.until IS NULL OR o.until >= current_date)"
    "   ORDER BY o.customer_id, o.id DESC) oa ON oa.customer_id = c.id"
    /* the service level: the higher of the ABC grade and the asset tier's (sql/0024) */
    "  JOIN p ON p.grade = grade_service_level(coalesce(o.grade, g.abc, 'C'), coalesce(oa.grade, g.asset_tier))"
    "  WHERE u.username = lower($1) AND c.status NOT IN ('archived', 'churned') AND c.merged_into IS NULL AND" RPC_SCOPE_SQL(5, 6)
    "  AND p.action <> 'none'),"
    " t AS (SELECT x.*, b.on AS date, 'birthday' AS occasion FROM x"
    "   CROSS JOIN generate_series(extract(year FROM $2::date)::int, extract(year FROM $2::date + $3::int)::int) y"
    "   CROSS JOIN LATERAL (SELECT (x.birth + make_interval(years => y - extract(year FROM x.birth)::int))::date AS on) b"
    "  WHERE x.birth IS NOT NULL AND b.on >= x.birth AND b.on BETWEEN $2::date AND $2::date + $3::int"
    "  UNION ALL SELECT x.*, f.date, f.occasion FROM x"
    "   JOIN festival f ON f.date BETWEEN $2::date AND $2::date + $3::int)"
    " SELECT t.id, t.name, t.grade, t.occasion, t.date::text, t.action, t.username, count(*) OVER (),"
    "  t.date::text, t.occasion, t.sort_key, t.id::text FROM t"
    " WHERE $7::date IS NULL OR (t.date, t.occasion, t.sort_key, t.id) > ($7::date, $8::text, $9::text, $10::bigint)"
    " ORDER BY t.date, t.occasion, t.sort_key, t.id LIMIT $4");

static struct row_msg care_task_row = ROW_MSG(kehu__v1__care_task__descriptor,
    "customer_id,customer_name,grade,occasion,date,action,owner");

static void cared(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__CareToday *m = r->msg->care_today;
    if (!req_db_ok(r, res))
        return;
    int stmt = res->nres - 1;
    /* someone else's: they must exist and be someone the caller may see */
    if (stmt > 0 && rpc_other_user_check(r, res, 0, m->user, "the care tasks of", NULL) < 0)
        return;
    Kehu__V1__CareTasks *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__care_tasks__init(list);
    int n = page_end(r, r->state, res, stmt, 8, &list->next_cursor, &list->remaining);
    list->tasks = arena_alloc(&r->arena, sizeof *list->tasks * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__CareTask *t = row_msg(r, &care_task_row, res, stmt, i, 0);
        audit_note_customer(r, t->customer_id);
        list->tasks[list->n_tasks++] = t;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CARE_TASKS, list);
}

static void care_today(struct req *r)
{
    const Kehu__V1__CareToday *m = r->msg->care_today;
    const struct principal *who = req_who(r);
    if (m && m->days > CARE_DAYS_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "days", "days is at most %d", CARE_DAYS_MAX);
        return;
    }
    char today[11];
    validate_today(today);
    const char *date = m && m->date && *m->date ? m->date : today, *why;
    if ((why = validate_date(date))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "date", "date %s", why);
        return;
    }
    const char *user = who->username;
    int other = m && m->user && *m->user && strcasecmp(m->user, who->username) != 0;
    if (other) {
        if (rpc_other_user_ask(r, m->user, "your own care tasks") < 0)
            return;
        user = m->user;
    }
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "care_today", "dtti", m ? m->limit : 0, m ? m->after : NULL, CARE_DEFAULT, CARE_MAX) < 0)
        return;
    r->state = pg;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { user,     arena_strdup(&r->arena, date), arena_printf(&r->arena, "%u", m ? m->days : 0),
                        pg->fetch, kind, id, pg->key[0], pg->key[1], pg->key[2], pg->key[3] };
    /* the check of the person and the tasks go together; the tasks are dropped if the check fails */
    struct db_call *call = db_call_new(r->srv->db, cared, r);
    if (other)
        db_call_add(call, &rpc_user_by_name, 1, p);
    db_call_add(call, &care_stmt, 10, p);
    db_call_send(call);
}

const struct rpc_entry rpc_care_today = { KEHU__V1__REQUEST__OP_CARE_TODAY, "care_today", ACT_CUSTOMER_READ, 0,
                                          care_today };
