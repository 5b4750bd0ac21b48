#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "db.h"
#include "idempotency.h"
#include "log.h"
#include "rpc.h"
#include "server.h"
#include "tr.h"
#include "wire_check.h"

/* Every RPC, one row each. Adding an RPC is one row here plus its handler. */
static const struct rpc_entry *const rpc_table[] = {
    &rpc_hello,
    &rpc_ping,
    &rpc_login,
    &rpc_resume,
    &rpc_logout,
    &rpc_whoami,
    &rpc_org_add,
    &rpc_org_list,
    &rpc_user_add,
    &rpc_user_list,
    &rpc_user_disable,
    &rpc_user_move,
    &rpc_customer_add,
    &rpc_customer_get,
    &rpc_customer_edit,
    &rpc_customer_list,
    &rpc_customer_search,
    &rpc_customer_archive,
    &rpc_customer_history,
    &rpc_contact_add,
    &rpc_contact_list,
    &rpc_contact_edit,
    &rpc_txn_add,
    &rpc_txn_list,
    &rpc_subscribe,
    &rpc_followup_plan,
    &rpc_followup_log,
    &rpc_followup_due,
    &rpc_followup_list,
    &rpc_doc_put,
    &rpc_doc_get,
    &rpc_doc_list,
    &rpc_payment_add,
    &rpc_payment_list,
    &rpc_arrears_get,
    &rpc_asset_add,
    &rpc_asset_list,
    &rpc_import_begin,
    &rpc_import_chunk,
    &rpc_export_page,
    &rpc_customer_merge,
    &rpc_customer_unarchive,
    &rpc_customer_unmerge,
    &rpc_txn_reverse,
    &rpc_payment_reverse,
    &rpc_grade_run,
    &rpc_grade_show,
    &rpc_grade_override,
    &rpc_grade_approve,
    &rpc_grade_override_list,
    &rpc_grade_policy_show,
    &rpc_grade_policy_set,
    &rpc_credit_assess,
    &rpc_care_today,
    &rpc_churn_list,
    &rpc_churn_ack,
    &rpc_churn_lost,
    &rpc_report_get,
    &rpc_perm_show,
    &rpc_perm_set,
    &rpc_access_explain,
    &rpc_admin_backup,
    &rpc_admin_stats,
    &rpc_audit_list,
    &rpc_audit_verify,
    &rpc_assign,
    &rpc_assign_undo,
    &rpc_assign_history,
    &rpc_user_cap,
    &rpc_assign_policy_show,
    &rpc_assign_policy_set,
    &rpc_pool_add,
    &rpc_pool_pools,
    &rpc_pool_list,
    &rpc_pool_claim,
    &rpc_pool_release,
    &rpc_pool_rules,
    &rpc_pool_recycle,
    &rpc_pool_events,
    &rpc_assign_rules,
    &rpc_assign_rule_apply,
    &rpc_password_change,
    &rpc_user_reset_password,
    &rpc_user_enable,
    &rpc_user_set_role,
    &rpc_org_rename,
    &rpc_org_move,
    &rpc_case_open,
    &rpc_case_get,
    &rpc_case_list,
    &rpc_case_act,
    &rpc_calendar_show,
    &rpc_calendar_set,
    &rpc_hours_show,
    &rpc_hours_set,
    &rpc_case_report,
    &rpc_survey_send,
    &rpc_survey_record,
    &rpc_survey_list,
    /* the annual review, the VIP list, the win-back list */
    &rpc_review_open,
    &rpc_review_show,
    &rpc_review_decide,
    &rpc_review_items,
    &rpc_review_finalize,
    &rpc_review_report,
    &rpc_vip_change,
    &rpc_vip_list,
    &rpc_winback_list,
    &rpc_winback_act,
    &rpc_case_settings_show,
    &rpc_case_settings_set,
    &rpc_quality_alert_list,
};

static const struct rpc_entry *rpc_find(Kehu__V1__Request__OpCase op)
{
    for (size_t i = 0; i < sizeof rpc_table / sizeof rpc_table[0]; i++)
        if (rpc_table[i]->op == op)
            return rpc_table[i];
    return NULL;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The budget for unpacking one frame: protobuf-c may expand a message several
 * times over (a packed int64 is one byte on the wire, eight in memory). */
static size_t unpack_budget(size_t len)
{
    return 64 * 1024 + len * 16;
}

static void req_free(struct req *r)
{
    struct conn *c = r->conn;
    if (r->msg)
        kehu__v1__request__free_unpacked(r->msg, &r->budget.alloc);
    arena_free(&r->arena);
    free(r);
    conn_request_done(c);
    conn_unref(c);
}

void req_reply(struct req *r)
{
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = r->id;
    f.body_case = KEHU__V1__FRAME__BODY_RESPONSE;
    f.response = &r->resp;
    r->resp.status = &r->status;
    if (r->idem_user) {
        idem_finish(r); /* the answer is recorded first, then sent (req_reply again) */
        return;
    }
    conn_send(r->conn, &f);
    audit_request_done(r);
    double ms = (double)(mono_ns() - r->started_ns) / 1e6;
    const char *name = r->rpc ? r->rpc->name : "?";
    if (r->status.code == KEHU__V1__CODE__OK)
        log_debug(r->conn->id, r->id, "%s ok %.2f ms", name, ms);
    else
        log_info(r->conn->id, r->id, "%s %s %s%s%s %.2f ms", name, wire_code_name(r->status.code),
                 r->status.message, *r->status.field ? " field=" : "", r->status.field, ms);
    req_free(r);
}

void req_reply_recorded(struct req *r, Kehu__V1__Response *resp)
{
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = r->id;
    f.body_case = KEHU__V1__FRAME__BODY_RESPONSE;
    f.response = resp;
    conn_send(r->conn, &f);
    req_free(r);
}

void req_reply_result(struct req *r, Kehu__V1__Response__ResultCase which, void *msg)
{
    /* a oneof case is its field's number: the descriptor says where it goes */
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&kehu__v1__response__descriptor, (unsigned)which);
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || ((ProtobufCMessage *)msg)->descriptor != f->descriptor) {
        log_error(r->conn->id, r->id, "%s: reply of the wrong kind for result %d", r->rpc ? r->rpc->name : "?",
                  (int)which);
        abort();
    }
    r->resp.result_case = which;
    *(void **)((char *)&r->resp + f->offset) = msg;
    req_reply(r);
}

void req_failv(struct req *r, Kehu__V1__Code code, const char *field, const char *fmt, va_list ap)
{
    /* in the client's language (tr.h): the format, or a message made
     * elsewhere (an authorization's reason, a refusal raised in SQL) */
    int lang = r->conn->lang;
    char msg[1024];
    if (lang != TR_EN && strcmp(fmt, "%s") == 0)
        snprintf(msg, sizeof msg, "%s", tr_text(&r->arena, lang, va_arg(ap, const char *)));
    else
        vsnprintf(msg, sizeof msg, tr(lang, fmt), ap);
    const char *text = lang != TR_EN ? tr_detail(&r->arena, lang, msg) : msg;
    /* a failed request answers nothing but its status */
    memset(&r->resp, 0, sizeof r->resp);
    kehu__v1__response__init(&r->resp);
    r->status.code = code;
    r->status.message = arena_strdup(&r->arena, text);
    r->status.field = arena_strdup(&r->arena, field ? field : "");
    req_reply(r);
}

void req_fail(struct req *r, Kehu__V1__Code code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    req_failv(r, code, field, fmt, ap);
    va_end(ap);
}

bool req_db_one(struct req *r, const struct db_result *res, const char *field, const char *fmt, ...)
{
    if (!req_db_ok(r, res))
        return false;
    if (db_rows(res, 0) == 1)
        return true;
    va_list ap;
    va_start(ap, fmt);
    req_failv(r, KEHU__V1__CODE__NOT_FOUND, field, fmt, ap);
    va_end(ap);
    return false;
}

int req_db_last_one(struct req *r, const struct db_result *res, const char *field, const char *fmt, ...)
{
    if (!req_db_ok(r, res))
        return -1;
    int last = res->nres - 1;
    if (db_rows(res, last) == 1)
        return last;
    va_list ap;
    va_start(ap, fmt);
    req_failv(r, KEHU__V1__CODE__NOT_FOUND, field, fmt, ap);
    va_end(ap);
    return -1;
}

/* Kehu's own refusals raised in SQL: RAISE EXCEPTION '<plain message for
 * the user>' USING ERRCODE = 'KH4xx', COLUMN = '<request field>'. The
 * message is the server's own words, so it reaches the user as it is. */
static const struct {
    const char *state;
    Kehu__V1__Code code;
} kehu_states[] = {
    { "KH400", KEHU__V1__CODE__INVALID_ARGUMENT },  { "KH403", KEHU__V1__CODE__PERMISSION_DENIED },
    { "KH404", KEHU__V1__CODE__NOT_FOUND },         { "KH409", KEHU__V1__CODE__CONFLICT },
    { "KH412", KEHU__V1__CODE__FAILED_PRECONDITION }, { "KH429", KEHU__V1__CODE__RESOURCE_EXHAUSTED },
    /* the standard states Kehu's SQL functions raised before KH4xx existed,
     * always with messages of their own */
    { "22023", KEHU__V1__CODE__INVALID_ARGUMENT },  { "42501", KEHU__V1__CODE__PERMISSION_DENIED },
    { "P0002", KEHU__V1__CODE__NOT_FOUND },         { "55000", KEHU__V1__CODE__FAILED_PRECONDITION },
    { "55P03", KEHU__V1__CODE__FAILED_PRECONDITION }, { "53400", KEHU__V1__CODE__RESOURCE_EXHAUSTED },
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* "customer_branch_id_fkey" on table "customer" -> "branch_id" */
static const char *constraint_column(struct req *r, const char *constraint, const char *suffix)
{
    size_t n = strlen(constraint), k = strlen(suffix);
    if (n <= k || strcmp(constraint + n - k, suffix) != 0)
        return "";
    const char *col = arena_printf(&r->arena, "%.*s", (int)(n - k), constraint);
    const char *us = strchr(col, '_');
    return us ? us + 1 : col;
}

/* The request field a refusal raised in SQL names: its COLUMN, or for the
 * older functions that named it in DETAIL ('customer_id', 'C.warn_days'),
 * a DETAIL that is a field name and not a sentence. */
static const char *refusal_field(const struct db_result *res)
{
    const char *column = nz(res->column), *detail = nz(res->detail);
    if (*column || !*detail || strlen(detail) > 64)
        return column;
    for (const char *p = detail; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '.' || *p == '*'))
            return column;
    return detail;
}

void req_fail_db(struct req *r, const struct db_result *res)
{
    if (res->outcome == DB_UNAVAILABLE) {
        req_fail(r, KEHU__V1__CODE__UNAVAILABLE, NULL, "%s", res->message);
        return;
    }
    const char *st = res->sqlstate, *primary = nz(res->primary), *column = nz(res->column);
    for (size_t i = 0; i < sizeof kehu_states / sizeof kehu_states[0]; i++)
        if (strcmp(st, kehu_states[i].state) == 0 && *primary) {
            req_fail(r, kehu_states[i].code, refusal_field(res), "%s", primary);
            return;
        }
    /* PostgreSQL's own refusals: the code and a plain message, never its text */
    const char *constraint = nz(res->constraint);
    if (strcmp(st, "23505") == 0) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, constraint_column(r, constraint, "_key"), "already exists");
        return;
    }
    if (strcmp(st, "23503") == 0) {
        const char *col = constraint_column(r, constraint, "_fkey");
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, col, "%s%srefers to something that does not exist", col,
                 *col ? " " : "");
        return;
    }
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, NULL, "another change got in the way, try again");
        return;
    }
    if (strcmp(st, "57014") == 0) {
        req_fail(r, KEHU__V1__CODE__UNAVAILABLE, NULL, "the database cancelled the query");
        return;
    }
    if (strcmp(st, "23502") == 0) { /* not null: the column is named */
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, column, "%s%sis required", column, *column ? " " : "");
        return;
    }
    if (strcmp(st, "23514") == 0) { /* "customer_kind_check" -> kind */
        const char *col = constraint_column(r, constraint, "_check");
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, col, "%s%sis not an acceptable value", col, *col ? " " : "");
        return;
    }
    if (strcmp(st, "23P01") == 0) {
        req_fail(r, KEHU__V1__CODE__CONFLICT, constraint_column(r, constraint, "_excl"),
                 "overlaps with something that already exists");
        return;
    }
    /* data exceptions (class 22): a value the request brought did not fit a
     * type or a range (a date, a number, an interval, text encoding). Handlers
     * check their fields first; this only keeps a missed case off INTERNAL. */
    if (strncmp(st, "22", 2) == 0) {
        log_warn(r->conn->id, r->id, "%s: unchecked bad value reached the database (%s): %s", r->rpc->name, st,
                 res->message);
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, column, "a value is out of range or not well-formed");
        return;
    }
    if (strcmp(st, "54000") == 0) { /* program limit: a value too large to index or store */
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, column, "a value is too large to store");
        return;
    }
    /* the database going away or short of resources: try again later */
    if (strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 || strncmp(st, "57P", 3) == 0) {
        req_fail(r, KEHU__V1__CODE__UNAVAILABLE, NULL, "the database is unavailable or short of resources, try again");
        return;
    }
    log_error(r->conn->id, r->id, "%s: database error %s: %s", r->rpc->name, st, res->message);
    req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "internal error (logged as conn=%llu req=%llu)",
             (unsigned long long)r->conn->id, (unsigned long long)r->id);
}

struct principal *req_who(struct req *r)
{
    return &r->conn->who;
}

int req_authorize(struct req *r, const struct authz_target *t)
{
    const char *why;
    Kehu__V1__Code code = authz_check(&r->conn->who, r->rpc->action, t, &why);
    if (code == KEHU__V1__CODE__OK)
        return 0;
    req_fail(r, code, NULL, "%s", why);
    return -1;
}

/* A session ends at its expiry even on a connection that stays open. */
static void expire_session(struct conn *c)
{
    conn_expire_session(c);
}

/* Every string of every request is valid UTF-8 without NUL and every enum
 * one the schema names, checked here once on the frame's bytes (protobuf-c
 * keeps neither promise), so no handler sees such input. Answers and
 * returns 1 when the request is refused. */
static int request_unsound(struct req *r, const uint8_t *payload, size_t len)
{
    struct wire_problem p;
    if (wire_check(&kehu__v1__frame__descriptor, payload, len, &p) == 0)
        return 0;
    /* "request.customer_add.customer.name" -> "customer.name": the request's own field */
    const char *field = p.field;
    for (int dots = 0; dots < 2; dots++) {
        const char *d = strchr(field, '.');
        if (!d)
            break;
        field = d + 1;
    }
    r->unsound = 1;
    audit_note_detail(r, "refused as decoded: %s %s", field, p.why);
    req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, field, "%s %s", field, p.why);
    return 1;
}

void dispatch_frame(struct conn *c, const uint8_t *payload, size_t len)
{
    struct req *r = xcalloc(1, sizeof *r);
    r->conn = c;
    r->srv = c->srv;
    r->started_ns = mono_ns();
    kehu__v1__response__init(&r->resp);
    kehu__v1__status__init(&r->status);
    r->status.message = "";
    r->status.field = "";
    wire_budget_init(&r->budget, unpack_budget(len));
    audit_request_begin(r);
    conn_ref(c);
    c->inflight++;

    Kehu__V1__Frame *f = wire_unpack(&r->budget, payload, len);
    if (!f) {
        char msg[200];
        if (r->budget.exceeded)
            snprintf(msg, sizeof msg,
                     "frame of %zu bytes exceeds the decode budget: unpacked it needs more than %zu bytes"
                     " (64 KiB + 16 x its size)",
                     len, r->budget.limit);
        else
            snprintf(msg, sizeof msg, "malformed frame of %zu bytes: not a kehu.v1.Frame", len);
        Kehu__V1__Code code = r->budget.exceeded ? KEHU__V1__CODE__RESOURCE_EXHAUSTED : KEHU__V1__CODE__INVALID_ARGUMENT;
        log_info(c->id, 0, "%s", msg);
        req_free(r);
        conn_refuse(c, code, msg);
        return;
    }
    r->id = f->id;
    if (f->body_case != KEHU__V1__FRAME__BODY_REQUEST || f->id == 0) {
        kehu__v1__frame__free_unpacked(f, &r->budget.alloc);
        if (r->id == 0) {
            req_free(r);
            conn_refuse(c, KEHU__V1__CODE__INVALID_ARGUMENT, "a client frame must carry a request and a non-zero id");
            return;
        }
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "id", "a client frame must carry a request");
        return;
    }
    /* keep the request, let go of the frame around it */
    r->msg = f->request;
    f->request = NULL;
    f->body_case = KEHU__V1__FRAME__BODY__NOT_SET;
    kehu__v1__frame__free_unpacked(f, &r->budget.alloc);

    if (c->srv->stopping) { /* a clear answer rather than a cut connection: the client may retry elsewhere */
        req_fail(r, KEHU__V1__CODE__UNAVAILABLE, NULL, "kehud is stopping: try again in a moment");
        return;
    }
    r->rpc = rpc_find(r->msg->op_case);
    if (!r->rpc) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, NULL, "unknown request (op %d): this server may be older than the client",
                 (int)r->msg->op_case);
        return;
    }
    if (c->state == CONN_HELLO && !(r->rpc->flags & RPC_BEFORE_HELLO)) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, NULL, "the connection must begin with Hello");
        conn_drain(c);
        return;
    }
    if (request_unsound(r, payload, len))
        return;
    log_debug(c->id, r->id, "%s", r->rpc->name);
    expire_session(c);
    if (c->who.must_change_password && r->rpc->action != ACT_PUBLIC && !(r->rpc->flags & RPC_MUST_CHANGE_OK)) {
        req_fail(r, KEHU__V1__CODE__FAILED_PRECONDITION, NULL,
                 "your password was reset and must be changed first: run `kehu passwd`");
        return;
    }
    const char *why;
    Kehu__V1__Code code = authz_check(&c->who, r->rpc->action, NULL, &why);
    if (code != KEHU__V1__CODE__OK) {
        req_fail(r, code, NULL, "%s", why);
        return;
    }
    if (idem_wanted(r)) {
        idem_begin(r); /* the handler runs once the key is claimed */
        return;
    }
    r->rpc->handler(r);
}
