/* Offline set-up commands: `kehud init` (head office and admin account) and
 * `kehud demo` (a small demo organisation). Both are idempotent. */
#ifndef KEHU_SETUP_H
#define KEHU_SETUP_H

#include <libpq-fe.h>

#include "config.h"

int setup_init(const struct config *cfg);
int setup_demo(const struct config *cfg);
/* `kehud reset-password USERNAME`: the way back in when a password (the
 * admin's) is lost. Straight on the database: a new password (from
 * KEHU_NEW_PASSWORD, or asked twice on the terminal) that must be changed at
 * the next login; the user's sessions end; an audit row records it. 0 done,
 * 1 refused or failed, 2 usage. */
int setup_reset_password(const struct config *cfg, const char *username);

/* At the start of `serve`, on the start-up connection: whether id_key is
 * the key the base's ID numbers were sealed with (sql/0017's check value,
 * made at the first start). 0 when it is (or when kehud serves without
 * ID numbers: then a warning is logged), -1 with a message in err. */
int setup_id_key_check(PGconn *pg, const struct config *cfg, char *err, size_t errsz);

#endif
