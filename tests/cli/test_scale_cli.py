"""``artsnap migrate-index`` / ``swap-index`` / ``rollback-index`` from the command line, on milvus-lite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from backend.cli import main
from backend.config import Settings
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine


def test_migrate_index_moves_a_collection_into_milvus_and_back(
    writable_demo: Path, tmp_path: Path, demo_source, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("ARTSNAP_VECTOR_STORE", raising=False)
    uri = f"milvus://{tmp_path / 'm.db'}"
    assert main(["--data-dir", str(writable_demo), "migrate-index", "--to", "milvus", "--uri", uri, "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["collection"] == "demo" and line["vectors"]["cnn"] == 48 and line["reconcile"]["marked_pending"] == 0
    query = next(Path(demo_source.out_dir).glob("portrait/*.jpg")).read_bytes()
    faiss_eng, milvus_eng = (
        Engine.open(Settings(data_dir=writable_demo)),
        Engine.open(Settings(data_dir=writable_demo, vector_store=uri)),
    )
    try:
        want = [h.item.id for h in faiss_eng.search.search_image("demo", query, SearchOptions(top_k=5)).hits]
        assert [h.item.id for h in milvus_eng.search.search_image("demo", query, SearchOptions(top_k=5)).hits] == want
    finally:
        faiss_eng.close()
        milvus_eng.close()
    # swap-index is refused on FAISS files, and needs no restart on Milvus.
    assert (
        main(["--data-dir", str(writable_demo), "swap-index", "--collection", "demo", "--index-factory", "HNSW16"]) == 2
    )
    assert "only a Milvus store" in capsys.readouterr().err
    monkeypatch.setenv("ARTSNAP_VECTOR_STORE", uri)
    assert (
        main(["--data-dir", str(writable_demo), "swap-index", "--collection", "demo", "--index-factory", "HNSW16"]) == 0
    )
    assert main(["--data-dir", str(writable_demo), "rollback-index", "--collection", "demo"]) == 0
    assert main(["--data-dir", str(writable_demo), "rollback-index", "--collection", "demo"]) == 2  # nothing older
    assert "no previous generation" in capsys.readouterr().err


def test_migrate_index_to_milvus_needs_an_address(writable_demo: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("ARTSNAP_VECTOR_STORE", raising=False)
    assert main(["--data-dir", str(writable_demo), "migrate-index", "--to", "milvus"]) == 2
    assert "--uri" in capsys.readouterr().err


def test_healthz_names_the_vector_store(demo_data_dir: Path) -> None:
    from backend.api import create_app

    app = create_app(Settings(data_dir=demo_data_dir))
    body = app.test_client().get("/healthz").get_json()
    assert body["vector_store"] == {"kind": "faiss", "status": "ok"} and body["down"] == []
