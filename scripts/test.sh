#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test twice: once in the normal
# build and once under AddressSanitizer + UndefinedBehaviorSanitizer. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || exit 1

passed=0
failed=0
run_suite() { # BUILD_DIR MESON_SETUP_ARGS...
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null || { failed=$((failed + 1)); return; }
    fi
    if ! ninja -C "$dir" >/dev/null; then
        ninja -C "$dir" | tail -40
        failed=$((failed + 1))
        return
    fi
    # Suite `debian` (two package builds and a chroot: minutes) runs from scripts/package-test.sh.
    meson test -C "$dir" --print-errorlogs --no-rebuild --no-suite debian
    local json="$dir/meson-logs/testlog.json"
    local ok bad
    ok=$(grep -c '"result": "OK"' "$json" || true)
    bad=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$json" || true)
    passed=$((passed + ok))
    failed=$((failed + bad))
}

echo "== tests (debugoptimized build: build/)"
run_suite build
echo "== tests under ASan + UBSan (build-asan/)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=disabled

echo "== libFuzzer targets, bounded (build-fuzz/, clang)"
if scripts/fuzz.sh 20000; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
