/* kehu review ... (the annual review, 年末评审), kehu vip ... (the VIP
 * list) and kehu churn winback ... (the win-back list, 挽回):
 * docs/grading.md.
 *
 * Each record is described once (a record kind, record.h), and printed
 * from that description as JSON (the protocol's field names), CSV, a table
 * (lists) or key: value lines (one record). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "out.h"

#define LIMIT_MAX 1000


/* ---- records described once */

static void json_in_window(struct json_w *w, const void *msg)
{
    json_bool(w, ((const Kehu__V1__Review *)msg)->in_window);
}
static char *text_in_window(const void *msg)
{
    return out_xstrdup(((const Kehu__V1__Review *)msg)->in_window ? "yes" : "no");
}
static void json_vip(struct json_w *w, const void *msg)
{
    json_bool(w, ((const Kehu__V1__ReviewItem *)msg)->vip);
}
static char *text_vip(const void *msg)
{
    return out_xstrdup(((const Kehu__V1__ReviewItem *)msg)->vip ? "yes" : "no");
}
/* a bool as this file has always written it: "yes" or "no" in CSV too */
static const struct rec_calc review_calc[] = { { "in_window", json_in_window, text_in_window },
                                               { "vip", json_vip, text_vip },
                                               { NULL, NULL, NULL } };

static const struct rec_kind review_rec = {
    &kehu__v1__review__descriptor,
    "id year window_from window_to in_window=@in_window status run_id opened_by finalized_by items rated adjusted "
    "final_decided credit_confirmed changed vip_added vip_withdrawn",
    NULL, NULL, review_calc,
};
static const struct rec_kind item_rec = {
    &kehu__v1__review_item__descriptor,
    "customer_id customer_name owner branch proposed rated rated_by rate_reason final final_by final_reason "
    "credit_proposed credit credit_by credit_reason outcome vip=@vip",
    NULL, NULL, review_calc,
};
static const struct rec_kind change_rec = {
    &kehu__v1__review_change__descriptor,
    "customer_id customer_name dimension before after decided_by role reason rated_by rate_reason #at_ms",
    NULL, NULL, NULL,
};
static const struct rec_kind vip_rec = {
    &kehu__v1__vip_entry__descriptor, "customer_id customer_name owner status reason decided_by year #at_ms",
    NULL, NULL, NULL,
};
static const struct rec_kind winback_rec = {
    &kehu__v1__winback_entry__descriptor,
    "id customer_id customer_name owner grade $value lost_on source status plan close_reason closed_by closed_on",
    NULL, NULL, NULL,
};

/* The columns of each kind's table (a list), as field words. */
static const struct {
    const struct rec_kind *k;
    const char *cols;
} tables[] = {
    { &review_rec, "id year window_from window_to @in_window status items rated adjusted final_decided "
                   "credit_confirmed changed vip_added vip_withdrawn" },
    { &item_rec, "customer_id customer_name owner proposed rated rated_by final final_by credit_proposed credit "
                 "credit_by outcome @vip" },
    { &change_rec, "customer_id customer_name dimension before after decided_by role reason rated_by" },
    { &vip_rec, "customer_id customer_name owner status reason decided_by year" },
    { &winback_rec, "id customer_id customer_name owner grade $value lost_on source status plan" },
};

/* The records as a table of k's columns, each headed by its key, numbers,
 * money and yes/no right-aligned. */
static void table(const struct rec_kind *k, void *const *items, size_t n)
{
    const char *cols = "";
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (tables[i].k == k)
            cols = tables[i].cols;
    char words[512], *save = NULL;
    struct rec_col c[24] = { { 0 } };
    int nc = 0;
    snprintf(words, sizeof words, "%s", cols);
    for (char *w = strtok_r(words, " ", &save); w && nc < 23; w = strtok_r(NULL, " ", &save), nc++) {
        const char *name = w + (*w == '@' || *w == '$');
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(k->desc, name);
        c[nc] = (struct rec_col){ name, w, fd && fd->type == PROTOBUF_C_TYPE_STRING ? OUT_LEFT : OUT_RIGHT, 0 };
    }
    struct rec_kind with_cols = *k;
    with_cols.cols = c;
    rec_table(stdout, &with_cols, items, n);
}

/* A list as the output flags say (an empty one for people: none); CSV has a
 * header only above rows. */
static void print_list(struct cli *cli, void *const *items, size_t n, const struct rec_kind *k, const char *none)
{
    if (!n && !cli->json && !cli->csv) {
        cli_say("%s\n", none);
    } else if (cli->csv) {
        if (n)
            rec_csv_head(stdout, k);
        for (size_t i = 0; i < n; i++)
            rec_csv_row(stdout, k, items[i]);
    } else if (cli->json) {
        const struct cli_record_kind kind = { .rec = k };
        cli_print_records(cli, items, n, 1, &kind);
    } else {
        table(k, items, n);
    }
}

/* ---- shared pieces */

/* One record as key/value lines (no list has the flags of a table row). */
static const struct cli_record_kind review_kind = { .rec = &review_rec, .kv_all = 1 };
static const struct cli_record_kind item_kind = { .rec = &item_rec, .kv_all = 1 };
static const struct cli_record_kind vip_kind = { .rec = &vip_rec, .kv_all = 1 };
static const struct cli_record_kind winback_kind = { .rec = &winback_rec, .kv_all = 1 };

/* Sends m (op), prints the one record of the reply's result `want`. */
static int call_one(struct cli *cli, int op, void *m, Kehu__V1__Response__ResultCase want,
                    const struct cli_record_kind *k)
{
    Kehu__V1__Response *resp;
    int rc = cli_ask(cli, op, m, want, &resp);
    if (rc)
        return rc;
    const void *item = cli_result(resp);
    if (!item)
        return cli_bad_reply(cli, resp);
    cli_print_records(cli, (void *const *)&item, 1, 0, k);
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- kehu review open / show / finalize */

static const struct cli_flag year_flag[] = { { "year", NULL, 2000, 2200, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };

static const struct cli_flag open_flags[] = {
    { "year", NULL, 2000, 2200, NULL, 0 },
    { "from", "window_from", 0, 0, cli_check_date, 0 },
    { "to", "window_to", 0, 0, cli_check_date, 0 },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_ONE_COMMAND(run_review_open, KEHU__V1__REQUEST__OP_REVIEW_OPEN, &kehu__v1__review_open__descriptor, NULL, NULL,
                KEHU__V1__RESPONSE__RESULT_REVIEW, &review_kind, open_flags)
CLI_ONE_COMMAND(run_review_show, KEHU__V1__REQUEST__OP_REVIEW_SHOW, &kehu__v1__review_show__descriptor, NULL, NULL,
                KEHU__V1__RESPONSE__RESULT_REVIEW, &review_kind, year_flag)
CLI_ONE_COMMAND(run_review_finalize, KEHU__V1__REQUEST__OP_REVIEW_FINALIZE, &kehu__v1__review_finalize__descriptor,
                NULL, NULL, KEHU__V1__RESPONSE__RESULT_REVIEW, &review_kind, year_flag)

/* ---- kehu review rate / final / credit */

static int decide(struct cli *cli, int argc, char **argv, const char *step)
{
    static const struct cli_flag flags[] = {
        { "year", NULL, 2000, 2200, NULL, 0 }, { "grade", NULL, 0, 0, NULL, 0 },
        { "reason", NULL, 0, 0, NULL, 0 },     { "confirm", "", 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__ReviewDecide m = KEHU__V1__REVIEW_DECIDE__INIT;
    struct cmd_words ws = { .n = 0 };
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__review_decide__descriptor, flags, &m, NULL, &ws)))
        return rc;
    m.step = (char *)step;
    int confirm = cli_flag_given(&ws, "--confirm");
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (confirm && m.grade && *m.grade)
        return cli_usage_error(cli, "--confirm keeps the grade it receives: give --grade or --confirm, not both");
    if (!confirm && !(m.grade && *m.grade))
        return cli_usage_error(cli, "give --confirm, or --grade G --reason R to adjust");
    return call_one(cli, KEHU__V1__REQUEST__OP_REVIEW_DECIDE, &m, KEHU__V1__RESPONSE__RESULT_REVIEW_ITEM, &item_kind);
}

static int run_review_rate(struct cli *cli, int argc, char **argv)
{
    return decide(cli, argc, argv, "rate");
}

static int run_review_final(struct cli *cli, int argc, char **argv)
{
    return decide(cli, argc, argv, "final");
}

static int run_review_credit(struct cli *cli, int argc, char **argv)
{
    return decide(cli, argc, argv, "credit");
}

/* ---- kehu review items / report */

static void print_items(struct cli *cli, const void *m, const struct cli_pages *pages)
{
    (void)m;
    print_list(cli, pages->items, pages->n, &item_rec, "no customers under review match");
}

static const struct cli_flag items_flags[] = {
    { "year", NULL, 2000, 2200, NULL, CLI_FLAG_NO_REPEAT },
    { "status", NULL, 0, 0, NULL, 0 },
    { "unit", NULL, 0, 0, NULL, CLI_FLAG_NO_REPEAT },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_LIST_COMMAND(run_review_items, KEHU__V1__REQUEST__OP_REVIEW_ITEMS, &kehu__v1__review_items__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_REVIEW_ITEM_LIST, "items", NULL, NULL, items_flags, print_items)

static void print_report(struct cli *cli, const void *m, const struct cli_pages *pages)
{
    (void)m;
    const Kehu__V1__Review *v = pages->n_resp ? pages->resp[0]->review_changes->review : NULL;
    if (cli->json) {
        /* {"review": {...}, "changes": [...]} */
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        if (v) {
            json_key(&w, "review");
            rec_json(&w, &review_rec, v);
        }
        cli_json_records(&w, "changes", &change_rec, pages->items, pages->n);
        json_end_object(&w);
        json_finish(&w);
    } else {
        if (v && !cli->csv)
            cli_say("annual review %d (%s, %s to %s): %lld customers, %lld rated, %lld adjusted, %lld decided by "
                    "the committee, %lld credit ratings confirmed, %lld changed, VIP +%lld -%lld\n",
                    (int)v->year, v->status, v->window_from, v->window_to, (long long)v->items,
                    (long long)v->rated, (long long)v->adjusted, (long long)v->final_decided,
                    (long long)v->credit_confirmed, (long long)v->changed, (long long)v->vip_added,
                    (long long)v->vip_withdrawn);
        print_list(cli, pages->items, pages->n, &change_rec, "no changes");
    }
}

static const struct cli_flag report_flags[] = { { "year", NULL, 2000, 2200, NULL, CLI_FLAG_NO_REPEAT }, { NULL, NULL, 0, 0, NULL, 0 } };
CLI_LIST_COMMAND(run_review_report, KEHU__V1__REQUEST__OP_REVIEW_REPORT, &kehu__v1__review_report__descriptor, NULL,
                 NULL, KEHU__V1__RESPONSE__RESULT_REVIEW_CHANGES, "changes", NULL, NULL, report_flags, print_report)

/* ---- kehu vip add / withdraw / list */

static int vip(struct cli *cli, int argc, char **argv, const char *action)
{
    static const struct cli_flag flags[] = { { "reason", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
    Kehu__V1__VipChange m = KEHU__V1__VIP_CHANGE__INIT;
    m.action = (char *)action;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__vip_change__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    return call_one(cli, KEHU__V1__REQUEST__OP_VIP_CHANGE, &m, KEHU__V1__RESPONSE__RESULT_VIP_ENTRY, &vip_kind);
}

static int run_vip_add(struct cli *cli, int argc, char **argv)
{
    return vip(cli, argc, argv, "add");
}

static int run_vip_withdraw(struct cli *cli, int argc, char **argv)
{
    return vip(cli, argc, argv, "withdraw");
}

static void print_vip(struct cli *cli, const void *m, const struct cli_pages *pages)
{
    const Kehu__V1__VipList *l = m;
    print_list(cli, pages->items, pages->n, &vip_rec, l->withdrawn ? "no withdrawn VIPs" : "no VIPs");
}

static const struct cli_flag vip_flags[] = { { "withdrawn", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
CLI_LIST_COMMAND(run_vip_list, KEHU__V1__REQUEST__OP_VIP_LIST, &kehu__v1__vip_list__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_VIP_ENTRIES, "entries", NULL, NULL, vip_flags, print_vip)

/* ---- kehu churn winback [plan | close] */

static void print_winback(struct cli *cli, const void *m, const struct cli_pages *pages)
{
    (void)m;
    print_list(cli, pages->items, pages->n, &winback_rec, "no customers to win back");
}

static const struct cli_flag winback_flags[] = {
    { "user", NULL, 0, 0, NULL, 0 },
    { "status", NULL, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_LIST_COMMAND(run_winback_list, KEHU__V1__REQUEST__OP_WINBACK_LIST, &kehu__v1__winback_list__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_WINBACK_ENTRIES, "entries", NULL, NULL, winback_flags, print_winback)

static int winback_act(struct cli *cli, int argc, char **argv, const char *action)
{
    static const struct cli_flag flags[] = {
        { "plan", NULL, 0, 0, NULL, 0 },
        { "reason", NULL, 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__WinbackAct m = KEHU__V1__WINBACK_ACT__INIT;
    m.action = (char *)action;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__winback_act__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_id_arg(cli, argc, argv, "ENTRY_ID", &m.id)))
        return rc;
    return call_one(cli, KEHU__V1__REQUEST__OP_WINBACK_ACT, &m, KEHU__V1__RESPONSE__RESULT_WINBACK_ENTRY,
                    &winback_kind);
}

static int run_winback_plan(struct cli *cli, int argc, char **argv)
{
    return winback_act(cli, argc, argv, "plan");
}

static int run_winback_close(struct cli *cli, int argc, char **argv)
{
    return winback_act(cli, argc, argv, "close");
}

const struct cli_cmd cmd_review_table[] = {
    { "review open", "[--year Y] [--from DATE --to DATE]",
      "open the annual review (in its window, by default 25-30 December): the last grading run proposes grades",
      1, run_review_open },
    { "review show", "[--year Y]", "the annual review: its window, status and counts", 1, run_review_show },
    { "review items", "[--year Y] [--status all|unrated|adjusted|changed] [--unit UNIT] [--limit N] [--after CURSOR] [--all]",
      "customers under review: proposal, the region's rating, the committee's decision, credit", 1,
      run_review_items },
    { "review rate", "CUSTOMER_ID (--confirm | --grade A|B|C --reason R) [--year Y]",
      "a region's first rating: confirm the proposed ABC grade or adjust it with a reason", 1, run_review_rate },
    { "review final", "CUSTOMER_ID (--confirm | --grade A|B|C --reason R) [--year Y]",
      "the committee's final review of a customer's grade", 1, run_review_final },
    { "review credit", "CUSTOMER_ID (--confirm | --grade RATING --reason R) [--year Y]",
      "finance confirms (or adjusts, with a reason) a customer's credit rating", 1, run_review_credit },
    { "review finalize", "[--year Y]",
      "the committee closes the review: its grades take effect as overrides, confirmed credit as assessments", 1,
      run_review_finalize },
    { "review report", "[--year Y] [--limit N] [--after CURSOR] [--all]",
      "what the annual review changed and who decided", 1, run_review_report },
    { "vip add", "CUSTOMER_ID --reason R", "put a customer on the VIP list (the committee, in the review's window)", 1,
      run_vip_add },
    { "vip withdraw", "CUSTOMER_ID --reason R", "withdraw a customer from the VIP list (with a reason)", 1,
      run_vip_withdraw },
    { "vip list", "[--withdrawn] [--limit N] [--after CURSOR] [--all]", "the VIP list", 1, run_vip_list },
    { "churn winback", "[--user U] [--status open|won_back|closed|all] [--limit N] [--after CURSOR] [--all]",
      "lost A and B customers to win back (挽回), most valuable first (default: open)", 1, run_winback_list },
    { "churn winback plan", "ENTRY_ID --plan TEXT", "give a win-back entry its plan", 1, run_winback_plan },
    { "churn winback close", "ENTRY_ID --reason R", "close a win-back entry (given up), with a reason", 1,
      run_winback_close },
    { NULL, NULL, NULL, 0, NULL },
};
