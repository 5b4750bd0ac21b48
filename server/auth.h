/* Passwords and session tokens. Argon2id is deliberately slow, so hashing
 * and verifying run on libuv's thread pool, never on the loop. */
#ifndef KEHU_AUTH_H
#define KEHU_AUTH_H

#include <sodium.h>
#include <stddef.h>
#include <uv.h>

#define AUTH_TOKEN_LEN 43   /* 32 random bytes, base64url without padding */
#define AUTH_HASH_HEX 65    /* 32-byte BLAKE2b as hex + NUL */
#define AUTH_MIN_PASSWORD 8
#define AUTH_MAX_PASSWORD 256

/* done(ok, hash, arg): ok is 1 when the work succeeded (hash computed, or the
 * password matched), 0 when not, -1 when a check waiting in auth_sched was
 * dropped unchecked (auth_sched_stop). The password is copied and wiped
 * after use. */
typedef void (*auth_cb)(int ok, const char *hash, void *arg);
void auth_hash_async(uv_loop_t *loop, const char *password, unsigned long long ops, size_t mem, auth_cb cb,
                     void *arg);
void auth_verify_async(uv_loop_t *loop, const char *stored_hash, const char *password, auth_cb cb, void *arg);

/* Password checks shared fairly: at most `slots` run on the thread pool at
 * once, and the waiting ones are taken one per lane (a lane per client
 * address), favouring lanes that started no check lately and whose address
 * did not fail: someone logging in once goes before a flood, whose lanes
 * take turns by how little they had, those of failing addresses last and
 * never in the last free slot. A flood
 * from one client therefore delays another's login by at most the checks
 * already running, not by the flood. */
struct auth_work;
struct auth_lane {
    struct auth_work *head, *tail; /* waiting, in order */
    int queued;
    int in_ring;      /* on the waiting list */
    int suspect;      /* its address failed recently */
    int recent;       /* checks started since recent_since_ms */
    uint64_t recent_since_ms;
    struct auth_lane *ring_next;
};
struct auth_sched {
    uv_loop_t *loop;
    int slots, running, running_suspect, queued, stopped;
    int (*wanted)(void *arg); /* NULL, or 0 when a waiting check's asker is gone: dropped (-1) unstarted */
    struct auth_lane *wait_head, *wait_tail; /* lanes with checks waiting */
    struct auth_lane others; /* hashes of new passwords and password changes' checks: one lane */
};
void auth_sched_init(struct auth_sched *s, uv_loop_t *loop, int slots);
/* auth_verify_async through the scheduler, in the lane's turn. The lane
 * must live until the callback ran. */
void auth_verify_fair(struct auth_sched *s, struct auth_lane *lane, int suspect, const char *stored_hash,
                      const char *password, auth_cb cb, void *arg);
/* Every other Argon2 use of kehud (a new password's hash, the current
 * password's check of a password change) in the same slots, on one lane of
 * its own: at most `slots` hashes hold their memory (hash_mem) at once,
 * whatever asks. Never dropped; answered 0 if the server stops first. */
void auth_hash_sched(struct auth_sched *s, const char *password, unsigned long long ops, size_t mem, auth_cb cb,
                     void *arg);
void auth_verify_sched(struct auth_sched *s, const char *stored_hash, const char *password, auth_cb cb, void *arg);
/* When shutdown's grace is over: the waiting checks are answered -1 at
 * once (running ones finish). */
void auth_sched_stop(struct auth_sched *s);

/* Blocking variants for offline commands (kehud init/demo) and tests. */
int auth_hash(char out[crypto_pwhash_STRBYTES], const char *password, unsigned long long ops, size_t mem);
int auth_verify(const char *stored_hash, const char *password);

/* A new random token and the hex of its hash (what the database keeps). */
void auth_new_token(char token[AUTH_TOKEN_LEN + 1], char hash_hex[AUTH_HASH_HEX]);
void auth_token_hash(const char *token, char hash_hex[AUTH_HASH_HEX]);
/* NULL when acceptable, else why not (for the client). */
const char *auth_password_problem(const char *password);

#endif
