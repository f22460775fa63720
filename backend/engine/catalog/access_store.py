"""The access repository: API key rows and audit events (migration 0003).

Apart from :mod:`.store` for the same reason as :mod:`.sync_store`: the search engine never
reads these tables, only the key service and the audit log do. It shares the catalog's
engine and sessions. Nothing here knows what a token looks like or how it is hashed
(``engine/keys.py`` does); this module stores and finds rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from . import hot_reads
from .models import ApiKeyRow, AuditEvent, utcnow
from .store import Catalog


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    kind: str
    name: str
    token_sha256: str
    scopes: tuple[str, ...]
    origins: tuple[str, ...]
    rate_limit: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    key_id: str | None
    address: str | None
    action: str
    collection: str | None
    item_ids: tuple[int, ...]
    status: int
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "key_id": self.key_id,
            "address": self.address,
            "action": self.action,
            "collection": self.collection,
            "item_ids": list(self.item_ids),
            "status": self.status,
            "outcome": self.outcome,
            "detail": self.detail,
        }


def _key_row(r: Any) -> KeyRow:
    """A key from its ORM row or a Core row of ``api_keys`` (the same attribute names)."""
    return KeyRow(
        key_id=r.key_id,
        kind=r.kind,
        name=r.name,
        token_sha256=r.token_sha256,
        scopes=tuple(r.scopes or ()),
        origins=tuple(r.origins or ()),
        rate_limit=r.rate_limit,
        created_at=r.created_at,
        revoked_at=r.revoked_at,
    )


class AccessStore:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- keys -------------------------------------------------------------------------------
    def add_key(
        self,
        *,
        key_id: str,
        kind: str,
        name: str,
        token_sha256: str,
        scopes: Sequence[str],
        origins: Sequence[str],
        rate_limit: str | None,
    ) -> KeyRow:
        with self.catalog.session() as s:
            row = ApiKeyRow(
                key_id=key_id,
                kind=kind,
                name=name,
                token_sha256=token_sha256,
                scopes=list(scopes),
                origins=list(origins),
                rate_limit=rate_limit,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return _key_row(row)

    def key(self, key_id: str) -> KeyRow | None:
        """One key by its public id (every keyed request asks: a prepared Core read, see ``hot_reads``)."""
        with self.catalog.engine.connect() as conn:
            row = conn.execute(hot_reads.KEY_BY_ID, {"key_id": key_id}).first()
        return _key_row(row) if row is not None else None

    def keys(self) -> list[KeyRow]:
        with self.catalog.session() as s:
            return [_key_row(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def revoke_key(self, key_id: str) -> KeyRow | None:
        """Mark a key revoked (the first revocation's time is kept); ``None`` if there is no such key."""
        with self.catalog.session() as s:
            s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return self.key(key_id)

    def set_origins(self, key_id: str, origins: Sequence[str]) -> KeyRow | None:
        with self.catalog.session() as s:
            s.execute(update(ApiKeyRow).where(ApiKeyRow.key_id == key_id).values(origins=list(origins)))
        return self.key(key_id)

    def all_origins(self) -> set[str]:
        """Every origin some key lists (revoked keys too: their pages may still ask, and are told)."""
        with self.catalog.session() as s:
            return {o for origins in s.scalars(select(ApiKeyRow.origins)) for o in (origins or ())}

    # -- audit ------------------------------------------------------------------------------
    def add_audit(
        self,
        *,
        actor: str,
        key_id: str | None,
        address: str | None,
        action: str,
        collection: str | None,
        item_ids: Sequence[int],
        status: int,
        outcome: str,
        detail: dict[str, Any],
    ) -> None:
        with self.catalog.session() as s:
            s.add(
                AuditEvent(
                    at=utcnow(),
                    actor=actor,
                    key_id=key_id,
                    address=address,
                    action=action,
                    collection=collection,
                    item_ids=[int(i) for i in item_ids],
                    status=status,
                    outcome=outcome,
                    detail=detail,
                )
            )

    def audit_events(self, *, limit: int = 100, key_id: str | None = None) -> list[AuditRow]:
        """The newest ``limit`` events, newest first (optionally one key's)."""
        q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if key_id is not None:
            q = q.where(AuditEvent.key_id == key_id)
        with self.catalog.session() as s:
            return [
                AuditRow(
                    id=r.id,
                    at=r.at,
                    actor=r.actor,
                    key_id=r.key_id,
                    address=r.address,
                    action=r.action,
                    collection=r.collection,
                    item_ids=tuple(r.item_ids or ()),
                    status=r.status,
                    outcome=r.outcome,
                    detail=dict(r.detail or {}),
                )
                for r in s.scalars(q)
            ]
