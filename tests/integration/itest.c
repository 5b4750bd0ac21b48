#include "itest.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct th_env it_env;

int it_setup(void **state)
{
    (void)state;
    return th_env_up(&it_env, NULL) < 0 ? -1 : 0;
}

/* kehud must stop cleanly on SIGTERM and must never have tripped a
 * sanitizer: the log is scanned for their reports. */
static int kehud_was_clean(void)
{
    int rc = 0;
    if (it_env.kehud_pid > 0) {
        th_kehud_signal(&it_env, SIGTERM);
        int status = th_kehud_wait(&it_env, 20000);
        if (status != 0) {
            fprintf(stderr, "itest: kehud exited with status %d on SIGTERM\n", status);
            rc = -1;
        }
    }
    FILE *f = fopen(th_kehud_log(&it_env), "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, "runtime error:") || strstr(line, "Sanitizer") || strstr(line, "fatal:")) {
            fprintf(stderr, "itest: kehud log: %s", line);
            rc = -1;
        }
    }
    if (f)
        fclose(f);
    return rc;
}

static int teardown_failed;

int it_teardown(void **state)
{
    (void)state;
    int rc = kehud_was_clean();
    th_env_down(&it_env);
    teardown_failed |= rc != 0;
    return rc;
}

int it_finish(int failed)
{
    return failed || teardown_failed ? 1 : 0;
}

const char *it_server(void)
{
    static char s[64];
    snprintf(s, sizeof s, "127.0.0.1:%d", it_env.port);
    return s;
}

int64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

kehu_client *it_connect(void)
{
    struct kehu_status st;
    kehu_client *c = kehu_connect(it_server(), 10000, &st);
    if (!c)
        fail_msg("connect to %s: %s", it_server(), st.message);
    return c;
}

kehu_client *it_login(const char *username, const char *password)
{
    kehu_client *c = it_connect();
    struct kehu_status st;
    int code = kehu_login(c, username, password, NULL, &st);
    if (code != KEHU__V1__CODE__OK)
        fail_msg("login %s: %s %s", username, kehu_code_name(code), st.message);
    return c;
}

kehu_client *it_admin(void)
{
    return it_login("admin", TH_ADMIN_PASSWORD);
}

Kehu__V1__Response *it_call(kehu_client *c, Kehu__V1__Request *req, int code)
{
    struct kehu_status st;
    Kehu__V1__Response *resp = kehu_call(c, req, &st);
    if (!resp)
        fail_msg("call failed on the wire: %s", st.message);
    if (st.code != code)
        fail_msg("expected %s, got %s: %s [%s]", kehu_code_name(code), kehu_code_name(st.code), st.message, st.field);
    return resp;
}

void it_expect(kehu_client *c, Kehu__V1__Request *req, int code, const char *field)
{
    Kehu__V1__Response *resp = it_call(c, req, code);
    if (field)
        assert_string_equal(resp->status->field, field);
    kehu_response_free(resp);
}

Kehu__V1__Request *it_req_ping(void)
{
    static Kehu__V1__Ping ping;
    static Kehu__V1__Request req;
    kehu__v1__ping__init(&ping);
    kehu__v1__request__init(&req);
    req.op_case = KEHU__V1__REQUEST__OP_PING;
    req.ping = &ping;
    return &req;
}

Kehu__V1__Request *it_req_whoami(void)
{
    static Kehu__V1__WhoAmI w;
    static Kehu__V1__Request req;
    kehu__v1__who_am_i__init(&w);
    kehu__v1__request__init(&req);
    req.op_case = KEHU__V1__REQUEST__OP_WHOAMI;
    req.whoami = &w;
    return &req;
}

Kehu__V1__Request *it_req_org_add(const char *name, Kehu__V1__UnitKind kind, const char *parent)
{
    static Kehu__V1__OrgAdd m;
    static Kehu__V1__Request req;
    kehu__v1__org_add__init(&m);
    kehu__v1__request__init(&req);
    m.name = (char *)name;
    m.kind = kind;
    m.parent = (char *)parent;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_ADD;
    req.org_add = &m;
    return &req;
}

Kehu__V1__Request *it_req_user_add(const char *username, Kehu__V1__Role role, const char *unit, const char *password)
{
    static Kehu__V1__UserAdd m;
    static Kehu__V1__Request req;
    kehu__v1__user_add__init(&m);
    kehu__v1__request__init(&req);
    m.username = (char *)username;
    m.role = role;
    m.unit = (char *)unit;
    m.password = (char *)password;
    req.op_case = KEHU__V1__REQUEST__OP_USER_ADD;
    req.user_add = &m;
    return &req;
}

Kehu__V1__Request *it_req_user_list(const char *unit, Kehu__V1__Role role)
{
    static Kehu__V1__UserList m;
    static Kehu__V1__Request req;
    kehu__v1__user_list__init(&m);
    kehu__v1__request__init(&req);
    m.unit = (char *)(unit ? unit : "");
    m.role = role;
    req.op_case = KEHU__V1__REQUEST__OP_USER_LIST;
    req.user_list = &m;
    return &req;
}

void it_add_user(const char *username, Kehu__V1__Role role, const char *unit, const char *password)
{
    kehu_client *a = it_admin();
    it_expect(a, it_req_user_add(username, role, unit, password), KEHU__V1__CODE__OK, NULL);
    kehu_close(a);
}

/* ---- raw sockets */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

int it_raw_connect(void)
{
    int fd = th_connect_raw(it_env.port);
    if (fd < 0)
        fail_msg("raw connect to %d failed", it_env.port);
    return fd;
}

void it_raw_write(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("raw write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

void it_raw_send(int fd, uint64_t id, Kehu__V1__Request *req)
{
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = id;
    f.body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f.request = req;
    struct wire_buf b = { 0 };
    assert_true(wire_pack(&b, &f) > 0);
    it_raw_write(fd, b.data, b.len);
    wire_buf_free(&b);
}

void it_raw_hello(int fd, uint32_t version)
{
    Kehu__V1__Hello h = KEHU__V1__HELLO__INIT;
    h.protocol_version = version;
    h.client = "raw test";
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_HELLO;
    req.hello = &h;
    it_raw_send(fd, 1, &req);
}

Kehu__V1__Frame *it_raw_recv(int fd, int timeout_ms, int *eof)
{
    static struct wire_decoder dec;
    static int dec_fd = -1;
    if (dec_fd != fd) {
        wire_decoder_free(&dec);
        wire_decoder_init(&dec, 64u << 20);
        dec_fd = fd;
    }
    *eof = 0;
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        const uint8_t *p;
        size_t len;
        if (wire_decoder_next(&dec, &p, &len) == WIRE_FRAME) {
            Kehu__V1__Frame *f = kehu__v1__frame__unpack(NULL, len, p);
            assert_non_null(f);
            return f;
        }
        int left = (int)(deadline - it_now_ms());
        if (left <= 0)
            return NULL;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, left) <= 0)
            continue;
        char buf[65536];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            *eof = 1;
            dec_fd = -1;
            wire_decoder_free(&dec);
            return NULL;
        }
        wire_decoder_feed(&dec, buf, (size_t)n);
    }
}

void it_raw_expect(int fd, uint64_t id, int code, int closes)
{
    int eof;
    Kehu__V1__Frame *f = it_raw_recv(fd, 10000, &eof);
    if (!f)
        fail_msg("expected a frame, got %s", eof ? "end of connection" : "nothing (timeout)");
    assert_int_equal(f->body_case, KEHU__V1__FRAME__BODY_RESPONSE);
    assert_int_equal(f->id, id);
    if ((int)f->response->status->code != code)
        fail_msg("expected %s, got %s: %s", kehu_code_name(code), kehu_code_name(f->response->status->code),
                 f->response->status->message);
    kehu__v1__frame__free_unpacked(f, NULL);
    if (closes) {
        f = it_raw_recv(fd, 10000, &eof);
        if (f)
            kehu__v1__frame__free_unpacked(f, NULL);
        assert_null(f);
        assert_true(eof);
    }
}

/* ---- the kehu command line */

#include <fcntl.h>
#include <sys/wait.h>

int it_cli_open(struct it_cli *c)
{
    snprintf(c->dir, sizeof c->dir, "/tmp/kehu-cli-XXXXXX");
    return mkdtemp(c->dir) ? 0 : -1;
}

void it_cli_close(struct it_cli *c)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", c->dir);
}

struct it_cli it_kehu;

int it_cli_setup(void **state)
{
    if (it_cli_open(&it_kehu) < 0)
        return -1;
    return it_setup(state);
}

int it_cli_teardown(void **state)
{
    it_cli_close(&it_kehu);
    return it_teardown(state);
}

_Noreturn void it_cli_exec(const struct it_cli *c, const char *const *env, const char *const *args)
{
    if (chdir(c->dir) < 0)
        _exit(126);
    setenv("XDG_CONFIG_HOME", c->dir, 1);
    setenv("KEHU_SERVER", it_server(), 1);
    unsetenv("KEHU_PASSWORD");
    unsetenv("KEHU_NEW_PASSWORD");
    /* English unless the test names a language (LANG=zh_CN.UTF-8), whatever
     * the locale the tests run in */
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    unsetenv("LANGUAGE");
    setenv("LANG", "C", 1);
    for (int i = 0; env && env[i]; i++)
        putenv((char *)env[i]);
    const char *argv[64] = { KEHU_BIN };
    int n = 1;
    for (int i = 0; args[i]; i++) {
        if (n == 63) { /* a test with this many arguments wants a bigger argv, not a shorter command */
            fprintf(stderr, "it_cli_exec: too many arguments\n");
            _exit(127);
        }
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    execv(KEHU_BIN, (char *const *)argv);
    _exit(127);
}

/* Reads a file the child wrote into buf, NUL-terminated (empty if missing). */
static void slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
}

int it_cli_run(struct it_cli *c, const char *const *env, const char *const *args)
{
    /* files, not pipes: kehu may write more than a pipe holds before it exits */
    char outp[160], errp[160];
    snprintf(outp, sizeof outp, "%s/out", c->dir);
    snprintf(errp, sizeof errp, "%s/err", c->dir);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        it_cli_exec(c, env, args);
    }
    int status;
    waitpid(pid, &status, 0);
    slurp(outp, c->out, sizeof c->out);
    slurp(errp, c->err, sizeof c->err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void it_cli_expect(const struct it_cli *c, int rc, int want, const char *needle)
{
    if (rc != want || (needle && !strstr(c->out, needle) && !strstr(c->err, needle)))
        fail_msg("exit %d (wanted %d), looking for '%s'\nstdout: %s\nstderr: %s", rc, want, needle ? needle : "",
                 c->out, c->err);
}

long long it_cli_json_num(const struct it_cli *c, const char *key)
{
    char k[80];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(c->out, k);
    if (!p)
        fail_msg("stdout lacks %s\nstdout: %s", k, c->out);
    return strtoll(p + strlen(k), NULL, 10);
}

Kehu__V1__Event *it_next_event(kehu_client *c, int timeout_ms, struct kehu_status *st)
{
    for (;;) {
        Kehu__V1__Event *ev = kehu_next_event(c, timeout_ms, st);
        if (!ev || strcmp(ev->kind, "events.missed") != 0)
            return ev;
        kehu_event_free(ev);
    }
}

Kehu__V1__Event *it_next_change(kehu_client *c, int timeout_ms, struct kehu_status *st)
{
    for (;;) {
        Kehu__V1__Event *ev = it_next_event(c, timeout_ms, st);
        if (!ev || strcmp(ev->kind, "customer.created") != 0)
            return ev;
        kehu_event_free(ev);
    }
}

void it_org_build(struct it_org *o)
{
    const int ok = KEHU__V1__CODE__OK;
    o->admin = it_admin();
    it_expect(o->admin, it_req_org_add("华东区", KEHU__V1__UNIT_KIND__REGION, "总行"), ok, NULL);
    it_expect(o->admin, it_req_org_add("上海分行", KEHU__V1__UNIT_KIND__BRANCH, "华东区"), ok, NULL);
    it_expect(o->admin, it_req_org_add("上海一组", KEHU__V1__UNIT_KIND__TEAM, "上海分行"), ok, NULL);
    it_expect(o->admin, it_req_org_add("北京分行", KEHU__V1__UNIT_KIND__BRANCH, "总行"), ok, NULL);
    static const struct {
        const char *user, *unit;
        Kehu__V1__Role role;
        size_t slot;
    } users[] = {
        { "li.lei", "上海一组", KEHU__V1__ROLE__ACCOUNT_MANAGER, offsetof(struct it_org, li) },
        { "zhang.wei", "上海一组", KEHU__V1__ROLE__ACCOUNT_MANAGER, offsetof(struct it_org, zhang) },
        { "wang.fang", "上海分行", KEHU__V1__ROLE__BRANCH_MANAGER, offsetof(struct it_org, mgr) },
        { "chen.jing", "上海分行", KEHU__V1__ROLE__SERVICE_AGENT, offsetof(struct it_org, agent) },
        { "zhao.min", "总行", KEHU__V1__ROLE__AUDITOR, offsetof(struct it_org, auditor) },
        { "bj.am", "北京分行", KEHU__V1__ROLE__ACCOUNT_MANAGER, offsetof(struct it_org, bj) },
    };
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        it_expect(o->admin, it_req_user_add(users[i].user, users[i].role, users[i].unit, IT_PASSWORD), ok, NULL);
        *(kehu_client **)((char *)o + users[i].slot) = it_login(users[i].user, IT_PASSWORD);
    }
}

void it_org_close(struct it_org *o)
{
    kehu_client *all[] = { o->admin, o->li, o->zhang, o->mgr, o->agent, o->auditor, o->bj };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        kehu_close(all[i]);
    memset(o, 0, sizeof *o);
}

PGconn *it_pg_open(void)
{
    PGconn *c = PQconnectdb(it_env.conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect to PostgreSQL: %s", PQerrorMessage(c));
    return c;
}

void it_pg_do(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s  SQL: %.300s", PQerrorMessage(c), sql);
        PQclear(r);
        fail_msg("%s", msg);
    }
    PQclear(r);
}

int64_t it_pg_i64(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        fail_msg("%s", msg);
    }
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

uint64_t it_admin_count(kehu_client *admin, const char *name)
{
    Kehu__V1__AdminStats m = KEHU__V1__ADMIN_STATS__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ADMIN_STATS;
    req.admin_stats = &m;
    Kehu__V1__Response *r = it_call(admin, &req, KEHU__V1__CODE__OK);
    uint64_t v = UINT64_MAX;
    for (size_t i = 0; i < r->admin_stats->n_limits; i++)
        if (strcmp(r->admin_stats->limits[i]->name, name) == 0)
            v = r->admin_stats->limits[i]->count;
    kehu_response_free(r);
    if (v == UINT64_MAX)
        fail_msg("admin stats has no counter %s", name);
    return v;
}
