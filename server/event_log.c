#include "event_log.h"

#include <sodium.h>
#include <stdlib.h>

#include "util.h"

struct event_log {
    uint64_t stream;
    uint64_t last;                 /* the newest seq given */
    uint64_t gap;                  /* announcements may be missing before this seq */
    char *kept[EVENT_LOG_KEPT];    /* seq s at s % EVENT_LOG_KEPT */
};

struct event_log *event_log_new(void)
{
    struct event_log *l = xcalloc(1, sizeof *l);
    do /* random, so that another run's (or another kehud's) seqs are never taken for this one's */
        randombytes_buf(&l->stream, sizeof l->stream);
    while (l->stream == 0);
    l->stream >>= 11; /* exact in a JSON number */
    if (l->stream == 0)
        l->stream = 1;
    return l;
}

void event_log_free(struct event_log *l)
{
    if (!l)
        return;
    for (int i = 0; i < EVENT_LOG_KEPT; i++)
        free(l->kept[i]);
    free(l);
}

uint64_t event_log_add(struct event_log *l, const char *payload)
{
    uint64_t seq = ++l->last;
    char **slot = &l->kept[seq % EVENT_LOG_KEPT];
    free(*slot);
    *slot = xstrdup(payload);
    return seq;
}

uint64_t event_log_gap(struct event_log *l)
{
    /* a seq of its own, the one the watches told of it carry: a resumption
     * from it has missed nothing, one from before it has */
    l->gap = ++l->last;
    char **slot = &l->kept[l->gap % EVENT_LOG_KEPT];
    free(*slot);
    *slot = NULL;
    return l->gap;
}

uint64_t event_log_stream(const struct event_log *l)
{
    return l->stream;
}

uint64_t event_log_last(const struct event_log *l)
{
    return l->last;
}

int event_log_since(const struct event_log *l, uint64_t stream, uint64_t since,
                    void (*fn)(const char *payload, uint64_t seq, void *arg), void *arg)
{
    if (stream != l->stream || since > l->last)
        return -1;
    if (l->last - since > EVENT_LOG_KEPT)
        return -1; /* the oldest of those missed were let go */
    if (since < l->gap)
        return -1;
    for (uint64_t s = since + 1; s <= l->last; s++)
        fn(l->kept[s % EVENT_LOG_KEPT], s, arg);
    return 0;
}
