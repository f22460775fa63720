"""Fuse descriptor similarities and labels into one ranking, and say why.

The score is the weight-normalised sum of per-descriptor cosine similarities (so it stays
on the familiar cosine scale whatever the weights), plus a bonus for every label the item
shares with the query: labels from the phone's classifier, the server's classifier, or
(for related items) the item's own curator labels. Each hit carries its parts and a
plain-language reason, so a curator can see *why* something is there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class QueryLabel:
    name: str
    confidence: float = 1.0
    source: str = "device"  # device | server | item


@dataclass
class FusedHit:
    item_id: int
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


_DESCRIPTOR_WORDS = {
    "cnn": "looks alike (CNN embedding)",
    "style": "similar brushwork and texture (style statistics)",
    "artstyle": "same art style (style embedding trained on this collection's labels)",
    "color": "similar colours",
}


def fuse(
    similarities: Mapping[str, Mapping[int, float]],
    weights: Mapping[str, float],
    item_labels: Mapping[int, set[str]],
    query_labels: Sequence[QueryLabel],
    *,
    label_weight: float,
    lead_reasons: Sequence[str] = (),
) -> list[FusedHit]:
    """Rank every candidate that appears in ``similarities``; best first.

    ``lead_reasons`` start every hit's reasons (how the query was weighted, see
    :mod:`.weighting`).
    """
    active = {d: w for d, w in weights.items() if w > 0 and d in similarities}
    total_w = sum(active.values()) or 1.0
    candidates: set[int] = set()
    for d in active:
        candidates.update(similarities[d].keys())
    best_label: dict[str, QueryLabel] = {}
    for ql in query_labels:
        if ql.name not in best_label or ql.confidence > best_label[ql.name].confidence:
            best_label[ql.name] = ql
    hits: list[FusedHit] = []
    for item_id in candidates:
        parts = {d: float(similarities[d].get(item_id, 0.0)) for d in active}
        visual = sum(active[d] * parts[d] for d in active) / total_w
        reasons = [*lead_reasons]
        reasons += [f"{_DESCRIPTOR_WORDS.get(d, d)}: {parts[d]:.2f}" for d in sorted(active, key=lambda d: -active[d])]
        bonus = 0.0
        shared = sorted(item_labels.get(item_id, set()) & best_label.keys())
        for name in shared:
            ql = best_label[name]
            bonus += label_weight * ql.confidence
            origin = {"device": "the phone's classifier", "server": "the server's classifier", "item": "this item"}.get(
                ql.source, ql.source
            )
            reasons.append(f"shares label '{name}' with {origin} ({ql.confidence:.2f})")
        if shared:
            parts["labels"] = round(bonus, 6)
        hits.append(FusedHit(item_id=item_id, score=visual + bonus, scores=parts, reasons=reasons))
    hits.sort(key=lambda h: (-h.score, h.item_id))
    return hits
