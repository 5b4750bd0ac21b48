#include "mask.h"

#include <string.h>

static int is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Bytes of the character at s: a lead byte with its continuation bytes, or
 * a lone byte (invalid UTF-8 counts byte by byte, so nothing slips through
 * a mask unstarred). */
static size_t char_len(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    size_t want = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (c >= 0xF8)
        want = 1;
    for (size_t k = 1; k < want; k++)
        if (!is_cont((unsigned char)s[k]))
            return 1;
    return want;
}

/* Byte offset of character `n` of s (or its length). */
static size_t offset_of(const char *s, int n)
{
    size_t i = 0;
    for (int k = 0; s[i] && k < n; k++)
        i += char_len(s + i);
    return i;
}

static int count_chars(const char *s)
{
    int n = 0;
    for (size_t i = 0; s[i]; i += char_len(s + i))
        n++;
    return n;
}

char *mask_keep(struct arena *a, const char *s, int head, int tail)
{
    if (!s || !*s)
        return arena_strdup(a, "");
    int n = count_chars(s);
    if (n < head + tail + 4) {
        head = 0;
        tail = n > 1 ? 1 : 0;
    }
    int stars = n - head - tail;
    size_t h = offset_of(s, head), t = offset_of(s, n - tail);
    size_t tlen = strlen(s) - t;
    char *out = arena_alloc(a, h + (size_t)stars + tlen + 1);
    memcpy(out, s, h);
    memset(out + h, '*', (size_t)stars);
    memcpy(out + h + stars, s + t, tlen + 1);
    return out;
}

char *mask_phone(struct arena *a, const char *s)
{
    return mask_keep(a, s, 3, 4);
}

char *mask_id_number(struct arena *a, const char *s)
{
    if (s && strcmp(s, ID_UNAVAILABLE) == 0) /* nothing to hide: the number could not be opened */
        return arena_strdup(a, s);
    return mask_keep(a, s, 6, 4);
}

static int digitish(char c)
{
    return (c >= '0' && c <= '9') || c == 'X' || c == 'x';
}

char *mask_digits(struct arena *a, const char *s)
{
    if (!s)
        return arena_strdup(a, "");
    char *out = arena_strdup(a, s);
    for (size_t i = 0; out[i];) {
        size_t j = i;
        while (digitish(out[j]))
            j++;
        size_t run = j - i;
        if (run >= 5) {
            size_t head = run >= 11 ? 3 : 0, tail = run >= 9 ? 4 : 1;
            memset(out + i + head, '*', run - head - tail);
        }
        i = j > i ? j : i + 1;
    }
    return out;
}
