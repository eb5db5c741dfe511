#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a set time each.
#   scripts/fuzz.sh [--seconds N] [target...]     (default: 60 s each, every target)
# Targets: process_records (fast, general and streaming parsers agree), base64 (record data
# decoding against the base64 crate), escape (record text in the log against plain rules).
#
# - cargo-fuzz is installed on first use into .local/cargo-fuzz (nothing in ~/.cargo).
# - The toolchain: nightly if installed, else `rustup toolchain install nightly --profile
#   minimal`, else stable with RUSTC_BOOTSTRAP=1 and no sanitizer. FUZZ_TOOLCHAIN=stable
#   forces the last. With nightly the targets are built with AddressSanitizer.
# - Builds go to target/fuzz/<toolchain>; the corpus grows in .local/fuzz/corpus/<target> (the seeds
#   in fuzz/corpus/<target> are only read); crashing inputs go to
#   .local/fuzz/artifacts/<target>/, and libFuzzer's output to .local/fuzz/logs/<target>.log.
# Exits non-zero, naming the crashing input, if a target fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_TARGETS=(process_records base64 escape)
CARGO_FUZZ_VERSION=0.13.2

seconds=60
targets=()
while (($#)); do
  case "$1" in
    --seconds)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || {
        echo "fuzz.sh: --seconds needs a positive whole number" >&2
        exit 2
      }
      seconds="$2"
      shift 2
      ;;
    -h | --help)
      sed -n '2,14p' "$0"
      exit 0
      ;;
    -*)
      echo "fuzz.sh: unknown option $1" >&2
      exit 2
      ;;
    *)
      if [[ " ${ALL_TARGETS[*]} " != *" $1 "* ]]; then
        echo "fuzz.sh: no target $1 (there are: ${ALL_TARGETS[*]})" >&2
        exit 2
      fi
      targets+=("$1")
      shift
      ;;
  esac
done
if ((${#targets[@]} == 0)); then
  targets=("${ALL_TARGETS[@]}")
fi

LOCAL="$ROOT/.local"
FUZZ_OUT="$LOCAL/fuzz"
CARGO_FUZZ="$LOCAL/cargo-fuzz/bin/cargo-fuzz"

if [[ ! -x "$CARGO_FUZZ" ]] || ! "$CARGO_FUZZ" --version 2> /dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION into .local/cargo-fuzz"
  # Its bin/ on PATH for the install too: cargo otherwise warns that it is not, though every
  # call below puts it there.
  env PATH="$LOCAL/cargo-fuzz/bin:$PATH" \
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$LOCAL/cargo-fuzz"
fi

# The toolchain, and the flags that go with it.
toolchain=nightly
why_stable="no nightly could be installed"
build_flags=(--debug-assertions)
has_nightly() { rustup toolchain list 2> /dev/null | grep -q '^nightly'; }
if [[ "${FUZZ_TOOLCHAIN:-}" == stable ]]; then
  toolchain=stable
  why_stable="FUZZ_TOOLCHAIN=stable"
elif has_nightly; then
  :
elif command -v rustup > /dev/null 2>&1 && rustup toolchain install nightly --profile minimal && has_nightly; then
  :
else
  toolchain=stable
fi
if [[ "$toolchain" == nightly ]]; then
  echo "fuzz.sh: toolchain: nightly ($(rustc +nightly --version)), AddressSanitizer on"
  build_flags+=(--sanitizer address)
  run_env=()
else
  echo "fuzz.sh: toolchain: stable ($(rustc +stable --version)) with RUSTC_BOOTSTRAP=1, no sanitizer ($why_stable)"
  build_flags+=(--sanitizer none)
  run_env=(RUSTC_BOOTSTRAP=1)
fi

host="$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')"
# One build directory per toolchain: switching does not rebuild the other's.
TARGET_DIR="$ROOT/target/fuzz/$toolchain"
echo "fuzz.sh: building ${targets[*]}"
for target in "${targets[@]}"; do
  # cargo finds its `fuzz` subcommand on PATH.
  env PATH="$LOCAL/cargo-fuzz/bin:$PATH" "${run_env[@]}" cargo "+$toolchain" fuzz build \
    "${build_flags[@]}" --fuzz-dir fuzz --target-dir "$TARGET_DIR" "$target"
done

failed=()
for target in "${targets[@]}"; do
  corpus="$FUZZ_OUT/corpus/$target"
  artifacts="$FUZZ_OUT/artifacts/$target"
  log="$FUZZ_OUT/logs/$target.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  stamp="$FUZZ_OUT/.started-$target"
  touch "$stamp"
  echo "fuzz.sh: $target for ${seconds}s (log: ${log#"$ROOT"/})"
  status=0
  "$TARGET_DIR/$host/release/$target" \
    -max_total_time="$seconds" -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" "fuzz/corpus/$target" > "$log" 2>&1 || status=$?
  # The last coverage line and the final statistics: how far it got, how fast.
  grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 | sed 's/^/  /' || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" | sed 's/^/  /' || true
  if ((status != 0)); then
    echo "fuzz.sh: $target FAILED (libFuzzer exit status $status); the end of its log:"
    tail -n 40 "$log" | sed 's/^/  | /'
    found=0
    while IFS= read -r -d '' input; do
      echo "fuzz.sh: $target: crashing input: ${input#"$ROOT"/}"
      found=1
    done < <(find "$artifacts" -type f -newer "$stamp" -print0)
    if ((found == 0)); then
      echo "fuzz.sh: $target: no input was saved (see the log)"
    fi
    failed+=("$target")
  fi
  rm -f "$stamp"
done

if ((${#failed[@]})); then
  echo "fuzz.sh: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz.sh: no failures in ${targets[*]} (${seconds}s each, toolchain $toolchain)"
