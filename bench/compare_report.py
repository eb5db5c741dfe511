#!/usr/bin/env python3
"""Tables for bench/compare.sh, from its work directory (one sub-directory per container run, holding
run.json, phases.jsonl and samples.jsonl).

  compare_report.py WORK_DIR     the tables: per mode, one row per variant, medians over the repeats
                                 with (min-max), and the ratios to the Python processor and to the
                                 plain Java application's best variant, workload by workload
  compare_report.py --one RUN    one line for one run (compare.sh logs it as each run ends)
  compare_report.py --json WORK_DIR   every run's figures, one JSON object per line

Figures per run (CPU from the container's cgroup unless said; µs per record = CPU / records logged):
  first_s    start of the container -> first record logged
  cold       CPU per record for the backlog put before the start, from the start until all are logged
  cold_s     that drain's wall time
  warm       the same for a second backlog put while running
  rate       CPU per record while records are put as fast as the emulator takes them (from 5 s after
             the first put to the last); rate_jvm, rate_children: the JVM's and the processors' shares;
             rate_rps: records logged per second in that window
  marginal   the same window's CPU less what the container spends idle (its idle share times the
             window), per record: the cost of a record without the fixed cost of running (lease
             renewals, subscriptions), which the emulator-bound rate would otherwise spread unevenly
  idle       CPU share of one core (%) with nothing put
  jvm_mb     the JVM's peak RSS (VmHWM); kids_mb: the processors' RSS, peak of their sum
"""
import glob
import json
import os
import statistics
import sys

WORKLOADS = ["first_s", "cold", "cold_s", "warm", "rate", "rate_jvm", "rate_children", "rate_rps", "marginal", "idle",
             "jvm_mb", "kids_mb"]
LOWER_IS_BETTER = {"cold", "warm", "rate", "idle", "jvm_mb", "first_s"}


def load(run_dir):
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    with open(os.path.join(run_dir, "samples.jsonl")) as f:
        samples = [json.loads(l) for l in f if l.strip()]
    phases = {}
    with open(os.path.join(run_dir, "phases.jsonl")) as f:
        for l in f:
            if l.strip():
                p = json.loads(l)
                phases[(p["phase"], p["edge"])] = p["t"]
    return run, samples, phases


def at(samples, t, key):
    """A cumulative counter at time t, interpolated between the samples around it."""
    pts = [(s["t"], s[key]) for s in samples if key in s]
    if not pts:
        return None
    if t <= pts[0][0]:
        return pts[0][1]
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1
    return pts[-1][1]


def first_reaching(samples, start, records):
    for s in samples:
        if s["t"] >= start and s["records"] >= records:
            return s
    return None


def figures(run_dir):
    run, samples, ph = load(run_dir)
    backlog = run.get("backlog")
    out = {"variant": run["variant"], "mode": run["mode"], "repeat": run["repeat"]}
    if not samples:
        return out
    start = ph.get(("cold", "start"))
    first = next((s for s in samples if s["records"] > 0), None)
    if first and start:
        out["first_s"] = round(first["t"] - start, 1)

    def per_record(t0, t1_sample, records, key="total_cpu_s"):
        c0 = at(samples, t0, key) if t0 is not None else 0.0
        c1 = t1_sample.get(key)
        if c0 is None or c1 is None or records <= 0:
            return None
        return round((c1 - c0) * 1e6 / records, 1)

    if backlog and start:
        end = first_reaching(samples, start, backlog)
        if end:
            out["cold"] = per_record(None, end, backlog)
            out["cold_s"] = round(end["t"] - start, 1)
        ws = ph.get(("warm", "start"))
        if ws:
            end = first_reaching(samples, ws, 2 * backlog)
            if end:
                recs = end["records"] - at(samples, ws, "records")
                out["warm"] = per_record(ws, end, recs)
    rs, re_ = ph.get(("rate", "start")), ph.get(("rate", "end"))
    if rs and re_ and re_ - rs > 10:
        t0 = rs + 5
        recs = at(samples, re_, "records") - at(samples, t0, "records")
        secs = re_ - t0
        if recs > 0:
            for key, name in (("total_cpu_s", "rate"), ("jvm_cpu_s", "rate_jvm"), ("children_cpu_s", "rate_children")):
                a, b = at(samples, t0, key), at(samples, re_, key)
                if a is not None and b is not None:
                    out[name] = round((b - a) * 1e6 / recs, 1)
            out["rate_rps"] = round(recs / secs)
    is_, ie = ph.get(("idle", "start")), ph.get(("idle", "end"))
    if is_ and ie and ie > is_:
        out["idle"] = round((at(samples, ie, "total_cpu_s") - at(samples, is_, "total_cpu_s")) * 100 / (ie - is_), 2)
    if "idle" in out and rs and re_ and re_ - rs > 10:
        t0 = rs + 5
        recs = at(samples, re_, "records") - at(samples, t0, "records")
        cpu = at(samples, re_, "total_cpu_s") - at(samples, t0, "total_cpu_s")
        if recs > 0:
            out["marginal"] = round((cpu - out["idle"] / 100 * (re_ - t0)) * 1e6 / recs, 1)
    hwm = [s["jvm_hwm_mb"] for s in samples if s.get("jvm_hwm_mb")]
    kids = [s["children_rss_mb"] for s in samples if "children_rss_mb" in s]
    if hwm:
        out["jvm_mb"] = round(max(hwm))
    if kids:
        out["kids_mb"] = round(max(kids), 1)
    return out


def runs(work):
    return [figures(os.path.dirname(p)) for p in sorted(glob.glob(os.path.join(work, "*", "run.json")))]


def fmt(values, digits):
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    med = statistics.median(vals)
    f = (lambda x: f"{x:,.{digits}f}")
    if len(vals) == 1:
        return f(med)
    return f"{f(med)} ({f(min(vals))}–{f(max(vals))})"


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def tables(rows):
    out = []
    for mode in sorted({r["mode"] for r in rows}):
        mine = [r for r in rows if r["mode"] == mode]
        variants = list(dict.fromkeys(r["variant"] for r in mine))
        by = {v: [r for r in mine if r["variant"] == v] for v in variants}
        out.append(f"### {mode}\n")
        out.append("| variant | runs | cold µs/rec (s to drain) | warm µs/rec | at rate µs/rec (JVM + processors) | rate rec/s "
                   "| at rate, less idle µs/rec | idle % of a core | JVM peak RSS MB | processors' RSS MB | first record s |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for v in variants:
            rs = by[v]
            g = lambda k: [r.get(k) for r in rs]  # noqa: E731
            split = f"{fmt(g('rate_jvm'), 1).split(' ')[0]} + {fmt(g('rate_children'), 1).split(' ')[0]}"
            out.append(f"| {v} | {len(rs)} | {fmt(g('cold'), 1)} ({fmt(g('cold_s'), 0).split(' ')[0]} s) | {fmt(g('warm'), 1)} "
                       f"| {fmt(g('rate'), 1)} ({split}) | {fmt(g('rate_rps'), 0)} | {fmt(g('marginal'), 1)} | {fmt(g('idle'), 2)} "
                       f"| {fmt(g('jvm_mb'), 0)} | {fmt(g('kids_mb'), 1)} | {fmt(g('first_s'), 1)} |")
        # ratios: each variant's median against the Python processor's and the best plain Java one's
        java = [v for v in variants if v.startswith("java:")]
        py = next((v for v in variants if v.startswith("python:")), None)
        out.append("")
        out.append("Ratios of medians (CPU per record, lower is better; < 1 means less CPU than the reference):\n")
        out.append("| variant | cold ÷ Python | warm ÷ Python | rate ÷ Python | less idle ÷ Python "
                   "| cold ÷ best Java | warm ÷ best Java | rate ÷ best Java | less idle ÷ best Java |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for v in variants:
            cells = []
            for ref in ("python", "java"):
                for k in ("cold", "warm", "rate", "marginal"):
                    mine_m = median(r.get(k) for r in by[v])
                    if ref == "python":
                        ref_m = median(r.get(k) for r in by[py]) if py else None
                    else:
                        cands = [median(r.get(k) for r in by[j]) for j in java]
                        cands = [c for c in cands if c is not None]
                        ref_m = min(cands) if cands else None
                    cells.append(f"{mine_m / ref_m:.2f}" if mine_m and ref_m else "–")
            out.append(f"| {v} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--one":
        f = figures(args[1])
        print(" ".join(f"{k}={f[k]}" for k in WORKLOADS if k in f))
    elif len(args) == 2 and args[0] == "--json":
        for r in runs(args[1]):
            print(json.dumps(r))
    elif len(args) == 1:
        print(tables(runs(args[0])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
