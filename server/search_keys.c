#include "search_keys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>
#include <unicode/utrans.h>
#include <pthread.h>

#define UNITS_MAX SEARCH_KEYS_PINYIN_UNITS
#define VARIANTS_MAX SEARCH_KEYS_VARIANTS_MAX
#define SYL_SIZE 8          /* the longest syllables ("zhuang") have 6 letters */
#define PIECES_MAX 64       /* text pieces checked for duplicates */

/* Characters ICU reads one way that are also read (or typed) another way,
 * mostly as surnames and in place names. Every reading worth indexing is
 * listed, ICU's included: a variant is made for each one ICU did not give. */
struct poly {
    const char *key;       /* one Han character, or a two-character compound surname */
    const char *readings;  /* '|' between readings, ' ' between the syllables of one */
    int surname;           /* the first reading is the one as a surname (for sorting) */
};

static const struct poly poly_table[] = {
    /* surnames */
    { "曾", "zeng|ceng", 1 },
    { "单", "shan|dan|chan", 1 },
    { "解", "xie|jie", 1 },
    { "仇", "qiu|chou", 1 },
    { "朴", "piao|pu", 1 },
    { "查", "zha|cha", 1 },
    { "区", "ou|qu", 1 },
    { "翟", "zhai|di", 1 },
    { "乐", "yue|le", 1 },
    { "覃", "qin|tan", 1 },
    { "盖", "ge|gai", 1 },
    { "缪", "miao|mou|miu", 1 },
    { "召", "shao|zhao", 1 },
    { "繁", "po|fan", 1 },
    { "句", "gou|ju", 1 },
    { "秘", "bi|mi", 1 },
    { "隗", "wei|kui", 1 },
    { "折", "she|zhe", 1 },
    { "员", "yun|yuan", 1 },
    { "种", "chong|zhong", 1 },
    { "柏", "bai|bo", 1 },
    { "薄", "bo|bao", 1 },
    { "藏", "zang|cang", 1 },
    { "尉迟", "yu chi", 1 },
    { "万俟", "mo qi", 1 },
    /* ü, which Latin-ASCII writes u and pinyin keyboards type v */
    { "吕", "lv", 0 },
    { "闾", "lv", 0 },
    { "律", "lv", 0 },
    { "绿", "lv", 0 },
    /* place names and the words of company names */
    { "长", "chang|zhang", 0 },
    { "重", "chong|zhong", 0 },
    { "行", "hang|xing", 0 },
    { "厦", "xia|sha", 0 },
    { "都", "du|dou", 0 },
    { "蚌", "beng|bang", 0 },
    { "六", "lu|liu", 0 },
    { "番", "pan|fan", 0 },
    { "朝", "chao|zhao", 0 },
    { "传", "chuan|zhuan", 0 },
};

#define POLY_COUNT (sizeof poly_table / sizeof poly_table[0])

/* ICU transliterators are not thread-safe: one master is opened at start-up
 * and never used itself; each thread (the loop, and the thread pool workers
 * that parse imports) transliterates with its own clone, closed when the
 * thread ends. */
static UTransliterator *master;
static pthread_mutex_t clone_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t clone_key;
static _Thread_local UTransliterator *translit;

static void clone_close(void *t)
{
    utrans_close(t);
}

/* This thread's transliterator, cloned from the master on first use. */
static UTransliterator *thread_translit(void)
{
    if (!translit && master) {
        UErrorCode e = U_ZERO_ERROR;
        pthread_mutex_lock(&clone_lock);
        UTransliterator *t = utrans_clone(master, &e);
        pthread_mutex_unlock(&clone_lock);
        if (U_FAILURE(e)) {
            if (t)
                utrans_close(t);
            return NULL;
        }
        translit = t;
        pthread_setspecific(clone_key, t);
    }
    return translit;
}

/* A growing string; after a failed allocation it stays as it was and
 * remembers the failure. */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

/* Unique tokens, at most SEARCH_KEYS_TOKENS_MAX. */
struct tokset {
    char **v;
    size_t n;
    size_t limit;   /* how many may be added for now */
    int oom;
};

enum unit_kind { UNIT_HAN, UNIT_WORD };

/* A Han character or a word (a run of other letters and digits). */
struct unit {
    enum unit_kind kind;
    size_t off, len;      /* bytes, in the field's normalised text */
    char syl[SYL_SIZE];   /* Han: ICU's syllable, "" when it has none */
};

/* A field's normalised text, cut into units, with its pinyin variants. */
struct field {
    char *s;
    size_t len;
    struct unit u[UNITS_MAX];
    size_t nu;
    size_t nvar;
    size_t var_poly[VARIANTS_MAX];     /* which table entry ... */
    size_t var_reading[VARIANTS_MAX];  /* ... and which of its readings */
    char ovr[VARIANTS_MAX][UNITS_MAX][SYL_SIZE];  /* per unit, "" keeps ICU's */
};

int search_keys_init(void)
{
    static const char id[] = "Han-Latin; Latin-ASCII; Lower";
    UChar uid[sizeof id];
    UErrorCode e = U_ZERO_ERROR;

    if (master)
        return 0;
    u_charsToUChars(id, uid, (int32_t)sizeof id);
    master = utrans_openU(uid, -1, UTRANS_FORWARD, NULL, 0, NULL, &e);
    if (U_FAILURE(e)) {
        if (master)
            utrans_close(master);
        master = NULL;
        return -1;
    }
    if (pthread_key_create(&clone_key, clone_close) != 0) {
        utrans_close(master);
        master = NULL;
        return -1;
    }
    return 0;
}

void search_keys_shutdown(void)
{
    /* this thread's clone (the main thread's does not get a key destructor) */
    if (translit) {
        pthread_setspecific(clone_key, NULL);
        utrans_close(translit);
        translit = NULL;
    }
    if (master) {
        utrans_close(master);
        master = NULL;
        pthread_key_delete(clone_key);
    }
}

/* ---- strings ---- */

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_putc(struct sbuf *b, char c)
{
    sb_put(b, &c, 1);
}

static int utf8_valid(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        UChar32 c;
        U8_NEXT(p, i, n, c);
        if (c < 0)
            return 0;
    }
    return 1;
}

/* The longest prefix of valid UTF-8 s[0..n) that has at most max bytes and
 * ends on a character boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static int icu_error(UErrorCode e)
{
    return e == U_INVALID_CHAR_FOUND || e == U_ILLEGAL_CHAR_FOUND ? SEARCH_KEYS_EINVAL
                                                                  : SEARCH_KEYS_ENOMEM;
}

/* Turns white space and control characters into single spaces, drops them
 * at both ends; in place, returns the new length. */
static int32_t collapse_spaces(UChar *u, int32_t n)
{
    int32_t i = 0, o = 0;
    int space = 0;
    while (i < n) {
        UChar32 c;
        U16_NEXT(u, i, n, c);
        if (u_isUWhiteSpace(c) || u_iscntrl(c)) {
            space = o > 0;
            continue;
        }
        if (space)
            u[o++] = ' ';
        space = 0;
        U16_APPEND_UNSAFE(u, o, c);
    }
    return o;
}

/* NFKC with case folding, white space collapsed, trimmed; of the first
 * SEARCH_KEYS_FIELD_BYTES of valid UTF-8 s[0..n), and cut to that size
 * again. *out is malloc'd (possibly ""). */
static int normalise(const char *s, size_t n, char **out, size_t *outlen)
{
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *nfkc = unorm2_getNFKCCasefoldInstance(&e);
    UChar *a = NULL, *b = NULL;
    char *r = NULL;
    int32_t alen, blen, rlen;
    int rc = SEARCH_KEYS_ENOMEM;

    *out = NULL;
    *outlen = 0;
    if (U_FAILURE(e))
        return SEARCH_KEYS_ENOMEM;
    n = utf8_cut(s, n, SEARCH_KEYS_FIELD_BYTES);

    a = malloc((n + 1) * sizeof *a);    /* UTF-16 needs at most one unit per byte */
    if (!a)
        goto done;
    u_strFromUTF8(a, (int32_t)n + 1, &alen, s, (int32_t)n, &e);
    if (U_FAILURE(e))
        goto icu;

    blen = unorm2_normalize(nfkc, a, alen, NULL, 0, &e);
    if (U_FAILURE(e) && e != U_BUFFER_OVERFLOW_ERROR)
        goto icu;
    e = U_ZERO_ERROR;
    b = malloc(((size_t)blen + 1) * sizeof *b);
    if (!b)
        goto done;
    blen = unorm2_normalize(nfkc, a, alen, b, blen + 1, &e);
    if (U_FAILURE(e))
        goto icu;
    blen = collapse_spaces(b, blen);

    r = malloc((size_t)blen * 3 + 1);   /* three bytes at most per UTF-16 unit */
    if (!r)
        goto done;
    u_strToUTF8(r, blen * 3 + 1, &rlen, b, blen, &e);
    if (U_FAILURE(e))
        goto icu;
    rlen = (int32_t)utf8_cut(r, (size_t)rlen, SEARCH_KEYS_FIELD_BYTES);
    r[rlen] = 0;
    *out = r;
    *outlen = (size_t)rlen;
    r = NULL;
    rc = 0;
    goto done;
icu:
    rc = icu_error(e);
done:
    free(a);
    free(b);
    free(r);
    return rc;
}

static int is_han(UChar32 c)
{
    UErrorCode e = U_ZERO_ERROR;
    return uscript_getScript(c, &e) == USCRIPT_HAN;
}

static int is_word_char(UChar32 c)
{
    return !is_han(c) && (u_isalnum(c) || (U_GET_GC_MASK(c) & U_GC_M_MASK));
}

/* ---- pinyin ---- */

/* Whether u[0..n) is a syllable: 1 to 6 letters a-z. */
static int is_syllable(const UChar *u, int32_t n)
{
    if (n < 1 || n >= SYL_SIZE)
        return 0;
    for (int32_t i = 0; i < n; i++)
        if (u[i] < 'a' || u[i] > 'z')
            return 0;
    return 1;
}

static void set_syllable(char dst[SYL_SIZE], const UChar *u, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        dst[i] = (char)u[i];
    dst[n] = 0;
}

/* ICU's syllable for one Han character, "" when it has none. */
static void read_char(struct field *f, struct unit *u)
{
    UChar buf[32];
    int32_t len, limit;
    UErrorCode e = U_ZERO_ERROR;

    u->syl[0] = 0;
    u_strFromUTF8(buf, (int32_t)(sizeof buf / sizeof buf[0]), &len, f->s + u->off, (int32_t)u->len, &e);
    if (U_FAILURE(e))
        return;
    limit = len;
    utrans_transUChars(thread_translit(), buf, &len, (int32_t)(sizeof buf / sizeof buf[0]), 0, &limit, &e);
    if (U_FAILURE(e) || !is_syllable(buf, len))
        return;
    set_syllable(u->syl, buf, len);
}

/* ICU's syllables for the run of adjacent Han units u[first..first+count):
 * the whole run at once, so that ICU's context rules apply (重庆 is chong
 * qing, 重 alone zhong); one character at a time when the run's output does
 * not split into one syllable per character. */
static void read_run(struct field *f, size_t first, size_t count)
{
    UChar buf[UNITS_MAX * 8 + 8];
    const int32_t cap = (int32_t)(sizeof buf / sizeof buf[0]);
    struct unit *u = &f->u[first];
    size_t bytes = u[count - 1].off + u[count - 1].len - u[0].off;
    int32_t len, limit, i = 0;
    size_t k = 0;
    UErrorCode e = U_ZERO_ERROR;

    u_strFromUTF8(buf, cap, &len, f->s + u[0].off, (int32_t)bytes, &e);
    if (U_SUCCESS(e)) {
        limit = len;
        utrans_transUChars(thread_translit(), buf, &len, cap, 0, &limit, &e);
    }
    if (U_SUCCESS(e) && len < cap) {
        while (k < count && i < len) {
            int32_t start = i;
            while (i < len && buf[i] != ' ')
                i++;
            if (!is_syllable(buf + start, i - start))
                break;
            set_syllable(u[k++].syl, buf + start, i - start);
            if (i < len)
                i++;
        }
        if (k == count && i == len)
            return;
    }
    for (k = 0; k < count; k++)
        read_char(f, &u[k]);
}

/* Cuts the field's text into units (at most UNITS_MAX) and reads the Han ones. */
static void analyse(struct field *f)
{
    const uint8_t *p = (const uint8_t *)f->s;
    size_t i = 0;

    f->nu = 0;
    f->nvar = 0;
    while (i < f->len && f->nu < UNITS_MAX) {
        size_t start = i;
        UChar32 c;
        U8_NEXT(p, i, f->len, c);
        if (is_han(c)) {
            f->u[f->nu++] = (struct unit){ .kind = UNIT_HAN, .off = start, .len = i - start };
        } else if (u_isalnum(c)) {
            while (i < f->len) {
                size_t j = i;
                UChar32 d;
                U8_NEXT(p, j, f->len, d);
                if (!is_word_char(d))
                    break;
                i = j;
            }
            f->u[f->nu++] = (struct unit){ .kind = UNIT_WORD, .off = start, .len = i - start };
        }
    }
    for (size_t k = 0; k < f->nu;) {
        size_t n = 0;
        while (k + n < f->nu && f->u[k + n].kind == UNIT_HAN
               && (n == 0 || f->u[k + n].off == f->u[k + n - 1].off + f->u[k + n - 1].len))
            n++;
        if (n == 0) {
            k++;
            continue;
        }
        read_run(f, k, n);
        k += n;
    }
}

/* How many Han units the table key k spans, if it starts at unit i; 0 if not. */
static size_t key_at(const struct field *f, size_t i, const char *k)
{
    size_t klen = strlen(k), bytes = 0, n = 0;
    while (bytes < klen) {
        if (i + n >= f->nu)
            return 0;
        const struct unit *u = &f->u[i + n];
        if (u->kind != UNIT_HAN || u->off != f->u[i].off + bytes)
            return 0;
        bytes += u->len;
        n++;
    }
    return bytes == klen && memcmp(f->s + f->u[i].off, k, klen) == 0 ? n : 0;
}

/* The syllable number k (from 0) of reading r of a table entry, into dst;
 * 0 when the reading has fewer. */
static int reading_syllable(const struct poly *p, size_t r, size_t k, char dst[SYL_SIZE])
{
    const char *s = p->readings;
    for (; r > 0; r--) {
        s = strchr(s, '|');
        if (!s)
            return 0;
        s++;
    }
    for (; k > 0; k--) {
        while (*s && *s != ' ' && *s != '|')
            s++;
        if (*s != ' ')
            return 0;
        s++;
    }
    size_t n = strcspn(s, " |");
    if (n == 0 || n >= SYL_SIZE)
        return 0;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 1;
}

static size_t reading_count(const struct poly *p)
{
    size_t n = 1;
    for (const char *s = p->readings; *s; s++)
        n += *s == '|';
    return n;
}

/* Makes a variant for reading r of entry e, replacing every occurrence. */
static void add_variant(struct field *f, size_t e, size_t r)
{
    size_t v = f->nvar++;
    f->var_poly[v] = e;
    f->var_reading[v] = r;
    for (size_t i = 0; i < f->nu; i++)
        f->ovr[v][i][0] = 0;
    for (size_t i = 0; i < f->nu; i++) {
        size_t n = key_at(f, i, poly_table[e].key);
        for (size_t k = 0; k < n; k++)
            if (!reading_syllable(&poly_table[e], r, k, f->ovr[v][i + k]))
                f->ovr[v][i + k][0] = 0;
    }
}

/* Finds the polyphonic characters in order of first appearance and makes a
 * variant for each of their readings ICU did not give, up to VARIANTS_MAX. */
static void find_variants(struct field *f)
{
    for (size_t i = 0; i < f->nu; i++) {
        if (f->u[i].kind != UNIT_HAN)
            continue;
        for (size_t e = 0; e < POLY_COUNT; e++) {
            size_t n = key_at(f, i, poly_table[e].key);
            if (n == 0)
                continue;
            size_t nr = reading_count(&poly_table[e]);
            for (size_t r = 0; r < nr; r++) {
                int differs = 0, known = 0;
                for (size_t k = 0; k < n; k++) {
                    char syl[SYL_SIZE];
                    if (reading_syllable(&poly_table[e], r, k, syl) && strcmp(syl, f->u[i + k].syl) != 0)
                        differs = 1;
                }
                for (size_t v = 0; v < f->nvar; v++)
                    if (f->var_poly[v] == e && f->var_reading[v] == r)
                        known = 1;
                if (!differs || known)
                    continue;
                if (f->nvar == VARIANTS_MAX)
                    return;
                add_variant(f, e, r);
            }
        }
    }
}

static int field_open(struct field *f, const char *s)
{
    memset(f, 0, sizeof *f);
    int rc = normalise(s, strlen(s), &f->s, &f->len);
    if (rc < 0)
        return rc;
    analyse(f);
    find_variants(f);
    return 0;
}

/* Makes variant 0 the name as sorted: a compound or polyphonic surname read
 * as a surname (曾 zeng, not ICU's ceng), everything else as ICU reads it. */
static void surname_variant(struct field *f)
{
    f->nvar = 1;
    for (size_t i = 0; i < f->nu; i++)
        f->ovr[0][i][0] = 0;
    for (size_t e = 0; e < POLY_COUNT; e++) {
        if (!poly_table[e].surname)
            continue;
        size_t n = key_at(f, 0, poly_table[e].key);
        if (n == 0)
            continue;
        for (size_t k = 0; k < n; k++)
            if (!reading_syllable(&poly_table[e], 0, k, f->ovr[0][k]))
                f->ovr[0][k][0] = 0;
        return;
    }
}

static void field_close(struct field *f)
{
    free(f->s);
    f->s = NULL;
}

/* Unit i as written in pinyin form v (-1: ICU's readings): a Han unit's
 * syllable (the character itself when it has none), a word as it is. */
static void unit_spelling(const struct field *f, size_t i, int v, const char **p, size_t *n)
{
    const struct unit *u = &f->u[i];
    if (u->kind == UNIT_HAN) {
        const char *syl = v >= 0 && f->ovr[v][i][0] ? f->ovr[v][i] : u->syl;
        if (syl[0]) {
            *p = syl;
            *n = strlen(syl);
            return;
        }
    }
    *p = f->s + u->off;
    *n = u->len;
}

/* Pinyin form v of the field, syllables and words separated by spaces or not. */
static void form(const struct field *f, int v, int spaced, struct sbuf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
    for (size_t i = 0; i < f->nu; i++) {
        const char *p;
        size_t n;
        if (spaced && i > 0)
            sb_putc(b, ' ');
        unit_spelling(f, i, v, &p, &n);
        sb_put(b, p, n);
    }
}

/* Initials in form v: a syllable's first letter, a word's first character
 * (unless han_only). Returns how many units gave one. */
static size_t initials(const struct field *f, int v, int han_only, struct sbuf *b)
{
    size_t count = 0;
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
    for (size_t i = 0; i < f->nu; i++) {
        const struct unit *u = &f->u[i];
        if (u->kind == UNIT_HAN) {
            const char *syl = v >= 0 && f->ovr[v][i][0] ? f->ovr[v][i] : u->syl;
            if (!syl[0])
                continue;
            sb_putc(b, syl[0]);
        } else {
            if (han_only)
                continue;
            size_t n = 0;
            U8_FWD_1((const uint8_t *)f->s + u->off, n, u->len);
            sb_put(b, f->s + u->off, n);
        }
        count++;
    }
    return count;
}

/* ---- the text ---- */

struct text {
    struct sbuf b;
    size_t off[PIECES_MAX], len[PIECES_MAX];
    size_t npieces;
};

/* Appends a piece unless it is empty or already there. */
static void text_piece(struct text *t, const char *p, size_t n)
{
    if (n == 0 || t->b.oom)
        return;
    for (size_t i = 0; i < t->npieces; i++)
        if (t->len[i] == n && memcmp(t->b.p + t->off[i], p, n) == 0)
            return;
    if (t->b.len > 0)
        sb_put(&t->b, " | ", 3);
    if (t->npieces < PIECES_MAX) {
        t->off[t->npieces] = t->b.len;
        t->len[t->npieces] = n;
        t->npieces++;
    }
    sb_put(&t->b, p, n);
}

/* The field and its pinyin forms. */
static void text_field(struct text *t, const struct field *f, struct sbuf *tmp)
{
    text_piece(t, f->s, f->len);
    for (int v = -1; v < (int)f->nvar; v++) {
        form(f, v, 1, tmp);
        if (tmp->oom)
            return;
        text_piece(t, tmp->p, tmp->len);
        form(f, v, 0, tmp);
        if (tmp->oom)
            return;
        text_piece(t, tmp->p, tmp->len);
    }
}

/* ---- the tokens ---- */

static void tok_add(struct tokset *t, const char *p, size_t n)
{
    if (t->oom || n == 0 || n > SEARCH_KEYS_TOKEN_BYTES || t->n >= t->limit)
        return;
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->v[i]) == n && memcmp(t->v[i], p, n) == 0)
            return;
    char *s = malloc(n + 1);
    if (!s) {
        t->oom = 1;
        return;
    }
    memcpy(s, p, n);
    s[n] = 0;
    t->v[t->n++] = s;
}

/* Every Han character, and every pair of adjacent ones. */
static void tok_ngrams(struct tokset *t, const struct field *f)
{
    for (size_t i = 0; i < f->nu; i++) {
        const struct unit *u = &f->u[i];
        if (u->kind != UNIT_HAN)
            continue;
        tok_add(t, f->s + u->off, u->len);
        if (i + 1 < f->nu && u[1].kind == UNIT_HAN && u[1].off == u->off + u->len)
            tok_add(t, f->s + u->off, u->len + u[1].len);
    }
}

static void tok_initials(struct tokset *t, const struct field *f, int han_only, struct sbuf *tmp)
{
    for (int v = -1; v < (int)f->nvar; v++)
        if (initials(f, v, han_only, tmp) >= 2 && !tmp->oom)
            tok_add(t, tmp->p, tmp->len);
}

static void tok_words(struct tokset *t, const struct field *f)
{
    for (size_t i = 0; i < f->nu; i++)
        if (f->u[i].kind == UNIT_WORD)
            tok_add(t, f->s + f->u[i].off, f->u[i].len);
}

static void tok_name(struct tokset *t, const struct field *f, struct sbuf *tmp)
{
    tok_initials(t, f, 0, tmp);
    for (int v = -1; v < (int)f->nvar; v++) {
        form(f, v, 0, tmp);
        if (!tmp->oom && f->nu > 1)
            tok_add(t, tmp->p, tmp->len);
    }
    tok_ngrams(t, f);
    for (size_t i = 0; i < f->nu; i++) {
        if (f->u[i].kind != UNIT_HAN)
            continue;
        tok_add(t, f->u[i].syl, strlen(f->u[i].syl));
        for (size_t v = 0; v < f->nvar; v++)
            tok_add(t, f->ovr[v][i], strlen(f->ovr[v][i]));
    }
    tok_words(t, f);
}

static void tok_company(struct tokset *t, const struct field *f, struct sbuf *tmp)
{
    tok_ngrams(t, f);
    tok_initials(t, f, 1, tmp);
    tok_words(t, f);
}

/* ---- building ---- */

static void tok_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char *sort_key_of_field(struct field *f);

void search_keys_free(struct search_keys *k)
{
    if (!k)
        return;
    free(k->text);
    free(k->sort_key);
    k->sort_key = NULL;
    tok_free(k->tokens, k->ntokens);
    k->text = NULL;
    k->tokens = NULL;
    k->ntokens = 0;
}

static int check_utf8(const char *s)
{
    return !s || utf8_valid(s, strlen(s));
}

/* Every string of the input is valid UTF-8 (NULL counts as empty). */
static int input_valid(const struct search_keys_input *in)
{
    if (!check_utf8(in->name) || !check_utf8(in->company) || !check_utf8(in->email)
        || !check_utf8(in->id_number) || !check_utf8(in->ext_ref))
        return 0;
    for (size_t i = 0; i < in->nphones; i++)
        if (in->phones && !check_utf8(in->phones[i]))
            return 0;
    return 1;
}

/* A plain field (email, ID number, external reference): normalised, whole. */
static int text_plain(struct text *t, const char *s)
{
    char *n;
    size_t len;
    if (!s || !*s)
        return 0;
    int rc = normalise(s, strlen(s), &n, &len);
    if (rc < 0)
        return rc;
    text_piece(t, n, len);
    free(n);
    return 0;
}

/* A phone: its ASCII digits after normalising (full-width digits count). */
static int text_phone(struct text *t, const char *s)
{
    char *n, digits[SEARCH_KEYS_PHONE_DIGITS];
    size_t len, nd = 0;
    if (!s || !*s)
        return 0;
    int rc = normalise(s, strlen(s), &n, &len);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < len && nd < sizeof digits; i++)
        if (n[i] >= '0' && n[i] <= '9')
            digits[nd++] = n[i];
    free(n);
    text_piece(t, digits, nd);
    return 0;
}

int search_keys_build(const struct search_keys_input *in, struct search_keys *out)
{
    struct field *f = NULL;
    struct text *t = NULL;
    struct sbuf tmp = { 0 };
    struct tokset tok = { 0 };
    int rc = SEARCH_KEYS_ENOMEM;

    memset(out, 0, sizeof *out);
    if (!thread_translit() || !in || !input_valid(in))
        return SEARCH_KEYS_EINVAL;
    f = calloc(1, sizeof *f);
    t = calloc(1, sizeof *t);
    tok.v = malloc(SEARCH_KEYS_TOKENS_MAX * sizeof *tok.v);
    if (!f || !t || !tok.v)
        goto done;

    if (in->name && *in->name) {
        if ((rc = field_open(f, in->name)) < 0)
            goto done;
        text_field(t, f, &tmp);
        tok.limit = SEARCH_KEYS_NAME_TOKENS;
        tok_name(&tok, f, &tmp);
        /* the sort key from the same reading of the name: ICU is the cost */
        out->sort_key = sort_key_of_field(f);
        field_close(f);
        if (!out->sort_key) {
            rc = SEARCH_KEYS_ENOMEM;
            goto done;
        }
    }
    if (in->company && *in->company) {
        if ((rc = field_open(f, in->company)) < 0)
            goto done;
        text_field(t, f, &tmp);
        tok.limit = SEARCH_KEYS_TOKENS_MAX;
        tok_company(&tok, f, &tmp);
        field_close(f);
    }
    for (size_t i = 0; in->phones && i < in->nphones && i < SEARCH_KEYS_PHONES_MAX; i++)
        if ((rc = text_phone(t, in->phones[i])) < 0)
            goto done;
    /* not the ID number: it is stored encrypted, and found through its keyed hash */
    if ((rc = text_plain(t, in->email)) < 0 || (rc = text_plain(t, in->ext_ref)) < 0)
        goto done;

    rc = SEARCH_KEYS_ENOMEM;
    if (t->b.oom || tmp.oom || tok.oom)
        goto done;
    if (!t->b.p) {
        t->b.p = calloc(1, 1);
        if (!t->b.p)
            goto done;
    }
    if (!out->sort_key && !(out->sort_key = calloc(1, 1)))
        goto done;
    out->text = t->b.p;
    t->b.p = NULL;
    out->tokens = tok.v;
    out->ntokens = tok.n;
    tok.v = NULL;
    rc = 0;
done:
    if (rc < 0) {
        free(out->sort_key);
        out->sort_key = NULL;
    }
    if (f)
        field_close(f);
    free(f);
    if (t)
        free(t->b.p);
    free(t);
    free(tmp.p);
    tok_free(tok.v, tok.n);
    return rc;
}

char *search_keys_tokens_literal(const struct search_keys *k)
{
    size_t n = 3;
    for (size_t i = 0; i < k->ntokens; i++)
        n += 3 + 2 * strlen(k->tokens[i]);
    char *s = malloc(n), *o = s;
    if (!s)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < k->ntokens; i++) {
        if (i > 0)
            *o++ = ',';
        *o++ = '"';
        for (const char *p = k->tokens[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                *o++ = '\\';
            *o++ = *p;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = 0;
    return s;
}

/* The sort key of an opened field (surname_variant changes its variant 0:
 * call it last). NULL when out of memory. */
static char *sort_key_of_field(struct field *f)
{
    struct sbuf b = { 0 };
    if (f->len > 0) {
        surname_variant(f);
        form(f, 0, 1, &b);
        sb_putc(&b, '\t');
        sb_put(&b, f->s, f->len);
    } else {
        sb_put(&b, "", 0);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    b.len = utf8_cut(b.p, b.len, SEARCH_KEYS_SORT_KEY_BYTES);
    b.p[b.len] = 0;
    return b.p;
}

char *search_keys_sort_key(const char *name)
{
    char *out = NULL;
    if (!thread_translit() || !name || !utf8_valid(name, strlen(name)))
        return NULL;
    struct field *f = calloc(1, sizeof *f);
    if (f && field_open(f, name) == 0)
        out = sort_key_of_field(f);
    if (f)
        field_close(f);
    free(f);
    return out;
}

/* ---- the query ---- */

static int looks_like_phone(const char *s, size_t n)
{
    int digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits = 1;
        else if (!strchr(" +-().", s[i]))
            return 0;
    }
    return digits;
}

/* Keeps the bytes of s for which keep() holds, in place. */
static size_t filter(char *s, size_t n, int (*keep)(char))
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (keep(s[i]))
            s[o++] = s[i];
    s[o] = 0;
    return o;
}

static int is_digit_char(char c)
{
    return c >= '0' && c <= '9';
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit_char(s[i]))
            return 0;
    return 1;
}

static int not_space(char c)
{
    return c != ' ';
}

/* Counts the characters of s and says whether all but spaces are Han, all
 * Han or letters, all ASCII letters. */
static size_t classify(const char *s, size_t n, int *han, int *han_or_alpha, int *ascii_alpha)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, count = 0;
    *han = *han_or_alpha = *ascii_alpha = 1;
    while (i < n) {
        UChar32 c;
        U8_NEXT(p, i, n, c);
        count++;
        if (c == ' ')
            continue;
        int h = is_han(c);
        *han &= h;
        *han_or_alpha &= h || u_isalpha(c);
        *ascii_alpha &= c >= 'a' && c <= 'z';
    }
    return count;
}

int search_keys_query(const char *typed, struct search_keys_query *q)
{
    char *s;
    size_t n, count;
    int han, han_or_alpha, ascii_alpha, rc;

    memset(q, 0, sizeof *q);
    if (!typed)
        return SEARCH_KEYS_EEMPTY;
    n = strlen(typed);
    if (!utf8_valid(typed, n))
        return SEARCH_KEYS_EINVAL;
    if ((rc = normalise(typed, n, &s, &n)) < 0)
        return rc;

    classify(s, n, &han, &han_or_alpha, &ascii_alpha);
    if (looks_like_phone(s, n))
        n = filter(s, n, is_digit_char);
    else if (han)
        n = filter(s, n, not_space);
    count = classify(s, n, &han, &han_or_alpha, &ascii_alpha);

    rc = 0;
    if (n == 0) {
        rc = SEARCH_KEYS_EEMPTY;
    } else if (count <= 2) {
        if (han_or_alpha && strchr(s, ' ') == NULL) {
            q->modes = SEARCH_KEYS_BY_TOKEN;
            memcpy(q->token, s, n + 1);
        } else {
            rc = SEARCH_KEYS_ESHORT;
        }
    } else {
        size_t o = 0, i = 0;
        q->modes = SEARCH_KEYS_BY_TEXT;
        q->like[o++] = '%';
        while (i < n) {
            size_t j = i;
            U8_FWD_1((const uint8_t *)s, j, n);
            int esc = s[i] == '%' || s[i] == '_' || s[i] == '\\';
            if (o + (j - i) + esc + 2 > sizeof q->like)
                break;
            if (esc)
                q->like[o++] = '\\';
            memcpy(q->like + o, s + i, j - i);
            o += j - i;
            i = j;
        }
        q->like[o++] = '%';
        q->like[o] = 0;
        if (n >= SEARCH_KEYS_DIGITS_MIN && n <= SEARCH_KEYS_DIGITS_MAX && all_digits(s, n))
            memcpy(q->digits, s, n + 1);
        if (ascii_alpha) {
            n = filter(s, n, not_space);
            if (n <= SEARCH_KEYS_TOKEN_BYTES) {
                q->modes |= SEARCH_KEYS_BY_TOKEN;
                memcpy(q->token, s, n + 1);
            }
        }
    }
    free(s);
    return rc;
}
