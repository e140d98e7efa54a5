#!/usr/bin/env bash
# The crash-point soak of issue 13: multinode_crash_points with KILLS_PER_POINT kills of ckptd at
# each of the 5 named crash points (default 1000: 5,000 kills, each checked for lost acknowledged
# commits, torn states and byte-identical nodes). Root (memif, DPDK). Not part of `meson test`:
# about 3 s a kill on a 2-core machine. docs/RELIABILITY.md records the last result.
# Usage: tests/soak/crash_points_soak.sh BUILD_DIR   (KILLS_PER_POINT=N to narrow)
set -euo pipefail
build=$(cd "$1" && pwd)
kills=${KILLS_PER_POINT:-1000}
start=$(date +%s)
CKPTD="$build/engine/ckptd" CKPT_TEST_APP="$build/tests/ckpt_test_app" CKPT_CRASH_KILLS=$kills \
    "$build/tests/multinode/test_crash_points" --gtest_filter='Each/CrashPoints.*'
echo "crash-point soak: $((kills * 5)) kills in $(($(date +%s) - start)) s"
