"""Head training, calibration, abstain/label thresholds, metrics and augmentation (no backbone)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from edge_models.augment import PhoneAugment, phone_photo, view_rng
from edge_models.calibration import (
    abstain_threshold,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    label_thresholds,
    softmax,
)
from edge_models.head import class_weights, fit_head, head_logits, select_head
from edge_models.learning_curve import learning_curve, sample_per_class
from edge_models.metrics import evaluate_multi_label, evaluate_single_label


def _blobs(n_per_class: list[int], dim: int = 16, sep: float = 3.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, sep, size=(len(n_per_class), dim))
    x = np.concatenate([c + rng.normal(0, 1, size=(n, dim)) for c, n in zip(centres, n_per_class)]).astype(np.float32)
    y = np.concatenate([np.full(n, i) for i, n in enumerate(n_per_class)])
    return x, y


def test_temperature_recovers_the_true_scale():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, size=(4000, 5))
    y = np.array([rng.choice(5, p=p) for p in softmax(true_logits)])
    t = fit_temperature(true_logits * 3.0, y, multi_label=False)  # over-confident by 3x
    assert abs(t - 3.0) < 0.3
    probs = apply_temperature(true_logits * 3.0, t, multi_label=False)
    assert expected_calibration_error(probs, y) < expected_calibration_error(softmax(true_logits * 3.0), y)


def test_abstain_threshold_keeps_the_requested_share_of_correct_answers():
    rng = np.random.default_rng(1)
    probs = softmax(rng.normal(0, 2, size=(1000, 4)))
    y = probs.argmax(1)
    y[:300] = (y[:300] + 1) % 4
    t = abstain_threshold(probs, y, keep_correct=0.9)
    correct = probs.argmax(1) == y
    kept = (probs.max(1)[correct] >= t).mean()
    assert 0.88 <= kept <= 0.92


def test_label_thresholds_and_multilabel_metrics():
    rng = np.random.default_rng(2)
    y = (rng.random((400, 3)) < [0.5, 0.2, 0.05]).astype(np.float32)
    probs = np.clip(y * 0.35 + rng.random((400, 3)) * 0.6, 0, 1)
    th = label_thresholds(probs, y)
    assert th.shape == (3,) and np.all((th >= 0.2) & (th <= 0.8))
    ev = evaluate_multi_label(probs, y, ["a", "b", "c"], thresholds=th)
    assert ev.micro_f1 is not None and ev.macro_f1 > 0.5
    assert [c.support for c in ev.per_class] == [int(s) for s in y.sum(0)]


def test_single_label_metrics_by_hand():
    y = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    ev = evaluate_single_label(np.eye(3)[pred], y, ["a", "b", "c"], threshold=0.5)
    assert ev.accuracy == 0.6
    assert ev.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # a: P 1/2 R 1/2; b: P 2/3 R 1; c: 0 → macro-F1 = (0.5 + 0.8 + 0) / 3
    assert abs(ev.macro_f1 - 1.3 / 3) < 1e-9
    assert ev.coverage == 1.0


def test_head_learns_imbalanced_classes_with_weights_and_early_stopping():
    x, y = _blobs([300, 40, 15], seed=3)
    xv, yv = _blobs([60, 10, 5], seed=3)  # same centres (same seed)
    w = class_weights(y, 3, multi_label=False)
    assert w[2] > w[1] > w[0] and abs(w.mean() - 1) < 1e-6
    head, fit = fit_head(x, y, xv, yv, n_classes=3, multi_label=False, max_epochs=60)
    assert (head_logits(head, xv).argmax(1) == yv).mean() > 0.9
    # Validation labels that contradict training: the val loss rises at once → stop early,
    # and the restored weights are those of the best (an early) epoch.
    _, fit = fit_head(x, y, xv, (yv + 1) % 3, n_classes=3, multi_label=False, max_epochs=200, patience=5)
    assert fit.epochs_run < 40 and fit.best_epoch <= 5
    assert fit.history[fit.best_epoch - 1] == min(fit.history) if fit.best_epoch else True
    _, fit2 = select_head(x, y, xv, yv, n_classes=3, multi_label=False, max_epochs=30)
    assert set(fit2.candidates) == {"0.01", "0.1", "0.3", "1"}


def test_multilabel_head_and_learning_curve():
    rng = np.random.default_rng(4)
    x, y = _blobs([100, 100, 100], seed=4)
    ymat = np.eye(3, dtype=np.float32)[y]
    ymat[rng.random(300) < 0.2, 0] = 1.0  # some items also carry label 0
    head, _ = fit_head(x, ymat, x[:60], ymat[:60], n_classes=3, multi_label=True, max_epochs=50)
    assert head_logits(head, x).shape == (300, 3)
    picks = sample_per_class(y, 10, rng, multi_label=False)
    assert len(picks) == 30 and np.bincount(y[picks]).tolist() == [10, 10, 10]
    curve = learning_curve(
        x[:, None, :],
        y,
        x[:60],
        y[:60],
        x[60:],
        y[60:],
        ["a", "b", "c"],
        multi_label=False,
        sizes=(10, None),
        repeats=2,
        max_epochs=40,
    )
    assert [p.label for p in curve.points] == ["10", "all"]
    assert curve.points[0].repeats == 2 and curve.points[1].n_train == 300


def test_phone_photo_is_reproducible_and_changes_the_picture():
    img = Image.fromarray(np.random.default_rng(5).integers(0, 255, size=(120, 160, 3), dtype=np.uint8))
    a = phone_photo(img, view_rng("ab" * 32, 1))
    b = phone_photo(img, view_rng("ab" * 32, 1))
    c = phone_photo(img, view_rng("ab" * 32, 2))
    assert a.size == img.size and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert PhoneAugment().version != PhoneAugment(max_rotation_deg=10).version
