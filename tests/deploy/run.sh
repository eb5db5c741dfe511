#!/usr/bin/env bash
# tests/deploy/run.sh -- the deployment's tests: cfn-lint on deploy/consumer.yaml, checkov on it and on the
# Dockerfile, then the Python tests beside this script (least privilege against deploy/kcl-api-actions.json, the template's contents, the
# invariants it shares with the Dockerfile, the properties template and the scripts, and run.sh on a
# read-only root filesystem).
#
#   tests/deploy/run.sh
#
# Needs python3 with venv and pip, and target/ship/record_processor (built with scripts/build-release.sh
# if missing). Installs tests/deploy/requirements.txt (cfn-lint, checkov and PyYAML, pinned) into a virtual
# environment under ${XDG_CACHE_HOME:-~/.cache}/kcl-multilang/, keyed by the requirements' checksum, so
# nothing lands in the checkout. The read-only-root test needs root (a mount namespace and chroot) and is
# skipped, saying so, without it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/tests/deploy"
requirements="$here/requirements.txt"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/kcl-multilang"
venv="$cache/deploy-venv-$(cksum < "$requirements" | cut -d' ' -f1)"
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the checkout

if [[ ! -x "$venv/bin/cfn-lint" || ! -x "$venv/bin/checkov" ]]; then
  echo "installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $venv"
  rm -rf -- "$venv"
  mkdir -p -- "$cache"
  log="$(mktemp "${TMPDIR:-/tmp}/deploy-venv.XXXXXX")"
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"; } > "$log" 2>&1; then
    cat -- "$log" >&2
    rm -f -- "$log"
    rm -rf -- "$venv"
    echo "tests/deploy: could not install $requirements (python3 -m venv, pip)" >&2
    exit 1
  fi
  rm -f -- "$log"
fi

if [[ ! -x "$repo/target/ship/record_processor" ]]; then
  echo "building target/ship/record_processor (scripts/build-release.sh)"
  "$repo/scripts/build-release.sh" > /dev/null
fi

echo "# $("$venv/bin/cfn-lint" --version) on deploy/consumer.yaml (informational checks included)"
"$venv/bin/cfn-lint" --include-checks I -- "$repo/deploy/consumer.yaml"
echo "ok   - cfn-lint deploy/consumer.yaml"

# A new finding fails the run; a check that does not apply is skipped on the resource itself, with its
# reason (docs/deploy.md, "Tests"). BC_SKIP_MAPPING and CKV_NO_GUIDE keep checkov from asking an outside
# service for guideline links, which fails here after a long traceback; --skip-download likewise.
echo "# checkov $("$venv/bin/checkov" --version) on deploy/consumer.yaml and Dockerfile"
report="$(cd "$repo" && BC_SKIP_MAPPING=TRUE CKV_NO_GUIDE=1 "$venv/bin/checkov" --quiet --skip-download \
  --framework cloudformation dockerfile -f deploy/consumer.yaml -f Dockerfile -o json)" || true
"$venv/bin/python" "$here/checkov_report.py" cloudformation dockerfile <<< "$report"
echo "ok   - checkov deploy/consumer.yaml Dockerfile"

cd "$here"
"$venv/bin/python" -m unittest discover -s "$here" -p 'test_*.py' -v
