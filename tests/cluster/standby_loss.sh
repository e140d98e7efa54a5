#!/usr/bin/env bash
# The other side of the two-node fence hook: the *standby* node is lost (every process SIGKILLed)
# under a real two-node Corosync + Pacemaker cluster (tests/cluster/lib.sh; ckptd over kernel UDP).
# The active's ckptd finds its standby silent and runs hotspare-fence-peer; with two_node quorum
# and the peer out of the membership, the hook must wait for Pacemaker to hold the node fenced
# (the fence agent confirms it) and then let the active acknowledge alone. Checks: the active's
# log says the node was fenced by the hook, the application's sync commits are acknowledged again
# after that, no promotion happened, and once the node booted again and resynced, both nodes'
# committed states are equal and hold at least the last acknowledged number.
# Usage: standby_loss.sh BUILD_DIR
set -euo pipefail
build=$1
HC_TRANSPORT=udp
. "$(dirname "$0")/lib.sh"
trap 'hc_cleanup' EXIT
trap 'echo "standby_loss: interrupted"; exit 130' INT TERM

hc_init "$build" 2
hc_app "$(hc_bin demo/ckpt_demo) active /run/hotspare/ckptd.sock"
hc_start
acked() { grep -c ': acked ' "$HC_APP_LOG" 2>/dev/null || true; }
score_of() { hc_exec "$(hc_any_node)" crm_attribute -q -N "$1" -n master-ckptd -l reboot -G 2>/dev/null || true; }
in_sync() { # the standby has its promotion score: the active declared it in sync
    local p s
    p=$(hc_promoted)
    [ -n "$p" ] || return 1
    s=$(hc_name $((3 - ${p#node})))
    [ "$(score_of "$s")" = 100 ]
}
for _ in $(seq 600); do hc_settled && in_sync && [ "$(acked)" -gt 0 ] && break; sleep 0.2; done
hc_settled && in_sync || hc_die "the cluster did not settle with the standby in sync"

active=$(hc_promoted)
a=${active#node}
s=$((3 - a))
standby=$(hc_name "$s")
log="$HC_WORK/shared/ckptd-$active.log"
echo "$active promoted, $standby in sync; the application has $(acked) acknowledged commits; killing $standby"
hc_kill_node "$s"

fenced=""
for _ in $(seq 600); do
    fenced=$(grep "node $s fenced by" "$log" | tail -n 1 || true)
    [ -n "$fenced" ] && break
    sleep 0.1
done
[ -n "$fenced" ] || hc_die "the active's fence hook never reported $standby fenced"
echo "$active: ${fenced#* * }"
after=$(acked)
for _ in $(seq 300); do [ "$(acked)" -gt $((after + 20)) ] && break; sleep 0.1; done
[ "$(acked)" -gt $((after + 20)) ] || hc_die "no sync commit was acknowledged after $standby was fenced"
[ "$(hc_promoted)" = "$active" ] || hc_die "the promoted node changed: $(hc_promoted)"
echo "acknowledged alone after the fencing: $(($(acked) - after)) commits (and counting)"

hc_restart_node "$s"
for _ in $(seq 900); do hc_settled && in_sync && break; sleep 0.2; done
hc_settled && in_sync || hc_die "$standby did not rejoin in sync"
echo "$standby booted again and is in sync"

# Quiesce, then compare.
hc_exec "$a" crm_resource -r app --meta -p target-role -v Stopped > /dev/null 2>&1
for _ in $(seq 300); do [ -z "$(hc_roles | awk '$1 == "app"')" ] && break; sleep 0.1; done
top=$(awk '/: acked / {n = $3} END {print n + 0}' "$HC_APP_LOG")
sums=""
for _ in $(seq 100); do
    sums=""
    for n in 1 2; do
        sums="$sums $(hc_exec "$n" "$HC_BUILD/tools/ckptctl/ckptctl" --socket /run/hotspare/ckptd.sock dump demo-counter '' --raw 2>/dev/null |
            sha256sum | cut -c1-16)"
    done
    [ "$(echo "$sums" | tr ' ' '\n' | grep -v '^$' | sort -u | wc -l)" = 1 ] && break
    sleep 0.1
done
final=$(hc_exec "$a" "$HC_BUILD/tools/ckptctl/ckptctl" --socket /run/hotspare/ckptd.sock dump demo-counter '' --raw |
    od -An -t u8 -N8 | tr -d ' ')
echo "checksums:$sums; acknowledged up to $top; committed state $final"
status=0
[ "$(echo "$sums" | tr ' ' '\n' | grep -v '^$' | sort -u | wc -l)" = 1 ] || { echo "FAIL: the nodes' committed states differ"; status=1; }
[ "$final" -ge "$top" ] || { echo "FAIL: the committed state holds $final, but $top was acknowledged"; status=1; }
if [ "$HC_SANITIZE" != none ] && ! hc_sanitizer_reports; then
    echo "FAIL: sanitizer reports (above)"
    status=1
fi
[ $status = 0 ] && echo "standby_loss: PASS" || hc_dump_logs
exit $status
