#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum kind { K_STR, K_INT, K_SIZE, K_ULL, K_LEVEL };

/* The one list of settings: file key, environment variable, flag, help. */
struct setting {
    const char *key;
    enum kind kind;
    size_t offset, size;
    long long min, max;
    const char *help;
};

#define S(field, kind, min, max, help) \
    { #field, kind, offsetof(struct config, field), sizeof(((struct config *)0)->field), min, max, help }

static const struct setting settings[] = {
    S(listen, K_STR, 0, 0, "address to listen on, HOST or HOST:PORT ([V6]:PORT); also KEHU_LISTEN (default 127.0.0.1)"),
    S(port, K_INT, 0, 65535, "TCP port (default 7700)"),
    S(db, K_STR, 0, 0, "PostgreSQL connection string kehud serves with, as role kehu_app (default \"dbname=kehu\")"),
    S(db_owner, K_STR, 0, 0, "connection string of the schema's owner, for migrate, init and demo (default: db)"),
    S(pool_size, K_INT, 1, 64, "PostgreSQL connections serving requests (default 4)"),
    S(max_frame, K_SIZE, 1024, 64 << 20, "largest frame a client may send, bytes (default 1048576)"),
    S(max_inflight, K_INT, 1, 100000, "requests in progress per connection (default 8)"),
    S(max_output, K_SIZE, 65536, 1LL << 32, "unsent reply bytes per connection before it is paused (default 8388608)"),
    S(max_connections, K_INT, 1, 1000000, "client connections (default 10000)"),
    S(log_level, K_LEVEL, 0, 0, "debug, info, warn or error (default info)"),
    S(session_ttl, K_INT, 1, 90 * 86400, "session lifetime, seconds (default 43200)"),
    S(shutdown_grace, K_INT, 0, 3600, "seconds to finish requests in flight on SIGTERM (default 10)"),
    S(wait_db, K_INT, -1, 365 * 86400,
      "seconds serve waits at start for PostgreSQL to accept (retrying with the pool's backoff), -1 for ever;"
      " 0 exits with status 1 at once when it is down (default 0)"),
    S(db_timeout, K_INT, 1, 86400, "seconds before a database round trip is given up (default 30)"),
    S(hash_ops, K_ULL, 1, 1LL << 32, "Argon2id passes (default 2)"),
    S(hash_mem, K_SIZE, 8192, 1LL << 32, "Argon2id memory, bytes (default 67108864)"),
    S(login_free_failures, K_INT, 1, 1000, "failed logins for one account from one address before they are slowed down (default 5)"),
    S(doc_max_bytes, K_SIZE, 0, 256 << 20, "largest document a client may upload, bytes (default 10485760)"),
    S(report_timeout, K_INT, 1, 86400, "seconds a report may take, on its own connection (default 600)"),
    S(grade_schedule, K_INT, 0, 86400, "seconds between looks at the grading schedule, 0 none (default 600)"),
    S(grade_expire_schedule, K_INT, 0, 86400,
      "seconds between looks for grade overrides that ran out, whose customers' kept grades are then refreshed;"
      " 0 none: reads stay exact, only slower after such an end (default 60)"),
    S(pool_schedule, K_INT, 0, 86400, "seconds between looks at the pool's daily recycle, 0 none (default 3600)"),
    S(hello_timeout, K_INT, 1, 3600, "seconds a new connection has to say Hello (default 10)"),
    S(frame_timeout, K_INT, 1, 3600, "seconds a started frame has to arrive whole (default 30)"),
    S(id_key, K_STR, 0, 0, "64 hex digits encrypting ID numbers at rest; keep a copy apart from backups (required)"),
    S(without_id_numbers, K_INT, 0, 1,
      "1: serve a base whose ID number key is lost (no id_key needed): ID numbers show as unavailable, new ones are"
      " refused (default 0)"),
    S(pg_dump, K_STR, 0, 0, "pg_dump for backups (default: PostgreSQL 15's, from pg_config --bindir)"),
    S(backup_db, K_STR, 0, 0, "connection string for backups (default: db_owner, else db)"),
    /* connection-layer limits: docs/security.md */
    S(auth_timeout, K_INT, 1, 3600, "seconds from Hello (or a session's end) to log in (default 30)"),
    S(idle_timeout, K_INT, 1, 30 * 86400, "seconds a logged-in connection without a subscription may be idle (default 1800)"),
    S(max_conns_per_address, K_INT, 1, 1000000, "connections from one address (default 512)"),
    S(max_unauth_per_address, K_INT, 1, 1000000, "connections from one address not logged in (default 32)"),
    S(reserved_connections, K_INT, 0, 1000000, "of max_connections, slots only logged-in users may hold (default 1000)"),
    S(max_inflight_unauth, K_INT, 1, 100000, "requests in progress per connection before login (default 4)"),
    S(max_output_unauth, K_SIZE, 4096, 1LL << 32, "unsent reply bytes per connection before login (default 65536)"),
    S(max_output_total, K_SIZE, 65536, 1LL << 40, "unsent reply bytes over all connections (default 268435456)"),
    S(max_frame_unauth, K_SIZE, 1024, 64 << 20, "largest frame a client may send before login, bytes (default 65536)"),
    S(login_address_failures, K_INT, 1, 100000, "failed logins from one address before it is slowed down (default 20)"),
    S(login_queue_per_address, K_INT, 1, 10000, "password checks queued or running for one address (default 8)"),
    S(login_threads, K_INT, 1, 64, "password checks running at once on the thread pool (default 2)"),
    /* TLS on the listener: docs/security.md */
    S(tls_cert, K_STR, 0, 0, "PEM certificate (chain) for TLS on the listener; re-read on SIGHUP (default: no TLS)"),
    S(tls_key, K_STR, 0, 0, "PEM private key of tls_cert (default: in the tls_cert file)"),
    S(tls_ca, K_STR, 0, 0, "CA file client certificates are checked against; set, a client may present one"),
    S(tls_client_map, K_STR, 0, 0,
      "file of 'sha256:FINGERPRINT UNIT_ID' or 'cn:NAME UNIT_ID' lines: logins over a connection with that client"
      " certificate are limited to the users of that unit's subtree"),
    S(tls_client_cert_required, K_INT, 0, 1, "1: refuse TLS clients without a certificate from tls_ca (default 0)"),
    S(tls_handshake_timeout, K_INT, 1, 3600, "seconds a TLS handshake may take (default 10)"),
    S(allow_plaintext, K_INT, 0, 1, "1: accept plaintext (non-TLS) connections from any address, not only loopback (default 0)"),
    S(plaintext_loopback, K_INT, 0, 1,
      "0: treat loopback like a remote address, so plaintext from it is refused too (default 1; tests use 0)"),
    S(test_drop_keyed_answers, K_INT, 0, 1000000,
      "tests only: do and record the first N writes that carry an idempotency key (repeats too), then close"
      " their connection instead of answering, as if the answer were lost (default 0)"),
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

int config_id_key_ok(const char *key)
{
    size_t n = 0;
    for (; key[n]; n++)
        if (!isxdigit((unsigned char)key[n]))
            return -1;
    return n == 64 ? 0 : -1;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1");
    c->port = 7700;
    snprintf(c->db, sizeof c->db, "dbname=kehu");
    c->pool_size = 4;
    c->max_frame = 1 << 20;
    c->max_inflight = 8;
    c->max_output = 8 << 20;
    c->max_connections = 10000;
    snprintf(c->log_level, sizeof c->log_level, "info");
    c->session_ttl = 12 * 3600;
    c->shutdown_grace = 10;
    c->wait_db = 0;
    c->db_timeout = 30;
    c->hash_ops = 2;            /* libsodium's "interactive" cost */
    c->hash_mem = 64u << 20;
    c->login_free_failures = 5;
    c->doc_max_bytes = 10 << 20;
    c->hello_timeout = 10;
    c->grade_schedule = 600;
    c->grade_expire_schedule = 60;
    c->pool_schedule = 3600;
    c->report_timeout = 600;
    c->frame_timeout = 30;
    c->auth_timeout = 30;
    c->idle_timeout = 1800;
    c->max_conns_per_address = 512;
    c->max_unauth_per_address = 32;
    c->reserved_connections = 1000;
    c->max_inflight_unauth = 4;
    c->max_output_unauth = 64 << 10;
    c->max_output_total = 256u << 20;
    c->max_frame_unauth = 64 << 10;
    c->login_address_failures = 20;
    c->login_queue_per_address = 8;
    c->login_threads = 2;
    c->tls_handshake_timeout = 10;
    c->plaintext_loopback = 1;
}

const char *config_owner_db(const struct config *c)
{
    return *c->db_owner ? c->db_owner : c->db;
}

static const struct setting *find(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

/* "HOST", "HOST:PORT", "[V6]:PORT" or a bare IPv6 address. */
static int set_listen(struct config *c, const char *value, char *err, size_t errsz)
{
    char host[sizeof c->listen];
    const char *port = NULL;
    const char *colon = strchr(value, ':');
    if (value[0] == '[') {
        const char *end = strchr(value, ']');
        if (!end || (end[1] && end[1] != ':') || (size_t)(end - value - 1) >= sizeof host) {
            snprintf(err, errsz, "listen: '%s' is not HOST, HOST:PORT or [IPV6]:PORT", value);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(end - value - 1), value + 1);
        port = end[1] ? end + 2 : NULL;
    } else if (colon && !strchr(colon + 1, ':')) {
        if ((size_t)(colon - value) >= sizeof host) {
            snprintf(err, errsz, "listen: value too long");
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - value), value);
        port = colon + 1;
    } else {
        if (strlen(value) >= sizeof host) {
            snprintf(err, errsz, "listen: value too long");
            return -1;
        }
        snprintf(host, sizeof host, "%s", value);
    }
    if (!*host) {
        snprintf(err, errsz, "listen: '%s' has no host", value);
        return -1;
    }
    if (port) {
        char *end;
        errno = 0;
        long v = strtol(port, &end, 10);
        if (!*port || *end || errno || v < 0 || v > 65535) {
            snprintf(err, errsz, "listen: '%s' has no port from 0 to 65535 after the ':'", value);
            return -1;
        }
        c->port = (int)v;
    }
    snprintf(c->listen, sizeof c->listen, "%s", host);
    return 0;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errsz)
{
    const struct setting *s = find(key);
    if (!s) {
        snprintf(err, errsz, "unknown setting '%s'", key);
        return -1;
    }
    char *p = (char *)c + s->offset;
    if (strcmp(key, "listen") == 0)
        return set_listen(c, value, err, errsz);
    if (s->kind == K_STR) {
        if (strlen(value) >= s->size) {
            snprintf(err, errsz, "%s: value too long (at most %zu bytes)", key, s->size - 1);
            return -1;
        }
        memcpy(p, value, strlen(value) + 1);
        return 0;
    }
    if (s->kind == K_LEVEL) {
        enum log_level l;
        if (log_parse_level(value, &l) < 0) {
            snprintf(err, errsz, "%s: '%s' is not one of debug, info, warn, error", key, value);
            return -1;
        }
        snprintf(p, s->size, "%s", value);
        return 0;
    }
    errno = 0;
    char *end;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < s->min || v > s->max) {
        snprintf(err, errsz, "%s: '%s' is not a whole number from %lld to %lld", key, value, s->min, s->max);
        return -1;
    }
    if (s->kind == K_INT)
        *(int *)p = (int)v;
    else if (s->kind == K_SIZE)
        *(size_t *)p = (size_t)v;
    else
        *(unsigned long long *)p = (unsigned long long)v;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048], msg[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errsz, "%s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        if (config_set(c, trim(s), trim(eq + 1), msg, sizeof msg) < 0) {
            snprintf(err, errsz, "%s:%d: %s", path, lineno, msg);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

int config_load_env(struct config *c, char *err, size_t errsz)
{
    char name[64], msg[512];
    for (size_t i = 0; i < NSETTINGS; i++) {
        size_t n = (size_t)snprintf(name, sizeof name, "KEHUD_");
        for (const char *k = settings[i].key; *k && n + 1 < sizeof name; k++)
            name[n++] = (char)toupper((unsigned char)*k);
        name[n] = 0;
        const char *v = getenv(name);
        if (v && config_set(c, settings[i].key, v, msg, sizeof msg) < 0) {
            snprintf(err, errsz, "%s: %s", name, msg);
            return -1;
        }
    }
    /* KEHU_LISTEN=HOST:PORT, as scripts/up and the service unit give it */
    const char *lv = getenv("KEHU_LISTEN");
    if (lv && *lv && config_set(c, "listen", lv, msg, sizeof msg) < 0) {
        snprintf(err, errsz, "KEHU_LISTEN: %s", msg);
        return -1;
    }
    return 0;
}

void config_usage(FILE *out)
{
    fprintf(out, "Settings (file key = value; environment KEHUD_KEY; flag --key VALUE):\n"
                 "  --config FILE          read settings from FILE (environment KEHUD_CONFIG)\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", settings[i].key);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "  %-22s %s\n", flag, settings[i].help);
    }
}

/* "--pool-size" or "--pool_size" -> "pool_size" */
static int flag_key(const char *arg, char *key, size_t n)
{
    if (strncmp(arg, "--", 2) != 0)
        return -1;
    snprintf(key, n, "%s", arg + 2);
    char *eq = strchr(key, '=');
    if (eq)
        *eq = 0;
    for (char *p = key; *p; p++)
        if (*p == '-')
            *p = '_';
    return 0;
}

int config_from_args(struct config *c, int argc, char **argv, char *err, size_t errsz)
{
    const char *file = getenv("KEHUD_CONFIG");
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
        if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errsz, "%s needs a file", argv[i]);
                return -1;
            }
            file = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            file = argv[i] + 9;
        }
    }
    if (file && *file && config_load_file(c, file, err, errsz) < 0)
        return -1;
    if (config_load_env(c, err, errsz) < 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        char key[64], msg[512];
        if (flag_key(a, key, sizeof key) < 0 || !find(key)) {
            snprintf(err, errsz, "unknown option '%s' (see --help)", a);
            return -1;
        }
        const char *value = strchr(a, '=');
        if (value) {
            value++;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, errsz, "%s needs a value", a);
            return -1;
        }
        if (config_set(c, key, value, msg, sizeof msg) < 0) {
            snprintf(err, errsz, "%s: %s", a, msg);
            return -1;
        }
    }
    return 0;
}
