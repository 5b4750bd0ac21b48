/* Command-line values every command parses the same way: whole numbers, ids,
 * amounts and dates (cli.h). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dates.h"
#include "out.h"

int cli_parse_int(struct cli *cli, const char *what, const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v = 0;
    int ok = (s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && min < 0); /* no blanks, no '+' */
    if (ok) {
        errno = 0;
        v = strtoll(s, &end, 10);
        ok = !errno && !*end && v >= min && v <= max;
    }
    if (!ok) {
        if (min == 1 && max == INT64_MAX)
            return cli_usage_error(cli, "%s: expected a positive whole number, not '%s'", what, s);
        return cli_usage_error(cli, "%s: expected a whole number from %" PRId64 " to %" PRId64 ", not '%s'", what,
                               min, max, s);
    }
    *out = v;
    return 0;
}

int cli_check_date(struct cli *cli, const char *what, const char *s)
{
    if (out_date_parse(s, NULL, NULL, NULL) == 0)
        return 0;
    return cli_usage_error(cli, "%s: expected a date YYYY-MM-DD, not '%s'", what, s);
}

int cli_id_arg(struct cli *cli, int argc, char **argv, const char *what, int64_t *id)
{
    int rc = cli_args(cli, argc, argv, 1, 1);
    return rc ? rc : cli_parse_int(cli, what, argv[optind], 1, INT64_MAX, id);
}

int cli_parse_amount(struct cli *cli, const char *flag, const char *s, int64_t *minor)
{
    if (out_money_parse(s, minor) == 0)
        return 0;
    if (errno == ERANGE)
        return cli_usage_error(cli, "%s: amount out of range: '%s'", flag, s);
    return cli_usage_error(cli, "%s: expected an amount like 1234.50, not '%s'", flag, s);
}

/* Resolved dates live here until the process ends: a command keeps the
 * pointers in its request. */
#define DUE_SLOTS 8
static char due_slots[DUE_SLOTS][DATES_BUFSZ];
static int due_next;

int cli_parse_due(struct cli *cli, const char *what, const char *s, char **out)
{
    time_t now = time(NULL);
    struct tm tm;
    char *slot = due_slots[due_next % DUE_SLOTS];
    if (!localtime_r(&now, &tm) || dates_resolve(s, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, slot) < 0)
        return cli_usage_error(cli, "%s: expected a date YYYY-MM-DD, today, tomorrow, +3d, +2w or next-monday "
                                    "(any weekday), not '%s'",
                               what, s);
    due_next++;
    *out = slot;
    return 0;
}
