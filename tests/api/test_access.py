"""API keys, scopes, the public-search setting, rate limits, CORS and the audit log (issue 12, defect 1).

Before keys existed, anyone who reached the port could add and delete items (a fuzzing run
deleted 137 anonymously) and read ``/metrics``. Here the real app runs over a copy of the demo
collection; callers are told apart by their address (the test client's ``REMOTE_ADDR``) and
the keys they send, exactly as a server bound to 0.0.0.0 sees them.
"""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.api import create_app
from backend.config import Settings
from backend.serve import is_loopback_host, serving_settings

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}  # a caller on another machine
PORTAL = "https://portal.example"


def _png(rgb: tuple[int, int, int]) -> bytes:
    img = Image.new("RGB", (96, 96), rgb)
    for x in range(0, 96, 8):  # stripes: not flat, so near-duplicate matching applies as in life
        for y in range(96):
            img.putpixel((x, y), (255 - rgb[0], rgb[1], 255 - rgb[2]))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _upload(client, headers: dict[str, str] | None = None, **kw: Any):
    rgb = kw.pop("rgb", (30, 140, 60))
    return client.post(
        "/v1/collections/demo/items",
        data={"image": (io.BytesIO(_png(rgb)), "new.png"), **kw},
        headers=headers or {},
        environ_base=REMOTE,
    )


@pytest.fixture
def make_app(writable_demo: Path) -> Iterator[Any]:
    apps = []

    def make(**overrides: Any):
        app = create_app(Settings(data_dir=writable_demo, **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["artsnap.engine"].close()


@pytest.fixture
def app(make_app):
    """A server that listens beyond loopback (``artsnap serve --host 0.0.0.0``)."""
    return make_app(require_keys=True)


@pytest.fixture
def keys(app) -> dict[str, str]:
    svc = app.extensions["artsnap.engine"].keys
    return {
        "search": svc.create("reader", ["search"]).token,
        "write": svc.create("curators", ["write"]).token,
        "admin": svc.create("ops", ["admin"]).token,
        "pk": svc.create("portal", ["search"], publishable=True, origins=[PORTAL]).token,
    }


def _code(resp) -> str:
    return resp.get_json()["error"]["code"]


# ----------------------------------------------------------------------------- writes


def test_anonymous_writes_are_refused_when_keys_are_required(app) -> None:
    c = app.test_client()
    before = c.get("/v1/collections/demo", environ_base=REMOTE).get_json()["items"]
    resp = _upload(c)
    assert resp.status_code == 401 and _code(resp) == "key_required"
    assert "write" in resp.get_json()["error"]["message"]
    deleted = c.delete("/v1/items/1", environ_base=REMOTE)
    assert deleted.status_code == 401 and _code(deleted) == "key_required"
    # Nothing changed: the item is still there and no upload was stored.
    assert c.get("/v1/items/1", environ_base=REMOTE).status_code == 200
    assert c.get("/v1/collections/demo", environ_base=REMOTE).get_json()["items"] == before
    # ... also not from this machine, once the server listens beyond loopback.
    local = c.post("/v1/collections/demo/items", data={"image": (io.BytesIO(_png((1, 2, 3))), "a.png")})
    assert local.status_code == 401 and _code(local) == "key_required"


def test_a_caller_from_elsewhere_never_writes_anonymously_even_without_require_keys(make_app) -> None:
    """The decision needs both: a keyless server (make run) still refuses a non-loopback caller."""
    app = make_app()  # require_keys off, as `make run` on 127.0.0.1
    c = app.test_client()
    resp = _upload(c)
    assert resp.status_code == 401 and _code(resp) == "key_required"
    # A request that came through a proxy is not a local caller, whatever its socket address.
    proxied = c.post(
        "/v1/collections/demo/items",
        data={"image": (io.BytesIO(_png((9, 9, 99))), "a.png")},
        headers={"X-Forwarded-For": "198.51.100.4"},
    )
    assert proxied.status_code == 401
    assert c.get("/metrics", environ_base=REMOTE).status_code == 401
    # The same server's own machine may (make run stays keyless).
    mine = c.post("/v1/collections/demo/items", data={"image": (io.BytesIO(_png((200, 10, 10))), "a.png")})
    assert mine.status_code in (200, 201), mine.get_json()


def test_a_write_key_writes_and_other_keys_do_not(app, keys) -> None:
    c = app.test_client()
    added = _upload(c, _bearer(keys["write"]), rgb=(12, 80, 200))
    assert added.status_code == 201, added.get_json()
    item_id = added.get_json()["id"]

    for token, code in ((keys["search"], "insufficient_scope"), (keys["pk"], "insufficient_scope")):
        refused = _upload(c, _bearer(token), rgb=(200, 80, 12))
        assert refused.status_code == 403 and _code(refused) == code, refused.get_json()
    garbage = _upload(c, _bearer("sk_0123456789ab_" + "x" * 43))
    assert garbage.status_code == 401 and _code(garbage) == "invalid_key"
    not_bearer = _upload(c, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert not_bearer.status_code == 401 and _code(not_bearer) == "invalid_key"

    assert c.delete(f"/v1/items/{item_id}", headers=_bearer(keys["search"]), environ_base=REMOTE).status_code == 403
    assert c.delete(f"/v1/items/{item_id}", headers=_bearer(keys["write"]), environ_base=REMOTE).status_code == 204
    assert c.get(f"/v1/items/{item_id}", environ_base=REMOTE).status_code == 404


def test_a_revoked_key_is_refused_at_once(app, keys) -> None:
    c = app.test_client()
    assert _upload(c, _bearer(keys["write"]), rgb=(90, 90, 10)).status_code == 201
    key_id = keys["write"].split("_")[1]
    app.extensions["artsnap.engine"].keys.revoke(key_id)
    resp = _upload(c, _bearer(keys["write"]), rgb=(10, 90, 90))
    assert resp.status_code == 401 and _code(resp) == "revoked_key"


def test_metrics_need_an_admin_key(app, keys) -> None:
    c = app.test_client()
    assert c.get("/metrics", environ_base=REMOTE).status_code == 401
    assert c.get("/metrics", headers=_bearer(keys["write"]), environ_base=REMOTE).status_code == 403
    ok = c.get("/metrics", headers=_bearer(keys["admin"]), environ_base=REMOTE)
    assert ok.status_code == 200 and b"artsnap_http_requests_total" in ok.data
    assert c.get("/healthz", environ_base=REMOTE).status_code == 200  # probes need no key


def test_a_secret_key_in_a_url_is_refused(app, keys) -> None:
    resp = app.test_client().get(f"/v1/items/1?key={keys['search']}", environ_base=REMOTE)
    assert resp.status_code == 400 and _code(resp) == "key_in_url"


# ----------------------------------------------------------------------------- public search


def test_search_is_public_or_keyed_as_the_deployment_chooses(make_app, writable_demo: Path, demo_source) -> None:
    photo = (Path(demo_source.out_dir) / "ink_wash/ink_wash_0002.jpg").read_bytes()

    def search(c, headers: dict[str, str] | None = None):
        return c.post(
            "/v1/collections/demo/search",
            data={"image": (io.BytesIO(photo), "q.jpg"), "options": '{"top_k": 2}'},
            headers=headers or {},
            environ_base=REMOTE,
        )

    public = make_app(require_keys=True).test_client()
    assert search(public).status_code == 200
    assert public.get("/v1/items/2/related?top_k=2", environ_base=REMOTE).status_code == 200

    closed_app = make_app(require_keys=True, public_search=False)
    closed = closed_app.test_client()
    for resp in (
        search(closed),
        closed.get("/v1/items/2/related", environ_base=REMOTE),
        closed.get("/v1/items/2/thumbnail", environ_base=REMOTE),
        closed.get("/v1/collections", environ_base=REMOTE),
    ):
        assert resp.status_code == 401 and _code(resp) == "key_required"
    reader = closed_app.extensions["artsnap.engine"].keys.create("reader", ["search"]).token
    assert search(closed, _bearer(reader)).status_code == 200
    assert closed.get("/v1/items/2/related", headers=_bearer(reader), environ_base=REMOTE).status_code == 200


def test_keys_are_stored_as_hashes_only(app, keys, writable_demo: Path) -> None:
    raw = (writable_demo / "catalog.db").read_bytes()
    for token in keys.values():
        assert token.encode() not in raw
        assert token.split("_", 2)[2].encode() not in raw
    with sqlite3.connect(writable_demo / "catalog.db") as db:
        rows = db.execute("SELECT key_id, token_sha256 FROM api_keys").fetchall()
    assert len(rows) == 4 and all(re.fullmatch(r"[0-9a-f]{64}", digest) for _id, digest in rows)


# ----------------------------------------------------------------------------- rate limits


def _policy(resp) -> tuple[int, int]:
    m = re.fullmatch(r'"default";q=(\d+);w=(\d+)', resp.headers["RateLimit-Policy"])
    assert m, resp.headers["RateLimit-Policy"]
    return int(m.group(1)), int(m.group(2))


def _remaining(resp) -> tuple[int, int]:
    m = re.fullmatch(r'"default";r=(\d+);t=(\d+)', resp.headers["RateLimit"])
    assert m, resp.headers["RateLimit"]
    return int(m.group(1)), int(m.group(2))


def test_rate_limits_answer_429_with_the_standard_headers(app) -> None:
    svc = app.extensions["artsnap.engine"].keys
    tight = svc.create("tight", ["search"], rate_limit="3/minute").token
    other = svc.create("other", ["search"], rate_limit="3/minute").token
    c = app.test_client()
    answers = [c.get("/v1/items/1", headers=_bearer(tight), environ_base=REMOTE) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [_remaining(r)[0] for r in answers] == [2, 1, 0, 0]
    assert all(_policy(r) == (3, 60) for r in answers)
    over = answers[-1]
    assert _code(over) == "rate_limited"
    retry = int(over.headers["Retry-After"])
    assert 1 <= retry <= 60 and _remaining(over)[1] <= 60
    # Another key has its own counter; the limit is per key, not per address.
    assert c.get("/v1/items/1", headers=_bearer(other), environ_base=REMOTE).status_code == 200


def test_callers_without_a_key_are_limited_per_address(make_app) -> None:
    app = make_app(require_keys=True, anonymous_rate_limit="2/minute")
    c = app.test_client()
    codes = [c.get("/v1/items/1", environ_base=REMOTE).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert c.get("/v1/items/1", environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200
    assert c.get("/healthz", environ_base=REMOTE).status_code == 200  # never limited


def test_a_publishable_key_counts_per_visitor(app) -> None:
    pk = (
        app.extensions["artsnap.engine"]
        .keys.create("portal", ["search"], publishable=True, origins=[PORTAL], rate_limit="2/minute")
        .token
    )
    c = app.test_client()

    def visit(address: str) -> int:
        return c.get(f"/v1/items/1/thumbnail?key={pk}", environ_base={"REMOTE_ADDR": address}).status_code

    assert [visit("198.51.100.1") for _ in range(3)] == [200, 200, 429]
    assert visit("198.51.100.2") == 200  # another visitor of the same portal is not held back


# ----------------------------------------------------------------------------- CORS


def test_cors_follows_the_keys_origins(app, keys) -> None:
    c = app.test_client()
    url = "/v1/collections/demo/related?source_path=ink_wash/ink_wash_0002.jpg&top_k=2"
    ok = c.get(url, headers={**_bearer(keys["pk"]), "Origin": PORTAL}, environ_base=REMOTE)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == PORTAL and "Origin" in ok.headers["Vary"]
    assert "RateLimit" in ok.headers["Access-Control-Expose-Headers"]

    evil = c.get(url, headers={**_bearer(keys["pk"]), "Origin": "https://evil.example"}, environ_base=REMOTE)
    assert evil.status_code == 403 and _code(evil) == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in evil.headers

    # A secret key lists no origins: its answers carry no CORS headers for any page.
    secret = c.get(url, headers={**_bearer(keys["search"]), "Origin": PORTAL}, environ_base=REMOTE)
    assert secret.status_code == 200 and "Access-Control-Allow-Origin" not in secret.headers


def test_preflights_are_answered_for_listed_origins_only(app, keys) -> None:
    c = app.test_client()
    ask = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    ok = c.options("/v1/collections/demo/related", headers={**ask, "Origin": PORTAL}, environ_base=REMOTE)
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "GET" in ok.headers["Access-Control-Allow-Methods"]
    assert "authorization" in ok.headers["Access-Control-Allow-Headers"].lower()
    assert int(ok.headers["Access-Control-Max-Age"]) > 0
    wrong = c.options("/v1/collections/demo/related", headers={**ask, "Origin": "https://evil.example"})
    assert wrong.status_code == 204 and "Access-Control-Allow-Origin" not in wrong.headers


def test_a_revoked_publishable_key_is_refused_readably_for_its_own_page(app, keys) -> None:
    app.extensions["artsnap.engine"].keys.revoke(keys["pk"].split("_")[1])
    resp = app.test_client().get(
        "/v1/collections/demo/related?item=2", headers={**_bearer(keys["pk"]), "Origin": PORTAL}, environ_base=REMOTE
    )
    assert resp.status_code == 401 and _code(resp) == "revoked_key"
    assert resp.headers["Access-Control-Allow-Origin"] == PORTAL  # so the widget can say so politely


# ----------------------------------------------------------------------------- audit


def test_writes_go_to_the_audit_log(app, keys) -> None:
    c = app.test_client()
    added = _upload(c, _bearer(keys["write"]), rgb=(140, 20, 200)).get_json()
    assert _upload(c, rgb=(20, 140, 200)).status_code == 401
    assert c.delete(f"/v1/items/{added['id']}", headers=_bearer(keys["write"]), environ_base=REMOTE).status_code == 204
    events = list(reversed(app.extensions["artsnap.engine"].audit.recent(10)))
    write_id = keys["write"].split("_")[1]
    summary = [(e.actor, e.action, e.status, e.outcome, e.collection, list(e.item_ids)) for e in events]
    assert summary == [
        (f"key:{write_id}", "items.add", 201, "ok", "demo", [added["id"]]),
        ("anonymous", "items.add", 401, "key_required", "demo", []),
        (f"key:{write_id}", "items.delete", 204, "ok", "demo", [added["id"]]),
    ]
    assert all(e.address == REMOTE["REMOTE_ADDR"] for e in events)
    assert events[0].detail["source_path"].startswith("uploads/")


# ----------------------------------------------------------------------------- serve


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.5", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("artsnap.example", False),
    ],
)
def test_listening_beyond_loopback_requires_keys(host: str, local: bool, tmp_path: Path) -> None:
    assert is_loopback_host(host) is local
    settings, notice = serving_settings(Settings(data_dir=tmp_path), host, 8080)
    assert settings.require_keys is (not local)
    if local:
        assert "need no API key" in notice and "ARTSNAP_REQUIRE_KEYS=1" in notice
    else:
        assert "API keys required" in notice and "'write' key" in notice and "artsnap keys create" in notice
