/* kehu-tui, the all-day workspace: one screen stack over one libkehu
 * connection, drawn with ncursesw.
 *
 * Rooms: main.c (start, login, the loop), net.c (requests that never block
 * the screen, events, reconnecting), text.c (display width: Chinese takes two
 * columns and is never cut in half), home.c, list.c, detail.c (the screens),
 * help.c (the overlay on '?'). */
#ifndef KEHU_TUI_H
#define KEHU_TUI_H

#include <curses.h>
#include <stdint.h>
#include <wchar.h>
#include "i18n.h"
#include "kehu.h"

struct app;

/* A screen on the stack. Every callback may be NULL. */
struct screen {
    const char *title;        /* N_()-marked, translated where drawn */
    /* draws rows [top, top+rows) of the terminal, cols wide */
    void (*draw)(struct screen *s, struct app *a, int top, int rows, int cols);
    /* a key (ch a character, or a KEY_* code when is_key): 1 when used */
    int (*key)(struct screen *s, struct app *a, wint_t ch, int is_key);
    /* ask the server again for what the screen shows */
    void (*reload)(struct screen *s, struct app *a);
    /* a change pushed by the server */
    void (*event)(struct screen *s, struct app *a, const Kehu__V1__Event *ev);
    void (*free)(struct screen *s);
    /* the answer to a request made with tui_ask (kind: what it was for);
     * never called once the screen is gone */
    void (*reply)(struct screen *s, struct app *a, int kind, const Kehu__V1__Response *resp,
                  const struct kehu_status *st);
    const char *const *keys; /* the help overlay's lines for this screen: "KEY\tWHAT", NULL-ended,
                              * N_()-marked: the whole line is translated, key included */
    uint64_t id;             /* set by tui_push: answers find their screen by it */
};

struct app {
    kehu_client *c;
    char server[256];
    char user[64];
    int64_t unit_id;          /* the user's branch (else unit): live updates from under it */
    char token[128];
    int online;
    int backoff_ms;           /* the next reconnection's wait */
    int64_t retry_at_ms;
    struct screen *stack[16];
    int depth;
    char status[256];         /* the status line's message */
    int64_t status_until_ms;
    int help;                 /* the help overlay is shown */
    int quit;
    int dirty;                /* redraw before the next wait */
    int color;
    uint64_t next_screen_id;
};

int64_t tui_now_ms(void);
void tui_push(struct app *a, struct screen *s);
void tui_pop(struct app *a);
void tui_say(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* net.c: sends req; cb runs from the loop when the answer comes (resp NULL
 * when the connection was lost). While offline the request is dropped and
 * cb is called with NULL at once. */
void tui_send(struct app *a, const Kehu__V1__Request *req, kehu_cb cb, void *arg);
/* Reads answers and events without waiting; reconnects when due. */
void tui_net_turn(struct app *a);
void tui_net_lost(struct app *a, const char *why);
void tui_net_start(struct app *a);
/* tui_send for a screen: its reply callback gets the answer with kind, or
 * nothing when the screen was closed meanwhile. */
void tui_ask(struct app *a, struct screen *s, int kind, const Kehu__V1__Request *req);

/* Lines of text a screen shows and scrolls through, each maybe a customer
 * (Enter opens it) and maybe highlighted until a time (a pushed change). */
struct line {
    char *text;
    int64_t customer_id;
    int attr;                 /* A_BOLD for headings, COLOR_PAIR(2) for overdue ... */
    int64_t lit_until_ms;
};
struct lines {
    struct line *v;
    int n, cap;
    int cursor, top;          /* the selected line and the first shown */
};
void lines_clear(struct lines *l);
void lines_add(struct lines *l, int64_t customer_id, int attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void lines_draw(struct lines *l, struct app *a, int top, int rows, int cols);
/* j/k, arrows, PgUp/PgDn, g/G: 1 when used; rows is the visible height */
int lines_key(struct lines *l, wint_t ch, int is_key, int rows);
int64_t lines_customer(const struct lines *l);

/* text.c */
/* Draws s at (y, x) in exactly cols columns: clipped before a character that
 * would not fit (a wide one at the edge leaves a space), padded with spaces. */
void tw_put(int y, int x, const char *s, int cols);
/* Like tw_put, right-aligned. */
void tw_put_right(int y, int x, const char *s, int cols);

/* the screens */
struct screen *home_new(struct app *a);
struct screen *list_new(struct app *a, const char *query);
struct screen *detail_new(struct app *a, int64_t customer_id);
/* detail.c: a key typed into buf (UTF-8; backspace takes one character): 1 when used */
int tui_type_into(char *buf, size_t size, wint_t ch, int is_key);
/* managers (mgr.c): reassigning customers (dry run, then y), the pool, a user's due list */
struct screen *assign_new(struct app *a, const int64_t *ids, int n);
struct screen *pool_new(struct app *a);
struct screen *due_new(struct app *a);
void help_draw(struct app *a, int rows, int cols);

/* trace.c: KEHU_TUI_TRACE=FILE logs, with monotonic nanoseconds, each search
 * keystroke ("key SEQ"), its answer — results or kehud's refusal — ("answer
 * SEQ", or "stale SEQ" when the query changed meanwhile) and the screen update
 * that shows it ("drawn SEQ").
 * Unset, the calls do nothing. */
void tui_trace_open(void);
void tui_trace_key(int seq);
void tui_trace_answer(int seq, int stale);
void tui_trace_drawn(void);
void tui_trace_close(void);

#endif
