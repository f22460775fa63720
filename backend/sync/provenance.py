"""How a Europeana record lives on a catalogue item.

The pull stores the record's provenance in the item's ``extra`` JSON under these keys, and
names the item ``europeana/<dataset>/<local>.jpg`` (its ``source_path``), so a re-run
recognises it without downloading anything. The export and the push jobs read the record id
back from ``extra`` — never from the path, which a curator may have ingested by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from europeana_sync.record_ids import normalize_record_id, split_record_id

from ..engine import attribution

SOURCE_PREFIX = "europeana"

# The keys the engine reads back for portals (record lookups, the widget's attribution).
RECORD_ID = attribution.EUROPEANA_RECORD_ID
DATA_PROVIDER = attribution.EUROPEANA_DATA_PROVIDER
PROVIDER = attribution.EUROPEANA_PROVIDER
RIGHTS = attribution.EUROPEANA_RIGHTS
LANDING_PAGE = attribution.EUROPEANA_LANDING_PAGE
LICENCE = "europeana_licence"
IMAGE_URL = "europeana_image_url"
IMAGE_KIND = "europeana_image_kind"  # edmIsShownBy | edmPreview


def source_path_for(record_id: str) -> str:
    """``/2048128/618580`` → ``europeana/2048128/618580.jpg`` (``ValueError`` if unusable).

    The suffix is always ``.jpg``: the path is the item's stable name, decided before the
    image (JPEG, PNG or WebP) is downloaded, and ingest reads the format from the bytes.
    """
    dataset, local = split_record_id(record_id)
    if local in (".", "..") or local.startswith("."):
        raise ValueError(f"record id {record_id!r} cannot name a file")
    return f"{SOURCE_PREFIX}/{dataset}/{local}.jpg"


def record_id_of(extra: Mapping[str, Any] | None) -> str | None:
    """The Europeana record id stored on an item, normalised; ``None`` for other items."""
    value = (extra or {}).get(RECORD_ID)
    if not isinstance(value, str) or not value:
        return None
    try:
        return normalize_record_id(value)
    except ValueError:
        return None
