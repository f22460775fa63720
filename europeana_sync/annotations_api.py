"""Client of the Europeana Annotations API: tagging annotations on records.

Our labels travel as *tagging* annotations. A label with a vocabulary URI becomes a semantic
tag whose body is the URI itself (``"body": "http://www.wikidata.org/entity/Q40415"``, as in
the API's ``semantictag/simple_minimal.json``); a label without one becomes a plain tag
(``"body": {"value": "impressionism"}``, as in ``tag/minimal.json``).

The API refuses a second identical tag on a record, from anyone, with 400 "Found duplicate
annotations with the ids: …". That refusal is how re-runs stay idempotent, so it surfaces as
:class:`DuplicateAnnotation` carrying the existing ids rather than as a generic error.

Everything the API would refuse for its shape (target not a ``http://data.europeana.eu/item/``
URI, plain tag longer than 64 characters, empty tag) is refused here first, before a request
is spent, with :class:`AnnotationValidationError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    AnnotationValidationError,
    BadRequest,
    DuplicateAnnotation,
    Forbidden,
    Gone,
    MalformedResponse,
    MissingScope,
)
from .http import Authenticator, RetryingSession
from .record_ids import is_item_uri, item_uri, normalize_record_id

DEFAULT_BASE_URL = "https://api.europeana.eu"
ANNOTATION_URI_BASE = "http://data.europeana.eu/annotation/"
#: The service names the creator of an annotation ``<this>/<token sub>``
#: (``annotation.user.data.endpoint`` + ``AnnotationIdHelper.buildCreatorUri``).
USER_URI_BASE = "http://data.europeana.eu/user/"
#: The scope writes need (api-commons ``OAuthUtils.verifyScope``).
ANNOTATIONS_SCOPE = "annotations"
MAX_TAG_LENGTH = 64
MAX_PAGE_SIZE = 100

_DUPLICATE = re.compile(r"Found duplicate annotations with the ids:\s*(?P<ids>.*)", re.S)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_HTTP_URI = re.compile(r"^https?://[^\s/?#]+[^\s]*$")

TagBody = str | dict[str, str]


def annotation_uri(annotation_id: str | int) -> str:
    """``123`` / ``"123"`` / the URI itself → ``http://data.europeana.eu/annotation/123``."""
    return ANNOTATION_URI_BASE + annotation_number(annotation_id)


def annotation_number(annotation_id: str | int) -> str:
    """The numeric identifier used in API paths (``/annotation/<n>``)."""
    text = str(annotation_id).strip().rstrip("/")
    number = text.rsplit("/", 1)[-1]
    if not number.isdigit():
        raise ValueError(f"not an annotation id: {annotation_id!r}")
    return number


def normalize_tag_text(text: str) -> str:
    """What the API stores for a plain tag: trimmed, one pair of outer quotes removed.

    Applied before sending so the local record × body map and the server agree on the value.
    """
    value = text.strip()
    if value.startswith('"'):
        value = value[1:].strip()
    if value.endswith('"'):
        value = value[:-1].strip()
    return value


def tag_body(body_uri_or_text: str, *, language: str | None = None) -> TagBody:
    """The ``body`` of a tagging annotation, validated; see the module docstring."""
    if not isinstance(body_uri_or_text, str):
        raise AnnotationValidationError(f"tag body must be a string, got {type(body_uri_or_text).__name__}")
    candidate = body_uri_or_text.strip()
    if _URI.match(candidate):
        if not _HTTP_URI.match(candidate):
            raise AnnotationValidationError(f"semantic tag body must be an http(s) URI without spaces: {candidate!r}")
        return candidate
    value = normalize_tag_text(candidate)
    if not value:
        raise AnnotationValidationError("a plain-text tag must not be empty")
    if len(value) > MAX_TAG_LENGTH:
        raise AnnotationValidationError(
            f"plain-text tag is {len(value)} characters; the API allows at most {MAX_TAG_LENGTH}: {value[:80]!r}"
        )
    body = {"value": value}
    if language:
        body["language"] = language
    return body


def tag_target(target_record_id: str) -> str:
    try:
        target = item_uri(target_record_id)
    except ValueError as exc:
        raise AnnotationValidationError(str(exc)) from exc
    if not is_item_uri(target):  # belt and braces: this is the API's own rule
        raise AnnotationValidationError(f"target must be a http://data.europeana.eu/item/ URI: {target!r}")
    return target


def tagging_annotation(target_record_id: str, body_uri_or_text: str, *, language: str | None = None) -> dict[str, Any]:
    """The request body of :meth:`AnnotationsClient.create_tag`, exactly as sent."""
    return {
        "motivation": "tagging",
        "body": tag_body(body_uri_or_text, language=language),
        "target": tag_target(target_record_id),
    }


def _agent_id(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


@dataclass(frozen=True)
class Annotation:
    """An annotation as the API returns it (standard profile)."""

    id: str
    motivation: str | None
    body: TagBody | None
    target: str | None
    creator: str | None = None
    generator: str | None = None
    created: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def body_uri(self) -> str | None:
        if isinstance(self.body, str):
            return self.body
        if isinstance(self.body, Mapping):
            return self.body.get("id") or None
        return None

    @property
    def body_value(self) -> str | None:
        return self.body.get("value") if isinstance(self.body, Mapping) else None

    @property
    def target_record_id(self) -> str | None:
        try:
            return normalize_record_id(self.target) if self.target else None
        except ValueError:
            return None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Annotation:
        body: Any = data.get("body")
        if body is None and isinstance(data.get("bodyValue"), str):
            body = {"value": data["bodyValue"]}
        target: Any = data.get("target")
        if isinstance(target, Mapping):
            target = target.get("source") or target.get("id") or target.get("scope")
        elif isinstance(target, list):
            target = next((t for t in target if isinstance(t, str)), None)
        return cls(
            id=annotation_uri(data["id"]),
            motivation=data.get("motivation"),
            body=body if isinstance(body, (str, dict)) else None,
            target=target if isinstance(target, str) else None,
            creator=_agent_id(data.get("creator")),
            generator=_agent_id(data.get("generator")),
            created=data.get("created"),
            raw=data,
        )


def duplicate_ids(message: str) -> list[str] | None:
    """Annotation URIs named in a duplicate refusal, or ``None`` if it is not one.

    Accepts the API's message (``...ids: 12,15``) and, defensively, raw JSON text around it;
    the ids are numbers or annotation URIs, so every number up to the closing quote is one.
    """
    match = _DUPLICATE.search(message or "")
    if not match:
        return None
    listed = match.group("ids").split('"', 1)[0]
    return [annotation_uri(number) for number in re.findall(r"\d+", listed)]


class AnnotationsClient:
    """Create, find and delete tagging annotations.

    Reads send the API key (``X-Api-Key``); writes also send the Bearer token of
    ``token_provider``, which the HTTP layer refreshes once on a 401.
    """

    def __init__(
        self,
        api_key: str,
        token_provider: Authenticator | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: RetryingSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_provider = token_provider
        self.http = (http or RetryingSession()).with_headers(
            {"X-Api-Key": api_key, "Accept": "application/ld+json, application/json"}
        )

    def _writer(self) -> Authenticator:
        if self.token_provider is None:
            raise RuntimeError("writing annotations needs a token provider (OIDC credentials)")
        return self.token_provider

    def creator_uri(self) -> str | None:
        """Who the service names as the creator of what we write, from our own token's
        ``sub``; ``None`` when the token provider cannot tell (an opaque token)."""
        subject = getattr(self.token_provider, "subject", None)
        sub = subject() if callable(subject) else None
        return USER_URI_BASE + sub if isinstance(sub, str) and sub else None

    def missing_scope(self) -> str | None:
        """The granted scope string when the token lacks ``annotations``, else ``None``
        (also ``None`` when the provider cannot say)."""
        has_scope = getattr(self.token_provider, "has_scope", None)
        if not callable(has_scope) or has_scope(ANNOTATIONS_SCOPE):
            return None
        granted = getattr(self.token_provider, "granted_scopes", None)
        return " ".join(sorted(granted())) if callable(granted) else ""

    def _explain_forbidden(self, exc: Forbidden) -> Forbidden:
        """A 403 from a token without the scope becomes :class:`MissingScope` saying so."""
        granted = self.missing_scope()
        if granted is None:
            return exc
        return MissingScope(
            f"the token has no '{ANNOTATIONS_SCOPE}' scope (granted: {granted or 'none'}), so the Annotations "
            f"API refuses writes ({exc.message}); ask Europeana to give your OIDC client the "
            f"'{ANNOTATIONS_SCOPE}' client scope, and request it (the default)",
            required=ANNOTATIONS_SCOPE,
            granted=granted,
            url=exc.url,
            body=exc.body,
        )

    def create_tag(self, target_record_id: str, body_uri_or_text: str, *, language: str | None = None) -> str:
        """Tag a record; returns the new annotation's URI.

        Raises :class:`DuplicateAnnotation` (with the existing ids) when the same tag exists.
        """
        payload = tagging_annotation(target_record_id, body_uri_or_text, language=language)
        return self.create(payload).id

    def create(self, annotation: Mapping[str, Any]) -> Annotation:
        """POST any annotation body; prefer :meth:`create_tag`, which validates first."""
        try:
            payload = self.http.request_json(
                "POST", f"{self.base_url}/annotation/", json=dict(annotation), authenticator=self._writer()
            )
        except BadRequest as exc:
            ids = duplicate_ids(exc.message)
            if ids is not None:
                raise DuplicateAnnotation(ids, exc.message, url=exc.url, body=exc.body) from exc
            raise
        except Forbidden as exc:
            explained = self._explain_forbidden(exc)
            if explained is exc:
                raise
            raise explained from exc
        if not isinstance(payload, Mapping) or "id" not in payload:
            raise MalformedResponse(
                None, f"the created annotation came back without an id: {str(payload)[:200]!r}", url=self.base_url
            )
        return Annotation.from_json(payload)

    def get(self, annotation_id: str | int) -> Annotation:
        """One annotation; :class:`~europeana_sync.errors.Gone` if it was deleted."""
        payload = self.http.get_json(f"{self.base_url}/annotation/{annotation_number(annotation_id)}")
        return Annotation.from_json(payload)

    def delete(self, annotation_id: str | int) -> bool:
        """Soft-delete (a later GET answers 410). ``False`` if it was already deleted,
        so a curator's repeated "reject" is not an error."""
        try:
            self.http.request(
                "DELETE", f"{self.base_url}/annotation/{annotation_number(annotation_id)}", authenticator=self._writer()
            )
        except Gone:
            return False
        except Forbidden as exc:
            explained = self._explain_forbidden(exc)
            if explained is exc:
                raise
            raise explained from exc
        return True

    def search(
        self, query: str = "*:*", qf: Sequence[str] = (), *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[Annotation]:
        """All annotations matching ``query``/``qf``, page by page (``page`` is 0-based)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        page = 0
        while True:
            params: list[tuple[str, str]] = [
                ("query", query),
                ("pageSize", str(page_size)),
                ("page", str(page)),
                ("profile", "standard"),
            ]
            params += [("qf", f) for f in qf]
            payload = self.http.get_json(f"{self.base_url}/annotation/search", params=params)
            items = payload.get("items") or []
            for item in items:
                if isinstance(item, Mapping):
                    yield Annotation.from_json(item)
                elif isinstance(item, str):  # minimal profile: ids only
                    yield Annotation(id=annotation_uri(item), motivation=None, body=None, target=None)
            if not items or not payload.get("next"):
                return
            page += 1

    def tags_on(self, record_id: str) -> list[Annotation]:
        """Tagging annotations on one record (any creator): what is already there."""
        rid = normalize_record_id(record_id)
        return list(self.search(f'target_record_id:"{rid}"', qf=["motivation:tagging"]))
