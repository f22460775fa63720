"""The web page says what recognition found, in a real headless Chromium: "Found: <title>"
for a photographed catalogue painting, "Not in this collection: similar works" for a
stranger, and one tappable outline per artwork when the photo holds several."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dataset_tools.camera_snap import simulate_snap
from dataset_tools.demo import paint

from . import test_web_page as web
from .test_web_page import _cards, _open, _search

# The page fixtures of test_web_page (a real server over the demo data, a real Chromium).
playwright_api, browser, site, page_errors, page = web.playwright_api, web.browser, web.site, web.page_errors, web.page

pytestmark = pytest.mark.browser

KNOWN = "pointillism/pointillism_0002.jpg"


def _snap_file(tmp_path: Path, image: Any, seed: int) -> Path:
    snap = simulate_snap(image, np.random.default_rng(seed))
    path = tmp_path / "snap.jpg"
    path.write_bytes(snap.jpeg)
    return path


def test_a_snap_of_a_catalogue_painting_says_found_with_its_outline(
    page: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    from PIL import Image

    photo = _snap_file(tmp_path, Image.open(site["source"] / KNOWN).convert("RGB"), seed=4)
    _open(page, site)
    _search(page, photo)
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and verdict.inner_text() == "Found: pointillism 0002"
    assert "found" in verdict.get_attribute("class").split()
    assert _cards(page)[0]["path"] == KNOWN  # the recognised work first
    assert page.locator("#artwork-overlay").is_visible()  # its outline on the photo
    assert page.locator("#regions-overlay").get_attribute("hidden") is not None  # one artwork: no picker


def test_a_painting_not_in_the_collection_says_so_and_shows_similar_works(
    page: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    stranger = paint("pointillism", 30, size=192, seed=0)  # the demo holds indices 0-5
    _open(page, site)
    _search(page, _snap_file(tmp_path, stranger, seed=6))
    verdict = page.locator("#verdict")
    assert verdict.inner_text() == "Not in this collection: similar works"
    assert "not-found" in verdict.get_attribute("class").split()
    cards = _cards(page)
    assert len(cards) >= 5 and any(c["path"].startswith("pointillism/") for c in cards[:5])


def _hit(site: dict[str, Any], path: str, score: float) -> dict[str, Any]:
    item_id = site["ids"][path]
    return {
        "id": item_id,
        "source_path": path,
        "title": None,
        "score": score,
        "scores": {"cnn": score},
        "labels": [],
        "reasons": [],
        "duplicates": [],
        "thumbnail_url": f"/v1/items/{item_id}/thumbnail",
    }


def test_several_artworks_are_outlines_to_tap(page: Any, site: dict[str, Any], tmp_path: Path) -> None:
    """The page's part only: the server's answer for a wall of two (one recognised, one not)
    is given, so the test says what the page does with it."""
    left, right, similar = "cubist/cubist_0001.jpg", "stripes/stripes_0003.jpg", "stripes/stripes_0004.jpg"
    first = {**_hit(site, left, 0.9), "corners": [[40, 60], [280, 60], [280, 380], [40, 380]], "evidence": {}}
    answer = {
        "collection": "demo",
        "results": [_hit(site, left, 0.9), _hit(site, similar, 0.5)],
        "match": first,
        "regions": [
            {
                "corners": first["corners"],
                "found_by": "recognition",
                "match": first,
                "results": [_hit(site, left, 0.9)],
            },
            {
                "corners": [[360, 80], [600, 80], [600, 400], [360, 400]],
                "found_by": "locator",
                "match": None,
                "results": [_hit(site, right, 0.7), _hit(site, similar, 0.6)],
            },
        ],
        "query": {"artwork": None, "photo_size": [640, 480], "labels": []},
        "timings_ms": {"total_ms": 5.0},
        "models": [],
        "warnings": [],
    }
    page.route("**/v1/collections/demo/search", lambda route: route.fulfill(json=answer))
    photo = tmp_path / "wall.jpg"
    from PIL import Image

    Image.new("RGB", (640, 480), (200, 190, 180)).save(photo)
    _open(page, site)
    _search(page, photo)

    outlines = page.locator("#regions-overlay .region-outline")
    assert page.locator("#regions-overlay").is_visible() and outlines.count() == 2
    assert outlines.nth(0).get_attribute("aria-pressed") == "true"  # the main artwork is chosen
    assert "recognised" in outlines.nth(0).get_attribute("class").split()
    assert page.locator("#verdict").inner_text() == "Found: cubist 0001"

    outlines.nth(1).click()  # tap the other painting
    assert page.locator("#verdict").inner_text() == "Not in this collection: similar works"
    assert [c["path"] for c in _cards(page)] == [right, similar]
    assert outlines.nth(1).get_attribute("aria-pressed") == "true"
    assert outlines.nth(0).get_attribute("aria-pressed") == "false"

    outlines.nth(0).focus()  # and by keyboard
    page.keyboard.press("Enter")
    assert page.locator("#verdict").inner_text() == "Found: cubist 0001"
    assert [c["path"] for c in _cards(page)] == [left]
