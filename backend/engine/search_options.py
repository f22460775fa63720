"""What a caller may ask of a search (``options`` of the CLI and the HTTP API), validated.

Options arrive as untrusted JSON; :meth:`SearchOptions.from_json` turns them into a frozen
value or raises :class:`OptionsError` with a message that names the field and the rule, so
the HTTP layer can answer 400 with it as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from .fusion import QueryLabel


class OptionsError(ValueError):
    """The caller's search options are malformed; the message says which field and why."""


#: Weights are relative (fusion divides by their sum); the cap keeps that sum finite.
MAX_WEIGHT = 1000.0


def is_finite_number(value: object) -> bool:
    """A JSON number that is not a bool, NaN, ±Infinity or an int no float can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


@dataclass(frozen=True)
class SearchOptions:
    top_k: int = 12
    weights: Mapping[str, float] | None = None
    labels: tuple[QueryLabel, ...] = ()
    filter_labels: tuple[str, ...] = ()
    locate: bool | None = None
    label_weight: float = 0.1
    exclude_ids: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, data: Any, settings: Settings, descriptors: Sequence[str]) -> SearchOptions:
        """Validate untrusted JSON (HTTP ``options``) into options, with messages a client can act on."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise OptionsError("options must be a JSON object")
        unknown = set(data) - {"top_k", "weights", "labels", "filters", "locate", "label_weight"}
        if unknown:
            raise OptionsError(f"unknown option(s): {', '.join(sorted(unknown))}")
        top_k = data.get("top_k", settings.default_top_k)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= settings.max_top_k:
            raise OptionsError(f"top_k must be an integer from 1 to {settings.max_top_k}")
        weights = data.get("weights")
        if weights is not None:
            if not isinstance(weights, dict) or not weights:
                raise OptionsError('weights must be an object like {"cnn": 1.0, "color": 0.2}')
            for k, v in weights.items():
                if k not in descriptors:
                    raise OptionsError(f"unknown descriptor {k!r} in weights; known: {', '.join(descriptors)}")
                if not is_finite_number(v) or not 0 <= v <= MAX_WEIGHT:
                    raise OptionsError(
                        f"weight of {k!r} must be a number from 0 to {MAX_WEIGHT:g} (weights are relative)"
                    )
            if sum(weights.values()) <= 0:
                raise OptionsError("at least one weight must be > 0")
        labels: list[QueryLabel] = []
        raw_labels = data.get("labels", [])
        if not isinstance(raw_labels, list):
            raise OptionsError('labels must be a list of names or {"name", "confidence"} objects')
        for lb in raw_labels:
            if isinstance(lb, str) and lb:
                labels.append(QueryLabel(lb, 1.0))
            elif isinstance(lb, dict) and isinstance(lb.get("name"), str):
                conf = lb.get("confidence", 1.0)
                if not is_finite_number(conf) or not 0 <= conf <= 1:
                    raise OptionsError("label confidence must be a number from 0 to 1")
                labels.append(QueryLabel(lb["name"], float(conf)))
            else:
                raise OptionsError('each label must be a name or {"name": str, "confidence": 0..1}')
        filters = data.get("filters", {})
        if not isinstance(filters, dict) or set(filters) - {"labels"}:
            raise OptionsError("filters must be an object with an optional 'labels' list")
        flabels = filters.get("labels", [])
        if not isinstance(flabels, list) or not all(isinstance(x, str) for x in flabels):
            raise OptionsError("filters.labels must be a list of label names")
        locate = data.get("locate")
        if locate is not None and not isinstance(locate, bool):
            raise OptionsError("locate must be true or false")
        lw = data.get("label_weight", 0.1)
        if not is_finite_number(lw) or not 0 <= lw <= 1:
            raise OptionsError("label_weight must be a number from 0 to 1")
        return cls(
            top_k=top_k,
            weights={k: float(v) for k, v in weights.items()} if weights else None,
            labels=tuple(labels),
            filter_labels=tuple(flabels),
            locate=locate,
            label_weight=float(lw),
        )
