#!/usr/bin/env python3
"""Summarise the driver's per-run JSON: medians (min-max) per processor and
workload, a table on stdout, CSV + JSON summaries, the target check for
record_processor, and a PNG of CPU per record against record size."""

import argparse
import csv
import json
import os
import platform
import statistics
import sys

METRICS = [
    # key, header, format, scale
    ("records_per_s", "rec/s", "{:,.0f}", 1.0),
    ("cpu_us_per_record", "us CPU/rec", "{:.3g}", 1.0),
    ("vm_hwm_kb", "peak RSS MB", "{:.2f}", 1 / 1024),
    ("spawn_to_first_status_ms", "spawn->status ms", "{:.2f}", 1.0),
    ("data_mb_per_s", "MB/s decoded", "{:,.1f}", 1.0),
    ("data_mb_per_cpu_s", "MB/s per CPU-s", "{:,.1f}", 1.0),
    ("batch_rtt_ms_median", "batch RTT ms", "{:.2f}", 1.0),
]

WORKLOAD_ORDER = ["200B", "200B-b500", "kpl200B", "1KB", "100KB", "1MB"]
PROC_ORDER = ["rust", "baseline", "python", "floor"]


def machine():
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["mem_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def summarise(runs):
    groups = {}
    for r in runs:
        cpu_us = (r.get("cpu_user_us") or 0) + (r.get("cpu_sys_us") or 0)
        if r.get("ok") and cpu_us > 0:
            # Decoded bytes per microsecond of the child's CPU = MB per CPU-second.
            r["data_mb_per_cpu_s"] = r["data_bytes"] / cpu_us
        groups.setdefault((r["processor"], r["workload"]), []).append(r)
    out = []
    for (proc, wl), rs in groups.items():
        ok = [r for r in rs if r.get("ok")]
        row = {"processor": proc, "workload": wl, "runs": len(ok), "failed": len(rs) - len(ok)}
        if ok:
            row["body_bytes"] = ok[0]["body_bytes"]
            row["records"] = ok[0]["records"]
            row["batches"] = ok[0]["batches"]
            row["kpl_run"] = ok[0]["kpl_run"]
            for key, _, _, scale in METRICS + [("cpu_us_per_record_after_init", "", "", 1.0),
                                                ("cpu_at_first_status_us", "", "", 1.0),
                                                ("checkpoints", "", "", 1.0)]:
                vals = [r[key] * scale for r in ok if r.get(key) is not None]
                if vals:
                    row[key] = statistics.median(vals)
                    row[key + "_min"] = min(vals)
                    row[key + "_max"] = max(vals)
            logged = [r["tmp_bytes_written"] for r in ok]
            row["log_bytes_median"] = statistics.median(logged)
            row["data_bytes"] = ok[0]["data_bytes"]
        else:
            row["error"] = rs[0].get("error", "")
        out.append(row)

    def order(row):
        wl = WORKLOAD_ORDER.index(row["workload"]) if row["workload"] in WORKLOAD_ORDER else 99
        pr = PROC_ORDER.index(row["processor"]) if row["processor"] in PROC_ORDER else 99
        return (wl, pr, row["processor"])

    out.sort(key=order)
    # ratios against python and the floor, on CPU per record
    by = {(r["processor"], r["workload"]): r for r in out}
    for r in out:
        c = r.get("cpu_us_per_record")
        py = by.get(("python", r["workload"]), {}).get("cpu_us_per_record")
        fl = by.get(("floor", r["workload"]), {}).get("cpu_us_per_record")
        if c and py:
            r["python_cpu_over_this"] = py / c
        if c and fl:
            r["this_cpu_over_floor"] = c / fl
    return out


def print_table(rows):
    headers = ["workload", "processor"] + [h for _, h, _, _ in METRICS] + ["CPU: py/this", "CPU: this/floor"]
    lines = []
    for r in rows:
        if not r.get("runs"):
            lines.append([r["workload"], r["processor"], "FAILED: " + r.get("error", "")[:60]])
            continue
        cells = [r["workload"], r["processor"]]
        for key, _, fmt, _ in METRICS:
            v = r.get(key)
            if v is None:
                cells.append("-")
                continue
            lo, hi = r[key + "_min"], r[key + "_max"]
            spread = (hi - lo) / v * 100 if v else 0
            cells.append(fmt.format(v) + (" ±{:.0f}%".format(spread / 2) if spread >= 1 else ""))
        cells.append("{:.1f}x".format(r["python_cpu_over_this"]) if "python_cpu_over_this" in r else "-")
        cells.append("{:.2f}x".format(r["this_cpu_over_floor"]) if "this_cpu_over_floor" in r else "-")
        lines.append(cells)
    widths = [max(len(str(x[i])) if i < len(x) else 0 for x in lines + [headers]) for i in range(len(headers))]
    def fmt(cells):
        return "| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(cells)) + " |"
    print(fmt(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for cells in lines:
        print(fmt(cells + [""] * (len(headers) - len(cells))))
    print("(medians of the runs; ±x% = half the min-max spread relative to the median)")


def print_ab(rows):
    """With --baseline: this build's CPU per record against the baseline's, per workload.
    The noise column is the larger of the two builds' half min-max spreads: a change inside
    it is not a change."""
    by = {(r["processor"], r["workload"]): r for r in rows}
    pairs = [(by[("baseline", r["workload"])], r) for r in rows
             if r["processor"] == "rust" and ("baseline", r["workload"]) in by
             and r.get("cpu_us_per_record") and by[("baseline", r["workload"])].get("cpu_us_per_record")]
    if not pairs:
        return
    print("\nA/B, CPU per record (median of the interleaved runs):")
    print("| workload | baseline us | this build us | change | noise (+/-) |")
    print("|---|---|---|---|---|")
    for base, this in pairs:
        b, t = base["cpu_us_per_record"], this["cpu_us_per_record"]
        noise = max((r["cpu_us_per_record_max"] - r["cpu_us_per_record_min"]) / 2 / r["cpu_us_per_record"]
                    for r in (base, this)) * 100
        print("| {} | {:.3f} | {:.3f} | {:+.1f} % | {:.1f} % |".format(
            this["workload"], b, t, (t - b) / b * 100, noise))


def targets(rows, name="rust"):
    by = {(r["processor"], r["workload"]): r for r in rows}
    res = []
    r200 = by.get((name, "200B"), {})
    r1m = by.get((name, "1MB"), {})

    def add(desc, value, limit, unit, le=True):
        if value is None:
            res.append({"target": desc, "value": None, "met": None})
            return
        met = value <= limit if le else value >= limit
        res.append({"target": desc, "value": value, "limit": limit, "unit": unit, "met": met})

    r200b = by.get((name, "200B-b500"), {})
    rkpl = by.get((name, "kpl200B"), {})
    add("CPU per record, 200 B records logged (us)", r200.get("cpu_us_per_record"), 0.6, "us")
    add("  the same, 500-record batches (us)", r200b.get("cpu_us_per_record"), 0.6, "us")
    add("  the same, KPL-style batches (us)", rkpl.get("cpu_us_per_record"), 0.6, "us")
    add("peak RSS per child, 200 B records, 10k/batch (MB)", r200.get("vm_hwm_kb"), 3.0, "MB")
    add("peak RSS per child, 200 B records, 500/batch (MB)", r200b.get("vm_hwm_kb"), 3.0, "MB")
    add("spawn to first status (ms)", r200.get("spawn_to_first_status_ms"), 3.0, "ms")
    # The target names decoding and writing, which bench/stage.py measures on its own; these
    # whole-process figures also hold the pipe read (see BENCHMARKS.md, "How we read the 1 MB target").
    add("1 MB records, whole process incl. the pipe, wall (MB/s)", r1m.get("data_mb_per_s"), 1000.0, "MB/s", le=False)
    add("1 MB records, whole process incl. the pipe, per CPU-s (MB/s)", r1m.get("data_mb_per_cpu_s"), 1000.0, "MB/s", le=False)
    return res


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plain = ["200B", "1KB", "100KB", "1MB"]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    styles = {"rust": ("tab:orange", "o"), "python": ("tab:blue", "s"), "floor": ("tab:gray", "^")}
    for proc in PROC_ORDER + sorted({r["processor"] for r in rows} - set(PROC_ORDER)):
        pts = [r for r in rows if r["processor"] == proc and r["workload"] in plain and r.get("runs")]
        if not pts:
            continue
        pts.sort(key=lambda r: r["body_bytes"])
        xs = [r["body_bytes"] for r in pts]
        ys = [r["cpu_us_per_record"] for r in pts]
        lo = [r["cpu_us_per_record"] - r["cpu_us_per_record_min"] for r in pts]
        hi = [r["cpu_us_per_record_max"] - r["cpu_us_per_record"] for r in pts]
        color, marker = styles.get(proc, (None, "x"))
        label = {"rust": "record_processor (Rust)", "python": "amazon_kclpy (Python)",
                 "floor": "I/O floor (no parsing)"}.get(proc, proc)
        ax.errorbar(xs, ys, yerr=[lo, hi], color=color, marker=marker, capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([200, 1024, 100 * 1024, 1024 * 1024])
    ax.set_xticklabels(["200 B", "1 KB", "100 KB", "1 MB"])
    ax.set_xlabel("record size (decoded data)")
    ax.set_ylabel("child CPU per record, user+sys (µs, log)")
    ax.set_title("CPU per record vs record size (median, min-max bars)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs_json")
    ap.add_argument("--csv")
    ap.add_argument("--summary-json")
    ap.add_argument("--png")
    ap.add_argument("--kclpy", default="")
    ap.add_argument("--rp", default="")
    ap.add_argument("--git", default="")
    args = ap.parse_args()
    runs = json.load(open(args.runs_json))
    rows = summarise(runs)
    print_table(rows)
    print_ab(rows)
    tg = targets(rows)
    if any(t["value"] is not None for t in tg):
        print("\nrecord_processor against issue 5's targets:")
        for t in tg:
            if t["value"] is None:
                print("  {:<55} n/a".format(t["target"]))
            else:
                print("  {:<55} {:>10.3f} (limit {}) {}".format(
                    t["target"], t["value"], t["limit"], "MET" if t["met"] else "MISSED"))
    failed = [r for r in runs if not r.get("ok")]
    if failed:
        print("\n{} run(s) FAILED, first: {} {}: {}".format(
            len(failed), failed[0]["processor"], failed[0]["workload"], failed[0].get("error", "")[:300]))
    if args.csv:
        keys = sorted({k for r in rows for k in r})
        front = ["workload", "processor", "runs", "failed"]
        keys = front + [k for k in keys if k not in front]
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in rows:
                w.writerow(r)
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            rp_info = {"path": args.rp, "git": args.git}
            if args.rp and os.path.exists(args.rp):
                import hashlib
                import time
                rp_info["sha256"] = hashlib.sha256(open(args.rp, "rb").read()).hexdigest()
                rp_info["mtime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(args.rp)))
            json.dump({"machine": machine(), "kclpy": args.kclpy, "record_processor": rp_info,
                       "rows": rows, "targets": tg}, f, indent=2)
    if args.png:
        plot(rows, args.png)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
