/* One customer, in tabs: profile, contacts, transactions, follow-ups,
 * grades, change history, documents. 'e' edits the profile field under the
 * cursor in place (the server's refusal shown beside the field); an edit
 * that meets a newer version shows both and lets the user choose; 'f' logs
 * a follow-up in a few keystrokes. A change made elsewhere reloads the tab
 * and lights what changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "out.h"
#include "tui.h"

enum tab { T_PROFILE, T_CONTACTS, T_TXNS, T_FOLLOWUPS, T_GRADES, T_HISTORY, T_DOCS, T_ASSETS, T_CASES, T_N };
enum { K_GET = 100, K_EDIT, K_LOG, K_ARREARS, K_TAB = 0 /* + tab */ };

static const char *const tab_names[T_N] = { N_("Profile"), N_("Contacts"), N_("Transactions"), N_("Follow-ups"),
                                            N_("Grades"), N_("History"), N_("Documents"), N_("Assets"),
                                            N_("Cases") };

/* the profile's editable fields, in the order shown */
static const char *const fields[] = { "name",     "phones",   "email",    "company",  "address", "region",
                                      "industry", "birth",    "gender",   "source",   "tags",    "notes", NULL };

struct detail {
    struct screen s;
    int64_t id;
    int64_t version;
    char name[256];
    enum tab tab;
    struct lines lines;
    int rows;
    /* editing: the field and what is typed; a refusal is shown beside it */
    int editing;            /* 1 editing a field, 2 typing a follow-up note, 3 choosing in a conflict */
    char field[32];
    char input[512];
    char err_field[64];
    char err[512];
    char theirs[512];       /* a conflict: the value the newer version has */
    char values[16][512];   /* the profile's values, by fields[] index */
    char arrears[3][600];   /* the Assets tab's first lines: where the customer stands with its credit */
};

static const char *const detail_keys[] = {
    N_("Tab S-Tab\tnext / previous tab"), N_("1 … 9\ta tab (8 assets and arrears, 9 cases)"),        N_("e\tedit the field (Profile)"),
    N_("f\tlog a follow-up (a call)"),    N_("Enter\tsave an edit"), N_("Esc\tcancel"),
    N_("j k ↑ ↓\tmove"),                  N_("q\tback"),             NULL,
};

static char *fmt_ms(char *out, size_t n, int64_t ms)
{
    if (!ms) {
        snprintf(out, n, "-");
        return out;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M", &tm);
    return out;
}

static void join(char *out, size_t n, char **v, size_t k)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k && used + 2 < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? "," : "", v[i]);
}

static void show_profile(struct detail *d, const Kehu__V1__Customer *c)
{
    d->version = c->version;
    snprintf(d->name, sizeof d->name, "%s", c->name);
    const char *v[] = { c->name, NULL, c->email, c->company, c->address, c->region, c->industry,
                        c->birth, c->gender, c->source, NULL, c->notes };
    for (int i = 0; fields[i]; i++) {
        if (strcmp(fields[i], "phones") == 0)
            join(d->values[i], sizeof d->values[i], c->phones, c->n_phones);
        else if (strcmp(fields[i], "tags") == 0)
            join(d->values[i], sizeof d->values[i], c->tags, c->n_tags);
        else
            snprintf(d->values[i], sizeof d->values[i], "%s", v[i] ? v[i] : "");
    }
    lines_clear(&d->lines);
    for (int i = 0; fields[i]; i++) {
        int bad = strcmp(d->err_field, fields[i]) == 0;
        lines_add(&d->lines, 0, bad ? A_BOLD : 0, "%-10s %s%s%s", fields[i], d->values[i], bad ? "   ← " : "",
                  bad ? d->err : "");
    }
    char money[40], bal[40], t[32];
    out_money_text(c->revenue_minor, money, sizeof money);
    out_money_text(c->balance_minor, bal, sizeof bal);
    lines_add(&d->lines, 0, A_DIM, "%-10s %s", "owner", c->owner);
    lines_add(&d->lines, 0, A_DIM, "%-10s %s", "branch", c->branch);
    lines_add(&d->lines, 0, A_DIM, "%-10s %s", "revenue", money);
    lines_add(&d->lines, 0, A_DIM, "%-10s %s", "arrears", bal);
    lines_add(&d->lines, 0, A_DIM, "%-10s %s", "contacted", fmt_ms(t, sizeof t, c->last_contact_ms));
    for (size_t i = 0; i < c->n_grades; i++)
        lines_add(&d->lines, 0, A_DIM, "%-10s %s%s", c->grades[i]->dimension, c->grades[i]->grade,
                  c->grades[i]->overridden ? _(" (override)") : "");
    lines_add(&d->lines, 0, A_DIM, "%-10s %lld", "version", (long long)c->version);
}

static void ask_tab(struct detail *d, struct app *a)
{
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    Kehu__V1__CustomerGet get = KEHU__V1__CUSTOMER_GET__INIT;
    Kehu__V1__ContactList cl = KEHU__V1__CONTACT_LIST__INIT;
    Kehu__V1__TxnList tl = KEHU__V1__TXN_LIST__INIT;
    Kehu__V1__FollowupList fl = KEHU__V1__FOLLOWUP_LIST__INIT;
    Kehu__V1__GradeShow gs = KEHU__V1__GRADE_SHOW__INIT;
    Kehu__V1__CustomerHistory ch = KEHU__V1__CUSTOMER_HISTORY__INIT;
    Kehu__V1__DocList dl = KEHU__V1__DOC_LIST__INIT;
    Kehu__V1__CaseList csl = KEHU__V1__CASE_LIST__INIT;
    switch (d->tab) {
    case T_ASSETS: /* the arrears first; their answer asks for the snapshots (ask_assets) */
    {
        Kehu__V1__ArrearsGet ag = KEHU__V1__ARREARS_GET__INIT;
        ag.customer_id = d->id;
        req.op_case = KEHU__V1__REQUEST__OP_ARREARS_GET;
        req.arrears_get = &ag;
        tui_ask(a, &d->s, K_ARREARS, &req);
        return;
    }
    case T_CASES:
        csl.customer_id = d->id;
        csl.limit = 200;
        req.op_case = KEHU__V1__REQUEST__OP_CASE_LIST;
        req.case_list = &csl;
        break;
    case T_PROFILE:
        get.id = d->id;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
        req.customer_get = &get;
        break;
    case T_CONTACTS:
        cl.customer_id = d->id;
        req.op_case = KEHU__V1__REQUEST__OP_CONTACT_LIST;
        req.contact_list = &cl;
        break;
    case T_TXNS:
        tl.customer_id = d->id;
        tl.limit = 200;
        req.op_case = KEHU__V1__REQUEST__OP_TXN_LIST;
        req.txn_list = &tl;
        break;
    case T_FOLLOWUPS:
        fl.customer_id = d->id;
        req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LIST;
        req.followup_list = &fl;
        break;
    case T_GRADES:
        gs.customer_id = d->id;
        req.op_case = KEHU__V1__REQUEST__OP_GRADE_SHOW;
        req.grade_show = &gs;
        break;
    case T_HISTORY:
        ch.customer_id = d->id;
        ch.limit = 200;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_HISTORY;
        req.customer_history = &ch;
        break;
    case T_DOCS:
    default:
        dl.customer_id = d->id;
        req.op_case = KEHU__V1__REQUEST__OP_DOC_LIST;
        req.doc_list = &dl;
        break;
    }
    tui_ask(a, &d->s, K_TAB + (int)d->tab, &req);
}

static void ask_assets(struct detail *d, struct app *a)
{
    Kehu__V1__AssetList al = KEHU__V1__ASSET_LIST__INIT;
    al.customer_id = d->id;
    al.limit = 200;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSET_LIST;
    req.asset_list = &al;
    tui_ask(a, &d->s, K_TAB + T_ASSETS, &req);
}

static void show_tab(struct detail *d, const Kehu__V1__Response *resp)
{
    char t[32], money[40];
    lines_clear(&d->lines);
    switch (d->tab) {
    case T_PROFILE:
        show_profile(d, resp->customer);
        return;
    case T_CONTACTS:
        for (size_t i = 0; resp->contacts && i < resp->contacts->n_contacts; i++) {
            const Kehu__V1__Contact *k = resp->contacts->contacts[i];
            char phones[256];
            join(phones, sizeof phones, k->phones, k->n_phones);
            lines_add(&d->lines, 0, k->key_person ? A_BOLD : 0, "%s  %s  %s  %s", k->name, k->title, phones,
                      k->email);
        }
        break;
    case T_TXNS:
        for (size_t i = 0; resp->txns && i < resp->txns->n_txns; i++) {
            const Kehu__V1__Txn *x = resp->txns->txns[i];
            out_money_text(x->amount_minor, money, sizeof money);
            lines_add(&d->lines, 0, 0, "%s %14s  %s  %s", x->date, money, x->product, x->channel);
        }
        if (resp->txns && resp->txns->remaining)
            lines_add(&d->lines, 0, A_DIM, _("… %u more"), resp->txns->remaining);
        break;
    case T_FOLLOWUPS:
        for (size_t i = 0; resp->followups && i < resp->followups->n_followups; i++) {
            const Kehu__V1__Followup *f = resp->followups->followups[i];
            lines_add(&d->lines, 0, 0, "%s  %-9s %-6s %s  %s", *f->due ? f->due : fmt_ms(t, sizeof t, f->done_at_ms),
                      f->status, f->kind, f->owner, f->note);
        }
        break;
    case T_GRADES:
        if (resp->grades) {
            for (size_t i = 0; i < resp->grades->n_grades; i++) {
                const Kehu__V1__Grade *g = resp->grades->grades[i];
                lines_add(&d->lines, 0, 0, "%-12s %-8s %s%s", g->dimension, g->grade, g->set_on,
                          g->overridden ? _(" (override)") : "");
            }
            lines_add(&d->lines, 0, A_BOLD, "%s", _("History"));
            for (size_t i = 0; i < resp->grades->n_history; i++) {
                const Kehu__V1__GradeChange *g = resp->grades->history[i];
                lines_add(&d->lines, 0, 0, "%s  %-12s %s → %s", g->as_of, g->dimension, g->from, g->to);
            }
        }
        break;
    case T_HISTORY:
        for (size_t i = 0; resp->changes && i < resp->changes->n_changes; i++) {
            const Kehu__V1__Change *c = resp->changes->changes[i];
            lines_add(&d->lines, 0, 0, "%s  %-10s %-10s %s → %s", fmt_ms(t, sizeof t, c->at_ms), c->by, c->field,
                      c->old_value, c->new_value);
        }
        break;
    case T_ASSETS:
        for (int i = 0; i < 3; i++)
            if (d->arrears[i][0])
                lines_add(&d->lines, 0, i == 0 ? A_BOLD : 0, "%s", d->arrears[i]);
        if (resp->assets) {
            out_money_text(resp->assets->aum_minor, money, sizeof money);
            lines_add(&d->lines, 0, A_BOLD, _("Assets under management: %s (as of %s)"), money,
                      *resp->assets->aum_date ? resp->assets->aum_date : "-");
            for (size_t i = 0; i < resp->assets->n_snapshots; i++) {
                const Kehu__V1__AssetSnapshot *x = resp->assets->snapshots[i];
                out_money_text(x->balance_minor, money, sizeof money);
                lines_add(&d->lines, 0, 0, "  %s  %-12s %16s  %s", x->date, x->product, money, x->created_by);
            }
            if (resp->assets->remaining)
                lines_add(&d->lines, 0, A_DIM, _("… %u more"), resp->assets->remaining);
        }
        break;
    case T_CASES:
        for (size_t i = 0; resp->cases && i < resp->cases->n_cases; i++) {
            const Kehu__V1__Case *x = resp->cases->cases[i];
            lines_add(&d->lines, 0, 0, "#%-5lld %-11s %-9s P%d %-10s %s  %s", (long long)x->id, x->status, x->nature,
                      x->priority, *x->handler ? x->handler : "-", fmt_ms(t, sizeof t, x->resolve_by), x->title);
        }
        if (resp->cases && resp->cases->remaining)
            lines_add(&d->lines, 0, A_DIM, _("… %lld more"), (long long)resp->cases->remaining);
        break;
    case T_DOCS:
    default:
        for (size_t i = 0; resp->docs && i < resp->docs->n_docs; i++) {
            const Kehu__V1__Doc *x = resp->docs->docs[i];
            lines_add(&d->lines, 0, 0, "%s  %-24s %10llu  %s", fmt_ms(t, sizeof t, x->created_at_ms), x->name,
                      (unsigned long long)x->size, x->created_by);
        }
        break;
    }
    if (d->lines.n == 0)
        lines_add(&d->lines, 0, A_DIM, "%s", _("(nothing)"));
}

static void send_edit(struct detail *d, struct app *a, int64_t version)
{
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT;
    fv.field = d->field;
    fv.value = d->input;
    Kehu__V1__FieldValue *set[] = { &fv };
    Kehu__V1__CustomerEdit m = KEHU__V1__CUSTOMER_EDIT__INIT;
    m.id = d->id;
    m.version = version;
    m.set = set;
    m.n_set = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &m;
    tui_ask(a, &d->s, K_EDIT, &req);
}

static void detail_reply(struct screen *s, struct app *a, int kind, const Kehu__V1__Response *resp,
                         const struct kehu_status *st)
{
    struct detail *d = (struct detail *)s;
    if (kind == K_EDIT) {
        if (!resp) {
            tui_say(a, _("not saved: %s"), st->message);
            return;
        }
        if (st->code == KEHU__V1__CODE__OK) {
            d->editing = 0;
            d->err_field[0] = '\0';
            tui_say(a, _("saved"));
            if (d->tab == T_PROFILE && resp->customer)
                show_profile(d, resp->customer);
            return;
        }
        if (st->code == KEHU__V1__CODE__CONFLICT && resp->customer) {
            /* someone saved first: show theirs beside mine, let the user choose */
            for (int i = 0; fields[i]; i++)
                if (strcmp(fields[i], d->field) == 0) {
                    show_profile(d, resp->customer);
                    snprintf(d->theirs, sizeof d->theirs, "%s", d->values[i]);
                }
            d->editing = 3;
            return;
        }
        /* the server's refusal beside the field it names */
        snprintf(d->err_field, sizeof d->err_field, "%s", *st->field ? st->field : d->field);
        snprintf(d->err, sizeof d->err, "%s", st->message);
        tui_say(a, "%s", st->message);
        return;
    }
    if (kind == K_LOG) {
        if (resp && st->code == KEHU__V1__CODE__OK) {
            tui_say(a, _("follow-up logged"));
            d->editing = 0;
            if (d->tab == T_FOLLOWUPS)
                ask_tab(d, a);
        } else {
            tui_say(a, _("not logged: %s"), st->message);
        }
        return;
    }
    if (kind == K_ARREARS) {
        if (d->tab != T_ASSETS)
            return;
        memset(d->arrears, 0, sizeof d->arrears);
        if (resp && st->code == KEHU__V1__CODE__OK && resp->arrears) {
            const Kehu__V1__Arrears *r = resp->arrears;
            char money[40];
            out_money_text(r->balance_minor, money, sizeof money);
            snprintf(d->arrears[0], sizeof d->arrears[0], _("Arrears: %s (as of %s)"), money, r->as_of);
            if (*r->oldest_unpaid_due)
                snprintf(d->arrears[1], sizeof d->arrears[1], _("  oldest unpaid due %s, %d days overdue"),
                         r->oldest_unpaid_due, r->days_overdue);
            snprintf(d->arrears[2], sizeof d->arrears[2], _("  credit transactions %lld, paid on time %lld"),
                     (long long)r->credit_txns, (long long)r->paid_on_time);
        } else if (st) {
            snprintf(d->arrears[0], sizeof d->arrears[0], "%s", st->message);
        }
        ask_assets(d, a);
        return;
    }
    if (kind != K_TAB + (int)d->tab)
        return; /* an answer for a tab no longer shown */
    if (!resp || st->code != KEHU__V1__CODE__OK) {
        lines_clear(&d->lines);
        lines_add(&d->lines, 0, 0, "%s", st->message);
        return;
    }
    show_tab(d, resp);
    if (d->tab == T_PROFILE && d->err_field[0])
        show_profile(d, resp->customer);
}

static void detail_reload(struct screen *s, struct app *a)
{
    ask_tab((struct detail *)s, a);
}

static void detail_draw(struct screen *s, struct app *a, int top, int rows, int cols)
{
    struct detail *d = (struct detail *)s;
    /* the tabs, the current one reversed */
    int x = 0, first = 0, span = 0;
    for (int t = 0; t <= (int)d->tab; t++) { /* from the first tab that leaves the current one in sight */
        char label[64];
        snprintf(label, sizeof label, " %d %s ", t + 1, _(tab_names[t]));
        span += (int)out_width(label);
    }
    while (first < (int)d->tab && span > cols) {
        char label[64];
        snprintf(label, sizeof label, " %d %s ", first + 1, _(tab_names[first]));
        span -= (int)out_width(label);
        first++;
    }
    for (int t = first; t < T_N && x < cols; t++) {
        char label[64];
        snprintf(label, sizeof label, " %d %s ", t + 1, _(tab_names[t]));
        int w = (int)out_width(label);
        if (x + w > cols)
            break;
        if (t == (int)d->tab)
            attron(A_REVERSE);
        tw_put(top, x, label, w);
        if (t == (int)d->tab)
            attroff(A_REVERSE);
        x += w;
    }
    if (x < cols)
        tw_put(top, x, "", cols - x);
    char head[400];
    snprintf(head, sizeof head, "%s  #%lld", d->name, (long long)d->id);
    attron(A_BOLD);
    tw_put(top + 1, 0, head, cols);
    attroff(A_BOLD);
    int body = rows - 2 - (d->editing ? 2 : 0);
    d->rows = body;
    lines_draw(&d->lines, a, top + 2, body > 0 ? body : 0, cols);
    if (d->editing) {
        char prompt[1200];
        if (d->editing == 1)
            snprintf(prompt, sizeof prompt, "%s %s: %s▏", _("Edit"), d->field, d->input);
        else if (d->editing == 2)
            snprintf(prompt, sizeof prompt, "%s: %s▏", _("Follow-up note (a call)"), d->input);
        else
            snprintf(prompt, sizeof prompt, _("Changed meanwhile — theirs: %s | mine: %s   [m]ine [t]heirs"),
                     d->theirs, d->input);
        char err[600] = "";
        if (d->editing == 1 && d->err_field[0])
            snprintf(err, sizeof err, "← %s", d->err);
        tw_put(top + rows - 2, 0, err, cols);
        attron(A_BOLD);
        tw_put(top + rows - 1, 0, prompt, cols);
        attroff(A_BOLD);
    }
}

int tui_type_into(char *buf, size_t size, wint_t ch, int is_key)
{
    size_t n = strlen(buf);
    if ((is_key && ch == KEY_BACKSPACE) || (!is_key && (ch == 127 || ch == 8))) {
        while (n > 0 && ((unsigned char)buf[n - 1] & 0xC0) == 0x80)
            n--;
        if (n > 0)
            n--;
        buf[n] = '\0';
        return 1;
    }
    if (!is_key && ch >= 32) {
        char mb[MB_LEN_MAX + 1];
        mbstate_t st;
        memset(&st, 0, sizeof st);
        size_t k = wcrtomb(mb, (wchar_t)ch, &st);
        if (k != (size_t)-1 && n + k < size) {
            memcpy(buf + n, mb, k);
            buf[n + k] = '\0';
        }
        return 1;
    }
    return 0;
}

static int detail_key(struct screen *s, struct app *a, wint_t ch, int is_key)
{
    struct detail *d = (struct detail *)s;
    int enter = (is_key && ch == KEY_ENTER) || (!is_key && (ch == L'\n' || ch == L'\r'));
    if (d->editing) {
        if (!is_key && ch == 27) {
            d->editing = 0;
            d->err_field[0] = '\0';
            if (d->tab == T_PROFILE)
                ask_tab(d, a);
            return 1;
        }
        if (d->editing == 3) {
            if (!is_key && ch == L'm') { /* mine, over the newer version */
                d->editing = 1;
                send_edit(d, a, 0);
            } else if (!is_key && ch == L't') {
                d->editing = 0;
                ask_tab(d, a);
            }
            return 1;
        }
        if (enter) {
            if (d->editing == 1) {
                send_edit(d, a, d->version);
            } else {
                Kehu__V1__FollowupLog m = KEHU__V1__FOLLOWUP_LOG__INIT;
                m.customer_id = d->id;
                m.kind = "call";
                m.note = d->input;
                Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
                req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_LOG;
                req.followup_log = &m;
                tui_ask(a, s, K_LOG, &req);
            }
            return 1;
        }
        tui_type_into(d->input, sizeof d->input, ch, is_key);
        return 1;
    }
    if ((!is_key && ch == L'\t') || (is_key && ch == KEY_BTAB) || (!is_key && ch >= L'1' && ch <= L'0' + T_N)) {
        if (!is_key && ch == L'\t')
            d->tab = (enum tab)((d->tab + 1) % T_N);
        else if (is_key)
            d->tab = (enum tab)((d->tab + T_N - 1) % T_N);
        else
            d->tab = (enum tab)(ch - L'1');
        d->lines.cursor = d->lines.top = 0;
        lines_clear(&d->lines);
        lines_add(&d->lines, 0, A_DIM, "%s", _("loading…"));
        ask_tab(d, a);
        return 1;
    }
    if (!is_key && ch == L'e') {
        if (d->tab != T_PROFILE || d->lines.cursor < 0 || d->lines.cursor >= (int)(sizeof fields / sizeof *fields) - 1) {
            tui_say(a, _("choose a field on the Profile tab to edit"));
            return 1;
        }
        snprintf(d->field, sizeof d->field, "%s", fields[d->lines.cursor]);
        snprintf(d->input, sizeof d->input, "%s", d->values[d->lines.cursor]);
        d->err_field[0] = '\0';
        d->editing = 1;
        return 1;
    }
    if (!is_key && ch == L'f') {
        d->input[0] = '\0';
        d->editing = 2;
        return 1;
    }
    return lines_key(&d->lines, ch, is_key, d->rows);
}

static void detail_event(struct screen *s, struct app *a, const Kehu__V1__Event *ev)
{
    struct detail *d = (struct detail *)s;
    if (ev->customer_id != d->id || d->editing)
        return;
    ask_tab(d, a);
    /* light the lines of the fields that changed once they are back */
    for (int i = 0; i < d->lines.n; i++)
        for (size_t k = 0; k < ev->n_fields; k++)
            if (strncmp(d->lines.v[i].text, ev->fields[k], strlen(ev->fields[k])) == 0)
                d->lines.v[i].lit_until_ms = tui_now_ms() + 2000;
    if (strcmp(ev->actor_name, a->user) != 0) /* one's own change says so itself */
        tui_say(a, _("%s changed it just now"), *ev->actor_name ? ev->actor_name : "kehud");
}

static void detail_free(struct screen *s)
{
    struct detail *d = (struct detail *)s;
    lines_clear(&d->lines);
    free(d->lines.v);
    free(d);
}

struct screen *detail_new(struct app *a, int64_t customer_id)
{
    (void)a;
    struct detail *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->id = customer_id;
    d->s.title = N_("Customer");
    d->s.draw = detail_draw;
    d->s.key = detail_key;
    d->s.reload = detail_reload;
    d->s.event = detail_event;
    d->s.reply = detail_reply;
    d->s.free = detail_free;
    d->s.keys = detail_keys;
    return &d->s;
}
