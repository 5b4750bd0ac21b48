/* Unit tests for client/cli/out.c: JSON writer, money, display width,
 * tables, key/value records, errors, dates. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "out.h"

/* ---- Capturing a FILE* ----------------------------------------------------- */

struct capture {
    FILE *f;
    char *buf;
    size_t len;
};

static void cap_open(struct capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

/* Closes the stream; c->buf holds everything written (free it). */
static char *cap_close(struct capture *c)
{
    assert_int_equal(fclose(c->f), 0);
    return c->buf;
}

/* ---- JSON ------------------------------------------------------------------ */

static char *json_of_string(const char *s, size_t len)
{
    struct capture c;
    struct json_w w;
    cap_open(&c);
    json_init(&w, c.f, 0);
    json_str_n(&w, s, len);
    assert_int_equal(json_finish(&w), 0);
    return cap_close(&c);
}

static void test_json_escaping(void **state)
{
    (void)state;
    const char in[] = "a\"b\\c\n\t\r\b\f\x01\x1f\x7f 张三/";
    char *out = json_of_string(in, strlen(in));
    assert_string_equal(out, "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f 张三/\"\n");
    free(out);

    /* an embedded NUL with json_str_n */
    out = json_of_string("x\0y", 3);
    assert_string_equal(out, "\"x\\u0000y\"\n");
    free(out);

    /* C1 control U+0085 escaped, U+00E9 passed through */
    out = json_of_string("\xC2\x85\xC3\xA9", 4);
    assert_string_equal(out, "\"\\u0085\xC3\xA9\"\n");
    free(out);

    /* 4-byte UTF-8 passes through */
    out = json_of_string("\xF0\x9F\x98\x80", 4);
    assert_string_equal(out, "\"\xF0\x9F\x98\x80\"\n");
    free(out);
}

static void test_json_invalid_utf8(void **state)
{
    (void)state;
#define FFFD "\xEF\xBF\xBD"
    struct {
        const char *in, *out;
    } cases[] = {
        {"a\xFF" "b", "\"a" FFFD "b\"\n"},                       /* never valid */
        {"\xC3", "\"" FFFD "\"\n"},                              /* truncated at end */
        {"\xE5\xBC" "x", "\"" FFFD FFFD "x\"\n"},               /* truncated inside */
        {"\xC0\xAF", "\"" FFFD FFFD "\"\n"},                     /* overlong '/' */
        {"\xED\xA0\x80", "\"" FFFD FFFD FFFD "\"\n"},            /* surrogate */
        {"\xF4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"\n"},   /* > U+10FFFF */
        {"\x80" "张", "\"" FFFD "张\"\n"},                        /* stray continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = json_of_string(cases[i].in, strlen(cases[i].in));
        assert_string_equal(out, cases[i].out);
        free(out);
    }
#undef FFFD
}

static void write_sample(struct json_w *w)
{
    json_begin_object(w);
    json_kint(w, "a", 1);
    json_key(w, "b");
    json_begin_array(w);
    json_bool(w, 1);
    json_null(w);
    json_begin_object(w);
    json_end_object(w);
    json_int(w, INT64_MIN);
    json_uint(w, UINT64_MAX);
    json_end_array(w);
    json_key(w, "c");
    json_begin_array(w);
    json_end_array(w);
    json_kstr(w, "name", "张三");
    json_kstr(w, "none", NULL);
    json_kmoney(w, "amount", -5);
    json_end_object(w);
}

static void test_json_nesting_pretty(void **state)
{
    (void)state;
    struct capture c;
    struct json_w w;
    cap_open(&c);
    json_init(&w, c.f, 1);
    write_sample(&w);
    assert_int_equal(json_finish(&w), 0);
    char *out = cap_close(&c);
    assert_string_equal(out,
        "{\n"
        "  \"a\": 1,\n"
        "  \"b\": [\n"
        "    true,\n"
        "    null,\n"
        "    {},\n"
        "    -9223372036854775808,\n"
        "    18446744073709551615\n"
        "  ],\n"
        "  \"c\": [],\n"
        "  \"name\": \"张三\",\n"
        "  \"none\": null,\n"
        "  \"amount\": \"-0.05\"\n"
        "}\n");
    free(out);
}

static void test_json_nesting_compact(void **state)
{
    (void)state;
    struct capture c;
    struct json_w w;
    cap_open(&c);
    json_init(&w, c.f, 0);
    write_sample(&w);
    assert_int_equal(json_finish(&w), 0);
    char *out = cap_close(&c);
    assert_string_equal(out,
        "{\"a\":1,\"b\":[true,null,{},-9223372036854775808,18446744073709551615],"
        "\"c\":[],\"name\":\"张三\",\"none\":null,\"amount\":\"-0.05\"}\n");
    free(out);
}

static void test_json_scalar_document(void **state)
{
    (void)state;
    struct capture c;
    struct json_w w;
    cap_open(&c);
    json_init(&w, c.f, 1);
    json_begin_array(&w);
    json_end_array(&w);
    assert_int_equal(json_finish(&w), 0);
    char *out = cap_close(&c);
    assert_string_equal(out, "[]\n");
    free(out);
}

static int misuse(int which)
{
    struct capture c;
    struct json_w w;
    cap_open(&c);
    json_init(&w, c.f, 1);
    switch (which) {
    case 0: /* value without key */
        json_begin_object(&w);
        json_int(&w, 1);
        json_end_object(&w);
        break;
    case 1: /* two top-level values */
        json_int(&w, 1);
        json_int(&w, 2);
        break;
    case 2: /* mismatched end */
        json_begin_object(&w);
        json_end_array(&w);
        break;
    case 3: /* unfinished */
        json_begin_array(&w);
        break;
    case 4: /* key outside an object */
        json_begin_array(&w);
        json_key(&w, "k");
        json_end_array(&w);
        break;
    case 5: /* key then end */
        json_begin_object(&w);
        json_key(&w, "k");
        json_end_object(&w);
        break;
    case 6: /* nothing */
        break;
    case 7: /* one level too deep */
        for (int i = 0; i <= JSON_MAX_DEPTH; i++)
            json_begin_array(&w);
        for (int i = 0; i <= JSON_MAX_DEPTH; i++)
            json_end_array(&w);
        break;
    case 8: /* exactly the limit is fine */
        for (int i = 0; i < JSON_MAX_DEPTH; i++)
            json_begin_array(&w);
        for (int i = 0; i < JSON_MAX_DEPTH; i++)
            json_end_array(&w);
        break;
    }
    int rc = json_finish(&w);
    free(cap_close(&c));
    return rc;
}

static void test_json_misuse(void **state)
{
    (void)state;
    for (int i = 0; i <= 7; i++)
        assert_int_equal(misuse(i), -1);
    assert_int_equal(misuse(8), 0);
}

static char *json_of_double(double v)
{
    struct capture c;
    struct json_w w;
    cap_open(&c);
    json_init(&w, c.f, 0);
    json_double(&w, v);
    assert_int_equal(json_finish(&w), 0);
    return cap_close(&c);
}

static void test_json_double(void **state)
{
    (void)state;
    struct {
        double v;
        const char *out;
    } cases[] = {
        {0.05, "0.05\n"},
        {0.48, "0.48\n"},
        {1.0, "1\n"},
        {-2.5, "-2.5\n"},
        {0.1 + 0.2, "0.30000000000000004\n"},
        {1.0 / 3.0, "0.3333333333333333\n"},
        {1e300, "1e+300\n"},
        {NAN, "null\n"},
        {INFINITY, "null\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = json_of_double(cases[i].v);
        assert_string_equal(out, cases[i].out);
        if (isfinite(cases[i].v))
            assert_true(strtod(out, NULL) == cases[i].v);
        free(out);
    }
}

/* json_raw inside {"k": ...}: the document written, and json_raw's result. */
static char *json_of_raw(const char *text, int pretty, int *rc)
{
    struct capture c;
    struct json_w w;
    cap_open(&c);
    json_init(&w, c.f, pretty);
    json_begin_object(&w);
    *rc = json_kraw(&w, "k", text);
    json_end_object(&w);
    assert_int_equal(json_finish(&w), 0);
    return cap_close(&c);
}

static void test_json_raw(void **state)
{
    (void)state;
    int rc;
    /* re-laid out like the rest of the document; tokens kept as spelled */
    char *out = json_of_raw(" {\"a\" : [1, -0.5e+3, true,null, {}], \"b\\u00e9\":\"张\\n\", \"c\": []}\n", 1, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out,
        "{\n"
        "  \"k\": {\n"
        "    \"a\": [\n"
        "      1,\n"
        "      -0.5e+3,\n"
        "      true,\n"
        "      null,\n"
        "      {}\n"
        "    ],\n"
        "    \"b\\u00e9\": \"张\\n\",\n"
        "    \"c\": []\n"
        "  }\n"
        "}\n");
    free(out);
    out = json_of_raw("{\"a\": {\"b\": [0, 12.25]}}", 0, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "{\"k\":{\"a\":{\"b\":[0,12.25]}}}\n");
    free(out);
    out = json_of_raw("\"x\"", 0, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "{\"k\":\"x\"}\n");
    free(out);
    out = json_of_raw(NULL, 0, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "{\"k\":null}\n");
    free(out);

    /* not one valid JSON value: written as a string, -1 */
    static const char *const bad[] = {
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "-", "1e", "+1",
        "tru", "nulls", "1 2", "[1] x", "\"a", "\"\\x\"", "\"\\u12g4\"", "\"\x01\"", "\"\xff\"", "'a'", "NaN",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = json_of_raw(bad[i], 0, &rc);
        assert_int_equal(rc, -1);
        assert_memory_equal(out, "{\"k\":\"", 6);
        free(out);
    }

    /* nesting: up to what the writer allows at that depth (one level used) */
    char deep[2 * JSON_MAX_DEPTH + 1];
    size_t n = JSON_MAX_DEPTH - 1;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = 0;
    out = json_of_raw(deep, 0, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(out), strlen("{\"k\":}\n") + 2 * n);
    free(out);
    n = JSON_MAX_DEPTH;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = 0;
    out = json_of_raw(deep, 0, &rc);
    assert_int_equal(rc, -1);
    free(out);
}

/* ---- Money ------------------------------------------------------------------ */

static void test_fixed_format(void **state)
{
    (void)state;
    struct {
        double v;
        int decimals;
        const char *out;
    } cases[] = {
        {0.05, 4, "0.0500"},
        {48.25, 1, "48.3"},
        {-48.25, 1, "-48.3"},
        {-0.00001, 2, "0.00"},
        {5, 0, "5"},
        {0.5, 0, "1"},
        {100, 1, "100.0"},
        {0.123456789, 9, "0.123456789"},
        {1234567.891, 2, "1234567.89"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int len = out_fixed_format(cases[i].v, cases[i].decimals, buf, sizeof buf);
        assert_string_equal(buf, cases[i].out);
        assert_int_equal(len, (int)strlen(cases[i].out));
    }
    assert_int_equal(out_fixed_format(NAN, 2, buf, sizeof buf), -1);
    assert_string_equal(buf, "");
    assert_int_equal(out_fixed_format(INFINITY, 2, buf, sizeof buf), -1);
    assert_int_equal(out_fixed_format(1e15, 9, buf, sizeof buf), -1);
    assert_int_equal(out_fixed_format(1, 10, buf, sizeof buf), -1);
    assert_int_equal(out_fixed_format(1, -1, buf, sizeof buf), -1);
    assert_int_equal(out_fixed_format(12.5, 1, buf, 4), -1); /* "12.5" needs 5 */
    assert_string_equal(buf, "");
    assert_int_equal(out_fixed_format(12.5, 1, buf, 5), 4);
}

static void test_money_format(void **state)
{
    (void)state;
    char buf[OUT_MONEY_BUFSZ];
    struct {
        int64_t v;
        const char *s;
    } cases[] = {
        {123450, "1234.50"},
        {-5, "-0.05"},
        {0, "0.00"},
        {7, "0.07"},
        {-307, "-3.07"},
        {100, "1.00"},
        {INT64_MAX, "92233720368547758.07"},
        {INT64_MIN, "-92233720368547758.08"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(out_money_format(cases[i].v, buf, sizeof buf), (int)strlen(cases[i].s));
        assert_string_equal(buf, cases[i].s);
    }
    char small[5];
    assert_int_equal(out_money_format(123450, small, sizeof small), -1);
    assert_string_equal(small, "");
}

/* The form people read: thousands grouped, two decimals, the sign before
 * the digits; never a separator straight after the sign. */
static void test_money_text(void **state)
{
    (void)state;
    char buf[OUT_MONEY_TEXT_BUFSZ];
    struct {
        int64_t v;
        const char *s;
    } cases[] = {
        {0, "0.00"},
        {5, "0.05"},
        {-5, "-0.05"},
        {-99, "-0.99"},
        {99999, "999.99"},
        {100000, "1,000.00"},
        {-100000, "-1,000.00"},
        {123456750, "1,234,567.50"},
        {-123456750, "-1,234,567.50"},
        {-10000000, "-100,000.00"},
        {100000000, "1,000,000.00"},
        {INT64_MAX, "92,233,720,368,547,758.07"},
        {INT64_MIN, "-92,233,720,368,547,758.08"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(out_money_text(cases[i].v, buf, sizeof buf), (int)strlen(cases[i].s));
        assert_string_equal(buf, cases[i].s);
    }
    /* too small for "1,234.50": refused, left empty, never cut */
    char small[9];
    assert_int_equal(out_money_text(123450, small, 8), -1);
    assert_string_equal(small, "");
    assert_int_equal(out_money_text(123450, small, sizeof small), 8);
    assert_string_equal(small, "1,234.50");
}

static void test_money_parse(void **state)
{
    (void)state;
    struct {
        const char *s;
        int64_t v;
    } ok[] = {
        {"1234", 123400},
        {"1234.5", 123450},
        {"1234.50", 123450},
        {"-3.07", -307},
        {"+3", 300},
        {"0", 0},
        {"-0.00", 0},
        {"0.05", 5},
        {"007.1", 710},
        {"92233720368547758.07", INT64_MAX},
        {"-92233720368547758.08", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = 42;
        assert_int_equal(out_money_parse(ok[i].s, &v), 0);
        assert_true(v == ok[i].v);
    }

    const char *bad[] = {"1,234", "1.234", "", "abc", ".5", "5.", " 1", "1 ", "+", "-",
                         "1e3", "--1", "+-1", "1.2.3", "1.-2", "0x10", "１２"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        errno = 0;
        assert_int_equal(out_money_parse(bad[i], &v), -1);
        assert_int_equal(errno, EINVAL);
        assert_true(v == 42);
    }

    const char *big[] = {"92233720368547758.08", "-92233720368547758.09",
                         "99999999999999999999", "100000000000000000000000000.00"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        int64_t v = 42;
        errno = 0;
        assert_int_equal(out_money_parse(big[i], &v), -1);
        assert_int_equal(errno, ERANGE);
        assert_true(v == 42);
    }

    /* format and parse are inverses */
    const int64_t vals[] = {0, 1, -1, 99, -100, 123456789, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char buf[OUT_MONEY_BUFSZ];
        int64_t back;
        assert_true(out_money_format(vals[i], buf, sizeof buf) > 0);
        assert_int_equal(out_money_parse(buf, &back), 0);
        assert_true(back == vals[i]);
    }
}

/* ---- Width and truncation ------------------------------------------------------- */

static void test_width(void **state)
{
    (void)state;
    assert_int_equal(out_width("张三"), 4);
    assert_int_equal(out_width("abc"), 3);
    assert_int_equal(out_width("e\xCC\x81"), 1);          /* e + U+0301 */
    assert_int_equal(out_width(""), 0);
    assert_int_equal(out_width(NULL), 0);
    assert_int_equal(out_width("\xFF\xFE"), 2);           /* invalid: 1 each */
    assert_int_equal(out_width("\xEF\xBD\x88"), 2);       /* fullwidth h */
    assert_int_equal(out_width("\xF0\x9F\x98\x80"), 2);   /* emoji */
    assert_int_equal(out_width("한국"), 4);                 /* Hangul */
    assert_int_equal(out_width("カナ"), 4);
    assert_int_equal(out_width("张三 Zhang"), 10);
    assert_int_equal(out_width("，。"), 4);                 /* CJK punctuation */
    assert_int_equal(out_width("a\tb\n"), 2);             /* controls: 0 */
    assert_int_equal(out_width("a\xE2\x80\x8B" "b"), 2);  /* ZWSP */
    assert_int_equal(out_width("\xE3\x80\xBF"), 1);       /* U+303F is narrow */
    assert_int_equal(out_width("\xF0\xA0\x80\x80"), 2);   /* U+20000 */
    assert_int_equal(out_width_n("张三", 3), 2);            /* prefix: one char */
    assert_int_equal(out_width_n("张三", 2), 2);            /* cut sequence: 2 bad bytes */
}

/* Is n a character boundary of s (no continuation byte at s[n])? */
static int at_boundary(const char *s, size_t n)
{
    return ((unsigned char)s[n] & 0xC0) != 0x80;
}

static void test_truncate(void **state)
{
    (void)state;
    char *r;

    r = out_truncate("张三李四", 5);
    assert_string_equal(r, "张三…");
    assert_int_equal(out_width(r), 5);
    free(r);

    r = out_truncate("张三李四", 4);   /* a wide char is never halved */
    assert_string_equal(r, "张…");
    free(r);

    r = out_truncate("abcdef", 4);
    assert_string_equal(r, "abc…");
    free(r);

    r = out_truncate("abc", 3);
    assert_string_equal(r, "abc");
    free(r);

    r = out_truncate("e\xCC\x81xyz", 2); /* the combining mark stays with its e */
    assert_string_equal(r, "e\xCC\x81…");
    free(r);

    r = out_truncate("abc", 0);
    assert_string_equal(r, "");
    free(r);

    r = out_truncate("张三", 1);
    assert_string_equal(r, "…");
    free(r);

    const char *samples[] = {"张三abc李四", "a张b三c", "😀x😀y", "e\xCC\x81张e\xCC\x81", "ab\xFF张"};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const char *s = samples[i];
        size_t full = out_width(s);
        for (size_t max = 0; max <= full + 1; max++) {
            r = out_truncate(s, max);
            size_t len = strlen(r);
            assert_true(out_width(r) <= max);
            if (full <= max) {
                assert_string_equal(r, s);
            } else if (max > 0) {
                /* a prefix of s ending on a character boundary, then "…" */
                assert_true(len >= 3);
                size_t pre = len - 3;
                assert_memory_equal(r + pre, "…", 3);
                assert_memory_equal(r, s, pre);
                assert_true(at_boundary(s, pre));
                assert_true(out_width(r) + 1 >= max); /* at most one column lost */
            }
            free(r);
        }
    }
}

/* ---- Tables ------------------------------------------------------------------- */

/* Splits printed output into lines (modifies buf). */
static size_t split_lines(char *buf, char **lines, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    return n;
}

/* Display column at which needle starts in line. */
static size_t column_of(const char *line, const char *needle)
{
    const char *p = strstr(line, needle);
    assert_non_null(p);
    return out_width_n(line, (size_t)(p - line));
}

static void test_table_alignment(void **state)
{
    (void)state;
    const char *headers[] = {"id", "name", "city", "revenue"};
    const char *rows[][4] = {
        {"1", "张三", "北京", "1234.50"},
        {"22", "Li_Si", "Shanghai", "5.00"},
        {"333", "欧阳娜娜", "广州", "987654.32"},
        {"4444", "Ann", "深圳市南山区", "0.07"},
    };
    struct out_table *t = out_table_new(4, headers);
    out_table_align(t, 3, OUT_RIGHT);
    for (size_t i = 0; i < 4; i++)
        out_table_add(t, rows[i]);
    assert_int_equal(out_table_rows(t), 4);

    struct capture c;
    cap_open(&c);
    out_table_print(t, c.f);
    char *out = cap_close(&c);
    out_table_free(t);

    char *lines[16] = {0};
    size_t n = split_lines(out, lines, 16);
    assert_int_equal(n, 5);
    assert_true(strncmp(lines[0], "ID  ", 4) == 0);   /* headers uppercase */
    assert_non_null(strstr(lines[0], "REVENUE"));

    size_t width = out_width(lines[0]);
    size_t name_col = column_of(lines[0], "NAME");
    size_t city_col = column_of(lines[0], "CITY");
    for (size_t i = 1; i < n; i++) {
        /* right-aligned last column: every line equally wide */
        assert_int_equal(out_width(lines[i]), width);
        assert_int_equal(column_of(lines[i], rows[i - 1][1]), name_col);
        assert_int_equal(column_of(lines[i], rows[i - 1][2]), city_col);
        assert_int_equal(column_of(lines[i], rows[i - 1][0]), 0);
    }
    /* two spaces between columns: the widest name (8 columns) then 2 */
    assert_int_equal(city_col - name_col, 8 + 2);
    free(out);
}

static void test_table_cells(void **state)
{
    (void)state;
    const char *headers[] = {"名称", "note"};
    const char *r1[] = {"a\nb", "x\ty\x1b[31m"};
    const char *r2[] = {NULL, "张三李四王五"};
    struct out_table *t = out_table_new(2, headers);
    out_table_max_width(t, 1, 5);
    out_table_add(t, r1);
    out_table_add(t, r2);

    struct capture c;
    cap_open(&c);
    out_table_print(t, c.f);
    char *out = cap_close(&c);
    out_table_free(t);
    /* controls shown as spaces, no trailing blanks, truncation by columns */
    assert_string_equal(out,
        "名称  NOTE\n"
        "a b   x y …\n"
        "      张三…\n");
    free(out);
}

static void test_table_empty(void **state)
{
    (void)state;
    const char *headers[] = {"id", "name"};
    struct out_table *t = out_table_new(2, headers);
    struct capture c;
    cap_open(&c);
    out_table_print(t, c.f);
    char *out = cap_close(&c);
    out_table_free(t);
    assert_string_equal(out, "ID  NAME\n");
    free(out);
}

static int before_calls;
static void count_before(void)
{
    before_calls++;
}

/* A table wider than the screen: the widest text column gives way first,
 * numbers keep their width, wide characters are never cut in half; the
 * hook runs once; an empty table prints its text instead of the header. */
static void test_table_fit(void **state)
{
    (void)state;
    const char *headers[] = {"id", "name", "address", "amount"};
    struct out_table *t = out_table_new(4, headers);
    out_table_align(t, 0, OUT_RIGHT);
    out_table_align(t, 3, OUT_RIGHT);
    out_table_add(t, (const char *[]){"1", "上海浦东发展有限公司", "上海市浦东新区世纪大道一百号二十层", "1234567.89"});
    out_table_add(t, (const char *[]){"22", "Li Lei", "Beijing", "5.00"});
    out_table_screen(40, count_before);
    struct capture c;
    cap_open(&c);
    out_table_print(t, c.f);
    out_table_print(t, c.f);
    char *out = cap_close(&c);
    assert_int_equal(before_calls, 1);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        assert_true(out_width(line) <= 40);
        assert_null(strstr(line, "\xef\xbf\xbd")); /* no U+FFFD: nothing cut in a character */
    }
    free(out);

    cap_open(&c);
    out_table_print(t, c.f);
    out = cap_close(&c);
    assert_non_null(strstr(out, "1234567.89"));
    assert_non_null(strstr(out, "…"));
    assert_non_null(strstr(out, "Li Lei"));
    free(out);
    out_table_free(t);

    /* narrower than the headers: they are cut too, numbers still whole */
    t = out_table_new(4, headers);
    out_table_align(t, 3, OUT_RIGHT);
    out_table_add(t, (const char *[]){"上海浦东", "发展有限公司", "世纪大道", "1234567.89"});
    out_table_screen(30, NULL);
    cap_open(&c);
    out_table_print(t, c.f);
    out = cap_close(&c);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        assert_true(out_width(line) <= 30);
    free(out);
    cap_open(&c);
    out_table_print(t, c.f);
    out = cap_close(&c);
    assert_non_null(strstr(out, "1234567.89"));
    free(out);
    out_table_free(t);

    t = out_table_new(2, headers);
    out_table_empty(t, "no customers match");
    cap_open(&c);
    out_table_print(t, c.f);
    out = cap_close(&c);
    assert_string_equal(out, "no customers match\n");
    free(out);
    out_table_free(t);
    out_table_screen(0, NULL);
}

/* ---- Key/value records -------------------------------------------------------- */

static void test_kv(void **state)
{
    (void)state;
    struct out_kv *kv = out_kv_new();
    out_kv_add(kv, "id", "42");
    out_kv_add(kv, "名称", "张三");
    out_kv_addf(kv, "revenue", "%s (%d txns)", "1234.50", 3);
    out_kv_add(kv, "note", "line one\r\nline two");
    out_kv_add(kv, "empty", NULL);

    struct capture c;
    cap_open(&c);
    out_kv_print(kv, c.f);
    char *out = cap_close(&c);
    out_kv_free(kv);
    assert_string_equal(out,
        "id:      42\n"
        "名称:    张三\n"
        "revenue: 1234.50 (3 txns)\n"
        "note:    line one\n"
        "         line two\n"
        "empty:\n");
    free(out);
}

/* ---- Errors ------------------------------------------------------------------- */

/* Runs out_error with stdout and stderr sent to temporary files. */
static void run_error(int json, const char *code, const char *msg, const char *field,
                      char *out, size_t outsz, char *err, size_t errsz)
{
    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    out_error(json, code, msg, field);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);

    size_t n;
    rewind(fo);
    n = fread(out, 1, outsz - 1, fo);
    out[n] = '\0';
    rewind(fe);
    n = fread(err, 1, errsz - 1, fe);
    err[n] = '\0';
    fclose(fo);
    fclose(fe);
}

static void test_error(void **state)
{
    (void)state;
    char out[1024], err[1024];

    run_error(0, "CONFLICT", "probable duplicate of 17", "phone", out, sizeof out, err, sizeof err);
    assert_string_equal(err, "kehu: CONFLICT: probable duplicate of 17 [phone]\n");
    assert_string_equal(out, "");

    run_error(1, "NOT_FOUND", "no customer \"9\"", NULL, out, sizeof out, err, sizeof err);
    assert_string_equal(err, "kehu: NOT_FOUND: no customer \"9\"\n");
    assert_string_equal(out,
        "{\n"
        "  \"error\": {\n"
        "    \"code\": \"NOT_FOUND\",\n"
        "    \"message\": \"no customer \\\"9\\\"\"\n"
        "  }\n"
        "}\n");

    run_error(1, "INVALID_ARGUMENT", "bad\ndate", "birth", out, sizeof out, err, sizeof err);
    assert_string_equal(err, "kehu: INVALID_ARGUMENT: bad date [birth]\n");
    assert_non_null(strstr(out, "\"message\": \"bad\\ndate\""));
    assert_non_null(strstr(out, "\"field\": \"birth\""));

    run_error(0, "UNAVAILABLE", "down", "", out, sizeof out, err, sizeof err);
    assert_string_equal(err, "kehu: UNAVAILABLE: down\n");
}

/* ---- Dates and times --------------------------------------------------------------- */

static void test_dates(void **state)
{
    (void)state;
    int y = 0, m = 0, d = 0;
    assert_int_equal(out_date_parse("2024-02-29", &y, &m, &d), 0);
    assert_int_equal(y, 2024);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29);
    assert_int_equal(out_date_parse("2000-02-29", &y, &m, &d), 0);
    assert_int_equal(out_date_parse("2026-12-31", &y, &m, &d), 0);
    assert_int_equal(out_date_parse("0001-01-01", NULL, NULL, NULL), 0);

    const char *bad[] = {"2023-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31",
                         "2026-01-00", "2026-01-32", "2026-1-1", "2026-01-1", "26-01-01",
                         "2026/01/01", "2026-01-01 ", " 2026-01-01", "2026-01-01T00:00:00Z",
                         "0000-01-01", "", "abcd-ef-gh", "2026-0a-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        y = m = d = -1;
        assert_int_equal(out_date_parse(bad[i], &y, &m, &d), -1);
        assert_int_equal(y, -1);
    }
    assert_int_equal(out_date_parse(NULL, &y, &m, &d), -1);
}

static void test_times(void **state)
{
    (void)state;
    char buf[OUT_TIME_BUFSZ];
    out_time_ms(1795430085000, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-23T10:34:45Z");
    out_time_ms(1795430085999, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-23T10:34:45Z");
    out_time_ms(0, buf, sizeof buf);
    assert_string_equal(buf, "");
    out_time_ms(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
    char small[8];
    out_time_ms(1795430085000, small, sizeof small);
    assert_string_equal(small, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_invalid_utf8),
        cmocka_unit_test(test_json_nesting_pretty),
        cmocka_unit_test(test_json_nesting_compact),
        cmocka_unit_test(test_json_scalar_document),
        cmocka_unit_test(test_json_misuse),
        cmocka_unit_test(test_json_double),
        cmocka_unit_test(test_json_raw),
        cmocka_unit_test(test_fixed_format),
        cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_money_text),
        cmocka_unit_test(test_money_parse),
        cmocka_unit_test(test_width),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_table_alignment),
        cmocka_unit_test(test_table_cells),
        cmocka_unit_test(test_table_empty),
        cmocka_unit_test(test_table_fit),
        cmocka_unit_test(test_kv),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
