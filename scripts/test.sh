#!/usr/bin/env bash
# The project's test command (the README's second line; CI runs exactly this).
#   1. formatting and lints (cargo fmt --check, cargo clippy -D warnings)
#   2. cargo test: unit tests over byte buffers, process tests over real pipes
#   3. the container's scripts (set_properties.sh, run.sh, Dockerfile lint, shellcheck)
#   4. end to end under the real Java MultiLangDaemon, against local emulators
# Everything it needs is installed on first use. Set SKIP_E2E=1 to leave out step 4.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test"
cargo test --locked

step "scripts/build-release.sh (the statically linked binary the container ships and the tests run: target/ship)"
scripts/build-release.sh

step "container scripts"
bash tests/container/run.sh

if [[ "${SKIP_E2E:-0}" == 1 ]]; then
  step "end-to-end tests skipped (SKIP_E2E=1)"
else
  step "end-to-end tests under the real MultiLangDaemon"
  bash tests/e2e/run.sh
fi
step "all tests passed"
