#include "dates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t dates_days(int y, int m, int d)
{
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void dates_civil(int64_t days, int *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static const char *const weekdays[] = { "monday", "tuesday", "wednesday", "thursday",
                                        "friday", "saturday", "sunday" };

/* +N followed by d or w: N days. -1 when s is not that form. */
static int64_t ahead(const char *s)
{
    if (s[0] != '+' || s[1] < '0' || s[1] > '9')
        return -1;
    char *end;
    long n = strtol(s + 1, &end, 10);
    if (end - s > 7 || (*end != 'd' && *end != 'w') || end[1])
        return -1;
    int64_t days = *end == 'w' ? (int64_t)n * 7 : n;
    return days <= DATES_MAX_AHEAD ? days : -1;
}

int dates_resolve(const char *s, int y, int m, int d, char out[DATES_BUFSZ])
{
    int64_t today = dates_days(y, m, d), day = 0;
    int found = 1;
    if (out_date_parse(s, NULL, NULL, NULL) == 0) {
        snprintf(out, DATES_BUFSZ, "%s", s);
        return 0;
    }
    if (strcmp(s, "today") == 0) {
        day = today;
    } else if (strcmp(s, "tomorrow") == 0) {
        day = today + 1;
    } else if (s[0] == '+') {
        int64_t n = ahead(s);
        found = n >= 0;
        day = today + n;
    } else if (strncmp(s, "next-", 5) == 0) {
        /* 1970-01-01 was a Thursday: weekday 3 counting Monday as 0 */
        int64_t wd = ((today % 7) + 7 + 3) % 7;
        found = 0;
        for (int i = 0; i < 7 && !found; i++)
            if (strcmp(s + 5, weekdays[i]) == 0) {
                day = today + ((i - wd + 6) % 7) + 1;
                found = 1;
            }
    } else {
        found = 0;
    }
    if (!found)
        return -1;
    int yy, mm, dd;
    dates_civil(day, &yy, &mm, &dd);
    if (yy < 1 || yy > 9999)
        return -1;
    snprintf(out, DATES_BUFSZ, "%04d-%02d-%02d", yy, mm, dd);
    return 0;
}
