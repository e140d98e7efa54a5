#!/usr/bin/env bash
# The Debian packages end to end (tests/packaging/debian_test.sh, meson suite `debian`): builds
# the .debs twice, installs them into a fresh debootstrap chroot, runs the installed examples,
# upgrades with a persistent checkpoint, removes and purges. 8 to 20 minutes on 2 shared cores, so not
# part of scripts/test.sh; its last result is recorded in docs/RELIABILITY.md. Root.
#   usage: scripts/package-test.sh [BUILD_DIR]    (default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --packaging
dir=${1:-build}
[ -f "$dir/build.ninja" ] || meson setup "$dir" > /dev/null
meson test -C "$dir" --suite debian --print-errorlogs --verbose
