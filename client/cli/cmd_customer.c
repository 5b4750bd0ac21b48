/* Customer commands: customer add|show|edit|archive|list|search|history, the
 * one way a customer is printed (JSON object, key/value record, table row,
 * CSV row, all from one field table), and the helpers the contact and txn
 * commands share (cli.h). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "customer_headers.h"
#include "out.h"
#include "term.h"

#define LIST_LIMIT_MAX 1000   /* CustomerList.limit */
#define SEARCH_LIMIT_MAX 200  /* CustomerSearch.limit */
#define HISTORY_LIMIT_MAX 100000
#define NAME_COLS 24          /* table cells cut to this many columns */
#define VALUE_COLS 30

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Names --------------------------------------------------------------------------- */

/* Enum values as JSON and the command line spell them, indexed by value;
 * index 0 (unspecified) has no name. */
static const char *const kind_names[] = {
    [KEHU__V1__CUSTOMER_KIND__INDIVIDUAL] = "individual",
    [KEHU__V1__CUSTOMER_KIND__CORPORATE] = "corporate",
};

static const char *const status_names[] = {
    [KEHU__V1__CUSTOMER_STATUS__ACTIVE] = "active",
    [KEHU__V1__CUSTOMER_STATUS__IN_POOL] = "in_pool",
    [KEHU__V1__CUSTOMER_STATUS__CHURNED] = "churned",
    [KEHU__V1__CUSTOMER_STATUS__ARCHIVED] = "archived",
};

static const char *const gender_names[] = { "male", "female" };
static const char *const sort_names[] = { "name", "created", "last_contact", "revenue" };

/* The index of value in names (NULL entries never match), or, when it is
 * `extra` (may be NULL), n. Otherwise a usage error naming the flag and the
 * valid values: -1 with cli->opt_rc set. */
static int parse_name(struct cli *cli, const char *flag, const char *value, const char *const *names, size_t n,
                      const char *extra)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], value) == 0)
            return (int)i;
    if (extra && strcmp(extra, value) == 0)
        return (int)n;
    char hint[256] = "";
    size_t count = 0, done = 0, len = 0;
    for (size_t i = 0; i < n; i++)
        count += names[i] != NULL;
    count += extra != NULL;
    for (size_t i = 0; i <= n; i++) {
        const char *s = i < n ? names[i] : extra;
        if (!s)
            continue;
        const char *sep = done == 0 ? "" : done + 1 == count ? " or " : ", ";
        int w = snprintf(hint + len, sizeof hint - len, "%s%s", sep, s);
        if (w < 0 || (size_t)w >= sizeof hint - len)
            break;
        len += (size_t)w;
        done++;
    }
    cli->opt_rc = cli_usage_error(cli, "%s: unknown value '%s': use %s", flag, value, hint);
    return -1;
}

/* ---- Shared helpers (cli.h) ---------------------------------------------------------- */

/* Fields whose values are dates, checked before they are sent. */
static const char *const date_fields[] = { "birth", "since", "date" };

int cmd_customer_add_set(struct cli *cli, const char *arg, Kehu__V1__FieldValue ***set, size_t *n)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return cli_usage_error(cli, "--set: expected FIELD=VALUE, not '%s'", arg);
    size_t flen = (size_t)(eq - arg);
    char *field = out_xmalloc(flen + 1);
    memcpy(field, arg, flen);
    field[flen] = 0;
    for (size_t i = 0; i < NELEMS(date_fields); i++)
        if (eq[1] && strcmp(field, date_fields[i]) == 0) {
            char what[80];
            snprintf(what, sizeof what, "--set %s", field);
            int rc = cmd_customer_check_date(cli, what, eq + 1);
            if (rc) {
                free(field);
                return rc;
            }
        }
    Kehu__V1__FieldValue *fv = out_xmalloc(sizeof *fv);
    kehu__v1__field_value__init(fv);
    fv->field = field;
    fv->value = out_xstrdup(eq + 1);
    *set = out_xrealloc(*set, (*n + 1) * sizeof **set);
    (*set)[(*n)++] = fv;
    return 0;
}

void cmd_customer_free_set(Kehu__V1__FieldValue **set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(set[i]->field);
        free(set[i]->value);
        free(set[i]);
    }
    free(set);
}

int cli_parse_edit(struct cli *cli, int argc, char **argv, const char *id_what, const char *read_with, int64_t *id,
                   int64_t *version, Kehu__V1__FieldValue ***set, size_t *n_set)
{
    enum { O_EDIT_VERSION = 0x100, O_EDIT_SET };
    static const struct option opts[] = {
        { "version", required_argument, NULL, O_EDIT_VERSION },
        { "set", required_argument, NULL, O_EDIT_SET },
        { NULL, 0, NULL, 0 },
    };
    int c, rc = CLI_OK, have_version = 0;
    while (rc == CLI_OK && (c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == O_EDIT_VERSION) {
            rc = cmd_customer_parse_int(cli, "--version", optarg, 1, INT64_MAX, version);
            have_version = 1;
        } else if (c == O_EDIT_SET) {
            rc = cmd_customer_add_set(cli, optarg, set, n_set);
        } else {
            rc = cli->opt_rc;
        }
    }
    if (rc == CLI_OK)
        rc = cli_id_arg(cli, argc, argv, id_what, id);
    if (rc == CLI_OK && !have_version)
        rc = cli_usage_error(cli, "--version is required (the version you read: %s)", read_with);
    if (rc == CLI_OK && !*n_set)
        rc = cli_usage_error(cli, "nothing to change: give --set FIELD=VALUE");
    return rc;
}

int cmd_customer_call(struct cli *cli, const Kehu__V1__Request *req, Kehu__V1__Response **resp,
                      struct kehu_status *st)
{
    *resp = NULL;
    memset(st, 0, sizeof *st);
    st->code = KEHU_TRANSPORT;
    int rc = cli_connect(cli);
    if (rc)
        return rc;
    Kehu__V1__Response *r = cli_send(cli, req, st);
    if (r && st->code == KEHU__V1__CODE__OK) {
        *resp = r;
        return CLI_OK;
    }
    if (r && st->code != KEHU_TRANSPORT && r->result_case != KEHU__V1__RESPONSE__RESULT__NOT_SET) {
        *resp = r;
        return CLI_REFUSED;
    }
    if (!r && st->code == KEHU__V1__CODE__OK)
        st->code = KEHU_TRANSPORT;
    kehu_response_free(r);
    return cli_fail_status(cli, st);
}

/* ---- The customer's fields ------------------------------------------------------------ */

/* The first phone, as the list shows it. */
static char *first_phone(const void *msg)
{
    const Kehu__V1__Customer *c = msg;
    return out_xstrdup(c->n_phones ? c->phones[0] : "");
}

static void json_grades(struct json_w *w, const void *msg)
{
    const Kehu__V1__Customer *c = msg;
    cmd_grade_json_grades(w, c->grades, c->n_grades);
}

static char *grades_text(const void *msg)
{
    const Kehu__V1__Customer *c = msg;
    return cmd_grade_line(c->grades, c->n_grades);
}

static const struct rec_calc customer_calc[] = {
    { "phone", NULL, first_phone }, { "grades", json_grades, grades_text }, { NULL, NULL, NULL },
};

/* The list's columns; the heads were never translated. */
static const struct rec_col customer_cols[] = {
    { REC_AS_IS("ID"), "id", OUT_RIGHT, 0 },
    { REC_AS_IS("NAME"), "name", OUT_LEFT, NAME_COLS },
    { REC_AS_IS("PHONE"), "@phone", OUT_LEFT, 0 },
    { REC_AS_IS("COMPANY"), "company", OUT_LEFT, NAME_COLS },
    { REC_AS_IS("OWNER"), "owner", OUT_LEFT, 0 },
    { REC_AS_IS("BRANCH"), "branch", OUT_LEFT, 0 },
    { REC_AS_IS("STATUS"), "status", OUT_LEFT, 0 },
    { REC_AS_IS("REVENUE"), "revenue_minor", OUT_RIGHT, 0 },
    { NULL, NULL, 0, 0 },
};

/* `customer show`: every non-empty field but the ids of the owner and
 * branch (shown by name), then the grades. */
static const struct rec_col customer_lines[] = {
    { "id", "id", 0, 0 },           { "version", "version", 0, 0 },
    { "kind", "kind", 0, 0 },       { "name", "name", 0, 0 },
    { "ext ref", "ext_ref", 0, 0 }, { "gender", "gender", 0, 0 },
    { "birth", "birth", 0, 0 },     { "id number", "id_number", 0, 0 },
    { "phones", "phones", 0, 0 },   { "email", "email", 0, 0 },
    { "company", "company", 0, 0 }, { "address", "address", 0, 0 },
    { "region", "region", 0, 0 },   { "industry", "industry", 0, 0 },
    { "size", "size", 0, 0 },       { "occupation", "occupation", 0, 0 },
    { "source", "source", 0, 0 },   { "tags", "tags", 0, 0 },
    { "notes", "notes", 0, 0 },     { "owner", "owner", 0, 0 },
    { "branch", "branch", 0, 0 },   { "since", "since", 0, 0 },
    { "status", "status", 0, 0 },   { "created at", "created_at_ms", 0, 0 },
    { "created by", "created_by", 0, 0 }, { "updated at", "updated_at_ms", 0, 0 },
    { "updated by", "updated_by", 0, 0 }, { "last contact at", "last_contact_ms", 0, 0 },
    { "revenue", "revenue_minor", 0, 0 }, { "balance", "balance_minor", 0, 0 },
    { "grades", "@grades", 0, 0 },  { NULL, NULL, 0, 0 },
};

/* Every field of a Customer, in the order every output shows them: "" and []
 * when empty, null for no owner or branch id, no time or no kind; the grades
 * per dimension (CLI.md: absent ones omitted) and, after customer merge, the
 * merge (for customer unmerge) in JSON only. */
const struct rec_kind cli_customer_rec = {
    &kehu__v1__customer__descriptor,
    "id version kind name ext_ref gender birth id_number phones email company address region industry size "
    "occupation source tags notes owner_id? owner branch_id? branch since status created_at_ms created_by "
    "updated_at_ms updated_by last_contact_at=last_contact_ms revenue_minor balance_minor +grades=@grades "
    "+~merge_id?",
    customer_cols, REC_AS_IS("no customers match"), customer_calc,
};

static const struct cli_record_kind customer_kind = { .rec = &cli_customer_rec, .kv = customer_lines };

/* A probable duplicate of a customer being added: why, and the customer. */
static void json_duplicate_customer(struct json_w *w, const void *msg)
{
    const Kehu__V1__Duplicate *m = msg;
    if (m->customer)
        rec_json(w, &cli_customer_rec, m->customer);
    else
        json_null(w);
}
static const struct rec_calc duplicate_calc[] = { { "customer", json_duplicate_customer, NULL },
                                                  { NULL, NULL, NULL } };
static const struct rec_kind duplicate_rec = { &kehu__v1__duplicate__descriptor, "reason customer=@customer", NULL,
                                               NULL, duplicate_calc };

/* Customers: one (list = 0: a JSON object, a key/value record) or a list (a
 * JSON array, a table); with --csv a header and one row each. */
static void print_customers(struct cli *cli, Kehu__V1__Customer *const *cs, size_t n, int list)
{
    cli_print_records(cli, (void *const *)cs, n, list, &customer_kind);
}

void cmd_customer_print(struct cli *cli, const Kehu__V1__Customer *c)
{
    Kehu__V1__Customer *one[] = { (Kehu__V1__Customer *)c };
    print_customers(cli, one, 1, 0);
}

enum result { ADDED, UPDATED, ARCHIVED, MERGED, UNARCHIVED };

/* A command's one customer: as a record with --json or --csv, else a line. */
static void print_result(struct cli *cli, Kehu__V1__Customer *c, enum result what)
{
    if (cli->json || cli->csv)
        print_customers(cli, &c, 1, 0);
    else if (what == UPDATED)
        cli_say("customer %" PRId64 " updated to version %" PRId64 "\n", c->id, c->version);
    else if (what == MERGED)
        cli_say("merged into customer %" PRId64 " %s (version %" PRId64 ")\n", c->id, c->name, c->version);
    else
        cli_say("%s customer %" PRId64 " %s\n", what == ADDED ? _("added") : what == UNARCHIVED ? _("unarchived") : _("archived"),
                c->id, c->name);
}

/* A refusal that carried a result this command does not explain. */
static int refused(struct cli *cli, Kehu__V1__Response *resp, const struct kehu_status *st)
{
    kehu_response_free(resp);
    return cli_fail_status(cli, st);
}

/* ---- customer add ---------------------------------------------------------------------- */

enum {
    O_NAME = 0x100,
    O_KIND,
    O_PHONE,
    O_EMAIL,
    O_ID_NUMBER,
    O_COMPANY,
    O_GENDER,
    O_BIRTH,
    O_ADDRESS,
    O_REGION,
    O_INDUSTRY,
    O_SIZE,
    O_OCCUPATION,
    O_SOURCE,
    O_TAG,
    O_NOTES,
    O_EXT_REF,
    O_SINCE,
    O_OWNER,
    O_BRANCH,
    O_FORCE,
    O_VERSION,
    O_GRADE,
    O_STATUS,
    O_CREATED_FROM,
    O_CREATED_TO,
    O_SORT,
    O_LIMIT,
    O_AFTER,
    O_ALL,
    O_OUTPUT,
};

/* The probable duplicates that refused an add. */
static int duplicates(struct cli *cli, Kehu__V1__Response *resp, const struct kehu_status *st)
{
    const Kehu__V1__Duplicates *d = resp->duplicates;
    if (st->code != KEHU__V1__CODE__CONFLICT || resp->result_case != KEHU__V1__RESPONSE__RESULT_DUPLICATES || !d ||
        !d->n_matches)
        return refused(cli, resp, st);
    for (size_t i = 0; i < d->n_matches; i++) {
        const Kehu__V1__Duplicate *m = d->matches[i];
        char msg[600];
        if (m->customer && m->customer->name[0])
            snprintf(msg, sizeof msg, "probable duplicate of customer %" PRId64 " %s (%s)", m->customer->id,
                     m->customer->name, m->reason);
        else if (m->customer) /* one the caller may not read: only where it is */
            snprintf(msg, sizeof msg, "probable duplicate of customer %" PRId64 " in %s (%s)", m->customer->id,
                     m->customer->branch[0] ? m->customer->branch : "another branch", m->reason);
        else
            snprintf(msg, sizeof msg, "probable duplicate (%s)", m->reason);
        out_error(0, kehu_code_name(st->code), msg, NULL);
    }
    fputs(_("kehu: use --force to create anyway\n"), stderr);
    if (cli->json) {
        struct json_w w;
        cmd_customer_json_error(&w, st);
        cli_json_records(&w, "duplicates", &duplicate_rec, (void *const *)d->matches, d->n_matches);
        json_end_object(&w);
    }
    kehu_response_free(resp);
    return CLI_REFUSED;
}

static int run_customer_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "name", required_argument, NULL, O_NAME },
        { "kind", required_argument, NULL, O_KIND },
        { "phone", required_argument, NULL, O_PHONE },
        { "email", required_argument, NULL, O_EMAIL },
        { "id-number", required_argument, NULL, O_ID_NUMBER },
        { "company", required_argument, NULL, O_COMPANY },
        { "gender", required_argument, NULL, O_GENDER },
        { "birth", required_argument, NULL, O_BIRTH },
        { "address", required_argument, NULL, O_ADDRESS },
        { "region", required_argument, NULL, O_REGION },
        { "industry", required_argument, NULL, O_INDUSTRY },
        { "size", required_argument, NULL, O_SIZE },
        { "occupation", required_argument, NULL, O_OCCUPATION },
        { "source", required_argument, NULL, O_SOURCE },
        { "tag", required_argument, NULL, O_TAG },
        { "notes", required_argument, NULL, O_NOTES },
        { "ext-ref", required_argument, NULL, O_EXT_REF },
        { "since", required_argument, NULL, O_SINCE },
        { "owner", required_argument, NULL, O_OWNER },
        { "branch", required_argument, NULL, O_BRANCH },
        { "force", no_argument, NULL, O_FORCE },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__Customer cust = KEHU__V1__CUSTOMER__INIT;
    Kehu__V1__CustomerAdd add = KEHU__V1__CUSTOMER_ADD__INIT;
    /* every --phone and --tag points into argv: argc bounds their number */
    char **phones = out_xcalloc((size_t)argc, sizeof *phones);
    char **tags = out_xcalloc((size_t)argc, sizeof *tags);
    int c, rc = CLI_OK, k;
    while (rc == CLI_OK && (c = cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case O_NAME: cust.name = optarg; break;
        case O_KIND:
            if ((k = parse_name(cli, "--kind", optarg, kind_names, NELEMS(kind_names), NULL)) < 0)
                rc = cli->opt_rc;
            else
                cust.kind = (Kehu__V1__CustomerKind)k;
            break;
        case O_PHONE: phones[cust.n_phones++] = optarg; break;
        case O_EMAIL: cust.email = optarg; break;
        case O_ID_NUMBER: cust.id_number = optarg; break;
        case O_COMPANY: cust.company = optarg; break;
        case O_GENDER:
            if (parse_name(cli, "--gender", optarg, gender_names, NELEMS(gender_names), NULL) < 0)
                rc = cli->opt_rc;
            cust.gender = optarg;
            break;
        case O_BIRTH:
            rc = cmd_customer_check_date(cli, "--birth", optarg);
            cust.birth = optarg;
            break;
        case O_ADDRESS: cust.address = optarg; break;
        case O_REGION: cust.region = optarg; break;
        case O_INDUSTRY: cust.industry = optarg; break;
        case O_SIZE: cust.size = optarg; break;
        case O_OCCUPATION: cust.occupation = optarg; break;
        case O_SOURCE: cust.source = optarg; break;
        case O_TAG: tags[cust.n_tags++] = optarg; break;
        case O_NOTES: cust.notes = optarg; break;
        case O_EXT_REF: cust.ext_ref = optarg; break;
        case O_SINCE:
            rc = cmd_customer_check_date(cli, "--since", optarg);
            cust.since = optarg;
            break;
        case O_OWNER: add.owner = optarg; break;
        case O_BRANCH: add.branch = optarg; break;
        case O_FORCE: add.force = 1; break;
        default: rc = cli->opt_rc; break;
        }
    }
    if (rc == CLI_OK)
        rc = cli_args(cli, argc, argv, 0, 0);
    if (rc == CLI_OK && (!cust.name || !*cust.name))
        rc = cli_usage_error(cli, "--name is required");
    if (rc == CLI_OK) {
        cust.phones = phones;
        cust.tags = tags;
        add.customer = &cust;
        Kehu__V1__Request req;
        cli_request(&req, KEHU__V1__REQUEST__OP_CUSTOMER_ADD, &add);
        Kehu__V1__Response *resp;
        struct kehu_status st;
        rc = cmd_customer_call(cli, &req, &resp, &st);
        if (rc == CLI_REFUSED && resp)
            rc = duplicates(cli, resp, &st);
        else if (rc == CLI_OK && (resp->result_case != KEHU__V1__RESPONSE__RESULT_CUSTOMER || !resp->customer))
            rc = cli_bad_reply(cli, resp);
        else if (rc == CLI_OK) {
            print_result(cli, resp->customer, ADDED);
            kehu_response_free(resp);
        }
    }
    free(phones);
    free(tags);
    return rc;
}

/* ---- customer show | edit | archive ------------------------------------------------------ */

static void print_one_customer(struct cli *cli, const void *result)
{
    print_customers(cli, (Kehu__V1__Customer *const *)&result, 1, 0);
}

CLI_ONE_COMMAND(run_customer_show, KEHU__V1__REQUEST__OP_CUSTOMER_GET, &kehu__v1__customer_get__descriptor,
                "CUSTOMER_ID", "id", KEHU__V1__RESPONSE__RESULT_CUSTOMER, NULL, NULL, print_one_customer)

/* Sends an edit or archive that names the version read: prints the result,
 * or explains a stale version. */
static int call_versioned(struct cli *cli, const Kehu__V1__Request *req, int64_t id, int64_t version,
                          enum result what)
{
    Kehu__V1__Response *resp;
    struct kehu_status st;
    int rc = cmd_customer_call(cli, req, &resp, &st);
    if (rc == CLI_REFUSED && resp) {
        const Kehu__V1__Customer *cur =
            resp->result_case == KEHU__V1__RESPONSE__RESULT_CUSTOMER ? resp->customer : NULL;
        return cli_explain_stale(cli, resp, &st, "customer", id, version, cur, cur ? cur->version : 0,
                                 &customer_kind);
    }
    if (rc)
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_CUSTOMER || !resp->customer)
        return cli_bad_reply(cli, resp);
    print_result(cli, resp->customer, what);
    kehu_response_free(resp);
    return CLI_OK;
}

/* customer edit's field options: --phone P is --set phones=P (repeated
 * ones are joined), and so on for every field; the server also takes the
 * Chinese and other names of a field after --set (customer_headers.c). */
static const struct {
    const char *option, *field;
} edit_options[] = {
    { "name", "name" },         { "kind", "kind" },         { "ext-ref", "ext_ref" },   { "gender", "gender" },
    { "birth", "birth" },       { "id-number", "id_number" }, { "phone", "phones" },  { "phones", "phones" },
    { "email", "email" },       { "company", "company" },   { "address", "address" },   { "region", "region" },
    { "industry", "industry" }, { "size", "size" },         { "occupation", "occupation" },
    { "source", "source" },     { "tag", "tags" },          { "tags", "tags" },         { "notes", "notes" },
    { "since", "since" },
};
#define N_EDIT_OPTIONS NELEMS(edit_options)

/* Appends value to the --set of field (lists: comma-joined with an earlier one). */
static int edit_option(struct cli *cli, Kehu__V1__CustomerEdit *e, const char *field, const char *value)
{
    for (size_t i = 0; i < e->n_set; i++)
        if (strcmp(e->set[i]->field, field) == 0) {
            if (strcmp(field, "phones") && strcmp(field, "tags"))
                return cli_usage_error(cli, "--%s is given twice", field);
            size_t n = strlen(e->set[i]->value) + strlen(value) + 2;
            char *joined = out_xmalloc(n);
            snprintf(joined, n, "%s%s%s", e->set[i]->value, *e->set[i]->value ? "," : "", value);
            free(e->set[i]->value);
            e->set[i]->value = joined;
            return 0;
        }
    char *arg = out_xmalloc(strlen(field) + strlen(value) + 2);
    sprintf(arg, "%s=%s", field, value);
    int rc = cmd_customer_add_set(cli, arg, &e->set, &e->n_set);
    free(arg);
    return rc;
}

/* customer edit's help lists every field with its option and other names,
 * from the one table import reads headers with (built once at start). */
static char edit_help[4096];

__attribute__((constructor)) static void edit_help_build(void)
{
    size_t n = (size_t)snprintf(edit_help, sizeof edit_help, "%s",
                                "change a customer's fields: without --version only the named fields change, on the "
                                "current record (a change made meanwhile to other fields stays); with --version V, "
                                "only if the record is still at version V. Lists (phones, tags) are comma-separated; "
                                "an empty value clears a field. Fields, their options and the other names --set "
                                "(and import's header) takes:");
    const char *done[N_EDIT_OPTIONS];
    size_t ndone = 0;
    for (size_t i = 0; i < N_EDIT_OPTIONS && n < sizeof edit_help; i++) {
        const char *f = edit_options[i].field;
        int seen = 0;
        for (size_t k = 0; k < ndone; k++)
            seen |= strcmp(done[k], f) == 0;
        if (seen)
            continue;
        done[ndone++] = f;
        n += (size_t)snprintf(edit_help + n, sizeof edit_help - n, "\n  %-11s", f);
        const char *sep = "";
        for (size_t k = 0; k < N_EDIT_OPTIONS && n < sizeof edit_help; k++)
            if (strcmp(edit_options[k].field, f) == 0) {
                n += (size_t)snprintf(edit_help + n, sizeof edit_help - n, "%s--%s", sep, edit_options[k].option);
                sep = ", ";
            }
        for (size_t k = 0; k < customer_headers_count && n < sizeof edit_help; k++)
            if (strcmp(customer_headers[k].field, f) == 0 && strcmp(customer_headers[k].label, f) != 0)
                n += (size_t)snprintf(edit_help + n, sizeof edit_help - n, ", %s", customer_headers[k].label);
    }
    if (n >= sizeof edit_help) /* cut: end on a whole line */
        *strrchr(edit_help, '\n') = 0;
}

static int run_customer_edit(struct cli *cli, int argc, char **argv)
{
    enum { O_EDIT_VERSION = 0x400, O_EDIT_SET, O_EDIT_FIELD };
    static struct option opts[N_EDIT_OPTIONS + 3];
    if (!opts[0].name) {
        opts[0] = (struct option){ "version", required_argument, NULL, O_EDIT_VERSION };
        opts[1] = (struct option){ "set", required_argument, NULL, O_EDIT_SET };
        for (size_t i = 0; i < N_EDIT_OPTIONS; i++)
            opts[2 + i] = (struct option){ edit_options[i].option, required_argument, NULL, O_EDIT_FIELD + (int)i };
    }
    Kehu__V1__CustomerEdit edit = KEHU__V1__CUSTOMER_EDIT__INIT;
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == O_EDIT_VERSION)
            rc = cmd_customer_parse_int(cli, "--version", optarg, 1, INT64_MAX, &edit.version);
        else if (c == O_EDIT_SET)
            rc = cmd_customer_add_set(cli, optarg, &edit.set, &edit.n_set);
        else if (c >= O_EDIT_FIELD && c < O_EDIT_FIELD + (int)N_EDIT_OPTIONS)
            rc = edit_option(cli, &edit, edit_options[c - O_EDIT_FIELD].field, optarg);
        else
            rc = cli->opt_rc;
    }
    if (rc == CLI_OK)
        rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &edit.id);
    if (rc == CLI_OK && !edit.n_set)
        rc = cli_usage_error(cli, "nothing to change: give --set FIELD=VALUE or a field option (see kehu help customer edit)");
    if (rc == CLI_OK) {
        Kehu__V1__Request req;
        cli_request(&req, KEHU__V1__REQUEST__OP_CUSTOMER_EDIT, &edit);
        rc = call_versioned(cli, &req, edit.id, edit.version, UPDATED);
    }
    cmd_customer_free_set(edit.set, edit.n_set);
    return rc;
}

/* customer archive | unarchive: ID --version V into the request d (fields id, version). */
static int archive_call(struct cli *cli, int argc, char **argv, int op, const ProtobufCMessageDescriptor *d,
                        enum result what)
{
    static const struct cli_flag flags[] = { { "version", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
    char *m = out_xcalloc(1, d->sizeof_message);
    protobuf_c_message_init(d, m);
    int64_t *id = (int64_t *)(m + protobuf_c_message_descriptor_get_field_by_name(d, "id")->offset);
    int64_t *version = (int64_t *)(m + protobuf_c_message_descriptor_get_field_by_name(d, "version")->offset);
    int rc;
    if (!(rc = cli_flags(cli, argc, argv, d, flags, m, NULL, NULL)) &&
        !(rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", id))) {
        Kehu__V1__Request req;
        cli_request(&req, op, m);
        rc = call_versioned(cli, &req, *id, *version, what);
    }
    free(m);
    return rc;
}

static int run_customer_archive(struct cli *cli, int argc, char **argv)
{
    return archive_call(cli, argc, argv, KEHU__V1__REQUEST__OP_CUSTOMER_ARCHIVE, &kehu__v1__customer_archive__descriptor,
                        ARCHIVED);
}

static int run_customer_unarchive(struct cli *cli, int argc, char **argv)
{
    return archive_call(cli, argc, argv, KEHU__V1__REQUEST__OP_CUSTOMER_UNARCHIVE,
                        &kehu__v1__customer_unarchive__descriptor, UNARCHIVED);
}

/* ---- customer merge | unmerge ------------------------------------------------------------ */

static const struct rec_kind merge_field_rec = { &kehu__v1__merge_field__descriptor, "field before after", NULL, NULL,
                                                 NULL };

/* a plan is a dry run: nothing merged yet */
static void plan_dry_run(struct json_w *w, const void *msg)
{
    (void)msg;
    json_bool(w, 1);
}
static void plan_keep(struct json_w *w, const void *msg)
{
    rec_json(w, &cli_customer_rec, ((const Kehu__V1__MergePlan *)msg)->keep);
}
static void plan_other(struct json_w *w, const void *msg)
{
    rec_json(w, &cli_customer_rec, ((const Kehu__V1__MergePlan *)msg)->other);
}
/* {"contacts": 2, ...}: what moves, how many of each */
static void plan_moves(struct json_w *w, const void *msg)
{
    const Kehu__V1__MergePlan *p = msg;
    json_begin_object(w);
    for (size_t i = 0; i < p->n_moves; i++)
        json_kint(w, p->moves[i]->what, p->moves[i]->count);
    json_end_object(w);
}
REC_JSON_ARRAY(plan_fields, Kehu__V1__MergePlan, fields, &merge_field_rec)
static const struct rec_calc merge_plan_calc[] = {
    { "dry_run", plan_dry_run, NULL }, { "keep", plan_keep, NULL },     { "other", plan_other, NULL },
    { "moves", plan_moves, NULL },     { "fields", plan_fields, NULL }, { NULL, NULL, NULL },
};
static const struct rec_kind merge_plan_rec = {
    &kehu__v1__merge_plan__descriptor, "dry_run=@dry_run keep=@keep other=@other moves=@moves fields=@fields grades",
    NULL, NULL, merge_plan_calc,
};

static void undone_keep(struct json_w *w, const void *msg)
{
    rec_json(w, &cli_customer_rec, ((const Kehu__V1__MergeUndone *)msg)->keep);
}
static void undone_other(struct json_w *w, const void *msg)
{
    rec_json(w, &cli_customer_rec, ((const Kehu__V1__MergeUndone *)msg)->other);
}
static const struct rec_calc merge_undone_calc[] = { { "keep", undone_keep, NULL }, { "other", undone_other, NULL },
                                                     { NULL, NULL, NULL } };
static const struct rec_kind merge_undone_rec = { &kehu__v1__merge_undone__descriptor,
                                                  "merge_id keep=@keep other=@other", NULL, NULL, merge_undone_calc };

/* The plan for people: both records, which one is kept, what moves. */
static void print_merge_plan(FILE *f, const Kehu__V1__MergePlan *p)
{
    fprintf(f, "keep:  customer %" PRId64 " %s (%s, version %" PRId64 ")\n", p->keep->id, p->keep->name,
            p->keep->branch, p->keep->version);
    fprintf(f, "merge: customer %" PRId64 " %s (%s, version %" PRId64 ") into it; it remains only as a pointer\n",
            p->other->id, p->other->name, p->other->branch, p->other->version);
    fprintf(f, "moves from %" PRId64 " to %" PRId64 ":", p->other->id, p->keep->id);
    for (size_t i = 0; i < p->n_moves; i++)
        fprintf(f, "%s %" PRId64 " %s", i ? "," : "", p->moves[i]->count, p->moves[i]->what);
    fputc('\n', f);
    if (p->n_fields) {
        fprintf(f, "fields customer %" PRId64 " takes over:\n", p->keep->id);
        for (size_t i = 0; i < p->n_fields; i++)
            fprintf(f, "  %-12s %s -> %s\n", p->fields[i]->field, *p->fields[i]->before ? p->fields[i]->before : "(empty)",
                    p->fields[i]->after);
    }
    fprintf(f, "grades: %s\n", p->grades);
}

/* Asks on the terminal; 1 for yes. */
static int confirm_merge(void)
{
    fputs(_("merge? [y/N] "), stderr);
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 0;
    return strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0 || strcmp(line, "Y\n") == 0;
}

static int run_customer_merge(struct cli *cli, int argc, char **argv)
{
    enum { O_DRY = 0x400, O_YES };
    static const struct option opts[] = {
        { "dry-run", no_argument, NULL, O_DRY },
        { "yes", no_argument, NULL, O_YES },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__CustomerMerge merge = KEHU__V1__CUSTOMER_MERGE__INIT;
    int c, rc, dry = 0, yes = 0;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == O_DRY)
            dry = 1;
        else if (c == O_YES)
            yes = 1;
        else
            return cli->opt_rc;
    }
    if ((rc = cli_args(cli, argc, argv, 2, 2)) ||
        (rc = cmd_customer_parse_int(cli, "KEEP_ID", argv[optind], 1, INT64_MAX, &merge.keep_id)) ||
        (rc = cmd_customer_parse_int(cli, "OTHER_ID", argv[optind + 1], 1, INT64_MAX, &merge.other_id)))
        return rc;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_CUSTOMER_MERGE, &merge);
    /* a dry run, or a merge a person confirms on a terminal, starts with the plan */
    int ask = !dry && !yes && term_is_tty(0) && term_is_tty(2);
    if (dry || ask) {
        merge.dry_run = 1;
        Kehu__V1__Response *resp;
        if ((rc = cli_call(cli, &req, &resp)))
            return rc;
        if (resp->result_case != KEHU__V1__RESPONSE__RESULT_MERGE_PLAN || !resp->merge_plan)
            return cli_bad_reply(cli, resp);
        const Kehu__V1__MergePlan *p = resp->merge_plan;
        if (dry) {
            if (cli->json)
                cli_json_record(&merge_plan_rec, p);
            else
                print_merge_plan(stdout, p);
            kehu_response_free(resp);
            return CLI_OK;
        }
        print_merge_plan(stderr, p);
        merge.keep_version = p->keep->version; /* merge what was shown, or nothing */
        merge.other_version = p->other->version;
        kehu_response_free(resp);
        if (!confirm_merge())
            return cli_error(cli, CLI_REFUSED, "not merged");
        merge.dry_run = 0;
    }
    Kehu__V1__Response *resp;
    struct kehu_status st;
    rc = cmd_customer_call(cli, &req, &resp, &st);
    if (rc == CLI_REFUSED && resp)
        return refused(cli, resp, &st);
    if (rc)
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_CUSTOMER || !resp->customer)
        return cli_bad_reply(cli, resp);
    Kehu__V1__Customer *k = resp->customer;
    if (cli->json || cli->csv) {
        print_customers(cli, &k, 1, 0);
    } else {
        cli_say("merged customer %" PRId64 " into customer %" PRId64 " %s (version %" PRId64 "), merge %" PRId64 "\n",
                merge.other_id, k->id, k->name, k->version, k->merge_id);
        cli_say("undo with: kehu customer unmerge %" PRId64 " (while customer %" PRId64 " is not changed)\n",
                merge.other_id, k->id);
    }
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_customer_unmerge(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int64_t id;
    int rc = cli_id_arg(cli, argc, argv, "MERGE_ID|OTHER_ID", &id);
    if (rc)
        return rc;
    Kehu__V1__CustomerUnmerge m = KEHU__V1__CUSTOMER_UNMERGE__INIT;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_CUSTOMER_UNMERGE, &m);
    /* the merged customer's id first (what people see), then a merge's id */
    Kehu__V1__Response *resp;
    struct kehu_status st;
    m.other_id = id;
    rc = cmd_customer_call(cli, &req, &resp, &st);
    if (rc == CLI_REFUSED && st.code == KEHU__V1__CODE__NOT_FOUND && strcmp(st.field, "other_id") == 0) {
        kehu_response_free(resp);
        resp = NULL;
        m.other_id = 0;
        m.merge_id = id;
        rc = cmd_customer_call(cli, &req, &resp, &st);
        if (rc == CLI_REFUSED && st.code == KEHU__V1__CODE__NOT_FOUND && strcmp(st.field, "merge_id") == 0) {
            kehu_response_free(resp);
            snprintf(st.message, sizeof st.message, "no merged customer and no merge %" PRId64, id);
            return cli_fail_status(cli, &st);
        }
    }
    if (rc == CLI_REFUSED && resp)
        return refused(cli, resp, &st);
    if (rc)
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_MERGE_UNDONE || !resp->merge_undone ||
        !resp->merge_undone->keep || !resp->merge_undone->other)
        return cli_bad_reply(cli, resp);
    const Kehu__V1__MergeUndone *u = resp->merge_undone;
    if (cli->json) {
        cli_json_record(&merge_undone_rec, u);
    } else {
        cli_say("merge %" PRId64 " undone: customer %" PRId64 " %s is back; customer %" PRId64 " %s is as before\n",
                u->merge_id, u->other->id, u->other->name, u->keep->id, u->keep->name);
    }
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- customer list | search ------------------------------------------------------------- */

/* The pages of a list, kept until everything is printed. */
struct pages {
    Kehu__V1__Response **resp;
    size_t nresp;
    Kehu__V1__Customer **items;
    size_t n;
};

static void pages_add(struct pages *p, Kehu__V1__Response *resp, Kehu__V1__Customer **items, size_t n)
{
    p->resp = out_xrealloc(p->resp, (p->nresp + 1) * sizeof *p->resp);
    p->resp[p->nresp++] = resp;
    if (n) {
        p->items = out_xrealloc(p->items, (p->n + n) * sizeof *p->items);
        memcpy(p->items + p->n, items, n * sizeof *items);
        p->n += n;
    }
}

static void pages_free(struct pages *p)
{
    for (size_t i = 0; i < p->nresp; i++)
        kehu_response_free(p->resp[i]);
    free(p->resp);
    free(p->items);
}

static void words_add(struct cmd_words *ws, const char *flag, const char *value)
{
    if (value && *value && ws->n + 2 <= NELEMS(ws->w)) {
        ws->w[ws->n++] = flag;
        ws->w[ws->n++] = value;
    }
}

int cli_customer_filter_option(struct cli *cli, int opt, const char *arg, Kehu__V1__CustomerList *f, int check_status)
{
    switch (opt) {
    case CLI_F_OWNER: f->owner = (char *)arg; return CLI_OK;
    case CLI_F_BRANCH: f->branch = (char *)arg; return CLI_OK;
    case CLI_F_GRADE: f->grade = (char *)arg; return CLI_OK;
    case CLI_F_STATUS:
        if (check_status && parse_name(cli, "--status", arg, status_names, NELEMS(status_names), "all") < 0)
            return cli->opt_rc;
        f->status = (char *)arg;
        return CLI_OK;
    case CLI_F_TAG: f->tag = (char *)arg; return CLI_OK;
    case CLI_F_REGION: f->region = (char *)arg; return CLI_OK;
    case CLI_F_INDUSTRY: f->industry = (char *)arg; return CLI_OK;
    case CLI_F_SOURCE: f->source = (char *)arg; return CLI_OK;
    case CLI_F_CREATED_FROM: f->created_from = (char *)arg; return cli_check_date(cli, "--created-from", arg);
    case CLI_F_CREATED_TO: f->created_to = (char *)arg; return cli_check_date(cli, "--created-to", arg);
    default: return -1;
    }
}

/* The filters of `customer list` and `customer export`, parsed into list;
 * the words that repeat them go to ws. `all` and `output` are set when the
 * command has those options (NULL otherwise). Returns 0 or an exit code. */
int cmd_customer_list_options(struct cli *cli, int argc, char **argv, Kehu__V1__CustomerList *list,
                              struct cmd_words *ws, int *all, const char **output)
{
    static const struct option list_opts[] = {
        CLI_CUSTOMER_FILTER_OPTIONS,
        { "sort", required_argument, NULL, O_SORT },
        { "limit", required_argument, NULL, O_LIMIT },
        { "after", required_argument, NULL, O_AFTER },
        { "all", no_argument, NULL, O_ALL },
        { NULL, 0, NULL, 0 },
    };
    static const struct option export_opts[] = {
        CLI_CUSTOMER_FILTER_OPTIONS,
        { "sort", required_argument, NULL, O_SORT },
        { "output", required_argument, NULL, O_OUTPUT },
        { NULL, 0, NULL, 0 },
    };
    const char *limit_arg = NULL;
    int c, rc;
    int64_t limit = 0;
    while ((c = cli_getopt(cli, argc, argv, output ? export_opts : list_opts)) != -1) {
        rc = CLI_OK;
        if ((rc = cli_customer_filter_option(cli, c, optarg, list, 1)) >= 0) {
            if (rc)
                return rc;
            continue;
        }
        rc = CLI_OK;
        switch (c) {
        case O_SORT:
            if (parse_name(cli, "--sort", optarg, sort_names, NELEMS(sort_names), NULL) < 0)
                return cli->opt_rc;
            list->sort = optarg;
            break;
        case O_LIMIT:
            rc = cmd_customer_parse_int(cli, "--limit", optarg, 1, LIST_LIMIT_MAX, &limit);
            limit_arg = optarg;
            break;
        case O_AFTER: list->after = optarg; break;
        case O_ALL: *all = 1; break;
        case O_OUTPUT: *output = optarg; break;
        default: return cli->opt_rc;
        }
        if (rc)
            return rc;
    }
    if ((rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    list->limit = (uint32_t)limit;
    words_add(ws, "--owner", list->owner);
    words_add(ws, "--branch", list->branch);
    words_add(ws, "--grade", list->grade);
    words_add(ws, "--status", list->status);
    words_add(ws, "--tag", list->tag);
    words_add(ws, "--region", list->region);
    words_add(ws, "--industry", list->industry);
    words_add(ws, "--source", list->source);
    words_add(ws, "--created-from", list->created_from);
    words_add(ws, "--created-to", list->created_to);
    words_add(ws, "--sort", list->sort);
    words_add(ws, "--limit", limit_arg);
    return CLI_OK;
}

static int run_customer_list(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__CustomerList list = KEHU__V1__CUSTOMER_LIST__INIT;
    struct cmd_words ws = { .w = { "customer", "list" }, .n = 2 };
    int rc, all = 0;
    if ((rc = cmd_customer_list_options(cli, argc, argv, &list, &ws, &all, NULL)))
        return rc;

    struct pages pages = { 0 };
    const char *next = NULL;
    uint32_t remaining = 0;
    int remaining_more = 0;
    Kehu__V1__Request req;
    cli_request(&req, KEHU__V1__REQUEST__OP_CUSTOMER_LIST, &list);
    for (;;) {
        Kehu__V1__Response *resp;
        if ((rc = cli_call(cli, &req, &resp)))
            break;
        const Kehu__V1__CustomerPage *page = resp->customers;
        if (resp->result_case != KEHU__V1__RESPONSE__RESULT_CUSTOMERS || !page ||
            (page->next_cursor[0] && list.after && strcmp(page->next_cursor, list.after) == 0)) {
            rc = cli_bad_reply(cli, resp); /* a cursor that goes nowhere would loop forever */
            break;
        }
        pages_add(&pages, resp, page->customers, page->n_customers);
        next = page->next_cursor[0] ? page->next_cursor : NULL;
        remaining = page->remaining;
        remaining_more = page->remaining_more;
        if (!all || !next)
            break;
        list.after = page->next_cursor;
    }
    if (rc == CLI_OK) {
        print_customers(cli, pages.items, pages.n, 1);
        if (next && remaining_more && !cli->json && !cli->csv) {
            fflush(stdout);
            fprintf(stderr, _("more than %u more (--all for every one); the next page:\n"), remaining);
            cmd_customer_more(cli, ws.w, ws.n, next);
        } else if (next) {
            cli_page_more(cli, ws.w, ws.n, next, remaining);
        }
    }
    pages_free(&pages);
    return rc;
}

/* The options of a command whose only option is --limit N (1..max). */
static int limit_option(struct cli *cli, int argc, char **argv, int64_t max, int64_t *limit)
{
    static const struct option opts[] = {
        { "limit", required_argument, NULL, O_LIMIT },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != O_LIMIT)
            return cli->opt_rc;
        if ((rc = cmd_customer_parse_int(cli, "--limit", optarg, 1, max, limit)))
            return rc;
    }
    return CLI_OK;
}

static int run_customer_search(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__CustomerSearch search = KEHU__V1__CUSTOMER_SEARCH__INIT;
    int64_t limit = 0;
    int rc;
    if ((rc = limit_option(cli, argc, argv, SEARCH_LIMIT_MAX, &limit)))
        return rc;
    if ((rc = cli_args(cli, argc, argv, 1, 1)))
        return rc;
    search.text = argv[optind];
    if (!*search.text)
        return cli_usage_error(cli, "TEXT is empty");
    search.limit = (uint32_t)limit;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_CUSTOMER_SEARCH, &search, KEHU__V1__RESPONSE__RESULT_CUSTOMERS,
                      &resp)))
        return rc;
    print_customers(cli, resp->customers->customers, resp->customers->n_customers, 1);
    kehu_response_free(resp);
    return CLI_OK;
}

/* ---- customer history ------------------------------------------------------------------- */

/* The customer whose history is shown: its own changes say "customer",
 * others (a contact's, a merged customer's) name their id too. */
static int64_t history_of;

static char *change_entity(const void *msg)
{
    const Kehu__V1__Change *ch = msg;
    if (strcmp(ch->entity, "customer") == 0 && (ch->entity_id == history_of || !ch->entity_id))
        return out_xstrdup(ch->entity);
    return out_xprintf("%s %" PRId64, ch->entity, ch->entity_id);
}
/* an owner or a branch by its name rather than its id */
static char *change_old(const void *msg)
{
    const Kehu__V1__Change *ch = msg;
    return out_xstrdup(*ch->old_name ? ch->old_name : ch->old_value);
}
static char *change_new(const void *msg)
{
    const Kehu__V1__Change *ch = msg;
    return out_xstrdup(*ch->new_name ? ch->new_name : ch->new_value);
}
static const struct rec_calc change_calc[] = {
    { "entity", NULL, change_entity }, { "old", NULL, change_old }, { "new", NULL, change_new }, { NULL, NULL, NULL },
};
static const struct rec_col change_cols[] = {
    { REC_AS_IS("TIME"), "at_ms", OUT_LEFT, 0 },        { REC_AS_IS("BY"), "by", OUT_LEFT, 0 },
    { REC_AS_IS("ENTITY"), "@entity", OUT_LEFT, 0 },    { REC_AS_IS("FIELD"), "field", OUT_LEFT, 0 },
    { REC_AS_IS("OLD"), "@old", OUT_LEFT, VALUE_COLS }, { REC_AS_IS("NEW"), "@new", OUT_LEFT, VALUE_COLS },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind change_rec = {
    &kehu__v1__change__descriptor,
    "at_ms by entity entity_id field old_value new_value version +~old_name? +~new_name?", change_cols,
    REC_AS_IS("no changes recorded"), change_calc,
};
static const struct cli_record_kind change_kind = { .rec = &change_rec };

static void print_changes(struct cli *cli, int64_t customer_id, Kehu__V1__Change *const *chs, size_t n)
{
    history_of = customer_id;
    cli_print_records(cli, (void *const *)chs, n, 1, &change_kind);
}

static int run_customer_history(struct cli *cli, int argc, char **argv)
{
    Kehu__V1__CustomerHistory hist = KEHU__V1__CUSTOMER_HISTORY__INIT;
    int64_t limit = 0;
    int rc;
    if ((rc = limit_option(cli, argc, argv, HISTORY_LIMIT_MAX, &limit)))
        return rc;
    if ((rc = cli_id_arg(cli, argc, argv, "CUSTOMER_ID", &hist.customer_id)))
        return rc;
    hist.limit = (uint32_t)limit;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_CUSTOMER_HISTORY, &hist, KEHU__V1__RESPONSE__RESULT_CHANGES, &resp)))
        return rc;
    print_changes(cli, hist.customer_id, resp->changes->changes, resp->changes->n_changes);
    kehu_response_free(resp);
    return CLI_OK;
}

const struct cli_cmd cmd_customer_table[] = {
    { "customer add",
      "--name NAME [--kind individual|corporate] [--phone P]... [--email E] [--id-number N] [--company C] "
      "[--gender male|female] [--birth DATE] [--tag T]... [--owner U] [--branch UNIT] [--force] [FIELD OPTIONS]",
      N_("add a customer; a probable duplicate is refused unless --force. Field options: --address A, --region R, "
      "--industry I, --size S, --occupation O, --source S, --notes N, --ext-ref REF, --since DATE"),
      1, run_customer_add },
    { "customer show", "ID", N_("show a customer"), 1, run_customer_show },
    { "customer edit", "ID [--version V] --set FIELD=VALUE... [--FIELD VALUE]...",
      edit_help, 1, run_customer_edit },
    { "customer archive", "ID [--version V]", N_("archive a customer"), 1, run_customer_archive },
    { "customer unarchive", "ID [--version V]", N_("make an archived customer active again"), 1,
      run_customer_unarchive },
    { "customer merge", "KEEP_ID OTHER_ID [--dry-run] [--yes]",
      N_("merge OTHER into KEEP: every contact, transaction, payment, asset snapshot, follow-up, document and history "
      "row moves; --dry-run shows what would move and the fields KEEP takes over; on a terminal the plan is shown "
      "and must be confirmed (--yes skips that; without a terminal nothing is asked); undo with customer unmerge"),
      1, run_customer_merge },
    { "customer unmerge", "MERGE_ID|OTHER_ID",
      N_("undo a merge while the kept customer is unchanged since: both customers and their rows as before"), 1,
      run_customer_unmerge },
    { "customer list",
      "[--owner U] [--branch B] [--grade G] [--status S] [--tag T] [--region R] [--industry I] [--source S] "
      "[--created-from DATE] [--created-to DATE] [--sort name|created|last_contact|revenue] [--limit N] "
      "[--after CURSOR] [--all]",
      N_("list customers, one page (or --all)"), 1, run_customer_list },
    { "customer search", "TEXT [--limit N]", N_("find customers by name, phone, ID number, ..."), 1,
      run_customer_search },
    { "customer history", "ID [--limit N]", N_("a customer's changes, newest first"), 1, run_customer_history },
    { NULL, NULL, NULL, 0, NULL },
};
