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
#define CARE_DAYS_MAX 366
#define CARE_LIMIT_MAX 5000
#define TOP_MAX 50

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

static const struct rec_col move_cols[] = {
    { REC_AS_IS("DIMENSION"), "dimension", OUT_LEFT, 0 }, { REC_AS_IS("FROM"), "from|-", OUT_LEFT, 0 },
    { REC_AS_IS("TO"), "to", OUT_LEFT, 0 },               { REC_AS_IS("CUSTOMERS"), "customers", OUT_RIGHT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind move_rec = { &kehu__v1__grade_move__descriptor, "dimension from? to customers", move_cols,
                                          NULL, NULL };

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

static const struct rec_col grade_count_cols[] = {
    { REC_AS_IS("DIMENSION"), "dimension", OUT_LEFT, 0 }, { REC_AS_IS("GRADE"), "grade", OUT_LEFT, 0 },
    { REC_AS_IS("CUSTOMERS"), "customers", OUT_RIGHT, 0 }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind grade_count_rec = { &kehu__v1__grade_count__descriptor, "dimension grade customers",
                                                 grade_count_cols, NULL, NULL };
static const struct cli_record_kind grade_count_kind = { .rec = &grade_count_rec };

/* the run's id: null for a dry run (it kept nothing) */
static void run_id_json(struct json_w *w, const void *msg)
{
    const Kehu__V1__GradeRunResult *r = msg;
    if (r->run_id && !r->dry_run)
        json_int(w, r->run_id);
    else
        json_null(w);
}
REC_JSON_ARRAY(run_counts_json, Kehu__V1__GradeRunResult, counts, &grade_count_rec)
REC_JSON_ARRAY(run_moves_json, Kehu__V1__GradeRunResult, moves, &move_rec)
/* what kind of run it was, for people */
static char *run_text(const void *msg)
{
    const Kehu__V1__GradeRunResult *r = msg;
    if (r->backtest)
        return out_xprintf("back-test (%s): dated before today, so nothing was kept (--live makes it live)", r->kind);
    if (r->dry_run)
        return out_xprintf("dry run (%s): nothing was changed", r->kind);
    return out_xprintf("%" PRId64 " (%s)", r->run_id, r->kind);
}
static char *run_thresholds(const void *msg)
{
    char t[160];
    return volume_thresholds(((const Kehu__V1__GradeRunResult *)msg)->params, t, sizeof t) ? out_xstrdup(t) : NULL;
}
static char *run_duration(const void *msg)
{
    char d[48];
    fmt_duration(d, sizeof d, ((const Kehu__V1__GradeRunResult *)msg)->duration_ms);
    return out_xstrdup(d);
}
static const struct rec_calc run_calc[] = {
    { "run_id", run_id_json, NULL },  { "counts", run_counts_json, NULL }, { "moves", run_moves_json, NULL },
    { "run", NULL, run_text },        { "thresholds", NULL, run_thresholds }, { "duration", NULL, run_duration },
    { NULL, NULL, NULL },
};
/* params: the server's JSON as it is; duration_ms a number, not a time */
static const struct rec_kind run_rec = {
    &kehu__v1__grade_run_result__descriptor,
    "run_id=@run_id kind as_of dry_run backtest branch? #params? customers changed warnings_raised #duration_ms "
    "started_at=started_at_ms started_by? counts=@counts moves=@moves",
    NULL, NULL, run_calc,
};
static const struct rec_col run_lines[] = {
    { "run", "@run", OUT_LEFT, 0 },                              { "as of", "as_of", OUT_LEFT, 0 },
    { "branch", "branch", OUT_LEFT, 0 },                         { "customers graded", "customers", OUT_LEFT, 0 },
    { "changed", "changed", OUT_LEFT, 0 },                       { "warnings raised", "warnings_raised", OUT_LEFT, 0 },
    { "sales grade from", "@thresholds", OUT_LEFT, 0 },          { "duration", "@duration", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};

/* A run: its record (--json), its counts (--csv), or for people what it
 * did, its counts and the grades it moved. */
static void print_run(struct cli *cli, const Kehu__V1__GradeRunResult *r)
{
    if (cli->json) {
        cli_json_record(&run_rec, r);
        return;
    }
    if (cli->csv) {
        cli_print_records(cli, (void *const *)r->counts, r->n_counts, 1, &grade_count_kind);
        return;
    }
    rec_kv_cols(stdout, &run_rec, run_lines, r);
    cli_print_section(N_("counts:\n"), &grade_count_rec, (void *const *)r->counts, r->n_counts);
    if (r->n_moves) {
        cli_print_section(N_("moves:\n"), &move_rec, (void *const *)r->moves, r->n_moves);
    } else {
        putchar('\n');
        cli_say("no grade moved\n");
    }
}

static int run_grade_run(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "dry-run", "dry_run", 0, 0, NULL, 0 },        { "as-of", "as_of", 0, 0, cli_check_date, 0 },
        { "lifecycle", "", 0, 0, NULL, 0 },             { "live", NULL, 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__GradeRun m = KEHU__V1__GRADE_RUN__INIT;
    struct cmd_words ws = { .n = 0 };
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__grade_run__descriptor, flags, &m, NULL, &ws)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    if (cli_flag_given(&ws, "--lifecycle"))
        m.kind = (char *)"lifecycle";
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

static int check_dimension(struct cli *cli, const char *flag, const char *value)
{
    return one_of(cli, flag, value, grade_dimensions, grade_count(grade_dimensions));
}

static int check_grade(struct cli *cli, const char *flag, const char *value)
{
    return *value ? 0 : cli_usage_error(cli, "--grade: must not be empty (--revoke ends the overrides in force)");
}

static int run_grade_override(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "dimension", NULL, 0, 0, check_dimension, 0 }, { "grade", NULL, 0, 0, check_grade, 0 },
        { "reason", NULL, 0, 0, not_empty, 0 },          { "until", NULL, 0, 0, NULL, CLI_FLAG_DUE },
        { "revoke", "", 0, 0, NULL, 0 },                 { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__GradeOverride m = KEHU__V1__GRADE_OVERRIDE__INIT;
    struct cmd_words ws = { .n = 0 };
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__grade_override__descriptor, flags, &m, NULL, &ws)) ||
        (rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    /* an empty --grade or --reason is refused above: empty is not given */
    int have_grade = *m.grade != 0, revoke = cli_flag_given(&ws, "--revoke");
    if (!*m.dimension)
        return cli_usage_error(cli, "--dimension is required");
    if (have_grade && revoke)
        return cli_usage_error(cli, "give --grade or --revoke, not both");
    if (!have_grade && !revoke)
        return cli_usage_error(cli, "--grade is required (or --revoke)");
    if (revoke && *m.until)
        return cli_usage_error(cli, "--until does not go with --revoke");
    if (!*m.reason)
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
    if (!cli_print_list(cli, pages, &override_kind))
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

static int run_grade_assess(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "grade", NULL, 0, 0, check_credit_grade, 0 },
        { "notes", NULL, 0, 0, NULL, 0 },
        { "until", NULL, 0, 0, NULL, CLI_FLAG_DUE },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__CreditAssess m = KEHU__V1__CREDIT_ASSESS__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__credit_assess__descriptor, flags, &m, NULL, NULL)))
        return rc;
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (!*m.grade)
        return cli_usage_error(cli, "--grade is required");
    return ask_override(cli, KEHU__V1__REQUEST__OP_CREDIT_ASSESS, &m, "credit assessment recorded: override");
}

/* ---- grade show ---------------------------------------------------------------------------------- */

static const struct rec_col grade_change_cols[] = {
    { REC_AS_IS("AS OF"), "as_of", OUT_LEFT, 0 },         { REC_AS_IS("RUN"), "run_id?", OUT_RIGHT, 0 },
    { REC_AS_IS("DIMENSION"), "dimension", OUT_LEFT, 0 }, { REC_AS_IS("FROM"), "from|-", OUT_LEFT, 0 },
    { REC_AS_IS("TO"), "to|-", OUT_LEFT, 0 },             { NULL, NULL, 0, 0 },
};
static const struct rec_kind grade_change_rec = { &kehu__v1__grade_change__descriptor,
                                                  "run_id? as_of? dimension from? to?", grade_change_cols, NULL, NULL };
static const struct rec_col assessment_cols[] = {
    { REC_AS_IS("ID"), "id", OUT_RIGHT, 0 },          { REC_AS_IS("DATE"), "date", OUT_LEFT, 0 },
    { REC_AS_IS("GRADE"), "grade", OUT_LEFT, 0 },     { REC_AS_IS("REVIEWER"), "reviewer", OUT_LEFT, 0 },
    { REC_AS_IS("NOTES"), "notes", OUT_LEFT, TEXT_COLS }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind assessment_rec = { &kehu__v1__credit_assessment__descriptor,
                                                "id grade reviewer date? notes", assessment_cols, NULL, NULL };

/* A grade with its customer's id: a CSV row of grade show. */
struct customer_grade {
    Kehu__V1__Grade grade; /* first: the record the kind reads */
    int64_t customer_id;
};

static char *grade_customer(const void *msg)
{
    return out_xprintf("%" PRId64, ((const struct customer_grade *)msg)->customer_id);
}
/* "C (new)" for a customer held at C as new */
static char *grade_shown(const void *msg)
{
    const Kehu__V1__Grade *d = msg;
    return out_xprintf("%s%s", d->grade, d->is_new ? " (new)" : "");
}
/* what the run computed, shown only where a person overrode it */
static char *grade_computed(const void *msg)
{
    const Kehu__V1__Grade *d = msg;
    return out_xstrdup(d->overridden ? or_dash(d->computed) : "");
}
static char *grade_run(const void *msg)
{
    const Kehu__V1__Grade *d = msg;
    return d->run_id ? out_xprintf("%" PRId64, d->run_id) : out_xstrdup(d->overridden ? "override" : "-");
}
static const struct rec_calc grade_item_calc[] = {
    { "customer", NULL, grade_customer }, { "shown", NULL, grade_shown }, { "computed", NULL, grade_computed },
    { "run", NULL, grade_run },           { NULL, NULL, NULL },
};
static const struct rec_col grade_item_cols[] = {
    { REC_AS_IS("DIMENSION"), "dimension", OUT_LEFT, 0 }, { REC_AS_IS("GRADE"), "@shown", OUT_LEFT, 0 },
    { REC_AS_IS("COMPUTED"), "@computed", OUT_LEFT, 0 },  { REC_AS_IS("SET ON"), "set_on|-", OUT_LEFT, 0 },
    { REC_AS_IS("RUN"), "@run", OUT_RIGHT, 0 },           { NULL, NULL, 0, 0 },
};
/* JSON: a Grade; CSV: a struct customer_grade, in its own order */
static const struct rec_kind grade_item_rec = {
    &kehu__v1__grade__descriptor,
    "-customer_id=@customer dimension grade +run_id? +set_on? +overridden +computed? +is_new -computed -overridden "
    "-is_new -set_on -run_id?",
    grade_item_cols, NULL, grade_item_calc,
};
static const struct cli_record_kind grade_item_kind = { .rec = &grade_item_rec };

static char *grades_customer(const void *msg)
{
    const Kehu__V1__CustomerGrades *g = msg;
    return out_xprintf("%" PRId64 " %s", g->customer_id, g->customer_name);
}
static char *grades_graded(const void *msg)
{
    const Kehu__V1__CustomerGrades *g = msg;
    return g->run_id ? out_xprintf("run %" PRId64 " as of %s", g->run_id, g->as_of)
                     : out_xstrdup("never (no grading run yet)");
}
static void grades_json(struct json_w *w, const void *msg)
{
    const Kehu__V1__CustomerGrades *g = msg;
    cmd_grade_json_grades(w, g->grades, g->n_grades);
}
REC_JSON_ARRAY(grades_list_json, Kehu__V1__CustomerGrades, grades, &grade_item_rec)
REC_JSON_ARRAY(grades_history_json, Kehu__V1__CustomerGrades, history, &grade_change_rec)
REC_JSON_ARRAY(grades_overrides_json, Kehu__V1__CustomerGrades, overrides, &override_rec)
REC_JSON_ARRAY(grades_assessments_json, Kehu__V1__CustomerGrades, assessments, &assessment_rec)
static const struct rec_calc grades_calc[] = {
    { "customer", NULL, grades_customer },          { "graded", NULL, grades_graded },
    { "grades", grades_json, NULL },                { "grade_list", grades_list_json, NULL },
    { "history", grades_history_json, NULL },       { "overrides", grades_overrides_json, NULL },
    { "assessments", grades_assessments_json, NULL }, { NULL, NULL, NULL },
};
/* A customer's grades: the effective grade per dimension (grades), each
 * grade's record (grade_list), the figures behind them and their history. */
static const struct rec_kind grades_rec = {
    &kehu__v1__customer_grades__descriptor,
    "customer_id customer_name grades=@grades grade_list=@grade_list run_id? as_of? metric_minor sales_minor "
    "aum_minor score? relationship_since? last_purchase? next_contact_due? service service_level? service_reason? "
    "abc_note? volume_note? history=@history overrides=@overrides assessments=@assessments",
    NULL, NULL, grades_calc,
};
static const struct rec_col grades_lines[] = {
    { "customer", "@customer", OUT_LEFT, 0 },                   { "graded", "@graded", OUT_LEFT, 0 },
    { "abc metric", "metric_minor", OUT_LEFT, 0 },              { "sales (12 months)", "sales_minor", OUT_LEFT, 0 },
    { "aum", "aum_minor", OUT_LEFT, 0 },                        { "score", "score|-", OUT_LEFT, 0 },
    { "since", "relationship_since|-", OUT_LEFT, 0 },           { "last purchase", "last_purchase|-", OUT_LEFT, 0 },
    { "next contact due", "next_contact_due|-", OUT_LEFT, 0 },  { "service level", "service_reason?service_level", OUT_LEFT, 0 },
    { "service", "service|-", OUT_LEFT, 0 },                    { "abc", "abc_note", OUT_LEFT, 0 },
    { "volume", "volume_note", OUT_LEFT, 0 },                   { NULL, NULL, 0, 0 },
};

static void print_grade_show(struct cli *cli, const void *result)
{
    const Kehu__V1__CustomerGrades *g = result;
    if (cli->json) {
        cli_json_record(&grades_rec, g);
        return;
    }
    if (cli->csv) {
        struct customer_grade *rows = out_xcalloc(g->n_grades + 1, sizeof *rows);
        void **items = out_xcalloc(g->n_grades + 1, sizeof *items);
        for (size_t i = 0; i < g->n_grades; i++) {
            rows[i].grade = *g->grades[i];
            rows[i].customer_id = g->customer_id;
            items[i] = &rows[i];
        }
        cli_print_records(cli, items, g->n_grades, 1, &grade_item_kind);
        free(items);
        free(rows);
        return;
    }
    rec_kv_cols(stdout, &grades_rec, grades_lines, g);
    cli_print_section(N_("grades:\n"), &grade_item_rec, (void *const *)g->grades, g->n_grades);
    cli_print_section(N_("history (newest first):\n"), &grade_change_rec, (void *const *)g->history, g->n_history);
    cli_print_section(N_("overrides:\n"), &override_rec, (void *const *)g->overrides, g->n_overrides);
    cli_print_section(N_("credit assessments:\n"), &assessment_rec, (void *const *)g->assessments,
                      g->n_assessments);
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
    cli_print_policy_values(cli, p->values, p->n_values, only, n_only);
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

/* after a change: what a forced change leaves contradicting the pool
 * rules (said, never silent), then the values set */
static void print_set_policy(struct cli *cli, const void *result, char *const *keys, size_t n)
{
    const Kehu__V1__GradePolicy *p = result;
    for (size_t i = 0; i < p->n_warnings; i++)
        fprintf(stderr, _("kehu: warning: %s\n"), p->warnings[i]);
    print_policy(cli, p, keys, n);
}

CLI_ONE_COMMAND(run_policy_show, KEHU__V1__REQUEST__OP_GRADE_POLICY_SHOW, &kehu__v1__grade_policy_show__descriptor, NULL,
                NULL, KEHU__V1__RESPONSE__RESULT_POLICY, NULL, NULL, print_whole_policy)

static int run_policy_set(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = { { "force", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
    Kehu__V1__GradePolicySet m = KEHU__V1__GRADE_POLICY_SET__INIT;
    int rc = cli_flags(cli, argc, argv, &kehu__v1__grade_policy_set__descriptor, flags, &m, NULL, NULL);
    if (rc)
        return rc;
    return cli_policy_set(cli, argc, argv, KEHU__V1__REQUEST__OP_GRADE_POLICY_SET, &m, &m.values, &m.n_values,
                          KEHU__V1__RESPONSE__RESULT_POLICY, print_set_policy);
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

static void print_care(struct cli *cli, const void *m, const struct cli_pages *pages)
{
    const Kehu__V1__CareToday *c = m;
    if (cli_print_list(cli, pages, &care_kind))
        return;
    if (c->days)
        cli_say("no birthday or festival care within %u days of %s\n", c->days, *c->date ? c->date : "today");
    else
        cli_say("no birthday or festival care %s%s\n", *c->date ? "on " : "today", c->date);
}

static const struct cli_flag care_flags[] = {
    { "user", NULL, 0, 0, not_empty, 0 },
    { "days", NULL, 0, CARE_DAYS_MAX, NULL, 0 },
    { "date", NULL, 0, 0, NULL, CLI_FLAG_DUE },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_LIST_COMMAND(run_care_today, KEHU__V1__REQUEST__OP_CARE_TODAY, &kehu__v1__care_today__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_CARE_TASKS, "tasks", NULL, NULL, care_flags, print_care, CARE_LIMIT_MAX)

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
    if (!cli_print_list(cli, pages, &warning_kind))
        cli_say("no churn warnings%s%s\n", *l->status ? " with status " : "", l->status);
}

static const struct cli_flag churn_flags[] = {
    { "user", NULL, 0, 0, not_empty, 0 },
    { "status", NULL, 0, 0, check_churn_status, 0 },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_LIST_COMMAND(run_churn_list, KEHU__V1__REQUEST__OP_CHURN_LIST, &kehu__v1__churn_list__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_CHURN_WARNINGS, "warnings", NULL, NULL, churn_flags, print_warnings)

/* The warning a churn ack|lost answered, for people: a sentence. */
static void say_acked(const void *msg)
{
    const Kehu__V1__ChurnWarning *c = msg;
    cli_say("churn warning %" PRId64 " for %s (customer %" PRId64 ") %s: %s\n", c->id, c->customer_name,
            c->customer_id, c->status, c->plan);
}
static void say_lost(const void *msg)
{
    const Kehu__V1__ChurnWarning *c = msg;
    cli_say("customer %" PRId64 " %s marked churned (%s)%s%s\n", c->customer_id, c->customer_name, c->lost_reason,
            c->id ? "; warning closed as " : "", c->id ? c->status : "");
}
static const struct cli_record_kind acked_kind = { .rec = &warning_rec, .one = say_acked };
static const struct cli_record_kind lost_kind = { .rec = &warning_rec, .one = say_lost };

static int check_ack(struct cli *cli, const void *msg)
{
    /* an empty plan is refused with the option */
    return *((const Kehu__V1__ChurnAck *)msg)->plan ? 0
                                                     : cli_usage_error(cli, "--plan is required (the win-back plan)");
}
static const struct cli_flag ack_flags[] = { { "plan", NULL, 0, 0, not_empty, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
CLI_ONE_COMMAND(run_churn_ack, KEHU__V1__REQUEST__OP_CHURN_ACK, &kehu__v1__churn_ack__descriptor, "WARNING_ID",
                "warning_id", KEHU__V1__RESPONSE__RESULT_CHURN_WARNING, &acked_kind, ack_flags, NULL, check_ack)

static int check_lost_reason(struct cli *cli, const char *flag, const char *value)
{
    return one_of(cli, flag, value, lost_reasons, NELEMS(lost_reasons));
}
static int check_lost(struct cli *cli, const void *msg)
{
    return *((const Kehu__V1__ChurnLost *)msg)->reason ? 0 : cli_usage_error(cli, "--reason is required");
}
static const struct cli_flag lost_flags[] = {
    { "reason", NULL, 0, 0, check_lost_reason, 0 }, { "note", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 }
};
CLI_ONE_COMMAND(run_churn_lost, KEHU__V1__REQUEST__OP_CHURN_LOST, &kehu__v1__churn_lost__descriptor, "CUSTOMER_ID",
                "customer_id", KEHU__V1__RESPONSE__RESULT_CHURN_WARNING, &lost_kind, lost_flags, NULL, check_lost)

/* ---- report ----------------------------------------------------------------------------------------- */

/* A share 0..1 for people ("48.0%") and for CSV (4 decimals). */
static char *share_text(double share, int csv)
{
    char buf[40];
    if (csv)
        out_fixed_format(share, 4, buf, sizeof buf);
    else
        fmt_percent(buf, sizeof buf, share);
    return out_xstrdup(buf);
}
static char *row_customer_pct(const void *msg)
{
    return share_text(((const Kehu__V1__ReportRow *)msg)->customer_share, 0);
}
static char *row_metric_pct(const void *msg)
{
    return share_text(((const Kehu__V1__ReportRow *)msg)->metric_share, 0);
}
static char *row_customer_share(const void *msg)
{
    return share_text(((const Kehu__V1__ReportRow *)msg)->customer_share, 1);
}
static char *row_metric_share(const void *msg)
{
    return share_text(((const Kehu__V1__ReportRow *)msg)->metric_share, 1);
}
static const struct rec_calc report_row_calc[] = {
    { "customer_pct", NULL, row_customer_pct },     { "metric_pct", NULL, row_metric_pct },
    { "customer_share4", NULL, row_customer_share }, { "metric_share4", NULL, row_metric_share },
    { NULL, NULL, NULL },
};
/* The Pareto table: per grade its customers and metric, each with its
 * share; its first column (the dimension) only when the rows span several. */
static const struct rec_col report_row_cols[] = {
    { REC_AS_IS("DIMENSION"), "dimension", OUT_LEFT, 0 },      { REC_AS_IS("GRADE"), "grade", OUT_LEFT, 0 },
    { REC_AS_IS("CUSTOMERS"), "customers", OUT_RIGHT, 0 },     { REC_AS_IS("CUSTOMERS %"), "@customer_pct", OUT_RIGHT, 0 },
    { REC_AS_IS("METRIC TOTAL"), "metric_total_minor", OUT_RIGHT, 0 }, { REC_AS_IS("METRIC %"), "@metric_pct", OUT_RIGHT, 0 },
    { NULL, NULL, 0, 0 },
};
/* JSON: the shares as numbers, the dimension last; CSV: the dimension
 * first, the shares with 4 decimals */
static const struct rec_kind report_row_rec = {
    &kehu__v1__report_row__descriptor,
    "-dimension grade customers +customer_share -customer_share=@customer_share4 metric_total_minor +metric_share "
    "-metric_share=@metric_share4 +dimension",
    report_row_cols, NULL, report_row_calc,
};
static const struct cli_record_kind report_row_kind = { .rec = &report_row_rec };

static const struct rec_col report_top_cols[] = {
    { REC_AS_IS("GRADE"), "grade", OUT_LEFT, 0 },          { REC_AS_IS("RANK"), "rank", OUT_RIGHT, 0 },
    { REC_AS_IS("CUSTOMER"), "customer_id", OUT_RIGHT, 0 }, { REC_AS_IS("NAME"), "customer_name", OUT_LEFT, NAME_COLS },
    { REC_AS_IS("METRIC"), "metric_minor", OUT_RIGHT, 0 },  { REC_AS_IS("OWNER"), "owner", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind report_top_rec = { &kehu__v1__report_top__descriptor,
                                                "grade rank customer_id customer_name metric_minor owner",
                                                report_top_cols, NULL, NULL };

REC_JSON_ARRAY(group_rows_json, Kehu__V1__ReportGroup, rows, &report_row_rec)
static const struct rec_calc report_group_calc[] = { { "rows", group_rows_json, NULL }, { NULL, NULL, NULL } };
static const struct rec_kind report_group_rec = { &kehu__v1__report_group__descriptor, "name id? rows=@rows", NULL,
                                                  NULL, report_group_calc };

REC_JSON_ARRAY(report_rows_json, Kehu__V1__Report, rows, &report_row_rec)
REC_JSON_ARRAY(report_top_json, Kehu__V1__Report, top, &report_top_rec)
REC_JSON_ARRAY(report_migration_json, Kehu__V1__Report, migration, &move_rec)
REC_JSON_ARRAY(report_groups_json, Kehu__V1__Report, groups, &report_group_rec)
REC_JSON_ARRAY(report_warnings_json, Kehu__V1__Report, warnings, &warning_rec)
/* the run compared with: the report's own when none was named */
static void report_to_run_json(struct json_w *w, const void *msg)
{
    const Kehu__V1__Report *r = msg;
    if (r->to_run || r->run_id)
        json_int(w, r->to_run ? r->to_run : r->run_id);
    else
        json_null(w);
}
static const struct rec_calc report_calc[] = {
    { "rows", report_rows_json, NULL },   { "top", report_top_json, NULL },
    { "to_run", report_to_run_json, NULL }, { "migration", report_migration_json, NULL },
    { "groups", report_groups_json, NULL }, { "warnings", report_warnings_json, NULL },
    { NULL, NULL, NULL },
};
static const struct rec_kind report_rec = {
    &kehu__v1__report__descriptor,
    "run_id? metric rows=@rows as_of? top=@top from_run? to_run=@to_run migration=@migration groups=@groups "
    "warnings=@warnings",
    NULL, NULL, report_calc,
};

static void table_rows(Kehu__V1__ReportRow *const *rows, size_t n)
{
    int dims = 0;
    for (size_t i = 1; i < n && !dims; i++)
        dims = strcmp(rows[i]->dimension, rows[0]->dimension) != 0;
    struct rec_kind k = report_row_rec;
    k.cols = dims ? report_row_cols : report_row_cols + 1;
    rec_table(stdout, &k, (void *const *)rows, n);
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

    cli_print_section(N_("top customers:\n"), &report_top_rec, (void *const *)r->top, r->n_top);

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

    cli_print_section(N_("open churn warnings (newest first):\n"), &warning_rec, (void *const *)r->warnings,
                      r->n_warnings);
}

static int check_grouping(struct cli *cli, const char *flag, const char *value)
{
    return one_of(cli, flag, value, report_groupings, NELEMS(report_groupings));
}

static int run_report(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "unit", NULL, 0, 0, not_empty, 0 },        { "owner", NULL, 0, 0, not_empty, 0 },
        { "by", NULL, 0, 0, check_grouping, 0 },     { "top", NULL, 1, TOP_MAX, NULL, 0 },
        { "from-run", "from_run", 0, 0, NULL, 0 },   { "to-run", "to_run", 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    Kehu__V1__ReportGet m = KEHU__V1__REPORT_GET__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__report_get__descriptor, flags, &m, NULL, NULL)))
        return rc;
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
    if (cli->json) {
        cli_json_record(&report_rec, resp->report);
    } else if (cli->csv) {
        cli_print_records(cli, (void *const *)resp->report->rows, resp->report->n_rows, 1, &report_row_kind);
    } else {
        human_report(m.kind, resp->report);
    }
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
