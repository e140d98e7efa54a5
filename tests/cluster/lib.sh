# tests/cluster/lib.sh: real Corosync + Pacemaker clusters of 2 or 3 nodes on one host, each node
# a set of namespaces, each running its own ckptd under the resource agent ocf:hotspare:ckptd.
# Sourced by the cluster tests, the soak runs and the demo (bash; set -e friendly).
#
# A node is a holder process (`sleep infinity`) in its own network, mount and UTS namespaces
# (hostname = node name). No PID namespace: the host and the fence agent see and kill a node's
# processes. Its network: a veth into a bridge that lives in a "switch" namespace of its own (the
# host's network is untouched), address 10.213.0.N/24. Its mounts (private to it): tmpfs on /run
# and /dev/shm; per-node directories on /etc/corosync, /var/lib/corosync, /var/log/corosync,
# /var/lib/pacemaker, /var/log/pacemaker, /etc/hotspare; read-only overlays that add the
# agents of this build to /usr/lib/ocf/resource.d (hotspare/ckptd) and /usr/sbin
# (fence_hotspare_netns), so nothing is installed on the host.
#
# The cluster: one corosync.conf (knet, aes256/sha256, a static nodelist, two_node for two),
# token HC_TOKEN_MS (1000 by default; 500 is the fast setting), token_coefficient 0; a pre-seeded
# CIB (dc-deadtime 2s, fencing on with fence_hotspare_netns and priority-fencing-delay (a two-node partition: the promoted side wins), the
# promotable clone ckptd-clone, optionally an application colocated with the Promoted role).
# ckptd: memif between two nodes (HC_TRANSPORT=memif, the socket in a directory all nodes see)
# or kernel UDP between the namespaces (udp, any number of nodes).
#
# Usage:
#   . tests/cluster/lib.sh
#   hc_init BUILD_DIR NODES          # work directory, trap-free: call hc_cleanup from yours
#   hc_app "BINARY ARGS"             # optional: an application colocated with the promoted role
#   hc_start                         # every node up, wait for exactly one promoted
#   hc_promoted / hc_settled / hc_kill_node N / hc_restart_node N / hc_exec N CMD...
#   hc_cleanup                       # kills every process of every node, removes the namespaces' files

# Sanitizer builds (HC_SANITIZE = meson's b_sanitize, set by tests/cluster/meson.build): Pacemaker's
# executor starts ckptd, ckptctl and ckptstat with an environment of its own, without our
# ASAN_OPTIONS / UBSAN_OPTIONS. So every binary of the build that runs inside the cluster (the
# agent's ckptd, ckptctl and ckptstat, the application) runs through a wrapper in $HC_WORK/bin
# that sets them, with each report written to $HC_WORK/shared/sanitizer.*.PID (the process goes
# on after a leak report or an ASan error it survives; UBSan halts). hc_sanitizer_reports fails
# the test on any report.
HC_SANITIZE=${HC_SANITIZE:-none}
HC_TOKEN_MS=${HC_TOKEN_MS:-1000}
HC_TRANSPORT=${HC_TRANSPORT:-udp}
HC_SUBNET=${HC_SUBNET:-10.213.0}
HC_CKPTD_EXTRA=${HC_CKPTD_EXTRA:-} # more lines for every node's ckptd.conf
HC_APP=""
HC_APP_LOG=""

hc_log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
hc_die() {
    hc_log "FAIL: $*"
    hc_dump_logs
    exit 1
}

hc_init() { # BUILD_DIR NODES
    HC_BUILD=$(cd "$1" && pwd)
    HC_NODES=$2
    HC_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    HC_WORK=$(mktemp -d /tmp/hotspare-cluster.XXXXXX)
    chmod 755 "$HC_WORK"
    HC_TAG="hc$$"
    HC_SWITCH=""
    declare -gA HC_HOLDER=()
    mkdir -p "$HC_WORK/shared" "$HC_WORK/ocf/hotspare" "$HC_WORK/sbin"
    chmod 1777 "$HC_WORK/shared"
    ln -s "$HC_BUILD/packaging/ckptd" "$HC_WORK/ocf/hotspare/ckptd"
    ln -s "$HC_SRC/tests/cluster/app_agent" "$HC_WORK/ocf/hotspare/app"
    cp "$HC_SRC/tests/cluster/fence_hotspare_netns" "$HC_WORK/sbin/"
    chmod 755 "$HC_WORK/sbin/fence_hotspare_netns"
    corosync-keygen -l -k "$HC_WORK/authkey" >/dev/null 2>&1 || corosync-keygen -k "$HC_WORK/authkey" >/dev/null
    hc_wrappers
    # The cluster key of the engines' replication frames (each node gets a 0600 copy).
    "$HC_BUILD/tools/ckptctl/ckptctl" keygen "$HC_WORK/ckpt-cluster.key" >/dev/null
    # Mounts made inside a node must never reach the host: the node's mount namespace is made
    # private. In a chroot whose / is a plain directory, "/" is no mount point and that fails;
    # then the namespace keeps the propagation it has (a container's root is private already).
    HC_PROPAGATION=private
    if ! unshare -m --propagation private -- true 2>/dev/null; then
        HC_PROPAGATION=unchanged
        hc_log "/ is not a mount point (a chroot?): node mount namespaces keep their propagation"
    fi
    for cmd in corosync pacemakerd crm_mon crm_attribute cibadmin; do
        command -v $cmd >/dev/null || hc_die "$cmd is missing (scripts/install-deps.sh installs the cluster stack)"
    done
}

# The path to run for a binary of the build (BUILD-relative), as the cluster runs it: the binary
# itself, or in a sanitizer build its wrapper.
hc_bin() { # RELATIVE_PATH
    if [ "$HC_SANITIZE" = none ]; then echo "$HC_BUILD/$1"; else echo "$HC_WORK/bin/$(basename "$1")"; fi
}

hc_wrappers() {
    [ "$HC_SANITIZE" = none ] && return 0
    local rel w
    mkdir -p "$HC_WORK/bin"
    for rel in engine/ckptd tools/ckptctl/ckptctl tools/ckptstat/ckptstat demo/ckpt_demo \
               examples/kvstore/hotspare-kvstore; do
        w="$HC_WORK/bin/$(basename "$rel")"
        {
            echo '#!/bin/sh'
            echo "# $HC_SANITIZE build: the sanitizers' options, which pacemaker-execd does not pass on"
            echo "ASAN_OPTIONS='log_path=$HC_WORK/shared/sanitizer.asan:detect_leaks=1:abort_on_error=0' \\"
            echo "UBSAN_OPTIONS='log_path=$HC_WORK/shared/sanitizer.ubsan:halt_on_error=1:print_stacktrace=1' \\"
            echo "exec '$HC_BUILD/$rel' \"\$@\""
        } > "$w"
        chmod 755 "$w"
    done
    hc_log "$HC_SANITIZE build: the cluster runs the binaries through wrappers in $HC_WORK/bin"
}

# Prints every sanitizer report the cluster's processes wrote; non-zero when there is one.
hc_sanitizer_reports() {
    local f found=1
    for f in "$HC_WORK"/shared/sanitizer.*; do
        [ -f "$f" ] || continue
        echo "--- sanitizer report $f"
        head -n 60 "$f"
        found=0
    done
    [ $found = 1 ]
}

hc_name() { echo "node$1"; }

# Runs a command inside node N's namespaces.
hc_exec() { # N CMD...
    local n=$1; shift
    nsenter -t "${HC_HOLDER[$n]}" -n -m -u -r -w -- "$@"
}

hc_app() { # "COMMAND LINE" run by ocf:hotspare:app (tests/cluster/app_agent) on the promoted node
    HC_APP=$1
    HC_APP_LOG="$HC_WORK/shared/app.log"
}

hc_switch() {
    [ -n "$HC_SWITCH" ] && return 0
    unshare -n -- sleep infinity &
    HC_SWITCH=$!
    disown $HC_SWITCH
    for _ in $(seq 100); do [ "$(stat -L -c %i /proc/$HC_SWITCH/ns/net)" != "$(stat -L -c %i /proc/self/ns/net)" ] && break; sleep 0.01; done
    nsenter -t "$HC_SWITCH" -n -- sh -c 'ip link add br0 type bridge && ip link set br0 up && ip link set lo up'
}

hc_corosync_conf() {
    local n
    cat <<EOF
totem {
    version: 2
    cluster_name: hotspare
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
    token: $HC_TOKEN_MS
    token_coefficient: 0
}
nodelist {
EOF
    for n in $(seq 1 "$HC_NODES"); do
        printf '    node {\n        ring0_addr: %s.%d\n        name: %s\n        nodeid: %d\n    }\n' \
            "$HC_SUBNET" "$n" "$(hc_name "$n")" "$n"
    done
    cat <<EOF
}
quorum {
    provider: corosync_votequorum
$([ "$HC_NODES" = 2 ] && echo "    two_node: 1")
}
logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: hires
}
EOF
}

hc_ckptd_conf() { # N
    local n=$1 peers="" p
    for p in $(seq 1 "$HC_NODES"); do
        [ "$p" = "$n" ] && continue
        if [ "$HC_TRANSPORT" = udp ]; then peers="$peers${peers:+,}$p@$HC_SUBNET.$p"; else peers="$peers${peers:+,}$p"; fi
    done
    cat <<EOF
# ckptd of $(hc_name "$n"), written by tests/cluster/lib.sh
node_id = $n
socket = /run/hotspare/ckptd.sock
shm_prefix = hotspare.$n.
state_dir = /var/lib/hotspare
log_file = $HC_WORK/shared/ckptd-$(hc_name "$n").log
peers = $peers
heartbeat_ms = 50
peer_timeout_ms = 1000
auth_key_file = /etc/hotspare/cluster.key
fence_peer_command = $HC_SRC/packaging/ocf/hotspare-fence-peer
EOF
    [ -z "${HC_CKPTD_EXTRA:-}" ] || echo "$HC_CKPTD_EXTRA"
    if [ "$HC_TRANSPORT" = udp ]; then
        echo "transport = udp"
        echo "ip = $HC_SUBNET.$n"
    else
        echo "transport = memif"
        echo "memif_socket = $HC_WORK/shared/memif.sock"
        echo "memif_role = $([ "$n" = 1 ] && echo server || echo client)"
        echo "dpdk_lcores = $(((n - 1) % $(nproc)))"
        echo "dpdk_file_prefix = hotspare-$HC_TAG-$n"
    fi
}

# The pre-seeded CIB: cluster options, fencing, the promotable clone, the application.
hc_cib() {
    local n hosts=""
    for n in $(seq 1 "$HC_NODES"); do hosts="$hosts $(hc_name "$n")"; done
    hosts=${hosts# }
    local features
    features=$(pacemakerd --features | sed -n 's/.*Supporting v\([0-9.]*\):.*/\1/p')
    cat <<EOF
<cib crm_feature_set="${features:-3.16.1}" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="opt-stonith-enabled" name="stonith-enabled" value="true"/>
        <nvpair id="opt-dc-deadtime" name="dc-deadtime" value="2s"/>
        <nvpair id="opt-no-quorum-policy" name="no-quorum-policy" value="stop"/>
        <nvpair id="opt-cluster-name" name="cluster-name" value="hotspare"/>
        <nvpair id="opt-stonith-timeout" name="stonith-timeout" value="30s"/>
        <nvpair id="opt-start-failure-is-fatal" name="start-failure-is-fatal" value="false"/>
        <nvpair id="opt-priority-fencing-delay" name="priority-fencing-delay" value="${HC_FENCING_DELAY:-1s}"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources>
      <primitive id="fence" class="stonith" type="fence_hotspare_netns">
        <instance_attributes id="fence-ia">
          <nvpair id="fence-state-dir" name="state_dir" value="$HC_WORK"/>
          <nvpair id="fence-nodes" name="nodes" value="$hosts"/>
          <nvpair id="fence-host-list" name="pcmk_host_list" value="$hosts"/>
        </instance_attributes>
        <operations>
          <op id="fence-monitor" name="monitor" interval="60s"/>
        </operations>
      </primitive>
      <clone id="ckptd-clone">
        <meta_attributes id="ckptd-clone-meta">
          <nvpair id="ckptd-clone-promotable" name="promotable" value="true"/>
          <nvpair id="ckptd-clone-promoted-max" name="promoted-max" value="1"/>
          <nvpair id="ckptd-clone-clone-node-max" name="clone-node-max" value="1"/>
          <nvpair id="ckptd-clone-priority" name="priority" value="1"/>
          <nvpair id="ckptd-clone-migration-threshold" name="migration-threshold" value="1"/>
          <nvpair id="ckptd-clone-failure-timeout" name="failure-timeout" value="${HC_FAILURE_TIMEOUT:-10s}"/>
        </meta_attributes>
        <primitive id="ckptd" class="ocf" provider="hotspare" type="ckptd">
          <instance_attributes id="ckptd-ia">
            <nvpair id="ckptd-config" name="config" value="/etc/hotspare/ckptd.conf"/>
            <nvpair id="ckptd-bin" name="ckptd" value="$(hc_bin engine/ckptd)"/>
            <nvpair id="ckptd-ctl" name="ckptctl" value="$(hc_bin tools/ckptctl/ckptctl)"/>
            <nvpair id="ckptd-stat" name="ckptstat" value="$(hc_bin tools/ckptstat/ckptstat)"/>
            <nvpair id="ckptd-events" name="events_file" value="$HC_WORK/shared/events"/>
          </instance_attributes>
          <operations>
            <op id="ckptd-start" name="start" interval="0" timeout="30s"/>
            <op id="ckptd-stop" name="stop" interval="0" timeout="30s"/>
            <op id="ckptd-promote" name="promote" interval="0" timeout="30s"/>
            <op id="ckptd-demote" name="demote" interval="0" timeout="30s"/>
            <op id="ckptd-monitor-promoted" name="monitor" interval="1s" timeout="20s" role="Promoted"/>
            <op id="ckptd-monitor-unpromoted" name="monitor" interval="2s" timeout="20s" role="Unpromoted"/>
          </operations>
        </primitive>
      </clone>
EOF
    if [ -n "$HC_APP" ]; then
        cat <<EOF
      <primitive id="app" class="ocf" provider="hotspare" type="app">
        <instance_attributes id="app-ia">
          <nvpair id="app-command" name="command" value="$HC_APP"/>
          <nvpair id="app-log" name="log" value="$HC_APP_LOG"/>
        </instance_attributes>
        <meta_attributes id="app-meta">
          <nvpair id="app-failure-timeout" name="failure-timeout" value="120s"/>
        </meta_attributes>
        <operations>
          <op id="app-monitor" name="monitor" interval="1s" timeout="10s"/>
          <op id="app-start" name="start" interval="0" timeout="20s"/>
          <op id="app-stop" name="stop" interval="0" timeout="20s"/>
        </operations>
      </primitive>
EOF
    fi
    echo "    </resources>"
    echo "    <constraints>"
    if [ -n "$HC_APP" ]; then
        cat <<EOF
      <rsc_colocation id="app-with-promoted" score="INFINITY" rsc="app" with-rsc="ckptd-clone" with-rsc-role="Promoted"/>
      <rsc_order id="promote-then-app" kind="Mandatory" first="ckptd-clone" first-action="promote" then="app" then-action="start"/>
EOF
    fi
    cat <<EOF
    </constraints>
    <rsc_defaults>
      <meta_attributes id="rsc-defaults">
        <nvpair id="rsc-defaults-stickiness" name="resource-stickiness" value="1"/>
      </meta_attributes>
    </rsc_defaults>
  </configuration>
  <status/>
</cib>
EOF
}

# Creates node N's namespaces, network and mounts (not its processes).
hc_node_create() { # N
    local n=$1 name dir h
    name=$(hc_name "$n")
    dir="$HC_WORK/$name"
    hc_switch
    mkdir -p "$dir"/{etc-corosync,lib-corosync,log-corosync,etc-hotspare}
    rm -rf "$dir/lib-pacemaker" "$dir/log-pacemaker"
    cp -a /var/lib/pacemaker "$dir/lib-pacemaker"
    cp -a /var/log/pacemaker "$dir/log-pacemaker"
    find "$dir/lib-pacemaker" "$dir/log-pacemaker" -type f -delete
    hc_corosync_conf > "$dir/etc-corosync/corosync.conf"
    install -m 0400 "$HC_WORK/authkey" "$dir/etc-corosync/authkey"
    hc_cib > "$dir/lib-pacemaker/cib/cib.xml"
    chown hacluster:haclient "$dir/lib-pacemaker/cib/cib.xml"
    chmod 0600 "$dir/lib-pacemaker/cib/cib.xml"
    hc_ckptd_conf "$n" > "$dir/etc-hotspare/ckptd.conf"
    install -m 0600 "$HC_WORK/ckpt-cluster.key" "$dir/etc-hotspare/cluster.key"
    unshare -n -m -u --propagation "$HC_PROPAGATION" -- sleep infinity &
    h=$!
    disown $h
    HC_HOLDER[$n]=$h
    for _ in $(seq 200); do
        [ "$(stat -L -c %i /proc/"$h"/ns/net 2>/dev/null)" != "$(stat -L -c %i /proc/self/ns/net)" ] && break
        sleep 0.01
    done
    stat -L -c %i /proc/"$h"/ns/net > "$HC_WORK/$name.netns"
    echo "$h" > "$HC_WORK/$name.holder"
    nsenter -t "$HC_SWITCH" -n -- ip link add "$HC_TAG-$n" type veth peer name eth0 netns "$h"
    nsenter -t "$HC_SWITCH" -n -- ip link set "$HC_TAG-$n" master br0 up
    nsenter -t "$h" -n -u -- sh -c "hostname $name && ip link set lo up && ip addr add $HC_SUBNET.$n/24 dev eth0 && ip link set eth0 up"
    nsenter -t "$h" -m -r -w -- sh -ec "
        mount -t tmpfs -o mode=0755 tmpfs /run
        mkdir -p /run/lock /run/hotspare /run/resource-agents
        mount -t tmpfs -o mode=1777 tmpfs /dev/shm
        mount --bind '$dir/etc-corosync' /etc/corosync
        mkdir -p /var/lib/corosync /var/log/corosync
        mount --bind '$dir/lib-corosync' /var/lib/corosync
        mount --bind '$dir/log-corosync' /var/log/corosync
        mount --bind '$dir/lib-pacemaker' /var/lib/pacemaker
        mount --bind '$dir/log-pacemaker' /var/log/pacemaker
        mkdir -p /etc/hotspare
        mount --bind '$dir/etc-hotspare' /etc/hotspare
        mount -t overlay overlay -o 'lowerdir=$HC_WORK/ocf:/usr/lib/ocf/resource.d' /usr/lib/ocf/resource.d
        mount -t overlay overlay -o 'lowerdir=$HC_WORK/sbin:/usr/sbin' /usr/sbin"
}

# Starts corosync, waits until it answers, then pacemakerd (all inside node N).
hc_node_start() { # N
    local n=$1 name
    name=$(hc_name "$n")
    hc_exec "$n" setsid "$HC_SRC/tests/cluster/subreaper" corosync -f > "$HC_WORK/$name/corosync.out" 2>&1 < /dev/null &
    disown $!
    for _ in $(seq 300); do
        hc_exec "$n" corosync-cfgtool -s > /dev/null 2>&1 && break
        sleep 0.05
    done
    hc_exec "$n" corosync-cfgtool -s > /dev/null 2>&1 || hc_die "$name: corosync did not start"
    # Under a subreaper: the daemons the agents start are reaped as soon as they die.
    hc_exec "$n" setsid "$HC_SRC/tests/cluster/subreaper" pacemakerd > "$HC_WORK/$name/pacemakerd.out" 2>&1 < /dev/null &
    disown $!
}

hc_start() {
    local n
    for n in $(seq 1 "$HC_NODES"); do hc_node_create "$n"; done
    for n in $(seq 1 "$HC_NODES"); do hc_node_start "$n"; done
    hc_wait_settled 120 || hc_die "the cluster did not settle with one promoted node"
}

# "NODE ROLE" lines for the ckptd clone, as node N's crm_mon sees them (roles: Promoted,
# Unpromoted, Started, Stopped...), plus "app NODE" when the application runs.
hc_roles() { # [N]
    local n=${1:-$(hc_any_node)}
    hc_exec "$n" crm_mon -1 --output-as=xml 2>/dev/null | python3 -c '
import sys, xml.etree.ElementTree as ET
try:
    root = ET.fromstring(sys.stdin.read())
except ET.ParseError:
    sys.exit(0)
for r in root.iter("resource"):
    rid = r.get("id", "")
    for node in r.iter("node"):
        if rid.startswith("ckptd"):
            print(node.get("name"), r.get("role"))
        elif rid == "app":
            print("app", node.get("name"))
'
}

# A node whose cluster stack runs (the first live one).
hc_any_node() {
    local n
    for n in $(seq 1 "$HC_NODES"); do
        if [ -n "${HC_HOLDER[$n]:-}" ] && kill -0 "${HC_HOLDER[$n]}" 2>/dev/null; then echo "$n"; return; fi
    done
    echo 1
}

hc_promoted() { hc_roles "$@" | awk '$2 == "Promoted" {print $1}'; }

# Settled: every live node online, exactly one promoted, every other live node unpromoted, the
# application (when there is one) running on the promoted node, no action pending.
hc_settled() {
    local n live=0 roles promoted unpromoted
    for n in $(seq 1 "$HC_NODES"); do kill -0 "${HC_HOLDER[$n]:-0}" 2>/dev/null && live=$((live + 1)); done
    roles=$(hc_roles) || return 1
    promoted=$(echo "$roles" | awk '$2 == "Promoted"' | wc -l)
    unpromoted=$(echo "$roles" | awk '$2 == "Unpromoted"' | wc -l)
    [ "$promoted" = 1 ] && [ $((promoted + unpromoted)) = "$live" ] || return 1
    if [ -n "$HC_APP" ]; then
        [ "$(echo "$roles" | awk '$1 == "app" {print $2}')" = "$(echo "$roles" | awk '$2 == "Promoted" {print $1}')" ] || return 1
    fi
    return 0
}

hc_wait_settled() { # SECONDS
    local end=$(($(date +%s) + $1))
    while [ "$(date +%s)" -lt "$end" ]; do
        hc_settled && return 0
        sleep 0.3
    done
    return 1
}

# SIGKILLs every process of node N (what the fence agent does): the node is gone.
hc_kill_node() { # N
    local n=$1 name
    name=$(hc_name "$n")
    "$HC_WORK/sbin/fence_hotspare_netns" -o off -n "$name" -s "$HC_WORK" < /dev/null > /dev/null
    HC_HOLDER[$n]=""
}

# A killed (or fenced) node boots again: new namespaces, its cluster stack, the same directories.
hc_restart_node() { # N
    local n=$1
    hc_kill_node "$n"
    hc_node_create "$n"
    hc_node_start "$n"
}

# The pid of a process named NAME inside node N ("" if none).
hc_pid_of() { # N NAME
    local inode p
    inode=$(cat "$HC_WORK/$(hc_name "$1").netns")
    for p in $(pgrep -x "$2"); do
        [ "$(stat -L -c %i /proc/"$p"/ns/net 2>/dev/null)" = "$inode" ] && { echo "$p"; return 0; }
    done
    return 0
}

hc_dump_logs() {
    [ -n "${HC_WORK:-}" ] && [ -d "$HC_WORK" ] || return 0
    local f
    for f in "$HC_WORK"/shared/events "$HC_WORK"/fence.log "$HC_WORK"/shared/ckptd-*.log; do
        [ -f "$f" ] && { echo "--- $f"; tail -n 60 "$f"; }
    done
    for f in "$HC_WORK"/node*/log-pacemaker/pacemaker.log; do
        [ -f "$f" ] && { echo "--- $f (errors)"; grep -E 'error|warning|crit' "$f" | tail -n 30; }
    done
    [ -n "$HC_APP_LOG" ] && [ -f "$HC_APP_LOG" ] && { echo "--- $HC_APP_LOG"; tail -n 20 "$HC_APP_LOG"; }
    return 0
}

hc_cleanup() {
    local n
    [ -n "${HC_WORK:-}" ] || return 0
    for n in $(seq 1 "${HC_NODES:-0}"); do
        [ -f "$HC_WORK/$(hc_name "$n").netns" ] && hc_kill_node "$n"
    done
    [ -n "${HC_SWITCH:-}" ] && kill -9 "$HC_SWITCH" 2>/dev/null
    wait 2>/dev/null || true
    [ -n "${HC_KEEP:-}" ] && { hc_log "kept $HC_WORK"; return 0; }
    rm -rf "$HC_WORK"
}
