"""A small built-in collection for the fake, so the demo runs without the shared data folder.

24 records in the seven WikiArt styles the classifier knows, each with a PNG painted by
:data:`dataset_tools.painter.WIKIART_STYLES` (style-dependent palette and brushwork, so
visual search has something to find) served as ``edmIsShownBy`` and a smaller one as
``edmPreview``. A few records carry the awkward cases
a pull job must handle: an in-copyright and a non-commercial licence, one with only a
preview, one with no image at all.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from dataset_tools import painter

#: the WikiArt classes the style classifier knows; each is a style of :mod:`dataset_tools.painter`
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
    """A deterministic painting-like PNG for ``record_id`` (same id → same bytes; the full
    image and the preview show the same picture at two sizes)."""
    image = painter.paint(style or style_of(record_id), painter.painting_rng(record_id), size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
