"""Pull job: Europeana search results → downloaded images → catalogue items, resumably.

Stages, in order, for each search result (clip-retrieval style: reader → mapper → writer):

1. *read* — :class:`~europeana_sync.search_api.SearchResults` pages with the cursor;
2. *sort* — already in the collection (by ``source_path``)? no usable licence? no image?
   → skipped, with the reason counted for the summary;
3. *fetch* — a batch of candidates is downloaded in a small thread pool (:meth:`PullJob._fetch`
   gets one URL's bytes, nothing more);
4. *accept* — each download is decoded the way ingest decodes (``IngestService.decode``):
   ``edmIsShownBy`` first, ``edmPreview`` when that fails to download or is not an image we
   can decode (TIFF, HTML pages, 404s). A failure is recorded per item and never stops the job;
5. *write* — the accepted images become in-memory :class:`~dataset_tools.readers.SourceRecord` s
   (provenance in ``extra``, the decoded image along with the bytes, so it is decoded once)
   and go straight through the engine's ordinary ingest (dedup, media, descriptors, index —
   all the resumable machinery); nothing is staged on disk;
6. *checkpoint* — position and counters are saved together (``checkpoints``).

A crash loses at most the batch in flight: the next run resumes from the checkpoint, and
anything of that batch that did reach the catalogue is recognised by its ``source_path``.
A 429 that outlasts the client's patience, a result set that ends early, or a search API
that stays down stop the job *cleanly*: the batch in hand is ingested, the checkpoint
saved, and the summary says to run again later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dataset_tools.images import DecodedImage, ImageDecodeError
from dataset_tools.progress import ProgressObserver, SilentProgress
from dataset_tools.readers import RecordSource, SourceRecord
from europeana_sync.edm import EuropeanaItem
from europeana_sync.errors import ApiError, BadRequest, FetchError, PlaceholderImage, RateLimited, TruncatedResults
from europeana_sync.exit_codes import EXIT_ITEM_FAILURES, EXIT_OK, exit_code_for
from europeana_sync.fetch import FetchPolicy, ImageFetcher
from europeana_sync.rights import Reusability, classes_of_licences, licence_code, parse_reusability, reusability
from europeana_sync.search_api import MAX_ROWS, SearchApiClient, SearchQuery

from ..engine.catalog.sync_store import SyncStore
from ..engine.services import Engine
from . import provenance
from .checkpoints import PullCheckpoints, PullState

log = logging.getLogger(__name__)

DEFAULT_BATCH = 32
DEFAULT_WORKERS = 4
#: Larger files are not worth the memory; the preview is tried instead.
DEFAULT_MAX_IMAGE_BYTES = 40 * 1024 * 1024

#: The catalogue's title column holds 512 characters; providers sometimes put a description there.
MAX_TITLE = 500

#: Why a result is skipped when its only image is Europeana's "no thumbnail" icon: retrying
#: will not help, so it is not a failure.
PLACEHOLDER_SKIP = "no image: the preview is Europeana's 'no thumbnail' placeholder"


@dataclass(frozen=True)
class PullOptions:
    query: str
    collection: str
    qf: tuple[str, ...] = ()
    #: ``reusability`` classes (``open``, ``open,restricted`` …): sent to the Search API, so
    #: only those results are paged through, and allowed locally. ``None``: ``open``.
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
        return frozenset(parse_reusability(self.reusability))

    def requested_classes(self) -> str:
        """What goes to the API: the allowed classes plus those of the extra licence codes
        (whose class-mates are then dropped locally)."""
        classes = list(parse_reusability(self.reusability))
        classes += [c for c in classes_of_licences(self.allow_licences) if c not in classes]
        return ",".join(c.value for c in classes)


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
    #: The exit code of the error that stopped the run early (``europeana_sync.exit_codes``):
    #: 75 to run again later, 78 when the key or settings are wrong, 2 for a refused query.
    stop_code: int | None = None

    @property
    def exit_code(self) -> int:
        if self.stop_code is not None and not self.complete:
            return self.stop_code
        return EXIT_ITEM_FAILURES if self.state.failed_count else EXIT_OK

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
            "exit_code": self.exit_code,
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
class _Refused:
    """Why a candidate yields no image; ``skip``: nothing to retry (counted as skipped)."""

    reason: str
    skip: bool = False


@dataclass(frozen=True)
class _Accepted:
    """A download that decodes: what ingest gets, with the image decoded once, here."""

    candidate: _Candidate
    kind: str  # edmIsShownBy | edmPreview
    url: str
    data: bytes
    decoded: DecodedImage


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
    """One pull of one query into one collection. Build, then :meth:`run`.

    ``fetcher`` downloads the provider images; by default a safe :class:`ImageFetcher`
    that opens only public addresses (and the API's own host when that is a local fake).
    """

    def __init__(
        self,
        engine: Engine,
        client: SearchApiClient,
        options: PullOptions,
        *,
        observer: ProgressObserver | None = None,
        fetcher: ImageFetcher | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.options = options
        self.observer = observer or SilentProgress()
        self.allowed = options.allowed_classes()
        # Always a licence filter, media=true and thumbnail=true: the API pages only through
        # what the pull can keep, so the daily quota is not spent on results dropped here.
        self.spec = SearchQuery.for_images(
            options.query, options.qf, reusability=options.requested_classes(), rows=options.rows
        )
        self.fetcher = fetcher or ImageFetcher(FetchPolicy.for_api(client.base_url, max_bytes=options.max_image_bytes))

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
        results = self.client.results(self.spec, resume_from=state.search if resumed_from is not None else None)
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
            summary.stop_code = exit_code_for(exc)
        except TruncatedResults as exc:
            summary.stopped = f"the results ended early ({exc}); the API may be re-indexing"
            summary.stop_code = exit_code_for(exc)
        except BadRequest as exc:
            hint = (
                "; the saved cursor may no longer be valid: run with --restart to start from page 1"
                if resumed_from is not None
                else ""
            )
            summary.stopped = f"the Search API refused the query: {exc.message}{hint}"
            summary.stop_code = exit_code_for(exc)
        except ApiError as exc:  # 5xx that outlasted the retries, a refused API key …
            summary.stopped = f"the Search API failed: {exc}"
            summary.stop_code = exit_code_for(exc)
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

    def _fetch(self, url: str) -> bytes | FetchError:
        """One URL's bytes through the safe fetcher, or why there are none (nothing else)."""
        try:
            return self.fetcher.fetch(url).data
        except FetchError as exc:
            return exc

    def _accept(self, candidate: _Candidate) -> _Accepted | _Refused:
        """The first of edmIsShownBy / edmPreview that downloads and decodes; else why not."""
        item = candidate.item
        urls = [("edmIsShownBy", item.edm_is_shown_by), ("edmPreview", item.edm_preview)]
        problems = []
        tried: set[str] = set()
        placeholder = False
        for kind, url in urls:
            if not url or url in tried:
                continue
            tried.add(url)
            data = self._fetch(url)
            if isinstance(data, FetchError):
                placeholder = placeholder or isinstance(data, PlaceholderImage)
                problems.append(f"{kind}: {data.reason}: {data.message}")
                continue
            try:
                decoded = self.engine.ingest.decode(data)
            except ImageDecodeError as exc:
                problems.append(f"{kind}: not an image we can read ({exc.code}: {exc.message})")
                continue
            return _Accepted(candidate, kind, url, data, decoded)
        if placeholder:
            # The only picture Europeana has is its generic icon: never the artwork.
            return _Refused(PLACEHOLDER_SKIP, skip=True)
        return _Refused("download failed: " + "; ".join(problems))

    def _write(self, batch: list[_Candidate], state: PullState, summary: PullSummary) -> None:
        """Fetch and accept a batch, then ingest what was accepted as in-memory records."""
        workers = max(1, min(self.options.workers, len(batch)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="europeana-fetch") as pool:
            results = list(pool.map(self._accept, batch))
        ready: list[_Accepted] = []
        for candidate, result in zip(batch, results):
            if isinstance(result, _Accepted):
                ready.append(result)
            elif result.skip:
                state.skip(result.reason)
                summary.skipped_items.append((candidate.item.id, result.reason))
            else:
                self._fail(state, candidate.item.id, result.reason)
        self.observer.advance(len(batch) - len(ready))
        if not ready:
            return
        records = RecordSource((_record(a) for a in ready), kind="europeana", root=f"europeana:{self.options.query}")
        ingested = self.engine.ingest.ingest(records, self.options.collection)
        record_of = {a.candidate.source_path: a.candidate.item.id for a in ready}
        for error in ingested.failed:
            self._fail(state, record_of[error.source_path], f"ingest: {error.code}: {error.message}")
        state.added += ingested.added
        state.duplicates += ingested.exact_duplicates + ingested.near_duplicates
        state.already_present += ingested.already_done
        self.observer.advance(len(ready))

    def _fail(self, state: PullState, record_id: str, reason: str) -> None:
        state.fail(record_id, reason)
        # A note, not an error: the summary lists every failure again.
        self.observer.message(f"failed: {record_id}: {reason}")


def _record(accepted: _Accepted) -> SourceRecord:
    """The catalogue record of a download: its stable path, title and provenance."""
    candidate, item = accepted.candidate, accepted.candidate.item
    values = {
        provenance.RECORD_ID: item.id,
        provenance.DATA_PROVIDER: item.data_provider or "",
        provenance.PROVIDER: item.provider or "",
        provenance.RIGHTS: item.rights or "",
        provenance.LICENCE: candidate.licence,
        provenance.LANDING_PAGE: item.landing_page or "",
        provenance.IMAGE_URL: accepted.url,
        provenance.IMAGE_KIND: accepted.kind,
    }
    return SourceRecord.from_bytes(
        candidate.source_path,
        accepted.data,
        title=(item.title or "")[:MAX_TITLE].strip() or None,
        extra={key: value.strip() for key, value in values.items() if value.strip()},
        decoded=accepted.decoded,
    )


def pull(
    engine: Engine,
    client: SearchApiClient,
    options: PullOptions,
    *,
    observer: ProgressObserver | None = None,
    fetcher: ImageFetcher | None = None,
) -> PullSummary:
    """Run one pull; see the module docstring."""
    return PullJob(engine, client, options, observer=observer, fetcher=fetcher).run()
