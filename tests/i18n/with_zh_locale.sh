#!/usr/bin/env bash
# Runs a test program with a generated zh_CN.UTF-8 locale, whether or not
# the machine has one: the locale is compiled into DIR and found through
# LOCPATH. (Without it, the programs take the C.UTF-8 + LANGUAGE path; the
# test itself covers that one.)  with_zh_locale.sh DIR PROGRAM [ARGS...]
set -euo pipefail
dir=$1
shift
if ! command -v localedef >/dev/null 2>&1 || [[ ! -e /usr/share/i18n/locales/zh_CN ]]; then
    echo "with_zh_locale: no localedef or zh_CN locale source (Debian package locales): skipped"
    exit 77
fi
if [[ ! -e $dir/zh_CN.UTF-8/LC_CTYPE ]]; then
    mkdir -p "$dir"
    localedef -i zh_CN -c -f UTF-8 "$dir/zh_CN.UTF-8" || [[ -e $dir/zh_CN.UTF-8/LC_CTYPE ]]
fi
# glibc keeps the LOCPATH list it parsed until exit: not a leak of Kehu's
here=$(cd "$(dirname "$0")" && pwd)
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
LOCPATH=$dir exec "$@"
