#include "cli_config.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static int config_path(char *out, size_t n)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && xdg[0] == '/')
        return snprintf(out, n, "%s/kehu/config", xdg) < (int)n ? 0 : -1;
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !*home)
        return -1;
    return snprintf(out, n, "%s/.config/kehu/config", home) < (int)n ? 0 : -1;
}

int cli_config_load(struct cli_config *cfg, char *err, size_t errsz)
{
    memset(cfg, 0, sizeof *cfg);
    char path[sizeof cfg->path];
    if (config_path(path, sizeof path) < 0)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errsz, "%s:%d: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = trim(s), *value = trim(eq + 1);
        char *dst = NULL;
        size_t cap = 0;
        if (strcmp(key, "server") == 0)
            dst = cfg->server, cap = sizeof cfg->server;
        else if (strcmp(key, "format") == 0)
            dst = cfg->format, cap = sizeof cfg->format;
        else if (strcmp(key, "timeout") == 0)
            dst = cfg->timeout, cap = sizeof cfg->timeout;
        else if (strcmp(key, "fingerprint") == 0)
            dst = cfg->fingerprint, cap = sizeof cfg->fingerprint;
        if (!dst) {
            snprintf(err, errsz, "%s:%d: unknown key '%.60s' (server, format, timeout, fingerprint)", path, lineno,
                     key);
            rc = -1;
        } else if (strlen(value) >= cap) {
            snprintf(err, errsz, "%s:%d: %s is too long", path, lineno, key);
            rc = -1;
        } else if (dst == cfg->format && strcmp(value, "json") && strcmp(value, "csv") && strcmp(value, "table")) {
            snprintf(err, errsz, "%s:%d: format is json, csv or table, not '%.60s'", path, lineno, value);
            rc = -1;
        } else {
            memcpy(dst, value, strlen(value) + 1);
        }
    }
    fclose(f);
    return rc;
}
