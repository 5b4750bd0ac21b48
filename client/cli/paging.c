/* The end of a page of any list (CLI.md: nothing is ever cut silently). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

void cli_page_more(struct cli *cli, const char *const *words, size_t n, const char *cursor, uint32_t remaining)
{
    if (!cursor || !*cursor)
        return;
    if (cli->json || cli->csv) {
        cmd_customer_more(cli, words, n, cursor); /* "next_cursor: CURSOR" */
        fprintf(stderr, "remaining: %u\n", remaining);
        return;
    }
    fflush(stdout);
    fprintf(stderr, P_("%u more (--all for every one); the next page:\n",
                       "%u more (--all for every one); the next page:\n", remaining),
            remaining);
    cmd_customer_more(cli, words, n, cursor);
}

int cli_page_option(struct cli *cli, int opt, const char *arg, uint32_t max, struct cli_paging *pg)
{
    int64_t v;
    int rc;
    switch (opt) {
    case CLI_O_LIMIT:
        if ((rc = cmd_customer_parse_int(cli, "--limit", arg, 1, max, &v)))
            return rc;
        pg->limit = (uint32_t)v;
        pg->limit_arg = arg;
        return CLI_OK;
    case CLI_O_AFTER: pg->after = arg; return CLI_OK;
    case CLI_O_ALL: pg->all = 1; return CLI_OK;
    default: return -1;
    }
}

void cli_pages_add(struct cli_pages *p, Kehu__V1__Response *resp, void *const *items, size_t n)
{
    p->resp = out_xrealloc(p->resp, (p->n_resp + 1) * sizeof *p->resp);
    p->resp[p->n_resp++] = resp;
    if (n) {
        p->items = out_xrealloc(p->items, (p->n + n) * sizeof *p->items);
        memcpy(p->items + p->n, items, n * sizeof *items);
        p->n += n;
    }
}

void cli_pages_free(struct cli_pages *p)
{
    for (size_t i = 0; i < p->n_resp; i++)
        kehu_response_free(p->resp[i]);
    free(p->resp);
    free(p->items);
    memset(p, 0, sizeof *p);
}

int cli_pages_next(struct cli *cli, struct cli_pages *p, const char *cursor, uint32_t remaining, const char *after)
{
    if (cursor && *cursor && after && strcmp(cursor, after) == 0)
        return cli_error(cli, CLI_TRANSPORT, "the server gave the same page twice"); /* would loop forever */
    p->next = cursor && *cursor ? cursor : NULL;
    p->remaining = p->next ? remaining : 0;
    return CLI_OK;
}

int cli_fetch_pages(struct cli *cli, const Kehu__V1__Request *req, Kehu__V1__Response__ResultCase want, char **after,
                    int all, cli_page_fn page, struct cli_pages *pages)
{
    int rc;
    for (;;) {
        Kehu__V1__Response *resp;
        if ((rc = cli_call_for(cli, req, want, &resp)))
            return rc;
        void *const *items = NULL;
        size_t n = 0;
        const char *next = "";
        uint32_t remaining = 0;
        if (page(resp, &items, &n, &next, &remaining) < 0)
            return cli_bad_reply(cli, resp);
        cli_pages_add(pages, resp, items, n);
        if ((rc = cli_pages_next(cli, pages, next, remaining, *after)) || !all || !pages->next)
            return rc;
        *after = (char *)next;
    }
}
