#!/usr/bin/env bash
# The long fuzzing run of issue 13: 10^7 executions per libFuzzer target (scripts/fuzz.sh with a
# larger count); docs/RELIABILITY.md records the last results.
#   usage: tests/soak/fuzz_soak.sh [RUNS]   (default 10000000)
FUZZ_FULL=1 exec "$(dirname "$0")/../../scripts/fuzz.sh" "${1:-10000000}"
