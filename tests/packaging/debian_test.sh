#!/usr/bin/env bash
# The Debian packages end to end, as an operator meets them (slow: two package builds and a
# fresh Debian 12 chroot; suite `debian`, run by scripts/package-test.sh, not by scripts/test.sh):
#  1. builds the packages from this source tree with `dpkg-buildpackage -us -uc -b` (version V1
#     from debian/changelog), and lintian finds no error or warning in them;
#  2. rebuilds them (`-nc`: the same build tree) as V2 = V1+pkgtest1, a higher version;
#  3. makes a fresh chroot with debootstrap (minbase bookworm, from the host's configured Debian
#     mirror, then the host's apt sources; .debs cached in /var/cache/hotspare-debootstrap) with
#     its own /dev/shm, /run and /proc, in a mount namespace of its own; installs g++ and pkg-config there, then snapshots
#     the file system;
#  4. installs the six V1 packages with apt-get (dependencies from the archive); ckptd's
#     directories exist; the unit is valid; configures the node from ckptd.conf.example and
#     starts ckptd with the ExecStart line of the installed ckptd.service (no systemd runs in a
#     chroot); runs the installed examples against it: hotspare-kvstore (SET/GET over RESP),
#     the counter example and the csa103-style SA Forum example, both compiled from
#     /usr/share/doc/hotspare/examples with only the installed -dev packages and pkg-config;
#  5. creates a persistent checkpoint with ckptctl and writes to it; stops ckptd; wipes the
#     chroot's /dev/shm (a reboot); upgrades to the V2 packages; the configuration is untouched,
#     ckptd starts again and the checkpoint's bytes are there;
#  6. removes the packages: the configuration and the checkpoint stay; purges them: nothing of
#     ours is left (every path created since the snapshot is owned by a still-installed package,
#     or is apt's and dpkg's own bookkeeping).
# Skips (77) with the reason when not root or when a tool or build dependency is missing
# (scripts/install-deps.sh --packaging installs them).
# Usage: debian_test.sh SOURCE_DIR
# HOTSPARE_DEB_DIR=DIR: use DIR/v1/*.deb and DIR/v2/*.deb instead of building (to iterate on
# steps 3-6); the test then says so.
set -euo pipefail
src=$(cd "$1" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot, mounts)"
for t in dpkg-buildpackage dh debootstrap lintian unshare chroot; do
    command -v "$t" >/dev/null || skip "$t is missing (scripts/install-deps.sh --packaging installs it)"
done
(cd "$src" && dpkg-checkbuilddeps) 2>/dev/null ||
    skip "build dependencies missing: $(cd "$src" && dpkg-checkbuilddeps 2>&1 || true)"
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

tmp=$(mktemp -d /var/tmp/hotspare-deb.XXXXXX)
cleanup() {
    # The chroot's mounts live in the namespace of step 3's unshare and went with it; its
    # processes were stopped there. What remains is files.
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $(date -u +%H:%M:%S) $*"; }

# 1-2. Build V1 and V2.
if [ -n "${HOTSPARE_DEB_DIR:-}" ]; then
    step "using prebuilt packages from $HOTSPARE_DEB_DIR (HOTSPARE_DEB_DIR)"
    mkdir -p "$tmp/v1" "$tmp/v2"
    cp "$HOTSPARE_DEB_DIR"/v1/*.deb "$tmp/v1/"
    cp "$HOTSPARE_DEB_DIR"/v2/*.deb "$tmp/v2/"
else
    step "building the packages (V1)"
    mkdir -p "$tmp/build/hotspare" "$tmp/v1" "$tmp/v2"
    # The source tree as git sees it (tracked and new files, not ignored build directories).
    if git -C "$src" rev-parse --git-dir > /dev/null 2>&1; then
        (cd "$src" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$tmp/build/hotspare"
    else # an unpacked tarball: everything but build directories
        tar -C "$src" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -xf - -C "$tmp/build/hotspare"
    fi
    pkgsrc="$tmp/build/hotspare"
    (cd "$pkgsrc" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b) \
        > "$tmp/build-v1.log" 2>&1 || { tail -n 60 "$tmp/build-v1.log"; fail "dpkg-buildpackage (V1) failed"; }
    v1=$(cd "$pkgsrc" && dpkg-parsechangelog -S Version)
    step "lintian on the V1 packages"
    lintian --fail-on error,warning "$tmp/build"/hotspare_"${v1}"_*.changes > "$tmp/lintian.log" 2>&1 ||
        { cat "$tmp/lintian.log"; fail "lintian reports errors or warnings"; }
    cat "$tmp/lintian.log"
    mv "$tmp/build"/*.deb "$tmp/v1/"
    step "rebuilding the packages as a higher version (V2)"
    v2="${v1}+pkgtest1"
    { printf 'hotspare (%s) bookworm; urgency=medium\n\n  * Rebuild by tests/packaging/debian_test.sh (an upgrade).\n\n' "$v2"
      printf ' -- Hotspare test <test@localhost.invalid>  %s\n\n' "$(date -R)"
      cat "$pkgsrc/debian/changelog"; } > "$tmp/changelog" && mv "$tmp/changelog" "$pkgsrc/debian/changelog"
    (cd "$pkgsrc" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -nc -us -uc -b) \
        > "$tmp/build-v2.log" 2>&1 || { tail -n 60 "$tmp/build-v2.log"; fail "dpkg-buildpackage (V2) failed"; }
    mv "$tmp/build"/*.deb "$tmp/v2/"
fi
for p in hotspare libckpt0 libckpt-dev libsackpt1 libsackpt-dev hotspare-examples; do
    ls "$tmp/v1/${p}"_*.deb > /dev/null 2>&1 || fail "no $p package was built"
    ls "$tmp/v2/${p}"_*.deb > /dev/null 2>&1 || fail "no $p package was rebuilt"
done
v1=$(dpkg-deb -f "$(ls "$tmp"/v1/hotspare_*.deb)" Version)
v2=$(dpkg-deb -f "$(ls "$tmp"/v2/hotspare_*.deb)" Version)
dpkg --compare-versions "$v2" gt "$v1" || fail "the rebuilt version $v2 is not higher than $v1"
ls -l "$tmp"/v1

# 3-6 run in a mount namespace of their own: the chroot's mounts vanish with it, whatever happens.
root="$tmp/root"
cache=/var/cache/hotspare-debootstrap
mkdir -p "$cache"
export root cache mirror v1 v2 tmp
unshare --mount --propagation private bash -euo pipefail -c '
fail() { echo "FAIL: $*"; [ -f "$root/var/log/ckptd.out" ] && { echo "--- ckptd output"; cat "$root/var/log/ckptd.out"; }; exit 1; }
step() { echo "== $(date -u +%H:%M:%S) $*"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }
# In the background: exec all the way (chroot, env, the program), so that $! is the program.
bg_root() { ( exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 "$@" ) & }
ckptd_pid=""
stop_ckptd() {
    [ -n "$ckptd_pid" ] || return 0
    kill -TERM "$ckptd_pid" 2>/dev/null || true
    for _ in $(seq 500); do kill -0 "$ckptd_pid" 2>/dev/null || break; sleep 0.01; done
    kill -0 "$ckptd_pid" 2>/dev/null && { kill -9 "$ckptd_pid"; fail "ckptd did not stop on SIGTERM"; }
    wait "$ckptd_pid" 2>/dev/null || true
    ckptd_pid=""
}
trap "stop_ckptd || true; kill \$(jobs -p) 2>/dev/null || true" EXIT
chroot_procs() { # the processes running in the chroot, but for ckptd: "PID COMMAND" lines
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] || continue
        [ "${p#/proc/}" = "$ckptd_pid" ] && continue
        echo "${p#/proc/} $(tr "\0" " " < "$p/cmdline")"
    done
}
start_ckptd() { # from the ExecStart line of the installed unit
    local exec
    exec=$(sed -n "s/^ExecStart=//p" "$root/lib/systemd/system/ckptd.service")
    [ -n "$exec" ] || fail "the installed ckptd.service has no ExecStart"
    bg_root $exec >> "$root/var/log/ckptd.out" 2>&1
    ckptd_pid=$!
    for _ in $(seq 1500); do [ -S "$root/run/hotspare/ckptd.sock" ] && return 0; sleep 0.01
        kill -0 "$ckptd_pid" 2>/dev/null || fail "ckptd ($exec) exited"; done
    fail "ckptd ($exec) opened no socket"
}

step "debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase --cache-dir="$cache" bookworm "$root" "$mirror" > "$tmp/debootstrap.log" 2>&1 ||
    { tail -n 30 "$tmp/debootstrap.log"; fail "debootstrap failed"; }
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
# No service may start from a maintainer script in the chroot.
printf "#!/bin/sh\nexit 101\n" > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# The host'"'"'s apt sources (bookworm-updates and -security too): the packages were built against
# the host'"'"'s libraries, whose versions their dependencies name.
if ls /etc/apt/sources.list.d/*.sources > /dev/null 2>&1; then
    cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
    rm -f "$root/etc/apt/sources.list"
elif [ -f /etc/apt/sources.list ]; then
    cp /etc/apt/sources.list "$root/etc/apt/sources.list"
fi
step "installing the tools the examples are built with (g++, pkg-config)"
in_root apt-get -o Dir::Cache::archives=/var/cache/apt/archives update -qq
in_root apt-get install -y -qq --no-install-recommends g++ pkg-config procps > "$tmp/apt-tools.log" 2>&1 ||
    { tail -n 30 "$tmp/apt-tools.log"; fail "apt-get install g++ pkg-config in the chroot failed"; }
snapshot() { in_root find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \) -prune -o -print | sort; }
snapshot > "$tmp/before.list"

step "installing the V1 packages ($v1)"
mkdir -p "$root/debs/v1" "$root/debs/v2"
for p in hotspare libckpt0 libckpt-dev libsackpt1 libsackpt-dev hotspare-examples; do  # not the -dbgsym ones
    cp "$tmp"/v1/"$p"_*.deb "$root/debs/v1/"; cp "$tmp"/v2/"$p"_*.deb "$root/debs/v2/"
done
in_root sh -c "apt-get install -y -qq --no-install-recommends /debs/v1/*.deb" > "$tmp/apt-v1.log" 2>&1 ||
    { tail -n 40 "$tmp/apt-v1.log"; fail "installing the V1 packages failed"; }
for p in hotspare libckpt0 libckpt-dev libsackpt1 libsackpt-dev hotspare-examples; do
    [ "$(in_root dpkg-query -W -f="\${Version} \${Status}" "$p")" = "$v1 install ok installed" ] || fail "$p $v1 is not installed"
done
for d in /run/hotspare /var/lib/hotspare /var/log/hotspare; do [ -d "$root$d" ] || fail "the package did not create $d"; done
[ "$(stat -c %a "$root/var/lib/hotspare")" = 700 ] || fail "/var/lib/hotspare is not private (0700)"
for f in /usr/bin/ckptd /usr/bin/ckptctl /usr/bin/ckptstat /usr/bin/hotspare-kvstore /lib/systemd/system/ckptd.service \
    /lib/systemd/system/ckptd@.service /usr/lib/ocf/resource.d/hotspare/ckptd /etc/hotspare/ckptd.conf.example \
    /usr/share/man/man8/ckptd.8.gz /usr/share/man/man5/ckptd.conf.5.gz /usr/share/man/man3/libckpt.3.gz \
    /usr/share/doc/hotspare/OPERATIONS.md; do
    [ -e "$root$f" ] || fail "$f is not installed"
done
in_root ckptd --help > /dev/null || fail "the installed ckptd does not run (a missing library?)"

step "configuring the node and starting ckptd from the installed unit"
cp "$root/etc/hotspare/ckptd.conf.example" "$root/etc/hotspare/ckptd.conf"
echo "# configured by debian_test.sh" >> "$root/etc/hotspare/ckptd.conf"
conf_sum=$(md5sum < "$root/etc/hotspare/ckptd.conf")
: > "$root/var/log/ckptd.out"
start_ckptd
in_root ckptctl list > /dev/null || fail "ckptctl cannot talk to the installed ckptd"

step "the installed examples against it"
# hotspare-kvstore: SET and GET over RESP (bash /dev/tcp; no redis-cli in the chroot).
bg_root hotspare-kvstore --port 0 --port-file /tmp/kv.port > "$tmp/kv.log" 2>&1
kv=$!
for _ in $(seq 1000); do [ -s "$root/tmp/kv.port" ] && break; sleep 0.01; done
[ -s "$root/tmp/kv.port" ] || { cat "$tmp/kv.log"; fail "hotspare-kvstore did not start"; }
port=$(cat "$root/tmp/kv.port")
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf "*3\r\n\$3\r\nSET\r\n\$4\r\ncall\r\n\$5\r\nsetup\r\n*2\r\n\$3\r\nGET\r\n\$4\r\ncall\r\n" >&3
reply=$(timeout 5 head -c 16 <&3 | tr -d "\r" | tr "\n" " ")
exec 3>&-
[ "$reply" = "+OK \$5 setup " ] || fail "hotspare-kvstore answered \"$reply\" to SET call setup; GET call"
kill -TERM "$kv"; wait "$kv" 2>/dev/null || true
# The counter (C++, libckpt-dev) and csa103 (C, libsackpt-dev), built from the installed sources.
in_root sh -c "cd /usr/share/doc/hotspare/examples/counter && c++ -std=c++20 -Wall -Werror counter.cpp -o /tmp/counter \$(pkg-config --cflags --libs ckpt)" ||
    fail "the counter example does not build against libckpt-dev"
in_root sh -c "cc -std=c99 -Wall -Werror /usr/share/doc/hotspare/examples/csa103-style/csa103.c -o /tmp/csa103 \$(pkg-config --cflags --libs SaCkpt)" ||
    fail "the csa103 example does not build against libsackpt-dev"
# (ldd'"'"'s output first: `ldd | grep -q` under pipefail fails whenever grep exits before ldd wrote all)
linked=$(in_root ldd /tmp/counter)
grep -qE "libckpt.so.0 => (/usr)?/lib/" <<< "$linked" || fail "counter is not linked to the installed libckpt.so.0: $linked"
linked=$(in_root ldd /tmp/csa103)
grep -qE "libSaCkpt.so.1 => (/usr)?/lib/" <<< "$linked" || fail "csa103 is not linked to the installed libSaCkpt.so.1: $linked"
bg_root /tmp/counter active /run/hotspare/ckptd.sock > "$tmp/counter.log" 2>&1
counter=$!
for _ in $(seq 1000); do grep -q "acked 20$" "$tmp/counter.log" && break; sleep 0.01; done
kill -TERM "$counter" 2>/dev/null; wait "$counter" 2>/dev/null || true
grep -q "acked 20$" "$tmp/counter.log" || { cat "$tmp/counter.log"; fail "the counter example did not commit"; }
bg_root CKPT_SOCKET=/run/hotspare/ckptd.sock /tmp/csa103 active > "$tmp/csa103.log" 2>&1
csa=$!
for _ in $(seq 1000); do grep -q "acked 5$" "$tmp/csa103.log" && break; sleep 0.01; done
kill -TERM "$csa" 2>/dev/null; wait "$csa" 2>/dev/null || true
grep -q "acked 5$" "$tmp/csa103.log" || { cat "$tmp/csa103.log"; fail "the csa103 example did not commit"; }

left=$(chroot_procs)
[ -z "$left" ] || fail "examples still running after SIGTERM: $left"

step "a persistent checkpoint, then the upgrade to $v2"
in_root ckptctl create pkgtest --persistent --max-sections 4 --retention-ms 86400000 > /dev/null || fail "ckptctl create --persistent"
in_root ckptctl section-create pkgtest s1 --data "survives the upgrade" > /dev/null || fail "ckptctl section-create"
in_root ckptctl write pkgtest s1 --data "SURVIVES" > /dev/null || fail "ckptctl write"
before=$(in_root ckptctl dump pkgtest s1 --raw)
[ "$before" = "SURVIVES the upgrade" ] || fail "dump before the upgrade: \"$before\""
compgen -G "$root/var/lib/hotspare/*pkgtest*" > /dev/null || fail "the persistent checkpoint has no file in /var/lib/hotspare"
stop_ckptd
# A reboot between: /dev/shm starts empty, the checkpoint comes from /var/lib/hotspare.
umount "$root/dev/shm"; mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
in_root sh -c "apt-get install -y -qq --no-install-recommends /debs/v2/*.deb" > "$tmp/apt-v2.log" 2>&1 ||
    { tail -n 40 "$tmp/apt-v2.log"; fail "upgrading to the V2 packages failed"; }
for p in hotspare libckpt0 libckpt-dev libsackpt1 libsackpt-dev hotspare-examples; do
    [ "$(in_root dpkg-query -W -f="\${Version}" "$p")" = "$v2" ] || fail "$p was not upgraded to $v2"
done
[ "$(md5sum < "$root/etc/hotspare/ckptd.conf")" = "$conf_sum" ] || fail "the upgrade changed /etc/hotspare/ckptd.conf"
start_ckptd
after=$(in_root ckptctl dump pkgtest s1 --raw) || fail "the checkpoint is gone after the upgrade"
[ "$after" = "$before" ] || fail "after the upgrade the section holds \"$after\", not \"$before\""
stop_ckptd

step "remove: configuration and data stay"
in_root apt-get remove -y -qq hotspare libckpt0 libckpt-dev libsackpt1 libsackpt-dev hotspare-examples > "$tmp/apt-remove.log" 2>&1 ||
    { tail -n 30 "$tmp/apt-remove.log"; fail "apt-get remove failed"; }
[ "$(md5sum < "$root/etc/hotspare/ckptd.conf")" = "$conf_sum" ] || fail "remove changed /etc/hotspare/ckptd.conf"
compgen -G "$root/var/lib/hotspare/*pkgtest*" > /dev/null || fail "remove deleted the persistent checkpoint"
[ ! -e "$root/usr/bin/ckptd" ] || fail "remove left /usr/bin/ckptd"

step "purge: nothing of ours is left"
# (dpkg: apt no longer knows packages that came from files and are removed; those without
# conffiles are gone already, hotspare keeps its configuration until now)
in_root dpkg --purge hotspare libckpt0 libckpt-dev libsackpt1 libsackpt-dev hotspare-examples > "$tmp/apt-purge.log" 2>&1 ||
    { tail -n 30 "$tmp/apt-purge.log"; fail "dpkg --purge failed"; }
for p in hotspare libckpt0 libckpt-dev libsackpt1 libsackpt-dev hotspare-examples; do
    in_root dpkg-query -W -f="\${Status}" "$p" 2>/dev/null | grep -q "installed\|config-files" && fail "$p is still known to dpkg after purge"
done
rm -rf "$root/debs" "$root/tmp"/* "$root/var/log/ckptd.out"
snapshot > "$tmp/after.list"
cat "$root"/var/lib/dpkg/info/*.list | sort -u > "$tmp/owned.list"
comm -13 "$tmp/before.list" "$tmp/after.list" | comm -23 - "$tmp/owned.list" |
    grep -vE "^/var/(cache/apt|cache/debconf|lib/apt|lib/dpkg|log/apt|log/dpkg.log|log/alternatives.log)(/|$)|^/etc/(alternatives|ld.so.cache)(/|$)" \
    > "$tmp/left.list" || true
if [ -s "$tmp/left.list" ]; then cat "$tmp/left.list"; fail "purge left the paths above"; fi
echo "$(comm -13 "$tmp/before.list" "$tmp/after.list" | wc -l) paths new since the snapshot, each owned by an installed package or apt and dpkg bookkeeping"
[ -z "$(ls -A "$root/dev/shm")" ] || fail "purge left shared-memory segments: $(ls "$root/dev/shm")"
[ ! -e "$root/run/hotspare" ] || fail "purge left /run/hotspare"
echo "debian packages: built, lintian-clean, installed, examples ran, upgraded $v1 -> $v2 with the checkpoint kept, removed, purged clean"
'
