"""How much each descriptor counts for one query, and why.

Three sources, in order:

1. the caller's ``weights`` (HTTP ``options.weights``, CLI ``--weights``): always obeyed;
2. the image-type model of the active style model (:class:`edge_models.style_model.TypeModel`):
   it says what kind of picture the query is — a painting scan, a camera photo of an artwork,
   a drawing or print, a photograph — and the weights learnt on validation data for that kind
   are mixed by its probabilities (a drawing leans on the style descriptors, a photo of a dog
   on the content embedding);
3. the server's defaults (:attr:`Settings.descriptor_weights`).

Every result carries the decision in its ``reasons`` ("weighted for a drawing or print
(0.91): art style 0.55, style 0.25, content 0.20"), and the answer's ``query.weighting``
gives it in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_models.style_model import TYPE_NAMES, StyleModel

#: Short names of the descriptors in a weighting reason.
SHORT_NAMES = {"cnn": "content", "style": "style", "artstyle": "art style", "color": "colour"}


@dataclass(frozen=True)
class Weighting:
    """The descriptor weights one query is ranked with, and where they came from."""

    weights: dict[str, float]
    source: str  # "caller" | "image type" | "default"
    type: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)

    def reason(self) -> str | None:
        """The line a result's ``reasons`` start with: only when the image type chose the weights
        (a caller knows its own weights; the answer's ``query.weighting`` says them anyway)."""
        # A weight that rounds to 0.00 is left out of the line: "art style 0.00" reads as
        # "not used" while it still counts (``query.weighting`` has the exact weights).
        parts = ", ".join(
            f"{SHORT_NAMES.get(d, d)} {w:.2f}"
            for d, w in sorted(self.weights.items(), key=lambda kv: -kv[1])
            if round(w, 2) > 0
        )
        if self.source == "image type" and self.type is not None:
            what = TYPE_NAMES.get(self.type, self.type)
            return f"weighted for {what} ({self.confidence:.2f}): {parts}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "type": self.type,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "type_probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "weights": {k: round(v, 4) for k, v in self.weights.items()},
        }


def normalised(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights summing to 1 (the fused score stays on the cosine scale either way)."""
    total = sum(w for w in weights.values() if w > 0) or 1.0
    return {d: float(w) / total for d, w in weights.items() if w > 0}


def choose_weighting(
    *,
    caller: Mapping[str, float] | None,
    defaults: Mapping[str, float],
    style_model: StyleModel | None,
    vectors: Mapping[str, np.ndarray],
    available: set[str],
) -> Weighting:
    """Weights for a query whose (first view's) descriptor ``vectors`` are given.

    ``available``: descriptors this query can be ranked with (an index and a vector); weights
    for others are dropped, and the rest renormalised.
    """
    if caller:
        return Weighting(normalised({d: w for d, w in caller.items() if d in available}) or {}, "caller")
    types = style_model.types if style_model is not None else None
    if style_model is not None and types is not None and all(n in vectors for n in types.inputs):
        # A vector is one picture's (dim,) or several views' (rows, dim): the first view decides.
        probs = types.probabilities({n: np.atleast_2d(np.asarray(vectors[n]))[:1] for n in types.inputs})[0]
        mixed = normalised({d: w for d, w in style_model.weights_for(probs).items() if d in available})
        if mixed:
            best = int(np.argmax(probs))
            return Weighting(
                mixed,
                "image type",
                type=types.types[best],
                confidence=float(probs[best]),
                probabilities={t: float(p) for t, p in zip(types.types, probs)},
            )
    if style_model is not None and style_model.fixed_weights:
        fixed = normalised({d: w for d, w in style_model.fixed_weights.items() if d in available})
        if fixed:
            return Weighting(fixed, "default")
    return Weighting(normalised({d: w for d, w in defaults.items() if d in available}) or {}, "default")
