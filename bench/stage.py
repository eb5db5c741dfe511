#!/usr/bin/env python3
"""Runs the stage benchmark: decoding and writing without the pipe (see bench/src/bin/stage.rs
and bench/python_stage.py), interleaved, medians of N runs, and prints a table.

Usage: stage.py --dump-dir DIR --rust BIN --python PY [--runs N] [--python-runs N]
                [--workloads 200B,1MB] [--out FILE.json]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run_one(cmd, workload_file, tmp_root):
    tmp = tempfile.mkdtemp(dir=tmp_root)
    try:
        out = subprocess.run(cmd + [workload_file, os.path.join(tmp, "stage.log")],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump-dir", required=True)
    ap.add_argument("--rust", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--python-runs", type=int, default=3)
    ap.add_argument("--workloads", default="200B,1MB")
    ap.add_argument("--out")
    args = ap.parse_args()
    procs = {
        "rust": [args.rust],
        "python": [args.python, os.path.join(HERE, "python_stage.py")],
    }
    results = []
    rows = []
    for w in args.workloads.split(","):
        path = os.path.join(args.dump_dir, f"{w}.jsonl")
        per = {name: [] for name in procs}
        for run in range(args.runs):
            for name, cmd in procs.items():
                if name == "python" and run >= args.python_runs:
                    continue
                r = run_one(cmd, path, args.dump_dir)
                r.update(workload=w, processor=name, run=run)
                results.append(r)
                per[name].append(r)
        for name, rs in per.items():
            cpu = [(r["user_us"] + r["sys_us"]) for r in rs]
            rows.append((w, name, len(rs),
                         statistics.median(c / r["records"] for c, r in zip(cpu, rs)),
                         statistics.median(r["user_us"] / r["records"] for r in rs),
                         statistics.median(r["sys_us"] / r["records"] for r in rs),
                         statistics.median(r["data_bytes"] / c for c, r in zip(cpu, rs)),
                         min(r["data_bytes"] / c for c, r in zip(cpu, rs)),
                         max(r["data_bytes"] / c for c, r in zip(cpu, rs))))
    print("| workload | processor | runs | us CPU/rec | user | sys | MB per CPU-s (min-max) | CPU: py/rust |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        w, name = row[0], row[1]
        rust = next(r for r in rows if r[0] == w and r[1] == "rust")
        ratio = row[3] / rust[3]
        print(f"| {w} | {name} | {row[2]} | {row[3]:.3g} | {row[4]:.3g} | {row[5]:.3g} | "
              f"{row[6]:,.0f} ({row[7]:,.0f}-{row[8]:,.0f}) | {ratio:.1f}x |")
    mb = next((r for r in rows if r[0] == "1MB" and r[1] == "rust"), None)
    if mb:
        verdict = "MET" if mb[6] >= 1000 else "MISSED"
        print(f"\nissue 5's 1 MB target, decoding and writing (no pipe): {mb[6]:,.0f} MB per CPU-second "
              f"(median; lowest run {mb[7]:,.0f}) (limit 1,000) {verdict}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
