"""Ingest time per image with every descriptor against today's, interleaved in one process.

*All descriptors*: ``cnn``, ``color``, ``style`` and ``artstyle`` (a trained style model), the
graph with its style outputs, as a server with an active style model ingests. *Today's*: the
same graph with its style outputs cut away (``onnx.utils.extract_model`` keeps only the nodes
``embedding`` and ``logits`` need: the graph before the style descriptors) and only ``cnn`` and
``color``. Both are real :class:`IngestService` runs (decode, hashes, media and thumbnails,
local features, catalog rows, indexes written to disk) into their own scratch data folders,
on the same images in the same rounds, the order alternating each round, so the machine's
load falls on both alike.

Both runs hold numpy's BLAS threads as shipped (OpenBLAS: one per core). The section also
repeats the measurement with ``OPENBLAS_NUM_THREADS=1``: the ``artstyle`` projection is a
numpy matrix product, and OpenBLAS's threads (which spin a while after each product) compete
with ONNX Runtime's for the same cores; the second figure shows what that costs.

The rounds run in a child process (``python -m benchmarks.style_ingest SPEC.json``), as
``artsnap ingest`` runs: one that never imported torch. In the bench's own process torch has
trained the style model, and its thread pool slows numpy's matrix products (the ``artstyle``
projection) for a while afterwards, which no server or ingest would see.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.config import Settings
from backend.engine.catalog.store import Catalog
from backend.engine.descriptors import BackboneRunner, CnnDescriptor, ColorDescriptor, Descriptor, build_descriptors
from backend.engine.ingest import IngestService
from backend.engine.recognition import FeatureStore
from backend.engine.services import build_index_store
from edge_models.embedding_model import ensure_embedding_model
from edge_models.model_card import ModelCard
from edge_models.runtime import OnnxModel
from edge_models.style_model import StyleModel, load_style_model

#: The outputs the embedding graph had before the style descriptors.
TODAYS_OUTPUTS = ("embedding", "logits")


@dataclass
class IngestCost:
    """Milliseconds per image of each round (all descriptors, today's), same images per round."""

    n_images: int
    all_ms: list[float]
    today_ms: list[float]
    descriptors: list[str]

    @property
    def ratio(self) -> float:
        """Median over rounds of (all descriptors / today's): each round's pair ran back to back
        on the same images, so a burst of load from elsewhere spoils one pair, not the figure."""
        ratios = self.round_ratios()
        return float(np.median(ratios)) if ratios else float("nan")

    @property
    def total_ratio(self) -> float:
        """Total time with all descriptors over total time today (rounds hold equal images)."""
        return float(sum(self.all_ms) / sum(self.today_ms)) if self.today_ms and sum(self.today_ms) else float("nan")

    def round_ratios(self) -> list[float]:
        return [a / t for a, t in zip(self.all_ms, self.today_ms) if t]


class _TodaysBackbone(BackboneRunner):
    """The embedding graph without its style outputs, loaded from ``path``."""

    def __init__(self, models_dir: Path, path: Path, card: ModelCard, threads: int) -> None:
        super().__init__(models_dir, threads=threads)
        self._model = OnnxModel.load(path, card, threads=threads)


def todays_graph(models_dir: Path, out: Path) -> tuple[Path, ModelCard]:
    """The served graph cut down to :data:`TODAYS_OUTPUTS`, written to ``out``."""
    import onnx.utils

    path, card = ensure_embedding_model(models_dir)
    onnx.utils.extract_model(str(path), str(out), ["image"], list(TODAYS_OUTPUTS))
    return out, card


def _service(settings: Settings, descriptors: dict[str, Descriptor]) -> IngestService:
    catalog = Catalog(settings.database_url)
    store = build_index_store(settings, descriptors, catalog)
    return IngestService(settings, catalog, descriptors, store, features=FeatureStore(settings.index_dir))


def _round_folder(root: Path, source: Path, keys: Sequence[str]) -> Path:
    root.mkdir(parents=True)
    for key in keys:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / key, root / key)
    return root


def measure_ingest(
    today: Settings,
    everything: Settings,
    style_model: StyleModel,
    source: Path,
    keys: Sequence[str],
    warmup: Sequence[str],
    *,
    rounds: int,
    work: Path,
    collection: str = "art",
    log: Any = print,
) -> IngestCost:
    """Ingest ``keys`` (paths under ``source``) in ``rounds`` rounds into both data folders.

    ``warmup`` images go first into a collection of their own in each (sessions loaded,
    caches warm) and are not timed. ``everything`` keeps the collection, all descriptors indexed.
    """
    threads = today.threads
    work.mkdir(parents=True, exist_ok=True)
    graph, card = todays_graph(today.models_dir, work / "todays-graph.onnx")
    services = {
        "today": _service(
            today,
            {
                "cnn": CnnDescriptor(
                    today.models_dir, backbone=_TodaysBackbone(today.models_dir, graph, card, threads)
                ),
                "color": ColorDescriptor(),
            },
        ),
        "all": _service(everything, build_descriptors(everything.models_dir, threads=threads, style_model=style_model)),
    }
    warm = _round_folder(work / "warmup", source, warmup)
    for service in services.values():
        service.ingest(warm, "warmup")
    times: dict[str, list[float]] = {"today": [], "all": []}
    chunks = [list(c) for c in np.array_split(np.asarray(keys, dtype=object), rounds) if len(c)]
    for r, chunk in enumerate(chunks):
        folder = _round_folder(work / f"round-{r}", source, chunk)
        for name in ("today", "all") if r % 2 == 0 else ("all", "today"):
            t0 = time.perf_counter()
            summary = services[name].ingest(folder, collection)
            elapsed = time.perf_counter() - t0
            if summary.failed:
                raise RuntimeError(f"ingest ({name}) failed on {len(summary.failed)} of {len(chunk)} images")
            times[name].append(elapsed * 1000 / len(chunk))
        log(f"ingest round {r + 1}/{len(chunks)}: today {times['today'][-1]:.1f}, all {times['all'][-1]:.1f} ms/image")
    names = sorted(services["all"].descriptors)
    for service in services.values():
        service.catalog.close()
    return IngestCost(sum(len(c) for c in chunks), times["all"], times["today"], names)


def measure_ingest_in_child(
    today: Settings,
    everything: Settings,
    style_model_dir: Path,
    source: Path,
    keys: Sequence[str],
    warmup: Sequence[str],
    *,
    rounds: int,
    work: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 3600,
) -> IngestCost:
    """:func:`measure_ingest` in a fresh process (see the module docstring) with ``env`` added
    to its environment; its progress lines pass through to this process's stderr."""
    work.mkdir(parents=True, exist_ok=True)
    spec = {
        "today": str(today.data_dir),
        "all": str(everything.data_dir),
        "threads": today.threads,
        "style_model": str(style_model_dir),
        "source": str(source),
        "keys": list(keys),
        "warmup": list(warmup),
        "rounds": rounds,
        "work": str(work),
    }
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "benchmarks.style_ingest", str(spec_path)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout_s, env=env)
    if proc.returncode:
        raise RuntimeError(f"benchmarks.style_ingest failed (exit {proc.returncode}); its stderr is above")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return IngestCost(data["n_images"], data["all_ms"], data["today_ms"], data["descriptors"])


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())

    def settings(data_dir: str) -> Settings:
        return Settings(data_dir=Path(data_dir), threads=int(spec["threads"]))

    cost = measure_ingest(
        settings(spec["today"]),
        settings(spec["all"]),
        load_style_model(Path(spec["style_model"])),
        Path(spec["source"]),
        spec["keys"],
        spec["warmup"],
        rounds=int(spec["rounds"]),
        work=Path(spec["work"]),
        log=lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True),
    )
    print(json.dumps(dataclasses.asdict(cost)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
