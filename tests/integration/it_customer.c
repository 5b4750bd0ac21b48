/* The customer base: records, validation, duplicates, versions, history,
 * search (Chinese by substring, pinyin, initials), lists and pages, who sees
 * what, contacts, transactions, archive, and live pushes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x
#define R(x) KEHU__V1__ROLE__##x
#define K(x) KEHU__V1__UNIT_KIND__##x

static struct it_org org;
static kehu_client *admin, *li, *zhang, *mgr, *agent, *auditor, *bj;

/* ---- request builders */

struct cust {
    Kehu__V1__Customer c;
    char *phones[4];
    char *tags[4];
};

static Kehu__V1__Customer *person(struct cust *x, const char *name, const char *phone)
{
    memset(x, 0, sizeof *x);
    kehu__v1__customer__init(&x->c);
    x->c.name = (char *)name;
    x->c.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    if (phone) {
        x->phones[0] = (char *)phone;
        x->c.phones = x->phones;
        x->c.n_phones = 1;
    }
    return &x->c;
}

static Kehu__V1__Response *add(kehu_client *c, Kehu__V1__Customer *cu, int force, const char *owner, int code)
{
    Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
    m.customer = cu;
    m.force = force;
    m.owner = (char *)(owner ? owner : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &m;
    return it_call(c, &req, code);
}

static int64_t add_id(kehu_client *c, Kehu__V1__Customer *cu, const char *owner)
{
    Kehu__V1__Response *r = add(c, cu, 1, owner, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

static Kehu__V1__Response *get(kehu_client *c, int64_t id, int code)
{
    Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
    m.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *edit(kehu_client *c, int64_t id, int64_t version, const char *field, const char *value,
                                int code)
{
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *fvs[1] = { &fv };
    fv.field = (char *)field;
    fv.value = (char *)value;
    Kehu__V1__CustomerEdit m = KEHU__V1__CUSTOMER_EDIT__INIT;
    m.id = id;
    m.version = version;
    m.n_set = 1;
    m.set = fvs;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *search(kehu_client *c, const char *text, int code)
{
    Kehu__V1__CustomerSearch m = KEHU__V1__CUSTOMER_SEARCH__INIT;
    m.text = (char *)text;
    m.limit = 200;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
    req.customer_search = &m;
    return it_call(c, &req, code);
}

static int page_has(const Kehu__V1__CustomerPage *p, int64_t id)
{
    for (size_t i = 0; i < p->n_customers; i++)
        if (p->customers[i]->id == id)
            return 1;
    return 0;
}

static int found_by(kehu_client *c, const char *text, int64_t id)
{
    Kehu__V1__Response *r = search(c, text, C(OK));
    int yes = page_has(r->customers, id);
    kehu_response_free(r);
    return yes;
}

static Kehu__V1__Response *list(kehu_client *c, Kehu__V1__CustomerList *m, int code)
{
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
    req.customer_list = m;
    return it_call(c, &req, code);
}

/* ---- the organisation: 上海分行 (li.lei, zhang.wei, wang.fang, chen.jing), 北京分行 (bj.am), an auditor */

static int setup(void **state)
{
    if (it_setup(state) < 0)
        return -1;
    it_org_build(&org);
    admin = org.admin;
    li = org.li;
    zhang = org.zhang;
    mgr = org.mgr;
    agent = org.agent;
    auditor = org.auditor;
    bj = org.bj;
    return 0;
}

static int teardown(void **state)
{
    it_org_close(&org);
    return it_teardown(state);
}

/* ---- tests */

static void test_add_and_show(void **state)
{
    (void)state;
    struct cust x;
    Kehu__V1__Customer *c = person(&x, "张三", "+86 138-0013-8000");
    c->email = "ZhangSan@Example.COM";
    c->id_number = "11010519491231002x";
    c->gender = "male";
    c->birth = "1949-12-31";
    c->region = "上海";
    c->source = "referral";
    x.tags[0] = "vip";
    x.tags[1] = "老客户";
    c->tags = x.tags;
    c->n_tags = 2;
    Kehu__V1__Response *r = add(li, c, 0, NULL, C(OK));
    Kehu__V1__Customer *got = r->customer;
    int64_t id = got->id;
    assert_true(id > 0);
    assert_int_equal(got->version, 1);
    assert_string_equal(got->owner, "li.lei"); /* an account manager owns what they add */
    assert_string_equal(got->branch, "上海分行");
    kehu_response_free(r);

    r = get(li, id, C(OK));
    got = r->customer;
    assert_string_equal(got->name, "张三");
    assert_int_equal(got->n_phones, 1);
    assert_string_equal(got->phones[0], "+8613800138000");
    assert_string_equal(got->email, "zhangsan@example.com");
    assert_string_equal(got->id_number, "11010519491231002X");
    assert_string_equal(got->birth, "1949-12-31");
    assert_int_equal(got->n_tags, 2);
    assert_string_equal(got->tags[1], "老客户");
    assert_int_equal(got->status, KEHU__V1__CUSTOMER_STATUS__ACTIVE);
    assert_string_equal(got->created_by, "li.lei");
    assert_true(strlen(got->since) == 10); /* defaults to today */
    kehu_response_free(r);
}

static void test_validation(void **state)
{
    (void)state;
    static const struct {
        const char *field, *value;
    } bad[] = {
        { "phones", "call me" },   { "email", "not-an-email" }, { "birth", "1990-02-30" },
        { "id_number", "110105194912310021" }, /* wrong check digit */
        { "since", "2999-01-01" }, { "source", "fax" },          { "gender", "x" },
        { "name", "" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cust x;
        Kehu__V1__Customer *c = person(&x, "测试", NULL);
        const char *f = bad[i].field, *v = bad[i].value;
        if (!strcmp(f, "phones")) {
            x.phones[0] = (char *)v;
            c->phones = x.phones;
            c->n_phones = 1;
        } else if (!strcmp(f, "email")) c->email = (char *)v;
        else if (!strcmp(f, "birth")) c->birth = (char *)v;
        else if (!strcmp(f, "id_number")) c->id_number = (char *)v;
        else if (!strcmp(f, "since")) c->since = (char *)v;
        else if (!strcmp(f, "source")) c->source = (char *)v;
        else if (!strcmp(f, "gender")) c->gender = (char *)v;
        else c->name = (char *)v;
        Kehu__V1__Response *r = add(li, c, 1, NULL, C(INVALID_ARGUMENT));
        assert_string_equal(r->status->field, f);
        kehu_response_free(r);
    }
}

static void test_duplicates(void **state)
{
    (void)state;
    struct cust x;
    int64_t id = add_id(li, person(&x, "李四", "13900001111"), NULL);
    /* same phone, written differently */
    Kehu__V1__Response *r = add(li, person(&x, "李四四", "139-0000-1111"), 0, NULL, C(CONFLICT));
    assert_int_equal(r->result_case, KEHU__V1__RESPONSE__RESULT_DUPLICATES);
    assert_int_equal(r->duplicates->n_matches, 1);
    assert_int_equal(r->duplicates->matches[0]->customer->id, id);
    assert_string_equal(r->duplicates->matches[0]->customer->name, "李四");
    assert_non_null(strstr(r->duplicates->matches[0]->reason, "phone"));
    kehu_response_free(r);
    /* same name and company, other phone */
    Kehu__V1__Customer *c = person(&x, "王 五", "13900002222");
    c->company = "上海银行";
    add_id(li, c, NULL);
    c = person(&x, "王五", "13900003333");
    c->company = "上海 银行";
    r = add(li, c, 0, NULL, C(CONFLICT));
    assert_non_null(strstr(r->duplicates->matches[0]->reason, "name and company"));
    kehu_response_free(r);
    /* the caller decides: create anyway */
    r = add(li, c, 1, NULL, C(OK));
    kehu_response_free(r);
    /* a duplicate in another branch: that it exists, not which, whose or where */
    r = add(bj, person(&x, "北京李四", "13900001111"), 0, NULL, C(CONFLICT));
    assert_int_equal(r->duplicates->n_matches, 1);
    assert_null(r->duplicates->matches[0]->customer);
    assert_non_null(strstr(r->duplicates->matches[0]->reason, "already a customer of another branch/owner"));
    assert_null(strstr(r->status->message, "上海"));
    kehu_response_free(r);
}

static void test_versions_and_history(void **state)
{
    (void)state;
    struct cust x;
    int64_t id = add_id(li, person(&x, "赵六", "13700000001"), NULL);
    Kehu__V1__Response *r = edit(li, id, 1, "address", "上海市浦东新区", C(OK));
    assert_int_equal(r->customer->version, 2);
    assert_string_equal(r->customer->address, "上海市浦东新区");
    kehu_response_free(r);
    /* a second person still holding version 1 is refused, and shown the record as it is now */
    r = edit(mgr, id, 1, "address", "北京", C(CONFLICT));
    assert_int_equal(r->result_case, KEHU__V1__RESPONSE__RESULT_CUSTOMER);
    assert_int_equal(r->customer->version, 2);
    assert_string_equal(r->customer->address, "上海市浦东新区");
    kehu_response_free(r);
    r = edit(mgr, id, 2, "phones", "13700000001,13700000002", C(OK));
    assert_int_equal(r->customer->n_phones, 2);
    kehu_response_free(r);
    r = edit(li, id, 3, "owner", "zhang.wei", C(INVALID_ARGUMENT));
    kehu_response_free(r);
    r = edit(li, id, 3, "email", "bad", C(INVALID_ARGUMENT));
    assert_string_equal(r->status->field, "email");
    kehu_response_free(r);

    Kehu__V1__CustomerHistory h = KEHU__V1__CUSTOMER_HISTORY__INIT;
    h.customer_id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_HISTORY;
    req.customer_history = &h;
    r = it_call(li, &req, C(OK));
    int saw_address = 0, saw_phones = 0, saw_created = 0;
    for (size_t i = 0; i < r->changes->n_changes; i++) {
        Kehu__V1__Change *ch = r->changes->changes[i];
        if (!strcmp(ch->field, "address")) {
            saw_address = 1;
            assert_string_equal(ch->by, "li.lei");
            assert_string_equal(ch->old_value, "");
            assert_string_equal(ch->new_value, "上海市浦东新区");
        }
        if (!strcmp(ch->field, "phones")) {
            saw_phones = 1;
            assert_string_equal(ch->by, "wang.fang");
        }
        saw_created |= !strcmp(ch->field, "created");
    }
    assert_true(saw_address && saw_phones && saw_created);
    kehu_response_free(r);
}

static void test_search_chinese(void **state)
{
    (void)state;
    struct cust x;
    int64_t zs = add_id(li, person(&x, "张三丰", "13612345678"), NULL);
    int64_t wxm = add_id(li, person(&x, "王小明", "13698765432"), NULL);
    int64_t zeng = add_id(li, person(&x, "曾国藩", "13611112222"), NULL);
    Kehu__V1__Customer *c = person(&x, "刘总", "13633334444");
    c->kind = KEHU__V1__CUSTOMER_KIND__CORPORATE;
    c->company = "重庆银行";
    int64_t cq = add_id(li, c, NULL);

    assert_true(found_by(li, "张", zs));
    assert_true(found_by(li, "三丰", zs));
    assert_true(found_by(li, "张三丰", zs));
    assert_true(found_by(li, "zhangsanfeng", zs));
    assert_true(found_by(li, "zhang", zs));
    assert_true(found_by(li, "zsf", zs));
    assert_true(found_by(li, "ZSF", zs));
    assert_true(found_by(li, "2345", zs));  /* any part of the phone */
    assert_false(found_by(li, "李", zs));
    assert_true(found_by(li, "小明", wxm));
    assert_true(found_by(li, "wxm", wxm));
    assert_true(found_by(li, "xiaoming", wxm));
    assert_true(found_by(li, "zengguofan", zeng)); /* a surname's other reading */
    assert_true(found_by(li, "chongqing", cq));
    assert_true(found_by(li, "重庆", cq));
    /* too short to mean anything */
    Kehu__V1__Response *r = search(li, "1", C(INVALID_ARGUMENT));
    kehu_response_free(r);
}

static void test_access(void **state)
{
    (void)state;
    struct cust x;
    int64_t lis = add_id(li, person(&x, "可见客户", "13500000001"), NULL);
    int64_t zhangs = add_id(zhang, person(&x, "别人客户", "13500000002"), NULL);
    int64_t bjs = add_id(bj, person(&x, "北京客户", "13500000003"), NULL);

    /* an account manager: own customers only; the others do not exist for them */
    kehu_response_free(get(li, lis, C(OK)));
    Kehu__V1__Response *r = get(li, zhangs, C(NOT_FOUND));
    assert_string_equal(r->status->field, "id");
    kehu_response_free(r);
    kehu_response_free(edit(li, zhangs, 1, "notes", "x", C(NOT_FOUND)));
    assert_false(found_by(li, "别人客户", zhangs));
    /* the branch manager: the whole branch, not Beijing */
    kehu_response_free(get(mgr, zhangs, C(OK)));
    kehu_response_free(get(mgr, bjs, C(NOT_FOUND)));
    assert_true(found_by(mgr, "别人客户", zhangs));
    /* a service agent reads the branch but changes nothing */
    kehu_response_free(get(agent, lis, C(OK)));
    kehu_response_free(edit(agent, lis, 1, "notes", "x", C(PERMISSION_DENIED)));
    /* the auditor reads everything, changes nothing */
    kehu_response_free(get(auditor, bjs, C(OK)));
    kehu_response_free(edit(auditor, bjs, 1, "notes", "x", C(PERMISSION_DENIED)));
    /* an account manager cannot add a customer for a colleague */
    kehu_response_free(add(li, person(&x, "代加", "13500000004"), 1, "zhang.wei", C(PERMISSION_DENIED)));
    /* the branch manager can, for people in the branch only */
    kehu_response_free(add(mgr, person(&x, "代加", "13500000004"), 1, "zhang.wei", C(OK)));
    kehu_response_free(add(mgr, person(&x, "代加二", "13500000005"), 1, "bj.am", C(PERMISSION_DENIED)));
}

static void test_list_pages_and_filters(void **state)
{
    (void)state;
    struct cust x;
    static const char *const names[] = { "甲一", "乙二", "丙三", "丁四", "戊五", "己六", "庚七" };
    for (int i = 0; i < 7; i++) {
        Kehu__V1__Customer *c = person(&x, names[i], NULL);
        c->region = "苏州";
        c->industry = "纺织";
        x.tags[0] = "page-test";
        c->tags = x.tags;
        c->n_tags = 1;
        add_id(zhang, c, NULL);
    }
    /* page through by 3 while someone adds a customer in the middle */
    Kehu__V1__CustomerList m = KEHU__V1__CUSTOMER_LIST__INIT;
    m.tag = "page-test";
    m.limit = 3;
    int64_t seen[16];
    char seen_names[16][32];
    int nseen = 0;
    char cursor[256] = "";
    int pages = 0;
    for (;;) {
        m.after = cursor;
        Kehu__V1__Response *r = list(zhang, &m, C(OK));
        for (size_t i = 0; i < r->customers->n_customers; i++) {
            for (int j = 0; j < nseen; j++)
                assert_int_not_equal(seen[j], r->customers->customers[i]->id); /* never twice */
            assert_true(nseen < 16);
            snprintf(seen_names[nseen], sizeof seen_names[nseen], "%s", r->customers->customers[i]->name);
            seen[nseen++] = r->customers->customers[i]->id;
        }
        snprintf(cursor, sizeof cursor, "%s", r->customers->next_cursor);
        kehu_response_free(r);
        if (pages++ == 0) {
            Kehu__V1__Customer *c = person(&x, "阿八", NULL); /* "a": sorts before the cursor */
            c->region = "苏州";
            c->industry = "纺织";
            x.tags[0] = "page-test";
            c->tags = x.tags;
            c->n_tags = 1;
            add_id(zhang, c, NULL);
        }
        if (!*cursor)
            break;
    }
    assert_int_equal(nseen, 7); /* the earlier-sorting newcomer neither duplicated nor shifted anything */
    /* in pinyin order: bing, ding, geng, ji, jia, wu, yi */
    static const char *const order[] = { "丙三", "丁四", "庚七", "己六", "甲一", "戊五", "乙二" };
    for (int i = 0; i < 7; i++)
        assert_string_equal(seen_names[i], order[i]);

    /* filters */
    m = (Kehu__V1__CustomerList)KEHU__V1__CUSTOMER_LIST__INIT;
    m.region = "苏州";
    m.industry = "纺织";
    m.limit = 100;
    Kehu__V1__Response *r = list(zhang, &m, C(OK));
    assert_int_equal(r->customers->n_customers, 8);
    kehu_response_free(r);
    r = list(li, &m, C(OK)); /* not li's customers */
    assert_int_equal(r->customers->n_customers, 0);
    kehu_response_free(r);
    m.owner = "zhang.wei";
    r = list(mgr, &m, C(OK));
    assert_int_equal(r->customers->n_customers, 8);
    kehu_response_free(r);
    m = (Kehu__V1__CustomerList)KEHU__V1__CUSTOMER_LIST__INIT;
    m.sort = "popularity";
    kehu_response_free(list(mgr, &m, C(INVALID_ARGUMENT)));
    m.sort = "revenue";
    m.after = "zz";
    kehu_response_free(list(mgr, &m, C(INVALID_ARGUMENT)));
}

static Kehu__V1__Response *txn_add(kehu_client *c, int64_t customer, int64_t amount, const char *date, int code)
{
    Kehu__V1__Txn t = KEHU__V1__TXN__INIT;
    t.customer_id = customer;
    t.amount_minor = amount;
    t.date = (char *)(date ? date : "");
    t.product = "理财产品";
    Kehu__V1__TxnAdd m = KEHU__V1__TXN_ADD__INIT;
    m.txn = &t;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_ADD;
    req.txn_add = &m;
    return it_call(c, &req, code);
}

static void test_transactions(void **state)
{
    (void)state;
    struct cust x;
    int64_t id = add_id(li, person(&x, "交易客户", "13400000001"), NULL);
    kehu_response_free(txn_add(li, id, 123456, "2026-01-15", C(OK)));
    kehu_response_free(txn_add(li, id, 1, "2026-02-15", C(OK)));
    kehu_response_free(txn_add(li, id, -50, "2026-03-15", C(OK))); /* a refund */
    kehu_response_free(txn_add(li, id, 0, NULL, C(INVALID_ARGUMENT)));
    kehu_response_free(txn_add(li, id, 1, "2026-13-01", C(INVALID_ARGUMENT)));
    kehu_response_free(txn_add(zhang, id, 100, NULL, C(NOT_FOUND)));
    Kehu__V1__Response *r = get(li, id, C(OK));
    assert_int_equal(r->customer->revenue_minor, 123456 + 1 - 50); /* exact */
    assert_int_equal(r->customer->version, 1); /* money moves do not bump the profile's version */
    kehu_response_free(r);

    Kehu__V1__TxnList m = KEHU__V1__TXN_LIST__INIT;
    m.customer_id = id;
    m.limit = 2;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_LIST;
    req.txn_list = &m;
    r = it_call(li, &req, C(OK));
    assert_int_equal(r->txns->n_txns, 2);
    assert_string_equal(r->txns->txns[0]->date, "2026-03-15"); /* newest first */
    assert_int_equal(r->txns->txns[0]->amount_minor, -50);
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", r->txns->next_cursor);
    kehu_response_free(r);
    m.after = cursor;
    r = it_call(li, &req, C(OK));
    assert_int_equal(r->txns->n_txns, 1);
    assert_int_equal(r->txns->txns[0]->amount_minor, 123456);
    assert_string_equal(r->txns->next_cursor, "");
    kehu_response_free(r);
}

static void test_contacts(void **state)
{
    (void)state;
    struct cust x;
    Kehu__V1__Customer *cu = person(&x, "上海某某贸易有限公司", "02112345678");
    cu->kind = KEHU__V1__CUSTOMER_KIND__CORPORATE;
    int64_t id = add_id(li, cu, NULL);
    Kehu__V1__Contact k = KEHU__V1__CONTACT__INIT;
    char *phones[] = { "139 1234 5678" };
    k.name = "陈经理";
    k.title = "采购总监";
    k.phones = phones;
    k.n_phones = 1;
    k.key_person = 1;
    Kehu__V1__ContactAdd m = KEHU__V1__CONTACT_ADD__INIT;
    m.customer_id = id;
    m.contact = &k;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CONTACT_ADD;
    req.contact_add = &m;
    Kehu__V1__Response *r = it_call(li, &req, C(OK));
    int64_t kid = r->contact->id;
    assert_string_equal(r->contact->phones[0], "13912345678");
    kehu_response_free(r);
    kehu_response_free(it_call(zhang, &req, C(NOT_FOUND)));

    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *fvs[] = { &fv };
    fv.field = "title";
    fv.value = "副总经理";
    Kehu__V1__ContactEdit e = KEHU__V1__CONTACT_EDIT__INIT;
    e.id = kid;
    e.version = 1;
    e.n_set = 1;
    e.set = fvs;
    Kehu__V1__Request ereq = KEHU__V1__REQUEST__INIT;
    ereq.op_case = KEHU__V1__REQUEST__OP_CONTACT_EDIT;
    ereq.contact_edit = &e;
    kehu_response_free(it_call(li, &ereq, C(OK)));
    kehu_response_free(it_call(li, &ereq, C(CONFLICT))); /* version 1 is stale now */

    Kehu__V1__ContactList l = KEHU__V1__CONTACT_LIST__INIT;
    l.customer_id = id;
    Kehu__V1__Request lreq = KEHU__V1__REQUEST__INIT;
    lreq.op_case = KEHU__V1__REQUEST__OP_CONTACT_LIST;
    lreq.contact_list = &l;
    r = it_call(mgr, &lreq, C(OK));
    assert_int_equal(r->contacts->n_contacts, 1);
    assert_string_equal(r->contacts->contacts[0]->title, "副总经理");
    assert_int_equal(r->contacts->contacts[0]->version, 2);
    kehu_response_free(r);
}

static void test_archive(void **state)
{
    (void)state;
    struct cust x;
    Kehu__V1__Customer *c = person(&x, "归档客户", "13300000001");
    x.tags[0] = "archive-test";
    c->tags = x.tags;
    c->n_tags = 1;
    int64_t id = add_id(li, c, NULL);
    Kehu__V1__CustomerArchive a = KEHU__V1__CUSTOMER_ARCHIVE__INIT;
    a.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ARCHIVE;
    req.customer_archive = &a;
    Kehu__V1__Response *r = it_call(li, &req, C(OK));
    assert_int_equal(r->customer->status, KEHU__V1__CUSTOMER_STATUS__ARCHIVED);
    kehu_response_free(r);
    Kehu__V1__CustomerList m = KEHU__V1__CUSTOMER_LIST__INIT;
    m.tag = "archive-test";
    r = list(li, &m, C(OK));
    assert_int_equal(r->customers->n_customers, 0); /* hidden by default */
    kehu_response_free(r);
    m.status = "archived";
    r = list(li, &m, C(OK));
    assert_int_equal(r->customers->n_customers, 1);
    kehu_response_free(r);
}

static int subscribe(kehu_client *c, Kehu__V1__Subscribe *s)
{
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = s;
    struct kehu_status st;
    Kehu__V1__Response *r = kehu_call(c, &req, &st);
    kehu_response_free(r);
    return st.code;
}

static void test_live_push(void **state)
{
    (void)state;
    struct cust x;
    kehu_client *watch_mine = it_login("li.lei", "password-1");
    kehu_client *watch_branch = it_login("wang.fang", "password-1");
    kehu_client *watch_other = it_login("bj.am", "password-1");
    kehu_client *watch_one = it_login("chen.jing", "password-1");
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    s.mine = 1;
    assert_int_equal(subscribe(watch_mine, &s), C(OK));
    assert_int_equal(subscribe(watch_other, &s), C(OK));
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
    s.unit = "上海分行";
    assert_int_equal(subscribe(watch_branch, &s), C(OK));
    /* a new customer is announced to its owner and its branch */
    int64_t id = add_id(li, person(&x, "推送客户", "13200000001"), NULL);
    kehu_client *creation[] = { watch_mine, watch_branch };
    for (size_t i = 0; i < 2; i++) {
        struct kehu_status st;
        Kehu__V1__Event *ev = it_next_event(creation[i], 5000, &st);
        if (!ev)
            fail_msg("watcher %zu got no creation event: %s", i, st.message);
        assert_string_equal(ev->kind, "customer.created");
        assert_int_equal(ev->customer_id, id);
        assert_int_equal(ev->version, 1);
        kehu_event_free(ev);
    }
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_CUSTOMER_ID;
    s.customer_id = id;
    assert_int_equal(subscribe(watch_one, &s), C(OK));
    s.customer_id = id;
    assert_int_equal(subscribe(watch_other, &s), C(NOT_FOUND)); /* not theirs to watch */

    kehu_response_free(edit(mgr, id, 1, "notes", "请尽快回访", C(OK)));
    kehu_client *watchers[] = { watch_mine, watch_branch, watch_one };
    for (size_t i = 0; i < 3; i++) {
        struct kehu_status st;
        Kehu__V1__Event *ev = it_next_change(watchers[i], 5000, &st);
        if (!ev)
            fail_msg("watcher %zu got no event: %s", i, st.message);
        assert_string_equal(ev->kind, "customer.updated");
        assert_int_equal(ev->customer_id, id);
        assert_int_equal(ev->version, 2);
        kehu_event_free(ev);
    }
    struct kehu_status st;
    assert_null(it_next_change(watch_other, 300, &st)); /* Beijing hears nothing of Shanghai */
    /* a transaction is announced as such, once */
    kehu_response_free(txn_add(li, id, 9900, NULL, C(OK)));
    Kehu__V1__Event *ev = it_next_change(watch_mine, 5000, &st);
    assert_non_null(ev);
    assert_string_equal(ev->kind, "txn.created");
    kehu_event_free(ev);
    assert_null(it_next_change(watch_mine, 300, &st));
    kehu_close(watch_mine);
    kehu_close(watch_branch);
    kehu_close(watch_other);
    kehu_close(watch_one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_show),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_versions_and_history),
        cmocka_unit_test(test_search_chinese),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_list_pages_and_filters),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_contacts),
        cmocka_unit_test(test_archive),
        cmocka_unit_test(test_live_push),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
