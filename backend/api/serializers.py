"""Engine results → JSON, adding the URLs only the HTTP layer knows."""

from __future__ import annotations

from typing import Any

from flask import url_for

from ..engine.attribution import attribution
from ..engine.catalog.store import ItemView
from ..engine.search import Hit, Match, SearchResult


def item_urls(item_id: int) -> dict[str, str]:
    return {
        "thumbnail_url": url_for("items.thumbnail", item_id=item_id),
        "image_url": url_for("items.image", item_id=item_id),
        "related_url": url_for("items.related", item_id=item_id),
    }


def hit_json(hit: Hit) -> dict[str, Any]:
    return {**hit.to_dict(), **item_urls(hit.item.id), "attribution": attribution(hit.item.extra, hit.item.record_id)}


def match_json(match: Match | None) -> dict[str, Any] | None:
    return None if match is None else {**match.to_dict(), **item_urls(match.hit.item.id)}


def search_json(result: SearchResult) -> dict[str, Any]:
    data = result.to_dict()
    data["results"] = [hit_json(h) for h in result.hits]
    data["match"] = match_json(result.match)
    for region, out in zip(result.regions, data["regions"]):
        out["match"] = match_json(region.match)
        out["results"] = [hit_json(h) for h in region.hits]
    return data


def item_json(item: ItemView) -> dict[str, Any]:
    return {
        "id": item.id,
        "collection": item.collection,
        "source_path": item.source_path,
        "title": item.title,
        "status": item.status,
        "width": item.width,
        "height": item.height,
        "sha256": item.sha256,
        "labels": [lb.to_dict() for lb in item.labels],
        "duplicate_of": item.duplicate_of,
        "duplicate_kind": item.duplicate_kind,
        "duplicates": list(item.duplicates),
        "extra": item.extra,
        "record_id": item.record_id,
        "attribution": attribution(item.extra, item.record_id),
        **item_urls(item.id),
    }
