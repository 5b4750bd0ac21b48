#include "wire_check.h"

#include <stdio.h>
#include <string.h>

/* The schema never nests a message in itself; this only bounds a hostile
 * walk should that ever change. */
#define MAX_DEPTH 32

int wire_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

struct walk {
    const uint8_t *p, *end;
};

static int varint(struct walk *w, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (w->p >= w->end)
            return -1;
        uint8_t b = *w->p++;
        if (shift < 64)
            x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static int skip(struct walk *w, int wt)
{
    uint64_t v;
    switch (wt) {
    case 0:
        return varint(w, &v);
    case 1:
        if (w->end - w->p < 8)
            return -1;
        w->p += 8;
        return 0;
    case 2:
        if (varint(w, &v) < 0 || v > (uint64_t)(w->end - w->p))
            return -1;
        w->p += v;
        return 0;
    case 5:
        if (w->end - w->p < 4)
            return -1;
        w->p += 4;
        return 0;
    default:
        return -1;
    }
}

/* Names the field: the enclosing path, then this field's name. */
static void problem(struct wire_problem *p, const char *path, const char *name, const char *fmt, long long v)
{
    snprintf(p->field, sizeof p->field, "%s%s%s", path, *path ? "." : "", name);
    snprintf(p->why, sizeof p->why, fmt, v);
}

static int enum_known(const ProtobufCFieldDescriptor *f, uint64_t v)
{
    /* protobuf-c reads an enum as the low 32 bits of the varint */
    return protobuf_c_enum_descriptor_get_value(f->descriptor, (int)(int32_t)(uint32_t)v) != NULL;
}

static int check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, char *path, size_t pathlen,
                 int depth, struct wire_problem *p)
{
    struct walk w = { data, data + len };
    while (w.p < w.end) {
        uint64_t key, v;
        if (varint(&w, &key) < 0)
            return 0; /* malformed: unpack says so */
        int wt = (int)(key & 7);
        uint64_t tag = key >> 3;
        const ProtobufCFieldDescriptor *f =
            tag <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)tag) : NULL;
        if (!f || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                   f->type != PROTOBUF_C_TYPE_ENUM)) {
            if (skip(&w, wt) < 0)
                return 0;
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_ENUM && wt == 0) {
            if (varint(&w, &v) < 0)
                return 0;
            if (!enum_known(f, v)) {
                problem(p, path, f->name, "has an unknown value %lld", (long long)(int32_t)(uint32_t)v);
                return -1;
            }
            continue;
        }
        if (wt != 2) {
            if (skip(&w, wt) < 0)
                return 0;
            continue;
        }
        if (varint(&w, &v) < 0 || v > (uint64_t)(w.end - w.p))
            return 0;
        const uint8_t *body = w.p;
        size_t n = (size_t)v;
        w.p += n;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (memchr(body, 0, n)) {
                problem(p, path, f->name, "contains a NUL character", 0);
                return -1;
            }
            if (!wire_utf8_valid(body, n)) {
                problem(p, path, f->name, "is not valid UTF-8", 0);
                return -1;
            }
        } else if (f->type == PROTOBUF_C_TYPE_ENUM) { /* packed repeated */
            struct walk in = { body, body + n };
            while (in.p < in.end) {
                if (varint(&in, &v) < 0)
                    return 0;
                if (!enum_known(f, v)) {
                    problem(p, path, f->name, "has an unknown value %lld", (long long)(int32_t)(uint32_t)v);
                    return -1;
                }
            }
        } else {
            if (depth >= MAX_DEPTH)
                return 0;
            size_t k = strlen(f->name);
            if (pathlen + k + 2 > sizeof p->field)
                return 0; /* deeper than any Kehu message */
            size_t at = pathlen;
            if (at)
                path[at++] = '.';
            memcpy(path + at, f->name, k + 1);
            int rc = check(f->descriptor, body, n, path, at + k, depth + 1, p);
            path[pathlen] = 0;
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

int wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, struct wire_problem *p)
{
    char path[sizeof p->field] = "";
    p->field[0] = p->why[0] = 0;
    return check(desc, data, len, path, 0, 0, p);
}
