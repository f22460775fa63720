"""Mixed load on the real server: throughput, tail latency and errors, with a worker killed
mid-run and ten stalled uploads open while ``/healthz`` is probed.

Protocol: a collection of real 224 px catalogue images (WikiArt when present, else generated)
is ingested, and ``artsnap serve`` runs with 2 gevent workers. Twelve client threads (one
``requests`` session each, closed loop: the next request as soon as the last is answered)
send, chosen at random per request:

* 40 % 3-megapixel photo searches (2000×1500 JPEG q90 simulated snaps of collection paintings);
* 20 % small-image searches (the 224 px catalogue JPEGs themselves);
* 30 % on-device embedding searches (JSON vectors) and 10 % ``related`` calls for a random
  item — together the 40 % of requests that carry no image.

After a warm-up, the run lasts ``DURATION_S``. From 30 % to 70 % of it ten uploads hold
their connection open after sending headers and part of their body; a probe thread asks
``/healthz`` ten times a second the whole run. At 50 % one gunicorn worker is SIGKILLed
(the master restarts it). A request that fails on a broken connection is retried once, as
a phone app would; it counts as an error only if the retry fails too, and the retries are
reported. Server time comes from the ``Server-Timing`` header, the engine's split from
``timings_ms`` in the answers.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .context import BenchContext
from .figures import Latency, TargetCheck, md_table, miss_by
from .server_process import ServerProcess, served

NAME = "load"
TITLE = "Mixed load on 2 workers: throughput, tail latency, a killed worker, stalled uploads"

CLIENTS = 12
WORKERS = 2
STALLED = 10
MIX = (("photo", 0.4), ("small", 0.2), ("embedding", 0.3), ("related", 0.1))
TARGET_RPS = 100.0
TARGET_P99_MS = 300.0
TARGET_HEALTHZ_MS = 100.0
COLLECTION = "bench-load"
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


@dataclass
class LoadResult:
    duration_s: float
    clients: int
    workers: int
    items: int
    source: str
    photo_size: tuple[int, int]
    photo_kb: float
    throughput_rps: float
    latency: Latency
    p99_ms: float
    per_kind: dict[str, tuple[int, Latency, float, float]]  # n, client latency, p99, server p50
    stages_ms: dict[str, float]
    errors: dict[str, int]
    retried: int
    killed_worker: bool
    restart_s: float
    healthz_during_stalls: Latency
    healthz_max_ms: float
    healthz_p99_ms: float
    healthz_failures: int
    healthz_outside: Latency
    stalls_answered: dict[str, int]
    cpu_busy: float
    notes: list[str] = field(default_factory=list)

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    def headline(self) -> str:
        return (
            f"{self.throughput_rps:.0f} req/s, p50 {self.latency.p50_ms:.0f} / p95 {self.latency.p95_ms:.0f} / "
            f"p99 {self.p99_ms:.0f} ms, {self.n_errors} errors ({self.retried} retried); "
            f"/healthz during stalls p50 {self.healthz_during_stalls.p50_ms:.0f} ms, max {self.healthz_max_ms:.0f} ms"
        )

    def targets(self) -> list[TargetCheck]:
        h = self.healthz_during_stalls
        return [
            TargetCheck(
                "mixed load throughput, 2 workers, 12 clients",
                f"≥ {TARGET_RPS:.0f} req/s",
                f"{self.throughput_rps:.1f} req/s",
                self.throughput_rps >= TARGET_RPS,
                miss_by(self.throughput_rps, TARGET_RPS, higher_is_better=True),
            ),
            TargetCheck(
                "mixed load p99 latency",
                f"≤ {TARGET_P99_MS:.0f} ms",
                f"{self.p99_ms:.0f} ms",
                self.p99_ms <= TARGET_P99_MS,
                miss_by(self.p99_ms, TARGET_P99_MS, higher_is_better=False),
            ),
            TargetCheck(
                "mixed load errors (worker killed mid-run)",
                "0",
                f"{self.n_errors} ({self.retried} retried after a reset)",
                self.n_errors == 0,
            ),
            TargetCheck(
                "/healthz during 10 stalled uploads (under load), p50",
                f"≤ {TARGET_HEALTHZ_MS:.0f} ms",
                f"p50 {h.p50_ms:.0f} ms, p99 {self.healthz_p99_ms:.0f} ms, max {self.healthz_max_ms:.0f} ms",
                h.n > 0 and self.healthz_failures == 0 and h.p50_ms <= TARGET_HEALTHZ_MS,
                f"{self.healthz_failures} probes unanswered" if self.healthz_failures else "",
            ),
        ]

    def markdown(self) -> str:
        head = (
            f"Server: `artsnap serve`, {self.workers} gevent workers, {self.items} indexed items ({self.source}). "
            f"{self.clients} closed-loop clients for {self.duration_s:.0f} s; mix "
            + ", ".join(f"{int(share * 100)} % {kind}" for kind, share in MIX)
            + f" (photos {self.photo_size[0]}×{self.photo_size[1]} JPEG q90, ~{self.photo_kb:.0f} KB). "
            f"One worker SIGKILLed at 50 % ({'done' if self.killed_worker else 'not done'}; back after "
            f"{self.restart_s:.1f} s), {STALLED} uploads stalled from 30 % to 70 %, `/healthz` probed every 100 ms."
        )
        rows = [
            [
                "**all**",
                self.latency.n,
                f"{self.latency.p50_ms:.0f}",
                f"{self.latency.p95_ms:.0f}",
                f"{self.p99_ms:.0f}",
                "–",
            ]
        ]
        for kind, (n, lat, p99, app50) in self.per_kind.items():
            rows.append([kind, n, f"{lat.p50_ms:.0f}", f"{lat.p95_ms:.0f}", f"{p99:.0f}", f"{app50:.1f}"])
        stages = ", ".join(f"{k} {v:.1f} ms" for k, v in self.stages_ms.items())
        h, o = self.healthz_during_stalls, self.healthz_outside
        out = [
            head,
            "",
            f"Throughput **{self.throughput_rps:.1f} req/s**; errors {self.n_errors} "
            f"({', '.join(f'{k}: {v}' for k, v in self.errors.items()) or 'none'}), {self.retried} requests retried "
            "once after a broken connection.",
            "",
            md_table(["requests", "n", "p50 ms", "p95 ms", "p99 ms", "server p50 ms"], rows),
            "",
            f"Where a 3 MP photo's server time goes (engine `timings_ms`, mean): {stages}. "
            f"CPU: the server's answered work adds up to {self.cpu_busy:.0%} of {os.cpu_count() or 2} cores "
            "(sum of server times ÷ wall time ÷ cores), so the rest of each client's wait is queueing.",
            "",
            f"`/healthz` while the uploads stalled: p50 {h.p50_ms:.0f} ms, p95 {h.p95_ms:.0f} ms, "
            f"p99 {self.healthz_p99_ms:.0f} ms, max {self.healthz_max_ms:.0f} ms (n={h.n}, {self.healthz_failures} "
            f"unanswered); outside the stall window p50 {o.p50_ms:.0f} ms, p95 {o.p95_ms:.0f} ms (n={o.n}). "
            f"Stalled uploads: {', '.join(f'{k}: {v}' for k, v in self.stalls_answered.items())}.",
        ]
        if self.notes:
            out += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(out)


def run(ctx: BenchContext) -> LoadResult:

    from backend.engine.services import Engine
    from dataset_tools.progress import TqdmProgress

    duration = 20.0 if ctx.quick else 90.0
    n_items = 200 if ctx.quick else 1000
    st = ctx.scratch("load")
    images = ctx.catalogue_images(n_items, seed=3)
    source = images.write_folder(st.data_dir / "source")
    eng = Engine.open(st)
    try:
        with TqdmProgress("load: ingest", "img", leave=False) as bar:
            eng.ingest.ingest(source, COLLECTION, observer=bar)
        cid = eng.catalog.collection_id(COLLECTION)
        ids = eng.catalog.ids_with_status(cid, "indexed")
        vectors = eng.index_store.get(cid, "cnn").reconstruct(np.asarray(ids[:64], np.int64))
    finally:
        eng.close()

    rng = np.random.default_rng(ctx.seed + 7)
    photos = _photos(images, rng, 6 if ctx.quick else 12)
    smalls = [images.read(int(i)) for i in rng.permutation(len(images))[:32]]
    # Stored vectors with a little noise, kept non-negative like real (ReLU6) embeddings.
    embeddings = [np.clip(v + rng.normal(0, 0.01, v.shape), 0, None).tolist() for v in vectors]
    requests_plan = _Plan(photos, smalls, embeddings, ids, _embedding_space())

    ctx.log(f"load: {WORKERS} workers, {CLIENTS} clients, {duration:.0f} s")
    with served(st, workers=WORKERS, extra_env={"ARTSNAP_BODY_TIMEOUT_S": str(int(duration))}) as server:
        _warm_up(server.url, requests_plan)
        run_ = _Run(server, requests_plan, duration)
        run_.go()

    samples = run_.samples
    answered = [s for s in samples if s.status == 200]
    lat = Latency.of([s.client_ms for s in answered])
    per_kind = {}
    for kind, _share in MIX:
        ks = [s for s in answered if s.kind == kind]
        app = [s.app_ms for s in ks if np.isfinite(s.app_ms)]
        per_kind[kind] = (
            len(ks),
            Latency.of([s.client_ms for s in ks]),
            _p99([s.client_ms for s in ks]),
            float(np.median(app)) if app else float("nan"),
        )
    photo_stages = [s.stages for s in answered if s.kind == "photo" and s.stages]
    stages = (
        {
            k: float(np.mean([st_[k] for st_ in photo_stages]))
            for k in ("decode_ms", "locate_ms", "embed_ms", "search_ms")
        }
        if photo_stages
        else {}
    )
    errors = Counter("no answer" if s.status == 0 else f"HTTP {s.status}" for s in samples if s.status != 200)
    app_total_s = sum(s.app_ms for s in answered if np.isfinite(s.app_ms)) / 1000
    in_window = [p for p in run_.probes if run_.stall_window[0] <= p[0] <= run_.stall_window[1]]
    outside = [p for p in run_.probes if not (run_.stall_window[0] <= p[0] <= run_.stall_window[1])]
    during_ms = [p[1] for p in in_window if p[1] is not None]
    return LoadResult(
        duration_s=duration,
        clients=CLIENTS,
        workers=WORKERS,
        items=len(ids),
        source=images.name,
        photo_size=(2000, 1500),
        photo_kb=float(np.mean([len(p) for p in photos]) / 1024),
        throughput_rps=len(answered) / duration,
        latency=lat,
        p99_ms=_p99([s.client_ms for s in answered]),
        per_kind=per_kind,
        stages_ms=stages,
        errors=dict(errors),
        retried=sum(s.retried for s in samples),
        killed_worker=run_.killed is not None,
        restart_s=run_.restart_s,
        healthz_during_stalls=Latency.of(during_ms),
        healthz_max_ms=max(during_ms, default=float("nan")),
        healthz_p99_ms=_p99(during_ms),
        healthz_failures=sum(1 for p in in_window if p[1] is None),
        healthz_outside=Latency.of([p[1] for p in outside if p[1] is not None]),
        stalls_answered=dict(run_.stall_outcomes),
        cpu_busy=app_total_s / duration / (os.cpu_count() or 2),
        notes=[
            "The load generator runs on the same 2 cores as the server, and so does everything else on the "
            "machine at the time: read the figures as a floor for a dedicated 2-core server.",
        ],
    )


def _p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


def _photos(images, rng: np.random.Generator, count: int) -> list[bytes]:
    """3 MP (2000×1500) q90 JPEG simulated snaps of collection paintings."""
    from dataset_tools.camera_snap import simulate_snap

    out = []
    for k in rng.permutation(len(images))[:count]:
        painting = Image.open(io.BytesIO(images.read(int(k)))).convert("RGB")
        snap = simulate_snap(painting, np.random.default_rng([7, int(k)]), out_size=(2000, 1500))
        buf = io.BytesIO()
        snap.photo.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def _embedding_space() -> str:
    """The server's embedding space id, which vector requests name."""
    from backend.engine.embedding_space import server_space

    return server_space()


@dataclass
class _Plan:
    photos: list[bytes]
    smalls: list[bytes]
    embeddings: list[list[float]]
    ids: list[int]
    space: str | None

    def request(self, session, url: str, kind: str, rnd: random.Random):
        search = f"{url}/v1/collections/{COLLECTION}/search"
        options = json.dumps({"top_k": 10})
        if kind == "photo":
            files = {"image": ("snap.jpg", rnd.choice(self.photos), "image/jpeg")}
            return session.post(search, files=files, data={"options": options}, timeout=60)
        if kind == "small":
            files = {"image": ("small.jpg", rnd.choice(self.smalls), "image/jpeg")}
            return session.post(search, files=files, data={"options": options}, timeout=60)
        if kind == "embedding":
            body = {"embedding": rnd.choice(self.embeddings), "embedding_space": self.space, "options": {"top_k": 10}}
            return session.post(search, json=body, timeout=60)
        return session.get(f"{url}/v1/items/{rnd.choice(self.ids)}/related?top_k=10", timeout=60)


def _warm_up(url: str, plan: _Plan) -> None:
    """Every worker has loaded its model and seen every kind of request."""
    import requests

    def worker() -> None:
        rnd = random.Random(0)
        with requests.Session() as session:
            for kind, _ in MIX * 3:
                plan.request(session, url, kind, rnd)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class _Run:
    """The measured run: clients, the health probe, the stalls and the kill, on one clock."""

    def __init__(self, server: ServerProcess, plan: _Plan, duration: float) -> None:
        self.server = server
        self.plan = plan
        self.duration = duration
        self.samples: list[Sample] = []
        self.probes: list[tuple[float, float | None]] = []
        self.stall_window = (0.3 * duration, 0.7 * duration)
        self.stall_outcomes: Counter[str] = Counter()
        self.killed: int | None = None
        self.restart_s = float("nan")
        self._lock = threading.Lock()
        self._t0 = 0.0

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def go(self) -> None:
        self._t0 = time.perf_counter()
        threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)]
        threads += [
            threading.Thread(target=self._probe, daemon=True),
            threading.Thread(target=self._chaos, daemon=True),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.duration + 120)

    def _client(self, i: int) -> None:
        import requests

        rnd = random.Random(1000 + i)
        kinds, weights = zip(*MIX)
        with requests.Session() as session:
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
                    ok = session.get(f"{self.server.url}/healthz", timeout=5).status_code == 200
                    ms: float | None = (time.perf_counter() - t0) * 1000 if ok else None
                except requests.RequestException:
                    ms = None
                self.probes.append((start, ms))
                time.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))  # pacing: ten probes a second

    def _chaos(self) -> None:
        """Open the stalled uploads, kill a worker, close the stalls, on schedule."""
        port = int(self.server.url.rsplit(":", 1)[1])
        self._sleep_until(self.stall_window[0])
        stalls = [_stalled_upload(port) for _ in range(STALLED)]
        self._sleep_until(0.5 * self.duration)
        before = self.server.worker_pids()
        if before:
            self.killed = before[0]
            os.kill(self.killed, signal.SIGKILL)
            t_kill = time.perf_counter()
            while time.perf_counter() - t_kill < 60:
                now = self.server.worker_pids()
                if len(now) == len(before) and self.killed not in now:
                    self.restart_s = time.perf_counter() - t_kill
                    break
                time.sleep(0.05)
        self._sleep_until(self.stall_window[1])
        for sock in stalls:
            self.stall_outcomes[_stall_outcome(sock)] += 1
            sock.close()

    def _sleep_until(self, t: float) -> None:
        while (left := t - self.now()) > 0:
            time.sleep(min(left, 0.05))


def _stalled_upload(port: int) -> socket.socket:
    boundary = "artsnapbench"
    head = (
        f"POST /v1/collections/{COLLECTION}/search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 3000000\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(head + b"\xff\xd8\xff" + b"\x00" * 4000)
    return sock


def _stall_outcome(sock: socket.socket) -> str:
    """What the server had done with a stalled upload by the end of the window."""
    sock.setblocking(False)
    try:
        data = sock.recv(64)
    except BlockingIOError:
        return "still waiting"
    except OSError:
        return "reset (its worker was killed)"
    if not data:
        return "closed"
    return data.split(b"\r\n", 1)[0].decode("latin-1")
