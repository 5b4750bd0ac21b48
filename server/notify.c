#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "conn.h"
#include "event_log.h"
#include "i18n.h"
#include "log.h"
#include "rpc.h"
#include "server.h"
#include "tr.h"
#include "util.h"

/* "kind customer branch version owner actor {path} {owner_path} [detail]",
 * then (sql/0018_event_detail.sql) "\x1e" job "\x1f" actor_name "\x1f"
 * customer_name "\x1f" fields (comma-separated). */
#define MAX_FIELDS 64
struct announcement {
    char kind[48];
    const char *detail; /* "" when none */
    int64_t customer, branch, version, owner, actor;
    int64_t path[AUTHZ_MAX_DEPTH], owner_path[AUTHZ_MAX_DEPTH];
    int path_len, owner_path_len;
    int64_t job; /* a bulk job's announcement: summed up at its end */
    const char *actor_name, *customer_name;
    char *fields[MAX_FIELDS];
    size_t n_fields;
};

/* Cuts the next part off *p at sep (the rest when there is none). */
static char *next_part(char **p, char sep)
{
    char *s = *p, *end = strchr(s, sep);
    if (end) {
        *end = 0;
        *p = end + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

/* The tail after "\x1e" (payload is a private copy: cut in place). */
static void parse_tail(char *payload, struct announcement *a)
{
    a->job = 0;
    a->actor_name = a->customer_name = "";
    a->n_fields = 0;
    char *tail = strchr(payload, '\x1e');
    if (!tail)
        return;
    *tail++ = 0; /* ends the detail */
    a->job = strtoll(next_part(&tail, '\x1f'), NULL, 10);
    a->actor_name = next_part(&tail, '\x1f');
    a->customer_name = next_part(&tail, '\x1f');
    char *fields = next_part(&tail, '\x1f');
    while (*fields && a->n_fields < MAX_FIELDS)
        a->fields[a->n_fields++] = next_part(&fields, ',');
}

static int parse(char *payload, struct announcement *a)
{
    parse_tail(payload, a);
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

/* Whether each receiver may read the announced customer. The answer rests on
 * the principal's user, role and place alone (authz_check of
 * ACT_CUSTOMER_READ), the same for every connection of one user (a user's
 * several windows; a thousand subscribers resuming one session): asked once
 * per announcement for each, the answers kept in a small table by user. */
#define READ_MEMO 64
struct read_memo {
    struct read_answer {
        int64_t user, unit, branch, region;
        Kehu__V1__Role role;
        int may;
    } slot[READ_MEMO];
};

static int may_read(struct read_memo *m, const struct principal *who, const struct authz_target *t)
{
    struct read_answer *a = &m->slot[((uint64_t)who->user_id * 0x9E3779B97F4A7C15ull) >> 58];
    if (a->user != who->user_id || a->role != who->role || a->unit != who->unit_id || a->branch != who->branch_id ||
        a->region != who->region_id) {
        const char *why;
        *a = (struct read_answer){ .user = who->user_id, .role = who->role, .unit = who->unit_id,
                                   .branch = who->branch_id, .region = who->region_id,
                                   .may = authz_check(who, ACT_CUSTOMER_READ, t, &why) == KEHU__V1__CODE__OK };
    }
    return a->may;
}

/* ---- Bulk jobs: one summary per receiver instead of one event per row */

static uint64_t tally_seq;
/* The seq of the announcement being delivered or replayed (event_log.c) */
static uint64_t cur_seq;

/* Sends what slot counted as one event and frees the slot. kind: the job's
 * (at its end), or "bulk.changes" for a slot given up early. */
static void send_summary(struct conn *c, struct job_tally *t, const char *kind, const char *actor_name)
{
    char detail[NOTIFY_JOB_KINDS * 64] = "";
    size_t len = 0;
    int64_t total = 0;
    for (int i = 0; i < NOTIFY_JOB_KINDS && t->kind[i][0]; i++) {
        int w = snprintf(detail + len, sizeof detail - len, "%s%s:%lld", len ? " " : "", t->kind[i],
                         (long long)t->n[i]);
        if (w > 0 && (size_t)w < sizeof detail - len)
            len += (size_t)w;
        total += t->n[i];
    }
    Kehu__V1__Event ev = KEHU__V1__EVENT__INIT;
    ev.kind = (char *)kind;
    ev.actor_id = t->actor;
    ev.actor_name = (char *)actor_name;
    ev.at_ms = now_unix_ms();
    ev.detail = detail;
    ev.count = total;
    ev.seq = cur_seq;
    ev.stream = c->srv->events ? event_log_stream(c->srv->events) : 0;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.body_case = KEHU__V1__FRAME__BODY_EVENT;
    f.event = &ev;
    if (c->state == CONN_OPEN)
        conn_send(c, &f);
    memset(t, 0, sizeof *t);
}

/* Counts an announcement of a bulk job the receiver may see. */
static void tally(struct conn *c, const struct announcement *a)
{
    struct job_tally *t = NULL, *oldest = &c->sub.jobs[0];
    for (int i = 0; i < NOTIFY_JOBS && !t; i++)
        if (c->sub.jobs[i].job == a->job)
            t = &c->sub.jobs[i];
    for (int i = 0; i < NOTIFY_JOBS && !t; i++)
        if (!c->sub.jobs[i].job)
            t = &c->sub.jobs[i];
        else if (c->sub.jobs[i].seq < oldest->seq)
            oldest = &c->sub.jobs[i];
    if (!t) { /* more jobs at once than slots: the oldest is summed up as it stands */
        send_summary(c, oldest, "bulk.changes", "");
        t = oldest;
    }
    if (!t->job) {
        t->job = a->job;
        t->seq = ++tally_seq;
        t->actor = a->actor;
    }
    int k = 0;
    while (k < NOTIFY_JOB_KINDS - 1 && t->kind[k][0] && strcmp(t->kind[k], a->kind) != 0)
        k++;
    if (!t->kind[k][0])
        snprintf(t->kind[k], sizeof t->kind[k], "%s", a->kind);
    t->n[k]++; /* a fifth kind is counted with the fourth */
}

/* "job.done JOB KIND ACTOR\x1eACTOR_NAME": every receiver that counted some
 * of the job's rows gets its summary. */
static void job_done(struct server *s, struct conn *only, const char *payload)
{
    long long job, actor;
    char kind[48];
    if (sscanf(payload, "job.done %lld %47s %lld", &job, kind, &actor) != 3) {
        log_warn(0, 0, "ignoring a malformed notification: %.200s", payload);
        return;
    }
    const char *name = strchr(payload, '\x1e');
    name = name ? name + 1 : "";
    int sent = 0;
    for (struct conn *c = only ? only : s->conns; c; c = only ? NULL : c->next)
        for (int i = 0; i < NOTIFY_JOBS; i++) {
            if (c->sub.jobs[i].job != job)
                continue;
            if (c->state == CONN_OPEN && c->sub.kind != SUB_NONE)
                conn_expire_session(c);
            if (c->state != CONN_OPEN || c->sub.kind == SUB_NONE || !c->who.user_id) {
                memset(&c->sub.jobs[i], 0, sizeof c->sub.jobs[i]); /* unsubscribed or logged out meanwhile */
                continue;
            }
            send_summary(c, &c->sub.jobs[i], kind, name);
            sent++;
        }
    log_debug(0, 0, "%s (job %lld) summed up for %d connection(s)", kind, job, sent);
}

/* "login.throttled USER FAILURES TEXT" (conn_limits.c): repeated failed logins,
 * pushed to every admin watching (any subscription), on every kehud. */
static void login_throttled(struct server *s, long long user, int failures, const char *text)
{
    Kehu__V1__Event ev = KEHU__V1__EVENT__INIT;
    ev.kind = "login.throttled";
    ev.actor_id = user; /* the account tried, 0 when unknown or for the whole address */
    ev.version = failures;
    ev.at_ms = now_unix_ms();
    ev.detail = (char *)text;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.body_case = KEHU__V1__FRAME__BODY_EVENT;
    f.event = &ev;
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->state != CONN_OPEN || c->sub.kind == SUB_NONE)
            continue;
        conn_expire_session(c);
        if (c->who.user_id && c->who.role == KEHU__V1__ROLE__ADMIN)
            conn_send(c, &f);
    }
}

/* "USER ROLE UNIT BRANCH REGION MUST_CHANGE" (sql/0014_accounts.sql, user_announce) */
static void user_changed(struct server *s, const char *args)
{
    long long user, unit, branch, region;
    int must_change;
    char role[32];
    if (sscanf(args, "%lld %31s %lld %lld %lld %d", &user, role, &unit, &branch, &region, &must_change) != 6) {
        log_warn(0, 0, "ignoring a malformed user.changed: %.200s", args);
        return;
    }
    struct principal now = { .user_id = user, .role = rpc_role_from_sql(role), .unit_id = unit,
                             .branch_id = branch, .region_id = region, .must_change_password = must_change };
    rpc_principals_update(s, &now);
}

static void deliver(struct server *s, struct conn *only, const char *payload, uint64_t seq);

void notify_dispatch(const char *channel, const char *payload, void *arg)
{
    struct server *s = arg;
    long long session, user;
    int failures, used = 0;
    if (sscanf(payload, "login.throttled %lld %d %n", &user, &failures, &used) == 2 && used > 0) {
        login_throttled(s, user, failures, payload + used);
        return;
    }
    /* "session.revoked SESSION USER [UPTO]": a logout, a disabled account, a password changed or reset,
     * maybe on another kehud; UPTO, the newest of the user's sessions it ended (0: none) */
    long long upto = -1;
    int fields = sscanf(payload, "session.revoked %lld %lld %lld", &session, &user, &upto);
    if (fields >= 2) {
        if (fields == 3 && upto == 0)
            return; /* the user had no session left */
        rpc_forget_sessions(s, user, session, fields == 3 ? upto : 0);
        return;
    }
    if (strncmp(payload, "user.changed ", 13) == 0) {
        user_changed(s, payload + 13);
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
    uint64_t seq = s->events ? event_log_add(s->events, payload) : 0;
    deliver(s, NULL, payload, seq);
}

/* An announcement (a change to a customer, or a bulk job's end) to every
 * subscribed connection that may see it, or to `only`. */
static void deliver(struct server *s, struct conn *only, const char *payload, uint64_t seq)
{
    const char *channel = NOTIFY_CHANNEL;
    cur_seq = seq;
    if (strncmp(payload, "job.done ", 9) == 0) {
        job_done(s, only, payload);
        return;
    }
    struct announcement a;
    char *copy = xstrdup(payload);
    if (parse(copy, &a) < 0) {
        log_warn(0, 0, "ignoring a malformed notification on %s: %.200s", channel, payload);
        free(copy);
        return;
    }
    Kehu__V1__Event ev = KEHU__V1__EVENT__INIT;
    ev.kind = a.kind;
    ev.customer_id = a.customer;
    ev.branch_id = a.branch;
    ev.version = a.version;
    ev.owner_id = a.owner;
    ev.actor_id = a.actor;
    int64_t now = now_unix_ms();
    ev.at_ms = now;
    ev.detail = (char *)a.detail;
    ev.customer_name = (char *)a.customer_name;
    ev.actor_name = (char *)a.actor_name;
    ev.n_fields = a.n_fields;
    ev.fields = a.fields;
    ev.seq = seq;
    ev.stream = s->events ? event_log_stream(s->events) : 0;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.body_case = KEHU__V1__FRAME__BODY_EVENT;
    f.event = &ev;
    struct authz_target t = { .unit_path = a.path, .path_len = a.path_len, .owner_id = a.owner,
                              .owner_path = a.owner_path, .owner_path_len = a.owner_path_len };
    /* The event is the same for every receiver (what differs is who gets
     * it): packed once, at the first one, and those bytes queued for all. */
    struct wire_buf packed = { 0 };
    struct read_memo memo; /* user 0 never asks: an empty slot matches nobody */
    memset(&memo, 0, sizeof memo);
    int sent = 0;
    for (struct conn *c = only ? only : s->conns; c; c = only ? NULL : c->next) {
        if (c->state != CONN_OPEN || c->sub.kind == SUB_NONE)
            continue;
        conn_expire_session_at(c, now); /* a watch stops when its session ends, as at logout */
        if (!c->who.user_id || !wanted(c, &a))
            continue;
        if (!may_read(&memo, &c->who, &t))
            continue; /* the customer is not theirs to see */
        if (a.job) {
            tally(c, &a);
        } else if (packed.len || wire_pack(&packed, &f) > 0) {
            conn_send_packed(c, packed.data, packed.len);
        } else {
            conn_send(c, &f); /* out of memory packing it once: each on its own */
        }
        sent++;
    }
    log_debug(0, 0, "%s of customer %lld %s %d connection(s)", a.kind, (long long)a.customer,
              a.job ? "counted for" : "pushed to", sent);
    wire_buf_free(&packed);
    free(copy);
}

/* One "events.missed" event, saying to refresh: its detail (a msgid) in
 * the receiver's language. */
static void send_missed(struct server *s, struct conn *c, const char *detail, uint64_t seq)
{
    Kehu__V1__Event ev = KEHU__V1__EVENT__INIT;
    ev.kind = "events.missed";
    ev.at_ms = now_unix_ms();
    ev.detail = (char *)tr(c->lang, detail);
    ev.seq = seq;
    ev.stream = s->events ? event_log_stream(s->events) : 0;
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.body_case = KEHU__V1__FRAME__BODY_EVENT;
    f.event = &ev;
    conn_send(c, &f);
}

/* The listening connection's LISTEN is in place, at kehud's start or after
 * the connection was lost: what was committed before was announced to no
 * one here, so every watch already open is told to refresh, and so is any
 * that resumes later from a seq before the one this gap takes. */
static void tell_watches(struct server *s)
{
    uint64_t gap = s->events ? event_log_gap(s->events) : 0;
    int told = 0;
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->state != CONN_OPEN || c->sub.kind == SUB_NONE || !c->who.user_id)
            continue;
        send_missed(s, c, N_("kehud was not hearing the database's changes: what changed meanwhile is not known, refresh"),
                    gap);
        told++;
    }
    log_info(0, 0, "listening for changes; %d watch(es) told to refresh", told);
}

void notify_listening(void *arg)
{
    struct server *s = arg;
    /* logouts, disabled accounts, moves and the permission matrix are
     * announced the same way: what they would have changed is read again,
     * and the watches told to refresh after it */
    perm_reload(s);
    rpc_sessions_recheck(s, tell_watches);
}

/* ---- Subscribe */


struct replaying {
    struct server *s;
    struct conn *c;
    int sent;
};

static void replay_one(const char *payload, uint64_t seq, void *arg)
{
    struct replaying *rp = arg;
    deliver(rp->s, rp->c, payload, seq);
}

/* A subscription resumed after a lost connection: what it missed, through
 * the same checks as live events; or, when this kehud no longer has them,
 * one "events.missed" event saying to refresh. */
static void replay(struct server *s, struct conn *c, uint64_t stream, uint64_t since)
{
    struct replaying rp = { s, c, 0 };
    uint64_t last = s->events ? event_log_last(s->events) : 0;
    if (s->events && event_log_since(s->events, stream, since, replay_one, &rp) == 0) {
        log_info(c->id, 0, "subscription resumed after seq %llu: %llu announcement(s) looked at again",
                 (unsigned long long)since, (unsigned long long)(last - since));
        return;
    }
    log_info(c->id, 0, "subscription resumed after seq %llu of another stream or too long ago: told to refresh",
             (unsigned long long)since);
    if (c->state == CONN_OPEN)
        send_missed(s, c,
                    stream != (s->events ? event_log_stream(s->events) : 0)
                        ? N_("kehud restarted or this is another kehud: what changed meanwhile is not known, refresh")
                        : N_("more changes than kehud keeps happened meanwhile, or kehud was not hearing the database's "
                             "changes: refresh"),
                    last);
}

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
    if (r->srv->events) {
        r->resp.event_seq = event_log_last(r->srv->events);
        r->resp.event_stream = event_log_stream(r->srv->events);
    }
    const Kehu__V1__Subscribe *m = r->msg->subscribe;
    uint64_t since = m ? m->since_seq : 0, stream = m ? m->stream : 0;
    struct conn *c = r->conn;
    struct server *s = r->srv;
    conn_ref(c);
    req_reply(r);
    if (kind != SUB_NONE && (since || stream))
        replay(s, c, stream, since);
    conn_unref(c);
}

static void unit_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
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
