/* One line per event on stderr: time, level, connection, request, message. */
#ifndef KEHU_LOG_H
#define KEHU_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out);
int log_enabled(enum log_level level);
/* conn and req are 0 when the event belongs to no connection/request. */
void log_msg(enum log_level level, uint64_t conn, uint64_t req, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(c, r, ...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, c, r, __VA_ARGS__); } while (0)
#define log_info(c, r, ...) log_msg(LOG_INFO, c, r, __VA_ARGS__)
#define log_warn(c, r, ...) log_msg(LOG_WARN, c, r, __VA_ARGS__)
#define log_error(c, r, ...) log_msg(LOG_ERROR, c, r, __VA_ARGS__)

#endif
