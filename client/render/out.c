#include "out.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Allocation ---------------------------------------------------------- */

static void oom(void)
{
    fputs("kehu: out of memory\n", stderr);
    exit(1);
}

void *out_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *out_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *out_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

char *out_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = out_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

char *out_xprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = out_xmalloc(n > 0 ? (size_t)n + 1 : 1);
    *s = 0;
    if (n > 0)
        vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

/* ---- UTF-8 --------------------------------------------------------------- */

#define BAD_CP UINT32_MAX
#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Decodes one character of s[0..n), n > 0. Returns the bytes it takes; an
 * invalid byte (stray continuation, overlong form, surrogate, beyond
 * U+10FFFF, truncated sequence) takes 1 and gives BAD_CP. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        *cp = BAD_CP;
        return 1;
    }
    if (n < len) {
        *cp = BAD_CP;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = BAD_CP;
            return 1;
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = BAD_CP;
        return 1;
    }
    *cp = v;
    return len;
}

/* ---- A growable string ----------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = out_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_putc(struct sbuf *b, char c)
{
    sb_put(b, &c, 1);
}

static void sb_spaces(struct sbuf *b, size_t n)
{
    while (n-- > 0)
        sb_putc(b, ' ');
}

/* The buffer as a NUL-terminated malloc'd string ("" when empty). */
static char *sb_take(struct sbuf *b)
{
    if (!b->p)
        return out_xstrdup("");
    char *p = b->p;
    memset(b, 0, sizeof *b);
    return p;
}

/* Text made safe for one terminal line: control characters (C0, DEL, C1,
 * U+2028/2029) become spaces, invalid UTF-8 becomes U+FFFD. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0x2028 || cp == 0x2029;
}

static void sb_clean(struct sbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_next(p + i, n - i, &cp);
        if (cp == BAD_CP)
            sb_put(b, REPLACEMENT, 3);
        else if (is_control(cp))
            sb_putc(b, ' ');
        else
            sb_put(b, s + i, k);
        i += k;
    }
}

static char *clean(const char *s)
{
    struct sbuf b = {0};
    if (s)
        sb_clean(&b, s, strlen(s));
    return sb_take(&b);
}

/* ---- JSON writer ------------------------------------------------------------ */

void json_init(struct json_w *w, FILE *f, int pretty)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->pretty = pretty;
}

int json_finish(struct json_w *w)
{
    if (w->error || !w->done || w->depth != 0 || ferror(w->f))
        return -1;
    return 0;
}

static void newline_indent(struct json_w *w)
{
    if (!w->pretty)
        return;
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

static void write_string(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* p[run..i) is pending verbatim output */

    fputc('"', f);
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            i++;
            continue;
        }
        fwrite(p + run, 1, i - run, f);
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = utf8_next(p + i, len - i, &cp);
            if (cp == BAD_CP)
                fputs(REPLACEMENT, f);
            else if (cp < 0xA0) /* C1 controls */
                fprintf(f, "\\u%04x", (unsigned)cp);
            else
                fwrite(p + i, 1, k, f);
            i += k;
        } else {
            switch (c) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\b': fputs("\\b", f); break;
            case '\f': fputs("\\f", f); break;
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            default: fprintf(f, "\\u%04x", (unsigned)c); break;
            }
            i++;
        }
        run = i;
    }
    fwrite(p + run, 1, i - run, f);
    fputc('"', f);
}

/* Everything due before a value: the comma and indentation in an array, or
 * nothing after a key. -1 (and the sticky error) when no value may come. */
static int before_value(struct json_w *w)
{
    if (w->error)
        return -1;
    if (w->done) {
        w->error = 1;
        return -1;
    }
    if (w->after_key) {
        w->after_key = 0;
        return 0;
    }
    if (w->depth == 0)
        return 0;
    if (w->kind[w->depth - 1] == '{') { /* a value without a key */
        w->error = 1;
        return -1;
    }
    if (!w->first[w->depth - 1])
        fputc(',', w->f);
    w->first[w->depth - 1] = 0;
    newline_indent(w);
    return 0;
}

static void after_value(struct json_w *w)
{
    if (w->depth == 0) {
        w->done = 1;
        fputc('\n', w->f);
    }
}

static void begin(struct json_w *w, char kind)
{
    if (!w->error && w->depth == JSON_MAX_DEPTH)
        w->error = 1;
    if (before_value(w) < 0)
        return;
    fputc(kind, w->f);
    w->kind[w->depth] = kind;
    w->first[w->depth] = 1;
    w->depth++;
}

static void end(struct json_w *w, char kind)
{
    if (w->error)
        return;
    if (w->depth == 0 || w->kind[w->depth - 1] != kind || w->after_key) {
        w->error = 1;
        return;
    }
    w->depth--;
    if (!w->first[w->depth])
        newline_indent(w);
    fputc(kind == '{' ? '}' : ']', w->f);
    after_value(w);
}

void json_begin_object(struct json_w *w)
{
    begin(w, '{');
}

void json_end_object(struct json_w *w)
{
    end(w, '{');
}

void json_begin_array(struct json_w *w)
{
    begin(w, '[');
}

void json_end_array(struct json_w *w)
{
    end(w, '[');
}

/* The comma and indentation before a key; -1 (and the sticky error) when no
 * key may come. */
static int before_key(struct json_w *w, int have_name)
{
    if (w->error)
        return -1;
    if (!have_name || w->depth == 0 || w->kind[w->depth - 1] != '{' || w->after_key) {
        w->error = 1;
        return -1;
    }
    if (!w->first[w->depth - 1])
        fputc(',', w->f);
    w->first[w->depth - 1] = 0;
    newline_indent(w);
    return 0;
}

void json_key(struct json_w *w, const char *name)
{
    if (before_key(w, name != NULL) < 0)
        return;
    write_string(w->f, name, strlen(name));
    fputs(w->pretty ? ": " : ":", w->f);
    w->after_key = 1;
}

void json_str_n(struct json_w *w, const char *s, size_t len)
{
    if (before_value(w) < 0)
        return;
    write_string(w->f, s, len);
    after_value(w);
}

void json_str(struct json_w *w, const char *s)
{
    if (!s)
        json_null(w);
    else
        json_str_n(w, s, strlen(s));
}

void json_int(struct json_w *w, int64_t v)
{
    if (before_value(w) < 0)
        return;
    fprintf(w->f, "%" PRId64, v);
    after_value(w);
}

void json_uint(struct json_w *w, uint64_t v)
{
    if (before_value(w) < 0)
        return;
    fprintf(w->f, "%" PRIu64, v);
    after_value(w);
}

void json_bool(struct json_w *w, int v)
{
    if (before_value(w) < 0)
        return;
    fputs(v ? "true" : "false", w->f);
    after_value(w);
}

void json_null(struct json_w *w)
{
    if (before_value(w) < 0)
        return;
    fputs("null", w->f);
    after_value(w);
}

void json_double(struct json_w *w, double v)
{
    char buf[48], out[48];
    size_t o = 0;

    if (!isfinite(v)) {
        json_null(w);
        return;
    }
    if (before_value(w) < 0)
        return;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* %g gives [-]digits[POINT digits][e(+|-)digits] where POINT is the
     * locale's decimal point, whatever bytes that is: write '.' instead. */
    for (size_t i = 0; buf[i] != '\0';) {
        char c = buf[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e') {
            out[o++] = c;
            i++;
            continue;
        }
        out[o++] = '.';
        while (buf[i] != '\0' && !(buf[i] >= '0' && buf[i] <= '9'))
            i++;
    }
    out[o] = '\0';
    fputs(out, w->f);
    after_value(w);
}

void json_raw_money(struct json_w *w, int64_t minor_units)
{
    char buf[OUT_MONEY_BUFSZ];
    out_money_format(minor_units, buf, sizeof buf);
    json_str(w, buf);
}

void json_kstr(struct json_w *w, const char *key, const char *s)
{
    json_key(w, key);
    json_str(w, s);
}

void json_kint(struct json_w *w, const char *key, int64_t v)
{
    json_key(w, key);
    json_int(w, v);
}

void json_kuint(struct json_w *w, const char *key, uint64_t v)
{
    json_key(w, key);
    json_uint(w, v);
}

void json_kbool(struct json_w *w, const char *key, int v)
{
    json_key(w, key);
    json_bool(w, v);
}

void json_knull(struct json_w *w, const char *key)
{
    json_key(w, key);
    json_null(w);
}

void json_kdouble(struct json_w *w, const char *key, double v)
{
    json_key(w, key);
    json_double(w, v);
}

void json_kmoney(struct json_w *w, const char *key, int64_t minor_units)
{
    json_key(w, key);
    json_raw_money(w, minor_units);
}

/* ---- JSON text re-emitted through the writer ---------------------------------- */

struct jtext {
    const unsigned char *s;
    size_t i, n;
    struct json_w *w; /* NULL: only check */
    int depth, max_depth;
};

static void jt_ws(struct jtext *t)
{
    while (t->i < t->n && (t->s[t->i] == ' ' || t->s[t->i] == '\t' || t->s[t->i] == '\n' || t->s[t->i] == '\r'))
        t->i++;
}

static int jt_at(const struct jtext *t, unsigned char c)
{
    return t->i < t->n && t->s[t->i] == c;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The string token at t->i (a '"'): its length with the quotes, or 0 when it
 * is not a valid JSON string of valid UTF-8. */
static size_t jt_string(struct jtext *t)
{
    size_t i = t->i + 1;
    while (i < t->n) {
        unsigned char c = t->s[i];
        if (c == '"') {
            size_t len = i + 1 - t->i;
            t->i = i + 1;
            return len;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (i + 1 >= t->n)
                return 0;
            c = t->s[i + 1];
            if (c == 'u') {
                if (t->n - i < 6)
                    return 0;
                for (size_t k = 2; k < 6; k++)
                    if (!is_hex(t->s[i + k]))
                        return 0;
                i += 6;
            } else if (c && strchr("\"\\/bfnrt", c)) {
                i += 2;
            } else {
                return 0;
            }
        } else if (c >= 0x80) {
            uint32_t cp;
            size_t k = utf8_next(t->s + i, t->n - i, &cp);
            if (cp == BAD_CP)
                return 0;
            i += k;
        } else {
            i++;
        }
    }
    return 0;
}

static size_t jt_digits(struct jtext *t)
{
    size_t start = t->i;
    while (t->i < t->n && t->s[t->i] >= '0' && t->s[t->i] <= '9')
        t->i++;
    return t->i - start;
}

/* The number token at t->i: its length, or 0 when it is not a JSON number. */
static size_t jt_number(struct jtext *t)
{
    size_t start = t->i;
    if (jt_at(t, '-'))
        t->i++;
    if (jt_at(t, '0'))
        t->i++;
    else if (!jt_digits(t))
        return 0;
    if (jt_at(t, '.')) {
        t->i++;
        if (!jt_digits(t))
            return 0;
    }
    if (jt_at(t, 'e') || jt_at(t, 'E')) {
        t->i++;
        if (jt_at(t, '+') || jt_at(t, '-'))
            t->i++;
        if (!jt_digits(t))
            return 0;
    }
    return t->i - start;
}

/* A scalar token written as it is spelled. */
static void raw_token(struct json_w *w, const unsigned char *s, size_t len)
{
    if (before_value(w) < 0)
        return;
    fwrite(s, 1, len, w->f);
    after_value(w);
}

/* One value at t->i (after blanks), written when t->w is set. 0, or -1 when
 * the text is not JSON there. Recursion is bounded by max_depth. */
static int jt_value(struct jtext *t)
{
    jt_ws(t);
    if (t->i >= t->n)
        return -1;
    unsigned char c = t->s[t->i];
    size_t start = t->i, len = 0;
    if (c == '{' || c == '[') {
        unsigned char close = c == '{' ? '}' : ']';
        if (t->depth >= t->max_depth)
            return -1;
        t->depth++;
        t->i++;
        if (t->w)
            begin(t->w, (char)c);
        jt_ws(t);
        if (jt_at(t, close)) {
            t->i++;
        } else {
            for (;;) {
                if (c == '{') {
                    jt_ws(t);
                    size_t ks = t->i;
                    if (!jt_at(t, '"') || !(len = jt_string(t)))
                        return -1;
                    if (t->w && before_key(t->w, 1) == 0) {
                        fwrite(t->s + ks, 1, len, t->w->f);
                        fputs(t->w->pretty ? ": " : ":", t->w->f);
                        t->w->after_key = 1;
                    }
                    jt_ws(t);
                    if (!jt_at(t, ':'))
                        return -1;
                    t->i++;
                }
                if (jt_value(t) < 0)
                    return -1;
                jt_ws(t);
                if (jt_at(t, ',')) {
                    t->i++;
                    continue;
                }
                if (!jt_at(t, close))
                    return -1;
                t->i++;
                break;
            }
        }
        if (t->w)
            end(t->w, (char)c);
        t->depth--;
        return 0;
    }
    if (c == '"') {
        len = jt_string(t);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        len = jt_number(t);
    } else {
        static const char *const words[] = { "true", "false", "null" };
        for (size_t k = 0; k < 3 && !len; k++) {
            size_t l = strlen(words[k]);
            if (t->n - t->i >= l && memcmp(t->s + t->i, words[k], l) == 0) {
                t->i += l;
                len = l;
            }
        }
    }
    if (!len)
        return -1;
    if (t->w)
        raw_token(t->w, t->s + start, len);
    return 0;
}

int json_raw(struct json_w *w, const char *text)
{
    if (!text) {
        json_null(w);
        return 0;
    }
    struct jtext t = { (const unsigned char *)text, 0, strlen(text), NULL, 0, JSON_MAX_DEPTH - w->depth };
    int ok = jt_value(&t) == 0;
    if (ok) {
        jt_ws(&t);
        ok = t.i == t.n;
    }
    if (!ok) {
        json_str(w, text);
        return -1;
    }
    t.i = 0;
    t.depth = 0;
    t.w = w;
    return jt_value(&t);
}

int json_kraw(struct json_w *w, const char *key, const char *text)
{
    json_key(w, key);
    return json_raw(w, text);
}

/* ---- Money ------------------------------------------------------------------- */

int out_money_format(int64_t minor, char *buf, size_t n)
{
    /* The magnitude in unsigned arithmetic, so INT64_MIN has one too. */
    uint64_t u = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    int len = snprintf(buf, n, "%s%" PRIu64 ".%02u", minor < 0 ? "-" : "",
                       u / 100, (unsigned)(u % 100));
    if (len < 0 || (size_t)len >= n) {
        if (n > 0)
            buf[0] = '\0';
        return -1;
    }
    return len;
}

int out_money_text(int64_t minor, char *buf, size_t n)
{
    uint64_t u = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    char digits[24], grouped[40];
    size_t len = (size_t)snprintf(digits, sizeof digits, "%" PRIu64, u / 100), k = 0;
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            grouped[k++] = ',';
        grouped[k++] = digits[i];
    }
    grouped[k] = '\0';
    int out = snprintf(buf, n, "%s%s.%02u", minor < 0 ? "-" : "", grouped, (unsigned)(u % 100));
    if (out < 0 || (size_t)out >= n) {
        if (n > 0)
            buf[0] = '\0';
        return -1;
    }
    return out;
}

int out_fixed_format(double v, int decimals, char *buf, size_t n)
{
    static const uint64_t pow10[] = { 1,      10,      100,      1000,      10000,
                                      100000, 1000000, 10000000, 100000000, 1000000000 };
    if (n > 0)
        buf[0] = '\0';
    if (!isfinite(v) || decimals < 0 || decimals > 9)
        return -1;
    double scaled = (v < 0 ? -v : v) * (double)pow10[decimals];
    if (scaled >= 9e18)
        return -1;
    /* half away from zero, without libm (the CLI's helpers link without it) */
    uint64_t u = (uint64_t)scaled, p = pow10[decimals];
    if (scaled - (double)u >= 0.5)
        u++;
    const char *sign = v < 0 && u != 0 ? "-" : "";
    int len;
    if (decimals)
        len = snprintf(buf, n, "%s%" PRIu64 ".%0*" PRIu64, sign, u / p, decimals, u % p);
    else
        len = snprintf(buf, n, "%s%" PRIu64, sign, u);
    if (len < 0 || (size_t)len >= n) {
        if (n > 0)
            buf[0] = '\0';
        return -1;
    }
    return len;
}

int out_money_parse(const char *s, int64_t *minor)
{
    const char *p = s;
    int neg = 0;
    uint64_t ip = 0, frac = 0, limit;

    if (!s) {
        errno = EINVAL;
        return -1;
    }
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

    if (!(*p >= '0' && *p <= '9')) {
        errno = EINVAL;
        return -1;
    }
    int range = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (ip > (limit - d) / 10)
            range = 1; /* keep scanning: syntax errors win over range */
        else
            ip = ip * 10 + d;
    }
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) {
            errno = EINVAL;
            return -1;
        }
        frac = (uint64_t)(*p++ - '0') * 10;
        if (*p >= '0' && *p <= '9')
            frac += (uint64_t)(*p++ - '0');
    }
    if (*p != '\0') {
        errno = EINVAL;
        return -1;
    }
    if (range || ip > (limit - frac) / 100) {
        errno = ERANGE;
        return -1;
    }
    uint64_t u = ip * 100 + frac;
    if (neg)
        *minor = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    else
        *minor = (int64_t)u;
    return 0;
}

/* ---- Display width ------------------------------------------------------------ */

struct range {
    uint32_t lo, hi;
};

/* The width tables agree with glibc 2.36's wcwidth() under C.UTF-8 (Unicode
 * 15) for every assigned code point, but are compiled in so that widths do
 * not depend on the locale the CLI happens to run in. Runs are merged across
 * unassigned code points; unassigned points of the CJK blocks and the
 * ideographic planes 2 and 3 count as wide.
 *
 * Zero width: nonspacing and enclosing marks (Mn, Me), format characters
 * (Cf) such as ZWSP/ZWJ/bidi marks/BOM, Hangul medial vowels and final
 * consonants (U+1160-11FF). */
static const struct range zero_width[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x05BF, 0x05BF},
    {0x05C1, 0x05C2}, {0x05C4, 0x05C5}, {0x05C7, 0x05C7}, {0x0610, 0x061A},
    {0x061C, 0x061C}, {0x064B, 0x065F}, {0x0670, 0x0670}, {0x06D6, 0x06DC},
    {0x06DF, 0x06E4}, {0x06E7, 0x06E8}, {0x06EA, 0x06ED}, {0x0711, 0x0711},
    {0x0730, 0x074A}, {0x07A6, 0x07B0}, {0x07EB, 0x07F3}, {0x07FD, 0x07FD},
    {0x0816, 0x0819}, {0x081B, 0x0823}, {0x0825, 0x0827}, {0x0829, 0x082D},
    {0x0859, 0x085B}, {0x0898, 0x089F}, {0x08CA, 0x08E1}, {0x08E3, 0x0902},
    {0x093A, 0x093A}, {0x093C, 0x093C}, {0x0941, 0x0948}, {0x094D, 0x094D},
    {0x0951, 0x0957}, {0x0962, 0x0963}, {0x0981, 0x0981}, {0x09BC, 0x09BC},
    {0x09C1, 0x09C4}, {0x09CD, 0x09CD}, {0x09E2, 0x09E3}, {0x09FE, 0x0A02},
    {0x0A3C, 0x0A3C}, {0x0A41, 0x0A51}, {0x0A70, 0x0A71}, {0x0A75, 0x0A75},
    {0x0A81, 0x0A82}, {0x0ABC, 0x0ABC}, {0x0AC1, 0x0AC8}, {0x0ACD, 0x0ACD},
    {0x0AE2, 0x0AE3}, {0x0AFA, 0x0B01}, {0x0B3C, 0x0B3C}, {0x0B3F, 0x0B3F},
    {0x0B41, 0x0B44}, {0x0B4D, 0x0B56}, {0x0B62, 0x0B63}, {0x0B82, 0x0B82},
    {0x0BC0, 0x0BC0}, {0x0BCD, 0x0BCD}, {0x0C00, 0x0C00}, {0x0C04, 0x0C04},
    {0x0C3C, 0x0C3C}, {0x0C3E, 0x0C40}, {0x0C46, 0x0C56}, {0x0C62, 0x0C63},
    {0x0C81, 0x0C81}, {0x0CBC, 0x0CBC}, {0x0CBF, 0x0CBF}, {0x0CC6, 0x0CC6},
    {0x0CCC, 0x0CCD}, {0x0CE2, 0x0CE3}, {0x0D00, 0x0D01}, {0x0D3B, 0x0D3C},
    {0x0D41, 0x0D44}, {0x0D4D, 0x0D4D}, {0x0D62, 0x0D63}, {0x0D81, 0x0D81},
    {0x0DCA, 0x0DCA}, {0x0DD2, 0x0DD6}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A},
    {0x0E47, 0x0E4E}, {0x0EB1, 0x0EB1}, {0x0EB4, 0x0EBC}, {0x0EC8, 0x0ECD},
    {0x0F18, 0x0F19}, {0x0F35, 0x0F35}, {0x0F37, 0x0F37}, {0x0F39, 0x0F39},
    {0x0F71, 0x0F7E}, {0x0F80, 0x0F84}, {0x0F86, 0x0F87}, {0x0F8D, 0x0FBC},
    {0x0FC6, 0x0FC6}, {0x102D, 0x1030}, {0x1032, 0x1037}, {0x1039, 0x103A},
    {0x103D, 0x103E}, {0x1058, 0x1059}, {0x105E, 0x1060}, {0x1071, 0x1074},
    {0x1082, 0x1082}, {0x1085, 0x1086}, {0x108D, 0x108D}, {0x109D, 0x109D},
    {0x1160, 0x11FF}, {0x135D, 0x135F}, {0x1712, 0x1714}, {0x1732, 0x1733},
    {0x1752, 0x1753}, {0x1772, 0x1773}, {0x17B4, 0x17B5}, {0x17B7, 0x17BD},
    {0x17C6, 0x17C6}, {0x17C9, 0x17D3}, {0x17DD, 0x17DD}, {0x180B, 0x180F},
    {0x1885, 0x1886}, {0x18A9, 0x18A9}, {0x1920, 0x1922}, {0x1927, 0x1928},
    {0x1932, 0x1932}, {0x1939, 0x193B}, {0x1A17, 0x1A18}, {0x1A1B, 0x1A1B},
    {0x1A56, 0x1A56}, {0x1A58, 0x1A60}, {0x1A62, 0x1A62}, {0x1A65, 0x1A6C},
    {0x1A73, 0x1A7F}, {0x1AB0, 0x1B03}, {0x1B34, 0x1B34}, {0x1B36, 0x1B3A},
    {0x1B3C, 0x1B3C}, {0x1B42, 0x1B42}, {0x1B6B, 0x1B73}, {0x1B80, 0x1B81},
    {0x1BA2, 0x1BA5}, {0x1BA8, 0x1BA9}, {0x1BAB, 0x1BAD}, {0x1BE6, 0x1BE6},
    {0x1BE8, 0x1BE9}, {0x1BED, 0x1BED}, {0x1BEF, 0x1BF1}, {0x1C2C, 0x1C33},
    {0x1C36, 0x1C37}, {0x1CD0, 0x1CD2}, {0x1CD4, 0x1CE0}, {0x1CE2, 0x1CE8},
    {0x1CED, 0x1CED}, {0x1CF4, 0x1CF4}, {0x1CF8, 0x1CF9}, {0x1DC0, 0x1DFF},
    {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x206F}, {0x20D0, 0x20F0},
    {0x2CEF, 0x2CF1}, {0x2D7F, 0x2D7F}, {0x2DE0, 0x2DFF}, {0x302A, 0x302D},
    {0x3099, 0x309A}, {0xA66F, 0xA672}, {0xA674, 0xA67D}, {0xA69E, 0xA69F},
    {0xA6F0, 0xA6F1}, {0xA802, 0xA802}, {0xA806, 0xA806}, {0xA80B, 0xA80B},
    {0xA825, 0xA826}, {0xA82C, 0xA82C}, {0xA8C4, 0xA8C5}, {0xA8E0, 0xA8F1},
    {0xA8FF, 0xA8FF}, {0xA926, 0xA92D}, {0xA947, 0xA951}, {0xA980, 0xA982},
    {0xA9B3, 0xA9B3}, {0xA9B6, 0xA9B9}, {0xA9BC, 0xA9BD}, {0xA9E5, 0xA9E5},
    {0xAA29, 0xAA2E}, {0xAA31, 0xAA32}, {0xAA35, 0xAA36}, {0xAA43, 0xAA43},
    {0xAA4C, 0xAA4C}, {0xAA7C, 0xAA7C}, {0xAAB0, 0xAAB0}, {0xAAB2, 0xAAB4},
    {0xAAB7, 0xAAB8}, {0xAABE, 0xAABF}, {0xAAC1, 0xAAC1}, {0xAAEC, 0xAAED},
    {0xAAF6, 0xAAF6}, {0xABE5, 0xABE5}, {0xABE8, 0xABE8}, {0xABED, 0xABED},
    {0xD7B0, 0xD7FB}, {0xFB1E, 0xFB1E}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
    {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB}, {0x101FD, 0x101FD}, {0x102E0, 0x102E0},
    {0x10376, 0x1037A}, {0x10A01, 0x10A0F}, {0x10A38, 0x10A3F}, {0x10AE5, 0x10AE6},
    {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10F46, 0x10F50}, {0x10F82, 0x10F85},
    {0x11001, 0x11001}, {0x11038, 0x11046}, {0x11070, 0x11070}, {0x11073, 0x11074},
    {0x1107F, 0x11081}, {0x110B3, 0x110B6}, {0x110B9, 0x110BA}, {0x110C2, 0x110C2},
    {0x11100, 0x11102}, {0x11127, 0x1112B}, {0x1112D, 0x11134}, {0x11173, 0x11173},
    {0x11180, 0x11181}, {0x111B6, 0x111BE}, {0x111C9, 0x111CC}, {0x111CF, 0x111CF},
    {0x1122F, 0x11231}, {0x11234, 0x11234}, {0x11236, 0x11237}, {0x1123E, 0x1123E},
    {0x112DF, 0x112DF}, {0x112E3, 0x112EA}, {0x11300, 0x11301}, {0x1133B, 0x1133C},
    {0x11340, 0x11340}, {0x11366, 0x11374}, {0x11438, 0x1143F}, {0x11442, 0x11444},
    {0x11446, 0x11446}, {0x1145E, 0x1145E}, {0x114B3, 0x114B8}, {0x114BA, 0x114BA},
    {0x114BF, 0x114C0}, {0x114C2, 0x114C3}, {0x115B2, 0x115B5}, {0x115BC, 0x115BD},
    {0x115BF, 0x115C0}, {0x115DC, 0x115DD}, {0x11633, 0x1163A}, {0x1163D, 0x1163D},
    {0x1163F, 0x11640}, {0x116AB, 0x116AB}, {0x116AD, 0x116AD}, {0x116B0, 0x116B5},
    {0x116B7, 0x116B7}, {0x1171D, 0x1171F}, {0x11722, 0x11725}, {0x11727, 0x1172B},
    {0x1182F, 0x11837}, {0x11839, 0x1183A}, {0x1193B, 0x1193C}, {0x1193E, 0x1193E},
    {0x11943, 0x11943}, {0x119D4, 0x119DB}, {0x119E0, 0x119E0}, {0x11A01, 0x11A0A},
    {0x11A33, 0x11A38}, {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47}, {0x11A51, 0x11A56},
    {0x11A59, 0x11A5B}, {0x11A8A, 0x11A96}, {0x11A98, 0x11A99}, {0x11C30, 0x11C3D},
    {0x11C3F, 0x11C3F}, {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3},
    {0x11CB5, 0x11CB6}, {0x11D31, 0x11D45}, {0x11D47, 0x11D47}, {0x11D90, 0x11D91},
    {0x11D95, 0x11D95}, {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4}, {0x13430, 0x13438},
    {0x16AF0, 0x16AF4}, {0x16B30, 0x16B36}, {0x16F4F, 0x16F4F}, {0x16F8F, 0x16F92},
    {0x16FE4, 0x16FE4}, {0x1BC9D, 0x1BC9E}, {0x1BCA0, 0x1CF46}, {0x1D167, 0x1D169},
    {0x1D173, 0x1D182}, {0x1D185, 0x1D18B}, {0x1D1AA, 0x1D1AD}, {0x1D242, 0x1D244},
    {0x1DA00, 0x1DA36}, {0x1DA3B, 0x1DA6C}, {0x1DA75, 0x1DA75}, {0x1DA84, 0x1DA84},
    {0x1DA9B, 0x1DAAF}, {0x1E000, 0x1E02A}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE},
    {0x1E2EC, 0x1E2EF}, {0x1E8D0, 0x1E8D6}, {0x1E944, 0x1E94A}, {0xE0001, 0xE01EF},
};

/* East Asian Wide (W) and Fullwidth (F): Hangul Jamo, CJK punctuation and
 * ideographs, kana, Hangul syllables, fullwidth forms, emoji. */
static const struct range wide[] = {
    {0x1100, 0x115F}, {0x231A, 0x231B}, {0x2329, 0x232A}, {0x23E9, 0x23EC},
    {0x23F0, 0x23F0}, {0x23F3, 0x23F3}, {0x25FD, 0x25FE}, {0x2614, 0x2615},
    {0x2648, 0x2653}, {0x267F, 0x267F}, {0x2693, 0x2693}, {0x26A1, 0x26A1},
    {0x26AA, 0x26AB}, {0x26BD, 0x26BE}, {0x26C4, 0x26C5}, {0x26CE, 0x26CE},
    {0x26D4, 0x26D4}, {0x26EA, 0x26EA}, {0x26F2, 0x26F3}, {0x26F5, 0x26F5},
    {0x26FA, 0x26FA}, {0x26FD, 0x26FD}, {0x2705, 0x2705}, {0x270A, 0x270B},
    {0x2728, 0x2728}, {0x274C, 0x274C}, {0x274E, 0x274E}, {0x2753, 0x2755},
    {0x2757, 0x2757}, {0x2795, 0x2797}, {0x27B0, 0x27B0}, {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C}, {0x2B50, 0x2B50}, {0x2B55, 0x2B55}, {0x2E80, 0x3029},
    {0x302E, 0x303E}, {0x3040, 0x3098}, {0x309B, 0xA4CF}, {0xA960, 0xA97C},
    {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE10, 0xFE19}, {0xFE30, 0xFE6B},
    {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x16FE0, 0x16FE3}, {0x16FF0, 0x1B2FB},
    {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A},
    {0x1F200, 0x1F320}, {0x1F32D, 0x1F335}, {0x1F337, 0x1F37C}, {0x1F37E, 0x1F393},
    {0x1F3A0, 0x1F3CA}, {0x1F3CF, 0x1F3D3}, {0x1F3E0, 0x1F3F0}, {0x1F3F4, 0x1F3F4},
    {0x1F3F8, 0x1F43E}, {0x1F440, 0x1F440}, {0x1F442, 0x1F4FC}, {0x1F4FF, 0x1F53D},
    {0x1F54B, 0x1F54E}, {0x1F550, 0x1F567}, {0x1F57A, 0x1F57A}, {0x1F595, 0x1F596},
    {0x1F5A4, 0x1F5A4}, {0x1F5FB, 0x1F64F}, {0x1F680, 0x1F6C5}, {0x1F6CC, 0x1F6CC},
    {0x1F6D0, 0x1F6D2}, {0x1F6D5, 0x1F6DF}, {0x1F6EB, 0x1F6EC}, {0x1F6F4, 0x1F6FC},
    {0x1F7E0, 0x1F7F0}, {0x1F90C, 0x1F93A}, {0x1F93C, 0x1F945}, {0x1F947, 0x1F9FF},
    {0x1FA70, 0x1FAF6}, {0x20000, 0x3FFFD},
};

static int in_ranges(uint32_t cp, const struct range *r, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static size_t cp_width(uint32_t cp)
{
    if (cp == BAD_CP)
        return 1;
    if (is_control(cp))
        return 0;
    if (cp < 0x300)
        return 1;
    if (in_ranges(cp, zero_width, sizeof zero_width / sizeof zero_width[0]))
        return 0;
    if (in_ranges(cp, wide, sizeof wide / sizeof wide[0]))
        return 2;
    return 1;
}

size_t out_width_n(const char *utf8, size_t len)
{
    const unsigned char *p = (const unsigned char *)utf8;
    size_t i = 0, w = 0;
    while (i < len) {
        uint32_t cp;
        i += utf8_next(p + i, len - i, &cp);
        w += cp_width(cp);
    }
    return w;
}

size_t out_width(const char *utf8)
{
    return utf8 ? out_width_n(utf8, strlen(utf8)) : 0;
}

#define ELLIPSIS "\xE2\x80\xA6" /* U+2026, one column */

char *out_truncate(const char *s, size_t max_cols)
{
    if (!s)
        return out_xstrdup("");
    size_t len = strlen(s);
    if (out_width_n(s, len) <= max_cols)
        return out_xstrdup(s);
    if (max_cols == 0)
        return out_xstrdup("");

    /* Whole characters while they leave a column for the ellipsis; zero-width
     * marks after the last one stay with it. */
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, w = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = utf8_next(p + i, len - i, &cp);
        size_t cw = cp_width(cp);
        if (w + cw > max_cols - 1)
            break;
        w += cw;
        i += k;
    }
    char *r = out_xmalloc(i + sizeof ELLIPSIS);
    memcpy(r, s, i);
    memcpy(r + i, ELLIPSIS, sizeof ELLIPSIS);
    return r;
}

/* ---- Tables ------------------------------------------------------------------- */

struct out_table {
    int ncols;
    char **headers;
    enum out_align *align;
    size_t *max_cols;
    char **cells; /* rows * ncols, cleaned */
    size_t rows, cap;
    char *empty; /* printed instead of the header when there is no row */
};

/* The screen tables are printed for (out_table_screen). */
static size_t screen_cols;
static void (*screen_before)(void);

void out_table_screen(size_t width, void (*before)(void))
{
    screen_cols = width;
    screen_before = before;
}

void out_table_empty(struct out_table *t, const char *text)
{
    free(t->empty);
    t->empty = text ? clean(text) : NULL;
}

/* Narrows the widest left-aligned (text) columns, a column at a time, until
 * the table fits in width columns: first down to their headers' width, then,
 * if that is not enough, down to MIN_FIT_COLS (headers cut too). Numbers and
 * other right-aligned columns keep their width. */
#define MIN_FIT_COLS 4
static void fit_columns(const struct out_table *t, size_t *colw, size_t width)
{
    size_t nc = (size_t)t->ncols, total = 2 * (nc - 1);
    for (size_t c = 0; c < nc; c++)
        total += colw[c];
    for (int pass = 0; pass < 2 && total > width; pass++)
        while (total > width) {
            size_t best = nc;
            for (size_t c = 0; c < nc; c++) {
                size_t floor = pass == 0 ? out_width(t->headers[c]) : 0;
                if (floor < MIN_FIT_COLS)
                    floor = MIN_FIT_COLS;
                if (t->align[c] != OUT_RIGHT && colw[c] > floor && (best == nc || colw[c] > colw[best]))
                    best = c;
            }
            if (best == nc)
                break;
            colw[best]--;
            total--;
        }
}

struct out_table *out_table_new(int ncols, const char *const *headers)
{
    struct out_table *t = out_xcalloc(1, sizeof *t);
    if (ncols < 1)
        ncols = 1;
    t->ncols = ncols;
    t->headers = out_xcalloc((size_t)ncols, sizeof *t->headers);
    t->align = out_xcalloc((size_t)ncols, sizeof *t->align);
    t->max_cols = out_xcalloc((size_t)ncols, sizeof *t->max_cols);
    for (int c = 0; c < ncols; c++) {
        char *h = clean(headers ? headers[c] : NULL);
        for (char *q = h; *q; q++)
            if (*q >= 'a' && *q <= 'z')
                *q = (char)(*q - 'a' + 'A');
        t->headers[c] = h;
    }
    return t;
}

void out_table_add(struct out_table *t, const char *const *cells)
{
    size_t nc = (size_t)t->ncols;
    if (t->rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = out_xrealloc(t->cells, t->cap * nc * sizeof *t->cells);
    }
    for (size_t c = 0; c < nc; c++)
        t->cells[t->rows * nc + c] = clean(cells ? cells[c] : NULL);
    t->rows++;
}

void out_table_align(struct out_table *t, int col, enum out_align align)
{
    if (col >= 0 && col < t->ncols)
        t->align[col] = align;
}

void out_table_max_width(struct out_table *t, int col, size_t max_cols)
{
    if (col >= 0 && col < t->ncols)
        t->max_cols[col] = max_cols;
}

size_t out_table_rows(const struct out_table *t)
{
    return t->rows;
}

/* Appends one padded cell; the caller strips trailing blanks per line. */
static void put_cell(struct sbuf *b, const char *text, size_t w, size_t colw,
                     enum out_align align)
{
    size_t pad = colw > w ? colw - w : 0;
    if (align == OUT_RIGHT)
        sb_spaces(b, pad);
    sb_put(b, text, strlen(text));
    if (align != OUT_RIGHT)
        sb_spaces(b, pad);
}

static void put_line(struct sbuf *b, FILE *f)
{
    while (b->len > 0 && b->p[b->len - 1] == ' ')
        b->len--;
    if (b->len > 0)
        fwrite(b->p, 1, b->len, f);
    fputc('\n', f);
    b->len = 0;
}

void out_table_print(const struct out_table *t, FILE *f)
{
    size_t nc = (size_t)t->ncols, n = t->rows * nc;
    size_t *colw = out_xcalloc(nc, sizeof *colw);
    char **text = out_xcalloc(n, sizeof *text);   /* truncated copies */
    size_t *w = out_xcalloc(n, sizeof *w);
    struct sbuf b = {0};

    if (screen_before) {
        void (*before)(void) = screen_before;
        screen_before = NULL; /* once */
        before();
    }
    if (t->rows == 0 && t->empty) {
        fprintf(f, "%s\n", t->empty);
        free(text);
        free(w);
        free(colw);
        return;
    }
    for (size_t c = 0; c < nc; c++)
        colw[c] = out_width(t->headers[c]);
    for (size_t i = 0; i < n; i++) {
        size_t c = i % nc;
        text[i] = t->max_cols[c] ? out_truncate(t->cells[i], t->max_cols[c])
                                 : out_xstrdup(t->cells[i]);
        w[i] = out_width(text[i]);
        if (w[i] > colw[c])
            colw[c] = w[i];
    }
    if (screen_cols) {
        fit_columns(t, colw, screen_cols);
        for (size_t i = 0; i < n; i++)
            if (w[i] > colw[i % nc]) {
                char *cut = out_truncate(text[i], colw[i % nc]);
                free(text[i]);
                text[i] = cut;
                w[i] = out_width(cut);
            }
    }

    for (size_t c = 0; c < nc; c++) {
        if (c > 0)
            sb_put(&b, "  ", 2);
        size_t hw = out_width(t->headers[c]);
        char *head = hw > colw[c] ? out_truncate(t->headers[c], colw[c]) : NULL; /* fitted below its header */
        put_cell(&b, head ? head : t->headers[c], head ? out_width(head) : hw, colw[c], t->align[c]);
        free(head);
    }
    put_line(&b, f);
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < nc; c++) {
            if (c > 0)
                sb_put(&b, "  ", 2);
            put_cell(&b, text[r * nc + c], w[r * nc + c], colw[c], t->align[c]);
        }
        put_line(&b, f);
    }

    for (size_t i = 0; i < n; i++)
        free(text[i]);
    free(text);
    free(w);
    free(colw);
    free(b.p);
}

void out_table_free(struct out_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    for (int c = 0; c < t->ncols; c++)
        free(t->headers[c]);
    free(t->cells);
    free(t->headers);
    free(t->align);
    free(t->max_cols);
    free(t->empty);
    free(t);
}

/* ---- Key/value records ------------------------------------------------------------ */

struct out_kv {
    char **keys, **values; /* keys cleaned; values raw, cleaned per line */
    size_t n, cap;
};

struct out_kv *out_kv_new(void)
{
    return out_xcalloc(1, sizeof(struct out_kv));
}

void out_kv_add(struct out_kv *kv, const char *key, const char *value)
{
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? kv->cap * 2 : 16;
        kv->keys = out_xrealloc(kv->keys, kv->cap * sizeof *kv->keys);
        kv->values = out_xrealloc(kv->values, kv->cap * sizeof *kv->values);
    }
    kv->keys[kv->n] = clean(key);
    kv->values[kv->n] = out_xstrdup(value ? value : "");
    kv->n++;
}

void out_kv_addf(struct out_kv *kv, const char *key, const char *fmt, ...)
{
    va_list ap, ap2;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) { /* an encoding error: show nothing rather than garbage */
        va_end(ap2);
        out_kv_add(kv, key, "");
        return;
    }
    char *s = out_xmalloc((size_t)len + 1);
    vsnprintf(s, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    out_kv_add(kv, key, s);
    free(s);
}

void out_kv_print(const struct out_kv *kv, FILE *f)
{
    size_t keyw = 0;
    struct sbuf b = {0};

    for (size_t i = 0; i < kv->n; i++) {
        size_t w = out_width(kv->keys[i]);
        if (w > keyw)
            keyw = w;
    }
    for (size_t i = 0; i < kv->n; i++) {
        const char *v = kv->values[i];
        sb_put(&b, kv->keys[i], strlen(kv->keys[i]));
        sb_putc(&b, ':');
        sb_spaces(&b, keyw - out_width(kv->keys[i]) + 1);
        for (int line = 0;; line++) {
            size_t n = strcspn(v, "\n");
            size_t m = n;
            if (m > 0 && v[m - 1] == '\r')
                m--;
            if (line > 0)
                sb_spaces(&b, keyw + 2);
            sb_clean(&b, v, m);
            put_line(&b, f);
            if (v[n] == '\0')
                break;
            v += n + 1;
        }
    }
    free(b.p);
}

void out_kv_free(struct out_kv *kv)
{
    if (!kv)
        return;
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->keys[i]);
        free(kv->values[i]);
    }
    free(kv->keys);
    free(kv->values);
    free(kv);
}

/* ---- Errors ----------------------------------------------------------------------- */

void out_error(int json, const char *code, const char *message, const char *field)
{
    char *c = clean(code && *code ? code : "UNKNOWN");
    char *m = clean(message);
    int has_field = field && *field;

    fflush(stdout);
    fprintf(stderr, "kehu: %s", c);
    if (*m)
        fprintf(stderr, ": %s", m);
    if (has_field) {
        char *fl = clean(field);
        fprintf(stderr, " [%s]", fl);
        free(fl);
    }
    fputc('\n', stderr);
    free(c);
    free(m);

    if (json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_key(&w, "error");
        json_begin_object(&w);
        json_kstr(&w, "code", code && *code ? code : "UNKNOWN");
        json_kstr(&w, "message", message ? message : "");
        if (has_field)
            json_kstr(&w, "field", field);
        json_end_object(&w);
        json_end_object(&w);
        fflush(stdout);
    }
}

/* ---- Dates and times ----------------------------------------------------------------- */

void out_time_ms(int64_t unix_ms, char *buf, size_t n)
{
    struct tm tm;

    if (n == 0)
        return;
    buf[0] = '\0';
    if (unix_ms == 0)
        return;
    int64_t secs = unix_ms / 1000 - (unix_ms % 1000 < 0); /* floor */
    time_t t = (time_t)secs;
    if (!gmtime_r(&t, &tm))
        return;
    if (strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        buf[0] = '\0';
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

int out_date_parse(const char *s, int *y, int *m, int *d)
{
    int v[8], k = 0;

    if (!s)
        return -1;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-')
                return -1;
        } else {
            if (!(s[i] >= '0' && s[i] <= '9'))
                return -1;
            v[k++] = s[i] - '0';
        }
    }
    if (s[10] != '\0')
        return -1;
    int yy = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    int mm = v[4] * 10 + v[5];
    int dd = v[6] * 10 + v[7];
    if (yy < 1 || mm < 1 || mm > 12 || dd < 1 || dd > days_in_month(yy, mm))
        return -1;
    if (y)
        *y = yy;
    if (m)
        *m = mm;
    if (d)
        *d = dd;
    return 0;
}
