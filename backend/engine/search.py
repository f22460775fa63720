"""The online phase: decode → recognise / locate artworks → describe → search → fuse → explain.

A photo is first *recognised*: its local features are verified against the catalogue items
the visual words put forward (:mod:`.recognition`), which needs no embedding and gives each
recognised artwork's outline. Only what is not recognised is located, embedded and searched
by the global embedding, whose shortlist is verified too. Every artwork found is a region of
the answer; ``match`` and ``results`` are those of the main one.

Every stage is timed, because the product's promise is a photo answered in tens of
milliseconds and BENCHMARKS.md reports where the time goes.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from dataset_tools.images import DecodedImage, ImageDecodeError, decode_image
from edge_models.style_model import StyleModel

from ..config import Settings
from .artwork import LocatorScene
from .catalog.store import Catalog, ItemView
from .descriptors import Descriptor, derive_missing, describe_all
from .embedding_space import SERVER_SPACE_NAME, EmbeddingSpaceError, check_vector_space, server_space
from .fusion import FusedHit, QueryLabel, fuse
from .index_store import IndexStore
from .model_spaces import ModelSpaces, SpaceBound, in_one_space
from .photo_regions import (
    PhotoFrame,
    PhotoRegion,
    find_regions,
    look_closer,
    parts_of_the_rest,
    recognise_more,
    worth_looking_closer,
)
from .photo_views import look_wider
from .recognition import (
    FeatureStore,
    Recogniser,
    Recognition,
    backfill_command,
    extract_query_features,
    interleave,
)
from .related_labels import label_sharing_candidates
from .search_options import OptionsError, SearchOptions
from .search_results import Hit, Match, Region, SearchResult, Timings
from .weighting import Weighting, choose_weighting

log = logging.getLogger(__name__)

GLOBAL_SHORTLIST = 10
"""Candidates the global embedding puts forward for verification, per region not yet recognised."""

#: How negative a component of a unit-length ``cnn`` vector may be (fp16/int8 rounding) and still
#: be an embedding of the ReLU6 backbone.
NEGATIVE_TOLERANCE = 0.01


class SearchService(SpaceBound):
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        descriptors: Mapping[str, Descriptor],
        index_store: IndexStore,
        *,
        classifier: Any = None,
        features: FeatureStore | None = None,
        spaces: ModelSpaces | None = None,
        style_model: StyleModel | None = None,
    ) -> None:
        super().__init__(descriptors, index_store, spaces)
        self.settings = settings
        self.catalog = catalog
        self.classifier = classifier
        self.features = features
        self._warned: set[int] = set()
        self.style_model = style_model

    @in_one_space
    def warm_up(self) -> None:
        """Load models now (gunicorn post-fork) rather than on a visitor's first photo."""
        describe_all(self.descriptors, [Image.new("RGB", (64, 64))])

    # -- entry points ---------------------------------------------------------------------
    @in_one_space
    def search_image(self, collection: str, data: bytes, options: SearchOptions) -> SearchResult:
        """Recognise and search the artworks in a photo (see the module docstring)."""
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
        frame = PhotoFrame.of(decoded)
        allowed = self._allowed(cid, options)
        warnings: list[str] = []
        recogniser = self._recogniser(cid, collection, image, warnings)
        recognised = recogniser.recognise_all(allowed=allowed) if recogniser is not None else []
        t2 = time.perf_counter()
        timings.recognise_ms = (t2 - t1) * 1000
        locate = self.settings.locate_artwork if options.locate is None else options.locate
        scene = LocatorScene(image)  # the locator's work on this photo, done once for every look
        regions, located = find_regions(image, recognised, recogniser, locate=locate, scene=scene)
        t3 = time.perf_counter()
        timings.locate_ms = (t3 - t2) * 1000

        wanted = self._wanted(options)
        region_vectors: dict[int, dict[str, np.ndarray]] = {}
        region_candidates: dict[int, list[list[int]]] = {}  # the global embedding's, per region
        largest = _main_region([r for r in regions if not r.tentative])  # what the answer will be about
        for region in regions:
            if region.recognition is not None:
                continue
            # The query is described as the region rectified and, for the main region, as the
            # whole photo too; each candidate keeps its better similarity. The locator
            # sometimes "finds" a region inside a picture that already is the artwork (a
            # catalogue scan, a tight crop), and the whole view keeps such queries exact.
            views = [region.crop(image)]
            if region is largest and region.found_by != "photo":
                views.insert(0, image)
            te = time.perf_counter()
            vectors = region_vectors[id(region)] = self._describe(views, wanted)
            tv = time.perf_counter()
            timings.embed_ms += (tv - te) * 1000
            if recogniser is not None and "cnn" in vectors:
                within = region.keypoints(recogniser, image.size)
                _, ids = self.index_store.get(cid, "cnn").search(vectors["cnn"], GLOBAL_SHORTLIST, allowed=allowed)
                region_candidates[id(region)] = ids.tolist()
                by_words = recogniser.shortlist(within=within, allowed=allowed)
                hit = recogniser.identify(interleave(by_words, *ids.tolist()), within=within)
                if hit is not None:
                    region.recognise(hit, recogniser.query.size, image.size)
            timings.recognise_ms += (time.perf_counter() - tv) * 1000
        regions = [r for r in regions if not r.tentative or r.recognition is not None]
        if recogniser is not None and not recognised and any(r.recognition for r in regions):
            tv = time.perf_counter()
            recognise_more(regions, recogniser, image.size, allowed)
            timings.recognise_ms += (time.perf_counter() - tv) * 1000
        if recogniser is not None and not any(r.recognition for r in regions):
            tv = time.perf_counter()
            locating_ms = look_wider(regions, recogniser, image, region_candidates, allowed, locate=locate, scene=scene)
            timings.recognise_ms += (time.perf_counter() - tv) * 1000 - locating_ms
            timings.locate_ms += locating_ms
        if recogniser is not None and worth_looking_closer(regions, recogniser.query.size):
            tv = time.perf_counter()
            # where else an artwork may be, and the global embedding's candidates for it
            outlines = [r.outline for r in regions if r.recognition is not None]
            parts, views = parts_of_the_rest(image, outlines, locate=locate)
            te = time.perf_counter()
            timings.locate_ms += (te - tv) * 1000
            by_embedding: list[int] = []
            if views and "cnn" in wanted:
                rest_vectors = self._describe(views, ["cnn"])["cnn"]
                _, ids = self.index_store.get(cid, "cnn").search(rest_vectors, GLOBAL_SHORTLIST, allowed=allowed)
                by_embedding = interleave(*ids.tolist())
            tv = time.perf_counter()
            timings.embed_ms += (tv - te) * 1000
            sharper = functools.partial(self._sharper, data, decoded)  # decoded only when needed
            look_closer(regions, recogniser, image.size, sharper, allowed, parts, by_embedding)
            timings.recognise_ms += (time.perf_counter() - tv) * 1000

        main = _main_region(regions)
        query_labels = list(options.labels)
        if self.classifier is not None and self.classifier.info() is not None:
            te = time.perf_counter()
            query_labels += [QueryLabel(n, c, "server") for n, c in self.classifier([main.crop(image)])[0]]
            timings.embed_ms += (time.perf_counter() - te) * 1000

        answered: list[Region] = []
        result: SearchResult | None = None
        for region in regions:
            rec = region.recognition
            stored = self._stored_vectors(cid, rec.item_id, wanted, options) if rec is not None else None
            described = stored or region_vectors.get(id(region)) or self._describe([region.crop(image)], wanted)
            # Each region is weighted for its own kind of picture (the image-type model reads
            # its first view: the whole photo for the main region, where a camera photo shows
            # its wall; a recognised artwork's clean stored vectors for "works like it").
            weighting = self._weighting(options, described, set(described))
            vectors = {name: described[name] for name, w in weighting.weights.items() if w > 0}
            found = self._search(cid, collection, vectors, weighting, options, query_labels, first=rec)
            timings.search_ms += found.timings.search_ms
            match = self._match(found.hits, rec, frame.to_upright(region.outline)) if rec is not None else None
            answered.append(Region(frame.to_upright(region.outline), region.found_by, match, found.hits))
            if region is main:
                result = found
        assert result is not None  # main is one of the regions
        result.regions = answered
        result.match = answered[next(n for n, r in enumerate(regions) if r is main)].match
        result.photo_size = frame.upright_size
        result.warnings = warnings
        result.artwork = _artwork_info(main, located, image.size) if (located or main.recognition) else None
        result.recognition = _recognition_info(recogniser)
        info = self.classifier.info() if self.classifier is not None and hasattr(self.classifier, "info") else None
        if info:
            result.models.append({"descriptor": "classifier", "model": info["model"], "version": info["version"]})
        timings.total_ms = (time.perf_counter() - t0) * 1000
        result.timings = timings
        return result

    @in_one_space
    def embedding_space(self, descriptor: str) -> str:
        """The space a phone's vector for ``descriptor`` must be in (see :mod:`.embedding_space`)."""
        d = self.descriptors[descriptor]
        return str(getattr(d, "space", server_space())) if descriptor == "cnn" else d.version

    @in_one_space
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

    @in_one_space
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
        own = item if target == item.id else self.catalog.get_item(target)
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
    def _allowed(self, cid: int, options: SearchOptions) -> np.ndarray | None:
        """Ids a label filter lets through (None: no filter)."""
        if not options.filter_labels:
            return None
        return np.asarray(self.catalog.item_ids_with_labels(cid, options.filter_labels), np.int64)

    def _sharper(self, data: bytes, decoded: DecodedImage) -> Image.Image:
        """The upload decoded with twice the pixels per side of ``decoded`` (as far as the file
        has them), for a closer look at a wall; ``decoded`` itself when the file has no more,
        or decoding it larger would pass the decode limits."""
        image = decoded.image
        if max(decoded.original_size) <= max(image.size):
            return image
        try:
            return decode_image(
                data,
                max_pixels=self.settings.max_pixels,
                min_side=2 * min(image.size),
                max_decode_bytes=self.settings.max_decode_bytes,
            ).image
        except ImageDecodeError:
            return image

    def _recogniser(self, cid: int, collection: str, image: Image.Image, warnings: list[str]) -> Recogniser | None:
        """Recognition of this photo in this collection; None (with a warning saying what to
        run) when the collection has no local features."""
        if self.features is None:
            return None
        stored = self.features.get(cid)
        if not stored.exists:
            note = (
                f"collection {collection!r} has no local features yet, so the photographed artwork cannot be "
                f"verified (match is null); run `{backfill_command(collection)}` once"
            )
            warnings.append(note)
            if cid not in self._warned:
                self._warned.add(cid)
                log.warning(note)
            return None
        t0 = time.perf_counter()
        query = extract_query_features(image)
        recogniser = Recogniser(stored, query)
        recogniser.features_ms = (time.perf_counter() - t0) * 1000
        return recogniser

    def _stored_vectors(
        self, cid: int, item_id: int, names: Sequence[str], options: SearchOptions
    ) -> dict[str, np.ndarray] | None:
        """A catalogue item's own vectors: what "works like the recognised one" are searched
        with (its clean scan describes it better than the photo does). None when the caller
        asked for a descriptor the item is not indexed for yet (the photo is described instead)."""
        vectors = {}
        for name in names:
            idx = self.index_store.get(cid, name)
            if idx.contains(np.array([item_id]))[0]:
                vectors[name] = idx.reconstruct(np.array([item_id]))[0]
        asked = [d for d, w in (options.weights or {}).items() if w > 0]
        if not vectors or any(d not in vectors for d in asked):
            return None
        return vectors

    def _match(self, hits: list[Hit], rec: Recognition, corners: np.ndarray) -> Match:
        hit = next((h for h in hits if h.item.id == rec.item_id), None)
        if hit is None:  # not among the results (top_k, filters): answer it all the same
            hit = Hit(item=self.catalog.get_item(rec.item_id), score=1.0, scores={}, reasons=[])
        return Match(hit=hit, corners=corners, evidence=rec.evidence)

    def _describe(self, views: list[Image.Image], names: Sequence[str]) -> dict[str, np.ndarray]:
        return describe_all(self.descriptors, views, names)

    def _wanted(self, options: SearchOptions) -> list[str]:
        """Descriptors a photo query is described with: the caller's weighted ones, else every
        one the defaults, the style model's weights or its image-type model may use (the
        backbone's outputs come from one run either way; only ``color`` costs extra)."""
        if options.weights:
            names = {d for d, w in options.weights.items() if w > 0}
        else:
            names = {d for d, w in self.settings.descriptor_weights.items() if w > 0}
            model = self._active_style_model()
            if model is not None:
                names |= {d for d, w in model.fixed_weights.items() if w > 0}
                names |= {d for ws in model.type_weights.values() for d, w in ws.items() if w > 0}
                names |= set(model.types.inputs) if model.types is not None else set()
        return [d for d in self.descriptors if d in names]

    def _active_style_model(self) -> StyleModel | None:
        """The curator's style model while the serving space has its descriptors (it was trained
        on the default backbone's features: after a swap to another backbone it sits out)."""
        return self.style_model if "artstyle" in self.descriptors else None

    def _weighting(self, options: SearchOptions, vectors: Mapping[str, np.ndarray], available: set[str]) -> Weighting:
        """Descriptor weights for this query (see :mod:`.weighting`): the caller's, the image
        type's, or the defaults; never empty while some descriptor is available."""
        weighting = choose_weighting(
            caller=options.weights,
            defaults=self.settings.descriptor_weights,
            style_model=self._active_style_model(),
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
        *,
        first: Recognition | None = None,
    ) -> SearchResult:
        """Shortlist, re-score exactly, fuse with labels; ``first``, an artwork recognised in
        the photo, is ranked first (verified evidence outranks any similarity)."""
        t0 = time.perf_counter()
        allowed = self._allowed(cid, options)
        if not isinstance(weighting, Weighting):
            weighting = Weighting(dict(weighting), "default")
        weights = weighting.weights
        pool = max(options.top_k * 4 + len(options.exclude_ids), 50)
        candidates: set[int] = set() if first is None else {first.item_id}
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
        if first is not None:
            for pos, h in enumerate(fused):
                if h.item_id == first.item_id:
                    e = first.evidence
                    h.reasons.insert(0, f"recognised in the photo: {e.inliers} matching points agree on one view of it")
                    fused.insert(0, fused.pop(pos))
                    break
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


def _main_region(regions: list[PhotoRegion]) -> PhotoRegion:
    """The region a single answer is about: the largest recognised artwork, else the largest
    region (a visitor fills the photo with what they care about)."""
    recognised = [r for r in regions if r.recognition is not None]
    return max(recognised or regions, key=lambda r: r.area())


def _recognition_info(recogniser: Recogniser | None) -> dict[str, Any] | None:
    """``query.recognition``: what recognition did, the parts of ``timings_ms.recognise_ms``."""
    if recogniser is None:
        return None
    return {
        "keypoints": len(recogniser.query),
        "verified": len(recogniser.log),
        "stretched_view": recogniser.widened,
        "closer_look": recogniser.looked_closer,
        "side_view": recogniser.looked_from_the_side,
        "features_ms": round(recogniser.features_ms, 2),
        "words_ms": round(recogniser.words_ms, 2),
        "verify_ms": round(recogniser.verify_ms, 2),
    }


def _artwork_info(main: PhotoRegion, located: bool, size: tuple[int, int]) -> dict[str, Any]:
    """``query.artwork``: the main region in the decoded photo's pixels, as the web page reads it."""
    found = main.found_by != "photo"
    return {
        "found": found,
        "confidence": round(float(main.confidence if found else 0.0), 3),
        "corners": np.round(main.outline, 1).tolist(),
        # corners are in the pixels of the decoded (draft-reduced, upright) photo
        "image_size": [size[0], size[1]],
        "found_by": main.found_by,
    }
