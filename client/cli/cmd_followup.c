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

enum {
    O_KIND = 0x100,
    O_DUE,
    O_NOTE,
    O_USER,
    O_OUTCOME,
    O_NEXT,
    O_AT,
    O_DAYS,
};

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

static void json_followup(struct json_w *w, const void *item)
{
    const Kehu__V1__Followup *f = item;
    char done[OUT_TIME_BUFSZ], created[OUT_TIME_BUFSZ];
    out_time_ms(f->done_at_ms, done, sizeof done);
    out_time_ms(f->created_at_ms, created, sizeof created);
    json_begin_object(w);
    json_kint(w, "id", f->id);
    json_kint(w, "customer_id", f->customer_id);
    json_kstr(w, "customer_name", f->customer_name);
    json_kstr(w, "kind", f->kind);
    json_kstr(w, "status", f->status);
    json_kstr(w, "due", *f->due ? f->due : NULL);
    json_kstr(w, "done_at", *done ? done : NULL);
    json_kstr(w, "outcome", f->outcome);
    json_kstr(w, "note", f->note);
    json_kstr(w, "next", *f->next ? f->next : NULL);
    json_kstr(w, "owner", f->owner);
    json_kstr(w, "created_at", *created ? created : NULL);
    json_kstr(w, "created_by", f->created_by);
    json_end_object(w);
}

static const char *const followup_csv_head[] = { "id",         "customer_id", "customer_name", "kind",
                                                 "status",     "due",         "done_at",       "outcome",
                                                 "note",       "next",        "owner",         "created_at",
                                                 "created_by" };

static void csv_followup(const void *item)
{
    const Kehu__V1__Followup *f = item;
    char id[24], cust[24], done[OUT_TIME_BUFSZ], created[OUT_TIME_BUFSZ];
    snprintf(id, sizeof id, "%" PRId64, f->id);
    snprintf(cust, sizeof cust, "%" PRId64, f->customer_id);
    out_time_ms(f->done_at_ms, done, sizeof done);
    out_time_ms(f->created_at_ms, created, sizeof created);
    const char *row[] = { id,      cust,       f->customer_name, f->kind,  f->status, f->due,       done,
                          f->outcome, f->note, f->next,          f->owner, created,   f->created_by };
    cli_csv_row(stdout, 13, row);
}

/* What is due: the day (and how late), who, what. */
static void table_due(void *const *items, size_t n)
{
    static const char *const head[] = { "DUE", "CUSTOMER", "NAME", "KIND", "NOTE" };
    struct out_table *t = out_table_new(5, head);
    out_table_align(t, 1, OUT_RIGHT);
    out_table_empty(t, "no follow-ups due");
    out_table_max_width(t, 2, NAME_COLS);
    out_table_max_width(t, 4, NOTE_COLS);
    int64_t today = today_days();
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__Followup *f = items[i];
        char due[64], cust[24];
        due_text(f->due, today, due, sizeof due);
        snprintf(cust, sizeof cust, "%" PRId64, f->customer_id);
        const char *row[] = { due, cust, f->customer_name, f->kind, f->note };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

/* A customer's follow-ups: the day each happened, or is (was) due. */
static void table_followups(void *const *items, size_t n)
{
    static const char *const head[] = { "ID", "DATE", "KIND", "STATUS", "OWNER", "OUTCOME", "NOTE" };
    struct out_table *t = out_table_new(7, head);
    out_table_empty(t, "no follow-ups");
    out_table_align(t, 0, OUT_RIGHT);
    out_table_max_width(t, 5, NOTE_COLS);
    out_table_max_width(t, 6, NOTE_COLS);
    int64_t today = today_days();
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__Followup *f = items[i];
        char id[24], date[64];
        snprintf(id, sizeof id, "%" PRId64, f->id);
        if (f->done_at_ms) {
            out_time_ms(f->done_at_ms, date, sizeof date);
            date[10] = 0; /* the day it happened */
        } else if (strcmp(f->status, "planned") == 0) {
            due_text(f->due, today, date, sizeof date);
        } else {
            snprintf(date, sizeof date, "%s", f->due);
        }
        const char *row[] = { id, date, f->kind, f->status, f->owner, f->outcome, f->note };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

/* ---- The contacts the service policy asks for (followup due) */

/* With --json and --csv a policy contact is one more element of the due list,
 * with every key a follow-up has (so that old readers keep working):
 * status "policy", id null, and the policy's own grade, last and
 * overdue_days added in JSON. */
static void json_contact(struct json_w *w, const Kehu__V1__ContactDue *d)
{
    json_begin_object(w);
    json_knull(w, "id");
    json_kint(w, "customer_id", d->customer_id);
    json_kstr(w, "customer_name", d->customer_name);
    json_kstr(w, "kind", d->kind);
    json_kstr(w, "status", "policy");
    json_kstr(w, "due", *d->due ? d->due : NULL);
    json_knull(w, "done_at");
    json_kstr(w, "outcome", "");
    json_kstr(w, "note", "");
    json_knull(w, "next");
    json_kstr(w, "owner", d->owner);
    json_knull(w, "created_at");
    json_kstr(w, "created_by", "");
    json_kstr(w, "grade", d->grade);
    json_kstr(w, "last", *d->last ? d->last : NULL);
    json_kint(w, "overdue_days", d->overdue_days);
    json_kstr(w, "by", d->by); /* who the policy asks: owner, branch_manager, team:NAME */
    json_end_object(w);
}

static void csv_contact(const Kehu__V1__ContactDue *d)
{
    char cust[24];
    snprintf(cust, sizeof cust, "%" PRId64, d->customer_id);
    const char *row[] = { "", cust, d->customer_name, d->kind, "policy", d->due, "", "", "", "", d->owner, "", "" };
    cli_csv_row(stdout, 13, row);
}

/* What the policy asks: the day (and how late), who, the grade, what, the
 * last contact of that kind. */
static void table_contacts(Kehu__V1__ContactDue *const *cs, size_t n)
{
    static const char *const head[] = { "DUE", "CUSTOMER", "NAME", "GRADE", "KIND", "LAST", "OWNER" };
    struct out_table *t = out_table_new(7, head);
    out_table_align(t, 1, OUT_RIGHT);
    out_table_max_width(t, 2, NAME_COLS);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__ContactDue *d = cs[i];
        char due[64], cust[24];
        snprintf(cust, sizeof cust, "%" PRId64, d->customer_id);
        if (!*d->due)
            snprintf(due, sizeof due, "%s", strcmp(d->kind, "owner") == 0 ? "now (no dedicated owner)" : "now");
        else if (d->overdue_days > 0)
            snprintf(due, sizeof due, "%s (%" PRId32 " day%s overdue)", d->due, d->overdue_days,
                     d->overdue_days == 1 ? "" : "s");
        else
            snprintf(due, sizeof due, "%s", d->due);
        const char *last = *d->last ? d->last : strcmp(d->kind, "owner") == 0 ? "" : "never";
        char kind[160];
        if (*d->by && strcmp(d->by, "owner") != 0)
            snprintf(kind, sizeof kind, "%s by %s", d->kind, d->by);
        else
            snprintf(kind, sizeof kind, "%s", d->kind);
        const char *row[] = { due, cust, d->customer_name, d->grade, kind, last, d->owner };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static const struct cli_record_kind followup_kind = {
    json_followup, 13, followup_csv_head, csv_followup, table_followups, NULL,
};
static const struct cli_record_kind due_kind = {
    json_followup, 13, followup_csv_head, csv_followup, table_due, NULL,
};

/* One follow-up: JSON (or CSV) for scripts, a line for people. */
static void print_one(struct cli *cli, Kehu__V1__Followup *f, const char *verb)
{
    if (cli->json || cli->csv)
        cli_print_records(cli, (void *const *)&f, 1, 0, &followup_kind);
    else if (strcmp(f->status, "planned") == 0)
        cli_say("%s follow-up %" PRId64 ": %s with %s due %s (%s)\n", verb, f->id, f->kind, f->customer_name, f->due,
                f->owner);
    else
        cli_say("%s follow-up %" PRId64 ": %s with %s%s%s\n", verb, f->id, f->kind, f->customer_name,
                *f->next ? ", next due " : "", f->next);
}

/* ---- Commands */

static int parse_kind(struct cli *cli, const char *s)
{
    static const char *const kinds[] = { "visit", "call", "email", "meeting", "wechat", "sms" };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, kinds[i]) == 0)
            return 0;
    return cli_usage_error(cli, "--kind: expected visit, call, email, meeting, wechat or sms, not '%s'", s);
}

/* Sends req expecting one follow-up back and prints it. */
static int call_one(struct cli *cli, Kehu__V1__Request *req, const char *verb)
{
    Kehu__V1__Response *resp;
    int rc = cli_call(cli, req, &resp);
    if (rc)
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_FOLLOWUP || !resp->followup)
        return cli_bad_reply(cli, resp);
    print_one(cli, resp->followup, verb);
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_plan(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "kind", required_argument, NULL, O_KIND },
        { "due", required_argument, NULL, O_DUE },
        { "note", required_argument, NULL, O_NOTE },
        { "user", required_argument, NULL, O_USER },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__FollowupPlan m = KEHU__V1__FOLLOWUP_PLAN__INIT;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        rc = CLI_OK;
        switch (c) {
        case O_KIND: rc = parse_kind(cli, optarg); m.kind = optarg; break;
        case O_DUE: rc = cli_parse_due(cli, "--due", optarg, &m.due); break;
        case O_NOTE: m.note = optarg; break;
        case O_USER: m.user = optarg; break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (!*m.kind)
        return cli_usage_error(cli, "--kind is required");
    if (!*m.due)
        return cli_usage_error(cli, "--due is required");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_PLAN;
    req.followup_plan = &m;
    return call_one(cli, &req, _("planned"));
}

static int run_log(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "kind", required_argument, NULL, O_KIND },
        { "outcome", required_argument, NULL, O_OUTCOME },
        { "note", required_argument, NULL, O_NOTE },
        { "next", required_argument, NULL, O_NEXT },
        { "at", required_argument, NULL, O_AT },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__FollowupLog m = KEHU__V1__FOLLOWUP_LOG__INIT;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        rc = CLI_OK;
        switch (c) {
        case O_KIND: rc = parse_kind(cli, optarg); m.kind = optarg; break;
        case O_OUTCOME: m.outcome = optarg; break;
        case O_NOTE: m.note = optarg; break;
        case O_NEXT: rc = cli_parse_due(cli, "--next", optarg, &m.next); break;
        case O_AT: rc = cmd_customer_check_date(cli, "--at", optarg); m.at = optarg; break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    if (!*m.kind)
        return cli_usage_error(cli, "--kind is required");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LOG;
    req.followup_log = &m;
    return call_one(cli, &req, _("logged"));
}

/* The pages of one `followup due`, kept until printed. */
struct due_pages {
    Kehu__V1__Response **resp;
    size_t n_resp;
    void **fs;
    Kehu__V1__ContactDue **cs;
    size_t n_fs, n_cs;
};

static void due_pages_add(struct due_pages *p, Kehu__V1__Response *resp)
{
    const Kehu__V1__Followups *l = resp->followups;
    p->resp = out_xrealloc(p->resp, sizeof *p->resp * (p->n_resp + 1));
    p->fs = out_xrealloc(p->fs, sizeof *p->fs * (p->n_fs + l->n_followups + 1));
    p->cs = out_xrealloc(p->cs, sizeof *p->cs * (p->n_cs + l->n_contacts_due + 1));
    p->resp[p->n_resp++] = resp;
    for (size_t i = 0; i < l->n_followups; i++)
        p->fs[p->n_fs++] = l->followups[i];
    for (size_t i = 0; i < l->n_contacts_due; i++)
        p->cs[p->n_cs++] = l->contacts_due[i];
}

static void due_pages_free(struct due_pages *p)
{
    for (size_t i = 0; i < p->n_resp; i++)
        kehu_response_free(p->resp[i]);
    free(p->resp);
    free(p->fs);
    free(p->cs);
}

static int run_due(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "user", required_argument, NULL, O_USER },
        { "days", required_argument, NULL, O_DAYS },
        CLI_PAGING_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__FollowupDue m = KEHU__V1__FOLLOWUP_DUE__INIT;
    struct cli_paging pg = { 0 };
    const char *days_arg = NULL;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == O_USER) {
            m.user = optarg;
        } else if (c == O_DAYS) {
            int64_t days;
            if ((rc = cmd_customer_parse_int(cli, "--days", optarg, 1, DAYS_MAX, &days)))
                return rc;
            m.days = (uint32_t)days;
            days_arg = optarg;
        } else if ((rc = cli_page_option(cli, c, optarg, 1000, &pg)) != CLI_OK) {
            return rc < 0 ? cli->opt_rc : rc;
        }
    }
    if ((rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    m.limit = pg.limit;
    m.after = (char *)(pg.after ? pg.after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_DUE;
    req.followup_due = &m;
    struct due_pages pages = { 0 };
    const char *next = NULL;
    uint32_t remaining = 0;
    for (;;) {
        Kehu__V1__Response *resp;
        if ((rc = cli_call(cli, &req, &resp)))
            break;
        const Kehu__V1__Followups *l = resp->followups;
        if (resp->result_case != KEHU__V1__RESPONSE__RESULT_FOLLOWUPS || !l ||
            (l->next_cursor[0] && strcmp(l->next_cursor, m.after) == 0)) {
            rc = cli_bad_reply(cli, resp); /* a cursor that goes nowhere would loop forever */
            break;
        }
        due_pages_add(&pages, resp);
        next = l->next_cursor[0] ? l->next_cursor : NULL;
        remaining = l->remaining;
        if (!pg.all || !next)
            break;
        m.after = l->next_cursor;
    }
    if (rc) {
        due_pages_free(&pages);
        return rc;
    }
    void *const *fs = pages.fs;
    size_t n = pages.n_fs;
    Kehu__V1__ContactDue *const *cs = pages.cs;
    size_t n_cs = pages.n_cs;
    if (cli->json) { /* one array: the planned follow-ups, then the policy's contacts */
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_array(&w);
        for (size_t i = 0; i < n; i++)
            json_followup(&w, fs[i]);
        for (size_t i = 0; i < n_cs; i++)
            json_contact(&w, cs[i]);
        json_end_array(&w);
    } else if (cli->csv) {
        cli_print_records(cli, fs, n, 1, &due_kind);
        for (size_t i = 0; i < n_cs; i++)
            csv_contact(cs[i]);
    } else {
        if (n)
            cli_print_records(cli, fs, n, 1, &due_kind);
        if (n_cs) {
            if (n)
                putchar('\n'); /* cli_say would show it as a space */
            cli_say("policy contacts:\n");
            table_contacts(cs, n_cs);
        }
        if (!n && !n_cs)
            cli_say("nothing due within %u days\n", m.days ? m.days : 7);
    }
    if (next) {
        const char *words[8] = { "followup", "due" };
        size_t nw = 2;
        if (m.user && *m.user)
            words[nw++] = "--user", words[nw++] = m.user;
        if (days_arg)
            words[nw++] = "--days", words[nw++] = days_arg;
        if (pg.limit_arg)
            words[nw++] = "--limit", words[nw++] = pg.limit_arg;
        cli_page_more(cli, words, nw, next, remaining);
    }
    due_pages_free(&pages);
    return CLI_OK;
}

static int followup_page(const Kehu__V1__Response *resp, void *const **items, size_t *n, const char **next,
                         uint32_t *remaining)
{
    const Kehu__V1__Followups *l = resp->followups;
    if (!l)
        return -1;
    *items = (void *const *)l->followups;
    *n = l->n_followups;
    *next = l->next_cursor;
    *remaining = l->remaining;
    return 0;
}

static int run_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = { CLI_PAGING_OPTIONS, { NULL, 0, NULL, 0 } };
    struct cli_paging pg = { 0 };
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1)
        if ((rc = cli_page_option(cli, c, optarg, 1000, &pg)) != CLI_OK)
            return rc < 0 ? cli->opt_rc : rc;
    Kehu__V1__FollowupList m = KEHU__V1__FOLLOWUP_LIST__INIT;
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &m.customer_id)))
        return rc;
    m.limit = pg.limit;
    m.after = (char *)(pg.after ? pg.after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LIST;
    req.followup_list = &m;
    struct cli_pages pages = { 0 };
    rc = cli_fetch_pages(cli, &req, KEHU__V1__RESPONSE__RESULT_FOLLOWUPS, &m.after, pg.all, followup_page, &pages);
    if (rc == CLI_OK) {
        cli_print_records(cli, pages.items, pages.n, 1, &followup_kind);
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, m.customer_id);
        const char *words[] = { "followup", "list", id, "--limit", pg.limit_arg };
        cli_page_more(cli, words, pg.limit_arg ? 5 : 3, pages.next, pages.remaining);
    }
    cli_pages_free(&pages);
    return rc;
}

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
