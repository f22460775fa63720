"""What a real gunicorn worker loads: ONNX Runtime and FAISS, never the training stack.

``artsnap serve`` is started as a user starts it (gunicorn, one worker) over a copy of the demo
collection; after it has answered a photo search, the worker's memory map is read from
``/proc``: a worker that imported torch (or coremltools, LiteRT) has their shared libraries
mapped. The import contract in pyproject.toml checks the same rule statically; this checks the
running process, including anything imported lazily.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.api.served import Served, serving_process

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc to read memory maps")

FORBIDDEN_LIBRARIES = (
    "libtorch",
    "/torch/lib/",
    "coremltools",
    "litert_torch",
    "ai_edge_quantizer",
    "_pywrap_tensorflow",
)


@pytest.fixture
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> Iterator[Served]:
    with serving_process(tmp_path_factory, demo_data_dir, {}) as served:
        yield served


def test_gunicorn_worker_maps_no_torch_after_a_search(gunicorn_server: Served, paint_jpeg) -> None:
    base = gunicorn_server.base
    photo = Image.open(io.BytesIO(paint_jpeg("seascape", 3, size=320))).convert("RGB")
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    resp = requests.post(
        f"{base}/v1/collections/demo/search", files={"image": ("p.jpg", buf.getvalue(), "image/jpeg")}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"], "the search found nothing, so the model path was not exercised"

    workers = gunicorn_server.worker_pids()
    assert workers, "gunicorn started no worker"
    for pid in workers:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "onnxruntime" in maps, "the worker has not loaded ONNX Runtime: the check would prove nothing"
        loaded = sorted(
            {line.split()[-1] for line in maps.splitlines() if any(lib in line for lib in FORBIDDEN_LIBRARIES)}
        )
        assert not loaded, f"worker {pid} has the training stack loaded: {loaded[:5]}"
