"""Which embedding model serves, read from the catalog by every instance, one request at a time.

A vector is only comparable with vectors of the model that made it, so a deployment moving
to a new embedding model keeps two *model spaces* side by side: each is the model's
descriptors plus the indexes of the vectors they made (:func:`.services.build_index_store`
gives each model its own folder or Milvus names). Which one serves is one row of the
catalog (``model_versions``, task ``embedding``): ``artsnap swap-model`` flips it in one
transaction (:mod:`.model_switch`), and every instance, however many share the catalog, reads
it again for each request. No restart: an instance builds the other space lazily (its ONNX
session loads on first use) and keeps both while they are in use.

A request never mixes spaces: :class:`SpaceBound` services pin the space once per call (a
search embeds its query and searches with the same space's model and indexes, whatever flips
meanwhile), and writers pin it under the collection's write lock, which the switch holds
while it flips, so a write lands in the space that serves after it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from edge_models.embedding_variants import DEFAULT_EMBEDDING_MODEL

from .catalog import hot_reads
from .catalog.store import Catalog
from .descriptors import Descriptor
from .index_store import IndexStore
from .model_registry import EMBEDDING_TASK

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class ModelSpace:
    """One embedding model's world: its descriptors and the indexes of the vectors they made."""

    model: str
    descriptors: dict[str, Descriptor]
    index_store: IndexStore


@dataclass(frozen=True)
class ServingModel:
    """The catalog's word on which model serves, and which one served before it (for rollback)."""

    model: str
    previous: str | None = None


class ModelSpaces:
    """The spaces this process has built (lazily, once each) and the catalog's serving choice."""

    def __init__(self, catalog: Catalog, build: Callable[[str], ModelSpace]) -> None:
        self.catalog = catalog
        self._build = build
        self._spaces: dict[str, ModelSpace] = {}
        self._lock = threading.Lock()

    def serving_model(self) -> ServingModel:
        """Read now from the catalog (one indexed row): no instance keeps its own copy."""
        with self.catalog.engine.connect() as conn:
            row = conn.execute(hot_reads.ACTIVE_MODEL, {"task": EMBEDDING_TASK}).first()
        if row is None:
            return ServingModel(DEFAULT_EMBEDDING_MODEL)
        return ServingModel(row[0], row[1])

    def serving(self) -> ModelSpace:
        return self.space(self.serving_model().model)

    def space(self, model: str) -> ModelSpace:
        with self._lock:
            found = self._spaces.get(model)
        if found is None:
            built = self._build(model)
            with self._lock:
                found = self._spaces.setdefault(model, built)
        return found

    def activate(self, model: str, *, version: str, previous: str | None, card: dict[str, Any]) -> None:
        """Make ``model`` the serving one: one transaction, seen by every instance's next request."""
        self.catalog.register_model(model, version, EMBEDDING_TASK, {**card, "previous": previous}, None, activate=True)


_pinned: ContextVar[ModelSpace | None] = ContextVar("artsnap_model_space", default=None)


class SpaceBound:
    """A service whose ``descriptors`` and ``index_store`` are those of the model serving now.

    Without ``spaces`` (an engine assembled by hand over chosen vectors) they are fixed.
    """

    def __init__(
        self, descriptors: Any, index_store: IndexStore, spaces: ModelSpaces | None, model: str | None = None
    ) -> None:
        self._fixed = ModelSpace(model or DEFAULT_EMBEDDING_MODEL, dict(descriptors), index_store)
        self._fixed_descriptors = descriptors  # the caller's own mapping (tests may add to it)
        self.spaces = spaces

    def current_space(self) -> ModelSpace:
        pinned = _pinned.get()
        if pinned is not None:
            return pinned
        if self.spaces is None:
            return ModelSpace(self._fixed.model, self._fixed_descriptors, self._fixed.index_store)
        return self.spaces.serving()

    @property
    def descriptors(self) -> Any:
        return self.current_space().descriptors

    @property
    def index_store(self) -> IndexStore:
        return self.current_space().index_store

    @contextmanager
    def pinned(self, space: ModelSpace | None = None) -> Iterator[ModelSpace]:
        """Every use of ``descriptors``/``index_store`` in this block (this thread) sees one space."""
        outer = _pinned.get()
        if outer is not None and space is None:
            yield outer
            return
        token = _pinned.set(space or self.current_space())
        try:
            yield _pinned.get() or self._fixed
        finally:
            _pinned.reset(token)

    @contextmanager
    def pinned_writer(
        self, collection_id: int, *, timeout: float = 10.0, rebuild: Any = ()
    ) -> Iterator[dict[str, Any]]:
        """The collection's writer in the space that serves once the lock is held.

        The switch flips the serving model while holding the same lock, so a writer that
        waited for it re-reads the choice and writes into the new space.
        """
        outer = _pinned.get()
        while True:
            space = outer or self.current_space()
            with space.index_store.writer(collection_id, timeout=timeout, rebuild=rebuild) as indexes:
                if outer is None and self.spaces is not None and self.spaces.serving_model().model != space.model:
                    continue  # switched while we waited for the lock
                with self.pinned(space):
                    yield indexes
                return


def in_one_space(method: Callable[P, R]) -> Callable[P, R]:
    """Run a :class:`SpaceBound` method with one space pinned for its whole call."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, SpaceBound)
        with self.pinned():
            return method(*args, **kwargs)

    return wrapper
