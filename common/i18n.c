/* Translations: the locale, the text domain and the fallback for a locale
 * that was never generated (i18n.h). */
#include "i18n.h"

#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef KEHU_LOCALEDIR_INSTALLED
#define KEHU_LOCALEDIR_INSTALLED "/usr/local/share/locale"
#endif

static char localedir[PATH_MAX];

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *kehu_tr(const char *marked)
{
    const char *t = dgettext(KEHU_TEXTDOMAIN, marked);
    if (t != marked)
        return t;
    /* untranslated: gettext hands back "CONTEXT\004MSGID"; show the msgid */
    const char *eot = strchr(marked, '\004');
    return eot ? eot + 1 : marked;
}

const char *kehu_i18n_norm(const char *lang)
{
    if (!lang)
        return "";
    if (strncmp(lang, "zh", 2) == 0 && (lang[2] == 0 || lang[2] == '_' || lang[2] == '-' || lang[2] == '.' || lang[2] == '@')) {
        /* Traditional Chinese is not shipped: Taiwan and Hong Kong stay English */
        if (strncmp(lang + 2, "_TW", 3) == 0 || strncmp(lang + 2, "_HK", 3) == 0 || strncmp(lang + 2, "-Hant", 5) == 0)
            return "";
        return "zh_CN";
    }
    return "";
}

/* A directory holding share/locale/zh_CN/LC_MESSAGES/kehu.mo? */
static int has_catalogue(const char *dir)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/zh_CN/LC_MESSAGES/" KEHU_TEXTDOMAIN ".mo", dir);
    return access(p, R_OK) == 0;
}

const char *kehu_i18n_localedir(const char *argv0)
{
    if (*localedir)
        return localedir;
    const char *env = env_nonempty("KEHU_LOCALEDIR");
    if (env) {
        snprintf(localedir, sizeof localedir, "%s", env);
        return localedir;
    }
    /* the program's directory, bin/, then ../share/locale: the build tree
     * and an installed tree look the same */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 && argv0 && strchr(argv0, '/') && realpath(argv0, exe))
        n = (ssize_t)strlen(exe);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char cand[PATH_MAX + 32];
            snprintf(cand, sizeof cand, "%s/../share/locale", exe);
            if (has_catalogue(cand) && strlen(cand) < sizeof localedir) {
                snprintf(localedir, sizeof localedir, "%s", cand);
                return localedir;
            }
        }
    }
    snprintf(localedir, sizeof localedir, "%s", KEHU_LOCALEDIR_INSTALLED);
    return localedir;
}

void kehu_i18n_init(const char *argv0)
{
    if (!setlocale(LC_ALL, "")) {
        /* the locale asked for is not installed: keep UTF-8 and let LANGUAGE
         * carry the language to gettext */
        const char *want = env_nonempty("LC_ALL");
        if (!want)
            want = env_nonempty("LC_MESSAGES");
        if (!want)
            want = env_nonempty("LANG");
        if (!setlocale(LC_ALL, "C.UTF-8"))
            setlocale(LC_ALL, "C");
        if (want && !env_nonempty("LANGUAGE") && *kehu_i18n_norm(want))
            setenv("LANGUAGE", kehu_i18n_norm(want), 1);
    }
    bindtextdomain(KEHU_TEXTDOMAIN, kehu_i18n_localedir(argv0));
    bind_textdomain_codeset(KEHU_TEXTDOMAIN, "UTF-8");
    textdomain(KEHU_TEXTDOMAIN);
}

const char *kehu_i18n_lang(void)
{
    const char *msgs = setlocale(LC_MESSAGES, NULL);
    if (!msgs || strcmp(msgs, "C") == 0 || strcmp(msgs, "POSIX") == 0)
        return ""; /* gettext translates nothing under C */
    /* LANGUAGE comes first for gettext: its first entry we ship decides */
    const char *language = env_nonempty("LANGUAGE");
    if (language) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", language);
        for (char *save = NULL, *tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
            if (*kehu_i18n_norm(tok))
                return "zh_CN";
            if (strncmp(tok, "en", 2) == 0)
                return "";
        }
        return ""; /* gettext looks no further than LANGUAGE's list */
    }
    return kehu_i18n_norm(msgs);
}
