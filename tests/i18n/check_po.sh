#!/usr/bin/env bash
# The zh_CN catalogue against the sources and the glossary:
#   check_po.sh KEHU_POT ZH_CN_PO GLOSSARY_MD
# 1. po/zh_CN.po merged with the kehu.pot the build extracted: msgfmt
#    --check --statistics must report no untranslated and no fuzzy message
#    (a string added to the code without its translation fails here).
# 2. docs/glossary.md: a message whose English has a glossary term says it
#    in Chinese with the glossary's word (or keeps the English word as a
#    code).
set -euo pipefail
pot=$1 po=$2 glossary=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

msgmerge --quiet --no-wrap --no-fuzzy-matching "$po" "$pot" -o "$tmp/merged.po"
stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$tmp/merged.po" 2>&1)
echo "zh_CN: $stats"
fail=0
if grep -Eq 'untranslated|fuzzy' <<<"$stats"; then
    echo "check_po: messages without a zh_CN translation (run the po-update target and translate):" >&2
    msgattrib --untranslated --no-wrap "$tmp/merged.po" | grep -A1 '^msgid' | grep -v '^msgid ""$' >&2 || true
    fail=1
fi
# obsolete entries are fine (kept for reuse) but stale fuzzy ones are not
msgattrib --no-obsolete --no-wrap "$tmp/merged.po" -o "$tmp/current.po"

# the glossary's rows: English, Chinese alternatives, the English pattern
sed -n '/<!-- terms:begin -->/,/<!-- terms:end -->/p' "$glossary" |
    awk -F'|' 'NF >= 5 && $4 ~ /`/ {
        en = $2; zh = $3; re = $4
        gsub(/^ +| +$/, "", en); gsub(/^ +| +$/, "", zh); gsub(/^ *`|` *$/, "", re)
        print en "\t" zh "\t" re }' >"$tmp/terms"
terms=$(wc -l <"$tmp/terms")
# one pass over the catalogue: each message (msgid, msgstr joined) against
# every term
if ! awk -F'\t' '
    FNR == NR { en[NR] = $1; zh[NR] = $2; re[NR] = "(^|[^a-z_-])(" $3 ")([^a-z_-]|$)"; n = NR; next }
    function flush(   i, k, alts, ok, lid, lstr) {
        if (id != "") {
            lid = tolower(id); lstr = tolower(str)
            for (i = 1; i <= n; i++) {
                if (lid !~ re[i])
                    continue
                ok = (lstr ~ re[i])              # the English word kept as a code
                k = split(zh[i], alts, " */ *")
                for (; k > 0 && !ok; k--)
                    ok = index(str, alts[k]) > 0
                if (!ok) {
                    printf "check_po: \"%s\" is not said as \"%s\" in:\n  %s\n  %s\n", en[i], zh[i], id, str > "/dev/stderr"
                    bad = 1
                }
            }
        }
        id = ""; str = ""; which = ""
    }
    /^msgid "/ { flush(); which = "id"; id = substr($0, 8, length($0) - 8); next }
    /^msgid_plural "/ { which = "plural"; next }
    /^msgstr(\[0\])? "/ { which = "str"; sub(/^msgstr(\[0\])? "/, ""); str = substr($0, 1, length($0) - 1); next }
    /^"/ { line = substr($0, 2, length($0) - 2); if (which == "id") id = id line; else if (which == "str") str = str line; next }
    /^$/ { flush() }
    END { flush(); exit bad }
' "$tmp/terms" "$tmp/current.po"; then
    fail=1
fi
if ((terms < 20)); then
    echo "check_po: only $terms glossary terms read from $glossary" >&2
    fail=1
fi
echo "glossary: $terms terms checked"
exit $fail
