#!/usr/bin/env bash
# bench/suite_report.py on a made-up results directory: the rows of every tool are merged, each
# target counted once as pass or short exactly as its tool judged it (two targets in one row count
# twice), a missing tool and a tool's own errors are reported (exit 1), the micro-benchmark table
# is taken from its Markdown, and the CDF data follow the samples (a PNG when gnuplot is present).
#   usage: suite_report_test.sh SOURCE_DIR
set -uo pipefail
src=${1:?source dir}
dir=$(mktemp -d /tmp/hotspare-suite-report-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

mkdir -p "$dir/samples"
cat >"$dir/micro.md" <<'MD'
| figure | median | baseline (same run) | baseline | ratio | cv over 5 reps | target |
|---|---:|---|---:|---:|---:|---|
| async commit() call p50 | 146 ns | ping-pong | 119 ns | 1.23x | 5% | <= 100 ns: **MISSED** |
| commit cost at 1 GiB | 136 ns | same at 4 KiB | 131 ns | 1.04x | 2% | flat: met |
| zero-copy read | 6.7 ns | copying read | 14.1 ns | 0.48x | 2% |  |
MD
cat >"$dir/e2e.json" <<'JSON'
{"run": {"command": "ckpt_e2e --quick", "pinning": "A 0, B 1"},
 "rows": [
  {"figure": "sync 64 B", "key": "ours.memif.busy.sync.64", "ours": 4.3, "ours_text": "4.3", "baseline": "raw",
   "baseline_value": 1.1, "baseline_text": "1.1", "ratio": 3.9, "ratio_text": "3.9x",
   "target": "p50 <= raw + 1 us: **MISSED** (+3.2 us); p99 <= 2x p50: met (1.3x)", "verdict": "missed"},
  {"figure": "open loop", "key": "k", "ours": 1, "baseline": "b", "baseline_value": 1, "ratio": 1,
   "target": "", "verdict": ""},
  {"figure": "vs Redis", "key": "k2", "ours": 11, "baseline": "redis", "baseline_value": 78, "ratio": 0.14,
   "target": ">= 3x faster than Redis at p50: met", "verdict": "met"}],
 "values": {}, "errors": []}
JSON
cat >"$dir/observe.json" <<'JSON'
{"run": {}, "rows": [], "values": {}, "errors": ["iox: RouDi did not start"]}
JSON
seq 1000 1000 500000 >"$dir/samples/ours.memif.busy.sync.64.ns"
seq 500 500 200000 >"$dir/samples/raw.memif.msg.64.ns"

python3 "$src/bench/suite_report.py" "$dir" >"$dir/out.md" 2>"$dir/err.txt"
rc=$?
[ "$rc" -eq 1 ] || fail "exit $rc, expected 1 (scale.json is missing and observe reported an error)"
python3 - "$dir/suite.json" <<'PY' || exit 1
import json, sys
s = json.load(open(sys.argv[1]))
got = sorted((x["target"], x["result"]) for x in s["summary"])
want = sorted([("<= 100 ns: MISSED", "short"), ("flat: met", "pass"),
               ("p50 <= raw + 1 us: MISSED (+3.2 us)", "short"), ("p99 <= 2x p50: met (1.3x)", "pass"),
               (">= 3x faster than Redis at p50: met", "pass")])
if got != want:
    sys.exit(f"FAIL: summary {got}\n   expected {want}")
errs = " | ".join(s["errors"])
for needle in ("scale.json missing", "RouDi did not start"):
    if needle not in errs:
        sys.exit(f"FAIL: error '{needle}' not reported: {errs}")
if len(s["sections"]) != 3:  # micro, e2e, observe
    sys.exit(f"FAIL: {len(s['sections'])} sections")
PY
grep -q '^3 pass, 2 short\.$' "$dir/suite.md" || fail "suite.md has no '3 pass, 2 short.' line"
grep -q '| vs Redis | 11 | redis | 78 | 0.14 |' "$dir/suite.md" || fail "a row lost its values in suite.md"
[ -s "$dir/cdf/cdf-memif.0.dat" ] || fail "no CDF data for the memif samples"
last=$(tail -1 "$dir/cdf/cdf-memif.0.dat")
[ "$last" = "500.000 1.000000" ] || fail "the CDF does not end at the largest sample (got '$last')"
if command -v gnuplot >/dev/null; then
    [ -s "$dir/cdf-memif.png" ] || fail "gnuplot is installed but no PNG was drawn"
fi
echo "suite_report: merged rows, targets, errors and CDFs as expected"
