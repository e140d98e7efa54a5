#!/usr/bin/env bash
# The Wireshark dissector (packaging/wireshark/hotspare.lua) against a real replication session:
# two ckptd over the kernel-UDP carrier on loopback, inside a network namespace of the test's own,
# with authenticated frames; tshark captures while ckptctl creates a checkpoint, a section and a
# commit; then tshark decodes the capture with the dissector and the test checks the fields: every
# frame decodes as Hotspare (version, type, nodes, key id), HELLO, HEARTBEAT, ANNOUNCE, SECTION,
# DATA and ACK all appear, the ANNOUNCE names the checkpoint, the SECTION carries its id, a DATA
# frame carries the committed bytes at their offset, and no frame is flagged malformed.
# Usage: dissector_test.sh BUILD_DIR SOURCE_DIR   (root; tshark from scripts/install-deps.sh)
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
lua="$src/packaging/wireshark/hotspare.lua"
ckptd="$build/engine/ckptd"
ckptctl="$build/tools/ckptctl/ckptctl"
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (a network namespace)"; exit 77; fi
command -v tshark >/dev/null || { echo "FAIL: tshark is missing (scripts/install-deps.sh installs it)"; exit 1; }

if [ "${HS_DISSECTOR_IN_NS:-}" != 1 ]; then
    # Everything below runs in a network namespace of its own: loopback only, nothing else on it.
    exec env HS_DISSECTOR_IN_NS=1 unshare -n -- "$0" "$@"
fi
ip link set lo up
tmp=$(mktemp -d /tmp/hotspare-dissector.XXXXXX)
chmod 755 "$tmp"
tag="hsds$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f /dev/shm/"$tag".* 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
    exit 1
}

"$ckptctl" keygen "$tmp/cluster.key" >/dev/null || fail "ckptctl keygen"
p1=7490 p2=7491
conf() { # NODE PORT PEER PEER_PORT
    cat <<EOF
node_id = $1
socket = $tmp/n$1.sock
shm_prefix = $tag.n$1.
state_dir = $tmp/n$1.state
transport = udp
ip = 127.0.0.1
udp_port = $2
peers = $3@127.0.0.1:$4
auth_key_file = $tmp/cluster.key
heartbeat_ms = 50
EOF
}
conf 1 $p1 2 $p2 > "$tmp/n1.conf"
conf 2 $p2 1 $p1 > "$tmp/n2.conf"

# Capture first, so the HELLO handshake is in it.
tshark -i lo -f "udp port $p1 or udp port $p2" -w "$tmp/session.pcapng" -q > "$tmp/tshark-capture.log" 2>&1 &
cap=$!
pids+=($cap)
for _ in $(seq 1000); do grep -q "Capture started" "$tmp/tshark-capture.log" 2>/dev/null && break; sleep 0.02; done
grep -q "Capture started" "$tmp/tshark-capture.log" || fail "tshark did not start capturing"
sleep 0.2 # (the message comes as the capture starts; give the kernel filter a moment)

"$ckptd" --config "$tmp/n1.conf" --log-file "$tmp/n1.log" 2>>"$tmp/n1.log" &
pids+=($!)
"$ckptd" --config "$tmp/n2.conf" --log-file "$tmp/n2.log" 2>>"$tmp/n2.log" &
pids+=($!)
up() { "$ckptctl" --socket "$tmp/n$1.sock" peers 2>/dev/null | awk -v p="$2" '$1 == p {print $2}'; }
for _ in $(seq 1000); do [ "$(up 1 2)" = up ] && [ "$(up 2 1)" = up ] && break; sleep 0.01; done
[ "$(up 1 2)" = up ] && [ "$(up 2 1)" = up ] || fail "the engines did not link up"

ctl1() { "$ckptctl" --socket "$tmp/n1.sock" "$@"; }
ctl1 create dissected --mode sync --max-sections 4 --size 64K --max-section-size 16K > /dev/null ||
    fail "ckptctl create"
ctl1 section-create dissected s1 --size 8K --data "first bytes" > /dev/null || fail "ckptctl section-create"
probe="dissector-probe-0123456789"
ctl1 write dissected s1 --offset 1000 --data "$probe" > /dev/null || fail "ckptctl write"
for _ in $(seq 500); do
    "$ckptctl" --socket "$tmp/n2.sock" dump dissected s1 --raw 2>/dev/null | grep -q "$probe" && break
    sleep 0.01
done
"$ckptctl" --socket "$tmp/n2.sock" dump dissected s1 --raw 2>/dev/null | grep -q "$probe" ||
    fail "the commit did not reach node 2"
sleep 0.3 # a few heartbeats and the last ACKs
kill -INT $cap
wait $cap 2>/dev/null || true

dec() { tshark -r "$tmp/session.pcapng" -X "lua_script:$lua" "$@" 2>>"$tmp/tshark-decode.log"; }
# One pass for the fields (tab-separated, one line per frame), one for the trees, one for the
# summary lines: tshark's start-up is most of the time.
cols=(frame.number hotspare.version hotspare.type hotspare.src_node hotspare.dst_node hotspare.key_id
    hotspare.link_seq hotspare.ack.cumulative hotspare.announce.name hotspare.announce.max_sections
    hotspare.announce.checkpoint_size hotspare.section.op hotspare.section.id hotspare.section.capacity
    hotspare.data.offset hotspare.data.length hotspare.data.payload _ws.expert.severity
    hotspare.announce.join hotspare.hashes.join)
args=()
for c in "${cols[@]}"; do args+=(-e "$c"); done
dec -T fields -E occurrence=f "${args[@]}" > "$tmp/fields.tsv"
dec -V > "$tmp/tree.txt"
dec > "$tmp/summary.txt"
# field N of the line (1-based, in the order of cols)
F() { awk -F'\t' "$1" "$tmp/fields.tsv"; }
total=$(wc -l < "$tmp/fields.tsv")
hs=$(F '$3 != ""' | wc -l)
echo "captured $total frames, $hs decoded as Hotspare"
[ "$total" -gt 10 ] || fail "only $total frames captured"
[ "$hs" = "$total" ] || fail "$hs of $total frames decode as Hotspare"
[ "$(F '$2 != 4' | wc -l)" = 0 ] || fail "a version other than 4"
[ "$(F '$6 == 0' | wc -l)" = 0 ] || fail "an unauthenticated frame"
[ "$(F '$18 != ""' | wc -l)" = 0 ] || { F '$18 != ""' | head -5; fail "frames flagged by the dissector"; }
types=$(F '{print $3}' | sort -un | tr '\n' ' ')
echo "frame types: $types"
for t in 1 2 4 5 6 7; do
    echo " $types" | grep -q " $t " || fail "no frame of type $t (types seen: $types)"
done
bad_nodes=$(F '!(($4 == 1 && $5 == 2) || ($4 == 2 && $5 == 1))' | wc -l)
[ "$bad_nodes" = 0 ] || fail "$bad_nodes frames with other node ids"
# ANNOUNCE names the checkpoint, from node 1, with the attributes it was created with.
[ "$(F '$3 == 6 && $4 == 1 && $9 == "dissected" && $10 == 4 && $11 == 65536' | wc -l)" -ge 1 ] ||
    { F '$3 == 6'; fail "no ANNOUNCE of 'dissected' (4 sections, 64 KiB) from node 1"; }
# The standby's HASHES report answers the ANNOUNCE: it echoes its join id (never 0).
joins=$(F '$3 == 6 && $4 == 1 {print $19}' | sort -u)
[ -n "$joins" ] && ! echo "$joins" | grep -qx '0x0*' || fail "ANNOUNCE without a join id: $joins"
[ "$(F '$3 == 8 && $4 == 2' | wc -l)" -ge 1 ] || fail "no HASHES report from node 2"
stray=$(F '$3 == 8 && $4 == 2 {print $20}' | sort -u | grep -vxF "$joins" || true)
[ -z "$stray" ] || fail "HASHES naming a join no ANNOUNCE started: $stray (ANNOUNCE joins: $joins)"
# SECTION installs "s1" (hex 7331) with its capacity.
[ "$(F '$3 == 7 && $12 == 1 && $13 == "7331" && $14 == 8192' | wc -l)" -ge 1 ] ||
    { F '$3 == 7'; fail "no SECTION install of s1 with 8 KiB"; }
# A DATA frame carries the probe at offset 1000 of the section.
probe_hex=$(printf %s "$probe" | od -An -tx1 | tr -d ' \n')
found=$(F '$3 == 1' | awk -F'\t' -v p="$probe_hex" '{ i = index($17, p)
    if (i > 0 && 1000 - $15 == (i - 1) / 2 && length($17) == 2 * $16) { print "ok"; exit } }')
[ "$found" = ok ] || fail "no DATA frame carries the committed bytes at offset 1000"
# Every sequenced frame node 1 sent was acknowledged: an ACK from node 2 covers the highest link_seq.
last_seq=$(F '$4 == 1 && $7 > 0 {print $7}' | sort -n | tail -1)
acked=$(F '$3 == 2 && $4 == 2 {print $8}' | sort -n | tail -1)
[ -n "$last_seq" ] && [ -n "$acked" ] && [ "$acked" -ge "$last_seq" ] ||
    fail "node 1's frames up to $last_seq, node 2's ACKs cover ${acked:-nothing}"
# The tree and the Info column read as documented.
grep -q "Hotspare replication, DATA" "$tmp/tree.txt" || fail "no DATA tree in -V output"
grep -q "Tag: .* (not verified here)" "$tmp/tree.txt" || fail "no tag in the tree"
grep -q "Key id: 1 (AES-256-GMAC)" "$tmp/tree.txt" || fail "no key id in the tree"
grep -q "DATA 1 -> 2 seq [0-9]*: ckpt [0-9]* slot [0-9]* commit [0-9]* frag 0, [0-9]* B at [0-9]* \[last\]" "$tmp/summary.txt" ||
    { grep DATA "$tmp/summary.txt" | head -3; fail "DATA Info column"; }
grep -q 'ANNOUNCE 1 -> 2 seq [0-9]*: ckpt [0-9]* "dissected"' "$tmp/summary.txt" ||
    { grep ANNOUNCE "$tmp/summary.txt" | head -3; fail "ANNOUNCE Info column"; }
# Wire version 4: a DATA frame with a run table (flag 0x4), as a resync of scattered blocks sends
# them. Written by hand into a pcap (the session above has none): two runs of 4 bytes at offsets
# 256 and 1024; the dissector shows the count, each run and the Info column's "in 2 runs".
for flags in 5 13; do # 13: a write group's member with more to come (flag 0x8)
python3 - "$tmp/runs$flags.pcap" "$flags" <<'PY'
import struct, sys
body = struct.pack(">IIQQQIIQ", 7, 3, 5, 42, 256, 8, 0, 2048) + struct.pack(">I", 2)  # 48-byte fixed part
body += struct.pack(">QI", 256, 4) + struct.pack(">QI", 1024, 4) + b"ABCDWXYZ"
hdr = struct.pack(">IBBHHHHBB", 0x48535052, 4, 1, int(sys.argv[2]), 1, 2, len(body), 1, 0)
hdr += struct.pack(">QQQQ", 65537, (1 << 48) | 9, 0x1234, 77)
udp_payload = hdr + body + bytes(16)
udp = struct.pack(">HHHH", 7490, 7490, 8 + len(udp_payload), 0) + udp_payload
ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
eth = bytes(6) + bytes(6) + b"\x08\x00" + ip + udp
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack("<IIII", 0, 0, len(eth), len(eth)) + eth)
PY
done
cp "$tmp/runs5.pcap" "$tmp/runs.pcap"
runs=$(tshark -r "$tmp/runs.pcap" -X "lua_script:$lua" -T fields -e hotspare.version -e hotspare.data.runs \
    -e hotspare.data.run.offset -e hotspare.data.run.length -e hotspare.data.payload -e hotspare.flags.runs \
    2>>"$tmp/tshark-decode.log")
# The payload field must be exactly the runs' bytes ("ABCDWXYZ"): the table ends where it begins.
case "$runs" in # (a boolean field prints as 1 or True, by tshark version)
"$(printf '4\t2\t256,1024\t4,4\t414243445758595a\t')"1 | "$(printf '4\t2\t256,1024\t4,4\t414243445758595a\t')"True) ;;
*) fail "the DATA run table decodes as: $runs" ;;
esac
tshark -r "$tmp/runs.pcap" -X "lua_script:$lua" 2>>"$tmp/tshark-decode.log" | grep -q "in 2 runs \[last\]" ||
    fail "no 'in 2 runs' in the DATA Info column"
group=$(tshark -r "$tmp/runs13.pcap" -X "lua_script:$lua" -T fields -e hotspare.flags.group 2>>"$tmp/tshark-decode.log")
case "$group" in 1 | True) ;; *) fail "flag 0x8 decodes as: $group" ;; esac
tshark -r "$tmp/runs13.pcap" -X "lua_script:$lua" 2>>"$tmp/tshark-decode.log" | grep -q "\[last\] \[group continues\]" ||
    fail "no '[group continues]' in the DATA Info column"
# Coalesced commits (flag 0x10, docs/PROTOCOL.md "Batches"), written by hand as above: a batch of
# two whole commits of checkpoint 7, the second with a run table; each entry decodes as a DATA body.
python3 - "$tmp/batch.pcap" <<'PY'
import struct, sys
def fixed(slot, seq, off, length, size=2048):
    return struct.pack(">IIQQQIIQ", 7, slot, 5, seq, off, length, 0, size)
e1 = fixed(3, 42, 64, 4) + b"ABCD"
e2 = fixed(4, 44, 256, 8) + struct.pack(">I", 2) + struct.pack(">QI", 256, 4) + struct.pack(">QI", 1024, 4) + b"WXYZwxyz"
body = struct.pack(">IHH", 7, 2, 0)
body += struct.pack(">HHI", 0x1, 0, len(e1)) + e1 + struct.pack(">HHI", 0x5, 0, len(e2)) + e2
hdr = struct.pack(">IBBHHHHBB", 0x48535052, 4, 1, 0x11, 1, 2, len(body), 1, 0)
hdr += struct.pack(">QQQQ", 65537, (1 << 48) | 10, 0x1234, 78)
udp_payload = hdr + body + bytes(16)
udp = struct.pack(">HHHH", 7490, 7490, 8 + len(udp_payload), 0) + udp_payload
ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
eth = bytes(6) + bytes(6) + b"\x08\x00" + ip + udp
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack("<IIII", 0, 0, len(eth), len(eth)) + eth)
PY
batch=$(tshark -r "$tmp/batch.pcap" -X "lua_script:$lua" -T fields -E occurrence=a -e hotspare.flags.batch \
    -e hotspare.data.batch.entries -e hotspare.data.commit_seq -e hotspare.slot -e hotspare.data.payload \
    -e hotspare.data.run.offset -e _ws.expert.severity 2>>"$tmp/tshark-decode.log")
case "$batch" in
"$(printf '1\t2\t42,44\t3,4\t41424344,5758595a7778797a\t256,1024\t')" | \
    "$(printf 'True\t2\t42,44\t3,4\t41424344,5758595a7778797a\t256,1024\t')") ;;
*) fail "the batch decodes as: $batch" ;;
esac
tshark -r "$tmp/batch.pcap" -X "lua_script:$lua" 2>>"$tmp/tshark-decode.log" |
    grep -q "batch of 2 commits (ckpt 7, commits 42, 44) \[last\]" || fail "no 'batch of 2 commits' in the DATA Info column"
echo "dissector: PASS (types $types; ANNOUNCE, SECTION, DATA payload, DATA run table and ACK fields checked, write-group flag, batch)"
