/* kehud: the Kehu server. `kehud [serve]` runs it; `migrate`, `init` and
 * `demo` prepare its database and exit; `reset-password` is the way back in
 * when a password is lost. */
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "id_number.h"
#include "migrate.h"
#include "server.h"
#include "setup.h"
#include "wire.h"
#include "tr.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kehud [COMMAND] [OPTIONS]\n"
            "\n"
            "Commands:\n"
            "  serve      run the server until SIGINT or SIGTERM (the default)\n"
            "  migrate    apply pending schema migrations to the database and exit\n"
            "  init       create the head office and the admin account if missing and exit;\n"
            "             the password comes from KEHU_ADMIN_PASSWORD, or is generated and printed once\n"
            "  demo       load the demo organisation once (password KEHU_DEMO_PASSWORD or kehu-demo-2026)\n"
            "  reset-password USERNAME\n"
            "             set a user's password straight in the database (a lost admin password):\n"
            "             from KEHU_NEW_PASSWORD or asked on the terminal; it must be changed at the next\n"
            "             login, the user's sessions end, the audit trail records it\n"
            "  version    print the version and the schema version this kehud needs\n"
            "\n");
    config_usage(out);
}

/* The one operand of a command among its options (every option but --help
 * takes a value, "--key=value" or "--key value"): taken out of argv, which
 * is shifted so that the options start at the returned index; -1 unless
 * there is exactly one. */
static int take_operand(int argc, char **argv, int first, const char **operand)
{
    int at = -1;
    for (int i = first; i < argc; i++) {
        if (argv[i][0] != '-') {
            if (at >= 0)
                return -1;
            at = i;
        } else if (!strchr(argv[i], '=') && strcmp(argv[i], "--help") && strcmp(argv[i], "-h")) {
            i++;
        }
    }
    if (at < 0)
        return -1;
    *operand = argv[at];
    for (int i = at; i > first; i--)
        argv[i] = argv[i - 1];
    return first + 1;
}

int main(int argc, char **argv)
{
    const char *cmd = "serve";
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        first = 2;
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        printf("kehud %s (protocol %u, schema %d)\n", KEHU_VERSION, KEHU_PROTOCOL_VERSION, migrate_expected());
        return 0;
    }
    if (strcmp(cmd, "serve") && strcmp(cmd, "migrate") && strcmp(cmd, "init") && strcmp(cmd, "demo") &&
        strcmp(cmd, "reset-password")) {
        fprintf(stderr, "kehud: unknown command '%s' (see kehud --help)\n", cmd);
        return 2;
    }
    const char *username = NULL;
    for (int i = first; strcmp(cmd, "reset-password") == 0 && i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    if (strcmp(cmd, "reset-password") == 0 && (first = take_operand(argc, argv, first, &username)) < 0) {
        fprintf(stderr, "kehud: usage: kehud reset-password USERNAME [--config FILE]\n");
        return 2;
    }
    struct config cfg;
    char err[1024];
    config_defaults(&cfg);
    int rc = config_from_args(&cfg, argc - first, argv + first, err, sizeof err);
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "kehud: %s\n", err);
        return 2;
    }
    enum log_level level = LOG_INFO;
    log_parse_level(cfg.log_level, &level);
    log_set_level(level);
    /* every session kehud opens (pool, imports, LISTEN, migrations) carries
     * the key that seals and opens ID numbers: libpq reads PGOPTIONS. Without
     * it ('none'), stored numbers read as unavailable and none are stored. */
    if (!cfg.without_id_numbers && config_id_key_ok(cfg.id_key) < 0) {
        fprintf(stderr, "kehud: id_key must be 64 hex digits (for example from `openssl rand -hex 32`): ID numbers "
                        "are stored encrypted with it (a base whose key is lost is served with without_id_numbers = 1)\n");
        return 2;
    }
    /* kehud opens and seals numbers itself on its hot paths (id_number.c) */
    if (id_number_init(cfg.without_id_numbers ? NULL : cfg.id_key) < 0) {
        fprintf(stderr, "kehud: id_key must be 64 hex digits\n");
        return 2;
    }
    char pgoptions[128];
    snprintf(pgoptions, sizeof pgoptions, "-c kehu.id_key=%s", cfg.without_id_numbers ? "none" : cfg.id_key);
    setenv("PGOPTIONS", pgoptions, 1);
    if (sodium_init() < 0) {
        fprintf(stderr, "kehud: libsodium failed to initialise\n");
        return 1;
    }
    if (strcmp(cmd, "migrate") == 0) {
        if (migrate_apply(config_owner_db(&cfg), err, sizeof err) < 0) {
            fprintf(stderr, "kehud: %s\n", err);
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "init") == 0)
        return setup_init(&cfg);
    if (strcmp(cmd, "demo") == 0)
        return setup_demo(&cfg);
    if (strcmp(cmd, "reset-password") == 0)
        return setup_reset_password(&cfg, username);
    tr_init(); /* refusals in each client's language */
    return server_run(&cfg);
}
