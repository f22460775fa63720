"""An upload cannot claim a curator's ``source_path`` (issue 12, defect 1).

Before: ``POST /v1/collections/{name}/items`` took any ``source_path`` from the form, so a
caller could upload a picture as ``impressionism/img_0001.jpg`` before the curator ingested
the real file; ingest then skipped the real file as "already done" and kept the caller's
picture under that path. Now uploads always live under ``uploads/``, and a curator's SOURCE
that has a path an upload holds moves the upload aside and ingests the real file.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from backend.api import create_app
from backend.engine.services import Engine


def _write(folder: Path, rel: str, data: bytes) -> None:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _item_at(engine: Engine, collection: str, source_path: str):
    cid = engine.catalog.collection_id(collection)
    item_id = engine.catalog.find_item(cid, source_path=source_path)
    assert item_id is not None, f"no item at {source_path}"
    return engine.catalog.get_item(item_id)


def test_an_upload_cannot_make_ingest_skip_a_curators_file(make_settings, paint_jpeg, tmp_path: Path) -> None:
    source = tmp_path / "museum"
    _write(source, "first/a.jpg", paint_jpeg("stripes", 1))
    app = create_app(make_settings(require_keys=True))
    engine = app.extensions["artsnap.engine"]
    try:
        engine.ingest.ingest(source, "museum")
        token = engine.keys.create("uploader", ["write"]).token
        attacker = paint_jpeg("ink_wash", 3)
        resp = app.test_client().post(
            "/v1/collections/museum/items",
            data={"image": (io.BytesIO(attacker), "x.jpg"), "source_path": "late/x.jpg"},
            headers={"Authorization": f"Bearer {token}"},
            environ_base={"REMOTE_ADDR": "203.0.113.7"},
        )
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["source_path"] == "uploads/late/x.jpg"

        # The curator's real file arrives later, under the path the upload asked for.
        real = paint_jpeg("portrait", 5)
        _write(source, "late/x.jpg", real)
        summary = engine.ingest.ingest(source, "museum")
        assert summary.added == 1 and summary.already_done == 1 and not summary.failed
        kept = _item_at(engine, "museum", "late/x.jpg")
        assert kept.sha256 == hashlib.sha256(real).hexdigest()
        assert kept.origin == "ingest"
        upload = _item_at(engine, "museum", "uploads/late/x.jpg")
        assert upload.sha256 == hashlib.sha256(attacker).hexdigest() and upload.origin == "upload"
    finally:
        engine.close()


def test_a_curators_uploads_folder_displaces_an_upload_holding_its_path(
    make_settings, paint_jpeg, tmp_path: Path
) -> None:
    """A SOURCE may have an ``uploads/`` folder of its own: its files win, the upload moves aside."""
    source = tmp_path / "museum"
    _write(source, "first/a.jpg", paint_jpeg("stripes", 2))
    app = create_app(make_settings())  # a local, keyless server (make run)
    engine = app.extensions["artsnap.engine"]
    try:
        engine.ingest.ingest(source, "museum")
        uploaded = paint_jpeg("ink_wash", 7)
        resp = app.test_client().post(
            "/v1/collections/museum/items",
            data={"image": (io.BytesIO(uploaded), "y.jpg"), "source_path": "uploads/y.jpg", "labels": '["mine"]'},
        )
        assert resp.status_code == 201 and resp.get_json()["source_path"] == "uploads/y.jpg"
        upload_id = resp.get_json()["id"]

        curators = paint_jpeg("portrait", 9)
        _write(source, "uploads/y.jpg", curators)
        summary = engine.ingest.ingest(source, "museum")
        assert summary.displaced == 1 and summary.added == 1
        assert _item_at(engine, "museum", "uploads/y.jpg").sha256 == hashlib.sha256(curators).hexdigest()
        moved = engine.catalog.get_item(upload_id)
        assert moved.source_path == f"uploads/displaced/{upload_id}/y.jpg"
        assert moved.status == "indexed" and moved.label_names == ["mine"]  # kept whole, only renamed
    finally:
        engine.close()
