#!/usr/bin/env bash
# A tiny run of scripts/bench on this build tree's binaries (a 2,000-customer
# base, one round of one second per comparison, 50 subscribers), so that the
# benchmark code cannot rot: it fails when a phase fails or prints no
# figures. Anchors whose programs are not installed (redis, PgBouncer: only
# `scripts/deps bench` installs them) are skipped by scripts/bench with a
# message. Usage: smoke.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=${1:?source dir} build=${2:?build dir}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
KEHU_BENCH_BIN=$build/bin KEHU_BENCH_PHASES="memory ping seed search get dupcheck grade fanout import import_anchor" \
    KEHU_BENCH_CUSTOMERS=2000 KEHU_BENCH_GRADE=1 KEHU_BENCH_ROUNDS=1 KEHU_BENCH_ANCHOR_CLIENTS=2 \
    KEHU_BENCH_FANOUT_SUBSCRIBERS=50 KEHU_BENCH_FANOUT_CHANGES=5 KEHU_BENCH_IDLE=50 \
    KEHU_BENCH_IMPORT_CUSTOMERS=100 KEHU_BENCH_IMPORT_ROWS=100 \
    "$src/scripts/bench" 1 >"$out" 2>&1 || rc=$?
cat "$out"
fail() {
    echo "bench smoke: $*" >&2
    exit 1
}
((rc == 0)) || fail "scripts/bench exited $rc"
if grep -nE 'failed|no figures|not available|not found in|LEAK' "$out"; then
    fail "a phase failed (above)"
fi
# every phase said what it measured
for want in 'memory per idle connection' 'ratio kehud ÷ pgbench SELECT 1' 'seeded 2000 customers' \
    'ratio kehud ÷ pgbench \(same statement\)' 'get by id, 2 x 1: pgbench' 'duplicate check \(1 x 1' \
    'ratio kehud ÷ psql grade_run' 'fan-out, 50 subscribers' 'customer import: 100 rows' \
    'customer import, 100 rows: kehu .* ratio'; do
    grep -qE "$want" "$out" || fail "no line matching '$want'"
done
# a comparison whose ratio is 0 measured nothing on one side
if grep -E 'ratio kehud ÷' "$out" | grep -E ' 0\.00 \([0-9.]+–[0-9.]+ over'; then
    fail "a comparison measured nothing on one side (above)"
fi
echo "bench smoke: every phase ran"
