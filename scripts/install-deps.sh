#!/usr/bin/env bash
# Installs, from Debian 12's archive, every package the build, the demo and the tests need.
# Idempotent: does nothing when all are present. Must run as root (or via sudo).
#   usage: scripts/install-deps.sh [--bench | --packaging]
set -euo pipefail
pkgs=(meson ninja-build pkg-config g++ libboost-dev libxxhash-dev libgtest-dev libgmock-dev
      libbenchmark-dev libsodium-dev libssl-dev libdpdk-dev dpdk libcli11-dev nlohmann-json3-dev iproute2 nftables util-linux python3
      redis-tools tshark
      # the fuzz targets of tests/fuzz (libFuzzer ships with clang's runtime)
      clang-14 libclang-rt-14-dev
      # the packaging checks (tests/packaging: man pages, lintian, symbols files)
      lintian man-db dpkg-dev
      # the cluster side (demo, tests/cluster): Pacemaker, Corosync, crmsh, pcs (the documented
      # pcs commands are tested offline; pcsd is never started), ocf-tester
      pacemaker pacemaker-cli-utils corosync crmsh pcs resource-agents)
# --bench: also what bench/run_suite.sh needs for its baselines (Redis, iceoryx and its RouDi daemon,
# found by meson through cmake; criu for the checkpointed-Redis baseline of issue 16) and its plots
# (gnuplot). redis-tools (redis-cli) is for the kvstore test, which skips without it.
if [ "${1:-}" = --bench ]; then
    pkgs+=(redis-server libiceoryx-posh-dev iceoryx cmake gnuplot-nox criu)
fi
# --packaging: also what building the .debs and their end-to-end test need (scripts/package-test.sh).
if [ "${1:-}" = --packaging ]; then
    pkgs+=(debhelper fakeroot debootstrap)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    # Never let a package's maintainer script start a service (corosync, pacemaker) on this
    # host: the demo and the tests run their clusters in namespaces of their own. Debian's
    # container images carry a policy-rc.d that forbids it; a plain chroot may not.
    policy=/usr/sbin/policy-rc.d
    made_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" > /dev/null
        $SUDO chmod 755 "$policy"
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
        [ -n "$made_policy" ] && $SUDO rm -f "$policy"; exit 1; }
    [ -n "$made_policy" ] && $SUDO rm -f "$policy"
fi
