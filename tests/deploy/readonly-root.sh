#!/usr/bin/env bash
# tests/deploy/readonly-root.sh -- run the image's /app/run.sh the way the task definition does, without
# Docker: in a private mount namespace, chrooted into a root filesystem that is read-only except the
# task's volumes, as the image's non-root user. Used by tests/deploy/test_readonly_root.py, which prepares
# WORK and reads the results.
#
#   tests/deploy/readonly-root.sh WORK
#
# WORK holds (all prepared by the caller):
#   app/              the image's /app as the Dockerfile's COPY lines lay it out (root-owned)
#   volumes           one line per task volume: NAME<TAB>CONTAINER_PATH; its contents are WORK/vol/NAME
#   env               the container's environment, one NAME=VALUE per line (image ENV, then the task's)
#   user              UID:GID to run as (the Dockerfile's USER, the task definition's user)
#   fake/java         the stand-in for the JVM, mounted read-only at /fake
#   heartbeat         the host path of the heartbeat file that shows the processor runs (in a volume)
# and gets out/: stdout, stderr and rc of run.sh, health.out and health.rc of `record_processor health`
# run inside while the processor held its lease.
#
# Exit status: 0 when the run was carried out (whatever run.sh did; the caller judges), 77 when this
# machine cannot do it (not root, or no unshare/chroot/setpriv), other on a harness failure.
set -euo pipefail

work="${1:?usage: $0 WORK}"

if [[ "${READONLY_ROOT_INNER:-}" != 1 ]]; then
  for tool in unshare chroot setpriv mount; do
    command -v "$tool" > /dev/null 2>&1 || { echo "skip: $tool not found" >&2; exit 77; }
  done
  (( EUID == 0 )) || { echo "skip: needs root (mount namespaces, chroot)" >&2; exit 77; }
  READONLY_ROOT_INNER=1 exec unshare --mount --propagation private -- "$0" "$@"
fi

root="$work/root" out="$work/out"
mkdir -p "$root" "$out"
# The new root: a small tmpfs holding mount points and the links a Debian-style /usr merge needs,
# the host's /usr and /etc for bash, coreutils and gawk, and the image's /app.
mount -t tmpfs -o size=4m tmpfs "$root" || { echo "skip: cannot mount here" >&2; exit 77; }
mkdir -p "$root/app" "$root/usr" "$root/etc" "$root/dev" "$root/proc" "$root/tmp" "$root/fake"
for top in bin sbin lib lib64; do
  if [[ -L "/$top" ]]; then
    ln -s "$(readlink "/$top")" "$root/$top"
  elif [[ -d "/$top" ]]; then
    mkdir "$root/$top" && mount --rbind "/$top" "$root/$top"
  fi
done
for dir in usr etc dev proc; do mount --rbind "/$dir" "$root/$dir"; done
mount --bind "$work/app" "$root/app"
mount --bind "$work/fake" "$root/fake"
while IFS=$'\t' read -r name path; do
  mount --bind "$work/vol/$name" "$root$path"
done < "$work/volumes"
# Read-only: the root itself (so /tmp too, as on Fargate with readonlyRootFilesystem), /app, the
# host's directories and the fake JVM; the volumes stay writable.
mount -o remount,ro "$root"
for dir in app usr etc fake; do mount -o remount,bind,ro "$root/$dir"; done

mapfile -t container_env < "$work/env"
user="$(< "$work/user")"
# chroot, setpriv and env each exec the next: backgrounded, the command's pid is run.sh's own.
in_container=(chroot "$root" setpriv --reuid "${user%%:*}" --regid "${user##*:}" --clear-groups
  env -i PATH=/usr/local/bin:/usr/bin:/bin "${container_env[@]}")

"${in_container[@]}" /app/run.sh > "$out/stdout" 2> "$out/stderr" &
run_pid=$!
heartbeat="$(< "$work/heartbeat")"
for _ in $(seq 1 200); do
  [[ -s "$heartbeat" ]] && break
  kill -0 "$run_pid" 2> /dev/null || break
  sleep 0.1
done
health_rc=0
"${in_container[@]}" /app/bin/record_processor health > "$out/health.out" 2>&1 || health_rc=$?
printf '%s\n' "$health_rc" > "$out/health.rc"
kill -TERM "$run_pid" 2> /dev/null || true
rc=0
wait "$run_pid" || rc=$?
printf '%s\n' "$rc" > "$out/rc"
