#!/usr/bin/env bash
# Plots and a table of bench/hotspare_commit's JSON lines:
#   bench/hotspare_plot.sh ROWS.jsonl OUT_DIR
# OUT_DIR/hotspare_size.png (cost vs registered size, 10% dirty in runs of four),
# OUT_DIR/hotspare_fraction.png (cost vs dirty fraction at 4 MiB), OUT_DIR/hotspare_fixed.png
# (cost vs registered size with 256 dirty pages), OUT_DIR/hotspare_commit.md (the numbers and the
# transparent/explicit ratios).
set -euo pipefail
IN=$1
OUT=$2
mkdir -p "$OUT"
python3 - "$IN" "$OUT" <<'PY'
import json, sys, os, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = sys.argv[2]
modes = ["explicit", "transparent", "full_copy", "fork_pipe"]
md = []
for series, xname in (("size", "registered"), ("fraction", "dirty"), ("fixed", "registered")):
    pts = collections.defaultdict(dict)
    for r in rows:
        if r["series"] != series: continue
        x = r["bytes"] / 2**20 if series != "fraction" else r["fraction"] * 100
        pts[x][r["mode"]] = r
    if not pts: continue
    with open(os.path.join(out, f"hotspare_{series}.dat"), "w") as d:
        d.write("x " + " ".join(modes) + "\n")
        for x in sorted(pts):
            d.write(f"{x} " + " ".join(str(pts[x][m]["cost_us"]) if m in pts[x] else "NaN" for m in modes) + "\n")
    title = {"size": "cost vs registered size, 10% of pages dirtied in runs of four",
             "fraction": "cost vs dirty fraction, 4 MiB registered",
             "fixed": "cost vs registered size, 256 dirty pages (1 MiB) in runs of four"}[series]
    md.append(f"**{title}** (µs, median; cost = checkpoint call + stores − plain stores)\n")
    md.append(f"| {'MiB' if series != 'fraction' else 'dirty %'} | explicit | transparent (stores + commit) | full copy | fork + pipe (stream) | transparent / explicit | commit only: transparent / explicit |")
    md.append("|---:|---:|---:|---:|---:|---:|---:|")
    for x in sorted(pts):
        p = pts[x]
        def c(m): return p[m]["cost_us"] if m in p else float("nan")
        t = p.get("transparent", {})
        e = p.get("explicit", {})
        fk = p.get("fork_pipe", {})
        md.append(f"| {x:g} | {c('explicit'):.1f} | {c('transparent'):.1f} ({t.get('stores_us', float('nan')):.0f} + {t.get('ckpt_us', float('nan')):.0f}) | "
                  f"{c('full_copy'):.1f} | {c('fork_pipe'):.1f} ({fk.get('stream_us', float('nan')):.0f}) | "
                  f"{c('transparent') / c('explicit'):.2f} | {t.get('ckpt_us', float('nan')) / e.get('ckpt_us', float('nan')):.2f} |")
    md.append("")
open(os.path.join(out, "hotspare_commit.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
command -v gnuplot >/dev/null || exit 0
for s in size fraction fixed; do
    [ -f "$OUT/hotspare_$s.dat" ] || continue
    case $s in
    size) title="10% of pages dirtied in runs of four"; xl="registered size (MiB)"; logx="set logscale x 2" ;;
    fraction) title="4 MiB registered"; xl="dirty pages (%)"; logx="" ;;
    fixed) title="256 dirty pages in runs of four"; xl="registered size (MiB)"; logx="set logscale x 2" ;;
    esac
    gnuplot <<EOF
set terminal pngcairo size 900,550 noenhanced
set output "$OUT/hotspare_$s.png"
set title "Checkpoint cost seen by the application: $title"
set xlabel "$xl"
set ylabel "cost per checkpoint (us, log)"
set logscale y
$logx
set grid
set key top left
plot for [i=2:5] "$OUT/hotspare_$s.dat" using 1:i with linespoints lw 2 title columnhead(i)
EOF
done
