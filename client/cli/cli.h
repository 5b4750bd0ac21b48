/* The kehu command line: the command table, the state every command shares
 * and the helpers that keep every command's behaviour the same (CLI.md):
 * option parsing that also accepts the global flags after the command words,
 * a lazy connection that resumes the stored session, error lines and exit
 * codes.
 *
 * A command is one row of a `struct cli_cmd` table exported by its file
 * (cmd_session.c, cmd_org.c, ...) and listed in main.c. Its run function gets
 * argv with argv[0] the last command word, parses it with cli_getopt, makes
 * its requests with cli_call and returns the exit code. */
#ifndef KEHU_CLI_H
#define KEHU_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "i18n.h"
#include "kehu.h"
#include "record.h"

/* Exit codes of the CLI contract. */
enum {
    CLI_OK = 0,
    CLI_REFUSED = 1,   /* the server refused: any non-OK status */
    CLI_USAGE = 2,     /* bad command line */
    CLI_TRANSPORT = 3, /* cannot connect, connection lost, bad reply */
    CLI_PARTIAL = 4,   /* partly done (an import with rejected rows) */
};

struct cli;

struct cli_cmd {
    const char *words;   /* "org add" */
    const char *usage;   /* what follows the words: "NAME --kind K --parent P" */
    const char *summary; /* one line for `kehu --help` */
    int needs_session;   /* cli_connect resumes the stored session */
    int (*run)(struct cli *cli, int argc, char **argv);
};

struct cli {
    char server[256];  /* HOST:PORT, from --server, KEHU_SERVER or the default */
    int json, csv;
    int timeout_ms;
    const struct cli_cmd *cmd; /* the command being run */
    kehu_client *client;       /* NULL until cli_connect */
    char user[128];            /* the stored session's username, once resumed */
    int opt_rc;                /* exit code when cli_getopt returned '?' */
    int json_seen;             /* --json is on the command line (usage errors before it is parsed) */
    /* TLS: --tls/--no-tls, --ca-file, --fingerprint, --accept-new-server, --cert, --key
     * (KEHU_TLS, KEHU_CA_FILE, KEHU_FINGERPRINT, KEHU_CERT, KEHU_KEY); strings point into argv or the environment */
    struct kehu_tls tls;
};

/* Command tables, each ending with a row whose words are NULL. */
extern const struct cli_cmd cmd_session_table[];
extern const struct cli_cmd cmd_org_table[];
extern const struct cli_cmd cmd_customer_table[];
extern const struct cli_cmd cmd_contact_table[];
extern const struct cli_cmd cmd_watch_table[];
extern const struct cli_cmd cmd_followup_table[];
extern const struct cli_cmd cmd_doc_table[];
extern const struct cli_cmd cmd_import_table[];
extern const struct cli_cmd cmd_payment_table[];
extern const struct cli_cmd cmd_grade_table[];
extern const struct cli_cmd cmd_access_table[];
extern const struct cli_cmd cmd_admin_table[];
extern const struct cli_cmd cmd_audit_table[];
extern const struct cli_cmd cmd_assign_table[];
extern const struct cli_cmd cmd_pool_table[];
extern const struct cli_cmd cmd_case_table[];
extern const struct cli_cmd cmd_review_table[]; /* cmd_review.c: annual review, VIP list, win-back list */

/* getopt_long over the command's options plus the global ones (--server,
 * --json, --csv, --timeout, --help), which it handles itself; argument
 * order is free ("org add --kind team 某组" = "org add 某组 --kind team"),
 * "--" ends the options. Returns the `val` of a command option (optarg
 * set), -1 when done (positional arguments are argv[optind..argc)), or '?'
 * after printing usage or help: the command then returns cli->opt_rc (2, or
 * 0 for --help). opts ends with a zero row; at most 32 rows. Resets optind
 * on the first call for each argv. */
int cli_getopt(struct cli *cli, int argc, char **argv, const struct option *opts);

/* Usage errors: prints "kehu: WORDS: message", the command's usage line,
 * and returns CLI_USAGE. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Other local errors: prints "kehu: WORDS: message" and returns rc. */
int cli_error(struct cli *cli, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks the number of positional arguments left after cli_getopt; a usage
 * error naming the first extra or the missing argument otherwise. */
int cli_args(struct cli *cli, int argc, char **argv, int min, int max);
/* A command without options of its own (the global ones are taken): the
 * options parsed, then cli_args. */
int cli_no_options(struct cli *cli, int argc, char **argv, int min, int max);

/* The positional arguments argv[optind..argc) as KEY=VALUE pairs: set[i]
 * points at fvs[i], whose field is keys[i] (a copy of the key) and whose
 * value points into argv. */
struct cli_field_values {
    Kehu__V1__FieldValue **set;
    Kehu__V1__FieldValue *fvs;
    char **keys;
    size_t n;
};
/* Parses them into *out. form names a pair in the usage errors ("give at
 * least one FORM (e.g. EG)" when there is none, eg NULL for no example;
 * "expected FORM, not 'ARG'"); a key must not be empty, and with need_dot
 * must hold a '.' (GRADE.KEY). Returns 0 (release *out with
 * cli_field_values_free), or CLI_USAGE after printing (nothing to release;
 * *out is left empty, so releasing it does no harm). */
int cli_field_values(struct cli *cli, int argc, char **argv, const char *form, int need_dot, const char *eg,
                     struct cli_field_values *out);
void cli_field_values_free(struct cli_field_values *fv);

/* Connects (once) and, for a command that needs_session, resumes the
 * session stored for cli->server. Returns 0 or the exit code after printing
 * the error: 3 cannot connect; 1 not logged in or the session was refused
 * (an expired or revoked token is then removed from the store). */
int cli_connect(struct cli *cli);

/* Connects if needed, sends req and waits. Returns 0 with *resp set (OK
 * status; free it with kehu_response_free), or the exit code after printing
 * the error (*resp NULL). */
int cli_call(struct cli *cli, const Kehu__V1__Request *req, Kehu__V1__Response **resp);
/* kehu_call on the connected client, across a lost connection: a write is
 * sent with an idempotency key and, when the connection drops before its
 * answer, reconnected (the session resumed) and repeated under the same key
 * with backoff, so it is done once; a read is simply asked again once
 * reconnected. Session and stream steps are sent once. NULL with st
 * (KEHU_TRANSPORT: a write's message then says it may or may not have been
 * made) when no answer came. */
Kehu__V1__Response *cli_send(struct cli *cli, const Kehu__V1__Request *req, struct kehu_status *st);
/* Sends the request whose op is `op` (a KEHU__V1__REQUEST__OP_... case)
 * with message m, and waits for the result `want` as cli_call_for does. */
int cli_ask(struct cli *cli, int op, void *m, Kehu__V1__Response__ResultCase want, Kehu__V1__Response **resp);
/* The request whose op is `op` with message m (a request to send more than once). */
void cli_request(Kehu__V1__Request *req, int op, void *m);
/* cli_call for a request whose reply must carry the result `want`: another
 * result is a bad reply (cli_bad_reply: freed, printed, 3; *resp NULL). */
int cli_call_for(struct cli *cli, const Kehu__V1__Request *req, Kehu__V1__Response__ResultCase want,
                 Kehu__V1__Response **resp);
/* Prints a failed status per CLI.md and returns its exit code: 3 for
 * KEHU_TRANSPORT ("kehu: MESSAGE"), 1 for a refusal ("kehu: CODE: MESSAGE
 * [field]"); with --json also the {"error": ...} document on stdout. */
int cli_fail_status(struct cli *cli, const struct kehu_status *st);
/* An OK response without the expected result: frees resp, prints, returns 3. */
int cli_bad_reply(struct cli *cli, Kehu__V1__Response *resp);

/* Human output: printf to stdout with control characters (from names the
 * server sent) shown as spaces; the format's final newline is kept. */
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One CSV record (RFC 4180: quoted when needed, CRLF-free "\n" endings). */
void cli_csv_row(FILE *f, int n, const char *const *cells);


/* ---- Records (print.c) ---- */

struct json_w;

/* How one kind of record is printed, so that every command prints its
 * records the same way: with --json one object (or an array of them for a
 * list), with --csv a header and one row each, else a table for people,
 * all written from its descriptor (rec, record.h): see
 * docs/architecture.md. */
struct cli_record_kind {
    const struct rec_kind *rec;    /* JSON, CSV and the table */
    void (*one)(const void *item); /* a single record (list = 0) for people; NULL: kv, else a table */
    const struct rec_col *kv;      /* a single record as these key/value lines (rec_kv_cols) */
    int kv_all;                    /* a single record as key/value lines of every field (rec_kv) */
    int no_csv;                    /* --csv shows what people see (an output that never had CSV) */
};
/* The REVERSAL cell of a transaction or payment: "reverses 12: REASON",
 * "reversed by 14" or "" (malloc'd; a rec_calc text, in print.c). */
char *cli_reversal_text(const void *msg);
/* One record of kind k as the JSON document on stdout. */
void cli_json_record(const struct rec_kind *k, const void *msg);
/* One record as a JSON object, as k says. */
void cli_record_json(struct json_w *w, const struct cli_record_kind *k, const void *item);

/* Records as k says: one (list = 0) or a list. items is an array of
 * pointers to the records (cast from, e.g., Kehu__V1__Customer **). */
void cli_print_records(struct cli *cli, void *const *items, size_t n, int list, const struct cli_record_kind *k);

/* A refused edit that named the version read (customer, contact). A
 * CONFLICT that came with the current record (`current`, at
 * current_version) says "WHAT ID changed since version V: it is now at
 * version N", with --json also the document {"error", "current"}; any other
 * refusal is printed as cli_fail_status does. Frees resp; returns the exit
 * code. */
int cli_explain_stale(struct cli *cli, Kehu__V1__Response *resp, const struct kehu_status *st, const char *what,
                      int64_t id, int64_t version, const void *current, int64_t current_version,
                      const struct cli_record_kind *k);

/* With --json, the {"error": {"code", "message"}} document of a lost or
 * failed connection (pretty, or compact for one-object-per-line output). */
void cli_json_transport_error(const char *msg, int pretty);

/* Users as every command prints them (whoami, user add/list/disable/move):
 * one (list = 0) as key/value lines or a JSON object, or a list as a table or
 * a JSON array; with --csv a header and one row per user. In cmd_org.c. */
void cmd_org_print_users(struct cli *cli, Kehu__V1__User *const *users, size_t n, int list);
/* A new password for username: asked twice on a terminal, else
 * KEHU_NEW_PASSWORD (free with term_free_secret). NULL after printing the
 * error (*rc set). In cmd_org.c. */
char *cmd_org_new_password(struct cli *cli, const char *username, int *rc);

/* A policy's values (key value description), as grade policy and assign policy show them. */
extern const struct rec_kind cli_policy_value_rec;
/* Policy values as a table or CSV (with --json the caller writes them):
 * all, or only those whose keys are in only[0..n_only). */
void cli_print_policy_values(struct cli *cli, Kehu__V1__PolicyValue *const *values, size_t n, char *const *only,
                             size_t n_only);
/* `... policy set KEY=VALUE...` once the command's own options are read:
 * the values into the request m (op) through *values and *n_values, the
 * reply's result `want` said ("policy updated") and printed by print with
 * the keys that were set. CLI_OK or the exit code. */
int cli_policy_set(struct cli *cli, int argc, char **argv, int op, void *m, Kehu__V1__FieldValue ***values,
                   size_t *n_values, Kehu__V1__Response__ResultCase want,
                   void (*print)(struct cli *cli, const void *result, char *const *keys, size_t n));
/* Records under a title (N_("grades:\n")) after a blank line, as k's
 * table; nothing when there are none. */
void cli_print_section(const char *title, const struct rec_kind *k, void *const *items, size_t n);
/* The member key: an array of records of kind k. */
void cli_json_records(struct json_w *w, const char *key, const struct rec_kind *k, void *const *items, size_t n);

/* ---- Grades as every command shows them (print.c) ---- */

/* {"abc": "A", "lifecycle": "active", ...}: the effective grade per
 * dimension, dimensions without a grade omitted (the value after a key). */
void cli_json_grades(struct json_w *w, Kehu__V1__Grade *const *g, size_t n);
/* "abc A · volume B · lifecycle active" (malloc'd; "" when none), a grade set
 * by hand marked "(override)", an ABC held at C as new "(new)". */
char *cli_grade_line(Kehu__V1__Grade *const *g, size_t n);

/* ---- Shared by the customer, contact and txn commands (in cmd_customer.c) ---- */

/* The customer as a record kind: every field (cmd_customer.c). */
extern const struct rec_kind cli_customer_rec;
/* One customer as `customer show` prints it (a JSON object with --json). */
void cmd_customer_print(struct cli *cli, const Kehu__V1__Customer *c);
/* One transaction as a record (cmd_contact.c): txn reverse prints its reversal. */
void cmd_contact_print_txn(struct cli *cli, Kehu__V1__Txn *t);


/* One `--set FIELD=VALUE` appended to *set (allocated; release with
 * cmd_customer_free_set). A date field (birth, since) is checked here.
 * Returns 0, or CLI_USAGE after printing. */
int cmd_customer_add_set(struct cli *cli, const char *arg, Kehu__V1__FieldValue ***set, size_t *n);
void cmd_customer_free_set(Kehu__V1__FieldValue **set, size_t n);

/* The command line of an edit that names the version read: `ID --version V
 * --set FIELD=VALUE...`. id_what names the ID in errors ("CUSTOMER_ID");
 * read_with says where the version is read ("kehu customer show ID").
 * Returns 0, or an exit code after printing; release *set with
 * cmd_customer_free_set either way. */
int cli_parse_edit(struct cli *cli, int argc, char **argv, const char *id_what, const char *read_with, int64_t *id,
                   int64_t *version, Kehu__V1__FieldValue ***set, size_t *n_set);

/* cli_call, except that a refusal whose response carries a result (the
 * probable duplicates of an add, the current record of a stale edit) returns
 * CLI_REFUSED with *resp and *st set and nothing printed: the caller explains
 * it. Any other failure is printed as cli_call does (*resp NULL). */
int cmd_customer_call(struct cli *cli, const Kehu__V1__Request *req, Kehu__V1__Response **resp,
                      struct kehu_status *st);
/* The words that repeat a list command with its filters. */
struct cmd_words {
    const char *w[40];
    size_t n;
};
/* The filters of `customer list` (all != NULL: also --limit, --after, --all)
 * or `customer export` (output != NULL: --output instead). Returns 0 or an
 * exit code after printing. */
int cmd_customer_list_options(struct cli *cli, int argc, char **argv, Kehu__V1__CustomerList *list,
                              struct cmd_words *ws, int *all, const char **output);

/* The options that choose customers (customer list and export, assign
 * --filter), as option rows a command's table includes. */
enum {
    CLI_F_OWNER = 0x4800, CLI_F_BRANCH, CLI_F_GRADE, CLI_F_STATUS, CLI_F_TAG, CLI_F_REGION, CLI_F_INDUSTRY,
    CLI_F_SOURCE, CLI_F_CREATED_FROM, CLI_F_CREATED_TO,
};
#define CLI_CUSTOMER_FILTER_OPTIONS                                                                              \
    { "owner", required_argument, NULL, CLI_F_OWNER }, { "branch", required_argument, NULL, CLI_F_BRANCH },      \
        { "grade", required_argument, NULL, CLI_F_GRADE }, { "status", required_argument, NULL, CLI_F_STATUS }, \
        { "tag", required_argument, NULL, CLI_F_TAG }, { "region", required_argument, NULL, CLI_F_REGION },     \
        { "industry", required_argument, NULL, CLI_F_INDUSTRY }, { "source", required_argument, NULL, CLI_F_SOURCE }, \
        { "created-from", required_argument, NULL, CLI_F_CREATED_FROM },                                         \
        { "created-to", required_argument, NULL, CLI_F_CREATED_TO }
/* One of them (opt as cli_getopt returned it) into f; with check_status
 * --status must name a status. CLI_OK, an exit code after a usage error, or
 * -1 when opt is none of them. In cmd_customer.c. */
int cli_customer_filter_option(struct cli *cli, int opt, const char *arg, Kehu__V1__CustomerList *f, int check_status);

/* ---- Paging of every list (in paging.c) ---- */

/* The options --limit N, --after CURSOR and --all, as option values a
 * command's table uses (above any command's own). */
enum { CLI_O_LIMIT = 0x4000, CLI_O_AFTER, CLI_O_ALL };
#define CLI_PAGING_OPTIONS                                                                                \
    { "limit", required_argument, NULL, CLI_O_LIMIT }, { "after", required_argument, NULL, CLI_O_AFTER }, \
        { "all", no_argument, NULL, CLI_O_ALL }
struct cli_paging {
    uint32_t limit;        /* 0: the server's default */
    const char *after;     /* NULL: the first page */
    const char *limit_arg; /* as typed, to repeat it */
    int all;               /* every page */
    uint32_t max;          /* the largest --limit cli_flags takes (0: 1000) */
};
/* One of those options (opt as cli_getopt returned it): CLI_OK, an exit
 * code after a usage error, or -1 when opt is none of them. */
int cli_page_option(struct cli *cli, int opt, const char *arg, uint32_t max, struct cli_paging *pg);
/* After the last page shown, when more follow: with --json or --csv
 * "next_cursor: CURSOR" and "remaining: N" on stderr, else how many remain
 * and the command line of the next page ("kehu WORDS... --after CURSOR"). */
void cli_page_more(struct cli *cli, const char *const *words, size_t n, const char *cursor, uint32_t remaining);
/* The pages of one list command, kept until printed (--all): the responses,
 * their records in order, and where the last one ended. */
struct cli_pages {
    Kehu__V1__Response **resp;
    size_t n_resp;
    void **items;
    size_t n;
    const char *next;   /* the last page's next cursor, NULL at the end */
    uint32_t remaining; /* rows after it */
};
void cli_pages_add(struct cli_pages *p, Kehu__V1__Response *resp, void *const *items, size_t n);
/* Records where the page just added ended (its cursor and remaining count;
 * after: the cursor it was asked with). CLI_OK, or CLI_TRANSPORT after
 * printing when the server answered the same cursor (a loop). */
int cli_pages_next(struct cli *cli, struct cli_pages *p, const char *cursor, uint32_t remaining, const char *after);
void cli_pages_free(struct cli_pages *p);
/* The records of the pages as k says (with --json and --csv also none):
 * 1, or 0 when there were none to show people (the caller says so). */
int cli_print_list(struct cli *cli, const struct cli_pages *pages, const struct cli_record_kind *k);
/* One page of a response: its records, next cursor and remaining count; -1
 * when the response lacks the list. */
typedef int (*cli_page_fn)(const Kehu__V1__Response *resp, void *const **items, size_t *n, const char **next,
                           uint32_t *remaining);
/* Sends req (whose message's cursor field is *after, "" for the first page)
 * and keeps its pages in *pages: one, or every one with all. CLI_OK or the
 * exit code after printing; release *pages with cli_pages_free either way. */
int cli_fetch_pages(struct cli *cli, const Kehu__V1__Request *req, Kehu__V1__Response__ResultCase want, char **after,
                    int all, cli_page_fn page, struct cli_pages *pages);

struct cli_flag;
/* A list command from a table row: `WORDS [ID] [--limit N] [--after CURSOR]
 * [--all]`, the ID (when id_what is set) into the request's field id_field,
 * the pages of the reply's repeated field `items` printed as kind says. The
 * request message has the fields limit and after, the reply's list
 * next_cursor and remaining. */
struct cli_list {
    int op;                                     /* KEHU__V1__REQUEST__OP_CONTACT_LIST */
    const ProtobufCMessageDescriptor *req_desc; /* the op's message */
    const char *id_what;                        /* "CUSTOMER_ID"; NULL: no argument */
    const char *id_field;                       /* "customer_id" */
    Kehu__V1__Response__ResultCase want;
    const char *items; /* "contacts" */
    const struct cli_record_kind *kind;
    /* after the records, for people (a total, a footer); may be NULL */
    void (*footer)(struct cli *cli, const struct cli_pages *pages);
    /* the command's options that are request fields (cli_flags); may be NULL */
    const struct cli_flag *flags;
    /* prints the records instead of kind (m: the request, as the options set it); may be NULL */
    void (*print)(struct cli *cli, const void *m, const struct cli_pages *pages);
    uint32_t limit_max; /* the largest --limit; 0: 1000 */
};
int cli_run_list(struct cli *cli, int argc, char **argv, const struct cli_list *l);
/* A command of one request from a table row: `WORDS [ARG] [options]`, the
 * options that are request fields (cli_flags), the arguments (when arg_what
 * is set: "USERNAME CUSTOMER_ID") into the fields arg_field names
 * ("username customer_id": an int64 field takes a positive whole number, an
 * enum a value's name, a string field the word as it is), then check (may
 * be NULL: a usage error for what the options cannot say alone), the
 * request sent and the reply's result
 * `want` printed as one record of kind, or by print. */
struct cli_one {
    int op;                                     /* KEHU__V1__REQUEST__OP_ASSIGN_UNDO */
    const ProtobufCMessageDescriptor *req_desc; /* the op's message */
    const char *arg_what;                       /* "BATCH_ID"; NULL: no argument */
    const char *arg_field;                      /* "batch_id" */
    Kehu__V1__Response__ResultCase want;
    const struct cli_record_kind *kind;
    const struct cli_flag *flags; /* may be NULL */
    void (*print)(struct cli *cli, const void *result); /* instead of kind; may be NULL */
    int (*check)(struct cli *cli, const void *m);      /* may be NULL */
};
int cli_run_one(struct cli *cli, int argc, char **argv, const struct cli_one *o);
/* Sends the request m (op), waits for the result want and prints it as one
 * record of kind, or by print (may be NULL): the end of cli_run_one, for a
 * command that builds its request itself. CLI_OK or the exit code. */
int cli_ask_print(struct cli *cli, int op, void *m, Kehu__V1__Response__ResultCase want,
                  const struct cli_record_kind *kind, void (*print)(struct cli *cli, const void *result));
/* A command's run function fn that is run (cli_run_list, cli_run_one) of
 * the struct `type` written as the other arguments (the last ones may be left
 * out): the whole of a list command, or of a command of one request. */
#define CLI_ROW_COMMAND(fn, type, run, ...)                       \
    static int fn(struct cli *cli, int argc, char **argv)          \
    {                                                              \
        _Pragma("GCC diagnostic push")                             \
        _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"") \
        static const struct type spec_ = { __VA_ARGS__ };          \
        _Pragma("GCC diagnostic pop")                              \
        return run(cli, argc, argv, &spec_);                       \
    }
#define CLI_LIST_COMMAND(fn, ...) CLI_ROW_COMMAND(fn, cli_list, cli_run_list, __VA_ARGS__)
#define CLI_ONE_COMMAND(fn, ...) CLI_ROW_COMMAND(fn, cli_one, cli_run_one, __VA_ARGS__)
/* The result a response carries (its oneof), NULL when none. */
const void *cli_result(const Kehu__V1__Response *resp);

/* Sends the list request m (op; its cursor field is *after, moved along)
 * and keeps its pages in *pages: one, or every one with all. The reply's list
 * has the repeated field `items`, next_cursor and remaining. CLI_OK or the
 * exit code after printing; release *pages with cli_pages_free either way. */
int cli_fetch_list(struct cli *cli, int op, void *m, Kehu__V1__Response__ResultCase want, const char *items,
                   char **after, int all, struct cli_pages *pages);
/* The reply's list message of a page (as cli_run_list finds it). */
#define cli_page_list cli_result

/* ---- Values on the command line (args.c) ---- */

/* A decimal integer in [min, max]; `what` names it in the usage error
 * ("CUSTOMER_ID", "--limit"). Returns 0, or CLI_USAGE after printing. */
int cli_parse_int(struct cli *cli, const char *what, const char *s, int64_t min, int64_t max, int64_t *out);
/* The one ID argument left after cli_getopt; `what` names it ("CUSTOMER_ID").
 * Returns 0, or an exit code after printing. */
int cli_id_arg(struct cli *cli, int argc, char **argv, const char *what, int64_t *id);
/* An amount flag in minor units. Returns 0, or CLI_USAGE after printing a
 * usage error naming the flag. */
int cli_parse_amount(struct cli *cli, const char *flag, const char *s, int64_t *minor);
/* A YYYY-MM-DD date given as `what`. Returns 0, or CLI_USAGE after printing. */
int cli_check_date(struct cli *cli, const char *what, const char *s);
/* A date in the future given as `what` (--due, --next, --until): YYYY-MM-DD,
 * or counted from today in local time: today, tomorrow, +3d, +2w,
 * next-monday ... next-sunday (dates.h). *out is set to the day as
 * YYYY-MM-DD (storage that lasts until the process ends). Returns 0, or
 * CLI_USAGE after printing. */
int cli_parse_due(struct cli *cli, const char *what, const char *s, char **out);

/* A value of the enum d named as the command line spells it (the proto
 * name in lower case: "branch_manager"); `what` names it in the usage error,
 * which lists the accepted values ("--role: unknown role 'x': use admin,
 * ... or finance"). Returns 0, or CLI_USAGE after printing. */
int cli_parse_enum(struct cli *cli, const char *what, const char *s, const ProtobufCEnumDescriptor *d, int *out);

/* A command's options that are fields of its request message, parsed by
 * cli_flags instead of a getopt loop: --NAME sets the field NAME (or
 * `field`) of the message by its type in the descriptor: a string is the
 * value, a whole number is parsed by cli_parse_int in [min, max] (both 0:
 * a positive number), money (an int64 NAME_minor) by cli_parse_amount, an
 * enum by cli_parse_enum, a bool is a flag without a value that sets it.
 * check,
 * when set, refuses a value first (a usage error; returns 0 or the exit
 * code). marks: CLI_FLAG_NO_REPEAT, the flag is not in the words that
 * repeat the command; CLI_FLAG_REQUIRED, a command line without it is a
 * usage error ("--unit is required": a string field's default is "", which
 * the server would refuse only after a round trip); CLI_FLAG_DUE, a string
 * field takes a day as cli_parse_due reads it (today, +3d, next-monday ...)
 * and holds it as YYYY-MM-DD, which is also the word that repeats the
 * command; CLI_FLAG_TIME, an int64 field (unix ms) takes a time:
 * YYYY-MM-DD (midnight UTC), YYYY-MM-DDTHH:MM[:SS] (UTC) or a span back
 * from now (30s, 15m, 2h, 7d); CLI_FLAG_VALUE, a switch that sets no field
 * (field "") takes a value, read with cli_flag_value (given empty: ""). d
 * and m may be NULL when no flag sets a field. A table ends with a row
 * whose name is NULL. */
enum { CLI_FLAG_NO_REPEAT = 1, CLI_FLAG_REQUIRED = 2, CLI_FLAG_DUE = 4, CLI_FLAG_TIME = 8, CLI_FLAG_VALUE = 16 };
struct cli_flag {
    const char *name;  /* "status": --status */
    const char *field; /* NULL: the field is name; "": a switch that sets no field (cli_flag_given) */
    int64_t min, max;
    int (*check)(struct cli *cli, const char *flag, const char *value);
    int marks; /* CLI_FLAG_... */
};
/* Parses argv's options by the table flags into m (a message of d), and
 * with pg also --limit, --after and --all (setting m's limit and after).
 * With ws, appends the words that repeat the command: each flag given
 * ("--status VALUE", a value only when not empty; "--withdrawn"), in the
 * table's order, then "--limit N". Returns CLI_OK (positional arguments are
 * argv[optind..argc)), or the exit code after printing. */
int cli_flags(struct cli *cli, int argc, char **argv, const ProtobufCMessageDescriptor *d, const struct cli_flag *flags,
              void *m, struct cli_paging *pg, struct cmd_words *ws);

/* Whether the words cli_flags gave name the option flag ("--amount"), and
 * the value that follows it (a switch: the next word, which cli_flags never
 * leaves out for one; NULL when not given). */
int cli_flag_given(const struct cmd_words *ws, const char *flag);
const char *cli_flag_value(const struct cmd_words *ws, const char *flag);

/* Moves the finished temporary file tmp to out; without force, never over an
 * existing file (link fails if it exists; checked atomically where the file
 * system can). output_flag: the refusal when out exists also names --output
 * FILE. Returns CLI_OK, or the exit code after printing. */
int cli_place_file(struct cli *cli, const char *tmp, const char *out, int force, int output_flag);

/* The file a download (doc get, admin backup) is writing, removed when a
 * signal ends the process: cli_part_guard(1) once cli_part_path names it,
 * cli_part_guard(0) when it is placed or removed (forgets it, default
 * signals again). */
extern char cli_part_path[4096];
void cli_part_guard(int on);
/* write(2) until all n bytes are written (EINTR retried): 0, or -1 with errno. */
int cli_write_all(int fd, const void *buf, size_t n);
/* "512 B", "12.0 KiB", "1.3 MiB" */
void cli_human_size(uint64_t n, char *buf, size_t len);

/* ---- Shared output (print.c) ---- */

/* With --json, a refusal that carries more than the error: begins the
 * document, writes its "error" member and leaves the object open for the
 * caller's members ("duplicates", "current"); the caller ends it. */
void cli_json_error(struct json_w *w, const struct kehu_status *st);

/* A string list as a JSON array member, and joined by sep for a cell or a
 * line (malloc'd). */
void cli_json_strs(struct json_w *w, const char *key, char *const *v, size_t n);
char *cli_join(char *const *v, size_t n, const char *sep);

/* After one page of a list that goes on: with --json or --csv "next_cursor:
 * CURSOR" on stderr, else "more: kehu WORDS... --after CURSOR" with the
 * words quoted for a shell where needed. */
void cli_more(struct cli *cli, const char *const *words, size_t n, const char *cursor);

/* The names these helpers had when they lived in cmd_customer.c and
 * cmd_grade.c, still used by the commands. */
#define cmd_customer_parse_int cli_parse_int
#define cmd_customer_check_date cli_check_date
#define cmd_customer_json_error cli_json_error
#define cmd_customer_json_strs cli_json_strs
#define cmd_customer_join cli_join
#define cmd_customer_more cli_more
#define cmd_grade_json_grades cli_json_grades
#define cmd_grade_line cli_grade_line

#endif
