#!/usr/bin/env bash
# Installs Hotspare into a temporary root (DESTDIR) and checks what a system integrator gets:
#  - ckptd, ckptstat, ckptctl; libckpt shared (versioned soname) and static; ckpt.pc; the public
#    headers under include/ckpt/, which pull in neither Boost nor DPDK (checked with the
#    compiler's own include trace, not only by grep);
#  - the systemd units (systemd-analyze verify where it exists), ckptd.conf.example and one
#    example configuration per carrier; the docs and the example application;
#  - examples/counter, copied from the installed documentation and built out of tree with only
#    the installed headers and `pkg-config ckpt`, run from the temporary root: two nodes over
#    memif configured from the installed memif.conf.example (node 2 by its `# NODE 2:` lines), the
#    active on node 1, the hot standby on node 2; node 1 is killed, the standby promotes its
#    replica and resumes after the last acknowledged number.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/hotspare-install.XXXXXX)
tag="hsinst$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f /dev/shm/"$tag".* 2>/dev/null || true
    rm -rf /var/run/dpdk/"$tag".* 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet
opt() { meson introspect "$build" --buildoptions | python3 -c "import json,sys; print(next(o['value'] for o in json.load(sys.stdin) if o['name']=='$1'))"; }
prefix=$(opt prefix)
libdir=$(opt libdir)
datadir=$(opt datadir)
sysconfdir=$(opt sysconfdir)
case "$sysconfdir" in /*) ;; *) sysconfdir="$prefix/$sysconfdir" ;; esac
root="$tmp/root$prefix"
etc="$tmp/root$sysconfdir/hotspare"
doc="$root/$datadir/doc/hotspare"
for f in bin/ckptd bin/ckptstat bin/ckptctl bin/hotspare-kvstore "$libdir/libckpt.a" "$libdir/pkgconfig/ckpt.pc" \
    include/ckpt/client/session.hpp include/ckpt/client/checkpoint.hpp include/ckpt/client/section.hpp \
    include/ckpt/client/write_tracking.hpp \
    lib/systemd/system/ckptd.service lib/systemd/system/ckptd@.service \
    "$datadir/doc/hotspare/OPERATIONS.md" "$datadir/doc/hotspare/GETTING_STARTED.md" \
    "$datadir/doc/hotspare/examples/counter/meson.build" "$datadir/doc/hotspare/examples/counter/counter.cpp"; do
    [ -e "$root/$f" ] || fail "$f was not installed"
done
for c in ckptd memif af_packet pci udp; do
    [ -f "$etc/$c.conf.example" ] || fail "$sysconfdir/hotspare/$c.conf.example was not installed"
done
for b in ckptd ckptstat ckptctl hotspare-kvstore; do "$root/bin/$b" --help > /dev/null || fail "installed $b --help failed"; done
# The shared library: real file with the full version, soname link with the major version.
soname=$(readelf -d "$root/$libdir"/libckpt.so | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
version=$(meson introspect "$build" --projectinfo | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
[ "$soname" = "libckpt.so.${version%%.*}" ] || fail "soname is '$soname', expected libckpt.so.${version%%.*}"
[ -f "$root/$libdir/libckpt.so.$version" ] || fail "no libckpt.so.$version"
if grep -rE '#include *<(boost|rte_)' "$root/include/ckpt"; then fail "installed headers include Boost or DPDK"; fi

# The .pc names the final prefix; point a copy at the temporary root (what DESTDIR staging means).
mkdir -p "$tmp/pc"
sed "s|^prefix=.*|prefix=$root|" "$root/$libdir/pkgconfig/ckpt.pc" > "$tmp/pc/ckpt.pc"
export PKG_CONFIG_PATH="$tmp/pc"
[ "$(pkg-config --modversion ckpt)" = "$version" ] || fail "ckpt.pc says $(pkg-config --modversion ckpt), not $version"
cflags=$(pkg-config --cflags ckpt)
# Every installed header compiles on its own with only those flags, and the compiler's trace of
# what it opened (-H) shows no Boost or DPDK header, directly or through another header.
for h in $(cd "$root/include" && find ckpt -name '*.hpp'); do
    c++ -std=c++20 -fsyntax-only -H $cflags -x c++ - <<< "#include <$h>" 2> "$tmp/trace" ||
        { cat "$tmp/trace"; fail "$h does not compile alone"; }
    if grep -E '/(boost|dpdk)/|/rte_' "$tmp/trace"; then fail "$h pulls in Boost or DPDK"; fi
done

# Out of tree: the installed copy of the example, compiled against nothing but the installed files.
cp -r "$doc/examples/counter" "$tmp/counter"
meson setup "$tmp/counter/build" "$tmp/counter" > "$tmp/example-build.log" 2>&1 || fail "example: meson setup"
ninja -C "$tmp/counter/build" >> "$tmp/example-build.log" 2>&1 || fail "example: build"
counter="$tmp/counter/build/counter"
# ldd's output first: `ldd | grep -q` under pipefail fails whenever grep exits before ldd wrote all.
linked=$(LD_LIBRARY_PATH="$root/$libdir" ldd "$counter")
grep -q "libckpt.so.0 => $root/$libdir" <<< "$linked" ||
    fail "the example is not linked to the installed libckpt.so.0"

# The installed units must be valid systemd units (where systemd-analyze exists).
if command -v systemd-analyze >/dev/null; then
    for unit in ckptd.service ckptd@.service; do
        sed "s|ExecStart=$prefix/bin/ckptd|ExecStart=$root/bin/ckptd|" "$root/lib/systemd/system/$unit" > "$tmp/$unit"
        grep -q '^ExecStart=.*--config' "$tmp/$unit" || fail "$unit runs no configuration"
        if systemd-analyze verify "$tmp/$unit" 2>&1 | grep -v -e 'Failed to prepare filename' -e 'instance' | grep .; then
            fail "systemd-analyze found problems in $unit"
        fi
    done
fi

# Two nodes from the installed memif example, paths moved into the temporary directory.
paths() { # NODE
    echo --set "socket=$tmp/node$1.sock" --set "shm_prefix=$tag.$1." --set "state_dir=$tmp/state$1" \
        --set "memif_socket=$tmp/memif.sock" --set "dpdk_file_prefix=$tag.$1" --set "auth_key_file=$tmp/cluster.key" \
        --log-file "$tmp/node$1.log"
}
node2=()
# The cluster key both nodes share, made by the installed ckptctl (the example configuration names
# /etc/hotspare/cluster.key; the test keeps its own).
"$root/bin/ckptctl" keygen "$tmp/cluster.key" > /dev/null || fail "the installed ckptctl keygen failed"
while IFS= read -r kv; do node2+=(--set "$(echo "$kv" | sed 's/ *= */=/')"); done \
    < <(sed -n 's/^# NODE 2: *//p' "$etc/memif.conf.example")
"$root/bin/ckptd" --config "$etc/memif.conf.example" $(paths 1) 2>> "$tmp/node1.log" &
engine1=$!; pids+=("$engine1")
for _ in $(seq 1500); do [ -S "$tmp/node1.sock" ] && break; sleep 0.01; done
"$root/bin/ckptd" --config "$etc/memif.conf.example" "${node2[@]}" $(paths 2) 2>> "$tmp/node2.log" &
engine2=$!; pids+=("$engine2")
peer_state() { "$root/bin/ckptctl" --socket "$tmp/node$1.sock" peers 2>/dev/null | awk -v p="$2" '$1 == p {print $2}'; }
for _ in $(seq 1500); do [ "$(peer_state 1 2)" = up ] && [ "$(peer_state 2 1)" = up ] && break; sleep 0.01; done
[ "$(peer_state 1 2)" = up ] || fail "the two installed engines did not link up"

export LD_LIBRARY_PATH="$root/$libdir"
"$counter" active "$tmp/node1.sock" > "$tmp/active.log" 2>&1 &
active=$!; pids+=("$active")
"$counter" standby "$tmp/node2.sock" > "$tmp/standby.log" 2>&1 &
standby=$!; pids+=("$standby")
for _ in $(seq 3000); do grep -q 'acked 60$' "$tmp/active.log" && grep -q 'sees' "$tmp/standby.log" && break; sleep 0.01; done
grep -q 'acked 60$' "$tmp/active.log" || fail "the active did not commit (sync, replicated to node 2)"
grep -q 'sees' "$tmp/standby.log" || fail "the standby on node 2 did not follow"
kill -9 "$active" "$engine1"
wait "$active" "$engine1" 2>/dev/null || true
acked=$(grep -o 'acked [0-9]*' "$tmp/active.log" | tail -n 1 | awk '{print $2}')
for _ in $(seq 1000); do [ "$(peer_state 2 1)" = down ] && break; sleep 0.01; done
[ "$(peer_state 2 1)" = down ] || fail "node 2 did not declare node 1 down"
# The cluster manager's part (ocf:hotspare:ckptd runs the same): promote node 2's replica. The
# standby application learns it on its notify fd and takes over by itself.
"$root/bin/ckptctl" --socket "$tmp/node2.sock" promote demo-counter > /dev/null || fail "ckptctl promote failed"
for _ in $(seq 1000); do grep -q TAKEOVER "$tmp/standby.log" && break; sleep 0.01; done
resumed=$(grep -o 'TAKEOVER first commit [0-9]*' "$tmp/standby.log" | awk '{print $4}')
[ -n "$resumed" ] || fail "the standby did not take over"
[ "$resumed" -gt "$acked" ] || fail "the standby resumed at $resumed, but $acked was acknowledged"
status=$("$root/bin/ckptctl" --socket "$tmp/node2.sock" status demo-counter)
grep -q '^role: *active' <<< "$status" ||
    fail "node 2 is not the active after the promotion"
# A clean stop of node 2 (SIGTERM, as systemctl stop does), its peer gone: exit 0, `stopped`.
kill -TERM "$standby" "$engine2"
rc=0; wait "$engine2" || rc=$?
[ $rc -eq 0 ] || fail "node 2's ckptd ended with status $rc on SIGTERM (expected a clean stop, 0)"
grep -q 'ckptd\[2\] stopped' "$tmp/node2.log" || fail "node 2's ckptd did not log its clean stop"
echo "install test: installed, built out of tree, two installed nodes: acked $acked on node 1, node 2 took over at $resumed"
