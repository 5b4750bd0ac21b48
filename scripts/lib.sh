# shellcheck shell=bash
# Shared helpers for scripts/*. Sourced, not executed:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Kept free of side effects (no set -e, no traps) so that every script keeps
# control of its own error handling.

# Resolved once, at source time: the caller may cd afterwards.
KEHU_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

# kehu_root: the repository's top directory (absolute, symlinks resolved).
kehu_root() {
    printf '%s\n' "$KEHU_ROOT"
}

# build_tree DIR TYPE [extra cmake args...]: configure and build the tree in
# DIR (relative paths are relative to the repository) with CMAKE_BUILD_TYPE
# TYPE. Returns cmake's status.
build_tree() {
    local dir=${1:?build_tree DIR TYPE [cmake args...]} type=${2:?build_tree DIR TYPE [cmake args...]}
    shift 2
    (
        cd "$KEHU_ROOT" &&
            cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" &&
            cmake --build "$dir" -j"$(nproc)"
    )
}

# pg_bindir: where initdb, pg_ctl, psql... live. They are not on PATH on
# Debian (only wrappers for the system clusters are), so never rely on PATH.
pg_bindir() {
    local dir=
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
    fi
    if [[ -n $dir && -x $dir/initdb ]]; then
        printf '%s\n' "$dir"
    else
        printf '%s\n' /usr/lib/postgresql/15/bin
    fi
}

# pg_user: the account that owns and runs our private clusters. initdb and
# postgres refuse to run as root, so as root that is the postgres system
# user; anyone else runs them as themselves.
pg_user() {
    if [[ $EUID -eq 0 ]]; then
        printf '%s\n' postgres
    else
        id -un
    fi
}

# as_pg CMD...: run CMD as pg_user. As root it goes through runuser, from /
# (postgres cannot enter a private cwd such as /root and its tools complain
# about it), so pass absolute paths. Otherwise CMD runs as it is: we are
# already the postgres user, or a user running a cluster it owns.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# pg_chown PATH...: give PATH to pg_user (only root needs to, and can).
pg_chown() {
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$@"
    fi
}

# postgres_can_reach DIR [--write]: can pg_user get to DIR? Every existing
# ancestor (and DIR itself if it exists) must be searchable by that user; a
# checkout under a mode-700 home fails this. Components that do not exist
# yet are not checked: create them with umask 022. With --write, DIR must
# also exist and be writable by that user.
postgres_can_reach() {
    local dir=${1:?postgres_can_reach DIR [--write]} p
    dir=$(realpath -m -- "$dir")
    p=$dir
    while :; do
        if [[ -e $p ]] && ! as_pg test -x "$p"; then
            return 1
        fi
        [[ $p == / ]] && break
        p=$(dirname -- "$p")
    done
    if [[ ${2:-} == --write ]]; then
        as_pg test -d "$dir" -a -w "$dir" || return 1
    fi
    return 0
}

# free_port START: print the first TCP port >= START that nothing listens on
# (any address). Racy by nature: whoever uses the port should bind it soon.
free_port() {
    local port=${1:?free_port START} used=
    if command -v ss >/dev/null 2>&1; then
        # Local address is column 4: 127.0.0.1:5432, [::]:22, *:80, [::1]:5432
        used=$(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | sort -un)
        while grep -qx -- "$port" <<<"$used"; do
            port=$((port + 1))
        done
    else
        # No ss: a port is taken if a connection to it succeeds.
        while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
            port=$((port + 1))
        done
    fi
    if ((port > 65535)); then
        echo "free_port: no free port at or above $1" >&2
        return 1
    fi
    printf '%s\n' "$port"
}

# port_in_use PORT: does anything listen on TCP PORT (any address)?
port_in_use() {
    [[ $(free_port "$1") != "$1" ]]
}
