#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (issue 13), each run over its corpus in the tree for a
# bounded number of executions. Builds only the fuzz targets, with clang-14, in their own build
# directory (build-fuzz: -Dfuzz=enabled, ASan + UBSan). The corpus in the tree is read, never
# written: new inputs go to a temporary directory. A crash leaves its input as
# build-fuzz/crash-*; make it a corpus entry and a unit test.
#   usage: scripts/fuzz.sh [RUNS]     (default 20000 per target; tests/soak/fuzz_soak.sh: 10^7)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20000}
dir=build-fuzz
targets=(frame segment control config replication)
if [ ! -f "$dir/build.ninja" ]; then
    CXX=clang++-14 CC=clang-14 meson setup "$dir" -Dfuzz=enabled -Dtests=disabled -Dbenchmarks=disabled \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C "$dir" $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
work=$(mktemp -d /tmp/hotspare-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    max_len=2048 n=$runs
    # A whole META segment per input: each execution validates ~64 KiB, about 100x a frame's cost.
    # The replication target brings up two engines' cores per input (~150 executions/s). In CI
    # both run a tenth of the executions (FUZZ_FULL=1, as the soak sets it: all of them).
    [ "$t" = segment ] && max_len=70000
    if [ "$t" = segment ] || [ "$t" = replication ]; then [ -z "${FUZZ_FULL:-}" ] && n=$((runs / 10)); fi
    if (cd "$dir" && "./tests/fuzz/fuzz_$t" -runs="$n" -max_len=$max_len "$work/$t" "../tests/fuzz/corpus/$t") \
        >"$work/$t.log" 2>&1; then
        echo "fuzz_$t: $(grep -E '^Done' "$work/$t.log")"
    else
        echo "fuzz_$t: FAILED"; tail -40 "$work/$t.log"; failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ]
