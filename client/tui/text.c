/* Display width: Chinese characters take two columns, combining marks none,
 * control characters are shown as '?'. Nothing is ever cut inside a
 * character: what does not fit is left out whole. */
#include <stdio.h>
#include <string.h>
#include "out.h"
#include "tui.h"

/* The next character of s (n bytes left): its length in bytes (1 for an
 * invalid byte, shown as '?') and its width. */
static size_t next_char(const char *s, size_t n, wchar_t *wc, int *w)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t len = mbrtowc(wc, s, n, &st);
    if (len == (size_t)-1 || len == (size_t)-2 || len == 0) {
        *wc = L'?';
        *w = 1;
        return 1;
    }
    int cw = wcwidth(*wc);
    if (cw < 0) { /* control characters and the like */
        *wc = L'?';
        cw = 1;
    }
    *w = cw;
    return len;
}

void tw_put(int y, int x, const char *s, int cols)
{
    if (cols <= 0)
        return;
    move(y, x);
    int used = 0;
    size_t n = s ? strlen(s) : 0;
    while (n > 0) {
        wchar_t wc;
        int w;
        size_t len = next_char(s, n, &wc, &w);
        if (used + w > cols)
            break;
        if (w > 0 || used > 0) {
            cchar_t cc;
            wchar_t str[2] = { wc, L'\0' };
            setcchar(&cc, str, A_NORMAL, 0, NULL);
            add_wch(&cc);
        }
        used += w;
        s += len;
        n -= len;
    }
    for (; used < cols; used++)
        addch(' ');
}

void tw_put_right(int y, int x, const char *s, int cols)
{
    int w = (int)out_width(s);
    if (w >= cols) {
        tw_put(y, x, s, cols);
        return;
    }
    move(y, x);
    for (int i = 0; i < cols - w; i++)
        addch(' ');
    tw_put(y, x + cols - w, s, w);
}
