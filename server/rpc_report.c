/* Reports over the grades (docs/grading.md, sql/0006_grading.sql).
 *
 * ReportGet answers, for the customers of the caller's scope that the last
 * run graded (narrowed to a unit's subtree or one owner): per grade of the
 * kind's dimensions, the customers and the ABC metric with their shares
 * (the Pareto table); the top customers per grade; the migration matrix
 * between two runs; the same table per branch or per owner; and for the
 * churn kind the open warnings.
 *
 * Grades are the effective ones today: the run's computed grades in
 * customer_grade with the overrides in force overlaid, as grade_of does,
 * but in one join over the (few) overrides instead of a lookup a customer.
 * Two calls: the first finds the runs, the unit and the owner (each can be
 * NOT_FOUND), the second computes everything else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "log.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"

#define UNIT_REF_MAX 200
#define USERNAME_MAX 64
#define TOP_DEFAULT 5
#define TOP_MAX 50
#define WARNINGS_MAX "100"

struct kind {
    const char *name;
    const char *dims; /* text[] literal, in the order of the rows */
    const char *dim;  /* the first: top customers and migration */
    int warnings;     /* the open churn warnings too */
};

static const struct kind kinds[] = {
    { "abc", "{abc}", "abc", 0 },
    { "tiers", "{value_tier,asset_tier,volume}", "value_tier", 0 },
    { "lifecycle", "{lifecycle}", "lifecycle", 0 },
    { "churn", "{lifecycle}", "lifecycle", 1 },
};
/* Named in the protocol's plans; they need cases, surveys and KPIs first. */
static const char *const later_kinds[] = { "cases", "kpi", "ranking", "trend" };

static double get_double(const struct db_result *res, int stmt, int row, int c)
{
    const char *v = db_get(res, stmt, row, c);
    return v ? strtod(v, NULL) : 0;
}

/* ---- the statements
 *
 * All take $1 $2 the caller's scope, $3 a unit (its subtree) or NULL, $4 an
 * owner or NULL. */

#define REPORT_SCOPE                                                                                            \
    RPC_SCOPE_SQL(1, 2)                                                                                         \
    "AND ($3::bigint IS NULL OR c.branch_id IN (SELECT s.id FROM org_unit s WHERE s.path @> ARRAY[$3::bigint]))" \
    " AND ($4::bigint IS NULL OR c.owner_id = $4::bigint) "

/* CTEs ov and e: one row per graded live customer and dimension of `dims`
 * (a text[] expression) with its effective grade ('none' for an asset tier
 * below general). */
#define REPORT_GRADED(dims)                                                                                      \
    " ov AS (SELECT DISTINCT ON (o.customer_id, o.dimension) o.customer_id, o.dimension, o.grade"                \
    "  FROM grade_override o WHERE o.status = 'active' AND (o.until IS NULL OR o.until >= current_date)"         \
    "  AND o.dimension = ANY (" dims ") ORDER BY o.customer_id, o.dimension, o.id DESC),"                        \
    " e AS (SELECT c.id, c.name, c.branch_id, c.owner_id, g.metric, d.dim,"                                      \
    "  coalesce(o.grade, (ARRAY[g.abc, g.volume, g.value_tier, g.asset_tier, g.lifecycle, g.credit, g.needs,"    \
    "   g.potential, NULL])[array_position(grade_dims(), d.dim)], 'none') AS grade"                              \
    "  FROM customer c JOIN customer_grade g ON g.customer_id = c.id CROSS JOIN unnest(" dims ") d(dim)"          \
    "  LEFT JOIN ov o ON o.customer_id = c.id AND o.dimension = d.dim"                                           \
    "  WHERE c.merged_into IS NULL AND c.status <> 'archived' AND" REPORT_SCOPE ")"

/* The run reported on ($1, default the latest) with its date and metric,
 * the run the migration starts from ($2, default the one before; 0 none)
 * and whether $2 exists. */
static struct db_stmt runs_stmt = DB_STMT(
    "SELECT r.id, l.as_of::text, coalesce(l.params ->> 'abc.metric', ''),"
    " coalesce($2::bigint, (SELECT max(p.id) FROM grading_run p WHERE NOT p.dry_run AND p.id < r.id), 0),"
    " $2::bigint IS NULL OR EXISTS (SELECT 1 FROM grading_run p WHERE p.id = $2::bigint AND NOT p.dry_run),"
    " l.id FROM grading_run r"
    " JOIN grading_run l ON l.id = (SELECT max(x.id) FROM grading_run x WHERE NOT x.dry_run)"
    " WHERE NOT r.dry_run AND r.id = coalesce($1::bigint, l.id)");

static struct db_stmt owner_stmt = DB_STMT("SELECT u.id FROM app_user u WHERE u.username = lower($1)");

/* Per group ($6: '' one group, 'branch', 'owner' — no owner is group 0),
 * dimension ($5) and grade, best first and every grade shown: customers,
 * ABC metric, and their shares of the group's. Groups by name. */
static struct db_stmt rows_stmt = DB_STMT(
    "WITH" REPORT_GRADED("$5::text[]") ","
    " a AS (SELECT CASE $6::text WHEN 'branch' THEN e.branch_id WHEN 'owner' THEN coalesce(e.owner_id, 0) ELSE 0 END"
    "  AS k, e.dim, e.grade, count(*) AS n, sum(e.metric) AS m FROM e GROUP BY 1, 2, 3),"
    " t AS (SELECT a.k, a.dim, sum(a.n) AS n, sum(a.m) AS m FROM a GROUP BY 1, 2)"
    " SELECT t.k, coalesce(CASE $6::text WHEN 'branch' THEN b.name ELSE u.username END, '') AS name, t.dim, v.grade,"
    "  coalesce(a.n, 0), coalesce(a.n, 0)::float8 / t.n::float8, (coalesce(a.m, 0) * 100)::bigint,"
    "  CASE WHEN t.m > 0 THEN coalesce(a.m, 0)::float8 / t.m::float8 ELSE 0 END"
    " FROM t JOIN unnest($5::text[]) WITH ORDINALITY d(dim, i) ON d.dim = t.dim"
    " CROSS JOIN LATERAL unnest(grade_values(t.dim)"
    "  || CASE WHEN t.dim = 'asset_tier' THEN '{none}'::text[] ELSE '{}'::text[] END) WITH ORDINALITY v(grade, j)"
    " LEFT JOIN a ON a.k = t.k AND a.dim = t.dim AND a.grade = v.grade"
    " LEFT JOIN org_unit b ON $6::text = 'branch' AND b.id = t.k"
    " LEFT JOIN app_user u ON $6::text = 'owner' AND u.id = t.k"
    " ORDER BY t.k = 0 AND $6::text = 'owner', name, t.k, d.i, v.j");

/* The first $6 customers of each grade of dimension $5 by metric. */
static struct db_stmt top_stmt = DB_STMT(
    "WITH" REPORT_GRADED("ARRAY[$5::text]") ","
    /* narrow rows, byte-wise grades and integer fen sort a million rows several times faster */
    " r AS (SELECT e.id, e.grade, e.metric, e.owner_id, row_number() OVER (PARTITION BY e.grade COLLATE \"C\""
    "  ORDER BY (e.metric * 100)::bigint DESC, e.id) AS rk FROM e)"
    " SELECT r.grade, r.rk, r.id, c.name, (r.metric * 100)::bigint, coalesce(u.username, '')"
    " FROM r JOIN customer c ON c.id = r.id LEFT JOIN app_user u ON u.id = r.owner_id WHERE r.rk <= $6::int"
    " ORDER BY coalesce(array_position(grade_values($5::text), r.grade), 1000), r.rk");

/* Customers by (grade at run $6, grade at run $7) on dimension $5 ('' not
 * graded); unchanged pairs count too. A customer's grade at run R is the
 * `before` of its first history row after R (every change is recorded), or,
 * with none, its grade now: so only the history after the older run is
 * read, not all of it. */
static struct db_stmt migration_stmt = DB_STMT(
    "WITH i AS (SELECT array_position(grade_dims(), $5::text) AS i),"
    " after_f AS (SELECT DISTINCT ON (h.customer_id) h.customer_id, h.before[i.i] AS g FROM grade_history h, i"
    "  WHERE h.run_id > $6::bigint ORDER BY h.customer_id, h.run_id),"
    " after_t AS (SELECT DISTINCT ON (h.customer_id) h.customer_id, h.before[i.i] AS g FROM grade_history h, i"
    "  WHERE h.run_id > $7::bigint ORDER BY h.customer_id, h.run_id),"
    " now AS (SELECT g.customer_id, g.recorded[i.i] AS g FROM customer_grade g, i),"
    " m AS (SELECT coalesce(n.customer_id, f.customer_id) AS id,"
    "  CASE WHEN f.customer_id IS NOT NULL THEN f.g ELSE n.g END AS fg,"
    "  CASE WHEN t.customer_id IS NOT NULL THEN t.g ELSE n.g END AS tg"
    "  FROM now n FULL JOIN after_f f ON f.customer_id = n.customer_id"
    "  LEFT JOIN after_t t ON t.customer_id = coalesce(n.customer_id, f.customer_id))"
    " SELECT coalesce(m.fg, ''), coalesce(m.tg, ''), count(*) FROM m JOIN customer c ON c.id = m.id"
    " WHERE (m.fg IS NOT NULL OR m.tg IS NOT NULL) AND" REPORT_SCOPE "GROUP BY m.fg, m.tg"
    " ORDER BY coalesce(array_position(grade_values($5::text), m.fg), 0),"
    "  coalesce(array_position(grade_values($5::text), m.tg), 0)");

static struct db_stmt warnings_stmt = DB_STMT(
    "SELECT " CHURN_WARNING_COLUMNS " FROM churn_warning w" CHURN_WARNING_JOINS
    "WHERE w.status IN ('open', 'acknowledged') AND c.merged_into IS NULL AND" REPORT_SCOPE
    "ORDER BY w.raised_on DESC, w.id DESC LIMIT " WARNINGS_MAX);

/* ---- the request */

struct report_state {
    const struct kind *kind;
    const char *by;       /* "", "branch" or "owner" */
    uint32_t top;
    int unit_stmt, owner_stmt; /* in the first call; -1 not asked */
    const char *unit_id, *owner_id;
    Kehu__V1__Report *rep;
};

static Kehu__V1__ReportRow *row_from(struct req *r, const struct db_result *res, int stmt, int row)
{
    Kehu__V1__ReportRow *x = arena_alloc(&r->arena, sizeof *x);
    kehu__v1__report_row__init(x);
    x->dimension = rpc_col(r, res, stmt, row, 2);
    x->grade = rpc_col(r, res, stmt, row, 3);
    x->customers = db_get_i64(res, stmt, row, 4);
    x->customer_share = get_double(res, stmt, row, 5);
    x->metric_total_minor = db_get_i64(res, stmt, row, 6);
    x->metric_share = get_double(res, stmt, row, 7);
    return x;
}

/* Rows of a rows_stmt result cut into groups where the key (column 0) changes. */
static void fill_groups(struct req *r, Kehu__V1__Report *rep, const struct db_result *res, int stmt)
{
    int n = db_rows(res, stmt), ngroups = 0;
    for (int i = 0; i < n; i++)
        ngroups += i == 0 || db_get_i64(res, stmt, i, 0) != db_get_i64(res, stmt, i - 1, 0);
    rep->groups = arena_alloc(&r->arena, sizeof *rep->groups * (size_t)(ngroups ? ngroups : 1));
    Kehu__V1__ReportGroup *g = NULL;
    for (int i = 0; i < n; i++) {
        if (!g || db_get_i64(res, stmt, i, 0) != g->id) {
            g = arena_alloc(&r->arena, sizeof *g);
            kehu__v1__report_group__init(g);
            g->id = db_get_i64(res, stmt, i, 0);
            g->name = rpc_col(r, res, stmt, i, 1);
            /* each group has as many rows as the dimensions have grades: count them once */
            int rows = 0;
            while (i + rows < n && db_get_i64(res, stmt, i + rows, 0) == g->id)
                rows++;
            g->rows = arena_alloc(&r->arena, sizeof *g->rows * (size_t)rows);
            rep->groups[rep->n_groups++] = g;
        }
        g->rows[g->n_rows++] = row_from(r, res, stmt, i);
    }
}

static struct row_msg report_top_row = ROW_MSG(kehu__v1__report_top__descriptor,
    "grade,rank,customer_id,customer_name,metric_minor,owner");

static void computed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct report_state *st = r->state;
    Kehu__V1__Report *rep = st->rep;
    if (!req_db_ok(r, res))
        return;
    int s = 0;
    int n = db_rows(res, s);
    rep->rows = arena_alloc(&r->arena, sizeof *rep->rows * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        rep->rows[rep->n_rows++] = row_from(r, res, s, i);
    s++;
    if (*st->by)
        fill_groups(r, rep, res, s++);

    n = db_rows(res, s);
    rep->top = arena_alloc(&r->arena, sizeof *rep->top * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__ReportTop *t = row_msg(r, &report_top_row, res, s, i, 0);
        audit_note_customer(r, t->customer_id);
        rep->top[rep->n_top++] = t;
    }
    s++;

    n = db_rows(res, s);
    rep->migration = arena_alloc(&r->arena, sizeof *rep->migration * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__GradeMove *mv = arena_alloc(&r->arena, sizeof *mv);
        kehu__v1__grade_move__init(mv);
        mv->dimension = (char *)st->kind->dim;
        mv->from = rpc_col(r, res, s, i, 0);
        mv->to = rpc_col(r, res, s, i, 1);
        mv->customers = db_get_i64(res, s, i, 2);
        rep->migration[rep->n_migration++] = mv;
    }
    s++;

    if (st->kind->warnings) {
        n = db_rows(res, s);
        rep->warnings = arena_alloc(&r->arena, sizeof *rep->warnings * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++)
            rep->warnings[rep->n_warnings++] = rpc_churn_warning_from_row(r, res, s, i);
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_REPORT, rep);
}

static void compute(struct req *r)
{
    struct report_state *st = r->state;
    const char *kind, *id;
    rpc_scope_params(r, ACT_CUSTOMER_READ, &kind, &id);
    const char *run_to = rpc_num(r, st->rep->to_run), *run_from = rpc_num(r, st->rep->from_run);
    const char *p_rows[] = { kind, id, st->unit_id, st->owner_id, st->kind->dims, "" };
    const char *p_groups[] = { kind, id, st->unit_id, st->owner_id, st->kind->dims, st->by };
    const char *p_top[] = { kind, id, st->unit_id, st->owner_id, st->kind->dim, arena_printf(&r->arena, "%u", st->top) };
    const char *p_mig[] = { kind, id, st->unit_id, st->owner_id, st->kind->dim, run_from, run_to };
    struct db_call *call = db_call_new(r->srv->db_long, computed, r);
    db_call_add(call, &rows_stmt, 6, p_rows);
    if (*st->by)
        db_call_add(call, &rows_stmt, 6, p_groups);
    db_call_add(call, &top_stmt, 6, p_top);
    db_call_add(call, &migration_stmt, 7, p_mig);
    if (st->kind->warnings)
        db_call_add(call, &warnings_stmt, 4, p_rows);
    db_call_send(call);
}

static void found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__ReportGet *m = r->msg->report_get;
    struct report_state *st = r->state;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) {
        if (m->to_run)
            req_fail(r, KEHU__V1__CODE__NOT_FOUND, "to_run", "no grading run %lld", (long long)m->to_run);
        else
            req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, NULL, "no grading run yet: kehu grade run");
        return;
    }
    if (!db_get_bool(res, 0, 0, 4)) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "from_run", "no grading run %lld", (long long)m->from_run);
        return;
    }
    Kehu__V1__Report *rep = st->rep;
    /* the rows are today's grades, the latest run's; to_run only ends the migration */
    rep->to_run = db_get_i64(res, 0, 0, 0);
    rep->run_id = db_get_i64(res, 0, 0, 5);
    rep->as_of = rpc_col(r, res, 0, 0, 1);
    rep->metric = rpc_col(r, res, 0, 0, 2);
    rep->from_run = db_get_i64(res, 0, 0, 3);
    if (m->from_run && m->from_run >= rep->to_run) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "from_run", "from_run %lld is not before run %lld",
                 (long long)m->from_run, (long long)rep->to_run);
        return;
    }
    if (st->unit_stmt >= 0) {
        if (db_rows(res, st->unit_stmt) != 1) {
            req_fail(r, KEHU__V1__CODE__NOT_FOUND, "unit", "no org unit '%s'", m->unit);
            return;
        }
        st->unit_id = rpc_col(r, res, st->unit_stmt, 0, 0);
    }
    if (st->owner_stmt >= 0) {
        if (db_rows(res, st->owner_stmt) != 1) {
            req_fail(r, KEHU__V1__CODE__NOT_FOUND, "owner", "no user named '%s'", m->owner);
            return;
        }
        st->owner_id = rpc_col(r, res, st->owner_stmt, 0, 0);
    }
    compute(r);
}

static void report_get(struct req *r)
{
    const Kehu__V1__ReportGet *m = r->msg->report_get;
    if (!m || !m->kind || !*m->kind) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "kind", "the kind is required: abc, tiers, lifecycle or churn");
        return;
    }
    const struct kind *kind = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcasecmp(m->kind, kinds[i].name) == 0)
            kind = &kinds[i];
    for (size_t i = 0; !kind && i < sizeof later_kinds / sizeof later_kinds[0]; i++)
        if (strcasecmp(m->kind, later_kinds[i]) == 0) {
            req_fail(r, KEHU__V1__CODE__UNIMPLEMENTED, "kind",
                     "the %s report is not available yet: it comes with cases and KPIs", later_kinds[i]);
            return;
        }
    if (!kind) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "kind", "kind is abc, tiers, lifecycle or churn");
        return;
    }
    const char *by = m->by ? m->by : "";
    if (*by && strcmp(by, "branch") != 0 && strcmp(by, "owner") != 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "by", "by is branch or owner (or nothing)");
        return;
    }
    if (m->top > TOP_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "top", "top is at most %d", TOP_MAX);
        return;
    }
    if (m->from_run < 0 || m->to_run < 0) {
        const char *field = m->from_run < 0 ? "from_run" : "to_run";
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "%s is not a run id", field);
        return;
    }
    if (m->from_run && m->to_run && m->from_run >= m->to_run) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "from_run", "from_run must be before to_run");
        return;
    }
    const char *unit = m->unit && *m->unit ? m->unit : NULL, *owner = m->owner && *m->owner ? m->owner : NULL, *why;
    if (unit && (why = rpc_text_problem(unit, UNIT_REF_MAX, 0))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "unit", "unit %s", why);
        return;
    }
    if (owner && (why = rpc_text_problem(owner, USERNAME_MAX, 0))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "owner", "owner %s", why);
        return;
    }

    struct report_state *st = arena_alloc(&r->arena, sizeof *st);
    st->kind = kind;
    st->by = by;
    st->top = m->top ? m->top : TOP_DEFAULT;
    st->unit_stmt = st->owner_stmt = -1;
    st->rep = arena_alloc(&r->arena, sizeof *st->rep);
    kehu__v1__report__init(st->rep);
    st->rep->kind = (char *)kind->name;
    r->state = st;

    const char *p_runs[] = { m->to_run ? rpc_num(r, m->to_run) : NULL, m->from_run ? rpc_num(r, m->from_run) : NULL };
    struct db_call *call = db_call_new(r->srv->db, found, r);
    int n = 0;
    db_call_add(call, &runs_stmt, 2, p_runs);
    n++;
    if (unit) {
        db_call_add(call, &rpc_unit_place_by_ref, 1, &unit);
        st->unit_stmt = n++;
    }
    if (owner) {
        db_call_add(call, &owner_stmt, 1, &owner);
        st->owner_stmt = n++;
    }
    db_call_send(call);
}

const struct rpc_entry rpc_report_get = { KEHU__V1__REQUEST__OP_REPORT_GET, "report_get", ACT_CUSTOMER_READ, 0,
                                          report_get };
