"""``artsnap keys create|list|revoke|origins`` and ``artsnap audit``, as an operator uses them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from backend.api import create_app
from backend.cli import main
from backend.config import Settings


def _create(data_dir: Path, capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["--data-dir", str(data_dir), "keys", "create", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_create_prints_the_token_once_and_list_never_shows_it(tmp_path: Path, capsys) -> None:
    rc, out, err = _create(tmp_path, capsys, "curators", "--scope", "write", "--scope", "search")
    assert rc == 0
    token = out.strip()
    assert token.startswith("sk_") and len(token.split("_", 2)[2]) == 43 and "\n" not in token
    assert "shown this once" in err
    key_id = token.split("_")[1]

    rc, out, err = _create(
        tmp_path, capsys, "portal", "--publishable", "--origin", "https://Portal.example:443/", "--json"
    )
    assert rc == 0
    created = json.loads(out)
    assert created["kind"] == "publishable" and created["token"].startswith("pk_")
    assert created["origins"] == ["https://portal.example"] and created["scopes"] == ["search"]

    assert main(["--data-dir", str(tmp_path), "keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["name"] for k in listed] == ["curators", "portal"]
    assert all("token" not in k for k in listed)
    assert listed[0]["scopes"] == ["search", "write"] and listed[0]["revoked_at"] is None

    assert main(["--data-dir", str(tmp_path), "keys", "list"]) == 0
    table = capsys.readouterr().out
    assert key_id in table and token not in table and "live" in table

    assert main(["--data-dir", str(tmp_path), "keys", "revoke", key_id]) == 0
    assert "revoked" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path), "keys", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["revoked_at"] is not None

    pk_id = created["key_id"]
    assert (
        main(["--data-dir", str(tmp_path), "keys", "origins", pk_id, "https://a.example", "http://localhost:8000"]) == 0
    )
    capsys.readouterr()
    assert main(["--data-dir", str(tmp_path), "keys", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[1]["origins"] == ["https://a.example", "http://localhost:8000"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["p", "--publishable"], "needs the web origins"),
        (["p", "--publishable", "--origin", "https://p.example", "--scope", "write"], "may only search"),
        (["p", "--publishable", "--origin", "https://p.example/page"], "not an origin"),
        (["p", "--publishable", "--origin", "*"], "not an origin"),
        (["p", "--rate-limit", "lots"], "rate limit"),
        (["   "], "name"),
    ],
)
def test_create_refuses_what_would_be_unsafe_or_meaningless(tmp_path: Path, capsys, args, complaint) -> None:
    rc, out, err = _create(tmp_path, capsys, *args)
    assert rc == 2 and out == "" and complaint in err


def test_revoking_an_unknown_key_says_so(tmp_path: Path, capsys) -> None:
    assert main(["--data-dir", str(tmp_path), "keys", "revoke", "000000000000"]) == 2
    assert "artsnap keys list" in capsys.readouterr().err


def test_audit_lists_writes_oldest_first(writable_demo: Path, capsys) -> None:
    _rc, out, _err = _create(writable_demo, capsys, "curators", "--scope", "write")
    token = out.strip()
    app = create_app(Settings(data_dir=writable_demo, require_keys=True))
    try:
        c = app.test_client()
        buf = io.BytesIO()
        Image.effect_noise((64, 64), 60).convert("RGB").save(buf, "PNG")
        resp = c.post(
            "/v1/collections/demo/items",
            data={"image": (io.BytesIO(buf.getvalue()), "n.png")},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 201
        assert c.delete("/v1/items/1").status_code == 401  # anonymous: refused, and recorded
    finally:
        app.extensions["artsnap.engine"].close()
    assert main(["--data-dir", str(writable_demo), "audit", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["status"], e["outcome"]) for e in events] == [
        ("keys.create", 0, "ok"),
        ("items.add", 201, "ok"),
        ("items.delete", 401, "key_required"),
    ]
    key_id = token.split("_")[1]
    assert events[0]["actor"].startswith("cli:") and events[0]["detail"]["key_id"] == key_id
    assert events[1]["actor"] == f"key:{key_id}" and events[1]["item_ids"] == [resp.get_json()["id"]]
    assert events[2]["actor"] == "anonymous" and events[2]["item_ids"] == [1]
    assert main(["--data-dir", str(writable_demo), "audit"]) == 0
    assert "items.delete" in capsys.readouterr().out


def test_key_actions_go_to_the_audit_log(tmp_path: Path, capsys) -> None:
    _rc, out, _err = _create(tmp_path, capsys, "portal", "--publishable", "--origin", "https://p.example")
    key_id = out.strip().split("_")[1]
    assert main(["--data-dir", str(tmp_path), "keys", "origins", key_id, "https://q.example"]) == 0
    assert main(["--data-dir", str(tmp_path), "keys", "revoke", key_id]) == 0
    assert main(["--data-dir", str(tmp_path), "keys", "revoke", "000000000000"]) == 2  # nothing done: no row
    capsys.readouterr()
    assert main(["--data-dir", str(tmp_path), "audit", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["action"] for e in events] == ["keys.create", "keys.origins", "keys.revoke"]
    assert all(e["detail"]["key_id"] == key_id and e["actor"].startswith("cli:") for e in events)
    assert events[1]["detail"]["origins"] == ["https://q.example"]
    # The human-readable log shows them too.
    assert main(["--data-dir", str(tmp_path), "audit"]) == 0
    assert f"keys.revoke   0 ok                 key {key_id}" in capsys.readouterr().out


@pytest.mark.parametrize(("host", "required"), [("127.0.0.1", False), ("0.0.0.0", True), ("192.0.2.10", True)])
def test_artsnap_serve_beyond_loopback_hands_the_server_keys_required(
    tmp_path: Path, capsys, monkeypatch, host: str, required: bool
) -> None:
    """``make run`` (127.0.0.1) stays keyless; any other address starts a server that requires keys."""
    import backend.serve

    started: list[Settings] = []
    monkeypatch.setattr(backend.serve, "serve_gunicorn", lambda settings, *_a, **_k: started.append(settings))
    monkeypatch.delenv("ARTSNAP_REQUIRE_KEYS", raising=False)
    assert main(["--data-dir", str(tmp_path), "serve", "--host", host, "--port", "8099"]) == 0
    assert [s.require_keys for s in started] == [required]
    said = capsys.readouterr().err
    assert ("API keys required" in said) is required and ("need no API key" in said) is not required
