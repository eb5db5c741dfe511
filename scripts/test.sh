#!/usr/bin/env bash
# The project's test command (the README's second line; CI runs exactly this).
#   1. formatting and lints (cargo fmt --check, cargo clippy -D warnings, with and without the async
#      feature and the DynamoDB example)
#   2. cargo test: unit tests over byte buffers, process tests over real pipes, the async adapter; again
#      with the Rust of Cargo.toml's rust-version; the SIMD differential tests, on a CPU without AVX-512 also under an
#      emulated Ice Lake (scripts/avx512-emulated.sh)
#   3. the container's scripts (set_properties.sh, run.sh, Dockerfile lint, shellcheck)
#   4. the deployment: cfn-lint, checkov and the tests of deploy/consumer.yaml (tests/deploy/run.sh)
#   5. end to end under the real Java MultiLangDaemon, against local emulators
#   6. the image: the Dockerfile built (amd64, and arm64 under qemu) and run as the task definition runs
#      it, against the same emulators (tests/image/run.sh; needs root, podman's storage in .local/image)
#   7. the checkout holds nothing new but target/ (builds), .local/ (tools, emulators, test state) and
#      jars/ (the KCL jars the local stack fetches)
#      and bench/compare.sh --smoke: the side-by-side benchmark once through (SKIP_COMPARE=1 leaves it out)
# Everything it needs is installed on first use. Set SKIP_E2E=1 to leave out step 5, SKIP_IMAGE=1 step 6,
# SKIP_AVX512_EMULATED=1 the AVX-512 tests under emulation (step 2, only on a CPU without AVX-512).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

# Untracked and ignored files outside the allowed directories, and changed tracked files.
checkout_state() {
  git ls-files --others -- ':(exclude)target' ':(exclude).local' ':(exclude)jars' | LC_ALL=C sort
  git status --porcelain --untracked-files=no
}
checkout_before=""
have_git=0
if command -v git > /dev/null 2>&1 && git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  have_git=1
  checkout_before="$(checkout_state)"
fi

# The toolchain rust-toolchain.toml pins, with its components, installed up front: rustup would
# otherwise install it on the first cargo call, or (where automatic installs are off) refuse.
TOOLCHAIN="$(sed -n 's/^channel *= *"\(.*\)"$/\1/p' rust-toolchain.toml)"
step "the pinned Rust toolchain ($TOOLCHAIN, rust-toolchain.toml)"
rustup toolchain install "$TOOLCHAIN" --profile minimal --component rustfmt,clippy --no-self-update

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

# The async feature and examples/dynamodb_sink (the AWS SDK for DynamoDB), off by default. Not for
# arm64 below: the SDK's TLS library compiles C, which would need the arm64 C toolchain here.
step "cargo clippy --all-targets --features dynamodb-example -- -D warnings (the async feature, the DynamoDB example)"
cargo clippy --all-targets --locked --features dynamodb-example -- -D warnings

# The arm64 (Graviton) image runs the portable code paths, which an x86_64 build never compiles.
ARM=aarch64-unknown-linux-gnu
step "cargo clippy --target $ARM --all-targets -- -D warnings (the arm64 image's code paths)"
if rustup target list --installed 2>/dev/null | grep -qx "$ARM" || rustup target add "$ARM"; then
  cargo clippy --target "$ARM" --all-targets --locked -- -D warnings
else
  printf 'SKIPPED: the Rust target %s could not be installed (rustup target add failed, see above), so the arm64 code paths were not checked\n' "$ARM"
fi

step "cargo doc -D warnings (the library and the binary; again with the async feature)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet --features async

step "cargo clippy on bench/ (its own workspace: the driver, the floor, the stage benchmark)"
CARGO_TARGET_DIR="$ROOT/.local/bench/target" \
  cargo clippy --manifest-path bench/Cargo.toml --all-targets --locked -- -D warnings

step "cargo test"
cargo test --locked

step "cargo test --features dynamodb-example: the async adapter over byte buffers, the DynamoDB example's unit tests"
cargo test --locked --features dynamodb-example --test asynchronous --example dynamodb_sink

# Cargo.toml's rust-version is a promise to library users (their cargo trusts it): build and test
# with that toolchain too, in a target directory of its own so the two builds do not evict each other.
MSRV="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml)"
[[ "$MSRV" =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || { echo "no rust-version in Cargo.toml" >&2; exit 1; }
[[ "$MSRV" == *.*.* ]] || MSRV="$MSRV.0"
step "cargo +$MSRV test (Cargo.toml's rust-version: the oldest Rust the library promises to build with)"
rustup run "$MSRV" rustc --version > /dev/null 2>&1 || rustup toolchain install "$MSRV" --profile minimal
CARGO_TARGET_DIR="$ROOT/target/msrv" cargo "+$MSRV" test --locked
# The async feature promises the same Rust (the DynamoDB example needs the SDK's newer minimum).
CARGO_TARGET_DIR="$ROOT/target/msrv" cargo "+$MSRV" test --locked --features async --test asynchronous

step "cargo test --features force-portable (the portable kernels, which arm64 runs)"
cargo test --locked --features force-portable --lib --test process --test runtime

step "the SIMD differential tests, uncaptured: a variant this CPU cannot run prints SKIPPED"
cargo test --locked --lib -- --nocapture simd::

# The AVX-512 variants run natively above where the CPU has them; elsewhere (most of our machines and
# CI runners) they run on an emulated Ice Lake (Bochs), so that every run exercises every variant.
if grep -qw avx512vbmi /proc/cpuinfo 2> /dev/null; then
  step "AVX-512 under emulation: not needed, this CPU has AVX-512 VBMI and ran the variants above"
elif [[ "${SKIP_AVX512_EMULATED:-0}" == 1 ]]; then
  step "AVX-512 under emulation skipped (SKIP_AVX512_EMULATED=1): the AVX-512 variants did not run"
else
  step "AVX-512 under emulation: the simd:: tests on Bochs' Ice Lake model (scripts/avx512-emulated.sh)"
  scripts/avx512-emulated.sh
fi

step "fuzz smoke: scripts/fuzz.sh --seconds 15 (each cargo-fuzz target in fuzz/ for 15 s)"
scripts/fuzz.sh --seconds 15

step "scripts/build-release.sh (the statically linked binary the container ships and the tests run: target/ship)"
scripts/build-release.sh

step "container scripts"
bash tests/container/run.sh

step "the side-by-side benchmark's measuring parts (tests/bench/test_compare.py)"
python3 tests/bench/test_compare.py

step "deployment: cfn-lint, checkov and tests of deploy/consumer.yaml"
bash tests/deploy/run.sh

if [[ "${SKIP_E2E:-0}" == 1 ]]; then
  step "end-to-end tests skipped (SKIP_E2E=1)"
else
  step "end-to-end tests under the real MultiLangDaemon"
  bash tests/e2e/run.sh
fi
if [[ "${SKIP_IMAGE:-0}" == 1 ]]; then
  step "image tests skipped (SKIP_IMAGE=1)"
else
  step "the image: the Dockerfile built for amd64 and arm64 and run as ECS runs it"
  bash tests/image/run.sh
  if [[ "${SKIP_COMPARE:-0}" == 1 ]]; then
    step "the side-by-side benchmark's smoke run skipped (SKIP_COMPARE=1)"
  else
    step "the side-by-side benchmark, once through: bench/compare.sh --smoke (each consumer in the image, every record logged)"
    bash bench/compare.sh --smoke
  fi
fi
if ((have_git)); then
  step "the tests left nothing in the checkout (target/, .local/ and jars/ aside)"
  checkout_after="$(checkout_state)"
  if [[ "$checkout_after" != "$checkout_before" ]]; then
    echo "new or changed since the tests started:"
    diff <(printf '%s\n' "$checkout_before") <(printf '%s\n' "$checkout_after") | sed -n 's/^> /  /p'
    exit 1
  fi
else
  step "not a git checkout: not checking what the tests left behind"
fi
step "all tests passed"
