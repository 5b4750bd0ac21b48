/* Session commands: login, logout, whoami, passwd, ping. */
#include "cli.h"

#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "out.h"
#include "store.h"
#include "term.h"

#define USERNAME_MAX 128

/* ---- login ------------------------------------------------------------------------ */

/* The username: the argument, else KEHU_USER, else asked on a terminal. */
static int login_username(struct cli *cli, int argc, char **argv, char *name, size_t n)
{
    const char *s = optind < argc ? argv[optind] : getenv("KEHU_USER");
    if (s && *s) {
        if (strlen(s) >= n)
            return cli_usage_error(cli, "username too long");
        snprintf(name, n, "%s", s);
        return 0;
    }
    if (!term_is_tty(STDIN_FILENO))
        return cli_usage_error(cli, "no username: give USERNAME or set KEHU_USER");
    fputs(_("Username: "), stderr);
    fflush(stderr);
    if (!fgets(name, (int)n, stdin)) {
        fputc('\n', stderr);
        return cli_usage_error(cli, "no username given");
    }
    name[strcspn(name, "\r\n")] = 0;
    if (!*name)
        return cli_usage_error(cli, "no username given");
    return 0;
}

/* ---- passwd (and the change a reset password asks for at login) ------------------- */

/* Changes the logged-in user's password from current to a new one (asked
 * for); 0 or the exit code after printing. */
static int change_password(struct cli *cli, const char *username, const char *current)
{
    int rc;
    char *next = cmd_org_new_password(cli, username, &rc);
    if (!next)
        return rc;
    Kehu__V1__PasswordChange pc = KEHU__V1__PASSWORD_CHANGE__INIT;
    pc.current_password = (char *)current;
    pc.new_password = next;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_PASSWORD_CHANGE, &pc);
    Kehu__V1__Response *resp;
    rc = cli_call_for(cli, &req, KEHU__V1__RESPONSE__RESULT_EMPTY, &resp);
    term_free_secret(next);
    if (rc)
        return rc;
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_passwd(struct cli *cli, int argc, char **argv)
{
    int rc = cli_no_options(cli, argc, argv, 0, 0);
    if (rc || (rc = cli_connect(cli)))
        return rc;
    char err[256];
    char *current = term_read_password(_("Current password: "), "KEHU_PASSWORD", err, sizeof err);
    if (!current)
        return cli_error(cli, CLI_USAGE, "%s", err);
    rc = change_password(cli, cli->user, current);
    term_free_secret(current);
    if (rc)
        return rc;
    if (!cli->json) {
        cli_say("password changed for %s; its other sessions have ended\n", cli->user);
        return CLI_OK;
    }
    struct json_w w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    json_kstr(&w, "username", cli->user);
    json_kbool(&w, "password_changed", 1);
    json_end_object(&w);
    return CLI_OK;
}

/* A login whose password was reset: on a terminal, or with
 * KEHU_NEW_PASSWORD, the new one is set at once; otherwise the session
 * stays (it may only change the password) and the user is told how. 0 when
 * the password was changed, 1 when it still must be, or the exit code of a
 * failed change (printed). */
static int login_must_change(struct cli *cli, const char *username, const char *current)
{
    if (!term_is_tty(STDIN_FILENO) && !getenv("KEHU_NEW_PASSWORD")) {
        fprintf(stderr, _("kehu: the password of %s was reset: set a new one with `kehu passwd` before anything else\n"),
                username);
        return 1;
    }
    if (term_is_tty(STDIN_FILENO))
        fprintf(stderr, _("The password of %s was reset: choose a new one.\n"), username);
    int rc = change_password(cli, username, current);
    return rc ? -rc : 0;
}

static void print_login(struct cli *cli, const Kehu__V1__Session *s)
{
    const Kehu__V1__User *u = s->user;
    char until[OUT_TIME_BUFSZ];
    out_time_ms(s->expires_at_ms, until, sizeof until);
    const char *role = kehu_role_name(u->role);
    if (!cli->json) {
        cli_say("logged in as %s (%s, %s) until %s\n", u->username, role ? role : "?", u->unit_name,
                *until ? until : "further notice");
        return;
    }
    struct json_w w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    json_kstr(&w, "server", cli->server);
    json_kint(&w, "id", u->id);
    json_kstr(&w, "username", u->username);
    json_kstr(&w, "display_name", u->display_name);
    json_kstr(&w, "role", role);
    json_kint(&w, "unit_id", u->unit_id);
    json_kstr(&w, "unit_name", u->unit_name);
    if (u->branch_id)
        json_kint(&w, "branch_id", u->branch_id);
    else
        json_knull(&w, "branch_id");
    json_kstr(&w, "expires_at", *until ? until : NULL);
    json_kbool(&w, "must_change_password", u->must_change_password);
    json_end_object(&w);
}

static int run_login(struct cli *cli, int argc, char **argv)
{
    int rc = cli_no_options(cli, argc, argv, 0, 1);
    char name[USERNAME_MAX], err[256];
    if (rc || (rc = login_username(cli, argc, argv, name, sizeof name)))
        return rc;
    /* ask before connecting: the server need not wait while the user types */
    char *password = term_read_password(_("Password: "), "KEHU_PASSWORD", err, sizeof err);
    if (!password)
        return cli_error(cli, CLI_USAGE, "%s", err);
    rc = cli_connect(cli);
    if (rc) {
        term_free_secret(password);
        return rc;
    }
    struct kehu_status st;
    Kehu__V1__Session *s = NULL;
    int code = kehu_login(cli->client, name, password, &s, &st);
    if (code != KEHU__V1__CODE__OK) {
        term_free_secret(password);
        kehu_session_free(s);
        return cli_fail_status(cli, &st);
    }
    if (!s || !s->token || !*s->token || !s->user) {
        term_free_secret(password);
        kehu_session_free(s);
        return cli_bad_reply(cli, NULL);
    }
    if (s->user->must_change_password) {
        rc = login_must_change(cli, s->user->username, password);
        if (rc == 0)
            s->user->must_change_password = 0;
    }
    term_free_secret(password);
    if (store_put(cli->server, s->token, s->user->username) < 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "logged in, but cannot keep the session: %s", store_error());
        kehu_session_free(s);
        kehu_logout(cli->client, NULL); /* do not leave a session nobody holds */
        out_error(cli->json, kehu_code_name(KEHU__V1__CODE__INTERNAL), msg, NULL);
        return CLI_REFUSED;
    }
    if (rc < 0) { /* the session is kept: `kehu passwd` may still change the password */
        kehu_session_free(s);
        return -rc;
    }
    print_login(cli, s);
    kehu_session_free(s);
    return CLI_OK;
}

/* ---- logout ----------------------------------------------------------------------- */

static void print_logout(struct cli *cli, const char *user, int was_logged_in, const char *how)
{
    if (!cli->json) {
        if (!was_logged_in)
            cli_say("not logged in to %s\n", cli->server);
        else
            cli_say("logged out %s from %s%s\n", user, cli->server, how);
        return;
    }
    struct json_w w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    json_kstr(&w, "server", cli->server);
    json_kbool(&w, "logged_out", was_logged_in);
    if (was_logged_in)
        json_kstr(&w, "username", user);
    json_end_object(&w);
}

static int run_logout(struct cli *cli, int argc, char **argv)
{
    int rc = cli_no_options(cli, argc, argv, 0, 0);
    if (rc)
        return rc;
    char token[1024], user[USERNAME_MAX];
    int r = store_get(cli->server, token, sizeof token, user, sizeof user);
    if (r == 1) {
        print_logout(cli, NULL, 0, "");
        return CLI_OK;
    }
    if (r < 0) {
        out_error(cli->json, kehu_code_name(KEHU__V1__CODE__INTERNAL), store_error(), NULL);
        return CLI_REFUSED;
    }
    rc = cli_connect(cli);
    struct kehu_status st = { 0 };
    int code = rc ? -1 : kehu_resume(cli->client, token, NULL, &st);
    explicit_bzero(token, sizeof token);
    if (rc)
        return rc; /* the token stays: the session may still be live */
    const char *how = "";
    if (code == KEHU__V1__CODE__UNAUTHENTICATED)
        how = " (the session had already ended)";
    else if (code != KEHU__V1__CODE__OK || kehu_logout(cli->client, &st) != KEHU__V1__CODE__OK)
        return cli_fail_status(cli, &st);
    if (store_del(cli->server) < 0) {
        out_error(cli->json, kehu_code_name(KEHU__V1__CODE__INTERNAL), store_error(), NULL);
        return CLI_REFUSED;
    }
    print_logout(cli, user, 1, how);
    return CLI_OK;
}

/* ---- whoami ----------------------------------------------------------------------- */

static int run_whoami(struct cli *cli, int argc, char **argv)
{
    int rc = cli_no_options(cli, argc, argv, 0, 0);
    if (rc)
        return rc;
    Kehu__V1__WhoAmI who = KEHU__V1__WHO_AM_I__INIT;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_WHOAMI, &who, KEHU__V1__RESPONSE__RESULT_USER, &resp)))
        return rc;
    cmd_org_print_users(cli, &resp->user, 1, 0);
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- ping ------------------------------------------------------------------------- */

#define PING_WINDOW 64 /* requests in flight at once */
#define PING_MAX 1000000

struct ping_run;

struct ping_slot {
    struct ping_run *run;
    unsigned idx;
    double sent_ms;
};

struct ping_run {
    int done, failed;
    struct kehu_status err; /* the first failure */
    double min_ms, max_ms, sum_ms;
    int db_ok;
    int64_t server_time_ms;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t ping_payload(unsigned idx, char *buf, size_t n)
{
    return (size_t)snprintf(buf, n, "kehu ping %u", idx);
}

static void ping_fail(struct ping_run *run, const struct kehu_status *st, const char *message)
{
    if (!run->failed++) {
        if (st) {
            run->err = *st;
        } else {
            memset(&run->err, 0, sizeof run->err);
            run->err.code = KEHU_TRANSPORT;
            snprintf(run->err.message, sizeof run->err.message, "%s", message);
        }
        if (run->err.code == KEHU__V1__CODE__OK)
            run->err.code = KEHU_TRANSPORT;
    }
}

static void ping_done(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct ping_slot *slot = arg;
    struct ping_run *run = slot->run;
    char expect[32];
    size_t len = ping_payload(slot->idx, expect, sizeof expect);

    run->done++;
    if (!resp || st->code != KEHU__V1__CODE__OK) {
        ping_fail(run, st, "no reply");
        return;
    }
    const Kehu__V1__PingReply *p = resp->ping;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_PING || !p || p->payload.len != len ||
        memcmp(p->payload.data, expect, len) != 0) {
        ping_fail(run, NULL, "the server's pong does not echo the ping");
        return;
    }
    double rtt = now_ms() - slot->sent_ms;
    if (run->done - run->failed == 1 || rtt < run->min_ms)
        run->min_ms = rtt;
    if (rtt > run->max_ms)
        run->max_ms = rtt;
    run->sum_ms += rtt;
    run->db_ok = p->database_ok && (run->done - run->failed == 1 || run->db_ok);
    run->server_time_ms = p->server_time_ms;
}

/* Sends count pings, at most PING_WINDOW in flight, and waits for them. */
static void ping_send_all(struct cli *cli, struct ping_slot *slots, unsigned count, struct ping_run *run)
{
    kehu_client *c = cli->client;
    unsigned i = 0;
    while (i < count && !run->failed) {
        if (kehu_pending(c) >= PING_WINDOW) {
            struct pollfd pfd = { .fd = kehu_fd(c), .events = POLLIN };
            int r = poll(&pfd, 1, cli->timeout_ms);
            if (r == 0) {
                ping_fail(run, NULL, "timeout waiting for the server");
                return;
            }
            if (kehu_run(c, 0) < 0)
                return; /* the callbacks have seen the transport error */
            continue;
        }
        char payload[32];
        Kehu__V1__Ping ping = KEHU__V1__PING__INIT;
        ping.payload.data = (uint8_t *)payload;
        ping.payload.len = ping_payload(i, payload, sizeof payload);
        Kehu__V1__Request req;
        cli_request(&req, KEHU__V1__REQUEST__OP_PING, &ping);
        slots[i].run = run;
        slots[i].idx = i;
        slots[i].sent_ms = now_ms();
        struct kehu_status st;
        if (kehu_send(c, &req, ping_done, &slots[i], NULL, &st) < 0) {
            ping_fail(run, &st, NULL);
            return;
        }
        i++;
    }
    int left = kehu_run(c, cli->timeout_ms);
    if (left > 0)
        ping_fail(run, NULL, "timeout waiting for the server");
}

static void print_ping(struct cli *cli, unsigned count, const struct ping_run *run)
{
    double avg = run->sum_ms / count;
    const char *db = run->db_ok ? "database ok" : "database unreachable";
    if (!cli->json) {
        if (count == 1)
            cli_say("pong from %s in %.2f ms (%s)\n", cli->server, avg, db);
        else
            cli_say("%u pongs from %s: min/avg/max %.2f/%.2f/%.2f ms (%s)\n", count, cli->server, run->min_ms,
                    avg, run->max_ms, db);
        return;
    }
    char t[OUT_TIME_BUFSZ];
    out_time_ms(run->server_time_ms, t, sizeof t);
    struct json_w w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    json_kstr(&w, "server", cli->server);
    json_kstr(&w, "server_name", kehu_server_name(cli->client));
    json_kdouble(&w, "rtt_ms", round(avg * 1000) / 1000);
    if (count > 1) {
        json_kuint(&w, "count", count);
        json_kdouble(&w, "min_ms", round(run->min_ms * 1000) / 1000);
        json_kdouble(&w, "avg_ms", round(avg * 1000) / 1000);
        json_kdouble(&w, "max_ms", round(run->max_ms * 1000) / 1000);
    }
    json_kbool(&w, "database_ok", run->db_ok);
    json_kstr(&w, "server_time", *t ? t : NULL);
    json_end_object(&w);
}

static int run_ping(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "count", required_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long count = 1;
    int c;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != 'c')
            return cli->opt_rc;
        char *end;
        count = strtoul(optarg, &end, 10);
        if (end == optarg || *end || optarg[0] == '-' || count < 1 || count > PING_MAX)
            return cli_usage_error(cli, "--count: expected a number from 1 to %d, not '%s'", PING_MAX, optarg);
    }
    int rc = cli_args(cli, argc, argv, 0, 0);
    if (rc || (rc = cli_connect(cli)))
        return rc;
    struct ping_slot *slots = out_xcalloc(count, sizeof *slots);
    struct ping_run run = { 0 };
    ping_send_all(cli, slots, (unsigned)count, &run);
    if (!run.failed && (unsigned long)run.done < count)
        ping_fail(&run, NULL, "no reply");
    free(slots);
    if (run.failed)
        return cli_fail_status(cli, &run.err);
    print_ping(cli, (unsigned)count, &run);
    return CLI_OK;
}

const struct cli_cmd cmd_session_table[] = {
    { "login", "[USERNAME]", N_("log in and keep the session"), 0,
      run_login },
    { "logout", "", N_("end the session and forget it"), 0, run_logout },
    { "whoami", "", N_("show the logged-in user"), 1, run_whoami },
    { "passwd", "", N_("change your own password (asks for the current one, then the new one twice)"), 1, run_passwd },
    { "ping", "[--count N]", N_("check the server and its database"), 0, run_ping },
    { NULL, NULL, NULL, 0, NULL },
};
