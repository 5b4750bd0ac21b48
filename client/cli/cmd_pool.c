/* kehu pool list|pools|add|claim|release|rules show|rules set|recycle|log
 * and kehu assign rules show|set|apply: the public pool (公海) and the
 * assignment rules that route new customers without owner. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "out.h"

enum {
    O_POOL = 1000,
    O_BRANCH,
    O_LIMIT,
    O_OFFSET,
    O_REASON,
    O_DRY_RUN,
    O_AS_OF,
    O_FORCE,
};

/* ---- pool list ---------------------------------------------------------------------------------- */

static char *first_phone(const void *msg)
{
    const Kehu__V1__Customer *c = ((const Kehu__V1__PoolCustomer *)msg)->customer;
    return out_xstrdup(c && c->n_phones ? c->phones[0] : "");
}

/* the day it came into the pool */
static char *since_day(const void *msg)
{
    char t[OUT_TIME_BUFSZ];
    out_time_ms(((const Kehu__V1__PoolCustomer *)msg)->since_ms, t, sizeof t);
    t[10] = 0;
    return out_xstrdup(t);
}

static const struct rec_calc pool_customer_calc[] = { { "phone", NULL, first_phone }, { "since", NULL, since_day },
                                                      { NULL, NULL, NULL } };
static const struct rec_col pool_customer_cols[] = {
    { REC_AS_IS("ID"), "customer.id", OUT_RIGHT, 0 }, { REC_AS_IS("NAME"), "customer.name", OUT_LEFT, 24 },
    { REC_AS_IS("PHONE"), "@phone", OUT_LEFT, 0 },    { REC_AS_IS("POOL"), "pool", OUT_LEFT, 0 },
    { REC_AS_IS("SINCE"), "@since", OUT_LEFT, 0 },    { REC_AS_IS("FROM"), "from_owner", OUT_LEFT, 0 },
    { REC_AS_IS("WHY"), "kind", OUT_LEFT, 0 },        { REC_AS_IS("GRADE"), "grade", OUT_LEFT, 0 },
    { REC_AS_IS("REASON"), "reason", OUT_LEFT, 40 },  { NULL, NULL, 0, 0 },
};
/* JSON: the customer's public fields (phones and ID numbers masked) and
 * how it came into the pool; CSV: the table's columns under its heads. */
static const struct rec_kind pool_customer_rec = {
    &kehu__v1__pool_customer__descriptor,
    "+id=customer.id +version=customer.version +name=customer.name +phones=customer.phones "
    "+id_number=customer.id_number +masked=customer.masked +company=customer.company +branch=customer.branch "
    "+region=customer.region +industry=customer.industry +pool_id +pool +since_ms +from_owner +kind +reason +grade "
    "-ID=customer.id -NAME=customer.name -PHONE=@phone -POOL=pool -SINCE=@since -FROM=from_owner -WHY=kind "
    "-GRADE=grade -REASON=reason",
    pool_customer_cols, REC_AS_IS("no customers in the pool match"), pool_customer_calc,
};
static const struct cli_record_kind pool_customer_kind = { .rec = &pool_customer_rec };

static int run_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "pool", required_argument, NULL, O_POOL },
        { "branch", required_argument, NULL, O_BRANCH },
        { "limit", required_argument, NULL, O_LIMIT },
        { "offset", required_argument, NULL, O_OFFSET },
        { "after", required_argument, NULL, CLI_O_AFTER },
        { "all", no_argument, NULL, CLI_O_ALL },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__PoolList m = KEHU__V1__POOL_LIST__INIT;
    struct cli_paging pg = { 0 };
    int c, rc;
    int64_t v;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_POOL: m.pool = optarg; break;
        case O_BRANCH: m.branch = optarg; break;
        case O_LIMIT:
        case CLI_O_AFTER:
        case CLI_O_ALL:
            if ((rc = cli_page_option(cli, c == O_LIMIT ? CLI_O_LIMIT : c, optarg, 1000, &pg)))
                return rc;
            break;
        case O_OFFSET:
            if ((rc = cmd_customer_parse_int(cli, "--offset", optarg, 0, 100000000, &v)))
                return rc;
            m.offset = (uint32_t)v;
            break;
        default: return cli->opt_rc;
        }
    }
    if ((rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_POOL_LIST, &m);
    m.limit = pg.limit;
    m.after = (char *)(pg.after ? pg.after : "");
    struct cli_pages pages = { 0 };
    for (;;) {
        Kehu__V1__Response *resp;
        if ((rc = cli_call_for(cli, &req, KEHU__V1__RESPONSE__RESULT_POOL_CUSTOMERS, &resp)))
            break;
        const Kehu__V1__PoolCustomers *l = resp->pool_customers;
        cli_pages_add(&pages, resp, (void *const *)l->customers, l->n_customers);
        if ((rc = cli_pages_next(cli, &pages, l->next_cursor, l->remaining, m.after)) || !pg.all || !pages.next)
            break;
        m.after = l->next_cursor;
        m.offset = 0;
    }
    if (rc == CLI_OK) {
        cli_print_records(cli, pages.items, pages.n, 1, &pool_customer_kind);
        const char *words[10] = { "pool", "list" };
        size_t nw = 2;
        if (m.pool && *m.pool)
            words[nw++] = "--pool", words[nw++] = m.pool;
        if (m.branch && *m.branch)
            words[nw++] = "--branch", words[nw++] = m.branch;
        if (pg.limit_arg)
            words[nw++] = "--limit", words[nw++] = pg.limit_arg;
        cli_page_more(cli, words, nw, pages.next, pages.remaining);
    }
    cli_pages_free(&pages);
    return rc;
}

/* ---- pool pools, pool add ------------------------------------------------------------------------ */

static const struct rec_col pool_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("POOL"), "name", OUT_LEFT, 0 }, { N_("BRANCH"), "branch", OUT_LEFT, 0 },
    { N_("DEFAULT"), "is_default", OUT_LEFT, 0 }, { N_("CUSTOMERS"), "customers", OUT_RIGHT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind pool_rec = {
    &kehu__v1__pool_info__descriptor, "id name branch_id branch is_default customers", pool_cols, N_("no pools"), NULL,
};

/* Pools: JSON, else a table (--csv too). */
static void print_pools(struct cli *cli, Kehu__V1__PoolInfo *const *ps, size_t n, int list)
{
    if (!cli->json) {
        rec_table(stdout, &pool_rec, (void *const *)ps, n);
        return;
    }
    struct json_w w;
    json_init(&w, stdout, 1);
    if (list)
        json_begin_array(&w);
    for (size_t i = 0; i < n; i++)
        rec_json(&w, &pool_rec, ps[i]);
    if (list)
        json_end_array(&w);
    json_finish(&w);
}

static const struct cli_flag branch_flag[] = { { "branch", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };

static void print_pool_list(struct cli *cli, const void *result)
{
    const Kehu__V1__PoolInfos *r = result;
    print_pools(cli, r->pools, r->n_pools, 1);
}

static void print_pool(struct cli *cli, const void *result)
{
    print_pools(cli, (Kehu__V1__PoolInfo *const *)&result, 1, 0);
}

static const struct cli_flag required_branch_flag[] = { { "branch", NULL, 0, 0, NULL, CLI_FLAG_REQUIRED },
                                                        { NULL, NULL, 0, 0, NULL, 0 } };

CLI_ONE_COMMAND(run_pools, KEHU__V1__REQUEST__OP_POOL_POOLS, &kehu__v1__pool_pools__descriptor, NULL, NULL,
                KEHU__V1__RESPONSE__RESULT_POOLS, NULL, branch_flag, print_pool_list)
CLI_ONE_COMMAND(run_add, KEHU__V1__REQUEST__OP_POOL_ADD, &kehu__v1__pool_add__descriptor, "NAME", "name",
                KEHU__V1__RESPONSE__RESULT_POOL, NULL, required_branch_flag, print_pool)

/* ---- pool claim, pool release -------------------------------------------------------------------- */

/* For people a line; with --json the customer (--csv: the line too). */
static void say_claimed(const void *msg)
{
    const Kehu__V1__Customer *c = msg;
    cli_say("claimed customer %" PRId64 " (%s): it is now yours\n", c->id, c->name);
}
static void say_released(const void *msg)
{
    const Kehu__V1__Customer *c = msg;
    cli_say("released customer %" PRId64 " (%s) to the pool\n", c->id, c->name);
}
static const struct cli_record_kind claimed_kind = { .rec = &cli_customer_rec, .one = say_claimed, .no_csv = 1 };
static const struct cli_record_kind released_kind = { .rec = &cli_customer_rec, .one = say_released, .no_csv = 1 };

static int need_reason(struct cli *cli, const void *m)
{
    const Kehu__V1__PoolRelease *r = m;
    return r->reason && *r->reason ? CLI_OK : cli_usage_error(cli, "--reason is required");
}

static const struct cli_flag release_flags[] = {
    { "reason", NULL, 0, 0, NULL, 0 },
    { "pool", NULL, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_ONE_COMMAND(run_claim, KEHU__V1__REQUEST__OP_POOL_CLAIM, &kehu__v1__pool_claim__descriptor, "CUSTOMER_ID",
                "customer_id", KEHU__V1__RESPONSE__RESULT_POOL_CLAIMED, &claimed_kind)
CLI_ONE_COMMAND(run_release, KEHU__V1__REQUEST__OP_POOL_RELEASE, &kehu__v1__pool_release__descriptor, "CUSTOMER_ID",
                "customer_id", KEHU__V1__RESPONSE__RESULT_POOL_RELEASED, &released_kind, release_flags, NULL,
                need_reason)

/* ---- pool rules show|set -------------------------------------------------------------------------- */

static char *exempt_open_case(const void *msg)
{
    return out_xstrdup(((const Kehu__V1__PoolRule *)msg)->exempt_open_case ? "yes" : "no");
}
static const struct rec_calc pool_rule_calc[] = { { "exempt_open_case", NULL, exempt_open_case },
                                                  { NULL, NULL, NULL } };
static const struct rec_col pool_rule_cols[] = {
    { REC_AS_IS("BRANCH"), "branch|(everywhere)", OUT_LEFT, 0 },
    { REC_AS_IS("GRADE"), "grade", OUT_LEFT, 0 },
    { REC_AS_IS("FOLLOWUP_DAYS"), "followup_days", OUT_RIGHT, 0 },
    { REC_AS_IS("TXN_DAYS"), "txn_days", OUT_RIGHT, 0 },
    { REC_AS_IS("WARN_DAYS"), "warn_days", OUT_RIGHT, 0 },
    { REC_AS_IS("CLAIM_PER_DAY"), "claim_per_day", OUT_RIGHT, 0 },
    { REC_AS_IS("MAX_HELD"), "max_held", OUT_RIGHT, 0 },
    { REC_AS_IS("COOLDOWN_DAYS"), "cooldown_days", OUT_RIGHT, 0 },
    { REC_AS_IS("EXEMPT_OPEN_CASE"), "@exempt_open_case", OUT_RIGHT, 0 },
    { REC_AS_IS("EXEMPT_TXN_DAYS"), "exempt_txn_days", OUT_RIGHT, 0 },
    { REC_AS_IS("EXEMPT_TAG"), "exempt_tag", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind pool_rule_rec = {
    &kehu__v1__pool_rule__descriptor,
    "branch grade followup_days txn_days warn_days claim_per_day max_held cooldown_days exempt_open_case "
    "exempt_txn_days exempt_tag",
    pool_rule_cols, NULL, pool_rule_calc,
};

/* The rules (after what a forced change leaves contradicting the service
 * policy: said on stderr, never silent). */
static void print_pool_rules(struct cli *cli, const void *result)
{
    const Kehu__V1__PoolRuleList *l = result;
    for (size_t i = 0; i < l->n_warnings; i++)
        fprintf(stderr, _("kehu: warning: %s\n"), l->warnings[i]);
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_kint(&w, "changed", l->changed);
        cli_json_records(&w, "rules", &pool_rule_rec, (void *const *)l->rules, l->n_rules);
        json_end_object(&w);
        json_finish(&w);
        return;
    }
    rec_table(stdout, &pool_rule_rec, (void *const *)l->rules, l->n_rules);
}

/* rules set: how many values changed, then the rules */
static void print_pool_rules_set(struct cli *cli, const void *result)
{
    const Kehu__V1__PoolRuleList *l = result;
    if (!cli->json)
        cli_say("pool rules updated (%d value%s)\n", l->changed, l->changed == 1 ? "" : "s");
    print_pool_rules(cli, result);
}

CLI_ONE_COMMAND(run_rules_show, KEHU__V1__REQUEST__OP_POOL_RULES, &kehu__v1__pool_rules__descriptor, NULL, NULL,
                KEHU__V1__RESPONSE__RESULT_POOL_RULE_LIST, NULL, branch_flag, print_pool_rules)

static int run_rules_set(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "branch", NULL, 0, 0, NULL, 0 }, { "force", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 }
    };
    Kehu__V1__PoolRules m = KEHU__V1__POOL_RULES__INIT;
    int rc = cli_flags(cli, argc, argv, &kehu__v1__pool_rules__descriptor, flags, &m, NULL, NULL);
    if (rc)
        return rc;
    struct cli_field_values fv;
    rc = cli_field_values(cli, argc, argv, "GRADE.KEY=VALUE", 1, "A.followup_days=90, *.claim_per_day=5", &fv);
    if (rc)
        return rc;
    m.set = fv.set;
    m.n_set = fv.n;
    rc = cli_ask_print(cli, KEHU__V1__REQUEST__OP_POOL_RULES, &m, KEHU__V1__RESPONSE__RESULT_POOL_RULE_LIST, NULL,
                       print_pool_rules_set);
    cli_field_values_free(&fv);
    return rc;
}

/* ---- pool recycle ---------------------------------------------------------------------------------- */

static const struct rec_kind recycle_rec = {
    &kehu__v1__pool_recycle_result__descriptor,
    "run_id as_of dry_run examined warned recycled by_followup by_txn exempted duration_ms", NULL, NULL, NULL,
};
static const struct rec_kind recycle_customer_rec = { &kehu__v1__pool_recycle_customer__descriptor,
                                                      "customer_id name owner trigger due", NULL, NULL, NULL };

static void table_recycle(void *const *items, size_t n)
{
    static const char *const head[] = { "CUSTOMER", "NAME", "OWNER", "LIMIT", "REACHED" };
    struct out_table *t = out_table_new(5, head);
    out_table_align(t, 0, OUT_RIGHT);
    out_table_max_width(t, 1, 30);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__PoolRecycleCustomer *c = items[i];
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, c->customer_id);
        const char *row[] = { id, c->name, c->owner, strcmp(c->trigger, "txn") == 0 ? "no transaction" : "no follow-up",
                              c->due };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static int run_recycle(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "dry-run", "dry_run", 0, 0, NULL, 0 },
        { "as-of", "as_of", 0, 0, cli_check_date, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__PoolRecycle m = KEHU__V1__POOL_RECYCLE__INIT;
    struct cli_paging pg = { 0 };
    struct cmd_words ws = { .w = { "pool", "recycle" }, .n = 2 };
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__pool_recycle__descriptor, flags, &m, &pg, &ws)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    if ((pg.limit || pg.after || pg.all) && !m.dry_run)
        return cli_usage_error(cli, "--limit, --after and --all page the customers of a --dry-run");
    struct cli_pages pages = { 0 };
    rc = cli_fetch_list(cli, KEHU__V1__REQUEST__OP_POOL_RECYCLE, &m, KEHU__V1__RESPONSE__RESULT_POOL_RECYCLED,
                        "customers", &m.after, pg.all, &pages);
    if (rc) {
        cli_pages_free(&pages);
        return rc;
    }
    const Kehu__V1__PoolRecycleResult *p = pages.resp[0]->pool_recycled;
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        rec_json_members(&w, &recycle_rec, p);
        if (p->dry_run)
            cli_json_records(&w, "customers", &recycle_customer_rec, pages.items, pages.n);
        json_end_object(&w);
        json_finish(&w);
    } else {
        if (pages.n) {
            table_recycle(pages.items, pages.n);
            putchar('\n');
        }
        cli_say("%srecycle as of %s: %" PRId64 " owned customers examined, %" PRId64 " owners warned, %" PRId64
                " recycled (%" PRId64 " no follow-up, %" PRId64 " no transaction), %" PRId64 " exempt; %" PRId64
                " ms\n",
                p->dry_run ? "dry run: " : "", p->as_of, p->examined, p->warned, p->recycled, p->by_followup,
                p->by_txn, p->exempted, p->duration_ms);
    }
    cli_page_more(cli, ws.w, ws.n, pages.next, pages.remaining);
    cli_pages_free(&pages);
    return CLI_OK;
}

/* ---- pool log ---------------------------------------------------------------------------------- */

static const struct rec_kind pool_event_rec = {
    &kehu__v1__pool_event__descriptor,
    "id customer_id customer kind pool from_owner to_owner reason as_of actor at_ms", NULL, NULL, NULL,
};

static int run_log(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__PoolEvents m = KEHU__V1__POOL_EVENTS__INIT;
    struct cli_paging pg = { 0 };
    int rc;
    int64_t v;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__pool_events__descriptor, NULL, &m, &pg, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 1)))
        return rc;
    if (optind < argc && (rc = cmd_customer_parse_int(cli, "CUSTOMER_ID", argv[optind], 1, INT64_MAX, &v)))
        return rc;
    if (optind < argc)
        m.customer_id = v;
    struct cli_pages pages = { 0 };
    rc = cli_fetch_list(cli, KEHU__V1__REQUEST__OP_POOL_EVENTS, &m, KEHU__V1__RESPONSE__RESULT_POOL_EVENT_LIST,
                        "events", &m.after, pg.all, &pages);
    if (rc) {
        cli_pages_free(&pages);
        return rc;
    }
    Kehu__V1__PoolEventList all = KEHU__V1__POOL_EVENT_LIST__INIT;
    all.events = (Kehu__V1__PoolEvent **)pages.items;
    all.n_events = pages.n;
    const Kehu__V1__PoolEventList *l = &all;
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_array(&w);
        for (size_t i = 0; i < l->n_events; i++)
            rec_json(&w, &pool_event_rec, l->events[i]);
        json_end_array(&w);
        json_finish(&w);
    } else {
        static const char *const head[] = { "AT", "CUSTOMER", "KIND", "POOL", "FROM", "TO", "BY", "REASON" };
        struct out_table *t = out_table_new(8, head);
        out_table_max_width(t, 7, 50);
        for (size_t i = 0; i < l->n_events; i++) {
            const Kehu__V1__PoolEvent *e = l->events[i];
            char at[OUT_TIME_BUFSZ], cust[160];
            out_time_ms(e->at_ms, at, sizeof at);
            snprintf(cust, sizeof cust, "%" PRId64 " %s", e->customer_id, e->customer);
            const char *row[] = { at, cust, e->kind, e->pool, e->from_owner, e->to_owner, e->actor, e->reason };
            out_table_add(t, row);
        }
        out_table_print(t, stdout);
        out_table_free(t);
    }
    char id[24];
    const char *words[6] = { "pool", "log" };
    size_t nw = 2;
    if (m.customer_id) {
        snprintf(id, sizeof id, "%" PRId64, m.customer_id);
        words[nw++] = id;
    }
    if (pg.limit_arg)
        words[nw++] = "--limit", words[nw++] = pg.limit_arg;
    cli_page_more(cli, words, nw, pages.next, pages.remaining);
    cli_pages_free(&pages);
    return CLI_OK;
}

/* ---- assign rules show|set|apply ------------------------------------------------------------------- */

/* where a rule routes: a user, or a team's members in turn */
static char *rule_to(const void *msg)
{
    const Kehu__V1__AssignRule *r = msg;
    return *r->team ? out_xprintf("team:%s (round robin)", r->team) : out_xstrdup(r->user);
}
static const struct rec_calc assign_rule_calc[] = { { "to", NULL, rule_to }, { NULL, NULL, NULL } };
/* an empty condition matches anything: "*" */
static const struct rec_col assign_rule_cols[] = {
    { REC_AS_IS("#"), "position", OUT_RIGHT, 0 },    { REC_AS_IS("REGION"), "region|*", OUT_LEFT, 0 },
    { REC_AS_IS("INDUSTRY"), "industry|*", OUT_LEFT, 0 }, { REC_AS_IS("SOURCE"), "source|*", OUT_LEFT, 0 },
    { REC_AS_IS("SIZE"), "size|*", OUT_LEFT, 0 },    { REC_AS_IS("GRADE"), "grade|*", OUT_LEFT, 0 },
    { REC_AS_IS("TO"), "@to", OUT_LEFT, 0 },         { NULL, NULL, 0, 0 },
};
static const struct rec_kind assign_rule_rec = { &kehu__v1__assign_rule__descriptor,
                                                 "position region industry source size grade user team",
                                                 assign_rule_cols, NULL, assign_rule_calc };

static void print_assign_rules(struct cli *cli, const void *result)
{
    const Kehu__V1__AssignRuleList *l = result;
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_kint(&w, "branch_id", l->branch_id);
        json_kstr(&w, "branch", l->branch);
        cli_json_records(&w, "rules", &assign_rule_rec, (void *const *)l->rules, l->n_rules);
        json_end_object(&w);
        json_finish(&w);
        return;
    }
    cli_say("assignment rules of %s (%zu; the first that matches routes; none: the branch's pool)\n", l->branch,
            l->n_rules);
    rec_table(stdout, &assign_rule_rec, (void *const *)l->rules, l->n_rules);
}

CLI_ONE_COMMAND(run_assign_show, KEHU__V1__REQUEST__OP_ASSIGN_RULES, &kehu__v1__assign_rules__descriptor, NULL, NULL,
                KEHU__V1__RESPONSE__RESULT_ASSIGN_RULE_LIST, NULL, branch_flag, print_assign_rules)

/* One rule: "region=上海,industry=制造,to=li.lei" or "...,to=team:上海一组". */
static int parse_rule(struct cli *cli, const char *text, Kehu__V1__AssignRule *r, char **copy)
{
    kehu__v1__assign_rule__init(r);
    *copy = out_xstrdup(text);
    int has_to = 0;
    for (char *save = NULL, *item = strtok_r(*copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq)
            return cli_usage_error(cli, "rule '%s': expected KEY=VALUE items separated by commas", text);
        *eq = 0;
        char *v = eq + 1;
        if (strcmp(item, "region") == 0)
            r->region = v;
        else if (strcmp(item, "industry") == 0)
            r->industry = v;
        else if (strcmp(item, "source") == 0)
            r->source = v;
        else if (strcmp(item, "size") == 0)
            r->size = v;
        else if (strcmp(item, "grade") == 0)
            r->grade = v;
        else if (strcmp(item, "to") == 0) {
            has_to = 1;
            if (strncmp(v, "team:", 5) == 0)
                r->team = v + 5;
            else
                r->user = v;
        } else
            return cli_usage_error(cli, "rule '%s': no key '%s' (region, industry, source, size, grade, to)", text,
                                   item);
    }
    if (!has_to)
        return cli_usage_error(cli, "rule '%s': say where it routes: to=USERNAME or to=team:TEAM", text);
    return 0;
}

static int run_assign_set(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__AssignRules m = KEHU__V1__ASSIGN_RULES__INIT;
    int rc = cli_flags(cli, argc, argv, &kehu__v1__assign_rules__descriptor, branch_flag, &m, NULL, NULL);
    if (rc)
        return rc;
    int n = argc - optind;
    Kehu__V1__AssignRule *rules = out_xcalloc((size_t)(n ? n : 1), sizeof *rules);
    Kehu__V1__AssignRule **ptrs = out_xcalloc((size_t)(n ? n : 1), sizeof *ptrs);
    char **copies = out_xcalloc((size_t)(n ? n : 1), sizeof *copies);
    for (int i = 0; i < n && rc == CLI_OK; i++) {
        rc = parse_rule(cli, argv[optind + i], &rules[i], &copies[i]);
        ptrs[i] = &rules[i];
    }
    if (rc == CLI_OK) {
        m.set = 1;
        m.rules = ptrs;
        m.n_rules = (size_t)n;
        rc = cli_ask_print(cli, KEHU__V1__REQUEST__OP_ASSIGN_RULES, &m, KEHU__V1__RESPONSE__RESULT_ASSIGN_RULE_LIST,
                           NULL, print_assign_rules);
    }
    for (int i = 0; i < n; i++)
        free(copies[i]);
    free(copies);
    free(ptrs);
    free(rules);
    return rc;
}

static const struct rec_kind apply_count_rec = { &kehu__v1__assign_route_count__descriptor,
                                                 "position target customers", NULL, NULL, NULL };

static int run_assign_apply(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "branch", NULL, 0, 0, NULL, 0 }, { "dry-run", "dry_run", 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 }
    };
    Kehu__V1__AssignRuleApply m = KEHU__V1__ASSIGN_RULE_APPLY__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__assign_rule_apply__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_ASSIGN_RULE_APPLY, &m, KEHU__V1__RESPONSE__RESULT_ASSIGN_APPLIED,
                      &resp)))
        return rc;
    const Kehu__V1__AssignRuleApplyResult *a = resp->assign_applied;
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_kbool(&w, "dry_run", a->dry_run);
        json_kint(&w, "customers", a->customers);
        cli_json_records(&w, "counts", &apply_count_rec, (void *const *)a->counts, a->n_counts);
        json_end_object(&w);
        json_finish(&w);
    } else {
        cli_say("%s%" PRId64 " customer%s without owner %s\n", a->dry_run ? "dry run: " : "", a->customers,
                a->customers == 1 ? "" : "s", a->dry_run ? "would be routed" : "routed");
        static const char *const head[] = { "RULE", "TO", "CUSTOMERS" };
        struct out_table *t = out_table_new(3, head);
        out_table_align(t, 2, OUT_RIGHT);
        for (size_t i = 0; i < a->n_counts; i++) {
            char pos[16], n[24];
            snprintf(pos, sizeof pos, "%d", a->counts[i]->position);
            snprintf(n, sizeof n, "%" PRId64, a->counts[i]->customers);
            const char *row[] = { a->counts[i]->position ? pos : "none", a->counts[i]->target, n };
            out_table_add(t, row);
        }
        out_table_print(t, stdout);
        out_table_free(t);
    }
    kehu_response_free(resp);
    return CLI_OK;
}

const struct cli_cmd cmd_pool_table[] = {
    { "pool list", "[--pool P] [--branch B] [--limit N] [--after CURSOR] [--all]",
      N_("customers in the pools you may see (phones and ID numbers masked)"), 1, run_list },
    { "pool pools", "[--branch B]", N_("the pools you may see, with how many customers each holds"), 1, run_pools },
    { "pool add", "NAME --branch B", N_("a new pool in a branch (besides its default 公海)"), 1, run_add },
    { "pool claim", "CUSTOMER_ID", N_("take a customer from the pool (within the daily limit and your cap)"), 1,
      run_claim },
    { "pool release", "CUSTOMER_ID --reason R [--pool P]", N_("give a customer back to the pool"), 1, run_release },
    { "pool rules show", "[--branch B]", N_("recycle limits, warnings, exemptions and claim limits per ABC grade"), 1,
      run_rules_show },
    { "pool rules set", "[--branch B] [--force] GRADE.KEY=VALUE ...",
      N_("change pool rules (GRADE A, B, C or *; all or none are applied)"), 1, run_rules_set },
    { "pool recycle", "[--dry-run [--limit N] [--after CURSOR] [--all]] [--as-of DATE]",
      N_("run the recycle job now: warnings, then recycles (admin; a dry run names the customers, branch managers too)"), 1,
      run_recycle },
    { "pool log", "[CUSTOMER_ID] [--limit N] [--after CURSOR] [--all]", N_("recycles, releases, claims and warnings, newest first"), 1, run_log },
    { "assign rules show", "[--branch B]", N_("the ordered rules that route new customers without owner"), 1,
      run_assign_show },
    { "assign rules set", "[--branch B] [RULE ...]",
      N_("replace the branch's rules; RULE is region=R,industry=I,source=S,size=Z,grade=G,to=USER|team:TEAM"), 1,
      run_assign_set },
    { "assign rules apply", "[--branch B] [--dry-run]", N_("route the branch's existing customers without owner"), 1,
      run_assign_apply },
    { NULL, NULL, NULL, 0, NULL },
};
