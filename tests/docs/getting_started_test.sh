#!/usr/bin/env bash
# Runs docs/GETTING_STARTED.md: every ```sh block, in order, in one bash (as a reader pasting them
# into one shell would), with `set -euo pipefail`, so that any command that fails fails the test.
# Two substitutions, both needed to run on a shared test machine, nothing else:
#  - the first block only chooses paths (it must hold nothing but VAR=value lines); the test
#    chooses temporary ones instead: source = this tree, build, prefix and run directories under
#    a temporary directory, a unique shared-memory name, and PATH/PKG_CONFIG_PATH/LD_LIBRARY_PATH
#    for that prefix, as the page says to do for a prefix other than /usr/local;
#  - `apt-get` does not touch the network or the system: `update` does nothing and `install`
#    checks that every package named is installed (so the page's list is real package names).
# Usage: getting_started_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
doc="$src/docs/GETTING_STARTED.md"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the walk-through runs DPDK, which needs root"; exit 77; }
tmp=$(mktemp -d /tmp/hotspare-docs.XXXXXX)
name="hsgs$$"
pgid=""
cleanup() {
    [ -n "$pgid" ] && kill -9 -- "-$pgid" 2>/dev/null || true
    for f in "$tmp"/run/node*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
    rm -f /dev/shm/"$name".* 2>/dev/null || true
    rm -rf /run/dpdk/hotspare-"$name".* 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# The blocks, in order.
python3 - "$doc" "$tmp/blocks" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"^```sh\n(.*?)^```\s*$", text, flags=re.S | re.M)
os.makedirs(sys.argv[2])
for i, b in enumerate(blocks):
    open(os.path.join(sys.argv[2], "%02d.sh" % i), "w").write(b)
print(len(blocks), "sh blocks")
PY
first="$tmp/blocks/00.sh"
if grep -v -E '^[A-Z_]+=[A-Za-z0-9_$/.{}-]*( +#.*)?$' "$first" | grep -q .; then
    echo "FAIL: the first sh block must only set variables:"; cat "$first"; exit 1
fi
for v in HS_SRC HS_BUILD HS_PREFIX HS_RUN HS_NAME; do
    grep -q "^$v=" "$first" || { echo "FAIL: the first block does not set $v"; exit 1; }
done

{
    echo 'set -euo pipefail'
    echo "HS_SRC='$src'"
    echo "HS_BUILD='$tmp/build'"
    echo "HS_PREFIX='$tmp/prefix'"
    echo "HS_RUN='$tmp/run'"
    echo "HS_NAME='$name'"
    echo 'export PATH=$HS_PREFIX/bin:$PATH PKG_CONFIG_PATH=$HS_PREFIX/lib/pkgconfig LD_LIBRARY_PATH=$HS_PREFIX/lib'
    cat <<'SHIM'
apt-get() {
    [ "$1" = update ] && return 0
    [ "$1" = install ] || { echo "apt-get $1: not expected in the walk-through"; return 1; }
    shift
    local p
    for p in "$@"; do
        case "$p" in -*) continue ;; esac
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            { echo "apt-get install: $p is not an installed Debian package here"; return 1; }
    done
}
SHIM
    for b in "$tmp"/blocks/*.sh; do
        [ "$b" = "$first" ] && continue
        echo "echo '--- GETTING_STARTED.md block $(basename "$b" .sh)'"
        cat "$b"
    done
    echo 'echo "--- GETTING_STARTED.md: every block ran"'
} > "$tmp/walkthrough.sh"

cd "$tmp"
setsid bash "$tmp/walkthrough.sh" > "$tmp/walkthrough.log" 2>&1 &
pid=$!
pgid=$pid
status=0
wait "$pid" || status=$?
pgid=""
if [ $status -ne 0 ]; then
    echo "FAIL: the walk-through stopped (exit $status):"; cat "$tmp/walkthrough.log"
    for f in "$tmp"/run/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
    exit 1
fi
grep -v '^\[[0-9]*/[0-9]*\]' "$tmp/walkthrough.log" | tail -n 40
# What the page promises at the end: node 2 resumed after node 1's last acknowledged number.
acked=$(grep -o 'last acknowledged on node 1: acked [0-9]*' "$tmp/walkthrough.log" | awk '{print $NF}')
resumed=$(grep -o 'TAKEOVER first commit [0-9]*' "$tmp/walkthrough.log" | awk '{print $NF}')
if [ -z "$acked" ] || [ -z "$resumed" ] || [ "$resumed" -le "$acked" ]; then
    echo "FAIL: standby resumed at '${resumed:-?}' after '${acked:-?}' was acknowledged"; exit 1
fi
grep -q 'role: *active' "$tmp/walkthrough.log" || { echo "FAIL: node 2 never said role active"; exit 1; }
[ ! -e "$tmp/run" ] || { echo "FAIL: the clean-up block left $tmp/run"; exit 1; }
ls /dev/shm/"$name".* 2>/dev/null && { echo "FAIL: the clean-up block left segments"; exit 1; }
echo "getting started: every block ran; node 2 took over at $resumed after $acked was acknowledged"
