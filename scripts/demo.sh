#!/usr/bin/env bash
# Set everything up and run fleetctl's main job on the local lab (Debian 12, root):
# the lab, then validate, inventory, plan, apply (through the playbooks), diversity, stakes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
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
printf '\nThe lab stays up; `fleetctl lab down` removes it (the blackhole route for its range stays).\n'
