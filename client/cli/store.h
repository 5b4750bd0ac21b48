/* The session token store of the CLI.
 *
 * One file, $XDG_CONFIG_HOME/kehu/sessions (XDG_CONFIG_HOME unset, empty or
 * relative: $HOME/.config), one line per server:
 *     HOST:PORT TOKEN USERNAME
 * separated by single spaces; none of the three contains white space, and a
 * server does not start with '#'. Lines starting with '#' are comments; they
 * and lines this version does not understand are kept as they are when the
 * file is rewritten.
 *
 * The directory is made 0700 and the file 0600. Writes go to a temporary
 * file in the same directory, then rename() over the old one, under an
 * exclusive flock() on the directory so that two concurrent logins do not
 * lose each other's line. Reading does not check the file's mode; the next
 * write leaves it 0600. */
#ifndef KEHU_CLI_STORE_H
#define KEHU_CLI_STORE_H

#include <stddef.h>

/* The token and user name for server ("HOST:PORT", compared as given).
 * Returns 0 when found, 1 when not (no file, no line), -1 on error. token
 * and user are NUL-terminated; a value that does not fit is an error. */
int store_get(const char *server, char *token, size_t tn, char *user, size_t un);

/* Adds or replaces the server's line, keeping the others. user may be "" or
 * NULL. Returns 0 or -1. */
int store_put(const char *server, const char *token, const char *user);

/* Removes the server's line. Returns 0 when removed, 1 when there was none,
 * -1 on error. */
int store_del(const char *server);

/* The sessions file's path, for messages (a placeholder when there is no
 * home directory). Valid until the next call into this module. */
const char *store_path(void);

/* What the last -1 was about, e.g. "cannot create /home/x/.config/kehu:
 * Permission denied". */
const char *store_error(void);

#endif
