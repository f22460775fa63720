"""Portals know their record ids, not ours: related works by a Europeana record id, a manifest's
``record_id``, a ``source_path`` or our item id (``GET /v1/collections/{name}/related``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.api import create_app
from backend.config import Settings
from backend.engine.attribution import normalize_record_ref, record_id_for
from backend.engine.catalog import migrate
from backend.engine.catalog.store import Catalog
from dataset_tools.readers import RecordSource

CC_BY_SA = "http://creativecommons.org/licenses/by-sa/4.0/"
FAMILIES = ("stripes", "ink_wash", "portrait", "starry_swirls")


@pytest.fixture(scope="module")
def portal_app(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedding_model, paint_jpeg, portal_records):
    from tests.conftest import _link_models

    data = tmp_path_factory.mktemp("portal") / "data"
    _link_models(data, models_dir)
    app = create_app(Settings(data_dir=data, check_responses=True))
    engine = app.extensions["artsnap.engine"]
    assert not engine.ingest.ingest(RecordSource(portal_records(8)), "portal").failed
    manifest_dir = tmp_path_factory.mktemp("manifest")
    lines = ["path,title,record_id,rights,provider,landing_page"]
    for i in range(6):
        (manifest_dir / f"w{i}.jpg").write_bytes(paint_jpeg(FAMILIES[(i + 1) % 4], 20 + i))
        lines.append(f"w{i}.jpg,Plate {i},nm:{100 + i},CC0 1.0,National Museum,javascript:alert({i})")
    (manifest_dir / "manifest.csv").write_text("\n".join(lines) + "\n")
    assert not engine.ingest.ingest(str(manifest_dir / "manifest.csv"), "manifest").failed
    yield app
    engine.close()


def _related(client, collection: str, **params: object):
    return client.get(f"/v1/collections/{collection}/related", query_string=params)


@pytest.mark.parametrize(
    "ref",
    [
        "europeana:/9200/item_3",
        "europeana:9200/item_3",
        "http://data.europeana.eu/item/9200/item_3",
        "https://www.europeana.eu/en/item/9200/item_3",
    ],
)
def test_a_europeana_record_id_finds_the_work_in_any_spelling(portal_app, ref: str) -> None:
    resp = _related(portal_app.test_client(), "portal", record=ref, top_k=4)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["item"]["record_id"] == "europeana:/9200/item_3" and body["item"]["title"] == "Work 3"
    assert len(body["results"]) == 4 and body["item"]["id"] not in {h["id"] for h in body["results"]}
    for hit in body["results"]:
        att = hit["attribution"]
        n = int(hit["title"].split()[-1])
        assert att == {
            "record_id": f"europeana:/9200/item_{n}",
            "rights": CC_BY_SA,
            "rights_label": "CC-BY-SA",
            "provider": f"Museum {n % 3}",
            "landing_page": f"https://www.europeana.eu/item/9200/item_{n}",
        }


def test_the_same_work_by_source_path_or_item_id(portal_app) -> None:
    c = portal_app.test_client()
    by_record = _related(c, "portal", record="europeana:/9200/item_5").get_json()
    item_id = by_record["item"]["id"]
    assert _related(c, "portal", source_path="europeana/9200/item_5.jpg").get_json()["item"]["id"] == item_id
    assert _related(c, "portal", item=item_id).get_json()["item"]["id"] == item_id


def test_a_manifests_own_record_ids_and_attribution(portal_app) -> None:
    resp = _related(portal_app.test_client(), "manifest", record="nm:102", top_k=3)
    assert resp.status_code == 200, resp.get_json()
    item = resp.get_json()["item"]
    assert item["title"] == "Plate 2" and item["record_id"] == "nm:102"
    att = item["attribution"]
    assert att["provider"] == "National Museum" and att["rights"] == "CC0 1.0"
    assert att["landing_page"] is None  # a javascript: URL from a manifest never becomes a link


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"record": "europeana:/9200/nothing"}, 404, "unknown_record"),
        ({"record": "nm:102"}, 404, "unknown_record"),  # another collection's record
        ({"source_path": "nope.jpg"}, 404, "unknown_record"),
        ({}, 400, "bad_request"),
        ({"record": "europeana:/9200/item_1", "item": 1}, 400, "bad_request"),
        ({"record": "europeana:"}, 400, "bad_request"),
        ({"record": "x" * 600}, 400, "bad_request"),
        ({"item": -1}, 400, "bad_request"),
        ({"item": 2**63}, 400, "bad_request"),
        ({"record": "europeana:/9200/item_1", "top_k": 0}, 400, "bad_request"),
    ],
)
def test_bad_lookups_answer_4xx(portal_app, params: dict[str, object], status: int, code: str) -> None:
    resp = _related(portal_app.test_client(), "portal", **params)
    assert resp.status_code == status and resp.get_json()["error"]["code"] == code, resp.get_json()


def test_unknown_collection(portal_app) -> None:
    resp = _related(portal_app.test_client(), "nope", record="europeana:/9200/item_1")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "unknown_collection"


def test_record_references_normalise() -> None:
    assert record_id_for({"europeana_record_id": "http://data.europeana.eu/item/1/a"}) == "europeana:/1/a"
    assert record_id_for({"record_id": " nm:7 "}) == "nm:7"
    assert record_id_for({"title": "x"}) is None
    assert normalize_record_ref("EUROPEANA:/1/a") == "europeana:/1/a"
    assert normalize_record_ref("my-id") == "my-id"
    with pytest.raises(ValueError):
        normalize_record_ref("europeana:not a record")


def test_migration_0003_fills_record_ids_of_existing_items(tmp_path: Path) -> None:
    """A catalog from before this change gets its items' record ids (and upload origins) on upgrade."""
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO collections (id, name, settings) VALUES (1, 'c', '{}')"))
        for i, (path, extra) in enumerate(
            [
                ("europeana/1/a.jpg", '{"europeana_record_id": "/1/a"}'),
                ("x.jpg", '{"record_id": "nm:5"}'),
                ("uploads/abc-photo.jpg", "{}"),
            ],
            start=1,
        ):
            conn.execute(
                text(
                    "INSERT INTO items (id, collection_id, source_path, sha256, status, extra) "
                    "VALUES (:id, 1, :p, 'x', 'indexed', :e)"
                ),
                {"id": i, "p": path, "e": extra},
            )
    engine.dispose()
    catalog = Catalog(url)
    try:
        items = catalog.get_items([1, 2, 3])
        assert [items[i].record_id for i in (1, 2, 3)] == ["europeana:/1/a", "nm:5", None]
        assert [items[i].origin for i in (1, 2, 3)] == ["ingest", "ingest", "upload"]
        assert catalog.find_item(1, record_id="europeana:/1/a") == 1
    finally:
        catalog.close()
