/* Requests: the table of RPCs and what happens once before any handler runs
 * (shape, Hello, session, authorization), and how a handler answers. */
#ifndef KEHU_DISPATCH_H
#define KEHU_DISPATCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "authz.h"
#include "db.h"
#include "util.h"
#include "wire.h"

struct conn;
struct server;
struct db_result;

enum rpc_flags {
    RPC_BEFORE_HELLO = 1, /* allowed as the first request (Hello only) */
    RPC_NO_AUDIT = 2,     /* not recorded in the audit trail (hello, ping, whoami: nothing read or changed) */
    RPC_AUDIT_LAST = 4,   /* a chunked upload: recorded once, at its last chunk (or a chunk that fails) */
    RPC_MUST_CHANGE_OK = 8, /* allowed to a session whose password must be changed first (passwd, whoami, logout) */
};

struct req;

struct rpc_entry {
    Kehu__V1__Request__OpCase op;
    const char *name;
    enum authz_action action;
    unsigned flags;
    void (*handler)(struct req *r);
};

/* One request in progress. A handler validates, authorizes the record if it
 * acts on one, starts its queries and returns; the last callback answers
 * with req_reply or req_fail, which frees the request. */
struct req {
    struct conn *conn;
    struct server *srv;
    uint64_t id;
    const struct rpc_entry *rpc;
    Kehu__V1__Request *msg;
    struct wire_budget budget;
    Kehu__V1__Response resp;
    Kehu__V1__Status status;
    struct arena arena;       /* reply strings and messages live here */
    uint64_t started_ns;
    void *state;              /* the handler's own, allocated in the arena */
    struct req_audit audit;   /* what its audit record will say (audit.h) */
    int unsound;              /* refused as decoded (a string not UTF-8 or with NUL, an unknown enum): its strings are not to be used */
    int64_t idem_user;        /* the user whose idempotency key this request claimed (idempotency.c), 0 none */
};

/* Decodes and runs one frame received on c. */
void dispatch_frame(struct conn *c, const uint8_t *payload, size_t len);

void req_reply(struct req *r);
/* Answers with a response recorded earlier (an idempotency key's), as is. */
void req_reply_recorded(struct req *r, Kehu__V1__Response *resp);
/* Answers OK with msg as the result which (KEHU__V1__RESPONSE__RESULT_...);
 * a message of another kind than the result's is a programming error. */
void req_reply_result(struct req *r, Kehu__V1__Response__ResultCase which, void *msg);
void req_fail(struct req *r, Kehu__V1__Code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void req_failv(struct req *r, Kehu__V1__Code code, const char *field, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* Answers a database failure. Kehu's own refusals raised in SQL (ERRCODE
 * 'KH400' invalid argument, 'KH403' permission denied, 'KH404' not found,
 * 'KH409' conflict, 'KH412' failed precondition, 'KH429' resource
 * exhausted; the message primary is the user's text, COLUMN the request
 * field) pass as they are; PostgreSQL's own (unique, foreign key,
 * serialization, cancel) become a code and a plain message; anything else
 * is INTERNAL, logged. PostgreSQL's text never reaches the user. */
void req_fail_db(struct req *r, const struct db_result *res);
/* The first lines of every database callback: true when the database
 * answered; otherwise the request is answered with req_fail_db. */
static inline bool req_db_ok(struct req *r, const struct db_result *res)
{
    if (res->outcome == DB_OK)
        return true;
    req_fail_db(r, res);
    return false;
}
/* A callback whose first statement looks up one record: true when the
 * database answered with exactly one row; otherwise the request is answered
 * (a failure, or NOT_FOUND on field with the message, translated like
 * req_fail's) and false. */
bool req_db_one(struct req *r, const struct db_result *res, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same for a call whose last statement reads the one record (a write,
 * then the record as it now is): that statement's index, or -1 after
 * answering as req_db_one does. */
int req_db_last_one(struct req *r, const struct db_result *res, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The authorization function for a particular record; answers and returns -1 when denied. */
int req_authorize(struct req *r, const struct authz_target *t);
struct principal *req_who(struct req *r);

#endif
