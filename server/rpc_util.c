/* What the RPC families share: numbers as statement parameters and result
 * cells as protocol strings, both in the request's arena; free text checked
 * and refused the one way; a user named to act on a customer; policy
 * values; the reversal of a money record (transactions, payments). */
#include <string.h>
#include "audit.h"
#include "authz.h"
#include "row_msg.h"
#include "rpc.h"
#include "server.h"
#include "util.h"
#include "validate.h"
#include "wire_check.h"

char *rpc_num(struct req *r, int64_t v)
{
    return arena_printf(&r->arena, "%lld", (long long)v);
}

char *rpc_col(struct req *r, const struct db_result *res, int stmt, int row, int col)
{
    const char *v = db_get(res, stmt, row, col);
    return arena_strdup(&r->arena, v ? v : "");
}

const char *rpc_opt(const char *s)
{
    return s && *s ? s : NULL;
}

const char *rpc_text_problem(const char *s, size_t max_chars, int multiline)
{
    if (!s || !*s)
        return NULL;
    /* a request's strings were checked as decoded (dispatch.c); this keeps
     * the helper sound for text from elsewhere (files, the database) */
    if (!wire_utf8_valid((const uint8_t *)s, strlen(s)))
        return "is not valid UTF-8";
    return multiline ? validate_text(s, max_chars) : validate_line(s, max_chars);
}

int rpc_check_text(struct req *r, const char *field, const char *s, size_t max_chars, int multiline)
{
    const char *why = rpc_text_problem(s, max_chars, multiline);
    if (!why)
        return 0;
    req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "%s %s", field, why);
    return -1;
}

int rpc_user_may_act(struct req *r, const struct db_result *res, int stmt, const char *field, const char *username,
                     const struct rpc_customer_ref *ref, enum authz_action act, struct principal *them)
{
    if (db_get_bool(res, stmt, 0, 6)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "user '%s' is disabled", username);
        return -1;
    }
    rpc_principal_from_row(them, res, stmt, 0, 0);
    struct authz_target t = rpc_customer_target(ref);
    const char *why;
    return authz_check(them, act, &t, &why) == KEHU__V1__CODE__OK ? 0 : 1;
}

struct row_msg rpc_policy_value_row = ROW_MSG(kehu__v1__policy_value__descriptor, "key,value,description");

char **rpc_cells(struct req *r, const struct db_result *res, int stmt, int col, size_t *n_out)
{
    int n = db_rows(res, stmt);
    char **cells = arena_alloc(&r->arena, sizeof *cells * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        cells[i] = rpc_col(r, res, stmt, i, col);
    *n_out = (size_t)n;
    return cells;
}

/* ---- a money record corrected by a row negating it */

struct reversal {
    const struct rpc_reversal *kind;
    int64_t id;
    const char *reason;
};

static void reversed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const struct reversal *st = r->state;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 1) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "id", "%s", st->kind->missing(r));
        return;
    }
    st->kind->reply(r, res, 1);
}

static void reverse_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    struct reversal *st = ref->ctx;
    r->state = st;
    const char *p[] = { rpc_num(r, st->id), st->reason, rpc_num(r, req_who(r)->user_id) };
    struct db_call *call = db_call_new(r->srv->db, reversed, r);
    db_call_add(call, st->kind->reverse, 3, p);
    db_call_add(call, st->kind->reversal, 1, p);
    audit_call_send(r, call);
}

static void reverse_owner_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct reversal *st = r->state;
    if (!req_db_one(r, res, "id", "%s", st->kind->missing(r)))
        return;
    /* a record of a customer the caller may not change is as missing as one that never was */
    rpc_customer_load_as(r, db_get_i64(res, 0, 0, 0), ACT_CUSTOMER_WRITE, reverse_loaded, st, "id",
                         st->kind->missing(r));
}

void rpc_reverse(struct req *r, const struct rpc_reversal *kind, int64_t id, const char *reason)
{
    struct reversal *st = arena_alloc(&r->arena, sizeof *st);
    st->kind = kind;
    st->id = id;
    st->reason = reason;
    r->state = st;
    const char *p[] = { rpc_num(r, id) };
    db_query(r->srv->db, kind->owner, 1, p, reverse_owner_found, r);
}
