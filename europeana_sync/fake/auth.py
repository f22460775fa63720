"""Accounts and tokens of the fake: API keys, OIDC clients and users, WITH logins.

The defaults are demo credentials printed by ``python -m europeana_sync.fake``; tests pass
their own :class:`FakeAccounts` when they need, say, a client without the write role.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FakeClientApp:
    """An OIDC client registered at the fake token endpoint."""

    client_id: str
    secret: str
    can_write: bool = True


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


@dataclass(frozen=True)
class FakeAccounts:
    #: Accepted API keys; empty = any non-empty key is accepted (what a demo wants).
    api_keys: frozenset[str] = frozenset()
    clients: Mapping[str, FakeClientApp] = field(default_factory=_default_clients)
    users: Mapping[str, FakeUser] = field(default_factory=_default_users)
    #: WITH logins: email → password.
    with_users: Mapping[str, str] = field(default_factory=_default_with_users)

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
    revoked: bool = False


class TokenRegistry:
    """Issues bearer tokens and says whether a presented one is (still) good."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_access: dict[str, IssuedToken] = {}
        self._by_refresh: dict[str, IssuedToken] = {}
        self.issued = 0

    def issue(self, subject: str, client_id: str, can_write: bool, lifetime: float) -> IssuedToken:
        token = IssuedToken(
            access_token="fake-at-" + secrets.token_urlsafe(16),
            refresh_token="fake-rt-" + secrets.token_urlsafe(16),
            subject=subject,
            client_id=client_id,
            can_write=can_write,
            expires_at=self._clock() + lifetime,
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
