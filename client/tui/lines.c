/* Scrolling lines: what every screen shows (tui.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tui.h"

void lines_clear(struct lines *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i].text);
    l->n = 0;
}

void lines_add(struct lines *l, int64_t customer_id, int attr, const char *fmt, ...)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        struct line *v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    if (!text)
        return;
    l->v[l->n++] = (struct line){ .text = text, .customer_id = customer_id, .attr = attr };
}

void lines_draw(struct lines *l, struct app *a, int top, int rows, int cols)
{
    if (l->cursor >= l->n)
        l->cursor = l->n ? l->n - 1 : 0;
    if (l->cursor < l->top)
        l->top = l->cursor;
    if (l->cursor >= l->top + rows)
        l->top = l->cursor - rows + 1;
    int64_t now = tui_now_ms();
    for (int i = 0; i < rows && l->top + i < l->n; i++) {
        struct line *ln = &l->v[l->top + i];
        int attr = ln->attr;
        if (ln->lit_until_ms > now)
            attr |= a->color ? COLOR_PAIR(1) | A_BOLD : A_BOLD;
        if (l->top + i == l->cursor)
            attr |= A_REVERSE;
        if (!a->color)
            attr &= ~A_COLOR;
        attron(attr);
        tw_put(top + i, 0, ln->text, cols);
        attroff(attr);
    }
}

int lines_key(struct lines *l, wint_t ch, int is_key, int rows)
{
    int page = rows > 1 ? rows - 1 : 1;
    if ((is_key && ch == KEY_DOWN) || (!is_key && ch == L'j'))
        l->cursor++;
    else if ((is_key && ch == KEY_UP) || (!is_key && ch == L'k'))
        l->cursor--;
    else if ((is_key && ch == KEY_NPAGE) || (!is_key && ch == L' '))
        l->cursor += page;
    else if (is_key && ch == KEY_PPAGE)
        l->cursor -= page;
    else if ((is_key && ch == KEY_HOME) || (!is_key && ch == L'g'))
        l->cursor = 0;
    else if ((is_key && ch == KEY_END) || (!is_key && ch == L'G'))
        l->cursor = l->n - 1;
    else
        return 0;
    if (l->cursor >= l->n)
        l->cursor = l->n - 1;
    if (l->cursor < 0)
        l->cursor = 0;
    return 1;
}

int64_t lines_customer(const struct lines *l)
{
    return l->cursor < l->n ? l->v[l->cursor].customer_id : 0;
}
