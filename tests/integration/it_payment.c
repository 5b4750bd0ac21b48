/* Credit, payments and arrears; asset snapshots (AUM): credit sales and
 * payments moving the balance exactly, FIFO allocation (the oldest unpaid
 * due date, days overdue, the on-time count), refusals naming the field, who
 * may see what, snapshots replaced and added up, a merge moving payments and
 * snapshots, live pushes, and the kehu command line. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x
#define R(x) KEHU__V1__ROLE__##x
#define K(x) KEHU__V1__UNIT_KIND__##x

static struct it_org org;
static kehu_client *admin, *li, *zhang, *mgr, *bj;
static struct it_cli cli; /* test_cli's kehu: its directory (made in setup) and output */

/* ---- dates: kehud's days are UTC days */

/* YYYY-MM-DD of today + offset days (a ring of buffers, so several may be used at once). */
static const char *day(int offset)
{
    static char ring[16][11];
    static int next;
    char *s = ring[next++ % 16];
    time_t t = (time_t)(((int64_t)time(NULL) / 86400 + offset) * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s, 11, "%Y-%m-%d", &tm);
    return s;
}

/* ---- requests */

static int64_t add_customer(kehu_client *c, const char *name)
{
    Kehu__V1__Customer cu = KEHU__V1__CUSTOMER__INIT;
    cu.name = (char *)name;
    cu.kind = KEHU__V1__CUSTOMER_KIND__INDIVIDUAL;
    Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
    m.customer = &cu;
    m.force = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &m;
    Kehu__V1__Response *r = it_call(c, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

/* The customer's stored balance and revenue. */
static void money_of(int64_t id, int64_t *balance, int64_t *revenue)
{
    Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
    m.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &m;
    Kehu__V1__Response *r = it_call(li, &req, C(OK));
    *balance = r->customer->balance_minor;
    if (revenue)
        *revenue = r->customer->revenue_minor;
    kehu_response_free(r);
}

static int64_t balance_of(int64_t id)
{
    int64_t b;
    money_of(id, &b, NULL);
    return b;
}

static Kehu__V1__Response *txn(kehu_client *c, int64_t customer, int64_t amount, const char *date, int on_credit,
                               const char *due, int code)
{
    Kehu__V1__Txn t = KEHU__V1__TXN__INIT;
    t.customer_id = customer;
    t.amount_minor = amount;
    t.date = (char *)(date ? date : "");
    t.on_credit = on_credit;
    t.due = (char *)(due ? due : "");
    Kehu__V1__TxnAdd m = KEHU__V1__TXN_ADD__INIT;
    m.txn = &t;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_ADD;
    req.txn_add = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *pay(kehu_client *c, int64_t customer, int64_t amount, const char *date, const char *method,
                               int code)
{
    Kehu__V1__Payment p = KEHU__V1__PAYMENT__INIT;
    p.customer_id = customer;
    p.amount_minor = amount;
    p.date = (char *)(date ? date : "");
    p.method = (char *)(method ? method : "");
    Kehu__V1__PaymentAdd m = KEHU__V1__PAYMENT_ADD__INIT;
    m.payment = &p;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_PAYMENT_ADD;
    req.payment_add = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *payments(kehu_client *c, int64_t customer, uint32_t limit, const char *after, int code)
{
    Kehu__V1__PaymentList m = KEHU__V1__PAYMENT_LIST__INIT;
    m.customer_id = customer;
    m.limit = limit;
    m.after = (char *)(after ? after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_PAYMENT_LIST;
    req.payment_list = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *arrears(kehu_client *c, int64_t customer, const char *as_of, int code)
{
    Kehu__V1__ArrearsGet m = KEHU__V1__ARREARS_GET__INIT;
    m.customer_id = customer;
    m.as_of = (char *)(as_of ? as_of : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ARREARS_GET;
    req.arrears_get = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *asset(kehu_client *c, int64_t customer, int64_t balance, const char *date,
                                 const char *product, int code)
{
    Kehu__V1__AssetSnapshot s = KEHU__V1__ASSET_SNAPSHOT__INIT;
    s.customer_id = customer;
    s.balance_minor = balance;
    s.date = (char *)(date ? date : "");
    s.product = (char *)(product ? product : "");
    Kehu__V1__AssetAdd m = KEHU__V1__ASSET_ADD__INIT;
    m.snapshot = &s;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSET_ADD;
    req.asset_add = &m;
    return it_call(c, &req, code);
}

static Kehu__V1__Response *assets(kehu_client *c, int64_t customer, uint32_t limit, const char *after, int code)
{
    Kehu__V1__AssetList m = KEHU__V1__ASSET_LIST__INIT;
    m.customer_id = customer;
    m.limit = limit;
    m.after = (char *)(after ? after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSET_LIST;
    req.asset_list = &m;
    return it_call(c, &req, code);
}

static void expect_field(Kehu__V1__Response *r, const char *field)
{
    assert_string_equal(r->status->field, field);
    kehu_response_free(r);
}

static void expect_arrears(int64_t customer, const char *as_of, int64_t balance, const char *oldest, int days,
                           int64_t credit_txns, int64_t on_time)
{
    Kehu__V1__Response *r = arrears(li, customer, as_of, C(OK));
    const Kehu__V1__Arrears *a = r->arrears;
    assert_int_equal(a->customer_id, customer);
    assert_string_equal(a->as_of, as_of ? as_of : day(0));
    assert_int_equal(a->balance_minor, balance);
    assert_string_equal(a->oldest_unpaid_due, oldest);
    assert_int_equal(a->days_overdue, days);
    assert_int_equal(a->credit_txns, credit_txns);
    assert_int_equal(a->paid_on_time, on_time);
    kehu_response_free(r);
}

/* ---- the organisation: 上海分行 (li.lei, zhang.wei, wang.fang), 北京分行 (bj.am) */

static int setup(void **state)
{
    (void)state;
    if (it_cli_open(&cli) < 0)
        return -1;
    if (th_env_up(&it_env, NULL) < 0)
        return -1;
    it_org_build(&org);
    admin = org.admin;
    li = org.li;
    zhang = org.zhang;
    mgr = org.mgr;
    bj = org.bj;
    return 0;
}

static int teardown(void **state)
{
    it_org_close(&org);
    it_cli_close(&cli);
    return it_teardown(state);
}

/* ---- credit and payments */

static void test_credit_moves_balance(void **state)
{
    (void)state;
    int64_t id = add_customer(li, "赊账客户");
    kehu_response_free(txn(li, id, 99999, day(-3), 0, NULL, C(OK))); /* paid at once: owes nothing */
    assert_int_equal(balance_of(id), 0);
    Kehu__V1__Response *r = txn(li, id, 100050, day(-3), 1, day(27), C(OK));
    assert_true(r->txn->on_credit);
    assert_string_equal(r->txn->due, day(27));
    kehu_response_free(r);
    kehu_response_free(txn(li, id, 1, NULL, 1, day(0), C(OK))); /* dated today, due today */
    int64_t balance, revenue;
    money_of(id, &balance, &revenue);
    assert_int_equal(balance, 100051); /* exact, to the fen */
    assert_int_equal(revenue, 99999 + 100050 + 1);

    /* a payment lowers the balance in the same statement and says where it stands */
    r = pay(li, id, 50025, NULL, "cash", C(OK));
    assert_int_equal(r->payment->amount_minor, 50025);
    assert_string_equal(r->payment->date, day(0));
    assert_string_equal(r->payment->method, "cash");
    assert_string_equal(r->payment->created_by, "li.lei");
    assert_int_equal(r->payment->balance_minor, 50026);
    kehu_response_free(r);
    money_of(id, &balance, &revenue);
    assert_int_equal(balance, 50026);
    assert_int_equal(revenue, 99999 + 100050 + 1); /* a payment is not revenue */
    /* more than owed: a credit on account */
    r = pay(li, id, 60000, day(-1), NULL, C(OK));
    assert_int_equal(r->payment->balance_minor, 50026 - 60000);
    assert_string_equal(r->payment->method, "transfer"); /* the default */
    kehu_response_free(r);
    assert_int_equal(balance_of(id), -9974);

    /* credit needs a due date on or after the sale; a due date needs credit; no refund on credit */
    expect_field(txn(li, id, 100, day(-3), 1, NULL, C(INVALID_ARGUMENT)), "due");
    expect_field(txn(li, id, 100, day(-3), 1, day(-4), C(INVALID_ARGUMENT)), "due");
    expect_field(txn(li, id, 100, NULL, 1, day(-1), C(INVALID_ARGUMENT)), "due"); /* the default date is today */
    expect_field(txn(li, id, 100, day(-3), 1, "2026-02-30", C(INVALID_ARGUMENT)), "due");
    expect_field(txn(li, id, 100, day(-3), 0, day(3), C(INVALID_ARGUMENT)), "due");
    expect_field(txn(li, id, -100, day(-3), 1, day(3), C(INVALID_ARGUMENT)), "on_credit");
    assert_int_equal(balance_of(id), -9974);

    /* the list shows which were on credit */
    Kehu__V1__TxnList m = KEHU__V1__TXN_LIST__INIT;
    m.customer_id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_LIST;
    req.txn_list = &m;
    r = it_call(mgr, &req, C(OK));
    assert_int_equal(r->txns->n_txns, 3);
    assert_true(r->txns->txns[0]->on_credit); /* newest first: today's */
    assert_string_equal(r->txns->txns[0]->due, day(0));
    int credit = 0;
    for (size_t i = 0; i < r->txns->n_txns; i++) {
        credit += r->txns->txns[i]->on_credit;
        if (!r->txns->txns[i]->on_credit)
            assert_string_equal(r->txns->txns[i]->due, "");
    }
    assert_int_equal(credit, 2);
    kehu_response_free(r);
}

static void test_fifo_arrears(void **state)
{
    (void)state;
    int64_t id = add_customer(li, "逾期客户");
    /* nothing yet: all zero */
    expect_arrears(id, NULL, 0, "", 0, 0, 0);
    /* A 1000.00 due 90 days ago, B 2000.00 due 60 days ago, C 500.00 due in 10 days */
    kehu_response_free(txn(li, id, 100000, day(-100), 1, day(-90), C(OK)));
    kehu_response_free(txn(li, id, 200000, day(-80), 1, day(-60), C(OK)));
    kehu_response_free(txn(li, id, 50000, day(-20), 1, day(10), C(OK)));
    kehu_response_free(txn(li, id, 7700, day(-20), 0, NULL, C(OK))); /* paid at once: not credit */
    /* 1000.00 before A was due (A on time), 500.00 after B was due (B part paid, late) */
    kehu_response_free(pay(li, id, 100000, day(-91), "transfer", C(OK)));
    kehu_response_free(pay(li, id, 50000, day(-50), "cheque", C(OK)));
    assert_int_equal(balance_of(id), 200000);
    /* allocated oldest due first: A is covered, B is the oldest unpaid, 60 days overdue;
     * A and B have come due (C has not and is unpaid: not counted), A was on time */
    expect_arrears(id, NULL, 200000, day(-60), 60, 2, 1);
    /* as things stood 70 days ago: only A and B sold, 1000.00 paid, B not yet due */
    expect_arrears(id, day(-70), 200000, day(-60), 0, 1, 1);
    /* as things stood 55 days ago: B 5 days overdue, the 500.00 not yet in; 45 days ago, it was */
    expect_arrears(id, day(-55), 200000, day(-60), 5, 2, 1);
    expect_arrears(id, day(-45), 150000, day(-60), 15, 2, 1);
    /* before anything happened */
    expect_arrears(id, day(-200), 0, "", 0, 0, 0);

    /* 2500.00 today settles everything and leaves 500.00 in credit: C, not yet due,
     * is paid on time; B stays paid late */
    Kehu__V1__Response *r = pay(li, id, 250000, NULL, "card", C(OK));
    assert_int_equal(r->payment->balance_minor, -50000);
    kehu_response_free(r);
    expect_arrears(id, NULL, -50000, "", 0, 3, 2);
    /* a later credit sale uses the credit on account first: 300.00 of it is unpaid, not yet due */
    kehu_response_free(txn(li, id, 80000, NULL, 1, day(20), C(OK)));
    expect_arrears(id, NULL, 30000, day(20), 0, 3, 2);
    assert_int_equal(balance_of(id), 30000);
    /* one sold a month ago, due yesterday and recorded only now: paid late (the 2500.00 came
     * today), and allocated before those due later, so the one due in 20 days owes 400.00 */
    kehu_response_free(txn(li, id, 10000, day(-30), 1, day(-1), C(OK)));
    expect_arrears(id, NULL, 40000, day(20), 0, 4, 2);
    expect_field(arrears(li, id, "2026-13-01", C(INVALID_ARGUMENT)), "as_of");
}

static void test_payment_validation_and_access(void **state)
{
    (void)state;
    int64_t id = add_customer(li, "付款校验");
    expect_field(pay(li, id, 0, NULL, NULL, C(INVALID_ARGUMENT)), "amount");
    expect_field(pay(li, id, -500, NULL, NULL, C(INVALID_ARGUMENT)), "amount");
    expect_field(pay(li, id, 1000000000000000LL, NULL, NULL, C(INVALID_ARGUMENT)), "amount");
    expect_field(pay(li, id, 500, "2026-02-30", NULL, C(INVALID_ARGUMENT)), "date");
    expect_field(pay(li, id, 500, "yesterday", NULL, C(INVALID_ARGUMENT)), "date");
    expect_field(pay(li, id, 500, day(1), NULL, C(INVALID_ARGUMENT)), "date"); /* not received yet */
    expect_field(pay(li, id, 500, NULL, "bitcoin", C(INVALID_ARGUMENT)), "method");
    expect_field(pay(li, 0, 500, NULL, NULL, C(INVALID_ARGUMENT)), "customer_id");
    assert_int_equal(balance_of(id), 0); /* nothing refused moved money */

    /* another account manager's customer does not exist for them, nor in another branch */
    kehu_response_free(txn(li, id, 10000, day(-5), 1, day(5), C(OK)));
    expect_field(pay(zhang, id, 500, NULL, NULL, C(NOT_FOUND)), "customer_id");
    expect_field(pay(bj, id, 500, NULL, NULL, C(NOT_FOUND)), "customer_id");
    expect_field(payments(zhang, id, 0, NULL, C(NOT_FOUND)), "customer_id");
    expect_field(arrears(zhang, id, NULL, C(NOT_FOUND)), "customer_id");
    expect_field(arrears(bj, id, NULL, C(NOT_FOUND)), "customer_id");
    expect_field(asset(zhang, id, 500, NULL, NULL, C(NOT_FOUND)), "customer_id");
    expect_field(assets(bj, id, 0, NULL, C(NOT_FOUND)), "customer_id");
    expect_field(txn(zhang, id, 100, NULL, 1, day(3), C(NOT_FOUND)), "customer_id");
    assert_int_equal(balance_of(id), 10000);
    /* their branch manager sees it, and may record a payment */
    Kehu__V1__Response *r = arrears(mgr, id, NULL, C(OK));
    assert_int_equal(r->arrears->balance_minor, 10000);
    kehu_response_free(r);
    kehu_response_free(pay(mgr, id, 2500, NULL, NULL, C(OK)));
    assert_int_equal(balance_of(id), 7500);
}

static void test_payment_list_pages(void **state)
{
    (void)state;
    int64_t id = add_customer(li, "分页付款");
    kehu_response_free(pay(li, id, 100, day(-3), NULL, C(OK)));
    kehu_response_free(pay(li, id, 200, day(-1), NULL, C(OK)));
    kehu_response_free(pay(li, id, 300, day(-2), NULL, C(OK)));
    kehu_response_free(pay(li, id, 400, day(-1), NULL, C(OK)));
    Kehu__V1__Response *r = payments(li, id, 3, NULL, C(OK));
    assert_int_equal(r->payments->n_payments, 3);
    assert_int_equal(r->payments->payments[0]->amount_minor, 400); /* newest first, the later one first */
    assert_int_equal(r->payments->payments[1]->amount_minor, 200);
    assert_int_equal(r->payments->payments[2]->amount_minor, 300);
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", r->payments->next_cursor);
    assert_true(*cursor);
    kehu_response_free(r);
    r = payments(mgr, id, 3, cursor, C(OK));
    assert_int_equal(r->payments->n_payments, 1);
    assert_int_equal(r->payments->payments[0]->amount_minor, 100);
    assert_string_equal(r->payments->next_cursor, "");
    kehu_response_free(r);
    expect_field(payments(li, id, 3, "nonsense", C(INVALID_ARGUMENT)), "after");
    assert_int_equal(balance_of(id), -1000);
}

/* ---- asset snapshots */

static void test_assets(void **state)
{
    (void)state;
    int64_t id = add_customer(li, "资产客户");
    Kehu__V1__Response *r = assets(li, id, 0, NULL, C(OK));
    assert_int_equal(r->assets->n_snapshots, 0);
    assert_int_equal(r->assets->aum_minor, 0);
    assert_string_equal(r->assets->aum_date, "");
    kehu_response_free(r);

    kehu_response_free(asset(li, id, 100000000, day(-40), NULL, C(OK))); /* deposit by default */
    kehu_response_free(asset(li, id, 50000000, day(-40), "fund", C(OK)));
    r = asset(li, id, 120000000, day(-10), "Deposit", C(OK)); /* the same product as "deposit" */
    assert_false(r->asset_snapshot->replaced);
    assert_string_equal(r->asset_snapshot->product, "deposit");
    int64_t sid = r->asset_snapshot->id;
    kehu_response_free(r);
    /* the same day and product again: replaces it */
    r = asset(li, id, 130000012, day(-10), "deposit", C(OK));
    assert_true(r->asset_snapshot->replaced);
    assert_int_equal(r->asset_snapshot->id, sid);
    assert_int_equal(r->asset_snapshot->balance_minor, 130000012);
    kehu_response_free(r);

    /* the latest per product, added up: 1300000.12 deposit + 500000.00 fund */
    r = assets(mgr, id, 0, NULL, C(OK));
    assert_int_equal(r->assets->n_snapshots, 3);
    assert_string_equal(r->assets->snapshots[0]->date, day(-10)); /* newest first */
    assert_int_equal(r->assets->snapshots[0]->balance_minor, 130000012);
    assert_int_equal(r->assets->aum_minor, 130000012 + 50000000);
    assert_string_equal(r->assets->aum_date, day(-10));
    kehu_response_free(r);

    /* a product emptied counts 0; a product of the bank's own name counts */
    kehu_response_free(asset(li, id, 0, day(-5), "fund", C(OK)));
    kehu_response_free(asset(li, id, 777, day(-2), "大额存单", C(OK)));
    r = assets(li, id, 3, NULL, C(OK));
    assert_int_equal(r->assets->n_snapshots, 3);
    assert_int_equal(r->assets->aum_minor, 130000012 + 777);
    assert_string_equal(r->assets->aum_date, day(-2));
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", r->assets->next_cursor);
    kehu_response_free(r);
    r = assets(li, id, 3, cursor, C(OK));
    assert_int_equal(r->assets->n_snapshots, 2);
    assert_string_equal(r->assets->snapshots[1]->date, day(-40));
    assert_string_equal(r->assets->next_cursor, "");
    kehu_response_free(r);

    expect_field(asset(li, id, -1, NULL, NULL, C(INVALID_ARGUMENT)), "balance");
    expect_field(asset(li, id, 100, day(1), NULL, C(INVALID_ARGUMENT)), "date");
    expect_field(asset(li, id, 100, "2026-02-29", NULL, C(INVALID_ARGUMENT)), "date");
    char long_name[51 * 3 + 1] = "";
    for (int i = 0; i < 51; i++)
        strcat(long_name, "产");
    expect_field(asset(li, id, 100, NULL, long_name, C(INVALID_ARGUMENT)), "product"); /* 51 characters */
    long_name[50 * 3] = 0;
    kehu_response_free(asset(li, id, 100, day(-50), long_name, C(OK))); /* 50 are fine */
    expect_field(asset(li, id, 100, NULL, "bad\nname", C(INVALID_ARGUMENT)), "product");
    r = assets(li, id, 0, NULL, C(OK));
    assert_int_equal(r->assets->n_snapshots, 6);
    kehu_response_free(r);
}

/* ---- merging */

static void test_merge_moves_payments_and_assets(void **state)
{
    (void)state;
    int64_t keep = add_customer(li, "合并保留");
    int64_t other = add_customer(li, "合并被并");
    kehu_response_free(txn(li, keep, 10000, day(-10), 1, day(-5), C(OK)));
    kehu_response_free(txn(li, other, 20000, day(-10), 1, day(-3), C(OK)));
    kehu_response_free(pay(li, other, 5000, day(-4), NULL, C(OK)));
    /* KEEP: deposit 1000.00 from 30 days ago, fund 100.00 from 10 days ago;
     * OTHER: deposit 400.00 from 20 days ago, fund 50.00 from 10 days ago (the same day: added up) */
    kehu_response_free(asset(li, keep, 100000, day(-30), "deposit", C(OK)));
    kehu_response_free(asset(li, keep, 10000, day(-10), "fund", C(OK)));
    kehu_response_free(asset(li, other, 40000, day(-20), "deposit", C(OK)));
    kehu_response_free(asset(li, other, 5000, day(-10), "fund", C(OK)));

    Kehu__V1__CustomerMerge m = KEHU__V1__CUSTOMER_MERGE__INIT;
    m.keep_id = keep;
    m.other_id = other;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_MERGE;
    req.customer_merge = &m;
    Kehu__V1__Response *r = it_call(li, &req, C(OK));
    assert_int_equal(r->customer->balance_minor, 10000 + 20000 - 5000);
    kehu_response_free(r);

    r = payments(li, keep, 0, NULL, C(OK));
    assert_int_equal(r->payments->n_payments, 1);
    assert_int_equal(r->payments->payments[0]->amount_minor, 5000);
    assert_int_equal(r->payments->payments[0]->customer_id, keep);
    kehu_response_free(r);
    /* both credit sales now KEEP's: 50.00 paid goes to the one due first */
    expect_arrears(keep, NULL, 25000, day(-5), 5, 2, 0);

    /* KEEP's assets on any day are both customers' assets on that day */
    r = assets(li, keep, 0, NULL, C(OK));
    assert_int_equal(r->assets->n_snapshots, 3);
    assert_int_equal(r->assets->aum_minor, (100000 + 40000) + (10000 + 5000));
    for (size_t i = 0; i < r->assets->n_snapshots; i++) {
        const Kehu__V1__AssetSnapshot *s = r->assets->snapshots[i];
        assert_int_equal(s->customer_id, keep);
        if (strcmp(s->date, day(-10)) == 0)
            assert_int_equal(s->balance_minor, 15000); /* fund, the same day: summed */
        else if (strcmp(s->date, day(-20)) == 0)
            assert_int_equal(s->balance_minor, 140000); /* OTHER's deposit plus KEEP's held since */
        else
            assert_int_equal(s->balance_minor, 100000);
    }
    kehu_response_free(r);
    /* OTHER is a tombstone now */
    expect_field(payments(li, other, 0, NULL, C(NOT_FOUND)), "customer_id");
}

/* ---- live pushes */

static void test_events(void **state)
{
    (void)state;
    int64_t id = add_customer(li, "推送付款");
    kehu_client *watch = it_login("wang.fang", "password-1");
    Kehu__V1__Subscribe s = KEHU__V1__SUBSCRIBE__INIT;
    s.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_CUSTOMER_ID;
    s.customer_id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &s;
    kehu_response_free(it_call(watch, &req, C(OK)));
    const char *kinds[] = { "payment.created", "asset_snapshot.created", "asset_snapshot.updated" };
    kehu_response_free(pay(li, id, 100, NULL, NULL, C(OK)));
    kehu_response_free(asset(li, id, 100, NULL, NULL, C(OK)));
    kehu_response_free(asset(li, id, 200, NULL, NULL, C(OK)));
    struct kehu_status st;
    for (int i = 0; i < 3; i++) {
        Kehu__V1__Event *ev = it_next_change(watch, 5000, &st);
        if (!ev)
            fail_msg("no %s event: %s", kinds[i], st.message);
        assert_string_equal(ev->kind, kinds[i]);
        assert_int_equal(ev->customer_id, id);
        kehu_event_free(ev);
    }
    assert_null(it_next_change(watch, 300, &st)); /* the balance moving is not news of its own */
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

static void out_has(const char *needle)
{
    if (!strstr(cli.out, needle))
        fail_msg("stdout lacks '%s'\nstdout: %s", needle, cli.out);
}

static void test_cli(void **state)
{
    (void)state;
    expect(kehu(ENV("KEHU_PASSWORD=password-1"), ARGS("login", "li.lei")), 0, NULL);
    int64_t cust = add_customer(li, "命令行付款");
    char cid[32], line[128];
    snprintf(cid, sizeof cid, "%lld", (long long)cust);

    /* a payment before any credit: a credit on account */
    expect(kehu(NULL, ARGS("payment", "add", cid, "--amount", "120.50", "--method", "cash", "--reference", "收据 0042",
                           "--json")),
           0, NULL);
    assert_int_equal(cli.out[0], '{');
    out_has("\"amount\": \"120.50\"");
    out_has("\"balance\": \"-120.50\"");
    out_has("\"method\": \"cash\"");
    out_has("\"reference\": \"收据 0042\"");
    expect(kehu(NULL, ARGS("payment", "list", cid, "--json")), 0, "\"amount\": \"120.50\"");
    assert_int_equal(cli.out[0], '[');
    expect(kehu(NULL, ARGS("payment", "list", cid)), 0, "收据 0042");
    out_has("120.50");
    expect(kehu(NULL, ARGS("arrears", cid, "--json")), 0, "\"balance\": \"-120.50\"");
    out_has("\"oldest_unpaid_due\": null");
    out_has("\"on_time_ratio\": null");

    /* a credit sale due yesterday */
    expect(kehu(NULL, ARGS("txn", "add", cid, "--amount", "1000", "--date", day(-30), "--on-credit", "--due", day(-1),
                           "--json")),
           0, "\"on_credit\": true");
    snprintf(line, sizeof line, "\"due\": \"%s\"", day(-1));
    out_has(line);
    expect(kehu(NULL, ARGS("txn", "list", cid)), 0, day(-1));
    expect(kehu(NULL, ARGS("arrears", cid, "--json")), 0, "\"balance\": \"879.50\"");
    assert_int_equal(cli.out[0], '{');
    snprintf(line, sizeof line, "\"oldest_unpaid_due\": \"%s\"", day(-1));
    out_has(line);
    out_has("\"days_overdue\": 1");
    out_has("\"credit_txns\": 1");
    out_has("\"paid_on_time\": 0");
    out_has("\"on_time_ratio\": 0");
    expect(kehu(NULL, ARGS("arrears", cid)), 0, "879.50");
    out_has("days overdue");
    expect(kehu(NULL, ARGS("arrears", cid, "--as-of", day(-2), "--json")), 0, "\"days_overdue\": 0");

    /* assets */
    expect(kehu(NULL, ARGS("asset", "add", cid, "--balance", "50000", "--product", "wealth", "--date", day(-3),
                           "--json")),
           0, "\"balance\": \"50000.00\"");
    out_has("\"replaced\": false");
    expect(kehu(NULL, ARGS("asset", "add", cid, "--balance", "60000.5", "--product", "wealth", "--date", day(-3))), 0,
           "replaced");
    expect(kehu(NULL, ARGS("asset", "list", cid)), 0, "AUM today: 60,000.50");
    expect(kehu(NULL, ARGS("asset", "list", cid, "--json")), 0, "\"balance\": \"60000.50\"");
    assert_int_equal(cli.out[0], '[');

    /* refusals: the command line's own, and the server's naming the field */
    expect(kehu(NULL, ARGS("payment", "add", cid, "--amount", "12.345")), 2, "--amount");
    expect(kehu(NULL, ARGS("payment", "add", cid)), 2, "--amount is required");
    expect(kehu(NULL, ARGS("payment", "add", cid, "--amount", "5", "--method", "gold")), 2, "--method");
    expect(kehu(NULL, ARGS("payment", "add", cid, "--amount", "0")), 1, "[amount]");
    expect(kehu(NULL, ARGS("payment", "add", cid, "--amount", "5", "--date", day(3), "--json")), 1,
           "\"field\": \"date\"");
    expect(kehu(NULL, ARGS("txn", "add", cid, "--amount", "5", "--on-credit")), 2, "--due");
    expect(kehu(NULL, ARGS("asset", "add", cid, "--balance", "-1")), 2, "--balance");
    expect(kehu(NULL, ARGS("arrears", "99999999")), 1, "NOT_FOUND");
    assert_int_equal(balance_of(cust), 87950);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credit_moves_balance),
        cmocka_unit_test(test_fifo_arrears),
        cmocka_unit_test(test_payment_validation_and_access),
        cmocka_unit_test(test_payment_list_pages),
        cmocka_unit_test(test_assets),
        cmocka_unit_test(test_merge_moves_payments_and_assets),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_cli),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
