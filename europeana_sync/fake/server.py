"""Run a fake app on a loopback port in a background thread.

Clients under test talk real HTTP (sockets, headers, cookies, timeouts) to 127.0.0.1, so the
retry layer is exercised exactly as in production; ``port=0`` lets the OS pick a free port
so parallel test runs never collide.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .annotation_routes import TOKEN_PATH
from .app import create_fake_app
from .faults import FaultConfig
from .state import EXTENSION_KEY, FakeState


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log line per request: tests make hundreds; the fake keeps its own log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass(frozen=True)
class FakeEndpoints:
    europeana_api: str
    token_url: str
    with_api: str


class FakeServer:
    """``with FakeServer() as fake: SearchApiClient("key", base_url=fake.url)``."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fixtures_dir: Path | None = None,
        faults: FaultConfig | None = None,
        quiet: bool = True,
        **app_kwargs: Any,
    ) -> None:
        self.app = app or create_fake_app(fixtures_dir, faults, **app_kwargs)
        self._host = host
        self._port = port
        self._quiet = quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeServer:
        if self._server is not None:
            return self
        self._server = make_server(
            self._host,
            self._port,
            self.app,
            threaded=True,
            request_handler=_QuietRequestHandler if self._quiet else None,
        )
        server = self._server
        # a short poll interval makes stop() take milliseconds instead of half a second
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.02), name="europeana-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def join(self) -> None:
        """Block until the server stops (the CLI waits here for Ctrl-C)."""
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses and state ----------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("fake server is not running")
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def endpoints(self) -> FakeEndpoints:
        return FakeEndpoints(europeana_api=self.url, token_url=self.url + TOKEN_PATH, with_api=self.url + "/with")

    @property
    def state(self) -> FakeState:
        """Direct access for assertions (annotations stored, requests seen)."""
        return self.app.extensions[EXTENSION_KEY]

    def set_faults(self, **changes: Any) -> None:
        """In-process shortcut for ``POST /_fake/faults``."""
        self.state.faults.update(changes)
