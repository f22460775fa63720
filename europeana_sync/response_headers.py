"""Reading the headers with which Europeana's gateway (and any HTTP service) says "wait".

Kept apart from the retrying session: these are pure parsers of two standard headers
(the IETF draft ``RateLimit`` structured field and RFC 9110 ``Retry-After``), tested on the
gateway's real formats, and tolerant of junk so a formatting change degrades to backoff.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimitInfo:
    """Parsed ``RateLimit`` header of the Europeana API gateway."""

    policy: str
    remaining: int | None
    reset_seconds: float | None


_RATELIMIT_PARAM = re.compile(r";\s*([A-Za-z]+)\s*=\s*\"?([^;\"]*)\"?")


def parse_ratelimit(value: str | None) -> RateLimitInfo | None:
    """Parse ``"personal";r=0;t=42`` (IETF draft RateLimit structured field).

    With several policies (``"personal";r=0;t=42, "global";r=90;t=5``) the binding one is
    returned: fewest requests remaining, then the longest reset. ``None`` for a missing or
    unparseable header, so callers fall back to Retry-After or backoff instead of failing on
    a gateway's formatting change.
    """
    if not value:
        return None
    found: list[RateLimitInfo] = []
    for member in value.split(","):
        head, _, _ = member.strip().partition(";")
        remaining: int | None = None
        reset: float | None = None
        for key, raw in _RATELIMIT_PARAM.findall(member):
            try:
                if key == "r":
                    remaining = int(float(raw))
                elif key == "t":
                    reset = max(0.0, float(raw))
            except ValueError:
                continue
        if remaining is not None or reset is not None:
            found.append(RateLimitInfo(policy=head.strip().strip('"'), remaining=remaining, reset_seconds=reset))
    if not found:
        return None
    return min(
        found,
        key=lambda info: (info.remaining if info.remaining is not None else float("inf"), -(info.reset_seconds or 0.0)),
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
