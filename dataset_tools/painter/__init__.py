"""The one procedural painter behind every picture the project makes for itself.

Nothing may be downloaded and the WikiArt set in the shared data folder is research-only, so the demo
collection (:mod:`dataset_tools.demo`), the labelled training styles
(:mod:`dataset_tools.synthetic_styles`) and the fake Europeana's record images
(:mod:`europeana_sync.fake.synthetic`) are all painted here.  Those modules only decide
layout, labels and metadata; styles, drawing primitives and the random-number discipline live
in this package:

* :data:`FAMILIES` — the demo's eight families that look nothing alike (colour, texture and
  structure differ, so a pretrained CNN tells them apart and a search visibly returns its
  family; within a family palette, layout and counts vary, so search has neighbours to rank);
* :data:`TEXTURES` — three textures with random colours, for the training-pipeline tests;
* :data:`WIKIART_STYLES` — seven palette-and-brushwork styles named after WikiArt classes.

The random-number discipline: a painter draws only from the stream it is handed, and streams
are made by :func:`painting_rng` of the keys that name what is painted — a seed, then e.g.
family and index (the demo), or a record id (the fake).  A picture is then a pure function of
its name (byte-identical for the same keys), and with one stream per picture asking for more
pictures never reshuffles the earlier ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
from PIL import Image

from . import abstracts, figurative, textures
from .brushwork import WIKIART_STYLES
from .canvas import Rng, square

__all__ = ["FAMILIES", "PAINTERS", "TEXTURES", "WIKIART_STYLES", "Painter", "paint", "painting_rng"]

#: ``painter(rng, width, height)`` draws one picture of exactly that size.
Painter = Callable[[Rng, int, int], Image.Image]

FAMILIES: dict[str, Painter] = {
    "mondrian": square(abstracts.mondrian),
    "stripes": square(abstracts.stripes),
    "seascape": square(figurative.seascape),
    "starry_swirls": square(figurative.starry_swirls),
    "pointillism": square(figurative.pointillism),
    "portrait": square(figurative.portrait),
    "cubist": square(abstracts.cubist),
    "ink_wash": square(figurative.ink_wash),
}
TEXTURES: dict[str, Painter] = {"grating": textures.grating, "discs": textures.discs, "wash": textures.wash}

#: Every style by name; the names are unique across the three groups.
PAINTERS: dict[str, Painter] = {**FAMILIES, **TEXTURES, **WIKIART_STYLES}
if len(PAINTERS) != len(FAMILIES) + len(TEXTURES) + len(WIKIART_STYLES):  # pragma: no cover - a naming slip
    raise RuntimeError("two painter styles share a name")


def painting_rng(*keys: int | str) -> np.random.Generator:
    """The random stream of the picture named by ``keys`` (non-negative ints or strings).

    Strings enter through SHA-256, not :func:`hash`, which Python salts per process.
    """
    if not keys:
        raise ValueError("a picture needs at least one key")
    entropy = []
    for key in keys:
        if isinstance(key, str):
            entropy.append(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
        elif key >= 0:
            entropy.append(int(key))
        else:
            raise ValueError(f"integer keys must be non-negative, not {key}")
    return np.random.default_rng(entropy)


def paint(style: str, rng: Rng, size: int | tuple[int, int], *, supersample: int = 2) -> Image.Image:
    """One picture of ``style`` at ``size`` (``(width, height)`` or a square's side).

    Shapes are drawn at ``supersample`` times the size and box-averaged down: the cheap way
    to anti-alias with Pillow (20x faster than LANCZOS).
    """
    try:
        painter = PAINTERS[style]
    except KeyError:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(PAINTERS)}") from None
    width, height = (size, size) if isinstance(size, int) else size
    if width < 1 or height < 1 or supersample < 1:
        raise ValueError("size and supersample must be positive")
    big = painter(rng, width * supersample, height * supersample)
    return big if supersample == 1 else big.reduce(supersample)
