#include "pager.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "out.h"

#define DEFAULT_PAGER "less -FRX"

static struct cli *pager_cli;
static volatile pid_t pager_pid;

/* The terminal's width: COLUMNS when it is a number, else the window size of
 * stdout; 0 when unknown. */
static size_t screen_width(void)
{
    const char *env = getenv("COLUMNS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v > 0 && v < 10000)
            return (size_t)v;
    }
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 0;
}

/* The pager to run, or NULL for none. */
static const char *pager_command(void)
{
    const char *cmd = getenv("KEHU_PAGER");
    if (!cmd)
        cmd = getenv("PAGER");
    if (cmd)
        return *cmd && strcmp(cmd, "cat") != 0 ? cmd : NULL;
    /* the default only when less is installed: a missing pager must not eat
     * the output */
    const char *path = getenv("PATH");
    if (!path)
        return NULL;
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        char file[4096];
        if (len && len < sizeof file - 6) {
            snprintf(file, sizeof file, "%.*s/less", (int)len, p);
            if (access(file, X_OK) == 0)
                return DEFAULT_PAGER;
        }
        p += len + (p[len] == ':');
    }
    return NULL;
}

/* Interrupted while the pager shows the output: let the pager end first, so
 * that it gives the terminal back, then die of the signal. */
static void on_signal(int sig)
{
    close(STDOUT_FILENO);
    if (pager_pid > 0)
        waitpid(pager_pid, NULL, 0);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void start_pager(void)
{
    if (!pager_cli || pager_cli->json || pager_cli->csv)
        return;
    const char *cmd = pager_command();
    if (!cmd)
        return;
    int fds[2];
    if (pipe(fds) < 0)
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        dup2(fds[0], STDIN_FILENO);
        close(fds[0]);
        close(fds[1]);
        setenv("LESS", "FRX", 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    pager_pid = pid;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGQUIT, on_signal);
}

void pager_setup(struct cli *cli)
{
    if (!isatty(STDOUT_FILENO))
        return;
    pager_cli = cli;
    out_table_screen(screen_width(), start_pager);
}

void pager_finish(void)
{
    if (pager_pid <= 0)
        return;
    fflush(stdout);
    fclose(stdout);
    pid_t pid = pager_pid;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pager_pid = 0;
}
