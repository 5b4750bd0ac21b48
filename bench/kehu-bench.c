/* kehu-bench: load on a running kehud through libkehu, as real clients.
 *
 *   kehu-bench [--server HOST:PORT] [--connections N] [--depth D]
 *              [--seconds S] [--op ping|whoami|search] [--user U] [--password P]
 *
 * Each connection runs in its own thread and keeps D requests in flight
 * (pipelined). Prints throughput and latency percentiles; --json prints one
 * JSON object for scripts/bench. */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kehu.h"

struct opts {
    const char *server, *op, *user, *password;
    int connections, depth, seconds, json;
};

struct worker {
    const struct opts *o;
    pthread_t thread;
    kehu_client *c;
    double *lat_ms; /* one per answered request */
    size_t n, cap;
    long errors;
    double deadline;
    Kehu__V1__Request req;
    char failure[600];
};

struct slot {
    struct worker *w;
    double sent;
    Kehu__V1__Request req;      /* search: each slot its own request */
    Kehu__V1__CustomerSearch search;
};

/* What a branch clerk types: surnames, given names, pinyin, initials, phone
 * fragments, a company word. */
static const char *const search_terms[] = {
    "王", "张伟", "zhangwei", "zw", "1380", "李娜", "li na", "欧阳", "wang", "刘", "chen", "hx",
    "贸易", "5678", "林", "zhao", "yang", "sm", "黄", "9001", "gz", "周", "xu", "ming",
};
#define NTERMS (sizeof search_terms / sizeof search_terms[0])
static unsigned term_counter;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_one(struct slot *s);

static void on_answer(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct slot *s = arg;
    struct worker *w = s->w;
    double t = now_s();
    if (!resp || st->code != KEHU__V1__CODE__OK) {
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
    if (t < w->deadline)
        send_one(s);
}

static void send_one(struct slot *s)
{
    struct kehu_status st;
    const Kehu__V1__Request *req = &s->w->req;
    if (s->w->req.op_case == KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH) {
        kehu__v1__request__init(&s->req);
        kehu__v1__customer_search__init(&s->search);
        s->search.text = (char *)search_terms[__atomic_fetch_add(&term_counter, 1, __ATOMIC_RELAXED) % NTERMS];
        s->search.limit = 20;
        s->req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
        s->req.customer_search = &s->search;
        req = &s->req;
    }
    s->sent = now_s();
    if (kehu_send(s->w->c, req, on_answer, s, NULL, &st) < 0)
        s->w->errors++;
}

static Kehu__V1__Ping ping_msg = KEHU__V1__PING__INIT;
static Kehu__V1__WhoAmI whoami_msg = KEHU__V1__WHO_AM_I__INIT;

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    struct kehu_status st;
    w->c = kehu_connect(o->server, 10000, &st);
    if (!w->c) {
        snprintf(w->failure, sizeof w->failure, "%s", st.message);
        return NULL;
    }
    kehu__v1__request__init(&w->req);
    if (strcmp(o->op, "ping") != 0 &&
        kehu_login(w->c, o->user, o->password, NULL, &st) != KEHU__V1__CODE__OK) {
        snprintf(w->failure, sizeof w->failure, "login: %s", st.message);
        return NULL;
    }
    if (strcmp(o->op, "whoami") == 0) {
        w->req.op_case = KEHU__V1__REQUEST__OP_WHOAMI;
        w->req.whoami = &whoami_msg;
    } else if (strcmp(o->op, "search") == 0) {
        w->req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
    } else {
        w->req.op_case = KEHU__V1__REQUEST__OP_PING;
        w->req.ping = &ping_msg;
    }
    struct slot *slots = calloc((size_t)o->depth, sizeof *slots);
    w->deadline = now_s() + o->seconds;
    for (int i = 0; i < o->depth; i++) {
        slots[i].w = w;
        send_one(&slots[i]);
    }
    while (kehu_pending(w->c) > 0)
        if (kehu_run(w->c, 1000) < 0)
            break;
    free(slots);
    kehu_close(w->c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i];
}

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
        { "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "s:c:d:t:o:u:p:jh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': o.server = optarg; break;
        case 'c': o.connections = atoi(optarg); break;
        case 'd': o.depth = atoi(optarg); break;
        case 't': o.seconds = atoi(optarg); break;
        case 'o': o.op = optarg; break;
        case 'u': o.user = optarg; break;
        case 'p': o.password = optarg; break;
        case 'j': o.json = 1; break;
        default:
            fprintf(stderr, "usage: kehu-bench [--server HOST:PORT] [--connections N] [--depth D] [--seconds S]\n"
                            "                  [--op ping|whoami|search] [--user U] [--password P] [--json]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (o.connections < 1 || o.depth < 1 || o.seconds < 1 ||
        (strcmp(o.op, "ping") != 0 && strcmp(o.op, "whoami") != 0 && strcmp(o.op, "search") != 0)) {
        fprintf(stderr, "kehu-bench: connections, depth and seconds must be positive; op ping, whoami or search\n");
        return 2;
    }
    if (strcmp(o.op, "ping") != 0 && !o.password) {
        fprintf(stderr, "kehu-bench: --op %s needs --password or KEHU_PASSWORD\n", o.op);
        return 2;
    }
    struct worker *w = calloc((size_t)o.connections, sizeof *w);
    double t0 = now_s();
    for (int i = 0; i < o.connections; i++) {
        w[i].o = &o;
        pthread_create(&w[i].thread, NULL, run_worker, &w[i]);
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
    double elapsed = now_s() - t0;
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < o.connections; i++) {
        memcpy(all + k, w[i].lat_ms, w[i].n * sizeof *all);
        k += w[i].n;
        free(w[i].lat_ms);
    }
    qsort(all, total, sizeof *all, cmp_double);
    double rate = (double)total / elapsed;
    if (o.json)
        printf("{\"op\": \"%s\", \"connections\": %d, \"depth\": %d, \"seconds\": %.2f, \"requests\": %zu, "
               "\"errors\": %ld, \"per_second\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
               o.op, o.connections, o.depth, elapsed, total, errors, rate, pct(all, total, 50), pct(all, total, 99),
               total ? all[total - 1] : 0.0);
    else
        printf("%s: %d connections x %d in flight, %.1f s: %zu requests, %ld errors, %.0f/s; latency p50 %.3f ms, "
               "p99 %.3f ms, max %.3f ms\n",
               o.op, o.connections, o.depth, elapsed, total, errors, rate, pct(all, total, 50), pct(all, total, 99),
               total ? all[total - 1] : 0.0);
    free(all);
    free(w);
    return errors ? 1 : 0;
}
