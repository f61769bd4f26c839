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
PYTEST=(.venv/bin/pytest -q -p no:cacheprovider --durations=25)

# The architecture's rules (README "Architecture"; configured in pyproject.toml): the import
# contracts, ruff and mypy, over the checkout's library. Any of them failing fails the run.
# tui/ ships as fleetctl.tui (pyproject's package-dir): the contracts and mypy see the package as
# the wheel lays it out, from a staged copy (fleetctl/ with tui/ inside it).
checks() {
  local rc=0 root stage
  echo "== architecture: import contracts (import-linter), ruff, mypy"
  root=$(pwd)
  stage=$(mktemp -d /tmp/fleetctl-checks.XXXXXX)
  cp -r fleetctl "$stage/fleetctl"
  cp -r tui "$stage/fleetctl/tui"
  find "$stage" -name __pycache__ -prune -exec rm -rf {} +
  (cd "$stage" && PYTHONPATH="$stage" "$root/.venv/bin/lint-imports" --config "$root/pyproject.toml" --no-cache) || rc=1
  .venv/bin/ruff check --no-cache fleetctl tui || rc=1
  (cd "$stage" && "$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" --no-incremental --cache-dir=/dev/null) || rc=1
  rm -rf "$stage"
  return $rc
}

set +e
if [ $# -gt 0 ]; then
  # With arguments (a -k filter, a path), one run as asked.
  "${PYTEST[@]}" "$@" tests
  rc=$?
else
  checks
  checks_rc=$?
  # Two CPUs: the lab tests (one shared lab, so one at a time; mostly waiting on Ansible, SSH and
  # the hosts' engines) run beside the unit tests and the integration tests that measure no time
  # bound; then the hostile tests and the integration tests whose time bounds are part of what
  # they check run alone. Each part prints its own summary; any failing part fails the run.
  # test_health_consensus: its servers must answer under health.slow (1.5 s) for every other
  # target to stay OK, which beside the lab tests on 2 CPUs they once did not (2.84 s).
  timed=(tests/integration/test_alert_sinks.py tests/integration/test_health_sweep.py
         tests/integration/test_stakes.py tests/integration/test_httpclient.py
         tests/integration/test_health_claims.py tests/integration/test_health_consensus.py)
  ignore=()
  for f in "${timed[@]}"; do ignore+=("--ignore=$f"); done
  side_log=$(mktemp /tmp/fleetctl-side-tests.XXXXXX)
  "${PYTEST[@]}" -m "not lab" "${ignore[@]}" tests/unit tests/integration tests/tui >"$side_log" 2>&1 &
  side_pid=$!
  echo "== lab tests (the unit tests and the untimed integration tests run beside them)"
  "${PYTEST[@]}" -m lab tests
  lab_rc=$?
  wait "$side_pid"
  side_rc=$?
  echo "== unit tests and untimed integration tests"
  cat "$side_log"
  rm -f "$side_log"
  echo "== hostile tests and timed integration tests"
  "${PYTEST[@]}" -m "not lab" tests/hostile "${timed[@]}"
  rest_rc=$?
  echo "== architecture checks: exit $checks_rc, lab: exit $lab_rc, unit and untimed integration: exit $side_rc, hostile and timed integration: exit $rest_rc"
  rc=0
  for part in "$checks_rc" "$lab_rc" "$side_rc" "$rest_rc"; do
    [ "$part" = 0 ] || rc=1
  done
fi
set -e
# pytest's 5 ("no tests collected") is a failure here, like any other non-zero code.
exit $rc
