"""The OpenAPI 3.1 description of the HTTP API, served at ``/openapi.json``.

Written by hand next to the routes (a generator would need a schema framework the rest of
the app doesn't use); ``tests/test_api_contract.py`` checks every route is described and
every described route exists.
"""

from __future__ import annotations

from typing import Any

from .. import __version__

_ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _id_param() -> dict[str, Any]:
    return {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _collection_param() -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _image_upload(fields: dict[str, Any]) -> dict[str, Any]:
    """A multipart body with a required ``image`` file plus ``fields`` (the upload endpoints)."""
    props = {"image": {"type": "string", "format": "binary"}, **fields}
    return {"multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": props}}}


def _if_none_match() -> dict[str, Any]:
    return {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}


def openapi_document() -> dict[str, Any]:
    def json_ok(ref: str) -> dict[str, Any]:
        return {
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "artsnap",
            "version": __version__,
            "description": "Visual search for art collections: snap a painting, find similar works.",
        },
        "paths": {
            "/v1/collections": {
                "get": {"summary": "List collections", "responses": {"200": json_ok("CollectionList")}}
            },
            "/v1/collections/{name}": {
                "get": {
                    "summary": "One collection's counts",
                    "parameters": [_collection_param()],
                    "responses": {"200": json_ok("Collection"), "404": _ERROR},
                }
            },
            "/v1/collections/{name}/search": {
                "post": {
                    "summary": "Search a collection with a photo or an on-device embedding",
                    "parameters": [_collection_param()],
                    "requestBody": {
                        "required": True,
                        "content": {
                            **_image_upload({"options": {"type": "string", "description": "JSON SearchOptions"}}),
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["embedding"],
                                    "properties": {
                                        "embedding": {
                                            "oneOf": [
                                                {"type": "array", "items": {"type": "number"}},
                                                {
                                                    "type": "object",
                                                    "additionalProperties": {
                                                        "type": "array",
                                                        "items": {"type": "number"},
                                                    },
                                                },
                                            ]
                                        },
                                        "embedding_space": {
                                            "description": (
                                                "The space the vector is in: the `embedding_space` of the model "
                                                "that computed it (GET /v1/models/latest). Required: a vector "
                                                "without it is refused (400 missing_embedding_space), one from "
                                                "another space too (409 foreign_embedding_space). A string "
                                                "applies to the `cnn` vector; an object names one per descriptor."
                                            ),
                                            "oneOf": [
                                                {"type": "string"},
                                                {"type": "object", "additionalProperties": {"type": "string"}},
                                            ],
                                        },
                                        "options": {"$ref": "#/components/schemas/SearchOptions"},
                                    },
                                }
                            },
                        },
                    },
                    "responses": {
                        "200": json_ok("SearchResponse"),
                        "400": _ERROR,
                        "404": _ERROR,
                        "409": {
                            **_ERROR,
                            "description": "The vector is from another embedding space (foreign_embedding_space)",
                        },
                        "413": _ERROR,
                        "415": _ERROR,
                    },
                }
            },
            "/v1/collections/{name}/items": {
                "post": {
                    "summary": "Add one image to a collection (deduplicated)",
                    "parameters": [_collection_param()],
                    "requestBody": {
                        "required": True,
                        "content": {
                            **_image_upload(
                                {
                                    "labels": {"type": "string", "description": "JSON list of label names"},
                                    "title": {"type": "string"},
                                    "source_path": {"type": "string"},
                                }
                            )
                        },
                    },
                    "responses": {
                        "201": json_ok("Item"),
                        "200": {
                            "description": "A duplicate of an existing item; linked, not indexed",
                            **json_ok("Item"),
                        },
                        "400": _ERROR,
                        "404": _ERROR,
                        "409": _ERROR,
                        "413": _ERROR,
                        "415": _ERROR,
                        "503": _ERROR,
                    },
                }
            },
            "/v1/items/{item_id}": {
                "get": {
                    "summary": "One item",
                    "parameters": [_id_param()],
                    "responses": {"200": json_ok("Item"), "404": _ERROR},
                },
                "delete": {
                    "summary": "Delete an item (catalog and index)",
                    "parameters": [_id_param()],
                    "responses": {"204": {"description": "Deleted"}, "404": _ERROR, "503": _ERROR},
                },
            },
            "/v1/items/{item_id}/related": {
                "get": {
                    "summary": "Items similar to this one (never itself or its duplicates)",
                    "parameters": [_id_param(), {"name": "top_k", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": json_ok("RelatedResponse"), "400": _ERROR, "404": _ERROR, "409": _ERROR},
                }
            },
            "/v1/items/{item_id}/thumbnail": {
                "get": {
                    "summary": "Thumbnail JPEG",
                    "parameters": [_id_param()],
                    "responses": {"200": {"description": "JPEG"}, "404": _ERROR},
                }
            },
            "/v1/items/{item_id}/image": {
                "get": {
                    "summary": "Stored picture",
                    "parameters": [_id_param()],
                    "responses": {"200": {"description": "Image"}, "404": _ERROR},
                }
            },
            "/v1/models": {
                "get": {"summary": "Registered models, newest first", "responses": {"200": {"description": "OK"}}}
            },
            "/v1/models/latest": {
                "get": {
                    "summary": "The active model's card and download URLs (phones poll this to update)",
                    "parameters": [
                        {"name": "task", "in": "query", "schema": {"type": "string", "default": "classification"}},
                        {
                            "name": "platform",
                            "in": "query",
                            "description": "adds `delivery`: the file this platform should download",
                            "schema": {"type": "string", "enum": ["android", "ios", "server"]},
                        },
                        {
                            "name": "precision",
                            "in": "query",
                            "description": "with `platform`: another precision than the platform's default",
                            "schema": {"type": "string", "enum": ["fp32", "fp16", "int8", "int8_full"]},
                        },
                        _if_none_match(),
                    ],
                    "responses": {
                        "200": json_ok("Model"),
                        "304": {"description": "Not modified (If-None-Match matched the ETag)"},
                        "400": _ERROR,
                        "404": _ERROR,
                    },
                }
            },
            "/v1/models/{version}": {
                "get": {
                    "summary": "One model version",
                    "parameters": [
                        {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}},
                        _if_none_match(),
                    ],
                    "responses": {
                        "200": json_ok("Model"),
                        "304": {"description": "Not modified"},
                        "404": _ERROR,
                    },
                }
            },
            "/v1/models/{version}/files/{key}": {
                "get": {
                    "summary": "Download a model file (.tflite, zipped .mlpackage, .onnx); its ETag is its SHA-256",
                    "parameters": [
                        {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                        _if_none_match(),
                    ],
                    "responses": {
                        "200": {"description": "The file"},
                        "304": {"description": "Not modified"},
                        "404": _ERROR,
                        "409": {**_ERROR, "description": "The file changed since it was registered"},
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health",
                    "responses": {"200": {"description": "OK"}, "503": {"description": "Degraded"}},
                }
            },
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text/plain"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}},
            "/": {"get": {"summary": "The search web page", "responses": {"200": {"description": "text/html"}}}},
            "/static/{filename}": {
                "get": {
                    "summary": "The web page's scripts, styles and icons",
                    "parameters": [{"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "File"}, "404": _ERROR},
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "Label": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "source": {"type": "string", "enum": ["curator", "machine"]},
                        "confidence": {"type": ["number", "null"]},
                        "status": {"type": "string"},
                    },
                },
                "SearchOptions": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "top_k": {"type": "integer", "minimum": 1, "maximum": 200},
                        "weights": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
                        "labels": {
                            "type": "array",
                            "items": {
                                "oneOf": [
                                    {"type": "string"},
                                    {
                                        "type": "object",
                                        "properties": {"name": {"type": "string"}, "confidence": {"type": "number"}},
                                        "required": ["name"],
                                    },
                                ]
                            },
                        },
                        "filters": {
                            "type": "object",
                            "properties": {"labels": {"type": "array", "items": {"type": "string"}}},
                        },
                        "locate": {"type": "boolean"},
                        "label_weight": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
                "Hit": {
                    "type": "object",
                    "required": ["id", "source_path", "score"],
                    "properties": {
                        "id": {"type": "integer"},
                        "source_path": {"type": "string"},
                        "title": {"type": ["string", "null"]},
                        "score": {"type": "number"},
                        "scores": {"type": "object", "additionalProperties": {"type": "number"}},
                        "labels": {"type": "array", "items": {"$ref": "#/components/schemas/Label"}},
                        "reasons": {"type": "array", "items": {"type": "string"}},
                        "thumbnail_url": {"type": "string"},
                        "image_url": {"type": "string"},
                        "related_url": {"type": "string"},
                    },
                },
                "SearchResponse": {
                    "type": "object",
                    "required": ["results", "match", "regions"],
                    "properties": {
                        "collection": {"type": "string"},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                        "match": {
                            "description": "The artwork recognised in the photo (that of the main region), or null: "
                            "not in this collection, or nothing to verify (an on-device embedding)",
                            "oneOf": [{"$ref": "#/components/schemas/Match"}, {"type": "null"}],
                        },
                        "regions": {
                            "description": "One entry per artwork found in the photo (one for a photo of one "
                            "artwork); empty for an on-device embedding",
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Region"},
                        },
                        "query": {"type": "object"},
                        "warnings": {"type": "array", "items": {"type": "string"}},
                        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
                        "models": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Corners": {
                    "description": "The artwork's own top-left, top-right, bottom-right and bottom-left corners, "
                    "[x, y] in pixels of the uploaded photo as its viewer sees it (upright: EXIF orientation "
                    "applied; full resolution; pixel centres at integers). A corner may lie outside the photo.",
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                },
                "Evidence": {
                    "type": "object",
                    "required": ["inliers", "score"],
                    "properties": {
                        "inliers": {"type": "integer", "description": "matching points that agree on one view"},
                        "matches": {"type": "integer", "description": "tentative matching points"},
                        "inlier_ratio": {"type": "number", "minimum": 0, "maximum": 1},
                        "coverage": {"type": "number", "minimum": 0, "maximum": 1},
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
                "Match": {
                    "description": "A Hit (the recognised catalogue item) plus where it is and why",
                    "type": "object",
                    "required": ["id", "source_path", "corners", "evidence"],
                    "properties": {
                        "id": {"type": "integer"},
                        "source_path": {"type": "string"},
                        "title": {"type": ["string", "null"]},
                        "score": {"type": "number"},
                        "corners": {"$ref": "#/components/schemas/Corners"},
                        "evidence": {"$ref": "#/components/schemas/Evidence"},
                        "thumbnail_url": {"type": "string"},
                        "image_url": {"type": "string"},
                        "related_url": {"type": "string"},
                    },
                },
                "Region": {
                    "type": "object",
                    "required": ["corners", "match", "results"],
                    "properties": {
                        "corners": {"$ref": "#/components/schemas/Corners"},
                        "found_by": {"type": "string", "enum": ["recognition", "locator", "photo"]},
                        "match": {"oneOf": [{"$ref": "#/components/schemas/Match"}, {"type": "null"}]},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                    },
                },
                "RelatedResponse": {
                    "type": "object",
                    "properties": {
                        "item": {"$ref": "#/components/schemas/Item"},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                    },
                },
                "Item": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "collection": {"type": "string"},
                        "source_path": {"type": "string"},
                        "status": {"type": "string"},
                        "labels": {"type": "array", "items": {"$ref": "#/components/schemas/Label"}},
                        "duplicate_of": {"type": ["integer", "null"]},
                        "duplicates": {"type": "array", "items": {"type": "integer"}},
                    },
                },
                "Collection": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "items": {"type": "integer"}},
                },
                "ModelFile": {
                    "type": "object",
                    "required": ["name", "url", "sha256", "platform", "format", "precision"],
                    "properties": {
                        "key": {"type": "string"},
                        "name": {"type": "string"},
                        "url": {"type": "string"},
                        "bytes": {"type": ["integer", "null"]},
                        "sha256": {"type": ["string", "null"]},
                        "platform": {"type": "string", "enum": ["android", "ios", "server"]},
                        "format": {"type": "string"},
                        "precision": {"type": "string"},
                        "min_runtime": {"type": ["string", "null"]},
                        "purpose": {"type": ["string", "null"]},
                        "outputs": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Model": {
                    "type": "object",
                    "required": ["name", "version", "files", "card", "embedding_space", "vector_search"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string", "description": "files of a version never change"},
                        "task": {"type": "string"},
                        "active": {"type": "boolean"},
                        "created_at": {"type": "string"},
                        "files": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/ModelFile"}},
                        "delivery": {"$ref": "#/components/schemas/ModelFile"},
                        "embedding_space": {
                            "type": ["string", "null"],
                            "description": "send it as `embedding_space` with a vector search",
                        },
                        "vector_search": {
                            "type": "boolean",
                            "description": "whether this model's embeddings can search this server by vector",
                        },
                        "card": {"type": "object"},
                    },
                },
                "CollectionList": {
                    "type": "object",
                    "properties": {
                        "collections": {"type": "array", "items": {"$ref": "#/components/schemas/Collection"}}
                    },
                },
            }
        },
    }
