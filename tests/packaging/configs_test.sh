#!/usr/bin/env bash
# The example configuration of every carrier (packaging/conf/*.conf, installed as
# SYSCONFDIR/hotspare/TRANSPORT.conf.example), read by the real ckptd:
#  - each is commented line by line and passes `ckptd --check`;
#  - memif: node 1 from the file and node 2 from the file plus its `# NODE 2:` lines link up;
#  - udp: two engines from the file on loopback (addresses and ports overridden) link up;
#  - af_packet: in a fresh network namespace the file's interface is missing, and ckptd refuses
#    to start naming it; across a veth pair between two namespaces, two engines link up;
#  - pci: with no such device on the host, ckptd refuses to start naming the address.
# Paths (socket, shm_prefix, state_dir, memif socket, DPDK file prefix) are overridden with
# --set, as an operator's drop-in would, so the test never touches /run/hotspare.
# Usage: configs_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
ckptd="$build/engine/ckptd"
ckptctl="$build/tools/ckptctl/ckptctl"
conf="$src/packaging/conf"
tmp=$(mktemp -d /tmp/hotspare-configs.XXXXXX)
tag="hscf$$"
pids=()
netns=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for n in "${netns[@]}"; do ip netns delete "$n" 2>/dev/null || true; done
    rm -f /dev/shm/"$tag".* 2>/dev/null || true
    rm -rf /var/run/dpdk/"$tag".* 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

# Overrides that keep engine N of a test in the temporary directory.
paths() { # NAME
    echo --set "socket=$tmp/$1.sock" --set "shm_prefix=$tag.$1." --set "state_dir=$tmp/$1.state" \
        --set "dpdk_file_prefix=$tag.$1" --set "auth_key_file=$tmp/cluster.key" --log-file "$tmp/$1.log"
}
start() { # NAME [netns] -- ckptd arguments
    local name=$1 ns=$2; shift 2
    if [ -n "$ns" ]; then ip netns exec "$ns" "$ckptd" "$@" $(paths "$name") 2>>"$tmp/$name.log" &
    else "$ckptd" "$@" $(paths "$name") 2>>"$tmp/$name.log" & fi
    pids+=($!)
}
"$ckptctl" keygen "$tmp/cluster.key" >/dev/null || fail "ckptctl keygen"
wait_socket() { for _ in $(seq 1500); do [ -S "$tmp/$1.sock" ] && return 0; sleep 0.01; done; fail "$1: no socket"; }
peer_state() { "$ckptctl" --socket "$tmp/$1.sock" peers 2>/dev/null | awk -v p="$2" '$1 == p {print $2}'; }
wait_up() { # NAME PEER
    for _ in $(seq 1000); do [ "$(peer_state "$1" "$2")" = up ] && return 0; sleep 0.01; done
    "$ckptctl" --socket "$tmp/$1.sock" peers || true
    fail "$1 never saw peer $2 up"
}

# 1. Every file: each setting has a comment right above it (or belongs to a commented group of
#    settings), every carrier has its file, and ckptd --check accepts it as it is.
for t in memif af_packet pci udp; do
    f="$conf/$t.conf"
    [ -f "$f" ] || fail "no example configuration for transport $t"
    awk -v f="$f" '
        /^[ \t]*$/ { prev = "blank"; next }
        /^[ \t]*#/ { prev = "comment"; next }
        { if (prev != "comment" && prev != "setting") { print f ":" NR ": setting without a comment: " $0; bad = 1 }
          prev = "setting" }
        END { exit bad }' "$f" || fail "$t.conf is not commented line by line"
    out=$("$ckptd" --config "$f" --check) || fail "ckptd --check refused $t.conf"
    echo "$out" | grep -q "configuration OK: .*transport $t" || fail "ckptd --check on $t.conf said: $out"
    echo "$t.conf: $out"
done
# The general example (every key, node-local) too.
out=$("$ckptd" --config "$src/packaging/ckptd.conf" --check) || fail "ckptd --check refused ckptd.conf"
echo "$out" | grep -q "configuration OK: .*transport none" || fail "ckptd --check on ckptd.conf said: $out"
# --check refuses a bad file with its line number (and opens nothing).
printf 'node_id = 1\ntransport = carrier-pigeon\n' > "$tmp/bad.conf"
if err=$("$ckptd" --config "$tmp/bad.conf" --check 2>&1); then fail "--check accepted a bad transport"; fi
echo "$err" | grep -q "bad.conf:2:" || fail "--check did not name the line: $err"

# 2. memif: node 1 is the file; node 2 is the file with its `# NODE 2: key = value` lines applied,
#    by the commands docs/OPERATIONS.md (systemd units) gives for it.
sed -n 's/^# NODE 2: *//p' "$conf/memif.conf" > "$tmp/node2.set"
[ "$(wc -l < "$tmp/node2.set")" -ge 8 ] || fail "memif.conf has too few NODE 2 lines"
awk -F' *= *' 'NR==FNR {v[$1]=$2; next} !/^#/ && ($1 in v) {$0 = $1 " = " v[$1]} 1' \
    "$tmp/node2.set" "$conf/memif.conf" > "$tmp/node2.conf"
grep -q '^memif_role = client$' "$tmp/node2.conf" || fail "node2.conf is not the memif client"
start memif1 "" --config "$conf/memif.conf" --set "memif_socket=$tmp/memif.sock"
wait_socket memif1
start memif2 "" --config "$tmp/node2.conf" --set "memif_socket=$tmp/memif.sock"
wait_socket memif2
wait_up memif1 2
wait_up memif2 1
grep -q "transport memif server" "$tmp/memif1.log" || fail "node 1 is not the memif server"
echo "memif.conf: node 1 and node 2 (its NODE 2 lines) linked up"

# 3. udp: both nodes from the file, on loopback with a port each.
p1=$((20000 + $$ % 20000)); p2=$((p1 + 1))
start udp1 "" --config "$conf/udp.conf" --set ip=127.0.0.1 --set "udp_port=$p1" --set "peers=2@127.0.0.1:$p2"
start udp2 "" --config "$conf/udp.conf" --set node_id=2 --set ip=127.0.0.1 --set "udp_port=$p2" \
    --set "peers=1@127.0.0.1:$p1"
wait_socket udp1
wait_socket udp2
wait_up udp1 2
wait_up udp2 1
echo "udp.conf: two engines linked up over loopback"

# 4. pci: no such device here, and the error names it (a NIC bound to vfio-pci is not available
#    on the machines these tests run on; with one, the file's address would simply be used).
addr=$(sed -n 's/^pci_address *= *//p' "$conf/pci.conf")
[ -n "$addr" ] || fail "pci.conf gives no pci_address"
pci_args=()
if [ -e "/sys/bus/pci/devices/$addr" ]; then # the host happens to have it: name one it lacks
    for bus in fe fd fc; do addr="0000:$bus:1f.7"; [ -e "/sys/bus/pci/devices/$addr" ] || break; done
    pci_args=(--set "pci_address=$addr")
fi
set +e
"$ckptd" --config "$conf/pci.conf" "${pci_args[@]}" $(paths pci) 2>"$tmp/pci.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "ckptd started on a PCI device that does not exist"
grep -q "pci_address $addr: no such PCI device" "$tmp/pci.err" || fail "pci error does not name $addr: $(cat "$tmp/pci.err")"
echo "pci.conf: refused with: $(cat "$tmp/pci.err")"

# 5. af_packet: needs network namespaces (root, iproute2) for the rest.
if ! ip netns add "$tag-a" 2>/dev/null; then
    echo "af_packet part skipped: cannot create a network namespace (not root, or no iproute2)"
    exit 0
fi
netns+=("$tag-a")
iface=$(sed -n 's/^af_packet_iface *= *//p' "$conf/af_packet.conf")
set +e
ip netns exec "$tag-a" "$ckptd" --config "$conf/af_packet.conf" $(paths afmiss) 2>"$tmp/af.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "ckptd started on an interface that does not exist"
grep -q "af_packet_iface '$iface': no such network interface" "$tmp/af.err" || fail "af_packet error: $(cat "$tmp/af.err")"
echo "af_packet.conf: in an empty namespace, refused with: $(cat "$tmp/af.err")"
# A veth pair between two namespaces, with the file's addresses: both engines link up.
ip netns add "$tag-b"
netns+=("$tag-b")
ip1=$(sed -n 's/^ip *= *//p' "$conf/af_packet.conf")
ip2=$(sed -n 's/^peers *= *2@//p' "$conf/af_packet.conf")
ip link add "$tag-va" netns "$tag-a" type veth peer name "$tag-vb" netns "$tag-b"
ip -n "$tag-a" addr add "$ip1/24" dev "$tag-va"
ip -n "$tag-b" addr add "$ip2/24" dev "$tag-vb"
ip -n "$tag-a" link set "$tag-va" up
ip -n "$tag-b" link set "$tag-vb" up
start af1 "$tag-a" --config "$conf/af_packet.conf" --set "af_packet_iface=$tag-va"
start af2 "$tag-b" --config "$conf/af_packet.conf" --set "af_packet_iface=$tag-vb" --set node_id=2 \
    --set "ip=$ip2" --set "peers=1@$ip1"
wait_socket af1
wait_socket af2
wait_up af1 2
wait_up af2 1
echo "af_packet.conf: two engines linked up across a veth pair"
echo "configs test: all four example configurations parsed and used by ckptd"
