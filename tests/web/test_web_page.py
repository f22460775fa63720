"""The web page at ``/`` in a real headless Chromium (Debian's ``/usr/bin/chromium``).

The real app is served by a real threaded werkzeug server on 127.0.0.1 over a copy of the
session's demo collection (8 generated families x 6 images), and Playwright drives the page
the way a visitor does: choose a photo, read the grid, tap a result. Nothing is downloaded
(no ``playwright install``); the tests skip with a reason when Chromium or Playwright is
missing.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("ARTSNAP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Checked here, not in a fixture: pytest sets session fixtures (the demo ingest) up first.
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium) — browser tests need it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

TIMEOUT_MS = 30_000  # a search is ~0.1-0.5 s; generous for 2 busy cores
QUERY_PATH = "stripes/stripes_0001.jpg"  # a catalogue image the page searches with


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def playwright_api() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    b = playwright_api.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path, demo_source: Any) -> Iterator[dict[str, Any]]:
    """The real app on a real server over a private copy of the demo data folder."""
    from flask import request
    from werkzeug.serving import make_server

    from backend.api import create_app
    from backend.config import Settings

    data_dir = tmp_path_factory.mktemp("web") / "data"
    shutil.copytree(demo_data_dir, data_dir, symlinks=True)  # ``models`` stays a link to the shared export
    app = create_app(Settings(data_dir=data_dir))
    engine = app.extensions["artsnap.engine"]
    ids = {it.source_path: it.id for it in _items(engine)}
    # A model's suggestion on the query image, so the page has both kinds of label chip.
    engine.catalog.add_machine_labels({ids[QUERY_PATH]: [("op art", 0.83)]}, None)

    # What the page uploads, as the server received it (the browser does not expose blob bodies).
    uploads: list[dict[str, Any]] = []

    @app.before_request
    def _record_upload() -> None:
        if request.method == "POST" and request.path.endswith("/search") and "image" in request.files:
            f = request.files["image"]
            uploads.append({"image": f.read(), "filename": f.filename, "options": request.form.get("options")})
            f.seek(0)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="artsnap-web-test", daemon=True)
    thread.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{server.server_port}",
            "ids": ids,
            "source": Path(demo_source.out_dir),
            "uploads": uploads,
        }
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.close()


def _items(engine: Any) -> list[Any]:
    cid = engine.catalog.collection_id("demo")
    return list(engine.catalog.get_items(engine.catalog.ids_with_status(cid, "indexed")).values())


@pytest.fixture
def page_errors() -> list[str]:
    return []


def _new_page(browser: Any, page_errors: list[str], **context_kw: Any) -> Any:
    ctx = browser.new_context(**context_kw)
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    page.on("pageerror", lambda exc: page_errors.append(f"pageerror: {exc}"))
    # The browser logs every 4xx answer; the error test's 400 is expected, anything else is not.
    expected = "the server responded with a status of 400"
    page.on(
        "console",
        lambda m: (
            page_errors.append(f"console.error: {m.text}") if m.type == "error" and expected not in m.text else None
        ),
    )
    return page


@pytest.fixture
def page(browser: Any, page_errors: list[str]) -> Iterator[Any]:
    p = _new_page(browser, page_errors, viewport={"width": 1280, "height": 900})
    yield p
    p.context.close()
    assert not page_errors, page_errors


@pytest.fixture
def phone(browser: Any, page_errors: list[str]) -> Iterator[Any]:
    p = _new_page(
        browser,
        page_errors,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    yield p
    p.context.close()
    assert not page_errors, page_errors


def _open(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/")
    page.wait_for_selector("body[data-ready]")


def _search(page: Any, path: Path | str) -> None:
    page.set_input_files("#photo", str(path))
    page.wait_for_selector("body[data-state=results]")


def _thumbnails_loaded(page: Any, grid: str = "#results") -> None:
    page.wait_for_function(
        f"""() => {{
            const imgs = [...document.querySelectorAll('{grid} .thumb img')];
            return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }}"""
    )


def _cards(page: Any, grid: str = "#results") -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        f"{grid} > .card",
        """cards => cards.map(c => ({
            id: Number(c.dataset.id), score: Number(c.dataset.score),
            path: c.querySelector('.card-title').title,
            box: c.getBoundingClientRect().toJSON(),
        }))""",
    )


# ----------------------------------------------------------------------------- tests


def test_page_loads_with_collection_in_picker(page: Any, site: dict[str, Any]) -> None:
    _open(page, site)
    assert "artsnap" in page.title()
    assert page.locator("#collection").input_value() == "demo"
    assert re.fullmatch(r"demo \(\d+ works\)", page.locator("#collection option").first.inner_text())
    # The photo control is the phone's camera/picker, and it has a visible label.
    photo = page.locator("#photo")
    assert photo.get_attribute("accept") == "image/*"
    assert photo.get_attribute("capture") == "environment"
    assert page.locator("label[for=photo]").is_visible()
    assert "Take or choose a photo" in page.locator("label[for=photo]").inner_text()
    # ... and, because `capture` sends phones straight to the camera, a second one for the gallery.
    pick = page.locator("#photo-pick")
    assert pick.get_attribute("accept") == "image/*" and pick.get_attribute("capture") is None
    assert page.locator("label[for=photo-pick]").count() == 1
    assert page.locator("label[for=collection]").count() == 1
    # Keyboard: tabbing reaches the photo control and it shows a focus ring.
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "photo":
            break
    assert page.evaluate("document.activeElement.id") == "photo"
    outline = page.eval_on_selector("label[for=photo]", "l => getComputedStyle(l).outlineStyle")
    assert outline == "solid"


def test_photo_search_renders_results_with_the_same_image_first(page: Any, site: dict[str, Any]) -> None:
    _open(page, site)
    site["uploads"].clear()
    _search(page, site["source"] / QUERY_PATH)
    (upload,) = site["uploads"]
    assert json.loads(upload["options"]) == {"top_k": 12, "locate": True}
    # A small photo is sent as it is: no re-encoding, no quality lost.
    assert upload["image"] == (site["source"] / QUERY_PATH).read_bytes()

    cards = _cards(page)
    assert len(cards) == 12
    first = cards[0]
    assert first["path"] == QUERY_PATH and first["id"] == site["ids"][QUERY_PATH]
    assert first["score"] >= 0.9
    first_card = page.locator("#results > .card").first
    assert re.fullmatch(r"\d+%", first_card.locator(".score").inner_text())
    assert int(first_card.locator(".score").inner_text()[:-1]) >= 90
    # Labels as chips, a curator's and a model's styled differently.
    curator = first_card.locator(".chip-curator")
    machine = first_card.locator(".chip-machine")
    assert curator.inner_text() == "stripes"
    assert machine.inner_text().startswith("op art") and "83%" in machine.inner_text()
    style = "c => { const s = getComputedStyle(c); return [s.borderStyle, s.backgroundColor]; }"
    assert curator.evaluate(style) != machine.evaluate(style)
    # Every thumbnail has alt text; the reasons open with the "Why?" button.
    alts = page.eval_on_selector_all("#results .thumb img", "imgs => imgs.map(i => i.alt)")
    assert all(alts) and "stripes" in alts[0]
    reasons = first_card.locator(".reasons")
    assert not reasons.is_visible()
    first_card.locator(".why").click()
    assert reasons.get_attribute("hidden") is None  # opened by the tap, not only by hovering
    assert reasons.is_visible() and "looks alike" in reasons.inner_text()
    assert first_card.locator(".why").get_attribute("aria-expanded") == "true"
    # Timings line: "answered in 38 ms: decode 9 · locate 4 · embed 6 · search 2".
    timings = page.locator("#timings").inner_text()
    assert re.match(r"answered in \d+ ms: decode \d+ · locate \d+ · embed \d+ · search \d+", timings), timings
    assert page.locator("#preview-img").is_visible()


def test_screenshot_shows_rendered_results(page: Any, site: dict[str, Any], tmp_path: Path) -> None:
    _open(page, site)
    _search(page, site["source"] / "seascape/seascape_0002.jpg")
    _thumbnails_loaded(page)
    shot = tmp_path / "results-desktop.png"
    page.screenshot(path=str(shot))
    img = Image.open(shot).convert("RGB")
    box = page.locator("#results").bounding_box()
    visible = (
        int(box["x"]),
        int(box["y"]),
        int(min(box["x"] + box["width"], img.width)),
        int(min(box["y"] + box["height"], img.height)),
    )
    grid = np.asarray(img.crop(visible))
    assert grid.shape[0] > 200 and grid.shape[1] > 600, visible
    colours = len(np.unique(grid.reshape(-1, 3), axis=0))
    assert colours > 2000, f"results area looks blank: {colours} colours ({shot})"
    assert grid.std() > 30, f"results area looks flat: std {grid.std():.1f} ({shot})"
    # The thumbnails themselves are painted, not just the card frames.
    thumb = page.locator("#results .thumb img").first.bounding_box()
    patch = np.asarray(
        img.crop(
            (int(thumb["x"]), int(thumb["y"]), int(thumb["x"] + thumb["width"]), int(thumb["y"] + thumb["height"]))
        )
    )
    assert patch.std() > 10, f"first thumbnail looks empty ({shot})"


def test_phone_grid_has_two_columns_and_no_horizontal_scroll(phone: Any, site: dict[str, Any], tmp_path: Path) -> None:
    phone.emulate_media(color_scheme="dark")  # and the dark palette follows the system setting
    _open(phone, site)
    _search(phone, site["source"] / "cubist/cubist_0002.jpg")
    _thumbnails_loaded(phone)
    phone.screenshot(path=str(tmp_path / "results-phone-dark.png"), full_page=True)
    bg = phone.evaluate("getComputedStyle(document.body).backgroundColor")
    assert max(map(int, re.findall(r"\d+", bg)[:3])) < 60, f"dark mode background is {bg}"
    boxes = [c["box"] for c in _cards(phone)]
    a, b, c = boxes[:3]
    assert abs(a["y"] - b["y"]) < 1 and b["x"] > a["x"] + a["width"], (a, b)  # side by side
    assert c["y"] >= a["y"] + a["height"] and abs(c["x"] - a["x"]) < 1, (a, c)  # third starts a row
    assert a["width"] > 150 and b["x"] + b["width"] <= 390
    metrics = phone.evaluate(
        "() => ({sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth, iw: window.innerWidth})"
    )
    assert metrics == {"sw": 390, "cw": 390, "iw": 390}, metrics


def test_upload_of_a_non_image_shows_the_api_error(page: Any, site: dict[str, Any], tmp_path: Path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("a text file with a .jpg name, not a picture\n")
    api = page.request.post(
        site["url"] + "/v1/collections/demo/search",
        multipart={"image": {"name": fake.name, "mimeType": "image/jpeg", "buffer": fake.read_bytes()}},
    )
    assert api.status == 400
    expected = api.json()["error"]
    assert expected["code"] == "not_an_image"

    _open(page, site)
    page.set_input_files("#photo", str(fake))
    page.wait_for_selector("body[data-state=error]")
    error = page.locator("#error")
    assert error.is_visible()
    assert expected["message"] in error.text_content()
    assert error.get_attribute("data-code") == "not_an_image"
    assert error.get_attribute("role") == "alert"
    assert page.locator("#results-panel").is_hidden()
    assert page.locator("#status").is_hidden()  # no spinner left behind


def test_clicking_a_result_shows_related_items(page: Any, site: dict[str, Any]) -> None:
    _open(page, site)
    _search(page, site["source"] / "portrait/portrait_0003.jpg")
    clicked = _cards(page)[1]
    page.locator("#results > .card").nth(1).locator(".card-main").click()
    page.wait_for_selector("#related > .card")
    page.wait_for_function("() => !document.querySelector('#related-panel').hasAttribute('aria-busy')")
    related = _cards(page, "#related")
    assert related, "no related items shown"
    assert clicked["id"] not in {r["id"] for r in related}
    expected = page.request.get(site["url"] + f"/v1/items/{clicked['id']}/related?top_k=12").json()
    assert [r["id"] for r in related] == [r["id"] for r in expected["results"]]
    assert page.locator("#related-panel").is_visible()
    assert "Related to" in page.locator("#related-title").inner_text()
    assert (
        page.locator(f"#results > .card[data-id='{clicked['id']}']").get_attribute("class").split().count("selected")
        == 1
    )
    # Escape closes the panel and gives focus back to the result.
    page.keyboard.press("Escape")
    assert page.locator("#related-panel").is_hidden()
    assert page.evaluate("document.activeElement.closest('.card').dataset.id") == str(clicked["id"])


def test_phone_photo_is_downscaled_upright_and_the_artwork_outlined(
    phone: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    """A 2400x1800 snap of a painting on a wall, stored sideways with EXIF orientation 6."""
    from dataset_tools.camera_snap import simulate_snap

    painting = Image.open(site["source"] / "stripes/stripes_0002.jpg").convert("RGB")
    snap = simulate_snap(painting, np.random.default_rng(3), out_size=(2400, 1800), difficulty="easy")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the pixels are stored turned left
    photo = tmp_path / "snap.jpg"
    snap.photo.transpose(Image.Transpose.ROTATE_90).save(photo, quality=88, exif=exif)

    _open(phone, site)
    site["uploads"].clear()
    _search(phone, photo)
    (upload,) = site["uploads"]
    sent = Image.open(io.BytesIO(upload["image"]))
    assert sent.format == "JPEG" and sent.size == (1600, 1200)  # ~1600 px long side, upright
    assert sent.getexif().get(0x0112, 1) == 1
    first = _cards(phone)[0]
    assert first["path"] == "stripes/stripes_0002.jpg"

    overlay = phone.locator("#artwork-overlay")
    assert overlay.is_visible()
    # The server decoded our 1600x1200 JPEG with draft mode at 1/2 (1/4 would leave a shorter side < query_min_side).
    assert overlay.get_attribute("data-decoded-size") == "800x600"
    pts = [tuple(map(float, p.split(","))) for p in phone.locator(".artwork-outline").get_attribute("points").split()]
    truth = (snap.corners + 0.5) / 3 - 0.5  # 2400x1800 photo -> 800x600 decoded pixels
    err = np.abs(np.asarray(pts) - truth).max()
    assert err < 12, f"outline is {err:.1f} px off: {pts} vs {truth.tolist()}"
    # The overlay covers the preview exactly, so the outline lands on the painting.
    img_box = phone.locator("#preview-img").bounding_box()
    svg_box = overlay.bounding_box()
    assert all(abs(img_box[k] - svg_box[k]) < 1 for k in ("x", "y", "width", "height")), (img_box, svg_box)
    assert abs(img_box["width"] / img_box["height"] - 4 / 3) < 0.02  # shown upright, not sideways
    assert "Artwork found" in phone.locator("#preview-caption").inner_text()
    phone.screenshot(path=str(tmp_path / "snap-phone.png"))


def test_empty_state_and_remembered_collection(browser: Any, page_errors: list[str], site: dict[str, Any]) -> None:
    page = _new_page(browser, page_errors, viewport={"width": 1024, "height": 768})
    try:
        listing: dict[str, Any] = {"collections": []}
        page.route("**/v1/collections", lambda route: route.fulfill(json=listing))
        page.goto(site["url"] + "/")
        notice = page.locator("#no-collections")
        notice.wait_for(state="visible")
        assert "No collections yet" in notice.inner_text() and "artsnap ingest" in notice.inner_text()
        assert page.locator("#photo").is_disabled()
        assert page.locator("#collection-picker").is_hidden()

        listing["collections"] = [
            {"name": "demo", "items": 48, "duplicates": 2, "labels": {}},
            {"name": "prints", "items": 1, "duplicates": 0, "labels": {}},
        ]
        page.reload()
        page.wait_for_selector("body[data-ready]")
        assert page.locator("#collection").input_value() == "demo"
        page.select_option("#collection", "prints")
        page.reload()
        page.wait_for_selector("body[data-ready]")
        assert page.locator("#collection").input_value() == "prints"
        assert page.locator("#collection option").nth(1).inner_text() == "prints (1 work)"
    finally:
        page.context.close()
    assert not page_errors, page_errors


def test_drop_and_paste_an_image(page: Any, site: dict[str, Any]) -> None:
    """Desktop: an image dropped on the page or pasted from the clipboard is searched too."""
    _open(page, site)
    item = site["ids"]["ink_wash/ink_wash_0004.jpg"]
    for event in ("drop", "paste"):
        page.evaluate("() => { document.body.dataset.state = 'idle'; }")
        page.evaluate(
            """async ([url, event]) => {
                const blob = await (await fetch(url)).blob();
                const dt = new DataTransfer();
                dt.items.add(new File([blob], 'from-' + event + '.jpg', {type: 'image/jpeg'}));
                if (event === 'drop') {
                    const zone = document.getElementById('dropzone');
                    zone.dispatchEvent(new DragEvent('dragenter', {bubbles: true, dataTransfer: dt}));
                    zone.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
                    zone.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
                } else {
                    document.dispatchEvent(new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: dt}));
                }
            }""",
            [f"/v1/items/{item}/image", event],
        )
        page.wait_for_selector("body[data-state=results]")
        assert _cards(page)[0]["id"] == item, event
        assert not page.locator("#dropzone").get_attribute("class").count("dragging")
