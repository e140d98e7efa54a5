#!/usr/bin/env bash
# docs/CLUSTER.md's pcs commands (section 4, two nodes; section 5, three nodes), run as written with
# `pcs -f` against an empty offline CIB, with the agent of this build visible as
# ocf:hotspare:ckptd (a read-only overlay in a private mount namespace) and the test fence agent
# standing in for fence_ipmilan and a dummy for the application; then crm_verify must accept the
# result without an error, and it must hold the promotable clone with its meta attributes, the
# colocation of the application with the Promoted role and the promote-then-start order; with two
# nodes the priority-fencing-delay, with three none.
# Usage: docs_pcs_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/hotspare-docs-pcs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v pcs >/dev/null || fail "pcs is missing (scripts/install-deps.sh installs it)"
mkdir -p "$tmp/ocf/hotspare" "$tmp/sbin"
ln -s "$build/packaging/ckptd" "$tmp/ocf/hotspare/ckptd"
cp "$src/tests/cluster/fence_hotspare_netns" "$tmp/sbin/"

# The pcs lines of every code block of section NUMBER ("## N. "), continuation lines joined.
commands() { # NUMBER NODES CIB
    awk -v sec="^## $1\\\\. " '$0 ~ /^## / {s = ($0 ~ sec)} s && /^```/ {inblock = !inblock; next} s && inblock' \
        "$src/docs/CLUSTER.md" |
        sed -e 's/#.*$//' | awk '{ if (sub(/\\[ \t]*$/, "")) { line = line $0 " " } else { print line $0; line = "" } }' |
        grep -E '^pcs ' |
        sed -e "s|^pcs |pcs -f $3 |" \
            -e "s/fence_ipmilan \.\.\./fence_hotspare_netns state_dir=\/tmp pcmk_host_list=\"$(seq -f 'node%g' -s ' ' 1 "$2")\"/" \
            -e 's/systemd:my-telecom-app/ocf:pacemaker:Dummy/'
}

check() { # SECTION NODES
    local sec=$1 nodes=$2 cib="$tmp/cib-$2.xml"
    commands "$sec" "$nodes" "$cib" > "$tmp/commands-$nodes.sh"
    [ "$(wc -l < "$tmp/commands-$nodes.sh")" -ge 7 ] ||
        fail "too few pcs commands in CLUSTER.md section $sec: $(cat "$tmp/commands-$nodes.sh")"
    cibadmin --empty > "$cib"
    unshare -m --propagation private -- bash -ec "
        mount -t overlay overlay -o 'lowerdir=$tmp/ocf:/usr/lib/ocf/resource.d' /usr/lib/ocf/resource.d
        mount -t overlay overlay -o 'lowerdir=$tmp/sbin:/usr/sbin' /usr/sbin
        while read -r line; do
            echo \"\$ \$line\"
            out=\$(eval \"\$line\" 2>&1) || { echo \"\$out\"; exit 1; }
            echo \"\$out\"
            if echo \"\$out\" | grep -qi '^error'; then exit 1; fi
        done < '$tmp/commands-$nodes.sh'
        crm_verify -x '$cib' -V 2>&1 | grep -v 'no nodes' || true
    " > "$tmp/run-$nodes.log" 2>&1 || fail "$nodes nodes: a documented pcs command failed: $(cat "$tmp/run-$nodes.log")"
    cat "$tmp/run-$nodes.log"
    ! grep -qi 'error' "$tmp/run-$nodes.log" || fail "$nodes nodes: crm_verify or pcs reported an error"
    grep -q 'type="ckptd"' "$cib" || fail "$nodes nodes: no ocf:hotspare:ckptd primitive"
    grep -q '<clone id="ckptd-clone"' "$cib" || fail "$nodes nodes: no clone ckptd-clone"
    local meta
    for meta in promotable=true promoted-max=1 clone-node-max=1 priority=1 migration-threshold=1 failure-timeout=10s; do
        grep -q "name=\"${meta%%=*}\" value=\"${meta#*=}\"" "$cib" || fail "$nodes nodes: the clone lacks $meta"
    done
    grep -q 'role="Promoted"' "$cib" || fail "$nodes nodes: no monitor of the Promoted role"
    grep -q 'rsc="app" with-rsc="ckptd-clone" score="INFINITY"[^>]*with-rsc-role="Promoted"' "$cib" ||
        fail "$nodes nodes: no colocation of app with the Promoted role"
    grep -q 'first="ckptd-clone" then="app" first-action="promote" then-action="start"' "$cib" ||
        fail "$nodes nodes: no promote-then-start order"
    grep -q 'name="stonith-enabled" value="true"' "$cib" || fail "$nodes nodes: fencing is not enabled"
    if [ "$nodes" = 2 ]; then
        grep -q 'name="priority-fencing-delay" value="1s"' "$cib" || fail "2 nodes: no priority-fencing-delay"
    else
        ! grep -q 'priority-fencing-delay' "$cib" || fail "3 nodes: priority-fencing-delay is set"
    fi
    echo "docs_pcs: $nodes nodes: PASS"
}

check 4 2
check 5 3
echo "docs_pcs: PASS"
