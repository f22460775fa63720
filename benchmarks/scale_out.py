"""Beyond one machine: two instances over one catalog and one Milvus, an index swap and a store
stop under load, and ingest on a local Ray cluster against the local ingest.

Protocol. A milvus-lite *server* process is the shared Milvus; the catalog is
``$ARTSNAP_DATABASE_URL`` when it names a PostgreSQL, else one SQLite file both instances open
(same machine). ``n`` catalogue images are ingested, then two ``artsnap serve`` instances
(1 gunicorn worker each) start on two ports.

- *Visibility*: an image uploaded through instance A; instance B is searched with it until it
  answers it first; the time from A's 201 to B's first such answer, per write.
- *Swap*: 4 client threads send phone-vector searches to both instances while
  ``artsnap swap-index --index-factory HNSW16`` builds a new generation and switches, then
  ``rollback-index`` switches back; every answer counts, a non-200 or an empty list is a failure.
- *Model swap*: 4 client threads send photo searches (embedded by the server with its serving
  model) and related-item requests to both instances while ``swap-model efficientnet-lite1``
  re-embeds every item beside the serving EfficientNet-Lite0 and flips the catalog, then
  ``rollback-model`` flips back (catching up with what was written meanwhile); neither
  instance restarts. A non-200 or an empty list is a failure; each photo search says which
  model answered it. "Writers waited" is the time the switch held the collection's write lock.
- *Store stopped*: the same load on A; the Milvus process is killed; the time each request
  took after the kill (a 503 ``vector_store_unavailable`` is the right answer) and the worst.
- *Ray*: the same ``n`` images ingested locally and with ``--ray`` on a local cluster of
  2 CPUs (2 describe actors), each into a fresh data folder; images per second of each (model
  loading counted in neither: the local engine is warmed up, the actors load theirs before the
  ingest starts; cluster start-up not counted), and whether the catalogs agree.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .context import BenchContext
from .figures import Latency, TargetCheck, fmt_ratio, md_table, ratio

NAME = "scale_out"
TITLE = "Two instances, Milvus and Ray: write visibility, swap and store stop under load, Ray ingest"


@dataclass
class ScaleOut:
    catalog: str
    visibility_s: list[float]
    swap_answers: int
    swap_failures: int
    model_swap_answers: int
    model_swap_failures: int
    #: photo searches answered by each embedding model during the model swap and rollback
    model_swap_models: dict[str, int]
    model_swap_build_s: float
    model_swap_locked_s: float
    stop_answers: Latency
    stop_statuses: dict[str, int]
    local_img_s: float
    ray_img_s: float
    same_catalog: bool
    n_images: int

    @property
    def ray_ratio(self) -> float:
        return ratio(self.ray_img_s, self.local_img_s)

    def headline(self) -> str:
        return (
            f"write seen by the other instance in ≤ {max(self.visibility_s):.2f} s; swap: {self.swap_failures} failed "
            f"of {self.swap_answers}; model swap: {self.model_swap_failures} failed of {self.model_swap_answers}; store stopped: worst answer {self.stop_answers.max_ms:.0f} ms; Ray ingest "
            f"{fmt_ratio(self.ray_ratio)} local"
        )

    def targets(self) -> list[TargetCheck]:
        worst = max(self.visibility_s)
        return [
            TargetCheck("two instances: a write seen by the other instance", "≤ 2 s", f"{worst:.2f} s", worst <= 2.0),
            TargetCheck(
                "Ray ingest (local cluster, 2 workers) vs local ingest",
                "≥ 0.9× throughput, identical catalog",
                f"{fmt_ratio(self.ray_ratio)}, catalog {'identical' if self.same_catalog else 'DIFFERENT'}",
                self.ray_ratio >= 0.9 and self.same_catalog,
            ),
            TargetCheck(
                "index swap under load (blue/green and rollback)",
                "0 failed requests",
                f"{self.swap_failures} of {self.swap_answers}",
                self.swap_failures == 0,
            ),
            TargetCheck(
                "embedding model swap under mixed load (blue/green and rollback)",
                "0 failed requests",
                f"{self.model_swap_failures} of {self.model_swap_answers}",
                self.model_swap_failures == 0,
            ),
            TargetCheck(
                "store stopped mid-load: every request answered",
                "within 1 s (503 or partial), none hang",
                f"worst {self.stop_answers.max_ms:.0f} ms, {self.stop_statuses}",
                self.stop_answers.max_ms < 1000 and "hang" not in self.stop_statuses,
            ),
        ]

    def markdown(self) -> str:
        vis = Latency.of([s * 1000 for s in self.visibility_s])
        rows = [
            ("write on A → found by a search on B", vis.short()),
            ("searches during swap + rollback", f"{self.swap_answers} answered, {self.swap_failures} failed"),
            (
                "requests during model swap + rollback",
                f"{self.model_swap_answers} answered, {self.model_swap_failures} failed; photo searches by model: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.model_swap_models.items())),
            ),
            (
                "model swap: re-embedding beside the serving model / writers waited",
                f"{self.model_swap_build_s:.1f} s / {self.model_swap_locked_s * 1000:.0f} ms",
            ),
            ("answers after the store was killed", f"{self.stop_answers.short()}; {self.stop_statuses}"),
            (
                f"ingest of {self.n_images} images",
                f"local {self.local_img_s:.1f} img/s, Ray {self.ray_img_s:.1f} img/s = {fmt_ratio(self.ray_ratio)}",
            ),
        ]
        return "\n".join(
            [
                __doc__.split("\n\n", 1)[1].strip(),
                "",
                f"Catalog: {self.catalog}.",
                "",
                md_table(("what", "measured"), rows),
            ]
        )


def run(ctx: BenchContext) -> ScaleOut:
    from backend.engine.services import Engine
    from backend.ray_ingest import ray_ingest_service
    from edge_models.embedding_model import ensure_embedding_model

    from .milvus_server import milvus_lite_server
    from .server_process import served

    n = 60 if ctx.quick else 300
    images = ctx.catalogue_images(n, seed=5)
    local = ctx.scratch("scale-local")
    source = images.write_folder(local.data_dir / "source")
    local_eng = Engine.open(local)
    local_eng.search.warm_up()
    local_summary, local_rows = _ingest(local_eng, source, None)

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ray_settings = ctx.scratch("scale-ray")
        eng = Engine.open(ray_settings)
        ray_summary, ray_rows = _ingest(eng, source, lambda e: ray_ingest_service(e, "local", workers=2))
    finally:
        ray.shutdown()

    st = ctx.scratch("scale-out")
    db = _database_url(st)
    with milvus_lite_server(st.data_dir) as milvus:
        settings = replace(st, database_url=db, vector_store=milvus.uri)
        eng = Engine.open(settings)
        eng.ingest.ingest(source, "bench")
        cid = eng.catalog.collection_id("bench")
        item_ids = eng.catalog.ids_with_status(cid, "indexed")[:16]
        vectors = eng.index_store.get(cid, "cnn").reconstruct(item_ids)
        eng.close()
        with served(settings, log_name="a.log") as a, served(settings, log_name="b.log") as b:
            ctx.log("scale_out: write visibility, A → B")
            visibility = [_visibility(a.url, b.url, _new_photo(i)) for i in range(5 if ctx.quick else 20)]
            ctx.log("scale_out: swap and rollback under load")
            swap = _under_load([a.url, b.url], vectors, lambda: _swap(settings))
            ctx.log("scale_out: embedding model swap and rollback under mixed load")
            ensure_embedding_model(settings.models_dir, model="efficientnet-lite1")  # the export is not timed
            photos = [p.read_bytes() for p in sorted(Path(source).rglob("*.jpg"))[:8]]
            timings: list[Any] = []
            model_swap = under_mixed_load(
                [a.url, b.url], "bench", photos, item_ids, lambda seen: timings.extend(_swap_model(settings, seen))
            )
            ctx.log("scale_out: stopping the store under load")
            stop = _under_load([a.url], vectors, milvus.stop, after_s=3.0)
    statuses: dict[str, int] = {}
    for _, status in stop:
        statuses[status] = statuses.get(status, 0) + 1
    return ScaleOut(
        catalog="PostgreSQL ($ARTSNAP_DATABASE_URL)" if db.startswith("postgresql") else "one SQLite file",
        visibility_s=visibility,
        swap_answers=len(swap),
        swap_failures=sum(1 for _, s in swap if s != "200"),
        model_swap_answers=len(model_swap),
        model_swap_failures=sum(1 for x in model_swap if x.status != "200"),
        model_swap_models=_count(x.model for x in model_swap if x.kind == "search"),
        model_swap_build_s=timings[0].build_s,
        model_swap_locked_s=max(t.locked_s for t in timings),
        stop_answers=Latency.of([t * 1000 for t, _ in stop]),
        stop_statuses=statuses,
        local_img_s=local_summary.images_per_s,
        ray_img_s=ray_summary.images_per_s,
        same_catalog=local_rows == ray_rows,
        n_images=n,
    )


def _database_url(st: Any) -> str:
    import os

    url = os.environ.get("ARTSNAP_DATABASE_URL", "")
    return url if url.startswith("postgresql") else st.database_url


def _ingest(eng: Any, source: Any, service: Any) -> tuple[Any, dict[str, tuple[Any, ...]]]:
    try:
        summary = (service(eng) if service else eng.ingest).ingest(source, "bench")
        cid = eng.catalog.collection_id("bench")
        views = eng.catalog.get_items(eng.catalog.ids_with_status(cid, "indexed"))
        rows = {v.source_path: (v.sha256, tuple(v.label_names)) for v in views.values()}
    finally:
        eng.close()
    return summary, rows


def _new_photo(i: int) -> bytes:
    """A painting no catalogue holds (a duplicate would be linked, not indexed)."""
    import io

    from dataset_tools.demo import paint

    buf = io.BytesIO()
    paint("starry_swirls", 5000 + i, size=200, seed=11).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _visibility(a: str, b: str, photo: bytes) -> float:
    import requests

    added = requests.post(
        f"{a}/v1/collections/bench/items", files={"image": ("w.jpg", photo, "image/jpeg")}, timeout=60
    )
    added.raise_for_status()
    written, new_id = time.monotonic(), added.json()["id"]
    options = {"options": '{"top_k": 3, "locate": false}'}
    while time.monotonic() - written < 30:
        found = requests.post(
            f"{b}/v1/collections/bench/search",
            files={"image": ("q.jpg", photo, "image/jpeg")},
            data=options,
            timeout=30,
        ).json()["results"]
        if found and found[0]["id"] == new_id:
            seen = time.monotonic() - written
            requests.delete(f"{a}/v1/items/{new_id}", timeout=30)
            return seen
    return float("inf")


def _swap(settings: Any) -> None:
    import os

    from backend.cli import main

    env = {"ARTSNAP_DATABASE_URL": settings.database_url, "ARTSNAP_VECTOR_STORE": settings.vector_store}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        base = ["--data-dir", str(settings.data_dir)]
        main([*base, "swap-index", "--collection", "bench", "--index-factory", "HNSW16"])
        time.sleep(1.0)  # let the load see the new generation before switching back
        main([*base, "rollback-index", "--collection", "bench"])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_for_answers(answers: list[Answer], model: str, count: int = 4, timeout_s: float = 60.0) -> None:
    """Until ``count`` more photo searches were answered by ``model`` (each instance has loaded it)."""
    start, deadline = len(answers), time.monotonic() + timeout_s
    while sum(1 for x in answers[start:] if x.model == model) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def _swap_model(settings: Any, seen: list[Answer]) -> list[Any]:
    """``swap-model efficientnet-lite1``, searches served by it, ``rollback-model``: their reports."""
    from backend.engine.model_switch import previous_model, switch_model
    from backend.engine.services import Engine

    eng = Engine.open(settings)
    try:
        assert eng.spaces is not None
        there = switch_model(eng.catalog, eng.spaces, "efficientnet-lite1", load_image=eng.ingest.load_media)
        wait_for_answers(seen, "efficientnet-lite1-imagenet-embedding")
        back = switch_model(eng.catalog, eng.spaces, previous_model(eng.spaces), load_image=eng.ingest.load_media)
    finally:
        eng.close()
    return [there, back]


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _under_load(urls: list[str], vectors: np.ndarray, action: Any, *, after_s: float = 1.0) -> list[tuple[float, str]]:
    """Run ``action`` while 4 threads search; the answers from the action's start to ``after_s`` past its end."""
    import requests

    from backend.engine.embedding_space import server_space

    stop, started = threading.Event(), threading.Event()
    answers: list[tuple[float, str]] = []

    def load(i: int) -> None:
        while not stop.is_set():
            body = {"embedding": vectors[i % len(vectors)].tolist(), "embedding_space": server_space()}
            t0 = time.monotonic()
            try:
                r = requests.post(f"{urls[i % len(urls)]}/v1/collections/bench/search", json=body, timeout=10)
                ok = r.status_code == 200 and bool(r.json()["results"])
                status = "200" if ok else (str(r.status_code) if r.status_code != 200 else "empty")
            except requests.RequestException:
                status = "hang"
            if started.is_set():
                answers.append((time.monotonic() - t0, status))

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the load is running before the action starts
    started.set()
    action()
    time.sleep(after_s)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    return answers


@dataclass(frozen=True)
class Answer:
    """One request of :func:`under_mixed_load`: how long it took, ``"200"`` or what went wrong,
    and which embedding model answered it (image searches only)."""

    seconds: float
    status: str
    kind: str
    model: str = ""


def under_mixed_load(
    urls: list[str],
    collection: str,
    photos: list[bytes],
    item_ids: list[int],
    action: Any,
    *,
    threads: int = 4,
    after_s: float = 1.0,
) -> list[Answer]:
    """Run ``action(answers)`` while ``threads`` clients send photo searches (embedded by the
    server, so by its serving model) and related-item requests to ``urls`` in turn; every answer
    from the action's start to ``after_s`` past its end (the action sees the list grow). A
    non-200 or an empty result list is a failure."""
    import requests

    stop, started = threading.Event(), threading.Event()
    answers: list[Answer] = []
    options = {"options": '{"top_k": 5, "locate": false}'}

    def load(i: int) -> None:
        n = i
        while not stop.is_set():
            url, n = urls[n % len(urls)], n + 1
            t0 = time.monotonic()
            kind, model = ("search", "") if n % 2 else ("related", "")
            try:
                if kind == "search":
                    photo = photos[n % len(photos)]
                    r = requests.post(
                        f"{url}/v1/collections/{collection}/search",
                        files={"image": ("q.jpg", photo, "image/jpeg")},
                        data=options,
                        timeout=30,
                    )
                else:
                    r = requests.get(f"{url}/v1/items/{item_ids[n % len(item_ids)]}/related?top_k=5", timeout=30)
                body = r.json()
                ok = r.status_code == 200 and bool(body.get("results"))
                status = "200" if ok else (str(r.status_code) if r.status_code != 200 else "empty")
                model = next((m["model"] for m in body.get("models", []) if m.get("descriptor") == "cnn"), "")
            except requests.RequestException:
                status = "hang"
            if started.is_set():
                answers.append(Answer(time.monotonic() - t0, status, kind, model if kind == "search" else ""))

    workers = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(threads)]
    for t in workers:
        t.start()
    time.sleep(1.0)  # the load is running before the action starts
    started.set()
    action(answers)
    time.sleep(after_s)
    stop.set()
    for t in workers:
        t.join(timeout=30)
    return answers
