"""Ranking, fusion and explanations, on a collection whose similarities the test chose.

Every item's cosine to the query is set by hand (per descriptor), so the expected order,
fused scores, label bonuses and reasons are known exactly: a visitor would notice any of
them changing. The catalog (SQLite) and the FAISS indexes are the real ones; the two
descriptors only say which vectors they hold (no network runs), so these tests are fast
enough to run once per mutant in ``make mutation``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend.config import Settings
from backend.engine.catalog.store import Catalog, NewItem
from backend.engine.fusion import FusedHit, QueryLabel, fuse
from backend.engine.index import ID_BYTES, IndexConfigError, IndexMeta, VectorIndex
from backend.engine.index_store import IndexStore, ReconcileReport
from backend.engine.related_labels import label_sharing_candidates
from backend.engine.search import SearchService
from backend.engine.search_options import OptionsError, SearchOptions
from backend.engine.search_results import Hit, SearchResult, Timings
from tests.engine.chosen_vectors import ChosenVectors

DIM = 8


def with_cosine(cos: float, axis: int) -> np.ndarray:
    """The unit vector at cosine ``cos`` to e0, leaning towards ``axis``."""
    v = np.zeros(DIM, np.float32)
    v[0], v[axis] = cos, (1 - cos * cos) ** 0.5
    return v


E0 = with_cosine(1.0, 1)
#: name → (cosine to the query under cnn, under color, curator labels, status)
ITEMS: dict[str, tuple[float, float, tuple[str, ...], str]] = {
    "q": (1.0, 1.0, ("stripes",), "indexed"),
    "a": (0.9, 0.1, ("stripes",), "indexed"),
    "b": (0.7, 0.95, ("dots",), "indexed"),
    "c": (0.5, 0.45, ("stripes", "dots"), "indexed"),
    "d": (0.3, 0.2, (), "indexed"),
    "p": (0.99, 0.99, ("stripes",), "pending"),  # in the index, not yet in the catalog's answer
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("ranking")
    settings = Settings(data_dir=data_dir)
    catalog = Catalog(settings.database_url)
    descriptors = {"cnn": ChosenVectors("cnn", DIM, photo=E0), "color": ChosenVectors("color", DIM, photo=E0)}
    store = IndexStore(settings.index_dir, descriptors, settings.index_factory)
    cid = catalog.ensure_collection("rank")
    new = [
        NewItem(f"{n}.png", f"{i:064x}", None, n.upper(), 8, 8, "PNG", None, None, labels, status=status)
        for i, (n, (_, _, labels, status)) in enumerate(ITEMS.items())
    ]
    ids = dict(zip(ITEMS, catalog.add_items(cid, new)))
    (dup,) = catalog.add_items(
        cid,
        [
            NewItem(
                "a-copy.png", "f" * 64, None, None, 8, 8, "PNG", None, None, ("copy",), "duplicate", ids["a"], "exact"
            )
        ],
    )
    ids["dup"] = dup
    (ids["new"],) = catalog.add_items(cid, [NewItem("new.png", "e" * 64, None, None, 8, 8, "PNG", None, None, ())])
    with store.writer(cid) as indexes:
        for d, column in (("cnn", 0), ("color", 1)):
            vecs = np.stack([with_cosine(ITEMS[n][column], axis=2 + k) for k, n in enumerate(ITEMS)])
            indexes[d].add(np.array([ids[n] for n in ITEMS], np.int64), vecs)
        store.save(cid, indexes)
    service = SearchService(settings, catalog, descriptors, store)
    yield {
        "service": service,
        "ids": ids,
        "catalog": catalog,
        "store": store,
        "cid": cid,
        "settings": settings,
        "descriptors": descriptors,
    }
    catalog.close()


def names(world: dict[str, Any], result: SearchResult) -> list[str]:
    by_id = {v: k for k, v in world["ids"].items()}
    return [by_id[h.item.id] for h in result.hits]


def search(world: dict[str, Any], vectors: dict[str, np.ndarray] | None = None, **options: Any) -> SearchResult:
    vectors = vectors if vectors is not None else {"cnn": E0, "color": E0}
    if vectors is not None and set(options.get("weights") or {"cnn": 1.0}) == {"cnn"}:
        vectors = {"cnn": vectors["cnn"]}  # what a phone running only the CNN sends
    return world["service"].search_vectors("rank", vectors, SearchOptions(**options))


# -- fusion -------------------------------------------------------------------------------


def test_fused_score_is_the_weighted_mean_and_reasons_follow_the_weights() -> None:
    sims = {"cnn": {1: 0.8, 2: 0.6}, "color": {1: 0.2, 2: 0.9, 3: 0.4}}
    hits = fuse(sims, {"cnn": 3.0, "color": 1.0}, {}, [], label_weight=0.1)
    assert [h.item_id for h in hits] == [2, 1, 3]
    assert hits[0].score == pytest.approx((3 * 0.6 + 0.9) / 4) and hits[1].score == pytest.approx((3 * 0.8 + 0.2) / 4)
    assert hits[2].scores == {"cnn": 0.0, "color": 0.4} and hits[2].score == pytest.approx(0.1)
    assert hits[0].reasons == ["looks alike (CNN embedding): 0.60", "similar colours: 0.90"]
    flipped = fuse(sims, {"cnn": 1.0, "color": 3.0}, {}, [], label_weight=0.1)
    assert flipped[0].reasons == ["similar colours: 0.90", "looks alike (CNN embedding): 0.60"]


def test_unweighted_and_unknown_descriptors_take_no_part() -> None:
    sims = {"cnn": {1: 0.5}, "color": {2: 0.9}, "sift": {3: 0.7}}
    hits = fuse(sims, {"cnn": 1.0, "color": 0.0, "edges": 2.0}, {}, [], label_weight=0.1)
    assert [(h.item_id, h.score, h.scores) for h in hits] == [(1, 0.5, {"cnn": 0.5})]
    assert fuse(sims, {"cnn": 0.0}, {}, [], label_weight=0.1) == []
    named = fuse({"sift": {3: 0.7}}, {"sift": 1.0}, {}, [], label_weight=0.1)
    assert named[0].reasons == ["sift: 0.70"]  # a descriptor without plain words is named as it is


def test_label_bonus_uses_each_labels_best_confidence_and_says_where_it_came_from() -> None:
    sims = {"cnn": {1: 0.5, 2: 0.5, 3: 0.5}}
    labels = [
        QueryLabel("dots", 0.4),
        QueryLabel("dots", 0.8, "server"),
        QueryLabel("baroque", 0.5, "item"),
        QueryLabel("ink", 1.0, "curator-sheet"),
    ]
    item_labels = {1: {"dots", "baroque"}, 2: {"ink"}, 3: {"other"}}
    hits = {h.item_id: h for h in fuse(sims, {"cnn": 1.0}, item_labels, labels, label_weight=0.25)}
    assert hits[1].score == pytest.approx(0.5 + 0.25 * 0.8 + 0.25 * 0.5)
    assert hits[1].scores["labels"] == pytest.approx(0.325)
    assert hits[1].reasons == [
        "looks alike (CNN embedding): 0.50",
        "shares label 'baroque' with this item (0.50)",
        "shares label 'dots' with the server's classifier (0.80)",
    ]
    assert hits[2].reasons[-1] == "shares label 'ink' with curator-sheet (1.00)"
    assert "labels" not in hits[3].scores and len(hits[3].reasons) == 1
    assert [h.item_id for h in fuse(sims, {"cnn": 1.0}, item_labels, labels, label_weight=0.25)] == [1, 2, 3]


def test_equal_scores_rank_by_item_id() -> None:
    hits = fuse({"cnn": {9: 0.5, 4: 0.5, 7: 0.5}}, {"cnn": 1.0}, {}, [], label_weight=0.1)
    assert [h.item_id for h in hits] == [4, 7, 9]
    assert FusedHit(1, 0.5).scores == {} and FusedHit(1, 0.5).reasons == []


# -- options --------------------------------------------------------------------------------


def test_options_defaults_and_the_edges_of_what_is_accepted(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    parse = lambda raw: SearchOptions.from_json(raw, settings, ["cnn", "color"])  # noqa: E731
    default = parse(None)
    assert default == parse({}) == SearchOptions(top_k=settings.default_top_k)
    assert (default.weights, default.labels, default.filter_labels, default.locate, default.label_weight) == (
        None,
        (),
        (),
        None,
        0.1,
    )
    assert parse({"top_k": 1}).top_k == 1 and parse({"top_k": settings.max_top_k}).top_k == settings.max_top_k
    edges = parse(
        {
            "weights": {"cnn": 0, "color": 2},
            "labels": ["dots", {"name": "ink"}, {"name": "a", "confidence": 0}, {"name": "b", "confidence": 1}],
            "filters": {"labels": ["x", "y"]},
            "locate": False,
            "label_weight": 1,
        }
    )
    assert edges.weights == {"cnn": 0.0, "color": 2.0} and all(isinstance(v, float) for v in edges.weights.values())
    assert edges.labels == (QueryLabel("dots", 1.0), QueryLabel("ink", 1.0), QueryLabel("a", 0.0), QueryLabel("b", 1.0))
    assert all(q.source == "device" for q in edges.labels)
    assert (edges.filter_labels, edges.locate, edges.label_weight) == (("x", "y"), False, 1.0)
    assert parse({"label_weight": 0}).label_weight == 0.0 and parse({"filters": {}}).filter_labels == ()
    assert parse({"weights": {"cnn": 0.3}}).weights == {"cnn": 0.3}  # any positive total will do


@pytest.mark.parametrize(
    "raw, message",
    [
        ("weights", "options must be a JSON object"),
        ({"top_k": 201}, "top_k must be an integer from 1 to 200"),
        ({"top_k": -1}, "top_k must be an integer from 1 to 200"),
        ({"top_k": 2.0}, "top_k must be an integer"),
        ({"weights": []}, 'weights must be an object like {"cnn": 1.0, "color": 0.2}'),
        ({"weights": {}}, "weights must be an object"),
        ({"weights": {"cnn": True}}, "weight of 'cnn' must be a number from 0 to 1000"),
        ({"weights": {"cnn": "1"}}, "weight of 'cnn' must be a number from 0 to 1000"),
        ({"weights": {"edges": 1}}, "unknown descriptor 'edges' in weights; known: cnn, color"),
        ({"weights": {"cnn": 0}}, "at least one weight must be > 0"),
        ({"labels": {"name": "x"}}, "labels must be a list of names"),
        ({"labels": [""]}, "each label must be a name"),
        ({"labels": [{"name": 3}]}, "each label must be a name"),
        ({"labels": [{"name": "x", "confidence": 1.01}]}, "label confidence must be a number from 0 to 1"),
        ({"labels": [{"name": "x", "confidence": -0.01}]}, "label confidence must be a number from 0 to 1"),
        ({"labels": [{"name": "x", "confidence": "high"}]}, "label confidence must be a number from 0 to 1"),
        ({"filters": []}, "filters must be an object with an optional 'labels' list"),
        ({"filters": {"labels": [1]}}, "filters.labels must be a list of label names"),
        ({"locate": 1}, "locate must be true or false"),
        ({"label_weight": 1.5}, "label_weight must be a number from 0 to 1"),
        ({"label_weight": -0.5}, "label_weight must be a number from 0 to 1"),
        ({"label_weight": "0.5"}, "label_weight must be a number from 0 to 1"),
        ({"top_k": 3, "sort": "date", "page": 2}, "unknown option(s): page, sort"),
    ],
)
def test_bad_options_are_refused_with_a_message_that_says_what_to_fix(tmp_path: Path, raw: Any, message: str) -> None:
    with pytest.raises(OptionsError) as err:
        SearchOptions.from_json(raw, Settings(data_dir=tmp_path), ["cnn", "color"])
    assert str(err.value).startswith(message), str(err.value)


# -- search ---------------------------------------------------------------------------------


def test_default_weights_rank_by_the_cnn_and_skip_items_not_yet_indexed(world) -> None:
    result = search(world, top_k=4)
    assert names(world, result) == ["q", "a", "b", "c"]  # "p" (0.99) is pending: never listed
    assert [h.score for h in result.hits] == pytest.approx([1.0, 0.9, 0.7, 0.5], abs=1e-6)
    assert all(set(h.scores) == {"cnn"} for h in result.hits)
    assert result.hits[1].reasons == ["looks alike (CNN embedding): 0.90"]
    assert [m["descriptor"] for m in result.models] == ["cnn"]
    assert names(world, search(world, top_k=60)) == ["q", "a", "b", "c", "d"]


def test_two_weighted_descriptors_fuse_per_item(world) -> None:
    result = search(world, top_k=60, weights={"cnn": 1.0, "color": 1.0})
    assert names(world, result) == ["q", "b", "a", "c", "d"]
    expected = {"q": 1.0, "b": 0.825, "a": 0.5, "c": 0.475, "d": 0.25}
    assert {n: h.score for n, h in zip(names(world, result), result.hits)} == pytest.approx(expected, abs=1e-6)
    b = result.hits[1]
    assert b.scores == pytest.approx({"cnn": 0.7, "color": 0.95}, abs=1e-6)
    assert b.reasons == ["looks alike (CNN embedding): 0.70", "similar colours: 0.95"]
    assert b.score == round(b.score, 6) and all(v == round(v, 6) for v in b.scores.values())
    colour_only = search(world, top_k=3, weights={"color": 1.0})
    assert names(world, colour_only) == ["q", "b", "c"]


def test_vectors_from_a_phone_are_normalised_and_checked(world) -> None:
    plain = search(world, {"cnn": E0}, top_k=5)
    scaled = search(world, {"cnn": (E0 * 7.5).tolist()}, top_k=5)
    assert names(world, scaled) == names(world, plain)
    assert [h.score for h in scaled.hits] == pytest.approx([h.score for h in plain.hits], abs=1e-6)
    # weights naming only descriptors the phone did not send fall back to what it sent
    fallback = search(world, {"cnn": E0}, top_k=5, weights={"color": 1.0})
    assert names(world, fallback) == names(world, plain) and set(fallback.hits[0].scores) == {"cnn"}
    both = search(world, {"cnn": E0}, top_k=5, weights={"cnn": 1.0, "color": 1.0})
    assert set(both.hits[0].scores) == {"cnn"}  # only what was sent is compared
    zero = search(world, {"cnn": E0}, top_k=5, weights={"cnn": 0.0, "color": 1.0})
    assert names(world, zero) == names(world, plain)  # the only vector sent counts, even at weight 0
    muted = search(world, {"cnn": E0, "color": E0}, top_k=5, weights={"cnn": 1.0, "color": 0.0})
    assert [m["descriptor"] for m in muted.models] == ["cnn"]  # a vector weighted 0 is not searched
    assert names(world, muted) == names(world, plain) and set(muted.hits[0].scores) == {"cnn"}
    batch_of_one = search(world, {"cnn": [E0.tolist()]}, top_k=5)  # [[...]] from a batched phone model
    assert names(world, batch_of_one) == names(world, plain)
    assert plain.timings.total_ms > 0 and plain.timings.search_ms > 0
    service = world["service"]
    for vectors, message in (
        ({"cnn": [0.1] * (DIM + 1)}, f"embedding for 'cnn' must have {DIM} numbers, got {DIM + 1}"),
        ({"cnn": [float("nan")] * DIM}, "embedding contains NaN or infinity"),
        ({"cnn": [float("inf")] + [0.0] * (DIM - 1)}, "embedding contains NaN or infinity"),
        ({"cnn": [0.0] * DIM}, "embedding is all zeros"),
        ({"edges": [0.1] * DIM}, "unknown descriptor 'edges'; known: cnn, color"),
    ):
        with pytest.raises(OptionsError) as err:
            service.search_vectors("rank", vectors, SearchOptions())
        assert str(err.value) == message


def test_each_candidate_keeps_its_best_view_of_the_query(world) -> None:
    """A photo is described whole and as the located artwork (two query rows, as
    ``search_image`` passes them): each item's best view counts."""
    d_view = with_cosine(ITEMS["d"][0], axis=2 + list(ITEMS).index("d"))
    options = SearchOptions(top_k=60)
    result = world["service"]._search(world["cid"], "rank", {"cnn": np.stack([E0, d_view])}, {"cnn": 1.0}, options, [])
    scores = dict(zip(names(world, result), (h.score for h in result.hits)))
    assert scores["d"] == pytest.approx(1.0, abs=1e-6) and scores["q"] == pytest.approx(1.0, abs=1e-6)
    assert scores["a"] == pytest.approx(0.9, abs=1e-6)


def test_filters_exclusions_and_phone_labels(world) -> None:
    ids = world["ids"]
    assert names(world, search(world, top_k=60, filter_labels=("dots",))) == ["b", "c"]
    assert names(world, search(world, top_k=60, filter_labels=("none-such",))) == []
    assert names(world, search(world, top_k=3, exclude_ids=(ids["q"], ids["a"]))) == ["b", "c", "d"]
    boosted = search(world, top_k=60, labels=(QueryLabel("dots", 0.5),), label_weight=0.4)
    assert names(world, boosted) == ["q", "b", "a", "c", "d"]
    by_name = dict(zip(names(world, boosted), boosted.hits))
    assert by_name["b"].score == pytest.approx(0.7 + 0.2, abs=1e-6) and by_name["b"].scores["labels"] == 0.2
    assert by_name["b"].reasons[-1] == "shares label 'dots' with the phone's classifier (0.50)"
    assert "labels" not in by_name["a"].scores
    assert boosted.query_labels == [QueryLabel("dots", 0.5)]


def test_related_items_share_the_items_labels_and_never_the_item_or_its_copies(world) -> None:
    ids, service = world["ids"], world["service"]
    item, result = service.related(ids["q"], SearchOptions(top_k=60))
    assert item.id == ids["q"]
    assert names(world, result) == ["a", "b", "c", "d"]  # 'stripes' lifts a and c by 0.1
    hits = dict(zip(names(world, result), result.hits))
    assert hits["a"].score == pytest.approx(1.0, abs=1e-6) and hits["c"].score == pytest.approx(0.6, abs=1e-6)
    assert hits["a"].reasons[-1] == "shares label 'stripes' with this item (1.00)"
    assert [q.source for q in result.query_labels] == ["item"]
    # Asking about the copy answers for the kept item, without the kept item or its copies.
    copy, of_copy = service.related(ids["dup"], SearchOptions(top_k=60))
    assert copy.id == ids["dup"]
    assert not {h.item.id for h in of_copy.hits} & {ids["a"], ids["dup"]}
    # The kept item's vector and labels ('stripes', and 'copy' lent by the copy) ask the question.
    assert names(world, of_copy) == ["q", "b", "c", "d"]
    assert of_copy.hits[0].score == pytest.approx(0.9 + 0.1, abs=1e-6)
    assert sorted(q.name for q in of_copy.query_labels) == ["copy", "stripes"]
    # The caller's options hold: top_k, filters, label weight and descriptor weights.
    _, short = service.related(ids["q"], SearchOptions(top_k=2, label_weight=0.0))
    assert names(world, short) == ["a", "b"] and short.hits[0].score == pytest.approx(0.9, abs=1e-6)
    _, dots = service.related(ids["q"], SearchOptions(top_k=60, filter_labels=("dots",)))
    assert names(world, dots) == ["b", "c"]
    _, colour = service.related(ids["q"], SearchOptions(top_k=1, weights={"cnn": 0.0, "color": 1.0}))
    assert names(world, colour) == ["b"] and set(colour.hits[0].scores) == {"color"}
    assert result.collection == "rank" and result.timings.total_ms >= result.timings.search_ms > 0
    with pytest.raises(LookupError, match=r"item \d+ is not indexed yet \(status pending\)"):
        service.related(ids["new"], SearchOptions())  # uploaded, not embedded yet


def test_label_sharing_candidates_come_from_the_items_own_labels_only(world) -> None:
    ids, catalog, store, cid = world["ids"], world["catalog"], world["store"], world["cid"]
    indexes = {"cnn": store.get(cid, "cnn")}
    vectors = {"cnn": E0}
    item = [QueryLabel("dots", 1.0, "item")]
    assert label_sharing_candidates(catalog, cid, indexes, vectors, item, 50) == {ids["b"], ids["c"]}
    assert label_sharing_candidates(catalog, cid, indexes, vectors, item, 1) == {ids["b"]}  # the nearest sharer
    phone = [QueryLabel("dots", 1.0, "device"), QueryLabel("dots", 1.0, "server")]
    assert label_sharing_candidates(catalog, cid, indexes, vectors, phone, 50) == set()
    assert label_sharing_candidates(catalog, cid, indexes, {}, item, 50) == set()
    allowed = np.array([ids["c"], ids["d"]], np.int64)
    assert label_sharing_candidates(catalog, cid, indexes, vectors, item, 50, allowed) == {ids["c"]}
    assert label_sharing_candidates(catalog, cid, indexes, vectors, item, 50, np.array([ids["d"]])) == set()


def test_the_answer_as_json(world) -> None:
    result = search(world, top_k=1, labels=(QueryLabel("stripes", 0.5),))
    result.timings = Timings(decode_ms=1.234, locate_ms=0.0, embed_ms=2.0, search_ms=3.456, total_ms=7.891)
    body = result.to_dict()
    assert body["collection"] == "rank" and body["timings_ms"] == {
        "decode_ms": 1.23,
        "locate_ms": 0.0,
        "embed_ms": 2.0,
        "search_ms": 3.46,
        "total_ms": 7.89,
        "recognise_ms": 0.0,
    }
    assert body["query"] == {
        "artwork": None,
        "photo_size": None,
        "recognition": None,
        "labels": [{"name": "stripes", "confidence": 0.5, "source": "device"}],
    }
    assert body["match"] is None and body["regions"] == []  # vectors only: nothing to verify
    (hit,) = body["results"]
    assert hit == {
        "id": world["ids"]["q"],
        "source_path": "q.png",
        "title": "Q",
        "score": pytest.approx(1.05),
        "scores": {"cnn": pytest.approx(1.0), "labels": 0.05},
        "labels": [{"name": "stripes", "source": "curator", "confidence": None, "status": "accepted"}],
        "reasons": ["looks alike (CNN embedding): 1.00", "shares label 'stripes' with the phone's classifier (0.50)"],
        "duplicates": [],
    }
    assert body["models"] == [{"descriptor": "cnn", "model": "chosen", "version": "cnn-chosen-v1", "provider": "test"}]
    assert isinstance(result.hits[0], Hit)


class StyleReader:
    """A classifier that reads 'dots' in every photo (the server's labels join the ranking)."""

    def __call__(self, images: Any) -> list[list[tuple[str, float]]]:
        return [[("dots", 0.8)] for _ in images]

    def info(self) -> dict[str, Any]:
        return {"model": "styles", "version": "s1", "labels": ["dots", "stripes"]}


def _png(size: tuple[int, int] = (120, 90)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buf, "PNG")
    return buf.getvalue()


def test_a_photo_is_searched_as_its_descriptors_see_it(world) -> None:
    from backend.engine.catalog.store import UnknownCollection
    from dataset_tools.images import ImageDecodeError

    service, descriptors = world["service"], world["descriptors"]
    descriptors["cnn"].described.clear()
    plain = service.search_image("rank", _png(), SearchOptions(top_k=3, locate=False))
    assert names(world, plain) == ["q", "a", "b"] and plain.artwork is None
    assert descriptors["cnn"].described == [(120, 90)]  # the whole photo, once
    assert plain.timings.decode_ms > 0 and plain.timings.total_ms >= plain.timings.decode_ms
    assert plain.timings.total_ms >= plain.timings.embed_ms >= 0 and plain.timings.search_ms > 0
    assert [m["descriptor"] for m in plain.models] == ["cnn"]
    located = service.search_image("rank", _png((160, 120)), SearchOptions(top_k=3, locate=True))
    assert names(world, located) == ["q", "a", "b"]
    artwork = located.artwork
    assert set(artwork) == {"found", "found_by", "confidence", "corners", "image_size"} and artwork["image_size"] == [
        160,
        120,
    ]
    assert isinstance(artwork["found"], bool) and 0 <= artwork["confidence"] <= 1 and len(artwork["corners"]) == 4
    both = service.search_image("rank", _png(), SearchOptions(top_k=3, locate=False, weights={"cnn": 1, "color": 1}))
    assert names(world, both) == ["q", "b", "a"] and set(both.hits[1].scores) == {"cnn", "color"}
    with pytest.raises(UnknownCollection):
        service.search_image("elsewhere", b"not even an image", SearchOptions())
    with pytest.raises(ImageDecodeError):
        service.search_image("rank", b"not an image", SearchOptions())


def test_the_servers_classifier_labels_the_photo_and_counts_in_the_ranking(world) -> None:
    w = world
    reader = SearchService(w["settings"], w["catalog"], w["descriptors"], w["store"], classifier=StyleReader())
    result = reader.search_image("rank", _png(), SearchOptions(top_k=60, locate=False))
    assert result.query_labels == [QueryLabel("dots", 0.8, "server")]
    assert names(world, result) == ["q", "a", "b", "c", "d"]
    hits = dict(zip(names(world, result), result.hits))
    assert hits["b"].score == pytest.approx(0.7 + 0.1 * 0.8, abs=1e-6)
    assert hits["b"].reasons[-1] == "shares label 'dots' with the server's classifier (0.80)"
    assert {"descriptor": "classifier", "model": "styles", "version": "s1"} in result.models
    phone_too = reader.search_image(
        "rank", _png(), SearchOptions(top_k=1, locate=False, labels=(QueryLabel("stripes", 1.0),))
    )
    assert phone_too.query_labels == [QueryLabel("stripes", 1.0), QueryLabel("dots", 0.8, "server")]


def test_warming_up_shows_every_descriptor_a_picture(world) -> None:
    for d in world["descriptors"].values():
        d.described.clear()
    world["service"].warm_up()
    assert {name: d.described for name, d in world["descriptors"].items()} == {"cnn": [(64, 64)], "color": [(64, 64)]}


# -- indexes: the store and its repair ----------------------------------------------------------


def test_reconcile_makes_states_and_indexes_agree_and_saves_only_when_it_removed(tmp_path: Path) -> None:
    catalog = Catalog(Settings(data_dir=tmp_path).database_url)
    descriptors = {"cnn": ChosenVectors("cnn", DIM), "color": ChosenVectors("color", DIM)}
    store = IndexStore(tmp_path / "indexes", descriptors, "HNSW32")
    assert store.path(3, "color") == tmp_path / "indexes" / "3" / "color.faiss"
    assert store._meta("cnn") == IndexMeta("cnn", DIM, "HNSW32", "cnn-chosen-v1")
    assert store._meta("color").factory == "Flat"
    cid = catalog.ensure_collection("repair")
    rows = [NewItem(f"{i}.png", f"{i:064x}", None, None, 8, 8, "PNG", None, None, ()) for i in range(4)]
    rows.append(NewItem("half.png", "a" * 64, None, None, 8, 8, "PNG", None, None, ()))
    indexed, pending_in, pending_out, missing, half = catalog.add_items(cid, rows)
    catalog.set_status([indexed, missing, half], "indexed")
    gone = 999_999  # a vector whose item was deleted
    with store.writer(cid) as indexes:
        for idx in indexes.values():
            idx.add(np.array([indexed, pending_in, gone], np.int64), np.stack([E0, E0, E0]))
        indexes["cnn"].add(np.array([half], np.int64), E0[None])  # a crash between the two saves
        store.save(cid, indexes)
        report = store.reconcile(catalog, cid, indexes)
    assert report == ReconcileReport(removed_from_index=2, marked_indexed=1, marked_pending=2)  # gone, in 2 indexes
    assert catalog.ids_with_status(cid, "indexed") == [indexed, pending_in]
    assert catalog.ids_with_status(cid, "pending") == [pending_out, missing, half]
    for name in descriptors:  # saved: a fresh reader sees the repair
        held = sorted(IndexStore(tmp_path / "indexes", descriptors, "HNSW32").get(cid, name).ids())
        assert held == sorted([indexed, pending_in] + ([half] if name == "cnn" else []))  # re-embedded next run
    before = store.path(cid, "cnn").stat().st_mtime_ns
    with store.writer(cid) as indexes:
        again = store.reconcile(catalog, cid, indexes)
    assert again == ReconcileReport(0, 0, 0) and store.path(cid, "cnn").stat().st_mtime_ns == before
    catalog.close()


def test_index_bookkeeping(tmp_path: Path) -> None:
    meta = IndexMeta("color", DIM, "Flat", "v7")
    assert meta.to_dict() == {"descriptor": "color", "dim": DIM, "factory": "Flat", "model_version": "v7"}
    idx = VectorIndex(meta)
    scores, found = idx.search(np.stack([E0, E0]), 5)
    assert scores.shape == found.shape == (2, 0)  # empty: no padding ids
    idx.add(np.array([], np.int64), np.zeros((0, DIM), np.float32))
    assert len(idx) == 0
    vecs = np.stack([with_cosine(c, 2) for c in (1.0, 0.8, 0.6)])
    idx.add(np.array([30, 10, 20]), vecs)
    np.testing.assert_allclose(idx.reconstruct(np.array([20, 30])), vecs[[2, 0]], atol=1e-6)
    assert idx.contains(np.array([10, 11, 30])).tolist() == [True, False, True]
    assert idx.remove(np.array([10], np.int32)) == 1  # any integer ids
    assert idx.ids().tolist() == [20, 30]  # ids() is sorted
    idx.add(np.array([10]), vecs[1:2])
    assert idx.search(E0, 0)[1].shape == (1, 1)  # k is at least 1 ...
    assert idx.search(E0, 50)[1].tolist() == [[30, 10, 20]]  # ... and at most what the index holds
    assert idx.memory_bytes() == 3 * (DIM * 4 + ID_BYTES)  # vectors, ids and the id map
    path = tmp_path / "new" / "collection" / "color.faiss"  # folders made as needed
    idx.save(path)
    side = path.with_suffix(".json").read_text()
    assert '"ntotal": 3' in side and '"model_version": "v7"' in side
    assert idx.loaded_mtime == path.stat().st_mtime
    assert VectorIndex.open(tmp_path / "none.faiss", meta).ids().tolist() == []
    # Indexes saved before the side file named its model (or without one) still open.
    path.with_suffix(".json").write_text("{}")
    assert sorted(VectorIndex.open(path, meta).ids().tolist()) == [10, 20, 30]
    path.with_suffix(".json").unlink()
    assert len(VectorIndex.open(path, meta)) == 3
    # Any integer ids and any float vectors are stored as FAISS needs them.
    wide = VectorIndex(meta)
    wide.add(np.array([5, 6], np.int32), np.stack([E0, vecs[1]]).astype(np.float64))
    assert wide.ids().tolist() == [5, 6] and wide.search(E0, 1)[1].tolist() == [[5]]
    with pytest.raises(IndexConfigError) as err:
        VectorIndex(IndexMeta("cnn", DIM, "IVF4,Flat", "v")).add(np.arange(999), np.tile(E0, (999, 1)))
    assert str(err.value) == (
        "index 'IVF4,Flat' needs training; add at least 1000 vectors in the first batch "
        "or use a factory that needs none (Flat, HNSW32, SQ8)"
    )
    big = VectorIndex(IndexMeta("cnn", DIM, "IVF4,Flat", "v"))
    rng = np.random.default_rng(0).standard_normal((1000, DIM)).astype(np.float32)
    big.add(np.arange(1000), rng / np.linalg.norm(rng, axis=1, keepdims=True))
    assert len(big) == 1000


def test_saves_rename_a_temp_file_written_beside_the_target(tmp_path: Path, monkeypatch) -> None:
    """An atomic save is a rename within one folder (one filesystem); a temp file in /tmp
    would make it a copy that a crash can interrupt."""
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append((Path(a), Path(b))), real_replace(a, b))[1])
    idx = VectorIndex(IndexMeta("cnn", DIM, "Flat", "v"))
    idx.add(np.array([1]), E0[None])
    idx.save(tmp_path / "i" / "cnn.faiss")
    assert {b.name for _, b in renames} == {"cnn.faiss", "cnn.json"}
    assert all(a.parent == b.parent and a.name.startswith(f".{b.name}") for a, b in renames), renames


def test_a_store_reloads_an_index_another_process_saved(tmp_path: Path) -> None:
    descriptors = {"cnn": ChosenVectors("cnn", DIM)}
    reader = IndexStore(tmp_path, descriptors, "Flat")
    writer = IndexStore(tmp_path, descriptors, "Flat")
    first = reader.get(5, "cnn")
    with writer.writer(5) as indexes:
        indexes["cnn"].add(np.array([1]), E0[None])
        writer.save(5, indexes)
    assert writer.get(5, "cnn") is indexes["cnn"]  # the writer's own copy is what it serves
    again = reader.get(5, "cnn")
    assert again is not first and again.ids().tolist() == [1]
    os.utime(writer.path(5, "cnn"), ns=(1, 1))  # any change of mtime, even backwards, is a new file
    assert reader.get(5, "cnn") is not again
