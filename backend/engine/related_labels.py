"""Candidates for "related items" that come from shared labels, not only from looks.

A related-items query used to see only the visually nearest ``pool`` items; an item that
shares a label with the query item (a curator's category, or a model's hidden label) but
sits further away in embedding space never reached fusion, so its label bonus could not
count. Here the items sharing any of the query item's labels are searched *among
themselves* (FAISS ``IDSelectorBatch`` via ``allowed``), so the visually closest of them
join the pool whatever their global rank. Fusion then scores every candidate the same way
(visual similarity + label bonus) and says why each one is there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .catalog.store import Catalog
from .fusion import QueryLabel
from .index import VectorIndex


def label_sharing_candidates(
    catalog: Catalog,
    collection_id: int,
    indexes: Mapping[str, VectorIndex],
    vectors: Mapping[str, np.ndarray],
    query_labels: Sequence[QueryLabel],
    pool: int,
    allowed: np.ndarray | None = None,
) -> set[int]:
    """Ids of the ``pool`` visually nearest items (per descriptor) that share a label with
    the query *item* (``QueryLabel.source == "item"``; phone and server labels are not
    used here, so photo searches are unchanged)."""
    names = sorted({q.name for q in query_labels if q.source == "item"})
    if not names or not vectors:
        return set()
    sharers = np.asarray(catalog.item_ids_with_labels(collection_id, names), np.int64)
    if allowed is not None:
        sharers = np.intersect1d(sharers, allowed)
    if len(sharers) == 0:
        return set()
    found: set[int] = set()
    for name, vec in vectors.items():
        queries = np.atleast_2d(np.asarray(vec, np.float32))  # one row per view of the query
        _, ids = indexes[name].search(queries, min(pool, len(sharers)), allowed=sharers)
        found.update(int(i) for i in ids.ravel() if i >= 0)
    return found
