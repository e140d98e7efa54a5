#!/usr/bin/env bash
# Tables and plots of bench/kvstore_compare.sh's OUT_DIR/ycsb.jsonl: OUT_DIR/kvstore_compare.md
# and, with gnuplot, OUT_DIR/ycsb_throughput.png and OUT_DIR/ycsb_p99.png.
#   bench/kvstore_plot.sh OUT_DIR
set -euo pipefail
OUT=$1
python3 - "$OUT" <<'EOF'
import json, sys, os
out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "ycsb.jsonl")) if l.strip()]
def f(v, d=1):
    return "-" if v is None else f"{v:.{d}f}"
md = ["| system | run | ops/s | read p50 / p99 / max (µs) | update p50 / p99 / max (µs) | failovers | lost acked updates | unavailable max / mean (ms) | unreplicated |",
      "|---|---|---:|---|---|---:|---:|---|---:|"]
for r in rows:
    rd, up = r["read"], r["update"]
    md.append(f"| {r['system']} | {r['run']} | {r['throughput_ops']:.0f} | {f(rd['p50_us'])} / {f(rd['p99_us'])} / {f(rd['max_us'],0)} | "
              f"{f(up['p50_us'])} / {f(up['p99_us'])} / {f(up['max_us'],0)} | {r['failovers']} | {r['lost_updates']} | "
              f"{f(r['unavailable_ms_max'])} / {f(r['unavailable_ms_mean'])} | {r['unreplicated']} |")
by = {(r["system"], r["run"]): r for r in rows}
lines = []
for run in ("A", "B", "A-open"):
    s, w = by.get(("kv-sync", run)), by.get(("redis-wait", run))
    if s and w:
        ru = (s['update']['p99_us'] or 0) / (w['update']['p99_us'] or 1)
        lines.append(f"- workload {run}: kv-sync / redis-wait throughput **{s['throughput_ops']/w['throughput_ops']:.2f}x**; "
                     f"update p99 {f(s['update']['p99_us'])} µs vs {f(w['update']['p99_us'])} µs "
                     f"(kv-sync **{ru:.2f}x** of redis-wait's: {'lower' if ru < 1 else 'higher'}); read p99 "
                     f"{f(s['read']['p99_us'])} vs {f(w['read']['p99_us'])} µs")
open(os.path.join(out, "kvstore_compare.md"), "w").write("\n".join(md + [""] + lines) + "\n")
# gnuplot data: system, A tput, B tput, A upd p99, B upd p99, A read p99
with open(os.path.join(out, "ycsb_bars.dat"), "w") as d:
    d.write("# system A_ops B_ops A_update_p99 B_update_p99 A_read_p99 B_read_p99\n")
    for sysname in ("kv-sync", "kv-async", "redis-wait", "redis-async"):
        a, b = by.get((sysname, "A")), by.get((sysname, "B"))
        if not a or not b: continue
        d.write(f"{sysname} {a['throughput_ops']:.0f} {b['throughput_ops']:.0f} {a['update']['p99_us'] or 0} "
                f"{b['update']['p99_us'] or 0} {a['read']['p99_us'] or 0} {b['read']['p99_us'] or 0}\n")
print("\n".join(md + [""] + lines))
EOF
if command -v gnuplot >/dev/null; then
    gnuplot <<EOF
set terminal pngcairo size 900,500 noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top right
set grid ytics
set yrange [0:*]
set output "$OUT/ycsb_throughput.png"
set title "YCSB closed loop: throughput (higher is better)"
set ylabel "operations per second"
plot "$OUT/ycsb_bars.dat" using 2:xtic(1) title "workload A (50/50)", "" using 3 title "workload B (95/5)"
set output "$OUT/ycsb_p99.png"
set title "YCSB closed loop: p99 latency (lower is better)"
set ylabel "microseconds"
plot "$OUT/ycsb_bars.dat" using 4:xtic(1) title "A update p99", "" using 5 title "B update p99", "" using 6 title "A read p99", "" using 7 title "B read p99"
EOF
fi
