/* Follow-ups: followup plan|log|due|list. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "out.h"

#define NOTE_COLS 40
#define NAME_COLS 24
#define DAYS_MAX 3660


/* ---- Dates: the server's days are UTC days */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t today_days(void)
{
    return (int64_t)time(NULL) / 86400;
}

/* "2026-11-20 (3 days overdue)" for a day before today, else the day. */
static void due_text(const char *due, int64_t today, char *buf, size_t n)
{
    int y, m, d;
    if (out_date_parse(due, &y, &m, &d) < 0) {
        snprintf(buf, n, "%s", due);
        return;
    }
    int64_t late = today - days_from_civil(y, m, d);
    if (late > 0)
        snprintf(buf, n, "%s (%" PRId64 " day%s overdue)", due, late, late == 1 ? "" : "s");
    else
        snprintf(buf, n, "%s", due);
}

/* ---- Printing */

/* The day and how late: for `followup due`. */
static char *due_cell(const void *msg)
{
    char due[64];
    due_text(((const Kehu__V1__Followup *)msg)->due, today_days(), due, sizeof due);
    return out_xstrdup(due);
}

/* The day each happened, or is (was) due: for `followup list`. */
static char *date_cell(const void *msg)
{
    const Kehu__V1__Followup *f = msg;
    char date[64];
    if (f->done_at_ms) {
        out_time_ms(f->done_at_ms, date, sizeof date);
        date[10] = 0; /* the day it happened */
    } else if (strcmp(f->status, "planned") == 0) {
        due_text(f->due, today_days(), date, sizeof date);
    } else {
        snprintf(date, sizeof date, "%s", f->due);
    }
    return out_xstrdup(date);
}

static const struct rec_calc followup_calc[] = {
    { "due", NULL, due_cell },
    { "date", NULL, date_cell },
    { NULL, NULL, NULL },
};
#define FOLLOWUP_FIELDS \
    "id customer_id customer_name kind status due? done_at_ms outcome note next? owner created_at_ms created_by"
static const struct rec_col followup_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("DATE"), "@date", OUT_LEFT, 0 }, { N_("KIND"), "kind", OUT_LEFT, 0 },
    { N_("STATUS"), "status", OUT_LEFT, 0 }, { N_("OWNER"), "owner", OUT_LEFT, 0 },
    { N_("OUTCOME"), "outcome", OUT_LEFT, NOTE_COLS }, { N_("NOTE"), "note", OUT_LEFT, NOTE_COLS },
    { NULL, NULL, 0, 0 },
};
static const struct rec_col due_cols[] = {
    { N_("DUE"), "@due", OUT_LEFT, 0 }, { N_("CUSTOMER"), "customer_id", OUT_RIGHT, 0 },
    { N_("NAME"), "customer_name", OUT_LEFT, NAME_COLS }, { N_("KIND"), "kind", OUT_LEFT, 0 },
    { N_("NOTE"), "note", OUT_LEFT, NOTE_COLS }, { NULL, NULL, 0, 0 },
};
static const struct rec_kind followup_rec = {
    &kehu__v1__followup__descriptor, FOLLOWUP_FIELDS, followup_cols, N_("no follow-ups"), followup_calc,
};
static const struct rec_kind due_rec = {
    &kehu__v1__followup__descriptor, FOLLOWUP_FIELDS, due_cols, N_("no follow-ups due"), followup_calc,
};
static const struct cli_record_kind followup_kind = { .rec = &followup_rec };
static const struct cli_record_kind due_kind = { .rec = &due_rec };

/* ---- The contacts the service policy asks for (followup due) */

/* With --json and --csv a policy contact is one more element of the due list,
 * with every key a follow-up has (so that old readers keep working):
 * status "policy", id null, and the policy's own grade, last and
 * overdue_days added in JSON. */
static void json_null_value(struct json_w *w, const void *msg)
{
    json_null(w);
}
static void json_empty(struct json_w *w, const void *msg)
{
    json_str(w, "");
}
static void json_policy(struct json_w *w, const void *msg)
{
    json_str(w, "policy");
}
static char *text_policy(const void *msg)
{
    return out_xstrdup("policy");
}

/* What the policy asks: the day (and how late) ... */
static char *policy_due(const void *msg)
{
    const Kehu__V1__ContactDue *d = msg;
    char due[64];
    if (!*d->due)
        snprintf(due, sizeof due, "%s", strcmp(d->kind, "owner") == 0 ? "now (no dedicated owner)" : "now");
    else if (d->overdue_days > 0)
        snprintf(due, sizeof due, "%s (%" PRId32 " day%s overdue)", d->due, d->overdue_days,
                 d->overdue_days == 1 ? "" : "s");
    else
        snprintf(due, sizeof due, "%s", d->due);
    return out_xstrdup(due);
}

/* ... who is asked to make it (the policy's owner, branch_manager or team:NAME) ... */
static char *policy_kind(const void *msg)
{
    const Kehu__V1__ContactDue *d = msg;
    char kind[160];
    if (*d->by && strcmp(d->by, "owner") != 0)
        snprintf(kind, sizeof kind, "%s by %s", d->kind, d->by);
    else
        snprintf(kind, sizeof kind, "%s", d->kind);
    return out_xstrdup(kind);
}

/* ... and the last contact of that kind */
static char *policy_last(const void *msg)
{
    const Kehu__V1__ContactDue *d = msg;
    return out_xstrdup(*d->last ? d->last : strcmp(d->kind, "owner") == 0 ? "" : "never");
}

static const struct rec_calc policy_calc[] = {
    { "null", json_null_value, NULL }, { "empty", json_empty, NULL },   { "policy", json_policy, text_policy },
    { "due", NULL, policy_due },       { "last", NULL, policy_last },   { "kindby", NULL, policy_kind },
    { NULL, NULL, NULL },
};
static const struct rec_col policy_cols[] = {
    { N_("DUE"), "@due", OUT_LEFT, 0 }, { N_("CUSTOMER"), "customer_id", OUT_RIGHT, 0 },
    { N_("NAME"), "customer_name", OUT_LEFT, NAME_COLS }, { N_("GRADE"), "grade", OUT_LEFT, 0 },
    { N_("KIND"), "@kindby", OUT_LEFT, 0 }, { N_("LAST"), "@last", OUT_LEFT, 0 }, { N_("OWNER"), "owner", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind policy_rec = {
    &kehu__v1__contact_due__descriptor,
    "id=@null customer_id customer_name kind status=@policy due? done_at=@null outcome=@empty note=@empty next=@null "
    "owner created_at=@null created_by=@empty +grade +last? +overdue_days +by",
    policy_cols, NULL, policy_calc,
};

/* One follow-up for people: a line after verb (JSON or CSV for scripts:
 * the kinds below). */
static void say_one(const Kehu__V1__Followup *f, const char *verb)
{
    if (strcmp(f->status, "planned") == 0)
        cli_say("%s follow-up %" PRId64 ": %s with %s due %s (%s)\n", verb, f->id, f->kind, f->customer_name, f->due,
                f->owner);
    else
        cli_say("%s follow-up %" PRId64 ": %s with %s%s%s\n", verb, f->id, f->kind, f->customer_name,
                *f->next ? ", next due " : "", f->next);
}
static void say_planned(const void *f)
{
    say_one(f, _("planned"));
}
static void say_logged(const void *f)
{
    say_one(f, _("logged"));
}
static const struct cli_record_kind planned_kind = { .rec = &followup_rec, .one = say_planned };
static const struct cli_record_kind logged_kind = { .rec = &followup_rec, .one = say_logged };

/* ---- Commands */

static int parse_kind(struct cli *cli, const char *s)
{
    static const char *const kinds[] = { "visit", "call", "email", "meeting", "wechat", "sms" };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, kinds[i]) == 0)
            return 0;
    return cli_usage_error(cli, "--kind: expected visit, call, email, meeting, wechat or sms, not '%s'", s);
}

static int check_kind(struct cli *cli, const char *flag, const char *value)
{
    return parse_kind(cli, value);
}

static int check_plan(struct cli *cli, const void *msg)
{
    const Kehu__V1__FollowupPlan *m = msg;
    if (!*m->kind)
        return cli_usage_error(cli, "--kind is required");
    return *m->due ? 0 : cli_usage_error(cli, "--due is required");
}
static const struct cli_flag plan_flags[] = {
    { "kind", NULL, 0, 0, check_kind, 0 }, { "due", NULL, 0, 0, NULL, CLI_FLAG_DUE },
    { "note", NULL, 0, 0, NULL, 0 },       { "user", NULL, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_ONE_COMMAND(run_plan, KEHU__V1__REQUEST__OP_FOLLOWUP_PLAN, &kehu__v1__followup_plan__descriptor, "CUSTOMER_ID",
                "customer_id", KEHU__V1__RESPONSE__RESULT_FOLLOWUP, &planned_kind, plan_flags, NULL, check_plan)

static int check_log(struct cli *cli, const void *msg)
{
    return *((const Kehu__V1__FollowupLog *)msg)->kind ? 0 : cli_usage_error(cli, "--kind is required");
}
static const struct cli_flag log_flags[] = {
    { "kind", NULL, 0, 0, check_kind, 0 }, { "outcome", NULL, 0, 0, NULL, 0 },
    { "note", NULL, 0, 0, NULL, 0 },       { "next", NULL, 0, 0, NULL, CLI_FLAG_DUE },
    { "at", NULL, 0, 0, cli_check_date, 0 }, { NULL, NULL, 0, 0, NULL, 0 },
};
CLI_ONE_COMMAND(run_log, KEHU__V1__REQUEST__OP_FOLLOWUP_LOG, &kehu__v1__followup_log__descriptor, "CUSTOMER_ID",
                "customer_id", KEHU__V1__RESPONSE__RESULT_FOLLOWUP, &logged_kind, log_flags, NULL, check_log)

/* followup due: the planned follow-ups of every page, then the contacts the
 * service policy asks for (one JSON array; CSV rows under the follow-ups'
 * header; for people a second table). */
static void print_due(struct cli *cli, const void *req, const struct cli_pages *pages)
{
    const Kehu__V1__FollowupDue *m = req;
    size_t n = pages->n, n_cs = 0;
    for (size_t i = 0; i < pages->n_resp; i++)
        n_cs += pages->resp[i]->followups->n_contacts_due;
    void **cs = out_xcalloc(n_cs + 1, sizeof *cs);
    n_cs = 0;
    for (size_t i = 0; i < pages->n_resp; i++)
        for (size_t k = 0; k < pages->resp[i]->followups->n_contacts_due; k++)
            cs[n_cs++] = pages->resp[i]->followups->contacts_due[k];
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_array(&w);
        for (size_t i = 0; i < n; i++)
            rec_json(&w, &followup_rec, pages->items[i]);
        for (size_t i = 0; i < n_cs; i++)
            rec_json(&w, &policy_rec, cs[i]);
        json_end_array(&w);
    } else if (cli->csv) {
        cli_print_records(cli, pages->items, n, 1, &due_kind);
        for (size_t i = 0; i < n_cs; i++)
            rec_csv_row(stdout, &policy_rec, cs[i]);
    } else {
        if (n)
            cli_print_records(cli, pages->items, n, 1, &due_kind);
        if (n_cs) {
            if (n)
                putchar('\n'); /* cli_say would show it as a space */
            cli_say("policy contacts:\n");
            rec_table(stdout, &policy_rec, cs, n_cs);
        }
        if (!n && !n_cs)
            cli_say("nothing due within %u days\n", m->days ? m->days : 7);
    }
    free(cs);
}

static const struct cli_flag due_flags[] = {
    { "user", NULL, 0, 0, NULL, 0 }, { "days", NULL, 1, DAYS_MAX, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 }
};
CLI_LIST_COMMAND(run_due, KEHU__V1__REQUEST__OP_FOLLOWUP_DUE, &kehu__v1__followup_due__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_FOLLOWUPS, "followups", NULL, NULL, due_flags, print_due)

CLI_LIST_COMMAND(run_list, KEHU__V1__REQUEST__OP_FOLLOWUP_LIST, &kehu__v1__followup_list__descriptor, "CUSTOMER_ID",
                 "customer_id", KEHU__V1__RESPONSE__RESULT_FOLLOWUPS, "followups", &followup_kind, NULL)

const struct cli_cmd cmd_followup_table[] = {
    { "followup plan", "CUSTOMER_ID --kind visit|call|email|meeting|wechat|sms --due DATE [--note N] [--user U]",
      N_("plan a follow-up (for the customer's owner unless --user)"), 1, run_plan },
    { "followup log", "CUSTOMER_ID --kind K [--outcome O] [--note N] [--next DATE] [--at DATE]",
      N_("record a contact that happened (completes the planned one; --next plans another)"), 1, run_log },
    { "followup due", "[--user U] [--days N] [--limit N] [--after CURSOR] [--all]",
      N_("follow-ups due within N days (default 7) and overdue ones, and the contacts the grade's service policy asks for"),
      1, run_due },
    { "followup list", "CUSTOMER_ID [--limit N] [--after CURSOR] [--all]", N_("a customer's follow-ups, newest first"), 1,
      run_list },
    { NULL, NULL, NULL, 0, NULL },
};
