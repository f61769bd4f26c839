#!/usr/bin/env bash
# Set everything up and run fleetctl's main job on the local lab (Debian 12, root):
# the lab, then validate, inventory, plan, apply (through the playbooks), diversity, stakes, health, scale
# (with a fault injected: one client forks and --remediate takes it out of its balancers).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "demo: run as root (apt-get, network namespaces, sshd, dockerd): from a root shell, ./scripts/demo.sh" >&2
  exit 2
fi
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" FLEETCTL_INVENTORY="$PWD/inventories/lab"
run() { printf '\n$ %s\n' "$*"; "$@"; }
run fleetctl lab up
run fleetctl validate
run fleetctl inventory
run fleetctl lab status
run fleetctl plan
run fleetctl apply --yes
run fleetctl diversity
# Nagios codes: WARNING (1) is expected here: the lab stakes one supplier inside its margin.
run fleetctl stakes || true
# Health of everything at once; a Geth front forks from the majority chain (the 11 Nov 2020
# case): it alone is DIVERGED (exit 2, CRITICAL) and --remediate pulls it from every balancer.
run fleetctl health || true
# (health exits with the Nagios code of the worst check: WARNING here, hence the `|| true`)
doc=$(fleetctl health -o json --no-record || true)
head=$(printf '%s' "$doc" | python3 -c 'import json,sys; print(next(c["reference_head"] for c in json.load(sys.stdin)["checks"] if c["kind"] == "chain"))')
run fleetctl lab fault lab-h1-geth --diverge-at "$((head - 2))"
run fleetctl health --remediate || true
run fleetctl lab fault lab-h1-geth --clear
# Healthy again: back into rotation after health.remediate_rise (3) healthy runs.
for _ in 1 2 3; do run fleetctl health --remediate -q || true; done
run fleetctl health --nagios || true
# Scaling: the session share, sessions/day, rewards and stake for more identities (the lab chain
# has 94 other operators' suppliers on eth and 15 suppliers per session).
run fleetctl scale --service eth --rows 5
printf '\nThe lab stays up; `fleetctl lab down` removes it (the blackhole route for its range stays).\n'
