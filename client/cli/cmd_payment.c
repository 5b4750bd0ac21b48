/* Payments, arrears and asset snapshots: payment add|list, arrears, asset
 * add|list. Money stays in integer minor units from the command line to the
 * screen (out_money_parse, out_money_text, json_kmoney). */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define NOTE_COLS 40

enum {
    O_AMOUNT = 0x100,
    O_DATE,
    O_METHOD,
    O_REFERENCE,
    O_NOTE,
    O_BALANCE,
    O_PRODUCT,
    O_AS_OF,
};

/* ---- Payments ------------------------------------------------------------------------------ */

static const struct rec_calc reversal_calc[] = { { "reversal", NULL, cli_reversal_text }, { NULL, NULL, NULL } };

#define PAYMENT_FIELDS \
    "id customer_id date amount_minor method reference note created_at_ms created_by reverses_id? reversed_by_id? " \
    "reason?"
static const struct rec_col payment_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("DATE"), "date", OUT_LEFT, 0 },
    { N_("AMOUNT"), "amount_minor", OUT_RIGHT, 0 }, { N_("METHOD"), "method", OUT_LEFT, 0 },
    { N_("REFERENCE"), "reference", OUT_LEFT, 0 }, { N_("NOTE"), "note", OUT_LEFT, NOTE_COLS },
    { N_("REVERSAL"), "@reversal", OUT_LEFT, NOTE_COLS }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind payment_rec = {
    &kehu__v1__payment__descriptor, PAYMENT_FIELDS, payment_cols, N_("no payments"), reversal_calc,
};
/* A payment just recorded also says the balance it left. */
static const struct rec_kind added_payment_rec = {
    &kehu__v1__payment__descriptor, PAYMENT_FIELDS " +balance_minor", payment_cols, N_("no payments"), reversal_calc,
};
static const struct cli_record_kind payment_kind = { .rec = &payment_rec };
static const struct cli_record_kind added_payment_kind = { .rec = &added_payment_rec };

/* A payment just recorded, for people: the balance it left. */
static void say_payment(const void *item)
{
    const Kehu__V1__Payment *p = item;
    char amount[OUT_MONEY_TEXT_BUFSZ], balance[OUT_MONEY_TEXT_BUFSZ];
    out_money_text(p->amount_minor, amount, sizeof amount);
    out_money_text(p->balance_minor, balance, sizeof balance);
    cli_say("recorded payment %" PRId64 ": %s %s (%s); balance now %s%s\n", p->id, p->date, amount, p->method, balance,
            p->balance_minor < 0 ? " (credit on account)" : "");
}

static const struct cli_record_kind recorded_payment_kind = { .rec = &added_payment_rec, .one = say_payment };

/* An add (a payment, an asset snapshot): the options into record, its
 * CUSTOMER_ID, the money option `required` (the usage error `missing`, N_()
 * marked, without it); then m (op, holding record) sent and the record it
 * answers with printed as k says. */
static int add_record(struct cli *cli, int argc, char **argv, const struct cli_flag *flags, void *record,
                      int64_t *customer_id, const char *required, const char *missing, int op, void *m,
                      Kehu__V1__Response__ResultCase want, const struct cli_record_kind *k)
{
    struct cmd_words given = { .n = 0 };
    int rc;
    if ((rc = cli_flags(cli, argc, argv, ((ProtobufCMessage *)record)->descriptor, flags, record, NULL, &given)))
        return rc;
    int have = cli_flag_given(&given, required);
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", customer_id)))
        return rc;
    if (!have)
        return cli_usage_error(cli, "%s", _(missing));
    return cli_ask_print(cli, op, m, want, k, NULL);
}

static int check_method(struct cli *cli, const char *flag, const char *value)
{
    static const char *const methods[] = { "cash", "transfer", "card", "cheque", "other" };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(value, methods[i]) == 0)
            return CLI_OK;
    return cli_usage_error(cli, "--method: expected cash, transfer, card, cheque or other, not '%s'", value);
}

static int run_payment_add(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "amount", "amount_minor", 0, 0, NULL, 0 }, { "date", NULL, 0, 0, cli_check_date, 0 },
        { "method", NULL, 0, 0, check_method, 0 },  { "reference", NULL, 0, 0, NULL, 0 },
        { "note", NULL, 0, 0, NULL, 0 },            { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__Payment pay = KEHU__V1__PAYMENT__INIT;
    Kehu__V1__PaymentAdd add = KEHU__V1__PAYMENT_ADD__INIT;
    add.payment = &pay;
    return add_record(cli, argc, argv, flags, &pay, &pay.customer_id, "--amount", N_("--amount is required"),
                      KEHU__V1__REQUEST__OP_PAYMENT_ADD, &add, KEHU__V1__RESPONSE__RESULT_PAYMENT,
                      &recorded_payment_kind);
}

CLI_LIST_COMMAND(run_payment_list, KEHU__V1__REQUEST__OP_PAYMENT_LIST, &kehu__v1__payment_list__descriptor,
                 "CUSTOMER_ID", "customer_id", KEHU__V1__RESPONSE__RESULT_PAYMENTS, "payments", &payment_kind, NULL)

/* ---- Arrears ------------------------------------------------------------------------------- */

/* paid_on_time / credit_txns in ten-thousandths, rounded half up; -1 without credit history.
 * Integer arithmetic: the same ratio on every machine. */
static int64_t on_time_e4(const Kehu__V1__Arrears *a)
{
    if (a->credit_txns <= 0)
        return -1;
    return (a->paid_on_time * 10000 + a->credit_txns / 2) / a->credit_txns;
}

/* a share, not money: 4 decimals, as report shares are numbers */
static void json_on_time(struct json_w *w, const void *msg)
{
    int64_t ratio = on_time_e4(msg);
    if (ratio < 0)
        json_null(w);
    else
        json_double(w, (double)ratio / 10000);
}

static char *text_on_time(const void *msg)
{
    int64_t ratio = on_time_e4(msg);
    char r[24] = "";
    if (ratio >= 0)
        snprintf(r, sizeof r, "%" PRId64 ".%04" PRId64, ratio / 10000, ratio % 10000);
    return out_xstrdup(r);
}

static void arrears_kv(const void *item)
{
    const Kehu__V1__Arrears *a = item;
    int64_t ratio = on_time_e4(a);
    char bal[OUT_MONEY_TEXT_BUFSZ];
    out_money_text(a->balance_minor, bal, sizeof bal);
    struct out_kv *kv = out_kv_new();
    out_kv_addf(kv, "customer", "%" PRId64, a->customer_id);
    out_kv_add(kv, "as of", a->as_of);
    out_kv_addf(kv, "balance", "%s%s", bal, a->balance_minor < 0 ? " (credit on account)" : "");
    out_kv_add(kv, "oldest unpaid due", *a->oldest_unpaid_due ? a->oldest_unpaid_due : "-");
    out_kv_addf(kv, "days overdue", "%" PRId32, a->days_overdue);
    if (ratio < 0) {
        out_kv_add(kv, "paid on time", "- (no credit due yet)");
    } else {
        int64_t pct = (ratio + 5) / 10; /* per mille */
        out_kv_addf(kv, "paid on time", "%" PRId64 " of %" PRId64 " (%" PRId64 ".%" PRId64 "%%)", a->paid_on_time,
                    a->credit_txns, pct / 10, pct % 10);
    }
    out_kv_print(kv, stdout);
    out_kv_free(kv);
}

static const struct rec_calc arrears_calc[] = { { "on_time_ratio", json_on_time, text_on_time }, { NULL, NULL, NULL } };
static const struct rec_kind arrears_rec = {
    &kehu__v1__arrears__descriptor,
    "customer_id as_of balance_minor oldest_unpaid_due? days_overdue credit_txns paid_on_time @on_time_ratio",
    NULL, NULL, arrears_calc,
};
static const struct cli_record_kind arrears_kind = { .rec = &arrears_rec, .one = arrears_kv };

static const struct cli_flag arrears_flags[] = { { "as-of", "as_of", 0, 0, cli_check_date, 0 },
                                                 { NULL, NULL, 0, 0, NULL, 0 } };
CLI_ONE_COMMAND(run_arrears, KEHU__V1__REQUEST__OP_ARREARS_GET, &kehu__v1__arrears_get__descriptor, "CUSTOMER_ID",
                "customer_id", KEHU__V1__RESPONSE__RESULT_ARREARS, &arrears_kind, arrears_flags)

/* ---- Asset snapshots ----------------------------------------------------------------------- */

#define ASSET_FIELDS "id customer_id date product balance_minor created_at_ms created_by updated_at_ms"
static const struct rec_col asset_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("DATE"), "date", OUT_LEFT, 0 }, { N_("PRODUCT"), "product", OUT_LEFT, 0 },
    { N_("BALANCE"), "balance_minor", OUT_RIGHT, 0 }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind asset_rec = {
    &kehu__v1__asset_snapshot__descriptor, ASSET_FIELDS, asset_cols, N_("no assets"), NULL,
};
/* A snapshot just recorded also says whether it replaced the day's. */
static const struct rec_kind added_asset_rec = {
    &kehu__v1__asset_snapshot__descriptor, ASSET_FIELDS " +replaced", asset_cols, N_("no assets"), NULL,
};
static const struct cli_record_kind asset_kind = { .rec = &asset_rec };

static int check_not_negative(struct cli *cli, const char *flag, const char *value)
{
    int64_t v;
    if (out_money_parse(value, &v) == 0 && v < 0)
        return cli_usage_error(cli, "%s: must not be negative", flag);
    return CLI_OK; /* a bad amount: said when it is read */
}

/* A snapshot just recorded, for people. */
static void say_asset(const void *item)
{
    const Kehu__V1__AssetSnapshot *a = item;
    char bal[OUT_MONEY_TEXT_BUFSZ];
    out_money_text(a->balance_minor, bal, sizeof bal);
    cli_say("%s asset snapshot %" PRId64 ": %s %s %s\n", a->replaced ? _("replaced") : _("recorded"), a->id, a->date,
            a->product, bal);
}

static const struct cli_record_kind recorded_asset_kind = { .rec = &added_asset_rec, .one = say_asset };

static int run_asset_add(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "balance", "balance_minor", 0, 0, check_not_negative, 0 },
        { "date", NULL, 0, 0, cli_check_date, 0 },
        { "product", NULL, 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__AssetSnapshot snap = KEHU__V1__ASSET_SNAPSHOT__INIT;
    Kehu__V1__AssetAdd add = KEHU__V1__ASSET_ADD__INIT;
    add.snapshot = &snap;
    return add_record(cli, argc, argv, flags, &snap, &snap.customer_id, "--balance", N_("--balance is required"),
                      KEHU__V1__REQUEST__OP_ASSET_ADD, &add, KEHU__V1__RESPONSE__RESULT_ASSET_SNAPSHOT,
                      &recorded_asset_kind);
}

static void assets_footer(struct cli *cli, const struct cli_pages *pages)
{
    const Kehu__V1__Assets *first = pages->resp[0]->assets;
    char aum[OUT_MONEY_TEXT_BUFSZ];
    out_money_text(first->aum_minor, aum, sizeof aum);
    if (*first->aum_date)
        cli_say("AUM today: %s (latest snapshot %s)\n", aum, first->aum_date);
    else
        cli_say("AUM today: %s (no snapshot yet)\n", aum);
}

CLI_LIST_COMMAND(run_asset_list, KEHU__V1__REQUEST__OP_ASSET_LIST, &kehu__v1__asset_list__descriptor, "CUSTOMER_ID",
                 "customer_id", KEHU__V1__RESPONSE__RESULT_ASSETS, "snapshots", &asset_kind, assets_footer)

/* ---- txn reverse | payment reverse: corrections by a negating row, never an edit of money */

struct reverse {
    const char *id_what, *noun; /* "TXN_ID", "transaction" */
    int op;
    const ProtobufCMessageDescriptor *desc; /* the op's message: id, reason */
    Kehu__V1__Response__ResultCase want;
    void (*done)(struct cli *cli, const Kehu__V1__Response *resp);
};

static int run_reverse(struct cli *cli, int argc, char **argv, const struct reverse *r)
{
    enum { O_REASON = 0x300 };
    static const struct option opts[] = {
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;
    int64_t id;
    const char *reason = NULL;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != O_REASON)
            return cli->opt_rc;
        reason = optarg;
    }
    if ((rc = cli_id_arg(cli, argc, argv, r->id_what, &id)))
        return rc;
    if (!reason || !*reason)
        return cli_usage_error(cli, "--reason is required: say why the %s is reversed", _(r->noun));
    union {
        Kehu__V1__TxnReverse txn;
        Kehu__V1__PaymentReverse payment;
    } m;
    protobuf_c_message_init(r->desc, &m);
    *(int64_t *)((char *)&m + protobuf_c_message_descriptor_get_field_by_name(r->desc, "id")->offset) = id;
    *(const char **)((char *)&m + protobuf_c_message_descriptor_get_field_by_name(r->desc, "reason")->offset) = reason;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, r->op, &m, r->want, &resp)))
        return rc;
    r->done(cli, resp);
    kehu_response_free(resp);
    return CLI_OK;
}

static void txn_reversed(struct cli *cli, const Kehu__V1__Response *resp)
{
    if (cli->json || cli->csv) {
        cmd_contact_print_txn(cli, resp->txn);
    } else {
        char amount[OUT_MONEY_TEXT_BUFSZ];
        out_money_text(resp->txn->amount_minor, amount, sizeof amount);
        cli_say("transaction %lld reversed by transaction %lld (%s)\n", (long long)resp->txn->reverses_id,
                (long long)resp->txn->id, amount);
    }
}

static void payment_reversed(struct cli *cli, const Kehu__V1__Response *resp)
{
    if (cli->json || cli->csv) {
        cli_print_records(cli, (void *const *)&resp->payment, 1, 0, &added_payment_kind);
    } else {
        char amount[OUT_MONEY_TEXT_BUFSZ], balance[OUT_MONEY_TEXT_BUFSZ];
        out_money_text(resp->payment->amount_minor, amount, sizeof amount);
        out_money_text(resp->payment->balance_minor, balance, sizeof balance);
        cli_say("payment %lld reversed by payment %lld (%s); the balance owed is now %s\n",
                (long long)resp->payment->reverses_id, (long long)resp->payment->id, amount, balance);
    }
}

static int run_txn_reverse(struct cli *cli, int argc, char **argv)
{
    static const struct reverse r = { "TXN_ID", "transaction", KEHU__V1__REQUEST__OP_TXN_REVERSE,
                                      &kehu__v1__txn_reverse__descriptor, KEHU__V1__RESPONSE__RESULT_TXN,
                                      txn_reversed };
    return run_reverse(cli, argc, argv, &r);
}

static int run_payment_reverse(struct cli *cli, int argc, char **argv)
{
    static const struct reverse r = { "PAYMENT_ID", "payment", KEHU__V1__REQUEST__OP_PAYMENT_REVERSE,
                                      &kehu__v1__payment_reverse__descriptor, KEHU__V1__RESPONSE__RESULT_PAYMENT,
                                      payment_reversed };
    return run_reverse(cli, argc, argv, &r);
}

const struct cli_cmd cmd_payment_table[] = {
    { "txn reverse", "TXN_ID --reason R",
      N_("correct a transaction: adds a row negating it, linked to it (money is never edited)"), 1, run_txn_reverse },
    { "payment reverse", "PAYMENT_ID --reason R",
      N_("correct a payment: adds a row negating it, linked to it (the balance owed goes back up)"), 1,
      run_payment_reverse },
    { "payment add",
      "CUSTOMER_ID --amount AMOUNT [--date DATE] [--method cash|transfer|card|cheque|other] [--reference R] "
      "[--note N]",
      N_("record a payment received (lowers the balance owed; more than owed leaves a credit)"), 1, run_payment_add },
    { "payment list", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]", N_("a customer's payments, newest first"), 1,
      run_payment_list },
    { "arrears", "CUSTOMER_ID [--as-of DATE]",
      N_("what a customer owes: balance, oldest unpaid due date, days overdue, share paid on time"), 1, run_arrears },
    { "asset add", "CUSTOMER_ID --balance AMOUNT [--date DATE] [--product P]",
      N_("record a balance held on a day (deposit, wealth, fund, insurance, other or a name; replaces the same day's)"), 1,
      run_asset_add },
    { "asset list", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]",
      N_("a customer's asset snapshots, newest first, and the AUM today"), 1, run_asset_list },
    { NULL, NULL, NULL, 0, NULL },
};
