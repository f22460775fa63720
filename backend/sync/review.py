"""A curator's verdict on one label of one item: accept or reject.

The catalog change is immediate; what it means for the annotation services happens at the
next push (which needs credentials): a rejected label's annotation that *we* made is
withdrawn there, an accepted one is published. :func:`review_label` reports which of those
will happen, so the curator is not left guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.catalog.sync_store import LabelChange, SyncStore
from . import provenance

SERVICES = ("europeana", "with")


@dataclass
class ReviewResult:
    item_id: int
    label: str
    verdict: str
    changes: list[LabelChange]
    record_id: str | None
    #: services where an annotation of this label exists and the next push will act on it
    published_on: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.changes:
            out = [f"item {self.item_id}: label {self.label!r} was already {self.verdict}"]
        else:
            out = [
                f"item {self.item_id}: label {self.label!r} ({c.source}) "
                + (f"added as {c.after}" if c.before is None else f"{c.before} → {c.after}")
                for c in self.changes
            ]
        if self.verdict == "rejected" and self.published_on:
            out.append(
                "  the annotation on "
                + " and ".join(self.published_on)
                + " will be withdrawn at the next push-annotations run"
            )
        elif self.verdict == "accepted" and self.record_id:
            out.append("  it will be published at the next push-annotations run")
        return out


def review_label(
    store: SyncStore, item_id: int, label: str, verdict: str, *, source: str | None = None
) -> ReviewResult:
    """``verdict`` is ``accepted`` or ``rejected``; accepting a label the item lacks adds it
    as a curator label. Raises ``LookupError`` for an unknown item or (on reject) label."""
    if verdict not in ("accepted", "rejected"):
        raise ValueError("verdict must be 'accepted' or 'rejected'")
    changes = store.set_label_status(item_id, label, verdict, source=source, add_if_missing=verdict == "accepted")
    item = store.catalog.get_item(item_id)
    record_id = provenance.record_id_of(item.extra)
    published = []
    if record_id:
        for service in SERVICES:
            links = store.links(service, record_id=record_id)
            if any(link.label == label and link.status in ("created", "present") for link in links.values()):
                published.append(service)
    return ReviewResult(item_id, label, verdict, changes, record_id, published)
