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

struct subscription {
    enum subscription_kind kind;
    int64_t id; /* the unit or the customer */
};

/* The pool's notification callback (arg: the server). */
void notify_dispatch(const char *channel, const char *payload, void *arg);

#endif
