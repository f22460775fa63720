"""The online phase: decode → locate artwork → describe → search → fuse → explain.

Every stage is timed, because the product's promise is a photo answered in tens of
milliseconds and BENCHMARKS.md reports where the time goes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from dataset_tools.images import decode_image
from edge_models.style_model import StyleModel

from ..config import Settings
from .artwork import crop_artwork
from .catalog.store import Catalog, ItemView
from .descriptors import Descriptor, derive_missing, describe_all
from .embedding_space import SERVER_SPACE_NAME, EmbeddingSpaceError, check_vector_space, server_space
from .fusion import FusedHit, QueryLabel, fuse
from .index_store import IndexStore
from .related_labels import label_sharing_candidates
from .weighting import Weighting, choose_weighting

#: How negative a component of a unit-length ``cnn`` vector may be (fp16/int8 rounding) and still
#: be an embedding of the ReLU6 backbone.
NEGATIVE_TOLERANCE = 0.01


class OptionsError(ValueError):
    """The caller's search options are malformed; the message says which field and why."""


#: Weights are relative (fusion divides by their sum); the cap keeps that sum finite.
MAX_WEIGHT = 1000.0


def is_finite_number(value: object) -> bool:
    """A JSON number that is not a bool, NaN, ±Infinity or an int no float can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


@dataclass(frozen=True)
class SearchOptions:
    top_k: int = 12
    weights: Mapping[str, float] | None = None
    labels: tuple[QueryLabel, ...] = ()
    filter_labels: tuple[str, ...] = ()
    locate: bool | None = None
    label_weight: float = 0.1
    exclude_ids: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, data: Any, settings: Settings, descriptors: Sequence[str]) -> SearchOptions:
        """Validate untrusted JSON (HTTP ``options``) into options, with messages a client can act on."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise OptionsError("options must be a JSON object")
        unknown = set(data) - {"top_k", "weights", "labels", "filters", "locate", "label_weight"}
        if unknown:
            raise OptionsError(f"unknown option(s): {', '.join(sorted(unknown))}")
        top_k = data.get("top_k", settings.default_top_k)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= settings.max_top_k:
            raise OptionsError(f"top_k must be an integer from 1 to {settings.max_top_k}")
        weights = data.get("weights")
        if weights is not None:
            if not isinstance(weights, dict) or not weights:
                raise OptionsError('weights must be an object like {"cnn": 1.0, "color": 0.2}')
            for k, v in weights.items():
                if k not in descriptors:
                    raise OptionsError(f"unknown descriptor {k!r} in weights; known: {', '.join(descriptors)}")
                if not is_finite_number(v) or not 0 <= v <= MAX_WEIGHT:
                    raise OptionsError(
                        f"weight of {k!r} must be a number from 0 to {MAX_WEIGHT:g} (weights are relative)"
                    )
            if sum(weights.values()) <= 0:
                raise OptionsError("at least one weight must be > 0")
        labels: list[QueryLabel] = []
        raw_labels = data.get("labels", [])
        if not isinstance(raw_labels, list):
            raise OptionsError('labels must be a list of names or {"name", "confidence"} objects')
        for lb in raw_labels:
            if isinstance(lb, str) and lb:
                labels.append(QueryLabel(lb, 1.0))
            elif isinstance(lb, dict) and isinstance(lb.get("name"), str):
                conf = lb.get("confidence", 1.0)
                if not is_finite_number(conf) or not 0 <= conf <= 1:
                    raise OptionsError("label confidence must be a number from 0 to 1")
                labels.append(QueryLabel(lb["name"], float(conf)))
            else:
                raise OptionsError('each label must be a name or {"name": str, "confidence": 0..1}')
        filters = data.get("filters", {})
        if not isinstance(filters, dict) or set(filters) - {"labels"}:
            raise OptionsError("filters must be an object with an optional 'labels' list")
        flabels = filters.get("labels", [])
        if not isinstance(flabels, list) or not all(isinstance(x, str) for x in flabels):
            raise OptionsError("filters.labels must be a list of label names")
        locate = data.get("locate")
        if locate is not None and not isinstance(locate, bool):
            raise OptionsError("locate must be true or false")
        lw = data.get("label_weight", 0.1)
        if not is_finite_number(lw) or not 0 <= lw <= 1:
            raise OptionsError("label_weight must be a number from 0 to 1")
        return cls(
            top_k=top_k,
            weights={k: float(v) for k, v in weights.items()} if weights else None,
            labels=tuple(labels),
            filter_labels=tuple(flabels),
            locate=locate,
            label_weight=float(lw),
        )


@dataclass
class Timings:
    decode_ms: float = 0.0
    locate_ms: float = 0.0
    embed_ms: float = 0.0
    search_ms: float = 0.0
    total_ms: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.__dict__.items()}


@dataclass
class Hit:
    item: ItemView
    score: float
    scores: dict[str, float]
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by ``artsnap search --json`` and the HTTP API (which adds URLs)."""
        it = self.item
        return {
            "id": it.id,
            "source_path": it.source_path,
            "title": it.title,
            "score": self.score,
            "scores": self.scores,
            "labels": [lb.to_dict() for lb in it.labels],
            "reasons": self.reasons,
            "duplicates": list(it.duplicates),
        }


@dataclass
class SearchResult:
    collection: str
    hits: list[Hit]
    timings: Timings
    models: list[dict[str, Any]] = field(default_factory=list)
    artwork: dict[str, Any] | None = None
    query_labels: list[QueryLabel] = field(default_factory=list)
    weighting: Weighting | None = None

    def to_dict(self) -> dict[str, Any]:
        query: dict[str, Any] = {
            "artwork": self.artwork,
            "labels": [{"name": q.name, "confidence": q.confidence, "source": q.source} for q in self.query_labels],
        }
        if self.weighting is not None and self.weighting.source != "default":
            query["weighting"] = self.weighting.to_dict()  # said when the caller or the image type chose
        return {
            "collection": self.collection,
            "results": [h.to_dict() for h in self.hits],
            "query": query,
            "timings_ms": self.timings.to_dict(),
            "models": self.models,
        }


class SearchService:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        descriptors: Mapping[str, Descriptor],
        index_store: IndexStore,
        *,
        classifier: Any = None,
        style_model: StyleModel | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.descriptors = descriptors
        self.index_store = index_store
        self.classifier = classifier
        self.style_model = style_model

    def warm_up(self) -> None:
        """Load models now (gunicorn post-fork) rather than on a visitor's first photo."""
        describe_all(self.descriptors, [Image.new("RGB", (64, 64))])

    # -- entry points ---------------------------------------------------------------------
    def search_image(self, collection: str, data: bytes, options: SearchOptions) -> SearchResult:
        t0 = time.perf_counter()
        timings = Timings()
        cid = self.catalog.collection_id(collection)  # unknown collection fails before any work
        decoded = decode_image(
            data,
            max_pixels=self.settings.max_pixels,
            min_side=self.settings.query_min_side,
            max_decode_bytes=self.settings.max_decode_bytes,
        )
        t1 = time.perf_counter()
        timings.decode_ms = (t1 - t0) * 1000
        image = decoded.image
        # The query is described as the whole photo and, when the locator found an artwork in
        # it, also as that rectified artwork; each candidate keeps its better similarity. The
        # locator sometimes "finds" a region inside a picture that already is the artwork (a
        # catalogue scan, a tight crop), and the whole view keeps such queries exact.
        views = [image]
        artwork = None
        locate = self.settings.locate_artwork if options.locate is None else options.locate
        if locate:
            crop, region = crop_artwork(image)
            if region.found:
                views.append(crop)
            artwork = {
                "found": bool(region.found),
                "confidence": round(float(region.confidence), 3),
                "corners": np.round(region.corners, 1).tolist(),
                # corners are in the pixels of the decoded (draft-reduced, upright) photo
                "image_size": [decoded.image.width, decoded.image.height],
            }
        image = views[-1]
        t2 = time.perf_counter()
        timings.locate_ms = (t2 - t1) * 1000
        # One backbone run describes every view for every descriptor; the image-type model
        # looks at the whole photo (the first view), where a camera photo shows its wall.
        described = describe_all(self.descriptors, views)
        weighting = self._weighting(options, described, set(described))
        vectors = {name: described[name] for name, w in weighting.weights.items() if w > 0}
        query_labels = list(options.labels)
        if self.classifier is not None:
            query_labels += [QueryLabel(n, c, "server") for n, c in self.classifier([image])[0]]
        t3 = time.perf_counter()
        timings.embed_ms = (t3 - t2) * 1000
        result = self._search(cid, collection, vectors, weighting, options, query_labels)
        result.artwork = artwork
        info = self.classifier.info() if self.classifier is not None and hasattr(self.classifier, "info") else None
        if info:
            result.models.append({"descriptor": "classifier", "model": info["model"], "version": info["version"]})
        result.timings.decode_ms, result.timings.locate_ms, result.timings.embed_ms = (
            timings.decode_ms,
            timings.locate_ms,
            timings.embed_ms,
        )
        result.timings.total_ms = (time.perf_counter() - t0) * 1000
        return result

    def embedding_space(self, descriptor: str) -> str:
        """The space a phone's vector for ``descriptor`` must be in (see :mod:`.embedding_space`)."""
        return server_space() if descriptor == "cnn" else self.descriptors[descriptor].version

    def search_vectors(
        self,
        collection: str,
        vectors: Mapping[str, np.ndarray],
        options: SearchOptions,
        spaces: Mapping[str, str | None] | None = None,
    ) -> SearchResult:
        """Search with embeddings computed on the phone (the photo never leaves the device).

        ``spaces`` is what a client declared: the embedding space of each vector (descriptor →
        space id). When given (the HTTP API always gives it), a vector without a space, or from
        another model's space, is refused (:class:`EmbeddingSpaceError`): it would be compared
        with the catalogue without error and rank nonsense. ``None`` is for in-process callers
        whose vectors come from this server's own descriptors.
        """
        t0 = time.perf_counter()
        cid = self.catalog.collection_id(collection)
        clean: dict[str, np.ndarray] = {}
        for name, vec in vectors.items():
            if name not in self.descriptors:
                raise OptionsError(f"unknown descriptor {name!r}; known: {', '.join(self.descriptors)}")
            # The space first: a vector from another model is refused for what it is, whatever its length.
            if spaces is not None:
                check_vector_space(name, spaces.get(name), self.embedding_space(name))
            v = np.asarray(vec, dtype=np.float32).reshape(-1)
            if v.shape[0] != self.descriptors[name].dim:
                raise OptionsError(
                    f"embedding for {name!r} must have {self.descriptors[name].dim} numbers, got {v.shape[0]}"
                )
            if not np.all(np.isfinite(v)):
                raise OptionsError("embedding contains NaN or infinity")
            norm = float(np.linalg.norm(v))
            if norm == 0:
                raise OptionsError("embedding is all zeros")
            v = v / norm
            if name == "cnn" and float(v.min()) < -NEGATIVE_TOLERANCE:
                # EfficientNet-Lite0's embedding averages ReLU6 activations: no component is
                # negative. A vector with clearly negative numbers was not made by this model,
                # whatever space it claims (a random vector has about half of them).
                raise EmbeddingSpaceError(
                    "not_an_embedding",
                    f"the 'cnn' vector has negative components (down to {float(v.min()):.3f}); an "
                    f"{SERVER_SPACE_NAME} embedding has none: send the model's 'embedding' output",
                )
            clean[name] = v
        clean = derive_missing(self.descriptors, clean, list(self.descriptors))
        weighting = self._weighting(options, clean, set(clean))
        # A vector weighted 0 is neither searched nor named among the models that answered.
        vectors = {name: clean[name] for name, w in weighting.weights.items() if w > 0}
        result = self._search(cid, collection, vectors, weighting, options, list(options.labels))
        result.timings.total_ms = (time.perf_counter() - t0) * 1000
        return result

    def related(self, item_id: int, options: SearchOptions) -> tuple[ItemView, SearchResult]:
        """Items like a catalog item: its own stored vectors, never the item itself or its duplicates."""
        t0 = time.perf_counter()
        item = self.catalog.get_item(item_id)
        target = item.duplicate_of or item.id
        cid = self.catalog.collection_id(item.collection)
        # The item's stored vectors stand for the query: every descriptor that indexed it (the
        # image-type model reads its type from them, as from a photo's).
        stored: dict[str, np.ndarray] = {}
        for name in self.descriptors:
            idx = self.index_store.get(cid, name)
            if idx.contains(np.array([target]))[0]:
                stored[name] = idx.reconstruct(np.array([target]))
        asked = [d for d, w in (options.weights or {}).items() if w > 0]
        if not stored or any(d not in stored for d in asked):
            raise LookupError(f"item {item_id} is not indexed yet (status {item.status})")
        weighting = self._weighting(options, stored, set(stored))
        vectors = {name: stored[name][0] for name, w in weighting.weights.items() if w > 0}
        own = self.catalog.get_item(target)
        query_labels = list(options.labels) + [QueryLabel(n, 1.0, "item") for n in own.label_names]
        exclude = (target, *own.duplicates, item.id)
        opts = SearchOptions(
            top_k=options.top_k,
            weights=options.weights,
            labels=options.labels,
            filter_labels=options.filter_labels,
            label_weight=options.label_weight,
            exclude_ids=tuple(set(exclude)),
        )
        result = self._search(cid, item.collection, vectors, weighting, opts, query_labels)
        result.timings.total_ms = (time.perf_counter() - t0) * 1000
        return item, result

    # -- internals ------------------------------------------------------------------------
    def _weighting(self, options: SearchOptions, vectors: Mapping[str, np.ndarray], available: set[str]) -> Weighting:
        """Descriptor weights for this query (see :mod:`.weighting`): the caller's, the image
        type's, or the defaults; never empty while some descriptor is available."""
        weighting = choose_weighting(
            caller=options.weights,
            defaults=self.settings.descriptor_weights,
            style_model=self.style_model,
            vectors=vectors,
            available=available & set(self.descriptors),
        )
        if not weighting.weights:
            even = {d: 1.0 / len(available) for d in sorted(available)} if available else {}
            return Weighting(even, weighting.source)
        return weighting

    def _search(
        self,
        cid: int,
        collection: str,
        vectors: Mapping[str, np.ndarray],
        weighting: Weighting | Mapping[str, float],
        options: SearchOptions,
        query_labels: list[QueryLabel],
    ) -> SearchResult:
        t0 = time.perf_counter()
        if not isinstance(weighting, Weighting):
            weighting = Weighting(dict(weighting), "default")
        weights = weighting.weights
        allowed = None
        if options.filter_labels:
            allowed = np.asarray(self.catalog.item_ids_with_labels(cid, options.filter_labels), np.int64)
        pool = max(options.top_k * 4 + len(options.exclude_ids), 50)
        candidates: set[int] = set()
        indexes = {name: self.index_store.get(cid, name) for name in vectors}
        # Each descriptor's query is one vector or several views of the query (rows).
        queries = {name: np.atleast_2d(np.asarray(vec, np.float32)) for name, vec in vectors.items()}
        for name, q in queries.items():
            if allowed is not None and len(allowed) == 0:
                break
            _, ids = indexes[name].search(q, pool, allowed=allowed)
            candidates.update(int(i) for i in ids.ravel() if i >= 0)
        candidates.update(label_sharing_candidates(self.catalog, cid, indexes, queries, query_labels, pool, allowed))
        candidates.difference_update(options.exclude_ids)
        cand = np.array(sorted(candidates), np.int64)
        sims: dict[str, dict[int, float]] = {}
        for name, q in queries.items():
            present = cand[indexes[name].contains(cand)] if len(cand) else cand
            mat = indexes[name].reconstruct(present) if len(present) else np.zeros((0, q.shape[1]), np.float32)
            sims[name] = dict(zip(present.tolist(), (mat @ q.T).max(axis=1).tolist())) if len(present) else {}
        # Labels are only looked up when they can change the ranking; full item rows only for
        # the hits we return (a few ms per query saved on a 10 k collection).
        item_labels = self.catalog.label_names(cand.tolist()) if query_labels and len(cand) else {}
        lead = weighting.reason()
        fused: list[FusedHit] = fuse(
            sims,
            weights,
            item_labels,
            query_labels,
            label_weight=options.label_weight,
            lead_reasons=[lead] if lead else [],
        )
        hits: list[Hit] = []
        pos = 0
        while len(hits) < options.top_k and pos < len(fused):
            chunk = fused[pos : pos + options.top_k + 8]
            pos += len(chunk)
            views = self.catalog.get_items([h.item_id for h in chunk])
            for h in chunk:
                view = views.get(h.item_id)
                if view is None or view.status != "indexed" or len(hits) >= options.top_k:
                    continue
                scores = {k: round(v, 6) for k, v in h.scores.items()}
                hits.append(Hit(item=view, score=round(h.score, 6), scores=scores, reasons=h.reasons))
        timings = Timings(search_ms=(time.perf_counter() - t0) * 1000)
        models = [self.descriptors[n].info() for n in vectors]
        return SearchResult(
            collection=collection,
            hits=hits,
            timings=timings,
            models=models,
            query_labels=query_labels,
            weighting=weighting,
        )
