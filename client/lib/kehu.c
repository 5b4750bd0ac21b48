/* libkehu: a blocking, poll(2)-driven client for the Kehu wire protocol. */
#include "kehu.h"
#include "i18n.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <ctype.h>
#include <arpa/inet.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "wire.h"

struct pending {
    uint64_t id;
    kehu_cb cb;
    void *arg;
    Kehu__V1__Response *sync_resp; /* for kehu_call: filled instead of a callback */
    int sync_done;
    struct pending *next;
};

struct queued_event {
    Kehu__V1__Event *ev;
    struct queued_event *next;
};

struct kehu_client {
    int fd;
    char server[256];
    char server_name[128];
    int timeout_ms;
    uint64_t next_id;
    struct wire_decoder dec;
    struct pending *pending; /* in send order */
    int npending;
    struct queued_event *ev_head, *ev_tail;
    char *token;
    int greeted;       /* the Hello was answered: the peer speaks Kehu */
    uint64_t received; /* bytes read on this socket */
    /* TLS: the options as given (copied), the context and the session */
    struct kehu_tls tls;
    SSL_CTX *tls_ctx;
    SSL *ssl;
    char server_fp[100]; /* "AB:CD:..." of the server's certificate */
    /* the first bytes the TLS handshake read: a refusal kehud sent in plaintext at accept */
    uint8_t hs_seen[512];
    size_t hs_nseen;
};

/* Before the Hello is answered, bytes that are not a Kehu frame come from
 * something else on the port (an HTTP or PostgreSQL server, TLS...). */
#define NOT_KEHUD "%s is not a kehud server (it answered the handshake in another protocol)%s"

static void set_status(struct kehu_status *st, int code, const char *field, const char *fmt, ...)
{
    if (!st)
        return;
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof st->message, fmt, ap);
    va_end(ap);
    snprintf(st->field, sizeof st->field, "%s", field ? field : "");
}

static void copy_status(struct kehu_status *st, const Kehu__V1__Status *s)
{
    if (!st)
        return;
    if (!s) {
        set_status(st, KEHU__V1__CODE__OK, NULL, "%s", "");
        return;
    }
    set_status(st, (int)s->code, s->field, "%s", s->message ? s->message : "");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- names */

const char *kehu_code_name(int code)
{
    if (code == KEHU_TRANSPORT)
        return "UNAVAILABLE";
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&kehu__v1__code__descriptor, code);
    return v ? v->name : NULL;
}

static const char *const role_names[] = {
    [KEHU__V1__ROLE__ADMIN] = "admin",
    [KEHU__V1__ROLE__BRANCH_MANAGER] = "branch_manager",
    [KEHU__V1__ROLE__ACCOUNT_MANAGER] = "account_manager",
    [KEHU__V1__ROLE__SERVICE_AGENT] = "service_agent",
    [KEHU__V1__ROLE__AUDITOR] = "auditor",
    [KEHU__V1__ROLE__COMMITTEE] = "committee",
    [KEHU__V1__ROLE__FINANCE] = "finance",
};

static const char *const kind_names[] = {
    [KEHU__V1__UNIT_KIND__HEAD_OFFICE] = "head_office",
    [KEHU__V1__UNIT_KIND__REGION] = "region",
    [KEHU__V1__UNIT_KIND__BRANCH] = "branch",
    [KEHU__V1__UNIT_KIND__TEAM] = "team",
};

#define NAMES_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *kehu_role_name(Kehu__V1__Role role)
{
    return (int)role > 0 && (int)role < NAMES_LEN(role_names) ? role_names[role] : NULL;
}

Kehu__V1__Role kehu_role_parse(const char *name)
{
    for (int i = 1; name && i < NAMES_LEN(role_names); i++)
        if (role_names[i] && strcmp(role_names[i], name) == 0)
            return (Kehu__V1__Role)i;
    return KEHU__V1__ROLE__ROLE_UNSPECIFIED;
}

const char *kehu_unit_kind_name(Kehu__V1__UnitKind kind)
{
    return (int)kind > 0 && (int)kind < NAMES_LEN(kind_names) ? kind_names[kind] : NULL;
}

Kehu__V1__UnitKind kehu_unit_kind_parse(const char *name)
{
    for (int i = 1; name && i < NAMES_LEN(kind_names); i++)
        if (kind_names[i] && strcmp(kind_names[i], name) == 0)
            return (Kehu__V1__UnitKind)i;
    return KEHU__V1__UNIT_KIND__UNIT_KIND_UNSPECIFIED;
}

/* ---- socket */

static int split_server(const char *server, char *host, size_t hn, char *port, size_t pn)
{
    const char *colon;
    if (server[0] == '[') { /* [v6]:port */
        const char *end = strchr(server, ']');
        if (!end || end[1] != ':')
            return -1;
        snprintf(host, hn, "%.*s", (int)(end - server - 1), server + 1);
        colon = end + 1;
    } else {
        colon = strrchr(server, ':');
        if (!colon)
            return -1;
        snprintf(host, hn, "%.*s", (int)(colon - server), server);
    }
    snprintf(port, pn, "%s", colon + 1);
    return host[0] && port[0] ? 0 : -1;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int left = (int)(deadline - now_ms());
        if (left < 0)
            left = 0;
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, left);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int dial(const char *server, int timeout_ms, struct kehu_status *st)
{
    char host[200], port[32];
    if (split_server(server, host, sizeof host, port, sizeof port) < 0) {
        set_status(st, KEHU_TRANSPORT, "server", "bad server address '%s': expected HOST:PORT", server);
        return -1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        set_status(st, KEHU_TRANSPORT, "server", "cannot resolve %s: %s", server, gai_strerror(gai));
        return -1;
    }
    int64_t deadline = now_ms() + timeout_ms;
    int fd = -1, err = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            socklen_t len = sizeof err;
            if (w == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                break;
            if (w < 0)
                err = -w;
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        set_status(st, KEHU_TRANSPORT, NULL, "cannot connect to %s: %s", server, strerror(err ? err : ECONNREFUSED));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void drop_socket(kehu_client *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    wire_decoder_free(&c->dec);
    wire_decoder_init(&c->dec, KEHU_DEFAULT_MAX_FRAME * 64);
}

/* ---- TLS (docs/security.md) */

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void tls_opts_copy(struct kehu_tls *to, const struct kehu_tls *from)
{
    struct kehu_tls none = { 0 };
    if (!from)
        from = &none;
    *to = *from;
    to->ca_file = dup_opt(from->ca_file);
    to->fingerprint = dup_opt(from->fingerprint);
    to->known_servers = dup_opt(from->known_servers);
    to->cert_file = dup_opt(from->cert_file);
    to->key_file = dup_opt(from->key_file);
}

static void tls_opts_free(struct kehu_tls *t)
{
    free((char *)t->ca_file);
    free((char *)t->fingerprint);
    free((char *)t->known_servers);
    free((char *)t->cert_file);
    free((char *)t->key_file);
    memset(t, 0, sizeof *t);
}

const char *kehu_known_servers_path(void)
{
    static char path[1024];
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        snprintf(path, sizeof path, "%s/kehu/known_servers", xdg);
    else
        snprintf(path, sizeof path, "%s/.config/kehu/known_servers", home && *home ? home : ".");
    return path;
}

/* "sha256:AB:cd..." or "abcd..." -> 64 lower-case hex digits, else -1. */
static int fp_normal(const char *in, char out[65])
{
    if (strncasecmp(in, "sha256:", 7) == 0)
        in += 7;
    size_t k = 0;
    for (; *in; in++) {
        if (*in == ':')
            continue;
        if (!isxdigit((unsigned char)*in) || k >= 64)
            return -1;
        out[k++] = (char)tolower((unsigned char)*in);
    }
    out[k] = 0;
    return k == 64 ? 0 : -1;
}

static int fp_same(const char *a, const char *b)
{
    char x[65], y[65];
    return fp_normal(a, x) == 0 && fp_normal(b, y) == 0 && strcmp(x, y) == 0;
}

/* The remembered fingerprint of server: 1 found (and its line), 0 none, -1 unreadable. */
static int known_get(const char *path, const char *server, char *fp, size_t n, int *lineno)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char line[1024];
    int no = 0, found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        no++;
        char name[512], value[256];
        if (line[0] == '#' || sscanf(line, "%511s %255s", name, value) != 2)
            continue;
        if (strcmp(name, server) == 0) {
            snprintf(fp, n, "%s", value);
            *lineno = no;
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* Appends "server fingerprint", making the directories (0700) and the file (0600). */
static int known_add(const char *path, const char *server, const char *fp, char *err, size_t errsz)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errsz, "cannot create %.400s: %s", dir, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errsz, "cannot write %.400s: %s", path, strerror(errno));
        return -1;
    }
    flock(fd, LOCK_EX);
    char line[700];
    int len = snprintf(line, sizeof line, "%s %s\n", server, fp);
    ssize_t w = write(fd, line, (size_t)len);
    int saved = errno;
    close(fd);
    if (w != len) {
        snprintf(err, errsz, "cannot write %.400s: %s", path, strerror(w < 0 ? saved : EIO));
        return -1;
    }
    return 0;
}

static int peer_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* OpenSSL's last error as text (cleared). */
static const char *ssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    if (!e)
        snprintf(buf, n, "the connection was closed during the handshake (is TLS configured on the server?)");
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

static int tls_fail(struct kehu_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tls_fail(struct kehu_status *st, const char *fmt, ...)
{
    if (st) {
        st->code = KEHU_TRANSPORT;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->message, sizeof st->message, fmt, ap);
        va_end(ap);
        snprintf(st->field, sizeof st->field, "tls");
    }
    return -1;
}

/* A context costs milliseconds to make (OpenSSL 3), a handshake less: one
 * per set of files is shared by every client of the process (a context is
 * safe to share between threads once made) and kept until it exits. */
struct ctx_cache {
    char *key; /* "ca\ncert\nkey" */
    SSL_CTX *ctx;
    struct ctx_cache *next;
};
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctx_cache *cache;

static char *cache_key(const struct kehu_tls *t)
{
    const char *ca = t->ca_file ? t->ca_file : "", *cert = t->cert_file ? t->cert_file : "",
               *key = t->key_file ? t->key_file : "";
    size_t n = strlen(ca) + strlen(cert) + strlen(key) + 3;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s\n%s\n%s", ca, cert, key);
    return k;
}

static SSL_CTX *cache_get(const char *key)
{
    SSL_CTX *ctx = NULL;
    pthread_mutex_lock(&cache_lock);
    for (struct ctx_cache *e = cache; e && key; e = e->next)
        if (strcmp(e->key, key) == 0) {
            ctx = e->ctx;
            SSL_CTX_up_ref(ctx);
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    return ctx;
}

static void cache_put(char *key, SSL_CTX *ctx)
{
    struct ctx_cache *e = key ? malloc(sizeof *e) : NULL;
    if (!e) {
        free(key);
        return;
    }
    e->key = key;
    e->ctx = ctx;
    SSL_CTX_up_ref(ctx);
    pthread_mutex_lock(&cache_lock);
    e->next = cache;
    cache = e;
    pthread_mutex_unlock(&cache_lock);
}

static int tls_context(kehu_client *c, struct kehu_status *st)
{
    if (c->tls_ctx)
        return 0;
    char *key = cache_key(&c->tls);
    if ((c->tls_ctx = cache_get(key)) != NULL) {
        free(key);
        return 0;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char why[256];
    if (!ctx) {
        free(key);
        return tls_fail(st, "TLS: %s", ssl_reason(why, sizeof why));
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    const struct kehu_tls *t = &c->tls;
    if (t->ca_file && *t->ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
            SSL_CTX_free(ctx);
            free(key);
            return tls_fail(st, "cannot load the CA file %s: %s", t->ca_file, ssl_reason(why, sizeof why));
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (t->cert_file && *t->cert_file) {
        const char *keyf = t->key_file && *t->key_file ? t->key_file : t->cert_file;
        if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, keyf, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
            SSL_CTX_free(ctx);
            free(key);
            return tls_fail(st, "cannot load the client certificate %s (key %s): %s", t->cert_file, keyf,
                            ssl_reason(why, sizeof why));
        }
    }
    c->tls_ctx = ctx;
    cache_put(key, ctx);
    return 0;
}

/* After the handshake: the fingerprint given, known_servers, or the user. */
static int tls_trust(kehu_client *c, struct kehu_status *st)
{
    const struct kehu_tls *t = &c->tls;
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!x || !X509_digest(x, EVP_sha256(), md, &len))
        return tls_fail(st, "%s sent no certificate", c->server);
    size_t k = 0;
    for (unsigned i = 0; i < len; i++)
        k += (size_t)snprintf(c->server_fp + k, sizeof c->server_fp - k, "%s%02X", i ? ":" : "", md[i]);
    if (t->fingerprint && *t->fingerprint) {
        char norm[65];
        if (fp_normal(t->fingerprint, norm) < 0)
            return tls_fail(st, "the fingerprint given is not a SHA-256 fingerprint (64 hex digits): %s", t->fingerprint);
        if (!fp_same(t->fingerprint, c->server_fp))
            return tls_fail(st, "the certificate of %s has SHA-256 fingerprint %s, not the one given (%s): refusing",
                            c->server, c->server_fp, t->fingerprint);
        return 0;
    }
    if (t->ca_file && *t->ca_file)
        return 0; /* verified against the CA in the handshake */
    const char *path = t->known_servers ? t->known_servers : kehu_known_servers_path();
    if (!*path) {
        if (t->accept_new)
            return 0;
        return tls_fail(st, "cannot verify %s: give a CA file or the server's fingerprint", c->server);
    }
    char known[256];
    int line = 0;
    int r = known_get(path, c->server, known, sizeof known, &line);
    if (r < 0)
        return tls_fail(st, "cannot read %s: %s", path, strerror(errno));
    if (r == 1) {
        if (fp_same(known, c->server_fp))
            return 0;
        return tls_fail(st,
                        "WARNING: THE CERTIFICATE OF %s HAS CHANGED. Someone may be intercepting the connection, or "
                        "its certificate was replaced. It is now %s; %s line %d remembers %s. Refusing to connect: "
                        "if the change is expected, remove that line",
                        c->server, c->server_fp, path, line, known);
    }
    int yes = t->accept_new || (t->ask && t->ask(c->server, c->server_fp, t->ask_arg) == 1);
    if (!yes)
        return tls_fail(st,
                        "%s is not a known server (its certificate's SHA-256 is %s): check that fingerprint with the "
                        "server's administrator, then connect with --fingerprint, --ca-file or --accept-new-server",
                        c->server, c->server_fp);
    char err[600];
    if (known_add(path, c->server, c->server_fp, err, sizeof err) < 0)
        return tls_fail(st, "%s", err);
    return 0;
}

/* Keeps the first bytes OpenSSL reads from the socket during the handshake. */
static long hs_record(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                      size_t *processed)
{
    (void)len;
    (void)argi;
    (void)argl;
    kehu_client *c = (kehu_client *)BIO_get_callback_arg(b);
    if (c && oper == (BIO_CB_READ | BIO_CB_RETURN) && ret > 0 && processed && argp) {
        size_t n = *processed, room = sizeof c->hs_seen - c->hs_nseen;
        memcpy(c->hs_seen + c->hs_nseen, argp, n < room ? n : room);
        c->hs_nseen += n < room ? n : room;
    }
    return ret;
}

/* A connection kehud refuses at accept (too many from this address, server
 * full) is answered with a plaintext Kehu frame before any handshake, which
 * OpenSSL then reads as a broken TLS record: read it as the refusal it is.
 * 1 with st set to the server's status, 0 when it is not one. */
static int plaintext_refusal(kehu_client *c, struct kehu_status *st)
{
    if (c->hs_nseen < WIRE_HEADER || c->hs_nseen == sizeof c->hs_seen || c->hs_seen[0] == 0x16 ||
        c->hs_seen[0] == 0x15)
        return 0; /* nothing, more than OpenSSL reads of a bad record header, or TLS itself */
    struct wire_decoder d;
    wire_decoder_init(&d, 4096);
    int found = 0;
    if (wire_decoder_feed(&d, c->hs_seen, c->hs_nseen) != WIRE_NOMEM) {
        int64_t deadline = now_ms() + (c->timeout_ms < 2000 ? c->timeout_ms : 2000);
        for (;;) {
            const uint8_t *payload;
            size_t len;
            int r = wire_decoder_next(&d, &payload, &len);
            if (r == WIRE_FRAME) {
                Kehu__V1__Frame *f = kehu__v1__frame__unpack(NULL, len, payload);
                if (f && f->id == 0 && f->body_case == KEHU__V1__FRAME__BODY_RESPONSE && f->response->status &&
                    f->response->status->code != KEHU__V1__CODE__OK) {
                    const Kehu__V1__Status *s = f->response->status;
                    st->code = (int)s->code;
                    snprintf(st->message, sizeof st->message, _("%s refused the connection: %s"), c->server,
                             s->message ? s->message : "");
                    snprintf(st->field, sizeof st->field, "%s", s->field ? s->field : "");
                    found = 1;
                }
                if (f)
                    kehu__v1__frame__free_unpacked(f, NULL);
                break;
            }
            if (r != WIRE_NEED_MORE)
                break;
            uint8_t buf[1024]; /* the rest of the frame is still in the socket */
            if (wait_fd(c->fd, POLLIN, deadline) < 0)
                break;
            ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
                break;
            if (n > 0 && wire_decoder_feed(&d, buf, (size_t)n) == WIRE_NOMEM)
                break;
        }
    }
    wire_decoder_free(&d);
    return found;
}

/* The TLS handshake on the connected socket, then the checks of trust. */
static int tls_start(kehu_client *c, struct kehu_status *st)
{
    if (tls_context(c, st) < 0)
        return -1;
    char host[200], port[32], why[256];
    split_server(c->server, host, sizeof host, port, sizeof port);
    c->ssl = SSL_new(c->tls_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return tls_fail(st, "TLS: %s", ssl_reason(why, sizeof why));
    c->hs_nseen = 0;
    BIO *rbio = SSL_get_rbio(c->ssl);
    BIO_set_callback_arg(rbio, (char *)c);
    BIO_set_callback_ex(rbio, hs_record);
    struct in6_addr a6;
    struct in_addr a4;
    int is_ip = inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
    if (!is_ip)
        SSL_set_tlsext_host_name(c->ssl, host);
    if (c->tls.ca_file && *c->tls.ca_file) {
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
        else
            SSL_set1_host(c->ssl, host);
    }
    int64_t deadline = now_ms() + c->timeout_ms;
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int w = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (w < 0)
                return tls_fail(st, "TLS handshake with %s: %s", c->server, strerror(-w));
            continue;
        }
        if (plaintext_refusal(c, st))
            return -1;
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK)
            return tls_fail(st, "the certificate of %s does not verify against %s: %s", c->server, c->tls.ca_file,
                            X509_verify_cert_error_string(v));
        return tls_fail(st, "TLS handshake with %s failed: %s", c->server, ssl_reason(why, sizeof why));
    }
    BIO_set_callback_ex(SSL_get_rbio(c->ssl), NULL); /* only the handshake's first bytes matter */
    return tls_trust(c, st);
}

/* Dials and, when TLS is wanted, shakes hands. */
static int open_transport(kehu_client *c, struct kehu_status *st)
{
    c->fd = dial(c->server, c->timeout_ms, st);
    if (c->fd < 0)
        return -1;
    int want = c->tls.mode == KEHU_TLS_ON || (c->tls.mode == KEHU_TLS_AUTO && !peer_is_loopback(c->fd));
    if (want && tls_start(c, st) < 0) {
        drop_socket(c);
        return -1;
    }
    return 0;
}

int kehu_is_tls(const kehu_client *c)
{
    return c->ssl != NULL;
}

const char *kehu_server_fingerprint(const kehu_client *c)
{
    return c->ssl ? c->server_fp : "";
}

/* Fails every pending call: the connection is gone. */
static void fail_pending(kehu_client *c, const struct kehu_status *why)
{
    struct pending *p = c->pending;
    c->pending = NULL;
    c->npending = 0;
    while (p) {
        struct pending *next = p->next;
        if (p->cb) {
            p->cb(NULL, why, p->arg);
            free(p);
        } else {
            p->sync_done = -1; /* the kehu_call waiting on it owns and frees it */
        }
        p = next;
    }
}

static int transport_error(kehu_client *c, struct kehu_status *st, const char *fmt, const char *detail)
{
    struct kehu_status why;
    set_status(&why, KEHU_TRANSPORT, NULL, fmt, c->server, detail ? detail : "");
    drop_socket(c);
    fail_pending(c, &why);
    if (st)
        *st = why;
    return -1;
}

static int write_all(kehu_client *c, const uint8_t *p, size_t n, struct kehu_status *st)
{
    int64_t deadline = now_ms() + c->timeout_ms;
    while (n > 0 && c->ssl) {
        ERR_clear_error();
        int k = SSL_write(c->ssl, p, n > (1u << 30) ? 1 << 30 : (int)n);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        int e = SSL_get_error(c->ssl, k);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            char why[256];
            return transport_error(c, st, "connection to %s lost: %s",
                                   e == SSL_ERROR_SYSCALL && errno ? strerror(errno) : ssl_reason(why, sizeof why));
        }
        int r = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        if (r < 0)
            return transport_error(c, st, "connection to %s: %s", strerror(-r));
    }
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(c->fd, POLLOUT, deadline);
            if (r < 0)
                return transport_error(c, st, "connection to %s: %s", strerror(-r));
            continue;
        }
        return transport_error(c, st, "connection to %s lost: %s", strerror(errno));
    }
    return 0;
}

static int send_frame(kehu_client *c, Kehu__V1__Frame *f, struct kehu_status *st)
{
    if (c->fd < 0) {
        set_status(st, KEHU_TRANSPORT, NULL, "not connected to %s", c->server);
        return -1;
    }
    struct wire_buf b = { 0 };
    if (wire_pack(&b, f) < 0) /* fails what is pending, the request just queued included */
        return transport_error(c, st, "%s: out of memory packing a request%s", "");
    int r = write_all(c, b.data, b.len, st);
    wire_buf_free(&b);
    return r;
}

static void queue_event(kehu_client *c, Kehu__V1__Event *ev)
{
    struct queued_event *q = malloc(sizeof *q);
    if (!q) {
        kehu__v1__event__free_unpacked(ev, NULL);
        return;
    }
    q->ev = ev;
    q->next = NULL;
    if (c->ev_tail)
        c->ev_tail->next = q;
    else
        c->ev_head = q;
    c->ev_tail = q;
}

/* Handles one received frame: a response completes its pending call, an event
 * is queued. A response with id 0 is the server refusing the connection. */
static int handle_frame(kehu_client *c, Kehu__V1__Frame *f, struct kehu_status *st)
{
    if (f->body_case == KEHU__V1__FRAME__BODY_EVENT && f->id == 0) {
        Kehu__V1__Event *ev = f->event;
        f->event = NULL;
        f->body_case = KEHU__V1__FRAME__BODY__NOT_SET;
        kehu__v1__frame__free_unpacked(f, NULL);
        queue_event(c, ev);
        return 0;
    }
    if (f->body_case != KEHU__V1__FRAME__BODY_RESPONSE) {
        kehu__v1__frame__free_unpacked(f, NULL);
        return transport_error(c, st, c->greeted ? "%s sent an unexpected frame%s" : NOT_KEHUD, "");
    }
    Kehu__V1__Response *resp = f->response;
    f->response = NULL;
    f->body_case = KEHU__V1__FRAME__BODY__NOT_SET;
    uint64_t id = f->id;
    kehu__v1__frame__free_unpacked(f, NULL);

    if (id == 0) { /* connection-level error: the server closes after it */
        struct kehu_status why;
        copy_status(&why, resp->status);
        if (why.code == KEHU__V1__CODE__OK)
            why.code = KEHU__V1__CODE__INTERNAL;
        kehu__v1__response__free_unpacked(resp, NULL);
        drop_socket(c);
        fail_pending(c, &why);
        if (st)
            *st = why;
        return -1;
    }
    struct pending **pp = &c->pending;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    if (!*pp) {
        kehu__v1__response__free_unpacked(resp, NULL);
        return 0; /* an answer nobody waits for any more */
    }
    struct pending *p = *pp;
    *pp = p->next;
    c->npending--;
    if (p->cb) {
        struct kehu_status s;
        copy_status(&s, resp->status);
        p->cb(resp, &s, p->arg);
        kehu__v1__response__free_unpacked(resp, NULL);
        free(p);
    } else {
        p->sync_resp = resp;
        p->sync_done = 1;
    }
    return 0;
}

/* Reads once (waiting until deadline) and handles every whole frame. */
static int read_some(kehu_client *c, int64_t deadline, struct kehu_status *st)
{
    if (c->fd < 0) {
        set_status(st, KEHU_TRANSPORT, NULL, "not connected to %s", c->server);
        return -1;
    }
    /* TLS may hold decrypted bytes the socket will not announce again */
    int w = c->ssl && (SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl)) ? 0 : wait_fd(c->fd, POLLIN, deadline);
    if (w == -ETIMEDOUT) {
        set_status(st, KEHU_TRANSPORT, NULL, "timeout waiting for %s", c->server);
        return -2;
    }
    if (w < 0)
        return transport_error(c, st, "connection to %s: %s", strerror(-w));
    uint8_t buf[65536];
    ssize_t n;
    if (c->ssl) {
        ERR_clear_error();
        errno = 0; /* SSL_ERROR_SYSCALL with errno 0 is an EOF */
        int k = SSL_read(c->ssl, buf, sizeof buf);
        if (k > 0) {
            n = k;
        } else {
            int e = SSL_get_error(c->ssl, k);
            if (e == SSL_ERROR_WANT_READ)
                return 0;
            if (e == SSL_ERROR_WANT_WRITE) {
                int r = wait_fd(c->fd, POLLOUT, deadline);
                return r < 0 && r != -ETIMEDOUT ? transport_error(c, st, "connection to %s: %s", strerror(-r)) : 0;
            }
            if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) {
                n = 0;
            } else if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                ERR_clear_error(); /* OpenSSL 3: an EOF without close_notify */
                n = 0;
            } else {
                char why[256];
                return transport_error(c, st, "connection to %s lost: %s",
                                       e == SSL_ERROR_SYSCALL && errno ? strerror(errno) : ssl_reason(why, sizeof why));
            }
        }
    } else {
        n = recv(c->fd, buf, sizeof buf, 0);
    }
    if (n == 0)
        return transport_error(c, st, c->greeted || !c->received ? "%s closed the connection%s" : NOT_KEHUD, "");
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 0;
        return transport_error(c, st, "connection to %s lost: %s", strerror(errno));
    }
    c->received += (uint64_t)n;
    if (wire_decoder_feed(&c->dec, buf, (size_t)n) == WIRE_NOMEM)
        return transport_error(c, st, "%s: out of memory%s", "");
    for (;;) {
        const uint8_t *payload;
        size_t len;
        int r = wire_decoder_next(&c->dec, &payload, &len);
        if (r == WIRE_NEED_MORE)
            return 0;
        if (r != WIRE_FRAME)
            return transport_error(c, st, c->greeted ? "%s sent an oversized frame%s" : NOT_KEHUD, "");
        Kehu__V1__Frame *f = kehu__v1__frame__unpack(NULL, len, payload);
        if (!f)
            return transport_error(c, st, c->greeted ? "%s sent a malformed frame%s" : NOT_KEHUD, "");
        if (handle_frame(c, f, st) < 0)
            return -1;
    }
}

/* ---- public calls */

static struct pending *add_pending(kehu_client *c, kehu_cb cb, void *arg)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->id = ++c->next_id;
    p->cb = cb;
    p->arg = arg;
    struct pending **pp = &c->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
    c->npending++;
    return p;
}

static void remove_pending(kehu_client *c, struct pending *p)
{
    for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            c->npending--;
            return;
        }
}

static int send_request(kehu_client *c, struct pending *p, const Kehu__V1__Request *req, struct kehu_status *st)
{
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = p->id;
    f.body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f.request = (Kehu__V1__Request *)req;
    return send_frame(c, &f, st);
}

static int check_connected(kehu_client *c, struct kehu_status *st)
{
    if (c->fd >= 0)
        return 0;
    set_status(st, KEHU_TRANSPORT, NULL, "not connected to %s", c->server);
    return -1;
}

int kehu_send(kehu_client *c, const Kehu__V1__Request *req, kehu_cb cb, void *arg, uint64_t *id,
              struct kehu_status *st)
{
    if (check_connected(c, st) < 0)
        return -1;
    struct pending *p = add_pending(c, cb, arg);
    if (!p) {
        set_status(st, KEHU_TRANSPORT, NULL, "out of memory");
        return -1;
    }
    uint64_t pid = p->id;
    if (send_request(c, p, req, st) < 0)
        return -1; /* the callback has run with the transport error */
    if (id)
        *id = pid;
    return 0;
}

Kehu__V1__Response *kehu_call(kehu_client *c, const Kehu__V1__Request *req, struct kehu_status *st)
{
    if (check_connected(c, st) < 0)
        return NULL;
    struct pending *p = add_pending(c, NULL, NULL);
    if (!p) {
        set_status(st, KEHU_TRANSPORT, NULL, "out of memory");
        return NULL;
    }
    /* p stays owned here: fail_pending unlinks it and marks sync_done = -1 */
    struct kehu_status local;
    if (!st)
        st = &local;
    if (send_request(c, p, req, st) < 0) {
        free(p);
        return NULL;
    }
    int64_t deadline = now_ms() + c->timeout_ms;
    while (!p->sync_done) {
        int r = read_some(c, deadline, st);
        if (r == -2) { /* timeout: forget the call; a late answer is dropped */
            remove_pending(c, p);
            free(p);
            return NULL;
        }
        if (r < 0 && p->sync_done != 1)
            break;
    }
    Kehu__V1__Response *resp = p->sync_done == 1 ? p->sync_resp : NULL;
    if (p->sync_done != 1 && st->code != KEHU_TRANSPORT && st->code == KEHU__V1__CODE__OK)
        set_status(st, KEHU_TRANSPORT, NULL, "connection to %s lost", c->server);
    free(p);
    if (resp)
        copy_status(st, resp->status);
    return resp;
}

void kehu_response_free(Kehu__V1__Response *r)
{
    if (r)
        kehu__v1__response__free_unpacked(r, NULL);
}

int kehu_run(kehu_client *c, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    struct kehu_status st;
    while (c->npending > 0) {
        int r = read_some(c, deadline, &st);
        if (r == -2)
            break;
        if (r < 0)
            return -1;
    }
    return c->npending;
}

int kehu_pending(const kehu_client *c)
{
    return c->npending;
}

Kehu__V1__Event *kehu_next_event(kehu_client *c, int timeout_ms, struct kehu_status *st)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!c->ev_head) {
        int r = read_some(c, deadline, st);
        if (r == -2) {
            set_status(st, KEHU_TRANSPORT, NULL, "timeout");
            return NULL;
        }
        if (r < 0)
            return NULL;
    }
    struct queued_event *q = c->ev_head;
    c->ev_head = q->next;
    if (!c->ev_head)
        c->ev_tail = NULL;
    Kehu__V1__Event *ev = q->ev;
    free(q);
    return ev;
}

void kehu_event_free(Kehu__V1__Event *ev)
{
    if (ev)
        kehu__v1__event__free_unpacked(ev, NULL);
}

/* ---- connection */

static int handshake(kehu_client *c, struct kehu_status *st)
{
    Kehu__V1__Hello hello = KEHU__V1__HELLO__INIT;
    hello.protocol_version = KEHU_PROTOCOL_VERSION;
    hello.client = "libkehu " KEHU_VERSION;
    hello.language = (char *)kehu_i18n_lang(); /* refusals come back in the client's language */
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_HELLO;
    req.hello = &hello;
    c->greeted = 0;
    c->received = 0;
    Kehu__V1__Response *resp = kehu_call(c, &req, st);
    if (!resp)
        return -1;
    int code = st->code;
    c->greeted = 1;
    if (code == KEHU__V1__CODE__OK && resp->result_case == KEHU__V1__RESPONSE__RESULT_HELLO)
        snprintf(c->server_name, sizeof c->server_name, "%s", resp->hello->server ? resp->hello->server : "");
    kehu_response_free(resp);
    return code == KEHU__V1__CODE__OK ? 0 : -1;
}

kehu_client *kehu_connect(const char *server, int timeout_ms, struct kehu_status *st)
{
    return kehu_connect_tls(server, NULL, timeout_ms, st);
}

kehu_client *kehu_connect_tls(const char *server, const struct kehu_tls *tls, int timeout_ms, struct kehu_status *st)
{
    struct kehu_status local;
    if (!st)
        st = &local;
    if (!server || !*server)
        server = KEHU_DEFAULT_SERVER;
    kehu_client *c = calloc(1, sizeof *c);
    if (!c) {
        set_status(st, KEHU_TRANSPORT, NULL, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : KEHU_DEFAULT_TIMEOUT_MS;
    snprintf(c->server, sizeof c->server, "%s", server);
    wire_decoder_init(&c->dec, KEHU_DEFAULT_MAX_FRAME * 64);
    tls_opts_copy(&c->tls, tls);
    if (open_transport(c, st) < 0 || handshake(c, st) < 0) {
        kehu_close(c);
        return NULL;
    }
    set_status(st, KEHU__V1__CODE__OK, NULL, "%s", "");
    return c;
}

void kehu_close(kehu_client *c)
{
    if (!c)
        return;
    struct kehu_status why;
    set_status(&why, KEHU_TRANSPORT, NULL, "connection closed by the client");
    drop_socket(c);
    fail_pending(c, &why);
    wire_decoder_free(&c->dec);
    while (c->ev_head) {
        struct queued_event *q = c->ev_head;
        c->ev_head = q->next;
        kehu_event_free(q->ev);
        free(q);
    }
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
    }
    tls_opts_free(&c->tls);
    SSL_CTX_free(c->tls_ctx);
    free(c);
}

int kehu_fd(const kehu_client *c)
{
    return c->fd;
}

const char *kehu_server(const kehu_client *c)
{
    return c->server;
}

const char *kehu_server_name(const kehu_client *c)
{
    return c->server_name;
}

void kehu_set_timeout(kehu_client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : KEHU_DEFAULT_TIMEOUT_MS;
}

const char *kehu_token(const kehu_client *c)
{
    return c->token;
}

static void keep_token(kehu_client *c, const char *token)
{
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
    }
    c->token = token ? strdup(token) : NULL;
}

/* Runs a session request; on OK hands back the Session (owned by the caller). */
static int session_call(kehu_client *c, Kehu__V1__Request *req, Kehu__V1__Session **out, struct kehu_status *st)
{
    struct kehu_status local;
    if (!st)
        st = &local;
    if (out)
        *out = NULL;
    Kehu__V1__Response *resp = kehu_call(c, req, st);
    if (!resp)
        return st->code;
    int code = st->code;
    if (code == KEHU__V1__CODE__OK && resp->result_case == KEHU__V1__RESPONSE__RESULT_SESSION && out) {
        *out = resp->session;
        resp->session = NULL;
        resp->result_case = KEHU__V1__RESPONSE__RESULT__NOT_SET;
    }
    kehu_response_free(resp);
    return code;
}

int kehu_login(kehu_client *c, const char *username, const char *password, Kehu__V1__Session **out,
               struct kehu_status *st)
{
    Kehu__V1__Login login = KEHU__V1__LOGIN__INIT;
    login.username = (char *)username;
    login.password = (char *)password;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGIN;
    req.login = &login;
    Kehu__V1__Session *s = NULL;
    int code = session_call(c, &req, &s, st);
    if (code == KEHU__V1__CODE__OK && s && s->token)
        keep_token(c, s->token);
    if (out)
        *out = s;
    else
        kehu_session_free(s);
    return code;
}

int kehu_resume(kehu_client *c, const char *token, Kehu__V1__Session **out, struct kehu_status *st)
{
    Kehu__V1__Resume resume = KEHU__V1__RESUME__INIT;
    resume.token = (char *)token;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_RESUME;
    req.resume = &resume;
    char *copy = token ? strdup(token) : NULL; /* token may be c->token itself */
    int code = session_call(c, &req, out, st);
    if (code == KEHU__V1__CODE__OK)
        keep_token(c, copy);
    free(copy);
    return code;
}

int kehu_logout(kehu_client *c, struct kehu_status *st)
{
    Kehu__V1__Logout logout = KEHU__V1__LOGOUT__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_LOGOUT;
    req.logout = &logout;
    int code = session_call(c, &req, NULL, st);
    if (code == KEHU__V1__CODE__OK)
        keep_token(c, NULL);
    return code;
}

void kehu_session_free(Kehu__V1__Session *s)
{
    if (s)
        kehu__v1__session__free_unpacked(s, NULL);
}

int kehu_reconnect(kehu_client *c, struct kehu_status *st)
{
    struct kehu_status local;
    if (!st)
        st = &local;
    struct kehu_status why;
    set_status(&why, KEHU_TRANSPORT, NULL, "reconnecting to %s", c->server);
    drop_socket(c);
    fail_pending(c, &why);
    if (open_transport(c, st) < 0 || handshake(c, st) < 0)
        return st->code;
    if (c->token)
        return kehu_resume(c, c->token, NULL, st);
    set_status(st, KEHU__V1__CODE__OK, NULL, "%s", "");
    return 0;
}
