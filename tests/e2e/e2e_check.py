#!/usr/bin/env python3
"""Checks for tests/e2e/run.sh: compares what scripts/producer.py put (its --records-out JSON lines)
with what record_processor logged, and with the KCL lease table.

  e2e_check.py delivered --records R.jsonl... --logs LOG... [--exactly-once] [--forbid F.jsonl...]
               [--killed-log LOG --interval S] [--quiet]
      Every record in R is in the logs (exactly once with --exactly-once, else at least once), no record
      of F is, and with --killed-log every duplicate is one the killed worker logged after its last
      checkpoint of that shard and within S seconds (+ slack) of it: the loss a checkpoint interval allows.
  e2e_check.py leases --scan SCAN.jsonl --records R.jsonl...
      Every lease holds a real checkpoint (not TRIM_HORIZON) equal to the last (sequence, sub-sequence)
      put into its shard: a graceful shutdown checkpointed everything.
  e2e_check.py initialized --scan SCAN.jsonl --logs LOG...
      Each shard's `initialize` line in LOG shows the lease's checkpoint from SCAN.
  e2e_check.py owners --scan SCAN.jsonl   -> prints "owner count" per owner

The record processor logs each record's data as one line (text format):
  HH:MM:SS.mmm [module] LEVEL  function - <data>
UTF-8 data as is with control characters escaped (\\n \\r \\t, others \\u{1b}); other data as
"[non-UTF-8 data, base64] <base64>". Exit status 0 = check passed; the reason is printed otherwise.
"""
import argparse
import base64
import glob
import json
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) \[[^\]]*\] +[A-Z]+ +\S+ - (.*)$")
BINARY_MARKER = "[non-UTF-8 data, base64] "
CHECKPOINTED = re.compile(r"checkpointed shard (\S+) at (\d+):(\d+)$")
INITIALIZED = re.compile(r"initialized shard (\S+) at checkpoint (\S+):(\S+)$")


def render(data: bytes) -> str:
    """The message record_processor logs for a record with this data."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return BINARY_MARKER + base64.b64encode(data).decode()
    out = []
    for ch in text:
        o = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append("\\u{%x}" % o)
        else:
            out.append(ch)
    return "".join(out)


def expand(patterns):
    files = []
    for p in patterns:
        # include rotated files (record_processor.log.1 ...)
        files += sorted(set(glob.glob(p) + glob.glob(p + ".*")))
    return files


def read_records(paths):
    recs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            recs += [json.loads(line) for line in f if line.strip()]
    return recs


def log_lines(path):
    """(seconds of day, message) for each well-formed line of a log file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if m:
                h, mi, s, ms, msg = m.groups()
                yield int(h) * 3600 + int(mi) * 60 + int(s) + int(ms) / 1000, msg


def position(seq, sub):
    return (int(seq), int(sub))


def cmd_delivered(a):
    expected = read_records(a.records)
    forbidden = read_records(a.forbid or [])
    want = {}
    for r in expected:
        want[render(base64.b64decode(r["data_b64"]))] = r
    banned = {render(base64.b64decode(r["data_b64"])): r for r in forbidden}
    seen = defaultdict(list)  # message -> [(log file, time)]
    for path in expand(a.logs):
        for t, msg in log_lines(path):
            if msg in want or msg in banned:
                seen[msg].append((path, t))
    missing = [r["id"] for m, r in want.items() if m not in seen]
    dups = {m: v for m, v in seen.items() if m in want and len(v) > 1}
    again = [banned[m]["id"] for m in banned if m in seen]
    ok = True
    summary = {"expected": len(want), "delivered": sum(1 for m in want if m in seen),
               "missing": len(missing), "duplicated": len(dups),
               "extra_deliveries": sum(len(v) - 1 for v in dups.values()), "forbidden_seen": len(again)}
    if missing:
        ok = False
        if not a.quiet:
            print("missing: " + " ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
    if again:
        ok = False
        if not a.quiet:
            print("delivered although at or before the checkpoint: " + " ".join(again[:20]))
    if dups and a.exactly_once:
        ok = False
        if not a.quiet:
            print("duplicated: " + " ".join(want[m]["id"] for m in list(dups)[:20]))
    if dups and a.killed_log:
        killed = expand([a.killed_log])
        # last checkpoint time per shard in the killed worker's log, and when each record was logged there
        last_ckpt = {}
        start = None
        for path in killed:
            for t, msg in log_lines(path):
                start = t if start is None else min(start, t)
                c = CHECKPOINTED.search(msg)
                if c:
                    last_ckpt[c.group(1)] = (t, position(c.group(2), c.group(3)))
        bad = []
        for m, where in dups.items():
            r = want[m]
            in_killed = [t for p, t in where if p in killed]
            if not in_killed:
                bad.append(f"{r['id']}: duplicated but not by the killed worker")
                continue
            t_ckpt, pos = last_ckpt.get(r["shard_id"], (start, (-1, -1)))
            if position(r["sequence_number"], r["sub_sequence_number"]) <= pos:
                bad.append(f"{r['id']}: re-delivered although checkpointed ({pos})")
            elif min(in_killed) - t_ckpt > a.interval + 1.5:
                bad.append(f"{r['id']}: logged {min(in_killed) - t_ckpt:.1f}s after the shard's last checkpoint "
                           f"(interval {a.interval}s): it should have been checkpointed")
        summary["duplicates_out_of_bound"] = len(bad)
        if bad:
            ok = False
            if not a.quiet:
                print("\n".join(bad[:20]))
    if not a.quiet:
        print(json.dumps(summary))
    return 0 if ok else 1


def read_scan(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_leases(a):
    last = {}
    for r in read_records(a.records):
        p = position(r["sequence_number"], r["sub_sequence_number"])
        last[r["shard_id"]] = max(last.get(r["shard_id"], p), p)
    ok = True
    for lease in read_scan(a.scan):
        shard, ckpt = lease["leaseKey"], lease.get("checkpoint")
        sub = lease.get("checkpointSubSequenceNumber", "0")
        if ckpt is None or not str(ckpt).isdigit():
            print(f"{shard}: checkpoint is {ckpt}, not a sequence number")
            ok = False
        elif shard in last and position(ckpt, sub) != last[shard]:
            print(f"{shard}: checkpoint {ckpt}:{sub} != last record put {last[shard][0]}:{last[shard][1]}")
            ok = False
        else:
            print(f"{shard}: checkpoint {ckpt}:{sub} ok")
    return 0 if ok else 1


def cmd_initialized(a):
    leases = {lease["leaseKey"]: f'{lease["checkpoint"]}:{lease.get("checkpointSubSequenceNumber", "0")}'
              for lease in read_scan(a.scan)}
    got = {}
    for path in expand(a.logs):
        for _, msg in log_lines(path):
            m = INITIALIZED.search(msg)
            if m:
                got.setdefault(m.group(1), []).append(f"{m.group(2)}:{m.group(3)}")
    ok = True
    for shard, ckpt in sorted(leases.items()):
        if ckpt not in got.get(shard, []):
            print(f"{shard}: initialize got {got.get(shard)} but the lease checkpoint is {ckpt}")
            ok = False
        else:
            print(f"{shard}: initialize got the checkpoint {ckpt}")
    return 0 if ok else 1


def cmd_owners(a):
    counts = defaultdict(int)
    for lease in read_scan(a.scan):
        counts[lease.get("leaseOwner", "-")] += 1
    for owner, n in sorted(counts.items()):
        print(owner, n)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("delivered")
    d.add_argument("--records", nargs="+", required=True)
    d.add_argument("--logs", nargs="+", required=True)
    d.add_argument("--forbid", nargs="+")
    d.add_argument("--exactly-once", action="store_true")
    d.add_argument("--killed-log")
    d.add_argument("--interval", type=float, default=1.0)
    d.add_argument("--quiet", action="store_true")
    le = sub.add_parser("leases")
    le.add_argument("--scan", required=True)
    le.add_argument("--records", nargs="+", required=True)
    ini = sub.add_parser("initialized")
    ini.add_argument("--scan", required=True)
    ini.add_argument("--logs", nargs="+", required=True)
    ow = sub.add_parser("owners")
    ow.add_argument("--scan", required=True)
    a = ap.parse_args()
    sys.exit({"delivered": cmd_delivered, "leases": cmd_leases, "initialized": cmd_initialized,
              "owners": cmd_owners}[a.cmd](a))


if __name__ == "__main__":
    main()
