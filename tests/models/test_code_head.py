"""Retrieval-code heads: hash centres, CSQ training on clustered features, ONNX export, serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_models.code_head import CodeFitOptions, fit_code_head, head_outputs, label_centers
from edge_models.hash_centers import hadamard, hash_centers, min_distance
from edge_models.retrieval_metrics import retrieval_map


def clustered(n_per: int, n_classes: int, dim: int = 64, seed: int = 0, spread: float = 0.9):
    """Unit vectors around one random direction per class (hard enough that chance is far below)."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_classes, dim))
    x = np.repeat(means, n_per, axis=0) + spread * rng.standard_normal((n_per * n_classes, dim))
    x = np.abs(x)  # ReLU-like, as the backbone's embeddings are
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(n_classes), n_per)


def test_hadamard_centres_are_as_far_apart_as_possible() -> None:
    h = hadamard(16)
    assert (h @ h.T == 16 * np.eye(16)).all()
    c = hash_centers(10, 16)
    assert c.shape == (10, 16) and set(np.unique(c)) == {-1.0, 1.0}
    assert min_distance(c) == 8  # K/2 between any two Hadamard rows
    assert min_distance(hash_centers(20, 16)) == 8  # rows and negations: K/2 or K apart
    odd = hash_centers(10, 48, seed=1)  # not a power of two: best of random draws
    assert odd.shape == (10, 48) and min_distance(odd) >= 16
    np.testing.assert_array_equal(odd, hash_centers(10, 48, seed=1))  # reproducible from the seed


def test_multi_label_items_aim_at_the_majority_of_their_labels_centres() -> None:
    centers = hash_centers(4, 16)
    y = np.zeros((2, 4), np.float32)
    y[0, 1] = 1
    y[1, [0, 1, 2]] = 1
    t = label_centers(y, centers, np.random.default_rng(0))
    np.testing.assert_array_equal(t[0], centers[1])
    np.testing.assert_array_equal(t[1], np.sign(centers[:3].sum(0)))


@pytest.mark.parametrize("method", ["csq", "float"])
def test_a_trained_head_retrieves_its_classes_far_better_than_the_input(method: str) -> None:
    xa, ya = clustered(80, 6, spread=0.9)
    val = np.arange(len(xa)) % 4 == 0
    x, y, xv, yv = xa[~val], ya[~val], xa[val], ya[val]
    before = retrieval_map(xv, yv, exclude_self=True)
    head, fit = fit_code_head(
        x,
        y,
        xv,
        yv,
        bits=16,
        n_classes=6,
        options=CodeFitOptions(method=method, hidden=64, epochs=60, batch_size=64, device="cpu"),
    )
    out = head_outputs(head, xv, method=method)
    if method == "csq":
        assert set(np.unique(out)) <= {-1.0, 1.0} and out.shape == (len(xv), 16)
    else:
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    after = retrieval_map(out, yv, exclude_self=True)
    assert fit.val_map == pytest.approx(after, abs=1e-6)  # the kept epoch is the reported one
    # CSQ's fixed centres converge much faster than NormFace's learned proxies.
    assert after > before + (0.15 if method == "csq" else 0.05), (before, after)


def test_retrieval_map_follows_the_deep_hashing_convention() -> None:
    db = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
    y = np.array([0, 0, 1, 1])
    assert retrieval_map(db, y, exclude_self=True) == pytest.approx(1.0)
    q = np.array([[0.9, 0.1]], np.float32)
    # relevant at ranks 1 and 2 of 4 (class 1): precision 1, 1 → AP 1 at k=2; with k=4 ranks 3,4 for class 1
    assert retrieval_map(db, y, q, np.array([1]), k=4) == pytest.approx((1 / 3 + 2 / 4) / 2)
    multi = np.array([[1, 0], [1, 1], [0, 1]], bool)
    assert retrieval_map(np.eye(3, dtype=np.float32), multi, np.eye(3, dtype=np.float32)[:1], multi[:1], k=2) == 1.0


def test_exported_head_matches_torch_and_serves_without_torch(tmp_path: Path) -> None:
    from edge_models.code_model import CODE_CONFIG_NAME, CodeConfig, CodeModel
    from edge_models.train_codes import export_code_head

    x, y = clustered(30, 4, dim=32)
    head, _ = fit_code_head(
        x, y, x[:0], y[:0], bits=16, n_classes=4, options=CodeFitOptions(hidden=0, epochs=3, device="cpu")
    )
    parity = export_code_head(head, tmp_path / "code_head.onnx", x)
    assert parity["max_abs_diff"] < 1e-4 and parity["bit_agreement"] == 1.0
    config = CodeConfig(
        name="t",
        version="v1",
        method="csq",
        bits=16,
        input_dim=32,
        embedding_space="s",
        preprocessing={},
        labels=list("abcd"),
        training_data_hash="h",
    )
    (tmp_path / CODE_CONFIG_NAME).write_text(__import__("json").dumps(config.to_dict()))
    model = CodeModel.load(tmp_path)
    bits = model.encode(x)
    assert bits.dtype == bool and bits.shape == (len(x), 16)
    np.testing.assert_array_equal(bits, head_outputs(head, x, method="csq") > 0)
    assert model.encode(x[:0]).shape == (0, 16)
