#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wire_check.h"

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
    min_level = level;
}

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

int log_enabled(enum log_level level)
{
    return level >= min_level;
}

/* What a log line shows of a byte sequence: printable text as it is;
 * control characters (C0, DEL, C1), bytes that are not UTF-8 and the
 * backslash escaped, so that nothing a client sent (a Hello's client string,
 * a username, a file name) can forge a line or drive the terminal that
 * reads the log. Appends to out[*n..cap-1), never cutting an escape. */
static void escape_into(char *out, size_t *n, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = 1; /* bytes of this character */
        if (*p >= 0xC2 && *p <= 0xF4) {
            k = *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
            for (size_t j = 1; j < k; j++)
                if ((p[j] & 0xC0) != 0x80) {
                    k = 0;
                    break;
                }
            if (k && !wire_utf8_valid(p, k))
                k = 0; /* overlong, a surrogate, past U+10FFFF */
            if (k == 2 && p[0] == 0xC2 && p[1] < 0xA0)
                k = 0; /* U+0080..U+009F, the C1 controls */
        } else if (*p >= 0x80 || *p < 0x20 || *p == 0x7f || *p == '\\') {
            k = 0;
        }
        if (k == 0) {
            char esc[5];
            size_t m = 2;
            esc[0] = '\\';
            if (*p == '\\')
                esc[1] = '\\';
            else if (*p == '\n')
                esc[1] = 'n';
            else if (*p == '\t')
                esc[1] = 't';
            else if (*p == '\r')
                esc[1] = 'r';
            else
                esc[1] = 'x', esc[2] = hex[*p >> 4], esc[3] = hex[*p & 15], m = 4;
            if (*n + m >= cap)
                return;
            memcpy(out + *n, esc, m);
            *n += m;
            p++;
            continue;
        }
        if (*n + k >= cap)
            return;
        memcpy(out + *n, p, k);
        *n += k;
        p += k;
    }
}

void log_msg(enum log_level level, uint64_t conn, uint64_t req, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[4096], msg[2048];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s conn=%llu req=%llu ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], (unsigned long long)conn, (unsigned long long)req);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the whole message is escaped, whatever argument brought the bytes:
     * one mechanism for every logged string */
    size_t len = n > 0 && (size_t)n < sizeof line ? (size_t)n : 0;
    escape_into(line, &len, sizeof line - 1, msg);
    /* one write per line so that lines from threads never interleave */
    line[len] = '\n';
    fwrite(line, 1, len + 1, stderr);
    fflush(stderr);
}
