"""A search's answer: hits, the recognised artwork, one region per artwork, and timings.

Shared by every kind of search (photo, on-device embedding, related items) and by both
outputs: ``to_dict`` is the JSON of ``artsnap search --json``, which the HTTP API extends
with URLs (:mod:`backend.api.serializers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .catalog.store import ItemView
from .fusion import QueryLabel
from .recognition import Evidence
from .weighting import Weighting


@dataclass
class Timings:
    decode_ms: float = 0.0
    #: local features of the photo, visual words, geometric verification
    recognise_ms: float = 0.0
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
class Match:
    """The artwork recognised in the photo: the catalogue item (as a result), where it is in
    the photo and the evidence that verified it.

    ``corners`` (4, 2) are the artwork's own top-left, top-right, bottom-right and
    bottom-left corners in pixels of the uploaded photo as its viewer sees it: upright (EXIF
    orientation applied), at its full resolution, pixel centres at integer coordinates. A
    corner may lie outside the photo when the artwork is cut off by the photo's edge.
    """

    hit: Hit
    corners: np.ndarray
    evidence: Evidence

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.hit.to_dict(),
            "corners": np.round(self.corners, 1).tolist(),
            "evidence": self.evidence.to_dict(),
        }


@dataclass
class Region:
    """One artwork found in the photo: its ``corners`` (as :attr:`Match.corners`), how it
    was found (``found_by``: ``"recognition"``, ``"locator"``, or ``"photo"`` when no artwork
    was found and the whole photo is the region), the recognised artwork (None: not in this
    collection) and the works like it (``hits``; the match first when there is one)."""

    corners: np.ndarray
    found_by: str
    match: Match | None
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "corners": np.round(self.corners, 1).tolist(),
            "found_by": self.found_by,
            "match": self.match.to_dict() if self.match else None,
            "results": [h.to_dict() for h in self.hits],
        }


@dataclass
class SearchResult:
    """A search's answer. For a photo, ``regions`` has one entry per artwork found in it
    (one for a photo of one artwork); ``match`` and ``hits`` are those of the main region
    (the largest recognised artwork, else the largest region). Searches without pixels (an
    on-device embedding, related items) have no regions and no match."""

    collection: str
    hits: list[Hit]
    timings: Timings
    models: list[dict[str, Any]] = field(default_factory=list)
    artwork: dict[str, Any] | None = None
    query_labels: list[QueryLabel] = field(default_factory=list)
    match: Match | None = None
    regions: list[Region] = field(default_factory=list)
    photo_size: tuple[int, int] | None = None
    #: how recognition went (keypoints, candidates verified, time per part), for BENCHMARKS.md
    recognition: dict[str, Any] | None = None
    #: what the caller should know about this answer, e.g. that matches cannot be verified
    warnings: list[str] = field(default_factory=list)
    #: the descriptor weights the results were ranked with, and why (caller, image type, default)
    weighting: Weighting | None = None

    def to_dict(self) -> dict[str, Any]:
        query: dict[str, Any] = {
            "artwork": self.artwork,
            "photo_size": list(self.photo_size) if self.photo_size else None,
            "recognition": self.recognition,
            "labels": [{"name": q.name, "confidence": q.confidence, "source": q.source} for q in self.query_labels],
        }
        if self.weighting is not None and self.weighting.source != "default":
            query["weighting"] = self.weighting.to_dict()  # said when the caller or the image type chose
        return {
            "collection": self.collection,
            "results": [h.to_dict() for h in self.hits],
            "match": self.match.to_dict() if self.match else None,
            "regions": [r.to_dict() for r in self.regions],
            "query": query,
            "warnings": self.warnings,
            "timings_ms": self.timings.to_dict(),
            "models": self.models,
        }
