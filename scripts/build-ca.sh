#!/usr/bin/env bash
# scripts/build-ca.sh -- run one command of a Dockerfile build stage so that its HTTPS downloads (rustup,
# cargo, Maven) also trust an extra CA bundle, given to the build as the secret "ca":
#
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t kcl-multilang .
#   (in the Dockerfile) RUN --mount=type=secret,id=ca bash scripts/build-ca.sh CMD [ARGS...]
#
# Behind a TLS-inspecting proxy the downloads fail with "self-signed certificate in chain" unless the
# proxy's CA is trusted. Without the secret (or with an empty one) CMD runs as it is.
#
# With the secret, each certificate of the bundle is added to the stage's system store
# (/usr/local/share/ca-certificates, update-ca-certificates: the PEM bundle OpenSSL, curl, rustup and cargo
# read, and, where ca-certificates-java is installed, the JDK's cacerts that Maven reads), CMD runs, and
# the store is rebuilt without them whatever CMD's outcome: the layer keeps no trace of the bundle. The
# secret itself is only mounted for the one RUN step, and the runtime stage never mounts it.
# Exit status: CMD's. Needs root and the ca-certificates package (build stages run as root).
#
# Environment: BUILD_CA_FILE [/run/secrets/ca]  where the bundle is mounted
set -euo pipefail

log() { printf 'build-ca: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

(( $# > 0 )) || die "usage: build-ca.sh CMD [ARGS...] (see the comment at the top)"
bundle="${BUILD_CA_FILE:-/run/secrets/ca}"
if [[ ! -s "$bundle" ]]; then
  "$@"
  exit
fi
command -v update-ca-certificates > /dev/null 2>&1 \
  || die "$bundle is given but update-ca-certificates is missing: install ca-certificates in this stage"

dir=/usr/local/share/ca-certificates/build-ca
restore() {
  rm -rf -- "$dir"
  update-ca-certificates --fresh > /dev/null 2>&1 || log "WARNING: could not rebuild the CA store"
}
trap restore EXIT
mkdir -p -- "$dir"
# update-ca-certificates takes one certificate per file: split the bundle.
awk -v dir="$dir" '
  /-----BEGIN CERTIFICATE-----/ { n++; file = sprintf("%s/extra-%04d.crt", dir, n) }
  file != "" { print > file }
  /-----END CERTIFICATE-----/ { close(file); file = "" }
  END { if (n == 0) exit 1 }
' "$bundle" || die "$bundle holds no PEM certificate"
update-ca-certificates > /dev/null 2>&1 || die "update-ca-certificates failed with the certificates of $bundle"
log "trusting the $(find "$dir" -name '*.crt' | wc -l) certificate(s) of $bundle for: $*"
"$@"
