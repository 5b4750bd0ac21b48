/* Terminal interaction for the CLI: password prompts with echo off and a
 * progress bar for long jobs. Both stay silent when there is no terminal, so
 * scripts see only the documented output. */
#ifndef KEHU_CLI_TERM_H
#define KEHU_CLI_TERM_H

#include <stddef.h>
#include <stdint.h>

/* Longest secret term_read_password accepts from a terminal, in bytes. */
#define TERM_SECRET_MAX 1024

int term_is_tty(int fd);

/* A password: when stdin is a terminal and /dev/tty opens, the prompt goes to
 * /dev/tty and one line is read there with echo off (the terminal mode is
 * restored afterwards, also when SIGINT, SIGTERM, SIGHUP or SIGQUIT arrive
 * meanwhile: the handler restores it and re-raises the signal). Otherwise
 * the value of the environment variable env_name (may be NULL: no fallback).
 * The trailing newline is stripped.
 *
 * Returns a malloc'd string to release with term_free_secret(), or NULL with
 * a message in err, e.g. "no terminal to ask for a password: set
 * KEHU_PASSWORD". */
char *term_read_password(const char *prompt, const char *env_name, char *err, size_t errsz);

/* Zeroes the secret (explicit_bzero) and frees it; NULL is fine. */
void term_free_secret(char *secret);

/* "label [#####-----]  45%  450/1000" rewritten in place on stderr, sized to
 * the terminal (80 columns when unknown); total 0 shows only the count.
 * Redraws are throttled. Does nothing at all when stderr is not a terminal. */
void term_progress(const char *label, uint64_t done, uint64_t total);
/* Draws the last state and ends the line; nothing if no bar was shown. */
void term_progress_done(void);

#endif
