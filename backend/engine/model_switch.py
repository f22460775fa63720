"""Switching the embedding model without downtime: blue/green, for every collection at once.

``artsnap swap-model MODEL`` (and ``artsnap rollback-model``) run :func:`switch_model`:

1. **Green is built while blue serves.** Every collection's items are embedded from the media
   store with the new model into the new model's own indexes (:mod:`.model_spaces`); nobody
   reads those yet, so no lock is taken and searches and writes go on against blue.
2. **Catch-up and flip, under the write locks.** The switch then takes every collection's
   write lock (uploads and deletes wait a moment, searches do not), embeds what was written
   meanwhile, drops what was deleted, saves green, and flips the serving model in the catalog
   in one transaction. Every instance's next request reads the new choice.
3. **Blue is kept.** Its indexes stay; ``rollback-model`` is the same switch back, whose
   catch-up only embeds (with the old model) the items added since, so nothing is lost.

The serving model is one for the whole deployment (a query is embedded before we know which
collections it will be compared with), which is why every collection is switched together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from edge_models.embedding_model import embedding_cache_key
from edge_models.embedding_variants import embedding_variant

from .catalog.store import Catalog
from .descriptors import describe_all
from .embedding_space import model_space
from .index import VectorIndex
from .model_spaces import ModelSpace, ModelSpaces


class ModelSwitchError(RuntimeError):
    """The switch cannot be made (same model, nothing to roll back to); nothing was changed."""


@dataclass
class CollectionCatchUp:
    embedded: int = 0
    removed: int = 0  # items whose vectors were dropped (deleted meanwhile)
    unreadable: list[str] = field(default_factory=list)


@dataclass
class ModelSwitchReport:
    model: str
    previous: str
    collections: dict[str, CollectionCatchUp]
    build_s: float = 0.0
    #: How long the collections' writers waited: the catch-up and the flip, under the locks.
    locked_s: float = 0.0


def switch_model(
    catalog: Catalog,
    spaces: ModelSpaces,
    target: str,
    *,
    load_image: Callable[[str | None], Image.Image | None],
    rebuild: bool = False,
    lock_timeout: float = 60.0,
    batch: int = 32,
) -> ModelSwitchReport:
    """Make ``target`` the serving embedding model (see the module docstring).

    ``load_image`` turns an item's ``media_path`` into its image (None when it is gone);
    ``rebuild`` starts the target's indexes empty instead of reusing what a former switch left.
    """
    variant = embedding_variant(target)
    variant.weights_path()  # refuses a model whose weights are not installed, before any work
    serving = spaces.serving_model().model
    if serving == target:
        raise ModelSwitchError(f"{target} is already the serving embedding model")
    blue, green = spaces.space(serving), spaces.space(target)
    report = ModelSwitchReport(target, serving, {})
    names = catalog.collection_names()
    cids = {name: catalog.collection_id(name) for name in names}

    t0 = time.perf_counter()
    fresh: dict[int, dict[str, VectorIndex]] = {}
    for name, cid in cids.items():
        fresh[cid] = green.index_store.open_unlocked(cid, rebuild=rebuild)
        report.collections[name] = CollectionCatchUp()
        _catch_up(catalog, green, cid, fresh[cid], load_image, report.collections[name], batch)
    t1 = time.perf_counter()
    report.build_s = t1 - t0

    with ExitStack() as locks:
        for cid in sorted(cids.values()):  # one order everywhere: two switches cannot deadlock
            locks.enter_context(blue.index_store.write_lock(cid, timeout=lock_timeout))
        t2 = time.perf_counter()
        if spaces.serving_model().model != serving:
            raise ModelSwitchError("another switch changed the serving model meanwhile; nothing was changed")
        for name, cid in cids.items():
            _catch_up(catalog, green, cid, fresh[cid], load_image, report.collections[name], batch)
            green.index_store.save(cid, fresh[cid])
        spaces.activate(
            target,
            version=embedding_cache_key(model=target),
            previous=serving,
            card={"space": model_space(target), "collections": sorted(cids)},
        )
        report.locked_s = time.perf_counter() - t2
    return report


def previous_model(spaces: ModelSpaces) -> str:
    """The model the serving one replaced (what ``rollback-model`` switches back to)."""
    previous = spaces.serving_model().previous
    if not previous:
        raise ModelSwitchError("no previous embedding model to roll back to: no model switch was made")
    return previous


def _catch_up(
    catalog: Catalog,
    space: ModelSpace,
    cid: int,
    indexes: Mapping[str, VectorIndex],
    load_image: Callable[[str | None], Image.Image | None],
    out: CollectionCatchUp,
    batch: int,
) -> None:
    """Make ``indexes`` hold exactly the collection's indexed items, embedding the missing ones."""
    indexed = set(catalog.ids_with_status(cid, "indexed"))
    live = indexed | set(catalog.ids_with_status(cid, "pending"))
    held: set[int] | None = None
    dropped: set[int] = set()
    for idx in indexes.values():
        have = set(np.asarray(idx.ids()).tolist())
        held = have if held is None else held & have
        stale = np.array(sorted(have - live), np.int64)
        if len(stale):
            idx.remove(stale)
            dropped.update(stale.tolist())
    out.removed += len(dropped)
    missing = sorted(indexed - (held or set()))
    for start in range(0, len(missing), batch):
        part = missing[start : start + batch]
        views = catalog.get_items(part)
        ids: list[int] = []
        images: list[Image.Image] = []
        for item_id in part:
            image = load_image(views[item_id].media_path)
            if image is None:
                out.unreadable.append(views[item_id].source_path)
                continue
            ids.append(item_id)
            images.append(image)
        if not ids:
            continue
        arr = np.asarray(ids, np.int64)
        for name, vectors in describe_all(space.descriptors, images).items():
            idx = indexes[name]
            there = arr[idx.contains(arr)]
            if len(there):  # in some indexes already (an interrupted catch-up): replace, never duplicate
                idx.remove(there)
            idx.add(arr, vectors)
        out.embedded += len(ids)
