/* watch: the events kehud pushes after each change, one line each, until
 * SIGINT or SIGTERM (exit 0); a dropped connection is reconnected (a line
 * on stderr when offline and when back), and only a session that ended
 * stops it (exit 1). */
#include "cli.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kehu_reconnect.h"
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

/* a CSV cell holds the changed fields joined by ";" */
static char *fields_cell(const void *msg)
{
    const Kehu__V1__Event *ev = msg;
    return cli_join(ev->fields, ev->n_fields, ";");
}
static const struct rec_calc event_calc[] = { { "fields", NULL, fields_cell }, { NULL, NULL, NULL } };
/* an id of 0 is none (null, an empty cell); the names, fields, detail and a
 * bulk job's count are members only when set */
static const struct rec_kind event_rec = {
    &kehu__v1__event__descriptor,
    "-at_ms kind customer_id version branch_id? owner_id? actor_id? +at_ms ~customer_name? ~actor_name? "
    "+~fields? -fields=@fields ~detail? ~count?",
    NULL, NULL, event_calc,
};

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
        json_init(&w, stdout, 0); /* one object a line */
        rec_json(&w, &event_rec, ev);
    } else if (cli->csv) {
        rec_csv_row(stdout, &event_rec, ev);
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

/* The link's ups and downs, one line each on stderr (stdout stays events
 * only, one per line). */
static void on_link(enum kehu_link what, const struct kehu_status *why, void *arg)
{
    struct cli *cli = arg;
    if (what == KEHU_LINK_LOST)
        fprintf(stderr, "kehu: offline: %s; reconnecting to %s\n", why->message[0] ? why->message : "connection lost",
                cli->server);
    else
        fprintf(stderr, "kehu: back online on %s: changes made meanwhile follow\n", cli->server);
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

    if ((rc = cli_connect(cli)))
        return rc;
    struct kehu_status st;
    kehu_watch *w = kehu_watch_start(cli->client, &sub, on_link, cli, &st);
    if (!w)
        return st.code == KEHU_TRANSPORT ? watch_lost(cli, &st) : cli_fail_status(cli, &st);

    catch_signals();
    if (sub.scope_case == KEHU__V1__SUBSCRIBE__SCOPE_CUSTOMER_ID)
        fprintf(stderr, _("watching customer %" PRId64), sub.customer_id);
    else if (sub.scope_case == KEHU__V1__SUBSCRIBE__SCOPE_UNIT)
        fprintf(stderr, _("watching unit %s"), sub.unit);
    else
        fputs(_("watching my customers"), stderr);
    fprintf(stderr, _(" on %s (interrupt to stop)\n"), cli->server);
    if (cli->csv) {
        rec_csv_head(stdout, &event_rec);
        fflush(stdout);
    }

    /* across dropped connections: kehu_watch_next reconnects with backoff,
     * resumes the session and the subscription; the events missed follow,
     * or one events.missed event when kehud no longer has them */
    while (!stop_signal) {
        Kehu__V1__Event *ev = kehu_watch_next(w, WATCH_POLL_MS, &st);
        if (ev) {
            print_event(cli, ev);
            kehu_event_free(ev);
            continue;
        }
        if (st.code == KEHU_TRANSPORT && strcmp(st.message, "timeout") == 0)
            continue;
        if (stop_signal)
            break;
        kehu_watch_free(w);
        return st.code == KEHU_TRANSPORT ? watch_lost(cli, &st) : cli_fail_status(cli, &st);
    }
    kehu_watch_free(w);
    return CLI_OK;
}

const struct cli_cmd cmd_watch_table[] = {
    { "watch", "[--customer ID | --unit UNIT | --mine]",
      N_("print changes as they happen, one line each, until interrupted (default --mine)"), 1, run_watch },
    { NULL, NULL, NULL, 0, NULL },
};
