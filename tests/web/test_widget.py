"""The ``<artsnap-related>`` widget on a portal page from another origin, in a real headless Chromium.

Two real servers on 127.0.0.1: the artsnap API (keys required, search *not* public, so the
page's publishable key is what grants access) over a small collection ingested the way the
Europeana pull ingests (record ids, rights, providers), and a second server on another port
that plays the portal: it serves a page embedding the widget with one ``<script>`` and one
element, and the record pages the widget links to. Playwright drives the page as a visitor
does. A gate in front of the API's related answers makes "a slow API" without any sleeping.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium) — browser tests need it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

TIMEOUT_MS = 30_000
ACCENT = "rgb(200, 0, 80)"


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedding_model, portal_records) -> Iterator[Any]:
    """The artsnap API: its URL, the keys, the request log and the gate in front of related answers."""
    from flask import request

    from backend.api import create_app
    from backend.config import Settings
    from dataset_tools.readers import RecordSource
    from tests.conftest import _link_models

    data = tmp_path_factory.mktemp("widget") / "data"
    _link_models(data, models_dir)
    app = create_app(Settings(data_dir=data, require_keys=True, public_search=False))
    engine = app.extensions["artsnap.engine"]
    assert not engine.ingest.ingest(RecordSource(portal_records(10)), "portal").failed

    seen: list[dict[str, Any]] = []
    gate = threading.Event()
    gate.set()

    @app.before_request
    def _record_and_gate() -> None:
        seen.append(
            {
                "path": request.path,
                "args": dict(request.args),
                "origin": request.headers.get("Origin"),
                "bearer": request.headers.get("Authorization", "").startswith("Bearer pk_"),
            }
        )
        if request.path.endswith("/related") and request.method == "GET":
            assert gate.wait(timeout=60), "the test never opened the gate"

    server, thread, url = _serve(app)
    try:
        yield {"url": url, "engine": engine, "seen": seen, "gate": gate}
    finally:
        gate.set()
        server.shutdown()
        thread.join(timeout=10)
        engine.close()


@pytest.fixture(scope="module")
def portal() -> Iterator[dict[str, Any]]:
    """Another origin: serves ``pages[path]`` and a record page for anything under /records/."""
    pages: dict[str, str] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path in pages:
            body, status = pages[path], "200 OK"
        elif path.startswith("/records/"):
            body, status = f"<!doctype html><title>Record</title><h1 id=record>{path[9:]}</h1>", "200 OK"
        else:
            body, status = "not here", "404 Not Found"
        start_response(status, [("Content-Type", "text/html; charset=utf-8")])
        return [body.encode()]

    server, thread, url = _serve(app)
    try:
        yield {"url": url, "pages": pages}
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def keys(api, portal) -> dict[str, str]:
    svc = api["engine"].keys
    live = svc.create("portal", ["search"], publishable=True, origins=[portal["url"]]).token
    revoked = svc.create("old portal", ["search"], publishable=True, origins=[portal["url"]])
    svc.revoke(revoked.key.key_id)
    elsewhere = svc.create("another site", ["search"], publishable=True, origins=["https://other.example"]).token
    return {"live": live, "revoked": revoked.token, "elsewhere": elsewhere}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 800})
    ctx.set_default_timeout(TIMEOUT_MS)
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    ctx.close()
    assert not errors, errors


def _portal_page(api: dict[str, Any], portal: dict[str, Any], name: str, *elements: str) -> str:
    portal["pages"][f"/{name}.html"] = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A portal record</title>
<style>
  body {{ font-family: serif; }}
  artsnap-related {{ --artsnap-font: "DejaVu Sans Mono", monospace; --artsnap-accent: {ACCENT}; }}
</style>
<script src="{api["url"]}/widget/artsnap-related.js" defer></script>
</head><body><h1>The Night Watch</h1>
{"".join(elements)}
</body></html>"""
    return f"{portal['url']}/{name}.html"


def _widget(api: dict[str, Any], key: str, record: str, **attrs: str) -> str:
    extra = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return (
        f'<artsnap-related api="{api["url"]}" collection="portal" record="{record}" key="{key}" {extra}>'
        "</artsnap-related>"
    )


def test_the_widget_renders_related_works_and_a_click_follows_the_portals_link(api, portal, keys, page) -> None:
    template = f"{portal['url']}/records{{record_id}}"
    url = _portal_page(
        api,
        portal,
        "record",
        _widget(
            api,
            keys["live"],
            "europeana:/9200/item_3",
            **{"top-k": "4", "href-template": template, "label": "More like this"},
        ),
    )
    page.goto(url)
    widget = page.locator("artsnap-related")
    items = widget.locator("li[part=item]")
    items.first.locator("img").wait_for()
    assert items.count() == 4

    # A list with a label, thumbnails with alt text that load lazily, title, rights and provider.
    listing = widget.get_by_role("list", name="More like this")
    assert listing.count() == 1
    for i in range(4):
        item = items.nth(i)
        title = item.locator("[part=title]").inner_text()
        assert title.startswith("Work ") and title != "Work 3"
        img = item.locator("img")
        assert img.get_attribute("alt") == title and img.get_attribute("loading") == "lazy"
        assert f"key={keys['live']}" in img.get_attribute("src")
        meta = item.locator("[part=meta]").inner_text()
        assert "CC-BY-SA" in meta and "Museum" in meta
        assert item.locator("a[rel=license]").get_attribute("href").startswith("http://creativecommons.org/")
    page.wait_for_function(
        "() => [...document.querySelector('artsnap-related').shadowRoot.querySelectorAll('img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )

    # The host page's font and colour reach inside the shadow DOM.
    font = items.first.locator("[part=title]").evaluate("e => getComputedStyle(e).fontFamily")
    assert "DejaVu Sans Mono" in font
    license_colour = items.first.locator("a[rel=license]").evaluate("e => getComputedStyle(e).color")
    assert license_colour == ACCENT

    # The widget asked with the publishable key, from the portal's origin.
    asked = [r for r in api["seen"] if r["path"] == "/v1/collections/portal/related"]
    assert asked and asked[-1]["origin"] == portal["url"] and asked[-1]["bearer"]
    assert asked[-1]["args"]["record"] == "europeana:/9200/item_3"

    # Keyboard: the first work is reachable with Tab, shows its focus ring, Enter follows the link.
    first = items.first.locator("a[part=link]")
    expected = first.get_attribute("href")
    assert expected.startswith(f"{portal['url']}/records/9200/item_")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.shadowRoot?.activeElement?.getAttribute('href')")
    assert focused == expected
    outline = first.evaluate("e => getComputedStyle(e).outlineColor + ' ' + getComputedStyle(e).outlineStyle")
    assert outline == f"{ACCENT} solid"
    page.keyboard.press("Enter")
    page.wait_for_url(expected)
    assert page.locator("#record").inner_text() == expected.split("/records/", 1)[1]

    # And a click on another work follows its link too.
    page.go_back()
    second = page.locator("artsnap-related li[part=item]").nth(1).locator("a[part=link]")
    target = second.get_attribute("href")
    second.click()
    page.wait_for_url(target)


def test_a_revoked_or_foreign_key_shows_a_polite_message(api, portal, keys, page) -> None:
    url = _portal_page(
        api,
        portal,
        "revoked",
        _widget(api, keys["revoked"], "europeana:/9200/item_1", id="revoked"),
        _widget(api, keys["elsewhere"], "europeana:/9200/item_1", id="elsewhere"),
    )
    page.goto(url)
    for element in ("#revoked", "#elsewhere"):
        message = page.locator(f"{element} [part~=message]")
        message.filter(has_text="not available").wait_for()
        assert message.inner_text() == "Related works are not available at the moment."
        assert message.get_attribute("role") == "status"
        assert page.locator(f"{element} img").count() == 0


def test_a_slow_api_shows_a_placeholder_until_the_answer_comes(api, portal, keys, page) -> None:
    url = _portal_page(api, portal, "slow", _widget(api, keys["live"], "europeana:/9200/item_2", id="slow"))
    api["gate"].clear()
    try:
        page.goto(url)
        placeholder = page.locator("#slow [part~=placeholder]")
        placeholder.wait_for()
        assert placeholder.inner_text() == "Looking for related works\u2026"
        assert page.locator("#slow section").get_attribute("aria-busy") == "true"
        assert page.locator("#slow img").count() == 0
    finally:
        api["gate"].set()
    page.locator("#slow li[part=item] img").first.wait_for()
    assert page.locator("#slow [part~=placeholder]").count() == 0
    assert page.locator("#slow section").get_attribute("aria-busy") == "false"


def test_nothing_is_fetched_until_the_widget_nears_the_viewport(api, portal, keys, page) -> None:
    url = _portal_page(
        api,
        portal,
        "lazy",
        '<div style="height: 4000px">the record\'s long description</div>',
        _widget(api, keys["live"], "europeana:/9200/item_7", id="below"),
    )
    before = len(api["seen"])
    page.goto(url)
    page.locator("#below [part~=placeholder]").wait_for(state="attached")
    # Two animation frames: the observer has delivered its first (not intersecting) entries.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    asked = [r for r in api["seen"][before:] if r["args"].get("record") == "europeana:/9200/item_7"]
    assert asked == []
    page.locator("#below").scroll_into_view_if_needed()
    page.locator("#below li[part=item] img").first.wait_for()
    asked = [r for r in api["seen"][before:] if r["args"].get("record") == "europeana:/9200/item_7"]
    assert len(asked) == 1
