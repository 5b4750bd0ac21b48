/* A customer's contacts and transactions: contact add|list|edit, txn
 * add|list. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

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
    O_ON_CREDIT,
    O_DUE,
};

/* ---- Contacts ------------------------------------------------------------------------ */

static const struct rec_col contact_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("NAME"), "name", OUT_LEFT, NAME_COLS },
    { N_("TITLE"), "title", OUT_LEFT, NAME_COLS }, { N_("PHONES"), "phones", OUT_LEFT, 0 },
    { N_("EMAIL"), "email", OUT_LEFT, 0 }, { NC_("contact", "KEY"), "key_person", OUT_LEFT, 0 }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind contact_rec = {
    &kehu__v1__contact__descriptor, "id customer_id version name title phones email key_person created_at_ms",
    contact_cols, N_("no contacts"), NULL,
};
static const struct cli_record_kind contact_kind = { .rec = &contact_rec };

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
        Kehu__V1__Response *resp;
        rc = cli_ask(cli, KEHU__V1__REQUEST__OP_CONTACT_ADD, &add, KEHU__V1__RESPONSE__RESULT_CONTACT, &resp);
        if (rc == CLI_OK) {
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

CLI_LIST_COMMAND(run_contact_list, KEHU__V1__REQUEST__OP_CONTACT_LIST, &kehu__v1__contact_list__descriptor,
                 "CUSTOMER_ID", "customer_id", KEHU__V1__RESPONSE__RESULT_CONTACTS, "contacts", &contact_kind, NULL)

static int run_contact_edit(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__ContactEdit edit = KEHU__V1__CONTACT_EDIT__INIT;
    int rc = cli_parse_edit(cli, argc, argv, "CONTACT_ID", "kehu contact list CUSTOMER_ID", &edit.id, &edit.version,
                            &edit.set, &edit.n_set);
    if (rc == CLI_OK) {
        Kehu__V1__Request req;
        cli_request(&req, KEHU__V1__REQUEST__OP_CONTACT_EDIT, &edit);
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

static const struct rec_calc reversal_calc[] = { { "reversal", NULL, cli_reversal_text }, { NULL, NULL, NULL } };
static const struct rec_col txn_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("DATE"), "date", OUT_LEFT, 0 },
    { N_("AMOUNT"), "amount_minor", OUT_RIGHT, 0 }, { N_("MARGIN"), "margin_minor?has_margin", OUT_RIGHT, 0 },
    { N_("PRODUCT"), "product", OUT_LEFT, NAME_COLS }, { N_("CATEGORY"), "category", OUT_LEFT, 0 },
    { N_("CHANNEL"), "channel", OUT_LEFT, 0 }, { N_("CREDIT DUE"), "due", OUT_LEFT, 0 },
    { N_("REVERSAL"), "@reversal", OUT_LEFT, NAME_COLS }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind txn_rec = {
    &kehu__v1__txn__descriptor,
    "id customer_id date amount_minor margin_minor?has_margin product category channel created_at_ms created_by "
    "on_credit due? reverses_id? reversed_by_id? reason?",
    txn_cols, N_("no transactions"), reversal_calc,
};
static const struct cli_record_kind txn_kind = { .rec = &txn_rec };

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
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_TXN_ADD, &add, KEHU__V1__RESPONSE__RESULT_TXN, &resp)))
        return rc;
    if (cli->json || cli->csv) {
        print_txns(cli, &resp->txn, 1, 0);
    } else {
        char amount[OUT_MONEY_TEXT_BUFSZ];
        out_money_text(resp->txn->amount_minor, amount, sizeof amount);
        cli_say("added transaction %" PRId64 ": %s %s%s%s\n", resp->txn->id, resp->txn->date, amount,
                resp->txn->on_credit ? " on credit, due " : "", resp->txn->on_credit ? resp->txn->due : "");
    }
    kehu_response_free(resp);
    return CLI_OK;
}

CLI_LIST_COMMAND(run_txn_list, KEHU__V1__REQUEST__OP_TXN_LIST, &kehu__v1__txn_list__descriptor, "CUSTOMER_ID",
                 "customer_id", KEHU__V1__RESPONSE__RESULT_TXNS, "txns", &txn_kind, NULL)

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
