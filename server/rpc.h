/* The RPC families, one file each, and the pieces they share. */
#ifndef KEHU_RPC_H
#define KEHU_RPC_H

#include "db.h"
#include "dispatch.h"

/* rpc_util.c: v as decimal text (a statement parameter); a result cell
 * copied into the request's arena, "" for NULL. */
char *rpc_num(struct req *r, int64_t v);
char *rpc_col(struct req *r, const struct db_result *res, int stmt, int row, int col);
/* Column col of every row of statement stmt: *n_out cells into a new array
 * (never NULL), "" for NULL. */
char **rpc_cells(struct req *r, const struct db_result *res, int stmt, int col, size_t *n_out);
/* An optional text as a statement parameter: NULL when absent or empty. */
const char *rpc_opt(const char *s);
/* Free text from a client: valid UTF-8, then validate_line (or
 * validate_text when multiline); NULL when acceptable or empty. */
const char *rpc_text_problem(const char *s, size_t max_chars, int multiline);
/* The same as a check of request field `field`: 0, or -1 after answering
 * INVALID_ARGUMENT "<field> <problem>". */
int rpc_check_text(struct req *r, const char *field, const char *s, size_t max_chars, int multiline);

/* rpc_session.c */
extern const struct rpc_entry rpc_hello, rpc_ping, rpc_login, rpc_resume, rpc_logout, rpc_whoami;
/* rpc_org.c */
extern const struct rpc_entry rpc_org_add, rpc_org_list, rpc_user_add, rpc_user_list, rpc_user_disable,
    rpc_user_move;
extern const struct rpc_entry rpc_password_change, rpc_user_reset_password, rpc_user_enable, rpc_user_set_role,
    rpc_org_rename, rpc_org_move;

/* rpc_perm.c: the permission matrix and AccessExplain */
extern const struct rpc_entry rpc_perm_show, rpc_perm_set, rpc_access_explain;
/* Loads the matrix into the authorization function before kehud listens
 * (blocking), and again, on the pool, when it was announced as changed. */
int perm_load_sync(PGconn *pg, char *err, size_t errsz);
void perm_reload(struct server *s);

/* rpc_customer.c, rpc_contact.c, notify.c */
extern const struct rpc_entry rpc_customer_add, rpc_customer_get, rpc_customer_edit, rpc_customer_list,
    rpc_customer_search, rpc_customer_archive, rpc_customer_history;
extern const struct rpc_entry rpc_contact_add, rpc_contact_list, rpc_contact_edit, rpc_txn_add, rpc_txn_list;
extern const struct rpc_entry rpc_subscribe;

/* Starts a customer list query for m (filters, the caller's scope, a keyset
 * page); cb receives CUSTOMER_COLUMNS rows plus the sort value, one row more
 * than the page when another page follows. -1 when m was refused (answered). */
int rpc_customer_list_start(struct req *r, const Kehu__V1__CustomerList *m, uint32_t default_limit, db_cb cb);
/* The filters of a customer list (sort, limit and after aside) and the
 * caller's scope for act, as a condition over customer alias c (live
 * customers only) with its parameters $1..$*nparams: for statements that act
 * on the customers `customer list` would show. -1 when refused (answered). */
int rpc_customer_filter_sql(struct req *r, const Kehu__V1__CustomerList *m, enum authz_action act, int stale,
                            char **sql, const char ***params, int *nparams);
/* The owner and unit a list's filters name must exist for the caller (an
 * unreadable owner answers as a missing one): rpc_customer_filter_lookups
 * adds the two statements that find them to a call, and
 * rpc_customer_filter_found checks their results (statements owner_stmt,
 * branch_stmt): 0, or -1 after answering NOT_FOUND naming the filter. */
void rpc_customer_filter_lookups(struct arena *a, struct db_call *call, const Kehu__V1__CustomerList *m);
int rpc_customer_filter_found(struct req *r, const Kehu__V1__CustomerList *m, const struct db_result *res,
                              int owner_stmt, int branch_stmt);
/* Whether the grades kept on customer rows that the filters read may be
 * stale (an override behind some row ran out today, before kehud's timer
 * refreshed it): then rpc_customer_filter_sql's stale filters on the
 * overrides in force instead. From the lookups' results, as above. */
int rpc_customer_filter_stale(const struct db_result *res, int branch_stmt);
/* In that callback: the next page's cursor ("" on the last page) and how many rows belong to this page. */
char *rpc_customer_next_cursor(struct req *r, const struct db_result *res, uint32_t *shown);

/* What a duplicate check says of a match the caller may not read (customer
 * add, the import's duplicate report): that it exists, not which customer,
 * whose or where. */
#define RPC_DUPLICATE_ELSEWHERE "already a customer of another branch/owner — ask your branch manager"

/* rpc_import.c */
extern const struct rpc_entry rpc_import_begin, rpc_import_chunk, rpc_export_page;
/* rpc_merge.c */
extern const struct rpc_entry rpc_customer_merge;
/* rpc_customer.c, rpc_merge.c, rpc_contact.c, rpc_payment.c: repairs */
extern const struct rpc_entry rpc_customer_unarchive, rpc_customer_unmerge, rpc_txn_reverse, rpc_payment_reverse;

/* A customer found and authorized: what handlers acting on it need. */
struct rpc_customer_ref {
    int64_t id, version, branch_id, owner_id;
    char status[16];
    void *ctx; /* what the caller of rpc_customer_load_ctx passed */
    /* where it lives, for checking someone else against it (rpc_customer_target) */
    int64_t path[AUTHZ_MAX_DEPTH], owner_path[AUTHZ_MAX_DEPTH];
    int path_len, owner_path_len;
    int unmasked; /* the caller sees its ID number and phones in full (else mask what is shown) */
};
/* The authorization target of a loaded customer. */
struct authz_target rpc_customer_target(const struct rpc_customer_ref *ref);
/* Loads customer `id`, checks `act` on it with the authorization function,
 * and continues with `then`; answers NOT_FOUND / PERMISSION_DENIED itself. */
void rpc_customer_load(struct req *r, int64_t id, enum authz_action act,
                       void (*then)(struct req *r, const struct rpc_customer_ref *ref));
/* The same, handing ctx through to `then` (r->state is the loader's
 * meanwhile) and naming the request's field for errors ("keep_id"). */
void rpc_customer_load_ctx(struct req *r, int64_t id, enum authz_action act,
                           void (*then)(struct req *r, const struct rpc_customer_ref *ref), void *ctx,
                           const char *field);
/* The same for a record reached through its customer (a contact, a
 * document, a warning): `missing` is the answer (NOT_FOUND, field) both when
 * the customer is missing and when the caller may not read it, so that the
 * record's answer for an unreadable customer is the one for a missing
 * record ("no contact 7"). NULL: "no customer N". */
void rpc_customer_load_as(struct req *r, int64_t id, enum authz_action act,
                          void (*then)(struct req *r, const struct rpc_customer_ref *ref), void *ctx,
                          const char *field, const char *missing);
/* A user named in request field `field` to act on a loaded customer (a
 * case's handler, a follow-up's doer), in row 0 of statement stmt
 * (rpc_user_by_name), found and, where the family asks it, visible: not
 * disabled, else -1 after answering "user '<username>' is disabled"; then
 * *them is that user, and 0 when the authorization function lets them do
 * `act` on the customer, 1 when it does not (the caller answers, naming
 * them: the refusal is the family's own sentence). */
int rpc_user_may_act(struct req *r, const struct db_result *res, int stmt, const char *field, const char *username,
                     const struct rpc_customer_ref *ref, enum authz_action act, struct principal *them);
/* The customer as the protocol shows it, from a CUSTOMER_COLUMNS row. */
Kehu__V1__Customer *rpc_customer_from_row(struct req *r, const struct db_result *res, int stmt, int row);
/* Money: minor units <-> numeric text. */
char *rpc_money_sql(struct arena *a, int64_t minor);

/* The path of the unit of customer c's owner ('{}' when none), for the
 * 'team' scope of authz targets. */
#define SQL_OWNER_PATH \
    "coalesce((SELECT op.path FROM app_user ou JOIN org_unit op ON op.id = ou.unit_id WHERE ou.id = c.owner_id), '{}')::text"

/* Unix milliseconds of a timestamptz, in SQL. */
#define SQL_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/* A user as the protocol shows it: USER_COLUMNS over USER_FROM (aliases u
 * for app_user, o for its unit). USER_NCOLS columns, read by rpc_user_from_row. */
#define USER_COLUMNS                                                                                         \
    "u.id, u.username, u.display_name, u.role::text, u.unit_id, o.name, u.disabled_at IS NOT NULL, " SQL_MS( \
        "u.created_at") ", coalesce(o.branch_id, 0), o.path::text, coalesce(o.region_id, 0), u.must_change_password"
#define USER_FROM " app_user u JOIN org_unit o ON o.id = u.unit_id "
#define USER_NCOLS 12

Kehu__V1__User *rpc_user_from_row(struct req *r, const struct db_result *res, int stmt, int row, int col);
/* Makes the connection's principal the user of that row (USER_COLUMNS). */
void rpc_principal_from_row(struct principal *who, const struct db_result *res, int stmt, int row, int col);
/* The path of the unit of a USER_COLUMNS row, for authz targets. */
int rpc_user_row_path(const struct db_result *res, int stmt, int row, int col, int64_t *path, int max);
/* The user of a USER_COLUMNS row (from column 0) as an authz target; its
 * unit path goes into path (AUTHZ_MAX_DEPTH ids). */
struct authz_target rpc_user_target(const struct db_result *res, int stmt, int row, int64_t *path);
/* Whether the caller may read that user: oneself always, others as the
 * authorization function says for ACT_USER_READ. */
int rpc_user_readable(struct req *r, const struct authz_target *t);

/* An org unit named by $1: its id, its path of names ("华东区/上海分行/营业部")
 * or its name (case-insensitive) when only one unit has it; a name several
 * units share is refused (INVALID_ARGUMENT listing their paths, field
 * "unit", or the field given to UNIT_BY_REF_AS). See org_unit_ref() in
 * sql/0014_accounts.sql. */
#define UNIT_COLUMNS                                                                                              \
    "u.id, u.name, u.kind::text, coalesce(u.parent_id, 0), coalesce(p.name, ''), cardinality(u.path) - 1, " \
    "coalesce(u.branch_id, 0), u.path::text, org_unit_path_name(u.id)"
#define UNIT_FROM " org_unit u LEFT JOIN org_unit p ON p.id = u.parent_id "
#define UNIT_BY_REF " (u.id = org_unit_ref($1::text)) "
#define UNIT_BY_REF_AS(field) " (u.id = org_unit_ref($1::text, '" field "')) "
#define UNIT_NCOLS 9

/* Shared statements. A unit by reference ($1, UNIT_BY_REF) or by id ($1):
 * id, kind, path, name. A user by id or by username ($1): USER_COLUMNS. */
extern struct db_stmt rpc_unit_place_by_ref, rpc_unit_place_by_id, rpc_user_by_id, rpc_user_by_name;
/* rpc_unit_place_by_ref for a request field "branch" (an ambiguous name is refused naming it). */
extern struct db_stmt rpc_branch_place_by_ref;

/* Another user named in a request's field "user" (whose care tasks, what
 * is due for whom). Before looking them up, rpc_other_user_ask: a sane
 * name, and a caller who may read other users at all, else "you may see
 * only <mine>". Then, on rpc_user_by_name at statement stmt,
 * rpc_other_user_check: found, and readable by the caller, else "you may
 * not see <theirs> '<username>': why"; sets *user_id (unless NULL). Both: 0, or -1 after
 * answering. */
int rpc_other_user_ask(struct req *r, const char *username, const char *mine);
int rpc_other_user_check(struct req *r, const struct db_result *res, int stmt, const char *username,
                         const char *theirs, int64_t *user_id);

/* A user a request names, in row 0 of statement stmt (rpc_user_by_name):
 * 0 when found and readable by the caller (the authorization function,
 * ACT_USER_READ; oneself always). Otherwise answers NOT_FOUND "no user
 * named '<username>'" on field, the same for a missing user and one the
 * caller may not see, and returns -1. */
int rpc_user_visible(struct req *r, const struct db_result *res, int stmt, const char *username, const char *field);

Kehu__V1__OrgUnit *rpc_unit_from_row(struct req *r, const struct db_result *res, int stmt, int row, int col);

/* Roles and kinds as PostgreSQL's enums spell them. */
const char *rpc_role_sql(Kehu__V1__Role role);
Kehu__V1__Role rpc_role_from_sql(const char *s);
const char *rpc_kind_sql(Kehu__V1__UnitKind kind);
Kehu__V1__UnitKind rpc_kind_from_sql(const char *s);

/* Forgets the login of every connection of this server matching user_id
 * (session_id 0; only its sessions up to id `upto` unless 0) or session_id:
 * a disabled account or a revoked session stops working at once on this
 * instance. */
void rpc_forget_sessions(struct server *s, int64_t user_id, int64_t session_id, int64_t upto);
/* The same for every session of user_id but session `keep` (a password
 * changed on it). */
void rpc_forget_sessions_but(struct server *s, int64_t user_id, int64_t keep);
/* A user's role, unit, branch, region or must-change mark changed: the
 * connections of this server logged in as them count with it from their
 * next request (the "user.changed" announcement, see notify.c). */
void rpc_principals_update(struct server *s, const struct principal *now);
/* Reads every open session and its user again (rpc_session.c), for when
 * their announcements may have been lost; then calls `then`, whatever the
 * outcome. */
void rpc_sessions_recheck(struct server *s, void (*then)(struct server *s));

/* rpc_payment.c */
extern const struct rpc_entry rpc_payment_add, rpc_payment_list, rpc_arrears_get, rpc_asset_add, rpc_asset_list;

/* rpc_followup.c, rpc_doc.c */
extern const struct rpc_entry rpc_followup_plan, rpc_followup_log, rpc_followup_due, rpc_followup_list;
extern const struct rpc_entry rpc_doc_put, rpc_doc_get, rpc_doc_list;
/* rpc_grade.c: grading runs, grades, overrides, policy, credit assessment */
extern const struct rpc_entry rpc_grade_run, rpc_grade_show, rpc_grade_override, rpc_grade_approve,
    rpc_grade_override_list, rpc_grade_policy_show, rpc_grade_policy_set, rpc_credit_assess;
/* Starts the scheduled runs (a timer checking every cfg.grade_schedule
 * seconds, 0 none) and stops them and any run in progress at shutdown. */
void grade_schedule_start(struct server *s);
void grade_shutdown(struct server *s);
/* The grade filter of a customer list ("A", "abc=A", "lifecycle=silent"):
 * 0 with *dim and *grade set, or -1 with *why. */
int grade_filter_parse(struct arena *a, const char *text, const char **dim, const char **grade, const char **why);

/* rpc_admin.c: backups (pg_dump streamed in chunks) and counts over the base */
extern const struct rpc_entry rpc_admin_backup, rpc_admin_stats;
/* rpc_pool.c: the public pool and assignment rules */
extern const struct rpc_entry rpc_pool_add, rpc_pool_pools, rpc_pool_list, rpc_pool_claim, rpc_pool_release,
    rpc_pool_rules, rpc_pool_recycle, rpc_pool_events, rpc_assign_rules, rpc_assign_rule_apply;
/* The recycle job's schedule (cfg.pool_schedule seconds, 0 none): start, stop. */
void pool_schedule_start(struct server *s);
void pool_shutdown(struct server *s);
/* Adds to a customer add's call, after its insert: routing by the
 * assignment rules, then the customer re-read (CUSTOMER_COLUMNS, the call's
 * last statement; no row when nothing was inserted). */
void rpc_pool_after_add(struct db_call *call, const char *actor);
/* What an import runs before it commits: routes the customers it added
 * without owner (actor %lld). */
#define RPC_POOL_ROUTE_IMPORT "SELECT assign_route_new(%lld);"

/* rpc_churn.c: churn warnings and care tasks; rpc_report.c: reports */
extern const struct rpc_entry rpc_churn_list, rpc_churn_ack, rpc_churn_lost, rpc_care_today;
/* A churn warning as the protocol shows it: CHURN_WARNING_COLUMNS over a
 * relation aliased w (the table, or the rows a statement changed) joined
 * by CHURN_WARNING_JOINS (customer c, owner, acknowledger). */
#define CHURN_WARNING_COLUMNS                                                                                     \
    "w.id, w.customer_id, c.name, coalesce(ow.username, ''), w.raised_on::text, array_to_string(w.reasons, ','),"  \
    " w.status, coalesce(w.plan, ''), coalesce(ab.username, ''), coalesce(" SQL_MS("w.acked_at") ", 0),"          \
    " coalesce(w.lost_reason, ''), coalesce(grade_of(c.id, 'abc'), '')"
#define CHURN_WARNING_JOINS                                                                                       \
    " JOIN customer c ON c.id = w.customer_id LEFT JOIN app_user ow ON ow.id = c.owner_id"                      \
    " LEFT JOIN app_user ab ON ab.id = w.acked_by "
Kehu__V1__ChurnWarning *rpc_churn_warning_from_row(struct req *r, const struct db_result *res, int stmt, int row);
extern const struct rpc_entry rpc_report_get;

/* rpc_audit.c: the audit trail, listed and verified */
extern const struct rpc_entry rpc_audit_list, rpc_audit_verify;

/* The caller's customer scope as two text parameters for RPC_SCOPE_SQL:
 * kind (0 all, 1 a unit's subtree, 2 an owner, 3 nothing, 4 owners in a
 * unit's subtree) and the unit or owner id. */
void rpc_scope_params(struct req *r, enum authz_action act, const char **kind, const char **id);
/* That scope over customer alias c, with the parameters' numbers k and i. */
#define RPC_SCOPE_SQL(k, i)                                                                                        \
    " ($" #k "::int = 0 OR ($" #k " = 1 AND c.branch_id IN (SELECT id FROM org_unit WHERE path @> ARRAY[$" #i      \
    "::bigint])) OR ($" #k " = 2 AND c.owner_id = $" #i "::bigint) OR ($" #k " = 4 AND c.owner_id IN (SELECT tu.id" \
    " FROM app_user tu JOIN org_unit tuo ON tuo.id = tu.unit_id WHERE tuo.path @> ARRAY[$" #i "::bigint]))) "
/* The same scope as a predicate with its ids written in, for statements
 * built per request: over the given branch and owner columns. */
char *rpc_scope_predicate(struct arena *a, struct authz_scope s, const char *branch_col, const char *owner_col);

/* A money record (a transaction, a payment) corrected by a row negating it,
 * never edited in place: the record's customer found and authorized for
 * ACT_CUSTOMER_WRITE (one the caller may not change answers as a missing
 * record), then the reversal and the negating row in one call. */
struct rpc_reversal {
    struct db_stmt *owner;    /* $1 the record's id: its customer_id */
    struct db_stmt *reverse;  /* $1 id, $2 reason, $3 actor */
    struct db_stmt *reversal; /* $1 id: the negating row */
    /* the NOT_FOUND answer for the record ("no payment 7") */
    const char *(*missing)(struct req *r);
    /* answers with the negating row, row 0 of statement stmt */
    void (*reply)(struct req *r, const struct db_result *res, int stmt);
};
/* Reverses record id for reason (both checked by the family). */
void rpc_reverse(struct req *r, const struct rpc_reversal *kind, int64_t id, const char *reason);

/* A policy's values (assignment, grading) from key, value, description
 * rows, for ROW_MSGS (row_msg.h). */
extern struct row_msg rpc_policy_value_row;

/* rpc_assign.c: reassignment batches, their undo, owner history, caps, policy */
extern const struct rpc_entry rpc_assign, rpc_assign_undo, rpc_assign_history, rpc_user_cap, rpc_assign_policy_show,
    rpc_assign_policy_set;

/* rpc_case.c: cases, the working-time calendar and business hours, and the
 * scheduler of their deadlines (started with the pool, stopped at shutdown;
 * woken by a "due.wake MS" announcement of a deadline MS from now). */
extern const struct rpc_entry rpc_case_open, rpc_case_get, rpc_case_list, rpc_case_act, rpc_calendar_show,
    rpc_calendar_set, rpc_hours_show, rpc_hours_set, rpc_case_report, rpc_survey_send, rpc_survey_record,
    rpc_survey_list, rpc_case_settings_show, rpc_case_settings_set, rpc_quality_alert_list;
void case_sched_start(struct server *s);
/* rpc_review.c: the annual review, the VIP list, the win-back list */
extern const struct rpc_entry rpc_review_open, rpc_review_show, rpc_review_decide, rpc_review_items,
    rpc_review_finalize, rpc_review_report, rpc_vip_change, rpc_vip_list, rpc_winback_list, rpc_winback_act;
void case_sched_wake(struct server *s, int64_t in_ms);
void case_shutdown(struct server *s);

#endif
