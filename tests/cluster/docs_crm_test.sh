#!/usr/bin/env bash
# docs/CLUSTER.md's crm commands (section 4, two nodes), run as written against an offline CIB
# (CIB_file), with the agent of this build visible as ocf:hotspare:ckptd (a read-only overlay in a
# private mount namespace) and the test fence agent standing in for fence_ipmilan and a dummy for
# the application; then crm_verify must accept the result, and it must hold the promotable clone,
# the colocation with the Promoted role and the promote-then-start order.
# Usage: docs_crm_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/hotspare-docs-crm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v crm >/dev/null || fail "crm (crmsh) is missing"
mkdir -p "$tmp/ocf/hotspare"
ln -s "$build/packaging/ckptd" "$tmp/ocf/hotspare/ckptd"
# The commands: the first ``` block of section 4, continuation lines joined.
awk '/^## 4\. Two nodes/ {s = 1} s && /^```/ {n++; next} s && n == 1' "$src/docs/CLUSTER.md" |
    sed -e 's/#.*$//' | awk '{ if (sub(/\\[ \t]*$/, "")) { line = line $0 " " } else { print line $0; line = "" } }' |
    grep -E '^crm ' |
    sed -e 's/stonith:fence_ipmilan params \.\.\./stonith:fence_hotspare_netns params state_dir=\/tmp pcmk_host_list="node1 node2"/' \
        -e 's/systemd:my-telecom-app/ocf:pacemaker:Dummy/' > "$tmp/commands.sh"
[ "$(wc -l < "$tmp/commands.sh")" -ge 8 ] || fail "too few crm commands found in CLUSTER.md section 4: $(cat "$tmp/commands.sh")"
cibadmin --empty > "$tmp/cib.xml"
cp "$src/tests/cluster/fence_hotspare_netns" "$tmp/fence_hotspare_netns"
mkdir -p "$tmp/sbin" && mv "$tmp/fence_hotspare_netns" "$tmp/sbin/"
unshare -m --propagation private -- bash -ec "
    mount -t overlay overlay -o 'lowerdir=$tmp/ocf:/usr/lib/ocf/resource.d' /usr/lib/ocf/resource.d
    mount -t overlay overlay -o 'lowerdir=$tmp/sbin:/usr/sbin' /usr/sbin
    export CIB_file='$tmp/cib.xml'
    while read -r line; do
        echo \"\$ \$line\"
        out=\$(eval \"\$line\" 2>&1) || { echo \"\$out\"; exit 1; }
        if echo \"\$out\" | grep -q ERROR; then echo \"\$out\"; exit 1; fi
    done < '$tmp/commands.sh'
    crm_verify -x '$tmp/cib.xml' -V 2>&1 | grep -v 'no nodes' || true
" > "$tmp/run.log" 2>&1 || fail "a documented command failed: $(cat "$tmp/run.log")"
cat "$tmp/run.log"
grep -q 'name="promotable" value="true"' "$tmp/cib.xml" || fail "no promotable clone in the CIB"
grep -q 'with-rsc-role="Promoted"' "$tmp/cib.xml" || fail "no colocation with the Promoted role"
grep -q 'first-action="promote"' "$tmp/cib.xml" || fail "no promote-then-start order"
grep -q 'type="ckptd"' "$tmp/cib.xml" || fail "no ocf:hotspare:ckptd primitive"
echo "docs_crm: PASS"
