/* The permission matrix, exactly: every customer RPC tried as every role
 * against its own, same-team, same-branch, same-region and other-branch
 * customers, the outcome compared with an independent model of the matrix
 * (the defaults of sql/0007, then edited cells); masking of ID numbers and
 * phones; pushed events only to those who may read; AccessExplain; and the
 * matrix's own validation. Prints how many cases were allowed and denied. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define C(x) KEHU__V1__CODE__##x

static struct it_org org;
static struct it_cli cli;
static kehu_client *sun, *hz;

/* ---- the model: scopes, and how a record relates to an actor */

enum rel { R_OWN, R_TEAM, R_BRANCH, R_REGION, R_OTHER, NRELS };
static const char *const rel_names[NRELS] = { "own", "same-team", "same-branch", "same-region", "other-branch" };
enum scope { S_NONE, S_OWN, S_TEAM, S_BRANCH, S_REGION, S_ALL };
enum action { A_READ, A_EDIT, A_REASSIGN, A_OVERRIDE, A_EXPORT, A_UNMASK, A_DELETE, A_LOG, NACTIONS };
static const char *const action_names[NACTIONS] = { "read",   "edit",   "reassign", "override_grade",
                                                    "export", "unmask", "delete",   "log_contact" };
static const char *const scope_names[] = { "none", "own", "team", "branch", "region", "all" };

/* A scope covers a relation when it reaches at least that far. */
static int covers(enum scope s, enum rel r)
{
    switch (s) {
    case S_ALL:
        return 1;
    case S_REGION:
        return r <= R_REGION;
    case S_BRANCH:
        return r <= R_BRANCH;
    case S_TEAM:
        return r <= R_TEAM;
    case S_OWN:
        return r == R_OWN;
    default:
        return 0;
    }
}

/* Actors: account manager li (上海一组), branch manager wang.fang
 * (上海分行), service agent chen.jing (上海分行), auditor zhao.min and admin
 * (总行). The matrix as this test believes it to be (sql/0007's defaults). */
enum actor { AC_AM, AC_BM, AC_SA, AC_AUD, AC_ADMIN, NACTORS };
static const char *const actor_names[NACTORS] = { "account_manager", "branch_manager", "service_agent", "auditor",
                                                  "admin" };
static enum scope model[NACTORS][NACTIONS] = {
    [AC_AM] = { S_OWN, S_OWN, S_NONE, S_OWN, S_OWN, S_OWN, S_OWN, S_OWN },
    [AC_BM] = { S_BRANCH, S_BRANCH, S_BRANCH, S_BRANCH, S_BRANCH, S_BRANCH, S_BRANCH, S_BRANCH },
    /* a service agent logs the calls they take on the branch's customers (sql/0017) */
    [AC_SA] = { S_BRANCH, S_NONE, S_NONE, S_NONE, S_NONE, S_NONE, S_NONE, S_BRANCH },
    [AC_AUD] = { S_ALL, S_NONE, S_NONE, S_NONE, S_ALL, S_NONE, S_NONE, S_NONE },
    [AC_ADMIN] = { S_ALL, S_ALL, S_ALL, S_ALL, S_ALL, S_ALL, S_ALL, S_ALL },
};

static kehu_client *actor(enum actor a)
{
    kehu_client *const c[NACTORS] = { org.li, org.mgr, org.agent, org.auditor, org.admin };
    return c[a];
}

/* The customers, one per owner: li and zhang.wei (上海一组), sun.li
 * (上海二组), wang.fang (上海分行 itself), hz.am (杭州分行, 华东区) and bj.am
 * (北京分行, under the head office). */
enum owner { O_LI, O_ZHANG, O_SUN, O_MGR, O_HZ, O_BJ, NOWNERS };
static const char *const owner_names[NOWNERS] = { "li.lei", "zhang.wei", "sun.li", "wang.fang", "hz.am", "bj.am" };

/* How each owner's customer stands to each actor (by where both sit). */
static const enum rel relation[NACTORS][NOWNERS] = {
    [AC_AM] = { R_OWN, R_TEAM, R_BRANCH, R_BRANCH, R_REGION, R_OTHER },
    /* a manager sits at the branch: everyone below is in their unit */
    [AC_BM] = { R_TEAM, R_TEAM, R_TEAM, R_OWN, R_REGION, R_OTHER },
    [AC_SA] = { R_TEAM, R_TEAM, R_TEAM, R_TEAM, R_REGION, R_OTHER },
    /* at the head office, every owner is in their unit */
    [AC_AUD] = { R_TEAM, R_TEAM, R_TEAM, R_TEAM, R_TEAM, R_TEAM },
    [AC_ADMIN] = { R_TEAM, R_TEAM, R_TEAM, R_TEAM, R_TEAM, R_TEAM },
};

static int64_t cust[NOWNERS];

/* ---- requests */

static Kehu__V1__Customer *new_customer(const char *name)
{
    static Kehu__V1__Customer c;
    static char *phones[1] = { "13812345678" };
    kehu__v1__customer__init(&c);
    c.name = (char *)name;
    c.id_number = "11010519491231002X";
    c.phones = phones;
    c.n_phones = 1;
    return &c;
}

static int64_t add_customer(const char *name, const char *owner)
{
    Kehu__V1__CustomerAdd m = KEHU__V1__CUSTOMER_ADD__INIT;
    m.customer = new_customer(name);
    m.owner = (char *)owner;
    m.force = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &m;
    Kehu__V1__Response *r = it_call(org.admin, &req, C(OK));
    int64_t id = r->customer->id;
    kehu_response_free(r);
    return id;
}

static int64_t version_of(int64_t id)
{
    Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
    m.id = id;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
    req.customer_get = &m;
    struct kehu_status st;
    Kehu__V1__Response *r = kehu_call(org.admin, &req, &st); /* a missing customer: any version */
    int64_t v = r && r->customer ? r->customer->version : 1;
    if (r)
        kehu_response_free(r);
    return v;
}

static const char *today(int offset)
{
    static char buf[4][11];
    static int k;
    time_t t = time(NULL) + (time_t)offset * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    char *b = buf[k++ % 4];
    strftime(b, 11, "%Y-%m-%d", &tm);
    return b;
}

/* One RPC on one customer: its request, filled for that customer. Returns
 * the status code (the response is checked and freed here). */
typedef int (*rpc_fn)(kehu_client *c, int64_t id);

static char last_message[512], last_field[64]; /* of the last answer send() got */

static int send(kehu_client *c, Kehu__V1__Request *req)
{
    struct kehu_status st;
    Kehu__V1__Response *resp = kehu_call(c, req, &st);
    if (st.code == KEHU_TRANSPORT)
        fail_msg("transport failure: %s", st.message);
    snprintf(last_message, sizeof last_message, "%s", st.message);
    snprintf(last_field, sizeof last_field, "%s", st.field);
    if (resp)
        kehu_response_free(resp);
    return st.code;
}

#define REQ(op, field, type, init)                 \
    type m = init;                                 \
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT; \
    req.op_case = KEHU__V1__REQUEST__OP_##op;      \
    req.field = &m

static int r_get(kehu_client *c, int64_t id)
{
    REQ(CUSTOMER_GET, customer_get, Kehu__V1__CustomerGet, KEHU__V1__CUSTOMER_GET__INIT);
    m.id = id;
    return send(c, &req);
}
static int r_history(kehu_client *c, int64_t id)
{
    REQ(CUSTOMER_HISTORY, customer_history, Kehu__V1__CustomerHistory, KEHU__V1__CUSTOMER_HISTORY__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_contacts(kehu_client *c, int64_t id)
{
    REQ(CONTACT_LIST, contact_list, Kehu__V1__ContactList, KEHU__V1__CONTACT_LIST__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_txns(kehu_client *c, int64_t id)
{
    REQ(TXN_LIST, txn_list, Kehu__V1__TxnList, KEHU__V1__TXN_LIST__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_followups(kehu_client *c, int64_t id)
{
    REQ(FOLLOWUP_LIST, followup_list, Kehu__V1__FollowupList, KEHU__V1__FOLLOWUP_LIST__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_docs(kehu_client *c, int64_t id)
{
    REQ(DOC_LIST, doc_list, Kehu__V1__DocList, KEHU__V1__DOC_LIST__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_grades(kehu_client *c, int64_t id)
{
    REQ(GRADE_SHOW, grade_show, Kehu__V1__GradeShow, KEHU__V1__GRADE_SHOW__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_payments(kehu_client *c, int64_t id)
{
    REQ(PAYMENT_LIST, payment_list, Kehu__V1__PaymentList, KEHU__V1__PAYMENT_LIST__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_arrears(kehu_client *c, int64_t id)
{
    REQ(ARREARS_GET, arrears_get, Kehu__V1__ArrearsGet, KEHU__V1__ARREARS_GET__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_assets(kehu_client *c, int64_t id)
{
    REQ(ASSET_LIST, asset_list, Kehu__V1__AssetList, KEHU__V1__ASSET_LIST__INIT);
    m.customer_id = id;
    return send(c, &req);
}
static int r_edit(kehu_client *c, int64_t id)
{
    REQ(CUSTOMER_EDIT, customer_edit, Kehu__V1__CustomerEdit, KEHU__V1__CUSTOMER_EDIT__INIT);
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *set[1] = { &fv };
    static int n;
    char note[64];
    snprintf(note, sizeof note, "checked by the matrix test (%d)", ++n); /* a change every time */
    fv.field = "notes";
    fv.value = note;
    m.id = id;
    m.version = version_of(id);
    m.set = set;
    m.n_set = 1;
    return send(c, &req);
}
static int r_contact_add(kehu_client *c, int64_t id)
{
    REQ(CONTACT_ADD, contact_add, Kehu__V1__ContactAdd, KEHU__V1__CONTACT_ADD__INIT);
    Kehu__V1__Contact k = KEHU__V1__CONTACT__INIT;
    k.name = "联系人";
    m.customer_id = id;
    m.contact = &k;
    return send(c, &req);
}
static int r_txn_add(kehu_client *c, int64_t id)
{
    REQ(TXN_ADD, txn_add, Kehu__V1__TxnAdd, KEHU__V1__TXN_ADD__INIT);
    Kehu__V1__Txn t = KEHU__V1__TXN__INIT;
    t.customer_id = id;
    t.amount_minor = 12345;
    t.date = (char *)today(0);
    m.txn = &t;
    return send(c, &req);
}
static int r_plan(kehu_client *c, int64_t id)
{
    REQ(FOLLOWUP_PLAN, followup_plan, Kehu__V1__FollowupPlan, KEHU__V1__FOLLOWUP_PLAN__INIT);
    m.customer_id = id;
    m.kind = "call";
    m.due = (char *)today(3);
    return send(c, &req);
}
static int r_log(kehu_client *c, int64_t id)
{
    REQ(FOLLOWUP_LOG, followup_log, Kehu__V1__FollowupLog, KEHU__V1__FOLLOWUP_LOG__INIT);
    m.customer_id = id;
    m.kind = "visit";
    m.outcome = "ok";
    return send(c, &req);
}
static int r_payment_add(kehu_client *c, int64_t id)
{
    REQ(PAYMENT_ADD, payment_add, Kehu__V1__PaymentAdd, KEHU__V1__PAYMENT_ADD__INIT);
    Kehu__V1__Payment p = KEHU__V1__PAYMENT__INIT;
    p.customer_id = id;
    p.amount_minor = 100;
    m.payment = &p;
    return send(c, &req);
}
static int r_asset_add(kehu_client *c, int64_t id)
{
    REQ(ASSET_ADD, asset_add, Kehu__V1__AssetAdd, KEHU__V1__ASSET_ADD__INIT);
    Kehu__V1__AssetSnapshot s = KEHU__V1__ASSET_SNAPSHOT__INIT;
    s.customer_id = id;
    s.balance_minor = 500000;
    m.snapshot = &s;
    return send(c, &req);
}
static int r_doc_put(kehu_client *c, int64_t id)
{
    REQ(DOC_PUT, doc_put, Kehu__V1__DocPut, KEHU__V1__DOC_PUT__INIT);
    static uint8_t data[] = "hello";
    m.customer_id = id;
    m.name = "note.txt";
    m.type = "text/plain";
    m.size = 5;
    m.data.data = data;
    m.data.len = 5;
    m.last = 1;
    return send(c, &req);
}
static int r_override(kehu_client *c, int64_t id)
{
    REQ(GRADE_OVERRIDE, grade_override, Kehu__V1__GradeOverride, KEHU__V1__GRADE_OVERRIDE__INIT);
    m.customer_id = id;
    m.dimension = "potential";
    m.grade = "high";
    m.reason = "matrix test";
    return send(c, &req);
}
static int r_assess(kehu_client *c, int64_t id)
{
    REQ(CREDIT_ASSESS, credit_assess, Kehu__V1__CreditAssess, KEHU__V1__CREDIT_ASSESS__INIT);
    m.customer_id = id;
    m.grade = "AA";
    m.notes = "matrix test";
    return send(c, &req);
}
static int r_archive(kehu_client *c, int64_t id)
{
    REQ(CUSTOMER_ARCHIVE, customer_archive, Kehu__V1__CustomerArchive, KEHU__V1__CUSTOMER_ARCHIVE__INIT);
    m.id = id;
    return send(c, &req);
}
/* merges a fresh customer of the same owner into this one */
static int64_t merge_other;
static int r_merge(kehu_client *c, int64_t id)
{
    REQ(CUSTOMER_MERGE, customer_merge, Kehu__V1__CustomerMerge, KEHU__V1__CUSTOMER_MERGE__INIT);
    m.keep_id = merge_other;
    m.other_id = id;
    return send(c, &req);
}

struct rpc_case {
    const char *name;
    enum action action;
    rpc_fn fn;
    int fresh;          /* changes the customer for good: a fresh one for each try */
    int first;          /* 1 + an action checked first on a second customer of the same owner (merge edits the kept one) */
    int managers_only;  /* a business rule on top of the matrix: branch managers and admins only */
};

static const struct rpc_case rpcs[] = {
    { "customer_get", A_READ, r_get, 0, 0, 0 },
    { "customer_history", A_READ, r_history, 0, 0, 0 },
    { "contact_list", A_READ, r_contacts, 0, 0, 0 },
    { "txn_list", A_READ, r_txns, 0, 0, 0 },
    { "followup_list", A_READ, r_followups, 0, 0, 0 },
    { "doc_list", A_READ, r_docs, 0, 0, 0 },
    { "grade_show", A_READ, r_grades, 0, 0, 0 },
    { "payment_list", A_READ, r_payments, 0, 0, 0 },
    { "arrears_get", A_READ, r_arrears, 0, 0, 0 },
    { "asset_list", A_READ, r_assets, 0, 0, 0 },
    { "customer_edit", A_EDIT, r_edit, 0, 0, 0 },
    { "contact_add", A_EDIT, r_contact_add, 0, 0, 0 },
    { "txn_add", A_EDIT, r_txn_add, 0, 0, 0 },
    { "followup_plan", A_LOG, r_plan, 0, 0, 0 },
    { "followup_log", A_LOG, r_log, 0, 0, 0 },
    { "payment_add", A_EDIT, r_payment_add, 0, 0, 0 },
    { "asset_add", A_EDIT, r_asset_add, 0, 0, 0 },
    { "doc_put", A_EDIT, r_doc_put, 0, 0, 0 },
    { "grade_override", A_OVERRIDE, r_override, 0, 0, 0 },
    { "credit_assess", A_OVERRIDE, r_assess, 0, 0, 1 },
    { "customer_archive", A_DELETE, r_archive, 1, 0, 0 },
    { "customer_merge", A_DELETE, r_merge, 1, 1 + A_EDIT, 0 },
};
#define NRPCS (sizeof rpcs / sizeof rpcs[0])

static int allowed_cases, denied_cases;

/* Every case tried, for the audit check: who, which RPC, which customer (0
 * when refused before any customer was looked at), what came back. */
struct tried {
    enum actor actor;
    const char *rpc;
    int64_t customer;
    int code;
};
static struct tried tried[4000];
static int ntried;

/* What the model says: OK; PERMISSION_DENIED when the role may not do
 * this to any customer (said before the record is looked at) or may read
 * this one but not act on it; NOT_FOUND when it may not even read it. */
static int on_record(enum actor a, enum action act, enum rel r)
{
    if (covers(model[a][act], r))
        return C(OK);
    return covers(model[a][A_READ], r) ? C(PERMISSION_DENIED) : C(NOT_FOUND);
}

static int expected(enum actor a, const struct rpc_case *rc, enum rel r)
{
    if (model[a][rc->action] == S_NONE || (rc->managers_only && a != AC_BM && a != AC_ADMIN))
        return C(PERMISSION_DENIED);
    if (rc->first && on_record(a, (enum action)(rc->first - 1), r) != C(OK))
        return on_record(a, (enum action)(rc->first - 1), r);
    return on_record(a, rc->action, r);
}

/* What a refusal says: a denial by the matrix names the role, the action
 * and the cell ("role/action = scope"), and for a customer the caller may
 * read, why it is outside the cell; a customer the caller may not read gets
 * exactly what a missing one gets. */
static void check_message(enum actor a, const struct rpc_case *rc, int64_t id, enum rel r, int got)
{
    if (got == C(NOT_FOUND)) {
        /* the same request for a customer that does not exist: the same answer but for the id */
        char said[512], field[64], idtext[24], missing[24], want[600];
        snprintf(said, sizeof said, "%s", last_message);
        snprintf(field, sizeof field, "%s", last_field);
        int64_t none = id + 100000000;
        int code = rc->fn(actor(a), none);
        snprintf(idtext, sizeof idtext, "%lld", (long long)id);
        snprintf(missing, sizeof missing, "%lld", (long long)none);
        const char *at = strstr(last_message, missing);
        if (at)
            snprintf(want, sizeof want, "%.*s%s%s", (int)(at - last_message), last_message, idtext, at + strlen(missing));
        else
            snprintf(want, sizeof want, "%s", last_message);
        if (code != C(NOT_FOUND) || strcmp(said, want) != 0 || strcmp(field, last_field) != 0)
            fail_msg("%s %s: an unreadable customer gets '%s' [%s], a missing one %s '%s' [%s]", actor_names[a],
                     rc->name, said, field, kehu_code_name(code), last_message, last_field);
        return;
    }
    if (got != C(PERMISSION_DENIED) || (rc->managers_only && a != AC_BM && a != AC_ADMIN))
        return;
    /* the action that refused: merge's first check is an edit of the customer it keeps */
    enum action act = rc->action;
    if (rc->first && model[a][act] != S_NONE && !covers(model[a][rc->first - 1], r))
        act = (enum action)(rc->first - 1);
    if (act == A_UNMASK)
        return;
    char cellname[96];
    snprintf(cellname, sizeof cellname, "(matrix %s/%s = %s)", actor_names[a], action_names[act],
             scope_names[model[a][act]]);
    if (!strstr(last_message, cellname) || strncmp(last_message, actor_names[a], strlen(actor_names[a])) != 0)
        fail_msg("%s %s: PERMISSION_DENIED says '%s', not naming the cell %s", actor_names[a], rc->name, last_message,
                 cellname);
    /* a readable customer outside a non-empty cell: why it is outside */
    if (model[a][act] != S_NONE && !strstr(last_message, "; this customer "))
        fail_msg("%s %s: PERMISSION_DENIED says '%s', not why the customer is outside", actor_names[a], rc->name,
                 last_message);
}

static void check_case(enum actor a, const struct rpc_case *rc, enum owner o, int64_t id)
{
    enum rel r = relation[a][o];
    int want = expected(a, rc, r);
    int got = rc->fn(actor(a), id);
    if (got != want)
        fail_msg("%s %s on %s's customer %lld (%s): expected %s, got %s", actor_names[a], rc->name, owner_names[o],
                 (long long)id, rel_names[r], kehu_code_name(want), kehu_code_name(got));
    check_message(a, rc, id, r, got);
    if (got == C(OK))
        allowed_cases++;
    else
        denied_cases++;
    int early = model[a][rc->action] == S_NONE || (rc->managers_only && a != AC_BM && a != AC_ADMIN);
    assert_true(ntried < (int)(sizeof tried / sizeof tried[0]));
    /* a merge refused on the customer it keeps names that one */
    int64_t named = rc->first && on_record(a, (enum action)(rc->first - 1), r) != C(OK) ? merge_other : id;
    tried[ntried++] = (struct tried){ a, rc->name, early ? 0 : named, got };
}

static const char *const actor_users[NACTORS] = { "li.lei", "wang.fang", "chen.jing", "zhao.min", "admin" };

/* Every case of the matrix left its row in the audit trail: who, the RPC,
 * the customer, the outcome ("ok" or the code). Reads are written in
 * batches a few milliseconds after their answer: wait for the last. */
static void check_audit_rows(void)
{
    PGconn *pg = it_pg_open();
    int missing = 0;
    for (int i = 0; i < ntried; i++) {
        const struct tried *t = &tried[i];
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)t->customer);
        const char *params[4] = { actor_users[t->actor], t->rpc, t->code == C(OK) ? "ok" : kehu_code_name(t->code), id };
        int found = 0;
        for (int wait = 0; wait < 50 && !found; wait++) {
            PGresult *r = PQexecParams(pg,
                                       "SELECT count(*) FROM audit_log WHERE username = $1 AND action = $2 AND result = $3"
                                       " AND ($4::bigint = 0 OR $4::bigint = ANY (customer_ids))",
                                       4, NULL, params, NULL, NULL, 0);
            assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
            found = atoi(PQgetvalue(r, 0, 0)) > 0;
            PQclear(r);
            if (!found)
                usleep(20000);
        }
        if (!found && missing++ < 10)
            fprintf(stderr, "no audit row: %s %s customer %s -> %s\n", params[0], params[1], id, params[2]);
    }
    PQfinish(pg);
    if (missing)
        fail_msg("%d of %d matrix cases left no audit row", missing, ntried);
    printf("audit trail: every one of the %d matrix cases has its row\n", ntried);
    ntried = 0;
}

/* Every RPC x every actor x every customer. */
static void run_matrix(const char *label)
{
    int before_allowed = allowed_cases, before_denied = denied_cases;
    for (size_t k = 0; k < NRPCS; k++)
        for (int a = 0; a < NACTORS; a++)
            for (int o = 0; o < NOWNERS; o++) {
                int64_t id = cust[o];
                if (rpcs[k].fresh) {
                    id = add_customer("一次性客户", owner_names[o]);
                    merge_other = add_customer("保留客户", owner_names[o]);
                }
                check_case((enum actor)a, &rpcs[k], (enum owner)o, id);
            }
    printf("permission matrix (%s): %zu RPCs x %d roles x %d customers = %d cases: %d allowed, %d denied\n", label,
           NRPCS, NACTORS, NOWNERS, allowed_cases - before_allowed + denied_cases - before_denied,
           allowed_cases - before_allowed, denied_cases - before_denied);
}

/* Lists (customer list, export): exactly the readable (exportable) ones. */
static void check_listing(enum actor a, enum action act)
{
    Kehu__V1__CustomerList f = KEHU__V1__CUSTOMER_LIST__INIT;
    f.tag = "matrix";
    f.limit = 100;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    Kehu__V1__ExportPage e = KEHU__V1__EXPORT_PAGE__INIT;
    if (act == A_READ) {
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_LIST;
        req.customer_list = &f;
    } else {
        e.filter = &f;
        req.op_case = KEHU__V1__REQUEST__OP_EXPORT_PAGE;
        req.export_page = &e;
    }
    int none = model[a][act] == S_NONE;
    Kehu__V1__Response *r = it_call(actor(a), &req, none ? C(PERMISSION_DENIED) : C(OK));
    for (int o = 0; o < NOWNERS; o++) {
        int want = covers(model[a][act], relation[a][o]), seen = 0;
        char idtext[32];
        snprintf(idtext, sizeof idtext, "\n%lld,", (long long)cust[o]);
        if (none)
            seen = 0;
        else if (act == A_READ)
            for (size_t i = 0; i < r->customers->n_customers; i++)
                seen |= r->customers->customers[i]->id == cust[o];
        else
            seen = memmem(r->export_data->csv.data, r->export_data->csv.len, idtext, strlen(idtext)) != NULL;
        if (seen != want)
            fail_msg("%s %s: %s's customer %s", actor_names[a], act == A_READ ? "customer_list" : "export_page",
                     owner_names[o], want ? "missing" : "shown");
        want ? allowed_cases++ : denied_cases++;
    }
    if (r)
        kehu_response_free(r);
}

static void tag_matrix_customers(void)
{
    for (int o = 0; o < NOWNERS; o++) {
        Kehu__V1__CustomerEdit m = KEHU__V1__CUSTOMER_EDIT__INIT;
        Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *set[1] = { &fv };
        fv.field = "tags";
        fv.value = "matrix";
        m.id = cust[o];
        m.version = version_of(cust[o]);
        m.set = set;
        m.n_set = 1;
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
        req.customer_edit = &m;
        it_expect(org.admin, &req, C(OK), NULL);
    }
}

static int setup(void **state)
{
    if (it_setup(state) || it_cli_open(&cli) < 0)
        return -1;
    it_org_build(&org);
    it_expect(org.admin, it_req_org_add("上海二组", KEHU__V1__UNIT_KIND__TEAM, "上海分行"), C(OK), NULL);
    it_expect(org.admin, it_req_org_add("杭州分行", KEHU__V1__UNIT_KIND__BRANCH, "华东区"), C(OK), NULL);
    it_add_user("sun.li", KEHU__V1__ROLE__ACCOUNT_MANAGER, "上海二组", IT_PASSWORD);
    it_add_user("hz.am", KEHU__V1__ROLE__ACCOUNT_MANAGER, "杭州分行", IT_PASSWORD);
    sun = it_login("sun.li", IT_PASSWORD);
    hz = it_login("hz.am", IT_PASSWORD);
    static const char *const names[NOWNERS] = { "李客户", "张客户", "孙客户", "王经理的客户", "杭州客户", "北京客户" };
    for (int o = 0; o < NOWNERS; o++)
        cust[o] = add_customer(names[o], owner_names[o]);
    tag_matrix_customers();
    return 0;
}

static int teardown(void **state)
{
    kehu_close(sun);
    kehu_close(hz);
    it_cli_close(&cli);
    it_org_close(&org);
    return it_teardown(state);
}

/* ---- the matrix with its defaults, then with edited cells */

static Kehu__V1__Response *perm_set(kehu_client *c, const char *role, const char *action, const char *scope, int code)
{
    Kehu__V1__PermCell cell = KEHU__V1__PERM_CELL__INIT, *cells[1] = { &cell };
    cell.role = kehu_role_parse(role);
    cell.action = (char *)action;
    cell.scope = (char *)scope;
    Kehu__V1__PermSet m = KEHU__V1__PERM_SET__INIT;
    m.cells = cells;
    m.n_cells = 1;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_PERM_SET;
    req.perm_set = &m;
    return it_call(c, &req, code);
}

static void set_cell(enum actor a, enum action act, const char *scope, enum scope s)
{
    Kehu__V1__Response *r = perm_set(org.admin, actor_names[a], action_names[act], scope, C(OK));
    kehu_response_free(r);
    model[a][act] = s;
}

static void test_default_matrix(void **state)
{
    (void)state;
    run_matrix("defaults");
    check_audit_rows();
    for (int a = 0; a < NACTORS; a++) {
        check_listing((enum actor)a, A_READ);
        check_listing((enum actor)a, A_EXPORT);
    }
}

static void test_edited_matrix(void **state)
{
    (void)state;
    /* account managers read their team and edit nothing; agents may read the region;
     * managers lose delete; auditors may not export */
    set_cell(AC_AM, A_READ, "team", S_TEAM);
    set_cell(AC_AM, A_EDIT, "none", S_NONE);
    set_cell(AC_AM, A_OVERRIDE, "none", S_NONE);
    set_cell(AC_SA, A_READ, "region", S_REGION);
    set_cell(AC_BM, A_DELETE, "none", S_NONE);
    set_cell(AC_AUD, A_EXPORT, "none", S_NONE);
    /* logging contacts taken away from agents, given to account managers over their team */
    set_cell(AC_SA, A_LOG, "none", S_NONE);
    set_cell(AC_AM, A_LOG, "team", S_TEAM);
    run_matrix("edited");
    check_audit_rows();
    for (int a = 0; a < NACTORS; a++) {
        check_listing((enum actor)a, A_READ);
        check_listing((enum actor)a, A_EXPORT);
    }
    /* back to the defaults, cell by cell: the model follows */
    set_cell(AC_AM, A_LOG, "own", S_OWN);
    set_cell(AC_AM, A_OVERRIDE, "own", S_OWN);
    set_cell(AC_AM, A_EDIT, "own", S_OWN);
    set_cell(AC_AM, A_READ, "own", S_OWN);
    set_cell(AC_SA, A_READ, "branch", S_BRANCH);
    set_cell(AC_BM, A_DELETE, "branch", S_BRANCH);
    set_cell(AC_AUD, A_EXPORT, "all", S_ALL);
    set_cell(AC_SA, A_LOG, "branch", S_BRANCH);
    printf("permission matrix total: %d allowed, %d denied\n", allowed_cases, denied_cases);
}

/* The matrix refuses what would make no sense, and only an admin edits it. */
static void test_matrix_validation(void **state)
{
    (void)state;
    kehu_response_free(perm_set(org.admin, "account_manager", "fly", "all", C(INVALID_ARGUMENT)));
    kehu_response_free(perm_set(org.admin, "account_manager", "read", "galaxy", C(INVALID_ARGUMENT)));
    /* editing beyond what one may read */
    kehu_response_free(perm_set(org.admin, "account_manager", "edit", "branch", C(INVALID_ARGUMENT)));
    /* the admin role keeps read and admin over everything */
    kehu_response_free(perm_set(org.admin, "admin", "admin", "branch", C(INVALID_ARGUMENT)));
    kehu_response_free(perm_set(org.mgr, "account_manager", "read", "branch", C(PERMISSION_DENIED)));
    kehu_response_free(perm_set(org.li, "account_manager", "read", "all", C(PERMISSION_DENIED)));
    /* nothing changed: li still reads only their own */
    assert_int_equal(r_get(org.li, cust[O_ZHANG]), C(NOT_FOUND));
    /* anyone may see the matrix */
    Kehu__V1__PermShow m = KEHU__V1__PERM_SHOW__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_PERM_SHOW;
    req.perm_show = &m;
    Kehu__V1__Response *r = it_call(org.agent, &req, C(OK));
    /* 7 roles (committee and finance: sql/0025) x 12 actions (the annual review's three) */
    assert_int_equal(r->perm_matrix->n_cells, 7 * 12);
    assert_int_equal(r->perm_matrix->n_actions, 12);
    kehu_response_free(r);
}

/* ID numbers and phones: in full only with 'unmask' over the customer. */
static void test_masking(void **state)
{
    (void)state;
    for (int a = 0; a < NACTORS; a++)
        for (int o = 0; o < NOWNERS; o++) {
            if (!covers(model[a][A_READ], relation[a][o]))
                continue;
            Kehu__V1__CustomerGet m = KEHU__V1__CUSTOMER_GET__INIT;
            m.id = cust[o];
            Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
            req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_GET;
            req.customer_get = &m;
            Kehu__V1__Response *r = it_call(actor((enum actor)a), &req, C(OK));
            int full = covers(model[a][A_UNMASK], relation[a][o]);
            const Kehu__V1__Customer *c = r->customer;
            if (full) {
                assert_string_equal(c->id_number, "11010519491231002X");
                assert_string_equal(c->phones[0], "13812345678");
                assert_false(c->masked);
            } else {
                assert_string_equal(c->id_number, "110105********002X");
                assert_string_equal(c->phones[0], "138****5678");
                assert_true(c->masked);
            }
            kehu_response_free(r);
        }
    /* unmasking is audited as such: the agent's reads never, li's of their own always */
    PGconn *pg = it_pg_open();
    int64_t agent_unmasked = 0, li_unmasked = 0;
    for (int wait = 0; wait < 50 && li_unmasked == 0; wait++) {
        agent_unmasked = it_pg_i64(pg, "SELECT count(*) FROM audit_log WHERE username = 'chen.jing'"
                                       " AND action = 'customer_get' AND detail LIKE '%unmasked%'");
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM audit_log WHERE username = 'li.lei' AND action = 'customer_get'"
                 " AND %lld = ANY (customer_ids) AND detail = 'unmasked: 1 customer'",
                 (long long)cust[O_LI]);
        li_unmasked = it_pg_i64(pg, sql);
        if (!li_unmasked)
            usleep(20000);
    }
    assert_int_equal(agent_unmasked, 0);
    assert_true(li_unmasked > 0);
    PQfinish(pg);
}

/* Events reach exactly those who may read the customer. */
static void test_events_follow_read(void **state)
{
    (void)state;
    for (int a = 0; a < NACTORS; a++) {
        Kehu__V1__Subscribe m = KEHU__V1__SUBSCRIBE__INIT;
        m.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
        m.unit = "总行";
        Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
        req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
        req.subscribe = &m;
        it_expect(actor((enum actor)a), &req, C(OK), NULL);
    }
    for (int o = 0; o < NOWNERS; o++)
        assert_int_equal(r_edit(org.admin, cust[o]), C(OK));
    for (int a = 0; a < NACTORS; a++) {
        int got[NOWNERS] = { 0 };
        struct kehu_status st;
        Kehu__V1__Event *ev;
        while ((ev = it_next_change(actor((enum actor)a), 700, &st)) != NULL) {
            for (int o = 0; o < NOWNERS; o++)
                got[o] += ev->customer_id == cust[o];
            kehu__v1__event__free_unpacked(ev, NULL);
        }
        for (int o = 0; o < NOWNERS; o++) {
            int want = covers(model[a][A_READ], relation[a][o]);
            if ((got[o] > 0) != want)
                fail_msg("%s: event about %s's customer %s", actor_names[a], owner_names[o],
                         want ? "missing" : "delivered although not readable");
        }
    }
}

/* Events to many connections of the same users at once, interleaved: kehud
 * decides once per announcement for each user, and no answer carries over
 * to another user of the same role and unit (li.lei and zhang.wei, account
 * managers of 上海一组, each reading their own customers only) nor to another
 * window's principal. Each window is a Resume of its user's session. */
static void test_events_follow_read_per_connection(void **state)
{
    (void)state;
    enum { WINDOWS = 3, USERS = 4 };
    kehu_client *const of[USERS] = { org.li, org.zhang, org.mgr, org.agent };
    const char *const names[USERS] = { "li.lei", "zhang.wei", "wang.fang", "chen.jing" };
    /* how each owner's customer stands to each (zhang.wei: li.lei's row with the two swapped) */
    const enum owner watched[] = { O_LI, O_ZHANG, O_SUN, O_HZ };
    enum { NWATCHED = sizeof watched / sizeof watched[0] };
    const enum actor as[USERS] = { AC_AM, AC_AM, AC_BM, AC_SA };
    const enum rel rel[USERS][NWATCHED] = {
        { R_OWN, R_TEAM, R_BRANCH, R_REGION },
        { R_TEAM, R_OWN, R_BRANCH, R_REGION },
        { R_TEAM, R_TEAM, R_TEAM, R_REGION },
        { R_TEAM, R_TEAM, R_TEAM, R_REGION },
    };
    kehu_client *win[WINDOWS][USERS];
    for (int w = 0; w < WINDOWS; w++)
        for (int u = 0; u < USERS; u++) {
            struct kehu_status st;
            win[w][u] = it_connect();
            assert_int_equal(kehu_resume(win[w][u], kehu_token(of[u]), NULL, &st), C(OK));
            Kehu__V1__Subscribe m = KEHU__V1__SUBSCRIBE__INIT;
            m.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
            m.unit = "总行";
            Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
            req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
            req.subscribe = &m;
            it_expect(win[w][u], &req, C(OK), NULL);
        }
    for (int o = 0; o < NWATCHED; o++)
        assert_int_equal(r_edit(org.admin, cust[watched[o]]), C(OK));
    int readers[NWATCHED] = { 0 };
    for (int w = 0; w < WINDOWS; w++)
        for (int u = 0; u < USERS; u++) {
            int got[NWATCHED] = { 0 };
            struct kehu_status st;
            Kehu__V1__Event *ev;
            while ((ev = it_next_change(win[w][u], 700, &st)) != NULL) {
                for (int o = 0; o < NWATCHED; o++)
                    got[o] += ev->customer_id == cust[watched[o]];
                kehu__v1__event__free_unpacked(ev, NULL);
            }
            for (int o = 0; o < NWATCHED; o++) {
                int want = covers(model[as[u]][A_READ], rel[u][o]);
                readers[o] += want;
                if ((got[o] > 0) != want)
                    fail_msg("%s's window %d: event about %s's customer %s", names[u], w + 1,
                             owner_names[watched[o]], want ? "missing" : "delivered although not readable");
            }
            kehu_close(win[w][u]);
        }
    /* the model itself tells the two account managers apart, or the test could not fail */
    assert_int_equal(covers(model[AC_AM][A_READ], R_TEAM), 0);
    assert_true(readers[0] > 0 && readers[0] < WINDOWS * USERS);
}

/* AccessExplain: the decision and the rule behind it. */
static void test_explain(void **state)
{
    (void)state;
    Kehu__V1__AccessExplain m = KEHU__V1__ACCESS_EXPLAIN__INIT;
    m.username = "li.lei";
    m.customer_id = cust[O_ZHANG];
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ACCESS_EXPLAIN;
    req.access_explain = &m;
    Kehu__V1__Response *r = it_call(org.mgr, &req, C(OK));
    const Kehu__V1__AccessExplanation *x = r->access;
    assert_int_equal(x->n_decisions, 12);
    assert_string_equal(x->decisions[0]->action, "read");
    assert_false(x->decisions[0]->allowed);
    assert_string_equal(x->decisions[0]->scope, "own");
    assert_non_null(strstr(x->decisions[0]->reason, "account_manager/read = own"));
    assert_non_null(strstr(x->decisions[0]->reason, "not this user"));
    /* users and units by name, the id kept alongside */
    assert_non_null(strstr(x->decisions[0]->reason, "owner is user zhang.wei ("));
    assert_string_equal(x->owner_name, "zhang.wei");
    assert_string_equal(x->branch_name, "上海分行");
    kehu_response_free(r);
    m.customer_id = cust[O_LI];
    r = it_call(org.admin, &req, C(OK));
    for (size_t i = 0; i < r->access->n_decisions; i++) {
        const Kehu__V1__AccessDecision *d = r->access->decisions[i];
        int want = strcmp(d->action, "reassign") && strcmp(d->action, "admin") && strncmp(d->action, "review_", 7);
        if (d->allowed != want)
            fail_msg("li on their own customer, %s: %s (%s)", d->action, d->allowed ? "allowed" : "denied", d->reason);
    }
    kehu_response_free(r);
    /* the explainer must see both: an account manager may not look into others,
     * a manager may not ask about a customer outside their branch */
    it_expect(org.li, &req, C(PERMISSION_DENIED), NULL);
    m.customer_id = cust[O_BJ];
    it_expect(org.mgr, &req, C(NOT_FOUND), "customer_id");
    m.username = "no.such.user";
    m.customer_id = cust[O_LI];
    it_expect(org.admin, &req, C(NOT_FOUND), "username");
}

/* ID numbers at rest: sealed in the table, out of the search text, found
 * by a whole-number search and by the duplicate check through their keyed
 * hash, logged sealed and shown opened in the history; a session without
 * the key cannot open them. */
static void test_id_numbers_encrypted(void **state)
{
    (void)state;
    PGconn *pg = it_pg_open();
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM customer WHERE id = %lld AND id_number LIKE 'enc1:%%'"
             " AND id_number_hash IS NOT NULL AND search_text NOT LIKE '%%1231002%%'",
             (long long)cust[O_LI]);
    assert_int_equal(it_pg_i64(pg, sql), 1);
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM customer WHERE id_number NOT LIKE 'enc1:%'"), 0);
    /* two customers with one number: two different ciphertexts, one hash */
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT id_number) * 10 + count(DISTINCT id_number_hash) FROM customer WHERE id IN (%lld, %lld)",
             (long long)cust[O_LI], (long long)cust[O_ZHANG]);
    assert_int_equal(it_pg_i64(pg, sql), 21);

    /* the duplicate check still sees the number */
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    Kehu__V1__Response *r;
    Kehu__V1__CustomerAdd add = KEHU__V1__CUSTOMER_ADD__INIT;
    add.customer = new_customer("另一个人");
    add.customer->n_phones = 0;
    add.owner = "li.lei";
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_ADD;
    req.customer_add = &add;
    it_expect(org.admin, &req, C(CONFLICT), NULL);

    /* a new number: logged sealed, shown opened (and masked to those without unmask) */
    Kehu__V1__CustomerEdit e = KEHU__V1__CUSTOMER_EDIT__INIT;
    Kehu__V1__FieldValue fv = KEHU__V1__FIELD_VALUE__INIT, *set[1] = { &fv };
    fv.field = "id_number";
    fv.value = "310101199001011234";
    e.id = cust[O_ZHANG];
    e.version = version_of(cust[O_ZHANG]);
    e.set = set;
    e.n_set = 1;
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &e;
    it_expect(org.admin, &req, C(OK), NULL);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM change_log WHERE customer_id = %lld AND field = 'id_number'"
             " AND new_value LIKE 'enc1:%%' AND old_value LIKE 'enc1:%%'",
             (long long)cust[O_ZHANG]);
    assert_int_equal(it_pg_i64(pg, sql), 1);
    assert_int_equal(it_pg_i64(pg, "SELECT count(*) FROM change_log WHERE new_value LIKE '%199001011234%'"), 0);
    /* a search by the whole number (spaces and a lower-case x allowed) finds
     * it, for those who may read it */
    Kehu__V1__CustomerSearch m = KEHU__V1__CUSTOMER_SEARCH__INIT;
    m.text = "310101 19900101 1234";
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH;
    req.customer_search = &m;
    r = it_call(org.mgr, &req, C(OK));
    assert_int_equal(r->customers->n_customers, 1);
    assert_int_equal(r->customers->customers[0]->id, cust[O_ZHANG]);
    kehu_response_free(r);
    r = it_call(org.li, &req, C(OK));
    assert_int_equal(r->customers->n_customers, 0);
    kehu_response_free(r);
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_EDIT;
    req.customer_edit = &e;
    /* the same number again: no new ciphertext, nothing logged */
    e.version = version_of(cust[O_ZHANG]);
    it_expect(org.admin, &req, C(OK), NULL);
    assert_int_equal(it_pg_i64(pg, sql), 1);
    Kehu__V1__CustomerHistory h = KEHU__V1__CUSTOMER_HISTORY__INIT;
    h.customer_id = cust[O_ZHANG];
    req.op_case = KEHU__V1__REQUEST__OP_CUSTOMER_HISTORY;
    req.customer_history = &h;
    kehu_client *who[2] = { org.admin, org.agent };
    const char *want[2][2] = { { "11010519491231002X", "310101199001011234" },
                               { "110105********002X", "310101********1234" } };
    for (int k = 0; k < 2; k++) {
        r = it_call(who[k], &req, C(OK));
        int seen = 0;
        for (size_t i = 0; i < r->changes->n_changes; i++)
            if (strcmp(r->changes->changes[i]->field, "id_number") == 0) {
                assert_string_equal(r->changes->changes[i]->old_value, want[k][0]);
                assert_string_equal(r->changes->changes[i]->new_value, want[k][1]);
                seen++;
            }
        assert_int_equal(seen, 1);
        kehu_response_free(r);
    }
    PQfinish(pg);

    /* a session without the key opens nothing */
    const char *saved = getenv("PGOPTIONS");
    char *copy = saved ? strdup(saved) : NULL;
    unsetenv("PGOPTIONS");
    pg = it_pg_open();
    PGresult *res = PQexec(pg, "SELECT id_open(id_number) FROM customer WHERE id_number IS NOT NULL LIMIT 1");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorMessage(res), "kehu.id_key is not set"));
    PQclear(res);
    PQfinish(pg);
    if (copy) {
        setenv("PGOPTIONS", copy, 1);
        free(copy);
    }
}

/* A list names in its audit row the customers it showed: li's follow-ups
 * due include the calls planned on their own customer by the matrix run. */
static void test_lists_name_their_customers(void **state)
{
    (void)state;
    Kehu__V1__FollowupDue m = KEHU__V1__FOLLOWUP_DUE__INIT;
    m.days = 30;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_FOLLOWUP_DUE;
    req.followup_due = &m;
    Kehu__V1__Response *r = it_call(org.li, &req, C(OK));
    int shown = 0;
    for (size_t i = 0; i < r->followups->n_followups; i++)
        shown += r->followups->followups[i]->customer_id == cust[O_LI];
    kehu_response_free(r);
    assert_true(shown > 0);
    PGconn *pg = it_pg_open();
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_log WHERE username = 'li.lei' AND action = 'followup_due'"
             " AND %lld = ANY (customer_ids)",
             (long long)cust[O_LI]);
    int64_t rows = 0;
    for (int wait = 0; wait < 50 && rows == 0; wait++) {
        rows = it_pg_i64(pg, sql);
        if (!rows)
            usleep(20000);
    }
    PQfinish(pg);
    assert_int_equal(rows, 1);
}

/* An upgrade seals the ID numbers an older schema stored in the clear: a
 * database built with migrations 0001-0006 and given a customer with an ID
 * number and its change log, then `kehud migrate`: the number is sealed and
 * hashed, gone from the search text, and the change log holds it sealed
 * only (no clear "old value" left behind by the sealing itself). */
static void test_upgrade_seals_existing_numbers(void **state)
{
    (void)state;
    PGconn *pg = it_pg_open();
    it_pg_do(pg, "DROP DATABASE IF EXISTS old_kehu");
    it_pg_do(pg, "CREATE DATABASE old_kehu");
    PQfinish(pg);
    char conninfo[512];
    snprintf(conninfo, sizeof conninfo, "%s", it_env.conninfo);
    char *db = strstr(conninfo, "dbname=kehu");
    assert_non_null(db);
    snprintf(db, sizeof conninfo - (size_t)(db - conninfo), "dbname=old_kehu");
    PGconn *old = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(old), CONNECTION_OK);
    it_pg_do(old, "CREATE TABLE schema_migration (version integer PRIMARY KEY, name text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())");
    static const char *const files[] = { "0001_init", "0002_customers", "0003_followups_docs", "0004_merge",
                                         "0005_payments_assets", "0006_grading" };
    for (int i = 0; i < 6; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/sql/%s.sql", KEHU_SOURCE_DIR, files[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        static char sql[1 << 20];
        size_t n = fread(sql, 1, sizeof sql - 1, f);
        fclose(f);
        sql[n] = 0;
        it_pg_do(old, sql);
        char rec[128];
        snprintf(rec, sizeof rec, "INSERT INTO schema_migration (version, name) VALUES (%d, '%s')", i + 1, files[i] + 5);
        it_pg_do(old, rec);
    }
    it_pg_do(old, "INSERT INTO org_unit (kind, name) VALUES ('head_office', '老总行')");
    it_pg_do(old, "INSERT INTO org_unit (kind, name, parent_id) VALUES ('branch', '老分行', 1)");
    it_pg_do(old, "INSERT INTO customer (branch_id, kind, name, id_number, search_text, sort_key, search_tokens)"
                  " VALUES (2, 'individual', '老客户', '11010519491231002X', '老客户 | 11010519491231002x', 'lao', '{}')");
    /* an edit, as an older kehud made it: the number changes in the row, its search text and the change log */
    it_pg_do(old, "UPDATE customer SET id_number = '310101199001011234', search_text = '老客户 | 310101199001011234'"
                  " WHERE name = '老客户'");
    assert_int_equal(it_pg_i64(old, "SELECT count(*) FROM change_log WHERE field = 'id_number'"
                                    " AND old_value = '11010519491231002X' AND new_value = '310101199001011234'"),
                     1);
    PQfinish(old);

    char out[4096];
    const char *args[] = { "migrate", "--db-owner", conninfo, NULL }; /* migrations run as the owner */
    int rc = th_kehud_run(&it_env, args, out, sizeof out);
    if (rc != 0)
        fail_msg("kehud migrate on a schema-6 base: status %d\n%s", rc, out);
    assert_non_null(strstr(out, "applied 0007_permissions"));
    /* an upgrade (unlike a new database) ends with a vacuum of Kehu's tables */
    assert_non_null(strstr(out, "vacuumed and analysed after the migrations"));

    old = PQconnectdb(conninfo); /* this process's PGOPTIONS carry the test key */
    assert_int_equal(PQstatus(old), CONNECTION_OK);
    assert_int_equal(it_pg_i64(old, "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('customer', 'org_unit')"
                                    " AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"),
                     2);
    assert_int_equal(it_pg_i64(old, "SELECT count(*) FROM customer WHERE id_number LIKE 'enc1:%'"
                                    " AND id_number_hash = id_hash('310101199001011234')"
                                    " AND id_open(id_number) = '310101199001011234' AND search_text NOT LIKE '%3101%'"),
                     1);
    /* nowhere in the clear: not the customer, not its history, old or new */
    assert_int_equal(it_pg_i64(old, "SELECT count(*) FROM change_log WHERE old_value LIKE '%1949%'"
                                    " OR new_value LIKE '%199001011234%' OR old_value LIKE '%199001011234%'"),
                     0);
    assert_int_equal(it_pg_i64(old, "SELECT count(*) FROM change_log WHERE field = 'id_number'"
                                    " AND id_open(old_value) = '11010519491231002X'"
                                    " AND id_open(new_value) = '310101199001011234'"),
                     1);
    PQfinish(old);
}

/* The command line: perm show|set and access explain, their JSON and exit codes. */
static void test_cli(void **state)
{
    (void)state;
    it_cli_expect(&cli, it_cli_run(&cli, IT_ENV("KEHU_PASSWORD=" TH_ADMIN_PASSWORD), IT_ARGS("login", "admin")), 0, NULL);
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "show", "--json")), 0,
                  "\"account_manager\": {\n      \"read\": \"own\"");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "show")), 0, "service_agent");
    if (!strstr(cli.out, "OVERRIDE_GRADE") || !strstr(cli.out, "account_manager  own     own     none"))
        fail_msg("perm show:\n%s", cli.out);
    /* usage errors: no role, no ACTION=SCOPE, an unknown role (exit 2, nothing sent) */
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "set", "read=own", "edit=own")), 2, "name the role");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "set", "account_manager")), 2, "ACTION=SCOPE");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "set", "clerk", "read=own")), 2, "unknown role");
    /* refusals: an unknown action or scope (exit 1, the server's message) */
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "set", "account_manager", "fly=all")), 1,
                  "INVALID_ARGUMENT");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("--json", "perm", "set", "auditor", "export=galaxy")), 1,
                  "\"code\": \"INVALID_ARGUMENT\"");
    /* a change, then back: two roles in one command */
    it_cli_expect(&cli,
                  it_cli_run(&cli, NULL, IT_ARGS("perm", "set", "service_agent", "read=region", "auditor", "export=none")),
                  0, "2 cells changed");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("--json", "perm", "set", "service_agent", "read=branch", "auditor",
                                                      "export=all")),
                  0, "\"changed\": 2");
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)cust[O_LI]);
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("--json", "access", "explain", "chen.jing", id)), 0,
                  "\"action\": \"read\",\n      \"allowed\": true");
    assert_non_null(strstr(cli.out, "\"action\": \"edit\",\n      \"allowed\": false"));
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("access", "explain", "chen.jing", id)), 0, "service_agent/read = branch");
    assert_non_null(strstr(cli.out, "branch is unit 上海分行 ("));
    assert_non_null(strstr(cli.out, "(owner li.lei, branch 上海分行)"));
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("--json", "access", "explain", "chen.jing", id)), 0,
                  "\"owner\": \"li.lei\"");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("access", "explain", "chen.jing", "x")), 2, "CUSTOMER_ID");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("access", "explain", "nobody.here", id)), 1, "NOT_FOUND");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("access", "explain", "chen.jing", id)), 0,
                  "service_agent/log_contact = branch");
}

/* A service agent logs the call they took, on a customer of their branch,
 * through the command line; the matrix can take that away again, and the
 * refusal names the action and the cell. perm set's audit row says what
 * each cell was and became. */
static void test_agent_logs_a_call(void **state)
{
    (void)state;
    struct it_cli sa;
    assert_int_equal(it_cli_open(&sa), 0);
    it_cli_expect(&sa, it_cli_run(&sa, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), IT_ARGS("login", "chen.jing")), 0, NULL);
    char id[24], other[24];
    snprintf(id, sizeof id, "%lld", (long long)cust[O_SUN]);
    snprintf(other, sizeof other, "%lld", (long long)cust[O_HZ]);
    it_cli_expect(&sa, it_cli_run(&sa, NULL, IT_ARGS("followup", "log", id, "--kind", "call", "--outcome", "来电咨询",
                                                     "--next", today(3))),
                  0, NULL);
    /* editing the customer stays refused, naming the cell */
    it_cli_expect(&sa, it_cli_run(&sa, NULL, IT_ARGS("customer", "edit", id, "--version", "1", "--set", "region=上海")), 1,
                  "service_agent may not edit customers (matrix service_agent/edit = none)");
    /* another branch's customer does not exist for the agent */
    it_cli_expect(&sa, it_cli_run(&sa, NULL, IT_ARGS("followup", "log", other, "--kind", "call")), 1, "NOT_FOUND");
    char nf[64];
    snprintf(nf, sizeof nf, "no customer %s", other);
    assert_non_null(strstr(sa.err, nf));

    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "show")), 0, "LOG_CONTACT");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "set", "service_agent", "log_contact=none", "read=branch")),
                  0, "1 cell");
    PGconn *pg = it_pg_open();
    char *detail = NULL;
    for (int wait = 0; wait < 50 && !detail; wait++) {
        PGresult *r = PQexec(pg, "SELECT detail FROM audit_log WHERE action = 'perm_set' AND result = 'ok'"
                                 " ORDER BY seq DESC LIMIT 1");
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            detail = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    PQfinish(pg);
    assert_non_null(detail);
    if (!strstr(detail, "service_agent log_contact: branch -> none") ||
        !strstr(detail, "service_agent read: branch (unchanged)"))
        fail_msg("perm_set's audit detail: '%s'", detail);
    free(detail);
    it_cli_expect(&sa, it_cli_run(&sa, NULL, IT_ARGS("followup", "log", id, "--kind", "call")), 1,
                  "service_agent may not log contacts with customers (matrix service_agent/log_contact = none)");
    it_cli_expect(&sa, it_cli_run(&sa, NULL, IT_ARGS("followup", "plan", id, "--kind", "call", "--due", today(2))), 1,
                  "PERMISSION_DENIED");
    /* an account manager's cell over their own: another owner's readable customer is explained */
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "set", "service_agent", "log_contact=branch",
                                                      "account_manager", "read=team")),
                  0, "2 cells");
    struct it_cli am;
    assert_int_equal(it_cli_open(&am), 0);
    it_cli_expect(&am, it_cli_run(&am, IT_ENV("KEHU_PASSWORD=" IT_PASSWORD), IT_ARGS("login", "li.lei")), 0, NULL);
    snprintf(id, sizeof id, "%lld", (long long)cust[O_ZHANG]);
    it_cli_expect(&am, it_cli_run(&am, NULL, IT_ARGS("followup", "log", id, "--kind", "visit")), 1,
                  "account_manager may log contacts with customers: their own only (matrix account_manager/log_contact"
                  " = own); this customer is another owner's");
    it_cli_expect(&cli, it_cli_run(&cli, NULL, IT_ARGS("perm", "set", "account_manager", "read=own")), 0, "1 cell");
    it_cli_close(&am);
    it_cli_close(&sa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_matrix),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_matrix_validation),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_edited_matrix),
        cmocka_unit_test(test_events_follow_read),
        cmocka_unit_test(test_events_follow_read_per_connection),
        cmocka_unit_test(test_id_numbers_encrypted),
        cmocka_unit_test(test_lists_name_their_customers),
        cmocka_unit_test(test_upgrade_seals_existing_numbers),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_agent_logs_a_call),
    };
    return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
