/* kehu review ... (the annual review, 年末评审), kehu vip ... (the VIP
 * list) and kehu churn winback ... (the win-back list, 挽回):
 * docs/grading.md.
 *
 * Each record is described once (a list of fields, emit_*), and printed
 * from that description as JSON (the protocol's field names), CSV, a table
 * (lists) or key: value lines (one record). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "out.h"

#define LIMIT_MAX 1000
#define MAXF 24

enum { O_YEAR = 0x100, O_FROM, O_TO, O_STATUS, O_UNIT, O_GRADE, O_REASON, O_CONFIRM, O_WITHDRAWN, O_USER, O_PLAN };

/* ---- records described once */

enum ftype { F_STR, F_INT, F_MONEY, F_BOOL };
struct field {
    const char *key;
    enum ftype type;
    const char *s;
    int64_t i;
    int table; /* shown in a list's table */
};
struct fields {
    struct field f[MAXF];
    int n;
};

static void fs(struct fields *o, const char *key, const char *s, int table)
{
    o->f[o->n++] = (struct field){ key, F_STR, s ? s : "", 0, table };
}
static void fi(struct fields *o, const char *key, int64_t v, enum ftype t, int table)
{
    o->f[o->n++] = (struct field){ key, t, NULL, v, table };
}

typedef void (*emit_fn)(struct fields *o, const void *item);

/* human: money grouped for people, else as a CSV cell */
static void cell(const struct field *f, char *buf, size_t n, int human)
{
    switch (f->type) {
    case F_STR: snprintf(buf, n, "%s", f->s); break;
    case F_INT: snprintf(buf, n, "%lld", (long long)f->i); break;
    case F_MONEY: (human ? out_money_text : out_money_format)(f->i, buf, n); break;
    case F_BOOL: snprintf(buf, n, "%s", f->i ? "yes" : "no"); break;
    }
}

static void json_fields(struct json_w *w, const struct fields *o)
{
    json_begin_object(w);
    for (int k = 0; k < o->n; k++) {
        const struct field *f = &o->f[k];
        switch (f->type) {
        case F_STR: json_kstr(w, f->key, f->s); break;
        case F_INT: json_kint(w, f->key, f->i); break;
        case F_MONEY: json_kmoney(w, f->key, f->i); break;
        case F_BOOL: json_kbool(w, f->key, (int)f->i); break;
        }
    }
    json_end_object(w);
}

/* One record (list = 0) or a list, as the output flags say. */
static void print_records(struct cli *cli, void *const *items, size_t n, int list, emit_fn emit, const char *none)
{
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        if (list)
            json_begin_array(&w);
        for (size_t i = 0; i < n; i++) {
            struct fields o = { .n = 0 };
            emit(&o, items[i]);
            json_fields(&w, &o);
        }
        if (list)
            json_end_array(&w);
        json_finish(&w);
        return;
    }
    struct fields head = { .n = 0 };
    if (n)
        emit(&head, items[0]);
    if (cli->csv) {
        const char *cells[MAXF];
        for (int k = 0; k < head.n; k++)
            cells[k] = head.f[k].key;
        if (n)
            cli_csv_row(stdout, head.n, cells);
        for (size_t i = 0; i < n; i++) {
            struct fields o = { .n = 0 };
            emit(&o, items[i]);
            char bufs[MAXF][OUT_MONEY_TEXT_BUFSZ + 8];
            for (int k = 0; k < o.n; k++) {
                if (o.f[k].type == F_STR)
                    cells[k] = o.f[k].s;
                else {
                    cell(&o.f[k], bufs[k], sizeof bufs[k], 0);
                    cells[k] = bufs[k];
                }
            }
            cli_csv_row(stdout, o.n, cells);
        }
        return;
    }
    if (!list) {
        for (size_t i = 0; i < n; i++) {
            struct fields o = { .n = 0 };
            emit(&o, items[i]);
            struct out_kv *kv = out_kv_new();
            for (int k = 0; k < o.n; k++) {
                char buf[64];
                if (o.f[k].type == F_STR) {
                    if (*o.f[k].s)
                        out_kv_add(kv, o.f[k].key, o.f[k].s);
                } else {
                    cell(&o.f[k], buf, sizeof buf, 1);
                    out_kv_add(kv, o.f[k].key, buf);
                }
            }
            out_kv_print(kv, stdout);
            out_kv_free(kv);
        }
        return;
    }
    if (!n) {
        cli_say("%s\n", none);
        return;
    }
    const char *hdr[MAXF];
    int map[MAXF], nc = 0;
    for (int k = 0; k < head.n; k++)
        if (head.f[k].table) {
            map[nc] = k;
            hdr[nc++] = head.f[k].key;
        }
    struct out_table *t = out_table_new(nc, hdr);
    for (size_t i = 0; i < n; i++) {
        struct fields o = { .n = 0 };
        emit(&o, items[i]);
        char bufs[MAXF][OUT_MONEY_TEXT_BUFSZ + 8];
        const char *cells[MAXF];
        for (int c = 0; c < nc; c++) {
            const struct field *f = &o.f[map[c]];
            if (f->type == F_STR)
                cells[c] = f->s;
            else {
                cell(f, bufs[c], sizeof bufs[c], 1);
                cells[c] = bufs[c];
            }
        }
        out_table_add(t, cells);
    }
    for (int c = 0; c < nc; c++)
        if (head.f[map[c]].type != F_STR)
            out_table_align(t, c, OUT_RIGHT);
    out_table_print(t, stdout);
    out_table_free(t);
}

static void emit_review(struct fields *o, const void *item)
{
    const Kehu__V1__Review *v = item;
    fi(o, "id", v->id, F_INT, 1);
    fi(o, "year", v->year, F_INT, 1);
    fs(o, "window_from", v->window_from, 1);
    fs(o, "window_to", v->window_to, 1);
    fi(o, "in_window", v->in_window, F_BOOL, 1);
    fs(o, "status", v->status, 1);
    fi(o, "run_id", v->run_id, F_INT, 0);
    fs(o, "opened_by", v->opened_by, 0);
    fs(o, "finalized_by", v->finalized_by, 0);
    fi(o, "items", v->items, F_INT, 1);
    fi(o, "rated", v->rated, F_INT, 1);
    fi(o, "adjusted", v->adjusted, F_INT, 1);
    fi(o, "final_decided", v->final_decided, F_INT, 1);
    fi(o, "credit_confirmed", v->credit_confirmed, F_INT, 1);
    fi(o, "changed", v->changed, F_INT, 1);
    fi(o, "vip_added", v->vip_added, F_INT, 1);
    fi(o, "vip_withdrawn", v->vip_withdrawn, F_INT, 1);
}

static void emit_item(struct fields *o, const void *item)
{
    const Kehu__V1__ReviewItem *it = item;
    fi(o, "customer_id", it->customer_id, F_INT, 1);
    fs(o, "customer_name", it->customer_name, 1);
    fs(o, "owner", it->owner, 1);
    fs(o, "branch", it->branch, 0);
    fs(o, "proposed", it->proposed, 1);
    fs(o, "rated", it->rated, 1);
    fs(o, "rated_by", it->rated_by, 1);
    fs(o, "rate_reason", it->rate_reason, 0);
    fs(o, "final", it->final, 1);
    fs(o, "final_by", it->final_by, 1);
    fs(o, "final_reason", it->final_reason, 0);
    fs(o, "credit_proposed", it->credit_proposed, 1);
    fs(o, "credit", it->credit, 1);
    fs(o, "credit_by", it->credit_by, 1);
    fs(o, "credit_reason", it->credit_reason, 0);
    fs(o, "outcome", it->outcome, 1);
    fi(o, "vip", it->vip, F_BOOL, 1);
}

static void emit_change(struct fields *o, const void *item)
{
    const Kehu__V1__ReviewChange *c = item;
    fi(o, "customer_id", c->customer_id, F_INT, 1);
    fs(o, "customer_name", c->customer_name, 1);
    fs(o, "dimension", c->dimension, 1);
    fs(o, "before", c->before, 1);
    fs(o, "after", c->after, 1);
    fs(o, "decided_by", c->decided_by, 1);
    fs(o, "role", c->role, 1);
    fs(o, "reason", c->reason, 1);
    fs(o, "rated_by", c->rated_by, 1);
    fs(o, "rate_reason", c->rate_reason, 0);
    fi(o, "at_ms", c->at_ms, F_INT, 0);
}

static void emit_vip(struct fields *o, const void *item)
{
    const Kehu__V1__VipEntry *e = item;
    fi(o, "customer_id", e->customer_id, F_INT, 1);
    fs(o, "customer_name", e->customer_name, 1);
    fs(o, "owner", e->owner, 1);
    fs(o, "status", e->status, 1);
    fs(o, "reason", e->reason, 1);
    fs(o, "decided_by", e->decided_by, 1);
    fi(o, "year", e->year, F_INT, 1);
    fi(o, "at_ms", e->at_ms, F_INT, 0);
}

static void emit_winback(struct fields *o, const void *item)
{
    const Kehu__V1__WinbackEntry *e = item;
    fi(o, "id", e->id, F_INT, 1);
    fi(o, "customer_id", e->customer_id, F_INT, 1);
    fs(o, "customer_name", e->customer_name, 1);
    fs(o, "owner", e->owner, 1);
    fs(o, "grade", e->grade, 1);
    fi(o, "value", e->value, F_MONEY, 1);
    fs(o, "lost_on", e->lost_on, 1);
    fs(o, "source", e->source, 1);
    fs(o, "status", e->status, 1);
    fs(o, "plan", e->plan, 1);
    fs(o, "close_reason", e->close_reason, 0);
    fs(o, "closed_by", e->closed_by, 0);
    fs(o, "closed_on", e->closed_on, 0);
}

/* ---- shared pieces */

static int year_opt(struct cli *cli, const char *arg, int32_t *year)
{
    int64_t v;
    int rc = cli_parse_int(cli, "--year", arg, 2000, 2200, &v);
    if (!rc)
        *year = (int32_t)v;
    return rc;
}

/* Sends req, prints the one record of the reply's result `want`. */
static int call_one(struct cli *cli, Kehu__V1__Request *req, Kehu__V1__Response__ResultCase want, emit_fn emit)
{
    Kehu__V1__Response *resp;
    int rc = cli_call_for(cli, req, want, &resp);
    if (rc)
        return rc;
    const void *item = want == KEHU__V1__RESPONSE__RESULT_REVIEW           ? (const void *)resp->review
                       : want == KEHU__V1__RESPONSE__RESULT_REVIEW_ITEM    ? (const void *)resp->review_item
                       : want == KEHU__V1__RESPONSE__RESULT_VIP_ENTRY      ? (const void *)resp->vip_entry
                       : want == KEHU__V1__RESPONSE__RESULT_WINBACK_ENTRY ? (const void *)resp->winback_entry
                                                                           : NULL;
    if (!item)
        return cli_bad_reply(cli, resp);
    print_records(cli, (void *const *)&item, 1, 0, emit, "");
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- kehu review open / show / finalize */

static const struct cli_flag year_flag[] = { { "year", NULL, 2000, 2200, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };

static int run_review_open(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "year", NULL, 2000, 2200, NULL, 0 },
        { "from", "window_from", 0, 0, cli_check_date, 0 },
        { "to", "window_to", 0, 0, cli_check_date, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__ReviewOpen m = KEHU__V1__REVIEW_OPEN__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__review_open__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_OPEN;
    req.review_open = &m;
    return call_one(cli, &req, KEHU__V1__RESPONSE__RESULT_REVIEW, emit_review);
}

static int run_review_show(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__ReviewShow m = KEHU__V1__REVIEW_SHOW__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__review_show__descriptor, year_flag, &m, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_SHOW;
    req.review_show = &m;
    return call_one(cli, &req, KEHU__V1__RESPONSE__RESULT_REVIEW, emit_review);
}

static int run_review_finalize(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__ReviewFinalize m = KEHU__V1__REVIEW_FINALIZE__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__review_finalize__descriptor, year_flag, &m, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_FINALIZE;
    req.review_finalize = &m;
    return call_one(cli, &req, KEHU__V1__RESPONSE__RESULT_REVIEW, emit_review);
}

/* ---- kehu review rate / final / credit */

static int decide(struct cli *cli, int argc, char **argv, const char *step)
{
    static const struct option opts[] = {
        { "year", required_argument, NULL, O_YEAR },
        { "grade", required_argument, NULL, O_GRADE },
        { "reason", required_argument, NULL, O_REASON },
        { "confirm", no_argument, NULL, O_CONFIRM },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__ReviewDecide m = KEHU__V1__REVIEW_DECIDE__INIT;
    m.step = (char *)step;
    int c, rc = CLI_OK, confirm = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_YEAR: rc = year_opt(cli, optarg, &m.year); break;
        case O_GRADE: m.grade = optarg; break;
        case O_REASON: m.reason = optarg; break;
        case O_CONFIRM: confirm = 1; break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (confirm && m.grade && *m.grade)
        return cli_usage_error(cli, "--confirm keeps the grade it receives: give --grade or --confirm, not both");
    if (!confirm && !(m.grade && *m.grade))
        return cli_usage_error(cli, "give --confirm, or --grade G --reason R to adjust");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_REVIEW_DECIDE;
    req.review_decide = &m;
    return call_one(cli, &req, KEHU__V1__RESPONSE__RESULT_REVIEW_ITEM, emit_item);
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
    print_records(cli, pages->items, pages->n, 1, emit_item, "no customers under review match");
}

static const struct cli_flag items_flags[] = {
    { "year", NULL, 2000, 2200, NULL, 1 },
    { "status", NULL, 0, 0, NULL, 0 },
    { "unit", NULL, 0, 0, NULL, 1 },
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
            struct fields o = { .n = 0 };
            emit_review(&o, v);
            json_fields(&w, &o);
        }
        json_key(&w, "changes");
        json_begin_array(&w);
        for (size_t i = 0; i < pages->n; i++) {
            struct fields o = { .n = 0 };
            emit_change(&o, pages->items[i]);
            json_fields(&w, &o);
        }
        json_end_array(&w);
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
        print_records(cli, pages->items, pages->n, 1, emit_change, "no changes");
    }
}

static const struct cli_flag report_flags[] = { { "year", NULL, 2000, 2200, NULL, 1 }, { NULL, NULL, 0, 0, NULL, 0 } };
CLI_LIST_COMMAND(run_review_report, KEHU__V1__REQUEST__OP_REVIEW_REPORT, &kehu__v1__review_report__descriptor, NULL,
                 NULL, KEHU__V1__RESPONSE__RESULT_REVIEW_CHANGES, "changes", NULL, NULL, report_flags, print_report)

/* ---- kehu vip add / withdraw / list */

static int vip(struct cli *cli, int argc, char **argv, const char *action)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__VipChange m = KEHU__V1__VIP_CHANGE__INIT;
    m.action = (char *)action;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != O_REASON)
            return cli->opt_rc;
        m.reason = optarg;
    }
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_VIP_CHANGE;
    req.vip_change = &m;
    return call_one(cli, &req, KEHU__V1__RESPONSE__RESULT_VIP_ENTRY, emit_vip);
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
    print_records(cli, pages->items, pages->n, 1, emit_vip, l->withdrawn ? "no withdrawn VIPs" : "no VIPs");
}

static const struct cli_flag vip_flags[] = { { "withdrawn", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
CLI_LIST_COMMAND(run_vip_list, KEHU__V1__REQUEST__OP_VIP_LIST, &kehu__v1__vip_list__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_VIP_ENTRIES, "entries", NULL, NULL, vip_flags, print_vip)

/* ---- kehu churn winback [plan | close] */

static void print_winback(struct cli *cli, const void *m, const struct cli_pages *pages)
{
    (void)m;
    print_records(cli, pages->items, pages->n, 1, emit_winback, "no customers to win back");
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
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__winback_act__descriptor, flags, &m, NULL, NULL)))
        return rc;
    if ((rc = cli_id_arg(cli, argc, argv, "ENTRY_ID", &m.id)))
        return rc;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_WINBACK_ACT;
    req.winback_act = &m;
    return call_one(cli, &req, KEHU__V1__RESPONSE__RESULT_WINBACK_ENTRY, emit_winback);
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
