"""Safe downloads of provider images (``edmIsShownBy``, ``edmPreview``).

A pull downloads thousands of URLs that third parties typed into their metadata, from
servers nobody vouches for. Each download here is bounded and cannot be turned against the
machine running the job:

* **where**: ``http``/``https`` only, no credentials in the URL. The host is resolved here
  and every address vetted (private, loopback, link-local, multicast, reserved, unspecified
  and shared addresses are refused); the connection then goes to a vetted address — not to
  whatever a second DNS lookup says — with the original Host header and TLS server name.
  Redirects are followed by hand, each hop vetted the same way, loops and long chains
  refused. ``allow_private``/``allowed_hosts`` open the door for tests and local fakes only;
* **how much**: a ``Content-Length`` above the cap is refused before any byte is read, and
  reading stops at the cap when the length was not announced (or was a lie);
* **what**: the ``Content-Type`` must be ``image/*`` (an ``octet-stream`` passes only when
  the first bytes are an image's); HTML landing pages are refused without reading them;
  Europeana's "no thumbnail" icon is refused as :class:`~europeana_sync.errors.PlaceholderImage`;
* **how long**: one deadline for the whole fetch — connecting, redirects, retries and the
  body — so a server that drips a byte a second cannot hold a worker (a per-read timeout
  never fires on it); a watchdog shuts the socket at the deadline if a read is blocked;
* **how hard**: a small retry budget of its own (2 tries, short jittered waits inside the
  deadline), not the API's 5 tries over 300 s; at most ``per_host_connections`` downloads
  at a time per host; a host that failed ``host_failure_limit`` times in a row is not
  asked again in this run.

Every refusal is a typed :class:`~europeana_sync.errors.FetchError` whose ``reason`` says
why (``too_large``, ``not_an_image``, ``private_address``, ``deadline``, ``redirect_loop``,
``provider_unavailable``, ``http_status``, ``placeholder``, ``unsafe_url``).
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import certifi
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from .errors import (
    DeadlineExceeded,
    FetchError,
    NotAnImage,
    PlaceholderImage,
    PrivateAddress,
    ProviderRefused,
    ProviderUnavailable,
    RedirectLoop,
    TooLarge,
    UnsafeUrl,
)
from .http import USER_AGENT
from .placeholders import match_placeholder

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Worth one more try: the provider may be restarting or shedding load.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Content types that say nothing; the first bytes decide.
UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/binary"})

#: Magic numbers of the image formats providers serve.
_IMAGE_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"II*\x00"),  # TIFF, little endian
    (0, b"MM\x00*"),  # TIFF, big endian
    (0, b"BM"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"),  # JPEG 2000
    (0, b"\xff\x4f\xff\x51"),  # JPEG 2000 codestream
    (8, b"WEBP"),
    (4, b"ftypavif"),
    (4, b"ftypheic"),
)

Resolver = Callable[[str, int], Sequence[str]]


def looks_like_image(head: bytes) -> bool:
    """Whether the first bytes are those of an image format providers serve."""
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _IMAGE_MAGIC)


def is_public_address(address: str) -> bool:
    """A globally routable unicast address: not private, loopback, link-local, multicast,
    reserved, unspecified or shared (CGNAT); IPv4-mapped and 6to4 IPv6 are judged by the
    IPv4 address inside."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is not None:
            return is_public_address(str(inner))
    if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    return ip.is_global


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``), in its order, once each."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProviderUnavailable(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one download. Defaults suit a nightly pull on a small machine."""

    max_bytes: int = 40 * 1024 * 1024
    #: Seconds for the whole fetch: redirects, retries, waiting for a connection slot, body.
    deadline: float = 60.0
    connect_timeout: float = 5.0
    #: Longest silence between two reads (also bounded by what is left of the deadline).
    read_timeout: float = 15.0
    max_redirects: int = 5
    #: Tries per URL for connection errors, 429 and 5xx (provider hosts, not the API).
    max_attempts: int = 2
    #: Waits between tries are uniform(0, retry_delay · 2^(n-1)), and always inside the deadline.
    retry_delay: float = 1.0
    #: Simultaneous downloads from one host (a pool of workers must not hammer one museum).
    per_host_connections: int = 2
    #: Consecutive failed fetches after which a host is skipped for the rest of the run.
    host_failure_limit: int = 5
    chunk_size: int = 64 * 1024
    #: Escape hatches for tests and local fakes: allow every private address, or those of
    #: these hosts (``"127.0.0.1:8765"`` or ``"127.0.0.1"``). Never for provider URLs.
    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    #: Refuse Europeana's "no thumbnail" icon (:mod:`europeana_sync.placeholders`).
    reject_placeholders: bool = True
    user_agent: str = USER_AGENT

    @classmethod
    def for_api(cls, api_url: str, **limits: Any) -> FetchPolicy:
        """The policy for a job talking to ``api_url``: when that is a loopback or private
        address (the local fake, a test), media on the same host and port are allowed, so
        the demo runs; against a public API nothing is opened. ``limits`` set other fields.
        """
        parts = urllib.parse.urlsplit(api_url)
        host = (parts.hostname or "").lower()
        allowed: frozenset[str] = frozenset()
        try:
            local = host == "localhost" or not is_public_address(host)
        except ValueError:  # a host name, not an address literal
            local = False
        if local:
            allowed = frozenset({f"{host}:{parts.port}"} if parts.port is not None else {host})
        return cls(allowed_hosts=allowed, **limits)


@dataclass(frozen=True)
class FetchedImage:
    """The bytes of one image and how they were reached."""

    url: str
    final_url: str
    data: bytes
    content_type: str | None
    #: The URLs redirected to, in order (empty when there was no redirect).
    redirects: tuple[str, ...] = ()
    #: The vetted address the body came from.
    address: str = ""
    attempts: int = 1


@dataclass
class _Hop:
    """One URL, parsed and vetted."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path + query, as sent
    host_header: str
    addresses: list[str] = field(default_factory=list)


class ImageFetcher:
    """Downloads images under a :class:`FetchPolicy`; thread-safe, one per job."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self.resolver = resolver
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._failures: dict[str, int] = {}

    # -- the public call -------------------------------------------------------------------

    def fetch(self, url: str) -> FetchedImage:
        """The image at ``url``, or a :class:`~europeana_sync.errors.FetchError` saying why not."""
        policy = self.policy
        deadline = self.clock() + policy.deadline
        hop = self._parse(url, url)
        redirects: list[str] = []
        seen = {hop.url}
        while True:
            result = self._fetch_hop(url, hop, deadline)
            if isinstance(result, FetchedImage):
                return FetchedImage(
                    url=url,
                    final_url=hop.url,
                    data=result.data,
                    content_type=result.content_type,
                    redirects=tuple(redirects),
                    address=result.address,
                    attempts=result.attempts,
                )
            location = urllib.parse.urljoin(hop.url, result)
            if location in seen:
                raise RedirectLoop(f"redirect loop back to {location}", url=url, final_url=hop.url)
            if len(redirects) >= policy.max_redirects:
                raise RedirectLoop(f"more than {policy.max_redirects} redirects", url=url, final_url=hop.url)
            seen.add(location)
            redirects.append(location)
            hop = self._parse(location, url)

    # -- one URL ------------------------------------------------------------------------------

    def _parse(self, location: str, original: str) -> _Hop:
        parts = urllib.parse.urlsplit(location.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UnsafeUrl(f"only http and https URLs are fetched, not {scheme or 'a relative URL'}", url=original)
        if parts.username or parts.password:
            raise UnsafeUrl("a URL with a user name or password is not fetched", url=original, final_url=location)
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise UnsafeUrl("the URL has no host", url=original, final_url=location)
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise UnsafeUrl(f"invalid port: {exc}", url=original, final_url=location) from exc
        default_port = port == (443 if scheme == "https" else 80)
        shown_host = f"[{host}]" if ":" in host else host
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        return _Hop(
            url=location,
            scheme=scheme,
            host=host,
            port=port,
            target=target,
            host_header=shown_host if default_port else f"{shown_host}:{port}",
        )

    def _vet(self, hop: _Hop, original: str) -> list[str]:
        """The addresses of ``hop`` we may connect to; :class:`PrivateAddress` if none."""
        try:
            addresses = list(self.resolver(hop.host, hop.port))
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(exc.message, url=original, final_url=hop.url) from exc
        if not addresses:
            raise ProviderUnavailable(f"{hop.host} resolves to no address", url=original, final_url=hop.url)
        policy = self.policy
        if policy.allow_private or hop.host in policy.allowed_hosts or hop.host_header in policy.allowed_hosts:
            return addresses
        if f"{hop.host}:{hop.port}" in policy.allowed_hosts:
            return addresses
        public = [a for a in addresses if is_public_address(a)]
        if not public:
            raise PrivateAddress(
                f"{hop.host} resolves to {', '.join(addresses)}, not a public address; refused",
                url=original,
                final_url=hop.url,
            )
        return public

    def _fetch_hop(self, original: str, hop: _Hop, deadline: float) -> FetchedImage | str:
        """The image, or the ``Location`` of a redirect."""
        policy = self.policy
        with self._lock:
            failures = self._failures.get(hop.host, 0)
        if failures >= policy.host_failure_limit:
            raise ProviderUnavailable(
                f"{hop.host} failed {failures} times in a row in this run; not asked again",
                url=original,
                final_url=hop.url,
            )
        addresses = self._vet(hop, original)
        slot = self._slot(hop.host)
        if not slot.acquire(timeout=max(0.0, deadline - self.clock())):
            raise DeadlineExceeded(
                f"no free connection to {hop.host} within the {policy.deadline:g} s deadline",
                url=original,
                final_url=hop.url,
            )
        try:
            attempt = 0
            while True:
                attempt += 1
                try:
                    result = self._request(original, hop, addresses[(attempt - 1) % len(addresses)], deadline)
                except (ProviderUnavailable, DeadlineExceeded) as exc:
                    retry = isinstance(exc, ProviderUnavailable) and attempt < policy.max_attempts
                    if retry and self._pause(attempt, deadline):
                        continue
                    self._note(hop.host, ok=False)
                    if isinstance(exc, ProviderUnavailable) and attempt > 1:
                        raise ProviderUnavailable(
                            f"{exc.message} (after {attempt} tries)", url=original, final_url=hop.url, status=exc.status
                        ) from exc
                    raise
                except FetchError:
                    self._note(hop.host, ok=True)  # the host answered; this URL is the problem
                    raise
                self._note(hop.host, ok=True)
                if isinstance(result, FetchedImage):
                    return FetchedImage(
                        url=original,
                        final_url=hop.url,
                        data=result.data,
                        content_type=result.content_type,
                        address=result.address,
                        attempts=attempt,
                    )
                return result
        finally:
            slot.release()

    def _request(self, original: str, hop: _Hop, address: str, deadline: float) -> FetchedImage | str:
        policy = self.policy
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise DeadlineExceeded(f"took longer than {policy.deadline:g} s", url=original, final_url=hop.url)
        timeout = urllib3.Timeout(
            connect=min(policy.connect_timeout, remaining), read=min(policy.read_timeout, remaining)
        )
        pool: urllib3.HTTPConnectionPool
        if hop.scheme == "https":
            # Connect to the vetted address; verify the certificate for the host name.
            pool = urllib3.HTTPSConnectionPool(
                address,
                hop.port,
                timeout=timeout,
                maxsize=1,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(),
                assert_hostname=hop.host,
                server_hostname=hop.host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, hop.port, timeout=timeout, maxsize=1, retries=False)
        headers = {
            "Host": hop.host_header,
            "User-Agent": policy.user_agent,
            "Accept": "image/*, */*;q=0.1",
            "Accept-Encoding": "identity",
        }
        try:
            try:
                response = pool.urlopen(
                    "GET",
                    hop.target,
                    headers=headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    assert_same_host=False,
                    timeout=timeout,
                )
            except Urllib3Error as exc:
                if self.clock() >= deadline:
                    raise DeadlineExceeded(
                        f"took longer than {policy.deadline:g} s", url=original, final_url=hop.url
                    ) from exc
                raise ProviderUnavailable(f"{type(exc).__name__}: {exc}", url=original, final_url=hop.url) from exc
            try:
                return self._answer(original, hop, address, response, deadline)
            finally:
                response.release_conn()
        finally:
            pool.close()

    def _answer(
        self, original: str, hop: _Hop, address: str, response: urllib3.BaseHTTPResponse, deadline: float
    ) -> FetchedImage | str:
        policy = self.policy
        status = response.status
        if status in REDIRECT_STATUSES:
            location = response.headers.get("Location")
            if not location:
                raise ProviderRefused(
                    f"HTTP {status} without a Location", url=original, final_url=hop.url, status=status
                )
            return location
        if status in RETRY_STATUSES:
            raise ProviderUnavailable(f"HTTP {status}", url=original, final_url=hop.url, status=status)
        if status != 200:
            raise ProviderRefused(f"HTTP {status}", url=original, final_url=hop.url, status=status)
        content_type = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type not in UNTYPED and not content_type.startswith("image/"):
            raise NotAnImage(f"Content-Type is {content_type}, not an image", url=original, final_url=hop.url)
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.strip().isdigit() and int(announced) > policy.max_bytes:
            raise TooLarge(
                f"Content-Length {int(announced)} bytes is over the {policy.max_bytes}-byte limit; not downloaded",
                url=original,
                final_url=hop.url,
            )
        data = self._read(original, hop, response, deadline)
        if content_type in UNTYPED and not looks_like_image(data[:32]):
            raise NotAnImage(
                f"Content-Type is {content_type or 'missing'} and the bytes are not an image's",
                url=original,
                final_url=hop.url,
            )
        if policy.reject_placeholders:
            match = match_placeholder(data)
            if match is not None:
                raise PlaceholderImage(
                    f"the image is {match.placeholder.description}, not the artwork",
                    placeholder=match.placeholder.name,
                    url=original,
                    final_url=hop.url,
                )
        return FetchedImage(
            url=original, final_url=hop.url, data=data, content_type=content_type or None, address=address
        )

    def _read(self, original: str, hop: _Hop, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        """The body, in chunks as they come, within the cap and the deadline.

        ``read1`` returns whatever one socket read brings, so a slow drip is checked against
        the deadline after every few bytes; a read that blocks past it is ended by the
        watchdog shutting the socket.
        """
        policy = self.policy
        data = bytearray()
        expired = threading.Event()

        def stop_reading() -> None:
            expired.set()
            try:
                response.shutdown()
            except (ValueError, RuntimeError, OSError):
                pass

        watchdog = threading.Timer(max(0.0, deadline - self.clock()), stop_reading)
        watchdog.daemon = True
        watchdog.start()
        try:
            while True:
                if self.clock() >= deadline or expired.is_set():
                    raise DeadlineExceeded(
                        f"the body was still arriving after {policy.deadline:g} s ({len(data)} bytes so far)",
                        url=original,
                        final_url=hop.url,
                    )
                try:
                    chunk = response.read1(policy.chunk_size, decode_content=False)
                except (Urllib3Error, OSError) as exc:
                    if expired.is_set() or self.clock() >= deadline:
                        raise DeadlineExceeded(
                            f"the body was still arriving after {policy.deadline:g} s ({len(data)} bytes so far)",
                            url=original,
                            final_url=hop.url,
                        ) from exc
                    raise ProviderUnavailable(
                        f"connection lost after {len(data)} bytes: {exc}", url=original, final_url=hop.url
                    ) from exc
                if not chunk:
                    if expired.is_set():
                        raise DeadlineExceeded(
                            f"the body was still arriving after {policy.deadline:g} s ({len(data)} bytes so far)",
                            url=original,
                            final_url=hop.url,
                        )
                    return bytes(data)
                data += chunk
                if len(data) > policy.max_bytes:
                    raise TooLarge(
                        f"more than {policy.max_bytes} bytes (no or a wrong Content-Length); reading stopped",
                        url=original,
                        final_url=hop.url,
                    )
        finally:
            watchdog.cancel()

    # -- bookkeeping --------------------------------------------------------------------------

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = self._slots[host] = threading.BoundedSemaphore(max(1, self.policy.per_host_connections))
            return slot

    def _note(self, host: str, *, ok: bool) -> None:
        with self._lock:
            self._failures[host] = 0 if ok else self._failures.get(host, 0) + 1

    def _pause(self, attempt: int, deadline: float) -> bool:
        """Wait before try ``attempt + 1``; ``False`` when the wait would cross the deadline."""
        wait = self.rng.uniform(0.0, self.policy.retry_delay * (2 ** (attempt - 1)))
        if self.clock() + wait >= deadline:
            return False
        self.sleep(wait)
        return True
