"""Serve the app with gunicorn: models and indexes load once per worker, after fork.

``preload_app`` stays off on purpose: ONNX Runtime sessions and FAISS indexes must not be
shared across fork, and loading in each worker's ``load()`` keeps start-up simple. The first
visitor never pays for model loading because each worker warms up before accepting requests.

*Worker model.* Workers are gevent workers: each connection is a greenlet, and reading a
request (headers and body) waits cooperatively, so a client that sends half a body and
stalls holds a socket, not a thread. With gthread workers ten such uploads took every thread
of two workers and ``/healthz`` stopped answering; here up to ``WORKER_CONNECTIONS`` per
worker can stall while the rest is served. A client that sends nothing for
``Settings.body_timeout_s`` in the middle of its body is answered 408 and let go, so
abandoned uploads do not pile up either. The CPU work of a request (decode, ONNX Runtime,
FAISS) runs without yielding; with one worker per core that is what the machine can do anyway.
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
    oversubscription against ONNX Runtime (and the other workers) cost more than they save;
    faiss top-50 over 10 k vectors measured 4.7 ms on 1 thread vs 19.9 ms on 2.
    """
    import cv2
    import faiss

    faiss.omp_set_num_threads(1)
    cv2.setNumThreads(1)


#: Connections one gevent worker holds at once (stalled ones included).
WORKER_CONNECTIONS = 1000


class BodyReadTimeout:
    """WSGI middleware: a request whose body stops arriving for ``seconds`` gets a 408.

    gunicorn hands the application its client socket (``environ["gunicorn.socket"]``); with
    a timeout on it, a stalled read raises ``TimeoutError`` inside the body stream, which
    is turned into werkzeug's ``RequestTimeout`` so the API answers with its usual error body.
    """

    def __init__(self, app: WSGIApplication, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(self.seconds)
            environ["wsgi.input"] = _TimeoutToHTTP(environ["wsgi.input"])
        return self.app(environ, start_response)


class _TimeoutToHTTP:
    """A request body stream whose socket timeouts become HTTP 408."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _call(self, name: str, *args: Any) -> Any:
        from werkzeug.exceptions import RequestTimeout

        try:
            return getattr(self._stream, name)(*args)
        except TimeoutError as exc:
            raise RequestTimeout("the request body stopped arriving; send it again") from exc

    def read(self, *args: Any) -> bytes:
        data: bytes = self._call("read", *args)
        return data

    def readline(self, *args: Any) -> bytes:
        data: bytes = self._call("readline", *args)
        return data

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._call("readlines", *args)
        return lines

    def __iter__(self) -> _TimeoutToHTTP:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


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
            return BodyReadTimeout(app, settings.body_timeout_s)

    _App().run()


def serve_dev(settings: Settings, host: str, port: int) -> None:
    from .api import create_app

    limit_library_threads()
    app = create_app(settings)
    app.extensions["artsnap.engine"].search.warm_up()
    app.run(host=host, port=port, threaded=True, use_reloader=False)
