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
  e2e_check.py counted --records R.jsonl... --poison P.jsonl --dead-letter DL.jsonl --counter-log LOG
               [--not-dead R.jsonl...] [--quiet]
      examples/json_counter with ON_ERROR=skip: every record put is accounted for, each exactly once:
      per shard, the last "shard X counted T records" line of LOG plus the records of that shard in the
      dead-letter file equals the records put into it. The poison record is in the dead-letter file with
      its error; every dead-lettered record failed with the poison's error and they form one contiguous
      run of its shard (the whole batch that held it); no record of --not-dead is dead-lettered.
  e2e_check.py sink --records R.jsonl... --sink-dir DIR [--scan SCAN.jsonl] [--quiet]
      examples/batching_sink: every record put is in the published DIR/<shardId>/*.ndjson files exactly
      once, with its data, and nothing else is; no *.part file is left. With --scan, each shard's lease
      checkpoint is the position of the last line of its newest published file.

  e2e_check.py ddb-sink --records R.jsonl... --items ITEMS.jsonl [--lost R.jsonl...] [--log LOG...]
               [--scan SCAN.jsonl] [--quiet]
      examples/dynamodb_sink: every record of R is an item of ITEMS (local_aws.py sink-items) exactly
      once, under the key <shard>/<sequence>/<sub-sequence>, with its data; no item is anything else
      (records of --lost were in a table since deleted: their items may be there or not). With --log,
      the sink's "wrote N items" lines give the writes, and the re-deliveries the keys absorbed (writes
      - items) are printed, and --min-rewritten N requires at least N. With --scan, every lease is checkpointed at its shard's last record put.
  e2e_check.py checkpoints-held --before SCAN.jsonl --during SCAN.jsonl...
      No lease's checkpoint in any DURING scan differs from its checkpoint in BEFORE: while the sink's
      writes fail, nothing past the last written record is checkpointed.

  e2e_check.py handoff --records R.jsonl... --from-log LOG --to-log LOG [--quiet]
      KCL 3.x graceful lease handoff from the worker of --from-log to the one of --to-log: at least one
      shard went, in the first worker's log, through "shutdown requested" -> its checkpoint -> "lease of
      shard ... ended", in that order, and the second worker initialized that shard at exactly that
      checkpoint. Every record is logged; a record logged twice must belong to a moved shard and lie
      after the first worker's last checkpoint of it (the loss a handoff without a checkpoint allows).
  e2e_check.py reshard --phases P.jsonl... --logs LOG... --shards SHARDS.jsonl --scan SCAN.jsonl
               [--reshard-at EPOCH_SECONDS] [--assert WHAT] [--any-child split|merge]
      A stream resharded while it was consumed; the records files are the producer's, one per phase,
      in the order they were put (phase i+1 began when phase i's producer stopped, with a reshard
      call between them). Every record is logged exactly once; every closed shard of SHARDS (the
      shard list, ListShards as JSON lines) has a lease at SHARD_END, and every open one a lease;
      records from child shards were logged; and, per partition key, every record of a phase is
      logged before every record of a later phase (the KCL processes a parent before its children).
      Prints the figures: records, shards, and with --reshard-at the seconds from the reshard call
      to the first record of a child shard in the log. --assert exactly-once|shard-end|children|order
      checks only that (default: all). --any-child split|merge: only whether a record of a child
      shard (merge: of a shard made by a merge, which has two parents) is logged yet (for waiting).
  e2e_check.py api-actions --calls CALLS.txt... [--out FILE] [--expect FILE]
      The AWS API operations the daemons called (lines "SERVICE OPERATION", written by the
      ApiCallRecorder agent), as {"dynamodb": [...], "kinesis": [...], ...} in IAM's service prefixes;
      --out writes it, --expect fails if it differs from FILE (the committed deploy/kcl-api-actions.json).

The record processor logs each record's data as one line (text format):
  HH:MM:SS.mmm [module] LEVEL  function - <data>
UTF-8 data as is with control characters escaped (\\n \\r \\t, other C0, DEL and C1 as \\u{1b}, \\u{9b}); other data as
"[non-UTF-8 data, base64] <base64>". Exit status 0 = check passed; the reason is printed otherwise.
"""
import argparse
import base64
import glob
import json
import os
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) \[[^\]]*\] +[A-Z]+ +\S+ - (.*)$")
BINARY_MARKER = "[non-UTF-8 data, base64] "
CHECKPOINTED = re.compile(r"checkpointed shard (\S+) at (\d+):(\d+)$")
INITIALIZED = re.compile(r"initialized shard (\S+) at checkpoint (\S+):(\S+)$")
SHUTDOWN_REQUESTED = re.compile(r"shutdown requested for shard (\S+)$")
LEASE_ENDED = re.compile(r"lease of shard (\S+) ended ")


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
        elif o < 0x20 or 0x7F <= o <= 0x9F:  # C0, DEL and the C1 controls
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


def record_key(shard, seq, sub):
    return (shard, str(seq), int(sub))


def records_by_key(paths):
    return {record_key(r["shard_id"], r["sequence_number"], r["sub_sequence_number"]): r
            for r in read_records(paths)}


COUNTED = re.compile(r"shard (\S+) counted (\d+) records over (\d+) partition keys$")


def cmd_counted(a):
    want = records_by_key(a.records)
    poison = read_records([a.poison])
    not_dead = records_by_key(a.not_dead or [])
    msgs = []
    # the counter's cumulative total per shard (its last line, which is also its largest)
    counted = {}
    for path in expand([a.counter_log]):
        for _, msg in log_lines(path):
            m = COUNTED.search(msg)
            if m:
                counted[m.group(1)] = max(counted.get(m.group(1), 0), int(m.group(2)))
    dead = []
    try:
        dead = read_records([a.dead_letter])
    except FileNotFoundError:
        pass
    dead_keys = defaultdict(list)
    for d in dead:
        dead_keys[record_key(d["shardId"], d["sequenceNumber"], d["subSequenceNumber"])].append(d)
    put_per_shard, dead_per_shard = defaultdict(int), defaultdict(int)
    for k in want:
        put_per_shard[k[0]] += 1
    for k, v in dead_keys.items():
        dead_per_shard[k[0]] += len(v)
    shards = sorted(set(put_per_shard) | set(counted) | set(dead_per_shard))
    accounted = all(counted.get(s, 0) + dead_per_shard[s] == put_per_shard[s] for s in shards)
    summary = {"put": len(want), "counted": sum(counted.values()), "dead_lettered": len(dead),
               "per_shard": {s: {"put": put_per_shard[s], "counted": counted.get(s, 0),
                                 "dead_lettered": dead_per_shard[s]} for s in shards}}
    if a.quiet:
        return 0 if accounted and len(dead) >= len(poison) else 1
    ok = accounted
    if not accounted:
        msgs.append("counted + dead-lettered != put for some shard (records lost or counted twice)")
    for k, v in dead_keys.items():
        r = want.get(k)
        if r is None:
            msgs.append(f"dead-lettered record {k} was never put")
            ok = False
            continue
        if len(v) > 1:
            msgs.append(f"{r['id']} dead-lettered {len(v)} times")
            ok = False
        d = v[0]
        if d.get("data") != r["data_b64"] or d.get("partitionKey") != r["partition_key"]:
            msgs.append(f"{r['id']}: dead-letter data or partition key differs from what was put")
            ok = False
        if k in not_dead:
            msgs.append(f"{r['id']}: dead-lettered although put after the poison's batch")
            ok = False
    for p in poison:
        k = record_key(p["shard_id"], p["sequence_number"], p["sub_sequence_number"])
        d = dead_keys.get(k)
        if not d:
            msgs.append(f"the poison record {p['id']} ({k[1]}:{k[2]}) is not in the dead-letter file")
            ok = False
            continue
        error = d[0].get("error", "")
        if f"{k[1]}:{k[2]}" not in error or "JSON" not in error:
            msgs.append(f"the poison's dead-letter error does not name it: {error!r}")
            ok = False
        # the whole batch: every dead-lettered record failed with the poison's error, on its shard,
        # and they are all the records put there between the first and the last of them
        others = [x for v in dead_keys.values() for x in v if x.get("error") != error]
        if others:
            msgs.append(f"{len(others)} dead-lettered records with another error: {others[0].get('error')!r}")
            ok = False
        run = sorted(position(x[1], x[2]) for x in dead_keys if x[0] == k[0])
        span = [key for key in want if key[0] == k[0] and run[0] <= position(key[1], key[2]) <= run[-1]]
        if len(span) != len(run) or any(x[0] != k[0] for x in dead_keys):
            msgs.append("the dead-lettered records are not one contiguous run of the poison's shard")
            ok = False
        summary["poison_batch"] = len(run)
        summary["poison_error"] = error
    msgs.append(json.dumps(summary))
    print("\n".join(msgs))
    return 0 if ok else 1


def sink_name_position(path):
    """<sequence>-<sub>-<pid>.ndjson -> the position of the file's first record."""
    seq, sub, _ = os.path.basename(path).split(".")[0].split("-")
    return position(seq, sub)


def cmd_sink(a):
    want = records_by_key(a.records)
    seen = defaultdict(list)
    msgs = []
    ok = True
    newest = {}  # shard -> (first position, path, last line's position)
    files = sorted(glob.glob(os.path.join(a.sink_dir, "*", "*.ndjson")))
    parts = sorted(glob.glob(os.path.join(a.sink_dir, "*", "*.part")))
    for path in files:
        shard_dir = os.path.basename(os.path.dirname(path))
        last = None
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    x = json.loads(line)
                    k = record_key(x["shardId"], x["sequenceNumber"], x["subSequenceNumber"])
                    data = (base64.b64decode(x["dataBase64"]) if "dataBase64" in x
                            else x["data"].encode("utf-8"))
                except (ValueError, KeyError) as e:
                    msgs.append(f"{path}:{n}: not a sink line ({e})")
                    ok = False
                    continue
                if k[0] != shard_dir:
                    msgs.append(f"{path}:{n}: shard {k[0]} in the directory of {shard_dir}")
                    ok = False
                r = want.get(k)
                if r is None:
                    msgs.append(f"{path}:{n}: {k[1]}:{k[2]} was never put")
                    ok = False
                elif base64.b64decode(r["data_b64"]) != data:
                    msgs.append(f"{path}:{n}: {r['id']}: data differs from what was put")
                    ok = False
                seen[k].append(path)
                last = position(k[1], k[2])
        if last is not None:
            first = sink_name_position(path)
            if shard_dir not in newest or first > newest[shard_dir][0]:
                newest[shard_dir] = (first, path, last)
    missing = [r["id"] for k, r in want.items() if k not in seen]
    dups = [want[k]["id"] for k, v in seen.items() if len(v) > 1 and k in want]
    if missing:
        msgs.append(f"{len(missing)} records not published: " + " ".join(missing[:20]))
        ok = False
    if dups:
        msgs.append(f"{len(dups)} records published more than once: " + " ".join(dups[:20]))
        ok = False
    if a.quiet:
        return 0 if ok else 1
    if parts:
        msgs.append(f"unpublished files left: {' '.join(parts)}")
        ok = False
    if a.scan:
        leases = {lease["leaseKey"]: lease for lease in read_scan(a.scan)}
        for shard, (_, path, last) in sorted(newest.items()):
            lease = leases.get(shard, {})
            ckpt = f'{lease.get("checkpoint")}:{lease.get("checkpointSubSequenceNumber", "0")}'
            if ckpt != f"{last[0]}:{last[1]}":
                msgs.append(f"{shard}: checkpoint {ckpt} != last line of {os.path.basename(path)} {last[0]}:{last[1]}")
                ok = False
            else:
                msgs.append(f"{shard}: checkpoint {ckpt} = last line of {os.path.basename(path)}")
    msgs.append(json.dumps({"put": len(want), "published": sum(len(v) for v in seen.values()),
                            "files": len(files), "part_files": len(parts), "missing": len(missing),
                            "duplicated": len(dups)}))
    print("\n".join(msgs))
    return 0 if ok else 1


WROTE = re.compile(r"shard (\S+): wrote (\d+) items up to")


def cmd_ddb_sink(a):
    want = records_by_key(a.records)
    lost = records_by_key(a.lost or [])
    items = read_records([a.items])
    msgs, ok = [], True
    seen = defaultdict(int)
    by_data = defaultdict(list)
    for item in items:
        k = record_key(item.get("shard_id"), item.get("sequence_number"), item.get("sub_sequence_number", -1))
        if item.get("id") != f"{k[0]}/{k[1]}/{k[2]}":
            msgs.append(f"item {item.get('id')}: key does not match its shard/sequence/sub-sequence {k}")
            ok = False
        r = want.get(k)
        if r is None:
            if k not in lost:
                msgs.append(f"item {item.get('id')}: no such record was put")
                ok = False
            continue
        if item.get("data_b64", "") != r["data_b64"]:
            msgs.append(f"item {item.get('id')} ({r['id']}): data differs from what was put")
            ok = False
        seen[k] += 1
        by_data[r["data_b64"]].append(item["id"])
    missing = [r["id"] for k, r in want.items() if k not in seen]
    dups = [ids for ids in by_data.values() if len(ids) > 1]
    if missing:
        msgs.append(f"{len(missing)} records missing from the table: " + " ".join(missing[:20]))
        ok = False
    if dups:
        msgs.append(f"{len(dups)} records in the table more than once: " + " ".join(map(str, dups[:10])))
        ok = False
    if a.quiet:
        return 0 if ok else 1
    figures = {"put": len(want), "items": len(items), "missing": len(missing), "duplicated": len(dups)}
    if a.log:
        writes = 0
        for path in expand(a.log):
            for _, msg in log_lines(path):
                m = WROTE.search(msg)
                if m:
                    writes += int(m.group(2))
        figures["item_writes"] = writes
        figures["rewritten_by_redelivery"] = writes - len(items)
        if a.min_rewritten is not None and writes - len(items) < a.min_rewritten:
            msgs.append(f"only {writes - len(items)} item writes repeated a record already written; "
                        f"expected at least {a.min_rewritten} (records delivered again)")
            ok = False
    if a.scan:
        last = {}
        for k in list(want) + list(lost):
            p = position(k[1], k[2])
            if k[0] not in last or p > last[k[0]]:
                last[k[0]] = p
        leases = {lease["leaseKey"]: lease for lease in read_scan(a.scan)}
        for shard, p in sorted(last.items()):
            lease = leases.get(shard, {})
            ckpt = f'{lease.get("checkpoint")}:{lease.get("checkpointSubSequenceNumber", "0")}'
            if ckpt != f"{p[0]}:{p[1]}":
                msgs.append(f"{shard}: checkpoint {ckpt} != its last record put {p[0]}:{p[1]}")
                ok = False
    msgs.append(json.dumps(figures))
    print("\n".join(msgs))
    return 0 if ok else 1


def cmd_checkpoints_held(a):
    def checkpoints(path):
        return {lease["leaseKey"]: (lease.get("checkpoint"), str(lease.get("checkpointSubSequenceNumber", "0")))
                for lease in read_scan(path)}
    before = checkpoints(a.before)
    ok = True
    for path in a.during:
        for shard, ckpt in sorted(checkpoints(path).items()):
            if ckpt != before.get(shard):
                print(f"{os.path.basename(path)}: {shard} checkpointed at {ckpt[0]}:{ckpt[1]}, "
                      f"was {before.get(shard)} when the writes began to fail")
                ok = False
    if ok:
        print(f"{len(before)} leases held their checkpoints over {len(a.during)} scans: "
              + " ".join(f"{s}={c[0]}:{c[1]}" for s, c in sorted(before.items())))
    return 0 if ok else 1


def cmd_handoff(a):
    records = read_records(a.records)
    want = {render(base64.b64decode(r["data_b64"])): r for r in records}
    # the first worker's story per shard: checkpoints, and the order of the handoff's three steps
    events = defaultdict(list)  # shard -> [(kind, position or None)]
    for path in expand([a.from_log]):
        for _, msg in log_lines(path):
            for kind, rx in (("shutdown", SHUTDOWN_REQUESTED), ("ended", LEASE_ENDED)):
                m = rx.search(msg)
                if m:
                    events[m.group(1)].append((kind, None))
            c = CHECKPOINTED.search(msg)
            if c:
                events[c.group(1)].append(("checkpoint", position(c.group(2), c.group(3))))
    inits = defaultdict(list)
    for path in expand([a.to_log]):
        for _, msg in log_lines(path):
            m = INITIALIZED.search(msg)
            if m and m.group(2).isdigit():
                inits[m.group(1)].append(position(m.group(2), m.group(3)))
    moved, last_ckpt, msgs = [], {}, []
    for shard, evs in sorted(events.items()):
        ckpts = [p for k, p in evs if k == "checkpoint"]
        if ckpts:
            last_ckpt[shard] = ckpts[-1]
        kinds = [k for k, _ in evs]
        if "shutdown" not in kinds or "ended" not in kinds:
            continue
        i_sd = kinds.index("shutdown")
        i_end = kinds.index("ended", i_sd) if "ended" in kinds[i_sd:] else -1
        between = [p for k, p in evs[i_sd:i_end] if k == "checkpoint"] if i_end > 0 else []
        if not between:
            msgs.append(f"{shard}: shutdown requested and lease ended, but no checkpoint between them: {kinds}")
            continue
        handed = between[-1]
        if handed not in inits.get(shard, []):
            msgs.append(f"{shard}: handed over at {handed}, but the second worker initialized it at {inits.get(shard)}")
            continue
        moved.append(shard)
        msgs.append(f"{shard}: shutdownRequested -> checkpoint {handed[0]}:{handed[1]} -> leaseLost; "
                    f"the second worker initialized it there")
    ok = bool(moved)
    if not moved:
        msgs.append("no shard was handed over gracefully")
    seen = defaultdict(int)
    for path in expand([a.from_log, a.to_log]):
        for _, msg in log_lines(path):
            if msg in want:
                seen[msg] += 1
    missing = [r["id"] for m, r in want.items() if not seen[m]]
    bad_dups = []
    for m, n in seen.items():
        if n < 2:
            continue
        r = want[m]
        pos = position(r["sequence_number"], r["sub_sequence_number"])
        if r["shard_id"] not in moved or pos <= last_ckpt.get(r["shard_id"], (-1, -1)):
            bad_dups.append(r["id"])
    if missing:
        ok = False
        msgs.append("missing: " + " ".join(missing[:20]))
    if bad_dups:
        ok = False
        msgs.append("duplicated at or before a checkpoint, or not on a moved shard: " + " ".join(bad_dups[:20]))
    msgs.append(json.dumps({"records": len(want), "moved_shards": moved, "missing": len(missing),
                            "duplicated": sum(1 for n in seen.values() if n > 1),
                            "duplicates_out_of_bound": len(bad_dups)}))
    if not a.quiet or not ok:
        print("\n".join(msgs))
    return 0 if ok else 1


def log_order(patterns):
    """message -> [(order, seconds of day)] over the log files, oldest first: a rotated file
    (.N, the larger N the older) before the live one, lines in file order."""
    files = []
    for p in patterns:
        rotated = [f for f in glob.glob(p + ".*") if f[len(p) + 1:].isdigit()]
        files += sorted(rotated, key=lambda f: -int(f[len(p) + 1:])) + glob.glob(p)
    seen = defaultdict(list)
    n = 0
    for path in files:
        for t, msg in log_lines(path):
            seen[msg].append((n, t))
            n += 1
    return seen


def cmd_reshard(a):
    phases = [read_records([p]) for p in a.phases]
    records = [r for ph in phases for r in ph]
    shards = {s["ShardId"]: s for s in read_scan(a.shards)}
    children = {sid for sid, s in shards.items() if s.get("ParentShardId") or s.get("AdjacentParentShardId")}
    if a.any_child == "merge":
        children = {sid for sid in children if shards[sid].get("AdjacentParentShardId")}
    closed = {sid for sid, s in shards.items() if "EndingSequenceNumber" in s.get("SequenceNumberRange", {})}
    seen = log_order(a.logs)
    msg_of = {r["id"]: render(base64.b64decode(r["data_b64"])) for r in records}
    child_logged = [(seen[msg_of[r["id"]]][0], r) for r in records
                    if r["shard_id"] in children and msg_of[r["id"]] in seen]
    if a.any_child:
        return 0 if child_logged else 1
    if not a.scan:
        sys.exit("reshard: --scan is required (unless --any-child)")
    msgs, ok = [], True
    missing = [r["id"] for r in records if msg_of[r["id"]] not in seen]
    dups = [r["id"] for r in records if len(seen.get(msg_of[r["id"]], [])) > 1]
    want = (lambda what: a.assert_ in ("all", what))
    if missing and want("exactly-once"):
        ok = False
        msgs.append(f"{len(missing)} records not logged: " + " ".join(missing[:20]))
    if dups and want("exactly-once"):
        ok = False
        msgs.append(f"{len(dups)} records logged more than once: " + " ".join(dups[:20]))
    leases = {lease["leaseKey"]: lease for lease in read_scan(a.scan)}
    for sid in sorted(shards) if want("shard-end") else []:
        lease = leases.get(sid)
        if lease is None:
            ok = False
            msgs.append(f"{sid} ({'closed' if sid in closed else 'open'}): no lease")
        elif sid in closed and lease.get("checkpoint") != "SHARD_END":
            ok = False
            msgs.append(f"{sid} (closed): lease checkpoint {lease.get('checkpoint')}, not SHARD_END")
        elif sid not in closed and lease.get("checkpoint") == "SHARD_END":
            ok = False
            msgs.append(f"{sid} (open): lease checkpoint SHARD_END")
    per_shard = defaultdict(int)
    for r in records:
        per_shard[r["shard_id"]] += 1
    logged_per_shard = defaultdict(int)
    for r in records:
        if msg_of[r["id"]] in seen:
            logged_per_shard[r["shard_id"]] += 1
    if want("children"):
        if not child_logged:
            ok = False
            msgs.append("no record of a child shard was logged")
        for sid in sorted(children & set(per_shard)):
            if logged_per_shard[sid] != per_shard[sid]:
                ok = False
                msgs.append(f"{sid} (child): {logged_per_shard[sid]} of its {per_shard[sid]} records logged")
    # per key: the last line of each phase before the first line of every later phase
    order_bad = []
    keys = sorted({r["partition_key"] for r in records})
    for key in keys:
        spans = []  # (phase, first logged, last logged), each (log position, record id)
        for i, ph in enumerate(phases):
            pos = [(seen[msg_of[r["id"]]][0][0], r["id"]) for r in ph
                   if r["partition_key"] == key and msg_of[r["id"]] in seen]
            if pos:
                spans.append((i, min(pos), max(pos)))
        for x, (i, _, last_i) in enumerate(spans):
            for j, first_j, _ in spans[x + 1:]:
                if last_i[0] > first_j[0]:
                    order_bad.append(f"{key}: {last_i[1]} ({os.path.basename(a.phases[i])}) logged after "
                                     f"{first_j[1]} ({os.path.basename(a.phases[j])})")
    if order_bad and want("order"):
        ok = False
        msgs += order_bad[:20]
    figures = {
        "records": len(records), "per_phase": [len(ph) for ph in phases], "partition_keys": len(keys),
        "shards": len(shards), "closed_shards": len(closed), "open_shards": len(shards) - len(closed),
        "records_per_shard": dict(sorted(per_shard.items())),
        "child_shard_records_logged": len(child_logged), "missing": len(missing), "duplicated": len(dups),
        "keys_out_of_order": len({b.split(":")[0] for b in order_bad}),
        "leases_at_shard_end": sorted(s for s, lease in leases.items() if lease.get("checkpoint") == "SHARD_END"),
    }
    if a.reshard_at is not None and child_logged:
        (_, t), _ = min(child_logged, key=lambda x: x[0][0])
        call = a.reshard_at % 86400
        figures["first_child_record_after_s"] = round((t - call) % 86400, 1)
    msgs.append(json.dumps(figures))
    print("\n".join(msgs))
    return 0 if ok else 1


# The SDK's service names (SdkExecutionAttribute.SERVICE_NAME) and IAM's action prefixes.
IAM_PREFIX = {"DynamoDb": "dynamodb", "Kinesis": "kinesis", "CloudWatch": "cloudwatch", "Sts": "sts"}


def cmd_api_actions(a):
    actions = defaultdict(set)
    for path in a.calls:
        with open(path, encoding="utf-8") as f:
            for line in f:
                service, _, op = line.strip().partition(" ")
                if not op:
                    continue
                actions[IAM_PREFIX.get(service, service.lower())].add(op)
    got = {svc: sorted(ops) for svc, ops in sorted(actions.items())}
    text = json.dumps(got, indent=2) + "\n"
    print(text, end="")
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    if a.expect:
        with open(a.expect, encoding="utf-8") as f:
            committed = {k: sorted(v) for k, v in json.load(f).items() if not k.startswith("_")}
        if committed != got:
            for svc in sorted(set(committed) | set(got)):
                new = sorted(set(got.get(svc, [])) - set(committed.get(svc, [])))
                gone = sorted(set(committed.get(svc, [])) - set(got.get(svc, [])))
                if new:
                    print(f"{svc}: called but not in {a.expect}: {new}")
                if gone:
                    print(f"{svc}: in {a.expect} but not called: {gone}")
            return 1
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
    co = sub.add_parser("counted")
    co.add_argument("--records", nargs="+", required=True)
    co.add_argument("--poison", required=True)
    co.add_argument("--dead-letter", required=True)
    co.add_argument("--counter-log", required=True)
    co.add_argument("--not-dead", nargs="+")
    co.add_argument("--quiet", action="store_true")
    si = sub.add_parser("sink")
    si.add_argument("--records", nargs="+", required=True)
    si.add_argument("--sink-dir", required=True)
    si.add_argument("--scan")
    si.add_argument("--quiet", action="store_true")
    dd = sub.add_parser("ddb-sink")
    dd.add_argument("--records", nargs="+", required=True)
    dd.add_argument("--items", required=True)
    dd.add_argument("--lost", nargs="+")
    dd.add_argument("--log", nargs="+")
    dd.add_argument("--scan")
    dd.add_argument("--min-rewritten", type=int)
    dd.add_argument("--quiet", action="store_true")
    ch = sub.add_parser("checkpoints-held")
    ch.add_argument("--before", required=True)
    ch.add_argument("--during", nargs="+", required=True)
    ho = sub.add_parser("handoff")
    ho.add_argument("--records", nargs="+", required=True)
    ho.add_argument("--from-log", required=True)
    ho.add_argument("--to-log", required=True)
    ho.add_argument("--quiet", action="store_true")
    rs = sub.add_parser("reshard")
    rs.add_argument("--phases", nargs="+", required=True)
    rs.add_argument("--logs", nargs="+", required=True)
    rs.add_argument("--shards", required=True)
    rs.add_argument("--scan")
    rs.add_argument("--reshard-at", type=float)
    rs.add_argument("--assert", dest="assert_", default="all",
                    choices=["all", "exactly-once", "shard-end", "children", "order"])
    rs.add_argument("--any-child", choices=["split", "merge"])
    aa = sub.add_parser("api-actions")
    aa.add_argument("--calls", nargs="+", required=True)
    aa.add_argument("--out")
    aa.add_argument("--expect")
    a = ap.parse_args()
    sys.exit({"delivered": cmd_delivered, "leases": cmd_leases, "initialized": cmd_initialized,
              "owners": cmd_owners, "counted": cmd_counted, "sink": cmd_sink, "handoff": cmd_handoff,
              "reshard": cmd_reshard, "api-actions": cmd_api_actions, "ddb-sink": cmd_ddb_sink,
              "checkpoints-held": cmd_checkpoints_held}[a.cmd](a))


if __name__ == "__main__":
    main()
