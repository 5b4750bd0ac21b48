#include "bench_client.h"

#include <stdlib.h>
#include <time.h>

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i];
}

int bench_parse_ids(const char *s, int64_t *lo, int64_t *hi)
{
    char *end;
    long long a = strtoll(s, &end, 10);
    if (end == s || *end != '-')
        return -1;
    const char *t = end + 1;
    long long b = strtoll(t, &end, 10);
    if (end == t || *end || a < 1 || b < a)
        return -1;
    *lo = a;
    *hi = b;
    return 0;
}

/* An answer that trying again will not change */
static int final(int code)
{
    return code == KEHU__V1__CODE__OK || code == KEHU__V1__CODE__UNAUTHENTICATED ||
           code == KEHU__V1__CODE__INVALID_ARGUMENT || code == KEHU__V1__CODE__PERMISSION_DENIED;
}

kehu_client *bench_login(const char *server, const struct kehu_tls *tls, const char *user, const char *password,
                         int tries, struct kehu_status *st, const char **stage)
{
    for (int i = 0; i < tries; i++) {
        if (i) {
            struct timespec pause = { 0, 100000000 };
            nanosleep(&pause, NULL);
        }
        *stage = "connect";
        kehu_client *c = kehu_connect_tls(server, tls, 10000, st);
        if (!c)
            return NULL;
        *stage = "login";
        int code = kehu_login(c, user, password, NULL, st);
        if (code == KEHU__V1__CODE__OK)
            return c;
        kehu_close(c);
        if (final(code))
            return NULL;
    }
    return NULL;
}
