"""JSON on the hot paths: msgspec's C codec where it gives what the standard library gives, the
standard library for everything else.

A 1,000-supplier health run decodes ~300 answers (the Pocket REST API's, the endpoints'
JSON-RPC batches) and writes a 1.3 MB report: the standard library spends ~10 ms on each side,
msgspec ~2-3 ms and ~1.3 ms. msgspec (a dependency, imported on first use: ~7 ms) is used only
where its result is the same:

- :func:`loads`: msgspec accepts a subset of what ``json.loads`` accepts (strict RFC 8259 UTF-8;
  no ``NaN``/``Infinity``, BOM, UTF-16/32 or lone surrogates) and builds the same values from it
  (floats as ``float``, or as ``Decimal`` from their text with ``decimal=True``; integers of any
  size; the last of repeated keys). What it refuses goes to ``json.loads``, which accepts it as
  before or raises its own error: a caller sees the values and the errors it always saw.
- :func:`dumps`: the same JSON values as ``json.dumps(obj, default=str)``; the text differs
  only in form: UTF-8 instead of ``\\u`` escapes, ``1e16`` for ``1e+16``, ``null`` for a NaN or
  an infinity (which ``json.dumps`` writes as the invalid ``NaN``/``Infinity``). Values that
  have no JSON form of their own are written by ``str()`` as before, except those msgspec
  encodes natively (datetime, UUID, Enum, dataclass, set, bytes: their JSON form instead of
  their ``str()``); no command's output holds one (checked across the test suite). An object
  msgspec refuses (a key that is not a string or a number, an integer beyond its range) goes to
  ``json.dumps``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_codec: Any = None  # (encoder, decoder, Decimal decoder, DecodeError, format) once imported; False without msgspec


def _str(value: Any) -> str:
    """msgspec's hook for what it cannot encode: ``str()``, as ``json.dumps(default=str)``. None,
    a bool or a tuple reach it only as a dict key (as values they are native), which ``json.dumps``
    writes its own way ("null", "true") or refuses: raised, so that ``json.dumps`` does it."""
    if value is None or isinstance(value, bool | tuple):
        raise TypeError(f"key {value!r}")
    return str(value)


def _msgspec() -> Any:
    global _codec
    if _codec is None:
        try:
            import msgspec
        except ImportError:  # pragma: no cover - a dependency; the standard library then
            _codec = False
        else:
            _codec = (msgspec.json.Encoder(enc_hook=_str), msgspec.json.Decoder(),
                      msgspec.json.Decoder(float_hook=Decimal), msgspec.DecodeError, msgspec.json.format)
    return _codec


def loads(raw: bytes, *, decimal: bool = False) -> Any:
    """``json.loads(raw)`` (``parse_float=Decimal`` with ``decimal``): the same values and the
    same exceptions (ValueError, UnicodeDecodeError, RecursionError)."""
    codec = _msgspec()
    if codec:
        try:
            return (codec[2] if decimal else codec[1]).decode(raw)
        except (codec[3], RecursionError):
            pass  # the standard library's answer, value or error
    if decimal:
        return json.loads(raw, parse_float=Decimal)
    return json.loads(raw)


def dumps(obj: Any, *, indent: bool = False) -> bytes:
    """``obj`` as UTF-8 JSON text, compact or indented by two spaces; values without a JSON form
    by ``str()``. TypeError/ValueError as ``json.dumps`` raises them."""
    codec = _msgspec()
    if codec:
        try:
            data: bytes = codec[0].encode(obj)
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            return codec[4](data, indent=2) if indent else data
    # ASCII (\u escapes), so a string with a lone surrogate (hostile text read with
    # surrogatepass, which msgspec refuses to encode) is still valid JSON
    if indent:
        return json.dumps(obj, indent=2, default=str).encode("ascii")
    return json.dumps(obj, separators=(",", ":"), default=str).encode("ascii")
