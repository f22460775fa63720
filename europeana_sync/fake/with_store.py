"""State of the fake WITH platform: its copies of the records, sessions and annotations.

Every Europeana record the fake serves is also a WITH record (``externalId`` = the Europeana
record id) in one collection, as if a curator had imported the pulled collection into WITH.
WITH ids are 24-hex ObjectIds, derived from the record id so they are stable across runs.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..edm import first_value
from .record_store import StoredRecord

DEMO_COLLECTION_NAME = "artsnap demo collection"


def object_id(seed: str) -> str:
    """A stable 24-hex id shaped like MongoDB's ObjectId."""
    return hashlib.sha1(seed.encode()).hexdigest()[:24]


@dataclass
class WithSessionEntry:
    email: str
    user_id: str
    expires_at: float
    username: str = ""


@dataclass
class WithAnnotationEntry:
    db_id: str
    record_id: str
    external_id: str | None
    motivation: str
    body: dict[str, Any]
    generator: str | None
    confidence: float | None
    annotators: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dbId": self.db_id,
            "annotationWithURI": f"/annotation/{self.db_id}",
            "motivation": self.motivation,
            "body": self.body,
            "target": {
                "recordId": self.record_id,
                "externalId": self.external_id,
                "withURI": f"/record/{self.record_id}",
            },
            "annotators": [
                {"withCreator": user, "generator": self.generator, "confidence": self.confidence}
                for user in self.annotators
            ],
        }


class WithRefused(Exception):
    """A refusal; ``message`` ``""`` is WITH's empty-bodied ``badRequest()`` /
    ``forbidden()`` / ``internalServerError()``; ``detail`` a field → message error object."""

    def __init__(self, status: int, message: str, detail: dict[str, str] | None = None) -> None:
        super().__init__(message or (str(detail) if detail else f"HTTP {status}"))
        self.status = status
        self.message = message
        self.detail = detail


class WithStore:
    def __init__(
        self,
        records: Iterable[StoredRecord],
        users: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        usernames: Mapping[str, str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._users = dict(users)
        self._usernames = dict(usernames or {})
        self.collection_id = object_id("collection:" + DEMO_COLLECTION_NAME)
        self.records: dict[str, dict[str, Any]] = {}
        self._by_external: dict[str, str] = {}
        for stored in records:
            db_id = object_id("record:" + stored.record_id)
            image = first_value(stored.item.get("edmIsShownBy")) or first_value(stored.item.get("edmPreview"))
            self.records[db_id] = {
                "dbId": db_id,
                "administrative": {"externalId": stored.record_id, "withURI": f"/record/{db_id}"},
                "descriptiveData": {"label": {"default": [first_value(stored.item.get("title")) or stored.record_id]}},
                "provenance": [{"provider": "Europeana", "resourceId": stored.record_id}],
                "media": [{"Original": {"url": image}}] if image else [],
            }
            self._by_external[stored.record_id] = db_id
        self._sessions: dict[str, WithSessionEntry] = {}
        self._annotations: dict[str, WithAnnotationEntry] = {}
        self._annotations_made = 0  # ids stay unique after deletions
        self.logins = 0

    # -- sessions -------------------------------------------------------------------------

    def login(self, email_or_username: str, password: str, lifetime: float) -> tuple[str, WithSessionEntry]:
        """``UserManager.login``: the value is looked up as an email, then as a username."""
        email = email_or_username if email_or_username in self._users else self._usernames.get(email_or_username)
        if email is None:
            raise WithRefused(400, "", {"email": "Invalid Email Address or Username"})
        if self._users[email] != password:
            raise WithRefused(400, "", {"password": "Invalid Password"})
        username = next((name for name, mail in self._usernames.items() if mail == email), email.split("@")[0])
        entry = WithSessionEntry(
            email=email, user_id=object_id("user:" + email), expires_at=self._clock() + lifetime, username=username
        )
        session_id = secrets.token_urlsafe(16)
        with self._lock:
            self._sessions[session_id] = entry
            self.logins += 1
        return session_id, entry

    def session(self, session_id: str | None) -> WithSessionEntry | None:
        if not session_id:
            return None
        with self._lock:
            entry = self._sessions.get(session_id)
        if entry is None or self._clock() >= entry.expires_at:
            return None
        return entry

    def expire_sessions(self) -> int:
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    # -- annotations ----------------------------------------------------------------------

    def resolve_record(self, target: Mapping[str, Any]) -> str:
        record_id = target.get("recordId")
        if isinstance(record_id, str) and record_id in self.records:
            return record_id
        external = target.get("externalId")
        if isinstance(external, str) and external in self._by_external:
            return self._by_external[external]
        raise WithRefused(400, "Record not found")

    def add_annotation(self, payload: Any, user_id: str) -> WithAnnotationEntry:
        """WITH's rule: an identical annotation is not duplicated; the caller joins its annotators."""
        if not isinstance(payload, dict):
            raise WithRefused(400, "Invalid JSON")
        body = payload.get("body")
        target = payload.get("target")
        motivation = payload.get("motivation")
        if not isinstance(body, dict) or not isinstance(target, dict) or not isinstance(motivation, str):
            raise WithRefused(400, "Invalid annotation: motivation, body and target are required")
        if not (body.get("uri") or body.get("label")):
            raise WithRefused(400, "Invalid annotation body: uri or label is required")
        record_id = self.resolve_record(target)
        confidence = payload.get("confidence", body.get("confidence"))
        with self._lock:
            for existing in self._annotations.values():
                if (
                    existing.record_id == record_id
                    and existing.motivation == motivation
                    and existing.body.get("uri") == body.get("uri")
                    and (body.get("uri") or existing.body.get("label") == body.get("label"))
                ):
                    if user_id not in existing.annotators:
                        existing.annotators.append(user_id)
                    return existing
            self._annotations_made += 1
            entry = WithAnnotationEntry(
                db_id=object_id(f"annotation:{self._annotations_made - 1}:{record_id}"),
                record_id=record_id,
                external_id=self.records[record_id]["administrative"]["externalId"],
                motivation=motivation,
                body=dict(body),
                generator=payload.get("generator") if isinstance(payload.get("generator"), str) else None,
                confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
                annotators=[user_id],
            )
            self._annotations[entry.db_id] = entry
            return entry

    def delete_annotation(self, db_id: str, user_id: str | None) -> WithAnnotationEntry | None:
        """``AnnotationController.deleteAnnotation``, step by step; returns what remains
        (``None``: deleted). ``user_id`` is ``None`` when the session expired (WITH's
        ``SessionFilter`` drops the user from a timed-out session and lets the call through).

        * a malformed id: ``new ObjectId(id)`` throws → 500, empty body;
        * an unknown annotation: ``badRequest()`` → 400, empty body;
        * the caller is not among the annotators (always the case without a user): when the
          first annotator has a generator, its second word is read as a campaign name
          (``generator.split(" ")[1]``) — a one-word generator such as ``artsnap`` throws
          ArrayIndexOutOfBounds → 500; otherwise the caller is no creator of that campaign
          → 403 (``forbidden()``), empty body;
        * else the caller is removed from the annotators, and the annotation deleted when it
          had only one annotator — even, as in WITH, a caller who was not one of them.
        """
        try:
            int(db_id, 16)
            valid = len(db_id) == 24
        except ValueError:
            valid = False
        if not valid:
            raise WithRefused(500, "")
        with self._lock:
            entry = self._annotations.get(db_id)
            if entry is None:
                raise WithRefused(400, "")
            annotator = user_id if user_id is not None and user_id in entry.annotators else None
            if annotator is None and entry.generator is not None:
                words = entry.generator.split(" ")
                if len(words) < 2:
                    raise WithRefused(500, "")
                raise WithRefused(403, "")  # the fake has no campaigns, so no campaign creators
            if len(entry.annotators) == 1:
                del self._annotations[db_id]
                return None
            if annotator is not None:
                entry.annotators.remove(annotator)
            return entry

    def annotations_of(self, record_id: str) -> list[WithAnnotationEntry]:
        with self._lock:
            return [a for a in self._annotations.values() if a.record_id == record_id]

    def all_annotations(self) -> list[WithAnnotationEntry]:
        with self._lock:
            return list(self._annotations.values())
