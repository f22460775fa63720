"""Recognise the artworks in one photo: shortlist, verify, decide, and look again.

One :class:`Recogniser` per photo and collection. The photo's features are extracted once;
every candidate is verified against them (:mod:`.verification`) and judged
(:mod:`.decision`). Candidates come from the visual words (:meth:`Recogniser.shortlist`)
and from whoever calls :meth:`Recogniser.identify` with its own (the search service adds the
global embedding's shortlist). Verification stops at the first candidate whose evidence is
strong: on a recognised snap that is usually the first one tried.

Several artworks: once an artwork is recognised, the photo's keypoints inside its outline
are explained and set aside, and the words of the remaining ones shortlist again
(:meth:`Recogniser.recognise_all`), until nothing more is recognised or too few keypoints
are left.

A closer look: on a wall, a finely textured artwork takes most of the photo's keypoints and a
plainer or smaller one beside it too few to be found. Once something is recognised, the
caller may hand over fresh keypoints of the rest of the photo, from a sharper image
(:meth:`Recogniser.look_closer`, :func:`.local_features.extract_features_outside`), and the
artworks among them are recognised as above.

Harder views: when the photo's plain keypoints recognise nothing, the caller may add the
keypoints of other views of it (:meth:`Recogniser.widen`): a stretched view
(:func:`.local_features.extract_tilted_features`), and rectified views of quads seen
steeply from the side (:func:`.local_features.extract_view_features`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .decision import STRONG_SCORE, Evidence, evidence_of
from .feature_store import CollectionFeatures
from .local_features import LocalFeatures
from .verification import SAME_PLACE_PX, QueryMatcher, Verification, points_inside, verify

__all__ = ["BOW_SHORTLIST", "EXPLAINED_GROW", "Recognition", "Recogniser", "interleave"]

BOW_SHORTLIST = 10
"""Candidates the visual words put forward for verification, per look at the photo."""
BOW_QUERY_KEYPOINTS = 500
"""The photo's strongest keypoints that vote with their words: the weakest ones are mostly
wall grain and noise, and dilute the vote."""
MIN_KEYPOINTS = 40
"""Fewer unexplained keypoints than this cannot show an artwork."""
MIN_KEYPOINTS_AGAIN = 100
"""After an artwork is recognised, fewer keypoints left than this are not worth another look."""
BOW_SHORTLIST_AGAIN = 3
"""Candidates verified per further look at the photo."""
MAX_VERIFIED = 20
"""Candidates verified per look at most (the routes' shortlists together)."""
MAX_ARTWORKS = 4
"""Artworks recognised in one photo at most."""
EXPLAINED_GROW = 0.05
"""Keypoints this close outside a recognised outline (share of its size) belong to it too
(its frame)."""


@dataclass(frozen=True)
class Recognition:
    """An artwork recognised in the photo: which item, where (its ``outline``, TL, TR, BR, BL
    of the artwork in the photo's feature-image pixels) and why (``evidence``)."""

    item_id: int
    outline: np.ndarray
    evidence: Evidence
    verification: Verification
    #: (width, height) of the catalogue image whose corners ``outline`` is: its aspect
    artwork_size: tuple[int, int] = (1, 1)

    def head_on_area(self) -> float:
        """Feature-image pixels the artwork would cover seen from the front at the same
        distance: its less foreshortened pair of sides (a visitor to one side squeezes the
        horizontal ones, one looking up the vertical ones) and its aspect."""
        q = np.asarray(self.outline, np.float64).reshape(4, 2)
        sides = np.linalg.norm(np.roll(q, -1, 0) - q, axis=1)  # top, right, bottom, left
        across, down = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
        aspect = self.artwork_size[0] / max(1, self.artwork_size[1])
        return float(max(down * down * aspect, across * across / aspect))


def interleave(*lists: Iterable[int]) -> list[int]:
    """Candidates from several shortlists, alternating, each once: the best of every route
    is verified early."""
    out: list[int] = []
    seen: set[int] = set()
    iters = [iter(x) for x in lists]
    while iters:
        for it in list(iters):
            try:
                item = int(next(it))
            except StopIteration:
                iters.remove(it)
                continue
            if item not in seen:
                seen.add(item)
                out.append(item)
    return out


@dataclass
class Recogniser:
    """Recognition of one photo (``query``) against one collection's stored features."""

    collection: CollectionFeatures
    query: LocalFeatures
    available: np.ndarray = field(init=False)
    recognised: list[Recognition] = field(default_factory=list, init=False)
    #: every verification done, in order (for the calibration script and for timings)
    log: list[tuple[Verification, Evidence]] = field(default_factory=list, init=False)
    #: time spent extracting the photo's features (set by the caller), quantising and voting
    #: with visual words, and verifying candidates
    features_ms: float = field(default=0.0, init=False)
    words_ms: float = field(default=0.0, init=False)
    verify_ms: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.available = np.ones(len(self.query), bool)
        self._rejected: set[int] = set()
        self._vote_order = np.arange(len(self.query))  # strongest first
        self._word_of = np.full(len(self.query), -1, np.int64)
        self.widened = False
        self.views = 1  # the photo's views whose keypoints :attr:`query` holds
        self.looked_closer = False
        self.looked_from_the_side = False

    def widen(self, more: LocalFeatures) -> None:
        """Add keypoints of another view of the photo (same feature image) and forget the
        candidates rejected so far: with more evidence they may verify now."""
        n = len(self.query)
        self.query = self.query.extended(more)
        extra = np.ones(len(more), bool)
        for r in self.recognised:
            extra &= ~points_inside(more.xy, r.outline, grow=EXPLAINED_GROW)
        self.available = np.concatenate([self.available, extra])
        # the keypoints so far and the new view's vote in turn, each strongest first (after
        # several widenings the newest view holds every other place in the order)
        old, new = self._vote_order, np.arange(n, n + len(more))
        order = np.full(len(old) + len(new), -1, np.int64)
        common = min(len(old), len(new))
        order[: 2 * common : 2], order[1 : 2 * common : 2] = old[:common], new[:common]
        order[2 * common :] = np.concatenate([old[common:], new[common:]])
        self._vote_order = order
        self._rejected.clear()
        self.widened = True
        self.views += 1

    def _active(self, within: np.ndarray | None) -> np.ndarray:
        return self.available & within if within is not None else self.available.copy()

    def shortlist(
        self, *, within: np.ndarray | None = None, k: int = BOW_SHORTLIST, allowed: np.ndarray | None = None
    ) -> list[int]:
        """Items sharing the most visual words with the photo's unexplained keypoints."""
        words_index = self.collection.words()
        if words_index is None:
            return []
        order = self._vote_order
        rows = order[self._active(within)[order]][:BOW_QUERY_KEYPOINTS]  # strongest first
        if len(rows) < MIN_KEYPOINTS:
            return []
        t0 = time.perf_counter()
        words = self._words(rows)
        done = {r.item_id for r in self.recognised}
        ids, _ = words_index.top(words, k + len(done), allowed=allowed)
        self.words_ms += (time.perf_counter() - t0) * 1000
        return [int(i) for i in ids if int(i) not in done][:k]

    def _words(self, rows: np.ndarray) -> np.ndarray:
        """The visual words of these keypoints (each keypoint quantised once per photo)."""
        if len(self._word_of) < len(self.query):
            self._word_of = np.concatenate([self._word_of, np.full(len(self.query) - len(self._word_of), -1)])
        missing = rows[self._word_of[rows] < 0]
        if len(missing):
            self._word_of[missing] = self.collection.query_words(self.query.subset(missing))
        words: np.ndarray = self._word_of[rows].astype(np.uint16)
        return words

    def identify(
        self, candidates: Sequence[int], *, within: np.ndarray | None = None, stop_early: bool = True
    ) -> Recognition | None:
        """Verify ``candidates`` in order against the unexplained keypoints (inside ``within``
        when given) and return the artwork recognised, if any; its keypoints are then explained."""
        rows = np.flatnonzero(self._active(within))
        if len(rows) < MIN_KEYPOINTS:
            return None
        t0 = time.perf_counter()
        try:
            return self._identify(candidates, rows, stop_early, whole=within is None)
        finally:
            self.verify_ms += (time.perf_counter() - t0) * 1000

    def _identify(
        self, candidates: Sequence[int], rows: np.ndarray, stop_early: bool, *, whole: bool
    ) -> Recognition | None:
        matcher = QueryMatcher(
            self.query.subset(rows), same_place_px=SAME_PLACE_PX if self.widened else 0.0, views=self.views
        )
        best: tuple[Verification, Evidence] | None = None
        best_size = (1, 1)
        done = {r.item_id for r in self.recognised} | self._rejected
        verified = 0
        for item_id in candidates:
            if verified == MAX_VERIFIED:
                break
            if item_id in done:
                continue
            features = self.collection.get(item_id)
            if features is None:
                continue
            v = verify(matcher, item_id, features)
            e = evidence_of(v)
            self.log.append((v, e))
            verified += 1
            if whole and not e.is_match:
                # Not in all the unexplained keypoints: it will not be in fewer of them. (A
                # candidate rejected inside one region may still be the artwork beside it.)
                self._rejected.add(item_id)
            if best is None or (e.score, e.inliers) > (best[1].score, best[1].inliers):
                best, best_size = (v, e), features.size
            if stop_early and e.score >= STRONG_SCORE:
                break
        if best is None or not best[1].is_match or best[0].outline is None:
            return None
        v, e = best
        outline = best[0].outline
        # inlier rows back to rows of the whole photo's keypoints; then everything inside the
        # outline is explained
        found = Recognition(
            item_id=v.item_id, outline=outline, evidence=e, verification=_with_rows(v, rows), artwork_size=best_size
        )
        self.available &= ~points_inside(self.query.xy, outline, grow=EXPLAINED_GROW)
        self.available[found.verification.inlier_rows] = False
        self.recognised.append(found)
        return found

    def recognise_all(
        self, *, allowed: np.ndarray | None = None, limit: int = MAX_ARTWORKS, also: Sequence[int] = ()
    ) -> list[Recognition]:
        """Look, recognise, set aside, look again: every artwork the visual words can find,
        and those of ``also`` (another route's candidates, verified beside the words')."""
        found: list[Recognition] = []
        while len(found) < limit:
            if found and self.unexplained() < MIN_KEYPOINTS_AGAIN:
                break  # what is left is a frame, a label, the wall
            # After the first artwork, only the words' best few: another painting clear enough
            # to be recognised ranks near the top among the keypoints left.
            by_words = self.shortlist(allowed=allowed, k=BOW_SHORTLIST if not found else BOW_SHORTLIST_AGAIN)
            candidates = interleave(by_words, also)
            if not candidates:
                break
            hit = self.identify(candidates)
            if hit is None:
                break
            found.append(hit)
        return found

    def look_closer(
        self,
        closer: LocalFeatures,
        *,
        allowed: np.ndarray | None = None,
        parts: Sequence[np.ndarray] = (),
        also: Sequence[int] = (),
    ) -> list[Recognition]:
        """Recognise further artworks among ``closer``: keypoints of the part of the photo no
        recognised artwork explains, in the same feature image as :attr:`query` (typically
        from a sharper image, :func:`.local_features.extract_features_outside`).

        They are looked at on their own: their words vote without the first look's keypoints,
        all of them and, for each of ``parts`` (outlines where another artwork may be), those
        inside it (a small artwork's words are not outvoted by the wall's); candidates, theirs
        and ``also``, are verified against them only. What is found joins
        :attr:`recognised`, with its verifications and its time.
        """
        if closer.size != self.query.size:
            raise ValueError(f"features of a {closer.size} image cannot be looked at beside a {self.query.size} one")
        room = MAX_ARTWORKS - len(self.recognised)
        if room <= 0:
            return []
        other = Recogniser(self.collection, closer)
        other.recognised = list(self.recognised)  # not candidates again
        for r in self.recognised:
            other.available &= ~points_inside(closer.xy, r.outline, grow=EXPLAINED_GROW)
        by_part = [
            other.shortlist(within=points_inside(closer.xy, q), k=BOW_SHORTLIST_AGAIN, allowed=allowed) for q in parts
        ]
        found = other.recognise_all(allowed=allowed, limit=room, also=interleave(also, *by_part))
        self.log += other.log
        self.words_ms += other.words_ms
        self.verify_ms += other.verify_ms
        for hit in found:
            self.available &= ~points_inside(self.query.xy, hit.outline, grow=EXPLAINED_GROW)
            self.recognised.append(hit)
        self.looked_closer = True
        return found

    def unexplained(self) -> int:
        """Keypoints no recognised artwork accounts for."""
        return int(self.available.sum())


def _with_rows(v: Verification, rows: np.ndarray) -> Verification:
    """``v`` with its inlier rows mapped from a subset of the photo's keypoints to all of them."""
    return Verification(
        item_id=v.item_id,
        matches=v.matches,
        inliers=v.inliers,
        candidate_keypoints=v.candidate_keypoints,
        coverage=v.coverage,
        plausible=v.plausible,
        homography=v.homography,
        outline=v.outline,
        inlier_rows=rows[v.inlier_rows],
    )
