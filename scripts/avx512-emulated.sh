#!/usr/bin/env bash
# scripts/avx512-emulated.sh -- run the SIMD differential tests (the library's `simd::` unit tests)
# on an emulated CPU that has AVX-512 F/BW/VBMI, for machines (and CI runners) whose CPU lacks it, where
# those tests otherwise only print "SKIPPED avx512...".
#
# How: QEMU's TCG cannot execute AVX-512 and Intel SDE is not freely downloadable, but Bochs 2.7 (a
# full-system emulator) has Ice Lake / Tiger Lake CPU models with AVX-512. So the script
#   1. builds the lib's unit-test binary optimized and statically linked (cargo test --release --lib
#      --no-run, +crt-static, in its own target dir .local/avx512emu/target, so target/ is untouched),
#   2. takes Debian 13 (trixie)'s kernel, 6.12 (the linux-image-amd64 .deb, downloaded with apt-get
#      download through a private apt state under .local/avx512emu/apt, not installed),
#   3. packs an initramfs: a small static /init (scripts/avx512-emulated/init.c) and the test binary,
#   4. makes an isolinux ISO and boots it in Bochs (cpu model corei7_icelake_u by default) with the
#      serial port written to a file; /init prints the guest's CPU flags, runs
#      `simd-tests --test-threads=1 --nocapture simd::`, prints a marker line and powers off,
#   5. reads the serial log: passes (exit 0) only if the guest's flags have avx512f, avx512bw and
#      avx512vbmi, the harness said "test result: ok", the binary exited 0, and no "SKIPPED avx512" line
#      appeared. Any other outcome, including a failure to boot or a timeout, fails with the reason.
#
# How long (2 shared cores, 2026-12-07; docs/avx512.md has the figures): the cold build ~2.5 min, the
# kernel download and the image ~20 s, then Bochs: the boot to /init ~2.5 min of wall time, boot and
# tests 10.5 min (alone) to 23 min (with other emulators running).
#
# Usage: scripts/avx512-emulated.sh
# Environment:
#   CPU_MODEL [corei7_icelake_u]  a Bochs model with AVX-512 VBMI: corei7_icelake_u or tigerlake
#   FILTER [simd::]       the test-name filter passed to the harness (e.g. simd::tests::base64)
#   TIMEOUT [3600]        seconds the emulated run may take before Bochs is killed and the script fails
#                         (10 to 23 min on 2 busy cores, 2026-12-07)
#   MEGS [768]            guest memory in MB
#   IPS [200000000]       Bochs' emulated instructions per guest second (with clock sync=none it only
#                         sets how often guest timers fire per instruction, not the speed)
#   KERNEL_SUITE [trixie]  the Debian suite whose linux-image-amd64 is booted (bookworm's 6.1 does not
#                         boot under Bochs 2.7; see docs/avx512.md)
#   AVX512EMU_DIR [<repo>/.local/avx512emu]  where the build, kernel, image and logs go
#   KEEP_GOING_AFTER_MARKER [30]  seconds to let Bochs exit on its own after the guest powers off
# Needs: cargo, gcc with libc.a (libc6-dev), and the Debian packages bochs bochsbios vgabios isolinux
# syslinux-common xorriso cpio (installed with apt-get when missing and running as root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'avx512-emulated [%s]: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

CPU_MODEL="${CPU_MODEL:-corei7_icelake_u}"
FILTER="${FILTER:-simd::}"
TIMEOUT="${TIMEOUT:-3600}"
MEGS="${MEGS:-768}"
IPS="${IPS:-200000000}"
WORK="${AVX512EMU_DIR:-$ROOT/.local/avx512emu}"
KERNEL_SUITE="${KERNEL_SUITE:-trixie}"
GRACE="${KEEP_GOING_AFTER_MARKER:-30}"
TRIPLE=x86_64-unknown-linux-gnu

[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "TIMEOUT must be a number of seconds, not: $TIMEOUT"
[[ "$MEGS" =~ ^[0-9]+$ ]] || die "MEGS must be a number, not: $MEGS"
[[ "$IPS" =~ ^[0-9]+$ ]] || die "IPS must be a number, not: $IPS"
case "$CPU_MODEL" in
  corei7_icelake_u | tigerlake) ;;
  *) log "CPU_MODEL=$CPU_MODEL is not one known to have AVX-512 VBMI; the guest's flags will tell" ;;
esac

t_start=$SECONDS
mkdir -p "$WORK"

# --- tools ------------------------------------------------------------------------------------------
# Each Debian package and a file it provides, to tell whether it is there without dpkg's say-so.
declare -A provides=(
  [bochs]=/usr/bin/bochs
  [bochsbios]=/usr/share/bochs/BIOS-bochs-latest
  [vgabios]=/usr/share/vgabios/vgabios.bin
  [isolinux]=/usr/lib/ISOLINUX/isolinux.bin
  [syslinux-common]=/usr/lib/syslinux/modules/bios/ldlinux.c32
  [xorriso]=/usr/bin/xorriso
  [cpio]=/usr/bin/cpio
  [file]=/usr/bin/file
  [binutils]=/usr/bin/readelf
  [libc6-dev]=/usr/lib/x86_64-linux-gnu/libc.a
  [gcc]=/usr/bin/gcc
  [jq]=/usr/bin/jq
)
missing=()
for pkg in "${!provides[@]}"; do
  [[ -e "${provides[$pkg]}" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get > /dev/null 2>&1; then
    log "installing ${missing[*]}"
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
      || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; } \
      || die "apt-get could not install: ${missing[*]}"
  else
    die "missing Debian packages (install them, as root): ${missing[*]}"
  fi
fi
command -v cargo > /dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"

# --- 1. the test binary -------------------------------------------------------------------------------
t0=$SECONDS
log "building the lib's unit tests: release, static, target $TRIPLE, in ${WORK#"$ROOT"/}/target"
locked=()
git ls-files --error-unmatch Cargo.lock > /dev/null 2>&1 && locked=(--locked)
# The explicit --target keeps +crt-static away from build scripts and proc-macros, which cannot be
# built with it (as in scripts/build-release.sh); the separate target dir keeps the flag change from
# rebuilding target/ for everyone else.
CARGO_TARGET_DIR="$WORK/target" RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  nice cargo test --release --lib --no-run "${locked[@]}" --target "$TRIPLE" --message-format=json \
  > "$WORK/build.json" || die "cargo could not build the unit tests (its messages are above)"
mapfile -t exes < <(jq -r 'select(.reason == "compiler-artifact" and .profile.test == true
  and (.target.kind | index("lib")) and .executable != null) | .executable' "$WORK/build.json")
((${#exes[@]} == 1)) || die "expected one lib test executable in cargo's output, found ${#exes[@]}: ${exes[*]:-none}"
tests_bin="${exes[0]}"
[[ -x "$tests_bin" ]] || die "cargo named $tests_bin, which is not an executable file"
# A dynamic binary would not run in an initramfs with no libc in it; say so here, not as a
# puzzling "not found" from the guest.
if readelf -l "$tests_bin" | grep -q 'INTERP'; then
  die "$tests_bin asks for a program interpreter (dynamically linked): $(file -b "$tests_bin")"
fi
if readelf -d "$tests_bin" 2> /dev/null | grep -q '(NEEDED)'; then
  die "$tests_bin needs shared libraries: $(readelf -d "$tests_bin" | grep NEEDED | tr -s ' ')"
fi
log "test binary: ${tests_bin#"$ROOT"/} ($(du -h "$tests_bin" | cut -f1), $(file -b "$tests_bin" | cut -d, -f1-2,4-5))"
t_build=$((SECONDS - t0))

# --- 2. the kernel ----------------------------------------------------------------------------------
t0=$SECONDS
kdir="$WORK/kernel"
mkdir -p "$kdir"
# Debian 13 (trixie)'s kernel, whatever the host runs: Debian 12's 6.1 does not boot under Bochs 2.7
# (it wrecks its own exception entry code right after "LSM: Security Framework initializing"), 6.12
# does; and 6.12 is zstd-compressed, which Bochs unpacks in a sixth of the instructions XZ (6.1)
# takes. apt gets its own sources, lists and cache under $WORK/apt, so the host's apt state is neither
# used nor changed; the keyring is Debian's, which signs trixie too.
apt_dir="$WORK/apt"
mkdir -p "$apt_dir/sources.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
cat > "$apt_dir/sources.d/kernel.sources" << EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $KERNEL_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts="$apt_dir/sources.d"
  -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -o Dir::State::status=/dev/null
  -o APT::Sandbox::User=root)
# The lists are refreshed once a day at most: a warm run needs no network. (A stamp of the script's
# own, since apt dates the list files by the archive's Release, not by the download.)
if [[ -z "$(find "$apt_dir" -maxdepth 1 -name "updated-$KERNEL_SUITE" -mmin -1440 2> /dev/null)" ]]; then
  log "apt-get update for Debian $KERNEL_SUITE (in ${apt_dir#"$ROOT"/})"
  if nice apt-get "${apt_opts[@]}" update > "$apt_dir/update.log" 2>&1; then
    touch "$apt_dir/updated-$KERNEL_SUITE"
  else
    log "apt-get update for $KERNEL_SUITE failed ($(tail -n 1 "$apt_dir/update.log")); trying a cached kernel"
  fi
fi
# The metapackage names the current kernel package; the .deb is kept, so a warm run downloads nothing.
kpkg="$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 2> /dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')"
if [[ -z "$kpkg" ]]; then
  kdeb="$(find "$kdir" -maxdepth 1 -name 'linux-image-*-amd64_*.deb' | LC_ALL=C sort | tail -n 1)"
  [[ -n "$kdeb" ]] || die "apt-cache does not know linux-image-amd64 in Debian $KERNEL_SUITE and no kernel .deb is cached in $kdir"
  log "apt-cache does not know linux-image-amd64 in $KERNEL_SUITE; using the cached $(basename "$kdeb")"
else
  kdeb="$(find "$kdir" -maxdepth 1 -name "${kpkg}_*.deb" | LC_ALL=C sort | tail -n 1)"
  if [[ -z "$kdeb" ]]; then
    log "downloading $kpkg (Debian $KERNEL_SUITE)"
    (cd "$kdir" && nice apt-get "${apt_opts[@]}" download "$kpkg" >&2) || die "apt-get download $kpkg failed"
    kdeb="$(find "$kdir" -maxdepth 1 -name "${kpkg}_*.deb" | LC_ALL=C sort | tail -n 1)"
    [[ -n "$kdeb" ]] || die "apt-get download $kpkg left no .deb in $kdir"
  fi
fi
kroot="$kdir/root-$(basename "$kdeb" .deb)"
if [[ ! -d "$kroot/boot" ]]; then
  rm -rf "$kroot.tmp"
  mkdir -p "$kroot.tmp"
  dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$kroot.tmp" --wildcards './boot/*' \
    || die "could not extract /boot from $kdeb"
  mv "$kroot.tmp" "$kroot"
fi
vmlinuz="$(find "$kroot/boot" -name 'vmlinuz-*' | head -n 1)"
kconfig="$(find "$kroot/boot" -name 'config-*' | head -n 1)"
[[ -n "$vmlinuz" && -n "$kconfig" ]] || die "no vmlinuz-* and config-* in $kdeb"
# Nothing but the kernel image is on the ISO: the serial console, the initramfs and devtmpfs must be
# built in, not modules.
for opt in SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP DEVTMPFS PROC_FS X86_64 ACPI; do
  grep -qx "CONFIG_$opt=y" "$kconfig" || die "the kernel in $(basename "$kdeb") lacks CONFIG_$opt=y (built in), which the boot needs"
done
log "kernel: $(basename "$vmlinuz")"
t_kernel=$((SECONDS - t0))

# --- 3. the initramfs --------------------------------------------------------------------------------
t0=$SECONDS
stage="$WORK/initramfs"
rm -rf "$stage"
mkdir -p "$stage"
gcc -static -O2 -Wall -Wextra -Werror -o "$stage/init" "$ROOT/scripts/avx512-emulated/init.c" \
  || die "could not compile scripts/avx512-emulated/init.c statically (is libc6-dev installed?)"
cp "$tests_bin" "$stage/simd-tests"
strip --strip-debug "$stage/simd-tests" 2> /dev/null || true
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner 0:0) \
  | gzip -1 > "$WORK/initrd.gz" || die "could not pack the initramfs"

# --- 4. the ISO and the Bochs config -----------------------------------------------------------------
iso_dir="$WORK/iso"
rm -rf "$iso_dir"
mkdir -p "$iso_dir/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$iso_dir/isolinux/"
cp "$vmlinuz" "$iso_dir/vmlinuz"
cp "$WORK/initrd.gz" "$iso_dir/initrd.gz"
# console=ttyS0: everything, the kernel's messages and the tests', goes to the serial log, the only
# channel out of the guest (the kernel's full log: it is how a boot problem shows; it costs seconds).
# Whatever follows "--" the kernel hands to /init, which hands it to the harness.
# panic=0 keeps a panicking guest halted rather than rebooting in a loop: the log shows it.
# clearcpuid=pku,xsaves,xsavec works around two bugs in Bochs 2.7's CPUID leaf 0xD (XSAVE), without
# which Linux warns and (per fpu__init_system_xstate; not watched to the end here) falls back to no
# XSAVE at all, which takes AVX and AVX-512 away from user space:
#  - PKRU (XCR0 bit 9) is listed as supported, but sub-leaf 9 reports size 0 and offset 0
#    ("x86/fpu: misordered xstate at 1664"); without PKU the kernel leaves PKRU out;
#  - sub-leaf 1 EBX (the size of the compacted XSAVES/XSAVEC area) is the standard-format size (2688
#    for x87..AVX-512), not the compacted one (2432) ("XSAVE consistency problem: size 2432 !=
#    kernel_size 2688"); without XSAVES and XSAVEC the kernel uses the standard format, whose size
#    Bochs reports right.
# ("nopku" is not enough: it only keeps CR4.PKE off, and the kernel still lays out the PKRU state.)
# clearcpuid=aperfmperf: the model advertises APERF/MPERF (CPUID 6) but Bochs has no such MSRs
# ("RDMSR: Unknown register 0xe7" in its log), which the kernel would read on every scheduler tick.
# mitigations=off: the guest runs nothing but the tests; the mitigations only cost emulated time.
# tsc=reliable no_timer_check: the clock is the instruction count (clock sync=none below), so the
# kernel's checks of the TSC and timer against each other can only waste time or misjudge them.
# No nokaslr here: Linux 6.12 handles it before the kernel proper and hands it on to /init as an
# argument, where the harness would take it for a test filter.
read -r -a filter_words <<< "$FILTER"
cat > "$iso_dir/isolinux/isolinux.cfg" << EOF
DEFAULT tests
PROMPT 0
TIMEOUT 0
LABEL tests
  KERNEL /vmlinuz
  APPEND initrd=/initrd.gz console=ttyS0,115200 panic=0 clearcpuid=pku,xsaves,xsavec,aperfmperf mitigations=off tsc=reliable no_timer_check -- --test-threads=1 --nocapture ${filter_words[*]}
EOF
iso="$WORK/avx512emu.iso"
xorriso -as mkisofs -quiet -o "$iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
  -no-emul-boot -boot-load-size 4 -boot-info-table "$iso_dir" 2> "$WORK/xorriso.log" \
  || die "xorriso could not make the ISO: $(tail -n 5 "$WORK/xorriso.log")"
t_image=$((SECONDS - t0))

serial="$WORK/serial.log"
blog="$WORK/bochs.log"
rc="$WORK/bochsrc"
rm -f "$serial" "$blog"
# clock sync=none: the guest's clock follows instructions, not the host's, so a slow, shared host does
# not make the kernel's timers or the test time out. Debian's Bochs has no "nogui" display, only term
# (curses, drawn to bochs.out, which nobody reads) and rfb (a VNC server: an open port); the serial
# file is the output.
# panic/error actions: a Bochs panic ends the run (fatal) instead of asking on a terminal nobody reads.
cat > "$rc" << EOF
cpu: model=$CPU_MODEL, count=1, ips=$IPS, reset_on_triple_fault=0
memory: guest=$MEGS, host=$MEGS
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path="$iso", status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev="$serial"
display_library: term
clock: sync=none, time0=local
log: $blog
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
mouse: enabled=0
EOF

# --- 5. the emulated run -----------------------------------------------------------------------------
bochs_pid=""
drain_pid=""
stop_bochs() {
  if [[ -n "$bochs_pid" ]] && kill -0 "$bochs_pid" 2> /dev/null; then
    kill "$bochs_pid" 2> /dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$bochs_pid" 2> /dev/null || break
      sleep 0.5
    done
    kill -9 "$bochs_pid" 2> /dev/null || true
    wait "$bochs_pid" 2> /dev/null || true
  fi
  bochs_pid=""
  if [[ -n "$drain_pid" ]]; then
    kill "$drain_pid" 2> /dev/null || true
    wait "$drain_pid" 2> /dev/null || true
  fi
  drain_pid=""
}
trap stop_bochs EXIT
trap 'stop_bochs; exit 130' INT TERM

t0=$SECONDS
log "booting Bochs (cpu $CPU_MODEL, ${MEGS} MB; timeout ${TIMEOUT}s); serial log: ${serial#"$ROOT"/}"
# Debian builds Bochs with its debugger, which stops before the first instruction and waits for a
# command; the rc file gives it "continue". /usr/bin/bochs execs bochs-bin, so $! is Bochs itself.
printf 'c\n' > "$WORK/debugger.rc"
TERM=xterm nice bochs -q -f "$rc" -rc "$WORK/debugger.rc" < /dev/null > "$WORK/bochs.out" 2>&1 &
bochs_pid=$!
# Built with its debugger, Bochs' term display opens a pseudo-terminal of its own and draws the guest's
# screen into it for someone to `cat` ("Bochs connected to screen /dev/pts/N" on its output); nobody
# does, so once that terminal's buffer is full Bochs blocks in write() and the guest stops for good
# (seen 2026-12-07 a few minutes into the tests, with the process asleep in n_tty_write). The script
# reads that terminal, raw and without echo, and throws the screen away.
for _ in $(seq 1 60); do
  grep -q '^Bochs connected to screen ' "$WORK/bochs.out" 2> /dev/null && break
  kill -0 "$bochs_pid" 2> /dev/null || break
  sleep 0.5
done
screen_tty="$(sed -n 's/^Bochs connected to screen "\(.*\)"$/\1/p' "$WORK/bochs.out" | head -n 1)"
if [[ -n "$screen_tty" && -c "$screen_tty" ]]; then
  stty -F "$screen_tty" raw -echo || log "could not set $screen_tty raw; Bochs may stall on its screen output"
  # It ends with an I/O error when Bochs closes the terminal: expected, so not shown.
  cat "$screen_tty" > /dev/null 2>&1 &
  drain_pid=$!
else
  log "Bochs named no screen terminal (see $WORK/bochs.out); if the guest stalls, that may be why"
fi

outcome=""
seen_lines=0
while :; do
  if [[ -f "$serial" ]] && grep -q '^AVX512EMU-RESULT ' "$serial"; then
    outcome=marker
    break
  fi
  if [[ -f "$serial" ]] && grep -qE 'Kernel panic|end Kernel panic' "$serial"; then
    outcome=panic
    break
  fi
  if ! kill -0 "$bochs_pid" 2> /dev/null; then
    outcome=bochs-exited
    break
  fi
  if ((SECONDS - t0 > TIMEOUT)); then
    outcome=timeout
    break
  fi
  # Progress for a human watching: the test lines as they come.
  if [[ -f "$serial" ]]; then
    n="$(wc -l < "$serial")"
    if ((n > seen_lines)); then
      sed -n "$((seen_lines + 1)),${n}p" "$serial" | tr -d '\r' | grep -E '^(test |AVX512EMU-|SKIPPED|running )' >&2 || true
      seen_lines=$n
    fi
  fi
  sleep 2
done

if [[ "$outcome" == marker ]]; then
  # The guest has powered off or is about to; give Bochs a moment to notice before stopping it.
  for ((i = 0; i < GRACE * 2; i++)); do
    kill -0 "$bochs_pid" 2> /dev/null || break
    sleep 0.5
  done
fi
stop_bochs
t_run=$((SECONDS - t0))

# --- 6. the verdict ----------------------------------------------------------------------------------
clean="$WORK/serial.txt"
# Bochs creates the serial file at the guest's first byte: none means the kernel never got as far
# as its console.
if [[ -f "$serial" ]]; then
  tr -d '\r' < "$serial" > "$clean"
else
  printf '(nothing: the guest never wrote to the serial port)\n' > "$clean"
fi
case "$outcome" in
  marker) ;;
  panic) die "the guest kernel panicked; the end of the serial log:
$(grep -A 15 'Kernel panic' "$clean" | head -n 30)" ;;
  bochs-exited) die "Bochs exited before the guest reported a result; Bochs said:
$(tail -n 15 "$WORK/bochs.out")
the end of the serial log ($serial):
$(tail -n 15 "$clean")" ;;
  timeout) die "no result after ${TIMEOUT}s; the end of the serial log ($serial):
$(tail -n 15 "$clean")" ;;
esac

flags="$(sed -n 's/^AVX512EMU-FLAGS flags[[:space:]]*:[[:space:]]*//p' "$clean" | head -n 1)"
model="$(sed -n 's/^AVX512EMU-CPU model name[[:space:]]*:[[:space:]]*//p' "$clean" | head -n 1)"
result="$(grep '^AVX512EMU-RESULT ' "$clean" | head -n 1)"
avx512_flags="$(tr ' ' '\n' <<< "$flags" | grep -E '^avx512' | tr '\n' ' ')"
printf '\nguest CPU: %s (Bochs model %s)\n' "${model:-?}" "$CPU_MODEL"
printf 'guest AVX-512 flags: %s\n' "${avx512_flags:-none}"
printf 'guest flags: %s\n' "${flags:-none reported}"
printf '\n'
grep -E '^(test |SKIPPED |running [0-9]+ tests|test result:|failures:|---- |thread .* panicked)' "$clean" || true
printf '\n%s\n' "$result"

problems=()
for f in avx512f avx512bw avx512vbmi; do
  [[ " $flags " == *" $f "* ]] || problems+=("the guest CPU lacks $f")
done
grep -q '^test result: ok\.' "$clean" || problems+=("the harness did not report \"test result: ok\"")
grep -q '^test result: FAILED' "$clean" && problems+=("the harness reported FAILED")
[[ "$result" == *"status=exit:0 "* ]] || problems+=("the test binary did not exit 0 (${result#AVX512EMU-RESULT })")
grep -q '^running 0 tests' "$clean" && problems+=("the filter \"$FILTER\" matched no tests")
if grep -q '^SKIPPED avx512' "$clean"; then
  problems+=("AVX-512 variants were skipped: $(grep '^SKIPPED avx512' "$clean" | sort -u | tr '\n' ';')")
fi

# The variants: each run_or_skip name either printed SKIPPED or ran (the tests that call it passed or
# failed above). The names are the ones src/simd/tests/ passes to run_or_skip.
mapfile -t variant_names < <(grep -rhoE 'run_or_skip\("[^"]+"' src/simd/tests | sed 's/run_or_skip("//; s/"$//' | LC_ALL=C sort -u)
printf '\nvariants (run_or_skip names in src/simd/tests):\n'
for v in "${variant_names[@]}"; do
  if grep -qF "SKIPPED $v:" "$clean"; then
    printf '  %-22s SKIPPED\n' "$v"
  else
    printf '  %-22s ran\n' "$v"
  fi
done

t_total=$((SECONDS - t_start))
printf '\ntimes: build %ss, kernel %ss, initramfs+ISO %ss, emulated boot+tests %ss, total %ss\n' \
  "$t_build" "$t_kernel" "$t_image" "$t_run" "$t_total"

if ((${#problems[@]})); then
  for p in "${problems[@]}"; do log "FAIL: $p"; done
  log "serial log: $serial"
  exit 1
fi
log "PASS: the AVX-512 variants ran under Bochs ($CPU_MODEL) and matched the portable code"
