/* Payments, arrears and asset snapshots: payment add|list, arrears, asset
 * add|list. Money stays in integer minor units from the command line to the
 * screen (out_money_parse, out_money_format, json_kmoney). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define LIMIT_MAX 1000
#define NOTE_COLS 40

enum {
    O_AMOUNT = 0x100,
    O_DATE,
    O_METHOD,
    O_REFERENCE,
    O_NOTE,
    O_BALANCE,
    O_PRODUCT,
    O_LIMIT,
    O_AFTER,
    O_ALL,
    O_AS_OF,
};

static int customer_arg(struct cli *cli, int argc, char **argv, int64_t *id)
{
    int rc = cli_args(cli, argc, argv, 1, 1);
    return rc ? rc : cmd_customer_parse_int(cli, "CUSTOMER_ID", argv[optind], 1, INT64_MAX, id);
}

/* An amount flag: minor units, or CLI_USAGE printed naming the flag. */
static int parse_amount(struct cli *cli, const char *flag, const char *s, int64_t *minor)
{
    if (out_money_parse(s, minor) == 0)
        return 0;
    if (errno == ERANGE)
        return cli_usage_error(cli, "%s: amount out of range: '%s'", flag, s);
    return cli_usage_error(cli, "%s: expected an amount like 1234.50, not '%s'", flag, s);
}

static void fmt_i64(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%" PRId64, v);
}

/* ---- Lists with pages: one request per page, every page kept until printed */

struct pages {
    Kehu__V1__Response **resps;
    size_t n;
    const char *next; /* the cursor after the last page fetched, NULL at the end */
};

static void pages_free(struct pages *p)
{
    for (size_t i = 0; i < p->n; i++)
        kehu_response_free(p->resps[i]);
    free(p->resps);
}

/* The list options shared by payment list and asset list. */
struct list_args {
    int64_t customer_id;
    uint32_t limit;
    const char *limit_arg, *after;
    int all;
};

static int parse_list(struct cli *cli, int argc, char **argv, struct list_args *a)
{
    static const struct option opts[] = {
        { "limit", required_argument, NULL, O_LIMIT },
        { "after", required_argument, NULL, O_AFTER },
        { "all", no_argument, NULL, O_ALL },
        { NULL, 0, NULL, 0 },
    };
    memset(a, 0, sizeof *a);
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == O_LIMIT) {
            int64_t limit;
            if ((rc = cmd_customer_parse_int(cli, "--limit", optarg, 1, LIMIT_MAX, &limit)))
                return rc;
            a->limit = (uint32_t)limit;
            a->limit_arg = optarg;
        } else if (c == O_AFTER) {
            a->after = optarg;
        } else if (c == O_ALL) {
            a->all = 1;
        } else {
            return cli->opt_rc;
        }
    }
    return customer_arg(cli, argc, argv, &a->customer_id);
}

/* The cursor of page resp (NULL when the reply is not the expected list). */
typedef const char *(*page_cursor_fn)(const Kehu__V1__Response *resp);

/* Fetches one page, or every page with --all; *after is the request's
 * cursor field, moved along. Returns 0 or the exit code after printing. */
static int fetch_pages(struct cli *cli, Kehu__V1__Request *req, char **after, int all, page_cursor_fn cursor,
                       struct pages *p)
{
    memset(p, 0, sizeof *p);
    for (;;) {
        Kehu__V1__Response *resp;
        int rc = cli_call(cli, req, &resp);
        if (rc)
            return rc;
        const char *next = cursor(resp);
        if (!next || (*next && *after && strcmp(next, *after) == 0))
            return cli_bad_reply(cli, resp); /* a cursor that goes nowhere would loop forever */
        p->resps = out_xrealloc(p->resps, (p->n + 1) * sizeof *p->resps);
        p->resps[p->n++] = resp;
        p->next = *next ? next : NULL;
        if (!all || !p->next)
            return CLI_OK;
        *after = (char *)p->next;
    }
}

static void more(struct cli *cli, const char *what, const struct list_args *a, const char *next)
{
    char id[24];
    fmt_i64(id, sizeof id, a->customer_id);
    const char *words[] = { what, "list", id, "--limit", a->limit_arg };
    cmd_customer_more(cli, words, a->limit_arg ? 5 : 3, next);
}

/* ---- Payments ------------------------------------------------------------------------------ */

static void json_payment(struct json_w *w, const Kehu__V1__Payment *p, int with_balance)
{
    char created[OUT_TIME_BUFSZ];
    out_time_ms(p->created_at_ms, created, sizeof created);
    json_begin_object(w);
    json_kint(w, "id", p->id);
    json_kint(w, "customer_id", p->customer_id);
    json_kstr(w, "date", p->date);
    json_kmoney(w, "amount", p->amount_minor);
    json_kstr(w, "method", p->method);
    json_kstr(w, "reference", p->reference);
    json_kstr(w, "note", p->note);
    json_kstr(w, "created_at", *created ? created : NULL);
    json_kstr(w, "created_by", p->created_by);
    if (with_balance)
        json_kmoney(w, "balance", p->balance_minor);
    json_end_object(w);
}

static void print_payments(struct cli *cli, Kehu__V1__Payment *const *ps, size_t n, int list)
{
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        if (list)
            json_begin_array(&w);
        for (size_t i = 0; i < n; i++)
            json_payment(&w, ps[i], !list);
        if (list)
            json_end_array(&w);
        return;
    }
    if (cli->csv) {
        static const char *const head[] = { "id",        "customer_id", "date",       "amount",    "method",
                                            "reference", "note",        "created_at", "created_by" };
        cli_csv_row(stdout, 9, head);
        for (size_t i = 0; i < n; i++) {
            const Kehu__V1__Payment *p = ps[i];
            char id[24], cust[24], amount[OUT_MONEY_BUFSZ], created[OUT_TIME_BUFSZ];
            fmt_i64(id, sizeof id, p->id);
            fmt_i64(cust, sizeof cust, p->customer_id);
            out_money_format(p->amount_minor, amount, sizeof amount);
            out_time_ms(p->created_at_ms, created, sizeof created);
            const char *row[] = { id, cust, p->date, amount, p->method, p->reference, p->note, created, p->created_by };
            cli_csv_row(stdout, 9, row);
        }
        return;
    }
    static const char *const head[] = { "ID", "DATE", "AMOUNT", "METHOD", "REFERENCE", "NOTE" };
    struct out_table *t = out_table_new(6, head);
    out_table_align(t, 0, OUT_RIGHT);
    out_table_align(t, 2, OUT_RIGHT);
    out_table_max_width(t, 5, NOTE_COLS);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__Payment *p = ps[i];
        char id[24], amount[OUT_MONEY_BUFSZ];
        fmt_i64(id, sizeof id, p->id);
        out_money_format(p->amount_minor, amount, sizeof amount);
        const char *row[] = { id, p->date, amount, p->method, p->reference, p->note };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static int run_payment_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "amount", required_argument, NULL, O_AMOUNT },
        { "date", required_argument, NULL, O_DATE },
        { "method", required_argument, NULL, O_METHOD },
        { "reference", required_argument, NULL, O_REFERENCE },
        { "note", required_argument, NULL, O_NOTE },
        { NULL, 0, NULL, 0 },
    };
    static const char *const methods[] = { "cash", "transfer", "card", "cheque", "other" };
    Kehu__V1__Payment pay = KEHU__V1__PAYMENT__INIT;
    int c, rc = CLI_OK, have_amount = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_AMOUNT:
            rc = parse_amount(cli, "--amount", optarg, &pay.amount_minor);
            have_amount = 1;
            break;
        case O_DATE:
            rc = cmd_customer_check_date(cli, "--date", optarg);
            pay.date = optarg;
            break;
        case O_METHOD: {
            int known = 0;
            for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
                known |= strcmp(optarg, methods[i]) == 0;
            if (!known)
                rc = cli_usage_error(cli, "--method: expected cash, transfer, card, cheque or other, not '%s'", optarg);
            pay.method = optarg;
            break;
        }
        case O_REFERENCE: pay.reference = optarg; break;
        case O_NOTE: pay.note = optarg; break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = customer_arg(cli, argc, argv, &pay.customer_id)))
        return rc;
    if (!have_amount)
        return cli_usage_error(cli, "--amount is required");
    Kehu__V1__PaymentAdd add = KEHU__V1__PAYMENT_ADD__INIT;
    add.payment = &pay;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_PAYMENT_ADD;
    req.payment_add = &add;
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_PAYMENT || !resp->payment)
        return cli_bad_reply(cli, resp);
    const Kehu__V1__Payment *p = resp->payment;
    if (cli->json || cli->csv) {
        print_payments(cli, &resp->payment, 1, 0);
    } else {
        char amount[OUT_MONEY_BUFSZ], balance[OUT_MONEY_BUFSZ];
        out_money_format(p->amount_minor, amount, sizeof amount);
        out_money_format(p->balance_minor, balance, sizeof balance);
        cli_say("recorded payment %" PRId64 ": %s %s (%s); balance now %s%s\n", p->id, p->date, amount, p->method,
                balance, p->balance_minor < 0 ? " (credit on account)" : "");
    }
    kehu_response_free(resp);
    return CLI_OK;
}

static const char *payments_cursor(const Kehu__V1__Response *resp)
{
    return resp->result_case == KEHU__V1__RESPONSE__RESULT_PAYMENTS && resp->payments ? resp->payments->next_cursor
                                                                                     : NULL;
}

static int run_payment_list(struct cli *cli, int argc, char **argv)
{
    struct list_args a;
    int rc = parse_list(cli, argc, argv, &a);
    if (rc)
        return rc;
    Kehu__V1__PaymentList list = KEHU__V1__PAYMENT_LIST__INIT;
    list.customer_id = a.customer_id;
    list.limit = a.limit;
    if (a.after)
        list.after = (char *)a.after;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_PAYMENT_LIST;
    req.payment_list = &list;
    struct pages pg;
    if ((rc = fetch_pages(cli, &req, &list.after, a.all, payments_cursor, &pg)) == CLI_OK) {
        size_t n = 0;
        for (size_t i = 0; i < pg.n; i++)
            n += pg.resps[i]->payments->n_payments;
        Kehu__V1__Payment **items = out_xcalloc(n ? n : 1, sizeof *items);
        n = 0;
        for (size_t i = 0; i < pg.n; i++)
            for (size_t k = 0; k < pg.resps[i]->payments->n_payments; k++)
                items[n++] = pg.resps[i]->payments->payments[k];
        print_payments(cli, items, n, 1);
        free(items);
        if (pg.next)
            more(cli, "payment", &a, pg.next);
    }
    pages_free(&pg);
    return rc;
}

/* ---- Arrears ------------------------------------------------------------------------------- */

/* paid_on_time / credit_txns in ten-thousandths, rounded half up; -1 without credit history.
 * Integer arithmetic: the same ratio on every machine. */
static int64_t on_time_e4(const Kehu__V1__Arrears *a)
{
    if (a->credit_txns <= 0)
        return -1;
    return (a->paid_on_time * 10000 + a->credit_txns / 2) / a->credit_txns;
}

static int run_arrears(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "as-of", required_argument, NULL, O_AS_OF },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__ArrearsGet m = KEHU__V1__ARREARS_GET__INIT;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != O_AS_OF)
            return cli->opt_rc;
        if ((rc = cmd_customer_check_date(cli, "--as-of", optarg)))
            return rc;
        m.as_of = optarg;
    }
    if ((rc = customer_arg(cli, argc, argv, &m.customer_id)))
        return rc;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ARREARS_GET;
    req.arrears_get = &m;
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_ARREARS || !resp->arrears)
        return cli_bad_reply(cli, resp);
    const Kehu__V1__Arrears *a = resp->arrears;
    int64_t ratio = on_time_e4(a);
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_kint(&w, "customer_id", a->customer_id);
        json_kstr(&w, "as_of", a->as_of);
        json_kmoney(&w, "balance", a->balance_minor);
        json_kstr(&w, "oldest_unpaid_due", *a->oldest_unpaid_due ? a->oldest_unpaid_due : NULL);
        json_kint(&w, "days_overdue", a->days_overdue);
        json_kint(&w, "credit_txns", a->credit_txns);
        json_kint(&w, "paid_on_time", a->paid_on_time);
        /* a share, not money: 4 decimals, as report shares are numbers */
        if (ratio < 0)
            json_knull(&w, "on_time_ratio");
        else
            json_kdouble(&w, "on_time_ratio", (double)ratio / 10000);
        json_end_object(&w);
    } else if (cli->csv) {
        static const char *const head[] = { "customer_id", "as_of",        "balance",      "oldest_unpaid_due",
                                            "days_overdue", "credit_txns", "paid_on_time", "on_time_ratio" };
        char id[24], bal[OUT_MONEY_BUFSZ], days[24], credit[24], ontime[24], r[24] = "";
        fmt_i64(id, sizeof id, a->customer_id);
        out_money_format(a->balance_minor, bal, sizeof bal);
        fmt_i64(days, sizeof days, a->days_overdue);
        fmt_i64(credit, sizeof credit, a->credit_txns);
        fmt_i64(ontime, sizeof ontime, a->paid_on_time);
        if (ratio >= 0)
            snprintf(r, sizeof r, "%" PRId64 ".%04" PRId64, ratio / 10000, ratio % 10000);
        const char *row[] = { id, a->as_of, bal, a->oldest_unpaid_due, days, credit, ontime, r };
        cli_csv_row(stdout, 8, head);
        cli_csv_row(stdout, 8, row);
    } else {
        char bal[OUT_MONEY_BUFSZ];
        out_money_format(a->balance_minor, bal, sizeof bal);
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
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- Asset snapshots ----------------------------------------------------------------------- */

static void json_asset(struct json_w *w, const Kehu__V1__AssetSnapshot *a, int add)
{
    char created[OUT_TIME_BUFSZ], updated[OUT_TIME_BUFSZ];
    out_time_ms(a->created_at_ms, created, sizeof created);
    out_time_ms(a->updated_at_ms, updated, sizeof updated);
    json_begin_object(w);
    json_kint(w, "id", a->id);
    json_kint(w, "customer_id", a->customer_id);
    json_kstr(w, "date", a->date);
    json_kstr(w, "product", a->product);
    json_kmoney(w, "balance", a->balance_minor);
    json_kstr(w, "created_at", *created ? created : NULL);
    json_kstr(w, "created_by", a->created_by);
    json_kstr(w, "updated_at", *updated ? updated : NULL);
    if (add)
        json_kbool(w, "replaced", a->replaced);
    json_end_object(w);
}

static void print_assets(struct cli *cli, Kehu__V1__AssetSnapshot *const *as, size_t n, int list)
{
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        if (list)
            json_begin_array(&w);
        for (size_t i = 0; i < n; i++)
            json_asset(&w, as[i], !list);
        if (list)
            json_end_array(&w);
        return;
    }
    if (cli->csv) {
        static const char *const head[] = { "id",         "customer_id", "date",      "product",
                                            "balance",    "created_at",  "created_by", "updated_at" };
        cli_csv_row(stdout, 8, head);
        for (size_t i = 0; i < n; i++) {
            const Kehu__V1__AssetSnapshot *a = as[i];
            char id[24], cust[24], bal[OUT_MONEY_BUFSZ], created[OUT_TIME_BUFSZ], updated[OUT_TIME_BUFSZ];
            fmt_i64(id, sizeof id, a->id);
            fmt_i64(cust, sizeof cust, a->customer_id);
            out_money_format(a->balance_minor, bal, sizeof bal);
            out_time_ms(a->created_at_ms, created, sizeof created);
            out_time_ms(a->updated_at_ms, updated, sizeof updated);
            const char *row[] = { id, cust, a->date, a->product, bal, created, a->created_by, updated };
            cli_csv_row(stdout, 8, row);
        }
        return;
    }
    static const char *const head[] = { "ID", "DATE", "PRODUCT", "BALANCE" };
    struct out_table *t = out_table_new(4, head);
    out_table_align(t, 0, OUT_RIGHT);
    out_table_align(t, 3, OUT_RIGHT);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__AssetSnapshot *a = as[i];
        char id[24], bal[OUT_MONEY_BUFSZ];
        fmt_i64(id, sizeof id, a->id);
        out_money_format(a->balance_minor, bal, sizeof bal);
        const char *row[] = { id, a->date, a->product, bal };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static int run_asset_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "balance", required_argument, NULL, O_BALANCE },
        { "date", required_argument, NULL, O_DATE },
        { "product", required_argument, NULL, O_PRODUCT },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__AssetSnapshot snap = KEHU__V1__ASSET_SNAPSHOT__INIT;
    int c, rc = CLI_OK, have_balance = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_BALANCE:
            rc = parse_amount(cli, "--balance", optarg, &snap.balance_minor);
            if (rc == CLI_OK && snap.balance_minor < 0)
                rc = cli_usage_error(cli, "--balance: must not be negative");
            have_balance = 1;
            break;
        case O_DATE:
            rc = cmd_customer_check_date(cli, "--date", optarg);
            snap.date = optarg;
            break;
        case O_PRODUCT: snap.product = optarg; break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = customer_arg(cli, argc, argv, &snap.customer_id)))
        return rc;
    if (!have_balance)
        return cli_usage_error(cli, "--balance is required");
    Kehu__V1__AssetAdd add = KEHU__V1__ASSET_ADD__INIT;
    add.snapshot = &snap;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSET_ADD;
    req.asset_add = &add;
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_ASSET_SNAPSHOT || !resp->asset_snapshot)
        return cli_bad_reply(cli, resp);
    const Kehu__V1__AssetSnapshot *a = resp->asset_snapshot;
    if (cli->json || cli->csv) {
        print_assets(cli, &resp->asset_snapshot, 1, 0);
    } else {
        char bal[OUT_MONEY_BUFSZ];
        out_money_format(a->balance_minor, bal, sizeof bal);
        cli_say("%s asset snapshot %" PRId64 ": %s %s %s\n", a->replaced ? "replaced" : "recorded", a->id, a->date,
                a->product, bal);
    }
    kehu_response_free(resp);
    return CLI_OK;
}

static const char *assets_cursor(const Kehu__V1__Response *resp)
{
    return resp->result_case == KEHU__V1__RESPONSE__RESULT_ASSETS && resp->assets ? resp->assets->next_cursor : NULL;
}

static int run_asset_list(struct cli *cli, int argc, char **argv)
{
    struct list_args a;
    int rc = parse_list(cli, argc, argv, &a);
    if (rc)
        return rc;
    Kehu__V1__AssetList list = KEHU__V1__ASSET_LIST__INIT;
    list.customer_id = a.customer_id;
    list.limit = a.limit;
    if (a.after)
        list.after = (char *)a.after;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSET_LIST;
    req.asset_list = &list;
    struct pages pg;
    if ((rc = fetch_pages(cli, &req, &list.after, a.all, assets_cursor, &pg)) == CLI_OK) {
        size_t n = 0;
        for (size_t i = 0; i < pg.n; i++)
            n += pg.resps[i]->assets->n_snapshots;
        Kehu__V1__AssetSnapshot **items = out_xcalloc(n ? n : 1, sizeof *items);
        n = 0;
        for (size_t i = 0; i < pg.n; i++)
            for (size_t k = 0; k < pg.resps[i]->assets->n_snapshots; k++)
                items[n++] = pg.resps[i]->assets->snapshots[k];
        print_assets(cli, items, n, 1);
        free(items);
        const Kehu__V1__Assets *first = pg.resps[0]->assets;
        if (!cli->json && !cli->csv) {
            char aum[OUT_MONEY_BUFSZ];
            out_money_format(first->aum_minor, aum, sizeof aum);
            if (*first->aum_date)
                cli_say("AUM today: %s (latest snapshot %s)\n", aum, first->aum_date);
            else
                cli_say("AUM today: %s (no snapshot yet)\n", aum);
        }
        if (pg.next)
            more(cli, "asset", &a, pg.next);
    }
    pages_free(&pg);
    return rc;
}

const struct cli_cmd cmd_payment_table[] = {
    { "payment add",
      "CUSTOMER_ID --amount AMOUNT [--date DATE] [--method cash|transfer|card|cheque|other] [--reference R] "
      "[--note N]",
      "record a payment received (lowers the balance owed; more than owed leaves a credit)", 1, run_payment_add },
    { "payment list", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]", "a customer's payments, newest first", 1,
      run_payment_list },
    { "arrears", "CUSTOMER_ID [--as-of DATE]",
      "what a customer owes: balance, oldest unpaid due date, days overdue, share paid on time", 1, run_arrears },
    { "asset add", "CUSTOMER_ID --balance AMOUNT [--date DATE] [--product P]",
      "record a balance held on a day (deposit, wealth, fund, insurance, other or a name; replaces the same day's)", 1,
      run_asset_add },
    { "asset list", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]",
      "a customer's asset snapshots, newest first, and the AUM today", 1, run_asset_list },
    { NULL, NULL, NULL, 0, NULL },
};
