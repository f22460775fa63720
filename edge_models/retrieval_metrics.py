"""Retrieval mAP for training reports and epoch selection (numpy only).

The deep-hashing convention, as in ``benchmarks.retrieval`` (which the published tables follow):
rank the database by inner product (for ±1 codes that is Hamming order; ties keep database
order), keep the top k, average the precision at each relevant position. Relevant means the
same class, or for 0/1 label rows at least one label in common.
"""

from __future__ import annotations

import numpy as np

__all__ = ["retrieval_map"]


def retrieval_map(
    database: np.ndarray,
    db_labels: np.ndarray,
    queries: np.ndarray | None = None,
    query_labels: np.ndarray | None = None,
    *,
    k: int | None = None,
    exclude_self: bool = False,
    chunk: int = 256,
) -> float:
    """mAP@k of ``queries`` against ``database`` (defaults: the database queries itself)."""
    if queries is None:
        queries, query_labels = database, db_labels
    assert query_labels is not None
    db = np.asarray(database, np.float32)
    q = np.asarray(queries, np.float32)
    n_db = len(db) - (1 if exclude_self else 0)
    k = n_db if k is None else min(k, n_db)
    if k <= 0 or len(q) == 0:
        return 0.0
    aps = np.zeros(len(q))
    for s in range(0, len(q), chunk):
        e = min(len(q), s + chunk)
        scores = q[s:e] @ db.T
        if exclude_self:
            scores[np.arange(e - s), np.arange(s, e)] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        if db_labels.ndim == 1:
            rel = db_labels[top] == query_labels[s:e, None]
        else:
            rel = (db_labels[top] & query_labels[s:e, None, :]).any(axis=2)
        hits = np.cumsum(rel, axis=1)
        prec = hits / np.arange(1, k + 1)
        found = rel.sum(1)
        aps[s:e] = np.where(found > 0, (prec * rel).sum(1) / np.maximum(found, 1), 0.0)
    return float(aps.mean())
