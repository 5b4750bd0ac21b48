/* Requests that never block the screen: everything is pipelined through
 * kehu_send and answered from the loop. A lost connection shows "offline";
 * the loop reconnects with exponential backoff and jitter, resumes the
 * session, subscribes again and reloads every screen on the stack. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "tui.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 15000

static void subscribed(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    (void)resp;
    struct app *a = arg;
    if (st->code != KEHU__V1__CODE__OK && st->code != KEHU_TRANSPORT)
        tui_say(a, _("live updates unavailable: %s"), st->message);
}

static void subscribe(struct app *a)
{
    /* everything under the user's unit that they may read (kehud filters) */
    Kehu__V1__Subscribe m = KEHU__V1__SUBSCRIBE__INIT;
    char unit[32];
    snprintf(unit, sizeof unit, "%lld", (long long)a->unit_id);
    m.scope_case = KEHU__V1__SUBSCRIBE__SCOPE_UNIT;
    m.unit = unit;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &m;
    tui_send(a, &req, subscribed, a);
}

void tui_net_lost(struct app *a, const char *why)
{
    if (!a->online)
        return;
    a->online = 0;
    a->backoff_ms = BACKOFF_MIN_MS;
    a->retry_at_ms = tui_now_ms() + a->backoff_ms;
    tui_say(a, _("offline: %s"), why);
    a->dirty = 1;
}

/* Called once the connection is back (and at start): live updates and fresh data. */
static void back_online(struct app *a)
{
    a->online = 1;
    a->backoff_ms = BACKOFF_MIN_MS;
    subscribe(a);
    for (int i = 0; i < a->depth; i++)
        if (a->stack[i]->reload)
            a->stack[i]->reload(a->stack[i], a);
    a->dirty = 1;
}

static void try_reconnect(struct app *a)
{
    struct kehu_status st;
    if (kehu_reconnect(a->c, &st) == 0) {
        tui_say(a, _("back online"));
        back_online(a);
        return;
    }
    if (st.code == KEHU__V1__CODE__UNAUTHENTICATED) {
        /* the session ended (expired, revoked): nothing to resume */
        tui_say(a, _("the session ended: %s — quit and log in again"), st.message);
        a->retry_at_ms = INT64_MAX;
        return;
    }
    /* exponential backoff with jitter: between half and all of the wait */
    int wait = a->backoff_ms / 2 + rand() % (a->backoff_ms / 2 + 1);
    a->retry_at_ms = tui_now_ms() + wait;
    a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
    tui_say(a, _("offline: %s (retrying in %d s)"), st.message, (wait + 999) / 1000);
}

void tui_send(struct app *a, const Kehu__V1__Request *req, kehu_cb cb, void *arg)
{
    struct kehu_status st;
    if (!a->online || kehu_send(a->c, req, cb, arg, NULL, &st) < 0) {
        if (a->online)
            tui_net_lost(a, st.message);
        memset(&st, 0, sizeof st);
        st.code = KEHU_TRANSPORT;
        snprintf(st.message, sizeof st.message, "%s", _("offline"));
        cb(NULL, &st, arg);
    }
}

void tui_net_turn(struct app *a)
{
    if (!a->online) {
        if (tui_now_ms() >= a->retry_at_ms)
            try_reconnect(a);
        return;
    }
    if (kehu_run(a->c, 0) < 0) {
        tui_net_lost(a, _("connection lost"));
        return;
    }
    struct kehu_status st;
    Kehu__V1__Event *ev;
    while ((ev = kehu_next_event(a->c, 0, &st)) != NULL) {
            for (int i = 0; i < a->depth; i++)
            if (a->stack[i]->event)
                a->stack[i]->event(a->stack[i], a, ev);
        kehu_event_free(ev);
        a->dirty = 1;
    }
    if (strcmp(st.message, "timeout") != 0)
        tui_net_lost(a, st.message);
}

void tui_net_start(struct app *a)
{
    back_online(a);
}

struct ticket {
    struct app *a;
    uint64_t screen_id;
    int kind;
};

static void ticket_done(const Kehu__V1__Response *resp, const struct kehu_status *st, void *arg)
{
    struct ticket *t = arg;
    struct app *a = t->a;
    for (int i = 0; i < a->depth; i++) {
        struct screen *s = a->stack[i];
        if (s->id == t->screen_id && s->reply) {
            s->reply(s, a, t->kind, resp, st);
            a->dirty = 1;
            break;
        }
    }
    free(t);
}

void tui_ask(struct app *a, struct screen *s, int kind, const Kehu__V1__Request *req)
{
    struct ticket *t = malloc(sizeof *t);
    if (!t)
        return;
    t->a = a;
    t->screen_id = s->id;
    t->kind = kind;
    tui_send(a, req, ticket_done, t);
}
