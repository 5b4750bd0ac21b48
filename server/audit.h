/* The audit trail (docs/audit.md): every request that reads or changes
 * customers, the organisation or accounts, every login and failed login, is
 * a row of audit_log (sql/0008_audit.sql): who, what (the RPC's name),
 * which customers, from which address, the result, when.
 *
 * Two ways in, both from the dispatcher and not from handlers:
 *  - a change: a handler sends its writing call with audit_call_send (or
 *    audit_query) instead of db_call_send (db_query). That appends the
 *    audit row as the call's last statement, so the change and its record
 *    commit together or not at all. The row is written only when the
 *    transaction wrote something; then the request's record is done.
 *  - everything else (reads, refusals, changes that wrote nothing): when the
 *    request is answered, req_reply hands it to audit_request_done, which
 *    queues a record in memory; a timer flushes the queue every few
 *    milliseconds (or at once when it is long) in one call on the pool. A
 *    crash loses at most that last batch of reads, never a change.
 *
 * Which customers a request touched is noted on the request as it goes:
 * rpc_customer_load and rpc_customer_from_row note every customer they load
 * or show, so reads, lists, searches and exports name their records
 * without code in each handler. */
#ifndef KEHU_AUDIT_H
#define KEHU_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct req;
struct server;

/* What a request's audit record will say, filled in as the request runs
 * (part of struct req). */
struct req_audit {
    int64_t at_us;          /* when the request arrived, Unix microseconds */
    int64_t user_id;        /* who asked, as the request arrived */
    char username[64];
    int64_t *customers;     /* the customers it named, in the request's arena */
    size_t n_customers, cap_customers;
    const char *detail;     /* free text, "" when none */
    size_t n_unmasked;      /* customers shown with ID number and phones in full */
    int written;            /* its change's transaction wrote the record */
    db_cb then;             /* audit_call_send: the handler's callback */
};

/* The queue and its timer; the warning when kehud's role could rewrite the trail. */
void audit_start(struct server *s);
/* Flushes what is queued (waiting for it), then calls done(s). */
void audit_stop(struct server *s, void (*done)(struct server *s));
/* Logs a warning when the role of the connection is a superuser or owns audit_log. */
void audit_check_role(PGconn *pg);

/* The dispatcher's part: audit_request_begin when a request arrives,
 * audit_request_done when it is answered (r->status set). */
void audit_request_begin(struct req *r);
void audit_request_done(struct req *r);

/* Notes a customer the request reads or changes (duplicates are dropped). */
void audit_note_customer(struct req *r, int64_t id);
/* Notes that a customer was shown unmasked (the 'unmask' permission used):
 * the record says how many. */
void audit_note_unmasked(struct req *r);
/* Sets the record's free text. */
void audit_note_detail(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A record of something that ended without a request to answer (a backup
 * abandoned between chunks): queued like a read's. */
void audit_record(int64_t at_us, int64_t user_id, const char *username, const char *peer, const char *action,
                  const char *detail, const char *result);

/* Sends a writing call (made with db_call_new(pool, cb, r)) with its audit
 * record as the last statement. cb sees the results of its own statements
 * only (nres as it added them). */
void audit_call_send(struct req *r, struct db_call *call);
/* One writing statement: db_query with its audit record. */
void audit_query(struct req *r, struct db_stmt *st, int nparams, const char *const *params, db_cb cb);
/* For work on a connection of its own (db_copy: imports, grading runs):
 * "SELECT audit_change(...); COMMIT" to run in place of "COMMIT", recording
 * action by actor (r may be NULL: the server itself). Valid until the next
 * call. Marks r's record as written. */
const char *audit_commit_sql(struct server *s, struct req *r, int64_t actor, const char *action, const char *detail);

#endif
