#!/usr/bin/env python3
"""Put test records into a local Kinesis stream, like the sample's HTTP producer does.

Run it with the venv python that `scripts/local-stack.sh install` creates:
    .local/venv/bin/python scripts/producer.py --stream NAME [options]
(or `scripts/local-stack.sh put NAME [options]`).

Every user record carries a unique id "<prefix>-<kind>-<n>" and a random partition key, or, with
--keys N, one of the fixed keys key-000 .. key-<N-1> in turn (the same keys from run to run, so
records put before and after a reshard can be compared key by key; aggregates keep their random
keys). Kinds:
  text     plain ASCII text
  json     a JSON body {"data": "..."}, as the sample's HTTP producer sends
  unicode  non-ASCII UTF-8 text (accents, CJK, an emoji)
  control  UTF-8 text with a tab, a newline, a carriage return, an ESC and an 8-bit CSI (U+009B) in it
  binary   bytes that are not valid UTF-8
  large    one record of --large-bytes (default 1,000,000) bytes of text
  agg      KPL-aggregated Kinesis records (built with aws-kinesis-agg), each holding
           --agg-records user records, so the daemon de-aggregates them and checkpoints carry
           sub-sequence numbers
--mode picks one kind, or `all` (every kind; `large` once), or `mix` (every kind but `large`).
--count is the number of records (aggregates for `agg`) per kind per round.

--records-out FILE appends one JSON line per USER record put (aggregated sub-records each get
their own line): id, kind, data_b64, partition_key, sequence_number, sub_sequence_number,
shard_id, aggregated. Tests compare those with what the processor logged.
--every SECONDS repeats a round every SECONDS until --duration SECONDS (default 3600) has
passed or the process is stopped (SIGTERM/SIGINT end it cleanly after the current round).
"""
import argparse
import base64
import hashlib
import json
import os
import random
import signal
import sys
import time
import uuid

import boto3
from botocore.config import Config

KINDS = ["text", "json", "unicode", "control", "binary", "large", "agg"]
MAX_BATCH_BYTES = 4 * 1024 * 1024  # PutRecords allows 5 MiB per request; stay below it

stopping = False


def _stop(_sig, _frame):
    global stopping
    stopping = True


def client():
    return boto3.client(
        "kinesis",
        endpoint_url=os.environ.get("KINESIS_ENDPOINT", "http://127.0.0.1:4568"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 10, "mode": "standard"}, read_timeout=120),
    )


def partition_key():
    return uuid.uuid4().hex


class FixedKeys:
    """key-000 .. key-<n-1>, in turn."""

    def __init__(self, n):
        self.n = n
        self.i = 0

    def __call__(self):
        key = f"key-{self.i % self.n:03d}"
        self.i += 1
        return key


def payload(kind, rid, large_bytes):
    """The bytes of one user record of this kind with this id."""
    if kind == "text":
        return f"{rid} plain text record".encode()
    if kind == "json":
        return json.dumps({"data": f"{rid} hello from the producer"}).encode()
    if kind == "unicode":
        return f"{rid} héllo wörld ✓ 日本語 Ελληνικά 😀".encode("utf-8")
    if kind == "control":
        # C0 controls, ESC, and the 8-bit CSI (U+009B, a C1 control) a terminal would obey
        return f"{rid} tab\there newline\nhere cr\rhere esc\x1bhere csi\u009b2Jhere".encode()
    if kind == "binary":
        return b"\xff\xfe\x00" + rid.encode() + b"\x80\xc3\x28"
    if kind == "large":
        head = f"{rid} large record ".encode()
        return head + b"x" * (large_bytes - len(head))
    raise ValueError(kind)


class Producer:
    def __init__(self, stream, prefix, out, echo, large_bytes, agg_records, keys=None):
        self.k = client()
        self.key = keys or partition_key
        self.stream = stream
        self.prefix = prefix
        self.out = out
        self.echo = echo
        self.large_bytes = large_bytes
        self.agg_records = agg_records
        self.counter = {}
        self.user_records = 0
        self.kinesis_records = 0
        self.bytes = 0

    def next_id(self, kind):
        n = self.counter.get(kind, 0)
        self.counter[kind] = n + 1
        return f"{self.prefix}-{kind}-{n:06d}"

    def emit(self, rec, result, sub, aggregated):
        """Report one user record that Kinesis accepted."""
        self.user_records += 1
        if self.out:
            self.out.write(json.dumps({
                "id": rec["id"], "kind": rec["kind"], "data_b64": base64.b64encode(rec["data"]).decode(),
                "partition_key": rec["pk"], "sequence_number": result["SequenceNumber"],
                "sub_sequence_number": sub, "shard_id": result["ShardId"], "aggregated": aggregated,
            }) + "\n")
        if self.echo:
            shown = rec["data"] if len(rec["data"]) <= 200 else rec["data"][:200] + b"..."
            print(f"{rec['id']} {shown!r}")

    def put_batch(self, entries):
        """entries: (kinesis record, [user records], aggregated) triples; retried until all are accepted."""
        pending = list(entries)
        delay = 0.1
        while pending:
            resp = self.k.put_records(StreamName=self.stream, Records=[e[0] for e in pending])
            failed = []
            for entry, result in zip(pending, resp["Records"]):
                krec, users, aggregated = entry
                if "ErrorCode" in result:
                    failed.append(entry)
                    continue
                self.kinesis_records += 1
                self.bytes += len(krec["Data"])
                for sub, rec in enumerate(users):
                    self.emit(rec, result, sub if aggregated else 0, aggregated)
            pending = failed
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 2)

    def put_all(self, entries):
        batch, size = [], 0
        for entry in entries:
            n = len(entry[0]["Data"]) + len(entry[0]["PartitionKey"])
            if batch and (len(batch) == 500 or size + n > MAX_BATCH_BYTES):
                self.put_batch(batch)
                batch, size = [], 0
            batch.append(entry)
            size += n
        if batch:
            self.put_batch(batch)

    def simple(self, kind, count):
        entries = []
        for _ in range(count):
            rec = {"id": self.next_id(kind), "kind": kind, "pk": self.key()}
            rec["data"] = payload(kind, rec["id"], self.large_bytes)
            entries.append(({"Data": rec["data"], "PartitionKey": rec["pk"]}, [rec], False))
        self.put_all(entries)

    def aggregated(self, count):
        from aws_kinesis_agg.aggregator import RecordAggregator

        entries = []
        for _ in range(count):
            agg = RecordAggregator()
            users = []
            # The KCL drops de-aggregated user records whose hash key lies outside the shard the
            # aggregate came from (the KPL only aggregates records bound for one shard). So every user
            # record gets its own random partition key but the aggregate's explicit hash key.
            hash_key = str(int(hashlib.md5(partition_key().encode()).hexdigest(), 16))
            for i in range(self.agg_records):
                sub_kind = ["text", "json", "unicode", "binary"][i % 4]
                rec = {"id": self.next_id("agg"), "kind": "agg", "pk": partition_key()}
                rec["data"] = payload(sub_kind, rec["id"], self.large_bytes)
                if agg.add_user_record(rec["pk"], rec["data"], hash_key) is not None:
                    raise SystemExit("aggregate overflowed: lower --agg-records")
                users.append(rec)
            pk, ehk, data = agg.clear_and_get().get_contents()
            krec = {"Data": data, "PartitionKey": pk}
            if ehk:
                krec["ExplicitHashKey"] = ehk
            entries.append((krec, users, True))
        self.put_all(entries)

    def round(self, kinds, count):
        for kind in kinds:
            if kind == "agg":
                self.aggregated(count)
            elif kind == "large":
                self.simple("large", 1)
            else:
                self.simple(kind, count)
        if self.out:
            self.out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--mode", default="mix", choices=KINDS + ["all", "mix"])
    ap.add_argument("--count", type=int, default=1, help="records (or aggregates) per kind per round")
    ap.add_argument("--prefix", default=None, help="id prefix (default: r<epoch seconds>)")
    ap.add_argument("--agg-records", type=int, default=5, help="user records per aggregate (default 5)")
    ap.add_argument("--large-bytes", type=int, default=1_000_000)
    ap.add_argument("--records-out", help="append one JSON line per user record put to this file")
    ap.add_argument("--print", action="store_true", help="print every record put to stdout")
    ap.add_argument("--every", type=float, default=0, help="repeat a round every SECONDS")
    ap.add_argument("--duration", type=float, default=3600, help="with --every: stop after SECONDS (default 3600)")
    ap.add_argument("--seed", type=int, help="seed the random partition keys (reproducible runs)")
    ap.add_argument("--keys", type=int, help="use the fixed partition keys key-000 .. key-<N-1> in turn")
    args = ap.parse_args()

    if args.seed is not None:
        rnd = random.Random(args.seed)
        uuid.uuid4 = lambda: uuid.UUID(int=rnd.getrandbits(128), version=4)  # noqa: E731
    kinds = {"all": KINDS, "mix": [k for k in KINDS if k != "large"]}.get(args.mode, [args.mode])
    prefix = args.prefix or f"r{int(time.time())}"
    out = open(args.records_out, "a", encoding="utf-8") if args.records_out else None
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    if args.keys is not None and args.keys < 1:
        ap.error("--keys must be at least 1")
    p = Producer(args.stream, prefix, out, args.print, args.large_bytes, args.agg_records,
                 FixedKeys(args.keys) if args.keys else None)
    t0 = time.time()
    rounds = 0
    while True:
        p.round(kinds, args.count)
        rounds += 1
        if not args.every or stopping:
            break
        end = time.time() + args.every
        while time.time() < end and not stopping:
            time.sleep(min(0.2, max(0.0, end - time.time())))
        if stopping or time.time() - t0 >= args.duration:
            break
    if out:
        out.close()
    print(json.dumps({"stream": args.stream, "rounds": rounds, "user_records": p.user_records,
                      "kinesis_records": p.kinesis_records, "bytes": p.bytes,
                      "seconds": round(time.time() - t0, 2)}), file=sys.stderr)


if __name__ == "__main__":
    main()
