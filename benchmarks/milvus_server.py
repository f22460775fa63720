"""A milvus-lite gRPC server in a subprocess: the shared Milvus that several API instances use
in the tests and benchmarks (milvus-lite's embedded mode locks its data folder to one process).

It speaks the protocol of a Milvus server, so the instances connect by ``http://`` URI exactly as
they would to a Milvus cluster. Stopping it is how the tests take the store away mid-load.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .server_process import free_port


@dataclass
class MilvusServer:
    uri: str
    proc: subprocess.Popen
    data_dir: Path
    port: int

    def stop(self) -> None:
        """Take the store away (SIGKILL: no goodbye to clients, as a crashed or cut-off node)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def wait_until_up(uri: str, timeout_s: float = 120.0) -> None:
    from pymilvus import MilvusClient

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            MilvusClient(uri=uri, timeout=2.0).list_collections(timeout=2.0)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise TimeoutError(f"milvus-lite did not answer at {uri} within {timeout_s:.0f} s") from None
            time.sleep(0.3)


@contextmanager
def milvus_lite_server(data_dir: Path, *, timeout_s: float = 120.0) -> Iterator[MilvusServer]:
    """Start ``milvus-lite server`` on a free 127.0.0.1 port; stop it (only it) afterwards."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "milvus_lite.cmdline", "server", "--data-dir", str(data_dir / "milvus")]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    with open(data_dir / "milvus.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = MilvusServer(f"http://127.0.0.1:{port}", proc, data_dir, port)
    try:
        wait_until_up(server.uri, timeout_s)
        yield server
    finally:
        server.stop()
