"""Secrets inside URLs: one place that decides what of a URL may be shown or stored.

Two flavours, because two kinds of URL carry secrets differently:

* :func:`redact_url` for alert sinks (Slack, Discord and webhook URLs carry their token in the
  path): ``https://hooks.slack.com/…``, the scheme and host[:port] and nothing else.
* :func:`safe_url` for the endpoints fleetctl reads (``pocket.rest_url``, ``node_rpc_url``,
  JSON-RPC endpoints): an operator needs to see which endpoint failed, so the scheme, host,
  port and path stay, but ``user:password@`` becomes ``***@``, every query value ``***``, a
  fragment is dropped, and a path segment that looks like an API key (Infura's
  ``/v3/<32 hex>``, Alchemy's ``/v2/<key>``, a gateway's app id) becomes ``***``.

:func:`scrub` makes any text (an exception's message, a server's answer) safe to print, log
or store: every URL in it is redacted and every piece of the given secret URLs removed.
Nothing here imports anything slow; every front may use it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["has_secret", "redact_url", "safe_url", "scrub", "secret_parts"]

# A scheme starts at its run's first letter: a letter right after another letter is never where
# the leftmost match starts, and skipping it keeps a long run of letters linear, not quadratic.
_URL_IN_TEXT = re.compile(r"(?<![A-Za-z])[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>:,.;)\]]")
#: A path segment that is a key rather than a name: long, and letters mixed with digits.
_KEYLIKE = re.compile(r"^(?=[A-Za-z0-9_-]{16,}$)(?=.*[0-9])(?=.*[A-Za-z])")


def _host_port(parts) -> str | None:
    try:
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{host}{f':{port}' if port else ''}"


def _split(url: str):
    """``(parts, "scheme://host[:port]")``, or None for what is no usable URL."""
    try:
        parts = urlsplit(str(url).strip())
    except ValueError:
        return None
    where = _host_port(parts)
    if not parts.scheme or where is None:
        return None
    return parts, f"{parts.scheme.lower()}://{where}"


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/…``: the scheme and host[:port], nothing that may be secret."""
    split = _split(url)
    return "<invalid URL>" if split is None else f"{split[1]}/…"


def safe_url(url: str) -> str:
    """The URL without its secrets: userinfo, query values, fragment and key-like path segments.
    (Kept per URL: a sweep shows each endpoint's URL in several checks: 600 parses a run.)"""
    return _safe_url(url) if type(url) is str else _safe_url.__wrapped__(url)


@functools.lru_cache(maxsize=4096)
def _safe_url(url: str) -> str:
    split = _split(url)
    if split is None:
        return _local_url(url)
    parts, origin = split
    scheme, where = origin.split("://", 1)
    userinfo = "***@" if (parts.username or parts.password or "@" in parts.netloc) else ""
    path = "/".join("***" if _KEYLIKE.match(unquote(seg)) else seg for seg in parts.path.split("/"))
    query = ""
    if parts.query:
        try:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
        except ValueError:
            pairs = []
        query = "?" + "&".join(f"{k}=***" for k, _ in pairs) if pairs else "?***"
    return f"{scheme}://{userinfo}{where}{path}{query}"


def _local_url(url: str) -> str:
    """A URL with no host (``unix:///var/run/docker.sock``, ``file:///…``): its path, with
    key-like segments hidden; anything else that does not parse is ``<invalid URL>``."""
    try:
        parts = urlsplit(str(url).strip())
    except ValueError:
        return "<invalid URL>"
    if parts.scheme.lower() not in ("unix", "file", "npipe") or parts.netloc or not parts.path:
        return "<invalid URL>"
    path = "/".join("***" if _KEYLIKE.match(unquote(seg)) else seg for seg in parts.path.split("/"))
    return f"{parts.scheme.lower()}://{path}"


def has_secret(url: str) -> bool:
    """True when :func:`safe_url` hides anything of ``url`` (so it must not be stored as is)."""
    return safe_url(url) != str(url).strip()


def secret_parts(url: str, whole_path: bool = True) -> list[str]:
    """The pieces of ``url`` that may give its token away, longest first.

    ``whole_path`` (sinks): the path, query and every segment of six characters or more.
    Otherwise (endpoints): exactly what :func:`safe_url` hides: the userinfo, the query and its
    values, the fragment and key-like path segments."""
    pieces = {url, url.strip()}
    try:
        parts = urlsplit(url.strip())
        netloc_user = (parts.username, parts.password)
    except ValueError:
        parts = None
        netloc_user = (None, None)
    if parts is not None:
        candidates = [parts.query, parts.fragment, *netloc_user]
        if "@" in parts.netloc:
            candidates.append(parts.netloc.rpartition("@")[0])
        if whole_path:
            candidates += [parts.path, f"{parts.path}?{parts.query}"]
            candidates += [s for s in re.split(r"[/?&=#]", f"{parts.path}?{parts.query}") if len(s) >= 6]
        else:
            candidates += [seg for seg in parts.path.split("/") if _KEYLIKE.match(unquote(seg))]
            try:
                candidates += [v for _, v in parse_qsl(parts.query, keep_blank_values=True) if len(v) >= 4]
            except ValueError:
                pass
        for piece in candidates:
            if piece and piece not in ("/", "?"):
                pieces.add(piece)
                pieces.add(unquote(piece))
    return sorted((p for p in pieces if p and "…" not in p and "***" not in p), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str] = (), *, sink_style: bool = True, limit: int = 300) -> str:
    """One line of at most ``limit`` characters: every URL in ``text`` redacted, and every piece
    of the ``secrets`` URLs removed. ``sink_style`` (alert sinks) hides whole paths and redacts
    found URLs to ``scheme://host/…``; otherwise (endpoints) :func:`safe_url` is the rule."""
    for secret in secrets:
        if not secret:
            continue
        safe = (redact_url if sink_style else safe_url)(secret)
        if safe == secret.strip():  # nothing in it is secret: shown as it is
            continue
        text = text.replace(secret, safe).replace(secret.strip(), safe)
        for piece in secret_parts(secret, whole_path=sink_style):
            text = text.replace(piece, "…")
    redact = redact_url if sink_style else safe_url
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
