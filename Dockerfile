# syntax=docker/dockerfile:1
# Kinesis Data Streams consumer for ECS Fargate: the KCL MultiLangDaemon (Java) running the Rust
# record_processor, a drop-in for the Python consumer of the "Kinesis consumer on Fargate" sample.
#
#   docker build -t kcl-multilang .
#   docker run --rm -e REGION=eu-west-1 -e STREAM_NAME=my-stream -e APPLICATION_NAME=my-app kcl-multilang
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/kcl-multilang:<tag> --push .
#
# See docs/container.md for the environment variables and the properties, docs/deploy.md for ECS Fargate.

ARG RUST_VERSION=1
ARG JAVA_VERSION=17

# ---------------------------------------------------------------------------------------------------
# 1. The record processor binary
# ---------------------------------------------------------------------------------------------------
# The stage runs on the build machine's own architecture ($BUILDPLATFORM) and cross-compiles for the
# image's ($TARGETARCH): rustc under emulation would take many times longer. For another architecture
# scripts/cross-toolchain.sh installs the GNU cross compiler, the target's libc.a and the Rust target;
# scripts/build-release.sh (TARGET_ARCH) links with them and checks the result with readelf, since it
# cannot run it. For the machine's own architecture both do what a plain build does.
FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-slim-bookworm AS build
ARG TARGETARCH
WORKDIR /src
# scripts/build-release.sh links glibc statically (libc.a: libc6-dev, which this image has with gcc)
# and places the binary at target/ship/record_processor (target/ship/<triple>/ when cross-compiled; it
# prints the path): each child the daemon starts then has ~2.1 MB resident instead of ~3.2 MB, and
# the binary needs no shared library of the runtime image.
COPY scripts/cross-toolchain.sh ./scripts/
RUN bash scripts/cross-toolchain.sh "$TARGETARCH"
# Dependencies in their own cached layer: build them against placeholder sources first, so that
# editing src/ does not recompile every crate. The placeholders must match the targets declared in
# Cargo.toml ([lib] src/lib.rs, [[bin]] record_processor src/bin/record_processor/main.rs); keep them
# in step if targets are added (a [[bench]]/[[example]]/[[test]] entry with a path needs its file).
COPY Cargo.toml Cargo.lock ./
COPY scripts/build-release.sh ./scripts/
RUN mkdir -p src/bin/record_processor \
    && echo 'fn main() {}' > src/bin/record_processor/main.rs \
    && touch src/lib.rs \
    && TARGET_ARCH="$TARGETARCH" bash scripts/build-release.sh \
    && rm -rf src target/ship
COPY src ./src
# touch: the real sources may be older than the placeholders cargo just built.
RUN touch src/lib.rs src/bin/record_processor/main.rs \
    && bin="$(TARGET_ARCH="$TARGETARCH" bash scripts/build-release.sh)" \
    && mkdir -p /out \
    && cp "$bin" /out/record_processor

# ---------------------------------------------------------------------------------------------------
# 2. The KCL jars: amazon-kinesis-client-multilang at the version of scripts/kcl-jars.lock and its runtime
#    dependencies, from Maven Central, each checked against the lock's sha256. KCL_JARS_SOURCE=maven: fail
#    rather than fall back to KCL 2.x.
# ---------------------------------------------------------------------------------------------------
# Jars are the same for every architecture: fetched once, on the build machine's own.
FROM --platform=$BUILDPLATFORM maven:3-amazoncorretto-17 AS jars
WORKDIR /build
COPY scripts/fetch-kcl-jars.sh scripts/kcl-jars-pom.xml scripts/kcl-jars.lock ./scripts/
RUN KCL_JARS_SOURCE=maven JARS_DIR=/jars bash scripts/fetch-kcl-jars.sh

# ---------------------------------------------------------------------------------------------------
# 3. Runtime: Amazon Corretto headless on Amazon Linux 2023
# ---------------------------------------------------------------------------------------------------
FROM amazoncorretto:${JAVA_VERSION}-al2023-headless
# The AL2023 image is minimal. It has bash and coreutils (tail, mktemp, env, sort) for run.sh and
# set_properties.sh; we add
#   gawk          set_properties.sh renders and escapes the properties in awk (not guaranteed present)
#   shadow-utils  useradd, for the non-root user
# Package versions are not pinned: they come from the AL2023 release the base image is locked to.
# hadolint ignore=DL3041
RUN dnf install -y --setopt=install_weak_deps=False gawk shadow-utils \
    && dnf clean all \
    && rm -rf /var/cache/dnf \
    && useradd --uid 10001 --user-group --home-dir /app --no-create-home --shell /sbin/nologin kcl

# PROPERTIES_FILE and TMPDIR point into /app/run and the logs go to /app/logs: with those two
# writable, the container runs on a read-only root filesystem (set_properties.sh writes the rendered
# properties and its temporary files, run.sh and the processors the logs and heartbeats).
# JAVA_OPTS: measured with bench/container-footprint.sh (docs/deploy.md, "Sizing"): the serial GC and
# a JIT stopped at C1 cut the daemon's RSS by 15-20 % and its CPU by ~40 % at 2 and 8 shards; a heap
# of half the task's memory; a JVM that dies on OutOfMemoryError, so ECS replaces the task.
ENV APP_HOME=/app \
    LANG=C.UTF-8 \
    PROPERTIES_FILE=/app/run/record_processor.properties \
    TMPDIR=/app/run \
    JAVA_OPTS="-Djava.io.tmpdir=/app/run -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxRAMPercentage=50 -Xss512k -XX:+ExitOnOutOfMemoryError" \
    RECORD_PROCESSOR_STATE_DIR=/app/logs/state
WORKDIR /app
COPY --from=jars /jars/ /app/jars/
COPY --from=build /out/record_processor /app/bin/record_processor
COPY properties/ /app/properties/
COPY logback/ /app/logback/
COPY --chmod=0755 run.sh set_properties.sh /app/
# /app stays root-owned (read-only for the service user) except the two directories it writes. They
# are volumes: `docker run --read-only` then works as it is, and ECS copies a VOLUME's contents and
# ownership into a task's bind-mount volume mounted at the same path (an empty bind mount would be
# root-owned, 0755: not writable for uid 10001). deploy/consumer.yaml mounts both.
RUN mkdir -p /app/logs /app/run \
    && chown kcl:kcl /app/logs /app/run
VOLUME ["/app/logs", "/app/run"]

USER 10001:10001
# The daemon is alive and no shard is stuck or idle while far behind (see README, "Health check").
# ECS does not read this: put the same command in the task definition's healthCheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/app/bin/record_processor", "health"]
# run.sh is PID 1 and handles SIGTERM itself: it forwards it to the daemon, which shuts down gracefully
# within shutdownGraceMillis (25 s in the template; ECS sends SIGKILL after stopTimeout, 30 s by default).
ENTRYPOINT ["/app/run.sh"]
