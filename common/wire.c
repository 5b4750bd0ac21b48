#include "wire.h"

#include <stdlib.h>
#include <string.h>

void wire_decoder_init(struct wire_decoder *d, size_t max_frame)
{
    memset(d, 0, sizeof *d);
    d->max_frame = max_frame ? max_frame : KEHU_DEFAULT_MAX_FRAME;
}

void wire_decoder_free(struct wire_decoder *d)
{
    free(d->buf);
    memset(d, 0, sizeof *d);
}

size_t wire_decoder_pending(const struct wire_decoder *d)
{
    return d->end - d->start;
}

int wire_decoder_feed(struct wire_decoder *d, const void *data, size_t n)
{
    if (n == 0)
        return WIRE_NEED_MORE;
    if (d->start > 0 && d->end + n > d->cap) { /* slide down before growing */
        memmove(d->buf, d->buf + d->start, d->end - d->start);
        d->end -= d->start;
        d->start = 0;
    }
    if (d->end + n > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < d->end + n)
            cap *= 2;
        uint8_t *nb = realloc(d->buf, cap);
        if (!nb)
            return WIRE_NOMEM;
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf + d->end, data, n);
    d->end += n;
    return WIRE_NEED_MORE;
}

int wire_decoder_next(struct wire_decoder *d, const uint8_t **payload, size_t *len)
{
    size_t have = d->end - d->start;
    if (have < WIRE_HEADER)
        return WIRE_NEED_MORE;
    const uint8_t *p = d->buf + d->start;
    uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (n > d->max_frame) {
        d->claimed = n;
        return WIRE_TOO_BIG;
    }
    if (have < WIRE_HEADER + (size_t)n)
        return WIRE_NEED_MORE;
    *payload = p + WIRE_HEADER;
    *len = n;
    d->start += WIRE_HEADER + n;
    if (d->start == d->end)
        d->start = d->end = 0; /* the payload stays readable: nothing overwrites it before the next feed */
    return WIRE_FRAME;
}

/* ---- budget allocator: each block carries its size in front of it */

#define BUDGET_HDR 16u /* keeps max_align_t alignment */

static void *budget_alloc(void *ud, size_t size)
{
    struct wire_budget *b = ud;
    if (size > b->limit || b->used + size + BUDGET_HDR > b->limit) {
        b->exceeded = 1;
        return NULL;
    }
    unsigned char *p = malloc(size + BUDGET_HDR);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    b->used += size + BUDGET_HDR;
    return p + BUDGET_HDR;
}

static void budget_free(void *ud, void *ptr)
{
    struct wire_budget *b = ud;
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - BUDGET_HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    b->used -= size + BUDGET_HDR;
    free(p);
}

void wire_budget_init(struct wire_budget *b, size_t limit)
{
    b->alloc.alloc = budget_alloc;
    b->alloc.free = budget_free;
    b->alloc.allocator_data = b;
    b->used = 0;
    b->limit = limit;
    b->exceeded = 0;
}

Kehu__V1__Frame *wire_unpack(struct wire_budget *b, const uint8_t *payload, size_t len)
{
    return kehu__v1__frame__unpack(&b->alloc, len, payload);
}

/* ---- packing */

int wire_buf_reserve(struct wire_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *nd = realloc(b->data, cap);
    if (!nd)
        return -1;
    b->data = nd;
    b->cap = cap;
    return 0;
}

void wire_buf_free(struct wire_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

long wire_pack(struct wire_buf *out, const Kehu__V1__Frame *f)
{
    size_t n = kehu__v1__frame__get_packed_size(f);
    if (n > UINT32_MAX || wire_buf_reserve(out, WIRE_HEADER + n) < 0)
        return -1;
    uint8_t *p = out->data + out->len;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    kehu__v1__frame__pack(f, p + WIRE_HEADER);
    out->len += WIRE_HEADER + n;
    return (long)(WIRE_HEADER + n);
}

const char *wire_code_name(int code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&kehu__v1__code__descriptor, code);
    return v ? v->name : "UNKNOWN";
}
