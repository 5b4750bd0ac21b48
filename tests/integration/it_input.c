/* Bad input through the real wire: strings that are not UTF-8 or hold a NUL
 * and unknown enum values in any request (before login too), values a bank
 * would refuse, filters naming nothing, times PostgreSQL cannot hold, an
 * import with no branch to go to, frames past the decode budget, and what
 * a client's bytes may do to the log. Never INTERNAL, always the field. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen_request.h"
#include "itest.h"
#include "wire.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;

static int setup(void **state)
{
    if (it_setup(state) < 0)
        return -1;
    it_org_build(&org);
    return 0;
}

static int teardown(void **state)
{
    it_org_close(&org);
    return it_teardown(state);
}

/* ---- raw frames */

/* Packs req, writes `with` (n bytes) over the first occurrence of the
 * placeholder `marker` (as long), and sends it: what no client library
 * would send, a NUL inside a string included. */
static void raw_send_patched(int fd, uint64_t id, Kehu__V1__Request *req, const char *marker, const char *with,
                             size_t n)
{
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = id;
    f.body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f.request = req;
    struct wire_buf b = { 0 };
    assert_true(wire_pack(&b, &f) > 0);
    if (marker) {
        assert_int_equal(strlen(marker), n);
        uint8_t *at = memmem(b.data, b.len, marker, n);
        assert_non_null(at);
        memcpy(at, with, n);
    }
    it_raw_write(fd, b.data, b.len);
    wire_buf_free(&b);
}

/* The next response must be `code` on `field`, its message naming the field. */
static void raw_expect_field(int fd, uint64_t id, int code, const char *field)
{
    int eof;
    Kehu__V1__Frame *f = it_raw_recv(fd, 10000, &eof);
    if (!f)
        fail_msg("expected a response, got %s", eof ? "end of connection" : "nothing");
    assert_int_equal(f->body_case, KEHU__V1__FRAME__BODY_RESPONSE);
    assert_int_equal(f->id, id);
    const Kehu__V1__Status *st = f->response->status;
    if ((int)st->code != code || strcmp(st->field, field) != 0)
        fail_msg("expected %s on '%s', got %s on '%s': %s", kehu_code_name(code), field, kehu_code_name(st->code),
                 st->field, st->message);
    if (code != C(OK))
        assert_non_null(strstr(st->message, field));
    kehu__v1__frame__free_unpacked(f, NULL);
}

static int raw_open(void)
{
    int fd = it_raw_connect();
    it_raw_hello(fd, KEHU_PROTOCOL_VERSION);
    it_raw_expect(fd, 1, C(OK), 0);
    return fd;
}

static void raw_login(int fd, uint64_t id, const char *user, const char *password)
{
    Kehu__V1__Login l = KEHU__V1__LOGIN__INIT;
    l.username = (char *)user;
    l.password = (char *)password;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    req.login = &l;
    it_raw_send(fd, id, &req);
    it_raw_expect(fd, id, C(OK), 0);
}

/* Login before authentication: refused as decoded, whoever asks. */
static void test_login_unsound(void **state)
{
    (void)state;
    int fd = raw_open();
    Kehu__V1__Login l = KEHU__V1__LOGIN__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    req.login = &l;
    l.username = "ad\xffmin";
    l.password = "x";
    it_raw_send(fd, 2, &req);
    raw_expect_field(fd, 2, C(INVALID_ARGUMENT), "username");
    l.username = "ad#min"; /* "ad\0min" would log in as "ad" if it were cut at the NUL */
    raw_send_patched(fd, 3, &req, "ad#min", "ad\0min", 6);
    raw_expect_field(fd, 3, C(INVALID_ARGUMENT), "username");
    l.username = "admin";
    l.password = "admin-pass-1234#";
    raw_send_patched(fd, 4, &req, "admin-pass-1234#", "admin-pass-1234\0", 16);
    raw_expect_field(fd, 4, C(INVALID_ARGUMENT), "password");
    /* the connection is still sound: a proper login works */
    raw_login(fd, 5, "admin", TH_ADMIN_PASSWORD);
    close(fd);
}

/* Strings and enums of several requests, all answered at one place. */
static void test_strings_and_enums(void **state)
{
    (void)state;
    int fd = raw_open();
    raw_login(fd, 2, "admin", TH_ADMIN_PASSWORD);
    uint64_t id = 10;

    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    Kehu__V1__CustomerAdd ca = KEHU__V1__CUSTOMER_ADD__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    char *tags[] = { "ok", "b\xc3" };
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    cu.name = "王\xe5\xb0"; /* cut in the middle of a character */
    ca.customer = &cu;
    ca.branch = "上海分行";
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &ca;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "customer.name");
    cu.name = "王五";
    cu.notes = "first line#second";
    raw_send_patched(fd, ++id, &req, "first line#second", "first line\0second", 17);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "customer.notes");
    cu.notes = "";
    cu.tags = tags;
    cu.n_tags = 2;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "customer.tags");
    cu.n_tags = 0;
    /* kinds 3 and 99 are no kind at all (they were stored as individual) */
    cu.kind = 3;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "customer.kind");
    cu.kind = 99;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "customer.kind");
    cu.kind = -5;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "customer.kind");
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    it_raw_send(fd, ++id, &req);
    it_raw_expect(fd, id, C(OK), 0);

    /* a contact's name, a transaction's product, a list's tag filter */
    Kehu__V1__Contact k = KEHU__V1__CONTACT__INIT;
    Kehu__V1__ContactAdd cadd = KEHU__V1__CONTACT_ADD__INIT;
    k.name = "\xc0\xaf"; /* an overlong '/' */
    cadd.customer_id = 1;
    cadd.contact = &k;
    req.op_case = KEHU__V1__REQUEST__OP_CONTACT_ADD;
    req.contact_add = &cadd;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "contact.name");

    Kehu__V1__Txn t = KEHU__V1__TXN__INIT;
    Kehu__V1__TxnAdd ta = KEHU__V1__TXN_ADD__INIT;
    t.customer_id = 1;
    t.amount_minor = 100;
    t.product = "\xed\xa0\x80"; /* a surrogate */
    ta.txn = &t;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_ADD;
    req.txn_add = &ta;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "txn.product");

    Kehu__V1__CustomerList cl = KEHU__V1__CUSTOMER_LIST__INIT;
    cl.tag = "vip\xff";
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
    req.customer_list = &cl;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "tag");
    /* export's filter, one message deeper */
    Kehu__V1__ExportPage ep = KEHU__V1__EXPORT_PAGE__INIT;
    ep.filter = &cl;
    req.op_case = KEHU__V1__REQUEST__OP_EXPORT_PAGE;
    req.export_page = &ep;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "filter.tag");

    /* an edit's value and an unknown role */
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *fvs[] = { &fv };
    Kehu__V1__CustomerEdit ce = KEHU__V1__CUSTOMER_EDIT__INIT;
    fv.field = "name";
    fv.value = "a#b";
    ce.id = 1;
    ce.set = fvs;
    ce.n_set = 1;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &ce;
    raw_send_patched(fd, ++id, &req, "a#b", "a\0b", 3);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "set.value");
    req.op_case = KEHU__V1__REQUEST__OP_USER_ADD;
    req.user_add = it_req_user_add("new.user", 42, "上海一组", IT_PASSWORD)->user_add;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "role");
    Kehu__V1__OrgAdd oa = KEHU__V1__ORG_ADD__INIT;
    oa.name = "新\x01\xfe";
    oa.kind = KEHU__V1__UNIT_KIND__TEAM;
    oa.parent = "上海分行";
    req.op_case = KEHU__V1__REQUEST__OP_ORG_ADD;
    req.org_add = &oa;
    it_raw_send(fd, ++id, &req);
    raw_expect_field(fd, id, C(INVALID_ARGUMENT), "name");
    close(fd);

    /* nothing of it was stored */
    PGconn *pg = it_pg_open();
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer WHERE kind::text <> 'individual' OR name <> '王五'"),
                     0);
    PQfinish(pg);
}

/* A frame that would unpack into more than its budget says so. */
static void test_decode_budget(void **state)
{
    (void)state;
    int fd = raw_open();
    enum { N = 20000 };
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT;
    Kehu__V1__FieldValue **fvs = calloc(N, sizeof *fvs);
    for (int i = 0; i < N; i++)
        fvs[i] = &fv; /* two bytes each on the wire, far more unpacked */
    Kehu__V1__CustomerEdit ce = KEHU__V1__CUSTOMER_EDIT__INIT;
    ce.id = 1;
    ce.set = fvs;
    ce.n_set = N;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &ce;
    it_raw_send(fd, 2, &req);
    free(fvs);
    int eof;
    Kehu__V1__Frame *f = it_raw_recv(fd, 10000, &eof);
    assert_non_null(f);
    assert_int_equal(f->response->status->code, C(RESOURCE_EXHAUSTED));
    if (!strstr(f->response->status->message, "decode budget"))
        fail_msg("no limit named: %s", f->response->status->message);
    kehu__v1__frame__free_unpacked(f, NULL);
    close(fd);
}

/* What a client's bytes look like in kehud's log: escaped. */
static void test_log_escapes(void **state)
{
    (void)state;
    int fd = it_raw_connect();
    Kehu__V1__Hello h = KEHU__V1__HELLO__INIT;
    h.protocol_version = KEHU_PROTOCOL_VERSION;
    h.client = "evil\x1b[2J\r\n2026-01-01T00:00:00.000Z info  conn=1 forged"; /* valid UTF-8, control characters */
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_HELLO;
    req.hello = &h;
    it_raw_send(fd, 1, &req);
    it_raw_expect(fd, 1, C(OK), 0);
    close(fd);
    usleep(200 * 1000);
    FILE *lf = fopen(th_kehud_log(&it_env), "rb");
    assert_non_null(lf);
    static char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf - 1, lf);
    fclose(lf);
    buf[n] = 0;
    assert_null(memchr(buf, 0x1b, n));
    assert_non_null(strstr(buf, "evil\\x1b[2J\\r\\n2026-01-01T00:00:00.000Z info  conn=1 forged"));
    for (char *line = strstr(buf, "\n2026-01-01T00:00:00.000Z"); line; line = NULL)
        fail_msg("a forged log line: %.80s", line);
}

/* ---- through libkehu */

static void test_validation(void **state)
{
    (void)state;
    static const struct {
        const char *field, *value, *reported;
    } bad[] = {
        { "phones", "12345", "phones" },
        { "phones", "00000000000", "phones" },
        { "id_number", "00000019900101123X", "id_number" }, /* right check digit, region 000000 */
        { "id_number", "310101209901011236", "id_number" }, /* right check digit, born in 2099 */
        { "id_number", "31010119900101123", "id_number" },  /* 17 digits */
        { "id_number", "3101011990010112345", "id_number" },
        { "birth", "2099-01-01", "birth" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
        char *phones[] = { (char *)bad[i].value };
        cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
        cu.name = "校验客户";
        if (strcmp(bad[i].field, "phones") == 0) {
            cu.phones = phones;
            cu.n_phones = 1;
        } else if (strcmp(bad[i].field, "id_number") == 0) {
            cu.id_number = (char *)bad[i].value;
        } else {
            cu.birth = (char *)bad[i].value;
        }
        Kehu__V1__CustomerAdd ca = KEHU__V1__CUSTOMER_ADD__INIT;
        ca.customer = &cu;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
        req.customer_add = &ca;
        it_expect(org.li, &req, C(INVALID_ARGUMENT), bad[i].reported);
    }
    /* and the sound forms */
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    char *phones[] = { "021-62345678-801", "+44 20 7946 0958" };
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    cu.name = "校验客户";
    cu.phones = phones;
    cu.n_phones = 2;
    cu.id_number = "310101900101123"; /* first generation */
    cu.birth = "1990-01-01";
    Kehu__V1__CustomerAdd ca = KEHU__V1__CUSTOMER_ADD__INIT;
    ca.customer = &cu;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &ca;
    Kehu__V1__Response *r = it_call(org.li, &req, C(OK));
    assert_string_equal(r->customer->phones[0], "02162345678-801");
    assert_string_equal(r->customer->phones[1], "+442079460958");
    assert_string_equal(r->customer->id_number, "310101199001011234");
    kehu_response_free(r);
}

static void list_expect(kehu_client *c, const char *owner, const char *branch, int code, const char *field,
                        const char *message)
{
    Kehu__V1__CustomerList m = KEHU__V1__CUSTOMER_LIST__INIT;
    m.owner = (char *)owner;
    m.branch = (char *)branch;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
    req.customer_list = &m;
    struct kehu_status st;
    Kehu__V1__Response *r = kehu_call(c, &req, &st);
    assert_non_null(r);
    if ((int)st.code != code || strcmp(st.field, field) != 0)
        fail_msg("list owner='%s' branch='%s': expected %s on '%s', got %s on '%s': %s", owner, branch,
                 kehu_code_name(code), field, kehu_code_name(st.code), st.field, st.message);
    if (message)
        assert_string_equal(st.message, message);
    kehu_response_free(r);
    /* export's filter is the same */
    Kehu__V1__ExportPage ep = KEHU__V1__EXPORT_PAGE__INIT;
    ep.filter = &m;
    req.op_case = KEHU__V1__REQUEST__OP_EXPORT_PAGE;
    req.export_page = &ep;
    r = kehu_call(c, &req, &st);
    assert_non_null(r);
    if (code != C(OK) && ((int)st.code != code || strcmp(st.field, field) != 0))
        fail_msg("export owner='%s' branch='%s': expected %s on '%s', got %s on '%s': %s", owner, branch,
                 kehu_code_name(code), field, kehu_code_name(st.code), st.field, st.message);
    kehu_response_free(r);
}

static void test_filters_not_found(void **state)
{
    (void)state;
    list_expect(org.admin, "nobody", "", C(NOT_FOUND), "owner", "no user named 'nobody'");
    list_expect(org.admin, "", "无此分行", C(NOT_FOUND), "branch", "no org unit '无此分行'");
    list_expect(org.admin, "", "987654", C(NOT_FOUND), "branch", NULL);
    list_expect(org.admin, "li.lei", "上海分行", C(OK), "", NULL);
    list_expect(org.admin, "", "华东区", C(OK), "", NULL);
    /* an account manager may not see another's account: it is missing for them */
    list_expect(org.li, "zhang.wei", "", C(NOT_FOUND), "owner", "no user named 'zhang.wei'");
    list_expect(org.li, "li.lei", "", C(OK), "", NULL);
    list_expect(org.mgr, "zhang.wei", "", C(OK), "", NULL);
    list_expect(org.mgr, "bj.am", "", C(NOT_FOUND), "owner", "no user named 'bj.am'");
    /* a reassignment by filter: the same answers (a typo must not look like "nothing to move") */
    static const char *const owners[] = { "nobody", "", "bj.am" }, *const branches[] = { "", "无此分行", "" };
    static const char *const fields[] = { "owner", "branch", "owner" };
    for (int i = 0; i < 3; i++) {
        Kehu__V1__CustomerList f = KEHU__V1__CUSTOMER_LIST__INIT;
        f.owner = (char *)owners[i];
        f.branch = (char *)branches[i];
        char *to[] = { "zhang.wei" };
        Kehu__V1__Assign a = KEHU__V1__ASSIGN__INIT;
        a.filter = &f;
        a.use_filter = 1;
        a.to = to;
        a.n_to = 1;
        a.reason = "核对";
        a.dry_run = 1;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_ASSIGN;
        req.assign = &a;
        it_expect(i == 2 ? org.mgr : org.admin, &req, C(NOT_FOUND), fields[i]);
    }
}

static void audit_expect(int64_t since, int64_t until, int code, const char *field)
{
    Kehu__V1__AuditList m = KEHU__V1__AUDIT_LIST__INIT;
    m.since_ms = since;
    m.until_ms = until;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_AUDIT_LIST;
    req.audit_list = &m;
    it_expect(org.auditor, &req, code, field);
}

static void test_audit_extremes(void **state)
{
    (void)state;
    audit_expect(INT64_MIN, 0, C(INVALID_ARGUMENT), "since_ms");
    audit_expect(INT64_MAX, 0, C(INVALID_ARGUMENT), "since_ms");
    audit_expect(0, INT64_MAX, C(INVALID_ARGUMENT), "until_ms");
    audit_expect(1, INT64_MIN, C(INVALID_ARGUMENT), "until_ms");
    audit_expect(-1, 0, C(INVALID_ARGUMENT), "since_ms");
    audit_expect(0, 253402300799999LL, C(OK), NULL);
    audit_expect(1, 2, C(OK), NULL);
}

/* Grading policy refusals name the key that is wrong. */
static void test_policy_key_named(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value;
    } bad[] = {
        { "abc.a_share", "5" },           /* out of its range */
        { "no.such_key", "1" },           /* unknown */
        { "abc.a_share", "lots" },        /* not a number */
        { "abc.a_share", "0.9" },         /* above abc.b_share */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *fvs[] = { &fv };
        fv.field = (char *)bad[i].key;
        fv.value = (char *)bad[i].value;
        Kehu__V1__GradePolicySet m = KEHU__V1__GRADE_POLICY_SET__INIT;
        m.values = fvs;
        m.n_values = 1;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_GRADE_POLICY_SET;
        req.grade_policy_set = &m;
        it_expect(org.admin, &req, C(INVALID_ARGUMENT), bad[i].key);
    }
}

/* ---- import from head office */

static int import_begin(kehu_client *c, const char *branch, int dry_run, uint64_t *id)
{
    Kehu__V1__ImportBegin b = KEHU__V1__IMPORT_BEGIN__INIT;
    b.kind = "customers";
    b.dry_run = dry_run;
    b.branch = (char *)branch;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_IMPORT_BEGIN;
    req.import_begin = &b;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    *id = r->import_started->import_id;
    kehu_response_free(r);
    return 0;
}

/* The file in one chunk: the response (free it), its status in *st. */
static Kehu__V1__Response *import_file(kehu_client *c, int dry_run, const char *csv, struct kehu_status *st)
{
    uint64_t id;
    import_begin(c, "", dry_run, &id);
    Kehu__V1__ImportChunk ch = KEHU__V1__IMPORT_CHUNK__INIT;
    ch.import_id = id;
    ch.data.data = (uint8_t *)csv;
    ch.data.len = strlen(csv);
    ch.last = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_IMPORT_CHUNK;
    req.import_chunk = &ch;
    Kehu__V1__Response *r = kehu_call(c, &req, st);
    assert_non_null(r);
    return r;
}

static void test_import_without_branch(void **state)
{
    (void)state;
    struct kehu_status st;
    for (int dry = 1; dry >= 0; dry--) {
        /* neither --branch nor a branch or owner column: refused naming branch */
        Kehu__V1__Response *r = import_file(org.admin, dry, "name,phone\n无主客户,13900001234\n", &st);
        if (st.code != C(INVALID_ARGUMENT) || strcmp(st.field, "branch") != 0)
            fail_msg("expected INVALID_ARGUMENT on branch, got %s on '%s': %s", kehu_code_name(st.code), st.field,
                     st.message);
        assert_non_null(strstr(st.message, "--branch"));
        kehu_response_free(r);
    }
    /* an owner column: rows without one are rejected on branch, the others go to the owner's branch */
    Kehu__V1__Response *r = import_file(org.admin, 0, "name,owner\n有主客户,li.lei\n无主客户,\n", &st);
    assert_int_equal(st.code, C(OK));
    assert_int_equal(r->import_result->imported, 1);
    assert_int_equal(r->import_result->n_rejected, 1);
    assert_int_equal(r->import_result->rejected[0]->line, 3);
    assert_string_equal(r->import_result->rejected[0]->field, "branch");
    kehu_response_free(r);
}

/* ---- every op type, made from the descriptors */

/* The response to id on fd (events pushed meanwhile passed over). */
static Kehu__V1__Frame *raw_response(int fd, uint64_t id)
{
    for (;;) {
        int eof;
        Kehu__V1__Frame *f = it_raw_recv(fd, 30000, &eof);
        if (!f)
            fail_msg("no response to request %llu (%s)", (unsigned long long)id, eof ? "closed" : "timeout");
        if (f->body_case == KEHU__V1__FRAME__BODY_RESPONSE && f->id == id)
            return f;
        kehu__v1__frame__free_unpacked(f, NULL);
    }
}

/* Requests of every op type with values from the edges (the int64 extremes,
 * dates past 9999, long and Chinese text, names that exist and names that
 * do not) as an admin sends them: whatever the answer, never INTERNAL. And
 * each with a flaw put in: refused as decoded, naming the field. */
static void every_request(const char *user, const char *password, int variants)
{
    static const char *const skipped[] = { "logout", "admin_backup", "perm_set", "login" };
    int fd = raw_open();
    raw_login(fd, 2, user, password);
    uint64_t id = 10;
    char internal[4096] = "";
    size_t ninternal = 0, sent = 0;
    for (size_t op = 0; op < gen_op_count(); op++) {
        const char *name = gen_op(op)->name;
        int skip = 0;
        for (size_t k = 0; k < sizeof skipped / sizeof skipped[0]; k++)
            skip |= strcmp(skipped[k], name) == 0;
        if (skip)
            continue;
        for (int variant = 0; variant < variants + 3; variant++) {
            enum gen_flaw flaw = variant < variants ? GEN_SOUND : (enum gen_flaw)(variant - variants + 1);
            uint8_t bytes[512];
            unsigned long rng = 0x9E3779B97F4A7C15ul * (op * 31 + (size_t)variant + 1) + (unsigned char)user[0];
            for (size_t k = 0; k < sizeof bytes; k++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                bytes[k] = (uint8_t)(rng >> 24);
            }
            struct gen_src src = { bytes, sizeof bytes };
            struct gen_request g;
            gen_request(&g, op, &src, flaw);
            uint8_t *buf;
            size_t n = gen_request_pack(&g, ++id, &buf);
            uint8_t *frame = malloc(n + 4); /* one write: a split one waits for Nagle and delayed ACKs */
            frame[0] = (uint8_t)(n >> 24), frame[1] = (uint8_t)(n >> 16), frame[2] = (uint8_t)(n >> 8);
            frame[3] = (uint8_t)n;
            memcpy(frame + 4, buf, n);
            it_raw_write(fd, frame, n + 4);
            free(frame);
            free(buf);
            sent++;
            Kehu__V1__Frame *f = raw_response(fd, id);
            const Kehu__V1__Status *st = f->response->status;
            if (st->code == C(INTERNAL) && ninternal++ < 12) {
                size_t len = strlen(internal);
                snprintf(internal + len, sizeof internal - len, "\n  %s (variant %d): %s", name, variant, st->message);
            }
            if (g.flaw != GEN_SOUND && (st->code != C(INVALID_ARGUMENT) || !*st->field))
                fail_msg("%s with flaw %d: expected INVALID_ARGUMENT naming a field, got %s on '%s': %s", name,
                         (int)g.flaw, kehu_code_name(st->code), st->field, st->message);
            int unauthenticated = st->code == C(UNAUTHENTICATED);
            kehu__v1__frame__free_unpacked(f, NULL);
            gen_request_free(&g);
            if (unauthenticated) /* a request ended the session (a revoke, a disable): log in again */
                raw_login(fd, ++id, user, password);
        }
    }
    close(fd);
    if (ninternal)
        fail_msg("%s: %zu of %zu requests answered INTERNAL:%s", user, ninternal, sent, internal);
}

static void test_every_request(void **state)
{
    (void)state;
    every_request("li.lei", IT_PASSWORD, 6); /* an account manager's narrower paths first */
    every_request("admin", TH_ADMIN_PASSWORD, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_unsound),
        cmocka_unit_test(test_strings_and_enums),
        cmocka_unit_test(test_decode_budget),
        cmocka_unit_test(test_log_escapes),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_filters_not_found),
        cmocka_unit_test(test_audit_extremes),
        cmocka_unit_test(test_import_without_branch),
        cmocka_unit_test(test_policy_key_named),
        cmocka_unit_test(test_every_request), /* last: it changes what it finds */
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
