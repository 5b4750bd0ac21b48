/* CSV in and out, as branches and Excel actually write it.
 *
 * Reading. A csv_reader takes the bytes of one file in chunks split anywhere
 * (inside a quoted field, a CRLF, a multi-byte character) and calls back with
 * each record: an array of NUL-terminated UTF-8 fields with their lengths and
 * the physical line the record starts on.
 *
 * Encoding (csv_reader_set_encoding() overrides it):
 *   - a byte order mark decides: EF BB BF UTF-8, FF FE UTF-16LE, FE FF
 *     UTF-16BE, 84 31 95 33 GB18030; the mark is not part of the text;
 *   - otherwise the file is UTF-8 or GB18030 (UTF-16 needs its mark). ASCII
 *     is the same in both, so bytes up to the first non-ASCII one pass
 *     through undecided (a long ASCII prefix cannot hide a GBK file). From
 *     the first non-ASCII byte on, up to 64 KiB (CSV_DETECT_WINDOW) are held,
 *     and parsed once the choice is made: if they are valid UTF-8 (a
 *     character cut by the end of the window or of the input counts as
 *     valid) the file is UTF-8, otherwise GB18030, a superset of GBK and
 *     GB2312, as Excel on Chinese Windows saves "CSV". GB18030 and UTF-16
 *     are converted with iconv;
 *   - in UTF-8 mode invalid UTF-8 later on is an error naming the line; it is
 *     never passed on. A NUL character is an error in every mode (PostgreSQL
 *     text cannot hold it; it usually means UTF-16 without a mark).
 *
 * Syntax: RFC 4180 and what real files do:
 *   - records end with CRLF, LF or a lone CR; the last one may lack it;
 *   - a field that starts with a double quote is quoted: it runs to the next
 *     lone quote, "" inside stands for one quote, and delimiters and line
 *     breaks inside are content (kept as they are, CRLF included). Text after
 *     the closing quote is appended literally ("ab"c -> abc), as Excel does;
 *   - a quote inside an unquoted field is kept literally (ab"c -> ab"c);
 *   - spaces are kept: the caller trims;
 *   - the delimiter is a comma or a tab: whichever occurs more often outside
 *     quotes in the first non-empty line (a tie or neither: comma), unless
 *     csv_reader_set_delimiter() fixed it;
 *   - a record whose fields are all empty is skipped, not delivered: an
 *     empty line, and the ",,,," rows Excel writes for formatted blank rows;
 *   - line numbers count physical lines from 1 (CRLF, LF and CR are one line
 *     break each, inside quoted fields too), so a record's line is the one
 *     its first byte is on and a later record's line skips the lines that a
 *     multi-line field used.
 *
 * Errors are sticky: after one, feed and finish return the same code again and
 * csv_reader_error() says what happened and where, e.g.
 *   "line 12: unterminated quoted field"
 *   "line 3, field 5: longer than 65536 bytes"
 *   "line 7: not valid UTF-8 at byte 1234 (0xFF)"
 *   "line 9: not valid GB18030 at byte 5678 (and not UTF-8 at byte 5600)".
 * Records before the faulty one have been delivered.
 *
 * Writing. A csv_writer appends Excel-friendly CSV to a growable buffer the
 * caller drains: optional UTF-8 BOM, CRLF line ends, RFC 4180 quoting, and a
 * guard against formula injection. See csv_writer_field().
 */
#ifndef KEHU_CSV_H
#define KEHU_CSV_H

#include <stddef.h>
#include <stdint.h>

/* Return codes. Negative codes are errors; CSV_STOPPED means the record
 * callback asked to stop (not an error: the reader can continue). */
enum csv_status {
    CSV_OK = 0,
    CSV_STOPPED = 1,
    CSV_ERR_NOMEM = -1,
    CSV_ERR_ENCODING = -2, /* invalid or cut-off character, NUL, iconv unavailable */
    CSV_ERR_SYNTAX = -3,   /* unterminated quoted field */
    CSV_ERR_LIMIT = -4,    /* a csv_limits value was exceeded */
    CSV_ERR_USAGE = -5,    /* API misuse: feed after finish, setter after feed, re-entry */
};

enum csv_encoding {
    CSV_ENC_UNKNOWN = 0, /* not decided yet (only ASCII seen so far) */
    CSV_ENC_UTF8,
    CSV_ENC_GB18030,
    CSV_ENC_UTF16LE,
    CSV_ENC_UTF16BE,
};

#ifndef CSV_DETECT_WINDOW /* a build may shrink it, e.g. for fuzzing */
#define CSV_DETECT_WINDOW (64u * 1024)
#endif
#define CSV_DEFAULT_MAX_FIELD (64u * 1024)
#define CSV_DEFAULT_MAX_FIELDS 256u
#define CSV_DEFAULT_MAX_RECORD (1024u * 1024)

/* A zero member means its default. A reader holds one record (bounded by
 * these), the 64 KiB detection window while it is open, and the decoded form
 * of what was fed but not parsed yet: one chunk, unless fed while stopped. */
struct csv_limits {
    size_t max_field;  /* bytes of one field, after decoding and unquoting */
    size_t max_fields; /* fields in one record */
    size_t max_record; /* bytes of one record: the sum of its field lengths */
};

struct csv_reader;

/* Called once per record. fields[i] is NUL-terminated UTF-8 without NULs and
 * lens[i] == strlen(fields[i]); nfields >= 1; line is where the record starts.
 * Everything is valid only during the call. Return 0 to go on, non-zero to
 * stop: feed/finish then return CSV_STOPPED at once, and the rest of what was
 * fed stays queued inside the reader. Call csv_reader_feed(r, NULL, 0, ...)
 * (or csv_reader_finish again, if it was finish that stopped) to resume: an
 * asynchronous importer can stop after each batch and resume when the
 * database has taken it. Do not call feed, finish or free from the callback. */
typedef int (*csv_record_cb)(const char *const *fields, const size_t *lens, size_t nfields, uint64_t line,
                             void *arg);

/* NULL limits: all defaults. Returns NULL when out of memory. */
struct csv_reader *csv_reader_new(const struct csv_limits *lim);
void csv_reader_free(struct csv_reader *r);

/* Before the first feed only (CSV_ERR_USAGE otherwise). The delimiter must be
 * an ASCII byte other than NUL, CR, LF and '"'. A fixed encoding still skips
 * its own byte order mark. CSV_ENC_UNKNOWN restores detection. */
int csv_reader_set_delimiter(struct csv_reader *r, char delim);
int csv_reader_set_encoding(struct csv_reader *r, enum csv_encoding enc);

/* Takes n bytes (data may be NULL when n is 0) and calls cb for every record
 * completed so far. Returns CSV_OK when everything fed has been parsed,
 * CSV_STOPPED when cb stopped, or a negative error. Feed the next chunk only
 * after CSV_OK: bytes fed while stopped are accepted but queue up. */
int csv_reader_feed(struct csv_reader *r, const void *data, size_t n, csv_record_cb cb, void *arg);

/* End of input: parses what is queued, then the last record if the file
 * lacks a final line break. Returns CSV_OK (after which feeding is a usage
 * error), CSV_STOPPED (call finish again to go on) or an error: an
 * unterminated quoted field, a character cut off by the end of the file. */
int csv_reader_finish(struct csv_reader *r, csv_record_cb cb, void *arg);

/* The encoding in use; CSV_ENC_UNKNOWN while undecided. After a successful
 * finish an all-ASCII file reports CSV_ENC_UTF8. */
enum csv_encoding csv_reader_encoding(const struct csv_reader *r);
/* The delimiter in use, or 0 while the first line is still being read. */
char csv_reader_delimiter(const struct csv_reader *r);
/* The last error's message, or "" when there was none. */
const char *csv_reader_error(const struct csv_reader *r);
/* Input bytes taken by feed so far, for progress reports. */
uint64_t csv_reader_bytes(const struct csv_reader *r);
/* "UTF-8", "GB18030", "UTF-16LE", "UTF-16BE" or "unknown". */
const char *csv_encoding_name(enum csv_encoding enc);

/* The writer. Fields are public so that the caller can drain them: write
 * data[0..len) out, then csv_writer_reset(). A failed call leaves the buffer
 * as it was before that field or record end; err is then sticky and every
 * later call returns it. */
struct csv_writer {
    char *data;
    size_t len, cap;
    char delim;         /* ',' unless set after init (e.g. '\t') */
    size_t nfields;     /* fields written in the current record */
    size_t rec_bytes;   /* bytes written for the current record */
    uint64_t records;   /* records ended */
    int err;
};

void csv_writer_init(struct csv_writer *w);
void csv_writer_free(struct csv_writer *w);
/* Drops the buffered bytes (after the caller wrote them out); keeps the
 * capacity, the record count and a record in progress. */
void csv_writer_reset(struct csv_writer *w);
/* The UTF-8 byte order mark Excel needs to read UTF-8 CSV as UTF-8. */
int csv_writer_bom(struct csv_writer *w);

/* Appends one field (s may be NULL when len is 0). The field is written
 *  - with a leading apostrophe when csv_needs_guard() says so, so that Excel
 *    shows it as text instead of evaluating it;
 *  - quoted ("" for each quote inside) when it contains the delimiter, a
 *    comma, a tab, a quote, CR or LF, or starts or ends with a space; also the
 *    first field of the first record when it starts with "ID", which Excel
 *    would otherwise take for a SYLK file; a record that would be an empty
 *    line gets "" so that it stays a record.
 * Returns CSV_OK or CSV_ERR_NOMEM. */
int csv_writer_field(struct csv_writer *w, const char *s, size_t len);
int csv_writer_str(struct csv_writer *w, const char *s); /* NUL-terminated */
/* Ends the record with CRLF. */
int csv_writer_end_record(struct csv_writer *w);
/* A field of digits Excel would read as a number and mangle (11 digits or
 * more, or a leading zero: ID numbers, phones) is written as ="…" so that it
 * stays text; anything else as csv_writer_field(). */
int csv_writer_digits(struct csv_writer *w, const char *s, size_t len);
/* For importing: when s is such a ="…" field, returns the offset of the
 * digits (2) and sets *inner to their length; else 0 and *inner = len. */
size_t csv_excel_text(const char *s, size_t len, size_t *inner);
/* Fields then the record end. */
int csv_writer_record(struct csv_writer *w, const char *const *fields, const size_t *lens, size_t n);

/* The formula-injection rule. After any leading apostrophes are skipped, a
 * field needs the guard when it starts with '=', '+', '-', '@', TAB or CR,
 * unless all that follows the apostrophes is a plain number: an optional sign,
 * one or more ASCII digits, optionally a '.' and one or more digits
 * ("-12.50", "+8613800138000"; but "-1e5", "-1,234", "+86 138", "-" are
 * guarded). Skipping the apostrophes makes the guard reversible: "'=x" is
 * written "''=x", and csv_unguard() gives back exactly what was written. */
int csv_needs_guard(const char *s, size_t len);
/* For importing: how many leading bytes of a field to drop (0 or 1) to undo
 * the guard, i.e. 1 when it starts with an apostrophe and the rest needs the
 * guard. Only the importer knows whether a file came from an export, so the
 * reader does not apply this by itself. */
size_t csv_unguard(const char *s, size_t len);

#endif
