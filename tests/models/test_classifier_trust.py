"""A classifier worth trusting (issue 13, item 4): a head that reads multi-layer channel
statistics in every exported file, and machine labels that must pass a threshold chosen on
validation for a stated precision before ingest stores them (so before they become hidden
labels for related images or reach an export).

The whole train → export → parity path runs on the tiny registered backbone (seconds); the
real EfficientNet-Lite0 statistics are checked on real WikiArt paintings when ../shared has
them.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dataset_tools.synthetic_styles import write_style_folder
from edge_models.calibration import precision_threshold, precision_thresholds
from edge_models.classifier import load_classifier
from edge_models.export import export_models
from edge_models.model_dir import read_sample_images
from edge_models.train import TrainingOptions, train_classifier
from edge_models.trained import load_trained
from tests.models.edge_support import (
    TINY_STATS_BACKBONE,
    TINY_STATS_DIM,
    TinyBackbone,
    register_tiny_stats_backbone,
)


@pytest.fixture(scope="module")
def stats_model(tmp_path_factory: pytest.TempPathFactory):
    register_tiny_stats_backbone()
    root = tmp_path_factory.mktemp("stats")
    coll = write_style_folder(root / "styles", per_class=20, seed=2, duplicates=False)
    result = train_classifier(
        coll.root,
        root / "model",
        TrainingOptions(cache_dir=root / "cache", backbone=TINY_STATS_BACKBONE, progress=False, epochs=60, aug_views=0),
    )
    exported = export_models(result.model_dir, progress=False, quantize=("fp32", "int8"), camera_samples=8)
    return result, exported


def test_head_reads_multi_layer_statistics_and_every_format_agrees(stats_model):
    result, exported = stats_model
    trained = load_trained(result.model_dir)
    assert trained.net.head.fc.in_features == TINY_STATS_DIM  # not only the pooled feature
    for fmt in ("onnx", "tflite_fp32"):
        p = exported.parity.formats[fmt]
        assert p.max_abs_diff_probabilities <= 1e-4, p
        assert p.top1_agreement == 1.0, p
    assert {"onnx", "tflite_fp32", "tflite_int8", "coreml_fp16"} <= set(exported.files)


def test_statistics_leave_the_embedding_in_the_catalogue_space(stats_model):
    """The extra statistics feed the head only: the embedding output is the plain backbone's."""
    result, _ = stats_model
    clf = load_classifier(result.model_dir)
    images = read_sample_images(result.model_dir / "samples" / "parity.zip")[:6]
    out = clf.run(images)
    with torch.no_grad():
        plain = torch.nn.functional.normalize(TinyBackbone()(torch.from_numpy(clf.config.spec.to_batch(images))), dim=1)
    np.testing.assert_allclose(out.embeddings, plain.numpy(), atol=1e-5)
    assert clf.embedding_space == "tiny-test"


def test_precision_threshold_keeps_the_most_confident_answers_that_reach_the_precision():
    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 0, 1, 0], bool)
    assert precision_threshold(conf, correct, precision=1.0) == 0.8
    assert precision_threshold(conf, correct, precision=0.75) == 0.6  # 3 of the top 4
    assert precision_threshold(conf, correct, precision=0.6) == 0.5
    # Unreachable precision: nothing passes (a threshold above every probability).
    assert precision_threshold(conf, np.zeros(5, bool), precision=0.5) > 1.0
    # Tied confidences pass or fail together: the tie at 0.9 is half right.
    assert precision_threshold(np.array([0.9, 0.9, 0.8]), np.array([1, 0, 1], bool), precision=1.0) > 1.0
    with pytest.raises(ValueError, match="precision"):
        precision_threshold(conf, correct, precision=0.0)
    multi = precision_thresholds(
        np.array([[0.9, 0.2], [0.6, 0.8], [0.4, 0.7]]), np.array([[1, 0], [0, 1], [1, 1]]), precision=1.0
    )
    np.testing.assert_allclose(multi, [0.9, 0.7])


def test_trusted_answers_pass_the_card_threshold_and_its_test_figures_are_recorded(stats_model):
    result, _ = stats_model
    clf = load_classifier(result.model_dir)
    config = clf.config
    assert config.label_precision == 0.9
    assert config.trusted_threshold >= config.abstain_threshold
    point = config.metrics["trusted_labels"]
    assert {"precision", "coverage", "threshold", "ece_before_temperature"} <= set(point)
    assert 0.0 <= point["coverage"] <= 1.0
    images = read_sample_images(result.model_dir / "samples" / "parity.zip")
    probs = clf.run(images).probabilities
    loose = clf.decide(probs, top_k=3)
    strict = clf.decide(probs, top_k=3, trusted=True)
    for a, b in zip(loose, strict):
        assert all(p.confidence >= config.trusted_threshold for p in b)
        assert [p.label for p in b] == [p.label for p in a][: len(b)]


def test_ingest_stores_only_labels_that_pass_the_trusted_threshold(stats_model, tmp_path):
    """The labeller ingest uses returns only trusted labels: what it returns becomes machine
    labels, hidden labels for related images and export candidates."""
    from backend.engine.catalog.store import Catalog
    from backend.engine.labelling import ActiveClassifier
    from backend.engine.model_registry import register_model_dir

    result, _ = stats_model
    images = read_sample_images(result.model_dir / "samples" / "parity.zip")
    top = load_classifier(result.model_dir).run(images).probabilities.max(axis=1)
    strict = float(np.median(top))  # a card whose trusted threshold sits mid-way through the answers
    folder = tmp_path / "model"
    import shutil

    shutil.copytree(result.model_dir, folder)
    cfg = json.loads((folder / "classifier.json").read_text())
    cfg["trusted_threshold"] = strict
    (folder / "classifier.json").write_text(json.dumps(cfg))
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    register_model_dir(catalog, folder, store=tmp_path / "store")
    labels = ActiveClassifier(catalog, top_k=3)(images)
    assert all(conf >= strict for row in labels for _, conf in row)
    dropped = sum(1 for row, t in zip(labels, top) if not row and t >= cfg["abstain_threshold"])
    assert dropped > 0  # answers the abstain rule would give are held back


def _wikiart_images(zip_path: Path, per_style: int) -> dict[str, list[tuple[str, bytes]]]:
    out: dict[str, list[tuple[str, bytes]]] = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in sorted(zf.namelist()):
            parts = name.split("/")
            if len(parts) < 2 or not name.lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            style = parts[-2]
            if len(out.setdefault(style, [])) < per_style:
                out[style].append((parts[-1], zf.read(name)))
    return out


def test_lite0_statistics_keep_the_catalogue_embedding_on_real_paintings(wikiart_zip):
    from edge_models.backbone import EmbeddingNet
    from edge_models.multilayer_stats import LITE0_BLOCK_CHANNELS, STAGE_ENDS, MultiLayerStats, stats_width
    from edge_models.preprocessing import DEFAULT_SPEC

    paintings = [data for rows in _wikiart_images(wikiart_zip, 1).values() for _, data in rows]
    images = [Image.open(io.BytesIO(d)).convert("RGB") for d in paintings]
    net = EmbeddingNet()
    stats = MultiLayerStats(net.net).eval()
    assert tuple(b._project_conv.out_channels for b in net.net._blocks) == LITE0_BLOCK_CHANNELS
    x = torch.from_numpy(DEFAULT_SPEC.to_batch(images))
    with torch.no_grad():
        out = stats(x)
        embedding = net(x)[0]  # the catalogue embedding (the other outputs: logits, style, layers)
    assert out.shape == (len(images), stats_width(1280, STAGE_ENDS))
    np.testing.assert_allclose(
        torch.nn.functional.normalize(out[:, :1280], dim=1).numpy(), embedding.numpy(), atol=1e-5
    )
    start, std_cols = 1280, []
    for t in STAGE_ENDS:  # per tapped block: its channel means, then its channel deviations
        c = LITE0_BLOCK_CHANNELS[t]
        std_cols.extend(range(start + c, start + 2 * c))
        start += 2 * c
    assert bool((out[:, std_cols] > 0).all())
    assert float(out[:, 1280:].std(dim=0).mean()) > 1e-3  # the statistics tell paintings apart


@pytest.mark.slow
def test_fine_tuning_the_statistics_backbone_on_real_paintings(wikiart_zip, models_dir, tmp_path):
    """The fine-tune path (CUDA when present, here the CPU at a tiny size) trains Lite0's tail
    under the multi-layer head, and the tuned model still exports and agrees with torch."""
    src = tmp_path / "styles"
    for style, rows in _wikiart_images(wikiart_zip, 5).items():
        (src / style).mkdir(parents=True)
        for name, data in rows:
            (src / style / name).write_bytes(data)
    result = train_classifier(
        src,
        tmp_path / "model",
        TrainingOptions(
            cache_dir=models_dir,
            progress=False,
            epochs=30,
            aug_views=0,
            fine_tune=True,
            fine_tune_epochs=1,
            fine_tune_blocks=1,
        ),
    )
    trained = load_trained(result.model_dir)
    assert trained.config.fine_tuned and trained.config.backbone == "efficientnet-lite0-stats"
    assert trained.config.training["fine_tune"]["trainable_parameters"] > 0
    exported = export_models(result.model_dir, formats=("onnx",), progress=False, camera_samples=0)
    p = exported.parity.formats["onnx"]
    assert p.max_abs_diff_probabilities <= 1e-4 and p.top1_agreement == 1.0
