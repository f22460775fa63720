"""The web page's "Why?" says how a trained style model ranked: in a real headless Chromium,
over a collection of real WikiArt paintings with an art-style model trained on them
(``artsnap train-style --register`` then ``artsnap reindex``, as a curator does).

A search with a painting's scan and one with a drawing made from a painting each show the
image-type model's choice ("weighted for a painting scan …", "weighted for a drawing or print
…") and the words of every descriptor it weighted (the style statistics, the art-style
embedding), exactly as the server's answer gives them; a tap on a result shows related works
with the same kind of reasons. Skips without the shared WikiArt zip or Chromium.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import test_web_page as web
from .test_web_page import _cards, _open, _search

# The browser fixtures of test_web_page (a real Chromium); this module serves its own data.
playwright_api, browser, page_errors, page = web.playwright_api, web.browser, web.page_errors, web.page

pytestmark = pytest.mark.browser

STYLES = ("baroque", "impressionism", "symbolism")
PER_STYLE = 14  # the collection and the training data: 42 paintings, 6 of them held out
#: What the "Why?" list says for each descriptor (backend.engine.fusion).
WORDS = {
    "cnn": "looks alike (CNN embedding)",
    "style": "similar brushwork and texture (style statistics)",
    "artstyle": "same art style (style embedding trained on this collection's labels)",
    "color": "similar colours",
}


@pytest.fixture(scope="module")
def style_site(
    tmp_path_factory: pytest.TempPathFactory, wikiart_zip: Path, models_dir: Path, embedding_model
) -> Iterator[dict[str, Any]]:
    """A real server over 42 ingested paintings with a registered style model and its index."""
    from werkzeug.serving import make_server

    from backend.api import create_app
    from backend.cli import main
    from backend.config import Settings

    root = tmp_path_factory.mktemp("web-style")
    labelled, strangers = root / "labelled", root / "strangers"
    with zipfile.ZipFile(wikiart_zip) as z:
        for style in STYLES:
            names = sorted(n for n in z.namelist() if n.startswith(style + "/") and "_dup" not in n)
            for folder, part in ((labelled, names[:PER_STYLE]), (strangers, names[PER_STYLE : PER_STYLE + 1])):
                for n in part:
                    (folder / n).parent.mkdir(parents=True, exist_ok=True)
                    (folder / n).write_bytes(z.read(n))
    data_dir = root / "data"
    data_dir.mkdir()
    (data_dir / "models").symlink_to(models_dir.resolve(), target_is_directory=True)
    base = ["--data-dir", str(data_dir)]
    assert main([*base, "ingest", str(labelled), "--collection", "art", "--quiet"]) == 0
    train = ["train-style", str(labelled), "--out", str(root / "style-model"), "--cache-dir", str(models_dir)]
    assert main([*base, *train, "--epochs", "20", "--variants-per-label", "3", "--register", "--quiet"]) == 0
    assert main([*base, "reindex", "--collection", "art"]) == 0

    app = create_app(Settings(data_dir=data_dir))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="artsnap-web-style-test", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "labelled": labelled, "strangers": strangers}
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["artsnap.engine"].close()


def _search_and_answer(page: Any, path: Path) -> dict[str, Any]:
    """Search with ``path`` on the page; the server's JSON answer, as the page received it."""
    with page.expect_response(lambda r: r.url.endswith("/search") and r.request.method == "POST") as answer:
        _search(page, path)
    body: dict[str, Any] = answer.value.json()
    return body


def _why(page: Any, grid: str, index: int) -> list[str]:
    """Open card ``index``'s "Why?" as a visitor does and read what it lists."""
    page.mouse.move(0, 0)  # hovering a card shows its reasons too: start from closed
    card = page.locator(f"{grid} > .card").nth(index)
    reasons = card.locator(".reasons")
    assert not reasons.is_visible()
    card.locator(".why").click()
    assert reasons.is_visible()
    return [t.strip() for t in reasons.locator("li").all_inner_texts()]


def _assert_shows_the_weighting(shown: list[str], weighting: dict[str, Any], kind_words: str) -> None:
    lead = [r for r in shown if r.startswith("weighted for")]
    assert len(lead) == 1 and lead[0].startswith(f"weighted for {kind_words} ("), shown
    for descriptor, weight in weighting["weights"].items():
        assert weight > 0 and any(r.startswith(WORDS[descriptor] + ": ") for r in shown), (descriptor, shown)


def test_why_shows_the_image_type_weighting_and_the_style_reasons(
    page: Any, style_site: dict[str, Any], tmp_path: Path
) -> None:
    from edge_models.type_training import render_variant

    _open(page, style_site)
    assert page.locator("#collection").input_value() == "art"
    used: set[str] = set()

    # A painting's own scan: weighted for a scan, and the page lists the answer's reasons as given.
    scan = sorted((style_site["labelled"] / STYLES[0]).glob("*.jpg"))[0]
    answer = _search_and_answer(page, scan)
    weighting = answer["query"]["weighting"]
    assert weighting["source"] == "image type" and weighting["type"] == "scan", weighting
    assert _cards(page)[0]["path"] == f"{STYLES[0]}/{scan.name}"
    shown = _why(page, "#results", 0)
    assert shown == answer["results"][0]["reasons"]
    _assert_shows_the_weighting(shown, weighting, "a painting scan")
    used |= set(weighting["weights"])

    # A drawing made from a painting the collection does not hold: weighted for a drawing.
    stranger = sorted((style_site["strangers"] / STYLES[1]).glob("*.jpg"))[0]
    drawing = tmp_path / "drawing.jpg"
    drawing.write_bytes(render_variant("drawing", stranger.read_bytes(), seed=3))
    answer = _search_and_answer(page, drawing)
    weighting = answer["query"]["weighting"]
    assert weighting["source"] == "image type" and weighting["type"] == "drawing", weighting
    shown = _why(page, "#results", 0)
    assert shown == answer["results"][0]["reasons"]
    _assert_shows_the_weighting(shown, weighting, "a drawing or print")
    used |= set(weighting["weights"])

    # Between them, the two kinds of query lean on both style descriptors, and the page said so.
    assert {"style", "artstyle"} <= used, used

    # Related works of a result (its stored vectors: a scan) say the same kind of why.
    with page.expect_response(lambda r: "/related" in r.url) as related:
        page.locator("#results > .card .card-main").first.click()
    body = related.value.json()
    page.wait_for_selector("#related > .card")
    assert body["weighting"]["type"] == "scan", body["weighting"]
    shown = _why(page, "#related", 0)
    assert shown == next(h["reasons"] for h in body["results"] if h["id"] == _cards(page, "#related")[0]["id"])
    _assert_shows_the_weighting(shown, body["weighting"], "a painting scan")
