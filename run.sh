#!/usr/bin/env bash
# run.sh -- entry point of the consumer container: render the properties, follow the record processor's
# log to stdout, and run the KCL MultiLangDaemon (which starts one record_processor per shard lease).
#
#   run.sh                  run until the daemon exits, or until SIGTERM/SIGINT (graceful shutdown)
#   run.sh --print-command  print the command that starts the daemon and exit (nothing is started or written):
#                           with REGION, STREAM_NAME and APPLICATION_NAME set, set_properties.sh (with the
#                           environment it reads) && the java command line; without them, the java command line
#                           alone, and on stderr how to render the properties file it reads
#
# Environment (defaults in brackets; APP_HOME is /app in the image):
#   REGION, STREAM_NAME, APPLICATION_NAME   required, see set_properties.sh; KCL_<property>=value too
#   APP_HOME [directory of run.sh]
#   RECORD_PROCESSOR_BIN [$APP_HOME/bin/record_processor, else (a source checkout) $APP_HOME/target/ship/record_processor
#     (scripts/build-release.sh), else $APP_HOME/target/release/record_processor]
#   JARS_DIR [$APP_HOME/jars]   PROPERTIES_TEMPLATE [$APP_HOME/properties/record_processor.properties]
#   PROPERTIES_FILE [$APP_HOME/record_processor.properties]   LOGBACK_CONFIG [$APP_HOME/logback/logback.xml]
#   LOG_DIR [$APP_HOME/logs]   JAVA [java]   JAVA_OPTS [] (split on whitespace)
#   CDS_ARCHIVE [$APP_HOME/cds/daemon.jsa]  a class-data-sharing archive of the daemon's start
#     (scripts/make-cds-archive.sh; the image has one): if the file exists and JAVA_OPTS names no
#     -XX:SharedArchiveFile, -XX:ArchiveClassesAtExit or -Xshare, -XX:SharedArchiveFile=<it> is added, so
#     the archive stays in use when JAVA_OPTS is replaced; CDS_ARCHIVE= (empty) turns it off
#   RECORD_PROCESSOR_STATE_DIR [$LOG_DIR/state]  the daemon's PID and each processor's heartbeat, for
#                                                `record_processor health` (the image's HEALTHCHECK)
#   CHECK_PROPERTIES [1]   1: check the rendered file with `record_processor check-properties` before the
#     daemon starts (warnings are logged, errors stop the start); 0: skip the check
#   STOP_TIMEOUT_MS [30000]   the container's stop timeout (ECS stopTimeout); shutdownGraceMillis must be below
#
# Signals: the first SIGTERM or SIGINT is forwarded to the daemon as one SIGTERM; its shutdown hook then
# shuts down gracefully for up to shutdownGraceMillis (processors get shutdownRequested and checkpoint).
# run.sh waits for it and exits with the daemon's status (the JVM exits 143 after a SIGTERM). A second
# signal kills the daemon at once (SIGKILL). If the daemon exits on its own, run.sh exits at once with
# its status. The daemon is started as a background job of this non-interactive shell, so it ignores
# SIGINT (a terminal's Ctrl+C reaches the whole process group): it only gets the one SIGTERM from here.
#
# Stdout has one writer, `record_processor follow-logs`: the daemon's stdout and stderr (through two FIFOs) and the
# processors' log file (followed across rotations) come out as whole lines, each of one source. run.sh waits for it
# to copy the last lines after the daemon exits. If it dies first, the daemon is stopped (SIGTERM) and run.sh exits
# non-zero (1 where the daemon's status would be 0).
set -euo pipefail

self_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export APP_HOME="${APP_HOME:-$self_dir}"
if [[ -z "${RECORD_PROCESSOR_BIN:-}" ]]; then
  RECORD_PROCESSOR_BIN="$APP_HOME/bin/record_processor"
  # a source checkout: the binary scripts/build-release.sh places, else a plain `cargo build --release`
  for candidate in "$APP_HOME/target/ship/record_processor" "$APP_HOME/target/release/record_processor"; do
    if [[ ! -e "$RECORD_PROCESSOR_BIN" && -e "$candidate" ]]; then RECORD_PROCESSOR_BIN="$candidate"; fi
  done
fi
export RECORD_PROCESSOR_BIN
export JARS_DIR="${JARS_DIR:-$APP_HOME/jars}"
export PROPERTIES_TEMPLATE="${PROPERTIES_TEMPLATE:-$APP_HOME/properties/record_processor.properties}"
export PROPERTIES_FILE="${PROPERTIES_FILE:-$APP_HOME/record_processor.properties}"
export LOGBACK_CONFIG="${LOGBACK_CONFIG:-$APP_HOME/logback/logback.xml}"
export LOG_DIR="${LOG_DIR:-$APP_HOME/logs}"
export RECORD_PROCESSOR_STATE_DIR="${RECORD_PROCESSOR_STATE_DIR:-$LOG_DIR/state}"
JAVA="${JAVA:-java}"
CHECK_PROPERTIES="${CHECK_PROPERTIES:-1}"
JAVA_OPTS="${JAVA_OPTS:-}"
MAIN_CLASS="software.amazon.kinesis.multilang.MultiLangDaemon"
LOG_FILE="$LOG_DIR/record_processor.log"

log() { printf '[run.sh %s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

read -r -a java_opts <<< "$JAVA_OPTS"
CDS_ARCHIVE="${CDS_ARCHIVE-$APP_HOME/cds/daemon.jsa}"
if [[ -n "$CDS_ARCHIVE" && -f "$CDS_ARCHIVE" && ! "$JAVA_OPTS" =~ (SharedArchiveFile|ArchiveClassesAtExit|-Xshare) ]]; then
  java_opts+=("-XX:SharedArchiveFile=$CDS_ARCHIVE")
fi
java_cmd=("$JAVA" "${java_opts[@]}" -Dfile.encoding=UTF-8 -cp "$JARS_DIR/*" "$MAIN_CLASS"
  --properties-file "$PROPERTIES_FILE" --log-configuration "$LOGBACK_CONFIG")

case "${1:-}" in
  "") ;;
  --print-command)
    printf -v java_line '%q ' "${java_cmd[@]}"
    java_line="${java_line% }"
    if [[ -n "${REGION:-}" && -n "${STREAM_NAME:-}" && -n "${APPLICATION_NAME:-}" ]]; then
      # The daemon reads the rendered file, so the command renders it first, with everything
      # set_properties.sh reads spelt out: pasted into another shell, it does the same.
      render=(env "APP_HOME=$APP_HOME" "RECORD_PROCESSOR_BIN=$RECORD_PROCESSOR_BIN" "JARS_DIR=$JARS_DIR"
        "PROPERTIES_TEMPLATE=$PROPERTIES_TEMPLATE" "PROPERTIES_FILE=$PROPERTIES_FILE" "LOG_DIR=$LOG_DIR"
        "REGION=$REGION" "STREAM_NAME=$STREAM_NAME" "APPLICATION_NAME=$APPLICATION_NAME")
      while IFS= read -r -d '' entry; do
        if [[ "$entry" == KCL_* ]]; then render+=("$entry"); fi
      done < <(env -0 | LC_ALL=C sort -z)
      render+=("$self_dir/set_properties.sh")
      printf -v render_line '%q ' "${render[@]}"
      printf '%s \\\n  && %s\n' "${render_line% }" "$java_line"
    else
      printf '%s\n' "$java_line"
      state="it is rendered"
      [[ -e "$PROPERTIES_FILE" ]] || state="it does not exist yet: it is rendered"
      log "note: this command reads $PROPERTIES_FILE and does not render it; $state by set_properties.sh," \
        "which run.sh runs at every start. Render it first:" \
        "REGION=<region> STREAM_NAME=<stream> APPLICATION_NAME=<application> PROPERTIES_FILE=$(printf '%q' "$PROPERTIES_FILE") $(printf '%q' "$self_dir/set_properties.sh")" \
        "-- or set REGION, STREAM_NAME and APPLICATION_NAME and run run.sh --print-command again, which then prints that step too."
    fi
    exit 0
    ;;
  -h | --help)
    while IFS= read -r line; do
      [[ "$line" != "set -euo"* ]] || break
      [[ "$line" != '#!'* ]] || continue
      line="${line#\#}"
      printf '%s\n' "${line# }"
    done < "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *) die "unknown argument: $1 (usage: run.sh [--print-command | --help])" ;;
esac

# ------------------------------------------------------------------ 1. checks and properties
command -v "$JAVA" > /dev/null 2>&1 \
  || die "java not found: JAVA=$JAVA (install a Java 17+ runtime or point JAVA at one)"
shopt -s nullglob
multilang_jars=("$JARS_DIR"/amazon-kinesis-client-multilang-*.jar)
shopt -u nullglob
(( ${#multilang_jars[@]} > 0 )) \
  || die "no KCL jars: JARS_DIR=$JARS_DIR has no amazon-kinesis-client-multilang-*.jar (fill it with scripts/fetch-kcl-jars.sh)"
# Needed even with a processor of one's own (KCL_executableName): its follow-logs writes the container's stdout.
[[ -f "$RECORD_PROCESSOR_BIN" && -x "$RECORD_PROCESSOR_BIN" ]] \
  || die "record processor binary not found or not executable: RECORD_PROCESSOR_BIN=$RECORD_PROCESSOR_BIN (it is the default processor and writes the logs to stdout; build it with: scripts/build-release.sh)"
[[ -r "$LOGBACK_CONFIG" ]] || die "logback configuration not found: LOGBACK_CONFIG=$LOGBACK_CONFIG"
[[ "$CHECK_PROPERTIES" == 0 || "$CHECK_PROPERTIES" == 1 ]] \
  || die "CHECK_PROPERTIES must be 1 (check the properties before the start, the default) or 0 (skip the check), not: $CHECK_PROPERTIES"

"$self_dir/set_properties.sh" || die "set_properties.sh failed (see above)"

# The daemon ignores unknown keys silently and fails late on others: check the rendered file first.
if [[ "$CHECK_PROPERTIES" == 0 ]]; then
  log "CHECK_PROPERTIES=0: starting without checking $PROPERTIES_FILE"
else
  check_rc=0
  "$RECORD_PROCESSOR_BIN" check-properties --jars-dir "$JARS_DIR" "$PROPERTIES_FILE" || check_rc=$?
  case "$check_rc" in
    0) ;;
    1) die "$PROPERTIES_FILE has errors (check-properties, see above): fix them (KCL_<property>=value or the template) or set CHECK_PROPERTIES=0 to start anyway" ;;
    *) die "check-properties could not check $PROPERTIES_FILE (status $check_rc, see above); set CHECK_PROPERTIES=0 to start without the check" ;;
  esac
fi

# ------------------------------------------------------------------ 2. stdout: one writer, whole lines
# CloudWatch makes an event of each line of stdout. Two writers there (the daemon, and something copying the
# processors' log) split each other's lines longer than PIPE_BUF. So only `record_processor follow-logs` writes
# to stdout: it reads the daemon's stdout and stderr from two FIFOs and follows the log file across rotations,
# and writes whole lines only.
mkdir -p -- "$LOG_DIR" || die "cannot create LOG_DIR=$LOG_DIR"
mkdir -p -- "$RECORD_PROCESSOR_STATE_DIR" \
  || die "cannot create RECORD_PROCESSOR_STATE_DIR=$RECORD_PROCESSOR_STATE_DIR"
# Heartbeats of an earlier run belong to processes that are gone.
rm -f -- "$RECORD_PROCESSOR_STATE_DIR"/*.json "$RECORD_PROCESSOR_STATE_DIR/daemon.pid"
touch -- "$LOG_FILE" || die "cannot write $LOG_FILE"
# TMPDIR first; with a read-only root filesystem, the state directory (writable, as just checked).
pipes_dir="$(mktemp -d "${TMPDIR:-/tmp}/run.sh.XXXXXX" 2> /dev/null \
  || mktemp -d "$RECORD_PROCESSOR_STATE_DIR/pipes.XXXXXX")" \
  || die "cannot create a directory for the daemon's pipes in ${TMPDIR:-/tmp} or $RECORD_PROCESSOR_STATE_DIR"
daemon_out="$pipes_dir/daemon.stdout" daemon_err="$pipes_dir/daemon.stderr"
mkfifo -m 600 -- "$daemon_out" "$daemon_err" || die "cannot create FIFOs in $pipes_dir"

daemon_pid="" follower_pid="" forwarded=0 trapped=0 launching=0 pending=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  rm -f -- "$RECORD_PROCESSOR_STATE_DIR/daemon.pid"
  if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2> /dev/null; then
    log "stopping the daemon (pid $daemon_pid)"
    kill -TERM "$daemon_pid" 2> /dev/null || true
  fi
  # Only on an early exit: otherwise the follower has finished. It ignores SIGTERM (see follow-logs).
  if [[ -n "$follower_pid" ]] && kill -0 "$follower_pid" 2> /dev/null; then
    kill -KILL "$follower_pid" 2> /dev/null || true
    wait "$follower_pid" 2> /dev/null || true
  fi
  rm -rf -- "$pipes_dir"
}
trap cleanup EXIT
on_signal() { # on_signal NAME NUMBER
  trapped=1
  if [[ -z "$daemon_pid" ]]; then
    if (( launching )); then pending="$1"; return; fi   # forwarded as soon as the pid is known
    log "received SIG$1 before the daemon started: exiting"
    exit $((128 + $2))
  fi
  if (( forwarded == 0 )); then
    forwarded=1
    log "received SIG$1: asking the daemon (pid $daemon_pid) to shut down gracefully (SIGTERM)"
    kill -TERM "$daemon_pid" 2> /dev/null || true
  else
    log "received SIG$1 again: killing the daemon (pid $daemon_pid) now (SIGKILL)"
    kill -KILL "$daemon_pid" 2> /dev/null || true
  fi
}
trap 'on_signal TERM 15' TERM
trap 'on_signal INT 2' INT
# A follower still waiting to open a FIFO (the daemon was stopped before it opened its end) would wait for good.
# On Linux a read-write open never blocks and counts as the writer it waits for; closing it again is its EOF.
release_pipes() {
  local fifo fd
  for fifo in "$daemon_out" "$daemon_err"; do
    { exec {fd}<> "$fifo"; } 2> /dev/null || continue
    exec {fd}>&-
  done
}

# ------------------------------------------------------------------ 3. the follower and the daemon
# The follower opens the log file at its end, then the FIFOs, in this order; the daemon's redirections below open
# the FIFOs in the same order and wait for it. So nothing reaches the log file before the follower knows where
# it ended: only lines written from now on are followed.
"$RECORD_PROCESSOR_BIN" follow-logs --log-file "$LOG_FILE" --from-end --pipe "$daemon_out" --pipe "$daemon_err" &
follower_pid=$!
exec 1>&2   # the follower has its copy: nothing else of run.sh's may reach stdout now
log "starting the KCL MultiLangDaemon: ${java_cmd[*]}"
launching=1
"${java_cmd[@]}" > "$daemon_out" 2> "$daemon_err" &
daemon_pid=$!
printf '%s\n' "$daemon_pid" > "$RECORD_PROCESSOR_STATE_DIR/daemon.pid"
if [[ -n "$pending" ]]; then on_signal "$pending" 0; fi
log "daemon pid $daemon_pid; its output and $LOG_FILE go to stdout through follow-logs (pid $follower_pid)"

# ------------------------------------------------------------------ 4. wait
# `wait -n` returns early when a trapped signal arrives (then `finished` is unset): then wait again. It also
# returns when the follower exits first: then the daemon's output has no reader (its writes fail with EPIPE
# rather than block), so the daemon is stopped and run.sh fails.
status="" follower_status=""
while [[ -z "$status" ]]; do
  trapped=0 finished=""
  waiting=("$daemon_pid")
  [[ -n "$follower_status" ]] || waiting+=("$follower_pid")
  rc=0
  wait -n -p finished "${waiting[@]}" 2> /dev/null || rc=$?
  if [[ "${finished:-}" == "$daemon_pid" ]]; then
    status=$rc
  elif [[ -n "${finished:-}" ]]; then
    follower_status=$rc
    log "ERROR: follow-logs (pid $follower_pid) exited with status $rc while the daemon runs: nothing copies the logs to stdout any more; stopping the daemon (pid $daemon_pid, SIGTERM)"
    if (( forwarded == 0 )); then
      forwarded=1
      kill -TERM "$daemon_pid" 2> /dev/null || true
    fi
  elif (( ! trapped )); then
    # No job left for `wait -n`: bash can reap the daemon while a trap runs (seen after a second
    # signal's SIGKILL), and then `wait -n` returns 127. `wait PID` still has its status.
    rc=0
    wait "$daemon_pid" 2> /dev/null || rc=$?
    (( trapped )) || status=$rc
  fi
done

if (( forwarded )); then
  log "the daemon exited with status $status after the shutdown request"
else
  log "the daemon exited on its own with status $status"
fi
# The follower copies the daemon's last output, then the processors' last lines (they exit on stdin EOF when
# the JVM is gone) until the file has been quiet for a moment, and exits.
if [[ -z "$follower_status" ]]; then
  release_pipes
  for ((i = 0; i < 150; i++)); do
    kill -0 "$follower_pid" 2> /dev/null || break
    (( i % 10 != 9 )) || release_pipes   # in case it came to open them only now
    sleep 0.1
  done
  if kill -0 "$follower_pid" 2> /dev/null; then
    log "ERROR: follow-logs (pid $follower_pid) has not finished 15 s after the daemon (is stdout blocked?): killing it; the last lines may be missing from stdout"
    kill -KILL "$follower_pid" 2> /dev/null || true
  fi
  follower_status=0
  wait "$follower_pid" 2> /dev/null || follower_status=$?
  if (( follower_status != 0 )); then
    log "ERROR: follow-logs exited with status $follower_status: lines may be missing from stdout"
  fi
fi
# Lines lost on the way to stdout make a failure of a run that would otherwise count as clean.
if (( follower_status != 0 && status == 0 )); then status=1; fi
trap - TERM INT
exit "$status"
