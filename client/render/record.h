/* Records as clients show them, written once from protobuf-c's run-time
 * descriptors: one JSON object (--json), one CSV row under a header (--csv),
 * a row of a table for people. The CLI uses it for every converted record
 * kind; the TUI renders records with the same kinds.
 *
 * A kind is data: the message's descriptor, the fields in order (the JSON
 * members and CSV columns), and the table's columns. What a field looks
 * like follows from its protobuf name and type, by the conventions declared
 * once in record.c (conventions[]):
 *
 *   NAME_minor  int64 fen        "1234.50" (key NAME); a table "1,234.50"
 *   NAME_ms     int64 unix ms    "2026-11-23T10:34:45Z", null when 0 (key NAME)
 *   enum                         the value's name in lower case ("admin"), null when 0
 *   bool                         true/false (CSV "true"/"false", table "yes"/"")
 *   repeated string              an array (CSV and table: joined by "," and ", ")
 *   repeated int64               an array (CSV and table: joined by ",")
 *   bytes                        lower-case hex (a hash)
 *   other scalars and strings    as they are
 *
 * The field list is one string of words, each
 *
 *   [+|-][#|$][KEY=]PATH[?[GUARD]][|TEXT]
 *
 * PATH a field name, or SUB.FIELD inside a sub-message; KEY the JSON member
 * and CSV column when it is not PATH's own name less its convention suffix;
 * "?" writes null (CSV: an empty cell) when the value is 0 or "", "?GUARD"
 * when the field GUARD is false or 0 (margin_minor?has_margin), "?-" when
 * the number is below 0 (cap?-: -1 is no cap). A KEY=@NAME
 * word is a value the kind computes (struct rec_calc); a word after "+" is
 * a JSON member only, not a CSV column, after "-" a CSV column only; after "#" the field is written as
 * it is, without its convention (at_ms as a number; a string's text as a JSON
 * number: "#baseline"), after "$" it is money
 * in fen whatever its name (value_at_risk), after "^" a time in unix ms
 * whatever its name (respond_by), after "~" a member left out of the JSON
 * object where it would be null (merge_id?: only after a merge). A repeated
 * sub-message is written only by a KEY=@NAME value ("~events=@events?events":
 * the case's events, none without them). In a table column, "|TEXT" shows
 * TEXT for an empty value ("until|-"). Example (Payment):
 *
 *   "id customer_id date amount_minor method reference note created_at_ms
 *    created_by reverses_id? reversed_by_id? reason?"
 */
#ifndef KEHU_RECORD_H
#define KEHU_RECORD_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdio.h>

#include "out.h"

/* A human label (a table header, an empty-table line) is marked N_() (or
 * NC_() when its msgid means other things elsewhere) and translated by
 * rec_table when shown (i18n.h). */
#include "i18n.h"

/* A value the kind computes from the whole record (a share, a summary):
 * written as JSON by json, shown as text (malloc'd; NULL: empty) by text. */
struct rec_calc {
    const char *name; /* as in "KEY=@NAME" */
    void (*json)(struct json_w *w, const void *msg);
    char *(*text)(const void *msg);
};

/* A rec_calc json function fn that writes the repeated sub-message field
 * FIELD of a TYPE as an array of records of kind *KIND ("moves=@moves"). */
#define REC_JSON_ARRAY(fn, TYPE, FIELD, KIND)                                  \
    static void fn(struct json_w *w, const void *msg)                          \
    {                                                                          \
        const TYPE *m_ = msg;                                                  \
        rec_json_array(w, (KIND), (void *const *)m_->FIELD, m_->n_##FIELD);    \
    }

/* One column of a table: head (N_("AMOUNT")) over a field (a word as in the
 * field list: "amount_minor", "phones", "@reversal") shown as text. */
/* A head or empty text shown as it is in every language (one the output
 * never translated): an empty gettext context, which no catalogue holds. */
#define REC_AS_IS(s) ("\004" s)

struct rec_col {
    const char *head;
    const char *field;
    enum out_align align;
    size_t max_cols; /* cells wider are cut with "…"; 0: no limit */
};

struct rec_kind {
    const ProtobufCMessageDescriptor *desc;
    const char *fields;         /* JSON members and CSV columns, in order */
    const struct rec_col *cols; /* the table; ends with a row whose head is NULL */
    const char *empty;          /* shown instead of an empty table (N_("no payments")) */
    const struct rec_calc *calc; /* ends with a row whose name is NULL; may be NULL */
};

/* One record as a JSON object; rec_json_members writes its members into an
 * object the caller opened (to add its own around them). */
void rec_json(struct json_w *w, const struct rec_kind *k, const void *msg);
void rec_json_members(struct json_w *w, const struct rec_kind *k, const void *msg);
/* Records as a JSON array (a reply's list of sub-records). */
void rec_json_array(struct json_w *w, const struct rec_kind *k, void *const *msgs, size_t n);
/* The CSV header, and one record as a CSV row. */
void rec_csv_head(FILE *f, const struct rec_kind *k);
void rec_csv_row(FILE *f, const struct rec_kind *k, const void *msg);
/* Records as CSV rows (no header: rows of several kinds may share one). */
void rec_csv_rows(FILE *f, const struct rec_kind *k, void *const *msgs, size_t n);
/* The records as a table (k->cols). */
void rec_table(FILE *f, const struct rec_kind *k, void *const *msgs, size_t n);
/* One record as "key: value" lines (out_kv): every field but the CSV-only
 * ones, an empty text left out, a bool "yes" or "no", the rest as a table
 * shows it. */
void rec_kv(FILE *f, const struct rec_kind *k, const void *msg);
/* One record as "key: value" lines, one a column of lines (head the key, as
 * it is), a line whose cell is empty left out. */
void rec_kv_cols(FILE *f, const struct rec_kind *k, const struct rec_col *lines, const void *msg);
/* One field (a word as in the field list) as a table shows it; malloc'd. */
char *rec_text(const struct rec_kind *k, const void *msg, const char *field);

/* One CSV record (RFC 4180: quoted when needed, "\n" endings). */
void rec_csv_cells(FILE *f, int n, const char *const *cells);

#endif
