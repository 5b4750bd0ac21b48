/* The permission matrix (role x action -> scope): loading it into the
 * authorization function, showing and changing it, and explaining a
 * decision (AccessExplain) for any user and customer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit.h"
#include "authz.h"
#include "conn.h"
#include "customer_fields.h"
#include "log.h"
#include "rpc.h"
#include "server.h"

/* The matrix and its version, read in one snapshot. */
#define PERM_ROWS_SQL                                                                                        \
    "SELECT role::text, action, scope::text, (SELECT version FROM role_permission_version) FROM role_permission"

/* Applies rows (role, action, scope, version) to the matrix in force,
 * unless a newer version is in force already (a reload answered after a
 * later change); returns how many cells were applied. */
static int apply_rows(int n, const char *(*get)(void *src, int row, int col), void *src)
{
    if (n == 0 || !authz_perm_version_newer(strtoll(get(src, 0, 3), NULL, 10)))
        return 0;
    int applied = 0;
    for (int i = 0; i < n; i++) {
        Kehu__V1__Role role = rpc_role_from_sql(get(src, i, 0));
        int a = perm_action_from_name(get(src, i, 1)), sc = perm_scope_from_name(get(src, i, 2));
        if (role == KEHU__V1__ROLE__ROLE_UNSPECIFIED || a < 0 || sc < 0)
            continue;
        authz_set_perm(role, (enum perm_action)a, (enum perm_scope)sc);
        applied++;
    }
    return applied;
}

static const char *pg_cell(void *src, int row, int col)
{
    return PQgetvalue(src, row, col);
}

int perm_load_sync(PGconn *pg, char *err, size_t errsz)
{
    PGresult *res = PQexec(pg, PERM_ROWS_SQL);
    int rc = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        snprintf(err, errsz, "cannot load the permission matrix: %s", PQresultErrorMessage(res));
    else if (PQntuples(res) == 0 || apply_rows(PQntuples(res), pg_cell, res) == 0)
        snprintf(err, errsz, "the permission matrix (role_permission) is empty");
    else
        rc = 0;
    PQclear(res);
    return rc;
}

struct rows_src {
    const struct db_result *res;
    int stmt;
};

static const char *db_cell(void *src, int row, int col)
{
    struct rows_src *s = src;
    return db_get(s->res, s->stmt, row, col);
}

static int apply_result(const struct db_result *res, int stmt)
{
    struct rows_src src = { res, stmt };
    return apply_rows(db_rows(res, stmt), db_cell, &src);
}

static struct db_stmt perm_rows = DB_STMT(PERM_ROWS_SQL);

static void reloaded(const struct db_result *res, void *arg)
{
    (void)arg;
    if (res->outcome != DB_OK) {
        log_error(0, 0, "reloading the permission matrix: %s", res->message);
        return;
    }
    int n = apply_result(res, 0);
    if (n)
        log_info(0, 0, "permission matrix reloaded (%d cells, version %s)", n, db_get(res, 0, 0, 3));
    else
        log_debug(0, 0, "permission matrix reload skipped: a newer version is in force");
}

void perm_reload(struct server *s)
{
    db_query(s->db, &perm_rows, 0, NULL, reloaded, NULL);
}

/* ---- PermShow, PermSet */

static Kehu__V1__PermMatrix *matrix_message(struct req *r)
{
    Kehu__V1__PermMatrix *m = arena_alloc(&r->arena, sizeof *m);
    kehu__v1__perm_matrix__init(m);
    size_t cells = (size_t)(AUTHZ_ROLES - 1) * PERM_ACTIONS;
    m->cells = arena_alloc(&r->arena, sizeof *m->cells * cells);
    for (int role = 1; role < AUTHZ_ROLES; role++)
        for (int a = 0; a < PERM_ACTIONS; a++) {
            Kehu__V1__PermCell *c = arena_alloc(&r->arena, sizeof *c);
            kehu__v1__perm_cell__init(c);
            c->role = (Kehu__V1__Role)role;
            c->action = (char *)perm_action_name((enum perm_action)a);
            c->scope = (char *)perm_scope_name(authz_perm((Kehu__V1__Role)role, (enum perm_action)a));
            m->cells[m->n_cells++] = c;
        }
    m->actions = arena_alloc(&r->arena, sizeof *m->actions * PERM_ACTIONS);
    for (int a = 0; a < PERM_ACTIONS; a++)
        m->actions[m->n_actions++] = (char *)perm_action_name((enum perm_action)a);
    m->scopes = arena_alloc(&r->arena, sizeof *m->scopes * PS_SCOPES);
    for (int sc = 0; sc < PS_SCOPES; sc++)
        m->scopes[m->n_scopes++] = (char *)perm_scope_name((enum perm_scope)sc);
    return m;
}

static void reply_matrix(struct req *r, int changed)
{
    r->resp.result_case = KEHU__V1__RESPONSE__RESULT_PERM_MATRIX;
    r->resp.perm_matrix = matrix_message(r);
    r->resp.perm_matrix->changed = changed;
    req_reply(r);
}

static void perm_show(struct req *r)
{
    reply_matrix(r, 0);
}

const struct rpc_entry rpc_perm_show = { KEHU__V1__REQUEST__OP_PERM_SHOW, "perm_show", ACT_SESSION, 0, perm_show };

static struct db_stmt perm_set_stmt = DB_STMT("SELECT role_permission_set($1::text[], $2::text[], $3::text[], $4)");
/* how many cells differ from what is in force now, before the update */
static struct db_stmt perm_diff = DB_STMT(
    "SELECT count(*) FROM role_permission p JOIN unnest($1::text[], $2::text[], $3::text[]) u(r, a, s)"
    " ON p.role::text = u.r AND p.action = u.a WHERE p.scope::text <> u.s");

static void perm_set_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome == DB_ERROR && strcmp(res->sqlstate, "22023") == 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "cells", "%s", res->primary ? res->primary : "not a valid cell");
        return;
    }
    if (!req_db_ok(r, res))
        return;
    /* in force here at once; other kehuds follow the announcement */
    apply_result(res, 2);
    int changed = (int)db_get_i64(res, 0, 0, 0);
    log_info(r->conn->id, r->id, "permission matrix: %d cell(s) changed by %s", changed, req_who(r)->username);
    reply_matrix(r, changed);
}

static void perm_set(struct req *r)
{
    const Kehu__V1__PermSet *m = r->msg->perm_set;
    if (!m || m->n_cells == 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "cells", "give at least one ROLE ACTION=SCOPE");
        return;
    }
    const char **roles = arena_alloc(&r->arena, sizeof *roles * m->n_cells);
    const char **actions = arena_alloc(&r->arena, sizeof *actions * m->n_cells);
    const char **scopes = arena_alloc(&r->arena, sizeof *scopes * m->n_cells);
    for (size_t i = 0; i < m->n_cells; i++) {
        const Kehu__V1__PermCell *c = m->cells[i];
        roles[i] = rpc_role_sql(c->role);
        actions[i] = c->action ? c->action : "";
        scopes[i] = c->scope ? c->scope : "";
        if (!*roles[i]) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "role", "cell %zu: no role given", i + 1);
            return;
        }
        if (perm_action_from_name(actions[i]) < 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "action",
                     "no action '%.40s': read, edit, reassign, override_grade, export, unmask, delete, log_contact,"
                     " admin",
                     actions[i]);
            return;
        }
        if (perm_scope_from_name(scopes[i]) < 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "scope",
                     "no scope '%.40s': none, own, team, branch, region, all", scopes[i]);
            return;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(roles[j], roles[i]) == 0 && strcmp(actions[j], actions[i]) == 0) {
                req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "cells", "%s %s is given twice", roles[i], actions[i]);
                return;
            }
    }
    const char *p[] = { arena_pg_array(&r->arena, roles, m->n_cells), arena_pg_array(&r->arena, actions, m->n_cells),
                        arena_pg_array(&r->arena, scopes, m->n_cells),
                        arena_printf(&r->arena, "%lld", (long long)req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, perm_set_done, r);
    db_call_add(call, &perm_diff, 3, p);
    db_call_add(call, &perm_set_stmt, 4, p);
    db_call_add(call, &perm_rows, 0, NULL);
    audit_call_send(r, call); /* the change and its audit row commit together */
}

const struct rpc_entry rpc_perm_set = { KEHU__V1__REQUEST__OP_PERM_SET, "perm_set", ACT_ORG_WRITE, 0, perm_set };

/* ---- AccessExplain */

static const enum authz_action explained[PERM_ACTIONS] = {
    [PERM_READ] = ACT_CUSTOMER_READ,       [PERM_EDIT] = ACT_CUSTOMER_WRITE,
    [PERM_REASSIGN] = ACT_CUSTOMER_REASSIGN, [PERM_OVERRIDE_GRADE] = ACT_GRADE_OVERRIDE,
    [PERM_EXPORT] = ACT_CUSTOMER_EXPORT,   [PERM_UNMASK] = ACT_CUSTOMER_UNMASK,
    [PERM_DELETE] = ACT_CUSTOMER_DELETE,   [PERM_LOG_CONTACT] = ACT_CUSTOMER_LOG_CONTACT,
    [PERM_REVIEW_RATE] = ACT_REVIEW_RATE,  [PERM_REVIEW_FINAL] = ACT_REVIEW_FINAL,
    [PERM_REVIEW_CREDIT] = ACT_REVIEW_CREDIT,
};

struct explain_state {
    struct rpc_customer_ref ref;
    char *name, *status;
    struct principal them; /* the user whose access is explained */
    int disabled;
    Kehu__V1__AccessExplanation *x;
    /* the names of the users and units the reasons mention */
    size_t n_names;
    struct named {
        char kind; /* 'u' a user, 'o' an org unit */
        int64_t id;
        const char *name;
    } *names;
};

static struct db_stmt explain_user = DB_STMT("SELECT " USER_COLUMNS " FROM" USER_FROM "WHERE u.username = lower($1)");

/* The users ($1) and units ($2) a reason can mention: the customer's owner,
 * the units on the customer's, its owner's and the user's paths. The caller
 * may read the customer and the user, so these are theirs to see. */
static struct db_stmt explain_names = DB_STMT(
    "SELECT 'u', id, username FROM app_user WHERE id = ANY($1::bigint[])"
    " UNION ALL SELECT 'o', id, name FROM org_unit WHERE id = ANY($2::bigint[])");

static const char *name_of(const struct explain_state *st, char kind, int64_t id)
{
    for (size_t i = 0; i < st->n_names; i++)
        if (st->names[i].kind == kind && st->names[i].id == id)
            return st->names[i].name;
    return NULL;
}

/* The reason with each "user N" and "unit N" (authz_explain's words) given
 * its name: "user li.lei (12)", "unit 上海分行 (7)". */
static char *with_names(struct req *r, const struct explain_state *st, const char *reason)
{
    size_t cap = strlen(reason) + 1, len = 0;
    for (size_t i = 0; i < st->n_names; i++)
        cap += strlen(st->names[i].name) + 4;
    cap *= 2;
    char *out = arena_alloc(&r->arena, cap);
    const char *p = reason;
    while (*p && len + 1 < cap) {
        int user = strncmp(p, "user ", 5) == 0, unit = strncmp(p, "unit ", 5) == 0;
        if ((user || unit) && p[5] >= '0' && p[5] <= '9' && (p == reason || p[-1] == ' ')) {
            char *end;
            long long id = strtoll(p + 5, &end, 10);
            const char *name = name_of(st, user ? 'u' : 'o', id);
            if (name) {
                int w = snprintf(out + len, cap - len, "%s %s (%lld)", user ? "user" : "unit", name, id);
                if (w < 0 || (size_t)w >= cap - len)
                    break;
                len += (size_t)w;
                p = end;
                continue;
            }
        }
        out[len++] = *p++;
    }
    out[len] = 0;
    return out;
}

static void explain_names_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct explain_state *st = r->state;
    if (!req_db_ok(r, res))
        return;
    int rows = db_rows(res, 0);
    st->names = arena_alloc(&r->arena, sizeof *st->names * (size_t)(rows ? rows : 1));
    for (int i = 0; i < rows; i++) {
        struct named *n = &st->names[st->n_names++];
        n->kind = db_get(res, 0, i, 0)[0];
        n->id = db_get_i64(res, 0, i, 1);
        n->name = rpc_col(r, res, 0, i, 2);
    }
    Kehu__V1__AccessExplanation *x = st->x;
    const char *owner = name_of(st, 'u', st->ref.owner_id);
    const char *branch = st->ref.path_len ? name_of(st, 'o', st->ref.path[st->ref.path_len - 1]) : NULL;
    x->owner_name = (char *)(owner ? owner : "");
    x->branch_name = (char *)(branch ? branch : "");
    const struct principal *them = &st->them;
    x->decisions = arena_alloc(&r->arena, sizeof *x->decisions * PERM_ACTIONS);
    struct authz_target t = rpc_customer_target(&st->ref);
    const char *why;
    for (int a = 0; a < PERM_ACTIONS; a++) {
        Kehu__V1__AccessDecision *d = arena_alloc(&r->arena, sizeof *d);
        kehu__v1__access_decision__init(d);
        d->action = (char *)perm_action_name((enum perm_action)a);
        d->scope = (char *)perm_scope_name(authz_perm(them->role, (enum perm_action)a));
        char buf[512];
        if (st->disabled) {
            snprintf(buf, sizeof buf, "denied: the account is disabled");
        } else if (a == PERM_ADMIN) {
            struct authz_target owner_t = { .unit_path = t.owner_path, .path_len = t.owner_path_len,
                                            .user_id = t.owner_id, .role = KEHU__V1__ROLE__ACCOUNT_MANAGER };
            Kehu__V1__Code code = t.owner_id ? authz_check(them, ACT_USER_WRITE, &owner_t, &why)
                                             : KEHU__V1__CODE__PERMISSION_DENIED;
            d->allowed = code == KEHU__V1__CODE__OK;
            snprintf(buf, sizeof buf, "%s: 'admin' applies to users, not customers: %s", d->allowed ? "allowed" : "denied",
                     !t.owner_id ? "the customer has no owner to manage"
                     : d->allowed ? "may manage the customer's owner"
                                  : why);
        } else {
            d->allowed = authz_explain(them, explained[a], &t, buf, sizeof buf) == KEHU__V1__CODE__OK;
        }
        d->reason = with_names(r, st, buf);
        x->decisions[x->n_decisions++] = d;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ACCESS, x);
}

/* "{1,2,3}" of ids (a bigint[] parameter). */
static void ids_add(struct req *r, char **text, const int64_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        *text = arena_printf(&r->arena, "%s%s%lld", *text, **text ? "," : "", (long long)ids[i]);
}

static void explain_user_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__AccessExplain *m = r->msg->access_explain;
    struct explain_state *st = r->state;
    if (!req_db_ok(r, res))
        return;
    if (rpc_user_visible(r, res, 0, m->username, "username") < 0)
        return;
    int64_t path[AUTHZ_MAX_DEPTH];
    int n = rpc_user_row_path(res, 0, 0, 0, path, AUTHZ_MAX_DEPTH);
    rpc_principal_from_row(&st->them, res, 0, 0, 0);
    st->disabled = db_get_bool(res, 0, 0, 6);
    Kehu__V1__AccessExplanation *x = arena_alloc(&r->arena, sizeof *x);
    kehu__v1__access_explanation__init(x);
    x->user = rpc_user_from_row(r, res, 0, 0, 0);
    x->customer_id = st->ref.id;
    x->customer_name = st->name;
    x->customer_status = st->status;
    st->x = x;
    char *users = "", *units = "";
    if (st->ref.owner_id)
        ids_add(r, &users, &st->ref.owner_id, 1);
    ids_add(r, &units, st->ref.path, st->ref.path_len);
    ids_add(r, &units, st->ref.owner_path, st->ref.owner_path_len);
    ids_add(r, &units, path, n < 0 ? 0 : n);
    const char *p[] = { arena_printf(&r->arena, "{%s}", users), arena_printf(&r->arena, "{%s}", units) };
    db_query(r->srv->db, &explain_names, 2, p, explain_names_found, r);
}

static void explain_customer_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const struct db_result *row = r->state;
    struct explain_state *st = arena_alloc(&r->arena, sizeof *st);
    st->ref = *ref;
    st->name = arena_strdup(&r->arena, db_get(row, 0, 0, COL_NAME));
    st->status = arena_strdup(&r->arena, db_get(row, 0, 0, COL_STATUS));
    r->state = st;
    const char *p[] = { r->msg->access_explain->username };
    db_query(r->srv->db, &explain_user, 1, p, explain_user_found, r);
}

static void access_explain(struct req *r)
{
    const Kehu__V1__AccessExplain *m = r->msg->access_explain;
    if (!m || !m->username || !*m->username) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "username", "name the user whose access to explain");
        return;
    }
    /* the caller must be able to see the customer: explaining must not reveal it */
    rpc_customer_load_ctx(r, m->customer_id, ACT_CUSTOMER_READ, explain_customer_loaded, NULL, "customer_id");
}

const struct rpc_entry rpc_access_explain = { KEHU__V1__REQUEST__OP_ACCESS_EXPLAIN, "access_explain", ACT_USER_READ,
                                              0, access_explain };
