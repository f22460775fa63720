"""Search over the generated demo collection: what a visitor and a curator would notice."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.engine.catalog.store import UnknownCollection
from backend.engine.search_options import OptionsError, SearchOptions
from backend.engine.services import Engine

COLLECTION = "demo"


def opts(eng: Engine, **raw: object) -> SearchOptions:
    return SearchOptions.from_json(raw, eng.settings, list(eng.descriptors))


@pytest.fixture(scope="module")
def items(demo_engine: Engine) -> dict[str, object]:
    cid = demo_engine.catalog.collection_id(COLLECTION)
    ids = demo_engine.catalog.ids_with_status(cid, "indexed") + demo_engine.catalog.ids_with_status(cid, "duplicate")
    return {v.source_path: v for v in demo_engine.catalog.get_items(ids).values()}


def _read(demo_source, rel: str) -> bytes:
    return (Path(demo_source.out_dir) / rel).read_bytes()


def test_every_catalog_image_finds_itself_first(demo_engine: Engine, demo_source, items) -> None:
    """With the default options (artwork locating on), as a curator checking a scan would search."""
    misses = []
    # Two of every family, every Mondrian (grids of rectangles tempt the artwork locator)
    # and both duplicates.
    chosen = {
        rel: item
        for rel, item in items.items()
        if rel.endswith(("_0000.jpg", "_0003.jpg")) or "mondrian" in rel or "dup" in rel
    }
    for rel, item in sorted(chosen.items()):
        result = demo_engine.search.search_image(COLLECTION, _read(demo_source, rel), opts(demo_engine, top_k=5))
        expected = item.duplicate_of or item.id
        top = result.hits[0]
        if top.item.id != expected:
            misses.append((rel, top.item.source_path, top.score))
        elif item.duplicate_kind != "near":
            assert top.score == pytest.approx(1.0, abs=2e-3), rel
    assert not misses, misses


def test_results_are_ranked_indexed_items_with_their_labels(demo_engine: Engine, demo_source) -> None:
    result = demo_engine.search.search_image(
        COLLECTION, _read(demo_source, "seascape/seascape_0002.jpg"), opts(demo_engine, top_k=7)
    )
    assert len(result.hits) == 7
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.item.id for h in result.hits}) == 7
    assert all(h.item.status == "indexed" for h in result.hits)  # duplicates are linked, never listed
    assert sum("seascape" in h.item.label_names for h in result.hits[:5]) >= 4  # its family comes first
    d = result.hits[0].to_dict()
    assert {"id", "source_path", "score", "labels", "reasons"} <= set(d)
    assert d["labels"][0]["name"] == "seascape"


def test_related_never_returns_the_item_or_its_duplicates(demo_engine: Engine, items) -> None:
    kept = next(v for v in items.values() if v.status == "indexed" and v.duplicates)
    for asked in (kept.id, *kept.duplicates):
        item, result = demo_engine.search.related(asked, SearchOptions(top_k=60))
        assert item.id == asked
        returned = {h.item.id for h in result.hits}
        assert kept.id not in returned and not returned & set(kept.duplicates)
        assert len(returned) == sum(v.status == "indexed" for v in items.values()) - 1  # everything else


def test_related_items_share_the_items_labels(demo_engine: Engine, items) -> None:
    for rel, item in items.items():
        if item.status != "indexed":
            continue
        _, result = demo_engine.search.related(item.id, SearchOptions(top_k=5))
        shared = sum(bool(set(h.item.label_names) & set(item.label_names)) for h in result.hits)
        assert shared >= 3, (rel, [h.item.source_path for h in result.hits])


def test_label_filters_restrict_results(demo_engine: Engine, demo_source) -> None:
    query = _read(demo_source, "mondrian/mondrian_0001.jpg")
    result = demo_engine.search.search_image(
        COLLECTION, query, opts(demo_engine, top_k=20, filters={"labels": ["ink_wash", "portrait"]})
    )
    assert len(result.hits) == 12  # 6 of each family, nothing else
    assert all({"ink_wash", "portrait"} & set(h.item.label_names) for h in result.hits)
    none = demo_engine.search.search_image(COLLECTION, query, opts(demo_engine, filters={"labels": ["no-such-style"]}))
    assert none.hits == []


def test_on_device_labels_boost_items_with_that_label_and_say_so(demo_engine: Engine, demo_source) -> None:
    query = _read(demo_source, "stripes/stripes_0003.jpg")
    plain = demo_engine.search.search_image(COLLECTION, query, opts(demo_engine, top_k=60))
    boosted = demo_engine.search.search_image(
        COLLECTION,
        query,
        opts(demo_engine, top_k=60, labels=[{"name": "pointillism", "confidence": 0.8}], label_weight=0.5),
    )
    rank = lambda res: {h.item.id: r for r, h in enumerate(res.hits)}  # noqa: E731
    before, after = rank(plain), rank(boosted)
    plain_scores = {h.item.id: h.score for h in plain.hits}
    pointillist = [h for h in boosted.hits if "pointillism" in h.item.label_names]
    assert pointillist
    for h in pointillist:
        assert h.score == pytest.approx(plain_scores[h.item.id] + 0.5 * 0.8, abs=1e-5)
        assert after[h.item.id] < before[h.item.id]
        assert any("pointillism" in r and "phone" in r for r in h.reasons), h.reasons
    assert all(
        not any("shares label" in r for r in h.reasons) for h in boosted.hits if "pointillism" not in h.item.label_names
    )
    assert [q.name for q in boosted.query_labels] == ["pointillism"]


def test_descriptor_weights_change_the_ranking(demo_engine: Engine, demo_source) -> None:
    query = _read(demo_source, "portrait/portrait_0004.jpg")
    o = lambda **w: opts(demo_engine, top_k=60, weights=w, locate=False)  # noqa: E731
    cnn = demo_engine.search.search_image(COLLECTION, query, o(cnn=1.0))
    color = demo_engine.search.search_image(COLLECTION, query, o(color=1.0))
    mixed = demo_engine.search.search_image(COLLECTION, query, o(cnn=1.0, color=3.0))
    assert [h.item.id for h in cnn.hits] != [h.item.id for h in color.hits]
    assert all(set(h.scores) == {"cnn"} for h in cnn.hits) and all(set(h.scores) == {"color"} for h in color.hits)
    color_scores = [h.scores["color"] for h in color.hits]
    assert color_scores == sorted(color_scores, reverse=True)  # colour-only ranks by colour
    for h in mixed.hits:  # the fused score is the weighted mean of the parts
        assert h.score == pytest.approx((h.scores["cnn"] + 3 * h.scores["color"]) / 4, abs=1e-5)
    assert any("colours" in r for r in color.hits[0].reasons)


def test_on_device_embedding_search_equals_image_search(demo_engine: Engine, demo_source) -> None:
    data = _read(demo_source, "cubist/cubist_0002.jpg")
    by_image = demo_engine.search.search_image(COLLECTION, data, opts(demo_engine, top_k=10, locate=False))
    vec = demo_engine.descriptors["cnn"].describe([Image.open(io.BytesIO(data)).convert("RGB")])[0]
    by_vector = demo_engine.search.search_vectors(COLLECTION, {"cnn": vec.tolist()}, opts(demo_engine, top_k=10))
    assert [h.item.id for h in by_vector.hits] == [h.item.id for h in by_image.hits]
    np.testing.assert_allclose([h.score for h in by_vector.hits], [h.score for h in by_image.hits], atol=1e-5)
    # a phone need not normalise: the server does
    scaled = demo_engine.search.search_vectors(COLLECTION, {"cnn": (vec * 7.5).tolist()}, opts(demo_engine, top_k=10))
    assert [h.item.id for h in scaled.hits] == [h.item.id for h in by_image.hits]


@pytest.mark.parametrize(
    "vectors, message",
    [
        ({"cnn": [0.1] * 10}, "1280"),
        ({"cnn": [float("nan")] * 1280}, "NaN"),
        ({"cnn": [0.0] * 1280}, "zeros"),
        ({"sift": [0.1] * 1280}, "unknown descriptor"),
    ],
)
def test_bad_on_device_embeddings_are_refused_with_a_reason(demo_engine: Engine, vectors, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        demo_engine.search.search_vectors(COLLECTION, vectors, SearchOptions())


def test_unknown_collection_is_an_error_before_any_work(demo_engine: Engine) -> None:
    with pytest.raises(UnknownCollection, match="nope"):
        demo_engine.search.search_image("nope", b"not even an image", SearchOptions())
    with pytest.raises(UnknownCollection):
        demo_engine.search.search_vectors("nope", {"cnn": [1.0] * 1280}, SearchOptions())


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"top_k": 0}, "top_k"),
        ({"top_k": 10_000}, "top_k"),
        ({"top_k": "5"}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"topk": 5}, "topk"),
        ({"weights": {"cnn": -1}}, "cnn"),
        ({"weights": {"cnn": 0, "color": 0}}, "weight"),
        ({"weights": {"sift": 1}}, "sift"),
        ({"labels": "baroque"}, "labels"),
        ({"labels": [{"name": "x", "confidence": 2}]}, "confidence"),
        ({"filters": {"labels": "x"}}, "filters.labels"),
        ({"filters": {"year": 1900}}, "filters"),
        ({"locate": "yes"}, "locate"),
        ([1, 2], "object"),
    ],
)
def test_malformed_options_name_the_field(demo_engine: Engine, raw: object, field: str) -> None:
    with pytest.raises(OptionsError, match=field):
        SearchOptions.from_json(raw, demo_engine.settings, list(demo_engine.descriptors))
