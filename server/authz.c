#include "authz.h"

#include <stdlib.h>

static int in_scope(const struct principal *who, const struct authz_target *t)
{
    for (int i = 0; i < t->path_len; i++)
        if (t->unit_path[i] == who->unit_id)
            return 1;
    return 0;
}

/* Roles a branch manager may hand out inside their own unit. */
static int manager_may_grant(Kehu__V1__Role role)
{
    return role == KEHU__V1__ROLE__ACCOUNT_MANAGER || role == KEHU__V1__ROLE__SERVICE_AGENT;
}

struct authz_scope authz_customer_scope(const struct principal *who, enum authz_action act)
{
    struct authz_scope none = { SCOPE_NONE, 0 };
    if (!who || who->user_id == 0)
        return none;
    /* managers and agents work for the branch they sit in (or the unit, above branches) */
    struct authz_scope unit = { SCOPE_UNIT, who->branch_id ? who->branch_id : who->unit_id };
    struct authz_scope own = { SCOPE_OWNER, who->user_id };
    struct authz_scope all = { SCOPE_ALL, 0 };
    switch (who->role) {
    case KEHU__V1__ROLE__ADMIN:
        return all;
    case KEHU__V1__ROLE__AUDITOR:
        return act == ACT_CUSTOMER_READ ? all : none;
    case KEHU__V1__ROLE__BRANCH_MANAGER:
        return unit;
    case KEHU__V1__ROLE__SERVICE_AGENT:
        return act == ACT_CUSTOMER_READ ? unit : none;
    case KEHU__V1__ROLE__ACCOUNT_MANAGER:
        return own;
    default:
        return none;
    }
}

static int scope_contains(struct authz_scope s, const struct authz_target *t)
{
    switch (s.kind) {
    case SCOPE_ALL:
        return 1;
    case SCOPE_UNIT:
        for (int i = 0; i < t->path_len; i++)
            if (t->unit_path[i] == s.id)
                return 1;
        return 0;
    case SCOPE_OWNER:
        return t->owner_id == s.id;
    default:
        return 0;
    }
}

/* Customers: a record the principal may not even read does not exist for
 * them (NOT_FOUND), so that existence does not leak. */
static Kehu__V1__Code customer_check(const struct principal *who, enum authz_action act, const struct authz_target *t,
                                     const char **why)
{
    struct authz_scope s = authz_customer_scope(who, act);
    if (!t) {
        if (s.kind != SCOPE_NONE)
            return KEHU__V1__CODE__OK;
        *why = "your role does not allow changing customers";
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    if (scope_contains(s, t))
        return KEHU__V1__CODE__OK;
    if (act != ACT_CUSTOMER_READ && scope_contains(authz_customer_scope(who, ACT_CUSTOMER_READ), t)) {
        *why = "you may see this customer but not change it";
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    *why = "no such customer";
    return KEHU__V1__CODE__NOT_FOUND;
}

Kehu__V1__Code authz_check(const struct principal *who, enum authz_action act, const struct authz_target *t,
                           const char **why)
{
    static const char *no_role = "your role does not allow this";
    *why = "";
    if (act == ACT_PUBLIC)
        return KEHU__V1__CODE__OK;
    if (!who || who->user_id == 0) {
        *why = "log in first";
        return KEHU__V1__CODE__UNAUTHENTICATED;
    }
    switch (act) {
    case ACT_PUBLIC:
    case ACT_SESSION:
    case ACT_ORG_READ:
        return KEHU__V1__CODE__OK;
    case ACT_ORG_WRITE:
        if (who->role == KEHU__V1__ROLE__ADMIN)
            return KEHU__V1__CODE__OK;
        *why = "only an admin may change the organisation";
        return KEHU__V1__CODE__PERMISSION_DENIED;
    case ACT_USER_READ:
        if (who->role == KEHU__V1__ROLE__ADMIN || who->role == KEHU__V1__ROLE__AUDITOR)
            return KEHU__V1__CODE__OK;
        if (who->role == KEHU__V1__ROLE__BRANCH_MANAGER) {
            if (!t || in_scope(who, t))
                return KEHU__V1__CODE__OK;
            *why = "that unit is outside your own";
            return KEHU__V1__CODE__PERMISSION_DENIED;
        }
        *why = no_role;
        return KEHU__V1__CODE__PERMISSION_DENIED;
    case ACT_USER_WRITE:
        if (who->role == KEHU__V1__ROLE__ADMIN) {
            if (t && t->user_id == who->user_id) {
                *why = "you cannot do this to your own account";
                return KEHU__V1__CODE__PERMISSION_DENIED;
            }
            return KEHU__V1__CODE__OK;
        }
        if (who->role != KEHU__V1__ROLE__BRANCH_MANAGER) {
            *why = no_role;
            return KEHU__V1__CODE__PERMISSION_DENIED;
        }
        if (!t)
            return KEHU__V1__CODE__OK;
        if (!in_scope(who, t)) {
            *why = "that unit is outside your own";
            return KEHU__V1__CODE__PERMISSION_DENIED;
        }
        if (t->user_id == who->user_id) {
            *why = "you cannot do this to your own account";
            return KEHU__V1__CODE__PERMISSION_DENIED;
        }
        if (!manager_may_grant(t->role)) {
            *why = "a branch manager may only manage account managers and service agents";
            return KEHU__V1__CODE__PERMISSION_DENIED;
        }
        return KEHU__V1__CODE__OK;
    case ACT_CUSTOMER_READ:
    case ACT_CUSTOMER_WRITE:
        return customer_check(who, act, t, why);
    case ACT_AUDIT_READ:
        if (who->role == KEHU__V1__ROLE__ADMIN || who->role == KEHU__V1__ROLE__AUDITOR)
            return KEHU__V1__CODE__OK;
        *why = "only an auditor or an admin may read the audit trail";
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    *why = "unknown action";
    return KEHU__V1__CODE__PERMISSION_DENIED;
}

int authz_parse_path(const char *text, int64_t *out, int max)
{
    if (!text || *text != '{')
        return -1;
    int n = 0;
    const char *p = text + 1;
    while (*p && *p != '}') {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || n >= max)
            return -1;
        out[n++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return *p == '}' ? n : -1;
}
