/* Self-test of the integration-test harness, without the real kehud.
 *
 * Part 1 drives the throwaway PostgreSQL (create, exec, stop, start, down).
 * Part 2 uses a fake kehud, a shell script written at run time, to drive
 * th_env_up, th_kehud_* and th_env_down. Prints "ok"/"FAIL" lines; exit
 * status 0 when everything passed. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

static int check(int ok, const char *what, int line)
{
    if (ok) {
        printf("ok   %s\n", what);
    } else {
        printf("FAIL %s  (line %d)\n", what, line);
        failures++;
    }
    fflush(stdout);
    return ok;
}

#define CHECK(cond) check(!!(cond), #cond, __LINE__)
/* Like CHECK, but the rest of the part depends on it. */
#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!check(!!(cond), #cond, __LINE__))                                       \
            goto out;                                                                \
    } while (0)

/* Running and not a zombie (a reparented postmaster may stay a zombie for a
 * moment until init reaps it). */
static int alive(long pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')');
    return s && s[1] == ' ' && s[2] != 'Z' && s[2] != 'X';
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dir_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Number of processes whose command line mentions `needle`. */
static int procs_mentioning(const char *needle)
{
    int count = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char p[300], buf[4096];
        snprintf(p, sizeof p, "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(p, "re");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n] = '\0';
        if (strstr(buf, needle))
            count++;
    }
    closedir(d);
    return count;
}

static long read_postmaster_pid(const char *dir)
{
    char p[300];
    snprintf(p, sizeof p, "%s/pg/postmaster.pid", dir);
    FILE *f = fopen(p, "re");
    long pid = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid;
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* ---- part 0: sockets ---------------------------------------------------- */

static void test_sockets(void)
{
    printf("# sockets\n");
    int p1 = th_free_port();
    CHECK(p1 > 0 && p1 < 65536);
    /* Nobody listens there: connect must fail (and say so on stderr). */
    CHECK(th_connect_raw(p1) < 0);

    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 4) == 0 &&
          getsockname(l, (struct sockaddr *)&a, &len) == 0);
    int fd = th_connect_raw(ntohs(a.sin_port));
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    close(l);
}

/* ---- part 1: PostgreSQL ------------------------------------------------- */

static int pg_connect_ok(const char *conninfo)
{
    char ci[600];
    snprintf(ci, sizeof ci, "%s connect_timeout=5", conninfo);
    PGconn *c = PQconnectdb(ci);
    int ok = c && PQstatus(c) == CONNECTION_OK;
    PQfinish(c);
    return ok;
}

/* SELECT name FROM t WHERE id = 1 through our own connection. */
static int select_name_is(const char *conninfo, const char *want)
{
    PGconn *c = PQconnectdb(conninfo);
    int ok = 0;
    if (c && PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "SELECT name, current_user, pg_encoding_to_char(encoding) "
                                "FROM t, pg_database WHERE id = 1 AND datname = current_database()");
        ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             strcmp(PQgetvalue(r, 0, 0), want) == 0 && strcmp(PQgetvalue(r, 0, 1), "kehu") == 0 &&
             strcmp(PQgetvalue(r, 0, 2), "UTF8") == 0;
        PQclear(r);
    }
    PQfinish(c);
    return ok;
}

static void test_pg(void)
{
    printf("# PostgreSQL\n");
    struct th_env e = {0};
    th_env_down(&e); /* on a zeroed struct: a no-op */
    char dir[256] = "";
    long pm = 0;

    long long t0 = now_ms();
    REQUIRE(th_pg_create(&e) == 0);
    printf("# cluster in %s on port %d, up in %lld ms\n", e.dir, e.pg_port, now_ms() - t0);
    snprintf(dir, sizeof dir, "%s", e.dir);
    CHECK(dir_exists(dir));
    CHECK(strncmp(dir, "/tmp/kehu-it-", 13) == 0 || getenv("TMPDIR"));
    if (geteuid() == 0) {
        struct stat st;
        struct passwd *pw = getpwnam("postgres");
        CHECK(pw && stat(dir, &st) == 0 && st.st_uid == pw->pw_uid);
    }
    char want[64];
    snprintf(want, sizeof want, "host=127.0.0.1 port=%d user=kehu dbname=kehu", e.pg_port);
    CHECK(strcmp(e.conninfo, want) == 0);
    CHECK(e.kehud_pid == 0);
    CHECK(strcmp(e.admin_password, "admin-pass-1234") == 0);

    CHECK(th_pg_exec(&e, "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL);"
                         "INSERT INTO t VALUES (1, '张三'), (2, 'wang xiao ming');") == 0);
    CHECK(th_pg_exec(&e, "SELECT count(*) FROM t") == 0);
    CHECK(th_pg_exec(&e, "") == 0);
    printf("# an expected error follows\n");
    CHECK(th_pg_exec(&e, "INSERT INTO t VALUES (1, 'duplicate')") < 0);
    CHECK(select_name_is(e.conninfo, "张三"));
    pm = read_postmaster_pid(dir);
    CHECK(pm > 0 && alive(pm));

    REQUIRE(th_pg_stop(&e) == 0);
    CHECK(!pg_connect_ok(e.conninfo));
    CHECK(!alive(pm));
    printf("# an expected connection error follows\n");
    CHECK(th_pg_exec(&e, "SELECT 1") < 0);

    t0 = now_ms();
    REQUIRE(th_pg_start(&e) == 0);
    printf("# restarted in %lld ms\n", now_ms() - t0);
    CHECK(pg_connect_ok(e.conninfo));
    CHECK(select_name_is(e.conninfo, "张三"));
    pm = read_postmaster_pid(dir);
    CHECK(pm > 0);

out:
    th_env_down(&e);
    CHECK(e.dir[0] == '\0');
    if (dir[0]) {
        CHECK(!dir_exists(dir));
        CHECK(procs_mentioning(dir) == 0);
        CHECK(pm == 0 || !alive(pm));
    }
    th_env_down(&e); /* twice: a no-op */
}

static void test_keep_dir(void)
{
    printf("# KEHU_KEEP_TEST_DIR\n");
    struct th_env e = {0};
    char dir[256] = "";
    REQUIRE(th_pg_create(&e) == 0);
    snprintf(dir, sizeof dir, "%s", e.dir);
    setenv("KEHU_KEEP_TEST_DIR", "1", 1);
    th_env_down(&e);
    unsetenv("KEHU_KEEP_TEST_DIR");
    CHECK(dir_exists(dir));
    char pgdata[300];
    snprintf(pgdata, sizeof pgdata, "%s/pg/PG_VERSION", dir);
    CHECK(access(pgdata, F_OK) == 0);
    CHECK(procs_mentioning(dir) == 0);
out:
    th_env_down(&e);
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A test process that dies without th_env_down leaves its cluster running;
 * the next th_pg_create removes it. */
static void test_stale_sweep(void)
{
    printf("# stale dirs of dead test processes\n");
    struct th_env e = {0};
    int p[2];
    char dir[256] = "";
    long pm = 0;
    REQUIRE(pipe(p) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        struct th_env c = {0};
        int ok = th_pg_create(&c) == 0;
        ssize_t w = write(p[1], ok ? c.dir : "", sizeof c.dir);
        (void)w;
        _exit(0); /* "crash": no th_env_down */
    }
    close(p[1]);
    ssize_t n = read(p[0], dir, sizeof dir);
    close(p[0]);
    waitpid(child, NULL, 0);
    REQUIRE(n == (ssize_t)sizeof dir && dir[0]);
    pm = read_postmaster_pid(dir);
    CHECK(pm > 0 && alive(pm));
    printf("# left behind: %s (postmaster %ld); a removal notice follows\n", dir, pm);
    REQUIRE(th_pg_create(&e) == 0);
    CHECK(!dir_exists(dir));
    CHECK(!alive(pm));
    CHECK(dir_exists(e.dir));
out:
    th_env_down(&e);
    if (dir[0] && dir_exists(dir)) {
        /* Last resort so a failing run does not leak a cluster. */
        struct th_env c = {0};
        snprintf(c.dir, sizeof c.dir, "%s", dir);
        snprintf(c.pg_bindir, sizeof c.pg_bindir, "/usr/lib/postgresql/15/bin");
        th_env_down(&c);
    }
}

/* ---- part 2: a fake kehud ------------------------------------------------ */

static const char fake_kehud[] =
    "#!/bin/sh\n"
    "# Fake kehud for the harness self-test.\n"
    "cmd=$1; shift\n"
    "conf=; args=\n"
    "while [ $# -gt 0 ]; do\n"
    "  case $1 in\n"
    "    --config) conf=$2; shift 2;;\n"
    "    *) args=\"$args $1\"; shift;;\n"
    "  esac\n"
    "done\n"
    "echo \"fake kehud: $cmd$args (config $conf)\" >&2\n"
    "[ -r \"$conf\" ] || { echo 'fake kehud: no readable --config' >&2; exit 2; }\n"
    "case $cmd in\n"
    "  migrate) exit 0;;\n"
    "  init) [ \"$KEHU_ADMIN_PASSWORD\" = admin-pass-1234 ] || "
    "{ echo 'fake kehud: bad KEHU_ADMIN_PASSWORD' >&2; exit 3; }; exit 0;;\n"
    "  version) echo 'kehud fake 0.0'; exit 0;;\n"
    "  exit) exit $args;;\n"
    "  serve) ;;\n"
    "  *) echo \"fake kehud: unknown command $cmd\" >&2; exit 64;;\n"
    "esac\n"
    "case \" $args \" in *' --fail-fast '*) echo 'fake kehud: failing' >&2; exit 7;; esac\n"
    "port=$(sed -n 's/^port = //p' \"$conf\")\n"
    "exec python3 -c '\n"
    "import signal, socket, sys, time\n"
    "port = int(sys.argv[1]); flags = sys.argv[2:]\n"
    "if \"--ignore-term\" in flags:\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "else:\n"
    "    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "if \"--slow-start\" in flags:\n"
    "    time.sleep(0.5)\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((\"127.0.0.1\", port)); s.listen(16)\n"
    "print(\"fake kehud: listening on\", port, file=sys.stderr, flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    while True:\n"
    "        d = c.recv(4096)\n"
    "        if not d: break\n"
    "        c.sendall(d)\n"
    "    c.close()\n"
    "' \"$port\" $args\n";

static int echo_roundtrip(int port)
{
    int fd = th_connect_raw(port);
    if (fd < 0)
        return 0;
    char buf[16] = "";
    int ok = write(fd, "ping", 4) == 4 && recv(fd, buf, 4, MSG_WAITALL) == 4 &&
             memcmp(buf, "ping", 4) == 0;
    close(fd);
    return ok;
}

static void test_kehud(void)
{
    printf("# fake kehud\n");
    struct th_env e = {0};
    char fakedir[] = "/tmp/kehu-fake-XXXXXX";
    char fake[300], dir[256] = "", out[256];
    long pm = 0;
    if (!mkdtemp(fakedir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(fake, sizeof fake, "%s/kehud", fakedir);
    FILE *f = fopen(fake, "w");
    REQUIRE(f != NULL);
    fputs(fake_kehud, f);
    fclose(f);
    chmod(fake, 0755);

    /* A missing binary fails before anything is created. */
    setenv("KEHUD_BIN", "/nonexistent/kehud", 1);
    printf("# an expected error follows\n");
    CHECK(th_env_up(&e, NULL) < 0);
    CHECK(e.dir[0] == '\0' && e.kehud_pid == 0);

    setenv("KEHUD_BIN", fake, 1);
    setenv("KEHU_ADMIN_PASSWORD", "not-the-harness-one", 1); /* must be overridden */
    const char *const serve_args[] = {"--slow-start", "--extra", NULL};
    long long t0 = now_ms();
    REQUIRE(th_env_up(&e, serve_args) == 0);
    printf("# env up in %lld ms: dir %s, pg %d, kehud %d (pid %ld)\n", now_ms() - t0, e.dir,
           e.pg_port, e.port, (long)e.kehud_pid);
    snprintf(dir, sizeof dir, "%s", e.dir);
    pm = read_postmaster_pid(dir);
    CHECK(e.kehud_pid > 0);
    CHECK(e.port > 0 && e.port != e.pg_port);
    CHECK(strcmp(e.kehud_bin, fake) == 0);
    CHECK(strcmp(th_kehud_log(&e), e.log_path) == 0);
    char want[600];
    snprintf(want, sizeof want, "\nport = %d\n", e.port);
    CHECK(file_contains(e.config, want));
    snprintf(want, sizeof want, "\ndb = %s\n", e.conninfo);
    CHECK(file_contains(e.config, want));
    CHECK(file_contains(e.config, "\nlisten = 127.0.0.1\n"));
    CHECK(file_contains(e.config, "\nhash_mem = 16384\n"));
    snprintf(want, sizeof want, "fake kehud: serve --slow-start --extra (config %s)", e.config);
    CHECK(file_contains(th_kehud_log(&e), want));
    CHECK(file_contains(th_kehud_log(&e), "fake kehud: migrate (config"));
    CHECK(file_contains(th_kehud_log(&e), "fake kehud: init (config"));
    CHECK(!file_contains(th_kehud_log(&e), "bad KEHU_ADMIN_PASSWORD"));
    CHECK(th_pg_exec(&e, "SELECT 1") == 0);
    CHECK(echo_roundtrip(e.port));

    /* th_kehud_run: stdout captured, status returned, truncation. */
    const char *const version[] = {"version", NULL};
    CHECK(th_kehud_run(&e, version, out, sizeof out) == 0);
    CHECK(strcmp(out, "kehud fake 0.0\n") == 0);
    CHECK(th_kehud_run(&e, version, out, 5) == 0 && strcmp(out, "kehu") == 0);
    CHECK(th_kehud_run(&e, version, NULL, 0) == 0);
    const char *const exit5[] = {"exit", "5", NULL};
    CHECK(th_kehud_run(&e, exit5, out, sizeof out) == 5 && out[0] == '\0');
    const char *const initcmd[] = {"init", NULL};
    CHECK(th_kehud_run(&e, initcmd, out, sizeof out) == 0);

    /* Still serving; a short wait times out. */
    CHECK(th_kehud_wait(&e, 100) == -1);
    CHECK(e.kehud_pid > 0);

    /* SIGTERM: the fake exits 0. */
    CHECK(th_kehud_signal(&e, SIGTERM) == 0);
    CHECK(th_kehud_wait(&e, 5000) == 0);
    CHECK(e.kehud_pid == 0);
    CHECK(th_kehud_wait(&e, 0) == 0); /* remembered */
    printf("# an expected error follows\n");
    CHECK(th_kehud_signal(&e, SIGTERM) < 0);

    /* Restart; then restart while running (stops the old one first). */
    REQUIRE(th_kehud_start(&e, NULL) == 0);
    pid_t old = e.kehud_pid;
    CHECK(echo_roundtrip(e.port));
    REQUIRE(th_kehud_start(&e, NULL) == 0);
    CHECK(e.kehud_pid != old && !alive(old));
    CHECK(echo_roundtrip(e.port));

    /* Killed by a signal: 128 + signal. */
    CHECK(th_kehud_signal(&e, SIGKILL) == 0);
    CHECK(th_kehud_wait(&e, 5000) == 128 + SIGKILL);

    /* A kehud that exits during startup fails fast with its status. */
    const char *const failing[] = {"--fail-fast", NULL};
    t0 = now_ms();
    printf("# an expected error follows\n");
    CHECK(th_kehud_start(&e, failing) < 0);
    CHECK(now_ms() - t0 < 5000);
    CHECK(e.kehud_pid == 0 && e.kehud_status == 7);

    /* The database going away and coming back does not disturb kehud. */
    REQUIRE(th_kehud_start(&e, NULL) == 0);
    CHECK(th_pg_stop(&e) == 0);
    CHECK(th_pg_start(&e) == 0);
    CHECK(th_pg_exec(&e, "SELECT 1") == 0);
    pm = read_postmaster_pid(dir);

    /* th_env_down on a kehud that ignores SIGTERM: SIGKILL after 10 s. */
    const char *const stubborn[] = {"--ignore-term", NULL};
    REQUIRE(th_kehud_start(&e, stubborn) == 0);
    old = e.kehud_pid;
    t0 = now_ms();
    th_env_down(&e);
    long long took = now_ms() - t0;
    printf("# th_env_down took %lld ms\n", took);
    CHECK(took >= 9500 && took < 20000);
    CHECK(!alive(old));
    CHECK(e.kehud_pid == 0 && e.kehud_status == 128 + SIGKILL);

out:
    th_env_down(&e);
    th_env_down(&e);
    if (dir[0]) {
        CHECK(!dir_exists(dir));
        CHECK(procs_mentioning(dir) == 0);
        CHECK(pm == 0 || !alive(pm));
    }
    unsetenv("KEHUD_BIN");
    nftw(fakedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_sockets();
    test_pg();
    test_keep_dir();
    test_stale_sweep();
    test_kehud();
    if (failures)
        printf("%d check(s) FAILED\n", failures);
    else
        printf("all checks passed\n");
    return failures ? 1 : 0;
}
