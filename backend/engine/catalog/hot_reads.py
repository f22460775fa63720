"""The catalog reads every request makes, as Core statements built once.

A search or related call reads the collection's id, its hits' rows (items, labels,
duplicates) and the caller's key. Built per call with the ORM, each such read spent more
CPU building the statement, generating its cache key and opening a session than the
database spent answering it; a statement built once keeps its cache key (SQLAlchemy
memoizes it), and a Core connection skips the session and identity map. Sets of ids are
bound with expanding parameters, so one statement serves every list length.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from .models import ApiKeyRow, Collection, Item, Label, ModelVersion

_items = Item.__table__
_labels = Label.__table__
_collections = Collection.__table__
_models = ModelVersion.__table__

COLLECTION_ID = select(_collections.c.id).where(_collections.c.name == bindparam("name"))

ITEM_ROWS = (
    select(
        _items.c.id,
        _items.c.source_path,
        _items.c.title,
        _items.c.status,
        _items.c.width,
        _items.c.height,
        _items.c.sha256,
        _items.c.media_path,
        _items.c.thumb_path,
        _items.c.duplicate_of_id,
        _items.c.duplicate_kind,
        _items.c.extra,
        _items.c.record_id,
        _items.c.origin,
        _collections.c.name,
    )
    .join(_collections, _collections.c.id == _items.c.collection_id)
    .where(_items.c.id.in_(bindparam("ids", expanding=True)))
)

ITEM_LABELS = (
    select(_labels.c.item_id, _labels.c.name, _labels.c.source, _labels.c.confidence, _labels.c.status)
    .where(_labels.c.item_id.in_(bindparam("ids", expanding=True)))
    .order_by(_labels.c.source, _labels.c.name)
)

DUPLICATES_OF = select(_items.c.id, _items.c.duplicate_of_id).where(
    _items.c.duplicate_of_id.in_(bindparam("ids", expanding=True))
)

LABEL_NAMES = select(_labels.c.item_id, _labels.c.name).where(
    _labels.c.item_id.in_(bindparam("ids", expanding=True)), _labels.c.status != "rejected"
)

ITEM_IDS_WITH_LABELS = (
    select(_labels.c.item_id)
    .join(_items, _items.c.id == _labels.c.item_id)
    .where(
        _items.c.collection_id == bindparam("collection_id"),
        _items.c.status == "indexed",
        _labels.c.name.in_(bindparam("names", expanding=True)),
        _labels.c.status != "rejected",
    )
    .distinct()
)

KEY_BY_ID = select(ApiKeyRow.__table__).where(ApiKeyRow.__table__.c.key_id == bindparam("key_id"))

#: The active model of a task (name, and the one it replaced from its card): which embedding
#: model serves is read for every request (:mod:`..model_spaces`), so only what it needs.
ACTIVE_MODEL = (
    select(_models.c.name, _models.c.card["previous"].as_string())
    .where(_models.c.task == bindparam("task"), _models.c.active.is_(True))
    .order_by(_models.c.id.desc())
    .limit(1)
)
