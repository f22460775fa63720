"""Figure 1: how fast the embedding runs (ONNX Runtime vs torch eager vs the arithmetic ceiling),
and how close ingest gets to the network's own speed.

Protocol: the same real 224 px images, preprocessed once with the model card's spec; warm-up
runs first; ONNX Runtime and torch eager runs are *interleaved* (ORT, torch, ORT, torch …) so
a neighbour's load burst hits both equally. The ceiling is the network's 388.7 M MACs per
image (0.777 GFLOP) divided into the best float32 matrix-multiply rate numpy reaches here.
Ingest is timed end to end (listing, decode, dedup hashes, media store, catalog, ORT, index)
on a fresh scratch catalog with the model already loaded, as a worker would have it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from backend.engine.ingest import INGEST_MIN_SIDE
from dataset_tools.images import decode_image
from dataset_tools.progress import TqdmProgress

from .context import BenchContext
from .figures import Latency, TargetCheck, fmt_ratio, md_table, miss_by, ratio, time_calls
from .ingest_profile import ProfileRow, StageCost, profile_ingest, stage_costs

NAME = "embed_throughput"
TITLE = "Embedding throughput and ingest rate"

MACS_PER_IMAGE = 388.7e6  # EfficientNet-Lite0 at 224 px (DESIGN.md)
FLOPS_PER_IMAGE = 2 * MACS_PER_IMAGE
INGEST_TARGET = 120.0  # images/s end to end


@dataclass
class IngestFigures:
    source: str
    images: int
    added: int
    duplicates: int
    failed: int
    seconds: float
    images_per_s: float


@dataclass
class EmbedThroughputResult:
    batch: int
    ort_threads: int
    torch_threads: int
    onnx_img_s: float
    torch_img_s: float
    onnx_runs_img_s: list[float]
    torch_runs_img_s: list[float]
    onnx_b1: Latency
    torch_b1: Latency
    onnx_b1_one_thread: Latency
    torch_b1_one_thread: Latency
    preprocess_img_s: float
    sgemm_size: int
    sgemm_gflops_best: float
    sgemm_gflops_median: float
    ceiling_img_s: float
    ingest: IngestFigures | None
    ingest_onnx_ref_img_s: float = float("nan")
    stages: list[StageCost] = field(default_factory=list)
    stage_images: int = 0
    profile: list[ProfileRow] = field(default_factory=list)
    profile_images: int = 0
    profile_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ingest_vs_onnx(self) -> float:
        """Ingest rate ÷ ORT alone, the latter measured right before and after the ingest."""
        ref = self.ingest_onnx_ref_img_s if np.isfinite(self.ingest_onnx_ref_img_s) else self.onnx_img_s
        return ratio(self.ingest.images_per_s, ref) if self.ingest else float("nan")

    def headline(self) -> str:
        s = (
            f"ONNX Runtime {self.onnx_img_s:.0f} img/s vs torch eager {self.torch_img_s:.0f} img/s "
            f"({fmt_ratio(ratio(self.onnx_img_s, self.torch_img_s))}), {fmt_ratio(ratio(self.onnx_img_s, self.ceiling_img_s))} of the "
            f"{self.ceiling_img_s:.0f} img/s arithmetic ceiling"
        )
        if self.ingest:
            s += f"; ingest {self.ingest.images_per_s:.0f} img/s end to end ({fmt_ratio(self.ingest_vs_onnx)} of ORT alone)"
        return s

    def targets(self) -> list[TargetCheck]:
        if not self.ingest:
            return [TargetCheck("ingest rate", f"≥ {INGEST_TARGET:.0f} img/s", "not measured", None)]
        rate = self.ingest.images_per_s
        return [
            TargetCheck(
                "ingest rate (224 px JPEGs, end to end)",
                f"≥ {INGEST_TARGET:.0f} img/s",
                f"{rate:.1f} img/s",
                rate >= INGEST_TARGET,
                miss_by(rate, INGEST_TARGET, higher_is_better=True),
            )
        ]

    def markdown(self) -> str:
        out = [
            f"Batch {self.batch}, warm-up first, ORT and torch runs interleaved in one process "
            f"(ORT intra-op threads {self.ort_threads}, torch threads {self.torch_threads}). "
            f"The ORT and torch figures are the network alone (input already preprocessed).",
            "",
            md_table(
                ["", "ONNX Runtime (server path)", "torch eager (`EmbeddingNet`)", "ratio ORT vs torch"],
                [
                    [
                        f"batch {self.batch}, img/s (median of {len(self.onnx_runs_img_s)} runs)",
                        f"{self.onnx_img_s:.1f}",
                        f"{self.torch_img_s:.1f}",
                        fmt_ratio(ratio(self.onnx_img_s, self.torch_img_s)),
                    ],
                    [
                        "batch 1 latency p50",
                        f"{self.onnx_b1.p50_ms:.2f} ms",
                        f"{self.torch_b1.p50_ms:.2f} ms",
                        fmt_ratio(ratio(self.torch_b1.p50_ms, self.onnx_b1.p50_ms)) + " faster",
                    ],
                    [
                        "batch 1 latency p95",
                        f"{self.onnx_b1.p95_ms:.2f} ms (n={self.onnx_b1.n})",
                        f"{self.torch_b1.p95_ms:.2f} ms (n={self.torch_b1.n})",
                        "",
                    ],
                    [
                        "batch 1 latency p50, **1 thread** (scaling check)",
                        f"{self.onnx_b1_one_thread.p50_ms:.2f} ms",
                        f"{self.torch_b1_one_thread.p50_ms:.2f} ms",
                        fmt_ratio(ratio(self.torch_b1_one_thread.p50_ms, self.onnx_b1_one_thread.p50_ms)) + " faster",
                    ],
                ],
            ),
            "",
            md_table(
                ["reference", "value", "ORT batch throughput as a share"],
                [
                    [
                        f"numpy float32 matmul {self.sgemm_size}² (best / median)",
                        f"{self.sgemm_gflops_best:.1f} / {self.sgemm_gflops_median:.1f} GFLOP/s",
                        "",
                    ],
                    [
                        f"arithmetic ceiling = best GFLOP/s ÷ {FLOPS_PER_IMAGE / 1e9:.3f} GFLOP/img",
                        f"{self.ceiling_img_s:.0f} img/s",
                        fmt_ratio(ratio(self.onnx_img_s, self.ceiling_img_s)),
                    ],
                    [
                        "preprocessing alone (Pillow resize + crop + normalise, 1 thread)",
                        f"{self.preprocess_img_s:.0f} img/s",
                        "",
                    ],
                ],
            ),
        ]
        if self.ingest:
            ing = self.ingest
            out += [
                "",
                f"**Ingest end to end** (`Engine.ingest.ingest`, {ing.source}): {ing.images} files, {ing.added} added, "
                f"{ing.duplicates} duplicates linked, {ing.failed} failed, in {ing.seconds:.1f} s → "
                f"**{ing.images_per_s:.1f} img/s**, {fmt_ratio(self.ingest_vs_onnx)} of ONNX Runtime alone at batch {self.batch} "
                f"({self.ingest_onnx_ref_img_s:.1f} img/s, measured right before and after the ingest) "
                f"(target ≥ {INGEST_TARGET:.0f} img/s: {'met' if ing.images_per_s >= INGEST_TARGET else 'missed, ' + miss_by(ing.images_per_s, INGEST_TARGET, higher_is_better=True)}).",
            ]
        if self.stages:
            serial_ms = sum(s.ms_per_image for s in self.stages)
            ort_ms = sum(s.ms_per_image for s in self.stages if s.stage.startswith("ONNX"))
            rest = serial_ms - ort_ms
            cores = max(1, self.ort_threads)
            out += [
                "",
                f"Where ingest time goes — each stage run serially on {self.stage_images} of the same images "
                f"(CPU cost per image; ingest overlaps read/decode/hash in 2 threads with the rest):",
                "",
                md_table(
                    ["stage", "ms / image", "share", "code"],
                    [
                        [s.stage, f"{s.ms_per_image:.2f}", f"{s.share:.0%}", f"`{s.where}`"]
                        for s in sorted(self.stages, key=lambda s: -s.ms_per_image)
                    ],
                ),
                "",
                f"Sum {serial_ms:.2f} ms/image → {1000 / serial_ms:.0f} img/s if nothing overlapped; "
                f"{1000 / (ort_ms + rest / cores):.0f} img/s if every non-ORT stage ran on the other core(s) perfectly "
                f"in parallel with ORT (an upper bound on {cores} cores).",
            ]
        if self.profile:
            out += [
                "",
                f"cProfile of a real ingest ({self.profile_images} images, {self.profile_seconds:.1f} s under the profiler; "
                "main thread only, so read/decode/hash show up as waiting for the pool):",
                "",
                md_table(
                    ["main-thread time", "seconds", "share"],
                    [[r.category, f"{r.seconds:.2f}", f"{r.share:.0%}"] for r in self.profile],
                ),
            ]
        out += [f"\n> {n}" for n in self.notes]
        return "\n".join(out)

    def check_scaling(self) -> None:
        """Flag a run where more threads made things slower: the CPU was oversubscribed."""
        for name, many, one in (
            ("ONNX Runtime", self.onnx_b1, self.onnx_b1_one_thread),
            ("torch", self.torch_b1, self.torch_b1_one_thread),
        ):
            if many.p50_ms > 1.2 * one.p50_ms:
                self.notes.append(
                    f"{name} was {many.p50_ms / one.p50_ms:.1f}× *slower* at batch 1 with {self.ort_threads if name.startswith('ONNX') else self.torch_threads} "
                    "threads than with 1: the cores were oversubscribed (other processes), and spinning/OpenMP thread pools "
                    "degrade badly then. The multi-thread figures of this run are not representative; rerun on a quiet machine."
                )


def _sgemm(size: int, repeats: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flops = 2.0 * size**3
    times = time_calls(lambda: a @ b, repeats, warmup=1)
    rates = [flops / (t / 1000) / 1e9 for t in times]
    return max(rates), float(np.median(rates))


def measure_ingest(ctx: BenchContext, result: EmbedThroughputResult, onnx_rate: Callable[[], float]) -> None:
    from backend.engine.services import Engine

    art = ctx.wikiart_with_duplicates()
    if art is not None and not ctx.quick:
        images, what = art, f"all {len(art)} files of the WikiArt zip (incl. its 80 duplicates), from a folder"
    else:
        n = 256 if ctx.quick else 2048
        images = ctx.catalogue_images(n)
        what = f"{len(images)} {'WikiArt' if ctx.wikiart() is not None else 'generated'} 224 px JPEGs, from a folder"
    st = ctx.scratch("ingest")
    ctx.log(f"ingest: writing {len(images)} source files")
    source = images.write_folder(st.data_dir / "source")
    eng = Engine.open(st)
    try:
        eng.search.warm_up()  # a worker has its model loaded before the first request
        ref = [onnx_rate() for _ in range(2)]  # ORT alone, bracketing the ingest against load drift
        with TqdmProgress("ingest", "img", leave=False) as bar:
            t0 = time.perf_counter()
            summary = eng.ingest.ingest(source, "bench-ingest", observer=bar)
            wall = time.perf_counter() - t0
        ref += [onnx_rate() for _ in range(2)]
        result.ingest_onnx_ref_img_s = float(np.median(ref))
        done = summary.added + summary.exact_duplicates + summary.near_duplicates
        result.ingest = IngestFigures(
            source=what,
            images=summary.total,
            added=summary.added,
            duplicates=summary.exact_duplicates + summary.near_duplicates,
            failed=len(summary.failed),
            seconds=wall,
            images_per_s=done / wall if wall else 0.0,
        )
        ctx.log(f"ingest: {result.ingest.images_per_s:.1f} img/s")
        m = 64 if ctx.quick else 256
        result.stages = stage_costs(eng, source, m, ctx.settings.ingest_batch)
        result.stage_images = min(m, len(images))
        if result.ingest.images_per_s < INGEST_TARGET:
            lim = 128 if ctx.quick else 1024
            ctx.log(f"ingest below {INGEST_TARGET:.0f} img/s: profiling an ingest of {lim} images")
            rows, secs, n_done = profile_ingest(eng, source, "bench-ingest-profiled", lim)
            result.profile, result.profile_seconds, result.profile_images = rows, secs, n_done
    finally:
        eng.close()


def run(ctx: BenchContext) -> EmbedThroughputResult:
    import torch

    from edge_models.backbone import EmbeddingNet

    batch = 32
    images = ctx.catalogue_images(batch)
    pil = [decode_image(images.read(i), min_side=INGEST_MIN_SIDE).image for i in range(len(images))]
    while len(pil) < batch:
        pil += pil[: batch - len(pil)]
    model = ctx.cnn.model
    spec = model.card.preprocessing
    x = spec.to_batch(pil)
    x1 = x[:1]

    ctx.log("embed: loading torch eager EmbeddingNet")
    net = EmbeddingNet().eval()
    xt, xt1 = torch.from_numpy(x), torch.from_numpy(x1)

    def torch_run(t: torch.Tensor) -> None:
        with torch.inference_mode():
            net(t)

    rounds = 3 if ctx.quick else 8
    ctx.log(f"embed: batch {batch}, {rounds} interleaved rounds (warm-up first)")
    time_calls(lambda: model.run(x), 0, warmup=2)
    time_calls(lambda: torch_run(xt), 0, warmup=1)
    onnx_runs, torch_runs = [], []
    for _ in range(rounds):
        onnx_runs.append(batch / (time_calls(lambda: model.run(x), 1, warmup=0)[0] / 1000))
        torch_runs.append(batch / (time_calls(lambda: torch_run(xt), 1, warmup=0)[0] / 1000))

    n1_onnx, n1_torch = (20, 5) if ctx.quick else (100, 30)
    time_calls(lambda: model.run(x1), 0, warmup=3)
    time_calls(lambda: torch_run(xt1), 0, warmup=2)
    onnx_b1, torch_b1 = [], []
    for i in range(n1_onnx):
        onnx_b1 += time_calls(lambda: model.run(x1), 1, warmup=0)
        if i < n1_torch:
            torch_b1 += time_calls(lambda: torch_run(xt1), 1, warmup=0)

    ctx.log("embed: batch 1 on one thread (scaling check)")
    from edge_models.runtime import OnnxModel

    one = OnnxModel.load(model.path, model.card, threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        onnx_one = time_calls(lambda: one.run(x1), n1_torch, warmup=2)
        torch_one = time_calls(lambda: torch_run(xt1), n1_torch, warmup=1)
    finally:
        torch.set_num_threads(threads)

    pre = time_calls(lambda: spec.to_batch(pil), 3 if ctx.quick else 10, warmup=1)
    size = 2048
    best, med = _sgemm(size, 5 if ctx.quick else 15)
    result = EmbedThroughputResult(
        batch=batch,
        ort_threads=ctx.threads(),
        torch_threads=torch.get_num_threads(),
        onnx_img_s=float(np.median(onnx_runs)),
        torch_img_s=float(np.median(torch_runs)),
        onnx_runs_img_s=[round(v, 2) for v in onnx_runs],
        torch_runs_img_s=[round(v, 2) for v in torch_runs],
        onnx_b1=Latency.of(onnx_b1),
        torch_b1=Latency.of(torch_b1),
        onnx_b1_one_thread=Latency.of(onnx_one),
        torch_b1_one_thread=Latency.of(torch_one),
        preprocess_img_s=batch / (float(np.median(pre)) / 1000),
        sgemm_size=size,
        sgemm_gflops_best=best,
        sgemm_gflops_median=med,
        ceiling_img_s=best * 1e9 / FLOPS_PER_IMAGE,
        ingest=None,
    )
    result.check_scaling()
    ctx.log(f"embed: {result.headline()}")
    measure_ingest(ctx, result, lambda: batch / (time_calls(lambda: model.run(x), 1, warmup=0)[0] / 1000))
    return result
