"""The commands of a deployment beyond one machine: ``migrate-index``, ``swap-index``,
``rollback-index``, ``swap-model``, ``rollback-model``.

``artsnap migrate-index --to milvus --uri http://milvus:19530`` copies every collection's
vectors from the FAISS files into Milvus (or back, ``--to faiss``); afterwards set
``ARTSNAP_VECTOR_STORE`` to the same URI on every instance. ``artsnap swap-index`` builds a
collection's index with another factory as a new generation beside the serving one and moves
the alias (every instance serves the new one from its next search, none restarts);
``artsnap rollback-index`` points the alias back at the generation it replaced.
``artsnap swap-model efficientnet-lite1`` re-embeds every collection with another embedding
model beside the serving one and switches every instance to it at once
(:mod:`.engine.model_switch`); ``artsnap rollback-model`` switches back.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from .config import Settings


def cmd_migrate_index(args: argparse.Namespace) -> int:
    from .engine.migrate_store import migrate_collection
    from .engine.milvus_mapping import parse_vector_store
    from .engine.services import Engine, build_index_store

    settings = Settings.from_env(args.data_dir)
    if args.to == "milvus":
        uri = args.uri or settings.vector_store
        if parse_vector_store(uri) is None:
            print(
                "artsnap migrate-index: --to milvus needs --uri (milvus:///path/milvus.db or http://host:19530) "
                "or ARTSNAP_VECTOR_STORE set to one",
                file=sys.stderr,
            )
            return 2
        source_settings, target_settings = replace(settings, vector_store="faiss"), replace(settings, vector_store=uri)
    else:
        if parse_vector_store(settings.vector_store) is None and not args.uri:
            print("artsnap migrate-index: --to faiss needs --uri of the Milvus store to copy from", file=sys.stderr)
            return 2
        uri = args.uri or settings.vector_store
        source_settings, target_settings = replace(settings, vector_store=uri), replace(settings, vector_store="faiss")
    eng = Engine.open(source_settings)
    try:
        target = build_index_store(target_settings, eng.descriptors, eng.catalog)
        names = args.collection or eng.catalog.collection_names()
        for name in names:
            done = migrate_collection(eng.catalog, eng.index_store, target, name)
            line: dict[str, Any] = {"collection": name, "to": args.to, "vectors": done.vectors}
            line["reconcile"] = done.reconcile.__dict__
            print(json.dumps(line) if args.json else f"{name}: {done.vectors} vectors copied to {args.to}")
    finally:
        eng.close()
    if not args.json:
        print(
            f"now set ARTSNAP_VECTOR_STORE={uri if args.to == 'milvus' else 'faiss'} on every instance", file=sys.stderr
        )
    return 0


def cmd_swap_index(args: argparse.Namespace) -> int:
    """Blue/green: build a collection's index anew (another factory) beside the serving one, then switch."""
    from .engine.migrate_store import migrate_collection
    from .engine.milvus_store import MilvusIndexStore
    from .engine.services import Engine, build_index_store

    settings = Settings.from_env(args.data_dir)
    eng = Engine.open(settings)
    try:
        if not isinstance(eng.index_store, MilvusIndexStore):
            print(
                "artsnap swap-index: only a Milvus store keeps two generations side by side; "
                "with FAISS files, `artsnap reindex --index-factory` rebuilds in place",
                file=sys.stderr,
            )
            return 2
        green = build_index_store(replace(settings, index_factory=args.index_factory), eng.descriptors, eng.catalog)
        done = migrate_collection(eng.catalog, eng.index_store, green, args.collection)
        print(
            f"{args.collection}: now serving {args.index_factory!r} ({done.vectors} vectors); "
            f"`artsnap rollback-index --collection {args.collection}` switches back",
            file=sys.stderr,
        )
    finally:
        eng.close()
    return 0


def cmd_rollback_index(args: argparse.Namespace) -> int:
    from .engine.milvus_store import MilvusIndexStore
    from .engine.services import Engine

    eng = Engine.open(Settings.from_env(args.data_dir))
    try:
        store = eng.index_store
        if not isinstance(store, MilvusIndexStore):
            print("artsnap rollback-index: only a Milvus store keeps previous generations", file=sys.stderr)
            return 2
        cid = eng.catalog.collection_id(args.collection)
        for name in args.descriptor or list(eng.descriptors):
            print(f"{args.collection}/{name}: now serving {store.rollback(cid, name)}", file=sys.stderr)
    finally:
        eng.close()
    return 0


def cmd_swap_model(args: argparse.Namespace) -> int:
    """Blue/green for the embedding model: build every collection's vectors anew, then switch."""
    from edge_models.embedding_variants import UnknownEmbeddingModel

    from .engine.index_store import CollectionBusy
    from .engine.model_switch import ModelSwitchError, previous_model, switch_model
    from .engine.services import Engine

    verb = "swap-model" if args.func is cmd_swap_model else "rollback-model"
    eng = Engine.open(Settings.from_env(args.data_dir))
    try:
        assert eng.spaces is not None  # Engine.open always has them
        target = args.model if verb == "swap-model" else previous_model(eng.spaces)
        done = switch_model(
            eng.catalog, eng.spaces, target, load_image=eng.ingest.load_media, rebuild=getattr(args, "rebuild", False)
        )
    except (ModelSwitchError, UnknownEmbeddingModel, CollectionBusy) as exc:
        print(f"artsnap {verb}: {exc}", file=sys.stderr)
        return 2
    finally:
        eng.close()
    if args.json:
        print(json.dumps({**done.__dict__, "collections": {k: v.__dict__ for k, v in done.collections.items()}}))
    for name, c in done.collections.items():
        lost = f", {len(c.unreadable)} without media" if c.unreadable else ""
        print(
            f"{name}: {c.embedded} items embedded with {done.model}, {c.removed} stale vectors dropped{lost}",
            file=sys.stderr,
        )
    print(
        f"now serving {done.model} on every instance (was {done.previous}; writers waited {done.locked_s:.2f} s); "
        + ("`artsnap rollback-model` switches back" if verb == "swap-model" else "its indexes are kept"),
        file=sys.stderr,
    )
    return 0


def cmd_rollback_model(args: argparse.Namespace) -> int:
    return cmd_swap_model(args)


def register(sub: Any) -> None:
    s = sub.add_parser("migrate-index", help="copy every collection's vectors to another vector store")
    s.add_argument("--to", choices=("milvus", "faiss"), required=True)
    s.add_argument("--uri", default=None, help="the Milvus store (default $ARTSNAP_VECTOR_STORE)")
    s.add_argument("--collection", action="append", help="only this collection (repeatable)")
    s.add_argument("--json", action="store_true", help="one JSON line per collection")
    s.set_defaults(func=cmd_migrate_index)

    s = sub.add_parser("swap-index", help="rebuild a Milvus collection's index beside the serving one, then switch")
    s.add_argument("--collection", required=True)
    s.add_argument("--index-factory", required=True, help="the new index, e.g. HNSW32 or IVF1024,Flat")
    s.set_defaults(func=cmd_swap_index)

    s = sub.add_parser("rollback-index", help="serve a Milvus collection's previous index generation again")
    s.add_argument("--collection", required=True)
    s.add_argument("--descriptor", action="append", help="only this descriptor (repeatable; default all)")
    s.set_defaults(func=cmd_rollback_index)

    s = sub.add_parser(
        "swap-model", help="re-embed every collection with another embedding model beside the serving one, then switch"
    )
    s.add_argument("model", help="the new embedding model, e.g. efficientnet-lite1")
    s.add_argument(
        "--rebuild", action="store_true", help="embed everything anew even where a former switch left vectors"
    )
    s.add_argument("--json", action="store_true", help="the report as one JSON line")
    s.set_defaults(func=cmd_swap_model)

    s = sub.add_parser("rollback-model", help="serve the embedding model the last swap-model replaced again")
    s.add_argument("--json", action="store_true", help="the report as one JSON line")
    s.set_defaults(func=cmd_rollback_model)
