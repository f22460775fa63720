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

Keys and rate limits are on, as on a public deployment: the server requires keys and reads are
not public, every request carries a ``search`` key whose (non-binding) limit counts it, and a
second key with a small limit asks more often than it may during the run and must be answered
429 with ``Retry-After`` (``load_traffic.py``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from backend.config import KEEPALIVE_REQUESTS, Settings

from .context import BenchContext
from .figures import Latency, TargetCheck, md_table, miss_by
from .load_run import CLIENTS, STALLED, LoadRun
from .load_traffic import (
    COLLECTION,
    KEYED_ENV,
    MIX,
    PROBE_RATE_LIMIT,
    PROBE_REQUESTS,
    Plan,
    create_keys,
    embedding_space,
    photos,
    warm_up,
)
from .server_process import served

NAME = "load"
TITLE = "Mixed load on 2 workers: throughput, tail latency, a killed worker, stalled uploads"

WORKERS = 2
TARGET_RPS = 100.0
TARGET_P99_MS = 300.0
TARGET_HEALTHZ_MS = 100.0


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
    rate_limit_probe: dict[str, int]
    cpu_busy: float
    #: CPU milliseconds per answered request: the server's processes, and the load generator's own
    server_cpu_ms: float = float("nan")
    client_cpu_ms: float = float("nan")
    #: probes sent again on a fresh connection after the killed worker's broke (time from the first try)
    healthz_retried: int = 0
    #: answered requests per second before and after the worker was killed
    halves_rps: tuple[float, float] = (float("nan"), float("nan"))
    #: the replacement worker's share of the workers' CPU time from its start to the end (0.5: even)
    replacement_share: float = float("nan")
    #: outside the stalls and the 10 s after the kill: how many connections the most crowded
    #: worker held beyond the least (median, 95th percentile) and the samples
    connection_spread: tuple[float, float, int] = (float("nan"), float("nan"), 0)
    #: the server's connection settings in the run: requests per connection, shedding on
    keepalive_requests: int = KEEPALIVE_REQUESTS
    shed_connections: bool = True
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
            TargetCheck(
                f"a key over its limit ({PROBE_REQUESTS} calls at {PROBE_RATE_LIMIT}) under load",
                "429 with Retry-After",
                ", ".join(f"{k}: {v}" for k, v in sorted(self.rate_limit_probe.items())) or "not run",
                self.rate_limit_probe.get("429 with Retry-After", 0) > 0
                and set(self.rate_limit_probe) <= {"HTTP 200", "429 with Retry-After"},
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
            "(sum of server times ÷ wall time ÷ cores), so the rest of each client's wait is queueing. "
            f"CPU time per answered request: server processes {self.server_cpu_ms:.1f} ms, the load generator "
            f"itself (clients, probes, on the same cores) {self.client_cpu_ms:.1f} ms.",
            "",
            f"Before the worker was killed {self.halves_rps[0]:.1f} req/s, after it {self.halves_rps[1]:.1f} req/s; "
            f"from its start to the end of the run the replacement worker did {self.replacement_share:.0%} of the "
            "workers' CPU work, its model loading included (50 % is an even share). A kept-alive connection ends "
            f"after {self.keepalive_requests or 'unbounded'} requests (`ARTSNAP_KEEPALIVE_REQUESTS`), so the clients "
            "that reconnected to the survivor spread again. "
            f"The clients' connections over the workers (sampled twice a second outside the stalls and the 10 s "
            f"after the kill, n={self.connection_spread[2]}): the most crowded worker held "
            f"{self.connection_spread[0]:.0f} more than the least at the median, {self.connection_spread[1]:.0f} at "
            "the 95th percentile; "
            + (
                "a worker holding two requests more than the least loaded one closes the connection of the next "
                "(`backend/worker_loads.py`)."
                if self.shed_connections
                else "shedding by load was off (`ARTSNAP_SHED_CONNECTIONS=0`)."
            ),
            "",
            f"`/healthz` while the uploads stalled: p50 {h.p50_ms:.0f} ms, p95 {h.p95_ms:.0f} ms, "
            f"p99 {self.healthz_p99_ms:.0f} ms, max {self.healthz_max_ms:.0f} ms (n={h.n}, {self.healthz_failures} "
            f"unanswered, {self.healthz_retried} sent again at once on a new connection after the killed worker's "
            f"broke, timed from the first try); outside the stall window p50 {o.p50_ms:.0f} ms, p95 {o.p95_ms:.0f} ms (n={o.n}). "
            f"Stalled uploads: {', '.join(f'{k}: {v}' for k, v in self.stalls_answered.items())}.",
            "",
            "Keys and rate limits on: keys required, reads not public; every request above carried a `search` "
            f"key. A second key limited to {PROBE_RATE_LIMIT} sent {PROBE_REQUESTS} related calls under the load: "
            + (", ".join(f"{k}: {v}" for k, v in sorted(self.rate_limit_probe.items())) or "not run")
            + f" (counters are per worker with the default `memory://` storage: up to {WORKERS}× the limit passes).",
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
    serving = Settings.from_env(st.data_dir)  # what the server reads from the same environment
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
    snaps = photos(images, rng, 6 if ctx.quick else 12)
    smalls = [images.read(int(i)) for i in rng.permutation(len(images))[:32]]
    # Stored vectors with a little noise, kept non-negative like real (ReLU6) embeddings.
    embeddings = [np.clip(v + rng.normal(0, 0.01, v.shape), 0, None).tolist() for v in vectors]
    requests_plan = Plan(snaps, smalls, embeddings, ids, embedding_space())
    keys = create_keys(st.data_dir)

    ctx.log(f"load: {WORKERS} workers, {CLIENTS} clients, {duration:.0f} s, keys required")
    env = {**KEYED_ENV, "ARTSNAP_BODY_TIMEOUT_S": str(int(duration))}
    with served(st, workers=WORKERS, extra_env=env) as server:
        warm_up(server.url, requests_plan, WORKERS, keys.clients)
        run_ = LoadRun(server, requests_plan, duration, keys)
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
    half = duration / 2
    spreads = [
        max(c.values()) - min(c.values())
        for t, c in run_.connections
        if len(c) == WORKERS
        and not (run_.stall_window[0] <= t <= run_.stall_window[1])
        and not (run_.kill_at_s <= t <= run_.kill_at_s + 10)
    ]
    after = run_.worker_cpu_after_restart
    share = (
        after[run_.replacement] / sum(after.values())
        if run_.replacement in after and sum(after.values()) > 0
        else float("nan")
    )
    return LoadResult(
        duration_s=duration,
        clients=CLIENTS,
        workers=WORKERS,
        items=len(ids),
        source=images.name,
        photo_size=(2000, 1500),
        photo_kb=float(np.mean([len(p) for p in snaps]) / 1024),
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
        healthz_retried=run_.probe_retries,
        halves_rps=(
            sum(1 for s in answered if s.start_s < half) / half,
            sum(1 for s in answered if s.start_s >= half) / (duration - half),
        ),
        replacement_share=share,
        keepalive_requests=serving.keepalive_requests,
        shed_connections=serving.shed_connections,
        connection_spread=(
            float(np.median(spreads)) if spreads else float("nan"),
            float(np.percentile(spreads, 95)) if spreads else float("nan"),
            len(spreads),
        ),
        healthz_outside=Latency.of([p[1] for p in outside if p[1] is not None]),
        stalls_answered=dict(run_.stall_outcomes),
        rate_limit_probe=run_.probe_outcomes,
        cpu_busy=app_total_s / duration / (os.cpu_count() or 2),
        server_cpu_ms=run_.server_cpu_s * 1000 / max(1, len(answered)),
        client_cpu_ms=run_.client_cpu_s * 1000 / max(1, len(answered)),
        notes=[
            "The load generator runs on the same 2 cores as the server, and so does everything else on the "
            "machine at the time: read the figures as a floor for a dedicated 2-core server.",
        ],
    )


def _p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")
