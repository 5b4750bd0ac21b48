#!/usr/bin/env bash
# The README's tour, run as written against the demo base: scripts/up in a
# throwaway folder (no build: the binaries of this build tree), then every
# command between the README's "tour:begin" and "tour:end" markers, in
# order, each expected to exit 0 — or with the status its comment names as
# "(exit N)". A login line gets the password the README says it takes: the
# admin's from up, the demo users' kehu-demo-2026. So the examples cannot
# drift from what the programs do.
# Usage: tour.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=${1:?tour.sh SOURCE_DIR BUILD_DIR}
build=${2:?tour.sh SOURCE_DIR BUILD_DIR}
source "$src/scripts/lib.sh"

tmp=$(mktemp -d /tmp/kehu-tour.XXXXXX)
chmod 755 "$tmp"
up_pid=
cleanup() {
    if [[ -n $up_pid ]] && kill -0 "$up_pid" 2>/dev/null; then
        kill -TERM "$up_pid"
        wait "$up_pid" || true
    fi
    rm -rf -- "$tmp"
}
trap cleanup EXIT

admin_password=tour-admin-pass-1
# start_up: scripts/up on a free port; 0 once kehud answers. Another test
# may take the port between the choice and the bind: then up stops, and the
# caller tries once more.
start_up() {
    port=$(free_port $((7950 + RANDOM % 500)))
    # PostgreSQL's port below the ephemeral range (32768 on): a client
    # connection of a test running beside this one may hold any port above it
    local pg_port
    pg_port=$(free_port $((20000 + RANDOM % 8000)))
    KEHU_PG_PORT=$pg_port KEHU_SKIP_BUILD=1 KEHUD_BIN=$build/bin/kehud KEHU_VAR=$tmp/var KEHU_PORT=$port \
        KEHU_ADMIN_PASSWORD=$admin_password KEHU_DEMO_PASSWORD= "$src/scripts/up" >>"$tmp/up.log" 2>&1 &
    up_pid=$!
    for _ in $(seq 1 600); do
        "$build/bin/kehu" --server "127.0.0.1:$port" ping >/dev/null 2>&1 && return 0
        kill -0 "$up_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# The tour calls build/bin/kehu from the checkout: give it this tree's.
mkdir -p "$tmp/run/build/bin"
ln -s "$build/bin/kehu" "$tmp/run/build/bin/kehu"
cd "$tmp/run"
export XDG_CONFIG_HOME=$tmp/config
unset KEHU_PASSWORD KEHU_USER

if ! start_up; then
    wait "$up_pid" 2>/dev/null || true
    start_up || { cat "$tmp/up.log"; echo "tour: scripts/up did not come up" >&2; exit 1; }
fi
export KEHU_SERVER=127.0.0.1:$port

# The tour's command lines, in order.
mapfile -t lines < <(awk '/<!-- tour:begin -->/ {on = 1; next} /<!-- tour:end -->/ {on = 0}
    on && /^```/ {block = !block; next} on && block && NF' "$src/README.md")
((${#lines[@]} > 10)) || { echo "tour: found only ${#lines[@]} commands in README.md" >&2; exit 1; }

failed=0
for line in "${lines[@]}"; do
    cmd=${line%%  #*}
    comment=
    [[ $line == *"  #"* ]] && comment=${line#*  #}
    want=0
    if [[ $comment =~ \(exit\ ([0-9]+)\) ]]; then
        want=${BASH_REMATCH[1]}
    fi
    pw=
    if [[ $cmd =~ kehu\ login\ ([a-z.]+) ]]; then
        [[ ${BASH_REMATCH[1]} == admin ]] && pw=$admin_password || pw=kehu-demo-2026
    fi
    echo "\$ $cmd"
    rc=0
    KEHU_PASSWORD=$pw eval "$cmd" </dev/null || rc=$?
    if ((rc != want)); then
        echo "tour: FAILED: '$cmd' exited $rc, the README expects $want" >&2
        failed=1
    fi
done
exit "$failed"
