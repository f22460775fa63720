"""Slow clients cannot starve the real server (``artsnap serve``: gunicorn, one worker).

Ten uploads send their headers and part of their body, then stall. With gthread workers
each held a thread, and ``/healthz`` went unanswered for as long as they stalled. Here the
health check must answer at once while they hang, and the stalled uploads are let go with
a 408 after the body timeout (set to a few seconds for the test).
"""

from __future__ import annotations

import io
import select
import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from tests.api.served import BODY_TIMEOUT_S, serving

STALLED = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> Iterator[str]:
    # the healthz-while-computing test needs the compute thread; the others hold either way
    with serving(tmp_path_factory, demo_data_dir, ARTSNAP_COMPUTE_THREAD="1") as base:
        yield base


@pytest.fixture(scope="module")
def loop_server(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> Iterator[str]:
    """The default: requests compute on the worker's event loop."""
    with serving(tmp_path_factory, demo_data_dir) as base:
        yield base


def stalled_upload(port: int) -> socket.socket:
    """A photo upload that announces 1 MB, sends its headers and 2 KB of body, and stops."""
    boundary = "artsnapboundary"
    head = (
        f"POST /v1/collections/demo/search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + b"\xff\xd8\xff"
        + b"\x00" * 2000
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head + part)
    return sock


def test_healthz_answers_at_once_while_ten_uploads_stall(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    stalls = [stalled_upload(port) for _ in range(STALLED)]
    try:
        elapsed = []
        with requests.Session() as http:
            for _ in range(7):
                t0 = time.perf_counter()
                resp = http.get(f"{server}/healthz", timeout=2)
                elapsed.append(time.perf_counter() - t0)
                assert resp.status_code == 200 and resp.json()["status"] == "ok"
        assert statistics.median(elapsed) <= 0.100, [f"{s * 1000:.0f} ms" for s in elapsed]

        # The stalled uploads are let go: each gets a 408 once it has been silent for the timeout.
        for sock in stalls:
            sock.settimeout(BODY_TIMEOUT_S + 20)
            answer = b""
            while b'"request_timeout"' not in answer and (chunk := sock.recv(4096)):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b'"request_timeout"' in answer, answer[-300:]
    finally:
        for sock in stalls:
            sock.close()


def test_writes_work_under_gevent_workers(server: str) -> None:
    """Adding and deleting take the collection's file lock and write SQLite inside a greenlet."""
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 30, 140)).save(buf, "PNG")
    added = requests.post(
        f"{server}/v1/collections/demo/items", files={"image": ("magenta.png", buf.getvalue())}, timeout=60
    )
    assert added.status_code == 201, added.text
    item_id = added.json()["id"]
    found = requests.post(
        f"{server}/v1/collections/demo/search",
        files={"image": ("q.png", buf.getvalue())},
        data={"options": '{"top_k": 1, "locate": false}'},
        timeout=60,
    )
    assert found.json()["results"][0]["id"] == item_id
    assert requests.delete(f"{server}/v1/items/{item_id}", timeout=60).status_code == 204
    assert requests.get(f"{server}/v1/items/{item_id}", timeout=60).status_code == 404


def _photo_search_request(port: int, photo: bytes) -> bytes:
    """A whole photo-search request as bytes (multipart), to send on a raw socket."""
    prepared = requests.Request(
        "POST", f"http://127.0.0.1:{port}/v1/collections/demo/search", files={"image": ("snap.jpg", photo)}
    ).prepare()
    head = f"POST {prepared.path_url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in prepared.headers.items()) + "\r\n"
    assert isinstance(prepared.body, bytes)
    return head.encode() + prepared.body


def _answered(sock: socket.socket) -> bool:
    """Whether the server has started answering on ``sock`` (without waiting)."""
    ready, _, _ = select.select([sock], [], [], 0)
    return bool(ready)


@contextmanager
def _queued_photo_searches(base: str, demo_source, count: int) -> Iterator[list[socket.socket]]:
    """``count`` 12 MP photo searches sent at once on raw sockets (closed afterwards)."""
    from dataset_tools.camera_snap import simulate_snap

    port = int(base.rsplit(":", 1)[1])
    painting = Image.open(sorted(demo_source.out_dir.rglob("*.jpg"))[0]).convert("RGB")
    buf = io.BytesIO()
    simulate_snap(painting, np.random.default_rng(1), out_size=(4000, 3000)).photo.save(buf, "JPEG", quality=92)
    request = _photo_search_request(port, buf.getvalue())
    searches: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=120)
            sock.sendall(request)
            searches.append(sock)
        yield searches
    finally:
        for sock in searches:
            sock.close()


def _probes_answered_until(base: str, done, timeout: float) -> int:
    """``/healthz`` probes answered, one after another, before ``done()`` holds."""
    answered = 0
    with requests.Session() as http:
        while not done():
            assert http.get(f"{base}/healthz", timeout=timeout).status_code == 200
            if not done():
                answered += 1
    return answered


def _answer(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_healthz_answers_while_a_photo_search_computes(server: str, demo_source) -> None:
    """The event loop is not held by a request's CPU work: while photo searches (12 MP
    snaps: decoding, recognition, embedding) are computing, ``/healthz`` keeps answering,
    several times before the first search is answered. With the work run on the event loop,
    no probe sent during a search could be answered before that search's answer."""
    with _queued_photo_searches(server, demo_source, 3) as searches:
        probes_before_first_answer = _probes_answered_until(
            server, lambda: any(_answered(s) for s in searches), timeout=30
        )
        assert probes_before_first_answer >= 3, probes_before_first_answer
        for sock in searches:  # and the searches themselves are answered
            answer = _answer(sock)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
            assert b'"regions"' in answer


def test_healthz_waits_for_one_search_not_the_queue(loop_server: str, demo_source) -> None:
    """With the work on the event loop (the default), a probe cannot be answered while a
    search computes, but it must not wait behind every search queued after it either: four
    photo searches are sent at once, and probes are answered between them, before the last
    search's answer."""
    with _queued_photo_searches(loop_server, demo_source, 4) as searches:
        probes_before_last_answer = _probes_answered_until(
            loop_server, lambda: all(_answered(s) for s in searches), timeout=60
        )
        assert probes_before_last_answer >= 2, probes_before_last_answer
        for sock in searches:
            answer = _answer(sock)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
