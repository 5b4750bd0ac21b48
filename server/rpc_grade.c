/* Grading (sql/0006_grading.sql, docs/grading.md): runs, a customer's
 * grades, overrides and their approval, the policy, credit assessments.
 *
 * A run is one SQL function (grade_run) evaluated on a connection of its
 * own (db_copy.c), never on the pool: it may take a minute over a million
 * customers and must not hold up the pipelined requests of everybody else.
 * Its notices ("kehu.progress 3/7 ranking") reach the requester as
 * grade.progress events. A dry run is the same transaction rolled back.
 * Runs also start from a schedule (grade_schedule_due: a full run when none
 * ran this month, a lifecycle run when none ran today); one run at a time
 * per kehud, and across kehuds by an advisory lock in grade_run. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include "conn.h"
#include "db_copy.h"
#include "grades.h"
#include "log.h"
#include "page.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"
#include "util.h"
#include "validate.h"

#define REASON_MAX 500
#define NOTES_MAX 2000
#define SHOW_HISTORY "50"
#define OVERRIDE_LIST_DEFAULT 500
#define OVERRIDE_LIST_MAX 1000
#define SCHEDULE_FIRST_MS 60000 /* the first look at the schedule, a minute after start */

/* ---- dimensions */

/* The grade as the dimension spells it ("a" -> "A", "VIP" -> "vip"), or NULL. */
static const char *grade_spelled(const char *dimension, const char *grade)
{
    const char *const *v = grade_values(dimension);
    for (; v && *v; v++)
        if (strcasecmp(*v, grade) == 0)
            return *v;
    return NULL;
}

/* "a, b, c" */
static char *names_list(struct arena *a, const char *const *names)
{
    char buf[256] = "";
    for (const char *const *v = names; v && *v; v++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", *buf ? ", " : "", *v);
    return arena_strdup(a, buf);
}

static char *dimension_list(struct arena *a)
{
    return names_list(a, grade_dimensions);
}

static char *values_list(struct arena *a, const char *dimension)
{
    return names_list(a, grade_values(dimension));
}

int grade_filter_parse(struct arena *a, const char *text, const char **dim, const char **grade, const char **why)
{
    const char *eq = strchr(text, '=');
    char *d = eq ? arena_printf(a, "%.*s", (int)(eq - text), text) : arena_strdup(a, "abc");
    const char *g = eq ? eq + 1 : text;
    for (char *p = d; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    if (!grade_values(d)) {
        *why = arena_printf(a, "no grade dimension '%s' (one of %s)", d, dimension_list(a));
        return -1;
    }
    *dim = d;
    *grade = grade_spelled(d, g);
    if (!*grade) {
        *why = arena_printf(a, "%s has no grade '%s' (one of %s)", d, g, values_list(a, d));
        return -1;
    }
    return 0;
}

static int is_manager(const struct principal *who)
{
    return who->role == KEHU__V1__ROLE__ADMIN || who->role == KEHU__V1__ROLE__BRANCH_MANAGER;
}

/* A date the client gave, or NULL after answering; "" stays "". */
static const char *check_date(struct req *r, const char *s, const char *field)
{
    if (!s || !*s)
        return "";
    const char *why = validate_date(s);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "%s %s", field, why);
        return NULL;
    }
    return s;
}

/* An override's until: a valid date, not in the past; "" (none) passes.
 * 0, or -1 after answering. */
static int check_until(struct req *r, const char *s)
{
    const char *until = check_date(r, s, "until");
    if (!until)
        return -1;
    char today[11];
    validate_today(today);
    if (*until && strcmp(until, today) < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "until", "until %s is in the past (today is %s)", until, today);
        return -1;
    }
    return 0;
}

/* ---- the run */

struct grade_job {
    struct server *srv;
    struct db_copy *x;
    struct req *r;     /* the request waiting for it; NULL for a scheduled run */
    char kind[12];
    char as_of[11];
    int dry;
    int backtest; /* dated before today and not live: a dry run, kept nowhere */
    int64_t actor;
    int64_t branch; /* a branch's own run; 0 the whole company */
    int64_t run_id;
    uint64_t started_ms;
    Kehu__V1__GradeRunResult *result; /* in r's arena, or NULL */
    enum { JOB_OK, JOB_FAILED } outcome;
    Kehu__V1__Code code;
    char message[256];
    char field[32]; /* the request's field the failure is about, "" none */
};

struct grade_state {
    uv_timer_t schedule;
    int schedule_on;
    uv_timer_t expire; /* the kept grades of overrides that ran out */
    int expire_on;
    int expiring;      /* a refresh in flight */
    int closing;       /* timers still closing at shutdown */
    struct grade_job *job; /* the run in progress on this kehud */
};

static struct grade_state *state_of(struct server *s)
{
    if (!s->grade) {
        s->grade = xcalloc(1, sizeof *s->grade);
    }
    return s->grade;
}

/* Ends the job: answers its request, closes its connection. */
static void job_end(struct grade_job *job)
{
    struct grade_state *gs = state_of(job->srv);
    if (gs->job == job)
        gs->job = NULL;
    db_copy_close(job->x);
    struct req *r = job->r;
    uint64_t ms = uv_now(job->srv->loop) - job->started_ms;
    if (job->outcome == JOB_OK)
        log_info(r ? r->conn->id : 0, r ? r->id : 0, "grading run %lld (%s%s, as of %s) done in %llu ms",
                 (long long)job->run_id, job->kind, job->dry ? ", dry" : "", job->as_of, (unsigned long long)ms);
    else
        log_warn(r ? r->conn->id : 0, r ? r->id : 0, "grading run (%s%s, as of %s) failed after %llu ms: %s", job->kind,
                 job->dry ? ", dry" : "", job->as_of, (unsigned long long)ms, job->message);
    if (r) {
        if (job->outcome == JOB_OK) {
            req_reply_result(r, KEHU__V1__RESPONSE__RESULT_GRADE_RUN, job->result);
        } else {
            req_fail(r, job->code, job->field, "%s", job->message);
        }
    }
    free(job);
}

static void job_fail(struct grade_job *job, Kehu__V1__Code code, const char *message)
{
    job->outcome = JOB_FAILED;
    job->code = code;
    snprintf(job->message, sizeof job->message, "%s", message);
    job_end(job);
}

static int job_db_failed(struct grade_job *job, const struct db_result *res)
{
    if (res->outcome == DB_OK)
        return 0;
    if (res->outcome == DB_UNAVAILABLE)
        job_fail(job, KEHU__V1__CODE__UNAVAILABLE, "the database is not available");
    else if (strcmp(res->sqlstate, "55P03") == 0)
        job_fail(job, KEHU__V1__CODE__FAILED_PRECONDITION, "another grading run is in progress");
    else if (strcmp(res->sqlstate, "22023") == 0 || strcmp(res->sqlstate, "KH400") == 0 ||
             strcmp(res->sqlstate, "KH412") == 0) {
        snprintf(job->field, sizeof job->field, "%s", res->column ? res->column : "");
        job_fail(job, strcmp(res->sqlstate, "KH412") == 0 ? KEHU__V1__CODE__FAILED_PRECONDITION
                                                          : KEHU__V1__CODE__INVALID_ARGUMENT,
                 res->primary ? res->primary : "the grading run was refused");
    }
    else {
        log_error(0, 0, "grading run: %s %s", res->sqlstate, res->message);
        job_fail(job, KEHU__V1__CODE__INTERNAL, "the grading run failed (see kehud's log)");
    }
    return -1;
}

static void on_notice(const char *message, void *arg)
{
    struct grade_job *job = arg;
    const char *prefix = "kehu.progress ";
    if (strncmp(message, prefix, strlen(prefix)) != 0)
        return;
    const char *detail = message + strlen(prefix);
    log_debug(0, 0, "grading run: %s", detail);
    struct req *r = job->r;
    if (!r || r->conn->state != CONN_OPEN)
        return;
    Kehu__V1__Event ev = KEHU__V1__EVENT__INIT;
    ev.kind = "grade.progress";
    ev.actor_id = job->actor;
    ev.at_ms = now_unix_ms();
    ev.detail = (char *)detail;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.body_case = KEHU__V1__FRAME__BODY_EVENT;
    f.event = &ev;
    conn_send(r->conn, &f);
}

static void job_finished(const struct db_result *res, void *arg)
{
    struct grade_job *job = arg;
    if (job_db_failed(job, res) < 0)
        return;
    job->outcome = JOB_OK;
    job_end(job);
}

static struct row_msg grade_move_row = ROW_MSG(kehu__v1__grade_move__descriptor,
    "dimension,from,to,customers");

static void job_counts(const struct db_result *res, void *arg)
{
    struct grade_job *job = arg;
    if (job_db_failed(job, res) < 0)
        return;
    struct req *r = job->r;
    if (r) {
        Kehu__V1__GradeRunResult *g = job->result;
        int n = db_rows(res, 0), nc = 0, nm = 0;
        g->counts = arena_alloc(&r->arena, sizeof *g->counts * (size_t)(n ? n : 1));
        g->moves = arena_alloc(&r->arena, sizeof *g->moves * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) {
            if (strcmp(db_get(res, 0, i, 0), "c") == 0) {
                Kehu__V1__GradeCount *c = arena_alloc(&r->arena, sizeof *c);
                kehu__v1__grade_count__init(c);
                c->dimension = rpc_col(r, res, 0, i, 1);
                c->grade = rpc_col(r, res, 0, i, 2);
                c->customers = db_get_i64(res, 0, i, 4);
                g->counts[nc++] = c;
            } else {
                Kehu__V1__GradeMove *m = row_msg(r, &grade_move_row, res, 0, i, 1);
                g->moves[nm++] = m;
            }
        }
        g->n_counts = (size_t)nc;
        g->n_moves = (size_t)nm;
    }
    db_copy_exec(job->x, job->dry ? "ROLLBACK" : audit_commit_sql(job->srv, job->r, job->actor, "grade_run", job->kind),
                 job_finished, job);
}

static void job_header(const struct db_result *res, void *arg)
{
    struct grade_job *job = arg;
    if (job_db_failed(job, res) < 0)
        return;
    struct req *r = job->r;
    if (r && db_rows(res, 0) == 1) {
        Kehu__V1__GradeRunResult *g = arena_alloc(&r->arena, sizeof *g);
        kehu__v1__grade_run_result__init(g);
        g->run_id = job->dry ? 0 : db_get_i64(res, 0, 0, 0);
        g->kind = rpc_col(r, res, 0, 0, 1);
        g->as_of = rpc_col(r, res, 0, 0, 2);
        g->dry_run = job->dry;
        g->params = rpc_col(r, res, 0, 0, 3);
        g->customers = db_get_i64(res, 0, 0, 4);
        g->changed = db_get_i64(res, 0, 0, 5);
        g->warnings_raised = db_get_i64(res, 0, 0, 6);
        g->duration_ms = db_get_i64(res, 0, 0, 7);
        g->started_at_ms = db_get_i64(res, 0, 0, 8);
        g->started_by = rpc_col(r, res, 0, 0, 9);
        g->branch = rpc_col(r, res, 0, 0, 10);
        g->backtest = job->backtest;
        job->result = g;
    }
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT 'c', x.dimension, x.grade, NULL, x.customers, x.i FROM grading_run r,"
             " ROWS FROM (jsonb_to_recordset(r.counts) AS (dimension text, grade text, customers bigint))"
             " WITH ORDINALITY x(dimension, grade, customers, i)"
             " WHERE r.id = %lld"
             " UNION ALL SELECT 'm', y.dimension, coalesce(y.\"from\", ''), coalesce(y.\"to\", ''), y.customers,"
             " 100000000 + y.i FROM grading_run r,"
             " ROWS FROM (jsonb_to_recordset(r.moves) AS (dimension text, \"from\" text, \"to\" text, customers bigint))"
             " WITH ORDINALITY y(dimension, \"from\", \"to\", customers, i) WHERE r.id = %lld ORDER BY 6",
             (long long)job->run_id, (long long)job->run_id);
    db_copy_exec(job->x, sql, job_counts, job);
}

static void job_ran(const struct db_result *res, void *arg)
{
    struct grade_job *job = arg;
    if (job_db_failed(job, res) < 0)
        return;
    job->run_id = db_get_i64(res, 0, 0, 0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT r.id, r.kind, r.as_of::text, r.params::text, r.customers, r.changed, r.warnings_raised,"
             " r.duration_ms, " SQL_MS("r.started_at") ", coalesce(u.username, ''), coalesce(b.name, '')"
             " FROM grading_run r LEFT JOIN app_user u ON u.id = r.started_by"
             " LEFT JOIN org_unit b ON b.id = r.branch_id WHERE r.id = %lld",
             (long long)job->run_id);
    db_copy_exec(job->x, sql, job_header, job);
}

static void job_connected(const struct db_result *res, void *arg)
{
    struct grade_job *job = arg;
    if (res->outcome != DB_OK) {
        job_fail(job, KEHU__V1__CODE__UNAVAILABLE, "the database is not available");
        return;
    }
    db_copy_on_notice(job->x, on_notice, job);
    /* the values are checked (kind, a valid date) or numbers: safe to write into the text */
    char sql[640], actor[24] = "NULL", branch[24] = "NULL";
    if (job->actor)
        snprintf(actor, sizeof actor, "%lld", (long long)job->actor);
    if (job->branch)
        snprintf(branch, sizeof branch, "%lld", (long long)job->branch);
    snprintf(sql, sizeof sql,
             "SET application_name = 'kehud grading'; SET statement_timeout = 0;"
             /* a million customers' aggregates and sorts fit in memory: no spilling to disk (the
              * aggregate over the transactions holds ~1.5 kB a customer, hence the hash tables' 2 GB) */
             " SET work_mem = '512MB'; SET hash_mem_multiplier = 4; SET temp_buffers = '1GB';"
             /* one core: parallel workers would double the run's CPU (merging the partial aggregates
              * costs about what they save) and take the core that serves requests */
             " SET max_parallel_workers_per_gather = 0; BEGIN;"
             " SELECT grade_run('%s', '%s'::date, %s, %s, %s)",
             job->kind, job->as_of, job->dry ? "true" : "false", actor, branch);
    db_copy_exec(job->x, sql, job_ran, job);
}

/* Starts a run; r (may be NULL) is answered when it ends. */
static void job_start(struct server *s, struct req *r, const char *kind, const char *as_of, int dry, int backtest,
                      int64_t actor, int64_t branch)
{
    struct grade_state *gs = state_of(s);
    if (gs->job) {
        if (r)
            req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, NULL,
                     "a grading run (%s, as of %s) is in progress on this server", gs->job->kind, gs->job->as_of);
        return;
    }
    struct grade_job *job = xcalloc(1, sizeof *job);
    job->srv = s;
    job->r = r;
    snprintf(job->kind, sizeof job->kind, "%s", kind);
    snprintf(job->as_of, sizeof job->as_of, "%s", as_of);
    job->dry = dry;
    job->backtest = backtest;
    job->actor = actor;
    job->branch = branch;
    job->started_ms = uv_now(s->loop);
    gs->job = job;
    log_info(r ? r->conn->id : 0, r ? r->id : 0, "grading run (%s%s, as of %s) starting", kind, dry ? ", dry" : "",
             as_of);
    job->x = db_copy_open(s->loop, s->cfg.db, job_connected, job);
}

static void grade_run(struct req *r)
{
    const Kehu__V1__GradeRun *m = r->msg->grade_run;
    const struct principal *who = req_who(r);
    if (!is_manager(who)) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL, "only an admin or a branch manager starts a grading run");
        return;
    }
    const char *kind = m && m->kind && *m->kind ? m->kind : "full";
    if (strcmp(kind, "full") != 0 && strcmp(kind, "lifecycle") != 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "kind", "kind must be full or lifecycle, not '%s'", kind);
        return;
    }
    char today[11];
    validate_today(today);
    const char *as_of = check_date(r, m ? m->as_of : NULL, "as_of");
    if (!as_of)
        return;
    if (!*as_of)
        as_of = today;
    /* company-wide runs are head office's; a branch manager grades their own branch (a full run only
     * where ABC ranks within each branch: the SQL refuses it otherwise, saying so) */
    int64_t branch = 0;
    if (who->role != KEHU__V1__ROLE__ADMIN) {
        if (!who->branch_id) {
            req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL,
                     "a branch manager grades their own branch, and you are not placed in one");
            return;
        }
        branch = who->branch_id;
    }
    /* a run dated before today is a back-test unless an admin asks for a live one (the SQL keeps the
     * live grading moving forward in time) */
    int backtest = strcmp(as_of, today) < 0 && !(m && m->live);
    if (m && m->live && strcmp(as_of, today) < 0 && who->role != KEHU__V1__ROLE__ADMIN) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "live",
                 "only an admin makes a back-dated run the live grading; without live it is a back-test");
        return;
    }
    job_start(r->srv, r, kind, as_of, (m && m->dry_run) || backtest, backtest, who->user_id, branch);
}

const struct rpc_entry rpc_grade_run = { KEHU__V1__REQUEST__OP_GRADE_RUN, "grade_run", ACT_CUSTOMER_WRITE, 0,
                                         grade_run };

/* ---- the schedule */

static struct db_stmt schedule_due = DB_STMT("SELECT grade_schedule_due(current_date)");

static void schedule_checked(const struct db_result *res, void *arg)
{
    struct server *s = arg;
    if (res->outcome != DB_OK || db_rows(res, 0) != 1 || !db_get(res, 0, 0, 0))
        return;
    if (s->stopping || state_of(s)->job)
        return;
    char today[11];
    validate_today(today);
    job_start(s, NULL, db_get(res, 0, 0, 0), today, 0, 0, 0, 0);
}

static void on_schedule(uv_timer_t *t)
{
    struct server *s = t->data;
    if (s->stopping || state_of(s)->job || !db_pool_ready(s->db))
        return;
    db_query(s->db, &schedule_due, 0, NULL, schedule_checked, s);
}

/* The grades kept on customer rows (sql/0034, 0038) are exact until an
 * override behind them ends by the calendar: readers then compute them (a
 * date compare on the row tells them), and this timer refreshes such rows
 * (customer_list_grades_expire: an index probe, normally nothing to do), so
 * that no read writes and the slower exact path lasts minutes at most. */
static struct db_stmt grades_expire = DB_STMT(
    /* several kehuds on one database: one at a time refreshes, the others
     * pass (their rows would be waits on its row locks, then no-ops) */
    "SELECT customer_list_grades_expire() WHERE pg_try_advisory_xact_lock(hashtext('kehu.grades_expire'))");

static void expire_done(const struct db_result *res, void *arg)
{
    struct server *s = arg;
    if (s->grade)
        s->grade->expiring = 0;
    if (res->outcome != DB_OK)
        log_warn(0, 0, "refreshing the grades of ended overrides: %s", res->message ? res->message : "database unavailable");
}

static void on_expire(uv_timer_t *t)
{
    struct server *s = t->data;
    struct grade_state *gs = state_of(s);
    if (s->stopping || gs->expiring || !db_pool_ready(s->db))
        return;
    gs->expiring = 1;
    db_query(s->db, &grades_expire, 0, NULL, expire_done, s);
}

static void expire_start(struct server *s)
{
    struct grade_state *gs = state_of(s);
    if (s->cfg.grade_expire_schedule <= 0)
        return;
    uv_timer_init(s->loop, &gs->expire);
    gs->expire.data = s;
    uint64_t every = (uint64_t)s->cfg.grade_expire_schedule * 1000;
    uv_timer_start(&gs->expire, on_expire, every, every);
    uv_unref((uv_handle_t *)&gs->expire);
    gs->expire_on = 1;
}

void grade_schedule_start(struct server *s)
{
    struct grade_state *gs = state_of(s);
    expire_start(s);
    if (s->cfg.grade_schedule <= 0)
        return;
    uv_timer_init(s->loop, &gs->schedule);
    gs->schedule.data = s;
    uint64_t every = (uint64_t)s->cfg.grade_schedule * 1000;
    uv_timer_start(&gs->schedule, on_schedule, every < SCHEDULE_FIRST_MS ? every : SCHEDULE_FIRST_MS, every);
    uv_unref((uv_handle_t *)&gs->schedule);
    gs->schedule_on = 1;
}

/* The state goes with the last of its timers to close. */
static void schedule_closed(uv_handle_t *h)
{
    struct server *s = h->data;
    struct grade_state *gs = s->grade;
    if (--gs->closing > 0)
        return;
    free(gs);
    s->grade = NULL;
}

void grade_shutdown(struct server *s)
{
    struct grade_state *gs = s->grade;
    if (!gs)
        return;
    if (gs->job) /* its transaction rolls back with the connection */
        job_fail(gs->job, KEHU__V1__CODE__UNAVAILABLE, "kehud is stopping: the grading run was abandoned");
    gs->closing = gs->schedule_on + gs->expire_on;
    if (gs->expire_on) {
        gs->expire_on = 0;
        uv_timer_stop(&gs->expire);
        uv_close((uv_handle_t *)&gs->expire, schedule_closed);
    }
    if (gs->schedule_on) {
        gs->schedule_on = 0;
        uv_timer_stop(&gs->schedule);
        uv_close((uv_handle_t *)&gs->schedule, schedule_closed);
    }
    if (!gs->closing) {
        free(gs);
        s->grade = NULL;
    }
}

/* ---- GradeShow */

#define OVERRIDE_COLUMNS                                                                                   \
    "o.id, o.customer_id, cu.name, o.dimension, o.grade, o.reason, coalesce(o.until::text, ''),"           \
    " CASE WHEN o.status = 'active' AND o.until < current_date THEN 'expired' ELSE o.status END,"          \
    " coalesce(ru.username, ''), coalesce(au.username, ''), " SQL_MS("o.created_at")
#define OVERRIDE_JOINS                                                                                     \
    " JOIN customer cu ON cu.id = o.customer_id LEFT JOIN app_user ru ON ru.id = o.requested_by"          \
    " LEFT JOIN app_user au ON au.id = o.approved_by "

static struct row_msg override_row = ROW_MSG(kehu__v1__grade_override_info__descriptor,
    "id,customer_id,customer_name,dimension,grade,reason,until,status,requested_by,approved_by,"
    "created_at_ms");

static Kehu__V1__GradeOverrideInfo *override_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__GradeOverrideInfo *o = row_msg(r, &override_row, res, stmt, row, 0);
    audit_note_customer(r, o->customer_id);
    return o;
}

static struct db_stmt show_header = DB_STMT(
    "SELECT c.name, coalesce(l.id, 0), coalesce(l.as_of::text, ''), coalesce((g.metric * 100)::bigint, 0),"
    " coalesce((g.sales * 100)::bigint, 0), coalesce((g.aum * 100)::bigint, 0), coalesce(g.score::text, ''),"
    " coalesce(g.since::text, ''), coalesce(g.last_purchase::text, ''),"
    " coalesce((SELECT min(d.due)::text FROM customer_contacts_due(c.id) d), ''),"
    " coalesce(grade_service_text(sl.level), ''),"
    " CASE WHEN g.abc_held THEN 'held at B: credit ' || coalesce(grade_of(c.id, 'credit'), g.credit, '?')"
    "  || ' is below the floor ' || grade_policy_text('abc.credit_floor') || ' (abc.credit_floor)' ELSE '' END,"
    " sl.level, sl.reason, coalesce(grade_volume_note(c.id), '')"
    " FROM customer c LEFT JOIN customer_grade g ON g.customer_id = c.id"
    /* the service level: the higher of the ABC grade and the asset tier's (sql/0024) */
    " CROSS JOIN LATERAL customer_service_level(c.id) sl"
    /* every run grades every live customer of its scope (the company, or one branch): the last such run is the
     * one that graded it (unchanged rows are not rewritten) */
    " LEFT JOIN LATERAL (SELECT r.id, r.as_of FROM grading_run r WHERE g.customer_id IS NOT NULL"
    "  AND (r.branch_id IS NULL OR r.branch_id = c.branch_id) ORDER BY r.id DESC LIMIT 1) l ON true WHERE c.id = $1");
/* The grades in force, each with the run and date that set it: the last
 * history row where it changed, or the override's day. */
static struct db_stmt show_grades = DB_STMT(
    "SELECT n.dimension, n.grade, n.computed, n.overridden, n.is_new,"
    " CASE WHEN n.overridden THEN 0 ELSE coalesce(h.run_id, 0) END,"
    " coalesce(CASE WHEN n.overridden THEN o.created::text ELSE h.as_of::text END, '')"
    " FROM grade_now($1) n"
    " LEFT JOIN LATERAL (SELECT x.run_id, x.as_of FROM grade_history x WHERE x.customer_id = $1"
    "  AND x.after[array_position(grade_dims(), n.dimension)] IS DISTINCT FROM"
    "      x.before[array_position(grade_dims(), n.dimension)]"
    "  ORDER BY x.run_id DESC LIMIT 1) h ON true"
    " LEFT JOIN LATERAL (SELECT (y.created_at AT TIME ZONE 'UTC')::date AS created FROM grade_override y"
    "  WHERE y.customer_id = $1 AND y.dimension = n.dimension AND y.status = 'active'"
    "  ORDER BY y.id DESC LIMIT 1) o ON true");
static struct db_stmt show_history = DB_STMT(
    "SELECT h.run_id, h.as_of::text, u.dim, coalesce(h.before[u.i], ''), coalesce(h.after[u.i], '')"
    " FROM (SELECT * FROM grade_history WHERE customer_id = $1 ORDER BY run_id DESC LIMIT " SHOW_HISTORY ") h"
    " CROSS JOIN LATERAL unnest(grade_dims()) WITH ORDINALITY u(dim, i)"
    " WHERE h.before[u.i] IS DISTINCT FROM h.after[u.i] ORDER BY h.run_id DESC, u.i");
static struct db_stmt show_overrides = DB_STMT(
    "SELECT " OVERRIDE_COLUMNS " FROM grade_override o" OVERRIDE_JOINS "WHERE o.customer_id = $1"
    " ORDER BY o.id DESC LIMIT " SHOW_HISTORY);
static struct db_stmt show_assessments = DB_STMT(
    "SELECT a.id, a.grade, coalesce(u.username, ''), a.date::text, coalesce(a.notes, '') FROM credit_assessment a"
    " LEFT JOIN app_user u ON u.id = a.reviewer_id WHERE a.customer_id = $1 ORDER BY a.id DESC LIMIT " SHOW_HISTORY);

static struct row_msg grade_change_row = ROW_MSG(kehu__v1__grade_change__descriptor,
    "run_id,as_of,dimension,from,to");

static struct row_msg credit_assessment_row = ROW_MSG(kehu__v1__credit_assessment__descriptor,
    "id,grade,reviewer,date,notes");

static void show_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_one(r, res, "customer_id", "no such customer"))
        return;
    Kehu__V1__CustomerGrades *g = arena_alloc(&r->arena, sizeof *g);
    kehu__v1__customer_grades__init(g);
    g->customer_id = r->msg->grade_show->customer_id;
    g->customer_name = rpc_col(r, res, 0, 0, 0);
    g->run_id = db_get_i64(res, 0, 0, 1);
    g->as_of = rpc_col(r, res, 0, 0, 2);
    g->metric_minor = db_get_i64(res, 0, 0, 3);
    g->sales_minor = db_get_i64(res, 0, 0, 4);
    g->aum_minor = db_get_i64(res, 0, 0, 5);
    g->score = rpc_col(r, res, 0, 0, 6);
    g->relationship_since = rpc_col(r, res, 0, 0, 7);
    g->last_purchase = rpc_col(r, res, 0, 0, 8);
    g->next_contact_due = rpc_col(r, res, 0, 0, 9);
    g->service = rpc_col(r, res, 0, 0, 10);
    g->abc_note = rpc_col(r, res, 0, 0, 11);
    g->service_level = rpc_col(r, res, 0, 0, 12);
    g->service_reason = rpc_col(r, res, 0, 0, 13);
    g->volume_note = rpc_col(r, res, 0, 0, 14);

    int n = db_rows(res, 1);
    g->grades = arena_alloc(&r->arena, sizeof *g->grades * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__Grade *x = arena_alloc(&r->arena, sizeof *x);
        kehu__v1__grade__init(x);
        x->dimension = rpc_col(r, res, 1, i, 0);
        x->grade = rpc_col(r, res, 1, i, 1);
        x->overridden = db_get_bool(res, 1, i, 3);
        x->computed = x->overridden ? rpc_col(r, res, 1, i, 2) : "";
        x->is_new = db_get_bool(res, 1, i, 4);
        x->run_id = db_get_i64(res, 1, i, 5);
        x->set_on = rpc_col(r, res, 1, i, 6);
        g->grades[i] = x;
    }
    g->n_grades = (size_t)n;

    ROW_MSGS(r, &grade_change_row, res, 2, db_rows(res, 2), g, history);

    n = db_rows(res, 3);
    g->overrides = arena_alloc(&r->arena, sizeof *g->overrides * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        g->overrides[i] = override_from_row(r, res, 3, i);
    g->n_overrides = (size_t)n;

    ROW_MSGS(r, &credit_assessment_row, res, 4, db_rows(res, 4), g, assessments);

    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_GRADES, g);
}

static void show_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const char *p[] = { rpc_num(r, ref->id) };
    struct db_call *call = db_call_new(r->srv->db, show_done, r);
    db_call_add(call, &show_header, 1, p);
    db_call_add(call, &show_grades, 1, p);
    db_call_add(call, &show_history, 1, p);
    db_call_add(call, &show_overrides, 1, p);
    db_call_add(call, &show_assessments, 1, p);
    db_call_send(call);
}

static void grade_show(struct req *r)
{
    const Kehu__V1__GradeShow *m = r->msg->grade_show;
    rpc_customer_load(r, m ? m->customer_id : 0, ACT_CUSTOMER_READ, show_loaded);
}

const struct rpc_entry rpc_grade_show = { KEHU__V1__REQUEST__OP_GRADE_SHOW, "grade_show", ACT_CUSTOMER_READ, 0,
                                          grade_show };

/* ---- GradeOverride */

/* A new override ($6 status): an active one replaces the one in force on
 * the dimension and is announced; a pending one is announced to the branch
 * for its managers. */
static struct db_stmt override_insert = DB_STMT(
    "WITH c AS (SELECT id, branch_id, owner_id, version FROM customer WHERE id = $1),"
    " ended AS (UPDATE grade_override SET status = 'revoked', ended_at = now(), ended_by = $7"
    "  WHERE customer_id = $1 AND dimension = $2 AND status = 'active' AND $6 = 'active' RETURNING id),"
    " o AS (INSERT INTO grade_override (customer_id, branch_id, dimension, grade, reason, until, status, requested_by,"
    "  approved_by) SELECT c.id, c.branch_id, $2, $3, $4, $5::date, $6, $7, CASE WHEN $6 = 'active' THEN $7::bigint END"
    "  FROM c RETURNING *),"
    " ann AS (SELECT kehu_announce_detail(CASE WHEN $6 = 'active' THEN 'grade.changed' ELSE 'grade.pending' END,"
    "  c.id, c.branch_id, c.version, c.owner_id, $7, $2 || ':' || $3 || ' (override)') FROM c)"
    " SELECT " OVERRIDE_COLUMNS " FROM o" OVERRIDE_JOINS " CROSS JOIN (SELECT count(*) FROM ann) a"
    " CROSS JOIN (SELECT count(*) FROM ended) e");
/* No grade: the overrides in force or pending on the dimension end. */
static struct db_stmt override_revoke = DB_STMT(
    "WITH o AS (UPDATE grade_override SET status = 'revoked', ended_at = now(), ended_by = $3"
    "  WHERE customer_id = $1 AND dimension = $2 AND status IN ('active', 'pending') RETURNING *),"
    " ann AS (SELECT kehu_announce_detail('grade.changed', c.id, c.branch_id, c.version, c.owner_id, $3,"
    "  $2 || ': override ended') FROM customer c WHERE c.id = $1 AND EXISTS (SELECT 1 FROM o))"
    " SELECT " OVERRIDE_COLUMNS " FROM o" OVERRIDE_JOINS " CROSS JOIN (SELECT count(*) FROM ann) a ORDER BY o.id DESC");
static struct db_stmt override_is_new = DB_STMT("SELECT coalesce((SELECT abc_new FROM customer_grade WHERE customer_id = $1), false)");

static void override_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int stmt = res->nres - 1;
    if (db_rows(res, stmt) < 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "dimension", "no override is in force or pending on %s",
                 r->msg->grade_override->dimension);
        return;
    }
    Kehu__V1__GradeOverrideInfo *o = override_from_row(r, res, stmt, 0);
    log_info(r->conn->id, r->id, "override %lld of customer %lld: %s %s (%s)", (long long)o->id,
             (long long)o->customer_id, o->dimension, o->grade, o->status);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_OVERRIDE, o);
}

struct override_state {
    int64_t customer_id;
    const char *dimension, *grade, *status;
};

static void override_write(struct req *r)
{
    const Kehu__V1__GradeOverride *m = r->msg->grade_override;
    struct override_state *st = r->state;
    const char *actor = rpc_num(r, req_who(r)->user_id);
    if (!st->grade) {
        const char *p[] = { rpc_num(r, st->customer_id), st->dimension, actor };
        audit_query(r, &override_revoke, 3, p, override_done);
        return;
    }
    const char *p[] = { rpc_num(r, st->customer_id), st->dimension, st->grade, m->reason,
                        *m->until ? m->until : NULL, st->status, actor };
    audit_query(r, &override_insert, 7, p, override_done);
}

static void override_new_checked(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    struct override_state *st = r->state;
    if (db_get_bool(res, 0, 0, 0) && strcmp(st->grade, "C") != 0) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "grade",
                 "the customer is new (its relationship is younger than new_months): only an admin grades it "
                 "other than C");
        return;
    }
    override_write(r);
}

static void override_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const struct principal *who = req_who(r);
    struct override_state *st = ref->ctx;
    st->customer_id = ref->id;
    r->state = st;
    if (!st->grade) {
        override_write(r);
        return;
    }
    /* raising to A by anyone but a manager waits for a branch manager's approval */
    st->status = strcmp(st->grade, "A") == 0 && !is_manager(who) &&
                         (strcmp(st->dimension, "abc") == 0 || strcmp(st->dimension, "volume") == 0)
                     ? "pending"
                     : "active";
    if (strcmp(st->dimension, "abc") == 0 && who->role != KEHU__V1__ROLE__ADMIN) {
        const char *p[] = { rpc_num(r, ref->id) };
        db_query(r->srv->db, &override_is_new, 1, p, override_new_checked, r);
        return;
    }
    override_write(r);
}

static void grade_override(struct req *r)
{
    const Kehu__V1__GradeOverride *m = r->msg->grade_override;
    if (!m) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "customer_id", "a customer id is required");
        return;
    }
    struct override_state *st = arena_alloc(&r->arena, sizeof *st);
    st->dimension = m->dimension && *m->dimension ? m->dimension : NULL;
    if (!grade_values(st->dimension)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "dimension", "dimension must be one of %s%s%s",
                 dimension_list(&r->arena), st->dimension ? ", not " : "", st->dimension ? st->dimension : "");
        return;
    }
    if (m->grade && *m->grade) {
        st->grade = grade_spelled(st->dimension, m->grade);
        if (!st->grade) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "grade", "%s grades are %s, not '%s'", st->dimension,
                     values_list(&r->arena, st->dimension), m->grade);
            return;
        }
        const char *why = rpc_text_problem(m->reason, REASON_MAX, 1);
        if (!m->reason || !*m->reason || why) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "reason %s",
                     why ? why : "is required: say why the grade is set by hand");
            return;
        }
        if (check_until(r, m->until) < 0)
            return;
    }
    rpc_customer_load_ctx(r, m->customer_id, ACT_GRADE_OVERRIDE, override_loaded, st, NULL);
}

const struct rpc_entry rpc_grade_override = { KEHU__V1__REQUEST__OP_GRADE_OVERRIDE, "grade_override",
                                              ACT_GRADE_OVERRIDE, 0, grade_override };

/* ---- GradeApprove */

static struct db_stmt approve_find = DB_STMT("SELECT customer_id, status FROM grade_override WHERE id = $1");
static struct db_stmt approve_stmt = DB_STMT(
    "WITH p AS (SELECT * FROM grade_override WHERE id = $1 AND status = 'pending' FOR UPDATE),"
    " ended AS (UPDATE grade_override x SET status = 'revoked', ended_at = now(), ended_by = $3 FROM p"
    "  WHERE NOT $2 AND x.customer_id = p.customer_id AND x.dimension = p.dimension AND x.status = 'active'"
    "  RETURNING x.id),"
    " o AS (UPDATE grade_override x SET status = CASE WHEN $2 THEN 'rejected' ELSE 'active' END, approved_by = $3,"
    "  ended_at = CASE WHEN $2 THEN now() END, ended_by = CASE WHEN $2 THEN $3::bigint END FROM p WHERE x.id = p.id"
    "  RETURNING x.*),"
    " ann AS (SELECT kehu_announce_detail('grade.changed', c.id, c.branch_id, c.version, c.owner_id, $3,"
    "  o.dimension || ':' || o.grade || ' (override approved)') FROM o JOIN customer c ON c.id = o.customer_id"
    "  WHERE NOT $2)"
    " SELECT " OVERRIDE_COLUMNS " FROM o" OVERRIDE_JOINS " CROSS JOIN (SELECT count(*) FROM ann) a"
    " CROSS JOIN (SELECT count(*) FROM ended) e");

static void approve_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) { /* someone else decided meanwhile */
        req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, "override_id", "the override is no longer pending");
        return;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_OVERRIDE, override_from_row(r, res, 0, 0));
}

static void approve_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    (void)ref;
    const Kehu__V1__GradeApprove *m = r->msg->grade_approve;
    const char *p[] = { rpc_num(r, m->override_id), m->reject ? "true" : "false", rpc_num(r, req_who(r)->user_id) };
    audit_query(r, &approve_stmt, 3, p, approve_done);
}

static void approve_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__GradeApprove *m = r->msg->grade_approve;
    if (!req_db_one(r, res, "override_id", "no override %lld", (long long)m->override_id))
        return;
    const char *status = db_get(res, 0, 0, 1);
    if (strcmp(status, "pending") != 0) {
        req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, "override_id", "override %lld is %s, not pending",
                 (long long)m->override_id, status);
        return;
    }
    /* an override of a customer the caller may not read is a missing override */
    rpc_customer_load_as(r, db_get_i64(res, 0, 0, 0), ACT_GRADE_OVERRIDE, approve_loaded, NULL, "override_id",
                         arena_printf(&r->arena, "no override %lld", (long long)m->override_id));
}

static void grade_approve(struct req *r)
{
    const Kehu__V1__GradeApprove *m = r->msg->grade_approve;
    if (!m || m->override_id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "override_id", "an override id is required");
        return;
    }
    if (!is_manager(req_who(r))) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL, "only a branch manager or an admin approves overrides");
        return;
    }
    const char *p[] = { rpc_num(r, m->override_id) };
    db_query(r->srv->db, &approve_find, 1, p, approve_found, r);
}

const struct rpc_entry rpc_grade_approve = { KEHU__V1__REQUEST__OP_GRADE_APPROVE, "grade_approve", ACT_GRADE_OVERRIDE,
                                             0, grade_approve };

/* ---- GradeOverrideList */

/* A page, newest first: OVERRIDE_COLUMNS, then the count after the cursor
 * ($5) and the key; $6 the page plus one. */
static struct db_stmt override_list = DB_STMT(
    "SELECT " OVERRIDE_COLUMNS ", count(*) OVER (), o.id::text FROM grade_override o" OVERRIDE_JOINS
    " JOIN customer c ON c.id = o.customer_id"
    " WHERE" RPC_SCOPE_SQL(1, 2) "AND ($3 = 'all' OR ($3 = 'expired' AND o.status = 'active' AND o.until < current_date)"
    "  OR (o.status = $3 AND NOT ($3 = 'active' AND o.until < current_date)))"
    " AND ($4::bigint = 0 OR o.customer_id = $4::bigint) AND ($5::bigint IS NULL OR o.id < $5::bigint)"
    " ORDER BY o.id DESC LIMIT $6");

static void override_list_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__GradeOverrides *l = arena_alloc(&r->arena, sizeof *l);
    kehu__v1__grade_overrides__init(l);
    int n = page_end(r, r->state, res, 0, 12, &l->next_cursor, &l->remaining);
    l->overrides = arena_alloc(&r->arena, sizeof *l->overrides * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        l->overrides[i] = override_from_row(r, res, 0, i);
    l->n_overrides = (size_t)n;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_OVERRIDES, l);
}

static void grade_override_list(struct req *r)
{
    const Kehu__V1__GradeOverrideList *m = r->msg->grade_override_list;
    const char *status = m && m->status && *m->status ? m->status : "pending";
    static const char *const statuses[] = { "pending", "active", "rejected", "revoked", "expired", "all" };
    int ok = 0;
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        ok |= strcmp(status, statuses[i]) == 0;
    if (!ok) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "status",
                 "status must be pending, active, rejected, revoked, expired or all");
        return;
    }
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "grade_override_list", "i", m ? m->limit : 0, m ? m->after : NULL, OVERRIDE_LIST_DEFAULT,
                   OVERRIDE_LIST_MAX) < 0)
        return;
    r->state = pg;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *p[] = { kind, id, status, rpc_num(r, m ? m->customer_id : 0), pg->key[0], pg->fetch };
    db_query(r->srv->db, &override_list, 6, p, override_list_done, r);
}

const struct rpc_entry rpc_grade_override_list = { KEHU__V1__REQUEST__OP_GRADE_OVERRIDE_LIST, "grade_override_list",
                                                   ACT_CUSTOMER_READ, 0, grade_override_list };

/* ---- GradePolicyShow, GradePolicySet */

static struct db_stmt policy_rows = DB_STMT("SELECT key, value, description FROM grade_policy ORDER BY position");
static struct db_stmt policy_festivals = DB_STMT(
    "SELECT date::text, occasion FROM festival WHERE date >= current_date - 31 ORDER BY date LIMIT 8");
static struct db_stmt policy_set = DB_STMT("SELECT grade_policy_set($1::text[], $2::text[], $3)");
/* After a change of a contact interval or the grace, in its transaction: every pool rule must agree with
 * the service policy (sql/0023), or, forced, what they leave contradicting it. */
static struct db_stmt policy_agree = DB_STMT("SELECT policy_agree_assert(NULL, true)");
static struct db_stmt policy_contradictions = DB_STMT("SELECT field || ': ' || problem FROM policy_contradictions()");

static struct row_msg festival_row = ROW_MSG(kehu__v1__festival__descriptor, "date,occasion");

static void policy_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    const Kehu__V1__GradePolicySet *m = r->msg->op_case == KEHU__V1__REQUEST__OP_GRADE_POLICY_SET
                                            ? r->msg->grade_policy_set : NULL;
    int forced = m && m->force;
    int rows = res->nres - 2, fest = res->nres - 1;
    Kehu__V1__GradePolicy *p = arena_alloc(&r->arena, sizeof *p);
    kehu__v1__grade_policy__init(p);
    if (forced) /* statement 1: what the set leaves contradicting */
        p->warnings = rpc_cells(r, res, 1, 0, &p->n_warnings);
    ROW_MSGS(r, &rpc_policy_value_row, res, rows, db_rows(res, rows), p, values);
    ROW_MSGS(r, &festival_row, res, fest, db_rows(res, fest), p, festivals);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_POLICY, p);
}

static void grade_policy_show(struct req *r)
{
    struct db_call *call = db_call_new(r->srv->db, policy_done, r);
    db_call_add(call, &policy_rows, 0, NULL);
    db_call_add(call, &policy_festivals, 0, NULL);
    db_call_send(call);
}

const struct rpc_entry rpc_grade_policy_show = { KEHU__V1__REQUEST__OP_GRADE_POLICY_SHOW, "grade_policy_show",
                                                 ACT_CUSTOMER_READ, 0, grade_policy_show };

static void grade_policy_set(struct req *r)
{
    const Kehu__V1__GradePolicySet *m = r->msg->grade_policy_set;
    if (!m || m->n_values == 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "values", "give at least one KEY=VALUE");
        return;
    }
    const char **keys = arena_alloc(&r->arena, sizeof *keys * m->n_values);
    const char **vals = arena_alloc(&r->arena, sizeof *vals * m->n_values);
    for (size_t i = 0; i < m->n_values; i++) {
        const char *k = m->values[i]->field, *v = m->values[i]->value;
        const char *why = rpc_text_problem(k, 64, 0);
        if (!why)
            why = rpc_text_problem(v, 64, 0);
        if (!k || !*k || !v || !*v || why) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "values", "'%s=%s': %s", k ? k : "", v ? v : "",
                     why ? why : "a key and a value are required");
            return;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(keys[j], k) == 0) {
                req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "values", "%s is given twice", k);
                return;
            }
        keys[i] = k;
        vals[i] = v;
    }
    const char *p[] = { arena_pg_array(&r->arena, keys, m->n_values), arena_pg_array(&r->arena, vals, m->n_values),
                        rpc_num(r, req_who(r)->user_id) };
    log_info(r->conn->id, r->id, "grading policy: %zu value(s) set", m->n_values);
    /* statements: the set, the check (or, forced, what contradicts), the policy, the festivals */
    struct db_call *call = db_call_new(r->srv->db, policy_done, r);
    db_call_add(call, &policy_set, 3, p);
    /* every set meets the check: the pool's limits against the contact intervals, and the keys that
     * would contradict each other (a higher grade served less, cycle_silent not below cycle_churned) */
    if (m->force)
        db_call_add(call, &policy_contradictions, 0, NULL);
    else
        db_call_add(call, &policy_agree, 0, NULL);
    db_call_add(call, &policy_rows, 0, NULL);
    db_call_add(call, &policy_festivals, 0, NULL);
    audit_call_send(r, call);
}

const struct rpc_entry rpc_grade_policy_set = { KEHU__V1__REQUEST__OP_GRADE_POLICY_SET, "grade_policy_set",
                                                ACT_ORG_WRITE, 0, grade_policy_set };

/* ---- CreditAssess */

/* The assessment, and the credit override it sets (replacing the one in force). */
static struct db_stmt assess_stmt = DB_STMT(
    "WITH c AS (SELECT id, branch_id, owner_id, version FROM customer WHERE id = $1),"
    " ended AS (UPDATE grade_override SET status = 'revoked', ended_at = now(), ended_by = $4"
    "  WHERE customer_id = $1 AND dimension = 'credit' AND status = 'active' RETURNING id),"
    " o AS (INSERT INTO grade_override (customer_id, branch_id, dimension, grade, reason, until, status, requested_by,"
    "  approved_by) SELECT c.id, c.branch_id, 'credit', $2, 'credit assessment', $5::date, 'active', $4, $4 FROM c"
    "  RETURNING *),"
    " a AS (INSERT INTO credit_assessment (customer_id, branch_id, grade, notes, reviewer_id, override_id)"
    "  SELECT o.customer_id, o.branch_id, o.grade, $3, $4, o.id FROM o RETURNING id),"
    " ann AS (SELECT kehu_announce_detail('grade.changed', c.id, c.branch_id, c.version, c.owner_id, $4,"
    "  'credit:' || $2 || ' (assessment)') FROM c)"
    " SELECT " OVERRIDE_COLUMNS " FROM o" OVERRIDE_JOINS " CROSS JOIN (SELECT count(*) FROM ann) x"
    " CROSS JOIN (SELECT count(*) FROM a) y CROSS JOIN (SELECT count(*) FROM ended) z");

static void assess_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_one(r, res, "customer_id", "no such customer"))
        return;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_OVERRIDE, override_from_row(r, res, 0, 0));
}

static void assess_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__CreditAssess *m = r->msg->credit_assess;
    const char *until = m->until && *m->until ? m->until : NULL;
    char *year_on = NULL;
    if (!until) {
        char today[11];
        validate_today(today);
        year_on = arena_printf(&r->arena, "%d%s", atoi(today) + 1, today + 4);
        if (strcmp(year_on + 4, "-02-29") == 0)
            year_on[9] = '8';
    }
    const char *p[] = { rpc_num(r, ref->id), grade_spelled("credit", m->grade), m->notes && *m->notes ? m->notes : NULL,
                        rpc_num(r, req_who(r)->user_id), until ? until : year_on };
    audit_query(r, &assess_stmt, 5, p, assess_done);
}

static void credit_assess(struct req *r)
{
    const Kehu__V1__CreditAssess *m = r->msg->credit_assess;
    if (!is_manager(req_who(r))) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL, "only a branch manager or an admin assesses credit");
        return;
    }
    if (!m || !m->grade || !grade_spelled("credit", m->grade)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "grade", "credit grades are %s",
                 values_list(&r->arena, "credit"));
        return;
    }
    const char *why = rpc_text_problem(m->notes, NOTES_MAX, 1);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "notes", "notes %s", why);
        return;
    }
    if (check_until(r, m->until) < 0)
        return;
    rpc_customer_load(r, m->customer_id, ACT_GRADE_OVERRIDE, assess_loaded);
}

const struct rpc_entry rpc_credit_assess = { KEHU__V1__REQUEST__OP_CREDIT_ASSESS, "credit_assess", ACT_GRADE_OVERRIDE,
                                             0, credit_assess };
