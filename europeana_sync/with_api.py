"""Client of the WITH platform (ails-lab/with): login session, annotations, collections.

WITH keeps a cookie session after ``POST /user/login``. ``UserManager.login`` reads only
the ``email`` key of the body and looks its value up as an email, then as a username, so
the login (an email or a username) is always sent as ``{"email": …}``. Every refusal is a
400 (``{"error": {"email": "Need Email or Username"}}``, ``… "Invalid Email Address or
Username"``, ``{"error": {"password": "Invalid Password"}}``), raised here as
:class:`~europeana_sync.errors.LoginRefused`, a credentials error: the push stops at once
and logs in no more.

When the session expires, adding an annotation answers 400 ``{"error": "User not logged
in"}`` rather than 401; :class:`WithSession` teaches the shared HTTP layer that this answer
means "log in again and resend once". Deleting answers no such thing:
``AnnotationController.deleteAnnotation`` never checks for a user and fails with an empty
500 or 403 instead, so :meth:`WithClient.delete_annotation` asks ``GET /user/me`` whether
the session is gone, and then logs in and deletes again once.

Wire shapes follow WITH's source (``AnnotationController``: ``motivation``, a ``body`` with
``uri``/``label``, a ``target`` by WITH ``recordId`` or provider ``externalId``, top-level
``generator`` and ``confidence``). WITH answers a second identical annotation by returning
the existing one, so adding is idempotent on the server as well as in our job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from .edm import first_value
from .errors import ApiError, BadRequest, Forbidden, LoginRefused, NotFound
from .http import RetryingSession

log = logging.getLogger(__name__)

NOT_LOGGED_IN = "user not logged in"
#: What a delete answers when the session has expired (``deleteAnnotation``: an
#: ArrayIndexOutOfBounds on a one-word generator → 500, a campaign generator → 403).
DELETE_EXPIRY_STATUSES = frozenset({403, 500})


@dataclass(frozen=True)
class WithUser:
    id: str | None
    username: str | None
    email: str | None


@dataclass(frozen=True)
class WithAnnotation:
    id: str | None
    record_id: str | None
    external_id: str | None
    motivation: str | None
    body_uri: str | None
    label: str | None
    confidence: float | None = None
    generator: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WithAnnotation:
        body = data.get("body") if isinstance(data.get("body"), Mapping) else {}
        target = data.get("target") if isinstance(data.get("target"), Mapping) else {}
        admins = data.get("annotators") if isinstance(data.get("annotators"), list) else []
        first_admin = admins[0] if admins and isinstance(admins[0], Mapping) else {}
        confidence = data.get("confidence", body.get("confidence", first_admin.get("confidence")))
        generator = data.get("generator", first_admin.get("generator"))
        return cls(
            id=first_value(data.get("dbId")) or first_value(data.get("id")),
            record_id=first_value(target.get("recordId")),
            external_id=first_value(target.get("externalId")),
            motivation=first_value(data.get("motivation")),
            body_uri=first_value(body.get("uri")),
            label=first_value(body.get("label")),
            confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
            generator=generator if isinstance(generator, str) else None,
            raw=data,
        )


@dataclass(frozen=True)
class WithRecord:
    id: str
    external_id: str | None
    title: str | None
    image_url: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WithRecord:
        admin = data.get("administrative") if isinstance(data.get("administrative"), Mapping) else {}
        described = data.get("descriptiveData") if isinstance(data.get("descriptiveData"), Mapping) else {}
        image = None
        for media in data.get("media") or ():
            if isinstance(media, Mapping):
                for kind in ("Original", "Medium", "Thumbnail"):
                    entry = media.get(kind)
                    if isinstance(entry, Mapping) and entry.get("url"):
                        image = str(entry["url"])
                        break
            if image:
                break
        return cls(
            id=str(data.get("dbId") or data.get("id")),
            external_id=first_value(admin.get("externalId")),
            title=first_value(described.get("label")),
            image_url=image,
            raw=data,
        )


class WithSession:
    """The login session as an :class:`~europeana_sync.http.Authenticator`.

    The cookie lives in the shared ``requests.Session``; this object only knows whether we
    logged in and how to do it again.
    """

    def __init__(self, client: WithClient) -> None:
        self._client = client
        self.logged_in = False
        self.logins = 0
        #: A refused login is remembered: asking again with the same password cannot
        #: succeed, and would only repeat the refusal once per label.
        self.refused: LoginRefused | None = None

    def auth_headers(self) -> Mapping[str, str]:
        if self.refused is not None:
            raise self.refused
        if not self.logged_in:
            self.refresh()
        return {}

    def is_rejection(self, response: requests.Response) -> bool:
        return response.status_code in (400, 401) and NOT_LOGGED_IN in (response.text or "").lower()

    def refresh(self) -> None:
        self._client.login()


class WithClient:
    """Session-authenticated client; every call logs in lazily and re-logs-in once if needed."""

    def __init__(self, base_url: str, *, username: str, password: str, http: RetryingSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        # WITH's session is a cookie: give it its own cookie jar, never shared with Europeana.
        base = http or RetryingSession()
        self.http = RetryingSession(
            base.policy,
            session=requests.Session(),
            default_headers={**base.default_headers, "Accept": "application/json"},
            sleep=base.sleep,
            clock=base.clock,
            rng=base.rng,
        )
        self.session = WithSession(self)
        self.user: WithUser | None = None

    def login(self) -> WithUser:
        """Log in (``{"email": <email or username>, "password": …}``); :class:`LoginRefused`
        on a wrong login or password, which :class:`WithSession` then remembers."""
        if self.session.refused is not None:
            raise self.session.refused
        try:
            data = self.http.request_json(
                "POST", f"{self.base_url}/user/login", json={"email": self.username, "password": self._password}
            )
        except (BadRequest, NotFound) as exc:
            refused = LoginRefused(
                exc.status,
                f"WITH refused the login of {self.username!r} ({exc.message}); check WITH_USERNAME and WITH_PASSWORD",
                url=exc.url,
                body=exc.body,
            )
            self.session.logged_in = False
            self.session.refused = refused
            raise refused from exc
        data = data if isinstance(data, Mapping) else {}
        self.user = WithUser(
            id=first_value(data.get("dbId")) or first_value(data.get("id")),
            username=first_value(data.get("username")),
            email=first_value(data.get("email")),
        )
        self.session.logged_in = True
        self.session.logins += 1
        return self.user

    def add_annotation(
        self,
        *,
        body_uri: str,
        label: str,
        record_id: str | None = None,
        external_id: str | None = None,
        language: str = "en",
        confidence: float | None = None,
        generator: str = "artsnap",
        motivation: str = "Tagging",
    ) -> WithAnnotation:
        """Tag a WITH record (by WITH ``record_id`` or the provider's ``external_id``, e.g. a
        Europeana record id). Returns the stored annotation, existing or new."""
        if not (record_id or external_id):
            raise ValueError("record_id or external_id is required")
        if not body_uri.startswith(("http://", "https://")):
            raise ValueError(f"body_uri must be an http(s) vocabulary URI: {body_uri!r}")
        target: dict[str, str] = {}
        if record_id:
            target["recordId"] = record_id
        if external_id:
            target["externalId"] = external_id
        body: dict[str, Any] = {"uri": body_uri, "label": {"default": [label], language: [label]}}
        payload: dict[str, Any] = {"motivation": motivation, "body": body, "target": target, "generator": generator}
        if confidence is not None:
            payload["confidence"] = float(confidence)
        data = self.http.request_json(
            "POST", f"{self.base_url}/record/annotation", json=payload, authenticator=self.session
        )
        return WithAnnotation.from_json(data if isinstance(data, Mapping) else {})

    def delete_annotation(self, annotation_id: str) -> bool:
        """Withdraw our part of an annotation: WITH removes us from its annotators, and the
        annotation itself when we were its only annotator (``AnnotationController.
        deleteAnnotation``). ``False`` when it no longer exists (WITH answers 400 then), so
        a repeated withdrawal is not an error.

        A 403 or 500 is first taken for an expired session (the only way WITH says so on a
        delete): when ``GET /user/me`` confirms it, we log in again and delete once more.
        Otherwise — or if the second try fails the same way — it is raised
        (:class:`~europeana_sync.errors.Forbidden` / :class:`~europeana_sync.errors.ApiError`).
        """
        url = f"{self.base_url}/annotation/{annotation_id}"
        for attempt in (1, 2):
            try:
                self.http.request(
                    "DELETE", url, authenticator=self.session, no_retry_statuses=frozenset(DELETE_EXPIRY_STATUSES)
                )
            except (BadRequest, NotFound):
                return False
            except (Forbidden, ApiError) as exc:
                if exc.status not in DELETE_EXPIRY_STATUSES or attempt == 2 or self.session_alive():
                    raise
                log.info("WITH answered %s to a delete and the session has expired; logging in again", exc.status)
                self.session.logged_in = False
                self.login()
                continue
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    def session_alive(self) -> bool:
        """Whether WITH still knows our session (``GET /user/me``: 200 with the user, an
        empty 400 without one). Anything else counts as "not alive": logging in once more
        costs one request, a withdrawal that never happens costs a wrong tag."""
        try:
            self.http.request("GET", f"{self.base_url}/user/me")
        except ApiError:
            return False
        return True

    def list_annotations(self, record_id: str) -> list[WithAnnotation]:
        payload = self.http.get_json(f"{self.base_url}/record/{record_id}/listAnnotations", authenticator=self.session)
        items = payload.get("annotations", []) if isinstance(payload, Mapping) else payload
        return [WithAnnotation.from_json(a) for a in items or () if isinstance(a, Mapping)]

    def collection_records(self, collection_id: str, *, page_size: int = 50) -> Iterator[WithRecord]:
        """All records of a collection, ``start``/``count`` page by page."""
        start = 0
        while True:
            payload = self.http.get_json(
                f"{self.base_url}/collection/{collection_id}/list",
                params={"start": start, "count": page_size},
                authenticator=self.session,
            )
            records = payload.get("records") or []
            for raw in records:
                if isinstance(raw, Mapping):
                    yield WithRecord.from_json(raw)
            start += len(records)
            total = payload.get("entryCount")
            if not records or (isinstance(total, int) and start >= total):
                return
