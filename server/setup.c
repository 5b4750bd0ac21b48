#include "setup.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "migrate.h"
#include "search_keys.h"

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
    if (migrate_check(config_owner_db(cfg), err, sizeof err) < 0 ||
        !(*pg = migrate_connect(config_owner_db(cfg), err, sizeof err))) {
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

/* Returns the id of the unit named `name` under parent_id, creating it there. */
static int ensure_unit(PGconn *pg, const char *name, const char *kind, const char *parent_id, char id[24])
{
    const char *p[] = { name, kind, parent_id };
    PGresult *r = run(pg,
                      "WITH ins AS (INSERT INTO org_unit (name, kind, parent_id) VALUES ($1, $2::unit_kind, $3::bigint)"
                      " ON CONFLICT ((coalesce(parent_id, 0)), (lower(name))) DO NOTHING RETURNING id)"
                      " SELECT id FROM ins UNION ALL SELECT id FROM org_unit"
                      " WHERE lower(name) = lower($1) AND parent_id IS NOT DISTINCT FROM $3::bigint",
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
/* Demo customers of 上海分行 with some history, owned by the demo account
 * managers; loaded once, like the organisation. */
static const struct {
    const char *name, *kind, *phone, *company, *region, *industry, *source, *tags, *owner;
    int64_t amounts[4]; /* yuan fen, 0 ends */
} demo_customers[] = {
    { "张三", "individual", "13800138000", NULL, "上海", NULL, "referral", "{vip}", "li.lei", { 1200000, 350000, 0 } },
    { "李四", "individual", "13900139000", NULL, "上海", NULL, "walk_in", "{}", "li.lei", { 88000, 0 } },
    { "王小明", "individual", "13700137000", NULL, "苏州", NULL, "search_engine", "{}", "li.lei", { 45000, 12000, 0 } },
    { "曾国华", "individual", "13600136000", NULL, "杭州", NULL, "trade_show", "{}", "zhang.wei", { 260000, 0 } },
    { "欧阳娜娜", "individual", "13500135000", NULL, "上海", NULL, "referral", "{vip,老客户}", "zhang.wei",
      { 5000000, 2500000, 800000, 0 } },
    { "John Smith", "individual", "13400134000", NULL, "上海", NULL, "b2b_platform", "{}", "zhang.wei", { 150000, 0 } },
    { "刘总", "corporate", "02161234567", "上海恒信贸易有限公司", "上海", "批发零售", "b2b_platform", "{重点}", "li.lei",
      { 9800000, 4300000, 0 } },
    { "陈经理", "corporate", "02168765432", "重庆银行上海分行", "上海", "金融", "purchased_list", "{}", "zhang.wei",
      { 1200000, 0 } },
};

static int demo_customers_load(PGconn *pg, const char *branch)
{
    if (search_keys_init() < 0) {
        fprintf(stderr, "kehud: cannot open ICU's transliterator\n");
        return -1;
    }
    int added = 0;
    for (size_t i = 0; i < sizeof demo_customers / sizeof demo_customers[0]; i++) {
        const char *phones[] = { demo_customers[i].phone };
        struct search_keys_input in = { .name = demo_customers[i].name, .company = demo_customers[i].company,
                                        .phones = phones, .nphones = 1 };
        struct search_keys k;
        if (search_keys_build(&in, &k) < 0)
            return -1;
        char *tokens = search_keys_tokens_literal(&k);
        char phone_array[64];
        snprintf(phone_array, sizeof phone_array, "{%s}", demo_customers[i].phone);
        const char *p[] = { branch, demo_customers[i].owner, demo_customers[i].kind, demo_customers[i].name,
                            phone_array, demo_customers[i].company, demo_customers[i].region,
                            demo_customers[i].industry, demo_customers[i].source, demo_customers[i].tags,
                            k.sort_key, k.text, tokens };
        PGresult *r = run(pg,
                          "INSERT INTO customer (branch_id, owner_id, kind, name, phones, company, region, industry,"
                          " source, tags, sort_key, search_text, search_tokens, created_by, updated_by, since)"
                          " SELECT $1, u.id, $3::customer_kind, $4, $5::text[], $6, $7, $8, $9, $10::text[], $11, $12,"
                          " $13::text[], u.id, u.id, current_date - 400 FROM app_user u WHERE u.username = $2"
                          " RETURNING id",
                          13, p);
        free(tokens);
        search_keys_free(&k);
        if (!r)
            return -1;
        if (PQntuples(r) == 1) {
            char id[24];
            snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
            for (int t = 0; t < 4 && demo_customers[i].amounts[t]; t++) {
                char amount[32], days[16];
                snprintf(amount, sizeof amount, "%lld.%02lld", (long long)(demo_customers[i].amounts[t] / 100),
                         (long long)(demo_customers[i].amounts[t] % 100));
                snprintf(days, sizeof days, "%d", 30 + 90 * t);
                const char *tp[] = { id, amount, days };
                PGresult *tr = run(pg,
                                   "WITH t AS (INSERT INTO txn (branch_id, customer_id, date, amount, product,"
                                   " created_by) SELECT branch_id, id, current_date - $3::int, $2::numeric, '理财产品',"
                                   " created_by FROM customer WHERE id = $1 RETURNING customer_id, amount)"
                                   " UPDATE customer c SET revenue = c.revenue + t.amount FROM t WHERE c.id = t.customer_id",
                                   3, tp);
                if (!tr) {
                    PQclear(r);
                    return -1;
                }
                PQclear(tr);
            }
            added++;
        }
        PQclear(r);
    }
    return added;
}

/* Loads the demo customers once, after the demo organisation. 0 or -1. */
static int demo_customers_once(PGconn *pg)
{
    PGresult *c = run(pg, "SELECT 1 FROM setting WHERE key = 'demo_customers_loaded'", 0, NULL);
    if (!c)
        return -1;
    int customers_loaded = PQntuples(c) > 0;
    PQclear(c);
    if (!customers_loaded) {
        c = run(pg, "SELECT id FROM org_unit WHERE name = '上海分行' AND kind = 'branch'", 0, NULL);
        if (c && PQntuples(c) == 1) {
            char branch[24];
            snprintf(branch, sizeof branch, "%s", PQgetvalue(c, 0, 0));
            PGresult *b = run(pg, "BEGIN", 0, NULL);
            PQclear(b);
            int n = demo_customers_load(pg, branch);
            if (n < 0 || !(b = run(pg, "INSERT INTO setting (key, value) VALUES ('demo_customers_loaded', now()::text)",
                                   0, NULL))) {
                PQclear(PQexec(pg, "ROLLBACK"));
                PQclear(c);
                return -1;
            }
            PQclear(b);
            PQclear(run(pg, "COMMIT", 0, NULL));
            printf("loaded %d demo customers in 上海分行\n", n);
        }
        PQclear(c);
    }
    return 0;
}

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
        rc = demo_customers_once(pg) < 0 ? 1 : 0;
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
    rc = demo_customers_once(pg) < 0 ? 1 : 0;
    goto out;
rollback:
    PQclear(PQexec(pg, "ROLLBACK"));
out:
    fflush(stdout);
    PQfinish(pg);
    return rc;
}

/* ---- reset-password */

/* One line from the terminal without echo; NULL at end of input. */
static char *ask_secret(const char *prompt, char *buf, size_t n)
{
    struct termios old, quiet;
    int tty = tcgetattr(STDIN_FILENO, &old) == 0;
    fputs(prompt, stderr);
    fflush(stderr);
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *s = fgets(buf, (int)n, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (s)
        s[strcspn(s, "\r\n")] = 0;
    return s;
}

/* The new password into buf: KEHU_NEW_PASSWORD, else asked twice on a
 * terminal. -1 after saying why. */
static int reset_new_password(char *buf, size_t n)
{
    const char *env = getenv("KEHU_NEW_PASSWORD");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return 0;
    }
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "kehud: no terminal to ask for the new password: set KEHU_NEW_PASSWORD\n");
        return -1;
    }
    char again[AUTH_MAX_PASSWORD + 2];
    if (!ask_secret("New password: ", buf, n) || !ask_secret("Repeat the new password: ", again, sizeof again)) {
        fprintf(stderr, "kehud: no password given\n");
        return -1;
    }
    int same = strcmp(buf, again) == 0;
    sodium_memzero(again, sizeof again);
    if (!same) {
        fprintf(stderr, "kehud: the passwords do not match\n");
        return -1;
    }
    return 0;
}

int setup_reset_password(const struct config *cfg, const char *username)
{
    char password[AUTH_MAX_PASSWORD + 2], hash[crypto_pwhash_STRBYTES];
    if (reset_new_password(password, sizeof password) < 0)
        return 2;
    const char *why = auth_password_problem(password);
    if (why) {
        sodium_memzero(password, sizeof password);
        fprintf(stderr, "kehud: %s\n", why);
        return 2;
    }
    int hashed = auth_hash(hash, password, cfg->hash_ops, cfg->hash_mem);
    sodium_memzero(password, sizeof password);
    if (hashed < 0) {
        fprintf(stderr, "kehud: cannot hash a password (hash_mem too large?)\n");
        return 1;
    }
    PGconn *pg;
    if (ready(cfg, &pg) < 0)
        return 1;
    int rc = 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char at[32], detail[160];
    snprintf(at, sizeof at, "%lld", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    snprintf(detail, sizeof detail, "%s (offline, kehud reset-password)", username);
    int was_disabled = 0;
    const char *p[] = { username, hash };
    const char *pa[] = { at, detail };
    /* one transaction: the password, the sessions ended (announced to running kehud) and the audit row */
    PGresult *r = run(pg, "BEGIN", 0, NULL);
    if (!r)
        goto out;
    PQclear(r);
    /* a disabled account is enabled again: this is the way back in */
    r = run(pg,
            "WITH u AS (SELECT id, disabled_at IS NOT NULL AS was_disabled FROM app_user WHERE username = lower($1)"
            " FOR UPDATE), e AS (UPDATE app_user a SET disabled_at = NULL FROM u WHERE a.id = u.id AND u.was_disabled)"
            " SELECT u.was_disabled FROM u",
            1, p);
    if (!r)
        goto rollback;
    if (PQntuples(r) != 1) {
        fprintf(stderr, "kehud: no user named '%s'\n", username);
        PQclear(r);
        goto rollback;
    }
    was_disabled = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!(r = run(pg, "SELECT user_set_password(id, $2, true, 0) FROM app_user WHERE username = lower($1)", 2, p)))
        goto rollback;
    PQclear(r);
    if (was_disabled)
        snprintf(detail, sizeof detail, "%s (offline, kehud reset-password; enabled again)", username);
    r = run(pg,
            "SELECT audit_change($1::bigint, 0, '(kehud)', 'local', 'user_reset_password', '{}'::bigint[], $2, false)",
            2, pa);
    if (!r)
        goto rollback;
    PQclear(r);
    if (!(r = run(pg, "COMMIT", 0, NULL)))
        goto out;
    PQclear(r);
    printf("the password of %s was reset: it must be changed at the next login (kehu login %s);"
           " their sessions have ended%s\n",
           username, username, was_disabled ? "; the account was disabled and is enabled again" : "");
    rc = 0;
    goto out;
rollback:
    PQclear(PQexec(pg, "ROLLBACK"));
out:
    sodium_memzero(hash, sizeof hash);
    fflush(stdout);
    PQfinish(pg);
    return rc;
}

/* ---- the ID number key */

int setup_id_key_check(PGconn *pg, const struct config *cfg, char *err, size_t errsz)
{
    if (cfg->without_id_numbers) {
        log_warn(0, 0, "serving without the ID number key (without_id_numbers = 1): stored ID numbers show as"
                       " unavailable and new ones are refused");
        return 0;
    }
    PGresult *r = PQexec(pg, "SELECT id_key_verify()");
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        snprintf(err, errsz, "cannot check the ID number key: %s", PQresultErrorMessage(r));
    } else if (strcmp(PQgetvalue(r, 0, 0), "wrong") == 0) {
        snprintf(err, errsz,
                 "the ID number key (id_key) is not the key this database's ID numbers were sealed with: start kehud"
                 " with the right key (a restored base needs the key of the base it was taken from), or, if that key"
                 " is lost, with without_id_numbers = 1 (--without-id-numbers 1) to serve everything but the ID"
                 " numbers");
    } else {
        if (strcmp(PQgetvalue(r, 0, 0), "new") == 0)
            log_info(0, 0, "ID number key: check value recorded in the database (id_key_check)");
        rc = 0;
    }
    PQclear(r);
    return rc;
}
