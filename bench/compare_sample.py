#!/usr/bin/env python3
"""Samples one consumer container of bench/compare.sh from the host, every --every seconds, until
the container's first process is gone, and appends one JSON line per sample to --out:

  t              seconds since the epoch
  records        record lines logged so far (" INFO  process_records - " in LOG_DIR/record_processor.log*,
                 read incrementally per file, so rotation loses nothing)
  total_cpu_s    CPU of the whole container (its cpuacct cgroup: the JVM, the processors, run.sh and
                 the log follower); if no cgroup can be read, the sum over its live processes
  jvm_cpu_s      the JVM's own CPU (utime+stime)
  children_cpu_s the JVM's children (the record processors): live ones from /proc, exited ones through
                 the JVM's cutime+cstime (the JVM waits for its children, so they are counted there)
  jvm_rss_mb, children_rss_mb   resident memory now; jvm_hwm_mb the JVM's peak (VmHWM)

  compare_sample.py --pid PID --log-dir DIR --out FILE [--every 0.5]

PID is the container's first process as the host sees it (podman inspect .State.Pid): run.sh, or the
JVM itself for the plain Java application.
"""
import argparse
import glob
import json
import os
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MARK = b" INFO  process_records - "


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def stat_fields(pid):
    s = read(f"/proc/{pid}/stat")
    if s is None:
        return None
    return s.rsplit(")", 1)[1].split()


def comm(pid):
    return (read(f"/proc/{pid}/comm") or "").strip()


def children(pid):
    out = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        out += [int(x) for x in (read(task) or "").split()]
    return out


def descendants(pid):
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def rss_bytes(pid):
    s = read(f"/proc/{pid}/statm")
    return int(s.split()[1]) * PAGE if s else 0


def hwm_mb(pid):
    for line in (read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def cpuacct_file(pid):
    for line in (read(f"/proc/{pid}/cgroup") or "").splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            for root in ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"):
                f = f"{root}{path}/cpuacct.usage"
                if os.path.exists(f):
                    return f
        if controllers == "":  # cgroup v2
            f = f"/sys/fs/cgroup{path}/cpu.stat"
            if os.path.exists(f):
                return f
    return None


def cgroup_cpu_s(f):
    s = read(f)
    if s is None:
        return None
    if f.endswith("cpuacct.usage"):
        return int(s) / 1e9
    for line in s.splitlines():
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e6
    return None


class Counter:
    """Counts record lines across a log file and its rotated copies, each file read once."""

    def __init__(self, log_dir):
        self.pattern = os.path.join(log_dir, "record_processor.log*")
        self.files = {}  # (dev, inode) -> [offset, records, partial tail]

    def count(self):
        for path in glob.glob(self.pattern):
            try:
                st = os.stat(path)
                key = (st.st_dev, st.st_ino)
                state = self.files.setdefault(key, [0, 0, b""])
                if st.st_size < state[0]:  # a new file on a reused inode
                    state[:] = [0, 0, b""]
                if st.st_size == state[0]:
                    continue
                with open(path, "rb") as f:
                    f.seek(state[0])
                    data = state[2] + f.read(st.st_size - state[0])
                state[0] = st.st_size
                cut = data.rfind(b"\n") + 1
                state[1] += data.count(MARK, 0, cut)
                state[2] = data[cut:]
            except OSError:
                continue
        return sum(s[1] for s in self.files.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--every", type=float, default=0.5)
    a = ap.parse_args()
    counter = Counter(a.log_dir)
    cg = cpuacct_file(a.pid)
    java = None
    with open(a.out, "a") as out:
        while os.path.exists(f"/proc/{a.pid}"):
            now = time.time()
            if java is None:
                java = next((p for p in descendants(a.pid) if comm(p) == "java"), None)
            row = {"t": round(now, 3), "records": counter.count()}
            total = cgroup_cpu_s(cg) if cg else None
            if total is None:
                total = sum(int(f[11]) + int(f[12]) for f in map(stat_fields, descendants(a.pid)) if f) / TICK
            row["total_cpu_s"] = round(total, 4)
            jf = stat_fields(java) if java else None
            if jf:
                kids = children(java)
                live = sum(int(f[11]) + int(f[12]) for f in map(stat_fields, kids) if f)
                row.update({
                    "jvm_cpu_s": (int(jf[11]) + int(jf[12])) / TICK,
                    "children_cpu_s": (live + int(jf[13]) + int(jf[14])) / TICK,
                    "children": len(kids),
                    "jvm_rss_mb": round(rss_bytes(java) / 2**20, 1),
                    "children_rss_mb": round(sum(rss_bytes(k) for k in kids) / 2**20, 1),
                    "jvm_hwm_mb": hwm_mb(java),
                })
            out.write(json.dumps(row) + "\n")
            out.flush()
            time.sleep(max(0.0, a.every - (time.time() - now)))


if __name__ == "__main__":
    main()
