/* libFuzzer target: requests of every op type, made from the descriptors
 * (gen_request.c), into the check kehud runs on every request as decoded
 * (wire_check, dispatch.c) and the argument checks handlers build on
 * (validate.c).
 *
 * Input: byte 0 picks the op, byte 1 the flaw to put in (none, invalid
 * UTF-8, a NUL, an unknown enum), the rest feeds the generator and then
 * mutates the packed bytes. The oracles: a generated request is refused
 * exactly when a flaw was put in; after mutation, whatever passes the check
 * and unpacks holds only valid UTF-8 strings and named enum values, so no
 * handler ever sees other; the decode budget balances. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_request.h"
#include "validate.h"
#include "wire.h"
#include "wire_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

/* What handlers do with a string: the checks of validate.c. */
static void argument_checks(const char *s)
{
    char out[64], date[11];
    int64_t minor;
    sink += validate_phone(s, out, sizeof out) != NULL;
    sink += validate_id_number(s, out, sizeof out) != NULL;
    sink += validate_email(s) != NULL;
    sink += validate_date(s) != NULL;
    sink += validate_birth(s) != NULL;
    sink += validate_date_loose(s, date) != NULL;
    sink += validate_line(s, 200) != NULL;
    sink += validate_text(s, 2000) != NULL;
    sink += validate_money(s, &minor) != NULL;
}

/* Every string and enum of an unpacked message, as handlers will read them. */
static void walk(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        const char *p = base + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + f->quantifier_offset);
            p = *(const char *const *)p;
        }
        for (size_t k = 0; k < n; k++) {
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = ((const char *const *)p)[k];
                if (!s)
                    continue;
                if (!wire_utf8_valid((const uint8_t *)s, strlen(s)))
                    __builtin_trap(); /* passed the check, yet not UTF-8 */
                argument_checks(s);
            } else if (f->type == PROTOBUF_C_TYPE_ENUM) {
                if (!protobuf_c_enum_descriptor_get_value(f->descriptor, ((const int32_t *)p)[k]))
                    __builtin_trap(); /* passed the check, yet no such value */
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)p)[k];
                if (sub)
                    walk(sub);
            }
        }
    }
}

/* The check and the unpack, as dispatch runs them; 1 when both accept. */
static int decode(const uint8_t *buf, size_t n, int must)
{
    struct wire_problem prob;
    int sound = wire_check(&kehu__v1__frame__descriptor, buf, n, &prob) == 0;
    if (must >= 0 && sound != must)
        __builtin_trap(); /* refused a sound request, or let a flaw through */
    if (!sound && (!prob.field[0] || !prob.why[0]))
        __builtin_trap(); /* a refusal must name the field */
    struct wire_budget b;
    wire_budget_init(&b, 64 * 1024 + n * 16);
    Kehu__V1__Frame *f = wire_unpack(&b, buf, n);
    if (f) {
        if (sound)
            walk(&f->base);
        kehu__v1__frame__free_unpacked(f, &b.alloc);
    }
    if (b.used != 0)
        __builtin_trap(); /* the budget must balance */
    return sound && f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct gen_src src = { data + 2, size - 2 };
    struct gen_request g;
    gen_request(&g, data[0], &src, (enum gen_flaw)(data[1] % 4));
    uint8_t *buf;
    size_t n = gen_request_pack(&g, 1, &buf);
    decode(buf, n, g.flaw == GEN_SOUND);
    /* then the bytes themselves, mutated by what the generator left */
    for (size_t k = 0; src.n >= 3 && k < 8 && n > 0; k++) {
        size_t at = ((size_t)src.p[0] << 8 | src.p[1]) % n;
        buf[at] ^= src.p[2];
        src.p += 3;
        src.n -= 3;
        decode(buf, n, -1);
    }
    free(buf);
    gen_request_free(&g);
    return 0;
}

#ifdef KEHU_FUZZ_MAIN
/* Without libFuzzer (ctest, gcc): over the files named, else every op with
 * every flaw from deterministic pseudo-random bytes, then mutated. */
int main(int argc, char **argv)
{
    static uint8_t buf[1 << 16];
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (!f) {
                perror(argv[i]);
                return 1;
            }
            size_t n = fread(buf, 1, sizeof buf, f);
            fclose(f);
            LLVMFuzzerTestOneInput(buf, n);
        }
        return 0;
    }
    unsigned long rng = 88172645463325252ul;
    long runs = 0;
    size_t ops = gen_op_count();
    for (size_t op = 0; op < ops; op++)
        for (int flaw = 0; flaw < 4; flaw++)
            for (int i = 0; i < 100; i++, runs++) {
                size_t n = 2 + (size_t)(rng % 600);
                buf[0] = (uint8_t)op;
                buf[1] = (uint8_t)flaw;
                for (size_t k = 2; k < n; k++) {
                    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                    buf[k] = (uint8_t)(rng >> 24);
                }
                LLVMFuzzerTestOneInput(buf, n);
            }
    printf("%ld generated requests over %zu op types ran clean\n", runs, ops);
    return 0;
}
#endif
