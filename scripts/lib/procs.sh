# shellcheck shell=bash
# Process helpers shared by scripts/local-stack.sh, scripts/local-run.sh and tests/e2e/run.sh.
# Processes are tracked by PID files and stopped by PID only (never by name); before signalling a
# PID we check that /proc/PID/cmdline still contains what we started (guards against PID reuse).
# Source it; the caller sets LOG_TAG for the message prefix.

log() { printf '[%s %s] %s\n' "${LOG_TAG:-local}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s %s] ERROR: %s\n' "${LOG_TAG:-local}" "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# pidfile_pid FILE: the PID recorded in FILE (empty if none)
pidfile_pid() { if [[ -s "$1" ]]; then tr -dc '0-9' <"$1"; fi; }

# pid_matches PID MATCH: PID runs and its command line contains MATCH
pid_matches() {
  local cmdline
  [[ -n "$1" && -r "/proc/$1/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ -n "$cmdline" && "$cmdline" == *"$2"* ]]
}

# pidfile_alive FILE MATCH
pidfile_alive() { pid_matches "$(pidfile_pid "$1")" "$2"; }

# wait_gone PID SECONDS: wait until PID has exited (returns 1 on timeout)
wait_gone() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    # a zombie child of ours counts as gone
    [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == Z ]] && return 0
    sleep 0.1
  done
  ! kill -0 "$1" 2>/dev/null
}

# stop_pid PID MATCH TIMEOUT [NAME]: SIGTERM, wait up to TIMEOUT s, then SIGKILL. Only if PID still
# runs MATCH. Returns 0 if it exited on SIGTERM, 2 if it needed SIGKILL, 0 if it was not running.
stop_pid() {
  local pid="$1" match="$2" timeout="$3" name="${4:-$2}"
  pid_matches "$pid" "$match" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  wait_gone "$pid" "$timeout" && return 0
  log "$name (pid $pid) still running ${timeout}s after SIGTERM: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 5 || true
  return 2
}

# stop_pidfile FILE MATCH TIMEOUT [NAME]: stop_pid for the PID in FILE, then remove FILE.
stop_pidfile() {
  local pid rc=0
  pid="$(pidfile_pid "$1")"
  if [[ -n "$pid" ]] && pid_matches "$pid" "$2"; then
    log "stopping ${4:-$2} (pid $pid)"
    stop_pid "$pid" "$2" "$3" "${4:-$2}" || rc=$?
  fi
  rm -f "$1"
  return "$rc"
}

# start_session PIDFILE OUTFILE CMD...: run CMD in the background in a new session (own process
# group: a Ctrl+C in the caller's terminal does not reach it, and `kill -- -PID` reaches all of it),
# stdin from /dev/null, stdout+stderr appended to OUTFILE. The process writes its own PID to
# PIDFILE before it execs CMD, so the PID is exact whatever setsid does.
start_session() {
  local pidfile="$1" out="$2" i
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$out")"
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c 'echo "$$" >"$1.tmp" && mv "$1.tmp" "$1"; shift; exec "$@"' start_session "$pidfile" "$@" \
    >>"$out" 2>&1 </dev/null &
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.05
  done
  die "could not start $1 (see $out)"
}

# descendants PID: all descendant PIDs of PID (children first-level and below), one per line
descendants() {
  local kid
  for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$kid"
    descendants "$kid"
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_owner() { ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1; }
