"""Accounts and tokens of the fake: API keys, OIDC clients and users, WITH logins.

The defaults are demo credentials printed by ``python -m europeana_sync.fake``; tests pass
their own :class:`FakeAccounts` when they need, say, a client without the write role.

Access tokens are shaped like Keycloak's: a JWT whose payload carries ``sub`` (the user
id the Annotations API turns into the creator URI), ``preferred_username``, ``azp`` and the
granted ``scope``. They are not signed for real: the fake looks them up in its registry, and
clients only ever read them, as they read real ones.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

#: The scope the Annotations API checks (api-commons ``OAuthUtils.verifyScope`` against
#: ``authorization.api.name=annotations`` in europeana/annotation's annotation.properties).
ANNOTATIONS_SCOPE = "annotations"
#: Keycloak's default client scopes: in every token whether asked for or not.
DEFAULT_SCOPES = ("profile", "email")


@dataclass(frozen=True)
class FakeClientApp:
    """An OIDC client registered at the fake token endpoint.

    ``optional_scopes`` are granted only when the token request asks for them (Keycloak's
    optional client scopes); a scope the client does not have is left out of the token, as
    RFC 6749 section 3.3 allows, rather than refused.
    """

    client_id: str
    secret: str
    can_write: bool = True
    optional_scopes: frozenset[str] = frozenset({ANNOTATIONS_SCOPE})

    def granted_scopes(self, requested: str | None) -> tuple[str, ...]:
        asked = (requested or "").split()
        return (*DEFAULT_SCOPES, *(s for s in dict.fromkeys(asked) if s in self.optional_scopes))


@dataclass(frozen=True)
class FakeUser:
    username: str
    password: str
    can_write: bool = True


def _default_clients() -> dict[str, FakeClientApp]:
    return {
        c.client_id: c
        for c in (
            FakeClientApp("artsnap-curator", "curator-secret", True),
            FakeClientApp("artsnap-reader", "reader-secret", False),
        )
    }


def _default_users() -> dict[str, FakeUser]:
    return {"curator": FakeUser("curator", "curator-password", True)}


def _default_with_users() -> dict[str, str]:
    return {"curator@artsnap.test": "with-password"}


def _default_with_usernames() -> dict[str, str]:
    return {"curator": "curator@artsnap.test"}


@dataclass(frozen=True)
class FakeAccounts:
    #: Accepted API keys; empty = any non-empty key is accepted (what a demo wants).
    api_keys: frozenset[str] = frozenset()
    clients: Mapping[str, FakeClientApp] = field(default_factory=_default_clients)
    users: Mapping[str, FakeUser] = field(default_factory=_default_users)
    #: WITH logins: email → password.
    with_users: Mapping[str, str] = field(default_factory=_default_with_users)
    #: WITH usernames: username → the email of the account (WITH logs in by either).
    with_usernames: Mapping[str, str] = field(default_factory=_default_with_usernames)

    def api_key_ok(self, key: str | None) -> bool:
        return bool(key) and (not self.api_keys or key in self.api_keys)


@dataclass
class IssuedToken:
    access_token: str
    refresh_token: str
    subject: str  # user name, or the client id for client credentials
    client_id: str
    can_write: bool
    expires_at: float
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    revoked: bool = False

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt_shaped(claims: Mapping[str, object]) -> str:
    """``header.payload.signature`` with a random signature: the shape clients decode."""
    header = {"alg": "RS256", "typ": "JWT", "kid": "artsnap-fake"}
    return ".".join(
        (_b64(json.dumps(header).encode()), _b64(json.dumps(dict(claims)).encode()), _b64(secrets.token_bytes(32)))
    )


class TokenRegistry:
    """Issues bearer tokens and says whether a presented one is (still) good."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_access: dict[str, IssuedToken] = {}
        self._by_refresh: dict[str, IssuedToken] = {}
        self.issued = 0

    def issue(
        self, subject: str, client_id: str, can_write: bool, lifetime: float, scopes: Iterable[str] = DEFAULT_SCOPES
    ) -> IssuedToken:
        now = self._clock()
        granted = tuple(scopes)
        claims = {
            "exp": int(time.time() + lifetime),
            "iat": int(time.time()),
            "jti": secrets.token_hex(8),
            "iss": "http://127.0.0.1/auth/realms/europeana",
            "sub": subject,
            "typ": "Bearer",
            "azp": client_id,
            "preferred_username": subject,
            "scope": " ".join(granted),
            "resource_access": {ANNOTATIONS_SCOPE: {"roles": ["user"] if can_write else []}},
        }
        token = IssuedToken(
            access_token=jwt_shaped(claims),
            refresh_token="fake-rt-" + secrets.token_urlsafe(16),
            subject=subject,
            client_id=client_id,
            can_write=can_write,
            expires_at=now + lifetime,
            scopes=granted,
        )
        with self._lock:
            self._by_access[token.access_token] = token
            self._by_refresh[token.refresh_token] = token
            self.issued += 1
        return token

    def check(self, access_token: str | None) -> tuple[IssuedToken | None, str]:
        """``(token, "")`` when valid, else ``(None, reason)``."""
        if not access_token:
            return None, "no bearer token provided"
        with self._lock:
            token = self._by_access.get(access_token)
        if token is None:
            return None, "unknown token"
        if token.revoked or self._clock() >= token.expires_at:
            return None, "Token expired"
        return token, ""

    def redeem_refresh(self, refresh_token: str, client_id: str) -> IssuedToken | None:
        """The token a refresh token was issued with; refresh tokens are single use."""
        with self._lock:
            token = self._by_refresh.pop(refresh_token, None)
        if token is None or token.client_id != client_id:
            return None
        return token

    def expire_all(self) -> int:
        """Revoke every access token issued so far (refresh tokens stay valid)."""
        with self._lock:
            for token in self._by_access.values():
                token.revoked = True
            return len(self._by_access)
