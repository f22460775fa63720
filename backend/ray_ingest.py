"""``artsnap ingest SOURCE --collection C --ray [ADDRESS]``: decode and describe on a Ray cluster.

The expensive stages of an ingest — decoding, hashing and the ONNX Runtime embedding — run in
Ray actors, one per worker CPU (or GPU: each actor opens ONNX Runtime with ``device``, CUDA
where the node has one), each loading the models once. Everything that decides what the
catalog holds stays in this process, unchanged: the resume check, deduplication, the media
store, the catalog rows, the index writes and the flush-then-mark order. So a Ray ingest is
resumable exactly as a local one is, writes through the same catalog and vector store, and
gives the same items and the same vectors (ONNX Runtime's float rounding aside).

The subclass swaps two stages of :class:`~backend.engine.ingest.IngestService`: where a batch
is prepared (:meth:`_prepared_batches`, a bounded window of Ray calls instead of a thread
pool) and where its vectors come from (:meth:`_describe_and_add`, the actor's vectors
instead of describing again). The actors need the artsnap package and the models folder on
every node (a shared filesystem or the same image); the local cluster the tests start has both.

Only this module and the CLI import ``ray``; serving never does (checked by ``lint-imports``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dataset_tools.dedup import content_hash, near_duplicate_hash
from dataset_tools.images import DecodedImage, ImageDecodeError, decode_image
from dataset_tools.progress import Level, ProgressObserver
from dataset_tools.readers import SourceReadError, SourceRecord

from .engine.descriptors import build_descriptors, derive_missing, describe_all
from .engine.index import VectorIndex
from .engine.ingest import INGEST_MIN_SIDE, IngestService, _Prepared
from .engine.ingest_results import FileError, IngestSummary
from .engine.recognition import extract_catalogue_features
from .engine.services import Engine

#: Payload of one record sent to an actor: (source_path, bytes); back: an error or the decoded
#: image with its hashes, vectors and (when the collection keeps them) local features.
Prepared = tuple[str, DecodedImage, str, int | None, dict[str, np.ndarray], Any]

#: Images per actor call. Small, unlike a local batch: the first answers arrive after one call's
#: work and the last call's driver work runs with the actors idle, so a call of 32 images left
#: the actors waiting for a noticeable share of a few-hundred-image ingest; a call's own cost
#: (a task submission, a few kB of pickling) is far below one image's embedding.
RAY_BATCH = 8
#: Calls in flight per actor: one being worked on, the next ones queued behind it.
IN_FLIGHT_PER_ACTOR = 3


class DescribeWorker:
    """A Ray actor: the models of one worker, loaded once, applied to batches of encoded images."""

    def __init__(
        self, models_dir: str, max_pixels: int, max_decode_bytes: int, threads: int, device: str, model: str
    ) -> None:
        self.descriptors = build_descriptors(Path(models_dir), threads=threads, device=device, model=model)
        self.max_pixels, self.max_decode_bytes = max_pixels, max_decode_bytes

    def ready(self) -> bool:
        """Load the models now (ONNX Runtime sessions open lazily), so the first batch does not wait."""
        blank = Image.new("RGB", (64, 64))
        describe_all(self.descriptors, [blank])
        return True

    def process(
        self, batch: list[tuple[str, bytes]], with_features: bool = False
    ) -> list[Prepared | tuple[str, str, str]]:
        out: list[Prepared | tuple[str, str, str]] = []
        ok: list[tuple[str, DecodedImage, str, int | None]] = []
        for path, data in batch:
            try:
                decoded = decode_image(
                    data, max_pixels=self.max_pixels, min_side=INGEST_MIN_SIDE, max_decode_bytes=self.max_decode_bytes
                )
            except ImageDecodeError as exc:
                out.append((path, exc.code, exc.message))
                continue
            ok.append((path, decoded, content_hash(data), near_duplicate_hash(decoded.image)))
        vectors = describe_all(self.descriptors, [d.image for _, d, _, _ in ok]) if ok else {}
        for row, (path, decoded, sha, ph) in enumerate(ok):
            # Local features here too, not in the driver: the driver's work is serial, and an
            # actor's runs in parallel with the other actors'. Same function, same features.
            features = extract_catalogue_features(decoded.image) if with_features else None
            out.append((path, decoded, sha, ph, {k: v[row] for k, v in vectors.items()}, features))
        return out


class RayIngestService(IngestService):
    """:class:`IngestService` whose decode and describe stages run on Ray actors."""

    def __init__(self, base: IngestService, actors: list[Any], model: str, *, batch: int = RAY_BATCH) -> None:
        super().__init__(
            base.settings,
            base.catalog,
            base.descriptors,
            base.index_store,
            labeller=base.labeller,
            labeller_version_id=base.labeller_version_id,
            features=base.features,
            spaces=base.spaces,
        )
        self.actors = actors
        self.batch = batch
        #: The embedding model the actors loaded (the serving one when they started).
        self.model = model
        self._vectors: dict[int, dict[str, np.ndarray]] = {}

    def _prepared_batches(
        self, records: list[SourceRecord], summary: IngestSummary, obs: ProgressObserver, *, with_features: bool
    ) -> Iterator[list[_Prepared]]:
        import ray

        bs = min(self.batch, self.settings.ingest_batch)
        chunks = [records[i : i + bs] for i in range(0, len(records), bs)]
        window: deque[tuple[dict[str, tuple[SourceRecord, bytes]], Any]] = deque()
        pending = iter(enumerate(chunks))

        def submit() -> None:
            for n, chunk in pending:
                by_path: dict[str, tuple[SourceRecord, bytes]] = {}
                for rec in chunk:
                    try:
                        by_path[rec.source_path] = (rec, rec.read())
                    except (SourceReadError, OSError) as exc:
                        self._fail(summary, obs, FileError(rec.source_path, "unreadable", str(exc)))
                payload = [(path, data) for path, (_, data) in by_path.items()]
                actor = self.actors[n % len(self.actors)]
                window.append((by_path, actor.process.remote(payload, with_features)))
                return

        for _ in range(IN_FLIGHT_PER_ACTOR * len(self.actors)):  # bounded: a few calls per actor in flight
            submit()
        while window:
            by_path, ref = window.popleft()
            submit()
            batch: list[_Prepared] = []
            for res in ray.get(ref):
                if len(res) == 3:
                    path, code, message = res  # the error form of a result
                    self._fail(summary, obs, FileError(path, code, message))
                    continue
                path, decoded, sha, ph, vectors, features = res  # the success form
                rec, data = by_path[path]
                batch.append(_Prepared(rec, data, decoded, sha, ph, features=features))
                self._vectors[id(decoded.image)] = vectors
            if batch:
                yield batch

    @staticmethod
    def _fail(summary: IngestSummary, obs: ProgressObserver, error: FileError) -> None:
        summary.failed.append(error)
        obs.message(error.line(), Level.ERROR)
        obs.advance(1)

    def _describe_and_add(self, ids: np.ndarray, images: list[Image.Image], indexes: Mapping[str, VectorIndex]) -> None:
        """The actors' vectors for images they prepared; images from elsewhere (re-embedding a
        crash's ``pending`` rows from the media store) are described here as usual."""
        remote = [self._vectors.pop(id(im), None) for im in images]
        if self.current_space().model != self.model:
            raise RuntimeError(
                f"the serving embedding model is now {self.current_space().model}, the Ray actors embed with "
                f"{self.model}: run the ingest again (it resumes)"
            )
        if any(v is None for v in remote):
            super()._describe_and_add(ids, images, indexes)
            return
        stacked = {name: np.stack([v[name] for v in remote if v is not None]) for name in remote[0] or {}}
        for name, vectors in derive_missing(self.descriptors, stacked, list(self.descriptors)).items():
            indexes[name].add(ids, vectors)


def ray_ingest_service(eng: Engine, address: str | None, *, workers: int | None = None) -> RayIngestService:
    """Connect to the Ray cluster at ``address`` (``None``/``"local"``: start one here) and start
    one describe actor per worker CPU (``workers`` to say otherwise)."""
    import ray

    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]  # ray ships no types for it
    count = workers or max(1, int(resources.get("CPU", 1)))
    s = eng.settings
    model = eng.ingest.current_space().model
    actor_class: Any = ray.remote(num_cpus=1)(DescribeWorker)
    actors = [
        actor_class.remote(str(s.models_dir), s.max_pixels, s.max_decode_bytes, 1, s.device, model)
        for _ in range(count)
    ]
    ray.get([a.ready.remote() for a in actors])  # models loaded on every worker before the ingest starts
    return RayIngestService(eng.ingest, actors, model)
