/* Import and export of customers and transactions as CSV.
 *
 * Import streams: the client sends the file's raw bytes in chunks; kehud
 * decodes them (UTF-8, GBK/GB18030, UTF-16 — common/csv.c), maps the header
 * to fields, checks every row with the same rules as CustomerAdd / TxnAdd
 * (customer_fields.c, validate.c) and COPYs the good rows into a temporary
 * staging table, on a connection of its own (db_copy.c) whose transaction
 * stays open across chunks. After the last chunk, set-based SQL resolves
 * owners, branches and customers, finds probable duplicates (against the
 * base and within the file), inserts, and commits — or rolls back for a dry
 * run. Bad rows are reported by line, the good ones are kept; nothing is
 * committed before the end, and a dropped connection rolls everything back.
 *
 * Export pages through the same query as CustomerList and writes CSV that
 * Excel opens correctly and import reads back. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conn.h"
#include "csv.h"
#include "customer_fields.h"
#include "customer_headers.h"
#include "db_copy.h"
#include "grades.h"
#include "id_number.h"
#include "log.h"
#include "mask.h"
#include "rpc.h"
#include "server.h"
#include "tr.h"
#include "validate.h"

#define IMPORT_MAX_CHUNK (512u * 1024)
#define IMPORT_MAX_REPORTED 10000 /* rejected and duplicate rows listed in the result */

enum import_kind { IMPORT_CUSTOMERS, IMPORT_TXNS };

/* Columns of a transaction file. */
enum { TX_CUSTOMER, TX_DATE, TX_AMOUNT, TX_MARGIN, TX_PRODUCT, TX_CATEGORY, TX_CHANNEL, TX_DUE, TX_COUNT };
static const char *const txn_columns[TX_COUNT] = { "customer", "date", "amount", "margin", "product", "category",
                                                   "channel", "due" };
static const struct {
    const char *label;
    int column;
} txn_headers[] = {
    { "customer", TX_CUSTOMER },  { "customer_id", TX_CUSTOMER }, { "ext_ref", TX_CUSTOMER }, { "客户", TX_CUSTOMER },
    { "客户编号", TX_CUSTOMER },  { "客户号", TX_CUSTOMER },      { "date", TX_DATE },       { "日期", TX_DATE },
    { "交易日期", TX_DATE },      { "amount", TX_AMOUNT },        { "金额", TX_AMOUNT },     { "交易金额", TX_AMOUNT },
    { "margin", TX_MARGIN },      { "毛利", TX_MARGIN },          { "利润", TX_MARGIN },     { "product", TX_PRODUCT },
    { "产品", TX_PRODUCT },       { "产品名称", TX_PRODUCT },     { "category", TX_CATEGORY }, { "类别", TX_CATEGORY },
    { "产品类别", TX_CATEGORY },  { "channel", TX_CHANNEL },      { "渠道", TX_CHANNEL },
    { "due", TX_DUE },            { "到期日", TX_DUE },           { "应收日期", TX_DUE },    { "还款日", TX_DUE },
};

/* Columns an export writes that an import recognises but does not set. */
static const char *const ignored_columns[] = { "id", "status", "revenue", "balance", "created_at", "updated_at",
                                               "grade_abc", "grade_volume", "grade_value_tier", "grade_asset_tier",
                                               "grade_lifecycle", "grade_credit", "grade_needs", "grade_potential",
                                               "grade_influence",
                                               "version", "last_contact" };

#define COL_IGNORED (-2)
/* update mode: the customer a row updates, and the version it was read at */
#define COL_ROW_ID (-3)
#define COL_ROW_VERSION (-4)
#define MAX_COLUMNS 256

struct rejected {
    uint64_t line;
    char *field, *reason;
};

/* A share of a chunk's customer rows, checked, keyed and turned into COPY
 * text on a thread of its own (ICU's transliteration is most of an
 * import's time in kehud); the shares are joined back in line order. */
struct part {
    struct import *im;
    size_t first, count;        /* rows of the chunk's pending list */
    struct arena rows;          /* this share's strings */
    struct wire_buf copy;
    struct rejected *rejected;
    size_t nrejected, caprejected;
    uint64_t staged;
    uv_work_t work;
};

#define IMPORT_PARTS 2          /* the threads a chunk's rows are shared out to */
#define IMPORT_PART_MIN 64      /* rows below which a chunk is not shared out */

struct import {
    uint64_t id;
    struct conn *conn;
    struct server *srv;
    enum import_kind kind;
    int dry_run, create_dups;
    int64_t default_branch, actor;
    struct authz_scope scope;   /* where the caller may write */
    struct authz_scope read;    /* which customers the caller may read: only those are named */
    char *probe;                /* the duplicates it hit that the caller may not read, for the audit record */
    int owner_defaults_to_caller;
    struct db_copy *x;
    struct req *waiting;        /* the request a database step will answer */
    struct req *queued;         /* the next chunk, sent before this one's answer: started after it */
    struct csv_reader *csv;
    int header_done;
    int column[MAX_COLUMNS];    /* field (or TX_*) per CSV column; -1 unknown; COL_IGNORED */
    size_t ncolumns;
    char **unknown;
    size_t nunknown;
    struct wire_buf copy;       /* COPY text for the database, per chunk */
    uint64_t total, staged;
    struct rejected *rejected;
    size_t nrejected, caprejected;
    uint64_t rejected_total;
    struct arena arena;         /* strings that live as long as the import */
    struct arena rows;          /* per chunk */
    const char *csv_error;
    const char *csv_error_field; /* the request field csv_error is about ("data" when NULL) */
    int step;                   /* of the final SQL */
    uint64_t imported;
    int confirm;                /* the client commits (ImportChunk.commit) */
    int update;                 /* rows matching a customer by id or ext_ref update it */
    int present[CF_COUNT];      /* the fields the file has a column for (what an update sets) */
    char **ignored;             /* recognised columns not imported, for the report */
    size_t nignored;
    uint64_t updated;
    int awaiting;               /* checked and staged: waiting for the client's commit */
    uint64_t skipped;
    size_t staged_rejected, staged_duplicates; /* reported with the staged result, for the log at commit */
    Kehu__V1__ImportResult *result;
    uint64_t started_ms;
    /* a chunk being parsed on the thread pool: ICU makes a row cost ~0.25 ms,
     * far too long for the loop when a chunk holds a thousand rows */
    uv_work_t work;
    const Kehu__V1__ImportChunk *chunk;
    int parse_rc;
    /* the chunk's customer rows, cut into cells, waiting for the parts */
    const char ***pending;
    uint64_t *pending_line;
    size_t npending, cappending;
    struct part parts[IMPORT_PARTS];
    int nparts, parts_left;
};

static uint64_t next_import_id;

/* An import from head office or a region has no branch of its own to put
 * customers in (a foreign-key failure on branch 0 before). */
#define NO_BRANCH "an import from head office or a region needs --branch, or a branch or owner on every row"

static void import_drop(struct conn *c, void *stream);
/* An import lives on its connection, one at a time. */
static const struct conn_stream_ops import_stream = { "import", import_drop };

static struct import *import_of(struct req *r)
{
    return conn_stream(r->conn, &import_stream);
}

/* ---- life */

static void import_free(struct import *im)
{
    if (!im)
        return;
    db_copy_close(im->x);
    csv_reader_free(im->csv);
    wire_buf_free(&im->copy);
    arena_free(&im->arena);
    arena_free(&im->rows);
    free(im->rejected);
    free(im->pending);
    free(im->pending_line);
    for (int i = 0; i < IMPORT_PARTS; i++) {
        arena_free(&im->parts[i].rows);
        wire_buf_free(&im->parts[i].copy);
        free(im->parts[i].rejected);
    }
    free(im->unknown);
    free(im->ignored);
    free(im);
}

/* The connection is going: the import's transaction rolls back. */
static void import_drop(struct conn *c, void *stream)
{
    struct import *im = stream;
    log_info(c->id, 0, "import %llu abandoned: rolled back", (unsigned long long)im->id);
    import_free(im);
}

/* A chunk queued behind one that ended the import gets the answer it
 * would have had sent after it: there is no such import any more. */
static void fail_queued(struct import *im)
{
    struct req *q = im->queued;
    im->queued = NULL;
    if (q)
        req_fail(q, KEHU__V1__CODE__NOT_FOUND, "import_id", "no import %llu in progress on this connection",
                 (unsigned long long)im->id);
}

/* Ends the import with an error for the waiting request. */
static void import_fail(struct import *im, struct req *r, Kehu__V1__Code code, const char *field, const char *msg)
{
    conn_stream_set(im->conn, &import_stream, NULL);
    fail_queued(im);
    import_free(im);
    req_fail(r, code, field, "%s", msg);
}

static void import_fail_db(struct import *im, struct req *r, const struct db_result *res)
{
    conn_stream_set(im->conn, &import_stream, NULL);
    fail_queued(im);
    import_free(im);
    req_fail_db(r, res);
}

/* ---- COPY text */

static void copy_text(struct wire_buf *b, const char *s)
{
    if (!s || !*s) {
        wire_buf_reserve(b, 2);
        memcpy(b->data + b->len, "\\N", 2);
        b->len += 2;
        return;
    }
    size_t n = strlen(s);
    if (wire_buf_reserve(b, n * 2) < 0)
        fatal("out of memory building COPY data");
    for (const char *p = s; *p; p++) {
        char esc = *p == '\\' ? '\\' : *p == '\t' ? 't' : *p == '\n' ? 'n' : *p == '\r' ? 'r' : 0;
        if (esc) {
            b->data[b->len++] = '\\';
            b->data[b->len++] = esc;
        } else {
            b->data[b->len++] = *p;
        }
    }
}

static void copy_sep(struct wire_buf *b, char c)
{
    if (wire_buf_reserve(b, 1) < 0)
        fatal("out of memory building COPY data");
    b->data[b->len++] = (uint8_t)c;
}

/* ---- rows */

static void reject(struct import *im, uint64_t line, const char *field, const char *reason)
{
    im->rejected_total++;
    if (im->nrejected >= IMPORT_MAX_REPORTED)
        return;
    if (im->nrejected == im->caprejected) {
        im->caprejected = im->caprejected ? im->caprejected * 2 : 64;
        im->rejected = xrealloc(im->rejected, im->caprejected * sizeof *im->rejected);
    }
    struct rejected *rj = &im->rejected[im->nrejected++];
    rj->line = line;
    rj->field = arena_strdup(&im->arena, field);
    rj->reason = arena_strdup(&im->arena, reason);
}

/* A rejected row of a part, kept in the part until the parts are joined. */
static void part_reject(struct part *p, uint64_t line, const char *field, const char *reason)
{
    if (p->nrejected == p->caprejected) {
        p->caprejected = p->caprejected ? p->caprejected * 2 : 64;
        p->rejected = xrealloc(p->rejected, p->caprejected * sizeof *p->rejected);
    }
    struct rejected *rj = &p->rejected[p->nrejected++];
    rj->line = line;
    rj->field = arena_strdup(&p->rows, field);
    rj->reason = arena_strdup(&p->rows, reason);
}

/* A cell as the row gives it: trimmed, the export's formula guard undone. */
static const char *cell(struct import *im, const char *const *fields, const size_t *lens, size_t n, size_t i)
{
    if (i >= n)
        return "";
    const char *s = fields[i];
    size_t len = lens[i];
    size_t skip = csv_unguard(s, len);
    s += skip;
    len -= skip;
    size_t inner;
    s += csv_excel_text(s, len, &inner); /* ="13800138000" as our export writes long digits */
    len = inner;
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    char *out = arena_alloc(&im->rows, len + 1);
    memcpy(out, s, len);
    return out;
}

/* Maps the header row; unknown columns are remembered for the report. */
static int map_header(struct import *im, const char *const *fields, const size_t *lens, size_t n)
{
    if (n > MAX_COLUMNS) {
        im->csv_error = "more than 256 columns";
        return 1;
    }
    im->ncolumns = n;
    int seen[CF_COUNT + 2 + TX_COUNT] = { 0 };
    for (size_t i = 0; i < n; i++) {
        const char *h = cell(im, fields, lens, n, i);
        if (i == 0 && (unsigned char)h[0] == 0xEF && (unsigned char)h[1] == 0xBB && (unsigned char)h[2] == 0xBF)
            h += 3; /* a second BOM some tools write */
        if (im->kind == IMPORT_CUSTOMERS && customer_export_column(h))
            h = customer_export_column(h); /* an export's Chinese header */
        int f = -1;
        if (im->kind == IMPORT_CUSTOMERS) {
            f = customer_field_from_header(h);
        } else {
            for (size_t k = 0; k < sizeof txn_headers / sizeof txn_headers[0] && f < 0; k++)
                if (strcasecmp(txn_headers[k].label, h) == 0)
                    f = txn_headers[k].column;
        }
        for (size_t k = 0; f < 0 && k < sizeof ignored_columns / sizeof ignored_columns[0]; k++)
            if (strcasecmp(ignored_columns[k], h) == 0)
                f = COL_IGNORED;
        if (im->update && f == COL_IGNORED && strcasecmp(h, "id") == 0)
            f = COL_ROW_ID;
        else if (im->update && f == COL_IGNORED && strcasecmp(h, "version") == 0)
            f = COL_ROW_VERSION;
        if (f == COL_IGNORED) {
            im->ignored = xrealloc(im->ignored, (im->nignored + 1) * sizeof *im->ignored);
            im->ignored[im->nignored++] = arena_strdup(&im->arena, h);
        }
        if (f >= 0) {
            int slot = f == CF_OWNER ? CF_COUNT : f == CF_BRANCH ? CF_COUNT + 1 : f;
            if (seen[slot]) {
                im->csv_error = arena_printf(&im->arena, "column '%s' appears twice (or two columns mean the same field)", h);
                return 1;
            }
            seen[slot] = 1;
        }
        if (f == -1 && *h) {
            im->unknown = xrealloc(im->unknown, (im->nunknown + 1) * sizeof *im->unknown);
            im->unknown[im->nunknown++] = arena_strdup(&im->arena, h);
        }
        im->column[i] = f;
    }
    if (im->kind == IMPORT_CUSTOMERS && !seen[FI_NAME]) {
        im->csv_error = "the header has no name column (name or 姓名)";
        return 1;
    }
    if (im->kind == IMPORT_CUSTOMERS)
        for (int f = 0; f < CF_COUNT; f++)
            im->present[f] = seen[f];
    /* an update recomputes the search keys from the row: it needs every field they are made of */
    if (im->update && !(seen[FI_PHONES] && seen[FI_EMAIL] && seen[FI_COMPANY] && seen[FI_ID_NUMBER] && seen[FI_EXT_REF])) {
        im->csv_error = "an update needs the columns name, phones, email, company, id_number and ext_ref"
                        " (customer export writes them)";
        return 1;
    }
    /* without a default branch (an import from above a branch) each row must
     * bring its branch or an owner whose branch it takes */
    if (im->kind == IMPORT_CUSTOMERS && !im->default_branch && !seen[CF_COUNT] && !seen[CF_COUNT + 1]) {
        im->csv_error = NO_BRANCH;
        im->csv_error_field = "branch";
        return 1;
    }
    if (im->kind == IMPORT_TXNS && (!seen[TX_CUSTOMER] || !seen[TX_AMOUNT] || !seen[TX_DATE])) {
        im->csv_error = "a transaction file needs the columns customer, date and amount";
        return 1;
    }
    return 0;
}

/* Chinese and other spellings of enumerated values. */
static const char *value_alias(int field, const char *v)
{
    static const struct {
        int field;
        const char *from, *to;
    } aliases[] = {
        { FI_GENDER, "男", "male" },           { FI_GENDER, "女", "female" },
        { FI_GENDER, "m", "male" },            { FI_GENDER, "f", "female" },
        { FI_KIND, "个人", "individual" },     { FI_KIND, "对私", "individual" },
        { FI_KIND, "企业", "corporate" },      { FI_KIND, "公司", "corporate" },
        { FI_KIND, "对公", "corporate" },      { FI_KIND, "单位", "corporate" },
        { FI_SOURCE, "B2B平台", "b2b_platform" }, { FI_SOURCE, "展会", "trade_show" },
        { FI_SOURCE, "展会名片", "trade_show" }, { FI_SOURCE, "搜索引擎", "search_engine" },
        { FI_SOURCE, "网络搜索", "search_engine" }, { FI_SOURCE, "购买名单", "purchased_list" },
        { FI_SOURCE, "转介绍", "referral" },   { FI_SOURCE, "介绍", "referral" },
        { FI_SOURCE, "上门", "walk_in" },      { FI_SOURCE, "自然到店", "walk_in" },
        { FI_SOURCE, "其他", "other" },
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (aliases[i].field == field && strcasecmp(aliases[i].from, v) == 0)
            return aliases[i].to;
    return v;
}

static void stage_customer(struct part *p, const char *const *cells, uint64_t line)
{
    struct import *im = p->im;
    struct cvalues v = { 0 };
    const char *owner = "", *branch = "", *row_id = "", *row_version = "";
    const char *given[CF_COUNT] = { 0 };
    for (size_t i = 0; i < im->ncolumns; i++) {
        int f = im->column[i];
        if (f == COL_ROW_ID)
            row_id = cells[i];
        else if (f == COL_ROW_VERSION)
            row_version = cells[i];
        else if (f == CF_OWNER)
            owner = cells[i];
        else if (f == CF_BRANCH)
            branch = cells[i];
        else if (f >= 0 && f < CF_COUNT)
            given[f] = cells[i];
    }
    int64_t num_check;
    if (*row_id && (parse_i64(row_id, &num_check) < 0 || num_check <= 0)) {
        part_reject(p, line, "id", arena_printf(&p->rows, "id must be a customer's id, not '%s'", row_id));
        return;
    }
    if (*row_version && (parse_i64(row_version, &num_check) < 0 || num_check <= 0)) {
        part_reject(p, line, "version", arena_printf(&p->rows, "version must be a number, not '%s'", row_version));
        return;
    }
    if (im->update)
        for (int f = FI_ID_NUMBER; f <= FI_PHONES; f++)
            if (given[f] && strchr(given[f], '*')) { /* an export masks what the reader may not see */
                part_reject(p, line, customer_fields[f].name,
                       arena_printf(&p->rows, "%s is masked in this file: write the full value or leave the customer out",
                                    customer_fields[f].name));
                return;
            }
    for (int f = 0; f < CF_COUNT; f++) {
        const char *value = given[f] ? given[f] : "";
        if (f == FI_KIND && !*value)
            value = "individual";
        if (f == FI_PHONES || f == FI_TAGS) { /* spreadsheets separate lists with ; or ， too */
            char *norm = arena_strdup(&p->rows, value);
            for (char *c = norm; *c; c++)
                if (*c == ';')
                    *c = ',';
            value = norm;
        }
        value = value_alias(f, value);
        char date[11];
        if ((f == FI_BIRTH || f == FI_SINCE) && *value) {
            const char *why = validate_date_loose(value, date);
            if (why) {
                part_reject(p, line, customer_fields[f].name, arena_printf(&p->rows, "%s %s", customer_fields[f].name, why));
                return;
            }
            value = date;
        }
        const char *why = customer_field_set(&p->rows, &v, f, value);
        if (why) {
            part_reject(p, line, customer_fields[f].name, arena_printf(&p->rows, "%s %s", customer_fields[f].name, why));
            return;
        }
    }
    struct customer_keys k;
    if (customer_keys(&p->rows, &v, &k) < 0) {
        part_reject(p, line, "name", "could not compute search keys");
        return;
    }
    /* the ID number sealed here, with its hash and masked form: no
     * PL/pgSQL call per row for them in the database (id_number.c); without
     * the key it goes in the clear, and the database refuses it as before */
    const char *plain = v.text[FI_ID_NUMBER], *sealed = NULL, *hash = NULL, *masked = NULL;
    if (plain && *plain && id_number_keyed()) {
        sealed = id_number_seal(&p->rows, plain);
        hash = id_number_hash(&p->rows, plain);
        masked = mask_id_number(&p->rows, plain);
        if (!sealed || !hash) {
            part_reject(p, line, "id_number", "the ID number could not be sealed");
            return;
        }
    }
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)line);
    copy_text(&p->copy, num);
    for (int f = 0; f < CF_COUNT; f++) {
        copy_sep(&p->copy, '\t');
        copy_text(&p->copy, f == FI_ID_NUMBER && sealed ? sealed : customer_field_param(&p->rows, &v, f));
    }
    const char *tail[] = { owner, branch, k.sort_key, k.text, k.tokens, row_id, row_version, hash, masked };
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++) {
        copy_sep(&p->copy, '\t');
        copy_text(&p->copy, tail[i]);
    }
    copy_sep(&p->copy, '\n');
    p->staged++;
}

static void stage_txn(struct import *im, const char *const *fields, const size_t *lens, size_t n, uint64_t line)
{
    const char *val[TX_COUNT] = { "", "", "", "", "", "", "", "" };
    for (size_t i = 0; i < im->ncolumns; i++)
        if (im->column[i] >= 0 && im->column[i] < TX_COUNT)
            val[im->column[i]] = cell(im, fields, lens, n, i);
    if (!*val[TX_CUSTOMER]) {
        reject(im, line, "customer", "customer is required (an id or an external reference)");
        return;
    }
    char date[11];
    const char *why = validate_date_loose(val[TX_DATE], date);
    if (!*val[TX_DATE] || why) {
        reject(im, line, "date", *val[TX_DATE] ? arena_printf(&im->rows, "date %s", why) : "date is required");
        return;
    }
    int64_t amount, margin = 0;
    if ((why = validate_money(val[TX_AMOUNT], &amount)) || amount == 0) {
        reject(im, line, "amount", why ? arena_printf(&im->rows, "amount %s", why) : "amount must not be zero");
        return;
    }
    if (*val[TX_MARGIN] && (why = validate_money(val[TX_MARGIN], &margin))) {
        reject(im, line, "margin", arena_printf(&im->rows, "margin %s", why));
        return;
    }
    for (int c = TX_PRODUCT; c <= TX_CHANNEL; c++)
        if ((why = validate_line(val[c], 200))) {
            reject(im, line, txn_columns[c], arena_printf(&im->rows, "%s %s", txn_columns[c], why));
            return;
        }
    /* a due date makes it a sale on credit, as txn add --on-credit --due */
    char due[11] = "";
    if (*val[TX_DUE]) {
        if ((why = validate_date_loose(val[TX_DUE], due))) {
            reject(im, line, "due", arena_printf(&im->rows, "due %s", why));
            return;
        }
        if (strcmp(due, date) < 0 || amount < 0) {
            reject(im, line, "due", amount < 0 ? "a refund cannot be on credit" : "due must not be before the date");
            return;
        }
    }
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)line);
    const char *cells[] = { num,
                            val[TX_CUSTOMER],
                            date,
                            rpc_money_sql(&im->rows, amount),
                            *val[TX_MARGIN] ? rpc_money_sql(&im->rows, margin) : NULL,
                            val[TX_PRODUCT],
                            val[TX_CATEGORY],
                            val[TX_CHANNEL],
                            *due ? due : NULL };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        if (i)
            copy_sep(&im->copy, '\t');
        copy_text(&im->copy, cells[i]);
    }
    copy_sep(&im->copy, '\n');
    im->staged++;
}

static int on_record(const char *const *fields, const size_t *lens, size_t n, uint64_t line, void *arg)
{
    struct import *im = arg;
    if (!im->header_done) {
        im->header_done = 1;
        return map_header(im, fields, lens, n);
    }
    im->total++;
    if (im->kind == IMPORT_CUSTOMERS) { /* the cells now; the rest on the parts' threads */
        const char **cells = arena_alloc(&im->rows, sizeof *cells * (im->ncolumns ? im->ncolumns : 1));
        for (size_t i = 0; i < im->ncolumns; i++)
            if (im->column[i] != -1 && im->column[i] != COL_IGNORED)
                cells[i] = cell(im, fields, lens, n, i);
        if (im->npending == im->cappending) {
            im->cappending = im->cappending ? im->cappending * 2 : 1024;
            im->pending = xrealloc(im->pending, im->cappending * sizeof *im->pending);
            im->pending_line = xrealloc(im->pending_line, im->cappending * sizeof *im->pending_line);
        }
        im->pending[im->npending] = cells;
        im->pending_line[im->npending++] = line;
    } else {
        stage_txn(im, fields, lens, n, line);
    }
    return 0;
}

/* ---- the final, set-based part */

static char *scope_predicate(struct import *im, const char *branch_col, const char *owner_col)
{
    return rpc_scope_predicate(&im->arena, im->scope, branch_col, owner_col);
}

#define NORM(x) "lower(regexp_replace(" x ", '[[:space:][:punct:]]+', '', 'g'))"

static char *customers_resolve_sql(struct import *im)
{
    long long actor = (long long)im->actor, branch = (long long)im->default_branch;
    return arena_printf(
        &im->arena,
        "CREATE INDEX ON import_stage (line);"
        "UPDATE import_stage s SET owner_id = u.id FROM app_user u"
        " WHERE s.owner IS NOT NULL AND u.username = lower(s.owner) AND u.disabled_at IS NULL;"
        "UPDATE import_stage SET problem_field = 'owner', problem = 'no active user named ' || owner"
        " WHERE owner IS NOT NULL AND owner_id IS NULL;"
        "%s"
        /* each branch named once: by id, path or a name only one unit has (org_unit_match) */
        "UPDATE import_stage s SET problem_field = 'branch', problem = org_unit_ambiguity(m.branch, m.ids)"
        " FROM (SELECT d.branch, org_unit_match(d.branch) AS ids FROM (SELECT DISTINCT branch FROM import_stage"
        " WHERE branch IS NOT NULL) d) m WHERE s.problem IS NULL AND s.branch = m.branch AND cardinality(m.ids) > 1;"
        "UPDATE import_stage s SET branch_id = b.id"
        " FROM (SELECT d.branch, org_unit_match(d.branch) AS ids FROM (SELECT DISTINCT branch FROM import_stage"
        " WHERE branch IS NOT NULL) d) m JOIN org_unit b ON b.id = m.ids[1]"
        " WHERE s.problem IS NULL AND s.branch = m.branch AND cardinality(m.ids) = 1 AND b.kind = 'branch';"
        "UPDATE import_stage SET problem_field = 'branch', problem = 'no branch named ' || branch"
        " WHERE problem IS NULL AND branch IS NOT NULL AND branch_id IS NULL;"
        "UPDATE import_stage s SET branch_id = o.branch_id FROM app_user u JOIN org_unit o ON o.id = u.unit_id"
        " WHERE s.problem IS NULL AND s.branch_id IS NULL AND s.owner_id = u.id AND o.branch_id IS NOT NULL;"
        "UPDATE import_stage SET branch_id = %lld WHERE problem IS NULL AND branch_id IS NULL AND %lld <> 0;"
        "UPDATE import_stage SET problem_field = 'branch', problem = '" NO_BRANCH "'"
        " WHERE problem IS NULL AND branch_id IS NULL;"
        "UPDATE import_stage s SET problem_field = 'owner', problem = coalesce(s.owner, 'the owner')"
        " || ' does not work in that branch' FROM app_user u JOIN org_unit o ON o.id = u.unit_id"
        " WHERE s.problem IS NULL AND s.owner_id = u.id AND o.branch_id IS DISTINCT FROM s.branch_id;"
        "UPDATE import_stage SET problem_field = 'owner', problem = 'outside the customers you may change'"
        " WHERE problem IS NULL AND NOT (%s);"
        "UPDATE import_stage s SET problem_field = 'ext_ref', problem = 'external reference ' || s.ext_ref"
        " || ' is already used in this branch' || CASE WHEN %s THEN ' by customer ' || c.id ELSE '' END"
        " FROM customer c"
        " WHERE s.problem IS NULL AND s.ext_ref IS NOT NULL AND c.branch_id = s.branch_id AND c.ext_ref = s.ext_ref;"
        "UPDATE import_stage s SET problem_field = 'ext_ref', problem = 'external reference ' || s.ext_ref"
        " || ' repeats line ' || m.first FROM (SELECT ext_ref, branch_id, min(line) AS first FROM import_stage"
        "  WHERE problem IS NULL AND ext_ref IS NOT NULL GROUP BY 1, 2) m"
        " WHERE s.problem IS NULL AND s.ext_ref = m.ext_ref AND s.branch_id = m.branch_id AND s.line > m.first;"
        /* probable duplicates: keys once, then against the base and within the file */
        "ALTER TABLE import_stage ADD name_key text, ADD company_key text;"
        "UPDATE import_stage SET name_key = " NORM("name") ", company_key = " NORM("company")
        " WHERE problem IS NULL AND company IS NOT NULL;"
        "CREATE TEMP TABLE import_key ON COMMIT DROP AS"
        " SELECT line, 'phone' AS what, p AS key FROM import_stage, unnest(phones::text[]) p WHERE problem IS NULL"
        " UNION ALL SELECT line, 'ID number', coalesce(id_number_hash, id_hash(id_number)) FROM import_stage"
        "  WHERE problem IS NULL AND id_number IS NOT NULL"
        " UNION ALL SELECT line, 'name and company', name_key || '/' || company_key FROM import_stage"
        "  WHERE problem IS NULL AND company_key IS NOT NULL AND company_key <> '';"
        "CREATE INDEX ON import_key (key);"
        "UPDATE import_stage s SET dup_of = m.id, dup_reason = m.reason FROM ("
        /* one join per kind of key, each on its own index (an OR of the three
         * left the planner a nested loop over the whole base) */
        " SELECT DISTINCT ON (x.line) x.line, x.id, x.reason FROM ("
        "  SELECT k.line, c.id, 'same phone ' || k.key AS reason FROM import_key k JOIN customer c"
        "   ON c.phones @> ARRAY[k.key] WHERE k.what = 'phone' AND c.merged_into IS NULL AND c.status <> 'archived'"
        "  UNION ALL SELECT k.line, c.id, 'same ID number' FROM import_key k JOIN customer c ON c.id_number_hash = k.key"
        "   WHERE k.what = 'ID number' AND c.merged_into IS NULL AND c.status <> 'archived'"
        "  UNION ALL SELECT k.line, c.id, 'same name and company' FROM import_key k JOIN customer c"
        "   ON c.name_key = split_part(k.key, '/', 1) AND c.company_key = split_part(k.key, '/', 2)"
        "   WHERE k.what = 'name and company' AND c.merged_into IS NULL AND c.status <> 'archived'"
        " ) x ORDER BY x.line, x.id) m WHERE s.line = m.line;"
        "UPDATE import_stage s SET dup_line = m.other, dup_reason = m.reason FROM ("
        " SELECT DISTINCT ON (a.line) a.line, b.line AS other, 'same ' || a.what || CASE WHEN a.what = 'phone'"
        "  THEN ' ' || a.key ELSE '' END || ' as line ' || b.line AS reason"
        " FROM import_key a JOIN import_key b ON a.what = b.what AND a.key = b.key AND b.line < a.line"
        " ORDER BY a.line, b.line) m WHERE s.line = m.line AND s.dup_reason IS NULL",
        im->owner_defaults_to_caller
            ? arena_printf(&im->arena, "UPDATE import_stage SET owner_id = %lld WHERE owner IS NULL;", actor)
            : "",
        branch, branch, scope_predicate(im, "branch_id", "owner_id"),
        rpc_scope_predicate(&im->arena, im->read, "c.branch_id", "c.owner_id"));
}

static char *customers_insert_sql(struct import *im)
{
    char cols[1024] = "", vals[2048] = "";
    size_t nc = 0, nv = 0;
    for (int f = 0; f < CF_COUNT; f++) {
        nc += (size_t)snprintf(cols + nc, sizeof cols - nc, ", %s", customer_fields[f].name);
        if (f == FI_SINCE)
            nv += (size_t)snprintf(vals + nv, sizeof vals - nv, ", coalesce(since::date, current_date)");
        else
            nv += (size_t)snprintf(vals + nv, sizeof vals - nv, ", %s%s", customer_fields[f].name,
                                   customer_fields[f].cast);
    }
    long long actor = (long long)im->actor;
    /* a bulk insert (sql/0036): the customer trigger is not queued for its
     * rows; their 'created' history rows and announcements are written
     * here as sets, as the trigger writes them one by one (the
     * announcements marked with this job: kehud sums them up) */
    return arena_printf(
        &im->arena,
        "SET LOCAL kehu.bulk = 'on';"
        "CREATE TEMP TABLE import_new (id bigint, branch_id bigint, owner_id bigint, version bigint, name text)"
        " ON COMMIT DROP;"
        "WITH ins AS (INSERT INTO customer (branch_id, owner_id, created_by, updated_by, sort_key, search_text,"
        " search_tokens, id_number_hash, id_number_masked%s) SELECT branch_id, owner_id, %lld, %lld, sort_key,"
        " search_text, search_tokens::text[], id_number_hash, id_number_masked%s FROM import_stage"
        " WHERE problem IS NULL%s ORDER BY line RETURNING id, branch_id, owner_id, version, name)"
        " INSERT INTO import_new SELECT * FROM ins;"
        "SET LOCAL kehu.bulk = 'off';"
        "INSERT INTO change_log (branch_id, customer_id, entity, entity_id, field, old_value, new_value, version,"
        " changed_by) SELECT branch_id, id, 'customer', id, 'created', NULL, name, version, %lld FROM import_new"
        " ORDER BY id;"
        "SELECT count(pg_notify('kehu', concat_ws(' ', 'customer.created', n.id, n.branch_id, n.version,"
        " coalesce(n.owner_id, 0), %lld, b.path::text, coalesce(op.path, '{}')::text)"
        " || E'\\x1e' || CASE WHEN coalesce(current_setting('kehu.job', true), '') NOT IN ('', 'off')"
        "  THEN txid_current()::text ELSE '' END"
        " || E'\\x1f' || kehu_announce_part((SELECT u.username FROM app_user u WHERE u.id = %lld))"
        " || E'\\x1f' || kehu_announce_part(n.name) || E'\\x1f'))"
        " FROM import_new n LEFT JOIN org_unit b ON b.id = n.branch_id LEFT JOIN app_user ou ON ou.id = n.owner_id"
        " LEFT JOIN org_unit op ON op.id = ou.unit_id",
        cols, actor, actor, vals, im->create_dups ? "" : " AND dup_reason IS NULL", actor, actor, actor);
}

/* Update mode, before anything else: the rows that name a customer the
 * caller may change (by id, or by an external reference that is unique
 * among those) and are still at the version given move to import_update;
 * the rest stay, to be imported as new customers or reported. */
static char *customers_match_sql(struct import *im)
{
    const char *may = scope_predicate(im, "c.branch_id", "c.owner_id");
    return arena_printf(
        &im->arena,
        "UPDATE import_stage s SET upd_id = c.id FROM customer c"
        " WHERE s.row_id IS NOT NULL AND c.id = s.row_id AND c.merged_into IS NULL AND %s;"
        "UPDATE import_stage SET problem_field = 'id', problem = 'no customer ' || row_id || ' that you may change'"
        " WHERE row_id IS NOT NULL AND upd_id IS NULL AND problem IS NULL;"
        "UPDATE import_stage s SET upd_id = m.id FROM (SELECT c.ext_ref, min(c.id) AS id, count(*) AS n FROM customer c"
        "  WHERE c.ext_ref IN (SELECT ext_ref FROM import_stage WHERE row_id IS NULL) AND c.merged_into IS NULL AND %s"
        "  GROUP BY 1) m WHERE s.row_id IS NULL AND s.ext_ref = m.ext_ref AND m.n = 1;"
        "UPDATE import_stage s SET problem_field = 'ext_ref', problem = 'external reference ' || s.ext_ref"
        " || ' matches customers in several branches: give the id' WHERE s.row_id IS NULL AND s.upd_id IS NULL"
        " AND s.problem IS NULL AND (SELECT count(*) FROM customer c WHERE c.ext_ref = s.ext_ref"
        "  AND c.merged_into IS NULL AND %s) > 1;"
        "UPDATE import_stage s SET problem_field = 'version', problem = 'customer ' || c.id || ' changed since version '"
        " || s.row_version || ': it is now at version ' || c.version FROM customer c"
        " WHERE s.upd_id = c.id AND s.problem IS NULL AND s.row_version IS NOT NULL AND s.row_version <> c.version;"
        "UPDATE import_stage s SET problem_field = 'id', problem = 'customer ' || s.upd_id || ' is updated by line '"
        " || m.first || ' already' FROM (SELECT upd_id, min(line) AS first FROM import_stage"
        "  WHERE upd_id IS NOT NULL AND problem IS NULL GROUP BY 1) m"
        " WHERE s.upd_id = m.upd_id AND s.line > m.first AND s.problem IS NULL;"
        "UPDATE import_stage s SET problem_field = 'ext_ref', problem = 'external reference ' || s.ext_ref"
        " || ' is already used in this branch by customer ' || c.id FROM customer u JOIN customer c"
        " ON c.branch_id = u.branch_id WHERE s.upd_id = u.id AND s.problem IS NULL AND s.ext_ref IS NOT NULL"
        " AND c.ext_ref = s.ext_ref AND c.id <> u.id;"
        "CREATE TEMP TABLE import_update ON COMMIT DROP AS SELECT * FROM import_stage"
        " WHERE upd_id IS NOT NULL AND problem IS NULL;"
        "DELETE FROM import_stage WHERE upd_id IS NOT NULL AND problem IS NULL",
        may, may, may);
}

/* The matched customers get the fields the file has columns for (owner and
 * branch aside: customers move through assign), when any differs; the
 * customer's trigger logs each changed field and announces it. */
static char *customers_update_sql(struct import *im)
{
    char set[2048] = "", now[1024] = "", given[1024] = "";
    size_t ns = 0, nn = 0, ng = 0;
    for (int f = 0; f < CF_COUNT; f++) {
        if (!im->present[f])
            continue;
        const char *name = customer_fields[f].name, *cast = customer_fields[f].cast;
        if (f == FI_SINCE)
            ns += (size_t)snprintf(set + ns, sizeof set - ns, ", since = coalesce(u.since::date, c.since)");
        else if (f == FI_ID_NUMBER && id_number_keyed()) /* sealed by kehud: the same number keeps its ciphertext */
            ns += (size_t)snprintf(set + ns, sizeof set - ns,
                                   ", id_number = CASE WHEN c.id_number_hash IS NOT DISTINCT FROM u.id_number_hash"
                                   " THEN c.id_number ELSE u.id_number END, id_number_hash = u.id_number_hash,"
                                   " id_number_masked = CASE WHEN c.id_number_hash IS NOT DISTINCT FROM"
                                   " u.id_number_hash THEN c.id_number_masked ELSE u.id_number_masked END");
        else
            ns += (size_t)snprintf(set + ns, sizeof set - ns, ", %s = u.%s%s", name, name, cast);
        /* the ID number is stored sealed: compared by its hash */
        if (f == FI_ID_NUMBER) {
            nn += (size_t)snprintf(now + nn, sizeof now - nn, "%sc.id_number_hash", nn ? ", " : "");
            ng += (size_t)snprintf(given + ng, sizeof given - ng, "%scoalesce(u.id_number_hash, id_hash(u.id_number))",
                                   ng ? ", " : "");
        } else if (f == FI_SINCE) {
            nn += (size_t)snprintf(now + nn, sizeof now - nn, "%sc.since", nn ? ", " : "");
            ng += (size_t)snprintf(given + ng, sizeof given - ng, "%scoalesce(u.since::date, c.since)", ng ? ", " : "");
        } else {
            nn += (size_t)snprintf(now + nn, sizeof now - nn, "%sc.%s", nn ? ", " : "", name);
            ng += (size_t)snprintf(given + ng, sizeof given - ng, "%su.%s%s", ng ? ", " : "", name, cast);
        }
    }
    return arena_printf(&im->arena,
                        "WITH done AS (UPDATE customer c SET version = c.version + 1, updated_at = now(), updated_by = %lld,"
                        " sort_key = u.sort_key, search_text = u.search_text, search_tokens = u.search_tokens::text[]%s"
                        " FROM import_update u WHERE c.id = u.upd_id AND c.merged_into IS NULL"
                        " AND (u.row_version IS NULL OR c.version = u.row_version)"
                        " AND ROW(%s) IS DISTINCT FROM ROW(%s) RETURNING c.id) SELECT count(*) FROM done",
                        (long long)im->actor, set, now, given);
}

static char *txns_resolve_sql(struct import *im)
{
    const char *visible = scope_predicate(im, "c.branch_id", "c.owner_id");
    return arena_printf(
        &im->arena,
        "CREATE INDEX ON import_stage (customer);"
        "UPDATE import_stage s SET customer_id = m.id, branch_id = m.branch_id FROM ("
        " SELECT c.ext_ref, min(c.id) AS id, min(c.branch_id) AS branch_id, count(*) AS n FROM customer c"
        " WHERE c.ext_ref IN (SELECT customer FROM import_stage) AND c.merged_into IS NULL AND %s GROUP BY 1) m"
        " WHERE m.ext_ref = s.customer AND m.n = 1;"
        "UPDATE import_stage s SET problem_field = 'customer', problem = 'external reference ' || s.customer"
        " || ' matches customers in several branches: use the customer id'"
        " WHERE s.customer_id IS NULL AND (SELECT count(*) FROM customer c WHERE c.ext_ref = s.customer"
        "  AND c.merged_into IS NULL AND %s) > 1;"
        "UPDATE import_stage s SET customer_id = c.id, branch_id = c.branch_id FROM customer c"
        " WHERE s.customer_id IS NULL AND s.problem IS NULL AND s.customer ~ '^[0-9]{1,18}$'"
        " AND c.id = s.customer::bigint AND c.merged_into IS NULL AND %s;"
        "UPDATE import_stage SET problem_field = 'customer', problem = 'no customer ' || customer"
        " || ' (by id or external reference) that you may change' WHERE customer_id IS NULL AND problem IS NULL",
        visible, visible, visible);
}

static char *txns_insert_sql(struct import *im)
{
    long long actor = (long long)im->actor;
    return arena_printf(
        &im->arena,
        "SET LOCAL kehu.bulk = 'on';"
        "INSERT INTO txn (branch_id, customer_id, date, amount, margin, product, category, channel, on_credit, due,"
        " created_by) SELECT branch_id, customer_id, date::date, amount::numeric, margin::numeric, product, category,"
        " channel, due IS NOT NULL, due::date, %lld FROM import_stage WHERE problem IS NULL ORDER BY line;"
        "UPDATE customer c SET revenue = c.revenue + t.total, balance = c.balance + t.owed FROM ("
        " SELECT customer_id, sum(amount::numeric) AS total,"
        "  coalesce(sum(amount::numeric) FILTER (WHERE due IS NOT NULL), 0) AS owed"
        " FROM import_stage WHERE problem IS NULL GROUP BY 1) t WHERE c.id = t.customer_id;"
        "SET LOCAL kehu.bulk = 'off';"
        "SELECT count(*) FROM (SELECT kehu_announce('txn.imported', c, %lld) FROM customer c"
        " WHERE c.id IN (SELECT customer_id FROM import_stage WHERE problem IS NULL)) announced;"
        "SELECT count(*) FROM import_stage WHERE problem IS NULL",
        actor, actor);
}

/* The final steps, one database round trip each. */
enum {
    STEP_END_COPY,
    STEP_MATCH, /* update mode */
    STEP_RESOLVE,
    STEP_REJECTED,
    STEP_DUPLICATES,
    STEP_INSERT,
    STEP_UPDATE, /* update mode */
    STEP_FINISH,
    STEP_DONE
};

static void run_step(struct import *im);

static void result_ignored(struct import *im, struct req *r, Kehu__V1__ImportResult *out)
{
    out->ignored_columns = arena_alloc(&r->arena, sizeof *out->ignored_columns * (im->nignored ? im->nignored : 1));
    out->n_ignored_columns = 0;
    for (size_t i = 0; i < im->nignored; i++)
        out->ignored_columns[out->n_ignored_columns++] = arena_strdup(&r->arena, im->ignored[i]);
}

static void merge_rejected(struct import *im, struct req *r, const struct db_result *res)
{
    Kehu__V1__ImportResult *out = im->result;
    int n = db_rows(res, 0);
    size_t cap = im->nrejected + (size_t)n;
    out->rejected = arena_alloc(&r->arena, sizeof *out->rejected * (cap ? cap : 1));
    /* both lists are in line order: merge them */
    size_t a = 0;
    int b = 0;
    while ((a < im->nrejected || b < n) && out->n_rejected < IMPORT_MAX_REPORTED) {
        Kehu__V1__RejectedRow *row = arena_alloc(&r->arena, sizeof *row);
        kehu__v1__rejected_row__init(row);
        uint64_t lb = b < n ? (uint64_t)db_get_i64(res, 0, b, 0) : UINT64_MAX;
        if (a < im->nrejected && im->rejected[a].line <= lb) {
            row->line = im->rejected[a].line;
            row->field = arena_strdup(&r->arena, im->rejected[a].field);
            row->reason = arena_strdup(&r->arena, im->rejected[a].reason);
            a++;
        } else {
            row->line = lb;
            row->field = arena_strdup(&r->arena, db_get(res, 0, b, 1));
            row->reason = arena_strdup(&r->arena, db_get(res, 0, b, 2));
            b++;
        }
        out->rejected[out->n_rejected++] = row;
    }
}

static void step_done(const struct db_result *res, void *arg)
{
    struct import *im = arg;
    struct req *r = im->waiting;
    if (res->outcome != DB_OK) {
        if (res->outcome == DB_ERROR)
            log_error(im->conn->id, r->id, "import %llu, step %d: %s", (unsigned long long)im->id, im->step,
                      res->message);
        import_fail_db(im, r, res);
        return;
    }
    Kehu__V1__ImportResult *out = im->result;
    switch (im->step) {
    case STEP_REJECTED:
        merge_rejected(im, r, res);
        break;
    case STEP_DUPLICATES: {
        int n = db_rows(res, 0);
        out->duplicates = arena_alloc(&r->arena, sizeof *out->duplicates * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) {
            Kehu__V1__DuplicateRow *d = arena_alloc(&r->arena, sizeof *d);
            kehu__v1__duplicate_row__init(d);
            d->line = (uint64_t)db_get_i64(res, 0, i, 0);
            d->existing_id = db_get_i64(res, 0, i, 1);
            d->other_line = (uint64_t)db_get_i64(res, 0, i, 2);
            d->reason = arena_strdup(&r->arena, db_get(res, 0, i, 3));
            if (!db_get_bool(res, 0, i, 5)) {
                audit_note_customer(r, d->existing_id);
                im->probe = arena_printf(&im->arena, "%s%s%lld", im->probe ? im->probe : "", im->probe ? "," : "",
                                         (long long)d->existing_id);
                d->existing_id = 0;
                d->reason = arena_printf(&r->arena, "%s: " RPC_DUPLICATE_ELSEWHERE, d->reason);
            }
            out->duplicates[out->n_duplicates++] = d;
        }
        out->skipped = im->create_dups ? 0 : (uint64_t)db_get_i64(res, 0, 0, 4);
        if (im->probe)
            audit_note_detail(r, "duplicate probe matched customers the caller may not read: %s", im->probe);
        break;
    }
    case STEP_UPDATE:
        im->updated = (uint64_t)db_get_i64(res, 0, 0, 0);
        break;
    case STEP_INSERT:
        im->imported = (uint64_t)db_get_i64(res, 0, 0, 0);
        break;
    default:
        break;
    }
    log_debug(im->conn->id, r->id, "import %llu: step %d done at %llu ms", (unsigned long long)im->id, im->step,
              (unsigned long long)(uv_now(im->srv->loop) - im->started_ms));
    im->step++;
    run_step(im);
}

static void run_step(struct import *im)
{
    struct req *r = im->waiting;
    switch (im->step) {
    case STEP_END_COPY:
        db_copy_end(im->x, step_done, im);
        return;
    case STEP_MATCH:
    case STEP_UPDATE:
        if (!im->update) {
            im->step++;
            run_step(im);
            return;
        }
        db_copy_exec(im->x, im->step == STEP_MATCH ? customers_match_sql(im) : customers_update_sql(im), step_done, im);
        return;
    case STEP_RESOLVE:
        db_copy_exec(im->x, im->kind == IMPORT_CUSTOMERS ? customers_resolve_sql(im) : txns_resolve_sql(im),
                     step_done, im);
        return;
    case STEP_REJECTED:
        db_copy_exec(im->x,
                     "SELECT line, problem_field, problem FROM import_stage WHERE problem IS NOT NULL ORDER BY line"
                     " LIMIT 10000",
                     step_done, im);
        return;
    case STEP_DUPLICATES:
        if (im->kind != IMPORT_CUSTOMERS) {
            im->step++;
            run_step(im);
            return;
        }
        /* an existing customer the caller may not read is reported as
         * existing elsewhere, never by id (its id is kept for the audit) */
        db_copy_exec(im->x,
                     arena_printf(&im->arena,
                                  "SELECT s.line, coalesce(s.dup_of, 0), coalesce(s.dup_line, 0), s.dup_reason,"
                                  " count(*) OVER (), c.id IS NULL OR %s FROM import_stage s"
                                  " LEFT JOIN customer c ON c.id = s.dup_of"
                                  " WHERE s.problem IS NULL AND s.dup_reason IS NOT NULL ORDER BY s.line LIMIT 10000",
                                  rpc_scope_predicate(&im->arena, im->read, "c.branch_id", "c.owner_id")),
                     step_done, im);
        return;
    case STEP_INSERT:
        db_copy_exec(im->x, im->kind == IMPORT_CUSTOMERS ? customers_insert_sql(im) : txns_insert_sql(im), step_done,
                     im);
        return;
    case STEP_FINISH:
        if (im->conn->state == CONN_CLOSING || im->conn->state == CONN_CLOSED) {
            /* the client went away (Ctrl-C, killed) before the commit: nothing is kept */
            log_info(im->conn->id, r->id, "import %llu cancelled by the client before its commit: rolled back",
                     (unsigned long long)im->id);
            import_fail(im, r, KEHU__V1__CODE__UNAVAILABLE, NULL, "the import was cancelled: nothing was imported");
            return;
        }
        if (im->confirm && !im->dry_run && !im->awaiting) {
            /* everything is checked and staged: the client says whether to commit */
            Kehu__V1__ImportResult *out = im->result;
            im->skipped = out->skipped;
            im->staged_rejected = out->n_rejected;
            im->staged_duplicates = out->n_duplicates;
            out->awaiting_commit = 1;
            out->total = im->total;
            out->imported = im->imported;
            out->updated = im->updated;
            result_ignored(im, r, out);
            out->encoding = arena_strdup(&r->arena, csv_encoding_name(csv_reader_encoding(im->csv)));
            out->unknown_columns = arena_alloc(&r->arena, sizeof *out->unknown_columns * (im->nunknown ? im->nunknown : 1));
            for (size_t i = 0; i < im->nunknown; i++)
                out->unknown_columns[out->n_unknown_columns++] = arena_strdup(&r->arena, im->unknown[i]);
            im->awaiting = 1;
            im->waiting = NULL;
            req_reply_result(r, KEHU__V1__RESPONSE__RESULT_IMPORT_RESULT, out);
            return;
        }
        /* customers added without owner are routed by the assignment rules, then
         * the import's audit row commits with it */
        db_copy_exec(im->x,
                     im->dry_run ? "ROLLBACK"
                                 : arena_printf(&im->arena, "%s%s%s",
                                                im->kind == IMPORT_CUSTOMERS
                                                    ? arena_printf(&im->arena, RPC_POOL_ROUTE_IMPORT, (long long)im->actor)
                                                    : "",
                                                arena_printf(&im->arena, "SELECT kehu_job_done('import.done', %lld);",
                                                             (long long)im->actor),
                                                audit_commit_sql(im->srv, r, 0, r->rpc->name,
                                                                 arena_printf(&r->arena, "%llu rows imported, %llu updated%s%s",
                                                                              (unsigned long long)im->imported,
                                                                              (unsigned long long)im->updated,
                                                                              im->probe ? "; duplicate probe matched"
                                                                                          " customers the caller may"
                                                                                          " not read: "
                                                                                        : "",
                                                                              im->probe ? im->probe : ""))),
                     step_done, im);
        return;
    default: {
        Kehu__V1__ImportResult *out = im->result;
        out->total = im->total;
        out->imported = im->imported;
        out->updated = im->updated;
        out->dry_run = im->dry_run;
        result_ignored(im, r, out);
        out->encoding = arena_strdup(&r->arena, csv_encoding_name(csv_reader_encoding(im->csv)));
        out->unknown_columns = arena_alloc(&r->arena, sizeof *out->unknown_columns * (im->nunknown ? im->nunknown : 1));
        for (size_t i = 0; i < im->nunknown; i++)
            out->unknown_columns[out->n_unknown_columns++] = arena_strdup(&r->arena, im->unknown[i]);
        log_info(im->conn->id, r->id,
                 "import %llu of %s%s: %llu rows, %llu imported, %llu updated, %zu rejected, %zu duplicates",
                 (unsigned long long)im->id, im->kind == IMPORT_CUSTOMERS ? "customers" : "transactions",
                 im->dry_run ? " (dry run)" : "", (unsigned long long)out->total, (unsigned long long)out->imported,
                 (unsigned long long)out->updated, out->n_rejected + im->staged_rejected,
                 out->n_duplicates + im->staged_duplicates);
        r->resp.result_case = KEHU__V1__RESPONSE__RESULT_IMPORT_RESULT;
        r->resp.import_result = out;
        conn_stream_set(im->conn, &import_stream, NULL);
        import_free(im);
        req_reply(r);
        return;
    }
    }
}

/* ---- ImportChunk */

static void import_chunk(struct req *r);

static void chunk_stored(const struct db_result *res, void *arg)
{
    struct import *im = arg;
    struct req *r = im->waiting;
    if (res->outcome != DB_OK) {
        import_fail_db(im, r, res);
        return;
    }
    Kehu__V1__ImportProgress *p = arena_alloc(&r->arena, sizeof *p);
    kehu__v1__import_progress__init(p);
    p->bytes_done = csv_reader_bytes(im->csv);
    p->rows_done = im->total;
    p->rows_rejected = im->rejected_total;
    r->resp.result_case = KEHU__V1__RESPONSE__RESULT_IMPORT_PROGRESS;
    r->resp.import_progress = p;
    im->waiting = NULL;
    req_reply(r);
    struct req *q = im->queued;
    if (q) { /* the next chunk came meanwhile: its turn */
        im->queued = NULL;
        import_chunk(q);
    }
}

static void last_stored(const struct db_result *res, void *arg)
{
    struct import *im = arg;
    if (res->outcome != DB_OK) {
        import_fail_db(im, im->waiting, res);
        return;
    }
    struct req *r = im->waiting;
    im->result = arena_alloc(&r->arena, sizeof *im->result);
    kehu__v1__import_result__init(im->result);
    im->step = STEP_END_COPY;
    run_step(im);
}

/* On the thread pool: decode and parse the chunk's rows, and check and
 * stage those of a transaction file (customer rows go to the parts, which
 * check, key and stage them on threads of their own). Only this import's
 * own state is touched (the loop leaves it alone meanwhile: im->waiting is
 * set), and search keys use each thread's transliterator. */
static void chunk_parse(uv_work_t *w)
{
    struct import *im = w->data;
    const Kehu__V1__ImportChunk *m = im->chunk;
    int rc = csv_reader_feed(im->csv, m->data.data, m->data.len, on_record, im);
    if (rc == CSV_OK && m->last)
        rc = csv_reader_finish(im->csv, on_record, im);
    im->parse_rc = rc;
}

static void chunk_staged(struct import *im);

static void part_run(uv_work_t *w)
{
    struct part *p = w->data;
    struct import *im = p->im;
    for (size_t i = p->first; i < p->first + p->count; i++)
        stage_customer(p, im->pending[i], im->pending_line[i]);
}

/* Back on the loop: when the last part is done, its rows joined in line
 * order (the parts hold consecutive rows) and staged. */
static void part_done(uv_work_t *w, int status)
{
    struct part *p = w->data;
    struct import *im = p->im;
    if (status < 0)
        fatal("a part of an import was cancelled on the thread pool");
    if (--im->parts_left > 0)
        return;
    for (int k = 0; k < im->nparts; k++) {
        struct part *q = &im->parts[k];
        if (q->copy.len) {
            if (wire_buf_reserve(&im->copy, q->copy.len) < 0)
                fatal("out of memory building COPY data");
            memcpy(im->copy.data + im->copy.len, q->copy.data, q->copy.len);
            im->copy.len += q->copy.len;
        }
        for (size_t i = 0; i < q->nrejected; i++)
            reject(im, q->rejected[i].line, q->rejected[i].field, q->rejected[i].reason);
        im->staged += q->staged;
        q->copy.len = 0;
        q->nrejected = 0;
        q->staged = 0;
        arena_free(&q->rows);
    }
    im->npending = 0;
    chunk_staged(im);
}

/* Shares the chunk's customer rows out to the thread pool. */
static void parts_start(struct import *im)
{
    im->nparts = im->npending >= 2 * IMPORT_PART_MIN ? IMPORT_PARTS : 1;
    im->parts_left = im->nparts;
    size_t share = (im->npending + (size_t)im->nparts - 1) / (size_t)im->nparts;
    for (int k = 0; k < im->nparts; k++) {
        struct part *p = &im->parts[k];
        p->im = im;
        p->first = (size_t)k * share;
        p->count = p->first >= im->npending ? 0 : im->npending - p->first < share ? im->npending - p->first : share;
        p->work.data = p;
    }
    for (int k = 0; k < im->nparts; k++)
        if (uv_queue_work(im->srv->loop, &im->parts[k].work, part_run, part_done) < 0)
            fatal("cannot queue work on the thread pool");
}

/* Back on the loop: refuse an unreadable file, else hand the rows to COPY. */
static void chunk_parsed(uv_work_t *w, int status)
{
    struct import *im = w->data;
    struct req *r = im->waiting;
    const Kehu__V1__ImportChunk *m = im->chunk;
    int rc = status < 0 ? CSV_ERR_NOMEM : im->parse_rc;
    if (rc == CSV_STOPPED || im->csv_error) {
        import_fail(im, r, KEHU__V1__CODE__INVALID_ARGUMENT, im->csv_error_field ? im->csv_error_field : "data",
                    im->csv_error ? im->csv_error : "bad header");
        return;
    }
    if (rc != CSV_OK) {
        const char *why = csv_reader_error(im->csv);
        import_fail(im, r, KEHU__V1__CODE__INVALID_ARGUMENT, "data",
                    arena_printf(&r->arena, "the file cannot be read: %s", *why ? why : "out of memory"));
        return;
    }
    if (m->last && !im->header_done) {
        import_fail(im, r, KEHU__V1__CODE__INVALID_ARGUMENT, "data", "the file is empty");
        return;
    }
    if (im->npending > 0) {
        parts_start(im);
        return;
    }
    chunk_staged(im);
}

/* The chunk's rows are staged: hand them to COPY. */
static void chunk_staged(struct import *im)
{
    const Kehu__V1__ImportChunk *m = im->chunk;
    db_cb next = m->last ? last_stored : chunk_stored;
    if (im->copy.len > 0) {
        db_copy_put(im->x, (const char *)im->copy.data, im->copy.len, next, im);
    } else {
        struct db_result ok = { .outcome = DB_OK, .failed_stmt = -1, .message = "" };
        next(&ok, im);
    }
}

/* The client's commit of a confirmed import: the last step, then the result
 * (counts only: the rows' report came with the staged result). */
static void import_commit(struct import *im, struct req *r)
{
    im->waiting = r;
    im->result = arena_alloc(&r->arena, sizeof *im->result);
    kehu__v1__import_result__init(im->result);
    im->result->skipped = im->skipped;
    run_step(im);
}

static void import_chunk(struct req *r)
{
    const Kehu__V1__ImportChunk *m = r->msg->import_chunk;
    struct import *im = import_of(r);
    if (!im || !m || m->import_id != im->id) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "import_id", "no import %llu in progress on this connection",
                 (unsigned long long)(m ? m->import_id : 0));
        return;
    }
    if (im->waiting) {
        /* a client may send the next chunk before the previous one's answer
         * (it reads and sends while kehud parses): one waits its turn */
        if (im->queued || m->commit || im->awaiting || !im->chunk || im->chunk->last) {
            req_fail(r, KEHU__V1__CODE__CONFLICT, "import_id", "wait for the previous chunk's answer");
            return;
        }
        im->queued = r;
        return;
    }
    if (m->commit || im->awaiting) {
        if (!m->commit || !im->awaiting) {
            import_fail(im, r, KEHU__V1__CODE__FAILED_PRECONDITION, m->commit ? "commit" : "data",
                        m->commit ? "nothing to commit yet: send the file's last chunk first"
                                  : "the whole file was sent: commit or drop the connection");
            return;
        }
        import_commit(im, r);
        return;
    }
    if (m->data.len > IMPORT_MAX_CHUNK) {
        import_fail(im, r, KEHU__V1__CODE__INVALID_ARGUMENT, "data", "a chunk may hold at most 512 KiB");
        return;
    }
    im->waiting = r;
    im->chunk = m;
    arena_free(&im->rows);
    im->copy.len = 0;
    im->work.data = im;
    if (uv_queue_work(r->srv->loop, &im->work, chunk_parse, chunk_parsed) < 0)
        fatal("cannot queue work on the thread pool");
}

const struct rpc_entry rpc_import_chunk = { KEHU__V1__REQUEST__OP_IMPORT_CHUNK, "import_chunk", ACT_CUSTOMER_WRITE,
                                            RPC_AUDIT_LAST, import_chunk };

/* ---- ImportBegin: the branch, the connection, the staging table, COPY */

static const char *stage_sql(struct import *im)
{
    if (im->kind == IMPORT_TXNS)
        return "BEGIN; CREATE TEMP TABLE import_stage (line bigint, customer text, date text, amount text,"
               " margin text, product text, category text, channel text, due text, customer_id bigint, branch_id bigint,"
               " problem text, problem_field text) ON COMMIT DROP;"
               "COPY import_stage (line, customer, date, amount, margin, product, category, channel, due) FROM STDIN";
    char cols[1024] = "", defs[1024] = "";
    size_t nc = 0, nd = 0;
    for (int f = 0; f < CF_COUNT; f++) {
        nc += (size_t)snprintf(cols + nc, sizeof cols - nc, "%s, ", customer_fields[f].name);
        nd += (size_t)snprintf(defs + nd, sizeof defs - nd, "%s text, ", customer_fields[f].name);
    }
    return arena_printf(&im->arena,
                        "BEGIN; CREATE TEMP TABLE import_stage (line bigint, %sowner text, branch text, sort_key text,"
                        " search_text text, search_tokens text, owner_id bigint, branch_id bigint, problem text,"
                        " problem_field text, dup_of bigint, dup_line bigint, dup_reason text, row_id bigint,"
                        " row_version bigint, upd_id bigint, id_number_hash text, id_number_masked text) ON COMMIT DROP;"
                        "COPY import_stage (line, %sowner, branch, sort_key, search_text, search_tokens, row_id,"
                        " row_version, id_number_hash, id_number_masked) FROM STDIN",
                        defs, cols);
}

static void copy_ready(const struct db_result *res, void *arg)
{
    struct import *im = arg;
    struct req *r = im->waiting;
    if (res->outcome != DB_OK) {
        import_fail_db(im, r, res);
        return;
    }
    Kehu__V1__ImportStarted *s = arena_alloc(&r->arena, sizeof *s);
    kehu__v1__import_started__init(s);
    s->import_id = im->id;
    r->resp.result_case = KEHU__V1__RESPONSE__RESULT_IMPORT_STARTED;
    r->resp.import_started = s;
    im->waiting = NULL;
    req_reply(r);
}

static void connected(const struct db_result *res, void *arg)
{
    struct import *im = arg;
    if (res->outcome != DB_OK) {
        import_fail_db(im, im->waiting, res);
        return;
    }
    /* the import is a bulk job: its announcements are summed up per receiver
     * (sql/0018_event_detail.sql) */
    /* no JIT: the planner's cost of its set-based steps (estimates over a
     * temporary table without statistics) passed jit_above_cost, and
     * compiling them cost more than running them */
    db_copy_exec(im->x, arena_printf(&im->arena, "SET kehu.job = 'on'; SET jit = off;%s", stage_sql(im)), copy_ready,
                 im);
}

static void begin_with_branch(struct req *r, int64_t branch)
{
    const Kehu__V1__ImportBegin *m = r->msg->import_begin;
    const struct principal *who = req_who(r);
    struct import *im = xcalloc(1, sizeof *im);
    im->id = ++next_import_id;
    im->conn = r->conn;
    im->srv = r->srv;
    im->kind = strcmp(m->kind, "txns") == 0 ? IMPORT_TXNS : IMPORT_CUSTOMERS;
    im->dry_run = m->dry_run;
    im->confirm = m->confirm;
    im->update = m->update;
    im->create_dups = m->duplicates && strcmp(m->duplicates, "create") == 0;
    im->default_branch = branch;
    im->actor = who->user_id;
    im->scope = authz_customer_scope(who, ACT_CUSTOMER_WRITE);
    im->read = authz_customer_scope(who, ACT_CUSTOMER_READ);
    im->owner_defaults_to_caller = who->role == KEHU__V1__ROLE__ACCOUNT_MANAGER;
    im->csv = csv_reader_new(NULL);
    if (!im->csv)
        fatal("out of memory creating a CSV reader");
    im->waiting = r;
    im->started_ms = uv_now(r->srv->loop);
    if (conn_stream_set(r->conn, &import_stream, im) < 0) {
        import_free(im);
        req_fail(r, KEHU__V1__CODE__RESOURCE_EXHAUSTED, NULL, "this connection serves too many streams at once");
        return;
    }
    log_info(r->conn->id, r->id, "import %llu of %s begins%s: %s (%llu bytes)", (unsigned long long)im->id, m->kind,
             im->dry_run ? " (dry run)" : "", m->file_name && *m->file_name ? m->file_name : "unnamed file",
             (unsigned long long)m->size);
    im->x = db_copy_open(r->srv->loop, r->srv->cfg.db, connected, im);
}


static void begin_branch_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__ImportBegin *m = r->msg->import_begin;
    if (!req_db_ok(r, res))
        return;
    int explicit = m->branch && *m->branch;
    if (db_rows(res, 0) != 1) {
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "branch", "no org unit '%s'", explicit ? m->branch : "");
        return;
    }
    if (strcmp(db_get(res, 0, 0, 1), "branch") != 0) {
        if (explicit) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "branch", "'%s' is not a branch", db_get(res, 0, 0, 3));
            return;
        }
        begin_with_branch(r, 0); /* rows must then name their branch or an owner */
        return;
    }
    int64_t path[AUTHZ_MAX_DEPTH];
    int n = authz_parse_path(db_get(res, 0, 0, 2), path, AUTHZ_MAX_DEPTH);
    struct authz_target t = { .unit_path = path, .path_len = n < 0 ? 0 : n, .owner_id = req_who(r)->user_id };
    const char *why;
    if (explicit && authz_check(req_who(r), ACT_CUSTOMER_WRITE, &t, &why) != KEHU__V1__CODE__OK) {
        req_fail(r, KEHU__V1__CODE__PERMISSION_DENIED, "branch", "you may not add customers to branch '%s': %s",
                 db_get(res, 0, 0, 3), authz_cell(req_who(r), ACT_CUSTOMER_WRITE));
        return;
    }
    begin_with_branch(r, db_get_i64(res, 0, 0, 0));
}

static void import_begin(struct req *r)
{
    const Kehu__V1__ImportBegin *m = r->msg->import_begin;
    if (!m || !m->kind || (strcmp(m->kind, "customers") && strcmp(m->kind, "txns"))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "kind", "import customers or txns");
        return;
    }
    if (m->duplicates && *m->duplicates && strcmp(m->duplicates, "skip") && strcmp(m->duplicates, "create")) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "duplicates", "duplicates are skipped (skip) or created (create)");
        return;
    }
    if (m->update && strcmp(m->kind, "customers") != 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "update", "only customers are updated by an import");
        return;
    }
    if (import_of(r)) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, NULL, "an import is already in progress on this connection");
        return;
    }
    const struct principal *who = req_who(r);
    if (m->branch && *m->branch) {
        const char *p[] = { m->branch };
        db_query(r->srv->db, &rpc_branch_place_by_ref, 1, p, begin_branch_found, r);
    } else {
        const char *p[] = { arena_printf(&r->arena, "%lld", (long long)(who->branch_id ? who->branch_id : who->unit_id)) };
        db_query(r->srv->db, &rpc_unit_place_by_id, 1, p, begin_branch_found, r);
    }
}

const struct rpc_entry rpc_import_begin = { KEHU__V1__REQUEST__OP_IMPORT_BEGIN, "import_begin", ACT_CUSTOMER_WRITE,
                                            0, import_begin };

/* ---- ExportPage */

/* The export's columns, in order; an import reads them back (id, status,
 * revenue and the times are recognised and ignored). */
static const char *const export_header[] = { "id", "ext_ref", "name", "kind", "gender", "birth", "id_number", "phones",
                                             "email", "company", "address", "region", "industry", "size",
                                             "occupation", "source", "tags", "notes", "owner", "branch", "since",
                                             "status", "revenue", "balance", "created_at", "updated_at",
                                             "version" }; /* then grade_abc, grade_volume ... (grade_dimensions) */

static const char *status_name(Kehu__V1__CustomerStatus s)
{
    static const char *const names[] = { "", "active", "in_pool", "churned", "archived" };
    return (int)s >= 0 && (int)s < 5 ? names[s] : "";
}

static char *iso(struct arena *a, int64_t ms)
{
    if (ms <= 0)
        return "";
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return arena_printf(a, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                        tm.tm_min, tm.tm_sec);
}

static char *join(struct arena *a, char **items, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *s = arena_alloc(a, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, items[i]);
    }
    return s;
}

/* A page of customers waiting for their grades. */
struct export_page {
    Kehu__V1__Customer **c;
    uint32_t shown;
    char *next;
};

#define N_GRADE_COLUMNS ((int)grade_count(grade_dimensions))

static void export_graded(const struct db_result *res, void *arg);

static void export_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    struct export_page *pg = arena_alloc(&r->arena, sizeof *pg);
    pg->next = rpc_customer_next_cursor(r, res, &pg->shown);
    pg->c = arena_alloc(&r->arena, sizeof *pg->c * (pg->shown ? pg->shown : 1));
    char *ids = arena_alloc(&r->arena, 24 * (size_t)pg->shown + 3);
    size_t n = (size_t)sprintf(ids, "{");
    for (uint32_t i = 0; i < pg->shown; i++) {
        pg->c[i] = rpc_customer_from_row(r, res, 0, (int)i);
        n += (size_t)sprintf(ids + n, "%s%lld", i ? "," : "", (long long)pg->c[i]->id);
    }
    sprintf(ids + n, "}");
    r->state = pg;
    /* the grades as customer show gives them (grade_now: overrides in force win) */
    static struct db_stmt grades_stmt = DB_STMT(
        "SELECT x.id, g.dimension, g.grade FROM unnest($1::bigint[]) x(id), grade_now(x.id) g");
    const char *p[] = { ids };
    db_query(r->srv->db, &grades_stmt, 1, p, export_graded, r);
}

static void export_graded(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__ExportPage *m = r->msg->export_page;
    struct export_page *pg = r->state;
    if (!req_db_ok(r, res))
        return;
    uint32_t shown = pg->shown;
    char *next = pg->next;
    const char **grades = arena_alloc(&r->arena, sizeof *grades * N_GRADE_COLUMNS * (shown ? shown : 1));
    for (int row = 0, k = 0; row < db_rows(res, 0); row++) {
        int64_t id = db_get_i64(res, 0, row, 0);
        while (k < (int)shown && pg->c[k]->id != id)
            k++;
        if (k == (int)shown)
            break;
        const char *dim = db_get(res, 0, row, 1);
        for (int d = 0; d < N_GRADE_COLUMNS; d++)
            if (strcmp(grade_dimensions[d], dim) == 0)
                grades[k * N_GRADE_COLUMNS + d] = rpc_col(r, res, 0, row, 2);
    }
    struct csv_writer w;
    csv_writer_init(&w);
    int first = !m->filter || !m->filter->after || !*m->filter->after;
    if (first) {
        csv_writer_bom(&w);
        /* the header in the client's language: an import reads both back */
        int zh = r->conn->lang == TR_ZH;
        for (size_t i = 0; i < sizeof export_header / sizeof export_header[0]; i++) {
            const char *zh_label = zh ? customer_export_label_zh(export_header[i]) : NULL;
            csv_writer_str(&w, zh_label ? zh_label : export_header[i]);
        }
        for (int d = 0; d < N_GRADE_COLUMNS; d++) {
            const char *col = arena_printf(&r->arena, "grade_%s", grade_dimensions[d]);
            const char *zh_label = zh ? customer_export_label_zh(col) : NULL;
            csv_writer_str(&w, zh_label ? zh_label : col);
        }
        csv_writer_end_record(&w);
    }
    for (uint32_t i = 0; i < shown; i++) {
        Kehu__V1__Customer *c = pg->c[i];
        const char *cells[] = { arena_printf(&r->arena, "%lld", (long long)c->id),
                                c->ext_ref,
                                c->name,
                                c->kind == KEHU__V1__CUSTOMER_KIND__CORPORATE ? "corporate" : "individual",
                                c->gender,
                                c->birth,
                                c->id_number,
                                join(&r->arena, c->phones, c->n_phones),
                                c->email,
                                c->company,
                                c->address,
                                c->region,
                                c->industry,
                                c->size,
                                c->occupation,
                                c->source,
                                join(&r->arena, c->tags, c->n_tags),
                                c->notes,
                                c->owner,
                                c->branch,
                                c->since,
                                status_name(c->status),
                                rpc_money_sql(&r->arena, c->revenue_minor),
                                rpc_money_sql(&r->arena, c->balance_minor),
                                iso(&r->arena, c->created_at_ms),
                                iso(&r->arena, c->updated_at_ms),
                                arena_printf(&r->arena, "%lld", (long long)c->version) };
        for (size_t k = 0; k < sizeof cells / sizeof cells[0]; k++) {
            const char *v = cells[k] ? cells[k] : "";
            if (k == 1 || k == 6 || k == 7) /* ext_ref, id_number, phones: keep Excel's hands off long digits */
                csv_writer_digits(&w, v, strlen(v));
            else
                csv_writer_str(&w, v);
        }
        for (int d = 0; d < N_GRADE_COLUMNS; d++) {
            const char *g = grades[i * N_GRADE_COLUMNS + d];
            csv_writer_str(&w, g ? g : "");
        }
        csv_writer_end_record(&w);
    }
    if (w.err) {
        csv_writer_free(&w);
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "out of memory writing CSV");
        return;
    }
    Kehu__V1__ExportData *d = arena_alloc(&r->arena, sizeof *d);
    kehu__v1__export_data__init(d);
    d->csv.data = arena_alloc(&r->arena, w.len ? w.len : 1);
    memcpy(d->csv.data, w.data, w.len);
    d->csv.len = w.len;
    d->next_cursor = next;
    d->rows = shown;
    csv_writer_free(&w);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_EXPORT_DATA, d);
}

static void export_page(struct req *r)
{
    const Kehu__V1__ExportPage *m = r->msg->export_page;
    Kehu__V1__CustomerList *f = m ? m->filter : NULL;
    if (f && f->limit > 1000) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "limit", "at most 1000 rows per page");
        return;
    }
    rpc_customer_list_start(r, f, 1000, export_done);
}

const struct rpc_entry rpc_export_page = { KEHU__V1__REQUEST__OP_EXPORT_PAGE, "export_page", ACT_CUSTOMER_EXPORT, 0,
                                           export_page };
