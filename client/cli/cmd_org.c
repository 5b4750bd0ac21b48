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

/* ---- Printing ------------------------------------------------------------------------ */

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

static char *user_role(const void *msg)
{
    return out_xstrdup(role_str(((const Kehu__V1__User *)msg)->role));
}

static char *user_status(const void *msg)
{
    return out_xstrdup(((const Kehu__V1__User *)msg)->disabled ? "disabled" : "active");
}

static const struct rec_calc user_calc[] = {
    { "role", NULL, user_role },
    { "status", NULL, user_status },
    { NULL, NULL, NULL },
};
static const struct rec_col user_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("USERNAME"), "username", OUT_LEFT, 0 },
    { N_("NAME"), "display_name", OUT_LEFT, 24 }, { N_("ROLE"), "@role", OUT_LEFT, 0 },
    { N_("UNIT"), "unit_name", OUT_LEFT, 0 }, { N_("STATUS"), "@status", OUT_LEFT, 0 }, { NULL, NULL, 0, 0 },
};
/* branch_id 0: none (a user of the head office or a region) */
static const struct rec_kind user_rec = {
    &kehu__v1__user__descriptor,
    "id username display_name role unit_id unit_name branch_id? disabled +must_change_password created_at_ms",
    user_cols, N_("no users match"), user_calc,
};
static const struct cli_record_kind user_kind = { .rec = &user_rec, .one = kv_user };

void cmd_org_print_users(struct cli *cli, Kehu__V1__User *const *users, size_t n, int list)
{
    cli_print_records(cli, (void *const *)users, n, list, &user_kind);
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
static char *unit_name(const void *msg)
{
    const Kehu__V1__OrgUnit *u = msg;
    unsigned depth = u->depth < 16 ? u->depth : 16;
    char *name = out_xmalloc(2 * depth + strlen(u->name) + 1);
    memset(name, ' ', 2 * depth);
    strcpy(name + 2 * depth, u->name);
    return name;
}

static char *unit_kind_cell(const void *msg)
{
    return out_xstrdup(kind_str(((const Kehu__V1__OrgUnit *)msg)->kind));
}

static const struct rec_calc unit_calc[] = {
    { "name", NULL, unit_name },
    { "kind", NULL, unit_kind_cell },
    { NULL, NULL, NULL },
};
static const struct rec_col unit_cols[] = {
    { N_("ID"), "id", OUT_RIGHT, 0 }, { N_("NAME"), "@name", OUT_LEFT, 0 }, { N_("KIND"), "@kind", OUT_LEFT, 0 },
    { N_("PARENT"), "parent_name?parent_id", OUT_LEFT, 0 }, { NULL, NULL, 0, 0 },
};
/* parent_id and branch_id 0: none (the head office's parent, no branch) */
static const struct rec_kind unit_rec = {
    &kehu__v1__org_unit__descriptor, "id name kind parent_id? parent_name?parent_id depth branch_id? path",
    unit_cols, NULL, unit_calc,
};
static const struct cli_record_kind unit_kind = { .rec = &unit_rec, .one = added_unit };

/* A unit renamed or moved, for people: where it is now. */
static void changed_unit(const void *item)
{
    const Kehu__V1__OrgUnit *u = item;
    cli_say("org unit %" PRId64 " is now %s (%s)\n", u->id, u->path, kind_str(u->kind));
}

static const struct cli_record_kind changed_unit_kind = { .rec = &unit_rec, .one = changed_unit };

/* ---- org ----------------------------------------------------------------------------- */

static int run_org_add(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "kind", NULL, 0, 0, NULL, 0 }, { "parent", NULL, 0, 0, NULL, CLI_FLAG_REQUIRED }, { NULL, NULL, 0, 0, NULL, 0 }
    };
    Kehu__V1__OrgAdd add = KEHU__V1__ORG_ADD__INIT;
    int rc;
    if ((rc = cli_flags(cli, argc, argv, &kehu__v1__org_add__descriptor, flags, &add, NULL, NULL)))
        return rc;
    if ((rc = cli_args(cli, argc, argv, 1, 1)))
        return rc;
    add.name = argv[optind];
    if (!add.kind)
        return cli_usage_error(cli, "--kind is required (region, branch or team)");
    return cli_ask_print(cli, KEHU__V1__REQUEST__OP_ORG_ADD, &add, KEHU__V1__RESPONSE__RESULT_ORG_UNIT, &unit_kind, NULL);
}

CLI_LIST_COMMAND(run_org_list, KEHU__V1__REQUEST__OP_ORG_LIST, &kehu__v1__org_list__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_ORG_UNITS, "units", &unit_kind, NULL)

CLI_ONE_COMMAND(run_org_rename, KEHU__V1__REQUEST__OP_ORG_RENAME, &kehu__v1__org_rename__descriptor, "UNIT NEW_NAME",
                "unit name", KEHU__V1__RESPONSE__RESULT_ORG_UNIT, &changed_unit_kind)

static int need_parent(struct cli *cli, const void *m)
{
    const Kehu__V1__OrgMove *move = m;
    if (!move->parent || !*move->parent) /* the message's default is "" */
        return cli_usage_error(cli, "--parent is required (the new parent unit's id, path or name)");
    return CLI_OK;
}

static const struct cli_flag parent_flag[] = { { "parent", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 } };
CLI_ONE_COMMAND(run_org_move, KEHU__V1__REQUEST__OP_ORG_MOVE, &kehu__v1__org_move__descriptor, "UNIT", "unit",
                KEHU__V1__RESPONSE__RESULT_ORG_UNIT, &changed_unit_kind, parent_flag, NULL, need_parent)

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

/* Sends the request m (op) with a new password for username, asked for
 * now, in *password, and prints the user it answers with. */
static int send_new_password(struct cli *cli, int op, void *m, const char *username, char **password)
{
    int rc;
    /* the session first: no point asking for a password it cannot use */
    if ((rc = cli_connect(cli)))
        return rc;
    char *pw = cmd_org_new_password(cli, username, &rc);
    if (!pw)
        return rc;
    *password = pw;
    Kehu__V1__Response *resp;
    if (!(rc = cli_ask(cli, op, m, KEHU__V1__RESPONSE__RESULT_USER, &resp))) {
        cmd_org_print_users(cli, &resp->user, 1, 0);
        kehu_response_free(resp);
    }
    term_free_secret(pw);
    return rc;
}

/* A command `WORDS USERNAME [options]` of request d (op) that sets a new
 * password: the options into the message, the username into its field
 * "username", the password asked for into the field pw_field. */
static int run_new_password(struct cli *cli, int argc, char **argv, const ProtobufCMessageDescriptor *d,
                            const struct cli_flag *flags, int op, const char *pw_field)
{
    char *m = out_xcalloc(1, d->sizeof_message);
    protobuf_c_message_init(d, m);
    int rc;
    if (!(rc = cli_flags(cli, argc, argv, d, flags, m, NULL, NULL)) && !(rc = cli_args(cli, argc, argv, 1, 1))) {
        char **username = (char **)(m + protobuf_c_message_descriptor_get_field_by_name(d, "username")->offset);
        *username = argv[optind];
        rc = send_new_password(cli, op, m, *username,
                               (char **)(m + protobuf_c_message_descriptor_get_field_by_name(d, pw_field)->offset));
    }
    free(m);
    return rc;
}

static int run_user_add(struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {
        { "role", NULL, 0, 0, NULL, CLI_FLAG_REQUIRED },
        { "unit", NULL, 0, 0, NULL, CLI_FLAG_REQUIRED },
        { "name", "display_name", 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
    };
    return run_new_password(cli, argc, argv, &kehu__v1__user_add__descriptor, flags, KEHU__V1__REQUEST__OP_USER_ADD,
                            "password");
}

static const struct cli_flag user_list_flags[] = {
    { "unit", NULL, 0, 0, NULL, 0 }, { "role", NULL, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, NULL, 0 }
};
CLI_LIST_COMMAND(run_user_list, KEHU__V1__REQUEST__OP_USER_LIST, &kehu__v1__user_list__descriptor, NULL, NULL,
                 KEHU__V1__RESPONSE__RESULT_USERS, "users", &user_kind, NULL, user_list_flags)

CLI_ONE_COMMAND(run_user_disable, KEHU__V1__REQUEST__OP_USER_DISABLE, &kehu__v1__user_disable__descriptor, "USERNAME",
                "username", KEHU__V1__RESPONSE__RESULT_USER, &user_kind)
CLI_ONE_COMMAND(run_user_enable, KEHU__V1__REQUEST__OP_USER_ENABLE, &kehu__v1__user_enable__descriptor, "USERNAME",
                "username", KEHU__V1__RESPONSE__RESULT_USER, &user_kind)
CLI_ONE_COMMAND(run_user_set_role, KEHU__V1__REQUEST__OP_USER_SET_ROLE, &kehu__v1__user_set_role__descriptor,
                "USERNAME ROLE", "username role", KEHU__V1__RESPONSE__RESULT_USER, &user_kind)

static const struct cli_flag unit_flag[] = { { "unit", NULL, 0, 0, NULL, CLI_FLAG_REQUIRED },
                                             { NULL, NULL, 0, 0, NULL, 0 } };
CLI_ONE_COMMAND(run_user_move, KEHU__V1__REQUEST__OP_USER_MOVE, &kehu__v1__user_move__descriptor, "USERNAME",
                "username", KEHU__V1__RESPONSE__RESULT_USER, &user_kind, unit_flag)

static int run_user_reset_password(struct cli *cli, int argc, char **argv)
{
    return run_new_password(cli, argc, argv, &kehu__v1__user_reset_password__descriptor, NULL,
                            KEHU__V1__REQUEST__OP_USER_RESET_PASSWORD, "new_password");
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
