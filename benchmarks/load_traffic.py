"""What the load benchmark sends (``load.py`` measures it): the request mix, the stalled uploads, the keys.

Every request carries a ``search`` key in ``Authorization``: the server runs with keys required
and reads not public (``ARTSNAP_REQUIRE_KEYS=1``, ``ARTSNAP_PUBLIC_SEARCH=0``), so each request
is looked up, scope-checked and counted against its rate limit as on a public deployment.
"""

from __future__ import annotations

import io
import json
import random
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

COLLECTION = "bench-load"
MIX = (("photo", 0.4), ("small", 0.2), ("embedding", 0.3), ("related", 0.1))
#: The load clients' key: limited (every request is counted) far above what 12 clients can send.
CLIENT_RATE_LIMIT = "100000/minute"
#: A second key with a small limit, asked more often than it allows during the run: it must get 429s.
PROBE_RATE_LIMIT = "10/minute"
PROBE_REQUESTS = 40
#: What the server needs to run keyed (the settings a public deployment has).
KEYED_ENV = {"ARTSNAP_REQUIRE_KEYS": "1", "ARTSNAP_PUBLIC_SEARCH": "0"}


@dataclass(frozen=True)
class BenchKeys:
    clients: str  # the token the load clients send
    probe: str  # the small-limit key's token


def create_keys(data_dir: Path) -> BenchKeys:
    """Two ``search`` keys in the bench's catalog, made as an operator would (``artsnap keys create``)."""
    from backend.config import Settings
    from backend.engine.catalog.access_store import AccessStore
    from backend.engine.catalog.store import Catalog
    from backend.engine.keys import KeyService

    catalog = Catalog(Settings.from_env(data_dir).database_url)
    try:
        keys = KeyService(AccessStore(catalog))
        clients = keys.create("load clients", ["search"], rate_limit=CLIENT_RATE_LIMIT).token
        probe = keys.create("rate-limit probe", ["search"], rate_limit=PROBE_RATE_LIMIT).token
    finally:
        catalog.close()
    return BenchKeys(clients, probe)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def photos(images, rng: np.random.Generator, count: int) -> list[bytes]:
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


def embedding_space() -> str:
    """The server's embedding space id, which vector requests name."""
    from backend.engine.embedding_space import server_space

    return server_space()


@dataclass
class Plan:
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


def warm_up(url: str, plan: Plan, workers: int, key: str) -> None:
    """Every worker has loaded its model and seen every kind of request."""
    import requests

    def worker() -> None:
        rnd = random.Random(0)
        with requests.Session() as session:
            session.headers.update(auth(key))
            for kind, _ in MIX * 3:
                plan.request(session, url, kind, rnd)

    threads = [threading.Thread(target=worker) for _ in range(workers * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def rate_limit_probe(url: str, plan: Plan, key: str) -> dict[str, int]:
    """Send :data:`PROBE_REQUESTS` related calls with the small-limit key: what came back.

    ``"429 with Retry-After"`` counts refusals that say when to come back (the standard answer);
    ``"429 without Retry-After"`` would be a defect.
    """
    import requests

    out: dict[str, int] = {}
    rnd = random.Random(5)
    with requests.Session() as session:
        session.headers.update(auth(key))
        for _ in range(PROBE_REQUESTS):
            try:
                resp = plan.request(session, url, "related", rnd)
            except requests.RequestException:
                what = "no answer"
            else:
                what = f"HTTP {resp.status_code}"
                if resp.status_code == 429:
                    has = "Retry-After" in resp.headers and "RateLimit" in resp.headers
                    what = "429 with Retry-After" if has else "429 without Retry-After"
            out[what] = out.get(what, 0) + 1
    return out


def stalled_upload(port: int, key: str) -> socket.socket:
    """An upload that sends its headers (with a good key, so it is not refused at once) and stops."""
    boundary = "artsnapbench"
    head = (
        f"POST /v1/collections/{COLLECTION}/search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 3000000\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(head + b"\xff\xd8\xff" + b"\x00" * 4000)
    return sock


def stall_outcome(sock: socket.socket) -> str:
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
