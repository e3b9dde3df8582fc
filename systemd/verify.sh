#!/bin/sh
# Static check of the unit with systemd-analyze verify (CI step and unit test).
# Usage: systemd/verify.sh [UNIT_FILE]   (default: systemd/rayleigh.service next to this script)
#
# verify insists that ExecStart's binary exists, and /usr/bin/node may not on a CI runner, so a
# copy is checked with ExecStart pointing at the node that runs here. systemd-analyze only warns
# (exit 0) on unknown keys or unparsable values, so any output at all counts as a failure.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
unit=${1:-"$here/rayleigh.service"}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "verify.sh: systemd-analyze not installed; skipping" >&2
  exit 0
fi
node_bin=$(command -v node || true)
if [ -z "$node_bin" ]; then
  echo "verify.sh: node not on PATH" >&2
  exit 1
fi
if [ ! -f "$unit" ]; then
  echo "verify.sh: no such unit file: $unit" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the copy keeps the unit's name: verify derives the unit type from the suffix
sed "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" "$unit" > "$tmp/rayleigh.service"

set +e
out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$tmp/rayleigh.service" 2>&1)
rc=$?
set -e
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
  printf '%s\n' "$out" >&2
  echo "verify.sh: $unit FAILED" >&2
  exit 1
fi
echo "verify.sh: $unit OK"
