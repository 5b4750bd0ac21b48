/* kehu-fanout: push fan-out of a running kehud, measured through libkehu.
 *
 *   kehu-fanout [--server HOST:PORT] [--subscribers N] [--changes K] [--ids MIN-MAX]
 *               [--user U] [--password P] [--others M --other-user U2 --other-password P2]
 *               [--threads T] [--interval-ms MS] [--server-pid PID] [--json]
 *
 * N connections (default 1,000) resume one session of U (one password login,
 * then Resume on each: N Argon2id hashes would take minutes and are not what
 * is measured), each subscribed to one customer (Subscribe customer_id).
 * With --others, M more connections of U2, a user who may not read that
 * customer, subscribe to the customer's branch: kehud looks at the change for
 * each of them and must send them nothing (a delivery counts as a leak and
 * fails the run). The customer is the first one of MIN..MAX that U reads and
 * U2 does not.
 *
 * Once every connection is subscribed, one writer (U) changes the customer's
 * notes K times, one change at a time: each waits until every subscriber has
 * its event (or 5 s) and INTERVAL-MS more. Subscribers are read by T threads
 * (epoll over their share, each socket read straight: libkehu's reading
 * polls a socket before and after each read, a cost this side of the
 * machine would add to kehud's), each event stamped as its wait returns. A
 * change's time is from the writer sending the CustomerEdit (its commit is within: an upper
 * bound of commit-to-delivery) to the arrival at the last subscriber; the
 * figures are its p50, p90, p99 and max over the K changes, with the time to
 * the first subscriber, the spread from the first to the last (what the
 * fan-out itself adds) and the write's own round trip beside it. The
 * event's at_ms (kehud's clock as it took the announcement) splits a change
 * in two: the change until kehud has PostgreSQL's NOTIFY (the edit, its
 * commit, the notification), and from there to the last subscriber (the
 * fan-out and the subscribers' reading), each to the millisecond. The
 * subscribers' reading shares the machine with kehud, so it is counted in;
 * its CPU per change is printed (kehu-fanout's own, the writer's included).
 * With --server-pid (kehud on this machine), kehud's CPU time per change is
 * printed too: what the fan-out costs the server, whatever else runs.
 *
 * Exit status: 0, 1 when events were missing or leaked, 2 usage, 3 setup. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_client.h"
#include "kehu.h"
#include "wire.h"

#define WAIT_S 5.0 /* a change not delivered everywhere within this is counted missing */

struct opts {
    const char *server, *user, *password, *other_user, *other_password;
    int subscribers, others, changes, threads, interval_ms, json, server_pid;
    int64_t id_min, id_max;
};

struct sub {
    kehu_client *c;
    struct wire_decoder dec; /* its socket's bytes, read past libkehu once subscribed (read_events) */
    int other;               /* may not read the customer: must get nothing */
    int dead;
};

static struct opts o;
static struct sub *subs;
static int nsubs;
static int64_t customer, base_version;
static double *arrive;       /* [change][subscriber]: seconds, 0 = not yet */
static int *arrived;         /* per change: subscribers that have it */
static int64_t *kehud_at_ms; /* per change: the event's at_ms, kehud's clock as it took the announcement */
static long leaks, lost;
static int done;
/* the writer waits here for a change to reach every subscriber (woken by the
 * reader that completes it, or loses a subscriber), not polling */
static pthread_mutex_t all_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_arrived;

static void wake_writer(void)
{
    pthread_mutex_lock(&all_mutex);
    pthread_cond_broadcast(&all_arrived);
    pthread_mutex_unlock(&all_mutex);
}

static void on_event(int i, Kehu__V1__Event *ev, double t)
{
    if (ev->customer_id != customer)
        return;
    if (subs[i].other) {
        __atomic_add_fetch(&leaks, 1, __ATOMIC_RELAXED);
        fprintf(stderr, "kehu-fanout: LEAK: %s of customer %lld reached a subscriber who may not read it\n",
                ev->kind, (long long)ev->customer_id);
        return;
    }
    if (strcmp(ev->kind, "customer.updated") != 0)
        return;
    int64_t k = ev->version - base_version - 1;
    if (k < 0 || k >= o.changes || arrive[k * nsubs + i] != 0)
        return;
    arrive[k * nsubs + i] = t;
    __atomic_store_n(&kehud_at_ms[k], ev->at_ms, __ATOMIC_RELAXED);
    int now_arrived = __atomic_add_fetch(&arrived[k], 1, __ATOMIC_RELEASE);
    if (now_arrived >= o.subscribers - __atomic_load_n(&lost, __ATOMIC_RELAXED))
        wake_writer();
}

struct reader {
    pthread_t thread;
    int from, to;
};

/* Reads what one subscriber's socket holds: each whole frame's event. 0, or
 * -1 when the connection is gone. */
static int read_sub(int i, double t)
{
    struct sub *s = &subs[i];
    uint8_t buf[16384];
    ssize_t n = recv(kehu_fd(s->c), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        fprintf(stderr, "kehu-fanout: subscriber %d: %s\n", i, n ? strerror(errno) : "kehud closed the connection");
        return -1;
    }
    if (wire_decoder_feed(&s->dec, buf, (size_t)n) == WIRE_NOMEM) {
        fprintf(stderr, "kehu-fanout: subscriber %d: out of memory\n", i);
        return -1;
    }
    const uint8_t *payload;
    size_t len;
    int r;
    while ((r = wire_decoder_next(&s->dec, &payload, &len)) == WIRE_FRAME) {
        Kehu__V1__Frame *f = kehu__v1__frame__unpack(NULL, len, payload);
        if (!f) {
            fprintf(stderr, "kehu-fanout: subscriber %d: a malformed frame\n", i);
            return -1;
        }
        if (f->body_case == KEHU__V1__FRAME__BODY_EVENT)
            on_event(i, f->event, t);
        kehu__v1__frame__free_unpacked(f, NULL);
    }
    if (r != WIRE_NEED_MORE) {
        fprintf(stderr, "kehu-fanout: subscriber %d: an oversized frame\n", i);
        return -1;
    }
    return 0;
}

/* The subscribers' sockets are read straight, not through libkehu (whose
 * kehu_next_event polls each socket before and after its read): one epoll
 * wait for the reader's share, one recv per socket that has data. This side
 * shares the cores with kehud, so its cost is kept to what a client must
 * pay. Each batch is stamped as the wait returns: every socket in it had its
 * event by then. */
static void *read_events(void *arg)
{
    struct reader *r = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("kehu-fanout: epoll_create1");
        exit(3);
    }
    for (int i = r->from; i < r->to; i++) {
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, kehu_fd(subs[i].c), &e) < 0) {
            perror("kehu-fanout: epoll_ctl");
            exit(3);
        }
    }
    struct epoll_event ready[1024];
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        int n = epoll_wait(ep, ready, (int)(sizeof ready / sizeof ready[0]), 50);
        if (n <= 0)
            continue;
        double t = bench_now_s();
        for (int k = 0; k < n; k++) {
            int i = (int)ready[k].data.u32;
            if (read_sub(i, t) < 0) {
                subs[i].dead = 1;
                __atomic_add_fetch(&lost, 1, __ATOMIC_RELAXED);
                epoll_ctl(ep, EPOLL_CTL_DEL, kehu_fd(subs[i].c), NULL);
                wake_writer();
            }
        }
    }
    close(ep);
    return NULL;
}

static Kehu__V1__Response *call(kehu_client *c, Kehu__V1__Request *req, struct kehu_status *st)
{
    Kehu__V1__Response *r = kehu_call(c, req, st);
    if (r && st->code != KEHU__V1__CODE__OK) {
        kehu_response_free(r);
        return NULL;
    }
    return r;
}

static Kehu__V1__Response *get_customer(kehu_client *c, int64_t id, struct kehu_status *st)
{
    Kehu__V1__CustomerGet g = KEHU__V1__CUSTOMER_GET__INIT;
    g.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &g;
    return call(c, &req, st);
}

static int subscribe(kehu_client *c, int64_t id, const char *unit, struct kehu_status *st)
{
    Kehu__V1__Subscribe m = KEHU__V1__SUBSCRIBE__INIT;
    if (unit) {
        m.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
        m.unit = (char *)unit;
    } else {
        m.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_CUSTOMER_ID;
        m.customer_id = id;
    }
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &m;
    Kehu__V1__Response *r = call(c, &req, st);
    kehu_response_free(r);
    return r ? 0 : -1;
}

struct opener {
    pthread_t thread;
    int from, to;
    const char *token, *other_token, *unit;
    char failure[600];
};

/* Opens subscribers from..to: connect, Resume, Subscribe. */
static void *open_subs(void *arg)
{
    struct opener *op = arg;
    for (int i = op->from; i < op->to; i++) {
        struct kehu_status st;
        struct sub *s = &subs[i];
        s->c = kehu_connect(o.server, 10000, &st);
        if (!s->c || kehu_resume(s->c, s->other ? op->other_token : op->token, NULL, &st) != KEHU__V1__CODE__OK ||
            subscribe(s->c, customer, s->other ? op->unit : NULL, &st) < 0) {
            snprintf(op->failure, sizeof op->failure, "subscriber %d: %s", i, st.message);
            return NULL;
        }
    }
    return NULL;
}

/* this process's user + system CPU seconds */
static double own_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CLOCK_REALTIME in ms: what kehud stamps an event with (at_ms) */
static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* user + system CPU seconds of a process on this machine (-1: unknown) */
static double cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long long utime, stime;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv)
{
    o = (struct opts){ .server = getenv("KEHU_SERVER"), .user = "admin", .password = getenv("KEHU_PASSWORD"),
                       .subscribers = 1000, .changes = 100, .threads = 2, .interval_ms = 10 };
    if (!o.server)
        o.server = KEHU_DEFAULT_SERVER;
    static const struct option longopts[] = {
        { "server", required_argument, 0, 's' },      { "subscribers", required_argument, 0, 'n' },
        { "changes", required_argument, 0, 'k' },     { "ids", required_argument, 0, 'i' },
        { "user", required_argument, 0, 'u' },        { "password", required_argument, 0, 'p' },
        { "others", required_argument, 0, 'm' },      { "other-user", required_argument, 0, 'U' },
        { "other-password", required_argument, 0, 'P' }, { "threads", required_argument, 0, 't' },
        { "interval-ms", required_argument, 0, 'w' }, { "json", no_argument, 0, 'j' },
        { "server-pid", required_argument, 0, 'S' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *ids = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:n:k:i:u:p:m:U:P:t:w:S:jh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': o.server = optarg; break;
        case 'n': o.subscribers = atoi(optarg); break;
        case 'k': o.changes = atoi(optarg); break;
        case 'i': ids = optarg; break;
        case 'u': o.user = optarg; break;
        case 'p': o.password = optarg; break;
        case 'm': o.others = atoi(optarg); break;
        case 'U': o.other_user = optarg; break;
        case 'P': o.other_password = optarg; break;
        case 't': o.threads = atoi(optarg); break;
        case 'w': o.interval_ms = atoi(optarg); break;
        case 'j': o.json = 1; break;
        case 'S': o.server_pid = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: kehu-fanout [--server HOST:PORT] [--subscribers N] [--changes K] --ids MIN-MAX\n"
                            "                   [--user U] [--password P] [--others M --other-user U2"
                            " --other-password P2]\n"
                            "                   [--threads T] [--interval-ms MS] [--server-pid PID] [--json]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (o.subscribers < 1 || o.changes < 1 || o.threads < 1 || o.others < 0 || o.interval_ms < 0 || !ids ||
        bench_parse_ids(ids, &o.id_min, &o.id_max) < 0 || !o.password ||
        (o.others && (!o.other_user || !o.other_password))) {
        fprintf(stderr, "kehu-fanout: needs --ids MIN-MAX, a password (--password or KEHU_PASSWORD), positive"
                        " counts, and with --others the other user and password\n");
        return 2;
    }
    struct kehu_status st;
    const char *stage;
    kehu_client *writer = bench_login(o.server, NULL, o.user, o.password, 100, &st, &stage);
    if (!writer) {
        fprintf(stderr, "kehu-fanout: login %s: %s\n", o.user, st.message);
        return 3;
    }
    kehu_client *other = NULL;
    if (o.others && !(other = bench_login(o.server, NULL, o.other_user, o.other_password, 100, &st, &stage))) {
        fprintf(stderr, "kehu-fanout: login %s: %s\n", o.other_user, st.message);
        return 3;
    }
    /* the customer: the writer reads it, the other user does not */
    char unit[24] = "";
    for (int64_t id = o.id_min; id <= o.id_max && id < o.id_min + 200 && !customer; id++) {
        Kehu__V1__Response *r = get_customer(writer, id, &st);
        if (!r)
            continue;
        Kehu__V1__Response *seen = other ? get_customer(other, id, &st) : NULL;
        if (!seen) {
            customer = id;
            base_version = r->customer->version;
            snprintf(unit, sizeof unit, "%lld", (long long)r->customer->branch_id);
        }
        kehu_response_free(seen);
        kehu_response_free(r);
    }
    if (!customer) {
        fprintf(stderr, "kehu-fanout: no customer among the first ids of %s that %s reads%s%s does not\n", ids,
                o.user, other ? " and " : "", other ? o.other_user : "");
        return 3;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&all_arrived, &ca);
    nsubs = o.subscribers + o.others;
    subs = calloc((size_t)nsubs, sizeof *subs);
    for (int i = 0; i < nsubs; i++) {
        wire_decoder_init(&subs[i].dec, KEHU_DEFAULT_MAX_FRAME);
        subs[i].other = i >= o.subscribers;
    }
    /* every subscriber connected, resumed and subscribed before the first change */
    double t_open = bench_now_s();
    int nopen = o.threads < nsubs ? o.threads : nsubs;
    struct opener *op = calloc((size_t)nopen, sizeof *op);
    for (int i = 0; i < nopen; i++) {
        op[i] = (struct opener){ .from = (int)((long)nsubs * i / nopen), .to = (int)((long)nsubs * (i + 1) / nopen),
                                 .token = kehu_token(writer), .other_token = other ? kehu_token(other) : NULL,
                                 .unit = unit };
        pthread_create(&op[i].thread, NULL, open_subs, &op[i]);
    }
    int failed = 0;
    for (int i = 0; i < nopen; i++) {
        pthread_join(op[i].thread, NULL);
        if (op[i].failure[0]) {
            fprintf(stderr, "kehu-fanout: %s\n", op[i].failure);
            failed = 1;
        }
    }
    free(op);
    if (failed)
        return 3;
    double open_s = bench_now_s() - t_open;

    arrive = calloc((size_t)o.changes * (size_t)nsubs, sizeof *arrive);
    arrived = calloc((size_t)o.changes, sizeof *arrived);
    kehud_at_ms = calloc((size_t)o.changes, sizeof *kehud_at_ms);
    int nread = nopen;
    struct reader *rd = calloc((size_t)nread, sizeof *rd);
    for (int i = 0; i < nread; i++) {
        rd[i] = (struct reader){ .from = (int)((long)nsubs * i / nread), .to = (int)((long)nsubs * (i + 1) / nread) };
        pthread_create(&rd[i].thread, NULL, read_events, &rd[i]);
    }

    double *last = calloc((size_t)o.changes, sizeof *last), *first = calloc((size_t)o.changes, sizeof *first),
           *write_ms = calloc((size_t)o.changes, sizeof *write_ms),
           *spread = calloc((size_t)o.changes, sizeof *spread),
           *notified = calloc((size_t)o.changes, sizeof *notified),
           *fanned = calloc((size_t)o.changes, sizeof *fanned);
    long missing = 0, write_errors = 0;
    double cpu0 = o.server_pid ? cpu_s(o.server_pid) : -1, own0 = own_cpu_s();
    int measured = 0;
    for (int k = 0; k < o.changes; k++) {
        char notes[64];
        snprintf(notes, sizeof notes, "推送测量 %d", k + 1);
        Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT;
        fv.field = "notes";
        fv.value = notes;
        Kehu__V1__FieldValue *set[] = { &fv };
        Kehu__V1__CustomerEdit e = KEHU__V1__CUSTOMER_EDIT__INIT;
        e.id = customer;
        e.version = base_version + k;
        e.n_set = 1;
        e.set = set;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
        req.customer_edit = &e;
        double t0 = bench_now_s(), t0_wall_ms = wall_ms();
        Kehu__V1__Response *r = call(writer, &req, &st);
        double t1 = bench_now_s();
        if (!r) {
            fprintf(stderr, "kehu-fanout: change %d: %s\n", k + 1, st.message);
            write_errors++;
            break; /* the versions would no longer follow */
        }
        kehu_response_free(r);
        double end = t0 + WAIT_S;
        struct timespec until = { (time_t)end, (long)((end - (double)(time_t)end) * 1e9) };
        pthread_mutex_lock(&all_mutex);
        while (__atomic_load_n(&arrived[k], __ATOMIC_ACQUIRE) <
                   o.subscribers - __atomic_load_n(&lost, __ATOMIC_RELAXED) &&
               pthread_cond_timedwait(&all_arrived, &all_mutex, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&all_mutex);
        int got = __atomic_load_n(&arrived[k], __ATOMIC_ACQUIRE);
        missing += o.subscribers - got;
        double lo = 0, hi = 0;
        for (int i = 0; i < o.subscribers; i++) {
            double t = arrive[(size_t)k * nsubs + i];
            if (t == 0)
                continue;
            if (lo == 0 || t < lo)
                lo = t;
            if (t > hi)
                hi = t;
        }
        if (got == o.subscribers) {
            last[measured] = (hi - t0) * 1000;
            first[measured] = (lo - t0) * 1000;
            write_ms[measured] = (t1 - t0) * 1000;
            spread[measured] = (hi - lo) * 1000;
            /* kehud's clock at the announcement: ms, the same machine's */
            notified[measured] = (double)__atomic_load_n(&kehud_at_ms[k], __ATOMIC_RELAXED) - t0_wall_ms;
            fanned[measured] = last[measured] - notified[measured];
            measured++;
        }
        if (o.interval_ms)
            usleep((useconds_t)o.interval_ms * 1000);
    }
    double cpu1 = cpu0 >= 0 ? cpu_s(o.server_pid) : -1;
    double cpu_ms = cpu0 >= 0 && cpu1 >= 0 && measured ? (cpu1 - cpu0) * 1000 / o.changes : -1;
    double own_ms = (own_cpu_s() - own0) * 1000 / o.changes;
    usleep(300000); /* late leaks to the others still count */
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < nread; i++)
        pthread_join(rd[i].thread, NULL);
    double *last_sorted = malloc(((size_t)measured + 1) * sizeof *last_sorted);
    memcpy(last_sorted, last, (size_t)measured * sizeof *last);
    qsort(last_sorted, (size_t)measured, sizeof *last_sorted, bench_cmp_double);
    qsort(first, (size_t)measured, sizeof *first, bench_cmp_double);
    qsort(write_ms, (size_t)measured, sizeof *write_ms, bench_cmp_double);
    qsort(spread, (size_t)measured, sizeof *spread, bench_cmp_double);
    qsort(notified, (size_t)measured, sizeof *notified, bench_cmp_double);
    qsort(fanned, (size_t)measured, sizeof *fanned, bench_cmp_double);
    long errors = missing + write_errors + leaks + lost;
    size_t m = (size_t)measured;
    double max_ms = measured ? last_sorted[measured - 1] : 0.0;
    if (o.json)
        printf("{\"subscribers\": %d, \"others\": %d, \"changes\": %d, \"measured\": %d, \"customer\": %lld, "
               "\"open_s\": %.2f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
               "\"first_p50_ms\": %.3f, \"spread_p50_ms\": %.3f, \"spread_p99_ms\": %.3f, \"write_p50_ms\": %.3f, "
               "\"notify_p50_ms\": %.0f, \"notify_to_last_p50_ms\": %.0f, \"notify_to_last_p99_ms\": %.0f, "
               "\"missing\": %ld, \"leaks\": %ld, \"lost\": %ld, \"errors\": %ld, "
               "\"server_cpu_ms_per_change\": %.2f, \"client_cpu_ms_per_change\": %.2f}\n",
               o.subscribers, o.others, o.changes, measured, (long long)customer, open_s, bench_pct(last_sorted, m, 50),
               bench_pct(last_sorted, m, 90), bench_pct(last_sorted, m, 99), max_ms, bench_pct(first, m, 50),
               bench_pct(spread, m, 50), bench_pct(spread, m, 99), bench_pct(write_ms, m, 50),
               bench_pct(notified, m, 50), bench_pct(fanned, m, 50), bench_pct(fanned, m, 99), missing, leaks, lost,
               errors, cpu_ms, own_ms);
    else
        printf("fan-out: %d subscribers (+%d who may not read it), %d changes of customer %lld (%d measured; "
               "subscribed in %.1f s): change to last subscriber p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms;"
               " to the first p50 %.3f ms; first to last p50 %.3f ms, p99 %.3f ms; the write's round trip p50 %.3f ms;"
               " kehud took the announcement p50 %.0f ms after the change, from there to the last p50 %.0f ms,"
               " p99 %.0f ms; %ld missing, %ld leaked, %ld lost; kehu-fanout's own CPU %.2f ms per change",
               o.subscribers, o.others, o.changes, (long long)customer, measured, open_s, bench_pct(last_sorted, m, 50),
               bench_pct(last_sorted, m, 90), bench_pct(last_sorted, m, 99), max_ms, bench_pct(first, m, 50),
               bench_pct(spread, m, 50), bench_pct(spread, m, 99), bench_pct(write_ms, m, 50),
               bench_pct(notified, m, 50), bench_pct(fanned, m, 50), bench_pct(fanned, m, 99), missing, leaks, lost,
               own_ms);
    if (!o.json && cpu_ms >= 0)
        printf("; kehud CPU %.2f ms per change", cpu_ms);
    if (!o.json)
        printf("\n");
    for (int i = 0; i < nsubs; i++) {
        kehu_close(subs[i].c);
        wire_decoder_free(&subs[i].dec);
    }
    kehu_close(writer);
    kehu_close(other);
    free(subs);
    free(rd);
    free(arrive);
    free(arrived);
    free(kehud_at_ms);
    free(last);
    free(last_sorted);
    free(first);
    free(write_ms);
    free(spread);
    free(notified);
    free(fanned);
    return errors ? 1 : 0;
}
