"""The measured load run (``load.py`` sets it up and reports it): clients, the health probe, the
stalled uploads, the killed worker and the rate-limit probe, on one clock.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from .load_traffic import MIX, BenchKeys, Plan, auth, rate_limit_probe, stall_outcome, stalled_upload
from .server_process import ServerProcess

CLIENTS = 12
STALLED = 10
_SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


@dataclass(frozen=True)
class Sample:
    kind: str
    start_s: float  # since the run started
    client_ms: float
    app_ms: float
    status: int  # 0: no answer (connection failed twice)
    retried: bool
    stages: dict[str, float] = field(default_factory=dict)


class LoadRun:
    """The measured run: clients, the health probe, the stalls and the kill, on one clock."""

    def __init__(self, server: ServerProcess, plan: Plan, duration: float, keys: BenchKeys) -> None:
        self.server = server
        self.plan = plan
        self.keys = keys
        self.probe_outcomes: dict[str, int] = {}
        self.duration = duration
        self.samples: list[Sample] = []
        self.probes: list[tuple[float, float | None]] = []
        self.probe_retries = 0  # probes sent again at once after a broken connection
        self.stall_window = (0.3 * duration, 0.7 * duration)
        self.stall_outcomes: Counter[str] = Counter()
        self.killed: int | None = None
        self.kill_at_s = float("nan")  # since the start
        self.restart_s = float("nan")
        self.replacement: int | None = None  # the worker the master started for the killed one
        #: worker pid -> CPU seconds from the replacement's start to the end of the run
        self.worker_cpu_after_restart: dict[int, float] = {}
        self._cpu_at_restart: dict[int, float] = {}
        #: (seconds since the start, open client connections of each worker), twice a second
        self.connections: list[tuple[float, dict[int, int]]] = []
        self._lock = threading.Lock()
        self._t0 = 0.0
        #: CPU seconds over the run: this process (the clients, the probes) and the server's processes
        self.client_cpu_s = 0.0
        self.server_cpu_s = 0.0
        self._server_cpu: dict[int, float] = {}  # pid -> CPU seconds when the run started
        self._server_seen: dict[int, float] = {}  # pid -> CPU seconds last read

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def go(self) -> None:
        self._read_server_cpu()
        self._server_cpu = dict(self._server_seen)
        cpu0 = time.process_time()
        self._t0 = time.perf_counter()
        threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)]
        threads += [
            threading.Thread(target=self._probe, daemon=True),
            threading.Thread(target=self._chaos, daemon=True),
            threading.Thread(target=self._limit_probe, daemon=True),
            threading.Thread(target=self._cpu_sampler, daemon=True),
            threading.Thread(target=self._connection_sampler, daemon=True),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.duration + 120)
        self.client_cpu_s = time.process_time() - cpu0
        self._read_server_cpu()
        self.server_cpu_s = sum(cpu - self._server_cpu.get(pid, 0.0) for pid, cpu in self._server_seen.items())
        if self.replacement is not None:
            self.worker_cpu_after_restart = {
                pid: self._server_seen[pid] - self._cpu_at_restart.get(pid, 0.0)
                for pid in self.server.worker_pids()
                if pid in self._server_seen
            }

    def _read_server_cpu(self) -> None:
        """CPU seconds (user + system) of the gunicorn master and its workers, from ``/proc``.

        Read every quarter second, so a worker SIGKILLed mid-run still counts up to its last reading.
        """
        tick = os.sysconf("SC_CLK_TCK")
        for pid in [self.server.pid, *self.server.worker_pids()]:
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone between listing and reading
            self._server_seen[pid] = (int(fields[11]) + int(fields[12])) / tick

    def _cpu_sampler(self) -> None:
        while self.now() < self.duration:
            try:
                self._read_server_cpu()
            except OSError:
                pass
            time.sleep(0.25)

    def _connection_sampler(self) -> None:
        """How the clients' connections spread over the workers (``/proc``: sockets each worker
        holds that are established connections to the server's port)."""
        port = int(self.server.url.rsplit(":", 1)[1])
        while self.now() < self.duration:
            try:
                established = _established_inodes(port)
                counts = {pid: _sockets_in(pid, established) for pid in self.server.worker_pids()}
                self.connections.append((self.now(), counts))
            except OSError:
                pass
            time.sleep(0.5)

    def _client(self, i: int) -> None:
        import requests

        rnd = random.Random(1000 + i)
        kinds, weights = zip(*MIX)
        with requests.Session() as session:
            session.headers.update(auth(self.keys.clients))
            while (start := self.now()) < self.duration:
                kind = rnd.choices(kinds, weights)[0]
                retried = False
                t0 = time.perf_counter()
                try:
                    try:
                        resp = self.plan.request(session, self.server.url, kind, rnd)
                    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                        retried = True  # the worker serving it was killed: try once more, as an app would
                        resp = self.plan.request(session, self.server.url, kind, rnd)
                    status = resp.status_code
                    m = _SERVER_TIMING.search(resp.headers.get("Server-Timing", ""))
                    app = float(m.group(1)) if m else float("nan")
                    stages = {}
                    if kind == "photo" and status == 200:
                        stages = {k: float(v) for k, v in resp.json().get("timings_ms", {}).items()}
                except requests.RequestException:
                    status, app, stages = 0, float("nan"), {}
                sample = Sample(kind, start, (time.perf_counter() - t0) * 1000, app, status, retried, stages)
                with self._lock:
                    self.samples.append(sample)

    def _probe(self) -> None:
        import requests

        with requests.Session() as session:
            while (start := self.now()) < self.duration:
                t0 = time.perf_counter()
                try:
                    try:
                        resp = session.get(f"{self.server.url}/healthz", timeout=5)
                    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                        # The kept-alive connection was the killed worker's: a load balancer's
                        # check reconnects too. The time counts from the first attempt.
                        self.probe_retries += 1
                        resp = session.get(f"{self.server.url}/healthz", timeout=5)
                    ok = resp.status_code == 200
                    ms: float | None = (time.perf_counter() - t0) * 1000 if ok else None
                except requests.RequestException:
                    ms = None
                self.probes.append((start, ms))
                time.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))  # pacing: ten probes a second

    def _chaos(self) -> None:
        """Open the stalled uploads, kill a worker, close the stalls, on schedule."""
        port = int(self.server.url.rsplit(":", 1)[1])
        self._sleep_until(self.stall_window[0])
        stalls = [stalled_upload(port, self.keys.clients) for _ in range(STALLED)]
        self._sleep_until(0.5 * self.duration)
        before = self.server.worker_pids()
        if before:
            self.killed = before[0]
            os.kill(self.killed, signal.SIGKILL)
            t_kill = time.perf_counter()
            self.kill_at_s = self.now()
            while time.perf_counter() - t_kill < 60:
                now = self.server.worker_pids()
                if len(now) == len(before) and self.killed not in now:
                    self.restart_s = time.perf_counter() - t_kill
                    self.replacement = next((p for p in now if p not in before), None)
                    self._read_server_cpu()
                    self._cpu_at_restart = dict(self._server_seen)
                    break
                time.sleep(0.05)
        self._sleep_until(self.stall_window[1])
        for sock in stalls:
            self.stall_outcomes[stall_outcome(sock)] += 1
            sock.close()

    def _limit_probe(self) -> None:
        """The small-limit key asks more often than it may, early in the run (under the load)."""
        self._sleep_until(0.1 * self.duration)
        self.probe_outcomes = rate_limit_probe(self.server.url, self.plan, self.keys.probe)

    def _sleep_until(self, t: float) -> None:
        while (left := t - self.now()) > 0:
            time.sleep(min(left, 0.05))


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is ``port``."""
    out: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                out.add(fields[9])
    return out


def _sockets_in(pid: int, inodes: set[str]) -> int:
    """How many of ``inodes`` the process ``pid`` holds open."""
    n = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            n += 1
    return n
