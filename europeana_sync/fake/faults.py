"""Switchable failures of the fake services.

Every fault the real services show in a night's run can be turned on, at app creation
(``FaultConfig``) or while a test runs (``POST /_fake/faults``), so each retry rule of the
clients has a reproducible test. Counted faults affect the *next N* matching requests
(``-1`` = every request until switched off), which is how real incidents look: a burst of
429s, a few 503s during a deployment.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

UNLIMITED = -1


@dataclass
class FaultConfig:
    #: Next N requests answer 429 with ``RateLimit: "personal";r=0;t=<rate_limit_reset_seconds>``.
    rate_limited_requests: int = 0
    rate_limit_reset_seconds: int = 2
    #: Also send ``Retry-After`` on those 429s.
    retry_after_header: bool = False
    #: Next N requests answer ``server_error_status`` (-1: forever).
    server_errors: int = 0
    server_error_status: int = 503
    #: Next N requests are delayed by ``slow_seconds`` before being answered.
    slow_requests: int = 0
    slow_seconds: float = 0.0
    #: Next N search pages omit ``nextCursor`` although more results remain.
    early_page_ends: int = 0
    #: Next N annotation creations are refused as duplicates of an identical tag that
    #: "someone else" made a moment earlier (the fake creates that tag, so the id is real).
    duplicate_refusals: int = 0
    #: Next N annotation creations are stored but answered 504, as when a gateway gives up
    #: before the service replies: the client never sees the new annotation's id.
    lost_responses: int = 0
    #: Next N API requests answer 200 with an HTML maintenance page instead of JSON.
    non_json_responses: int = 0
    #: Next N preview (thumbnail) downloads answer the Thumbnail API's "no thumbnail" icon,
    #: as for records whose thumbnail Europeana never generated.
    placeholder_previews: int = 0
    #: Next N full-image (edmIsShownBy) downloads answer 200 with the provider's HTML page
    #: instead of the image, the commonest way an ``edmIsShownBy`` link fails.
    html_full_images: int = 0
    #: ``expires_in`` of issued access tokens; tokens are refused with 401 once expired.
    token_lifetime_seconds: float = 3600.0
    #: Lifetime of a WITH login session.
    with_session_seconds: float = 3600.0
    #: Restrict the request-level faults (429, 5xx, slow, non-JSON) to these path prefixes;
    #: empty = every path except the ``/_fake`` admin endpoints.
    paths: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}


_COUNTED = (
    "rate_limited_requests",
    "server_errors",
    "slow_requests",
    "early_page_ends",
    "duplicate_refusals",
    "lost_responses",
    "non_json_responses",
    "placeholder_previews",
    "html_full_images",
)


class FaultState:
    """The live, thread-safe copy of a :class:`FaultConfig` whose counters run down."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.config = dataclasses.replace(config) if config else FaultConfig()
        self.injected: dict[str, int] = {name: 0 for name in _COUNTED}

    def update(self, changes: dict[str, Any]) -> FaultConfig:
        """Merge ``changes`` into the config; unknown names are a ``KeyError`` (a typo in a
        test must fail loudly, not leave a fault silently off)."""
        unknown = set(changes) - FaultConfig.field_names()
        if unknown:
            raise KeyError(f"unknown fault settings: {sorted(unknown)}")
        with self._lock:
            current = dataclasses.asdict(self.config)
            current.update(changes)
            current["paths"] = list(current.get("paths") or [])
            self.config = FaultConfig(**current)
            return self.config

    def reset(self) -> None:
        with self._lock:
            self.config = FaultConfig()

    def applies_to(self, path: str) -> bool:
        prefixes = self.config.paths
        return not prefixes or any(path.startswith(p) for p in prefixes)

    def consume(self, name: str) -> bool:
        """Take one unit of a counted fault; ``True`` if this request gets the fault."""
        with self._lock:
            remaining = getattr(self.config, name)
            if remaining == 0:
                return False
            if remaining > 0:
                setattr(self.config, name, remaining - 1)
            self.injected[name] += 1
            return True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"config": self.config.to_json(), "injected": dict(self.injected)}
