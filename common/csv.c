/* CSV reader and writer; see csv.h for the rules.
 *
 * The reader is a pipeline over each fed chunk:
 *   raw bytes -> byte order mark -> encoding sniffing -> decoding to UTF-8
 *   (copy, or iconv) -> queued decoded text -> delimiter detection on the
 *   first line -> record parser (which also validates UTF-8) -> callback.
 * Every stage keeps its own small state across chunks, so a chunk may end
 * anywhere. Decoding runs ahead of parsing by at most one chunk; a decoding
 * error is held until the parser has reached it, so that records before it
 * are delivered and the error can name its line. */
#include "csv.h"

#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum phase {
    PH_BOM,    /* collecting the first bytes to look for a byte order mark */
    PH_SNIFF,  /* UTF-8 or GB18030: ASCII passes through, then a window is held */
    PH_DECODE, /* encoding known */
};

enum pstate {
    P_FIELD_START,
    P_UNQUOTED,
    P_QUOTED,
    P_QUOTE_IN_QUOTED, /* a quote inside a quoted field: "" or the closing one */
};

/* Incremental strict UTF-8 check (Unicode table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
struct u8state {
    uint8_t need, lo, hi;
};

struct csv_reader {
    struct csv_limits lim;
    int err;
    char msg[200];
    bool started, input_done, finished, in_cb;
    uint64_t fed;

    /* encoding */
    enum csv_encoding forced, enc;
    enum phase phase;
    uint8_t bom[4];
    size_t bom_have;
    uint64_t bom_len;
    uint8_t *win; /* sniff window, from the first non-ASCII byte */
    size_t win_len;
    struct u8state sniff;
    bool sniff_bad;           /* the window was not UTF-8 ... */
    uint64_t sniff_bad_off;   /* ... from this file offset */
    iconv_t cd;
    uint8_t carry[8];         /* incomplete character held for the next chunk */
    size_t carry_len;
    uint64_t in_off;          /* file offset of the next byte not yet decoded */
    uint64_t ascii_len;       /* decoded bytes passed through before sniffing decided */
    bool dec_failed, dec_cut; /* invalid bytes / input ended inside a character */
    uint64_t dec_fail_off;

    /* decoded text not yet parsed: dec[dec_pos..dec_len) */
    char *dec;
    size_t dec_pos, dec_len, dec_cap;
    uint64_t dec_done; /* decoded bytes parsed before dec[0] */

    /* delimiter detection over the first non-empty line */
    char delim;
    size_t hs_pos, hs_commas, hs_tabs;
    bool hs_inq, hs_qpend, hs_fstart, hs_started;

    /* parser */
    enum pstate st;
    bool rec_open, after_cr;
    uint64_t line, rec_line, quote_line;
    struct u8state u8;
    uint64_t u8_lead_off;
    uint8_t u8_lead;
    char *rec; /* fields of the current record, each NUL-terminated when closed */
    size_t rec_len, rec_cap, fstart;
    size_t nf, fcap;
    size_t *foff, *flen;
    const char **fptr;
};

static const struct {
    enum csv_encoding enc;
    size_t len;
    uint8_t b[4];
} boms[] = {
    { CSV_ENC_UTF8, 3, { 0xEF, 0xBB, 0xBF } },
    { CSV_ENC_UTF16LE, 2, { 0xFF, 0xFE } },
    { CSV_ENC_UTF16BE, 2, { 0xFE, 0xFF } },
    { CSV_ENC_GB18030, 4, { 0x84, 0x31, 0x95, 0x33 } },
};

static void ingest_after_bom(struct csv_reader *r, const uint8_t *p, size_t n);

__attribute__((format(printf, 3, 4))) static int reader_fail(struct csv_reader *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->err = code;
    return code;
}

static int nomem(struct csv_reader *r)
{
    return reader_fail(r, CSV_ERR_NOMEM, "out of memory");
}

/* Grows *buf so that at least `extra` bytes fit after `len`. */
static int grow(char **buf, size_t *cap, size_t len, size_t extra, size_t initial)
{
    if (*cap - len >= extra)
        return 0;
    if (extra > SIZE_MAX - len)
        return -1;
    size_t want = len + extra, ncap = *cap ? *cap : initial;
    while (ncap < want) {
        if (ncap > SIZE_MAX / 2) {
            ncap = want;
            break;
        }
        ncap *= 2;
    }
    char *nb = realloc(*buf, ncap);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

static bool u8_step(struct u8state *s, uint8_t b)
{
    if (s->need) {
        if (b < s->lo || b > s->hi)
            return false;
        s->need--;
        s->lo = 0x80;
        s->hi = 0xBF;
        return true;
    }
    if (b < 0x80)
        return true;
    s->lo = 0x80;
    s->hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        s->need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        s->need = 2;
        if (b == 0xE0)
            s->lo = 0xA0;
        else if (b == 0xED)
            s->hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        s->need = 3;
        if (b == 0xF0)
            s->lo = 0x90;
        else if (b == 0xF4)
            s->hi = 0x8F;
    } else {
        return false;
    }
    return true;
}

const char *csv_encoding_name(enum csv_encoding enc)
{
    switch (enc) {
    case CSV_ENC_UTF8: return "UTF-8";
    case CSV_ENC_GB18030: return "GB18030";
    case CSV_ENC_UTF16LE: return "UTF-16LE";
    case CSV_ENC_UTF16BE: return "UTF-16BE";
    default: return "unknown";
    }
}

struct csv_reader *csv_reader_new(const struct csv_limits *lim)
{
    struct csv_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->lim.max_field = lim && lim->max_field ? lim->max_field : CSV_DEFAULT_MAX_FIELD;
    r->lim.max_fields = lim && lim->max_fields ? lim->max_fields : CSV_DEFAULT_MAX_FIELDS;
    r->lim.max_record = lim && lim->max_record ? lim->max_record : CSV_DEFAULT_MAX_RECORD;
    r->cd = (iconv_t)-1;
    r->phase = PH_BOM;
    r->line = 1;
    r->hs_fstart = true;
    return r;
}

void csv_reader_free(struct csv_reader *r)
{
    if (!r)
        return;
    if (r->cd != (iconv_t)-1)
        iconv_close(r->cd);
    free(r->win);
    free(r->dec);
    free(r->rec);
    free(r->foff);
    free(r->flen);
    free(r->fptr);
    free(r);
}

int csv_reader_set_delimiter(struct csv_reader *r, char delim)
{
    unsigned char c = (unsigned char)delim;
    if (r->started || c == 0 || c >= 0x80 || c == '"' || c == '\r' || c == '\n')
        return CSV_ERR_USAGE;
    r->delim = delim;
    return CSV_OK;
}

int csv_reader_set_encoding(struct csv_reader *r, enum csv_encoding enc)
{
    if (r->started || (int)enc < (int)CSV_ENC_UNKNOWN || (int)enc > (int)CSV_ENC_UTF16BE)
        return CSV_ERR_USAGE;
    r->forced = enc;
    return CSV_OK;
}

enum csv_encoding csv_reader_encoding(const struct csv_reader *r)
{
    return r->enc;
}

char csv_reader_delimiter(const struct csv_reader *r)
{
    return r->delim;
}

const char *csv_reader_error(const struct csv_reader *r)
{
    return r->err ? r->msg : "";
}

uint64_t csv_reader_bytes(const struct csv_reader *r)
{
    return r->fed;
}

/* ---- decoding ---------------------------------------------------------- */

static int append_dec(struct csv_reader *r, const void *p, size_t n)
{
    if (grow(&r->dec, &r->dec_cap, r->dec_len, n, 4096))
        return nomem(r);
    memcpy(r->dec + r->dec_len, p, n);
    r->dec_len += n;
    return 0;
}

static int start_decoder(struct csv_reader *r, enum csv_encoding enc)
{
    r->enc = enc;
    r->phase = PH_DECODE;
    if (enc == CSV_ENC_UTF8)
        return 0;
    errno = 0;
    r->cd = iconv_open("UTF-8", csv_encoding_name(enc));
    if (r->cd == (iconv_t)-1) {
        if (errno == ENOMEM)
            return nomem(r);
        return reader_fail(r, CSV_ERR_ENCODING, "cannot convert from %s: iconv does not support it",
                           csv_encoding_name(enc));
    }
    return 0;
}

/* Converts as much of *in as forms whole characters; 0, EINVAL (the input
 * ends inside a character), EILSEQ, or ENOMEM (already reported). */
static int conv(struct csv_reader *r, const uint8_t **in, size_t *inleft)
{
    while (*inleft > 0) {
        /* UTF-8 is at most 1.5 times GB18030 or UTF-16: E2BIG is a fallback */
        if (grow(&r->dec, &r->dec_cap, r->dec_len, *inleft * 2 + 16, 4096)) {
            nomem(r);
            return ENOMEM;
        }
        char *ip = (char *)*in;
        char *op = r->dec + r->dec_len;
        size_t before = *inleft, outleft = r->dec_cap - r->dec_len;
        size_t rc = iconv(r->cd, &ip, inleft, &op, &outleft);
        int e = errno;
        r->dec_len = (size_t)(op - r->dec);
        r->in_off += before - *inleft;
        *in = (const uint8_t *)ip;
        if (rc != (size_t)-1)
            continue;
        if (e == E2BIG)
            continue;
        return e == EINVAL ? EINVAL : EILSEQ;
    }
    return 0;
}

static void decode_failed(struct csv_reader *r, bool cut)
{
    r->dec_failed = true;
    r->dec_cut = cut;
    r->dec_fail_off = r->in_off;
}

static void decode(struct csv_reader *r, const uint8_t *p, size_t n)
{
    if (r->err || r->dec_failed || n == 0)
        return;
    if (r->enc == CSV_ENC_UTF8) {
        if (append_dec(r, p, n) == 0)
            r->in_off += n;
        return;
    }
    /* finish a character held from the previous chunk, one byte at a time */
    while (r->carry_len > 0 && n > 0) {
        if (r->carry_len == sizeof r->carry) {
            decode_failed(r, false);
            return;
        }
        r->carry[r->carry_len++] = *p++;
        n--;
        const uint8_t *in = r->carry;
        size_t left = r->carry_len;
        int e = conv(r, &in, &left);
        if (e == ENOMEM)
            return;
        if (e == EILSEQ) {
            decode_failed(r, false);
            return;
        }
        if (left == 0)
            r->carry_len = 0;
        else if (in != r->carry) { /* a character completed and a partial one began */
            memmove(r->carry, in, left);
            r->carry_len = left;
        }
    }
    if (n == 0)
        return;
    int e = conv(r, &p, &n);
    if (e == ENOMEM)
        return;
    if (e == EILSEQ || (e == EINVAL && n >= sizeof r->carry)) {
        decode_failed(r, false);
        return;
    }
    if (e == EINVAL) {
        memcpy(r->carry, p, n);
        r->carry_len = n;
    }
}

/* The sniff window ends: decode what it held with the chosen encoding. */
static void decide(struct csv_reader *r, enum csv_encoding enc)
{
    if (start_decoder(r, enc) == 0)
        decode(r, r->win, r->win_len);
    free(r->win);
    r->win = NULL;
    r->win_len = 0;
}

/* Returns how many bytes it took; the rest belongs to the decoder. */
static size_t sniff(struct csv_reader *r, const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (r->win_len == 0) {
        while (i < n && p[i] < 0x80)
            i++;
        if (i > 0) {
            if (append_dec(r, p, i))
                return n;
            r->in_off += i;
            r->ascii_len += i;
        }
        if (i == n)
            return n;
        if (!r->win && !(r->win = malloc(CSV_DETECT_WINDOW))) {
            nomem(r);
            return n;
        }
    }
    for (; i < n; i++) {
        r->win[r->win_len++] = p[i];
        if (!u8_step(&r->sniff, p[i])) {
            r->sniff_bad = true;
            r->sniff_bad_off = r->in_off + r->win_len - 1;
            decide(r, CSV_ENC_GB18030);
            return i + 1;
        }
        if (r->win_len == CSV_DETECT_WINDOW) {
            decide(r, CSV_ENC_UTF8);
            return i + 1;
        }
    }
    return n;
}

/* No byte order mark: replay the bytes held while looking for one. */
static void no_bom(struct csv_reader *r)
{
    uint8_t held[sizeof r->bom];
    size_t k = r->bom_have < sizeof held ? r->bom_have : sizeof held;
    memcpy(held, r->bom, k);
    r->bom_have = 0;
    if (r->forced != CSV_ENC_UNKNOWN) {
        if (start_decoder(r, r->forced))
            return;
    } else {
        r->phase = PH_SNIFF;
    }
    ingest_after_bom(r, held, k);
}

static void bom_step(struct csv_reader *r)
{
    bool maybe = false;
    for (size_t i = 0; i < sizeof boms / sizeof boms[0]; i++) {
        if (r->forced != CSV_ENC_UNKNOWN && r->forced != boms[i].enc)
            continue;
        if (r->bom_have > boms[i].len || memcmp(r->bom, boms[i].b, r->bom_have) != 0)
            continue;
        if (r->bom_have == boms[i].len) {
            r->bom_len = r->in_off = boms[i].len;
            r->bom_have = 0;
            start_decoder(r, boms[i].enc);
            return;
        }
        maybe = true;
    }
    if (!maybe)
        no_bom(r);
}

static void ingest_after_bom(struct csv_reader *r, const uint8_t *p, size_t n)
{
    if (r->err)
        return;
    if (r->phase == PH_SNIFF) {
        size_t k = sniff(r, p, n);
        p += k;
        n -= k;
    }
    if (n > 0 && r->phase == PH_DECODE)
        decode(r, p, n);
}

static void ingest(struct csv_reader *r, const uint8_t *p, size_t n)
{
    while (n > 0 && r->phase == PH_BOM && !r->err) {
        r->bom[r->bom_have++] = *p++;
        n--;
        bom_step(r);
    }
    if (n > 0)
        ingest_after_bom(r, p, n);
}

/* End of input for the decoding stages. */
static void ingest_end(struct csv_reader *r)
{
    if (r->phase == PH_BOM)
        no_bom(r);
    if (r->err)
        return;
    if (r->phase == PH_SNIFF) {
        if (r->win_len > 0)
            decide(r, CSV_ENC_UTF8); /* valid so far: a cut character is the parser's to report */
        else
            start_decoder(r, CSV_ENC_UTF8); /* all ASCII */
    }
    if (!r->err && !r->dec_failed && r->carry_len > 0)
        decode_failed(r, true);
}

/* ---- parsing ----------------------------------------------------------- */

/* Decides the delimiter from the first non-empty line; false: need more. */
static bool scan_header(struct csv_reader *r, bool eof)
{
    bool done = false;
    for (; r->hs_pos < r->dec_len && !done; r->hs_pos++) {
        uint8_t b = (uint8_t)r->dec[r->hs_pos];
        if (r->hs_pos >= r->lim.max_record) {
            done = true;
            break;
        }
        if (r->hs_inq) {
            if (!r->hs_qpend) {
                r->hs_qpend = b == '"';
                continue;
            }
            r->hs_qpend = false;
            if (b == '"')
                continue;
            r->hs_inq = false; /* the quote closed the field: b is outside */
        }
        if (b == '\r' || b == '\n') {
            done = r->hs_started;
            r->hs_fstart = true;
            continue;
        }
        r->hs_started = true;
        if (b == ',' || b == '\t') {
            if (b == ',')
                r->hs_commas++;
            else
                r->hs_tabs++;
            r->hs_fstart = true;
        } else {
            r->hs_inq = b == '"' && r->hs_fstart;
            r->hs_fstart = false;
        }
    }
    if (!done && !eof)
        return false;
    r->delim = r->hs_tabs > r->hs_commas ? '\t' : ',';
    return true;
}

/* " (is the quote opened on line N closed?)" when a quoted field spans lines. */
static const char *quote_hint(const struct csv_reader *r, char *buf, size_t size)
{
    buf[0] = '\0';
    if (r->st == P_QUOTED && r->line > r->quote_line)
        snprintf(buf, size, " (is the quote opened on line %llu closed?)", (unsigned long long)r->quote_line);
    return buf;
}

static int put(struct csv_reader *r, uint8_t b)
{
    char hint[80];
    if (r->rec_len - r->fstart >= r->lim.max_field)
        return reader_fail(r, CSV_ERR_LIMIT, "line %llu, field %zu: longer than %zu bytes%s",
                           (unsigned long long)r->rec_line, r->nf + 1, r->lim.max_field,
                           quote_hint(r, hint, sizeof hint));
    if (r->rec_len - r->nf >= r->lim.max_record)
        return reader_fail(r, CSV_ERR_LIMIT, "line %llu: record longer than %zu bytes%s",
                           (unsigned long long)r->rec_line, r->lim.max_record, quote_hint(r, hint, sizeof hint));
    if (r->rec_len == r->rec_cap && grow(&r->rec, &r->rec_cap, r->rec_len, 1, 256))
        return nomem(r);
    r->rec[r->rec_len++] = (char)b;
    return 0;
}

static int close_field(struct csv_reader *r)
{
    if (r->nf >= r->lim.max_fields)
        return reader_fail(r, CSV_ERR_LIMIT, "line %llu: more than %zu fields", (unsigned long long)r->rec_line,
                           r->lim.max_fields);
    if (r->nf == r->fcap) {
        size_t cap = r->fcap ? r->fcap * 2 : 16;
        if (cap > r->lim.max_fields)
            cap = r->lim.max_fields;
        if (cap > SIZE_MAX / sizeof(size_t))
            return nomem(r);
        size_t *fo = realloc(r->foff, cap * sizeof *fo);
        if (!fo)
            return nomem(r);
        r->foff = fo;
        size_t *fl = realloc(r->flen, cap * sizeof *fl);
        if (!fl)
            return nomem(r);
        r->flen = fl;
        const char **fp = realloc(r->fptr, cap * sizeof *fp);
        if (!fp)
            return nomem(r);
        r->fptr = fp;
        r->fcap = cap;
    }
    if (r->rec_len == r->rec_cap && grow(&r->rec, &r->rec_cap, r->rec_len, 1, 256))
        return nomem(r);
    r->foff[r->nf] = r->fstart;
    r->flen[r->nf] = r->rec_len - r->fstart;
    r->rec[r->rec_len++] = '\0';
    r->nf++;
    r->fstart = r->rec_len;
    return 0;
}

/* Delivers the record (unless all its fields are empty) and starts anew. */
static int end_record(struct csv_reader *r, csv_record_cb cb, void *arg)
{
    size_t n = r->nf;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        r->fptr[i] = r->rec + r->foff[i];
        any |= r->flen[i] != 0;
    }
    r->nf = 0;
    r->rec_len = 0;
    r->fstart = 0;
    r->rec_open = false;
    r->st = P_FIELD_START;
    if (!any || !cb)
        return CSV_OK;
    r->in_cb = true;
    int stop = cb(r->fptr, r->flen, n, r->rec_line, arg);
    r->in_cb = false;
    return stop ? CSV_STOPPED : CSV_OK;
}

/* File offset of dec[i], when the decoded text is the file's own bytes there:
 * in UTF-8, and in the ASCII that passed before the encoding was decided. */
static bool file_offset(const struct csv_reader *r, size_t i, uint64_t *off)
{
    uint64_t at = r->dec_done + i;
    if (r->enc != CSV_ENC_UTF8 && at >= r->ascii_len)
        return false;
    *off = r->bom_len + at;
    return true;
}

static int bad_byte(struct csv_reader *r, uint8_t b)
{
    uint64_t off;
    unsigned long long line = (unsigned long long)r->line;
    if (b == 0) {
        if (file_offset(r, r->dec_pos, &off))
            return reader_fail(r, CSV_ERR_ENCODING,
                               "line %llu: NUL byte at byte %llu (UTF-16 without a byte order mark?)", line,
                               (unsigned long long)off);
        return reader_fail(r, CSV_ERR_ENCODING, "line %llu: NUL character", line);
    }
    if (r->enc != CSV_ENC_UTF8) /* converted text is valid UTF-8: cannot happen */
        return reader_fail(r, CSV_ERR_ENCODING, "line %llu: not valid UTF-8", line);
    if (r->u8.need) { /* report the sequence from its first byte */
        b = r->u8_lead;
        off = r->u8_lead_off;
    } else {
        file_offset(r, r->dec_pos, &off);
    }
    return reader_fail(r, CSV_ERR_ENCODING, "line %llu: not valid UTF-8 at byte %llu (0x%02X)", line,
                       (unsigned long long)off, b);
}

static int parse(struct csv_reader *r, csv_record_cb cb, void *arg, bool eof)
{
    if (!r->delim && !scan_header(r, eof))
        return CSV_OK;
    const char delim = r->delim;
    while (r->dec_pos < r->dec_len) {
        uint8_t b = (uint8_t)r->dec[r->dec_pos];
        if (b >= 0x80 || r->u8.need) {
            if (r->u8.need == 0) {
                r->u8_lead = b;
                file_offset(r, r->dec_pos, &r->u8_lead_off);
            }
            if (!u8_step(&r->u8, b))
                return bad_byte(r, b);
        } else if (b == 0) {
            return bad_byte(r, b);
        }
        r->dec_pos++;
        if (r->after_cr) {
            r->after_cr = false;
            if (b == '\n') { /* the LF of a CRLF: same line break */
                if (r->st == P_QUOTED && put(r, b))
                    return r->err;
                continue;
            }
        }
        bool nl = b == '\r' || b == '\n', eol = false;
        int rc = 0;
        if (nl) {
            r->line++;
            r->after_cr = b == '\r';
        }
        switch (r->st) {
        case P_FIELD_START:
            if (nl) {
                eol = r->rec_open; /* else an empty line */
                break;
            }
            if (!r->rec_open) {
                r->rec_open = true;
                r->rec_line = r->line;
            }
            if (b == '"') {
                r->st = P_QUOTED;
                r->quote_line = r->line;
            } else if (b == (uint8_t)delim) {
                rc = close_field(r);
            } else {
                r->st = P_UNQUOTED;
                rc = put(r, b);
            }
            break;
        case P_UNQUOTED:
            if (b == (uint8_t)delim) {
                rc = close_field(r);
                r->st = P_FIELD_START;
            } else if (nl) {
                eol = true;
            } else {
                rc = put(r, b);
            }
            break;
        case P_QUOTED:
            if (b == '"')
                r->st = P_QUOTE_IN_QUOTED;
            else
                rc = put(r, b);
            break;
        case P_QUOTE_IN_QUOTED:
            if (b == '"') {
                r->st = P_QUOTED;
                rc = put(r, b);
            } else if (b == (uint8_t)delim) {
                rc = close_field(r);
                r->st = P_FIELD_START;
            } else if (nl) {
                eol = true;
            } else {
                r->st = P_UNQUOTED; /* "ab"c: text after the closing quote */
                rc = put(r, b);
            }
            break;
        }
        if (rc)
            return rc;
        if (eol) {
            if ((rc = close_field(r)) != 0)
                return rc;
            if ((rc = end_record(r, cb, arg)) != CSV_OK)
                return rc;
        }
    }
    r->dec_done += r->dec_len;
    r->dec_pos = r->dec_len = 0;
    r->hs_pos = 0;
    return CSV_OK;
}

static int decode_error(struct csv_reader *r)
{
    const char *name = csv_encoding_name(r->enc);
    unsigned long long line = (unsigned long long)r->line, off = (unsigned long long)r->dec_fail_off;
    if (r->dec_cut)
        return reader_fail(r, CSV_ERR_ENCODING, "line %llu: the file ends inside a %s character (byte %llu)", line,
                           name, off);
    if (r->sniff_bad)
        return reader_fail(r, CSV_ERR_ENCODING, "line %llu: not valid %s at byte %llu (and not UTF-8 at byte %llu)",
                           line, name, off, (unsigned long long)r->sniff_bad_off);
    return reader_fail(r, CSV_ERR_ENCODING, "line %llu: not valid %s at byte %llu", line, name, off);
}

/* Parses what is queued; a held decoding error surfaces once reached. */
static int run(struct csv_reader *r, csv_record_cb cb, void *arg, bool eof)
{
    int rc = parse(r, cb, arg, eof || r->dec_failed);
    if (rc != CSV_OK)
        return rc;
    if (r->dec_failed)
        return decode_error(r);
    return CSV_OK;
}

int csv_reader_feed(struct csv_reader *r, const void *data, size_t n, csv_record_cb cb, void *arg)
{
    if (r->err)
        return r->err;
    if (r->in_cb || r->input_done)
        return CSV_ERR_USAGE;
    r->started = true;
    r->fed += n;
    if (n > 0)
        ingest(r, data, n);
    if (r->err)
        return r->err;
    return run(r, cb, arg, false);
}

int csv_reader_finish(struct csv_reader *r, csv_record_cb cb, void *arg)
{
    if (r->err)
        return r->err;
    if (r->in_cb)
        return CSV_ERR_USAGE;
    if (r->finished)
        return CSV_OK;
    r->started = true;
    if (!r->input_done) {
        r->input_done = true;
        ingest_end(r);
        if (r->err)
            return r->err;
    }
    int rc = run(r, cb, arg, true);
    if (rc != CSV_OK)
        return rc;
    if (r->u8.need)
        return reader_fail(r, CSV_ERR_ENCODING, "line %llu: the file ends inside a UTF-8 character (byte %llu)",
                           (unsigned long long)r->line, (unsigned long long)r->u8_lead_off);
    if (r->st == P_QUOTED)
        return reader_fail(r, CSV_ERR_SYNTAX, "line %llu: unterminated quoted field",
                           (unsigned long long)r->quote_line);
    if (r->rec_open) {
        if ((rc = close_field(r)) != 0)
            return rc;
        if ((rc = end_record(r, cb, arg)) != CSV_OK)
            return rc; /* stopped: the next finish call completes */
    }
    r->finished = true;
    return CSV_OK;
}

/* ---- writer ------------------------------------------------------------ */

void csv_writer_init(struct csv_writer *w)
{
    memset(w, 0, sizeof *w);
    w->delim = ',';
}

void csv_writer_free(struct csv_writer *w)
{
    free(w->data);
    csv_writer_init(w);
}

void csv_writer_reset(struct csv_writer *w)
{
    w->len = 0;
}

/* Appends within what wreserve() made room for. */
static void wput(struct csv_writer *w, const void *p, size_t n)
{
    memcpy(w->data + w->len, p, n);
    w->len += n;
    w->rec_bytes += n;
}

static int wreserve(struct csv_writer *w, size_t extra)
{
    if (w->err)
        return w->err;
    if (grow(&w->data, &w->cap, w->len, extra, 4096))
        return w->err = CSV_ERR_NOMEM;
    return 0;
}

int csv_writer_bom(struct csv_writer *w)
{
    int rc = wreserve(w, 3);
    if (rc)
        return rc;
    memcpy(w->data + w->len, "\xEF\xBB\xBF", 3);
    w->len += 3;
    return CSV_OK;
}

static bool plain_number(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (digits == 0)
        return false;
    if (i == len)
        return true;
    if (s[i] != '.')
        return false;
    size_t frac = ++i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    return i == len && i > frac;
}

int csv_needs_guard(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && s[i] == '\'')
        i++;
    if (i == len)
        return 0;
    switch (s[i]) {
    case '=':
    case '@':
    case '\t':
    case '\r':
        return 1;
    case '+':
    case '-':
        return !plain_number(s + i + 1, len - i - 1);
    default:
        return 0;
    }
}

size_t csv_unguard(const char *s, size_t len)
{
    return len > 0 && s[0] == '\'' && csv_needs_guard(s + 1, len - 1) ? 1 : 0;
}

static bool needs_quotes(const struct csv_writer *w, const char *s, size_t len)
{
    if (len == 0)
        return false;
    if (s[0] == ' ' || s[len - 1] == ' ')
        return true;
    if (w->records == 0 && w->nfields == 0 && len >= 2 && s[0] == 'I' && s[1] == 'D')
        return true; /* Excel takes a file starting with "ID" for SYLK */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == w->delim || c == ',' || c == '\t' || c == '"' || c == '\r' || c == '\n')
            return true;
    }
    return false;
}

int csv_writer_field(struct csv_writer *w, const char *s, size_t len)
{
    if (w->err)
        return w->err;
    bool guard = csv_needs_guard(s, len), quote = needs_quotes(w, s, len);
    size_t quotes = 0;
    if (quote)
        for (size_t i = 0; i < len; i++)
            quotes += s[i] == '"';
    if (len > SIZE_MAX / 2 - 8)
        return w->err = CSV_ERR_NOMEM;
    int rc = wreserve(w, len + quotes + 4);
    if (rc)
        return rc;
    if (w->nfields > 0)
        wput(w, &w->delim, 1);
    if (quote)
        wput(w, "\"", 1);
    if (guard)
        wput(w, "'", 1);
    if (!quote) {
        if (len > 0)
            wput(w, s, len);
    } else {
        size_t from = 0;
        for (size_t i = 0; i < len; i++) {
            if (s[i] == '"') { /* write through the quote, then the quote again */
                wput(w, s + from, i + 1 - from);
                from = i;
            }
        }
        wput(w, s + from, len - from);
        wput(w, "\"", 1);
    }
    w->nfields++;
    return CSV_OK;
}

/* Excel reads a field of digits as a number: an 18-digit ID loses its last
 * digits, an 11-digit phone turns into 1.38E+10, a leading zero vanishes.
 * Written as ="123..." it stays text; csv_excel_text() undoes it. */
static bool excel_would_mangle(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return len >= 11 || s[0] == '0';
}

int csv_writer_digits(struct csv_writer *w, const char *s, size_t len)
{
    if (w->err)
        return w->err;
    if (!excel_would_mangle(s, len))
        return csv_writer_field(w, s, len);
    int rc = wreserve(w, len + 10);
    if (rc)
        return rc;
    if (w->nfields > 0)
        wput(w, &w->delim, 1);
    wput(w, "\"=\"\"", 4);
    wput(w, s, len);
    wput(w, "\"\"\"", 3);
    w->nfields++;
    return CSV_OK;
}

size_t csv_excel_text(const char *s, size_t len, size_t *inner)
{
    if (len >= 3 && s[0] == '=' && s[1] == '"' && s[len - 1] == '"' && excel_would_mangle(s + 2, len - 3)) {
        *inner = len - 3;
        return 2;
    }
    *inner = len;
    return 0;
}

int csv_writer_str(struct csv_writer *w, const char *s)
{
    return csv_writer_field(w, s, s ? strlen(s) : 0);
}

int csv_writer_end_record(struct csv_writer *w)
{
    int rc = wreserve(w, 4);
    if (rc)
        return rc;
    if (w->rec_bytes == 0)
        wput(w, "\"\"", 2); /* a lone empty field, which would read as an empty line */
    wput(w, "\r\n", 2);
    w->records++;
    w->nfields = 0;
    w->rec_bytes = 0;
    return CSV_OK;
}

int csv_writer_record(struct csv_writer *w, const char *const *fields, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = csv_writer_field(w, fields[i], lens[i]);
        if (rc)
            return rc;
    }
    return csv_writer_end_record(w);
}
