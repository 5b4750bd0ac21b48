/* Follow-ups: visits, calls, e-mails, meetings, WeChat messages and SMS,
 * planned and done.
 *
 * Plan: one planned follow-up, owned by the person who should do it (given,
 * else the customer's active owner, else the caller). Log: a contact that
 * happened; it completes the earliest planned follow-up of that kind, or is
 * recorded on its own, optionally plans the next one for the same owner, and
 * moves the customer's last contact — all in one statement. Due: a person's
 * planned follow-ups up to N days ahead, overdue ones included, and the
 * contacts their grades' service policy asks for, paged together. List: all of
 * a customer's follow-ups.
 *
 * Dates are UTC calendar days, as everywhere in kehud (validate_today). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "log.h"
#include "page.h"
#include "rpc.h"
#include "row_msg.h"
#include "tr.h"
#include "server.h"
#include "validate.h"

#define NOTE_MAX 2000
#define OUTCOME_MAX 500
#define DUE_DAYS_DEFAULT 7
#define DUE_DAYS_MAX 3660

static const char *const kinds[] = { "visit", "call", "email", "meeting", "wechat", "sms" };

/* ---- the record as the protocol shows it */

#define FOLLOWUP_COLUMNS                                                                                        \
    "f.id, f.customer_id, c.name, f.kind, f.status, coalesce(f.due::text, ''),"                                 \
    " coalesce(" SQL_MS("f.done_at") ", 0), coalesce(f.outcome, ''), coalesce(f.note, ''),"                     \
    " coalesce(f.next::text, ''), coalesce(ow.username, ''), " SQL_MS("f.created_at") ", coalesce(cb.username, '')"
/* FROM clause over a relation aliased f (the table or a CTE of changed rows). */
#define FOLLOWUP_JOINS                                                                                          \
    " JOIN customer c ON c.id = f.customer_id LEFT JOIN app_user ow ON ow.id = f.owner_id"                      \
    " LEFT JOIN app_user cb ON cb.id = f.created_by "

static struct row_msg followup_row = ROW_MSG(kehu__v1__followup__descriptor,
    "id,customer_id,customer_name,kind,status,due,done_at_ms,outcome,-,next,owner,"
    "created_at_ms,created_by");

static Kehu__V1__Followup *followup_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__Followup *f = row_msg(r, &followup_row, res, stmt, row, 0);
    audit_note_customer(r, f->customer_id);
    f->note = (char *)tr_note(&r->arena, r->conn->lang, rpc_col(r, res, stmt, row, 8)); /* system notes in the reader's language */
    return f;
}

static void reply_one(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    /* no row: the customer went away between loading and writing */
    int last = req_db_last_one(r, res, "customer_id", "no such customer");
    if (last < 0)
        return;
    Kehu__V1__Followup *f = followup_from_row(r, res, last, 0);
    log_info(r->conn->id, r->id, "follow-up %lld (%s, %s) for customer %lld", (long long)f->id, f->kind, f->status,
             (long long)f->customer_id);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_FOLLOWUP, f);
}

static void reply_list(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__Followups *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__followups__init(list);
    int n = page_end(r, r->state, res, 0, 14, &list->next_cursor, &list->remaining);
    list->followups = arena_alloc(&r->arena, sizeof *list->followups * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        list->followups[list->n_followups++] = followup_from_row(r, res, 0, i);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_FOLLOWUPS, list);
}

/* ---- checks shared by plan and log */

static int check_kind(struct req *r, const char *kind)
{
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 0;
    if (kind && *kind)
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "kind", "kind '%s' is not visit, call, email, meeting, wechat or sms", kind);
    else
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "kind", "the kind is required: visit, call, email, meeting, wechat or sms");
    return -1;
}

static int check_customer_id(struct req *r, int64_t id)
{
    if (id > 0)
        return 0;
    req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
    return -1;
}

/* ---- FollowupPlan */

/* Who should do it: a named user (checked against the customer below) or,
 * by default, the customer's active owner, else the caller ($5 NULL). */
static struct db_stmt plan_insert = DB_STMT(
    "WITH f AS (INSERT INTO followup (branch_id, customer_id, kind, status, due, note, owner_id, created_by,"
    " updated_by) SELECT c.branch_id, c.id, $2, 'planned', $3::date, $4, coalesce($5::bigint,"
    " (SELECT u.id FROM app_user u WHERE u.id = c.owner_id AND u.disabled_at IS NULL), $6::bigint), $6, $6"
    " FROM customer c WHERE c.id = $1 RETURNING *)"
    " SELECT " FOLLOWUP_COLUMNS " FROM f" FOLLOWUP_JOINS);

/* The named user, and the place of the customer's branch for the check. */
struct plan_state {
    struct rpc_customer_ref ref;
};

static void plan_insert_for(struct req *r, int64_t owner_id)
{
    const Kehu__V1__FollowupPlan *m = r->msg->followup_plan;
    struct plan_state *st = r->state;
    const char *p[] = { rpc_num(r, st->ref.id),
                        m->kind,
                        m->due,
                        rpc_opt(m->note),
                        owner_id ? rpc_num(r, owner_id) : NULL,
                        rpc_num(r, req_who(r)->user_id) };
    audit_query(r, &plan_insert, 6, p, reply_one);
}

static void plan_user_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__FollowupPlan *m = r->msg->followup_plan;
    struct plan_state *st = r->state;
    if (rpc_user_visible(r, res, 0, m->user, "user") < 0)
        return; /* missing, or not the caller's to see: the same answer */
    /* the person must be one who may change this customer */
    struct principal them;
    int may = rpc_user_may_act(r, res, 0, "user", m->user, &st->ref, ACT_CUSTOMER_LOG_CONTACT, &them);
    if (may < 0)
        return;
    if (may > 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "user", "'%s' may not work on customer %lld", them.username,
                 (long long)st->ref.id);
        return;
    }
    plan_insert_for(r, them.user_id);
}

static void plan_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__FollowupPlan *m = r->msg->followup_plan;
    struct plan_state *st = arena_alloc(&r->arena, sizeof *st);
    st->ref = *ref;
    r->state = st;
    if (!m->user || !*m->user) {
        plan_insert_for(r, 0);
        return;
    }
    const char *p[] = { m->user };
    db_query(r->srv->db, &rpc_user_by_name, 1, p, plan_user_found, r);
}

static void followup_plan(struct req *r)
{
    const Kehu__V1__FollowupPlan *m = r->msg->followup_plan;
    const char *why;
    if (check_customer_id(r, m ? m->customer_id : 0) < 0 || check_kind(r, m->kind) < 0)
        return;
    if (!m->due || !*m->due || (why = validate_date(m->due))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "due", "due %s",
                 m->due && *m->due ? why : "is required (YYYY-MM-DD)");
        return;
    }
    char today[11];
    validate_today(today);
    if (strcmp(m->due, today) < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "due", "due %s is in the past (today is %s)", m->due, today);
        return;
    }
    if (rpc_check_text(r, "note", m->note, NOTE_MAX, 1) < 0 || rpc_check_text(r, "user", m->user, 64, 0) < 0)
        return;
    rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_LOG_CONTACT, plan_loaded);
}

const struct rpc_entry rpc_followup_plan = { KEHU__V1__REQUEST__OP_FOLLOWUP_PLAN, "followup_plan",
                                             ACT_CUSTOMER_LOG_CONTACT, 0, followup_plan };

/* ---- FollowupLog */

/* One statement: complete the earliest planned follow-up of the kind (p,
 * done) or record a new one (ins); plan the next for the same owner (nx);
 * move the customer's last contact without touching its version (cu).
 * $1 customer, $2 kind, $3 outcome, $4 note, $5 next, $6 caller, $7 at (a
 * day; NULL = now). */
static struct db_stmt log_stmt = DB_STMT(
    "WITH p AS (SELECT f.id FROM followup f WHERE f.customer_id = $1 AND f.kind = $2 AND f.status = 'planned'"
    "  ORDER BY f.due, f.id LIMIT 1 FOR UPDATE),"
    " whn AS (SELECT coalesce($7::date::timestamp AT TIME ZONE 'UTC', now()) AS ts),"
    " done AS (UPDATE followup f SET status = 'done', done_at = whn.ts, outcome = $3, note = coalesce($4, f.note),"
    "  next = $5::date, updated_at = now(), updated_by = $6 FROM p, whn WHERE f.id = p.id RETURNING f.*),"
    " ins AS (INSERT INTO followup (branch_id, customer_id, kind, status, done_at, outcome, note, next, owner_id,"
    "  created_by, updated_by) SELECT c.branch_id, c.id, $2, 'done', whn.ts, $3, $4, $5::date, $6, $6, $6"
    "  FROM customer c, whn WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM p) RETURNING *),"
    " d AS (SELECT * FROM done UNION ALL SELECT * FROM ins),"
    " nx AS (INSERT INTO followup (branch_id, customer_id, kind, status, due, owner_id, created_by, updated_by)"
    "  SELECT d.branch_id, d.customer_id, d.kind, 'planned', $5::date, d.owner_id, $6, $6 FROM d"
    "  WHERE $5::date IS NOT NULL RETURNING id),"
    " cu AS (UPDATE customer c SET last_contact_at = greatest(c.last_contact_at, d.done_at), updated_at = now(),"
    "  updated_by = $6 FROM d WHERE c.id = d.customer_id RETURNING c.id)"
    " SELECT " FOLLOWUP_COLUMNS " FROM d f" FOLLOWUP_JOINS);

static void log_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__FollowupLog *m = r->msg->followup_log;
    char today[11];
    validate_today(today);
    /* a day in the past is that day; today is now */
    const char *at = m->at && *m->at && strcmp(m->at, today) != 0 ? m->at : NULL;
    const char *p[] = { rpc_num(r, ref->id), m->kind, rpc_opt(m->outcome), rpc_opt(m->note), rpc_opt(m->next),
                        rpc_num(r, req_who(r)->user_id), at };
    audit_query(r, &log_stmt, 7, p, reply_one);
}

static void followup_log(struct req *r)
{
    const Kehu__V1__FollowupLog *m = r->msg->followup_log;
    const char *why;
    if (check_customer_id(r, m ? m->customer_id : 0) < 0 || check_kind(r, m->kind) < 0)
        return;
    char today[11];
    validate_today(today);
    const char *at = m->at && *m->at ? m->at : today;
    if ((why = validate_date(at))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "at", "at %s", why);
        return;
    }
    if (strcmp(at, today) > 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "at", "at %s is in the future (today is %s)", at, today);
        return;
    }
    if (m->next && *m->next) {
        if ((why = validate_date(m->next))) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "next", "next %s", why);
            return;
        }
        if (strcmp(m->next, at) <= 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "next", "next %s must be after %s", m->next, at);
            return;
        }
    }
    if (rpc_check_text(r, "outcome", m->outcome, OUTCOME_MAX, 1) < 0 ||
        rpc_check_text(r, "note", m->note, NOTE_MAX, 1) < 0)
        return;
    rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_LOG_CONTACT, log_loaded);
}

const struct rpc_entry rpc_followup_log = { KEHU__V1__REQUEST__OP_FOLLOWUP_LOG, "followup_log",
                                            ACT_CUSTOMER_LOG_CONTACT, 0, followup_log };

/* ---- FollowupDue */

/* What is due for a person by $2 + $3 days (so overdue ones too), on
 * customers the caller may read (scope $4, $5), in one order so that pages
 * neither skip nor starve either kind: the planned follow-ups (src 0) and the
 * contacts the service policy asks of them (service_contacts, src 1),
 * plus, for a manager asking about themselves ($6), the A customers in their
 * scope that lack the dedicated owner their grade needs (a flag, first). By
 * day, grade, customer, then the row. Columns: FOLLOWUP_COLUMNS (a policy
 * row: id 0, status 'policy'), src, grade, last, overdue days, the count,
 * then the keys. $7..$10 the cursor, $11 the page plus one. */
#define DUE_SCOPE                                                                                      \
    " AND c.merged_into IS NULL AND c.status NOT IN ('archived', 'churned') AND" RPC_SCOPE_SQL(4, 5)
#define DUE_COL_SRC 13  /* then grade, last, overdue days, the three keys, the count */
#define DUE_COL_KEYS 21 /* the keys as text */
static struct db_stmt due_stmt = DB_STMT(
    "WITH x AS ("
    " SELECT " FOLLOWUP_COLUMNS ", 0 AS src, coalesce(grade_of(c.id, 'abc'), 'C') AS grade, '' AS last,"
    "  greatest($2::date - f.due, 0) AS overdue, f.due AS k_due, f.customer_id AS k_cust,"
    "  'f' || lpad(f.id::text, 19, '0') AS k_row"
    "  FROM followup f" FOLLOWUP_JOINS
    "  WHERE f.owner_id = $1 AND f.status = 'planned' AND f.due <= $2::date + $3::int"
    "  AND c.merged_into IS NULL AND c.status <> 'archived' AND" RPC_SCOPE_SQL(4, 5)
    " UNION ALL"
    " SELECT 0, c.id, c.name, d.kind, 'policy', d.due::text, 0, '', '', '', coalesce(u.username, ''), 0, d.by,"
    "  1, d.level, coalesce(d.last::text, ''), greatest($2::date - d.due, 0),"
    "  d.due, c.id, 'p' || d.kind"
    /* the contacts that fall to the person: as owner, or by the role the service policy names (sql/0024),
     * in one pass over the customers they own or may serve so */
    "  FROM service_contacts(ARRAY(SELECT o.id FROM customer o WHERE o.owner_id = $1"
    "   UNION SELECT service_contact_customers($1))) d"
    "  JOIN customer c ON c.id = d.customer_id LEFT JOIN app_user u ON u.id = c.owner_id"
    "  WHERE $1 = ANY (d.people) AND d.due <= $2::date + $3::int" DUE_SCOPE
    " UNION ALL"
    " SELECT 0, c.id, c.name, 'owner', 'policy', '', 0, '', '', '', '', 0, 'branch_manager', 1, 'A', '', 0,"
    "  '-infinity'::date,"
    "  c.id, 'powner'"
    "  FROM customer_grade g JOIN customer c ON c.id = g.customer_id"
    "  WHERE $6 AND c.owner_id IS NULL AND (SELECT s.dedicated FROM grade_service('A') s)"
    "  AND (g.abc = 'A' OR g.customer_id IN (SELECT o.customer_id FROM grade_override o WHERE o.dimension = 'abc'"
    "   AND o.grade = 'A' AND o.status = 'active')) AND grade_of(c.id, 'abc') = 'A'" DUE_SCOPE ")"
    " SELECT x.*, count(*) OVER (), x.k_due::text, x.grade, x.k_cust::text, x.k_row FROM x"
    " WHERE $7::date IS NULL OR (x.k_due, x.grade, x.k_cust, x.k_row) > ($7::date, $8::text, $9::bigint, $10::text)"
    " ORDER BY x.k_due, x.grade, x.k_cust, x.k_row LIMIT $11");
#define DUE_LIMIT_DEFAULT 200
#define DUE_LIMIT_MAX 1000

static void due_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct page *pg = r->state;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__Followups *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__followups__init(list);
    int n = page_end(r, pg, res, 0, DUE_COL_KEYS, &list->next_cursor, &list->remaining);
    list->followups = arena_alloc(&r->arena, sizeof *list->followups * (size_t)(n ? n : 1));
    list->contacts_due = arena_alloc(&r->arena, sizeof *list->contacts_due * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        if (db_get_i64(res, 0, i, DUE_COL_SRC) == 0) {
            list->followups[list->n_followups++] = followup_from_row(r, res, 0, i);
            continue;
        }
        Kehu__V1__ContactDue *d = arena_alloc(&r->arena, sizeof *d);
        kehu__v1__contact_due__init(d);
        d->customer_id = db_get_i64(res, 0, i, 1);
        audit_note_customer(r, d->customer_id);
        d->customer_name = rpc_col(r, res, 0, i, 2);
        d->kind = rpc_col(r, res, 0, i, 3);
        d->due = rpc_col(r, res, 0, i, 5);
        d->owner = rpc_col(r, res, 0, i, 10);
        d->grade = rpc_col(r, res, 0, i, DUE_COL_SRC + 1);
        d->last = rpc_col(r, res, 0, i, DUE_COL_SRC + 2);
        d->overdue_days = (int32_t)db_get_i64(res, 0, i, DUE_COL_SRC + 3);
        d->by = rpc_col(r, res, 0, i, 12);
        list->contacts_due[list->n_contacts_due++] = d;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_FOLLOWUPS, list);
}

static void due_query(struct req *r, int64_t user_id)
{
    const Kehu__V1__FollowupDue *m = r->msg->followup_due;
    struct page *pg = r->state;
    const char *kind, *scope_id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &scope_id);
    char today[11];
    validate_today(today);
    const struct principal *who = req_who(r);
    int flags = user_id == who->user_id &&
                (who->role == KEHU__V1__ROLE__ADMIN || who->role == KEHU__V1__ROLE__BRANCH_MANAGER);
    const char *p[] = { rpc_num(r, user_id),
                        arena_strdup(&r->arena, today),
                        arena_printf(&r->arena, "%u", m && m->days ? m->days : DUE_DAYS_DEFAULT),
                        kind,
                        scope_id,
                        flags ? "true" : "false",
                        pg->key[0],
                        pg->key[1],
                        pg->key[2],
                        pg->key[3],
                        pg->fetch };
    db_query(r->srv->db, &due_stmt, 11, p, due_done, r);
}

static void due_user_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__FollowupDue *m = r->msg->followup_due;
    if (!req_db_ok(r, res))
        return;
    int64_t user_id;
    if (rpc_other_user_check(r, res, 0, m->user, "what is due for", &user_id) < 0)
        return;
    due_query(r, user_id);
}

static void followup_due(struct req *r)
{
    const Kehu__V1__FollowupDue *m = r->msg->followup_due;
    const struct principal *who = req_who(r);
    if (m && m->days > DUE_DAYS_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "days", "days is at most %d", DUE_DAYS_MAX);
        return;
    }
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "followup_due", "dtit", m ? m->limit : 0, m ? m->after : NULL, DUE_LIMIT_DEFAULT,
                   DUE_LIMIT_MAX) < 0)
        return;
    r->state = pg;
    if (!m || !m->user || !*m->user || strcasecmp(m->user, who->username) == 0) {
        due_query(r, who->user_id);
        return;
    }
    if (rpc_other_user_ask(r, m->user, "what is due for yourself") < 0)
        return;
    const char *p[] = { m->user };
    db_query(r->srv->db, &rpc_user_by_name, 1, p, due_user_found, r);
}

const struct rpc_entry rpc_followup_due = { KEHU__V1__REQUEST__OP_FOLLOWUP_DUE, "followup_due", ACT_CUSTOMER_READ, 0,
                                            followup_due };

/* ---- FollowupList */

/* Newest first: by the day it was done or is due (in microseconds, the key
 * with the id), a page: $2 $3 the cursor, $4 the page plus one; after
 * FOLLOWUP_COLUMNS (13) the count after the cursor and the keys. */
#define LIST_WHEN "(extract(epoch FROM coalesce(f.done_at, f.due::timestamp AT TIME ZONE 'UTC')) * 1000000)::bigint"
static struct db_stmt list_stmt = DB_STMT(
    "SELECT " FOLLOWUP_COLUMNS ", count(*) OVER (), " LIST_WHEN "::text, f.id::text FROM followup f" FOLLOWUP_JOINS
    "WHERE f.customer_id = $1 AND ($2::bigint IS NULL OR (" LIST_WHEN ", f.id) < ($2::bigint, $3::bigint))"
    " ORDER BY " LIST_WHEN " DESC, f.id DESC LIMIT $4");

static void list_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    struct page *pg = ref->ctx;
    r->state = pg;
    const char *p[] = { rpc_num(r, ref->id), pg->key[0], pg->key[1], pg->fetch };
    db_query(r->srv->db, &list_stmt, 4, p, reply_list, r);
}

static void followup_list(struct req *r)
{
    const Kehu__V1__FollowupList *m = r->msg->followup_list;
    if (check_customer_id(r, m ? m->customer_id : 0) < 0)
        return;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "followup_list", "ii", m->limit, m->after, 200, 1000) < 0)
        return;
    rpc_customer_load_ctx(r, m->customer_id, ACT_CUSTOMER_READ, list_loaded, pg, "customer_id");
}

const struct rpc_entry rpc_followup_list = { KEHU__V1__REQUEST__OP_FOLLOWUP_LIST, "followup_list", ACT_CUSTOMER_READ,
                                             0, followup_list };
