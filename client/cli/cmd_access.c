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
        json_key(&w, "actions");
        json_begin_array(&w);
        for (size_t a = 0; a < m->n_actions; a++)
            json_str(&w, m->actions[a]);
        json_end_array(&w);
        json_key(&w, "scopes");
        json_begin_array(&w);
        for (size_t s = 0; s < m->n_scopes; s++)
            json_str(&w, m->scopes[s]);
        json_end_array(&w);
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

static int run_perm_show(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int rc = cli_args(cli, argc, argv, 0, 0);
    if (rc)
        return rc;
    Kehu__V1__PermShow m = KEHU__V1__PERM_SHOW__INIT;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_PERM_SHOW, &m, KEHU__V1__RESPONSE__RESULT_PERM_MATRIX, &resp)))
        return rc;
    print_matrix(cli, resp->perm_matrix);
    kehu_response_free(resp);
    return CLI_OK;
}

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

static int run_access_explain(struct cli *cli, int argc, char **argv)
{
    if (cli_getopt(cli, argc, argv, NULL) != -1)
        return cli->opt_rc;
    int rc = cli_args(cli, argc, argv, 2, 2);
    if (rc)
        return rc;
    int64_t id;
    if ((rc = cmd_customer_parse_int(cli, "CUSTOMER_ID", argv[optind + 1], 1, INT64_MAX, &id)))
        return rc;
    Kehu__V1__AccessExplain m = KEHU__V1__ACCESS_EXPLAIN__INIT;
    m.username = argv[optind];
    m.customer_id = id;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, KEHU__V1__REQUEST__OP_ACCESS_EXPLAIN, &m, KEHU__V1__RESPONSE__RESULT_ACCESS, &resp)))
        return rc;
    const Kehu__V1__AccessExplanation *x = resp->access;
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        json_begin_object(&w);
        json_kstr(&w, "username", x->user ? x->user->username : "");
        json_kstr(&w, "role", x->user ? kehu_role_name(x->user->role) : "");
        json_kint(&w, "customer_id", x->customer_id);
        json_kstr(&w, "customer_name", x->customer_name);
        json_kstr(&w, "customer_status", x->customer_status);
        json_kstr(&w, "owner", *x->owner_name ? x->owner_name : NULL);
        json_kstr(&w, "branch", *x->branch_name ? x->branch_name : NULL);
        json_key(&w, "decisions");
        json_begin_array(&w);
        for (size_t i = 0; i < x->n_decisions; i++) {
            json_begin_object(&w);
            json_kstr(&w, "action", x->decisions[i]->action);
            json_kbool(&w, "allowed", x->decisions[i]->allowed);
            json_kstr(&w, "scope", x->decisions[i]->scope);
            json_kstr(&w, "reason", x->decisions[i]->reason);
            json_end_object(&w);
        }
        json_end_array(&w);
        json_end_object(&w);
    } else {
        cli_say("%s (%s) and customer %" PRId64 " %s (owner %s, branch %s):\n", x->user ? x->user->username : "?",
                x->user ? kehu_role_name(x->user->role) : "?", x->customer_id, x->customer_name,
                *x->owner_name ? x->owner_name : "none", *x->branch_name ? x->branch_name : "-");
        static const char *const head[] = { "ACTION", "ALLOWED", "SCOPE", "WHY" };
        struct out_table *t = out_table_new(4, head);
        for (size_t i = 0; i < x->n_decisions; i++) {
            const Kehu__V1__AccessDecision *d = x->decisions[i];
            const char *row[] = { d->action, d->allowed ? "yes" : "no", d->scope, d->reason };
            out_table_add(t, row);
        }
        out_table_print(t, stdout);
        out_table_free(t);
    }
    kehu_response_free(resp);
    return CLI_OK;
}

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
