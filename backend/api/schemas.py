"""The HTTP API's requests, declared once (pydantic); the answers are in :mod:`.response_models`.

These models are the single declaration of the API: the routes validate requests with them
(through :mod:`.openapi`'s spectree instance), and ``/openapi.json`` is generated from them,
so the document states exactly the ranges the server enforces. The engine keeps its own
checks (the CLI calls it too); what it refuses beyond these (an embedding of the wrong length,
weights that are all zero, an unknown descriptor) is what no schema can say.

Request models are strict: a JSON ``true`` is no number and ``"3"`` no integer. Query models
are lax, because a query string has only strings. Each request model says which error code
its failures answer (``error_code`` and ``field_codes``): clients switch on the same codes as
before the declaration existed (``bad_options``, ``bad_embedding``, ``missing_image`` ...).
Answers are not strict about extra fields, so a field added to an answer never breaks a client
or the response check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, field_validator
from werkzeug.datastructures import FileStorage

from ..engine.search_options import MAX_WEIGHT
from .errors import APIError
from .strict_json import JSONInputError, loads_untrusted

#: Largest ``top_k`` any search or related call accepts.
MAX_TOP_K = 200
#: Largest id a catalog row can have (64-bit signed).
MAX_ITEM_ID = 2**63 - 1
#: Longest vector accepted (the CNN embedding has 1 280 numbers).
MAX_VECTOR = 4096

Name = Annotated[str, Field(min_length=1, max_length=256)]
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Vector = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=1, max_length=MAX_VECTOR)]
ItemId = Annotated[int, Field(ge=0, le=MAX_ITEM_ID)]
TopK = Annotated[int, Field(ge=1, le=MAX_TOP_K, description="how many results (1-200)")]


def _file(value: object) -> FileStorage:
    if not isinstance(value, FileStorage):
        raise ValueError("must be an uploaded file (multipart/form-data with a filename)")
    return value


#: An uploaded file in a multipart body.
UploadedFile = Annotated[FileStorage, PlainValidator(_file), WithJsonSchema({"type": "string", "format": "binary"})]


def _json_field(value: object, field: str) -> object:
    """A multipart field that holds JSON: parsed as strictly as a JSON body (depth, finiteness)."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return loads_untrusted(value)
        except JSONInputError as exc:
            raise APIError(400, "bad_json", f"form field {field!r} is not valid JSON: {exc}") from exc
    return value


class RequestModel(BaseModel):
    """A request part (body, form, query); ``code_for`` names the error code of its failures."""

    model_config = ConfigDict(extra="forbid", strict=True)
    error_code: ClassVar[str] = "bad_request"
    #: The code for failures under a top-level field, when it is not ``error_code``.
    field_codes: ClassVar[Mapping[str, str]] = {}
    #: The code for a required top-level field that is missing.
    missing_codes: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def code_for(cls, errors: Sequence[Mapping[str, Any]], raw: Any) -> str:
        first = errors[0]
        top = str(first["loc"][0]) if first["loc"] else ""
        if first["type"] == "missing" and top in cls.missing_codes:
            return cls.missing_codes[top]
        return cls.field_codes.get(top, cls.error_code)


class QueryModel(RequestModel):
    """Query parameters arrive as strings: parsed laxly; unknown ones are ignored (``key`` among them)."""

    model_config = ConfigDict(extra="ignore", strict=False)


# ----------------------------------------------------------------------------- requests


class QueryLabel(BaseModel):
    """A label the phone's classifier gave, with its confidence."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Name
    confidence: Fraction = 1.0


class SearchFilters(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    labels: Annotated[list[Name], Field(max_length=64, description="only items with one of these labels")] = []


class SearchOptions(BaseModel):
    """How to search: how many results, descriptor weights, on-device labels, filters."""

    model_config = ConfigDict(extra="forbid", strict=True)
    top_k: TopK = 12
    weights: (
        Annotated[
            dict[str, Weight],
            Field(
                min_length=1,
                max_length=8,
                description="relative weight per descriptor (`cnn`, `color`), finite, 0-1000; at least one > 0",
            ),
        ]
        | None
    ) = None
    labels: Annotated[
        list[Name | QueryLabel],
        Field(max_length=64, description="on-device labels: names, or {name, confidence 0-1}"),
    ] = []
    filters: SearchFilters | None = None
    locate: bool | None = Field(None, description="find and rectify the artwork in the photo (default on)")
    label_weight: Fraction = Field(0.1, description="bonus per matching label, times its confidence")


class VectorSearch(RequestModel):
    """A search with an on-device embedding instead of a photo."""

    error_code: ClassVar[str] = "bad_request"
    field_codes: ClassVar[Mapping[str, str]] = {
        "embedding": "bad_embedding",
        "embedding_space": "bad_embedding",
        "options": "bad_options",
    }
    missing_codes: ClassVar[Mapping[str, str]] = {"embedding": "missing_field"}

    embedding: Vector | Annotated[dict[str, Vector], Field(min_length=1, max_length=8)] = Field(
        description="the model's `embedding` output (1 280 finite numbers for `cnn`), or {descriptor: [numbers]}"
    )
    embedding_space: Annotated[str, Field(min_length=1, max_length=256)] | dict[str, str] | None = Field(
        None,
        description=(
            "The space the vector is in: the `embedding_space` of the model that computed it (GET "
            "/v1/models/latest). Required: a vector without it is refused (400 missing_embedding_space), "
            "one from another space too (409 foreign_embedding_space). A string applies to the `cnn` "
            "vector; an object names one per descriptor."
        ),
    )
    options: SearchOptions | None = None

    @classmethod
    def code_for(cls, errors: Sequence[Mapping[str, Any]], raw: Any) -> str:
        # A list of the wrong length is refused like a vector of the wrong dimension (bad_options).
        emb = raw.get("embedding") if isinstance(raw, dict) else None
        if isinstance(emb, list) and any(e["loc"][:1] == ("embedding",) and e["type"] == "too_short" for e in errors):
            return "bad_options"
        if isinstance(emb, list) and any(e["loc"][:1] == ("embedding",) and e["type"] == "too_long" for e in errors):
            return "bad_options"
        return super().code_for(errors, raw)


class ImageSearch(RequestModel):
    """A search with a photo (multipart)."""

    field_codes: ClassVar[Mapping[str, str]] = {"image": "missing_image", "options": "bad_options"}
    missing_codes: ClassVar[Mapping[str, str]] = {"image": "missing_image"}

    image: UploadedFile = Field(description="the photo: JPEG, PNG or WebP")
    options: SearchOptions | None = Field(None, description="SearchOptions as JSON")

    @field_validator("options", mode="before")
    @classmethod
    def _options_json(cls, value: object) -> object:
        return _json_field(value, "options")


class AddItem(RequestModel):
    """One image to add to a collection (multipart)."""

    field_codes: ClassVar[Mapping[str, str]] = {
        "image": "missing_image",
        "labels": "bad_labels",
        "source_path": "bad_source_path",
    }
    missing_codes: ClassVar[Mapping[str, str]] = {"image": "missing_image"}

    image: UploadedFile = Field(description="JPEG, PNG or WebP")
    labels: Annotated[list[Name], Field(max_length=64, description="label names, as a JSON list")] = []
    title: Annotated[str, Field(max_length=512)] | None = None
    source_path: Annotated[str, Field(min_length=1, max_length=512)] | None = Field(
        None,
        description=(
            "a name for the upload; it is stored under `uploads/` (`a/b.jpg` becomes `uploads/a/b.jpg`), so an "
            "upload never takes the path of a curator's file. Default: a fresh name"
        ),
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_json(cls, value: object) -> object:
        parsed = _json_field(value, "labels")
        return [] if parsed is None else parsed


class RelatedQuery(QueryModel):
    top_k: TopK = 12


class RecordQuery(QueryModel):
    """Which work: exactly one of a portal's record id, a ``source_path`` kept at ingest, our item id."""

    record: Annotated[str, Field(min_length=1, max_length=512)] | None = Field(
        None,
        description=(
            "the portal's record id as kept at ingest: `europeana:/<dataset>/<local>` (or a Europeana item "
            "URI) for Europeana records, else a manifest's `record_id` column as written"
        ),
    )
    source_path: Annotated[str, Field(min_length=1, max_length=1024)] | None = Field(
        None, description="the item's path as ingested, e.g. `impressionism/img_0001.jpg`"
    )
    item: ItemId | None = Field(None, description="our item id")
    top_k: TopK = 12


class DeleteQuery(QueryModel):
    duplicates: Literal["promote", "delete"] = Field(
        "promote",
        description=(
            "what happens to the duplicates of a kept item: `promote` (the first becomes the kept item, the "
            "others are relinked to it) or `delete` (they go with it)"
        ),
    )


class ModelQuery(QueryModel):
    field_codes: ClassVar[Mapping[str, str]] = {"platform": "bad_platform", "precision": "bad_platform"}

    task: Annotated[str, Field(min_length=1, max_length=64)] = "classification"
    platform: Literal["android", "ios", "server"] | None = Field(
        None, description="adds `delivery`: the file this platform should download"
    )
    precision: Literal["fp32", "fp16", "int8", "int8_full"] | None = Field(
        None, description="with `platform`: another precision than the platform's default"
    )


class ConditionalHeaders(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    if_none_match: str | None = Field(
        None, alias="If-None-Match", description="an ETag from an earlier answer: 304 if it still matches"
    )
