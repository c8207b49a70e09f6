#!/usr/bin/env bash
# Installs Janus (Debian's `janus` package: the gateway and its VideoRoom plugin), the second
# same-run baseline of `make bench` (docs/benchmarks.md). Does nothing if `janus` is already on
# the PATH. Not part of `make test`: CI never runs Janus.
set -euo pipefail

if command -v janus >/dev/null; then
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup-janus: need root to run: $*" >&2; exit 1; fi
}

printf '\033[1msetup:\033[0m installing janus from Debian\n'
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends janus >/dev/null
command -v janus >/dev/null || { echo "setup-janus: janus is still not on the PATH" >&2; exit 1; }
