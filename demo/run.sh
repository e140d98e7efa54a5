#!/usr/bin/env bash
# The Hotspare demo on one node: ckptd, an active counter application and a hot-standby follower.
#  1. the active commits its sequence number every 5 ms (sync ack) into a section in shared memory;
#  2. the standby follows through change notifications, reading the same memory in place;
#  3. ckptd is SIGKILLed and restarted under load: the active goes on, nothing acknowledged is lost;
#  4. the active is SIGKILLed; the standby is promoted and resumes at the next sequence number.
# Exits non-zero if any acknowledged sequence number is missing after the takeover. Cleans up every
# process, socket and segment it made, also when interrupted.
# Usage: demo/run.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
work=$(mktemp -d /tmp/hotspare-demo.XXXXXX)
prefix="hsdemo.$$."
sock="$work/ckptd.sock"
pids=()
t0=$(date +%s%N)

cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f /dev/shm/"${prefix}"* 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "demo: interrupted"; exit 130' INT TERM

say() { printf '[%7.3f s] %s\n' "$(( ($(date +%s%N) - t0) / 1000000 ))e-3" "$*"; }

start_engine() {
    "$build/engine/ckptd" --config "$work/ckptd.conf" --log-file "$work/ckptd.log" &
    engine=$!
    pids+=("$engine")
    for _ in $(seq 200); do [ -S "$sock" ] && return 0; sleep 0.01; done
    echo "demo: ckptd did not start:"; cat "$work/ckptd.log"; exit 1
}
last_acked() { grep -o 'acked [0-9]*' "$1" | tail -1 | cut -d' ' -f2; }

cat > "$work/ckptd.conf" <<CONF
node_id = 1
socket = $sock
shm_prefix = $prefix
state_dir = $work/state
CONF

start_engine
say "ckptd up (pid $engine), socket $sock"
"$build/demo/ckpt_demo" active "$sock" > "$work/active.log" 2>&1 &
active=$!; pids+=("$active")
"$build/demo/ckpt_demo" standby "$sock" > "$work/standby.log" 2>&1 &
standby=$!; pids+=("$standby")
sleep 1
say "active (pid $active) has acked up to $(last_acked "$work/active.log"); standby (pid $standby) follows:"
tail -n 2 "$work/standby.log" | sed 's/^/             /'

say "SIGKILL ckptd (pid $engine) under load"
kill -9 "$engine"; wait "$engine" 2>/dev/null || true
before=$(last_acked "$work/active.log")
sleep 0.2
start_engine
say "ckptd restarted (pid $engine): it re-adopted the segments; the active reconnected by itself"
sleep 1
after=$(last_acked "$work/active.log")
say "active acked $before before the engine restart and $after now"

victim=$(last_acked "$work/active.log")
say "SIGKILL the active application (pid $active)"
kill -9 "$active"; wait "$active" 2>/dev/null || true
acked=$(last_acked "$work/active.log")
say "last sequence the active saw acknowledged: $acked"
promote_ns=$(date +%s%N)
kill -USR1 "$standby"
for _ in $(seq 500); do grep -q TAKEOVER "$work/standby.log" && break; sleep 0.01; done
sleep 0.5
kill -TERM "$standby" 2>/dev/null || true; wait "$standby" 2>/dev/null || true
say "standby promoted:"
grep -E 'PROMOTED|TAKEOVER' "$work/standby.log" | sed 's/^/             /'
resumed=$(grep -o 'TAKEOVER first commit [0-9]*' "$work/standby.log" | awk '{print $4}')
takeover_ms=$(grep -o '[0-9.]* ms after promotion' "$work/standby.log" | awk '{print $1}')
: "$victim" "$promote_ns"

# Every number the active printed as acked must be at or below what the standby resumed from,
# and the active's own acknowledged numbers must have no gap (engine restart included).
status=0
if [ -z "$resumed" ] || [ "$resumed" -le "$acked" ]; then
    echo "demo: FAIL: standby resumed at '${resumed:-nothing}', but $acked was acknowledged"; status=1
fi
gaps=$(grep -o 'acked [0-9]*' "$work/active.log" | awk 'NR>1 && $2!=prev+1 {n++} {prev=$2} END {print n+0}')
if [ "$gaps" -ne 0 ]; then echo "demo: FAIL: $gaps gaps in the active's acknowledged sequence"; status=1; fi
echo
echo "timeline: last acknowledged by the active = $acked; standby resumed at $resumed;"
echo "          takeover (promotion to first acknowledged commit) = ${takeover_ms:-?} ms;"
echo "          ckptd SIGKILL + restart under load: active acked $before -> $after with no gap."
if [ $status -eq 0 ]; then echo "demo: PASS: no acknowledged sequence number was lost"; fi
exit $status
