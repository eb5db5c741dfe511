# shellcheck shell=bash
# Test results for tests/e2e/run.sh and tests/image/run.sh: one PASS or FAIL line per check, counted in
# PASS and FAIL, the failed ones listed in FAILED for the summary. Source it after scripts/lib/procs.sh
# (for log). The caller sets WORK (where a check's output goes) and may define check_label, which prints
# a prefix for every description (the e2e suite names the KCL version there).
PASS=0
FAIL=0
FAILED=()

_check_desc() {
  if declare -F check_label > /dev/null; then
    printf '%s%s' "$(check_label)" "$1"
  else
    printf '%s' "$1"
  fi
}

check() { # check DESCRIPTION CMD...: CMD's status is the result; its output, indented, follows
  local desc
  desc="$(_check_desc "$1")"
  shift
  if "$@" > "$WORK/check.out" 2>&1; then
    PASS=$((PASS + 1))
    log "PASS: $desc"
  else
    FAIL=$((FAIL + 1))
    FAILED+=("$desc")
    log "FAIL: $desc"
  fi
  sed 's/^/        /' "$WORK/check.out" | head -n 20 | cut -c1-300 >&2
}

fail_now() { # fail_now DESCRIPTION: a step the rest of a case depends on failed
  local desc
  desc="$(_check_desc "$1")"
  FAIL=$((FAIL + 1))
  FAILED+=("$desc")
  log "FAIL: $desc"
}

secs_since() { echo "$(($(date +%s) - $1))"; }
