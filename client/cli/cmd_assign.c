/* Reassignment: `assign` (given customers, a user's, or a filter's, to one
 * or several receivers; dry runs), `assign undo`, `assign history`, `assign
 * policy show|set`, and `user cap`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "out.h"

/* ---- the result of a batch (assign, assign undo) */

static char *move_across(const void *msg)
{
    return out_xstrdup(((const Kehu__V1__AssignMove *)msg)->cross_region ? "across regions" : "");
}
static char *move_yes_no(const void *msg)
{
    return out_xstrdup(((const Kehu__V1__AssignMove *)msg)->cross_region ? "yes" : "no");
}
static const struct rec_calc move_calc[] = { { "across", NULL, move_across }, { "yes_no", NULL, move_yes_no },
                                             { NULL, NULL, NULL } };
static const struct rec_col move_cols[] = {
    { REC_AS_IS("CUSTOMER"), "customer_id", OUT_RIGHT, 0 }, { REC_AS_IS("NAME"), "name", OUT_LEFT, 30 },
    { REC_AS_IS("FROM"), "from|-", OUT_LEFT, 0 },           { REC_AS_IS("TO"), "to|-", OUT_LEFT, 0 },
    { REC_AS_IS(""), "@across", OUT_LEFT, 0 },             { NULL, NULL, 0, 0 },
};
/* CSV: a row a move, cross_region "yes" or "no" */
static const struct rec_kind move_rec = {
    &kehu__v1__assign_move__descriptor,
    "customer_id name from to +from_branch_id +to_branch_id +version +cross_region -cross_region=@yes_no", move_cols,
    NULL, move_calc,
};

/* how many customers go to the receiver, or "disabled" */
static char *receiver_count(const void *msg)
{
    const Kehu__V1__AssignReceiver *r = msg;
    return r->disabled ? out_xstrdup("disabled") : out_xprintf("%lld", (long long)r->count);
}
static const struct rec_calc receiver_calc[] = { { "count", NULL, receiver_count }, { NULL, NULL, NULL } };
static const struct rec_col receiver_cols[] = {
    { REC_AS_IS("RECEIVER"), "username|(no owner)", OUT_LEFT, 0 }, { REC_AS_IS("CUSTOMERS"), "@count", OUT_RIGHT, 0 },
    { REC_AS_IS("HOLDS"), "holds?-", OUT_RIGHT, 0 },               { REC_AS_IS("CAP"), "cap?-|-", OUT_RIGHT, 0 },
    { NULL, NULL, 0, 0 },
};
/* holds: left out when unknown (-1); cap: null for none (-1) */
static const struct rec_kind receiver_rec = { &kehu__v1__assign_receiver__descriptor,
                                              "username count ~holds?- cap?- disabled", receiver_cols, NULL,
                                              receiver_calc };

REC_JSON_ARRAY(json_moves, Kehu__V1__AssignResult, moves, &move_rec)
REC_JSON_ARRAY(json_receivers, Kehu__V1__AssignResult, receivers, &receiver_rec)
/* {"USERNAME": count, ...} */
static void json_by_receiver(struct json_w *w, const void *msg)
{
    const Kehu__V1__AssignResult *a = msg;
    json_begin_object(w);
    for (size_t i = 0; i < a->n_receivers; i++)
        json_kint(w, a->receivers[i]->username, a->receivers[i]->count);
    json_end_object(w);
}
static const struct rec_calc result_calc[] = {
    { "moves", json_moves, NULL }, { "receivers", json_receivers, NULL }, { "by_receiver", json_by_receiver, NULL },
    { NULL, NULL, NULL },
};
static const struct rec_kind result_rec = {
    &kehu__v1__assign_result__descriptor,
    "batch_id dry_run kind ~undo_of? moved moves=@moves ~moves_omitted? by_receiver=@by_receiver "
    "receivers=@receivers split_percent no_longer_matching no_longer_matching_ids",
    NULL, NULL, result_calc,
};

/* The result of a batch (assign, assign undo): JSON, the moves as CSV, or
 * for people the moves, the receivers and what was done. */
static void print_result(struct cli *cli, const void *result)
{
    const Kehu__V1__AssignResult *a = result;
    if (cli->json) {
        cli_json_record(&result_rec, a);
        return;
    }
    if (cli->csv) {
        rec_csv_head(stdout, &move_rec);
        rec_csv_rows(stdout, &move_rec, (void *const *)a->moves, a->n_moves);
        return;
    }
    int crossing = 0;
    for (size_t i = 0; i < a->n_moves; i++)
        crossing += a->moves[i]->cross_region;
    if (a->n_moves) {
        rec_table(stdout, &move_rec, (void *const *)a->moves, a->n_moves);
        if (a->moves_omitted)
            cli_say("... and %lld more\n", (long long)a->moves_omitted);
        putchar('\n');
    }
    if (a->n_receivers) {
        rec_table(stdout, &receiver_rec, (void *const *)a->receivers, a->n_receivers);
        putchar('\n');
    }
    const char *what = a->undo_of ? "moved back" : "moved";
    if (a->dry_run)
        cli_say("dry run: %lld customer%s would be %s; nothing changed\n", (long long)a->moved,
                a->moved == 1 ? "" : "s", what);
    else if (a->moved == 0)
        cli_say("nothing to move\n");
    else if (a->undo_of)
        cli_say("batch %lld: %lld customer%s moved back (undo of batch %lld)\n", (long long)a->batch_id,
                (long long)a->moved, a->moved == 1 ? "" : "s", (long long)a->undo_of);
    else
        cli_say("batch %lld: %lld customer%s moved (undo: kehu assign undo %lld)\n", (long long)a->batch_id,
                (long long)a->moved, a->moved == 1 ? "" : "s", (long long)a->batch_id);
    if (a->no_longer_matching) {
        /* chosen, then moved by another batch before this one held them: left where they are */
        cli_say("%lld customer%s no longer matched and stayed where %s", (long long)a->no_longer_matching,
                a->no_longer_matching == 1 ? "" : "s", a->no_longer_matching == 1 ? "it was" : "they were");
        for (size_t i = 0; i < a->n_no_longer_matching_ids && i < 20; i++)
            printf("%s%lld", i ? ", " : ": ", (long long)a->no_longer_matching_ids[i]);
        if (a->n_no_longer_matching_ids > 20)
            printf(" and %zu more", a->n_no_longer_matching_ids - 20);
        putchar('\n');
    }
    if (crossing && !a->undo_of)
        cli_say("%d handed over across regions: performance split %lld/%lld (handing/receiving)\n", crossing,
                (long long)a->split_percent, 100 - (long long)a->split_percent);
}

/* ---- assign */

enum {
    O_TO = 0x100, O_FROM, O_REASON, O_DRY, O_FILTER,
};

static int run_assign(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "to", required_argument, NULL, O_TO },
        { "from", required_argument, NULL, O_FROM },
        { "reason", required_argument, NULL, O_REASON },
        { "dry-run", no_argument, NULL, O_DRY },
        { "filter", no_argument, NULL, O_FILTER },
        CLI_CUSTOMER_FILTER_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__Assign m = KEHU__V1__ASSIGN__INIT;
    Kehu__V1__CustomerList filter = KEHU__V1__CUSTOMER_LIST__INIT;
    const char *to = NULL;
    int filters = 0, c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if ((rc = cli_customer_filter_option(cli, c, optarg, &filter, 0)) >= 0) {
            if (rc)
                return rc;
            filters++;
            continue;
        }
        switch (c) {
        case O_TO: to = optarg; break;
        case O_FROM: m.from_user = optarg; break;
        case O_REASON: m.reason = optarg; break;
        case O_DRY: m.dry_run = 1; break;
        case O_FILTER: m.use_filter = 1; break;
        default: return cli->opt_rc;
        }
    }
    int nids = argc - optind;
    if (!to || !*to)
        return cli_usage_error(cli, "--to USERNAME is required");
    if (!m.reason || !*m.reason)
        return cli_usage_error(cli, "--reason R is required");
    if (filters && !m.use_filter)
        return cli_usage_error(cli, "list filters (--owner, --branch, ...) choose customers only with --filter");
    if (m.use_filter && !filters)
        return cli_usage_error(cli, "--filter needs at least one filter (--owner, --branch, --grade, --status, --tag, "
                                    "--region, --industry, --source, --created-from, --created-to)");
    int forms = (nids > 0) + (m.from_user && *m.from_user) + m.use_filter;
    if (forms != 1)
        return cli_usage_error(cli, forms ? "give customer ids, --from USERNAME or --filter, only one of them"
                                          : "say which customers: CUSTOMER_ID..., --from USERNAME or --filter");
    int64_t *ids = nids ? out_xcalloc((size_t)nids, sizeof *ids) : NULL;
    for (int i = 0; i < nids; i++)
        if ((rc = cmd_customer_parse_int(cli, "CUSTOMER_ID", argv[optind + i], 1, INT64_MAX, &ids[i]))) {
            free(ids);
            return rc;
        }
    /* --to a,b,c */
    char *tos = out_xstrdup(to);
    size_t nto = 1;
    for (const char *p = tos; *p; p++)
        nto += *p == ',';
    char **names = out_xcalloc(nto, sizeof *names);
    nto = 0;
    for (char *save = NULL, *tok = strtok_r(tos, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        names[nto++] = tok;
    if (nto == 0) {
        free(names);
        free(tos);
        free(ids);
        return cli_usage_error(cli, "--to: expected USERNAME[,USERNAME...]");
    }
    m.customer_ids = ids;
    m.n_customer_ids = (size_t)nids;
    m.to = names;
    m.n_to = nto;
    if (m.use_filter)
        m.filter = &filter;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_ASSIGN, &m);
    Kehu__V1__Response *resp;
    rc = cli_call_for(cli, &req, KEHU__V1__RESPONSE__RESULT_ASSIGN, &resp);
    free(names);
    free(tos);
    free(ids);
    if (rc)
        return rc;
    print_result(cli, resp->assign);
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- assign undo */

static const struct cli_flag undo_flags[] = {
    { "reason", NULL, 0, 0, NULL, 0 }, { "dry-run", "dry_run", 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 }
};
CLI_ONE_COMMAND(run_undo, KEHU__V1__REQUEST__OP_ASSIGN_UNDO, &kehu__v1__assign_undo__descriptor, "BATCH_ID", "batch_id",
                KEHU__V1__RESPONSE__RESULT_ASSIGN_UNDONE, NULL, undo_flags, print_result)

/* ---- assign history */

static const struct rec_kind history_rec = {
    &kehu__v1__assign_history_entry__descriptor, "at=at_ms kind from to from_branch to_branch batch_id? reason actor",
    NULL, NULL, NULL,
};

static int run_history(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = { CLI_PAGING_OPTIONS, { NULL, 0, NULL, 0 } };
    struct cli_paging pg = { 0 };
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1)
        if ((rc = cli_page_option(cli, c, optarg, 1000, &pg)) != CLI_OK)
            return rc < 0 ? cli->opt_rc : rc;
    int64_t id;
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &id)))
        return rc;
    Kehu__V1__AssignHistory m = KEHU__V1__ASSIGN_HISTORY__INIT;
    m.customer_id = id;
    m.limit = pg.limit;
    m.after = (char *)(pg.after ? pg.after : "");
    struct cli_pages pages = { 0 };
    if ((rc = cli_fetch_list(cli, KEHU__V1__REQUEST__OP_ASSIGN_HISTORY, &m, KEHU__V1__RESPONSE__RESULT_ASSIGN_HISTORY,
                             "entries", &m.after, pg.all, &pages))) {
        cli_pages_free(&pages);
        return rc;
    }
    /* the owners (all of them) from the first page, the entries of every page */
    Kehu__V1__AssignHistoryResult all = *pages.resp[0]->assign_history;
    all.entries = (Kehu__V1__AssignHistoryEntry **)pages.items;
    all.n_entries = pages.n;
    const Kehu__V1__AssignHistoryResult *h = &all;
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_kint(&w, "customer_id", h->customer_id);
        json_kstr(&w, "name", h->name);
        json_kstr(&w, "owner", h->owner);
        cmd_customer_json_strs(&w, "owners", h->owners, h->n_owners);
        cli_json_records(&w, "entries", &history_rec, (void *const *)h->entries, h->n_entries);
        json_end_object(&w);
        json_finish(&w);
    } else {
        for (size_t i = 0; i < h->n_owners; i++)
            if (!*h->owners[i])
                h->owners[i] = "(none)";
        char *chain = cmd_customer_join(h->owners, h->n_owners, " → ");
        cli_say("%lld %s: owners %s\n", (long long)h->customer_id, h->name, chain);
        free(chain);
        if (h->n_entries) {
            static const char *const head[] = { "AT", "KIND", "FROM", "TO", "BRANCH", "BATCH", "BY", "REASON" };
            struct out_table *t = out_table_new(8, head);
            out_table_max_width(t, 7, 40);
            for (size_t i = 0; i < h->n_entries; i++) {
                const Kehu__V1__AssignHistoryEntry *e = h->entries[i];
                char at[OUT_TIME_BUFSZ], batch[24], branch[256];
                out_time_ms(e->at_ms, at, sizeof at);
                snprintf(batch, sizeof batch, "%lld", (long long)e->batch_id);
                if (strcmp(e->from_branch, e->to_branch) == 0)
                    snprintf(branch, sizeof branch, "%s", e->to_branch);
                else
                    snprintf(branch, sizeof branch, "%s → %s", e->from_branch, e->to_branch);
                const char *row[] = { at, e->kind, *e->from ? e->from : "-", *e->to ? e->to : "-", branch,
                                      e->batch_id ? batch : "", e->actor, e->reason };
                out_table_add(t, row);
            }
            out_table_print(t, stdout);
            out_table_free(t);
        }
    }
    char idw[24];
    snprintf(idw, sizeof idw, "%lld", (long long)id);
    const char *words[] = { "assign", "history", idw, "--limit", pg.limit_arg };
    cli_page_more(cli, words, pg.limit_arg ? 5 : 3, pages.next, pages.remaining);
    cli_pages_free(&pages);
    return CLI_OK;
}

/* ---- assign policy show|set */

static void print_policy(struct cli *cli, const void *result)
{
    const Kehu__V1__AssignPolicy *p = result;
    if (!cli->json) {
        cli_print_policy_values(cli, p->values, p->n_values, NULL, 0);
        return;
    }
    struct json_w w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    cli_json_records(&w, "values", &cli_policy_value_rec, (void *const *)p->values, p->n_values);
    json_end_object(&w);
    json_finish(&w);
}

/* after a change: every value, not only those set */
static void print_set_policy(struct cli *cli, const void *result, char *const *keys, size_t n)
{
    (void)keys, (void)n;
    print_policy(cli, result);
}

CLI_ONE_COMMAND(run_policy_show, KEHU__V1__REQUEST__OP_ASSIGN_POLICY_SHOW, &kehu__v1__assign_policy_show__descriptor, NULL,
                NULL, KEHU__V1__RESPONSE__RESULT_ASSIGN_POLICY, NULL, NULL, print_policy)

static int run_policy_set(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    Kehu__V1__AssignPolicySet m = KEHU__V1__ASSIGN_POLICY_SET__INIT;
    return cli_policy_set(cli, argc, argv, KEHU__V1__REQUEST__OP_ASSIGN_POLICY_SET, &m, &m.values, &m.n_values,
                          KEHU__V1__RESPONSE__RESULT_ASSIGN_POLICY, print_set_policy);
}

/* ---- user cap */

static void say_cap(const void *msg)
{
    const Kehu__V1__UserCapResult *u = msg;
    if (u->max_customers >= 0)
        cli_say("%s: at most %lld customers (holds %lld)\n", u->username, (long long)u->max_customers,
                (long long)u->holds);
    else
        cli_say("%s: no cap (holds %lld)\n", u->username, (long long)u->holds);
}
/* max_customers: null for no cap (-1) */
static const struct rec_kind cap_rec = { &kehu__v1__user_cap_result__descriptor, "username max_customers?- holds", NULL,
                                         NULL, NULL };
static const struct cli_record_kind cap_kind = { .rec = &cap_rec, .one = say_cap };

static int run_user_cap(struct cli *cli, int argc, char **argv)
{
    int rc = cli_no_options(cli, argc, argv, 2, 2);
    if (rc)
        return rc;
    Kehu__V1__UserCap m = KEHU__V1__USER_CAP__INIT;
    m.username = argv[optind];
    const char *n = argv[optind + 1];
    if (strcmp(n, "none") == 0) {
        m.max_customers = -1;
    } else {
        int64_t v;
        if ((rc = cmd_customer_parse_int(cli, "N", n, 0, 10000000, &v)))
            return rc;
        m.max_customers = v;
    }
    return cli_ask_print(cli, KEHU__V1__REQUEST__OP_USER_CAP, &m, KEHU__V1__RESPONSE__RESULT_USER_CAP, &cap_kind,
                         NULL);
}

const struct cli_cmd cmd_assign_table[] = {
    { "assign", "CUSTOMER_ID... | --from USERNAME | --filter FILTERS  --to USERNAME[,USERNAME...] --reason R [--dry-run]",
      N_("move customers to other owners in one batch (several receivers: round robin within their caps; "
      "FILTERS: --owner --branch --grade --status --tag --region --industry --source --created-from --created-to)"),
      1, run_assign },
    { "assign undo", "BATCH_ID [--reason R] [--dry-run]",
      N_("take a batch back (while none of its customers changed owner since)"), 1, run_undo },
    { "assign history", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]", N_("every owner a customer has had, and each move"),
      1, run_history },
    { "assign policy show", "", N_("the reassignment policy (performance split of handovers across regions)"), 1,
      run_policy_show },
    { "assign policy set", "KEY=VALUE ...", N_("change reassignment policy values (admin)"), 1, run_policy_set },
    { "user cap", "USERNAME N|none", N_("how many customers a person may hold (reassignment respects it)"), 1,
      run_user_cap },
    { NULL, NULL, NULL, 0, NULL },
};
