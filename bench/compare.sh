#!/usr/bin/env bash
# bench/compare.sh -- the whole consumer container against its alternatives, side by side, on the same
# emulated stream, in the same run: each consumer runs in the image the Dockerfile builds (JDK, jars,
# run.sh), as a container with the task's CPU and memory as cgroup limits (what a Fargate task gives
# the JVM), against kinesis-mock and moto on the host.
#
#   bench/compare.sh [--variants "ours:image ours:defaults python:image java:image java:defaults"]
#                    [--modes "FANOUT POLLING"] [--repeats 2] [--backlog 20000] [--rate-seconds 30]
#                    [--idle-seconds 30] [--shards 2] [--task-cpus 1] [--task-mem 2g]
#   bench/compare.sh --smoke   each consumer once, FANOUT, small workloads (~5 min): that it all works
#                              (scripts/test.sh runs it; its report stays in .local/bench/compare/)
#
# Consumers (the part before the colon):
#   ours     the image as it ships: run.sh, the KCL MultiLangDaemon, one record_processor per lease
#   python   the same image and daemon with the Python sample's processor (amazon_kclpy, one Python
#            process per lease; bench/python_processor.py) as executableName, its log not rotated:
#            logging's RotatingFileHandler is not safe with one process per shard writing one file
#            (in one run it lost the line written as the other process rotated the file)
#   java     a plain Java KCL application on the image's jars and JVM (bench/java: the KCL in-process,
#            same properties, a processor that logs each record to a file and checkpoints like the sample)
# JVM options (after the colon): image = the image's own JAVA_OPTS (its ENV), defaults = the JVM's own
# choices, c2 = the image's without -XX:TieredStopAtLevel=1; any other NAME = $COMPARE_OPTS_<NAME>.
# Every variant gets -Djava.io.tmpdir=/app/run (the read-only root needs it). COMPARE_ENV_<NAME>="K=V ...":
# more environment for the variants with those options (KCL_<property>=value sets a KCL property).
#
# One container per variant, mode and repeat, interleaved (repeat 1 of every variant, then repeat 2, ...),
# each on a fresh 2-shard stream with its leases seeded (as after a deployment), through four workloads:
#   cold   --backlog records put before the start; from the container's start until all are logged
#          (so it includes the JVM's start and its JIT warming up); also the first record's time
#   warm   another --backlog records, put while it runs; from the first put until all are logged
#   rate   records put as fast as the emulator takes them (PutRecords of 500) for --rate-seconds; CPU
#          per record over the window from 5 s after the start to the end of the puts
#   idle   nothing put for --idle-seconds once everything is logged: CPU as a share of one core
# What is measured (bench/compare_sample.py samples /proc and the container's cgroup from the host):
# CPU per record of the whole container, of the JVM and of its children; wall time; the JVM's peak RSS
# (VmHWM) and the processors' RSS. The table (medians over the repeats, with min-max) and the ratios to
# the Python processor and to the plain Java application's best variant go to stdout and to
# bench/results/compare-<time>.md; the raw samples to .local/bench/compare/<time>/.
#
# Installs what it needs: the emulators (scripts/local-stack.sh install), the KCL jars
# (scripts/fetch-kcl-jars.sh), the image (tests/image/run.sh with IMAGE_BUILD_ONLY=1: podman, buildah,
# mmdebstrap from Debian), and a bench image on top of it with python3 and amazon_kclpy's Python package
# (COMPARE_KCLPY_VERSION, default below). Needs root (rootful podman). Emulator ports: COMPARE_KINESIS_PORT
# [34568], COMPARE_KINESIS_TLS_PORT [34567], COMPARE_DYNAMODB_PORT [34569]. COMPARE_IMAGE: use this image
# instead of building one. Stops everything it started. Exits non-zero if a consumer did not log every
# record put within 300 s of a workload's end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VARIANTS="ours:image ours:defaults python:image java:image java:defaults"
MODES="FANOUT POLLING"
REPEATS=2
# 20,000 and 30 s, as every published run: with 40,000 and 60 s the records put were not all logged 300 s
# after the rate's end (254,178 of 335,500 on 2026-12-08; why was not looked into), so rows came out partial.
BACKLOG=20000
RATE_SECONDS=30
IDLE_SECONDS=30
SHARDS=2
SMOKE=0
TASK_CPUS=1
TASK_MEM=2g
while (($# > 0)); do
  case "$1" in
    --variants) VARIANTS="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --backlog) BACKLOG="$2"; shift 2 ;;
    --rate-seconds) RATE_SECONDS="$2"; shift 2 ;;
    --idle-seconds) IDLE_SECONDS="$2"; shift 2 ;;
    --shards) SHARDS="$2"; shift 2 ;;
    --task-cpus) TASK_CPUS="$2"; shift 2 ;;
    --task-mem) TASK_MEM="$2"; shift 2 ;;
    --smoke) VARIANTS="ours:image python:image java:image" MODES=FANOUT REPEATS=1 BACKLOG=2000 RATE_SECONDS=12 IDLE_SECONDS=5 SMOKE=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
KCLPY_VERSION="${COMPARE_KCLPY_VERSION:-3.2.0}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
STATE="$ROOT/.local/bench/compare"
WORK="$STATE/$STAMP"
RESULTS="$ROOT/bench/results"
((SMOKE == 0)) || RESULTS="$WORK" # a smoke run's report is not a result; the checkout stays as it was
export LOCAL_STACK_HOME="${LOCAL_STACK_HOME:-$ROOT/.local}"
# shellcheck source=scripts/lib/emulators.sh
source "$ROOT/scripts/lib/emulators.sh"
use_local_emulators "${COMPARE_KINESIS_PORT:-34568}" "${COMPARE_KINESIS_TLS_PORT:-34567}" "${COMPARE_DYNAMODB_PORT:-34569}" "$WORK/stack"
STACK="$ROOT/scripts/local-stack.sh"
PY="$LOCAL_STACK_HOME/venv/bin/python"
BENCH_IMAGE="localhost/kcl-multilang-compare:$STAMP"
LOG_TAG=compare
# shellcheck source=scripts/lib/procs.sh
source "$ROOT/scripts/lib/procs.sh"

((EUID == 0)) || die "needs root (rootful podman, as tests/image/run.sh)"
mkdir -p "$WORK" "$RESULTS"
CONTAINERS=() SAMPLER_PID="" STACK_UP=0 BENCH_IMAGE_MADE=0 PARTIAL=()
cleanup() {
  local rc=$? name
  trap - EXIT INT TERM
  set +e
  [[ -z "$SAMPLER_PID" ]] || kill "$SAMPLER_PID" 2>/dev/null
  for name in "${CONTAINERS[@]}"; do podman rm -f -v -t 5 "$name" >/dev/null 2>&1; done
  ((BENCH_IMAGE_MADE == 0)) || podman rmi -f "$BENCH_IMAGE" >/dev/null 2>&1
  ((STACK_UP == 0)) || "$STACK" down >/dev/null 2>&1
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------ set-up
log "emulators and the KCL jars"
"$STACK" install >"$WORK/stack-install.log" 2>&1 || { tail -n 20 "$WORK/stack-install.log" >&2; die "local-stack.sh install failed"; }
bash "$ROOT/scripts/fetch-kcl-jars.sh" >"$WORK/jars.log" 2>&1 || { tail -n 20 "$WORK/jars.log" >&2; die "fetch-kcl-jars.sh failed"; }

# podman pointed at the image tests' storage, where tests/image/run.sh leaves the image
eval "$(IMAGE_PRINT_PODMAN_ENV=1 bash "$ROOT/tests/image/run.sh")"
export CONTAINERS_CONF CONTAINERS_STORAGE_CONF
IMAGE="${COMPARE_IMAGE:-}"
if [[ -z "$IMAGE" ]]; then
  log "building the image (tests/image/run.sh, IMAGE_BUILD_ONLY=1; cold: ~15 min)"
  IMAGE_ARCHES="$(dpkg --print-architecture)" IMAGE_BUILD_ONLY=1 bash "$ROOT/tests/image/run.sh" >"$WORK/image-build.log" 2>&1 \
    || { tail -n 30 "$WORK/image-build.log" >&2; die "the image did not build (see $WORK/image-build.log)"; }
  IMAGE="localhost/kcl-multilang:test-$(dpkg --print-architecture)"
fi
podman image exists "$IMAGE" || die "no image $IMAGE"
IMAGE_OPTS="$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | sed -n 's/^JAVA_OPTS=//p')"
[[ -n "$IMAGE_OPTS" ]] || die "the image $IMAGE sets no JAVA_OPTS"
JAVA_VERSION_LINE="$(podman run --rm --network none --no-healthcheck --entrypoint java "$IMAGE" -version 2>&1 | grep -m1 "Runtime Environment")"

# The bench image: the image itself plus what the other two consumers need.
CTX="$WORK/context"
mkdir -p "$CTX/classes"
javac --release 17 -nowarn -cp "$ROOT/jars/*" -d "$CTX/classes" "$ROOT/bench/java/src/kclbench/PlainKclApp.java"
jar --create --file "$CTX/plain-kcl-app.jar" -C "$CTX/classes" .
rm -rf "$CTX/classes"
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: -d "$WORK/sdist" \
  "amazon_kclpy==$KCLPY_VERSION" >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log" >&2; die "could not download amazon_kclpy $KCLPY_VERSION"; }
tar -xzf "$WORK/sdist/amazon_kclpy-$KCLPY_VERSION.tar.gz" -C "$WORK/sdist"
# The Python package only: the processor needs no jars (those are the daemon's, from the image).
cp -r "$WORK/sdist/amazon_kclpy-$KCLPY_VERSION/amazon_kclpy" "$CTX/amazon_kclpy"
rm -rf "$CTX/amazon_kclpy/jars"
cp "$ROOT/bench/python_processor.py" "$CTX/"
cat >"$CTX/Containerfile" <<EOF
FROM $IMAGE
USER root
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
COPY amazon_kclpy /bench/python/amazon_kclpy
COPY python_processor.py plain-kcl-app.jar /bench/
USER 10001:10001
EOF
log "building the bench image on $IMAGE (python3, amazon_kclpy $KCLPY_VERSION, the plain Java application)"
podman build --network host --format docker -t "$BENCH_IMAGE" "$CTX" >"$WORK/bench-image.log" 2>&1 \
  || { tail -n 20 "$WORK/bench-image.log" >&2; die "the bench image did not build"; }
BENCH_IMAGE_MADE=1
PYTHON_VERSION="$(podman run --rm --network none --no-healthcheck --entrypoint python3 "$BENCH_IMAGE" --version 2>&1 | grep -m1 "^Python")"

"$STACK" up >"$WORK/stack-up.log" 2>&1 || { tail -n 20 "$WORK/stack-up.log" >&2; die "local-stack.sh up failed"; }
STACK_UP=1

java_opts() { # java_opts NAME
  case "$1" in
    image) printf '%s' "$IMAGE_OPTS" ;;
    defaults) printf '%s' "-Djava.io.tmpdir=/app/run" ;;
    c2) printf '%s' "${IMAGE_OPTS//-XX:TieredStopAtLevel=1/}" | tr -s ' ' ;;
    *)
      local var="COMPARE_OPTS_$1"
      [[ -n "${!var:-}" ]] || die "variant options '$1': set $var (or use image, defaults, c2)"
      printf '%s' "-Djava.io.tmpdir=/app/run ${!var}"
      ;;
  esac
}
for v in $VARIANTS; do
  [[ "$v" =~ ^(ours|python|java):[A-Za-z0-9_]+$ ]] || die "variant '$v': want ours|python|java:OPTIONS"
  # Assigned first: a variant without its COMPARE_OPTS_<NAME> stops the run here (java_opts dies in
  # the command substitution's subshell, which only an assignment passes on to set -e).
  v_opts="$(java_opts "${v#*:}")"
  log "variant $v: JAVA_OPTS=$v_opts"
done

aws() { "$PY" "$ROOT/scripts/local_aws.py" "$@"; }
load() { "$PY" "$ROOT/bench/compare_load.py" "$@"; }
json_field() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
records_now() { tail -n 1 "$1" 2>/dev/null | "$PY" -c 'import json,sys; l=sys.stdin.read().strip(); print(json.loads(l)["records"] if l else 0)'; }
wait_records() { # wait_records SAMPLES N TIMEOUT_S: until N records are logged
  local i
  for ((i = 0; i < $3 * 2; i++)); do
    (($(records_now "$1") >= $2)) && return 0
    sleep 0.5
  done
  return 1
}
mark() { printf '{"phase": "%s", "edge": "%s", "t": %s}\n' "$2" "$3" "$(date +%s.%N)" >>"$1"; }

# run_one VARIANT MODE REPEAT: one container through the four workloads; its results in WORK/NAME/
run_one() {
  local variant="$1" mode="$2" rep="$3" consumer opts name dir pid cmd=() put=0 out
  consumer="${variant%%:*}"
  opts="$(java_opts "${variant#*:}")"
  name="cmp-${consumer}-${variant#*:}-${mode,,}-$rep-$STAMP"
  name="${name//_/-}"
  dir="$WORK/$name"
  mkdir -p "$dir/logs"
  chown 10001:10001 "$dir/logs"
  aws create-stream "$name" "$SHARDS" >/dev/null
  aws seed-leases "$name" "$name" >/dev/null
  out="$(load --stream "$name" --count "$BACKLOG")"
  put=$((put + $(json_field put <<<"$out")))
  local env=(--env REGION=us-east-1 --env STREAM_NAME="$name" --env APPLICATION_NAME="$name"
    --env AWS_ACCESS_KEY_ID=local --env AWS_SECRET_ACCESS_KEY=local --env AWS_REGION=us-east-1
    --env KCL_kinesisEndpoint="$KINESIS_ENDPOINT" --env KCL_dynamoDBEndpoint="$DYNAMODB_ENDPOINT"
    --env KCL_metricsLevel=NONE --env KCL_retrievalMode="$mode" --env KCL_workerId="$name"
    --env JAVA_OPTS="$opts")
  local extra_env=() var="COMPARE_ENV_${variant#*:}" kv
  for kv in ${!var:-}; do extra_env+=("$kv"); env+=(--env "$kv"); done
  case "$consumer" in
    ours) ;;
    python)
      env+=(--env PYTHONPATH=/bench/python --env PYTHONDONTWRITEBYTECODE=1
        --env "KCL_executableName=/usr/bin/python3 /bench/python_processor.py --log-file /app/logs/record_processor.log --log-max-bytes 0")
      ;;
    java)
      # shellcheck disable=SC2016 # expanded in the container
      cmd=(--entrypoint bash "$BENCH_IMAGE" -c '/app/set_properties.sh && read -r -a o <<<"$JAVA_OPTS" &&
        exec java "${o[@]}" -Dfile.encoding=UTF-8 -cp "/app/jars/*:/bench/plain-kcl-app.jar" kclbench.PlainKclApp \
          "$PROPERTIES_FILE" /app/logs/record_processor.log')
      ;;
  esac
  ((${#cmd[@]} > 0)) || cmd=("$BENCH_IMAGE")
  CONTAINERS+=("$name")
  mark "$dir/phases.jsonl" cold start
  podman run -d --name "$name" --read-only --read-only-tmpfs=false --network host --no-healthcheck \
    --cpus "$TASK_CPUS" --memory "$TASK_MEM" --stop-timeout 35 -v "$dir/logs:/app/logs" "${env[@]}" "${cmd[@]}" >/dev/null
  pid="$(podman inspect --format '{{.State.Pid}}' "$name")"
  "$PY" "$ROOT/bench/compare_sample.py" --pid "$pid" --log-dir "$dir/logs" --out "$dir/samples.jsonl" &
  SAMPLER_PID=$!
  local ok=1
  if wait_records "$dir/samples.jsonl" "$put" 300; then
    mark "$dir/phases.jsonl" cold end
    mark "$dir/phases.jsonl" warm start
    out="$(load --stream "$name" --count "$BACKLOG")"
    put=$((put + $(json_field put <<<"$out")))
    if wait_records "$dir/samples.jsonl" "$put" 300; then
      mark "$dir/phases.jsonl" warm end
      mark "$dir/phases.jsonl" rate start
      out="$(load --stream "$name" --seconds "$RATE_SECONDS")"
      mark "$dir/phases.jsonl" rate end
      put=$((put + $(json_field put <<<"$out")))
      printf '%s\n' "$out" >"$dir/rate-load.json"
      if wait_records "$dir/samples.jsonl" "$put" 300; then
        sleep 5
        mark "$dir/phases.jsonl" idle start
        sleep "$IDLE_SECONDS"
        mark "$dir/phases.jsonl" idle end
      else ok=0; fi
    else ok=0; fi
  else ok=0; fi
  if ((ok == 0)); then
    log "$name: not every record was logged in time ($(records_now "$dir/samples.jsonl") of $put): its row is partial"
    PARTIAL+=("$name")
  fi
  podman stop -t 35 "$name" >/dev/null 2>&1 || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
  podman logs "$name" >"$dir/stdout.log" 2>&1 || true
  podman rm -f -v "$name" >/dev/null 2>&1 || true
  "$PY" - "$variant" "$mode" "$rep" "$opts" "${extra_env[*]}" "$put" "$BACKLOG" "$name" >"$dir/run.json" <<'PYEOF'
import json, sys
v, m, r, o, e, p, b, n = sys.argv[1:]
print(json.dumps({"variant": v, "mode": m, "repeat": int(r), "java_opts": o, "extra_env": e, "put": int(p),
                  "backlog": int(b), "name": n}))
PYEOF
  log "$name: $("$PY" "$ROOT/bench/compare_report.py" --one "$dir")"
}

log "image $IMAGE ($JAVA_VERSION_LINE); $PYTHON_VERSION; task: --cpus $TASK_CPUS --memory $TASK_MEM; $SHARDS shards; backlog $BACKLOG; rate ${RATE_SECONDS}s; idle ${IDLE_SECONDS}s"
for ((rep = 1; rep <= REPEATS; rep++)); do
  for mode in $MODES; do
    for v in $VARIANTS; do run_one "$v" "$mode" "$rep"; done
  done
done
REPORT="$RESULTS/compare-$STAMP.md"
{
  echo "bench/compare.sh, $(date -u +%Y-%m-%d) ($STAMP): image $IMAGE, $JAVA_VERSION_LINE, KCL $(sed -n 's/^kcl_version=//p' "$ROOT/jars/.kcl-jars"), $PYTHON_VERSION with amazon_kclpy $KCLPY_VERSION; task --cpus $TASK_CPUS --memory $TASK_MEM; $SHARDS shards, 200-byte records; backlog $BACKLOG, rate ${RATE_SECONDS}s, idle ${IDLE_SECONDS}s; $REPEATS repeats; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
  echo
  "$PY" "$ROOT/bench/compare_report.py" "$WORK"
} | tee "$REPORT"
log "report: $REPORT; raw samples: $WORK"
if ((${#PARTIAL[@]} > 0)); then
  die "${#PARTIAL[@]} run(s) did not log every record put: ${PARTIAL[*]} (their containers' output: $WORK/<name>/stdout.log)"
fi
