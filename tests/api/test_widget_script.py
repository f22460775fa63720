"""The widget's script as a portal loads it: small, framework-free, served to any page."""

from __future__ import annotations

import gzip
import re

from backend.api import create_app
from backend.api.widget_routes import WIDGET_DIR, WIDGET_FILE

MAX_GZIPPED = 15 * 1024


def test_the_widget_is_at_most_15_kb_gzipped_and_needs_no_framework() -> None:
    source = (WIDGET_DIR / WIDGET_FILE).read_bytes()
    size = len(gzip.compress(source, compresslevel=9))
    assert size <= MAX_GZIPPED, f"{size} bytes gzipped"
    text = source.decode()
    assert not re.search(r"^\s*import\s|require\(|https?://(?!artsnap\.example|portal\.example)", text, re.M)
    assert 'customElements.define("artsnap-related"' in text and "attachShadow" in text


def test_the_script_is_served_to_any_page(demo_engine) -> None:
    app = create_app(engine=demo_engine)
    resp = app.test_client().get(f"/widget/{WIDGET_FILE}", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert resp.status_code == 200 and resp.mimetype == "text/javascript"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert resp.data == (WIDGET_DIR / WIDGET_FILE).read_bytes()
