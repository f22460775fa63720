"""The engine, assembled: one object per process that the CLI and the HTTP app share.

Built from :class:`Settings`; models and indexes load lazily on first use (or at gunicorn
post-fork via ``search.warm_up``), once per process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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
from .milvus_mapping import parse_vector_store
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
        try:
            descriptors = build_descriptors(
                settings.models_dir, threads=settings.threads, device=settings.device, style_model=style_model
            )
        except ValueError as exc:  # trained on another backbone's features: serve without it
            log.error("%s", exc)
            style_model = None
            descriptors = build_descriptors(settings.models_dir, threads=settings.threads, device=settings.device)
        code = active_code_descriptor(catalog, descriptors["cnn"])
        if code is not None:
            descriptors["code"] = code
        store = build_index_store(settings, descriptors, catalog)
        features = FeatureStore(settings.index_dir)
        classifier = ActiveClassifier(catalog, threads=settings.threads, device=settings.device)
        return cls(
            settings=settings,
            catalog=catalog,
            descriptors=descriptors,
            index_store=store,
            feature_store=features,
            ingest=IngestService(settings, catalog, descriptors, store, labeller=classifier, features=features),
            search=SearchService(
                settings,
                catalog,
                descriptors,
                store,
                classifier=classifier,
                features=features,
                style_model=style_model,
            ),
        )

    def close(self) -> None:
        self.catalog.close()


def build_index_store(settings: Settings, descriptors: dict[str, Descriptor], catalog: Catalog) -> IndexStore:
    """FAISS files under the data folder, or a Milvus store when ``vector_store`` names one."""
    factories = {"code": settings.code_index_factory}
    params = {"cnn": settings.index_search_params, "code": settings.code_search_params}
    target = parse_vector_store(settings.vector_store)
    if target is None:
        return IndexStore(
            settings.index_dir,
            descriptors,
            settings.index_factory,
            factories=factories,
            params=params,
            mmap=settings.index_mmap,
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
    )
