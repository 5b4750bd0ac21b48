/* watch: the events kehud pushes after each change, one line each, until
 * SIGINT or SIGTERM (exit 0) or the connection drops (exit 3). */
#include "cli.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define WATCH_POLL_MS 500 /* how often the signal flag is looked at */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* SIGINT and SIGTERM set the flag; no SA_RESTART, so a blocked write
 * returns too. */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void json_kid(struct json_w *w, const char *key, int64_t id)
{
    if (id)
        json_kint(w, key, id);
    else
        json_knull(w, key); /* 0: none */
}

static const char *const csv_head[] = { "at", "kind", "customer_id", "version", "branch_id", "owner_id", "actor_id",
                                        "customer_name", "actor_name", "fields", "detail", "count" };
#define CSV_COLS 12

/* The human line: when, what, which customer, who, and what changed; a bulk
 * job's summary says how many changes it stands for. */
static void say_event(const Kehu__V1__Event *ev, const char *at)
{
    char *fields = cli_join(ev->fields, ev->n_fields, ", ");
    char who[160] = "";
    if (*ev->actor_name)
        snprintf(who, sizeof who, " by %s", ev->actor_name);
    else if (ev->actor_id)
        snprintf(who, sizeof who, " by user %" PRId64, ev->actor_id);
    if (ev->count > 0 || !ev->customer_id)
        cli_say("%s %s%s: %" PRId64 " change%s%s%s%s\n", at, ev->kind, who, ev->count, ev->count == 1 ? "" : "s",
                *ev->detail ? " (" : "", ev->detail, *ev->detail ? ")" : "");
    else if (*ev->customer_name)
        cli_say("%s %s %s (customer %" PRId64 ", v%" PRId64 ")%s%s%s%s%s\n", at, ev->kind, ev->customer_name,
                ev->customer_id, ev->version, who, *fields ? ": " : "", fields, *ev->detail ? " - " : "", ev->detail);
    else
        cli_say("%s %s customer %" PRId64 " v%" PRId64 "%s%s%s%s%s\n", at, ev->kind, ev->customer_id, ev->version, who,
                *fields ? ": " : "", fields, *ev->detail ? " - " : "", ev->detail);
    free(fields);
}

/* One event as one line: compact JSON, a CSV row or the human line. */
static void print_event(struct cli *cli, const Kehu__V1__Event *ev)
{
    char at[OUT_TIME_BUFSZ];
    out_time_ms(ev->at_ms, at, sizeof at);
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 0);
        json_begin_object(&w);
        json_kstr(&w, "kind", ev->kind);
        json_kint(&w, "customer_id", ev->customer_id);
        json_kint(&w, "version", ev->version);
        json_kid(&w, "branch_id", ev->branch_id);
        json_kid(&w, "owner_id", ev->owner_id);
        json_kid(&w, "actor_id", ev->actor_id);
        json_kstr(&w, "at", *at ? at : NULL);
        if (*ev->customer_name)
            json_kstr(&w, "customer_name", ev->customer_name);
        if (*ev->actor_name)
            json_kstr(&w, "actor_name", ev->actor_name);
        if (ev->n_fields)
            cli_json_strs(&w, "fields", ev->fields, ev->n_fields);
        if (*ev->detail)
            json_kstr(&w, "detail", ev->detail);
        if (ev->count)
            json_kint(&w, "count", ev->count);
        json_end_object(&w);
    } else if (cli->csv) {
        char cust[24], ver[24], branch[24] = "", owner[24] = "", actor[24] = "", count[24] = "";
        snprintf(cust, sizeof cust, "%" PRId64, ev->customer_id);
        snprintf(ver, sizeof ver, "%" PRId64, ev->version);
        if (ev->branch_id)
            snprintf(branch, sizeof branch, "%" PRId64, ev->branch_id);
        if (ev->owner_id)
            snprintf(owner, sizeof owner, "%" PRId64, ev->owner_id);
        if (ev->actor_id)
            snprintf(actor, sizeof actor, "%" PRId64, ev->actor_id);
        if (ev->count)
            snprintf(count, sizeof count, "%" PRId64, ev->count);
        char *fields = cli_join(ev->fields, ev->n_fields, ";");
        const char *row[] = { at,    ev->kind,          cust,           ver,    branch,      owner,
                              actor, ev->customer_name, ev->actor_name, fields, ev->detail, count };
        cli_csv_row(stdout, CSV_COLS, row);
        free(fields);
    } else {
        say_event(ev, *at ? at : "-");
    }
    fflush(stdout); /* readers are often scripts at the end of a pipe */
}

/* The connection dropped: the error line, and with --json a compact error
 * object, so that stdout stays one JSON object per line. */
static int watch_lost(struct cli *cli, const struct kehu_status *st)
{
    const char *msg = st->message[0] ? st->message : "connection lost";
    fflush(stdout);
    fprintf(stderr, "kehu: %s\n", msg);
    if (cli->json)
        cli_json_transport_error(msg, 0);
    return CLI_TRANSPORT;
}

static int run_watch(struct cli *cli, int argc, char **argv)
{
    enum { O_CUSTOMER = 0x100, O_UNIT, O_MINE };
    static const struct option opts[] = {
        { "customer", required_argument, NULL, O_CUSTOMER },
        { "unit", required_argument, NULL, O_UNIT },
        { "mine", no_argument, NULL, O_MINE },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__Subscribe sub = KEHU__V1__SUBSCRIBE__INIT;
    int c, rc, scopes = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        scopes++;
        if (c == O_CUSTOMER) {
            if ((rc = cmd_customer_parse_int(cli, "--customer", optarg, 1, INT64_MAX, &sub.customer_id)))
                return rc;
            sub.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_CUSTOMER_ID;
        } else if (c == O_UNIT) {
            sub.unit = optarg;
            sub.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
        } else if (c == O_MINE) {
            sub.mine = 1;
            sub.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
        } else {
            return cli->opt_rc;
        }
    }
    if ((rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    if (scopes > 1)
        return cli_usage_error(cli, "give one of --customer, --unit and --mine");
    if (!scopes) {
        sub.mine = 1;
        sub.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_MINE;
    }

    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_SUBSCRIBE, &sub);
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    /* Empty is the documented result; an OK without one means the same */
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_EMPTY &&
        resp->result_case != KEHU__V1__RESPONSE__RESULT__NOT_SET)
        return cli_bad_reply(cli, resp);
    kehu_response_free(resp);

    catch_signals();
    if (sub.scope_case == KEHU__V1__SUBSCRIBE__SCOPE_CUSTOMER_ID)
        fprintf(stderr, "watching customer %" PRId64, sub.customer_id);
    else if (sub.scope_case == KEHU__V1__SUBSCRIBE__SCOPE_UNIT)
        fprintf(stderr, "watching unit %s", sub.unit);
    else
        fputs("watching my customers", stderr);
    fprintf(stderr, " on %s (interrupt to stop)\n", cli->server);
    if (cli->csv) {
        cli_csv_row(stdout, CSV_COLS, csv_head);
        fflush(stdout);
    }

    while (!stop_signal) {
        struct kehu_status st;
        Kehu__V1__Event *ev = kehu_next_event(cli->client, WATCH_POLL_MS, &st);
        if (ev) {
            print_event(cli, ev);
            kehu_event_free(ev);
            continue;
        }
        if (st.code == KEHU_TRANSPORT && strcmp(st.message, "timeout") == 0)
            continue;
        if (stop_signal)
            break;
        return watch_lost(cli, &st);
    }
    return CLI_OK;
}

const struct cli_cmd cmd_watch_table[] = {
    { "watch", "[--customer ID | --unit UNIT | --mine]",
      "print changes as they happen, one line each, until interrupted (default --mine)", 1, run_watch },
    { NULL, NULL, NULL, 0, NULL },
};
