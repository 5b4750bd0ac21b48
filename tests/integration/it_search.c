/* customer search through the wire over the search side table
 * (sql/0035_search_side_table.sql): Chinese, mixed scripts, phone digits,
 * a term that matches 20,000 customers (the page is the first in pinyin
 * order, whatever the count), a term matching nothing, a rename (the old
 * name's keys gone), merged, archived and deleted customers, and customers
 * the caller may not read, which never appear.
 *
 * The organisation is it_org_build's; the 20,000 customers are copies of one
 * added through kehud (its search keys computed there), written straight
 * into the database. */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static PGconn *pg;

static int64_t pg_i64(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t pg_i64(const char *fmt, ...)
{
    char sql[4000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return it_pg_i64(pg, sql);
}

static void pg_do(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pg_do(const char *fmt, ...)
{
    char sql[4000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    it_pg_do(pg, sql);
}

/* ---- requests */

struct cust {
    Kehu__V1__Customer c;
    char *phones[2];
};

static int64_t add(kehu_client *cl, const char *name, const char *phone, const char *company, const char *email,
                   const char *id_number)
{
    struct cust x;
    memset(&x, 0, sizeof x);
    kehu__v1__customer__init(&x.c);
    x.c.name = (char *)name;
    x.c.kind = company ? KEHU__V1__CUSTOMER_KIND__CORPORATE : KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    if (company)
        x.c.company = (char *)company;
    if (email)
        x.c.email = (char *)email;
    if (id_number)
        x.c.id_number = (char *)id_number;
    if (phone) {
        x.phones[0] = (char *)phone;
        x.c.phones = x.phones;
        x.c.n_phones = 1;
    }
    Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
    m.customer = &x.c;
    m.force = 1;
    m.owner = "";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &m;
    Kehu__V1__Response *r = it_call(cl, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

static Kehu__V1__Response *search_n(kehu_client *cl, const char *text, uint32_t limit, int code)
{
    Kehu__V1__CustomerSearch m = KEHU__V1__CUSTOMER_SEARCH__INIT;
    m.text = (char *)text;
    m.limit = limit;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
    req.customer_search = &m;
    return it_call(cl, &req, code);
}

static int found(kehu_client *cl, const char *text, int64_t id)
{
    Kehu__V1__Response *r = search_n(cl, text, 200, C(OK));
    int yes = 0;
    for (size_t i = 0; i < r->customers->n_customers; i++)
        yes |= r->customers->customers[i]->id == id;
    kehu_response_free(r);
    return yes;
}

static size_t count(kehu_client *cl, const char *text)
{
    Kehu__V1__Response *r = search_n(cl, text, 200, C(OK));
    size_t n = r->customers->n_customers;
    kehu_response_free(r);
    return n;
}

/* The position of id in the page for text, -1 when absent. */
static int position(kehu_client *cl, const char *text, int64_t id)
{
    Kehu__V1__Response *r = search_n(cl, text, 200, C(OK));
    int at = -1;
    for (size_t i = 0; i < r->customers->n_customers; i++)
        if (r->customers->customers[i]->id == id)
            at = (int)i;
    kehu_response_free(r);
    return at;
}

static Kehu__V1__Response *simple(kehu_client *cl, Kehu__V1__Request *req, int code)
{
    return it_call(cl, req, code);
}

static void edit_name(kehu_client *cl, int64_t id, const char *name)
{
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *fvs[1] = { &fv };
    fv.field = "name";
    fv.value = (char *)name;
    Kehu__V1__CustomerEdit m = KEHU__V1__CUSTOMER_EDIT__INIT;
    m.id = id;
    m.n_set = 1;
    m.set = fvs;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &m;
    kehu_response_free(simple(cl, &req, C(OK)));
}

static void archive(kehu_client *cl, int64_t id, int undo)
{
    Kehu__V1__CustomerArchive a = KEHU__V1__CUSTOMER_ARCHIVE__INIT;
    Kehu__V1__CustomerUnarchive u = KEHU__V1__CUSTOMER_UNARCHIVE__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    if (undo) {
        u.id = id;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_UNARCHIVE;
        req.customer_unarchive = &u;
    } else {
        a.id = id;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ARCHIVE;
        req.customer_archive = &a;
    }
    kehu_response_free(simple(cl, &req, C(OK)));
}

static void merge(kehu_client *cl, int64_t keep, int64_t other)
{
    Kehu__V1__CustomerMerge m = KEHU__V1__CUSTOMER_MERGE__INIT;
    m.keep_id = keep;
    m.other_id = other;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_MERGE;
    req.customer_merge = &m;
    kehu_response_free(simple(cl, &req, C(OK)));
}

/* ---- fixtures */

static int setup(void **state)
{
    if (it_setup(state) < 0)
        return -1;
    it_org_build(&org);
    pg = it_pg_open();
    return 0;
}

static int teardown(void **state)
{
    PQfinish(pg);
    it_org_close(&org);
    return it_teardown(state);
}

/* ---- tests */

static void test_chinese_in_pinyin_order(void **state)
{
    (void)state;
    int64_t a = add(org.li, "诸葛亮", "13811110001", NULL, NULL, NULL);
    int64_t b = add(org.li, "诸葛瑾", "13811110002", NULL, NULL, NULL);
    int64_t c = add(org.li, "诸葛", "13811110003", NULL, NULL, NULL);
    assert_true(found(org.li, "诸", a) && found(org.li, "诸葛", b) && found(org.li, "zg", c));
    assert_true(found(org.li, "zhuge", b) && found(org.li, "zhugeliang", a) && found(org.li, "zgl", a));
    assert_false(found(org.li, "zhugeliang", b));
    assert_true(found(org.li, "诸葛亮", a));
    assert_false(found(org.li, "诸葛亮", b));
    /* the exact name first, then pinyin order: zhu ge jin < zhu ge liang */
    assert_int_equal(position(org.li, "诸葛", c), 0);
    assert_int_equal(position(org.li, "诸葛", b), 1);
    assert_int_equal(position(org.li, "诸葛", a), 2);
    assert_int_equal(count(org.li, "诸葛"), 3);
    assert_int_equal(count(org.li, "zhuge"), 3);
}

static void test_mixed_scripts(void **state)
{
    (void)state;
    int64_t t = add(org.li, "欧文Tony", "13811110004", "Acme环球贸易", "tony.ou@acme.example", NULL);
    assert_true(found(org.li, "欧", t) && found(org.li, "欧文", t));
    assert_true(found(org.li, "tony", t) && found(org.li, "TONY", t) && found(org.li, "ouwen", t));
    assert_true(found(org.li, "环球", t) && found(org.li, "acme", t) && found(org.li, "环球贸易", t));
    assert_true(found(org.li, "ony", t) && found(org.li, "acme.example", t));
    assert_true(found(org.li, "欧文Tony", t));
    assert_false(found(org.li, "tonyx", t));
}

static void test_phone_digits(void **state)
{
    (void)state;
    int64_t a = add(org.li, "邓艾", "+86 138-0606-4321", NULL, NULL, NULL);
    int64_t b = add(org.li, "钟会", "021 6060 9999", NULL, "zh6060@example.com", NULL);
    /* three and four digits: the side table; more: the text */
    assert_true(found(org.li, "606", a) && found(org.li, "606", b));
    assert_true(found(org.li, "6064", a) && !found(org.li, "6064", b));
    assert_true(found(org.li, "0606", a) && !found(org.li, "0606", b));
    assert_true(found(org.li, "6060", b) && !found(org.li, "6060", a));
    assert_true(found(org.li, "60-64", a));
    assert_true(found(org.li, "8613806064321", a));
    assert_true(found(org.li, "138 0606 4321", a));
    assert_true(found(org.li, "60609", b) && !found(org.li, "60609", a));
    assert_true(found(org.li, "zh6060", b));
    /* a run of digits is not a run across a separator ("4321" then "021") */
    assert_false(found(org.li, "3210", a));
    assert_false(found(org.li, "3210", b));
    /* the side table holds the runs of both phones, and nothing across them */
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_search_key WHERE customer_id = %lld AND rank = 2"
                            " AND token = '4321'",
                            (long long)a),
                     1);
}

/* The ids li sees whose text holds digits, in pinyin order: the truth a
 * digit search must give, straight from the customers, as "id,id,...". */
static char *digits_truth(const char *digits, uint32_t limit)
{
    char sql[800];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg(id::text, ',' ORDER BY sort_key, id), '') FROM (SELECT id, sort_key"
             " FROM customer WHERE search_text LIKE '%%%s%%' AND merged_into IS NULL AND status <> 'archived'"
             " AND owner_id = (SELECT id FROM app_user WHERE username = 'li.lei') ORDER BY sort_key, id LIMIT %u) x",
             digits, limit);
    PGresult *r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return s;
}

static char *got(kehu_client *cl, const char *text, uint32_t limit);

static void same_as_truth(const char *digits, uint32_t limit)
{
    char *want = digits_truth(digits, limit), *have = got(org.li, digits, limit);
    assert_string_equal(have, want);
    free(want);
    free(have);
}

/* Three digits are the last three of a run of digits, or the start of one of
 * the four-digit runs the side table keeps (sql/0040): found at a number's
 * end, in its middle, as a whole three-digit run, and through several of
 * the merged ranges at once, each customer once. */
static void test_three_digits(void **state)
{
    (void)state;
    int64_t end = add(org.li, "曹丕", "13957205810", NULL, NULL, NULL);          /* ...810 */
    int64_t mid = add(org.li, "曹植", "0571 8810 6079", NULL, NULL, NULL);       /* 8810 6: 8106 */
    int64_t run = add(org.li, "曹冲", NULL, NULL, "cc810@example.com", NULL);    /* a run of three */
    int64_t many = add(org.li, "曹彰", "181 0810 8100", NULL, NULL, NULL);       /* 8108, 8100 */
    int64_t two = add(org.li, "曹操", "13900001234", NULL, "5678@example.com", NULL); /* two runs */
    assert_int_equal(count(org.li, "810"), 4);
    assert_true(found(org.li, "810", end) && found(org.li, "810", mid) && found(org.li, "810", run) &&
                found(org.li, "810", many));
    same_as_truth("810", 200);
    same_as_truth("810", 2); /* a short page: the first two in pinyin order */
    assert_true(found(org.li, "079", mid) && found(org.li, "607", mid) && !found(org.li, "607", end));
    assert_true(found(org.li, "572", end) && found(org.li, "139", end) && found(org.li, "100", many));
    /* digits of two runs, end to end, are no match ("1234" then "5678") */
    assert_true(found(org.li, "234", two) && found(org.li, "567", two) && found(org.li, "678", two));
    assert_false(found(org.li, "345", two));
    assert_false(found(org.li, "456", two));
    assert_false(found(org.li, "4567", two));
    same_as_truth("000", 200);
    same_as_truth("123", 200);
    /* the rows: each run's four-digit runs and its last three digits, once */
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_search_key WHERE customer_id = %lld AND rank = 2",
                            (long long)two),
                     (11 - 3) + 1 + (4 - 3) + 1);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_search_key WHERE customer_id = %lld AND rank = 2"
                            " AND length(token) = 3",
                            (long long)many),
                     1);
}

static void test_nothing(void **state)
{
    (void)state;
    assert_int_equal(count(org.li, "qqxzzy"), 0);
    assert_int_equal(count(org.li, "4747"), 0);
    assert_int_equal(count(org.li, "474747474"), 0);
    assert_int_equal(count(org.li, "犇犇"), 0);
    assert_int_equal(count(org.admin, "犇"), 0);
    kehu_response_free(search_n(org.li, "4", 20, C(INVALID_ARGUMENT)));
}

static void test_rename(void **state)
{
    (void)state;
    int64_t id = add(org.li, "甄姬", "13811110005", NULL, NULL, NULL);
    assert_true(found(org.li, "甄姬", id) && found(org.li, "zhenji", id) && found(org.li, "zj", id));
    edit_name(org.li, id, "司马懿");
    assert_false(found(org.li, "甄姬", id));
    assert_false(found(org.li, "甄", id));
    assert_false(found(org.li, "zj", id));
    assert_true(found(org.li, "司马", id) && found(org.li, "smy", id) && found(org.li, "司马懿", id));
    assert_int_equal(position(org.li, "司马懿", id), 0);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_search_key WHERE customer_id = %lld"
                            " AND token IN ('甄姬', '甄', 'zj')",
                            (long long)id),
                     0);
    /* the rows are the customer's keys, no more and no fewer */
    assert_int_equal(pg_i64("SELECT count(*) FROM customer c, customer_search_key_rows(c.name, c.search_tokens,"
                            " c.search_text) k WHERE c.id = %lld",
                            (long long)id),
                     pg_i64("SELECT count(*) FROM customer_search_key WHERE customer_id = %lld", (long long)id));
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_search_key k JOIN customer c ON c.id = k.customer_id"
                            " WHERE c.id = %lld AND k.sort_key <> c.sort_key",
                            (long long)id),
                     0);
}

static void test_merged_archived_deleted(void **state)
{
    (void)state;
    int64_t keep = add(org.li, "伏寿", "13811110006", NULL, NULL, NULL);
    int64_t other = add(org.li, "伏完", "13811110007", NULL, NULL, NULL);
    assert_true(found(org.li, "伏完", other) && found(org.li, "伏", other));
    merge(org.admin, keep, other);
    assert_false(found(org.li, "伏完", other));
    assert_false(found(org.li, "伏", other));
    assert_false(found(org.admin, "fuwan", other));
    assert_true(found(org.li, "伏", keep));

    int64_t gone = add(org.li, "卞喜", "13811110008", NULL, NULL, NULL);
    archive(org.li, gone, 0);
    assert_false(found(org.li, "卞喜", gone));
    assert_false(found(org.admin, "bx", gone));
    archive(org.li, gone, 1);
    assert_true(found(org.li, "卞喜", gone) && found(org.li, "bx", gone));

    /* a row deleted behind kehud's back takes its keys with it */
    int64_t del = add(org.li, "孟获", "13811110009", NULL, NULL, NULL);
    assert_true(pg_i64("SELECT count(*) FROM customer_search_key WHERE customer_id = %lld", (long long)del) > 0);
    pg_do("DELETE FROM change_log WHERE customer_id = %lld; DELETE FROM customer WHERE id = %lld", (long long)del,
          (long long)del);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_search_key WHERE customer_id = %lld", (long long)del), 0);
    assert_false(found(org.admin, "孟获", del));
}

static void test_invisible_never_shown(void **state)
{
    (void)state;
    int64_t mine = add(org.li, "庞统", "13811110010", NULL, NULL, NULL);
    int64_t theirs = add(org.zhang, "庞统", "13811110011", NULL, NULL, "11010519491231002X");
    int64_t far = add(org.bj, "庞德", "13811110012", NULL, NULL, NULL);
    assert_true(found(org.li, "庞统", mine));
    assert_false(found(org.li, "庞统", theirs)); /* not even as the exact name */
    assert_false(found(org.li, "庞", far));
    assert_int_equal(count(org.li, "庞"), 1);
    assert_int_equal(count(org.li, "11010519491231002X"), 0); /* nor by ID number */
    assert_true(found(org.zhang, "11010519491231002X", theirs));
    assert_int_equal(count(org.zhang, "庞统"), 1);
    assert_int_equal(count(org.admin, "庞"), 3);
    assert_int_equal(count(org.mgr, "庞"), 2); /* the branch manager: Shanghai, not Beijing */
    assert_int_equal(count(org.bj, "pang"), 1);
}

/* The ids of the first limit customers a scope sees for a rank-1 token, as
 * the contract orders them, straight from the customers (not the side
 * table), as "id,id,...". */
static char *expected(const char *token, const char *owner_filter, uint32_t limit)
{
    char sql[1200];
    snprintf(sql, sizeof sql,
             "SELECT string_agg(id::text, ',' ORDER BY r, sort_key, id) FROM (SELECT id, sort_key,"
             " CASE WHEN name = '%s' THEN 0 ELSE 1 END AS r FROM customer c"
             " WHERE '%s' = ANY (search_tokens) AND merged_into IS NULL AND status <> 'archived' %s"
             " ORDER BY 3, 2, 1 LIMIT %u) x",
             token, token, owner_filter, limit);
    PGresult *r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return s;
}

static char *got(kehu_client *cl, const char *text, uint32_t limit)
{
    Kehu__V1__Response *r = search_n(cl, text, limit, C(OK));
    char *s = calloc(1, 32 * (r->customers->n_customers + 1));
    for (size_t i = 0; i < r->customers->n_customers; i++)
        sprintf(s + strlen(s), "%s%lld", i ? "," : "", (long long)r->customers->customers[i]->id);
    kehu_response_free(r);
    return s;
}

static void same_page(kehu_client *cl, const char *text, const char *token, const char *owner_filter, uint32_t limit)
{
    char *want = expected(token, owner_filter, limit), *have = got(cl, text, limit);
    assert_string_equal(have, want);
    assert_int_equal(strlen(have) > 0, 1);
    free(want);
    free(have);
}

static void test_twenty_thousand(void **state)
{
    (void)state;
    int64_t tpl = add(org.li, "滕芳", "13924681357", NULL, NULL, NULL);
    int64_t li_id = pg_i64("SELECT id FROM app_user WHERE username = 'li.lei'");
    int64_t bj_id = pg_i64("SELECT id FROM app_user WHERE username = 'bj.am'");
    /* 20,000 of li's customers with the template's keys, in pinyin orders
     * unlike their ids; 1,000 in Beijing that sort before them all */
    /* loaded as kehu-seed loads: triggers off, then the side table filled
     * set-based (customer_search_key_fill) */
    int64_t first = pg_i64("SELECT last_value + 1 FROM customer_id_seq");
    pg_do("SET session_replication_role = replica;"
          " INSERT INTO customer (branch_id, owner_id, name, phones, sort_key, search_text, search_tokens)"
          " SELECT t.branch_id, %lld, t.name, t.phones, 'teng fang ' || lpad(((i * 7919) %% 20000)::text, 6, '0')"
          "  || E'\\t' || t.name, t.search_text, t.search_tokens"
          " FROM customer t, generate_series(1, 20000) i WHERE t.id = %lld;"
          " INSERT INTO customer (branch_id, owner_id, name, phones, sort_key, search_text, search_tokens)"
          " SELECT (SELECT id FROM org_unit WHERE name = '北京分行'), %lld, t.name, t.phones,"
          "  'teng a ' || lpad(i::text, 6, '0'), t.search_text, t.search_tokens"
          " FROM customer t, generate_series(1, 1000) i WHERE t.id = %lld;"
          " SET session_replication_role = origin;"
          " SELECT customer_search_key_fill(%lld, (SELECT max(id) FROM customer));"
          " ANALYZE customer, customer_search_key",
          (long long)li_id, (long long)tpl, (long long)bj_id, (long long)tpl, (long long)first);
    assert_int_equal(pg_i64("SELECT count(*) FROM customer_search_key WHERE token = '滕' AND rank = 1"), 21001);
    char mine[64];
    snprintf(mine, sizeof mine, "AND owner_id = %lld", (long long)li_id);
    /* rank 1: one character, whole syllables, initials; rank 0: the exact name */
    same_page(org.li, "滕", "滕", mine, 20);
    same_page(org.li, "teng", "teng", mine, 20);
    same_page(org.li, "tf", "tf", mine, 200);
    same_page(org.li, "滕芳", "滕芳", mine, 20);
    same_page(org.admin, "滕", "滕", "", 20); /* Beijing's first: they sort first */
    same_page(org.admin, "滕", "滕", "", 200);
    Kehu__V1__Response *r = search_n(org.li, "滕", 200, C(OK));
    assert_int_equal(r->customers->n_customers, 200);
    for (size_t i = 0; i < r->customers->n_customers; i++)
        assert_string_not_equal(r->customers->customers[i]->owner, "bj.am");
    kehu_response_free(r);
    /* four digits of the phone (rank 2): the same customers in the same order */
    char *by_digits = got(org.li, "2468", 20), *by_token = got(org.li, "滕", 20);
    assert_string_equal(by_digits, by_token);
    free(by_digits);
    /* three digits: at the phone's end (357), in its middle (924): the same */
    by_digits = got(org.li, "357", 20);
    assert_string_equal(by_digits, by_token);
    free(by_digits);
    by_digits = got(org.li, "924", 20);
    assert_string_equal(by_digits, by_token);
    free(by_digits);
    free(by_token);
    same_as_truth("357", 200);
    same_as_truth("813", 200); /* 681357: 8135 */
    /* one of them called exactly what is typed comes first, late as it sorts */
    int64_t exact = add(org.li, "滕", NULL, NULL, NULL, NULL);
    assert_int_equal(position(org.li, "滕", exact), 0);
    same_page(org.li, "滕", "滕", mine, 20);
    /* Beijing's manager sees only Beijing's thousand */
    Kehu__V1__Response *bj = search_n(org.bj, "滕", 200, C(OK));
    assert_int_equal(bj->customers->n_customers, 200);
    for (size_t i = 0; i < bj->customers->n_customers; i++)
        assert_string_equal(bj->customers->customers[i]->owner, "bj.am");
    kehu_response_free(bj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chinese_in_pinyin_order),
        cmocka_unit_test(test_mixed_scripts),
        cmocka_unit_test(test_phone_digits),
        cmocka_unit_test(test_three_digits),
        cmocka_unit_test(test_nothing),
        cmocka_unit_test(test_rename),
        cmocka_unit_test(test_merged_archived_deleted),
        cmocka_unit_test(test_invisible_never_shown),
        cmocka_unit_test(test_twenty_thousand),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
