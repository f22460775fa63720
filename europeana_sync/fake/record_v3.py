"""A stored (v2-shaped) record, as the Record API v3 serialises it: EDM in JSON-LD.

The fake keeps one copy of each record, in the v2 shape of the real responses in the shared
fixtures; ``/record/v3/...`` answers the same facts in the shape of europeana/record-api at
cb29a65 (``record-api-model/.../io/json``): the ``ProvidedCHO`` (``id`` the item URI, its
metadata as language maps ``{"en": "…", "@none": [...]}`` — ``LanguageMapSerializer`` — or
lists of ``{"value", "language"}`` literals), its ``proxies``, and ``isAggregatedBy``, the
provider ``Aggregation`` whose web resources are ``{"id": …, "type": "WebResource"}`` and
whose rights are an ``{"id": …}`` reference (``ObjectReferenceSerializer``). The Europeana
aggregation (``preview``, compact ``landingPage``) is the europeana proxy's ``proxyIn``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..edm import first_value
from ..record_ids import ITEM_URI_BASE, normalize_record_id

DATA_BASE = "http://data.europeana.eu"
CONTEXT = "http://www.europeana.eu/schemas/context/edm.jsonld"

#: v2 proxy field → v3 property (ObjectMetadata / Proxy ``@JsonProperty`` names).
_FIELDS = {
    "dcTitle": "title",
    "dctermsAlternative": "alternative",
    "dcDescription": "description",
    "dcCreator": "creator",
    "dcContributor": "contributor",
    "dcSubject": "subject",
    "dcDate": "date",
    "dcType": "dcType",
    "dcFormat": "format",
    "dcIdentifier": "identifier",
    "dcLanguage": "language",
    "dcPublisher": "publisher",
    "dctermsCreated": "created",
    "dctermsMedium": "medium",
    "year": "year",
}
#: Single-valued language maps (``LanguageMap``); the rest are lists of literals.
_LANGUAGE_MAPS = {"title"}


def _data_uri(about: Any) -> str | None:
    if not isinstance(about, str) or not about:
        return None
    return about if about.startswith(("http://", "https://")) else DATA_BASE + about


def _language_map(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    untagged: list[str] = []
    for lang, texts in values.items():
        items = [t for t in (texts if isinstance(texts, list) else [texts]) if isinstance(t, str)]
        if not items:
            continue
        if lang == "def":
            untagged.extend(items)
        else:
            out[lang] = items[0]
    if untagged:
        out["@none"] = untagged
    return out


def _literals(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for lang, texts in values.items():
        for text in texts if isinstance(texts, list) else [texts]:
            if not isinstance(text, str):
                continue
            if text.startswith(("http://", "https://")):
                out.append({"id": text})
            elif lang == "def":
                out.append({"value": text})
            else:
                out.append({"value": text, "language": lang})
    return out


def _metadata(proxy: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v2, v3 in _FIELDS.items():
        values = proxy.get(v2)
        if isinstance(values, Mapping) and values:
            converted: Any = _language_map(values) if v3 in _LANGUAGE_MAPS else _literals(values)
            if converted:
                out[v3] = converted
    return out


def _web_resource(url: Any, resources: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    if not isinstance(url, str) or not url:
        return None
    node: dict[str, Any] = {"id": url, "type": "WebResource"}
    known = resources.get(url) or {}
    meta = {}
    for v2, v3 in (("ebucoreHasMimeType", "hasMimeType"), ("ebucoreWidth", "width"), ("ebucoreHeight", "height")):
        if known.get(v2) is not None:
            meta[v3] = known[v2]
    if meta:
        node["techMeta"] = meta
    return node


def _provider_value(value: Any, organizations: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    text = first_value(value)
    if not text:
        return None
    if text in organizations:
        return {"id": text, "type": "Organization", "prefLabel": _language_map(organizations[text])}
    if text.startswith(("http://", "https://")):
        return {"id": text}
    return {"value": text}


def record_as_jsonld(record: Mapping[str, Any]) -> dict[str, Any]:
    """The v3 JSON-LD of a v2 ``object``."""
    rid = normalize_record_id(str(record["about"]))
    item = ITEM_URI_BASE + rid
    organizations = {
        str(o["about"]): o.get("prefLabel") or {}
        for o in record.get("organizations") or ()
        if isinstance(o, Mapping) and isinstance(o.get("about"), str)
    }
    europeana = record.get("europeanaAggregation") or {}
    europeana_node: dict[str, Any] = {
        "id": _data_uri(europeana.get("about")) or f"{DATA_BASE}/aggregation/europeana{rid}",
        "type": "EuropeanaAggregation",
        "aggregatedCHO": item,
    }
    preview = first_value(europeana.get("edmPreview"))
    if preview:
        europeana_node["preview"] = {"id": preview, "type": "WebResource"}
    landing = first_value(europeana.get("edmLandingPage"))
    if landing:
        europeana_node["landingPage"] = landing
    for v2, v3 in (("edmDatasetName", "datasetName"), ("edmCountry", "country"), ("edmLanguage", "language")):
        value = first_value(europeana.get(v2))
        if value:
            europeana_node[v3] = value

    aggregations = [a for a in record.get("aggregations") or () if isinstance(a, Mapping)]
    provider_aggregation: dict[str, Any] | None = None
    if aggregations:
        first = aggregations[0]
        resources = {
            str(wr.get("about")): wr
            for a in aggregations
            for wr in a.get("webResources") or ()
            if isinstance(wr, Mapping)
        }
        provider_aggregation = {
            "id": _data_uri(first.get("about")) or f"{DATA_BASE}/aggregation/provider{rid}",
            "type": "Aggregation",
        }
        for key, value in (
            ("dataProvider", _provider_value(first.get("edmDataProvider"), organizations)),
            ("provider", _provider_value(first.get("edmProvider"), organizations)),
            ("object", _web_resource(first.get("edmObject"), resources)),
            ("isShownAt", _web_resource(first.get("edmIsShownAt"), resources)),
            ("isShownBy", _web_resource(first.get("edmIsShownBy"), resources)),
        ):
            if value:
                provider_aggregation[key] = value
        views = [v for v in (_web_resource(u, resources) for u in first.get("hasView") or ()) if v]
        if views:
            provider_aggregation["hasView"] = views
        rights = first_value(first.get("edmRights"))
        if rights:
            provider_aggregation["rights"] = {"id": rights}
        provider_aggregation["aggregatedCHO"] = item

    proxies: list[dict[str, Any]] = []
    merged: dict[str, Any] = {}
    for proxy in record.get("proxies") or ():
        if not isinstance(proxy, Mapping):
            continue
        node: dict[str, Any] = {
            "id": _data_uri(proxy.get("about")),
            "type": "Proxy",
            "europeanaProxy": bool(proxy.get("europeanaProxy")),
            "proxyFor": item,
        }
        metadata = _metadata(proxy)
        node.update(metadata)
        if proxy.get("europeanaProxy"):
            node["proxyIn"] = europeana_node
        else:
            node["proxyIn"] = {"id": provider_aggregation["id"]} if provider_aggregation else None
            for key, value in metadata.items():
                merged.setdefault(key, value)
        proxies.append({k: v for k, v in node.items() if v is not None})

    if not any(p.get("europeanaProxy") for p in proxies):
        proxies.append(
            {
                "id": f"{DATA_BASE}/proxy/europeana{rid}",
                "type": "Proxy",
                "europeanaProxy": True,
                "proxyFor": item,
                "proxyIn": europeana_node,
            }
        )
    cho: dict[str, Any] = {"@context": CONTEXT, "id": item, "type": "ProvidedCHO", **merged}
    edm_type = first_value(record.get("type"))
    if edm_type:
        cho["edmType"] = edm_type
    cho["proxies"] = proxies
    if provider_aggregation:
        cho["isAggregatedBy"] = provider_aggregation
    return cho
