/* libkehu — the client library every Kehu client uses (CLI, TUI, tests,
 * benchmarks): connect and handshake, log in or resume, synchronous calls,
 * pipelined asynchronous calls and server-pushed events.
 *
 * A kehu_client is not thread-safe; use one per thread. Calls block with a
 * timeout using poll(2); kehu_fd() lets an event loop watch the socket. */
#ifndef KEHU_CLIENT_H
#define KEHU_CLIENT_H

#include <stdint.h>

#include "kehu.pb-c.h"

typedef struct kehu_client kehu_client;

/* Status codes are the protocol's (KEHU__V1__CODE__OK ...), plus this one for
 * failures on the client's side of the wire: cannot connect, connection lost,
 * timeout, malformed reply. The CLI maps it to exit code 3. */
#define KEHU_TRANSPORT (-1)

struct kehu_status {
    int code;            /* KEHU__V1__CODE__* or KEHU_TRANSPORT */
    char message[512];
    char field[64];
};

#define KEHU_DEFAULT_SERVER "127.0.0.1:7700"
#define KEHU_DEFAULT_TIMEOUT_MS 30000

/* Connects to "host:port" (IPv4, IPv6 "[::1]:7700" or a name) and exchanges
 * Hello. NULL on failure with st filled. kehu_connect is kehu_connect_tls
 * with every TLS option at its default. */
kehu_client *kehu_connect(const char *server, int timeout_ms, struct kehu_status *st);

/* TLS 1.3 (docs/security.md). A TLS failure is KEHU_TRANSPORT with field
 * "tls" (the CLI's exit code 3). The server is trusted when, in this order:
 * its chain verifies against ca_file (and names the host or IP address
 * connected to); its certificate's SHA-256 is the fingerprint given; it is
 * the one remembered for this server in known_servers; or, for a server not
 * known yet, ask says so or accept_new is set — it is then remembered. A
 * fingerprint different from the remembered one is refused, whatever ask
 * would say. */
enum kehu_tls_mode {
    KEHU_TLS_AUTO = 0, /* TLS unless the server's address is loopback */
    KEHU_TLS_ON,
    KEHU_TLS_OFF,
};
struct kehu_tls {
    enum kehu_tls_mode mode;
    const char *ca_file;       /* PEM CAs the server's chain must verify against */
    const char *fingerprint;   /* "AB:CD:..." or hex, optionally "sha256:" first */
    const char *known_servers; /* NULL: $XDG_CONFIG_HOME/kehu/known_servers; "": none read or kept */
    int accept_new;            /* trust and remember a server not known yet without asking */
    /* Asked about a server not known yet (no ca_file, no fingerprint): 1
     * trusts and remembers it, 0 refuses. NULL: refuse (unless accept_new). */
    int (*ask)(const char *server, const char *fingerprint, void *arg);
    void *ask_arg;
    const char *cert_file, *key_file; /* a client certificate, for mutual TLS (key: "" or NULL = in cert_file) */
};
/* tls NULL: the defaults (AUTO, known_servers, nobody asked). The options are
 * copied: kehu_reconnect uses them again. */
kehu_client *kehu_connect_tls(const char *server, const struct kehu_tls *tls, int timeout_ms, struct kehu_status *st);
/* 1 when the connection is TLS. */
int kehu_is_tls(const kehu_client *c);
/* The server certificate's SHA-256 ("AB:CD:..."), "" without TLS. */
const char *kehu_server_fingerprint(const kehu_client *c);
/* The known_servers file kehu_connect_tls reads by default. */
const char *kehu_known_servers_path(void);
void kehu_close(kehu_client *c);
int kehu_fd(const kehu_client *c);
const char *kehu_server(const kehu_client *c);
/* The server's Hello reply, e.g. "kehud 0.1.0". */
const char *kehu_server_name(const kehu_client *c);
void kehu_set_timeout(kehu_client *c, int timeout_ms);

/* Sends one request and waits for its response (events that arrive meanwhile
 * are queued for kehu_next_event). On a transport error returns NULL and sets
 * st->code = KEHU_TRANSPORT. Otherwise returns the response — also when its
 * status is not OK — with st copied from its status. Free with
 * kehu_response_free. */
Kehu__V1__Response *kehu_call(kehu_client *c, const Kehu__V1__Request *req, struct kehu_status *st);
void kehu_response_free(Kehu__V1__Response *r);

/* Pipelining: kehu_send queues and writes a request and returns at once with
 * its id; the callback runs from kehu_run/kehu_call when the response arrives
 * (resp NULL on a transport error; the library frees resp after the callback
 * returns). Returns 0, or -1 with st set. */
typedef void (*kehu_cb)(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg);
int kehu_send(kehu_client *c, const Kehu__V1__Request *req, kehu_cb cb, void *arg, uint64_t *id,
              struct kehu_status *st);
/* Reads and dispatches until nothing is pending or timeout_ms passes (0: only
 * what is already readable). Returns the number still pending, or -1 on a
 * transport error (every pending callback has then been called with NULL). */
int kehu_run(kehu_client *c, int timeout_ms);
int kehu_pending(const kehu_client *c);

/* Events pushed by the server (frame id 0). kehu_next_event waits up to
 * timeout_ms for one; returns it (free with kehu_event_free) or NULL with st
 * set (KEHU_TRANSPORT on timeout too, with message "timeout"). */
Kehu__V1__Event *kehu_next_event(kehu_client *c, int timeout_ms, struct kehu_status *st);
void kehu_event_free(Kehu__V1__Event *ev);

/* Session helpers. kehu_login stores the token in the client so that
 * kehu_reconnect can resume the session after a lost connection. */
int kehu_login(kehu_client *c, const char *username, const char *password, Kehu__V1__Session **out,
               struct kehu_status *st);
int kehu_resume(kehu_client *c, const char *token, Kehu__V1__Session **out, struct kehu_status *st);
int kehu_logout(kehu_client *c, struct kehu_status *st);
const char *kehu_token(const kehu_client *c); /* NULL when not logged in */
void kehu_session_free(Kehu__V1__Session *s);
/* Drops the socket, connects again, repeats Hello and (when a token is held)
 * Resume. Pending calls fail with KEHU_TRANSPORT. 0 or the failing code. */
int kehu_reconnect(kehu_client *c, struct kehu_status *st);

/* Names for codes, roles and unit kinds as the CLI and JSON print them:
 * "INVALID_ARGUMENT", "branch_manager", "team". NULL for unknown values;
 * the parse functions return 0 for unknown names. */
const char *kehu_code_name(int code);
const char *kehu_role_name(Kehu__V1__Role role);
Kehu__V1__Role kehu_role_parse(const char *name);
const char *kehu_unit_kind_name(Kehu__V1__UnitKind kind);
Kehu__V1__UnitKind kehu_unit_kind_parse(const char *name);

#endif
