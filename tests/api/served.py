"""``artsnap serve`` started as a user starts it (gunicorn, gevent workers) over a copy of the demo data.

For the tests that need the real server process: slow clients, kept-alive connections.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from benchmarks.server_process import free_port, worker_pids

#: Seconds a client may stall mid-body before a 408, in the served processes (short, for tests).
BODY_TIMEOUT_S = 3


@dataclass(frozen=True)
class Served:
    """A running server: its URL, port and the gunicorn master's pid."""

    base: str
    port: int
    pid: int

    def worker_pids(self) -> list[int]:
        """The master's current worker processes (Linux ``/proc``)."""
        return worker_pids(self.pid)

    def worker_holding(self, client_port: int) -> int | None:
        """The worker whose socket is the server side of the connection from ``client_port``."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if int(local.rsplit(":", 1)[1], 16) == self.port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                    inodes.add(fields[9])
        for pid in self.worker_pids():
            try:
                fds = list(Path(f"/proc/{pid}/fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    target = fd.readlink().name
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return pid
        return None


@contextmanager
def serving_process(
    tmp_path_factory: pytest.TempPathFactory,
    demo_data_dir: Path,
    env_extra: Mapping[str, str],
    *,
    workers: int = 1,
) -> Iterator[Served]:
    """``artsnap serve`` with ``workers`` gevent workers and ``env_extra`` set, answering ``/healthz`` when this yields."""
    data = tmp_path_factory.mktemp("served") / "data"
    shutil.copytree(demo_data_dir, data, symlinks=True)
    port = free_port()
    env = {**os.environ, "ARTSNAP_DATA_DIR": str(data), "ARTSNAP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S), **env_extra}
    for name in ("ARTSNAP_COMPUTE_THREAD", "ARTSNAP_KEEPALIVE_REQUESTS"):
        if name not in env_extra:
            env.pop(name, None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
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
        yield Served(base, port, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def serving(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path, **env_extra: str) -> Iterator[str]:
    """``artsnap serve`` with one gevent worker; yields its base URL."""
    with serving_process(tmp_path_factory, demo_data_dir, env_extra) as served:
        yield served.base
