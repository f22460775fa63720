"""Contact sheets: a query and its top related works, one row per style, as one PNG.

A reader sees at a glance what the mAP figures mean: each row starts with the query (framed
blue) and shows the works ``/v1/items/{id}/related`` returned for it, best first, framed green
when they share the query's style and red when not, with their style written under them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

TILE = 104
PAD = 6
CAPTION = 16
LABEL_W = 130
QUERY_COLOUR = (40, 90, 200)
SAME_COLOUR = (30, 150, 60)
OTHER_COLOUR = (200, 40, 40)


@dataclass(frozen=True)
class SheetRow:
    style: str
    query: Path
    results: Sequence[tuple[Path, str]]  # (picture, its style), best first


def _tile(path: Path, colour: tuple[int, int, int]) -> Image.Image:
    with Image.open(path) as im:
        pic = ImageOps.pad(im.convert("RGB"), (TILE - 2 * 4, TILE - 2 * 4), color=(255, 255, 255))
    return ImageOps.expand(pic, border=4, fill=colour)


def write_contact_sheet(rows: Sequence[SheetRow], out: Path) -> Path:
    """Draw ``rows`` into a PNG at ``out`` (its folder is created)."""
    width = max(1, max((len(r.results) for r in rows), default=0) + 1)
    sheet = Image.new("RGB", (LABEL_W + width * (TILE + PAD) + PAD, len(rows) * (TILE + CAPTION + PAD) + PAD), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for r, row in enumerate(rows):
        top = PAD + r * (TILE + CAPTION + PAD)
        draw.text((PAD, top + TILE // 2 - 6), row.style.replace("_", " "), fill="black", font=font)
        sheet.paste(_tile(row.query, QUERY_COLOUR), (LABEL_W, top))
        draw.text((LABEL_W, top + TILE + 2), "query", fill=QUERY_COLOUR, font=font)
        for c, (path, style) in enumerate(row.results, start=1):
            colour = SAME_COLOUR if style == row.style else OTHER_COLOUR
            left = LABEL_W + c * (TILE + PAD)
            sheet.paste(_tile(path, colour), (left, top))
            draw.text((left, top + TILE + 2), f"{c}. {style.replace('_', ' ')}"[:22], fill=colour, font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours are plenty for thumbnails and keep the file a fraction of the full-colour size.
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out
