"""Trained retrieval codes in the engine: indexed at ingest, searched, rebuilt, and crash-safe.

The code head is the real thing (``train_codes`` on the demo collection, see ``code_model_dir``),
registered the way ``artsnap models register`` does, over the real ONNX embedding.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.cli import main
from backend.engine.binary_index import BinaryIndex
from backend.engine.catalog.store import Catalog
from backend.engine.model_registry import register_model_dir, store_dir
from backend.engine.reranked_index import RerankedIndex
from backend.engine.search_options import SearchOptions
from backend.engine.services import Engine


def register(settings, model_dir: Path) -> None:
    catalog = Catalog(settings.database_url)
    try:
        register_model_dir(catalog, model_dir, store=store_dir(settings.data_dir))
    finally:
        catalog.close()


def family_of(path: str) -> str:
    return path.split("/")[0]


def test_codes_are_indexed_at_ingest_and_search_finds_the_same_family(
    make_settings, demo_source, code_model_dir: Path, assert_consistent
) -> None:
    settings = make_settings()
    register(settings, code_model_dir)
    eng = Engine.open(settings)
    assert eng.descriptors["code"].dim == 16
    summary = eng.ingest.ingest(demo_source.out_dir, "demo")
    assert not summary.failed
    assert_consistent(eng, "demo")  # the code index holds exactly the indexed items
    cid = eng.catalog.collection_id("demo")
    code_index = eng.index_store.get(cid, "code")
    assert isinstance(code_index, BinaryIndex) and code_index.code_bytes() == 2  # 16 bits

    query_path = "stripes/stripes_0002.jpg"
    data = (Path(demo_source.out_dir) / query_path).read_bytes()
    by_code = eng.search.search_image("demo", data, SearchOptions(top_k=5, weights={"code": 1.0}, locate=False))
    assert [m["descriptor"] for m in by_code.models] == ["code"]
    assert set(by_code.hits[0].scores) == {"code"}
    families = [family_of(h.item.source_path) for h in by_code.hits]
    assert families.count("stripes") >= 4, families

    # A phone sends its cnn embedding: the server derives the code, and the answer is the same.
    image = Image.open(io.BytesIO(data)).convert("RGB")
    cnn = eng.descriptors["cnn"].describe([image])[0]
    by_vector = eng.search.search_vectors("demo", {"cnn": cnn}, SearchOptions(top_k=5, weights={"code": 1.0}))
    assert [h.item.id for h in by_vector.hits] == [h.item.id for h in by_code.hits]

    # Related items by code: never the item itself, and its family first.
    item_id = by_code.hits[0].item.id
    _, related = eng.search.related(item_id, SearchOptions(top_k=4, weights={"code": 1.0}))
    assert item_id not in [h.item.id for h in related.hits]
    assert [family_of(h.item.source_path) for h in related.hits].count("stripes") >= 3
    eng.close()


def test_reindex_only_code_fills_a_collection_indexed_before_the_model_without_re_embedding(
    make_settings, demo_source, code_model_dir: Path, assert_consistent, capsys
) -> None:
    settings = make_settings()
    eng = Engine.open(settings)
    eng.ingest.ingest(demo_source.out_dir, "demo")
    eng.close()
    register(settings, code_model_dir)
    cnn_file = settings.index_dir / "1" / "cnn.faiss"
    before = cnn_file.stat().st_mtime_ns

    base = ["--data-dir", str(settings.data_dir)]
    assert main([*base, "reindex", "--collection", "demo", "--only", "code"]) == 0
    assert "code of 48 items from their cnn vectors" in capsys.readouterr().err
    assert cnn_file.stat().st_mtime_ns == before  # no image decoded, no cnn vector recomputed
    eng = Engine.open(settings)
    assert_consistent(eng, "demo")
    eng.close()

    query = str(Path(demo_source.out_dir) / "ink_wash/ink_wash_0001.jpg")
    search = [*base, "search", query, "--collection", "demo", "--weights", "code=1", "--top-k", "3", "--json"]
    assert main(search) == 0
    out = capsys.readouterr().out
    assert '"code"' in out and "ink_wash/" in out

    # A code index of another head is refused with the fix, which then works.
    side = settings.index_dir / "1" / "code.json"
    side.write_text(side.read_text().replace('"model_version": "', '"model_version": "older-'))
    assert main(search) == 2
    assert "artsnap reindex" in capsys.readouterr().err
    assert main([*base, "reindex", "--collection", "demo", "--only", "code"]) == 0
    assert main(search) == 0
    assert main([*base, "reindex", "--collection", "demo", "--only", "cnn"]) == 2
    assert "full reindex" in capsys.readouterr().err


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from dataclasses import replace
    from backend import config
    from backend.engine import index, ingest

    _from_env = config.Settings.from_env.__func__
    config.Settings.from_env = classmethod(lambda cls, *a, **kw: replace(_from_env(cls, *a, **kw), ingest_batch=4))
    ingest.IngestService.ingest.__kwdefaults__["flush_every"] = 4
    _save, _n, _at = index.VectorIndex.save, [0], int(os.environ["KILL_AT_SAVE"])

    def save(self, path):
        _save(self, path)
        _n[0] += 1
        if _n[0] == _at:
            os.kill(os.getpid(), signal.SIGKILL)

    index.VectorIndex.save = save
    from backend.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize(
    "kill_at",
    [
        5,  # 2nd flush: the cnn floats are saved, its compressed part, colour and code are not
        7,  # 2nd flush: cnn and colour saved, the code index not
    ],
)
def test_sigkill_mid_ingest_with_reranked_and_binary_indexes_then_rerun_agrees(
    tmp_path: Path, make_settings, paint_jpeg, code_model_dir: Path, assert_consistent, kill_at: int
) -> None:
    """Each flush saves 4 files in order: cnn floats, cnn graph (HNSW16,RFlat), colour, code (BHNSW16)."""
    files = {
        f"{fam}/{fam}_{i}.jpg": paint_jpeg(fam, i, size=96)
        for fam in ("mondrian", "cubist", "stripes")
        for i in range(4)
    }
    source = tmp_path / "src"
    for rel, data in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
    settings = make_settings()
    register(settings, code_model_dir)
    env = {
        **os.environ,
        "ARTSNAP_DATA_DIR": str(settings.data_dir),
        "ARTSNAP_INDEX_FACTORY": "HNSW16,RFlat",
        "ARTSNAP_CODE_INDEX_FACTORY": "BHNSW16",
        "KILL_AT_SAVE": str(kill_at),
    }
    cmd = ["ingest", str(source), "--collection", "c", "--quiet"]
    killed = subprocess.run([sys.executable, "-c", _KILLER, *cmd], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]

    from dataclasses import replace

    settings = replace(settings, index_factory="HNSW16,RFlat", code_index_factory="BHNSW16")
    eng = Engine.open(settings)
    cid = eng.catalog.collection_id("c")
    assert eng.catalog.ids_with_status(cid, "pending"), "the kill should have left rows pending"
    summary = eng.ingest.ingest(source, "c")
    assert not summary.failed and summary.reconcile is not None
    assert isinstance(eng.index_store.get(cid, "cnn"), RerankedIndex)
    assert isinstance(eng.index_store.get(cid, "code"), BinaryIndex)
    assert_consistent(eng, "c")
    hit = eng.search.search_image("c", files["cubist/cubist_3.jpg"], SearchOptions(top_k=1, locate=False)).hits[0]
    assert hit.item.source_path == "cubist/cubist_3.jpg"
    assert len(
        np.unique([v.source_path for v in eng.catalog.get_items(eng.catalog.ids_with_status(cid, "indexed")).values()])
    ) == len(files)
    eng.close()
