#!/usr/bin/env bash
# README command 1: install what is missing, build, run the demo (demo/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec demo/run.sh build
