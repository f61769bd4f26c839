from fleetctl.cli import run

run()
