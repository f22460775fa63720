"""API keys: create, list, revoke and verify; what each key may do and from which web origins.

A token is ``sk_<id>_<secret>`` (secret key: for servers, scripts and curators' tools) or
``pk_<id>_<secret>`` (publishable key: for a web page, so it is no secret; it can only search,
only from the origins it lists, within its rate limit). ``<id>`` is 12 hex digits, public, and
is how a request finds its key row (one indexed lookup) and how the audit log names who did
what. ``<secret>`` is 256 random bits.

*Why SHA-256 and not a password hash.* Only the SHA-256 of the whole token is stored, compared
in constant time. Password-grade hashes (argon2, bcrypt) exist to make guessing a low-entropy
password slow; a 256-bit random secret cannot be guessed at any speed, so a slow hash would
add nothing but cost: argon2's defaults take tens of milliseconds and 64 MB *per request*,
which on a 2-core server is most of the time a search takes. A leaked catalog gives an
attacker hashes of unguessable secrets, which is as good as nothing. (GitHub's and Stripe's
API tokens are stored the same way.)

Scopes: ``search`` (read: search, related, items and their pictures, collections, model
downloads), ``write`` (add and delete items), ``admin`` (everything, including ``/metrics``).
A key holds a set of them; ``admin`` implies the other two.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

from .catalog.access_store import AccessStore, KeyRow


class Scope(str, Enum):
    SEARCH = "search"
    WRITE = "write"
    ADMIN = "admin"


SECRET, PUBLISHABLE = "secret", "publishable"
_PREFIX = {SECRET: "sk", PUBLISHABLE: "pk"}
_TOKEN = re.compile(r"^(?P<prefix>sk|pk)_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


class KeyRefused(Exception):
    """A token that grants nothing: malformed, unknown or revoked (``code`` says which).

    ``key`` is the key's record when there is one (a revoked key), so the HTTP layer can
    still answer that key's web origins with CORS headers and the page can say why.
    """

    def __init__(self, code: str, message: str, key: ApiKey | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.key = code, message, key


class UnknownKey(LookupError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no key with id {key_id!r} (artsnap keys list shows them)")
        self.key_id = key_id


def normalize_origin(text: str) -> str:
    """``https://Portal.example:443/`` → ``https://portal.example``, as browsers send ``Origin``.

    ``ValueError`` for anything that is not a bare http(s) origin (paths, wildcards, ``null``).
    """
    try:
        u = urlsplit(text.strip())
        port = u.port
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an origin: {exc}") from exc
    if u.scheme not in ("http", "https") or not u.hostname or u.username or u.password:
        raise ValueError(f"{text!r} is not an origin like https://portal.example or http://localhost:8000")
    if u.path not in ("", "/") or u.query or u.fragment or "*" in u.netloc:
        raise ValueError(f"{text!r} is not an origin: give scheme, host and port only (no path, no wildcard)")
    host = u.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if u.scheme == "https" else 80
    return f"{u.scheme}://{host}" if port in (None, default_port) else f"{u.scheme}://{host}:{port}"


def check_rate_limit(text: str) -> str:
    """A ``limits`` rate string (``600/minute``, ``10/second;300/hour``), else ``ValueError``."""
    try:
        parse_many(text)
    except ValueError as exc:
        raise ValueError(f"rate limit {text!r} is not like '600/minute' or '10/second;300/hour'") from exc
    return text


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key's record (never its secret)."""

    key_id: str
    kind: str
    name: str
    scopes: frozenset[str]
    origins: tuple[str, ...]
    rate_limit: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def publishable(self) -> bool:
        return self.kind == PUBLISHABLE

    def allows(self, scope: Scope) -> bool:
        return scope.value in self.scopes or Scope.ADMIN.value in self.scopes

    def allows_origin(self, origin: str | None) -> bool:
        if not origin:
            return False
        try:
            return normalize_origin(origin) in self.origins
        except ValueError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "kind": self.kind,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "origins": list(self.origins),
            "rate_limit": self.rate_limit,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }

    @classmethod
    def from_row(cls, row: KeyRow) -> ApiKey:
        return cls(
            key_id=row.key_id,
            kind=row.kind,
            name=row.name,
            scopes=frozenset(row.scopes),
            origins=row.origins,
            rate_limit=row.rate_limit,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``token`` is shown this once and stored nowhere."""

    key: ApiKey
    token: str


class KeyService:
    def __init__(self, store: AccessStore) -> None:
        self.store = store

    def create(
        self,
        name: str,
        scopes: Iterable[Scope | str],
        *,
        publishable: bool = False,
        origins: Sequence[str] = (),
        rate_limit: str | None = None,
    ) -> NewKey:
        """A new key. A publishable key searches only and must list the web origins it serves."""
        name = name.strip()
        if not name or len(name) > 128:
            raise ValueError("give the key a name of 1 to 128 characters (who or what uses it)")
        wanted = {Scope(s).value for s in scopes}
        if not wanted:
            raise ValueError("give the key at least one scope: search, write or admin")
        clean_origins = list(dict.fromkeys(normalize_origin(o) for o in origins))
        kind = PUBLISHABLE if publishable else SECRET
        if publishable:
            if wanted != {Scope.SEARCH.value}:
                raise ValueError("a publishable key sits in a web page for anyone to read: it may only search")
            if not clean_origins:
                raise ValueError("a publishable key needs the web origins it serves (--origin https://portal.example)")
        if rate_limit is not None:
            check_rate_limit(rate_limit)
        key_id = secrets.token_hex(6)
        token = f"{_PREFIX[kind]}_{key_id}_{secrets.token_urlsafe(32)}"
        row = self.store.add_key(
            key_id=key_id,
            kind=kind,
            name=name,
            token_sha256=token_digest(token),
            scopes=sorted(wanted),
            origins=clean_origins,
            rate_limit=rate_limit,
        )
        return NewKey(ApiKey.from_row(row), token)

    def list(self) -> list[ApiKey]:
        return [ApiKey.from_row(r) for r in self.store.keys()]

    def get(self, key_id: str) -> ApiKey:
        row = self.store.key(key_id)
        if row is None:
            raise UnknownKey(key_id)
        return ApiKey.from_row(row)

    def revoke(self, key_id: str) -> ApiKey:
        row = self.store.revoke_key(key_id)
        if row is None:
            raise UnknownKey(key_id)
        return ApiKey.from_row(row)

    def set_origins(self, key_id: str, origins: Sequence[str]) -> ApiKey:
        clean = list(dict.fromkeys(normalize_origin(o) for o in origins))
        key = self.get(key_id)
        if key.publishable and not clean:
            raise ValueError("a publishable key needs at least one origin")
        row = self.store.set_origins(key_id, clean)
        assert row is not None
        return ApiKey.from_row(row)

    def verify(self, token: str) -> ApiKey:
        """The live key a token belongs to; :class:`KeyRefused` otherwise."""
        match = _TOKEN.match(token.strip())
        if match is None:
            raise KeyRefused("invalid_key", "this is not an artsnap API key (sk_... or pk_...)")
        row = self.store.key(match.group("key_id"))
        if row is None or not hmac.compare_digest(row.token_sha256, token_digest(token.strip())):
            raise KeyRefused("invalid_key", "unknown API key")
        key = ApiKey.from_row(row)
        if _PREFIX[key.kind] != match.group("prefix"):
            raise KeyRefused("invalid_key", "unknown API key")
        if key.revoked:
            raise KeyRefused("revoked_key", f"API key {key.key_id} was revoked; ask the operator for a new one", key)
        return key

    def all_origins(self) -> set[str]:
        return self.store.all_origins()
