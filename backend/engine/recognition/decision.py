"""The open-set decision: is the verified candidate *the* artwork photographed, or not in
this collection at all?

An inlier count alone cannot say: a wrong painting with fine repetitive texture (foliage,
brushwork, lattices) can gather a few dozen inliers, while a true one photographed small,
blurred or half hidden may have fewer. What separates them is how the agreement looks:

* ``inliers``: matches consistent with one homography (log-scaled: 20 → 40 means more than
  200 → 220);
* ``inlier_ratio``: their share of the tentative matches (a true view explains most of
  them, a chance fit a few among many);
* ``coverage``: how much of the painting the inliers span (chance fits cluster in one
  patch of texture);
* and the outline must be a sane view of a rectangle (:func:`.verification.outline_is_plausible`).

They are combined by a logistic model fitted on held-out simulated snaps of known and of
unknown paintings (WikiArt; ``benchmarks/recognition_calibration.py`` refits it and prints
the figures). Only the fitted constants ship: the decision needs no data at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .verification import Verification

__all__ = ["MATCH_SCORE", "STRONG_SCORE", "Evidence", "evidence_of"]

# Fitted constants (see the module docstring): score = sigmoid(b0 + b1 ln(inliers) +
# b2 inlier_ratio + b3 coverage), for plausible outlines with at least MIN_INLIERS inliers.
_B0, _B_LOG_INLIERS, _B_RATIO, _B_COVERAGE = -12.0, 3.0, 4.0, 4.0
MIN_INLIERS = 12
"""Below this nothing is recognised, whatever else the evidence says."""
MATCH_SCORE = 0.5
"""A candidate whose score reaches this is the recognised artwork."""
STRONG_SCORE = 0.99
"""Verification stops at a candidate this convincing: the rest cannot beat it."""


@dataclass(frozen=True)
class Evidence:
    """Why a candidate is (or is not) judged to be the photographed artwork."""

    inliers: int
    matches: int
    inlier_ratio: float
    coverage: float
    plausible: bool
    score: float

    @property
    def is_match(self) -> bool:
        return self.score >= MATCH_SCORE

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``evidence`` of a match."""
        return {
            "inliers": self.inliers,
            "matches": self.matches,
            "inlier_ratio": round(self.inlier_ratio, 3),
            "coverage": round(self.coverage, 3),
            "score": round(self.score, 4),
        }


def decision_score(inliers: int, inlier_ratio: float, coverage: float, plausible: bool) -> float:
    """0..1: how sure the evidence makes us that the candidate is the photographed artwork."""
    if not plausible or inliers < MIN_INLIERS:
        return 0.0
    z = _B0 + _B_LOG_INLIERS * math.log(inliers) + _B_RATIO * inlier_ratio + _B_COVERAGE * coverage
    return 1.0 / (1.0 + math.exp(-z))


def evidence_of(v: Verification) -> Evidence:
    ratio = v.inliers / v.matches if v.matches else 0.0
    return Evidence(
        inliers=v.inliers,
        matches=v.matches,
        inlier_ratio=ratio,
        coverage=v.coverage,
        plausible=v.plausible,
        score=decision_score(v.inliers, ratio, v.coverage, v.plausible),
    )
