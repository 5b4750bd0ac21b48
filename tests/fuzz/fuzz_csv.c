/* libFuzzer target: an imported CSV file, handled as kehud handles it.
 *
 * The first byte picks how the rest is fed: bits 0-3 the chunk size (1 byte
 * to whole), bit 4 stop after every record and resume, bit 5 tiny limits,
 * bits 6-7 a forced encoding (auto, UTF-8, GB18030, UTF-16LE). The input is
 * read twice, chunked and in one piece, and both readings must give the same
 * records, the same result and the same message. Every record must be what
 * csv.h promises (valid UTF-8, no NUL, lens right, not all empty, lines
 * increasing). Then the records go through the writer and are read back:
 * after csv_unguard they must be equal to what was written. Any broken
 * promise traps. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                   \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

struct buf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 64;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* An independent strict UTF-8 check (not the one in csv.c). */
static int valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            k = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            k = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            k = 3, cp = c & 0x07;
        else
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

struct run {
    struct buf recs; /* nfields, then len and bytes of each field; lines apart */
    struct buf lines;
    uint64_t last_line;
    int stop;
    int unguard;
};

static int record_cb(const char *const *f, const size_t *lens, size_t n, uint64_t line, void *arg)
{
    struct run *r = arg;
    CHECK(n >= 1);
    CHECK(line > r->last_line);
    r->last_line = line;
    int any = 0;
    put(&r->recs, &n, sizeof n);
    for (size_t i = 0; i < n; i++) {
        CHECK(strlen(f[i]) == lens[i]);
        CHECK(valid_utf8((const uint8_t *)f[i], lens[i]));
        any |= lens[i] != 0;
        size_t skip = r->unguard ? csv_unguard(f[i], lens[i]) : 0;
        size_t len = lens[i] - skip;
        put(&r->recs, &len, sizeof len);
        put(&r->recs, f[i] + skip, len);
    }
    CHECK(any);
    put(&r->lines, &line, sizeof line);
    return r->stop;
}

/* Reads data in chunks of `chunk` bytes (0: one piece); returns the status. */
static int read_all(const uint8_t *data, size_t size, size_t chunk, const struct csv_limits *lim,
                    enum csv_encoding enc, struct run *out, char *msg, size_t msgsize)
{
    struct csv_reader *r = csv_reader_new(lim);
    if (!r)
        return CSV_ERR_NOMEM;
    if (enc != CSV_ENC_UNKNOWN)
        CHECK(csv_reader_set_encoding(r, enc) == CSV_OK);
    int rc = CSV_OK;
    size_t off = 0;
    do {
        size_t n = chunk && size - off > chunk ? chunk : size - off;
        rc = csv_reader_feed(r, data + off, n, record_cb, out);
        while (rc == CSV_STOPPED)
            rc = csv_reader_feed(r, NULL, 0, record_cb, out);
        off += n;
    } while (rc == CSV_OK && off < size);
    if (rc == CSV_OK) {
        CHECK(csv_reader_bytes(r) == size);
        rc = csv_reader_finish(r, record_cb, out);
        while (rc == CSV_STOPPED)
            rc = csv_reader_finish(r, record_cb, out);
        if (rc == CSV_OK) {
            CHECK(csv_reader_encoding(r) != CSV_ENC_UNKNOWN);
            CHECK(csv_reader_delimiter(r) == ',' || csv_reader_delimiter(r) == '\t');
            CHECK(csv_reader_feed(r, "x", 1, NULL, NULL) == CSV_ERR_USAGE);
        }
    }
    CHECK(rc <= 0);
    const char *e = csv_reader_error(r);
    CHECK((rc == CSV_OK) == (e[0] == '\0'));
    strncpy(msg, e, msgsize - 1);
    msg[msgsize - 1] = '\0';
    csv_reader_free(r);
    return rc;
}

/* Writes the records serialized in `recs` as CSV and reads them back. */
static void round_trip(const struct buf *recs)
{
    struct csv_writer w;
    csv_writer_init(&w);
    if (csv_writer_bom(&w) != CSV_OK)
        goto out;
    for (size_t off = 0; off < recs->len;) {
        size_t n, len;
        memcpy(&n, recs->p + off, sizeof n);
        off += sizeof n;
        for (size_t i = 0; i < n; i++) {
            memcpy(&len, recs->p + off, sizeof len);
            off += sizeof len;
            if (csv_writer_field(&w, (const char *)recs->p + off, len) != CSV_OK)
                goto out;
            off += len;
        }
        if (csv_writer_end_record(&w) != CSV_OK)
            goto out;
    }
    struct csv_limits big = { 1u << 30, 1u << 20, 1u << 30 };
    struct run back = { .unguard = 1 };
    char msg[256];
    int rc = read_all((const uint8_t *)w.data, w.len, 7, &big, CSV_ENC_UNKNOWN, &back, msg, sizeof msg);
    if (rc != CSV_ERR_NOMEM && !back.recs.oom) {
        CHECK(rc == CSV_OK);
        CHECK(back.recs.len == recs->len && (recs->len == 0 || memcmp(back.recs.p, recs->p, recs->len) == 0));
    }
    free(back.recs.p);
    free(back.lines.p);
out:
    csv_writer_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunks[16] = { 1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 255, 1024, 4096, 0 };
    static const enum csv_encoding encs[4] = { CSV_ENC_UNKNOWN, CSV_ENC_UTF8, CSV_ENC_GB18030, CSV_ENC_UTF16LE };
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    struct csv_limits tiny = { 16, 4, 40 };
    const struct csv_limits *lim = mode & 0x20 ? &tiny : NULL;
    enum csv_encoding enc = encs[mode >> 6];

    struct run a = { .stop = !!(mode & 0x10) }, b = { 0 };
    char ma[256], mb[256];
    int ra = read_all(data, size, chunks[mode & 15], lim, enc, &a, ma, sizeof ma);
    int rb = read_all(data, size, 0, lim, enc, &b, mb, sizeof mb);
    if (ra != CSV_ERR_NOMEM && rb != CSV_ERR_NOMEM && !a.recs.oom && !b.recs.oom && !a.lines.oom &&
        !b.lines.oom) {
        CHECK(ra == rb);
        CHECK(strcmp(ma, mb) == 0);
        CHECK(a.recs.len == b.recs.len && (a.recs.len == 0 || memcmp(a.recs.p, b.recs.p, a.recs.len) == 0));
        CHECK(a.lines.len == b.lines.len && (a.lines.len == 0 || memcmp(a.lines.p, b.lines.p, a.lines.len) == 0));
        round_trip(&b.recs);
    }
    free(a.recs.p);
    free(a.lines.p);
    free(b.recs.p);
    free(b.lines.p);
    return 0;
}
