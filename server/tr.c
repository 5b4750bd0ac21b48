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
    /* the form that matches with the most of its own words wins (a bare
     * "%s" matches everything) */
    const char *cap[MAX_CAPS], *best_cap[MAX_CAPS];
    size_t len[MAX_CAPS], best_len[MAX_CAPS];
    const char *best = NULL;
    size_t best_words = 0;
    for (const char *const *form = kehu_sql_messages; *form; form++) {
        int n = count_caps(*form);
        size_t words = strlen(*form) - 2 * (size_t)n;
        if (!n || words <= best_words || !form_match(*form, text, cap, len, 0))
            continue;
        best = *form;
        best_words = words;
        memcpy(best_cap, cap, sizeof cap);
        memcpy(best_len, len, sizeof len);
    }
    if (!best)
        return text;
    const char *tf = tr(lang, best);
    return tf == best ? text : form_fill(a, tf, best_cap, best_len, count_caps(best));
}

/* The notes the system writes (sql/: grade_churn_warnings, the pool's
 * recycle job, case deadlines), as forms. */
static const char *const note_forms[] = {
    N_("Churn warning: %s"),
    N_("公海预警 pool warning: returns to the pool on %s unless a follow-up is logged"),
    N_("公海预警 pool warning: returns to the pool on %s unless it buys"),
    N_("case %s: %s"),
    NULL,
};

/* A churn warning's reasons (churn_warning.reasons), as its note lists them. */
static const char *const churn_reasons[] = {
    /* TRANSLATORS: a churn warning's reason: fewer purchases than the baseline */
    N_("frequency_drop"),
    /* TRANSLATORS: a churn warning's reason: smaller purchases than the baseline */
    N_("amount_drop"),
    /* TRANSLATORS: a churn warning's reason: the customer has gone silent */
    N_("silent"),
    /* TRANSLATORS: a churn warning's reason: satisfaction fell */
    N_("satisfaction_drop"),
    /* TRANSLATORS: a churn warning's reason: complaints in the recent window */
    N_("complaints"),
    NULL,
};

/* "silent, complaints" with each known reason translated. */
static const char *reasons_text(struct arena *a, int lang, const char *list, size_t n)
{
    size_t cap = n * 4 + 64;
    for (const char *const *c = churn_reasons; *c; c++)
        cap += strlen(tr(lang, *c));
    char *out = arena_alloc(a, cap), *o = out;
    const char *p = list, *end = list + n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
        const char *word = NULL;
        for (const char *const *c = churn_reasons; *c && !word; c++)
            if (strlen(*c) == len && memcmp(*c, p, len) == 0)
                word = tr(lang, *c);
        if (o != out) {
            /* TRANSLATORS: between the reasons of a churn warning */
            const char *sep = tr(lang, N_(", "));
            size_t sl = strlen(sep);
            if ((size_t)(o - out) + sl + len + 1 > cap)
                break;
            memcpy(o, sep, sl);
            o += sl;
        }
        size_t wl = word ? strlen(word) : len;
        if ((size_t)(o - out) + wl + 1 > cap)
            break;
        memcpy(o, word ? word : p, wl);
        o += wl;
        p += len;
        while (p < end && (*p == ',' || *p == ' '))
            p++;
    }
    *o = 0;
    return out;
}

const char *tr_note(struct arena *a, int lang, const char *note)
{
    if (lang != TR_ZH || !note || !*note)
        return note;
    const char *cap[MAX_CAPS];
    size_t len[MAX_CAPS];
    for (const char *const *form = note_forms; *form; form++) {
        if (!form_match(*form, note, cap, len, 0))
            continue;
        const char *tf = tr(lang, *form);
        if (tf == *form)
            return note;
        if (form == note_forms) { /* the churn warning's reasons, one by one */
            const char *reasons = reasons_text(a, lang, cap[0], len[0]);
            cap[0] = reasons;
            len[0] = strlen(reasons);
        }
        return form_fill(a, tf, cap, len, count_caps(*form));
    }
    return note;
}

/* The detail a check appends to a field's name ("the contact's name" "is
 * too long", validate.c), translated where the message ends with it. */
const char *tr_detail(struct arena *a, int lang, const char *msg)
{
    if (lang != TR_ZH || !msg)
        return msg;
    static const char *const starts[] = { "is ", "has ", "must ", "may ", "needs " };
    for (const char *p = msg; *p; p++) {
        if (p != msg && p[-1] != ' ' && (unsigned char)p[-1] < 0x80)
            continue;
        for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
            if (strncmp(p, starts[i], strlen(starts[i])) != 0)
                continue;
            const char *t = tr(lang, p);
            if (t == p)
                continue;
            size_t keep = (size_t)(p - msg);
            while (keep > 0 && msg[keep - 1] == ' ')
                keep--; /* Chinese needs no space before it */
            return arena_printf(a, "%.*s%s", (int)keep, msg, t);
        }
    }
    return msg;
}
