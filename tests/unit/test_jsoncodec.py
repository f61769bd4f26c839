"""fleetctl.core.jsoncodec: msgspec where it gives json's values and errors, json elsewhere."""

from __future__ import annotations

import io
import json
import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetctl.core import jsoncodec
from fleetctl.core.jsoncodec import dumps, loads
from fleetctl.render import Out

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30)


def _reference(raw: bytes, decimal: bool) -> object:
    try:
        return ("value", json.loads(raw, parse_float=Decimal) if decimal else json.loads(raw))
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return ("error", type(exc))


def _ours(raw: bytes, decimal: bool) -> object:
    try:
        return ("value", loads(raw, decimal=decimal))
    except Exception as exc:  # noqa: BLE001
        return ("error", type(exc))


def _same(a: object, b: object) -> bool:
    # NaN is not equal to itself: compare the JSON text of the values instead
    return json.dumps(a, default=repr) == json.dumps(b, default=repr) and type(a) is type(b)


@pytest.mark.parametrize("decimal", [False, True])
@pytest.mark.parametrize("raw", [
    b"1.5", b"-0.0", b"1e400", b"-1e400", b"1E5", b"[1.0e-7]", b"0.1",
    b"123456789012345678901234567890", b"-18446744073709551617", b"9223372036854775808",
    b'{"a":1,"a":2}', b' [1] ', b"[]", b"{}", b'"\\u0000"', b'"\\ud800"', b'"\\ud83d\\ude00"',
    b"NaN", b"-Infinity", b"[Infinity]",  # json accepts them: so must loads
    b"\xef\xbb\xbf[1]", "[1]".encode("utf-16"), "[\"\u00e9\"]".encode("utf-32-le"),  # BOM, UTF-16/32
    b'"a\x01b"', b"[1,]", b'{"a":1,}', b"01", b"1.", b".5", b"[1] x", b'["\xff"]', b"", b"   ",
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
])
def test_loads_gives_json_values_and_errors(raw: bytes, decimal: bool) -> None:
    ref, ours = _reference(raw, decimal), _ours(raw, decimal)
    assert ref[0] == ours[0]
    if ref[0] == "error":
        assert issubclass(ours[1], (ValueError, UnicodeDecodeError, RecursionError))  # type: ignore[index]
        assert ours[1] is ref[1] or issubclass(ours[1], ValueError) and issubclass(ref[1], ValueError)  # type: ignore[index]
    else:
        assert _same(ref[1], ours[1])  # type: ignore[index]


@settings(max_examples=300, deadline=None)
@given(_json_values, st.booleans())
def test_loads_any_json_text(value: object, decimal: bool) -> None:
    raw = json.dumps(value).encode()
    assert _same(_reference(raw, decimal)[1], _ours(raw, decimal)[1])
    for form in (json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"),
                 json.dumps(value, indent=1).encode()):
        assert _same(_reference(form, decimal)[1], _ours(form, decimal)[1])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_loads_any_bytes(raw: bytes) -> None:
    for decimal in (False, True):
        ref, ours = _reference(raw, decimal), _ours(raw, decimal)
        assert ref[0] == ours[0]
        if ref[0] == "value":
            assert _same(ref[1], ours[1])  # type: ignore[index]


def test_loads_floats_exactly_as_json() -> None:
    import random
    import struct

    rng = random.Random(15)
    for _ in range(20_000):
        x = struct.unpack("d", rng.randbytes(8))[0]
        if not math.isfinite(x):
            continue
        for text in (repr(x), f"{x:.17e}", f"{x:.3g}"):
            raw = text.encode()
            assert loads(raw) == json.loads(raw)
            assert loads(raw, decimal=True) == json.loads(raw, parse_float=Decimal)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_dumps_is_json_dumps_value(value: object) -> None:
    reference = json.loads(json.dumps(value, separators=(",", ":"), default=str))
    assert json.loads(dumps(value)) == reference
    assert json.loads(dumps(value, indent=True)) == reference


def test_dumps_forms() -> None:
    assert dumps({"a": [1, 2]}) == b'{"a":[1,2]}'
    assert dumps({"a": [1]}, indent=True) == json.dumps({"a": [1]}, indent=2).encode()
    assert dumps({"p": Path("/x"), "d": Decimal("1E+3")}) == b'{"p":"/x","d":"1E+3"}'  # str(), as default=str
    assert dumps("\u00e9") == "\"\u00e9\"".encode()  # UTF-8, not \u escapes
    assert dumps([math.nan, math.inf]) == b"[null,null]"  # json.dumps: the invalid NaN, Infinity
    # keys: as json.dumps writes them (None, bool, float), or its TypeError
    assert json.loads(dumps({None: 1, True: 2, 1.5: 3, 4: 5})) == {"null": 1, "true": 2, "1.5": 3, "4": 5}
    with pytest.raises(TypeError):
        dumps({(1, 2): 3})
    # a lone surrogate (hostile text read with surrogatepass): still valid JSON, in ASCII
    raw = dumps({"a": "\ud800"})
    assert raw.decode("ascii") and json.loads(raw) == {"a": "\ud800"}
    assert 2**80 == json.loads(dumps(2**80))


def test_without_msgspec_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsoncodec, "_codec", False)
    assert loads(b"[1.5]", decimal=True) == [Decimal("1.5")]
    assert dumps({"a": "\u00e9"}) == b'{"a":"\\u00e9"}'
    with pytest.raises(ValueError):
        loads(b"[1,]")


def test_emit_json_to_a_binary_buffer_after_text() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="latin-1")  # not UTF-8: JSON is written as UTF-8 anyway
    out = Out(fmt="json", stream=stream)
    out.line("first")
    out.emit_json({"name": "\u00e9\u2265"})
    out.line("last")
    stream.flush()
    assert raw.getvalue() == b'first\n{"name":"\xc3\xa9\xe2\x89\xa5"}\nlast\n'


def test_emit_json_to_a_text_stream() -> None:
    stream = io.StringIO()
    Out(fmt="json", stream=stream).emit_json({"a": 1, "b": ["\u00e9"]})
    assert stream.getvalue() == '{"a":1,"b":["\u00e9"]}\n'
