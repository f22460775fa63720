"""Measuring recognition through the product: snaps in, ``SearchService.search_image`` answers out.

Kept apart from the section (:mod:`benchmarks.recognition`) so the loops that render and
search snaps read in one place. Every snap is rendered from a fixed seed; every search goes
through the engine exactly as the server runs it (one thread for the libraries, as a
gunicorn worker), so the timings are server time without HTTP.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from backend.engine.search_options import SearchOptions
from backend.engine.search_results import SearchResult
from backend.engine.services import Engine
from dataset_tools.camera_snap import simulate_snap
from dataset_tools.wall_snap import simulate_wall

from .figures import Latency

COLLECTION = "recognition"


@dataclass
class Outcome:
    """What the answers to one set of snaps came to."""

    snaps: int = 0
    known: int = 0  # snaps of catalogue paintings
    top1: int = 0
    top10: int = 0
    right: int = 0  # match is the photographed painting
    wrong: int = 0  # match is another painting (on an unknown painting: any match)
    null: int = 0
    total_ms: list[float] = field(default_factory=list)
    parts_ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, result: SearchResult, truth: int | None) -> None:
        self.snaps += 1
        got = result.match.hit.item.id if result.match is not None else None
        ranked = [h.item.id for h in result.hits]
        if truth is not None:
            self.known += 1
            self.top1 += ranked[:1] == [truth]
            self.top10 += truth in ranked[:10]
        if got is None:
            self.null += 1
        elif got == truth:
            self.right += 1
        else:
            self.wrong += 1
        self.total_ms.append(result.timings.total_ms)
        for k, v in stage_times(result).items():
            self.parts_ms.setdefault(k, []).append(v)

    def recall(self, k: int) -> float:
        return (self.top1 if k == 1 else self.top10) / self.known if self.known else float("nan")

    def latency(self) -> Latency:
        return Latency.of(self.total_ms)


def stage_times(result: SearchResult) -> dict[str, float]:
    """The engine's stage times of one search (``decode_ms`` …, not the total) and
    recognition's parts of ``recognise_ms`` (``recognise: features`` …)."""
    parts = {k: float(v) for k, v in result.timings.to_dict().items() if k != "total_ms"}
    for k, v in (result.recognition or {}).items():
        if k.endswith("_ms"):
            parts[f"recognise: {k[:-3]}"] = float(v)
    return parts


def painting(zf: zipfile.ZipFile, name: str) -> Image.Image:
    return Image.open(io.BytesIO(zf.read(name))).convert("RGB")


def search(engine: Engine, jpeg: bytes, top_k: int = 10) -> SearchResult:
    return engine.search.search_image(COLLECTION, jpeg, SearchOptions(top_k=top_k))


def snap_set(
    engine: Engine,
    zf: zipfile.ZipFile,
    names: Sequence[str],
    ids: dict[str, int],
    *,
    difficulty: str,
    seed: int,
) -> Outcome:
    """Snaps of ``names`` (one each, seeded per painting), searched; ``ids`` knows the catalogue."""
    out = Outcome()
    for k, name in enumerate(names):
        snap = simulate_snap(painting(zf, name), np.random.default_rng([seed, k]), difficulty=difficulty)
        out.add(search(engine, snap.jpeg), ids.get(name))
    return out


@dataclass
class WallOutcome:
    walls: int = 0
    paintings: int = 0
    found: int = 0  # paintings that are some region's match
    wrong: int = 0  # regions matched to a painting not on the wall
    regions: int = 0
    total_ms: list[float] = field(default_factory=list)


def wall_set(
    engine: Engine, zf: zipfile.ZipFile, groups: Sequence[Sequence[str]], ids: dict[str, int], *, seed: int
) -> WallOutcome:
    """Walls of 2-3 catalogue paintings: is each one a region's match?"""
    out = WallOutcome()
    for k, group in enumerate(groups):
        wall = simulate_wall([painting(zf, n) for n in group], np.random.default_rng([seed, k]))
        result = search(engine, wall.jpeg)
        matched = {r.match.hit.item.id for r in result.regions if r.match is not None}
        truth = {ids[n] for n in group}
        out.walls += 1
        out.paintings += len(group)
        out.found += len(matched & truth)
        out.wrong += len(matched - truth)
        out.regions += len(result.regions)
        out.total_ms.append(result.timings.total_ms)
    return out


@contextmanager
def shortlists(size: int) -> Iterator[None]:
    """Both candidate routes put forward ``size`` candidates (the words' and the embedding's)."""
    from backend.engine import search as search_module
    from backend.engine.recognition import recogniser

    before = (search_module.GLOBAL_SHORTLIST, recogniser.BOW_SHORTLIST)
    search_module.GLOBAL_SHORTLIST = recogniser.BOW_SHORTLIST = size
    try:
        yield
    finally:
        search_module.GLOBAL_SHORTLIST, recogniser.BOW_SHORTLIST = before


@dataclass
class UploadSnaps:
    """The same snaps as a 12-MP phone JPEG and as the SDKs upload them (long side ≤ 1024 px,
    ``mobile_sdk_stubs.photos.prepare_upload``), made once, and their server times."""

    pairs: list[tuple[bytes, bytes]]
    big_ms: list[float] = field(default_factory=list)
    small_ms: list[float] = field(default_factory=list)
    #: p50 of each pass (12 MP, 1024 px): the spread says how much the machine drifted
    pass_p50_ms: list[tuple[float, float]] = field(default_factory=list)
    #: share of the machine's CPU time stolen by the hypervisor during each pass
    pass_steal: list[float] = field(default_factory=list)
    #: per size ("12 MP", "1024 px"), each stage's times (engine timings and recognition parts)
    parts_ms: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @staticmethod
    def make(
        zf: zipfile.ZipFile, names: Sequence[str], *, seed: int, full: tuple[int, int] = (4000, 3000)
    ) -> UploadSnaps:
        from mobile_sdk_stubs.photos import prepare_upload

        pairs = []
        for k, name in enumerate(names):
            snap = simulate_snap(painting(zf, name), np.random.default_rng([seed, k]), out_size=full)
            pairs.append((snap.jpeg, prepare_upload(snap.jpeg)))
        return UploadSnaps(pairs)

    def warm_up(self, engine: Engine) -> None:
        """One untimed search at each size: models, indexes, the features' inverted index
        and the decoders' first use load here, not inside the first timed search."""
        engine.search.warm_up()
        for data in self.pairs[0] if self.pairs else ():
            search(engine, data)

    def time_pass(self, engine: Engine) -> None:
        """One pass over the snaps, each as 12 MP then as its 1024 px upload. The snaps are
        rendered beforehand: rendering a 12-MP snap between two timed searches (tens of MB
        of pixels) is the bench's work, not the server's."""
        from .machine import CpuTimes

        big: list[float] = []
        small: list[float] = []
        before = CpuTimes.now()
        for jpeg, upload in self.pairs:
            for data, out, size in ((jpeg, big, "12 MP"), (upload, small, "1024 px")):
                t0 = time.perf_counter()
                result = search(engine, data)
                out.append((time.perf_counter() - t0) * 1000)
                parts = self.parts_ms.setdefault(size, {})
                for k, v in stage_times(result).items():
                    parts.setdefault(k, []).append(v)
        after = CpuTimes.now()
        self.pass_steal.append(after.steal_share_since(before) if after and before else float("nan"))
        self.big_ms += big
        self.small_ms += small
        self.pass_p50_ms.append((float(np.median(big)), float(np.median(small))) if big else (0.0, 0.0))

    def jpeg_bytes(self) -> int:
        return int(np.mean([len(j) for j, _ in self.pairs])) if self.pairs else 0
