#include "conn_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "notify.h"
#include "server.h"
#include "util.h"

#define BUCKETS 4096 /* a power of two */
#define FORGET_MS (15 * 60 * 1000) /* failures this old no longer count */
#define MAX_WAIT_MS (300 * 1000)

static const char *const counter_names[LC_COUNT] = {
    [LC_REFUSED_FULL] = "refused_max_connections",
    [LC_REFUSED_ADDRESS] = "refused_max_conns_per_address",
    [LC_REFUSED_ADDRESS_UNAUTH] = "refused_max_unauth_per_address",
    [LC_EVICTED_UNAUTH] = "evicted_not_logged_in",
    [LC_CLOSED_HELLO] = "closed_hello_timeout",
    [LC_CLOSED_AUTH] = "closed_auth_timeout",
    [LC_CLOSED_IDLE] = "closed_idle_timeout",
    [LC_CLOSED_NOT_READING] = "closed_not_reading",
    [LC_CLOSED_FRAME] = "closed_frame_too_big",
    [LC_CLOSED_NOT_KEHU] = "closed_not_kehu_protocol",
    [LC_PAUSED_OUTPUT_TOTAL] = "paused_max_output_total",
    [LC_LOGIN_THROTTLED_ACCOUNT] = "login_throttled_account_address",
    [LC_LOGIN_THROTTLED_ADDRESS] = "login_throttled_address",
    [LC_LOGIN_BUSY] = "login_refused_busy",
    [LC_LOGIN_FAILED] = "login_failed",
    [LC_TLS_HANDSHAKES] = "tls_handshakes",
    [LC_CLOSED_TLS_HANDSHAKE] = "closed_tls_handshake_failed",
    [LC_CLOSED_TLS_HANDSHAKE_TIMEOUT] = "closed_tls_handshake_timeout",
    [LC_CLOSED_TLS_ERROR] = "closed_tls_error",
    [LC_REFUSED_PLAINTEXT] = "refused_plaintext_remote",
    [LC_TLS_RELOADS] = "tls_reloads",
};

/* FNV-1a */
static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 16777619u;
    }
    return h;
}

/* A login waiting for its password check whose connection closed. */
static int check_wanted(void *arg)
{
    const struct req *r = arg;
    return r->conn->state != CONN_CLOSED;
}

void limits_init(struct server *s)
{
    struct limits *l = &s->limits;
    memset(l, 0, sizeof *l);
    l->peers = xcalloc(BUCKETS, sizeof *l->peers);
    l->pairs = xcalloc(BUCKETS, sizeof *l->pairs);
    auth_sched_init(&l->auth, s->loop, s->cfg.login_threads);
    l->auth.wanted = check_wanted;
}

void limits_free(struct server *s)
{
    struct limits *l = &s->limits;
    for (size_t i = 0; l->peers && i < BUCKETS; i++)
        for (struct peer_addr *p = l->peers[i], *next; p; p = next) {
            next = p->next;
            free(p);
        }
    for (size_t i = 0; l->pairs && i < BUCKETS; i++)
        for (struct login_pair *p = l->pairs[i], *next; p; p = next) {
            next = p->next;
            free(p);
        }
    free(l->peers);
    free(l->pairs);
    l->peers = NULL;
    l->pairs = NULL;
}

void limits_count(struct server *s, enum limit_counter which)
{
    s->limits.counts[which]++;
}

const char *limits_counter_name(enum limit_counter which)
{
    return counter_names[which];
}

/* ---- addresses */

struct peer_addr *limits_peer_get(struct server *s, const char *addr)
{
    struct limits *l = &s->limits;
    uint32_t h = hash_bytes(addr, strlen(addr));
    struct peer_addr **slot = &l->peers[h & (BUCKETS - 1)];
    for (struct peer_addr *p = *slot; p; p = p->next)
        if (p->hash == h && strcmp(p->addr, addr) == 0) {
            p->refs++;
            return p;
        }
    struct peer_addr *p = xcalloc(1, sizeof *p);
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    p->hash = h;
    p->refs = 1;
    p->next = *slot;
    *slot = p;
    l->npeers++;
    return p;
}

static int throttle_live(const struct throttle *t, uint64_t now)
{
    return t->pending > 0 || (t->failures > 0 && now - t->last_ms < FORGET_MS);
}

/* An address nobody uses and without failures to remember is let go. */
static void peer_maybe_free(struct server *s, struct peer_addr *p, uint64_t now)
{
    if (p->refs > 0 || p->logins > 0 || p->lane.queued > 0 || throttle_live(&p->fails, now))
        return;
    struct limits *l = &s->limits;
    for (struct peer_addr **pp = &l->peers[p->hash & (BUCKETS - 1)]; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            l->npeers--;
            free(p);
            return;
        }
}

void limits_peer_put(struct server *s, struct peer_addr *p)
{
    if (!p)
        return;
    p->refs--;
    peer_maybe_free(s, p, uv_now(s->loop));
}

void limits_sweep(struct server *s, uint64_t now)
{
    struct limits *l = &s->limits;
    for (size_t i = 0; i < BUCKETS; i++) {
        for (struct peer_addr *p = l->peers[i], *next; p; p = next) {
            next = p->next;
            if (!throttle_live(&p->fails, now)) {
                p->fails = (struct throttle){ 0 };
                p->lane.suspect = 0;
            }
            peer_maybe_free(s, p, now);
        }
        for (struct login_pair **pp = &l->pairs[i]; *pp;) {
            struct login_pair *p = *pp;
            if (throttle_live(&p->t, now)) {
                pp = &p->next;
                continue;
            }
            *pp = p->next;
            l->npairs--;
            free(p);
        }
    }
}

/* ---- the login throttle */

static struct login_pair *pair_get(struct server *s, const char *username, const char *addr)
{
    struct limits *l = &s->limits;
    char key[sizeof ((struct login_pair *)0)->key];
    size_t un = strlen(username), an = strlen(addr);
    if (un > 63)
        un = 63;
    if (an > 63)
        an = 63;
    memcpy(key, username, un);
    key[un] = 0;
    memcpy(key + un + 1, addr, an);
    key[un + 1 + an] = 0;
    size_t klen = un + 1 + an;
    uint32_t h = hash_bytes(key, klen);
    struct login_pair **slot = &l->pairs[h & (BUCKETS - 1)];
    for (struct login_pair *p = *slot; p; p = p->next)
        if (p->hash == h && memcmp(p->key, key, klen + 1) == 0)
            return p;
    struct login_pair *p = xcalloc(1, sizeof *p);
    memcpy(p->key, key, klen + 1);
    p->hash = h;
    p->next = *slot;
    *slot = p;
    l->npairs++;
    return p;
}

/* Milliseconds before the key may try again: none while failures (counting
 * the checks in progress as failures) stay under the free ones; past them
 * one check at a time, after a wait that doubles with each failure (1 s,
 * 2 s, 4 s ... up to 5 minutes). */
static uint64_t throttle_wait(const struct throttle *t, int free_n, uint64_t now)
{
    if (t->failures + t->pending < free_n)
        return 0;
    if (t->pending > 0)
        return 1000;
    int k = t->failures - free_n;
    uint64_t wait = k >= 9 ? MAX_WAIT_MS : 1000ull << k;
    if (wait > MAX_WAIT_MS)
        wait = MAX_WAIT_MS;
    return t->last_ms + wait > now ? t->last_ms + wait - now : 0;
}

int limits_login_begin(struct server *s, struct conn *c, const char *username, struct login_pair **pair, int *code,
                       char *why, size_t whysz)
{
    const struct config *cfg = &s->cfg;
    struct peer_addr *p = c->addr;
    uint64_t now = uv_now(s->loop), wait;
    *pair = NULL;
    *code = KEHU__V1__CODE__RESOURCE_EXHAUSTED;
    /* cheap refusals first: nothing below costs a password check */
    if (p->logins >= cfg->login_queue_per_address) {
        limits_count(s, LC_LOGIN_BUSY);
        snprintf(why, whysz, "too many logins in progress from your address: try again in a moment");
        return -1;
    }
    if ((wait = throttle_wait(&p->fails, cfg->login_address_failures, now)) > 0) {
        limits_count(s, LC_LOGIN_THROTTLED_ADDRESS);
        snprintf(why, whysz, "too many failed logins from your address: try again in %llu s",
                 (unsigned long long)((wait + 999) / 1000));
        return -1;
    }
    struct login_pair *lp = pair_get(s, username, p->addr);
    if ((wait = throttle_wait(&lp->t, cfg->login_free_failures, now)) > 0) {
        limits_count(s, LC_LOGIN_THROTTLED_ACCOUNT);
        snprintf(why, whysz, "too many failed logins for this account from your address: try again in %llu s",
                 (unsigned long long)((wait + 999) / 1000));
        return -1;
    }
    lp->t.pending++;
    p->fails.pending++;
    p->logins++;
    c->logins++;
    *pair = lp;
    return 0;
}

static struct db_stmt announce_stmt = DB_STMT("SELECT pg_notify('" NOTIFY_CHANNEL "', $1)");

static void announced(const struct db_result *res, void *arg)
{
    (void)arg;
    if (res->outcome != DB_OK)
        log_warn(0, 0, "could not announce failed logins to admins: %s", res->message);
}

/* Logged, and announced to the admins watching on every kehud of the base
 * (notify.c pushes it as a login.throttled event). */
static void announce(struct server *s, int64_t user_id, int failures, const char *text)
{
    log_warn(0, 0, "%s", text);
    char payload[400];
    snprintf(payload, sizeof payload, "login.throttled %lld %d %s", (long long)user_id, failures, text);
    const char *params[] = { payload };
    db_query(s->db, &announce_stmt, 1, params, announced, NULL);
}

/* Told at the first throttling and again each time the failures double. */
static int worth_announcing(struct throttle *t, int free_n)
{
    if (t->failures < free_n || (t->announced && t->failures < 2 * t->announced))
        return 0;
    t->announced = t->failures;
    return 1;
}

int limits_login_end(struct server *s, struct conn *c, struct login_pair *lp, int ok, int64_t user_id)
{
    const struct config *cfg = &s->cfg;
    struct peer_addr *p = c->addr;
    uint64_t now = uv_now(s->loop);
    lp->t.pending--;
    p->fails.pending--;
    p->logins--;
    c->logins--;
    if (ok > 0) {
        /* the pair starts afresh (its other checks in progress keep their
         * reservations); the address's count stays: an attacker may own an account */
        lp->t.failures = lp->t.announced = 0;
        lp->t.last_ms = 0;
        return 0;
    }
    if (ok < 0)
        return lp->t.failures;
    limits_count(s, LC_LOGIN_FAILED);
    lp->t.failures++;
    lp->t.last_ms = now;
    p->fails.failures++;
    p->fails.last_ms = now;
    p->lane.suspect = 1; /* its waiting checks go behind well-behaved addresses' */
    char name[64], text[300];
    snprintf(name, sizeof name, "%.63s", lp->key);
    for (char *q = name; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = '?';
    if (worth_announcing(&lp->t, cfg->login_free_failures)) {
        snprintf(text, sizeof text, "%d failed logins for account '%s' from %s: that address is slowed down for it",
                 lp->t.failures, name, p->addr);
        announce(s, user_id, lp->t.failures, text);
    }
    if (worth_announcing(&p->fails, cfg->login_address_failures)) {
        snprintf(text, sizeof text, "%d failed logins from %s (any account): that address is slowed down",
                 p->fails.failures, p->addr);
        announce(s, 0, p->fails.failures, text);
    }
    return lp->t.failures;
}
