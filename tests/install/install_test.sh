#!/usr/bin/env bash
# Installs Hotspare into a temporary root, checks the public headers need neither Boost nor DPDK,
# builds examples/counter out of tree with only the installed headers and `pkg-config ckpt`, and
# runs it against the installed ckptd. Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/hotspare-install.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -f /dev/shm/hsinst."$$".* 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
libdir=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"))')
sysconfdir=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="sysconfdir"))')
case "$sysconfdir" in /*) ;; *) sysconfdir="$prefix/$sysconfdir" ;; esac
root="$tmp/root$prefix"
for f in bin/ckptd bin/ckptstat "$libdir/libckpt.a" "$libdir/pkgconfig/ckpt.pc" include/ckpt/client/session.hpp \
    lib/systemd/system/ckptd.service lib/systemd/system/ckptd@.service; do
    [ -e "$root/$f" ] || { echo "FAIL: $f was not installed"; exit 1; }
done
ls "$root/$libdir"/libckpt.so.[0-9]* >/dev/null || { echo "FAIL: no versioned libckpt.so"; exit 1; }
if grep -rE '#include *<(boost|rte_)' "$root/include/ckpt"; then
    echo "FAIL: installed headers include Boost or DPDK"; exit 1
fi
# The .pc names the final prefix; point a copy at the temporary root (what DESTDIR staging means).
mkdir -p "$tmp/pc"
sed "s|^prefix=.*|prefix=$root|" "$root/$libdir/pkgconfig/ckpt.pc" > "$tmp/pc/ckpt.pc"
export PKG_CONFIG_PATH="$tmp/pc"
pkg-config --cflags --libs ckpt
# Out of tree: a copy of the example, compiled against nothing but the installed files.
cp -r "$src/examples/counter" "$tmp/counter"
meson setup "$tmp/counter/build" "$tmp/counter" >/dev/null
ninja -C "$tmp/counter/build" >/dev/null
# The installed units must be valid systemd units (where systemd-analyze exists).
if command -v systemd-analyze >/dev/null; then
    for unit in ckptd.service ckptd@.service; do
        sed "s|ExecStart=$prefix/bin/ckptd|ExecStart=$root/bin/ckptd|" "$root/lib/systemd/system/$unit" > "$tmp/$unit"
        if systemd-analyze verify "$tmp/$unit" 2>&1 | grep -v -e 'Failed to prepare filename' -e 'instance' | grep .; then
            echo "FAIL: systemd-analyze found problems in $unit"; exit 1
        fi
    done
fi
# The installed example configuration, as an operator would start from it.
conf="$tmp/root$sysconfdir/hotspare/ckptd.conf.example"
[ -f "$conf" ] || { echo "FAIL: $conf was not installed"; exit 1; }
sock="$tmp/ckptd.sock"
"$root/bin/ckptd" --config "$conf" --set "socket=$sock" --set "shm_prefix=hsinst.$$." --set "state_dir=$tmp/state" \
    --log-file "$tmp/ckptd.log" &
pids+=($!)
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.01; done
LD_LIBRARY_PATH="$root/$libdir" "$tmp/counter/build/counter" active "$sock" > "$tmp/counter.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q 'acked 20$' "$tmp/counter.log" && break; sleep 0.01; done
if ! grep -q 'acked 20$' "$tmp/counter.log"; then
    echo "FAIL: the example did not commit"; cat "$tmp/counter.log" "$tmp/ckptd.log"; exit 1
fi
ldd "$tmp/counter/build/counter" | grep -q "libckpt.so.0" || { echo "FAIL: not linked to libckpt.so.0"; exit 1; }
echo "install test: installed, built out of tree, ran (20 acknowledged commits)"
