/* kehud's configuration: defaults, then a config file, then KEHUD_*
 * environment variables, then command-line flags — each overriding the last. */
#ifndef KEHU_CONFIG_H
#define KEHU_CONFIG_H

#include <stddef.h>
#include <stdio.h>

struct config {
    char listen[256];       /* listen address */
    int port;
    char db[1024];          /* libpq connection string kehud serves with (the role kehu_app) */
    char db_owner[1024];    /* the schema owner's, for migrate, init and demo; "" = db */
    int pool_size;          /* PostgreSQL connections for requests */
    size_t max_frame;       /* largest frame a client may send, bytes */
    int max_inflight;       /* requests one connection may have in progress */
    size_t max_output;      /* unsent reply bytes per connection before it stops being read */
    int max_connections;
    char log_level[16];
    int session_ttl;        /* seconds */
    int shutdown_grace;     /* seconds to finish in-flight requests on SIGTERM */
    int wait_db;            /* seconds to wait at start for the database; -1 for ever, 0 not at all */
    int db_timeout;         /* seconds before a database round trip is given up */
    unsigned long long hash_ops;  /* Argon2id opslimit */
    size_t hash_mem;        /* Argon2id memlimit, bytes */
    int login_free_failures; /* failed logins for one account from one address before they are slowed down */
    size_t doc_max_bytes;   /* largest document a client may upload */
    int report_timeout;     /* seconds a report may take */
    int grade_schedule;     /* seconds between looks at the grading schedule; 0: no scheduled runs */
    int grade_expire_schedule; /* seconds between looks for overrides that ran out (kept grades refreshed); 0: none */
    int pool_schedule;      /* seconds between looks at the pool's recycle schedule (daily); 0: none */
    int hello_timeout;      /* seconds a new connection has to say Hello */
    int frame_timeout;      /* seconds a started frame has to arrive whole */
    char id_key[72];        /* 64 hex digits: the key ID numbers are encrypted with (never stored in the database) */
    int without_id_numbers; /* 1: serve a base whose ID number key is lost: numbers shown unavailable, none stored */
    char pg_dump[512];      /* pg_dump for backups; "" finds PostgreSQL 15's */
    char backup_db[1024];   /* connection string pg_dump uses; "" the db value */
    /* Connection-layer limits (docs/security.md), decided before any handler runs */
    int auth_timeout;       /* seconds from Hello (or a session's end) to log in */
    int idle_timeout;       /* seconds a logged-in connection may sit idle (no subscription) */
    int max_conns_per_address;  /* connections from one address */
    int max_unauth_per_address; /* of those, not logged in */
    int reserved_connections;   /* of max_connections, kept for logged-in users */
    int max_inflight_unauth;    /* requests in progress per connection before login */
    size_t max_output_unauth;   /* unsent reply bytes per connection before login */
    size_t max_output_total;    /* unsent reply bytes over all connections */
    size_t max_frame_unauth;    /* largest frame before login */
    int login_address_failures; /* failed logins from one address (any account) before it is slowed down */
    int login_queue_per_address; /* password checks queued or running for one address */
    int login_threads;          /* password checks running at once (thread pool slots) */
    /* TLS on the listener (docs/security.md, server/tls.c) */
    char tls_cert[512];         /* PEM certificate chain; "" no TLS */
    char tls_key[512];          /* PEM private key; "" the tls_cert file */
    char tls_ca[512];           /* CA file that client certificates are checked against; "" none asked */
    char tls_client_map[512];   /* file mapping client certificates to org units */
    int tls_client_cert_required; /* 1: a TLS client without a certificate is refused */
    int tls_handshake_timeout;  /* seconds a TLS handshake may take */
    int allow_plaintext;        /* 1: plaintext Kehu from any address, not only loopback */
    int plaintext_loopback;     /* 0: loopback is treated like any other address (tests) */
    int test_drop_keyed_answers; /* tests only: the first N keyed writes are done and recorded, then their
                                    connection is closed instead of answered (a lost answer) */
};

void config_defaults(struct config *c);
/* 0 when key is 64 hex digits, else -1. */
int config_id_key_ok(const char *key);
/* Each returns 0, or -1 with a message naming the key, file line or flag in err. */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errsz);
int config_load_file(struct config *c, const char *path, char *err, size_t errsz);
int config_load_env(struct config *c, char *err, size_t errsz);
/* Parses argv (after the subcommand). --config is read first wherever it appears,
 * then the environment, then the remaining flags. Returns 0, 1 when --help
 * was printed, -1 on error. */
int config_from_args(struct config *c, int argc, char **argv, char *err, size_t errsz);
void config_usage(FILE *out);
/* The connection string for migrations and setup: db_owner, else db. */
const char *config_owner_db(const struct config *c);

#endif
