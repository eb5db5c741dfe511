#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup/on_signal are called through trap
# local-run.sh - run the whole consumer on this machine, with one command:
#   the real Java KCL MultiLangDaemon (via the project's run.sh) with our record_processor binary as
#   its child, enhanced fan-out (SubscribeToShard), against local Kinesis and DynamoDB emulators, with
#   sample records fed every few seconds. It shows the processor's log lines as they arrive.
#   Ctrl+C: the daemon shuts down gracefully (each processor gets shutdownRequested and checkpoints),
#   then everything this script started is stopped.
#
# On a fresh machine it first installs what is missing (npm emulators, a Python venv, the KCL jars:
# see scripts/local-stack.sh) and builds the binary the image ships (scripts/build-release.sh: static,
# target/ship/record_processor; STATIC=0 for a dynamic one).
#
# Environment (all optional):
#   STREAM_NAME (local-stream)  APPLICATION_NAME (local-app)  SHARDS (2)  RETRIEVAL_MODE (FANOUT|POLLING)
#   FEED_EVERY (3: seconds between producer rounds; 0 = do not feed)  FEED_COUNT (1 record per kind a round)
#   SEED_LEASES (1: pre-create the leases; 0 = let the KCL do its slow cold start)
#   VERBOSE (0: hide the daemon's INFO lines; 1: show everything run.sh prints)
#   CHECKPOINT_INTERVAL_SECONDS, JAVA_OPTS, KCL_<property>=value (passed on to run.sh)
#   LOCAL_STACK_HOME (state dir, default <repo>/.local), KINESIS_PORT, DYNAMODB_PORT, SKIP_BUILD=1
# Each run keeps its files in $LOCAL_STACK_HOME/runs/<time>/: output.log (everything run.sh printed),
# logs/record_processor.log, record_processor.properties, records.jsonl (what the producer put).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LOCAL_STACK_HOME:-$REPO/.local}"
export LOCAL_STACK_HOME="$STATE"
STACK="$REPO/scripts/local-stack.sh"
LOG_TAG=local-run
# shellcheck source=scripts/lib/procs.sh
source "$REPO/scripts/lib/procs.sh"

STREAM_NAME="${STREAM_NAME:-local-stream}"
APPLICATION_NAME="${APPLICATION_NAME:-local-app}"
SHARDS="${SHARDS:-2}"
RETRIEVAL_MODE="${RETRIEVAL_MODE:-FANOUT}"
FEED_EVERY="${FEED_EVERY:-3}"
FEED_COUNT="${FEED_COUNT:-1}"
SEED_LEASES="${SEED_LEASES:-1}"
VERBOSE="${VERBOSE:-0}"
KINESIS_PORT="${KINESIS_PORT:-4568}"
DYNAMODB_PORT="${DYNAMODB_PORT:-4569}"
export KINESIS_PORT DYNAMODB_PORT
RUN_SH="${RUN_SH:-$REPO/run.sh}"
BIN="${RECORD_PROCESSOR_BIN:-$REPO/target/ship/record_processor}"
PY="$STATE/venv/bin/python"

RUN_ID="$(date +%Y%m%d-%H%M%S)"
RUN_DIR="$STATE/runs/$RUN_ID"
PIDS="$RUN_DIR/pids"
T0="$(date +%s)"
elapsed() { echo "$(($(date +%s) - T0))s"; }

STARTED_EMULATORS=0
STOPPING=0
RUNSH_PID=""
FEED_PID=""
DISPLAY_PID=""
NOTE_PID=""

# ------------------------------------------------------------------ clean-up (always runs)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ -n "$FEED_PID" ]]; then stop_pid "$FEED_PID" producer.py 5 producer; fi
  if [[ -n "$RUNSH_PID" ]] && pid_matches "$RUNSH_PID" "$RUN_SH"; then
    log "stopping run.sh (pid $RUNSH_PID)"
    stop_pid "$RUNSH_PID" "$RUN_SH" 40 run.sh
    kill -KILL -- "-$RUNSH_PID" 2>/dev/null # anything left in its process group
  fi
  if [[ -n "$NOTE_PID" ]]; then kill "$NOTE_PID" 2>/dev/null; fi
  if [[ -n "$DISPLAY_PID" ]]; then
    wait_gone "$DISPLAY_PID" 3 || kill "$DISPLAY_PID" 2>/dev/null
  fi
  if ((STARTED_EMULATORS)); then
    log "stopping the emulators this run started (kinesis-mock takes ~10 s)"
    "$STACK" down
  fi
  log "files of this run: $RUN_DIR"
  exit "$rc"
}
on_signal() {
  if ((STOPPING)); then
    log "second interrupt: killing run.sh's process group"
    [[ -n "$RUNSH_PID" ]] && kill -KILL -- "-$RUNSH_PID" 2>/dev/null
    return
  fi
  STOPPING=1
  log "stopping: SIGTERM to run.sh -> graceful daemon shutdown (processors checkpoint); Ctrl+C again to force"
  if [[ -n "$FEED_PID" ]]; then stop_pid "$FEED_PID" producer.py 5 producer || true; FEED_PID=""; fi
  if [[ -n "$RUNSH_PID" ]] && pid_matches "$RUNSH_PID" "$RUN_SH"; then kill -TERM "$RUNSH_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap on_signal INT TERM HUP
trap '' PIPE # a closed display pipe (e.g. `| tee` hit by the same Ctrl+C) must not kill the clean-up

# ------------------------------------------------------------------ 1. install + build
mkdir -p "$RUN_DIR/logs" "$PIDS"
log "run $RUN_ID: stream $STREAM_NAME ($SHARDS shards), application $APPLICATION_NAME, retrieval $RETRIEVAL_MODE"
"$STACK" install
if [[ -z "${RECORD_PROCESSOR_BIN:-}" && "${SKIP_BUILD:-0}" != 1 ]]; then
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) or set RECORD_PROCESSOR_BIN"
  log "building the record processor (scripts/build-release.sh: $BIN)"
  "$REPO/scripts/build-release.sh" > /dev/null || die "scripts/build-release.sh failed"
fi
[[ -x "$BIN" ]] || die "record processor binary $BIN not found or not executable"
[[ -f "$RUN_SH" ]] || die "$RUN_SH not found"
log "installed and built after $(elapsed)"

# ------------------------------------------------------------------ 2. emulators, stream, leases
if ! "$STACK" status >/dev/null 2>&1; then
  STARTED_EMULATORS=1
  "$STACK" up
else
  log "emulators already running: using them (and leaving them running)"
fi
"$STACK" create-stream "$STREAM_NAME" "$SHARDS" >/dev/null
if [[ "$SEED_LEASES" == 1 ]]; then
  "$STACK" seed-leases "$APPLICATION_NAME" "$STREAM_NAME" >/dev/null
fi
log "stream $STREAM_NAME ready after $(elapsed)$([[ "$SEED_LEASES" == 1 ]] && echo ", leases pre-created")"

# ------------------------------------------------------------------ 3. the consumer: run.sh
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local # the emulators accept anything
unset AWS_SESSION_TOKEN AWS_PROFILE
export REGION="${REGION:-us-east-1}" STREAM_NAME APPLICATION_NAME
export LOG_DIR="$RUN_DIR/logs" PROPERTIES_FILE="$RUN_DIR/record_processor.properties"
export RECORD_PROCESSOR_BIN="$BIN" JARS_DIR="${JARS_DIR:-$REPO/jars}"
export KCL_kinesisEndpoint="${KCL_kinesisEndpoint:-http://127.0.0.1:$KINESIS_PORT}"
export KCL_dynamoDBEndpoint="${KCL_dynamoDBEndpoint:-http://127.0.0.1:$DYNAMODB_PORT}"
export KCL_metricsLevel="${KCL_metricsLevel:-NONE}"
export KCL_workerId="${KCL_workerId:-local-worker-1}"
export KCL_retrievalMode="${KCL_retrievalMode:-$RETRIEVAL_MODE}"
export KCL_shardSyncIntervalMillis="${KCL_shardSyncIntervalMillis:-5000}"
export KCL_parentShardPollIntervalMillis="${KCL_parentShardPollIntervalMillis:-1000}"
OUT="$RUN_DIR/output.log"
: >"$OUT"
start_session "$PIDS/run.sh.pid" "$OUT" bash "$RUN_SH"
RUNSH_PID="$(pidfile_pid "$PIDS/run.sh.pid")"
START_TS="$(date +%s)"
log "run.sh started (pid $RUNSH_PID); its output: $OUT"

# Show the output as it arrives: the processor's lines (run.sh follows the processor's log file)
# and the daemon's warnings and errors; the daemon's INFO chatter only with VERBOSE=1. A Java stack
# trace (the exception line, "at ...", "Caused by: ...", "... N more") goes with the message it
# belongs to: shown whole or hidden whole, never a trace without the line that says what failed.
# tail --pid ends by itself once run.sh has exited.
tail -n +1 -F --pid="$RUNSH_PID" "$OUT" 2>/dev/null | awk -v verbose="$VERBOSE" '
  verbose == 1 { print; fflush(); next }
  /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][ T]/ {
    in_message = 1
    shown = !(/ (INFO|DEBUG|TRACE) /) || /Initializing ShardConsumer|Starting subscribe to shard|Worker shutdown|[Ss]hutdown complete|Successfully took lease/
    if (shown) { print; fflush() }
    if (shown && /Did not find an operating range metadata provider/) {
      print "(local-run: expected off AWS: KCL 3.x reads the CPU use of a worker from EC2, ECS or EKS metadata)"
      fflush()
    }
    # KCL 3.x leaves leases unassigned until its workers have reported their metrics once.
    if (shown && !waited && /Not able to assign all expiredOrUnAssignedLeases/) {
      waited = 1
      print "(local-run: expected at start: KCL 3.x assigns leases at its second assignment pass, leaseAssignmentIntervalMillis later: 5 s with the template)"
      fflush()
    }
    next
  }
  in_message && /^([ \t]*$|[ \t]+(at |\.\.\. [0-9]+ (more|common frames))|Caused by: |[ \t]*Suppressed: |[a-zA-Z_$][a-zA-Z0-9_$.]*(Exception|Error|Throwable)(: |$))/ {
    if (shown && NF) { print; fflush() }
    next
  }
  { in_message = 0; print; fflush() }' &
DISPLAY_PID=$!

# ------------------------------------------------------------------ 4. sample records
if [[ "$FEED_EVERY" != 0 ]]; then
  "$PY" "$REPO/scripts/producer.py" --stream "$STREAM_NAME" --mode mix --count "$FEED_COUNT" \
    --prefix sample --every "$FEED_EVERY" --records-out "$RUN_DIR/records.jsonl" \
    >>"$RUN_DIR/producer.log" 2>&1 </dev/null &
  FEED_PID=$!
  log "feeding sample records every ${FEED_EVERY}s (producer pid $FEED_PID): text, JSON, unicode, control characters, binary, KPL aggregates"
fi

# Report when the first record arrives (how long the KCL took to start).
first_record_note() {
  local i
  for ((i = 0; i < 1800; i++)); do
    pid_matches "$RUNSH_PID" "$RUN_SH" || return 0
    if grep -q 'sample-' "$LOG_DIR/record_processor.log" 2>/dev/null; then
      log "first record processed $(($(date +%s) - START_TS))s after run.sh started ($(elapsed) after local-run started). Ctrl+C to stop."
      return 0
    fi
    sleep 0.2
  done
}
first_record_note &
NOTE_PID=$!

# ------------------------------------------------------------------ 5. wait for run.sh
rc=0
while true; do
  if wait "$RUNSH_PID" 2>/dev/null; then rc=0; else rc=$?; fi
  pid_matches "$RUNSH_PID" "$RUN_SH" || break
  ((rc == 127)) && sleep 0.2 # not our child (cannot happen with start_session, but never spin)
done
wait "$DISPLAY_PID" 2>/dev/null || true
DISPLAY_PID=""
if ((STOPPING)); then
  log "run.sh exited (status $rc) after the graceful shutdown. Lease table (checkpoints):"
  "$STACK" leases "$APPLICATION_NAME" >&2 || true
  exit 0
fi
log "run.sh exited on its own with status $rc (its output: $OUT)"
exit 1
