/* What a customer owns: contacts (of corporate customers) and transactions.
 * Each request first loads the customer through rpc_customer_load, which
 * applies the authorization function to it. */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "page.h"
#include "mask.h"
#include "rpc.h"
#include "row_msg.h"
#include "server.h"
#include "validate.h"

/* ---- contacts */

#define CONTACT_COLUMNS                                                                                           \
    "k.id, k.customer_id, k.version, k.name, coalesce(k.title, ''), array_to_string(k.phones, ','),"             \
    " coalesce(k.email, ''), k.key_person, " SQL_MS("k.created_at")

static struct row_msg contact_row = ROW_MSG(kehu__v1__contact__descriptor,
    "id,customer_id,version,name,title,phones,email,key_person,created_at_ms");

static Kehu__V1__Contact *contact_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    return row_msg(r, &contact_row, res, stmt, row, 0);
}

/* A contact's fields, checked and normalised: name, title, phones (array
 * literal), email, key person. */
struct contact_values {
    const char *name, *title, *phones, *email, *key;
};

static int check_contact(struct req *r, const char *name, const char *title, char **phones, size_t nphones,
                         const char *email, struct contact_values *out)
{
    const char *why;
    if (!name || !*name || (why = validate_line(name, 200))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "name", "the contact's name %s", name && *name ? why : "is required");
        return -1;
    }
    if (title && (why = validate_line(title, 100))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "title", "title %s", why);
        return -1;
    }
    if (email && *email && (why = validate_email(email))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "email", "email %s", why);
        return -1;
    }
    if (nphones > 10) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "phones", "at most 10 phones");
        return -1;
    }
    const char **norm = arena_alloc(&r->arena, sizeof *norm * (nphones ? nphones : 1));
    for (size_t i = 0; i < nphones; i++) {
        char buf[32];
        if ((why = validate_phone(phones[i], buf, sizeof buf))) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "phones", "phone '%s' %s", phones[i], why);
            return -1;
        }
        norm[i] = arena_strdup(&r->arena, buf);
    }
    out->name = name;
    out->title = title && *title ? title : NULL;
    out->phones = arena_pg_array(&r->arena, norm, nphones);
    out->email = email && *email ? email : NULL;
    return 0;
}

static struct db_stmt contact_insert = DB_STMT(
    "WITH k AS (INSERT INTO contact (branch_id, customer_id, name, title, phones, email, key_person, created_by,"
    " updated_by) SELECT c.branch_id, c.id, $2, $3, $4::text[], $5, $6::boolean, $7, $7 FROM customer c WHERE c.id = $1"
    " RETURNING *) SELECT " CONTACT_COLUMNS " FROM k");

static void contact_added(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CONTACT, contact_from_row(r, res, 0, 0));
}

static void contact_add_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__Contact *k = r->msg->contact_add->contact;
    struct contact_values v;
    if (check_contact(r, k->name, k->title, k->phones, k->n_phones, k->email, &v) < 0)
        return;
    const char *p[] = { rpc_num(r, ref->id), v.name, v.title, v.phones, v.email, k->key_person ? "true" : "false",
                        rpc_num(r, req_who(r)->user_id) };
    audit_query(r, &contact_insert, 7, p, contact_added);
}

static void contact_add(struct req *r)
{
    const Kehu__V1__ContactAdd *m = r->msg->contact_add;
    if (!m || !m->contact) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "contact", "the contact is missing");
        return;
    }
    rpc_customer_load(r, m->customer_id, ACT_CUSTOMER_WRITE, contact_add_loaded);
}

const struct rpc_entry rpc_contact_add = { KEHU__V1__REQUEST__OP_CONTACT_ADD, "contact_add", ACT_CUSTOMER_WRITE, 0,
                                           contact_add };

/* Key persons first, a page: $2 $3 the cursor, $4 the page plus one; after
 * CONTACT_COLUMNS (9) the count after the cursor and the keys. */
static struct db_stmt contact_list_stmt = DB_STMT(
    "SELECT " CONTACT_COLUMNS ", count(*) OVER (), (NOT k.key_person)::int::text, k.id::text FROM contact k"
    " WHERE k.customer_id = $1 AND ($2::int IS NULL OR ((NOT k.key_person)::int, k.id) > ($2::int, $3::bigint))"
    " ORDER BY (NOT k.key_person)::int, k.id LIMIT $4");

struct contact_page {
    struct page page;
    int unmasked;
};

static void contacts_listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    struct contact_page *cp = r->state;
    Kehu__V1__Contacts *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__contacts__init(list);
    int n = page_end(r, &cp->page, res, 0, 10, &list->next_cursor, &list->remaining);
    list->contacts = arena_alloc(&r->arena, sizeof *list->contacts * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        Kehu__V1__Contact *k = contact_from_row(r, res, 0, i);
        for (size_t j = 0; !cp->unmasked && j < k->n_phones; j++)
            k->phones[j] = mask_phone(&r->arena, k->phones[j]);
        list->contacts[list->n_contacts++] = k;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CONTACTS, list);
}

static void contact_list_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    struct contact_page *cp = ref->ctx;
    cp->unmasked = ref->unmasked;
    r->state = cp;
    const char *p[] = { rpc_num(r, ref->id), cp->page.key[0], cp->page.key[1], cp->page.fetch };
    db_query(r->srv->db, &contact_list_stmt, 4, p, contacts_listed, r);
}

static void contact_list(struct req *r)
{
    const Kehu__V1__ContactList *m = r->msg->contact_list;
    struct contact_page *cp = arena_alloc(&r->arena, sizeof *cp);
    if (page_begin(r, &cp->page, "contact_list", "ii", m ? m->limit : 0, m ? m->after : NULL, 200, 1000) < 0)
        return;
    rpc_customer_load_ctx(r, m ? m->customer_id : 0, ACT_CUSTOMER_READ, contact_list_loaded, cp, "customer_id");
}

const struct rpc_entry rpc_contact_list = { KEHU__V1__REQUEST__OP_CONTACT_LIST, "contact_list", ACT_CUSTOMER_READ, 0,
                                            contact_list };

/* ContactEdit: find the contact's customer, authorize on it, then update the
 * fields given if the contact's version still matches. */
static struct db_stmt contact_by_id = DB_STMT("SELECT " CONTACT_COLUMNS " FROM contact k WHERE k.id = $1");
static struct db_stmt contact_update = DB_STMT(
    "WITH k AS (UPDATE contact SET name = $3, title = $4, phones = $5::text[], email = $6, key_person = $7::boolean,"
    " version = version + 1, updated_at = now(), updated_by = $8 WHERE id = $1 AND version = $2 RETURNING *)"
    " SELECT " CONTACT_COLUMNS " FROM k");

static void contact_edited(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_rows(res, 0) != 1) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, "version", "contact %lld changed meanwhile: read it again",
                 (long long)r->msg->contact_edit->id);
        return;
    }
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_CONTACT, contact_from_row(r, res, 0, 0));
}

static void contact_edit_apply(struct req *r, const struct rpc_customer_ref *ref);

static void contact_edit_found(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    const Kehu__V1__ContactEdit *m = r->msg->contact_edit;
    if (!req_db_one(r, res, "id", "no contact %lld", (long long)m->id))
        return;
    Kehu__V1__Contact *current = contact_from_row(r, res, 0, 0);
    /* a contact of a customer the caller may not read is a missing contact */
    rpc_customer_load_as(r, current->customer_id, ACT_CUSTOMER_WRITE, contact_edit_apply, current, "id",
                         arena_printf(&r->arena, "no contact %lld", (long long)m->id));
}

static void contact_edit_apply(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__ContactEdit *m = r->msg->contact_edit;
    Kehu__V1__Contact *cur = ref->ctx;
    if (cur->version != m->version) {
        r->status.code = KEHU__V1__CODE__CONFLICT;
        r->status.field = "version";
        r->status.message = arena_printf(&r->arena, "contact %lld changed since version %lld: it is now at version %lld",
                                         (long long)m->id, (long long)m->version, (long long)cur->version);
        r->resp.result_case = KEHU__V1__RESPONSE__RESULT_CONTACT;
        r->resp.contact = cur; /* the contact as it is now */
        req_reply(r);
        return;
    }
    const char *name = cur->name, *title = cur->title, *email = cur->email;
    char **phones = cur->phones;
    size_t nphones = cur->n_phones;
    int key = cur->key_person;
    for (size_t i = 0; i < m->n_set; i++) {
        const char *f = m->set[i]->field ? m->set[i]->field : "", *v = m->set[i]->value ? m->set[i]->value : "";
        if (strcmp(f, "name") == 0)
            name = v;
        else if (strcmp(f, "title") == 0)
            title = v;
        else if (strcmp(f, "email") == 0)
            email = v;
        else if (strcmp(f, "phones") == 0)
            phones = arena_split(&r->arena, v, ',', &nphones);
        else if (strcmp(f, "key_person") == 0 && (strcmp(v, "true") == 0 || strcmp(v, "false") == 0))
            key = strcmp(v, "true") == 0;
        else {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "set",
                     "'%s' is not a contact field (name, title, phones, email, key_person=true|false)", f);
            return;
        }
    }
    struct contact_values v;
    if (check_contact(r, name, title, phones, nphones, email, &v) < 0)
        return;
    const char *p[] = { rpc_num(r, m->id), rpc_num(r, m->version), v.name, v.title, v.phones, v.email,
                        key ? "true" : "false", rpc_num(r, req_who(r)->user_id) };
    audit_query(r, &contact_update, 8, p, contact_edited);
}

static void contact_edit(struct req *r)
{
    const Kehu__V1__ContactEdit *m = r->msg->contact_edit;
    if (!m || m->id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "a contact id is required");
        return;
    }
    if (m->version <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "version", "the version you read is required");
        return;
    }
    const char *p[] = { rpc_num(r, m->id) };
    db_query(r->srv->db, &contact_by_id, 1, p, contact_edit_found, r);
}

const struct rpc_entry rpc_contact_edit = { KEHU__V1__REQUEST__OP_CONTACT_EDIT, "contact_edit", ACT_CUSTOMER_WRITE, 0,
                                            contact_edit };

/* ---- transactions: money in minor units on the wire, numeric in SQL */

#define TXN_COLUMNS                                                                                                  \
    "t.id, t.customer_id, t.date::text, (t.amount * 100)::bigint, t.margin IS NOT NULL,"                             \
    " coalesce((t.margin * 100)::bigint, 0), coalesce(t.product, ''), coalesce(t.category, ''),"                     \
    " coalesce(t.channel, ''), " SQL_MS("t.created_at") ", coalesce(u.username, ''), t.on_credit,"                   \
    " coalesce(t.due::text, ''), coalesce(t.reverses, 0), coalesce(t.reversed_by, 0), coalesce(t.reason, '')"
#define TXN_NCOLS 16

static struct row_msg txn_row = ROW_MSG(kehu__v1__txn__descriptor,
    "id,customer_id,date,amount_minor,has_margin,margin_minor,product,category,channel,"
    "created_at_ms,created_by,on_credit,due,reverses_id,reversed_by_id,reason");

static Kehu__V1__Txn *txn_from_row(struct req *r, const struct db_result *res, int stmt, int row)
{
    return row_msg(r, &txn_row, res, stmt, row, 0);
}

/* One statement: the transaction, and the customer's revenue moves with it,
 * and its balance (what it owes) with a sale on credit (the customer's
 * trigger announces the change). */
static struct db_stmt txn_insert = DB_STMT(
    "WITH t AS (INSERT INTO txn (branch_id, customer_id, date, amount, margin, product, category, channel,"
    " created_by, on_credit, due) SELECT c.branch_id, c.id, coalesce($2::date, current_date), $3::numeric,"
    " $4::numeric, $5, $6, $7, $8, $9::boolean, $10::date FROM customer c WHERE c.id = $1 RETURNING *),"
    " up AS (UPDATE customer c SET revenue = c.revenue + t.amount,"
    "  balance = c.balance + CASE WHEN t.on_credit THEN t.amount ELSE 0 END, updated_at = now(), updated_by = $8"
    "  FROM t WHERE c.id = t.customer_id)"
    " SELECT " TXN_COLUMNS " FROM t LEFT JOIN app_user u ON u.id = t.created_by");

static void txn_added(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK) {
        if (strcmp(res->sqlstate, "22003") == 0)
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "amount_minor", "amount out of range");
        else
            req_fail_db(r, res);
        return;
    }
    Kehu__V1__Txn *t = txn_from_row(r, res, 0, 0);
    log_info(r->conn->id, r->id, "transaction %lld for customer %lld", (long long)t->id, (long long)t->customer_id);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_TXN, t);
}

#define MONEY_LIMIT 1000000000000000LL /* 10^13 yuan in fen: numeric(18,2) holds it */

static void txn_add_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__Txn *t = r->msg->txn_add->txn;
    const char *why;
    if (t->date && *t->date && (why = validate_date(t->date))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "date", "date %s", why);
        return;
    }
    if (t->amount_minor == 0 || t->amount_minor >= MONEY_LIMIT || t->amount_minor <= -MONEY_LIMIT) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "amount",
                 t->amount_minor == 0 ? "the amount must not be zero" : "the amount is out of range");
        return;
    }
    if (t->has_margin && (t->margin_minor >= MONEY_LIMIT || t->margin_minor <= -MONEY_LIMIT)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "margin", "the margin is out of range");
        return;
    }
    char today[11]; /* a sale on credit is dated here, to compare it with its due date */
    validate_today(today);
    const char *date = t->date && *t->date ? t->date : t->on_credit ? today : NULL;
    if (t->on_credit) {
        if (!t->due || !*t->due) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "due", "a sale on credit needs the date payment is due");
            return;
        }
        if ((why = validate_date(t->due))) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "due", "due %s", why);
            return;
        }
        if (strcmp(t->due, date) < 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "due", "due %s is before the transaction's date %s", t->due,
                     date);
            return;
        }
        if (t->amount_minor < 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "on_credit", "a refund cannot be on credit");
            return;
        }
    } else if (t->due && *t->due) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "due", "a due date is only for a sale on credit");
        return;
    }
    const char *fields[] = { t->product, t->category, t->channel };
    static const char *const names[] = { "product", "category", "channel" };
    for (int i = 0; i < 3; i++)
        if (fields[i] && (why = validate_line(fields[i], 200))) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, names[i], "%s %s", names[i], why);
            return;
        }
    const char *p[] = { rpc_num(r, ref->id),
                        date,
                        rpc_money_sql(&r->arena, t->amount_minor),
                        t->has_margin ? rpc_money_sql(&r->arena, t->margin_minor) : NULL,
                        t->product && *t->product ? t->product : NULL,
                        t->category && *t->category ? t->category : NULL,
                        t->channel && *t->channel ? t->channel : NULL,
                        rpc_num(r, req_who(r)->user_id),
                        t->on_credit ? "true" : "false",
                        t->on_credit ? t->due : NULL };
    audit_query(r, &txn_insert, 10, p, txn_added);
}

static void txn_add(struct req *r)
{
    const Kehu__V1__TxnAdd *m = r->msg->txn_add;
    if (!m || !m->txn) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "txn", "the transaction is missing");
        return;
    }
    rpc_customer_load(r, m->txn->customer_id, ACT_CUSTOMER_WRITE, txn_add_loaded);
}

const struct rpc_entry rpc_txn_add = { KEHU__V1__REQUEST__OP_TXN_ADD, "txn_add", ACT_CUSTOMER_WRITE, 0, txn_add };

/* Newest first; the cursor is the last row's "date/id"; after TXN_COLUMNS
 * the count from the cursor on. */
static struct db_stmt txn_list_stmt = DB_STMT(
    "SELECT " TXN_COLUMNS ", count(*) OVER () FROM txn t LEFT JOIN app_user u ON u.id = t.created_by WHERE t.customer_id = $1"
    " AND ($3::date IS NULL OR (t.date, t.id) < ($3::date, $4::bigint)) ORDER BY t.date DESC, t.id DESC LIMIT $2");

struct txn_page {
    uint32_t limit;
};

static void txns_listed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    struct txn_page *pg = r->state;
    if (!req_db_ok(r, res))
        return;
    int n = db_rows(res, 0), shown = n > (int)pg->limit ? (int)pg->limit : n;
    Kehu__V1__Txns *list = arena_alloc(&r->arena, sizeof *list);
    kehu__v1__txns__init(list);
    list->txns = arena_alloc(&r->arena, sizeof *list->txns * (size_t)(shown ? shown : 1));
    for (int i = 0; i < shown; i++)
        list->txns[list->n_txns++] = txn_from_row(r, res, 0, i);
    list->next_cursor = n > shown ? arena_printf(&r->arena, "%s/%lld", list->txns[shown - 1]->date,
                                                 (long long)list->txns[shown - 1]->id)
                                  : "";
    if (n > shown)
        list->remaining = (uint32_t)(db_get_i64(res, 0, 0, TXN_NCOLS) - shown);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_TXNS, list);
}

static void txn_list_loaded(struct req *r, const struct rpc_customer_ref *ref)
{
    const Kehu__V1__TxnList *m = r->msg->txn_list;
    struct txn_page *pg = arena_alloc(&r->arena, sizeof *pg);
    r->state = pg;
    pg->limit = m->limit && m->limit <= 1000 ? m->limit : 100;
    const char *date = NULL, *id = NULL;
    if (m->after && *m->after) {
        char *slash = strchr(m->after, '/');
        int64_t check;
        if (!slash || slash - m->after != 10) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "after", "not a cursor this server gave");
            return;
        }
        date = arena_printf(&r->arena, "%.10s", m->after);
        id = slash + 1;
        if (validate_date(date) || parse_i64(id, &check) < 0) {
            req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "after", "not a cursor this server gave");
            return;
        }
    }
    const char *p[] = { rpc_num(r, ref->id), arena_printf(&r->arena, "%u", pg->limit + 1), date, id };
    db_query(r->srv->db, &txn_list_stmt, 4, p, txns_listed, r);
}

static void txn_list(struct req *r)
{
    const Kehu__V1__TxnList *m = r->msg->txn_list;
    rpc_customer_load(r, m ? m->customer_id : 0, ACT_CUSTOMER_READ, txn_list_loaded);
}

const struct rpc_entry rpc_txn_list = { KEHU__V1__REQUEST__OP_TXN_LIST, "txn_list", ACT_CUSTOMER_READ, 0, txn_list };

/* ---- TxnReverse: a wrong transaction corrected by a row negating it
 * (txn_reverse in sql/0015), never edited in place */

#define REASON_MAX 500

static struct db_stmt txn_owner_stmt = DB_STMT("SELECT customer_id FROM txn WHERE id = $1");
static struct db_stmt txn_reverse_stmt = DB_STMT("SELECT txn_reverse($1, $2, $3)");
static struct db_stmt txn_reversal_stmt = DB_STMT(
    "SELECT " TXN_COLUMNS " FROM txn t LEFT JOIN app_user u ON u.id = t.created_by WHERE t.reverses = $1");

static const char *txn_missing(struct req *r)
{
    return arena_printf(&r->arena, "no transaction %lld", (long long)r->msg->txn_reverse->id);
}

static void txn_reversed(struct req *r, const struct db_result *res, int stmt)
{
    Kehu__V1__Txn *t = txn_from_row(r, res, stmt, 0);
    log_info(r->conn->id, r->id, "transaction %lld reversed by %lld", (long long)t->reverses_id, (long long)t->id);
    req_reply_result(r, KEHU__V1__RESPONSE__RESULT_TXN, t);
}

static const struct rpc_reversal txn_reversal = { &txn_owner_stmt, &txn_reverse_stmt, &txn_reversal_stmt, txn_missing,
                                                  txn_reversed };

static void txn_reverse(struct req *r)
{
    const Kehu__V1__TxnReverse *m = r->msg->txn_reverse;
    const char *why;
    if (!m || m->id <= 0) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "the transaction's id is required");
        return;
    }
    if (!m->reason || !*m->reason) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "a reason is required");
        return;
    }
    if ((why = validate_line(m->reason, REASON_MAX))) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "reason", "reason %s", why);
        return;
    }
    rpc_reverse(r, &txn_reversal, m->id, m->reason);
}

const struct rpc_entry rpc_txn_reverse = { KEHU__V1__REQUEST__OP_TXN_REVERSE, "txn_reverse", ACT_CUSTOMER_WRITE, 0,
                                           txn_reverse };
