/* The announcements this kehud heard, numbered (Event.seq within
 * Event.stream, one stream per run of kehud) and the last few thousand
 * kept, so that a client that lost its connection can subscribe again with
 * the last seq it saw and be sent what it missed (notify.c replays them
 * through the same checks as live events). */
#ifndef KEHU_EVENT_LOG_H
#define KEHU_EVENT_LOG_H

#include <stdint.h>

#define EVENT_LOG_KEPT 4096

struct event_log;

struct event_log *event_log_new(void);
void event_log_free(struct event_log *l);
/* Keeps a copy of payload; returns its seq (1, 2, ...). */
uint64_t event_log_add(struct event_log *l, const char *payload);
uint64_t event_log_stream(const struct event_log *l);
uint64_t event_log_last(const struct event_log *l);
/* Announcements may have been lost since the newest seq given (the LISTEN
 * was not in place): returns a seq for that moment; a resumption from
 * before it cannot be replayed. */
uint64_t event_log_gap(struct event_log *l);
/* Calls fn for each payload kept after seq since, oldest first; -1 (and
 * none) when stream is not this run's, some after since are no longer
 * kept, or a gap follows since. */
int event_log_since(const struct event_log *l, uint64_t stream, uint64_t since,
                    void (*fn)(const char *payload, uint64_t seq, void *arg), void *arg);

#endif
