"""Integration tests of the lab's Morse node stand-in (lab/fleetlab/image-files/morse_node.py): its height.

Each test runs ``morse_node.py pocket start`` as a subprocess on 127.0.0.1 (a port chosen by the
OS) following a Pocket stand-in on loopback (``POCKET_NETWORK_RPC``), and talks to both over HTTP.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from fleetlab.standin import PocketStandin

from conftest import lab_image

REPO_ROOT = Path(__file__).resolve().parents[2]
MORSE_NODE = lab_image("morse_node.py")
SPEC_DIR = Path(os.environ.get("POCKET_SPEC_DIR", REPO_ROOT.parent / "shared" / "pocket"))
HEIGHT = 1005
#: pocket-core's error writer (``WriteErrorResponse``), as the Pocket stand-in shapes it too.
ERROR_CONTENT_TYPE = "application/json; charset=UTF-8"


def post(base_url: str, path: str, body: Any = None, *, raw: bytes | None = None,
         method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base_url)
    assert parts.hostname == "127.0.0.1"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        connection.close()


def height(node_url: str) -> tuple[int, Any]:
    status, _, body = post(node_url, "/v1/query/height", {})
    return status, json.loads(body)


def _read_line(stream: Any, timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, "no ready line"
    return lines[0]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("POCKET_NETWORK_RPC", "POCKET_HEIGHT_LAG", "POCKET_RPC_LISTEN")}
    env.update(POCKET_RPC_LISTEN="127.0.0.1:0", **extra)
    return env


@contextmanager
def morse_node(tmp_path: Path, **env: str) -> Iterator[str]:
    """``morse_node.py pocket start`` with ``env``; yields its ``http://127.0.0.1:PORT``."""
    process = subprocess.Popen(
        [sys.executable, str(MORSE_NODE), "pocket", "start", "--mainnet", "--datadir",
         str(tmp_path)], env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        line = _read_line(process.stdout, timeout=20)
        match = re.match(r"ready rpc=:(\d+) ", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        yield f"http://127.0.0.1:{match[1]}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture()
def network() -> Iterator[PocketStandin]:
    with PocketStandin({"chain_id": "pocket-lab-test", "height": HEIGHT}) as server:
        yield server


@pytest.fixture(scope="module")
def height_schema() -> dict[str, Any]:
    path = SPEC_DIR / "pocket-core-rpc-spec.yaml"
    if not path.is_file():
        pytest.skip(f"spec file {path} not available")
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    ref = spec["paths"]["/query/height"]["post"]["responses"]["200"]["content"][
        "application/json"]["schema"]["$ref"]
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_height_follows_the_network(tmp_path: Path, network: PocketStandin,
                                    height_schema: dict[str, Any]) -> None:
    with morse_node(tmp_path, POCKET_NETWORK_RPC=network.morse_url) as node:
        status, headers, body = post(node, "/v1/query/height", {})
        assert status == 200
        assert headers["content-type"] == "application/json; charset=utf-8"
        answer = json.loads(body)
        assert set(answer) == set(height_schema["properties"]) == {"height"}
        assert answer == {"height": HEIGHT}
        assert body == b'{"height":1005}\n'  # Go's encoder: compact, newline-terminated
        network.control.advance(7)
        assert height(node) == (200, {"height": HEIGHT + 7})
        # An empty body is fine too (the spec's request body is optional).
        status, _, body = post(node, "/v1/query/height", raw=b"")
        assert (status, json.loads(body)) == (200, {"height": HEIGHT + 7})


def test_lag_from_env_and_control_route(tmp_path: Path, network: PocketStandin) -> None:
    with morse_node(tmp_path, POCKET_NETWORK_RPC=network.morse_url,
                    POCKET_HEIGHT_LAG="10") as node:
        assert height(node) == (200, {"height": HEIGHT - 10})
        status, _, body = post(node, "/__lab/height_lag", method="GET")
        assert (status, json.loads(body)) == (200, {"lag": 10, "upstream": network.morse_url})

        status, _, body = post(node, "/__lab/height_lag", {"lag": 3})
        assert (status, json.loads(body)) == (200, {"lag": 3})
        assert height(node) == (200, {"height": HEIGHT - 3})
        network.control.advance(2)  # the node stays 3 blocks behind a moving network
        assert height(node) == (200, {"height": HEIGHT - 1})

        for payload in ({"lag": -1}, {"lag": "3"}, {"lag": True}, {"lag": 1.5}, {},
                        {"lag": 1, "extra": 2}, [3]):
            status, _, body = post(node, "/__lab/height_lag", payload)
            assert status == 400 and json.loads(body)["error"], (payload, body)
        status, _, body = post(node, "/__lab/height_lag", raw=b"{oops")
        assert status == 400 and "error" in json.loads(body)
        assert height(node) == (200, {"height": HEIGHT - 1})  # rejected payloads change nothing

        post(node, "/__lab/height_lag", {"lag": HEIGHT * 2})
        assert height(node) == (200, {"height": 0})  # never below zero
        post(node, "/__lab/height_lag", {"lag": 0})
        assert height(node) == (200, {"height": HEIGHT + 2})


def _assert_pocket_error(status: int, headers: dict[str, str], body: bytes, fragment: str,
                         network: PocketStandin) -> None:
    assert status == 400
    assert headers["content-type"] == ERROR_CONTENT_TYPE
    assert body.endswith(b"\n")
    error = json.loads(body)
    # The same shape as the Pocket stand-in's Morse errors (pocket-core WriteErrorResponse).
    ref_status, ref_headers, ref_body = post(network.morse_url, "/v1/query/node",
                                             {"address": "zz", "height": 0})
    assert (ref_status, ref_headers["content-type"]) == (400, ERROR_CONTENT_TYPE)
    assert set(error) == set(json.loads(ref_body)) == {"code", "message"}
    assert error["code"] == 400 and fragment in error["message"], error


def test_no_upstream_is_a_clear_error(tmp_path: Path, network: PocketStandin) -> None:
    with morse_node(tmp_path) as node:
        status, headers, body = post(node, "/v1/query/height", {})
        _assert_pocket_error(status, headers, body, "POCKET_NETWORK_RPC is not set", network)
        status, _, body = post(node, "/__lab/height_lag", method="GET")
        assert json.loads(body) == {"lag": 0, "upstream": None}


def test_upstream_failures_are_errors(tmp_path: Path, network: PocketStandin) -> None:
    with morse_node(tmp_path, POCKET_NETWORK_RPC=network.morse_url + "/") as node:
        network.control.set_fault("http503", path_prefix="/v1/query/height", count=1)
        status, headers, body = post(node, "/v1/query/height", {})
        _assert_pocket_error(status, headers, body, "503", network)
        network.control.set_fault("garbage", path_prefix="/v1/query/height", count=1)
        status, headers, body = post(node, "/v1/query/height", {})
        _assert_pocket_error(status, headers, body, network.morse_url, network)
        assert height(node) == (200, {"height": HEIGHT})  # faults over: back in step

        dead = PocketStandin({"height": 5}).start()
        dead_url = dead.morse_url
        dead.stop()
    with morse_node(tmp_path, POCKET_NETWORK_RPC=dead_url) as node:
        status, headers, body = post(node, "/v1/query/height", {})
        _assert_pocket_error(status, headers, body, dead_url, network)


@pytest.mark.parametrize("env, fragment", [
    ({"POCKET_NETWORK_RPC": "http://192.0.2.1:8081"}, "only http(s) to loopback"),
    ({"POCKET_NETWORK_RPC": "http://pocket.example:8081"}, "expected http://IP:PORT"),
    ({"POCKET_NETWORK_RPC": "ftp://127.0.0.1:8081"}, "only http(s)"),
    ({"POCKET_HEIGHT_LAG": "-2"}, "POCKET_HEIGHT_LAG"),
    ({"POCKET_HEIGHT_LAG": "soon"}, "POCKET_HEIGHT_LAG"),
])
def test_bad_env_refused_at_start(tmp_path: Path, env: dict[str, str], fragment: str) -> None:
    result = subprocess.run(
        [sys.executable, str(MORSE_NODE), "pocket", "start", "--datadir", str(tmp_path)],
        env=_env(**env), capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert fragment in result.stderr and result.stdout == ""
