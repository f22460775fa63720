"""The one retrying HTTP layer every Europeana/WITH client sends through.

Why one layer: the nightly job talks to three services that fail in the same ways (5xx
during deployments, connection resets, a personal rate limit that answers 429, tokens that
expire mid-run). Handling that once, with bounded attempts and a total time budget, means a
client method is a single call and a job never hangs or hammers a service.

Rules, in the order they are applied to each response:

* the authenticator says "rejected" (401 for bearer tokens, WITH's 400 "User not logged in")
  → refresh once and resend once; a second rejection is :class:`AuthenticationError`;
* 429 → wait what the ``RateLimit: "personal";r=<remaining>;t=<seconds>`` header (or
  ``Retry-After``) says; full-jitter backoff if neither. A reset announced beyond what we
  accept (``max_rate_limit_wait``, or the rest of the time budget) is :class:`RateLimited`
  at once: waiting part of it only buys another 429;
* 5xx, connection errors, timeouts → exponential backoff with full jitter;
* 403 → :class:`Forbidden` at once; any other 4xx → a typed :class:`ApiError`, never retried;
* a 2xx whose body should be JSON and is not (:meth:`RetryingSession.request_json`) →
  retried like a 5xx for reads, :class:`MalformedResponse` at once for writes.

Retrying a POST after a timeout is safe for our two write endpoints: the Annotations API
refuses the second identical tag with the first one's id, and WITH returns the existing
annotation, so a retry can never create a duplicate.

``sleep``, ``clock`` and ``rng`` are injectable so tests run in milliseconds and can assert
exactly how long the client *would* have waited.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from .errors import (
    AuthenticationError,
    MalformedResponse,
    RateLimited,
    RetriesExhausted,
)
from .response_errors import error_for_response, error_message, redact, snippet
from .response_headers import RateLimitInfo, parse_ratelimit, parse_retry_after

log = logging.getLogger(__name__)

USER_AGENT = "artsnap-europeana-sync/0.1 (+https://github.com/artsnap)"

#: Methods that may be sent again after a success whose body was unreadable: the server's
#: state did not change, or changing it twice is harmless.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

#: Network failures worth another try. ``ChunkedEncodingError`` is a connection dropped
#: mid-body, which is the same event as a reset seen a moment later.
RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit a nightly batch job; tests shrink them."""

    #: Tries in total for one request when the failures are 5xx / network errors.
    max_attempts: int = 5
    #: 429 answers tolerated for one request before :class:`RateLimited`.
    max_rate_limited: int = 10
    #: Backoff before retry n (1-based) is uniform(0, min(max_delay, base_delay * 2**(n-1))).
    base_delay: float = 0.5
    max_delay: float = 30.0
    #: Wall-clock budget for one request including all waits; a wait that would cross it
    #: is not started (we fail now rather than sleep and fail anyway).
    max_total_seconds: float = 300.0
    #: Longest single wait we accept from a RateLimit / Retry-After header; a longer
    #: announced reset (Europeana's hourly quota) stops the request at once.
    max_rate_limit_wait: float = 120.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter (AWS architecture blog): spreads retries of many clients apart."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(retry_number - 1, 0)))
        return rng.uniform(0.0, ceiling)


class Authenticator(Protocol):
    """What the HTTP layer needs from a credential holder (OIDC tokens, a WITH session)."""

    def auth_headers(self) -> Mapping[str, str]:
        """Headers to add to a request; may fetch a token or log in first."""

    def is_rejection(self, response: requests.Response) -> bool:
        """Whether ``response`` means "your credentials are stale, renew and resend"."""

    def refresh(self) -> None:
        """Renew the credentials (refresh token, new token, new login)."""


class RetryingSession:
    """A ``requests.Session`` plus the retry rules described in the module docstring.

    ``default_headers`` go on every request (e.g. ``X-Api-Key``). ``last_rate_limit``
    keeps the most recent RateLimit header seen, so a job can report its remaining quota.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        session: requests.Session | None = None,
        default_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.default_headers = dict(default_headers or {})
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.last_rate_limit: RateLimitInfo | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RetryingSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def with_headers(self, headers: Mapping[str, str]) -> RetryingSession:
        """A sibling sharing connection pool, policy, sleep and clock, with more default headers.

        Lets the Search and Annotations clients share one pool while each adds its own key.
        """
        return RetryingSession(
            self.policy,
            session=self.session,
            default_headers={**self.default_headers, **headers},
            sleep=self.sleep,
            clock=self.clock,
            rng=self.rng,
        )

    # -- the request loop -------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticator: Authenticator | None = None,
        timeout: tuple[float, float] | None = None,
        no_retry_statuses: frozenset[int] = frozenset(),
    ) -> requests.Response:
        """Send one logical request; returns a 2xx/3xx response or raises a typed error.

        ``no_retry_statuses``: 5xx statuses that are answers rather than outages for this
        request (WITH's delete answers 500 for a session that expired): raised at once as
        :class:`ApiError` instead of being retried.
        """
        return self._send(
            method,
            url,
            params=params,
            json=json,
            data=data,
            headers=headers,
            authenticator=authenticator,
            timeout=timeout,
            no_retry_statuses=no_retry_statuses,
            want_json=False,
        )[0]

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """:meth:`request` and the decoded JSON body.

        A success whose body is not JSON (an HTML maintenance page with status 200, a body
        cut short) is retried like a 5xx when ``method`` is idempotent, and otherwise — or
        once the retries are spent — raised as :class:`MalformedResponse` naming the
        Content-Type and the start of the body, instead of a ``JSONDecodeError`` traceback.
        """
        return self._send(method, url, want_json=True, **kwargs)[1]

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticator: Authenticator | None = None,
        timeout: tuple[float, float] | None = None,
        no_retry_statuses: frozenset[int] = frozenset(),
        want_json: bool,
    ) -> tuple[requests.Response, Any]:
        policy = self.policy
        start = self.clock()
        failures = 0  # 5xx + network errors
        rate_limited = 0
        refreshed = False
        last_body = ""
        safe_url = redact(url)

        while True:
            send_headers = {**self.default_headers, **(headers or {})}
            if authenticator is not None:
                send_headers.update(authenticator.auth_headers())
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=send_headers,
                    timeout=timeout or (policy.connect_timeout, policy.read_timeout),
                )
            except RETRYABLE_EXCEPTIONS as exc:
                failures += 1
                last_body = repr(exc)
                reason = f"{type(exc).__name__}: {exc}"
                if failures >= policy.max_attempts:
                    raise RetriesExhausted(
                        None,
                        f"gave up after {failures} attempts; last error {reason}",
                        url=safe_url,
                        attempts=failures,
                        elapsed=self.clock() - start,
                    ) from exc
                self._wait(policy.backoff(failures, self.rng), start, reason, safe_url, failures, None, last_body)
                continue

            self._note_rate_limit(response)

            if authenticator is not None and authenticator.is_rejection(response):
                if refreshed:
                    raise AuthenticationError(
                        response.status_code,
                        f"credentials rejected again after one refresh: {error_message(response)}",
                        url=safe_url,
                        body=response.text[:2000],
                    )
                refreshed = True
                log.info(
                    "%s %s: credentials rejected (HTTP %s); refreshing once", method, safe_url, response.status_code
                )
                authenticator.refresh()
                continue

            status = response.status_code
            if status == 429:
                rate_limited += 1
                last_body = response.text[:2000]
                header_wait = self._announced_wait(response)
                elapsed = self.clock() - start
                if header_wait is not None and (
                    header_wait > policy.max_rate_limit_wait or elapsed + header_wait > policy.max_total_seconds
                ):
                    # The quota resets later than we are prepared to wait: waiting part of it
                    # only buys another 429, so stop now and let the job say when to retry.
                    raise RateLimited(
                        f"rate limited; the service announced a reset in {header_wait:.0f} s, beyond the "
                        f"{min(policy.max_rate_limit_wait, max(0.0, policy.max_total_seconds - elapsed)):.0f} s "
                        "this request may still wait",
                        url=safe_url,
                        body=last_body,
                        attempts=rate_limited + failures,
                        elapsed=elapsed,
                        reset_after=header_wait,
                    )
                if rate_limited > policy.max_rate_limited:
                    raise RateLimited(
                        f"still rate limited after {rate_limited} answers of 429",
                        url=safe_url,
                        body=last_body,
                        attempts=rate_limited + failures,
                        elapsed=self.clock() - start,
                        reset_after=header_wait,
                    )
                wait = header_wait if header_wait is not None else policy.backoff(rate_limited, self.rng)
                if self.clock() - start + wait > policy.max_total_seconds:
                    raise RateLimited(
                        f"rate limited; waiting {wait:.0f} s (announced reset: {header_wait} s) "
                        f"would exceed the time budget of {policy.max_total_seconds} s",
                        url=safe_url,
                        body=last_body,
                        attempts=rate_limited + failures,
                        elapsed=self.clock() - start,
                        reset_after=header_wait,
                    )
                log.info("%s %s: 429, waiting %.1f s", method, safe_url, wait)
                self.sleep(wait)
                continue

            if status >= 500 and status in no_retry_statuses:
                raise error_for_response(response)

            if status >= 500:
                failures += 1
                last_body = response.text[:2000]
                if failures >= policy.max_attempts:
                    raise RetriesExhausted(
                        status,
                        f"gave up after {failures} attempts; last answer HTTP {status}: {error_message(response)}",
                        url=safe_url,
                        body=last_body,
                        attempts=failures,
                        elapsed=self.clock() - start,
                    )
                wait = policy.backoff(failures, self.rng)
                announced = parse_retry_after(response.headers.get("Retry-After"))
                if announced is not None:
                    wait = max(wait, min(announced, policy.max_rate_limit_wait))
                self._wait(wait, start, f"HTTP {status}", safe_url, failures, status, last_body)
                continue

            if status >= 400:
                raise error_for_response(response)
            if not want_json:
                return response, None
            try:
                return response, response.json()
            except ValueError as exc:  # requests.JSONDecodeError is a ValueError
                failures += 1
                content_type = response.headers.get("Content-Type") or "none"
                last_body = response.text[:2000]
                reason = (
                    f"HTTP {status} with a body that is not JSON (Content-Type: {content_type}): "
                    f"{snippet(response.text)!r}"
                )
                if method.upper() not in IDEMPOTENT_METHODS or failures >= policy.max_attempts:
                    attempts = f" after {failures} attempts" if failures > 1 else ""
                    raise MalformedResponse(
                        status,
                        f"{reason}{attempts}; the service may be under maintenance, or the base URL may "
                        "not point at the API",
                        url=safe_url,
                        body=last_body,
                        attempts=failures,
                        elapsed=self.clock() - start,
                        content_type=content_type,
                    ) from exc
                self._wait(policy.backoff(failures, self.rng), start, reason, safe_url, failures, status, last_body)
                continue

    def get_json(self, url: str, **kwargs: Any) -> Any:
        return self.request_json("GET", url, **kwargs)

    # -- helpers ----------------------------------------------------------------------

    def _announced_wait(self, response: requests.Response) -> float | None:
        """The longer of RateLimit's ``t`` and Retry-After: both are the server's promise
        of when a retry can succeed, and retrying earlier only spends another 429."""
        waits = []
        info = parse_ratelimit(response.headers.get("RateLimit"))
        if info is not None and info.reset_seconds is not None:
            waits.append(info.reset_seconds)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            waits.append(retry_after)
        return max(waits) if waits else None

    def _note_rate_limit(self, response: requests.Response) -> None:
        info = parse_ratelimit(response.headers.get("RateLimit"))
        if info is not None:
            with self._lock:
                self.last_rate_limit = info

    def _wait(
        self, delay: float, start: float, reason: str, url: str, attempts: int, status: int | None, body: str
    ) -> None:
        elapsed = self.clock() - start
        if elapsed + delay > self.policy.max_total_seconds:
            raise RetriesExhausted(
                status,
                f"gave up after {attempts} attempts in {elapsed:.1f} s "
                f"(time budget {self.policy.max_total_seconds} s); last error {reason}",
                url=url,
                body=body,
                attempts=attempts,
                elapsed=elapsed,
            )
        log.info("%s: %s, retry %d in %.2f s", url, reason, attempts, delay)
        self.sleep(delay)
