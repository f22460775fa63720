"""Run the real HTTP server (``artsnap serve``: gunicorn, model and indexes loaded per worker) in a
subprocess for a benchmark, and stop it again — only the process this module started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backend.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ServerProcess:
    """A running ``artsnap serve``: its base URL, the gunicorn master's pid and its log."""

    url: str
    pid: int
    log_path: Path

    def worker_pids(self) -> list[int]:
        return worker_pids(self.pid)


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children (its workers), from ``/proc``."""
    out: list[int] = []
    for task in Path(f"/proc/{master}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return sorted(out)


@contextmanager
def running_server(settings: Settings, *, workers: int = 1, timeout_s: float = 300.0) -> Iterator[str]:
    """Start ``artsnap serve`` on a free port; yield its base URL once ``/healthz`` answers."""
    with served(settings, workers=workers, timeout_s=timeout_s) as server:
        yield server.url


@contextmanager
def served(
    settings: Settings,
    *,
    workers: int = 1,
    timeout_s: float = 300.0,
    extra_env: Mapping[str, str] | None = None,
    log_name: str = "server.log",
) -> Iterator[ServerProcess]:
    """:func:`running_server`, yielding the process too (and with extra environment; ``log_name``
    tells apart the logs of several instances over one data folder)."""
    import requests

    port = free_port()
    log_path = Path(settings.data_dir) / log_name
    env = dict(os.environ)
    env.update(
        {
            "ARTSNAP_DATABASE_URL": settings.database_url,
            "ARTSNAP_INDEX_FACTORY": settings.index_factory,
            "ARTSNAP_VECTOR_STORE": settings.vector_store,
            "ARTSNAP_VECTOR_STORE_TIMEOUT_S": str(settings.vector_store_timeout_s),
        }
    )
    env.update(extra_env or {})
    cmd = [
        sys.executable,
        "-m",
        "backend.cli",
        "--data-dir",
        str(settings.data_dir),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the server exited with code {proc.returncode} before answering:\n{tail}")
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not answer /healthz within {timeout_s:.0f} s (log: {log_path})")
            time.sleep(0.3)
        yield ServerProcess(url, proc.pid, log_path)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the gunicorn master we started (it stops its workers), SIGKILL its group if it hangs."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we created for it: the master and its workers only
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
