"""fleetctl.core.redact: what of a URL may be shown. Endpoints keep host and path, sinks keep the host."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetctl.core.redact import has_secret, redact_url, safe_url, scrub

INFURA = "https://user:pa55word@mainnet.infura.io/v3/0123456789abcdef0123456789abcdef?apikey=s3cr3t#frag"


@pytest.mark.parametrize("url, shown", [
    (INFURA, "https://***@mainnet.infura.io/v3/***?apikey=***"),
    ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("http://[::1]:26657/status?token=abc", "http://[::1]:26657/status?token=***"),
    ("HTTP://Node.Example:80/rpc", "http://node.example:80/rpc"),
    ("https://eth.gateway.example/v2/AbCdEf0123456789XyZ", "https://eth.gateway.example/v2/***"),
    ("not a url", "<invalid URL>"),
    ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
    ("unix://user:pw@/x", "<invalid URL>"),
    ("http://host:99999/", "<invalid URL>"),
])
def test_safe_url(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_sink_urls_show_only_the_origin() -> None:
    assert redact_url("https://hooks.slack.com/services/T0/B0/XXXXXXXXXXXXXXXX") == "https://hooks.slack.com/…"
    assert redact_url("mailto:") == "<invalid URL>"


def test_has_secret() -> None:
    assert has_secret(INFURA) and not has_secret("http://127.0.0.1:8545/status")


def test_scrub_removes_every_piece_and_keeps_one_line() -> None:
    text = f"GET {INFURA} failed:\n server said pa55word and s3cr3t and 0123456789abcdef0123456789abcdef"
    line = scrub(text, [INFURA], sink_style=False)
    assert "\n" not in line and "mainnet.infura.io" in line
    for secret in ("pa55word", "s3cr3t", "0123456789abcdef0123456789abcdef", "user:"):
        assert secret not in line
    assert len(scrub("x" * 10_000)) == 300


SECRET = st.text(string.ascii_letters + string.digits, min_size=8, max_size=24)


@given(user=SECRET, password=SECRET, token=SECRET, port=st.integers(1, 65535))
def test_safe_url_never_shows_credentials_or_query_values(user, password, token, port) -> None:
    url = f"https://{user}:{password}@gw.example:{port}/v1?key={token}"
    shown = safe_url(url)
    assert user not in shown and password not in shown and token not in shown
    assert shown.startswith("https://***@gw.example")
    assert token not in scrub(f"error at {url}: {token}", [url], sink_style=False)


# The URL finder skips a letter that follows a letter (linear on long runs): the same matches as
# the plain pattern, on text made of the characters that matter.
_PLAIN_URL = __import__("re").compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>:,.;)\]]")


def test_url_finder_matches_the_plain_pattern():
    from hypothesis import given, settings, strategies as st

    from fleetctl.core.redact import _URL_IN_TEXT

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet="ab1+.-:/ @x'\",;)]", max_size=60))
    def same(text):
        assert [m.span() for m in _URL_IN_TEXT.finditer(text)] == [m.span() for m in _PLAIN_URL.finditer(text)]

    same()


def test_scrub_is_linear_on_a_long_line():
    from fleetctl.core.redact import scrub

    line = "a" * 200_000 + " http://user:secret@10.0.0.1/x"
    out = scrub(line, sink_style=False, limit=10**6)  # quadratic took minutes on this
    assert "secret" not in out and out.endswith("http://***@10.0.0.1/x")


def test_sweep_redaction_reaches_nested_facts_and_keeps_clean_checks_as_they_are() -> None:
    """health's last step scrubs every check's message and facts (dicts, lists, tuples at any
    depth); a check with nothing to scrub is the very same object (no copy of 1,200 checks)."""
    from types import SimpleNamespace

    from fleetctl.core.levels import Level
    from fleetctl.health.report import Check
    from fleetctl.health.sweep import SweepResult, _redact_checks

    secret = "https://user:hunter2@rpc.example/v1/abcdef0123456789abcdef0123456789?key=s3cr3t"
    fleet = SimpleNamespace(chains={"eth": SimpleNamespace(endpoints=[SimpleNamespace(url=secret)])},
                            pocket=SimpleNamespace(rest_url="http://127.0.0.1:1317"))
    clean = Check("sup-1", "stake", Level.OK, "stake 1 POKT", {"n": 1, "f": 2.5, "ok": True, "none": None,
                                                                "reasons": ["fine"], "nested": {"a": ("b",)}}, (), {})
    dirty = Check("eth-1", "execution", Level.CRITICAL, f"no answer from {secret}",
                  {"url": secret, "deep": {"list": [1, {"tuple": ("x", f"see {secret}")}]}, "n": 3}, (), {})
    result = SweepResult(checks=[clean, dirty], notes=[f"note {secret}"])
    _redact_checks(fleet, result)  # type: ignore[arg-type]
    assert result.checks[0] is clean
    shown = repr((result.checks[1], result.notes))
    for piece in ("hunter2", "s3cr3t", "abcdef0123456789abcdef0123456789"):
        assert piece not in shown
    assert result.checks[1].facts["n"] == 3 and result.checks[1].facts["deep"]["list"][0] == 1
    assert isinstance(result.checks[1].facts["deep"]["list"][1]["tuple"], tuple)
