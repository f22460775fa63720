"""The HTTP API's answers, declared once (pydantic); the requests are in :mod:`.schemas`.

Answers are not strict about extra fields, so a field added to an answer never breaks a client
or the response check (``Settings.check_responses``, on in the tests and the schemathesis run).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs: e.g. not_an_image, bad_options, key_required")
    message: str = Field(description="for people: what was wrong and what to do")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Label(BaseModel):
    name: str
    source: Literal["curator", "machine"]
    confidence: float | None = None
    status: str


class Attribution(BaseModel):
    """What a portal shows with a work and where it links (from the provenance kept at ingest)."""

    record_id: str | None = Field(None, description="the portal record id the item is found by")
    rights: str | None = Field(None, description="rights statement or licence (usually a URI)")
    rights_label: str | None = Field(None, description="a short code for a known rights URI: CC-BY-SA, PDM, InC ...")
    provider: str | None = Field(None, description="the institution that holds the work")
    landing_page: str | None = Field(None, description="the work's page (http or https)")


class ItemLinks(BaseModel):
    thumbnail_url: str
    image_url: str
    related_url: str


class Hit(ItemLinks):
    id: int
    source_path: str
    title: str | None = None
    score: float
    scores: dict[str, float]
    labels: list[Label]
    reasons: list[str]
    duplicates: list[int] = []
    attribution: Attribution


class Artwork(BaseModel):
    found: bool
    confidence: float
    corners: list[list[float]] = Field(description="the artwork's outline in the decoded photo (pixels)")
    image_size: list[int]


class QueryLabelOut(BaseModel):
    name: str
    confidence: float
    source: str


class WeightingOut(BaseModel):
    """The descriptor weights the results were ranked with, and who chose them."""

    source: Literal["caller", "image type", "default"]
    type: str | None = Field(None, description="the kind of picture the image-type model saw (its likeliest)")
    confidence: float | None = Field(None, ge=0, le=1)
    type_probabilities: dict[str, float] = {}
    weights: dict[str, float] = Field(description="descriptor → weight, summing to 1")


class QueryInfo(BaseModel):
    artwork: Artwork | None = None
    labels: list[QueryLabelOut] = []
    weighting: WeightingOut | None = Field(
        None, description="present when the caller's weights or the image-type model's (not the defaults) ranked"
    )


Corners = list[list[float]]

_CORNERS_TEXT = (
    "the artwork's own top-left, top-right, bottom-right and bottom-left corners, [x, y] in pixels of the "
    "uploaded photo as its viewer sees it (upright: EXIF orientation applied; full resolution; pixel centres "
    "at integers). A corner may lie outside the photo."
)


class Evidence(BaseModel):
    """Why the match is believed: local features that agree on one view of the artwork."""

    inliers: int = Field(description="matching points that agree on one view")
    score: float = Field(ge=0, le=1)
    matches: int | None = Field(None, description="tentative matching points")
    inlier_ratio: float | None = Field(None, ge=0, le=1)
    coverage: float | None = Field(None, ge=0, le=1)


class Match(BaseModel):
    """The recognised catalogue item, where it is in the photo, and the evidence."""

    id: int
    source_path: str
    title: str | None = None
    score: float | None = None
    corners: Corners = Field(description=_CORNERS_TEXT)
    evidence: Evidence
    thumbnail_url: str | None = None
    image_url: str | None = None
    related_url: str | None = None


class Region(BaseModel):
    """One artwork found in the photo, with its own answer."""

    corners: Corners = Field(description=_CORNERS_TEXT)
    found_by: Literal["recognition", "locator", "photo"] | None = None
    match: Match | None
    results: list[Hit]


class SearchResponse(BaseModel):
    """Search results, with what the engine saw in the photo and how long each stage took."""

    collection: str
    results: list[Hit]
    match: Match | None = Field(
        description="the artwork recognised in the photo (that of the main region), or null: not in this "
        "collection, or nothing to verify (an on-device embedding)"
    )
    regions: list[Region] = Field(
        description="one entry per artwork found in the photo (one for a photo of one artwork); empty for an "
        "on-device embedding"
    )
    query: QueryInfo
    warnings: list[str] = []
    timings_ms: dict[str, float]
    models: list[dict[str, Any]]


class Item(ItemLinks):
    id: int
    collection: str
    source_path: str
    title: str | None = None
    status: str
    width: int | None = None
    height: int | None = None
    sha256: str
    labels: list[Label]
    duplicate_of: int | None = None
    duplicate_kind: str | None = None
    duplicates: list[int]
    extra: dict[str, Any]
    record_id: str | None = None
    attribution: Attribution


class RelatedResponse(BaseModel):
    item: Item
    results: list[Hit]
    weighting: WeightingOut | None = Field(
        None, description="present when the image-type model (not the defaults) chose the item's descriptor weights"
    )
    timings_ms: dict[str, float]
    models: list[dict[str, Any]]


class CollectionSummary(BaseModel):
    name: str
    items: int = Field(description="indexed items")
    duplicates: int
    labels: dict[str, int]


class Collection(CollectionSummary):
    pending: int


class CollectionList(BaseModel):
    collections: list[CollectionSummary]


class ModelFile(BaseModel):
    key: str | None = None
    name: str
    url: str
    bytes: int | None = None
    sha256: str | None = None
    platform: Literal["android", "ios", "server"]
    format: str
    precision: str
    min_runtime: str | None = None
    purpose: str | None = None
    outputs: list[str] = []


class Model(BaseModel):
    name: str
    version: str = Field(description="files of a version never change")
    task: str
    active: bool
    created_at: str | None = None
    files: dict[str, ModelFile]
    delivery: ModelFile | None = None
    embedding_space: str | None = Field(None, description="send it as `embedding_space` with a vector search")
    vector_search: bool = Field(description="whether this model's embeddings can search this server by vector")
    card: dict[str, Any]


class ModelList(BaseModel):
    models: list[Model]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    #: The vector store's state (``{"status": "ok" | "unreachable", "backend": ...}``).
    vector_store: dict[str, Any] = Field(default_factory=dict)
    #: The dependencies that do not answer ("database", "vector_store"): what an operator fixes.
    down: list[str] = Field(default_factory=list)
    collections: list[str]
    models_loaded: list[dict[str, Any]]
