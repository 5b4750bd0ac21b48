#include "id_number.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "mask.h"
#include "wire_check.h"

#define SEALED_PREFIX "enc1:"
#define MAX_PLAIN 256

static unsigned char seal_key[32], index_key[32];
static int keyed;

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* id_key(purpose) of sql/0017: HMAC-SHA256 of the purpose under the raw key. */
static void derive(const unsigned char *raw, const char *purpose, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), raw, 32, (const unsigned char *)purpose, strlen(purpose), out, &len);
}

int id_number_init(const char *id_key_hex)
{
    keyed = 0;
    if (!id_key_hex || !*id_key_hex)
        return 0;
    if (strlen(id_key_hex) != 64)
        return -1;
    unsigned char raw[32];
    for (int i = 0; i < 32; i++) {
        int hi = hexval(id_key_hex[2 * i]), lo = hexval(id_key_hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    derive(raw, "kehu id seal", seal_key);
    derive(raw, "kehu id index", index_key);
    keyed = 1;
    return 0;
}

int id_number_keyed(void)
{
    return keyed;
}

static char *hex(struct arena *a, const char *prefix, const unsigned char *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t p = strlen(prefix);
    char *s = arena_alloc(a, p + 2 * n + 1);
    memcpy(s, prefix, p);
    for (size_t i = 0; i < n; i++) {
        s[p + 2 * i] = digits[b[i] >> 4];
        s[p + 2 * i + 1] = digits[b[i] & 15];
    }
    return s;
}

const char *id_number_open(struct arena *a, const char *stored)
{
    if (!stored || strncmp(stored, SEALED_PREFIX, 5) != 0)
        return stored;
    if (!keyed)
        return ID_UNAVAILABLE;
    const char *h = stored + 5;
    size_t hl = strlen(h);
    /* IV and at least one block, whole blocks, bounded */
    if (hl % 32 || hl < 64 || hl > 2 * (16 + MAX_PLAIN + 16))
        return ID_UNAVAILABLE;
    unsigned char raw[16 + MAX_PLAIN + 16];
    size_t n = hl / 2;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ID_UNAVAILABLE;
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    unsigned char plain[MAX_PLAIN + 32];
    int len = 0, tail = 0, ok = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, seal_key, raw) == 1 &&
        EVP_DecryptUpdate(ctx, plain, &len, raw + 16, (int)(n - 16)) == 1 &&
        EVP_DecryptFinal_ex(ctx, plain + len, &tail) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return ID_UNAVAILABLE; /* sealed with another key, or damaged */
    len += tail;
    /* what the database's convert_from refuses: not UTF-8 text */
    if (!wire_utf8_valid(plain, (size_t)len) || memchr(plain, 0, (size_t)len))
        return ID_UNAVAILABLE;
    char *out = arena_alloc(a, (size_t)len + 1);
    memcpy(out, plain, (size_t)len);
    return out;
}

char *id_number_seal(struct arena *a, const char *plain)
{
    size_t n = strlen(plain);
    if (!keyed || n > MAX_PLAIN)
        return NULL;
    unsigned char out[16 + MAX_PLAIN + 16];
    int len = 0, tail = 0, ok = 0;
    if (RAND_bytes(out, 16) != 1)
        return NULL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, seal_key, out) == 1 &&
        EVP_EncryptUpdate(ctx, out + 16, &len, (const unsigned char *)plain, (int)n) == 1 &&
        EVP_EncryptFinal_ex(ctx, out + 16 + len, &tail) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? hex(a, SEALED_PREFIX, out, 16 + (size_t)len + (size_t)tail) : NULL;
}

char *id_number_hash(struct arena *a, const char *plain)
{
    if (!keyed || !plain || !*plain)
        return NULL;
    /* id_hash hashes upper(plain); stored numbers are upper case already
     * (validate_id_number), ASCII only */
    size_t n = strlen(plain);
    char *up = arena_alloc(a, n + 1);
    for (size_t i = 0; i < n; i++)
        up[i] = plain[i] >= 'a' && plain[i] <= 'z' ? (char)(plain[i] - 32) : plain[i];
    unsigned char mac[32];
    unsigned int len = 32;
    HMAC(EVP_sha256(), index_key, 32, (const unsigned char *)up, n, mac, &len);
    return hex(a, "", mac, 32);
}
