#!/usr/bin/env bash
# Installs, from Debian 12's archive, every package the build, the demo and the tests need.
# Idempotent: does nothing when all are present. Must run as root (or via sudo).
set -euo pipefail
pkgs=(meson ninja-build pkg-config g++ libboost-dev libxxhash-dev libgtest-dev libgmock-dev
      libbenchmark-dev libdpdk-dev dpdk libcli11-dev nlohmann-json3-dev iproute2 nftables util-linux python3)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
