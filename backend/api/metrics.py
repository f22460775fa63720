"""Prometheus metrics: request counts and latencies, per-stage search time.

Each gunicorn worker keeps its own registry (no multiprocess mode: it needs a shared folder
and a cleanup hook); scrape through a single worker or run with one worker when exact
totals matter. Said in the README.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "artsnap_http_requests_total", "HTTP requests", ["endpoint", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "artsnap_http_request_seconds",
            "HTTP request latency",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
            registry=self.registry,
        )
        self.search_stage = Histogram(
            "artsnap_search_stage_seconds",
            "Time per search stage",
            ["stage"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32),
            registry=self.registry,
        )
        self.ingested = Counter("artsnap_items_added_total", "Items added over HTTP", registry=self.registry)
