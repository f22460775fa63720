"""An int8 embedding network for ingest: how much faster than fp32, and what it costs in retrieval.

Protocol: the int8 model is built from the server's fp32 ONNX export by
:func:`edge_models.ort_int8.quantize_embedding_model` (static QDQ, per-channel int8 weights,
uint8 activations), calibrated on catalogue images that are *not* among the evaluated ones.
Speed: batch-32 runs of fp32 and int8 interleaved in this process (same threads, input
already preprocessed), median img/s; the ratio is the figure to read. Retrieval: every
evaluated image is embedded by both; recall@10 of int8 nearest neighbours (int8 queries over
an int8 collection, as an int8-ingested collection would be searched) against the fp32 ones,
plus mixed int8 queries over fp32 vectors (why an int8 model must be its own embedding
space), the cosine between the two vectors of an image and, on WikiArt, style mAP@10 of each.

Issue 15's ingest target (end to end ≥ 1.3× fp32 ORT alone, ≤ 1 % recall@10 loss) needs this
speed-up times ingest's own efficiency (ingest ÷ the network alone, embedding-throughput
section) to reach 1.3; the int8 model is not yet what ingest runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backend.engine.ingest import INGEST_MIN_SIDE
from dataset_tools.images import decode_image

from .context import BenchContext
from .figures import TargetCheck, fmt_ratio, md_table, ratio, time_calls
from .retrieval import mean_average_precision

NAME = "int8_embed"
TITLE = "int8 ONNX Runtime embedding: speed-up and retrieval loss"

RECALL_LOSS_LIMIT = 0.01
INGEST_TARGET = 1.3


@dataclass
class Int8Result:
    n_images: int
    n_calibration: int
    images_from: str
    fp32_img_s: float
    int8_img_s: float
    recall_at_10: float
    mixed_recall_at_10: float
    cosine_mean: float
    cosine_min: float
    style_map_fp32: float
    style_map_int8: float
    quick: bool
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return ratio(self.int8_img_s, self.fp32_img_s)

    def headline(self) -> str:
        return (
            f"int8 {self.int8_img_s:.0f} img/s vs fp32 {self.fp32_img_s:.0f} img/s ({fmt_ratio(self.speedup)}); "
            f"recall@10 vs fp32 neighbours {self.recall_at_10:.3f}"
        )

    def targets(self) -> list[TargetCheck]:
        loss = 1 - self.recall_at_10
        return [
            TargetCheck(
                "int8 embedding: recall@10 loss vs fp32 (ingest with int8)",
                f"≤ {RECALL_LOSS_LIMIT:.0%}",
                f"{loss:.1%}",
                None if self.quick else loss <= RECALL_LOSS_LIMIT,
                "" if loss <= RECALL_LOSS_LIMIT else f"over by {loss - RECALL_LOSS_LIMIT:.1%}",
            )
        ]

    def markdown(self) -> str:
        rows = [
            [
                "fp32 (server model, reference)",
                f"{self.fp32_img_s:.1f}",
                "1.00×",
                "1.000",
                "—",
                f"{self.style_map_fp32:.4f}",
            ],
            [
                "int8 (QDQ, per-channel, static calibration)",
                f"{self.int8_img_s:.1f}",
                fmt_ratio(self.speedup),
                f"{self.recall_at_10:.3f}",
                f"{self.mixed_recall_at_10:.3f}",
                f"{self.style_map_int8:.4f}",
            ],
        ]
        return "\n".join(
            [
                f"{self.n_images} {self.images_from} evaluated, {self.n_calibration} other ones for calibration; "
                "batch 32, fp32 and int8 interleaved. Recall@10: the int8 model's neighbours of each image (among "
                "the evaluated images, itself left out) that are among its fp32 neighbours.",
                "",
                md_table(
                    [
                        "network",
                        "img/s",
                        "÷ fp32",
                        "recall@10 vs fp32",
                        "int8 queries over fp32 vectors, recall@10",
                        "style mAP@10",
                    ],
                    rows,
                ),
                "",
                f"Cosine between an image's fp32 and int8 vectors: mean {self.cosine_mean:.4f}, min {self.cosine_min:.4f}.",
            ]
            + [f"\n> {n}" for n in self.notes]
        )


def _knn(q: np.ndarray, db: np.ndarray, k: int) -> np.ndarray:
    s = q @ db.T
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(x, y)) / len(y) for x, y in zip(a, b)]))


def run(ctx: BenchContext) -> Int8Result:
    from edge_models.ort_int8 import quantize_embedding_model
    from edge_models.runtime import OnnxModel

    n, n_cal = (256, 32) if ctx.quick else (1024, 96)
    images = ctx.catalogue_images(n + n_cal, seed=3)
    fp32 = ctx.cnn.model
    spec = fp32.card.preprocessing
    ctx.log(f"int8: preprocessing {len(images)} images")
    x = np.concatenate(
        [
            spec.to_batch(
                [
                    decode_image(images.read(i), min_side=INGEST_MIN_SIDE).image
                    for i in range(s, min(s + 64, len(images)))
                ]
            )
            for s in range(0, len(images), 64)
        ]
    )
    cal_idx = np.arange(len(images))[::-1][:n_cal]  # the last ones calibrate, the rest are evaluated
    ev_idx = np.setdiff1d(np.arange(len(images)), cal_idx)
    ctx.log("int8: quantising the embedding network (static, per-channel)")
    path = quantize_embedding_model(fp32.path, ctx.cache_dir / "int8", x[cal_idx])
    int8 = OnnxModel.load(path, fp32.card, threads=ctx.settings.threads)

    def embed(model: OnnxModel) -> np.ndarray:
        out = np.concatenate([model.run(x[ev_idx[s : s + 32]])["embedding"] for s in range(0, len(ev_idx), 32)])
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    e32, e8 = embed(fp32), embed(int8)
    batch = x[ev_idx[:32]]
    rounds = 3 if ctx.quick else 8
    time_calls(lambda: fp32.run(batch), 0, warmup=2)
    time_calls(lambda: int8.run(batch), 0, warmup=2)
    t32, t8 = [], []
    for _ in range(rounds):
        t32 += time_calls(lambda: fp32.run(batch), 1, warmup=0)
        t8 += time_calls(lambda: int8.run(batch), 1, warmup=0)
    ref = _knn(e32, e32, 10)
    labels = images.labels[ev_idx]
    maps = [
        mean_average_precision(e, labels, e, labels, 10, exclude_self=True).map
        if ctx.wikiart() is not None
        else float("nan")
        for e in (e32, e8)
    ]
    cos = (e32 * e8).sum(1)
    return Int8Result(
        n_images=len(ev_idx),
        n_calibration=n_cal,
        images_from="WikiArt 224 px images" if ctx.wikiart() is not None else "generated 224 px paintings",
        fp32_img_s=32 / (float(np.median(t32)) / 1000),
        int8_img_s=32 / (float(np.median(t8)) / 1000),
        recall_at_10=_overlap(_knn(e8, e8, 10), ref),
        mixed_recall_at_10=_overlap(_knn(e8, e32, 10), ref),
        cosine_mean=float(cos.mean()),
        cosine_min=float(cos.min()),
        style_map_fp32=maps[0],
        style_map_int8=maps[1],
        quick=ctx.quick,
        notes=["quick mode: few images; not the figure of record"] if ctx.quick else [],
    )
