"""Retrieval metrics: mAP@k (deep-hashing convention), precision@k and recall@k of a target.

mAP@k follows the convention of the deep-hashing papers and their reference code (HashNet,
DPSH, …): rank the database by similarity, keep the top k, and average the precision at each
relevant position among those k; a query with no relevant item in its top k scores 0. This is
what "CIFAR-10 mAP@5000" means in that literature, so the figure is comparable with it.
Because it divides by the relevant items *found*, a lucky first hit scores high even for a
random ranking at small k; so the information-retrieval variant is computed too
(``map_ir``: divide by min(k, relevant items in the database)), and precision@k.

Similarity is the inner product of unit vectors (= cosine, what the FAISS indexes compute).
Work is chunked by queries so 1 000 × 59 000 scores never sit in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ScoreFn = Callable[[np.ndarray], np.ndarray]  # query indices → (len, n_db) scores


@dataclass(frozen=True)
class MapResult:
    map: float
    precision_at_k: float
    map_ir: float
    k: int
    n_queries: int
    n_database: int
    per_class_map: dict[str, float]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best per row, best first (ties broken by index, deterministically)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    rows = np.arange(scores.shape[0])[:, None]
    order = np.lexsort((part, -scores[rows, part]), axis=1)
    return part[rows, order]


def average_precision_at_k(relevant: np.ndarray, n_relevant: np.ndarray | None = None) -> np.ndarray:
    """(q, k) booleans of the ranked top k → (q,) AP@k (0 where nothing relevant was found).

    Divides by the relevant items found in the top k (deep-hashing convention), or, when
    ``n_relevant`` (relevant items in the whole database, per query) is given, by
    min(k, n_relevant) (information-retrieval convention).
    """
    rel = relevant.astype(np.float64)
    hits = np.cumsum(rel, axis=1)
    prec = hits / np.arange(1, rel.shape[1] + 1)
    total = (prec * rel).sum(1)
    if n_relevant is not None:
        return total / np.maximum(np.minimum(rel.shape[1], n_relevant), 1)
    n_rel = rel.sum(1)
    return np.where(n_rel > 0, total / np.maximum(n_rel, 1), 0.0)


def mean_average_precision(
    queries: np.ndarray,
    query_labels: np.ndarray,
    database: np.ndarray,
    db_labels: np.ndarray,
    k: int,
    *,
    class_names: list[str] | None = None,
    exclude_self: bool = False,
    scores_fn: Callable[[slice], np.ndarray] | None = None,
    chunk: int = 128,
) -> MapResult:
    """mAP@k of ``queries`` against ``database`` (unit vectors; same class = relevant).

    ``exclude_self``: queries *are* the database (leave-one-out): row i never retrieves item i.
    ``scores_fn``: replaces the inner product (e.g. random scores for a chance baseline).
    """
    nq = len(query_labels)
    aps = np.zeros(nq)
    aps_ir = np.zeros(nq)
    precs = np.zeros(nq)
    class_count = np.bincount(db_labels, minlength=int(max(db_labels.max(), query_labels.max())) + 1)
    n_relevant = class_count[query_labels] - (1 if exclude_self else 0)
    for start in range(0, nq, chunk):
        sl = slice(start, min(start + chunk, nq))
        s = scores_fn(sl) if scores_fn is not None else queries[sl] @ database.T
        s = np.asarray(s, dtype=np.float32)
        if exclude_self:
            idx = np.arange(sl.start, sl.stop)
            s[idx - sl.start, idx] = -np.inf
        top = top_k(s, k)
        rel = db_labels[top] == query_labels[sl, None]
        aps[sl] = average_precision_at_k(rel)
        aps_ir[sl] = average_precision_at_k(rel, n_relevant[sl])
        precs[sl] = rel.mean(1)
    per_class = {}
    if class_names is not None:
        for c, name in enumerate(class_names):
            m = query_labels == c
            if m.any():
                per_class[name] = float(aps[m].mean())
    return MapResult(
        map=float(aps.mean()),
        precision_at_k=float(precs.mean()),
        map_ir=float(aps_ir.mean()),
        k=min(k, len(db_labels) - (1 if exclude_self else 0)),
        n_queries=nq,
        n_database=len(db_labels) - (1 if exclude_self else 0),
        per_class_map=per_class,
    )


def random_scores(n_db: int, seed: int) -> Callable[[slice], np.ndarray]:
    """Chance-level scores: a fresh random ranking per query (reproducible)."""
    rng = np.random.default_rng(seed)

    def fn(sl: slice) -> np.ndarray:
        return rng.random((sl.stop - sl.start, n_db), dtype=np.float32)

    return fn


def target_ranks(queries: np.ndarray, database: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each query's target item in the database (ties count against it)."""
    s = queries @ database.T
    own = s[np.arange(len(targets)), targets]
    return (s > own[:, None]).sum(1) + 1
