"""Fixtures of the phone-client tests: a real artsnap server with the tiny phone model, a camera photo."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PIL import Image
from werkzeug.serving import make_server

from tests.clients.support import COLLECTION, camera_photo


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedding_model, tiny_phone_model):
    """A real artsnap server on 127.0.0.1 with the tiny classifier registered and the styles ingested."""
    from backend.api import create_app
    from backend.config import Settings
    from backend.engine.model_registry import register_model_dir, store_dir
    from tests.conftest import _link_models

    coll, result = tiny_phone_model
    data_dir = tmp_path_factory.mktemp("client-server")
    _link_models(data_dir, models_dir)
    app = create_app(Settings(data_dir=data_dir))
    engine = app.extensions["artsnap.engine"]
    registered = register_model_dir(engine.catalog, result.model_dir, store=store_dir(data_dir))
    summary = engine.ingest.ingest(coll.root, COLLECTION)
    assert summary.added > 0
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{srv.server_port}", "app": app, "registered": registered, "coll": coll}
    finally:
        srv.shutdown()
        engine.close()


@pytest.fixture(scope="session")
def photo(tmp_path_factory: pytest.TempPathFactory, tiny_phone_model) -> tuple[Path, Image.Image]:
    """A 12 MP phone photo (stored sideways, EXIF 6) of a painting in the collection."""
    coll, _ = tiny_phone_model
    path = tmp_path_factory.mktemp("photos") / "camera.jpg"
    upright = camera_photo(path, Image.open(sorted(coll.root.glob("dots/*.jpg"))[0]), orientation=6)
    return path, upright
