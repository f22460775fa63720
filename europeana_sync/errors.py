"""Exceptions raised by the Europeana and WITH clients.

Jobs decide what to do per failure *kind* (skip the item, record "already present", stop and
resume tomorrow), so every failure the clients can report has its own class here instead of a
bare ``requests.HTTPError`` whose meaning the caller would have to re-derive from a status code.
"""

from __future__ import annotations

from collections.abc import Sequence


class EuropeanaSyncError(Exception):
    """Base class of everything this package raises on purpose."""


class ApiError(EuropeanaSyncError):
    """The service answered with an error status that is not retried.

    ``message`` is the service's own wording (the ``message`` or ``error`` field of its JSON
    error body) so a curator's report quotes what the API said, not our paraphrase.
    """

    def __init__(self, status: int | None, message: str, *, url: str = "", body: str = "") -> None:
        self.status = status
        self.message = message
        self.url = url
        self.body = body
        where = f" ({url})" if url else ""
        super().__init__(f"HTTP {status}: {message}{where}" if status else f"{message}{where}")


class BadRequest(ApiError):
    """400: the request was refused as invalid; sending it again cannot help."""


class NotFound(ApiError):
    """404: the record or annotation does not exist."""


class Gone(ApiError):
    """410: the resource existed and was deleted (Annotations API soft delete)."""


class AuthenticationError(ApiError):
    """401 that survived one token refresh / re-login, or a token endpoint that refused us."""


class Forbidden(ApiError, PermissionError):
    """403: the credentials are valid but lack the right (e.g. no annotation write role).

    Also a :class:`PermissionError` so generic callers can catch it without importing us.
    It is never retried: asking again with the same token gives the same answer.
    """


class RetriesExhausted(ApiError):
    """Gave up after the bounded number of attempts or the total time budget.

    ``status`` is the last HTTP status seen, or ``None`` when the last failure was a
    connection error or timeout.
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        url: str = "",
        body: str = "",
        attempts: int = 0,
        elapsed: float = 0.0,
    ) -> None:
        self.attempts = attempts
        self.elapsed = elapsed
        super().__init__(status, message, url=url, body=body)


class RateLimited(RetriesExhausted):
    """429 answers kept coming (or the announced reset lies beyond our time budget).

    ``reset_after`` is the service's own estimate in seconds, so a nightly job can checkpoint
    and report "quota exhausted, resets in N s" instead of a generic failure.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        body: str = "",
        attempts: int = 0,
        elapsed: float = 0.0,
        reset_after: float | None = None,
    ) -> None:
        self.reset_after = reset_after
        super().__init__(429, message, url=url, body=body, attempts=attempts, elapsed=elapsed)


class DuplicateAnnotation(BadRequest):
    """The Annotations API refused a tag that already exists (by us or anyone else).

    ``existing_ids`` are full annotation URIs (``http://data.europeana.eu/annotation/<n>``).
    The push job records them as "already present", which is what makes re-runs idempotent.
    """

    def __init__(self, existing_ids: Sequence[str], message: str, *, url: str = "", body: str = "") -> None:
        self.existing_ids = tuple(existing_ids)
        super().__init__(400, message, url=url, body=body)


class AnnotationValidationError(ValueError, EuropeanaSyncError):
    """An annotation we were asked to send would be refused; caught before any request."""


class TruncatedResults(EuropeanaSyncError):
    """A search result set ended (no ``nextCursor``) before ``totalResults`` items arrived.

    Raised only after re-asking for the last page did not bring the cursor back, so that a
    pull never silently stops half-way. ``cursor``/``offset`` say where to resume.
    """

    def __init__(self, received: int, total: int, cursor: str) -> None:
        self.received = received
        self.total = total
        self.cursor = cursor
        super().__init__(f"search results ended after {received} of {total} items (page cursor {cursor!r})")
