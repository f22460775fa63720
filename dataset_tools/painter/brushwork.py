"""Seven painting styles named after the WikiArt classes the style classifier knows, for the
fake Europeana's records: a palette over a two-colour gradient ground and one kind of stroke.

Why so simple: the fake only needs each record to *look like its style* (so visual search and
the classifier have something to find) and unlike every other record (so deduplication keeps
them apart); these are not meant to resemble real baroque or symbolist paintings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw

from .canvas import RGB, Rng, facet, jitter, pick, to_image, vertical_gradient

__all__ = ["WIKIART_STYLES", "Brushwork"]

Stroke = Literal["dab", "shard", "arc", "block"]


@dataclass(frozen=True)
class Brushwork:
    """Ground from ``palette[0]`` (top) to ``palette[1]`` (bottom), then ``strokes`` strokes
    of one kind in palette colours.  Stroke sizes are relative to a 320 px wide picture."""

    palette: tuple[RGB, ...]
    stroke: Stroke
    strokes: int = 12
    stroke_size: float = 1.0

    def __call__(self, rng: Rng, width: int, height: int) -> Image.Image:
        top, bottom = jitter(rng, self.palette[0], 10), jitter(rng, self.palette[1], 10)
        img = to_image(vertical_gradient(height, width, top, bottom))
        draw = ImageDraw.Draw(img)
        scale = width / 320
        for _ in range(self.strokes):
            colour = jitter(rng, pick(rng, self.palette), 12)
            x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
            r = float(rng.uniform(4, 40)) * scale * self.stroke_size
            if self.stroke == "shard":  # big angular planes
                draw.polygon(facet(rng, x, y, 2.5 * r, 3), fill=colour)
            elif self.stroke == "arc":  # curling lines
                start, end = float(rng.uniform(0, 180)), float(rng.uniform(180, 360))
                draw.arc((x - 2 * r, y - r, x + 2 * r, y + r), start, end, fill=colour, width=max(1, round(4 * scale)))
            elif self.stroke == "block":  # broad horizontal blocks of light and shade
                draw.rectangle((x - r, y - r / 2, x + r, y + r / 2), fill=colour)
            else:  # round dabs
                draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        return img


WIKIART_STYLES: dict[str, Brushwork] = {
    "art_nouveau": Brushwork(((212, 175, 55), (85, 107, 47), (240, 230, 200), (140, 90, 40)), "arc"),
    "baroque": Brushwork(((40, 25, 15), (120, 70, 30), (230, 200, 150), (90, 10, 10)), "block"),
    "expressionism": Brushwork(((220, 30, 40), (20, 60, 200), (250, 210, 0), (10, 10, 10)), "shard"),
    "impressionism": Brushwork(((170, 210, 240), (120, 180, 120), (250, 240, 200), (230, 170, 190)), "dab", 40, 0.3),
    "post_impressionism": Brushwork(((250, 200, 30), (30, 60, 150), (60, 140, 80), (240, 120, 30)), "arc"),
    "romanticism": Brushwork(((60, 50, 70), (220, 120, 50), (250, 220, 160), (30, 40, 60)), "dab"),
    "symbolism": Brushwork(((60, 20, 90), (20, 30, 80), (200, 170, 220), (230, 200, 80)), "dab"),
}
