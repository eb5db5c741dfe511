#!/usr/bin/env bash
# local-stack.sh - the local AWS stand-ins for running the consumer on one machine.
#
#   Kinesis   kinesis-mock (npm kinesis-local@0.6.2) on http://127.0.0.1:$KINESIS_PORT (4568; plain
#             HTTP/1.1 and h2c, so enhanced fan-out's SubscribeToShard works without TLS). It also
#             opens a TLS port ($KINESIS_TLS_PORT, 4567) that nothing here uses.
#   DynamoDB  moto's server (PyPI moto[server]), in memory, on http://127.0.0.1:$DYNAMODB_PORT (4569).
#             Not dynalite: KCL 3.x adds a global secondary index to its lease table (UpdateTable with
#             a GSI Create), which dynalite cannot do; moto can, and runs KCL 2.x as well.
#   Python    a venv with moto[server], boto3 + aws-kinesis-agg for the producer (scripts/producer.py)
#             and the admin helper (scripts/local_aws.py).
#   KCL jars  scripts/fetch-kcl-jars.sh into $JARS_DIR (default <repo>/jars).
#
# Usage: scripts/local-stack.sh COMMAND [ARGS]
#   install                     install everything above that is missing (idempotent)
#   up                          start both emulators (idempotent; refuses ports taken by others)
#   down                        stop the emulators this script started (by PID file)
#   status                      what is running, where
#   create-stream NAME SHARDS   create a stream and wait until it is ACTIVE (idempotent)
#   put STREAM [PRODUCER ARGS]  put records with scripts/producer.py (see producer.py --help)
#   seed-leases APP STREAM      pre-create the KCL lease table APP with one unowned TRIM_HORIZON lease
#                               per shard: skips the KCL's cold-start waits (~30-50 s -> ~10 s)
#   scan APP                    dump the lease table APP (one JSON object per lease)
#   leases APP                  the lease table APP, one short line per lease (shard, owner, checkpoint)
#   env                         print the environment the emulators expect (for `eval`)
#
# Environment: LOCAL_STACK_HOME (state dir, default <repo>/.local; delete it to start over),
#   KINESIS_PORT (4568), KINESIS_TLS_PORT (4567), DYNAMODB_PORT (4569), JARS_DIR (<repo>/jars),
#   LOCAL_STACK_RUN_DIR (PID files + emulator logs, default $LOCAL_STACK_HOME/run; lets a second
#   pair of emulators on other ports run next to the first).
# Everything binds to 127.0.0.1. The emulators get dummy credentials (AWS_ACCESS_KEY_ID=x ...).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LOCAL_STACK_HOME:-$REPO/.local}"
NODE_DIR="$STATE/node"
VENV="$STATE/venv"
# PID files and emulator logs; a second stack (e.g. the e2e tests' own, on other ports) uses its own
PID_DIR="${LOCAL_STACK_RUN_DIR:-$STATE/run}"
EMU_LOGS="${LOCAL_STACK_RUN_DIR:-$STATE}/logs"
JARS_DIR="${JARS_DIR:-$REPO/jars}"
KINESIS_PORT="${KINESIS_PORT:-4568}"
KINESIS_TLS_PORT="${KINESIS_TLS_PORT:-4567}"
DYNAMODB_PORT="${DYNAMODB_PORT:-4569}"
STOP_TIMEOUT_KINESIS="${STOP_TIMEOUT_KINESIS:-25}"   # kinesis-mock takes ~10-12 s with open connections

NPM_PACKAGES=(kinesis-local@0.6.2)
PY_PACKAGES=(boto3==1.44.5 aws-kinesis-agg==1.2.3 six==1.17.0 protobuf==7.36.2 'moto[server]==5.2.5')
KINESIS_JS="$NODE_DIR/node_modules/kinesis-local/main.js"
KINESIS_CERT="$NODE_DIR/node_modules/kinesis-local/server.json"
MOTO_SERVER="$VENV/bin/moto_server"
# kinesis-mock 0.6.2 hard-codes its listen address; install rewrites it to loopback.
# shellcheck disable=SC2016 # literal JavaScript, not a shell expansion
BIND_ANY='Host$().em("0.0.0.0")'
# shellcheck disable=SC2016
BIND_LOOPBACK='Host$().em("127.0.0.1")'
# kinesis-mock 0.6.2's PutRecords groups the records by (shard, that shard's stored records) in a hash
# map, so every record put hashes every record the shard holds: a put slows down as the stream fills
# (500 records took 6 s once 15,000 were stored). Install gives that key the shard's hash: the same
# grouping (each key holds the shard's one stored-records object), in constant time per record. The
# hashing was ~66 % of the emulator's CPU in a profile; patched, 50,000 records go in at ~5,500/s.
# shellcheck disable=SC2016
PUT_GROUP_KEY='var key = $ct_T2__O__O__(new $c_T2(), elem.ev, elem.e2);'
# shellcheck disable=SC2016
PUT_GROUP_KEY_FAST='var key = $ct_T2__O__O__(new $c_T2(), elem.ev, elem.e2); key.g = function() { return this.m().g(); };'

export KINESIS_ENDPOINT="http://127.0.0.1:$KINESIS_PORT"
export DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"

LOG_TAG=local-stack
# shellcheck source=scripts/lib/procs.sh
source "$REPO/scripts/lib/procs.sh"

# Dummy credentials for the emulators only (they accept anything). Set here, in this process,
# so a real AWS profile in the caller's environment is never sent anywhere.
emulator_env() {
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  unset AWS_SESSION_TOKEN AWS_PROFILE
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_DEFAULT_REGION="$AWS_REGION"
}

pid_of() { pidfile_pid "$PID_DIR/$1.pid"; }
pid_alive() { pidfile_alive "$PID_DIR/$1.pid" "$2"; }
require_free_port() { # PORT WHAT VAR
  if port_open "$1"; then
    local who; who="$(port_owner "$1")"
    die "port $1 ($2) is already taken${who:+ by $who}. Stop that process, or choose another port: $3=<port> $0 up"
  fi
}
wait_port() { # PORT SECONDS NAME MATCH LOGFILE
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    pid_alive "$3" "$4" || die "$3 exited during start-up; last lines of $5:$(printf '\n'; tail -n 20 "$5")"
    sleep 0.1
  done
  die "$3 did not open port $1 within $2 s (see $5)"
}

# ------------------------------------------------------------------ install
venv_python() { echo "$VENV/bin/python"; }
have_node_pkgs() { [[ -f "$KINESIS_JS" && -f "$KINESIS_CERT" ]]; }
have_venv() {
  [[ -x "$VENV/bin/python" && -x "$MOTO_SERVER" ]] &&
    "$VENV/bin/python" -c 'import boto3, aws_kinesis_agg.aggregator, moto.server' 2>/dev/null
}
have_jars() { compgen -G "$JARS_DIR/amazon-kinesis-client-multilang-*.jar" >/dev/null; }

install_node() {
  command -v node >/dev/null || die "node not found: install Node.js >= 20 (Debian: apt-get install nodejs npm)"
  command -v npm >/dev/null || die "npm not found: install npm (Debian: apt-get install npm)"
  if ! have_node_pkgs; then
    log "npm install ${NPM_PACKAGES[*]} -> $NODE_DIR"
    mkdir -p "$NODE_DIR" "$EMU_LOGS"
    if ! npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}" \
      >"$EMU_LOGS/npm-install.log" 2>&1; then
      tail -n 20 "$EMU_LOGS/npm-install.log" >&2
      die "npm could not install ${NPM_PACKAGES[*]} (full output: $EMU_LOGS/npm-install.log; is the npm registry reachable?)"
    fi
    have_node_pkgs || die "npm finished but $KINESIS_JS is missing (see $EMU_LOGS/npm-install.log)"
  fi
  # kinesis-mock listens on 0.0.0.0 with no option to change it: rewrite the one place to 127.0.0.1.
  if grep -qF "$BIND_ANY" "$KINESIS_JS"; then
    [[ "$(grep -oF "$BIND_ANY" "$KINESIS_JS" | wc -l)" -eq 1 ]] ||
      die "kinesis-local: expected exactly one '$BIND_ANY' in $KINESIS_JS; not patching (version changed?)"
    sed -i "s/Host\\\$().em(\"0.0.0.0\")/Host\$().em(\"127.0.0.1\")/" "$KINESIS_JS"
    log "patched kinesis-mock's bind address 0.0.0.0 -> 127.0.0.1"
  fi
  if ! grep -qF "$PUT_GROUP_KEY_FAST" "$KINESIS_JS"; then
    if [[ "$(grep -oF "$PUT_GROUP_KEY" "$KINESIS_JS" | wc -l)" -eq 1 ]]; then
      PUT_GROUP_KEY="$PUT_GROUP_KEY" PUT_GROUP_KEY_FAST="$PUT_GROUP_KEY_FAST" python3 - "$KINESIS_JS" <<'PYEOF'
import os, sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write(text.replace(os.environ["PUT_GROUP_KEY"], os.environ["PUT_GROUP_KEY_FAST"], 1))
PYEOF
      log "patched kinesis-mock's PutRecords grouping (constant time per record put; see PUT_GROUP_KEY)"
    else
      log "WARNING: kinesis-local: PutRecords' grouping key not found in $KINESIS_JS (version changed?): not patched; puts slow down as a stream fills"
    fi
  fi
  grep -qF "$BIND_LOOPBACK" "$KINESIS_JS" ||
    die "kinesis-local: could not find its bind address ('$BIND_ANY') in $KINESIS_JS to patch it to 127.0.0.1 (version changed?). Refusing to run an emulator that listens on all interfaces."
}

install_venv() {
  command -v python3 >/dev/null || die "python3 not found (need >= 3.9 with the venv module)"
  if ! have_venv; then
    if [[ ! -x "$VENV/bin/python" ]]; then
      log "creating Python venv $VENV"
      python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    log "pip install ${PY_PACKAGES[*]}"
    mkdir -p "$EMU_LOGS"
    if ! "$VENV/bin/pip" install --disable-pip-version-check -q "${PY_PACKAGES[@]}" >"$EMU_LOGS/pip-install.log" 2>&1; then
      tail -n 20 "$EMU_LOGS/pip-install.log" >&2
      die "pip could not install ${PY_PACKAGES[*]} (full output: $EMU_LOGS/pip-install.log; is PyPI reachable?)"
    fi
    have_venv || die "pip finished but boto3/aws_kinesis_agg/moto cannot be imported from $VENV"
  fi
}

install_jars() {
  have_jars && return 0
  local fetch="$REPO/scripts/fetch-kcl-jars.sh"
  [[ -f "$fetch" ]] || die "$fetch is missing: cannot fetch the KCL jars into $JARS_DIR"
  log "fetching the KCL jars into $JARS_DIR (scripts/fetch-kcl-jars.sh)"
  JARS_DIR="$JARS_DIR" bash "$fetch" || die "scripts/fetch-kcl-jars.sh failed (see above)"
  have_jars || die "scripts/fetch-kcl-jars.sh finished but $JARS_DIR has no amazon-kinesis-client-multilang-*.jar"
}

cmd_install() {
  command -v java >/dev/null || die "java not found: install a JDK/JRE >= 17 (Debian: apt-get install openjdk-17-jre-headless)"
  mkdir -p "$STATE" "$PID_DIR" "$EMU_LOGS"
  install_node
  install_venv
  install_jars
  log "installed: emulators in $NODE_DIR, venv $VENV, jars $JARS_DIR"
}

need_install() {
  if ! { have_node_pkgs && grep -qF "$BIND_LOOPBACK" "$KINESIS_JS" && have_venv; }; then
    die "the local stack is not installed in $STATE: run '$0 install' first"
  fi
}

# ------------------------------------------------------------------ emulators
start_kinesis() {
  if pid_alive kinesis "$KINESIS_JS"; then
    log "kinesis-mock already running (pid $(pid_of kinesis)) on $KINESIS_ENDPOINT"
    return 0
  fi
  log "starting kinesis-mock on $KINESIS_ENDPOINT (log $EMU_LOGS/kinesis.log)"
  KINESIS_MOCK_PLAIN_PORT="$KINESIS_PORT" KINESIS_MOCK_TLS_PORT="$KINESIS_TLS_PORT" \
    KINESIS_MOCK_CERT_PATH="$KINESIS_CERT" LOG_LEVEL="${KINESIS_MOCK_LOG_LEVEL:-WARN}" \
    SHARD_LIMIT="${KINESIS_MOCK_SHARD_LIMIT:-100}" \
    start_session "$PID_DIR/kinesis.pid" "$EMU_LOGS/kinesis.log" node "$KINESIS_JS"
}
start_dynamodb() {
  if pid_alive dynamodb "$MOTO_SERVER"; then
    log "moto (DynamoDB) already running (pid $(pid_of dynamodb)) on $DYNAMODB_ENDPOINT"
    return 0
  fi
  log "starting moto (DynamoDB) on $DYNAMODB_ENDPOINT (log $EMU_LOGS/dynamodb.log)"
  start_session "$PID_DIR/dynamodb.pid" "$EMU_LOGS/dynamodb.log" "$MOTO_SERVER" -H 127.0.0.1 -p "$DYNAMODB_PORT"
}
cmd_up() {
  need_install
  emulator_env
  # check every port before starting anything, so a conflict leaves nothing half-started
  if ! pid_alive kinesis "$KINESIS_JS"; then
    require_free_port "$KINESIS_PORT" "Kinesis emulator" KINESIS_PORT
    require_free_port "$KINESIS_TLS_PORT" "Kinesis emulator's TLS port" KINESIS_TLS_PORT
  fi
  if ! pid_alive dynamodb "$MOTO_SERVER"; then
    require_free_port "$DYNAMODB_PORT" "DynamoDB emulator" DYNAMODB_PORT
  fi
  start_kinesis
  start_dynamodb
  wait_port "$KINESIS_PORT" 60 kinesis "$KINESIS_JS" "$EMU_LOGS/kinesis.log"
  wait_port "$DYNAMODB_PORT" 60 dynamodb "$MOTO_SERVER" "$EMU_LOGS/dynamodb.log"
  log "up: Kinesis $KINESIS_ENDPOINT, DynamoDB $DYNAMODB_ENDPOINT"
}
cmd_down() {
  stop_pidfile "$PID_DIR/kinesis.pid" "$KINESIS_JS" "$STOP_TIMEOUT_KINESIS" kinesis-mock || true
  stop_pidfile "$PID_DIR/dynamodb.pid" "$MOTO_SERVER" 10 "moto (DynamoDB)" || true
}
cmd_status() {
  local name match port rc=0
  for name in kinesis dynamodb; do
    if [[ "$name" == kinesis ]]; then match="$KINESIS_JS" port="$KINESIS_PORT"; else match="$MOTO_SERVER" port="$DYNAMODB_PORT"; fi
    if pid_alive "$name" "$match"; then
      printf '%-9s running  pid %-7s http://127.0.0.1:%s\n' "$name" "$(pid_of "$name")" "$port"
    else
      printf '%-9s stopped%s\n' "$name" "$(port_open "$port" && printf '  (port %s is held by another process: %s)' "$port" "$(port_owner "$port")")"
      rc=3
    fi
  done
  printf 'state    %s\n' "$STATE"
  return "$rc"
}

# ------------------------------------------------------------------ Kinesis / DynamoDB helpers
aws_py() { need_install; emulator_env; "$VENV/bin/python" "$REPO/scripts/local_aws.py" "$@"; }
cmd_put() {
  need_install; emulator_env
  local stream="${1:?usage: put STREAM [producer args]}"; shift
  "$VENV/bin/python" "$REPO/scripts/producer.py" --stream "$stream" "$@"
}

cmd_env() {
  printf 'export KINESIS_ENDPOINT=%q DYNAMODB_ENDPOINT=%q\n' "$KINESIS_ENDPOINT" "$DYNAMODB_ENDPOINT"
  printf 'export LOCAL_STACK_HOME=%q JARS_DIR=%q LOCAL_PYTHON=%q\n' "$STATE" "$JARS_DIR" "$(venv_python)"
}

sub="${1:-help}"
shift || true
case "$sub" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  create-stream) aws_py create-stream "${1:?usage: create-stream NAME SHARDS}" "${2:?usage: create-stream NAME SHARDS}" ;;
  put) cmd_put "$@" ;;
  seed-leases) aws_py seed-leases "${1:?usage: seed-leases APP STREAM}" "${2:?usage: seed-leases APP STREAM}" ;;
  scan) aws_py scan "${1:?usage: scan APP}" ;;
  leases) aws_py leases "${1:?usage: leases APP}" ;;
  env) cmd_env ;;
  help | -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
  *) die "unknown command '$sub' (try: $0 help)" ;;
esac
