#!/usr/bin/env python3
"""Does the Kinesis emulator end an enhanced fan-out subscription at a closed shard's end?

  probe_fanout_reshard.py [--stream NAME] [--seconds S] [--keep]

Against KINESIS_ENDPOINT (run with the venv python of scripts/local-stack.sh): creates a 1-shard
stream, registers a consumer, puts a few records, splits the shard (the parent closes, two children
open), then subscribes to the closed parent from TRIM_HORIZON and prints every event it yields for
S seconds (default 6): its records, ContinuationSequenceNumber and ChildShards. For contrast,
GetRecords is read to the parent's end.

The subscription is a SigV4-signed SubscribeToShard request over HTTP/1.1 whose event stream is
decoded with botocore's decoder: boto3's own subscribe_to_shard refuses the emulator's answer
("First event was not of type initial-response": kinesis-mock does not send the initial-response
event the service sends first; the Java SDK the KCL uses does not insist on it).

The KCL's FanOutRecordsPublisher ends a shard only on an event whose ContinuationSequenceNumber is
null and whose ChildShards is non-empty (what the real service sends last on a closed shard), or
when SubscribeToShard fails with ResourceNotFoundException. Any other event on a closed shard makes
it carry on, and it resubscribes from the continuation whenever a subscription ends.

The last line is one JSON object (the evidence); the exit status says what it shows:
  0  the limit holds: no event ended the parent (no null continuation with ChildShards)
  3  the emulator ends the parent in a way the KCL understands (an event with ChildShards and a
     null continuation, as the service does, or ResourceNotFoundException): fan-out resharding
     can be tested end to end
  1  the probe itself failed (stream, consumer, split, subscription)
"""
import argparse
import json
import os
import sys
import time

import http.client
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.eventstream import EventStreamBuffer

# The emulators' client and the wait for ACTIVE, as the other test tools use them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from local_aws import kinesis, wait_active  # noqa: E402


def subscribe(k, consumer_arn, shard_id, seconds):
    """Yield (event type, JSON body) of a SubscribeToShard event stream for up to SECONDS."""
    endpoint = os.environ.get("KINESIS_ENDPOINT", "http://127.0.0.1:4568")
    body = json.dumps({"ConsumerARN": consumer_arn, "ShardId": shard_id,
                       "StartingPosition": {"Type": "TRIM_HORIZON"}})
    req = AWSRequest(method="POST", url=endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.SubscribeToShard"})
    SigV4Auth(k._request_signer._credentials, "kinesis", k.meta.region_name).add_auth(req)
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"SubscribeToShard: HTTP {resp.status}: {resp.read()[:300]!r}")
        buf = EventStreamBuffer()
        deadline = time.time() + seconds
        while time.time() < deadline:
            chunk = resp.read1(65536)
            if not chunk:
                return
            buf.add_data(chunk)
            for msg in buf:
                h = msg.headers
                kind = h.get(":event-type") or h.get(":exception-type") or h.get(":message-type")
                yield kind, json.loads(msg.payload or b"{}")
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", default=f"probe-fanout-reshard-{int(time.time())}")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--keep", action="store_true", help="leave the stream in place")
    a = ap.parse_args()
    k = kinesis()

    k.create_stream(StreamName=a.stream, ShardCount=1)
    wait_active(k, a.stream)
    arn = k.describe_stream_summary(StreamName=a.stream)["StreamDescriptionSummary"]["StreamARN"]
    consumer = k.register_stream_consumer(StreamARN=arn, ConsumerName="probe")["Consumer"]["ConsumerARN"]
    deadline = time.time() + 30
    while k.describe_stream_consumer(ConsumerARN=consumer)["ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
        if time.time() > deadline:
            raise SystemExit("probe: consumer not ACTIVE within 30 s")
        time.sleep(0.2)
    put = [k.put_record(StreamName=a.stream, Data=f"probe-{i}".encode(), PartitionKey=f"key-{i}")["SequenceNumber"]
           for i in range(3)]
    parent = k.list_shards(StreamName=a.stream)["Shards"][0]
    lo, hi = int(parent["HashKeyRange"]["StartingHashKey"]), int(parent["HashKeyRange"]["EndingHashKey"])
    k.split_shard(StreamName=a.stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=str((lo + hi) // 2 + 1))
    wait_active(k, a.stream)
    shards = k.list_shards(StreamName=a.stream)["Shards"]
    parent = next(s for s in shards if s["ShardId"] == parent["ShardId"])
    children = sorted(s["ShardId"] for s in shards if s.get("ParentShardId") == parent["ShardId"])
    closed = "EndingSequenceNumber" in parent["SequenceNumberRange"]
    print(f"stream {a.stream}: parent {parent['ShardId']} closed={closed} "
          f"(ending {parent['SequenceNumberRange'].get('EndingSequenceNumber')}), children {children}; "
          f"{len(put)} records put before the split")

    # SubscribeToShard on the closed parent
    events = []
    t0 = time.time()
    ended_by = "time"
    try:
        for kind, body in subscribe(k, consumer, parent["ShardId"], a.seconds):
            if kind == "initial-response":  # the service sends it first; kinesis-mock 0.6.2 does not
                continue
            if kind != "SubscribeToShardEvent":
                events.append({"t": round(time.time() - t0, 1), "other": kind, "body": body})
                ended_by = f"{kind} {body}"
                break
            item = {"t": round(time.time() - t0, 1), "records": len(body.get("Records", [])),
                    "ContinuationSequenceNumber": body.get("ContinuationSequenceNumber"),
                    "ChildShards": [c["ShardId"] for c in body.get("ChildShards") or []]}
            events.append(item)
            print("SubscribeToShardEvent " + json.dumps(item))
            if item["ContinuationSequenceNumber"] is None:
                ended_by = "null continuation"
                break
        else:
            if time.time() - t0 < a.seconds:
                ended_by = "the server ended the subscription"
    except Exception as e:  # noqa: BLE001 - the probe reports whatever the emulator answers
        ended_by = f"{type(e).__name__}: {e}"
    print(f"subscription on the closed parent: {len(events)} events in {time.time() - t0:.1f} s, ended by {ended_by}")

    # GetRecords on the same parent: the polling path, which the emulator does end
    it = k.get_shard_iterator(StreamName=a.stream, ShardId=parent["ShardId"],
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    gr = {"records": 0, "NextShardIterator": "set", "ChildShards": []}
    for _ in range(10):
        r = k.get_records(ShardIterator=it)
        gr["records"] += len(r["Records"])
        gr["ChildShards"] = [c["ShardId"] for c in r.get("ChildShards") or []]
        it = r.get("NextShardIterator")
        if not it:
            gr["NextShardIterator"] = None
            break
    print("GetRecords on the closed parent: " + json.dumps(gr))

    # the two ways the KCL's FanOutRecordsPublisher sees a shard end (see the docstring)
    ends = [e for e in events if (e.get("ContinuationSequenceNumber", "") is None and e.get("ChildShards"))
            or e.get("other") == "ResourceNotFoundException"]
    summary = {
        "parent": parent["ShardId"], "parent_closed": closed, "children": children,
        "subscribe_events": len(events),
        "subscribe_records": sum(e.get("records", 0) for e in events),
        "subscribe_events_with_child_shards": sum(1 for e in events if e.get("ChildShards")),
        "subscribe_events_with_null_continuation": sum(1 for e in events if e.get("ContinuationSequenceNumber", "") is None),
        "subscribe_last_continuation": events[-1].get("ContinuationSequenceNumber") if events else None,
        "parent_ending_sequence_number": parent["SequenceNumberRange"].get("EndingSequenceNumber"),
        "get_records_child_shards": gr["ChildShards"], "get_records_next_iterator": gr["NextShardIterator"],
        "subscription_ended_by": ended_by,
        "fanout_shard_end": bool(ends),
    }
    if not a.keep:
        k.deregister_stream_consumer(ConsumerARN=consumer)
        k.delete_stream(StreamName=a.stream, EnforceConsumerDeletion=True)
    print(json.dumps(summary))
    if not closed or not children or not events:
        return 1
    return 3 if ends else 0


if __name__ == "__main__":
    sys.exit(main())
