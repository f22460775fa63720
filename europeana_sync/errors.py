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


class CredentialsError(ApiError):
    """The configuration or the credentials are wrong: a key, a secret, a login or a grant.

    Never retried, in the request or by cron: running the same command again gives the same
    answer until a person fixes the configuration. Jobs stop at once on it and exit with
    :data:`~europeana_sync.exit_codes.EXIT_CONFIG` (78), which cron wrappers must not retry,
    unlike the 75 of a rate limit or an outage.
    """


class AuthenticationError(CredentialsError):
    """401 that survived one token refresh / re-login, or a token endpoint that refused us."""


class Forbidden(CredentialsError, PermissionError):
    """403: the credentials are valid but lack the right (e.g. no annotation write role).

    Also a :class:`PermissionError` so generic callers can catch it without importing us.
    It is never retried: asking again with the same token gives the same answer.
    """


class ApiKeyRejected(CredentialsError):
    """The Search/Record API refused the API key (401 or 403): missing, unknown or disabled.

    Raised by :class:`~europeana_sync.search_api.SearchApiClient` instead of the generic
    401/403 classes, because a bad key is the one failure of a pull a curator must fix by
    hand (and a cron job must not retry).
    """


class LoginRefused(AuthenticationError):
    """WITH refused the login (400): unknown email or username, or a wrong password.

    WITH answers every login problem with 400, never 401, so without this class a wrong
    password would look like a refused *annotation* to the push job.
    """


class MissingScope(Forbidden):
    """The bearer token lacks the scope the Annotations API checks (``annotations``).

    ``granted`` is the scope string the token endpoint granted, so the message can say what
    to ask Europeana for instead of quoting a bare 403.
    """

    def __init__(self, message: str, *, required: str, granted: str | None, url: str = "", body: str = "") -> None:
        self.required = required
        self.granted = granted
        super().__init__(403, message, url=url, body=body)


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


class MalformedResponse(RetriesExhausted):
    """A success status whose body is not the JSON the API documents (an HTML maintenance
    page, a captive portal, a truncated body, or a wrong ``--api-url``).

    Reads are retried like a 5xx first (a maintenance page passes); writes are not, because
    the server may have acted on them (the next run's duplicate refusal settles it).
    ``content_type`` is what the server claimed to send.
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
        content_type: str | None = None,
    ) -> None:
        self.content_type = content_type
        super().__init__(status, message, url=url, body=body, attempts=attempts, elapsed=elapsed)


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


class FetchError(EuropeanaSyncError):
    """A provider's image could not be fetched safely (see :mod:`europeana_sync.fetch`).

    ``reason`` is a short, stable code for summaries and counters (``too_large``,
    ``private_address`` …); the message says the details. ``url`` is the URL asked for,
    ``final_url`` the one that failed (after redirects).
    """

    reason = "fetch_failed"

    def __init__(self, message: str, *, url: str = "", final_url: str | None = None, status: int | None = None) -> None:
        self.message = message
        self.url = url
        self.final_url = final_url or url
        self.status = status
        where = f" ({self.final_url})" if self.final_url else ""
        super().__init__(f"{message}{where}")


class UnsafeUrl(FetchError):
    """Not an http(s) URL with a host (``file:``, ``ftp:``, ``data:`` …), or one with a
    user name and password in it."""

    reason = "unsafe_url"


class PrivateAddress(FetchError):
    """The host resolves to a private, loopback, link-local, multicast or reserved address.

    Checked after DNS resolution and again on every redirect, so neither a provider's DNS
    nor a redirect can point the job at the machine's own services or the cloud metadata
    endpoint.
    """

    reason = "private_address"


class TooLarge(FetchError):
    """The file is larger than the cap: announced by Content-Length (nothing is read) or
    found while reading (reading stops at the cap)."""

    reason = "too_large"


class NotAnImage(FetchError):
    """The server says (Content-Type) or the first bytes show that this is not an image
    (an HTML landing page, a PDF, an error text)."""

    reason = "not_an_image"


class DeadlineExceeded(FetchError):
    """The whole fetch (redirects, retries, a slow-drip body) took longer than its deadline."""

    reason = "deadline"


class RedirectLoop(FetchError):
    """Redirects came back to a URL already visited, or there were too many of them."""

    reason = "redirect_loop"


class ProviderUnavailable(FetchError):
    """Connection errors or 5xx outlasted the small retry budget of provider hosts, or the
    host already failed so often in this run that it is not tried again."""

    reason = "provider_unavailable"


class ProviderRefused(FetchError):
    """The provider answered a 4xx (404 gone, 403 hot-link protection …): not retried."""

    reason = "http_status"


class PlaceholderImage(FetchError):
    """The bytes are a known placeholder (Europeana's "no thumbnail" icon), not the artwork.

    ``placeholder`` names which one (see :mod:`europeana_sync.placeholders`).
    """

    reason = "placeholder"

    def __init__(self, message: str, *, placeholder: str, url: str = "", final_url: str | None = None) -> None:
        self.placeholder = placeholder
        super().__init__(message, url=url, final_url=final_url, status=200)
