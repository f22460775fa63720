"""Serve the app with gunicorn: models and indexes load once per worker, after fork.

``preload_app`` stays off on purpose: ONNX Runtime sessions and FAISS indexes must not be
shared across fork, and loading in each worker's ``load()`` keeps start-up simple. The first
visitor never pays for model loading because each worker warms up before accepting requests.

*Worker model.* Workers are gevent workers: each connection is a greenlet, and reading a
request (headers and body) waits cooperatively, so a client that sends half a body and
stalls holds a socket, not a thread. With gthread workers ten such uploads took every thread
of two workers and ``/healthz`` stopped answering; here up to ``WORKER_CONNECTIONS`` per
worker can stall while the rest is served. :class:`SlowClientGuard` reads each body in full
before the app runs (a client silent for ``Settings.body_timeout_s`` mid-body gets a 408 and
is let go) and lets requests compute one at a time per worker, with ``/healthz`` skipping the
queue. The CPU work of a request (decode, ONNX Runtime, FAISS) runs without yielding; with
one worker per core that is what the machine can do anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .config import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)


def limit_library_threads() -> None:
    """One thread each for faiss and OpenCV in a serving process.

    A search touches a few thousand vectors and a 384 px image: thread start-up and
    oversubscription against ONNX Runtime (and the other workers) cost more than they save
    (BENCHMARKS.md, "Design measurements").
    """
    import cv2
    import faiss

    faiss.omp_set_num_threads(1)
    cv2.setNumThreads(1)


#: Connections one gevent worker holds at once (stalled ones included).
WORKER_CONNECTIONS = 1000

#: Paths answered without waiting for a turn (cheap, and what load balancers poll).
UNGATED_PATHS = frozenset({"/healthz", "/metrics"})

_SPOOL_IN_MEMORY = 1024 * 1024  # bytes of a buffered body kept in memory; the rest goes to a temp file


class SlowClientGuard:
    """WSGI middleware for gevent workers: read the body first, then compute one at a time.

    1. The whole request body is read *before* the application runs, cooperatively, with
       ``body_timeout_s`` allowed between bytes (else a 408 ``request_timeout``), into a
       spooled temporary file (1 MB in memory at most per request). A slow upload therefore
       never holds anything the other requests need.
    2. The application then runs under a per-worker lock. CPU work (decoding, ONNX Runtime,
       FAISS) does not yield to other greenlets anyway; the lock makes requests wait for their
       turn *blocked*, not ready to run, so a ``/healthz`` probe (which skips the lock) runs
       as soon as the current request's CPU work ends instead of after every request that
       happened to be ready before it.

    Bodies larger than ``max_body_bytes`` are not read; the application answers them 413.
    """

    def __init__(self, app: WSGIApplication, *, body_timeout_s: float, max_body_bytes: int) -> None:
        import threading  # gevent's lock once the worker has monkey-patched

        self.app = app
        self.body_timeout_s = body_timeout_s
        self.max_body_bytes = max_body_bytes
        self._turn = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(self.body_timeout_s)
        if _has_body(environ) and int(environ.get("CONTENT_LENGTH") or 0) <= self.max_body_bytes:
            try:
                environ["wsgi.input"] = _spool(environ["wsgi.input"], self.max_body_bytes)
            except TimeoutError:
                return _request_timeout(start_response)
        if environ.get("PATH_INFO") in UNGATED_PATHS:
            return self.app(environ, start_response)
        with self._turn:
            return self.app(environ, start_response)


def _has_body(environ: WSGIEnvironment) -> bool:
    return bool(environ.get("CONTENT_LENGTH")) or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def _spool(stream: Any, limit: int) -> Any:
    """The body (at most ``limit`` + 1 bytes, so the app still sees an oversized one) as a file."""
    import tempfile

    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    left = limit + 1
    while left > 0 and (chunk := stream.read(min(65536, left))):
        out.write(chunk)
        left -= len(chunk)
    out.seek(0)
    return out


def _request_timeout(start_response: StartResponse) -> list[bytes]:
    import json

    body = json.dumps(
        {"error": {"code": "request_timeout", "message": "the request body stopped arriving; send it again"}}
    ).encode()
    start_response(
        "408 Request Timeout",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def serve_gunicorn(settings: Settings, host: str, port: int, workers: int, timeout: int = 120) -> None:
    from gunicorn.app.base import BaseApplication

    from .api import create_app

    class _App(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type information
        def load_config(self) -> None:
            cfg: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "worker_class": "gevent",
                "worker_connections": WORKER_CONNECTIONS,
                "keepalive": 5,
                "timeout": timeout,
                "graceful_timeout": 10,
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": "info",
                "preload_app": False,
            }
            for key, value in cfg.items():
                self.cfg.set(key, value)

        def load(self) -> WSGIApplication:
            limit_library_threads()
            app = create_app(settings)
            app.extensions["artsnap.engine"].search.warm_up()
            return SlowClientGuard(
                app, body_timeout_s=settings.body_timeout_s, max_body_bytes=settings.max_upload_bytes
            )

    _App().run()


def serve_dev(settings: Settings, host: str, port: int) -> None:
    from .api import create_app

    limit_library_threads()
    app = create_app(settings)
    app.extensions["artsnap.engine"].search.warm_up()
    app.run(host=host, port=port, threaded=True, use_reloader=False)
