#!/usr/bin/env python3
"""Prints the Markdown table of BENCHMARKS.md from one run_micro.sh results directory.

Every figure is the median over 5 repetitions (Google Benchmark aggregates); each is put next to
a baseline measured in the same run, as a ratio. Commit figures are compared with the cache-line
ping-pong that bench_commit runs interleaved with them (bench_baselines' copy is shown as a drift
check); bench_hashing's figures are throughputs compared with raw XXH3 and memcpy over the same
buffers, as throughput ratios. "p50" figures are per-operation medians taken
with the TSC inside bench_commit (counter p50_ns, median over the repetitions)."""
import json
import pathlib
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(path):
    """{key: {aggregate: entry}}, key = benchmark name without iterations/repeats/time suffixes."""
    runs, errors = {}, {}
    for b in json.loads(path.read_text())["benchmarks"]:
        parts = b.get("run_name", b["name"]).split("/")
        key = "/".join(p for p in parts if ":" not in p and p not in ("real_time", "manual_time"))
        if b.get("error_occurred"):
            errors[key] = b.get("error_message", "error")
            continue
        runs.setdefault(key, {})[b.get("aggregate_name", "")] = b
    return runs, errors


def main():
    out = pathlib.Path(sys.argv[1])
    runs, errors = {}, {}
    for f, prefix in (("baselines.json", "baselines:"), ("commit.json", ""), ("hashing.json", "")):
        if not (out / f).exists() and f == "hashing.json":
            continue  # a results directory from before bench_hashing: its rows say "missing"
        r, e = load(out / f)
        # Both binaries run the ping-pong; commit figures use bench_commit's (same minutes, same process).
        runs.update({prefix + k if k == "BM_CacheLinePingPong" else k: v for k, v in r.items()})
        errors.update({prefix + k if k == "BM_CacheLinePingPong" else k: v for k, v in e.items()})

    def entry(key, agg="median"):
        if key in errors:
            raise LookupError(f"{key} skipped: {errors[key]}")
        if key not in runs or agg not in runs[key]:
            raise LookupError(f"{key} missing")
        return runs[key][agg]

    def ns(key):
        e = entry(key)
        return e["real_time"] * UNIT_NS[e["time_unit"]]

    def p50(key):
        return entry(key)["p50_ns"]

    def p99(key):
        return entry(key)["p99_ns"]

    def cv(key, field="real_time"):
        return entry(key, "cv")[field] * 100.0  # cv aggregates carry the ratio in place of the value

    def gbps(key):
        return entry(key)["bytes_per_second"] / 1e9

    def fmt_ns(v):
        return f"{v:,.0f} ns" if v >= 100 else f"{v:.1f} ns"

    rows = []

    def row(what, value, baseline_what, baseline, ratio, spread=None, target=""):
        rows.append((what, value, baseline_what, baseline, ratio, spread, target))

    def safe(fn):
        try:
            fn()
        except LookupError as e:
            rows.append((str(e), "-", "-", "-", "-", None, ""))

    pp = "cache-line ping-pong round trip, CPU 0 <-> 1"

    def yardstick():
        a, b = ns("BM_CacheLinePingPong"), ns("baselines:BM_CacheLinePingPong")
        row("cache-line ping-pong round trip, in bench_commit (the yardstick below)", fmt_ns(a),
            "same, in bench_baselines (drift check)", fmt_ns(b), f"{a / b:.2f}x", cv("BM_CacheLinePingPong"))

    def local_commit():
        base = ns("BM_CacheLinePingPong")
        c = p50("BM_CommitAsync")
        target = "<= 100 ns: met" if c <= 100 else "<= 100 ns: **MISSED**"
        row("async commit() call, 4 KiB section, 64 B dirty: p50 (p99)",
            f"{fmt_ns(c)} ({fmt_ns(p99('BM_CommitAsync'))})", pp, fmt_ns(base), f"{c / base:.2f}x",
            cv("BM_CommitAsync", "p50_ns"), target)
        t = p50("BM_TscTimerOverhead")
        row("  of which TSC timer bracket (in every p50 above and below)", fmt_ns(t), "", "", "", None, "")
        i = p50("BM_CommitAsyncIdleEngine")
        target = "<= 100 ns: met" if i <= 100 else "<= 100 ns: **MISSED** (engine asleep)"
        row("async commit() call after 200 us idle (ckptd asleep, eventfd kick): p50 (p99)",
            f"{fmt_ns(i)} ({fmt_ns(p99('BM_CommitAsyncIdleEngine'))})", pp, fmt_ns(base), f"{i / base:.2f}x",
            cv("BM_CommitAsyncIdleEngine", "p50_ns"), target)
        for key, what in (("BM_WriteCommitRotating", "write()+64 B+commit(async), 64 sections in turn: mean"),
                          ("BM_WriteCommitAsyncLoop", "write()+64 B+commit(async), one section (waits for capture)"),
                          ("BM_CommitSync", "write()+64 B+commit(sync): local round trip"),
                          ("BM_CommitAsyncSpinAck", "same round trip, spinning on acked_sequence()")):
            v = ns(key)
            row(what, fmt_ns(v), pp, fmt_ns(base), f"{v / base:.2f}x", cv(key))

    def reads():
        z, c = ns("BM_ReadView64"), ns("BM_ReadCopy64")
        row("zero-copy read of 64 B (read_view)", fmt_ns(z), "copying read of 64 B (read)", fmt_ns(c),
            f"{z / c:.2f}x", cv("BM_ReadView64"))
        m = ns("BM_Memcpy/64")
        row("copying read of 64 B (read)", fmt_ns(c), "memcpy 64 B", fmt_ns(m), f"{c / m:.2f}x", cv("BM_ReadCopy64"))

    sizes = [(4 << 10, "4 KiB"), (64 << 10, "64 KiB"), (1 << 20, "1 MiB"), (16 << 20, "16 MiB"),
             (256 << 20, "256 MiB"), (1 << 30, "1 GiB")]

    def by_size(kind):
        name = f"BM_Commit{kind}BySize"
        get = p50 if kind == "Async" else ns
        field = "p50_ns" if kind == "Async" else "real_time"
        label = "async commit() call p50" if kind == "Async" else "write()+commit(sync) round trip"
        base = get(f"{name}/{4 << 10}")
        for size, text in sizes:
            def one(size=size, text=text):
                v = get(f"{name}/{size}")
                ratio = v / base
                target = ""
                if size == 1 << 30:
                    target = "flat: met" if ratio <= 1.25 else "flat: **MISSED**"
                row(f"{label}, {text} section, 64 B dirty", fmt_ns(v), f"same at 4 KiB", fmt_ns(base),
                    f"{ratio:.2f}x", cv(f"{name}/{size}", field), target)
            safe(one)

    def hashing():
        for n, text in ((64, "64 B"), (256, "256 B (one block)"), (4096, "4 KiB"), (1 << 20, "1 MiB")):
            x, m = f"BM_Xxh3/{n}", f"BM_Memcpy/{n}"
            row(f"XXH3_64bits raw, {text}", f"{fmt_ns(ns(x))} ({gbps(x):.1f} GB/s)", f"memcpy {text}",
                f"{fmt_ns(ns(m))} ({gbps(m):.1f} GB/s)", f"{ns(x) / ns(m):.2f}x", cv(x))

    regions = ((256, "256 B (one block)"), (4096, "4 KiB"), (64 << 10, "64 KiB"), (1 << 20, "1 MiB"))

    def rate(key):
        return f"{fmt_ns(ns(key))} ({gbps(key):.1f} GB/s)"

    def block_hashing():
        # bench_hashing: ckptd's copy_hash_block per 256 B block against raw XXH3 and memcpy over the
        # same buffers. Ratios here are throughput ratios (ours / baseline): >= 0.9 is the target.
        for kind in ("xxh3", "memcpy", "skip", "whole"):
            for n, text in regions:
                def one(n=n, text=text):
                    ours = f"BM_DirtyBlockHashing/{n}"
                    if kind == "xxh3":
                        raw = f"BM_Xxh3PerBlock/{n}"
                        r = gbps(ours) / gbps(raw)
                        row(f"dirty-block hashing in ckptd, {text}", rate(ours),
                            "XXH3_64bits raw per block, same buffers", rate(raw), f"{r:.2f}x (bytes/s)", cv(ours),
                            ">= 0.9x raw XXH3: met" if r >= 0.9 else ">= 0.9x raw XXH3: **MISSED**")
                    elif kind == "memcpy":
                        m = f"BM_MemcpyPerBlock/{n}"
                        row(f"dirty-block hashing in ckptd, {text}, against memcpy", rate(ours),
                            "memcpy per block, same buffers", rate(m), f"{gbps(ours) / gbps(m):.2f}x (bytes/s)",
                            cv(ours))
                    elif kind == "skip" and n > 256:
                        half = f"BM_DirtyBlockHashingHalfUnchanged/{n}"
                        row(f"dirty-block hashing in ckptd, {text}, half the blocks unchanged (skipped)", rate(half),
                            "same, every block changed", rate(ours), f"{gbps(half) / gbps(ours):.2f}x (bytes/s)",
                            cv(half))
                    elif kind == "whole" and n > 256:
                        x, w = f"BM_Xxh3PerBlock/{n}", f"BM_Xxh3WholeRegion/{n}"
                        row(f"XXH3_64bits raw per block, {text}", rate(x), f"XXH3_64bits raw, one call over {text}",
                            rate(w), f"{gbps(x) / gbps(w):.2f}x (bytes/s)", cv(x))
                safe(one)

    safe(yardstick)
    safe(local_commit)
    safe(reads)
    for kind in ("Async", "Sync"):
        safe(lambda kind=kind: by_size(kind))
    safe(hashing)
    block_hashing()

    print((out / "machine.txt").read_text().rstrip())
    print()
    print("| figure | median | baseline (same run) | baseline | ratio | cv over 5 reps | target |")
    print("|---|---:|---|---:|---:|---:|---|")
    for what, value, bw, b, ratio, spread, target in rows:
        s = f"{spread:.1f}%" if spread is not None else ""
        print(f"| {what} | {value} | {bw} | {b} | {ratio} | {s} | {target} |")


if __name__ == "__main__":
    main()
