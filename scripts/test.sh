#!/usr/bin/env bash
# Set everything up and run every test (Debian 12, root). .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test: run as root (apt-get, and the lab tests' network namespaces, sshd, dockerd): from a root shell, ./scripts/test.sh" >&2
  exit 2
fi
bash scripts/setup.sh --test
# The tests import the installed package (tests/ has no __init__.py, so pytest does not put the
# checkout on sys.path): they test what `pip install .` ships.
set +e
.venv/bin/pytest -q -p no:cacheprovider --durations=25 "$@" tests
rc=$?
set -e
# pytest's 5 ("no tests collected") is a failure here, like any other non-zero code.
exit $rc
