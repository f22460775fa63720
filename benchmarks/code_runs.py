"""Train retrieval-code heads on cached CIFAR-10 embeddings and score them, for the code sections.

The heads are the product's own (:func:`edge_models.code_head.fit_code_head`, what ``artsnap
train-codes`` runs) on the frozen embedding the engine computes at ingest (the benchmark's
embedding cache), so the figures are those of a collection searched with the ``code``
descriptor. What differs from the CLI is only where the features come from: the CLI reads
labelled folders, here the CIFAR-10 protocol fixes which images train, validate and query.

Ties: a 16-bit code puts thousands of database items at the same Hamming distance, and the
ranking breaks ties by database position. The database is therefore shuffled once with the
run's seed (the same order for every descriptor), so no class gains from the file order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .context import BenchContext
from .retrieval import MapResult, mean_average_precision


@dataclass(frozen=True)
class CodeRun:
    """One trained head and what it scored."""

    name: str
    method: str  # csq (binary codes) | float (learned float embedding)
    bits: int
    bytes_per_item: int
    result: MapResult
    train_seconds: float
    best_epoch: int
    val_map: float


def per_class_indices(labels: np.ndarray, classes: list[int], per_class: int, *, skip: int = 0) -> np.ndarray:
    """The ``per_class`` items after the first ``skip`` of each class, in position order."""
    out: list[int] = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        out += idx[skip : skip + per_class].tolist()
    return np.asarray(sorted(out), np.int64)


def shuffled(database: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(database, labels, permutation) in one fixed random order (see the module docstring on ties)."""
    perm = np.random.default_rng(seed).permutation(len(labels))
    return database[perm], labels[perm], perm


def train_and_score(
    ctx: BenchContext,
    *,
    method: str,
    bits: int,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    queries: tuple[np.ndarray, np.ndarray],
    database: tuple[np.ndarray, np.ndarray],
    k: int,
    n_classes: int,
    class_names: list[str],
    similarity_weight: float = 0.0,
    epochs: int | None = None,
    name: str | None = None,
) -> CodeRun:
    """Fit one head on ``train`` (epoch picked on ``val``), then mAP@k of ``queries`` over ``database``."""
    import time

    from edge_models.code_head import CodeFitOptions, fit_code_head, head_outputs

    options = CodeFitOptions(
        method=method,
        epochs=epochs or (10 if ctx.quick else 40),
        similarity_weight=similarity_weight,
        seed=ctx.seed,
        device=ctx.settings.device if ctx.settings.device != "auto" else None,
    )
    t0 = time.perf_counter()
    head, fit = fit_code_head(train[0], train[1], val[0], val[1], bits=bits, n_classes=n_classes, options=options)
    seconds = time.perf_counter() - t0
    q = head_outputs(head, queries[0], method=method)
    db = head_outputs(head, database[0], method=method)
    result = mean_average_precision(q, queries[1], db, database[1], k, class_names=class_names)
    ctx.log(
        f"codes: {method} {bits}: mAP@{k} {result.map:.4f} (trained in {seconds:.0f} s, best epoch {fit.best_epoch})"
    )
    label = name or (f"CSQ {bits}-bit codes" if method == "csq" else f"learned float embedding ({bits}-d)")
    return CodeRun(
        name=label,
        method=method,
        bits=bits,
        bytes_per_item=bits // 8 if method == "csq" else 4 * bits,
        result=result,
        train_seconds=seconds,
        best_epoch=fit.best_epoch,
        val_map=fit.val_map,
    )
