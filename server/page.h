/* Keyset pages for every list RPC: a limit, an opaque cursor, and a count
 * of what remains after the page, so that no list is ever cut silently.
 *
 * A paged statement takes the cursor's keys as parameters (all NULL on the
 * first page) and the limit plus one, orders by those keys (no NULLs among
 * them), and returns after its own columns `count(*) OVER ()` (the rows
 * after the cursor) and then the keys as text. The reply carries the page,
 * `next_cursor` ("" on the last page) and `remaining` (rows after it). */
#ifndef KEHU_PAGE_H
#define KEHU_PAGE_H

#include <stdint.h>

#include "db.h"
#include "dispatch.h"

#define PAGE_MAX_KEYS 6

struct page {
    const char *list;  /* the list's name: a cursor of another list is refused */
    const char *types; /* one letter per key: d date, i integer, n decimal, t text, a bigint[] */
    int nkeys;
    uint32_t limit;
    const char *key[PAGE_MAX_KEYS]; /* the cursor's keys, NULL on the first page */
    const char *fetch;              /* limit + 1, as a parameter */
};

/* Checks limit (0: def; at most max; field "limit") and the cursor (field
 * "after"). 0, or -1 after answering. */
int page_begin(struct req *r, struct page *pg, const char *list, const char *types, uint32_t limit, const char *after,
               uint32_t def, uint32_t max);
/* After the query: how many rows of statement stmt belong to the page, the
 * next cursor from the key columns (starting at column keycol, the count
 * just before them) and what remains after the page. */
int page_end(struct req *r, const struct page *pg, const struct db_result *res, int stmt, int keycol,
             char **next_cursor, uint32_t *remaining);

#endif
