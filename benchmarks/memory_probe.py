"""Child process for the memory figure: load a collection the way a gunicorn worker does, report RSS.

Run as ``python -m benchmarks.memory_probe --data-dir D --database-url U --index-factory F
--collection C``; prints one JSON object on stdout. A fresh process is the only honest way to
measure resident memory (the parent holds the benchmark's own arrays), and the steps are
exactly a worker's: ``create_app`` (engine + catalog), ``search.warm_up()`` (model), the
collection's indexes on first search, then real searches. ``torch`` is imported as its own
step before the model so its share is visible: the worker needs it only because the model
cache key and export live in a module that imports torch.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import time


def _status_mb(field: str) -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--database-url", required=True)
    p.add_argument("--index-factory", required=True)
    p.add_argument("--collection", required=True)
    args = p.parse_args(argv)

    stages: list[dict[str, float | str]] = []

    def mark(name: str, t0: float) -> None:
        stages.append(
            {
                "stage": name,
                "rss_mb": _status_mb("VmRSS"),
                "hwm_mb": _status_mb("VmHWM"),
                "seconds": time.perf_counter() - t0,
            }
        )

    t = time.perf_counter()
    mark("python interpreter", t)
    t = time.perf_counter()
    from backend.api import create_app
    from backend.config import Settings

    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, index_factory=args.index_factory)
    app = create_app(settings)
    eng = app.extensions["artsnap.engine"]
    mark("Flask app + engine (imports, catalog open)", t)
    t = time.perf_counter()
    torch_before = "torch" in sys.modules
    import torch  # noqa: F401 - measured on purpose, see the module docstring

    mark("import torch (pulled in by edge_models.onnx_export)", t)
    t = time.perf_counter()
    eng.search.warm_up()
    mark("model loaded (ONNX Runtime session, warm-up)", t)
    t = time.perf_counter()
    cid = eng.catalog.collection_id(args.collection)
    sizes = {}
    for name in eng.descriptors:
        idx = eng.index_store.get(cid, name)
        path = eng.index_store.path(cid, name)
        sizes[name] = {"ntotal": len(idx), "file_mb": path.stat().st_size / 2**20 if path.exists() else 0.0}
    mark("collection indexes loaded", t)
    t = time.perf_counter()
    import numpy as np
    from PIL import Image

    from backend.engine.embedding_space import server_space

    client = app.test_client()
    rng = np.random.default_rng(0)
    for _ in range(3):
        vec = np.abs(rng.standard_normal(eng.descriptors["cnn"].dim)).tolist()  # non-negative, as real ones are
        body = {"embedding": vec, "embedding_space": server_space(), "options": {"top_k": 12}}
        r = client.post(f"/v1/collections/{args.collection}/search", json=body)
        if r.status_code != 200:
            raise SystemExit(f"embedding search failed: {r.status_code} {r.get_data(as_text=True)[:300]}")
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    for _ in range(2):
        r = client.post(
            f"/v1/collections/{args.collection}/search",
            data={"image": (io.BytesIO(buf.getvalue()), "q.jpg")},
            content_type="multipart/form-data",
        )
        if r.status_code != 200:
            raise SystemExit(f"image search failed: {r.status_code} {r.get_data(as_text=True)[:300]}")
    mark("after 5 searches (3 embedding, 2 photo)", t)
    out = {
        "factory": args.index_factory,
        "stages": stages,
        "rss_mb": _status_mb("VmRSS"),
        "peak_mb": _status_mb("VmHWM"),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "indexes": sizes,
        "torch_imported_before_model": torch_before,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
