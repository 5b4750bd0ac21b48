/* Requests of every op type, made from the protobuf-c descriptors: each
 * field of the op's message (and of the messages inside it) gets a value
 * drawn from a byte source, from the edges a handler must answer (0, -1,
 * the int64 extremes, dates out of range, long text, Chinese, names that
 * exist) and, when asked, what the central check must refuse (invalid
 * UTF-8, a NUL inside a string, an unknown enum value). Shared by the
 * libFuzzer harness and the integration test that sends them to kehud. */
#ifndef KEHU_GEN_REQUEST_H
#define KEHU_GEN_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "kehu.pb-c.h"

/* The bytes the generator draws from; when they run out it draws zeros. */
struct gen_src {
    const uint8_t *p;
    size_t n;
};

enum gen_flaw {
    GEN_SOUND = 0,       /* every string valid UTF-8 without NUL, every enum named */
    GEN_BAD_UTF8 = 1,    /* one string carries a byte that is not UTF-8 */
    GEN_NUL = 2,         /* one string carries a NUL (written over a marker after packing) */
    GEN_BAD_ENUM = 3,    /* one enum carries a value the schema does not name */
};

struct gen_request {
    Kehu__V1__Request *req; /* free with gen_request_free */
    enum gen_flaw flaw;     /* the flaw put in, GEN_SOUND when the message had no place for it */
    void *mem;              /* everything allocated for it */
};

/* The number of op types and the op of index i (0 <= i < gen_op_count()). */
size_t gen_op_count(void);
const ProtobufCFieldDescriptor *gen_op(size_t i);

/* Builds a request for op i from src, with the flaw asked for (if the
 * message has a string or an enum to put it in). */
void gen_request(struct gen_request *g, size_t op, struct gen_src *src, enum gen_flaw flaw);
/* Packs it as the payload of a frame with id, the NUL written in; the
 * caller frees *out. */
size_t gen_request_pack(const struct gen_request *g, uint64_t id, uint8_t **out);
void gen_request_free(struct gen_request *g);

#endif
