/* Organisation and user commands: org add|list|rename|move, user
 * add|list|disable|enable|move|set-role|reset-password, and the one way
 * users are printed. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "out.h"
#include "term.h"

/* An id for a table cell, or nothing when it is 0 (none). */
static void id_or_blank(char *buf, size_t n, int64_t id)
{
    if (id)
        snprintf(buf, n, "%" PRId64, id);
    else if (n)
        buf[0] = 0;
}

/* ---- Printing ------------------------------------------------------------------------ */

static void json_kid(struct json_w *w, const char *key, int64_t id)
{
    if (id)
        json_kint(w, key, id);
    else
        json_knull(w, key); /* 0 means none: the head office's parent, no branch */
}

static const char *role_str(Kehu__V1__Role role)
{
    const char *s = kehu_role_name(role);
    return s ? s : "unknown";
}

static const char *kind_str(Kehu__V1__UnitKind kind)
{
    const char *s = kehu_unit_kind_name(kind);
    return s ? s : "unknown";
}

static void json_user(struct json_w *w, const void *item)
{
    const Kehu__V1__User *u = item;
    char created[OUT_TIME_BUFSZ];
    out_time_ms(u->created_at_ms, created, sizeof created);
    json_begin_object(w);
    json_kint(w, "id", u->id);
    json_kstr(w, "username", u->username);
    json_kstr(w, "display_name", u->display_name);
    json_kstr(w, "role", kehu_role_name(u->role));
    json_kint(w, "unit_id", u->unit_id);
    json_kstr(w, "unit_name", u->unit_name);
    json_kid(w, "branch_id", u->branch_id);
    json_kbool(w, "disabled", u->disabled);
    json_kbool(w, "must_change_password", u->must_change_password);
    json_kstr(w, "created_at", *created ? created : NULL);
    json_end_object(w);
}

static const char *const user_csv_head[] = { "id",        "username",  "display_name", "role",      "unit_id",
                                             "unit_name", "branch_id", "disabled",     "created_at" };

static void csv_user(const void *item)
{
    const Kehu__V1__User *u = item;
    char id[24], unit[24], branch[24], created[OUT_TIME_BUFSZ];
    snprintf(id, sizeof id, "%" PRId64, u->id);
    snprintf(unit, sizeof unit, "%" PRId64, u->unit_id);
    id_or_blank(branch, sizeof branch, u->branch_id);
    out_time_ms(u->created_at_ms, created, sizeof created);
    const char *row[] = { id,     u->username, u->display_name, kehu_role_name(u->role),    unit,
                          u->unit_name, branch, u->disabled ? "true" : "false", created };
    cli_csv_row(stdout, 9, row);
}

static void kv_user(const void *item)
{
    const Kehu__V1__User *u = item;
    char created[OUT_TIME_BUFSZ];
    out_time_ms(u->created_at_ms, created, sizeof created);
    struct out_kv *kv = out_kv_new();
    out_kv_addf(kv, "id", "%" PRId64, u->id);
    out_kv_add(kv, "username", u->username);
    out_kv_add(kv, "name", u->display_name);
    out_kv_add(kv, "role", role_str(u->role));
    out_kv_addf(kv, "unit", "%s (%" PRId64 ")", u->unit_name, u->unit_id);
    if (u->branch_id)
        out_kv_addf(kv, "branch id", "%" PRId64, u->branch_id);
    else
        out_kv_add(kv, "branch id", "-");
    out_kv_add(kv, "status", u->disabled                ? "disabled"
                             : u->must_change_password ? "active (must change the password at the next login)"
                                                       : "active");
    out_kv_add(kv, "created", created);
    out_kv_print(kv, stdout);
    out_kv_free(kv);
}

static void table_users(void *const *users, size_t n)
{
    static const char *const head[] = { "ID", "USERNAME", "NAME", "ROLE", "UNIT", "STATUS" };
    struct out_table *t = out_table_new(6, head);
    out_table_empty(t, "no users match");
    out_table_align(t, 0, OUT_RIGHT);
    out_table_max_width(t, 2, 24);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__User *u = users[i];
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, u->id);
        const char *row[] = { id, u->username, u->display_name, role_str(u->role), u->unit_name,
                              u->disabled ? "disabled" : "active" };
        out_table_add(t, row);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static const struct cli_record_kind user_kind = { json_user, 9, user_csv_head, csv_user, table_users, kv_user };

void cmd_org_print_users(struct cli *cli, Kehu__V1__User *const *users, size_t n, int list)
{
    cli_print_records(cli, (void *const *)users, n, list, &user_kind);
}

static void json_unit(struct json_w *w, const void *item)
{
    const Kehu__V1__OrgUnit *u = item;
    json_begin_object(w);
    json_kint(w, "id", u->id);
    json_kstr(w, "name", u->name);
    json_kstr(w, "kind", kehu_unit_kind_name(u->kind));
    json_kid(w, "parent_id", u->parent_id);
    json_kstr(w, "parent_name", u->parent_id ? u->parent_name : NULL);
    json_kuint(w, "depth", u->depth);
    json_kid(w, "branch_id", u->branch_id);
    json_kstr(w, "path", u->path);
    json_end_object(w);
}

static const char *const unit_csv_head[] = { "id",    "name",      "kind", "parent_id",
                                             "parent_name", "depth", "branch_id", "path" };

static void csv_unit(const void *item)
{
    const Kehu__V1__OrgUnit *u = item;
    char id[24], parent[24], depth[16], branch[24];
    snprintf(id, sizeof id, "%" PRId64, u->id);
    id_or_blank(parent, sizeof parent, u->parent_id);
    snprintf(depth, sizeof depth, "%u", u->depth);
    id_or_blank(branch, sizeof branch, u->branch_id);
    const char *row[] = { id, u->name, kehu_unit_kind_name(u->kind), parent, u->parent_name, depth, branch, u->path };
    cli_csv_row(stdout, 8, row);
}

/* A unit just added, for people. */
static void added_unit(const void *item)
{
    const Kehu__V1__OrgUnit *u = item;
    if (u->parent_id)
        cli_say("added org unit %" PRId64 " %s (%s, under %s)\n", u->id, u->name, kind_str(u->kind), u->parent_name);
    else
        cli_say("added org unit %" PRId64 " %s (%s)\n", u->id, u->name, kind_str(u->kind));
}

/* The units in tree order (as the server sends them), names indented by depth. */
static void table_units(void *const *units, size_t n)
{
    static const char *const head[] = { "ID", "NAME", "KIND", "PARENT" };
    struct out_table *t = out_table_new(4, head);
    out_table_align(t, 0, OUT_RIGHT);
    for (size_t i = 0; i < n; i++) {
        const Kehu__V1__OrgUnit *u = units[i];
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, u->id);
        unsigned depth = u->depth < 16 ? u->depth : 16;
        char *name = out_xmalloc(2 * depth + strlen(u->name) + 1);
        memset(name, ' ', 2 * depth);
        strcpy(name + 2 * depth, u->name);
        const char *row[] = { id, name, kind_str(u->kind), u->parent_id ? u->parent_name : "" };
        out_table_add(t, row);
        free(name);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

static const struct cli_record_kind unit_kind = { json_unit, 8, unit_csv_head, csv_unit, table_units, added_unit };

/* A unit renamed or moved, for people: where it is now. */
static void changed_unit(const void *item)
{
    const Kehu__V1__OrgUnit *u = item;
    cli_say("org unit %" PRId64 " is now %s (%s)\n", u->id, u->path, kind_str(u->kind));
}

static const struct cli_record_kind changed_unit_kind = { json_unit,  8,          unit_csv_head, csv_unit,
                                                          table_units, changed_unit };

/* Org units: one (list = 0) or a list (the server sends tree order). */
static void print_units(struct cli *cli, Kehu__V1__OrgUnit *const *units, size_t n, int list)
{
    cli_print_records(cli, (void *const *)units, n, list, &unit_kind);
}

/* ---- org ----------------------------------------------------------------------------- */

static int run_org_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "kind", required_argument, NULL, 'k' },
        { "parent", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__OrgAdd add = KEHU__V1__ORG_ADD__INIT;
    int c;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == 'k' && cli_parse_kind(cli, "--kind", optarg, &add.kind) == 0)
            continue;
        if (c == 'p') {
            add.parent = optarg;
            continue;
        }
        return cli->opt_rc;
    }
    int rc = cli_args(cli, argc, argv, 1, 1);
    if (rc)
        return rc;
    add.name = argv[optind];
    if (!add.kind)
        return cli_usage_error(cli, "--kind is required (region, branch or team)");
    if (!add.parent)
        return cli_usage_error(cli, "--parent is required (the parent unit's id or name)");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_ADD;
    req.org_add = &add;
    Kehu__V1__Response *resp;
    if ((rc = cli_call(cli, &req, &resp)))
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_ORG_UNIT || !resp->org_unit)
        return cli_bad_reply(cli, resp);
    print_units(cli, &resp->org_unit, 1, 0);
    kehu_response_free(resp);
    return CLI_OK;
}

static int unit_page(const Kehu__V1__Response *resp, void *const **items, size_t *n, const char **next,
                     uint32_t *remaining)
{
    const Kehu__V1__OrgUnitList *l = resp->org_units;
    if (!l)
        return -1;
    *items = (void *const *)l->units;
    *n = l->n_units;
    *next = l->next_cursor;
    *remaining = l->remaining;
    return 0;
}

static int run_org_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = { CLI_PAGING_OPTIONS, { NULL, 0, NULL, 0 } };
    struct cli_paging pg = { 0 };
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1)
        if ((rc = cli_page_option(cli, c, optarg, 1000, &pg)) != CLI_OK)
            return rc < 0 ? cli->opt_rc : rc;
    if ((rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    Kehu__V1__OrgList list = KEHU__V1__ORG_LIST__INIT;
    list.limit = pg.limit;
    list.after = (char *)(pg.after ? pg.after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_LIST;
    req.org_list = &list;
    struct cli_pages pages = { 0 };
    rc = cli_fetch_pages(cli, &req, KEHU__V1__RESPONSE__RESULT_ORG_UNITS, &list.after, pg.all, unit_page, &pages);
    if (rc == CLI_OK) {
        print_units(cli, (Kehu__V1__OrgUnit **)pages.items, pages.n, 1);
        const char *words[] = { "org", "list", "--limit", pg.limit_arg };
        cli_page_more(cli, words, pg.limit_arg ? 4 : 2, pages.next, pages.remaining);
    }
    cli_pages_free(&pages);
    return rc;
}

/* Sends a request answered with one OrgUnit (renamed, moved) and prints it. */
static int call_unit_change(struct cli *cli, Kehu__V1__Request *req)
{
    Kehu__V1__Response *resp;
    int rc = cli_call_for(cli, req, KEHU__V1__RESPONSE__RESULT_ORG_UNIT, &resp);
    if (rc)
        return rc;
    if (!resp->org_unit)
        return cli_bad_reply(cli, resp);
    cli_print_records(cli, (void *const *)&resp->org_unit, 1, 0, &changed_unit_kind);
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_org_rename(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int rc = cli_args(cli, argc, argv, 2, 2);
    if (rc)
        return rc;
    Kehu__V1__OrgRename ren = KEHU__V1__ORG_RENAME__INIT;
    ren.unit = argv[optind];
    ren.name = argv[optind + 1];
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_RENAME;
    req.org_rename = &ren;
    return call_unit_change(cli, &req);
}

static int run_org_move(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "parent", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__OrgMove move = KEHU__V1__ORG_MOVE__INIT;
    int c;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != 'p')
            return cli->opt_rc;
        move.parent = optarg;
    }
    int rc = cli_args(cli, argc, argv, 1, 1);
    if (rc)
        return rc;
    move.unit = argv[optind];
    if (!move.parent || !*move.parent) /* the message's default is "" */
        return cli_usage_error(cli, "--parent is required (the new parent unit's id, path or name)");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_ORG_MOVE;
    req.org_move = &move;
    return call_unit_change(cli, &req);
}

/* ---- user ---------------------------------------------------------------------------- */

char *cmd_org_new_password(struct cli *cli, const char *username, int *rc)
{
    char err[256], prompt[200];
    snprintf(prompt, sizeof prompt, _("New password for %s: "), username);
    char *pw = term_read_password(prompt, "KEHU_NEW_PASSWORD", err, sizeof err);
    if (!pw) {
        *rc = cli_error(cli, CLI_USAGE, "%s", err);
        return NULL;
    }
    if (!term_is_tty(STDIN_FILENO))
        return pw;
    char *again = term_read_password(_("Repeat the password: "), "KEHU_NEW_PASSWORD", err, sizeof err);
    if (!again) {
        term_free_secret(pw);
        *rc = cli_error(cli, CLI_USAGE, "%s", err);
        return NULL;
    }
    int same = strcmp(pw, again) == 0;
    term_free_secret(again);
    if (!same) {
        term_free_secret(pw);
        *rc = cli_error(cli, CLI_USAGE, "the passwords do not match");
        return NULL;
    }
    return pw;
}

/* Sends a request answered with one User and prints it. */
static int call_user(struct cli *cli, Kehu__V1__Request *req)
{
    Kehu__V1__Response *resp;
    int rc = cli_call(cli, req, &resp);
    if (rc)
        return rc;
    if (resp->result_case != KEHU__V1__RESPONSE__RESULT_USER || !resp->user)
        return cli_bad_reply(cli, resp);
    cmd_org_print_users(cli, &resp->user, 1, 0);
    kehu_response_free(resp);
    return CLI_OK;
}

static int run_user_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "role", required_argument, NULL, 'r' },
        { "unit", required_argument, NULL, 'u' },
        { "name", required_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__UserAdd add = KEHU__V1__USER_ADD__INIT;
    int c;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == 'r' && cli_parse_role(cli, "--role", optarg, &add.role) == 0)
            continue;
        if (c == 'u') {
            add.unit = optarg;
            continue;
        }
        if (c == 'n') {
            add.display_name = optarg;
            continue;
        }
        return cli->opt_rc;
    }
    int rc = cli_args(cli, argc, argv, 1, 1);
    if (rc)
        return rc;
    add.username = argv[optind];
    if (!add.role)
        return cli_usage_error(cli, "--role is required");
    if (!add.unit)
        return cli_usage_error(cli, "--unit is required (the unit's id or name)");
    /* the session first: no point asking for a password it cannot use */
    if ((rc = cli_connect(cli)))
        return rc;
    char *password = cmd_org_new_password(cli, add.username, &rc);
    if (!password)
        return rc;
    add.password = password;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_ADD;
    req.user_add = &add;
    rc = call_user(cli, &req);
    term_free_secret(password);
    return rc;
}

static int user_page(const Kehu__V1__Response *resp, void *const **items, size_t *n, const char **next,
                     uint32_t *remaining)
{
    const Kehu__V1__Users *l = resp->users;
    if (!l)
        return -1;
    *items = (void *const *)l->users;
    *n = l->n_users;
    *next = l->next_cursor;
    *remaining = l->remaining;
    return 0;
}

static int run_user_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "unit", required_argument, NULL, 'u' },
        { "role", required_argument, NULL, 'r' },
        CLI_PAGING_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__UserList list = KEHU__V1__USER_LIST__INIT;
    struct cli_paging pg = { 0 };
    const char *role_arg = NULL;
    int c, rc;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == 'r' && cli_parse_role(cli, "--role", optarg, &list.role) == 0) {
            role_arg = optarg;
            continue;
        }
        if (c == 'u') {
            list.unit = optarg;
            continue;
        }
        if (c != 'r' && (rc = cli_page_option(cli, c, optarg, 1000, &pg)) >= 0) {
            if (rc)
                return rc;
            continue;
        }
        return cli->opt_rc;
    }
    if ((rc = cli_args(cli, argc, argv, 0, 0)))
        return rc;
    list.limit = pg.limit;
    list.after = (char *)(pg.after ? pg.after : "");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_LIST;
    req.user_list = &list;
    struct cli_pages pages = { 0 };
    rc = cli_fetch_pages(cli, &req, KEHU__V1__RESPONSE__RESULT_USERS, &list.after, pg.all, user_page, &pages);
    if (rc == CLI_OK) {
        cmd_org_print_users(cli, (Kehu__V1__User *const *)pages.items, pages.n, 1);
        const char *words[8] = { "user", "list" };
        size_t nw = 2;
        if (list.unit && *list.unit)
            words[nw++] = "--unit", words[nw++] = list.unit;
        if (role_arg)
            words[nw++] = "--role", words[nw++] = role_arg;
        if (pg.limit_arg)
            words[nw++] = "--limit", words[nw++] = pg.limit_arg;
        cli_page_more(cli, words, nw, pages.next, pages.remaining);
    }
    cli_pages_free(&pages);
    return rc;
}

static int run_user_disable(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int rc = cli_args(cli, argc, argv, 1, 1);
    if (rc)
        return rc;
    Kehu__V1__UserDisable dis = KEHU__V1__USER_DISABLE__INIT;
    dis.username = argv[optind];
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_DISABLE;
    req.user_disable = &dis;
    return call_user(cli, &req);
}

static int run_user_move(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        { "unit", required_argument, NULL, 'u' },
        { NULL, 0, NULL, 0 },
    };
    Kehu__V1__UserMove move = KEHU__V1__USER_MOVE__INIT;
    int c;
    while ((c = cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != 'u')
            return cli->opt_rc;
        move.unit = optarg;
    }
    int rc = cli_args(cli, argc, argv, 1, 1);
    if (rc)
        return rc;
    move.username = argv[optind];
    if (!move.unit)
        return cli_usage_error(cli, "--unit is required (the unit's id or name)");
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_MOVE;
    req.user_move = &move;
    return call_user(cli, &req);
}

static int run_user_enable(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int rc = cli_args(cli, argc, argv, 1, 1);
    if (rc)
        return rc;
    Kehu__V1__UserEnable en = KEHU__V1__USER_ENABLE__INIT;
    en.username = argv[optind];
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_ENABLE;
    req.user_enable = &en;
    return call_user(cli, &req);
}

static int run_user_set_role(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int rc = cli_args(cli, argc, argv, 2, 2);
    if (rc)
        return rc;
    Kehu__V1__UserSetRole set = KEHU__V1__USER_SET_ROLE__INIT;
    set.username = argv[optind];
    if (cli_parse_role(cli, "ROLE", argv[optind + 1], &set.role) < 0)
        return cli->opt_rc;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_SET_ROLE;
    req.user_set_role = &set;
    return call_user(cli, &req);
}

static int run_user_reset_password(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int rc = cli_args(cli, argc, argv, 1, 1);
    if (rc)
        return rc;
    Kehu__V1__UserResetPassword reset = KEHU__V1__USER_RESET_PASSWORD__INIT;
    reset.username = argv[optind];
    if ((rc = cli_connect(cli)))
        return rc;
    char *password = cmd_org_new_password(cli, reset.username, &rc);
    if (!password)
        return rc;
    reset.new_password = password;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    req.op_case = KEHU__V1__REQUEST__OP_USER_RESET_PASSWORD;
    req.user_reset_password = &reset;
    rc = call_user(cli, &req);
    term_free_secret(password);
    return rc;
}

const struct cli_cmd cmd_org_table[] = {
    { "org add", "NAME --kind region|branch|team --parent PARENT", N_("add an organisation unit"), 1, run_org_add },
    { "org list", "[--limit N] [--after CURSOR] [--all]", N_("the organisation tree, head office first"), 1, run_org_list },
    { "org rename", "UNIT NEW_NAME", N_("rename a unit (a unit is named by its id, path or name)"), 1, run_org_rename },
    { "org move", "UNIT --parent PARENT", N_("move a unit with everything under it"), 1, run_org_move },
    { "user add",
      "USERNAME --role admin|branch_manager|account_manager|service_agent|auditor|committee|finance --unit UNIT [--name DISPLAY]",
      N_("add a user (asks for the password)"), 1, run_user_add },
    { "user list", "[--unit UNIT] [--role ROLE] [--limit N] [--after CURSOR] [--all]", N_("list users"), 1, run_user_list },
    { "user disable", "USERNAME", N_("disable a user's account"), 1, run_user_disable },
    { "user move", "USERNAME --unit UNIT", N_("move a user to another unit"), 1, run_user_move },
    { "user enable", "USERNAME", N_("enable a disabled account again"), 1, run_user_enable },
    { "user set-role", "USERNAME admin|branch_manager|account_manager|service_agent|auditor|committee|finance",
      N_("give a user another role (from their next request)"), 1, run_user_set_role },
    { "user reset-password", "USERNAME",
      N_("set a new password (asked for) that the user must change at the next login"), 1, run_user_reset_password },
    { NULL, NULL, NULL, 0, NULL },
};
