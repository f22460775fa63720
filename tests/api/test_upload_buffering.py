"""A phone photo's upload stays in memory on its way to the search: no temp file.

A 12 MP phone JPEG is 2–5 MB. Werkzeug spools every multipart file part over 500 KB to a
temp file and the server's body reader spilled bodies over 1 MB, so each such search wrote
the photo to disk twice and read it back (about 2.5 ms of a 12 MP search), and a server
whose temp folder is not writable (a read-only container) failed every such search. The
tests point the temp folder at a path that does not exist: any temp file fails the request.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from PIL import Image

from backend.api import create_app
from backend.config import Settings
from backend.serve import BODY_MEMORY_BUDGET, IN_MEMORY_BODY_BYTES, SlowClientGuard


def _noisy_jpeg(megabytes: float) -> bytes:
    """A photo-like JPEG of about ``megabytes`` (sensor-like noise keeps it from compressing)."""
    rng = np.random.default_rng(0)
    side = int(np.sqrt(megabytes * 1024 * 1024 / 0.9))
    pixels = rng.integers(0, 256, (side, side, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def no_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "not-there"))


def test_a_phone_size_photo_is_searched_without_a_temp_file(demo_data_dir: Path, no_temp_folder: None) -> None:
    photo = _noisy_jpeg(2.5)
    assert len(photo) > 2 * 1024 * 1024
    app = create_app(Settings(data_dir=demo_data_dir))
    try:
        # encoded by hand: Werkzeug's test client would spool it to a temp file itself
        b = "artsnap-test-boundary"
        body = (
            (
                f'--{b}\r\nContent-Disposition: form-data; name="options"\r\n\r\n{{"top_k": 3}}\r\n'
                f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="phone.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + photo
            + f"\r\n--{b}--\r\n".encode()
        )
        resp = app.test_client().post(
            "/v1/collections/demo/search", data=body, content_type=f"multipart/form-data; boundary={b}"
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        assert len(resp.get_json()["results"]) == 3
    finally:
        app.extensions["artsnap.engine"].close()


def _echo_length(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


def _environ(body: bytes, stream: object = None) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/collections/demo/search",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
    }


def _call(guard: SlowClientGuard, body: bytes) -> str:
    """One request as a WSGI server makes it: call, send the answer, then close it (PEP 3333)."""
    statuses: list[str] = []
    answer = guard(_environ(body), lambda status, headers, exc_info=None: statuses.append(status))
    try:
        out = b"".join(answer)
    finally:
        if hasattr(answer, "close"):
            answer.close()
    assert statuses == ["200 OK"]
    return out.decode()


def test_the_body_reader_keeps_a_phone_photo_in_memory_and_gives_the_budget_back(no_temp_folder: None) -> None:
    guard = SlowClientGuard(_echo_length, body_timeout_s=5, max_body_bytes=40 * 1024 * 1024)
    body = b"x" * (3 * 1024 * 1024)
    assert _call(guard, body) == str(len(body))
    assert _call(guard, body) == str(len(body))
    assert guard.memory.held == 0


def test_bodies_beyond_the_memory_budget_still_spill_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the budget taken (a crowd of slow uploads), a body goes to a temp file as before."""
    guard = SlowClientGuard(_echo_length, body_timeout_s=5, max_body_bytes=40 * 1024 * 1024)
    guard.memory.held = BODY_MEMORY_BUDGET - 1024  # others' bodies hold the rest
    body = b"y" * (2 * 1024 * 1024)
    assert _call(guard, body) == str(len(body))
    assert guard.memory.held == BODY_MEMORY_BUDGET - 1024
    # ... and it does need the temp folder: proof that it was not kept in memory
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "not-there"))
    with pytest.raises(FileNotFoundError):
        _call(guard, body)
    guard.memory.held = 0
    big = b"z" * (IN_MEMORY_BODY_BYTES + 1)  # too big to hold whole, whatever the budget
    with pytest.raises(FileNotFoundError):
        _call(guard, big)
    assert guard.memory.held == 0


def test_the_body_memory_is_held_until_the_answer_is_sent_and_given_back_on_every_path() -> None:
    guard = SlowClientGuard(_echo_length, body_timeout_s=5, max_body_bytes=40 * 1024 * 1024)
    body = b"p" * (2 * 1024 * 1024)
    answer = guard(_environ(body), lambda status, headers, exc_info=None: None)
    assert guard.memory.held == len(body)  # the body is still referenced while the answer is sent
    assert b"".join(answer) == str(len(body)).encode()
    cast(Any, answer).close()  # the server closes the answer (PEP 3333)
    assert guard.memory.held == 0

    class Stalling(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            raise TimeoutError

    statuses: list[str] = []
    guard(_environ(body, Stalling()), lambda status, headers, exc_info=None: statuses.append(status))
    assert statuses == ["408 Request Timeout"] and guard.memory.held == 0

    def failing(environ, start_response):
        raise RuntimeError("the application failed")

    broken = SlowClientGuard(failing, body_timeout_s=5, max_body_bytes=40 * 1024 * 1024)
    with pytest.raises(RuntimeError):
        broken(_environ(body), lambda status, headers, exc_info=None: None)
    assert broken.memory.held == 0
