/* Grading and what follows from it (docs/grading.md): grade run|show|
 * override|approve|overrides|assess|policy show|policy set, care today,
 * churn list|ack|lost and report KIND.
 *
 * A grading run can take minutes: it is sent with kehu_send and waited for
 * (up to an hour) while the "grade.progress" events kehud pushes on the same
 * connection move a progress bar on a terminal. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grades.h"
#include "out.h"
#include "term.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define RUN_WAIT_MS (60 * 60 * 1000) /* a run at scale takes minutes */
#define RUN_POLL_MS 200              /* how often progress events are looked at */
#define NAME_COLS 24
#define TEXT_COLS 40
#define LIMIT_MAX 1000
#define CARE_DAYS_MAX 366
#define CARE_LIMIT_MAX 5000
#define TOP_MAX 50

enum {
    O_DRY_RUN = 0x100,
    O_AS_OF,
    O_LIFECYCLE,
    O_LIVE,
    O_FORCE,
    O_DIMENSION,
    O_GRADE,
    O_REASON,
    O_UNTIL,
    O_REVOKE,
    O_REJECT,
    O_STATUS,
    O_CUSTOMER,
    O_NOTES,
    O_USER,
    O_DAYS,
    O_DATE,
    O_LIMIT,
    O_PLAN,
    O_NOTE,
    O_UNIT,
    O_OWNER,
    O_BY,
    O_TOP,
    O_FROM_RUN,
    O_TO_RUN,
};

static const char *const override_statuses[] = { "pending", "active", "rejected", "revoked", "expired" };
static const char *const churn_statuses[] = { "open", "acknowledged", "recovered", "lost", "closed", "all" };
static const char *const lost_reasons[] = { "dropped", "needs_unmet", "competitor_offer", "lower_price",
                                            "circumstances" };
static const char *const report_groupings[] = { "branch", "owner" };

/* ---- Small helpers -------------------------------------------------------------------------- */

static void fmt_i64(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%" PRId64, v);
}

/* An id where 0 means none: the number, or "" (a cell) / null (JSON). */
static void fmt_id(char *buf, size_t n, int64_t v)
{
    if (v)
        fmt_i64(buf, n, v);
    else if (n)
        buf[0] = 0;
}

static void json_kid(struct json_w *w, const char *key, int64_t id)
{
    if (id)
        json_kint(w, key, id);
    else
        json_knull(w, key);
}

/* A date or other optional string: null when empty. */
static void json_kopt(struct json_w *w, const char *key, const char *s)
{
    json_kstr(w, key, s && *s ? s : NULL);
}

static void json_ktime(struct json_w *w, const char *key, int64_t ms)
{
    char t[OUT_TIME_BUFSZ];
    out_time_ms(ms, t, sizeof t);
    json_kstr(w, key, *t ? t : NULL);
}

/* Sections of human output are separated by a blank line printed with
 * putchar: cli_say shows a newline inside its text as a space. */

/* "-" for an empty cell that means "none". */
static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* A share 0..1 as a percentage with one decimal ("48.0%"), whatever the
 * locale's decimal point. */
static void fmt_percent(char *buf, size_t n, double share)
{
    if (out_fixed_format(share * 100, 1, buf, n - 1) >= 0)
        strcat(buf, "%");
    else
        snprintf(buf, n, "-");
}

/* Milliseconds as people read a duration: "850 ms", "2.31 s", "4 min 05 s". */
static void fmt_duration(char *buf, size_t n, int64_t ms)
{
    if (ms < 1000)
        snprintf(buf, n, "%" PRId64 " ms", ms);
    else if (ms < 60000)
        snprintf(buf, n, "%" PRId64 ".%02" PRId64 " s", ms / 1000, ms % 1000 / 10);
    else
        snprintf(buf, n, "%" PRId64 " min %02" PRId64 " s", ms / 60000, ms % 60000 / 1000);
}

/* value must be one of names; a usage error naming the flag and the valid
 * values otherwise. */
static int one_of(struct cli *cli, const char *flag, const char *value, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0)
            return 0;
    char hint[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(hint + len, sizeof hint - len, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
        if (w < 0 || (size_t)w >= sizeof hint - len)
            break;
        len += (size_t)w;
    }
    if (!*value)
        return cli_usage_error(cli, "%s: must not be empty: use %s", flag, hint);
    return cli_usage_error(cli, "%s: unknown value '%s': use %s", flag, value, hint);
}

static int not_empty(struct cli *cli, const char *flag, const char *value)
{
    return *value ? 0 : cli_usage_error(cli, "%s: must not be empty", flag);
}

/* ---- grade run --------------------------------------------------------------------------------- */

struct reply_slot {
    int done;
    Kehu__V1__Response *resp;
    struct kehu_status st;
};

/* Static: when the wait is given up, the library still calls back (with no
 * response) as the client is closed at exit. */
static struct reply_slot run_slot;

/* The library frees resp when this returns: keep a copy. */
static void keep_reply(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct reply_slot *slot = arg;
    if (slot->done)
        return;
    slot->done = 1;
    slot->st = *st;
    if (!resp)
        return;
    size_t len = kehu__v1__response__get_packed_size(resp);
    uint8_t *buf = out_xmalloc(len);
    kehu__v1__response__pack(resp, buf);
    slot->resp = kehu__v1__response__unpack(NULL, len, buf);
    free(buf);
    if (!slot->resp) {
        slot->st.code = KEHU_TRANSPORT;
        snprintf(slot->st.message, sizeof slot->st.message, "out of memory reading the reply");
    }
}

/* "3/7 ranking" -> "grading: ranking", 3 of 7. */
static void show_progress(const char *detail)
{
    unsigned long long done, total;
    int off = 0;
    char label[200];
    if (sscanf(detail, "%llu/%llu %n", &done, &total, &off) == 2 && off > 0) {
        snprintf(label, sizeof label, "grading%s%s", detail[off] ? ": " : "", detail + off);
        term_progress(label, done, total);
    } else {
        snprintf(label, sizeof label, "grading: %s", detail);
        term_progress(label, 0, 0);
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* cli_call for a request that takes long and reports progress as events:
 * waits up to an hour (or --timeout when longer), showing each
 * "grade.progress" event on a terminal unless show is 0. */
static int call_with_progress(struct cli *cli, const Kehu__V1__Request *req, int show, Kehu__V1__Response **resp)
{
    *resp = NULL;
    int rc = cli_connect(cli);
    if (rc)
        return rc;
    int wait_ms = cli->timeout_ms > RUN_WAIT_MS ? cli->timeout_ms : RUN_WAIT_MS;
    kehu_set_timeout(cli->client, wait_ms); /* also covers writing the request */
    memset(&run_slot, 0, sizeof run_slot);
    struct kehu_status st;
    if (kehu_send(cli->client, req, keep_reply, &run_slot, NULL, &st) < 0 && !run_slot.done) {
        run_slot.done = 1;
        run_slot.st = st;
    }
    int64_t deadline = mono_ms() + wait_ms;
    while (!run_slot.done) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            run_slot.st.code = KEHU_TRANSPORT;
            snprintf(run_slot.st.message, sizeof run_slot.st.message, "timeout waiting for %s", cli->server);
            break; /* run_slot stays pending in the client; closing it calls back */
        }
        int r = kehu_run(cli->client, left < RUN_POLL_MS ? (int)left : RUN_POLL_MS);
        Kehu__V1__Event *ev;
        while ((ev = kehu_next_event(cli->client, 0, &st)) != NULL) {
            if (show && strcmp(ev->kind, "grade.progress") == 0)
                show_progress(ev->detail);
            kehu_event_free(ev);
        }
        if (r < 0 && !run_slot.done) { /* cannot happen: a transport error fails what is pending */
            run_slot.done = 1;
            run_slot.st.code = KEHU_TRANSPORT;
        }
    }
    term_progress_done();
    kehu_set_timeout(cli->client, cli->timeout_ms);
    struct reply_slot got = run_slot;
    run_slot.resp = NULL;
    if (got.resp && got.st.code == KEHU__V1__CODE__OK) {
        *resp = got.resp;
        return CLI_OK;
    }
    kehu_response_free(got.resp);
    if (got.st.code == KEHU__V1__CODE__OK) {
        got.st.code = KEHU_TRANSPORT;
        got.st.message[0] = 0;
    }
    return cli_fail_status(cli, &got.st);
}

static const struct rec_kind move_rec = { &kehu__v1__grade_move__descriptor, "dimension from? to customers", NULL,
                                          NULL, NULL };

static void json_moves(struct json_w *w, const char *key, Kehu__V1__GradeMove *const *m, size_t n)
{
    cli_json_records(w, key, &move_rec, (void *const *)m, n);
}

/* The sales thresholds a full run used, from its parameters
 * ("volume.a_min_used": "123.45", ...): "A 123.45, B 67.00, C 8.90". */
static int volume_thresholds(const char *params, char *out, size_t size)
{
    static const char *const keys[] = { "\"volume.a_min_used\": \"", "\"volume.b_min_used\": \"",
                                        "\"volume.c_min_used\": \"" };
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < 3; i++) {
        const char *v = params ? strstr(params, keys[i]) : NULL;
        if (!v)
            return 0;
        v += strlen(keys[i]);
        const char *end = strchr(v, '"');
        if (!end || end - v > 30)
            return 0;
        int w = snprintf(out + n, size - n, "%s%c %.*s", i ? ", " : "", 'A' + i, (int)(end - v), v);
        if (w < 0 || (size_t)w >= size - n)
            return 0;
        n += (size_t)w;
    }
    return 1;
}

static const struct rec_kind grade_count_rec = { &kehu__v1__grade_count__descriptor, "dimension grade customers", NULL,
                                                 NULL, NULL };

static void print_run(struct cli *cli, const Kehu__V1__GradeRunResult *r)
{
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_kid(&w, "run_id", r->dry_run ? 0 : r->run_id);
        json_kstr(&w, "kind", r->kind);
        json_kstr(&w, "as_of", r->as_of);
        json_kbool(&w, "dry_run", r->dry_run);
        json_kbool(&w, "backtest", r->backtest);
        json_kopt(&w, "branch", r->branch);
        if (*r->params)
            json_kraw(&w, "params", r->params);
        else
            json_knull(&w, "params");
        json_kint(&w, "customers", r->customers);
        json_kint(&w, "changed", r->changed);
        json_kint(&w, "warnings_raised", r->warnings_raised);
        json_kint(&w, "duration_ms", r->duration_ms);
        json_ktime(&w, "started_at", r->started_at_ms);
        json_kopt(&w, "started_by", r->started_by);
        cli_json_records(&w, "counts", &grade_count_rec, (void *const *)r->counts, r->n_counts);
        json_moves(&w, "moves", r->moves, r->n_moves);
        json_end_object(&w);
        return;
    }
    if (cli->csv) {
        static const char *const head[] = { "dimension", "grade", "customers" };
        cli_csv_row(stdout, 3, head);
        for (size_t i = 0; i < r->n_counts; i++) {
            char n[24];
            fmt_i64(n, sizeof n, r->counts[i]->customers);
            const char *row[] = { r->counts[i]->dimension, r->counts[i]->grade, n };
            cli_csv_row(stdout, 3, row);
        }
        return;
    }
    char dur[48];
    fmt_duration(dur, sizeof dur, r->duration_ms);
    struct out_kv *kv = out_kv_new();
    if (r->backtest)
        out_kv_addf(kv, "run", "back-test (%s): dated before today, so nothing was kept (--live makes it live)",
                    r->kind);
    else if (r->dry_run)
        out_kv_addf(kv, "run", "dry run (%s): nothing was changed", r->kind);
    else
        out_kv_addf(kv, "run", "%" PRId64 " (%s)", r->run_id, r->kind);
    out_kv_add(kv, "as of", r->as_of);
    if (*r->branch)
        out_kv_add(kv, "branch", r->branch);
    out_kv_addf(kv, "customers graded", "%" PRId64, r->customers);
    out_kv_addf(kv, "changed", "%" PRId64, r->changed);
    out_kv_addf(kv, "warnings raised", "%" PRId64, r->warnings_raised);
    char thresholds[160];
    if (volume_thresholds(r->params, thresholds, sizeof thresholds))
        out_kv_add(kv, "sales grade from", thresholds);
    out_kv_add(kv, "duration", dur);
    out_kv_print(kv, stdout);
    out_kv_free(kv);
    if (r->n_counts) {
        static const char *const head[] = { "DIMENSION", "GRADE", "CUSTOMERS" };
        struct out_table *t = out_table_new(3, head);
        out_table_align(t, 2, OUT_RIGHT);
        for (size_t i = 0; i < r->n_counts; i++) {
            char n[24];
            fmt_i64(n, sizeof n, r->counts[i]->customers);
            const char *row[] = { r->counts[i]->dimension, r->counts[i]->grade, n };
            out_table_add(t, row);
        }
        putchar('\n');
        cli_say("counts:\n");
        out_table_print(t, stdout);
        out_table_free(t);
    }
    if (r->n_moves) {
        static const char *const head[] = { "DIMENSION", "FROM", "TO", "CUSTOMERS" };
        struct out_table *t = out_table_new(4, head);
        out_table_align(t, 3, OUT_RIGHT);
        for (size_t i = 0; i < r->n_moves; i++) {
            const Kehu__V1__GradeMove *m = r->moves[i];
            char n[24];
            fmt_i64(n, sizeof n, m->customers);
            const char *row[] = { m->dimension, or_dash(m->from), m->to, n };
            out_table_add(t, row);
        }
        putchar('\n');
        cli_say("moves:\n");
        out_table_print(t, stdout);
        out_table_free(t);
    } else {
        putchar('\n');
        cli_say("no grade moved\n");
    }
}

static int run_grade_run(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "dry-run", no_argument, NULL, O_DRY_RUN },
        { "as-of", required_argument, NULL, O_AS_OF },
        { "lifecycle", no_argument, NULL, O_LIFECYCLE },
        { "live", no_argument, NULL, O_LIVE },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_DRY_RUN: m.dry_run = 1; break;
        case O_LIFECYCLE: m.kind = (char *)"lifecycle"; break;
        case O_LIVE: m.live = 1; break;
        case O_AS_OF:
            if ((rc = cmd_customer_check_date(cli, "--as-of", optarg)))
                return rc;
            m.as_of = optarg;
            break;
        default: return cli->opt_rc;
        }
    }
    if ((rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_GRADE_RUN, &m);
    Kehu__V1__Response *resp;
    if ((rc = call_with_progress(cli, &req, !cli->json, &resp)))
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_GRADE_RUN || !resp->grade_run)
        return cli_bad_reply(cli, resp);
    print_run(cli, resp->grade_run);
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- Overrides ------------------------------------------------------------------------------------ */

static const struct rec_col override_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("CUSTOMER"), "customer_id", OUT_RIGHT, 0 },
    { N_("NAME"), "customer_name", OUT_LEFT, NAME_COLS }, { N_("DIMENSION"), "dimension", OUT_LEFT, 0 },
    { N_("GRADE"), "grade|-", OUT_LEFT, 0 }, { N_("STATUS"), "status", OUT_LEFT, 0 },
    { N_("UNTIL"), "until|-", OUT_LEFT, 0 }, { N_("REQUESTED BY"), "requested_by", OUT_LEFT, 0 },
    { N_("REASON"), "reason", OUT_LEFT, TEXT_COLS }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind override_rec = {
    &kehu__v1__grade_override_info__descriptor,
    "id customer_id customer_name dimension grade reason until? status requested_by approved_by created_at_ms",
    override_cols, NULL, NULL,
};
static const struct cli_record_kind override_kind = { .rec = &override_rec };

/* What a status means for the person who just acted. */
static const char *status_text(const char *status)
{
    if (strcmp(status, "pending") == 0)
        return "pending approval by a branch manager of the customer's branch (kehu grade approve)";
    if (strcmp(status, "active") == 0)
        return "in force";
    return status;
}

/* One override: the record with --json or --csv, else one line. */
static void print_override(struct cli *cli, Kehu__V1__GradeOverrideInfo *o, const char *verb)
{
    if (cli->json || cli->csv) {
        cli_print_records(cli, (void *const *)&o, 1, 0, &override_kind);
        return;
    }
    char until[64] = "";
    if (*o->until)
        snprintf(until, sizeof until, " until %s", o->until);
    cli_say("%s %" PRId64 ": %s %s for %s (customer %" PRId64 ")%s, %s\n", verb, o->id, o->dimension,
            *o->grade ? o->grade : "(none)", o->customer_name, o->customer_id, until, status_text(o->status));
}

/* Sends the request m (op) whose answer is an override, and prints it after verb. */
static int ask_override(struct cli *cli, int op, void *m, const char *verb)
{
    Kehu__V1__Response *resp;
    int rc = cli_ask(cli, op, m, KEHU__V1__RESPONSE__RESULT_OVERRIDE, &resp);
    if (rc)
        return rc;
    if (!resp->override)
        return cli_bad_reply(cli, resp);
    print_override(cli, resp->override, verb);
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_grade_override(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "dimension", required_argument, NULL, O_DIMENSION },
        { "grade", required_argument, NULL, O_GRADE },
        { "reason", required_argument, NULL, O_REASON },
        { "until", required_argument, NULL, O_UNTIL },
        { "revoke", no_argument, NULL, O_REVOKE },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__GradeOverride m = KEHU__V1__GRADE_OVERRIDE__INIT;
    int c, rc = CLI_OK, have_grade = 0, revoke = 0, have_reason = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_DIMENSION:
            rc = one_of(cli, "--dimension", optarg, grade_dimensions, grade_count(grade_dimensions));
            m.dimension = optarg;
            break;
        case O_GRADE:
            if (!*optarg)
                rc = cli_usage_error(cli, "--grade: must not be empty (--revoke ends the overrides in force)");
            m.grade = optarg;
            have_grade = 1;
            break;
        case O_REASON:
            rc = not_empty(cli, "--reason", optarg);
            m.reason = optarg;
            have_reason = 1;
            break;
        case O_UNTIL:
            rc = cli_parse_due(cli, "--until", optarg, &m.until);
            break;
        case O_REVOKE: revoke = 1; break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (!*m.dimension)
        return cli_usage_error(cli, "--dimension is required");
    if (have_grade && revoke)
        return cli_usage_error(cli, "give --grade or --revoke, not both");
    if (!have_grade && !revoke)
        return cli_usage_error(cli, "--grade is required (or --revoke)");
    if (revoke && *m.until)
        return cli_usage_error(cli, "--until does not go with --revoke");
    if (!have_reason)
        return cli_usage_error(cli, "--reason is required");
    return ask_override(cli, KEHU__V1__REQUEST__OP_GRADE_OVERRIDE, &m, "override");
}

static int run_grade_approve(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = { { "reject", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
    Kehu__V1__GradeApprove m = KEHU__V1__GRADE_APPROVE__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__grade_approve__descriptor, flags, &m, NULL, NULL)) ||
        (rc = cli_id_arg(cli, argc, argv, "OVERRIDE_ID", &m.override_id)))
        return rc;
    return ask_override(cli, KEHU__V1__REQUEST__OP_GRADE_APPROVE, &m,
                        m.reject ? "rejected override" : "approved override");
}

static int check_override_status(struct cli *cli, const char *flag, const char *value)
{
    return one_of(cli, flag, value, override_statuses, NELEMS(override_statuses));
}

static void print_overrides(struct cli *cli, const void *m, const struct cli_pages *pages)
{
    const Kehu__V1__GradeOverrideList *l = m;
    if (pages->n || cli->json || cli->csv)
        cli_print_records(cli, pages->items, pages->n, 1, &override_kind);
    else
        cli_say("no %s overrides\n", *l->status ? l->status : "pending");
}

static const struct cli_flag override_flags[] = {
    { "status", NULL, 0, 0, check_override_status, 0 },
    { "customer", "customer_id", 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_LIST_COMMAND(run_grade_overrides, KEHU__V1__REQUEST__OP_GRADE_OVERRIDE_LIST,
                 &kehu__v1__grade_override_list__descriptor, NULL, NULL, KEHU__V1__RESPONSE__RESULT_OVERRIDES,
                 "overrides", NULL, NULL, override_flags, print_overrides)

static int check_credit_grade(struct cli *cli, const char *flag, const char *value)
{
    return one_of(cli, flag, value, grade_values("credit"), grade_count(grade_values("credit")));
}

static int check_until(struct cli *cli, const char *flag, const char *value)
{
    char *day;
    return cli_parse_due(cli, flag, value, &day);
}

static int run_grade_assess(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "grade", NULL, 0, 0, check_credit_grade, 0 },
        { "notes", NULL, 0, 0, NULL, 0 },
        { "until", NULL, 0, 0, check_until, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__CreditAssess m = KEHU__V1__CREDIT_ASSESS__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__credit_assess__descriptor, flags, &m, NULL, NULL)))
        return rc;
    if (*m.until) /* the day it names (checked above) */
        cli_parse_due(cli, "--until", m.until, &m.until);
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (!*m.grade)
        return cli_usage_error(cli, "--grade is required");
    return ask_override(cli, KEHU__V1__REQUEST__OP_CREDIT_ASSESS, &m, "credit assessment recorded: override");
}

/* ---- grade show ---------------------------------------------------------------------------------- */

static const struct rec_kind grade_head_rec = { &kehu__v1__customer_grades__descriptor, "customer_id customer_name",
                                                NULL, NULL, NULL };
static const struct rec_kind grade_item_rec = { &kehu__v1__grade__descriptor,
                                                "dimension grade run_id? set_on? overridden computed? is_new", NULL,
                                                NULL, NULL };
static const struct rec_kind grade_tail_rec = {
    &kehu__v1__customer_grades__descriptor,
    "run_id? as_of? metric_minor sales_minor aum_minor score? relationship_since? last_purchase? next_contact_due? "
    "service service_level? service_reason? abc_note? volume_note?",
    NULL, NULL, NULL,
};
static const struct rec_kind grade_change_rec = { &kehu__v1__grade_change__descriptor,
                                                  "run_id? as_of? dimension from? to?", NULL, NULL, NULL };
static const struct rec_kind assessment_rec = { &kehu__v1__credit_assessment__descriptor,
                                                "id grade reviewer date? notes", NULL, NULL, NULL };

static void json_grade_show(const Kehu__V1__CustomerGrades *g)
{
    struct json_w w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    rec_json_members(&w, &grade_head_rec, g);
    json_key(&w, "grades");
    cmd_grade_json_grades(&w, g->grades, g->n_grades);
    cli_json_records(&w, "grade_list", &grade_item_rec, (void *const *)g->grades, g->n_grades);
    rec_json_members(&w, &grade_tail_rec, g);
    cli_json_records(&w, "history", &grade_change_rec, (void *const *)g->history, g->n_history);
    cli_json_records(&w, "overrides", &override_rec, (void *const *)g->overrides, g->n_overrides);
    cli_json_records(&w, "assessments", &assessment_rec, (void *const *)g->assessments, g->n_assessments);
    json_end_object(&w);
}

/* The grade a row shows: "C (new)" for a customer held at C as new. */
static void grade_cell(char *buf, size_t n, const Kehu__V1__Grade *d)
{
    snprintf(buf, n, "%s%s", d->grade, d->is_new ? " (new)" : "");
}

static void csv_grade_show(const Kehu__V1__CustomerGrades *g)
{
    static const char *const head[] = { "customer_id", "dimension", "grade",  "computed",
                                        "overridden",  "is_new",    "set_on", "run_id" };
    cli_csv_row(stdout, 8, head);
    for (size_t i = 0; i < g->n_grades; i++) {
        const Kehu__V1__Grade *d = g->grades[i];
        char cust[24], run[24];
        fmt_i64(cust, sizeof cust, g->customer_id);
        fmt_id(run, sizeof run, d->run_id);
        const char *row[] = { cust,  d->dimension, d->grade, d->computed, d->overridden ? "true" : "false",
                              d->is_new ? "true" : "false", d->set_on, run };
        cli_csv_row(stdout, 8, row);
    }
}

static void human_grade_show(const Kehu__V1__CustomerGrades *g)
{
    char metric[OUT_MONEY_TEXT_BUFSZ], sales[OUT_MONEY_TEXT_BUFSZ], aum[OUT_MONEY_TEXT_BUFSZ];
    out_money_text(g->metric_minor, metric, sizeof metric);
    out_money_text(g->sales_minor, sales, sizeof sales);
    out_money_text(g->aum_minor, aum, sizeof aum);
    struct out_kv *kv = out_kv_new();
    out_kv_addf(kv, "customer", "%" PRId64 " %s", g->customer_id, g->customer_name);
    if (g->run_id)
        out_kv_addf(kv, "graded", "run %" PRId64 " as of %s", g->run_id, g->as_of);
    else
        out_kv_add(kv, "graded", "never (no grading run yet)");
    out_kv_add(kv, "abc metric", metric);
    out_kv_add(kv, "sales (12 months)", sales);
    out_kv_add(kv, "aum", aum);
    out_kv_add(kv, "score", or_dash(g->score));
    out_kv_add(kv, "since", or_dash(g->relationship_since));
    out_kv_add(kv, "last purchase", or_dash(g->last_purchase));
    out_kv_add(kv, "next contact due", or_dash(g->next_contact_due));
    if (*g->service_level)
        out_kv_add(kv, "service level", g->service_reason);
    out_kv_add(kv, "service", or_dash(g->service));
    if (*g->abc_note)
        out_kv_add(kv, "abc", g->abc_note);
    if (*g->volume_note)
        out_kv_add(kv, "volume", g->volume_note);
    out_kv_print(kv, stdout);
    out_kv_free(kv);

    if (g->n_grades) {
        static const char *const head[] = { "DIMENSION", "GRADE", "COMPUTED", "SET ON", "RUN" };
        struct out_table *t = out_table_new(5, head);
        out_table_align(t, 4, OUT_RIGHT);
        for (size_t i = 0; i < g->n_grades; i++) {
            const Kehu__V1__Grade *d = g->grades[i];
            char grade[64], run[24];
            grade_cell(grade, sizeof grade, d);
            if (d->run_id)
                fmt_i64(run, sizeof run, d->run_id);
            else
                snprintf(run, sizeof run, "%s", d->overridden ? "override" : "-");
            const char *row[] = { d->dimension, grade, d->overridden ? or_dash(d->computed) : "", or_dash(d->set_on),
                                  run };
            out_table_add(t, row);
        }
        putchar('\n');
        cli_say("grades:\n");
        out_table_print(t, stdout);
        out_table_free(t);
    }
    if (g->n_history) {
        static const char *const head[] = { "AS OF", "RUN", "DIMENSION", "FROM", "TO" };
        struct out_table *t = out_table_new(5, head);
        out_table_align(t, 1, OUT_RIGHT);
        for (size_t i = 0; i < g->n_history; i++) {
            const Kehu__V1__GradeChange *h = g->history[i];
            char run[24];
            fmt_id(run, sizeof run, h->run_id);
            const char *row[] = { h->as_of, run, h->dimension, or_dash(h->from), or_dash(h->to) };
            out_table_add(t, row);
        }
        putchar('\n');
        cli_say("history (newest first):\n");
        out_table_print(t, stdout);
        out_table_free(t);
    }
    if (g->n_overrides) {
        putchar('\n');
        cli_say("overrides:\n");
        rec_table(stdout, &override_rec, (void *const *)g->overrides, g->n_overrides);
    }
    if (g->n_assessments) {
        static const char *const head[] = { "ID", "DATE", "GRADE", "REVIEWER", "NOTES" };
        struct out_table *t = out_table_new(5, head);
        out_table_align(t, 0, OUT_RIGHT);
        out_table_max_width(t, 4, TEXT_COLS);
        for (size_t i = 0; i < g->n_assessments; i++) {
            const Kehu__V1__CreditAssessment *a = g->assessments[i];
            char id[24];
            fmt_i64(id, sizeof id, a->id);
            const char *row[] = { id, a->date, a->grade, a->reviewer, a->notes };
            out_table_add(t, row);
        }
        putchar('\n');
        cli_say("credit assessments:\n");
        out_table_print(t, stdout);
        out_table_free(t);
    }
}

static void print_grade_show(struct cli *cli, const void *result)
{
    if (cli->json)
        json_grade_show(result);
    else if (cli->csv)
        csv_grade_show(result);
    else
        human_grade_show(result);
}

CLI_ONE_COMMAND(run_grade_show, KEHU__V1__REQUEST__OP_GRADE_SHOW, &kehu__v1__grade_show__descriptor, "CUSTOMER_ID",
                "customer_id", KEHU__V1__RESPONSE__RESULT_GRADES, NULL, NULL, print_grade_show)

/* ---- grade policy show|set ---------------------------------------------------------------------- */

static const struct rec_col festival_cols[] = {
    { N_("DATE"), "date", OUT_LEFT, 0 },
    { N_("OCCASION"), "occasion", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind festival_rec = { &kehu__v1__festival__descriptor, "date occasion", festival_cols, NULL,
                                              NULL };

/* The policy: values (all, or only the keys in only[0..n_only)) and, for a
 * full listing, the festival calendar. */
static void print_policy(struct cli *cli, const Kehu__V1__GradePolicy *p, char *const *only, size_t n_only)
{
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        cli_json_records(&w, "values", &cli_policy_value_rec, (void *const *)p->values, p->n_values);
        cli_json_records(&w, "festivals", &festival_rec, (void *const *)p->festivals, p->n_festivals);
        json_end_object(&w);
        return;
    }
    void **shown = out_xcalloc(p->n_values + 1, sizeof *shown);
    size_t n = 0;
    for (size_t i = 0; i < p->n_values; i++) {
        int want = n_only == 0;
        for (size_t k = 0; k < n_only && !want; k++)
            want = strcmp(only[k], p->values[i]->key) == 0;
        if (want)
            shown[n++] = p->values[i];
    }
    if (cli->csv) {
        rec_csv_head(stdout, &cli_policy_value_rec);
        for (size_t i = 0; i < n; i++)
            rec_csv_row(stdout, &cli_policy_value_rec, shown[i]);
    } else {
        rec_table(stdout, &cli_policy_value_rec, shown, n);
    }
    free(shown);
    if (cli->csv || n_only || !p->n_festivals)
        return;
    putchar('\n');
    cli_say("festivals:\n");
    rec_table(stdout, &festival_rec, (void *const *)p->festivals, p->n_festivals);
}

static void print_whole_policy(struct cli *cli, const void *result)
{
    print_policy(cli, result, NULL, 0);
}

CLI_ONE_COMMAND(run_policy_show, KEHU__V1__REQUEST__OP_GRADE_POLICY_SHOW, &kehu__v1__grade_policy_show__descriptor, NULL,
                NULL, KEHU__V1__RESPONSE__RESULT_POLICY, NULL, NULL, print_whole_policy)

static int run_policy_set(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, O_FORCE },
        { NULL, 0, NULL, 0 },
    };
    int force = 0, c;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != O_FORCE)
            return cli->opt_rc;
        force = 1;
    }
    struct cli_field_values fv;
    int rc = cli_field_values(cli, argc, argv, "KEY=VALUE", 0, NULL, &fv);
    if (rc)
        return rc;
    int n = (int)fv.n;
    Kehu__V1__GradePolicySet m = KEHU__V1__GRADE_POLICY_SET__INIT;
    m.values = fv.set;
    m.n_values = fv.n;
    m.force = force;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_GRADE_POLICY_SET, &m);
    Kehu__V1__Response *resp;
    if ((rc = cli_call_for(cli, &req, KEHU__V1__RESPONSE__RESULT_POLICY, &resp)) == CLI_OK) {
        if (!resp->policy) {
            rc = cli_bad_reply(cli, resp);
        } else {
            if (!cli->json && !cli->csv)
                cli_say("policy updated (%d value%s):\n", n, n == 1 ? "" : "s");
            /* what a forced change leaves contradicting the pool rules: said, never silent */
            for (size_t i = 0; i < resp->policy->n_warnings; i++)
                fprintf(stderr, _("kehu: warning: %s\n"), resp->policy->warnings[i]);
            print_policy(cli, resp->policy, fv.keys, fv.n);
            kehu_response_free(resp);
        }
    }
    cli_field_values_free(&fv);
    return rc;
}

/* ---- care today ----------------------------------------------------------------------------------- */

static const struct rec_col care_cols[] = {
    { N_("DATE"), "date", OUT_LEFT, 0 }, { N_("OCCASION"), "occasion", OUT_LEFT, 0 },
    { N_("ACTION"), "action", OUT_LEFT, 0 }, { N_("CUSTOMER"), "customer_id", OUT_RIGHT, 0 },
    { N_("NAME"), "customer_name", OUT_LEFT, NAME_COLS }, { N_("GRADE"), "grade", OUT_LEFT, 0 },
    { N_("OWNER"), "owner", OUT_LEFT, 0 }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind care_rec = {
    &kehu__v1__care_task__descriptor, "date occasion action customer_id customer_name grade owner", care_cols, NULL,
    NULL,
};
static const struct cli_record_kind care_kind = { .rec = &care_rec };

static int run_care_today(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, O_USER },
        { "days", required_argument, NULL, O_DAYS },
        { "date", required_argument, NULL, O_DATE },
        CLI_PAGING_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__CareToday m = KEHU__V1__CARE_TODAY__INIT;
    struct cli_paging pg = { 0 };
    const char *days_arg = NULL;
    int c, rc = CLI_OK;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        int64_t days;
        switch (c) {
        case CLI_O_LIMIT:
        case CLI_O_AFTER:
        case CLI_O_ALL: rc = cli_page_option(cli, c, optarg, CARE_LIMIT_MAX, &pg); break;
        case O_USER: rc = not_empty(cli, "--user", optarg); m.user = optarg; break;
        case O_DAYS:
            rc = cmd_customer_parse_int(cli, "--days", optarg, 0, CARE_DAYS_MAX, &days);
            m.days = (uint32_t)days;
            days_arg = optarg;
            break;
        case O_DATE:
            rc = cli_parse_due(cli, "--date", optarg, &m.date);
            break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    m.limit = pg.limit;
    m.after = (char *)(pg.after ? pg.after : "");
    struct cli_pages pages = { 0 };
    rc = cli_fetch_list(cli, KEHU__V1__REQUEST__OP_CARE_TODAY, &m, KEHU__V1__RESPONSE__RESULT_CARE_TASKS, "tasks",
                        &m.after, pg.all, &pages);
    if (rc == CLI_OK) {
        size_t n = pages.n;
        if (n || cli->json || cli->csv)
            cli_print_records(cli, pages.items, n, 1, &care_kind);
        else if (m.days)
            cli_say("no birthday or festival care within %u days of %s\n", m.days, *m.date ? m.date : "today");
        else
            cli_say("no birthday or festival care %s%s\n", *m.date ? "on " : "today", m.date);
        const char *words[12] = { "care", "today" };
        size_t nw = 2;
        if (m.user && *m.user)
            words[nw++] = "--user", words[nw++] = m.user;
        if (days_arg)
            words[nw++] = "--days", words[nw++] = days_arg;
        if (m.date && *m.date)
            words[nw++] = "--date", words[nw++] = m.date;
        if (pg.limit_arg)
            words[nw++] = "--limit", words[nw++] = pg.limit_arg;
        cli_page_more(cli, words, nw, pages.next, pages.remaining);
    }
    cli_pages_free(&pages);
    return rc;
}

/* ---- churn list|ack|lost ------------------------------------------------------------------------- */

/* "lost: competitor_offer" */
static char *warning_status(const void *msg)
{
    const Kehu__V1__ChurnWarning *c = msg;
    return out_xprintf("%s%s%s", c->status, *c->lost_reason ? ": " : "", c->lost_reason);
}

static const struct rec_calc warning_calc[] = { { "status", NULL, warning_status }, { NULL, NULL, NULL } };
static const struct rec_col warning_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("CUSTOMER"), "customer_id", OUT_RIGHT, 0 },
    { N_("NAME"), "customer_name", OUT_LEFT, NAME_COLS }, { N_("GRADE"), "grade", OUT_LEFT, 0 },
    { N_("OWNER"), "owner", OUT_LEFT, 0 }, { N_("RAISED"), "raised_on", OUT_LEFT, 0 },
    { N_("STATUS"), "@status", OUT_LEFT, 0 }, { N_("REASONS"), "reasons", OUT_LEFT, 0 },
    { N_("PLAN"), "plan", OUT_LEFT, TEXT_COLS }, { N_("AT RISK"), "$value_at_risk", OUT_RIGHT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind warning_rec = {
    &kehu__v1__churn_warning__descriptor,
    "id customer_id customer_name grade owner raised_on? reasons status plan acked_by acked_at_ms lost_reason? "
    "$value_at_risk",
    warning_cols, NULL, warning_calc,
};
static const struct cli_record_kind warning_kind = { .rec = &warning_rec };

static int check_churn_status(struct cli *cli, const char *flag, const char *value)
{
    return one_of(cli, flag, value, churn_statuses, NELEMS(churn_statuses));
}

static void print_warnings(struct cli *cli, const void *m, const struct cli_pages *pages)
{
    const Kehu__V1__ChurnList *l = m;
    if (pages->n || cli->json || cli->csv)
        cli_print_records(cli, pages->items, pages->n, 1, &warning_kind);
    else
        cli_say("no churn warnings%s%s\n", *l->status ? " with status " : "", l->status);
}

static const struct cli_flag churn_flags[] = {
    { "user", NULL, 0, 0, not_empty, 0 },
    { "status", NULL, 0, 0, check_churn_status, 0 },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_LIST_COMMAND(run_churn_list, KEHU__V1__REQUEST__OP_CHURN_LIST, &kehu__v1__churn_list__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_CHURN_WARNINGS, "warnings", NULL, NULL, churn_flags, print_warnings)

/* Sends a churn ack|lost and prints the warning it answered. */
static int call_warning(struct cli *cli, const Kehu__V1__Request *req, int lost)
{
    Kehu__V1__Response *resp;
    int rc = cli_call_for(cli, req, KEHU__V1__RESPONSE__RESULT_CHURN_WARNING, &resp);
    if (rc)
        return rc;
    Kehu__V1__ChurnWarning *c = resp->churn_warning;
    if (!c)
        return cli_bad_reply(cli, resp);
    if (cli->json || cli->csv)
        cli_print_records(cli, (void *const *)&c, 1, 0, &warning_kind);
    else if (lost)
        cli_say("customer %" PRId64 " %s marked churned (%s)%s%s\n", c->customer_id, c->customer_name,
                c->lost_reason, c->id ? "; warning closed as " : "", c->id ? c->status : "");
    else
        cli_say("churn warning %" PRId64 " for %s (customer %" PRId64 ") %s: %s\n", c->id, c->customer_name,
                c->customer_id, c->status, c->plan);
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_churn_ack(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "plan", required_argument, NULL, O_PLAN },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__ChurnAck m = KEHU__V1__CHURN_ACK__INIT;
    int c, rc, have_plan = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != O_PLAN)
            return cli->opt_rc;
        if ((rc = not_empty(cli, "--plan", optarg)))
            return rc;
        m.plan = optarg;
        have_plan = 1;
    }
    if ((rc = cli_id_arg(cli, argc, argv, "WARNING_ID", &m.warning_id)))
        return rc;
    if (!have_plan)
        return cli_usage_error(cli, "--plan is required (the win-back plan)");
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_CHURN_ACK, &m);
    return call_warning(cli, &req, 0);
}

static int run_churn_lost(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, O_REASON },
        { "note", required_argument, NULL, O_NOTE },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__ChurnLost m = KEHU__V1__CHURN_LOST__INIT;
    int c, rc = CLI_OK;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == O_REASON) {
            rc = one_of(cli, "--reason", optarg, lost_reasons, NELEMS(lost_reasons));
            m.reason = optarg;
        } else if (c == O_NOTE) {
            m.note = optarg;
        } else {
            return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (!*m.reason)
        return cli_usage_error(cli, "--reason is required");
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_CHURN_LOST, &m);
    return call_warning(cli, &req, 1);
}

/* ---- report ----------------------------------------------------------------------------------------- */

static const struct rec_kind report_row_rec = {
    &kehu__v1__report_row__descriptor, "grade customers customer_share metric_total_minor metric_share dimension",
    NULL, NULL, NULL,
};
static const struct rec_kind report_top_rec = { &kehu__v1__report_top__descriptor,
                                                "grade rank customer_id customer_name metric_minor owner", NULL, NULL,
                                                NULL };

static void json_report(const Kehu__V1__Report *r)
{
    struct json_w w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    json_kid(&w, "run_id", r->run_id);
    json_kstr(&w, "metric", r->metric);
    cli_json_records(&w, "rows", &report_row_rec, (void *const *)r->rows, r->n_rows);
    json_kopt(&w, "as_of", r->as_of);
    cli_json_records(&w, "top", &report_top_rec, (void *const *)r->top, r->n_top);
    json_kid(&w, "from_run", r->from_run);
    json_kid(&w, "to_run", r->to_run ? r->to_run : r->run_id);
    json_moves(&w, "migration", r->migration, r->n_migration);
    json_key(&w, "groups");
    json_begin_array(&w);
    for (size_t i = 0; i < r->n_groups; i++) {
        const Kehu__V1__ReportGroup *g = r->groups[i];
        json_begin_object(&w);
        json_kstr(&w, "name", g->name);
        json_kid(&w, "id", g->id);
        cli_json_records(&w, "rows", &report_row_rec, (void *const *)g->rows, g->n_rows);
        json_end_object(&w);
    }
    json_end_array(&w);
    cli_json_records(&w, "warnings", &warning_rec, (void *const *)r->warnings, r->n_warnings);
    json_end_object(&w);
}

static void csv_report(const Kehu__V1__Report *r)
{
    static const char *const head[] = { "dimension",    "grade",        "customers",
                                         "customer_share", "metric_total", "metric_share" };
    cli_csv_row(stdout, 6, head);
    for (size_t i = 0; i < r->n_rows; i++) {
        const Kehu__V1__ReportRow *row = r->rows[i];
        char n[24], cs[40], total[OUT_MONEY_BUFSZ], ms[40];
        fmt_i64(n, sizeof n, row->customers);
        out_fixed_format(row->customer_share, 4, cs, sizeof cs);
        out_money_format(row->metric_total_minor, total, sizeof total);
        out_fixed_format(row->metric_share, 4, ms, sizeof ms);
        const char *cells[] = { row->dimension, row->grade, n, cs, total, ms };
        cli_csv_row(stdout, 6, cells);
    }
}

/* The Pareto table: per grade its customers and metric, each with its share;
 * a dimension column when the rows span several. */
static void table_rows(Kehu__V1__ReportRow *const *rows, size_t n)
{
    int dims = 0;
    for (size_t i = 1; i < n && !dims; i++)
        dims = strcmp(rows[i]->dimension, rows[0]->dimension) != 0;
    static const char *const head[] = { "DIMENSION", "GRADE", "CUSTOMERS", "CUSTOMERS %", "METRIC TOTAL",
                                        "METRIC %" };
    int off = dims ? 0 : 1;
    struct out_table *t = out_table_new(6 - off, head + off);
    for (int col = 2; col < 6; col++)
        out_table_align(t, col - off, OUT_RIGHT);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__ReportRow *r = rows[i];
        char cust[24], cs[40], total[OUT_MONEY_TEXT_BUFSZ], ms[40];
        fmt_i64(cust, sizeof cust, r->customers);
        fmt_percent(cs, sizeof cs, r->customer_share);
        out_money_text(r->metric_total_minor, total, sizeof total);
        fmt_percent(ms, sizeof ms, r->metric_share);
        const char *cells[] = { r->dimension, r->grade, cust, cs, total, ms };
        out_table_add(t, cells + off);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

/* The distinct strings of a list, in order of first appearance. */
struct names {
    const char **v;
    size_t n;
};

static void names_add(struct names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return;
    s->v = out_xrealloc(s->v, (s->n + 1) * sizeof *s->v);
    s->v[s->n++] = name;
}

static size_t names_index(const struct names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return i;
    return s->n;
}

/* The migration matrix of one dimension: a row per grade before (from), a
 * column per grade after (to), customers in the cells. Grades come in the
 * order of the report's rows, then as the moves name them; "none" is a
 * customer not graded before. */
static void print_matrix(const Kehu__V1__Report *r, const char *dim)
{
    struct names order = { 0 }, from = { 0 }, to = { 0 };
    for (size_t i = 0; i < r->n_migration; i++)
        if (strcmp(r->migration[i]->dimension, dim) == 0 && !*r->migration[i]->from)
            names_add(&order, "");
    for (size_t i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i]->dimension, dim) == 0)
            names_add(&order, r->rows[i]->grade);
    for (size_t i = 0; i < r->n_migration; i++)
        if (strcmp(r->migration[i]->dimension, dim) == 0) {
            names_add(&order, r->migration[i]->from);
            names_add(&order, r->migration[i]->to);
        }
    for (size_t i = 0; i < order.n; i++)
        for (size_t k = 0; k < r->n_migration; k++) {
            const Kehu__V1__GradeMove *m = r->migration[k];
            if (strcmp(m->dimension, dim) != 0)
                continue;
            if (strcmp(m->from, order.v[i]) == 0)
                names_add(&from, order.v[i]);
            if (strcmp(m->to, order.v[i]) == 0)
                names_add(&to, order.v[i]);
        }
    int64_t *cells = out_xcalloc(from.n * to.n, sizeof *cells);
    for (size_t k = 0; k < r->n_migration; k++) {
        const Kehu__V1__GradeMove *m = r->migration[k];
        if (strcmp(m->dimension, dim) == 0)
            cells[names_index(&from, m->from) * to.n + names_index(&to, m->to)] += m->customers;
    }
    const char **head = out_xcalloc(to.n + 1, sizeof *head);
    head[0] = "FROM \\ TO";
    for (size_t j = 0; j < to.n; j++)
        head[j + 1] = *to.v[j] ? to.v[j] : "none";
    struct out_table *t = out_table_new((int)to.n + 1, head);
    for (size_t j = 0; j < to.n; j++)
        out_table_align(t, (int)j + 1, OUT_RIGHT);
    char(*nums)[24] = out_xcalloc(to.n, sizeof *nums);
    const char **row = out_xcalloc(to.n + 1, sizeof *row);
    for (size_t i = 0; i < from.n; i++) {
        row[0] = *from.v[i] ? from.v[i] : "none";
        for (size_t j = 0; j < to.n; j++) {
            fmt_i64(nums[j], sizeof nums[j], cells[i * to.n + j]);
            row[j + 1] = nums[j];
        }
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
    free(row);
    free(nums);
    free(head);
    free(cells);
    free(order.v);
    free(from.v);
    free(to.v);
}

static void human_report(const char *kind, const Kehu__V1__Report *r)
{
    char head[256];
    int len = snprintf(head, sizeof head, "%s report", *r->kind ? r->kind : kind);
    if (r->run_id && len > 0 && (size_t)len < sizeof head)
        len += snprintf(head + len, sizeof head - (size_t)len, ", run %" PRId64, r->run_id);
    if (*r->as_of && len > 0 && (size_t)len < sizeof head)
        len += snprintf(head + len, sizeof head - (size_t)len, " as of %s", r->as_of);
    if (*r->metric && len > 0 && (size_t)len < sizeof head)
        snprintf(head + len, sizeof head - (size_t)len, ", metric %s", r->metric);
    cli_say("%s\n", head);
    putchar('\n');
    if (r->n_rows)
        table_rows(r->rows, r->n_rows);
    else
        cli_say("no graded customers\n");

    if (r->n_top) {
        static const char *const thead[] = { "GRADE", "RANK", "CUSTOMER", "NAME", "METRIC", "OWNER" };
        struct out_table *t = out_table_new(6, thead);
        out_table_align(t, 1, OUT_RIGHT);
        out_table_align(t, 2, OUT_RIGHT);
        out_table_align(t, 4, OUT_RIGHT);
        out_table_max_width(t, 3, NAME_COLS);
        for (size_t i = 0; i < r->n_top; i++) {
            const Kehu__V1__ReportTop *tp = r->top[i];
            char rank[16], cust[24], metric[OUT_MONEY_TEXT_BUFSZ];
            snprintf(rank, sizeof rank, "%" PRId32, tp->rank);
            fmt_i64(cust, sizeof cust, tp->customer_id);
            out_money_text(tp->metric_minor, metric, sizeof metric);
            const char *row[] = { tp->grade, rank, cust, tp->customer_name, metric, tp->owner };
            out_table_add(t, row);
        }
        putchar('\n');
        cli_say("top customers:\n");
        out_table_print(t, stdout);
        out_table_free(t);
    }

    if (r->n_migration) {
        struct names dims = { 0 };
        for (size_t i = 0; i < r->n_migration; i++)
            names_add(&dims, r->migration[i]->dimension);
        for (size_t d = 0; d < dims.n; d++) {
            putchar('\n');
            if (r->from_run && r->run_id)
                cli_say("%s migration, run %" PRId64 " to run %" PRId64 ":\n", dims.v[d], r->from_run,
                        r->to_run ? r->to_run : r->run_id);
            else
                cli_say("%s migration:\n", dims.v[d]);
            print_matrix(r, dims.v[d]);
        }
        free(dims.v);
    }

    for (size_t i = 0; i < r->n_groups; i++) {
        const Kehu__V1__ReportGroup *g = r->groups[i];
        putchar('\n');
        if (g->id)
            cli_say("%s (%" PRId64 "):\n", *g->name ? g->name : "(none)", g->id);
        else
            cli_say("%s:\n", *g->name ? g->name : "(none)");
        if (g->n_rows)
            table_rows(g->rows, g->n_rows);
        else
            cli_say("no graded customers\n");
    }

    if (r->n_warnings) {
        putchar('\n');
        cli_say("open churn warnings (newest first):\n");
        rec_table(stdout, &warning_rec, (void *const *)r->warnings, r->n_warnings);
    }
}

static int run_report(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "unit", required_argument, NULL, O_UNIT },
        { "owner", required_argument, NULL, O_OWNER },
        { "by", required_argument, NULL, O_BY },
        { "top", required_argument, NULL, O_TOP },
        { "from-run", required_argument, NULL, O_FROM_RUN },
        { "to-run", required_argument, NULL, O_TO_RUN },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__ReportGet m = KEHU__V1__REPORT_GET__INIT;
    int c, rc = CLI_OK;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        int64_t top;
        switch (c) {
        case O_UNIT: rc = not_empty(cli, "--unit", optarg); m.unit = optarg; break;
        case O_OWNER: rc = not_empty(cli, "--owner", optarg); m.owner = optarg; break;
        case O_BY:
            rc = one_of(cli, "--by", optarg, report_groupings, NELEMS(report_groupings));
            m.by = optarg;
            break;
        case O_TOP:
            rc = cmd_customer_parse_int(cli, "--top", optarg, 1, TOP_MAX, &top);
            m.top = (uint32_t)top;
            break;
        case O_FROM_RUN: rc = cmd_customer_parse_int(cli, "--from-run", optarg, 1, INT64_MAX, &m.from_run); break;
        case O_TO_RUN: rc = cmd_customer_parse_int(cli, "--to-run", optarg, 1, INT64_MAX, &m.to_run); break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if (argc - optind < 1)
        return cli_usage_error(cli, "missing the report kind (abc, tiers, lifecycle or churn)");
    if ((rc = cli_args(cli, argc, argv, 1, 1)))
        return rc;
    if (!*argv[optind])
        return cli_usage_error(cli, "the report kind must not be empty");
    m.kind = argv[optind]; /* sent as given: the server names the kinds it knows */
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_REPORT_GET, &m, KEHU__V1__RESPONSE__RESULT_REPORT, &resp)))
        return rc;
    if (!resp->report)
        return cli_bad_reply(cli, resp);
    if (cli->json)
        json_report(resp->report);
    else if (cli->csv)
        csv_report(resp->report);
    else
        human_report(m.kind, resp->report);
    kehu_response_free(resp);
    return CLI_OK;
}

const struct cli_cmd cmd_grade_table[] = {
    { "grade run", "[--dry-run] [--as-of DATE [--live]] [--lifecycle]",
      N_("grade every customer now (a branch manager: their branch); --as-of: as if today were DATE, a back-test that "
      "keeps nothing unless --live (an admin closing a missed period); --lifecycle: lifecycle and churn warnings only"),
      1, run_grade_run },
    { "grade show", "CUSTOMER_ID",
      N_("a customer's grades, the figures behind them, history, overrides and credit assessments"), 1,
      run_grade_show },
    { "grade override", "CUSTOMER_ID --dimension D (--grade G | --revoke) --reason R [--until DATE]",
      N_("set a grade by hand (raising to A may need a branch manager's approval); --revoke ends the ones in force"),
      1, run_grade_override },
    { "grade approve", "OVERRIDE_ID [--reject]", N_("approve (or reject) a pending override"), 1, run_grade_approve },
    { "grade overrides",
      "[--status pending|active|rejected|revoked|expired] [--customer ID] [--limit N] [--after CURSOR] [--all]",
      N_("overrides (default: pending ones)"), 1, run_grade_overrides },
    { "grade assess", "CUSTOMER_ID --grade AAA|AA|A|BBB|BB|B|CCC|CC|C [--notes N] [--until DATE]",
      N_("record a credit assessment (sets the credit grade until DATE, default a year on)"), 1, run_grade_assess },
    { "grade policy show", "", N_("the grading policy (thresholds, service levels) and the festival calendar"), 1,
      run_policy_show },
    { "grade policy set", "KEY=VALUE ... [--force]",
      N_("change policy values (all or none are applied; a contact interval the pool's limits contradict is refused unless --force, then warned)"),
      1, run_policy_set },
    { "care today", "[--user U] [--days N] [--date DATE] [--limit N] [--after CURSOR] [--all]",
      N_("birthdays and festivals due for care (gift or greeting by grade), today or within N days"), 1,
      run_care_today },
    { "churn list",
      "[--user U] [--status open|acknowledged|recovered|lost|closed|all] [--limit N] [--after CURSOR] [--all]",
      N_("churn warnings by value at risk (default: open and acknowledged)"), 1, run_churn_list },
    { "churn ack", "WARNING_ID --plan TEXT", N_("acknowledge a churn warning with a win-back plan"), 1, run_churn_ack },
    { "churn lost", "CUSTOMER_ID --reason dropped|needs_unmet|competitor_offer|lower_price|circumstances [--note N]",
      N_("class a customer as lost (closes its warning, marks it churned)"), 1, run_churn_lost },
    { "report",
      "abc|tiers|lifecycle|churn [--unit UNIT] [--owner U] [--by branch|owner] [--top N] [--from-run ID] "
      "[--to-run ID]",
      N_("grade distribution (Pareto), top customers, migration between runs, per branch or owner"), 1, run_report },
    { NULL, NULL, NULL, 0, NULL },
};
