/* The CLI's output: one JSON writer, money and date helpers, display widths
 * (terminal columns, not bytes), aligned tables and key/value records, and
 * the error line of the CLI contract (CLI.md).
 *
 * Nothing here depends on the process locale: UTF-8 is decoded by hand and
 * display widths come from a fixed table, so output is the same under "C"
 * and under zh_CN.UTF-8. */
#ifndef KEHU_CLI_OUT_H
#define KEHU_CLI_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Allocation that cannot fail: on exhaustion print "kehu: out of memory" on
 * stderr and exit(1). */
void *out_xmalloc(size_t n);
void *out_xcalloc(size_t nmemb, size_t size);
void *out_xrealloc(void *p, size_t n);
char *out_xstrdup(const char *s);
/* A formatted string, malloc'd (a computed table cell). */
char *out_xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- JSON writer --------------------------------------------------------
 *
 * Writes exactly one JSON value (the document) to a FILE*. Commas, colons
 * and nesting are the writer's business; the caller only says what comes
 * next. Inside an object every value is preceded by json_key().
 *
 * Pretty mode: 2-space indentation, one member per line. Compact mode: no
 * whitespace at all, for one-object-per-line streams (`watch --json`). Both
 * end the document with a newline.
 *
 * Misuse (a value without a key inside an object, a mismatched end, a second
 * top-level value, nesting deeper than JSON_MAX_DEPTH) sets a sticky error;
 * from then on the writer writes nothing and json_finish() returns -1. */
#define JSON_MAX_DEPTH 32

struct json_w {
    FILE *f;
    int pretty;
    int depth;      /* open containers */
    int after_key;  /* a key was written, its value is due */
    int done;       /* the top-level value is complete */
    int error;      /* sticky misuse flag */
    unsigned char first[JSON_MAX_DEPTH]; /* no member written yet */
    char kind[JSON_MAX_DEPTH];           /* '{' or '[' */
};

void json_init(struct json_w *w, FILE *f, int pretty);
/* 0 when exactly one complete value was written without misuse and the
 * stream has no error; -1 otherwise. Does not close f. */
int json_finish(struct json_w *w);

void json_begin_object(struct json_w *w);
void json_end_object(struct json_w *w);
void json_begin_array(struct json_w *w);
void json_end_array(struct json_w *w);
void json_key(struct json_w *w, const char *name);

/* Strings: UTF-8 passes through; '"', '\\' and control characters are
 * escaped; invalid UTF-8 bytes become U+FFFD, so the output is always valid
 * JSON. json_str(w, NULL) writes null. json_str_n may contain NUL bytes
 * (written as \u0000). */
void json_str(struct json_w *w, const char *s);
void json_str_n(struct json_w *w, const char *s, size_t len);
void json_int(struct json_w *w, int64_t v);
void json_uint(struct json_w *w, uint64_t v);
void json_bool(struct json_w *w, int v);
void json_null(struct json_w *w);
/* Shortest of %.15g/%.16g/%.17g that reads back to the same double; NaN and
 * infinities (not representable in JSON) are written as null. */
void json_double(struct json_w *w, double v);
/* Money in minor units as a decimal string: 123450 -> "1234.50". */
void json_raw_money(struct json_w *w, int64_t minor_units);
/* A value given as JSON text (a server's JSON column): when text is exactly
 * one valid JSON value (RFC 8259, valid UTF-8, nested no deeper than the
 * writer allows), it is written as that value, laid out like the rest of the
 * document (strings and numbers kept as spelled). Otherwise the text is
 * written as a JSON string and -1 is returned, so the document stays valid.
 * NULL writes null. */
int json_raw(struct json_w *w, const char *text);

/* key + value in one call, for the common case inside objects. */
void json_kstr(struct json_w *w, const char *key, const char *s);
void json_kint(struct json_w *w, const char *key, int64_t v);
void json_kuint(struct json_w *w, const char *key, uint64_t v);
void json_kbool(struct json_w *w, const char *key, int v);
void json_knull(struct json_w *w, const char *key);
void json_kdouble(struct json_w *w, const char *key, double v);
void json_kmoney(struct json_w *w, const char *key, int64_t minor_units);
int json_kraw(struct json_w *w, const char *key, const char *text);

/* ---- Money ----------------------------------------------------------------
 *
 * Amounts are int64 minor units (fen): 2 decimals, exact integer arithmetic.
 * OUT_MONEY_BUFSZ holds any value, INT64_MIN included ("-92233720368547758.08"). */
#define OUT_MONEY_BUFSZ 24

/* Writes "1234.50", "-0.05": the machine form (--json, --csv). Returns the
 * length written, or -1 (buf set to "" when n > 0) if n is too small. */
int out_money_format(int64_t minor, char *buf, size_t n);

/* The form people read (tables, key/value records, messages; the CLI and
 * the TUI): thousands grouped by ",", "1,234,567.50", "-1,234.00", "0.00".
 * OUT_MONEY_TEXT_BUFSZ holds any value ("-92,233,720,368,547,758.08").
 * Returns the length written, or -1 (buf set to "" when n > 0) if n is too
 * small. */
#define OUT_MONEY_TEXT_BUFSZ 32
int out_money_text(int64_t minor, char *buf, size_t n);

/* A double with exactly `decimals` (0-9) digits after a '.' (never the
 * locale's decimal point), rounded half away from zero: (0.05, 4) ->
 * "0.0500", (48.25, 1) -> "48.3"; never "-0.0". Returns the length, or -1
 * (buf set to "" when n > 0) for NaN, infinities, a value too large (|v| x
 * 10^decimals beyond 9e18), decimals out of range or a small buf. */
int out_fixed_format(double v, int decimals, char *buf, size_t n);

/* Parses [+|-]DIGITS[.D[D]]: "1234", "1234.5", "1234.50", "-3.07", "+3".
 * At least one digit before the point, and 1 or 2 after it if there is a
 * point: ".5", "5.", "1.234" (more precision than fen; never rounded),
 * "1,234", "", " 1" and "abc" are refused. Returns 0, or -1 with errno
 * EINVAL (syntax) or ERANGE (outside int64 minor units). */
int out_money_parse(const char *s, int64_t *minor);

/* ---- Display width --------------------------------------------------------
 *
 * Terminal columns of UTF-8 text: East Asian Wide and Fullwidth characters
 * (CJK, Hangul, fullwidth forms, most emoji) count 2, combining marks and
 * other zero-width characters 0, control characters 0, each byte of invalid
 * UTF-8 1, everything else 1. */
size_t out_width(const char *utf8);
size_t out_width_n(const char *utf8, size_t len);

/* A malloc'd copy of s cut to at most max_cols columns. When cut, the text
 * ends with "…" (U+2026, one column) and no UTF-8 sequence or wide character
 * is ever split (the result may then be one column narrower than max_cols). */
char *out_truncate(const char *s, size_t max_cols);

/* ---- Tables ---------------------------------------------------------------
 *
 * Aligned by display width, columns separated by two spaces, ASCII letters
 * of headers shown uppercase, no rule, no trailing blanks. Control
 * characters in cells (newlines, tabs, escapes) are shown as spaces and
 * invalid UTF-8 as U+FFFD, so one record is always one line. */
enum out_align { OUT_LEFT = 0, OUT_RIGHT = 1 };

struct out_table;

struct out_table *out_table_new(int ncols, const char *const *headers);
/* Copies ncols cells; a NULL cell is shown empty. */
void out_table_add(struct out_table *t, const char *const *cells);
void out_table_align(struct out_table *t, int col, enum out_align align);
/* Cells wider than max_cols columns are truncated with "…"; 0 = no limit. */
void out_table_max_width(struct out_table *t, int col, size_t max_cols);
size_t out_table_rows(const struct out_table *t);
/* Printed, as one line, instead of the header when the table has no row
 * ("no customers match"); NULL: the header alone. */
void out_table_empty(struct out_table *t, const char *text);
/* For every table printed from now on: fit it in width columns (0: no
 * limit) by narrowing its widest text columns, whose cells are then cut with
 * "…" (never inside a character); and call before() (may be NULL) once,
 * just before the first table is written (the CLI starts its pager there). */
void out_table_screen(size_t width, void (*before)(void));
void out_table_print(const struct out_table *t, FILE *f);
void out_table_free(struct out_table *t);

/* ---- Key/value records ------------------------------------------------------
 *
 * "key: value" lines with the values aligned by display width, e.g.
 *     id:      42
 *     name:    张三
 * A value with newlines continues on lines indented to the value column. */
struct out_kv;

struct out_kv *out_kv_new(void);
void out_kv_add(struct out_kv *kv, const char *key, const char *value);
void out_kv_addf(struct out_kv *kv, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void out_kv_print(const struct out_kv *kv, FILE *f);
void out_kv_free(struct out_kv *kv);

/* ---- Errors -----------------------------------------------------------------
 *
 * "kehu: CODE: message [field]" on stderr (" [field]" omitted when field is
 * NULL or empty); with json also {"error": {"code", "message", "field"}} on
 * stdout, "field" omitted when empty. */
void out_error(int json, const char *code, const char *message, const char *field);

/* ---- Dates and times ------------------------------------------------------- */
#define OUT_TIME_BUFSZ 32

/* ISO 8601 UTC to the second: "2026-11-23T10:34:45Z"; 0 gives "". */
void out_time_ms(int64_t unix_ms, char *buf, size_t n);

/* Strict YYYY-MM-DD (exactly 10 characters, year 0001-9999) that names a
 * real calendar day. Returns 0, or -1 leaving the outputs untouched. */
int out_date_parse(const char *s, int *y, int *m, int *d);

#endif
