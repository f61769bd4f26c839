#!/usr/bin/env bash
# Install everything fleetctl and its local lab need, on Debian 12, as root. Idempotent.
#   apt: Python venv, iproute2, OpenSSH server, Docker engine (docker.io), Node.js/npm
#   npm: anvil (the lab's Ethereum JSON-RPC node) into .tools/; with --test also Lodestar (scripts/lodestar.sh)
#   venv: .venv with fleetctl and its lab (lab/, fleetctl-lab) installed from this checkout (not
#   editable: what users get)
#   --test: fleetctl's test extras too; --bench: also the peers benchmarks/health.py measures
#   against (apt: monitoring-plugins-basic for check_http, prometheus-blackbox-exporter)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (apt-get, network namespaces, dockerd): from a root shell, ./scripts/setup.sh" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# python3-requests/-yaml: the managed hosts' Python for community.docker modules and the lab's
# RelayMiner; haproxy: the lab's balancer image is built from the host's binary.
pkgs=(python3 python3-venv python3-pip python3-requests python3-yaml iproute2 util-linux procps openssh-server openssh-client
      docker.io containerd runc haproxy ca-certificates)
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
for arg in "$@"; do
  case "$arg" in --bench) pkgs+=(monitoring-plugins-basic prometheus-blackbox-exporter) ;; esac
  # --test: scripts/lodestar.sh builds two native modules with node-gyp against Node's own headers
  # (NodeSource's nodejs ships them; Debian's nodejs 18 has them in libnode-dev).
  # tmux: the TUI's end-to-end test drives `fleetctl tui` in a real terminal (and benchmarks/tui.py).
  case "$arg" in --test) pkgs+=(g++ make tmux); [ -f /usr/include/node/node.h ] || pkgs+=(libnode-dev) ;; esac
  case "$arg" in --bench) pkgs+=(tmux) ;; esac
done
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --test: promtool for tests/unit/test_monitoring_kit.py, from Debian's prometheus package (about
# 12 packages, 96 MB, 10-20 s), which also ships a Prometheus server that would listen on every
# address (:9090). It is installed on its own with service starts refused (a policy-rc.d that
# exits 101 for the duration, unless one exists already), then disabled and stopped.
for arg in "$@"; do
  [ "$arg" = --test ] && ! command -v promtool >/dev/null 2>&1 || continue
  echo "setup: apt-get install prometheus (for promtool; its server is neither started nor enabled)"
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  prom_rc=0
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null || prom_rc=$?
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  else
    update-rc.d prometheus disable >/dev/null 2>&1 || true
    invoke-rc.d prometheus stop >/dev/null 2>&1 || true
  fi
  [ "$prom_rc" = 0 ] || { echo "setup: apt-get install prometheus failed" >&2; exit 1; }
done

anvil=.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
if [ ! -x "$anvil" ]; then
  echo "setup: npm install @foundry-rs/anvil"
  mkdir -p .tools
  (cd .tools && npm install --no-audit --no-fund --silent @foundry-rs/anvil >/dev/null)
fi

# --test: a real consensus client (Lodestar 1.5.1) into .tools/lodestar for
# tests/integration/test_real_lodestar.py. Not fatal here: that test fails with the one-line reason.
# It installs while pip installs below (about a minute of npm and node-gyp), and is waited for
# before setup ends.
lodestar_pid=""
for arg in "$@"; do
  case "$arg" in --test) bash scripts/lodestar.sh & lodestar_pid=$! ;; esac
done

py=python3
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
extra=""
for arg in "$@"; do case "$arg" in --test) extra="[test]" ;; esac; done
echo "setup: pip install .${extra} ./lab into .venv"
# A fresh wheel every time, so the venv holds exactly this checkout. The lab (`fleetctl lab`) is
# its own distribution in lab/, installed after fleetctl (it depends on it) by the same command.
rm -rf build ./*.egg-info lab/build lab/*.egg-info
if ! .venv/bin/python -m pip install --disable-pip-version-check --no-warn-script-location ".${extra}" ./lab > .venv/pip-install.log 2>&1; then
  cat .venv/pip-install.log >&2
  echo "setup: pip install failed (log above, also in .venv/pip-install.log)" >&2
  exit 1
fi
ln -sf "$PWD/$anvil" .venv/bin/anvil
if [ -n "$lodestar_pid" ] && ! wait "$lodestar_pid"; then
  echo "setup: continuing without Lodestar (tests/integration/test_real_lodestar.py will fail with the reason above)" >&2
fi
echo "setup: done ($(.venv/bin/fleetctl --version); $(.venv/bin/anvil --version | head -1))"
