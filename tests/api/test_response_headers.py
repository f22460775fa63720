"""Security headers on every response; stored uploads served inert.

The page's own CSP is also exercised by the browser tests (tests/web), which fail on any
console error, CSP violations included.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from backend.api import create_app
from backend.config import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path):
    data = tmp_path_factory.mktemp("headers") / "data"
    shutil.copytree(demo_data_dir, data, symlinks=True)
    app = create_app(Settings(data_dir=data))
    yield app.test_client()
    app.extensions["artsnap.engine"].close()


def csp(resp) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    out = {}
    for part in resp.headers["Content-Security-Policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        out[name] = value
    return out


@pytest.mark.parametrize(
    "path",
    ["/", "/static/app.js", "/healthz", "/v1/collections", "/openapi.json", "/metrics", "/v1/nothing", "/v1/items/1"],
)
def test_every_response_has_the_security_headers(client, path: str) -> None:
    resp = client.get(path)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    policy = csp(resp)
    assert policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in resp.headers["Content-Security-Policy"]


def test_the_page_may_load_only_its_own_scripts_styles_and_api(client) -> None:
    policy = csp(client.get("/"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert policy["img-src"].split() == ["'self'", "blob:", "data:"]  # the preview of the visitor's own photo
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert csp(client.get("/v1/collections"))["default-src"] == "'none'"


def test_an_uploaded_picture_with_html_inside_is_served_inert(client) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (48, 40), (10, 120, 200)).save(buf, "PNG")
    payload = buf.getvalue() + b"<html><script>fetch('/v1/items/1',{method:'DELETE'})</script></html>"
    created = client.post("/v1/collections/demo/items", data={"image": (io.BytesIO(payload), "x.png")})
    assert created.status_code == 201, created.get_json()
    item_id = created.get_json()["id"]

    for path in (f"/v1/items/{item_id}/image", f"/v1/items/{item_id}/thumbnail"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert resp.mimetype in ("image/png", "image/jpeg")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        policy = csp(resp)
        assert policy["default-src"] == "'none'" and "sandbox" in policy
    original = client.get(f"/v1/items/{item_id}/image")
    assert original.data == payload  # the original is kept byte for byte, and served as an image only
