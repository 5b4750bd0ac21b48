/* Helpers for integration tests: one environment (PostgreSQL + kehud) per
 * test program, clients connected through libkehu, and request builders. */
#ifndef KEHU_ITEST_H
#define KEHU_ITEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "harness.h"
#include "kehu.h"

extern struct th_env it_env;

/* cmocka group setup/teardown: th_env_up / th_env_down. */
int it_setup(void **state);
int it_teardown(void **state);
/* The exit code: cmocka does not count a failed group teardown, this does. */
int it_finish(int failed);

/* "127.0.0.1:PORT" of the test's kehud. */
const char *it_server(void);
/* Connected and past Hello; fails the test otherwise. */
kehu_client *it_connect(void);
/* Connected and logged in; fails the test otherwise. */
kehu_client *it_login(const char *username, const char *password);
kehu_client *it_admin(void);

/* Sends req, expects `code`; returns the response (free with kehu_response_free). */
Kehu__V1__Response *it_call(kehu_client *c, Kehu__V1__Request *req, int code);
/* Same, freeing the response; returns the status field for checks. */
void it_expect(kehu_client *c, Kehu__V1__Request *req, int code, const char *field);

/* Request builders (the returned request points to static storage valid
 * until the next call of the same builder). */
Kehu__V1__Request *it_req_ping(void);
Kehu__V1__Request *it_req_whoami(void);
Kehu__V1__Request *it_req_org_add(const char *name, Kehu__V1__UnitKind kind, const char *parent);
Kehu__V1__Request *it_req_user_add(const char *username, Kehu__V1__Role role, const char *unit, const char *password);
Kehu__V1__Request *it_req_user_list(const char *unit, Kehu__V1__Role role);

/* Adds a user as admin (creating the unit first is the caller's job). */
void it_add_user(const char *username, Kehu__V1__Role role, const char *unit, const char *password);

/* Raw sockets, for what libkehu would never send. */
int it_raw_connect(void);                         /* TCP only, no Hello */
void it_raw_write(int fd, const void *data, size_t n);
void it_raw_send(int fd, uint64_t id, Kehu__V1__Request *req);
void it_raw_hello(int fd, uint32_t version);
/* The next frame, or NULL when the server closed the connection (*eof = 1)
 * or nothing came within timeout_ms (*eof = 0). Free with
 * kehu__v1__frame__free_unpacked(f, NULL). */
Kehu__V1__Frame *it_raw_recv(int fd, int timeout_ms, int *eof);
/* Expects a response frame with this id and code, then (if closes) EOF. */
void it_raw_expect(int fd, uint64_t id, int code, int closes);

/* The kehu command line run as scripts run it: a child process with a
 * private XDG_CONFIG_HOME (so a token store of its own), also its working
 * directory, for files the test hands to kehu or takes back. */
struct it_cli {
    char dir[128];
    char out[65536]; /* stdout of the last it_cli_run */
    char err[8192];  /* stderr of the last it_cli_run */
};
/* Makes the directory (mkdtemp); -1 if that fails. For group setup. */
int it_cli_open(struct it_cli *c);
/* Removes the directory and all in it. */
void it_cli_close(struct it_cli *c);
/* In a child process only: the test's server and token store
 * (KEHU_PASSWORD and KEHU_NEW_PASSWORD unset; LANG=C, LC_ALL, LC_MESSAGES
 * and LANGUAGE unset, so English), then the extra environment
 * ("NAME=value", NULL-terminated, may be NULL), cwd c->dir, and exec of kehu
 * with args (NULL-terminated). Never returns. */
_Noreturn void it_cli_exec(const struct it_cli *c, const char *const *env, const char *const *args);
/* Runs kehu to its end as it_cli_exec does, stdin from /dev/null, stdout and
 * stderr into c->out and c->err; returns the exit status (128 + the signal
 * if one killed it). */
int it_cli_run(struct it_cli *c, const char *const *env, const char *const *args);
/* Fails the test unless rc == want and needle (if not NULL) is in c->out or
 * c->err, showing both. */
void it_cli_expect(const struct it_cli *c, int rc, int want, const char *needle);
/* The number after the first "key": in c->out; fails the test without one. */
long long it_cli_json_num(const struct it_cli *c, const char *key);
/* For a test of the command line alone: its kehu, and group setup/teardown
 * that are it_setup and it_teardown with it_cli_open and it_cli_close of it. */
extern struct it_cli it_kehu;
int it_cli_setup(void **state);
int it_cli_teardown(void **state);
/* The NULL-terminated lists it_cli_run takes: IT_ARGS("ping", "--json"). */
#define IT_ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define IT_ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* The next pushed event, passing over "events.missed": a watch opened as
 * kehud starts may be told to refresh once kehud's LISTEN is in place. */
Kehu__V1__Event *it_next_event(kehu_client *c, int timeout_ms, struct kehu_status *st);
/* The next pushed event, passing over "events.missed" and announcements of customers' creation:
 * NOTIFY reaches kehud a moment after the request that added the customer
 * was answered, so one may still arrive after a later subscription. */
Kehu__V1__Event *it_next_change(kehu_client *c, int timeout_ms, struct kehu_status *st);

/* The organisation most customer tests work in: 华东区 > 上海分行 > 上海一组
 * and 北京分行; li.lei and zhang.wei (account managers, 上海一组), wang.fang
 * (branch manager, 上海分行), chen.jing (service agent, 上海分行), zhao.min
 * (auditor), bj.am (account manager, 北京分行), all with IT_PASSWORD, each
 * logged in on a connection of their own. */
#define IT_PASSWORD "password-1"
struct it_org {
    kehu_client *admin, *li, *zhang, *mgr, *agent, *auditor, *bj;
};
void it_org_build(struct it_org *o);
void it_org_close(struct it_org *o);

/* One of kehud's counters in `admin stats` (the connection layer's and
 * others, AdminStatsResult.limits), read by admin (an admin's client); fails
 * the test when there is no such counter. */
uint64_t it_admin_count(kehu_client *admin, const char *name);

/* The test's database straight, for data a test writes or reads behind
 * kehud's back; each fails the test on an error. A connection (PQfinish it);
 * a statement run for its effect; the one value of a one-row query. */
PGconn *it_pg_open(void);
void it_pg_do(PGconn *c, const char *sql);
int64_t it_pg_i64(PGconn *c, const char *sql);

/* Milliseconds since an arbitrary start. */
int64_t it_now_ms(void);

#endif
