"""Who is calling, what they may do, and which web pages may read the answers (CORS).

Hooks, registered by ``create_app`` in this order around flask-limiter's own check:

1. :func:`identify` — the caller: a verified key (``Authorization: Bearer <key>``, or a
   publishable key as ``?key=`` where no header can be sent, e.g. an ``<img>``), or nobody.
   A refused key is remembered, not raised yet, so even floods of bad keys are rate limited.
   CORS preflights are answered here.
2. the rate limit (``rate_limits.py``), keyed by what :func:`identify` found;
3. :func:`authorize` — the route's scope (``openapi.requires``) against the caller.

*Local callers.* With ``Settings.require_keys`` off (``make run``: the server listens on
127.0.0.1 only), a request from a loopback address that no proxy forwarded may do anything
without a key. Bound anywhere else, ``artsnap serve`` turns ``require_keys`` on, and even
with it off a caller from another address never writes anonymously: the decision needs both.

*CORS.* A key lists the web origins that may use it. An answer carries
``Access-Control-Allow-Origin`` only for a request whose ``Origin`` its key lists (a revoked
key's origins too, so the page can read the 401 and say so politely); a wrong origin gets no
CORS headers, so the browser keeps the answer from the page. A publishable key sent from a
page it does not list is refused outright (403): browsers always send ``Origin`` on such
requests, so another site cannot borrow a portal's key in its visitors' browsers. (A script
outside a browser can send any ``Origin``; the rate limit is what bounds a copied key.)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from flask import Response, current_app, g, request

from ..engine.keys import ApiKey, KeyRefused, Scope, normalize_origin
from .context import engine
from .errors import APIError
from .openapi import scope_of

#: Headers a proxy adds: a request that carries one did not come from this machine's user.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

#: What a browser may send cross-origin, and read back.
ALLOW_HEADERS = "Authorization, Content-Type"
EXPOSE_HEADERS = "RateLimit, RateLimit-Policy, Retry-After"
PREFLIGHT_MAX_AGE_S = 600


@dataclass(frozen=True)
class Caller:
    """Who sent the request, as far as the request says."""

    address: str
    key: ApiKey | None = None  # a live key
    refused: APIError | None = None  # a key was sent and is not good (raised by authorize)
    refused_key: ApiKey | None = None  # a revoked key's record (for its CORS origins)
    local: bool = False  # anonymous on this machine, keyless mode

    @property
    def actor(self) -> str:
        if self.key is not None:
            return f"key:{self.key.key_id}"
        return "local" if self.local else "anonymous"

    @property
    def rate_key(self) -> str:
        """Whose counter a request counts on: a secret key's, a publishable key's per visitor, an address's."""
        if self.key is not None and self.refused is None:
            return f"key:{self.key.key_id}:{self.address}" if self.key.publishable else f"key:{self.key.key_id}"
        return f"addr:{self.address}"

    @property
    def cors_key(self) -> ApiKey | None:
        return self.key or self.refused_key


def is_local_address(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def _token() -> tuple[str | None, str]:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise APIError(401, "invalid_key", "send the key as 'Authorization: Bearer <key>'")
        return value.strip(), "header"
    return request.args.get("key"), "query"


def _caller() -> Caller:
    address = request.remote_addr or ""
    local = (
        not engine().settings.require_keys
        and is_local_address(address)
        and not any(h in request.headers for h in FORWARDING_HEADERS)
    )
    try:
        token, via = _token()
    except APIError as exc:
        return Caller(address, refused=exc, local=local)
    if not token:
        return Caller(address, local=local)
    if via == "query" and not token.startswith("pk_"):
        return Caller(
            address,
            refused=APIError(
                400,
                "key_in_url",
                "only a publishable key may be sent as ?key=; send secret keys in "
                "the Authorization header (URLs end up in logs)",
            ),
            local=local,
        )
    try:
        key = engine().keys.verify(token)
    except KeyRefused as exc:
        return Caller(address, refused=APIError(401, exc.code, exc.message), refused_key=exc.key, local=local)
    origin = request.headers.get("Origin")
    if key.publishable and origin is not None and not key.allows_origin(origin):
        return Caller(
            address,
            key=key,
            refused=APIError(403, "origin_not_allowed", f"this publishable key does not serve pages from {origin}"),
        )
    return Caller(address, key=key, local=local)


def identify() -> Response | None:
    """Before every request: answer a CORS preflight, else find the caller (never raises)."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return _preflight()
    g.caller = _caller()
    return None


def authorize() -> None:
    """Before every request, after the rate limit: the route's scope against the caller."""
    view = current_app.view_functions.get(request.endpoint or "")
    scope = scope_of(view) if request.endpoint else None
    if scope is None:
        return
    caller: Caller = g.caller
    if caller.refused is not None:
        raise caller.refused
    if caller.key is not None:
        if not caller.key.allows(Scope(scope)):
            raise APIError(403, "insufficient_scope", f"key {caller.key.key_id} lacks the '{scope}' scope this needs")
        return
    if caller.local or (scope == "search" and engine().settings.public_search):
        return
    raise APIError(
        401,
        "key_required",
        f"this needs an API key with the '{scope}' scope: send 'Authorization: Bearer <key>' "
        "(an operator creates one with `artsnap keys create`)",
    )


def _allowed_origin(origin: str | None, key: ApiKey | None) -> str | None:
    if origin is None or key is None or not key.allows_origin(origin):
        return None
    return origin


def add_cors_headers(resp: Response) -> Response:
    """After every request: CORS headers when the caller's key lists the page's origin."""
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith("/v1/"):
        return resp
    resp.vary.add("Origin")
    caller: Caller | None = g.get("caller")
    allowed = _allowed_origin(origin, caller.cors_key if caller else None)
    if allowed is not None:
        resp.headers["Access-Control-Allow-Origin"] = allowed
        resp.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return resp


def _preflight() -> Response:
    """``OPTIONS`` with ``Access-Control-Request-Method``: allowed when some key lists the origin.

    A preflight carries no key (browsers never send credentials on it), so it cannot be
    checked against one: it says what the origin *could* do; the request itself is then
    checked against its key.
    """
    resp = current_app.response_class(status=204)
    resp.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith("/v1/"):
        return resp
    try:
        wanted = normalize_origin(origin)
    except ValueError:
        return resp
    if wanted not in engine().keys.all_origins():
        return resp
    adapter = current_app.url_map.bind_to_environ(request.environ)
    methods = sorted(m for m in adapter.allowed_methods() if m not in ("HEAD", "OPTIONS"))
    if not methods:
        return resp
    resp.headers["Access-Control-Allow-Origin"] = origin
    resp.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
    resp.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    resp.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    return resp
