#!/usr/bin/env bash
# The long fault mix of issue 13: FaultMix.* with SECONDS (default 60) simulated seconds of 20 %
# bursty loss (bursts of 8), 25 % reordering, 1 % duplication and 0.5 % corruption, then heal
# (converged; each side rejected exactly the copies the other's shim corrupted), and the ten
# partitions in a row. In process with the test's clock: a simulated minute takes well under a
# second. docs/RELIABILITY.md records the last result. Usage: tests/soak/fault_mix_soak.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
CKPT_FAULT_MIX_SECONDS=${SECONDS_SIMULATED:-60} "$build/tests/unit/test_fault_mixes"
