/* libFuzzer target: bytes from the network, handled as kehud handles them.
 * The first byte picks how the input is split into reads; the rest goes
 * through the frame decoder, and each whole frame is checked (strings and
 * enums on its bytes), unpacked within a budget and walked (every request
 * field read), as dispatch does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"
#include "wire_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void walk_request(const Kehu__V1__Request *r)
{
    /* touch what a handler would: strings and lengths of the chosen op */
    switch (r->op_case) {
    case KEHU__V1__REQUEST__OP_HELLO:
        sink += r->hello->protocol_version + strlen(r->hello->client);
        break;
    case KEHU__V1__REQUEST__OP_PING:
        sink += r->ping->payload.len;
        break;
    case KEHU__V1__REQUEST__OP_LOGIN:
        sink += strlen(r->login->username) + strlen(r->login->password);
        break;
    case KEHU__V1__REQUEST__OP_RESUME:
        sink += strlen(r->resume->token);
        break;
    case KEHU__V1__REQUEST__OP_ORG_ADD:
        sink += strlen(r->org_add->name) + strlen(r->org_add->parent) + (size_t)r->org_add->kind;
        break;
    case KEHU__V1__REQUEST__OP_USER_ADD:
        sink += strlen(r->user_add->username) + strlen(r->user_add->unit) + strlen(r->user_add->password) +
                strlen(r->user_add->display_name);
        break;
    case KEHU__V1__REQUEST__OP_USER_LIST:
        sink += strlen(r->user_list->unit);
        break;
    case KEHU__V1__REQUEST__OP_USER_DISABLE:
        sink += strlen(r->user_disable->username);
        break;
    case KEHU__V1__REQUEST__OP_USER_MOVE:
        sink += strlen(r->user_move->username) + strlen(r->user_move->unit);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    struct wire_decoder d;
    wire_decoder_init(&d, 4096);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (wire_decoder_feed(&d, data + off, n) != WIRE_NEED_MORE)
            break;
        const uint8_t *p;
        size_t len;
        int r;
        while ((r = wire_decoder_next(&d, &p, &len)) == WIRE_FRAME) {
            struct wire_budget b;
            wire_budget_init(&b, 64 * 1024 + len * 16);
            struct wire_problem prob; /* the check dispatch runs on every request's bytes */
            sink += (size_t)wire_check(&kehu__v1__frame__descriptor, p, len, &prob);
            Kehu__V1__Frame *f = wire_unpack(&b, p, len);
            if (f) {
                if (f->body_case == KEHU__V1__FRAME__BODY_REQUEST)
                    walk_request(f->request);
                kehu__v1__frame__free_unpacked(f, &b.alloc);
            }
            if (b.used != 0)
                __builtin_trap(); /* the budget must balance */
        }
        if (r == WIRE_TOO_BIG)
            break;
    }
    wire_decoder_free(&d);
    return 0;
}
