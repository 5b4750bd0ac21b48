/* The help overlay on '?': the keys of the screen shown, and the global ones.
 * Each line is one message "KEY\tWHAT", so a translation may name a key too. */
#include <string.h>
#include "tui.h"

static const char *const global_keys[] = {
    N_("?\tthis help"), N_("/\tsearch customers"), N_("r  Ctrl-L\treload, redraw"), N_("q  Esc\tback (quit on the home screen)"), NULL,
};

static int draw_keys(const char *const *keys, int y, int x, int w, int bottom)
{
    for (int i = 0; keys && keys[i] && y < bottom; i++, y++) {
        const char *line = _(keys[i]); /* "KEY\tWHAT", both halves translated */
        const char *tab = strchr(line, '\t');
        char key[64];
        size_t n = tab ? (size_t)(tab - line) : strlen(line);
        if (n >= sizeof key)
            n = sizeof key - 1;
        memcpy(key, line, n);
        key[n] = '\0';
        attron(A_BOLD);
        tw_put(y, x, key, 14);
        attroff(A_BOLD);
        tw_put(y, x + 14, tab ? tab + 1 : "", w - 14);
    }
    return y;
}

void help_draw(struct app *a, int rows, int cols)
{
    int w = cols > 70 ? 66 : cols - 4, x = (cols - w) / 2, top = 2, bottom = rows - 2;
    if (w < 20 || bottom - top < 4)
        return;
    for (int y = top; y < bottom; y++)
        tw_put(y, x, "", w);
    attron(A_BOLD | A_REVERSE);
    tw_put(top, x, _(" Keys (any key closes)"), w);
    attroff(A_BOLD | A_REVERSE);
    int y = draw_keys(a->stack[a->depth - 1]->keys, top + 2, x + 2, w - 4, bottom);
    draw_keys(global_keys, y + 1, x + 2, w - 4, bottom);
}
