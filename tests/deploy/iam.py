"""The task role's permissions against the actions the KCL daemon calls.

deploy/kcl-api-actions.json lists, per IAM service prefix, the API actions the daemon was seen
to call: {"kinesis": ["ListShards", ...], "dynamodb": [...]}. `problems` compares one
resolved task role with it and returns what is wrong, in words; [] means the role allows
exactly those actions (plus the documented extras below), each on the narrowest resource.
"""

import json

from cfn import PSEUDO, REPO

ACTIONS_FILE = REPO / "deploy" / "kcl-api-actions.json"
KCL_LOCK = REPO / "scripts" / "kcl-jars.lock"

# Kinesis actions by the resource the IAM authorization reference gives them: a stream, or one
# of its enhanced fan-out consumers (arn:...:stream/NAME/consumer/CONSUMER:TIMESTAMP).
KINESIS_STREAM = {"AddTagsToStream", "DescribeStream", "DescribeStreamSummary", "GetRecords",
                  "GetShardIterator", "ListShards", "ListStreamConsumers", "ListTagsForStream",
                  "PutRecord", "PutRecords", "RegisterStreamConsumer", "GetResourcePolicy"}
KINESIS_CONSUMER = {"DescribeStreamConsumer", "SubscribeToShard", "DeregisterStreamConsumer"}

# Allowed beyond the file, each for a reason docs/deploy.md gives (the tests check it does).
EXTRAS = {
    "cloudwatch:PutMetricData": "the KCL publishes its own metrics under the application name",
    "kms:Decrypt": "reading a stream encrypted with a customer managed key",
}


def shipped_kcl_version(lock=KCL_LOCK):
    """The KCL version the image ships: scripts/kcl-jars.lock's `# version:` line."""
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith("# version:"):
            return tuple(int(x) for x in line.split(":", 1)[1].strip().split("."))
    raise ValueError(f"{lock} names no version")


def recorded_actions(path=ACTIONS_FILE):
    """{"kinesis:ListShards", ...} from the action file; refuses a malformed one."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected an object of service prefix -> action names")
    actions = set()
    for service, names in data.items():
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"{path}: {service} must be a list of action names")
        if names != sorted(names) or len(set(names)) != len(names):
            raise ValueError(f"{path}: {service}'s actions must be sorted and unique")
        actions |= {f"{service}:{n}" for n in names}
    return actions


def statements(resolver):
    """The task role's policy statements under one parameter set."""
    role = resolver.resources()["TaskRole"]["Properties"]
    found = []
    for policy in role.get("Policies", []):
        found += policy["PolicyDocument"]["Statement"]
    if role.get("ManagedPolicyArns"):
        found.append({"ManagedPolicyArns": role["ManagedPolicyArns"]})
    return found


def as_list(value):
    return value if isinstance(value, list) else [value]


def expected_resources(action, params, kcl):
    """The resources `action` must be allowed on (exactly these) with KCL version `kcl`, or None
    for an action nobody classified."""
    arn = f"arn:{PSEUDO['AWS::Partition']}"
    region, account = PSEUDO["AWS::Region"], PSEUDO["AWS::AccountId"]
    stream = f"{arn}:kinesis:{region}:{account}:stream/{params['StreamName']}"
    table = f"{arn}:dynamodb:{region}:{account}:table/{params['ApplicationName']}"
    service, name = action.split(":", 1)
    if service == "kinesis" and name in KINESIS_STREAM:
        return {stream}
    if service == "kinesis" and name in KINESIS_CONSUMER:
        return {f"{stream}/consumer/*"}
    if service == "dynamodb":
        tables = {table, f"{table}/index/*"}
        if (3, 0) <= kcl[:2] < (3, 5):
            # KCL 3.0-3.4 keep worker metrics and coordinator state in tables of their own.
            tables |= {f"{table}-WorkerMetricStats", f"{table}-CoordinatorState"}
        return tables
    if action == "cloudwatch:PutMetricData":
        return {"*"}  # no resource-level permissions: scoped by its namespace condition instead
    if action == "kms:Decrypt":
        return {params["StreamKmsKeyArn"]}
    return None


def problems(resolver, recorded, kcl=None):
    """What is wrong with the task role of `resolver` against the action set `recorded`, for the
    KCL version `kcl` (default: the one the image ships)."""
    kcl = kcl or shipped_kcl_version()
    params = resolver.params
    found = []
    allowed = set()
    for st in statements(resolver):
        where = f"statement {st.get('Sid', st)}"
        if "ManagedPolicyArns" in st:
            found.append(f"managed policies grant what this test cannot see: {st['ManagedPolicyArns']}")
            continue
        if st.get("Effect") != "Allow" or "NotAction" in st or "NotResource" in st:
            found.append(f"{where}: only plain Allow statements with Action and Resource are expected")
            continue
        actions = as_list(st.get("Action", []))
        resources = set(as_list(st.get("Resource", [])))
        for action in actions:
            if "*" in action or "?" in action:
                found.append(f"{where}: wildcard action {action}")
                continue
            allowed.add(action)
            want = expected_resources(action, params, kcl)
            if want is None:
                found.append(f"{where}: {action} has no known resource scope: classify it in tests/deploy/iam.py")
            elif resources != want:
                found.append(f"{where}: {action} on {sorted(resources)}, not exactly {sorted(want)}")
        if "*" in resources:
            namespace = st.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
            if set(actions) != {"cloudwatch:PutMetricData"} or namespace != params["ApplicationName"]:
                found.append(f"{where}: Resource \"*\" is only for cloudwatch:PutMetricData"
                             f" with cloudwatch:namespace = the application name")
    for action in sorted(recorded - allowed):
        found.append(f"{action}: the daemon calls it, the task role does not allow it")
    for action in sorted(allowed - recorded):
        if action not in EXTRAS:
            found.append(f"{action}: allowed, but the daemon was not seen calling it"
                         " (not in deploy/kcl-api-actions.json, not a documented extra)")
    if params.get("StreamKmsKeyArn") and "kms:Decrypt" not in allowed:
        found.append("kms:Decrypt: the stream's key is given, the task role cannot decrypt with it")
    if not params.get("StreamKmsKeyArn") and any(a.startswith("kms:") for a in allowed):
        found.append("kms: allowed without a stream key")
    return found
