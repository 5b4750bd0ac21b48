/* libkehu across bad links: reconnecting with exponential backoff and
 * jitter, writes that may be repeated safely (idempotency keys), and
 * subscriptions that resume where they left off.
 *
 * Everything here is built on kehu.h's calls (kehu_reconnect resumes the
 * session with its token); nothing runs in the background: the library
 * reconnects inside the calls below. */
#ifndef KEHU_RECONNECT_H
#define KEHU_RECONNECT_H

#include "kehu.h"

/* Exponential backoff with jitter: each wait is drawn between half and all
 * of first_ms * 2^attempt, capped at max_ms. */
struct kehu_backoff {
    int first_ms; /* default 200 */
    int max_ms;   /* default 10000 */
    int attempt;
};
int kehu_backoff_next_ms(struct kehu_backoff *b);
void kehu_backoff_reset(struct kehu_backoff *b);

/* Called before each wait while reconnecting: the attempt (1, 2, ...), the
 * wait before it, and why the last try failed. */
typedef void (*kehu_retry_cb)(int attempt, int wait_ms, const struct kehu_status *why, void *arg);

/* kehu_reconnect until it works, the server refuses the session (its code
 * is returned: the user must log in again), or give_up_ms passes (< 0:
 * never; then KEHU_TRANSPORT). 0 when connected and resumed. */
int kehu_reconnect_patiently(kehu_client *c, int give_up_ms, kehu_retry_cb cb, void *arg, struct kehu_status *st);

/* 32 random hex digits for Request.idempotency_key. */
void kehu_idempotency_key(char out[33]);

/* kehu_call for a write whose answer may be lost with the connection: gives
 * the request an idempotency key if it has none, and on a transport error
 * reconnects (as above) and sends it again with the same key, so that it is
 * done once; the answer then says replayed. NULL when the connection could
 * not be had back within give_up_ms. */
Kehu__V1__Response *kehu_call_retry(kehu_client *c, Kehu__V1__Request *req, int give_up_ms, kehu_retry_cb cb,
                                    void *arg, struct kehu_status *st);

/* A subscription that outlives its connection. */
typedef struct kehu_watch kehu_watch;
enum kehu_link {
    KEHU_LINK_LOST, /* the connection dropped: reconnecting (why: the error) */
    KEHU_LINK_BACK, /* connected, session resumed, subscribed again: the missed events follow,
                       or one "events.missed" event when the server no longer has them */
};
typedef void (*kehu_link_cb)(enum kehu_link what, const struct kehu_status *why, void *arg);

/* Subscribes (sub is copied). NULL with st on failure (a refusal included). */
kehu_watch *kehu_watch_start(kehu_client *c, const Kehu__V1__Subscribe *sub, kehu_link_cb cb, void *arg,
                             struct kehu_status *st);
/* The next event within timeout_ms (NULL with KEHU_TRANSPORT "timeout"
 * when none came, online or not). A lost connection is reconnected with
 * backoff meanwhile; NULL with another status only when that cannot work
 * (the session ended: log in again). */
Kehu__V1__Event *kehu_watch_next(kehu_watch *w, int timeout_ms, struct kehu_status *st);
int kehu_watch_online(const kehu_watch *w);
void kehu_watch_free(kehu_watch *w);

#endif
