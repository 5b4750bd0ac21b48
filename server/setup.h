/* Offline set-up commands: `kehud init` (head office and admin account) and
 * `kehud demo` (a small demo organisation). Both are idempotent. */
#ifndef KEHU_SETUP_H
#define KEHU_SETUP_H

#include "config.h"

int setup_init(const struct config *cfg);
int setup_demo(const struct config *cfg);

#endif
