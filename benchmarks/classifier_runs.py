"""Benchmarks of the category classifier, as functions the lead's ``make bench`` calls.

What is measured, and why each figure:

* WikiArt 7-style test accuracy and macro-F1 — the headline (issue 3 compares with Europeana's
  pilot, 0.744 test accuracy, and MediaPipe Model Maker's 91.3 % on flowers);
* the learning curve (10/25/50/100/all images per style) — how many images a curator must label;
* model sizes per format and precision — what a phone downloads;
* single-image latency of .tflite fp32 / fp16 / int8 and ONNX, measured in the same process, on
  the same preprocessed input, one after the other, so they compare fairly on a shared machine;
* parity figures from export;
* how often the classifier says "none of these" on pictures that are not paintings at all
  (CIFAR-10 photos, when ../shared has them): the abstain threshold's false-answer side.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "ClassifierBenchmark",
    "LatencyResult",
    "benchmarks_markdown",
    "measure_latency",
    "ood_abstain_rate",
    "run_classifier_benchmark",
]


@dataclass
class LatencyResult:
    fmt: str
    median_ms: float
    p90_ms: float
    runs: int
    threads: int


@dataclass
class ClassifierBenchmark:
    dataset: str
    accuracy: float
    macro_f1: float
    n_test: int
    per_class: list[dict[str, Any]]
    coverage: float | None
    selective_accuracy: float | None
    ece: float | None
    learning_curve: list[dict[str, Any]] = field(default_factory=list)
    sizes_bytes: dict[str, int] = field(default_factory=dict)
    latency: dict[str, LatencyResult] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    # quantised files vs torch fp32 on every unseen image: {"test paintings": {"tflite_int8": 0.98, ...}, ...}
    unseen_agreement: dict[str, dict[str, float]] = field(default_factory=dict)
    unseen_n: dict[str, int] = field(default_factory=dict)
    ood_abstain_rate: float | None = None
    train_seconds: float = 0.0
    export_seconds: dict[str, float] = field(default_factory=dict)
    model_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_latency(
    model_dir: Path,
    files: dict[str, Path],
    image: Image.Image,
    *,
    runs: int = 50,
    warmup: int = 5,
    threads: int | None = None,
) -> dict[str, LatencyResult]:
    """Median single-image latency per file (model only: the input tensor is prepared once)."""
    from edge_models.export_tflite import INPUT_NAME, SIGNATURE, load_interpreter, quantise_input
    from edge_models.model_dir import load_config
    from edge_models.runtime import make_session

    threads = threads or (os.cpu_count() or 1)
    config = load_config(model_dir)
    x = config.spec.to_batch([image])
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    fns = {}
    for fmt, path in files.items():
        if fmt == "onnx":
            sess = make_session(path, threads=threads, device="cpu")
            fns[fmt] = lambda s=sess: s.run(None, {"image": x})
        elif fmt.startswith("tflite_"):
            runner = load_interpreter(path, threads=threads).get_signature_runner(SIGNATURE)
            x_in = quantise_input(x_nhwc, runner.get_input_details()[INPUT_NAME])  # uint8 pixels for int8_full
            fns[fmt] = lambda r=runner, x_in=x_in: r(**{INPUT_NAME: x_in})
    out: dict[str, LatencyResult] = {}
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {fmt: [] for fmt in fns}
    for _ in range(runs):  # interleaved: background load hits every format alike
        for fmt, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[fmt].append((time.perf_counter() - t) * 1000)
    for fmt, ts in times.items():
        out[fmt] = LatencyResult(fmt, float(np.median(ts)), float(np.percentile(ts, 90)), runs, threads)
    return out


def ood_abstain_rate(model_dir: Path, images: list[Image.Image]) -> float:
    """Share of ``images`` for which the classifier answers "none of these"."""
    from edge_models.classifier import load_classifier

    clf = load_classifier(model_dir)
    preds = clf.predict(images)
    return float(np.mean([len(p) == 0 for p in preds])) if preds else float("nan")


def _cifar_images(cifar_zip: Path, n: int, seed: int = 0) -> list[Image.Image]:
    with zipfile.ZipFile(cifar_zip) as zf:
        names = [x for x in zf.namelist() if x.startswith("test/") and x.endswith(".jpg")]
        rng = np.random.default_rng(seed)
        pick = [names[i] for i in rng.choice(len(names), size=min(n, len(names)), replace=False)]
        return [Image.open(io.BytesIO(zf.read(x))).convert("RGB") for x in pick]


def held_out_images(source: Path, model_dir: Path) -> list[Image.Image]:
    """Every image training held out for testing (none trained the head or calibrated int8)."""
    import json

    from dataset_tools.readers import open_source

    split = json.loads((Path(model_dir) / "splits.json").read_text())["assignment"]
    test = {k for k, v in split.items() if v == "test"}
    with open_source(source) as src:
        return [Image.open(io.BytesIO(r.read())).convert("RGB") for r in src if r.source_path in test]


def unseen_agreement(
    model_dir: Path, files: dict[str, Path], images: list[Image.Image], *, snaps: bool = True, seed: int = 0
) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """Top-1 agreement of the quantised .tflite files with torch fp32 on ``images`` and on a
    simulated phone photo of each.

    Why beside the export's parity check: that one sees JPEG re-encodes of (up to 600 of) the
    same paintings; this one the original files and what a phone would photograph.
    """
    from dataset_tools.camera_snap import simulate_snap
    from edge_models.parity import compare_formats
    from edge_models.trained import load_trained

    trained = load_trained(model_dir)
    quantised = {k: v for k, v in files.items() if k in ("tflite_fp16", "tflite_int8")}
    sets = {"test paintings": images}
    if snaps:
        rng = np.random.default_rng(seed)
        sets["phone photos of them"] = [simulate_snap(im, rng, out_size=(640, 480)).photo for im in images]
    out: dict[str, dict[str, float]] = {}
    for name, imgs in sets.items():
        checked = compare_formats(trained.net, quantised, imgs, trained.config)
        out[name] = {fmt: round(p.top1_agreement, 4) for fmt, p in checked.items()}
    return out, {name: len(imgs) for name, imgs in sets.items()}


def run_classifier_benchmark(
    source: Path,
    work_dir: Path,
    *,
    cifar_zip: Path | None = None,
    learning_curve: bool = True,
    export: bool = True,
    progress: bool = False,
    cache_dir: Path | None = None,
    latency_runs: int = 50,
) -> ClassifierBenchmark:
    """Train on ``source`` (the WikiArt zip for the headline figures), export, measure."""
    from edge_models.export import export_models
    from edge_models.model_dir import read_sample_images
    from edge_models.train import TrainingOptions, train_classifier

    work_dir = Path(work_dir)
    model_dir = work_dir / "classifier"
    options = TrainingOptions(
        cache_dir=cache_dir or work_dir / "cache", learning_curve=learning_curve, progress=progress
    )
    res = train_classifier(source, model_dir, options)
    bench = ClassifierBenchmark(
        dataset=Path(source).name,
        accuracy=res.test.accuracy,
        macro_f1=res.test.macro_f1,
        n_test=res.test.n,
        per_class=[asdict(c) for c in res.test.per_class],
        coverage=res.test.coverage,
        selective_accuracy=res.test.selective_accuracy,
        ece=res.test.ece,
        learning_curve=res.learning_curve.to_dict()["points"] if res.learning_curve else [],
        train_seconds=round(res.seconds, 1),
        model_dir=str(model_dir),
    )
    if export:
        ex = export_models(model_dir, progress=progress)
        bench.sizes_bytes = ex.sizes
        bench.export_seconds = ex.seconds
        bench.parity = ex.parity.to_dict() if ex.parity else {}
        image = read_sample_images(model_dir / "samples" / "parity.zip")[0]
        bench.latency = measure_latency(model_dir, ex.files, image, runs=latency_runs)
        unseen = held_out_images(source, model_dir)
        if unseen:
            bench.unseen_agreement, bench.unseen_n = unseen_agreement(model_dir, ex.files, unseen)
        if cifar_zip is not None and Path(cifar_zip).exists():
            bench.ood_abstain_rate = ood_abstain_rate(model_dir, _cifar_images(Path(cifar_zip), 500))
    return bench


def benchmarks_markdown(b: ClassifierBenchmark) -> str:
    """A BENCHMARKS.md section with the figures of one run."""
    lines = [
        f"### Category classifier ({b.dataset})",
        "",
        f"Test split: accuracy **{b.accuracy:.3f}**, macro-F1 **{b.macro_f1:.3f}** (n={b.n_test}); "
        f"ECE {b.ece:.3f}; abstain threshold answers {b.coverage:.1%} of test images, "
        f"{b.selective_accuracy:.3f} of those right. Training {b.train_seconds:.0f} s on this machine.",
        "",
    ]
    if b.ood_abstain_rate is not None:
        lines += [f'Non-paintings (500 CIFAR-10 photos): "none of these" for {b.ood_abstain_rate:.1%}.', ""]
    lines += ["| style | precision | recall | F1 | n |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {c['label']} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |"
        for c in b.per_class
    ]
    if b.learning_curve:
        lines += ["", "| images per style | accuracy | macro-F1 |", "|---|---:|---:|"]
        lines += [
            f"| {p['label']} | {p['accuracy']:.3f} ± {p['accuracy_std']:.3f} | {p['macro_f1']:.3f} ± "
            f"{p['macro_f1_std']:.3f} |"
            for p in b.learning_curve
        ]
    if b.sizes_bytes:
        lines += ["", "| file | size | latency median (p90), 1 image |", "|---|---:|---:|"]
        for fmt, size in b.sizes_bytes.items():
            lat = b.latency.get(fmt)
            lat_s = (
                f"{lat.median_ms:.1f} ms ({lat.p90_ms:.1f})"
                if lat
                else "n/a (cannot run on Linux)"
                if fmt.startswith("coreml")
                else ""
            )
            lines.append(f"| {fmt} | {size / 1e6:.2f} MB | {lat_s} |")
    if b.parity:
        lines += ["", "| parity vs torch | max abs diff (probabilities) | top-1 agreement |", "|---|---:|---:|"]
        for fmt, p in b.parity.get("formats", {}).items():
            lines.append(f"| {fmt} | {p['max_abs_diff_probabilities']:.2e} | {p['top1_agreement']:.1%} |")
    paths = b.parity.get("resize_paths") if b.parity else None
    if paths:
        lines += [
            "",
            f"From {paths[0]['n']} simulated 12 MP photos, shrunk the way each platform shrinks them "
            "(edge_models.resize_paths): top-1 agreement with the server's answer on the same photo, "
            "and mean embedding cosine to the server's vector:",
            "",
            "| resize path | file | top-1 agreement | embedding cosine |",
            "|---|---|---:|---:|",
        ]
        for r in paths:
            agree = "" if r["top1_agreement"] is None else f"{r['top1_agreement']:.1%}"
            cos = "" if r["mean_cosine_embedding"] is None else f"{r['mean_cosine_embedding']:.4f}"
            lines.append(f"| {r['path']} | {r['fmt']} | {agree} | {cos} |")
    if b.unseen_agreement:
        fmts = sorted({f for v in b.unseen_agreement.values() for f in v})
        lines += [
            "",
            "Top-1 agreement with torch fp32 on every held-out painting as filed, and on a simulated "
            "phone photo of each (the disagreements are near-ties, so samples of a few hundred are "
            "noisy by about ±0.6 %):",
            "",
            "| images | " + " | ".join(fmts) + " |",
            "|---|" + "---:|" * len(fmts),
        ]
        for name, row in b.unseen_agreement.items():
            lines.append(
                f"| {name} (n={b.unseen_n.get(name, '?')}) | " + " | ".join(f"{row[f]:.1%}" for f in fmts) + " |"
            )
    return "\n".join(lines) + "\n"
