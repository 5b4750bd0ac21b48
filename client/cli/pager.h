/* Long human output through a pager, as git does, and tables sized to the
 * terminal. Only when stdout is a terminal and the output is a table for
 * people: never with --json or --csv, never into a pipe or a file. */
#ifndef KEHU_CLI_PAGER_H
#define KEHU_CLI_PAGER_H

struct cli;

/* Called once the command is known: when stdout is a terminal, tables fit
 * its width (COLUMNS when set, else the terminal's), and the first table
 * starts the pager (KEHU_PAGER, else PAGER, else "less -FRX"; "" or "cat"
 * means none) unless cli->json or cli->csv is set by then. */
void pager_setup(struct cli *cli);

/* Flushes stdout to the pager, closes it and waits for the pager to end;
 * nothing when none was started. Before the process exits. */
void pager_finish(void);

#endif
