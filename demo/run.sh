#!/usr/bin/env bash
# The Hotspare demo: failover that runs itself. Two nodes on this machine, each a set of network,
# mount and UTS namespaces running real Corosync + Pacemaker and its own ckptd; the two ckptd are
# joined by DPDK memif (--no-huge; the memif socket sits in a directory both nodes see).
# Pacemaker runs ckptd as the promotable clone ocf:hotspare:ckptd and the counter application
# (examples/counter) colocated with the Promoted role.
#  1. the promoted node's application commits its sequence number every 5 ms with a sync ack,
#     in place in shared memory; ckptd replicates the changed block to the other node, which
#     the active declares in sync (its promotion score);
#  2. the application and its ckptd are SIGKILLed, and nothing else is done: Pacemaker's monitor
#     notices, the cluster promotes the other node (its checkpoint gets a higher epoch) and starts
#     the application there, which resumes at the next number;
#  3. the timeline is printed split into detection, the cluster's decision, our promotion and the
#     application's first acknowledged commit; the committed state of both nodes is compared.
# Exits non-zero if any acknowledged sequence number is lost. Cleans up every namespace and
# process it made, also when interrupted. Root; the cluster stack from scripts/install-deps.sh.
# Usage: demo/run.sh [BUILD_DIR]     (HC_TOKEN_MS=500 for the fast Corosync token)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../tests/cluster/failover.sh" "$build" --nodes 2 --transport memif --token "${HC_TOKEN_MS:-1000}" \
    --kill app+ckptd --rounds 1 --demo
