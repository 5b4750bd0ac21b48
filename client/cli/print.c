/* The one way records are printed (JSON, CSV, a table), the explanation of a
 * stale edit, and the JSON error of a lost connection (cli.h). */
#include "cli.h"

#include <inttypes.h>

#include "out.h"

void cli_print_records(struct cli *cli, void *const *items, size_t n, int list, const struct cli_record_kind *k)
{
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        if (list)
            json_begin_array(&w);
        for (size_t i = 0; i < n; i++)
            k->json(&w, items[i]);
        if (list)
            json_end_array(&w);
    } else if (cli->csv) {
        cli_csv_row(stdout, k->ncols, k->csv_head);
        for (size_t i = 0; i < n; i++)
            k->csv_row(items[i]);
    } else if (list || !k->one) {
        k->table(items, n);
    } else {
        for (size_t i = 0; i < n; i++)
            k->one(items[i]);
    }
}

int cli_explain_stale(struct cli *cli, Kehu__V1__Response *resp, const struct kehu_status *st, const char *what,
                      int64_t id, int64_t version, const void *current, int64_t current_version,
                      const struct cli_record_kind *k)
{
    if (st->code != KEHU__V1__CODE__CONFLICT || !current) {
        kehu_response_free(resp);
        return cli_fail_status(cli, st);
    }
    char msg[200];
    snprintf(msg, sizeof msg, "%s %" PRId64 " changed since version %" PRId64 ": it is now at version %" PRId64,
             what, id, version, current_version);
    out_error(0, kehu_code_name(st->code), msg, NULL);
    if (cli->json) {
        struct json_w w;
        cmd_customer_json_error(&w, st);
        json_key(&w, "current");
        k->json(&w, current);
        json_end_object(&w);
    }
    kehu_response_free(resp);
    return CLI_REFUSED;
}

void cli_json_transport_error(const char *msg, int pretty)
{
    struct json_w w;
    json_init(&w, stdout, pretty);
    json_begin_object(&w);
    json_key(&w, "error");
    json_begin_object(&w);
    json_kstr(&w, "code", kehu_code_name(KEHU_TRANSPORT));
    json_kstr(&w, "message", msg);
    json_end_object(&w);
    json_end_object(&w);
    fflush(stdout);
}
