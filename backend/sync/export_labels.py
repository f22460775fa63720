"""Curator export: a collection's labels with record ids and vocabulary URIs, as CSV or JSON-LD.

One row per (item, label, source): the Europeana record id (empty for items that did not
come from Europeana), our category, its vocabulary URI from the mapping file (Wikidata
preferred, else Getty AAT), the model's confidence and version for machine labels, and the
curator status. Curator labels carry no confidence; the ``min_confidence`` filter treats
them as certain (1.0), because a curator's word outranks any threshold.

A machine label that no curator has reviewed (``proposed``) is exported only when its confidence reaches
the trusted threshold of the model that proposed it (``extra.trusted_threshold`` in its card,
chosen on validation for a stated precision): ingest stores nothing below it today, and this
keeps labels stored by older rules out of what is sent to Europeana. A curator's verdict
(accepted or rejected) outranks the threshold.

CSV is for spreadsheets and the WITH import the heritage project used; JSON-LD writes the
same rows as W3C Web Annotations (``motivation: tagging``), the shape the Annotations API
receives, with our extra facts (confidence, curator status, model version) in a small
``urn:artsnap:terms:`` vocabulary declared in the document's own context.

Titles come from data providers: a cell starting with ``=``, ``+``, ``-`` or ``@`` is written
with a leading apostrophe in CSV so a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from europeana_sync.record_ids import item_uri
from europeana_sync.vocabulary import VocabularyMapping

from ..engine.catalog.sync_store import LABEL_SOURCES, LABEL_STATUSES, LabelRow, SyncStore
from . import provenance

CSV_COLUMNS = (
    "record_id",
    "item_id",
    "source_path",
    "title",
    "label",
    "vocabulary_uri",
    "vocabulary_label",
    "confidence",
    "model_version",
    "label_source",
    "curator_status",
)

TERMS = "urn:artsnap:terms:"
JSONLD_CONTEXT: list[Any] = [
    "http://www.w3.org/ns/anno.jsonld",
    {
        "artsnap": TERMS,
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "category": "artsnap:category",
        "confidence": {"@id": "artsnap:confidence", "@type": "xsd:double"},
        "curatorStatus": "artsnap:curatorStatus",
        "labelSource": "artsnap:labelSource",
        "modelVersion": "artsnap:modelVersion",
        "recordId": "artsnap:recordId",
        "itemId": {"@id": "artsnap:itemId", "@type": "xsd:integer"},
    },
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFilters:
    """``None`` means "any" for statuses and sources."""

    statuses: tuple[str, ...] | None = ("accepted",)
    sources: tuple[str, ...] | None = None
    min_confidence: float | None = None

    def __post_init__(self) -> None:
        for status in self.statuses or ():
            if status not in LABEL_STATUSES:
                raise ValueError(f"unknown status {status!r}; use {', '.join(LABEL_STATUSES)} or any")
        for source in self.sources or ():
            if source not in LABEL_SOURCES:
                raise ValueError(f"unknown source {source!r}; use {', '.join(LABEL_SOURCES)} or any")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("min_confidence must be between 0 and 1")

    @classmethod
    def from_words(
        cls, status: str = "accepted", source: str = "any", min_confidence: float | None = None
    ) -> ExportFilters:
        return cls(
            statuses=None if status == "any" else (status,),
            sources=None if source == "any" else (source,),
            min_confidence=min_confidence,
        )


def effective_confidence(row: LabelRow) -> float:
    """Curator labels count as certain; a machine label without a score as unsure."""
    if row.confidence is not None:
        return float(row.confidence)
    return 1.0 if row.source == "curator" else 0.0


def trusted_thresholds(store: SyncStore) -> dict[tuple[str, str], float]:
    """``(model name, version)`` → its card's trusted threshold (single-label: the top label's
    confidence must reach it; multi-label: the lowest of the per-label thresholds)."""
    from ..engine.model_registry import list_models

    out: dict[tuple[str, str], float] = {}
    for m in list_models(store.catalog):
        extra = m.card.get("extra") or {}
        per_label = [float(t) for t in extra.get("trusted_thresholds") or []]
        value = min(per_label) if per_label else float(extra.get("trusted_threshold") or 0.0)
        out[(m.name, m.version)] = value
    return out


def passes_trusted(row: LabelRow, trusted: dict[tuple[str, str], float]) -> bool:
    """A machine label passes when its confidence reaches its model's trusted threshold
    (models without one, or unknown, impose none: they predate the rule)."""
    if row.model_name is None:
        return True
    threshold = trusted.get((row.model_name, row.model_version or ""), 0.0)
    return effective_confidence(row) >= threshold


@dataclass(frozen=True)
class ExportRow:
    record_id: str | None
    item_id: int
    source_path: str
    title: str | None
    label: str
    vocabulary_uri: str | None
    vocabulary_label: str | None
    confidence: float | None
    model_version: str | None
    label_source: str
    curator_status: str

    def csv_values(self) -> list[str]:
        return [
            self.record_id or "",
            str(self.item_id),
            self.source_path,
            _safe_cell(self.title or ""),
            self.label,
            self.vocabulary_uri or "",
            self.vocabulary_label or "",
            "" if self.confidence is None else f"{self.confidence:.4f}",
            self.model_version or "",
            self.label_source,
            self.curator_status,
        ]

    def annotation(self, collection: str) -> dict[str, Any]:
        body: Any = self.vocabulary_uri or {"type": "TextualBody", "value": self.label}
        target = item_uri(self.record_id) if self.record_id else f"urn:artsnap:item:{collection}:{self.item_id}"
        out: dict[str, Any] = {
            "type": "Annotation",
            "motivation": "tagging",
            "body": body,
            "target": target,
            "category": self.label,
            "labelSource": self.label_source,
            "curatorStatus": self.curator_status,
            "itemId": self.item_id,
        }
        if self.record_id:
            out["recordId"] = self.record_id
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 6)
        if self.model_version:
            out["modelVersion"] = self.model_version
        return out


@dataclass
class LabelExport:
    collection: str
    rows: list[ExportRow]
    #: labels in the export without a vocabulary URI (only when a mapping was given)
    unmapped: list[str]


def export_labels(
    store: SyncStore, collection: str, filters: ExportFilters, mapping: VocabularyMapping | None = None
) -> LabelExport:
    """Collect the rows of an export (no writing); see the module docstring."""
    cid = store.catalog.collection_id(collection)
    rows: list[ExportRow] = []
    unmapped: set[str] = set()
    trusted = trusted_thresholds(store)
    for row in store.label_rows(cid, statuses=filters.statuses, sources=filters.sources):
        if filters.min_confidence is not None and effective_confidence(row) < filters.min_confidence:
            continue
        if row.source == "machine" and row.status == "proposed" and not passes_trusted(row, trusted):
            continue
        term = mapping.preferred(row.label) if mapping is not None else None
        if mapping is not None and term is None:
            unmapped.add(row.label)
        rows.append(
            ExportRow(
                record_id=provenance.record_id_of(row.extra),
                item_id=row.item_id,
                source_path=row.source_path,
                title=row.title,
                label=row.label,
                vocabulary_uri=term.uri if term else None,
                vocabulary_label=term.label if term else None,
                confidence=row.confidence,
                model_version=row.model if row.source == "machine" else None,
                label_source=row.source,
                curator_status=row.status,
            )
        )
    return LabelExport(collection=collection, rows=rows, unmapped=sorted(unmapped))


def write_csv(export: LabelExport, handle: IO[str]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in export.rows:
        writer.writerow(row.csv_values())


def jsonld_document(export: LabelExport, *, generator: str = "artsnap") -> dict[str, Any]:
    return {
        "@context": JSONLD_CONTEXT,
        "type": "AnnotationCollection",
        "label": f"artsnap labels of collection {export.collection}",
        "generator": {"type": "Software", "name": generator},
        "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "total": len(export.rows),
        "first": {
            "type": "AnnotationPage",
            "startIndex": 0,
            "items": [row.annotation(export.collection) for row in export.rows],
        },
    }


def write_jsonld(export: LabelExport, handle: IO[str], *, generator: str = "artsnap") -> None:
    json.dump(jsonld_document(export, generator=generator), handle, ensure_ascii=False, indent=2)
    handle.write("\n")


def _safe_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text
