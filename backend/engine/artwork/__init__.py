"""Find the painting in a phone photo and warp it to a fronto-parallel rectangle.

Why: catalogue descriptors are computed on clean scans of the painting alone. A visitor's
snap shows the painting small, framed, off-axis and surrounded by wall; with a plain
centre crop the right painting comes first only about a third of the time (DESIGN.md).
Cutting the painting out and undoing the perspective gives the descriptor what it was
trained on. Its speed and hit rate are in BENCHMARKS.md (camera snaps, search latency).

How (everything at ``work_side`` px, on a :class:`~.view.View` of the photo computed once),
one module per step:

1. :mod:`.candidates` -- quads come from two independent cues, so one failing is not fatal:
   * the wall (:mod:`.wall`): a smooth (quadratic) colour model is fitted robustly to the
     photo's border ring -- walls are plain and lit smoothly -- and what does not fit is a
     blob, whose hull gives the largest inscribed quad, sides refitted to the outline;
   * straight edges (:mod:`.lines`): colour-Canny edge pixels vote in a Hough space
     restricted to their own gradient direction; pairs of near-horizontal and
     near-vertical lines make quads, ranked by how much of each side the edges cover (a
     side weak in parts still adds up).
2. :mod:`.scoring` -- each quad is scored by what distinguishes a hung artwork from other
   shapes: its sides lie on colour edges, the band just outside every visible side is wall
   (and the inside is not), it is large, and its angles are those of a rectangle seen
   within ~30 degrees. The best wins if its score is convincing (``FOUND_SCORE``). These
   limits are a :class:`~.locate.Looking`'s: the defaults (``MAIN_SUBJECT``) are for a
   visitor's main subject; a caller that verifies what the locator proposes may look for
   smaller, less certain or more slanted artworks.
3. :mod:`.frame` -- the winner is often the frame's outer edge. The quad is rectified and
   scanned inward from each side: a frame (and mat) is a band of lines that are smooth
   along their length, ending in an edge at the same depth on opposite sides. That edge
   is the painting's outline.
4. :mod:`.refinement` -- each side is snapped to the strongest nearby edge (robust line fit
   through per-sample gradient maxima) and the corners are re-intersected.

When nothing convincing is found (e.g. the photo is already a tight crop, with no wall), the
result says so (``found=False``, the whole image), so callers can pass the photo on as is.

The public API is :mod:`.locate`'s: ``ArtworkRegion``, ``locate_artwork`` (the best one),
``locate_artworks`` (every one, for a wall with several), ``rectify`` and ``crop_artwork``;
the other modules are the locator's own parts.
"""

from __future__ import annotations

from .locate import (
    MAIN_SUBJECT,
    ArtworkRegion,
    LocatorScene,
    Looking,
    crop_artwork,
    locate_artwork,
    locate_artworks,
    rectify,
)

__all__ = [
    "MAIN_SUBJECT",
    "ArtworkRegion",
    "LocatorScene",
    "Looking",
    "crop_artwork",
    "locate_artwork",
    "locate_artworks",
    "rectify",
]
