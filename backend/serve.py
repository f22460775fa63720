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
queue; between two requests' turns the loop catches up with what arrived meanwhile, so a probe
waits for at most the one request computing.

*Compute off the event loop* (``ARTSNAP_COMPUTE_THREAD=1``, off by default). The application
then runs in one native thread per worker (gevent's :class:`~gevent.threadpool.ThreadPool`),
not in the greenlet that read the request:
the CPU work of a request (JPEG decoding, ONNX Runtime, OpenCV, FAISS) releases the GIL, so
while it runs the worker's event loop keeps answering ``/healthz``, reading other bodies and
sending gunicorn's heartbeat. Run on the loop, a ``/healthz`` probe waited for the whole CPU
work of the request in progress. The price is throughput: under mixed load the compute thread
and the loop (reading the other clients' bodies) take turns at the GIL, and each request costs
markedly more CPU (BENCHMARKS.md, "Mixed load"), so the default keeps the work on the loop.
One compute thread per worker (one worker per core) keeps
the machine from being oversubscribed, and so do the libraries' own threads: one for faiss
and one for OpenCV (:func:`limit_library_threads`), and the cores shared out between the
workers for ONNX Runtime (:func:`worker_threads`).

*Kept-alive connections* end after ``Settings.keepalive_requests`` requests, and a worker
holding more than its share of requests sheds them (:mod:`.worker_loads`): gunicorn's workers
share one listening socket and a connection otherwise stays with the worker that accepted it,
even when that worker is crowded or its peer was just restarted.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .config import Settings
from .worker_loads import WorkerLoads, bounded_keepalive

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)


def limit_library_threads() -> None:
    """One thread each for faiss, OpenCV and numpy's BLAS in a serving process.

    A search touches a few thousand vectors and a 384 px image: thread start-up and
    oversubscription against ONNX Runtime (and the other workers) cost more than they save
    (BENCHMARKS.md, "Design measurements"). numpy's BLAS runs the art-style projection and
    the re-ranking products, a few MFLOP each.
    """
    import cv2
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    cv2.setNumThreads(1)
    threadpool_limits(limits=1, user_api="blas")


#: Connections one gevent worker holds at once (stalled ones included).
WORKER_CONNECTIONS = 1000

#: Longest a request waits, holding its turn, for the event loop to catch up (seconds).
CATCH_UP_S = 0.05

#: Paths answered without waiting for a turn (cheap, and what load balancers poll).
UNGATED_PATHS = frozenset({"/healthz", "/metrics"})

_SPOOL_IN_MEMORY = 1024 * 1024  # bytes of a buffered body kept in memory; the rest goes to a temp file

#: A body up to this size is read into memory whole (a phone's 12 MP JPEG is 2–5 MB), as
#: long as the bodies a worker holds in memory stay within :data:`BODY_MEMORY_BUDGET`; any
#: other body keeps :data:`_SPOOL_IN_MEMORY` bytes in memory and the rest in a temp file.
IN_MEMORY_BODY_BYTES = 8 * 1024 * 1024

#: Bytes of request bodies one worker keeps whole in memory, all its connections together.
#: Writing a photo to a temp file and reading it back cost about 1 ms of a 12 MP search; the
#: budget keeps a thousand slow uploads from holding gigabytes.
BODY_MEMORY_BUDGET = 64 * 1024 * 1024


class _BodyMemory:
    """The bytes of bodies held whole in memory by one worker's connections.

    Taken and given back by greenlets of one event loop, which switch only at I/O: no lock.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0

    def take(self, n: int) -> bool:
        if n <= 0 or n > IN_MEMORY_BODY_BYTES or self.held + n > self.budget:
            return False
        self.held += n
        return True

    def give(self, n: int) -> None:
        self.held -= n


class SlowClientGuard:
    """WSGI middleware for gevent workers: read the body first, then compute one at a time.

    1. The whole request body is read *before* the application runs, cooperatively, with
       ``body_timeout_s`` allowed between bytes (else a 408 ``request_timeout``): into
       memory when it declares a Content-Length of at most :data:`IN_MEMORY_BODY_BYTES` and
       the worker's bodies in memory stay within :data:`BODY_MEMORY_BUDGET` until their
       answers are sent, else into a spooled temporary file (1 MB in memory). A slow upload
       therefore never holds anything the other requests need.
    2. The application then runs under a per-worker lock, in ``compute`` when one is given
       (``serve_gunicorn`` gives a one-thread pool): the request's greenlet waits for the
       thread, so the event loop stays free while the CPU work runs. Without the lock,
       requests would pile up in the thread pool's queue; with it they wait for their turn
       *blocked*, and ``/healthz`` and ``/metrics`` (which skip the lock and run on the loop)
       answer at once whatever is computing.

    Bodies larger than ``max_body_bytes`` are not read; the application answers them 413 on
    the event loop (it may touch the unread socket, which belongs to the loop's thread).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        body_timeout_s: float,
        max_body_bytes: int,
        compute: Callable[[WSGIApplication, WSGIEnvironment, StartResponse], Iterable[bytes]] | None = None,
        loads: WorkerLoads | None = None,
    ) -> None:
        import threading  # gevent's lock once the worker has monkey-patched

        self.app = app
        self.body_timeout_s = body_timeout_s
        self.max_body_bytes = max_body_bytes
        self.compute = compute
        self._turn = threading.Lock()
        self.between_turns = _loop_catch_up()
        self.memory = _BodyMemory(BODY_MEMORY_BUDGET)
        self.loads = loads

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(self.body_timeout_s)
        spooled = not _has_body(environ)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        held = 0
        try:
            if not spooled and length <= self.max_body_bytes:
                held = length if self.memory.take(length) else 0
                try:
                    environ["wsgi.input"] = _spool(environ["wsgi.input"], self.max_body_bytes, whole=held > 0)
                except TimeoutError:
                    self.memory.give(held)
                    return _request_timeout(start_response)
                spooled = True
            answer = self._answer(environ, start_response, spooled)
        except BaseException:
            self.memory.give(held)
            raise
        # The body stays referenced until the server has sent the answer and closed it.
        return _GivingBack(answer, self.memory, held) if held else answer

    def _answer(self, environ: WSGIEnvironment, start_response: StartResponse, spooled: bool) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in UNGATED_PATHS:
            return self.app(environ, start_response)
        if self.loads is not None:
            self.loads.enter()  # waiting for its turn or computing: what the other workers compare
        try:
            with self._turn:
                if self.compute is None or not spooled:
                    self.between_turns()
                    return self.app(environ, start_response)
                return self.compute(self.app, environ, start_response)
        finally:
            if self.loads is not None:
                self.loads.leave()


class _GivingBack:
    """An answer's iterable that gives its request's body memory back when the server closes it.

    PEP 3333: the server calls ``close()`` once the answer is sent, or the client went away.
    """

    def __init__(self, answer: Iterable[bytes], memory: _BodyMemory, held: int) -> None:
        self.answer = answer
        self.memory = memory
        self.held = held

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.answer)

    def close(self) -> None:
        try:
            close = getattr(self.answer, "close", None)
            if close is not None:
                close()
        finally:
            self.memory.give(self.held)
            self.held = 0


def _loop_catch_up() -> Callable[[], None]:
    """What a request does on the event loop between taking its turn and computing.

    Handing the turn from one request to the next wakes the next one at once, and without
    this the loop would run the queued requests' CPU work back to back: a ``/healthz`` probe
    (or a new body to read) waited for the whole queue. :func:`gevent.idle` waits until the
    loop has nothing pending, so what arrived meanwhile (probes answered, bodies read, the
    heartbeat) is handled first, and a probe waits for at most the one request computing.
    It costs one loop iteration per request. Outside a gevent worker it does nothing.
    """
    try:
        from gevent import idle, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return lambda: None
    if not monkey.is_module_patched("threading"):
        return lambda: None
    from gevent import Timeout

    def catch_up() -> None:
        # Bounded: with sockets busy enough the loop may never be idle, and the turn is held.
        with Timeout(CATCH_UP_S, False):
            idle()

    return catch_up


def thread_compute() -> Callable[[WSGIApplication, WSGIEnvironment, StartResponse], Iterable[bytes]]:
    """Run the application in one native thread of this gevent worker (see the module docstring).

    Flask does its work (hooks, the view, teardown) before it returns the answer's iterable,
    so only sending the bytes (or a file) is left to the event loop.
    """
    from gevent.threadpool import ThreadPool

    pool = ThreadPool(1)

    def run(app: WSGIApplication, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer: Iterable[bytes] = pool.apply(app, (environ, start_response))
        return answer

    return run


def _has_body(environ: WSGIEnvironment) -> bool:
    return bool(environ.get("CONTENT_LENGTH")) or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def _spool(stream: Any, limit: int, *, whole: bool = False) -> Any:
    """The body (at most ``limit`` + 1 bytes, so the app still sees an oversized one) as a file:
    in memory when ``whole``, else in memory up to :data:`_SPOOL_IN_MEMORY` and then on disk."""
    import io
    import tempfile

    out: Any = io.BytesIO() if whole else tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
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


def is_loopback_host(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or an interface address: reachable from elsewhere


def serving_settings(settings: Settings, host: str, port: int) -> tuple[Settings, str]:
    """The settings a server on ``host`` runs with, and what it says about keys at start-up.

    Listening beyond loopback turns ``require_keys`` on: writes then need a key from everyone.
    """
    where = f"{host}:{port}"
    if not is_loopback_host(host):
        settings = replace(settings, require_keys=True)
    if not settings.require_keys:
        return settings, (
            f"artsnap: listening on {where} only: callers on this machine need no API key. Behind a reverse "
            "proxy on this host, set ARTSNAP_REQUIRE_KEYS=1."
        )
    reads = (
        "search and related are public (ARTSNAP_PUBLIC_SEARCH=0 makes them need a 'search' key)"
        if settings.public_search
        else "reads need a 'search' key (ARTSNAP_PUBLIC_SEARCH=0)"
    )
    return settings, (
        f"artsnap: listening on {where}: API keys required. Writes need a 'write' key, /metrics an 'admin' key; "
        f"{reads}. Create keys with `artsnap keys create NAME --scope ...`; per-key rate limits apply "
        f"(default {settings.rate_limit}, {settings.anonymous_rate_limit} per address without a key)."
    )


def worker_threads(settings: Settings, workers: int) -> Settings:
    """ONNX Runtime intra-op threads for each of ``workers`` worker processes: the cores shared out.

    ``Settings.threads`` 0 means one per core for a process that has the machine to itself;
    gunicorn workers share it, and each computes one request at a time, so ``workers`` of
    them with a thread per core each would run twice as many threads as cores under load.
    An explicit ``ARTSNAP_THREADS`` is kept.
    """
    import os

    if settings.threads:
        return settings
    return replace(settings, threads=max(1, (os.cpu_count() or 1) // max(1, workers)))


def serve_gunicorn(settings: Settings, host: str, port: int, workers: int, timeout: int = 120) -> None:
    from gunicorn.app.base import BaseApplication

    from .api import create_app

    settings = worker_threads(settings, workers)
    # shared memory: created here, in the master, before the workers fork
    loads = WorkerLoads() if settings.shed_connections else None

    class _App(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type information
        def load_config(self) -> None:
            cfg: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "worker_class": "gevent",
                "worker_connections": WORKER_CONNECTIONS,
                "keepalive": 5,
                "pre_request": bounded_keepalive(settings.keepalive_requests, loads),
                "timeout": timeout,
                "graceful_timeout": 10,
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": "info",
                "preload_app": False,
            }
            if loads is not None:
                cfg.update(
                    pre_fork=loads.pre_fork,
                    post_worker_init=loads.post_worker_init,
                    worker_exit=loads.worker_exit,
                    child_exit=loads.child_exit,
                )
            for key, value in cfg.items():
                self.cfg.set(key, value)

        def load(self) -> WSGIApplication:
            limit_library_threads()
            app = create_app(settings)
            app.extensions["artsnap.engine"].search.warm_up()
            return SlowClientGuard(
                app,
                body_timeout_s=settings.body_timeout_s,
                max_body_bytes=settings.max_upload_bytes,
                compute=thread_compute() if settings.compute_thread else None,
                loads=loads,
            )

    _App().run()


def serve_dev(settings: Settings, host: str, port: int) -> None:
    from .api import create_app

    limit_library_threads()
    app = create_app(settings)
    app.extensions["artsnap.engine"].search.warm_up()
    app.run(host=host, port=port, threaded=True, use_reloader=False)
