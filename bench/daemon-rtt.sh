#!/usr/bin/env bash
# Under the REAL Java KCL MultiLangDaemon (local emulators from scripts/local-stack.sh):
# processRecords round-trip time for 10k-record batches and the children's RSS,
# record_processor vs the Python amazon_kclpy processor (bench/python_processor.py).
#
#   bench/daemon-rtt.sh [RECORDS]      (default 30000 records, 1 shard, POLLING maxRecords=10000)
#
# Runs its own emulator pair on other ports (KINESIS_PORT 4588, DYNAMODB_PORT 4589 unless set),
# preloads one stream once, then runs the daemon once per processor (own application name, so
# own lease table, seeded at TRIM_HORIZON) until every record is in the processor's log.
# The round trip is taken from the daemon's own log: "Writing ProcessRecordsMessage" ->
# "Received response ... processRecords". Child RSS (VmRSS/VmHWM) is sampled from /proc
# while the daemon runs. Stops everything it started, by PID.
# Needs bench/run.sh to have been run once (the venv with amazon_kclpy) and the release binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.local/bench/daemon"
RESULTS="$ROOT/bench/results"
N="${1:-30000}"
export KINESIS_PORT="${KINESIS_PORT:-4588}" KINESIS_TLS_PORT="${KINESIS_TLS_PORT:-4587}" DYNAMODB_PORT="${DYNAMODB_PORT:-4589}"
export LOCAL_STACK_RUN_DIR="$STATE/stack"
STACK="$ROOT/scripts/local-stack.sh"
JARS_DIR="${JARS_DIR:-$ROOT/jars}"
PY="$ROOT/.local/bench/venv/bin/python"
RP="$ROOT/target/ship/record_processor"   # the statically linked binary the image ships
JAVA="${JAVA:-java}"

log() { printf '[daemon-rtt] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -x "$STACK" ] || die "scripts/local-stack.sh not found"
[ -x "$RP" ] || die "$RP missing: scripts/build-release.sh"
[ -x "$PY" ] || die "$PY missing: run bench/run.sh --quick once"
mkdir -p "$STATE" "$RESULTS"
# a private copy, so a rebuild during the run does not change what is measured
cp "$RP" "$STATE/record_processor.tmp" && mv -f "$STATE/record_processor.tmp" "$STATE/record_processor"
RP="$STATE/record_processor"
log "record_processor $(sha256sum "$RP" | cut -c1-16)"

DAEMON_PID=""
STACK_UP=0
cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  if [ "$STACK_UP" = 1 ]; then "$STACK" down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

"$STACK" install >&2
"$STACK" up >&2
STACK_UP=1
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
STREAM="bench-rtt-$stamp"
"$STACK" create-stream "$STREAM" 1 >&2
log "preloading $N JSON records into $STREAM (kinesis-mock slows down as the shard fills)"
t0="$(date +%s)"
"$STACK" put "$STREAM" --mode json --count "$N" >/dev/null
log "preloaded in $(( $(date +%s) - t0 )) s"

cat >"$STATE/logback.xml" <<'EOF'
<configuration>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{yyyy-MM-dd'T'HH:mm:ss.SSS} [%thread] %-5level %logger{36} [%mdc{ShardId:-NONE}] - %msg%n</pattern></encoder>
  </appender>
  <logger name="software.amazon.awssdk" level="WARN"/>
  <logger name="io.netty" level="WARN"/>
  <root level="INFO"><appender-ref ref="OUT"/></root>
</configuration>
EOF

children_of() { # PID -> direct children
  cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

# The daemon under test: its version decides the credentials spelling (SDK v1 names for KCL 2.x,
# SDK v2 names for 3.x) and whether the 3.x lease-assignment interval can be shortened.
kcl_jar="$(find "$JARS_DIR" -maxdepth 1 -name 'amazon-kinesis-client-multilang-*.jar' | head -n 1)"
[ -n "$kcl_jar" ] || die "no amazon-kinesis-client-multilang-*.jar in $JARS_DIR"
KCL_VERSION="${kcl_jar##*/amazon-kinesis-client-multilang-}"
KCL_VERSION="${KCL_VERSION%.jar}"
case "$KCL_VERSION" in
  2.*) kcl_props="AWSCredentialsProvider = DefaultAWSCredentialsProviderChain" ;;
  *) kcl_props="AwsCredentialsProvider = DefaultCredentialsProvider
leaseAssignmentIntervalMillis = 2000" ;;
esac
log "KCL $KCL_VERSION (from $JARS_DIR)"
summary="$RESULTS/daemon-rtt-$stamp.txt"
echo "KCL $KCL_VERSION" >"$summary"
for proc in rust python; do
  APP="bench-rtt-$proc-$stamp"
  dir="$STATE/$APP"
  mkdir -p "$dir"
  case "$proc" in
    rust) exe="$RP --log-file $dir/processor.log --checkpoint-interval 60" ;;
    python) exe="$PY $ROOT/bench/python_processor.py --log-file $dir/processor.log --checkpoint-interval 60" ;;
  esac
  cat >"$dir/app.properties" <<EOF
executableName = $exe
streamName = $STREAM
applicationName = $APP
workerId = bench-worker
regionName = us-east-1
$kcl_props
kinesisEndpoint = http://127.0.0.1:$KINESIS_PORT
dynamoDBEndpoint = http://127.0.0.1:$DYNAMODB_PORT
metricsLevel = NONE
initialPositionInStream = TRIM_HORIZON
retrievalMode = POLLING
maxRecords = 10000
idleTimeBetweenReadsInMillis = 1000
shardSyncIntervalMillis = 5000
parentShardPollIntervalMillis = 1000
shutdownGraceMillis = 20000
EOF
  "$STACK" seed-leases "$APP" "$STREAM" >&2
  log "$proc: starting the daemon"
  (
    export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
    exec "$JAVA" -Dfile.encoding=UTF-8 -cp "$JARS_DIR/*" software.amazon.kinesis.multilang.MultiLangDaemon \
      --properties-file "$dir/app.properties" --log-configuration "$STATE/logback.xml"
  ) >"$dir/daemon.log" 2>&1 &
  DAEMON_PID=$!
  hwm=0; rss_max=0; kids=""
  deadline=$(( $(date +%s) + 300 ))
  while :; do
    for c in $(children_of "$DAEMON_PID"); do
      h="$(status_kb "$c" VmHWM)"; r="$(status_kb "$c" VmRSS)"
      [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm="$h"
      [ -n "$r" ] && [ "$r" -gt "$rss_max" ] && rss_max="$r"
      case " $kids " in *" $c "*) ;; *) kids="$kids $c" ;; esac
    done
    got="$(cat "$dir"/processor.log* 2>/dev/null | grep -c '"data"' || true)"
    [ "$got" -ge "$N" ] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "$proc: daemon exited early (see $dir/daemon.log)"
    [ "$(date +%s)" -lt "$deadline" ] || { log "$proc: timed out with $got/$N records"; break; }
    sleep 0.2
  done
  for c in $(children_of "$DAEMON_PID"); do
    h="$(status_kb "$c" VmHWM)"; [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm="$h"
  done
  jvm_hwm="$(status_kb "$DAEMON_PID" VmHWM)"
  log "$proc: $got records logged; stopping the daemon (SIGTERM)"
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
  "$PY" - "$dir/daemon.log" "$proc" "$got" "$hwm" "$rss_max" "${jvm_hwm:-0}" >>"$summary" <<'PYEOF'
import datetime, statistics, sys
path, proc, got, hwm, rss, jvm = sys.argv[1:7]
def ts(line):
    return datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
rtt, pending = [], None
for line in open(path, errors="replace"):
    if "Writing ProcessRecordsMessage" in line:
        pending = ts(line)
    elif "Received response" in line and "processRecords" in line and pending is not None:
        rtt.append((ts(line) - pending) * 1000)
        pending = None
rtt_s = " ".join(f"{x:.0f}" for x in rtt)
med = statistics.median(rtt) if rtt else float("nan")
print(f"{proc}: records_logged={got} batches={len(rtt)} processRecords_rtt_ms=[{rtt_s}] median={med:.0f}ms "
      f"child_peak_rss={int(hwm)/1024:.1f}MB child_max_rss_sampled={int(rss)/1024:.1f}MB jvm_peak_rss={int(jvm)/1024:.0f}MB")
PYEOF
  tail -n 1 "$summary" >&2
done
log "summary: $summary"
cat "$summary"
