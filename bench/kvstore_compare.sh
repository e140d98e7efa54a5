#!/usr/bin/env bash
# The side-by-side run of issue 16: YCSB workloads A and B (bench/ycsb) against
#   kv-sync      hotspare-kvstore, active + standby on two ckptd nodes over DPDK memif, sync commits
#   kv-async     the same with async commits
#   redis-wait   Redis 7 primary + replica on loopback, WAIT 1 after every update
#   redis-async  the same without WAIT
#   criu         Redis checkpointed by CRIU every 250 updates: `criu check` is run and its verdict
#                recorded (CRIU 3.17 cannot run on this 6.18 kernel: see docs/bench/criu_check.txt)
# Per system: workload A and B closed loop, workload A open loop at a fixed rate (the same for all),
# and workload A with --failovers kills of the active (server and, for ours, its ckptd: the whole
# node), each followed by a take-over and the killed node's return as a standby.
#
#   bench/kvstore_compare.sh BUILD_DIR OUT_DIR [records] [operations] [clients] [failovers] [rate]
#     defaults: 10000 records, 40000 operations, 16 clients, 20 failovers, 4000 ops/s open loop
#   SYSTEMS="kv-sync redis-wait" and RUNS="A B A-open A-failover" choose a subset; IDLE_SPIN_US and
#   LINK_SLEEP_US set the engines' idle_spin_us (50) and link_sleep_us (200); MEMIF_WAKEUP=true
#   turns memif's RX wake-up on (the engines then sleep until a frame comes, not in slices);
#   LOCAL_STAGE=false turns the local stage off (writers then wait for every capture).
#
# Writes OUT_DIR/ycsb.jsonl (one line per run), OUT_DIR/*.hist, OUT_DIR/kvstore_compare.md, and
# the plots through bench/kvstore_plot.sh. Root (DPDK memif). Needs redis-server, redis-cli.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = failover ]; then # failover KIND W: called by ycsb, one take-over
    kind=$2
    W=$3
    # shellcheck disable=SC1091
    . "$W/env"
else
    B=$(cd "$1" && pwd)
    OUT=$2
    RECORDS=${3:-10000}
    OPS=${4:-40000}
    CLIENTS=${5:-16}
    FAILOVERS=${6:-20}
    RATE=${7:-4000}
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
    W=$(mktemp -d /tmp/kvcompare.XXXXXX)
    cat >"$W/env" <<EOF
B=$B
W=$W
PORT_a=7301
PORT_b=7302
RUN_ID=$$
EOF
    # shellcheck disable=SC1091
    . "$W/env"
fi
CKPTD=$B/engine/ckptd
KV=$B/examples/kvstore/hotspare-kvstore
YCSB=$B/bench/ycsb
CTL=$B/tools/ckptctl/ckptctl

other() { [ "$1" = a ] && echo b || echo a; }

gone() { # gone PID: the process has exited (a zombie of the main script counts: it holds nothing)
    [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}
kill_dead() { # kill_dead PID...: SIGKILL and wait until each is gone
    local p
    kill -9 "$@" 2>/dev/null
    for p in "$@"; do wait_for 20 gone "$p"; done
}

wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
    local t=$(($1 * 100))
    shift
    local rc
    while :; do
        "$@" >/dev/null 2>&1
        rc=$?
        [ $rc -eq 0 ] && return 0
        [ $rc -eq 2 ] && [ "$1" = alive_and_answers ] && return 1
        t=$((t - 1))
        [ $t -gt 0 ] || return 1
        sleep 0.01
    done
}

start_engine() { # start_engine a|b
    [ -f "$W/cluster.key" ] || "$CTL" keygen "$W/cluster.key" >/dev/null
    local n=$1 id peer role lcore
    if [ "$n" = a ]; then id=1 peer=2 role=server lcore=0; else id=2 peer=1 role=client lcore=1; fi
    mkdir -p "$W/state-$n"
    cat >"$W/$n.conf" <<EOF
node_id = $id
socket = $W/$n.sock
shm_prefix = kvc$RUN_ID-$n.
state_dir = $W/state-$n
transport = memif
auth_key_file = $W/cluster.key
memif_socket = $W/memif.sock
memif_role = $role
dpdk_lcores = $lcore
peers = $peer
heartbeat_ms = 20
peer_timeout_ms = 200
reattach_grace_ms = 0
idle_spin_us = ${IDLE_SPIN_US:-50}
link_sleep_us = ${LINK_SLEEP_US:-200}
memif_wakeup = ${MEMIF_WAKEUP:-false}
local_stage = ${LOCAL_STAGE:-true}
EOF
    # A SIGKILLed engine's threads may still be exiting (its socket lock held) for a moment after
    # its main thread is a zombie: try again until the new one stays up.
    local try
    for try in $(seq 1 50); do
        [ "$n" = a ] && rm -f "$W/memif.sock"
        "$CKPTD" --config "$W/$n.conf" >>"$W/ckptd-$n.log" 2>&1 &
        echo $! >"$W/ckptd-$n.pid"
        wait_for 20 "$CTL" --socket "$W/$n.sock" list && kill -0 "$(cat "$W/ckptd-$n.pid")" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

linked() { "$CTL" --socket "$W/a.sock" peers | grep -q ' up' && "$CTL" --socket "$W/b.sock" peers | grep -q ' up'; }

start_kv() { # start_kv a|b active|standby sync|async
    local n=$1 port
    port=$(eval echo "\$PORT_$n")
    "$KV" --socket "$W/$n.sock" --checkpoint kvc --role "$2" --ack "$3" --port "$port" --capacity 16384 \
        >>"$W/kv-$n.log" 2>&1 &
    echo $! >"$W/kv-$n.pid"
    wait_for 20 redis-cli -p "$port" ping
}

replicas_up() { redis-cli -p "$1" info replication | grep -q 'hotspare_replicas:1'; }
# The standby serves as many keys as the active (the YCSB run phase only updates): its resync is
# complete. (With async commits, hotspare_replicas:1 alone came before the resync's data: killing
# the active then lost whole records, see BENCHMARKS.md.)
same_keys() { # same_keys ACTIVE_PORT STANDBY_PORT
    local a s
    a=$(redis-cli -p "$1" dbsize) && s=$(redis-cli -p "$2" dbsize) && [ -n "$a" ] && [ "$a" = "$s" ]
}
redis_linked() { redis-cli -p "$1" info replication | grep -q 'master_link_status:up'; }

start_redis() { # start_redis a|b [PRIMARY_PORT]
    local n=$1 port
    port=$(eval echo "\$PORT_$n")
    mkdir -p "$W/redis-$n"
    local args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$W/redis-$n"
        --repl-diskless-sync yes --repl-diskless-sync-delay 0 --protected-mode no --daemonize no)
    [ -n "${2:-}" ] && args+=(--replicaof 127.0.0.1 "$2")
    # The killed server's port may still be held for a moment (its threads exiting): try again.
    local try
    for try in $(seq 1 50); do
        redis-server "${args[@]}" >>"$W/redis-$n.log" 2>&1 &
        echo $! >"$W/redis-$n.pid"
        wait_for 10 alive_and_answers "$(cat "$W/redis-$n.pid")" "$port" && break
        kill -9 "$(cat "$W/redis-$n.pid")" 2>/dev/null
        sleep 0.2
    done
    kill -0 "$(cat "$W/redis-$n.pid")" 2>/dev/null || return 1
    if [ -n "${2:-}" ]; then wait_for 30 redis_linked "$port"; fi
}
alive_and_answers() { # PID PORT: the process runs and answers PING (a dead one: fail fast)
    kill -0 "$1" 2>/dev/null || return 2
    redis-cli -p "$2" ping | grep -q PONG
}

if [ "${1:-}" = failover ]; then
    act=$(cat "$W/active")
    oth=$(other "$act")
    case $kind in
    kv-sync | kv-async)
        kill_dead "$(cat "$W/kv-$act.pid")" "$(cat "$W/ckptd-$act.pid")"
        # Promote the survivor's replica, as the cluster manager would: its store is told "active".
        "$CTL" --socket "$W/$oth.sock" promote kvc >/dev/null || exit 1
        echo "$oth" >"$W/active"
        # The dead node comes back as the standby of the new active.
        start_engine "$act" && wait_for 30 linked && start_kv "$act" standby "${kind#kv-}" &&
            wait_for 60 replicas_up "$(eval echo "\$PORT_$oth")" &&
            wait_for 60 same_keys "$(eval echo "\$PORT_$oth")" "$(eval echo "\$PORT_$act")" || exit 1
        ;;
    redis-wait | redis-async)
        kill_dead "$(cat "$W/redis-$act.pid")"
        redis-cli -p "$(eval echo "\$PORT_$oth")" replicaof no one >/dev/null
        echo "$oth" >"$W/active"
        start_redis "$act" "$(eval echo "\$PORT_$oth")" || exit 1
        ;;
    esac
    exit 0
fi

cleanup() {
    for f in "$W"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    wait 2>/dev/null
    rm -f /dev/shm/kvc"$RUN_ID"-* 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

J=$OUT/ycsb.jsonl
: >"$J"
run_ycsb() { # run_ycsb SYSTEM LABEL ARGS...
    local sys=$1 label=$2
    shift 2
    echo "== $sys $label" >&2
    "$YCSB" --port "$PORT_a" --endpoint "127.0.0.1:$PORT_b" --records "$RECORDS" --clients "$CLIENTS" \
        --label "$sys/$label" --json --hist "$OUT/$sys-$label.hist" "$@" | sed "s/^{/{\"system\":\"$sys\",\"run\":\"$label\",/" >>"$J"
    # Ours: the server's own view (acknowledgement waits of the write replies, commits, batching).
    [[ $sys == kv-* ]] && redis-cli -p "$(eval echo "\$PORT_$(cat "$W/active")")" info all 2>/dev/null |
        grep -E '^hotspare_' >"$OUT/$sys-$label.info" || true
}

stop_all() {
    for f in "$W"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null && rm -f "$f"; done
    wait 2>/dev/null
    rm -f /dev/shm/kvc"$RUN_ID"-* 2>/dev/null
    rm -rf "$W"/state-* "$W"/redis-?
}

for sys in ${SYSTEMS:-kv-sync kv-async redis-wait redis-async}; do
    echo a >"$W/active"
    waitarg=()
    case $sys in
    kv-*)
        ack=${sys#kv-}
        start_engine a && start_engine b && wait_for 30 linked || { echo "$sys: engines did not link" >&2; exit 1; }
        start_kv a active "$ack" && start_kv b standby "$ack" && wait_for 60 replicas_up "$PORT_a" ||
            { echo "$sys: kvstore did not start" >&2; tail "$W"/kv-*.log >&2; exit 1; }
        ;;
    redis-*)
        start_redis a && start_redis b "$PORT_a" || { echo "$sys: redis did not start" >&2; exit 1; }
        [ "$sys" = redis-wait ] && waitarg=(--wait 1)
        ;;
    esac
    runs=" ${RUNS:-A B A-open A-failover} "
    [[ $runs == *" A "* ]] && run_ycsb "$sys" A --workload a --operations "$OPS" "${waitarg[@]}"
    [[ $runs == *" B "* ]] && run_ycsb "$sys" B --workload b --operations "$OPS" "${waitarg[@]}"
    [[ $runs == *" A-open "* ]] &&
        run_ycsb "$sys" A-open --workload a --operations "$OPS" --no-load --rate "$RATE" "${waitarg[@]}"
    [[ $runs == *" A-failover "* ]] && run_ycsb "$sys" A-failover --workload a --operations "$OPS" \
        --failovers "$FAILOVERS" --failover-cmd "$here/kvstore_compare.sh failover $sys $W" "${waitarg[@]}"
    stop_all
done

# CRIU: the seed's approach, if this kernel lets criu run at all.
{
    echo "\$ criu --version"
    criu --version 2>&1
    echo "\$ criu check   (kernel $(uname -r))"
    criu check 2>&1
    echo "exit status $?"
} >"$OUT/criu_check.txt" 2>&1
echo "criu: $(tail -1 "$OUT/criu_check.txt")" >&2

"$here/kvstore_plot.sh" "$OUT" || echo "kvstore_compare: plots not drawn" >&2
