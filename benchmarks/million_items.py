"""A million items on one machine: build, cold start, worker memory, latency and recall per index kind.

Protocol: a collection of ``n`` real-ish 1 280-d embeddings (:mod:`.million_vectors`: real
embeddings expanded by a stated perturbation model; 1 000 000 items, ``--quick`` 50 000) is
built into each index kind through the engine's own index classes (what ingest and
``reindex`` use), in chunks of 50 000, and saved. Each saved index is then opened by a fresh
worker process (:mod:`.million_probe`) after its files were evicted from the page cache, so
the start is cold: memory-mapped as workers open it, faiss on one thread, one query at a time.

Per kind and search setting: build time (adds, training and save; generating the vectors is
not counted), cold start (open + first query), p50/p99 per query, the worker's resident
memory, bytes per item (resident: codes + ids + id map; on disk: every file), and recall@10
against exact search of the same vectors, computed by brute force over all items. Binary
kinds index the 64-bit codes of a CSQ head (``edge_models.code_head``, trained on the seeds'
labels with the similarity term); their recall is given against exact Hamming search (what
the index approximates; tie-aware, as thousands of items share a distance) and against
exact float search (what the code approximates).

Reference in the same run: ``Flat``, today's default (exact, the whole float matrix).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .context import BenchContext
from .figures import TargetCheck, fmt_ratio, md_table, miss_by, ratio
from .million_vectors import CHUNK, VectorModel, exact_neighbours, recall_at_k

NAME = "million_items"
TITLE = "A million items on one machine: index build, cold start, memory, latency, recall"

K = 10
CODE_BITS = 64
P99_LIMIT_MS, RECALL_FLOOR, BYTES_LIMIT, RSS_LIMIT_MB, COLD_LIMIT_S = 3.0, 0.95, 256, 1024, 5.0


def sizes(quick: bool) -> tuple[int, int]:
    """(items, queries): the issue's million, or the ``--quick`` size for CI."""
    return (50_000, 200) if quick else (1_000_000, 1000)


def kinds(n: int) -> list[tuple[str, bool, list[str]]]:
    """(factory, binary, search settings) to measure; lists scale with the collection (≈ √n)."""
    nlist = 1024 if n >= 500_000 else 256
    return [
        ("Flat", False, [""]),
        (
            f"IVF{nlist},PQ64x4fs,RFlat",
            False,
            [f"nprobe={p},k_factor_rf={f}" for p, f in ((16, 8), (16, 32), (32, 32), (32, 64))],
        ),
        ("BFlat", True, [""]),
        (f"BIVF{nlist}", True, [f"nprobe={p}" for p in (8, 32, 128)]),
        ("BHNSW32", True, [f"efSearch={e}" for e in (16, 64)]),
    ]


@dataclass
class KindFigures:
    factory: str
    params: str
    binary: bool
    build_s: float
    open_s: float
    cold_start_s: float
    p50_ms: float
    p99_ms: float
    rss_mb: float
    rss_file_mb: float
    resident_bytes_per_item: float
    disk_bytes_per_item: float
    recall: float
    recall_vs_float: float

    @property
    def label(self) -> str:
        return self.factory + (f" ({self.params})" if self.params else "")


@dataclass
class MillionResult:
    n: int
    n_seeds: int
    seeds_from: str
    n_queries: int
    quick: bool
    figures: list[KindFigures]
    seed_share: float
    notes: list[str] = field(default_factory=list)

    def reference(self) -> KindFigures | None:
        return next((f for f in self.figures if f.factory == "Flat"), None)

    def best_float_ann(self) -> KindFigures | None:
        ok = [f for f in self.figures if not f.binary and f.factory != "Flat" and f.recall >= RECALL_FLOOR]
        return min(ok, key=lambda f: f.p99_ms, default=None)

    def headline(self) -> str:
        best, ref = self.best_float_ann(), self.reference()
        if best is None or ref is None:
            return f"{self.n} items: no approximate index reached recall@{K} {RECALL_FLOOR}"
        return (
            f"{self.n} items: {best.label} p99 {best.p99_ms:.2f} ms at recall@{K} {best.recall:.3f} "
            f"({fmt_ratio(ratio(ref.p99_ms, best.p99_ms))} faster than Flat), "
            f"{best.resident_bytes_per_item:.0f} B/item resident vs {ref.resident_bytes_per_item:.0f}"
        )

    def targets(self) -> list[TargetCheck]:
        best = self.best_float_ann()
        scope = f"{self.n} items" + (" (quick size; the target is for 1 000 000)" if self.quick else "")
        if best is None:
            return [TargetCheck(f"{scope}: p99 at recall@{K} ≥ {RECALL_FLOOR}", f"≤ {P99_LIMIT_MS} ms", "none", False)]
        met = None if self.quick else True

        def check(name: str, limit: str, value: float, bound: float, unit: str) -> TargetCheck:
            ok = value <= bound
            return TargetCheck(
                f"{scope}, {best.label}: {name}",
                limit,
                f"{value:.2f} {unit}",
                None if met is None else ok,
                miss_by(value, bound, higher_is_better=False),
            )

        return [
            check(
                f"p99 per query at recall@{K} {best.recall:.3f}",
                f"≤ {P99_LIMIT_MS} ms",
                best.p99_ms,
                P99_LIMIT_MS,
                "ms",
            ),
            check(
                "bytes per item resident, ids included",
                f"≤ {BYTES_LIMIT}",
                best.resident_bytes_per_item,
                BYTES_LIMIT,
                "B",
            ),
            check("worker RSS", f"≤ {RSS_LIMIT_MB} MB", best.rss_mb, RSS_LIMIT_MB, "MB"),
            check("cold start (mmap, open + first query)", f"≤ {COLD_LIMIT_S} s", best.cold_start_s, COLD_LIMIT_S, "s"),
        ]

    def markdown(self) -> str:
        ref = self.reference()
        rows = []
        for f in self.figures:
            rows.append(
                [
                    f.label,
                    f"{f.build_s:.1f}",
                    f"{f.cold_start_s:.2f}",
                    f"{f.p50_ms:.2f}",
                    f"{f.p99_ms:.2f}",
                    fmt_ratio(ratio(ref.p99_ms, f.p99_ms)) if ref else "n/a",
                    f"{f.rss_mb:.0f} ({f.rss_file_mb:.0f} mapped file)",
                    f"{f.resident_bytes_per_item:.0f}",
                    f"{f.disk_bytes_per_item:.0f}",
                    f"{f.recall:.3f}" + (" (vs exact Hamming)" if f.binary else ""),
                    f"{f.recall_vs_float:.3f}",
                ]
            )
        return "\n".join(
            [
                f"{self.n:,} items of 1 280 dimensions generated from {self.n_seeds:,} real embeddings "
                f"({self.seeds_from}); {self.n_queries} queries; recall@{K} against exact search by brute force. "
                f"Perturbation model: item = normalise(seed_i + w·(seed_j − seed_i) + 0.5·g/√1280), w ~ U(0, 0.3), "
                f"g ~ N(0, I) (`benchmarks/million_vectors.py`); an item made from a seed has that seed as its "
                f"nearest seed in {self.seed_share:.0%} of cases (without the mixing term).",
                "",
                md_table(
                    [
                        "index (search setting)",
                        "build s",
                        "cold start s",
                        "p50 ms",
                        "p99 ms",
                        "Flat p99 ÷ this",
                        "worker RSS MB",
                        "B/item resident",
                        "B/item on disk",
                        f"recall@{K}",
                        f"recall@{K} vs exact float",
                    ],
                    rows,
                ),
                "",
                "Build: adds in chunks of 50 000 (training on the first chunk) + atomic save. Cold start: a fresh "
                "process after the index files were evicted from the page cache (`posix_fadvise DONTNEED`), "
                "memory-mapped open + the first query. Worker RSS after all queries; the mapped-file share is "
                "pages of the index file the kernel can drop and re-read. B/item resident: codes + 8-byte id + "
                "the id → position map, and a re-ranked index's float store's ids, id map and row map (the "
                "worker's `memory_bytes()`); on disk: every file of the index, "
                "including a re-ranked index's float store, which workers map and page in a few vectors per "
                "query.",
            ]
            + [f"\n> {n}" for n in self.notes]
        )


def _seeds(ctx: BenchContext) -> tuple[np.ndarray, np.ndarray, str]:
    data = ctx.cifar()
    if data is not None:
        from .cifar_map import split

        _, database = split(*data, ctx.quick)
        vecs = ctx.describe(database, ctx.cnn)
        return (
            vecs,
            database.labels,
            f"EfficientNet-Lite0 embeddings of the CIFAR-10 section's {len(database)} database images",
        )
    images = ctx.catalogue_images(1000 if ctx.quick else 3500)
    return (
        ctx.describe(images, ctx.cnn),
        images.labels,
        f"EfficientNet-Lite0 embeddings of {len(images)} catalogue images",
    )


def evict_from_page_cache(paths: list[Path]) -> None:
    """Drop the files' pages from the page cache (no privileges needed), for a cold start."""
    for p in paths:
        if p.exists():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _probe(path: Path, meta: dict[str, object], queries: Path, out: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "benchmarks.million_probe", str(path), json.dumps(meta), str(queries), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env)
    if proc.returncode:
        raise RuntimeError(f"million_probe failed for {meta['factory']}: {proc.stderr.strip()[-800:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _code_head(ctx: BenchContext, seeds: np.ndarray, labels: np.ndarray):  # type: ignore[no-untyped-def]  # returns a torch module; torch is imported lazily
    from edge_models.code_head import CodeFitOptions, fit_code_head

    rng = np.random.default_rng(ctx.seed)
    val = rng.permutation(len(seeds))[: min(1000, len(seeds) // 10)]
    options = CodeFitOptions(epochs=8 if ctx.quick else 20, similarity_weight=1.0, seed=ctx.seed)
    head, _ = fit_code_head(
        seeds, labels, seeds[val], labels[val], bits=CODE_BITS, n_classes=int(labels.max()) + 1, options=options
    )
    return head


def run(ctx: BenchContext) -> MillionResult:
    import faiss

    from backend.engine.binary_index import to_unit_codes
    from backend.engine.index import IndexMeta
    from backend.engine.index_kinds import new_index
    from edge_models.code_head import head_outputs

    n, n_queries = sizes(ctx.quick)
    seeds, labels, seeds_from = _seeds(ctx)
    model = VectorModel(seeds.astype(np.float32), labels, n, seed=ctx.seed)
    ctx.log(f"million: {n} items from {len(seeds)} seeds; exact neighbours of {n_queries} queries")
    queries = model.queries(n_queries)
    truth, _ = exact_neighbours(model, queries, K)

    ctx.log("million: training the 64-bit code head and coding every item")
    head = _code_head(ctx, model.seeds, labels)
    q_codes = head_outputs(head, queries, method="csq")
    packed = np.concatenate([np.packbits(head_outputs(head, v, method="csq") > 0, axis=1) for _, v in model.chunks()])

    def code_chunks():  # type: ignore[no-untyped-def]  # a generator of (ids, unit codes)
        for s in range(0, n, CHUNK):
            e = min(n, s + CHUNK)
            yield np.arange(s + 1, e + 1, dtype=np.int64), to_unit_codes(np.unpackbits(packed[s:e], axis=1))

    q_packed = np.packbits(q_codes > 0, axis=1)
    kth_hamming = _kth_hamming(packed, q_packed)
    root = ctx.scratch(NAME).data_dir
    figures: list[KindFigures] = []
    threads = faiss.omp_get_max_threads()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        for factory, binary, settings in kinds(n):
            meta = IndexMeta("code" if binary else "cnn", CODE_BITS if binary else model.dim, factory, "bench")
            idx = new_index(meta)
            ctx.log(f"million: building {factory}")
            build = 0.0
            for ids, vecs in code_chunks() if binary else model.chunks():
                t0 = time.perf_counter()
                idx.add(ids, vecs)
                build += time.perf_counter() - t0
            path = Path(tmp) / f"{meta.descriptor}-{len(figures)}.faiss"
            t0 = time.perf_counter()
            idx.save(path)
            build += time.perf_counter() - t0
            resident = idx.memory_bytes() / n
            files = idx.files(path)
            disk = sum(p.stat().st_size for p in files if p.exists()) / n
            del idx
            qfile = Path(tmp) / "queries.npy"
            qs = q_codes if binary else queries
            limit = 200 if factory == "Flat" and n > 100_000 else len(qs)
            np.save(qfile, np.ascontiguousarray(qs[:limit], np.float32))
            for params in settings:
                evict_from_page_cache(files)
                out = Path(tmp) / "found.npy"
                got = _probe(path, {**meta.to_dict(), "params": params}, qfile, out)
                found = np.load(out)
                ms = np.asarray(got["ms"], np.float64)
                rss = dict(got["rss_mb"])  # type: ignore[call-overload]  # JSON object from the probe
                fig = KindFigures(
                    factory=factory,
                    params=params,
                    binary=binary,
                    build_s=build,
                    open_s=float(got["open_s"]),  # type: ignore[arg-type]  # JSON number
                    cold_start_s=float(got["first_query_s"]),  # type: ignore[arg-type]  # JSON number
                    p50_ms=float(np.percentile(ms, 50)),
                    p99_ms=float(np.percentile(ms, 99)),
                    rss_mb=float(rss.get("VmRSS", float("nan"))),
                    rss_file_mb=float(rss.get("RssFile", float("nan"))),
                    # the reader's own count when it gives one (a mapped store's row map is a reader's)
                    resident_bytes_per_item=float(got.get("memory_bytes", resident * n)) / n,  # type: ignore[arg-type]  # JSON number
                    disk_bytes_per_item=disk,
                    recall=_hamming_recall(found, packed, q_packed[:limit], kth_hamming[:limit])
                    if binary
                    else recall_at_k(found, truth[:limit], K),
                    recall_vs_float=recall_at_k(found, truth[:limit], K),
                )
                ctx.log(
                    f"million: {fig.label}: p99 {fig.p99_ms:.2f} ms, recall {fig.recall:.3f}, cold {fig.cold_start_s:.2f} s"
                )
                figures.append(fig)
    faiss.omp_set_num_threads(threads)
    notes = []
    if ctx.quick:
        notes.append(
            f"quick size ({n} items): the targets are for 1 000 000; run without --quick for the figures of record"
        )
    notes.append(
        "Recall of binary kinds vs exact float search is what 64 bits keep of the float neighbours of a near-copy "
        "collection: low by nature (codes keep classes, not fine detail); for recognising one artwork the engine "
        "re-scores a code shortlist with floats or verifies it with local features."
    )
    return MillionResult(
        n=n,
        n_seeds=len(seeds),
        seeds_from=seeds_from,
        n_queries=n_queries,
        quick=ctx.quick,
        figures=figures,
        seed_share=model.seed_neighbour_share(),
        notes=notes,
    )


def _kth_hamming(packed: np.ndarray, q_packed: np.ndarray) -> np.ndarray:
    """Each query's exact K-th smallest Hamming distance over the collection (faiss, exhaustive)."""
    import faiss

    flat = faiss.IndexBinaryFlat(packed.shape[1] * 8)
    flat.add(packed)
    dist, ids = flat.search(q_packed, K)
    return np.where(ids >= 0, dist, -1).max(axis=1).astype(np.int64)  # fewer than K items: the farthest


def _hamming_recall(found: np.ndarray, packed: np.ndarray, q_packed: np.ndarray, kth: np.ndarray) -> float:
    """Recall@K counting ties: a result is right when it is no farther than the exact K-th.

    Codes of a large collection tie by the thousand (every item of a class near its centre), so
    *which* K of the tied items exact search returns is arbitrary; id overlap would call a perfect
    index wrong.
    """
    ok = 0
    for row, ids in enumerate(found):
        ids = ids[ids > 0]
        d = np.unpackbits(packed[ids - 1] ^ q_packed[row], axis=1).sum(1)
        ok += int((d <= kth[row]).sum())
    return ok / (K * len(found)) if len(found) else float("nan")
