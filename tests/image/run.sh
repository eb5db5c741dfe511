#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called through trap / check
# tests/image/run.sh -- build the project's Dockerfile, unchanged, and run the image as ECS runs it.
#
#   1. tools: buildah, podman, mmdebstrap, qemu-user-static (apt-get, if missing); no daemon, no registry
#   2. the base: the Debian release the Dockerfile's DEBIAN_IMAGE names, made with mmdebstrap from Debian's
#      archive for each architecture (cached under .local/image/base for IMAGE_BASE_MAX_AGE_DAYS), and
#      the builder: that release's own buildah, in a container of that base (privileged, its storage in
#      .local/image/builder-storage), where the bases are one manifest list under DEBIAN_IMAGE's name
#   3. the image for this machine's architecture: buildah build --format docker --layers (the docker
#      format keeps the HEALTHCHECK), loaded into podman; its size as stored and compressed as pushed,
#      its layers; its class-data-sharing archive (/app/cds/daemon.jsa) mapped by its JVM (-Xshare:on)
#   4. the image run as deploy/consumer.yaml's task definition runs it, against kinesis-mock and moto on the
#      host (--network host): read-only root (no tmpfs either), the image's own user, the task's
#      environment, /app/logs a volume owned as ECS copies it, /app/run the image's anonymous volume:
#      - every record put (text, JSON, unicode, control characters, non-UTF-8, 1 MB, KPL aggregates)
#        is in the container's log stream (podman logs, what awslogs sends) and in /app/logs, whole, once
#      - `record_processor health` through podman exec: exit 0, the daemon running, every shard ok
#      - the daemon started with -XX:SharedArchiveFile=/app/cds/daemon.jsa and no CDS warning
#      - podman stop -t <the task's stopTimeout>: a graceful shutdown within it, the exit status
#        docs/container.md states (143), no process of the container left, every lease checkpointed at
#        its shard's last record
#      - a second container on the same lease table starts at those checkpoints and re-delivers nothing
#   5. the image for the other architecture (arm64 on an amd64 machine): the same Dockerfile, the Rust
#      binary cross-compiled on this machine, the runtime stage under qemu (binfmt_misc); then, under
#      qemu, java -version, its CDS archive (-Xshare:on), record_processor --version and a short protocol
#      session into the binary.
#      SKIPPED, with the reason, only where binfmt_misc or qemu cannot be had.
# Each step's wall time is printed; the last line is "N passed, M failed" (exit status 1 if any failed).
#
# Environment: IMAGE_HOME [<repo>/.local/image] (bases, podman's storage, work directories; delete it to
#   start cold), IMAGE_ARCHES ["amd64 arm64"], IMAGE_BASE_MAX_AGE_DAYS [7], IMAGE_BUILD_CA [the host's
#   /etc/ssl/certs/ca-certificates.crt, if any]: the Dockerfile's build secret "ca" (trusted by the build
#   stages only), IMAGE_KINESIS_PORT [24568], IMAGE_KINESIS_TLS_PORT [24567], IMAGE_DYNAMODB_PORT [24569],
#   IMAGE_KEEP=1 (keep the work directory and the containers' logs), IMAGE_DEBIAN_MIRROR
#   [http://deb.debian.org], IMAGE_BUILDER_MAX_GB [12] (the builder's layer cache is emptied above it),
#   LOCAL_STACK_HOME [<repo>/.local], IMAGE_BUILD_ONLY=1 (stop after step 3, the host architecture's image
#   built and loaded; bench/compare.sh uses it), IMAGE_PRINT_PODMAN_ENV=1 (print the CONTAINERS_CONF and
#   CONTAINERS_STORAGE_CONF lines that point podman at IMAGE_HOME's storage, and exit).
# Needs root (rootful podman, apt-get, binfmt_misc).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export LOCAL_STACK_HOME="${LOCAL_STACK_HOME:-$REPO/.local}"
IMAGE_HOME="${IMAGE_HOME:-$REPO/.local/image}"
ARCHES="${IMAGE_ARCHES:-amd64 arm64}"
BASE_MAX_AGE_DAYS="${IMAGE_BASE_MAX_AGE_DAYS:-7}"
LOG_TAG=image
# shellcheck source=../../scripts/lib/procs.sh
source "$REPO/scripts/lib/procs.sh"
# shellcheck source=../../scripts/lib/checks.sh
source "$REPO/scripts/lib/checks.sh"

STACK="$REPO/scripts/local-stack.sh"
CHECK="$REPO/tests/e2e/e2e_check.py"
PY="$LOCAL_STACK_HOME/venv/bin/python"
SUITE_ID="$(date +%Y%m%d-%H%M%S)"
WORK="$IMAGE_HOME/work/$SUITE_ID"
IMAGE=localhost/kcl-multilang
# shellcheck source=../../scripts/lib/emulators.sh
source "$REPO/scripts/lib/emulators.sh"
use_local_emulators "${IMAGE_KINESIS_PORT:-24568}" "${IMAGE_KINESIS_TLS_PORT:-24567}" "${IMAGE_DYNAMODB_PORT:-24569}" "$WORK/stack"
T0="$(date +%s)"

CONTAINERS=() TIMES=()
skipped() { printf 'SKIPPED: %s\n' "$*"; log "SKIPPED: $*"; }
timed() { # timed LABEL CMD...: run CMD, remember how long it took
  local label="$1" t rc=0
  shift
  t="$(date +%s)"
  "$@" || rc=$?
  TIMES+=("$(printf '%-44s %4ss' "$label" "$(secs_since "$t")")")
  log "$label: $(secs_since "$t")s"
  return "$rc"
}
wait_until() { # wait_until SECONDS CMD...: poll CMD every 0.5 s
  local t="$1" i
  shift
  for ((i = 0; i < t * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

cleanup() {
  local rc=$? name
  trap - EXIT INT TERM
  set +e
  if [[ -z "${SUMMARY_PRINTED:-}" ]]; then
    log "the test script stopped early (status $rc)"
    echo "$PASS passed, $((FAIL + 1)) failed"
    ((rc != 0)) || rc=1
  fi
  for name in "${CONTAINERS[@]}"; do
    if [[ "${IMAGE_KEEP:-0}" == 1 ]]; then podman logs "$name" >"$WORK/$name.podman-logs" 2>&1; fi
    podman rm -f -v -t 5 "$name" >/dev/null 2>&1
  done
  [[ ! -x "$STACK" || ! -d "$WORK/stack" ]] || "$STACK" down >/dev/null 2>&1
  if [[ "${IMAGE_KEEP:-0}" != 1 && $FAIL -eq 0 && $rc -eq 0 ]]; then rm -rf -- "$WORK"; else log "work directory kept: $WORK"; fi
  exit "$rc"
}
mkdir -p "$WORK"
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------ 1. tools
(( EUID == 0 )) || die "needs root: rootful podman/buildah, apt-get and binfmt_misc"
PACKAGES=(buildah podman runc uidmap slirp4netns fuse-overlayfs containernetworking-plugins
  golang-github-containers-common mmdebstrap arch-test qemu-user-static binfmt-support)
install_tools() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  (( ${#missing[@]} == 0 )) && return 0
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$WORK/apt.log" 2>&1 \
    || { tail -n 20 "$WORK/apt.log" >&2; die "apt-get could not install ${missing[*]}"; }
}
timed "tools (apt-get, if missing)" install_tools

# podman's settings and storage of its own, under IMAGE_HOME: the machine's default storage stays
# untouched, and deleting IMAGE_HOME starts cold. Two settings this kind of VM needs: the hard limit of
# open files cannot be raised (podman's default asks for more), and the kernel's hybrid cgroups, which
# crun refuses and runc accepts.
CONF="$IMAGE_HOME/conf"
mkdir -p "$CONF" "$IMAGE_HOME/storage"
RUNROOT="/run/kcl-multilang-image/$(printf '%s' "$IMAGE_HOME" | cksum | cut -d' ' -f1)"
nofile="$(ulimit -Hn)"
[[ "$nofile" =~ ^[0-9]+$ ]] || nofile=65536
cat >"$CONF/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
cat >"$CONF/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$IMAGE_HOME/storage"
runroot = "$RUNROOT"
EOF
export CONTAINERS_CONF="$CONF/containers.conf" CONTAINERS_STORAGE_CONF="$CONF/storage.conf"
if [[ "${IMAGE_PRINT_PODMAN_ENV:-0}" == 1 ]]; then
  printf 'CONTAINERS_CONF=%q\nCONTAINERS_STORAGE_CONF=%q\n' "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF"
  SUMMARY_PRINTED=1
  exit 0
fi
log "buildah $(buildah --version | awk '{print $3}'), podman $(podman --version | awk '{print $3}'), storage $IMAGE_HOME/storage"

HOST_ARCH="$(dpkg --print-architecture)"
FOREIGN=()
for arch in $ARCHES; do [[ "$arch" == "$HOST_ARCH" ]] || FOREIGN+=("$arch"); done

# binfmt_misc with qemu for each foreign architecture: mmdebstrap and the runtime stage's RUN steps need
# it. Only an architecture that gets it is built.
QEMU_ARCHES=()
qemu_name() { case "$1" in arm64) echo aarch64 ;; amd64) echo x86_64 ;; *) echo "$1" ;; esac; }
for arch in "${FOREIGN[@]}"; do
  q="$(qemu_name "$arch")"
  if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>"$WORK/binfmt.err" || true
  fi
  if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
    skipped "$arch: binfmt_misc cannot be mounted here ($(tr '\n' ' ' <"$WORK/binfmt.err" 2>/dev/null)): no $arch image"
    continue
  fi
  if [[ ! -e "/proc/sys/fs/binfmt_misc/qemu-$q" ]] && command -v update-binfmts >/dev/null; then
    update-binfmts --enable "qemu-$q" >/dev/null 2>&1 || true
  fi
  if [[ "$(head -n1 "/proc/sys/fs/binfmt_misc/qemu-$q" 2>/dev/null)" != enabled ]]; then
    skipped "$arch: qemu-$q is not registered with binfmt_misc (update-binfmts --enable qemu-$q failed): no $arch image"
    continue
  fi
  QEMU_ARCHES+=("$arch")
done

# ------------------------------------------------------------------ 2. the base
# The image the Dockerfile names by default (ARG DEBIAN_IMAGE=debian:<suite>-slim).
DEBIAN_IMAGE="$(sed -n 's/^ARG DEBIAN_IMAGE=//p' "$REPO/Dockerfile")"
[[ "$DEBIAN_IMAGE" =~ ^debian:([a-z]+)-slim$ ]] \
  || die "the Dockerfile's ARG DEBIAN_IMAGE is '$DEBIAN_IMAGE', not debian:<suite>-slim: cannot make it from Debian's archive"
SUITE="${BASH_REMATCH[1]}"
BASE_NAME="docker.io/library/$DEBIAN_IMAGE"
BASE_DIR="$IMAGE_HOME/base"
mkdir -p "$BASE_DIR"
MIRROR="${IMAGE_DEBIAN_MIRROR:-http://deb.debian.org}"
# As Debian's own slim images: minbase, no manuals, documentation or translations.
make_base_tar() { # make_base_tar ARCH TAR
  mmdebstrap --quiet --variant=minbase --arch="$1" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --aptopt='Acquire::Retries "3"' --format=tar \
    "$SUITE" "$2.tmp" \
    "deb $MIRROR/debian $SUITE main" "deb $MIRROR/debian $SUITE-updates main" \
    "deb $MIRROR/debian-security $SUITE-security main" >"$WORK/mmdebstrap-$1.log" 2>&1 \
    || { tail -n 20 "$WORK/mmdebstrap-$1.log" >&2; rm -rf -- "$2.tmp"; return 1; }
  mv -f -- "$2.tmp" "$2"
}
base_image() { echo "localhost/kcl-multilang-base:$SUITE-$1"; }
prepare_base() { # prepare_base ARCH: the tar (made if missing or old) and its image (imported if new)
  local arch="$1" tar="$BASE_DIR/debian-$SUITE-$1.tar" stamp="$BASE_DIR/debian-$SUITE-$1.imported"
  if [[ ! -f "$tar" ]] || [[ -n "$(find "$tar" -mtime "+$BASE_MAX_AGE_DAYS" 2>/dev/null)" ]]; then
    log "making the $SUITE base for $arch with mmdebstrap (from $MIRROR)"
    timed "base: mmdebstrap $SUITE $arch" make_base_tar "$arch" "$tar" || return 1
  fi
  if [[ ! -f "$stamp" || "$tar" -nt "$stamp" ]] || ! podman image exists "$(base_image "$arch")"; then
    timed "base: podman import $arch" podman import --quiet --arch "$arch" --change 'CMD ["bash"]' \
      "$tar" "$(base_image "$arch")" >/dev/null || return 1
    touch "$stamp"
  fi
}
prepare_base "$HOST_ARCH" || die "could not make the Debian $SUITE base for $HOST_ARCH (see above)"
BUILD_ARCHES=("$HOST_ARCH")
for arch in "${QEMU_ARCHES[@]}"; do
  if prepare_base "$arch"; then BUILD_ARCHES+=("$arch"); else fail_now "the Debian $SUITE base for $arch (mmdebstrap under qemu)"; fi
done
QEMU_ARCHES=("${BUILD_ARCHES[@]:1}")
log "base $BASE_NAME: Debian $SUITE ($(podman run --rm --network none "$(base_image "$HOST_ARCH")" cat /etc/debian_version)), for ${BUILD_ARCHES[*]}"

# ------------------------------------------------------------------ 3. the image
# The builder: Debian's buildah of the same release, in a container of that base. The machine's own
# buildah may be older: Debian 12's (1.28) resolves a FROM --platform=$BUILDPLATFORM stage for the
# target platform too, so an arm64 build would compile Rust under emulation.
BUILDER=localhost/kcl-multilang-builder:$SUITE
BUILDER_STORAGE="$IMAGE_HOME/builder-storage"
OUT="$IMAGE_HOME/out"
mkdir -p "$BUILDER_STORAGE" "$OUT"
make_builder() {
  mkdir -p "$WORK/builder-context"
  buildah build --pull=never --network host --layers --build-arg BASE="$(base_image "$HOST_ARCH")" \
    -f "$REPO/tests/image/builder.Containerfile" -t "$BUILDER" "$WORK/builder-context" \
    >"$WORK/builder.log" 2>&1 || { tail -n 20 "$WORK/builder.log" >&2; return 1; }
}
timed "builder: buildah of Debian $SUITE in a container" make_builder || die "could not make the builder image"
# The bases go into the builder's storage as they are in podman's: saved once per import.
for arch in "${BUILD_ARCHES[@]}"; do
  saved="$BASE_DIR/debian-$SUITE-$arch.image.tar"
  if [[ ! -f "$saved" || "$BASE_DIR/debian-$SUITE-$arch.imported" -nt "$saved" ]]; then
    rm -f -- "$saved"
    podman save --quiet --format docker-archive -o "$saved" "$(base_image "$arch")" || die "could not save the $arch base"
  fi
done

BUILD_CA="${IMAGE_BUILD_CA-/etc/ssl/certs/ca-certificates.crt}"
ca_mount=() secret=()
if [[ -n "$BUILD_CA" && -s "$BUILD_CA" ]]; then
  ca_mount=(-v "$BUILD_CA:/run/build-ca.pem:ro")
  secret=(--secret "id=ca,src=/run/build-ca.pem")
fi
# build_image ARCH: the Dockerfile, unchanged, for linux/ARCH, by the builder; then loaded into podman's
# storage as localhost/kcl-multilang:test-ARCH (docker-archive keeps the docker format's HEALTHCHECK).
build_image() {
  local arch="$1" script
  # shellcheck disable=SC2016 # expanded by the builder's shell
  script='set -euo pipefail
    for a in '"${BUILD_ARCHES[*]}"'; do buildah pull -q "docker-archive:/base/debian-'"$SUITE"'-$a.image.tar" >/dev/null; done
    buildah manifest rm "'"$BASE_NAME"'" >/dev/null 2>&1 || true
    buildah manifest create "'"$BASE_NAME"'" >/dev/null
    for a in '"${BUILD_ARCHES[*]}"'; do
      buildah manifest add "'"$BASE_NAME"'" "containers-storage:localhost/kcl-multilang-base:'"$SUITE"'-$a" >/dev/null
    done
    buildah build --pull=never --network host --format docker --layers --jobs 2 --platform "linux/$1" "${@:2}" \
      -t "'"$IMAGE"':test-$1" /src
    rm -f "/out/$1.tar"
    buildah push -q "'"$IMAGE"':test-$1" "docker-archive:/out/$1.tar:'"$IMAGE"':test-$1"'
  # Named and listed, so that an interrupted run removes it too.
  CONTAINERS+=("kcl-image-builder-$SUITE_ID-$arch")
  podman run --rm --name "kcl-image-builder-$SUITE_ID-$arch" --privileged --network host --no-healthcheck \
    -v "$BUILDER_STORAGE:/var/lib/containers/storage" -v "$CONF/containers.conf:/etc/containers/containers.conf:ro" \
    -v "$BASE_DIR:/base:ro" -v "$REPO:/src:ro" -v "$OUT:/out" "${ca_mount[@]}" \
    "$BUILDER" bash -c "$script" build "$arch" "${secret[@]}" >"$WORK/build-$arch.log" 2>&1 \
    || { tail -n 40 "$WORK/build-$arch.log" >&2; return 1; }
  podman load -q -i "$OUT/$arch.tar" >/dev/null && rm -f -- "$OUT/$arch.tar"
}
human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }
report_image() { # report_image ARCH: size stored and compressed, layers
  local ref="$IMAGE:test-$1" stored gz
  stored="$(podman image inspect --format '{{.Size}}' "$ref")"
  gz="$(podman save --format docker-archive "$ref" 2>/dev/null | gzip -c | wc -c)"
  printf 'image %s (linux/%s): %s bytes stored (%s), %s bytes compressed as pushed (gzip; %s)\n' \
    "$ref" "$1" "$stored" "$(human "$stored")" "$gz" "$(human "$gz")"
  printf 'layers (podman history, newest first):\n'
  podman history --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$ref" | cut -c1-160 | sed 's/^/  /'
}

if ! timed "build: $HOST_ARCH image (buildah build)" build_image "$HOST_ARCH"; then
  fail_now "the Dockerfile builds for linux/$HOST_ARCH"
  die "no image to run"
fi
PASS=$((PASS + 1))
log "PASS: the Dockerfile builds for linux/$HOST_ARCH"
report_image "$HOST_ARCH" | tee "$WORK/report-$HOST_ARCH.txt"
check "the image keeps its HEALTHCHECK (docker format): record_processor health" \
  bash -c "podman image inspect --format '{{json .Config.Healthcheck}}' '$IMAGE:test-$HOST_ARCH' | grep -F '/app/bin/record_processor'"
# -Xshare:on: the JVM refuses to start unless it can map the archive (recorded for this JVM, these jars).
check "the class-data-sharing archive fits the image's JVM and classpath (java -Xshare:on)" \
  podman run --rm --network none --no-healthcheck --entrypoint java "$IMAGE:test-$HOST_ARCH" \
    -Xshare:on -XX:SharedArchiveFile=/app/cds/daemon.jsa -cp '/app/jars/*' -version

if [[ "${IMAGE_BUILD_ONLY:-0}" == 1 ]]; then
  log "IMAGE_BUILD_ONLY=1: $IMAGE:test-$HOST_ARCH built; nothing run"
  SUMMARY_PRINTED=1
  echo "$PASS passed, $FAIL failed"
  [[ $FAIL -eq 0 ]]
  exit
fi

# ------------------------------------------------------------------ 4. the image as ECS runs it
# What the task definition sets, from the template itself (tests/image/task.py; PyYAML from the host,
# else from the deploy tests' virtual environment, made the way tests/deploy/run.sh makes it).
requirements="$REPO/tests/deploy/requirements.txt"
deploy_venv="${XDG_CACHE_HOME:-$HOME/.cache}/kcl-multilang/deploy-venv-$(cksum <"$requirements" | cut -d' ' -f1)"
TASK_PY="$deploy_venv/bin/python"
if python3 -c 'import yaml' 2>/dev/null; then
  TASK_PY=python3
elif [[ ! -x "$deploy_venv/bin/python" ]] || ! "$deploy_venv/bin/python" -c 'import yaml' 2>/dev/null; then
  log "making the deploy tests' virtual environment $deploy_venv"
  rm -rf -- "$deploy_venv"
  mkdir -p -- "$(dirname "$deploy_venv")"
  { python3 -m venv "$deploy_venv" && "$deploy_venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"; } \
    >"$WORK/deploy-venv.log" 2>&1 || { cat "$WORK/deploy-venv.log" >&2; die "could not install $requirements"; }
fi
PYTHONDONTWRITEBYTECODE=1 "$TASK_PY" "$REPO/tests/image/task.py" >"$WORK/task.txt" \
  || die "could not read the task definition (tests/image/task.py)"
STOP_TIMEOUT="$(sed -n 's/^stop_timeout=//p' "$WORK/task.txt")"
TASK_USER="$(sed -n 's/^user=//p' "$WORK/task.txt")"
[[ "$(sed -n 's/^readonly_root=//p' "$WORK/task.txt")" == true ]] \
  || log "note: the task definition does not set ReadonlyRootFilesystem; the test runs read-only all the same"
TASK_ENV=()
while IFS= read -r line; do
  case "$line" in
    env\ REGION=* | env\ STREAM_NAME=* | env\ APPLICATION_NAME=*) ;; # the emulators' region and stream
    env\ *) TASK_ENV+=(--env "${line#env }") ;;
  esac
done <"$WORK/task.txt"
log "task definition: stopTimeout ${STOP_TIMEOUT}s, user $TASK_USER, environment: $(grep '^env ' "$WORK/task.txt" | cut -c5- | tr '\n' ' ')"

timed "emulators: local-stack.sh install" "$STACK" install >"$WORK/stack-install.log" 2>&1 \
  || { tail -n 20 "$WORK/stack-install.log" >&2; die "scripts/local-stack.sh install failed"; }
timed "emulators: up" "$STACK" up >"$WORK/stack-up.log" 2>&1 \
  || { tail -n 20 "$WORK/stack-up.log" >&2; die "scripts/local-stack.sh up failed"; }

aws() { "$PY" "$REPO/scripts/local_aws.py" "$@"; }
put() { # put STREAM RECORDS_FILE PREFIX [producer args]
  local stream="$1" out="$2" prefix="$3"
  shift 3
  "$PY" "$REPO/scripts/producer.py" --stream "$stream" --prefix "$prefix" --records-out "$out" "$@" 2>>"$WORK/producer.log"
}
delivered() { "$PY" "$CHECK" delivered "$@"; }

STREAM="image-$SUITE_ID"
aws create-stream "$STREAM" 2 >/dev/null
# Leases made in advance skip the KCL's cold-start waits; the daemon still takes them itself.
aws seed-leases "$STREAM" "$STREAM" >/dev/null
put "$STREAM" "$WORK/A.jsonl" A --mode all --count 2 --agg-records 5

# start_container NAME: the image as the task runs it; its /app/logs is WORK/NAME/logs
start_container() {
  local name="$1"
  mkdir -p "$WORK/$name/logs"
  # ECS copies the image's VOLUME (owned by the image's user) into the task's volume.
  chown "$TASK_USER" "$WORK/$name/logs"
  chmod 0755 "$WORK/$name/logs"
  CONTAINERS+=("$name")
  # --read-only-tmpfs=false: ECS's read-only root has no writable /tmp, /run or /var/tmp either.
  # --no-healthcheck: podman schedules health checks with systemd timers; the test runs the command.
  # One worker ID for both containers, as for a task restarted in place. With a new ID, KCL 3.1.3's
  # leader still counts the stopped worker for about a minute (its WorkerMetricStats are fresh),
  # rebalances a lease to it, and that handoff to a worker that is gone does not complete (seen here:
  # the lease stayed with the stopped worker for minutes).
  podman run -d --name "$name" --read-only --read-only-tmpfs=false --network host --no-healthcheck \
    --stop-timeout "$STOP_TIMEOUT" \
    -v "$WORK/$name/logs:/app/logs" \
    --env REGION=us-east-1 --env STREAM_NAME="$STREAM" --env APPLICATION_NAME="$STREAM" "${TASK_ENV[@]}" \
    --env AWS_ACCESS_KEY_ID=local --env AWS_SECRET_ACCESS_KEY=local --env AWS_REGION=us-east-1 \
    --env KCL_kinesisEndpoint="$KINESIS_ENDPOINT" --env KCL_dynamoDBEndpoint="$DYNAMODB_ENDPOINT" \
    --env KCL_metricsLevel=NONE --env KCL_shardSyncIntervalMillis=5000 \
    --env KCL_parentShardPollIntervalMillis=1000 --env KCL_leaseAssignmentIntervalMillis=2000 \
    --env KCL_workerId="image-test-$SUITE_ID" \
    "$IMAGE:test-$HOST_ARCH" >/dev/null
  log "started container $name"
}
container_log() { podman logs "$1" >"$WORK/$1/stdout.log" 2>&1; echo "$WORK/$1/stdout.log"; }
delivered_both() { # delivered_both NAME ARGS...: the check on /app/logs and on the container's log stream
  local name="$1" stdout
  shift
  stdout="$(container_log "$name")"
  echo "/app/logs/record_processor.log:"
  delivered "$@" --logs "$WORK/$name/logs/record_processor.log" || return 1
  echo "the container's log stream (podman logs):"
  delivered "$@" --logs "$stdout"
}
health_ok() { # health_ok NAME: exit 0, the daemon running, every shard ok
  local out rc=0 shard
  out="$(podman exec "$1" /app/bin/record_processor health)" || rc=$?
  echo "$out"
  [[ $rc -eq 0 ]] || { echo "exit status $rc"; return 1; }
  grep -q '^daemon: running (pid [0-9]*)$' <<<"$out" || { echo "no 'daemon: running' line"; return 1; }
  for shard in $(aws shards "$STREAM"); do
    grep -q "^$shard: ok: " <<<"$out" || { echo "no '$shard: ok' line"; return 1; }
  done
}
whoami_ok() { # the processes run as the image's user
  local ids
  ids="$(podman exec "$1" id)"
  echo "$ids"
  [[ "$ids" == "uid=${TASK_USER%%:*}("* ]]
}
STOP_EXIT="" STOP_SECS=""
stop_container() { # stop_container NAME: podman stop -t stopTimeout; sets STOP_EXIT, STOP_SECS
  local t
  podman top "$1" hpid args >"$WORK/$1/top.txt" 2>&1 || true
  t="$(date +%s)"
  podman stop -t "$STOP_TIMEOUT" "$1" >/dev/null
  STOP_SECS="$(secs_since "$t")"
  STOP_EXIT="$(podman inspect --format '{{.State.ExitCode}}' "$1")"
}
nothing_left() { # nothing_left NAME: the container exited, and none of its processes runs
  local state pid left=0
  state="$(podman inspect --format '{{.State.Status}}' "$1")"
  echo "state: $state"
  [[ "$state" == exited ]] || return 1
  while read -r pid _; do
    if kill -0 "$pid" 2>/dev/null; then echo "still running: $(grep "^ *$pid " "$WORK/$1/top.txt")"; left=1; fi
  done < <(tail -n +2 "$WORK/$1/top.txt")
  echo "processes seen before the stop: $(($(wc -l <"$WORK/$1/top.txt") - 1))"
  return "$left"
}
shards_requested() { # every shard got shutdownRequested
  local n want
  n="$(grep -c 'shutdown requested for shard' "$1" || true)"
  want="$(aws shards "$STREAM" | wc -w)"
  echo "$n of $want shards"
  [[ "$n" -ge "$want" ]]
}

t_run="$(date +%s)"
c1=kcl-image-1-$SUITE_ID c2=kcl-image-2-$SUITE_ID
start_container "$c1"
if ! wait_until 150 delivered --quiet --records "$WORK/A.jsonl" --logs "$WORK/$c1/logs/record_processor.log"; then
  fail_now "the records put before the start reach /app/logs (timeout 150 s)"
  container_log "$c1" >/dev/null
  tail -n 30 "$WORK/$c1/stdout.log" >&2
else
  log "first records in /app/logs $(secs_since "$t_run")s after podman run"
fi
check "the container runs as the image's user ($TASK_USER)" whoami_ok "$c1"
check "podman exec $c1 record_processor health: exit 0, the daemon running, every shard ok" health_ok "$c1"
cds_in_use() { # cds_in_use NAME: the daemon was given the image's archive, and the JVM said nothing against it
  local args stdout
  args="$(podman top "$1" args | grep -F 'MultiLangDaemon' || true)"
  echo "daemon: $args"
  grep -qF -- '-XX:SharedArchiveFile=/app/cds/daemon.jsa' <<<"$args" || { echo "no -XX:SharedArchiveFile"; return 1; }
  stdout="$(container_log "$1")"
  if grep -F '[cds]' "$stdout"; then echo "the JVM's CDS messages above (an archive it could not use)"; return 1; fi
}
check "the daemon starts with the image's class-data-sharing archive (-XX:SharedArchiveFile=/app/cds/daemon.jsa), no CDS warning in the log stream" \
  cds_in_use "$c1"
put "$STREAM" "$WORK/B.jsonl" B --mode mix --count 3 --agg-records 4
wait_until 60 delivered --quiet --records "$WORK/A.jsonl" "$WORK/B.jsonl" --logs "$WORK/$c1/logs/record_processor.log" || true
sleep 1 # the follower copies the last lines to stdout
check "every record (text, JSON, unicode, control characters, non-UTF-8, 1 MB, KPL aggregates) is in /app/logs and in the container's log stream, whole, exactly once" \
  delivered_both "$c1" --exactly-once --records "$WORK/A.jsonl" "$WORK/B.jsonl"
# podman's own entries aside: it bind-mounts /etc/hosts, /etc/hostname and /etc/resolv.conf and adds
# /run/.containerenv, which makes /etc and /run show as changed.
root_untouched() {
  local out
  out="$(podman diff "$1" | grep -vxE '[ACD] /app/(logs|run)(/.*)?|C /etc|A /etc/(hosts|hostname|resolv\.conf)|C /run|A /run/\.containerenv' || true)"
  echo "${out:-no change outside /app/logs and /app/run}"
  [[ -z "$out" ]]
}
check "nothing was written to the read-only root (podman diff)" root_untouched "$c1"

stop_container "$c1"
check "podman stop -t $STOP_TIMEOUT (the task's stopTimeout): graceful, ${STOP_SECS}s, exit status $STOP_EXIT (143: the JVM after SIGTERM)" \
  test "$STOP_EXIT" = 143 -a "$STOP_SECS" -lt "$STOP_TIMEOUT"
check "after the stop no process of the container is left" nothing_left "$c1"
check "every shard got shutdownRequested" shards_requested "$WORK/$c1/logs/record_processor.log"
check "the container's log stream ends with the processors' last lines (shutdown requested)" \
  shards_requested "$(container_log "$c1")"
aws scan "$STREAM" >"$WORK/scan1.jsonl"
check "every lease holds the checkpoint of its shard's last record" \
  "$PY" "$CHECK" leases --scan "$WORK/scan1.jsonl" --records "$WORK/A.jsonl" "$WORK/B.jsonl"

start_container "$c2"
put "$STREAM" "$WORK/C.jsonl" C --mode text --count 4
if ! wait_until 150 delivered --quiet --records "$WORK/C.jsonl" --logs "$WORK/$c2/logs/record_processor.log"; then
  fail_now "a second container on the same lease table processes new records (timeout 150 s)"
fi
sleep 2
check "the second container starts at the checkpoints and re-delivers nothing" \
  delivered_both "$c2" --exactly-once --records "$WORK/C.jsonl" --forbid "$WORK/A.jsonl" "$WORK/B.jsonl"
check "the second container initialized each shard at the checkpoint the first one left" \
  "$PY" "$CHECK" initialized --scan "$WORK/scan1.jsonl" --logs "$WORK/$c2/logs/record_processor.log"
stop_container "$c2"
check "second container: podman stop -t $STOP_TIMEOUT: ${STOP_SECS}s, exit status $STOP_EXIT" \
  test "$STOP_EXIT" = 143 -a "$STOP_SECS" -lt "$STOP_TIMEOUT"
TIMES+=("$(printf '%-44s %4ss' "run: two containers, as the task runs them" "$(secs_since "$t_run")")")
"$STACK" down >/dev/null 2>&1 || true

# ------------------------------------------------------------------ 5. the other architectures, under qemu
# The session the daemon would have with a processor: one record, then a shutdown request (the
# processor checkpoints at its last record, the daemon answers), then the end of the lease.
session_input() {
  printf '%s\n' \
    '{"action":"initialize","shardId":"shardId-000000000000","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}' \
    "{\"action\":\"processRecords\",\"millisBehindLatest\":0,\"records\":[{\"action\":\"record\",\"data\":\"$(printf 'hello from %s' "$1" | base64 -w0)\",\"partitionKey\":\"pk\",\"sequenceNumber\":\"7\",\"subSequenceNumber\":0,\"approximateArrivalTimestamp\":1700000000123}]}" \
    '{"action":"shutdownRequested"}' \
    '{"action":"checkpoint","sequenceNumber":"7","subSequenceNumber":0,"error":null}' \
    '{"action":"leaseLost"}'
}
session_expected() {
  printf '%s\n' \
    '{"action":"status","responseFor":"initialize"}' \
    '{"action":"status","responseFor":"processRecords"}' \
    '{"action":"checkpoint","sequenceNumber":"7","subSequenceNumber":0}' \
    '{"action":"status","responseFor":"shutdownRequested"}' \
    '{"action":"status","responseFor":"leaseLost"}'
}
qemu_run() { # qemu_run ARCH ENTRYPOINT ARGS...: the ARCH image, its own user, no network
  local arch="$1" entry="$2"
  shift 2
  podman run --rm -i --network none --no-healthcheck --platform "linux/$arch" --entrypoint "$entry" \
    "$IMAGE:test-$arch" "$@"
}
protocol_session() { # protocol_session ARCH
  local out rc=0
  # The processor starts each message with a newline, as the protocol allows: blank lines do not count.
  out="$(session_input "$1" | qemu_run "$1" /app/bin/record_processor --log-file /app/logs/session.log)" || rc=$?
  out="$(grep -v '^$' <<<"$out" || true)"
  printf 'stdout:\n%s\nexit status %s\n' "$out" "$rc"
  [[ $rc -eq 0 && "$out" == "$(session_expected)" ]]
}
machine_is() { # machine_is ARCH: uname -m in the ARCH image
  local m
  m="$(qemu_run "$1" uname -m)"
  echo "uname -m: $m"
  [[ "$m" == "$(qemu_name "$1")" ]]
}
for arch in "${QEMU_ARCHES[@]}"; do
  if ! timed "build: $arch image (cross-compiled, runtime under qemu)" build_image "$arch"; then
    fail_now "the Dockerfile builds for linux/$arch"
    continue
  fi
  PASS=$((PASS + 1))
  log "PASS: the Dockerfile builds for linux/$arch"
  report_image "$arch" | tee "$WORK/report-$arch.txt"
  t="$(date +%s)"
  check "$arch image under qemu: the machine is $(qemu_name "$arch")" machine_is "$arch"
  check "$arch image under qemu: java -version" qemu_run "$arch" java -version
  check "$arch image under qemu: the class-data-sharing archive fits its JVM and classpath (java -Xshare:on)" \
    qemu_run "$arch" java -Xshare:on -XX:SharedArchiveFile=/app/cds/daemon.jsa -cp '/app/jars/*' -version
  check "$arch image under qemu: record_processor --version" qemu_run "$arch" /app/bin/record_processor --version
  check "$arch image under qemu: a protocol session (initialize, processRecords, shutdownRequested + checkpoint, leaseLost)" \
    protocol_session "$arch"
  TIMES+=("$(printf '%-44s %4ss' "run: $arch checks under qemu" "$(secs_since "$t")")")
done

# Storage stays bounded: in podman's, the images of earlier runs that no tag names any more go; the
# builder's keeps its layer cache (what makes a warm build warm) unless it outgrows IMAGE_BUILDER_MAX_GB.
podman image prune -f >/dev/null 2>&1 || true
buildah rm --all >/dev/null 2>&1 || true
builder_gb="$(du -s --block-size=1G "$BUILDER_STORAGE" 2>/dev/null | cut -f1)"
if (( ${builder_gb:-0} > ${IMAGE_BUILDER_MAX_GB:-12} )); then
  log "the builder's storage holds ${builder_gb} GB: emptied (the next build is cold)"
  rm -rf -- "$BUILDER_STORAGE"
fi
log "storage: podman $(du -sh "$IMAGE_HOME/storage" 2>/dev/null | cut -f1), builder $(du -sh "$BUILDER_STORAGE" 2>/dev/null | cut -f1)"

log "times (this run; cold = an empty IMAGE_HOME):"
for line in "${TIMES[@]}"; do printf '  %s\n' "$line" >&2; done
log "image tests took $(secs_since "$T0")s"
for f in "${FAILED[@]}"; do log "failed: $f"; done
SUMMARY_PRINTED=1
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
