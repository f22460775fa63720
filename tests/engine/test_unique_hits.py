"""Every answer lists an item at most once, whatever the weighting, labels and filters.

Each weighted descriptor searches its own index, so with two descriptors (and the query's
rectified view beside the whole photo, and label-sharing candidates for related items) the
same item is found several times before fusion; it must come out once. Checked for photo
search, on-device embedding search and related items, with a ``top_k`` that returns the
whole collection (where a repeated item cannot hide below the cut) and a short one.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from backend.engine.fusion import QueryLabel, fuse
from backend.engine.search_options import SearchOptions
from backend.engine.search_results import SearchResult
from backend.engine.services import Engine

COLLECTION = "demo"
QUERY = "seascape/seascape_0002.jpg"

WEIGHTS = {
    "cnn only": {"cnn": 1.0},
    "color only": {"color": 1.0},
    "both equal": {"cnn": 1.0, "color": 1.0},
    "cnn heavy": {"cnn": 1.0, "color": 0.3},
    "color heavy": {"cnn": 0.2, "color": 3.0},
}
EXTRAS: dict[str, dict[str, Any]] = {
    "plain": {},
    "labels": {"labels": (QueryLabel("seascape", 0.9), QueryLabel("portrait", 0.4), QueryLabel("seascape", 0.5))},
    "filters": {"filter_labels": ("seascape", "portrait", "stripes")},
    "labels and filters": {"labels": (QueryLabel("portrait", 1.0),), "filter_labels": ("seascape", "portrait")},
}


@pytest.fixture(scope="module")
def query(demo_engine: Engine, demo_source: Any) -> dict[str, Any]:
    data = (Path(demo_source.out_dir) / QUERY).read_bytes()
    image = Image.open(io.BytesIO(data)).convert("RGB")
    cid = demo_engine.catalog.collection_id(COLLECTION)
    indexed = demo_engine.catalog.ids_with_status(cid, "indexed")
    item = next(v for v in demo_engine.catalog.get_items(indexed).values() if v.source_path == QUERY)
    vectors = {name: d.describe([image])[0] for name, d in demo_engine.descriptors.items()}
    return {"data": data, "vectors": vectors, "item_id": item.id, "indexed": len(indexed)}


def _assert_unique(result: SearchResult, top_k: int, expected_max: int) -> None:
    ids = [h.item.id for h in result.hits]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"item(s) {repeated} listed more than once: {ids}"
    assert len(ids) == min(top_k, expected_max) or len(ids) < top_k  # never padded with repeats
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("top_k", [60, 5])
@pytest.mark.parametrize("extra", list(EXTRAS))
@pytest.mark.parametrize("weights", list(WEIGHTS))
@pytest.mark.parametrize("entry", ["photo", "photo located", "embedding", "related"])
def test_hit_ids_are_unique(
    demo_engine: Engine, query: dict[str, Any], entry: str, weights: str, extra: str, top_k: int
) -> None:
    options = SearchOptions(top_k=top_k, weights=WEIGHTS[weights], locate=entry == "photo located", **EXTRAS[extra])
    search = demo_engine.search
    if entry.startswith("photo"):
        result = search.search_image(COLLECTION, query["data"], options)
    elif entry == "embedding":
        vectors = {name: query["vectors"][name] for name in WEIGHTS[weights]}
        result = search.search_vectors(COLLECTION, vectors, options)
    else:
        _, result = search.related(query["item_id"], options)
        assert query["item_id"] not in {h.item.id for h in result.hits}
    assert result.hits, "nothing found: the check would be empty"
    _assert_unique(result, top_k, query["indexed"])
    if extra == "plain" and top_k == 60:  # the whole collection comes back, each item once
        expected = query["indexed"] - (entry == "related")
        assert len(result.hits) == expected, (len(result.hits), expected)


def test_fusion_lists_an_item_found_by_every_descriptor_once() -> None:
    sims = {"cnn": {1: 0.9, 2: 0.5, 3: 0.4}, "color": {1: 0.3, 2: 0.8, 4: 0.7}}
    labels = [QueryLabel("a", 0.5), QueryLabel("a", 0.9, "server"), QueryLabel("b", 1.0)]
    hits = fuse(sims, {"cnn": 1.0, "color": 1.0}, {1: {"a", "b"}, 2: {"a"}}, labels, label_weight=0.1)
    assert [h.item_id for h in hits] == [1, 2, 4, 3]
    # Item 1: (0.9 + 0.3) / 2 + 0.1·0.9 (the more confident 'a') + 0.1·1.0 ('b'), each label once.
    assert hits[0].score == pytest.approx(0.6 + 0.09 + 0.1)
    assert sum("shares label 'a'" in r for r in hits[0].reasons) == 1
    np.testing.assert_allclose([h.score for h in hits[1:]], [0.65 + 0.09, 0.35, 0.2])
