/* Integration-test harness: throwaway PostgreSQL + kehud processes.
 * See harness.h for the contract. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TH_DEFAULT_PG_BINDIR "/usr/lib/postgresql/15/bin"
#define TH_DIR_PREFIX "kehu-it-"
#define TH_POLL_MS 20
#define TH_KEHUD_READY_MS 30000
#define TH_KEHUD_TERM_MS 10000
#define TH_KEHUD_RUN_MS 60000
#define TH_PG_CMD_MS 120000
#define TH_PG_READY_MS 30000
#define TH_TAIL_LINES 40
#define TH_MAX_ARGS 64

extern char **environ;

/* ---- small helpers ---------------------------------------------------- */

static void th_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void th_err(const char *fmt, ...)
{
    va_list ap;
    fputs("th: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* snprintf that reports truncation as an error. */
static int fmt(char *out, size_t sz, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *out, size_t sz, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(out, sz, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sz) {
        th_err("internal: path or string too long (%.60s...)", out);
        return -1;
    }
    return 0;
}

/* Prints the last `lines` lines of a file to stderr. */
static void print_tail(const char *path, int lines)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "th: (no log %s: %s)\n", path, strerror(errno));
        return;
    }
    char buf[16384];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t start = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = size > 0 ? pread(fd, buf, (size_t)(size - start), start) : 0;
    close(fd);
    if (n <= 0) {
        fprintf(stderr, "th: (log %s is empty)\n", path);
        return;
    }
    buf[n] = '\0';
    /* Walk back over `lines` newlines, ignoring a trailing one. */
    ssize_t i = n - 1;
    if (buf[i] == '\n')
        i--;
    int seen = 0;
    for (; i >= 0; i--)
        if (buf[i] == '\n' && ++seen == lines)
            break;
    fprintf(stderr, "th: ---- last %d lines of %s ----\n", lines, path);
    fputs(buf + i + 1, stderr);
    if (buf[n - 1] != '\n')
        fputc('\n', stderr);
    fprintf(stderr, "th: ---- end of %s ----\n", path);
    fflush(stderr);
}

static void tail_in_dir(const struct th_env *e, const char *name)
{
    char p[512];
    if (fmt(p, sizeof p, "%s/%s", e->dir, name) == 0)
        print_tail(p, TH_TAIL_LINES);
}

/* Exit status as the API reports it: 0..255, or 128+signal. */
static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

/* Waits for a child up to timeout_ms (< 0: forever). 1 and *status set when
 * it exited, 0 on timeout, -1 if it cannot be waited for (then it is gone
 * as far as we are concerned and *status is -1). */
static int wait_child(pid_t pid, int timeout_ms, int *status)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, timeout_ms < 0 ? 0 : WNOHANG);
        if (r == pid) {
            *status = decode_status(st);
            return 1;
        }
        if (r < 0 && errno != EINTR) {
            *status = -1;
            return -1;
        }
        if (r == 0) {
            if (now_ms() >= deadline)
                return 0;
            sleep_ms(TH_POLL_MS < timeout_ms ? TH_POLL_MS : 1);
        }
    }
}

/* ---- who runs PostgreSQL ------------------------------------------------ */

struct pg_user {
    int use_runuser; /* we are root: go through runuser -u postgres */
    uid_t uid;
    gid_t gid;
};

static int pg_user_get(struct pg_user *u)
{
    memset(u, 0, sizeof *u);
    u->uid = geteuid();
    u->gid = getegid();
    if (geteuid() != 0)
        return 0; /* non-root (or already postgres): run binaries directly */
    struct passwd *pw = getpwnam("postgres");
    if (!pw) {
        th_err("running as root, but there is no `postgres` user to run initdb/postgres as");
        return -1;
    }
    u->use_runuser = 1;
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    return 0;
}

static const char *runuser_path(void)
{
    if (access("/usr/sbin/runuser", X_OK) == 0)
        return "/usr/sbin/runuser";
    if (access("/sbin/runuser", X_OK) == 0)
        return "/sbin/runuser";
    return NULL;
}

/* ---- spawning ------------------------------------------------------------ */

struct spawn {
    const char *const *argv; /* argv[0] is the program path */
    const char *const *extra; /* appended to argv, may be NULL */
    int as_pg;                /* run as the postgres user */
    const char *cwd;
    int out_fd, err_fd;       /* -1: /dev/null */
    int kehud;                /* set KEHU_ADMIN_PASSWORD, PR_SET_PDEATHSIG */
    const char *admin_password;
};

static void child_write(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

/* fork+execve. Everything that allocates is done before fork so that the
 * child only calls async-signal-safe functions. Returns the pid or -1. */
static pid_t spawn_child(const struct spawn *sp)
{
    const char *argv[TH_MAX_ARGS + 8];
    size_t n = 0;
    struct pg_user pu;
    if (sp->as_pg) {
        if (pg_user_get(&pu) < 0)
            return -1;
        if (pu.use_runuser) {
            const char *ru = runuser_path();
            if (!ru) {
                th_err("running as root but neither /usr/sbin/runuser nor /sbin/runuser exists");
                return -1;
            }
            argv[n++] = ru;
            argv[n++] = "-u";
            argv[n++] = "postgres";
            argv[n++] = "--";
        }
    }
    for (size_t i = 0; sp->argv[i]; i++) {
        if (n >= TH_MAX_ARGS) {
            th_err("too many arguments for %s", sp->argv[0]);
            return -1;
        }
        argv[n++] = sp->argv[i];
    }
    for (size_t i = 0; sp->extra && sp->extra[i]; i++) {
        if (n >= TH_MAX_ARGS) {
            th_err("too many arguments for %s", sp->argv[0]);
            return -1;
        }
        argv[n++] = sp->extra[i];
    }
    argv[n] = NULL;

    /* Environment: ours, with KEHU_ADMIN_PASSWORD replaced for kehud. */
    size_t envc = 0;
    while (environ && environ[envc])
        envc++;
    char **envp = calloc(envc + 2, sizeof *envp);
    char *pwvar = NULL;
    if (!envp) {
        th_err("out of memory");
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < envc; i++) {
        if (sp->kehud && strncmp(environ[i], "KEHU_ADMIN_PASSWORD=", 20) == 0)
            continue;
        envp[m++] = environ[i];
    }
    if (sp->kehud) {
        if (asprintf(&pwvar, "KEHU_ADMIN_PASSWORD=%s", sp->admin_password) < 0) {
            free(envp);
            th_err("out of memory");
            return -1;
        }
        envp[m++] = pwvar;
    }
    envp[m] = NULL;

    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        th_err("open /dev/null: %s", strerror(errno));
        free(envp);
        free(pwvar);
        return -1;
    }
    int out = sp->out_fd >= 0 ? sp->out_fd : devnull;
    int err = sp->err_fd >= 0 ? sp->err_fd : devnull;
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);

    pid_t pid = fork();
    if (pid == 0) {
        /* Child. Set up fds 0..2 (dup2 clears close-on-exec). The source fds
         * may already be 0..2 only if the test closed its stdio, which we
         * do not support. */
        if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        /* Nothing else of the test (client sockets, pipes) may leak into
         * kehud or the postmaster, or closing them in the test would not be
         * seen by the peer. */
        if (close_range(3, ~0U, 0) < 0) {
            long max = sysconf(_SC_OPEN_MAX);
            if (max < 0 || max > 65536)
                max = 65536;
            for (long fd = 3; fd < max; fd++)
                close((int)fd);
        }
        /* Undo what the test process may have changed that survives exec. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        static const int sigs[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        if (sp->kehud) {
            /* If the test process dies, kehud follows it. */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(127);
        }
        if (sp->cwd && chdir(sp->cwd) < 0)
            child_write("th: warning: cannot chdir to the test dir\n");
        execve(argv[0], (char *const *)argv, envp);
        child_write("th: cannot exec ");
        child_write(argv[0]);
        child_write("\n");
        _exit(127);
    }
    int saved = errno;
    close(devnull);
    free(envp);
    free(pwvar);
    if (pid < 0) {
        th_err("fork: %s", strerror(saved));
        return -1;
    }
    return pid;
}

/* Runs a command to completion within timeout_ms. Returns its exit status
 * or -1 (could not run / timed out, then killed). */
static int run_to_end(const struct spawn *sp, int timeout_ms)
{
    pid_t pid = spawn_child(sp);
    if (pid < 0)
        return -1;
    int status;
    int r = wait_child(pid, timeout_ms, &status);
    if (r == 0) {
        th_err("%s did not finish within %d ms; killing it", sp->argv[0], timeout_ms);
        kill(pid, SIGKILL);
        wait_child(pid, -1, &status);
        return -1;
    }
    return status;
}

static int open_log(const struct th_env *e, const char *name)
{
    char p[512];
    if (fmt(p, sizeof p, "%s/%s", e->dir, name) < 0)
        return -1;
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        th_err("cannot open %s: %s", p, strerror(errno));
    return fd;
}

/* ---- temp dir ------------------------------------------------------------ */

/* Can the postgres user traverse every directory of `path`? (Owner, primary
 * group and other bits only; good enough to reject a private home.) */
static int pg_can_reach(const char *path, const struct pg_user *pu)
{
    char p[256];
    if (fmt(p, sizeof p, "%s", path) < 0)
        return 0;
    for (;;) {
        struct stat st;
        if (stat(p[0] ? p : "/", &st) < 0 || !S_ISDIR(st.st_mode))
            return 0;
        mode_t need = st.st_uid == pu->uid ? S_IXUSR : st.st_gid == pu->gid ? S_IXGRP : S_IXOTH;
        if (!(st.st_mode & need))
            return 0;
        char *slash = strrchr(p, '/');
        if (!slash)
            return 1;
        if (slash == p && p[1] == '\0')
            return 1;
        *slash = '\0';
    }
}

static int make_dir(struct th_env *e, const struct pg_user *pu)
{
    const char *cands[3] = {getenv("TMPDIR"), "/tmp", "/var/tmp"};
    for (size_t i = 0; i < 3; i++) {
        const char *base = cands[i];
        if (!base || base[0] != '/')
            continue;
        /* The socket path DIR/.s.PGSQL.NNNNN must fit in sun_path (108). */
        if (strlen(base) + strlen("/" TH_DIR_PREFIX "XXXXXX/.s.PGSQL.65535") >= 107)
            continue;
        if (pu->use_runuser && !pg_can_reach(base, pu)) {
            if (i == 0)
                th_err("note: TMPDIR=%s is not reachable by the postgres user; using /tmp", base);
            continue;
        }
        if (fmt(e->dir, sizeof e->dir, "%s/" TH_DIR_PREFIX "XXXXXX", base) < 0)
            continue;
        const char *made = mkdtemp(e->dir);
        if (!made) {
            th_err("mkdtemp under %s: %s", base, strerror(errno));
            e->dir[0] = '\0';
            continue;
        }
        if (pu->use_runuser && chown(made, pu->uid, pu->gid) < 0) {
            th_err("chown %s to postgres: %s", made, strerror(errno));
            rmdir(made);
            e->dir[0] = '\0';
            return -1;
        }
        return 0;
    }
    th_err("found no temp directory the postgres user can use (tried $TMPDIR, /tmp, /var/tmp)");
    e->dir[0] = '\0';
    return -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        th_err("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

static void rm_rf(const char *dir)
{
    /* Guard against a garbage struct: only ever delete our own temp dirs. */
    const char *b = strrchr(dir, '/');
    if (!b || strncmp(b + 1, TH_DIR_PREFIX, strlen(TH_DIR_PREFIX)) != 0) {
        th_err("refusing to remove %s (not a harness temp dir)", dir);
        return;
    }
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- PostgreSQL ----------------------------------------------------------- */

static int pg_bin(const struct th_env *e, const char *name, char *out, size_t sz)
{
    if (fmt(out, sz, "%s/%s", e->pg_bindir, name) < 0)
        return -1;
    if (access(out, X_OK) < 0) {
        th_err("%s is not executable (%s); set KEHU_PG_BINDIR", out, strerror(errno));
        return -1;
    }
    return 0;
}

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGconn *pg_connect(const struct th_env *e, const char *dbname)
{
    char ci[600];
    if (fmt(ci, sizeof ci, "host=127.0.0.1 port=%d user=kehu dbname=%s connect_timeout=10",
            e->pg_port, dbname) < 0)
        return NULL;
    PGconn *c = PQconnectdb(ci);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        th_err("cannot connect to PostgreSQL (%s): %s", ci,
               c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        tail_in_dir(e, "pg.log");
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

static int pg_ctl_start(struct th_env *e)
{
    char bin[512], data[300], log[300], opts[512];
    if (pg_bin(e, "pg_ctl", bin, sizeof bin) < 0 ||
        fmt(data, sizeof data, "%s/pg", e->dir) < 0 ||
        fmt(log, sizeof log, "%s/pg.log", e->dir) < 0 ||
        fmt(opts, sizeof opts,
            "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c synchronous_commit=off",
            e->pg_port, e->dir) < 0)
        return -1;
    int fd = open_log(e, "pg_ctl.log");
    if (fd < 0)
        return -1;
    const char *argv[] = {bin, "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start", NULL};
    struct spawn sp = {.argv = argv, .as_pg = 1, .cwd = e->dir, .out_fd = fd, .err_fd = fd};
    int st = run_to_end(&sp, TH_PG_CMD_MS);
    close(fd);
    if (st != 0) {
        th_err("pg_ctl start (port %d, dir %s) failed with status %d", e->pg_port, data, st);
        tail_in_dir(e, "pg_ctl.log");
        tail_in_dir(e, "pg.log");
        return -1;
    }
    /* pg_ctl -w waited for the postmaster; make sure TCP works too. */
    char ci[300];
    if (fmt(ci, sizeof ci, "host=127.0.0.1 port=%d user=kehu dbname=postgres connect_timeout=5",
            e->pg_port) < 0)
        return -1;
    long long deadline = now_ms() + TH_PG_READY_MS;
    while (PQping(ci) != PQPING_OK) {
        if (now_ms() >= deadline) {
            th_err("PostgreSQL on port %d does not accept connections after start", e->pg_port);
            tail_in_dir(e, "pg.log");
            return -1;
        }
        sleep_ms(TH_POLL_MS);
    }
    return 0;
}

/* 1 if `pid` exists and is not a zombie; its start time (clock ticks after
 * boot, field 22 of /proc/PID/stat) in *start. */
static int proc_running(pid_t pid, unsigned long long *start)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *s = strrchr(buf, ')'); /* the command name may contain anything */
    char state;
    unsigned long long st;
    if (!s || sscanf(s + 1,
                     " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
                     &state, &st) != 2)
        return 0;
    if (state == 'Z' || state == 'X')
        return 0;
    if (start)
        *start = st;
    return 1;
}

/* Waits until a process (not our child) has exited. */
static int wait_gone(pid_t pid, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (proc_running(pid, NULL)) {
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(TH_POLL_MS);
    }
    return 0;
}

/* The postmaster's pid from DIR/pg/postmaster.pid, 0 if none. */
static pid_t postmaster_pid(const struct th_env *e)
{
    char p[300];
    if (fmt(p, sizeof p, "%s/pg/postmaster.pid", e->dir) < 0)
        return 0;
    FILE *f = fopen(p, "re");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

/* Is `pid` a live process whose command line mentions our dir? */
static int is_our_postmaster(const struct th_env *e, pid_t pid)
{
    char p[64], buf[4096];
    if (pid <= 0 || !proc_running(pid, NULL))
        return 0;
    snprintf(p, sizeof p, "/proc/%ld/cmdline", (long)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return strstr(buf, e->dir) != NULL;
}

/* pg_ctl -m MODE stop, then waits until the postmaster process is really
 * gone (pg_ctl returns when the pid file is removed, a little earlier). */
static int pg_ctl_stop(struct th_env *e, const char *mode, int report)
{
    char bin[512], data[300];
    if (pg_bin(e, "pg_ctl", bin, sizeof bin) < 0 || fmt(data, sizeof data, "%s/pg", e->dir) < 0)
        return -1;
    pid_t pm = postmaster_pid(e);
    int fd = open_log(e, "pg_ctl.log");
    if (fd < 0)
        return -1;
    const char *argv[] = {bin, "-D", data, "-m", mode, "-w", "-t", "60", "stop", NULL};
    struct spawn sp = {.argv = argv, .as_pg = 1, .cwd = e->dir, .out_fd = fd, .err_fd = fd};
    int st = run_to_end(&sp, TH_PG_CMD_MS);
    close(fd);
    if (st != 0 && report) {
        th_err("pg_ctl -m %s stop (dir %s) failed with status %d", mode, data, st);
        tail_in_dir(e, "pg_ctl.log");
        tail_in_dir(e, "pg.log");
    }
    if (st == 0 && pm > 0 && wait_gone(pm, 10000) < 0) {
        if (report)
            th_err("postmaster %ld still running after pg_ctl stop", (long)pm);
        return -1;
    }
    return st == 0 ? 0 : -1;
}

/* Stops the cluster whatever it takes. */
static void pg_teardown(struct th_env *e, const char *mode)
{
    pid_t pid = postmaster_pid(e);
    if (!is_our_postmaster(e, pid))
        return; /* not running (a stale pid file at most) */
    if (pg_ctl_stop(e, mode, 1) == 0)
        return;
    if (strcmp(mode, "immediate") != 0) {
        th_err("trying pg_ctl -m immediate stop");
        if (pg_ctl_stop(e, "immediate", 0) == 0)
            return;
    }
    if (is_our_postmaster(e, pid)) {
        th_err("postmaster %ld still alive; SIGKILL", (long)pid);
        kill(pid, SIGKILL);
        wait_gone(pid, 5000);
    }
}

/* A test process that is killed (ctest timeout, SIGKILL, crash outside
 * cmocka) leaves its cluster running: pg_ctl detaches the postmaster. Every
 * temp dir records its test process (pid and start time) in DIR/th-owner;
 * th_pg_create removes the dirs whose test process is gone, unless they were
 * kept on purpose (DIR/th-keep). Dirs without an owner file are left alone. */
static void sweep_stale(const struct th_env *e)
{
    const char *bases[3] = {getenv("TMPDIR"), "/tmp", "/var/tmp"};
    for (size_t b = 0; b < 3; b++) {
        if (!bases[b] || bases[b][0] != '/' || (b > 0 && bases[0] && !strcmp(bases[0], bases[b])))
            continue;
        DIR *d = opendir(bases[b]);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (strncmp(de->d_name, TH_DIR_PREFIX, strlen(TH_DIR_PREFIX)) != 0 ||
                strlen(de->d_name) != strlen(TH_DIR_PREFIX) + 6)
                continue;
            struct th_env s;
            memset(&s, 0, sizeof s);
            memcpy(s.pg_bindir, e->pg_bindir, sizeof s.pg_bindir);
            char owner[300], keep[300];
            if (fmt(s.dir, sizeof s.dir, "%s/%s", bases[b], de->d_name) < 0 ||
                fmt(owner, sizeof owner, "%s/th-owner", s.dir) < 0 ||
                fmt(keep, sizeof keep, "%s/th-keep", s.dir) < 0)
                continue;
            FILE *f = fopen(owner, "re");
            if (!f)
                continue;
            long pid = 0;
            unsigned long long start = 0, now_start = 0;
            int got = fscanf(f, "%ld %llu", &pid, &start);
            fclose(f);
            if (got != 2 || pid <= 0 || access(keep, F_OK) == 0)
                continue;
            if (proc_running((pid_t)pid, &now_start) && now_start == start)
                continue;
            th_err("removing stale test dir %s (its test process %ld is gone)", s.dir, pid);
            pg_teardown(&s, "immediate");
            rm_rf(s.dir);
        }
        closedir(d);
    }
}

static int write_owner(const struct th_env *e)
{
    unsigned long long start = 0;
    char p[300];
    if (!proc_running(getpid(), &start) || fmt(p, sizeof p, "%s/th-owner", e->dir) < 0)
        return -1;
    FILE *f = fopen(p, "we");
    if (!f) {
        th_err("cannot write %s: %s", p, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld %llu\n", (long)getpid(), start);
    return fclose(f) == 0 ? 0 : -1;
}

static int pg_initdb(struct th_env *e)
{
    char bin[512], data[300];
    if (pg_bin(e, "initdb", bin, sizeof bin) < 0 || fmt(data, sizeof data, "%s/pg", e->dir) < 0)
        return -1;
    int fd = open_log(e, "initdb.log");
    if (fd < 0)
        return -1;
    const char *argv[] = {bin, "-D", data, "-U", "kehu", "-A", "trust", "--encoding=UTF8",
                          "--locale=C.UTF-8", "--no-sync", NULL};
    struct spawn sp = {.argv = argv, .as_pg = 1, .cwd = e->dir, .out_fd = fd, .err_fd = fd};
    int st = run_to_end(&sp, TH_PG_CMD_MS);
    close(fd);
    if (st != 0) {
        th_err("initdb -D %s failed with status %d", data, st);
        tail_in_dir(e, "initdb.log");
        return -1;
    }
    return 0;
}

int th_pg_create(struct th_env *e)
{
    memset(e, 0, sizeof *e);
    e->kehud_status = -1;
    fmt(e->admin_password, sizeof e->admin_password, "%s", TH_ADMIN_PASSWORD);
    const char *bindir = getenv("KEHU_PG_BINDIR");
    if (fmt(e->pg_bindir, sizeof e->pg_bindir, "%s",
            bindir && *bindir ? bindir : TH_DEFAULT_PG_BINDIR) < 0)
        return -1;

    struct pg_user pu;
    char probe[512];
    if (pg_user_get(&pu) < 0 || pg_bin(e, "initdb", probe, sizeof probe) < 0 ||
        pg_bin(e, "pg_ctl", probe, sizeof probe) < 0)
        return -1;
    sweep_stale(e);
    if (make_dir(e, &pu) < 0)
        return -1;
    if (write_owner(e) < 0)
        goto fail;
    if (fmt(e->config, sizeof e->config, "%s/kehud.conf", e->dir) < 0 ||
        fmt(e->log_path, sizeof e->log_path, "%s/kehud.log", e->dir) < 0)
        goto fail;
    e->pg_port = th_free_port();
    if (e->pg_port <= 0)
        goto fail;
    setenv("PGOPTIONS", "-c kehu.id_key=" TH_ID_KEY, 1);
    if (fmt(e->conninfo, sizeof e->conninfo, "host=127.0.0.1 port=%d user=kehu dbname=kehu",
            e->pg_port) < 0 ||
        fmt(e->app_conninfo, sizeof e->app_conninfo, "host=127.0.0.1 port=%d user=kehu_app dbname=kehu",
            e->pg_port) < 0)
        goto fail;
    if (pg_initdb(e) < 0 || pg_ctl_start(e) < 0)
        goto fail;

    PGconn *c = pg_connect(e, "postgres");
    if (!c)
        goto fail;
    PGresult *r = PQexec(c, "CREATE DATABASE kehu");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        th_err("CREATE DATABASE kehu failed: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok) {
        tail_in_dir(e, "pg.log");
        goto fail;
    }
    return 0;
fail:
    th_err("could not create the test PostgreSQL in %s", e->dir);
    th_env_down(e);
    return -1;
}

int th_pg_stop(struct th_env *e)
{
    if (!e->dir[0]) {
        th_err("th_pg_stop: no environment");
        return -1;
    }
    return pg_ctl_stop(e, "fast", 1);
}

int th_pg_start(struct th_env *e)
{
    if (!e->dir[0]) {
        th_err("th_pg_start: no environment");
        return -1;
    }
    return pg_ctl_start(e);
}

int th_pg_exec(struct th_env *e, const char *sql)
{
    if (!e->dir[0] || e->pg_port <= 0) {
        th_err("th_pg_exec: no environment");
        return -1;
    }
    PGconn *c = pg_connect(e, "kehu");
    if (!c)
        return -1;
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;
    if (!ok)
        th_err("th_pg_exec failed: %s  SQL: %.200s", PQerrorMessage(c), sql);
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/* ---- kehud ---------------------------------------------------------------- */

/* KEHUD_BIN from the environment or the compile-time macro, resolved
 * against PATH when it has no slash. */
static int kehud_resolve(char *out, size_t sz)
{
    const char *bin = getenv("KEHUD_BIN");
#ifdef KEHUD_BIN
    if (!bin || !*bin)
        bin = KEHUD_BIN;
#endif
    if (!bin || !*bin) {
        th_err("no kehud binary: set KEHUD_BIN (or build with -DKEHUD_BIN=\\\"path\\\")");
        return -1;
    }
    if (strchr(bin, '/')) {
        if (fmt(out, sz, "%s", bin) < 0)
            return -1;
    } else {
        const char *path = getenv("PATH");
        out[0] = '\0';
        while (path && *path) {
            size_t len = strcspn(path, ":");
            if (len > 0 && snprintf(out, sz, "%.*s/%s", (int)len, path, bin) < (int)sz &&
                access(out, X_OK) == 0)
                break;
            out[0] = '\0';
            path += len + (path[len] == ':');
        }
        if (!out[0]) {
            th_err("kehud binary '%s' not found in PATH", bin);
            return -1;
        }
    }
    if (access(out, X_OK) < 0) {
        th_err("kehud binary '%s' is not executable: %s (set KEHUD_BIN)", out, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_config(struct th_env *e)
{
    FILE *f = fopen(e->config, "we");
    if (!f) {
        th_err("cannot write %s: %s", e->config, strerror(errno));
        return -1;
    }
    fprintf(f,
            "# written by the integration-test harness\n"
            "listen = 127.0.0.1\n"
            "port = %d\n"
            "# kehud serves as kehu_app (made by migration 0008); migrations run as the owner\n"
            "db = %s\n"
            "db_owner = %s\n"
            "log_level = debug\n"
            "hash_ops = 1\n"
            "hash_mem = 16384\n"
            "# tests start their grading runs themselves\n"
            "grade_schedule = 0\n"
            "id_key = " TH_ID_KEY "\n"
            "# and their pool recycles\n"
            "pool_schedule = 0\n"
            "# and their refreshes of grades whose overrides ran out\n"
            "grade_expire_schedule = 0\n",
            e->port, e->app_conninfo, e->conninfo);
    if (fclose(f) != 0) {
        th_err("cannot write %s: %s", e->config, strerror(errno));
        return -1;
    }
    return 0;
}

static void log_marker(int fd, const char *what)
{
    char line[256];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    int n = snprintf(line, sizeof line, "---- th %02d:%02d:%02d: %s ----\n", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, what);
    if (n > 0) {
        ssize_t w = write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* `kehud CMD --config F` to completion, output to the log. */
static int kehud_step(struct th_env *e, const char *cmd)
{
    int fd = open_log(e, "kehud.log");
    if (fd < 0)
        return -1;
    char what[64];
    snprintf(what, sizeof what, "kehud %s", cmd);
    log_marker(fd, what);
    const char *argv[] = {e->kehud_bin, cmd, "--config", e->config, NULL};
    struct spawn sp = {.argv = argv, .cwd = e->dir, .out_fd = fd, .err_fd = fd, .kehud = 1,
                       .admin_password = e->admin_password};
    int st = run_to_end(&sp, TH_KEHUD_RUN_MS);
    close(fd);
    if (st != 0) {
        th_err("`%s %s --config %s` failed with status %d", e->kehud_bin, cmd, e->config, st);
        tail_in_dir(e, "kehud.log");
        return -1;
    }
    return 0;
}

/* SIGTERM, then SIGKILL after TH_KEHUD_TERM_MS. */
static void kehud_stop(struct th_env *e)
{
    if (e->kehud_pid <= 0)
        return;
    int st;
    kill(e->kehud_pid, SIGTERM);
    int r = wait_child(e->kehud_pid, TH_KEHUD_TERM_MS, &st);
    if (r == 0) {
        th_err("kehud (pid %ld) still running %d s after SIGTERM; sending SIGKILL",
               (long)e->kehud_pid, TH_KEHUD_TERM_MS / 1000);
        kill(e->kehud_pid, SIGKILL);
        wait_child(e->kehud_pid, -1, &st);
    }
    e->kehud_status = st;
    e->kehud_pid = 0;
}

/* connect() to 127.0.0.1:port. The ports come from the ephemeral range, so
 * while nothing listens, a connect can pick the same port as its source and
 * connect to itself (TCP simultaneous open): that is not a server. */
static int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r;
    do
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        struct sockaddr_in local;
        socklen_t len = sizeof local;
        if (getsockname(fd, (struct sockaddr *)&local, &len) == 0 &&
            local.sin_port == a.sin_port) {
            r = -1;
            errno = ECONNREFUSED;
        }
    }
    if (r < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int probe_port(int port)
{
    int fd = connect_local(port);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int th_kehud_start(struct th_env *e, const char *const *extra_serve_args)
{
    if (!e->dir[0] || !e->kehud_bin[0] || e->port <= 0) {
        th_err("th_kehud_start: no environment (th_env_up first)");
        return -1;
    }
    kehud_stop(e);
    int fd = open_log(e, "kehud.log");
    if (fd < 0)
        return -1;
    log_marker(fd, "kehud serve");
    const char *argv[] = {e->kehud_bin, "serve", "--config", e->config, NULL};
    struct spawn sp = {.argv = argv, .extra = extra_serve_args, .cwd = e->dir, .out_fd = fd,
                       .err_fd = fd, .kehud = 1, .admin_password = e->admin_password};
    pid_t pid = spawn_child(&sp);
    close(fd);
    if (pid < 0)
        return -1;
    e->kehud_pid = pid;
    e->kehud_status = -1;

    long long deadline = now_ms() + TH_KEHUD_READY_MS;
    for (;;) {
        int st;
        if (wait_child(pid, 0, &st) != 0) {
            e->kehud_pid = 0;
            e->kehud_status = st;
            th_err("kehud serve exited with status %d before accepting on port %d", st, e->port);
            tail_in_dir(e, "kehud.log");
            return -1;
        }
        if (probe_port(e->port) == 0)
            return 0;
        if (now_ms() >= deadline) {
            th_err("kehud serve (pid %ld) does not accept on 127.0.0.1:%d after %d s; killing it",
                   (long)pid, e->port, TH_KEHUD_READY_MS / 1000);
            kill(pid, SIGKILL);
            wait_child(pid, -1, &st);
            e->kehud_pid = 0;
            e->kehud_status = st;
            tail_in_dir(e, "kehud.log");
            return -1;
        }
        sleep_ms(TH_POLL_MS);
    }
}

int th_kehud_config(struct th_env *e)
{
    if (!e->dir[0]) {
        th_err("th_kehud_config: no environment");
        return -1;
    }
    if (kehud_resolve(e->kehud_bin, sizeof e->kehud_bin) < 0)
        return -1;
    do
        e->port = th_free_port();
    while (e->port > 0 && e->port == e->pg_port);
    return e->port > 0 ? write_config(e) : -1;
}

int th_env_up(struct th_env *e, const char *const *extra_serve_args)
{
    signal(SIGPIPE, SIG_IGN);
    char bin[sizeof e->kehud_bin];
    if (kehud_resolve(bin, sizeof bin) < 0) {
        memset(e, 0, sizeof *e);
        e->kehud_status = -1;
        return -1;
    }
    if (th_pg_create(e) < 0)
        return -1;
    memcpy(e->kehud_bin, bin, sizeof bin);
    do
        e->port = th_free_port();
    while (e->port > 0 && e->port == e->pg_port);
    if (e->port <= 0 || write_config(e) < 0 || kehud_step(e, "migrate") < 0 ||
        kehud_step(e, "init") < 0 || th_kehud_start(e, extra_serve_args) < 0) {
        th_err("th_env_up failed (dir %s)", e->dir);
        th_env_down(e);
        return -1;
    }
    return 0;
}

void th_env_down(struct th_env *e)
{
    kehud_stop(e);
    if (!e->dir[0])
        return;
    pg_teardown(e, "fast");
    const char *keep = getenv("KEHU_KEEP_TEST_DIR");
    char marker[300];
    if (keep && strcmp(keep, "1") == 0) {
        /* th-keep also protects the dir from sweep_stale. */
        if (fmt(marker, sizeof marker, "%s/th-keep", e->dir) == 0) {
            FILE *f = fopen(marker, "we");
            if (f)
                fclose(f);
        }
        fprintf(stderr, "th: KEHU_KEEP_TEST_DIR=1: keeping %s\n", e->dir);
    } else
        rm_rf(e->dir);
    e->dir[0] = '\0';
}

int th_kehud_signal(struct th_env *e, int sig)
{
    if (e->kehud_pid <= 0) {
        th_err("th_kehud_signal(%d): kehud is not running", sig);
        return -1;
    }
    if (kill(e->kehud_pid, sig) < 0) {
        th_err("kill(%ld, %d): %s", (long)e->kehud_pid, sig, strerror(errno));
        return -1;
    }
    return 0;
}

int th_kehud_wait(struct th_env *e, int timeout_ms)
{
    if (e->kehud_pid <= 0)
        return e->kehud_status;
    int st;
    int r = wait_child(e->kehud_pid, timeout_ms, &st);
    if (r == 0)
        return -1;
    e->kehud_pid = 0;
    e->kehud_status = st;
    return st;
}

int th_kehud_run(struct th_env *e, const char *const *args, char *out, size_t outsz)
{
    if (out && outsz)
        out[0] = '\0';
    if (!e->dir[0] || !e->kehud_bin[0]) {
        th_err("th_kehud_run: no environment (th_env_up first)");
        return -1;
    }
    /* argv: kehud ARGS... --config F */
    const char *argv[TH_MAX_ARGS + 4];
    size_t n = 0;
    argv[n++] = e->kehud_bin;
    for (size_t i = 0; args && args[i]; i++) {
        if (n >= TH_MAX_ARGS) {
            th_err("th_kehud_run: too many arguments");
            return -1;
        }
        argv[n++] = args[i];
    }
    argv[n++] = "--config";
    argv[n++] = e->config;
    argv[n] = NULL;

    int logfd = open_log(e, "kehud.log");
    if (logfd < 0)
        return -1;
    char what[128];
    snprintf(what, sizeof what, "kehud %s", args && args[0] ? args[0] : "");
    log_marker(logfd, what);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        th_err("pipe: %s", strerror(errno));
        close(logfd);
        return -1;
    }
    struct spawn sp = {.argv = argv, .cwd = e->dir, .out_fd = p[1], .err_fd = logfd, .kehud = 1,
                       .admin_password = e->admin_password};
    pid_t pid = spawn_child(&sp);
    close(p[1]);
    close(logfd);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }

    size_t used = 0;
    long long deadline = now_ms() + TH_KEHUD_RUN_MS;
    int timed_out = 0;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        char buf[4096];
        ssize_t k = read(p[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break; /* EOF */
        if (out && outsz > 1 && used < outsz - 1) {
            size_t take = (size_t)k < outsz - 1 - used ? (size_t)k : outsz - 1 - used;
            memcpy(out + used, buf, take);
            used += take;
            out[used] = '\0';
        }
    }
    close(p[0]);
    int st = -1;
    if (!timed_out) {
        long long left = deadline - now_ms();
        if (wait_child(pid, left > 0 ? (int)left : 1, &st) == 0)
            timed_out = 1;
    }
    if (timed_out) {
        th_err("`%s %s` did not finish within %d s; killing it", e->kehud_bin,
               args && args[0] ? args[0] : "", TH_KEHUD_RUN_MS / 1000);
        kill(pid, SIGKILL);
        wait_child(pid, -1, &st);
        tail_in_dir(e, "kehud.log");
        return -1;
    }
    return st;
}

const char *th_kehud_log(struct th_env *e)
{
    return e->log_path;
}

/* ---- sockets -------------------------------------------------------------- */

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        th_err("socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        th_err("bind 127.0.0.1:0: %s", strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

int th_connect_raw(int port)
{
    int fd = connect_local(port);
    if (fd < 0)
        th_err("connect 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}
