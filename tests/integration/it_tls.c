/* TLS on kehud's listener (docs/security.md): TLS and plaintext on one port,
 * the client's trust (CA file, fingerprint, known_servers on first use),
 * plaintext only from loopback, a garbage or stalled handshake, SIGHUP
 * re-reading the certificate, client certificates mapped to a unit, and the
 * connection limits over TLS. Certificates are made with the openssl
 * command line in a directory of the test's own. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static char certs[128];     /* the certificates' directory */
static char local_ip[64];   /* an address of this machine that is not loopback, "" none */
static struct it_cli cli;

static const char *path_of(const char *name)
{
    static char buf[8][300];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 300, "%s/%s", certs, name);
    return p;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "it_tls: failed (%d): %s\n", rc, cmd);
    return rc;
}

/* A key and a certificate signed by the CA (ca.pem), with these subject alt names. */
static int make_signed(const char *name, const char *cn, const char *san)
{
    return sh("cd %s && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key"
              " -out %s.csr -subj '/CN=%s' 2>/dev/null && printf 'subjectAltName=%s\\n' > %s.ext &&"
              " openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out %s.pem"
              " -extfile %s.ext 2>/dev/null",
              certs, name, name, cn, san, name, name, name, name);
}

static int make_certs(void)
{
    snprintf(certs, sizeof certs, "/tmp/kehu-tls-XXXXXX");
    if (!mkdtemp(certs))
        return -1;
    char san[256];
    snprintf(san, sizeof san, "IP:127.0.0.1,DNS:kehud.example%s%s", *local_ip ? ",IP:" : "", local_ip);
    /* a CA; the server's and two client certificates it signs; another self-signed server certificate */
    if (sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem"
           " -days 30 -subj '/CN=Kehu test CA' 2>/dev/null",
           certs) ||
        make_signed("server", "kehud", san) || make_signed("branch", "branch-sh", "DNS:branch-sh") ||
        make_signed("other", "other-machine", "DNS:other") || make_signed("desk", "head-office-desk", "DNS:desk") ||
        sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server2.key"
           " -out server2.pem -days 30 -subj '/CN=kehud-2' -addext 'subjectAltName=%s' 2>/dev/null",
           certs, san) ||
        sh("cd %s && cp server.pem live.pem && cp server.key live.key && : > clients.map", certs))
        return -1;
    return 0;
}

/* The first IPv4 address of an interface that is up and not loopback. */
static void find_local_ip(void)
{
    struct ifaddrs *ifs, *i;
    local_ip[0] = 0;
    if (getifaddrs(&ifs) < 0)
        return;
    for (i = ifs; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
            !(i->ifa_flags & IFF_LOOPBACK)) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, local_ip, sizeof local_ip);
            break;
        }
    freeifaddrs(ifs);
}

/* kehud with TLS (the live certificate), plus extra settings. */
static void serve(const char *const *extra)
{
    const char *args[32] = { "--tls-cert", path_of("live.pem"), "--tls-key", path_of("live.key"),
                             "--tls-ca", path_of("ca.pem"), "--tls-client-map", path_of("clients.map") };
    int n = 8;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    if (th_kehud_start(&it_env, args) < 0)
        fail_msg("kehud did not start");
}

static int setup(void **state)
{
    (void)state;
    find_local_ip();
    if (make_certs() < 0 || it_cli_open(&cli) < 0)
        return -1;
    if (it_setup(state) < 0)
        return -1;
    serve(NULL);
    return 0;
}

static int teardown(void **state)
{
    it_cli_close(&cli);
    int rc = it_teardown(state);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
    if (system(cmd) != 0)
        fprintf(stderr, "it_tls: cannot remove %s\n", certs);
    return rc;
}

static struct kehu_tls with_ca(const char *ca)
{
    struct kehu_tls t = { .mode = KEHU_TLS_ON, .ca_file = ca, .known_servers = "" };
    return t;
}

static kehu_client *tls_connect(const struct kehu_tls *t, struct kehu_status *st)
{
    return kehu_connect_tls(it_server(), t, 10000, st);
}

static void ping(kehu_client *c)
{
    it_expect(c, it_req_ping(), C(OK), NULL);
}

/* The admin over TLS, whichever certificate the server has now. */
static kehu_client *tls_admin(void)
{
    struct kehu_tls t = { .mode = KEHU_TLS_ON, .known_servers = "", .accept_new = 1 };
    struct kehu_status st;
    kehu_client *a = tls_connect(&t, &st);
    if (!a)
        fail_msg("TLS connect: %s", st.message);
    if (kehu_login(a, "admin", TH_ADMIN_PASSWORD, NULL, &st) != C(OK))
        fail_msg("admin login over TLS: %s", st.message);
    return a;
}

/* A counter of the connection layer in `admin stats`, asked over a
 * connection with these options (NULL: tls_admin's). */
static uint64_t stat_with(const struct kehu_tls *t, const char *name)
{
    kehu_client *a;
    if (t) {
        struct kehu_status st;
        a = tls_connect(t, &st);
        if (!a || kehu_login(a, "admin", TH_ADMIN_PASSWORD, NULL, &st) != C(OK))
            fail_msg("admin over TLS: %s", st.message);
    } else {
        a = tls_admin();
    }
    uint64_t v = it_admin_count(a, name);
    kehu_close(a);
    return v;
}

static uint64_t stat(const char *name)
{
    return stat_with(NULL, name);
}

/* The server's certificate fingerprint as it presents it now. */
static void server_fp(char *out, size_t n)
{
    struct kehu_tls t = { .mode = KEHU_TLS_ON, .known_servers = "", .accept_new = 1 };
    struct kehu_status st;
    kehu_client *c = tls_connect(&t, &st);
    if (!c)
        fail_msg("TLS connect: %s", st.message);
    snprintf(out, n, "%s", kehu_server_fingerprint(c));
    kehu_close(c);
}

/* ---- through libkehu */

static void count_ok(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    if (resp && st->code == C(OK))
        ++*(int *)arg;
}

static void test_libkehu(void **state)
{
    (void)state;
    struct kehu_tls t = with_ca(path_of("ca.pem"));
    struct kehu_status st;
    kehu_client *c = tls_connect(&t, &st);
    if (!c)
        fail_msg("TLS connect: %s", st.message);
    assert_true(kehu_is_tls(c));
    assert_int_equal(strlen(kehu_server_fingerprint(c)), 95);
    assert_int_equal(kehu_login(c, "admin", TH_ADMIN_PASSWORD, NULL, &st), C(OK));
    ping(c);
    it_expect(c, it_req_whoami(), C(OK), NULL);
    /* pipelined over TLS: many requests in one write, answers in several records */
    int answered = 0;
    for (int i = 0; i < 200; i++)
        assert_int_equal(kehu_send(c, it_req_ping(), count_ok, &answered, NULL, &st), 0);
    assert_int_equal(kehu_run(c, 20000), 0);
    assert_int_equal(answered, 200);
    /* a reply larger than a TLS record */
    Kehu__V1__Response *r = it_call(c, it_req_user_list(NULL, 0), C(OK));
    kehu_response_free(r);
    /* a reconnect shakes hands again and resumes the session */
    assert_int_equal(kehu_reconnect(c, &st), 0);
    assert_true(kehu_is_tls(c));
    it_expect(c, it_req_whoami(), C(OK), NULL);
    kehu_close(c);
    /* plaintext from loopback still works on the same port */
    c = it_connect();
    assert_false(kehu_is_tls(c));
    ping(c);
    kehu_close(c);
    assert_true(stat("tls_handshakes") >= 2);
}

/* ---- the CLI: TLS login and requests, trust on first use */

static void test_cli(void **state)
{
    (void)state;
    const char *pw = "KEHU_PASSWORD=" TH_ADMIN_PASSWORD;
    int rc = it_cli_run(&cli, IT_ENV(pw), IT_ARGS("--tls", "--ca-file", path_of("ca.pem"), "login", "admin"));
    it_cli_expect(&cli, rc, 0, NULL);
    rc = it_cli_run(&cli, NULL, IT_ARGS("--tls", "--ca-file", path_of("ca.pem"), "whoami", "--json"));
    it_cli_expect(&cli, rc, 0, "\"username\": \"admin\"");
    /* the CA given does not sign this server: a TLS failure, exit 3 */
    rc = it_cli_run(&cli, NULL, IT_ARGS("--tls", "--ca-file", path_of("server2.pem"), "ping"));
    it_cli_expect(&cli, rc, 3, "does not verify");
}

static void test_pinning(void **state)
{
    (void)state;
    char fp[100], known[300];
    server_fp(fp, sizeof fp);
    snprintf(known, sizeof known, "%s/kehu/known_servers", cli.dir);
    unlink(known);
    /* unknown server, nobody to ask: refused, the fingerprint shown */
    int rc = it_cli_run(&cli, NULL, IT_ARGS("--tls", "ping"));
    it_cli_expect(&cli, rc, 3, "not a known server");
    it_cli_expect(&cli, rc, 3, fp);
    assert_int_not_equal(access(known, F_OK), 0);
    /* the fingerprint given: trusted (nothing remembered) */
    rc = it_cli_run(&cli, NULL, IT_ARGS("--tls", "--fingerprint", fp, "ping"));
    it_cli_expect(&cli, rc, 0, NULL);
    rc = it_cli_run(&cli, NULL,
                    IT_ARGS("--tls", "--fingerprint",
                            "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
                            "ping"));
    it_cli_expect(&cli, rc, 3, "not the one given");
    /* accepted explicitly: remembered; later runs need nothing */
    rc = it_cli_run(&cli, NULL, IT_ARGS("--tls", "--accept-new-server", "ping"));
    it_cli_expect(&cli, rc, 0, NULL);
    FILE *f = fopen(known, "r");
    assert_non_null(f);
    char line[300] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, it_server()));
    assert_non_null(strstr(line, fp));
    rc = it_cli_run(&cli, NULL, IT_ARGS("--tls", "ping"));
    it_cli_expect(&cli, rc, 0, NULL);
    /* libkehu reads the same file */
    struct kehu_tls t = { .mode = KEHU_TLS_ON, .known_servers = known };
    struct kehu_status st;
    kehu_client *c = tls_connect(&t, &st);
    if (!c)
        fail_msg("pinned connect: %s", st.message);
    kehu_close(c);
    /* the server's certificate changed: refused loudly, even with --accept-new-server */
    f = fopen(known, "w");
    fprintf(f, "# kehu known servers\n%s 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\n",
            it_server());
    fclose(f);
    rc = it_cli_run(&cli, NULL, IT_ARGS("--tls", "--accept-new-server", "ping"));
    it_cli_expect(&cli, rc, 3, "HAS CHANGED");
    it_cli_expect(&cli, rc, 3, "line 2");
    c = tls_connect(&t, &st);
    assert_null(c);
    assert_int_equal(st.code, KEHU_TRANSPORT);
    assert_string_equal(st.field, "tls");
    unlink(known);
}

/* kehu on a terminal: the fingerprint is shown and the answer typed. */
static int kehu_tty(const char *answer, const char *const *args, char *out, size_t size)
{
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0)
        it_cli_exec(&cli, NULL, args);
    size_t len = 0;
    int answered = 0;
    int64_t deadline = it_now_ms() + 20000;
    for (;;) {
        struct pollfd p = { .fd = master, .events = POLLIN };
        int left = (int)(deadline - it_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        char buf[4096];
        ssize_t n = read(master, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != '\r' && len + 1 < size)
                out[len++] = buf[i];
        out[len] = 0;
        if (!answered && strstr(out, "(yes/no)? ")) {
            assert_int_equal(write(master, answer, strlen(answer)), (ssize_t)strlen(answer));
            answered = 1;
        }
    }
    out[len] = 0;
    close(master);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_asked_once(void **state)
{
    (void)state;
    char fp[100], known[300], out[8192];
    server_fp(fp, sizeof fp);
    snprintf(known, sizeof known, "%s/kehu/known_servers", cli.dir);
    unlink(known);
    /* "no": refused, nothing remembered */
    int rc = kehu_tty("no\n", IT_ARGS("--tls", "ping"), out, sizeof out);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(out, fp));
    assert_int_not_equal(access(known, F_OK), 0);
    /* "yes": remembered */
    rc = kehu_tty("yes\n", IT_ARGS("--tls", "ping"), out, sizeof out);
    if (rc != 0)
        fail_msg("kehu on a terminal: %d\n%s", rc, out);
    assert_int_equal(access(known, F_OK), 0);
    /* asked once: not again */
    rc = kehu_tty("no\n", IT_ARGS("--tls", "ping"), out, sizeof out);
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "(yes/no)"));
    unlink(known);
}

static void test_ca(void **state)
{
    (void)state;
    struct kehu_status st;
    struct kehu_tls t = with_ca(path_of("ca.pem"));
    kehu_client *c = tls_connect(&t, &st);
    assert_non_null(c);
    kehu_close(c);
    /* a CA that did not sign the server's certificate */
    t = with_ca(path_of("server2.pem"));
    c = tls_connect(&t, &st);
    assert_null(c);
    assert_int_equal(st.code, KEHU_TRANSPORT);
    assert_non_null(strstr(st.message, "does not verify"));
    /* signed by the CA, but for another name (it names 127.0.0.1 and kehud.example) */
    char other[80];
    snprintf(other, sizeof other, "localhost:%d", it_env.port);
    t = with_ca(path_of("ca.pem"));
    c = kehu_connect_tls(other, &t, 10000, &st);
    assert_null(c);
    if (!strstr(st.message, "does not verify"))
        fail_msg("localhost: %s", st.message);
}

/* ---- plaintext only from loopback */

static void expect_plaintext_refused(const char *server)
{
    struct kehu_tls t = { .mode = KEHU_TLS_OFF };
    struct kehu_status st;
    kehu_client *c = kehu_connect_tls(server, &t, 10000, &st);
    assert_null(c);
    assert_int_equal(st.code, C(PERMISSION_DENIED));
    assert_non_null(strstr(st.message, "connect with TLS"));
}

static void test_plaintext_rule(void **state)
{
    (void)state;
    /* loopback treated as remote (plaintext_loopback = 0, for tests only) */
    serve(IT_ARGS("--plaintext-loopback", "0"));
    expect_plaintext_refused(it_server());
    assert_true(stat("refused_plaintext_remote") >= 1);
    /* the CLI says so (the server refused: exit 1) */
    int rc = it_cli_run(&cli, NULL, IT_ARGS("--no-tls", "ping"));
    it_cli_expect(&cli, rc, 1, "connect with TLS");
    /* TLS from the same address is served */
    kehu_client *a = tls_admin();
    ping(a);
    kehu_close(a);
    /* unless the configuration allows plaintext from anywhere */
    serve(IT_ARGS("--plaintext-loopback", "0", "--allow-plaintext", "1"));
    kehu_client *c = it_connect();
    ping(c);
    kehu_close(c);
    /* a real address of this machine that is not loopback, when it has one */
    if (*local_ip) {
        char remote[96];
        snprintf(remote, sizeof remote, "%s:%d", local_ip, it_env.port);
        serve(IT_ARGS("--listen", "0.0.0.0"));
        expect_plaintext_refused(remote);
        /* libkehu chooses TLS by itself for an address that is not loopback */
        struct kehu_tls t = { .mode = KEHU_TLS_AUTO, .ca_file = path_of("ca.pem") };
        struct kehu_status st;
        c = kehu_connect_tls(remote, &t, 10000, &st);
        if (!c)
            fail_msg("TLS to %s: %s", remote, st.message);
        assert_true(kehu_is_tls(c));
        ping(c);
        kehu_close(c);
        c = it_connect(); /* loopback plaintext on the same listener */
        ping(c);
        kehu_close(c);
    } else {
        print_message("no address other than loopback here: only plaintext_loopback = 0 was tried\n");
    }
    serve(NULL);
}

/* ---- what a bad client costs: garbage, a stall, 0- and 1-byte reads */

static int raw(void)
{
    int fd = it_raw_connect();
    assert_true(fd >= 0);
    return fd;
}

/* Waits for the server to close fd (a bounded wait, not a timing check). */
static int closed_by_server(int fd, int timeout_ms)
{
    int64_t end = it_now_ms() + timeout_ms;
    char buf[4096];
    for (;;) {
        int left = (int)(end - it_now_ms());
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
    }
}

static void test_garbage(void **state)
{
    (void)state;
    uint64_t failed = stat("closed_tls_handshake_failed");
    /* a handshake record of garbage */
    int fd = raw();
    static const unsigned char junk[] = { 0x16, 0x03, 0x01, 0x00, 0x1e, 'n', 'o', 't', ' ', 'a', ' ', 'h', 'e', 'l',
                                          'l', 'o', 0,    1,    2,    3,    4,   5,   6,   7,   8,   9,   10,  11,
                                          12,  13,  14,   15,   16,   17,   18 };
    it_raw_write(fd, junk, sizeof junk);
    assert_true(closed_by_server(fd, 10000));
    close(fd);
    /* a record header claiming a wrong version, byte by byte */
    fd = raw();
    static const unsigned char bad[] = { 0x16, 0x7f, 0x7f, 0xff, 0xff };
    for (size_t i = 0; i < sizeof bad; i++)
        it_raw_write(fd, bad + i, 1);
    assert_true(closed_by_server(fd, 10000));
    close(fd);
    /* 0 bytes, one byte of each kind, then gone */
    fd = raw();
    close(fd);
    fd = raw();
    it_raw_write(fd, "\x16", 1);
    close(fd);
    fd = raw();
    it_raw_write(fd, "\0", 1);
    close(fd);
    assert_true(stat("closed_tls_handshake_failed") >= failed + 2);
    /* everyone else is served */
    kehu_client *a = tls_admin();
    ping(a);
    kehu_close(a);
}

static void test_stall_and_limits(void **state)
{
    (void)state;
    serve(IT_ARGS("--tls-handshake-timeout", "1", "--auth-timeout", "2"));
    uint64_t stalls = stat("closed_tls_handshake_timeout"), auth = stat("closed_auth_timeout");
    /* a ClientHello that never ends */
    int fd = raw();
    it_raw_write(fd, "\x16\x03\x01\x02\x00\x01", 6);
    /* and one that never starts, but chose TLS */
    int fd2 = raw();
    it_raw_write(fd2, "\x16", 1);
    assert_true(closed_by_server(fd, 20000));
    assert_true(closed_by_server(fd2, 20000));
    close(fd);
    close(fd2);
    assert_true(stat("closed_tls_handshake_timeout") >= stalls + 2);
    /* the deadline to log in holds over TLS, and its refusal arrives encrypted */
    struct kehu_tls t = with_ca(path_of("ca.pem"));
    struct kehu_status st;
    kehu_client *c = tls_connect(&t, &st);
    assert_non_null(c);
    Kehu__V1__Event *ev = kehu_next_event(c, 20000, &st);
    assert_null(ev);
    assert_int_equal(st.code, C(UNAUTHENTICATED));
    assert_non_null(strstr(st.message, "auth_timeout"));
    kehu_close(c);
    assert_true(stat("closed_auth_timeout") >= auth + 1);
    /* connections per address count TLS ones too */
    serve(IT_ARGS("--max-unauth-per-address", "2"));
    kehu_client *held[2];
    for (int i = 0; i < 2; i++) {
        held[i] = tls_connect(&t, &st);
        assert_non_null(held[i]);
    }
    c = tls_connect(&t, &st);
    assert_null(c);
    /* refused at accept, before any handshake: the reason reaches the TLS client */
    assert_int_equal(st.code, C(RESOURCE_EXHAUSTED));
    assert_non_null(strstr(st.message, "refused the connection"));
    assert_non_null(strstr(st.message, "max_unauth_per_address"));
    /* and the CLI says so: the server refused (exit 1), with its reason */
    int rc = it_cli_run(&cli, NULL, IT_ARGS("--tls", "--ca-file", path_of("ca.pem"), "ping"));
    it_cli_expect(&cli, rc, 1, "refused the connection: too many connections not logged in from your address");
    for (int i = 0; i < 2; i++)
        kehu_close(held[i]);
    serve(NULL);
}

/* ---- SIGHUP: a new certificate for new connections, old ones keep going */

static void test_reload(void **state)
{
    (void)state;
    char before[100], after[100] = "";
    server_fp(before, sizeof before);
    kehu_client *kept = tls_admin();
    assert_string_equal(kehu_server_fingerprint(kept), before);
    assert_int_equal(sh("cd %s && cp server2.pem live.pem && cp server2.key live.key", certs), 0);
    uint64_t reloads = stat("tls_reloads");
    assert_int_equal(th_kehud_signal(&it_env, SIGHUP), 0);
    for (int i = 0; i < 200; i++) { /* the signal is handled on kehud's next loop turn */
        server_fp(after, sizeof after);
        if (strcmp(after, before) != 0)
            break;
        struct timespec ts = { 0, 50 * 1000000 };
        nanosleep(&ts, NULL);
    }
    assert_string_not_equal(after, before);
    assert_int_equal(stat("tls_reloads"), reloads + 1);
    /* the connection made before is still served */
    ping(kept);
    it_expect(kept, it_req_whoami(), C(OK), NULL);
    kehu_close(kept);
    /* a certificate that does not load leaves the one in use */
    assert_int_equal(sh("cd %s && : > live.key", certs), 0);
    assert_int_equal(th_kehud_signal(&it_env, SIGHUP), 0);
    struct kehu_tls t = with_ca(path_of("server2.pem"));
    struct kehu_status st;
    kehu_client *c = tls_connect(&t, &st);
    if (!c)
        fail_msg("after a failed reload: %s", st.message);
    ping(c);
    kehu_close(c);
    assert_int_equal(sh("cd %s && cp server.pem live.pem && cp server.key live.key", certs), 0);
    assert_int_equal(th_kehud_signal(&it_env, SIGHUP), 0);
    for (int i = 0; i < 200; i++) {
        server_fp(after, sizeof after);
        if (strcmp(after, before) == 0)
            break;
        struct timespec ts = { 0, 50 * 1000000 };
        nanosleep(&ts, NULL);
    }
    assert_string_equal(after, before);
}

/* ---- mutual TLS: a branch machine's certificate admits its unit's users */

static void test_client_cert_unit(void **state)
{
    (void)state;
    kehu_client *a = tls_admin();
    Kehu__V1__Response *r = it_call(a, it_req_org_add("华东区", KEHU__V1__UNIT_KIND__REGION, "总行"), C(OK));
    kehu_response_free(r);
    r = it_call(a, it_req_org_add("上海分行", KEHU__V1__UNIT_KIND__BRANCH, "华东区"), C(OK));
    int64_t sh_unit = r->org_unit->id;
    kehu_response_free(r);
    r = it_call(a, it_req_org_add("上海一组", KEHU__V1__UNIT_KIND__TEAM, "上海分行"), C(OK));
    kehu_response_free(r);
    r = it_call(a, it_req_org_add("北京分行", KEHU__V1__UNIT_KIND__BRANCH, "华东区"), C(OK));
    int64_t bj_unit = r->org_unit->id;
    kehu_response_free(r);
    kehu_close(a);
    it_add_user("sh.mgr", KEHU__V1__ROLE__BRANCH_MANAGER, "上海分行", "password-1");
    it_add_user("sh.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海一组", "password-1");
    it_add_user("bj.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "北京分行", "password-1");
    /* branch-sh's certificate, by name, admits 上海分行's subtree */
    /* and other-machine's, by its fingerprint, 北京分行's */
    assert_int_equal(sh("cd %s && { echo '# client certificates and their units'; echo 'cn:branch-sh %lld';"
                        " echo \"sha256:$(openssl x509 -in other.pem -noout -fingerprint -sha256 | cut -d= -f2) %lld\"; }"
                        " > clients.map",
                        certs, (long long)sh_unit, (long long)bj_unit),
                     0);
    assert_int_equal(th_kehud_signal(&it_env, SIGHUP), 0);
    struct kehu_tls t = with_ca(path_of("ca.pem"));
    t.cert_file = path_of("branch.pem");
    t.key_file = path_of("branch.key");
    struct kehu_status st;
    int ok = 0;
    kehu_client *c = NULL;
    for (int i = 0; i < 200 && !ok; i++) { /* until the map is in use */
        c = tls_connect(&t, &st);
        assert_non_null(c);
        ok = kehu_login(c, "bj.am", "password-1", NULL, &st) == C(PERMISSION_DENIED);
        kehu_close(c);
        struct timespec ts = { 0, 50 * 1000000 };
        if (!ok)
            nanosleep(&ts, NULL);
    }
    assert_true(ok);
    assert_non_null(strstr(st.message, "client certificate"));
    c = tls_connect(&t, &st);
    assert_int_equal(kehu_login(c, "sh.am", "password-1", NULL, &st), C(OK));
    ping(c);
    char token[200];
    snprintf(token, sizeof token, "%s", kehu_token(c));
    kehu_close(c);
    c = tls_connect(&t, &st);
    assert_int_equal(kehu_login(c, "sh.mgr", "password-1", NULL, &st), C(OK));
    kehu_close(c);
    /* head office's admin is not of that unit; a wrong password says only that */
    c = tls_connect(&t, &st);
    assert_int_equal(kehu_login(c, "admin", TH_ADMIN_PASSWORD, NULL, &st), C(PERMISSION_DENIED));
    assert_int_equal(kehu_login(c, "bj.am", "wrong-password", NULL, &st), C(UNAUTHENTICATED));
    kehu_close(c);
    /* a session resumed over that machine's connection: the same rule */
    kehu_client *bj = tls_connect(&t, &st);
    kehu_close(bj);
    struct kehu_tls plain_ca = with_ca(path_of("ca.pem"));
    bj = tls_connect(&plain_ca, &st);
    assert_int_equal(kehu_login(bj, "bj.am", "password-1", NULL, &st), C(OK));
    c = tls_connect(&t, &st);
    assert_int_equal(kehu_resume(c, kehu_token(bj), NULL, &st), C(PERMISSION_DENIED));
    assert_int_equal(kehu_resume(c, token, NULL, &st), C(OK));
    kehu_close(c);
    kehu_close(bj);
    /* the other machine's certificate, mapped by fingerprint */
    t.cert_file = path_of("other.pem");
    t.key_file = path_of("other.key");
    c = tls_connect(&t, &st);
    assert_int_equal(kehu_login(c, "sh.am", "password-1", NULL, &st), C(PERMISSION_DENIED));
    assert_int_equal(kehu_login(c, "bj.am", "password-1", NULL, &st), C(OK));
    kehu_close(c);
    /* required: a client without a certificate is refused in the handshake */
    serve(IT_ARGS("--tls-client-cert-required", "1"));
    struct kehu_tls none = with_ca(path_of("ca.pem")), desk = with_ca(path_of("ca.pem"));
    desk.cert_file = path_of("desk.pem"); /* signed by the CA, in no line of the map: limits nothing */
    desk.key_file = path_of("desk.key");
    uint64_t refused = stat_with(&desk, "closed_tls_handshake_failed");
    c = tls_connect(&none, &st);
    if (c) { /* TLS 1.3: the client may learn of the refusal at its first read */
        it_expect(c, it_req_ping(), KEHU_TRANSPORT, NULL);
        kehu_close(c);
    }
    assert_true(stat_with(&desk, "closed_tls_handshake_failed") >= refused + 1);
    c = tls_connect(&t, &st); /* other-machine's certificate */
    assert_non_null(c);
    ping(c);
    kehu_close(c);
    serve(NULL);
    /* a certificate the CA did not sign is refused in the handshake */
    t.cert_file = path_of("server2.pem");
    t.key_file = path_of("server2.key");
    uint64_t failed = stat("closed_tls_handshake_failed");
    c = tls_connect(&t, &st);
    if (c) { /* TLS 1.3: the client may learn of the refusal at its first read */
        it_expect(c, it_req_ping(), KEHU_TRANSPORT, NULL);
        kehu_close(c);
    }
    assert_true(stat("closed_tls_handshake_failed") >= failed + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libkehu),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_pinning),
        cmocka_unit_test(test_asked_once),
        cmocka_unit_test(test_ca),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_plaintext_rule),
        cmocka_unit_test(test_stall_and_limits),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_client_cert_unit),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
