/* A customer's contacts and transactions: contact add|list|edit, txn
 * add|list. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define TXN_LIMIT_MAX 1000
#define NAME_COLS 24

enum {
    O_NAME = 0x100,
    O_TITLE,
    O_PHONE,
    O_EMAIL,
    O_KEY,
    O_AMOUNT,
    O_DATE,
    O_MARGIN,
    O_PRODUCT,
    O_CATEGORY,
    O_CHANNEL,
    O_LIMIT,
    O_AFTER,
    O_ALL,
    O_ON_CREDIT,
    O_DUE,
};

/* ---- Contacts ------------------------------------------------------------------------ */

static void json_contact(struct json_w *w, const void *item)
{
    const Kehu__V1__Contact *c = item;
    char created[OUT_TIME_BUFSZ];
    out_time_ms(c->created_at_ms, created, sizeof created);
    json_begin_object(w);
    json_kint(w, "id", c->id);
    json_kint(w, "customer_id", c->customer_id);
    json_kint(w, "version", c->version);
    json_kstr(w, "name", c->name);
    json_kstr(w, "title", c->title);
    cmd_customer_json_strs(w, "phones", c->phones, c->n_phones);
    json_kstr(w, "email", c->email);
    json_kbool(w, "key_person", c->key_person);
    json_kstr(w, "created_at", *created ? created : NULL);
    json_end_object(w);
}

static void csv_contact(const void *item)
{
    const Kehu__V1__Contact *c = item;
    char id[24], cust[24], ver[24], created[OUT_TIME_BUFSZ];
    snprintf(id, sizeof id, "%" PRId64, c->id);
    snprintf(cust, sizeof cust, "%" PRId64, c->customer_id);
    snprintf(ver, sizeof ver, "%" PRId64, c->version);
    out_time_ms(c->created_at_ms, created, sizeof created);
    char *phones = cmd_customer_join(c->phones, c->n_phones, ",");
    const char *row[] = { id,     cust,     ver, c->name, c->title, phones, c->email,
                          c->key_person ? "true" : "false", created };
    cli_csv_row(stdout, 9, row);
    free(phones);
}

static void table_contacts(void *const *items, size_t n)
{
    static const char *const head[] = { "ID", "NAME", "TITLE", "PHONES", "EMAIL", "KEY" };
    struct out_table *t = out_table_new(6, head);
    out_table_empty(t, "no contacts");
    out_table_align(t, 0, OUT_RIGHT);
    out_table_max_width(t, 1, NAME_COLS);
    out_table_max_width(t, 2, NAME_COLS);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__Contact *c = items[i];
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, c->id);
        char *phones = cmd_customer_join(c->phones, c->n_phones, ", ");
        const char *row[] = { id, c->name, c->title, phones, c->email, c->key_person ? "yes" : "" };
        out_table_add(t, row);
        free(phones);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static const char *const contact_csv_head[] = { "id",     "customer_id", "version",    "name",      "title",
                                                "phones", "email",       "key_person", "created_at" };

static const struct cli_record_kind contact_kind = {
    json_contact, 9, contact_csv_head, csv_contact, table_contacts, NULL,
};

/* Contacts: one (list = 0) or a list, as JSON, CSV or a table. */
static void print_contacts(struct cli *cli, Kehu__V1__Contact *const *cs, size_t n, int list)
{
    cli_print_records(cli, (void *const *)cs, n, list, &contact_kind);
}

static int run_contact_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "name", required_argument, NULL, O_NAME },
        { "title", required_argument, NULL, O_TITLE },
        { "phone", required_argument, NULL, O_PHONE },
        { "email", required_argument, NULL, O_EMAIL },
        { "key", no_argument, NULL, O_KEY },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__Contact contact = KEHU__V1__CONTACT__INIT;
    Kehu__V1__ContactAdd add = KEHU__V1__CONTACT_ADD__INIT;
    char **phones = out_xcalloc((size_t)argc, sizeof *phones); /* each points into argv */
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_NAME: contact.name = optarg; break;
        case O_TITLE: contact.title = optarg; break;
        case O_PHONE: phones[contact.n_phones++] = optarg; break;
        case O_EMAIL: contact.email = optarg; break;
        case O_KEY: contact.key_person = 1; break;
        default: rc = cli->opt_rc; break;
        }
    }
    if (rc == CLI_OK)
        rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &add.customer_id);
    if (rc == CLI_OK && (!contact.name || !*contact.name))
        rc = cli_usage_error(cli, "--name is required");
    if (rc == CLI_OK) {
        contact.phones = phones;
        contact.customer_id = add.customer_id;
        add.contact = &contact;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CONTACT_ADD;
        req.contact_add = &add;
        Kehu__V1__Response *resp;
        rc = cli_call(cli, &req, &resp);
        if (rc == CLI_OK && (resp->result_case != KEHU__V1__RESPONSE__RESULT_CONTACT || !resp->contact)) {
            rc = cli_bad_reply(cli, resp);
        } else if (rc == CLI_OK) {
            const Kehu__V1__Contact *r = resp->contact;
            if (cli->json || cli->csv)
                print_contacts(cli, &resp->contact, 1, 0);
            else
                cli_say("added contact %" PRId64 " %s to customer %" PRId64 "\n", r->id, r->name, r->customer_id);
            kehu_response_free(resp);
        }
    }
    free(phones);
    return rc;
}

static int contact_page(const Kehu__V1__Response *resp, void *const **items, size_t *n, const char **next,
                        uint32_t *remaining)
{
    const Kehu__V1__Contacts *l = resp->contacts;
    if (!l)
        return -1;
    *items = (void *const *)l->contacts;
    *n = l->n_contacts;
    *next = l->next_cursor;
    *remaining = l->remaining;
    return 0;
}

static int run_contact_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = { CLI_PAGING_OPTIONS, { NULL, 0, NULL, 0 } };
    struct cli_paging pg = { 0 };
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1)
        if ((rc = cli_page_option(cli, c, optarg, 1000, &pg)) != CLI_OK)
            return rc < 0 ? cli->opt_rc : rc;
    Kehu__V1__ContactList list = KEHU__V1__CONTACT_LIST__INIT;
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &list.customer_id)))
        return rc;
    list.limit = pg.limit;
    list.after = (char *)(pg.after ? pg.after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CONTACT_LIST;
    req.contact_list = &list;
    struct cli_pages pages = { 0 };
    rc = cli_fetch_pages(cli, &req, KEHU__V1__RESPONSE__RESULT_CONTACTS, &list.after, pg.all, contact_page, &pages);
    if (rc == CLI_OK) {
        print_contacts(cli, (Kehu__V1__Contact **)pages.items, pages.n, 1);
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, list.customer_id);
        const char *words[] = { "contact", "list", id, "--limit", pg.limit_arg };
        cli_page_more(cli, words, pg.limit_arg ? 5 : 3, pages.next, pages.remaining);
    }
    cli_pages_free(&pages);
    return rc;
}

static int run_contact_edit(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__ContactEdit edit = KEHU__V1__CONTACT_EDIT__INIT;
    int rc = cli_parse_edit(cli, argc, argv, "CONTACT_ID", "kehu contact list CUSTOMER_ID", &edit.id, &edit.version,
                            &edit.set, &edit.n_set);
    if (rc == CLI_OK) {
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CONTACT_EDIT;
        req.contact_edit = &edit;
        Kehu__V1__Response *resp;
        struct kehu_status st;
        rc = cmd_customer_call(cli, &req, &resp, &st);
        if (rc == CLI_REFUSED && resp) {
            const Kehu__V1__Contact *cur = resp->result_case == KEHU__V1__RESPONSE__RESULT_CONTACT ? resp->contact : NULL;
            rc = cli_explain_stale(cli, resp, &st, "contact", edit.id, edit.version, cur, cur ? cur->version : 0,
                                   &contact_kind);
        } else if (rc == CLI_OK && (resp->result_case != KEHU__V1__RESPONSE__RESULT_CONTACT || !resp->contact)) {
            rc = cli_bad_reply(cli, resp);
        } else if (rc == CLI_OK) {
            if (cli->json || cli->csv)
                print_contacts(cli, &resp->contact, 1, 0);
            else
                cli_say("contact %" PRId64 " updated to version %" PRId64 "\n", resp->contact->id,
                        resp->contact->version);
            kehu_response_free(resp);
        }
    }
    cmd_customer_free_set(edit.set, edit.n_set);
    return rc;
}

/* ---- Transactions ---------------------------------------------------------------------- */

static void json_txn(struct json_w *w, const void *item)
{
    const Kehu__V1__Txn *t = item;
    char created[OUT_TIME_BUFSZ];
    out_time_ms(t->created_at_ms, created, sizeof created);
    json_begin_object(w);
    json_kint(w, "id", t->id);
    json_kint(w, "customer_id", t->customer_id);
    json_kstr(w, "date", t->date);
    json_kmoney(w, "amount", t->amount_minor);
    if (t->has_margin)
        json_kmoney(w, "margin", t->margin_minor);
    else
        json_knull(w, "margin");
    json_kstr(w, "product", t->product);
    json_kstr(w, "category", t->category);
    json_kstr(w, "channel", t->channel);
    json_kstr(w, "created_at", *created ? created : NULL);
    json_kstr(w, "created_by", t->created_by);
    json_kbool(w, "on_credit", t->on_credit);
    json_kstr(w, "due", *t->due ? t->due : NULL);
    if (t->reverses_id)
        json_kint(w, "reverses_id", t->reverses_id);
    else
        json_knull(w, "reverses_id");
    if (t->reversed_by_id)
        json_kint(w, "reversed_by_id", t->reversed_by_id);
    else
        json_knull(w, "reversed_by_id");
    json_kstr(w, "reason", *t->reason ? t->reason : NULL);
    json_end_object(w);
}

static void csv_txn(const void *item)
{
    const Kehu__V1__Txn *t = item;
    char id[24], cust[24], amount[OUT_MONEY_BUFSZ], margin[OUT_MONEY_BUFSZ] = "", created[OUT_TIME_BUFSZ];
    char rev[24] = "", revby[24] = "";
    if (t->reverses_id)
        snprintf(rev, sizeof rev, "%" PRId64, t->reverses_id);
    if (t->reversed_by_id)
        snprintf(revby, sizeof revby, "%" PRId64, t->reversed_by_id);
    snprintf(id, sizeof id, "%" PRId64, t->id);
    snprintf(cust, sizeof cust, "%" PRId64, t->customer_id);
    out_money_format(t->amount_minor, amount, sizeof amount);
    if (t->has_margin)
        out_money_format(t->margin_minor, margin, sizeof margin);
    out_time_ms(t->created_at_ms, created, sizeof created);
    const char *row[] = { id,      cust,          t->date, amount, margin, t->product, t->category, t->channel,
                          created, t->created_by, t->on_credit ? "true" : "false", t->due, rev, revby, t->reason };
    cli_csv_row(stdout, 15, row);
}

static void table_txns(void *const *items, size_t n)
{
    static const char *const head[] = { "ID",      "DATE",    "AMOUNT",     "MARGIN",  "PRODUCT",
                                        "CATEGORY", "CHANNEL", "CREDIT DUE", "REVERSAL" };
    struct out_table *tab = out_table_new(9, head);
    out_table_empty(tab, "no transactions");
    out_table_align(tab, 0, OUT_RIGHT);
    out_table_align(tab, 2, OUT_RIGHT);
    out_table_align(tab, 3, OUT_RIGHT);
    out_table_max_width(tab, 4, NAME_COLS);
    out_table_max_width(tab, 8, NAME_COLS);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__Txn *t = items[i];
        char id[24], amount[OUT_MONEY_BUFSZ], margin[OUT_MONEY_BUFSZ] = "", rev[600] = "";
        snprintf(id, sizeof id, "%" PRId64, t->id);
        out_money_format(t->amount_minor, amount, sizeof amount);
        if (t->has_margin)
            out_money_format(t->margin_minor, margin, sizeof margin);
        if (t->reverses_id)
            snprintf(rev, sizeof rev, "reverses %" PRId64 ": %s", t->reverses_id, t->reason);
        else if (t->reversed_by_id)
            snprintf(rev, sizeof rev, "reversed by %" PRId64, t->reversed_by_id);
        const char *row[] = { id, t->date, amount, margin, t->product, t->category, t->channel, t->due, rev };
        out_table_add(tab, row);
    }
    out_table_print(tab, stdout);
    out_table_free(tab);
}

static const char *const txn_csv_head[] = { "id",        "customer_id", "date",       "amount",     "margin",
                                            "product",   "category",    "channel",    "created_at", "created_by",
                                            "on_credit", "due",         "reverses_id", "reversed_by_id", "reason" };

static const struct cli_record_kind txn_kind = { json_txn, 15, txn_csv_head, csv_txn, table_txns, NULL };

/* Transactions: one (list = 0) or a list, as JSON, CSV or a table. */
static void print_txns(struct cli *cli, Kehu__V1__Txn *const *ts, size_t n, int list)
{
    cli_print_records(cli, (void *const *)ts, n, list, &txn_kind);
}

void cmd_contact_print_txn(struct cli *cli, Kehu__V1__Txn *t)
{
    print_txns(cli, &t, 1, 0);
}

static int run_txn_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "amount", required_argument, NULL, O_AMOUNT },
        { "date", required_argument, NULL, O_DATE },
        { "margin", required_argument, NULL, O_MARGIN },
        { "product", required_argument, NULL, O_PRODUCT },
        { "category", required_argument, NULL, O_CATEGORY },
        { "channel", required_argument, NULL, O_CHANNEL },
        { "on-credit", no_argument, NULL, O_ON_CREDIT },
        { "due", required_argument, NULL, O_DUE },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__Txn txn = KEHU__V1__TXN__INIT;
    int c, rc = CLI_OK, have_amount = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_AMOUNT:
            rc = cli_parse_amount(cli, "--amount", optarg, &txn.amount_minor);
            have_amount = 1;
            break;
        case O_DATE:
            rc = cmd_customer_check_date(cli, "--date", optarg);
            txn.date = optarg;
            break;
        case O_MARGIN:
            rc = cli_parse_amount(cli, "--margin", optarg, &txn.margin_minor);
            txn.has_margin = 1;
            break;
        case O_PRODUCT: txn.product = optarg; break;
        case O_CATEGORY: txn.category = optarg; break;
        case O_CHANNEL: txn.channel = optarg; break;
        case O_ON_CREDIT: txn.on_credit = 1; break;
        case O_DUE:
            rc = cli_parse_due(cli, "--due", optarg, &txn.due);
            break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &txn.customer_id)))
        return rc;
    if (!have_amount)
        return cli_usage_error(cli, "--amount is required");
    if (txn.on_credit && !*txn.due)
        return cli_usage_error(cli, "--on-credit needs --due DATE (when payment is due)");
    if (!txn.on_credit && *txn.due)
        return cli_usage_error(cli, "--due is only for a sale --on-credit");
    Kehu__V1__TxnAdd add = KEHU__V1__TXN_ADD__INIT;
    add.txn = &txn;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_ADD;
    req.txn_add = &add;
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_TXN || !resp->txn)
        return cli_bad_reply(cli, resp);
    if (cli->json || cli->csv) {
        print_txns(cli, &resp->txn, 1, 0);
    } else {
        char amount[OUT_MONEY_BUFSZ];
        out_money_format(resp->txn->amount_minor, amount, sizeof amount);
        cli_say("added transaction %" PRId64 ": %s %s%s%s\n", resp->txn->id, resp->txn->date, amount,
                resp->txn->on_credit ? " on credit, due " : "", resp->txn->on_credit ? resp->txn->due : "");
    }
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_txn_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "limit", required_argument, NULL, O_LIMIT },
        { "after", required_argument, NULL, O_AFTER },
        { "all", no_argument, NULL, O_ALL },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__TxnList list = KEHU__V1__TXN_LIST__INIT;
    const char *limit_arg = NULL;
    int64_t limit = 0;
    int c, rc, all = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == O_LIMIT) {
            if ((rc = cmd_customer_parse_int(cli, "--limit", optarg, 1, TXN_LIMIT_MAX, &limit)))
                return rc;
            limit_arg = optarg;
        } else if (c == O_AFTER) {
            list.after = optarg;
        } else if (c == O_ALL) {
            all = 1;
        } else {
            return cli->opt_rc;
        }
    }
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &list.customer_id)))
        return rc;
    list.limit = (uint32_t)limit;

    /* every page is kept until the whole list is printed */
    Kehu__V1__Response **resps = NULL;
    Kehu__V1__Txn **items = NULL;
    size_t nresp = 0, n = 0;
    const char *next = NULL;
    uint32_t remaining = 0;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_LIST;
    req.txn_list = &list;
    for (;;) {
        Kehu__V1__Response *resp;
        if ((rc = cli_call(cli, &req, &resp)))
            break;
        const Kehu__V1__Txns *page = resp->txns;
        if (resp->result_case != KEHU__V1__RESPONSE__RESULT_TXNS || !page ||
            (page->next_cursor[0] && list.after && strcmp(page->next_cursor, list.after) == 0)) {
            rc = cli_bad_reply(cli, resp); /* a cursor that goes nowhere would loop forever */
            break;
        }
        resps = out_xrealloc(resps, (nresp + 1) * sizeof *resps);
        resps[nresp++] = resp;
        if (page->n_txns) {
            items = out_xrealloc(items, (n + page->n_txns) * sizeof *items);
            memcpy(items + n, page->txns, page->n_txns * sizeof *items);
            n += page->n_txns;
        }
        next = page->next_cursor[0] ? page->next_cursor : NULL;
        remaining = page->remaining;
        if (!all || !next)
            break;
        list.after = page->next_cursor;
    }
    if (rc == CLI_OK) {
        print_txns(cli, items, n, 1);
        if (next) {
            char id[24];
            snprintf(id, sizeof id, "%" PRId64, list.customer_id);
            const char *words[] = { "txn", "list", id, "--limit", limit_arg };
            cli_page_more(cli, words, limit_arg ? 5 : 3, next, remaining);
        }
    }
    for (size_t i = 0; i < nresp; i++)
        kehu_response_free(resps[i]);
    free(resps);
    free(items);
    return rc;
}

const struct cli_cmd cmd_contact_table[] = {
    { "contact add", "CUSTOMER_ID --name N [--title T] [--phone P]... [--email E] [--key]",
      N_("add a contact person to a customer (--key: a key decision maker)"), 1, run_contact_add },
    { "contact list", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]", N_("a customer's contacts"), 1, run_contact_list },
    { "contact edit", "CONTACT_ID --version V --set FIELD=VALUE...", N_("change a contact's fields"), 1,
      run_contact_edit },
    { "txn add",
      "CUSTOMER_ID --amount AMOUNT [--date DATE] [--margin AMOUNT] [--product P] [--category C] [--channel CH] "
      "[--on-credit --due DATE]",
      N_("record a transaction (a negative amount is a refund; on credit it adds to the balance owed)"), 1, run_txn_add },
    { "txn list", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]", N_("a customer's transactions"), 1,
      run_txn_list },
    { NULL, NULL, NULL, 0, NULL },
};
