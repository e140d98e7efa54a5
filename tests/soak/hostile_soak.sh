#!/usr/bin/env bash
# The hostile-client soak of issue 13: Hostile.RandomAttacksHurtOnlyTheVictim for ROUNDS rounds
# (default 10^6: scribble, cut, grow DATA, writers dying mid-transaction, ordinary writes, with a
# healthy checkpoint's sync commits checked every round, then a restart and adoption).
# Not part of `meson test` (about an hour at 10^6 on a 2-core machine); docs/RELIABILITY.md
# records the last result. Usage: tests/soak/hostile_soak.sh BUILD_DIR   (ROUNDS=N to narrow)
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${ROUNDS:-1000000}
start=$(date +%s)
CKPTD="$build/engine/ckptd" CKPT_TEST_APP="$build/tests/ckpt_test_app" CKPT_HOSTILE_ROUNDS=$rounds \
    "$build/tests/test_hostile" --gtest_filter='Hostile.RandomAttacksHurtOnlyTheVictim'
echo "hostile soak: $rounds rounds in $(($(date +%s) - start)) s"
