/* Integration-test harness: a throwaway PostgreSQL and a real kehud.
 *
 * The harness only manages processes and files; it does not speak the Kehu
 * protocol and does not depend on cmocka. Every th_ function that can fail
 * returns 0 (or a value >= 0) on success and a negative number on error,
 * after printing what failed to stderr together with the tail of the log
 * that explains it (DIR/initdb.log, DIR/pg.log, DIR/pg_ctl.log,
 * DIR/kehud.log).
 *
 * Layout of the temporary directory DIR (e->dir):
 *   DIR/pg          the cluster (owned by the postgres user when run as root)
 *   DIR/.s.PGSQL.N  PostgreSQL's socket (DIR is the socket directory)
 *   DIR/kehud.conf  the config file passed to every kehud invocation
 *   DIR/kehud.log   kehud's stdout+stderr, appended across restarts
 *   DIR/initdb.log, DIR/pg.log, DIR/pg_ctl.log
 *   DIR/th-owner    pid and start time of the test process (see th_pg_create)
 *
 * PostgreSQL's initdb and postgres refuse to run as root: when the harness
 * runs as root they are run as the `postgres` user through runuser; as any
 * other user they are run directly. kehud always runs as the current user.
 *
 * Environment:
 *   KEHU_PG_BINDIR       PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
 *   KEHUD_BIN            kehud binary (default: the compile-time KEHUD_BIN macro)
 *   KEHU_KEEP_TEST_DIR=1 th_env_down keeps DIR (processes are still stopped)
 *   TMPDIR               where DIR is made, if postgres can reach it (else /tmp)
 *
 * Every child starts with stdin on /dev/null, no other inherited fds
 * (th_connect_raw sockets never leak into kehud or the postmaster), an empty
 * signal mask and default signal dispositions. Every kehud child (migrate,
 * init, serve, th_kehud_run) gets KEHU_ADMIN_PASSWORD=e->admin_password in
 * its environment, whatever the test process has.
 *
 * Not thread-safe; call from the test's main thread (kehud is started with
 * PR_SET_PDEATHSIG so it dies with the thread that started it). A zeroed
 * struct th_env (`struct th_env e = {0};`) is safe to pass to th_env_down. */
#ifndef KEHU_TEST_HARNESS_H
#define KEHU_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#define TH_ADMIN_PASSWORD "admin-pass-1234"
/* The key kehud encrypts ID numbers with in tests; th_env_up also puts it in
 * this process's PGOPTIONS, so the tests' own database sessions can seal and
 * open ID numbers as kehud's do. */
#define TH_ID_KEY "6b6568752d746573742d6b65792d303132333435363738396162636465663031"

struct th_env {
    char dir[256];           /* temp dir, e.g. /tmp/kehu-it-XXXXXX */
    char pg_bindir[256];
    int pg_port;             /* PostgreSQL's TCP port (127.0.0.1) */
    char conninfo[512];      /* "host=127.0.0.1 port=%d user=kehu dbname=kehu": the owner, a superuser
                                (kehud's db_owner, for migrate, init and demo) */
    char app_conninfo[512];  /* the same as user=kehu_app: kehud serves with it (db) */
    char kehud_bin[512];     /* from env KEHUD_BIN, else the KEHUD_BIN macro */
    int port;                /* kehud's port */
    pid_t kehud_pid;         /* 0 when not running */
    char admin_password[64]; /* given to `kehud init` (TH_ADMIN_PASSWORD) */
    char config[300];        /* DIR/kehud.conf */
    int kehud_status;        /* last exit status of `kehud serve` as returned
                                by th_kehud_wait, -1 if none yet */
    char log_path[300];      /* DIR/kehud.log (see th_kehud_log) */
};

/* Whole environment: th_pg_create, write DIR/kehud.conf, `kehud migrate`,
 * `kehud init`, then `kehud serve` (th_kehud_start). Waits until kehud's
 * port accepts (30 s). extra_serve_args: NULL-terminated, may be NULL,
 * appended to `kehud serve --config F`. Overwrites *e. On failure everything
 * already started is torn down again (th_env_down), so e is left inert.
 * Ignores SIGPIPE in the calling process. */
int th_env_up(struct th_env *e, const char *const *extra_serve_args);

/* Only the database part of th_env_up: zero *e, mkdtemp, initdb, start on a
 * free port, CREATE DATABASE kehu. Also fills config, log_path and
 * admin_password (not kehud_bin, not port). Cleans up after itself on failure.
 * First removes the temp dirs (and stops the clusters) of earlier test
 * processes that died without th_env_down: each dir names its test process
 * in DIR/th-owner; dirs kept with KEHU_KEEP_TEST_DIR (DIR/th-keep) and dirs
 * of live processes are left alone. */
int th_pg_create(struct th_env *e);

/* For a cluster made with th_pg_create whose database was filled some other
 * way (a restored backup): resolves kehud_bin, picks kehud's port and writes
 * DIR/kehud.conf as th_env_up does, without `kehud migrate` or `init`;
 * th_kehud_start then serves it. */
int th_kehud_config(struct th_env *e);

/* SIGTERM kehud (SIGKILL after 10 s), stop PostgreSQL (fast; immediate and
 * SIGKILL if that fails), rm -rf DIR unless KEHU_KEEP_TEST_DIR=1. Safe to call
 * twice, on a zeroed struct and after a partial or failed setup. */
void th_env_down(struct th_env *e);

/* pg_ctl -m fast stop / start again on the same port and wait until it
 * accepts connections. */
int th_pg_stop(struct th_env *e);
int th_pg_start(struct th_env *e);

/* Runs SQL (may hold several statements) as the superuser `kehu` on the
 * database `kehu` with a blocking libpq connection; 0 when every statement
 * succeeded. */
int th_pg_exec(struct th_env *e, const char *sql);

/* Starts `kehud serve --config F EXTRA...` (stopping a running one first,
 * as th_env_down would) and waits (30 s) until its port accepts a TCP
 * connection. If kehud exits meanwhile, fails at once; its status is then in
 * e->kehud_status. The readiness probe is one connection that is closed
 * without sending anything. */
int th_kehud_start(struct th_env *e, const char *const *extra_serve_args);

/* kill(kehud_pid, sig); -1 if kehud is not running. */
int th_kehud_signal(struct th_env *e, int sig);

/* Waits for the running kehud to exit: returns its exit status (0..255) or
 * 128+signal if a signal killed it, and sets kehud_pid to 0. -1 on timeout
 * (kehud keeps running). timeout_ms < 0 waits forever. If kehud is not
 * running, returns the status it last exited with (-1 if none). */
int th_kehud_wait(struct th_env *e, int timeout_ms);

/* Runs `kehud ARGS... --config CONFIG` to completion (60 s, then SIGKILL and
 * -1), stdout captured into out (NUL-terminated, truncated to outsz-1; out
 * may be NULL), stderr appended to kehud.log. Returns the exit status
 * (128+signal if killed), or -1 if it could not be run. */
int th_kehud_run(struct th_env *e, const char *const *args, char *out, size_t outsz);

/* Path of kehud's log (stdout+stderr of every kehud run, appended). */
const char *th_kehud_log(struct th_env *e);

/* A currently free TCP port on 127.0.0.1 (bind :0, read it, close). */
int th_free_port(void);

/* Blocking TCP connect to 127.0.0.1:port; the fd (close-on-exec), or -1. */
int th_connect_raw(int port);

#endif
