/* Payments, arrears and asset snapshots (sql/0005_payments_assets.sql).
 *
 * PaymentAdd records money received and lowers the customer's balance in
 * the same statement; a payment larger than the balance is accepted and
 * leaves a credit on account (a negative balance). ArrearsGet answers
 * customer_arrears for one customer: the balance, the oldest unpaid due
 * date (payments allocated to credit transactions oldest due first), the
 * days overdue and the punctuality counts. AssetAdd records a balance held
 * in a product on a day, replacing one of the same day and product;
 * AssetList lists them with the assets under management today
 * (customer_aum).
 *
 * Every request first loads the customer through rpc_customer_load (write
 * for adds, read for the rest). Money is minor units on the wire and
 * numeric in SQL; dates are UTC days (validate_today); payments and
 * snapshots record what happened, so they are never dated in the future. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "log.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"
#include "validate.h"

#define MONEY_LIMIT 1000000000000000LL /* 10^13 yuan in fen: numeric(18,2) holds it */
#define REFERENCE_MAX 100
#define NOTE_MAX 2000
#define PRODUCT_MAX 50
#define LIST_DEFAULT 100
#define LIST_MAX 1000

static const char *const methods[] = { "cash", "transfer", "card", "cheque", "other" };
static const char *const products[] = { "deposit", "wealth", "fund", "insurance", "other" };

/* A date the client gave as `field`: empty means today; checked, and not
 * after today. Returns the date, or NULL after answering. */
static const char *past_date(struct req *r, const char *s, const char *field)
{
    char today[11];
    validate_today(today);
    if (!s || !*s)
        return arena_strdup(&r->arena, today);
    const char *why = validate_date(s);
    if (why) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "%s %s", field, why);
        return NULL;
    }
    if (strcmp(s, today) > 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "%s %s is in the future (today is %s)", field, s, today);
        return NULL;
    }
    return s;
}

/* The "date/id" cursor of a newest-first list: 0 with date and id set (NULL
 * for the first page), or -1 after answering. */
static int parse_cursor(struct req *r, const char *after, const char **date, const char **id)
{
    *date = *id = NULL;
    if (!after || !*after)
        return 0;
    const char *slash = strchr(after, '/');
    int64_t check;
    if (!slash || slash - after != 10) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "after", "not a cursor this server gave");
        return -1;
    }
    *date = arena_printf(&r->arena, "%.10s", after);
    *id = slash + 1;
    if (validate_date(*date) || parse_i64(*id, &check) < 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "after", "not a cursor this server gave");
        return -1;
    }
    return 0;
}

static uint32_t page_limit(uint32_t asked)
{
    return asked && asked <= LIST_MAX ? asked : LIST_DEFAULT;
}

/* ---- payments */

#define PAYMENT_COLUMNS                                                                                            \
    "p.id, p.customer_id, p.date::text, (p.amount * 100)::bigint, p.method, coalesce(p.reference, ''),"           \
    " coalesce(p.note, ''), " SQL_MS("p.created_at") ", coalesce(u.username, ''), coalesce(p.reverses, 0),"       \
    " coalesce(p.reversed_by, 0), coalesce(p.reason, '')"

static struct row_msg payment_row = ROW_MSG(kehu__v1__payment__descriptor,
    "id,customer_id,date,amount_minor,method,reference,note,created_at_ms,created_by,"
    "reverses_id,reversed_by_id,reason");

static Kehu__V1__Payment *payment_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    return row_msg(r, &payment_row, res, stmt, row, 0);
}

/* One statement: the payment, and the customer's balance moves with it
 * (a bookkeeping update: the payment's trigger announces payment.created). */
static struct db_stmt payment_insert = DB_STMT(
    "WITH p AS (INSERT INTO payment (branch_id, customer_id, date, amount, method, reference, note, created_by)"
    " SELECT c.branch_id, c.id, $2::date, $3::numeric, $4, $5, $6, $7 FROM customer c WHERE c.id = $1 RETURNING *),"
    " up AS (UPDATE customer c SET balance = c.balance - p.amount, updated_at = now(), updated_by = $7"
    "  FROM p WHERE c.id = p.customer_id RETURNING c.balance)"
    " SELECT " PAYMENT_COLUMNS ", (up.balance * 100)::bigint FROM p CROSS JOIN up"
    " LEFT JOIN app_user u ON u.id = p.created_by");

static void payment_added(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "22003") == 0)
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "amount", "the balance would be out of range");
        else
            req_fail_db(r, res);
        return;
    }
    if (db_rows(res, 0) != 1) { /* the customer went away between loading and writing */
        req_fail(r, KEHU__V1__CODE__NOT_FOUND, "customer_id", "no such customer");
        return;
    }
    Kehu__V1__Payment *p = payment_from_row(r, res, 0, 0);
    p->balance_minor = db_get_i64(res, 0, 0, 12);
    log_info(r->conn->id, r->id, "payment %lld for customer %lld", (long long)p->id, (long long)p->customer_id);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_PAYMENT, p);
}

static void payment_add_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__Payment *p = r->msg->payment_add->payment;
    const char *date = past_date(r, p->date, "date"), *why;
    if (!date)
        return;
    if (p->amount_minor <= 0 || p->amount_minor >= MONEY_LIMIT) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "amount",
                 p->amount_minor <= 0 ? "the amount must be more than zero" : "the amount is out of range");
        return;
    }
    const char *method = "transfer";
    if (p->method && *p->method) {
        method = NULL;
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
            if (strcasecmp(p->method, methods[i]) == 0)
                method = methods[i];
        if (!method) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "method",
                     "method must be cash, transfer, card, cheque or other");
            return;
        }
    }
    if ((why = rpc_text_problem(p->reference, REFERENCE_MAX, 0))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reference", "reference %s", why);
        return;
    }
    if ((why = rpc_text_problem(p->note, NOTE_MAX, 1))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "note", "note %s", why);
        return;
    }
    const char *params[] = { rpc_num(r, ref->id),
                             date,
                             rpc_money_sql(&r->arena, p->amount_minor),
                             method,
                             p->reference && *p->reference ? p->reference : NULL,
                             p->note && *p->note ? p->note : NULL,
                             rpc_num(r, req_who(r)->user_id) };
    audit_query(r, &payment_insert, 7, params, payment_added);
}

static void payment_add(struct req *r)
{
    const Kehu__V1__PaymentAdd *m = r->msg->payment_add;
    if (!m || !m->payment) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "payment", "the payment is missing");
        return;
    }
    rpc_customer_load(r, m->payment->customer_id, ACT_CUSTOMER_WRITE, payment_add_loaded);
}

const struct rpc_entry rpc_payment_add = { KEHU__V1__REQUEST__OP_PAYMENT_ADD, "payment_add", ACT_CUSTOMER_WRITE, 0,
                                           payment_add };

/* A page's rows end with count(*) OVER (): the rows from its cursor on. */
static int64_t count_after_cursor(const struct db_result *res)
{
    return db_get_i64(res, 0, 0, PQnfields(res->res[0]) - 1);
}

/* Newest first; the cursor is the last row's "date/id". */
static struct db_stmt payment_list_stmt = DB_STMT(
    "SELECT " PAYMENT_COLUMNS ", count(*) OVER () FROM payment p LEFT JOIN app_user u ON u.id = p.created_by"
    " WHERE p.customer_id = $1 AND ($3::date IS NULL OR (p.date, p.id) < ($3::date, $4::bigint))"
    " ORDER BY p.date DESC, p.id DESC LIMIT $2");

static void payments_listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    uint32_t limit = page_limit(r->msg->payment_list->limit);
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0), shown = n > (int)limit ? (int)limit : n;
    Kehu__V1__Payments *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__payments__init(list);
    list->payments = arena_alloc(&r->arena, sizeof *list->payments * (size_t)(shown ? shown : 1));
    for (int i = 0; i < shown; i++)
        list->payments[list->n_payments++] = payment_from_row(r, res, 0, i);
    list->next_cursor = n > shown ? arena_printf(&r->arena, "%s/%lld", list->payments[shown - 1]->date,
                                                 (long long)list->payments[shown - 1]->id)
                                  : "";
    if (n > shown)
        list->remaining = (uint32_t)(count_after_cursor(res) - shown);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_PAYMENTS, list);
}

static void payment_list_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__PaymentList *m = r->msg->payment_list;
    const char *date, *id;
    if (parse_cursor(r, m->after, &date, &id) < 0)
        return;
    const char *p[] = { rpc_num(r, ref->id), arena_printf(&r->arena, "%u", page_limit(m->limit) + 1), date, id };
    db_query(r->srv->db, &payment_list_stmt, 4, p, payments_listed, r);
}

static void payment_list(struct req *r)
{
    const Kehu__V1__PaymentList *m = r->msg->payment_list;
    rpc_customer_load(r, m ? m->customer_id : 0, ACT_CUSTOMER_READ, payment_list_loaded);
}

const struct rpc_entry rpc_payment_list = { KEHU__V1__REQUEST__OP_PAYMENT_LIST, "payment_list", ACT_CUSTOMER_READ, 0,
                                            payment_list };

/* ---- PaymentReverse: a wrong payment corrected by a row negating it
 * (payment_reverse in sql/0015), never edited in place */

#define REASON_MAX 500

static struct db_stmt payment_owner_stmt = DB_STMT("SELECT customer_id FROM payment WHERE id = $1");
static struct db_stmt payment_reverse_stmt = DB_STMT("SELECT payment_reverse($1, $2, $3)");
static struct db_stmt payment_reversal_stmt = DB_STMT(
    "SELECT " PAYMENT_COLUMNS ", (c.balance * 100)::bigint FROM payment p JOIN customer c ON c.id = p.customer_id"
    " LEFT JOIN app_user u ON u.id = p.created_by WHERE p.reverses = $1");

static const char *payment_missing(struct req *r)
{
    return arena_printf(&r->arena, "no payment %lld", (long long)r->msg->payment_reverse->id);
}

static void payment_reversed(struct req *r, const struct db_result *res, int stmt)
{
    Kehu__V1__Payment *p = payment_from_row(r, res, stmt, 0);
    p->balance_minor = db_get_i64(res, stmt, 0, 12);
    log_info(r->conn->id, r->id, "payment %lld reversed by %lld", (long long)p->reverses_id, (long long)p->id);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_PAYMENT, p);
}

static const struct rpc_reversal payment_reversal = { &payment_owner_stmt, &payment_reverse_stmt,
                                                      &payment_reversal_stmt, payment_missing, payment_reversed };

static void payment_reverse(struct req *r)
{
    const Kehu__V1__PaymentReverse *m = r->msg->payment_reverse;
    const char *why;
    if (!m || m->id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "the payment's id is required");
        return;
    }
    if (!m->reason || !*m->reason) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "a reason is required");
        return;
    }
    if ((why = rpc_text_problem(m->reason, REASON_MAX, 0))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "reason %s", why);
        return;
    }
    rpc_reverse(r, &payment_reversal, m->id, m->reason);
}

const struct rpc_entry rpc_payment_reverse = { KEHU__V1__REQUEST__OP_PAYMENT_REVERSE, "payment_reverse",
                                               ACT_CUSTOMER_WRITE, 0, payment_reverse };

/* ---- arrears */

static struct db_stmt arrears_stmt = DB_STMT(
    "SELECT (a.balance * 100)::bigint, coalesce(a.oldest_unpaid_due::text, ''), a.days_overdue, a.credit_txns,"
    " a.paid_on_time FROM customer_arrears($2::date) a WHERE a.customer_id = $1");

static void arrears_done(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    Kehu__V1__Arrears *a = r->state;
    if (db_rows(res, 0) == 1) { /* else no credit and no payment: all zero */
        a->balance_minor = db_get_i64(res, 0, 0, 0);
        a->oldest_unpaid_due = rpc_col(r, res, 0, 0, 1);
        a->days_overdue = (int32_t)db_get_i64(res, 0, 0, 2);
        a->credit_txns = db_get_i64(res, 0, 0, 3);
        a->paid_on_time = db_get_i64(res, 0, 0, 4);
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ARREARS, a);
}

static void arrears_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__ArrearsGet *m = r->msg->arrears_get;
    char today[11];
    validate_today(today);
    const char *as_of = m->as_of && *m->as_of ? m->as_of : today, *why;
    if ((why = validate_date(as_of))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "as_of", "as_of %s", why);
        return;
    }
    Kehu__V1__Arrears *a = arena_alloc(&r->arena, sizeof *a);
    kehu__v1__arrears__init(a);
    a->customer_id = ref->id;
    a->as_of = arena_strdup(&r->arena, as_of);
    a->oldest_unpaid_due = "";
    r->state = a;
    const char *p[] = { rpc_num(r, ref->id), a->as_of };
    db_query(r->srv->db, &arrears_stmt, 2, p, arrears_done, r);
}

static void arrears_get(struct req *r)
{
    const Kehu__V1__ArrearsGet *m = r->msg->arrears_get;
    rpc_customer_load(r, m ? m->customer_id : 0, ACT_CUSTOMER_READ, arrears_loaded);
}

const struct rpc_entry rpc_arrears_get = { KEHU__V1__REQUEST__OP_ARREARS_GET, "arrears_get", ACT_CUSTOMER_READ, 0,
                                           arrears_get };

/* ---- asset snapshots */

#define ASSET_COLUMNS                                                                                              \
    "a.id, a.customer_id, a.date::text, (a.balance * 100)::bigint, a.product, " SQL_MS("a.created_at") ","         \
    " coalesce(u.username, ''), " SQL_MS("a.updated_at")

static struct row_msg asset_row = ROW_MSG(kehu__v1__asset_snapshot__descriptor,
    "id,customer_id,date,balance_minor,product,created_at_ms,created_by,updated_at_ms");

static Kehu__V1__AssetSnapshot *asset_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    return row_msg(r, &asset_row, res, stmt, row, 0);
}

/* A second snapshot of the same day and product replaces the first (xmax is
 * set on a row that ON CONFLICT updated). */
static struct db_stmt asset_upsert = DB_STMT(
    "WITH a AS (INSERT INTO asset_snapshot (branch_id, customer_id, date, balance, product, created_by, updated_by)"
    " SELECT c.branch_id, c.id, $2::date, $3::numeric, $4, $5, $5 FROM customer c WHERE c.id = $1"
    " ON CONFLICT (customer_id, product, date) DO UPDATE SET balance = EXCLUDED.balance, updated_at = now(),"
    " updated_by = EXCLUDED.updated_by RETURNING *, xmax <> 0 AS replaced)"
    " SELECT " ASSET_COLUMNS ", a.replaced FROM a LEFT JOIN app_user u ON u.id = a.created_by");

static void asset_added(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_one(r, res, "customer_id", "no such customer"))
        return;
    Kehu__V1__AssetSnapshot *a = asset_from_row(r, res, 0, 0);
    a->replaced = db_get_bool(res, 0, 0, 8);
    log_info(r->conn->id, r->id, "asset snapshot %lld (%s %s) for customer %lld%s", (long long)a->id, a->date,
             a->product, (long long)a->customer_id, a->replaced ? ", replacing the earlier one" : "");
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ASSET_SNAPSHOT, a);
}

static void asset_add_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__AssetSnapshot *a = r->msg->asset_add->snapshot;
    const char *date = past_date(r, a->date, "date"), *why;
    if (!date)
        return;
    if (a->balance_minor < 0 || a->balance_minor >= MONEY_LIMIT) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "balance",
                 a->balance_minor < 0 ? "the balance must not be negative" : "the balance is out of range");
        return;
    }
    const char *product = "deposit";
    if (a->product && *a->product) {
        if ((why = rpc_text_problem(a->product, PRODUCT_MAX, 0))) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "product", "product %s", why);
            return;
        }
        product = a->product;
        for (size_t i = 0; i < sizeof products / sizeof products[0]; i++)
            if (strcasecmp(a->product, products[i]) == 0)
                product = products[i]; /* "Deposit" is the same product as "deposit" */
    }
    const char *p[] = { rpc_num(r, ref->id), date, rpc_money_sql(&r->arena, a->balance_minor), product,
                        rpc_num(r, req_who(r)->user_id) };
    audit_query(r, &asset_upsert, 5, p, asset_added);
}

static void asset_add(struct req *r)
{
    const Kehu__V1__AssetAdd *m = r->msg->asset_add;
    if (!m || !m->snapshot) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "snapshot", "the snapshot is missing");
        return;
    }
    rpc_customer_load(r, m->snapshot->customer_id, ACT_CUSTOMER_WRITE, asset_add_loaded);
}

const struct rpc_entry rpc_asset_add = { KEHU__V1__REQUEST__OP_ASSET_ADD, "asset_add", ACT_CUSTOMER_WRITE, 0,
                                         asset_add };

/* Newest first (the cursor is the last row's "date/id"), and the AUM today. */
static struct db_stmt asset_list_stmt = DB_STMT(
    "SELECT " ASSET_COLUMNS ", count(*) OVER () FROM asset_snapshot a LEFT JOIN app_user u ON u.id = a.created_by"
    " WHERE a.customer_id = $1 AND ($3::date IS NULL OR (a.date, a.id) < ($3::date, $4::bigint))"
    " ORDER BY a.date DESC, a.id DESC LIMIT $2");
static struct db_stmt aum_stmt = DB_STMT(
    "SELECT (g.aum * 100)::bigint, g.latest::text FROM customer_aum($2::date) g WHERE g.customer_id = $1");

static void assets_listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    uint32_t limit = page_limit(r->msg->asset_list->limit);
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0), shown = n > (int)limit ? (int)limit : n;
    Kehu__V1__Assets *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__assets__init(list);
    list->snapshots = arena_alloc(&r->arena, sizeof *list->snapshots * (size_t)(shown ? shown : 1));
    for (int i = 0; i < shown; i++)
        list->snapshots[list->n_snapshots++] = asset_from_row(r, res, 0, i);
    list->next_cursor = n > shown ? arena_printf(&r->arena, "%s/%lld", list->snapshots[shown - 1]->date,
                                                 (long long)list->snapshots[shown - 1]->id)
                                  : "";
    if (n > shown)
        list->remaining = (uint32_t)(count_after_cursor(res) - shown);
    list->aum_date = "";
    if (db_rows(res, 1) == 1) {
        list->aum_minor = db_get_i64(res, 1, 0, 0);
        list->aum_date = rpc_col(r, res, 1, 0, 1);
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_ASSETS, list);
}

static void asset_list_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__AssetList *m = r->msg->asset_list;
    const char *date, *id;
    if (parse_cursor(r, m->after, &date, &id) < 0)
        return;
    char today[11];
    validate_today(today);
    const char *cust = rpc_num(r, ref->id);
    const char *lp[] = { cust, arena_printf(&r->arena, "%u", page_limit(m->limit) + 1), date, id };
    const char *ap[] = { cust, today };
    struct db_call *call = db_call_new(r->srv->db, assets_listed, r);
    db_call_add(call, &asset_list_stmt, 4, lp);
    db_call_add(call, &aum_stmt, 2, ap);
    db_call_send(call);
}

static void asset_list(struct req *r)
{
    const Kehu__V1__AssetList *m = r->msg->asset_list;
    rpc_customer_load(r, m ? m->customer_id : 0, ACT_CUSTOMER_READ, asset_list_loaded);
}

const struct rpc_entry rpc_asset_list = { KEHU__V1__REQUEST__OP_ASSET_LIST, "asset_list", ACT_CUSTOMER_READ, 0,
                                          asset_list };
