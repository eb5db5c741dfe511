#!/usr/bin/env python3
"""Load for bench/compare.sh: 200-byte text records put in PutRecords batches of 500, as fast as the
local Kinesis emulator takes them, with random partition keys (so spread over every shard).

  compare_load.py --stream NAME --count N      put N records, then exit
  compare_load.py --stream NAME --seconds S    put for S seconds (whole batches), then exit

Records a batch could not put (FailedRecordCount) are put again, so every record counted is in the
stream. Prints one JSON line: {"put": records, "seconds": wall time, "rate": records/s}.
Run with the emulators' venv (scripts/local-stack.sh install): it uses scripts/local_aws.py.
"""
import argparse
import json
import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import local_aws  # noqa: E402

BATCH = 500
SIZE = 200


def record(prefix, n):
    head = f"{prefix}-{n:09d} "
    return {"Data": (head + "x" * (SIZE - len(head))).encode(), "PartitionKey": uuid.uuid4().hex}


def worker(stream, prefix, quota, deadline, counts, index):
    k = local_aws.kinesis()
    n = 0
    while (quota is None or n < quota) and (deadline is None or time.time() < deadline):
        size = BATCH if quota is None else min(BATCH, quota - n)
        batch = [record(prefix, n + i) for i in range(size)]
        while batch:
            resp = k.put_records(StreamName=stream, Records=batch)
            if not resp.get("FailedRecordCount"):
                break
            batch = [r for r, res in zip(batch, resp["Records"]) if "ErrorCode" in res]
            time.sleep(0.05)
        n += size
        counts[index] = n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", required=True)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--count", type=int)
    group.add_argument("--seconds", type=float)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefix", default="c" + uuid.uuid4().hex[:6])
    a = ap.parse_args()
    t0 = time.time()
    deadline = t0 + a.seconds if a.seconds else None
    counts = [0] * a.threads
    threads = []
    for i in range(a.threads):
        quota = None
        if a.count is not None:
            quota = a.count // a.threads + (1 if i < a.count % a.threads else 0)
        t = threading.Thread(target=worker, args=(a.stream, f"{a.prefix}{i}", quota, deadline, counts, i))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    secs = time.time() - t0
    print(json.dumps({"put": sum(counts), "seconds": round(secs, 2), "rate": round(sum(counts) / secs, 1)}))


if __name__ == "__main__":
    main()
