#!/usr/bin/env bash
# Benchmark record_processor against the Python amazon_kclpy processor and an
# I/O floor, over real pipes, with a driver that plays the MultiLangDaemon.
#
#   bench/run.sh [--quick] [--runs N] [--python-runs N] [--workloads 200B,1MB,...]
#                [--write-chunk BYTES] [--no-build] [--no-stage]
#                [--baseline BINARY] [--no-python]
#
# Installs what it needs (a venv with amazon_kclpy and matplotlib under
# .local/bench/), builds the driver, the floor and record_processor (release),
# runs every workload for every processor (interleaved, medians of N runs:
# 9 by default, 3 with --quick; Python, which takes most of the time and is
# only there for the ratio, at most --python-runs, 5 by default),
# prints a table, writes bench/results/*.json|csv and the plot
# bench/cpu_per_record.png (a --quick run writes its plot to bench/results/).
# --write-chunk: how the driver writes to the child's stdin: 8192 (default) as the
# daemon's BufferedWriter does, or 0 for each message in one write.
# Then (unless --no-stage) the stage benchmark: decoding and writing without the pipe,
# ours against amazon_kclpy's, on 200 B and 1 MB records (bench/stage.py).
# --baseline BINARY: an A/B. Another record_processor build (e.g. one copied from an older
# commit's target/ship) runs as "baseline", interleaved with this one in the same run, and
# the report prints this build's CPU per record against it. --no-python leaves the Python
# processor out (an A/B needs only the two builds and is then much quicker).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
STATE="$ROOT/.local/bench"
VENV="$STATE/venv"
PY="$VENV/bin/python"
RESULTS="$BENCH/results"
KCLPY_VERSION="${KCLPY_VERSION:-}" # empty = latest on PyPI

QUICK=0
RUNS=""
PYTHON_RUNS=5
WORKLOADS=""
BUILD=1
WRITE_CHUNK=8192
STAGE=1
BASELINE=""
PYTHON=1
while [ "$#" -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --python-runs) PYTHON_RUNS="$2"; shift ;;
    --workloads) WORKLOADS="$2"; shift ;;
    --write-chunk) WRITE_CHUNK="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --no-stage) STAGE=0 ;;
    --baseline) BASELINE="$2"; shift ;;
    --no-python) PYTHON=0 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '[bench] %s\n' "$*" >&2; }

mkdir -p "$STATE" "$RESULTS"

# ------------------------------------------------------------------ Python side
if [ ! -x "$PY" ]; then
  log "creating venv $VENV"
  python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
  log "installing matplotlib into the venv"
  "$PY" -m pip install --quiet matplotlib
fi
if ! "$PY" -c 'import amazon_kclpy.kcl, amazon_kclpy.v3.processor' 2>/dev/null; then
  # The sdist's setup.py downloads the KCL jars from Maven at build time, which
  # fails without Maven access. A record processor needs only the pure-Python
  # package, so try a normal install first, then fall back to installing the
  # package directory from the sdist (no jars).
  spec="amazon_kclpy${KCLPY_VERSION:+==$KCLPY_VERSION}"
  log "installing $spec into the venv"
  if ! "$PY" -m pip install --quiet "$spec" >"$STATE/pip-kclpy.log" 2>&1; then
    log "pip install failed (jar download at build time, see $STATE/pip-kclpy.log); installing the Python package from the sdist without jars"
    dl="$STATE/sdist"
    rm -rf "$dl"
    mkdir -p "$dl"
    "$PY" -m pip download --quiet --no-deps -d "$dl" "$spec"
    tarball="$(find "$dl" -maxdepth 1 -name 'amazon_kclpy-*.tar.gz' | head -n 1)"
    [ -n "$tarball" ] || { log "no amazon_kclpy sdist downloaded"; exit 1; }
    tar -xzf "$tarball" -C "$dl"
    src="$(find "$dl" -mindepth 2 -maxdepth 2 -type d -name amazon_kclpy | head -n 1)"
    site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    rm -rf "$site/amazon_kclpy"
    cp -r "$src" "$site/amazon_kclpy"
    basename "$tarball" .tar.gz >"$site/amazon_kclpy/BENCH_INSTALLED_FROM"
  fi
  "$PY" -c 'import amazon_kclpy.kcl, amazon_kclpy.v3.processor'
fi
KCLPY_INSTALLED="$("$PY" - <<'EOF'
import os, amazon_kclpy
d = os.path.dirname(amazon_kclpy.__file__)
marker = os.path.join(d, "BENCH_INSTALLED_FROM")
if os.path.exists(marker):
    print(open(marker).read().strip() + " (sdist, Python package only)")
else:
    from importlib.metadata import version
    print("amazon_kclpy-" + version("amazon_kclpy"))
EOF
)"
log "python processor uses $KCLPY_INSTALLED"

# ------------------------------------------------------------------ builds
DRIVER="$STATE/target/release/kcl-bench-driver"
FLOOR="$STATE/target/release/kcl-bench-floor"
STAGE_BIN="$STATE/target/release/kcl-bench-stage"
RP="$ROOT/target/ship/record_processor"   # the statically linked binary the image ships
if [ "$BUILD" = 1 ]; then
  log "building the driver and the floor"
  (cd "$BENCH" && CARGO_TARGET_DIR="$STATE/target" cargo build --release --quiet)
  log "building record_processor (scripts/build-release.sh: static, $RP)"
  if ! CARGO_TERM_QUIET=true "$ROOT/scripts/build-release.sh" >/dev/null; then
    if [ -x "$RP" ]; then
      log "WARNING: build failed; benchmarking the existing $RP"
    else
      log "WARNING: record_processor does not build and no binary exists; benchmarking without it"
    fi
  fi
fi

# Benchmark a private copy: a rebuild of target/ during the run must not change the binary.
RP_COPY="$STATE/record_processor"
PROCS=()
if [ -x "$RP" ]; then
  cp "$RP" "$RP_COPY.tmp" && mv -f "$RP_COPY.tmp" "$RP_COPY"
  log "record_processor: $(sha256sum "$RP_COPY" | cut -c1-16) (built $(date -u -r "$RP" +%Y-%m-%dT%H:%M:%SZ); git $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
  PROCS+=(--proc "rust=$RP_COPY --log-file {tmp}/rp.log --checkpoint-interval 60")
fi
if [ -n "$BASELINE" ]; then
  if [ ! -x "$BASELINE" ]; then
    log "--baseline $BASELINE: not an executable file"
    exit 2
  fi
  BASE_COPY="$STATE/record_processor.baseline"
  cp "$BASELINE" "$BASE_COPY.tmp" && mv -f "$BASE_COPY.tmp" "$BASE_COPY"
  log "baseline: $(sha256sum "$BASE_COPY" | cut -c1-16) ($BASELINE)"
  PROCS+=(--proc "baseline=$BASE_COPY --log-file {tmp}/base.log --checkpoint-interval 60")
fi
if [ "$PYTHON" = 1 ]; then
  PROCS+=(--proc "python=$PY $BENCH/python_processor.py --log-file {tmp}/py.log --checkpoint-interval 60")
fi
PROCS+=(--proc "floor=$FLOOR")

# ------------------------------------------------------------------ run
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
mode="full"
args=()
if [ "$QUICK" = 1 ]; then args+=(--quick); mode="quick"; fi
if [ -n "$RUNS" ]; then
  args+=(--runs "$RUNS")
elif [ "$QUICK" = 0 ]; then
  args+=(--runs 9)
fi
args+=(--runs-of "python=$PYTHON_RUNS")
if [ -n "$WORKLOADS" ]; then args+=(--workloads "$WORKLOADS"); fi
args+=(--write-chunk "$WRITE_CHUNK")
if [ "$WRITE_CHUNK" != 8192 ]; then mode="$mode-w$WRITE_CHUNK"; fi
out="$RESULTS/runs-$mode-$stamp.json"
tmp_root="$STATE/tmp"
rm -rf "$tmp_root"
mkdir -p "$tmp_root"
log "the driver writes to the child in pieces of $WRITE_CHUNK bytes (0: each message in one write)"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$DRIVER" "${args[@]}" --tmp-root "$tmp_root" --out "$out" "${PROCS[@]}"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

plot="$RESULTS/cpu_per_record-$mode.png"
if [ "$QUICK" = 0 ] && [ -z "$WORKLOADS" ] && [ "$WRITE_CHUNK" = 8192 ]; then plot="$BENCH/cpu_per_record.png"; fi
"$PY" "$BENCH/report.py" "$out" \
  --csv "$RESULTS/summary-$mode-$stamp.csv" \
  --summary-json "$RESULTS/summary-$mode-$stamp.json" \
  --png "$plot" \
  --kclpy "$KCLPY_INSTALLED" \
  --rp "$RP_COPY" \
  --git "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
cp "$out" "$RESULTS/latest-runs.json"
log "results: $out, plot: $plot"

# ------------------------------------------------------------------ stage
# Decoding and writing without the pipe (issue 5's 1 GB/s target names exactly that): the
# run loop in-process over a workload already in memory, against amazon_kclpy's parsing and
# logging doing the same; see bench/stage.py.
if [ "$STAGE" = 1 ]; then
  stage_dir="$STATE/stage"
  rm -rf "$stage_dir"
  mkdir -p "$stage_dir"
  stage_workloads="200B,1MB"
  "$DRIVER" --dump "$stage_dir" --workloads "$stage_workloads" >/dev/null
  stage_out="$RESULTS/stage-$mode-$stamp.json"
  log "stage benchmark (no pipe): $stage_workloads"
  stage_runs=()
  if [ "$QUICK" = 1 ]; then stage_runs=(--runs 3 --python-runs 1); fi
  "$PY" "$BENCH/stage.py" --dump-dir "$stage_dir" --rust "$STAGE_BIN" --python "$PY" \
    --workloads "$stage_workloads" --out "$stage_out" "${stage_runs[@]}"
  rm -rf "$stage_dir"
  log "stage results: $stage_out"
fi
