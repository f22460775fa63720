"""Bearer tokens from an OpenID Connect token endpoint (Europeana's Keycloak).

The Annotations API takes writes only with a Bearer token. Tokens are short-lived (minutes),
a nightly push runs longer, and a token can also be revoked server-side before its
``expires_in``; so the provider renews proactively shortly before expiry *and* on demand
when the API answers 401 (the HTTP layer calls :meth:`OidcTokenProvider.refresh` once).

Grants: ``refresh_token`` when we hold one (cheap, keeps the user session), falling back to
the primary grant — ``password`` when a username is configured (Europeana's user accounts
carry the annotation write role), else ``client_credentials``.

Scope: every grant asks for :data:`DEFAULT_SCOPE` (``annotations``) unless told otherwise.
The Annotations API accepts a token for writes only when its ``scope`` claim names the API
(api-commons ``OAuthUtils.verifyScope`` against ``authorization.api.name=annotations``);
Keycloak puts an optional client scope in the token only when the request asks for it.
:meth:`OidcTokenProvider.has_scope` says whether the token we got carries it, so a missing
grant is reported as exactly that instead of a bare 403.

Identity: the token is a JWT whose ``sub`` the Annotations API turns into the creator of
what we write (``http://data.europeana.eu/user/<sub>``, ``BaseJsonldRest.storeAnnotation``).
:meth:`OidcTokenProvider.claims` reads it (no signature check: we only read our own token),
so the push can recognise its own annotations even when the answer to a create was lost.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from .errors import ApiError, AuthenticationError, MalformedResponse
from .http import RetryingSession

log = logging.getLogger(__name__)

EUROPEANA_TOKEN_URL = "https://auth.europeana.eu/auth/realms/europeana/protocol/openid-connect/token"
#: The scope the Annotations API checks; pass ``scope=`` to ask for others as well.
DEFAULT_SCOPE = "annotations"


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # on the provider's clock
    refresh_token: str | None = None
    #: The scope granted, from the token response (or the token's own ``scope`` claim).
    scope: str | None = None


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified; ``{}`` for an opaque token.

    Only for reading our own token (who we are, which scopes we got): authorisation is the
    API's business, and it checks the signature.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return payload if isinstance(payload, dict) else {}


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
        scope: str | None = DEFAULT_SCOPE,
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
        return self.current().access_token

    def current(self) -> Token:
        """The current token, fetched or renewed when it is missing or about to expire."""
        with self._lock:
            token = self._token
            if token is None or self.clock() >= token.expires_at - self.leeway_seconds:
                token = self._token = self._fetch()
            return token

    def claims(self) -> dict[str, Any]:
        """The current token's JWT claims (``sub``, ``preferred_username``, ``scope`` …);
        ``{}`` when the token endpoint hands out opaque tokens."""
        return jwt_claims(self.current().access_token)

    def subject(self) -> str | None:
        """Who the API will say wrote our annotations: the token's ``sub``."""
        sub = self.claims().get("sub")
        return sub if isinstance(sub, str) and sub else None

    def granted_scopes(self) -> frozenset[str]:
        token = self.current()
        scope = token.scope if token.scope is not None else self.claims().get("scope")
        return frozenset(scope.split()) if isinstance(scope, str) else frozenset()

    def has_scope(self, scope: str = DEFAULT_SCOPE) -> bool:
        return scope in self.granted_scopes()

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
        try:
            payload = response.json()
        except ValueError as exc:
            raise MalformedResponse(
                response.status_code,
                f"token endpoint answered a body that is not JSON (Content-Type: "
                f"{response.headers.get('Content-Type') or 'none'}); check the token URL",
                url=self.token_url,
                body=response.text[:2000],
            ) from exc
        if not isinstance(payload, dict):
            payload = {}
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
        granted = payload.get("scope")
        return Token(
            access_token=access,
            expires_at=requested + lifetime,
            refresh_token=self._refresh_token,
            scope=granted if isinstance(granted, str) else None,
        )
