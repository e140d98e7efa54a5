#!/usr/bin/env bash
# The Hotspare demo: two nodes on one machine, each with its own ckptd, joined by DPDK memif
# (--no-huge, the embedded default).
#  1. node 1: the active counter application commits its sequence number every 5 ms with a sync
#     ack, in place in shared memory; ckptd replicates the changed block to node 2;
#  2. node 2: a hot-standby application follows the replica through change notifications, reading
#     the same memory in place;
#  3. the active application and node 1's ckptd are SIGKILLed; node 2 declares node 1 down, the
#     standby promotes its replica (epoch 2) and resumes at the next sequence number.
# Exits non-zero if any acknowledged sequence number is missing after the takeover. Cleans up every
# process, socket and segment it made, also when interrupted.
# Usage: demo/run.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
work=$(mktemp -d /tmp/hotspare-demo.XXXXXX)
tag="hsdemo$$"
pids=()
t0=$(date +%s%N)

cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f /dev/shm/"${tag}".* 2>/dev/null || true
    rm -rf /var/run/dpdk/hotspare-"${tag}".* 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "demo: interrupted"; exit 130' INT TERM

say() { printf '[%7.3f s] %s\n' "$(( ($(date +%s%N) - t0) / 1000000 ))e-3" "$*"; }

# node N: its own socket, shm prefix, DPDK file prefix, lcore; node 1 is the memif server.
configure() {
    local n=$1 peer=$2 role=$3
    cat > "$work/node$n.conf" <<CONF
node_id = $n
socket = $work/node$n.sock
shm_prefix = $tag.$n.
state_dir = $work/state$n
transport = memif
memif_socket = $work/memif.sock
memif_role = $role
dpdk_lcores = $((n - 1))
peers = $peer
heartbeat_ms = 20
peer_timeout_ms = 200
CONF
}
start_engine() {
    local n=$1
    "$build/engine/ckptd" --config "$work/node$n.conf" --log-file "$work/node$n.log" 2>>"$work/node$n.log" &
    pids+=($!)
    eval "engine$n=$!"
    for _ in $(seq 1000); do [ -S "$work/node$n.sock" ] && return 0; sleep 0.01; done
    echo "demo: ckptd of node $n did not start:"; cat "$work/node$n.log"; exit 1
}
peer_state() { "$build/tools/ckptctl/ckptctl" --socket "$work/node$1.sock" peers 2>/dev/null | awk -v p="$2" '$1 == p {print $2}'; }
last_acked() { grep -o 'acked [0-9]*' "$1" | tail -1 | cut -d' ' -f2; }

configure 1 2 server
configure 2 1 client
start_engine 1
start_engine 2
for _ in $(seq 1000); do [ "$(peer_state 2 1)" = up ] && [ "$(peer_state 1 2)" = up ] && break; sleep 0.01; done
say "node 1 ckptd (pid $engine1) and node 2 ckptd (pid $engine2) linked over memif $work/memif.sock"

"$build/demo/ckpt_demo" active "$work/node1.sock" > "$work/active.log" 2>&1 &
active=$!; pids+=("$active")
"$build/demo/ckpt_demo" standby "$work/node2.sock" > "$work/standby.log" 2>&1 &
standby=$!; pids+=("$standby")
sleep 2
say "node 1: active (pid $active) has acked up to $(last_acked "$work/active.log") (sync: each one applied on node 2)"
say "node 2: hot standby (pid $standby) follows the replica:"
tail -n 2 "$work/standby.log" | sed 's/^/             /'

say "SIGKILL node 1: the active application (pid $active) and its ckptd (pid $engine1)"
kill -9 "$active" "$engine1"; wait "$active" "$engine1" 2>/dev/null || true
acked=$(last_acked "$work/active.log")
say "last sequence the active saw acknowledged: $acked"
for _ in $(seq 500); do [ "$(peer_state 2 1)" = down ] && break; sleep 0.01; done
say "node 2 declared node 1 down (no heartbeat for 200 ms); promoting the standby"
kill -USR1 "$standby"
for _ in $(seq 500); do grep -q TAKEOVER "$work/standby.log" && break; sleep 0.01; done
sleep 0.5
kill -TERM "$standby" 2>/dev/null || true; wait "$standby" 2>/dev/null || true
say "standby promoted:"
grep -E 'PROMOTED|TAKEOVER' "$work/standby.log" | sed 's/^/             /'
resumed=$(grep -o 'TAKEOVER first commit [0-9]*' "$work/standby.log" | awk '{print $4}')
takeover_ms=$(grep -o '[0-9.]* ms after promotion' "$work/standby.log" | awk '{print $1}')

# The standby must resume right after the last acknowledged number (never at or below it: that
# would mean an acknowledged commit was lost), and the active's acknowledged numbers have no gap.
status=0
if [ -z "$resumed" ] || [ "$resumed" -le "$acked" ]; then
    echo "demo: FAIL: standby resumed at '${resumed:-nothing}', but $acked was acknowledged"; status=1
fi
gaps=$(grep -o 'acked [0-9]*' "$work/active.log" | awk 'NR>1 && $2!=prev+1 {n++} {prev=$2} END {print n+0}')
if [ "$gaps" -ne 0 ]; then echo "demo: FAIL: $gaps gaps in the active's acknowledged sequence"; status=1; fi
echo
echo "timeline: last acknowledged on node 1 = $acked; node 2 resumed at $resumed (epoch 2);"
echo "          takeover (promotion to first acknowledged commit) = ${takeover_ms:-?} ms."
if [ $status -eq 0 ]; then echo "demo: PASS: no acknowledged sequence number was lost"; else
    echo "--- node 1 log"; cat "$work/node1.log"; echo "--- node 2 log"; cat "$work/node2.log"; fi
exit $status
