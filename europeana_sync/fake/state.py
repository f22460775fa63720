"""Everything one fake app instance holds, in one object on ``app.extensions``.

No module-level globals: two fakes in one test process (or one per test) never share
annotations, tokens or faults.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from .annotation_store import AnnotationStore
from .auth import FakeAccounts, TokenRegistry
from .faults import FaultState
from .record_store import RecordStore
from .with_store import WithStore

EXTENSION_KEY = "europeana_fake"


@dataclass
class LoggedRequest:
    """One request as the fake saw it; tests assert on attempts and on where keys travelled."""

    method: str
    path: str
    query: str
    status: int
    api_key_header: str | None
    api_key_param: str | None
    bearer: bool

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class FakeState:
    records: RecordStore
    annotations: AnnotationStore
    with_store: WithStore
    tokens: TokenRegistry
    accounts: FakeAccounts
    faults: FaultState
    source: str
    media_cache: dict[str, bytes] = field(default_factory=dict)
    requests: list[LoggedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def logged(self, path_prefix: str = "") -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()


def fake_state() -> FakeState:
    return current_app.extensions[EXTENSION_KEY]
