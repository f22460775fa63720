"""The audit log of writes: who (key id, or ``local``/``anonymous``), what, when, which items, outcome.

Kept in the catalog (table ``audit_events``), so it lives and is backed up with the data it
describes, and PostgreSQL deployments get it without a shared file. Every write request is
recorded, refused ones too (a burst of 401s from one address is worth seeing). Read it with
``artsnap audit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalog.access_store import AccessStore, AuditRow


@dataclass(frozen=True)
class AuditEntry:
    actor: str  # "key:<id>", "local" or "anonymous"
    action: str  # e.g. "items.add", "items.delete"
    status: int  # the HTTP status; 0 for a command-line action (``artsnap keys ...``)
    outcome: str  # "ok" or the error code
    key_id: str | None = None
    address: str | None = None
    collection: str | None = None
    item_ids: Sequence[int] = ()
    detail: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    def __init__(self, store: AccessStore) -> None:
        self.store = store

    def record(self, entry: AuditEntry) -> None:
        self.store.add_audit(
            actor=entry.actor,
            key_id=entry.key_id,
            address=entry.address,
            action=entry.action,
            collection=entry.collection,
            item_ids=entry.item_ids,
            status=entry.status,
            outcome=entry.outcome,
            detail=entry.detail,
        )

    def recent(self, limit: int = 100, *, key_id: str | None = None) -> list[AuditRow]:
        return self.store.audit_events(limit=limit, key_id=key_id)
