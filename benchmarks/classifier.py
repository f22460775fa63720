"""The category classifier (issue 3): WikiArt 7-style accuracy, learning curve, file sizes,
single-image latency of .tflite fp32 / fp16 / int8 vs ONNX, parity — all in this process.

Training and export are :mod:`edge_models`'s; this section only runs them on the benchmark
data and renders the figures. Frozen features are cached under the bench cache, so a re-run
costs the head training and the export, not the feature extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import BenchContext
from .datasets import CIFAR_ZIP, WIKIART_ZIP
from .figures import SkipSection

NAME = "classifier"
TITLE = "Category classifier: WikiArt styles, learning curve, phone files"


@dataclass
class ClassifierSection:
    bench: Any
    quick: bool

    def headline(self) -> str:
        b = self.bench
        parts = [f"test accuracy {b.accuracy:.3f}, macro-F1 {b.macro_f1:.3f} (7 WikiArt styles)"]
        onnx, int8 = b.latency.get("onnx"), b.latency.get("tflite_int8")
        if onnx and int8:
            parts.append(f"int8 .tflite {int8.median_ms:.1f} ms = {int8.median_ms / onnx.median_ms:.2f}× ONNX")
        if "tflite_int8" in b.sizes_bytes:
            parts.append(f"int8 file {b.sizes_bytes['tflite_int8'] / 1e6:.1f} MB")
        return "; ".join(parts)

    def targets(self) -> list[Any]:
        return []

    def markdown(self) -> str:
        from .classifier_runs import benchmarks_markdown

        b = self.bench
        protocol = (
            "Protocol: `artsnap train-classifier` on `wikiart-styles-3500.zip` (7 styles), leakage-free stratified "
            "70/15/15 split that keeps duplicate groups on one side (pictures filed under two styles are left out), "
            "head on frozen EfficientNet-Lite0 features with two phone-like augmented views per training image, "
            "temperature calibration, abstain threshold; then `export-classifier` (ONNX, TFLite fp32/fp16/int8, "
            "Core ML fp16/int8) and a parity check on the test paintings. Latency: one 224 px image, median of "
            f"{next(iter(b.latency.values())).runs if b.latency else 0} runs per format, same process. For reference, "
            "Europeana's 20-class pilot reports 0.744 test accuracy (ResNet-18, 128 px, a different and easier "
            "task), MediaPipe Model Maker 91.3 % on 5 flower classes."
        )
        onnx = b.latency.get("onnx")
        ratios = []
        if onnx:
            for fmt, lat in b.latency.items():
                ratios.append(f"{fmt}: {lat.median_ms:.1f} ms = {lat.median_ms / onnx.median_ms:.2f}× ONNX")
        ratio_line = (
            ("Latency relative to ONNX Runtime (same image, same process): " + "; ".join(ratios)) if ratios else ""
        )
        return "\n".join([protocol, "", benchmarks_markdown(b), ratio_line])


def run(ctx: BenchContext) -> ClassifierSection:
    from .classifier_runs import run_classifier_benchmark

    if ctx.datasets_dir is None or not (ctx.datasets_dir / WIKIART_ZIP).is_file():
        raise SkipSection(ctx.missing(WIKIART_ZIP))
    work = ctx.settings.data_dir / "bench-scratch" / "classifier"
    cifar = ctx.datasets_dir / CIFAR_ZIP
    ctx.log("classifier: training on WikiArt, exporting every phone format, measuring latency")
    bench = run_classifier_benchmark(
        ctx.datasets_dir / WIKIART_ZIP,
        work,
        cifar_zip=cifar if cifar.is_file() else None,
        learning_curve=not ctx.quick,
        progress=True,
        cache_dir=ctx.settings.data_dir / "bench-cache" / "classifier-features",
        latency_runs=20 if ctx.quick else 50,
    )
    return ClassifierSection(bench=bench, quick=ctx.quick)
