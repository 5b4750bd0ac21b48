/* The audit trail: audit list (who read or changed what, newest first) and
 * audit verify (the hash chain, exit 1 naming the first bad row). Auditors
 * and admins only; the server says so. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "out.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX 100000 /* rows a command asks for, in pages of PAGE_MAX */
#define PAGE_MAX 1000
#define DETAIL_COLS 40
#define IDS_COLS 30

static const struct rec_kind verify_rec = {
    &kehu__v1__audit_verify_result__descriptor, "ok rows last_seq last_hash bad_seq reason from_seq full", NULL, NULL,
    NULL,
};

static void hex(const ProtobufCBinaryData *b, char *out, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < b->len && k + 3 <= n; i++)
        k += (size_t)snprintf(out + k, n - k, "%02x", b->data[i]);
    out[k < n ? k : n - 1] = 0;
}

/* ---- audit list */

static char *entry_user(const void *msg)
{
    const Kehu__V1__AuditEntry *e = msg;
    return out_xstrdup(*e->username ? e->username : "-");
}

static const struct rec_calc entry_calc[] = { { "user", NULL, entry_user }, { NULL, NULL, NULL } };
static const struct rec_col entry_cols[] = {
    { N_("SEQ"), "seq", OUT_RIGHT, 0 }, { N_("AT"), "at_ms", OUT_LEFT, 0 }, { N_("USER"), "@user", OUT_LEFT, 0 },
    { N_("FROM"), "peer", OUT_LEFT, 0 }, { N_("ACTION"), "action", OUT_LEFT, 0 },
    { N_("CUSTOMERS"), "customer_ids", OUT_LEFT, IDS_COLS }, { N_("RESULT"), "result", OUT_LEFT, 0 },
    { N_("DETAIL"), "detail", OUT_LEFT, DETAIL_COLS }, { NULL, NULL, 0, 0 },
};
/* JSON: the time both ways; CSV: its own order, without at_ms and hash */
static const struct rec_kind entry_rec = {
    &kehu__v1__audit_entry__descriptor,
    "seq at_ms +#at_ms +user_id username +peer +action +customer_ids +detail +result +hash -user_id -peer -action "
    "-customer_ids -result -detail",
    entry_cols, N_("no audit records match"), entry_calc,
};
static const struct cli_record_kind entry_kind = { .rec = &entry_rec };

static const struct cli_flag list_flags[] = {
    { "user", NULL, 0, 0, NULL, 0 },
    { "customer", "customer_id", 0, 0, NULL, 0 },
    { "since", "since_ms", 0, 0, NULL, CLI_FLAG_TIME },
    { "until", "until_ms", 0, 0, NULL, CLI_FLAG_TIME },
    { "action", NULL, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, NULL, 0 },
};

static int run_audit_list(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__AuditList m = KEHU__V1__AUDIT_LIST__INIT;
    struct cli_paging pg = { .max = LIMIT_MAX };
    struct cmd_words ws = { .w = { "audit", "list" }, .n = 2 };
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__audit_list__descriptor, list_flags, &m, &pg, &ws)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    /* the cursor of a page: the sequence number the next one starts below */
    if (pg.after && (rc = cli_parse_int(cli, "--after", pg.after, 1, INT64_MAX, &m.before_seq)))
        return rc;
    /* pages of up to PAGE_MAX until --limit rows, newest first */
    uint32_t limit = pg.limit ? pg.limit : LIMIT_DEFAULT;
    struct cli_pages pages = { 0 };
    char cursor[24];
    while (pg.all || pages.n < limit) {
        size_t want = pg.all ? PAGE_MAX : limit - pages.n;
        m.limit = (uint32_t)(want > PAGE_MAX ? PAGE_MAX : want);
        Kehu__V1__Request req;
        cli_request(&req, KEHU__V1__REQUEST__OP_AUDIT_LIST, &m);
        Kehu__V1__Response *resp;
        if ((rc = cli_call_for(cli, &req, KEHU__V1__RESPONSE__RESULT_AUDIT_ENTRIES, &resp)))
            break;
        const Kehu__V1__AuditEntries *page = resp->audit_entries;
        cli_pages_add(&pages, resp, (void *const *)page->entries, page->n_entries);
        snprintf(cursor, sizeof cursor, "%" PRId64, page->next_before_seq);
        if ((rc = cli_pages_next(cli, &pages, page->next_before_seq ? cursor : NULL, page->remaining, NULL)) ||
            !pages.next)
            break;
        m.before_seq = page->next_before_seq;
    }
    if (rc == CLI_OK) {
        cli_print_records(cli, pages.items, pages.n, 1, &entry_kind);
        cli_page_more(cli, ws.w, ws.n, pages.next, pages.remaining);
    }
    cli_pages_free(&pages);
    return rc;
}

/* ---- audit verify */

static const char *reason_text(const char *reason)
{
    if (strcmp(reason, "edited") == 0)
        return "edited: the row no longer matches its hash";
    if (strcmp(reason, "missing") == 0)
        return "missing: the row was removed";
    if (strcmp(reason, "chain broken") == 0)
        return "chain broken: the row does not follow the one before it (replaced or re-hashed)";
    return reason;
}

/* --head SEQ:HASH, noted from an earlier verify: that row must still be
 * there with that hash (removing the newest rows leaves no gap in the chain). */
static int check_head(struct cli *cli, int64_t seq, const char *want, const char **why)
{
    Kehu__V1__AuditList m = KEHU__V1__AUDIT_LIST__INIT;
    m.before_seq = seq + 1;
    m.limit = 1;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_AUDIT_LIST, &m);
    Kehu__V1__Response *resp;
    int rc = cli_call(cli, &req, &resp);
    if (rc)
        return -rc;
    if (!resp->audit_entries) {
        rc = cli_bad_reply(cli, resp);
        return -rc;
    }
    int ok = 0;
    if (resp->audit_entries->n_entries == 1 && resp->audit_entries->entries[0]->seq == seq) {
        char h[72];
        hex(&resp->audit_entries->entries[0]->hash, h, sizeof h);
        ok = strcmp(h, want) == 0;
        *why = ok ? "" : "edited: the noted head row no longer has the noted hash";
    } else {
        *why = "missing: the noted head row is gone (the newest rows were removed)";
    }
    kehu_response_free(resp);
    return ok;
}

static int run_audit_verify(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "head", "", 0, 0, NULL, CLI_FLAG_VALUE }, { "full", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 }
    };
    Kehu__V1__AuditVerify m = KEHU__V1__AUDIT_VERIFY__INIT;
    struct cmd_words ws = { .n = 0 };
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__audit_verify__descriptor, flags, &m, NULL, &ws)) ||
        (rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    const char *head = cli_flag_value(&ws, "--head");
    int64_t head_seq = 0;
    char head_hash[72] = "";
    if (head) {
        const char *colon = strchr(head, ':');
        char num[24];
        size_t nl = colon ? (size_t)(colon - head) : 0;
        if (!colon || nl == 0 || nl >= sizeof num || strlen(colon + 1) != 64)
            return cli_usage_error(cli, "--head: '%s' is not SEQ:HASH as audit verify printed it", head);
        memcpy(num, head, nl);
        num[nl] = 0;
        if ((rc = cmd_customer_parse_int(cli, "--head", num, 1, INT64_MAX, &head_seq)))
            return rc;
        snprintf(head_hash, sizeof head_hash, "%s", colon + 1);
    }
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_AUDIT_VERIFY, &m);
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    const Kehu__V1__AuditVerifyResult *v = resp->audit_verify;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_AUDIT_VERIFY || !v)
        return cli_bad_reply(cli, resp);
    int ok = v->ok;
    int64_t bad_seq = v->bad_seq;
    const char *reason = v->reason;
    if (ok && head) {
        const char *why = "";
        int h = check_head(cli, head_seq, head_hash, &why);
        if (h < 0) {
            kehu_response_free(resp);
            return -h;
        }
        if (!h) {
            ok = 0;
            bad_seq = head_seq;
            reason = why;
        }
    }
    char last_hash[72];
    hex(&v->last_hash, last_hash, sizeof last_hash);
    if (cli->json) { /* the server's answer with the check of --head */
        Kehu__V1__AuditVerifyResult shown = *v;
        shown.ok = ok;
        shown.bad_seq = ok ? 0 : bad_seq;
        shown.reason = (char *)(ok ? "" : reason);
        cli_json_record(&verify_rec, &shown);
    }
    if (ok) {
        if (!cli->json) {
            if (v->from_seq)
                cli_say("audit trail intact: %" PRId64 " rows checked, seq %" PRId64 " to %" PRId64
                        " after the checkpoint at seq %" PRId64 " (`--full` checks from seq 1)\n",
                        v->rows, v->from_seq + 1, v->last_seq, v->from_seq);
            else
                cli_say("audit trail intact: %" PRId64 " rows checked, seq 1 to %" PRId64 "\n", v->rows, v->last_seq);
            if (v->last_seq)
                cli_say("head: %" PRId64 ":%s (keep it; `kehu audit verify --head` with it later also shows whether"
                        " the newest rows were removed)\n",
                        v->last_seq, last_hash);
        }
        kehu_response_free(resp);
        return CLI_OK;
    }
    fprintf(stderr, _("kehu: audit verify: the audit trail is broken at seq %" PRId64 ": %s\n"), bad_seq,
            reason_text(reason));
    kehu_response_free(resp);
    return CLI_REFUSED;
}

const struct cli_cmd cmd_audit_table[] = {
    { "audit list",
      "[--user U] [--customer ID] [--since TIME] [--until TIME] [--action RPC] [--limit N] [--after CURSOR] [--all]",
      N_("who read or changed what, newest first (TIME: YYYY-MM-DD, YYYY-MM-DDTHH:MM UTC, or 15m, 2h, 7d ago)"), 1,
      run_audit_list },
    { "audit verify", "[--full] [--head SEQ:HASH]",
      N_("check the audit trail's hash chain from the last verified checkpoint, or whole with --full (exit 1 naming the"
      " first edited or missing row)"),
      1, run_audit_verify },
    { NULL, NULL, NULL, 0, NULL },
};
