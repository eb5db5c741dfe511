#!/usr/bin/env bash
# scripts/cross-toolchain.sh -- install what scripts/build-release.sh needs to build record_processor for
# another architecture on a Debian/Ubuntu machine (the Dockerfile's build stage, which runs on the build
# machine's own architecture and cross-compiles instead of running the compiler under emulation).
#
#   scripts/cross-toolchain.sh ARCH          install: for this machine's own architecture nothing; for another,
#                                            the GNU C cross compiler and static glibc of ARCH (apt-get, as root)
#                                            and the Rust target (rustup target add)
#   scripts/cross-toolchain.sh --print ARCH  print what it would install, and the Rust triple, as
#                                            triple=... / packages=... / rust_target=... lines; changes nothing
#
# ARCH is Docker's architecture name (BuildKit's TARGETARCH): amd64 or arm64. Then build with
#   TARGET_ARCH=ARCH scripts/build-release.sh
set -euo pipefail

log() { printf 'cross-toolchain: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '2,/^set -euo pipefail/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

print=0
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --print) print=1; shift ;;
esac
(( $# == 1 )) || die "usage: $0 [--print] ARCH (amd64 or arm64; see --help)"
arch="$1"

case "$arch" in
  amd64) triple=x86_64-unknown-linux-gnu gcc_package=gcc-x86-64-linux-gnu ;;
  arm64) triple=aarch64-unknown-linux-gnu gcc_package=gcc-aarch64-linux-gnu ;;
  *) die "unknown architecture: $arch (amd64 or arm64, Docker's names)" ;;
esac

# This machine's architecture in the same (Debian = Docker) naming.
if command -v dpkg > /dev/null 2>&1; then
  here="$(dpkg --print-architecture)"
else
  case "$(uname -m)" in
    x86_64) here=amd64 ;;
    aarch64 | arm64) here=arm64 ;;
    *) here="$(uname -m)" ;;
  esac
fi

packages=() rust_target=""
if [[ "$arch" != "$here" ]]; then
  # libc6-dev-<arch>-cross holds the target's libc.a, which the static link needs.
  packages=("$gcc_package" "libc6-dev-$arch-cross")
  rust_target="$triple"
fi

if ((print)); then
  printf 'triple=%s\npackages=%s\nrust_target=%s\n' "$triple" "${packages[*]}" "$rust_target"
  exit 0
fi

if (( ${#packages[@]} == 0 )); then
  log "$arch is this machine's architecture: nothing to install"
  exit 0
fi
log "$arch on $here: installing ${packages[*]} (apt-get) and the Rust target $rust_target (rustup)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"
rustup target add "$rust_target"
