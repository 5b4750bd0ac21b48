/* kehu's optional configuration file, $XDG_CONFIG_HOME/kehu/config (default
 * ~/.config/kehu/config): `key = value` lines, # comments.
 *
 *   server = kehu.example.com:7700    (KEHU_SERVER and --server override it)
 *   format = json | csv | table       (--json and --csv override it)
 *   timeout = 30                      (seconds; --timeout overrides it)
 *   fingerprint = SHA256:...          (the server certificate's, for TLS;
 *                                      KEHU_FINGERPRINT overrides it)
 */
#ifndef KEHU_CLI_CONFIG_H
#define KEHU_CLI_CONFIG_H

#include <stddef.h>

struct cli_config {
    char server[256];
    char format[16];
    char timeout[32];
    char fingerprint[160];
    char path[4096];  /* the file read, "" when there is none */
};

/* Reads the file if there is one. 0 (also when there is none), or -1 with
 * a message naming the file and line in err. */
int cli_config_load(struct cli_config *cfg, char *err, size_t errsz);

#endif
