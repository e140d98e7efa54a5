#!/usr/bin/env bash
# The whole benchmark suite of BENCHMARKS.md in one command: installs what is missing (Debian
# packages: the build's, plus redis-server, iceoryx and gnuplot for the baselines and the plot),
# builds the release tree build-bench (or $BUILD_DIR), runs
#   1. the node-local micro-benchmarks (bench/run_micro.sh: bench_baselines, bench_hashing,
#      bench_commit; Google Benchmark repetitions with random interleaving),
#   2. bench/ckpt_e2e: sync commits over memif, kernel UDP and af_packet against raw DPDK/UDP
#      ping-pongs and Redis SET+WAIT, closed and open loop, throughput, wire bytes,
#   3. bench/ckpt_observe: commit to observed in another process against a cache-line ping-pong
#      and iceoryx publish/subscribe,
#   4. bench/ckpt_scale: takeover by mapping against reading, resync bytes, 100k sections,
#   5. bench/kvstore_compare.sh: YCSB A/B on hotspare-kvstore (sync, async) against Redis 7 with and
#      without WAIT 1, closed and open loop, failovers with lost acknowledged updates (issue 16),
#   6. bench/hotspare_commit: checkpoint cost vs registered size and dirty fraction for explicit
#      marking, transparent tracking, a full copy and a fork() snapshot (issue 16),
# each figure next to its baseline measured in the same run (alternating rounds), and merges them
# with bench/suite_report.py into suite.md, suite.json and CDF plots (PNG) in the results directory.
#
#   usage: bench/run_suite.sh [--quick] [results-dir]   (default: <build>/suite-results/<UTC time>)
#
# --quick: one round of each end-to-end tool with short counts, and the micro-benchmarks with 3
# repetitions instead of 5; it finishes in under 5 minutes on a 2-core machine. Needs root (DPDK
# memif and af_packet, network namespaces). Exit status: 0 when every tool ran without error
# (whether targets are met is in the report, not in the exit status).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
quick=0
out=""
for a in "$@"; do
    case "$a" in
    --quick) quick=1 ;;
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "run_suite.sh: unknown option $a" >&2
        exit 2
        ;;
    *) out=$a ;;
    esac
done
build=${BUILD_DIR:-$root/build-bench}
out=${out:-$build/suite-results/$(date -u +%Y%m%dT%H%M%SZ)}

"$root/scripts/install-deps.sh" --bench || exit 1
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release >/dev/null || exit 1
fi
# Only what the suite runs (a build-bench with tests enabled need not build every test); the
# build file first, so that targets added since it was configured are listed.
ninja -C "$build" build.ninja >/dev/null || exit 1
mapfile -t targets < <(ninja -C "$build" -t targets all | cut -d: -f1 |
    grep -E '^(engine/ckptd|bench/(bench_[a-z]+|ckpt_[a-z0-9]+|redis_wait|ycsb|hotspare_commit)|tests/net/ckpt_pingpong|examples/kvstore/hotspare-kvstore|tools/ckptctl/ckptctl)$')
ninja -C "$build" "${targets[@]}" >/dev/null || {
    ninja -C "$build" "${targets[@]}" | tail -30
    exit 1
}
mkdir -p "$out/samples"
start=$(date +%s)
failed=0
step() { # NAME COMMAND...
    local name=$1
    shift
    echo "run_suite: $name (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$@" || {
        echo "run_suite: $name failed (exit $?)" >&2
        failed=$((failed + 1))
    }
}

q=()
[ "$quick" -eq 1 ] && q=(--quick)
# 1. micro-benchmarks; their results directory holds machine.txt, which the report shows first
if [ "$quick" -eq 1 ]; then export CKPT_BENCH_REPETITIONS=3; fi
step micro bash -c "BUILD_DIR='$build' '$root/bench/run_micro.sh' '$out/micro' >'$out/micro.md'"
cp "$out/micro/machine.txt" "$out/machine.txt" 2>/dev/null
# 2-4. the end-to-end tools (each alternates its own rounds; --samples feeds the CDF plots)
export CKPTD="$build/engine/ckptd"
step e2e "$build/bench/ckpt_e2e" "${q[@]}" --rate 5000 --samples "$out/samples" --json "$out/e2e.json" \
    --redis-wait "$build/bench/redis_wait" >"$out/e2e.md"
if [ -x "$build/bench/ckpt_observe" ]; then
    step observe "$build/bench/ckpt_observe" "${q[@]}" --samples "$out/samples" --json "$out/observe.json" \
        >"$out/observe.md"
fi
if [ -x "$build/bench/ckpt_scale" ]; then
    step scale "$build/bench/ckpt_scale" "${q[@]}" --json "$out/scale.json" >"$out/scale.md"
fi
# 5-6. issue 16: the key-value store against Redis, and the Hot Spare measurements
if [ -x "$build/bench/ycsb" ] && [ -x "$build/examples/kvstore/hotspare-kvstore" ]; then
    if [ "$quick" -eq 1 ]; then kv=(2000 5000 8 3 2000); else kv=(5000 20000 16 20 2000); fi
    step kvstore "$root/bench/kvstore_compare.sh" "$build" "$out/kvstore" "${kv[@]}"
fi
if [ -x "$build/bench/hotspare_commit" ]; then
    if [ "$quick" -eq 1 ]; then hs=(--sizes-mib 1,16,64 --fractions 1,10,50,95 --iterations 5); else hs=(); fi
    step hotspare bash -c "'$build/bench/hotspare_commit' ${hs[*]} --json '$out/hotspare.jsonl' 2>'$out/hotspare.txt' &&
        '$root/bench/hotspare_plot.sh' '$out/hotspare.jsonl' '$out/hotspare' >/dev/null"
fi
echo "suite seconds: $(($(date +%s) - start))" >>"$out/machine.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

python3 "$root/bench/suite_report.py" "$out" || failed=$((failed + 1))
echo "run_suite: results in $out ($(($(date +%s) - start)) s)" >&2
[ "$failed" -eq 0 ]
