/* For managers: reassigning customers (the receiver and the reason typed,
 * the server's dry run shown — what moves where — then y sends it for
 * real), the pool (c claims the customer on the line), and the due list of
 * a chosen user. The server decides who may do what: its refusals are shown
 * as they come. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "out.h"
#include "tui.h"

static int is_enter(wint_t ch, int is_key)
{
    return (is_key && ch == KEY_ENTER) || (!is_key && (ch == L'\n' || ch == L'\r'));
}

/* ---- reassigning */

enum { A_TO, A_REASON, A_PREVIEWING, A_PREVIEW, A_SENDING, A_DONE };
enum { K_DRY = 1, K_REAL };

struct assign {
    struct screen s;
    int64_t ids[256];
    int n;
    int phase;
    char to[64];
    char reason[256];
    struct lines lines;
    int rows;
};

static const char *const assign_keys[] = {
    N_("Enter\tnext: receiver, reason, preview"), N_("y\tmove them (after the preview)"),
    N_("n\tchange the receiver or reason"), N_("Esc q\tback, nothing moved"), NULL,
};

static void assign_send(struct assign *g, struct app *a, int dry)
{
    char *to[] = { g->to };
    Kehu__V1__Assign m = KEHU__V1__ASSIGN__INIT;
    m.customer_ids = g->ids;
    m.n_customer_ids = (size_t)g->n;
    m.to = to;
    m.n_to = 1;
    m.reason = g->reason;
    m.dry_run = dry;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ASSIGN;
    req.assign = &m;
    g->phase = dry ? A_PREVIEWING : A_SENDING;
    lines_clear(&g->lines);
    lines_add(&g->lines, 0, A_DIM, "%s", _("asking kehud…"));
    tui_ask(a, &g->s, dry ? K_DRY : K_REAL, &req);
}

static void assign_reply(struct screen *s, struct app *a, int kind, const Kehu__V1__Response *resp,
                         const struct kehu_status *st)
{
    struct assign *g = (struct assign *)s;
    lines_clear(&g->lines);
    g->lines.cursor = g->lines.top = 0;
    if (!resp || st->code != KEHU__V1__CODE__OK || !resp->assign) {
        /* the refusal as kehud says it; the user may change what was typed */
        lines_add(&g->lines, 0, A_BOLD, "%s %s", _("Refused:"), st->message);
        tui_say(a, "%s", st->message);
        g->phase = A_TO;
        return;
    }
    const Kehu__V1__AssignResult *r = resp->assign;
    if (kind == K_DRY) {
        lines_add(&g->lines, 0, A_BOLD, _("Preview (nothing moved yet): %lld customers would move"),
                  (long long)r->moved);
        g->phase = A_PREVIEW;
    } else {
        lines_add(&g->lines, 0, A_BOLD, _("Moved %lld customers (batch %lld)"), (long long)r->moved,
                  (long long)r->batch_id);
        tui_say(a, _("moved %lld customers"), (long long)r->moved);
        g->phase = A_DONE;
    }
    for (size_t i = 0; i < r->n_moves; i++) {
        const Kehu__V1__AssignMove *m = r->moves[i];
        lines_add(&g->lines, m->customer_id, 0, "  #%-6lld %s  %s → %s%s", (long long)m->customer_id, m->name,
                  *m->from ? m->from : _("(no owner)"), m->to, m->cross_region ? _("  (across regions)") : "");
    }
    if (r->moves_omitted)
        lines_add(&g->lines, 0, A_DIM, _("  … %lld more"), (long long)r->moves_omitted);
    for (size_t i = 0; i < r->n_receivers; i++) {
        const Kehu__V1__AssignReceiver *v = r->receivers[i];
        char cap[32];
        if (v->cap < 0)
            snprintf(cap, sizeof cap, "%s", _("no cap"));
        else
            snprintf(cap, sizeof cap, "%lld", (long long)v->cap);
        lines_add(&g->lines, 0, A_DIM, _("  %s gets %lld, holds %lld after (cap %s)%s"), v->username,
                  (long long)v->count, (long long)v->holds, cap, v->disabled ? _(", skipped: disabled") : "");
    }
    if (r->no_longer_matching)
        lines_add(&g->lines, 0, A_DIM, _("  %lld no longer matching, left where they are"),
                  (long long)r->no_longer_matching);
}

static void assign_draw(struct screen *s, struct app *a, int top, int rows, int cols)
{
    struct assign *g = (struct assign *)s;
    char line[512];
    snprintf(line, sizeof line, _("Reassign %d customers"), g->n);
    attron(A_BOLD);
    tw_put(top, 0, line, cols);
    attroff(A_BOLD);
    snprintf(line, sizeof line, "%s %s%s", _("To (username):"), g->to, g->phase == A_TO ? "▏" : "");
    tw_put(top + 1, 0, line, cols);
    snprintf(line, sizeof line, "%s %s%s", _("Reason:"), g->reason, g->phase == A_REASON ? "▏" : "");
    tw_put(top + 2, 0, line, cols);
    const char *hint = g->phase == A_PREVIEW ? _("y: move them   n: change   q: back")
                     : g->phase == A_DONE    ? _("done   q: back")
                                             : _("Enter: next   Esc: back");
    attron(A_DIM);
    tw_put(top + 3, 0, hint, cols);
    attroff(A_DIM);
    g->rows = rows - 4;
    lines_draw(&g->lines, a, top + 4, rows - 4, cols);
}

static int assign_key(struct screen *s, struct app *a, wint_t ch, int is_key)
{
    struct assign *g = (struct assign *)s;
    if (!is_key && ch == 27)
        return 0; /* back */
    if (g->phase == A_TO || g->phase == A_REASON) {
        if (is_enter(ch, is_key)) {
            if (g->phase == A_TO)
                g->phase = A_REASON;
            else
                assign_send(g, a, 1);
            return 1;
        }
        if ((is_key && ch == KEY_UP) && g->phase == A_REASON) {
            g->phase = A_TO;
            return 1;
        }
        if (g->phase == A_TO)
            tui_type_into(g->to, sizeof g->to, ch, is_key);
        else
            tui_type_into(g->reason, sizeof g->reason, ch, is_key);
        return 1;
    }
    if (g->phase == A_PREVIEW && !is_key && ch == L'y') {
        assign_send(g, a, 0);
        return 1;
    }
    if (g->phase == A_PREVIEW && !is_key && ch == L'n') {
        g->phase = A_TO;
        return 1;
    }
    return lines_key(&g->lines, ch, is_key, g->rows);
}

static void assign_free(struct screen *s)
{
    struct assign *g = (struct assign *)s;
    lines_clear(&g->lines);
    free(g->lines.v);
    free(g);
}

struct screen *assign_new(struct app *a, const int64_t *ids, int n)
{
    (void)a;
    struct assign *g = calloc(1, sizeof *g);
    if (!g)
        abort();
    if (n > (int)(sizeof g->ids / sizeof *g->ids))
        n = (int)(sizeof g->ids / sizeof *g->ids);
    memcpy(g->ids, ids, sizeof *ids * (size_t)n);
    g->n = n;
    g->s.title = N_("Reassign");
    g->s.draw = assign_draw;
    g->s.key = assign_key;
    g->s.reply = assign_reply;
    g->s.free = assign_free;
    g->s.keys = assign_keys;
    return &g->s;
}

/* ---- the pool */

enum { K_POOL = 1, K_CLAIM };

struct pool {
    struct screen s;
    struct lines lines;
    int rows;
};

static const char *const pool_keys[] = {
    N_("c\tclaim the customer"), N_("Enter\topen the customer"), N_("j k ↑ ↓\tmove"), N_("q\tback"), NULL,
};

static void pool_reload(struct screen *s, struct app *a)
{
    Kehu__V1__PoolList m = KEHU__V1__POOL_LIST__INIT;
    m.limit = 500;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_POOL_LIST;
    req.pool_list = &m;
    tui_ask(a, s, K_POOL, &req);
}

static void pool_reply(struct screen *s, struct app *a, int kind, const Kehu__V1__Response *resp,
                       const struct kehu_status *st)
{
    struct pool *p = (struct pool *)s;
    if (kind == K_CLAIM) {
        if (resp && st->code == KEHU__V1__CODE__OK && resp->pool_claimed) {
            tui_say(a, _("claimed %s: now yours"), resp->pool_claimed->name);
            pool_reload(s, a);
        } else {
            tui_say(a, _("not claimed: %s"), st->message);
        }
        return;
    }
    lines_clear(&p->lines);
    if (!resp || st->code != KEHU__V1__CODE__OK) {
        lines_add(&p->lines, 0, 0, "%s", st->message);
        return;
    }
    const Kehu__V1__PoolCustomers *pc = resp->pool_customers;
    for (size_t i = 0; pc && i < pc->n_customers; i++) {
        const Kehu__V1__PoolCustomer *x = pc->customers[i];
        if (!x->customer)
            continue;
        char name[200];
        int w = (int)out_width(x->customer->name);
        snprintf(name, sizeof name, "%s%*s", x->customer->name, w < 20 ? 20 - w : 0, "");
        lines_add(&p->lines, x->customer->id, 0, "%6lld  %s %-2s %-10s %-12s %s", (long long)x->customer->id, name,
                  x->grade, x->pool, x->from_owner, x->reason);
    }
    if (pc && pc->remaining)
        lines_add(&p->lines, 0, A_DIM, _("  … %u more"), pc->remaining);
    if (p->lines.n == 0)
        lines_add(&p->lines, 0, A_DIM, "%s", _("(nothing)"));
}

static void pool_draw(struct screen *s, struct app *a, int top, int rows, int cols)
{
    struct pool *p = (struct pool *)s;
    attron(A_BOLD);
    tw_put(top, 0, _("The pool: customers without an owner, for anyone in the branch to claim"), cols);
    attroff(A_BOLD);
    p->rows = rows - 1;
    lines_draw(&p->lines, a, top + 1, rows - 1, cols);
}

static int pool_key(struct screen *s, struct app *a, wint_t ch, int is_key)
{
    struct pool *p = (struct pool *)s;
    int64_t id = lines_customer(&p->lines);
    if (!is_key && ch == L'c') {
        if (id) {
            Kehu__V1__PoolClaim m = KEHU__V1__POOL_CLAIM__INIT;
            m.customer_id = id;
            Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
            req.op_case = KEHU__V1__REQUEST__OP_POOL_CLAIM;
            req.pool_claim = &m;
            tui_ask(a, s, K_CLAIM, &req);
        }
        return 1;
    }
    if (is_enter(ch, is_key)) {
        if (id)
            tui_push(a, detail_new(a, id));
        return 1;
    }
    return lines_key(&p->lines, ch, is_key, p->rows);
}

static void pool_free(struct screen *s)
{
    struct pool *p = (struct pool *)s;
    lines_clear(&p->lines);
    free(p->lines.v);
    free(p);
}

struct screen *pool_new(struct app *a)
{
    (void)a;
    struct pool *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->s.title = N_("Pool");
    p->s.draw = pool_draw;
    p->s.key = pool_key;
    p->s.reload = pool_reload;
    p->s.reply = pool_reply;
    p->s.free = pool_free;
    p->s.keys = pool_keys;
    return &p->s;
}

/* ---- a user's due list (the team's, for managers) */

struct due {
    struct screen s;
    char user[64];
    int typing;
    struct lines lines;
    int rows;
};

static const char *const due_keys[] = {
    N_("u\tchoose the user"), N_("Enter\tshow (while typing) / open the customer"), N_("j k ↑ ↓\tmove"),
    N_("q\tback"), NULL,
};

static void due_reload(struct screen *s, struct app *a)
{
    struct due *d = (struct due *)s;
    Kehu__V1__FollowupDue m = KEHU__V1__FOLLOWUP_DUE__INIT;
    m.user = d->user;
    m.limit = 500;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_DUE;
    req.followup_due = &m;
    tui_ask(a, s, 1, &req);
}

static void due_reply(struct screen *s, struct app *a, int kind, const Kehu__V1__Response *resp,
                      const struct kehu_status *st)
{
    (void)a;
    (void)kind;
    struct due *d = (struct due *)s;
    lines_clear(&d->lines);
    d->lines.cursor = d->lines.top = 0;
    if (!resp || st->code != KEHU__V1__CODE__OK) {
        lines_add(&d->lines, 0, 0, "%s", st->message);
        return;
    }
    const Kehu__V1__Followups *f = resp->followups;
    for (size_t i = 0; f && i < f->n_followups; i++) {
        const Kehu__V1__Followup *x = f->followups[i];
        lines_add(&d->lines, x->customer_id, 0, "  %-10s %-7s %-10s %s  %s", x->due, x->kind, x->owner,
                  x->customer_name, x->note);
    }
    for (size_t i = 0; f && i < f->n_contacts_due; i++) {
        const Kehu__V1__ContactDue *x = f->contacts_due[i];
        int overdue = x->overdue_days > 0;
        lines_add(&d->lines, x->customer_id, overdue && a->color ? COLOR_PAIR(2) : 0, "  %-10s %s %-2s %-7s %-10s %s",
                  *x->due ? x->due : "-", overdue ? _("overdue") : "  ", x->grade, x->kind, x->owner,
                  x->customer_name);
    }
    if (f && f->remaining)
        lines_add(&d->lines, 0, A_DIM, _("  … %u more"), f->remaining);
    if (d->lines.n == 0)
        lines_add(&d->lines, 0, A_DIM, "%s", _("(nothing)"));
}

static void due_draw(struct screen *s, struct app *a, int top, int rows, int cols)
{
    struct due *d = (struct due *)s;
    char line[256];
    snprintf(line, sizeof line, "%s %s%s", _("Due list of (username):"), d->user, d->typing ? "▏" : "");
    attron(d->typing ? A_BOLD : 0);
    tw_put(top, 0, line, cols);
    attroff(d->typing ? A_BOLD : 0);
    d->rows = rows - 1;
    lines_draw(&d->lines, a, top + 1, rows - 1, cols);
}

static int due_key(struct screen *s, struct app *a, wint_t ch, int is_key)
{
    struct due *d = (struct due *)s;
    if (d->typing) {
        if (!is_key && ch == 27) {
            d->typing = 0;
            return 1;
        }
        if (is_enter(ch, is_key)) {
            d->typing = 0;
            due_reload(s, a);
            return 1;
        }
        tui_type_into(d->user, sizeof d->user, ch, is_key);
        return 1;
    }
    if (!is_key && ch == L'u') {
        d->typing = 1;
        return 1;
    }
    if (is_enter(ch, is_key)) {
        int64_t id = lines_customer(&d->lines);
        if (id)
            tui_push(a, detail_new(a, id));
        return 1;
    }
    return lines_key(&d->lines, ch, is_key, d->rows);
}

static void due_free(struct screen *s)
{
    struct due *d = (struct due *)s;
    lines_clear(&d->lines);
    free(d->lines.v);
    free(d);
}

struct screen *due_new(struct app *a)
{
    struct due *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    snprintf(d->user, sizeof d->user, "%s", a->user);
    d->s.title = N_("Due list");
    d->s.draw = due_draw;
    d->s.key = due_key;
    d->s.reload = due_reload;
    d->s.reply = due_reply;
    d->s.free = due_free;
    d->s.keys = due_keys;
    return &d->s;
}
