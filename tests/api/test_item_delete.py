"""Deleting items over HTTP leaves the catalog and every FAISS index in agreement.

Search filters its hits through the catalog, so a vector left behind in an index by a delete
is invisible to a search test: it only wastes a candidate slot, comes back on ``reindex``
bookkeeping, and makes the saved index and the catalog disagree. These tests look at the
indexes themselves: the serving process's copies in memory, the files on disk, and what a
second process (another gunicorn worker) loads.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from backend.api import create_app
from backend.config import Settings
from backend.engine.index import VectorIndex
from backend.engine.services import Engine

COLLECTION = "demo"


def png_bytes(rgb: tuple[int, int, int], accent: tuple[int, int, int]) -> bytes:
    arr = np.zeros((90, 120, 3), np.uint8)
    arr[...] = rgb
    arr[20:60, 30:70] = accent
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def app(writable_demo: Path) -> Iterator[Any]:
    app = create_app(Settings(data_dir=writable_demo))
    yield app
    app.extensions["artsnap.engine"].close()


def _engine(app: Any) -> Engine:
    return app.extensions["artsnap.engine"]


def _indexed_ids(engine: Engine) -> dict[str, set[int]]:
    """Per descriptor: the ids the serving process's index holds in memory right now."""
    cid = engine.catalog.collection_id(COLLECTION)
    return {name: set(engine.index_store.get(cid, name).ids().tolist()) for name in engine.descriptors}


def _ids_on_disk(engine: Engine) -> dict[str, set[int]]:
    cid = engine.catalog.collection_id(COLLECTION)
    store = engine.index_store
    return {
        name: set(VectorIndex.open(store.path(cid, name), store._meta(name)).ids().tolist())
        for name in engine.descriptors
    }


def _check_gone(app: Any, data_dir: Path, gone: set[int], assert_consistent: Callable[..., None]) -> None:
    """No index anywhere (memory, disk, a freshly started process) holds any of ``gone``."""
    engine = _engine(app)
    for where, ids in (("in memory", _indexed_ids(engine)), ("on disk", _ids_on_disk(engine))):
        for name, held in ids.items():
            assert not held & gone, f"{name} index {where} still holds deleted item(s) {sorted(held & gone)}"
    assert_consistent(engine, COLLECTION)
    other = Engine.open(Settings(data_dir=data_dir))  # another worker, loading what was saved
    try:
        for name, held in _indexed_ids(other).items():
            assert not held & gone, (name, sorted(held & gone))
        cid = other.catalog.collection_id(COLLECTION)
        indexed = set(other.catalog.ids_with_status(cid, "indexed"))
        assert all(held == indexed for held in _indexed_ids(other).values())
    finally:
        other.close()


def _search_ids(client: Any, image: bytes, top_k: int = 60) -> list[int]:
    resp = client.post(
        f"/v1/collections/{COLLECTION}/search",
        data={"image": (io.BytesIO(image), "q.png"), "options": json.dumps({"top_k": top_k, "locate": False})},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    return [h["id"] for h in resp.get_json()["results"]]


def test_deleting_new_and_catalogued_items_removes_their_vectors_everywhere(
    app: Any, writable_demo: Path, demo_source: Any, assert_consistent: Callable[..., None]
) -> None:
    client = app.test_client()
    engine = _engine(app)
    added = []
    for i, (rgb, accent) in enumerate([((200, 30, 40), (20, 20, 220)), ((20, 150, 60), (250, 240, 10))]):
        resp = client.post(
            f"/v1/collections/{COLLECTION}/items", data={"image": (io.BytesIO(png_bytes(rgb, accent)), f"n{i}.png")}
        )
        assert resp.status_code == 201, resp.get_json()
        added.append(resp.get_json()["id"])
    assert all(set(added) <= held for held in _indexed_ids(engine).values())  # the check can see them
    before = {name: len(held) for name, held in _indexed_ids(engine).items()}

    # A freshly added item, then a catalogued painting with no duplicates.
    cid = engine.catalog.collection_id(COLLECTION)
    views = engine.catalog.get_items(engine.catalog.ids_with_status(cid, "indexed"))
    painting = next(v for v in views.values() if v.source_path == "seascape/seascape_0002.jpg")
    assert not painting.duplicates
    for item_id in (added[0], painting.id):
        assert client.delete(f"/v1/items/{item_id}").status_code == 204
        assert client.get(f"/v1/items/{item_id}").status_code == 404
    _check_gone(app, writable_demo, {added[0], painting.id}, assert_consistent)
    assert {name: len(held) for name, held in _indexed_ids(engine).items()} == {n: c - 2 for n, c in before.items()}

    # Searching with the deleted painting finds its family, never the painting itself, and
    # related items of what is left never name a deleted id either.
    hits = _search_ids(client, (Path(demo_source.out_dir) / painting.source_path).read_bytes())
    assert hits and painting.id not in hits and added[0] not in hits
    related = client.get(f"/v1/items/{added[1]}/related?top_k=60").get_json()["results"]
    assert not {h["id"] for h in related} & {added[0], painting.id}

    # Deleting what is already gone is a clean 404 that changes nothing.
    assert client.delete(f"/v1/items/{painting.id}").status_code == 404
    _check_gone(app, writable_demo, {added[0], painting.id}, assert_consistent)


def test_deleting_an_item_with_duplicates_and_deleting_a_duplicate(
    app: Any, writable_demo: Path, assert_consistent: Callable[..., None]
) -> None:
    client = app.test_client()
    engine = _engine(app)
    image = png_bytes((240, 120, 0), (0, 60, 200))
    kept = client.post(f"/v1/collections/{COLLECTION}/items", data={"image": (io.BytesIO(image), "kept.png")})
    kept_id = kept.get_json()["id"]
    dups = []
    for name in ("copy-1.png", "copy-2.png"):
        resp = client.post(f"/v1/collections/{COLLECTION}/items", data={"image": (io.BytesIO(image), name)})
        assert resp.status_code == 200 and resp.get_json()["duplicate_of"] == kept_id, resp.get_json()
        dups.append(resp.get_json()["id"])
    assert all(kept_id in held and not held & set(dups) for held in _indexed_ids(engine).values())

    # Deleting a duplicate removes only that catalog entry: the kept item's vector stays and
    # it is still what the picture finds.
    assert client.delete(f"/v1/items/{dups[0]}").status_code == 204
    assert client.get(f"/v1/items/{dups[0]}").status_code == 404
    assert client.get(f"/v1/items/{kept_id}").get_json()["duplicates"] == [dups[1]]
    assert all(kept_id in held for held in _indexed_ids(engine).values())
    assert_consistent(engine, COLLECTION)
    assert _search_ids(client, image)[0] == kept_id

    # Deleting the kept item removes its vector from every index, in memory and on disk.
    assert client.delete(f"/v1/items/{kept_id}").status_code == 204
    _check_gone(app, writable_demo, {kept_id, dups[0]}, assert_consistent)
    assert kept_id not in _search_ids(client, image)
    left = client.get(f"/v1/items/{dups[1]}")
    assert left.status_code == 200 and left.get_json()["duplicate_of"] is None  # the link went with the item

    # A catalogued painting with a duplicate from the demo collection, too.
    cid = engine.catalog.collection_id(COLLECTION)
    views = engine.catalog.get_items(engine.catalog.ids_with_status(cid, "indexed"))
    painting = next(v for v in views.values() if v.duplicates)
    assert client.delete(f"/v1/items/{painting.id}").status_code == 204
    _check_gone(app, writable_demo, {kept_id, dups[0], painting.id}, assert_consistent)
