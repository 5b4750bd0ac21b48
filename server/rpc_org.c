/* Organisation RPCs: org units and users. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "notify.h"
#include "conn.h"
#include "log.h"
#include "page.h"
#include "rpc.h"
#include "server.h"

/* ---- enums as SQL spells them */

static const char *const role_sql[] = {
    [KEHU__V1__ROLE__ADMIN] = "admin",
    [KEHU__V1__ROLE__BRANCH_MANAGER] = "branch_manager",
    [KEHU__V1__ROLE__ACCOUNT_MANAGER] = "account_manager",
    [KEHU__V1__ROLE__SERVICE_AGENT] = "service_agent",
    [KEHU__V1__ROLE__AUDITOR] = "auditor",
    [KEHU__V1__ROLE__COMMITTEE] = "committee",
    [KEHU__V1__ROLE__FINANCE] = "finance",
};
static const char *const kind_sql[] = {
    [KEHU__V1__UNIT_KIND__HEAD_OFFICE] = "head_office",
    [KEHU__V1__UNIT_KIND__REGION] = "region",
    [KEHU__V1__UNIT_KIND__BRANCH] = "branch",
    [KEHU__V1__UNIT_KIND__TEAM] = "team",
};
#define USERNAME_MAX 64 /* characters of a username asked about */
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *rpc_role_sql(Kehu__V1__Role role)
{
    return (int)role > 0 && (int)role < COUNT(role_sql) ? role_sql[role] : NULL;
}

Kehu__V1__Role rpc_role_from_sql(const char *s)
{
    for (int i = 1; s && i < COUNT(role_sql); i++)
        if (strcmp(role_sql[i], s) == 0)
            return (Kehu__V1__Role)i;
    return KEHU__V1__ROLE__ROLE_UNSPECIFIED;
}

const char *rpc_kind_sql(Kehu__V1__UnitKind kind)
{
    return (int)kind > 0 && (int)kind < COUNT(kind_sql) ? kind_sql[kind] : NULL;
}

Kehu__V1__UnitKind rpc_kind_from_sql(const char *s)
{
    for (int i = 1; s && i < COUNT(kind_sql); i++)
        if (strcmp(kind_sql[i], s) == 0)
            return (Kehu__V1__UnitKind)i;
    return KEHU__V1__UNIT_KIND__UNIT_KIND_UNSPECIFIED;
}

/* ---- rows to messages */

Kehu__V1__User *rpc_user_from_row(struct req *r, const struct db_result *res, int stmt, int row, int col)
{
    Kehu__V1__User *u = arena_alloc(&r->arena, sizeof *u);
    kehu__v1__user__init(u);
    u->id = db_get_i64(res, stmt, row, col);
    u->username = rpc_col(r, res, stmt, row, col + 1);
    u->display_name = rpc_col(r, res, stmt, row, col + 2);
    u->role = rpc_role_from_sql(db_get(res, stmt, row, col + 3));
    u->unit_id = db_get_i64(res, stmt, row, col + 4);
    u->unit_name = rpc_col(r, res, stmt, row, col + 5);
    u->disabled = db_get_bool(res, stmt, row, col + 6);
    u->created_at_ms = db_get_i64(res, stmt, row, col + 7);
    u->branch_id = db_get_i64(res, stmt, row, col + 8);
    u->must_change_password = db_get_bool(res, stmt, row, col + 11);
    return u;
}

void rpc_principal_from_row(struct principal *who, const struct db_result *res, int stmt, int row, int col)
{
    memset(who, 0, sizeof *who);
    who->user_id = db_get_i64(res, stmt, row, col);
    const char *name = db_get(res, stmt, row, col + 1);
    snprintf(who->username, sizeof who->username, "%s", name ? name : "");
    who->role = rpc_role_from_sql(db_get(res, stmt, row, col + 3));
    who->unit_id = db_get_i64(res, stmt, row, col + 4);
    who->branch_id = db_get_i64(res, stmt, row, col + 8);
    who->region_id = db_get_i64(res, stmt, row, col + 10);
    who->must_change_password = db_get_bool(res, stmt, row, col + 11);
}

int rpc_user_row_path(const struct db_result *res, int stmt, int row, int col, int64_t *path, int max)
{
    return authz_parse_path(db_get(res, stmt, row, col + 9), path, max);
}

Kehu__V1__OrgUnit *rpc_unit_from_row(struct req *r, const struct db_result *res, int stmt, int row, int col)
{
    Kehu__V1__OrgUnit *u = arena_alloc(&r->arena, sizeof *u);
    kehu__v1__org_unit__init(u);
    u->id = db_get_i64(res, stmt, row, col);
    u->name = rpc_col(r, res, stmt, row, col + 1);
    u->kind = rpc_kind_from_sql(db_get(res, stmt, row, col + 2));
    u->parent_id = db_get_i64(res, stmt, row, col + 3);
    u->parent_name = rpc_col(r, res, stmt, row, col + 4);
    u->depth = (uint32_t)db_get_i64(res, stmt, row, col + 5);
    u->branch_id = db_get_i64(res, stmt, row, col + 6);
    u->path = rpc_col(r, res, stmt, row, col + 8);
    return u;
}

void rpc_forget_sessions(struct server *s, int64_t user_id, int64_t session_id, int64_t upto)
{
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->who.user_id == 0)
            continue;
        if ((user_id && c->who.user_id == user_id && (!upto || c->who.session_id <= upto)) ||
            (session_id && c->who.session_id == session_id)) {
            log_info(c->id, 0, "session of %s ended", c->who.username);
            memset(&c->who, 0, sizeof c->who);
        }
    }
}

void rpc_forget_sessions_but(struct server *s, int64_t user_id, int64_t keep)
{
    for (struct conn *c = s->conns; c; c = c->next) {
        if (user_id && c->who.user_id == user_id && c->who.session_id != keep) {
            log_info(c->id, 0, "session of %s ended", c->who.username);
            memset(&c->who, 0, sizeof c->who);
        }
    }
}

void rpc_principals_update(struct server *s, const struct principal *now)
{
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->who.user_id == 0 || c->who.user_id != now->user_id)
            continue;
        c->who.role = now->role;
        c->who.unit_id = now->unit_id;
        c->who.branch_id = now->branch_id;
        c->who.region_id = now->region_id;
        c->who.must_change_password = now->must_change_password;
    }
}

/* ---- validation */

/* A display text: trimmed by the client's intent, valid UTF-8 is the wire's
 * promise (protobuf strings), so this checks length and control characters. */
static const char *text_problem(const char *s, size_t max_bytes, int required)
{
    if (!s || !*s)
        return required ? "is required" : NULL;
    size_t n = strlen(s);
    if (n > max_bytes)
        return "is too long";
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
        return "must not begin or end with spaces";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "must not contain control characters";
    return NULL;
}

/* A unit's name: a display text without '/', which separates the names of a path. */
static const char *unit_name_problem(const char *s)
{
    const char *why = text_problem(s, 100 * 4, 1);
    if (!why && strchr(s, '/'))
        why = "must not contain '/' (it separates the names of a path)";
    return why;
}

static int username_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 64 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* Mirrors org_unit_kind_allowed() in sql/0001_init.sql, to explain a refusal. */
static int kind_allowed(Kehu__V1__UnitKind parent, Kehu__V1__UnitKind child)
{
    switch (child) {
    case KEHU__V1__UNIT_KIND__REGION:
    case KEHU__V1__UNIT_KIND__BRANCH:
        return parent == KEHU__V1__UNIT_KIND__HEAD_OFFICE || parent == KEHU__V1__UNIT_KIND__REGION;
    case KEHU__V1__UNIT_KIND__TEAM:
        return parent == KEHU__V1__UNIT_KIND__BRANCH || parent == KEHU__V1__UNIT_KIND__TEAM;
    default:
        return 0;
    }
}

/* ---- OrgAdd */

static struct db_stmt unit_by_ref = DB_STMT("SELECT " UNIT_COLUMNS " FROM" UNIT_FROM "WHERE" UNIT_BY_REF);
static struct db_stmt parent_by_ref = DB_STMT("SELECT " UNIT_COLUMNS " FROM" UNIT_FROM "WHERE" UNIT_BY_REF_AS("parent"));
static struct db_stmt unit_insert = DB_STMT(
    "INSERT INTO org_unit (parent_id, kind, name) VALUES ($1, $2::unit_kind, $3)"
    " RETURNING id, name, kind::text, parent_id, '', cardinality(path) - 1, coalesce(branch_id, 0), path::text,"
    " coalesce((SELECT org_unit_path_name(p.id) || '/' FROM org_unit p WHERE p.id = org_unit.parent_id"
    " AND p.parent_id IS NOT NULL), '') || name");

static void org_add_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__OrgAdd *m = r->msg->org_add;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "23505") == 0)
            req_fail(r, KEHU__V1__CODE__CONFLICT, "name", "'%s' already has a unit named '%s'", (char *)r->state,
                     m->name);
        else if (strcmp(res->sqlstate, "23514") == 0 || strcmp(res->sqlstate, "23503") == 0)
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "parent", "%s", res->primary ? res->primary : "not allowed there");
        else
            req_fail_db(r, res);
        return;
    }
    Kehu__V1__OrgUnit *u = rpc_unit_from_row(r, res, 0, 0, 0);
    u->parent_name = r->state;
    log_info(r->conn->id, r->id, "org unit %lld '%s' added under '%s'", (long long)u->id, u->name, u->parent_name);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ORG_UNIT, u);
}

static void org_add_parent(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__OrgAdd *m = r->msg->org_add;
    if (!req_db_one(r, res, "parent", "no org unit '%s'", m->parent))
        return;
    int64_t path[AUTHZ_MAX_DEPTH];
    int n = authz_parse_path(db_get(res, 0, 0, 7), path, AUTHZ_MAX_DEPTH);
    if (n < 0 || n >= AUTHZ_MAX_DEPTH) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "parent", "the organisation tree may be at most %d levels deep",
                 AUTHZ_MAX_DEPTH);
        return;
    }
    struct authz_target t = { .unit_path = path, .path_len = n };
    if (req_authorize(r, &t) < 0)
        return;
    Kehu__V1__UnitKind parent_kind = rpc_kind_from_sql(db_get(res, 0, 0, 2));
    if (!kind_allowed(parent_kind, m->kind)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "parent", "a %s cannot be placed under a %s",
                 rpc_kind_sql(m->kind), rpc_kind_sql(parent_kind));
        return;
    }
    r->state = arena_strdup(&r->arena, db_get(res, 0, 0, 1));
    const char *p[] = { db_get(res, 0, 0, 0), rpc_kind_sql(m->kind), m->name };
    audit_query(r, &unit_insert, 3, p, org_add_done);
}

static void org_add(struct req *r)
{
    const Kehu__V1__OrgAdd *m = r->msg->org_add;
    const char *why;
    if (!m || (why = unit_name_problem(m->name))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "name", "the unit's name %s", m ? why : "is required");
        return;
    }
    if (m->kind != KEHU__V1__UNIT_KIND__REGION && m->kind != KEHU__V1__UNIT_KIND__BRANCH &&
        m->kind != KEHU__V1__UNIT_KIND__TEAM) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "kind", "kind must be region, branch or team");
        return;
    }
    if (!m->parent || !*m->parent) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "parent", "a parent unit is required");
        return;
    }
    const char *p[] = { m->parent };
    db_query(r->srv->db, &parent_by_ref, 1, p, org_add_parent, r);
}

const struct rpc_entry rpc_org_add = { KEHU__V1__REQUEST__OP_ORG_ADD, "org_add", ACT_ORG_WRITE, 0, org_add };

/* ---- OrgList: the whole tree, head office first, each unit before its children */

/* A page: $1 the cursor, $2 the page plus one; after UNIT_COLUMNS the count
 * after the cursor and the key. */
static struct db_stmt unit_list =
    DB_STMT("SELECT " UNIT_COLUMNS ", count(*) OVER (), u.path::text FROM" UNIT_FROM
            "WHERE $1::bigint[] IS NULL OR u.path > $1::bigint[] ORDER BY u.path LIMIT $2");

static void org_list_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__OrgUnitList *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__org_unit_list__init(list);
    int n = page_end(r, r->state, res, 0, UNIT_NCOLS + 1, &list->next_cursor, &list->remaining);
    list->n_units = (size_t)n;
    list->units = arena_alloc(&r->arena, sizeof *list->units * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        list->units[i] = rpc_unit_from_row(r, res, 0, i, 0);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ORG_UNITS, list);
}

static void org_list(struct req *r)
{
    const Kehu__V1__OrgList *m = r->msg->org_list;
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "org_list", "a", m ? m->limit : 0, m ? m->after : NULL, 1000, 1000) < 0)
        return;
    r->state = pg;
    const char *p[] = { pg->key[0], pg->fetch };
    db_query(r->srv->db, &unit_list, 2, p, org_list_done, r);
}

const struct rpc_entry rpc_org_list = { KEHU__V1__REQUEST__OP_ORG_LIST, "org_list", ACT_ORG_READ, 0, org_list };

/* ---- UserAdd: find the unit, authorize, hash (thread pool), insert */

static struct db_stmt user_insert = DB_STMT(
    "WITH u AS (INSERT INTO app_user (username, display_name, role, unit_id, password_hash)"
    " VALUES ($1, $2, $3::user_role, $4, $5) RETURNING *)"
    " SELECT " USER_COLUMNS " FROM u JOIN org_unit o ON o.id = u.unit_id");

struct user_add {
    char *unit_id;
};

static void user_add_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__UserAdd *m = r->msg->user_add;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "23505") == 0)
            req_fail(r, KEHU__V1__CODE__CONFLICT, "username", "a user named '%s' already exists", m->username);
        else
            req_fail_db(r, res);
        return;
    }
    Kehu__V1__User *u = rpc_user_from_row(r, res, 0, 0, 0);
    log_info(r->conn->id, r->id, "user %s added (%s in '%s')", u->username, rpc_role_sql(u->role), u->unit_name);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_USER, u);
}

static void user_add_hashed(int ok, const char *hash, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__UserAdd *m = r->msg->user_add;
    struct user_add *st = r->state;
    if (!ok) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "hashing the password failed (hash_mem too large?)");
        return;
    }
    const char *p[] = { m->username, m->display_name ? m->display_name : "", rpc_role_sql(m->role), st->unit_id,
                        hash };
    audit_query(r, &user_insert, 5, p, user_add_done);
}

static void user_add_unit(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__UserAdd *m = r->msg->user_add;
    if (!req_db_one(r, res, "unit", "no org unit '%s'", m->unit))
        return;
    int64_t path[AUTHZ_MAX_DEPTH];
    int n = authz_parse_path(db_get(res, 0, 0, 7), path, AUTHZ_MAX_DEPTH);
    struct authz_target t = { .unit_path = path, .path_len = n < 0 ? 0 : n, .role = m->role };
    if (req_authorize(r, &t) < 0)
        return;
    struct user_add *st = arena_alloc(&r->arena, sizeof *st);
    st->unit_id = arena_strdup(&r->arena, db_get(res, 0, 0, 0));
    r->state = st;
    auth_hash_sched(&r->srv->limits.auth, m->password, r->srv->cfg.hash_ops, r->srv->cfg.hash_mem, user_add_hashed, r);
}

static void user_add(struct req *r)
{
    const Kehu__V1__UserAdd *m = r->msg->user_add;
    const char *why;
    if (!m || !m->username || !username_ok(m->username)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "username",
                 "a username is 2 to 64 characters: lower-case letters, digits, '.', '_' or '-', starting with a "
                 "letter or digit");
        return;
    }
    if (!rpc_role_sql(m->role)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "role",
                 "role must be admin, branch_manager, account_manager, service_agent, auditor, committee or finance");
        return;
    }
    if (!m->unit || !*m->unit) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "unit", "an org unit is required");
        return;
    }
    if ((why = text_problem(m->display_name, 100 * 4, 0))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "display_name", "the display name %s", why);
        return;
    }
    if (!m->password || (why = auth_password_problem(m->password))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "password", "%s", m->password ? why : "a password is required");
        return;
    }
    const char *p[] = { m->unit };
    db_query(r->srv->db, &unit_by_ref, 1, p, user_add_unit, r);
}

const struct rpc_entry rpc_user_add = { KEHU__V1__REQUEST__OP_USER_ADD, "user_add", ACT_USER_WRITE, 0, user_add };

/* ---- UserList: everyone in a subtree (a branch manager's own by default) */

/* A page: $3 $4 the cursor, $5 the page plus one; after USER_COLUMNS the
 * count after the cursor and the keys. */
static struct db_stmt user_list_stmt = DB_STMT(
    "SELECT " USER_COLUMNS ", count(*) OVER (), o.path::text, u.username FROM" USER_FROM
    "WHERE ($1::bigint IS NULL OR o.path @> ARRAY[$1::bigint])"
    " AND ($2::user_role IS NULL OR u.role = $2::user_role)"
    " AND ($3::bigint[] IS NULL OR (o.path, u.username) > ($3::bigint[], $4::text))"
    " ORDER BY o.path, u.username LIMIT $5");

static void user_list_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__Users *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__users__init(list);
    int n = page_end(r, r->state, res, 0, USER_NCOLS + 1, &list->next_cursor, &list->remaining);
    list->n_users = (size_t)n;
    list->users = arena_alloc(&r->arena, sizeof *list->users * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        list->users[i] = rpc_user_from_row(r, res, 0, i, 0);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_USERS, list);
}

static void user_list_query(struct req *r, const char *unit_id)
{
    const Kehu__V1__UserList *m = r->msg->user_list;
    struct page *pg = r->state;
    const char *p[] = { unit_id, m ? rpc_role_sql(m->role) : NULL, pg->key[0], pg->key[1], pg->fetch };
    db_query(r->srv->db, &user_list_stmt, 5, p, user_list_done, r);
}

static void user_list_unit(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_one(r, res, "unit", "no org unit '%s'", r->msg->user_list->unit))
        return;
    int64_t path[AUTHZ_MAX_DEPTH];
    int n = authz_parse_path(db_get(res, 0, 0, 7), path, AUTHZ_MAX_DEPTH);
    struct authz_target t = { .unit_path = path, .path_len = n < 0 ? 0 : n };
    if (req_authorize(r, &t) < 0)
        return;
    user_list_query(r, arena_strdup(&r->arena, db_get(res, 0, 0, 0)));
}

static void user_list(struct req *r)
{
    const Kehu__V1__UserList *m = r->msg->user_list;
    if (m && m->role && !rpc_role_sql(m->role)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "role", "unknown role %d", (int)m->role);
        return;
    }
    struct page *pg = arena_alloc(&r->arena, sizeof *pg);
    if (page_begin(r, pg, "user_list", "at", m ? m->limit : 0, m ? m->after : NULL, 1000, 1000) < 0)
        return;
    r->state = pg;
    if (m && m->unit && *m->unit) {
        const char *p[] = { m->unit };
        db_query(r->srv->db, &unit_by_ref, 1, p, user_list_unit, r);
        return;
    }
    /* no unit named: everything the caller may see */
    const struct principal *who = req_who(r);
    user_list_query(r, who->role == KEHU__V1__ROLE__BRANCH_MANAGER ? rpc_num(r, who->unit_id) : NULL);
}

const struct rpc_entry rpc_user_list = { KEHU__V1__REQUEST__OP_USER_LIST, "user_list", ACT_USER_READ, 0,
                                         user_list };

/* ---- UserDisable and UserMove: find the user (and unit), authorize, change */

static struct db_stmt user_disable_stmt = DB_STMT(
    "UPDATE app_user SET disabled_at = coalesce(disabled_at, now()), updated_at = now() WHERE id = $1");
/* The notice names the newest session it ended: it reaches every kehud (this
 * one too) later, when the user may have logged in again, and a session
 * begun after it is not one it ended. */
static struct db_stmt user_revoke_sessions = DB_STMT(
    "WITH s AS (UPDATE session SET revoked_at = now() WHERE user_id = $1::bigint AND revoked_at IS NULL RETURNING id)"
    " SELECT pg_notify('" NOTIFY_CHANNEL "', 'session.revoked 0 ' || ($1::bigint)::text || ' '"
    " || coalesce((SELECT max(id) FROM s), 0))");
static struct db_stmt user_move_stmt = DB_STMT("UPDATE app_user SET unit_id = $2, updated_at = now() WHERE id = $1");
struct db_stmt rpc_user_by_id = DB_STMT("SELECT " USER_COLUMNS " FROM" USER_FROM "WHERE u.id = $1");
struct db_stmt rpc_user_by_name = DB_STMT("SELECT " USER_COLUMNS " FROM" USER_FROM "WHERE u.username = lower($1)");
struct db_stmt rpc_unit_place_by_ref =
    DB_STMT("SELECT u.id, u.kind::text, u.path::text, u.name FROM org_unit u WHERE" UNIT_BY_REF);
struct db_stmt rpc_branch_place_by_ref =
    DB_STMT("SELECT u.id, u.kind::text, u.path::text, u.name FROM org_unit u WHERE" UNIT_BY_REF_AS("branch"));
struct db_stmt rpc_unit_place_by_id =
    DB_STMT("SELECT u.id, u.kind::text, u.path::text, u.name FROM org_unit u WHERE u.id = $1");

struct authz_target rpc_user_target(const struct db_result *res, int stmt, int row, int64_t *path)
{
    int n = rpc_user_row_path(res, stmt, row, 0, path, AUTHZ_MAX_DEPTH);
    return (struct authz_target){
        .unit_path = path,
        .path_len = n < 0 ? 0 : n,
        .role = rpc_role_from_sql(db_get(res, stmt, row, 3)),
        .user_id = db_get_i64(res, stmt, row, 0),
    };
}

int rpc_user_readable(struct req *r, const struct authz_target *t)
{
    const char *why;
    return t->user_id == req_who(r)->user_id || authz_check(req_who(r), ACT_USER_READ, t, &why) == KEHU__V1__CODE__OK;
}

int rpc_user_visible(struct req *r, const struct db_result *res, int stmt, const char *username, const char *field)
{
    if (db_rows(res, stmt) == 1) {
        int64_t path[AUTHZ_MAX_DEPTH];
        struct authz_target t = rpc_user_target(res, stmt, 0, path);
        if (rpc_user_readable(r, &t))
            return 0;
    }
    /* missing, or someone the caller may not see: one answer for both */
    req_fail(r, KEHU__V1__CODE__NOT_FOUND, field, "no user named '%s'", username);
    return -1;
}

/* May the caller act (the request's action) on the user in row 0 of
 * statement `stmt`? A user they may not even see is NOT_FOUND, as a missing
 * one. OK, or the code with *why. */
static Kehu__V1__Code user_row_check(struct req *r, const struct db_result *res, int stmt, const char **why)
{
    *why = "";
    if (db_rows(res, stmt) != 1)
        return KEHU__V1__CODE__NOT_FOUND;
    int64_t path[AUTHZ_MAX_DEPTH];
    struct authz_target t = rpc_user_target(res, stmt, 0, path);
    if (!rpc_user_readable(r, &t))
        return KEHU__V1__CODE__NOT_FOUND;
    return authz_check(req_who(r), r->rpc->action, &t, why);
}

static void user_row_refuse(struct req *r, Kehu__V1__Code code, const char *why, const char *username)
{
    if (code == KEHU__V1__CODE__NOT_FOUND)
        req_fail(r, code, "username", "no user named '%s'", username);
    else
        req_fail(r, code, NULL, "%s", why);
}

/* Authorizes acting on the user in row 0 of statement `stmt`; -1 when refused (answered). */
static int authorize_user_row(struct req *r, const struct db_result *res, int stmt, const char *username)
{
    if (rpc_user_visible(r, res, stmt, username, "username") < 0)
        return -1;
    int64_t path[AUTHZ_MAX_DEPTH];
    struct authz_target t = rpc_user_target(res, stmt, 0, path);
    return req_authorize(r, &t);
}

int rpc_other_user_ask(struct req *r, const char *username, const char *mine)
{
    const char *why = rpc_text_problem(username, USERNAME_MAX, 0);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "user", "user %s", why);
        return -1;
    }
    /* only those who may see other people's accounts ask for others: the rest learn nothing, not even who exists */
    if (authz_check(req_who(r), ACT_USER_READ, NULL, &why) != KEHU__V1__CODE__OK) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "user", "you may see only %s", mine);
        return -1;
    }
    return 0;
}

int rpc_other_user_check(struct req *r, const struct db_result *res, int stmt, const char *username,
                         const char *theirs, int64_t *user_id)
{
    (void)theirs;
    if (rpc_user_visible(r, res, stmt, username, "user") < 0)
        return -1;
    if (user_id)
        *user_id = db_get_i64(res, stmt, 0, 0);
    return 0;
}

static void user_changed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int last = res->nres - 1;
    Kehu__V1__User *u = rpc_user_from_row(r, res, last, 0, 0);
    if (r->msg->op_case == KEHU__V1__REQUEST__OP_USER_DISABLE)
        rpc_forget_sessions(r->srv, u->id, 0, 0);
    log_info(r->conn->id, r->id, "%s: %s (%s in '%s'%s)", r->rpc->name, u->username, rpc_role_sql(u->role),
             u->unit_name, u->disabled ? ", disabled" : "");
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_USER, u);
}

static void user_disable_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (authorize_user_row(r, res, 0, r->msg->user_disable->username) < 0)
        return;
    const char *p[] = { db_get(res, 0, 0, 0) };
    struct db_call *call = db_call_new(r->srv->db, user_changed, r);
    db_call_add(call, &user_disable_stmt, 1, p);
    db_call_add(call, &user_revoke_sessions, 1, p);
    db_call_add(call, &rpc_user_by_id, 1, p);
    audit_call_send(r, call);
}

static void user_disable(struct req *r)
{
    const Kehu__V1__UserDisable *m = r->msg->user_disable;
    if (!m || !m->username || !*m->username) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "username", "a username is required");
        return;
    }
    const char *p[] = { m->username };
    db_query(r->srv->db, &rpc_user_by_name, 1, p, user_disable_found, r);
}

const struct rpc_entry rpc_user_disable = { KEHU__V1__REQUEST__OP_USER_DISABLE, "user_disable", ACT_USER_WRITE, 0,
                                            user_disable };

static void user_move_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__UserMove *m = r->msg->user_move;
    if (!req_db_ok(r, res))
        return;
    if (authorize_user_row(r, res, 0, m->username) < 0)
        return;
    if (db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "unit", "no org unit '%s'", m->unit);
        return;
    }
    /* the destination must be in scope too, for the user's role */
    int64_t path[AUTHZ_MAX_DEPTH];
    int n = authz_parse_path(db_get(res, 1, 0, 7), path, AUTHZ_MAX_DEPTH);
    struct authz_target t = {
        .unit_path = path,
        .path_len = n < 0 ? 0 : n,
        .role = rpc_role_from_sql(db_get(res, 0, 0, 3)),
        .user_id = db_get_i64(res, 0, 0, 0),
    };
    if (req_authorize(r, &t) < 0)
        return;
    const char *p[] = { db_get(res, 0, 0, 0), db_get(res, 1, 0, 0) };
    struct db_call *call = db_call_new(r->srv->db, user_changed, r);
    db_call_add(call, &user_move_stmt, 2, p);
    db_call_add(call, &rpc_user_by_id, 1, p);
    audit_call_send(r, call);
}

static void user_move(struct req *r)
{
    const Kehu__V1__UserMove *m = r->msg->user_move;
    if (!m || !m->username || !*m->username) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "username", "a username is required");
        return;
    }
    if (!m->unit || !*m->unit) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "unit", "an org unit is required");
        return;
    }
    const char *pu[] = { m->username };
    const char *po[] = { m->unit };
    struct db_call *call = db_call_new(r->srv->db, user_move_found, r);
    db_call_add(call, &rpc_user_by_name, 1, pu);
    db_call_add(call, &unit_by_ref, 1, po);
    db_call_send(call);
}

const struct rpc_entry rpc_user_move = { KEHU__V1__REQUEST__OP_USER_MOVE, "user_move", ACT_USER_WRITE, 0,
                                         user_move };

/* ---- UserEnable, UserSetRole, UserResetPassword: find the user, authorize, change */

static struct db_stmt user_enable_stmt = DB_STMT(
    "UPDATE app_user SET disabled_at = NULL, failed_logins = 0, last_failed_at = NULL, updated_at = now()"
    " WHERE id = $1 AND disabled_at IS NOT NULL");
static struct db_stmt user_set_role_stmt = DB_STMT(
    "WITH u AS (UPDATE app_user SET role = $2::user_role, updated_at = now() WHERE id = $1 AND role <> $2::user_role"
    " RETURNING id) SELECT user_announce(id) FROM u");
static struct db_stmt user_set_password_stmt = DB_STMT("SELECT user_set_password($1, $2, $3::boolean, $4)");

/* The user as changed (the call's last statement before the audit row), and
 * what this server must apply at once: other instances hear it announced. */
static void account_changed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__User *u = rpc_user_from_row(r, res, res->nres - 1, 0, 0);
    if (r->msg->op_case == KEHU__V1__REQUEST__OP_USER_RESET_PASSWORD) {
        rpc_forget_sessions(r->srv, u->id, 0, 0);
    } else {
        struct principal now;
        rpc_principal_from_row(&now, res, res->nres - 1, 0, 0);
        rpc_principals_update(r->srv, &now);
    }
    log_info(r->conn->id, r->id, "%s: %s (%s in '%s'%s)", r->rpc->name, u->username, rpc_role_sql(u->role),
             u->unit_name, u->disabled ? ", disabled" : "");
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_USER, u);
}

/* Sends stmt ($1 the user's id, then params) with the user re-read, audited. */
static void account_change(struct req *r, const char *user_id, struct db_stmt *stmt, int n, const char *const *params)
{
    const char *p_id[] = { user_id };
    struct db_call *call = db_call_new(r->srv->db, account_changed, r);
    db_call_add(call, stmt, n, params);
    db_call_add(call, &rpc_user_by_id, 1, p_id);
    audit_call_send(r, call);
}

/* The username of a request acting on one user; -1 when refused (answered). */
static int username_arg(struct req *r, const char *username)
{
    if (!username || !*username) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "username", "a username is required");
        return -1;
    }
    const char *why = rpc_text_problem(username, USERNAME_MAX, 0);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "username", "the username %s", why);
        return -1;
    }
    return 0;
}

static void user_enable_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (authorize_user_row(r, res, 0, r->msg->user_enable->username) < 0)
        return;
    const char *p[] = { db_get(res, 0, 0, 0) };
    audit_note_detail(r, "%s", r->msg->user_enable->username);
    account_change(r, p[0], &user_enable_stmt, 1, p);
}

static void user_enable(struct req *r)
{
    const Kehu__V1__UserEnable *m = r->msg->user_enable;
    if (username_arg(r, m ? m->username : NULL) < 0)
        return;
    const char *p[] = { m->username };
    db_query(r->srv->db, &rpc_user_by_name, 1, p, user_enable_found, r);
}

const struct rpc_entry rpc_user_enable = { KEHU__V1__REQUEST__OP_USER_ENABLE, "user_enable", ACT_USER_WRITE, 0,
                                           user_enable };

static void user_set_role_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__UserSetRole *m = r->msg->user_set_role;
    if (!req_db_ok(r, res))
        return;
    if (authorize_user_row(r, res, 0, m->username) < 0)
        return;
    /* the role given must be one the caller may hand out there, too */
    int64_t path[AUTHZ_MAX_DEPTH];
    struct authz_target t = rpc_user_target(res, 0, 0, path);
    t.role = m->role;
    if (req_authorize(r, &t) < 0)
        return;
    const char *p[] = { db_get(res, 0, 0, 0), rpc_role_sql(m->role) };
    audit_note_detail(r, "%s: %s -> %s", m->username, db_get(res, 0, 0, 3), rpc_role_sql(m->role));
    account_change(r, p[0], &user_set_role_stmt, 2, p);
}

static void user_set_role(struct req *r)
{
    const Kehu__V1__UserSetRole *m = r->msg->user_set_role;
    if (username_arg(r, m ? m->username : NULL) < 0)
        return;
    if (!rpc_role_sql(m->role)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "role",
                 "role must be admin, branch_manager, account_manager, service_agent, auditor, committee or finance");
        return;
    }
    const char *p[] = { m->username };
    db_query(r->srv->db, &rpc_user_by_name, 1, p, user_set_role_found, r);
}

const struct rpc_entry rpc_user_set_role = { KEHU__V1__REQUEST__OP_USER_SET_ROLE, "user_set_role", ACT_USER_WRITE, 0,
                                             user_set_role };

/* A password in a request: wiped once it has been handed to the hasher. */
static void wipe(char *secret)
{
    if (secret)
        sodium_memzero(secret, strlen(secret));
}

static void reset_hashed(int ok, const char *hash, void *arg)
{
    struct req *r = arg;
    if (!ok) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "hashing the password failed (hash_mem too large?)");
        return;
    }
    const char *user_id = r->state;
    const char *p[] = { user_id, hash, "true", "0" };
    account_change(r, user_id, &user_set_password_stmt, 4, p);
}

static void reset_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    Kehu__V1__UserResetPassword *m = r->msg->user_reset_password;
    if (res->outcome != DB_OK) {
        wipe(m->new_password);
        req_fail_db(r, res);
        return;
    }
    /* answering frees the request: the password is wiped first */
    const char *why;
    Kehu__V1__Code code = user_row_check(r, res, 0, &why);
    if (code != KEHU__V1__CODE__OK) {
        wipe(m->new_password);
        user_row_refuse(r, code, why, m->username);
        return;
    }
    r->state = arena_strdup(&r->arena, db_get(res, 0, 0, 0));
    audit_note_detail(r, "%s", m->username);
    auth_hash_sched(&r->srv->limits.auth, m->new_password, r->srv->cfg.hash_ops, r->srv->cfg.hash_mem, reset_hashed, r);
    wipe(m->new_password);
}

static void user_reset_password(struct req *r)
{
    Kehu__V1__UserResetPassword *m = r->msg->user_reset_password;
    if (username_arg(r, m ? m->username : NULL) < 0)
        return;
    const char *why = m->new_password && *m->new_password ? auth_password_problem(m->new_password)
                                                          : "a new password is required";
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "new_password", "%s", why);
        return;
    }
    const char *p[] = { m->username };
    db_query(r->srv->db, &rpc_user_by_name, 1, p, reset_found, r);
}

const struct rpc_entry rpc_user_reset_password = { KEHU__V1__REQUEST__OP_USER_RESET_PASSWORD, "user_reset_password",
                                                   ACT_USER_WRITE, 0, user_reset_password };

/* ---- OrgRename, OrgMove (admins over the whole network, as OrgAdd) */

static struct db_stmt unit_rename_stmt = DB_STMT("UPDATE org_unit SET name = $2 WHERE id = $1");
static struct db_stmt unit_move_stmt = DB_STMT("SELECT org_unit_move($1, $2, $3)");
static struct db_stmt unit_by_id = DB_STMT("SELECT " UNIT_COLUMNS " FROM" UNIT_FROM "WHERE u.id = $1");
static struct db_stmt unit_users = DB_STMT("SELECT " USER_COLUMNS " FROM" USER_FROM "WHERE o.path @> ARRAY[$1::bigint]");

static void unit_changed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "23505") == 0 && r->msg->op_case == KEHU__V1__REQUEST__OP_ORG_RENAME)
            req_fail(r, KEHU__V1__CODE__CONFLICT, "name", "'%s' already has a unit named '%s'", (char *)r->state,
                     r->msg->org_rename->name);
        else
            req_fail_db(r, res);
        return;
    }
    Kehu__V1__OrgUnit *u = rpc_unit_from_row(r, res, res->nres - 1, 0, 0);
    if (r->msg->op_case == KEHU__V1__REQUEST__OP_ORG_MOVE) {
        /* the people of the subtree have a new branch or region from their next request (on
         * this server now, on others when they hear it announced) */
        for (int i = 0; i < db_rows(res, 1); i++) {
            struct principal now;
            rpc_principal_from_row(&now, res, 1, i, 0);
            rpc_principals_update(r->srv, &now);
        }
        log_info(r->conn->id, r->id, "org unit %lld moved to %s (%lld customer(s) followed)", (long long)u->id,
                 u->path, (long long)db_get_i64(res, 0, 0, 0));
    } else {
        log_info(r->conn->id, r->id, "org unit %lld renamed: %s", (long long)u->id, u->path);
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ORG_UNIT, u);
}

static void org_rename_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__OrgRename *m = r->msg->org_rename;
    if (!req_db_one(r, res, "unit", "no org unit '%s'", m->unit))
        return;
    /* the parent's path, for a refusal naming where the clash is */
    const char *path = db_get(res, 0, 0, 8), *slash = strrchr(path, '/');
    r->state = slash ? arena_printf(&r->arena, "%.*s", (int)(slash - path), path) : arena_strdup(&r->arena, db_get(res, 0, 0, 4));
    audit_note_detail(r, "%s -> %s", path, m->name);
    const char *p[] = { db_get(res, 0, 0, 0), m->name };
    struct db_call *call = db_call_new(r->srv->db, unit_changed, r);
    db_call_add(call, &unit_rename_stmt, 2, p);
    db_call_add(call, &unit_by_id, 1, p);
    audit_call_send(r, call);
}

static void org_rename(struct req *r)
{
    const Kehu__V1__OrgRename *m = r->msg->org_rename;
    if (!m || !m->unit || !*m->unit) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "unit", "an org unit is required");
        return;
    }
    const char *why = unit_name_problem(m->name);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "name", "the unit's name %s", why);
        return;
    }
    const char *p[] = { m->unit };
    db_query(r->srv->db, &unit_by_ref, 1, p, org_rename_found, r);
}

const struct rpc_entry rpc_org_rename = { KEHU__V1__REQUEST__OP_ORG_RENAME, "org_rename", ACT_ORG_WRITE, 0,
                                          org_rename };

static void org_move_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__OrgMove *m = r->msg->org_move;
    if (!req_db_one(r, res, "unit", "no org unit '%s'", m->unit))
        return;
    if (db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "parent", "no org unit '%s'", m->parent);
        return;
    }
    audit_note_detail(r, "%s -> %s", db_get(res, 0, 0, 8), db_get(res, 1, 0, 8));
    const char *p[] = { db_get(res, 0, 0, 0), db_get(res, 1, 0, 0), rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, unit_changed, r);
    db_call_add(call, &unit_move_stmt, 3, p);
    db_call_add(call, &unit_users, 1, p);
    db_call_add(call, &unit_by_id, 1, p);
    audit_call_send(r, call);
}

static void org_move(struct req *r)
{
    const Kehu__V1__OrgMove *m = r->msg->org_move;
    if (!m || !m->unit || !*m->unit) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "unit", "an org unit is required");
        return;
    }
    if (!m->parent || !*m->parent) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "parent", "a parent unit is required");
        return;
    }
    const char *pu[] = { m->unit }, *pp[] = { m->parent };
    struct db_call *call = db_call_new(r->srv->db, org_move_found, r);
    db_call_add(call, &unit_by_ref, 1, pu);
    db_call_add(call, &parent_by_ref, 1, pp);
    db_call_send(call);
}

const struct rpc_entry rpc_org_move = { KEHU__V1__REQUEST__OP_ORG_MOVE, "org_move", ACT_ORG_WRITE, 0, org_move };
