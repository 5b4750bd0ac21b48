/* Refusals in the client's language (tr.h). */
#include "tr.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"

/* The refusals raised in sql/, "%s" for each "%" (generated at build time
 * by cmake/sql_messages.cmake), ending with NULL. */
extern const char *const kehu_sql_messages[];

#define MAX_CAPS 8

static locale_t zh_messages;

void tr_init(void)
{
    bindtextdomain(KEHU_TEXTDOMAIN, kehu_i18n_localedir(NULL));
    bind_textdomain_codeset(KEHU_TEXTDOMAIN, "UTF-8");
    /* kehud's own locale stays "C" (its logs stay English); a Chinese
     * translation is looked up on this thread alone under a Chinese
     * LC_MESSAGES. Where zh_CN.UTF-8 was never generated, C.UTF-8 with
     * LANGUAGE=zh_CN gets gettext to the same catalogue (glibc reads
     * LANGUAGE under any locale but plain C, so kehud itself, in C, still
     * ignores it). */
    zh_messages = newlocale(LC_MESSAGES_MASK, "zh_CN.UTF-8", (locale_t)0);
    if (zh_messages) {
        unsetenv("LANGUAGE");
        return;
    }
    zh_messages = newlocale(LC_MESSAGES_MASK, "C.UTF-8", (locale_t)0);
    if (zh_messages)
        setenv("LANGUAGE", "zh_CN", 1);
}

int tr_lang(const char *language)
{
    return *kehu_i18n_norm(language) ? TR_ZH : TR_EN;
}

const char *tr(int lang, const char *msgid)
{
    if (lang != TR_ZH || !zh_messages || !msgid || !*msgid)
        return msgid;
    locale_t old = uselocale(zh_messages);
    const char *s = dgettext(KEHU_TEXTDOMAIN, msgid);
    uselocale(old);
    return s;
}

/* Does text fill in form (each "%s" any run of characters)? The runs go to
 * cap/len. Shortest runs first, backtracking. */
static int form_match(const char *form, const char *text, const char **cap, size_t *len, int k)
{
    while (*form) {
        if (form[0] == '%' && form[1] == 's') {
            if (k == MAX_CAPS)
                return 0;
            for (const char *end = text;; end++) {
                cap[k] = text;
                len[k] = (size_t)(end - text);
                if (form_match(form + 2, end, cap, len, k + 1))
                    return 1;
                if (!*end)
                    return 0;
            }
        }
        if (*form != *text)
            return 0;
        form++;
        text++;
    }
    return *text == 0;
}

/* The translated form with the captured runs put back: "%s" in order, or
 * "%N$s" by position (a translation may reorder them); ".0" leaves one out. */
static const char *form_fill(struct arena *a, const char *form, const char **cap, const size_t *len, int ncap)
{
    size_t n = strlen(form) + 1;
    for (int i = 0; i < ncap; i++)
        n += len[i];
    char *out = arena_alloc(a, n), *o = out;
    int next = 0;
    for (const char *p = form; *p;) {
        if (p[0] != '%') {
            *o++ = *p++;
            continue;
        }
        if (p[1] == '%') {
            *o++ = '%';
            p += 2;
            continue;
        }
        /* %s, %N$s, and %.0s / %N$.0s (a value the language leaves out,
         * such as an English plural's "s") */
        const char *q = p + 1;
        int idx = -1, drop = 0;
        if (q[0] >= '1' && q[0] <= '9' && q[1] == '$') {
            idx = q[0] - '1';
            q += 2;
        }
        if (q[0] == '.' && q[1] == '0') {
            drop = 1;
            q += 2;
        }
        if (*q != 's') {
            *o++ = *p++;
            continue;
        }
        if (idx < 0)
            idx = next;
        next++;
        p = q + 1;
        if (!drop && idx < ncap) {
            memcpy(o, cap[idx], len[idx]);
            o += len[idx];
        }
    }
    *o = 0;
    return out;
}

static int count_caps(const char *form)
{
    int n = 0;
    for (const char *p = strstr(form, "%s"); p; p = strstr(p + 2, "%s"))
        n++;
    return n;
}

const char *tr_text(struct arena *a, int lang, const char *text)
{
    if (lang != TR_ZH || !text || !*text)
        return text;
    const char *t = tr(lang, text);
    if (t != text)
        return t;
    const char *cap[MAX_CAPS];
    size_t len[MAX_CAPS];
    for (const char *const *form = kehu_sql_messages; *form; form++) {
        if (!strstr(*form, "%s") || !form_match(*form, text, cap, len, 0))
            continue;
        const char *tf = tr(lang, *form);
        if (tf == *form)
            return text;
        return form_fill(a, tf, cap, len, count_caps(*form));
    }
    return text;
}
