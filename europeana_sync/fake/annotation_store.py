"""In-memory annotations with the Annotations API's rules for tagging.

Validation messages are the API's own (its ``messages_en.properties``), so a client that
parses them — above all the duplicate refusal — is tested against the real wording:

* ``Invalid annotation target base url, which should contain: http://data.europeana.eu/item.``
* ``Invalid tag size. Must be shorter then 64 characters! tag.size: <n>`` (sic)
* ``Invalid tag format. A tag can't contain URLs! tag.format: <value>``
* ``Missing mandatory field! body``
* ``Found duplicate annotations with the ids: <n>[,<n>...]``

Uniqueness is per record and body, across creators, as in the real service; deletion is
soft (the annotation stays, GET answers 410).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ITEM_BASE = "http://data.europeana.eu/item"
ANNOTATION_BASE = "http://data.europeana.eu/annotation/"
USER_BASE = "http://data.europeana.eu/user/"
PROVIDER_BASE = "http://data.europeana.eu/provider/"
MAX_TAG_LENGTH = 64

_URL = re.compile(r"^(https?|ftp)://\S+$", re.I)
_SEARCH_TERM = re.compile(r'(?P<field>[A-Za-z_]+):(?P<value>"[^"]*"|\S+)|(?P<free>"[^"]*"|\S+)')


class AnnotationRefused(Exception):
    """A request the real API would refuse; carries status and message for the error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StoredAnnotation:
    number: int
    motivation: str
    body: Any  # URI string (semantic tag) or {"value": ..., "language"?: ...}
    target: str
    creator: str
    generator: str
    created: str
    deleted: bool = False

    @property
    def id(self) -> str:
        return f"{ANNOTATION_BASE}{self.number}"

    @property
    def record_id(self) -> str:
        return self.target[len(ITEM_BASE) :] if self.target.startswith(ITEM_BASE) else self.target

    @property
    def body_uri(self) -> str | None:
        if isinstance(self.body, str):
            return self.body
        if isinstance(self.body, dict):
            return self.body.get("id") or (
                self.body.get("source") if self.body.get("type") == "SpecificResource" else None
            )
        return None

    @property
    def body_value(self) -> str | None:
        return self.body.get("value") if isinstance(self.body, dict) else None

    @property
    def uniqueness_key(self) -> tuple[str, str, str, str]:
        if self.body_uri:
            return (self.record_id, self.motivation, "uri", self.body_uri)
        if isinstance(self.body, dict) and self.body.get("type") in _ENTITY_CHECKS:
            return (self.record_id, self.motivation, "entity", json.dumps(self.body, sort_keys=True))
        language = self.body.get("language", "") if isinstance(self.body, dict) else ""
        return (self.record_id, self.motivation, f"value@{language}", self.body_value or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "@context": "http://www.w3.org/ns/anno.jsonld",
            "id": self.id,
            "type": "Annotation",
            "created": self.created,
            "creator": {"id": USER_BASE + self.creator, "type": "Person", "name": self.creator},
            "generated": self.created,
            "generator": {"id": PROVIDER_BASE + self.generator, "type": "Software", "name": self.generator},
            "motivation": self.motivation,
            "body": self.body,
            "target": self.target,
        }


def _coordinate(value: Any, limit: float) -> bool:
    """A decimal degree written with a point, within ±limit (the API refuses "8,853415")."""
    try:
        number = float(value) if isinstance(value, (str, int, float)) and "," not in str(value) else None
    except ValueError:
        number = None
    return number is not None and -limit <= number <= limit


def _place_problem(body: dict[str, Any]) -> str | None:
    for key, limit in (("lat", 90.0), ("long", 180.0)):
        if not _coordinate(body.get(key), limit):
            return f"Invalid value for property! place.{key}: {body.get(key)}"
    return None


def _address_problem(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("streetAddress"), str) or not body["streetAddress"].strip():
        return "Missing mandatory field! address.streetAddress"
    return None


def _agent_problem(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("prefLabel"), dict) or not body["prefLabel"]:
        return "Missing mandatory field! agent.prefLabel"
    return None


#: Entity bodies (``type`` Place, Address, Agent) and what makes one invalid.
_ENTITY_CHECKS = {"Place": _place_problem, "Address": _address_problem, "Agent": _agent_problem}


def validate_tagging(payload: Any) -> tuple[Any, str]:
    """``(body, target)`` of a valid tagging annotation, else :class:`AnnotationRefused`."""
    if not isinstance(payload, dict):
        raise AnnotationRefused(400, "Cannot parse body to annotation!")
    motivation = payload.get("motivation")
    if motivation != "tagging":
        raise AnnotationRefused(400, "Invalid value for property motivation. Expected value: tagging")
    if payload.get("id"):
        raise AnnotationRefused(
            400, f"Identifier must not be set when creating a new Annotation for the given provider! {payload['id']}"
        )
    body = payload.get("body")
    if body is None and isinstance(payload.get("bodyValue"), str):
        body = {"value": payload["bodyValue"]}
    if body is None or body == {} or body == "":
        raise AnnotationRefused(400, "Missing mandatory field! body")
    target = payload.get("target")
    if isinstance(target, dict):
        target = target.get("source") or target.get("id")
    if not isinstance(target, str) or not target:
        raise AnnotationRefused(400, "Missing mandatory field! target")
    if ITEM_BASE not in target:
        raise AnnotationRefused(400, f"Invalid annotation target base url, which should contain: {ITEM_BASE}.")
    if isinstance(body, str):
        if not _URL.match(body.strip()):
            raise AnnotationRefused(400, f"Invalid tag format The internal id must be an URL! body.id {body}")
        return body.strip(), target
    if not isinstance(body, dict):
        raise AnnotationRefused(400, "Cannot parse body to annotation!")
    if isinstance(body.get("id"), str):
        if not _URL.match(body["id"]):
            raise AnnotationRefused(400, f"Invalid tag format The internal id must be an URL! body.id {body['id']}")
        return body, target
    # Bodies the real API accepts besides a URI or a text value, checked against the request
    # bodies of europeana/annotation's own integration tests (annotation-tests, commit 0b4b12d7,
    # AnnotationCreateIT: createSemanticTagSpecificMinimal, createSemanticTagEntity, createGeoTag,
    # createSemanticTagWithVcardAddress answer 201; createWrongGeoTagLat/Long and
    # createTaggingAnnoBodyAddressWithout{Type,StreetAddress} answer 400). The wording of those
    # refusals is not recorded there; the messages below follow the API's "Missing mandatory
    # field!" / "Invalid value" pattern.
    kind = body.get("type")
    if kind == "SpecificResource":
        source = body.get("source")
        if not isinstance(source, str) or not _URL.match(source):
            raise AnnotationRefused(400, f"Invalid tag format The internal id must be an URL! body.source {source}")
        return body, target
    if kind in _ENTITY_CHECKS:
        problem = _ENTITY_CHECKS[kind](body)
        if problem:
            raise AnnotationRefused(400, problem)
        return body, target
    value = body.get("value")
    if not isinstance(value, str) or not value.strip():
        raise AnnotationRefused(400, "Missing mandatory field! tag.body.value")
    value = value.strip()
    if value.startswith('"'):
        value = value[1:].strip()
    if value.endswith('"'):
        value = value[:-1].strip()
    if _URL.match(value):
        raise AnnotationRefused(400, f"Invalid tag format. A tag can't contain URLs! tag.format: {value}")
    if len(value) > MAX_TAG_LENGTH:
        raise AnnotationRefused(400, f"Invalid tag size. Must be shorter then 64 characters! tag.size: {len(value)}")
    return {**body, "value": value}, target


class AnnotationStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, StoredAnnotation] = {}
        self._next = 1

    def create(self, payload: Any, *, creator: str, generator: str) -> StoredAnnotation:
        body, target = validate_tagging(payload)
        with self._lock:
            candidate = StoredAnnotation(
                number=self._next,
                motivation="tagging",
                body=body,
                target=target,
                creator=creator,
                generator=generator,
                created=_now(),
            )
            duplicates = [
                a.number for a in self._items.values() if not a.deleted and a.uniqueness_key == candidate.uniqueness_key
            ]
            if duplicates:
                raise AnnotationRefused(
                    400, "Found duplicate annotations with the ids: " + ",".join(str(n) for n in duplicates)
                )
            self._items[candidate.number] = candidate
            self._next += 1
            return candidate

    def get(self, number: int) -> StoredAnnotation | None:
        with self._lock:
            return self._items.get(number)

    def delete(self, number: int) -> None:
        with self._lock:
            self._items[number].deleted = True

    def all(self, *, include_deleted: bool = False) -> list[StoredAnnotation]:
        with self._lock:
            return [a for a in self._items.values() if include_deleted or not a.deleted]

    def search(self, query: str, filters: list[str]) -> list[StoredAnnotation]:
        """Subset of the API's Solr fields: ``target_record_id``, ``target_uri``, ``body_uri``,
        ``body_value``, ``motivation``, ``creator_name``, ``generator_name``, ``anno_id``;
        ``*:*`` for everything, bare words match tag values and body URIs."""
        terms = []
        for text in [query, *filters]:
            text = (text or "").strip()
            if text in ("", "*", "*:*"):
                continue
            for match in _SEARCH_TERM.finditer(text):
                if match.group("free") in ("AND", "&&"):
                    continue
                field = (match.group("field") or "").lower()
                value = (match.group("value") or match.group("free") or "").strip('"')
                terms.append((field, value))
        return [a for a in self.all() if all(self._matches(a, f, v) for f, v in terms)]

    @staticmethod
    def _matches(annotation: StoredAnnotation, field: str, value: str) -> bool:
        candidates = {
            "target_record_id": [annotation.record_id],
            "target_uri": [annotation.target],
            "body_uri": [annotation.body_uri or ""],
            "body_value": [annotation.body_value or ""],
            "motivation": [annotation.motivation],
            "creator_name": [annotation.creator],
            "generator_name": [annotation.generator],
            "anno_id": [str(annotation.number)],
        }.get(field)
        if candidates is None:
            candidates = [annotation.body_value or "", annotation.body_uri or ""]
            return any(value.lower() in c.lower() for c in candidates)
        if value == "*":
            return any(candidates)
        return value in candidates
