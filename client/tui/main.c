/* kehu-tui: start, log in (the CLI's token store: `kehu login` once, or the
 * prompt here), then one loop that waits on the terminal and the socket at
 * once, so that nothing the server does ever stalls the screen. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "store.h"
#include "term.h"
#include "out.h"
#include "tui.h"



int64_t tui_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tui_push(struct app *a, struct screen *s)
{
    if (a->depth == (int)(sizeof a->stack / sizeof a->stack[0])) {
        if (s->free)
            s->free(s);
        tui_say(a, _("too many screens open"));
        return;
    }
    s->id = ++a->next_screen_id;
    a->stack[a->depth++] = s;
    if (s->reload)
        s->reload(s, a);
    a->dirty = 1;
}

void tui_pop(struct app *a)
{
    if (a->depth <= 1) {
        a->quit = 1;
        return;
    }
    struct screen *s = a->stack[--a->depth];
    /* answers still on their way find it gone by its id (tui_ask) */
    if (s->free)
        s->free(s);
    a->dirty = 1;
}

void tui_say(struct app *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->status, sizeof a->status, fmt, ap);
    va_end(ap);
    a->status_until_ms = tui_now_ms() + 6000;
    a->dirty = 1;
}

static void draw(struct app *a)
{
    int rows = LINES, cols = COLS;
    erase();
    struct screen *s = a->stack[a->depth - 1];
    /* title bar */
    char left[512];
    snprintf(left, sizeof left, " Kehu · %s", s->title ? _(s->title) : "");
    char right[600];
    snprintf(right, sizeof right, "%s@%s  %s ", a->user, a->server, a->online ? _("online") : _("OFFLINE"));
    attron(A_REVERSE);
    int rw = (int)out_width(right);
    tw_put(0, 0, left, cols - rw > 0 ? cols - rw : 0);
    if (!a->online && a->color)
        attron(COLOR_PAIR(2));
    tw_put(0, cols - rw > 0 ? cols - rw : 0, right, cols < rw ? cols : rw);
    if (!a->online && a->color)
        attroff(COLOR_PAIR(2));
    attroff(A_REVERSE);
    if (s->draw && rows > 2)
        s->draw(s, a, 1, rows - 2, cols);
    /* status line: the last message, else the keys */
    const char *msg = a->status_until_ms > tui_now_ms() ? a->status : _("? help  / search  Enter open  q back");
    attron(A_REVERSE);
    tw_put(rows - 1, 0, msg, cols);
    attroff(A_REVERSE);
    if (a->help)
        help_draw(a, rows, cols);
    refresh();
    tui_trace_drawn();
}

static void on_key(struct app *a, wint_t ch, int is_key)
{
    struct screen *s = a->stack[a->depth - 1];
    if (a->help) { /* any key closes the overlay */
        a->help = 0;
        a->dirty = 1;
        return;
    }
    if (is_key && ch == KEY_RESIZE) {
        a->dirty = 1;
        return;
    }
    if (s->key && s->key(s, a, ch, is_key)) {
        a->dirty = 1;
        return;
    }
    if (!is_key && ch == L'?') {
        a->help = 1;
    } else if (!is_key && (ch == L'q' || ch == 27)) {
        tui_pop(a);
    } else if (!is_key && ch == L'/') {
        tui_push(a, list_new(a, ""));
    } else if (!is_key && (ch == 'r' || ch == 12 /* ^L */)) {
        if (s->reload)
            s->reload(s, a);
        clearok(stdscr, TRUE);
    }
    a->dirty = 1;
}

/* ---- logging in before the screen starts */

/* The user name, echoed, from stdin. */
static int read_user(char *buf, size_t n)
{
    fputs(_("Username: "), stderr);
    fflush(stderr);
    if (!fgets(buf, (int)n, stdin))
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* Where live updates come from: the user's branch, else their unit. */
static int64_t session_unit(const Kehu__V1__Session *s)
{
    return !s || !s->user ? 0 : s->user->branch_id ? s->user->branch_id : s->user->unit_id;
}

static int log_in(struct app *a)
{
    struct kehu_status st;
    char token[256];
    if (store_get(a->server, token, sizeof token, a->user, sizeof a->user) == 0) {
        Kehu__V1__Session *s = NULL;
        if (kehu_resume(a->c, token, &s, &st) == 0) {
            a->unit_id = session_unit(s);
            kehu_session_free(s);
            return 0;
        }
        if (st.code == KEHU_TRANSPORT) {
            fprintf(stderr, "kehu-tui: %s\n", st.message);
            return -1;
        }
        fprintf(stderr, "%s\n", _("The saved session has ended; log in again."));
    }
    for (int tries = 0; tries < 3; tries++) {
        char user[64], err[256];
        const char *env_user = getenv("KEHU_USER"), *env_pw = getenv("KEHU_PASSWORD");
        if (env_user && *env_user)
            snprintf(user, sizeof user, "%s", env_user);
        else if (read_user(user, sizeof user) < 0)
            return -1;
        /* the CLI's prompt (echo off, the terminal restored on a signal) */
        char *pw = env_pw && *env_pw ? strdup(env_pw) : term_read_password(_("Password: "), NULL, err, sizeof err);
        if (!pw) {
            fprintf(stderr, "kehu-tui: %s\n", env_pw && *env_pw ? strerror(errno) : err);
            return -1;
        }
        Kehu__V1__Session *s = NULL;
        int rc = kehu_login(a->c, user, pw, &s, &st);
        term_free_secret(pw);
        if (rc == 0) {
            snprintf(a->user, sizeof a->user, "%s", user);
            a->unit_id = session_unit(s);
            if (store_put(a->server, kehu_token(a->c), user) < 0)
                fprintf(stderr, "kehu-tui: %s\n", store_error());
            kehu_session_free(s);
            return 0;
        }
        fprintf(stderr, "kehu-tui: %s\n", st.message);
        if (st.code == KEHU_TRANSPORT || (env_user && env_pw))
            return -1;
    }
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f,
            _("Usage: kehu-tui [--server HOST:PORT]\n"
              "The all-day workspace: my day, customers, search as you type, live changes.\n"
              "Logs in with the session `kehu login` saved, or asks (KEHU_USER, KEHU_PASSWORD).\n"
              "  --server HOST:PORT   the kehud to use (KEHU_SERVER, default %s)\n"
              "  --help               this text\n"
              "  --version            the version\n"),
            KEHU_DEFAULT_SERVER);
}

int main(int argc, char **argv)
{
    kehu_i18n_init(argv[0]); /* the locale, and the catalogue even where it is not installed */
    static struct app app;
    struct app *a = &app;
    const char *env = getenv("KEHU_SERVER");
    snprintf(a->server, sizeof a->server, "%s", env && *env ? env : KEHU_DEFAULT_SERVER);
    static const struct option opts[] = {
        { "server", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            snprintf(a->server, sizeof a->server, "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("kehu-tui %s\n", KEHU_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kehu-tui: %s: %s\n", _("unexpected argument"), argv[optind]);
        return 2;
    }
    struct kehu_status st;
    a->c = kehu_connect(a->server, KEHU_DEFAULT_TIMEOUT_MS, &st);
    if (!a->c) {
        fprintf(stderr, "kehu-tui: %s\n", st.message);
        return 3;
    }
    if (log_in(a) < 0) {
        kehu_close(a->c);
        return 4;
    }
    srand((unsigned)(tui_now_ms() ^ getpid()));
    tui_trace_open();

    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (has_colors() && getenv("NO_COLOR") == NULL) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_YELLOW, -1); /* a change just pushed */
        init_pair(2, COLOR_RED, -1);    /* offline, overdue */
        init_pair(3, COLOR_GREEN, -1);  /* bars */
        a->color = 1;
    }
    tui_push(a, home_new(a));
    tui_net_start(a);
    a->dirty = 1;
    while (!a->quit) {
        if (a->dirty) {
            a->dirty = 0;
            draw(a);
        }
        struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN } };
        int n = 1;
        if (a->online) {
            p[1].fd = kehu_fd(a->c);
            p[1].events = POLLIN;
            n = 2;
        }
        /* wake for highlights fading, the status line and reconnecting */
        int r = poll(p, (nfds_t)n, 250);
        if (r < 0 && errno != EINTR)
            break;
        wint_t ch;
        int k;
        while ((k = get_wch(&ch)) != ERR)
            on_key(a, ch, k == KEY_CODE_YES);
        tui_net_turn(a);
        if (a->status_until_ms && tui_now_ms() > a->status_until_ms) {
            a->status_until_ms = 0;
            a->dirty = 1;
        }
        a->dirty = 1; /* fading highlights and ages are redrawn each turn: cheap */
    }
    endwin();
    while (a->depth > 0)
        if (a->stack[--a->depth]->free)
            a->stack[a->depth]->free(a->stack[a->depth]);
    kehu_close(a->c);
    tui_trace_close();
    return 0;
}
