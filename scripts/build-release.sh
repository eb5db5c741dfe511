#!/usr/bin/env bash
# scripts/build-release.sh -- build the record_processor that ships: release profile, glibc linked
# statically, placed at one stable path that the Dockerfile and the project's scripts run.
#
#   scripts/build-release.sh              build record_processor -> target/ship/record_processor
#   scripts/build-release.sh --examples   also the examples       -> target/ship/examples/<name>
#   TARGET_ARCH=arm64 scripts/build-release.sh   cross-build for arm64 -> target/ship/aarch64-unknown-linux-gnu/...
#
# Prints the path of each binary it placed on stdout (record_processor first); cargo's output and the
# script's messages go to stderr.
#
# Why static: the KCL MultiLangDaemon starts one record_processor per shard lease, so the memory of
# each child counts. Linked dynamically, a child has ~3.2 MB resident right after start, most of it
# file-backed pages of libc.so, ld.so and libgcc_s; linked statically ~2.1 MB. Static glibc is safe for
# this binary: it uses no NSS (getpwnam, getaddrinfo, ...), no DNS, no iconv/locales and no dlopen; it
# only reads and writes pipes and files.
#
# How: RUSTFLAGS="-C target-feature=+crt-static" with an explicit --target <host triple>. The explicit
# --target keeps the flag away from build scripts and proc-macros (clap_derive cannot be built with it),
# so the build lands in target/<triple>/release and is then copied to target/ship/. A plain
# `cargo build --release` (dynamic, target/release) keeps working for development next to it.
#
# Environment:
#   STATIC [1]  1: link glibc statically (needs libc.a: Debian/Ubuntu package libc6-dev, Fedora/AL2023
#               glibc-static); 0: a dynamic `cargo build --release`, for hosts without libc.a or other
#               than Linux. Either way the binary is placed in target/ship/.
#   TARGET [the host triple]  the Rust target triple to build for. Another Linux GNU triple cross-compiles:
#               the Rust target must be installed (rustup target add), cargo links with
#               $CARGO_TARGET_<TRIPLE>_LINKER, by default <arch>-linux-gnu-gcc (scripts/cross-toolchain.sh installs
#               it and the target's libc.a on Debian), the binary goes to target/ship/<triple>/ (the host's
#               tests keep running target/ship/record_processor) and it is checked with readelf, not run.
#   TARGET_ARCH  the target by Docker's architecture name (BuildKit's TARGETARCH): amd64 or arm64
#   CARGO [cargo]  RUSTC [rustc]  CC [cc] (only asked where libc.a is; for a cross build, the linker is asked)
#   CARGO_TARGET_DIR [<repo>/target]  where cargo builds; target/ship/ stays in the repository
#   RUSTFLAGS  kept; the static flag is added to it (CARGO_ENCODED_RUSTFLAGS would override it: unset it)
# --locked is passed when Cargo.lock is committed (or, without git, e.g. in the Docker build, present).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'build-release: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() { sed -n '2,/^set -euo pipefail/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

examples=0
for arg in "$@"; do
  case "$arg" in
    --examples) examples=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

CARGO="${CARGO:-cargo}"
RUSTC="${RUSTC:-rustc}"
STATIC="${STATIC:-1}"
[[ "$STATIC" == 0 || "$STATIC" == 1 ]] || die "STATIC must be 1 (link glibc statically, the default) or 0 (dynamic), not: $STATIC"
command -v "$CARGO" > /dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"

SHIP="$ROOT/target/ship"
cargo_target="${CARGO_TARGET_DIR:-$ROOT/target}"

# --locked when Cargo.lock is the committed one. Without git (the Docker build stage copies the sources
# in, with Cargo.lock and without .git), a Cargo.lock that is there came with the sources.
locked=()
if [[ -f Cargo.lock ]]; then
  if command -v git > /dev/null 2>&1 && git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    if git ls-files --error-unmatch -- Cargo.lock > /dev/null 2>&1; then locked=(--locked); fi
  else
    locked=(--locked)
  fi
fi

what=(--bin record_processor)
if ((examples)); then what+=(--examples); fi

host="$("$RUSTC" -vV | sed -n 's/^host: //p')" || host=""
[[ -n "$host" ]] || die "could not read the host triple from '$RUSTC -vV'"
if [[ -n "${TARGET_ARCH:-}" ]]; then
  case "$TARGET_ARCH" in
    amd64) arch_triple=x86_64-unknown-linux-gnu ;;
    arm64) arch_triple=aarch64-unknown-linux-gnu ;;
    *) die "TARGET_ARCH must be amd64 or arm64 (Docker's architecture names), not: $TARGET_ARCH" ;;
  esac
  [[ -z "${TARGET:-}" || "$TARGET" == "$arch_triple" ]] \
    || die "TARGET=$TARGET and TARGET_ARCH=$TARGET_ARCH name different targets: set one"
  TARGET="$arch_triple"
fi
TARGET="${TARGET:-$host}"
cross=0
[[ "$TARGET" == "$host" ]] || cross=1

cc="${CC:-cc}"
if ((cross)); then
  [[ "$TARGET" == *-linux-gnu* ]] || die "cross builds are set up for Linux GNU targets only, not $TARGET"
  triple_var="$(printf '%s' "$TARGET" | tr '[:lower:]-' '[:upper:]_')"
  linker_var="CARGO_TARGET_${triple_var}_LINKER" cc_var="CC_${TARGET//-/_}"
  cc="${!linker_var:-${TARGET%%-*}-linux-gnu-gcc}"
  command -v "$cc" > /dev/null 2>&1 \
    || die "no C toolchain for $TARGET: $cc not found. On Debian/Ubuntu: scripts/cross-toolchain.sh ${TARGET_ARCH:-<amd64|arm64>}; or set $linker_var"
  # cargo links with the linker variable; crates that compile C (none today) read CC_<triple>.
  export "$linker_var=$cc" "$cc_var=${!cc_var:-$cc}"
  if command -v rustup > /dev/null 2>&1 && ! rustup target list --installed 2> /dev/null | grep -qxF -- "$TARGET"; then
    die "the Rust standard library for $TARGET is not installed: rustup target add $TARGET"
  fi
  SHIP="$SHIP/$TARGET"
fi

if [[ "$STATIC" == 1 ]]; then
  case "$TARGET" in
    *-linux-gnu*)
      libc_a="$("$cc" -print-file-name=libc.a 2> /dev/null || true)"
      if [[ "$libc_a" != /* || ! -f "$libc_a" ]]; then
        die "static linking needs glibc's static library libc.a for $TARGET, which $cc does not find.
  Install it (Debian/Ubuntu: apt-get install libc6-dev, or for a cross build scripts/cross-toolchain.sh;
  Fedora/Amazon Linux: dnf install glibc-static), or build a dynamically linked binary instead: STATIC=0 $0"
      fi
      ;;
    *-linux-musl*) ;; # static by default; the flag is harmless
    *) die "static linking is only set up for Linux targets, not $TARGET: run STATIC=0 $0" ;;
  esac
  out="$cargo_target/$TARGET/release"
  log "static build for $TARGET: RUSTFLAGS+=' -C target-feature=+crt-static' $CARGO build --release --target $TARGET ${locked[*]} ${what[*]}"
  RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
    "$CARGO" build --release --target "$TARGET" "${locked[@]}" "${what[@]}"
elif ((cross)); then
  out="$cargo_target/$TARGET/release"
  log "dynamic build (STATIC=0) for $TARGET: $CARGO build --release --target $TARGET ${locked[*]} ${what[*]}"
  "$CARGO" build --release --target "$TARGET" "${locked[@]}" "${what[@]}"
else
  out="$cargo_target/release"
  log "dynamic build (STATIC=0): $CARGO build --release ${locked[*]} ${what[*]}"
  "$CARGO" build --release "${locked[@]}" "${what[@]}"
fi

# place SRC DEST: copy, then rename over DEST, so that a process running the old DEST is not disturbed
# (cp onto a running executable fails with "Text file busy") and DEST is never half written.
place() {
  [[ -f "$1" && -x "$1" ]] || die "cargo did not produce $1"
  mkdir -p "$(dirname "$2")"
  cp -- "$1" "$2.tmp.$$"
  mv -f -- "$2.tmp.$$" "$2"
  printf '%s\n' "$2"
}

place "$out/record_processor" "$SHIP/record_processor"
# The binary must run here (or, cross-built, be an ELF file of the target's machine); a static build must
# also have no ELF interpreter and need no shared library (readelf, from binutils, is there wherever cc is;
# skipped if not).
if ((cross)); then
  version="$TARGET, not run here"
  case "$TARGET" in
    aarch64-*) machine=AArch64 ;;
    x86_64-*) machine=X86-64 ;;
    *) machine="" ;;
  esac
  if [[ -n "$machine" ]] && command -v readelf > /dev/null 2>&1 \
    && [[ "$(readelf -hW "$SHIP/record_processor")" != *"Machine:"*"$machine"* ]]; then
    die "$SHIP/record_processor is not an ELF file for $machine ($TARGET)"
  fi
else
  version="$("$SHIP/record_processor" --version)" || die "$SHIP/record_processor does not run"
fi
if [[ "$STATIC" == 1 ]] && command -v readelf > /dev/null 2>&1; then
  headers="$(readelf -lW "$SHIP/record_processor")" dynamic="$(readelf -dW "$SHIP/record_processor")"
  if [[ "$headers" == *INTERP* || "$dynamic" == *"(NEEDED)"* ]]; then
    die "$SHIP/record_processor is linked dynamically although STATIC=1 (is CARGO_ENCODED_RUSTFLAGS set?)"
  fi
fi
log "placed $SHIP/record_processor (${version:-no version}; $([[ "$STATIC" == 1 ]] && echo static || echo dynamic))"

if ((examples)); then
  # cargo's automatic example targets: examples/<name>.rs and examples/<name>/main.rs. Those Cargo.toml
  # declares as [[example]] need a feature (required-features) that `--examples` does not turn on, so
  # cargo skips them, and so does this (dynamodb_sink: `--features dynamodb-example`).
  shopt -s nullglob
  for src in examples/*.rs examples/*/main.rs; do
    name="${src#examples/}"
    name="${name%/main.rs}"
    name="${name%.rs}"
    if grep -qxF "name = \"$name\"" Cargo.toml; then
      log "skipped example $name: it needs a cargo feature (see its [[example]] in Cargo.toml)"
      continue
    fi
    place "$out/examples/$name" "$SHIP/examples/$name"
  done
  shopt -u nullglob
  log "placed the examples in $SHIP/examples"
fi
