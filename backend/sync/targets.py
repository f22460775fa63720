"""Where a push sends labels: the Europeana Annotations API or the WITH platform.

Both answer the same two questions for :mod:`.push` — "publish this tag" and "withdraw the
one we made" — and differ in how they say "it was already there":

* Europeana refuses a second identical tag (from anyone) with a duplicate error naming the
  existing annotation. Whether that one is *ours* (say our earlier POST succeeded but its
  answer was lost) is decided by comparing its creator with our own identity: the creator
  URI the service builds from our token's ``sub`` (known before anything was created, so a
  lost *first* answer is recognised too), else the creator it gave annotations we made.
  Without that proof it is treated as someone else's and never deleted.
* WITH returns the existing annotation and adds us to its annotators. Withdrawing removes
  only our annotator entry, so a WITH annotation is always ours to withdraw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from europeana_sync.annotations_api import AnnotationsClient, tagging_annotation
from europeana_sync.errors import ApiError, DuplicateAnnotation
from europeana_sync.with_api import WithClient


@dataclass(frozen=True)
class Published:
    annotation_id: str | None
    status: str  # created | present
    ours: bool
    creator: str | None = None
    note: str | None = None


class PushTarget(Protocol):
    service: str

    def publish(self, record_id: str, body_uri: str, label: str, confidence: float | None) -> Published:
        """Create the tag; raises the clients' typed errors."""

    def withdraw(self, annotation_id: str) -> bool:
        """Delete the tag we made; ``False`` when it was already gone."""

    def owns(self, annotation_id: str) -> tuple[bool, str | None]:
        """``(ours, creator)`` of an existing annotation, asked of the service now (for links
        recorded before our identity was known)."""


class EuropeanaTarget:
    service = "europeana"

    def __init__(self, client: AnnotationsClient, *, known_creator: str | None = None) -> None:
        self.client = client
        #: The creator the service gave annotations we made in earlier runs (the catalog's
        #: record); only a fallback for tokens that do not say who we are.
        self.known_creator = known_creator
        self._token_creator: str | None = None

    @property
    def creator(self) -> str | None:
        """Our identity on the service: from the token when it says, else what we learnt."""
        if self._token_creator is None:
            self._token_creator = self.client.creator_uri()
        return self._token_creator or self.known_creator

    def publish(self, record_id: str, body_uri: str, label: str, confidence: float | None) -> Published:
        try:
            created = self.client.create(tagging_annotation(record_id, body_uri))
        except DuplicateAnnotation as exc:
            existing = exc.existing_ids[0] if exc.existing_ids else None
            ours, creator = self.owns(existing) if existing else (False, None)
            note = (
                "already there, made by us in an earlier attempt whose answer was lost"
                if ours
                else "already there (a duplicate refusal): someone else's tag, left alone"
            )
            return Published(existing, "present", ours, creator, note)
        if created.creator and not self.known_creator:
            self.known_creator = created.creator
        return Published(created.id, "created", True, created.creator)

    def owns(self, annotation_id: str) -> tuple[bool, str | None]:
        """Look the annotation up and compare its creator with ours."""
        try:
            creator = self.client.get(annotation_id).creator
        except ApiError:
            return False, None
        me = self.creator
        return (me is not None and creator is not None and creator == me), creator

    def withdraw(self, annotation_id: str) -> bool:
        return self.client.delete(annotation_id)


class WithTarget:
    service = "with"

    def __init__(self, client: WithClient, *, generator: str = "artsnap") -> None:
        self.client = client
        self.generator = generator

    def publish(self, record_id: str, body_uri: str, label: str, confidence: float | None) -> Published:
        annotation = self.client.add_annotation(
            body_uri=body_uri, label=label, external_id=record_id, confidence=confidence, generator=self.generator
        )
        me = self.client.user.id if self.client.user else None
        annotators = annotation.raw.get("annotators") if isinstance(annotation.raw, Mapping) else None
        others = [a for a in annotators or () if isinstance(a, Mapping) and a.get("withCreator") != me]
        if others:
            return Published(annotation.id, "present", True, me, "already there from another annotator; we joined it")
        return Published(annotation.id, "created", True, me)

    def withdraw(self, annotation_id: str) -> bool:
        return self.client.delete_annotation(annotation_id)

    def owns(self, annotation_id: str) -> tuple[bool, str | None]:
        """WITH adds us to an existing annotation's annotators: a link is always ours."""
        return True, self.client.user.id if self.client.user else None
