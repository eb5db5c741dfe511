#!/usr/bin/env python3
"""Samples a running consumer (run.sh -> java MultiLangDaemon -> one record_processor per lease) from
/proc until run.sh exits, and prints one JSON object with what the container spends.

  footprint_sample.py --run-sh-pid PID --log LOG --t0 EPOCH_SECONDS --steady-after SECONDS --out FILE

- first_record_s: seconds from --t0 (run.sh's start) to the first record line in LOG
  (record_processor.log and its rotated files: "process_records - ").
- jvm_rss_mb / children_rss_mb: peak resident memory of the JVM, and peak of the processors' sum.
- steady state (from first_record + --steady-after to the last sample before the stop request, the
  moment the file STOP appears beside --out): records logged, CPU seconds of the JVM and of the
  processors, and so CPU per record of each, and their RSS at the end of the window.
CPU is utime+stime from /proc/PID/stat (clock ticks); processors that exited keep their last value.
"""
import argparse
import glob
import json
import os
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def children(pid):
    out = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(task) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    except (OSError, IndexError):
        return None


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError):
        return 0


def find_java(run_sh):
    for kid in children(run_sh):
        if comm(kid) == "java":
            return kid
    return None


def count_records(log):
    n = 0
    for path in glob.glob(log) + glob.glob(log + ".*"):
        with open(path, "rb") as f:
            for line in f:
                if b"] INFO  process_records - " in line:
                    n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-sh-pid", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--steady-after", type=float, default=10)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    stop_flag = os.path.join(os.path.dirname(a.out), "STOP")
    java = None
    child_cpu = {}
    jvm_peak = kids_peak = 0
    first = None
    window = None  # (time, records, jvm cpu, children cpu) at the start of the steady state
    last = None
    while os.path.exists(f"/proc/{a.run_sh_pid}"):
        now = time.time()
        java = java or find_java(a.run_sh_pid)
        if java:
            kids = children(java)
            for k in kids:
                t = cpu_ticks(k)
                if t is not None:
                    child_cpu[k] = t
            jrss = rss_kb(java)
            krss = sum(rss_kb(k) for k in kids)
            jvm_peak, kids_peak = max(jvm_peak, jrss), max(kids_peak, krss)
            jcpu = cpu_ticks(java) or 0
            if first is None and count_records(a.log) > 0:
                first = now - a.t0
            if first is not None and not os.path.exists(stop_flag):
                sample = (now, count_records(a.log), jcpu, sum(child_cpu.values()), jrss, krss, len(kids))
                if window is None and now - a.t0 >= first + a.steady_after:
                    window = sample
                last = sample
        time.sleep(0.5)
    res = {"first_record_s": round(first, 1) if first is not None else None,
           "jvm_rss_peak_mb": round(jvm_peak / 1024, 1), "children_rss_peak_mb": round(kids_peak / 1024, 1)}
    if window and last and last[0] > window[0]:
        recs = last[1] - window[1]
        secs = last[0] - window[0]
        jcpu = (last[2] - window[2]) / TICK
        kcpu = (last[3] - window[3]) / TICK
        res.update({
            "steady_seconds": round(secs, 1), "steady_records": recs,
            "records_per_s": round(recs / secs, 1),
            "jvm_cpu_share": round(jcpu / secs, 3), "children_cpu_share": round(kcpu / secs, 3),
            "jvm_cpu_us_per_record": round(jcpu * 1e6 / recs, 1) if recs else None,
            "children_cpu_us_per_record": round(kcpu * 1e6 / recs, 1) if recs else None,
            "jvm_rss_end_mb": round(last[4] / 1024, 1), "children_rss_end_mb": round(last[5] / 1024, 1),
            "processors": last[6],
        })
    with open(a.out, "w") as f:
        json.dump(res, f)
        f.write("\n")


if __name__ == "__main__":
    main()
