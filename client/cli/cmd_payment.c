/* Payments, arrears and asset snapshots: payment add|list, arrears, asset
 * add|list. Money stays in integer minor units from the command line to the
 * screen (out_money_parse, out_money_format, json_kmoney). */
#include "cli.h"

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

static void fmt_i64(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%" PRId64, v);
}

/* ---- Lists with pages: one request per page, every page kept until printed */

struct pages {
    Kehu__V1__Response **resps;
    size_t n;
    void **items; /* the records of every page, in order */
    size_t n_items;
    const char *next; /* the cursor after the last page fetched, NULL at the end */
    uint32_t remaining; /* records after it */
};

static void pages_free(struct pages *p)
{
    for (size_t i = 0; i < p->n; i++)
        kehu_response_free(p->resps[i]);
    free(p->resps);
    free(p->items);
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
    return cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &a->customer_id);
}

/* The cursor of page resp (NULL when the reply is not the expected list)
 * and its records. */
typedef const char *(*page_fn)(const Kehu__V1__Response *resp, void *const **items, size_t *n, uint32_t *remaining);

/* Fetches one page, or every page with --all; *after is the request's
 * cursor field, moved along. Returns 0 or the exit code after printing. */
static int fetch_pages(struct cli *cli, Kehu__V1__Request *req, char **after, int all, page_fn page,
                       struct pages *p)
{
    memset(p, 0, sizeof *p);
    for (;;) {
        Kehu__V1__Response *resp;
        int rc = cli_call(cli, req, &resp);
        if (rc)
            return rc;
        void *const *items = NULL;
        size_t n = 0;
        uint32_t remaining = 0;
        const char *next = page(resp, &items, &n, &remaining);
        if (!next || (*next && *after && strcmp(next, *after) == 0))
            return cli_bad_reply(cli, resp); /* a cursor that goes nowhere would loop forever */
        p->resps = out_xrealloc(p->resps, (p->n + 1) * sizeof *p->resps);
        p->resps[p->n++] = resp;
        if (n) {
            p->items = out_xrealloc(p->items, (p->n_items + n) * sizeof *p->items);
            memcpy(p->items + p->n_items, items, n * sizeof *items);
            p->n_items += n;
        }
        p->next = *next ? next : NULL;
        p->remaining = remaining;
        if (!all || !p->next)
            return CLI_OK;
        *after = (char *)p->next;
    }
}

static void more(struct cli *cli, const char *what, const struct list_args *a, const struct pages *pg)
{
    char id[24];
    fmt_i64(id, sizeof id, a->customer_id);
    const char *words[] = { what, "list", id, "--limit", a->limit_arg };
    cli_page_more(cli, words, a->limit_arg ? 5 : 3, pg->next, pg->remaining);
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
    if (p->reverses_id)
        json_kint(w, "reverses_id", p->reverses_id);
    else
        json_knull(w, "reverses_id");
    if (p->reversed_by_id)
        json_kint(w, "reversed_by_id", p->reversed_by_id);
    else
        json_knull(w, "reversed_by_id");
    json_kstr(w, "reason", *p->reason ? p->reason : NULL);
    if (with_balance)
        json_kmoney(w, "balance", p->balance_minor);
    json_end_object(w);
}

static void json_listed_payment(struct json_w *w, const void *item)
{
    json_payment(w, item, 0);
}

/* A payment just recorded also says the balance it left. */
static void json_added_payment(struct json_w *w, const void *item)
{
    json_payment(w, item, 1);
}

static const char *const payment_csv_head[] = { "id",        "customer_id", "date",       "amount",    "method",
                                                "reference", "note",        "created_at", "created_by",
                                                "reverses_id", "reversed_by_id", "reason" };

static void csv_payment(const void *item)
{
    const Kehu__V1__Payment *p = item;
    char id[24], cust[24], amount[OUT_MONEY_BUFSZ], created[OUT_TIME_BUFSZ], rev[24] = "", revby[24] = "";
    fmt_i64(id, sizeof id, p->id);
    fmt_i64(cust, sizeof cust, p->customer_id);
    if (p->reverses_id)
        fmt_i64(rev, sizeof rev, p->reverses_id);
    if (p->reversed_by_id)
        fmt_i64(revby, sizeof revby, p->reversed_by_id);
    out_money_format(p->amount_minor, amount, sizeof amount);
    out_time_ms(p->created_at_ms, created, sizeof created);
    const char *row[] = { id,      cust,          p->date, amount, p->method, p->reference,
                          p->note, created, p->created_by, rev,    revby,     p->reason };
    cli_csv_row(stdout, 12, row);
}

static void table_payments(void *const *items, size_t n)
{
    static const char *const head[] = { "ID", "DATE", "AMOUNT", "METHOD", "REFERENCE", "NOTE", "REVERSAL" };
    struct out_table *t = out_table_new(7, head);
    out_table_empty(t, "no payments");
    out_table_align(t, 0, OUT_RIGHT);
    out_table_align(t, 2, OUT_RIGHT);
    out_table_max_width(t, 5, NOTE_COLS);
    out_table_max_width(t, 6, NOTE_COLS);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__Payment *p = items[i];
        char id[24], amount[OUT_MONEY_BUFSZ], rev[600] = "";
        fmt_i64(id, sizeof id, p->id);
        out_money_format(p->amount_minor, amount, sizeof amount);
        if (p->reverses_id)
            snprintf(rev, sizeof rev, "reverses %lld: %s", (long long)p->reverses_id, p->reason);
        else if (p->reversed_by_id)
            snprintf(rev, sizeof rev, "reversed by %lld", (long long)p->reversed_by_id);
        const char *row[] = { id, p->date, amount, p->method, p->reference, p->note, rev };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static const struct cli_record_kind payment_kind = {
    json_listed_payment, 12, payment_csv_head, csv_payment, table_payments, NULL,
};
static const struct cli_record_kind added_payment_kind = {
    json_added_payment, 12, payment_csv_head, csv_payment, table_payments, NULL,
};

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
            rc = cli_parse_amount(cli, "--amount", optarg, &pay.amount_minor);
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
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &pay.customer_id)))
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
        cli_print_records(cli, (void *const *)&resp->payment, 1, 0, &added_payment_kind);
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

static const char *payments_page(const Kehu__V1__Response *resp, void *const **items, size_t *n, uint32_t *remaining)
{
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_PAYMENTS || !resp->payments)
        return NULL;
    *remaining = resp->payments->remaining;
    *items = (void *const *)resp->payments->payments;
    *n = resp->payments->n_payments;
    return resp->payments->next_cursor;
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
    if ((rc = fetch_pages(cli, &req, &list.after, a.all, payments_page, &pg)) == CLI_OK) {
        cli_print_records(cli, pg.items, pg.n_items, 1, &payment_kind);
        if (pg.next)
            more(cli, "payment", &a, &pg);
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
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
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

static void json_listed_asset(struct json_w *w, const void *item)
{
    json_asset(w, item, 0);
}

/* A snapshot just recorded also says whether it replaced the day's. */
static void json_added_asset(struct json_w *w, const void *item)
{
    json_asset(w, item, 1);
}

static const char *const asset_csv_head[] = { "id",      "customer_id", "date",       "product",
                                              "balance", "created_at",  "created_by", "updated_at" };

static void csv_asset(const void *item)
{
    const Kehu__V1__AssetSnapshot *a = item;
    char id[24], cust[24], bal[OUT_MONEY_BUFSZ], created[OUT_TIME_BUFSZ], updated[OUT_TIME_BUFSZ];
    fmt_i64(id, sizeof id, a->id);
    fmt_i64(cust, sizeof cust, a->customer_id);
    out_money_format(a->balance_minor, bal, sizeof bal);
    out_time_ms(a->created_at_ms, created, sizeof created);
    out_time_ms(a->updated_at_ms, updated, sizeof updated);
    const char *row[] = { id, cust, a->date, a->product, bal, created, a->created_by, updated };
    cli_csv_row(stdout, 8, row);
}

static void table_assets(void *const *items, size_t n)
{
    static const char *const head[] = { "ID", "DATE", "PRODUCT", "BALANCE" };
    struct out_table *t = out_table_new(4, head);
    out_table_empty(t, "no assets");
    out_table_align(t, 0, OUT_RIGHT);
    out_table_align(t, 3, OUT_RIGHT);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__AssetSnapshot *a = items[i];
        char id[24], bal[OUT_MONEY_BUFSZ];
        fmt_i64(id, sizeof id, a->id);
        out_money_format(a->balance_minor, bal, sizeof bal);
        const char *row[] = { id, a->date, a->product, bal };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static const struct cli_record_kind asset_kind = {
    json_listed_asset, 8, asset_csv_head, csv_asset, table_assets, NULL,
};
static const struct cli_record_kind added_asset_kind = {
    json_added_asset, 8, asset_csv_head, csv_asset, table_assets, NULL,
};

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
            rc = cli_parse_amount(cli, "--balance", optarg, &snap.balance_minor);
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
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &snap.customer_id)))
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
        cli_print_records(cli, (void *const *)&resp->asset_snapshot, 1, 0, &added_asset_kind);
    } else {
        char bal[OUT_MONEY_BUFSZ];
        out_money_format(a->balance_minor, bal, sizeof bal);
        cli_say("%s asset snapshot %" PRId64 ": %s %s %s\n", a->replaced ? _("replaced") : _("recorded"), a->id, a->date,
                a->product, bal);
    }
    kehu_response_free(resp);
    return CLI_OK;
}

static const char *assets_page(const Kehu__V1__Response *resp, void *const **items, size_t *n, uint32_t *remaining)
{
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_ASSETS || !resp->assets)
        return NULL;
    *remaining = resp->assets->remaining;
    *items = (void *const *)resp->assets->snapshots;
    *n = resp->assets->n_snapshots;
    return resp->assets->next_cursor;
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
    if ((rc = fetch_pages(cli, &req, &list.after, a.all, assets_page, &pg)) == CLI_OK) {
        cli_print_records(cli, pg.items, pg.n_items, 1, &asset_kind);
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
            more(cli, "asset", &a, &pg);
    }
    pages_free(&pg);
    return rc;
}

/* ---- txn reverse | payment reverse: corrections by a negating row, never an edit of money */

static int parse_reverse(struct cli *cli, int argc, char **argv, const char *what, int64_t *id, const char **reason)
{
    enum { O_REASON = 0x300 };
    static const struct option opts[] = {
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;
    *reason = NULL;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != O_REASON)
            return cli->opt_rc;
        *reason = optarg;
    }
    if ((rc = cli_id_arg(cli, argc, argv, what, id)))
        return rc;
    if (!*reason || !**reason)
        return cli_usage_error(cli, "--reason is required: say why the %s is reversed",
                               strcmp(what, "TXN_ID") == 0 ? _("transaction") : _("payment"));
    return CLI_OK;
}

static int run_txn_reverse(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__TxnReverse m = KEHU__V1__TXN_REVERSE__INIT;
    const char *reason;
    int rc = parse_reverse(cli, argc, argv, "TXN_ID", &m.id, &reason);
    if (rc)
        return rc;
    m.reason = (char *)reason;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_TXN_REVERSE;
    req.txn_reverse = &m;
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_TXN || !resp->txn)
        return cli_bad_reply(cli, resp);
    if (cli->json || cli->csv) {
        cmd_contact_print_txn(cli, resp->txn);
    } else {
        char amount[OUT_MONEY_BUFSZ];
        out_money_format(resp->txn->amount_minor, amount, sizeof amount);
        cli_say("transaction %lld reversed by transaction %lld (%s)\n", (long long)resp->txn->reverses_id,
                (long long)resp->txn->id, amount);
    }
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_payment_reverse(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__PaymentReverse m = KEHU__V1__PAYMENT_REVERSE__INIT;
    const char *reason;
    int rc = parse_reverse(cli, argc, argv, "PAYMENT_ID", &m.id, &reason);
    if (rc)
        return rc;
    m.reason = (char *)reason;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_PAYMENT_REVERSE;
    req.payment_reverse = &m;
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_PAYMENT || !resp->payment)
        return cli_bad_reply(cli, resp);
    if (cli->json || cli->csv) {
        cli_print_records(cli, (void *const *)&resp->payment, 1, 0, &added_payment_kind);
    } else {
        char amount[OUT_MONEY_BUFSZ], balance[OUT_MONEY_BUFSZ];
        out_money_format(resp->payment->amount_minor, amount, sizeof amount);
        out_money_format(resp->payment->balance_minor, balance, sizeof balance);
        cli_say("payment %lld reversed by payment %lld (%s); the balance owed is now %s\n",
                (long long)resp->payment->reverses_id, (long long)resp->payment->id, amount, balance);
    }
    kehu_response_free(resp);
    return CLI_OK;
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
