#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "conn.h"
#include "log.h"
#include "rpc.h"
#include "server.h"
#include "util.h"

/* "kind customer branch version owner actor {path} {owner_path} [detail]" */
struct announcement {
    char kind[48];
    const char *detail; /* "" when none */
    int64_t customer, branch, version, owner, actor;
    int64_t path[AUTHZ_MAX_DEPTH], owner_path[AUTHZ_MAX_DEPTH];
    int path_len, owner_path_len;
};

static int parse(const char *payload, struct announcement *a)
{
    long long customer, branch, version, owner, actor;
    int used = 0;
    if (sscanf(payload, "%47s %lld %lld %lld %lld %lld %n", a->kind, &customer, &branch, &version, &owner, &actor,
               &used) != 6)
        return -1;
    a->customer = customer;
    a->branch = branch;
    a->version = version;
    a->owner = owner;
    a->actor = actor;
    a->path_len = authz_parse_path(payload + used, a->path, AUTHZ_MAX_DEPTH);
    if (a->path_len < 0)
        return -1;
    const char *end = strchr(payload + used, '}');
    a->owner_path_len = 0;
    if (end && end[1] == ' ' && end[2] == '{') { /* the owner's unit */
        a->owner_path_len = authz_parse_path(end + 2, a->owner_path, AUTHZ_MAX_DEPTH);
        if (a->owner_path_len < 0)
            return -1;
        end = strchr(end + 2, '}');
    }
    a->detail = end && end[1] == ' ' ? end + 2 : "";
    return 0;
}

static int in_path(const struct announcement *a, int64_t unit)
{
    for (int i = 0; i < a->path_len; i++)
        if (a->path[i] == unit)
            return 1;
    return 0;
}

static int wanted(const struct conn *c, const struct announcement *a)
{
    const struct subscription *s = &c->sub;
    switch (s->kind) {
    case SUB_MINE:
        return a->owner == c->who.user_id;
    case SUB_UNIT:
        return in_path(a, s->id);
    case SUB_CUSTOMER:
        return a->customer == s->id;
    default:
        return 0;
    }
}

void notify_dispatch(const char *channel, const char *payload, void *arg)
{
    struct server *s = arg;
    long long session, user;
    /* "session.revoked SESSION USER": a logout or a disabled account, maybe on another kehud */
    if (sscanf(payload, "session.revoked %lld %lld", &session, &user) == 2) {
        rpc_forget_sessions(s, user, session);
        return;
    }
    /* a deadline was added: the case scheduler may have to wake sooner */
    long long due_in;
    if (sscanf(payload, "due.wake %lld", &due_in) == 1) {
        case_sched_wake(s, due_in);
        return;
    }
    /* the permission matrix changed, maybe through another kehud */
    if (strcmp(payload, "perm.changed") == 0) {
        perm_reload(s);
        return;
    }
    struct announcement a;
    if (parse(payload, &a) < 0) {
        log_warn(0, 0, "ignoring a malformed notification on %s: %.200s", channel, payload);
        return;
    }
    Kehu__V1__Event ev = KEHU__V1__EVENT__INIT;
    ev.kind = a.kind;
    ev.customer_id = a.customer;
    ev.branch_id = a.branch;
    ev.version = a.version;
    ev.owner_id = a.owner;
    ev.actor_id = a.actor;
    ev.at_ms = now_unix_ms();
    ev.detail = (char *)a.detail;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.body_case = KEHU__V1__FRAME__BODY_EVENT;
    f.event = &ev;
    struct authz_target t = { .unit_path = a.path, .path_len = a.path_len, .owner_id = a.owner,
                              .owner_path = a.owner_path, .owner_path_len = a.owner_path_len };
    int sent = 0;
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->state != CONN_OPEN || c->sub.kind == SUB_NONE || !wanted(c, &a))
            continue;
        const char *why;
        if (authz_check(&c->who, ACT_CUSTOMER_READ, &t, &why) != KEHU__V1__CODE__OK)
            continue; /* their session ended, or the customer is not theirs to see */
        conn_send(c, &f);
        sent++;
    }
    log_debug(0, 0, "%s of customer %lld pushed to %d connection(s)", a.kind, (long long)a.customer, sent);
}

/* ---- Subscribe */


static void subscribed(struct req *r, enum subscription_kind kind, int64_t id)
{
    r->conn->sub.kind = kind;
    r->conn->sub.id = id;
    log_info(r->conn->id, r->id, "subscribed: %s %lld",
             kind == SUB_MINE ? "mine" : kind == SUB_UNIT ? "unit" : kind == SUB_CUSTOMER ? "customer" : "off",
             (long long)id);
    Kehu__V1__Empty *e = arena_alloc(&r->arena, sizeof *e);
    kehu__v1__empty__init(e);
    r->resp.result_case = KEHU__V1__RESPONSE__RESULT_EMPTY;
    r->resp.empty = e;
    req_reply(r);
}

static void unit_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK) {
        req_fail_db(r, res);
        return;
    }
    if (db_rows(res, 0) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "unit", "no org unit '%s'", r->msg->subscribe->unit);
        return;
    }
    subscribed(r, SUB_UNIT, db_get_i64(res, 0, 0, 0));
}

static void customer_found(struct req *r, const struct rpc_customer_ref *ref)
{
    subscribed(r, SUB_CUSTOMER, ref->id);
}

static void subscribe(struct req *r)
{
    const Kehu__V1__Subscribe *m = r->msg->subscribe;
    if (!m || m->off) {
        subscribed(r, SUB_NONE, 0);
        return;
    }
    switch (m->scope_case) {
    case KEHU__V1__SUBSCRIBE__SCOPE_MINE:
        subscribed(r, SUB_MINE, req_who(r)->user_id);
        return;
    case KEHU__V1__SUBSCRIBE__SCOPE_UNIT: {
        if (!m->unit || !*m->unit) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "unit", "a unit is required");
            return;
        }
        const char *p[] = { m->unit };
        db_query(r->srv->db, &rpc_unit_place_by_ref, 1, p, unit_found, r);
        return;
    }
    case KEHU__V1__SUBSCRIBE__SCOPE_CUSTOMER_ID:
        rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_READ, customer_found);
        return;
    default:
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "scope", "choose mine, a unit or a customer");
        return;
    }
}

const struct rpc_entry rpc_subscribe = { KEHU__V1__REQUEST__OP_SUBSCRIBE, "subscribe", ACT_CUSTOMER_READ, 0,
                                         subscribe };
