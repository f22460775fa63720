"""Related items from shared labels (issue 4, part 6): items that share a label with the
item — a curator's, or a model's hidden (proposed) one — join the candidates even when they
are not among the visually nearest, and every result says why it is there.

The collection is built with hand-made vectors (cosine to the query item chosen exactly), so
the test knows the visual rank of every item without depending on what a network sees.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from backend.engine.catalog.store import NewItem
from backend.engine.search_options import SearchOptions
from tests.engine.chosen_vectors import chosen_engine


def unit_vectors_with_similarity(sims: list[float], dim: int, seed: int = 0) -> np.ndarray:
    """Rows ``s·e0 + sqrt(1-s²)·e_j`` (distinct j): unit vectors whose cosine with ``e0`` is ``s``."""
    rng = random.Random(seed)
    axes = rng.sample(range(1, dim), len(sims))
    out = np.zeros((len(sims), dim), np.float32)
    for row, (s, axis) in enumerate(zip(sims, axes)):
        out[row, 0] = s
        out[row, axis] = (1 - s * s) ** 0.5
    return out


DISTRACTORS = 60  # more than the visual pool of 50 a top-12 query looks at


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """(engine, ids): ids["query"] labelled 'symbolism' by the model (proposed = hidden);
    60 distractors at cosine 0.61–0.66 without it; ids["far"] at cosine 0.60 *with* it
    (visual rank 61); ids["curated"] at cosine 0.20 with a curator label 'symbolism'."""
    # One engine for the module (the tests only read), over the real catalog and FAISS with
    # the CNN's and the colour histogram's sizes; no network runs, the vectors are chosen.
    engine = chosen_engine(tmp_path_factory.mktemp("related-labels"), {"cnn": 1280, "color": 128})
    catalog = engine.catalog
    cid = catalog.ensure_collection("rel")
    sims = [1.0, *np.linspace(0.61, 0.66, DISTRACTORS).tolist(), 0.60, 0.20]
    names = ["query", *[f"d{i}" for i in range(DISTRACTORS)], "far", "curated"]
    rows = [
        NewItem(
            source_path=f"{n}.png",
            sha256=f"{i:064x}",
            phash=None,
            title=n,
            width=8,
            height=8,
            format="PNG",
            media_path=None,
            thumb_path=None,
            labels=("symbolism",) if n == "curated" else ("still_life",) if n.startswith("d") else (),
        )
        for i, n in enumerate(names)
    ]
    item_ids = catalog.add_items(cid, rows)
    ids = dict(zip(names, item_ids))
    model = catalog.register_model("wikiart-style", "t", "classifier", {}, None)
    catalog.add_machine_labels({ids["query"]: [("symbolism", 0.8)], ids["far"]: [("symbolism", 0.7)]}, model)
    cnn = unit_vectors_with_similarity(sims, engine.descriptors["cnn"].dim)
    rng = np.random.default_rng(0)
    color = rng.random((len(names), engine.descriptors["color"].dim)).astype(np.float32)
    color /= np.linalg.norm(color, axis=1, keepdims=True)
    with engine.index_store.writer(cid) as indexes:
        indexes["cnn"].add(np.asarray(item_ids, np.int64), cnn)
        indexes["color"].add(np.asarray(item_ids, np.int64), color)
        engine.index_store.save(cid, indexes)
    catalog.set_status(item_ids, "indexed")
    yield engine, ids
    engine.close()


def test_item_sharing_a_hidden_label_joins_related_and_says_why(built):
    engine, ids = built
    _, result = engine.search.related(ids["query"], SearchOptions(top_k=12))
    hits = {h.item.id: h for h in result.hits}
    top = result.hits[0]
    assert top.item.id == ids["far"]  # visual rank 61, first after fusion
    assert top.reasons == ["looks alike (CNN embedding): 0.60", "shares label 'symbolism' with this item (1.00)"]
    assert top.scores["labels"] == pytest.approx(0.1)
    others = [h for h in result.hits if h.item.id != ids["far"]]
    assert len(others) == 11 and all(len(h.reasons) == 1 and h.reasons[0].startswith("looks alike") for h in others)
    assert ids["query"] not in hits


def test_without_label_candidates_the_far_item_is_missed(built, monkeypatch):
    """What the change is for: the old candidate pool (visual top 50) never saw it."""
    import backend.engine.search as search_module

    engine, ids = built
    monkeypatch.setattr(search_module, "label_sharing_candidates", lambda *a, **k: set())
    _, result = engine.search.related(ids["query"], SearchOptions(top_k=12))
    assert ids["far"] not in {h.item.id for h in result.hits}


def test_curator_label_counts_too_and_the_http_answer_carries_the_reasons(built):
    from backend.api import create_app

    engine, ids = built
    _, result = engine.search.related(ids["query"], SearchOptions(top_k=len(ids)))
    curated = next(h for h in result.hits if h.item.id == ids["curated"])
    assert curated.reasons[-1] == "shares label 'symbolism' with this item (1.00)"

    client = create_app(engine=engine).test_client()
    body = client.get(f"/v1/items/{ids['query']}/related?top_k=3").get_json()
    first = body["results"][0]
    assert first["id"] == ids["far"] and first["reasons"][1].startswith("shares label 'symbolism'")
    assert all(r["reasons"] for r in body["results"])


def test_photo_searches_are_unchanged_by_label_candidates(built):
    """Only the item's own labels (source 'item') widen the pool: a phone's labels do not."""
    engine, ids = built
    cid = engine.catalog.collection_id("rel")
    vec = engine.index_store.get(cid, "cnn").reconstruct(np.array([ids["query"]]))[0]
    from backend.engine.fusion import QueryLabel

    options = SearchOptions(top_k=12, labels=(QueryLabel("symbolism", 1.0),), exclude_ids=(ids["query"],))
    result = engine.search.search_vectors("rel", {"cnn": vec}, options)
    assert ids["far"] not in {h.item.id for h in result.hits}
