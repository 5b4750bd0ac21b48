/* Runs a libFuzzer target without libFuzzer (gcc builds, ctest): over the
 * files named on the command line, or else over built-in seed frames and a
 * fixed number of deterministic mutations of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t seed(uint8_t *out, size_t cap, int which)
{
    Kehu__V1__Hello hello = KEHU__V1__HELLO__INIT;
    Kehu__V1__Ping ping = KEHU__V1__PING__INIT;
    Kehu__V1__Login login = KEHU__V1__LOGIN__INIT;
    Kehu__V1__UserAdd ua = KEHU__V1__USER_ADD__INIT;
    Kehu__V1__Request req = KEHU__V1__REQUEST__INIT;
    hello.protocol_version = 1;
    hello.client = "seed";
    ping.payload.data = (uint8_t *)"abc";
    ping.payload.len = 3;
    login.username = "admin";
    login.password = "secret-password";
    ua.username = "li.lei";
    ua.unit = "上海分行";
    ua.password = "pw-123456";
    ua.role = KEHU__V1__ROLE__ACCOUNT_MANAGER;
    switch (which % 4) {
    case 0: req.op_case = KEHU__V1__REQUEST__OP_HELLO; req.hello = &hello; break;
    case 1: req.op_case = KEHU__V1__REQUEST__OP_PING; req.ping = &ping; break;
    case 2: req.op_case = KEHU__V1__REQUEST__OP_LOGIN; req.login = &login; break;
    default: req.op_case = KEHU__V1__REQUEST__OP_USER_ADD; req.user_add = &ua; break;
    }
    Kehu__V1__Frame f = KEHU__V1__FRAME__INIT;
    f.id = (uint64_t)which + 1;
    f.body_case = KEHU__V1__FRAME__BODY_REQUEST;
    f.request = &req;
    struct wire_buf b = { 0 };
    wire_pack(&b, &f);
    wire_pack(&b, &f); /* two frames back to back */
    size_t n = b.len + 1 < cap ? b.len : cap - 1;
    out[0] = (uint8_t)which;
    memcpy(out + 1, b.data, n);
    wire_buf_free(&b);
    return n + 1;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (!f) {
                perror(argv[i]);
                return 1;
            }
            static uint8_t buf[1 << 20];
            size_t n = fread(buf, 1, sizeof buf, f);
            fclose(f);
            LLVMFuzzerTestOneInput(buf, n);
        }
        return 0;
    }
    uint8_t base[512], mut[512];
    unsigned long rng = 88172645463325252ul;
    long runs = 0;
    for (int s = 0; s < 4; s++) {
        size_t n = seed(base, sizeof base, s);
        LLVMFuzzerTestOneInput(base, n);
        for (int i = 0; i < 5000; i++, runs++) {
            memcpy(mut, base, n);
            int edits = 1 + (int)(rng % 4);
            for (int e = 0; e < edits; e++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                mut[rng % n] = (uint8_t)(rng >> 32);
            }
            LLVMFuzzerTestOneInput(mut, n - (rng % 3 == 0 ? rng % n : 0));
        }
    }
    printf("%ld mutated inputs ran clean\n", runs);
    return 0;
}
