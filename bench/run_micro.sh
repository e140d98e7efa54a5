#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md: builds the release tree in build-bench (or $BUILD_DIR),
# runs bench_baselines, bench_hashing and bench_commit once each with JSON output into a results
# directory, and prints the Markdown table (bench/micro_table.py) from those files.
#   usage: bench/run_micro.sh [results-dir]     (default: <build>/bench-results/<UTC time>)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
out=${1:-$build/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release
fi
buildtype=$(meson introspect "$build" --buildoptions |
    python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))')
if [ "$buildtype" != release ]; then
    echo "run_micro.sh: $build is a '$buildtype' build; figures come from release builds only" >&2
    exit 1
fi
ninja -C "$build" engine/ckptd bench/bench_commit bench/bench_baselines bench/bench_hashing >/dev/null

mkdir -p "$out"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
        [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ] && echo ' (working tree has changes)')"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -r)"
    echo "compiler: $(c++ --version | head -1)"
    echo "shm free: $(df -h --output=avail /dev/shm | tail -1 | tr -d ' ')"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"

export CKPTD="$build/engine/ckptd"
# MICRO_ARGS: extra Google Benchmark flags (e.g. a --benchmark_filter); $CKPT_BENCH_REPETITIONS sets the repetitions.
# shellcheck disable=SC2206
flags=(--benchmark_enable_random_interleaving=true --benchmark_out_format=json ${MICRO_ARGS:-})
echo "running bench_baselines -> $out/baselines.json" >&2
"$build/bench/bench_baselines" "${flags[@]}" --benchmark_out="$out/baselines.json" >"$out/baselines.txt"
echo "running bench_hashing -> $out/hashing.json" >&2
"$build/bench/bench_hashing" "${flags[@]}" --benchmark_out="$out/hashing.json" >"$out/hashing.txt"
echo "running bench_commit -> $out/commit.json" >&2
"$build/bench/bench_commit" "${flags[@]}" --benchmark_out="$out/commit.json" >"$out/commit.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

python3 "$root/bench/micro_table.py" "$out"
