"""Milvus (milvus-lite, embedded) against FAISS on the same vectors: do they rank alike, how fast.

Protocol: a few hundred real catalogue embeddings (WikiArt when present, else generated
paintings) grown to ``N`` real-ish vectors (:mod:`.synthetic`), loaded into a FAISS ``Flat``
index and into a Milvus ``FLAT`` collection through the engine's own index classes; held-out
real-ish queries; recall@10 of Milvus's answers against FAISS's (the agreement), and each
engine's single-query search latency in this process. Both are exact searches, so agreement
below 1 can only come from ties and float rounding. milvus-lite is Milvus's Python engine
(a gRPC server in a thread of this process); a Milvus cluster is another program, so the
latency ratio says what the client path and milvus-lite cost here, not what a cluster does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .context import BenchContext
from .figures import Latency, TargetCheck, fmt_ratio, md_table, ratio, time_calls
from .synthetic import realish_vectors

NAME = "milvus_agreement"
TITLE = "Milvus (lite) vs FAISS: recall agreement and search latency, same vectors"


@dataclass
class MilvusAgreement:
    n_items: int
    n_queries: int
    dim: int
    agreement_at_10: float
    faiss: Latency
    milvus: Latency
    load_s: dict[str, float]

    @property
    def p50_ratio(self) -> float:
        return ratio(self.milvus.p50_ms, self.faiss.p50_ms)

    def headline(self) -> str:
        return (
            f"{self.n_items} items: recall@10 agreement {self.agreement_at_10:.4f}; Milvus p50 "
            f"{self.milvus.p50_ms:.1f} ms = {fmt_ratio(self.p50_ratio)} FAISS Flat"
        )

    def targets(self) -> list[TargetCheck]:
        return [
            TargetCheck(
                f"Milvus (lite) vs FAISS, Flat, {self.n_items} items: recall@10 agreement",
                "≥ 0.99",
                f"{self.agreement_at_10:.4f}",
                self.agreement_at_10 >= 0.99,
            ),
            TargetCheck(
                f"Milvus (lite) search p50 at {self.n_items} items vs FAISS",
                "reported as a ratio",
                fmt_ratio(self.p50_ratio),
                None,
            ),
        ]

    def markdown(self) -> str:
        rows = [
            ("FAISS Flat (in process)", self.faiss.short(), f"{self.load_s['faiss']:.1f}"),
            ("Milvus FLAT (milvus-lite)", self.milvus.short(), f"{self.load_s['milvus']:.1f}"),
        ]
        return "\n".join(
            [
                __doc__.split("\n\n", 1)[1].strip(),
                "",
                f"{self.n_items} vectors of {self.dim} numbers, {self.n_queries} queries, top 10.",
                "",
                md_table(("engine", "single-query search", "load (s)"), rows),
                "",
                f"Recall@10 of Milvus against FAISS: {self.agreement_at_10:.4f}; "
                f"Milvus p50 / FAISS p50 = {fmt_ratio(self.p50_ratio)}.",
            ]
        )


def run(ctx: BenchContext) -> MilvusAgreement:
    from backend.engine.index import IndexMeta, VectorIndex
    from backend.engine.milvus_store import MilvusIndexStore  # noqa: F401  # fails early without pymilvus

    n_items = 10_000 if ctx.quick else 100_000
    n_queries = 20 if ctx.quick else 100
    images = ctx.catalogue_images(120 if ctx.quick else 300, seed=3)
    bases = ctx.describe(images, ctx.cnn)
    rng = np.random.default_rng(ctx.seed + 7)
    vectors = realish_vectors(bases, n_items, rng)
    queries = realish_vectors(bases, n_queries, rng)
    ids = np.arange(1, n_items + 1, dtype=np.int64)
    meta = IndexMeta("cnn", vectors.shape[1], "Flat", "bench")

    t0 = time.perf_counter()
    faiss_index = VectorIndex(meta)
    faiss_index.add(ids, vectors)
    faiss_load = time.perf_counter() - t0

    milvus_index = _milvus_index(ctx, meta)
    ctx.log(f"milvus_agreement: loading {n_items} vectors into milvus-lite")
    t0 = time.perf_counter()
    milvus_index.add(ids, vectors)
    milvus_index.save()
    milvus_load = time.perf_counter() - t0

    agree = []
    for q in queries:
        want = set(faiss_index.search(q[None], 10)[1][0].tolist())
        got = set(milvus_index.search(q[None], 10)[1][0].tolist())
        agree.append(len(want & got) / 10)
    it = iter(range(10**9))

    def one(index: VectorIndex) -> None:
        index.search(queries[next(it) % n_queries][None], 10)

    return MilvusAgreement(
        n_items=n_items,
        n_queries=n_queries,
        dim=int(vectors.shape[1]),
        agreement_at_10=float(np.mean(agree)),
        faiss=Latency.of(time_calls(lambda: one(faiss_index), n_queries)),
        milvus=Latency.of(time_calls(lambda: one(milvus_index), n_queries)),
        load_s={"faiss": faiss_load, "milvus": milvus_load},
    )


def _milvus_index(ctx: BenchContext, meta):  # type: ignore[no-untyped-def]  # returns a MilvusIndex
    import shutil

    from pymilvus import MilvusClient

    from backend.engine.milvus_index import MilvusIndex

    path = ctx.settings.data_dir / "bench-scratch" / "milvus-agreement" / "milvus.db"
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    client = MilvusClient(uri=str(path))
    return MilvusIndex(meta, client, "bench_cnn", timeout=60.0)
