/* What one client may hold of kehud, decided in the connection layer before
 * any handler runs (docs/security.md): connections per address, the login
 * throttle by (account, address) and by address, and the counters
 * `admin stats` shows. Addresses and throttles live in memory, per kehud. */
#ifndef KEHU_LIMITS_H
#define KEHU_LIMITS_H

#include <stdint.h>
#include <uv.h>

#include "auth.h"

struct server;
struct conn;

/* Failed logins of one key: `pending` checks have reserved a failure before
 * their outcome is known, so that concurrent attempts cannot all pass the
 * limit that each read before the others failed. */
struct throttle {
    int failures;
    int pending;
    uint64_t last_ms; /* loop time of the last failure */
    int announced;    /* failures when admins were last told */
};

/* One client address (the host, without the port). */
struct peer_addr {
    char addr[64];
    uint32_t hash;
    int refs;            /* its connections; kept while any holds it */
    int conns, unauth;   /* open connections, those not logged in */
    int logins;          /* logins in progress from it */
    struct throttle fails; /* failed logins from it, whatever the account */
    struct auth_lane lane; /* its turn among the password checks */
    struct peer_addr *next;
};

/* One (account, address) pair with failed logins; the account is the name
 * tried, so unknown names are throttled like real ones. */
struct login_pair {
    char key[64 + 64]; /* "username\0address" */
    uint32_t hash;
    struct throttle t;
    struct login_pair *next;
};

/* Counted since start, shown by `admin stats` (names in conn_limits.c). */
enum limit_counter {
    LC_REFUSED_FULL,        /* max_connections reached, nobody to evict */
    LC_REFUSED_ADDRESS,     /* max_conns_per_address */
    LC_REFUSED_ADDRESS_UNAUTH, /* max_unauth_per_address */
    LC_EVICTED_UNAUTH,      /* closed to make room: the oldest not logged in */
    LC_CLOSED_HELLO,        /* no Hello in hello_timeout */
    LC_CLOSED_AUTH,         /* not logged in within auth_timeout */
    LC_CLOSED_IDLE,         /* idle_timeout */
    LC_CLOSED_NOT_READING,  /* unsent output over 4 x its limit */
    LC_CLOSED_FRAME,        /* a frame over max_frame / max_frame_unauth */
    LC_CLOSED_NOT_KEHU,     /* not speaking the Kehu protocol at all (HTTP, TLS) */
    LC_PAUSED_OUTPUT_TOTAL, /* a connection paused because of max_output_total */
    LC_LOGIN_THROTTLED_ACCOUNT, /* refused: the (account, address) throttle */
    LC_LOGIN_THROTTLED_ADDRESS, /* refused: the address throttle */
    LC_LOGIN_BUSY,          /* refused: the address's queue of password checks full */
    LC_LOGIN_FAILED,        /* wrong username or password (checked) */
    /* TLS (server/tls.c) */
    LC_TLS_HANDSHAKES,      /* TLS handshakes completed */
    LC_CLOSED_TLS_HANDSHAKE, /* a handshake that failed: garbage, no common version, a bad client certificate */
    LC_CLOSED_TLS_HANDSHAKE_TIMEOUT, /* tls_handshake_timeout */
    LC_CLOSED_TLS_ERROR,    /* a TLS error after the handshake */
    LC_REFUSED_PLAINTEXT,   /* plaintext from an address other than loopback, allow_plaintext off */
    LC_TLS_RELOADS,         /* certificate and key re-read on SIGHUP */
    LC_COUNT
};

struct limits {
    struct peer_addr **peers;
    struct login_pair **pairs;
    size_t npeers, npairs;
    struct auth_sched auth;
    uint64_t counts[LC_COUNT];
    int unauth;              /* connections not logged in */
    size_t output_total;     /* unsent reply bytes over all connections */
    uint64_t last_refusal_log_ms;
    uint64_t refusals_unlogged;
};

void limits_init(struct server *s);
void limits_free(struct server *s);
void limits_count(struct server *s, enum limit_counter which);
const char *limits_counter_name(enum limit_counter which);

/* The address's entry, made on first use; one reference per call. */
struct peer_addr *limits_peer_get(struct server *s, const char *addr);
void limits_peer_put(struct server *s, struct peer_addr *p);

/* Once a second: forgets throttles whose failures are long past. */
void limits_sweep(struct server *s, uint64_t now_ms);

/* The login throttle (rpc_session.c's login calls these around the check).
 * limits_login_begin decides before anything costly: 0 and *pair set when the
 * attempt may be checked (its failure is reserved); else -1 with the status
 * code and the message for the client in why. limits_login_end records the
 * outcome: ok 1 logged in, 0 a wrong username or password, -1 neither (a
 * disabled account, a database failure). user_id names the account in the
 * admins' announcement (0 when unknown). Returns the pair's failures. */
int limits_login_begin(struct server *s, struct conn *c, const char *username, struct login_pair **pair, int *code,
                       char *why, size_t whysz);
int limits_login_end(struct server *s, struct conn *c, struct login_pair *pair, int ok, int64_t user_id);

#endif
