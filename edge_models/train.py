"""``artsnap train-classifier SOURCE --out DIR``: the whole training run, stage by stage.

    read + dedup + split ─► cached frozen features (clean + phone-like views) ─► head
      (training_data)          (features, augment)                              (head)
    ─► [fine-tune tail] ─► temperature + abstain threshold ─► test metrics ─► [learning curve]
        (fine_tune)           (calibration)                     (metrics)       (learning_curve)
    ─► DIR: weights, classifier.json, sample images, report (model_dir, report)

Each stage lives in its own module; this one only wires them and decides what goes in the
model directory. Export is a separate step (:mod:`edge_models.export`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .augment import PhoneAugment
from .calibration import (
    abstain_threshold,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    label_thresholds,
    precision_threshold,
    precision_thresholds,
)
from .classifier_backbone import STATS_BACKBONE_NAME, TorchFeatureExtractor, get_backbone, module_fingerprint
from .features import FeatureRequest, extract_features, load_view
from .head import LinearHead, head_logits, select_head
from .learning_curve import LearningCurve
from .learning_curve import learning_curve as compute_learning_curve
from .metrics import Evaluation, evaluate_multi_label, evaluate_single_label
from .model_card import write_atomic
from .model_dir import ClassifierConfig, write_sample_images
from .preprocessing import PreprocessSpec
from .report import write_report
from .trained import save_trained
from .training_data import TrainingSet, load_training_set

log = logging.getLogger(__name__)

__all__ = ["TrainResult", "TrainingOptions", "train_classifier"]

N_CALIBRATION_IMAGES = 128
# The quantised files' disagreements are near-ties, a few in a hundred: judging 98 % top-1
# agreement needs several hundred images (standard error ~0.5 % at 600, ~0.9 % at 200).
N_PARITY_IMAGES = 600


@dataclass
class TrainResult:
    """What a training run produced (all of it is also on disk in ``model_dir``)."""

    model_dir: Path
    version: str
    labels: list[str]
    multi_label: bool
    test: Evaluation
    temperature: float
    abstain_threshold: float
    counts: dict[str, dict[str, int]]
    training_data_hash: str
    fine_tuned: bool = False
    trusted_labels: dict[str, float | None] = field(default_factory=dict)
    """Test precision/coverage of labels passing the trusted threshold, and ECE before temperature."""
    learning_curve: LearningCurve | None = None
    report_path: Path | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.test.accuracy

    @property
    def macro_f1(self) -> float:
        return self.test.macro_f1


@dataclass(frozen=True)
class TrainingOptions:
    """How to train: everything :func:`train_classifier` needs besides the data and the output folder."""

    cache_dir: Path
    """Where the frozen backbone's features (per image and view) and its ONNX export are kept
    between runs, so a second run on the same images skips the slow part. No default: the
    caller says where its data lives (the CLI passes ``<data dir>/cache``)."""
    learning_curve: bool = False
    """Also measure test accuracy at growing numbers of images per category, to show a
    curator whether more images would help (in the report and the CLI's output)."""
    fine_tune: bool = False
    """Add a second stage that trains the backbone's last blocks with the head: better on
    larger sets, slower, and the classifier then has its own embedding space."""
    epochs: int = 200
    """Cap on the linear head's epochs; early stopping on validation loss usually ends sooner."""
    seed: int = 0
    """Seeds the split, the augmentation and the training: the same data and seed give the same model."""
    progress: bool = True
    """Show progress bars (on stderr) while reading images, extracting features and training."""
    aug_views: int = 2
    """Phone-like views (perspective, light, blur, glare, noise, JPEG) per training image added
    to the clean one, so the head learns what phone photos of the works look like."""
    backbone: str = STATS_BACKBONE_NAME
    """Registered backbone to extract features with (see :mod:`.classifier_backbone`). The
    default's head reads Lite0's pooled feature and the channel means and deviations of each
    stage's last block (:mod:`.multilayer_stats`); ``efficientnet-lite0`` reads the pooled
    feature only."""
    multi_label: bool | None = None
    """Several labels per image (sigmoid outputs) or one (softmax); None decides from the
    data: multi-label when any image has more than one label."""
    fine_tune_blocks: int = 2
    """With ``fine_tune``: how many of the backbone's last blocks are trained."""
    fine_tune_epochs: int = 5
    """With ``fine_tune``: cap on its epochs (early stopping on validation loss)."""
    keep_correct: float = 0.95
    """Single-label: the confidence below which the model abstains is set so that this share
    of its correct validation answers is still given (an abstention beats a wrong label)."""
    name: str | None = None
    """Model name in the model folder; None: ``<source name>-classifier``."""
    label_precision: float = 0.9
    """Precision, on validation, that machine labels leaving the model must reach: sets the
    trusted threshold in the model card (ingest stores only labels above it, so only those
    become hidden labels for related images or reach an export)."""


def train_classifier(source: str | Path, out_dir: str | Path, options: TrainingOptions) -> TrainResult:
    """Train a classifier on SOURCE (folder-per-label, .zip, or CSV manifest) into ``out_dir``.

    What to train and how is in ``options`` (:class:`TrainingOptions`, one docstring per field).
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(options.cache_dir)
    choice = get_backbone(options.backbone)
    spec = choice.spec
    augment = PhoneAugment()

    ts = load_training_set(source, seed=options.seed, multi_label=options.multi_label, progress=options.progress)
    try:
        notes = _data_notes(ts)
        keys = {name_: ts.keys(name_) for name_ in ("train", "val", "test")}
        if len(ts.labels) < 2:
            raise ValueError(f"{source}: need at least 2 labels to train a classifier, found {ts.labels}")
        if not keys["train"]:
            raise ValueError(f"{source}: no labelled images to train on")
        y = {s: ts.y(k) for s, k in keys.items()}

        def requests(ks: list[str]) -> list[FeatureRequest]:
            return [FeatureRequest(ts.sha256[k], ts.readers[k]) for k in ks]

        extractor = choice.frozen_extractor(cache)
        views = list(range(1 + options.aug_views))
        feats = dict(
            train=extract_features(
                requests(keys["train"]),
                views,
                extractor=extractor,
                spec=spec,
                cache_dir=cache,
                augment=augment,
                seed=options.seed,
                progress=options.progress,
            ),
            val=extract_features(
                requests(keys["val"]), [0], extractor=extractor, spec=spec, cache_dir=cache, progress=options.progress
            )[:, 0],
            test=extract_features(
                requests(keys["test"]), [0], extractor=extractor, spec=spec, cache_dir=cache, progress=options.progress
            )[:, 0],
        )
        n_classes = len(ts.labels)
        x_train = feats["train"].reshape(-1, feats["train"].shape[-1])
        y_train = np.repeat(y["train"], len(views), axis=0)
        head, fit = select_head(
            x_train,
            y_train,
            feats["val"],
            y["val"],
            n_classes=n_classes,
            multi_label=ts.multi_label,
            max_epochs=options.epochs,
            seed=options.seed,
        )
        log.info(
            "head: weight decay %g, best epoch %d, val accuracy %.3f",
            fit.weight_decay,
            fit.best_epoch,
            fit.val_accuracy,
        )
        training_info: dict = {
            "head": {
                "weight_decay": fit.weight_decay,
                "best_epoch": fit.best_epoch,
                "epochs_run": fit.epochs_run,
                "val_loss_by_weight_decay": fit.candidates,
                "aug_views": options.aug_views,
                "augment": augment.version,
            },
            "seed": options.seed,
        }

        backbone_module = None
        embedding_space = choice.embedding_space
        if options.fine_tune:
            from .fine_tune import fine_tune as run_fine_tune

            ft = run_fine_tune(
                choice,
                head,
                [(ts.sha256[k], ts.readers[k]) for k in keys["train"]],
                y["train"],
                [(ts.sha256[k], ts.readers[k]) for k in keys["val"]],
                y["val"],
                multi_label=ts.multi_label,
                spec=spec,
                blocks=options.fine_tune_blocks,
                epochs=options.fine_tune_epochs,
                seed=options.seed,
                progress=options.progress,
            )
            backbone_module, head = ft.backbone, ft.head
            tuned = TorchFeatureExtractor(backbone_module, key=f"ft-{module_fingerprint(backbone_module)}")
            for s in ("val", "test"):
                feats[s] = extract_features(
                    requests(keys[s]), [0], extractor=tuned, spec=spec, cache_dir=None, progress=options.progress
                )[:, 0]
            embedding_space = ""  # set below, once the version is known
            training_info["fine_tune"] = {
                "blocks": options.fine_tune_blocks,
                "best_epoch": ft.best_epoch,
                "val_loss": ft.history,
                "device": ft.device,
                "trainable_parameters": ft.trainable_parameters,
            }

        # Calibration and the abstain decision, on validation.
        val_logits = head_logits(head, feats["val"])
        temperature = fit_temperature(val_logits, y["val"], multi_label=ts.multi_label)
        val_probs = apply_temperature(val_logits, temperature, multi_label=ts.multi_label)
        test_probs = apply_temperature(head_logits(head, feats["test"]), temperature, multi_label=ts.multi_label)
        if ts.multi_label:
            thresholds = label_thresholds(val_probs, y["val"])
            threshold = float(thresholds.min())
            trusted = np.maximum(
                thresholds, precision_thresholds(val_probs, y["val"], precision=options.label_precision)
            )
            trusted_threshold = float(trusted.min())
            test_eval = evaluate_multi_label(test_probs, y["test"], ts.labels, thresholds=thresholds)
            trusted_eval = _multi_label_operating_point(test_probs, y["test"], trusted)
        else:
            thresholds = np.zeros(0, np.float32)
            threshold = abstain_threshold(val_probs, y["val"], keep_correct=options.keep_correct)
            val_conf, val_correct = val_probs.max(axis=1), val_probs.argmax(axis=1) == y["val"]
            trusted_threshold = max(
                threshold, precision_threshold(val_conf, val_correct, precision=options.label_precision)
            )
            trusted = np.zeros(0, np.float32)
            test_eval = evaluate_single_label(test_probs, y["test"], ts.labels, threshold=threshold)
            trusted_eval = _single_label_operating_point(test_probs, y["test"], trusted_threshold)
            # Calibration error before temperature scaling, beside the calibrated test.ece.
            trusted_eval["ece_before_temperature"] = round(
                expected_calibration_error(
                    apply_temperature(head_logits(head, feats["test"]), 1.0, multi_label=False), y["test"]
                ),
                4,
            )
        trusted_eval["label_precision_target"] = options.label_precision
        trusted_eval["threshold"] = round(trusted_threshold, 4)

        curve = None
        if options.learning_curve:
            curve = compute_learning_curve(
                feats["train"],
                y["train"],
                feats["val"],
                y["val"],
                feats["test"],
                y["test"],
                ts.labels,
                multi_label=ts.multi_label,
                seed=options.seed,
                progress=options.progress,
                max_epochs=options.epochs,
            )

        data_hash = ts.fingerprint
        version = _version(data_hash, head, backbone_module)
        if options.fine_tune:
            embedding_space = f"fine-tuned:{version}"
        config = ClassifierConfig(
            name=options.name or f"{Path(str(source)).stem}-classifier",
            version=version,
            backbone=choice.name,
            labels=ts.labels,
            multi_label=ts.multi_label,
            temperature=temperature,
            preprocessing=spec.to_dict(),
            training_data_hash=data_hash,
            abstain_threshold=threshold if not ts.multi_label else 0.0,
            label_thresholds=[float(t) for t in thresholds],
            label_precision=options.label_precision,
            trusted_threshold=trusted_threshold if not ts.multi_label else 0.0,
            trusted_thresholds=[float(t) for t in trusted],
            fine_tuned=options.fine_tune,
            embedding_space=embedding_space,
            embedding_dim=choice.dim,
            metrics={
                "test": test_eval.summary(),
                "trusted_labels": trusted_eval,
                "val_accuracy_before_calibration": round(fit.val_accuracy, 4),
                **({"learning_curve": curve.to_dict()} if curve else {}),
            },
            training=training_info,
        )
        save_trained(out, config, head, backbone_module)
        _write_samples(out, ts, keys, spec, augment, options.seed)
        write_atomic(
            out / "splits.json",
            json.dumps(
                {"seed": options.seed, "assignment": ts.split.assignment(), "ambiguous_duplicates": ts.ambiguous},
                indent=1,
            ).encode(),
        )
        counts = ts.counts()
        seconds = time.perf_counter() - started
        summary = {
            "name": config.name,
            "version": version,
            "source": str(source),
            "backbone": choice.name,
            "fine_tuned": options.fine_tune,
            "training_data_hash": data_hash,
            "temperature": round(temperature, 4),
            "abstain_threshold": round(threshold, 4),
            "trusted_labels": trusted_eval,
            "seconds": round(seconds, 1),
            "counts": counts,
            "notes": notes,
            "training": training_info,
        }
        report_path = write_report(out, summary, test_eval, ts.labels, curve, multi_label=ts.multi_label)
        return TrainResult(
            model_dir=out,
            version=version,
            labels=ts.labels,
            multi_label=ts.multi_label,
            test=test_eval,
            temperature=temperature,
            abstain_threshold=threshold,
            trusted_labels=trusted_eval,
            counts=counts,
            training_data_hash=data_hash,
            fine_tuned=options.fine_tune,
            learning_curve=curve,
            report_path=report_path,
            seconds=seconds,
            notes=notes,
        )
    finally:
        ts.close()


def _single_label_operating_point(probs: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Test precision and coverage of the labels that pass the trusted threshold (precision
    None when none pass: the card is JSON, which has no NaN)."""
    if len(y) == 0:
        return {"precision": None, "coverage": None, "n": 0}
    passed = probs.max(axis=1) >= threshold
    right = probs.argmax(axis=1) == y
    return {
        "precision": round(float(right[passed].mean()), 4) if passed.any() else None,
        "coverage": round(float(passed.mean()), 4),
        "n": int(len(y)),
    }


def _multi_label_operating_point(probs: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> dict[str, float | None]:
    """Test precision over every (image, label) that passes, and the share of images given one."""
    if len(y) == 0:
        return {"precision": None, "coverage": None, "n": 0}
    passed = probs >= thresholds[None, :]
    truth = y > 0.5
    return {
        "precision": round(float(truth[passed].mean()), 4) if passed.any() else None,
        "coverage": round(float(passed.any(axis=1).mean()), 4),
        "n": int(len(y)),
    }


def _version(data_hash: str, head: LinearHead, backbone: object | None) -> str:
    """``YYYYMMDD-<8 hex>``: sortable by date, unique per (data, weights)."""
    h = hashlib.sha256(data_hash.encode())
    for name, t in sorted(head.state_dict().items()):
        h.update(name.encode())
        h.update(t.numpy().tobytes())
    if backbone is not None:
        h.update(module_fingerprint(backbone).encode())  # type: ignore[arg-type]  # a torch module when fine-tuned
    return f"{datetime.now(UTC):%Y%m%d}-{h.hexdigest()[:8]}"


def _data_notes(ts: TrainingSet) -> list[str]:
    notes = []
    if ts.split.n_duplicate_items:
        notes.append(
            f"{ts.split.n_duplicate_items} images are copies of others; each duplicate group was "
            "kept on one side of the split and used once."
        )
    if ts.ambiguous:
        notes.append(
            f"{len(ts.ambiguous)} duplicate groups are filed under different categories and were left "
            "out (one picture cannot be two categories for a single-label classifier)."
        )
    if ts.unlabelled:
        notes.append(f"{ts.unlabelled} images have no label and were not used.")
    if ts.unreadable:
        notes.append(f"{len(ts.unreadable)} files could not be read or decoded.")
    counts = ts.counts()
    thin = [label for label in ts.labels if counts["test"].get(label, 0) == 0]
    if thin:
        notes.append(f"categories with too few images to be tested: {', '.join(thin)}.")
    return notes


def _write_samples(
    out: Path, ts: TrainingSet, keys: dict[str, list[str]], spec: PreprocessSpec, augment: PhoneAugment, seed: int
) -> None:
    """Representative images for int8 calibration (train: clean + phone views) and for parity (test)."""
    rng = np.random.default_rng(seed)
    train = list(keys["train"])
    pick = [train[i] for i in rng.permutation(len(train))[:N_CALIBRATION_IMAGES]]
    calib = []
    for i, k in enumerate(pick):
        view = 0 if i % 2 == 0 else 1
        calib.append(
            spec.resize_and_crop(load_view(ts.readers[k](), ts.sha256[k], view, spec=spec, augment=augment, seed=seed))
        )
    write_sample_images(out / "samples" / "calibration.zip", calib, pick)
    test = list(keys["test"]) or list(keys["val"]) or train
    pick = [test[i] for i in rng.permutation(len(test))[:N_PARITY_IMAGES]]
    imgs = [spec.resize_and_crop(load_view(ts.readers[k](), ts.sha256[k], 0, spec=spec, augment=augment)) for k in pick]
    write_sample_images(out / "samples" / "parity.zip", imgs, pick)
