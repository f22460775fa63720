"""A curator's dry run against the real services: are the keys and accounts right?

Before the first nightly run (and after changing a key or a password) a curator wants to
know that each credential works, without pulling a collection or publishing anything. The
dry run makes the fewest requests that prove it:

1. **Search API** — one search of one row with the filters a pull sends
   (:meth:`SearchQuery.for_images`): the API key is accepted, the query is valid;
2. **Record API** — the full record of that result (or of ``record_id``);
3. **image** — that record's image through the safe fetcher, as the pull would get it
   (a placeholder icon or an HTML page instead of the image is reported);
4. **OIDC token** — a token from the token endpoint (client and user accepted), and whether
   it carries the ``annotations`` scope writes need, and who the API will name as creator;
5. **WITH** — a login (email or username) and ``GET /user/me``.

Nothing is written: no annotation is created or deleted, on either service. Steps whose
settings are absent are *skipped* and say which setting is missing. The report's
:attr:`DryRunReport.exit_code` follows :mod:`europeana_sync.exit_codes`: 0 when every step
that ran passed, 78 when a credential or setting is wrong, 75 when a service was
unavailable (try later), 1 for anything else (e.g. the record has no usable image).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    ApiError,
    CredentialsError,
    EuropeanaSyncError,
    MissingScope,
    RetriesExhausted,
    TruncatedResults,
)
from .exit_codes import EXIT_CONFIG, EXIT_ITEM_FAILURES, EXIT_OK, EXIT_TEMPFAIL, exit_code_for
from .fetch import FetchPolicy, ImageFetcher
from .http import RetryingSession
from .oidc import DEFAULT_SCOPE, EUROPEANA_TOKEN_URL, OidcTokenProvider
from .search_api import DEFAULT_BASE_URL, SearchApiClient, SearchQuery
from .with_api import WithClient

log = logging.getLogger(__name__)

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class DryRunSettings:
    """What the sync commands are configured with (flags or environment variables)."""

    api_key: str | None = None
    api_url: str = DEFAULT_BASE_URL
    api_version: str = "v2"
    #: The search to try (the one the nightly pull runs is the best choice).
    query: str = "*"
    qf: tuple[str, ...] = ()
    reusability: str | None = None
    #: Check this record instead of the search's first result.
    record_id: str | None = None
    fetch_image: bool = True
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    scope: str | None = DEFAULT_SCOPE
    with_url: str | None = None
    with_username: str | None = None
    with_password: str | None = None


@dataclass(frozen=True)
class Check:
    """One step of the dry run and what it found."""

    name: str
    status: str  # passed | failed | skipped
    detail: str
    error: BaseException | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "status": self.status, "detail": self.detail}
        if self.error is not None:
            out["error"] = type(self.error).__name__
        return out


@dataclass
class DryRunReport:
    checks: list[Check] = field(default_factory=list)
    record_id: str | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAILED]

    @property
    def exit_code(self) -> int:
        codes = {self._code(c.error) for c in self.failed}
        for code in (EXIT_CONFIG, EXIT_TEMPFAIL):
            if code in codes:
                return code
        return max(codes) if codes else EXIT_OK

    @staticmethod
    def _code(error: BaseException | None) -> int:
        if isinstance(error, (ApiError, TruncatedResults)):
            return exit_code_for(error)
        return EXIT_ITEM_FAILURES

    def to_dict(self) -> dict[str, Any]:
        return {
            "checks": [c.to_dict() for c in self.checks],
            "record_id": self.record_id,
            "exit_code": self.exit_code,
        }

    def lines(self) -> list[str]:
        marks = {PASSED: "ok  ", FAILED: "FAIL", SKIPPED: "skip"}
        out = [f"  {marks[c.status]}  {c.name}: {c.detail}" for c in self.checks]
        verdict = {
            EXIT_OK: "dry run: everything that was configured works; nothing was written",
            EXIT_CONFIG: "dry run: a credential or setting is wrong (fix it; cron would not help)",
            EXIT_TEMPFAIL: "dry run: a service was unavailable; try again later",
        }.get(self.exit_code, "dry run: some checks failed (see above); nothing was written")
        return [verdict, *out]


def dry_run(
    settings: DryRunSettings,
    *,
    http: RetryingSession | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> DryRunReport:
    """Run the checks of the module docstring; never raises for a service's answer.

    ``fetch_policy`` defaults to :meth:`FetchPolicy.for_api` of ``settings.api_url`` (so a
    dry run against the local fake may fetch the fake's media, and nothing else local).
    """
    report = DryRunReport()
    base = http or RetryingSession()
    record_id = _europeana_checks(settings, base, fetch_policy, report)
    report.record_id = record_id
    _token_checks(settings, base, report)
    _with_checks(settings, base, report)
    return report


def _attempt(report: DryRunReport, name: str, step: Callable[[], str]) -> bool:
    try:
        detail = step()
    except (EuropeanaSyncError, ValueError) as exc:
        reason = getattr(exc, "reason", None)  # a fetch error's short code
        report.checks.append(Check(name, FAILED, f"{reason}: {_describe(exc)}" if reason else _describe(exc), exc))
        return False
    report.checks.append(Check(name, PASSED, detail))
    return True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RetriesExhausted) and not isinstance(exc, CredentialsError):
        return f"{exc} (temporary: try again later)"
    return str(exc)


def _europeana_checks(
    settings: DryRunSettings, http: RetryingSession, fetch_policy: FetchPolicy | None, report: DryRunReport
) -> str | None:
    if not settings.api_key:
        report.checks.append(
            Check("Search API", SKIPPED, "no API key (EUROPEANA_API_KEY); a key is free at https://pro.europeana.eu")
        )
        return None
    client = SearchApiClient(settings.api_key, base_url=settings.api_url, http=http, api_version=settings.api_version)
    found: dict[str, Any] = {}

    def search() -> str:
        spec = SearchQuery.for_images(settings.query, settings.qf, reusability=settings.reusability, rows=1)
        page = client.search_page(spec)
        found["item"] = page.items[0] if page.items else None
        filters = ", ".join(f"{k}={v}" for k, v in spec.params("*") if k in ("reusability", "media", "thumbnail"))
        first = f"; first: {page.items[0].id}" if page.items else ""
        return f"API key accepted; {page.total_results} results for {settings.query!r} ({filters}){first}"

    if not _attempt(report, "Search API", search):
        return None
    item = found.get("item")
    record_id = settings.record_id or (item.id if item else None)
    if record_id is None:
        report.checks.append(Check("Record API", SKIPPED, "the search found nothing to fetch; try another query"))
        return None
    record_holder: dict[str, Any] = {}

    def record() -> str:
        fetched = client.record(record_id)
        record_holder["record"] = fetched
        return (
            f"{fetched.id}: {fetched.title() or 'untitled'!r}, rights {fetched.rights or 'none'}, "
            f"image {fetched.image_url or 'none'}"
        )

    if not _attempt(report, f"Record API ({settings.api_version})", record):
        return record_id
    fetched_record = record_holder["record"]
    if not settings.fetch_image:
        return record_id
    image_url = fetched_record.edm_is_shown_by or fetched_record.edm_preview
    if not image_url:
        report.checks.append(Check("image", SKIPPED, "the record has neither edmIsShownBy nor edmPreview"))
        return record_id
    fetcher = ImageFetcher(fetch_policy or FetchPolicy.for_api(settings.api_url))
    kind = "edmIsShownBy" if image_url == fetched_record.edm_is_shown_by else "edmPreview"

    def image() -> str:
        got = fetcher.fetch(image_url)
        return f"{len(got.data)} bytes of {got.content_type or 'image'} from {got.final_url}"

    _attempt(report, f"image ({kind})", image)
    return record_id


def _token_checks(settings: DryRunSettings, http: RetryingSession, report: DryRunReport) -> None:
    if not settings.client_id:
        report.checks.append(
            Check("OIDC token", SKIPPED, "no OIDC client (EUROPEANA_CLIENT_ID): pushing to Europeana is not configured")
        )
        return
    tokens = OidcTokenProvider(
        settings.token_url or EUROPEANA_TOKEN_URL,
        settings.client_id,
        settings.client_secret,
        username=settings.username,
        password=settings.password,
        scope=settings.scope,
        http=http,
    )

    def token() -> str:
        tokens.current()
        who = tokens.subject()
        grant = "password" if settings.username else "client_credentials"
        return f"{grant} grant accepted" + (f"; annotations will be created by user {who}" if who else "")

    if not _attempt(report, "OIDC token", token):
        return
    granted = sorted(tokens.granted_scopes())
    if tokens.has_scope(DEFAULT_SCOPE):
        report.checks.append(Check("annotations scope", PASSED, f"granted ({' '.join(granted)})"))
        return
    problem = MissingScope(
        f"the token has no '{DEFAULT_SCOPE}' scope (granted: {' '.join(granted) or 'none'}): the Annotations API "
        f"would refuse every write with 403; ask Europeana to give client {settings.client_id!r} the "
        f"'{DEFAULT_SCOPE}' client scope" + ("" if settings.scope else ", and do not clear --scope"),
        required=DEFAULT_SCOPE,
        granted=" ".join(granted),
    )
    report.checks.append(Check("annotations scope", FAILED, str(problem.message), problem))


def _with_checks(settings: DryRunSettings, http: RetryingSession, report: DryRunReport) -> None:
    if not (settings.with_url and settings.with_username):
        report.checks.append(
            Check("WITH login", SKIPPED, "no WITH_API_URL / WITH_USERNAME: pushing to WITH is not configured")
        )
        return
    client = WithClient(
        settings.with_url, username=settings.with_username, password=settings.with_password or "", http=http
    )

    def login() -> str:
        user = client.login()
        alive = client.session_alive()
        return f"logged in as {user.username or user.email or settings.with_username} (id {user.id})" + (
            "" if alive else "; but GET /user/me does not see the session"
        )

    _attempt(report, "WITH login", login)
