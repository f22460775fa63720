"""Titles, labels and paths are shown as text on the page, never run as HTML (no XSS).

Anyone who can add an item (a curator's CSV, a Europeana record's title, an upload) decides
the strings the page shows every visitor. Items here carry markup and script in their title,
curator labels, model labels and source path; a real Chromium searches with one, opens the
"Why?" reasons and its related works, and the test proves the strings arrive literally:
same text, no element injected, no script run, no request for the injected ``src``.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.web.test_web_page import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, sync_api

pytestmark = pytest.mark.browser


def _mark(where: str) -> str:
    """Script that would leave a trace on <body> if it ever ran."""
    return f"document.body.dataset.xss='{where}'"


TITLE_A = f'<img src=x onerror="{_mark("title")}"> Sunset & <b>bold</b>'
TITLE_B = f"<i>Dusk</i> <script>{_mark('script')}</script> \"quoted\" 'single'"
LABEL_SHARED = "<b>bold</b>"
LABEL_IMG = f'<img src=x onerror="{_mark("label")}">'
LABEL_MACHINE = f'<svg onload="{_mark("machine")}"></svg>model'
PATH_A = f'uploads/<img src=x onerror="{_mark("path")}">.png'
PATH_B = "uploads/b&amp;<u>.png"


def _picture(rgb: tuple[int, int, int], accent: tuple[int, int, int], mirrored: bool = False) -> bytes:
    arr = np.zeros((180, 240, 3), np.uint8)
    arr[...] = rgb
    arr[40:140, 60:170] = accent
    arr[60:80, 80:220] = (250, 250, 250)
    if mirrored:
        arr = arr[::-1, ::-1]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


IMAGE_A = _picture((200, 40, 30), (20, 30, 180))
# Same palette, other layout: not a near duplicate of A, but among A's related works.
IMAGE_B = _picture((190, 50, 35), (25, 35, 170), mirrored=True)


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> Iterator[dict[str, Any]]:
    """The real app on a real server, over the demo collection plus two items with markup in
    every string a visitor sees, added through the HTTP API."""
    from werkzeug.serving import make_server

    from backend.api import create_app
    from backend.config import Settings

    data_dir = tmp_path_factory.mktemp("web-escaping") / "data"
    shutil.copytree(demo_data_dir, data_dir, symlinks=True)
    app = create_app(Settings(data_dir=data_dir))
    engine = app.extensions["artsnap.engine"]
    client = app.test_client()
    ids = {}
    for key, image, title, labels, path in (
        ("a", IMAGE_A, TITLE_A, [LABEL_SHARED, LABEL_IMG], PATH_A),
        ("b", IMAGE_B, TITLE_B, [LABEL_SHARED], PATH_B),
    ):
        resp = client.post(
            "/v1/collections/demo/items",
            data={
                "image": (io.BytesIO(image), "x.png"),
                "title": title,
                "labels": json.dumps(labels),
                "source_path": path,
            },
        )
        assert resp.status_code == 201, resp.get_json()
        item = resp.get_json()
        assert item["title"] == title and item["source_path"] == path  # stored as given
        ids[key] = item["id"]
    engine.catalog.add_machine_labels({ids["a"]: [(LABEL_MACHINE, 0.7)]}, None)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="artsnap-web-escaping", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "ids": ids}
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """(page, problems, requested URLs): page errors, console errors and every request made."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    p = ctx.new_page()
    problems: list[str] = []
    requested: list[str] = []
    p.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    p.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    p.on("request", lambda r: requested.append(r.url))
    yield p, problems, requested
    ctx.close()


# What a card may contain (index.html's template plus the chips, reasons and thumbnail).
CARD_TAGS = {"LI", "BUTTON", "SPAN", "IMG", "UL"}
INJECTED = "#results b, #results i, #results u, #results script, #results svg, #related b, #related i, #related u, \
#related script, #related svg, #related-title *, #related-about b, #related-about img, #related-about script"


def _card(page: Any, grid: str, item_id: int) -> Any:
    return page.locator(f"{grid} > .card[data-id='{item_id}']")


def _assert_literal_card(page: Any, grid: str, item_id: int, title: str, labels: list[str]) -> Any:
    card = _card(page, grid, item_id)
    assert card.count() == 1, f"item {item_id} is not in {grid}"
    assert card.locator(".card-title").text_content() == title
    assert card.locator(".card-title").evaluate("e => e.children.length") == 0
    chips = card.locator(".chip").evaluate_all("cs => cs.map(c => c.firstChild.textContent)")
    assert sorted(chips) == sorted(labels), chips
    alt = card.locator(".thumb img").get_attribute("alt")
    assert alt.startswith(title) and all(lb in alt for lb in labels), alt
    tags = set(card.evaluate("c => [...c.querySelectorAll('*')].map(e => e.tagName)"))
    assert tags <= CARD_TAGS, f"elements injected into the card: {tags - CARD_TAGS}"
    assert card.locator("img").count() == 1  # the thumbnail, nothing else
    return card


def _open_reasons(card: Any) -> list[str]:
    card.locator(".why").click()
    reasons = card.locator(".reasons")
    assert reasons.is_visible()
    assert reasons.evaluate("r => [...r.querySelectorAll('*')].every(e => e.tagName === 'LI')")
    return reasons.locator("li").all_text_contents()


def test_markup_in_titles_labels_and_paths_is_shown_as_text(
    page: tuple[Any, list[str], list[str]], hostile_site: dict[str, Any], tmp_path: Path
) -> None:
    pg, problems, requested = page
    ids = hostile_site["ids"]
    photo = tmp_path / "query.png"
    photo.write_bytes(IMAGE_A)

    pg.goto(hostile_site["url"] + "/")
    pg.wait_for_selector("body[data-ready]")
    pg.set_input_files("#photo", str(photo))
    pg.wait_for_selector("body[data-state=results]")
    first = pg.locator("#results > .card").first
    assert first.get_attribute("data-id") == str(ids["a"])
    card_a = _assert_literal_card(pg, "#results", ids["a"], TITLE_A, [LABEL_SHARED, LABEL_IMG, LABEL_MACHINE])
    assert card_a.locator(".card-title").get_attribute("title") == PATH_A
    assert card_a.locator(".chip-machine").text_content() == f"{LABEL_MACHINE} 70%"
    assert all(r.startswith(("looks alike", "similar colours")) for r in _open_reasons(card_a))

    # Related works of A: B shares the label "<b>bold</b>", and the reason says so literally.
    card_a.locator(".card-main").click()
    pg.wait_for_selector("#related > .card")
    pg.wait_for_function("() => !document.querySelector('#related-panel').hasAttribute('aria-busy')")
    assert pg.locator("#related-title").text_content() == f"Related to “{TITLE_A}”"
    assert PATH_A in pg.locator("#related-about").text_content()
    card_b = _assert_literal_card(pg, "#related", ids["b"], TITLE_B, [LABEL_SHARED])
    assert card_b.locator(".card-title").get_attribute("title") == PATH_B
    assert f"shares label '{LABEL_SHARED}' with this item (1.00)" in _open_reasons(card_b)

    # Let every thumbnail (and anything injected) load or fail before looking for traces.
    pg.wait_for_function("() => [...document.querySelectorAll('img')].every(i => !i.getAttribute('src') || i.complete)")
    pg.wait_for_load_state("networkidle")
    assert pg.locator(INJECTED).count() == 0, pg.locator(INJECTED).evaluate_all("es => es.map(e => e.outerHTML)")
    assert pg.evaluate("document.body.dataset.xss") is None, "injected script ran"
    stray = [u for u in requested if u.rstrip("/").endswith("/x")]
    assert not stray, f"the page requested an injected image: {stray}"
    assert not problems, problems
