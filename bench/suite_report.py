#!/usr/bin/env python3
"""Merges one bench/run_suite.sh results directory into suite.json and suite.md, and plots the
sync-commit latency CDFs (ours next to the baselines) with gnuplot.

Inputs, all in the results directory (a missing one is reported, not fatal):
  micro.md          the table bench/micro_table.py printed (Google Benchmark figures)
  e2e.json          bench/ckpt_e2e --json       (rows of the common schema, bench/support/report.hpp)
  observe.json      bench/ckpt_observe --json
  scale.json        bench/ckpt_scale --json
  samples/*.ns      per-operation latencies in ns, one per line (--samples of the tools above)

Every row keeps the figure, our value, the baseline measured in the same run, their ratio, the
target and its verdict; the summary lists each target once with "pass" or "short" exactly as
the tool judged it: nothing here re-judges or adjusts a figure."""
import json
import pathlib
import re
import shutil
import subprocess
import sys

TOOLS = (("e2e.json", "End-to-end replication (bench/ckpt_e2e)"),
         ("observe.json", "Commit to observed in another process (bench/ckpt_observe)"),
         ("scale.json", "Takeover, resync and scale (bench/ckpt_scale)"))

# CDF plots: (file stem, title, [(sample key, legend)])
PLOTS = (
    ("cdf-memif", "sync commit over DPDK memif vs raw DPDK ping-pong (busy-poll)",
     [("ours.memif.busy.sync.64", "ours, 64 B"), ("raw.memif.msg.64", "raw memif, 64 B"),
      ("ours.memif.busy.sync.4096", "ours, 4 KiB"), ("raw.memif.msg.4096", "raw memif, 4 KiB"),
      ("ours.memif.busy.sync.65536", "ours, 64 KiB"), ("raw.memif.msg.65536", "raw memif, 64 KiB")]),
    ("cdf-udp-redis", "sync commit over kernel UDP vs Redis SET+WAIT 1 vs raw UDP (loopback)",
     [("ours.udp.busy.sync.64", "ours (UDP), 64 B"), ("redis.wait.64", "Redis SET+WAIT, 64 B"),
      ("raw.udp.msg.64", "raw UDP, 64 B"), ("ours.udp.busy.sync.4096", "ours (UDP), 4 KiB"),
      ("redis.wait.4096", "Redis SET+WAIT, 4 KiB"), ("raw.udp.msg.4096", "raw UDP, 4 KiB")]),
    ("cdf-af_packet", "sync commit over DPDK af_packet (veth, namespaces) vs raw DPDK ping-pong",
     [("ours.af_packet.busy.sync.64", "ours, 64 B"), ("raw.af_packet.msg.64", "raw af_packet, 64 B"),
      ("ours.af_packet.busy.sync.4096", "ours, 4 KiB"), ("raw.af_packet.msg.4096", "raw af_packet, 4 KiB")]),
    ("cdf-open-loop", "sync commit, open loop at a fixed rate (latency from the intended start)",
     [("ours.memif.busy.open.64", "ours memif, 64 B"), ("raw.memif.open.64", "raw memif, 64 B"),
      ("ours.memif.busy.open.4096", "ours memif, 4 KiB"), ("raw.memif.open.4096", "raw memif, 4 KiB")]),
    ("cdf-observe", "round trips between two processes: commit -> observed and back, vs cache-line ping-pong and iceoryx",
     [("ours.observe.64", "ours, 64 B commit observed in place, busy-poll"),
      ("ours.observe_turn.64", "ours, 64 sections in turn"),
      ("ours.observe_blocking.64", "ours, reader blocked in poll()"),
      ("iox.pubsub.64", "iceoryx 2.0 publish/take, 64 B"),
      ("cacheline.pingpong", "cache-line ping-pong")]),
)


def load_tool(path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        return {"rows": [], "errors": [f"{path.name}: not JSON: {e}"], "run": {}}


def micro_rows(path):
    """The rows of micro_table.py's Markdown table that carry a target verdict."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 7 or cells[0] in ("figure", "---") or cells[0].startswith("---"):
            continue
        target = cells[-1]
        if "met" in target or "MISSED" in target:
            out.append({"figure": cells[0], "ours_text": cells[1], "baseline": cells[2], "baseline_text": cells[3],
                        "ratio_text": cells[4], "target": target,
                        "verdict": "missed" if "MISSED" in target else "met"})
    return out


def verdicts(row):
    """(target text, pass/short) for each target of a row: a row may carry two ('a: met; b: MISSED')."""
    target = row.get("target", "")
    v = row.get("verdict", "")
    if not target or v in ("", "n/a"):
        return []
    parts = [p.strip() for p in re.split(r";\s*", target) if p.strip()]
    found = []
    for p in parts:
        if "MISSED" in p:
            found.append((p.replace("**", ""), "short"))
        elif re.search(r"\bmet\b", p):
            found.append((p, "pass"))
    if not found:
        found.append((target, "pass" if v == "met" else "short"))
    return found


def cdf_points(path, max_points=400):
    vals = sorted(int(x) for x in path.read_text().split() if x.strip())
    if not vals:
        return []
    n = len(vals)
    # Evenly in rank, plus the tail ranks (p99, p99.9, max) that an even pick would skip.
    ranks = sorted(set([int(i * (n - 1) / (max_points - 1)) for i in range(max_points)] +
                       [min(n - 1, int(q * n)) for q in (0.9, 0.99, 0.995, 0.999, 0.9999)] + [n - 1]))
    return [(vals[r] / 1000.0, (r + 1) / n) for r in ranks]


def plot(out, samples, stem, title, series):
    present = [(k, label) for k, label in series if (samples / f"{k}.ns").exists()]
    if not present:
        return None
    data = out / "cdf"
    data.mkdir(exist_ok=True)
    cmds = []
    for i, (k, label) in enumerate(present):
        pts = cdf_points(samples / f"{k}.ns")
        f = data / f"{stem}.{i}.dat"
        f.write_text("".join(f"{x:.3f} {y:.6f}\n" for x, y in pts))
        # One colour per payload size, ours solid, each baseline dashed its own way; a plot of one
        # size gets one colour per line.
        size = k.rsplit(".", 1)[-1]
        sizes = {p[0].rsplit(".", 1)[-1] for p in present if p[0].rsplit(".", 1)[-1].isdigit()}
        colour = {"64": 1, "4096": 2, "65536": 3}.get(size, i + 1) if len(sizes) > 1 else i + 1
        dash = "" if k.startswith("ours") else " dt 3" if k.startswith("redis") else " dt 2"
        cmds.append(f"'{f}' using 1:2 with lines lw 2 lc {colour}{dash} title '{label}'")
    gp = out / "cdf" / f"{stem}.gp"
    png = out / f"{stem}.png"
    gp.write_text("\n".join([
        "set terminal pngcairo size 1000,600 font ',10' noenhanced",
        f"set output '{png}'",
        f"set title \"{title}\"",
        "set logscale x",
        "set xlabel 'latency (us, log scale)'",
        "set ylabel 'fraction of operations at or below'",
        "set key bottom right",
        "set grid",
        "set yrange [0:1]",
        "plot " + ", \\\n     ".join(cmds),
        ""]))
    if not shutil.which("gnuplot"):
        return f"{stem}: gnuplot not installed (data and script in cdf/)"
    r = subprocess.run(["gnuplot", str(gp)], capture_output=True, text=True)
    if r.returncode != 0:
        return f"{stem}: gnuplot failed: {r.stderr.strip()}"
    return png.name


def main():
    out = pathlib.Path(sys.argv[1])
    suite = {"run": {}, "sections": [], "summary": [], "plots": [], "errors": []}
    machine = out / "machine.txt"
    if machine.exists():
        suite["run"]["machine"] = machine.read_text()
    md = ["# Benchmark suite results", ""]
    if machine.exists():
        md += ["```", machine.read_text().rstrip(), "```", ""]

    sections = []
    micro_md = out / "micro.md"
    if micro_md.exists():
        rows = micro_rows(micro_md)
        sections.append(("Node-local micro-benchmarks (bench/run_micro.sh)", rows, {}, []))
        md += ["## Node-local micro-benchmarks (bench/run_micro.sh)", "", micro_md.read_text().rstrip(), ""]
    else:
        suite["errors"].append("micro.md missing: the micro-benchmarks did not run")
    for fname, title in TOOLS:
        d = load_tool(out / fname)
        if d is None:
            suite["errors"].append(f"{fname} missing: {title} did not run")
            continue
        sections.append((title, d.get("rows", []), d.get("run", {}), d.get("errors", [])))
        md += [f"## {title}", ""]
        run = d.get("run", {})
        for k in ("command", "pinning", "busy_poll", "default_mode", "load_before", "load_after", "cpu_others",
                  "seconds"):
            if k in run:
                md.append(f"- {k}: {run[k]}")
        md += ["", "| figure | ours | baseline (same run) | baseline | ratio | target |", "|---|---:|---|---:|---:|---|"]
        for r in d.get("rows", []):
            md.append(f"| {r.get('figure', '')} | {r.get('ours_text', r.get('ours', ''))} | {r.get('baseline', '')} | "
                      f"{r.get('baseline_text', r.get('baseline_value', ''))} | {r.get('ratio_text', r.get('ratio', ''))}"
                      f" | {r.get('target', '')} |")
        for e in d.get("errors", []):
            md.append(f"\nERROR: {e.splitlines()[0] if e else e}")
        md.append("")

    for title, rows, run, errors in sections:
        suite["sections"].append({"title": title, "run": run, "rows": rows, "errors": errors})
        for r in rows:
            for target, v in verdicts(r):
                suite["summary"].append({"section": title, "figure": r.get("figure", ""), "target": target,
                                         "result": v})
        suite["errors"] += [f"{title}: {e}" for e in errors]

    samples = out / "samples"
    if samples.is_dir():
        md += ["## Latency CDFs", ""]
        for stem, title, series in PLOTS:
            p = plot(out, samples, stem, title, series)
            if p is None:
                continue
            if p.endswith(".png"):
                suite["plots"].append(p)
                md.append(f"![{title}]({p})")
            else:
                suite["errors"].append(p)
                md.append(f"- {p}")
        md.append("")

    passed = sum(1 for s in suite["summary"] if s["result"] == "pass")
    short = sum(1 for s in suite["summary"] if s["result"] == "short")
    md += ["## Targets", "", f"{passed} pass, {short} short.", "", "| result | target | figure |", "|---|---|---|"]
    for s in suite["summary"]:
        md.append(f"| {s['result']} | {s['target']} | {s['figure']} |")
    if suite["errors"]:
        md += ["", "## Errors", ""] + [f"- {e.splitlines()[0]}" for e in suite["errors"]]
    (out / "suite.json").write_text(json.dumps(suite, indent=2) + "\n")
    (out / "suite.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nsuite_report: {out / 'suite.md'}, {out / 'suite.json'}; {passed} targets pass, {short} short, "
          f"{len(suite['errors'])} error(s)", file=sys.stderr)
    return 1 if suite["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
