"""What a real gunicorn worker loads: ONNX Runtime and FAISS, never the training stack.

``artsnap serve`` is started as a user starts it (gunicorn, one worker) over a copy of the demo
collection; after it has answered a photo search, the worker's memory map is read from
``/proc``: a worker that imported torch (or coremltools, LiteRT) has their shared libraries
mapped. The import contract in pyproject.toml checks the same rule statically; this checks the
running process, including anything imported lazily.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc to read memory maps")

FORBIDDEN_LIBRARIES = (
    "libtorch",
    "/torch/lib/",
    "coremltools",
    "litert_torch",
    "ai_edge_quantizer",
    "_pywrap_tensorflow",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    return out


@pytest.fixture
def gunicorn_server(writable_demo: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {**os.environ, "ARTSNAP_DATA_DIR": str(writable_demo)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"artsnap serve exited with {proc.returncode}: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
                )
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or the worker still loading
                pass
            if time.monotonic() > deadline:
                pytest.fail("artsnap serve did not answer /healthz within 120 s")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_gunicorn_worker_maps_no_torch_after_a_search(gunicorn_server: tuple[str, int], paint_jpeg) -> None:
    base, master = gunicorn_server
    photo = Image.open(io.BytesIO(paint_jpeg("seascape", 3, size=320))).convert("RGB")
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    resp = requests.post(
        f"{base}/v1/collections/demo/search", files={"image": ("p.jpg", buf.getvalue(), "image/jpeg")}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"], "the search found nothing, so the model path was not exercised"

    workers = _children(master)
    assert workers, "gunicorn started no worker"
    for pid in workers:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "onnxruntime" in maps, "the worker has not loaded ONNX Runtime: the check would prove nothing"
        loaded = sorted(
            {line.split()[-1] for line in maps.splitlines() if any(lib in line for lib in FORBIDDEN_LIBRARIES)}
        )
        assert not loaded, f"worker {pid} has the training stack loaded: {loaded[:5]}"
