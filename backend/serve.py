"""Serve the app with gunicorn: models and indexes load once per worker, after fork.

``preload_app`` stays off on purpose: ONNX Runtime sessions and FAISS indexes must not be
shared across fork, and loading in each worker's ``load()`` keeps start-up simple. The first
visitor never pays for model loading because each worker warms up before accepting requests.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .config import Settings

if TYPE_CHECKING:
    from flask import Flask

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


def serve_gunicorn(settings: Settings, host: str, port: int, workers: int, timeout: int = 120) -> None:
    from gunicorn.app.base import BaseApplication

    from .api import create_app

    class _App(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type information
        def load_config(self) -> None:
            cfg: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "worker_class": "gthread",
                "threads": 4,
                "timeout": timeout,
                "graceful_timeout": 10,
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": "info",
                "preload_app": False,
            }
            for key, value in cfg.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            limit_library_threads()
            app = create_app(settings)
            app.extensions["artsnap.engine"].search.warm_up()
            return app

    _App().run()


def serve_dev(settings: Settings, host: str, port: int) -> None:
    from .api import create_app

    limit_library_threads()
    app = create_app(settings)
    app.extensions["artsnap.engine"].search.warm_up()
    app.run(host=host, port=port, threaded=True, use_reloader=False)
