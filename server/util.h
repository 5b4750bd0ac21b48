/* Small things every room of kehud uses: allocation that cannot fail
 * (an allocation failure is fatal, handled here once), time, an arena. */
#ifndef KEHU_UTIL_H
#define KEHU_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int64_t now_unix_ms(void);

/* A bump allocator whose blocks are freed together: one per request, for the
 * strings and messages of its reply. */
struct arena {
    struct arena_block *blocks;
};
void *arena_alloc(struct arena *a, size_t n); /* zeroed */
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(struct arena *a);
/* {"a","b"}: a PostgreSQL array literal of items, quoted and escaped, in a. */
char *arena_pg_array(struct arena *a, const char *const *items, size_t n);
/* "a<sep>b" split into strings in a; *n of them ("" gives none). */
char **arena_split(struct arena *a, const char *s, char sep, size_t *n);

/* Parses a whole decimal int64; -1 if s is not exactly one. */
int parse_i64(const char *s, int64_t *out);

#endif
