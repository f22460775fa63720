"""A small built-in collection for the fake, so the demo runs without ``../shared``.

24 records in the seven WikiArt styles the classifier knows, each with a generated PNG
(style-dependent palette and brushwork, so visual search has something to find) served as
``edmIsShownBy`` and a smaller one as ``edmPreview``. A few records carry the awkward cases
a pull job must handle: an in-copyright and a non-commercial licence, one with only a
preview, one with no image at all.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

STYLES = ("art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism", "romanticism", "symbolism")
DATASET = "9200999"
RECORD_COUNT = 24

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
PDM = "http://creativecommons.org/publicdomain/mark/1.0/"
CC_BY = "http://creativecommons.org/licenses/by/4.0/"
CC_BY_SA = "http://creativecommons.org/licenses/by-sa/4.0/"
CC_BY_NC = "http://creativecommons.org/licenses/by-nc/4.0/"
IN_COPYRIGHT = "http://rightsstatements.org/vocab/InC/1.0/"

PROVIDERS = ("Artsnap Demo Museum", "Musée Imaginaire", "Rijksmuseum van Verzinsels")
_OPEN_RIGHTS = (CC0, PDM, CC_BY, CC_BY_SA)

#: index → what is special about that record (everything else: open licence, both images)
SPECIAL_CASES = {5: "in_copyright", 11: "non_commercial", 17: "preview_only", 22: "no_image"}

_PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "art_nouveau": ((212, 175, 55), (85, 107, 47), (240, 230, 200), (140, 90, 40)),
    "baroque": ((40, 25, 15), (120, 70, 30), (230, 200, 150), (90, 10, 10)),
    "expressionism": ((220, 30, 40), (20, 60, 200), (250, 210, 0), (10, 10, 10)),
    "impressionism": ((170, 210, 240), (120, 180, 120), (250, 240, 200), (230, 170, 190)),
    "post_impressionism": ((250, 200, 30), (30, 60, 150), (60, 140, 80), (240, 120, 30)),
    "romanticism": ((60, 50, 70), (220, 120, 50), (250, 220, 160), (30, 40, 60)),
    "symbolism": ((60, 20, 90), (20, 30, 80), (200, 170, 220), (230, 200, 80)),
}


@dataclass(frozen=True)
class SyntheticRecord:
    index: int
    local_id: str
    style: str
    title: str
    rights: str
    data_provider: str
    has_full_image: bool
    has_preview: bool

    @property
    def record_id(self) -> str:
        return f"/{DATASET}/{self.local_id}"


def synthetic_records() -> list[SyntheticRecord]:
    records = []
    for index in range(RECORD_COUNT):
        style = STYLES[index % len(STYLES)]
        case = SPECIAL_CASES.get(index)
        rights = {"in_copyright": IN_COPYRIGHT, "non_commercial": CC_BY_NC}.get(
            case or "", _OPEN_RIGHTS[index % len(_OPEN_RIGHTS)]
        )
        pretty = style.replace("_", " ").title().replace(" ", "-" if style == "post_impressionism" else " ")
        records.append(
            SyntheticRecord(
                index=index,
                local_id=f"artsnap_demo_{index:03d}",
                style=style,
                title=f"{pretty} study no. {index // len(STYLES) + 1}",
                rights=rights,
                data_provider=PROVIDERS[index % len(PROVIDERS)],
                has_full_image=case not in ("preview_only", "no_image"),
                has_preview=case != "no_image",
            )
        )
    return records


def search_item(record: SyntheticRecord, media_base: str) -> dict[str, Any]:
    """A search item shaped like the real ones (lists everywhere, ``guid`` with utm tags)."""
    rid = record.record_id
    item: dict[str, Any] = {
        "id": rid,
        "title": [record.title],
        "dcTitleLangAware": {"en": [record.title]},
        "dcDescription": [f"A synthetic {record.style.replace('_', ' ')} painting made for the artsnap demo."],
        "dcCreator": ["artsnap synthetic painter"],
        "dataProvider": [record.data_provider],
        "provider": ["artsnap demo aggregator"],
        "rights": [record.rights],
        "type": "IMAGE",
        "country": ["Europe"],
        "language": ["en"],
        "year": [str(1850 + record.index * 3)],
        "edmIsShownAt": [f"https://demo.artsnap.invalid/object/{record.local_id}"],
        "guid": f"https://www.europeana.eu/item{rid}?utm_source=api&utm_medium=api&utm_campaign=fake",
        "europeanaCollectionName": [f"{DATASET}_artsnap_demo"],
        "score": 1.0,
    }
    if record.has_full_image:
        item["edmIsShownBy"] = [f"{media_base}{rid}/full.png"]
    if record.has_preview:
        item["edmPreview"] = [f"{media_base}{rid}/preview.png"]
    return item


def style_of(record_id: str) -> str:
    """Style used to paint images of ``record_id``; stable for ids outside the built-in set."""
    for record in synthetic_records():
        if record.record_id == record_id:
            return record.style
    digest = hashlib.sha1(record_id.encode()).digest()
    return STYLES[digest[0] % len(STYLES)]


def render_png(record_id: str, *, size: tuple[int, int] = (320, 240), style: str | None = None) -> bytes:
    """A deterministic painting-like PNG for ``record_id`` (same id → same bytes)."""
    style = style or style_of(record_id)
    palette = _PALETTES[style]
    rng = random.Random(hashlib.sha256(record_id.encode()).digest())
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top, bottom = palette[0], palette[1]
    for y in range(height):
        t = y / max(height - 1, 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    scale = width / 320
    for _ in range(40 if style == "impressionism" else 12):
        colour = palette[rng.randrange(len(palette))]
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(4, 40) * scale * (0.3 if style == "impressionism" else 1.0)
        if style in ("expressionism",):
            points = [(x + rng.uniform(-3 * r, 3 * r), y + rng.uniform(-3 * r, 3 * r)) for _ in range(3)]
            draw.polygon(points, fill=colour)
        elif style in ("post_impressionism", "art_nouveau"):
            draw.arc(
                [x - 2 * r, y - r, x + 2 * r, y + r],
                rng.uniform(0, 180),
                rng.uniform(180, 360),
                fill=colour,
                width=max(1, int(4 * scale)),
            )
        elif style == "baroque":
            draw.rectangle([x - r, y - r / 2, x + r, y + r / 2], fill=colour)
        else:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
