#define _GNU_SOURCE /* memmem */
#include "gen_request.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 4
#define NUL_MARKER "kehu#nul" /* '#' becomes the NUL once packed */

/* ---- the byte source */

static unsigned draw(struct gen_src *s, unsigned below)
{
    unsigned v = 0;
    for (int i = 0; i < 2; i++) {
        v = v << 8 | (s->n ? *s->p : 0);
        if (s->n)
            s->p++, s->n--;
    }
    return below ? v % below : 0;
}

/* ---- memory: every block on one chain, freed together */

struct block {
    struct block *next;
    max_align_t data[];
};

static void *gen_alloc(struct gen_request *g, size_t n)
{
    struct block *b = calloc(1, sizeof *b + n + 1);
    if (!b)
        abort();
    b->next = g->mem;
    g->mem = b;
    return b->data;
}

/* ---- values */

static const char *const strings[] = {
    "", "x", "张三", "王小明", "上海分行", "华东区", "北京分行", "总行", "li.lei", "zhang.wei", "nobody", "1", "2",
    "2026-01-01", "1899-12-31", "9999-12-31", "0000-00-00", "2026-02-30", "-1", "0", "99999999999999999999",
    "1e400", "-9223372036854775808", "13800138000", "12345", "+86 138-0013-8000", "310101199001011234",
    "a,b,,c", "'; DROP TABLE customer; --", "%s%n%x", "all", "active", "customers", "txns", "A", "abc=A",
    "credit=AA", "name", "phones", "create", "skip", "  padded  ", "line1\nline2", "\t", "abc.a_share",
    "0.5", "individual", "corporate", "read", "branch", "own", "visit", "dropped", "customer_get",
};

static const int64_t ints[] = { 0, 1, -1, 2, 7, 100, 1000, 1001, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN,
                                253402300800000LL, 1700000000000LL, 1000000000000000000LL };
static const uint64_t uints[] = { 0, 1, 2, 1000, 1001, 100000, UINT32_MAX, UINT64_MAX, 1ull << 40 };

static char *gen_string(struct gen_request *g, struct gen_src *s)
{
    unsigned k = draw(s, sizeof strings / sizeof strings[0] + 2);
    if (k < sizeof strings / sizeof strings[0])
        return (char *)strings[k];
    size_t n = k == sizeof strings / sizeof strings[0] ? 5000 : 1500;
    const char *unit = k == sizeof strings / sizeof strings[0] ? "x" : "中";
    size_t u = strlen(unit);
    char *out = gen_alloc(g, n * u + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * u, unit, u);
    return out;
}

/* Where a flaw may go: the string and enum slots filled so far. */
struct slots {
    char **str[256];
    size_t nstr;
    struct {
        int32_t *at;
        const ProtobufCEnumDescriptor *desc;
    } en[64];
    size_t nen;
};

static void fill_message(struct gen_request *g, ProtobufCMessage *m, struct gen_src *s, int depth, struct slots *sl);

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

static ProtobufCMessage *new_message(struct gen_request *g, const ProtobufCMessageDescriptor *d, struct gen_src *s,
                                     int depth, struct slots *sl)
{
    ProtobufCMessage *m = gen_alloc(g, d->sizeof_message);
    protobuf_c_message_init(d, m);
    fill_message(g, m, s, depth, sl);
    return m;
}

/* One value of field f at p. */
static void fill_value(struct gen_request *g, const ProtobufCFieldDescriptor *f, void *p, struct gen_src *s, int depth,
                       struct slots *sl)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)p = (int32_t)ints[draw(s, 10)];
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)p = (uint32_t)uints[draw(s, 7)];
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)p = ints[draw(s, sizeof ints / sizeof ints[0])];
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = uints[draw(s, sizeof uints / sizeof uints[0])];
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)p = (float)draw(s, 100) / 7.0f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = (double)draw(s, 100) / 7.0;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = draw(s, 2);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int32_t *)p = e->values[draw(s, e->n_values)].value;
        if (sl->nen < sizeof sl->en / sizeof sl->en[0]) {
            sl->en[sl->nen].at = p;
            sl->en[sl->nen++].desc = e;
        }
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **)p = gen_string(g, s);
        if (sl->nstr < sizeof sl->str / sizeof sl->str[0])
            sl->str[sl->nstr++] = p;
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        static const char *const blobs[] = { "", "abc", "name,phone\n张三,13800138000\n", "\xff\x00\x01" };
        unsigned k = draw(s, 4);
        ProtobufCBinaryData *b = p;
        b->data = (uint8_t *)blobs[k];
        b->len = k == 3 ? 3 : strlen(blobs[k]);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)p = new_message(g, f->descriptor, s, depth + 1, sl);
        break;
    }
}

static void fill_message(struct gen_request *g, ProtobufCMessage *m, struct gen_src *s, int depth, struct slots *sl)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)m;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= MAX_DEPTH)
            continue;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
            if (*which || draw(s, 2))
                continue;
            *which = f->id;
            fill_value(g, f, base + f->offset, s, depth, sl);
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = draw(s, 4), es = elem_size(f->type);
            char *arr = gen_alloc(g, n * es + 1);
            for (size_t k = 0; k < n; k++)
                fill_value(g, f, arr + k * es, s, depth, sl);
            *(size_t *)(base + f->quantifier_offset) = n;
            *(void **)(base + f->offset) = arr;
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth > 0 && draw(s, 4) == 0)
            continue; /* absent */
        fill_value(g, f, base + f->offset, s, depth, sl);
    }
}

/* ---- requests */

size_t gen_op_count(void)
{
    const ProtobufCMessageDescriptor *d = &kehu__v1__request__descriptor;
    size_t n = 0;
    for (unsigned i = 0; i < d->n_fields; i++)
        n += (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
    return n;
}

const ProtobufCFieldDescriptor *gen_op(size_t i)
{
    const ProtobufCMessageDescriptor *d = &kehu__v1__request__descriptor;
    for (unsigned k = 0; k < d->n_fields; k++)
        if ((d->fields[k].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && i-- == 0)
            return &d->fields[k];
    return NULL;
}

void gen_request(struct gen_request *g, size_t op, struct gen_src *src, enum gen_flaw flaw)
{
    memset(g, 0, sizeof *g);
    const ProtobufCFieldDescriptor *f = gen_op(op % gen_op_count());
    Kehu__V1__Request *req = gen_alloc(g, sizeof *req);
    kehu__v1__request__init(req);
    struct slots *sl = gen_alloc(g, sizeof *sl);
    req->op_case = (Kehu__V1__Request__OpCase)f->id;
    *(ProtobufCMessage **)((char *)req + f->offset) = new_message(g, f->descriptor, src, 0, sl);
    g->req = req;
    g->flaw = GEN_SOUND;
    if ((flaw == GEN_BAD_UTF8 || flaw == GEN_NUL) && sl->nstr) {
        char **at = sl->str[draw(src, (unsigned)sl->nstr)];
        if (flaw == GEN_NUL) {
            *at = NUL_MARKER;
        } else {
            static const char *const bad[] = { "ab\xff", "\xc0\xaf", "\xed\xa0\x80", "王\xe5\xb0", "\xf4\x90\x80\x80",
                                               "\x80x" };
            *at = (char *)bad[draw(src, 6)];
        }
        g->flaw = flaw;
    } else if (flaw == GEN_BAD_ENUM && sl->nen) {
        unsigned k = draw(src, (unsigned)sl->nen);
        int32_t v = 99;
        while (protobuf_c_enum_descriptor_get_value(sl->en[k].desc, v))
            v++;
        *sl->en[k].at = draw(src, 2) ? v : -7;
        g->flaw = flaw;
    }
}

size_t gen_request_pack(const struct gen_request *g, uint64_t id, uint8_t **out)
{
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = id;
    f.body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f.request = g->req;
    size_t n = kehu__v1__frame__get_packed_size(&f);
    *out = malloc(n ? n : 1);
    if (!*out)
        abort();
    kehu__v1__frame__pack(&f, *out);
    if (g->flaw == GEN_NUL) {
        uint8_t *at = memmem(*out, n, NUL_MARKER, strlen(NUL_MARKER));
        if (at)
            at[4] = 0;
    }
    return n;
}

void gen_request_free(struct gen_request *g)
{
    struct block *b = g->mem;
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    memset(g, 0, sizeof *g);
}
