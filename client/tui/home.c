/* The home screen, my day: my customers by grade with the ABC Pareto drawn
 * in blocks, contacts due and overdue, care actions, churn warnings, cases
 * past or near their deadline, and (managers) customers about to be
 * recycled to the pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "out.h"
#include "tui.h"

enum { K_ABC, K_DUE, K_CARE, K_CHURN, K_CASES, K_POOL, K_N };

/* a case is near its deadline within this long */
#define CASE_NEAR_MS (24LL * 3600 * 1000)
/* the pool block looks this many days ahead */
#define POOL_AHEAD_DAYS 7

struct home {
    struct screen s;
    struct lines part[K_N]; /* each section's lines, as last answered */
    struct lines all;       /* what is shown: the sections one after the other */
    int hidden[K_N];        /* a section the user's role cannot get: not shown at all */
    int rows;
};

static const char *const home_keys[] = {
    N_("j k ↑ ↓\tmove"),  N_("Enter\topen the customer"), N_("/\tsearch customers"),
    N_("l\tall customers"), N_("r\treload"),            N_("q\tquit"),
    N_("p\tthe pool: claim customers"), N_("t\ta user's due list (the team's, managers)"), NULL,
};

static void assemble(struct home *h)
{
    int cursor = h->all.cursor;
    lines_clear(&h->all);
    static const char *const heads[K_N] = { N_("My customers by grade (share of customers | share of revenue)"),
                                            N_("Contacts due and overdue (7 days)"), N_("Care today"),
                                            N_("Churn warnings, most value at risk first"),
                                            N_("Cases overdue or due within 24 hours"),
                                            N_("Customers to be recycled to the pool (next 7 days)") };
    for (int k = 0; k < K_N; k++) {
        if (h->hidden[k])
            continue;
        lines_add(&h->all, 0, A_BOLD, "%s", _(heads[k]));
        if (h->part[k].n == 0)
            lines_add(&h->all, 0, A_DIM, "  %s", _("(nothing)"));
        for (int i = 0; i < h->part[k].n; i++) {
            struct line *ln = &h->part[k].v[i];
            lines_add(&h->all, ln->customer_id, ln->attr, "%s", ln->text);
        }
        lines_add(&h->all, 0, 0, "%s", "");
    }
    h->all.cursor = cursor;
}

/* A bar of width w for share (0..1) in eighths of a block. */
static void bar(char *out, size_t n, double share, int w)
{
    static const char *const eighths[] = { "", "▏", "▎", "▍", "▌", "▋", "▊", "▉" };
    int units = (int)(share * w * 8 + 0.5), k = 0;
    out[0] = '\0';
    for (int i = 0; i < units / 8 && k + 4 < (int)n; i++)
        k += snprintf(out + k, n - (size_t)k, "█");
    if (units % 8 && k + 4 < (int)n)
        snprintf(out + k, n - (size_t)k, "%s", eighths[units % 8]);
}

/* s padded with spaces to w display columns (printf's %-12s counts bytes:
 * a block is three, a Chinese character three and two columns wide). */
static const char *padded(char *out, size_t n, const char *s, int w)
{
    int sw = (int)out_width(s);
    snprintf(out, n, "%s%*s", s, sw < w ? w - sw : 0, "");
    return out;
}

/* ms as a short span: 2d 3h, 3h 05m, 12m */
static const char *span(char *out, size_t n, int64_t ms)
{
    long long m = (long long)(ms / 60000), d = m / 1440, hr = m % 1440 / 60;
    if (d > 0)
        snprintf(out, n, _("%lldd %lldh"), d, hr);
    else if (hr > 0)
        snprintf(out, n, _("%lldh %02lldm"), hr, m % 60);
    else
        snprintf(out, n, _("%lldm"), m);
    return out;
}

/* The deadline a case is working against: to respond, then to resolve. */
static int64_t case_deadline(const Kehu__V1__Case *c)
{
    return c->responded_at ? c->resolve_by : c->respond_by;
}

/* "overdue 3h 00m" or "5h 10m left" for a deadline left ms from now */
static const char *case_label(char *out, size_t n, int64_t left)
{
    char sp[48];
    snprintf(out, n, left < 0 ? _("overdue %s") : _("%s left"), span(sp, sizeof sp, left < 0 ? -left : left));
    return out;
}

static int by_deadline(const void *x, const void *y)
{
    int64_t a = case_deadline(*(Kehu__V1__Case *const *)x), b = case_deadline(*(Kehu__V1__Case *const *)y);
    return (a > b) - (a < b);
}

static void home_reply(struct screen *s, struct app *a, int kind, const Kehu__V1__Response *resp,
                       const struct kehu_status *st)
{
    struct home *h = (struct home *)s;
    struct lines *l = &h->part[kind];
    lines_clear(l);
    h->hidden[kind] = 0;
    if (resp && kind == K_POOL && st->code == KEHU__V1__CODE__PERMISSION_DENIED) {
        h->hidden[kind] = 1; /* not the user's role: no block, no error */
        assemble(h);
        return;
    }
    if (!resp || st->code != KEHU__V1__CODE__OK) {
        lines_add(l, 0, A_DIM, "  %s", st->message);
        assemble(h);
        return;
    }
    switch (kind) {
    case K_ABC: {
        const Kehu__V1__Report *r = resp->report;
        int64_t total = 0;
        for (size_t i = 0; r && i < r->n_rows; i++)
            if (strcmp(r->rows[i]->dimension, "abc") == 0 || !*r->rows[i]->dimension)
                total += r->rows[i]->customers;
        for (size_t i = 0; r && i < r->n_rows; i++) {
            const Kehu__V1__ReportRow *row = r->rows[i];
            if (*row->dimension && strcmp(row->dimension, "abc") != 0)
                continue;
            char b1[128], b2[128], p1[160], p2[160];
            bar(b1, sizeof b1, row->customer_share, 12);
            bar(b2, sizeof b2, row->metric_share, 12);
            lines_add(l, 0, 0, "  %-2s %6lld  %s %5.1f%% | %s %5.1f%%", row->grade, (long long)row->customers,
                      padded(p1, sizeof p1, b1, 12), row->customer_share * 100, padded(p2, sizeof p2, b2, 12),
                      row->metric_share * 100);
        }
        if (r && r->run_id == 0)
            lines_add(l, 0, A_DIM, "  %s", _("(no grading run yet)"));
        (void)total;
        break;
    }
    case K_DUE: {
        const Kehu__V1__Followups *f = resp->followups;
        /* "overdue" or as many blanks, in whatever width the language gives it */
        char late[64], blank[64];
        padded(late, sizeof late, _("overdue"), 0);
        padded(blank, sizeof blank, "", (int)out_width(late));
        char today[11];
        time_t now = time(NULL);
        strftime(today, sizeof today, "%Y-%m-%d", localtime(&now));
        for (size_t i = 0; f && i < f->n_followups; i++) {
            const Kehu__V1__Followup *x = f->followups[i];
            int overdue = *x->due && strcmp(x->due, today) < 0;
            lines_add(l, x->customer_id, overdue && a->color ? COLOR_PAIR(2) : 0, "  %-10s %s  %-2s %-7s %s", x->due,
                      overdue ? late : blank, "", x->kind, x->customer_name);
        }
        for (size_t i = 0; f && i < f->n_contacts_due; i++) {
            const Kehu__V1__ContactDue *x = f->contacts_due[i];
            lines_add(l, x->customer_id, x->overdue_days > 0 && a->color ? COLOR_PAIR(2) : 0, "  %-10s %s  %-2s %-7s %s",
                      *x->due ? x->due : "-", x->overdue_days > 0 ? late : blank, x->grade, x->kind,
                      x->customer_name);
        }
        if (f && f->remaining)
            lines_add(l, 0, A_DIM, _("  … %u more"), f->remaining);
        break;
    }
    case K_CARE: {
        const Kehu__V1__CareTasks *c = resp->care_tasks;
        for (size_t i = 0; c && i < c->n_tasks; i++) {
            const Kehu__V1__CareTask *t = c->tasks[i];
            lines_add(l, t->customer_id, 0, "  %s  %-2s %s  %s (%s)", t->date, t->grade, t->customer_name, t->occasion,
                      t->action);
        }
        break;
    }
    case K_CHURN: {
        const Kehu__V1__ChurnWarnings *w = resp->churn_warnings;
        for (size_t i = 0; w && i < w->n_warnings; i++) {
            const Kehu__V1__ChurnWarning *x = w->warnings[i];
            char reasons[256] = "";
            for (size_t j = 0, k = 0; j < x->n_reasons && k < sizeof reasons - 2; j++)
                k += (size_t)snprintf(reasons + k, sizeof reasons - k, "%s%s", j ? ", " : "", x->reasons[j]);
            lines_add(l, x->customer_id, 0, "  %s  %s  %s", x->raised_on, x->customer_name, reasons);
        }
        if (w && w->remaining)
            lines_add(l, 0, A_DIM, _("  … %u more"), w->remaining);
        break;
    }
    case K_CASES: {
        const Kehu__V1__CasePage *p = resp->cases;
        size_t n = p ? p->n_cases : 0;
        Kehu__V1__Case **v = n ? malloc(n * sizeof *v) : NULL;
        if (n && !v)
            abort();
        for (size_t i = 0; i < n; i++)
            v[i] = p->cases[i];
        /* the queue comes by priority; here the most pressing deadline first */
        if (n)
            qsort(v, n, sizeof *v, by_deadline);
        struct timespec ts; /* the deadlines are wall-clock Unix ms */
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        int w = 0;
        char label[96], pad[128];
        for (size_t i = 0; i < n; i++) { /* the labels in one column, as wide as the widest */
            int64_t left = case_deadline(v[i]) - now;
            if (left < CASE_NEAR_MS && (int)out_width(case_label(label, sizeof label, left)) > w)
                w = (int)out_width(label);
        }
        for (size_t i = 0; i < n; i++) {
            int64_t left = case_deadline(v[i]) - now;
            if (left >= CASE_NEAR_MS)
                continue;
            case_label(label, sizeof label, left);
            lines_add(l, v[i]->customer_id, left < 0 && a->color ? COLOR_PAIR(2) : 0, "  #%-5lld %s  %s  %s",
                      (long long)v[i]->id, padded(pad, sizeof pad, label, w), v[i]->customer_name, v[i]->title);
        }
        free(v);
        break;
    }
    case K_POOL: {
        const Kehu__V1__PoolRecycleResult *r = resp->pool_recycled;
        for (size_t i = 0; r && i < r->n_customers; i++) {
            const Kehu__V1__PoolRecycleCustomer *x = r->customers[i];
            const char *why = strcmp(x->trigger, "txn") == 0        ? _("no purchase")
                              : strcmp(x->trigger, "followup") == 0 ? _("no follow-up")
                                                                    : x->trigger;
            lines_add(l, x->customer_id, 0, "  %-10s %s  %s (%s)", x->due, x->name, x->owner, why);
        }
        if (r && r->remaining)
            lines_add(l, 0, A_DIM, _("  … %u more"), r->remaining);
        break;
    }
    }
    assemble(h);
}

static void home_reload(struct screen *s, struct app *a)
{
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;

    Kehu__V1__ReportGet rg = KEHU__V1__REPORT_GET__INIT;
    rg.kind = "abc";
    req.op_case = KEHU__V1__REQUEST__OP_REPORT_GET;
    req.report_get = &rg;
    tui_ask(a, s, K_ABC, &req);

    Kehu__V1__FollowupDue fd = KEHU__V1__FOLLOWUP_DUE__INIT;
    fd.days = 7;
    fd.limit = 50;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_DUE;
    req.followup_due = &fd;
    tui_ask(a, s, K_DUE, &req);

    Kehu__V1__CareToday ct = KEHU__V1__CARE_TODAY__INIT;
    ct.limit = 50;
    req.op_case = KEHU__V1__REQUEST__OP_CARE_TODAY;
    req.care_today = &ct;
    tui_ask(a, s, K_CARE, &req);

    Kehu__V1__ChurnList cl = KEHU__V1__CHURN_LIST__INIT;
    cl.user = a->user;
    cl.limit = 20;
    req.op_case = KEHU__V1__REQUEST__OP_CHURN_LIST;
    req.churn_list = &cl;
    tui_ask(a, s, K_CHURN, &req);

    Kehu__V1__CaseList cq = KEHU__V1__CASE_LIST__INIT;
    cq.queue = 1;
    cq.limit = 100;
    req.op_case = KEHU__V1__REQUEST__OP_CASE_LIST;
    req.case_list = &cq;
    tui_ask(a, s, K_CASES, &req);

    /* a dry run a week ahead names who will be recycled (admins and branch
     * managers may ask; for others kehud refuses and the block stays away) */
    Kehu__V1__PoolRecycle pr = KEHU__V1__POOL_RECYCLE__INIT;
    char ahead[11];
    time_t t = time(NULL) + POOL_AHEAD_DAYS * 86400;
    strftime(ahead, sizeof ahead, "%Y-%m-%d", localtime(&t));
    pr.as_of = ahead;
    pr.dry_run = 1;
    pr.limit = 20;
    req.op_case = KEHU__V1__REQUEST__OP_POOL_RECYCLE;
    req.pool_recycle = &pr;
    tui_ask(a, s, K_POOL, &req);
}

static void home_draw(struct screen *s, struct app *a, int top, int rows, int cols)
{
    struct home *h = (struct home *)s;
    h->rows = rows;
    lines_draw(&h->all, a, top, rows, cols);
}

static int home_key(struct screen *s, struct app *a, wint_t ch, int is_key)
{
    struct home *h = (struct home *)s;
    if (lines_key(&h->all, ch, is_key, h->rows))
        return 1;
    if ((is_key && ch == KEY_ENTER) || (!is_key && (ch == L'\n' || ch == L'\r'))) {
        int64_t id = lines_customer(&h->all);
        if (id)
            tui_push(a, detail_new(a, id));
        return 1;
    }
    if (!is_key && ch == L'l') {
        tui_push(a, list_new(a, NULL));
        return 1;
    }
    if (!is_key && ch == L'p') {
        tui_push(a, pool_new(a));
        return 1;
    }
    if (!is_key && ch == L't') {
        tui_push(a, due_new(a));
        return 1;
    }
    return 0;
}

static void home_event(struct screen *s, struct app *a, const Kehu__V1__Event *ev)
{
    /* what my day shows moves with follow-ups, grades, warnings, owners, cases and the pool */
    if (strncmp(ev->kind, "followup.", 9) == 0 || strncmp(ev->kind, "churn.", 6) == 0 ||
        strncmp(ev->kind, "grade.changed", 13) == 0 || strcmp(ev->kind, "customer.reassigned") == 0 ||
        strncmp(ev->kind, "case.", 5) == 0 || strncmp(ev->kind, "pool.", 5) == 0)
        home_reload(s, a);
}

static void home_free(struct screen *s)
{
    struct home *h = (struct home *)s;
    for (int k = 0; k < K_N; k++) {
        lines_clear(&h->part[k]);
        free(h->part[k].v);
    }
    lines_clear(&h->all);
    free(h->all.v);
    free(h);
}

struct screen *home_new(struct app *a)
{
    (void)a;
    struct home *h = calloc(1, sizeof *h);
    if (!h)
        abort();
    h->hidden[K_POOL] = 1; /* until kehud answers: most users may not ask */
    h->s.title = N_("My day");
    h->s.draw = home_draw;
    h->s.key = home_key;
    h->s.reload = home_reload;
    h->s.event = home_event;
    h->s.reply = home_reply;
    h->s.free = home_free;
    h->s.keys = home_keys;
    return &h->s;
}
