/* The one authorization function. Every request passes it before a handler
 * runs (who may do this kind of thing at all), and a handler that acts on a
 * particular record passes it again with that record (may they do it to this
 * one). Roles, units and scopes are decided here and nowhere else. */
#ifndef KEHU_AUTHZ_H
#define KEHU_AUTHZ_H

#include <stdint.h>

#include "kehu.pb-c.h"

#define AUTHZ_MAX_DEPTH 16

/* Who is asking: the logged-in user of a connection. */
struct principal {
    int64_t user_id;         /* 0: not logged in */
    int64_t session_id;
    int64_t expires_at_ms;
    Kehu__V1__Role role;
    int64_t unit_id;
    int64_t branch_id;
    char username[64];
};

enum authz_action {
    ACT_PUBLIC,     /* anyone, even before logging in */
    ACT_SESSION,    /* any logged-in user, about themselves */
    ACT_ORG_READ,
    ACT_ORG_WRITE,
    ACT_USER_READ,
    ACT_USER_WRITE,
    ACT_CUSTOMER_READ,  /* a customer and everything it owns: contacts, transactions, history */
    ACT_CUSTOMER_WRITE,
    ACT_AUDIT_READ,     /* the audit trail: auditors and admins */
};

/* The record acted on: the org unit it lives in (path from the head office
 * down, ids) and, for users, the role it has or is given. */
struct authz_target {
    const int64_t *unit_path;
    int path_len;
    Kehu__V1__Role role;
    int64_t user_id;
    int64_t owner_id;   /* customers: the account manager who owns it, 0 if none */
};

/* Returns KEHU__V1__CODE__OK or the code to answer with (UNAUTHENTICATED,
 * PERMISSION_DENIED); *why gets a message for the client. target NULL asks
 * whether the action is allowed anywhere. */
Kehu__V1__Code authz_check(const struct principal *who, enum authz_action act, const struct authz_target *target,
                           const char **why);

/* Which customers a principal may read or write, for queries over many:
 * all, those of branches under a unit, or those the principal owns. A
 * record check with authz_check gives the same answer as this scope. */
enum authz_scope_kind { SCOPE_NONE, SCOPE_ALL, SCOPE_UNIT, SCOPE_OWNER };
struct authz_scope {
    enum authz_scope_kind kind;
    int64_t id;         /* the unit or the owner */
};
struct authz_scope authz_customer_scope(const struct principal *who, enum authz_action act);

/* Parses PostgreSQL's "{1,3,7}" into ids; returns the count or -1. */
int authz_parse_path(const char *text, int64_t *out, int max);

#endif
