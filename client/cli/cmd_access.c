/* Access commands: perm show|set (the permission matrix role x action ->
 * scope) and access explain (may this user read, edit, ... this customer,
 * and by which rule). */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

/* ---- perm show|set ------------------------------------------------------------------------ */

static const char *cell(const Kehu__V1__PermMatrix *m, Kehu__V1__Role role, const char *action)
{
    for (size_t i = 0; i < m->n_cells; i++)
        if (m->cells[i]->role == role && strcmp(m->cells[i]->action, action) == 0)
            return m->cells[i]->scope;
    return "";
}

/* The roles in the order the matrix lists them. */
static size_t matrix_roles(const Kehu__V1__PermMatrix *m, Kehu__V1__Role *roles, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_cells && n < max; i++) {
        size_t k = 0;
        while (k < n && roles[k] != m->cells[i]->role)
            k++;
        if (k == n)
            roles[n++] = m->cells[i]->role;
    }
    return n;
}

static void print_matrix(struct cli *cli, const Kehu__V1__PermMatrix *m)
{
    Kehu__V1__Role roles[16];
    size_t nroles = matrix_roles(m, roles, 16);
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_key(&w, "matrix");
        json_begin_object(&w);
        for (size_t r = 0; r < nroles; r++) {
            json_key(&w, kehu_role_name(roles[r]));
            json_begin_object(&w);
            for (size_t a = 0; a < m->n_actions; a++)
                json_kstr(&w, m->actions[a], cell(m, roles[r], m->actions[a]));
            json_end_object(&w);
        }
        json_end_object(&w);
        cli_json_strs(&w, "actions", m->actions, m->n_actions);
        cli_json_strs(&w, "scopes", m->scopes, m->n_scopes);
        json_kint(&w, "changed", m->changed);
        json_end_object(&w);
        return;
    }
    size_t ncols = m->n_actions + 1;
    const char **head = out_xcalloc(ncols, sizeof *head);
    head[0] = cli->csv ? "role" : "ROLE";
    for (size_t a = 0; a < m->n_actions; a++)
        head[a + 1] = m->actions[a];
    struct out_table *t = cli->csv ? NULL : out_table_new((int)ncols, head);
    if (cli->csv)
        cli_csv_row(stdout, (int)ncols, head);
    const char **row = out_xcalloc(ncols, sizeof *row);
    for (size_t r = 0; r < nroles; r++) {
        row[0] = kehu_role_name(roles[r]);
        for (size_t a = 0; a < m->n_actions; a++)
            row[a + 1] = cell(m, roles[r], m->actions[a]);
        if (cli->csv)
            cli_csv_row(stdout, (int)ncols, row);
        else
            out_table_add(t, row);
    }
    if (t) {
        out_table_print(t, stdout);
        out_table_free(t);
    }
    free(row);
    free(head);
}

static void print_perm_matrix(struct cli *cli, const void *result)
{
    print_matrix(cli, result);
}

CLI_ONE_COMMAND(run_perm_show, KEHU__V1__REQUEST__OP_PERM_SHOW, &kehu__v1__perm_show__descriptor, NULL, NULL,
                KEHU__V1__RESPONSE__RESULT_PERM_MATRIX, NULL, NULL, print_perm_matrix)

/* perm set ROLE ACTION=SCOPE... [ROLE ACTION=SCOPE...]: a role word applies
 * to the ACTION=SCOPE words after it. */
static int run_perm_set(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int n = argc - optind;
    if (n < 2)
        return cli_usage_error(cli, "give a ROLE and at least one ACTION=SCOPE");
    Kehu__V1__PermCell *cells = out_xcalloc((size_t)n, sizeof *cells);
    Kehu__V1__PermCell **ptrs = out_xcalloc((size_t)n, sizeof *ptrs);
    char **texts = out_xcalloc((size_t)n, sizeof *texts);
    size_t nc = 0;
    Kehu__V1__Role role = KEHU__V1__ROLE__ROLE_UNSPECIFIED;
    int rc = CLI_OK;
    for (int i = 0; i < n && rc == CLI_OK; i++) {
        const char *arg = argv[optind + i];
        const char *eq = strchr(arg, '=');
        if (!eq) {
            rc = cli_parse_enum(cli, "ROLE", arg, &kehu__v1__role__descriptor, (int *)&role);
            continue;
        }
        if (role == KEHU__V1__ROLE__ROLE_UNSPECIFIED) {
            rc = cli_usage_error(cli, "name the role before '%s'", arg);
            break;
        }
        if (eq == arg || !eq[1]) {
            rc = cli_usage_error(cli, "expected ACTION=SCOPE, not '%s'", arg);
            break;
        }
        texts[nc] = out_xmalloc((size_t)(eq - arg) + 1);
        memcpy(texts[nc], arg, (size_t)(eq - arg));
        texts[nc][eq - arg] = 0;
        kehu__v1__perm_cell__init(&cells[nc]);
        cells[nc].role = role;
        cells[nc].action = texts[nc];
        cells[nc].scope = (char *)eq + 1;
        ptrs[nc] = &cells[nc];
        nc++;
    }
    if (rc == CLI_OK && nc == 0)
        rc = cli_usage_error(cli, "give at least one ACTION=SCOPE");
    if (rc == CLI_OK) {
        Kehu__V1__PermSet m = KEHU__V1__PERM_SET__INIT;
        m.cells = ptrs;
        m.n_cells = nc;
        Kehu__V1__Request req;
        cli_request(&req, KEHU__V1__REQUEST__OP_PERM_SET, &m);
        Kehu__V1__Response *resp;
        if ((rc = cli_call_for(cli, &req, KEHU__V1__RESPONSE__RESULT_PERM_MATRIX, &resp)) == CLI_OK) {
            if (!cli->json && !cli->csv)
                cli_say("permissions updated (%d cell%s changed):\n", resp->perm_matrix->changed,
                        resp->perm_matrix->changed == 1 ? "" : "s");
            print_matrix(cli, resp->perm_matrix);
            kehu_response_free(resp);
        }
    }
    for (size_t i = 0; i < nc; i++)
        free(texts[i]);
    free(texts);
    free(ptrs);
    free(cells);
    return rc;
}

/* ---- access explain ----------------------------------------------------------------------- */

static const struct rec_col decision_cols[] = {
    { N_("ACTION"), "action", OUT_LEFT, 0 },
    { N_("ALLOWED"), "allowed|no", OUT_LEFT, 0 },
    { N_("SCOPE"), "scope", OUT_LEFT, 0 },
    { N_("WHY"), "reason", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
static const struct rec_kind decision_rec = { &kehu__v1__access_decision__descriptor, "action allowed scope reason",
                                              decision_cols, NULL, NULL };
static const struct rec_kind explanation_rec = {
    &kehu__v1__access_explanation__descriptor,
    "username=user.username role=user.role customer_id customer_name customer_status owner=owner_name? "
    "branch=branch_name?",
    NULL, NULL, NULL,
};

static void print_explanation(struct cli *cli, const void *result)
{
    const Kehu__V1__AccessExplanation *x = result;
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        rec_json_members(&w, &explanation_rec, x);
        cli_json_records(&w, "decisions", &decision_rec, (void *const *)x->decisions, x->n_decisions);
        json_end_object(&w);
        return;
    }
    cli_say("%s (%s) and customer %" PRId64 " %s (owner %s, branch %s):\n", x->user ? x->user->username : "?",
            x->user ? kehu_role_name(x->user->role) : "?", x->customer_id, x->customer_name,
            *x->owner_name ? x->owner_name : "none", *x->branch_name ? x->branch_name : "-");
    rec_table(stdout, &decision_rec, (void *const *)x->decisions, x->n_decisions);
}

CLI_ONE_COMMAND(run_access_explain, KEHU__V1__REQUEST__OP_ACCESS_EXPLAIN, &kehu__v1__access_explain__descriptor,
                "USERNAME CUSTOMER_ID", "username customer_id", KEHU__V1__RESPONSE__RESULT_ACCESS, NULL, NULL,
                print_explanation)

const struct cli_cmd cmd_access_table[] = {
    { "perm show", "", N_("the permission matrix: what each role may do to which customers"), 1, run_perm_show },
    { "perm set", "ROLE ACTION=SCOPE... [ROLE ACTION=SCOPE...]",
      N_("change the matrix (admin); actions read|edit|reassign|override_grade|export|unmask|delete|log_contact|review_rate|review_final|review_credit|admin, "
      "scopes none|own|team|branch|region|all"),
      1, run_perm_set },
    { "access explain", "USERNAME CUSTOMER_ID", N_("whether a user may read, edit, ... a customer, and which rule says so"),
      1, run_access_explain },
    { NULL, NULL, NULL, 0, NULL },
};
