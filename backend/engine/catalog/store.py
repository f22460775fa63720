"""The catalog's repository: every query the services need, as methods returning dataclasses.

Services never build SQL themselves; the HTTP layer never sees a Session. SQLite (default)
runs in WAL mode so gunicorn workers can read while ``artsnap ingest`` writes; PostgreSQL
works by URL (``postgresql+psycopg://…``) with the same code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import migrate
from .models import Collection, Item, Label, ModelVersion

#: Ids are 64-bit integers in every database we support.
_ID_MIN, _ID_MAX = -(2**63), 2**63 - 1


class UnknownCollection(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown collection {name!r}")
        self.name = name


class UnknownItem(LookupError):
    def __init__(self, item_id: int) -> None:
        super().__init__(f"unknown item {item_id}")
        self.item_id = item_id


@dataclass(frozen=True)
class LabelView:
    name: str
    source: str
    confidence: float | None = None
    status: str = "accepted"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "confidence": self.confidence, "status": self.status}


@dataclass(frozen=True)
class ItemView:
    id: int
    collection: str
    source_path: str
    title: str | None
    status: str
    width: int | None
    height: int | None
    sha256: str
    media_path: str | None
    thumb_path: str | None
    labels: tuple[LabelView, ...] = ()
    duplicate_of: int | None = None
    duplicate_kind: str | None = None
    duplicates: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label_names(self) -> list[str]:
        return sorted({lb.name for lb in self.labels if lb.status != "rejected"})


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    name: str
    items: int
    indexed: int
    duplicates: int
    pending: int
    labels: dict[str, int]


@dataclass(frozen=True)
class NewItem:
    source_path: str
    sha256: str
    phash: int | None
    title: str | None
    width: int | None
    height: int | None
    format: str | None
    media_path: str | None
    thumb_path: str | None
    labels: tuple[str, ...]
    status: str = "pending"
    duplicate_of: int | None = None
    duplicate_kind: str | None = None
    duplicate_distance: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


class Catalog:
    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            _sqlite_pragmas(self.engine)
        if migrate_schema:
            migrate.upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    # -- collections ----------------------------------------------------------------------
    def collection_id(self, name: str) -> int:
        with self.session() as s:
            cid = s.scalar(select(Collection.id).where(Collection.name == name))
        if cid is None:
            raise UnknownCollection(name)
        return cid

    def ensure_collection(self, name: str) -> int:
        with self.session() as s:
            cid = s.scalar(select(Collection.id).where(Collection.name == name))
            if cid is None:
                col = Collection(name=name, settings={})
                s.add(col)
                s.flush()
                cid = col.id
        return cid

    def collection_names(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Collection.name).order_by(Collection.name)))

    def collection_info(self, name: str) -> CollectionInfo:
        cid = self.collection_id(name)
        with self.session() as s:
            counts = dict(
                s.execute(
                    select(Item.status, func.count()).where(Item.collection_id == cid).group_by(Item.status)
                ).all()
            )
            label_counts = dict(
                s.execute(
                    select(Label.name, func.count())
                    .join(Item, Item.id == Label.item_id)
                    .where(Item.collection_id == cid, Item.status == "indexed", Label.status != "rejected")
                    .group_by(Label.name)
                ).all()
            )
        return CollectionInfo(
            id=cid,
            name=name,
            items=sum(counts.values()),
            indexed=counts.get("indexed", 0),
            duplicates=counts.get("duplicate", 0),
            pending=counts.get("pending", 0),
            labels=dict(sorted(label_counts.items())),
        )

    # -- items: ingest side -------------------------------------------------------------------
    def source_path_status(self, collection_id: int) -> dict[str, str]:
        """source_path → status, so a re-run ingest can skip what is done."""
        with self.session() as s:
            rows = s.execute(select(Item.source_path, Item.status).where(Item.collection_id == collection_id))
            return {p: st for p, st in rows}

    def dedup_entries(self, collection_id: int) -> list[tuple[int, str, int | None]]:
        """(id, sha256, phash) of every kept (non-duplicate) item, to seed the DuplicateIndex."""
        with self.session() as s:
            rows = s.execute(
                select(Item.id, Item.sha256, Item.phash).where(
                    Item.collection_id == collection_id, Item.status != "duplicate"
                )
            )
            return [(i, sha, ph) for i, sha, ph in rows]

    def add_items(self, collection_id: int, items: Sequence[NewItem]) -> list[int]:
        """Insert rows with their curator labels; duplicates also lend their labels to the kept item.

        A duplicate filed under another label is real information (the same painting counts as
        two styles), so the kept item gets that label too.
        """
        with self.session() as s:
            rows = [
                Item(
                    collection_id=collection_id,
                    source_path=new.source_path,
                    title=new.title,
                    sha256=new.sha256,
                    phash=new.phash,
                    width=new.width,
                    height=new.height,
                    format=new.format,
                    media_path=new.media_path,
                    thumb_path=new.thumb_path,
                    status=new.status,
                    duplicate_of_id=new.duplicate_of,
                    duplicate_kind=new.duplicate_kind,
                    duplicate_distance=new.duplicate_distance,
                    extra=dict(new.extra),
                )
                for new in items
            ]
            s.add_all(rows)
            s.flush()  # one round trip assigns every id
            ids = [row.id for row in rows]
            labels = [
                {"item_id": row.id, "name": name, "source": "curator", "status": "accepted"}
                for new, row in zip(items, rows)
                for name in dict.fromkeys(new.labels)
            ]
            lent = {(new.duplicate_of, name) for new in items if new.duplicate_of is not None for name in new.labels}
            if lent:
                have = set(
                    s.execute(
                        select(Label.item_id, Label.name).where(
                            Label.item_id.in_({i for i, _ in lent}), Label.source == "curator"
                        )
                    ).all()
                )
                labels += [
                    {"item_id": i, "name": n, "source": "curator", "status": "accepted"}
                    for i, n in sorted(lent - have - {(lb["item_id"], lb["name"]) for lb in labels})
                ]
            if labels:
                s.execute(insert(Label), labels)
        return ids

    def replace_pending(self, collection_id: int, source_paths: Iterable[str]) -> int:
        """Drop rows a crashed ingest left ``pending`` whose media is gone, so they are redone."""
        paths = list(source_paths)
        if not paths:
            return 0
        with self.session() as s:
            res = s.execute(
                delete(Item).where(
                    Item.collection_id == collection_id, Item.source_path.in_(paths), Item.status == "pending"
                )
            )
            return int(getattr(res, "rowcount", 0) or 0)

    def set_status(self, ids: Sequence[int], status: str) -> None:
        if not ids:
            return
        with self.session() as s:
            for chunk in _chunks(list(ids), 500):
                s.execute(update(Item).where(Item.id.in_(chunk)).values(status=status))

    def ids_with_status(self, collection_id: int, status: str) -> list[int]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(Item.id).where(Item.collection_id == collection_id, Item.status == status).order_by(Item.id)
                )
            )

    def add_machine_labels(self, predictions: dict[int, list[tuple[str, float]]], model_version_id: int | None) -> None:
        """Store a model's labels apart from the curator's (source='machine'), replacing old ones."""
        with self.session() as s:
            for item_id, preds in predictions.items():
                s.execute(delete(Label).where(Label.item_id == item_id, Label.source == "machine"))
                for name, conf in preds:
                    s.add(
                        Label(
                            item_id=item_id,
                            name=name,
                            source="machine",
                            confidence=float(conf),
                            model_version_id=model_version_id,
                            status="proposed",
                        )
                    )

    def delete_items(self, ids: Sequence[int]) -> list[ItemView]:
        """Delete rows with their labels; rows that duplicated one of them become orphans
        (``duplicate`` with ``duplicate_of`` null) for the caller to promote or relink."""
        views = self.get_items(ids)
        gone = list(views)
        with self.session() as s:
            for chunk in _chunks(gone, 500):
                s.execute(update(Item).where(Item.duplicate_of_id.in_(chunk)).values(duplicate_of_id=None))
                s.execute(delete(Label).where(Label.item_id.in_(chunk)))
                s.execute(delete(Item).where(Item.id.in_(chunk)))
        return [views[i] for i in gone]

    def delete_item(self, item_id: int) -> ItemView:
        view = self.get_item(item_id)
        self.delete_items([item_id])
        return view

    def orphan_duplicates(self, collection_id: int) -> list[int]:
        """``duplicate`` rows whose kept item is gone (its delete left them pointing nowhere)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(Item.id)
                    .where(
                        Item.collection_id == collection_id,
                        Item.status == "duplicate",
                        Item.duplicate_of_id.is_(None),
                    )
                    .order_by(Item.id)
                )
            )

    def dedup_row(self, item_id: int) -> tuple[str, int | None]:
        """(sha256, phash) of one item."""
        with self.session() as s:
            row = s.execute(select(Item.sha256, Item.phash).where(Item.id == item_id)).one_or_none()
        if row is None:
            raise UnknownItem(item_id)
        return row[0], row[1]

    def relink_duplicate(self, item_id: int, of: int, kind: str, distance: int) -> None:
        with self.session() as s:
            s.execute(
                update(Item)
                .where(Item.id == item_id)
                .values(duplicate_of_id=of, duplicate_kind=kind, duplicate_distance=distance)
            )

    def promote_duplicate(self, item_id: int, media_path: str | None, thumb_path: str | None) -> None:
        """A duplicate becomes a kept item, ``pending`` until its vectors are saved (a crash
        in between is repaired like any pending row: re-embedded from ``media_path``)."""
        with self.session() as s:
            s.execute(
                update(Item)
                .where(Item.id == item_id)
                .values(
                    status="pending",
                    duplicate_of_id=None,
                    duplicate_kind=None,
                    duplicate_distance=None,
                    media_path=media_path,
                    thumb_path=thumb_path,
                )
            )

    def media_in_use(self, paths: Iterable[str]) -> set[str]:
        """Which of these media/thumbnail paths some item still points at (files are named
        by content hash, so exact duplicates share them)."""
        wanted = sorted(set(paths))
        used: set[str] = set()
        with self.session() as s:
            for chunk in _chunks(wanted, 500):
                used.update(p for p in s.scalars(select(Item.media_path).where(Item.media_path.in_(chunk))) if p)
                used.update(p for p in s.scalars(select(Item.thumb_path).where(Item.thumb_path.in_(chunk))) if p)
        return used

    # -- items: read side ---------------------------------------------------------------------
    def get_item(self, item_id: int) -> ItemView:
        views = self.get_items([item_id])
        if item_id not in views:
            raise UnknownItem(item_id)
        return views[item_id]

    def get_items(self, ids: Sequence[int]) -> dict[int, ItemView]:
        """Many items with labels and duplicate links in three queries (no N+1).

        Plain Core selects, not ORM entities: on the search path this runs for every query,
        and skipping identity-map bookkeeping makes it several times cheaper.
        """
        # An id no BIGINT can hold cannot exist (and the database driver would raise on it).
        ids = [int(i) for i in ids if _ID_MIN <= int(i) <= _ID_MAX]
        if not ids:
            return {}
        it = Item.__table__
        cols = [
            it.c.id,
            it.c.source_path,
            it.c.title,
            it.c.status,
            it.c.width,
            it.c.height,
            it.c.sha256,
            it.c.media_path,
            it.c.thumb_path,
            it.c.duplicate_of_id,
            it.c.duplicate_kind,
            it.c.extra,
        ]
        out: dict[int, ItemView] = {}
        with self.engine.connect() as conn:
            rows: list[Any] = []
            labels: dict[int, list[LabelView]] = defaultdict(list)
            dups: dict[int, list[int]] = defaultdict(list)
            lt = Label.__table__
            for chunk in _chunks(ids, 500):
                rows += conn.execute(
                    select(*cols, Collection.__table__.c.name)
                    .join(Collection.__table__, Collection.__table__.c.id == it.c.collection_id)
                    .where(it.c.id.in_(chunk))
                ).all()
                for item_id, name, source, conf, status in conn.execute(
                    select(lt.c.item_id, lt.c.name, lt.c.source, lt.c.confidence, lt.c.status)
                    .where(lt.c.item_id.in_(chunk))
                    .order_by(lt.c.source, lt.c.name)
                ):
                    labels[item_id].append(LabelView(name, source, conf, status))
                for did, of in conn.execute(
                    select(it.c.id, it.c.duplicate_of_id).where(it.c.duplicate_of_id.in_(chunk))
                ):
                    dups[of].append(did)
        for r in rows:
            out[r.id] = ItemView(
                id=r.id,
                collection=r.name,
                source_path=r.source_path,
                title=r.title,
                status=r.status,
                width=r.width,
                height=r.height,
                sha256=r.sha256,
                media_path=r.media_path,
                thumb_path=r.thumb_path,
                labels=tuple(labels.get(r.id, ())),
                duplicate_of=r.duplicate_of_id,
                duplicate_kind=r.duplicate_kind,
                duplicates=tuple(sorted(dups.get(r.id, ()))),
                extra=dict(r.extra or {}),
            )
        return out

    def label_names(self, ids: Sequence[int]) -> dict[int, set[str]]:
        """Item id → its label names (rejected ones left out), in one query per 500 ids."""
        out: dict[int, set[str]] = defaultdict(set)
        with self.session() as s:
            for chunk in _chunks([int(i) for i in ids], 500):
                rows = s.execute(
                    select(Label.item_id, Label.name).where(Label.item_id.in_(chunk), Label.status != "rejected")
                )
                for item_id, name in rows:
                    out[item_id].add(name)
        return dict(out)

    def item_ids_with_labels(self, collection_id: int, names: Sequence[str]) -> list[int]:
        """Indexed items carrying any of ``names`` (curator or accepted machine labels)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(Label.item_id)
                    .join(Item, Item.id == Label.item_id)
                    .where(
                        Item.collection_id == collection_id,
                        Item.status == "indexed",
                        Label.name.in_(list(names)),
                        Label.status != "rejected",
                    )
                    .distinct()
                )
            )

    # -- model registry -----------------------------------------------------------------------
    def register_model(
        self, name: str, version: str, task: str, card: dict[str, Any], path: str | None, *, activate: bool = True
    ) -> int:
        with self.session() as s:
            row = s.scalar(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version))
            if row is None:
                row = ModelVersion(name=name, version=version, task=task, card=card, path=path, active=False)
                s.add(row)
                s.flush()
            else:
                row.card, row.path = card, path
            if activate:
                s.execute(update(ModelVersion).where(ModelVersion.task == task).values(active=False))
                row.active = True
            return row.id


def _chunks(seq: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]
