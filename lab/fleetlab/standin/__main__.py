"""``python -m fleetlab.standin``: run the stand-in until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from fleetlab.standin.common import SeedError, _require_loopback
from fleetlab.standin.server import PocketStandin


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]")
    try:
        _require_loopback(host)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in until SIGTERM or SIGINT; print ``ready shannon=URL morse=URL``
    (`` comet=URL`` appended with ``--comet-listen``)."""
    parser = argparse.ArgumentParser(
        prog="python -m fleetlab.standin",
        description="Pocket Network stand-in (Shannon REST + Morse RPC [+ CometBFT RPC])")
    parser.add_argument("--state", type=Path, help="seed state JSON file (see module docs)")
    parser.add_argument("--shannon-listen", type=_listen_address, default=("127.0.0.1", 1317))
    parser.add_argument("--morse-listen", type=_listen_address, default=("127.0.0.1", 8081))
    parser.add_argument("--comet-listen", type=_listen_address,
                        help="also serve the full node's CometBFT RPC here (HOST:PORT)")
    parser.add_argument("--block-time", type=float, help="seconds per block (0 = frozen)")
    parser.add_argument("--latency-ms", type=int, help="latency added to every chain response")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    try:
        seed = json.loads(args.state.read_text(encoding="utf-8")) if args.state else {}
        if not isinstance(seed, dict):
            raise SeedError("seed: expected a JSON object")
        if args.block_time is not None:
            seed["block_time"] = args.block_time
        if args.latency_ms is not None:
            seed["latency_ms"] = args.latency_ms
        standin = PocketStandin(seed, args.shannon_listen, args.morse_listen,
                                comet_addr=args.comet_listen, verbose=args.verbose)
        standin.start()
    except (OSError, ValueError) as exc:
        print(f"pocket_standin: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    comet = f" comet={standin.comet_url}" if args.comet_listen else ""
    print(f"ready shannon={standin.shannon_url} morse={standin.morse_url}{comet}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
