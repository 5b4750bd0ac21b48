#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "out.h"

int term_is_tty(int fd)
{
    return isatty(fd) == 1;
}

static void set_err(char *err, size_t errsz, const char *msg)
{
    if (err && errsz > 0)
        snprintf(err, errsz, "%s", msg);
}

static void strip_newline(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* ---- Echo off, restored on the way out whatever happens -------------------- */

static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NCAUGHT (sizeof caught / sizeof caught[0])

static struct termios saved_mode;
static struct sigaction saved_actions[NCAUGHT];
static volatile sig_atomic_t restore_fd = -1;
static volatile sig_atomic_t interrupted;

/* Async-signal-safe: tcsetattr, write, sigaction and raise all are. The
 * re-raised signal is blocked until we return, then delivered under the
 * disposition the program had before the prompt. */
static void on_signal(int sig)
{
    int saved_errno = errno;
    int fd = restore_fd;

    if (fd >= 0) {
        tcsetattr(fd, TCSAFLUSH, &saved_mode);
        ssize_t r = write(fd, "\n", 1);
        (void)r;
        restore_fd = -1;
    }
    interrupted = 1;
    for (size_t i = 0; i < NCAUGHT; i++)
        if (caught[i] == sig)
            sigaction(sig, &saved_actions[i], NULL);
    raise(sig);
    errno = saved_errno;
}

static int echo_off(int fd)
{
    struct termios mode;
    struct sigaction sa;

    if (tcgetattr(fd, &saved_mode) < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NCAUGHT; i++)
        sigaddset(&sa.sa_mask, caught[i]);
    sa.sa_flags = 0; /* no SA_RESTART: read() must see EINTR */
    interrupted = 0;
    for (size_t i = 0; i < NCAUGHT; i++)
        sigaction(caught[i], &sa, &saved_actions[i]);
    restore_fd = fd;

    mode = saved_mode;
    mode.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
    mode.c_lflag |= ICANON | ISIG;
    if (tcsetattr(fd, TCSAFLUSH, &mode) < 0)
        return -1;
    return 0;
}

static void echo_restore(int fd)
{
    if (restore_fd >= 0) {
        tcsetattr(fd, TCSAFLUSH, &saved_mode);
        restore_fd = -1;
    }
    for (size_t i = 0; i < NCAUGHT; i++)
        sigaction(caught[i], &saved_actions[i], NULL);
}

/* One line from the terminal into buf (TERM_SECRET_MAX + 1 bytes, zeroed).
 * Returns the bytes read (newline included), 0 at EOF before anything, -1
 * with err set. */
static ssize_t read_line(int fd, char *buf, char *err, size_t errsz)
{
    size_t len = 0;
    int too_long = 0;

    for (;;) {
        char scratch[64];
        char *dst = too_long ? scratch : buf + len;
        size_t room = too_long ? sizeof scratch : TERM_SECRET_MAX - len;
        ssize_t r = read(fd, dst, room);
        if (r < 0 && errno == EINTR && !interrupted)
            continue;
        if (r < 0) {
            explicit_bzero(scratch, sizeof scratch);
            set_err(err, errsz, interrupted ? "interrupted" : "cannot read the password from the terminal");
            return -1;
        }
        if (r == 0) { /* EOF (^D) */
            if (too_long)
                break;
            return (ssize_t)len;
        }
        int eol = memchr(dst, '\n', (size_t)r) != NULL;
        explicit_bzero(scratch, sizeof scratch);
        if (!too_long) {
            len += (size_t)r;
            if (!eol && len == TERM_SECRET_MAX)
                too_long = 1;
        }
        if (eol)
            break;
    }
    if (too_long) {
        char msg[80];
        snprintf(msg, sizeof msg, "password too long (at most %d bytes)", TERM_SECRET_MAX);
        set_err(err, errsz, msg);
        return -1;
    }
    return (ssize_t)len;
}

static char *read_from_tty(int fd, const char *prompt, char *err, size_t errsz)
{
    char *buf = out_xcalloc(1, TERM_SECRET_MAX + 1);
    ssize_t n = -1;

    if (prompt && *prompt) {
        ssize_t w = write(fd, prompt, strlen(prompt));
        (void)w;
    }
    if (echo_off(fd) < 0) {
        echo_restore(fd);
        set_err(err, errsz, "cannot turn off echo on the terminal");
    } else {
        n = read_line(fd, buf, err, errsz);
        int was_interrupted = interrupted;
        echo_restore(fd);
        if (!was_interrupted) {
            ssize_t w = write(fd, "\n", 1); /* the Enter the user typed was not echoed */
            (void)w;
        }
        if (n == 0)
            set_err(err, errsz, "no password entered");
    }
    if (n <= 0) {
        explicit_bzero(buf, TERM_SECRET_MAX + 1);
        free(buf);
        return NULL;
    }
    strip_newline(buf);
    return buf;
}

char *term_read_password(const char *prompt, const char *env_name, char *err, size_t errsz)
{
    if (isatty(STDIN_FILENO)) {
        int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
            char *s = read_from_tty(fd, prompt, err, errsz);
            close(fd);
            return s;
        }
    }
    const char *v = env_name ? getenv(env_name) : NULL;
    if (!v) {
        char msg[160];
        if (env_name)
            snprintf(msg, sizeof msg, "no terminal to ask for a password: set %s", env_name);
        else
            snprintf(msg, sizeof msg, "no terminal to ask for a password");
        set_err(err, errsz, msg);
        return NULL;
    }
    char *s = out_xstrdup(v);
    strip_newline(s);
    return s;
}

void term_free_secret(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}

/* ---- Progress bar ---------------------------------------------------------------- */

static struct {
    int active;          /* something is on the line */
    char *label;
    uint64_t done, total;
    struct timespec last; /* last redraw, CLOCK_MONOTONIC */
} prog;

static int term_columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static void draw(void)
{
    size_t avail = (size_t)term_columns() - 1; /* never touch the last column */
    char tail[64];
    unsigned pct = 0;

    if (prog.total > 0) {
        uint64_t d = prog.done > prog.total ? prog.total : prog.done;
        pct = (unsigned)((double)d * 100.0 / (double)prog.total);
        snprintf(tail, sizeof tail, "%3u%%  %" PRIu64 "/%" PRIu64, pct, prog.done, prog.total);
    } else {
        snprintf(tail, sizeof tail, "%" PRIu64, prog.done);
    }
    size_t tailw = strlen(tail);

    char *label = out_truncate(prog.label, avail / 3);
    size_t labelw = out_width(label);
    size_t used = (labelw ? labelw + 1 : 0) + tailw;
    size_t barw = 0;
    if (prog.total > 0 && avail > used + 4 + 5)
        barw = avail - used - 4; /* "[" bar "]  " */

    size_t cap = strlen(label) + barw + tailw + 16;
    char *line = out_xmalloc(cap);
    size_t n = 0;
    line[n++] = '\r';
    if (labelw) {
        memcpy(line + n, label, strlen(label));
        n += strlen(label);
        line[n++] = ' ';
    }
    if (barw) {
        uint64_t d = prog.done > prog.total ? prog.total : prog.done;
        size_t fill = (size_t)((double)barw * (double)d / (double)prog.total);
        line[n++] = '[';
        for (size_t i = 0; i < barw; i++)
            line[n++] = i < fill ? '#' : '-';
        line[n++] = ']';
        line[n++] = ' ';
        line[n++] = ' ';
    }
    if (used <= avail) {
        memcpy(line + n, tail, tailw);
        n += tailw;
    }
    memcpy(line + n, "\033[K", 3); /* erase what a longer line left */
    n += 3;
    fwrite(line, 1, n, stderr);
    fflush(stderr);
    free(line);
    free(label);
    clock_gettime(CLOCK_MONOTONIC, &prog.last);
    prog.active = 1;
}

void term_progress(const char *label, uint64_t done, uint64_t total)
{
    struct timespec now;

    if (!isatty(STDERR_FILENO))
        return;
    if (!label)
        label = "";
    int relabel = !prog.label || strcmp(prog.label, label) != 0;
    if (relabel) {
        free(prog.label);
        prog.label = out_xstrdup(label);
    }
    prog.done = done;
    prog.total = total;

    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(now.tv_sec - prog.last.tv_sec) * 1000
               + (now.tv_nsec - prog.last.tv_nsec) / 1000000;
    if (!prog.active || relabel || (total > 0 && done >= total) || ms >= 100)
        draw();
}

void term_progress_done(void)
{
    if (prog.active) {
        draw();
        fputc('\n', stderr);
        fflush(stderr);
    }
    prog.active = 0;
    free(prog.label);
    prog.label = NULL;
}
