#!/usr/bin/env bash
# Failover rounds under a real Corosync + Pacemaker cluster in namespaces (tests/cluster/lib.sh):
# the counter application (examples/counter, `active`, one sync commit every 5 ms) runs on the
# promoted node, colocated with the Promoted role of ckptd-clone; each round SIGKILLs, on the
# promoted node, one of:
#   app          the application (Pacemaker restarts it in place; no promotion)
#   ckptd        its ckptd (the agent's monitor fails, another node is promoted)
#   app+ckptd    both (the demo)
#   node         every process of the node (Corosync loses it, it is fenced, another node is
#                promoted; the node then boots again and rejoins as a standby)
#   partition    nftables in its namespace drop everything but loopback: Corosync and ckptd both
#                lose the others (3 nodes, kernel UDP: memif is shared memory, no packets); the
#                minority active's sync commits get no OK (its standbys are silent and it cannot
#                fence them without quorum); the majority fences it and promotes; it then boots
#                again and rejoins. The final checks show one history survived.
#                Two nodes (kernel UDP too): votequorum's two_node keeps both halves quorate, so the
#                round makes the active lose the fencing race, slowly (no priority-fencing-delay;
#                fencing the active waits 5 s, as a slow fence device would, fencing the standby
#                20 s): the standby's side fences the active and promotes. Meanwhile both halves
#                are quorate and the standby has left the active's membership; the active's fence
#                hook (hotspare-fence-peer) must wait for stonith to confirm the standby fenced,
#                which never happens before it is itself fenced, so its sync commits get no OK
#                (a hook that settles for the lost membership acknowledges alone for seconds, and
#                those numbers are lost: the check below fails); no acknowledged number may be lost
#   restart      its ckptd SIGKILLed and started again by hand with the same command line (as a
#                supervisor would), then, as soon as its socket answers and before anything else,
#                every process of the node killed: the restarted engine adopted its checkpoints as
#                active and must not have acknowledged a commit no standby holds (kernel UDP: a
#                SIGKILLed memif server leaves a socket DPDK will not serve again)
#   stop         SIGSTOP of its ckptd (a hung engine) until another node is promoted and its
#                application committed, then SIGCONT: the old active steps down (or is stopped by
#                the cluster); no frame of the old epoch is applied anywhere (each node's refused
#                old-epoch frames are counted and printed), and what it gave up is reported
# and does nothing else: the cluster recovers by itself. A round ends when a new application
# process has had its first commit acknowledged and the cluster has settled again (one promoted,
# every other live node unpromoted and in sync).
# At the end: the application's acknowledged numbers have no gap and none was lost (every new
# process resumed at or after the last number acknowledged before it); the application is stopped
# and every node's committed state is compared by checksum (all equal, and at least the last
# acknowledged number). Exits non-zero on any of these, or when a round does not recover.
# Prints one timeline line per round: detection (kill to the cluster noticing), the cluster's
# decision (to our promote action starting), our promotion (the promote action), the application
# (promote's end to its first acknowledged commit), total (kill to that commit).
#
# --replicas N (ckptd's `replicas`, issue 12's replica count): each checkpoint keeps its active copy
# and N-1 standbys. A round is then ready when exactly N-1 unpromoted nodes are in sync and the
# others hold no promotion score; losing a node of the set brings a replica up on another node.
# The final checksums cover the promoted node and its in-sync standbys.
#
# Usage: failover.sh BUILD_DIR [--nodes 2|3] [--transport memif|udp] [--token MS] [--replicas N]
#                    [--kill app|ckptd|app+ckptd|node|partition|restart|stop] [--rounds N] [--timeline FILE] [--demo]
# --timeline appends "scenario nodes token round detect_ms decide_ms promote_ms app_ms total_ms".
# --demo prints the narrative of README's first command instead of one line per round.
set -euo pipefail
build=$1; shift
nodes=2 transport="" token=1000 kill=ckptd rounds=1 timeline="" demo=0 replicas=0
while [ $# -gt 0 ]; do
    case $1 in
    --nodes) nodes=$2; shift ;;
    --transport) transport=$2; shift ;;
    --token) token=$2; shift ;;
    --kill) kill=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --replicas) replicas=$2; shift ;;
    --timeline) timeline=$2; shift ;;
    --demo) demo=1 ;;
    *) echo "failover.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done
[ -n "$transport" ] || transport=$([ "$nodes" = 2 ] && echo memif || echo udp)
HC_TOKEN_MS=$token
HC_TRANSPORT=$transport
[ "$replicas" = 0 ] || HC_CKPTD_EXTRA="replicas = $replicas"
kind=$kill$([ "$replicas" = 0 ] || echo "/replicas$replicas") # the timeline's scenario column
. "$(dirname "$0")/lib.sh"
trap 'hc_cleanup' EXIT
trap 'echo "failover: interrupted"; exit 130' INT TERM

hc_init "$build" "$nodes"
app_log() { cat "$HC_APP_LOG" 2>/dev/null || true; }
hc_app "$(hc_bin demo/ckpt_demo) active /run/hotspare/ckptd.sock"
say() { [ $demo = 1 ] && printf '[%7.3f s] %s\n' "$(( ($(date +%s%N) - T_START) / 1000000 ))e-3" "$*"; return 0; }
T_START=$(date +%s%N)
say "starting a $nodes-node Corosync + Pacemaker cluster in namespaces (token ${token} ms, ckptd over $transport)"
hc_start
say "cluster up: $(hc_roles | awk '$2 {printf "%s %s  ", $1, $2}')"

ms() { echo $(( ($2 - $1) / 1000000 )); }
# A pacemaker/corosync log time stamp ("Dec 06 23:12:31.037") as ns since the epoch.
log_ns() { date -d "$1" +%s%N; }
node_num() { echo "${1#node}"; }
score_of() { hc_exec "$(hc_any_node)" crm_attribute -q -N "$1" -n master-ckptd -l reboot -G 2>/dev/null || true; }
acked_count() { app_log | grep -c ': acked ' || true; }

# Settled, the application committing, and every unpromoted node in sync (the active gave it
# its score), or with --replicas exactly N-1 of them and none other promotable: a failure now
# must not lose anything.
wait_ready() { # SECONDS
    local end=$(($(date +%s) + $1)) p n ok c0 live in_sync other
    while [ "$(date +%s)" -lt "$end" ]; do
        if hc_settled; then
            p=$(hc_promoted)
            live=0 in_sync=0 other=0
            for n in $(seq 1 "$nodes"); do
                [ "$(hc_name "$n")" = "$p" ] && continue
                kill -0 "${HC_HOLDER[$n]:-0}" 2>/dev/null || continue
                live=$((live + 1))
                case $(score_of "$(hc_name "$n")") in
                100) in_sync=$((in_sync + 1)) ;;
                "") ;;
                *) other=$((other + 1)) ;;
                esac
            done
            ok=0
            if [ "$replicas" = 0 ]; then
                [ "$in_sync" = "$live" ] && ok=1
            else
                [ "$in_sync" = "$((replicas - 1 < live ? replicas - 1 : live))" ] && [ "$other" = 0 ] && ok=1
            fi
            if [ $ok = 1 ]; then
                c0=$(acked_count)
                sleep 0.3
                [ "$(acked_count)" -gt "$c0" ] && return 0
            fi
        fi
        sleep 0.3
    done
    return 1
}

first_ack_after() { # T0 -> "ns pid seq" of the first "first commit" line stamped after T0
    app_log | awk -v t0="$1" '/first commit [0-9]+ acknowledged at/ {
        split($1, a, /[][]/); ts = $(NF - 1); if (ts > t0) { print ts, a[2], $4; exit } }'
}

# The first event after T0 whose text matches RE, from the agent's events file ("ns node text").
event_after() { # T0 RE
    awk -v t0="$1" -v re="$2" '$1 > t0 && $0 ~ re {print $1; exit}' "$HC_WORK/shared/events" 2>/dev/null
}

# When the cluster noticed: a failed monitor on NODE (app or ckptd) or, for a lost node, the
# membership change on a survivor.
detected_at() { # T0 NODE
    local t0=$1 victim=$2 f line best=""
    if [ "$kill" = node ] || [ "$kill" = partition ] || [ "$kill" = restart ]; then
        for f in "$HC_WORK"/node*/log-corosync/corosync.log; do
            [ "$f" = "$HC_WORK/$victim/log-corosync/corosync.log" ] && continue
            while read -r line; do
                local t
                t=$(log_ns "$(echo "$line" | cut -c1-19)")
                if [ "$t" -gt "$t0" ]; then [ -z "$best" ] || [ "$t" -lt "$best" ] && best=$t; break; fi
            done < <(grep 'Members left' "$f" 2>/dev/null)
        done
    else
        while read -r line; do
            local t
            t=$(log_ns "$(echo "$line" | cut -c1-19)")
            if [ "$t" -gt "$t0" ]; then best=$t; break; fi
        done < <(grep -E 'Result of monitor operation for (app|ckptd) on' "$HC_WORK/$victim/log-pacemaker/pacemaker.log" 2>/dev/null |
                 grep -vE ': (ok|Cancelled|promoted) \|')
    fi
    echo "$best"
}

for round in $(seq 1 "$rounds"); do
    for _ in $(seq 10); do
        wait_ready 180 || hc_die "round $round: the cluster did not settle with every standby in sync"
        victim=$(hc_promoted)
        v=$(node_num "$victim")
        app_pid=$(hc_pid_of "$v" ckpt_demo)
        ckptd_pid=$(hc_pid_of "$v" ckptd)
        [ -n "$app_pid" ] && [ -n "$ckptd_pid" ] && break
    done
    [ -n "$app_pid" ] && [ -n "$ckptd_pid" ] || hc_die "round $round: no application or ckptd to kill on $victim"
    acked_before=$(app_log | awk '/: acked / {n = $3} END {print n + 0}')
    [ $demo = 1 ] && {
        say "$victim: promoted; the application (pid $(hc_pid_of "$v" ckpt_demo)) has acknowledged up to $acked_before (each one applied on every standby)"
        for n in $(seq 1 "$nodes"); do
            [ "$n" = "$v" ] && continue
            if [ -n "$(score_of "$(hc_name "$n")")" ]; then
                say "$(hc_name "$n"): unpromoted, in sync, promotion score $(score_of "$(hc_name "$n")")"
            else
                say "$(hc_name "$n"): unpromoted, outside the replica set (replicas = $replicas), not promotable"
            fi
        done
    }
    t0=$(date +%s%N)
    case $kill in
    app) kill -9 "$app_pid" ;;
    ckptd) kill -9 "$ckptd_pid" ;;
    app+ckptd) kill -9 "$app_pid" "$ckptd_pid" ;;
    node) hc_kill_node "$v" ;;
    restart)
        mapfile -d '' -t ckptd_cmd < "/proc/$ckptd_pid/cmdline"
        kill -9 "$ckptd_pid"
        while kill -0 "$ckptd_pid" 2>/dev/null; do sleep 0.01; done
        ckptd_cmd[0]=$(hc_bin engine/ckptd)
        hc_exec "$v" setsid "${ckptd_cmd[@]}" < /dev/null > /dev/null 2>&1 || hc_die "round $round: ckptd did not start again"
        for _ in $(seq 500); do
            hc_exec "$v" "$HC_BUILD/tools/ckptctl/ckptctl" --socket /run/hotspare/ckptd.sock list > /dev/null 2>&1 && break
            sleep 0.01
        done
        say "$victim: ckptd restarted in place (pid $(hc_pid_of "$v" ckptd)); killing the whole node before its standbys resync"
        hc_kill_node "$v"
        ;;
    stop) kill -STOP "$ckptd_pid" ;;
    partition)
        [ "$transport" = udp ] || hc_die "--kill partition needs --transport udp (memif carries no packets)"
        if [ "$nodes" = 2 ]; then
            other=$(hc_name $((3 - v)))
            hc_exec "$v" crm_attribute -t crm_config -n priority-fencing-delay -v 0s > /dev/null
            hc_exec "$v" crm_resource -r fence -p pcmk_delay_base -v "$victim:5s;$other:20s" > /dev/null 2>&1
            for _ in $(seq 100); do
                hc_exec $((3 - v)) crm_resource -r fence -g pcmk_delay_base 2>/dev/null | grep -q "$other:20s" && break
                sleep 0.1
            done
            say "fencing race set for the active to lose: $victim fenced after 5 s, $other after 20 s"
        fi
        hc_exec "$v" nft -f - <<'NFT'
table inet hc_partition {
    chain in { type filter hook input priority -300; policy drop; iif "lo" accept; }
    chain out { type filter hook output priority -300; policy drop; oif "lo" accept; }
}
NFT
        ;;
    *) hc_die "unknown --kill $kill" ;;
    esac
    say "SIGKILL on $victim: $kill (pids: ${app_pid:-} ${ckptd_pid:-}); nothing else is done from here on"
    # Recovered: a new application process's first acknowledged commit.
    first=""
    for _ in $(seq 600); do
        first=$(first_ack_after "$t0")
        [ -n "$first" ] && break
        sleep 0.1
    done
    [ -n "$first" ] || hc_die "round $round ($kill): no new application committed within 60 s"
    if [ "$kill" = stop ]; then
        kill -CONT "$ckptd_pid" 2>/dev/null || true # the agent's stop may have ended it already
        say "SIGCONT on $victim's ckptd (pid $ckptd_pid)"
        stopped_victims="${stopped_victims:-} $v"
    fi
    t_ack=${first%% *}
    new_node=$(hc_promoted)
    t_detect=$(detected_at "$t0" "$victim")
    t_pbegin=$(event_after "$t0" "promote begin")
    t_pend=$(event_after "$t0" "promote end")
    if [ "$kill" = app ] || { [ "$kill" = stop ] && [ "$new_node" = "$victim" ]; }; then
        [ "$new_node" = "$victim" ] && [ "$kill" = stop ] && hc_die "round $round: the cluster kept the hung active $victim promoted"
        line="detection $(ms "$t0" "${t_detect:-$t0}") ms, restart in place, first acknowledged commit $(ms "$t0" "$t_ack") ms after the kill"
        row="$kind $nodes $token $round $(ms "$t0" "${t_detect:-$t0}") - - $(ms "${t_detect:-$t0}" "$t_ack") $(ms "$t0" "$t_ack")"
    else
        [ -n "$t_pbegin" ] && [ -n "$t_pend" ] || hc_die "round $round: no promotion recorded after the kill"
        [ -n "$t_detect" ] || t_detect=$t0
        line="detection $(ms "$t0" "$t_detect") ms, cluster decision $(ms "$t_detect" "$t_pbegin") ms, our promotion $(ms "$t_pbegin" "$t_pend") ms, application $(ms "$t_pend" "$t_ack") ms: total $(ms "$t0" "$t_ack") ms"
        row="$kind $nodes $token $round $(ms "$t0" "$t_detect") $(ms "$t_detect" "$t_pbegin") $(ms "$t_pbegin" "$t_pend") $(ms "$t_pend" "$t_ack") $(ms "$t0" "$t_ack")"
    fi
    [ -n "$timeline" ] && echo "$row" >> "$timeline"
    if [ $demo = 1 ]; then
        say "$new_node promoted by the cluster; its application resumed: $(app_log | awk -v p="${first#* }" 'BEGIN {split(p, a, " ")} index($0, "[" a[1] "]") && /resuming/ {print "resuming after " $NF; exit}'), first commit ${first##* } acknowledged"
    else
        echo "round $round/$rounds ($kill, $nodes nodes, token $token ms): $victim -> $new_node: $line"
    fi
    if [ "$kill" = partition ]; then
        refusals=$(app_log | awk -v p="[$app_pid]" 'index($0, p) && /not acknowledged/ {n++} END {print n + 0}')
        say "$victim (minority, partitioned): $refusals sync commit attempts returned no OK"
        [ $demo = 1 ] || echo "round $round: the partitioned active's sync commits refused (no OK): $refusals"
    fi
    if [ "$kill" = node ] || [ "$kill" = partition ] || [ "$kill" = restart ]; then
        hc_restart_node "$v"
        say "$victim booted again: it rejoins as a standby and resyncs"
    fi
done
say "timeline of the last failover: $line"

# The history: every acknowledged number kept, no gap.
wait_ready 180 || hc_die "the cluster did not settle after the last round"
check=$(app_log | python3 -c '
import re, sys
lost = gaps = 0; top = 0; cur = None; last = {}; order = []
for line in sys.stdin:
    m = re.match(r"active\[(\d+)\]: resuming after committed sequence (\d+)", line)
    if m:
        pid, s = m.group(1), int(m.group(2))
        if s < top:
            lost += top - s
            print("process %s resumed after %d, but %d was acknowledged" % (pid, s, top), file=sys.stderr)
        last[pid] = s
        continue
    m = re.match(r"active\[(\d+)\]: acked (\d+)", line)
    if m:
        pid, n = m.group(1), int(m.group(2))
        if pid in last and n != last[pid] + 1:
            gaps += 1
            print("process %s acknowledged %d after %d" % (pid, n, last[pid]), file=sys.stderr)
        last[pid] = n
        top = max(top, n)
print(lost, gaps, top)
') || hc_die "cannot read the application log"
read -r lost gaps top <<< "$check"

# Quiesce: stop the application, let every standby catch up, compare every node's state (with
# --replicas, the replica set's: the promoted node and the nodes it declared in sync).
p=$(hc_promoted)
holders=""
for n in $(seq 1 "$nodes"); do
    if [ "$(hc_name "$n")" = "$p" ] || [ "$replicas" = 0 ] || [ "$(score_of "$(hc_name "$n")")" = 100 ]; then
        holders="$holders $n"
    fi
done
[ "$replicas" = 0 ] || echo "replica set (replicas = $replicas):$(for n in $holders; do printf ' %s' "$(hc_name "$n")"; done)"
hc_exec "$(node_num "$p")" crm_resource -r app --meta -p target-role -v Stopped > /dev/null 2>&1
for _ in $(seq 300); do [ -z "$(hc_roles | awk '$1 == "app"')" ] && break; sleep 0.1; done
sums=""
for attempt in $(seq 100); do
    sums=""
    for n in $holders; do
        s=$(hc_exec "$n" "$HC_BUILD/tools/ckptctl/ckptctl" --socket /run/hotspare/ckptd.sock dump demo-counter '' --raw 2>/dev/null |
            sha256sum | cut -c1-16)
        sums="$sums $(hc_name "$n")=$s"
    done
    [ "$(echo "$sums" | tr ' ' '\n' | grep = | cut -d= -f2 | sort -u | wc -l)" = 1 ] && break
    sleep 0.1
done
final=$(hc_exec "$(node_num "$p")" "$HC_BUILD/tools/ckptctl/ckptctl" --socket /run/hotspare/ckptd.sock dump demo-counter '' --raw |
    od -An -t u8 -N8 | tr -d ' ')
status=0
echo "checksums of the committed state:$sums"
[ "$(echo "$sums" | tr ' ' '\n' | grep = | cut -d= -f2 | sort -u | wc -l)" = 1 ] || { echo "FAIL: the nodes' committed states differ"; status=1; }
[ "$final" -ge "$top" ] || { echo "FAIL: the committed state holds $final, but $top was acknowledged"; status=1; }
[ "$lost" = 0 ] || { echo "FAIL: $lost acknowledged numbers lost"; status=1; }
[ "$gaps" = 0 ] || { echo "FAIL: $gaps gaps in an application's acknowledged numbers"; status=1; }
if [ "$kill" = stop ]; then
    # Frames of an older epoch refused by each node (none was applied: a refused frame changes
    # nothing, and the checksums above agree), and what the hung active reported giving up.
    refused=""
    for n in $(seq 1 "$nodes"); do
        r=$(hc_exec "$n" "$HC_BUILD/tools/ckptstat/ckptstat" --socket /run/hotspare/ckptd.sock --json 2>/dev/null |
            python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["link"].get("stale_epoch", "?"))' 2>/dev/null || echo "?")
        refused="$refused $(hc_name "$n")=$r"
    done
    echo "old-epoch frames refused (never applied):$refused"
    for v in ${stopped_victims:-}; do
        f="$HC_WORK/shared/ckptd-$(hc_name "$v").log"
        if grep -q "LOST on this node" "$f" 2>/dev/null; then
            echo "$(hc_name "$v") reported: $(grep "LOST on this node" "$f" | tail -n 1 | cut -d' ' -f3-)"
        elif grep -q "adopted as active after a restart" "$f" 2>/dev/null; then
            echo "$(hc_name "$v") reported: $(grep "adopted as active after a restart" "$f" | tail -n 1 | cut -d' ' -f3-)"
        else
            echo "$(hc_name "$v"): no unacknowledged commit to report (its last commits were all acknowledged)"
        fi
    done
fi
echo "acknowledged up to $top; committed state $final on every node; lost $lost, gaps $gaps"
if [ "$HC_SANITIZE" != none ]; then
    # The application is stopped; the engines run on. Every report so far (a leak report of each
    # ckptctl and ckptstat run, an error in any process) fails the test.
    if hc_sanitizer_reports; then
        echo "$HC_SANITIZE: no sanitizer report from the cluster's processes"
    else
        echo "FAIL: sanitizer reports (above)"
        status=1
    fi
fi
[ $status = 0 ] || hc_dump_logs
if [ $demo = 1 ]; then
    if [ $status = 0 ]; then echo "demo: PASS: no acknowledged sequence number was lost"; else echo "demo: FAIL"; fi
fi
exit $status
