/* kehud: the Kehu server. `kehud [serve]` runs it; `migrate`, `init` and
 * `demo` prepare its database and exit. */
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "migrate.h"
#include "server.h"
#include "setup.h"
#include "wire.h"

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
            "  version    print the version and the schema version this kehud needs\n"
            "\n");
    config_usage(out);
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
    if (strcmp(cmd, "serve") && strcmp(cmd, "migrate") && strcmp(cmd, "init") && strcmp(cmd, "demo")) {
        fprintf(stderr, "kehud: unknown command '%s' (see kehud --help)\n", cmd);
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
    return server_run(&cfg);
}
