"""Engine results → JSON, adding the URLs only the HTTP layer knows."""

from __future__ import annotations

from typing import Any

from flask import g, url_for

from ..engine.attribution import attribution
from ..engine.catalog.store import ItemView
from ..engine.search_results import Hit, Match, SearchResult

_URL_ENDPOINTS = {"thumbnail_url": "items.thumbnail", "image_url": "items.image", "related_url": "items.related"}
_ID_MARK = 918273645546372819  # stands for the item id while the URL templates are built


def _url_templates() -> dict[str, str]:
    """The item URLs of this request as templates, routed once per request: a search answers
    tens of hits with three URLs each, and routing each one costs more than the rest of the
    hit's JSON."""
    templates: dict[str, str] | None = g.get("_item_url_templates")
    if templates is None:
        mark = str(_ID_MARK)
        templates = {
            key: url_for(endpoint, item_id=_ID_MARK).replace("{", "{{").replace("}", "}}").replace(mark, "{0}")
            for key, endpoint in _URL_ENDPOINTS.items()
        }
        g._item_url_templates = templates
    return templates


def item_urls(item_id: int) -> dict[str, str]:
    return {key: template.format(int(item_id)) for key, template in _url_templates().items()}


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
