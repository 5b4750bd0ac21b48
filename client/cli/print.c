/* The one way things are printed (cli.h): human lines with control
 * characters shown as spaces, CSV rows, records (JSON, CSV, a table), grades
 * as every command shows them, failed statuses and the explanation of a
 * stale edit, and the "more:" hint after a page of a list. */
#include "cli.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

void cli_record_json(struct json_w *w, const struct cli_record_kind *k, const void *item)
{
    rec_json(w, k->rec, item);
}

void cli_json_record(const struct rec_kind *k, const void *msg)
{
    struct json_w w;
    json_init(&w, stdout, 1);
    rec_json(&w, k, msg);
}

void cli_print_records(struct cli *cli, void *const *items, size_t n, int list, const struct cli_record_kind *k)
{
    if (cli->json) {
        struct json_w w;
        json_init(&w, stdout, 1);
        if (list)
            rec_json_array(&w, k->rec, items, n);
        else
            for (size_t i = 0; i < n; i++)
                rec_json(&w, k->rec, items[i]);
    } else if (cli->csv && !k->no_csv) {
        rec_csv_head(stdout, k->rec);
        rec_csv_rows(stdout, k->rec, items, n);
    } else if (list || !(k->one || k->kv || k->kv_all)) {
        rec_table(stdout, k->rec, items, n);
    } else {
        for (size_t i = 0; i < n; i++)
            if (k->one)
                k->one(items[i]);
            else if (k->kv)
                rec_kv_cols(stdout, k->rec, k->kv, items[i]);
            else
                rec_kv(stdout, k->rec, items[i]);
    }
}

int cli_print_list(struct cli *cli, const struct cli_pages *pages, const struct cli_record_kind *k)
{
    if (!pages->n && !cli->json && !cli->csv)
        return 0;
    cli_print_records(cli, pages->items, pages->n, 1, k);
    return 1;
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
        cli_json_error(&w, st);
        json_key(&w, "current");
        cli_record_json(&w, k, current);
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

/* ---- Human lines and CSV ---------------------------------------------------------- */

/* Writes s with control characters (C0, DEL and C1 in UTF-8) as spaces. */
static void put_clean(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) {
            fputc(' ', f);
            i++;
        } else if (p[i] < 0x20 || p[i] == 0x7F) {
            fputc(' ', f);
        } else {
            fputc(p[i], f);
        }
    }
}

void cli_say(const char *fmt, ...)
{
    va_list ap, ap2;
    const char *tfmt = _(fmt); /* in the user's language (po/) */
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, tfmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    size_t len = (size_t)n;
    char *s = out_xmalloc(len + 1);
    vsnprintf(s, len + 1, tfmt, ap2);
    va_end(ap2);
    int nl = len > 0 && s[len - 1] == '\n';
    put_clean(stdout, s, len - (size_t)nl);
    if (nl)
        fputc('\n', stdout);
    free(s);
}

void cli_csv_row(FILE *f, int n, const char *const *cells)
{
    rec_csv_cells(f, n, cells);
}

int cli_fail_status(struct cli *cli, const struct kehu_status *st)
{
    if (st->code != KEHU_TRANSPORT && st->code != KEHU__V1__CODE__OK) {
        const char *name = kehu_code_name(st->code);
        out_error(cli->json, name ? name : "UNKNOWN", st->message, st->field);
        return CLI_REFUSED;
    }
    const char *msg = st->code == KEHU_TRANSPORT && st->message[0] ? st->message : _("no reply from the server");
    fflush(stdout);
    fputs("kehu: ", stderr);
    put_clean(stderr, msg, strlen(msg));
    fputc('\n', stderr);
    if (cli->json)
        cli_json_transport_error(msg, 1);
    return CLI_TRANSPORT;
}

int cli_bad_reply(struct cli *cli, Kehu__V1__Response *resp)
{
    struct kehu_status st = { .code = KEHU_TRANSPORT };
    snprintf(st.message, sizeof st.message, _("%s sent an unexpected reply (result %d)"), cli->server,
             resp ? (int)resp->result_case : -1);
    kehu_response_free(resp);
    return cli_fail_status(cli, &st);
}

void cli_json_error(struct json_w *w, const struct kehu_status *st)
{
    const char *code = kehu_code_name(st->code);
    json_init(w, stdout, 1);
    json_begin_object(w);
    json_key(w, "error");
    json_begin_object(w);
    json_kstr(w, "code", code ? code : "UNKNOWN");
    json_kstr(w, "message", st->message);
    if (st->field[0])
        json_kstr(w, "field", st->field);
    json_end_object(w);
}

void cli_json_strs(struct json_w *w, const char *key, char *const *v, size_t n)
{
    json_key(w, key);
    json_begin_array(w);
    for (size_t i = 0; i < n; i++)
        json_str(w, v[i]);
    json_end_array(w);
}

char *cli_join(char *const *v, size_t n, const char *sep)
{
    size_t len = 1, slen = strlen(sep);
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + slen;
    char *s = out_xmalloc(len), *p = s;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            memcpy(p, sep, slen);
            p += slen;
        }
        size_t l = strlen(v[i]);
        memcpy(p, v[i], l);
        p += l;
    }
    *p = 0;
    return s;
}

/* A word as a POSIX shell reads it back: as it is when it is made only of
 * safe characters, else in single quotes. */
static void put_shell_word(FILE *f, const char *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=+@%";
    int plain = *s != 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && plain; p++)
        plain = *p >= 0x80 || strchr(safe, *p) != NULL;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else if ((unsigned char)*s < 0x20 || *s == 0x7f)
            fputc(' ', f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

void cli_more(struct cli *cli, const char *const *words, size_t n, const char *cursor)
{
    fflush(stdout);
    if (cli->json || cli->csv) {
        fprintf(stderr, "next_cursor: %s\n", cursor);
        return;
    }
    fputs("more: kehu", stderr);
    for (size_t i = 0; i < n; i++) {
        fputc(' ', stderr);
        put_shell_word(stderr, words[i]);
    }
    fputs(" --after ", stderr);
    put_shell_word(stderr, cursor);
    fputc('\n', stderr);
}

/* ---- Grades as other commands show them ------------------------------------------------- */

void cli_json_grades(struct json_w *w, Kehu__V1__Grade *const *g, size_t n)
{
    json_begin_object(w);
    for (size_t i = 0; i < n; i++)
        if (*g[i]->dimension && *g[i]->grade)
            json_kstr(w, g[i]->dimension, g[i]->grade);
    json_end_object(w);
}

char *cli_grade_line(Kehu__V1__Grade *const *g, size_t n)
{
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(g[i]->dimension) + strlen(g[i]->grade) + 32;
    char *s = out_xmalloc(cap);
    size_t len = 0;
    s[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (!*g[i]->grade)
            continue;
        int w = snprintf(s + len, cap - len, "%s%s %s%s", len ? " · " : "", g[i]->dimension, g[i]->grade,
                         g[i]->overridden ? " (override)" : g[i]->is_new ? " (new)" : "");
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
    return s;
}

/* ---- Corrections as tables show them ---------------------------------------------------- */

char *cli_reversal_text(const void *msg)
{
    const ProtobufCMessageDescriptor *d = ((const ProtobufCMessage *)msg)->descriptor;
    const ProtobufCFieldDescriptor *rev = protobuf_c_message_descriptor_get_field_by_name(d, "reverses_id");
    const ProtobufCFieldDescriptor *by = protobuf_c_message_descriptor_get_field_by_name(d, "reversed_by_id");
    const ProtobufCFieldDescriptor *why = protobuf_c_message_descriptor_get_field_by_name(d, "reason");
    int64_t reverses = *(const int64_t *)((const char *)msg + rev->offset);
    int64_t reversed_by = *(const int64_t *)((const char *)msg + by->offset);
    const char *reason = *(const char *const *)((const char *)msg + why->offset);
    char buf[600] = "";
    if (reverses)
        snprintf(buf, sizeof buf, "reverses %" PRId64 ": %s", reverses, reason ? reason : "");
    else if (reversed_by)
        snprintf(buf, sizeof buf, "reversed by %" PRId64, reversed_by);
    return out_xstrdup(buf);
}

/* ---- Policy values (grade policy, assign policy) ---- */

static const struct rec_col policy_value_cols[] = {
    { NC_("policy", "KEY"), "key", OUT_LEFT, 0 },
    { N_("VALUE"), "value", OUT_LEFT, 0 },
    { N_("DESCRIPTION"), "description", OUT_LEFT, 0 },
    { NULL, NULL, 0, 0 },
};
const struct rec_kind cli_policy_value_rec = {
    &kehu__v1__policy_value__descriptor, "key value description", policy_value_cols, NULL, NULL,
};

void cli_print_policy_values(struct cli *cli, Kehu__V1__PolicyValue *const *values, size_t n, char *const *only,
                             size_t n_only)
{
    void **shown = out_xcalloc(n + 1, sizeof *shown);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int want = n_only == 0;
        for (size_t j = 0; j < n_only && !want; j++)
            want = strcmp(only[j], values[i]->key) == 0;
        if (want)
            shown[k++] = values[i];
    }
    struct cli_record_kind kind = { .rec = &cli_policy_value_rec };
    cli_print_records(cli, shown, k, 1, &kind);
    free(shown);
}

int cli_policy_set(struct cli *cli, int argc, char **argv, int op, void *m, Kehu__V1__FieldValue ***values,
                   size_t *n_values, Kehu__V1__Response__ResultCase want,
                   void (*print)(struct cli *cli, const void *result, char *const *keys, size_t n))
{
    struct cli_field_values fv;
    int rc = cli_field_values(cli, argc, argv, "KEY=VALUE", 0, NULL, &fv);
    if (rc)
        return rc;
    *values = fv.set;
    *n_values = fv.n;
    Kehu__V1__Response *resp;
    if ((rc = cli_ask(cli, op, m, want, &resp)) == CLI_OK) {
        if (!cli_result(resp)) {
            rc = cli_bad_reply(cli, resp);
        } else {
            int n = (int)fv.n;
            if (!cli->json && !cli->csv)
                cli_say("policy updated (%d value%s):\n", n, n == 1 ? "" : "s");
            print(cli, cli_result(resp), fv.keys, fv.n);
            kehu_response_free(resp);
        }
    }
    cli_field_values_free(&fv);
    return rc;
}

void cli_print_section(const char *title, const struct rec_kind *k, void *const *items, size_t n)
{
    if (!n)
        return;
    putchar('\n');
    fputs(_(title), stdout); /* a constant: nothing to clean */
    rec_table(stdout, k, items, n);
}

void cli_json_records(struct json_w *w, const char *key, const struct rec_kind *k, void *const *items, size_t n)
{
    json_key(w, key);
    rec_json_array(w, k, items, n);
}
