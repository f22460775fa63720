"""An engine over vectors a test chose: the real catalog, FAISS indexes, search and fusion.

Tests of ranking set every item's cosine to the query by hand, so they know the expected
order, scores and reasons exactly. Their descriptors only say which vectors they hold and
never look at a picture, so no network is loaded: these tests take milliseconds, which is
also what lets ``make mutation`` run them once per mutant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backend.config import Settings
from backend.engine.catalog.store import Catalog
from backend.engine.index_store import IndexStore
from backend.engine.ingest import IngestService
from backend.engine.search import SearchService
from backend.engine.services import Engine


class ChosenVectors:
    """A descriptor whose vectors the test writes into the index itself; any picture it is
    shown is described as ``photo`` (when given), so photo searches ask a chosen question."""

    def __init__(self, name: str, dim: int, photo: np.ndarray | None = None) -> None:
        self.name, self.dim, self.photo = name, dim, photo
        self.described: list[tuple[int, int]] = []  # sizes of the pictures it was shown

    @property
    def version(self) -> str:
        return f"{self.name}-chosen-v1"

    def describe(self, images: Any) -> np.ndarray:
        if self.photo is None:
            raise AssertionError("this test searches with vectors, never with pictures")
        self.described += [im.size for im in images]
        return np.tile(np.asarray(self.photo, np.float32), (len(images), 1))

    def info(self) -> dict[str, Any]:
        return {"descriptor": self.name, "model": "chosen", "version": self.version, "provider": "test"}


def chosen_engine(data_dir: Path, dims: dict[str, int]) -> Engine:
    """An :class:`Engine` whose descriptors are :class:`ChosenVectors` of the given sizes."""
    settings = Settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.database_url)
    descriptors: dict[str, Any] = {name: ChosenVectors(name, dim) for name, dim in dims.items()}
    store = IndexStore(settings.index_dir, descriptors, settings.index_factory)
    return Engine(
        settings=settings,
        catalog=catalog,
        descriptors=descriptors,
        index_store=store,
        ingest=IngestService(settings, catalog, descriptors, store),
        search=SearchService(settings, catalog, descriptors, store),
    )
