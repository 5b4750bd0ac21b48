/* The Kehu wire format, shared by kehud and libkehu.
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of one
 * protobuf kehu.v1.Frame. The decoder is incremental: feed it whatever the
 * socket produced (split or coalesced) and take whole frames out. It rejects
 * a length over the limit from the header alone, before buffering the body. */
#ifndef KEHU_WIRE_H
#define KEHU_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "kehu.pb-c.h"

/* The one place the protocol version lives. */
#define KEHU_PROTOCOL_VERSION 1u
#define KEHU_DEFAULT_MAX_FRAME (1u << 20)
#define WIRE_HEADER 4u

struct wire_decoder {
    uint8_t *buf;
    size_t start, end, cap; /* unconsumed bytes are buf[start..end) */
    size_t max_frame;
    uint32_t claimed;       /* length of the frame that was too big */
};

enum wire_result {
    WIRE_NEED_MORE = 0,
    WIRE_FRAME = 1,
    WIRE_TOO_BIG = -1,
    WIRE_NOMEM = -2,
};

void wire_decoder_init(struct wire_decoder *d, size_t max_frame);
void wire_decoder_free(struct wire_decoder *d);
/* Appends bytes; WIRE_NOMEM when out of memory, else WIRE_NEED_MORE. */
int wire_decoder_feed(struct wire_decoder *d, const void *data, size_t n);
/* Takes the next whole frame: WIRE_FRAME with *payload valid until the next
 * call into the decoder, WIRE_NEED_MORE, or WIRE_TOO_BIG (d->claimed says how
 * big; the decoder is then unusable: close the connection). */
int wire_decoder_next(struct wire_decoder *d, const uint8_t **payload, size_t *len);
/* Bytes held but not yet taken. */
size_t wire_decoder_pending(const struct wire_decoder *d);

/* A protobuf-c allocator that refuses to allocate more than `limit` bytes in
 * total, so that a small hostile message cannot expand into a huge tree. Free
 * what it unpacked with the same allocator. */
struct wire_budget {
    ProtobufCAllocator alloc;
    size_t used, limit;
    int exceeded; /* an allocation was refused: the message needed more than limit */
};
void wire_budget_init(struct wire_budget *b, size_t limit);

/* Unpacks one frame payload within a budget; NULL if malformed or over it
 * (then b->exceeded tells which). */
Kehu__V1__Frame *wire_unpack(struct wire_budget *b, const uint8_t *payload, size_t len);

/* Appends header + packed frame to a growable buffer. Returns bytes written or
 * -1 when out of memory. */
struct wire_buf {
    uint8_t *data;
    size_t len, cap;
};
long wire_pack(struct wire_buf *out, const Kehu__V1__Frame *f);
int wire_buf_reserve(struct wire_buf *b, size_t extra);
void wire_buf_free(struct wire_buf *b);

/* "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for codes outside the enum. */
const char *wire_code_name(int code);

#endif
