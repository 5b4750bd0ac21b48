/* Cases: complaints and requests with working-time targets (docs/cases.md).
 *
 * A case lives in its customer's archive: whoever may read the customer
 * may open, see and work its cases (the matrix's 'read' governs every case
 * request), and a case of a customer one may not read does not exist for
 * them — the answer is the one for a missing id. Transitions, targets and
 * escalation are SQL (sql/0020_cases.sql: case_open, case_do,
 * case_due_fire); the handlers validate, authorize, run one statement with
 * its audit record and reply.
 *
 * The scheduler: one timer per kehud runs case_due_fire, which claims the
 * due actions no other kehud holds (FOR UPDATE SKIP LOCKED), performs and
 * marks them in its transaction and says when the next one is due; the
 * timer sleeps until then (at most SCHED_MAX_SLEEP_MS), and a "due.wake"
 * announcement of an earlier deadline wakes it sooner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "page.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"
#include "validate.h"

#define TITLE_MAX 200
#define NOTE_MAX 2000
#define LIST_DEFAULT 50
#define LIST_MAX 500
#define SCHED_BATCH 500
#define SCHED_MAX_SLEEP_MS 1000

/* ---- the record */

#define CASE_COLUMNS                                                                                             \
    "s.id, s.customer_id, c.name, b.name, s.nature, s.kind, s.severity, s.channel, s.title, coalesce(s.note, ''),"   \
    " s.status, coalesce(h.username, ''), s.level, s.grade, s.priority, " SQL_MS("s.respond_by") ", " SQL_MS(       \
        "s.resolve_by") ", coalesce(" SQL_MS("s.responded_at") ", 0), coalesce(" SQL_MS(                            \
        "s.resolved_at") ", 0), coalesce(" SQL_MS("s.closed_at") ", 0), trim_scale(round(s.paused_hours, 4))::text," \
    " coalesce(s.cause, ''), coalesce(s.action_taken, ''), coalesce((s.compensation * 100)::bigint, 0),"            \
    " coalesce(s.compensation_kind, ''), coalesce((s.approved_amount * 100)::bigint, 0), coalesce(ap.username, ''),"  \
    " coalesce(s.satisfaction, 0), coalesce(ob.username, ''), " SQL_MS("s.created_at") ", s.version,"                \
    " trim_scale(round(s.respond_hours, 4))::text, trim_scale(round(s.resolve_hours, 4))::text, s.branch_id,"      \
    " coalesce(s.product, ''), coalesce(qu.name, '')"
#define CASE_NCOLS 36
/* FROM clause over a relation aliased s (the table or a function's row). */
#define CASE_JOINS                                                                                                 \
    " JOIN customer c ON c.id = s.customer_id JOIN org_unit b ON b.id = s.branch_id"                              \
    " LEFT JOIN app_user h ON h.id = s.handler_id LEFT JOIN app_user ap ON ap.id = s.approved_by"                \
    " LEFT JOIN app_user ob ON ob.id = s.opened_by LEFT JOIN org_unit qu ON qu.id = s.queue_id "

static Kehu__V1__Case *case_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__Case *k = arena_alloc(&r->arena, sizeof *k);
    kehu__v1__case__init(k);
    int i = 0;
    k->id = db_get_i64(res, stmt, row, i++);
    k->customer_id = db_get_i64(res, stmt, row, i++);
    audit_note_customer(r, k->customer_id);
    k->customer_name = rpc_col(r, res, stmt, row, i++);
    k->branch = rpc_col(r, res, stmt, row, i++);
    k->nature = rpc_col(r, res, stmt, row, i++);
    k->kind = rpc_col(r, res, stmt, row, i++);
    k->severity = (int32_t)db_get_i64(res, stmt, row, i++);
    k->channel = rpc_col(r, res, stmt, row, i++);
    k->title = rpc_col(r, res, stmt, row, i++);
    k->note = rpc_col(r, res, stmt, row, i++);
    k->status = rpc_col(r, res, stmt, row, i++);
    k->handler = rpc_col(r, res, stmt, row, i++);
    k->level = (int32_t)db_get_i64(res, stmt, row, i++);
    k->grade = rpc_col(r, res, stmt, row, i++);
    k->priority = (int32_t)db_get_i64(res, stmt, row, i++);
    k->respond_by = db_get_i64(res, stmt, row, i++);
    k->resolve_by = db_get_i64(res, stmt, row, i++);
    k->responded_at = db_get_i64(res, stmt, row, i++);
    k->resolved_at = db_get_i64(res, stmt, row, i++);
    k->closed_at = db_get_i64(res, stmt, row, i++);
    k->paused_hours = rpc_col(r, res, stmt, row, i++);
    k->cause = rpc_col(r, res, stmt, row, i++);
    k->action = rpc_col(r, res, stmt, row, i++);
    k->compensation_minor = db_get_i64(res, stmt, row, i++);
    k->compensation_kind = rpc_col(r, res, stmt, row, i++);
    k->approved_minor = db_get_i64(res, stmt, row, i++);
    k->approved_by = rpc_col(r, res, stmt, row, i++);
    k->satisfaction = (int32_t)db_get_i64(res, stmt, row, i++);
    k->opened_by = rpc_col(r, res, stmt, row, i++);
    k->created_at = db_get_i64(res, stmt, row, i++);
    k->version = db_get_i64(res, stmt, row, i++);
    k->respond_hours = rpc_col(r, res, stmt, row, i++);
    k->resolve_hours = rpc_col(r, res, stmt, row, i++);
    k->branch_id = db_get_i64(res, stmt, row, i++);
    k->product = rpc_col(r, res, stmt, row, i++);
    k->queue = rpc_col(r, res, stmt, row, i++);
    return k;
}

static void reply_case(struct req *r, Kehu__V1__Case *k)
{
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CASE, k);
}

/* The last statement's one row is the case. */
static void reply_one(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    int last = req_db_last_one(r, res, "id", "no such case");
    if (last < 0)
        return;
    Kehu__V1__Case *k = case_from_row(r, res, last, 0);
    audit_note_detail(r, "case %lld %s", (long long)k->id, k->status);
    reply_case(r, k);
}

/* ---- CaseOpen */

static struct db_stmt open_stmt =
    DB_STMT("SELECT " CASE_COLUMNS " FROM case_open($1, $2, $3, $4, $5, $6, $7, $8, $9) s" CASE_JOINS);

static void open_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CaseOpen *m = r->msg->case_open;
    const char *p[] = { rpc_num(r, req_who(r)->user_id), rpc_num(r, ref->id), m->nature, m->kind,
                        rpc_num(r, m->severity), m->channel, m->title, rpc_opt(m->note), rpc_opt(m->product) };
    audit_query(r, &open_stmt, 9, p, reply_one);
}

static void case_open(struct req *r)
{
    const Kehu__V1__CaseOpen *m = r->msg->case_open;
    if (!m || m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    if (m->severity < 1 || m->severity > 4) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "severity", "severity must be 1 to 4");
        return;
    }
    if (!m->title || !*m->title) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "title", "a title is required");
        return;
    }
    if (rpc_check_text(r, "title", m->title, TITLE_MAX, 0) < 0 ||
        rpc_check_text(r, "note", m->note, NOTE_MAX, 1) < 0 || rpc_check_text(r, "nature", m->nature, 20, 0) < 0 ||
        rpc_check_text(r, "kind", m->kind, 20, 0) < 0 || rpc_check_text(r, "channel", m->channel, 20, 0) < 0 ||
        rpc_check_text(r, "product", m->product, 100, 0) < 0)
        return;
    rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_READ, open_loaded);
}

const struct rpc_entry rpc_case_open = { KEHU__V1__REQUEST__OP_CASE_OPEN, "case_open", ACT_CUSTOMER_READ, 0,
                                         case_open };

/* ---- a case by id: found, and its customer readable, else "no case N" */

struct by_id {
    int64_t id;
    void (*then)(struct req *r, const struct rpc_customer_ref *ref);
};

static struct db_stmt case_customer = DB_STMT("SELECT customer_id FROM service_case WHERE id = $1");

static void case_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct by_id *b = r->state;
    const char *missing = arena_printf(&r->arena, "no case %lld", (long long)b->id);
    if (!req_db_one(r, res, "id", "%s", missing))
        return;
    rpc_customer_load_as(r, db_get_i64(res, 0, 0, 0), ACT_CUSTOMER_READ, b->then, b, "id", missing);
}

static void case_load(struct req *r, int64_t id, void (*then)(struct req *r, const struct rpc_customer_ref *ref))
{
    if (id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "a case id is required");
        return;
    }
    struct by_id *b = arena_alloc(&r->arena, sizeof *b);
    b->id = id;
    b->then = then;
    r->state = b;
    const char *p[] = { rpc_num(r, id) };
    db_query(r->srv->db, &case_customer, 1, p, case_found, r);
}

/* ---- CaseGet: the case and its history */

static struct db_stmt get_case = DB_STMT("SELECT " CASE_COLUMNS " FROM service_case s" CASE_JOINS "WHERE s.id = $1");
static struct db_stmt get_events = DB_STMT(
    "SELECT e.id, " SQL_MS("e.at") ", coalesce(u.username, ''), e.kind, coalesce(e.from_status, ''),"
    " coalesce(e.to_status, ''), coalesce(e.note, '') FROM case_event e LEFT JOIN app_user u ON u.id = e.actor"
    " WHERE e.case_id = $1 ORDER BY e.id");

static struct row_msg case_event_row = ROW_MSG(kehu__v1__case_event__descriptor,
    "id,at_ms,actor,kind,from_status,to_status,note");

static void get_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_one(r, res, "id", "no such case"))
        return;
    Kehu__V1__Case *k = case_from_row(r, res, 0, 0);
    ROW_MSGS(r, &case_event_row, res, 1, db_rows(res, 1), k, events);
    reply_case(r, k);
}

static void get_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    (void)ref;
    const char *p[] = { rpc_num(r, r->msg->case_get->id) };
    struct db_call *call = db_call_new(r->srv->db, get_done, r);
    db_call_add(call, &get_case, 1, p);
    db_call_add(call, &get_events, 1, p);
    db_call_send(call);
}

static void case_get(struct req *r)
{
    case_load(r, r->msg->case_get ? r->msg->case_get->id : 0, get_loaded);
}

const struct rpc_entry rpc_case_get = { KEHU__V1__REQUEST__OP_CASE_GET, "case_get", ACT_CUSTOMER_READ, 0, case_get };

/* ---- CaseAct: one transition */

static const char *const acts[] = { "assign", "start",  "wait",   "resume",     "approve", "resolve",
                                    "close",  "reopen", "reclassify", "comment", "queue",   "take" };

static struct db_stmt act_stmt = DB_STMT("SELECT " CASE_COLUMNS
                                         " FROM case_do($1, $2, $3, $4, $5, $6, $7, $8::numeric / 100, $9, $10, $11,"
                                         " $12) s" CASE_JOINS);

struct act_state {
    struct by_id b; /* first: case_found reads it as r->state */
    struct rpc_customer_ref ref;
};

static void act_run(struct req *r, int64_t to)
{
    const Kehu__V1__CaseAct *m = r->msg->case_act;
    int comp = strcmp(m->action, "resolve") == 0 || strcmp(m->action, "approve") == 0;
    const char *p[] = { rpc_num(r, req_who(r)->user_id),
                        rpc_num(r, m->id),
                        m->action,
                        rpc_opt(m->note),
                        to ? rpc_num(r, to) : NULL,
                        rpc_opt(m->cause),
                        rpc_opt(m->action_taken),
                        comp && m->compensation_minor ? rpc_num(r, m->compensation_minor) : NULL,
                        rpc_opt(m->compensation_kind),
                        m->satisfaction ? rpc_num(r, m->satisfaction) : NULL,
                        rpc_opt(m->nature),
                        rpc_opt(m->kind) };
    audit_query(r, &act_stmt, 12, p, reply_one);
}

static struct db_stmt queue_stmt =
    DB_STMT("SELECT " CASE_COLUMNS " FROM case_queue_do($1, $2, $3, $4, $5) s" CASE_JOINS);

static void act_user_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct act_state *st = r->state;
    const Kehu__V1__CaseAct *m = r->msg->case_act;
    if (!req_db_ok(r, res))
        return;
    if (rpc_user_visible(r, res, 0, m->to, "to") < 0)
        return;
    /* the handler must be one who may read the customer */
    struct principal them;
    int may = rpc_user_may_act(r, res, 0, "to", m->to, &st->ref, ACT_CUSTOMER_READ, &them);
    if (may < 0)
        return;
    if (may > 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "to", "'%s' may not see this case's customer", them.username);
        return;
    }
    act_run(r, them.user_id);
}

static void act_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CaseAct *m = r->msg->case_act;
    struct act_state *st = (struct act_state *)ref->ctx;
    st->ref = *ref;
    r->state = st;
    if (strcmp(m->action, "queue") == 0 || strcmp(m->action, "take") == 0) {
        const char *p[] = { rpc_num(r, req_who(r)->user_id), rpc_num(r, m->id), m->action, m->queue, rpc_opt(m->note) };
        audit_query(r, &queue_stmt, 5, p, reply_one);
        return;
    }
    if (strcmp(m->action, "assign") != 0) {
        act_run(r, 0);
        return;
    }
    if (strcmp(m->to, "owner") == 0) {
        if (!ref->owner_id) {
            req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, "to", "the customer has no owner");
            return;
        }
        act_run(r, ref->owner_id);
        return;
    }
    const char *p[] = { m->to };
    db_query(r->srv->db, &rpc_user_by_name, 1, p, act_user_found, r);
}

static void case_act(struct req *r)
{
    const Kehu__V1__CaseAct *m = r->msg->case_act;
    if (!m || m->id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "a case id is required");
        return;
    }
    size_t i = 0;
    while (i < sizeof acts / sizeof acts[0] && strcmp(m->action, acts[i]) != 0)
        i++;
    if (i == sizeof acts / sizeof acts[0]) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "action",
                 "action must be assign, queue, take, start, wait, resume, approve, resolve, close, reopen,"
                 " reclassify or comment");
        return;
    }
    if (strcmp(m->action, "assign") == 0 && !*m->to) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "to", "whom to assign to is required (a username or owner)");
        return;
    }
    if (strcmp(m->action, "queue") == 0 && !*m->queue) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "queue", "the team whose queue to put it in is required");
        return;
    }
    if (strcmp(m->action, "close") == 0 && (m->satisfaction < 1 || m->satisfaction > 5)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "satisfaction", "satisfaction must be 1 to 5");
        return;
    }
    if (m->compensation_minor < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "compensation", "compensation cannot be negative");
        return;
    }
    if (rpc_check_text(r, "note", m->note, NOTE_MAX, 1) < 0 || rpc_check_text(r, "to", m->to, 64, 0) < 0 ||
        rpc_check_text(r, "cause", m->cause, 500, 0) < 0 ||
        rpc_check_text(r, "action_taken", m->action_taken, NOTE_MAX, 1) < 0 ||
        rpc_check_text(r, "compensation_kind", m->compensation_kind, 100, 0) < 0 ||
        rpc_check_text(r, "nature", m->nature, 20, 0) < 0 || rpc_check_text(r, "kind", m->kind, 20, 0) < 0 ||
        rpc_check_text(r, "queue", m->queue, 100, 0) < 0)
        return;
    struct act_state *st = arena_alloc(&r->arena, sizeof *st);
    memset(st, 0, sizeof *st);
    st->b.id = m->id;
    st->b.then = act_loaded;
    r->state = st;
    const char *p[] = { rpc_num(r, m->id) };
    db_query(r->srv->db, &case_customer, 1, p, case_found, r);
}

const struct rpc_entry rpc_case_act = { KEHU__V1__REQUEST__OP_CASE_ACT, "case_act", ACT_CUSTOMER_READ, 0, case_act };

/* ---- CaseList (and the queue): keyset pages over the caller's read scope */

static const char *const statuses[] = { "new", "assigned", "in_progress", "waiting", "resolved", "closed", "open" };

static void list_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__CaseList *m = r->msg->case_list;
    uint32_t limit = m && m->limit ? m->limit : LIST_DEFAULT;
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0);
    Kehu__V1__CasePage *page = arena_alloc(&r->arena, sizeof *page);
    kehu__v1__case_page__init(page);
    page->cases = arena_alloc(&r->arena, sizeof *page->cases * (size_t)(n ? n : 1));
    int shown = n > (int)limit ? (int)limit : n;
    for (int i = 0; i < shown; i++)
        page->cases[page->n_cases++] = case_from_row(r, res, 0, i);
    page->next_cursor = "";
    if (n > (int)limit) {
        /* the cursor: the last shown row's sort key */
        page->next_cursor = rpc_col(r, res, 0, shown - 1, CASE_NCOLS);
        page->remaining = db_get_i64(res, 0, 0, CASE_NCOLS + 1) - shown;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CASES, page);
}

static void case_list(struct req *r)
{
    const Kehu__V1__CaseList *m = r->msg->case_list;
    static const Kehu__V1__CaseList empty = KEHU__V1__CASE_LIST__INIT;
    if (!m)
        m = &empty;
    if (m->limit > LIST_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "limit", "limit is at most %d", LIST_MAX);
        return;
    }
    if (*m->status) {
        size_t i = 0;
        while (i < sizeof statuses / sizeof statuses[0] && strcmp(m->status, statuses[i]) != 0)
            i++;
        if (i == sizeof statuses / sizeof statuses[0]) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "status",
                     "status must be new, assigned, in_progress, waiting, resolved, closed or open");
            return;
        }
    }
    /* the cursor: "P:D:ID" for the queue (priority, deadline ms, id), "ID" for a list */
    long long a = 0, b = 0, id = 0;
    if (*m->after && (m->queue ? sscanf(m->after, "%lld:%lld:%lld", &a, &b, &id) != 3
                               : sscanf(m->after, "%lld", &id) != 1 || id <= 0)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "after", "not a cursor from a previous page");
        return;
    }
    const char *k, *i;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &k, &i);
    uint32_t limit = m->limit ? m->limit : LIST_DEFAULT;
    const char *deadline = "(CASE WHEN s.responded_at IS NULL THEN least(s.respond_by, s.resolve_by) ELSE s.resolve_by END)";
    char *where = arena_printf(&r->arena, "WHERE" RPC_SCOPE_SQL(1, 2));
    const char *p[8];
    int np = 2;
    p[0] = k;
    p[1] = i;
    const char *me = rpc_num(r, req_who(r)->user_id);
    if (m->queue) {
        /* handled by me, or unhandled in the queue of my unit or a unit under it */
        p[np++] = me;
        p[np++] = rpc_num(r, req_who(r)->unit_id);
        where = arena_printf(&r->arena,
                             "%s AND (s.handler_id = $%d OR (s.handler_id IS NULL AND s.queue_id IN (SELECT o.id"
                             " FROM org_unit o WHERE o.path @> ARRAY[$%d::bigint])))",
                             where, np - 1, np);
    } else if (m->mine) {
        p[np++] = me;
        where = arena_printf(&r->arena, "%s AND s.handler_id = $%d", where, np);
    }
    if (m->queue)
        where = arena_printf(&r->arena, "%s AND s.status NOT IN ('resolved', 'closed')", where);
    if (strcmp(m->status, "open") == 0)
        where = arena_printf(&r->arena, "%s AND s.status <> 'closed'", where);
    else if (*m->status) {
        p[np++] = m->status;
        where = arena_printf(&r->arena, "%s AND s.status = $%d", where, np);
    }
    if (m->customer_id) {
        p[np++] = rpc_num(r, m->customer_id);
        where = arena_printf(&r->arena, "%s AND s.customer_id = $%d", where, np);
    }
    if (*m->unit) {
        p[np++] = m->unit;
        where = arena_printf(&r->arena,
                             "%s AND s.branch_id IN (SELECT o.id FROM org_unit o WHERE o.path @> ARRAY[(SELECT u.id"
                             " FROM org_unit u WHERE CASE WHEN $%d ~ '^[0-9]{1,18}$' THEN $%d::bigint END = u.id"
                             " OR lower(u.name) = lower($%d) LIMIT 1)])",
                             where, np, np, np);
    }
    const char *key, *order, *after = "";
    if (m->queue) {
        key = arena_printf(&r->arena, "s.priority || ':' || " SQL_MS("%s") " || ':' || s.id", deadline);
        order = arena_printf(&r->arena, "s.priority, %s, s.id", deadline);
        if (*m->after)
            after = arena_printf(&r->arena, " AND (s.priority, " SQL_MS("%s") ", s.id) > (%lld, %lld, %lld)", deadline,
                                 a, b, id);
    } else {
        key = "s.id::text";
        order = "s.id DESC";
        if (*m->after)
            after = arena_printf(&r->arena, " AND s.id < %lld", id);
    }
    char *sql = arena_printf(&r->arena,
                             "SELECT " CASE_COLUMNS ", %s, count(*) OVER () FROM service_case s" CASE_JOINS
                             "%s%s ORDER BY %s LIMIT %u",
                             key, where, after, order, limit + 1);
    struct db_call *call = db_call_new(r->srv->db, list_done, r);
    db_call_add_sql(call, sql, np, p);
    db_call_send(call);
}

const struct rpc_entry rpc_case_list = { KEHU__V1__REQUEST__OP_CASE_LIST, "case_list", ACT_CUSTOMER_READ, 0,
                                         case_list };

/* ---- the calendar and business hours: everyone reads, admins edit */

static struct db_stmt cal_show = DB_STMT(
    "SELECT day::text, working, name FROM work_calendar WHERE $1::int = 0 OR extract(year FROM day) = $1::int"
    " ORDER BY day");

static void cal_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int last = res->nres - 1, n = db_rows(res, last);
    Kehu__V1__CalendarDays *d = arena_alloc(&r->arena, sizeof *d);
    kehu__v1__calendar_days__init(d);
    d->days = arena_alloc(&r->arena, sizeof *d->days * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__CalendarDay *x = arena_alloc(&r->arena, sizeof *x);
        kehu__v1__calendar_day__init(x);
        x->day = rpc_col(r, res, last, i, 0);
        x->working = db_get_bool(res, last, i, 1);
        x->name = rpc_col(r, res, last, i, 2);
        d->days[d->n_days++] = x;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CALENDAR, d);
}

static void calendar_show(struct req *r)
{
    int32_t year = r->msg->calendar_show ? r->msg->calendar_show->year : 0;
    if (year && (year < 1900 || year > 9999)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "year", "year %d is not a year", year);
        return;
    }
    const char *p[] = { rpc_num(r, year) };
    db_query(r->srv->db, &cal_show, 1, p, cal_done, r);
}

const struct rpc_entry rpc_calendar_show = { KEHU__V1__REQUEST__OP_CALENDAR_SHOW, "calendar_show", ACT_SESSION, 0,
                                             calendar_show };

static struct db_stmt cal_upsert = DB_STMT(
    "INSERT INTO work_calendar (day, working, name) SELECT d, w, n FROM unnest($1::date[], $2::boolean[], $3::text[])"
    " x(d, w, n) ON CONFLICT (day) DO UPDATE SET working = excluded.working, name = excluded.name");
static struct db_stmt cal_delete = DB_STMT("DELETE FROM work_calendar WHERE day = ANY ($1::date[])");
static struct db_stmt cal_set_show = DB_STMT(
    "SELECT day::text, working, name FROM work_calendar WHERE day = ANY ($1::date[]) ORDER BY day");

#define CAL_SET_MAX 3660

static void calendar_set(struct req *r)
{
    const Kehu__V1__CalendarSet *m = r->msg->calendar_set;
    if (!m || !m->n_days) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "days", "at least one day is required");
        return;
    }
    if (m->n_days > CAL_SET_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "days", "at most %d days at once", CAL_SET_MAX);
        return;
    }
    const char **days = arena_alloc(&r->arena, sizeof *days * m->n_days);
    const char **work = arena_alloc(&r->arena, sizeof *work * m->n_days);
    const char **names = arena_alloc(&r->arena, sizeof *names * m->n_days);
    for (size_t i = 0; i < m->n_days; i++) {
        const Kehu__V1__CalendarDay *d = m->days[i];
        const char *why = d->day && *d->day ? validate_date(d->day) : "is required (YYYY-MM-DD)";
        if (why) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "day", "day %s", why);
            return;
        }
        if (rpc_check_text(r, "name", d->name, 100, 0) < 0)
            return;
        days[i] = d->day;
        work[i] = d->working ? "t" : "f";
        names[i] = d->name ? d->name : "";
    }
    const char *pd = arena_pg_array(&r->arena, days, m->n_days);
    const char *pw = arena_pg_array(&r->arena, work, m->n_days);
    const char *pn = arena_pg_array(&r->arena, names, m->n_days);
    struct db_call *call = db_call_new(r->srv->db, cal_done, r);
    if (m->remove) {
        const char *p[] = { pd };
        db_call_add(call, &cal_delete, 1, p);
    } else {
        const char *p[] = { pd, pw, pn };
        db_call_add(call, &cal_upsert, 3, p);
    }
    const char *q[] = { pd };
    db_call_add(call, &cal_set_show, 1, q);
    audit_note_detail(r, "%zu calendar days", m->n_days);
    audit_call_send(r, call);
}

const struct rpc_entry rpc_calendar_set = { KEHU__V1__REQUEST__OP_CALENDAR_SET, "calendar_set", ACT_ORG_WRITE, 0,
                                            calendar_set };

static struct db_stmt hours_all = DB_STMT(
    "SELECT coalesce(o.name, ''), to_char(h.opens, 'HH24:MI'), to_char(h.closes, 'HH24:MI'),"
    " coalesce(to_char(h.lunch_from, 'HH24:MI'), ''), coalesce(to_char(h.lunch_to, 'HH24:MI'), ''), h.tz"
    " FROM business_hours h LEFT JOIN org_unit o ON o.id = h.branch_id ORDER BY h.branch_id");

static struct row_msg business_hours_row = ROW_MSG(kehu__v1__business_hours__descriptor,
    "branch,opens,closes,lunch_from,lunch_to,tz");

static void hours_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int last = res->nres - 1, n = db_rows(res, last);
    Kehu__V1__BusinessHoursList *l = arena_alloc(&r->arena, sizeof *l);
    kehu__v1__business_hours_list__init(l);
    ROW_MSGS(r, &business_hours_row, res, last, n, l, hours);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_HOURS, l);
}

static void hours_show(struct req *r)
{
    db_query(r->srv->db, &hours_all, 0, NULL, hours_done, r);
}

const struct rpc_entry rpc_hours_show = { KEHU__V1__REQUEST__OP_HOURS_SHOW, "hours_show", ACT_SESSION, 0, hours_show };

/* $1 branch ("" the default), $2..$5 times ("" none), $6 time zone ("" the default's). */
static struct db_stmt hours_put = DB_STMT(
    "WITH b AS (SELECT CASE WHEN $1 = '' THEN 0 ELSE (SELECT u.id FROM org_unit u WHERE u.kind = 'branch' AND"
    " (CASE WHEN $1 ~ '^[0-9]{1,18}$' THEN $1::bigint END = u.id OR lower(u.name) = lower($1))) END AS id)"
    " INSERT INTO business_hours (branch_id, opens, closes, lunch_from, lunch_to, tz)"
    " SELECT b.id, $2::time, $3::time, nullif($4, '')::time, nullif($5, '')::time,"
    " coalesce(nullif($6, ''), (SELECT tz FROM business_hours WHERE branch_id = 0)) FROM b WHERE b.id IS NOT NULL"
    " AND ($6 = '' OR EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $6))"
    " ON CONFLICT (branch_id) DO UPDATE SET opens = excluded.opens, closes = excluded.closes,"
    " lunch_from = excluded.lunch_from, lunch_to = excluded.lunch_to, tz = excluded.tz RETURNING branch_id");

static int hhmm_ok(const char *s)
{
    int h, m;
    char end;
    return s && strlen(s) == 5 && sscanf(s, "%2d:%2d%c", &h, &m, &end) == 2 && h >= 0 && h < 24 && m >= 0 && m < 60;
}

static void hours_set_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome == DB_OK && !db_get_bool(res, 0, 0, 0)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "tz", "unknown time zone '%s'", r->msg->hours_set->hours->tz);
        return;
    }
    if (res->outcome == DB_OK && db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "branch", "no branch '%s'", r->msg->hours_set->hours->branch);
        return;
    }
    if (res->outcome != DB_OK && strncmp(res->sqlstate, "23", 2) == 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "hours",
                 "hours must open before lunch, lunch before closing (both lunch times or none)");
        return;
    }
    hours_done(res, arg);
}

static void hours_set(struct req *r)
{
    const Kehu__V1__HoursSet *m = r->msg->hours_set;
    const Kehu__V1__BusinessHours *h = m ? m->hours : NULL;
    if (!h || !hhmm_ok(h->opens) || !hhmm_ok(h->closes)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "hours", "opening and closing times are required (HH:MM)");
        return;
    }
    if ((*h->lunch_from || *h->lunch_to) && (!hhmm_ok(h->lunch_from) || !hhmm_ok(h->lunch_to))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "lunch", "lunch is two times HH:MM-HH:MM");
        return;
    }
    if (rpc_check_text(r, "branch", h->branch, 100, 0) < 0 || rpc_check_text(r, "tz", h->tz, 64, 0) < 0)
        return;
    if (strcmp(h->opens, h->closes) >= 0 ||
        (*h->lunch_from && (strcmp(h->opens, h->lunch_from) >= 0 || strcmp(h->lunch_from, h->lunch_to) >= 0 ||
                            strcmp(h->lunch_to, h->closes) >= 0))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "hours",
                 "hours must open before lunch, lunch before closing, and open before closing");
        return;
    }
    const char *p[] = { h->branch, h->opens, h->closes, h->lunch_from, h->lunch_to, h->tz };
    struct db_call *call = db_call_new(r->srv->db, hours_set_done, r);
    db_call_add_sql(call,
                    "SELECT $1 = '' OR EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)",
                    1, (const char *[]){ h->tz });
    db_call_add(call, &hours_put, 6, p);
    db_call_add(call, &hours_all, 0, NULL);
    audit_note_detail(r, "hours %s %s-%s", *h->branch ? h->branch : "default", h->opens, h->closes);
    audit_call_send(r, call);
}

const struct rpc_entry rpc_hours_set = { KEHU__V1__REQUEST__OP_HOURS_SET, "hours_set", ACT_ORG_WRITE, 0, hours_set };

/* ---- the scheduler */

struct case_sched {
    struct server *srv;
    uv_timer_t timer;
    int busy;          /* a step is in flight */
    int again;         /* woken while busy: step again at once */
    int closed;        /* the timer is closed (shutdown): freed when no step is in flight */
    uint64_t next_at;  /* loop time (ms) the timer fires */
    char who[64];
    struct db_stmt fire;
};

static struct db_stmt fire_stmt = DB_STMT("SELECT fired, next_ms FROM case_due_fire($1::int, $2)");

static void on_sched(uv_timer_t *t);

static void sched_set(struct case_sched *cs, int64_t ms)
{
    if (ms < 0 || ms > SCHED_MAX_SLEEP_MS)
        ms = SCHED_MAX_SLEEP_MS;
    cs->next_at = uv_now(cs->srv->loop) + (uint64_t)ms;
    uv_timer_start(&cs->timer, on_sched, (uint64_t)ms, 0);
}

static void fired(const struct db_result *res, void *arg)
{
    struct case_sched *cs = arg;
    cs->busy = 0;
    if (!cs->srv) { /* shut down meanwhile */
        if (cs->closed)
            free(cs);
        return;
    }
    int64_t next = SCHED_MAX_SLEEP_MS;
    if (res->outcome == DB_OK && db_rows(res, 0) == 1) {
        int64_t n = db_get_i64(res, 0, 0, 0);
        /* NULL: nothing pending; 0 or less: one fell due during the step */
        next = db_get(res, 0, 0, 1) ? db_get_i64(res, 0, 0, 1) : SCHED_MAX_SLEEP_MS;
        if (n > 0)
            log_info(0, 0, "case scheduler: %lld due actions fired", (long long)n);
        if (n >= SCHED_BATCH || next < 0)
            next = 0;
    } else if (res->outcome != DB_OK) {
        log_warn(0, 0, "case scheduler: %s", res->message ? res->message : "database unavailable");
    }
    if (cs->again) {
        cs->again = 0;
        next = 0;
    }
    sched_set(cs, next);
}

static void on_sched(uv_timer_t *t)
{
    struct case_sched *cs = t->data;
    if (cs->busy || !db_pool_ready(cs->srv->db)) {
        sched_set(cs, cs->busy ? SCHED_MAX_SLEEP_MS : 200);
        return;
    }
    cs->busy = 1;
    char n[16];
    snprintf(n, sizeof n, "%d", SCHED_BATCH);
    const char *p[] = { n, cs->who };
    db_query(cs->srv->db, &fire_stmt, 2, p, fired, cs);
}

void case_sched_start(struct server *s)
{
    struct case_sched *cs = xcalloc(1, sizeof *cs);
    cs->srv = s;
    snprintf(cs->who, sizeof cs->who, "kehud:%d:%ld", s->cfg.port, (long)getpid());
    uv_timer_init(s->loop, &cs->timer);
    cs->timer.data = cs;
    uv_unref((uv_handle_t *)&cs->timer);
    s->cases = cs;
    sched_set(cs, 100);
}

void case_sched_wake(struct server *s, int64_t in_ms)
{
    struct case_sched *cs = s->cases;
    if (!cs)
        return;
    if (in_ms < 0)
        in_ms = 0;
    if (cs->busy) {
        if (in_ms == 0)
            cs->again = 1;
        return;
    }
    if (uv_now(s->loop) + (uint64_t)in_ms < cs->next_at)
        sched_set(cs, in_ms);
}

static void sched_closed(uv_handle_t *h)
{
    struct case_sched *cs = h->data;
    cs->closed = 1;
    if (!cs->busy)
        free(cs);
    /* else fired() frees it when its step returns (srv NULL) */
}

void case_shutdown(struct server *s)
{
    struct case_sched *cs = s->cases;
    if (!cs)
        return;
    s->cases = NULL;
    cs->srv = NULL;
    uv_timer_stop(&cs->timer);
    uv_close((uv_handle_t *)&cs->timer, sched_closed);
}

/* ---- CaseReport: counts, SLA attainment and working times over the caller's read scope */

/* $1, $2 the scope (RPC_SCOPE_SQL), $3 the unit ("" none), $4 and $5 the period's days ("" none), $6 the
 * customers' owner (a user id, "" any). */
#define REPORT_CASES                                                                                              \
    "WITH s AS (SELECT s.*, b.name AS branch_name, coalesce(h.username, '') AS handler_name, c.name AS cust_name"                      \
    " FROM service_case s JOIN customer c ON c.id = s.customer_id JOIN org_unit b ON b.id = s.branch_id"         \
    " LEFT JOIN app_user h ON h.id = s.handler_id WHERE" RPC_SCOPE_SQL(1, 2)                                     \
    " AND ($3 = '' OR s.branch_id IN (SELECT o.id FROM org_unit o WHERE o.path @> ARRAY[(SELECT u.id FROM"      \
    " org_unit u WHERE CASE WHEN $3 ~ '^[0-9]{1,18}$' THEN $3::bigint END = u.id OR lower(u.name) = lower($3)"  \
    " LIMIT 1)]))"                                                                                               \
    " AND ($4 = '' OR s.created_at >= ($4::date)::timestamp AT TIME ZONE 'UTC')"                                 \
    " AND ($5 = '' OR s.created_at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC')"                              \
    " AND ($6 = '' OR c.owner_id = CASE WHEN $6 <> '' THEN $6::bigint END)) "

static struct db_stmt report_counts = DB_STMT(
    REPORT_CASES
    "SELECT d.dim, d.key, count(*) FROM s, LATERAL (VALUES ('nature', s.nature), ('kind', s.kind),"
    " ('severity', s.severity::text), ('channel', s.channel), ('branch', s.branch_name),"
    " ('handler', s.handler_name), ('status', s.status), ('cause', s.cause), ('product', s.product)) d(dim, key)"
    " WHERE d.key IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2");
static struct db_stmt report_sla = DB_STMT(
    REPORT_CASES
    ", t AS (SELECT s.*, CASE WHEN s.responded_at IS NOT NULL THEN work_between(s.branch_id, s.created_at,"
    " s.responded_at) END AS rh, CASE WHEN s.resolved_at IS NOT NULL THEN greatest(work_between(s.branch_id,"
    " s.created_at, s.resolved_at) - s.paused_hours, 0) END AS sh FROM s)"
    " SELECT count(*), count(responded_at), count(*) FILTER (WHERE responded_at <= respond_by),"
    " count(resolved_at), count(*) FILTER (WHERE resolved_at <= resolve_by),"
    " coalesce(trim_scale(round(avg(rh), 2))::text, ''),"
    " coalesce(trim_scale(round(percentile_cont(0.9) WITHIN GROUP (ORDER BY rh)::numeric, 2))::text, ''),"
    " coalesce(trim_scale(round(avg(sh), 2))::text, ''),"
    " coalesce(trim_scale(round(percentile_cont(0.9) WITHIN GROUP (ORDER BY sh)::numeric, 2))::text, ''),"
    " coalesce((sum(compensation) * 100)::bigint, 0), coalesce(trim_scale(round(avg(satisfaction), 2))::text, ''),"
    " count(*) FILTER (WHERE satisfaction >= 4), count(satisfaction)"
    " FROM t");
/* customers with two valid complaints or more */
static struct db_stmt report_repeats = DB_STMT(
    REPORT_CASES
    "SELECT count(*) OVER (), x.customer_id || ' ' || x.cust_name, x.n FROM (SELECT customer_id, cust_name, count(*) n"
    " FROM s WHERE nature = 'complaint' GROUP BY 1, 2 HAVING count(*) >= 2) x ORDER BY x.n DESC, x.customer_id"
    " LIMIT 20");
static struct db_stmt report_trend = DB_STMT(
    REPORT_CASES
    "SELECT p.per, p.key, count(*), count(*) FILTER (WHERE s.nature = 'complaint'), count(s.resolved_at),"
    " count(*) FILTER (WHERE s.resolved_at <= s.resolve_by), coalesce((sum(s.compensation) * 100)::bigint, 0),"
    " coalesce(trim_scale(round(avg(s.satisfaction), 2))::text, '')"
    " FROM s, LATERAL (VALUES ('month', to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM')),"
    " ('week', to_char(s.created_at AT TIME ZONE 'UTC', 'IYYY-\"W\"IW'))) p(per, key)"
    " GROUP BY 1, 2 ORDER BY 1, 2");
/* surveys recorded in the period, of customers in the scope (and the unit) */
static struct db_stmt report_surveys = DB_STMT(
    "SELECT count(*), coalesce(trim_scale(round(avg(v.satisfaction), 4))::text, '') FROM survey v"
    " JOIN customer c ON c.id = v.customer_id WHERE v.status = 'recorded' AND" RPC_SCOPE_SQL(1, 2)
    " AND ($3 = '' OR v.branch_id IN (SELECT o.id FROM org_unit o WHERE o.path @> ARRAY[(SELECT u.id FROM"
    " org_unit u WHERE CASE WHEN $3 ~ '^[0-9]{1,18}$' THEN $3::bigint END = u.id OR lower(u.name) = lower($3)"
    " LIMIT 1)]))"
    " AND ($4 = '' OR v.recorded_at >= ($4::date)::timestamp AT TIME ZONE 'UTC')"
    " AND ($5 = '' OR v.recorded_at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC')"
    " AND ($6 = '' OR c.owner_id = CASE WHEN $6 <> '' THEN $6::bigint END)");

struct report_state {
    char from[16], to[16];
    const char *owner; /* the owner's id, "" any */
};

static struct row_msg case_trend_row = ROW_MSG(kehu__v1__case_trend__descriptor,
    "period,key,opened,complaints,resolved,resolve_met,compensation_minor,satisfaction_mean");

static void report_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct report_state *st = r->state;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__CaseReportResult *x = arena_alloc(&r->arena, sizeof *x);
    kehu__v1__case_report_result__init(x);
    int n = db_rows(res, 0);
    x->counts = arena_alloc(&r->arena, sizeof *x->counts * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__CaseCount *c = arena_alloc(&r->arena, sizeof *c);
        kehu__v1__case_count__init(c);
        c->dimension = rpc_col(r, res, 0, i, 0);
        c->key = rpc_col(r, res, 0, i, 1);
        c->cases = db_get_i64(res, 0, i, 2);
        x->counts[x->n_counts++] = c;
    }
    x->total = db_get_i64(res, 1, 0, 0);
    x->responded = db_get_i64(res, 1, 0, 1);
    x->respond_met = db_get_i64(res, 1, 0, 2);
    x->resolved = db_get_i64(res, 1, 0, 3);
    x->resolve_met = db_get_i64(res, 1, 0, 4);
    x->respond_mean_hours = rpc_col(r, res, 1, 0, 5);
    x->respond_p90_hours = rpc_col(r, res, 1, 0, 6);
    x->resolve_mean_hours = rpc_col(r, res, 1, 0, 7);
    x->resolve_p90_hours = rpc_col(r, res, 1, 0, 8);
    x->compensation_minor = db_get_i64(res, 1, 0, 9);
    x->satisfaction_mean = rpc_col(r, res, 1, 0, 10);
    x->satisfied = db_get_i64(res, 1, 0, 11);
    x->rated = db_get_i64(res, 1, 0, 12);
    n = db_rows(res, 2);
    x->repeats = arena_alloc(&r->arena, sizeof *x->repeats * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__CaseCount *c = arena_alloc(&r->arena, sizeof *c);
        kehu__v1__case_count__init(c);
        c->dimension = "repeat";
        c->key = rpc_col(r, res, 2, i, 1);
        c->cases = db_get_i64(res, 2, i, 2);
        x->repeat_complainants = db_get_i64(res, 2, i, 0);
        x->repeats[x->n_repeats++] = c;
    }
    ROW_MSGS(r, &case_trend_row, res, 3, db_rows(res, 3), x, trend);
    x->surveys = db_get_i64(res, 4, 0, 0);
    x->survey_satisfaction_mean = rpc_col(r, res, 4, 0, 1);
    x->from = st->from;
    x->to = st->to;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CASE_REPORT, x);
}

/* "2026-10", "2026-Q3", "2026" -> first and last day; -1 when not a period. */
static int period_days(const char *p, char *from, char *to)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, q, first, last, lastday;
    char end;
    if (sscanf(p, "%4d-Q%1d%c", &y, &q, &end) == 2 && strlen(p) == 7 && q >= 1 && q <= 4) {
        first = q * 3 - 2, last = q * 3, lastday = mdays[last - 1];
    } else if (sscanf(p, "%4d-%2d%c", &y, &m, &end) == 2 && strlen(p) == 7 && m >= 1 && m <= 12) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        first = last = m, lastday = mdays[m - 1] + (m == 2 && leap);
    } else if (sscanf(p, "%4d%c", &y, &end) == 1 && strlen(p) == 4) {
        first = 1, last = 12, lastday = 31;
    } else {
        return -1;
    }
    if (y < 1900 || y > 9999)
        return -1;
    snprintf(from, 16, "%04u-%02u-01", (unsigned)y % 10000u, (unsigned)first % 100u);
    snprintf(to, 16, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)last % 100u, (unsigned)lastday % 100u);
    return 0;
}

static void report_run(struct req *r)
{
    const Kehu__V1__CaseReport *m = r->msg->case_report;
    struct report_state *st = r->state;
    const char *k, *i;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &k, &i);
    const char *p[] = { k, i, m && m->unit ? m->unit : "", st->from, st->to, st->owner };
    struct db_call *call = db_call_new(r->srv->db, report_done, r);
    db_call_add(call, &report_counts, 6, p);
    db_call_add(call, &report_sla, 6, p);
    db_call_add(call, &report_repeats, 6, p);
    db_call_add(call, &report_trend, 6, p);
    db_call_add(call, &report_surveys, 6, p);
    db_call_send(call);
}

/* --owner: a user the caller may see (else NOT_FOUND, as for a missing one) */
static void report_owner_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct report_state *st = r->state;
    if (!req_db_ok(r, res))
        return;
    if (rpc_user_visible(r, res, 0, r->msg->case_report->owner, "owner") < 0)
        return;
    st->owner = rpc_num(r, db_get_i64(res, 0, 0, 0));
    report_run(r);
}

static void case_report(struct req *r)
{
    const Kehu__V1__CaseReport *m = r->msg->case_report;
    struct report_state *st = arena_alloc(&r->arena, sizeof *st);
    memset(st, 0, sizeof *st);
    st->owner = "";
    r->state = st;
    const char *unit = m && m->unit ? m->unit : "";
    if (m && *m->period && period_days(m->period, st->from, st->to) < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "period", "period must be like 2026-10, 2026-Q3 or 2026");
        return;
    }
    if (rpc_check_text(r, "unit", unit, 100, 0) < 0 || (m && rpc_check_text(r, "owner", m->owner, 64, 0) < 0))
        return;
    if (m && *m->owner) {
        const char *p[] = { m->owner };
        db_query(r->srv->db, &rpc_user_by_name, 1, p, report_owner_found, r);
        return;
    }
    report_run(r);
}

const struct rpc_entry rpc_case_report = { KEHU__V1__REQUEST__OP_CASE_REPORT, "case_report", ACT_CUSTOMER_READ, 0,
                                           case_report };

/* ---- surveys: like cases, part of the customer's archive ('read') */

#define SURVEY_COLUMNS                                                                                      \
    "v.id, v.customer_id, coalesce(v.case_id, 0), v.status, coalesce(sb.username, ''), " SQL_MS(          \
        "v.sent_at") ", coalesce(rb.username, ''), coalesce(" SQL_MS("v.recorded_at") ", 0),"              \
    " coalesce(trim_scale(round(v.satisfaction, 4))::text, ''),"                                          \
    " coalesce((SELECT string_agg(x.aspect || '=' || x.expected || '/' || x.perceived, chr(31) ORDER BY"  \
    " x.aspect) FROM survey_score x WHERE x.survey_id = v.id), ''), coalesce(v.period, ''), vc.name"
#define SURVEY_NCOLS 12
#define SURVEY_JOINS                                                                                       \
    " LEFT JOIN app_user sb ON sb.id = v.sent_by LEFT JOIN app_user rb ON rb.id = v.recorded_by"            \
    " JOIN customer vc ON vc.id = v.customer_id "

static struct row_msg survey_row = ROW_MSG(kehu__v1__survey__descriptor,
    "id,customer_id,case_id,status,sent_by,sent_at,recorded_by,recorded_at,satisfaction,-,"
    "period,customer_name");

static Kehu__V1__Survey *survey_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__Survey *v = row_msg(r, &survey_row, res, stmt, row, 0);
    audit_note_customer(r, v->customer_id);
    size_t n = 0;
    char **items = arena_split(&r->arena, rpc_col(r, res, stmt, row, 9), 31, &n);
    v->scores = arena_alloc(&r->arena, sizeof *v->scores * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        char *eq = strrchr(items[i], '='), *sl = eq ? strchr(eq, '/') : NULL;
        if (!eq || !sl)
            continue;
        Kehu__V1__SurveyScore *s = arena_alloc(&r->arena, sizeof *s);
        kehu__v1__survey_score__init(s);
        *eq = 0;
        s->aspect = items[i];
        s->expected = atoi(eq + 1);
        s->perceived = atoi(sl + 1);
        v->scores[v->n_scores++] = s;
    }
    return v;
}

static void survey_one(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    int last = req_db_last_one(r, res, "id", "no such survey");
    if (last < 0)
        return;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_SURVEY, survey_from_row(r, res, last, 0));
}

static struct db_stmt survey_send_stmt =
    DB_STMT("SELECT " SURVEY_COLUMNS " FROM survey_send($1, $2, $3) v" SURVEY_JOINS);

static void send_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__SurveySend *m = r->msg->survey_send;
    const char *p[] = { rpc_num(r, req_who(r)->user_id), rpc_num(r, ref->id),
                        m->case_id ? rpc_num(r, m->case_id) : NULL };
    audit_query(r, &survey_send_stmt, 3, p, survey_one);
}

static void survey_send(struct req *r)
{
    const Kehu__V1__SurveySend *m = r->msg->survey_send;
    if (!m || m->customer_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    if (m->case_id < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "case_id", "not a case id");
        return;
    }
    rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_READ, send_loaded);
}

const struct rpc_entry rpc_survey_send = { KEHU__V1__REQUEST__OP_SURVEY_SEND, "survey_send", ACT_CUSTOMER_READ, 0,
                                           survey_send };

static struct db_stmt survey_customer = DB_STMT("SELECT customer_id FROM survey WHERE id = $1");
static struct db_stmt survey_record_stmt = DB_STMT(
    "SELECT " SURVEY_COLUMNS " FROM survey_record($1, $2, $3::text[], $4::int[], $5::int[]) v" SURVEY_JOINS);

static void record_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    (void)ref;
    const Kehu__V1__SurveyRecord *m = r->msg->survey_record;
    const char **a = arena_alloc(&r->arena, sizeof *a * m->n_scores);
    const char **e = arena_alloc(&r->arena, sizeof *e * m->n_scores);
    const char **p = arena_alloc(&r->arena, sizeof *p * m->n_scores);
    for (size_t i = 0; i < m->n_scores; i++) {
        a[i] = m->scores[i]->aspect;
        e[i] = rpc_num(r, m->scores[i]->expected);
        p[i] = rpc_num(r, m->scores[i]->perceived);
    }
    const char *q[] = { rpc_num(r, req_who(r)->user_id), rpc_num(r, m->id), arena_pg_array(&r->arena, a, m->n_scores),
                        arena_pg_array(&r->arena, e, m->n_scores), arena_pg_array(&r->arena, p, m->n_scores) };
    audit_query(r, &survey_record_stmt, 5, q, survey_one);
}

static void survey_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int64_t id = r->msg->survey_record->id;
    const char *missing = arena_printf(&r->arena, "no survey %lld", (long long)id);
    if (db_rows(res, 0) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "id", "%s", missing);
        return;
    }
    rpc_customer_load_as(r, db_get_i64(res, 0, 0, 0), ACT_CUSTOMER_READ, record_loaded, NULL, "id", missing);
}

static void survey_record(struct req *r)
{
    const Kehu__V1__SurveyRecord *m = r->msg->survey_record;
    if (!m || m->id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "a survey id is required");
        return;
    }
    if (!m->n_scores || m->n_scores > 20) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "scores", "one to twenty aspects are required");
        return;
    }
    for (size_t i = 0; i < m->n_scores; i++) {
        const Kehu__V1__SurveyScore *s = m->scores[i];
        if (!s->aspect || !*s->aspect || strchr(s->aspect, '=') || strchr(s->aspect, '/')) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "scores", "an aspect is a name without = or /");
            return;
        }
        if (rpc_check_text(r, "scores", s->aspect, 50, 0) < 0) /* answered (and r freed) */
            return;
        if (s->expected < 1 || s->expected > 5 || s->perceived < 1 || s->perceived > 5) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "scores", "scores are 1 to 5");
            return;
        }
    }
    const char *p[] = { rpc_num(r, m->id) };
    db_query(r->srv->db, &survey_customer, 1, p, survey_found, r);
}

const struct rpc_entry rpc_survey_record = { KEHU__V1__REQUEST__OP_SURVEY_RECORD, "survey_record", ACT_CUSTOMER_READ,
                                             0, survey_record };

static void list_surveys_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__SurveyList *m = r->msg->survey_list;
    uint32_t limit = m->limit ? m->limit : LIST_DEFAULT;
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0);
    int shown = n > (int)limit ? (int)limit : n;
    Kehu__V1__Surveys *l = arena_alloc(&r->arena, sizeof *l);
    kehu__v1__surveys__init(l);
    l->surveys = arena_alloc(&r->arena, sizeof *l->surveys * (size_t)(n ? n : 1));
    for (int i = 0; i < shown; i++)
        l->surveys[l->n_surveys++] = survey_from_row(r, res, 0, i);
    l->next_cursor = "";
    if (n > (int)limit) {
        l->next_cursor = arena_printf(&r->arena, "%lld", (long long)l->surveys[shown - 1]->id);
        l->remaining = db_get_i64(res, 0, 0, SURVEY_NCOLS) - shown;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_SURVEYS, l);
}

/* A page of surveys, newest first: of one customer (already found readable)
 * or of every customer in the caller's read scope; sent only when pending. */
static void list_surveys_run(struct req *r, int64_t customer)
{
    const Kehu__V1__SurveyList *m = r->msg->survey_list;
    const char *k, *i;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &k, &i);
    long long after = *m->after ? atoll(m->after) : 0;
    const char *p[] = { k, i };
    char *sql = arena_printf(&r->arena,
                             "SELECT " SURVEY_COLUMNS ", count(*) OVER () FROM survey v" SURVEY_JOINS
                             " JOIN customer c ON c.id = v.customer_id WHERE" RPC_SCOPE_SQL(1, 2)
                             "%s%s%s ORDER BY v.id DESC LIMIT %u",
                             customer ? arena_printf(&r->arena, " AND v.customer_id = %lld", (long long)customer) : "",
                             m->pending ? " AND v.status = 'sent'" : "",
                             after ? arena_printf(&r->arena, " AND v.id < %lld", after) : "",
                             (m->limit ? m->limit : LIST_DEFAULT) + 1);
    struct db_call *call = db_call_new(r->srv->db, list_surveys_done, r);
    db_call_add_sql(call, sql, 2, p);
    db_call_send(call);
}

static void list_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    list_surveys_run(r, ref->id);
}

static void survey_list(struct req *r)
{
    const Kehu__V1__SurveyList *m = r->msg->survey_list;
    if (!m || m->customer_id < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "not a customer id");
        return;
    }
    if (m->limit > LIST_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "limit", "limit is at most %d", LIST_MAX);
        return;
    }
    long long after;
    char end;
    if (*m->after && (sscanf(m->after, "%lld%c", &after, &end) != 1 || after <= 0)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "after", "not a cursor from a previous page");
        return;
    }
    if (!m->customer_id) {
        list_surveys_run(r, 0);
        return;
    }
    rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_READ, list_loaded);
}

const struct rpc_entry rpc_survey_list = { KEHU__V1__REQUEST__OP_SURVEY_LIST, "survey_list", ACT_CUSTOMER_READ, 0,
                                           survey_list };

/* ---- settings: severity levels, escalation rules, survey sampling, policies (everyone reads, admins set) */

static struct db_stmt settings_all = DB_STMT("SELECT key, value, note FROM case_settings()");
static struct db_stmt settings_put = DB_STMT("SELECT case_settings_set($1::text[], $2::text[])");

static void settings_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int last = res->nres - 1, n = db_rows(res, last);
    Kehu__V1__CaseSettings *l = arena_alloc(&r->arena, sizeof *l);
    kehu__v1__case_settings__init(l);
    l->settings = arena_alloc(&r->arena, sizeof *l->settings * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__CaseSetting *x = arena_alloc(&r->arena, sizeof *x);
        kehu__v1__case_setting__init(x);
        x->key = rpc_col(r, res, last, i, 0);
        x->value = rpc_col(r, res, last, i, 1);
        x->note = rpc_col(r, res, last, i, 2);
        l->settings[l->n_settings++] = x;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CASE_SETTINGS, l);
}

static void case_settings_show(struct req *r)
{
    db_query(r->srv->db, &settings_all, 0, NULL, settings_done, r);
}

const struct rpc_entry rpc_case_settings_show = { KEHU__V1__REQUEST__OP_CASE_SETTINGS_SHOW, "case_settings_show",
                                                  ACT_SESSION, 0, case_settings_show };

#define SETTINGS_MAX 100

static void case_settings_set(struct req *r)
{
    const Kehu__V1__CaseSettingsSet *m = r->msg->case_settings_set;
    if (!m || !m->n_settings || m->n_settings > SETTINGS_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "settings", "one to %d KEY=VALUE settings are required",
                 SETTINGS_MAX);
        return;
    }
    const char **keys = arena_alloc(&r->arena, sizeof *keys * m->n_settings);
    const char **vals = arena_alloc(&r->arena, sizeof *vals * m->n_settings);
    char *detail = "";
    for (size_t i = 0; i < m->n_settings; i++) {
        const Kehu__V1__CaseSetting *x = m->settings[i];
        if (!*x->key) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "settings", "a setting's key is required");
            return;
        }
        if (rpc_check_text(r, "settings", x->key, 100, 0) < 0 || rpc_check_text(r, "settings", x->value, 500, 0) < 0)
            return;
        keys[i] = x->key;
        vals[i] = x->value;
        detail = arena_printf(&r->arena, "%s%s%s=%s", detail, i ? " " : "", x->key, x->value);
    }
    const char *p[] = { arena_pg_array(&r->arena, keys, m->n_settings), arena_pg_array(&r->arena, vals, m->n_settings) };
    struct db_call *call = db_call_new(r->srv->db, settings_done, r);
    db_call_add(call, &settings_put, 2, p);
    db_call_add(call, &settings_all, 0, NULL);
    audit_note_detail(r, "case settings %s", detail);
    audit_call_send(r, call);
}

const struct rpc_entry rpc_case_settings_set = { KEHU__V1__REQUEST__OP_CASE_SETTINGS_SET, "case_settings_set",
                                                 ACT_ORG_WRITE, 0, case_settings_set };

/* ---- service-quality early warnings: the alerts of the branches one reads whole. An alert counts a branch's
 * complaints, so a read scope of one's own customers or team does not reach it. */

static struct row_msg quality_alert_row = ROW_MSG(kehu__v1__quality_alert__descriptor,
    "id,period,dimension,branch,key,complaints,baseline,reason,created_at,branch_id");

static void alerts_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__QualityAlerts *l = arena_alloc(&r->arena, sizeof *l);
    kehu__v1__quality_alerts__init(l);
    uint32_t remaining;
    int n = page_end(r, r->state, res, 0, 11, &l->next_cursor, &remaining);
    l->remaining = remaining;
    ROW_MSGS(r, &quality_alert_row, res, 0, n, l, alerts);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_QUALITY_ALERTS, l);
}

static void quality_alert_list(struct req *r)
{
    const Kehu__V1__QualityAlertList *m = r->msg->quality_alert_list;
    struct authz_scope s = authz_customer_scope(req_who(r), ACT_CUSTOMER_READ);
    if (s.kind != SCOPE_ALL && s.kind != SCOPE_UNIT) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "", "quality alerts are for those who read whole branches");
        return;
    }
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "quality_alerts", "i", m ? m->limit : 0, m ? m->after : NULL, LIST_DEFAULT, LIST_MAX) < 0)
        return;
    r->state = pg;
    const char *k, *i;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &k, &i);
    const char *p[] = { k, i, pg->key[0], pg->fetch };
    struct db_call *call = db_call_new(r->srv->db, alerts_done, r);
    db_call_add_sql(call,
                    "SELECT a.id, a.period, a.dimension, b.name, a.key, a.complaints, trim_scale(a.baseline)::text,"
                    " a.reason, " SQL_MS("a.created_at") ", a.branch_id, count(*) OVER (), a.id::text"
                    " FROM quality_alert a JOIN org_unit b ON b.id = a.branch_id"
                    " WHERE ($1::int = 0 OR ($1 = 1 AND a.branch_id IN (SELECT id FROM org_unit WHERE path @> ARRAY[$2::bigint])))"
                    " AND ($3::bigint IS NULL OR a.id < $3) ORDER BY a.id DESC LIMIT $4",
                    4, p);
    db_call_send(call);
}

const struct rpc_entry rpc_quality_alert_list = { KEHU__V1__REQUEST__OP_QUALITY_ALERT_LIST, "quality_alert_list",
                                                  ACT_SESSION, 0, quality_alert_list };
