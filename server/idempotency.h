/* Idempotency keys (Request.idempotency_key, sql/0029_idempotency.sql): a
 * write sent again with the same key by the same user within 24 hours is
 * answered with the answer recorded the first time, not done twice. */
#ifndef KEHU_IDEMPOTENCY_H
#define KEHU_IDEMPOTENCY_H

struct req;

/* Whether the request carries a key that applies to it (a logged-in
 * user's request that is not a session, subscription or stream step). */
int idem_wanted(const struct req *r);
/* Claims the key, then runs the handler; or answers with the recorded
 * answer, or CONFLICT while the first request with the key still runs. */
void idem_begin(struct req *r);
/* Called by req_reply for a claimed request: records the answer (or lets
 * the key go when nothing was done: UNAVAILABLE, INTERNAL), then answers
 * (req_reply again), so that a repeat never finds the key without its
 * answer once the client had it. */
void idem_finish(struct req *r);

#endif
