/* kehu-bench: load on a running kehud through libkehu, as real clients.
 *
 *   kehu-bench [--server HOST:PORT] [--connections N] [--depth D]
 *              [--seconds S] [--op ping|whoami|search|get|dupcheck|caseopen] [--ids MIN-MAX]
 *              [--user U] [--password P] [--ready FILE] [--json] [--tls]
 *              [--terms T,T,...]
 *
 * --op search cycles through a mix of 24 terms (surnames, pinyin, initials,
 * phone parts); --terms TERM,TERM,... searches those instead.
 * --tls: every connection over TLS, whatever certificate the server shows
 * (a measurement, not a check). --op connect: each connection in turn is
 * opened (TCP, TLS when --tls, Hello) and closed, as fast as it goes: the
 * handshake rate.
 *
 * Each connection runs in its own thread and keeps D requests in flight
 * (pipelined). The clock starts once every connection is connected and
 * logged in (a password login costs an Argon2id hash: 50 of them take
 * seconds, which must not count as time under load), and every connection
 * starts sending at that moment. Prints throughput, latency percentiles
 * (p50, p90, p99, p99.9, max) of the answered requests and the errors (any
 * answer but the expected one, counted apart, not in the latencies); --json
 * prints one JSON object for scripts/bench.
 *
 * --op get: CustomerGet of ids drawn uniformly from MIN..MAX (--ids), each
 * connection from its own PRNG with a fixed seed (its index), so two runs ask
 * for the same ids in the same order. Any answer but OK (NOT_FOUND for a gap
 * in the ids, say) counts as an error.
 *
 * --op dupcheck: CustomerAdd without force of a new customer carrying the
 * phone of an existing one (customers fetched from MIN..MAX at the start,
 * DUP_SAMPLES per connection), so every add is refused as a probable
 * duplicate: a whole refused add is timed (the branch lookup and the search
 * keys an add computes first, then the check and its listing). CONFLICT is
 * its success; nothing is written (but the audit rows of the refusals).
 *
 * --op caseopen: CaseOpen of a request (an enquiry, severity 4) on customers
 * drawn from MIN..MAX like --op get: the case, its targets in working time
 * (the calendar), its first event and its four due actions, one transaction.
 *
 * SIGINT or SIGTERM ends the run early: no new requests, the ones in flight
 * are answered, and the figures are printed as usual. With --ready FILE,
 * FILE is created once every connection is logged in and sending, so a
 * script can start the thing to be measured under load at that moment and
 * stop the load with a signal when it is done (--seconds large). */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_client.h"
#include "kehu.h"

struct opts {
    const char *server, *op, *user, *password, *ready;
    int connections, depth, seconds, json, tls;
    int64_t id_min, id_max; /* --op get */
};

struct worker {
    const struct opts *o;
    pthread_t thread;
    kehu_client *c;
    double *lat_ms; /* one per answered request */
    size_t n, cap;
    long errors;
    double deadline;
    uint64_t rng; /* --op get: xorshift64* state, seeded from the index */
    /* --op dupcheck: phones and branches of existing customers */
#define DUP_SAMPLES 64
    char dup_phone[DUP_SAMPLES][32], dup_branch[DUP_SAMPLES][24];
    int n_dup;
    unsigned dup_next;
    Kehu__V1__Request req;
    char failure[600];
};

struct slot {
    struct worker *w;
    double sent;
    Kehu__V1__Request req;      /* search: each slot its own request */
    Kehu__V1__CustomerSearch search;
    Kehu__V1__CustomerGet get;  /* get: each slot its own request */
    Kehu__V1__CustomerAdd add;  /* dupcheck */
    Kehu__V1__CaseOpen case_open; /* caseopen */
    Kehu__V1__Customer customer;
    char *phones[1];
};

/* What a branch clerk types: surnames, given names, pinyin, initials, phone
 * fragments, a company word. */
static const char *const search_terms[] = {
    "王", "张伟", "zhangwei", "zw", "1380", "李娜", "li na", "欧阳", "wang", "刘", "chen", "hx",
    "贸易", "5678", "林", "zhao", "yang", "sm", "黄", "9001", "gz", "周", "xu", "ming",
};
static const char *const *terms = search_terms;
static unsigned nterms = sizeof search_terms / sizeof search_terms[0];
static unsigned term_counter;

/* Set by the signal thread: stop sending, let the requests in flight finish. */
static int stopping;
/* Connections that are logged in and sending, or that gave up. */
static int started;
/* Every connection logged in (or given up), and the main thread: then the
 * clock starts, for all at once. */
static pthread_barrier_t gate;

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1DULL;
}

/* uniform in [min, max], without modulo bias */
static int64_t rand_id(struct worker *w)
{
    uint64_t span = (uint64_t)(w->o->id_max - w->o->id_min) + 1, r, limit = UINT64_MAX - UINT64_MAX % span;
    do
        r = next_rand(&w->rng);
    while (r >= limit);
    return w->o->id_min + (int64_t)(r % span);
}

static void send_one(struct slot *s);

static void on_answer(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct slot *s = arg;
    struct worker *w = s->w;
    double t = bench_now_s();
    int ok = resp && (st->code == KEHU__V1__CODE__OK ||
                      (st->code == KEHU__V1__CODE__CONFLICT &&
                       w->req.op_case == KEHU__V1__REQUEST__OP_CUSTOMER_ADD)); /* dupcheck: refused, as meant */
    if (!ok) {
        w->errors++;
        if (!resp)
            return; /* the connection is gone */
    } else {
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 65536;
            w->lat_ms = realloc(w->lat_ms, w->cap * sizeof *w->lat_ms);
        }
        w->lat_ms[w->n++] = (t - s->sent) * 1000.0;
    }
    if (t < w->deadline && !__atomic_load_n(&stopping, __ATOMIC_RELAXED))
        send_one(s);
}

static void send_one(struct slot *s)
{
    struct kehu_status st;
    const Kehu__V1__Request *req = &s->w->req;
    if (s->w->req.op_case == KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH) {
        kehu__v1__request__init(&s->req);
        kehu__v1__customer_search__init(&s->search);
        s->search.text = (char *)terms[__atomic_fetch_add(&term_counter, 1, __ATOMIC_RELAXED) % nterms];
        s->search.limit = 20;
        s->req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
        s->req.customer_search = &s->search;
        req = &s->req;
    } else if (s->w->req.op_case == KEHU__V1__REQUEST__OP_CUSTOMER_GET) {
        kehu__v1__request__init(&s->req);
        kehu__v1__customer_get__init(&s->get);
        s->get.id = rand_id(s->w);
        s->req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
        s->req.customer_get = &s->get;
        req = &s->req;
    } else if (s->w->req.op_case == KEHU__V1__REQUEST__OP_CASE_OPEN) {
        kehu__v1__request__init(&s->req);
        kehu__v1__case_open__init(&s->case_open);
        s->case_open.customer_id = rand_id(s->w);
        s->case_open.nature = "request";
        s->case_open.kind = "enquiry";
        s->case_open.severity = 4;
        s->case_open.channel = "phone";
        s->case_open.title = "咨询理财产品";
        s->req.op_case = KEHU__V1__REQUEST__OP_CASE_OPEN;
        s->req.case_open = &s->case_open;
        req = &s->req;
    } else if (s->w->req.op_case == KEHU__V1__REQUEST__OP_CUSTOMER_ADD) {
        struct worker *w = s->w;
        unsigned k = w->dup_next++ % (unsigned)w->n_dup;
        kehu__v1__request__init(&s->req);
        kehu__v1__customer_add__init(&s->add);
        kehu__v1__customer__init(&s->customer);
        s->customer.name = "重复检查";
        s->phones[0] = w->dup_phone[k];
        s->customer.phones = s->phones;
        s->customer.n_phones = 1;
        s->add.customer = &s->customer;
        s->add.branch = w->dup_branch[k];
        s->req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
        s->req.customer_add = &s->add;
        req = &s->req;
    }
    s->sent = bench_now_s();
    if (kehu_send(s->w->c, req, on_answer, s, NULL, &st) < 0)
        s->w->errors++;
}

/* dupcheck: phones (and branches) of existing customers, fetched once. */
static int dup_sample(struct worker *w)
{
    for (int tries = 0; w->n_dup < DUP_SAMPLES && tries < DUP_SAMPLES * 8; tries++) {
        Kehu__V1__CustomerGet g = KEHU__V1__CUSTOMER_GET__INIT;
        g.id = rand_id(w);
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
        req.customer_get = &g;
        struct kehu_status st;
        Kehu__V1__Response *resp = kehu_call(w->c, &req, &st);
        if (resp && st.code == KEHU__V1__CODE__OK && resp->customer && resp->customer->n_phones &&
            !strchr(resp->customer->phones[0], '*')) {
            snprintf(w->dup_phone[w->n_dup], sizeof w->dup_phone[0], "%s", resp->customer->phones[0]);
            snprintf(w->dup_branch[w->n_dup], sizeof w->dup_branch[0], "%lld", (long long)resp->customer->branch_id);
            w->n_dup++;
        }
        if (resp)
            kehu_response_free(resp);
    }
    return w->n_dup ? 0 : -1;
}

static Kehu__V1__Ping ping_msg = KEHU__V1__PING__INIT;
static Kehu__V1__WhoAmI whoami_msg = KEHU__V1__WHO_AM_I__INIT;

static struct kehu_tls bench_tls(const struct opts *o)
{
    struct kehu_tls t = { .mode = o->tls ? KEHU_TLS_ON : KEHU_TLS_OFF, .known_servers = "", .accept_new = 1 };
    return t;
}

/* --op connect: connect, Hello, close, again; each one timed. */
static void run_connects(struct worker *w)
{
    struct kehu_tls t = bench_tls(w->o);
    struct kehu_status st;
    w->deadline = bench_now_s() + w->o->seconds;
    __atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
    while (bench_now_s() < w->deadline && !__atomic_load_n(&stopping, __ATOMIC_RELAXED)) {
        double t0 = bench_now_s();
        kehu_client *c = kehu_connect_tls(w->o->server, &t, 10000, &st);
        if (!c) {
            if (!w->errors++)
                fprintf(stderr, "kehu-bench: connect: %s\n", st.message);
            continue;
        }
        kehu_close(c);
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 65536;
            w->lat_ms = realloc(w->lat_ms, w->cap * sizeof *w->lat_ms);
        }
        w->lat_ms[w->n++] = (bench_now_s() - t0) * 1000.0;
    }
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    struct kehu_status st;
    if (strcmp(o->op, "connect") == 0) {
        pthread_barrier_wait(&gate); /* main waits there for every connection: nothing to log in first */
        run_connects(w);
        return NULL;
    }
    struct kehu_tls t = bench_tls(o);
    const char *stage = "connect";
    /* logins come before the clock: one refused for now is simply tried again */
    if (strcmp(o->op, "ping") == 0)
        w->c = kehu_connect_tls(o->server, &t, 10000, &st);
    else
        w->c = bench_login(o->server, &t, o->user, o->password, 600, &st, &stage);
    if (!w->c) {
        snprintf(w->failure, sizeof w->failure, "%s%s", strcmp(stage, "login") == 0 ? "login: " : "", st.message);
        pthread_barrier_wait(&gate);
        __atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    kehu__v1__request__init(&w->req);
    if (strcmp(o->op, "whoami") == 0) {
        w->req.op_case = KEHU__V1__REQUEST__OP_WHOAMI;
        w->req.whoami = &whoami_msg;
    } else if (strcmp(o->op, "search") == 0) {
        w->req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
    } else if (strcmp(o->op, "get") == 0) {
        w->req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    } else if (strcmp(o->op, "caseopen") == 0) {
        w->req.op_case = KEHU__V1__REQUEST__OP_CASE_OPEN;
    } else if (strcmp(o->op, "dupcheck") == 0) {
        if (dup_sample(w) < 0) {
            snprintf(w->failure, sizeof w->failure, "no customer with a phone among the ids");
            kehu_close(w->c);
            pthread_barrier_wait(&gate);
            __atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
            return NULL;
        }
        w->req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    } else {
        w->req.op_case = KEHU__V1__REQUEST__OP_PING;
        w->req.ping = &ping_msg;
    }
    struct slot *slots = calloc((size_t)o->depth, sizeof *slots);
    pthread_barrier_wait(&gate); /* every connection logged in: the clock starts */
    w->deadline = bench_now_s() + o->seconds;
    for (int i = 0; i < o->depth; i++) {
        slots[i].w = w;
        send_one(&slots[i]);
    }
    __atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
    while (kehu_pending(w->c) > 0)
        if (kehu_run(w->c, 1000) < 0)
            break;
    free(slots);
    kehu_close(w->c);
    return NULL;
}

/* SIGINT and SIGTERM are blocked in every thread but this one, so that no
 * poll of a connection is interrupted; the first one ends the run gently, a
 * second one the process. */
static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;
    if (sigwait(set, &sig) == 0)
        __atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
    if (sigwait(set, &sig) == 0)
        _exit(128 + sig);
    return NULL;
}

/* "MIN-MAX", both positive, MIN <= MAX */
int main(int argc, char **argv)
{
    struct opts o = { .server = getenv("KEHU_SERVER"), .op = "ping", .user = "admin",
                      .password = getenv("KEHU_PASSWORD"), .connections = 4, .depth = 16, .seconds = 5 };
    if (!o.server)
        o.server = KEHU_DEFAULT_SERVER;
    static const struct option longopts[] = {
        { "server", required_argument, 0, 's' }, { "connections", required_argument, 0, 'c' },
        { "depth", required_argument, 0, 'd' },  { "seconds", required_argument, 0, 't' },
        { "op", required_argument, 0, 'o' },     { "user", required_argument, 0, 'u' },
        { "password", required_argument, 0, 'p' }, { "json", no_argument, 0, 'j' },
        { "clients", required_argument, 0, 'c' }, { "ids", required_argument, 0, 'i' },
        { "ready", required_argument, 0, 'r' },  { "help", no_argument, 0, 'h' },
        { "tls", no_argument, 0, 'T' },          { "terms", required_argument, 0, 'e' },
        { 0, 0, 0, 0 },
    };
    const char *ids = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:c:d:t:o:u:p:i:r:e:jhT", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': o.server = optarg; break;
        case 'c': o.connections = atoi(optarg); break;
        case 'd': o.depth = atoi(optarg); break;
        case 't': o.seconds = atoi(optarg); break;
        case 'o': o.op = optarg; break;
        case 'u': o.user = optarg; break;
        case 'p': o.password = optarg; break;
        case 'j': o.json = 1; break;
        case 'i': ids = optarg; break;
        case 'r': o.ready = optarg; break;
        case 'T': o.tls = 1; break;
        case 'e': {
            /* the terms, split on commas in place (argv is ours) */
            unsigned n = 1;
            for (const char *c = optarg; *c; c++)
                n += *c == ',';
            const char **list = calloc(n, sizeof *list);
            if (!list)
                return 1;
            n = 0;
            for (char *t = strtok(optarg, ","); t; t = strtok(NULL, ","))
                list[n++] = t;
            if (n == 0) {
                fprintf(stderr, "kehu-bench: --terms needs at least one term\n");
                return 2;
            }
            terms = list;
            nterms = n;
            break;
        }
        default:
            fprintf(stderr, "usage: kehu-bench [--server HOST:PORT] [--connections N] [--depth D] [--seconds S]\n"
                            "                  [--op ping|whoami|search|get|dupcheck|caseopen] [--ids MIN-MAX] [--user U]\n"
                            "                  [--password P]\n"
                            "                  [--ready FILE] [--json] [--tls] (--op connect: the handshake rate)\n"
                            "                  [--terms T,T,...] (--op search: these instead of the mix)\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (o.connections < 1 || o.depth < 1 || o.seconds < 1 ||
        (strcmp(o.op, "ping") != 0 && strcmp(o.op, "connect") != 0 && strcmp(o.op, "whoami") != 0 &&
         strcmp(o.op, "search") != 0 &&
         strcmp(o.op, "get") != 0 && strcmp(o.op, "dupcheck") != 0 && strcmp(o.op, "caseopen") != 0)) {
        fprintf(stderr, "kehu-bench: connections, depth and seconds must be positive;"
                        " op ping, whoami, search, get, dupcheck or caseopen\n");
        return 2;
    }
    if ((strcmp(o.op, "get") == 0 || strcmp(o.op, "dupcheck") == 0 || strcmp(o.op, "caseopen") == 0) &&
        (!ids || bench_parse_ids(ids, &o.id_min, &o.id_max) < 0)) {
        fprintf(stderr, "kehu-bench: --op %s needs --ids MIN-MAX (customer ids, 1 <= MIN <= MAX)\n", o.op);
        return 2;
    }
    if (strcmp(o.op, "ping") != 0 && strcmp(o.op, "connect") != 0 && !o.password) {
        fprintf(stderr, "kehu-bench: --op %s needs --password or KEHU_PASSWORD\n", o.op);
        return 2;
    }
    static sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by every thread started below */
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_thread, &sigs) == 0)
        pthread_detach(sig_thread);
    struct worker *w = calloc((size_t)o.connections, sizeof *w);
    pthread_barrier_init(&gate, NULL, (unsigned)o.connections + 1);
    for (int i = 0; i < o.connections; i++) {
        w[i].o = &o;
        w[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1); /* never 0 */
        pthread_create(&w[i].thread, NULL, run_worker, &w[i]);
    }
    pthread_barrier_wait(&gate);
    double t0 = bench_now_s(); /* the rate over the time under load, logins left out */
    if (o.ready) {
        struct timespec tick = { 0, 5000000 };
        while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < o.connections)
            nanosleep(&tick, NULL);
        int ok = 1;
        for (int i = 0; i < o.connections; i++)
            ok &= !w[i].failure[0];
        FILE *f = ok ? fopen(o.ready, "w") : NULL;
        if (f)
            fclose(f);
        else if (ok)
            fprintf(stderr, "kehu-bench: --ready %s: cannot create it\n", o.ready);
    }
    size_t total = 0;
    long errors = 0;
    for (int i = 0; i < o.connections; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].failure[0]) {
            fprintf(stderr, "kehu-bench: connection %d: %s\n", i, w[i].failure);
            return 3;
        }
        total += w[i].n;
        errors += w[i].errors;
    }
    double elapsed = bench_now_s() - t0;
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < o.connections; i++) {
        memcpy(all + k, w[i].lat_ms, w[i].n * sizeof *all);
        k += w[i].n;
        free(w[i].lat_ms);
    }
    qsort(all, total, sizeof *all, bench_cmp_double);
    double rate = (double)total / elapsed;
    if (o.json)
        printf("{\"op\": \"%s\", \"connections\": %d, \"depth\": %d, \"seconds\": %.2f, \"requests\": %zu, "
               "\"errors\": %ld, \"per_second\": %.0f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
               "\"p999_ms\": %.3f, \"max_ms\": %.3f}\n",
               o.op, o.connections, o.depth, elapsed, total, errors, rate, bench_pct(all, total, 50),
               bench_pct(all, total, 90), bench_pct(all, total, 99), bench_pct(all, total, 99.9),
               total ? all[total - 1] : 0.0);
    else
        printf("%s: %d connections x %d in flight, %.1f s: %zu requests, %ld errors, %.0f/s; latency p50 %.3f ms, "
               "p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
               o.op, o.connections, o.depth, elapsed, total, errors, rate, bench_pct(all, total, 50),
               bench_pct(all, total, 90), bench_pct(all, total, 99), bench_pct(all, total, 99.9),
               total ? all[total - 1] : 0.0);
    free(all);
    free(w);
    return errors ? 1 : 0;
}
