"""The engine, assembled: one object per process that the CLI and the HTTP app share.

Built from :class:`Settings`; models and indexes load lazily on first use (or at gunicorn
post-fork via ``search.warm_up``), once per process.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from edge_models.embedding_variants import DEFAULT_EMBEDDING_MODEL
from edge_models.style_model import StyleModel

from ..config import Settings
from .audit import AuditLog
from .catalog.access_store import AccessStore
from .catalog.store import Catalog
from .code_descriptor import active_code_descriptor
from .descriptors import Descriptor, build_descriptors
from .index_store import IndexStore
from .ingest import IngestService
from .keys import KeyService
from .labelling import ActiveClassifier
from .milvus_mapping import NAME_PREFIX, parse_vector_store
from .model_spaces import ModelSpace, ModelSpaces
from .recognition import FeatureStore
from .search import SearchService
from .style_descriptor import active_style_model

log = logging.getLogger(__name__)


@dataclass
class Engine:
    settings: Settings
    catalog: Catalog
    descriptors: dict[str, Descriptor]
    index_store: IndexStore
    feature_store: FeatureStore
    ingest: IngestService
    search: SearchService
    #: Every embedding model's descriptors and indexes; which one serves is the catalog's
    #: (``artsnap swap-model``). None for an engine assembled by hand.
    spaces: ModelSpaces | None = None
    #: API keys and the audit log live in the catalog beside the items: made from it, so an
    #: engine assembled by hand (tests over chosen vectors) has them too.
    keys: KeyService = field(init=False)
    audit: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        access = AccessStore(self.catalog)
        self.keys = KeyService(access)
        self.audit = AuditLog(access)

    @classmethod
    def open(cls, settings: Settings) -> Engine:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(settings.database_url)
        style_model = active_style_model(catalog)
        spaces = ModelSpaces(catalog, lambda model: build_model_space(settings, catalog, model, style_model))
        serving = spaces.serving()  # what `descriptors`/`index_store` say at open; services follow the catalog
        features = FeatureStore(settings.index_dir)
        classifier = ActiveClassifier(catalog, threads=settings.threads, device=settings.device)
        descriptors, store = serving.descriptors, serving.index_store
        ingest = IngestService(
            settings, catalog, descriptors, store, labeller=classifier, features=features, spaces=spaces
        )
        search = SearchService(
            settings,
            catalog,
            descriptors,
            store,
            classifier=classifier,
            features=features,
            spaces=spaces,
            style_model=style_model if "artstyle" in descriptors else None,
        )
        return cls(
            settings=settings,
            catalog=catalog,
            descriptors=descriptors,
            index_store=store,
            feature_store=features,
            ingest=ingest,
            search=search,
            spaces=spaces,
        )

    def close(self) -> None:
        self.catalog.close()


def build_model_space(
    settings: Settings, catalog: Catalog, model: str, style_model: StyleModel | None = None
) -> ModelSpace:
    """``model``'s descriptors (the ``code`` head and the curator's style model only with the
    default model, whose features they were trained on) and its own indexes."""
    dirs, threads, device = settings.models_dir, settings.threads, settings.device
    try:
        descriptors = build_descriptors(dirs, threads=threads, device=device, model=model, style_model=style_model)
    except ValueError as exc:  # a style model trained on another graph's features: serve without it
        log.error("%s", exc)
        descriptors = build_descriptors(dirs, threads=threads, device=device, model=model)
    if model == DEFAULT_EMBEDDING_MODEL:
        code = active_code_descriptor(catalog, descriptors["cnn"])
        if code is not None:
            descriptors["code"] = code
    return ModelSpace(model, descriptors, build_index_store(settings, descriptors, catalog, model=model))


def build_index_store(
    settings: Settings, descriptors: dict[str, Descriptor], catalog: Catalog, *, model: str = DEFAULT_EMBEDDING_MODEL
) -> IndexStore:
    """FAISS files under the data folder, or a Milvus store when ``vector_store`` names one.

    The default embedding model's indexes are where they always were; another model's live
    beside them (``indexes/models/MODEL/``, Milvus names ``artsnap_MODEL_c…``) with the same
    write locks, so a model switch builds them while the old ones serve.
    """
    factories = {"code": settings.code_index_factory}
    params = {"cnn": settings.index_search_params, "code": settings.code_search_params}
    target = parse_vector_store(settings.vector_store)
    other = model != DEFAULT_EMBEDDING_MODEL
    if target is None:
        return IndexStore(
            settings.index_dir / "models" / model if other else settings.index_dir,
            descriptors,
            settings.index_factory,
            factories=factories,
            params=params,
            mmap=settings.index_mmap,
            lock_dir=settings.index_dir,
        )
    from .milvus_store import MilvusIndexStore

    return MilvusIndexStore(
        target,
        descriptors,
        settings.index_factory,
        catalog=catalog,
        lock_dir=settings.index_dir,
        factories=factories,
        params=params,
        timeout=settings.vector_store_timeout_s,
        prefix=f"{NAME_PREFIX}_{re.sub(r'[^A-Za-z0-9]', '_', model)}" if other else NAME_PREFIX,
    )
