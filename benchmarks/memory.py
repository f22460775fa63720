"""Figure 3: resident memory of a worker holding 100 000 items, and approximate vs exact search.

Worker memory: a 100 000-item collection (catalog rows + ``cnn`` and ``color`` indexes: every
real embedding at hand — CIFAR-10's, shared with the cifar_map section, and WikiArt's — topped
up with real-ish synthetic vectors, see :mod:`benchmarks.synthetic`) is saved once per index factory, then a
fresh process loads it exactly as a gunicorn worker does and reports ``VmRSS`` after each
step (:mod:`benchmarks.memory_probe`). Reference: the default ``Flat`` factory; the others
(``SQ8``, ``PCA256,Flat``) are set through ``Settings.index_factory`` (the colour index is
always Flat).

ANN vs exact: on the same vectors (100 000; ``--quick`` 20 000) and held-out real queries (the
CIFAR-10 test queries of the cifar_map protocol, which are not in the collection), each faiss
factory is built in this process and compared with exact ``Flat`` search
(the reference, recall 1 by definition): recall@10 against Flat's top 10, median query time
at batch 1 (as the server searches), build time and serialised size.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace

import numpy as np

from .context import BenchContext
from .figures import TargetCheck, fmt_ratio, md_table, miss_by, ratio
from .synthetic import add_synthetic_items, add_vectors, realish_vectors

NAME = "memory"
TITLE = "Worker memory at 100 000 items, and approximate vs exact search"

RSS_TARGET_MB = 1024.0
COLLECTION = "bench-memory"


@dataclass
class WorkerMemory:
    factory: str
    rss_mb: float
    peak_mb: float
    stages: list[dict]
    index_mb: dict[str, float]


@dataclass
class AnnRow:
    factory: str
    params: str
    build_s: float
    size_mb: float
    query_ms_p50: float
    recall_at_10: float


@dataclass
class MemoryResult:
    items: int
    vector_source: str
    workers: list[WorkerMemory]
    ann_items: int
    ann_queries: int
    ann: list[AnnRow]
    ann_query_source: str = ""
    notes: list[str] = field(default_factory=list)

    def _flat(self) -> WorkerMemory | None:
        return next((w for w in self.workers if w.factory == "Flat"), None)

    def headline(self) -> str:
        flat = self._flat()
        parts = [f"{w.factory} {w.rss_mb:.0f} MB" for w in self.workers]
        s = f"worker RSS at {self.items} items: " + ", ".join(parts)
        if flat:
            others = [f"{w.factory} {fmt_ratio(ratio(w.rss_mb, flat.rss_mb))}" for w in self.workers if w is not flat]
            if others:
                s += " (vs Flat: " + ", ".join(others) + ")"
        return s

    def targets(self) -> list[TargetCheck]:
        out = []
        for w in self.workers:
            out.append(
                TargetCheck(
                    f"worker RSS, {self.items} items, index `{w.factory}`",
                    f"< {RSS_TARGET_MB:.0f} MB",
                    f"{w.rss_mb:.0f} MB (peak {w.peak_mb:.0f})",
                    w.rss_mb < RSS_TARGET_MB,
                    miss_by(w.rss_mb, RSS_TARGET_MB, higher_is_better=False),
                )
            )
        return out

    def markdown(self) -> str:
        flat = self._flat()
        rows = []
        for w in self.workers:
            rows.append(
                [
                    f"`{w.factory}`",
                    f"{w.rss_mb:.0f}",
                    f"{w.peak_mb:.0f}",
                    f"{w.index_mb.get('cnn', float('nan')):.0f} + {w.index_mb.get('color', float('nan')):.0f}",
                    fmt_ratio(ratio(w.rss_mb, flat.rss_mb)) if flat else "n/a",
                    "yes"
                    if w.rss_mb < RSS_TARGET_MB
                    else f"**no** ({miss_by(w.rss_mb, RSS_TARGET_MB, higher_is_better=False)})",
                ]
            )
        out = [
            f"{self.items} items ({self.vector_source}); each factory's collection is loaded by a fresh process the way a "
            "gunicorn worker loads it (create_app → warm_up → indexes on first search → 5 searches); VmRSS from "
            "/proc/self/status.",
            "",
            md_table(
                ["index factory (cnn)", "RSS MB", "peak MB", "cnn + color index files MB", "vs Flat", "< 1 GB?"], rows
            ),
        ]
        if flat:
            steps = []
            prev = 0.0
            for s in flat.stages:
                steps.append([s["stage"], f"{s['rss_mb']:.0f}", f"+{s['rss_mb'] - prev:.0f}", f"{s['seconds']:.1f}"])
                prev = s["rss_mb"]
            out += [
                "",
                "Where a `Flat` worker's memory goes:",
                "",
                md_table(["step", "RSS MB", "added MB", "seconds"], steps),
            ]
        if self.ann:
            ref = next((r for r in self.ann if r.factory == "Flat"), None)
            rows = [
                [
                    f"`{r.factory}`",
                    r.params,
                    f"{r.recall_at_10:.3f}",
                    f"{r.query_ms_p50:.2f}",
                    fmt_ratio(ratio(r.query_ms_p50, ref.query_ms_p50)) if ref else "n/a",
                    f"{r.size_mb:.0f}",
                    f"{r.build_s:.1f}",
                ]
                for r in self.ann
            ]
            out += [
                "",
                f"Approximate vs exact on the first {self.ann_items} of those vectors, {self.ann_query_source}, "
                "batch 1 on **one** OpenMP thread (raw faiss indexes, inner product, as the engine builds them before the id "
                "map; builds use every core):",
                "",
                md_table(
                    [
                        "factory",
                        "search parameter",
                        "recall@10 vs Flat",
                        "ms / query (p50)",
                        "time vs Flat",
                        "size MB",
                        "build s",
                    ],
                    rows,
                ),
            ]
        out += [f"\n> {n}" for n in self.notes]
        return "\n".join(out)


@dataclass
class _Vectors:
    real: dict[str, np.ndarray]  # real embeddings, used as they are and as bases for the synthetic rest
    queries: np.ndarray | None  # real held-out query embeddings (CIFAR test queries), when available
    labels: list[str]
    source: str


def _real_vectors(ctx: BenchContext) -> _Vectors:
    """Every real embedding at hand: CIFAR-10 (the cifar_map database, cached and shared with that
    section) and WikiArt; generated paintings only when neither data set is present."""
    from .cifar_map import split

    cnn, col, what = [], [], []
    labels: list[str] = []
    queries = None
    data = ctx.cifar()
    if data is not None:
        q, db = split(*data, ctx.quick)
        cnn.append(ctx.describe(db, ctx.cnn))
        col.append(ctx.describe(db, ctx.color))
        queries = ctx.describe(q, ctx.cnn)
        labels += db.class_names
        what.append(f"{len(db)} CIFAR-10 embeddings")
    art = ctx.wikiart()
    if art is not None:
        cnn.append(ctx.describe(art, ctx.cnn))
        col.append(ctx.describe(art, ctx.color))
        labels += art.class_names
        what.append(f"{len(art)} WikiArt embeddings")
    if not cnn:
        imgs = ctx.catalogue_images(400)
        cnn.append(ctx.describe(imgs, ctx.cnn))
        col.append(ctx.describe(imgs, ctx.color))
        labels += imgs.class_names
        what.append(f"{len(imgs)} embeddings of generated paintings (no shared data sets)")
    return _Vectors({"cnn": np.concatenate(cnn), "color": np.concatenate(col)}, queries, labels, " + ".join(what))


def _collection_vectors(real: _Vectors, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` rows: the real embeddings plus real-ish synthetic ones around them, shuffled together."""
    n_real = min(n, len(real.real["cnn"]))
    order = rng.permutation(n)
    out = {}
    for name, base in real.real.items():
        synth = realish_vectors(base, n - n_real, rng, nonnegative=(name == "color"))
        out[name] = np.concatenate([base[:n_real], synth])[order]
    return out


def _catalog(ctx: BenchContext, n: int, labels: list[str]):
    """A scratch catalog with ``n`` indexed rows, reused across runs (building it takes a while)."""
    from backend.engine.services import Engine

    st = ctx.scratch(f"memory-catalog-{n}", keep=True)
    marker = st.data_dir / ".complete"
    if not marker.exists():
        st = ctx.scratch(f"memory-catalog-{n}")
        eng = Engine.open(st)
        from tqdm import tqdm

        bar = tqdm(total=n, desc="memory: catalog rows", unit="row", file=sys.stderr, leave=False, dynamic_ncols=True)
        ids = add_synthetic_items(eng, COLLECTION, {}, labels=labels, progress=bar.update, count=n)
        bar.close()
        eng.close()
        marker.write_text(f"{len(ids)}\n")
    eng = Engine.open(st)
    cid = eng.catalog.collection_id(COLLECTION)
    ids = np.asarray(eng.catalog.ids_with_status(cid, "indexed"), np.int64)
    eng.close()
    return st, cid, ids


def _probe(ctx: BenchContext, settings, factory: str) -> WorkerMemory:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.memory_probe",
        "--data-dir",
        str(settings.data_dir),
        "--database-url",
        settings.database_url,
        "--index-factory",
        factory,
        "--collection",
        COLLECTION,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe for {factory!r} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return WorkerMemory(
        factory=factory,
        rss_mb=data["rss_mb"],
        peak_mb=data["peak_mb"],
        stages=data["stages"],
        index_mb={k: v["file_mb"] for k, v in data["indexes"].items()},
    )


def _ann(ctx: BenchContext, db: np.ndarray, queries: np.ndarray) -> list[AnnRow]:
    import faiss

    threads = faiss.omp_get_max_threads()
    try:
        return _ann_rows(ctx, db, queries)
    finally:
        faiss.omp_set_num_threads(threads)


def _ann_rows(ctx: BenchContext, db: np.ndarray, queries: np.ndarray) -> list[AnnRow]:
    import faiss

    n, d = db.shape
    rows: list[AnnRow] = []

    def timed_queries(index) -> tuple[float, np.ndarray]:
        index.search(queries[:5], 10)  # warm-up
        ts, found = [], np.zeros((len(queries), 10), np.int64)
        for i in range(len(queries)):
            t0 = time.perf_counter()
            _, ids = index.search(queries[i : i + 1], 10)
            ts.append((time.perf_counter() - t0) * 1000)
            found[i] = ids[0]
        return float(np.median(ts)), found

    def build(factory: str, train: np.ndarray | None = None):
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(default_threads)  # building uses every core; queries are timed on one
        t0 = time.perf_counter()
        index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            index.train(train if train is not None else db)
        index.add(db)
        took = time.perf_counter() - t0
        faiss.omp_set_num_threads(threads)
        return index, took

    def size_mb(index) -> float:
        return faiss.serialize_index(index).nbytes / 2**20

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(f) & set(g)) / 10 for f, g in zip(found, gt)]))

    ctx.log(f"memory/ann: exact Flat over {n} vectors")
    default_threads = faiss.omp_get_max_threads()
    flat, bt = build("Flat")
    ms_default, gt = timed_queries(flat)
    faiss.omp_set_num_threads(1)  # batch-1 queries: see the note on OpenMP threads
    ms, gt = timed_queries(flat)
    rows.append(AnnRow("Flat", "exact (reference)", bt, size_mb(flat), ms, 1.0))
    rows.append(
        AnnRow("Flat", f"exact, faiss default {default_threads} OpenMP threads", bt, size_mb(flat), ms_default, 1.0)
    )
    del flat
    specs = ["SQ8"] if ctx.quick else ["SQ8", "PCA256,Flat"]
    for f in specs:
        ctx.log(f"memory/ann: {f}")
        idx, bt = build(f)
        ms, found = timed_queries(idx)
        rows.append(AnnRow(f, "–", bt, size_mb(idx), ms, recall(found)))
        del idx
    ctx.log("memory/ann: HNSW32")
    idx, bt = build("HNSW32")
    sz = size_mb(idx)
    for ef in (16, 64, 128):
        faiss.ParameterSpace().set_index_parameter(idx, "efSearch", ef)
        ms, found = timed_queries(idx)
        rows.append(
            AnnRow("HNSW32", f"efSearch {ef}" + (" (faiss default)" if ef == 16 else ""), bt, sz, ms, recall(found))
        )
    del idx
    nlist = 1024 if n >= 60_000 else 256
    ctx.log(f"memory/ann: IVF{nlist},Flat")
    rng = np.random.default_rng(0)
    train = db[rng.permutation(n)[: min(n, 50 * nlist)]]
    idx, bt = build(f"IVF{nlist},Flat", train)
    sz = size_mb(idx)
    for nprobe in (8, 32):
        faiss.ParameterSpace().set_index_parameter(idx, "nprobe", nprobe)
        ms, found = timed_queries(idx)
        rows.append(AnnRow(f"IVF{nlist},Flat", f"nprobe {nprobe}", bt, sz, ms, recall(found)))
    del idx
    faiss.omp_set_num_threads(default_threads)
    return rows


def run(ctx: BenchContext) -> MemoryResult:
    from backend.engine.index_store import IndexStore

    n = 100_000
    real = _real_vectors(ctx)
    rng = np.random.default_rng(ctx.seed + 10)
    n_real = min(n, len(real.real["cnn"]))
    source = f"{n_real} real embeddings ({real.source}) + {n - n_real} real-ish synthetic vectors around them"
    ctx.log(f"memory: {source}")
    vecs = _collection_vectors(real, n, rng)
    cat, cid, ids = _catalog(ctx, n, sorted(set(real.labels)))
    factories = ["Flat", "SQ8"] if ctx.quick else ["Flat", "SQ8", "PCA256,Flat"]
    workers = []
    from backend.engine.descriptors import build_descriptors

    for factory in factories:
        slug = factory.replace(",", "-").lower()
        st = replace(ctx.scratch(f"memory-{slug}"), index_factory=factory, database_url=cat.database_url)
        ctx.log(f"memory: saving {factory} indexes, then loading them in a fresh worker-like process")
        store = IndexStore(st.index_dir, build_descriptors(st.models_dir), factory)
        add_vectors(store, cid, ids, {k: v[: len(ids)] for k, v in vecs.items()})
        del store
        workers.append(_probe(ctx, st, factory))
        ctx.log(f"memory: {factory}: RSS {workers[-1].rss_mb:.0f} MB")
        shutil.rmtree(st.data_dir / "indexes", ignore_errors=True)  # hundreds of MB each

    n_ann = 20_000 if ctx.quick else n
    nq = 200 if ctx.quick else 1000
    if real.queries is not None:
        queries, qsource = real.queries[:nq], f"{min(nq, len(real.queries))} real held-out CIFAR-10 test queries"
    else:
        queries = realish_vectors(real.real["cnn"], nq, np.random.default_rng(ctx.seed + 11))
        qsource = f"{nq} real-ish queries (fresh noise around the real embeddings)"
    ann = _ann(ctx, vecs["cnn"][:n_ann], np.ascontiguousarray(queries, np.float32))
    notes = [
        "The synthetic part is real-ish (a real embedding mixed with another and Gaussian noise, re-normalised); recall "
        "on a fully real 100k collection can differ, the ranking of the factories should not.",
        "Catalog rows live in SQLite on disk and cost the worker almost no resident memory; the indexes and the "
        "libraries (torch, ONNX Runtime, OpenCV, faiss) are what count.",
    ]
    if real.queries is None:
        notes.append(
            "Without CIFAR-10 the vectors are copies-with-noise of a few thousand real embeddings, so their "
            "nearest neighbours are unusually easy to find: approximate-index recall here is optimistic."
        )
    return MemoryResult(
        items=len(ids),
        vector_source=source,
        workers=workers,
        ann_items=n_ann,
        ann_queries=len(queries),
        ann=ann,
        ann_query_source=qsource,
        notes=notes,
    )
