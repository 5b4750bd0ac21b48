/* Keyset pages (page.h). A cursor is the list's name and the last row's
 * keys, separated by 0x1f and hex-encoded: opaque, and safe in a shell.
 * Keys are checked by type here so that a forged cursor is refused as a bad
 * argument, never reaches a cast in SQL. */
#include "page.h"

#include <stdio.h>
#include <string.h>

#include "util.h"
#include "validate.h"

static int key_ok(char type, const char *v)
{
    int64_t i;
    switch (type) {
    case 'd': return strcmp(v, "-infinity") == 0 || strcmp(v, "infinity") == 0 || validate_date(v) == NULL;
    case 'i': return parse_i64(v, &i) == 0;
    case 'n': {
        size_t n = strspn(v + (*v == '-'), "0123456789.");
        return *v && n > 0 && v[(*v == '-') + n] == 0 && strlen(v) < 64;
    }
    case 'a': { /* a path: {1,2,3} */
        size_t n = strlen(v);
        if (n < 3 || n > 400 || v[0] != '{' || v[n - 1] != '}')
            return 0;
        for (size_t k = 1; k < n - 1; k++)
            if (!(v[k] >= '0' && v[k] <= '9') && !(v[k] == ',' && v[k - 1] != '{' && v[k + 1] != ',' && v[k + 1] != '}'))
                return 0;
        return 1;
    }
    default: return 1;
    }
}

static int cursor_parse(struct req *r, struct page *pg, const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2 || n > 4000)
        return -1;
    char *raw = arena_alloc(&r->arena, n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || v == 0)
            return -1;
        raw[i] = (char)v;
    }
    raw[n / 2] = 0;
    char *p = raw, *sep = strchr(p, 0x1f);
    if (!sep)
        return -1;
    *sep = 0;
    if (strcmp(p, pg->list) != 0)
        return -1;
    for (int k = 0; k < pg->nkeys; k++) {
        p = sep + 1;
        sep = strchr(p, 0x1f);
        if ((k < pg->nkeys - 1) != (sep != NULL))
            return -1;
        if (sep)
            *sep = 0;
        if (!key_ok(pg->types[k], p))
            return -1;
        pg->key[k] = p;
    }
    return 0;
}

int page_begin(struct req *r, struct page *pg, const char *list, const char *types, uint32_t limit, const char *after,
               uint32_t def, uint32_t max)
{
    memset(pg, 0, sizeof *pg);
    pg->list = list;
    pg->types = types;
    pg->nkeys = (int)strlen(types);
    pg->limit = limit ? limit : def;
    if (pg->limit > max) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "limit", "limit is at most %u", max);
        return -1;
    }
    if (after && *after && cursor_parse(r, pg, after) < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "after", "not a cursor this list gave");
        return -1;
    }
    pg->fetch = arena_printf(&r->arena, "%u", pg->limit + 1);
    return 0;
}

int page_end(struct req *r, const struct page *pg, const struct db_result *res, int stmt, int keycol,
             char **next_cursor, uint32_t *remaining)
{
    int n = db_rows(res, stmt);
    int shown = n > (int)pg->limit ? (int)pg->limit : n;
    *next_cursor = "";
    *remaining = 0;
    if (n <= (int)pg->limit) /* one row more than asked means there is a next page */
        return shown;
    int64_t total = 0;
    const char *t = db_get(res, stmt, 0, keycol - 1);
    parse_i64(t ? t : "0", &total);
    *remaining = total > shown ? (uint32_t)(total - shown) : 1;
    size_t len = strlen(pg->list) + 1;
    for (int k = 0; k < pg->nkeys; k++) {
        const char *v = db_get(res, stmt, shown - 1, keycol + k);
        len += strlen(v ? v : "") + 1;
    }
    char *out = arena_alloc(&r->arena, len * 2 + 1), *p = out;
    for (const char *s = pg->list; *s; s++)
        p += sprintf(p, "%02x", (unsigned char)*s);
    for (int k = 0; k < pg->nkeys; k++) {
        p += sprintf(p, "1f");
        for (const char *s = db_get(res, stmt, shown - 1, keycol + k); s && *s; s++)
            p += sprintf(p, "%02x", (unsigned char)*s);
    }
    *p = 0;
    *next_cursor = out;
    return shown;
}
