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

terms=0
while IFS='|' read -r _ en zh re _; do
    en=$(sed 's/^ *//; s/ *$//' <<<"$en")
    zh=$(sed 's/^ *//; s/ *$//' <<<"$zh")
    re=$(sed 's/^ *`//; s/` *$//' <<<"$re")
    [[ -z $re || $en == English || $en == ---* ]] && continue
    terms=$((terms + 1))
    word="(^|[^a-z_-])($re)([^a-z_-]|\$)"
    alts=(-T -E -i)
    IFS='/' read -ra zhs <<<"$zh"
    for z in "${zhs[@]}"; do
        z=$(sed 's/^ *//; s/ *$//' <<<"$z")
        alts+=(-e "$z")
    done
    # the English word kept as it is (a code): allowed
    alts+=(-e "$word")
    bad=$(msggrep --no-wrap -K -E -i -e "$word" "$tmp/current.po" | msggrep --no-wrap -v "${alts[@]}" |
          grep -c '^msgid "[^"]' || true)
    if ((bad > 0)); then
        echo "check_po: '$en' is not said as '$zh' in:" >&2
        msggrep --no-wrap -K -E -i -e "$word" "$tmp/current.po" | msggrep --no-wrap -v "${alts[@]}" |
            grep -A1 '^msgid "[^"]' >&2
        fail=1
    fi
done < <(sed -n '/<!-- terms:begin -->/,/<!-- terms:end -->/p' "$glossary")
if ((terms < 20)); then
    echo "check_po: only $terms glossary terms read from $glossary" >&2
    fail=1
fi
echo "glossary: $terms terms checked"
exit $fail
