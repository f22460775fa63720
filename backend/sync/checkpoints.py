"""The pull's resumable position and running counters, stored in the catalog.

One row per (collection, query fingerprint) in ``sync_checkpoints``: the search checkpoint
(cursor + items to skip on that page) *and* the counters of the run so far, written in one
transaction after each ingested batch. Because both move together, a run resumed after a
crash reports the same totals an uninterrupted run would, and never counts a batch twice.

A run that reached the last page marks its row ``done``; the next run starts from the first
page again (new records may have appeared) and skips what the catalogue already holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from europeana_sync.search_api import SearchCheckpoint

from ..engine.catalog.sync_store import SyncStore

PULL_JOB = "europeana-pull"
#: Failures kept in the checkpoint (the summary says how many were left out).
MAX_FAILURES_KEPT = 500


@dataclass
class PullState:
    """Counters of one pull run (across resumes) plus where to resume."""

    query: str = ""
    started_at: str = ""
    search: SearchCheckpoint | None = None
    seen: int = 0
    added: int = 0
    duplicates: int = 0
    already_present: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    failed_count: int = 0
    resumes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "started_at": self.started_at,
            "search": self.search.to_json() if self.search else None,
            "seen": self.seen,
            "added": self.added,
            "duplicates": self.duplicates,
            "already_present": self.already_present,
            "skipped": dict(self.skipped),
            "failed": list(self.failed[:MAX_FAILURES_KEPT]),
            "failed_count": self.failed_count,
            "resumes": self.resumes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PullState:
        search = data.get("search")
        return cls(
            query=str(data.get("query", "")),
            started_at=str(data.get("started_at", "")),
            search=SearchCheckpoint.from_json(search) if isinstance(search, dict) else None,
            seen=int(data.get("seen", 0)),
            added=int(data.get("added", 0)),
            duplicates=int(data.get("duplicates", 0)),
            already_present=int(data.get("already_present", 0)),
            skipped={str(k): int(v) for k, v in (data.get("skipped") or {}).items()},
            failed=[dict(f) for f in data.get("failed") or []],
            failed_count=int(data.get("failed_count", 0)),
            resumes=int(data.get("resumes", 0)),
        )

    @classmethod
    def fresh(cls, query: str) -> PullState:
        return cls(query=query, started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def fail(self, record_id: str, reason: str) -> None:
        self.failed_count += 1
        if len(self.failed) < MAX_FAILURES_KEPT:
            self.failed.append({"record_id": record_id, "reason": reason})


class PullCheckpoints:
    """Load and save :class:`PullState` rows for one collection."""

    def __init__(self, store: SyncStore, collection_id: int) -> None:
        self.store = store
        self.collection_id = collection_id

    def load(self, fingerprint: str) -> tuple[PullState | None, str | None]:
        """``(state, status)`` of the stored row, or ``(None, None)``."""
        row = self.store.load_checkpoint(PULL_JOB, self.collection_id, fingerprint)
        if row is None:
            return None, None
        return PullState.from_json(row.state), row.status

    def save(self, fingerprint: str, state: PullState, *, done: bool = False) -> None:
        self.store.save_checkpoint(
            PULL_JOB, self.collection_id, fingerprint, state.to_json(), status="done" if done else "running"
        )
