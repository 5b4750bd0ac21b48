/* Records written from their descriptors (record.h). */
#include "record.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- The conventions, in one place ------------------------------------------- */

enum style { PLAIN, MONEY, TIME };

/* An int64 field whose name ends so is shown so, under its name less the
 * ending: amount_minor -> "amount": "1234.50"; created_at_ms -> "created_at":
 * "2026-11-23T10:34:45Z". */
static const struct convention {
    const char *suffix;
    enum style style;
} conventions[] = {
    { "_minor", MONEY }, /* fen, shown as a decimal string with 2 decimals */
    { "_ms", TIME },     /* milliseconds since 1970 UTC, shown as ISO 8601 UTC; 0: null */
};

/* ---- One word of a field list ----------------------------------------------------- */

struct item {
    char key[64];
    const ProtobufCFieldDescriptor *fd, *sub; /* sub: the field of fd's message for SUB.FIELD */
    const ProtobufCFieldDescriptor *guard;    /* "?GUARD" */
    int if_set;                               /* "?" */
    int if_positive;                          /* "?-": null when below 0 (none) */
    int json_only;                            /* "+" */
    int raw;                                  /* "#": no convention */
    int csv_only;                             /* "-" */
    int money;                                /* "$": fen, whatever its name */
    int time;                                 /* "^": unix ms, whatever its name */
    int omit;                                 /* "~": no JSON member when null or empty */
    const char *none;                         /* "|TEXT": a table's text for an empty value */
    size_t none_len;
    enum style style;
    const struct rec_calc *calc; /* "@NAME" */
};

static void die(const char *what, const char *word, size_t n)
{
    fprintf(stderr, "kehu: record: %s '%.*s'\n", what, (int)n, word);
    abort(); /* a kind that names what is not there is a bug, found by any test that prints it */
}

static const ProtobufCFieldDescriptor *field(const ProtobufCMessageDescriptor *d, const char *name, size_t n)
{
    char buf[64];
    if (n >= sizeof buf)
        die("name too long", name, n);
    memcpy(buf, name, n);
    buf[n] = 0;
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, buf);
    if (!fd)
        die("no such field", name, n);
    return fd;
}

static void parse_item(const struct rec_kind *k, const char *w, size_t n, struct item *it)
{
    memset(it, 0, sizeof *it);
    for (; n > 0 && strchr("+#-$^~", *w); w++, n--)
        *w == '+' ? (it->json_only = 1) : *w == '#' ? (it->raw = 1) : *w == '$' ? (it->money = 1)
        : *w == '^' ? (it->time = 1) : *w == '~' ? (it->omit = 1) : (it->csv_only = 1);
    const char *bar = memchr(w, '|', n);
    if (bar) {
        it->none = bar + 1;
        it->none_len = (size_t)(w + n - bar - 1);
        n = (size_t)(bar - w);
    }
    const char *eq = memchr(w, '=', n), *q = memchr(w, '?', n);
    const char *path = eq ? eq + 1 : w, *end = q ? q : w + n;
    size_t plen = (size_t)(end - path);
    if (q && q + 2 == w + n && q[1] == '-')
        it->if_positive = 1;
    else if (q && q + 1 < w + n)
        it->guard = field(k->desc, q + 1, (size_t)(w + n - q - 1));
    it->if_set = q != NULL;
    if (*path == '@') {
        for (const struct rec_calc *c = k->calc; c && c->name; c++)
            if (strlen(c->name) == plen - 1 && memcmp(c->name, path + 1, plen - 1) == 0)
                it->calc = c;
        if (!it->calc)
            die("no such value", path, plen);
    } else {
        const char *dot = memchr(path, '.', plen);
        it->fd = field(k->desc, path, dot ? (size_t)(dot - path) : plen);
        if (dot) {
            if (it->fd->type != PROTOBUF_C_TYPE_MESSAGE)
                die("not a message", path, plen);
            it->sub = field(it->fd->descriptor, dot + 1, (size_t)(end - dot - 1));
        }
    }
    /* the key: as given, else the field's own name less its convention ending */
    const char *kname = eq ? w : it->calc ? it->calc->name : (it->sub ? it->sub : it->fd)->name;
    size_t klen = eq ? (size_t)(eq - w) : strlen(kname);
    const ProtobufCFieldDescriptor *leaf = it->sub ? it->sub : it->fd;
    if (leaf && !it->raw && leaf->type == PROTOBUF_C_TYPE_INT64 && leaf->label != PROTOBUF_C_LABEL_REPEATED)
        for (size_t i = 0; i < sizeof conventions / sizeof conventions[0]; i++) {
            size_t sl = strlen(conventions[i].suffix), ll = strlen(leaf->name);
            if (ll > sl && strcmp(leaf->name + ll - sl, conventions[i].suffix) == 0) {
                it->style = conventions[i].style;
                if (!eq)
                    klen = ll - sl;
            }
        }
    if (it->money)
        it->style = MONEY;
    if (it->time)
        it->style = TIME;
    if (klen >= sizeof it->key)
        die("key too long", kname, klen);
    memcpy(it->key, kname, klen);
    it->key[klen] = 0;
}

/* The next word of a field list at *p (NULL after the last), n its length. */
static const char *next_word(const char **p, size_t *n)
{
    const char *s = *p + strspn(*p, " \n");
    if (!*s)
        return NULL;
    *n = strcspn(s, " \n");
    *p = s + *n;
    return s;
}

#define EACH_ITEM(k, list, it)                                                              \
    for (const char *p_ = (list), *w_; (w_ = next_word(&p_, &n_)) && (parse_item((k), w_, n_, &(it)), 1);)

/* ---- Values ------------------------------------------------------------------------ */

enum vkind { V_NULL, V_INT, V_UINT, V_DOUBLE, V_BOOL, V_STR, V_STRS, V_INTS, V_BYTES, V_CALC, V_MSGS };

struct val {
    enum vkind kind;
    int64_t i;
    uint64_t u;
    double d;
    const char *s;
    char *const *strs;
    const int64_t *ints;
    const uint8_t *bytes;
    size_t n;
    enum style style;
};

static int is_zero(const struct val *v)
{
    switch (v->kind) {
    case V_INT: return v->i == 0;
    case V_UINT: return v->u == 0;
    case V_DOUBLE: return v->d == 0;
    case V_BOOL: return !v->i;
    case V_STR: return !*v->s;
    case V_STRS:
    case V_INTS:
    case V_MSGS:
    case V_BYTES: return v->n == 0;
    default: return 1;
    }
}

static void lower_name(const ProtobufCEnumDescriptor *ed, int value, struct val *v)
{
    static char buf[8][64]; /* a few names in flight at once: enough for one row's cells */
    static unsigned next;
    const ProtobufCEnumValue *ev = value ? protobuf_c_enum_descriptor_get_value(ed, value) : NULL;
    if (!ev) {
        v->kind = V_NULL;
        return;
    }
    char *b = buf[next++ % 8];
    size_t i = 0;
    for (; ev->name[i] && i + 1 < sizeof buf[0]; i++)
        b[i] = ev->name[i] >= 'A' && ev->name[i] <= 'Z' ? (char)(ev->name[i] - 'A' + 'a') : ev->name[i];
    b[i] = 0;
    v->kind = V_STR;
    v->s = b;
}

static void get(const struct item *it, const void *msg, struct val *v)
{
    memset(v, 0, sizeof *v);
    v->style = it->style;
    if (it->calc) {
        v->kind = V_CALC;
        goto guard; /* "@NAME?GUARD": null when GUARD is empty */
    }
    const char *base = msg;
    const ProtobufCFieldDescriptor *fd = it->fd;
    if (it->sub) {
        base = *(const char *const *)(base + fd->offset);
        fd = it->sub;
        if (!base)
            return;
    }
    const void *p = base + fd->offset;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        v->n = *(const size_t *)(base + fd->quantifier_offset);
        v->strs = *(char *const *const *)p;
        v->ints = *(const int64_t *const *)p;
        v->kind = fd->type == PROTOBUF_C_TYPE_STRING ? V_STRS
                  : fd->type == PROTOBUF_C_TYPE_INT64 ? V_INTS
                  : fd->type == PROTOBUF_C_TYPE_MESSAGE ? V_MSGS /* written by a rec_calc only */
                                                          : V_NULL;
    } else {
        switch (fd->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32: v->kind = V_INT; v->i = *(const int32_t *)p; break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64: v->kind = V_INT; v->i = *(const int64_t *)p; break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32: v->kind = V_UINT; v->u = *(const uint32_t *)p; break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64: v->kind = V_UINT; v->u = *(const uint64_t *)p; break;
        case PROTOBUF_C_TYPE_FLOAT: v->kind = V_DOUBLE; v->d = *(const float *)p; break;
        case PROTOBUF_C_TYPE_DOUBLE: v->kind = V_DOUBLE; v->d = *(const double *)p; break;
        case PROTOBUF_C_TYPE_BOOL: v->kind = V_BOOL; v->i = *(const protobuf_c_boolean *)p; break;
        case PROTOBUF_C_TYPE_ENUM: lower_name(fd->descriptor, *(const int *)p, v); break;
        case PROTOBUF_C_TYPE_STRING:
            v->kind = V_STR;
            v->s = *(const char *const *)p ? *(const char *const *)p : "";
            break;
        case PROTOBUF_C_TYPE_BYTES:
            v->kind = V_BYTES;
            v->bytes = ((const ProtobufCBinaryData *)p)->data;
            v->n = ((const ProtobufCBinaryData *)p)->len;
            break;
        default: v->kind = V_NULL; break;
        }
    }
    if (v->style == TIME && v->kind == V_INT && v->i == 0)
        v->kind = V_NULL;
guard:
    if (it->guard) {
        struct item g = { .fd = it->guard };
        struct val gv;
        get(&g, msg, &gv);
        if (is_zero(&gv))
            v->kind = V_NULL;
    } else if (it->if_positive) {
        if (v->kind == V_INT && v->i < 0)
            v->kind = V_NULL;
    } else if (it->if_set && v->kind != V_CALC && is_zero(v)) {
        v->kind = V_NULL;
    }
}

static char *hex(const struct val *v)
{
    char *h = out_xmalloc(2 * v->n + 1);
    for (size_t i = 0; i < v->n; i++)
        snprintf(h + 2 * i, 3, "%02x", v->bytes[i]);
    h[2 * v->n] = 0;
    return h;
}

/* ---- JSON --------------------------------------------------------------------------- */

static void json_val(struct json_w *w, const struct item *it, const struct val *v, const void *msg)
{
    char buf[OUT_TIME_BUFSZ];
    switch (v->kind) {
    case V_NULL: json_null(w); break;
    case V_INT:
        if (v->style == MONEY) {
            json_raw_money(w, v->i);
        } else if (v->style == TIME) {
            out_time_ms(v->i, buf, sizeof buf);
            json_str(w, buf);
        } else {
            json_int(w, v->i);
        }
        break;
    case V_UINT: json_uint(w, v->u); break;
    case V_DOUBLE: json_double(w, v->d); break;
    case V_BOOL: json_bool(w, (int)v->i); break;
    case V_STR:
        if (it->raw)
            json_raw(w, v->s); /* "#": a number the server sent as text */
        else
            json_str(w, v->s);
        break;
    case V_STRS:
        json_begin_array(w);
        for (size_t i = 0; i < v->n; i++)
            json_str(w, v->strs[i]);
        json_end_array(w);
        break;
    case V_INTS:
        json_begin_array(w);
        for (size_t i = 0; i < v->n; i++)
            json_int(w, v->ints[i]);
        json_end_array(w);
        break;
    case V_BYTES: {
        char *h = hex(v);
        json_str(w, h);
        free(h);
        break;
    }
    case V_CALC: it->calc->json(w, msg); break;
    case V_MSGS: json_null(w); break;
    }
}

void rec_json(struct json_w *w, const struct rec_kind *k, const void *msg)
{
    json_begin_object(w);
    rec_json_members(w, k, msg);
    json_end_object(w);
}

void rec_json_array(struct json_w *w, const struct rec_kind *k, void *const *msgs, size_t n)
{
    json_begin_array(w);
    for (size_t i = 0; i < n; i++)
        rec_json(w, k, msgs[i]);
    json_end_array(w);
}

void rec_json_members(struct json_w *w, const struct rec_kind *k, const void *msg)
{
    struct item it;
    struct val v;
    size_t n_;
    EACH_ITEM(k, k->fields, it)
    {
        if (it.csv_only)
            continue;
        get(&it, msg, &v);
        if (it.omit && v.kind == V_NULL)
            continue;
        json_key(w, it.key);
        json_val(w, &it, &v, msg);
    }
}

/* ---- Text: CSV cells and table cells ------------------------------------------------ */

static char *join(char *const *v, size_t n, const char *sep)
{
    size_t len = 1, sl = strlen(sep);
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + sl;
    char *s = out_xmalloc(len), *p = s;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (i) {
            memcpy(p, sep, sl);
            p += sl;
        }
        memcpy(p, v[i], l);
        p += l;
    }
    *p = 0;
    return s;
}

/* table: as people read it (bool "yes"/"", lists joined by ", "). */
static char *text_val(const struct item *it, const struct val *v, const void *msg, int table)
{
    char buf[64];
    switch (v->kind) {
    case V_NULL: return out_xstrdup("");
    case V_INT:
        if (v->style == MONEY && table)
            out_money_text(v->i, buf, sizeof buf); /* people read it grouped */
        else if (v->style == MONEY)
            out_money_format(v->i, buf, sizeof buf);
        else if (v->style == TIME)
            out_time_ms(v->i, buf, sizeof buf);
        else
            snprintf(buf, sizeof buf, "%" PRId64, v->i);
        return out_xstrdup(buf);
    case V_UINT: snprintf(buf, sizeof buf, "%" PRIu64, v->u); return out_xstrdup(buf);
    case V_DOUBLE: snprintf(buf, sizeof buf, "%g", v->d); return out_xstrdup(buf);
    case V_BOOL: return out_xstrdup(table ? (v->i ? "yes" : "") : (v->i ? "true" : "false"));
    case V_STR: return out_xstrdup(v->s);
    case V_STRS: return join(v->strs, v->n, table ? ", " : ",");
    case V_INTS: {
        char *s = out_xmalloc(v->n * 22 + 1), *q = s;
        *q = 0;
        for (size_t i = 0; i < v->n; i++)
            q += sprintf(q, "%s%" PRId64, i ? "," : "", v->ints[i]);
        return s;
    }
    case V_BYTES: return hex(v);
    case V_MSGS: return out_xstrdup("");
    case V_CALC: {
        char *s = it->calc->text ? it->calc->text(msg) : NULL;
        return s ? s : out_xstrdup("");
    }
    }
    return out_xstrdup("");
}

static char *text_of(const struct rec_kind *k, const void *msg, const char *word, size_t n, int table)
{
    struct item it;
    struct val v;
    parse_item(k, word, n, &it);
    get(&it, msg, &v);
    char *s = text_val(&it, &v, msg, table);
    if (!*s && it.none) {
        free(s);
        s = out_xmalloc(it.none_len + 1);
        memcpy(s, it.none, it.none_len);
        s[it.none_len] = 0;
    }
    return s;
}

char *rec_text(const struct rec_kind *k, const void *msg, const char *field)
{
    return text_of(k, msg, field, strlen(field), 1);
}

void rec_kv(FILE *f, const struct rec_kind *k, const void *msg)
{
    struct out_kv *kv = out_kv_new();
    struct item it;
    struct val v;
    size_t n_;
    EACH_ITEM(k, k->fields, it)
    {
        if (it.csv_only)
            continue;
        get(&it, msg, &v);
        if (v.kind == V_STR && !*v.s)
            continue; /* an empty text says nothing */
        char *s = v.kind == V_BOOL ? out_xstrdup(v.i ? "yes" : "no") : text_val(&it, &v, msg, 1);
        out_kv_add(kv, it.key, s);
        free(s);
    }
    out_kv_print(kv, f);
    out_kv_free(kv);
}

void rec_kv_cols(FILE *f, const struct rec_kind *k, const struct rec_col *lines, const void *msg)
{
    struct out_kv *kv = out_kv_new();
    for (const struct rec_col *l = lines; l->head; l++) {
        char *s = rec_text(k, msg, l->field);
        if (*s)
            out_kv_add(kv, l->head, s);
        free(s);
    }
    out_kv_print(kv, f);
    out_kv_free(kv);
}

void rec_csv_cells(FILE *f, int n, const char *const *cells)
{
    for (int i = 0; i < n; i++) {
        const char *s = cells[i] ? cells[i] : "";
        if (i)
            fputc(',', f);
        if (!s[strcspn(s, ",\"\r\n")] && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' ')) {
            fputs(s, f);
            continue;
        }
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    }
    fputc('\n', f);
}

#define MAX_COLS 64

void rec_csv_head(FILE *f, const struct rec_kind *k)
{
    struct item it;
    size_t n_;
    char keys[MAX_COLS][64];
    const char *cells[MAX_COLS];
    int n = 0;
    EACH_ITEM(k, k->fields, it)
    {
        if (it.json_only)
            continue;
        if (n == MAX_COLS)
            die("too many fields in", k->fields, strlen(k->fields));
        memcpy(keys[n], it.key, sizeof it.key);
        cells[n] = keys[n];
        n++;
    }
    rec_csv_cells(f, n, cells);
}

void rec_csv_row(FILE *f, const struct rec_kind *k, const void *msg)
{
    struct item it;
    struct val v;
    size_t n_;
    char *cells[MAX_COLS];
    int n = 0;
    EACH_ITEM(k, k->fields, it)
    {
        if (it.json_only)
            continue;
        if (n == MAX_COLS)
            die("too many fields in", k->fields, strlen(k->fields));
        get(&it, msg, &v);
        cells[n++] = text_val(&it, &v, msg, 0);
    }
    rec_csv_cells(f, n, (const char *const *)cells);
    for (int i = 0; i < n; i++)
        free(cells[i]);
}

void rec_csv_rows(FILE *f, const struct rec_kind *k, void *const *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rec_csv_row(f, k, msgs[i]);
}

/* ---- Tables ----------------------------------------------------------------------------- */

void rec_table(FILE *f, const struct rec_kind *k, void *const *msgs, size_t n)
{
    int nc = 0;
    const char *head[MAX_COLS] = { NULL };
    while (k->cols[nc].head && nc < MAX_COLS) {
        head[nc] = kehu_tr(k->cols[nc].head); /* marked N_ or NC_ */
        nc++;
    }
    struct out_table *t = out_table_new(nc, head);
    if (k->empty)
        out_table_empty(t, kehu_tr(k->empty));
    for (int c = 0; c < nc; c++) {
        out_table_align(t, c, k->cols[c].align);
        out_table_max_width(t, c, k->cols[c].max_cols);
    }
    char *cells[MAX_COLS];
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < nc; c++)
            cells[c] = rec_text(k, msgs[i], k->cols[c].field);
        out_table_add(t, (const char *const *)cells);
        for (int c = 0; c < nc; c++)
            free(cells[c]);
    }
    out_table_print(t, f);
    out_table_free(t);
}
