"""A kept-alive connection carries a bounded number of requests (the real server, gunicorn).

gunicorn's workers share one listening socket, and a connection stays with the worker that
accepted it. A worker restarted under load found every client already reconnected to the
survivor and served nothing for the rest of the run (the load bench: 76 → 44 req/s). The
server now ends a connection after ``ARTSNAP_KEEPALIVE_REQUESTS`` requests, saying so in the
last answer, so clients reconnect and the workers share them again.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api.served import Served, serving_process

LIMIT = 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> Iterator[Served]:
    with serving_process(tmp_path_factory, demo_data_dir, {"ARTSNAP_KEEPALIVE_REQUESTS": str(LIMIT)}) as s:
        yield s


def _get(sock: socket.socket, path: str) -> http.client.HTTPResponse:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    resp.read()
    return resp


def test_the_last_request_of_a_connection_says_close_and_the_server_closes_it(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        answers = [_get(sock, "/healthz") for _ in range(LIMIT)]
        assert [a.status for a in answers] == [200] * LIMIT
        assert [a.getheader("Connection") for a in answers] == ["keep-alive"] * (LIMIT - 1) + ["close"]
        assert sock.recv(1) == b""  # the server closed it after the last answer


def test_the_bound_counts_every_kind_of_request(served: Served) -> None:
    """Related items and listings count like health checks: the bound is per connection."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        kinds = ["/v1/collections", "/v1/items/1/related?top_k=3", "/healthz"]
        answers = [_get(sock, path) for path in kinds]
        assert [a.status for a in answers] == [200, 200, 200]
        assert answers[-1].getheader("Connection") == "close"


def test_a_client_session_reconnects_without_an_error(served: Served) -> None:
    """What a phone app's HTTP client sees: every request answered, a new connection now and then.

    The count starts again on each new connection, so the pattern repeating shows the session
    reconnected by itself each time.
    """
    with requests.Session() as session:
        answers = [session.get(f"{served.base}/healthz", timeout=10) for _ in range(3 * LIMIT)]
    assert [a.status_code for a in answers] == [200] * (3 * LIMIT)
    assert [a.headers["Connection"] for a in answers] == (["keep-alive"] * (LIMIT - 1) + ["close"]) * 3


def test_a_restarted_worker_gets_kept_alive_clients_back(
    tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path
) -> None:
    """The defect itself: clients of a killed worker reconnect to the survivor while the
    replacement loads its models; unbounded, they stayed there and the replacement served nothing."""
    env = {"ARTSNAP_KEEPALIVE_REQUESTS": str(LIMIT)}
    with serving_process(tmp_path_factory, demo_data_dir, env, workers=2) as s:
        before = s.worker_pids()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        survivor = before[1]
        # Reconnect at once, as a phone app retrying would: the survivor is the only one serving.
        clients = [http.client.HTTPConnection("127.0.0.1", s.port, timeout=30) for _ in range(4)]
        for c in clients:
            c.request("GET", "/healthz")
            c.getresponse().read()
        assert {s.worker_holding(c.sock.getsockname()[1]) for c in clients} == {survivor}
        # Keep the same clients busy, as under load (an idle connection would end after
        # gunicorn's 5 s keep-alive timeout and could land anywhere): each ends after LIMIT
        # requests and reconnects, and the replacement, once it has loaded its models, takes some.
        holders: set[int | None] = set()
        deadline = time.monotonic() + 120
        replacement = None
        while not (replacement is not None and replacement in holders) and time.monotonic() < deadline:
            new = [p for p in s.worker_pids() if p not in before]
            replacement = new[0] if new else None
            for c in clients:
                c.request("GET", "/healthz")
                resp = c.getresponse()
                resp.read()
                assert resp.status == 200
                if c.sock is not None:
                    holders.add(s.worker_holding(c.sock.getsockname()[1]))
        assert replacement is not None and replacement in holders
        for c in clients:
            c.close()
