/* kehu: the command line client. Global flags, the command table and its
 * dispatch, and the helpers every command shares (cli.h). */
#include "cli.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli_config.h"
#include "kehu_reconnect.h"
#include "out.h"
#include "pager.h"
#include "store.h"

#ifndef KEHU_VERSION
#define KEHU_VERSION "0.0.0"
#endif

#define MAX_OPTS 32
#define HELP_COLUMN 34 /* longer usage lines put their summary below */

static int run_help(struct cli *cli, int argc, char **argv);

static const struct cli_cmd main_table[] = {
    { "help", "[COMMAND]", N_("all commands, or one command's usage"), 0, run_help },
    { NULL, NULL, NULL, 0, NULL },
};

/* Every command, in the order `kehu --help` lists them. */
static const struct cli_cmd *const tables[] = {
    cmd_session_table,
    cmd_org_table,
    cmd_customer_table,
    cmd_contact_table,
    cmd_payment_table,
    cmd_watch_table,
    cmd_followup_table,
    cmd_grade_table,
    cmd_review_table,
    cmd_audit_table,
    cmd_assign_table,
    cmd_pool_table,
    cmd_case_table,
    cmd_doc_table,
    cmd_import_table,
    cmd_access_table,
    cmd_admin_table,
    main_table,
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* ---- Global options ---------------------------------------------------------- */

enum {
    OPT_SERVER = 0x1000,
    OPT_JSON,
    OPT_CSV,
    OPT_TIMEOUT,
    OPT_HELP,
    OPT_VERSION,
    OPT_TLS,
    OPT_NO_TLS,
    OPT_CA_FILE,
    OPT_FINGERPRINT,
    OPT_ACCEPT_NEW,
    OPT_CERT,
    OPT_KEY,
};

/* The TLS flags, in both parsers' tables. */
#define TLS_OPTS                                                                                     \
    { "tls", no_argument, NULL, OPT_TLS }, { "no-tls", no_argument, NULL, OPT_NO_TLS },              \
    { "ca-file", required_argument, NULL, OPT_CA_FILE },                                             \
    { "fingerprint", required_argument, NULL, OPT_FINGERPRINT },                                     \
    { "accept-new-server", no_argument, NULL, OPT_ACCEPT_NEW },                                      \
    { "cert", required_argument, NULL, OPT_CERT }, { "key", required_argument, NULL, OPT_KEY }

/* the options every command takes, after its words too (the TLS ones among them) */
#define GLOBAL_OPTS                                                                                       \
    { "server", required_argument, NULL, OPT_SERVER }, { "json", no_argument, NULL, OPT_JSON },         \
        { "csv", no_argument, NULL, OPT_CSV }, { "timeout", required_argument, NULL, OPT_TIMEOUT },     \
        { "help", no_argument, NULL, OPT_HELP }, TLS_OPTS

static const struct option global_opts[] = { GLOBAL_OPTS, { NULL, 0, NULL, 0 } };
#define NGLOBAL (sizeof global_opts / sizeof global_opts[0] - 1)

static const char global_usage[] =
    N_("Global options (before or after the command words):\n"
    "  --server HOST:PORT   the kehud to use (KEHU_SERVER, default %s)\n"
    "  --json               one JSON document on stdout\n"
    "  --csv                lists as CSV on stdout\n"
    "  --timeout SECONDS    how long to wait for the server (default 30)\n"
    "  --tls, --no-tls      TLS or not (default: TLS unless the server is on this machine; KEHU_TLS=1|0)\n"
    "  --ca-file FILE       trust the server if its certificate verifies against these CAs (KEHU_CA_FILE)\n"
    "  --fingerprint SHA256 trust the server if its certificate has this SHA-256 (KEHU_FINGERPRINT)\n"
    "  --accept-new-server  trust a server not yet in known_servers without asking, and remember it\n"
    "  --cert FILE, --key FILE  a client certificate for mutual TLS (KEHU_CERT, KEHU_KEY)\n"
    "  --help               usage\n");

static void print_cmd_usage(FILE *f, const struct cli_cmd *cmd)
{
    fprintf(f, _("usage: kehu %s%s%s\n"), cmd->words, *cmd->usage ? " " : "", cmd->usage);
}

static void print_help(FILE *f)
{
    size_t width = 0;
    fputs(_("usage: kehu [--server HOST:PORT] [--json | --csv] [--timeout SECONDS] COMMAND ...\n"
            "       kehu --version\n\nCommands:\n"),
          f);
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct cli_cmd *c = tables[t]; c->words; c++) {
            size_t w = strlen(c->words) + 1 + strlen(c->usage);
            if (w > width)
                width = w;
        }
    if (width > HELP_COLUMN)
        width = HELP_COLUMN;
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct cli_cmd *c = tables[t]; c->words; c++) {
            char line[256];
            snprintf(line, sizeof line, "%s%s%s", c->words, *c->usage ? " " : "", c->usage);
            if (strlen(line) > width)
                fprintf(f, "  %s\n  %*s  %s\n", line, (int)width, "", _(c->summary));
            else
                fprintf(f, "  %-*s  %s\n", (int)width, line, _(c->summary));
        }
    fputs("\n", f);
    fprintf(f, _(global_usage), KEHU_DEFAULT_SERVER);
    fputs(_("\nDates to come (--due, --next, --until): YYYY-MM-DD, today, tomorrow, +3d, +2w,\n"
            "next-monday ... next-sunday (counted from today where kehu runs).\n"),
          f);
    fputs(_("\nConfiguration: $XDG_CONFIG_HOME/kehu/config (default ~/.config/kehu/config),\n"
          "optional: lines `server = HOST:PORT`, `format = json|csv|table`,\n"
          "`timeout = SECONDS`, `fingerprint = ...` (the server's TLS certificate);\n"
          "the environment and the flags take precedence over it.\n"),
          f);
    fputs(_("\nEnvironment: KEHU_SERVER, KEHU_USER (login), KEHU_PASSWORD (login without a\n"
          "terminal), KEHU_NEW_PASSWORD (user add without a terminal), XDG_CONFIG_HOME\n"
          "(sessions are kept in $XDG_CONFIG_HOME/kehu/sessions).\n"
          "\nExit codes: 0 ok, 1 refused by the server, 2 usage error, 3 cannot connect,\n"
          "4 partly done.\n"),
          f);
}

static void print_cmd_help(FILE *f, const struct cli_cmd *cmd)
{
    print_cmd_usage(f, cmd);
    fprintf(f, "\n%s%s\n\n", _(cmd->summary),
            cmd->needs_session ? _(" (needs a session: kehu login).") : _("."));
    fprintf(f, _(global_usage), KEHU_DEFAULT_SERVER);
}

/* The usage lines of every command whose first word is word (f NULL: only
 * counts them). */
static int print_group(FILE *f, const char *word)
{
    int n = 0;
    size_t len = strlen(word);
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct cli_cmd *c = tables[t]; c->words; c++)
            if (strncmp(c->words, word, len) == 0 && (c->words[len] == ' ' || !c->words[len])) {
                if (f)
                    print_cmd_usage(f, c);
                n++;
            }
    return n;
}

static int set_timeout(struct cli *cli, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 86400)
        return -1;
    cli->timeout_ms = v * 1000 < 1 ? 1 : (int)(v * 1000);
    if (cli->client)
        kehu_set_timeout(cli->client, cli->timeout_ms);
    return 0;
}

/* HOST:PORT or [IPV6]:PORT, with no white space (the session store keys
 * its lines by it). */
static int set_server(struct cli *cli, const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strlen(s) >= sizeof cli->server || strpbrk(s, " \t\r\n"))
        return -1;
    if (s[0] == '[' ? colon[-1] != ']' || colon - s < 3 : memchr(s, ':', (size_t)(colon - s)) != NULL)
        return -1;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || colon[1] == '-' || colon[1] == '+' || port == 0 || port > 65535)
        return -1;
    snprintf(cli->server, sizeof cli->server, "%s", s);
    return 0;
}

/* With --json (anywhere on the command line: a usage error may come before
 * getopt reached it), the {"error": {"code": "USAGE", ...}} document of a
 * usage error on stdout; the message is the one on stderr without "kehu: ". */
static void usage_json(const struct cli *cli, const char *msg)
{
    if (!cli->json && !cli->json_seen)
        return;
    char usage[300] = "";
    if (cli->cmd)
        snprintf(usage, sizeof usage, "kehu %s%s%s", cli->cmd->words, *cli->cmd->usage ? " " : "", cli->cmd->usage);
    struct json_w w;
    json_init(&w, stdout, 1);
    json_begin_object(&w);
    json_key(&w, "error");
    json_begin_object(&w);
    json_kstr(&w, "code", "USAGE");
    json_kstr(&w, "message", msg);
    if (*usage)
        json_kstr(&w, "usage", usage);
    json_end_object(&w);
    json_end_object(&w);
    fflush(stdout);
}

/* Prints "kehu: [WORDS: ]message" and the usage line; returns CLI_USAGE. */
static int vusage_error(struct cli *cli, const char *fmt, va_list ap)
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s%s", cli->cmd ? cli->cmd->words : "", cli->cmd ? ": " : "");
    vsnprintf(msg + n, sizeof msg - (size_t)n, _(fmt), ap);
    fflush(stdout);
    fprintf(stderr, "kehu: %s\n", msg);
    if (cli->cmd)
        print_cmd_usage(stderr, cli->cmd);
    else
        fputs(_("usage: kehu [--server HOST:PORT] [--json | --csv] [--timeout SECONDS] COMMAND ...\n"
                "Run 'kehu help' for the list of commands.\n"),
              stderr);
    usage_json(cli, msg);
    return CLI_USAGE;
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vusage_error(cli, fmt, ap);
    va_end(ap);
    return rc;
}

int cli_error(struct cli *cli, int rc, const char *fmt, ...)
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s%s", cli->cmd ? cli->cmd->words : "", cli->cmd ? ": " : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, _(fmt), ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "kehu: %s\n", msg);
    if (rc == CLI_USAGE)
        usage_json(cli, msg);
    return rc;
}

/* Handles a global option seen by either parser. 0, or CLI_USAGE printed. */
static int global_opt(struct cli *cli, int c, const char *arg)
{
    switch (c) {
    case OPT_SERVER:
        if (set_server(cli, arg) < 0)
            return cli_usage_error(cli, "--server: expected HOST:PORT, not '%s'", arg);
        return 0;
    case OPT_TIMEOUT:
        if (set_timeout(cli, arg) < 0)
            return cli_usage_error(cli, "--timeout: expected a number of seconds (0 < SECONDS <= 86400), not '%s'",
                                   arg);
        return 0;
    case OPT_JSON: cli->json = 1; return 0;
    case OPT_CSV: cli->csv = 1; return 0;
    case OPT_TLS: cli->tls.mode = KEHU_TLS_ON; return 0;
    case OPT_NO_TLS: cli->tls.mode = KEHU_TLS_OFF; return 0;
    case OPT_CA_FILE: cli->tls.ca_file = arg; return 0;
    case OPT_FINGERPRINT: cli->tls.fingerprint = arg; return 0;
    case OPT_ACCEPT_NEW: cli->tls.accept_new = 1; return 0;
    case OPT_CERT: cli->tls.cert_file = arg; return 0;
    case OPT_KEY: cli->tls.key_file = arg; return 0;
    }
    return cli_usage_error(cli, "internal: unhandled option %d", c);
}

/* getopt's '?' and ':' as a usage error naming the option. */
static int bad_option(struct cli *cli, int c, char **argv)
{
    const char *opt = argv[optind - 1];
    if (c == ':')
        return cli_usage_error(cli, "option '%s' needs a value", opt);
    if (optopt && optopt < 0x100 && strncmp(opt, "--", 2) != 0)
        return cli_usage_error(cli, "unknown option '-%c'", optopt);
    if (optopt && strchr(opt, '='))
        return cli_usage_error(cli, "option '%.*s' takes no value", (int)(strchr(opt, '=') - opt), opt);
    return cli_usage_error(cli, "unknown option '%s'", opt);
}

int cli_getopt(struct cli *cli, int argc, char **argv, const struct option *opts)
{
    static char **cur_argv;
    static struct option merged[MAX_OPTS + NGLOBAL + 1];

    if (argv != cur_argv) {
        size_t n = 0;
        for (; opts && opts[n].name; n++)
            if (n == MAX_OPTS)
                abort(); /* a command with too many options: a programming error */
        if (n)
            memcpy(merged, opts, n * sizeof *opts);
        memcpy(merged + n, global_opts, (NGLOBAL + 1) * sizeof *global_opts);
        cur_argv = argv;
        optind = 0; /* full re-initialisation of GNU getopt (permute mode) */
        opterr = 0;
    }
    for (;;) {
        int c = getopt_long(argc, argv, ":h", merged, NULL);
        switch (c) {
        case -1:
            if (cli->json && cli->csv) {
                cli->opt_rc = cli_usage_error(cli, "--json and --csv cannot be combined");
                return '?';
            }
            return -1;
        case 'h':
        case OPT_HELP:
            print_cmd_help(stdout, cli->cmd);
            cli->opt_rc = CLI_OK;
            return '?';
        case OPT_SERVER:
        case OPT_JSON:
        case OPT_CSV:
        case OPT_TIMEOUT:
        case OPT_TLS:
        case OPT_NO_TLS:
        case OPT_CA_FILE:
        case OPT_FINGERPRINT:
        case OPT_ACCEPT_NEW:
        case OPT_CERT:
        case OPT_KEY:
            if ((cli->opt_rc = global_opt(cli, c, optarg)) != 0)
                return '?';
            continue;
        case '?':
        case ':':
            cli->opt_rc = bad_option(cli, c, argv);
            return '?';
        default:
            return c;
        }
    }
}

int cli_args(struct cli *cli, int argc, char **argv, int min, int max)
{
    int n = argc - optind;
    if (n > max)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind + max]);
    if (n < min)
        return cli_usage_error(cli, "missing argument");
    return 0;
}

int cli_field_values(struct cli *cli, int argc, char **argv, const char *form, int need_dot, const char *eg,
                     struct cli_field_values *out)
{
    memset(out, 0, sizeof *out);
    int n = argc - optind;
    if (n < 1)
        return eg ? cli_usage_error(cli, "give at least one %s (e.g. %s)", form, eg)
                  : cli_usage_error(cli, "give at least one %s", form);
    out->fvs = out_xcalloc((size_t)n, sizeof *out->fvs);
    out->set = out_xcalloc((size_t)n, sizeof *out->set);
    out->keys = out_xcalloc((size_t)n, sizeof *out->keys);
    out->n = (size_t)n;
    for (int i = 0; i < n; i++) {
        const char *arg = argv[optind + i];
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg || (need_dot && !memchr(arg, '.', (size_t)(eq - arg)))) {
            int rc = cli_usage_error(cli, "expected %s, not '%s'", form, arg);
            cli_field_values_free(out);
            return rc;
        }
        Kehu__V1__FieldValue *fv = &out->fvs[i];
        kehu__v1__field_value__init(fv);
        out->keys[i] = out_xmalloc((size_t)(eq - arg) + 1);
        memcpy(out->keys[i], arg, (size_t)(eq - arg));
        out->keys[i][eq - arg] = 0;
        fv->field = out->keys[i];
        fv->value = (char *)eq + 1;
        out->set[i] = fv;
    }
    return 0;
}

void cli_field_values_free(struct cli_field_values *fv)
{
    if (fv->keys)
        for (size_t i = 0; i < fv->n; i++)
            free(fv->keys[i]);
    free(fv->keys);
    free(fv->set);
    free(fv->fvs);
    memset(fv, 0, sizeof *fv);
}

/* ---- Talking to the server -------------------------------------------------------- */

/* First use of a server over TLS: its fingerprint, and whether to trust it. */
static int ask_new_server(const char *server, const char *fingerprint, void *arg)
{
    (void)arg;
    fflush(stdout);
    fprintf(stderr,
            "The kehud at %s is not known yet.\n"
            "Its certificate's SHA-256 fingerprint is\n  %s\n"
            "Check it with the server's administrator (scripts/up prints it).\n"
            "Trust this server and remember it in %s (yes/no)? ",
            server, fingerprint, kehu_known_servers_path());
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 0;
    return strncasecmp(line, "yes", 3) == 0 || ((line[0] == 'y' || line[0] == 'Y') && (line[1] == '\n' || !line[1]));
}

/* Resumes the session stored for cli->server on the connected client. */
static int resume_session(struct cli *cli, const char *token)
{
    struct kehu_status st;
    Kehu__V1__Session *s = NULL;
    int code = kehu_resume(cli->client, token, &s, &st);
    kehu_session_free(s);
    if (code == KEHU__V1__CODE__OK)
        return 0;
    /* expired or revoked: the token is of no use any more */
    if (code == KEHU__V1__CODE__UNAUTHENTICATED && store_del(cli->server) < 0)
        fprintf(stderr, _("kehu: cannot remove the stale session: %s\n"), store_error());
    return cli_fail_status(cli, &st);
}

int cli_connect(struct cli *cli)
{
    if (cli->client)
        return 0;
    char token[1024] = "";
    int need = cli->cmd && cli->cmd->needs_session;
    if (need) {
        char msg[600];
        int r = store_get(cli->server, token, sizeof token, cli->user, sizeof cli->user);
        if (r != 0) {
            if (r < 0)
                snprintf(msg, sizeof msg, _("cannot read the session for %s: %s"), cli->server, store_error());
            else
                snprintf(msg, sizeof msg, _("not logged in to %s: run kehu login"), cli->server);
            out_error(cli->json, kehu_code_name(KEHU__V1__CODE__UNAUTHENTICATED), msg, NULL);
            return CLI_REFUSED;
        }
    }
    struct kehu_status st;
    /* a server not known yet is asked about on a terminal, like ssh */
    if (isatty(STDIN_FILENO) && isatty(STDERR_FILENO))
        cli->tls.ask = ask_new_server;
    cli->client = kehu_connect_tls(cli->server, &cli->tls, cli->timeout_ms, &st);
    int rc = cli->client ? 0 : cli_fail_status(cli, &st);
    if (rc == 0 && need)
        rc = resume_session(cli, token);
    explicit_bzero(token, sizeof token);
    return rc;
}

/* How a request is repeated when its connection is lost before the answer. */
enum op_kind {
    OP_READ,  /* changes nothing: simply asked again */
    OP_WRITE, /* sent with an idempotency key, and repeated under the same key: done once */
    OP_ONCE,  /* never repeated: a session step, a stream step, or a write kehud keeps no key for */
};

static enum op_kind op_kind(int op)
{
    switch (op) {
    case KEHU__V1__REQUEST__OP_HELLO:
    case KEHU__V1__REQUEST__OP_PING:
    case KEHU__V1__REQUEST__OP_WHOAMI:
    case KEHU__V1__REQUEST__OP_ORG_LIST:
    case KEHU__V1__REQUEST__OP_USER_LIST:
    case KEHU__V1__REQUEST__OP_CUSTOMER_GET:
    case KEHU__V1__REQUEST__OP_CUSTOMER_LIST:
    case KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH:
    case KEHU__V1__REQUEST__OP_CUSTOMER_HISTORY:
    case KEHU__V1__REQUEST__OP_CONTACT_LIST:
    case KEHU__V1__REQUEST__OP_TXN_LIST:
    case KEHU__V1__REQUEST__OP_FOLLOWUP_DUE:
    case KEHU__V1__REQUEST__OP_FOLLOWUP_LIST:
    case KEHU__V1__REQUEST__OP_DOC_LIST:
    case KEHU__V1__REQUEST__OP_PAYMENT_LIST:
    case KEHU__V1__REQUEST__OP_ASSET_LIST:
    case KEHU__V1__REQUEST__OP_ARREARS_GET:
    case KEHU__V1__REQUEST__OP_GRADE_SHOW:
    case KEHU__V1__REQUEST__OP_GRADE_OVERRIDE_LIST:
    case KEHU__V1__REQUEST__OP_GRADE_POLICY_SHOW:
    case KEHU__V1__REQUEST__OP_CARE_TODAY:
    case KEHU__V1__REQUEST__OP_CHURN_LIST:
    case KEHU__V1__REQUEST__OP_REPORT_GET:
    case KEHU__V1__REQUEST__OP_PERM_SHOW:
    case KEHU__V1__REQUEST__OP_ACCESS_EXPLAIN:
    case KEHU__V1__REQUEST__OP_ADMIN_STATS:
    case KEHU__V1__REQUEST__OP_AUDIT_LIST:
    case KEHU__V1__REQUEST__OP_AUDIT_VERIFY:
    case KEHU__V1__REQUEST__OP_ASSIGN_HISTORY:
    case KEHU__V1__REQUEST__OP_ASSIGN_POLICY_SHOW:
    case KEHU__V1__REQUEST__OP_POOL_POOLS:
    case KEHU__V1__REQUEST__OP_POOL_LIST:
    case KEHU__V1__REQUEST__OP_POOL_EVENTS:
    case KEHU__V1__REQUEST__OP_CASE_GET:
    case KEHU__V1__REQUEST__OP_CASE_LIST:
    case KEHU__V1__REQUEST__OP_CALENDAR_SHOW:
    case KEHU__V1__REQUEST__OP_HOURS_SHOW:
    case KEHU__V1__REQUEST__OP_CASE_REPORT:
    case KEHU__V1__REQUEST__OP_SURVEY_LIST:
    case KEHU__V1__REQUEST__OP_REVIEW_SHOW:
    case KEHU__V1__REQUEST__OP_REVIEW_ITEMS:
    case KEHU__V1__REQUEST__OP_REVIEW_REPORT:
    case KEHU__V1__REQUEST__OP_VIP_LIST:
    case KEHU__V1__REQUEST__OP_WINBACK_LIST:
    case KEHU__V1__REQUEST__OP_CASE_SETTINGS_SHOW:
    case KEHU__V1__REQUEST__OP_QUALITY_ALERT_LIST:
        return OP_READ;
    case KEHU__V1__REQUEST__OP_LOGIN: /* session steps: the connection's state */
    case KEHU__V1__REQUEST__OP_RESUME:
    case KEHU__V1__REQUEST__OP_LOGOUT:
    case KEHU__V1__REQUEST__OP_SUBSCRIBE:
    case KEHU__V1__REQUEST__OP_IMPORT_BEGIN: /* streams: kehud keeps no idempotency key for them */
    case KEHU__V1__REQUEST__OP_IMPORT_CHUNK:
    case KEHU__V1__REQUEST__OP_EXPORT_PAGE:
    case KEHU__V1__REQUEST__OP_DOC_PUT:
    case KEHU__V1__REQUEST__OP_DOC_GET:
    case KEHU__V1__REQUEST__OP_ADMIN_BACKUP:
        return OP_ONCE;
    default:
        return OP_WRITE; /* anything else may change something: a key makes repeating it safe */
    }
}

/* How long, and how many times, the CLI tries to get a lost connection back
 * and repeat the request before giving up. */
#define CLI_RECONNECT_MS 15000
#define CLI_RETRIES 4

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The first "still in progress" CONFLICT for a key: the first try is still being done or recorded. */
static int in_progress(const Kehu__V1__Response *r, const struct kehu_status *st)
{
    return r && st->code == KEHU__V1__CODE__CONFLICT && strcmp(st->field, "idempotency_key") == 0 &&
           strstr(st->message, "in progress");
}

Kehu__V1__Response *cli_send(struct cli *cli, const Kehu__V1__Request *req, struct kehu_status *st)
{
    enum op_kind kind = op_kind((int)req->op_case);
    Kehu__V1__Request keyed = *req;
    char key[33];
    if (kind == OP_WRITE && (!keyed.idempotency_key || !*keyed.idempotency_key)) {
        kehu_idempotency_key(key);
        keyed.idempotency_key = key; /* the same key on every try: done once */
    }
    Kehu__V1__Response *r = kehu_call(cli->client, &keyed, st);
    if (r || st->code != KEHU_TRANSPORT || kind == OP_ONCE)
        return r;
    int64_t deadline = mono_ms() + CLI_RECONNECT_MS;
    struct kehu_backoff backoff = { .first_ms = 200, .max_ms = 4000 };
    for (int tries = 0; kehu_fd(cli->client) < 0; tries++) { /* (a timeout on a live connection is not repeated) */
        if (tries == CLI_RETRIES || mono_ms() >= deadline)
            break;
        if (tries == 0) {
            fflush(stdout);
            fprintf(stderr, _("kehu: the connection to %s was lost: reconnecting\n"), cli->server);
        }
        pause_ms(kehu_backoff_next_ms(&backoff));
        struct kehu_status why = *st;
        int64_t left = deadline - mono_ms();
        if (left < 1 || kehu_reconnect_patiently(cli->client, (int)left, NULL, NULL, st) != 0) {
            if (left < 1 || st->code == KEHU_TRANSPORT)
                *st = why;
            break; /* no connection in time, or the session cannot be resumed */
        }
        r = kehu_call(cli->client, &keyed, st);
        while (in_progress(r, st) && mono_ms() < deadline) {
            kehu_response_free(r);
            pause_ms(kehu_backoff_next_ms(&backoff));
            r = kehu_call(cli->client, &keyed, st);
        }
        if (r || st->code != KEHU_TRANSPORT)
            return r;
    }
    if (kind == OP_WRITE) { /* sent at least once, its answer never came */
        char why[sizeof st->message];
        snprintf(why, sizeof why, "%s", st->message);
        snprintf(st->message, sizeof st->message,
                 _("%s: the change was sent but its answer never came: it may or may not have been made (look "
                   "before doing it again)"),
                 why);
    }
    return NULL;
}

int cli_call(struct cli *cli, const Kehu__V1__Request *req, Kehu__V1__Response **resp)
{
    *resp = NULL;
    int rc = cli_connect(cli);
    if (rc)
        return rc;
    struct kehu_status st = { .code = KEHU_TRANSPORT };
    Kehu__V1__Response *r = cli_send(cli, req, &st);
    if (!r || st.code != KEHU__V1__CODE__OK) {
        if (!r && st.code == KEHU__V1__CODE__OK)
            st.code = KEHU_TRANSPORT;
        kehu_response_free(r);
        return cli_fail_status(cli, &st);
    }
    *resp = r;
    return 0;
}

void cli_request(Kehu__V1__Request *req, int op, void *m)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&kehu__v1__request__descriptor, (unsigned)op);
    kehu__v1__request__init(req);
    if (!fd)
        abort(); /* an op the proto lacks: a bug in the command table */
    *(uint32_t *)((char *)req + fd->quantifier_offset) = (uint32_t)op;
    *(void **)((char *)req + fd->offset) = m;
}

int cli_ask(struct cli *cli, int op, void *m, Kehu__V1__Response__ResultCase want, Kehu__V1__Response **resp)
{
    Kehu__V1__Request req;
    cli_request(&req, op, m);
    return cli_call_for(cli, &req, want, resp);
}

int cli_call_for(struct cli *cli, const Kehu__V1__Request *req, Kehu__V1__Response__ResultCase want,
                 Kehu__V1__Response **resp)
{
    int rc = cli_call(cli, req, resp);
    if (rc)
        return rc;
    if ((*resp)->result_case != want) {
        rc = cli_bad_reply(cli, *resp);
        *resp = NULL;
    }
    return rc;
}

/* ---- Dispatch ------------------------------------------------------------------------- */

/* How many of argv's words the command's words are (0: not a match). */
static int match_words(const struct cli_cmd *cmd, int argc, char **argv)
{
    const char *w = cmd->words;
    int i = 0;
    while (*w) {
        size_t len = strcspn(w, " ");
        if (i >= argc || strlen(argv[i]) != len || strncmp(argv[i], w, len) != 0)
            return 0;
        i++;
        w += len;
        while (*w == ' ')
            w++;
    }
    return i;
}

static const struct cli_cmd *find_cmd(int argc, char **argv, int *nwords)
{
    const struct cli_cmd *best = NULL;
    *nwords = 0;
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct cli_cmd *c = tables[t]; c->words; c++) {
            int n = match_words(c, argc, argv);
            if (n > *nwords) {
                *nwords = n;
                best = c;
            }
        }
    return best;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/* No command matched argv: a group without its subcommand ("kehu org"), a
 * group with an unknown one, or an unknown word. */
static int unknown_command(struct cli *cli, int argc, char **argv)
{
    int group = print_group(NULL, argv[0]) > 0;
    if (group && wants_help(argc, argv)) {
        print_group(stdout, argv[0]);
        return CLI_OK;
    }
    char msg[300];
    if (group && (argc == 1 || argv[1][0] == '-'))
        snprintf(msg, sizeof msg, _("%s: missing subcommand"), argv[0]);
    else if (group)
        snprintf(msg, sizeof msg, _("unknown command '%s %s'"), argv[0], argv[1]);
    else
        snprintf(msg, sizeof msg, _("unknown command '%s'"), argv[0]);
    fflush(stdout);
    fprintf(stderr, "kehu: %s\n", msg);
    usage_json(cli, msg);
    if (group)
        print_group(stderr, argv[0]);
    else
        fputs(_("Run 'kehu help' for the list of commands.\n"), stderr);
    return CLI_USAGE;
}

static int run_help(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    argc -= optind;
    argv += optind;
    if (argc == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    int n;
    const struct cli_cmd *cmd = find_cmd(argc, argv, &n);
    if (cmd && n == argc) {
        print_cmd_help(stdout, cmd);
        return CLI_OK;
    }
    if (argc == 1 && print_group(stdout, argv[0]))
        return CLI_OK;
    char msg[300];
    snprintf(msg, sizeof msg, _("help: unknown command '%s'"), argv[0]);
    fprintf(stderr, "kehu: %s\n", msg);
    fputs(_("Run 'kehu help' for the list of commands.\n"), stderr);
    usage_json(cli, msg);
    return CLI_USAGE;
}

/* Parses the global flags before the command words. Returns -1 to go on
 * with argv[optind..], or an exit code. */
static int parse_global(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        GLOBAL_OPTS,
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
        int rc;
        switch (c) {
        case 'h':
        case OPT_HELP:
            print_help(stdout);
            return CLI_OK;
        case 'V':
        case OPT_VERSION:
            printf("kehu %s (protocol 1)\n", KEHU_VERSION);
            return CLI_OK;
        case '?':
        case ':':
            return bad_option(cli, c, argv);
        default:
            if ((rc = global_opt(cli, c, optarg)) != 0)
                return rc;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    static struct cli cli;

    kehu_i18n_init(argv[0]); /* the locale, and the catalogue even where it is not installed */
    cli.timeout_ms = KEHU_DEFAULT_TIMEOUT_MS;
    int csv_seen = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            cli.json_seen = 1;
        else if (strcmp(argv[i], "--csv") == 0)
            csv_seen = 1;
    /* $XDG_CONFIG_HOME/kehu/config: the environment and the flags override it */
    struct cli_config conf;
    char conf_err[600];
    if (cli_config_load(&conf, conf_err, sizeof conf_err) < 0) {
        fprintf(stderr, "kehu: %s\n", conf_err);
        usage_json(&cli, conf_err);
        return CLI_USAGE;
    }
    if (!cli.json_seen && !csv_seen) {
        cli.json = strcmp(conf.format, "json") == 0;
        cli.csv = strcmp(conf.format, "csv") == 0;
    }
    if (*conf.timeout && set_timeout(&cli, conf.timeout) < 0) {
        fprintf(stderr, "kehu: %s: timeout: expected a number of seconds (0 < SECONDS <= 86400), not '%s'\n",
                conf.path, conf.timeout);
        return CLI_USAGE;
    }
    const char *env = getenv("KEHU_SERVER");
    if (!env || !*env)
        env = *conf.server ? conf.server : KEHU_DEFAULT_SERVER;
    const char *tls_env = getenv("KEHU_TLS");
    if (tls_env && *tls_env)
        cli.tls.mode = strcmp(tls_env, "0") == 0 || strcasecmp(tls_env, "off") == 0 || strcasecmp(tls_env, "no") == 0
                           ? KEHU_TLS_OFF
                           : KEHU_TLS_ON;
    cli.tls.ca_file = getenv("KEHU_CA_FILE");
    cli.tls.fingerprint = getenv("KEHU_FINGERPRINT");
    if ((!cli.tls.fingerprint || !*cli.tls.fingerprint) && *conf.fingerprint)
        cli.tls.fingerprint = conf.fingerprint; /* the configuration file's, below the environment's */
    cli.tls.cert_file = getenv("KEHU_CERT");
    cli.tls.key_file = getenv("KEHU_KEY");
    if (set_server(&cli, env) < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, _("%s: expected HOST:PORT, not '%.200s'"),
                 getenv("KEHU_SERVER") && *getenv("KEHU_SERVER") ? "KEHU_SERVER" : _("server in the configuration file"),
                 env);
        fprintf(stderr, "kehu: %s\n", msg);
        usage_json(&cli, msg);
        return CLI_USAGE;
    }
    int rc = parse_global(&cli, argc, argv);
    if (rc >= 0)
        return rc;
    argc -= optind;
    argv += optind;
    if (argc == 0) {
        fprintf(stderr, "kehu: %s\n", _("no command given"));
        print_help(stderr);
        usage_json(&cli, _("no command given"));
        return CLI_USAGE;
    }

    int nwords;
    const struct cli_cmd *cmd = find_cmd(argc, argv, &nwords);
    if (!cmd)
        return unknown_command(&cli, argc, argv);
    cli.cmd = cmd;
    /* --help anywhere after the command words: its help, before anything
     * (a password prompt, a connection, a usage error) can happen */
    if (wants_help(argc - nwords, argv + nwords)) {
        print_cmd_help(stdout, cmd);
        return CLI_OK;
    }
    pager_setup(&cli);
    /* argv[0] of the command is its last word, as getopt expects */
    rc = cmd->run(&cli, argc - nwords + 1, argv + nwords - 1);

    if (cli.client)
        kehu_close(cli.client);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, _("kehu: cannot write the output: %s\n"), strerror(errno));
        if (rc == CLI_OK)
            rc = CLI_REFUSED;
    }
    pager_finish();
    return rc;
}
