/* The end of a page of any list (CLI.md: nothing is ever cut silently), and
 * list commands written as a table row (cli_run_list, cli_fetch_list). */
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

/* ---- List commands from a table row ---- */

#define LIST_LIMIT_MAX 1000

static const ProtobufCFieldDescriptor *fd_of(const ProtobufCMessageDescriptor *d, const char *name)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, name);
    if (!fd)
        abort(); /* a list row that names a field the proto lacks */
    return fd;
}

const void *cli_result(const Kehu__V1__Response *resp)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&kehu__v1__response__descriptor, (unsigned)resp->result_case);
    return fd ? *(const void *const *)((const char *)resp + fd->offset) : NULL;
}

int cli_fetch_list(struct cli *cli, int op, void *m, Kehu__V1__Response__ResultCase want, const char *items,
                   char **after, int all, struct cli_pages *pages)
{
    Kehu__V1__Request req;
    cli_request(&req, op, m);
    for (;;) {
        Kehu__V1__Response *resp;
        int rc = cli_call_for(cli, &req, want, &resp);
        if (rc)
            return rc;
        const char *list = cli_page_list(resp);
        if (!list)
            return cli_bad_reply(cli, resp);
        const ProtobufCMessageDescriptor *ld = ((const ProtobufCMessage *)list)->descriptor;
        const ProtobufCFieldDescriptor *fd = fd_of(ld, items);
        const char *next = *(const char *const *)(list + fd_of(ld, "next_cursor")->offset);
        uint32_t remaining = *(const uint32_t *)(list + fd_of(ld, "remaining")->offset);
        cli_pages_add(pages, resp, *(void *const *const *)(list + fd->offset),
                      *(const size_t *)(list + fd->quantifier_offset));
        if ((rc = cli_pages_next(cli, pages, next, remaining, *after)) || !all || !pages->next)
            return rc;
        *after = (char *)next;
    }
}

int cli_run_list(struct cli *cli, int argc, char **argv, const struct cli_list *l)
{
    const ProtobufCMessageDescriptor *d = l->req_desc;
    char *m = out_xcalloc(1, d->sizeof_message);
    protobuf_c_message_init(d, m);
    struct cli_paging pg = { .max = l->limit_max };
    struct cmd_words fw = { .n = 0 };
    int rc;
    int64_t id = 0;
    if ((rc = cli_flags(cli, argc, argv, d, l->flags, m, &pg, &fw)) ||
        (l->id_what ? (rc = cli_id_arg(cli, argc, argv, l->id_what, &id)) : (rc = cli_args(cli, argc, argv, 0, 0)))) {
        free(m);
        return rc;
    }
    if (l->id_what)
        *(int64_t *)(m + fd_of(d, l->id_field)->offset) = id;
    char **after = (char **)(m + fd_of(d, "after")->offset);
    struct cli_pages pages = { 0 };
    rc = cli_fetch_list(cli, l->op, m, l->want, l->items, after, pg.all, &pages);
    if (rc == CLI_OK) {
        if (l->print)
            l->print(cli, m, &pages);
        else
            cli_print_records(cli, pages.items, pages.n, 1, l->kind);
        if (l->footer && !cli->json && !cli->csv)
            l->footer(cli, &pages);
        /* the words that repeat the command: its words, the ID, its options, --limit N */
        char words[64], idbuf[24];
        const char *w[56];
        size_t n = 0;
        snprintf(words, sizeof words, "%s", cli->cmd->words);
        for (char *s = strtok(words, " "); s && n < 12; s = strtok(NULL, " "))
            w[n++] = s;
        if (l->id_what) {
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
            w[n++] = idbuf;
        }
        for (size_t i = 0; i < fw.n; i++)
            w[n++] = fw.w[i];
        cli_page_more(cli, w, n, pages.next, pages.remaining);
    }
    cli_pages_free(&pages);
    free(m);
    return rc;
}

/* ---- Commands of one request ------------------------------------------------------------------- */

int cli_run_one(struct cli *cli, int argc, char **argv, const struct cli_one *o)
{
    const ProtobufCMessageDescriptor *d = o->req_desc;
    char *m = out_xcalloc(1, d->sizeof_message);
    protobuf_c_message_init(d, m);
    int rc = cli_flags(cli, argc, argv, d, o->flags, m, NULL, NULL);
    /* the arguments: "USERNAME CUSTOMER_ID" into "username customer_id" */
    char whats[128] = "", fields[128] = "";
    char *what[4], *field[4], *sw, *sf;
    int n = 0;
    snprintf(whats, sizeof whats, "%s", o->arg_what ? o->arg_what : "");
    snprintf(fields, sizeof fields, "%s", o->arg_field ? o->arg_field : "");
    for (char *w = strtok_r(whats, " ", &sw), *f = strtok_r(fields, " ", &sf); w && f && n < 4;
         w = strtok_r(NULL, " ", &sw), f = strtok_r(NULL, " ", &sf), n++)
        what[n] = w, field[n] = f;
    if (!rc)
        rc = cli_args(cli, argc, argv, n, n);
    for (int i = 0; i < n && !rc; i++) {
        const ProtobufCFieldDescriptor *fd = fd_of(d, field[i]);
        if (fd->type == PROTOBUF_C_TYPE_STRING)
            *(char **)(m + fd->offset) = argv[optind + i];
        else if (fd->type == PROTOBUF_C_TYPE_ENUM)
            rc = cli_parse_enum(cli, what[i], argv[optind + i], fd->descriptor, (int *)(m + fd->offset));
        else
            rc = cli_parse_int(cli, what[i], argv[optind + i], 1, INT64_MAX, (int64_t *)(m + fd->offset));
    }
    if (!rc && o->check)
        rc = o->check(cli, m);
    if (!rc)
        rc = cli_ask_print(cli, o->op, m, o->want, o->kind, o->print);
    free(m);
    return rc;
}

int cli_ask_print(struct cli *cli, int op, void *m, Kehu__V1__Response__ResultCase want,
                  const struct cli_record_kind *kind, void (*print)(struct cli *cli, const void *result))
{
    Kehu__V1__Response *resp = NULL;
    int rc = cli_ask(cli, op, m, want, &resp);
    if (rc)
        return rc;
    const void *result = cli_result(resp);
    if (!result)
        return cli_bad_reply(cli, resp);
    if (print)
        print(cli, result);
    else
        cli_print_records(cli, (void *const *)&result, 1, 0, kind);
    kehu_response_free(resp);
    return CLI_OK;
}
