"""The sync jobs' repository: checkpoints, the annotation map, labels with their provenance.

A separate module from :mod:`.store` so the sync jobs (``backend/sync``) can grow
their queries without touching the engine's repository. It shares the catalog's engine
and sessions, so every write here is in the same database and transaction rules.

Nothing here knows a wire format: record ids and annotation bodies are plain strings that
the jobs define; this module only stores them and answers "what did we already do".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .models import AnnotationLink, Item, Label, ModelVersion, SyncCheckpoint, utcnow
from .store import Catalog, UnknownItem

#: Label statuses and sources, as the catalog stores them.
LABEL_STATUSES = ("proposed", "accepted", "rejected")
LABEL_SOURCES = ("curator", "machine")


@dataclass(frozen=True)
class CheckpointView:
    job: str
    collection_id: int
    key: str
    status: str
    state: dict[str, Any]


@dataclass(frozen=True)
class LabelRow:
    """One label of one item, with what an export or a push needs to know about both."""

    item_id: int
    item_status: str
    source_path: str
    title: str | None
    extra: dict[str, Any]
    label: str
    source: str
    status: str
    confidence: float | None
    model_name: str | None = None
    model_version: str | None = None

    @property
    def model(self) -> str | None:
        """``name@version`` of the model that proposed a machine label."""
        if not self.model_name:
            return None
        return f"{self.model_name}@{self.model_version}" if self.model_version else self.model_name


@dataclass(frozen=True)
class LinkView:
    service: str
    record_id: str
    body: str
    label: str
    status: str
    ours: bool
    annotation_id: str | None = None
    creator: str | None = None
    reason: str | None = None
    attempts: int = 0
    item_id: int | None = None
    collection_id: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.record_id, self.body)


@dataclass(frozen=True)
class LabelChange:
    item_id: int
    label: str
    source: str
    before: str | None  # None: the label was added
    after: str


#: "leave this field as stored" in a :class:`LinkUpdate`
_UNSET: Any = object()


@dataclass
class LinkUpdate:
    """Fields to write on an annotation link; unset ones keep their stored value."""

    status: str
    label: str | None = None
    annotation_id: Any = _UNSET
    ours: Any = _UNSET
    creator: Any = _UNSET
    reason: Any = _UNSET
    item_id: Any = _UNSET
    collection_id: Any = _UNSET
    count_attempt: bool = False


class SyncStore:
    """Repository methods for the sync jobs, over an open :class:`Catalog`."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- checkpoints --------------------------------------------------------------------
    def load_checkpoint(self, job: str, collection_id: int, key: str) -> CheckpointView | None:
        with self.catalog.session() as s:
            row = s.scalar(
                select(SyncCheckpoint).where(
                    SyncCheckpoint.job == job, SyncCheckpoint.collection_id == collection_id, SyncCheckpoint.key == key
                )
            )
            if row is None:
                return None
            return CheckpointView(row.job, row.collection_id, row.key, row.status, dict(row.state or {}))

    def save_checkpoint(
        self, job: str, collection_id: int, key: str, state: dict[str, Any], *, status: str = "running"
    ) -> None:
        """Insert or replace, in one transaction: the state written is always whole."""
        with self.catalog.session() as s:
            row = s.scalar(
                select(SyncCheckpoint).where(
                    SyncCheckpoint.job == job, SyncCheckpoint.collection_id == collection_id, SyncCheckpoint.key == key
                )
            )
            if row is None:
                s.add(SyncCheckpoint(job=job, collection_id=collection_id, key=key, status=status, state=dict(state)))
            else:
                row.state = dict(state)
                row.status = status
                row.updated_at = utcnow()

    def checkpoints(self, job: str | None = None) -> list[CheckpointView]:
        with self.catalog.session() as s:
            query = select(SyncCheckpoint).order_by(SyncCheckpoint.id)
            if job is not None:
                query = query.where(SyncCheckpoint.job == job)
            return [
                CheckpointView(r.job, r.collection_id, r.key, r.status, dict(r.state or {})) for r in s.scalars(query)
            ]

    # -- labels -------------------------------------------------------------------------
    def label_rows(
        self,
        collection_id: int,
        *,
        statuses: Iterable[str] | None = None,
        sources: Iterable[str] | None = None,
        item_statuses: Iterable[str] = ("indexed", "duplicate"),
    ) -> list[LabelRow]:
        """Labels of a collection's items with item provenance and model version, in a
        stable order (item id, label, source). ``None`` filters mean "any"."""
        query = (
            select(
                Item.id,
                Item.status,
                Item.source_path,
                Item.title,
                Item.extra,
                Label.name,
                Label.source,
                Label.status,
                Label.confidence,
                ModelVersion.name,
                ModelVersion.version,
            )
            .join(Label, Label.item_id == Item.id)
            .outerjoin(ModelVersion, ModelVersion.id == Label.model_version_id)
            .where(Item.collection_id == collection_id, Item.status.in_(list(item_statuses)))
            .order_by(Item.id, Label.name, Label.source)
        )
        if statuses is not None:
            query = query.where(Label.status.in_(list(statuses)))
        if sources is not None:
            query = query.where(Label.source.in_(list(sources)))
        with self.catalog.session() as s:
            return [
                LabelRow(
                    item_id=i,
                    item_status=ist,
                    source_path=sp,
                    title=t,
                    extra=dict(ex or {}),
                    label=n,
                    source=src,
                    status=st,
                    confidence=c,
                    model_name=mn,
                    model_version=mv,
                )
                for i, ist, sp, t, ex, n, src, st, c, mn, mv in s.execute(query)
            ]

    def set_label_status(
        self, item_id: int, name: str, status: str, *, source: str | None = None, add_if_missing: bool = False
    ) -> list[LabelChange]:
        """A curator's verdict on label ``name`` of an item (every source, or one).

        With ``add_if_missing`` an accepted verdict on a label the item does not have adds
        it as a curator label, so a curator can also correct a wrong machine label by
        accepting the right one.
        """
        if status not in LABEL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(LABEL_STATUSES)}")
        if source is not None and source not in LABEL_SOURCES:
            raise ValueError(f"source must be one of {', '.join(LABEL_SOURCES)}")
        changes: list[LabelChange] = []
        with self.catalog.session() as s:
            if s.get(Item, item_id) is None:
                raise UnknownItem(item_id)
            query = select(Label).where(Label.item_id == item_id, Label.name == name)
            if source is not None:
                query = query.where(Label.source == source)
            rows = list(s.scalars(query))
            for row in rows:
                if row.status != status:
                    changes.append(LabelChange(item_id, name, row.source, row.status, status))
                    row.status = status
            if not rows:
                if not add_if_missing:
                    raise LookupError(
                        f"item {item_id} has no label {name!r}" + (f" from source {source!r}" if source else "")
                    )
                new_source = source or "curator"
                s.add(
                    Label(
                        item_id=item_id,
                        name=name,
                        source=new_source,
                        status=status,
                        confidence=None if new_source == "curator" else 1.0,
                    )
                )
                changes.append(LabelChange(item_id, name, new_source, None, status))
        return changes

    def item_ids_by_extra(self, collection_id: int, key: str) -> dict[str, int]:
        """``extra[key]`` → item id for a collection's items that have that key."""
        with self.catalog.session() as s:
            rows = s.execute(select(Item.id, Item.extra).where(Item.collection_id == collection_id))
            return {str(extra[key]): item_id for item_id, extra in rows if isinstance(extra, dict) and extra.get(key)}

    # -- annotation links ---------------------------------------------------------------
    def links(
        self, service: str, *, collection_id: int | None = None, record_id: str | None = None
    ) -> dict[tuple[str, str], LinkView]:
        """(record id, body) → link, for one service (all collections / records unless given)."""
        query = select(AnnotationLink).where(AnnotationLink.service == service)
        if collection_id is not None:
            query = query.where(AnnotationLink.collection_id == collection_id)
        if record_id is not None:
            query = query.where(AnnotationLink.record_id == record_id)
        with self.catalog.session() as s:
            return {(r.record_id, r.body): _link_view(r) for r in s.scalars(query.order_by(AnnotationLink.id))}

    def known_creator(self, service: str) -> str | None:
        """The creator id the service gave annotations we made (our identity there)."""
        with self.catalog.session() as s:
            return s.scalar(
                select(AnnotationLink.creator)
                .where(
                    AnnotationLink.service == service,
                    AnnotationLink.ours.is_(True),
                    AnnotationLink.creator.is_not(None),
                )
                .order_by(AnnotationLink.id.desc())
                .limit(1)
            )

    def record_link(self, service: str, record_id: str, body: str, update: LinkUpdate) -> LinkView:
        """Insert or update the link of (service, record, body); one transaction."""
        with self.catalog.session() as s:
            row = s.scalar(
                select(AnnotationLink).where(
                    AnnotationLink.service == service,
                    AnnotationLink.record_id == record_id,
                    AnnotationLink.body == body,
                )
            )
            if row is None:
                row = AnnotationLink(
                    service=service,
                    record_id=record_id,
                    body=body,
                    label=update.label or "",
                    status=update.status,
                    ours=False,
                    attempts=0,
                )
                s.add(row)
            row.status = update.status
            if update.label:
                row.label = update.label
            for name in ("annotation_id", "ours", "creator", "reason", "item_id", "collection_id"):
                value = getattr(update, name)
                if value is not _UNSET:
                    setattr(row, name, value)
            if update.count_attempt:
                row.attempts = (row.attempts or 0) + 1
            row.updated_at = utcnow()
            s.flush()
            return _link_view(row)


def _link_view(row: AnnotationLink) -> LinkView:
    return LinkView(
        service=row.service,
        record_id=row.record_id,
        body=row.body,
        label=row.label,
        status=row.status,
        ours=bool(row.ours),
        annotation_id=row.annotation_id,
        creator=row.creator,
        reason=row.reason,
        attempts=row.attempts or 0,
        item_id=row.item_id,
        collection_id=row.collection_id,
    )
