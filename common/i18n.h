/* Translations (gettext): the text domain "kehu", catalogues built from po/
 * into share/locale beside the programs (build/bin/../share/locale, the same
 * layout installed), KEHU_LOCALEDIR overriding.
 *
 * _("text") translates now; N_("text") only marks a string for xgettext in
 * a static table, translated where it is used (_(table[i].summary)).
 * Never mark protocol field names, codes, JSON keys or CSV headers meant
 * for machines. */
#ifndef KEHU_I18N_H
#define KEHU_I18N_H

#include <libintl.h>

#define KEHU_TEXTDOMAIN "kehu"

#ifndef _
#define _(s) dgettext(KEHU_TEXTDOMAIN, s)
#endif
#ifndef N_
#define N_(s) (s)
#endif
/* plural forms: n picks "one" or "many" by the catalogue's rule */
#define P_(one, many, n) dngettext(KEHU_TEXTDOMAIN, one, many, (unsigned long)(n))

/* A msgid that means different things in different places gets a context
 * (gettext's msgctxt): "KEY" over a contact's key person is not "KEY" over
 * a policy's key. NC_("contact", "KEY") only marks it, like N_, for a static
 * table (translated with kehu_tr where shown); C_("contact", "KEY")
 * translates now, like pgettext. */
#define NC_(ctx, s) (ctx "\004" s)
#define C_(ctx, s) kehu_tr(NC_(ctx, s))
/* A string marked with N_ or NC_ in the user's language; untranslated, the
 * msgid itself (without its context). */
const char *kehu_tr(const char *marked);

/* For a client program: setlocale(LC_ALL, "") and the text domain. When the
 * locale the environment asks for is not installed (a fresh machine where
 * zh_CN.UTF-8 was never generated), falls back to C.UTF-8 and sets
 * LANGUAGE from LC_ALL / LC_MESSAGES / LANG, so that gettext still finds the
 * zh_CN catalogue (glibc ignores LANGUAGE only under the plain "C" locale).
 * argv0 helps find share/locale beside the program. */
void kehu_i18n_init(const char *argv0);

/* The directory the catalogues are read from. */
const char *kehu_i18n_localedir(const char *argv0);

/* The language messages are shown in: "zh_CN" when they are Chinese, ""
 * for English (the untranslated text). This is what a client tells kehud
 * in its Hello so that refusals come back in the same language. */
const char *kehu_i18n_lang(void);

/* Normalises a language name from a Hello or the environment
 * ("zh_CN.UTF-8", "zh", "zh_CN@x", "zh-Hans") to the catalogue Kehu ships:
 * "zh_CN", or "" for English and anything unknown. */
const char *kehu_i18n_norm(const char *lang);

#endif
