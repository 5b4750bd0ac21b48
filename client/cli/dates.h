/* Dates as people type them for the future: a calendar day YYYY-MM-DD, or
 * one counted from today: `today`, `tomorrow`, `+3d`, `+2w`, `next-monday`
 * ... `next-sunday` (the first such weekday after today: on a Monday,
 * next-monday is a week on). Pure arithmetic on the proleptic Gregorian
 * calendar; "today" is the caller's. */
#ifndef KEHU_CLI_DATES_H
#define KEHU_CLI_DATES_H

#include <stdint.h>

#define DATES_BUFSZ 11 /* "YYYY-MM-DD" and its NUL */
#define DATES_MAX_AHEAD 36600 /* +Nd / +Nw at most this many days (about a century) */

/* Days since 1970-01-01 of a calendar day, and back. */
int64_t dates_days(int y, int m, int d);
void dates_civil(int64_t days, int *y, int *m, int *d);

/* Resolves s against today (y, m, d) into out as YYYY-MM-DD. Returns 0, or
 * -1 when s is none of the forms above (or lands outside years 1-9999). */
int dates_resolve(const char *s, int y, int m, int d, char out[DATES_BUFSZ]);

#endif
