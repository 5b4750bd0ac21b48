#include "kehu_reconnect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint32_t random_u32(void)
{
    uint32_t v;
    if (getrandom(&v, sizeof v, 0) != sizeof v)
        v = (uint32_t)mono_ms() * 2654435761u;
    return v;
}

static void set_st(struct kehu_status *st, int code, const char *msg)
{
    st->code = code;
    snprintf(st->message, sizeof st->message, "%s", msg);
    st->field[0] = 0;
}

/* ---- backoff */

int kehu_backoff_next_ms(struct kehu_backoff *b)
{
    int first = b->first_ms > 0 ? b->first_ms : 200;
    int max = b->max_ms > 0 ? b->max_ms : 10000;
    int64_t ceiling = first;
    for (int i = 0; i < b->attempt && ceiling < max; i++)
        ceiling *= 2;
    if (ceiling > max)
        ceiling = max;
    b->attempt++;
    /* "equal jitter": clients dropped together do not come back together */
    return (int)(ceiling / 2 + random_u32() % (uint32_t)(ceiling / 2 + 1));
}

void kehu_backoff_reset(struct kehu_backoff *b)
{
    b->attempt = 0;
}

int kehu_reconnect_patiently(kehu_client *c, int give_up_ms, kehu_retry_cb cb, void *arg, struct kehu_status *st)
{
    struct kehu_status local;
    if (!st)
        st = &local;
    struct kehu_backoff b = { 0 };
    int64_t deadline = give_up_ms < 0 ? INT64_MAX : mono_ms() + give_up_ms;
    for (;;) {
        int rc = kehu_reconnect(c, st);
        if (rc == 0)
            return 0;
        if (rc != KEHU_TRANSPORT && rc != KEHU__V1__CODE__UNAVAILABLE)
            return rc; /* the session is gone (UNAUTHENTICATED) or the server says no: waiting will not mend it */
        int wait = kehu_backoff_next_ms(&b);
        int64_t now = mono_ms();
        if (now >= deadline)
            return st->code = KEHU_TRANSPORT;
        if (now + wait > deadline)
            wait = (int)(deadline - now);
        if (cb)
            cb(b.attempt, wait, st, arg);
        sleep_ms(wait);
    }
}

/* ---- writes repeated safely */

void kehu_idempotency_key(char out[33])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t raw[16];
    for (int i = 0; i < 16; i += 4) {
        uint32_t v = random_u32();
        memcpy(raw + i, &v, 4);
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[32] = 0;
}

Kehu__V1__Response *kehu_call_retry(kehu_client *c, Kehu__V1__Request *req, int give_up_ms, kehu_retry_cb cb,
                                    void *arg, struct kehu_status *st)
{
    char key[33];
    char *had = req->idempotency_key;
    if (!had || !*had) {
        kehu_idempotency_key(key);
        req->idempotency_key = key;
    }
    int64_t deadline = give_up_ms < 0 ? INT64_MAX : mono_ms() + give_up_ms;
    struct kehu_backoff busy = { .first_ms = 100, .max_ms = 2000 };
    Kehu__V1__Response *r;
    for (;;) {
        r = kehu_call(c, req, st);
        if (r && st->code == KEHU__V1__CODE__CONFLICT && strcmp(st->field, "idempotency_key") == 0 &&
            strstr(st->message, "in progress") && mono_ms() < deadline) {
            /* the first attempt is still being answered (or recorded) */
            kehu_response_free(r);
            sleep_ms(kehu_backoff_next_ms(&busy));
            continue;
        }
        if (r || st->code != KEHU_TRANSPORT)
            break;
        int64_t left = deadline == INT64_MAX ? -1 : deadline - mono_ms();
        if (deadline != INT64_MAX && left <= 0)
            break;
        struct kehu_status why = *st;
        if (kehu_reconnect_patiently(c, (int)(left < 0 ? -1 : left), cb, arg, st) != 0) {
            if (st->code == KEHU_TRANSPORT)
                *st = why;
            break;
        }
    }
    req->idempotency_key = had;
    return r;
}

/* ---- subscriptions that resume */

struct kehu_watch {
    kehu_client *c;
    Kehu__V1__Subscribe sub;
    char *unit;
    kehu_link_cb cb;
    void *arg;
    uint64_t seq, stream; /* the last event's */
    int offline;
    int64_t next_try_ms;
    struct kehu_backoff backoff;
};

static int subscribe(kehu_watch *w, struct kehu_status *st)
{
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    w->sub.since_seq = w->seq;
    w->sub.stream = w->stream;
    req.subscribe = &w->sub;
    Kehu__V1__Response *r = kehu_call(w->c, &req, st);
    if (!r)
        return st->code;
    if (st->code == KEHU__V1__CODE__OK && !w->stream && r->event_stream) {
        w->stream = r->event_stream; /* where to resume from before any event came */
        w->seq = r->event_seq;
    }
    kehu_response_free(r);
    return st->code;
}

kehu_watch *kehu_watch_start(kehu_client *c, const Kehu__V1__Subscribe *sub, kehu_link_cb cb, void *arg,
                             struct kehu_status *st)
{
    kehu_watch *w = calloc(1, sizeof *w);
    if (!w) {
        set_st(st, KEHU_TRANSPORT, "out of memory");
        return NULL;
    }
    w->c = c;
    w->sub = *sub;
    w->sub.since_seq = w->sub.stream = 0;
    if (sub->scope_case == KEHU__V1__SUBSCRIBE__SCOPE_UNIT && sub->unit) {
        w->unit = strdup(sub->unit);
        w->sub.unit = w->unit;
    }
    w->cb = cb;
    w->arg = arg;
    w->backoff.first_ms = 200;
    w->backoff.max_ms = 10000;
    if (subscribe(w, st) != KEHU__V1__CODE__OK) {
        kehu_watch_free(w);
        return NULL;
    }
    return w;
}

int kehu_watch_online(const kehu_watch *w)
{
    return !w->offline;
}

void kehu_watch_free(kehu_watch *w)
{
    if (!w)
        return;
    free(w->unit);
    free(w);
}

/* One try at getting the connection and the subscription back: 0, 1 to
 * wait and try again, or -1 when it cannot work (st says why). */
static int try_back(kehu_watch *w, struct kehu_status *st)
{
    int rc = kehu_reconnect(w->c, st);
    if (rc == 0)
        rc = subscribe(w, st);
    if (rc == KEHU__V1__CODE__OK) {
        w->offline = 0;
        kehu_backoff_reset(&w->backoff);
        if (w->cb)
            w->cb(KEHU_LINK_BACK, st, w->arg);
        return 0;
    }
    if (rc == KEHU_TRANSPORT || rc == KEHU__V1__CODE__UNAVAILABLE) {
        w->next_try_ms = mono_ms() + kehu_backoff_next_ms(&w->backoff);
        return 1;
    }
    return -1;
}

Kehu__V1__Event *kehu_watch_next(kehu_watch *w, int timeout_ms, struct kehu_status *st)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int64_t now = mono_ms();
        if (w->offline) {
            if (now >= w->next_try_ms) {
                if (try_back(w, st) < 0)
                    return NULL;
                continue;
            }
            if (now >= deadline) {
                set_st(st, KEHU_TRANSPORT, "timeout");
                return NULL;
            }
            sleep_ms((int)((w->next_try_ms < deadline ? w->next_try_ms : deadline) - now));
            continue;
        }
        int left = deadline > now ? (int)(deadline - now) : 0;
        Kehu__V1__Event *ev = kehu_next_event(w->c, left, st);
        if (ev) {
            if (ev->stream && (ev->stream != w->stream || ev->seq > w->seq)) {
                w->stream = ev->stream; /* where to resume from */
                w->seq = ev->seq;
            }
            return ev;
        }
        if (st->code == KEHU_TRANSPORT && strcmp(st->message, "timeout") == 0)
            return NULL;
        /* the connection dropped */
        w->offline = 1;
        if (w->cb)
            w->cb(KEHU_LINK_LOST, st, w->arg);
        w->next_try_ms = mono_ms() + kehu_backoff_next_ms(&w->backoff);
    }
}
