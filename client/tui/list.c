/* Customers: the list (by name, paged as the cursor nears the end) or a
 * search that runs as you type. One search is on its way at a time: keys
 * typed meanwhile only change the query, which is sent when that answer
 * comes, so a fast typist's last key never queues behind searches nobody
 * will see; an answer to an older query is dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "out.h"
#include "tui.h"

enum { K_PAGE = -1, K_ROW = -2 }; /* kinds besides a search's sequence number (>= 0) */

struct list {
    struct screen s;
    char query[256];
    int typing;              /* keys edit the query */
    int seq;                 /* the query's version: one more at each change */
    int searching;           /* a search is on its way */
    int behind;              /* the query changed since that search was sent */
    struct lines lines;
    char next[512];          /* the list's next page cursor ("" none) */
    int paging;              /* a page is on its way */
    unsigned remaining;
    int rows;
    int sort, grade, status;   /* indexes into sorts[], grades[], statuses[] */
    int64_t marked[256];       /* customers marked with space, for reassigning */
    int n_marked;
};

/* the list's order and filters: what CustomerList takes ("" the server's default) */
static const char *const sorts[] = { "name", "created", "last_contact", "revenue" };
static const char *const grades[] = { "", "A", "B", "C", "D" };
static const char *const statuses[] = { "", "active", "in_pool", "churned", "archived", "all" };
#define N_OF(v) ((int)(sizeof v / sizeof *v))

static const char *const list_keys[] = {
    N_("/\tsearch: name, pinyin, initials, phone digits"), N_("Enter\topen (while typing: go to the results)"),
    N_("j k ↑ ↓\tmove"), N_("PgUp PgDn\tpage"), N_("Esc\tstop typing / back"), N_("q\tback"),
    N_("s\tsort: name, created, last contact, revenue"), N_("a\tfilter by ABC grade: A B C D all"),
    N_("t\tfilter by status: not archived, active, in pool, churned, archived, all"),
    N_("Space\tmark / unmark the customer"), N_("R\treassign the marked customers (managers)"), NULL,
};

static int is_marked(const struct list *l, int64_t id)
{
    for (int i = 0; i < l->n_marked; i++)
        if (l->marked[i] == id)
            return 1;
    return 0;
}

static void add_customer(struct list *l, const Kehu__V1__Customer *c)
{
    char money[40];
    out_money_text(c->revenue_minor, money, sizeof money);
    const char *abc = "";
    for (size_t i = 0; i < c->n_grades; i++)
        if (strcmp(c->grades[i]->dimension, "abc") == 0)
            abc = c->grades[i]->grade;
    /* name first, padded by display width so Chinese columns line up */
    char name[200];
    int w = (int)out_width(c->name);
    snprintf(name, sizeof name, "%s%*s", c->name, w < 24 ? 24 - w : 0, "");
    lines_add(&l->lines, c->id, 0, "%c%6lld  %s %-2s %-15s %-12s %14s", is_marked(l, c->id) ? '*' : ' ',
              (long long)c->id, name, abc,
              c->n_phones ? c->phones[0] : "", c->owner, money);
}

static void send_page(struct list *l, struct app *a)
{
    Kehu__V1__CustomerList m = KEHU__V1__CUSTOMER_LIST__INIT;
    m.limit = 100;
    m.after = l->next;
    m.sort = (char *)sorts[l->sort];
    m.grade = (char *)grades[l->grade];
    m.status = (char *)statuses[l->status];
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
    req.customer_list = &m;
    l->paging = 1;
    tui_ask(a, &l->s, K_PAGE, &req);
}

/* Searches for the query as it is now, or, while a search is on its way,
 * once its answer comes. */
static void search_now(struct list *l, struct app *a)
{
    if (l->searching) {
        l->behind = 1;
        return;
    }
    Kehu__V1__CustomerSearch m = KEHU__V1__CUSTOMER_SEARCH__INIT;
    m.text = l->query;
    m.limit = 200;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
    req.customer_search = &m;
    l->searching = 1; /* before: offline, the answer comes at once */
    l->behind = 0;
    tui_ask(a, &l->s, l->seq, &req);
}

/* The query changed. */
static void send_search(struct list *l, struct app *a)
{
    l->seq++;
    if (!*l->query) { /* an empty query: the list itself */
        lines_clear(&l->lines);
        l->next[0] = '\0';
        send_page(l, a);
        return;
    }
    search_now(l, a);
}

static void list_reply(struct screen *s, struct app *a, int kind, const Kehu__V1__Response *resp,
                       const struct kehu_status *st)
{
    struct list *l = (struct list *)s;
    if (kind == K_ROW) { /* a customer changed elsewhere: its row anew, lit */
        if (!resp || st->code != KEHU__V1__CODE__OK || !resp->customer)
            return;
        for (int i = 0; i < l->lines.n; i++)
            if (l->lines.v[i].customer_id == resp->customer->id) {
                struct lines one = { 0 };
                struct lines keep = l->lines;
                l->lines = one;
                add_customer(l, resp->customer);
                one = l->lines;
                l->lines = keep;
                if (one.n == 1) {
                    free(l->lines.v[i].text);
                    l->lines.v[i].text = one.v[0].text;
                    l->lines.v[i].lit_until_ms = tui_now_ms() + 2000;
                }
                free(one.v);
            }
        return;
    }
    if (kind == K_PAGE) {
        l->paging = 0;
        if (*l->query)
            return; /* a page of the list asked before the search began */
    } else {
        l->searching = 0;
        if (kind != l->seq) {
            tui_trace_answer(kind, 1);
            if (l->behind && *l->query)
                search_now(l, a);
            return; /* an older query's answer */
        }
    }
    if (kind != K_PAGE)
        tui_trace_answer(kind, 0); /* the results, or kehud's refusal in the status line */
    if (!resp || st->code != KEHU__V1__CODE__OK) {
        tui_say(a, "%s", st->message);
        return;
    }
    const Kehu__V1__CustomerPage *p = resp->customers;
    if (kind != K_PAGE) {
        lines_clear(&l->lines);
        l->lines.cursor = 0;
        l->next[0] = '\0';
    }
    for (size_t i = 0; p && i < p->n_customers; i++)
        add_customer(l, p->customers[i]);
    if (kind == K_PAGE) {
        snprintf(l->next, sizeof l->next, "%s", p ? p->next_cursor : "");
        l->remaining = p ? p->remaining : 0;
    } else {
        l->remaining = 0;
    }
}

static void list_reload(struct screen *s, struct app *a)
{
    struct list *l = (struct list *)s;
    if (*l->query) {
        send_search(l, a);
    } else {
        lines_clear(&l->lines);
        l->next[0] = '\0';
        send_page(l, a);
    }
}

static void list_draw(struct screen *s, struct app *a, int top, int rows, int cols)
{
    struct list *l = (struct list *)s;
    char prompt[400];
    snprintf(prompt, sizeof prompt, "%s %s%s", _("Search:"), l->query, l->typing ? "▏" : "");
    attron(l->typing ? A_BOLD : A_DIM);
    tw_put(top, 0, prompt, cols);
    attroff(l->typing ? A_BOLD : A_DIM);
    char count[128];
    if (l->remaining)
        snprintf(count, sizeof count, _("%d shown, %u more"), l->lines.n, l->remaining);
    else
        snprintf(count, sizeof count, _("%d shown"), l->lines.n);
    /* the order and the filters the list has (a search ignores them) */
    char head[512];
    const char *sort_names[] = { _("name"), _("created"), _("last contact"), _("revenue") };
    const char *status_names[] = { _("not archived"), _("active"), _("in pool"), _("churned"), _("archived"), _("all") };
    snprintf(head, sizeof head, _("%s  · sort: %s · grade: %s · status: %s · marked: %d"), count,
             sort_names[l->sort], *grades[l->grade] ? grades[l->grade] : _("all"), status_names[l->status],
             l->n_marked);
    tw_put(top + 1, 0, head, cols);
    l->rows = rows - 2;
    lines_draw(&l->lines, a, top + 2, rows - 2, cols);
    /* nearing the end of what arrived: the next page, before it is needed */
    if (!*l->query && *l->next && !l->paging && l->lines.cursor + l->rows >= l->lines.n)
        send_page(l, a);
}

static int list_key(struct screen *s, struct app *a, wint_t ch, int is_key)
{
    struct list *l = (struct list *)s;
    int enter = (is_key && ch == KEY_ENTER) || (!is_key && (ch == L'\n' || ch == L'\r'));
    if (l->typing) {
        if (enter || (is_key && ch == KEY_DOWN)) {
            l->typing = 0;
            return 1;
        }
        if (!is_key && ch == 27) {
            l->typing = 0;
            return 1;
        }
        size_t n = strlen(l->query);
        if ((is_key && ch == KEY_BACKSPACE) || (!is_key && (ch == 127 || ch == 8))) {
            /* one character back, however many bytes it is */
            while (n > 0 && ((unsigned char)l->query[n - 1] & 0xC0) == 0x80)
                n--;
            if (n > 0)
                n--;
            l->query[n] = '\0';
            send_search(l, a);
            if (*l->query)
                tui_trace_key(l->seq);
            return 1;
        }
        if (!is_key && ch >= 32) {
            char mb[MB_LEN_MAX + 1];
            mbstate_t st;
            memset(&st, 0, sizeof st);
            size_t k = wcrtomb(mb, (wchar_t)ch, &st);
            if (k != (size_t)-1 && n + k < sizeof l->query) {
                memcpy(l->query + n, mb, k);
                l->query[n + k] = '\0';
                send_search(l, a);
                tui_trace_key(l->seq);
            }
            return 1;
        }
        return 1; /* other keys while typing do nothing */
    }
    if (!is_key && ch == L'/') {
        l->typing = 1;
        return 1;
    }
    if (enter) {
        int64_t id = lines_customer(&l->lines);
        if (id)
            tui_push(a, detail_new(a, id));
        return 1;
    }
    if (!is_key && (ch == L's' || ch == L'a' || ch == L't')) {
        if (ch == L's')
            l->sort = (l->sort + 1) % N_OF(sorts);
        else if (ch == L'a')
            l->grade = (l->grade + 1) % N_OF(grades);
        else
            l->status = (l->status + 1) % N_OF(statuses);
        if (*l->query)
            tui_say(a, _("sort and filters apply to the list, not to a search"));
        else
            list_reload(s, a);
        return 1;
    }
    if (!is_key && ch == L' ') {
        int64_t id = lines_customer(&l->lines);
        if (!id)
            return 1;
        struct line *ln = &l->lines.v[l->lines.cursor];
        int i = 0;
        while (i < l->n_marked && l->marked[i] != id)
            i++;
        if (i < l->n_marked) {
            l->marked[i] = l->marked[--l->n_marked];
            ln->text[0] = ' ';
        } else if (l->n_marked < N_OF(l->marked)) {
            l->marked[l->n_marked++] = id;
            ln->text[0] = '*';
        }
        if (l->lines.cursor + 1 < l->lines.n)
            l->lines.cursor++;
        return 1;
    }
    if (!is_key && ch == L'R') {
        int64_t one = lines_customer(&l->lines);
        if (l->n_marked)
            tui_push(a, assign_new(a, l->marked, l->n_marked));
        else if (one)
            tui_push(a, assign_new(a, &one, 1));
        return 1;
    }
    return lines_key(&l->lines, ch, is_key, l->rows);
}

static void list_event(struct screen *s, struct app *a, const Kehu__V1__Event *ev)
{
    struct list *l = (struct list *)s;
    if (!ev->customer_id || strncmp(ev->kind, "customer.", 9) != 0)
        return;
    for (int i = 0; i < l->lines.n; i++)
        if (l->lines.v[i].customer_id == ev->customer_id) {
            Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
            m.id = ev->customer_id;
            Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
            req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
            req.customer_get = &m;
            tui_ask(a, s, K_ROW, &req);
            return;
        }
}

static void list_free(struct screen *s)
{
    struct list *l = (struct list *)s;
    lines_clear(&l->lines);
    free(l->lines.v);
    free(l);
}

struct screen *list_new(struct app *a, const char *query)
{
    (void)a;
    struct list *l = calloc(1, sizeof *l);
    if (!l)
        abort();
    l->s.title = N_("Customers");
    l->s.draw = list_draw;
    l->s.key = list_key;
    l->s.reload = list_reload;
    l->s.event = list_event;
    l->s.reply = list_reply;
    l->s.free = list_free;
    l->s.keys = list_keys;
    if (query) { /* from '/': typing at once */
        snprintf(l->query, sizeof l->query, "%s", query);
        l->typing = 1;
    }
    return &l->s;
}
