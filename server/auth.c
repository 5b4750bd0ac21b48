#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct auth_work {
    uv_work_t w;
    char *password;
    char stored[crypto_pwhash_STRBYTES];
    char hash[crypto_pwhash_STRBYTES];
    unsigned long long ops;
    size_t mem;
    int verify;
    int ok;
    auth_cb cb;
    void *arg;
    struct auth_sched *sched; /* NULL: queued on the thread pool directly */
    int suspect;              /* started for a lane whose address failed lately */
    int droppable;            /* a login's check: dropped (-1) when its asker is gone */
    struct auth_work *next;   /* in its lane */
};

int auth_hash(char out[crypto_pwhash_STRBYTES], const char *password, unsigned long long ops, size_t mem)
{
    return crypto_pwhash_str(out, password, strlen(password), ops, mem) == 0 ? 0 : -1;
}

int auth_verify(const char *stored_hash, const char *password)
{
    return crypto_pwhash_str_verify(stored_hash, password, strlen(password)) == 0 ? 0 : -1;
}

static void work_run(uv_work_t *w)
{
    struct auth_work *a = w->data;
    if (a->verify)
        a->ok = auth_verify(a->stored, a->password) == 0;
    else
        a->ok = auth_hash(a->hash, a->password, a->ops, a->mem) == 0;
}

static void sched_pump(struct auth_sched *s);

static void work_done(uv_work_t *w, int status)
{
    struct auth_work *a = w->data;
    struct auth_sched *s = a->sched;
    int suspect = a->suspect;
    sodium_memzero(a->password, strlen(a->password));
    free(a->password);
    a->cb(status == 0 && a->ok, a->verify ? NULL : a->hash, a->arg);
    sodium_memzero(a, sizeof *a);
    free(a);
    if (s) {
        s->running--;
        s->running_suspect -= suspect;
        sched_pump(s);
    }
}

static void queue(uv_loop_t *loop, struct auth_work *a)
{
    a->w.data = a;
    if (uv_queue_work(loop, &a->w, work_run, work_done) < 0)
        fatal("cannot queue work on the thread pool");
}

static struct auth_work *hash_work(const char *password, unsigned long long ops, size_t mem, auth_cb cb, void *arg)
{
    struct auth_work *a = xcalloc(1, sizeof *a);
    a->password = xstrdup(password);
    a->ops = ops;
    a->mem = mem;
    a->cb = cb;
    a->arg = arg;
    return a;
}

void auth_hash_async(uv_loop_t *loop, const char *password, unsigned long long ops, size_t mem, auth_cb cb, void *arg)
{
    queue(loop, hash_work(password, ops, mem, cb, arg));
}

static struct auth_work *verify_work(const char *stored_hash, const char *password, auth_cb cb, void *arg)
{
    struct auth_work *a = xcalloc(1, sizeof *a);
    a->password = xstrdup(password);
    snprintf(a->stored, sizeof a->stored, "%s", stored_hash);
    a->verify = 1;
    a->cb = cb;
    a->arg = arg;
    return a;
}

void auth_verify_async(uv_loop_t *loop, const char *stored_hash, const char *password, auth_cb cb, void *arg)
{
    queue(loop, verify_work(stored_hash, password, cb, arg));
}

void auth_sched_init(struct auth_sched *s, uv_loop_t *loop, int slots)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->slots = slots > 0 ? slots : 1;
}

#define RECENT_MS 10000 /* checks started this recently count against a lane */

static int lane_recent(struct auth_lane *l, uint64_t now)
{
    if (now - l->recent_since_ms > RECENT_MS)
        l->recent = 0;
    return l->recent;
}

/* A lane is favoured when its address has no recent failure, has this one
 * check waiting and started at most one lately: someone logging in (again). */
static int lane_favoured(struct auth_lane *l, uint64_t now)
{
    return !l->suspect && l->queued == 1 && lane_recent(l, now) <= 1;
}

static void waiting_append(struct auth_sched *s, struct auth_lane *l)
{
    l->in_ring = 1;
    l->ring_next = NULL;
    if (s->wait_tail)
        s->wait_tail->ring_next = l;
    else
        s->wait_head = l;
    s->wait_tail = l;
}

/* The lane to serve next, taken off the waiting list: the first favoured
 * one, else the one with the fewest recent checks (failing addresses
 * last, and only while a slot stays free for the others).
 * A scan: checks start a few times a second, the list is short. */
static struct auth_lane *pick_lane(struct auth_sched *s, int *favoured)
{
    uint64_t now = uv_now(s->loop);
    struct auth_lane *best = NULL, *best_prev = NULL, *prev = NULL;
    long best_key = 0;
    for (struct auth_lane *l = s->wait_head; l; prev = l, l = l->ring_next) {
        long key = lane_favoured(l, now) ? -1
                                         : (long)l->suspect * 100000000L + lane_recent(l, now) * 10000L + l->queued;
        if (!best || key < best_key) {
            best = l;
            best_prev = prev;
            best_key = key;
            if (key < 0)
                break;
        }
    }
    if (!best)
        return NULL;
    *favoured = best_key < 0;
    int suspect_slots = s->slots > 1 ? s->slots - 1 : 1;
    if (best->suspect && s->running_suspect >= suspect_slots && !s->stopped)
        return NULL;
    if (best_prev)
        best_prev->ring_next = best->ring_next;
    else
        s->wait_head = best->ring_next;
    if (s->wait_tail == best)
        s->wait_tail = best_prev;
    best->ring_next = NULL;
    best->in_ring = 0;
    if (now - best->recent_since_ms > RECENT_MS) {
        best->recent = 0;
        best->recent_since_ms = now;
    }
    best->recent++;
    return best;
}

static struct auth_work *lane_pop(struct auth_sched *s, struct auth_lane *l)
{
    struct auth_work *a = l->head;
    l->head = a->next;
    if (!l->head)
        l->tail = NULL;
    l->queued--;
    s->queued--;
    if (l->head)
        waiting_append(s, l); /* its next check waits for its next turn */
    return a;
}

static void drop_work(struct auth_work *a)
{
    sodium_memzero(a->password, strlen(a->password));
    free(a->password);
    a->cb(a->droppable ? -1 : 0, NULL, a->arg); /* a hash or a password change: failed */
    sodium_memzero(a, sizeof *a);
    free(a);
}

/* Starts waiting checks while slots are free; one whose asker is gone is
 * not worth a slot. */
static void sched_pump(struct auth_sched *s)
{
    struct auth_lane *l;
    int favoured;
    while (s->running < s->slots && (l = pick_lane(s, &favoured))) {
        struct auth_work *a = lane_pop(s, l);
        if (a->droppable && s->wanted && !s->wanted(a->arg)) {
            drop_work(a);
            continue;
        }
        a->suspect = l->suspect;
        s->running++;
        s->running_suspect += a->suspect;
        queue(s->loop, a);
    }
}

void auth_sched_stop(struct auth_sched *s)
{
    s->stopped = 1;
    struct auth_lane *l;
    int favoured;
    while ((l = pick_lane(s, &favoured)))
        drop_work(lane_pop(s, l));
}

static void sched_add(struct auth_sched *s, struct auth_lane *lane, int suspect, struct auth_work *a);

void auth_verify_fair(struct auth_sched *s, struct auth_lane *lane, int suspect, const char *stored_hash,
                      const char *password, auth_cb cb, void *arg)
{
    struct auth_work *a = verify_work(stored_hash, password, cb, arg);
    a->droppable = 1;
    sched_add(s, lane, suspect, a);
}

void auth_hash_sched(struct auth_sched *s, const char *password, unsigned long long ops, size_t mem, auth_cb cb,
                     void *arg)
{
    sched_add(s, &s->others, 0, hash_work(password, ops, mem, cb, arg));
}

void auth_verify_sched(struct auth_sched *s, const char *stored_hash, const char *password, auth_cb cb, void *arg)
{
    sched_add(s, &s->others, 0, verify_work(stored_hash, password, cb, arg));
}

static void sched_add(struct auth_sched *s, struct auth_lane *lane, int suspect, struct auth_work *a)
{
    a->sched = s;
    if (lane->tail)
        lane->tail->next = a;
    else
        lane->head = a;
    lane->tail = a;
    lane->queued++;
    s->queued++;
    lane->suspect = suspect != 0;
    if (!lane->in_ring)
        waiting_append(s, lane);
    sched_pump(s);
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    sodium_bin2hex(out, n * 2 + 1, in, n);
}

void auth_token_hash(const char *token, char hash_hex[AUTH_HASH_HEX])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), NULL, 0);
    to_hex(h, sizeof h, hash_hex);
}

void auth_new_token(char token[AUTH_TOKEN_LEN + 1], char hash_hex[AUTH_HASH_HEX])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, AUTH_TOKEN_LEN + 1, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    auth_token_hash(token, hash_hex);
}

const char *auth_password_problem(const char *password)
{
    size_t n = strlen(password);
    if (n < AUTH_MIN_PASSWORD)
        return "a password needs at least 8 characters";
    if (n > AUTH_MAX_PASSWORD)
        return "a password may have at most 256 bytes";
    return NULL;
}
