/* Follow-ups (plan, log, due, list; completion of planned ones, the next
 * one, overdue ones, the last contact) and documents (chunked upload and
 * download, limits, rights), through libkehu and through the kehu command
 * line. kehud runs with --doc-max-bytes 4000000. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x
#define R(x) KEHU__V1__ROLE__##x
#define K(x) KEHU__V1__UNIT_KIND__##x

#define DOC_MAX 4000000
#define MiB (1024 * 1024)

static struct it_org org;
static kehu_client *admin, *li, *zhang, *mgr, *agent, *bj;
static struct it_cli cli; /* test_cli's kehu: its directory (made in setup) and output */

/* ---- dates: kehud's days are UTC days */

static int64_t today_epoch_days(void)
{
    return (int64_t)time(NULL) / 86400;
}

/* YYYY-MM-DD of today + offset days (a ring of buffers, so several may be used at once). */
static const char *day(int offset)
{
    static char ring[8][11];
    static int next;
    char *s = ring[next++ % 8];
    time_t t = (time_t)((today_epoch_days() + offset) * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s, 11, "%Y-%m-%d", &tm);
    return s;
}

/* ---- requests */

static int64_t add_customer(kehu_client *c, const char *name, const char *owner)
{
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    cu.name = (char *)name;
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
    m.customer = &cu;
    m.force = 1;
    m.owner = (char *)(owner ? owner : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

static Kehu__V1__Response *get_customer(kehu_client *c, int64_t id)
{
    Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
    m.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &m;
    return it_call(c, &req, C(OK));
}

static Kehu__V1__Response *plan(kehu_client *c, int64_t customer, const char *kind, const char *due, const char *note,
                                const char *user, int code)
{
    Kehu__V1__FollowupPlan m = KEHU__V1__FOLLOWUP_PLAN__INIT;
    m.customer_id = customer;
    m.kind = (char *)(kind ? kind : "");
    m.due = (char *)(due ? due : "");
    m.note = (char *)(note ? note : "");
    m.user = (char *)(user ? user : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_PLAN;
    req.followup_plan = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *log_fu(kehu_client *c, int64_t customer, const char *kind, const char *outcome,
                                  const char *next, const char *at, int code)
{
    Kehu__V1__FollowupLog m = KEHU__V1__FOLLOWUP_LOG__INIT;
    m.customer_id = customer;
    m.kind = (char *)(kind ? kind : "");
    m.outcome = (char *)(outcome ? outcome : "");
    m.next = (char *)(next ? next : "");
    m.at = (char *)(at ? at : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LOG;
    req.followup_log = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *due(kehu_client *c, const char *user, uint32_t days, int code)
{
    Kehu__V1__FollowupDue m = KEHU__V1__FOLLOWUP_DUE__INIT;
    m.user = (char *)(user ? user : "");
    m.days = days;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_DUE;
    req.followup_due = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *list_fu(kehu_client *c, int64_t customer, int code)
{
    Kehu__V1__FollowupList m = KEHU__V1__FOLLOWUP_LIST__INIT;
    m.customer_id = customer;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LIST;
    req.followup_list = &m;
    return it_call(c, &req, code);
}

static void expect_field(Kehu__V1__Response *r, const char *field)
{
    assert_string_equal(r->status->field, field);
    kehu_response_free(r);
}

/* The follow-up with this id in a list, or NULL. */
static const Kehu__V1__Followup *find_fu(const Kehu__V1__Followups *l, int64_t id)
{
    for (size_t i = 0; i < l->n_followups; i++)
        if (l->followups[i]->id == id)
            return l->followups[i];
    return NULL;
}

/* ---- the organisation: 上海分行 (li.lei, zhang.wei, wang.fang, chen.jing), 北京分行 (bj.am) */

static int setup(void **state)
{
    (void)state;
    if (it_cli_open(&cli) < 0)
        return -1;
    static const char *const extra[] = { "--doc-max-bytes", "4000000", NULL };
    if (th_env_up(&it_env, extra) < 0)
        return -1;
    it_org_build(&org);
    admin = org.admin;
    li = org.li;
    zhang = org.zhang;
    mgr = org.mgr;
    agent = org.agent;
    bj = org.bj;
    return 0;
}

static int teardown(void **state)
{
    it_org_close(&org);
    it_cli_close(&cli);
    return it_teardown(state);
}

/* ---- follow-ups */

static void test_plan_due_list(void **state)
{
    (void)state;
    int64_t a = add_customer(li, "周立波", NULL);
    Kehu__V1__Response *r = plan(li, a, "visit", day(3), "带上合同 (签字版)", NULL, C(OK));
    const Kehu__V1__Followup *f = r->followup;
    int64_t visit = f->id;
    assert_true(visit > 0);
    assert_int_equal(f->customer_id, a);
    assert_string_equal(f->customer_name, "周立波");
    assert_string_equal(f->kind, "visit");
    assert_string_equal(f->status, "planned");
    assert_string_equal(f->due, day(3));
    assert_string_equal(f->note, "带上合同 (签字版)");
    assert_string_equal(f->owner, "li.lei"); /* the customer's owner */
    assert_string_equal(f->created_by, "li.lei");
    assert_int_equal(f->done_at_ms, 0);
    kehu_response_free(r);
    r = plan(li, a, "call", day(20), NULL, NULL, C(OK));
    int64_t call = r->followup->id;
    kehu_response_free(r);

    /* something done long ago, with a next one that is overdue by now */
    r = log_fu(li, a, "meeting", "谈了续约", day(-5), day(-10), C(OK));
    int64_t met = r->followup->id;
    assert_string_equal(r->followup->status, "done");
    assert_string_equal(r->followup->next, day(-5));
    assert_int_equal(r->followup->done_at_ms, (today_epoch_days() - 10) * 86400000LL);
    kehu_response_free(r);

    /* due within 7 days (the default): the overdue meeting first, then the visit; not the call */
    r = due(li, NULL, 0, C(OK));
    const Kehu__V1__Followups *l = r->followups;
    assert_int_equal(l->n_followups, 2);
    assert_string_equal(l->followups[0]->kind, "meeting");
    assert_string_equal(l->followups[0]->due, day(-5));
    assert_string_equal(l->followups[0]->status, "planned");
    assert_string_equal(l->followups[0]->customer_name, "周立波");
    assert_int_equal(l->followups[1]->id, visit);
    int64_t overdue = l->followups[0]->id;
    kehu_response_free(r);
    r = due(li, NULL, 30, C(OK));
    assert_int_equal(r->followups->n_followups, 3);
    assert_int_equal(r->followups->followups[2]->id, call);
    kehu_response_free(r);
    r = due(li, "li.lei", 2, C(OK)); /* naming oneself is fine; the visit is 3 days out */
    assert_int_equal(r->followups->n_followups, 1);
    assert_int_equal(r->followups->followups[0]->id, overdue);
    kehu_response_free(r);

    /* the customer's list: newest first (by the day done or due) */
    r = list_fu(li, a, C(OK));
    l = r->followups;
    assert_int_equal(l->n_followups, 4);
    assert_int_equal(l->followups[0]->id, call);
    assert_int_equal(l->followups[1]->id, visit);
    assert_int_equal(l->followups[2]->id, overdue);
    assert_int_equal(l->followups[3]->id, met);
    kehu_response_free(r);
    /* the branch manager sees the same list */
    r = list_fu(mgr, a, C(OK));
    assert_int_equal(r->followups->n_followups, 4);
    kehu_response_free(r);
}

static void test_log_completes_planned(void **state)
{
    (void)state;
    int64_t b = add_customer(li, "吴晓梅", NULL);
    Kehu__V1__Response *r = plan(li, b, "visit", day(2), "第一次拜访", NULL, C(OK));
    int64_t planned = r->followup->id;
    kehu_response_free(r);
    r = plan(li, b, "visit", day(9), NULL, NULL, C(OK));
    int64_t later = r->followup->id;
    kehu_response_free(r);

    int64_t before = (int64_t)time(NULL) * 1000;
    r = log_fu(li, b, "visit", "有签约意向", day(30), NULL, C(OK));
    const Kehu__V1__Followup *f = r->followup;
    assert_int_equal(f->id, planned); /* the earliest planned visit, completed */
    assert_string_equal(f->status, "done");
    assert_string_equal(f->outcome, "有签约意向");
    assert_string_equal(f->note, "第一次拜访"); /* kept when the log brings none */
    assert_string_equal(f->due, day(2));
    assert_string_equal(f->next, day(30));
    assert_true(f->done_at_ms >= before - 1000 && f->done_at_ms <= before + 60000);
    kehu_response_free(r);

    r = list_fu(li, b, C(OK));
    const Kehu__V1__Followups *l = r->followups;
    assert_int_equal(l->n_followups, 3);
    const Kehu__V1__Followup *next = l->followups[0]; /* due in 30 days: the newest */
    assert_string_equal(next->status, "planned");
    assert_string_equal(next->kind, "visit");
    assert_string_equal(next->due, day(30));
    assert_string_equal(next->owner, "li.lei");
    assert_string_equal(find_fu(l, later)->status, "planned");
    assert_string_equal(find_fu(l, planned)->status, "done");
    kehu_response_free(r);

    /* nothing planned of that kind: a done follow-up of its own */
    r = log_fu(li, b, "call", NULL, NULL, NULL, C(OK));
    assert_true(r->followup->id != planned && r->followup->id != later);
    assert_string_equal(r->followup->status, "done");
    assert_string_equal(r->followup->owner, "li.lei");
    assert_string_equal(r->followup->due, "");
    kehu_response_free(r);

    /* the last contact moved, the version did not */
    r = get_customer(li, b);
    assert_true(r->customer->last_contact_ms >= before - 1000);
    assert_int_equal(r->customer->version, 1);
    int64_t last = r->customer->last_contact_ms;
    kehu_response_free(r);
    /* logging something older does not move it back */
    kehu_response_free(log_fu(li, b, "email", NULL, NULL, day(-3), C(OK)));
    r = get_customer(li, b);
    assert_int_equal(r->customer->last_contact_ms, last);
    kehu_response_free(r);

    /* a customer only ever contacted in the past: that day */
    int64_t c = add_customer(li, "郑大海", NULL);
    kehu_response_free(log_fu(li, c, "call", NULL, NULL, day(-4), C(OK)));
    r = get_customer(li, c);
    assert_int_equal(r->customer->last_contact_ms, (today_epoch_days() - 4) * 86400000LL);
    kehu_response_free(r);
}

static void test_plan_for_someone(void **state)
{
    (void)state;
    int64_t a = add_customer(li, "冯小刚", NULL);
    Kehu__V1__Response *r = plan(mgr, a, "call", day(1), NULL, NULL, C(OK));
    assert_string_equal(r->followup->owner, "li.lei"); /* the owner, not the manager who planned it */
    assert_string_equal(r->followup->created_by, "wang.fang");
    kehu_response_free(r);
    r = plan(mgr, a, "call", day(1), NULL, "wang.fang", C(OK));
    assert_string_equal(r->followup->owner, "wang.fang");
    kehu_response_free(r);
    r = plan(mgr, a, "call", day(1), NULL, "LI.LEI", C(OK));
    assert_string_equal(r->followup->owner, "li.lei");
    kehu_response_free(r);
    /* someone who may not change this customer cannot be made to do it */
    expect_field(plan(mgr, a, "call", day(1), NULL, "zhang.wei", C(INVALID_ARGUMENT)), "user");
    /* someone the manager may not even see (another branch's) does not exist
     * for them: the answer of a missing user, not whether they may work here */
    r = plan(mgr, a, "call", day(1), NULL, "bj.am", C(NOT_FOUND));
    assert_string_equal(r->status->field, "user");
    assert_string_equal(r->status->message, "no user named 'bj.am'");
    kehu_response_free(r);
    /* a service agent may be given a call-back: logging contacts (log_contact) covers the branch */
    kehu_response_free(plan(mgr, a, "call", day(1), NULL, "chen.jing", C(OK)));
    expect_field(plan(mgr, a, "call", day(1), NULL, "no.such.user", C(NOT_FOUND)), "user");

    /* a customer without an owner: the one who planned it */
    int64_t orphan = add_customer(mgr, "无主客户", NULL);
    r = plan(mgr, orphan, "email", day(1), NULL, NULL, C(OK));
    assert_string_equal(r->followup->owner, "wang.fang");
    kehu_response_free(r);
    r = due(mgr, NULL, 1, C(OK));
    int saw = 0;
    for (size_t i = 0; i < r->followups->n_followups; i++)
        saw |= strcmp(r->followups->followups[i]->customer_name, "无主客户") == 0;
    assert_true(saw);
    kehu_response_free(r);
}

static void test_followup_access(void **state)
{
    (void)state;
    int64_t a = add_customer(li, "陈静怡", NULL);
    kehu_response_free(plan(li, a, "visit", day(1), NULL, NULL, C(OK)));
    /* another account manager's customer does not exist for zhang.wei */
    expect_field(plan(zhang, a, "visit", day(1), NULL, NULL, C(NOT_FOUND)), "customer_id");
    kehu_response_free(log_fu(zhang, a, "visit", NULL, NULL, NULL, C(NOT_FOUND)));
    kehu_response_free(list_fu(zhang, a, C(NOT_FOUND)));
    kehu_response_free(list_fu(bj, a, C(NOT_FOUND)));
    /* a service agent reads, and plans and logs contacts (log_contact), on the branch's customers */
    kehu_response_free(list_fu(agent, a, C(OK)));
    kehu_response_free(plan(agent, a, "visit", day(1), NULL, NULL, C(OK)));

    /* an account manager sees only their own due list */
    expect_field(due(li, "zhang.wei", 0, C(PERMISSION_DENIED)), "user");
    expect_field(due(li, "no.such.user", 0, C(PERMISSION_DENIED)), "user");
    Kehu__V1__Response *r = due(zhang, NULL, 30, C(OK));
    for (size_t i = 0; i < r->followups->n_followups; i++)
        assert_string_not_equal(r->followups->followups[i]->customer_name, "陈静怡");
    kehu_response_free(r);
    /* the branch manager: anyone in the branch, nobody outside it */
    r = due(mgr, "li.lei", 1, C(OK));
    int saw = 0;
    for (size_t i = 0; i < r->followups->n_followups; i++) {
        saw |= strcmp(r->followups->followups[i]->customer_name, "陈静怡") == 0;
        assert_string_equal(r->followups->followups[i]->owner, "li.lei");
    }
    assert_true(saw);
    kehu_response_free(r);
    expect_field(due(mgr, "bj.am", 0, C(NOT_FOUND)), "user"); /* another branch's people: as unknown as nobody */
    expect_field(due(mgr, "nobody.here", 0, C(NOT_FOUND)), "user");
    r = due(admin, "bj.am", 0, C(OK));
    kehu_response_free(r);
}

static void test_followup_validation(void **state)
{
    (void)state;
    int64_t a = add_customer(li, "校验客户", NULL);
    expect_field(plan(li, a, "lunch", day(1), NULL, NULL, C(INVALID_ARGUMENT)), "kind");
    expect_field(plan(li, a, NULL, day(1), NULL, NULL, C(INVALID_ARGUMENT)), "kind");
    expect_field(plan(li, a, "visit", NULL, NULL, NULL, C(INVALID_ARGUMENT)), "due");
    expect_field(plan(li, a, "visit", "2026-02-30", NULL, NULL, C(INVALID_ARGUMENT)), "due");
    expect_field(plan(li, a, "visit", "next week", NULL, NULL, C(INVALID_ARGUMENT)), "due");
    expect_field(plan(li, a, "visit", day(-1), NULL, NULL, C(INVALID_ARGUMENT)), "due");
    expect_field(plan(li, a, "visit", day(1), "bell\a", NULL, C(INVALID_ARGUMENT)), "note");
    expect_field(plan(li, a, "visit", day(1), "\xff\xfe", NULL, C(INVALID_ARGUMENT)), "note");
    expect_field(plan(li, 0, "visit", day(1), NULL, NULL, C(INVALID_ARGUMENT)), "customer_id");
    kehu_response_free(plan(li, a, "visit", day(0), "多行\n备注", NULL, C(OK))); /* today, and a multi-line note */

    expect_field(log_fu(li, a, "fax", NULL, NULL, NULL, C(INVALID_ARGUMENT)), "kind");
    expect_field(log_fu(li, a, "call", NULL, NULL, day(1), C(INVALID_ARGUMENT)), "at");
    expect_field(log_fu(li, a, "call", NULL, NULL, "yesterday", C(INVALID_ARGUMENT)), "at");
    expect_field(log_fu(li, a, "call", NULL, day(0), NULL, C(INVALID_ARGUMENT)), "next");
    expect_field(log_fu(li, a, "call", NULL, day(-6), day(-5), C(INVALID_ARGUMENT)), "next");
    expect_field(log_fu(li, a, "call", NULL, "2026-13-01", NULL, C(INVALID_ARGUMENT)), "next");
    expect_field(log_fu(li, a, "call", "\x01", NULL, NULL, C(INVALID_ARGUMENT)), "outcome");
    expect_field(due(li, NULL, 100000, C(INVALID_ARGUMENT)), "days");
    expect_field(list_fu(li, -1, C(INVALID_ARGUMENT)), "customer_id");
    /* nothing of that was written */
    Kehu__V1__Response *r = list_fu(li, a, C(OK));
    assert_int_equal(r->followups->n_followups, 1);
    kehu_response_free(r);
}

/* ---- documents */

static Kehu__V1__Response *put(kehu_client *c, int64_t customer, const char *name, const char *type, uint64_t size,
                               uint64_t upload_id, const uint8_t *data, size_t len, int last, int code)
{
    Kehu__V1__DocPut m = KEHU__V1__DOC_PUT__INIT;
    m.customer_id = customer;
    m.name = (char *)(name ? name : "");
    m.type = (char *)(type ? type : "");
    m.size = size;
    m.upload_id = upload_id;
    m.data.data = (uint8_t *)data;
    m.data.len = len;
    m.last = last;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_DOC_PUT;
    req.doc_put = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *doc_get(kehu_client *c, int64_t id, uint64_t offset, uint32_t length, int code)
{
    Kehu__V1__DocGet m = KEHU__V1__DOC_GET__INIT;
    m.id = id;
    m.offset = offset;
    m.length = length;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_DOC_GET;
    req.doc_get = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *doc_list(kehu_client *c, int64_t customer, int code)
{
    Kehu__V1__DocList m = KEHU__V1__DOC_LIST__INIT;
    m.customer_id = customer;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_DOC_LIST;
    req.doc_list = &m;
    return it_call(c, &req, code);
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    FILE *f = fopen("/dev/urandom", "rb");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, n, f), n);
    fclose(f);
    return b;
}

/* Uploads data in chunks of `chunk` bytes; returns the stored document (free the response). */
static Kehu__V1__Response *upload(kehu_client *c, int64_t customer, const char *name, const char *type,
                                  const uint8_t *data, size_t n, size_t chunk)
{
    uint64_t id = 0;
    size_t sent = 0;
    for (;;) {
        size_t len = n - sent < chunk ? n - sent : chunk;
        int last = sent + len == n;
        Kehu__V1__Response *r = id ? put(c, 0, NULL, NULL, 0, id, data + sent, len, last, C(OK))
                                   : put(c, customer, name, type, n, 0, data, len, last, C(OK));
        sent += len;
        if (last) {
            assert_int_equal(r->result_case, KEHU__V1__RESPONSE__RESULT_DOC);
            return r;
        }
        assert_int_equal(r->result_case, KEHU__V1__RESPONSE__RESULT_DOC_UPLOAD);
        assert_int_equal(r->doc_upload->received, sent);
        if (id)
            assert_int_equal(r->doc_upload->upload_id, id);
        id = r->doc_upload->upload_id;
        assert_true(id > 0);
        kehu_response_free(r);
    }
}

/* The stored SHA-256 must be the one PostgreSQL computes over the content. */
static void check_sha_in_db(int64_t doc)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT 1 / (encode(sha256(content), 'hex') = sha256)::int FROM document WHERE id = %lld", (long long)doc);
    assert_int_equal(th_pg_exec(&it_env, sql), 0);
}

static void test_doc_roundtrip(void **state)
{
    (void)state;
    int64_t cust = add_customer(li, "文档客户", NULL);
    size_t n = 13 * MiB / 10; /* 1.3 MiB */
    uint8_t *data = random_bytes(n);
    Kehu__V1__Response *r = upload(li, cust, "合同 2026（正本）.pdf", "Application/PDF", data, n, 400 * 1024);
    const Kehu__V1__Doc *d = r->doc;
    int64_t id = d->id;
    assert_true(id > 0);
    assert_int_equal(d->customer_id, cust);
    assert_string_equal(d->name, "合同 2026（正本）.pdf");
    assert_string_equal(d->type, "application/pdf");
    assert_int_equal(d->size, n);
    assert_int_equal(strlen(d->sha256), 64);
    assert_string_equal(d->created_by, "li.lei");
    assert_int_equal(d->data.len, 0);
    char sha[65];
    snprintf(sha, sizeof sha, "%s", d->sha256);
    kehu_response_free(r);
    check_sha_in_db(id);

    /* download in chunks, by someone else who may read the customer */
    uint8_t *back = malloc(n);
    size_t got = 0;
    while (got < n) {
        r = doc_get(mgr, id, got, 300000, C(OK));
        assert_int_equal(r->doc->offset, got);
        assert_int_equal(r->doc->size, n);
        assert_string_equal(r->doc->sha256, sha);
        assert_string_equal(r->doc->name, "合同 2026（正本）.pdf");
        assert_true(r->doc->data.len > 0 && r->doc->data.len <= 300000);
        memcpy(back + got, r->doc->data.data, r->doc->data.len);
        got += r->doc->data.len;
        kehu_response_free(r);
    }
    assert_memory_equal(back, data, n);
    r = doc_get(li, id, 0, 0, C(OK)); /* the default length: 512 KiB */
    assert_int_equal(r->doc->data.len, 512 * 1024);
    kehu_response_free(r);
    r = doc_get(li, id, n, 0, C(OK)); /* at the end: nothing more */
    assert_int_equal(r->doc->data.len, 0);
    kehu_response_free(r);
    free(back);
    free(data);

    /* a known answer, and an empty file */
    r = upload(li, cust, "abc.txt", NULL, (const uint8_t *)"abc", 3, 3);
    assert_string_equal(r->doc->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(r->doc->type, "application/octet-stream");
    kehu_response_free(r);
    r = upload(li, cust, "empty", "text/plain", (const uint8_t *)"", 0, 1);
    assert_string_equal(r->doc->sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(r->doc->size, 0);
    int64_t empty = r->doc->id;
    kehu_response_free(r);
    r = doc_get(li, empty, 0, 0, C(OK));
    assert_int_equal(r->doc->data.len, 0);
    kehu_response_free(r);

    /* the list: newest first, no data */
    r = doc_list(agent, cust, C(OK));
    assert_int_equal(r->docs->n_docs, 3);
    assert_string_equal(r->docs->docs[0]->name, "empty");
    assert_string_equal(r->docs->docs[2]->name, "合同 2026（正本）.pdf");
    assert_int_equal(r->docs->docs[2]->size, n);
    assert_string_equal(r->docs->docs[2]->sha256, sha);
    assert_int_equal(r->docs->docs[2]->data.len, 0);
    kehu_response_free(r);
}

static void test_doc_limits(void **state)
{
    (void)state;
    int64_t cust = add_customer(li, "限额客户", NULL);
    uint8_t *big = random_bytes(600 * 1024);
    /* over the configured limit: refused from the announcement */
    expect_field(put(li, cust, "big.bin", NULL, DOC_MAX + 1, 0, big, 1024, 0, C(RESOURCE_EXHAUSTED)), "size");
    /* exactly at it is fine */
    Kehu__V1__Response *r = put(li, cust, "max.bin", NULL, DOC_MAX, 0, big, 1024, 0, C(OK));
    uint64_t up = r->doc_upload->upload_id;
    kehu_response_free(r);
    /* one upload at a time per connection */
    expect_field(put(li, cust, "other.bin", NULL, 10, 0, big, 5, 0, C(RESOURCE_EXHAUSTED)), "upload_id");
    /* a chunk over 512 KiB ends the upload */
    expect_field(put(li, 0, NULL, NULL, 0, up, big, 600 * 1024, 0, C(INVALID_ARGUMENT)), "data");
    expect_field(put(li, 0, NULL, NULL, 0, up, big, 10, 0, C(INVALID_ARGUMENT)), "upload_id");
    /* an upload id nobody gave */
    expect_field(put(li, 0, NULL, NULL, 0, 987654321, big, 10, 0, C(INVALID_ARGUMENT)), "upload_id");
    /* more than announced */
    r = put(li, cust, "ten.bin", NULL, 10, 0, big, 6, 0, C(OK));
    up = r->doc_upload->upload_id;
    kehu_response_free(r);
    expect_field(put(li, 0, NULL, NULL, 0, up, big, 6, 1, C(INVALID_ARGUMENT)), "data");
    /* the last chunk before the announced size */
    r = put(li, cust, "ten.bin", NULL, 10, 0, big, 6, 0, C(OK));
    up = r->doc_upload->upload_id;
    kehu_response_free(r);
    expect_field(put(li, 0, NULL, NULL, 0, up, big, 2, 1, C(INVALID_ARGUMENT)), "size");
    expect_field(put(li, cust, "ten.bin", NULL, 10, 0, big, 5, 1, C(INVALID_ARGUMENT)), "size");
    expect_field(put(li, cust, "x.bin", NULL, 600 * 1024, 0, big, 600 * 1024, 1, C(INVALID_ARGUMENT)), "data");
    /* names and types */
    expect_field(put(li, cust, "../etc/passwd", NULL, 3, 0, big, 3, 1, C(INVALID_ARGUMENT)), "name");
    expect_field(put(li, cust, "", NULL, 3, 0, big, 3, 1, C(INVALID_ARGUMENT)), "name");
    expect_field(put(li, cust, "a\nb", NULL, 3, 0, big, 3, 1, C(INVALID_ARGUMENT)), "name");
    char longname[260];
    memset(longname, 'x', 201);
    longname[201] = 0;
    expect_field(put(li, cust, longname, NULL, 3, 0, big, 3, 1, C(INVALID_ARGUMENT)), "name");
    expect_field(put(li, cust, "a.pdf", "pdf", 3, 0, big, 3, 1, C(INVALID_ARGUMENT)), "type");
    expect_field(put(li, 0, "a.pdf", NULL, 3, 0, big, 3, 1, C(INVALID_ARGUMENT)), "customer_id");
    /* a customer li.lei may not see, and one that does not exist */
    int64_t zhangs = add_customer(zhang, "别人的客户", NULL);
    expect_field(put(li, zhangs, "a.pdf", NULL, 3, 0, big, 3, 1, C(NOT_FOUND)), "customer_id");
    expect_field(put(li, 99999999, "a.pdf", NULL, 3, 0, big, 3, 0, C(NOT_FOUND)), "customer_id");
    /* the service agent reads but does not add */
    kehu_response_free(put(agent, cust, "a.pdf", NULL, 3, 0, big, 3, 1, C(PERMISSION_DENIED)));
    /* after all that, the connection still uploads */
    r = upload(li, cust, "ok.bin", NULL, big, 1000, 400);
    kehu_response_free(r);
    r = doc_list(li, cust, C(OK));
    assert_int_equal(r->docs->n_docs, 1);
    kehu_response_free(r);

    /* a connection that goes away in the middle of an upload */
    kehu_client *gone = it_login("li.lei", "password-1");
    kehu_response_free(put(gone, cust, "half.bin", NULL, 2000, 0, big, 1000, 0, C(OK)));
    kehu_close(gone);
    free(big);
}

static void test_doc_access(void **state)
{
    (void)state;
    int64_t cust = add_customer(li, "私密文档客户", NULL);
    Kehu__V1__Response *r = upload(li, cust, "身份证.jpg", "image/jpeg", (const uint8_t *)"jpegdata", 8, 8);
    int64_t id = r->doc->id;
    kehu_response_free(r);
    expect_field(doc_get(zhang, id, 0, 0, C(NOT_FOUND)), "id");
    expect_field(doc_get(bj, id, 0, 0, C(NOT_FOUND)), "id");
    expect_field(doc_get(li, 99999999, 0, 0, C(NOT_FOUND)), "id");
    expect_field(doc_list(zhang, cust, C(NOT_FOUND)), "customer_id");
    kehu_response_free(doc_get(agent, id, 0, 0, C(OK)));
    kehu_response_free(doc_get(mgr, id, 0, 0, C(OK)));
    expect_field(doc_get(li, id, 9, 0, C(INVALID_ARGUMENT)), "offset");
    expect_field(doc_get(li, id, 0, 512 * 1024 + 1, C(INVALID_ARGUMENT)), "length");
    expect_field(doc_get(li, 0, 0, 0, C(INVALID_ARGUMENT)), "id");
    expect_field(doc_list(li, 0, C(INVALID_ARGUMENT)), "customer_id");
}

/* ---- live pushes */

static void expect_event(kehu_client *c, const char *kind, int64_t customer)
{
    struct kehu_status st;
    Kehu__V1__Event *ev = it_next_change(c, 5000, &st);
    if (!ev)
        fail_msg("no %s event: %s", kind, st.message);
    assert_string_equal(ev->kind, kind);
    assert_int_equal(ev->customer_id, customer);
    kehu_event_free(ev);
}

static void test_events(void **state)
{
    (void)state;
    int64_t cust = add_customer(li, "推送客户", NULL);
    kehu_client *watch = it_login("wang.fang", "password-1");
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_CUSTOMER_ID;
    s.customer_id = cust;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &s;
    kehu_response_free(it_call(watch, &req, C(OK)));

    kehu_response_free(plan(li, cust, "call", day(1), NULL, NULL, C(OK)));
    expect_event(watch, "followup.created", cust);
    kehu_response_free(log_fu(li, cust, "call", NULL, NULL, NULL, C(OK))); /* completes it */
    expect_event(watch, "followup.updated", cust);
    kehu_response_free(upload(li, cust, "a.txt", "text/plain", (const uint8_t *)"a", 1, 1));
    expect_event(watch, "document.created", cust);
    struct kehu_status st;
    assert_null(it_next_change(watch, 300, &st)); /* the last contact moving is not news of its own */
    kehu_close(watch);
}

/* ---- the command line */

static int kehu(const char *const *env, const char *const *args)
{
    return it_cli_run(&cli, env, args);
}

#define ARGS IT_ARGS
#define ENV IT_ENV

static void expect(int rc, int want, const char *needle)
{
    it_cli_expect(&cli, rc, want, needle);
}

static long long json_num(const char *key)
{
    return it_cli_json_num(&cli, key);
}

static void write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    struct stat st;
    assert_int_equal(fstat(fileno(f), &st), 0);
    *n = (size_t)st.st_size;
    uint8_t *b = malloc(*n ? *n : 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void test_cli(void **state)
{
    (void)state;
    expect(kehu(ENV("KEHU_PASSWORD=password-1"), ARGS("login", "li.lei")), 0, NULL);
    int64_t cust = add_customer(li, "命令行客户", NULL);
    char cid[32], path[256];
    snprintf(cid, sizeof cid, "%lld", (long long)cust);

    /* a file up and down again, byte for byte */
    size_t n = 1100 * 1000;
    uint8_t *data = random_bytes(n);
    snprintf(path, sizeof path, "%s/报价单.xlsx", cli.dir);
    write_file(path, data, n);
    expect(kehu(NULL, ARGS("doc", "put", cid, "报价单.xlsx", "--json")), 0, "\"sha256\"");
    assert_int_equal(cli.out[0], '{');
    assert_non_null(strstr(cli.out, "\"name\": \"报价单.xlsx\""));
    assert_non_null(strstr(cli.out, "\"type\": \"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\""));
    assert_int_equal(json_num("size"), (long long)n);
    char did[32];
    snprintf(did, sizeof did, "%lld", json_num("id"));

    mkdir(strcat(strcpy(path, cli.dir), "/down"), 0700);
    expect(kehu(NULL, ARGS("doc", "get", did, "--output", "down/copy.xlsx")), 0, "down/copy.xlsx");
    size_t m;
    uint8_t *back = read_file(strcat(strcpy(path, cli.dir), "/down/copy.xlsx"), &m);
    assert_int_equal(m, n);
    assert_memory_equal(back, data, n);
    free(back);
    expect(kehu(NULL, ARGS("doc", "get", did, "--output", "down/copy.xlsx")), 2, "--force");
    expect(kehu(NULL, ARGS("doc", "get", did, "--output", "down/copy.xlsx", "--force", "--json")), 0,
           "\"path\": \"down/copy.xlsx\"");
    /* by default: the document's own name in the current directory, which already holds it */
    expect(kehu(NULL, ARGS("doc", "get", did)), 2, "exists");
    unlink(strcat(strcpy(path, cli.dir), "/报价单.xlsx"));
    expect(kehu(NULL, ARGS("doc", "get", did)), 0, "报价单.xlsx");
    back = read_file(path, &m);
    assert_int_equal(m, n);
    assert_memory_equal(back, data, n);
    free(back);
    free(data);
    expect(kehu(NULL, ARGS("doc", "list", cid, "--json")), 0, "\"name\": \"报价单.xlsx\"");
    assert_int_equal(cli.out[0], '[');
    expect(kehu(NULL, ARGS("doc", "list", cid)), 0, "1.0 MiB");
    expect(kehu(NULL, ARGS("doc", "get", "99999999")), 1, "NOT_FOUND");
    expect(kehu(NULL, ARGS("doc", "put", cid, "no-such-file")), 2, "no-such-file");

    /* follow-ups */
    expect(kehu(NULL,
                ARGS("followup", "plan", cid, "--kind", "call", "--due", day(2), "--note", "问续约", "--json")),
           0, "\"status\": \"planned\"");
    assert_int_equal(cli.out[0], '{');
    assert_non_null(strstr(cli.out, "\"owner\": \"li.lei\""));
    assert_non_null(strstr(cli.out, "\"done_at\": null"));
    expect(kehu(NULL, ARGS("followup", "log", cid, "--kind", "visit", "--at", day(-7), "--next", day(-3), "--outcome",
                           "见面了")),
           0, "logged follow-up");
    expect(kehu(NULL, ARGS("followup", "due", "--json")), 0, "\"customer_name\": \"命令行客户\"");
    assert_int_equal(cli.out[0], '[');
    assert_non_null(strstr(cli.out, "\"note\": \"问续约\""));
    expect(kehu(NULL, ARGS("followup", "due")), 0, "(3 days overdue)");
    assert_non_null(strstr(cli.out, "DUE"));
    assert_non_null(strstr(cli.out, "问续约"));
    expect(kehu(NULL, ARGS("followup", "list", cid, "--json")), 0, "\"status\": \"done\"");
    expect(kehu(NULL, ARGS("followup", "due", "--user", "zhang.wei")), 1, "PERMISSION_DENIED");
    expect(kehu(NULL, ARGS("followup", "plan", cid, "--kind", "lunch", "--due", day(1))), 2, "--kind");
    expect(kehu(NULL, ARGS("followup", "plan", cid, "--kind", "call", "--due", day(-1))), 1, "[due]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_due_list),
        cmocka_unit_test(test_log_completes_planned),
        cmocka_unit_test(test_plan_for_someone),
        cmocka_unit_test(test_followup_access),
        cmocka_unit_test(test_followup_validation),
        cmocka_unit_test(test_doc_roundtrip),
        cmocka_unit_test(test_doc_limits),
        cmocka_unit_test(test_doc_access),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_cli),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
