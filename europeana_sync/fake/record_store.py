"""The records the fake Search/Record API serves, and its search semantics.

Records come from the shared fixtures (real API responses under ``search_record/``) when a
fixtures folder is given, else from the built-in synthetic set. Either way each record has a
search item *and* a full record, synthesised from the other when a fixture only has one, so
``search`` and ``record`` always agree.

Media URLs are rewritten to ``/fake-media/<dataset>/<local>/{full,preview}.png`` (made
absolute per request) so pulls download real bytes from the fake instead of the internet.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..edm import EuropeanaRecord, first_value
from ..record_ids import normalize_record_id
from ..rights import reusability as reusability_of
from . import synthetic

MEDIA_PREFIX = "/fake-media"
_QUERY_TOKEN = re.compile(r'"[^"]*"|\S+')
_BOOLEAN_WORDS = {"AND", "OR", "NOT", "&&", "||"}
_MATCH_ALL = {"", "*", "*:*"}
_QF_FIELDS = {
    "TYPE": ("type",),
    "DATA_PROVIDER": ("dataProvider",),
    "PROVIDER": ("provider",),
    "COUNTRY": ("country",),
    "LANGUAGE": ("language",),
    "RIGHTS": ("rights",),
    "YEAR": ("year",),
}


@dataclass
class StoredRecord:
    record_id: str
    item: dict[str, Any]
    record: dict[str, Any]
    style: str | None = None

    @property
    def text(self) -> str:
        """Lower-cased words the free-text query is matched against."""
        parts: list[str] = [self.record_id]
        for key in (
            "title",
            "dcDescription",
            "dcCreator",
            "dataProvider",
            "provider",
            "type",
            "country",
            "year",
            "edmConceptLabel",
        ):
            value = self.item.get(key)
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, list):
                parts.extend(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)
        for key in ("dcTitleLangAware", "dcDescriptionLangAware"):
            for values in (self.item.get(key) or {}).values():
                parts.extend(values)
        return " ".join(parts).lower()

    def has_media(self, kind: str) -> bool:
        key = "edmIsShownBy" if kind == "full" else "edmPreview"
        url = first_value(self.item.get(key))
        return bool(url and url.startswith(MEDIA_PREFIX))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def record_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plausible full record (``object``) for a search item that has no record fixture."""
    rid = item["id"]
    shown_by = first_value(item.get("edmIsShownBy"))
    preview = first_value(item.get("edmPreview"))
    aggregation: dict[str, Any] = {
        "about": f"/aggregation/provider{rid}",
        "aggregatedCHO": f"/item{rid}",
        "edmDataProvider": {"def": _as_list(item.get("dataProvider"))},
        "edmProvider": {"def": _as_list(item.get("provider"))},
        "edmRights": {"def": _as_list(item.get("rights"))},
        "edmIsShownAt": first_value(item.get("edmIsShownAt")),
        "webResources": [],
    }
    if shown_by:
        aggregation["edmIsShownBy"] = shown_by
        aggregation["webResources"].append({"about": shown_by, "ebucoreHasMimeType": "image/png"})
    titles = item.get("dcTitleLangAware") or ({"def": _as_list(item.get("title"))} if item.get("title") else {})
    provider_proxy: dict[str, Any] = {
        "about": f"/proxy/provider{rid}",
        "proxyFor": f"/item{rid}",
        "europeanaProxy": False,
        "edmType": item.get("type", "IMAGE"),
    }
    if titles:
        provider_proxy["dcTitle"] = titles
    for field in ("dcDescription", "dcCreator"):
        langaware = item.get(f"{field}LangAware")
        if langaware or item.get(field):
            provider_proxy[field] = langaware or {"def": _as_list(item.get(field))}
    europeana_aggregation: dict[str, Any] = {
        "about": f"/aggregation/europeana{rid}",
        "aggregatedCHO": f"/item{rid}",
        "edmLandingPage": f"https://www.europeana.eu/item{rid}",
    }
    if preview:
        europeana_aggregation["edmPreview"] = preview
    return {
        "about": rid,
        "type": item.get("type", "IMAGE"),
        "aggregations": [aggregation],
        "europeanaAggregation": europeana_aggregation,
        "proxies": [
            {"about": f"/proxy/europeana{rid}", "proxyFor": f"/item{rid}", "europeanaProxy": True},
            provider_proxy,
        ],
        "providedCHOs": [{"about": f"/item{rid}"}],
        "timestamp_created": "2026-01-01T00:00:00.000Z",
    }


def item_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A search item for a record fixture that no search fixture lists."""
    parsed = EuropeanaRecord.from_json(record)
    item: dict[str, Any] = {
        "id": parsed.id,
        "type": parsed.type or "IMAGE",
        "guid": parsed.landing_page or f"https://www.europeana.eu/item{parsed.id}",
    }
    if parsed.title():
        item["title"] = [parsed.title()]
    for key, value in (
        ("edmIsShownBy", parsed.edm_is_shown_by),
        ("edmPreview", parsed.edm_preview),
        ("dataProvider", parsed.data_provider()),
        ("rights", parsed.rights),
    ):
        if value:
            item[key] = [value]
    return item


def _replace_strings(value: Any, mapping: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [_replace_strings(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _replace_strings(v, mapping) for k, v in value.items()}
    return value


def absolutize_media(value: Any, base_url: str) -> Any:
    """Turn ``/fake-media/...`` paths into URLs on the host that is answering."""
    if isinstance(value, str):
        return base_url + value if value.startswith(MEDIA_PREFIX + "/") else value
    if isinstance(value, list):
        return [absolutize_media(v, base_url) for v in value]
    if isinstance(value, dict):
        return {k: absolutize_media(v, base_url) for k, v in value.items()}
    return value


class RecordStore:
    """In-memory records plus the fake's query, ``qf``, reusability and media filters."""

    def __init__(self, records: Iterable[StoredRecord]) -> None:
        self._records: dict[str, StoredRecord] = {}
        for record in records:
            self._records.setdefault(record.record_id, record)

    def __len__(self) -> int:
        return len(self._records)

    def all(self) -> list[StoredRecord]:
        return list(self._records.values())

    def get(self, record_id: str) -> StoredRecord | None:
        try:
            return self._records.get(normalize_record_id(record_id))
        except ValueError:
            return None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def synthetic(cls) -> RecordStore:
        stored = []
        for rec in synthetic.synthetic_records():
            item = synthetic.search_item(rec, MEDIA_PREFIX)
            stored.append(StoredRecord(rec.record_id, item, record_from_item(item), style=rec.style))
        return cls(stored)

    @classmethod
    def from_fixtures(cls, fixtures_dir: Path, *, serve_media_locally: bool = True) -> RecordStore:
        """Load ``<fixtures_dir>/search_record/*.json`` (``fixtures_dir`` may also point at
        ``search_record`` itself)."""
        folder = fixtures_dir / "search_record" if (fixtures_dir / "search_record").is_dir() else fixtures_dir
        items: dict[str, dict[str, Any]] = {}
        records: dict[str, dict[str, Any]] = {}
        # item_full.json first: other item_*.json files are variants of the same record
        files = sorted(folder.glob("*.json"), key=lambda p: (p.name != "item_full.json", p.name))
        for path in files:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(payload.get("items"), list):
                candidates = payload["items"]
            elif isinstance(payload.get("object"), Mapping):
                rid = normalize_record_id(payload["object"]["about"])
                records.setdefault(rid, payload["object"])
                continue
            elif isinstance(payload.get("id"), str):
                candidates = [payload]
            else:
                continue
            for item in candidates:
                rid = normalize_record_id(item["id"])
                items.setdefault(rid, {**item, "id": rid})
        stored = []
        for rid in list(items) + [r for r in records if r not in items]:
            item = copy.deepcopy(items.get(rid) or item_from_record(records[rid]))
            record = copy.deepcopy(records.get(rid) or record_from_item(item))
            if serve_media_locally:
                item, record = cls._localise_media(rid, item, record)
            stored.append(StoredRecord(rid, item, record))
        return cls(stored)

    @staticmethod
    def _localise_media(rid: str, item: dict[str, Any], record: dict[str, Any]) -> tuple[dict, dict]:
        mapping: dict[str, str] = {}
        full = first_value(item.get("edmIsShownBy"))
        if full:
            mapping[full] = f"{MEDIA_PREFIX}{rid}/full.png"
        for aggregation in record.get("aggregations") or ():
            for key in ("edmIsShownBy",):
                if aggregation.get(key):
                    mapping.setdefault(aggregation[key], f"{MEDIA_PREFIX}{rid}/full.png")
            if aggregation.get("edmObject"):
                mapping.setdefault(aggregation["edmObject"], f"{MEDIA_PREFIX}{rid}/preview.png")
        preview = first_value(item.get("edmPreview"))
        if preview:
            mapping[preview] = f"{MEDIA_PREFIX}{rid}/preview.png"
        europeana_preview = (record.get("europeanaAggregation") or {}).get("edmPreview")
        if europeana_preview:
            mapping.setdefault(europeana_preview, f"{MEDIA_PREFIX}{rid}/preview.png")
        return _replace_strings(item, mapping), _replace_strings(record, mapping)

    # -- search ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        qf: Iterable[str] = (),
        reusability: str | None = None,
        media: bool | None = None,
        *,
        thumbnail: bool | None = None,
    ) -> list[StoredRecord]:
        tokens = self._query_tokens(query)
        filters = [self._parse_qf(f) for f in qf if f.strip()]
        classes = {c.strip().lower() for c in (reusability or "").split(",") if c.strip()}
        hits = []
        for record in self._records.values():
            text = record.text
            if any(token not in text for token in tokens):
                continue
            if not all(self._qf_matches(record, field, pattern) for field, pattern in filters):
                continue
            if classes and reusability_of(first_value(record.item.get("rights"))).value not in classes:
                continue
            if media and not first_value(record.item.get("edmIsShownBy")):
                continue
            if thumbnail and not first_value(record.item.get("edmPreview")):
                continue
            hits.append(record)
        return hits

    @staticmethod
    def _query_tokens(query: str) -> list[str]:
        query = (query or "").strip()
        if query in _MATCH_ALL:
            return []
        tokens = []
        for raw in _QUERY_TOKEN.findall(query):
            if raw in _BOOLEAN_WORDS:
                continue
            if ":" in raw and not raw.startswith('"'):
                raw = raw.split(":", 1)[1]
            token = raw.strip('"').replace("*", "").strip().lower()
            if token:
                tokens.append(token)
        return tokens

    @staticmethod
    def _parse_qf(qf: str) -> tuple[str | None, str]:
        field, sep, value = qf.partition(":")
        if not sep:
            return None, qf.strip().strip('"').lower()
        return field.strip().upper(), value.strip().strip('"').lower()

    @staticmethod
    def _qf_matches(record: StoredRecord, field: str | None, pattern: str) -> bool:
        keys = _QF_FIELDS.get(field or "")
        if not keys:
            return pattern.replace("*", "") in record.text
        values = [str(v).lower() for key in keys for v in _as_list(record.item.get(key))]
        if any(ch in pattern for ch in "*?"):
            return any(fnmatch.fnmatchcase(v, pattern) for v in values)
        return pattern in values


def search_fingerprint(
    query: str, qf: Iterable[str], reusability: str | None, media: str | None, thumbnail: str | None = None
) -> str:
    fields: list[Any] = [query, sorted(qf), reusability, media]
    if thumbnail is not None:
        fields.append(thumbnail)
    blob = json.dumps(fields)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def encode_cursor(offset: int, fingerprint: str) -> str:
    """Opaque like the real cursor; ties the offset to the query it belongs to."""
    return base64.urlsafe_b64encode(f"{offset}:{fingerprint}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> int:
    """Offset of ``cursor``; ``ValueError`` for a foreign or garbled cursor."""
    if cursor == "*":
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset_text, _, owner = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        offset = int(offset_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
    if owner != fingerprint or offset < 0:
        raise ValueError(f"cursor {cursor!r} does not belong to this query")
    return offset
