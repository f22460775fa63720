"""Pull job: Europeana search results → downloaded images → catalogue items, resumably.

Stages, in order, for each search result (clip-retrieval style: reader → mapper → writer):

1. *read* — :class:`~europeana_sync.search_api.SearchResults` pages with the cursor;
2. *sort* — already in the collection (by ``source_path``)? no usable licence? no image?
   → skipped, with the reason counted for the summary;
3. *fetch* — a batch of candidates is downloaded in a small thread pool: ``edmIsShownBy``
   first, ``edmPreview`` when that fails or is not an image we can decode (TIFF, HTML
   pages, 404s). A failure is recorded per item and never stops the job;
4. *write* — the batch goes through the engine's ordinary ingest as a CSV manifest in a
   staging folder (dedup, media, descriptors, index — all the resumable machinery), with
   the provenance columns landing in each item's ``extra``;
5. *checkpoint* — position and counters are saved together (``checkpoints``).

A crash loses at most the batch in flight: the next run resumes from the checkpoint, and
anything of that batch that did reach the catalogue is recognised by its ``source_path``.
A 429 that outlasts the client's patience, a result set that ends early, or a search API
that stays down stop the job *cleanly*: the batch in hand is ingested, the checkpoint
saved, and the summary says to run again later.
"""

from __future__ import annotations

import csv
import logging
import shutil
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests

from dataset_tools.images import ImageDecodeError, decode_image
from europeana_sync.edm import EuropeanaItem
from europeana_sync.errors import ApiError, BadRequest, EuropeanaSyncError, RateLimited, TruncatedResults
from europeana_sync.rights import Reusability, licence_code, reusability
from europeana_sync.search_api import MAX_ROWS, SearchApiClient, SearchQuery

from ..engine.catalog.sync_store import SyncStore
from ..engine.ingest import FileError, SilentObserver
from . import provenance
from .checkpoints import PullCheckpoints, PullState

log = logging.getLogger(__name__)

DEFAULT_BATCH = 32
DEFAULT_WORKERS = 4
#: Larger files are not worth the memory; the preview is tried instead.
DEFAULT_MAX_IMAGE_BYTES = 40 * 1024 * 1024

#: The catalogue's title column holds 512 characters; providers sometimes put a description there.
MAX_TITLE = 500

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_STOPPED = 75  # EX_TEMPFAIL: "try again later" — a cron wrapper can tell it apart


class PullObserver(Protocol):
    """What a front end hears (the CLI draws a tqdm bar on stderr)."""

    def start(self, total: int | None, done: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def message(self, text: str) -> None: ...


class SilentPullObserver:
    def start(self, total: int | None, done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass(frozen=True)
class PullOptions:
    query: str
    collection: str
    qf: tuple[str, ...] = ()
    #: ``reusability`` sent to the Search API (``open``, ``open,restricted`` …); also the
    #: classes allowed locally. ``None``: nothing sent, only ``open`` allowed locally.
    reusability: str | None = None
    #: Licence codes allowed whatever their class (``CC-BY-NC``, ``InC-EDU`` …).
    allow_licences: tuple[str, ...] = ()
    rows: int = MAX_ROWS
    #: At most this many search results this run; the next run continues from there.
    limit: int | None = None
    batch_size: int = DEFAULT_BATCH
    workers: int = DEFAULT_WORKERS
    #: Ignore an unfinished checkpoint and start from the first page.
    restart: bool = False
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES

    def allowed_classes(self) -> frozenset[Reusability]:
        if not self.reusability:
            return frozenset({Reusability.OPEN})
        return frozenset(parse_reusability(self.reusability))


def parse_reusability(text: str) -> list[Reusability]:
    """``"open,restricted"`` → classes; ``ValueError`` naming the valid ones."""
    classes = []
    for part in text.split(","):
        name = part.strip().lower()
        if not name:
            continue
        try:
            classes.append(Reusability(name))
        except ValueError:
            raise ValueError(f"unknown reusability {name!r}; use open, restricted or permission") from None
    if not classes:
        raise ValueError("reusability is empty; use open, restricted or permission")
    return classes


@dataclass
class PullSummary:
    collection: str
    query: str
    state: PullState
    total_results: int | None = None
    complete: bool = False
    stopped: str | None = None
    resumed_from: int | None = None
    pages: int = 0
    elapsed_s: float = 0.0
    #: (record id, reason) of every result skipped in *this* process (the state counts all).
    skipped_items: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.stopped and not self.complete and not self.stopped.startswith("limit"):
            return EXIT_STOPPED
        return EXIT_FAILURES if self.state.failed_count else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        s = self.state
        return {
            "collection": self.collection,
            "query": self.query,
            "total_results": self.total_results,
            "seen": s.seen,
            "added": s.added,
            "duplicates": s.duplicates,
            "already_present": s.already_present,
            "skipped": dict(sorted(s.skipped.items())),
            "skipped_total": sum(s.skipped.values()),
            "failed": s.failed,
            "failed_count": s.failed_count,
            "complete": self.complete,
            "stopped": self.stopped,
            "resumed_from": self.resumed_from,
            "resumes": s.resumes,
            "pages": self.pages,
            "elapsed_s": round(self.elapsed_s, 3),
            "skipped_items": [{"record_id": r, "reason": why} for r, why in self.skipped_items],
        }

    def lines(self) -> list[str]:
        """The human summary printed on stderr."""
        s = self.state
        head = (
            f"{self.collection}: {s.added} added, {s.duplicates} duplicates linked, "
            f"{s.already_present} already present, {sum(s.skipped.values())} skipped, "
            f"{s.failed_count} failed — {s.seen} of "
            f"{self.total_results if self.total_results is not None else '?'} results seen"
        )
        if self.resumed_from is not None:
            head += f" (resumed at result {self.resumed_from})"
        out = [head]
        for reason, count in sorted(s.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  skipped {count:>5}  {reason}")
        for failure in s.failed[:20]:
            out.append(f"  failed   {failure['record_id']}: {failure['reason']}")
        if s.failed_count > 20:
            out.append(f"  … and {s.failed_count - 20} more failures (see --json)")
        if self.complete:
            out.append("  complete: every page of the results was read")
        elif self.stopped:
            out.append(f"  stopped: {self.stopped}")
            out.append("  run the same command again to resume from the checkpoint")
        return out


@dataclass(frozen=True)
class _Candidate:
    item: EuropeanaItem
    source_path: str
    licence: str


@dataclass(frozen=True)
class _Fetched:
    candidate: _Candidate
    kind: str
    url: str
    data: bytes


def licence_problem(rights: str | None, allowed: frozenset[Reusability], allow_codes: Iterable[str] = ()) -> str | None:
    """Why ``rights`` is not acceptable, or ``None`` when it is."""
    if not rights:
        return "no rights statement"
    code = licence_code(rights)
    codes = {c.strip().upper() for c in allow_codes}
    if code and code.upper() in codes:
        return None
    kind = reusability(rights)
    if kind in allowed:
        return None
    return f"licence not allowed: {code or rights} ({kind.value})"


class PullJob:
    """One pull of one query into one collection. Build, then :meth:`run`."""

    def __init__(
        self, engine: Any, client: SearchApiClient, options: PullOptions, *, observer: PullObserver | None = None
    ) -> None:
        self.engine = engine
        self.client = client
        self.options = options
        self.observer = observer or SilentPullObserver()
        self.allowed = options.allowed_classes()
        self.spec = SearchQuery(
            query=options.query, qf=tuple(options.qf), rows=options.rows, reusability=options.reusability
        )

    def run(self) -> PullSummary:
        started = time.perf_counter()
        opts = self.options
        catalog = self.engine.catalog
        cid = catalog.ensure_collection(opts.collection)
        checkpoints = PullCheckpoints(SyncStore(catalog), cid)
        key = self.spec.fingerprint
        state, status = checkpoints.load(key)
        resumed_from = None
        if state is not None and status == "running" and not opts.restart:
            state.resumes += 1
            resumed_from = state.search.offset + state.search.skip if state.search else 0
        else:
            state = PullState.fresh(opts.query)
        summary = PullSummary(collection=opts.collection, query=opts.query, state=state, resumed_from=resumed_from)
        results = self.client.search(
            opts.query,
            opts.qf,
            rows=opts.rows,
            reusability=opts.reusability,
            resume_from=state.search if resumed_from is not None else None,
        )
        present = set(catalog.source_path_status(cid))
        batch: list[_Candidate] = []
        seen_this_run = 0
        started_bar = False
        try:
            for item in results:
                if not started_bar:
                    self.observer.start(results.total_results, state.seen)
                    started_bar = True
                seen_this_run += 1
                state.seen += 1
                candidate = self._sort(item, present, state, summary)
                if candidate is None:
                    self.observer.advance(1)
                else:
                    present.add(candidate.source_path)
                    batch.append(candidate)
                if len(batch) >= opts.batch_size:
                    self._write(batch, state, summary)
                    batch = []
                    state.search = results.checkpoint()
                    checkpoints.save(key, state)
                if opts.limit is not None and seen_this_run >= opts.limit:
                    summary.stopped = f"limit of {opts.limit} results reached"
                    break
            else:
                summary.complete = True
        except RateLimited as exc:
            wait = f"; the API says the quota resets in {exc.reset_after:.0f} s" if exc.reset_after else ""
            summary.stopped = f"rate limited by the Search API ({exc.message}){wait}"
        except TruncatedResults as exc:
            summary.stopped = f"the results ended early ({exc}); the API may be re-indexing"
        except BadRequest as exc:
            hint = (
                "; the saved cursor may no longer be valid: run with --restart to start from page 1"
                if resumed_from is not None
                else ""
            )
            summary.stopped = f"the Search API refused the query: {exc.message}{hint}"
        except ApiError as exc:  # 5xx that outlasted the retries, 401/403 on the key …
            summary.stopped = f"the Search API failed: {exc}"
        # Reached on a clean stop or the end: what is in hand is ingested before saving.
        if batch:
            self._write(batch, state, summary)
        state.search = results.checkpoint()
        checkpoints.save(key, state, done=summary.complete)
        summary.total_results = results.total_results
        summary.pages = results.pages_fetched
        summary.elapsed_s = time.perf_counter() - started
        return summary

    # -- stages -----------------------------------------------------------------------
    def _sort(
        self, item: EuropeanaItem, present: set[str], state: PullState, summary: PullSummary
    ) -> _Candidate | None:
        def skip(reason: str) -> None:
            state.skip(reason)
            summary.skipped_items.append((item.id, reason))

        try:
            source_path = provenance.source_path_for(item.id)
        except ValueError:
            skip("unusable record id")
            return None
        if source_path in present:
            state.already_present += 1
            return None
        problem = licence_problem(item.rights, self.allowed, self.options.allow_licences)
        if problem:
            skip(problem)
            return None
        if not item.image_url:
            skip("no image (neither edmIsShownBy nor edmPreview)")
            return None
        return _Candidate(item, source_path, licence_code(item.rights) or "")

    def _fetch(self, candidate: _Candidate) -> _Fetched | str:
        """The first of edmIsShownBy / edmPreview that downloads and decodes; else why not."""
        item = candidate.item
        urls = [("edmIsShownBy", item.edm_is_shown_by), ("edmPreview", item.edm_preview)]
        problems = []
        tried: set[str] = set()
        for kind, url in urls:
            if not url or url in tried:
                continue
            tried.add(url)
            try:
                data = self.client.download(url)
            except (EuropeanaSyncError, requests.RequestException) as exc:
                problems.append(f"{kind}: {exc}")
                continue
            problem = self._image_problem(data)
            if problem:
                problems.append(f"{kind}: {problem}")
                continue
            return _Fetched(candidate, kind, url, data)
        return "download failed: " + "; ".join(problems)

    def _image_problem(self, data: bytes) -> str | None:
        if len(data) > self.options.max_image_bytes:
            return f"{len(data)} bytes, more than the {self.options.max_image_bytes}-byte limit"
        try:
            decode_image(data, max_pixels=self.engine.settings.max_pixels, min_side=64)
        except ImageDecodeError as exc:
            return f"not an image we can read ({exc.code}: {exc.message})"
        return None

    def _write(self, batch: list[_Candidate], state: PullState, summary: PullSummary) -> None:
        """Download a batch and ingest it as one CSV manifest from a staging folder."""
        workers = max(1, min(self.options.workers, len(batch)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="europeana-fetch") as pool:
            fetched = list(pool.map(self._fetch, batch))
        ready: list[_Fetched] = []
        for candidate, result in zip(batch, fetched):
            if isinstance(result, str):
                state.fail(candidate.item.id, result)
                self.observer.message(f"failed: {candidate.item.id}: {result}")
            else:
                ready.append(result)
        self.observer.advance(len(batch) - len(ready))
        if not ready:
            return
        staging = self.engine.settings.data_dir / "sync" / "staging" / f"pull-{uuid.uuid4().hex[:12]}"
        try:
            manifest = _stage(staging, ready)
            observer = _IngestErrors()
            result = self.engine.ingest.ingest(manifest, self.options.collection, observer=observer)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        by_path = {f.candidate.source_path: f.candidate.item.id for f in ready}
        for error in observer.errors:
            state.fail(by_path.get(error.source_path, error.source_path), f"ingest: {error.code}: {error.message}")
        state.added += result.added
        state.duplicates += result.exact_duplicates + result.near_duplicates
        state.already_present += result.already_done
        self.observer.advance(len(ready))


class _IngestErrors(SilentObserver):
    def __init__(self) -> None:
        self.errors: list[FileError] = []

    def file_error(self, error: FileError) -> None:
        self.errors.append(error)


def _stage(folder: Path, ready: list[_Fetched]) -> Path:
    """Write images and a manifest (``path,title,<provenance>``) the CSV reader ingests."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "title", *provenance.KEYS])
        for fetched in ready:
            candidate, item = fetched.candidate, fetched.candidate.item
            target = folder / candidate.source_path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(fetched.data)
            values = {
                provenance.RECORD_ID: item.id,
                provenance.DATA_PROVIDER: item.data_provider or "",
                provenance.PROVIDER: item.provider or "",
                provenance.RIGHTS: item.rights or "",
                provenance.LICENCE: candidate.licence,
                provenance.LANDING_PAGE: item.landing_page or "",
                provenance.IMAGE_URL: fetched.url,
                provenance.IMAGE_KIND: fetched.kind,
            }
            title = (item.title or "")[:MAX_TITLE]
            writer.writerow([candidate.source_path, title, *(values[k] for k in provenance.KEYS)])
    return manifest


def pull(
    engine: Any, client: SearchApiClient, options: PullOptions, *, observer: PullObserver | None = None
) -> PullSummary:
    """Run one pull; see the module docstring."""
    return PullJob(engine, client, options, observer=observer).run()
