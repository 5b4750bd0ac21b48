/* Command-line values every command parses the same way: whole numbers, ids,
 * amounts and dates (cli.h). */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int cli_no_options(struct cli *cli, int argc, char **argv, int min, int max)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    return cli_args(cli, argc, argv, min, max);
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

/* ---- Enumerations ---------------------------------------------------------------------------- */

/* What a value of the enum is called in an error ("unknown role 'x'"). */
static const struct {
    const ProtobufCEnumDescriptor *d;
    const char *noun;
} enum_nouns[] = {
    { &kehu__v1__role__descriptor, N_("role") },
    { &kehu__v1__unit_kind__descriptor, N_("unit kind") },
};

/* A value's name as the command line spells it: the proto name in lower
 * case (BRANCH_MANAGER: branch_manager). */
static int enum_name_is(const char *proto_name, const char *s)
{
    for (; *proto_name && *s; proto_name++, s++)
        if ((*proto_name >= 'A' && *proto_name <= 'Z' ? *proto_name - 'A' + 'a' : *proto_name) != *s)
            return 0;
    return !*proto_name && !*s;
}

int cli_parse_enum(struct cli *cli, const char *what, const char *s, const ProtobufCEnumDescriptor *d, int *out)
{
    for (unsigned i = 0; i < d->n_values; i++)
        if (d->values[i].value != 0 && enum_name_is(d->values[i].name, s)) {
            *out = d->values[i].value;
            return 0;
        }
    /* "use a, b or c": every value but the unspecified 0, in number order */
    char list[512] = "", name[64];
    size_t len = 0, left = 0;
    for (unsigned i = 0; i < d->n_values; i++)
        left += d->values[i].value != 0;
    for (unsigned i = 0; i < d->n_values && len < sizeof list; i++) {
        if (d->values[i].value == 0)
            continue;
        size_t k = 0;
        for (const char *c = d->values[i].name; *c && k + 1 < sizeof name; c++)
            name[k++] = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
        name[k] = 0;
        const char *sep = len == 0 ? "" : left == 1 ? C_("list", " or ") : C_("list", ", ");
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", sep, name);
        left--;
    }
    const char *noun = N_("value");
    for (size_t i = 0; i < sizeof enum_nouns / sizeof enum_nouns[0]; i++)
        if (enum_nouns[i].d == d)
            noun = enum_nouns[i].noun;
    return cli_usage_error(cli, "%s: unknown %s '%s': use %s", what, kehu_tr(noun), s, list);
}

/* ---- Options that are request fields (cli_flags) ---------------------------------------------- */

enum { FLAG_BASE = 0x5000 };

/* A time given on the command line: YYYY-MM-DD (midnight UTC),
 * YYYY-MM-DDTHH:MM[:SS][Z] (UTC), or a span back from now: 30s, 15m, 2h, 7d.
 * Returns 0 with *ms, or -1. (CLI_FLAG_TIME) */
static int parse_time(const char *s, int64_t *ms)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end != s && *s != '-' && end[0] && !end[1] && strchr("smhd", end[0]) && (end - s) < 8) {
        int64_t unit = end[0] == 's' ? 1000 : end[0] == 'm' ? 60000 : end[0] == 'h' ? 3600000 : 86400000;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t)n * unit;
        return 0;
    }
    struct tm tm = { 0 };
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3)
        return -1;
    const char *rest = s + used;
    if (*rest == 'T' || *rest == ' ') {
        int u2 = 0;
        if (sscanf(rest + 1, "%2d:%2d%n", &h, &mi, &u2) != 2)
            return -1;
        rest += 1 + u2;
        if (*rest == ':') {
            int u3 = 0;
            if (sscanf(rest + 1, "%2d%n", &sec, &u3) != 1)
                return -1;
            rest += 1 + u3;
        }
        if (*rest == 'Z')
            rest++;
    }
    if (*rest || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* A switch that sets no field (field ""): the command reads it from the words. */
#define NO_FIELD(f) ((f)->field && !*(f)->field)

static const ProtobufCFieldDescriptor *flag_field(const ProtobufCMessageDescriptor *d, const struct cli_flag *f)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, f->field ? f->field : f->name);
    if (!fd)
        abort(); /* a table that names a field the message lacks: a bug any test of the command finds */
    return fd;
}

static int set_flag(struct cli *cli, const struct cli_flag *f, const ProtobufCMessageDescriptor *d, void *m,
                    const char *arg)
{
    const ProtobufCFieldDescriptor *fd = flag_field(d, f);
    char flag[48];
    int rc;
    int64_t v;
    snprintf(flag, sizeof flag, "--%s", f->name);
    if (arg && f->check && (rc = f->check(cli, flag, arg)))
        return rc;
    char *p = (char *)m + fd->offset;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (f->marks & CLI_FLAG_DUE)
            return cli_parse_due(cli, flag, arg, (char **)p);
        *(const char **)p = arg;
        return 0;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = 1; return 0;
    case PROTOBUF_C_TYPE_INT64:
        if ((f->marks & CLI_FLAG_TIME) && parse_time(arg, (int64_t *)p) < 0)
            return cli_usage_error(cli, "%s: '%s' is not YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or a span back from now "
                                        "such as 15m, 2h, 7d",
                                   flag, arg);
        if (f->marks & CLI_FLAG_TIME)
            return 0;
        if (strlen(fd->name) > 6 && strcmp(fd->name + strlen(fd->name) - 6, "_minor") == 0)
            return cli_parse_amount(cli, flag, arg, (int64_t *)p); /* money in fen */
        /* fall through */
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_UINT32:
        if ((rc = cli_parse_int(cli, flag, arg, f->min || f->max ? f->min : 1, f->min || f->max ? f->max : INT64_MAX,
                                &v)))
            return rc;
        if (fd->type == PROTOBUF_C_TYPE_INT64)
            *(int64_t *)p = v;
        else if (fd->type == PROTOBUF_C_TYPE_INT32)
            *(int32_t *)p = (int32_t)v;
        else
            *(uint32_t *)p = (uint32_t)v;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        int e;
        if ((rc = cli_parse_enum(cli, flag, arg, fd->descriptor, &e)))
            return rc;
        *(int *)p = e; /* protobuf-c's enums are int-sized */
        return 0;
    }
    default: abort(); /* a field type no flag sets */
    }
}

int cli_flags(struct cli *cli, int argc, char **argv, const ProtobufCMessageDescriptor *d, const struct cli_flag *flags,
              void *m, struct cli_paging *pg, struct cmd_words *ws)
{
    struct option opts[32];
    size_t n = 0;
    for (const struct cli_flag *f = flags; f && f->name; f++, n++) {
        const ProtobufCFieldDescriptor *fd = NO_FIELD(f) ? NULL : flag_field(d, f);
        int has_arg = fd ? fd->type != PROTOBUF_C_TYPE_BOOL : (f->marks & CLI_FLAG_VALUE) != 0;
        opts[n] = (struct option){ f->name, has_arg ? required_argument : no_argument, NULL, FLAG_BASE + (int)n };
    }
    if (pg) {
        opts[n++] = (struct option){ "limit", required_argument, NULL, CLI_O_LIMIT };
        opts[n++] = (struct option){ "after", required_argument, NULL, CLI_O_AFTER };
        opts[n++] = (struct option){ "all", no_argument, NULL, CLI_O_ALL };
    }
    opts[n] = (struct option){ NULL, 0, NULL, 0 };
    const char *given[32] = { 0 };
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (pg && (rc = cli_page_option(cli, c, optarg, pg->max ? pg->max : 1000, pg)) >= 0) {
            if (rc)
                return rc;
            continue;
        }
        if (c < FLAG_BASE || c >= FLAG_BASE + 32 || !opts[c - FLAG_BASE].name)
            return cli->opt_rc;
        const struct cli_flag *f = &flags[c - FLAG_BASE];
        if (!NO_FIELD(f) && (rc = set_flag(cli, f, d, m, opts[c - FLAG_BASE].has_arg ? optarg : NULL)))
            return rc;
        const char *word = optarg;
        if (f->marks & CLI_FLAG_DUE) /* the day it named ("tomorrow" is another day tomorrow) */
            word = *(const char **)((char *)m + flag_field(d, f)->offset);
        given[c - FLAG_BASE] = opts[c - FLAG_BASE].has_arg ? word : "";
    }
    for (size_t i = 0; flags && flags[i].name; i++)
        if ((flags[i].marks & CLI_FLAG_REQUIRED) && !given[i])
            return cli_usage_error(cli, "--%s is required", flags[i].name);
    if (pg) {
        const ProtobufCFieldDescriptor *lim = protobuf_c_message_descriptor_get_field_by_name(d, "limit");
        const ProtobufCFieldDescriptor *aft = protobuf_c_message_descriptor_get_field_by_name(d, "after");
        if (lim)
            *(uint32_t *)((char *)m + lim->offset) = pg->limit;
        if (aft)
            *(const char **)((char *)m + aft->offset) = pg->after ? pg->after : "";
    }
    /* the words that repeat the command: each flag given (a value when not empty), then --limit N */
    for (size_t i = 0; ws && flags && flags[i].name; i++) {
        if (!given[i] || (flags[i].marks & CLI_FLAG_NO_REPEAT) ||
            (opts[i].has_arg && !*given[i] && !NO_FIELD(&flags[i])) || ws->n + 2 > 38)
            continue;
        static char names[32][48]; /* "--NAME" */
        snprintf(names[i], sizeof names[i], "--%s", flags[i].name);
        ws->w[ws->n++] = names[i];
        if (opts[i].has_arg)
            ws->w[ws->n++] = given[i];
    }
    if (ws && pg && pg->limit_arg)
        ws->w[ws->n++] = "--limit", ws->w[ws->n++] = pg->limit_arg;
    return CLI_OK;
}

/* ---- A downloaded file put in place -------------------------------------------------------------- */

int cli_flag_given(const struct cmd_words *ws, const char *flag)
{
    return cli_flag_value(ws, flag) != NULL;
}

const char *cli_flag_value(const struct cmd_words *ws, const char *flag)
{
    for (size_t i = 0; i < ws->n; i++)
        if (strcmp(ws->w[i], flag) == 0)
            return i + 1 < ws->n ? ws->w[i + 1] : "";
    return NULL;
}

int cli_place_file(struct cli *cli, const char *tmp, const char *out, int force, int output_flag)
{
    if (force) {
        if (rename(tmp, out) == 0)
            return CLI_OK;
    } else {
        if (link(tmp, out) == 0) {
            unlink(tmp);
            return CLI_OK;
        }
        if (errno == EEXIST && output_flag)
            return cli_error(cli, CLI_USAGE, "%s exists: give --force to overwrite it, or --output FILE", out);
        if (errno == EEXIST)
            return cli_error(cli, CLI_USAGE, "%s exists: give --force to overwrite it", out);
        struct stat st; /* a file system without hard links */
        if ((errno == EPERM || errno == ENOTSUP || errno == EXDEV || errno == EMLINK) && lstat(out, &st) < 0 &&
            errno == ENOENT && rename(tmp, out) == 0)
            return CLI_OK;
    }
    return cli_error(cli, CLI_REFUSED, "cannot create %s: %s", out, strerror(errno));
}

/* ---- A file being written, and its size ------------------------------------------------------------ */

char cli_part_path[4096];

static void unlink_part(int sig)
{
    if (cli_part_path[0])
        unlink(cli_part_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_part_guard(int on)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
    if (!on)
        cli_part_path[0] = 0;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on ? unlink_part : SIG_DFL);
}

int cli_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void cli_human_size(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
    if (n < 1024) {
        snprintf(buf, len, "%" PRIu64 " B", n);
        return;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
}
