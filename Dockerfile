# syntax=docker/dockerfile:1
# Kinesis Data Streams consumer for ECS Fargate: the KCL MultiLangDaemon (Java) running the Rust
# record_processor, a drop-in for the Python consumer of the "Kinesis consumer on Fargate" sample.
#
#   docker build -t kcl-multilang .
#   docker run --rm -e REGION=eu-west-1 -e STREAM_NAME=my-stream -e APPLICATION_NAME=my-app kcl-multilang
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/kcl-multilang:<tag> --push .
#   buildah build --format docker --layers -t kcl-multilang .   (--format docker keeps the HEALTHCHECK)
#
# Every stage starts from one Debian release (stable, slim): the image users pull and the base our CI
# makes from Debian's archive with mmdebstrap are the same release. Name a mirror of the same image
# with --build-arg DEBIAN_IMAGE=<registry>/debian:trixie-slim (e.g. public.ecr.aws/docker/library/...).
# Behind a TLS-inspecting proxy, give the build stages its CA bundle as a secret, which the image never
# holds: --secret id=ca,src=/path/to/ca-bundle.pem (see scripts/build-ca.sh).
#
# See docs/container.md for the build, the environment variables and the properties, docs/deploy.md for
# ECS Fargate.

ARG DEBIAN_IMAGE=debian:trixie-slim
# checkov:skip=CKV_DOCKER_7: every FROM names ${DEBIAN_IMAGE}, whose default above carries the tag (trixie-slim); checkov does not resolve ARGs
# The JRE the image ships (Debian's OpenJDK package openjdk-<N>-jre-headless; trixie has 21 and 25).
ARG JAVA_VERSION=21

# ---------------------------------------------------------------------------------------------------
# 1. The record processor binary
# ---------------------------------------------------------------------------------------------------
# The stage runs on the build machine's own architecture ($BUILDPLATFORM) and cross-compiles for the
# image's ($TARGETARCH): rustc under emulation would take many times longer. For another architecture
# scripts/cross-toolchain.sh installs the GNU cross compiler, the target's libc.a and the Rust target;
# scripts/build-release.sh (TARGET_ARCH) links with them and checks the result with readelf, since it
# cannot run it. For the machine's own architecture both do what a plain build does.
FROM --platform=$BUILDPLATFORM ${DEBIAN_IMAGE} AS build
# gcc and libc6-dev: the linker and libc.a for the static link (scripts/build-release.sh); rustup:
# Debian's, which installs the toolchain that rust-toolchain.toml pins, as the host's tests use it.
# Package versions are not pinned: they come from the Debian release DEBIAN_IMAGE names.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev rustup \
    && rm -rf /var/lib/apt/lists/*
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo
WORKDIR /src
COPY rust-toolchain.toml ./
COPY scripts/build-ca.sh scripts/cross-toolchain.sh ./scripts/
# The secret "ca" (optional): an extra CA bundle for HTTPS through a TLS-inspecting proxy, trusted only
# while the step runs (scripts/build-ca.sh).
RUN --mount=type=secret,id=ca \
    bash scripts/build-ca.sh rustup toolchain install \
      "$(sed -n 's/^channel *= *"\(.*\)"$/\1/p' rust-toolchain.toml)" --profile minimal \
    && rustc --version
# Declared here, not at the top of the stage: the steps above stay one cached layer for every target.
ARG TARGETARCH
RUN --mount=type=secret,id=ca \
    bash scripts/build-ca.sh bash scripts/cross-toolchain.sh "$TARGETARCH"
# Dependencies in their own cached layer: build them against placeholder sources first, so that
# editing src/ does not recompile every crate. The placeholders must match the targets declared in
# Cargo.toml ([lib] src/lib.rs, [[bin]] record_processor src/bin/record_processor/main.rs, [[example]]
# dynamodb_sink examples/dynamodb_sink.rs, which stays a placeholder: it is not built here); keep them
# in step if targets are added (a [[bench]]/[[example]]/[[test]] entry needs its file).
COPY Cargo.toml Cargo.lock ./
COPY scripts/build-release.sh ./scripts/
RUN --mount=type=secret,id=ca \
    mkdir -p src/bin/record_processor examples \
    && echo 'fn main() {}' > src/bin/record_processor/main.rs \
    && echo 'fn main() {}' > examples/dynamodb_sink.rs \
    && touch src/lib.rs \
    && TARGET_ARCH="$TARGETARCH" bash scripts/build-ca.sh bash scripts/build-release.sh \
    && rm -rf src target/ship
COPY src ./src
# touch: the real sources may be older than the placeholders cargo just built. No download is left
# to do here (the dependencies are in CARGO_HOME and Cargo.lock is used as it is).
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
FROM --platform=$BUILDPLATFORM ${DEBIAN_IMAGE} AS jars
ARG JAVA_VERSION
# Debian's JDK and Maven (maven would otherwise pull in the default JRE, which may be another version).
# The JDK's postinst links its manual page into /usr/share/man/man1, which slim images leave out: without
# the directory, update-alternatives fails and with it the install.
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates "openjdk-${JAVA_VERSION}-jdk-headless" maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY scripts/build-ca.sh ./scripts/
COPY scripts/fetch-kcl-jars.sh scripts/kcl-jars-pom.xml scripts/kcl-jars.lock ./scripts/
RUN --mount=type=secret,id=ca \
    KCL_JARS_SOURCE=maven JARS_DIR=/jars bash scripts/build-ca.sh bash scripts/fetch-kcl-jars.sh

# ---------------------------------------------------------------------------------------------------
# 3. Runtime: Debian's OpenJDK JRE, headless
# ---------------------------------------------------------------------------------------------------
# --platform=$TARGETPLATFORM is what BuildKit does anyway; buildah needs it said: the stages above name
# the same image for the build platform, and buildah otherwise reuses that resolution here.
# hadolint ignore=DL3065
FROM --platform=$TARGETPLATFORM ${DEBIAN_IMAGE}
ARG JAVA_VERSION
# Debian slim has bash, coreutils (tail, mktemp, env, sort) and useradd (passwd) for run.sh,
# set_properties.sh and the non-root user; we add
#   openjdk-<N>-jre-headless  the daemon's JVM, with ca-certificates-java for HTTPS to AWS
#   gawk                      set_properties.sh renders and escapes the properties in awk (slim has mawk)
# Package versions are not pinned: they come from the Debian release DEBIAN_IMAGE names. The man1
# directory: see the jars stage.
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends "openjdk-${JAVA_VERSION}-jre-headless" gawk \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && useradd --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin kcl

# PROPERTIES_FILE and TMPDIR point into /app/run and the logs go to /app/logs: with those two
# writable, the container runs on a read-only root filesystem (set_properties.sh writes the rendered
# properties and its temporary files, run.sh and the processors the logs and heartbeats).
# JAVA_OPTS: measured on this image with bench/compare.sh (BENCHMARKS.md; docs/deploy.md, "Sizing").
# A JIT stopped at C1: against C2 it spent ~3 CPU-seconds less per start, 44 % less per record on a
# warm backlog, less when idle and 13 MB less memory; C2 is ahead only at sustained rates above
# ~1,300 records/s. The serial GC (what the JVM picks on one CPU anyway); a heap of half the task's
# memory; a JVM that dies on OutOfMemoryError, so ECS replaces the task.
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
# A class-data-sharing archive of the daemon's start, recorded here by a training start against endpoints
# that refuse connections (scripts/make-cds-archive.sh: nothing leaves the build). run.sh hands it to the
# JVM (CDS_ARCHIVE, also when JAVA_OPTS is replaced). Measured with bench/compare.sh (BENCHMARKS.md): 27 %
# less CPU per start (~1.5 CPU-seconds), the first record ~1 s sooner, ~21 MB more JVM memory.
# The script is bind-mounted for the step, not copied: the image does not keep it.
RUN --mount=type=bind,source=scripts,target=/tmp/scripts \
    TMPDIR=/tmp bash /tmp/scripts/make-cds-archive.sh /app/cds/daemon.jsa \
    && rm -rf /tmp/hsperfdata_root
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
