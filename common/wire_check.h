/* What protobuf-c's unpack does not check, checked once on the encoded bytes.
 *
 * protobuf-c copies a string field into a NUL-terminated buffer without
 * looking at it (so "ab\0cd" reads as "ab" and invalid UTF-8 passes), and
 * keeps any number for an open proto3 enum. wire_check walks the encoded
 * message guided by its descriptor, into every nested message: each string
 * must be valid UTF-8 without NUL, each enum value one the schema names.
 * Unknown fields are skipped; the walk never reads outside data[0..len). */
#ifndef KEHU_WIRE_CHECK_H
#define KEHU_WIRE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

struct wire_problem {
    char field[256]; /* dotted path of field names from the walked message: "request.customer_add.customer.name" */
    char why[128];   /* "is not valid UTF-8", "contains a NUL character", "has an unknown value 99" */
};

/* 0 when every string and enum is sound (or the bytes are not a message of
 * this type, which unpack reports); -1 with *p filled at the first problem. */
int wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, struct wire_problem *p);

/* 1 when s[0..n) is valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF), else 0. NUL bytes are valid UTF-8 here. */
int wire_utf8_valid(const uint8_t *s, size_t n);

#endif
