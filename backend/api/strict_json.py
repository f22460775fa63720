"""JSON in and out of the API, strict both ways.

In: Python's ``json`` accepts ``NaN``/``Infinity`` and ``1e400`` (which becomes ``inf``), and
recurses once per nesting level, so 100 000 ``[`` end in a ``RecursionError``. Untrusted
bodies are therefore checked for depth *before* parsing (a linear scan that skips strings)
and parsed with hooks that refuse non-finite numbers and integers no float can hold.

Out: :class:`StrictJSONProvider` serialises with ``allow_nan=False``, so a NaN that slips
through a computation is a 500 in the tests instead of a body that is not JSON
(``"score": NaN``) reaching a client.

Bodies are small (an embedding is ~30 KB), so :data:`MAX_JSON_BYTES` caps them well below
the upload limit: parsing with Python hooks costs per number, and a 40 MB body of numbers
would cost seconds of a worker's time.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
from flask.json.provider import DefaultJSONProvider

#: Deepest nesting a request body may have. The API's deepest document (options → labels →
#: {"name", "confidence"}) is 4 levels; 32 leaves room without letting a parser recurse.
MAX_JSON_DEPTH = 32

#: Largest JSON request body (and JSON form field) accepted, in bytes.
MAX_JSON_BYTES = 1024 * 1024

# A JSON string with its escapes (brackets inside strings do not nest anything).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", np.uint8)
_CLOSE = np.frombuffer(b"]}", np.uint8)


class JSONInputError(ValueError):
    """The text is not JSON the API accepts; the message says why."""


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting in ``text`` (strings skipped), in linear time and no recursion."""
    chars = np.frombuffer(_STRING.sub("", text).encode("utf-8", "replace"), np.uint8)
    if not len(chars):
        return 0
    steps = np.isin(chars, _OPEN).astype(np.int32) - np.isin(chars, _CLOSE)
    return int(np.cumsum(steps).max(initial=0))


def _refuse_constant(name: str) -> Any:
    raise JSONInputError(f"{name} is not a number JSON allows; send finite numbers only")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONInputError(f"the number {text[:40]} is too large; send finite numbers only")
    return value


def _bounded_int(text: str) -> int:
    # Larger than any float: no field of the API can mean it (and numpy cannot convert it).
    if len(text.lstrip("-")) > 308:
        raise JSONInputError(f"the integer {text[:20]}... has {len(text)} digits; that is too large for any field")
    return int(text)


def loads_untrusted(text: str | bytes) -> Any:
    """Parse a request body or form field: depth-limited, finite numbers only.

    Raises :class:`JSONInputError` (a ``ValueError``) with a message for the client.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONInputError(f"the body is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if len(text) > MAX_JSON_BYTES:
        raise JSONInputError(f"JSON larger than {MAX_JSON_BYTES // 1024} KB is not accepted")
    if nesting_depth(text) > MAX_JSON_DEPTH:
        raise JSONInputError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except JSONInputError:
        raise
    except ValueError as exc:
        raise JSONInputError(str(exc)) from exc


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON with strict parsing (as above) and no NaN/Infinity in responses."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_untrusted(s)
