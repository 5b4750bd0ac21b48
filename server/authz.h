/* The one authorization function. Every request passes it before a handler
 * runs (who may do this kind of thing at all), and a handler that acts on a
 * particular record passes it again with that record (may they do it to this
 * one). Roles, units and scopes are decided here and nowhere else.
 *
 * What a role may do to customers (and, for 'admin', to users) is the
 * permission matrix role x action -> scope (sql/0007_permissions.sql), held
 * here in memory: loaded at start and again whenever it changes. */
#ifndef KEHU_AUTHZ_H
#define KEHU_AUTHZ_H

#include <stddef.h>
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
    int64_t branch_id;       /* 0 above branches */
    int64_t region_id;       /* the nearest region at or above the unit; 0 none */
    char username[64];
    int must_change_password; /* after a reset: only RPC_MUST_CHANGE_OK requests until changed */
};

enum authz_action {
    ACT_PUBLIC,     /* anyone, even before logging in */
    ACT_SESSION,    /* any logged-in user, about themselves */
    ACT_ORG_READ,
    ACT_ORG_WRITE,  /* the tree, the permission matrix, policies: 'admin' over all */
    ACT_USER_READ,
    ACT_USER_WRITE, /* 'admin' over the unit the user sits in */
    ACT_ADMIN_BACKUP,   /* a dump of the whole database: 'admin' over all */
    ACT_ADMIN_STATS,    /* counts over the whole base: 'admin' or 'read' over all */
    ACT_AUDIT_READ,     /* the audit trail: 'admin' or 'read' over all (admins and auditors) */
    /* the public pools of a branch (target: the branch's path): see pool_check in authz.c */
    ACT_POOL_READ,   /* account managers and branch managers of the branch, admins, auditors */
    ACT_POOL_CLAIM,  /* account managers and branch managers of the branch */
    ACT_POOL_MANAGE, /* pools, their rules, assignment rules, the recycle job: admins, the branch's managers */
    /* the matrix's actions on customers */
    ACT_CUSTOMER_READ,  /* a customer and everything it owns: contacts, transactions, history */
    ACT_CUSTOMER_WRITE, /* 'edit' */
    ACT_CUSTOMER_REASSIGN,
    ACT_GRADE_OVERRIDE,
    ACT_CUSTOMER_EXPORT,
    ACT_CUSTOMER_UNMASK, /* see ID numbers and phone numbers in full */
    ACT_CUSTOMER_DELETE, /* archive, merge away */
    ACT_CUSTOMER_LOG_CONTACT, /* log a contact (call, visit ...) and plan the next: 'log_contact' */
    /* the annual review (sql/0025_review.sql) */
    ACT_REVIEW_RATE,   /* a region's first rating of a customer: 'review_rate' */
    ACT_REVIEW_FINAL,  /* the committee's final review, the VIP list: 'review_final' */
    ACT_REVIEW_CREDIT, /* confirming a customer's credit rating (finance): 'review_credit' */
};

/* The matrix: its actions and scopes as sql/0007 spells them. */
enum perm_action { PERM_READ, PERM_EDIT, PERM_REASSIGN, PERM_OVERRIDE_GRADE, PERM_EXPORT, PERM_UNMASK, PERM_DELETE,
                   PERM_LOG_CONTACT, PERM_REVIEW_RATE, PERM_REVIEW_FINAL, PERM_REVIEW_CREDIT, PERM_ADMIN, PERM_ACTIONS };
enum perm_scope { PS_NONE, PS_OWN, PS_TEAM, PS_BRANCH, PS_REGION, PS_ALL, PS_SCOPES };
#define AUTHZ_ROLES 8 /* Kehu__V1__Role values, 0 unused */

const char *perm_action_name(enum perm_action a);
const char *perm_scope_name(enum perm_scope s);
int perm_action_from_name(const char *s);  /* -1 unknown */
int perm_scope_from_name(const char *s);   /* -1 unknown */
/* The matrix in force; set cell by cell by whoever loads it. */
enum perm_scope authz_perm(Kehu__V1__Role role, enum perm_action a);
void authz_set_perm(Kehu__V1__Role role, enum perm_action a, enum perm_scope s);
/* Whether a matrix read at `version` may be applied (none newer is in
 * force); if so it becomes the version in force. */
int authz_perm_version_newer(int64_t version);

/* The record acted on: the org unit it lives in (path from the head office
 * down, ids) and, for users, the role it has or is given. */
struct authz_target {
    const int64_t *unit_path;
    int path_len;
    Kehu__V1__Role role;
    int64_t user_id;
    int64_t owner_id;   /* customers: the account manager who owns it, 0 if none */
    const int64_t *owner_path; /* customers: the path of the owner's unit (for 'team') */
    int owner_path_len;
    int in_pool;        /* customers: waiting in a pool, where nobody sees ID number and phones in full */
};

/* Returns KEHU__V1__CODE__OK or the code to answer with (UNAUTHENTICATED,
 * PERMISSION_DENIED, NOT_FOUND for a customer one may not even read); *why
 * gets a message for the client: a denial names the action and the matrix
 * cell that decided it ("service_agent may not edit customers (matrix
 * service_agent/edit = none)"), and for a record the caller may read, why
 * it lies outside the cell; a record they may not read is never described.
 * *why stays valid until a few more calls. target NULL asks whether the
 * action is allowed anywhere. */
Kehu__V1__Code authz_check(const struct principal *who, enum authz_action act, const struct authz_target *target,
                           const char **why);

/* The cell of the matrix behind a customer action, as a sentence for a
 * message: "account_manager may edit customers: their own only (matrix
 * account_manager/edit = own)". Valid until a few more calls. */
const char *authz_cell(const struct principal *who, enum authz_action act);

/* The same decision, explained: which matrix cell applies and why the
 * record is or is not inside it, in a sentence written into buf. */
Kehu__V1__Code authz_explain(const struct principal *who, enum authz_action act, const struct authz_target *target,
                             char *buf, size_t size);

/* Which customers a principal may act on, for queries over many: all, those
 * of branches under a unit, those owned by anyone in a unit's subtree, or
 * those the principal owns. A record check with authz_check gives the same
 * answer as this scope. */
enum authz_scope_kind { SCOPE_NONE, SCOPE_ALL, SCOPE_UNIT, SCOPE_OWNER, SCOPE_TEAM };
struct authz_scope {
    enum authz_scope_kind kind;
    int64_t id;         /* the unit or the owner */
};
struct authz_scope authz_customer_scope(const struct principal *who, enum authz_action act);

/* Parses PostgreSQL's "{1,3,7}" into ids; returns the count or -1. */
int authz_parse_path(const char *text, int64_t *out, int max);

#endif
