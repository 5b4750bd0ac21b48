/* The CSV reader and writer: syntax, line numbers, every split point,
 * encodings (UTF-8 with and without BOM, GBK, UTF-16), limits, delimiter
 * detection, writer round trip, the formula guard, stopping and resuming,
 * and allocation failure at every allocation.
 *
 * csv.c is included rather than linked so that its allocations can be made
 * to fail; build with common/ on the include path. */
#include <errno.h>
#include <iconv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Allocation failure injection: after `alloc_left` successful allocations
 * (negative: unlimited) every allocation fails. */
static long alloc_left = -1;

static bool alloc_ok(void)
{
    if (alloc_left < 0)
        return true;
    if (alloc_left == 0)
        return false;
    alloc_left--;
    return true;
}

static void *t_malloc(size_t n)
{
    return alloc_ok() ? malloc(n) : NULL;
}

static void *t_calloc(size_t n, size_t size)
{
    return alloc_ok() ? calloc(n, size) : NULL;
}

static void *t_realloc(void *p, size_t n)
{
    return alloc_ok() ? realloc(p, n) : NULL;
}

#define malloc t_malloc
#define calloc t_calloc
#define realloc t_realloc
#include "csv.c"
#undef malloc
#undef calloc
#undef realloc

/* ---- helpers ----------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof tmp);
    sb_add(b, tmp, (size_t)n);
}

struct collect {
    struct sbuf out;
    long stop_every; /* stop after this many records (0: never) */
    long seen;
};

/* One record as "LINE:f1|f2|...\n" with \n \r \t | \ escaped. */
static int collect_cb(const char *const *f, const size_t *lens, size_t n, uint64_t line, void *arg)
{
    struct collect *c = arg;
    assert_true(n >= 1);
    sb_fmt(&c->out, "%llu:", (unsigned long long)line);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strlen(f[i]), lens[i]);
        if (i)
            sb_str(&c->out, "|");
        for (size_t j = 0; j < lens[i]; j++) {
            char ch = f[i][j];
            const char *esc = ch == '\n' ? "\\n" : ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : ch == '|' ? "\\|"
                            : ch == '\\' ? "\\\\" : NULL;
            if (esc)
                sb_str(&c->out, esc);
            else
                sb_add(&c->out, &ch, 1);
        }
    }
    sb_str(&c->out, "\n");
    c->seen++;
    return c->stop_every && c->seen % c->stop_every == 0;
}

struct opts {
    const struct csv_limits *lim;
    enum csv_encoding enc; /* forced, or UNKNOWN */
    char delim;            /* forced, or 0 */
    long stop_every;
};

/* Parses `n` bytes fed in pieces: cuts[] lists the offsets to cut at (sorted,
 * ncuts of them), or with step > 0 pieces of `step` bytes. Returns a dump of
 * the records followed by "=> rc [error]" and the encoding and delimiter. */
static char *parse_cuts(const void *data, size_t n, const size_t *cuts, size_t ncuts, size_t step,
                        const struct opts *o)
{
    static const struct opts none = { 0 };
    if (!o)
        o = &none;
    struct csv_reader *r = csv_reader_new(o->lim);
    assert_non_null(r);
    if (o->enc)
        assert_int_equal(csv_reader_set_encoding(r, o->enc), CSV_OK);
    if (o->delim)
        assert_int_equal(csv_reader_set_delimiter(r, o->delim), CSV_OK);
    struct collect c = { .stop_every = o->stop_every };
    const uint8_t *p = data;
    size_t off = 0, k = 0;
    int rc = CSV_OK;
    while (off < n && rc >= 0) {
        size_t end = n;
        if (step)
            end = off + step < n ? off + step : n;
        else if (k < ncuts)
            end = cuts[k++];
        rc = csv_reader_feed(r, p + off, end - off, collect_cb, &c);
        while (rc == CSV_STOPPED)
            rc = csv_reader_feed(r, NULL, 0, collect_cb, &c);
        off = end;
    }
    if (rc >= 0) {
        rc = csv_reader_finish(r, collect_cb, &c);
        while (rc == CSV_STOPPED)
            rc = csv_reader_finish(r, collect_cb, &c);
    }
    if (rc >= 0)
        assert_int_equal(csv_reader_bytes(r), n);
    sb_fmt(&c.out, "=> %d %s [%s %s]", rc, csv_reader_error(r), csv_encoding_name(csv_reader_encoding(r)),
           csv_reader_delimiter(r) == '\t' ? "tab" : csv_reader_delimiter(r) == ',' ? "comma" : "?");
    csv_reader_free(r);
    return c.out.p;
}

static char *parse_o(const void *data, size_t n, const struct opts *o)
{
    return parse_cuts(data, n, NULL, 0, 0, o);
}

static char *parse_str(const char *s)
{
    return parse_o(s, strlen(s), NULL);
}

static void expect(const char *input, const char *dump)
{
    char *got = parse_str(input);
    assert_string_equal(got, dump);
    free(got);
}

/* Same result for one piece, two pieces cut at every offset, pieces of 1 to
 * 7 bytes, and with the callback stopping after every record. */
static void expect_splits(const void *data, size_t n, const struct opts *o, const char *dump)
{
    char *whole = parse_o(data, n, o);
    if (dump)
        assert_string_equal(whole, dump);
    for (size_t cut = 0; cut <= n; cut++) {
        char *got = parse_cuts(data, n, &cut, 1, 0, o);
        if (strcmp(got, whole) != 0)
            fail_msg("cut at %zu:\n%s\n--- whole:\n%s", cut, got, whole);
        free(got);
    }
    for (size_t a = 1; a < n && a < 24; a++) /* three pieces */
        for (size_t b = a + 1; b < n; b++) {
            size_t cuts[2] = { a, b };
            char *got = parse_cuts(data, n, cuts, 2, 0, o);
            if (strcmp(got, whole) != 0)
                fail_msg("cuts at %zu,%zu:\n%s\n--- whole:\n%s", a, b, got, whole);
            free(got);
        }
    for (size_t step = 1; step <= 7; step++) {
        char *got = parse_cuts(data, n, NULL, 0, step, o);
        if (strcmp(got, whole) != 0)
            fail_msg("step %zu:\n%s\n--- whole:\n%s", step, got, whole);
        free(got);
    }
    struct opts so = o ? *o : (struct opts){ 0 };
    so.stop_every = 1;
    char *got = parse_cuts(data, n, NULL, 0, 3, &so);
    assert_string_equal(got, whole);
    free(got);
    free(whole);
}

/* iconv from UTF-8 into `to`; the caller frees. */
static char *convert(const char *to, const char *utf8, size_t *outlen)
{
    iconv_t cd = iconv_open(to, "UTF-8");
    assert_true(cd != (iconv_t)-1);
    size_t inleft = strlen(utf8), cap = inleft * 4 + 16, outleft = cap;
    char *out = malloc(cap), *op = out, *ip = (char *)utf8;
    assert_non_null(out);
    assert_true(iconv(cd, &ip, &inleft, &op, &outleft) != (size_t)-1);
    iconv_close(cd);
    *outlen = cap - outleft;
    return out;
}

/* ---- syntax ------------------------------------------------------------ */

static void test_quoted_fields(void **state)
{
    (void)state;
    expect("a,\"b,c\",\"d\"\"e\",\"f\ng\",\"\"\n",
           "1:a|b,c|d\"e|f\\ng|\n=> 0  [UTF-8 comma]");
    /* text after a closing quote, a stray quote inside an unquoted field,
     * spaces kept, a quote after a space starts no quoted field */
    expect("\"ab\"c,x\"y\"z, a , \"q\"\n", "1:abc|x\"y\"z| a | \"q\"\n=> 0  [UTF-8 comma]");
    /* trailing delimiter: one more empty field; a lone "" is an empty field */
    expect("a,b,\n\"\",x\n", "1:a|b|\n2:|x\n=> 0  [UTF-8 comma]");
    /* a quote pair right before the end of the file */
    expect("a,\"\"\"\"", "1:a|\"\n=> 0  [UTF-8 comma]");
}

static void test_line_ends(void **state)
{
    (void)state;
    const char *want = "1:a|b\n2:c|d e\n3:f|\n=> 0  [UTF-8 comma]";
    expect("a,b\nc,d e\nf,\n", want);
    expect("a,b\r\nc,d e\r\nf,\r\n", want);
    expect("a,b\rc,d e\rf,\r", want);
    expect("a,b\rc,d e\r\nf,", want);          /* mixed, no final line end */
    expect("a,b\n\rc,d e\r\n\nf,", "1:a|b\n3:c|d e\n5:f|\n=> 0  [UTF-8 comma]"); /* LF CR is two breaks */
    /* line breaks inside quotes are kept as they are */
    expect("\"x\r\ny\",\"p\rq\",\"m\nn\"\r\n", "1:x\\r\\ny|p\\rq|m\\nn\n=> 0  [UTF-8 comma]");
}

static void test_line_numbers(void **state)
{
    (void)state;
    expect("h1,h2\n"
           "\"x\ny\",2\n"
           "z,3\n"
           "\n"
           "\"p\r\nq\r\nr\",4\r\n"
           "\r\n"
           "\"s\rt\",\"u\n\nv\"\n"
           "last,5",
           "1:h1|h2\n2:x\\ny|2\n4:z|3\n6:p\\r\\nq\\r\\nr|4\n10:s\\rt|u\\n\\nv\n14:last|5\n=> 0  [UTF-8 comma]");
}

static void test_empty_lines_skipped(void **state)
{
    (void)state;
    expect("\n\r\n\ra,b\n\n\n,\n,,,\n\"\",\"\"\n\"\"\n  \nc\n\n",
           "4:a|b\n11:  \n12:c\n=> 0  [UTF-8 comma]");
    expect("", "=> 0  [UTF-8 comma]");
    expect("\n\n", "=> 0  [UTF-8 comma]");
    expect("x", "1:x\n=> 0  [UTF-8 comma]");
}

static void test_tab_delimiter(void **state)
{
    (void)state;
    expect("a\tb\tc\n1\t2,5\t3\n", "1:a|b|c\n2:1|2,5|3\n=> 0  [UTF-8 tab]");
    /* commas inside quotes do not count; leading empty lines are skipped */
    expect("\n\"a,b,c\"\t\"d,e\"\tf\nx\ty\tz\n", "2:a,b,c|d,e|f\n3:x|y|z\n=> 0  [UTF-8 tab]");
    /* a tie and neither: comma */
    expect("a\tb,c\n", "1:a\\tb|c\n=> 0  [UTF-8 comma]");
    expect("abc\nd,e\n", "1:abc\n2:d|e\n=> 0  [UTF-8 comma]");
    /* a quoted header spanning lines */
    expect("\"a\nb\"\t\"c\"\"d\"\tx\n", "1:a\\nb|c\"d|x\n=> 0  [UTF-8 tab]");
    /* forced */
    struct opts o = { .delim = ';' };
    char *got = parse_o("a;b,c\n", 6, &o);
    assert_string_equal(got, "1:a|b,c\n=> 0  [UTF-8 ?]");
    free(got);
}

/* A small file with everything that can be cut: BOM, multi-byte characters,
 * CRLF, quotes, doubled quotes, embedded line breaks, empty lines. */
static const char tricky[] = "\xEF\xBB\xBF"
                             "姓名,\"地址\",备注\r\n"
                             "张三,\"北京市\r\n朝阳区\",\"说\"\"你好\"\"\"\r\n"
                             "\r\n"
                             "李四,\"a,b\",\rx\"y,𠀀\n"
                             ",,\n"
                             "\"\"\"\",\"\",z";

static void test_split_everywhere(void **state)
{
    (void)state;
    expect_splits(tricky, sizeof tricky - 1, NULL,
                  "1:姓名|地址|备注\n"
                  "2:张三|北京市\\r\\n朝阳区|说\"你好\"\n"
                  "5:李四|a,b|\n"
                  "6:x\"y|𠀀\n"
                  "8:\"||z\n"
                  "=> 0  [UTF-8 comma]");
}

/* ---- encodings --------------------------------------------------------- */

static void test_bom(void **state)
{
    (void)state;
    expect("\xEF\xBB\xBFname,phone\n", "1:name|phone\n=> 0  [UTF-8 comma]");
    /* only the first mark is skipped; a lone BOM is an empty file */
    expect("\xEF\xBB\xBF\xEF\xBB\xBF" "a\n", "1:\xEF\xBB\xBF" "a\n=> 0  [UTF-8 comma]");
    expect("\xEF\xBB\xBF", "=> 0  [UTF-8 comma]");
    /* GB18030's own mark */
    size_t n;
    char *gb = convert("GB18030", "\xEF\xBB\xBF" "名,x\n", &n);
    assert_memory_equal(gb, "\x84\x31\x95\x33", 4);
    char *got = parse_o(gb, n, NULL);
    assert_string_equal(got, "1:名|x\n=> 0  [GB18030 comma]");
    free(got);
    free(gb);
    /* a forced encoding needs no mark, and skips its own */
    struct opts o = { .enc = CSV_ENC_UTF16LE };
    got = parse_o("a\0\t\0b\0", 6, &o);
    assert_string_equal(got, "1:a|b\n=> 0  [UTF-16LE tab]");
    free(got);
    got = parse_o("\xFF\xFE" "a\0", 4, &o);
    assert_string_equal(got, "1:a\n=> 0  [UTF-16LE comma]");
    free(got);
    /* a file cut inside what looked like a mark: a cut UTF-8 character */
    expect("\xEF\xBB", "=> -2 line 1: the file ends inside a UTF-8 character (byte 0) [UTF-8 comma]");
}

static void test_gbk(void **state)
{
    (void)state;
    const char *text = "姓名,电话,地址\n张三,13800138000,\"上海市,浦东新区\"\n李四,13900139000,广州\n";
    size_t n;
    char *gbk = convert("GBK", text, &n);
    assert_true(n < strlen(text)); /* really converted: two bytes per character */
    expect_splits(gbk, n, NULL,
                  "1:姓名|电话|地址\n2:张三|13800138000|上海市,浦东新区\n3:李四|13900139000|广州\n"
                  "=> 0  [GB18030 comma]");
    free(gbk);

    /* invalid GBK cut anywhere: the same error; a NUL after conversion */
    expect_splits("a\n\xD5\xC5,\x81\x0A", 7, NULL,
                  "1:a\n=> -2 line 2: not valid GB18030 at byte 5 (and not UTF-8 at byte 3) [GB18030 comma]");
    expect_splits("a\n\xD5\xC5,\x00\n", 7, NULL, "1:a\n=> -2 line 2: NUL character [GB18030 comma]");
    char *got = parse_o("a\0\n\xD5\xC5\n", 6, NULL);
    assert_string_equal(got, "=> -2 line 1: NUL byte at byte 1 (UTF-16 without a byte order mark?) [GB18030 comma]");
    free(got);

    /* the 4-byte GB18030 form (U+00E9, U+20000) converts too */
    gbk = convert("GB18030", "café,𠀀\n", &n);
    got = parse_o(gbk, n, NULL);
    assert_string_equal(got, "1:café|𠀀\n=> 0  [GB18030 comma]");
    free(got);
    free(gbk);
}

/* ASCII passes undecided, so GBK after a long ASCII prefix is still found. */
static void test_gbk_after_ascii(void **state)
{
    (void)state;
    struct sbuf b = { 0 };
    sb_str(&b, "id,name\n");
    for (int i = 0; i < 5000; i++)
        sb_fmt(&b, "%d,customer-%d\n", i, i);
    assert_true(b.len > CSV_DETECT_WINDOW);
    size_t n;
    char *gbk = convert("GBK", "5000,王五\n", &n);
    sb_add(&b, gbk, n);
    free(gbk);
    struct csv_reader *r = csv_reader_new(NULL);
    struct collect c = { 0 };
    assert_int_equal(csv_reader_feed(r, b.p, b.len, collect_cb, &c), CSV_OK);
    assert_int_equal(csv_reader_finish(r, collect_cb, &c), CSV_OK);
    assert_int_equal(csv_reader_encoding(r), CSV_ENC_GB18030);
    assert_non_null(strstr(c.out.p, "5002:5000|王五\n"));
    csv_reader_free(r);
    free(c.out.p);
    free(b.p);
}

static void test_utf16(void **state)
{
    (void)state;
    const char *text = "姓名\t电话\t备注\r\n张三\t13800138000\t\"a\tb\"\r\n𠀀\t\t,\r\n";
    const char *want = "1:姓名|电话|备注\n2:张三|13800138000|a\\tb\n3:𠀀||,\n=> 0  [UTF-16LE tab]";
    size_t n;
    char *u = convert("UTF-16LE", text, &n);
    char *file = malloc(n + 2);
    memcpy(file, "\xFF\xFE", 2);
    memcpy(file + 2, u, n);
    expect_splits(file, n + 2, NULL, want);
    free(u);
    free(file);

    u = convert("UTF-16BE", text, &n);
    file = malloc(n + 2);
    memcpy(file, "\xFE\xFF", 2);
    memcpy(file + 2, u, n);
    char *got = parse_o(file, n + 2, NULL);
    assert_string_equal(got, "1:姓名|电话|备注\n2:张三|13800138000|a\\tb\n3:𠀀||,\n=> 0  [UTF-16BE tab]");
    free(got);
    /* cut inside a character */
    got = parse_o(file, n + 1, NULL);
    assert_non_null(strstr(got, "the file ends inside a UTF-16BE character (byte"));
    free(got);
    free(u);
    free(file);

    /* a lone low surrogate */
    got = parse_o("\xFF\xFE" "a\0\n\0\x00\xDC" "b\0", 10, NULL);
    assert_string_equal(got, "1:a\n=> -2 line 2: not valid UTF-16LE at byte 6 [UTF-16LE comma]");
    free(got);
    /* UTF-16 without a mark: NUL */
    got = parse_o("a\0,\0b\0", 6, NULL);
    assert_string_equal(got, "=> -2 line 1: NUL byte at byte 1 (UTF-16 without a byte order mark?) [UTF-8 comma]");
    free(got);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    struct opts utf8 = { .enc = CSV_ENC_UTF8 };
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "a,b\nc,\xFF\n", "1:a|b\n=> -2 line 2: not valid UTF-8 at byte 6 (0xFF) [UTF-8 comma]" },
        { "a,b\nc,x\xC3(\n", "1:a|b\n=> -2 line 2: not valid UTF-8 at byte 7 (0xC3) [UTF-8 comma]" },
        { "a\n\n\xC0\x80\n", "1:a\n=> -2 line 3: not valid UTF-8 at byte 3 (0xC0) [UTF-8 comma]" }, /* overlong */
        { "\xED\xA0\x80\n", "=> -2 line 1: not valid UTF-8 at byte 0 (0xED) [UTF-8 comma]" },     /* surrogate */
        { "\xF4\x90\x80\x80\n", "=> -2 line 1: not valid UTF-8 at byte 0 (0xF4) [UTF-8 comma]" }, /* > U+10FFFF */
        { "\xE0\xA0\x80,\xE0\x9F\xBF\n", "=> -2 line 1: not valid UTF-8 at byte 4 (0xE0) [UTF-8 comma]" },
        { "\xF0\x90\x80\x80,\xF0\x8F\xBF\xBF\n", "=> -2 line 1: not valid UTF-8 at byte 5 (0xF0) [UTF-8 comma]" },
        { "\xC2\x80\xDF\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF\xEE\x80\x80\n",
          "1:\xC2\x80\xDF\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF\xEE\x80\x80\n=> 0  [UTF-8 comma]" }, /* edges */
        { "a\n张\xE4\xB8", "1:a\n=> -2 line 2: the file ends inside a UTF-8 character (byte 5) [UTF-8 comma]" },
        { "\xEF\xBB\xBF" "a\nb\xFF", "1:a\n=> -2 line 2: not valid UTF-8 at byte 6 (0xFF) [UTF-8 comma]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = parse_o(cases[i].in, strlen(cases[i].in), &utf8);
        assert_string_equal(got, cases[i].want);
        free(got);
        expect_splits(cases[i].in, strlen(cases[i].in), &utf8, cases[i].want);
    }

    /* detected: valid UTF-8 in the first 64 KiB, then a bad byte */
    struct sbuf b = { 0 };
    sb_str(&b, "名字,备注\n");
    int lines = 1;
    while (b.len < CSV_DETECT_WINDOW + 1000) {
        sb_str(&b, "张三,北京市朝阳区\n");
        lines++;
    }
    size_t bad = b.len + strlen("李四,");
    sb_str(&b, "李四,\xC4\xE3\n");
    char want[200];
    snprintf(want, sizeof want, "=> -2 line %d: not valid UTF-8 at byte %zu (0xC4) [UTF-8 comma]", lines + 1, bad);
    char *got = parse_o(b.p, b.len, NULL);
    assert_non_null(strstr(got, want));
    free(got);
    free(b.p);

    /* detected: a cut character at the very end is valid so far, then an error */
    got = parse_str("a\n张\xE4\xB8");
    assert_string_equal(got, "1:a\n=> -2 line 2: the file ends inside a UTF-8 character (byte 5) [UTF-8 comma]");
    free(got);
    /* neither UTF-8 nor GB18030 */
    got = parse_str("a\nb,\x80\n");
    assert_string_equal(got, "1:a\n=> -2 line 2: not valid GB18030 at byte 4 (and not UTF-8 at byte 4) [GB18030 comma]");
    free(got);
    /* GBK cut in the middle of a character */
    got = parse_str("a\n\xD5\xC5\xD5");
    assert_string_equal(got, "1:a\n=> -2 line 2: the file ends inside a GB18030 character (byte 4) [GB18030 comma]");
    free(got);
}

/* ---- limits and errors ------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    struct csv_limits lim = { .max_field = 4, .max_fields = 3, .max_record = 8 };
    struct opts o = { .lim = &lim };
    static const struct {
        bool defaults;
        const char *in, *want;
    } cases[] = {
        { false, "abcd,x\nabcde\n", "1:abcd|x\n=> -4 line 2, field 1: longer than 4 bytes [unknown comma]" },
        { false, "a,b,c\n\na,b,c,d\n", "1:a|b|c\n=> -4 line 3: more than 3 fields [unknown comma]" },
        { false, "a,b,c,\n", "=> -4 line 1: more than 3 fields [unknown comma]" },
        { false, "abcd,abcd\nabcd,abcd,x\n", "1:abcd|abcd\n=> -4 line 2: record longer than 8 bytes [unknown comma]" },
        { false, "x\n\"ab\ncd\nef\n", "1:x\n=> -4 line 2, field 1: longer than 4 bytes"
                               " (is the quote opened on line 2 closed?) [unknown comma]" },
        { false, "\"\"\"\"\"\"\"\"\"\"", "1:\"\"\"\"\n=> 0  [UTF-8 comma]" }, /* 4 quotes fit */
        { false, "\"\"\"\"\"\"\"\"\"\"\"\"", "=> -4 line 1, field 1: longer than 4 bytes [unknown comma]" },
        { true, "a\n\"x\",\"unterminated\n", "1:a\n=> -3 line 2: unterminated quoted field [UTF-8 comma]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct opts oo = o;
        if (cases[i].defaults)
            oo.lim = NULL;
        expect_splits(cases[i].in, strlen(cases[i].in), &oo, cases[i].want);
    }

    /* the default field limit */
    size_t big = CSV_DEFAULT_MAX_FIELD + 1;
    char *s = malloc(big + 8);
    memset(s, 'x', big);
    memcpy(s + big, "\n", 2);
    char *got = parse_o(s, big + 1, NULL);
    assert_string_equal(got, "=> -4 line 1, field 1: longer than 65536 bytes [unknown comma]");
    free(got);
    s[big - 1] = '\n'; /* exactly at the limit is fine */
    got = parse_o(s, big, NULL);
    assert_int_equal(strlen(got), 2 + CSV_DEFAULT_MAX_FIELD + 1 + strlen("=> 0  [UTF-8 comma]"));
    free(got);
    free(s);

    /* errors are sticky */
    struct csv_reader *r = csv_reader_new(&lim);
    assert_int_equal(csv_reader_feed(r, "abcdef\n", 7, NULL, NULL), CSV_ERR_LIMIT);
    assert_int_equal(csv_reader_feed(r, "a\n", 2, NULL, NULL), CSV_ERR_LIMIT);
    assert_int_equal(csv_reader_finish(r, NULL, NULL), CSV_ERR_LIMIT);
    assert_string_equal(csv_reader_error(r), "line 1, field 1: longer than 4 bytes");
    csv_reader_free(r);
}

static void test_usage(void **state)
{
    (void)state;
    struct csv_reader *r = csv_reader_new(NULL);
    assert_string_equal(csv_reader_error(r), "");
    assert_int_equal(csv_reader_encoding(r), CSV_ENC_UNKNOWN);
    assert_int_equal(csv_reader_delimiter(r), 0);
    assert_int_equal(csv_reader_set_delimiter(r, '"'), CSV_ERR_USAGE);
    assert_int_equal(csv_reader_set_delimiter(r, '\n'), CSV_ERR_USAGE);
    assert_int_equal(csv_reader_set_delimiter(r, (char)0xA1), CSV_ERR_USAGE);
    assert_int_equal(csv_reader_set_encoding(r, (enum csv_encoding)42), CSV_ERR_USAGE);
    assert_int_equal(csv_reader_feed(r, "a,b", 3, NULL, NULL), CSV_OK);
    assert_int_equal(csv_reader_encoding(r), CSV_ENC_UNKNOWN); /* only ASCII yet */
    assert_int_equal(csv_reader_set_delimiter(r, '\t'), CSV_ERR_USAGE);
    assert_int_equal(csv_reader_set_encoding(r, CSV_ENC_UTF8), CSV_ERR_USAGE);
    assert_int_equal(csv_reader_finish(r, NULL, NULL), CSV_OK);
    assert_int_equal(csv_reader_finish(r, NULL, NULL), CSV_OK);
    assert_int_equal(csv_reader_encoding(r), CSV_ENC_UTF8);
    assert_int_equal(csv_reader_feed(r, "x", 1, NULL, NULL), CSV_ERR_USAGE);
    assert_int_equal(csv_reader_bytes(r), 3);
    csv_reader_free(r);
    csv_reader_free(NULL);

    /* forced GB18030 on bytes that are also UTF-8 */
    struct opts o = { .enc = CSV_ENC_GB18030 };
    char *got = parse_o("\xC4\xE3,\xE4\xBD\xA0\n", 7, &o);
    assert_string_equal(got, "=> -2 line 1: not valid GB18030 at byte 5 [GB18030 comma]");
    free(got);
}

static int reenter_cb(const char *const *f, const size_t *lens, size_t n, uint64_t line, void *arg)
{
    struct csv_reader *r = arg;
    assert_int_equal(csv_reader_feed(r, "x\n", 2, NULL, NULL), CSV_ERR_USAGE);
    assert_int_equal(csv_reader_finish(r, NULL, NULL), CSV_ERR_USAGE);
    return 0;
}

static void test_stop_and_resume(void **state)
{
    (void)state;
    /* stopping is covered by expect_splits; here: the exact protocol */
    struct csv_reader *r = csv_reader_new(NULL);
    struct collect c = { .stop_every = 1 };
    assert_int_equal(csv_reader_feed(r, "a\nb\nc", 5, collect_cb, &c), CSV_STOPPED);
    assert_string_equal(c.out.p, "1:a\n");
    assert_int_equal(csv_reader_feed(r, NULL, 0, collect_cb, &c), CSV_STOPPED);
    assert_int_equal(csv_reader_feed(r, NULL, 0, collect_cb, &c), CSV_OK);
    assert_string_equal(c.out.p, "1:a\n2:b\n");
    assert_int_equal(csv_reader_finish(r, collect_cb, &c), CSV_STOPPED);
    assert_string_equal(c.out.p, "1:a\n2:b\n3:c\n");
    assert_int_equal(csv_reader_finish(r, collect_cb, &c), CSV_OK);
    csv_reader_free(r);
    free(c.out.p);

    r = csv_reader_new(NULL);
    assert_int_equal(csv_reader_feed(r, "a\n", 2, reenter_cb, r), CSV_OK);
    assert_int_equal(csv_reader_finish(r, reenter_cb, r), CSV_OK);
    csv_reader_free(r);
}

/* ---- writer ------------------------------------------------------------ */

static char *write_records(const char *const *fields, size_t nf, size_t per_record)
{
    struct csv_writer w;
    csv_writer_init(&w);
    assert_int_equal(csv_writer_bom(&w), CSV_OK);
    for (size_t i = 0; i < nf; i++) {
        assert_int_equal(csv_writer_str(&w, fields[i]), CSV_OK);
        if ((i + 1) % per_record == 0)
            assert_int_equal(csv_writer_end_record(&w), CSV_OK);
    }
    char *s = strndup(w.data, w.len);
    csv_writer_free(&w);
    return s;
}

static int unguard_cb(const char *const *f, const size_t *lens, size_t n, uint64_t line, void *arg)
{
    const char *const **next = arg;
    for (size_t i = 0; i < n; i++) {
        size_t skip = csv_unguard(f[i], lens[i]);
        assert_string_equal(f[i] + skip, **next);
        (*next)++;
    }
    return 0;
}

static void test_writer_round_trip(void **state)
{
    (void)state;
    static const char *const fields[] = {
        "ID", "姓名", "备注", "x",
        "张三", "a,b", "say \"hi\"", "",
        "line1\nline2", "cr\rlf\r\n", " lead", "trail ",
        "=1+2", "-12.50", "+8613800138000", "@SUM(A1)",
        "'=x", "''-y", "\tTAB", "\rCR",
        "-", "+86 138 0013 8000", "-1+1", "'",
        "tab\tinside", "\"", "\"\"", "𠀀,\"",
        "", "", "", "z", /* empty fields but not an empty record */
    };
    size_t nf = sizeof fields / sizeof fields[0];
    char *csv = write_records(fields, nf, 4);
    const char *const *next = fields;
    struct csv_reader *r = csv_reader_new(NULL);
    assert_int_equal(csv_reader_feed(r, csv, strlen(csv), unguard_cb, &next), CSV_OK);
    assert_int_equal(csv_reader_finish(r, unguard_cb, &next), CSV_OK);
    assert_ptr_equal(next, fields + nf);
    assert_int_equal(csv_reader_encoding(r), CSV_ENC_UTF8);
    assert_int_equal(csv_reader_delimiter(r), ',');
    csv_reader_free(r);
    free(csv);

    /* the exact bytes */
    static const char *const small[] = { "ID", "a b", "=1", "-3.5", "x,\"y\"", " s", "" };
    csv = write_records(small, 7, 7);
    assert_string_equal(csv, "\xEF\xBB\xBF\"ID\",a b,'=1,-3.5,\"x,\"\"y\"\"\",\" s\",\r\n");
    free(csv);
    static const char *const lone[] = { "", "ID" };
    csv = write_records(lone, 2, 1);
    assert_string_equal(csv, "\xEF\xBB\xBF\"\"\r\nID\r\n"); /* "ID" is quoted only at the start */
    free(csv);

    /* tab-delimited, reset after draining, a record of no fields */
    struct csv_writer w;
    csv_writer_init(&w);
    w.delim = '\t';
    const char *f3[] = { "a", "b c", "d\te" };
    size_t l3[] = { 1, 3, 3 };
    assert_int_equal(csv_writer_record(&w, f3, l3, 3), CSV_OK);
    assert_int_equal(w.len, strlen("a\tb c\t\"d\te\"\r\n"));
    assert_memory_equal(w.data, "a\tb c\t\"d\te\"\r\n", w.len);
    csv_writer_reset(&w);
    assert_int_equal(w.len, 0);
    assert_int_equal(csv_writer_end_record(&w), CSV_OK);
    assert_memory_equal(w.data, "\"\"\r\n", 4);
    assert_int_equal(csv_writer_field(&w, NULL, 0), CSV_OK);
    assert_int_equal(w.records, 2);
    csv_writer_free(&w);
}

static void test_formula_guard(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int guard;
    } cases[] = {
        { "=1+2", 1 }, { "+1+2", 1 }, { "-1+2", 1 }, { "@A1", 1 }, { "\t1", 1 }, { "\r1", 1 },
        { "=", 1 }, { "-", 1 }, { "+", 1 }, { "-1e5", 1 }, { "-1,234", 1 }, { "+86 138", 1 },
        { "-.5", 1 }, { "-5.", 1 }, { "--5", 1 }, { "-12.5.0", 1 }, { "'=x", 1 }, { "''@x", 1 },
        { "-12.50", 0 }, { "+8613800138000", 0 }, { "42", 0 }, { "-0", 0 }, { "+3.14", 0 },
        { "'-12.50", 0 }, { "'", 0 }, { "''", 0 }, { "", 0 }, { "abc", 0 }, { " =1", 0 },
        { "a=b", 0 }, { "张三", 0 }, { "\n=1", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i].s;
        if (csv_needs_guard(s, strlen(s)) != cases[i].guard)
            fail_msg("guard(\"%s\") != %d", s, cases[i].guard);
        /* unguarding what the writer would write gives the value back */
        char buf[64];
        snprintf(buf, sizeof buf, "%s%s", cases[i].guard ? "'" : "", s);
        assert_int_equal(csv_unguard(buf, strlen(buf)), cases[i].guard);
    }
    assert_int_equal(csv_unguard("'abc", 4), 0); /* an apostrophe of the user's own */
    assert_int_equal(csv_unguard(NULL, 0), 0);
}

/* ---- allocation failure ------------------------------------------------ */

/* Every allocation in turn fails: no crash, no leak, CSV_ERR_NOMEM or the
 * same result as without failures. */
static void test_out_of_memory(void **state)
{
    (void)state;
    size_t n;
    char *gbk = convert("GBK", "姓名,电话\n张三,13800138000\n\"李\"\"四\",\"x\ny\"\n", &n);
    const void *inputs[] = { tricky, gbk };
    size_t lens[] = { sizeof tricky - 1, n };
    for (size_t k = 0; k < 2; k++) {
        char *want = parse_cuts(inputs[k], lens[k], NULL, 0, 5, NULL);
        bool completed = false;
        for (long budget = 0; !completed; budget++) {
            assert_true(budget < 1000);
            struct csv_reader *r = NULL;
            struct collect c = { 0 };
            alloc_left = budget;
            r = csv_reader_new(NULL);
            int rc = r ? CSV_OK : CSV_ERR_NOMEM;
            for (size_t off = 0; rc == CSV_OK && off < lens[k]; off += 5)
                rc = csv_reader_feed(r, (const char *)inputs[k] + off, lens[k] - off < 5 ? lens[k] - off : 5,
                                     collect_cb, &c);
            if (rc == CSV_OK)
                rc = csv_reader_finish(r, collect_cb, &c);
            alloc_left = -1;
            if (rc == CSV_OK) {
                completed = true;
                assert_int_equal(strncmp(want, c.out.p, c.out.len), 0);
            } else {
                assert_int_equal(rc, CSV_ERR_NOMEM);
                if (r)
                    assert_string_equal(csv_reader_error(r), "out of memory");
            }
            csv_reader_free(r);
            free(c.out.p);
        }
        free(want);
    }
    free(gbk);

    /* the writer */
    bool completed = false;
    for (long budget = 0; !completed; budget++) {
        struct csv_writer w;
        csv_writer_init(&w);
        alloc_left = budget;
        int rc = csv_writer_bom(&w);
        for (int i = 0; i < 2000 && rc == CSV_OK; i++)
            rc = i % 7 == 6 ? csv_writer_end_record(&w) : csv_writer_str(&w, "=x,\"y\"");
        alloc_left = -1;
        if (rc == CSV_OK)
            completed = true;
        else {
            assert_int_equal(rc, CSV_ERR_NOMEM);
            assert_int_equal(csv_writer_str(&w, "a"), CSV_ERR_NOMEM);
        }
        csv_writer_free(&w);
    }
}

/* Long digit strings survive Excel as text, and come back as they were. */
static void test_excel_digits(void **state)
{
    (void)state;
    struct csv_writer w;
    csv_writer_init(&w);
    csv_writer_digits(&w, "11010519491231002", 17);
    csv_writer_digits(&w, "0216", 4);
    csv_writer_digits(&w, "12345", 5);
    csv_writer_digits(&w, "1380013800X", 11);
    csv_writer_end_record(&w);
    assert_int_equal(w.len, strlen("\"=\"\"11010519491231002\"\"\",\"=\"\"0216\"\"\",12345,1380013800X\r\n"));
    assert_memory_equal(w.data, "\"=\"\"11010519491231002\"\"\",\"=\"\"0216\"\"\",12345,1380013800X\r\n", w.len);
    size_t inner;
    const char *f = "=\"11010519491231002\"";
    assert_int_equal(csv_excel_text(f, strlen(f), &inner), 2);
    assert_int_equal(inner, 17);
    assert_int_equal(csv_excel_text("=\"abc\"", 6, &inner), 0); /* only digits are unwrapped */
    assert_int_equal(inner, 6);
    csv_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoted_fields),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_line_numbers),
        cmocka_unit_test(test_empty_lines_skipped),
        cmocka_unit_test(test_tab_delimiter),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_gbk),
        cmocka_unit_test(test_gbk_after_ascii),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_stop_and_resume),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_formula_guard),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_excel_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
