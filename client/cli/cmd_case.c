/* kehu case open|show|list|queue|assign|start|wait|resume|approve|resolve|
 * close|reopen|reclassify|comment, kehu calendar show|set|import and kehu
 * hours show|set: complaints and requests with working-time targets
 * (docs/cases.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "out.h"

enum {
    O_NATURE = 1000,
    O_KIND,
    O_SEVERITY,
    O_CHANNEL,
    O_TITLE,
    O_NOTE,
    O_STATUS,
    O_MINE,
    O_UNIT,
    O_CUSTOMER,
    O_LIMIT,
    O_AFTER,
    O_TO,
    O_CAUSE,
    O_ACTION,
    O_COMP,
    O_COMP_KIND,
    O_SATISFACTION,
    O_REASON,
    O_NAME,
    O_BRANCH,
    O_LUNCH,
    O_TZ,
    O_PRODUCT,
    O_QUEUE,
    O_PENDING,
    O_DEFINITION,
    O_RESPOND,
    O_RESOLVE,
    O_WARN_AT,
    O_WARN,
    O_BREACH,
    O_SHARE,
    O_EVERY,
};

static void time_text(int64_t ms, char *buf, size_t n)
{
    if (ms)
        out_time_ms(ms, buf, n);
    else
        snprintf(buf, n, "%s", "");
}

/* A status change "from > to", else the status the event left. */
static char *event_status(const void *msg)
{
    const Kehu__V1__CaseEvent *e = msg;
    if (*e->from_status && strcmp(e->from_status, e->to_status) != 0)
        return out_xprintf("%s > %s", e->from_status, e->to_status);
    return out_xstrdup(e->to_status);
}

static const struct rec_calc case_event_calc[] = { { "status", NULL, event_status }, { NULL, NULL, NULL } };
static const struct rec_col case_event_cols[] = {
    { REC_AS_IS("at"), "at_ms", OUT_LEFT, 0 },        { REC_AS_IS("who"), "actor|(scheduler)", OUT_LEFT, 0 },
    { REC_AS_IS("what"), "kind", OUT_LEFT, 0 },       { REC_AS_IS("status"), "@status", OUT_LEFT, 0 },
    { REC_AS_IS("note"), "note", OUT_LEFT, 60 },      { NULL, NULL, 0, 0 },
};
static const struct rec_kind case_event_rec = { &kehu__v1__case_event__descriptor,
                                                "id at=at_ms actor kind from_status to_status note", case_event_cols,
                                                NULL, case_event_calc };
static const struct rec_kind score_rec = { &kehu__v1__survey_score__descriptor, "aspect expected perceived", NULL,
                                           NULL, NULL };

static void case_events_json(struct json_w *w, const void *msg)
{
    const Kehu__V1__Case *k = msg;
    rec_json_array(w, &case_event_rec, (void *const *)k->events, k->n_events);
}

/* "complaint/service" */
static char *case_nature(const void *msg)
{
    const Kehu__V1__Case *k = msg;
    return out_xprintf("%s/%s", k->nature, k->kind);
}

/* the handler, or the team queue "(TEAM)" it waits in */
static char *case_who(const void *msg)
{
    const Kehu__V1__Case *k = msg;
    return !*k->handler && *k->queue ? out_xprintf("(%s)", k->queue) : out_xstrdup(k->handler);
}

static const struct rec_calc case_calc[] = {
    { "events", case_events_json, NULL }, { "nature", NULL, case_nature }, { "who", NULL, case_who },
    { NULL, NULL, NULL },
};
static const struct rec_col case_cols[] = {
    { REC_AS_IS("id"), "id", OUT_RIGHT, 0 },          { REC_AS_IS("status"), "status", OUT_LEFT, 0 },
    { REC_AS_IS("sev"), "severity", OUT_LEFT, 0 },    { REC_AS_IS("nature"), "@nature", OUT_LEFT, 0 },
    { REC_AS_IS("customer"), "customer_name", OUT_LEFT, 0 }, { REC_AS_IS("handler"), "@who", OUT_LEFT, 0 },
    { REC_AS_IS("resolve by"), "^resolve_by", OUT_LEFT, 0 }, { REC_AS_IS("title"), "title", OUT_LEFT, 40 },
    { NULL, NULL, 0, 0 },
};
/* The JSON object has every field (the events after case show); the CSV
 * columns are a list's: id status severity nature kind customer_id handler
 * respond_by resolve_by title product queue. */
static const struct rec_kind case_rec = {
    &kehu__v1__case__descriptor,
    "id +version -status -severity -nature -kind customer_id +customer_name +branch +nature +kind +severity "
    "+channel -handler -^respond_by -^resolve_by title +note product queue +status +handler +level +grade "
    "+priority +respond_hours +resolve_hours +^respond_by +^resolve_by +^responded_at +^resolved_at +^closed_at "
    "+paused_hours +cause +action +compensation_minor +compensation_kind +approved_amount=approved_minor "
    "+approved_by +satisfaction? +opened_by +^created_at +~events=@events?events",
    case_cols, N_("no cases"), case_calc,
};
static const struct cli_record_kind case_kind = { .rec = &case_rec };

/* One case for people: what it is about, who has it, its targets and its history. */
static void case_text(const Kehu__V1__Case *k)
{
    char rb[OUT_TIME_BUFSZ], sb[OUT_TIME_BUFSZ], ca[OUT_TIME_BUFSZ], money[48];
    time_text(k->respond_by, rb, sizeof rb);
    time_text(k->resolve_by, sb, sizeof sb);
    time_text(k->created_at, ca, sizeof ca);
    cli_say("case %" PRId64 "  %s  (version %" PRId64 ")\n", k->id, k->status, k->version);
    cli_say("customer    %" PRId64 " %s (%s, grade %s)\n", k->customer_id, k->customer_name, k->branch, k->grade);
    cli_say("nature      %s / %s, severity %d, channel %s\n", k->nature, k->kind, k->severity, k->channel);
    cli_say("title       %s\n", k->title);
    if (*k->product)
        cli_say("product     %s\n", k->product);
    if (*k->note)
        cli_say("note        %s\n", k->note);
    cli_say("handler     %s (level %d)%s%s\n", *k->handler ? k->handler : "-", k->level,
            *k->queue ? ", team queue " : "", k->queue);
    cli_say("opened      %s by %s\n", ca, k->opened_by);
    cli_say("respond by  %s (%s working hours)\n", rb, k->respond_hours);
    cli_say("resolve by  %s (%s working hours; %s paused)\n", sb, k->resolve_hours, k->paused_hours);
    if (*k->cause)
        cli_say("resolution  %s: %s\n", k->cause, k->action);
    if (k->compensation_minor) {
        out_money_text(k->compensation_minor, money, sizeof money);
        cli_say("compensation %s %s%s%s\n", money, k->compensation_kind, *k->approved_by ? ", approved by " : "",
                k->approved_by);
    }
    if (k->satisfaction)
        cli_say("satisfaction %d/5\n", k->satisfaction);
    if (k->n_events) {
        cli_say("\n");
        rec_table(stdout, &case_event_rec, (void *const *)k->events, k->n_events);
    }
}

/* One case: the JSON object with --json, else for people (--csv too). */
static void print_case(struct cli *cli, const Kehu__V1__Case *k)
{
    if (cli->json)
        cli_print_records(cli, (void *const *)&k, 1, 0, &case_kind);
    else
        case_text(k);
}

static int call_case(struct cli *cli, Kehu__V1__Request *req)
{
    Kehu__V1__Response *resp;
    int rc = cli_call_for(cli, req, KEHU__V1__RESPONSE__RESULT_CASE, &resp);
    if (rc)
        return rc;
    print_case(cli, resp->case_);
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- case open */

/* --limit N (at most 500) and --after CURSOR of the lists that page by hand */
#define LIMIT_500_FLAGS { "limit", NULL, 1, 500, NULL, CLI_FLAG_NO_REPEAT }, { "after", NULL, 0, 0, NULL, CLI_FLAG_NO_REPEAT }

/* After a page that goes on: "N more" (translated when asked) and the command's two words with the cursor. */
static void more_rows(struct cli *cli, const char *next, int64_t remaining, int translated)
{
    if (!*next)
        return;
    if (!cli->json && !cli->csv)
        fprintf(stderr, translated ? _("%" PRId64 " more\n") : "%" PRId64 " more\n", remaining);
    char words[32];
    snprintf(words, sizeof words, "%s", cli->cmd->words);
    char *sp = strchr(words, ' ');
    const char *w[] = { words, sp ? sp + 1 : "" };
    if (sp)
        *sp = 0;
    cmd_customer_more(cli, w, 2, next);
}

/* One page of the list request m (op; its cursor *after) whose reply holds
 * the records `items`, printed as k says, then more_rows. */
static int one_page(struct cli *cli, int op, void *m, char **after, Kehu__V1__Response__ResultCase want,
                    const char *items, const struct cli_record_kind *k, int translated)
{
    struct cli_pages pages = { 0 };
    int rc = cli_fetch_list(cli, op, m, want, items, after, 0, &pages);
    if (rc == CLI_OK) {
        cli_print_records(cli, pages.items, pages.n, 1, k);
        more_rows(cli, pages.next ? pages.next : "", pages.remaining, translated);
    }
    cli_pages_free(&pages);
    return rc;
}

static int parse_int(struct cli *cli, const char *what, const char *s, int min, int max, int32_t *out)
{
    int64_t v;
    int rc = cmd_customer_parse_int(cli, what, s, min, max, &v);
    if (!rc)
        *out = (int32_t)v;
    return rc;
}

static int run_open(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "nature", NULL, 0, 0, NULL, 0 },  { "kind", NULL, 0, 0, NULL, 0 },  { "severity", NULL, 1, 4, NULL, 0 },
        { "channel", NULL, 0, 0, NULL, 0 }, { "title", NULL, 0, 0, NULL, 0 }, { "note", NULL, 0, 0, NULL, 0 },
        { "product", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__CaseOpen m = KEHU__V1__CASE_OPEN__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__case_open__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (!*m.nature || !*m.kind || !m.severity || !*m.channel || !*m.title)
        return cli_usage_error(cli, "--nature, --kind, --severity, --channel and --title are required");
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_CASE_OPEN, &m);
    return call_case(cli, &req);
}

static void print_one_case(struct cli *cli, const void *result)
{
    print_case(cli, result);
}

CLI_ONE_COMMAND(run_show, KEHU__V1__REQUEST__OP_CASE_GET, &kehu__v1__case_get__descriptor, "ID", "id",
                KEHU__V1__RESPONSE__RESULT_CASE, NULL, NULL, print_one_case)

/* ---- case list, case queue */

static int list_or_queue(struct cli *cli, int argc, char **argv, int queue)
{
    static const struct cli_flag flags[] = {
        { "status", NULL, 0, 0, NULL, 0 },
        { "mine", NULL, 0, 0, NULL, 0 },
        { "unit", NULL, 0, 0, NULL, 0 },
        { "customer", "customer_id", 0, 0, NULL, 0 },
        LIMIT_500_FLAGS,
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__CaseList m = KEHU__V1__CASE_LIST__INIT;
    m.queue = queue;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__case_list__descriptor, queue ? flags + 4 : flags, &m, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    return one_page(cli, KEHU__V1__REQUEST__OP_CASE_LIST, &m, &m.after, KEHU__V1__RESPONSE__RESULT_CASES, "cases",
                    &case_kind, 1);
}

static int run_list(struct cli *cli, int argc, char **argv)
{
    return list_or_queue(cli, argc, argv, 0);
}

static int run_queue(struct cli *cli, int argc, char **argv)
{
    return list_or_queue(cli, argc, argv, 1);
}

/* ---- the transitions: one request, the command word its action */

static int run_act(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "to", NULL, 0, 0, NULL, 0 },
        { "note", NULL, 0, 0, NULL, 0 },
        { "reason", "note", 0, 0, NULL, 0 },
        { "cause", NULL, 0, 0, NULL, 0 },
        { "action", "action_taken", 0, 0, NULL, 0 },
        { "compensation", "compensation_minor", 0, 0, NULL, 0 },
        { "compensation-kind", "compensation_kind", 0, 0, NULL, 0 },
        { "satisfaction", NULL, 1, 5, NULL, 0 },
        { "nature", NULL, 0, 0, NULL, 0 },
        { "kind", NULL, 0, 0, NULL, 0 },
        { "queue", NULL, 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    const char *action = strchr(cli->cmd->words, ' ') + 1;
    Kehu__V1__CaseAct m = KEHU__V1__CASE_ACT__INIT;
    m.action = (char *)action;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__case_act__descriptor, flags, &m, NULL, NULL)))
        return rc;
    if ((rc = cli_id_arg(cli, argc, argv, "ID", &m.id)))
        return rc;
    if (!strcmp(action, "assign") && *m.queue) {
        if (*m.to)
            return cli_usage_error(cli, "--to and --queue: one or the other");
        m.action = (char *)(action = "queue");
    }
    if (!strcmp(action, "assign") && !*m.to)
        return cli_usage_error(cli, "--to USERNAME or --queue TEAM is required");
    if (!strcmp(action, "resolve") && (!*m.cause || !*m.action_taken))
        return cli_usage_error(cli, "--cause and --action are required");
    if (!strcmp(action, "resolve") && m.compensation_minor && !*m.compensation_kind)
        return cli_usage_error(cli, "--compensation-kind is required with --compensation");
    if (!strcmp(action, "approve") && !m.compensation_minor)
        return cli_usage_error(cli, "--compensation AMOUNT is required");
    if (!strcmp(action, "close") && !m.satisfaction)
        return cli_usage_error(cli, "--satisfaction 1-5 is required");
    if ((!strcmp(action, "reopen") || !strcmp(action, "reclassify")) && !*m.note)
        return cli_usage_error(cli, "--reason is required");
    if (!strcmp(action, "reclassify") && (!*m.nature || !*m.kind))
        return cli_usage_error(cli, "--nature and --kind are required");
    if (!strcmp(action, "comment") && !*m.note)
        return cli_usage_error(cli, "--note is required");
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_CASE_ACT, &m, KEHU__V1__RESPONSE__RESULT_CASE, &resp)))
        return rc;
    if (cli->json)
        print_case(cli, resp->case_);
    else
        cli_say("case %" PRId64 ": %s (%s%s%s)\n", resp->case_->id, resp->case_->status, action,
                *resp->case_->handler ? ", handler " : "", resp->case_->handler);
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- calendar */

static char *day_kind_text(const void *msg)
{
    return out_xstrdup(((const Kehu__V1__CalendarDay *)msg)->working ? "workday" : "holiday");
}
static void day_kind_json(struct json_w *w, const void *msg)
{
    char *s = day_kind_text(msg);
    json_str(w, s);
    free(s);
}
static const struct rec_calc day_calc[] = { { "kind", day_kind_json, day_kind_text }, { NULL, NULL, NULL } };
static const struct rec_col day_cols[] = {
    { REC_AS_IS("day"), "day", OUT_LEFT, 0 }, { REC_AS_IS("kind"), "@kind", OUT_LEFT, 0 },
    { REC_AS_IS("name"), "name", OUT_LEFT, 0 }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind day_rec = { &kehu__v1__calendar_day__descriptor, "day kind=@kind name", day_cols,
                                         N_("no holidays or make-up working days set"), day_calc };
static const struct cli_record_kind calendar_kind = { .rec = &day_rec };

static void print_days(struct cli *cli, const void *result)
{
    const Kehu__V1__CalendarDays *d = result;
    cli_print_records(cli, (void *const *)d->days, d->n_days, 1, &calendar_kind);
}

static int run_cal_show(struct cli *cli, int argc, char **argv)
{
    int rc = cli_no_options(cli, argc, argv, 0, 1);
    if (rc)
        return rc;
    Kehu__V1__CalendarShow m = KEHU__V1__CALENDAR_SHOW__INIT;
    if (optind < argc && (rc = parse_int(cli, "YEAR", argv[optind], 1900, 9999, &m.year)))
        return rc;
    return cli_ask_print(cli, KEHU__V1__REQUEST__OP_CALENDAR_SHOW, &m, KEHU__V1__RESPONSE__RESULT_CALENDAR, NULL,
                         print_days);
}

static int send_days(struct cli *cli, Kehu__V1__CalendarDay **days, size_t n)
{
    Kehu__V1__CalendarSet m = KEHU__V1__CALENDAR_SET__INIT;
    m.days = days;
    m.n_days = n;
    return cli_ask_print(cli, KEHU__V1__REQUEST__OP_CALENDAR_SET, &m, KEHU__V1__RESPONSE__RESULT_CALENDAR, NULL,
                         print_days);
}

static int day_kind(struct cli *cli, const char *s, protobuf_c_boolean *working)
{
    if (!strcmp(s, "holiday"))
        *working = 0;
    else if (!strcmp(s, "workday"))
        *working = 1;
    else
        return cli_usage_error(cli, "expected holiday or workday, not '%s'", s);
    return 0;
}

static int run_cal_set(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = { { "name", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
    Kehu__V1__CalendarDay d = KEHU__V1__CALENDAR_DAY__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__calendar_day__descriptor, flags, &d, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 2, 2)))
        return rc;
    if ((rc = cmd_customer_check_date(cli, "DATE", argv[optind])) || (rc = day_kind(cli, argv[optind + 1], &d.working)))
        return rc;
    d.day = argv[optind];
    Kehu__V1__CalendarDay *dp[] = { &d };
    return send_days(cli, dp, 1);
}

/* A CSV of day,kind[,name] rows (a header line is skipped). */
static int run_cal_import(struct cli *cli, int argc, char **argv)
{
    int rc = cli_no_options(cli, argc, argv, 1, 1);
    if (rc)
        return rc;
    FILE *f = fopen(argv[optind], "r");
    if (!f)
        return cli_error(cli, CLI_USAGE, "%s: %s", argv[optind], strerror(errno));
    size_t n = 0, cap = 64;
    Kehu__V1__CalendarDay *days = calloc(cap, sizeof *days);
    Kehu__V1__CalendarDay **dp = NULL;
    char line[512];
    int lineno = 0;
    rc = CLI_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *day = line, *kind = strchr(line, ','), *name = NULL;
        if (!*line)
            continue;
        if (kind) {
            *kind++ = 0;
            if ((name = strchr(kind, ',')))
                *name++ = 0;
        }
        if (lineno == 1 && (day[0] < '0' || day[0] > '9'))
            continue; /* the header */
        if (n == cap)
            days = realloc(days, (cap *= 2) * sizeof *days);
        kehu__v1__calendar_day__init(&days[n]);
        if (!kind || cmd_customer_check_date(cli, "day", day) || day_kind(cli, kind, &days[n].working)) {
            fprintf(stderr, _("kehu: line %d: expected DATE,holiday|workday[,NAME]\n"), lineno);
            rc = CLI_USAGE;
            break;
        }
        days[n].day = strdup(day);
        days[n].name = strdup(name ? name : "");
        n++;
    }
    fclose(f);
    if (rc == CLI_OK && !n)
        rc = cli_usage_error(cli, "no days in %s", argv[optind]);
    if (rc == CLI_OK) {
        dp = calloc(n, sizeof *dp);
        for (size_t i = 0; i < n; i++)
            dp[i] = &days[i];
        rc = send_days(cli, dp, n);
    }
    for (size_t i = 0; i < n; i++) {
        free(days[i].day);
        free(days[i].name);
    }
    free(days);
    free(dp);
    return rc;
}

/* ---- hours */

static char *hours_span(const void *msg)
{
    const Kehu__V1__BusinessHours *h = msg;
    return out_xprintf("%s-%s", h->opens, h->closes);
}
static char *lunch_span(const void *msg)
{
    const Kehu__V1__BusinessHours *h = msg;
    return out_xprintf("%s%s%s", h->lunch_from, *h->lunch_from ? "-" : "", h->lunch_to);
}
static const struct rec_calc hours_calc[] = { { "hours", NULL, hours_span }, { "lunch", NULL, lunch_span },
                                              { NULL, NULL, NULL } };
static const struct rec_col hours_cols[] = {
    { REC_AS_IS("branch"), "branch|(default)", OUT_LEFT, 0 }, { REC_AS_IS("hours"), "@hours", OUT_LEFT, 0 },
    { REC_AS_IS("lunch"), "@lunch", OUT_LEFT, 0 },            { REC_AS_IS("time zone"), "tz", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind hours_rec = { &kehu__v1__business_hours__descriptor,
                                           "branch opens closes lunch_from lunch_to tz", hours_cols, NULL, hours_calc };
static const struct cli_record_kind hours_kind = { .rec = &hours_rec };

static void print_hours_list(struct cli *cli, const void *result)
{
    const Kehu__V1__BusinessHoursList *l = result;
    cli_print_records(cli, (void *const *)l->hours, l->n_hours, 1, &hours_kind);
}

CLI_ONE_COMMAND(run_hours_show, KEHU__V1__REQUEST__OP_HOURS_SHOW, &kehu__v1__hours_show__descriptor, NULL, NULL,
                KEHU__V1__RESPONSE__RESULT_HOURS, NULL, NULL, print_hours_list)

/* "09:00-17:30" into two 5-byte strings. */
static int span(struct cli *cli, const char *what, const char *s, char *a, char *b)
{
    if (strlen(s) != 11 || s[5] != '-')
        return cli_usage_error(cli, "%s: expected HH:MM-HH:MM, not '%s'", what, s);
    memcpy(a, s, 5);
    a[5] = 0;
    memcpy(b, s + 6, 5);
    b[5] = 0;
    return 0;
}

static int run_hours_set(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "branch", required_argument, NULL, O_BRANCH },
        { "lunch", required_argument, NULL, O_LUNCH },
        { "tz", required_argument, NULL, O_TZ },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__BusinessHours h = KEHU__V1__BUSINESS_HOURS__INIT;
    char o[6], cl[6], lf[6] = "", lt[6] = "";
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_BRANCH: h.branch = optarg; break;
        case O_LUNCH:
            if ((rc = span(cli, "--lunch", optarg, lf, lt)))
                return rc;
            break;
        case O_TZ: h.tz = optarg; break;
        default: return cli->opt_rc;
        }
    }
    if ((rc = cli_args(cli, argc, argv, 1, 1)) || (rc = span(cli, "HOURS", argv[optind], o, cl)))
        return rc;
    h.opens = o;
    h.closes = cl;
    h.lunch_from = lf;
    h.lunch_to = lt;
    Kehu__V1__HoursSet m = KEHU__V1__HOURS_SET__INIT;
    m.hours = &h;
    return cli_ask_print(cli, KEHU__V1__REQUEST__OP_HOURS_SET, &m, KEHU__V1__RESPONSE__RESULT_HOURS, NULL,
                         print_hours_list);
}

/* ---- report cases */

static void share(char *buf, size_t n, int64_t part, int64_t whole)
{
    if (whole)
        snprintf(buf, n, "%.1f%%", 100.0 * (double)part / (double)whole);
    else
        snprintf(buf, n, "-");
}

static const struct rec_kind repeat_rec = { &kehu__v1__case_count__descriptor, "customer=key complaints=cases", NULL,
                                            NULL, NULL };
static const struct rec_kind trend_rec = {
    &kehu__v1__case_trend__descriptor,
    "period key opened complaints resolved resolve_met compensation_minor satisfaction_mean", NULL, NULL, NULL,
};
static const struct rec_kind case_count_rec = { &kehu__v1__case_count__descriptor, "dimension key cases", NULL, NULL,
                                                NULL };
/* The report's CSV: its counts, repeat complainants and trend as rows of
 * one shape (dimension, key, cases), under case_count_rec's header. */
static char *repeat_dimension(const void *msg)
{
    (void)msg;
    return out_xstrdup("repeat_complainant");
}
static const struct rec_calc repeat_csv_calc[] = { { "repeat", NULL, repeat_dimension }, { NULL, NULL, NULL } };
static const struct rec_kind repeat_csv_rec = { &kehu__v1__case_count__descriptor, "dimension=@repeat key cases", NULL,
                                                NULL, repeat_csv_calc };
static const struct rec_kind trend_csv_rec = { &kehu__v1__case_trend__descriptor, "dimension=period key cases=opened",
                                               NULL, NULL, NULL };

REC_JSON_ARRAY(report_repeats_json, Kehu__V1__CaseReportResult, repeats, &repeat_rec)
REC_JSON_ARRAY(report_trend_json, Kehu__V1__CaseReportResult, trend, &trend_rec)
REC_JSON_ARRAY(report_counts_json, Kehu__V1__CaseReportResult, counts, &case_count_rec)
static const struct rec_calc case_report_calc[] = {
    { "repeats", report_repeats_json, NULL }, { "trend", report_trend_json, NULL },
    { "counts", report_counts_json, NULL },   { NULL, NULL, NULL },
};
/* case report --json: the figures, then its lists */
static const struct rec_kind case_report_rec = {
    &kehu__v1__case_report_result__descriptor,
    "from to total responded respond_met resolved resolve_met respond_mean_hours respond_p90_hours "
    "resolve_mean_hours resolve_p90_hours compensation_minor satisfaction_mean rated satisfied surveys "
    "survey_satisfaction_mean repeat_complainants repeats=@repeats trend=@trend counts=@counts",
    NULL, NULL, case_report_calc,
};

static int run_report(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "unit", NULL, 0, 0, NULL, 0 },
        { "period", NULL, 0, 0, NULL, 0 },
        { "owner", NULL, 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__CaseReport m = KEHU__V1__CASE_REPORT__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__case_report__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_CASE_REPORT, &m, KEHU__V1__RESPONSE__RESULT_CASE_REPORT, &resp)))
        return rc;
    const Kehu__V1__CaseReportResult *x = resp->case_report;
    if (cli->json) {
        cli_json_record(&case_report_rec, x);
    } else if (cli->csv) {
        rec_csv_head(stdout, &case_count_rec);
        rec_csv_rows(stdout, &case_count_rec, (void *const *)x->counts, x->n_counts);
        rec_csv_rows(stdout, &repeat_csv_rec, (void *const *)x->repeats, x->n_repeats);
        rec_csv_rows(stdout, &trend_csv_rec, (void *const *)x->trend, x->n_trend);
    } else {
        char a[16], b[16], money[48];
        share(a, sizeof a, x->respond_met, x->responded);
        share(b, sizeof b, x->resolve_met, x->resolved);
        out_money_text(x->compensation_minor, money, sizeof money);
        if (*x->from)
            cli_say("cases opened %s to %s: %" PRId64 "\n", x->from, x->to, x->total);
        else
            cli_say("cases: %" PRId64 "\n", x->total);
        cli_say("response    %s on time (%" PRId64 " of %" PRId64 "), mean %s h, p90 %s h (working hours)\n", a,
                x->respond_met, x->responded, *x->respond_mean_hours ? x->respond_mean_hours : "-",
                *x->respond_p90_hours ? x->respond_p90_hours : "-");
        cli_say("resolution  %s on time (%" PRId64 " of %" PRId64 "), mean %s h, p90 %s h\n", b, x->resolve_met,
                x->resolved, *x->resolve_mean_hours ? x->resolve_mean_hours : "-",
                *x->resolve_p90_hours ? x->resolve_p90_hours : "-");
        char sat[16];
        share(sat, sizeof sat, x->satisfied, x->rated);
        cli_say("compensation %s\n", money);
        cli_say("satisfaction %s of 5 on closing (%s satisfied, %" PRId64 " rated); surveys %" PRId64
                ", perceived/expected %s\n",
                *x->satisfaction_mean ? x->satisfaction_mean : "-", sat, x->rated, x->surveys,
                *x->survey_satisfaction_mean ? x->survey_satisfaction_mean : "-");
        cli_say("repeat complainants %" PRId64 "", x->repeat_complainants);
        for (size_t i = 0; i < x->n_repeats; i++)
            cli_say("%s %s (%" PRId64 ")", i ? "," : ":", x->repeats[i]->key, x->repeats[i]->cases);
        cli_say("\n\n");
        static const char *const head[] = { "by", "key", "cases" };
        struct out_table *t = out_table_new(3, head);
        for (size_t i = 0; i < x->n_counts; i++) {
            char n[24];
            snprintf(n, sizeof n, "%" PRId64, x->counts[i]->cases);
            const char *cells[] = { x->counts[i]->dimension, x->counts[i]->key, n };
            out_table_add(t, cells);
        }
        out_table_align(t, 2, OUT_RIGHT);
        out_table_print(t, stdout);
        out_table_free(t);
        if (x->n_trend) {
            static const char *const th[] = { "trend", "opened", "complaints", "resolved", "on time",
                                              "compensation", "satisfaction" };
            struct out_table *tt = out_table_new(7, th);
            for (size_t i = 0; i < x->n_trend; i++) {
                const Kehu__V1__CaseTrend *p = x->trend[i];
                char o[24], cm[24], rs[24], ot[16], mo[48];
                snprintf(o, sizeof o, "%" PRId64, p->opened);
                snprintf(cm, sizeof cm, "%" PRId64, p->complaints);
                snprintf(rs, sizeof rs, "%" PRId64, p->resolved);
                share(ot, sizeof ot, p->resolve_met, p->resolved);
                out_money_text(p->compensation_minor, mo, sizeof mo);
                const char *cells[] = { p->key, o, cm, rs, ot, mo, *p->satisfaction_mean ? p->satisfaction_mean : "-" };
                out_table_add(tt, cells);
            }
            for (int col = 1; col < 7; col++)
                out_table_align(tt, col, OUT_RIGHT);
            cli_say("\n");
            out_table_print(tt, stdout);
            out_table_free(tt);
        }
    }
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- surveys */

static void survey_scores_json(struct json_w *w, const void *msg)
{
    const Kehu__V1__Survey *v = msg;
    rec_json_array(w, &score_rec, (void *const *)v->scores, v->n_scores);
}

/* "service 4/5, speed 3/4": perceived/expected per aspect */
static char *survey_scores(const void *msg)
{
    const Kehu__V1__Survey *v = msg;
    char scores[512] = "";
    for (size_t k = 0; k < v->n_scores; k++) {
        size_t len = strlen(scores);
        snprintf(scores + len, sizeof scores - len, "%s%s %d/%d", k ? ", " : "", v->scores[k]->aspect,
                 v->scores[k]->perceived, v->scores[k]->expected);
    }
    return out_xstrdup(scores);
}

static char *survey_customer(const void *msg)
{
    const Kehu__V1__Survey *v = msg;
    return out_xprintf("%" PRId64 " %s", v->customer_id, v->customer_name);
}

/* the case it follows, else the sampled period, else "-" */
static char *survey_case(const void *msg)
{
    const Kehu__V1__Survey *v = msg;
    return v->case_id ? out_xprintf("%" PRId64, v->case_id) : out_xstrdup(*v->period ? v->period : "-");
}

static const struct rec_calc survey_calc[] = {
    { "scores", survey_scores_json, survey_scores }, { "customer", NULL, survey_customer },
    { "case", NULL, survey_case },                   { NULL, NULL, NULL },
};
static const struct rec_col survey_cols[] = {
    { REC_AS_IS("id"), "id", OUT_LEFT, 0 },         { REC_AS_IS("customer"), "@customer", OUT_LEFT, 0 },
    { REC_AS_IS("case"), "@case", OUT_LEFT, 0 },    { REC_AS_IS("status"), "status", OUT_LEFT, 0 },
    { REC_AS_IS("sent"), "^sent_at", OUT_LEFT, 0 }, { REC_AS_IS("satisfaction"), "satisfaction", OUT_LEFT, 0 },
    { REC_AS_IS("scores"), "@scores", OUT_LEFT, 0 }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind survey_rec = {
    &kehu__v1__survey__descriptor,
    "id customer_id case_id? customer_name status period sent_by ^sent_at recorded_by ^recorded_at "
    "#satisfaction? scores=@scores",
    survey_cols, N_("no surveys"), survey_calc,
};
static const struct cli_record_kind survey_kind = { .rec = &survey_rec };

static const struct cli_flag survey_send_flags[] = { { "case", "case_id", 0, 0, NULL, 0 },
                                                     { NULL, NULL, 0, 0, NULL, 0 } };
CLI_ONE_COMMAND(run_survey_send, KEHU__V1__REQUEST__OP_SURVEY_SEND, &kehu__v1__survey_send__descriptor, "CUSTOMER_ID",
                "customer_id", KEHU__V1__RESPONSE__RESULT_SURVEY, &survey_kind, survey_send_flags)

/* --score ASPECT=EXPECTED/PERCEIVED, repeated */
static int run_survey_record(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "score", required_argument, NULL, O_NOTE },
        { NULL, 0, NULL, 0 },
    };
    enum { MAXS = 20 };
    Kehu__V1__SurveyScore s[MAXS], *sp[MAXS];
    char aspect[MAXS][64];
    size_t n = 0;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != O_NOTE)
            return cli->opt_rc;
        int e, p, used = 0;
        const char *eq = strrchr(optarg, '=');
        if (n == MAXS || !eq || eq == optarg || (size_t)(eq - optarg) >= sizeof aspect[0] ||
            sscanf(eq + 1, "%d/%d%n", &e, &p, &used) != 2 || eq[1 + used] || e < 1 || e > 5 || p < 1 || p > 5)
            return cli_usage_error(cli, "--score: expected ASPECT=EXPECTED/PERCEIVED (1-5 each, at most %d), not '%s'",
                                   MAXS, optarg);
        kehu__v1__survey_score__init(&s[n]);
        memcpy(aspect[n], optarg, (size_t)(eq - optarg));
        aspect[n][eq - optarg] = 0;
        s[n].aspect = aspect[n];
        s[n].expected = e;
        s[n].perceived = p;
        sp[n] = &s[n];
        n++;
    }
    Kehu__V1__SurveyRecord m = KEHU__V1__SURVEY_RECORD__INIT;
    if ((rc = cli_id_arg(cli, argc, argv, "ID", &m.id)))
        return rc;
    if (!n)
        return cli_usage_error(cli, "at least one --score ASPECT=EXPECTED/PERCEIVED is required");
    m.scores = sp;
    m.n_scores = n;
    return cli_ask_print(cli, KEHU__V1__REQUEST__OP_SURVEY_RECORD, &m, KEHU__V1__RESPONSE__RESULT_SURVEY, &survey_kind,
                         NULL);
}

static int run_survey_list(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "pending", NULL, 0, 0, NULL, 0 }, LIMIT_500_FLAGS, { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__SurveyList m = KEHU__V1__SURVEY_LIST__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__survey_list__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 1)))
        return rc;
    if (optind < argc && (rc = cmd_customer_parse_int(cli, "CUSTOMER_ID", argv[optind], 1, INT64_MAX, &m.customer_id)))
        return rc;
    return one_page(cli, KEHU__V1__REQUEST__OP_SURVEY_LIST, &m, &m.after, KEHU__V1__RESPONSE__RESULT_SURVEYS,
                    "surveys", &survey_kind, 0);
}

/* ---- quality alerts */

static char *alert_about(const void *msg)
{
    const Kehu__V1__QualityAlert *a = msg;
    return out_xprintf("%s %s", a->dimension, a->key);
}
static const struct rec_calc alert_calc[] = { { "about", NULL, alert_about }, { NULL, NULL, NULL } };
static const struct rec_col alert_cols[] = {
    { REC_AS_IS("id"), "id", OUT_LEFT, 0 },
    { REC_AS_IS("week"), "period", OUT_LEFT, 0 },
    { REC_AS_IS("branch"), "branch", OUT_LEFT, 0 },
    { REC_AS_IS("about"), "@about", OUT_LEFT, 0 },
    { REC_AS_IS("complaints"), "complaints", OUT_RIGHT, 0 },
    { REC_AS_IS("weeks before"), "baseline", OUT_LEFT, 0 },
    { REC_AS_IS("why"), "reason", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind alert_rec = {
    &kehu__v1__quality_alert__descriptor,
    "id period dimension branch_id branch key complaints #baseline reason ^created_at", alert_cols,
    N_("no quality alerts"), alert_calc,
};
static const struct cli_record_kind alert_kind = { .rec = &alert_rec };

static int run_alerts(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = { LIMIT_500_FLAGS, { NULL, NULL, 0, 0, NULL, 0 } };
    Kehu__V1__QualityAlertList m = KEHU__V1__QUALITY_ALERT_LIST__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__quality_alert_list__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    return one_page(cli, KEHU__V1__REQUEST__OP_QUALITY_ALERT_LIST, &m, &m.after,
                    KEHU__V1__RESPONSE__RESULT_QUALITY_ALERTS, "alerts", &alert_kind, 0);
}

/* ---- settings: severity levels, escalation rules, survey sampling rules, policies */

/* The command's section: "case severity" -> "severity.", ... "" everything. */
static const char *settings_prefix(struct cli *cli)
{
    const char *w = cli->cmd->words;
    if (!strncmp(w, "case severity", 13))
        return "severity.";
    if (!strncmp(w, "case escalation", 15))
        return "escalation.";
    if (!strncmp(w, "survey rules", 12))
        return "survey.";
    if (!strncmp(w, "case policy", 11))
        return "policy.";
    return "";
}

static void print_settings(struct cli *cli, const Kehu__V1__CaseSettings *l, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        for (size_t i = 0; i < l->n_settings; i++)
            if (!strncmp(l->settings[i]->key, prefix, plen))
                json_kstr(&w, l->settings[i]->key, l->settings[i]->value);
        json_end_object(&w);
        json_finish(&w);
        return;
    }
    if (cli->csv) {
        static const char *const head[] = { "key", "value", "note" };
        cli_csv_row(stdout, 3, head);
    }
    struct out_table *t = NULL;
    if (!cli->csv) {
        static const char *const head[] = { "setting", "value", "note" };
        t = out_table_new(3, head);
    }
    for (size_t i = 0; i < l->n_settings; i++) {
        const Kehu__V1__CaseSetting *x = l->settings[i];
        if (strncmp(x->key, prefix, plen) != 0)
            continue;
        const char *cells[] = { x->key, x->value, x->note };
        if (cli->csv)
            cli_csv_row(stdout, 3, cells);
        else
            out_table_add(t, cells);
    }
    if (t) {
        out_table_max_width(t, 1, 60);
        out_table_print(t, stdout);
        out_table_free(t);
    }
}

static int settings_call(struct cli *cli, Kehu__V1__CaseSetting **x, size_t n, const char *prefix)
{
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    Kehu__V1__CaseSettingsShow show = KEHU__V1__CASE_SETTINGS_SHOW__INIT;
    Kehu__V1__CaseSettingsSet set = KEHU__V1__CASE_SETTINGS_SET__INIT;
    if (n) {
        set.settings = x;
        set.n_settings = n;
        req.op_case = KEHU__V1__REQUEST__OP_CASE_SETTINGS_SET;
        req.case_settings_set = &set;
    } else {
        req.op_case = KEHU__V1__REQUEST__OP_CASE_SETTINGS_SHOW;
        req.case_settings_show = &show;
    }
    Kehu__V1__Response *resp;
    int rc = cli_call_for(cli, &req, KEHU__V1__RESPONSE__RESULT_CASE_SETTINGS, &resp);
    if (rc)
        return rc;
    print_settings(cli, resp->case_settings, prefix);
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_settings_show(struct cli *cli, int argc, char **argv)
{
    int rc = cli_no_options(cli, argc, argv, 0, 0);
    if (rc)
        return rc;
    return settings_call(cli, NULL, 0, settings_prefix(cli));
}

enum { SETTINGS_MAX = 100 };

/* case policy set KEY=VALUE ... (KEY with or without its section) */
static int run_settings_set(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int rc = cli_args(cli, argc, argv, 1, SETTINGS_MAX);
    if (rc)
        return rc;
    const char *prefix = settings_prefix(cli);
    Kehu__V1__CaseSetting x[SETTINGS_MAX], *xp[SETTINGS_MAX];
    char keys[SETTINGS_MAX][128];
    size_t n = 0;
    for (int i = optind; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) + strlen(prefix) >= sizeof keys[0])
            return cli_usage_error(cli, "expected KEY=VALUE, not '%s'", argv[i]);
        int has = *prefix && !strncmp(argv[i], prefix, strlen(prefix));
        snprintf(keys[n], sizeof keys[n], "%s%.*s", has ? "" : prefix, (int)(eq - argv[i]), argv[i]);
        kehu__v1__case_setting__init(&x[n]);
        x[n].key = keys[n];
        x[n].value = (char *)eq + 1;
        xp[n] = &x[n];
        n++;
    }
    return settings_call(cli, xp, n, prefix);
}

/* The flags of case severity set / case escalation set / survey rules set, as settings. */
static int run_settings_flags(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "name", required_argument, NULL, O_NAME },       { "definition", required_argument, NULL, O_DEFINITION },
        { "respond", required_argument, NULL, O_RESPOND }, { "resolve", required_argument, NULL, O_RESOLVE },
        { "warn-at", required_argument, NULL, O_WARN_AT }, { "warn", required_argument, NULL, O_WARN },
        { "breach", required_argument, NULL, O_BREACH },   { "share", required_argument, NULL, O_SHARE },
        { "every", required_argument, NULL, O_EVERY },     { NULL, 0, NULL, 0 },
    };
    const char *prefix = settings_prefix(cli);
    int sev = !strcmp(prefix, "severity."), esc = !strcmp(prefix, "escalation.");
    Kehu__V1__CaseSetting x[8], *xp[8];
    char keys[8][96];
    const char *fields[8];
    size_t n = 0;
    int c;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        const char *f = NULL;
        switch (c) {
        case O_NAME: f = sev ? "name" : NULL; break;
        case O_DEFINITION: f = sev ? "definition" : NULL; break;
        case O_RESPOND: f = sev ? "respond_hours" : NULL; break;
        case O_RESOLVE: f = sev ? "resolve_hours" : NULL; break;
        case O_WARN_AT: f = esc ? "warn_at" : NULL; break;
        case O_WARN: f = esc ? "warn" : NULL; break;
        case O_BREACH: f = esc ? "breach" : NULL; break;
        case O_SHARE: f = !sev && !esc ? "share" : NULL; break;
        case O_EVERY: f = !sev && !esc ? "every" : NULL; break;
        default: return cli->opt_rc;
        }
        if (!f) {
            const char *name = "";
            for (const struct option *o = opts; o->name; o++)
                if (o->val == c)
                    name = o->name;
            return cli_usage_error(cli, "--%s does not apply to %s", name, cli->cmd->words);
        }
        if (n == 8)
            return cli_usage_error(cli, "too many flags");
        fields[n] = f;
        kehu__v1__case_setting__init(&x[n]);
        x[n].value = optarg;
        xp[n] = &x[n];
        n++;
    }
    int rc = cli_args(cli, argc, argv, esc ? 2 : 1, esc ? 2 : 1);
    if (rc)
        return rc;
    if (!n)
        return cli_usage_error(cli, "nothing to set: see kehu help %s", cli->cmd->words);
    for (size_t i = 0; i < n; i++) {
        if (esc)
            snprintf(keys[i], sizeof keys[i], "%s%.20s.%.8s.%s", prefix, argv[optind], argv[optind + 1], fields[i]);
        else
            snprintf(keys[i], sizeof keys[i], "%s%.20s.%s", prefix, argv[optind], fields[i]);
        x[i].key = keys[i];
    }
    return settings_call(cli, xp, n, prefix);
}

const struct cli_cmd cmd_case_table[] = {
    { "case open",
      "CUSTOMER_ID --nature complaint|request --kind K --severity 1-4 --channel CH --title T [--note N] [--product P]",
      N_("open a complaint or request on a customer (--product P: the product it is about)"), 1, run_open },
    { "case show", "ID", N_("a case with its history"), 1, run_show },
    { "case take", "ID [--note N]", N_("take a case from your team's queue"), 1, run_act },
    { "case alerts", "[--limit N] [--after CURSOR]",
      N_("service-quality early warnings: valid complaints about a product or a branch above the threshold or rising"), 1,
      run_alerts },
    { "case severity show", "", N_("the severity levels: names, definitions, targets in working hours"), 1,
      run_settings_show },
    { "case severity set", "LEVEL [--name N] [--definition D] [--respond HOURS] [--resolve HOURS]",
      N_("edit a severity level (admins)"), 1, run_settings_flags },
    { "case escalation show", "", N_("the escalation rules per nature and severity"), 1, run_settings_show },
    { "case escalation set", "NATURE SEVERITY [--warn-at 80%] [--warn notify|reassign|escalate] [--breach ACTION]",
      N_("edit an escalation rule (admins)"), 1, run_settings_flags },
    { "case policy show", "", N_("the case policies (warning point, compensation approval, quality alerts)"), 1,
      run_settings_show },
    { "case policy set", "KEY=VALUE ...", N_("edit case policies (admins)"), 1, run_settings_set },
    { "case settings show", "", N_("every case setting: severity.*, escalation.*, survey.*, policy.*"), 1,
      run_settings_show },
    { "case settings set", "KEY=VALUE ...", N_("edit any case settings at once, all or nothing (admins)"), 1,
      run_settings_set },
    { "survey rules show", "", N_("periodic survey sampling per grade"), 1, run_settings_show },
    { "survey rules set", "GRADE [--share 20%] [--every month|quarter|year]",
      N_("edit a grade's periodic survey sampling (admins)"), 1, run_settings_flags },
    { "case list", "[--status S] [--mine] [--unit U] [--customer ID] [--limit N] [--after CURSOR]",
      N_("cases of customers you may see, newest first"), 1, run_list },
    { "case queue", "[--limit N] [--after CURSOR]",
      N_("your open cases and your teams' queues, by priority and deadline"), 1, run_queue },
    { "case assign", "ID --to USERNAME|owner | --queue TEAM",
      N_("give a case to an agent, the customer's owner, or a team's queue"), 1, run_act },
    { "case start", "ID [--note N]", N_("start work on a case (its response)"), 1, run_act },
    { "case wait", "ID [--note N]", N_("wait on the customer: the clock pauses"), 1, run_act },
    { "case resume", "ID [--note N]", N_("the customer answered: the clock runs again"), 1, run_act },
    { "case approve", "ID --compensation AMOUNT", N_("approve compensation up to AMOUNT (branch managers)"), 1, run_act },
    { "case resolve", "ID --cause C --action A [--compensation AMOUNT --compensation-kind K]", "resolve a case", 1,
      run_act },
    { "case close", "ID --satisfaction 1-5", N_("close a resolved case with the customer's satisfaction"), 1, run_act },
    { "case reopen", "ID --reason R", N_("reopen a resolved or closed case"), 1, run_act },
    { "case reclassify", "ID --nature N --kind K --reason R", N_("change a case's nature and kind"), 1, run_act },
    { "case comment", "ID --note N", N_("add a note to a case's history"), 1, run_act },
    { "calendar show", "[YEAR]", N_("holidays and make-up working days"), 1, run_cal_show },
    { "calendar set", "DATE holiday|workday [--name N]", N_("mark a day (admins)"), 1, run_cal_set },
    { "calendar import", "FILE.csv", N_("days from a CSV: DATE,holiday|workday[,NAME] (admins)"), 1, run_cal_import },
    { "hours show", "", N_("business hours per branch"), 1, run_hours_show },
    { "hours set", "[--branch B] HH:MM-HH:MM [--lunch HH:MM-HH:MM] [--tz ZONE]",
      N_("business hours of a branch, or the default (admins)"), 1, run_hours_set },
    { "survey send", "CUSTOMER_ID [--case ID]", N_("start a satisfaction survey (about a case, or periodic)"), 1,
      run_survey_send },
    { "survey record", "ID --score ASPECT=EXPECTED/PERCEIVED ...",
      N_("record the answers: each aspect's expected and perceived score (1-5)"), 1, run_survey_record },
    { "survey list", "[CUSTOMER_ID] [--pending] [--limit N] [--after CURSOR]",
      N_("surveys and their satisfaction (perceived / expected): one customer's, or all you may see"), 1,
      run_survey_list },
    { "report cases", "[--unit UNIT] [--owner U] [--period 2026-10|2026-Q3|2026]",
      N_("cases by nature, kind, severity, cause, product, channel, branch, handler; SLA attainment; working"
      " times; compensation; repeat complainants; satisfaction; trend by week and month"), 1, run_report },
    { NULL, NULL, NULL, 0, NULL },
};
