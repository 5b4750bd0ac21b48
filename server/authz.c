#include "authz.h"

#include "i18n.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[PERM_ACTIONS] = {
    [PERM_READ] = "read",         [PERM_EDIT] = "edit",
    [PERM_REASSIGN] = "reassign", [PERM_OVERRIDE_GRADE] = "override_grade",
    [PERM_EXPORT] = "export",     [PERM_UNMASK] = "unmask",
    [PERM_DELETE] = "delete",     [PERM_LOG_CONTACT] = "log_contact",
    [PERM_REVIEW_RATE] = "review_rate", [PERM_REVIEW_FINAL] = "review_final",
    [PERM_REVIEW_CREDIT] = "review_credit",
    [PERM_ADMIN] = "admin",
};
static const char *const scope_names[PS_SCOPES] = { "none", "own", "team", "branch", "region", "all" };

/* The defaults of sql/0007, sql/0017 and sql/0025, in force until the
 * database's matrix is loaded (kehud loads it before it listens). The
 * annual review's three columns (rate, final, credit) after log_contact. */
#define ROW(rd, ed, re, og, ex, un, de, lc, rr, rf, rc, ad)                                                       \
    {                                                                                                              \
        [PERM_READ] = rd, [PERM_EDIT] = ed, [PERM_REASSIGN] = re, [PERM_OVERRIDE_GRADE] = og, [PERM_EXPORT] = ex, \
        [PERM_UNMASK] = un, [PERM_DELETE] = de, [PERM_LOG_CONTACT] = lc, [PERM_REVIEW_RATE] = rr,                 \
        [PERM_REVIEW_FINAL] = rf, [PERM_REVIEW_CREDIT] = rc, [PERM_ADMIN] = ad                                    \
    }
static enum perm_scope matrix[AUTHZ_ROLES][PERM_ACTIONS] = {
    [KEHU__V1__ROLE__ADMIN] = ROW(PS_ALL, PS_ALL, PS_ALL, PS_ALL, PS_ALL, PS_ALL, PS_ALL, PS_ALL, PS_ALL, PS_ALL, PS_ALL,
                                  PS_ALL),
    [KEHU__V1__ROLE__BRANCH_MANAGER] = ROW(PS_BRANCH, PS_BRANCH, PS_BRANCH, PS_BRANCH, PS_BRANCH, PS_BRANCH, PS_BRANCH,
                                           PS_BRANCH, PS_BRANCH, PS_NONE, PS_NONE, PS_BRANCH),
    [KEHU__V1__ROLE__ACCOUNT_MANAGER] = ROW(PS_OWN, PS_OWN, PS_NONE, PS_OWN, PS_OWN, PS_OWN, PS_OWN, PS_OWN, PS_NONE,
                                            PS_NONE, PS_NONE, PS_NONE),
    [KEHU__V1__ROLE__SERVICE_AGENT] = ROW(PS_BRANCH, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_BRANCH,
                                          PS_NONE, PS_NONE, PS_NONE, PS_NONE),
    [KEHU__V1__ROLE__AUDITOR] = ROW(PS_ALL, PS_NONE, PS_NONE, PS_NONE, PS_ALL, PS_NONE, PS_NONE, PS_NONE, PS_NONE,
                                    PS_NONE, PS_NONE, PS_NONE),
    [KEHU__V1__ROLE__COMMITTEE] = ROW(PS_REGION, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE,
                                      PS_REGION, PS_NONE, PS_NONE),
    [KEHU__V1__ROLE__FINANCE] = ROW(PS_REGION, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE, PS_NONE,
                                    PS_NONE, PS_REGION, PS_NONE),
};
#undef ROW

static int64_t matrix_version; /* 0: the defaults above */

int authz_perm_version_newer(int64_t version)
{
    if (version < matrix_version)
        return 0;
    matrix_version = version;
    return 1;
}

const char *perm_action_name(enum perm_action a)
{
    return a < PERM_ACTIONS ? action_names[a] : "?";
}

const char *perm_scope_name(enum perm_scope s)
{
    return s < PS_SCOPES ? scope_names[s] : "?";
}

int perm_action_from_name(const char *s)
{
    for (int i = 0; s && i < PERM_ACTIONS; i++)
        if (strcmp(action_names[i], s) == 0)
            return i;
    return -1;
}

int perm_scope_from_name(const char *s)
{
    for (int i = 0; s && i < PS_SCOPES; i++)
        if (strcmp(scope_names[i], s) == 0)
            return i;
    return -1;
}

static int role_ok(Kehu__V1__Role role)
{
    return role > 0 && role < AUTHZ_ROLES;
}

enum perm_scope authz_perm(Kehu__V1__Role role, enum perm_action a)
{
    return role_ok(role) && a < PERM_ACTIONS ? matrix[role][a] : PS_NONE;
}

void authz_set_perm(Kehu__V1__Role role, enum perm_action a, enum perm_scope s)
{
    if (role_ok(role) && a < PERM_ACTIONS && s < PS_SCOPES)
        matrix[role][a] = s;
}

static const char *role_name(Kehu__V1__Role role)
{
    static const char *const names[AUTHZ_ROLES] = { "?", "admin", "branch_manager", "account_manager", "service_agent",
                                                    "auditor", "committee", "finance" };
    return role_ok(role) ? names[role] : "?";
}

/* Denials are written into a few rotating buffers: a message stays valid
 * while its caller formats the reply, even across a second check. */
static char *why_buf(size_t *size)
{
    static char bufs[4][384];
    static unsigned k;
    *size = sizeof bufs[0];
    return bufs[k++ % 4];
}

/* What an action of the matrix lets one do, in a sentence. */
static const char *action_phrase(enum perm_action a)
{
    switch (a) {
    case PERM_READ:
        return "read customers";
    case PERM_EDIT:
        return "edit customers";
    case PERM_REASSIGN:
        return "reassign customers";
    case PERM_OVERRIDE_GRADE:
        return "override the grades of customers";
    case PERM_EXPORT:
        return "export customers";
    case PERM_UNMASK:
        return "see customers' ID numbers and phones in full";
    case PERM_DELETE:
        return "archive or merge customers";
    case PERM_LOG_CONTACT:
        return "log contacts with customers";
    case PERM_REVIEW_RATE:
        return "rate customers in the annual review";
    case PERM_REVIEW_FINAL:
        return "give the annual review's final decision or change the VIP list";
    case PERM_REVIEW_CREDIT:
        return "confirm credit ratings in the annual review";
    case PERM_ADMIN:
        return "manage users";
    default:
        return "do this";
    }
}

/* "their own", "their branch's": whose customers a scope holds. */
static const char *scope_short(enum perm_scope ps)
{
    static const char *const s[PS_SCOPES] = { "none", "their own", "their team's", "their branch's",
                                              "their region's", "all" };
    return ps < PS_SCOPES ? s[ps] : "?";
}

/* "account_manager may not reassign customers (matrix account_manager/reassign = none)" */
static const char *deny_cell(const struct principal *who, enum perm_action a)
{
    size_t size;
    char *b = why_buf(&size);
    snprintf(b, size, "%s may not %s (matrix %s/%s = %s)", role_name(who->role), action_phrase(a),
             role_name(who->role), perm_action_name(a), perm_scope_name(authz_perm(who->role, a)));
    return b;
}

/* The matrix column of a customer action. */
static enum perm_action customer_column(enum authz_action act)
{
    switch (act) {
    case ACT_CUSTOMER_WRITE:
        return PERM_EDIT;
    case ACT_CUSTOMER_REASSIGN:
        return PERM_REASSIGN;
    case ACT_GRADE_OVERRIDE:
        return PERM_OVERRIDE_GRADE;
    case ACT_CUSTOMER_EXPORT:
        return PERM_EXPORT;
    case ACT_CUSTOMER_UNMASK:
        return PERM_UNMASK;
    case ACT_CUSTOMER_DELETE:
        return PERM_DELETE;
    case ACT_CUSTOMER_LOG_CONTACT:
        return PERM_LOG_CONTACT;
    case ACT_REVIEW_RATE:
        return PERM_REVIEW_RATE;
    case ACT_REVIEW_FINAL:
        return PERM_REVIEW_FINAL;
    case ACT_REVIEW_CREDIT:
        return PERM_REVIEW_CREDIT;
    default:
        return PERM_READ;
    }
}

static int is_customer_action(enum authz_action act)
{
    return act >= ACT_CUSTOMER_READ;
}

/* A matrix scope made concrete for this principal. */
static struct authz_scope resolve(const struct principal *who, enum perm_scope ps)
{
    struct authz_scope s = { SCOPE_NONE, 0 };
    int64_t branch = who->branch_id ? who->branch_id : who->unit_id;
    switch (ps) {
    case PS_OWN:
        s = (struct authz_scope){ SCOPE_OWNER, who->user_id };
        break;
    case PS_TEAM:
        s = (struct authz_scope){ SCOPE_TEAM, who->unit_id };
        break;
    case PS_BRANCH:
        s = (struct authz_scope){ SCOPE_UNIT, branch };
        break;
    case PS_REGION:
        s = (struct authz_scope){ SCOPE_UNIT, who->region_id ? who->region_id : branch };
        break;
    case PS_ALL:
        s = (struct authz_scope){ SCOPE_ALL, 0 };
        break;
    default:
        break;
    }
    return s;
}

struct authz_scope authz_customer_scope(const struct principal *who, enum authz_action act)
{
    struct authz_scope none = { SCOPE_NONE, 0 };
    if (!who || who->user_id == 0 || !is_customer_action(act))
        return none;
    return resolve(who, authz_perm(who->role, customer_column(act)));
}

static int path_has(const int64_t *path, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (path[i] == id)
            return 1;
    return 0;
}

static int scope_contains(struct authz_scope s, const struct authz_target *t)
{
    switch (s.kind) {
    case SCOPE_ALL:
        return 1;
    case SCOPE_UNIT:
        return path_has(t->unit_path, t->path_len, s.id);
    case SCOPE_OWNER:
        return t->owner_id == s.id;
    case SCOPE_TEAM:
        return t->owner_id != 0 && path_has(t->owner_path, t->owner_path_len, s.id);
    default:
        return 0;
    }
}

/* One's own customers are in one's team whatever the target's owner path says. */
static int contains(const struct principal *who, struct authz_scope s, const struct authz_target *t)
{
    return scope_contains(s, t) || (s.kind == SCOPE_TEAM && t->owner_id == who->user_id);
}

/* Why a customer the principal may read lies outside a concrete scope
 * (said only of a readable customer: it describes the record). */
static const char *outside(struct authz_scope s, enum perm_scope ps, const struct authz_target *t)
{
    switch (s.kind) {
    case SCOPE_OWNER:
        return t->owner_id ? "this customer is another owner's" : "this customer has no owner";
    case SCOPE_TEAM:
        return t->owner_id ? "this customer's owner is outside their team" : "this customer has no owner";
    case SCOPE_UNIT:
        return ps == PS_REGION ? "this customer lies outside their region" : "this customer belongs to another branch";
    default:
        return "";
    }
}

const char *authz_cell(const struct principal *who, enum authz_action act)
{
    enum perm_action col = customer_column(act);
    enum perm_scope ps = authz_perm(who->role, col);
    if (ps == PS_NONE)
        return deny_cell(who, col);
    size_t size;
    char *b = why_buf(&size);
    snprintf(b, size, "%s may %s: %s%s (matrix %s/%s = %s)", role_name(who->role), action_phrase(col),
             scope_short(ps), ps == PS_ALL ? "" : " only", role_name(who->role), perm_action_name(col),
             perm_scope_name(ps));
    return b;
}

/* Customers: a record the principal may not even read does not exist for
 * them (NOT_FOUND), so that existence does not leak. */
static Kehu__V1__Code customer_check(const struct principal *who, enum authz_action act, const struct authz_target *t,
                                     const char **why)
{
    enum perm_action col = customer_column(act);
    struct authz_scope s = authz_customer_scope(who, act);
    if (!t) {
        if (s.kind != SCOPE_NONE)
            return KEHU__V1__CODE__OK;
        *why = deny_cell(who, col);
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    /* a customer in a pool stays masked, whatever the matrix says */
    int pooled = act == ACT_CUSTOMER_UNMASK && t->in_pool;
    if (!pooled && contains(who, s, t))
        return KEHU__V1__CODE__OK;
    if (act != ACT_CUSTOMER_READ && contains(who, authz_customer_scope(who, ACT_CUSTOMER_READ), t)) {
        enum perm_scope ps = authz_perm(who->role, col);
        size_t size;
        char *b = why_buf(&size);
        if (pooled)
            snprintf(b, size, "unmask: the customer waits in a pool, where ID number and phones stay masked");
        else if (ps == PS_NONE)
            snprintf(b, size, "%s", deny_cell(who, col));
        else
            snprintf(b, size, "%s may %s: %s only (matrix %s/%s = %s); %s", role_name(who->role), action_phrase(col),
                     scope_short(ps), role_name(who->role), perm_action_name(col), perm_scope_name(ps),
                     outside(s, ps, t));
        *why = b;
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    *why = N_("no such customer");
    return KEHU__V1__CODE__NOT_FOUND;
}

/* "admin over their branch's users only (matrix branch_manager/admin = branch); ..." */
static const char *deny_users(const struct principal *who, enum perm_scope admin, const char *rest)
{
    size_t size;
    char *b = why_buf(&size);
    if (admin == PS_NONE || admin == PS_OWN)
        snprintf(b, size, "%s may not manage users (matrix %s/admin = %s)%s%s", role_name(who->role),
                 role_name(who->role), perm_scope_name(admin), *rest ? "; " : "", rest);
    else
        snprintf(b, size, "%s may manage users: %s only (matrix %s/admin = %s)%s%s", role_name(who->role),
                 scope_short(admin), role_name(who->role), perm_scope_name(admin), *rest ? "; " : "", rest);
    return b;
}

/* Users and units: 'admin' over where they sit. Below 'all', only account
 * managers and service agents may be handed out or managed. */
static Kehu__V1__Code user_check(const struct principal *who, enum authz_action act, const struct authz_target *t,
                                 const char **why)
{
    enum perm_scope admin = authz_perm(who->role, PERM_ADMIN);
    struct authz_scope s = resolve(who, admin);
    if (s.kind == SCOPE_OWNER)
        s.kind = SCOPE_NONE; /* 'own' users: nobody but oneself, and nobody manages themselves */
    if (s.kind == SCOPE_TEAM)
        s.kind = SCOPE_UNIT;
    if (act == ACT_USER_READ) {
        if (authz_perm(who->role, PERM_READ) == PS_ALL)
            return KEHU__V1__CODE__OK; /* who may read every customer may see who owns them */
        if (s.kind == SCOPE_NONE) {
            size_t size;
            char *b = why_buf(&size);
            snprintf(b, size, "%s may not look up users: that needs admin, or read over all (matrix %s/admin = %s,"
                              " %s/read = %s)",
                     role_name(who->role), role_name(who->role), perm_scope_name(admin), role_name(who->role),
                     perm_scope_name(authz_perm(who->role, PERM_READ)));
            *why = b;
            return KEHU__V1__CODE__PERMISSION_DENIED;
        }
        if (!t || s.kind == SCOPE_ALL || path_has(t->unit_path, t->path_len, s.id))
            return KEHU__V1__CODE__OK;
        *why = deny_users(who, admin, "that unit is outside their own");
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    if (s.kind == SCOPE_NONE) {
        *why = deny_users(who, admin, "");
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    if (!t)
        return KEHU__V1__CODE__OK;
    if (s.kind != SCOPE_ALL && !path_has(t->unit_path, t->path_len, s.id)) {
        *why = deny_users(who, admin, "that unit is outside their own");
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    if (t->user_id && t->user_id == who->user_id) {
        *why = N_("you cannot do this to your own account");
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    if (s.kind != SCOPE_ALL && t->role != KEHU__V1__ROLE__ACCOUNT_MANAGER && t->role != KEHU__V1__ROLE__SERVICE_AGENT) {
        *why = deny_users(who, admin, "below head office, only account managers and service agents may be managed");
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    return KEHU__V1__CODE__OK;
}

/* The public pools (sql/0010_pool.sql): who works in the pool's branch
 * (account and branch managers) sees it and claims from it; admins and
 * auditors see every pool; admins and the branch's managers manage it. The
 * target's unit path is the branch's. */
static Kehu__V1__Code pool_check(const struct principal *who, enum authz_action act, const struct authz_target *t,
                                 const char **why)
{
    Kehu__V1__Role role = who->role;
    int admin = role == KEHU__V1__ROLE__ADMIN, auditor = role == KEHU__V1__ROLE__AUDITOR;
    int am = role == KEHU__V1__ROLE__ACCOUNT_MANAGER, bm = role == KEHU__V1__ROLE__BRANCH_MANAGER;
    int role_ok = act == ACT_POOL_READ ? admin || auditor || am || bm : act == ACT_POOL_CLAIM ? am || bm : admin || bm;
    if (!role_ok) {
        *why = act == ACT_POOL_READ    ? N_("your role has no access to the pools")
               : act == ACT_POOL_CLAIM ? N_("only account managers and branch managers claim from a pool")
                                       : N_("only an admin or a branch manager manages pools and assignment rules");
        return KEHU__V1__CODE__PERMISSION_DENIED;
    }
    if (!t || admin || (auditor && act == ACT_POOL_READ))
        return KEHU__V1__CODE__OK;
    if (path_has(t->unit_path, t->path_len, who->branch_id ? who->branch_id : who->unit_id))
        return KEHU__V1__CODE__OK;
    *why = N_("that pool belongs to another branch");
    return KEHU__V1__CODE__PERMISSION_DENIED;
}

Kehu__V1__Code authz_check(const struct principal *who, enum authz_action act, const struct authz_target *t,
                           const char **why)
{
    *why = "";
    if (act == ACT_PUBLIC)
        return KEHU__V1__CODE__OK;
    if (!who || who->user_id == 0) {
        *why = N_("log in first");
        return KEHU__V1__CODE__UNAUTHENTICATED;
    }
    switch (act) {
    case ACT_PUBLIC:
    case ACT_SESSION:
    case ACT_ORG_READ:
        return KEHU__V1__CODE__OK;
    case ACT_ORG_WRITE:
    case ACT_ADMIN_BACKUP:
        if (authz_perm(who->role, PERM_ADMIN) == PS_ALL)
            return KEHU__V1__CODE__OK;
        {
            size_t size;
            char *b = why_buf(&size);
            snprintf(b, size, "%s may not %s: that needs admin over all (matrix %s/admin = %s)", role_name(who->role),
                     act == ACT_ADMIN_BACKUP ? "take a backup" : "change the organisation, the matrix or policies",
                     role_name(who->role), perm_scope_name(authz_perm(who->role, PERM_ADMIN)));
            *why = b;
        }
        return KEHU__V1__CODE__PERMISSION_DENIED;
    case ACT_ADMIN_STATS:
    case ACT_AUDIT_READ:
        /* the whole base's counts and its audit trail: for those who run it
         * or may read all of it (admins and auditors by default) */
        if (authz_perm(who->role, PERM_ADMIN) == PS_ALL || authz_perm(who->role, PERM_READ) == PS_ALL)
            return KEHU__V1__CODE__OK;
        {
            size_t size;
            char *b = why_buf(&size);
            snprintf(b, size, "%s may not %s: that needs admin or read over all (matrix %s/admin = %s, %s/read = %s)",
                     role_name(who->role), act == ACT_AUDIT_READ ? "read the audit trail" : "see the base's counts",
                     role_name(who->role), perm_scope_name(authz_perm(who->role, PERM_ADMIN)), role_name(who->role),
                     perm_scope_name(authz_perm(who->role, PERM_READ)));
            *why = b;
        }
        return KEHU__V1__CODE__PERMISSION_DENIED;
    case ACT_USER_READ:
    case ACT_USER_WRITE:
        return user_check(who, act, t, why);
    case ACT_POOL_READ:
    case ACT_POOL_CLAIM:
    case ACT_POOL_MANAGE:
        return pool_check(who, act, t, why);
    default:
        return customer_check(who, act, t, why);
    }
}

static const char *scope_phrase(enum perm_scope ps)
{
    switch (ps) {
    case PS_OWN:
        return "customers they own";
    case PS_TEAM:
        return "customers owned by anyone in their unit";
    case PS_BRANCH:
        return "customers of their branch";
    case PS_REGION:
        return "customers of their region";
    case PS_ALL:
        return "every customer";
    default:
        return "no customer";
    }
}

/* Why a customer is or is not inside a concrete scope. */
static void membership(const struct principal *who, struct authz_scope s, const struct authz_target *t, char *buf, size_t size)
{
    int in = contains(who, s, t);
    switch (s.kind) {
    case SCOPE_OWNER:
        if (t->owner_id == 0)
            snprintf(buf, size, "the customer has no owner");
        else
            snprintf(buf, size, "the customer's owner is user %lld%s", (long long)t->owner_id,
                     in ? " (this user)" : ", not this user");
        break;
    case SCOPE_TEAM:
        snprintf(buf, size, "the customer's owner %s unit %lld", in ? "sits in" : "does not sit in", (long long)s.id);
        break;
    case SCOPE_UNIT:
        snprintf(buf, size, "the customer's branch %s unit %lld",
                 in ? "is" : "is not", (long long)s.id);
        if (in && t->path_len && t->unit_path[t->path_len - 1] != s.id)
            snprintf(buf, size, "the customer's branch lies under unit %lld", (long long)s.id);
        break;
    case SCOPE_ALL:
        snprintf(buf, size, "every customer is included");
        break;
    default:
        snprintf(buf, size, "nothing is included");
        break;
    }
}

Kehu__V1__Code authz_explain(const struct principal *who, enum authz_action act, const struct authz_target *t,
                             char *buf, size_t size)
{
    const char *why;
    Kehu__V1__Code code = authz_check(who, act, t, &why);
    if (!who || who->user_id == 0 || !is_customer_action(act) || !t) {
        snprintf(buf, size, "%s", code == KEHU__V1__CODE__OK ? "allowed" : why);
        return code;
    }
    if (act == ACT_CUSTOMER_UNMASK && t->in_pool) {
        snprintf(buf, size, "denied: %s", why);
        return code;
    }
    enum perm_action col = customer_column(act);
    enum perm_scope ps = authz_perm(who->role, col);
    char in[160];
    membership(who, resolve(who, ps), t, in, sizeof in);
    int n = snprintf(buf, size, "%s: %s may %s %s (matrix %s/%s = %s); %s", code == KEHU__V1__CODE__OK ? "allowed" : "denied",
                     role_name(who->role), perm_action_name(col), scope_phrase(ps), role_name(who->role),
                     perm_action_name(col), perm_scope_name(ps), in);
    if (code != KEHU__V1__CODE__OK && col != PERM_READ && n > 0 && (size_t)n < size &&
        contains(who, authz_customer_scope(who, ACT_CUSTOMER_READ), t))
        snprintf(buf + n, size - (size_t)n, " (the customer is readable: read = %s)",
                 perm_scope_name(authz_perm(who->role, PERM_READ)));
    return code;
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
