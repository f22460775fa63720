"""Bearer tokens from an OpenID Connect token endpoint (Europeana's Keycloak).

The Annotations API takes writes only with a Bearer token. Tokens are short-lived (minutes),
a nightly push runs longer, and a token can also be revoked server-side before its
``expires_in``; so the provider renews proactively shortly before expiry *and* on demand
when the API answers 401 (the HTTP layer calls :meth:`OidcTokenProvider.refresh` once).

Grants: ``refresh_token`` when we hold one (cheap, keeps the user session), falling back to
the primary grant — ``password`` when a username is configured (Europeana's user accounts
carry the annotation write role), else ``client_credentials``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests

from .errors import ApiError, AuthenticationError
from .http import RetryingSession

log = logging.getLogger(__name__)

EUROPEANA_TOKEN_URL = "https://auth.europeana.eu/auth/realms/europeana/protocol/openid-connect/token"


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # on the provider's clock
    refresh_token: str | None = None


class OidcTokenProvider:
    """Holds a current access token; an :class:`~europeana_sync.http.Authenticator`."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        scope: str | None = None,
        http: RetryingSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        leeway_seconds: float = 30.0,
    ) -> None:
        if username and not password:
            raise ValueError("password grant needs both username and password")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.scope = scope
        self.http = http or RetryingSession()
        self.clock = clock
        self.leeway_seconds = leeway_seconds
        self._token: Token | None = None
        self._refresh_token = refresh_token
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    # -- Authenticator protocol ---------------------------------------------------------

    def auth_headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.access_token()}"}

    def is_rejection(self, response: requests.Response) -> bool:
        return response.status_code == 401

    def refresh(self) -> None:
        """Forget the current token and get a new one now (the API said it is stale)."""
        with self._lock:
            self._token = self._fetch()

    # -- tokens -----------------------------------------------------------------------------

    def access_token(self) -> str:
        with self._lock:
            token = self._token
            if token is None or self.clock() >= token.expires_at - self.leeway_seconds:
                token = self._token = self._fetch()
            return token.access_token

    def _fetch(self) -> Token:
        if self._refresh_token:
            try:
                return self._grant({"grant_type": "refresh_token", "refresh_token": self._refresh_token})
            except ApiError as exc:
                if exc.status not in (400, 401):
                    raise
                log.info(
                    "refresh token refused (%s); using the %s grant",
                    exc.message,
                    "password" if self.username else "client_credentials",
                )
                self._refresh_token = None
        if self.username:
            return self._grant({"grant_type": "password", "username": self.username, "password": self.password or ""})
        return self._grant({"grant_type": "client_credentials"})

    def _grant(self, form: dict[str, str]) -> Token:
        form = {**form, "client_id": self.client_id}
        if self.client_secret:
            form["client_secret"] = self.client_secret
        if self.scope:
            form["scope"] = self.scope
        requested = self.clock()
        try:
            response = self.http.request("POST", self.token_url, data=form, headers={"Accept": "application/json"})
        except ApiError as exc:
            if exc.status in (400, 401, 403):
                raise AuthenticationError(
                    exc.status,
                    f"token endpoint refused the {form['grant_type']} grant: {exc.message}",
                    url=exc.url,
                    body=exc.body,
                ) from exc
            raise
        payload = response.json()
        access = payload.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthenticationError(
                response.status_code, "token endpoint answered without access_token", url=self.token_url
            )
        expires_in = payload.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) else 300.0
        refresh = payload.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._refresh_token = refresh
        self.tokens_fetched += 1
        return Token(access_token=access, expires_at=requested + lifetime, refresh_token=self._refresh_token)
