"""Where ingest time goes: per-stage costs measured one by one, and a cProfile of a real ingest.

Two views, because each alone misleads:

* **stage costs** run every stage of ingest serially on the same images (read, decode, SHA-256,
  pHash, media store, preprocessing, ONNX Runtime, colour histogram, catalog rows, index add
  and save) and report milliseconds per image: the CPU bill, independent of how the pipeline
  overlaps stages;
* **cProfile** of an actual ``IngestService.ingest`` shows what the main thread waits on. It
  only sees the main thread: decoding and hashing run in ingest's thread pool and appear as
  time "waiting for the decode pool". Profiling inflates Python-heavy stages, so read its
  shares, not its absolute seconds.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.engine.catalog.store import NewItem
from backend.engine.index import IndexMeta, VectorIndex
from backend.engine.ingest import INGEST_MIN_SIDE
from dataset_tools.images import decode_image


@dataclass(frozen=True)
class StageCost:
    stage: str
    ms_per_image: float
    share: float
    where: str  # the function that does it, so a reader knows what to optimise


@dataclass(frozen=True)
class ProfileRow:
    category: str
    seconds: float
    share: float


def stage_costs(engine: Any, source: Path, n: int, batch: int) -> list[StageCost]:
    """Serial per-image cost of each ingest stage on the first ``n`` images under ``source``."""
    from backend.engine.media import store_media
    from dataset_tools.dedup import content_hash, perceptual_hash

    settings = engine.settings
    files = sorted(p for p in source.rglob("*.jpg"))[:n]
    n = len(files)
    if n == 0:
        return []
    costs: dict[str, float] = {}

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        costs[stage] = costs.get(stage, 0.0) + time.perf_counter() - t0
        return out

    blobs = timed("read file", lambda: [f.read_bytes() for f in files])
    decoded = timed(
        "decode (Pillow)",
        lambda: [decode_image(b, max_pixels=settings.max_pixels, min_side=INGEST_MIN_SIDE) for b in blobs],
    )
    shas = timed("SHA-256", lambda: [content_hash(b) for b in blobs])
    timed("pHash (imagehash)", lambda: [perceptual_hash(d.image) for d in decoded])
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as media_root:
        timed(
            "media store (copy + thumbnail JPEG)",
            lambda: [
                store_media(
                    Path(media_root),
                    1,
                    s,
                    b,
                    d.image,
                    d.format,
                    d.original_size,
                    max_side=settings.media_max_side,
                    thumb_size=settings.thumb_size,
                )
                for s, b, d in zip(shas, blobs, decoded)
            ],
        )
    cnn = engine.descriptors["cnn"]
    model = cnn.model
    spec = model.card.preprocessing
    color = engine.descriptors.get("color")
    cid = engine.catalog.ensure_collection("bench-stage-costs")
    cnn_index = VectorIndex(IndexMeta("cnn", cnn.dim, settings.index_factory, cnn.version))
    color_index = VectorIndex(IndexMeta("color", color.dim, "Flat", color.version)) if color else None
    for i in range(0, n, batch):
        imgs = [d.image for d in decoded[i : i + batch]]
        x = timed("preprocess (resize, crop, normalise)", lambda: spec.to_batch(imgs))
        emb = timed("ONNX Runtime (embedding)", lambda: model.run(x)["embedding"])
        col = timed("colour histogram", lambda: color.describe(imgs)) if color else None
        rows = [
            NewItem(
                source_path=f"stage/{files[j].name}-{j}",
                sha256=shas[j],
                phash=None,
                title=None,
                width=decoded[j].image.width,
                height=decoded[j].image.height,
                format=decoded[j].format,
                media_path=None,
                thumb_path=None,
                labels=(files[j].parent.name,),
            )
            for j in range(i, min(i + batch, n))
        ]
        ids = timed("catalog rows (SQLAlchemy/SQLite)", lambda: engine.catalog.add_items(cid, rows))
        id_arr = np.asarray(ids, np.int64)
        timed(
            "index add (FAISS)",
            lambda: (cnn_index.add(id_arr, emb), color_index.add(id_arr, col) if color_index else None),
        )
        timed("catalog rows (SQLAlchemy/SQLite)", lambda: engine.catalog.set_status(ids, "indexed"))
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as idx_root:
        timed(
            "index save (atomic write + fsync)",
            lambda: (
                cnn_index.save(Path(idx_root) / "cnn.faiss"),
                color_index.save(Path(idx_root) / "color.faiss") if color_index else None,
            ),
        )
    where = {
        "read file": "dataset_tools.readers (SourceRecord.read)",
        "decode (Pillow)": "dataset_tools.images.decode_image",
        "SHA-256": "dataset_tools.dedup.content_hash",
        "pHash (imagehash)": "dataset_tools.dedup.perceptual_hash",
        "media store (copy + thumbnail JPEG)": "engine.media.store_media",
        "preprocess (resize, crop, normalise)": "edge_models.preprocessing.PreprocessSpec.to_batch",
        "ONNX Runtime (embedding)": "edge_models.runtime.OnnxModel.run",
        "colour histogram": "engine.descriptors.ColorDescriptor.describe",
        "catalog rows (SQLAlchemy/SQLite)": "engine.catalog.store.Catalog.add_items / set_status",
        "index add (FAISS)": "engine.index.VectorIndex.add",
        "index save (atomic write + fsync)": "engine.index.VectorIndex.save (once per 2048 items in ingest)",
    }
    total = sum(costs.values())
    return [StageCost(k, v * 1000 / n, v / total if total else 0.0, where.get(k, "")) for k, v in costs.items()]


def _code_key(fn: Callable[..., Any]) -> tuple[str, int, str]:
    code = getattr(fn, "__code__", None) or fn.__func__.__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


def profile_ingest(engine: Any, source: Path, collection: str, limit: int) -> tuple[list[ProfileRow], float, int]:
    """cProfile one ingest; (rows by category, seconds, images)."""
    from backend.engine.catalog.store import Catalog
    from backend.engine.descriptors import ColorDescriptor
    from backend.engine.index_store import IndexStore
    from backend.engine.ingest import IngestService
    from backend.engine.media import store_media
    from dataset_tools.readers import open_source
    from edge_models.preprocessing import PreprocessSpec
    from edge_models.runtime import OnnxModel

    categories: list[tuple[str, list[Callable[..., Any]]]] = [
        ("ONNX Runtime (session.run)", [OnnxModel.run]),
        ("preprocessing (resize, crop, normalise)", [PreprocessSpec.to_batch]),
        ("colour histogram", [ColorDescriptor.describe]),
        ("media store (copy + thumbnail)", [store_media]),
        (
            "catalog (SQLAlchemy/SQLite)",
            [
                Catalog.add_items,
                Catalog.set_status,
                Catalog.source_path_status,
                Catalog.dedup_entries,
                Catalog.get_item,
                Catalog.ensure_collection,
                Catalog.ids_with_status,
            ],
        ),
        ("FAISS index add + save", [VectorIndex.add, IndexStore.save]),
        (
            "waiting for the decode/hash pool (read, decode, SHA-256, pHash in 2 threads)",
            [IngestService._prepared_batches],
        ),
        ("listing the source", [open_source]),
    ]
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    summary = engine.ingest.ingest(source, collection, limit=limit)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats
    rows = []
    covered = 0.0
    for name, fns in categories:
        secs = sum(stats.get(_code_key(f), (0, 0, 0, 0.0))[3] for f in fns)
        covered += secs
        rows.append(ProfileRow(name, secs, secs / wall if wall else 0.0))
    rows.append(
        ProfileRow(
            "everything else (Python glue, dedup lookups, observers)",
            max(0.0, wall - covered),
            max(0.0, wall - covered) / wall if wall else 0.0,
        )
    )
    done = summary.added + summary.exact_duplicates + summary.near_duplicates
    return rows, wall, done
