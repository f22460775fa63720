"""Client of the Europeana Search and Record APIs (``/record/v2/...`` and ``/record/v3/...``).

Both API generations are spoken: ``api_version="v2"`` (the default) or ``"v3"``. Search v3
(``/record/v3/search.json``, api2's ``SearchController.searchJsonGetV3``) takes the same
parameters and answers the same JSON as v2; Record v3 (``/record/v3/<dataset>/<local>.json``,
europeana/record-api's ``RecordController``) answers EDM as JSON-LD, parsed by
:meth:`EuropeanaRecord.from_jsonld`. Either way the jobs see the same dataclasses.

Search pages with the cursor protocol (``cursor=*``, then each page's ``nextCursor``, which
is absent on the last page) because offset paging (``start``) is capped at 1000 results.
:class:`SearchResults` exposes the cursor of the page being processed and how many of its
items were handed out, so a pull job can checkpoint after each item and resume after a crash
without re-reading everything. A page that ends early (no ``nextCursor`` while fewer than
``totalResults`` items arrived) is asked for again; if the cursor does not come back the
iteration raises :class:`TruncatedResults` instead of stopping quietly half-way.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .edm import EuropeanaItem, EuropeanaRecord
from .errors import ApiKeyRejected, AuthenticationError, Forbidden, MalformedResponse, TruncatedResults
from .http import RetryingSession
from .record_ids import normalize_record_id
from .rights import reusability_filter

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.europeana.eu"
MAX_ROWS = 100
FIRST_CURSOR = "*"
API_VERSIONS = ("v2", "v3")


@dataclass(frozen=True)
class SearchQuery:
    """The parameters that define a result set; its fingerprint guards resumes."""

    query: str
    qf: tuple[str, ...] = ()
    rows: int = MAX_ROWS
    reusability: str | None = None
    media: bool | None = None
    profile: str = "standard"
    #: ``thumbnail=true``: only records Europeana holds a thumbnail for, so an
    #: ``edmPreview`` fallback is a real preview rather than the Thumbnail API's icon.
    thumbnail: bool | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.rows <= MAX_ROWS:
            raise ValueError(f"rows must be between 1 and {MAX_ROWS}, got {self.rows}")
        if not self.query.strip():
            raise ValueError("query must not be empty (use '*' for everything)")

    def params(self, cursor: str) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = [
            ("query", self.query),
            ("rows", str(self.rows)),
            ("cursor", cursor),
            ("profile", self.profile),
        ]
        params += [("qf", f) for f in self.qf]
        if self.reusability:
            params.append(("reusability", self.reusability))
        if self.media is not None:
            params.append(("media", "true" if self.media else "false"))
        if self.thumbnail is not None:
            params.append(("thumbnail", "true" if self.thumbnail else "false"))
        return params

    @property
    def fingerprint(self) -> str:
        """Rows are part of it: a cursor plus a skip count only make sense with the same page size.

        ``thumbnail`` joins only when set, so checkpoints saved before it existed still match.
        """
        fields: list[object] = [self.query, sorted(self.qf), self.rows, self.reusability, self.media]
        if self.thumbnail is not None:
            fields.append(self.thumbnail)
        blob = json.dumps(fields)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def for_images(
        cls,
        query: str,
        qf: Sequence[str] = (),
        *,
        reusability: str | None = None,
        rows: int = MAX_ROWS,
        media: bool | None = True,
        thumbnail: bool | None = True,
    ) -> SearchQuery:
        """What a pull for images sends: always a licence filter (``open`` unless the curator
        named classes), ``media=true`` and ``thumbnail=true``, and ``TYPE:IMAGE`` unless the
        curator filtered by type already.

        The API then pages only through records the job can keep — not the in-copyright
        rest, whose quota Europeana is reducing — and every ``edmPreview`` it hands out has
        a real thumbnail behind it. ``media=None`` / ``thumbnail=None`` leave a filter out
        (e.g. to keep records that have only a preview).
        """
        filters = tuple(qf)
        if not any(f.strip().upper().startswith("TYPE:") for f in filters):
            filters += ("TYPE:IMAGE",)
        return cls(
            query=query,
            qf=filters,
            rows=rows,
            reusability=reusability_filter(reusability),
            media=media,
            thumbnail=thumbnail,
        )


@dataclass(frozen=True)
class SearchCheckpoint:
    """Where to resume: re-request the page at ``cursor`` and skip its first ``skip`` items.

    ``offset`` is how many items came before that page (needed to notice an early end after
    a resume). Plain JSON via :meth:`to_json` / :meth:`from_json` for a job's state file.
    """

    cursor: str
    skip: int
    offset: int
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "skip": self.skip, "offset": self.offset, "fingerprint": self.fingerprint}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchCheckpoint:
        return cls(
            cursor=str(data["cursor"]),
            skip=int(data["skip"]),
            offset=int(data["offset"]),
            fingerprint=str(data["fingerprint"]),
        )


@dataclass(frozen=True)
class SearchPage:
    cursor: str
    next_cursor: str | None
    total_results: int | None
    items: tuple[EuropeanaItem, ...]
    #: items in the response, including malformed ones skipped from ``items``: positions
    #: and the early-end check count what the server sent, not what we could parse.
    received: int = 0


class SearchResults(Iterator[EuropeanaItem]):
    """Items of a search, page after page, with the position a job needs to checkpoint.

    After ``next()`` returned an item, ``cursor`` is the cursor that fetched that item's page
    and ``index_in_page`` its index there; :meth:`checkpoint` says "resume after this item".
    """

    def __init__(
        self,
        client: SearchApiClient,
        query: SearchQuery,
        *,
        resume_from: SearchCheckpoint | None = None,
        max_refetch: int = 2,
        allow_truncated: bool = False,
    ) -> None:
        if resume_from is not None and resume_from.fingerprint != query.fingerprint:
            raise ValueError(
                "checkpoint belongs to a different query (query, qf, rows, "
                "reusability or media changed); start from the beginning"
            )
        self._client = client
        self.query = query
        self.max_refetch = max_refetch
        self.allow_truncated = allow_truncated
        self.cursor: str = resume_from.cursor if resume_from else FIRST_CURSOR
        self.next_cursor: str | None = None
        self.offset: int = resume_from.offset if resume_from else 0  # items before this page
        # index of the last item handed out from the current page (resume: skip - 1)
        self.index_in_page: int = (resume_from.skip if resume_from else 0) - 1
        self.total_results: int | None = None
        self.pages_fetched = 0
        self.truncated = False
        self._page: tuple[EuropeanaItem, ...] | None = None
        self._received_in_page = 0
        self._done = False

    def __iter__(self) -> SearchResults:
        return self

    def __next__(self) -> EuropeanaItem:
        while True:
            if self._done:
                raise StopIteration
            if self._page is None:
                self._load(self.cursor)
            assert self._page is not None
            if self.index_in_page + 1 < len(self._page):
                self.index_in_page += 1
                return self._page[self.index_in_page]
            self._advance()

    def checkpoint(self) -> SearchCheckpoint:
        """Resume point *after* the last item handed out."""
        return SearchCheckpoint(
            cursor=self.cursor, skip=self.index_in_page + 1, offset=self.offset, fingerprint=self.query.fingerprint
        )

    @property
    def items_seen(self) -> int:
        """Items before the current page plus those handed out from it (absolute position)."""
        return self.offset + self.index_in_page + 1

    def _load(self, cursor: str) -> SearchPage:
        page = self._client.search_page(self.query, cursor)
        self.pages_fetched += 1
        self._page = page.items
        self._received_in_page = page.received
        self.next_cursor = page.next_cursor
        if page.total_results is not None:
            self.total_results = page.total_results
        return page

    def _advance(self) -> None:
        """The current page is used up: move to the next one, or finish.

        ``totalResults`` is re-read on every page, so records added or removed during a long
        pull move the goal post with them; an item added *behind* the cursor can still make a
        complete pull look short, which is why ``allow_truncated`` exists.
        """
        received = self.offset + self._received_in_page
        short = self.total_results is not None and received < self.total_results
        if self._received_in_page == 0:
            if short:  # an empty page before the end: asking again cannot help
                self._truncated(received)
            self._done = True
            return
        if not self.next_cursor and short:
            for attempt in range(1, self.max_refetch + 1):
                log.warning(
                    "search page at cursor %r ended without nextCursor after %d of %d items; asking again (%d/%d)",
                    self.cursor,
                    received,
                    self.total_results,
                    attempt,
                    self.max_refetch,
                )
                page = self._client.search_page(self.query, self.cursor)
                self.pages_fetched += 1
                if page.next_cursor:
                    self.next_cursor = page.next_cursor
                    break
            if not self.next_cursor:
                self._truncated(received)
        if not self.next_cursor:
            self._done = True
            return
        self.offset = received
        self.cursor = self.next_cursor
        self.index_in_page = -1  # a checkpoint taken if the next load fails skips nothing
        self._page = None

    def _truncated(self, received: int) -> None:
        assert self.total_results is not None
        if not self.allow_truncated:
            raise TruncatedResults(received, self.total_results, self.cursor)
        log.warning("search results truncated at %d of %d items", received, self.total_results)
        self.truncated = True


class SearchApiClient:
    """Search (``search.json``) and Record (``<dataset>/<local>.json``) in one client.

    The key goes in the ``X-Api-Key`` header, never in the URL, so it stays out of logs.
    A 401 or 403 is :class:`~europeana_sync.errors.ApiKeyRejected` (a credentials error,
    exit 78), never something to retry.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: RetryingSession | None = None,
        api_version: str = "v2",
    ) -> None:
        if not api_key:
            raise ValueError("an API key is required (https://pro.europeana.eu/pages/get-api)")
        if api_version not in API_VERSIONS:
            raise ValueError(f"api_version must be one of {', '.join(API_VERSIONS)}, got {api_version!r}")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self._media_http = http or RetryingSession()
        self.http = self._media_http.with_headers({"X-Api-Key": api_key, "Accept": "application/json"})

    def _get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and decode, with the key problems named as such."""
        try:
            return self.http.get_json(url, **kwargs)
        except (AuthenticationError, Forbidden) as exc:
            raise ApiKeyRejected(
                exc.status,
                f"the Europeana API refused the API key ({exc.message}); check EUROPEANA_API_KEY "
                "(a key is free at https://pro.europeana.eu/pages/get-api)",
                url=exc.url,
                body=exc.body,
            ) from exc

    def search(
        self,
        query: str,
        qf: Sequence[str] = (),
        *,
        rows: int = MAX_ROWS,
        reusability: str | None = None,
        media: bool | None = None,
        resume_from: SearchCheckpoint | None = None,
        allow_truncated: bool = False,
        thumbnail: bool | None = None,
    ) -> SearchResults:
        """Iterate all items matching ``query`` and the ``qf`` filters, to the last page."""
        spec = SearchQuery(
            query=query, qf=tuple(qf), rows=rows, reusability=reusability, media=media, thumbnail=thumbnail
        )
        return self.results(spec, resume_from=resume_from, allow_truncated=allow_truncated)

    def results(
        self, spec: SearchQuery, *, resume_from: SearchCheckpoint | None = None, allow_truncated: bool = False
    ) -> SearchResults:
        """Iterate the items of a prepared query (e.g. :meth:`SearchQuery.for_images`)."""
        return SearchResults(self, spec, resume_from=resume_from, allow_truncated=allow_truncated)

    def search_page(self, query: SearchQuery, cursor: str = FIRST_CURSOR) -> SearchPage:
        payload = self._get_json(f"{self.base_url}/record/{self.api_version}/search.json", params=query.params(cursor))
        if not isinstance(payload, dict):
            raise MalformedResponse(
                200,
                f"search answered JSON that is not an object: {str(payload)[:120]!r}",
                url=f"{self.base_url}/record/{self.api_version}/search.json",
            )
        raw_items = payload.get("items") or []
        items = []
        for raw in raw_items:
            try:
                items.append(EuropeanaItem.from_json(raw))
            except ValueError as exc:  # one malformed item must not sink the page
                log.warning("skipping malformed search item: %s", exc)
        total = payload.get("totalResults")
        next_cursor = payload.get("nextCursor") or None
        return SearchPage(
            cursor=cursor,
            next_cursor=next_cursor,
            total_results=int(total) if isinstance(total, (int, float)) else None,
            items=tuple(items),
            received=len(raw_items),
        )

    def record(self, record_id: str) -> EuropeanaRecord:
        """The full record; ``record_id`` may be any spelling :func:`normalize_record_id` accepts.

        v2 answers ``{"object": {...}}`` in Europeana's own JSON; v3 answers the EDM
        ``ProvidedCHO`` as JSON-LD (asked for with ``Accept: application/ld+json``, which
        record-api's ``RecordController`` requires).
        """
        rid = normalize_record_id(record_id)
        if self.api_version == "v3":
            payload = self._get_json(
                f"{self.base_url}/record/v3{rid}.json", headers={"Accept": "application/ld+json, application/json"}
            )
            return EuropeanaRecord.from_jsonld(payload)
        payload = self._get_json(f"{self.base_url}/record/v2{rid}.json")
        return EuropeanaRecord.from_json(payload)

    def download(self, url: str) -> bytes:
        """Fetch a media file (edmIsShownBy / edmPreview) with the same retry rules.

        Sent without the key header: media live on provider servers that must not see it.
        Kept for callers that fetch from trusted hosts; provider images should go through
        :class:`europeana_sync.fetch.ImageFetcher` (address vetting, size cap, Content-Type,
        one deadline, a retry budget of their own, placeholder detection).
        """
        return self._media_http.request("GET", url).content
