#!/usr/bin/env bash
# CPU an idle ckptd spends on a checkpoint of 2^20 section slots (a few sections used), baseline
# against candidate in the same run: each engine runs alone, the checkpoint is created, then the
# engine's utime+stime over IDLE seconds (default 10) is read from /proc. Issue 13 measured 0.9 s
# per 10 s before the deadline structure (the timers walked every slot).
# Usage: bench/idle_timers.sh BASELINE_CKPTD CANDIDATE_CKPTD CKPTCTL
set -euo pipefail
idle=${IDLE:-10}
tick=$(getconf CLK_TCK)
run() {
    local ckptd=$1 tag=$2 dir
    dir=$(mktemp -d /tmp/idle-timers-XXXX)
    cat > "$dir/conf" <<CONF
socket = $dir/sock
shm_prefix = idle.$tag.$$.
state_dir = $dir/state
CONF
    "$ckptd" --config "$dir/conf" 2> "$dir/log" &
    local pid=$!
    for _ in $(seq 200); do [ -S "$dir/sock" ] && break; sleep 0.05; done
    CKPT_SOCKET=$dir/sock "$3" create big --size 1M --max-sections 1048576 --max-section-size 4K \
        --max-section-id-size 8 --retention-ms 600000 > /dev/null
    sleep 1
    local a b
    a=$(awk '{print $14 + $15}' /proc/$pid/stat)
    sleep "$idle"
    b=$(awk '{print $14 + $15}' /proc/$pid/stat)
    kill $pid; wait $pid 2>/dev/null || true
    rm -f /dev/shm/idle.$tag.$$.*; rm -rf "$dir"
    echo "scale=3; ($b - $a) / $tick" | bc
}
base=$(run "$1" base "$3")
cand=$(run "$2" cand "$3")
echo "idle ckptd CPU over ${idle} s with a 2^20-slot checkpoint: baseline ${base} s, candidate ${cand} s"
