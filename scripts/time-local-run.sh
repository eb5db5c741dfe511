#!/usr/bin/env bash
# time-local-run.sh - how long the README's first command takes to show its first record, on a fresh
# clone: once cold (nothing installed in the clone: emulators, the Python venv, the KCL jars, the
# release build) and once warm (the same clone again). The figures in README.md and
# docs/local-stack.md come from this script's last lines.
#
#   scripts/time-local-run.sh [RUNS_WARM]     (default 1 warm run; ~4 min cold, ~1 min a warm run)
#
# Each run starts scripts/local-run.sh in the clone, waits for its "first record processed" line,
# then stops it with SIGTERM (which it handles as Ctrl+C; a script's background job ignores SIGINT)
# and waits for its graceful shutdown. What each run showed is kept in a directory it names. Caches outside the clone
# (~/.m2, ~/.cargo, npm's and pip's) are whatever this machine has: a bare machine adds their
# downloads to the cold figure. The clone is removed at the end (TIME_LOCAL_RUN_KEEP=1 keeps it).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WARM_RUNS="${1:-1}"
LOG_TAG=time-local-run
# shellcheck source=scripts/lib/procs.sh
source "$REPO/scripts/lib/procs.sh"

CLONE="$(mktemp -d "${TMPDIR:-/tmp}/kcl-multilang-timing.XXXXXX")"
SHOWN="$(mktemp -d "${TMPDIR:-/tmp}/time-local-run-output.XXXXXX")"
RUN_PID=""
cleanup() {
  if [[ -n "$RUN_PID" ]]; then
    stop_pid "$RUN_PID" local-run.sh 60 local-run.sh || true
  fi
  # Emulators a run left behind (it stops those it started; this is for a run that was killed).
  if [[ -x "$CLONE/scripts/local-stack.sh" ]]; then
    LOCAL_STACK_HOME="$CLONE/.local" "$CLONE/scripts/local-stack.sh" down > /dev/null 2>&1 || true
  fi
  if [[ "${TIME_LOCAL_RUN_KEEP:-0}" == 1 ]]; then
    log "kept the clone: $CLONE"
  else
    rm -rf -- "$CLONE"
  fi
}
trap cleanup EXIT

git clone -q "$REPO" "$CLONE"
log "fresh clone of $(git -C "$REPO" rev-parse --short HEAD) in $CLONE"

# one_run NAME: prints "NAME <s to first record from the start> <s from run.sh's start>"
one_run() {
  local name="$1" out="$SHOWN/$1.log" t0 line i
  t0="$(date +%s)"
  setsid bash "$CLONE/scripts/local-run.sh" > "$out" 2>&1 < /dev/null &
  RUN_PID=$!
  line=""
  for ((i = 0; i < 1800; i++)); do
    line="$(grep -m1 'first record processed' "$out" || true)"
    [[ -n "$line" ]] && break
    kill -0 "$RUN_PID" 2> /dev/null || { tail -n 30 "$out" >&2; die "$name run: local-run.sh exited before a record showed"; }
    sleep 1
  done
  [[ -n "$line" ]] || { tail -n 30 "$out" >&2; die "$name run: no record within 30 min"; }
  kill -TERM "$RUN_PID"
  wait_gone "$RUN_PID" 60 || die "$name run: local-run.sh still running 60 s after SIGTERM"
  wait "$RUN_PID" 2> /dev/null || true
  RUN_PID=""
  # "first record processed 41s after run.sh started (132s after local-run started)"
  local from_runsh total
  from_runsh="$(sed -n 's/.*first record processed \([0-9]*\)s after run.sh started.*/\1/p' <<< "$line")"
  total="$(sed -n 's/.*(\([0-9]*\)s after local-run started).*/\1/p' <<< "$line")"
  [[ -n "$from_runsh" && -n "$total" ]] || die "$name run: cannot read: $line"
  log "$name run: first record ${total}s after local-run.sh started, ${from_runsh}s after run.sh started (wall $(($(date +%s) - t0))s incl. shutdown)"
  printf '%s %s %s\n' "$name" "$total" "$from_runsh" >> "$CLONE/.timing"
}

: > "$CLONE/.timing"
one_run cold
for ((w = 1; w <= WARM_RUNS; w++)); do one_run "warm$w"; done

printf '\n%s on %s, %s cores (%s)\n' "scripts/time-local-run.sh" "$(date -u +%Y-%m-%d)" "$(nproc)" "$(uname -m)"
printf 'what each run showed: %s\n' "$SHOWN"
printf '%-8s %28s %24s\n' run "first record after start" "after run.sh started"
while read -r name total from_runsh; do
  printf '%-8s %27ss %23ss\n' "$name" "$total" "$from_runsh"
done < "$CLONE/.timing"
