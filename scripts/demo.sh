#!/usr/bin/env bash
# Set everything up and run fleetctl's main job on the local lab (Debian 12, root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" FLEETCTL_INVENTORY="$PWD/inventories/lab"
run() { printf '\n$ %s\n' "$*"; "$@"; }
run fleetctl lab up
run fleetctl validate
run fleetctl inventory
run fleetctl lab status
printf '\nThe lab stays up; `fleetctl lab down` removes it (the blackhole route for its range stays).\n'
