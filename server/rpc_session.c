/* Session RPCs: Hello, Ping, Login, Resume, Logout, WhoAmI. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "notify.h"
#include "conn.h"
#include "log.h"
#include "rpc.h"
#include "server.h"
#include "tr.h"

/* ---- Hello */

static void hello(struct req *r)
{
    struct conn *c = r->conn;
    const Kehu__V1__Hello *h = r->msg->hello;
    if (!h) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "hello", "empty Hello");
        conn_drain(c);
        return;
    }
    if (c->state != CONN_HELLO) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "hello", "Hello was already exchanged on this connection");
        return;
    }
    c->lang = tr_lang(h->language);
    if (h->protocol_version != KEHU_PROTOCOL_VERSION) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "protocol_version",
                 "unsupported protocol version %u: this server speaks version %u", h->protocol_version,
                 KEHU_PROTOCOL_VERSION);
        conn_drain(c);
        return;
    }
    c->state = CONN_OPEN;
    c->unauth_since_ms = uv_now(r->srv->loop); /* auth_timeout counts from here */
    log_info(c->id, r->id, "hello from %s (%s)", c->peer, h->client && *h->client ? h->client : "unnamed client");
    Kehu__V1__HelloReply *rep = arena_alloc(&r->arena, sizeof *rep);
    kehu__v1__hello_reply__init(rep);
    rep->protocol_version = KEHU_PROTOCOL_VERSION;
    rep->server = "kehud " KEHU_VERSION;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_HELLO, rep);
}

const struct rpc_entry rpc_hello = { KEHU__V1__REQUEST__OP_HELLO, "hello", ACT_PUBLIC, RPC_BEFORE_HELLO | RPC_NO_AUDIT, hello };

/* ---- Ping: answers only after a round trip to PostgreSQL */

static struct db_stmt ping_stmt = DB_STMT("SELECT 1");

static void ping_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__PingReply *rep = arena_alloc(&r->arena, sizeof *rep);
    kehu__v1__ping_reply__init(rep);
    if (r->msg->ping)
        rep->payload = r->msg->ping->payload;
    rep->server_time_ms = now_unix_ms();
    rep->database_ok = 1;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_PING, rep);
}

static void ping(struct req *r)
{
    if (r->msg->ping && r->msg->ping->payload.len > 4096) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "payload", "a ping payload may have at most 4096 bytes");
        return;
    }
    db_query(r->srv->db, &ping_stmt, 0, NULL, ping_done, r);
}

const struct rpc_entry rpc_ping = { KEHU__V1__REQUEST__OP_PING, "ping", ACT_PUBLIC, RPC_NO_AUDIT, ping };

/* ---- Login */

struct login {
    char username[64];
    char *password;
    int64_t user_id;
    int disabled;
    int outside;             /* not in the subtree the client certificate admits (mutual TLS) */
    struct login_pair *pair; /* the throttle's reservation (conn_limits.c), NULL once ended */
};

/* Mutual TLS: a connection whose client certificate maps to a unit admits
 * only users of that unit's subtree (docs/security.md). path_text is the
 * user's unit path ("{1,3,7}"). */
static int outside_cert_unit(const struct conn *c, const char *path_text)
{
    if (!c->cert_unit)
        return 0;
    int64_t path[64];
    int n = authz_parse_path(path_text ? path_text : "", path, 64);
    for (int i = 0; i < n; i++)
        if (path[i] == c->cert_unit)
            return 0;
    return 1;
}
#define CERT_UNIT_REFUSAL "this machine's client certificate admits only the users of its unit and the units below it"

/* The account's hash. Whether it may be tried now is the connection
 * layer's decision (login_gate), taken before this lookup; failed_logins
 * only records, for admins. */
static struct db_stmt login_lookup = DB_STMT(
    "SELECT u.id, u.password_hash, u.disabled_at IS NOT NULL, o.path::text"
    " FROM app_user u JOIN org_unit o ON o.id = u.unit_id WHERE u.username = $1");
static struct db_stmt login_failed = DB_STMT(
    "UPDATE app_user SET failed_logins = failed_logins + 1, last_failed_at = now() WHERE id = $1");
static struct db_stmt login_reset = DB_STMT(
    "UPDATE app_user SET failed_logins = 0, last_failed_at = NULL WHERE id = $1 AND failed_logins > 0");
static struct db_stmt session_insert = DB_STMT(
    "INSERT INTO session (user_id, token_hash, client, peer, expires_at)"
    " VALUES ($1, decode($2, 'hex'), '', $3, now() + make_interval(secs => $4::int))"
    " RETURNING id, " SQL_MS("expires_at"));

static void wipe_password(struct login *l)
{
    if (l->password) {
        sodium_memzero(l->password, strlen(l->password));
        l->password = NULL;
    }
}

/* The login throttle, before anything costly: by (account, address) and by
 * address, one login at a time per connection, a bounded queue per address
 * (conn_limits.c). Answers and returns -1 when the attempt may not be checked. */
static int login_gate(struct req *r, struct login *l)
{
    char why[200];
    int code;
    if (limits_login_begin(r->srv, r->conn, l->username, &l->pair, &code, why, sizeof why) == 0)
        return 0;
    audit_note_detail(r, "refused before the check: %s (from %s)", why, r->conn->addr->addr);
    req_fail(r, code, NULL, "%s", why);
    return -1;
}

/* The attempt's outcome for the throttle: ok 1 logged in, 0 wrong username
 * or password, -1 neither. */
static void login_outcome(struct req *r, struct login *l, int ok)
{
    if (!l->pair)
        return;
    struct conn *c = r->conn;
    int failures = limits_login_end(r->srv, c, l->pair, ok, l->user_id);
    l->pair = NULL;
    if (ok == 0 && failures >= r->srv->cfg.login_free_failures)
        audit_note_detail(r, "%d failed logins for this account from %s: throttled", failures, c->addr->addr);
}

static void login_refused(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    (void)res; /* the answer is the same whether the counter was recorded or not */
    req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, NULL, "wrong username or password");
}

static Kehu__V1__Session *session_reply(struct req *r, const char *token, int64_t expires_ms,
                                        const struct db_result *res, int stmt)
{
    Kehu__V1__Session *s = arena_alloc(&r->arena, sizeof *s);
    kehu__v1__session__init(s);
    s->token = token ? arena_strdup(&r->arena, token) : "";
    s->expires_at_ms = expires_ms;
    s->user = rpc_user_from_row(r, res, stmt, 0, 0);
    r->resp.result_case = KEHU__V1__RESPONSE__RESULT_SESSION;
    r->resp.session = s;
    return s;
}

static void login_stored(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct login *l = r->state;
    if (res->outcome != DB_OK || db_rows(res, 1) != 1 || db_rows(res, 2) != 1) {
        req_fail_db(r, res);
        return;
    }
    const char *token = (const char *)(l + 1); /* stored right after the login state */
    struct conn *c = r->conn;
    rpc_principal_from_row(&c->who, res, 2, 0, 0);
    c->who.session_id = db_get_i64(res, 1, 0, 0);
    c->who.expires_at_ms = db_get_i64(res, 1, 0, 1);
    session_reply(r, token, c->who.expires_at_ms, res, 2);
    log_info(c->id, r->id, "login ok: %s (session %lld)", c->who.username, (long long)c->who.session_id);
    req_reply(r);
}

static void login_verified(int ok, const char *hash, void *arg)
{
    struct req *r = arg;
    struct login *l = r->state;
    (void)hash;
    if (ok < 0) { /* dropped unchecked: the connection closed, or shutdown's grace is over */
        login_outcome(r, l, -1);
        req_fail(r, KEHU__V1__CODE__UNAVAILABLE, NULL, "the server is shutting down: try again");
        return;
    }
    login_outcome(r, l, ok && l->user_id != 0 ? (l->disabled || l->outside ? -1 : 1) : 0);
    if (!ok || l->user_id == 0) {
        if (l->user_id == 0) {
            req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, NULL, "wrong username or password");
            return;
        }
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)l->user_id);
        const char *p[] = { id };
        db_query(r->srv->db, &login_failed, 1, p, login_refused, r);
        return;
    }
    if (l->disabled) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, NULL, "this account is disabled");
        return;
    }
    if (l->outside) {
        audit_note_detail(r, "refused: the client certificate of this connection admits another unit");
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL, CERT_UNIT_REFUSAL);
        return;
    }
    char *token = (char *)(l + 1);
    char hash_hex[AUTH_HASH_HEX], id[24], ttl[24];
    auth_new_token(token, hash_hex);
    snprintf(id, sizeof id, "%lld", (long long)l->user_id);
    snprintf(ttl, sizeof ttl, "%d", r->srv->cfg.session_ttl);
    const char *p_id[] = { id };
    const char *p_ins[] = { id, hash_hex, r->conn->peer, ttl };
    struct db_call *call = db_call_new(r->srv->db, login_stored, r);
    db_call_add(call, &login_reset, 1, p_id);
    db_call_add(call, &session_insert, 4, p_ins);
    db_call_add(call, &rpc_user_by_id, 1, p_id);
    db_call_send(call);
}

static void login_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct login *l = r->state;
    if (res->outcome != DB_OK) {
        wipe_password(l);
        login_outcome(r, l, -1);
        req_fail_db(r, res);
        return;
    }
    const char *stored = r->srv->dummy_hash;
    if (db_rows(res, 0) == 1) {
        l->user_id = db_get_i64(res, 0, 0, 0);
        l->disabled = db_get_bool(res, 0, 0, 2);
        l->outside = outside_cert_unit(r->conn, db_get(res, 0, 0, 3));
        stored = db_get(res, 0, 0, 1);
    }
    /* in its address's turn: one client's flood of logins delays another's
     * by a check, not by the flood; addresses with recent failures last */
    struct peer_addr *a = r->conn->addr;
    log_debug(r->conn->id, r->id, "password check queued (%d waiting, %d running)", r->srv->limits.auth.queued,
              r->srv->limits.auth.running);
    auth_verify_fair(&r->srv->limits.auth, &a->lane, a->fails.failures > 0, stored, l->password, login_verified, r);
    wipe_password(l);
}

static void login(struct req *r)
{
    const Kehu__V1__Login *m = r->msg->login;
    if (!m || !m->username || !*m->username) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "username", "a username is required");
        return;
    }
    if (strlen(m->username) >= 64) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, NULL, "wrong username or password");
        return;
    }
    if (!m->password || !*m->password) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "password", "a password is required");
        return;
    }
    if (strlen(m->password) > AUTH_MAX_PASSWORD) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, NULL, "wrong username or password");
        return;
    }
    struct login *l = arena_alloc(&r->arena, sizeof *l + AUTH_TOKEN_LEN + 1);
    r->state = l;
    for (size_t i = 0; m->username[i]; i++) /* usernames are stored in lower case */
        l->username[i] = (char)(m->username[i] >= 'A' && m->username[i] <= 'Z' ? m->username[i] + 32 : m->username[i]);
    l->password = m->password;
    if (login_gate(r, l) < 0)
        return;
    const char *p[] = { l->username };
    db_query(r->srv->db, &login_lookup, 1, p, login_found, r);
}

const struct rpc_entry rpc_login = { KEHU__V1__REQUEST__OP_LOGIN, "login", ACT_PUBLIC, 0, login };

/* ---- Resume: a token from an earlier login, after a reconnect */

static struct db_stmt session_lookup = DB_STMT(
    "SELECT s.id, " SQL_MS("s.expires_at") ", s.revoked_at IS NOT NULL, s.expires_at <= now(), " USER_COLUMNS
    " FROM session s JOIN" USER_FROM "ON u.id = s.user_id WHERE s.token_hash = decode($1, 'hex')");
static struct db_stmt session_touch = DB_STMT(
    "UPDATE session SET last_used_at = now()"
    " WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL AND expires_at > now()");

static void resume_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, "token", "unknown session token: log in again");
        return;
    }
    if (db_get_bool(res, 0, 0, 2)) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, "token", "this session was logged out: log in again");
        return;
    }
    if (db_get_bool(res, 0, 0, 3)) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, "token", "this session has expired: log in again");
        return;
    }
    if (db_get_bool(res, 0, 0, 4 + 6)) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, NULL, "this account is disabled");
        return;
    }
    struct conn *c = r->conn;
    int64_t path[64];
    if (c->cert_unit) {
        int n = rpc_user_row_path(res, 0, 0, 4, path, 64), in = 0;
        for (int i = 0; i < n; i++)
            in |= path[i] == c->cert_unit;
        if (!in) {
            req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, NULL, CERT_UNIT_REFUSAL);
            return;
        }
    }
    rpc_principal_from_row(&c->who, res, 0, 0, 4);
    c->who.session_id = db_get_i64(res, 0, 0, 0);
    c->who.expires_at_ms = db_get_i64(res, 0, 0, 1);
    Kehu__V1__Session *s = arena_alloc(&r->arena, sizeof *s);
    kehu__v1__session__init(s);
    s->token = "";
    s->expires_at_ms = c->who.expires_at_ms;
    s->user = rpc_user_from_row(r, res, 0, 0, 4);
    r->resp.result_case = KEHU__V1__RESPONSE__RESULT_SESSION;
    r->resp.session = s;
    log_info(c->id, r->id, "resumed session %lld of %s", (long long)c->who.session_id, c->who.username);
    req_reply(r);
}

static void resume(struct req *r)
{
    const Kehu__V1__Resume *m = r->msg->resume;
    if (!m || !m->token || !*m->token) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "token", "a session token is required");
        return;
    }
    if (strlen(m->token) != AUTH_TOKEN_LEN) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, "token", "unknown session token: log in again");
        return;
    }
    char hash_hex[AUTH_HASH_HEX];
    auth_token_hash(m->token, hash_hex);
    const char *p[] = { hash_hex };
    struct db_call *call = db_call_new(r->srv->db, resume_found, r);
    db_call_add(call, &session_lookup, 1, p);
    db_call_add(call, &session_touch, 1, p);
    db_call_send(call);
}

const struct rpc_entry rpc_resume = { KEHU__V1__REQUEST__OP_RESUME, "resume", ACT_PUBLIC, 0, resume };

/* ---- Logout */

/* Revoked, and announced so that every kehud on the database forgets it on
 * its open connections (see notify.c). */
static struct db_stmt session_revoke = DB_STMT(
    "WITH s AS (UPDATE session SET revoked_at = now() WHERE id = $1::bigint AND revoked_at IS NULL RETURNING id)"
    " SELECT pg_notify('" NOTIFY_CHANNEL "', 'session.revoked ' || s.id || ' 0') FROM s");

static void logout_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    int64_t session = *(int64_t *)r->state;
    log_info(r->conn->id, r->id, "logout: session %lld revoked", (long long)session);
    rpc_forget_sessions(r->srv, 0, session, 0);
    Kehu__V1__Empty *e = arena_alloc(&r->arena, sizeof *e);
    kehu__v1__empty__init(e);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_EMPTY, e);
}

static void logout(struct req *r)
{
    int64_t *session = arena_alloc(&r->arena, sizeof *session);
    *session = req_who(r)->session_id;
    r->state = session;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)*session);
    const char *p[] = { id };
    db_query(r->srv->db, &session_revoke, 1, p, logout_done, r);
}

const struct rpc_entry rpc_logout = { KEHU__V1__REQUEST__OP_LOGOUT, "logout", ACT_SESSION, RPC_MUST_CHANGE_OK, logout };

/* ---- WhoAmI: read afresh, the role or unit may have changed */

static void whoami_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) {
        req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, NULL, "your account no longer exists");
        return;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_USER, rpc_user_from_row(r, res, 0, 0, 0));
}

static void whoami(struct req *r)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)req_who(r)->user_id);
    const char *p[] = { id };
    db_query(r->srv->db, &rpc_user_by_id, 1, p, whoami_done, r);
}

const struct rpc_entry rpc_whoami = { KEHU__V1__REQUEST__OP_WHOAMI, "whoami", ACT_SESSION, RPC_NO_AUDIT | RPC_MUST_CHANGE_OK,
                                     whoami };

/* ---- PasswordChange: one's own, with the current password; the other
 * sessions end, this one stays (and may do everything again after a reset) */

struct passwd_change {
    char user_id[24], session_id[24];
    char *next; /* the new password, until handed to the hasher */
};

static struct db_stmt passwd_lookup = DB_STMT("SELECT password_hash FROM app_user WHERE id = $1");
static struct db_stmt passwd_store = DB_STMT("SELECT user_set_password($1, $2, false, $3)");

static void passwd_wipe(struct req *r)
{
    Kehu__V1__PasswordChange *m = r->msg->password_change;
    if (m->current_password)
        sodium_memzero(m->current_password, strlen(m->current_password));
    if (m->new_password)
        sodium_memzero(m->new_password, strlen(m->new_password));
}

static void passwd_stored(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    struct principal now = *req_who(r);
    now.must_change_password = 0; /* on every connection holding this session, at once */
    rpc_principals_update(r->srv, &now);
    rpc_forget_sessions_but(r->srv, now.user_id, now.session_id);
    const struct principal *who = &now;
    log_info(r->conn->id, r->id, "password changed: %s (other sessions ended)", who->username);
    Kehu__V1__Empty *e = arena_alloc(&r->arena, sizeof *e);
    kehu__v1__empty__init(e);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_EMPTY, e);
}

static void passwd_hashed(int ok, const char *hash, void *arg)
{
    struct req *r = arg;
    struct passwd_change *st = r->state;
    if (!ok) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "hashing the password failed (hash_mem too large?)");
        return;
    }
    const char *p[] = { st->user_id, hash, st->session_id };
    audit_query(r, &passwd_store, 3, p, passwd_stored);
}

static void passwd_verified(int ok, const char *hash, void *arg)
{
    struct req *r = arg;
    struct passwd_change *st = r->state;
    (void)hash;
    if (!ok) {
        passwd_wipe(r);
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "current_password", "the current password is not right");
        return;
    }
    auth_hash_sched(&r->srv->limits.auth, st->next, r->srv->cfg.hash_ops, r->srv->cfg.hash_mem, passwd_hashed, r);
    passwd_wipe(r);
}

static void passwd_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK || db_rows(res, 0) != 1) {
        passwd_wipe(r);
        if (res->outcome != DB_OK)
            req_fail_db(r, res);
        else
            req_fail(r, KEHU__V1__CODE__UNAUTHENTICATED, NULL, "your account no longer exists");
        return;
    }
    auth_verify_sched(&r->srv->limits.auth, db_get(res, 0, 0, 0), r->msg->password_change->current_password, passwd_verified,
                      r);
}

static void password_change(struct req *r)
{
    Kehu__V1__PasswordChange *m = r->msg->password_change;
    if (!m || !m->current_password || !*m->current_password) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "current_password", "the current password is required");
        return;
    }
    const char *why = !m->new_password || !*m->new_password ? "a new password is required"
                                                            : auth_password_problem(m->new_password);
    if (!why && strcmp(m->new_password, m->current_password) == 0)
        why = "the new password must differ from the current one";
    if (!why && strlen(m->current_password) > AUTH_MAX_PASSWORD) {
        passwd_wipe(r);
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "current_password", "the current password is not right");
        return;
    }
    if (why) {
        passwd_wipe(r);
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "new_password", "%s", why);
        return;
    }
    const struct principal *who = req_who(r);
    struct passwd_change *st = arena_alloc(&r->arena, sizeof *st);
    snprintf(st->user_id, sizeof st->user_id, "%lld", (long long)who->user_id);
    snprintf(st->session_id, sizeof st->session_id, "%lld", (long long)who->session_id);
    st->next = m->new_password;
    r->state = st;
    const char *p[] = { st->user_id };
    db_query(r->srv->db, &passwd_lookup, 1, p, passwd_found, r);
}

const struct rpc_entry rpc_password_change = { KEHU__V1__REQUEST__OP_PASSWORD_CHANGE, "password_change", ACT_SESSION,
                                               RPC_MUST_CHANGE_OK, password_change };

/* ---- After announcements were lost (kehud's LISTEN was not in place):
 * the sessions and users they may have changed, read again */

static struct db_stmt sessions_recheck_stmt = DB_STMT(
    "SELECT s.id, s.revoked_at IS NOT NULL OR s.expires_at <= now() OR u.disabled_at IS NOT NULL, " USER_COLUMNS
    " FROM session s JOIN" USER_FROM "ON u.id = s.user_id WHERE s.id = ANY ($1::bigint[])");

struct recheck {
    struct server *s;
    void (*then)(struct server *s);
    size_t n;
    int64_t ids[]; /* the sessions asked about: only they are judged (others began since) */
};

static void sessions_rechecked(const struct db_result *res, void *arg)
{
    struct recheck *rc = arg;
    struct server *s = rc->s;
    if (res->outcome != DB_OK) {
        log_warn(0, 0, "the open sessions could not be checked again: %s", res->message);
    } else {
        for (size_t k = 0; k < rc->n; k++) {
            int row = -1;
            for (int i = 0; i < db_rows(res, 0) && row < 0; i++)
                if (db_get_i64(res, 0, i, 0) == rc->ids[k])
                    row = i;
            if (row < 0 || db_get_bool(res, 0, row, 1)) { /* gone (deleted), revoked, expired or disabled */
                rpc_forget_sessions(s, 0, rc->ids[k], 0);
                continue;
            }
            struct principal now;
            rpc_principal_from_row(&now, res, 0, row, 2);
            rpc_principals_update(s, &now);
        }
    }
    void (*then)(struct server *) = rc->then;
    free(rc);
    then(s);
}

void rpc_sessions_recheck(struct server *s, void (*then)(struct server *s))
{
    size_t n = 0;
    for (struct conn *c = s->conns; c; c = c->next)
        n += c->who.session_id != 0;
    if (!n) {
        then(s);
        return;
    }
    struct recheck *rc = xmalloc(sizeof *rc + n * sizeof rc->ids[0]);
    rc->s = s;
    rc->then = then;
    rc->n = 0;
    char *list = xmalloc(n * 21 + 3), *at = list;
    *at++ = '{';
    for (struct conn *c = s->conns; c; c = c->next)
        if (c->who.session_id) {
            rc->ids[rc->n++] = c->who.session_id;
            at += sprintf(at, "%s%lld", at > list + 1 ? "," : "", (long long)c->who.session_id);
        }
    strcpy(at, "}");
    const char *p[] = { list };
    db_query(s->db, &sessions_recheck_stmt, 1, p, sessions_rechecked, rc);
    free(list);
}
