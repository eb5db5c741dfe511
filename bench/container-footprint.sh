#!/usr/bin/env bash
# container-footprint.sh -- what the whole consumer container spends under the REAL KCL daemon:
# the container's own run.sh starts the JVM (the image's KCL from jars/), which starts one
# record_processor per lease, against local emulators (scripts/local-stack.sh), with records
# flowing at a steady rate. For each shard count and JVM option profile it reports the time from
# run.sh's start to the first record, the peak and steady-state RSS of the JVM and of the processors,
# and the CPU per record of each (bench/footprint_sample.py samples /proc).
#
#   bench/container-footprint.sh [--shards "2 8"] [--seconds 60] [--per-shard-rate 50] [--profiles "defaults recommended c2"]
#
# Profiles (JAVA_OPTS), each as a Fargate task of FOOTPRINT_TASK_CPUS vCPU and FOOTPRINT_TASK_MEM memory
# would make the JVM size itself (a container's JVM reads its cgroup limits; here they are passed):
#   defaults      the JVM's own choices for that task size
#   recommended   the image's default JAVA_OPTS (Dockerfile ENV JAVA_OPTS; FOOTPRINT_RECOMMENDED overrides)
#   c2            recommended without -XX:TieredStopAtLevel=1 (the C2 JIT back: more memory and CPU to
#                 compile, faster compiled code)
# Leases are pre-created (as scripts/local-run.sh does), so the first-record time is the daemon's
# start, index creation and lease assignment, not the KCL's empty-table waits.
# Results: bench/results/footprint-<time>.json and a table on stdout. Stops everything it started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.local/bench/footprint"
RESULTS="$ROOT/bench/results"
SHARDS="2 8"
SECONDS_STEADY=60
PER_SHARD_RATE=50
PROFILES="defaults recommended c2"
while (($# > 0)); do
  case "$1" in
    --shards) SHARDS="$2"; shift 2 ;;
    --seconds) SECONDS_STEADY="$2"; shift 2 ;;
    --per-shard-rate) PER_SHARD_RATE="$2"; shift 2 ;;
    --profiles) PROFILES="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
TASK_CPUS="${FOOTPRINT_TASK_CPUS:-1}"
TASK_MEM="${FOOTPRINT_TASK_MEM:-2g}"
TASK_OPTS="-XX:ActiveProcessorCount=$TASK_CPUS -XX:MaxRAM=$TASK_MEM"
# the image's JAVA_OPTS, less its temporary directory (a path inside the image)
RECOMMENDED="${FOOTPRINT_RECOMMENDED:-$(sed -n 's/^ *JAVA_OPTS="\(.*\)".*$/\1/p' "$ROOT/Dockerfile" | sed 's/-Djava.io.tmpdir=[^ ]* *//')}"

# shellcheck source=scripts/lib/emulators.sh
source "$ROOT/scripts/lib/emulators.sh"
use_local_emulators "${KINESIS_PORT:-4598}" "${KINESIS_TLS_PORT:-4597}" "${DYNAMODB_PORT:-4599}" "$STATE/stack"
STACK="$ROOT/scripts/local-stack.sh"
PY="$ROOT/.local/venv/bin/python"
BIN="$ROOT/target/ship/record_processor"
LOG_TAG=footprint
# shellcheck source=scripts/lib/procs.sh
source "$ROOT/scripts/lib/procs.sh"

[[ -x "$BIN" ]] || die "$BIN missing: scripts/build-release.sh"
[[ -n "$RECOMMENDED" ]] || die "no JAVA_OPTS=\"...\" in the Dockerfile's ENV"
mkdir -p "$STATE" "$RESULTS"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_PID="" PRODUCER_PID="" STACK_UP=0
cleanup() {
  set +e
  [[ -z "$PRODUCER_PID" ]] || stop_pid "$PRODUCER_PID" producer.py 5 producer
  if [[ -n "$RUN_PID" ]] && kill -0 "$RUN_PID" 2>/dev/null; then kill -KILL -- "-$RUN_PID" 2>/dev/null; fi
  ((STACK_UP == 0)) || "$STACK" down >/dev/null 2>&1
}
trap cleanup EXIT

"$STACK" install >&2
"$STACK" up >&2
STACK_UP=1
kcl="$(sed -n 's/^kcl_version=//p' "$ROOT/jars/.kcl-jars")"
out="$RESULTS/footprint-$stamp.json"
: >"$out"
log "KCL ${kcl:-?}; task as the JVM sees it: $TASK_OPTS; recommended: $RECOMMENDED"
for shards in $SHARDS; do
  for profile in $PROFILES; do
    case "$profile" in
      defaults) opts="$TASK_OPTS" ;;
      recommended) opts="$TASK_OPTS $RECOMMENDED" ;;
      c2) opts="$TASK_OPTS ${RECOMMENDED//-XX:TieredStopAtLevel=1/}" ;;
      *) die "unknown profile $profile" ;;
    esac
    name="fp-$shards-$profile-$stamp"
    dir="$STATE/$name"
    mkdir -p "$dir/logs"
    "$PY" "$ROOT/scripts/local_aws.py" create-stream "$name" "$shards" >/dev/null
    "$PY" "$ROOT/scripts/local_aws.py" seed-leases "$name" "$name" >/dev/null
    # a round every 0.25 s of shards*rate/4 text records with random partition keys
    per_round=$(((shards * PER_SHARD_RATE + 3) / 4))
    t0="$(date +%s.%N)"
    start_session "$dir/run.pid" "$dir/output.log" env REGION=us-east-1 STREAM_NAME="$name" APPLICATION_NAME="$name" \
      LOG_DIR="$dir/logs" PROPERTIES_FILE="$dir/record_processor.properties" RECORD_PROCESSOR_BIN="$BIN" \
      JARS_DIR="$ROOT/jars" JAVA_OPTS="$opts" \
      KCL_kinesisEndpoint="$KINESIS_ENDPOINT" KCL_dynamoDBEndpoint="$DYNAMODB_ENDPOINT" KCL_metricsLevel=NONE \
      bash "$ROOT/run.sh"
    RUN_PID="$(pidfile_pid "$dir/run.pid")"
    "$PY" "$ROOT/bench/footprint_sample.py" --run-sh-pid "$RUN_PID" --log "$dir/logs/record_processor.log" \
      --t0 "$t0" --steady-after 15 --out "$dir/result.json" &
    sampler=$!
    "$PY" "$ROOT/scripts/producer.py" --stream "$name" --prefix F --mode text --count "$per_round" \
      --every 0.25 --duration 3600 >/dev/null 2>>"$dir/producer.log" &
    PRODUCER_PID=$!
    for ((i = 0; i < 300; i++)); do
      grep -q 'process_records - ' "$dir/logs/record_processor.log" 2>/dev/null && break
      kill -0 "$RUN_PID" 2>/dev/null || die "run.sh exited early (see $dir/output.log)"
      sleep 0.5
    done
    sleep "$((SECONDS_STEADY + 15))"
    : >"$dir/STOP" # the sampler's steady-state window ends here
    stop_pid "$PRODUCER_PID" producer.py 10 producer || true
    PRODUCER_PID=""
    kill -TERM "$RUN_PID"
    wait_gone "$RUN_PID" 60 || kill -KILL -- "-$RUN_PID" 2>/dev/null || true
    RUN_PID=""
    wait "$sampler" || true
    python3 - "$dir/result.json" "$shards" "$profile" "$opts" "$kcl" >>"$out" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
r.update({"shards": int(sys.argv[2]), "profile": sys.argv[3], "java_opts": sys.argv[4], "kcl": sys.argv[5]})
print(json.dumps(r))
PYEOF
    log "$shards shards, $profile: $(tail -n 1 "$out")"
  done
done
python3 - "$out" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'shards':>6} {'profile':<12} {'first rec s':>11} {'JVM RSS MB (peak/end)':>22} {'children MB (peak)':>19} "
      f"{'rec/s':>6} {'JVM CPU':>8} {'child CPU':>9} {'JVM us/rec':>10} {'child us/rec':>12}")
for r in rows:
    print(f"{r['shards']:>6} {r['profile']:<12} {r.get('first_record_s')!s:>11} "
          f"{str(r.get('jvm_rss_peak_mb')) + ' / ' + str(r.get('jvm_rss_end_mb')):>22} {r.get('children_rss_peak_mb')!s:>19} "
          f"{r.get('records_per_s')!s:>6} {r.get('jvm_cpu_share')!s:>8} {r.get('children_cpu_share')!s:>9} "
          f"{r.get('jvm_cpu_us_per_record')!s:>10} {r.get('children_cpu_us_per_record')!s:>12}")
print(f"results: {sys.argv[1]}")
PYEOF
