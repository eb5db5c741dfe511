#!/usr/bin/env bash
# set_properties.sh -- render the KCL MultiLangDaemon properties template into the file the daemon reads.
#
#   set_properties.sh          render (run.sh does at every start); configured by the environment only
#   set_properties.sh --help   print this text
#
#   PROPERTIES_TEMPLATE (default $APP_HOME/properties/record_processor.properties)
#     -> PROPERTIES_FILE (default $APP_HOME/record_processor.properties)
#
# Required environment: REGION, STREAM_NAME, APPLICATION_NAME (-> regionName, streamName, applicationName).
# executableName defaults to "$RECORD_PROCESSOR_BIN --log-file $LOG_DIR/record_processor.log".
# Any property can be set as KCL_<propertyName>=value, the name verbatim (KCL_maxLeasesForWorker=4,
# KCL_fanoutConfig.consumerName=x -- `env` can pass a dot even though bash cannot hold it in a variable;
# "__" also stands for "."). It replaces the property in the template, or is appended.
#
# Values are escaped for java.util.Properties.load (backslashes, leading/trailing spaces, tabs, control
# characters, non-ASCII as \uXXXX), so the daemon reads back exactly the given string. A value holding a
# newline is refused. Rendering is done in awk (no sed replacement, no eval): any character is safe.
# The output depends only on the template, the environment and the jars: re-running gives the same file.
#
# KCL version: if JARS_DIR holds amazon-kinesis-client-multilang-2.*.jar up to 2.6 (SDK v1), the KCL 3.x line
# "AwsCredentialsProvider = DefaultCredentialsProvider" is rewritten to the SDK v1 form KCL 2.x needs,
# "AWSCredentialsProvider = DefaultAWSCredentialsProviderChain"; with any KCL 2.x jars, the template's
# KCL 3.x lease-assignment lines (leaseAssignmentIntervalMillis, varianceBalancingFrequency) are
# commented out (set through KCL_<name>, they are kept, and check-properties warns).
set -euo pipefail
export LC_ALL=C   # byte semantics for the checks below and for awk's escaping

case "$#:${1:-}" in
  0:) ;;
  1:-h | 1:--help)
    sed -n '2,/^set -euo pipefail/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *)
    printf 'set_properties: ERROR: unexpected argument(s): %s (usage: set_properties.sh [--help]; everything else comes from the environment)\n' "$*" >&2
    exit 1
    ;;
esac

self_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP_HOME="${APP_HOME:-$self_dir}"
PROPERTIES_TEMPLATE="${PROPERTIES_TEMPLATE:-$APP_HOME/properties/record_processor.properties}"
PROPERTIES_FILE="${PROPERTIES_FILE:-$APP_HOME/record_processor.properties}"
JARS_DIR="${JARS_DIR:-$APP_HOME/jars}"
LOG_DIR="${LOG_DIR:-$APP_HOME/logs}"
if [[ -z "${RECORD_PROCESSOR_BIN:-}" ]]; then
  RECORD_PROCESSOR_BIN="$APP_HOME/bin/record_processor"
  # a source checkout: the binary scripts/build-release.sh places, else a plain `cargo build --release`
  for candidate in "$APP_HOME/target/ship/record_processor" "$APP_HOME/target/release/record_processor"; do
    if [[ ! -e "$RECORD_PROCESSOR_BIN" && -e "$candidate" ]]; then RECORD_PROCESSOR_BIN="$candidate"; fi
  done
fi

log() { printf 'set_properties: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

abspath() { # make a path absolute (the daemon's working directory is not ours to rely on)
  case "$1" in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}
has_line_break() { [[ "$1" == *$'\n'* || "$1" == *$'\r'* ]]; }

# ------------------------------------------------------------------ checks
missing=()
for var in REGION STREAM_NAME APPLICATION_NAME; do
  [[ -n "${!var:-}" ]] || missing+=("$var")
done
if (( ${#missing[@]} > 0 )); then
  die "required environment variable(s) not set: ${missing[*]} (REGION -> regionName, STREAM_NAME -> streamName, APPLICATION_NAME -> applicationName)"
fi
[[ -f "$PROPERTIES_TEMPLATE" && -r "$PROPERTIES_TEMPLATE" ]] \
  || die "properties template not found or not readable: PROPERTIES_TEMPLATE=$PROPERTIES_TEMPLATE"
[[ "$(abspath "$PROPERTIES_TEMPLATE")" != "$(abspath "$PROPERTIES_FILE")" ]] \
  || die "PROPERTIES_FILE must differ from PROPERTIES_TEMPLATE ($PROPERTIES_FILE)"
for var in REGION STREAM_NAME APPLICATION_NAME; do
  if has_line_break "${!var}"; then die "$var contains a line break: property values must be one line"; fi
done

# ------------------------------------------------------------------ the properties to set, in order
# One "key<TAB>value" line each; later lines win. Values are raw here and escaped by awk.
keys=() values=() sources=()
add() { keys+=("$1"); values+=("$2"); sources+=("$3"); }

add regionName "$REGION" REGION
add streamName "$STREAM_NAME" STREAM_NAME
add applicationName "$APPLICATION_NAME" APPLICATION_NAME

# KCL_* from the real environment (names may contain dots, which bash variables cannot), sorted by name
# so that the appended lines come out in a stable order.
kcl_names=() kcl_values=()
while IFS= read -r -d '' entry; do
  name="${entry%%=*}"
  [[ "$name" == KCL_* ]] || continue
  kcl_names+=("$name")
  kcl_values+=("${entry#*=}")
done < <(env -0 | sort -z)

user_executable=0 applied=0
for i in "${!kcl_names[@]}"; do
  name="${kcl_names[$i]}" value="${kcl_values[$i]}"
  key="${name#KCL_}"
  key="${key//__/.}"
  if [[ ! "$key" =~ ^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$ ]]; then
    case "$name" in
      KCL_JARS_SOURCE | KCL_CACHE_DIR | KCL_JARS_FORCE | KCL_MAVEN_TIMEOUT) ;;   # settings of our own scripts
      *) log "note: ignoring $name: \"$key\" is not a property name (letters and digits, dot-separated)" ;;
    esac
    continue
  fi
  if has_line_break "$value"; then
    die "$name contains a line break: property values must be one line (the daemon reads a properties file)"
  fi
  if [[ "$key" == executableName ]]; then user_executable=1; fi
  add "$key" "$value" "$name"
  applied=$((applied + 1))
done

# executableName: the daemon splits it on spaces and cannot quote, so refuse paths with whitespace.
if (( user_executable == 0 )); then
  bin="$RECORD_PROCESSOR_BIN"
  if [[ "$bin" == */* ]]; then bin="$(abspath "$bin")"; fi
  log_file="$(abspath "$LOG_DIR")/record_processor.log"
  [[ "$bin" != *[[:space:]]* ]] \
    || die "RECORD_PROCESSOR_BIN contains whitespace ($bin): the daemon splits executableName on spaces and cannot quote; use a path without spaces (or a symlink)"
  [[ "$log_file" != *[[:space:]]* ]] \
    || die "LOG_DIR contains whitespace ($log_file): the daemon splits executableName on spaces and cannot quote; use a path without spaces"
  keys=(executableName "${keys[@]}")
  values=("$bin --log-file $log_file" "${values[@]}")
  sources=("RECORD_PROCESSOR_BIN/LOG_DIR" "${sources[@]}")
fi

# ------------------------------------------------------------------ KCL version from the jars
kcl_version="" kcl_major=""
shopt -s nullglob
multilang_jars=("$JARS_DIR"/amazon-kinesis-client-multilang-[0-9]*.jar)
shopt -u nullglob
for jar in "${multilang_jars[@]}"; do
  v="${jar##*/amazon-kinesis-client-multilang-}"
  v="${v%.jar}"
  if [[ -n "$kcl_major" && "$kcl_major" != "${v%%.*}" ]]; then
    die "JARS_DIR ($JARS_DIR) holds multilang jars of different KCL versions ($kcl_version and $v): keep one set"
  fi
  kcl_version="$v" kcl_major="${v%%.*}"
done
# KCL up to 2.6 reads SDK v1 credential providers; 2.7 dropped SDK v1 (KCL PR #1444) and reads the
# 3.x key AwsCredentialsProvider with SDK v2 class names.
sdk_v1=0
if [[ "$kcl_major" == 2 ]]; then
  kcl_minor="${kcl_version#2.}"
  kcl_minor="${kcl_minor%%.*}"
  [[ "$kcl_minor" =~ ^[0-9]+$ ]] && (( kcl_minor < 7 )) && sdk_v1=1
fi
if [[ -z "$kcl_major" ]]; then
  log "KCL version: unknown (no amazon-kinesis-client-multilang-*.jar in JARS_DIR=$JARS_DIR); assuming KCL 3.x"
elif [[ "$sdk_v1" == 1 ]]; then
  log "KCL version: $kcl_version (from JARS_DIR=$JARS_DIR): credentials need the SDK v1 key AWSCredentialsProvider"
else
  log "KCL version: $kcl_version (KCL ${kcl_major}.x, from JARS_DIR=$JARS_DIR)"
fi

# ------------------------------------------------------------------ render
out_dir="$(dirname "$PROPERTIES_FILE")"
[[ -d "$out_dir" ]] || die "directory of PROPERTIES_FILE does not exist: $out_dir"
tmp_files=()
cleanup() { (( ${#tmp_files[@]} == 0 )) || rm -f -- "${tmp_files[@]}"; }
trap cleanup EXIT
overrides="$(mktemp "${TMPDIR:-/tmp}/set_properties.XXXXXX")"
tmp_files+=("$overrides")
for i in "${!keys[@]}"; do
  printf '%s\t%s\t%s\n' "${keys[$i]}" "${sources[$i]}" "${values[$i]}"
done > "$overrides"

if [[ -w "$out_dir" ]]; then
  rendered="$(mktemp "$PROPERTIES_FILE.XXXXXX")"
else
  rendered="$(mktemp "${TMPDIR:-/tmp}/set_properties.XXXXXX")"
fi
tmp_files+=("$rendered")

# shellcheck disable=SC2016  # the awk program is single-quoted on purpose
awk_program='
function fail(msg) { print "set_properties: ERROR: " msg > "/dev/stderr"; failed = 1; exit 1 }
function warn(msg) { print "set_properties: WARNING: " msg > "/dev/stderr" }
function u4(cp) { return sprintf("\\u%04X", cp) }
# Escape a raw (byte) string for java.util.Properties.load, which reads ISO-8859-1 + \uXXXX escapes.
function esc(s, src,    out, i, n, c, b, need, cp, j, b2, minv) {
  out = ""; n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1); b = ORD[c]
    if (c == "\\") out = out "\\\\"
    else if (c == "\t") out = out "\\t"
    else if (c == "\f") out = out "\\f"
    else if (c == " " && (i == 1 || i == n)) out = out "\\ "
    else if (b >= 32 && b < 127) out = out c
    else if (b < 128) out = out u4(b)
    else {
      if (b >= 194 && b <= 223) { need = 1; cp = b - 192; minv = 128 }
      else if (b >= 224 && b <= 239) { need = 2; cp = b - 224; minv = 2048 }
      else if (b >= 240 && b <= 244) { need = 3; cp = b - 240; minv = 65536 }
      else fail(src " is not valid UTF-8 (byte " b " at position " i ")")
      if (i + need > n) fail(src " is not valid UTF-8 (truncated sequence at position " i ")")
      for (j = 1; j <= need; j++) {
        b2 = ORD[substr(s, i + j, 1)]
        if (b2 < 128 || b2 > 191) fail(src " is not valid UTF-8 (position " (i + j) ")")
        cp = cp * 64 + (b2 - 128)
      }
      if (cp < minv || cp > 1114111 || (cp >= 55296 && cp <= 57343))
        fail(src " is not valid UTF-8 (bad code point at position " i ")")
      i += need
      if (cp >= 65536) { cp -= 65536; out = out u4(55296 + int(cp / 1024)) u4(56320 + cp % 1024) }
      else out = out u4(cp)
    }
  }
  return out
}
function trim(s) { sub(/^[ \t\f]+/, "", s); sub(/[ \t\f]+$/, "", s); return s }
# Number of backslashes at the end of s (odd = the line continues on the next one).
function trailing_bs(s,    k) { k = 0; while (k < length(s) && substr(s, length(s) - k, 1) == "\\") k++; return k }
# Split a logical property line into KEY and RAWVAL (globals). Returns 0 for blank/comment lines.
function parse(line,    i, n, c, k) {
  sub(/^[ \t\f]+/, "", line)
  if (line == "" || substr(line, 1, 1) == "#" || substr(line, 1, 1) == "!") return 0
  n = length(line); k = ""
  for (i = 1; i <= n; i++) {
    c = substr(line, i, 1)
    if (c == "\\" && i < n) { i++; k = k substr(line, i, 1); continue }
    if (c == "=" || c == ":" || c == " " || c == "\t" || c == "\f") break
    k = k c
  }
  line = substr(line, i); sub(/^[ \t\f]+/, "", line)
  if (substr(line, 1, 1) == "=" || substr(line, 1, 1) == ":") { line = substr(line, 2); sub(/^[ \t\f]+/, "", line) }
  KEY = k; RAWVAL = line
  return 1
}
# Credentials: KCL 2.x reads AWSCredentialsProvider with SDK v1 class names, KCL 3.x AwsCredentialsProvider
# (case-insensitively) with SDK v2 class names.
function check_credentials(key, val) {
  if (tolower(substr(key, 1, 22)) != "awscredentialsprovider") return
  if (sdk_v1 == "1" && substr(key, 1, 3) == "Aws")
    warn("KCL 2.x jars, but \"" key " = " val "\" uses the KCL 3.x key: KCL 2.x reads AWSCredentialsProvider with SDK v1 class names (e.g. DefaultAWSCredentialsProviderChain); use KCL_AWSCredentialsProvider or the KCL 3.x jars")
  if (sdk_v1 != "1" && index(val, "AWSCredentialsProvider") > 0)
    warn("\"" key " = " val "\" looks like an SDK v1 provider name, which KCL 3.x rejects: use SDK v2 names, e.g. AwsCredentialsProvider = DefaultCredentialsProvider")
}
function emit(key, val, raw) {
  if (sdk_v1 == "1" && key == "AwsCredentialsProvider" && trim(raw) == "DefaultCredentialsProvider") {
    if ("AWSCredentialsProvider" in ACTIVE || "AWSCredentialsProvider" in OV) {
      print "# KCL 2.x jars: AWSCredentialsProvider is set elsewhere in this file; the 3.x default is disabled:"
      print "#AwsCredentialsProvider = DefaultCredentialsProvider"
    } else {
      print "# KCL " kcl_version " jars detected: SDK v1 credentials key and class name (was: AwsCredentialsProvider = DefaultCredentialsProvider)"
      print "AWSCredentialsProvider = DefaultAWSCredentialsProviderChain"
      REWROTE = 1
    }
    return
  }
  check_credentials(key, raw)
  print key " = " val
}
BEGIN {
  for (i = 1; i < 256; i++) ORD[sprintf("%c", i)] = i
  pass = 0
}
FILENAME == ovfile {
  t1 = index($0, "\t"); rest = substr($0, t1 + 1); t2 = index(rest, "\t")
  k = substr($0, 1, t1 - 1); src = substr(rest, 1, t2 - 1); v = substr(rest, t2 + 1)
  if (!(k in OV)) ORDER[++nov] = k
  else if (OVSRC[k] != src) warn(src " overrides " OVSRC[k] " for property " k)
  OV[k] = esc(v, src); OVRAW[k] = v; OVSRC[k] = src
  next
}
FNR == 1 { pass++; logical = ""; cont = 0 }
{
  line = $0; sub(/\r$/, "", line)
  # Assemble logical lines (a line ending in an odd number of backslashes continues).
  if (cont) { sub(/^[ \t\f]+/, "", line); logical = logical line; physical = physical "\n" $0 }
  else { logical = line; physical = $0 }
  if (logical !~ /^[ \t\f]*[#!]/ && trailing_bs(line) % 2 == 1) { logical = substr(logical, 1, length(logical) - 1); cont = 1; next }
  cont = 0
  is_prop = parse(logical)
  if (pass == 1) { if (is_prop) ACTIVE[KEY] = 1; next }
  if (!header_done) {
    print "# GENERATED by set_properties.sh from " tpl_name " -- edits here are lost at the next start:"
    print "# edit the template, or set KCL_<propertyName>=value in the environment."
    header_done = 1
  }
  if (is_prop && KEY in OV) { emit(KEY, OV[KEY], OVRAW[KEY]); DONE[KEY] = 1; next }
  if (is_prop) {
    if (RAWVAL ~ /@[A-Z_]+@/) warn("template property " KEY " still holds a placeholder: " RAWVAL)
    if (sdk_v1 == "1" && KEY == "AwsCredentialsProvider") { emit(KEY, RAWVAL, RAWVAL); next }
    # The KCL 3.x lease-assignment settings of the template mean nothing to KCL 2.x: commented out, so that
    # 2.x users get no warning for lines they did not write.
    if (kcl_major == "2" && (KEY == "leaseAssignmentIntervalMillis" || KEY == "varianceBalancingFrequency")) {
      print "# KCL " kcl_version " jars detected: a KCL 3.x lease-assignment property, which KCL 2.x does not read:"
      print "#" physical
      next
    }
    check_credentials(KEY, RAWVAL)
  }
  print physical
}
END {
  if (failed) exit 1
  if (!header_done) {
    print "# GENERATED by set_properties.sh from " tpl_name " -- edits here are lost at the next start:"
    print "# edit the template, or set KCL_<propertyName>=value in the environment."
  }
  appended = 0
  for (i = 1; i <= nov; i++) {
    k = ORDER[i]
    if (k in DONE) continue
    if (!appended) { print ""; print "# ---- set from the environment by set_properties.sh (not in the template) ----"; appended = 1 }
    emit(k, OV[k], OVRAW[k])
  }
  if (REWROTE) print "set_properties: KCL 2.x: wrote AWSCredentialsProvider = DefaultAWSCredentialsProviderChain instead of AwsCredentialsProvider = DefaultCredentialsProvider" > "/dev/stderr"
}
'

awk -v ovfile="$overrides" -v tpl_name="$PROPERTIES_TEMPLATE" \
  -v sdk_v1="$sdk_v1" -v kcl_version="$kcl_version" -v kcl_major="$kcl_major" \
  "$awk_program" "$overrides" "$PROPERTIES_TEMPLATE" "$PROPERTIES_TEMPLATE" > "$rendered" \
  || die "could not render $PROPERTIES_TEMPLATE (see above); $PROPERTIES_FILE left unchanged"

chmod 0644 "$rendered"
if [[ "$(dirname "$rendered")" == "$out_dir" ]]; then
  mv -f -- "$rendered" "$PROPERTIES_FILE"   # atomic replace
else
  cat -- "$rendered" > "$PROPERTIES_FILE"   # directory not writable (e.g. a pre-created file in /app)
fi
log "wrote $PROPERTIES_FILE (streamName=$STREAM_NAME applicationName=$APPLICATION_NAME regionName=$REGION, $applied property(ies) from KCL_* variables)"
