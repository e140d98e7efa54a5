#!/usr/bin/env bash
# The resource agent ocf:hotspare:ckptd (packaging/ocf/ckptd.in), without a cluster:
#  1. ocf-tester (resource-agents) on a node-local engine: meta-data, validate-all, the
#     start/stop/monitor/promote/demote/notify cycle and their return codes;
#  2. the agent's own contract, with two engines over DPDK memif driven as Pacemaker would:
#     monitor 7 before start, 0 unpromoted, 8 promoted; promote makes node 1's checkpoints active;
#     the standby holds every acknowledged write; ckptd SIGKILLed on the promoted node: monitor 9;
#     promoting node 2 raises the epoch and its writes are acknowledged, and the counter example's
#     hot standby on node 2 learns it through its pollable fd and takes over by itself after the
#     last acknowledged number (no signal); node 1 started again
#     comes back as a standby (its adopted active checkpoint is demoted at start, never
#     acknowledging on its own), resyncs, and ends byte-identical to node 2;
#     a SIGSTOPped ckptd counts as hung (monitor 9 when promoted) and stop still ends it;
#  3. validate-all refuses a missing configuration (6) and a missing binary (5).
# Needs root (DPDK memif), ocf-tester (resource-agents). Scores: crm_attribute fails without a
# cluster and the agent goes on (tests/cluster/failover_test.sh covers them under Pacemaker).
# Usage: agent_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
agent="$build/packaging/ckptd"
ckptctl="$build/tools/ckptctl/ckptctl"
tmp=$(mktemp -d /tmp/hotspare-agent.XXXXXX)
tag="hsag$$"
cleanup() {
    for f in "$tmp"/*/*.pid "$tmp"/*.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
    rm -f /dev/shm/"$tag".* 2>/dev/null || true
    rm -rf /var/run/dpdk/"$tag".* 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$tmp"/*.log "$tmp"/*.out "$tmp"/events "$tmp"/rsc*/*.start; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
    exit 1
}
command -v ocf-tester >/dev/null || fail "ocf-tester is missing (apt-get install resource-agents)"

common() { # N
    cat <<CONF
node_id = $1
socket = $tmp/node$1.sock
shm_prefix = $tag.$1.
state_dir = $tmp/state$1
log_file = $tmp/node$1.log
CONF
}

# 1. ocf-tester on a node-local engine.
common 9 > "$tmp/local.conf"
ocf-tester -n "hsag$$" -o config="$tmp/local.conf" -o ckptd="$build/engine/ckptd" -o ckptctl="$ckptctl" \
    -o ckptstat="$build/tools/ckptstat/ckptstat" "$agent" > "$tmp/ocf-tester.log" 2>&1 ||
    fail "ocf-tester: $(cat "$tmp/ocf-tester.log")"
grep -q "passed all tests" "$tmp/ocf-tester.log" || fail "ocf-tester: $(cat "$tmp/ocf-tester.log")"
echo "ocf-tester: $(grep 'passed all tests' "$tmp/ocf-tester.log")"

# 2. Two nodes over memif, their frames authenticated with one cluster key.
"$ckptctl" keygen "$tmp/cluster.key" >/dev/null || fail "ckptctl keygen"
for n in 1 2; do
    { common $n
      echo "transport = memif"
      echo "auth_key_file = $tmp/cluster.key"
      echo "memif_socket = $tmp/memif.sock"
      echo "memif_role = $([ $n = 1 ] && echo server || echo client)"
      echo "peers = $((3 - n))"
      echo "dpdk_lcores = $((n - 1))"
      echo "dpdk_file_prefix = $tag.$n"
      echo "heartbeat_ms = 50"
      echo "peer_timeout_ms = 1000"; } > "$tmp/node$n.conf"
    mkdir -p "$tmp/rsc$n"
done
ra() { # N ACTION -> the agent's exit code on stdout
    local rc=0
    OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE="ckptd:$1" HA_RSCTMP="$tmp/rsc$1" \
        OCF_RESKEY_config="$tmp/node$1.conf" OCF_RESKEY_ckptd="$build/engine/ckptd" \
        OCF_RESKEY_ckptctl="$ckptctl" OCF_RESKEY_ckptstat="$build/tools/ckptstat/ckptstat" \
        OCF_RESKEY_events_file="$tmp/events" OCF_RESKEY_CRM_meta_interval=0 \
        "$agent" "$2" >> "$tmp/agent.log" 2>&1 || rc=$?
    echo $rc
}
expect() { # N ACTION RC WHY
    local rc
    rc=$(ra "$1" "$2")
    [ "$rc" = "$3" ] || fail "node $1 $2 returned $rc, expected $3: $4"
}
ctl() { local n=$1; shift; "$ckptctl" --socket "$tmp/node$n.sock" "$@"; }
field() { ctl "$1" status "$2" 2>/dev/null | awk -v k="$3:" '$1 == k {print $2}'; }
peer_up() { [ "$(ctl "$1" peers 2>/dev/null | awk -v p="$2" '$1 == p {print $2}')" = up ]; }
wait_for() { # WHAT COMMAND...
    local what=$1; shift
    for _ in $(seq 1000); do "$@" && return 0; sleep 0.01; done
    fail "timed out waiting for $what"
}

expect 1 monitor 7 "not started yet"
expect 1 start 0 "start node 1"
expect 2 start 0 "start node 2"
expect 1 start 0 "a second start is a no-op"
expect 1 monitor 0 "started unpromoted"
wait_for "node 1 to see node 2" peer_up 1 2
expect 1 promote 0 "promote node 1"
expect 1 monitor 8 "promoted"
expect 2 monitor 0 "node 2 unpromoted"
ctl 1 create calls --mode sync --size 64K --max-sections 4 --max-section-size 4K --max-section-id-size 16 > /dev/null
ctl 1 section-create calls s1 --size 4096 > /dev/null
standby_role() { [ "$(field 2 calls role)" = standby ]; }
wait_for "node 2's replica" standby_role
in_sync() { [ "$(field 1 calls replicas_in_sync)" = 1 ]; }
wait_for "node 2 in sync" in_sync
for i in $(seq 1 20); do ctl 1 write calls s1 --data "value-$i" > /dev/null || fail "write $i not acknowledged"; done
[ "$(ctl 2 dump calls s1 --raw)" = "value-20" ] || fail "node 2 does not hold the acknowledged value-20"

# The counter example on both nodes: active on node 1, hot standby on node 2 (it follows through
# its pollable fd, and must take over by itself when node 2 is promoted: no signal).
"$build/demo/ckpt_demo" active "$tmp/node1.sock" > "$tmp/active.out" 2>&1 &
disown
echo $! > "$tmp/active.pid"
"$build/demo/ckpt_demo" standby "$tmp/node2.sock" > "$tmp/standby.out" 2>&1 &
disown
echo $! > "$tmp/standby.pid"
following() { grep -q "sees" "$tmp/standby.out"; }
wait_for "the standby application to follow" following

# The promoted node's ckptd dies (and its application): failed promoted.
kill -9 "$(cat "$tmp/rsc1/hotspare-ckptd.pid")" "$(cat "$tmp/active.pid")"
expect 1 monitor 9 "ckptd killed on the promoted node"
node1_down() { ! peer_up 2 1; }
wait_for "node 2 to declare node 1 down" node1_down
expect 2 promote 0 "promote node 2"
expect 2 monitor 8 "node 2 promoted"
[ "$(field 2 calls role)" = active ] || fail "node 2's checkpoint is not active after promote"
[ "$(field 2 calls epoch)" = 131074 ] || fail "node 2's epoch is $(field 2 calls epoch), expected 131074 (promotion 2 by node 2)"
[ "$(ctl 2 dump calls s1 --raw)" = "value-20" ] || fail "the promoted replica lost value-20"
took_over() { grep -q "TAKEOVER first commit" "$tmp/standby.out"; }
wait_for "the standby application to take over by itself" took_over
grep -q "now the active one" "$tmp/standby.out" || fail "the standby application did not learn its role from the checkpoint"
acked=$(grep -o 'acked [0-9]*' "$tmp/active.out" | tail -1 | cut -d' ' -f2)
resumed=$(grep -o 'TAKEOVER first commit [0-9]*' "$tmp/standby.out" | awk '{print $4}')
[ "$resumed" -gt "$acked" ] || fail "the standby application resumed at $resumed, but $acked was acknowledged"
echo "agent: the standby application took over by itself at $resumed (last acknowledged before: $acked)"
kill -9 "$(cat "$tmp/standby.pid")"
ctl 2 write calls s1 --data "after-failover" > /dev/null || fail "write on the new active not acknowledged"

# Pacemaker's recovery of node 1: demote, stop, start (unpromoted).
expect 1 demote 0 "demote a failed promoted instance"
expect 1 stop 0 "stop node 1"
expect 1 monitor 7 "stopped"
expect 1 start 0 "node 1 back"
role1() { [ "$(field 1 calls role)" = standby ]; }
wait_for "node 1 to come back as a standby" role1
resynced() { [ "$(field 2 calls replicas_in_sync)" = 1 ] && [ "$(ctl 1 dump calls s1 --raw 2>/dev/null)" = "after-failover" ]; }
wait_for "node 1 to resync from node 2" resynced
[ "$(field 1 calls epoch)" = 131074 ] || fail "node 1 did not take epoch 131074"
ctl 2 write calls s1 --data "with-node-1-back" > /dev/null || fail "write with node 1 back not acknowledged"
[ "$(ctl 1 dump calls s1 --raw)" = "with-node-1-back" ] || fail "node 1 does not hold the acknowledged write"

# A hung (SIGSTOPped) promoted ckptd fails the monitor; stop still ends it.
pid2=$(cat "$tmp/rsc2/hotspare-ckptd.pid")
kill -STOP "$pid2"
rc=$(OCF_RESKEY_call_timeout=1 ra 2 monitor)
[ "$rc" = 9 ] || fail "monitor of a stopped promoted ckptd returned $rc, expected 9"
expect 2 demote 0 "demote a hung instance"
expect 2 stop 0 "stop a hung instance"
kill -0 "$pid2" 2>/dev/null && fail "stop left the SIGSTOPped ckptd running"
expect 2 monitor 7 "stopped"
expect 1 stop 0 "stop node 1"

# 3. validate-all.
rc=$(OCF_ROOT=/usr/lib/ocf OCF_RESKEY_config=/nonexistent "$agent" validate-all >/dev/null 2>&1; echo $?)
[ "$rc" = 6 ] || fail "validate-all with a missing configuration returned $rc, expected 6"
rc=$(OCF_ROOT=/usr/lib/ocf OCF_RESKEY_config="$tmp/node1.conf" OCF_RESKEY_ckptd=/nonexistent "$agent" validate-all >/dev/null 2>&1; echo $?)
[ "$rc" = 5 ] || fail "validate-all with a missing ckptd returned $rc, expected 5"
echo "agent: PASS"
