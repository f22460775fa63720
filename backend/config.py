"""Settings: built from arguments and environment, passed down explicitly.

No module-level globals: the Flask app, the CLI and the tests each build a ``Settings`` and
hand it to the services, so two apps with different data folders can live in one process.
The sync commands' service addresses and credentials are a second object,
:class:`SyncSettings`, because only those commands need them (and a secret has no business
in the settings every gunicorn worker holds). This module is the only place that reads the
environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_bool(name: str, default: bool) -> bool:
    value = (os.environ.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r}: say 1/true/yes/on or 0/false/no/off")


def parse_weights(text: str) -> dict[str, float]:
    """``"cnn=1,code=0.5"`` → ``{"cnn": 1.0, "code": 0.5}`` (a clear error for anything else)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip() or float(value) < 0:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"descriptor weight {part!r} is not NAME=NUMBER ≥ 0 (e.g. cnn=1,code=0.5)") from None
    if out and sum(out.values()) <= 0:
        raise ValueError("at least one descriptor weight must be > 0")
    return out


#: Requests one kept-alive connection carries by default (``Settings.keepalive_requests``). Each
#: costs tens of milliseconds of work, so reconnecting once in 50 is noise, and under load a
#: restarted worker gets its share of the clients back within seconds.
KEEPALIVE_REQUESTS = 50


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str = ""
    #: faiss index_factory string for each collection's vectors (wrapped in IDMap2 for ids).
    #: "Flat" is exact; "HNSW32", "IVF1024,SQ8", "SQ8" … trade exactness for speed/memory.
    index_factory: str = "Flat"
    #: Search-time parameters of the ``cnn`` index, e.g. "nprobe=32" (IVF), "efSearch=64"
    #: (HNSW), "k_factor_rf=8" (shortlist size for ",RFlat" re-ranking, × top-k).
    index_search_params: str = ""
    #: faiss binary factory for the trained ``code`` descriptor: "BFlat" (exact Hamming),
    #: "BIVF1024", "BHNSW32"; and its search parameters ("nprobe=16").
    code_index_factory: str = "BFlat"
    code_search_params: str = ""
    #: Readers (server workers, ``artsnap search``) memory-map saved indexes instead of
    #: copying them in: fast cold starts, resident memory only for what searches touch.
    index_mmap: bool = True
    #: Where vectors live: "faiss" (files under data_dir, the embedded default) or a Milvus URI,
    #: "milvus:///abs/path/milvus.db" (embedded milvus-lite, one process) or "http://host:19530"
    #: (a Milvus server that several API instances share).
    vector_store: str = "faiss"
    #: Seconds a search waits for the vector store before answering 503 (a stopped store fails
    #: faster: connection refused).
    vector_store_timeout_s: float = 1.0
    #: Default weight of each descriptor at search time, for searches and related items that do
    #: not say (``ARTSNAP_DESCRIPTOR_WEIGHTS="cnn=1,code=0.5"``). Every descriptor is built at ingest.
    descriptor_weights: dict[str, float] = field(default_factory=lambda: {"cnn": 1.0, "color": 0.0})
    max_upload_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 64_000_000
    #: Memory one image decode may take (dataset_tools.images.decode_cost): with the upload
    #: itself, a worker stays within ~300 MB of its idle size for any accepted image.
    max_decode_bytes: int = 200 * 1024 * 1024
    #: Seconds a client may go silent in the middle of a request body before a 408.
    body_timeout_s: float = 30.0
    #: Run each request's CPU work in a native thread of its gevent worker, so ``/healthz``
    #: answers at once while a search computes. Off by default: the hand-over between that
    #: thread and the event loop costs throughput under mixed load (BENCHMARKS.md, "Mixed
    #: load"); turn it on where health checks have tight timeouts.
    compute_thread: bool = False
    #: Requests one kept-alive connection may carry; the last is answered ``Connection: close``
    #: and the client reconnects, to whichever worker accepts first (0: no bound). Without it,
    #: a worker restarted mid-load never gets back the connections its predecessor had, and
    #: one core idles (``backend/worker_loads.py``).
    keepalive_requests: int = KEEPALIVE_REQUESTS
    #: A worker holding two requests more than the least loaded one closes the connection of
    #: the next (``backend/worker_loads.py``), whatever ``keepalive_requests`` says. Turn it off
    #: (ARTSNAP_SHED_CONNECTIONS=0) behind a proxy that balances the workers itself.
    shed_connections: bool = True
    #: Queries are decoded with JPEG draft mode down to this shorter side. 360 lets libjpeg
    #: decode a 12 MP (4032×3024) photo at 1/8 scale (504×378), faster to decode and locate in
    #: than 1/4 scale, and the rectified painting still comes out ≈ 224 px.
    query_min_side: int = 360
    #: Catalog images are kept at most this large in the media store (thumbnails and re-embedding).
    media_max_side: int = 1024
    thumb_size: int = 256
    locate_artwork: bool = True
    ingest_batch: int = 32
    near_duplicate_threshold: int = 6
    default_top_k: int = 12
    max_top_k: int = 200
    #: ONNX Runtime intra-op threads per session (0: one per core).
    threads: int = 0
    #: Where models run: "auto" (CUDA when onnxruntime-gpu sees a GPU, else CPU), "cpu", "cuda".
    device: str = "auto"
    #: Every caller needs an API key to write (and to read when search is not public). When
    #: False, a caller on this machine (a loopback address, not forwarded by a proxy) may do
    #: anything without a key: ``make run``. ``artsnap serve`` turns it on when it listens
    #: beyond loopback; ARTSNAP_REQUIRE_KEYS=1 turns it on behind a reverse proxy on the same host.
    require_keys: bool = False
    #: Whether search, related, items, thumbnails, collections and model downloads answer
    #: callers without a key (ARTSNAP_PUBLIC_SEARCH=0 makes them need a ``search`` key).
    public_search: bool = True
    #: Requests per window for a key that sets no limit of its own (a ``limits`` string). A
    #: publishable key's limit counts per visitor address; a secret key's for the key.
    rate_limit: str = "600/minute"
    #: Requests per window for each client address calling without a key.
    anonymous_rate_limit: str = "120/minute"
    #: Where rate-limit counters live (a ``limits`` storage URI). ``memory://`` counts in each
    #: gunicorn worker apart; ``redis://host:6379`` (with the redis package) shares them.
    rate_limit_storage: str = "memory://"
    #: Check every JSON answer against the declared response models (tests; a mismatch is a 500).
    check_responses: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'catalog.db'}")

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None, **overrides: Any) -> Settings:
        base = cls(
            data_dir=Path(data_dir or os.environ.get("ARTSNAP_DATA_DIR", "./var")),
            database_url=os.environ.get("ARTSNAP_DATABASE_URL", ""),
            index_factory=os.environ.get("ARTSNAP_INDEX_FACTORY", "Flat"),
            index_search_params=os.environ.get("ARTSNAP_INDEX_SEARCH_PARAMS", ""),
            code_index_factory=os.environ.get("ARTSNAP_CODE_INDEX_FACTORY", "BFlat"),
            code_search_params=os.environ.get("ARTSNAP_CODE_SEARCH_PARAMS", ""),
            index_mmap=os.environ.get("ARTSNAP_INDEX_MMAP", "1").strip().lower() not in ("0", "false", "no", "off"),
            vector_store=os.environ.get("ARTSNAP_VECTOR_STORE", "faiss"),
            vector_store_timeout_s=float(os.environ.get("ARTSNAP_VECTOR_STORE_TIMEOUT_S") or 1.0),
            descriptor_weights=parse_weights(os.environ.get("ARTSNAP_DESCRIPTOR_WEIGHTS", ""))
            or {"cnn": 1.0, "color": 0.0},
            max_upload_bytes=_env_int("ARTSNAP_MAX_UPLOAD_BYTES", 40 * 1024 * 1024),
            max_pixels=_env_int("ARTSNAP_MAX_PIXELS", 64_000_000),
            max_decode_bytes=_env_int("ARTSNAP_MAX_DECODE_MB", 200) * 1024 * 1024,
            body_timeout_s=float(os.environ.get("ARTSNAP_BODY_TIMEOUT_S") or 30.0),
            compute_thread=_env_bool("ARTSNAP_COMPUTE_THREAD", False),
            keepalive_requests=_env_int("ARTSNAP_KEEPALIVE_REQUESTS", KEEPALIVE_REQUESTS),
            shed_connections=_env_bool("ARTSNAP_SHED_CONNECTIONS", True),
            threads=_env_int("ARTSNAP_THREADS", 0),
            device=os.environ.get("ARTSNAP_DEVICE", "auto"),
            require_keys=_env_bool("ARTSNAP_REQUIRE_KEYS", False),
            public_search=_env_bool("ARTSNAP_PUBLIC_SEARCH", True),
            rate_limit=os.environ.get("ARTSNAP_RATE_LIMIT") or "600/minute",
            anonymous_rate_limit=os.environ.get("ARTSNAP_ANONYMOUS_RATE_LIMIT") or "120/minute",
            rate_limit_storage=os.environ.get("ARTSNAP_RATE_LIMIT_STORAGE") or "memory://",
            check_responses=_env_bool("ARTSNAP_CHECK_RESPONSES", False),
        )
        return replace(base, **overrides) if overrides else base

    # Where things live under data_dir -----------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "indexes"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def thumbs_dir(self) -> Path:
        return self.data_dir / "thumbs"


#: The production Europeana API (the same default as the ``europeana_sync`` clients).
EUROPEANA_API_URL = "https://api.europeana.eu"


@dataclass(frozen=True)
class SyncSettings:
    """Where the sync commands send, and as whom: the defaults of their flags.

    Each field is read from the environment variable of the same name in capitals
    (``europeana_api_key`` from ``EUROPEANA_API_KEY``); a flag on the command line wins.
    ``None`` means not set; a command that needs it says which variable or flag to set.
    Secrets are better set in the environment than as flags, which end up in shell history
    and ``ps``; they are left out of ``repr`` so a log line cannot leak them.
    """

    #: Base URL of the Europeana Search, Record and Annotations APIs (point it at the local
    #: fake to try things).
    europeana_api_url: str = EUROPEANA_API_URL
    #: The Europeana API key (wskey), needed to pull and to publish annotations.
    europeana_api_key: str | None = field(default=None, repr=False)
    #: OpenID Connect token endpoint for publishing annotations (``None``: Europeana's own).
    europeana_token_url: str | None = None
    #: OIDC client id and secret of the account that publishes annotations.
    europeana_client_id: str | None = None
    europeana_client_secret: str | None = field(default=None, repr=False)
    #: Europeana account for the OIDC password grant (else the client-credentials grant).
    europeana_username: str | None = None
    europeana_password: str | None = field(default=None, repr=False)
    #: The scope the token asks for: the Annotations API refuses writes without ``annotations``.
    europeana_token_scope: str = "annotations"
    #: Which Search/Record API version to call: ``v2`` (default) or ``v3``.
    europeana_api_version: str = "v2"
    #: Base URL of the WITH platform's API (no default: each WITH installation has its own).
    with_api_url: str | None = None
    #: WITH login that owns the annotations published there.
    with_username: str | None = None
    with_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SyncSettings:
        """Read every field from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        return cls(
            europeana_api_url=env.get("EUROPEANA_API_URL", EUROPEANA_API_URL),
            europeana_api_key=env.get("EUROPEANA_API_KEY"),
            europeana_token_url=env.get("EUROPEANA_TOKEN_URL"),
            europeana_client_id=env.get("EUROPEANA_CLIENT_ID"),
            europeana_client_secret=env.get("EUROPEANA_CLIENT_SECRET"),
            europeana_username=env.get("EUROPEANA_USERNAME"),
            europeana_password=env.get("EUROPEANA_PASSWORD"),
            europeana_token_scope=env.get("EUROPEANA_TOKEN_SCOPE", "annotations"),
            europeana_api_version=env.get("EUROPEANA_API_VERSION", "v2"),
            with_api_url=env.get("WITH_API_URL"),
            with_username=env.get("WITH_USERNAME"),
            with_password=env.get("WITH_PASSWORD"),
        )
