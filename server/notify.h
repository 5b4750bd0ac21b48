/* Live updates. Every change to a customer is announced by a trigger with
 * NOTIFY (see sql/0002_customers.sql); the pool's listening connection hands
 * each announcement here, and it is pushed as an Event (frame id 0) to every
 * connection that subscribed to a scope containing it and whose user may
 * read that customer. Several kehud on one database therefore all see every
 * change. */
#ifndef KEHU_NOTIFY_H
#define KEHU_NOTIFY_H

#include <stdint.h>

#define NOTIFY_CHANNEL "kehu"

struct server;

enum subscription_kind { SUB_NONE, SUB_MINE, SUB_UNIT, SUB_CUSTOMER };

/* The announcements of a bulk job (an import) this connection may see,
 * counted per kind until the job's end sends one summary event instead. */
#define NOTIFY_JOB_KINDS 4
#define NOTIFY_JOBS 2
struct job_tally {
    int64_t job;   /* the job's transaction id; 0: a free slot */
    uint64_t seq;  /* when it was opened, to close the oldest first */
    int64_t actor;
    int64_t n[NOTIFY_JOB_KINDS];
    char kind[NOTIFY_JOB_KINDS][48];
};

struct subscription {
    enum subscription_kind kind;
    int64_t id; /* the unit or the customer */
    struct job_tally jobs[NOTIFY_JOBS];
};

/* The pool's notification callback (arg: the server). */
void notify_dispatch(const char *channel, const char *payload, void *arg);
/* The pool's LISTEN is in place (arg: the server). */
void notify_listening(void *arg);

#endif
