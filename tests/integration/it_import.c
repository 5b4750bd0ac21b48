/* CSV import and export, and merging customers. */
#include <iconv.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static kehu_client *admin, *am, *other_am;

static int setup(void **state)
{
    if (it_setup(state) < 0)
        return -1;
    admin = it_admin();
    it_expect(admin, it_req_org_add("广州分行", KEHU__V1__UNIT_KIND__BRANCH, "总行"), C(OK), NULL);
    it_expect(admin, it_req_user_add("gz.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "广州分行", "password-1"), C(OK), NULL);
    it_expect(admin, it_req_user_add("gz.am2", KEHU__V1__ROLE__ACCOUNT_MANAGER, "广州分行", "password-1"), C(OK),
              NULL);
    am = it_login("gz.am", "password-1");
    other_am = it_login("gz.am2", "password-1");
    return 0;
}

static int teardown(void **state)
{
    kehu_close(admin);
    kehu_close(am);
    kehu_close(other_am);
    return it_teardown(state);
}

/* Imports data (split into chunks of `chunk` bytes) and returns the result
 * response (free it), or NULL with *code set when the import was refused. */
static Kehu__V1__Response *import(kehu_client *c, const char *kind, const char *data, size_t len, size_t chunk,
                                  int dry_run, const char *duplicates, int *code)
{
    Kehu__V1__ImportBegin b = KEHU__V1__IMPORT_BEGIN__INIT;
    b.kind = (char *)kind;
    b.dry_run = dry_run;
    b.duplicates = (char *)(duplicates ? duplicates : "");
    b.size = len;
    b.branch = "广州分行";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_IMPORT_BEGIN;
    req.import_begin = &b;
    struct kehu_status st;
    Kehu__V1__Response *r = kehu_call(c, &req, &st);
    assert_non_null(r);
    if (st.code != C(OK)) {
        *code = st.code;
        kehu_response_free(r);
        return NULL;
    }
    uint64_t id = r->import_started->import_id;
    kehu_response_free(r);
    size_t off = 0;
    for (;;) {
        size_t n = len - off < chunk ? len - off : chunk;
        Kehu__V1__ImportChunk ch = KEHU__V1__IMPORT_CHUNK__INIT;
        ch.import_id = id;
        ch.data.data = (uint8_t *)data + off;
        ch.data.len = n;
        ch.last = off + n == len;
        req.op_case = KEHU__V1__REQUEST__OP_IMPORT_CHUNK;
        req.import_chunk = &ch;
        r = kehu_call(c, &req, &st);
        assert_non_null(r);
        if (st.code != C(OK)) {
            *code = st.code;
            kehu_response_free(r);
            return NULL;
        }
        off += n;
        if (ch.last) {
            assert_int_equal(r->result_case, KEHU__V1__RESPONSE__RESULT_IMPORT_RESULT);
            *code = C(OK);
            return r;
        }
        assert_int_equal(r->import_progress->bytes_done, off);
        kehu_response_free(r);
    }
}

static Kehu__V1__Response *search(kehu_client *c, const char *text)
{
    Kehu__V1__CustomerSearch m = KEHU__V1__CUSTOMER_SEARCH__INIT;
    m.text = (char *)text;
    m.limit = 200;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
    req.customer_search = &m;
    return it_call(c, &req, C(OK));
}

static size_t count_found(kehu_client *c, const char *text)
{
    Kehu__V1__Response *r = search(c, text);
    size_t n = r->customers->n_customers;
    kehu_response_free(r);
    return n;
}

static void test_bad_rows_kept_apart(void **state)
{
    (void)state;
    static const char csv[] =
        "姓名,手机,性别,出生日期,客户编号,标签,备注,奇怪的列\r\n"
        "陈一,13811110001,男,1980/1/5,GZ001,vip;老客户,\"多行\n备注\",x\r\n"
        "陈二,13811110002,女,1985-13-01,GZ002,,,\r\n"          /* line 4 (the note above spans two lines) */
        "陈三,not-a-phone,,,GZ003,,,\r\n"
        ",13811110004,,,GZ004,,,\r\n"
        "陈五,13811110005,其他,,GZ005,,,\r\n"
        "陈六,13811110006,,,GZ001,,,\r\n";                     /* the same external reference again */
    int code;
    /* every chunk size, including 1 byte, gives the same answer */
    size_t chunks[] = { 7, 1 << 20 };
    for (int round = 0; round < 2; round++) {
        Kehu__V1__Response *r = import(am, "customers", csv, sizeof csv - 1, chunks[round], round == 0, NULL, &code);
        assert_int_equal(code, C(OK));
        Kehu__V1__ImportResult *res = r->import_result;
        assert_int_equal(res->total, 6);
        assert_int_equal(res->imported, 1);
        assert_int_equal(res->n_rejected, 5);
        static const struct {
            uint64_t line;
            const char *field;
        } want[] = { { 4, "birth" }, { 5, "phones" }, { 6, "name" }, { 7, "gender" }, { 8, "ext_ref" } };
        for (int i = 0; i < 5; i++) {
            assert_int_equal(res->rejected[i]->line, want[i].line);
            assert_string_equal(res->rejected[i]->field, want[i].field);
        }
        assert_int_equal(res->n_unknown_columns, 1);
        assert_string_equal(res->unknown_columns[0], "奇怪的列");
        assert_string_equal(res->encoding, "UTF-8");
        assert_int_equal(res->dry_run, round == 0);
        kehu_response_free(r);
        /* the dry run changed nothing; the real one kept the good row */
        assert_int_equal(count_found(am, "陈一"), round == 0 ? 0 : 1);
    }
    Kehu__V1__Response *r = search(am, "陈一");
    Kehu__V1__Customer *c = r->customers->customers[0];
    assert_string_equal(c->gender, "male");
    assert_string_equal(c->birth, "1980-01-05");
    assert_string_equal(c->notes, "多行\n备注");
    assert_int_equal(c->n_tags, 2);
    assert_string_equal(c->owner, "gz.am"); /* an account manager imports for themselves */
    kehu_response_free(r);
}

static char *to_gbk(const char *utf8, size_t *outlen)
{
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    size_t inlen = strlen(utf8), cap = inlen * 2 + 16, left = cap;
    char *out = malloc(cap), *in = (char *)utf8, *o = out;
    assert_true(iconv(cd, &in, &inlen, &o, &left) != (size_t)-1);
    iconv_close(cd);
    *outlen = cap - left;
    return out;
}

static void test_gbk_file(void **state)
{
    (void)state;
    size_t len;
    char *gbk = to_gbk("客户编号,姓名,电话,公司,地区\n"
                       "GBK01,欧阳娜娜,13822220001,广州恒信贸易有限公司,广州\n"
                       "GBK02,司马光,13822220002,,佛山\n",
                       &len);
    int code;
    Kehu__V1__Response *r = import(am, "customers", gbk, len, 5, 0, NULL, &code);
    assert_int_equal(code, C(OK));
    assert_string_equal(r->import_result->encoding, "GB18030");
    assert_int_equal(r->import_result->imported, 2);
    kehu_response_free(r);
    free(gbk);
    r = search(am, "娜娜");
    assert_int_equal(r->customers->n_customers, 1);
    assert_string_equal(r->customers->customers[0]->name, "欧阳娜娜");
    assert_string_equal(r->customers->customers[0]->company, "广州恒信贸易有限公司");
    kehu_response_free(r);
    assert_int_equal(count_found(am, "oyn"), 0);       /* initials are matched whole */
    assert_int_equal(count_found(am, "ouyang"), 1);    /* pinyin of a compound surname */
}

static void test_duplicates(void **state)
{
    (void)state;
    static const char csv[] = "name,phone,company\n"
                              "周一,13833330001,\n"
                              "周一号,13833330001,\n"      /* the same phone as line 2 */
                              "吴二,13833330002,广州银行\n"
                              "吴 二,13833330003,广州 银行\n"; /* the same name and company as line 4 */
    int code;
    Kehu__V1__Response *r = import(am, "customers", csv, sizeof csv - 1, 1 << 20, 0, NULL, &code);
    assert_int_equal(code, C(OK));
    Kehu__V1__ImportResult *res = r->import_result;
    assert_int_equal(res->imported, 2);
    assert_int_equal(res->skipped, 2);
    assert_int_equal(res->n_duplicates, 2);
    assert_int_equal(res->duplicates[0]->line, 3);
    assert_int_equal(res->duplicates[0]->other_line, 2);
    assert_int_equal(res->duplicates[1]->line, 5);
    kehu_response_free(r);
    /* again: now everything is a duplicate of the base; with create they go in anyway */
    r = import(am, "customers", csv, sizeof csv - 1, 1 << 20, 0, NULL, &code);
    assert_int_equal(r->import_result->imported, 0);
    assert_int_equal(r->import_result->duplicates[0]->line, 2);
    assert_true(r->import_result->duplicates[0]->existing_id > 0);
    kehu_response_free(r);
    r = import(am, "customers", csv, sizeof csv - 1, 1 << 20, 0, "create", &code);
    assert_int_equal(r->import_result->imported, 4);
    kehu_response_free(r);
}

static void test_refusals(void **state)
{
    (void)state;
    int code;
    static const char no_name[] = "phone,email\n13800000000,a@b.cn\n";
    assert_null(import(am, "customers", no_name, sizeof no_name - 1, 1 << 20, 0, NULL, &code));
    assert_int_equal(code, C(INVALID_ARGUMENT));
    static const char open_quote[] = "name\n\"never closed\n";
    assert_null(import(am, "customers", open_quote, sizeof open_quote - 1, 1 << 20, 0, NULL, &code));
    assert_int_equal(code, C(INVALID_ARGUMENT));
    static const char other_owner[] = "name,owner\n别人的,gz.am2\n";
    Kehu__V1__Response *r = import(am, "customers", other_owner, sizeof other_owner - 1, 1 << 20, 0, NULL, &code);
    assert_int_equal(r->import_result->imported, 0);
    assert_string_equal(r->import_result->rejected[0]->field, "owner");
    kehu_response_free(r);
    /* a chunk for an import that does not exist */
    Kehu__V1__ImportChunk ch = KEHU__V1__IMPORT_CHUNK__INIT;
    ch.import_id = 999;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_IMPORT_CHUNK;
    req.import_chunk = &ch;
    it_expect(am, &req, C(NOT_FOUND), "import_id");
}

/* An import whose connection drops before the end leaves no trace. */
static void test_abandoned_import(void **state)
{
    (void)state;
    kehu_client *c = it_login("gz.am", "password-1");
    Kehu__V1__ImportBegin b = KEHU__V1__IMPORT_BEGIN__INIT;
    b.kind = "customers";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_IMPORT_BEGIN;
    req.import_begin = &b;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    uint64_t id = r->import_started->import_id;
    kehu_response_free(r);
    static const char part[] = "name,phone\n半途而废,13844440001\n";
    Kehu__V1__ImportChunk ch = KEHU__V1__IMPORT_CHUNK__INIT;
    ch.import_id = id;
    ch.data.data = (uint8_t *)part;
    ch.data.len = sizeof part - 1;
    req.op_case = KEHU__V1__REQUEST__OP_IMPORT_CHUNK;
    req.import_chunk = &ch;
    kehu_response_free(it_call(c, &req, C(OK)));
    kehu_close(c);
    usleep(200 * 1000);
    assert_int_equal(count_found(am, "半途而废"), 0);
}

static void test_txn_import(void **state)
{
    (void)state;
    /* GZ001 was imported above (陈一); refer to another customer by id */
    Kehu__V1__Response *r = search(am, "司马光");
    int64_t id = r->customers->customers[0]->id;
    kehu_response_free(r);
    char csv[1024];
    snprintf(csv, sizeof csv,
             "客户编号,交易日期,金额,毛利,产品\n"
             "GZ001,2026/3/1,\"1,000.10\",100,理财\n"
             "GZ001,2026-03-02,-0.10,,退款\n"
             "%lld,2026-03-03,¥50,,\n"
             "NOPE,2026-03-04,5,,\n"
             "GZ001,2026-02-30,5,,\n"
             "GZ001,2026-03-05,1.005,,\n",
             (long long)id);
    int code;
    r = import(am, "txns", csv, strlen(csv), 11, 0, NULL, &code);
    assert_int_equal(code, C(OK));
    Kehu__V1__ImportResult *res = r->import_result;
    assert_int_equal(res->total, 6);
    assert_int_equal(res->imported, 3);
    assert_int_equal(res->n_rejected, 3);
    assert_string_equal(res->rejected[0]->field, "customer");
    assert_string_equal(res->rejected[1]->field, "date");
    assert_string_equal(res->rejected[2]->field, "amount"); /* three decimals */
    kehu_response_free(r);
    r = search(am, "陈一");
    assert_int_equal(r->customers->customers[0]->revenue_minor, 100010 - 10); /* exact */
    kehu_response_free(r);
    /* sales on credit: a due date raises the balance owed */
    static const char credit[] = "customer,date,amount,due\nGZ001,2026-03-10,200.00,2026-04-10\n"
                                 "GZ001,2026-03-11,5,2026-03-01\nGZ001,2026-03-12,-5,2026-04-01\n";
    r = import(am, "txns", credit, sizeof credit - 1, 1 << 20, 0, NULL, &code);
    assert_int_equal(r->import_result->imported, 1);
    assert_int_equal(r->import_result->n_rejected, 2);
    assert_string_equal(r->import_result->rejected[0]->field, "due"); /* due before the sale */
    assert_string_equal(r->import_result->rejected[1]->field, "due"); /* a refund on credit */
    kehu_response_free(r);
    r = search(am, "陈一");
    assert_int_equal(r->customers->customers[0]->balance_minor, 20000);
    assert_int_equal(r->customers->customers[0]->revenue_minor, 100010 - 10 + 20000);
    kehu_response_free(r);
    /* the other account manager cannot book on gz.am's customers */
    r = import(other_am, "txns", csv, strlen(csv), 1 << 20, 0, NULL, &code);
    assert_int_equal(r->import_result->imported, 0);
    kehu_response_free(r);
}

/* Export, import the file again (duplicates created), and every field of
 * every copy equals its original. */
static void test_export_then_import(void **state)
{
    (void)state;
    Kehu__V1__CustomerList f = KEHU__V1__CUSTOMER_LIST__INIT;
    f.limit = 3; /* several pages */
    Kehu__V1__ExportPage p = KEHU__V1__EXPORT_PAGE__INIT;
    p.filter = &f;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_EXPORT_PAGE;
    req.export_page = &p;
    char *file = NULL;
    size_t len = 0, rows = 0;
    char cursor[512] = "";
    int pages = 0;
    do {
        f.after = cursor;
        Kehu__V1__Response *r = it_call(am, &req, C(OK));
        file = realloc(file, len + r->export_data->csv.len);
        memcpy(file + len, r->export_data->csv.data, r->export_data->csv.len);
        len += r->export_data->csv.len;
        rows += r->export_data->rows;
        snprintf(cursor, sizeof cursor, "%s", r->export_data->next_cursor);
        kehu_response_free(r);
        pages++;
    } while (*cursor);
    assert_true(pages > 1);
    assert_memory_equal(file, "\xEF\xBB\xBF", 3); /* Excel reads the BOM as UTF-8 */

    /* the copies must not collide on external references: drop that column's values */
    Kehu__V1__CustomerList all = KEHU__V1__CUSTOMER_LIST__INIT;
    all.limit = 1000;
    all.sort = "created";
    Kehu__V1__Request lreq = KEHU__V1__REQUEST__INIT;
    lreq.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
    lreq.customer_list = &all;
    Kehu__V1__Response *before = it_call(am, &lreq, C(OK));
    assert_int_equal(before->customers->n_customers, rows);
    int has_ext_ref = 0;
    for (size_t i = 0; i < before->customers->n_customers; i++)
        has_ext_ref |= *before->customers->customers[i]->ext_ref != 0;
    assert_true(has_ext_ref);
    /* archive-free way to re-import: a file without the ext_ref column */
    char *nofile = malloc(len + 1), *o = nofile;
    for (const char *line = file; line < file + len;) {
        const char *end = memchr(line, '\n', (size_t)(file + len - line));
        end = end ? end + 1 : file + len;
        /* the second column is ext_ref: keep its comma, drop its value (never quoted: A-Z0-9 only) */
        const char *c1 = memchr(line, ',', (size_t)(end - line));
        const char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(end - c1 - 1)) : NULL;
        if (c1 && c2 && line != file) {
            memcpy(o, line, (size_t)(c1 - line + 1));
            o += c1 - line + 1;
            memcpy(o, c2, (size_t)(end - c2));
            o += end - c2;
        } else {
            memcpy(o, line, (size_t)(end - line));
            o += end - line;
        }
        line = end;
    }
    int code;
    Kehu__V1__Response *r = import(am, "customers", nofile, (size_t)(o - nofile), 1000, 0, "create", &code);
    assert_int_equal(code, C(OK));
    assert_int_equal(r->import_result->imported, rows);
    assert_int_equal(r->import_result->n_rejected, 0);
    assert_int_equal(r->import_result->n_unknown_columns, 0); /* id, status, revenue ... are known */
    kehu_response_free(r);
    free(file);
    free(nofile);

    Kehu__V1__Response *after = it_call(am, &lreq, C(OK));
    assert_int_equal(after->customers->n_customers, 2 * rows);
    /* created order: the originals, then their copies in export (name) order; match copies by name */
    for (size_t i = 0; i < rows; i++) {
        Kehu__V1__Customer *a = before->customers->customers[i], *b = NULL;
        for (size_t k = 0; k < after->customers->n_customers; k++) {
            Kehu__V1__Customer *x = after->customers->customers[k];
            if (x->id > a->id && strcmp(x->name, a->name) == 0 && x->created_at_ms >= a->created_at_ms &&
                *x->ext_ref == 0 && (!b || x->id > b->id))
                b = x;
        }
        assert_non_null(b);
#define SAME(field) assert_string_equal(a->field, b->field)
        SAME(name);
        SAME(gender);
        SAME(birth);
        SAME(id_number);
        SAME(email);
        SAME(company);
        SAME(address);
        SAME(region);
        SAME(industry);
        SAME(size);
        SAME(occupation);
        SAME(source);
        SAME(notes);
        SAME(owner);
        SAME(branch);
        SAME(since);
#undef SAME
        assert_int_equal(a->kind, b->kind);
        assert_int_equal(a->n_phones, b->n_phones);
        for (size_t k = 0; k < a->n_phones; k++)
            assert_string_equal(a->phones[k], b->phones[k]);
        assert_int_equal(a->n_tags, b->n_tags);
        for (size_t k = 0; k < a->n_tags; k++)
            assert_string_equal(a->tags[k], b->tags[k]);
    }
    kehu_response_free(before);
    kehu_response_free(after);
}

/* A file of a few hundred rows is checked and keyed on two threads: the
 * rows come out in line order, bad ones reported at their lines; the ID
 * numbers kehud sealed open, hash and mask as the database's own functions
 * would (a search by the number finds it; the database opens it). */
static void test_rows_shared_out(void **state)
{
    (void)state;
    enum { ROWS = 400 };
    size_t cap = 128 * ROWS + 128, o = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    o += (size_t)snprintf(csv + o, cap - o, "姓名,手机,出生日期,客户编号,证件号码\r\n");
    size_t bad = 0;
    for (size_t i = 0; i < ROWS; i++) {
        int is_bad = i % 37 == 5;
        bad += is_bad;
        o += (size_t)snprintf(csv + o, cap - o, "分担%zu,1390000%04zu,%s,PAR%04zu,P7%07zu\r\n", i, i,
                              is_bad ? "1990-02-30" : "1990-02-03", i, i);
    }
    int code;
    Kehu__V1__Response *r = import(am, "customers", csv, o, 5000, 0, NULL, &code);
    assert_int_equal(code, C(OK));
    Kehu__V1__ImportResult *res = r->import_result;
    assert_int_equal(res->total, ROWS);
    assert_int_equal(res->imported, ROWS - bad);
    assert_int_equal(res->n_rejected, bad);
    for (size_t k = 0, i = 0; i < ROWS; i++)
        if (i % 37 == 5) {
            assert_int_equal(res->rejected[k]->line, i + 2);
            assert_string_equal(res->rejected[k++]->field, "birth");
        }
    kehu_response_free(r);
    free(csv);

    r = search(admin, "P70000399");
    assert_int_equal(r->customers->n_customers, 1);
    assert_string_equal(r->customers->customers[0]->id_number, "P70000399");
    assert_string_equal(r->customers->customers[0]->ext_ref, "PAR0399");
    kehu_response_free(r);
    PGconn *pg = it_pg_open();
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer WHERE ext_ref LIKE 'PAR%'"
                                   " AND id_open(id_number) = 'P7' || lpad(substr(ext_ref, 4), 7, '0')"
                                   " AND id_number_hash = id_hash(id_open(id_number))"
                                   " AND id_number_masked = id_mask(id_open(id_number))"),
                     ROWS - bad);
    PQfinish(pg);
}

/* An imported customer's search keys are the ones the same customer added
 * alone gets (the import writes them per statement, an add per row). */
static void test_search_keys_as_added(void **state)
{
    (void)state;
    static const struct {
        const char *name, *phones, *email, *company, *address;
    } rows[] = {
        { "欧阳修远", "13955550101,020-88886666", "ouyang88@example.cn", "广州珠江实业有限公司", "天河路385号" },
        { "单于春", "13955550102", "", "", "越秀区中山五路219号" },
        { "Li Ming 李明", "13955550103;13955550104", "li.ming2024@example.com", "ACME 广州 2号厂", "" },
    };
    enum { N = sizeof rows / sizeof rows[0] };
    char csv[2048];
    size_t o = (size_t)snprintf(csv, sizeof csv, "name,phones,email,company,address\n");
    for (int i = 0; i < N; i++)
        o += (size_t)snprintf(csv + o, sizeof csv - o, "%s,\"%s\",%s,%s,%s\n", rows[i].name, rows[i].phones,
                              rows[i].email, rows[i].company, rows[i].address);
    int code;
    Kehu__V1__Response *r = import(am, "customers", csv, o, 1 << 20, 0, "create", &code);
    assert_int_equal(code, C(OK));
    assert_int_equal(r->import_result->imported, N);
    kehu_response_free(r);

    PGconn *pg = it_pg_open();
    for (int i = 0; i < N; i++) {
        Kehu__V1__Customer c = KEHU__V1__CUSTOMER__INIT;
        c.name = (char *)rows[i].name;
        c.kind = *rows[i].company ? KEHU__V1__CUSTOMER_KIND__CORPORATE : KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
        c.email = (char *)rows[i].email;
        c.company = (char *)rows[i].company;
        c.address = (char *)rows[i].address;
        char phones[64], *phone[4], *save = NULL;
        snprintf(phones, sizeof phones, "%s", rows[i].phones);
        for (char *t = strtok_r(phones, ",;", &save); t && c.n_phones < 4; t = strtok_r(NULL, ",;", &save))
            phone[c.n_phones++] = t;
        c.phones = phone;
        Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
        m.customer = &c;
        m.force = 1;
        m.owner = "";
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
        req.customer_add = &m;
        r = it_call(am, &req, C(OK));
        long long added = (long long)r->customer->id;
        kehu_response_free(r);
        char sql[1024];
        snprintf(sql, sizeof sql, "SELECT min(id) FROM customer WHERE name = '%s' AND id <> %lld", rows[i].name, added);
        long long imported = (long long)it_pg_i64(pg, sql);
        assert_true(imported > 0);
        /* the same rows, no more and no fewer, with the same sort key */
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM ((SELECT token, rank, sort_key FROM customer_search_key WHERE customer_id = %lld"
                 " EXCEPT ALL SELECT token, rank, sort_key FROM customer_search_key WHERE customer_id = %lld)"
                 " UNION ALL (SELECT token, rank, sort_key FROM customer_search_key WHERE customer_id = %lld"
                 " EXCEPT ALL SELECT token, rank, sort_key FROM customer_search_key WHERE customer_id = %lld)) d",
                 imported, added, added, imported);
        assert_int_equal(it_pg_i64(pg, sql), 0);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM customer_search_key WHERE customer_id = %lld", imported);
        assert_true(it_pg_i64(pg, sql) >= 10);
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM customer c, customer_search_key_rows(c.name, c.search_tokens, c.search_text) k"
                 " WHERE c.id = %lld",
                 imported);
        int64_t want = it_pg_i64(pg, sql);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM customer_search_key WHERE customer_id = %lld", imported);
        assert_int_equal(it_pg_i64(pg, sql), want);
    }
    PQfinish(pg);
    assert_true(count_found(am, "ouyang") >= 2);
    assert_true(count_found(am, "5550103") >= 2);
}

/* kehud takes the next chunk before the previous one's answer and answers
 * both in turn; a third at once is refused, as is one after the last. */
struct chunk_answer {
    int done, code, result;
};

static void chunk_answered(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct chunk_answer *a = arg;
    a->done = 1;
    a->code = resp ? st->code : -1;
    a->result = resp ? (int)resp->result_case : -1;
}

static void test_chunks_sent_ahead(void **state)
{
    (void)state;
    enum { ROWS = 600 };
    size_t cap = 64 * ROWS + 64, len = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    len += (size_t)snprintf(csv + len, cap - len, "name,phone\n");
    for (int i = 0; i < ROWS; i++)
        len += (size_t)snprintf(csv + len, cap - len, "先行%d,1396666%04d\n", i, i);
    Kehu__V1__ImportBegin b = KEHU__V1__IMPORT_BEGIN__INIT;
    b.kind = "customers";
    b.branch = "广州分行";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_IMPORT_BEGIN;
    req.import_begin = &b;
    Kehu__V1__Response *r = it_call(am, &req, C(OK));
    uint64_t id = r->import_started->import_id;
    kehu_response_free(r);
    /* three chunks at once: the second waits its turn, the third is refused */
    size_t third = len / 3;
    Kehu__V1__ImportChunk ch[3];
    struct chunk_answer ans[3];
    memset(ans, 0, sizeof ans);
    Kehu__V1__Request creq[3];
    /* the three frames leave in one segment (corked): kehud reads them in
     * one go, before the first chunk can be done, however the client is
     * scheduled on a busy machine */
    int cork = 1;
    assert_int_equal(setsockopt(kehu_fd(am), IPPROTO_TCP, TCP_CORK, &cork, sizeof cork), 0);
    for (int k = 0; k < 3; k++) {
        kehu__v1__import_chunk__init(&ch[k]);
        ch[k].import_id = id;
        ch[k].data.data = (uint8_t *)csv + (size_t)k * third;
        ch[k].data.len = k < 2 ? third : 0;
        kehu__v1__request__init(&creq[k]);
        creq[k].op_case = KEHU__V1__REQUEST__OP_IMPORT_CHUNK;
        creq[k].import_chunk = &ch[k];
        struct kehu_status st;
        assert_int_equal(kehu_send(am, &creq[k], chunk_answered, &ans[k], NULL, &st), 0);
    }
    cork = 0;
    assert_int_equal(setsockopt(kehu_fd(am), IPPROTO_TCP, TCP_CORK, &cork, sizeof cork), 0);
    while (kehu_pending(am) > 0)
        assert_true(kehu_run(am, 30000) >= 0);
    assert_int_equal(ans[0].code, C(OK));
    assert_int_equal(ans[0].result, KEHU__V1__RESPONSE__RESULT_IMPORT_PROGRESS);
    assert_int_equal(ans[1].code, C(OK));
    assert_int_equal(ans[1].result, KEHU__V1__RESPONSE__RESULT_IMPORT_PROGRESS);
    assert_int_equal(ans[2].code, C(CONFLICT));
    /* the rest, then the last chunk; one sent behind the last is refused */
    ch[0].data.data = (uint8_t *)csv + 2 * third;
    ch[0].data.len = len - 2 * third;
    ch[1].data.len = 0;
    ch[1].last = 1;
    ch[2].data.len = 0;
    memset(ans, 0, sizeof ans);
    for (int k = 0; k < 3; k++) {
        struct kehu_status st;
        assert_int_equal(kehu_send(am, &creq[k], chunk_answered, &ans[k], NULL, &st), 0);
        if (k == 0)
            while (!ans[0].done) /* the last chunk goes behind the one in progress */
                assert_true(kehu_run(am, 30000) >= 0);
    }
    while (kehu_pending(am) > 0)
        assert_true(kehu_run(am, 60000) >= 0);
    assert_int_equal(ans[0].code, C(OK));
    assert_int_equal(ans[1].code, C(OK));
    assert_int_equal(ans[1].result, KEHU__V1__RESPONSE__RESULT_IMPORT_RESULT);
    assert_int_equal(ans[2].code, C(CONFLICT));
    free(csv);
    PGconn *pg = it_pg_open();
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer WHERE name LIKE '先行%'"), ROWS);
    assert_int_equal(it_pg_i64(pg, "SELECT count(DISTINCT name) FROM customer WHERE name LIKE '先行%'"), ROWS);
    PQfinish(pg);
}

static void test_merge(void **state)
{
    (void)state;
    Kehu__V1__Response *r = search(am, "周一");
    int64_t keep = r->customers->customers[0]->id;
    kehu_response_free(r);
    r = search(am, "吴二");
    int64_t other = r->customers->customers[0]->id;
    int64_t other_revenue = r->customers->customers[0]->revenue_minor;
    kehu_response_free(r);
    /* give OTHER a transaction and a contact */
    Kehu__V1__Txn t = KEHU__V1__TXN__INIT;
    t.customer_id = other;
    t.amount_minor = 4200;
    Kehu__V1__TxnAdd ta = KEHU__V1__TXN_ADD__INIT;
    ta.txn = &t;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_ADD;
    req.txn_add = &ta;
    kehu_response_free(it_call(am, &req, C(OK)));

    Kehu__V1__CustomerMerge m = KEHU__V1__CUSTOMER_MERGE__INIT;
    m.keep_id = keep;
    m.other_id = other;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_MERGE;
    req.customer_merge = &m;
    kehu_response_free(it_call(other_am, &req, C(NOT_FOUND))); /* not theirs */
    r = it_call(am, &req, C(OK));
    Kehu__V1__Customer *c = r->customer;
    assert_int_equal(c->id, keep);
    assert_string_equal(c->company, "广州银行"); /* filled from OTHER */
    assert_int_equal(c->n_phones, 2);          /* united */
    assert_int_equal(c->revenue_minor, other_revenue + 4200);
    kehu_response_free(r);
    /* OTHER is gone, and says where */
    Kehu__V1__CustomerGet g = KEHU__V1__CUSTOMER_GET__INIT;
    g.id = other;
    Kehu__V1__Request greq = KEHU__V1__REQUEST__INIT;
    greq.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    greq.customer_get = &g;
    r = it_call(am, &greq, C(NOT_FOUND));
    assert_non_null(strstr(r->status->message, "merged into"));
    kehu_response_free(r);
    /* its transaction and history moved */
    Kehu__V1__TxnList tl = KEHU__V1__TXN_LIST__INIT;
    tl.customer_id = keep;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_LIST;
    req.txn_list = &tl;
    r = it_call(am, &req, C(OK));
    assert_int_equal(r->txns->n_txns, 1);
    assert_int_equal(r->txns->txns[0]->amount_minor, 4200);
    kehu_response_free(r);
    Kehu__V1__CustomerHistory h = KEHU__V1__CUSTOMER_HISTORY__INIT;
    h.customer_id = keep;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_HISTORY;
    req.customer_history = &h;
    r = it_call(am, &req, C(OK));
    int created = 0, merged = 0;
    for (size_t i = 0; i < r->changes->n_changes; i++) {
        created += strcmp(r->changes->changes[i]->field, "created") == 0;
        merged += strcmp(r->changes->changes[i]->field, "merged") == 0;
    }
    assert_int_equal(created, 2); /* both customers' stories */
    assert_int_equal(merged, 1);
    kehu_response_free(r);
    /* merging into itself, or a tombstone */
    m.other_id = keep;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_MERGE;
    req.customer_merge = &m;
    it_expect(am, &req, C(INVALID_ARGUMENT), "other_id");
    m.other_id = other;
    it_expect(am, &req, C(NOT_FOUND), "other_id");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_rows_kept_apart),
        cmocka_unit_test(test_gbk_file),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_abandoned_import),
        cmocka_unit_test(test_txn_import),
        cmocka_unit_test(test_export_then_import),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_rows_shared_out),
        cmocka_unit_test(test_search_keys_as_added),
        cmocka_unit_test(test_chunks_sent_ahead),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
