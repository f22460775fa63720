"""The image-type model's weights for one query: mixed by its type probabilities, said in the
reasons, and always overridden by a caller's own weights. A hand-built two-kind type model over
chosen vectors (what train-style writes, without the training)."""

from __future__ import annotations

import numpy as np
import pytest

from backend.engine.weighting import Weighting, choose_weighting
from edge_models.style_model import ArtStyleProjection, Segment, StyleModel, TypeModel
from edge_models.type_training import per_query_ap


def _model() -> StyleModel:
    # Kind "drawing" when the first style component is high, "scan" otherwise.
    types = TypeModel(
        types=["scan", "drawing"],
        inputs=["cnn", "style"],
        mean=np.zeros(4, np.float32),
        std=np.ones(4, np.float32),
        w=np.array([[0, 0], [0, 0], [-10, 10], [0, 0]], np.float32),
        b=np.zeros(2, np.float32),
    )
    proj = ArtStyleProjection([Segment(0, 2)], np.zeros(2), np.ones(2), np.eye(2, dtype=np.float32), np.zeros(2))
    return StyleModel(
        name="t",
        version="1",
        labels=["a", "b"],
        embedding_model="x",
        projection=proj,
        types=types,
        type_weights={"scan": {"cnn": 0.8, "style": 0.2}, "drawing": {"style": 0.6, "cnn": 0.3, "color": 0.1}},
        fixed_weights={"cnn": 1.0},
    )


def _vectors(style_first: float) -> dict[str, np.ndarray]:
    return {"cnn": np.array([[1.0, 0.0]], np.float32), "style": np.array([[style_first, 0.0]], np.float32)}


def test_a_drawing_is_weighted_for_a_drawing_and_says_so() -> None:
    w = choose_weighting(
        caller=None,
        defaults={"cnn": 1.0},
        style_model=_model(),
        vectors=_vectors(1.0),
        available={"cnn", "style", "color"},
    )
    assert w.source == "image type" and w.type == "drawing" and w.confidence > 0.99
    assert w.weights == pytest.approx({"style": 0.6, "cnn": 0.3, "color": 0.1})
    assert w.reason().startswith("weighted for a drawing or print (1.00): style 0.60, content 0.30, colour 0.10")


def test_the_reason_line_leaves_out_weights_too_small_to_show() -> None:
    w = Weighting({"cnn": 0.746, "artstyle": 0.25, "style": 0.004}, "image type", "photo", 0.9)
    line = w.reason()
    assert line is not None and "0.00" not in line
    assert line.endswith("content 0.75, art style 0.25")


def test_a_scan_gets_the_scan_weights_and_a_caller_overrides_them() -> None:
    model = _model()
    scan = choose_weighting(
        caller=None, defaults={"cnn": 1.0}, style_model=model, vectors=_vectors(-1.0), available={"cnn", "style"}
    )
    assert scan.type == "scan" and scan.weights == pytest.approx({"cnn": 0.8, "style": 0.2})
    mine = choose_weighting(
        caller={"style": 2.0},
        defaults={"cnn": 1.0},
        style_model=model,
        vectors=_vectors(1.0),
        available={"cnn", "style"},
    )
    assert mine.source == "caller" and mine.weights == {"style": 1.0} and mine.reason() is None


def test_without_the_type_models_inputs_the_fixed_weights_rank() -> None:
    w = choose_weighting(
        caller=None, defaults={"cnn": 1.0}, style_model=_model(), vectors={"cnn": np.ones((1, 2))}, available={"cnn"}
    )
    assert w.source == "default" and w.weights == {"cnn": 1.0} and w.reason() is None


def test_per_query_weights_rank_each_query_by_its_own_mix() -> None:
    # Two descriptors that disagree: "a" puts the relevant gallery row first, "b" last.
    gallery = {"a": np.eye(3, dtype=np.float32), "b": np.array([[0.1, 0, 0], [0.5, 0, 0], [1, 0, 0]], np.float32)}
    g_labels = np.array([1, 0, 0])
    queries = {"a": np.array([[1, 0, 0]] * 2, np.float32), "b": np.array([[1, 0, 0]] * 2, np.float32)}
    weights = np.array([[1.0, 0.0], [0.0, 1.0]])
    ap = per_query_ap(queries, np.array([1, 1]), gallery, g_labels, weights, ["a", "b"], np.array([-1, -1]), k=3)
    assert ap[0] == 1.0 and abs(ap[1] - 1 / 3) < 1e-6  # first: rank 1; second: rank 3
    # The query's own painting is left out of the gallery.
    ap = per_query_ap(queries, np.array([1, 1]), gallery, g_labels, weights, ["a", "b"], np.array([0, 0]), k=2)
    assert ap.tolist() == [0.0, 0.0]


def test_one_pictures_vectors_weigh_like_a_row_of_views() -> None:
    # A recognised catalogue item's stored vectors are one (dim,) vector per descriptor, not
    # rows of views: the type model must read them as one picture (it once read their first
    # number only and failed on every photo search that recognised a painting).
    rows = choose_weighting(
        caller=None, defaults={"cnn": 1.0}, style_model=_model(), vectors=_vectors(1.0), available={"cnn", "style"}
    )
    flat = choose_weighting(
        caller=None,
        defaults={"cnn": 1.0},
        style_model=_model(),
        vectors={n: v[0] for n, v in _vectors(1.0).items()},
        available={"cnn", "style"},
    )
    assert flat == rows and flat.type == "drawing"
