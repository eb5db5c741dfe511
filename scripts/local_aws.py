#!/usr/bin/env python3
"""Admin helper for the local emulators (run with the venv python that scripts/local-stack.sh installs).

  local_aws.py create-stream NAME SHARDS   create a stream (idempotent) and wait until it is ACTIVE
  local_aws.py seed-leases APP STREAM      lease table APP + one unowned TRIM_HORIZON lease per open shard
  local_aws.py scan APP                    the lease table, one JSON object per lease, sorted by leaseKey
  local_aws.py leases APP                  the same, one short line per lease: shard, owner, checkpoint
  local_aws.py shards STREAM               the stream's shard ids, one per line
  local_aws.py consumers STREAM            the stream's enhanced fan-out consumers (JSON)
  local_aws.py shard-list STREAM           every shard, open or closed, one JSON object per line (ListShards)
  local_aws.py update-shard-count STREAM N UpdateShardCount to N (UNIFORM_SCALING), wait until ACTIVE
  local_aws.py merge-shards STREAM N       MergeShards of adjacent open shards, pair by pair in hash-key
                                           order, until N are open; waits until ACTIVE after each merge
  local_aws.py create-sink-table NAME      a table for examples/dynamodb_sink (string key "id", on demand);
                                           waits until ACTIVE
  local_aws.py delete-table NAME           delete a table and wait until it is gone
  local_aws.py sink-items NAME             examples/dynamodb_sink's items, one JSON object per line (data as
                                           data_b64), sorted by id

Endpoints come from KINESIS_ENDPOINT / DYNAMODB_ENDPOINT (default 127.0.0.1:4568 / :4569).
"""
import base64
import json
import os
import sys
import time

import boto3
from botocore.config import Config


def _kwargs():
    return dict(
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


def kinesis():
    return boto3.client("kinesis", endpoint_url=os.environ.get("KINESIS_ENDPOINT", "http://127.0.0.1:4568"), **_kwargs())


def dynamodb():
    return boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT", "http://127.0.0.1:4569"), **_kwargs())


def list_shards(client, stream):
    shards, token = [], None
    while True:
        page = client.list_shards(NextToken=token) if token else client.list_shards(StreamName=stream)
        shards += page["Shards"]
        token = page.get("NextToken")
        if not token:
            return shards


def create_stream(name, shards):
    k = kinesis()
    try:
        k.create_stream(StreamName=name, ShardCount=int(shards))
        created = True
    except k.exceptions.ResourceInUseException:
        created = False
    deadline = time.time() + 60
    while time.time() < deadline:
        summary = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            if not created and summary["OpenShardCount"] != int(shards):
                print(f"note: stream {name} already exists with {summary['OpenShardCount']} shards", file=sys.stderr)
            print(json.dumps({"stream": name, "shards": summary["OpenShardCount"], "arn": summary["StreamARN"],
                              "created": created}))
            return
        time.sleep(0.2)
    sys.exit(f"stream {name} did not become ACTIVE within 60 s")


def create_table(d, name, key):
    """An on-demand table with the string hash key KEY, unless it exists already (not waited for)."""
    try:
        d.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                       AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                       KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    except d.exceptions.ResourceInUseException:
        pass


def seed_leases(app, stream):
    """Write what the KCL's first shard sync would write, so a fresh application skips the cold start:
    the lease table (hash key leaseKey) and, per open shard, an unowned lease at TRIM_HORIZON."""
    d, k = dynamodb(), kinesis()
    create_table(d, app, "leaseKey")
    deadline = time.time() + 30
    while d.describe_table(TableName=app)["Table"]["TableStatus"] != "ACTIVE":
        if time.time() > deadline:
            sys.exit(f"lease table {app} did not become ACTIVE")
        time.sleep(0.1)
    seeded, kept = [], []
    for shard in list_shards(k, stream):
        if "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
            continue  # closed shard: the KCL handles those itself
        item = {
            "leaseKey": {"S": shard["ShardId"]},
            "leaseCounter": {"N": "0"},
            "checkpoint": {"S": "TRIM_HORIZON"},
            "checkpointSubSequenceNumber": {"N": "0"},
            "ownerSwitchesSinceCheckpoint": {"N": "0"},
            "startingHashKey": {"S": shard["HashKeyRange"]["StartingHashKey"]},
            "endingHashKey": {"S": shard["HashKeyRange"]["EndingHashKey"]},
        }
        if shard.get("ParentShardId"):
            item["parentShardId"] = {"SS": [shard["ParentShardId"]]}
        try:  # never overwrite a lease the KCL already owns or has checkpointed
            d.put_item(TableName=app, Item=item, ConditionExpression="attribute_not_exists(leaseKey)")
            seeded.append(shard["ShardId"])
        except d.exceptions.ConditionalCheckFailedException:
            kept.append(shard["ShardId"])
    print(json.dumps({"table": app, "seeded": seeded, "already_there": kept}))


def scan_all(table):
    """Every item of a table (a consistent scan, page by page)."""
    d = dynamodb()
    items, key = [], None
    while True:
        kw = {"TableName": table, "ConsistentRead": True}
        if key:
            kw["ExclusiveStartKey"] = key
        page = d.scan(**kw)
        items += page["Items"]
        key = page.get("LastEvaluatedKey")
        if not key:
            return items


def scan(app):
    for item in sorted(scan_all(app), key=lambda i: i["leaseKey"]["S"]):
        print(json.dumps({name: next(iter(value.values())) for name, value in item.items()}, sort_keys=True))


def leases(app):
    """One line per lease: shard, owner, checkpoint (the short form of scan)."""
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        scan(app)
    for line in buf.getvalue().splitlines():
        lease = json.loads(line)
        print(f'{lease["leaseKey"]}  owner={lease.get("leaseOwner", "-")}  '
              f'checkpoint={lease.get("checkpoint")}:{lease.get("checkpointSubSequenceNumber", "0")}')


def create_sink_table(name):
    d = dynamodb()
    create_table(d, name, "id")
    d.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})


def delete_table(name):
    d = dynamodb()
    try:
        d.delete_table(TableName=name)
    except d.exceptions.ResourceNotFoundException:
        return
    d.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})


def sink_items(name):
    for item in sorted(scan_all(name), key=lambda i: i["id"]["S"]):
        out = {}
        for attr, value in item.items():
            (kind, v), = value.items()
            if kind == "B":
                out["data_b64" if attr == "data" else attr] = base64.b64encode(v).decode("ascii")
            elif kind == "N":
                out[attr] = int(v)
            else:
                out[attr] = v
        print(json.dumps(out, sort_keys=True))


def shards(stream):
    for shard in list_shards(kinesis(), stream):
        print(shard["ShardId"])


def consumers(stream):
    k = kinesis()
    arn = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    print(json.dumps(k.list_stream_consumers(StreamARN=arn).get("Consumers", []), default=str))


def wait_active(k, stream, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.2)
    sys.exit(f"stream {stream} did not become ACTIVE within {timeout} s")


def open_shards(k, stream):
    shards = [s for s in list_shards(k, stream) if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
    return sorted(shards, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))


def shard_list(stream):
    for shard in list_shards(kinesis(), stream):
        print(json.dumps(shard, sort_keys=True))


def update_shard_count(stream, target):
    k = kinesis()
    before = len(open_shards(k, stream))
    k.update_shard_count(StreamName=stream, TargetShardCount=int(target), ScalingType="UNIFORM_SCALING")
    wait_active(k, stream)
    print(json.dumps({"stream": stream, "open_before": before, "open_after": len(open_shards(k, stream))}))


def merge_shards(stream, target):
    k = kinesis()
    shards = open_shards(k, stream)
    before, merged = len(shards), []
    # pairs fixed up front, (0,1), (2,3), ...: merging into the shard just made would unbalance the ranges
    for a, b in zip(shards[0::2], shards[1::2]):
        if len(open_shards(k, stream)) <= int(target):
            break
        k.merge_shards(StreamName=stream, ShardToMerge=a["ShardId"], AdjacentShardToMerge=b["ShardId"])
        wait_active(k, stream)
        merged.append([a["ShardId"], b["ShardId"]])
    print(json.dumps({"stream": stream, "open_before": before, "open_after": len(open_shards(k, stream)),
                      "merged": merged}))


COMMANDS = {"create-stream": (create_stream, 2), "seed-leases": (seed_leases, 2), "scan": (scan, 1), "leases": (leases, 1),
            "shards": (shards, 1), "consumers": (consumers, 1), "shard-list": (shard_list, 1),
            "update-shard-count": (update_shard_count, 2), "merge-shards": (merge_shards, 2),
            "create-sink-table": (create_sink_table, 1), "delete-table": (delete_table, 1),
            "sink-items": (sink_items, 1)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) - 2 != COMMANDS[sys.argv[1]][1]:
        sys.exit(__doc__)
    fn, _ = COMMANDS[sys.argv[1]]
    fn(*sys.argv[2:])
