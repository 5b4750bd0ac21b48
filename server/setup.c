#include "setup.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "migrate.h"

#define HEAD_OFFICE_NAME "总行"

static PGresult *run(PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "kehud: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static int ready(const struct config *cfg, PGconn **pg)
{
    char err[512];
    if (migrate_check(cfg->db, err, sizeof err) < 0 || !(*pg = migrate_connect(cfg->db, err, sizeof err))) {
        fprintf(stderr, "kehud: %s\n", err);
        return -1;
    }
    return 0;
}

/* A readable random password: 16 characters without look-alikes. */
static void new_password(char out[17])
{
    static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    for (int i = 0; i < 16; i++)
        out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    out[16] = 0;
}

/* Adds a user unless the username exists; 1 added, 0 existed, -1 error. */
static int add_user(PGconn *pg, const struct config *cfg, const char *username, const char *display, const char *role,
                    const char *unit_id, const char *password)
{
    char hash[crypto_pwhash_STRBYTES];
    if (auth_hash(hash, password, cfg->hash_ops, cfg->hash_mem) < 0) {
        fprintf(stderr, "kehud: cannot hash a password (hash_mem too large?)\n");
        return -1;
    }
    const char *p[] = { username, display, role, unit_id, hash };
    PGresult *r = run(pg,
                      "INSERT INTO app_user (username, display_name, role, unit_id, password_hash)"
                      " VALUES ($1, $2, $3::user_role, $4, $5) ON CONFLICT (username) DO NOTHING",
                      5, p);
    if (!r)
        return -1;
    int added = atoi(PQcmdTuples(r)) == 1;
    PQclear(r);
    return added;
}

/* Returns the id of the unit named `name`, creating it under parent_id. */
static int ensure_unit(PGconn *pg, const char *name, const char *kind, const char *parent_id, char id[24])
{
    const char *p[] = { name, kind, parent_id };
    PGresult *r = run(pg,
                      "WITH ins AS (INSERT INTO org_unit (name, kind, parent_id) VALUES ($1, $2::unit_kind, $3)"
                      " ON CONFLICT ((lower(name))) DO NOTHING RETURNING id)"
                      " SELECT id FROM ins UNION ALL SELECT id FROM org_unit WHERE lower(name) = lower($1)",
                      3, p);
    if (!r)
        return -1;
    if (PQntuples(r) < 1) {
        PQclear(r);
        return -1;
    }
    snprintf(id, 24, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int setup_init(const struct config *cfg)
{
    PGconn *pg;
    if (ready(cfg, &pg) < 0)
        return 1;
    int rc = 1;
    char head[24];
    PGresult *r = run(pg, "SELECT id FROM org_unit WHERE kind = 'head_office'", 0, NULL);
    if (!r)
        goto out;
    if (PQntuples(r) == 1) {
        snprintf(head, sizeof head, "%s", PQgetvalue(r, 0, 0));
    } else if (ensure_unit(pg, HEAD_OFFICE_NAME, "head_office", NULL, head) < 0) {
        PQclear(r);
        goto out;
    } else {
        printf("created the head office '%s' (id %s)\n", HEAD_OFFICE_NAME, head);
    }
    PQclear(r);

    r = run(pg, "SELECT 1 FROM app_user WHERE username = 'admin'", 0, NULL);
    if (!r)
        goto out;
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (exists) {
        printf("the admin account exists: left unchanged\n");
        rc = 0;
        goto out;
    }
    const char *given = getenv("KEHU_ADMIN_PASSWORD");
    char generated[17];
    const char *password = given;
    if (given && *given) {
        const char *why = auth_password_problem(given);
        if (why) {
            fprintf(stderr, "kehud: KEHU_ADMIN_PASSWORD: %s\n", why);
            goto out;
        }
    } else {
        new_password(generated);
        password = generated;
    }
    if (add_user(pg, cfg, "admin", "Administrator", "admin", head, password) < 0)
        goto out;
    if (given && *given)
        printf("created the admin account 'admin' with the password from KEHU_ADMIN_PASSWORD\n");
    else
        printf("created the admin account 'admin'\n"
               "  password: %s\n"
               "  (shown only this once; log in with: kehu login admin)\n",
               generated);
    sodium_memzero(generated, sizeof generated);
    rc = 0;
out:
    fflush(stdout);
    PQfinish(pg);
    return rc;
}

/* A region, a branch with a team, and one user of each role. Loaded once:
 * a marker in `setting` keeps a later run from re-creating what someone
 * deliberately removed. */
int setup_demo(const struct config *cfg)
{
    PGconn *pg;
    if (ready(cfg, &pg) < 0)
        return 1;
    int rc = 1;
    PGresult *r = run(pg, "SELECT 1 FROM setting WHERE key = 'demo_loaded'", 0, NULL);
    if (!r)
        goto out;
    int loaded = PQntuples(r) > 0;
    PQclear(r);
    if (loaded) {
        printf("demo organisation already loaded\n");
        rc = 0;
        goto out;
    }
    r = run(pg, "SELECT id FROM org_unit WHERE kind = 'head_office'", 0, NULL);
    if (!r)
        goto out;
    if (PQntuples(r) != 1) {
        PQclear(r);
        fprintf(stderr, "kehud: no head office yet: run `kehud init` first\n");
        goto out;
    }
    char head[24], region[24], branch[24], team[24];
    snprintf(head, sizeof head, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!(r = run(pg, "BEGIN", 0, NULL)))
        goto out;
    PQclear(r);
    if (ensure_unit(pg, "华东区", "region", head, region) < 0 || ensure_unit(pg, "上海分行", "branch", region, branch) < 0 ||
        ensure_unit(pg, "上海一组", "team", branch, team) < 0)
        goto rollback;
    const char *given = getenv("KEHU_DEMO_PASSWORD");
    const char *password = given && *given ? given : "kehu-demo-2026";
    static const struct {
        const char *username, *display, *role;
        int in_team;
    } users[] = {
        { "wang.fang", "王芳", "branch_manager", 0 },
        { "li.lei", "李雷", "account_manager", 1 },
        { "zhang.wei", "张伟", "account_manager", 1 },
        { "chen.jing", "陈静", "service_agent", 0 },
        { "zhao.min", "赵敏", "auditor", 0 },
    };
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++)
        if (add_user(pg, cfg, users[i].username, users[i].display, users[i].role, users[i].in_team ? team : branch,
                     password) < 0)
            goto rollback;
    if (!(r = run(pg, "INSERT INTO setting (key, value) VALUES ('demo_loaded', now()::text)", 0, NULL)))
        goto rollback;
    PQclear(r);
    if (!(r = run(pg, "COMMIT", 0, NULL)))
        goto out;
    PQclear(r);
    printf("loaded the demo organisation: 华东区 > 上海分行 > 上海一组, users wang.fang (branch manager), li.lei and "
           "zhang.wei (account managers), chen.jing (service agent), zhao.min (auditor); password %s\n",
           given && *given ? "from KEHU_DEMO_PASSWORD" : "kehu-demo-2026");
    rc = 0;
    goto out;
rollback:
    PQclear(PQexec(pg, "ROLLBACK"));
out:
    fflush(stdout);
    PQfinish(pg);
    return rc;
}
