#!/usr/bin/env bash
# The full failover rounds of issue 12 under real Corosync + Pacemaker (tests/cluster/failover.sh):
# 20 rounds (ROUNDS) of each scenario, 2 and 3 nodes, the token at 1000 ms and 500 ms; then the
# failover time per stage, p50 and p99, from every round's timeline (docs/RELIABILITY.md and
# BENCHMARKS.md take their figures from this output). Not part of `meson test`: about an hour on
# a 2-core machine. Exits non-zero if any run failed.
# Then hotspare-kvstore under the cluster: ycsb workload A across 20 whole-node kills (KV_FAILOVERS).
# Usage: tests/soak/cluster_soak.sh BUILD_DIR [OUT_DIR]   (ROUNDS=20, SCENARIOS="..." to narrow,
#        KV_FAILOVERS=0 to skip the store)
set -uo pipefail
build=$(cd "$1" && pwd)
out=${2:-/tmp/hotspare-soak-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-20}
# nodes:kill:token[:replicas]
scenarios=${SCENARIOS:-"2:app+ckptd:1000 2:node:1000 2:node:500 3:node:1000 3:node:500 2:ckptd:1000 3:ckptd:1000 2:app:1000 2:stop:1000 3:partition:1000 2:restart:1000 3:node:1000:2"}
timeline="$out/timeline.tsv"
failed=0
for s in $scenarios; do
    IFS=: read -r nodes kill token replicas <<< "$s"
    replicas=${replicas:-0}
    transport=()
    case $kill in partition | restart) transport=(--transport udp) ;; esac
    log="$out/${nodes}nodes-${kill}-token${token}-replicas${replicas}.log"
    start=$(date +%s)
    if "$here/../cluster/failover.sh" "$build" --nodes "$nodes" --kill "$kill" --token "$token" --rounds "$rounds" \
        --replicas "$replicas" "${transport[@]}" --timeline "$timeline" > "$log" 2>&1; then
        result=PASS
    else
        result=FAIL
        failed=$((failed + 1))
    fi
    echo "$result $nodes nodes, kill $kill, token $token ms, replicas $replicas, $rounds rounds, $(($(date +%s) - start)) s: $(grep -E '^acknowledged up to|^FAIL' "$log" | tr '\n' ' ')"
done
# hotspare-kvstore under the cluster (issue 16): ycsb workload A across KV_FAILOVERS whole-node kills.
kv_failovers=${KV_FAILOVERS:-20}
if [ "$kv_failovers" -gt 0 ]; then
    log="$out/kvstore-${kv_failovers}failovers.log"
    start=$(date +%s)
    if "$here/../cluster/kvstore_failover.sh" "$build" --failovers "$kv_failovers" \
        --operations $((3000 * (kv_failovers + 1))) > "$log" 2>&1; then
        result=PASS
    else
        result=FAIL
        failed=$((failed + 1))
    fi
    echo "$result kvstore, 2 nodes, kill node, $kv_failovers failovers, $(($(date +%s) - start)) s: $(grep -E '^failovers:|^FAIL' "$log" | tr '\n' ' ')"
fi
echo
echo "failover time per stage (ms) over every round: p50 / p99 / max"
python3 - "$timeline" <<'PY'
import sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) != 9: continue
    rows[(f[0], f[1], f[2])].append(f[4:])
def pct(v, q):
    v = sorted(v); return v[min(len(v) - 1, max(0, int(round(q * len(v) + 0.5)) - 1))]
print("%-10s %5s %6s %6s  %-16s %-16s %-16s %-16s %-16s" % ("kill", "nodes", "token", "rounds", "detection", "decision", "promotion", "app 1st ack", "total"))
for (kill, nodes, token), rs in sorted(rows.items()):
    cols = []
    for i in range(5):
        v = [int(r[i]) for r in rs if r[i] != "-"]
        cols.append("%d/%d/%d" % (pct(v, .5), pct(v, .99), max(v)) if v else "-")
    print("%-10s %5s %6s %6d  %-16s %-16s %-16s %-16s %-16s" % (kill, nodes, token, len(rs), *cols))
PY
echo "$failed failed"
[ $failed = 0 ]
