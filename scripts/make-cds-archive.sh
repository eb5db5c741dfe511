#!/usr/bin/env bash
# make-cds-archive.sh ARCHIVE -- record a class-data-sharing (AppCDS) archive of the KCL daemon's start,
# which run.sh then hands to every start of the daemon (-XX:SharedArchiveFile): the JVM maps the classes
# it would otherwise read from the jars, parse and verify each time.
#
# A training start: run.sh, with JAVA_OPTS (the image's) plus -XX:ArchiveClassesAtExit=ARCHIVE, against
# Kinesis and DynamoDB endpoints that refuse every connection (127.0.0.1:9), until the daemon has tried
# to create its lease table once (the properties, the SDK clients, netty, the request path, the KCL's
# scheduler and retries all loaded), then SIGTERM: the JVM writes the archive as it exits. Nothing leaves
# the machine, so the image build (the Dockerfile runs this) needs no AWS account. The classes of the
# record path (shard consumers, the multilang protocol) load later from the jars, as without an archive.
#
# The archive belongs to this JVM build and these jars: another JDK ignores it (silently, as tried with
# OpenJDK 17 and an archive of 21), another classpath gets one [cds] warning on stdout, and either runs
# as without it. The placeholder credentials below reach no service (the endpoints
# refuse the connection); they only let the SDK sign the requests it then fails to send, as it would
# with real ones.
#
# Environment: APP_HOME [this script's repository], JAVA_OPTS, JAVA [java], CDS_TRAINING_SECONDS [180]
# (the most it waits for the daemon's first attempt; under qemu it is slow).
set -euo pipefail

ARCHIVE="${1:?usage: make-cds-archive.sh ARCHIVE}"
export APP_HOME="${APP_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
WAIT="${CDS_TRAINING_SECONDS:-180}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cds-training.XXXXXX")"
RUN_PID=""
cleanup() {
  if [[ -n "$RUN_PID" ]] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -KILL -- "-$RUN_PID" 2>/dev/null || kill -KILL "$RUN_PID" 2>/dev/null || true
  fi
  rm -rf -- "$WORK"
}
trap cleanup EXIT

say() { printf 'make-cds-archive: %s\n' "$*" >&2; }

rm -f -- "$ARCHIVE"
mkdir -p -- "$(dirname -- "$ARCHIVE")"
# setsid: run.sh and its daemon in a process group of their own, stopped as one if anything goes wrong.
LOG_DIR="$WORK/logs" PROPERTIES_FILE="$WORK/training.properties" \
  REGION=us-east-1 STREAM_NAME=cds-training APPLICATION_NAME=cds-training \
  KCL_kinesisEndpoint=http://127.0.0.1:9 KCL_dynamoDBEndpoint=http://127.0.0.1:9 \
  KCL_shutdownGraceMillis=1000 \
  AWS_ACCESS_KEY_ID=cds-training-placeholder AWS_SECRET_ACCESS_KEY=cds-training-placeholder \
  AWS_EC2_METADATA_DISABLED=true \
  JAVA_OPTS="${JAVA_OPTS:-} -XX:ArchiveClassesAtExit=$ARCHIVE" CDS_ARCHIVE="" \
  setsid bash "$APP_HOME/run.sh" >"$WORK/output.log" 2>&1 &
RUN_PID=$!
started="$(date +%s)"
until grep -q 'Initializing LeaseCoordinator attempt 2' "$WORK/output.log"; do
  if ! kill -0 "$RUN_PID" 2>/dev/null; then
    say "the training start ended before its first attempt; its output:"
    tail -n 40 "$WORK/output.log" >&2
    exit 1
  fi
  if (($(date +%s) - started >= WAIT)); then
    say "no first attempt after ${WAIT}s; stopping it all the same (the archive covers less)"
    break
  fi
  sleep 0.5
done
say "training start ran $(($(date +%s) - started))s; SIGTERM, the JVM writes $ARCHIVE as it exits"
kill -TERM "$RUN_PID"
status=0
wait "$RUN_PID" || status=$?
RUN_PID=""
if [[ ! -s "$ARCHIVE" ]]; then
  say "no archive written (run.sh exited with $status); its output:"
  tail -n 40 "$WORK/output.log" >&2
  exit 1
fi
chmod 0444 "$ARCHIVE"
say "wrote $ARCHIVE ($(du -h -- "$ARCHIVE" | cut -f1))"
