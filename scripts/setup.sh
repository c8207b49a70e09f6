#!/usr/bin/env bash
# Installs what Veil's build and tests need, skipping whatever is already there, so that a
# fresh machine and a repeated run both work. Usage: scripts/setup.sh [run|test]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root to run: $*" >&2; exit 1; fi
}

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  say "installing $* from Debian"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust with rustup" >&2; exit 1; }
command -v npm >/dev/null || apt_install nodejs npm

if [ "$mode" = test ]; then
  [ -x /usr/bin/chromium ] || apt_install chromium
  # A real Prometheus and promtool: tests scrape /metrics and check deploy/prometheus/*.yml.
  [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || apt_install prometheus
  # Networks that block UDP are network namespaces with nftables rules (ip, nft); the relay
  # they fall back to is a real coturn; several nodes share rooms through a real Redis; the
  # systemd unit is checked with systemd-analyze.
  missing=
  for tool in ip:iproute2 nft:nftables turnserver:coturn redis-server:redis-server \
      systemd-analyze:systemd; do
    command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
  done
  [ -z "$missing" ] || apt_install $missing
fi

# Client dependencies, reinstalled only when the lock file changes.
stamp=client-js/node_modules/.veil-lock
if [ ! -f "$stamp" ] || ! cmp -s client-js/package-lock.json "$stamp"; then
  say "installing client-js npm packages"
  (cd client-js && npm ci --no-audit --no-fund --loglevel=error)
  cp client-js/package-lock.json "$stamp"
fi
