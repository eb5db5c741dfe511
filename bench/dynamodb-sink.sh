#!/usr/bin/env bash
# bench/dynamodb-sink.sh - what the AWS SDK path costs, over real pipes with the benchmark driver
# (bench/src/bin/driver.rs plays the daemon), each processor on the same batches, interleaved:
#   sink           examples/dynamodb_sink writing every record as an item to moto's DynamoDB
#                  (BatchWriteItem, 25 items per request, SINK_CONCURRENCY requests in flight)
#   sample         the image's record_processor writing every record to its log file
#   noop, noop-async  a processor that only checkpoints, blocking and through AsyncProcessor
#                  (bench/src/bin/noop*.rs): their difference is the async adapter's own cost
#
#   bench/dynamodb-sink.sh [--runs N] [--batches N] [--per-batch N] [--concurrency N] [--no-build]
#
# The no-op pair then runs again on 20,000 batches of one record each, where a cost per batch shows.
# Prints per processor: records/s, the child's CPU per record, its peak RSS, spawn to the first
# answer (start-up) and its size on disk; and moto's CPU per record the sink wrote (the emulator is
# Python and sets the sink's pace: against DynamoDB itself, the pace is the table's capacity and
# the network's latency). Medians over --runs (default 3) after a warm-up run each. moto runs on
# its own port (34570), from the venv scripts/local-stack.sh installs. Results: the table on stdout
# and bench/results/dynamodb-sink-<UTC time>.json (gitignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
RESULTS="$BENCH/results"
STATE="$ROOT/.local/bench-sink"
RUNS=3 BATCHES=40 PER_BATCH=500 CONCURRENCY=4 BUILD=1 SMALL_BATCHES=20000
PORT="${SINK_BENCH_DYNAMODB_PORT:-34570}"

usage() { sed -n '2,/^set -euo pipefail/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift ;;
    --batches) BATCHES="$2"; shift ;;
    --per-batch) PER_BATCH="$2"; shift ;;
    --concurrency) CONCURRENCY="$2"; shift ;;
    --no-build) BUILD=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "dynamodb-sink.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
log() { printf '[sink-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# shellcheck source=scripts/lib/emulators.sh
source "$ROOT/scripts/lib/emulators.sh"
use_local_emulators 34568 34567 "$PORT" "$STATE/stack"
mkdir -p "$STATE" "$RESULTS"

# ------------------------------------------------------------------ builds
"$ROOT/scripts/local-stack.sh" install >/dev/null
PY="${LOCAL_STACK_HOME:-$ROOT/.local}/venv/bin/python"
MOTO="${LOCAL_STACK_HOME:-$ROOT/.local}/venv/bin/moto_server"
[[ -x "$MOTO" ]] || die "moto_server not found at $MOTO (scripts/local-stack.sh install)"
SINK="$ROOT/target/release/examples/dynamodb_sink"
RP="$ROOT/target/ship/record_processor"
BT="$STATE/target/release"
if [[ "$BUILD" == 1 ]]; then
  log "building dynamodb_sink (--features dynamodb-example), record_processor (scripts/build-release.sh), the driver and the no-op processors"
  (cd "$ROOT" && cargo build --release --quiet --locked --features dynamodb-example --example dynamodb_sink)
  "$ROOT/scripts/build-release.sh" >/dev/null
  (cd "$BENCH" && CARGO_TARGET_DIR="$STATE/target" cargo build --release --quiet --locked)
fi
for b in "$SINK" "$RP" "$BT/kcl-bench-driver" "$BT/kcl-bench-noop" "$BT/kcl-bench-noop-async"; do
  [[ -x "$b" ]] || die "$b not built (run without --no-build)"
done

# ------------------------------------------------------------------ moto and the table
MOTO_PID=""
cleanup() {
  if [[ -n "$MOTO_PID" ]] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill -TERM "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "port $PORT is in use: stop what listens there or set SINK_BENCH_DYNAMODB_PORT"
fi
"$MOTO" -H 127.0.0.1 -p "$PORT" >"$STATE/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$MOTO_PID" 2>/dev/null || die "moto exited (see $STATE/moto.log)"
  sleep 0.2
done
TABLE=bench-sink
"$PY" "$ROOT/scripts/local_aws.py" create-sink-table "$TABLE"
ticks() { awk '{print $14 + $15}' "/proc/$MOTO_PID/stat"; } # utime + stime, in clock ticks
HZ="$(getconf CLK_TCK)"

# ------------------------------------------------------------------ run
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$STATE/runs-$stamp.json"
rm -rf "$STATE/tmp"
mkdir -p "$STATE/tmp"
log "workload: $BATCHES batches of $PER_BATCH records of 200 B; $RUNS runs per processor after a warm-up; SINK_CONCURRENCY=$CONCURRENCY"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
moto0="$(ticks)"
SINK_TABLE="$TABLE" AWS_ENDPOINT_URL_DYNAMODB="$DYNAMODB_ENDPOINT" SINK_LOG="$STATE/sink.log" \
  SINK_CONCURRENCY="$CONCURRENCY" CHECKPOINT_INTERVAL_SECONDS=60 ON_ERROR=fail \
  "$BT/kcl-bench-driver" --custom "$PER_BATCH:$BATCHES" --workloads custom --runs "$RUNS" --tmp-root "$STATE/tmp" --out "$out" \
  --proc "sink=$SINK" \
  --proc "sample=$RP --log-file {tmp}/rp.log --checkpoint-interval 60" \
  --proc "noop=$BT/kcl-bench-noop" \
  --proc "noop-async=$BT/kcl-bench-noop-async"
moto1="$(ticks)"
# The adapter's cost per batch, where batches are smallest: one record each.
out_small="$STATE/runs-small-$stamp.json"
log "the no-op pair again on $SMALL_BATCHES batches of 1 record (the async adapter's cost per batch)"
"$BT/kcl-bench-driver" --custom "1:$SMALL_BATCHES" --workloads custom --runs "$RUNS" --tmp-root "$STATE/tmp" \
  --out "$out_small" --proc "noop=$BT/kcl-bench-noop" --proc "noop-async=$BT/kcl-bench-noop-async"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
items="$("$PY" "$ROOT/scripts/local_aws.py" sink-items "$TABLE" | wc -l)"

"$PY" - "$out" "$out_small" "$((moto1 - moto0))" "$HZ" "$RUNS" "$items" "$RESULTS/dynamodb-sink-$stamp.json" \
  "$SINK" "$RP" "$BT/kcl-bench-noop" "$BT/kcl-bench-noop-async" <<'EOF'
import json, os, statistics, sys
runs_file, small_file = sys.argv[1], sys.argv[2]
moto_ticks, hz, runs, items, out = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
binaries = dict(zip(["sink", "sample", "noop", "noop-async"], sys.argv[8:12]))
with open(runs_file) as f:
    doc = json.load(f)
rows = [r for r in doc if r.get("ok")]
bad = [r for r in doc if not r.get("ok")]
if bad:
    sys.exit(f"{len(bad)} runs failed: {bad[0].get('error')}")
summary = {}
for name in binaries:
    rs = [r for r in rows if r["processor"] == name]
    if len(rs) != runs:
        sys.exit(f"{name}: {len(rs)} good runs of {runs}")
    med = lambda k: statistics.median(r[k] for r in rs)
    summary[name] = {
        "records": rs[0]["records"], "batches": rs[0]["batches"],
        "records_per_s": med("records_per_s"), "cpu_us_per_record": med("cpu_us_per_record"),
        "cpu_us_per_record_after_init": med("cpu_us_per_record_after_init"),
        "vm_hwm_mb": med("vm_hwm_kb") / 1024, "spawn_to_first_status_ms": med("spawn_to_first_status_ms"),
        "cpu_at_first_status_ms": med("cpu_at_first_status_us") / 1000,
        "binary_mb": os.path.getsize(binaries[name]) / 1e6,
        "checkpoints": rs[0]["checkpoints"],
    }
records = summary["sink"]["records"]
moto_us = moto_ticks / hz * 1e6 / (records * (runs + 1))  # + the warm-up run
if items != records:
    sys.exit(f"the table holds {items} items after the runs, not the {records} distinct records written")
print(f"| processor | records/s | CPU µs/record | peak RSS MB | start-up ms (CPU ms) | binary MB |")
print(f"|---|---|---|---|---|---|")
for name, s in summary.items():
    print(f"| {name} | {s['records_per_s']:,.0f} | {s['cpu_us_per_record']:.2f} | {s['vm_hwm_mb']:.1f} | "
          f"{s['spawn_to_first_status_ms']:.2f} ({s['cpu_at_first_status_ms']:.2f}) | {s['binary_mb']:.1f} |")
a, b = summary["noop-async"], summary["noop"]
with open(small_file) as f:
    small = [r for r in json.load(f) if r.get("ok")]
def small_med(name, key):
    v = [r[key] for r in small if r["processor"] == name]
    if len(v) != runs:
        sys.exit(f"{name}: {len(v)} good runs of {runs} on one-record batches")
    return statistics.median(v)
batches = small[0]["batches"]
small_cpu = {n: small_med(n, "cpu_us_per_record_after_init") * small[0]["records"] / batches for n in ("noop", "noop-async")}
per_batch_us = small_cpu["noop-async"] - small_cpu["noop"]
print(f"\nmoto (the emulator) used {moto_us:.0f} µs of CPU per record the sink wrote; "
      f"the table holds {items} items ({records} records, each written {runs + 1} times).")
print(f"async adapter (noop-async against noop): {a['spawn_to_first_status_ms'] - b['spawn_to_first_status_ms']:+.2f} ms "
      f"start-up, {a['vm_hwm_mb'] - b['vm_hwm_mb']:+.2f} MB peak RSS; on {batches} one-record batches "
      f"{small_cpu['noop']:.2f} µs CPU per batch blocking, {small_cpu['noop-async']:.2f} async: "
      f"{per_batch_us:+.2f} µs per batch")
with open(out, "w") as f:
    json.dump({"summary": summary, "moto_cpu_us_per_record": moto_us, "items": items,
               "cpu_us_per_batch_one_record": small_cpu, "async_cpu_us_per_batch": per_batch_us}, f, indent=2)
print(f"\nresults: {out}")
EOF
