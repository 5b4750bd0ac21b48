/* What kehu-bench and kehu-fanout share: the clock, the figures, the ids
 * and the logins that come before the measuring. */
#ifndef KEHU_BENCH_CLIENT_H
#define KEHU_BENCH_CLIENT_H
#include <stddef.h>
#include <stdint.h>

#include "kehu.h"

/* CLOCK_MONOTONIC in seconds */
double bench_now_s(void);

/* qsort's comparison of doubles, and the p-th percentile of n sorted ones */
int bench_cmp_double(const void *a, const void *b);
double bench_pct(const double *v, size_t n, double p);

/* "MIN-MAX", 1 <= MIN <= MAX: 0, or -1 when it is not that. */
int bench_parse_ids(const char *s, int64_t *lo, int64_t *hi);

/* Connects (tls NULL: plaintext) and logs in as user. Many clients from one
 * address: kehud queues a few password checks per address and refuses the
 * rest (RESOURCE_EXHAUSTED) until the queue has room, so a login refused
 * for now is tried again on a new connection 100 ms later, at most `tries`
 * times. NULL on failure, st saying why and *stage where: "connect" or
 * "login". */
kehu_client *bench_login(const char *server, const struct kehu_tls *tls, const char *user, const char *password,
                         int tries, struct kehu_status *st, const char **stage);
#endif
