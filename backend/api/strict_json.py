"""JSON in and out of the API, strict both ways.

In: request bodies are parsed by orjson, which follows RFC 8259 where Python's ``json`` does
not: ``NaN``/``Infinity`` are refused, a number no double can hold (``1e400``, a 400-digit
integer) is refused instead of becoming ``inf`` (an integer past 64 bits that a double can
hold becomes that float, which the API's integer fields then refuse), lone surrogates in
strings are refused, and nesting is bounded without recursion
(Python's parser recurses once per level, so 100 000 ``[`` end in a ``RecursionError``). It
also parses an embedding's 1 280 numbers about twenty times faster than ``json`` with
checking hooks, which matters on every on-device-embedding search. What it allows and the
API does not (nesting deeper than :data:`MAX_JSON_DEPTH`) is checked after parsing.

Out: :class:`StrictJSONProvider` serialises with ``allow_nan=False``, so a NaN that slips
through a computation is a 500 in the tests instead of a body that is not JSON
(``"score": NaN``) reaching a client. (orjson would write ``null`` for it, silently.)

:data:`MAX_JSON_BYTES` caps bodies well below the upload limit: an embedding is ~30 KB.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

#: Deepest nesting a request body may have. The API's deepest document (options → labels →
#: {"name", "confidence"}) is 4 levels; 32 leaves room.
MAX_JSON_DEPTH = 32

#: Largest JSON request body (and JSON form field) accepted, in bytes.
MAX_JSON_BYTES = 1024 * 1024

_DEEPER = f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted"


class JSONInputError(ValueError):
    """The text is not JSON the API accepts; the message says why."""


def nesting_depth(value: Any) -> int:
    """The deepest list/object nesting of a parsed document (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, (list, dict)) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (list, dict)):
                stack.append((child, depth + 1))
    return deepest


def _why(exc: orjson.JSONDecodeError, text: str | bytes) -> str:
    """orjson's complaint in the words of the API's contract."""
    msg = str(exc)
    if "depth limit" in msg:
        return _DEEPER
    if "infinity when parsed" in msg:
        return f"a number at character {exc.pos} is too large for a double; send finite numbers only"
    chars = text.decode("utf-8", "replace") if isinstance(text, bytes) else text  # orjson counts characters
    bad = chars[max(0, exc.pos - 1) : exc.pos + 9]
    for constant in ("-Infinity", "NaN", "Infinity"):
        if constant in bad:
            return f"{constant} is not a number JSON allows; send finite numbers only"
    return msg


def loads_untrusted(text: str | bytes) -> Any:
    """Parse a request body or form field: size- and depth-limited, finite numbers only.

    Raises :class:`JSONInputError` (a ``ValueError``) with a message for the client.
    """
    if len(text) > MAX_JSON_BYTES:
        raise JSONInputError(f"JSON larger than {MAX_JSON_BYTES // 1024} KB is not accepted")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if isinstance(text, bytes):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise JSONInputError(f"the body is not UTF-8 text ({bad.reason} at byte {bad.start})") from exc
        raise JSONInputError(_why(exc, text)) from exc
    if _openings(text) > MAX_JSON_DEPTH and nesting_depth(value) > MAX_JSON_DEPTH:
        raise JSONInputError(_DEEPER)
    return value


def _openings(text: str | bytes) -> int:
    """``[`` and ``{`` in the text, strings included: never fewer than the nesting depth.

    Counting is C-speed; walking a parsed embedding's 1 280 numbers in Python cost ~0.5 ms
    of a 4 ms search, so the walk runs only when the count allows a document too deep.
    """
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{")
    return text.count("[") + text.count("{")


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON with strict parsing (as above) and no NaN/Infinity in responses."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_untrusted(s)
