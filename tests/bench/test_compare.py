#!/usr/bin/env python3
"""Tests of bench/compare.sh's measuring parts, on made-up inputs with known answers:
the report's per-workload figures and tables (bench/compare_report.py) and the sampler's record
counter across log rotation (bench/compare_sample.py). Plain unittest: python3 tests/bench/test_compare.py
"""
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import compare_report  # noqa: E402
import compare_sample  # noqa: E402

T0 = 1000.0


def write_run(root, name, variant, mode="FANOUT", repeat=1, backlog=100, scale=1.0):
    """A run whose figures are known: CPU grows by `scale` x the schedule below."""
    d = os.path.join(root, name)
    os.makedirs(d)
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump({"variant": variant, "mode": mode, "repeat": repeat, "backlog": backlog}, f)
    phases = [("cold", "start", T0), ("cold", "end", T0 + 20.2), ("warm", "start", T0 + 20.2), ("warm", "end", T0 + 30.2),
              ("rate", "start", T0 + 30), ("rate", "end", T0 + 60), ("idle", "start", T0 + 70), ("idle", "end", T0 + 90)]
    with open(os.path.join(d, "phases.jsonl"), "w") as f:
        for p, e, t in phases:
            f.write(json.dumps({"phase": p, "edge": e, "t": t}) + "\n")
    # one sample a second: nothing until 10 s, the backlog of 100 logged by 20 s (CPU 2 s by then),
    # the second backlog by 30 s (CPU +0.5 s), then 50 records/s with 1 ms CPU each (+10 % idle) until
    # 60 s, then idle at 1 % of a core
    rows = []
    records, cpu = 0, 0.0
    for i in range(0, 91):
        t = T0 + i
        if 10 < i <= 20:
            records += 10
            cpu += 0.2
        elif 20 < i <= 30:
            records += 10
            cpu += 0.05
        elif 30 < i <= 60:
            records += 50
            cpu += 0.05 + 0.01
        else:
            cpu += 0.01
        rows.append({"t": t, "records": records, "total_cpu_s": round(cpu * scale, 6), "jvm_cpu_s": round(cpu * scale * 0.9, 6),
                     "children_cpu_s": round(cpu * scale * 0.1, 6), "jvm_hwm_mb": 100 + i, "children_rss_mb": 5.0})
    with open(os.path.join(d, "samples.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return d


class ReportTest(unittest.TestCase):
    def test_figures_of_one_run(self):
        with tempfile.TemporaryDirectory() as root:
            f = compare_report.figures(write_run(root, "a", "ours:image"))
            self.assertEqual(f["first_s"], 11.0)
            # cold: all CPU from the start to the sample where 100 records are logged (20 s): 2.0 s + 11 idle samples
            self.assertAlmostEqual(f["cold"], (2.0 + 0.11) * 1e6 / 100, delta=1)
            self.assertEqual(f["cold_s"], 20.0)
            # warm: from 20.2 s to the first sample with 200 records (30 s)
            self.assertAlmostEqual(f["warm"], (0.05 * 9.8) * 1e6 / 98, delta=5)
            # rate: 35..60 s: 25 s x 50 records, 0.06 CPU-s a second
            self.assertAlmostEqual(f["rate"], 0.06 * 1e6 / 50, delta=1)
            self.assertAlmostEqual(f["rate_jvm"] + f["rate_children"], f["rate"], delta=0.2)
            self.assertEqual(f["rate_rps"], 50)
            self.assertAlmostEqual(f["idle"], 1.0, delta=0.01)
            # less idle: 0.06 - 0.01 CPU-s a second for 50 records
            self.assertAlmostEqual(f["marginal"], 0.05 * 1e6 / 50, delta=1)
            self.assertEqual(f["jvm_mb"], 190)

    def test_table_medians_and_ratios(self):
        with tempfile.TemporaryDirectory() as root:
            write_run(root, "o1", "ours:image", repeat=1, scale=1.0)
            write_run(root, "o2", "ours:image", repeat=2, scale=3.0)
            write_run(root, "p1", "python:image", scale=4.0)
            write_run(root, "j1", "java:image", scale=2.0)
            write_run(root, "j2", "java:defaults", scale=1.0)
            text = compare_report.tables(compare_report.runs(root))
            row = next(l for l in text.splitlines() if l.startswith("| ours:image | 2 |"))
            # median of 1x and 3x is 2x: 2 x 1200 µs per record at rate, with the spread
            self.assertIn("| 2,400.0 (1,200.0–3,600.0) (", row)
            ratio = [l for l in text.splitlines() if l.startswith("| ours:image |")][-1]
            # rate: 2x / python's 4x = 0.50; against the best Java (java:defaults, 1x) 2.00
            cells = [c.strip() for c in ratio.strip("|").split("|")]
            self.assertEqual(cells[3], "0.50")
            self.assertEqual(cells[4], "0.50")
            self.assertEqual(cells[7], "2.00")

    def test_missing_workload_is_a_dash(self):
        with tempfile.TemporaryDirectory() as root:
            d = write_run(root, "a", "ours:image")
            with open(os.path.join(d, "phases.jsonl")) as f:
                kept = [l for l in f if '"rate"' not in l]
            with open(os.path.join(d, "phases.jsonl"), "w") as f:
                f.writelines(kept)
            f = compare_report.figures(d)
            self.assertNotIn("rate", f)
            self.assertIn("| – (", compare_report.tables(compare_report.runs(root)))


class CounterTest(unittest.TestCase):
    def test_counts_across_rotation_and_partial_lines(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "record_processor.log")
            line = b"12:00:00.000 [record_processor] INFO  process_records - x\n"
            other = b"12:00:00.000 [record_processor] INFO  initialize - shard\n"
            c = compare_sample.Counter(d)
            with open(log, "wb") as f:
                f.write(line * 3 + other + line[:20])  # a line still being written
            self.assertEqual(c.count(), 3)
            with open(log, "ab") as f:
                f.write(line[20:] + line)
            self.assertEqual(c.count(), 5)
            os.rename(log, log + ".1")  # rotation: the old file keeps its count, the new one starts
            with open(log, "wb") as f:
                f.write(line * 2)
            self.assertEqual(c.count(), 7)
            with open(log + ".1", "ab") as f:  # nothing is counted twice
                pass
            self.assertEqual(c.count(), 7)


if __name__ == "__main__":
    unittest.main()
