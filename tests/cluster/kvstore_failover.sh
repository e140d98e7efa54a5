#!/usr/bin/env bash
# hotspare-kvstore as the application of a real Corosync + Pacemaker cluster (issue 16): the store
# runs on the promoted node (ocf:hotspare:app colocated with the Promoted role of ckptd-clone,
# `--role active --ack sync`), and bench/ycsb drives workload A against it from the cluster's
# switch, over TCP to the nodes' addresses. Each failover SIGKILLs the whole promoted node (the
# fence agent's "off": every process of the node); nothing else is done: Pacemaker promotes the
# other node, starts the store there, and the store serves the table it maps (no load step). The
# killed node then boots again and rejoins as a standby before the next failover.
# Passes when: every failover recovered, ycsb counted 0 lost acknowledged updates (a record older
# than its last update answered +OK, read back after each take-over), and once the store is stopped
# every node's committed table is byte-identical (checksums).
#
# Usage: kvstore_failover.sh BUILD_DIR [--failovers K] [--operations N] [--records R] [--clients C]
set -euo pipefail
build=$1
shift
failovers=2 operations=6000 records=500 clients=4
while [ $# -gt 0 ]; do
    case $1 in
    --failovers) failovers=$2; shift ;;
    --operations) operations=$2; shift ;;
    --records) records=$2; shift ;;
    --clients) clients=$2; shift ;;
    *) echo "kvstore_failover.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done
HC_TRANSPORT=memif
. "$(dirname "$0")/lib.sh"
trap 'hc_cleanup' EXIT
trap 'echo "kvstore_failover: interrupted"; exit 130' INT TERM

PORT=6390
if [ ! -x "$build/bench/ycsb" ]; then
    echo "SKIP: $build/bench/ycsb is not built (meson setup -Dbenchmarks=enabled)"
    exit 77
fi
hc_init "$build" 2
for f in examples/kvstore/hotspare-kvstore bench/ycsb tools/ckptctl/ckptctl; do
    [ -x "$HC_BUILD/$f" ] || hc_die "$HC_BUILD/$f is not built"
done
hc_app "$HC_BUILD/examples/kvstore/hotspare-kvstore --socket /run/hotspare/ckptd.sock --checkpoint kv --role active --ack sync --bind 0.0.0.0 --port $PORT --capacity 2048 --value-max 1200"
hc_start
# The client's address on the cluster's switch.
nsenter -t "$HC_SWITCH" -n -- ip addr add "$HC_SUBNET.250/24" dev br0
sw() { nsenter -t "$HC_SWITCH" -n -- "$@"; }
node_num() { echo "${1#node}"; }
answers() { # N: the store on node N answers as the writable master
    sw redis-cli -h "$HC_SUBNET.$1" -p $PORT info replication 2>/dev/null | grep -q '^role:master'
}
in_sync() { # every live unpromoted node has promotion score 100 (the agent's "in sync")
    local p n s
    p=$(hc_promoted)
    for n in 1 2; do
        [ "$(hc_name "$n")" = "$p" ] && continue
        kill -0 "${HC_HOLDER[$n]:-0}" 2>/dev/null || return 1
        s=$(hc_exec "$(hc_any_node)" crm_attribute -q -N "$(hc_name "$n")" -n master-ckptd -l reboot -G 2>/dev/null || true)
        [ "$s" = 100 ] || return 1
    done
}
ready() { hc_settled && answers "$(node_num "$(hc_promoted)")" && in_sync; }
wait_ready() { # SECONDS
    local end=$(($(date +%s) + $1))
    while [ "$(date +%s)" -lt "$end" ]; do
        ready && return 0
        sleep 0.3
    done
    return 1
}
wait_ready 120 || hc_die "the store did not come up on the promoted node with the standby in sync"
first=$(node_num "$(hc_promoted)")
second=$((3 - first))
hc_log "store up on $(hc_name "$first"); ycsb workload A, $operations operations, $failovers failovers"

# ycsb runs the failover command without waiting for it, in the switch's namespace: the command
# asks this script (which holds the cluster) to do the failover, and returns once it is done.
REQ="$HC_WORK/shared/failover"
mkdir -p "$REQ"
sw "$HC_BUILD/bench/ycsb" --host "$HC_SUBNET.$first" --port $PORT --endpoint "$HC_SUBNET.$second:$PORT" \
    --workload a --records "$records" --operations "$operations" --clients "$clients" --json \
    --failovers "$failovers" \
    --failover-cmd "touch $REQ/req.\$YCSB_FAILOVER; while [ ! -e $REQ/done.\$YCSB_FAILOVER ]; do sleep 0.05; done" \
    > "$HC_WORK/ycsb.json" 2> "$HC_WORK/ycsb.log" &
ycsb=$!
done_count=0
while kill -0 $ycsb 2>/dev/null; do
    req=$(find "$REQ" -name 'req.*' 2>/dev/null | sort | head -1)
    if [ -z "$req" ]; then
        sleep 0.05
        continue
    fi
    i=${req##*.}
    victim=$(node_num "$(hc_promoted)")
    t0=$(date +%s%N)
    hc_kill_node "$victim"
    hc_log "failover $i: SIGKILL of every process of $(hc_name "$victim")"
    end=$(($(date +%s) + 90))
    until answers $((3 - victim)); do
        [ "$(date +%s)" -lt "$end" ] || hc_die "failover $i: no store answered on $(hc_name $((3 - victim))) within 90 s"
        sleep 0.05
    done
    hc_log "failover $i: the store serves on $(hc_name $((3 - victim))) $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
    hc_restart_node "$victim"
    wait_ready 180 || hc_die "failover $i: $(hc_name "$victim") did not rejoin as a standby in sync"
    rm -f "$req"
    touch "$REQ/done.$i"
    done_count=$((done_count + 1))
done
wait $ycsb || hc_die "ycsb failed: $(tail -5 "$HC_WORK/ycsb.log")"
tail -n 12 "$HC_WORK/ycsb.log" >&2
read -r fo lost <<<"$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["failovers"], d["lost_updates"])' "$HC_WORK/ycsb.json")"

# Quiesce: stop the store, compare every node's committed table.
wait_ready 180 || hc_die "the cluster did not settle after the last failover"
hc_exec "$(hc_any_node)" crm_resource -r app --meta -p target-role -v Stopped > /dev/null 2>&1
for _ in $(seq 300); do [ -z "$(hc_roles | awk '$1 == "app"')" ] && break; sleep 0.1; done
sums=""
for _ in $(seq 100); do
    sums=""
    for n in 1 2; do
        s=$(hc_exec "$n" "$HC_BUILD/tools/ckptctl/ckptctl" --socket /run/hotspare/ckptd.sock dump kv '' --raw 2>/dev/null |
            sha256sum | cut -c1-16)
        sums="$sums $(hc_name "$n")=$s"
    done
    [ "$(echo "$sums" | tr ' ' '\n' | grep = | cut -d= -f2 | sort -u | wc -l)" = 1 ] && break
    sleep 0.1
done
status=0
echo "failovers: $fo done by ycsb, $done_count by the cluster; lost acknowledged updates: $lost; checksums:$sums"
[ "$fo" = "$failovers" ] && [ "$done_count" = "$failovers" ] || { echo "FAIL: $failovers failovers wanted"; status=1; }
[ "$lost" = 0 ] || { echo "FAIL: $lost acknowledged updates lost"; status=1; }
[ "$(echo "$sums" | tr ' ' '\n' | grep = | cut -d= -f2 | sort -u | wc -l)" = 1 ] || { echo "FAIL: the nodes' tables differ"; status=1; }
[ $status = 0 ] || hc_dump_logs
exit $status
