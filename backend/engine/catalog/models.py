"""The catalog's tables (SQLAlchemy 2 typed ORM).

Items keep ``source_path`` (the path relative to the ingested SOURCE) because that is how a
curator recognises them; ``sha256``/``phash`` drive deduplication; ``status`` is the ingest
state machine that keeps the FAISS index and the catalog in agreement after a crash:
``pending`` (row and media written, vector not yet durable in the index) → ``indexed``;
``duplicate`` rows point at the item they duplicate and are never indexed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    items: Mapped[list[Item]] = relationship(back_populates="collection", cascade="all, delete-orphan")


class Item(Base):
    """One picture in a collection.

    ``record_id`` is the id a portal knows the work by (``europeana:/<dataset>/<local>``, or a
    manifest's ``record_id`` column), so a widget can ask for related works without knowing
    ours (migration 0003). ``origin`` says who created the row: ``ingest`` (a curator's SOURCE)
    or ``upload`` (``POST /v1/collections/{name}/items``); uploads live under ``uploads/`` and
    can never make an ingest skip a curator's file.
    """

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("collection_id", "source_path", name="uq_item_source_path"),
        Index("ix_items_collection_record", "collection_id", "record_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    source_path: Mapped[str] = mapped_column(String(1024), nullable=False)
    title: Mapped[str | None] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(16))
    media_path: Mapped[str | None] = mapped_column(String(512))
    thumb_path: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"), index=True)
    duplicate_kind: Mapped[str | None] = mapped_column(String(8))
    duplicate_distance: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    record_id: Mapped[str | None] = mapped_column(String(512))
    origin: Mapped[str] = mapped_column(String(16), default="ingest", server_default="ingest")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    collection: Mapped[Collection] = relationship(back_populates="items")
    labels: Mapped[list[Label]] = relationship(back_populates="item", cascade="all, delete-orphan")


class Label(Base):
    """A category on an item: from a curator (folder, manifest, review) or a model."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("item_id", "name", "source", name="uq_label_item_name_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256), index=True)
    source: Mapped[str] = mapped_column(String(16), default="curator")  # curator | machine
    confidence: Mapped[float | None] = mapped_column(Float)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="accepted")  # proposed | accepted | rejected
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    item: Mapped[Item] = relationship(back_populates="labels")


class ModelVersion(Base):
    """A model the server used or serves to phones, with its card."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(32))
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    path: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---------------------------------------------------------------------------------------
# Sync state (backend.sync jobs) — migration 0002_sync.
#
# Kept apart from the tables above on purpose: the engine never reads these; only the
# sync jobs do, through ``catalog/sync_store.py``. Nothing here knows a wire format: a
# checkpoint is an opaque JSON state per (job, collection, key), and an annotation link is
# "this label went to this service for this record, and here is what became of it".


class SyncCheckpoint(Base):
    """Where a resumable job stands, e.g. a Europeana pull's search cursor and its counters.

    ``key`` separates runs that must not share a position (the pull uses the search query's
    fingerprint); ``status`` is ``running`` until a run reaches the end, then ``done``.
    """

    __tablename__ = "sync_checkpoints"
    __table_args__ = (UniqueConstraint("job", "collection_id", "key", name="uq_sync_checkpoint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64), nullable=False)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class AnnotationLink(Base):
    """One label published to an annotation service: record × body → remote annotation.

    The push jobs' idempotency map. ``status``: ``pending`` (sent, answer not yet recorded),
    ``created`` (we made it), ``present`` (the service already had it — a duplicate refusal or
    WITH's "existing annotation"), ``refused`` (the service said no; not retried), ``failed``
    (retried next run), ``deleted`` (withdrawn after a curator rejected the label).
    ``ours`` says whether the annotation is ours to delete.
    """

    __tablename__ = "annotation_links"
    __table_args__ = (UniqueConstraint("service", "record_id", "body", name="uq_annotation_link"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(32), nullable=False)
    collection_id: Mapped[int | None] = mapped_column(ForeignKey("collections.id", ondelete="SET NULL"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    record_id: Mapped[str] = mapped_column(String(512), nullable=False)
    body: Mapped[str] = mapped_column(String(1024), nullable=False)
    label: Mapped[str] = mapped_column(String(256), nullable=False)
    annotation_id: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    ours: Mapped[bool] = mapped_column(Boolean, default=False)
    creator: Mapped[str | None] = mapped_column(String(512))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


# ---------------------------------------------------------------------------------------
# Access: API keys and the audit log of writes — migration 0003_access.


class ApiKeyRow(Base):
    """An API key: its public id, the SHA-256 of the whole token, what it may do and where.

    The token itself is shown once, at creation, and never stored (see ``engine/keys.py``).
    ``scopes`` and ``origins`` are JSON lists; ``revoked_at`` is set once and never cleared.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # secret | publishable
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    token_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    rate_limit: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """One write request: who (key id, or ``local``/``anonymous``), what, when, on which items,
    and how it ended (HTTP status and error code). Refused writes are recorded too."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    collection: Mapped[str | None] = mapped_column(String(128))
    item_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    outcome: Mapped[str] = mapped_column(String(64), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
