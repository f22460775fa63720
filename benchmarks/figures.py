"""The vocabulary every section reports in: latency summaries, target checks, ratios, skips.

Kept apart from the sections so the report reads the same everywhere: a latency is always
``p50 / p95 (n)``, a ratio always says *what against what*, and a missed target says by how much.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


class SkipSection(Exception):
    """A section cannot run here (e.g. a data set is absent); the message says why."""


@dataclass(frozen=True)
class Latency:
    """Summary of repeated timings, in milliseconds."""

    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Latency:
        a = np.asarray(samples_ms, dtype=np.float64)
        if a.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"))
        return cls(
            n=int(a.size),
            p50_ms=float(np.percentile(a, 50)),
            p95_ms=float(np.percentile(a, 95)),
            mean_ms=float(a.mean()),
            min_ms=float(a.min()),
            max_ms=float(a.max()),
        )

    def short(self) -> str:
        return f"p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms (n={self.n})"


@dataclass(frozen=True)
class TargetCheck:
    """One line of the report's target table. ``met`` is None when not measured."""

    name: str
    target: str
    measured: str
    met: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        return {True: "met", False: "**missed**", None: "not measured"}[self.met]


def ratio(a: float, b: float) -> float:
    """a / b, NaN when b is 0 or either is missing (so a report never divides by zero)."""
    try:
        return float(a) / float(b) if b and np.isfinite(a) and np.isfinite(b) else float("nan")
    except TypeError:
        return float("nan")


def fmt_ratio(x: float, digits: int = 2) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.{digits}f}×"


def miss_by(measured: float, limit: float, *, higher_is_better: bool) -> str:
    """'met' or how far off a target is, as a factor and an absolute difference."""
    if higher_is_better:
        ok = measured >= limit
        return "" if ok else f"short by {limit - measured:.1f} ({measured / limit:.2f}× the target)"
    ok = measured <= limit
    return "" if ok else f"over by {measured - limit:.1f} ({measured / limit:.2f}× the limit)"


def time_calls(fn: Callable[[], object], n: int, *, warmup: int = 1) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``n`` times; milliseconds per call."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are written as given (format them before)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
