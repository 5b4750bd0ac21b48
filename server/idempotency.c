#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"
#include "util.h"

#define IDEM_KEY_MAX 64
#define IDEM_RESPONSE_MAX (256 * 1024) /* a bigger answer is not kept: its key is let go */

int idem_wanted(const struct req *r)
{
    const char *key = r->msg->idempotency_key;
    if (!key || !*key || !r->conn->who.user_id)
        return 0;
    switch (r->msg->op_case) {
    case KEHU__V1__REQUEST__OP_HELLO:
    case KEHU__V1__REQUEST__OP_PING:
    case KEHU__V1__REQUEST__OP_LOGIN:
    case KEHU__V1__REQUEST__OP_RESUME:
    case KEHU__V1__REQUEST__OP_LOGOUT:
    case KEHU__V1__REQUEST__OP_SUBSCRIBE:
    case KEHU__V1__REQUEST__OP_IMPORT_BEGIN: /* streams: each step depends on the connection's state */
    case KEHU__V1__REQUEST__OP_IMPORT_CHUNK:
    case KEHU__V1__REQUEST__OP_EXPORT_PAGE:
    case KEHU__V1__REQUEST__OP_DOC_PUT:
    case KEHU__V1__REQUEST__OP_DOC_GET:
    case KEHU__V1__REQUEST__OP_ADMIN_BACKUP:
        return 0;
    default:
        return 1;
    }
}

/* Claims (user, key) unless it is there; the row as it was before, if any.
 * Keys older than a day are let go on the way. */
static struct db_stmt claim_stmt = DB_STMT(
    "WITH old AS (DELETE FROM idempotency_key WHERE user_id = $1 AND created_at < now() - interval '24 hours'),"
    " ins AS (INSERT INTO idempotency_key (user_id, key, op) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    "         RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), k.op, encode(k.response, 'hex'),"
    "        extract(epoch FROM now() - k.created_at)::bigint"
    " FROM (SELECT 1) one LEFT JOIN idempotency_key k ON k.user_id = $1 AND k.key = $2");
static struct db_stmt record_stmt =
    DB_STMT("UPDATE idempotency_key SET response = decode($3, 'hex') WHERE user_id = $1 AND key = $2");
static struct db_stmt release_stmt = DB_STMT("DELETE FROM idempotency_key WHERE user_id = $1 AND key = $2");

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Sends the recorded answer under this request's id. */
static void replay(struct req *r, const char *hex)
{
    size_t n = strlen(hex) / 2;
    uint8_t *buf = xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "the recorded answer cannot be read");
            return;
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    Kehu__V1__Response *resp = kehu__v1__response__unpack(NULL, n, buf);
    free(buf);
    if (!resp) {
        req_fail(r, KEHU__V1__CODE__INTERNAL, NULL, "the recorded answer cannot be read");
        return;
    }
    resp->replayed = 1;
    log_info(r->conn->id, r->id, "%s: answered as recorded for its idempotency key", r->rpc->name);
    if (r->srv->cfg.test_drop_keyed_answers > 0) {
        r->srv->cfg.test_drop_keyed_answers--;
        conn_close(r->conn, "test_drop_keyed_answers: the recorded answer of a keyed write dropped");
    }
    req_reply_recorded(r, resp);
    kehu__v1__response__free_unpacked(resp, NULL);
}

static void claimed(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (!req_db_ok(r, res))
        return;
    if (db_get_i64(res, 0, 0, 0) == 1) { /* ours: do it */
        r->idem_user = r->conn->who.user_id;
        r->rpc->handler(r);
        return;
    }
    if (db_get(res, 0, 0, 1) && db_get_i64(res, 0, 0, 1) != (int64_t)r->msg->op_case) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "idempotency_key",
                 "this idempotency key was used for another kind of request: use a new key for each write");
        return;
    }
    const char *hex = db_get(res, 0, 0, 2);
    if (hex) {
        replay(r, hex);
        return;
    }
    int64_t age = db_get(res, 0, 0, 3) ? db_get_i64(res, 0, 0, 3) : 0;
    if (age <= 2 * (int64_t)r->srv->cfg.db_timeout)
        req_fail(r, KEHU__V1__CODE__CONFLICT, "idempotency_key",
                 "the request with this idempotency key is still in progress: ask again in a moment");
    else
        req_fail(r, KEHU__V1__CODE__CONFLICT, "idempotency_key",
                 "the request with this idempotency key was begun but kehud stopped before answering it: check"
                 " whether it was done before repeating it under a new key");
}

void idem_begin(struct req *r)
{
    if (strlen(r->msg->idempotency_key) > IDEM_KEY_MAX) {
        req_fail(r, KEHU__V1__CODE__INVALID_ARGUMENT, "idempotency_key", "an idempotency key has at most %d characters",
                 IDEM_KEY_MAX);
        return;
    }
    char user[24], op[16];
    snprintf(user, sizeof user, "%lld", (long long)r->conn->who.user_id);
    snprintf(op, sizeof op, "%d", (int)r->msg->op_case);
    const char *p[] = { user, r->msg->idempotency_key, op };
    db_query(r->srv->db, &claim_stmt, 3, p, claimed, r);
}

/* The answer is recorded (or the key let go): now it goes out. */
static void recorded(const struct db_result *res, void *arg)
{
    struct req *r = arg;
    if (res->outcome != DB_OK)
        log_warn(r->conn->id, r->id, "an idempotency key's answer was not recorded: %s",
                 res->message ? res->message : "");
    r->idem_user = 0;
    if (res->outcome == DB_OK && r->srv->cfg.test_drop_keyed_answers > 0 && r->status.code == KEHU__V1__CODE__OK) {
        /* test_drop_keyed_answers: the write is done and recorded, its answer is lost with the connection */
        r->srv->cfg.test_drop_keyed_answers--;
        conn_close(r->conn, "test_drop_keyed_answers: the answer of a keyed write dropped");
    }
    req_reply(r);
}

void idem_finish(struct req *r)
{
    char user[24];
    snprintf(user, sizeof user, "%lld", (long long)r->idem_user);
    r->resp.status = &r->status;
    Kehu__V1__Code code = r->status.code;
    size_t n = kehu__v1__response__get_packed_size(&r->resp);
    if (code == KEHU__V1__CODE__UNAVAILABLE || code == KEHU__V1__CODE__INTERNAL || n > IDEM_RESPONSE_MAX) {
        /* nothing was done (or the answer is too big to keep): a repeat runs again */
        const char *p[] = { user, r->msg->idempotency_key };
        db_query(r->srv->db, &release_stmt, 2, p, recorded, r);
        return;
    }
    uint8_t *buf = xmalloc(n ? n : 1);
    kehu__v1__response__pack(&r->resp, buf);
    static const char digits[] = "0123456789abcdef";
    char *hex = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[buf[i] >> 4];
        hex[2 * i + 1] = digits[buf[i] & 15];
    }
    hex[2 * n] = 0;
    const char *p[] = { user, r->msg->idempotency_key, hex };
    db_query(r->srv->db, &record_stmt, 3, p, recorded, r);
    free(hex);
    free(buf);
}
