#!/usr/bin/env bash
# examples/csa103-style through a failover. The C99 example is built the way an application of
# the SA Forum API is built: `cc -std=c99 -Wall -Werror` against the *installed* <saCkpt.h> and
# <hsCkpt.h> with nothing but -lSaCkpt (meson install into a temporary root first). Then two ckptd
# nodes joined by DPDK memif run it as active (node 1) and standby (node 2); node 1's application
# and ckptd are SIGKILLed, node 2 sees node 1 down, its replica is promoted (`ckptctl promote`, what
# the cluster's ocf:hotspare:ckptd does), and the standby learns it from the role delivery
# (hsCkptRoleTrack, through saCkptDispatch; no signal): it must say "role: active, epoch N" with the
# new epoch, find every number the active saw acknowledged, then continue counting, its own
# numbers acknowledged too.
# Usage: csa103_failover_test.sh BUILD_DIR SOURCE_DIR [SANITIZE]
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
sanitize=${3:-none}
work=$(mktemp -d /tmp/hotspare-csa103.XXXXXX)
tag="hscsa$$"
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f /dev/shm/"${tag}".* 2>/dev/null || true
    rm -rf /var/run/dpdk/hotspare-"${tag}".* 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "csa103: FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -n 30 "$f"; done; exit 1; }

# 1. Install, then build the example from the installed headers and library alone.
if ! meson install -C "$build" --destdir "$work/root" --no-rebuild --quiet >/dev/null 2>&1; then
    # A sanitizer build that built only the SA targets cannot install everything: lay out the same
    # headers and library by hand (the plain build always installs for real).
    [ "$sanitize" != none ] || fail "meson install failed"
    mkdir -p "$work/root/include" "$work/root/lib/pkgconfig"
    cp "$src"/sa/include/*.h "$work/root/include/"
    cp -P "$build"/sa/libSaCkpt.so "$build"/sa/libSaCkpt.so.1 "$build"/sa/libSaCkpt.so.1.0.0 "$work/root/lib/"
    cp "$build"/meson-private/SaCkpt.pc "$work/root/lib/pkgconfig/"
fi
inc=$(dirname "$(find "$work/root" -name saCkpt.h | head -1)")
lib=$(dirname "$(find "$work/root" -name 'libSaCkpt.so' | head -1)")
[ -f "$inc/hsCkpt.h" ] && [ -f "$lib/libSaCkpt.so.1" ] || fail "saCkpt.h / libSaCkpt.so.1 not installed"
pc=$(find "$work/root" -name SaCkpt.pc | head -1)
[ -n "$pc" ] || fail "SaCkpt.pc not installed"
extra=()
if [ "$sanitize" != none ]; then extra=(-fsanitize="$sanitize"); fi
cc -std=c99 -Wall -Werror "${extra[@]}" -I"$inc" "$src/examples/csa103-style/csa103.c" -L"$lib" -lSaCkpt \
    -o "$work/csa103" || fail "the example does not build with cc -std=c99 -Wall -Werror -lSaCkpt"
# Only saAis*/saCkpt*/hsCkpt* are exported.
others=$(nm -D --defined-only "$lib/libSaCkpt.so.1" | awk '$3 != "" && $3 !~ /^(saAis|saCkpt|hsCkpt|SACKPT_)/' | wc -l)
[ "$others" -eq 0 ] || fail "libSaCkpt.so.1 exports other symbols: $(nm -D --defined-only "$lib/libSaCkpt.so.1" | head)"
export LD_LIBRARY_PATH="$lib"

# 2. Two nodes over memif, their frames authenticated with one cluster key.
"$build/tools/ckptctl/ckptctl" keygen "$work/cluster.key" >/dev/null || fail "ckptctl keygen"
configure() {
    local n=$1 peer=$2 role=$3
    cat > "$work/node$n.conf" <<CONF
node_id = $n
socket = $work/node$n.sock
shm_prefix = $tag.$n.
state_dir = $work/state$n
transport = memif
auth_key_file = $work/cluster.key
memif_socket = $work/memif.sock
memif_role = $role
dpdk_lcores = $((n - 1))
peers = $peer
heartbeat_ms = 20
peer_timeout_ms = 300
reattach_grace_ms = 0
CONF
}
start_engine() {
    local n=$1
    "$build/engine/ckptd" --config "$work/node$n.conf" --log-file "$work/node$n.log" 2>>"$work/node$n.log" &
    pids+=($!)
    eval "engine$n=$!"
    for _ in $(seq 1000); do [ -S "$work/node$n.sock" ] && return 0; sleep 0.01; done
    fail "ckptd of node $n did not start"
}
peer_state() { "$build/tools/ckptctl/ckptctl" --socket "$work/node$1.sock" peers 2>/dev/null | awk -v p="$2" '$1 == p {print $2}'; }
configure 1 2 server
configure 2 1 client
start_engine 1
start_engine 2
for _ in $(seq 2000); do [ "$(peer_state 2 1)" = up ] && [ "$(peer_state 1 2)" = up ] && break; sleep 0.01; done
[ "$(peer_state 2 1)" = up ] || fail "the nodes did not link up"

# 3. Active on node 1, standby on node 2.
CKPT_SOCKET="$work/node1.sock" "$work/csa103" active > "$work/active.log" 2>&1 &
active=$!; pids+=("$active")
CKPT_SOCKET="$work/node2.sock" "$work/csa103" standby > "$work/standby.log" 2>&1 &
standby=$!; pids+=("$standby")
for _ in $(seq 1000); do grep -q 'sees' "$work/standby.log" && break; sleep 0.01; done
grep -q 'sees' "$work/standby.log" || fail "the standby saw no hot-standby delivery"
sleep 1

# 4. Node 1 dies; node 2 takes over.
kill -9 "$active" "$engine1"; wait "$active" "$engine1" 2>/dev/null || true
acked=$(grep -o 'acked [0-9]*' "$work/active.log" | awk '{print $2}' | sort -n | tail -1)
[ -n "$acked" ] || fail "the active had no number acknowledged"
for _ in $(seq 500); do [ "$(peer_state 2 1)" = down ] && break; sleep 0.01; done
grep -q 'role: standby' "$work/standby.log" || fail "the standby was not told its role (standby) at first"
grep -q 'TAKEOVER' "$work/standby.log" && fail "the standby took over before its replica was promoted"
epoch=""
for ck in $("$build/tools/ckptctl/ckptctl" --socket "$work/node2.sock" list | awk 'NR > 1 {print $1}'); do
    epoch=$("$build/tools/ckptctl/ckptctl" --socket "$work/node2.sock" promote "$ck") || fail "ckptctl promote $ck"
done
[ -n "$epoch" ] || fail "node 2 holds no checkpoint to promote"
epoch=$(echo "$epoch" | sed -n 's/.*, epoch \([0-9]*\).*/\1/p') # "... is active on this node, epoch N (promotion ...)"
for _ in $(seq 1000); do grep -q 'TAKEOVER' "$work/standby.log" && break; sleep 0.01; done
grep -q "role: active, epoch $epoch\$" "$work/standby.log" || fail "the standby was not told \"active, epoch $epoch\""
for _ in $(seq 1000); do grep -q 'acked' "$work/standby.log" && break; sleep 0.01; done
sleep 0.5
kill -TERM "$standby"; wait "$standby" || fail "the standby exited with an error"
found=$(grep -o 'last number in the checkpoint: [0-9]*' "$work/standby.log" | awk '{print $NF}')
own=$(grep -o 'acked [0-9]*' "$work/standby.log" | awk '{print $2}' | sort -n | tail -1)
echo "csa103: active acknowledged up to $acked; the standby found $found and counted on to ${own:-nothing}"
[ -n "$found" ] || fail "the standby did not take over"
[ "$found" -ge "$acked" ] || fail "acknowledged number $acked lost: the standby found $found"
[ -n "$own" ] && [ "$own" -gt "$found" ] || fail "the standby's own numbers were not acknowledged"
echo "csa103: PASS"
