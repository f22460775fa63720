"""The ``artsnap`` command line: ingest, search, serve, demo, and the model and sync commands.

Every sub-command builds :class:`Settings` from ``--data-dir`` / ``ARTSNAP_DATA_DIR`` and
talks to the same engine the HTTP API uses. Machine-readable output goes to stdout
(``--json``); progress bars and per-file errors go to stderr, so pipes stay clean.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .config import Settings


def _quiet_third_party() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("torch", "torch.onnx", "onnxscript", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "index_factory", None):
        overrides["index_factory"] = args.index_factory
    return Settings.from_env(args.data_dir, **overrides)


def _engine(args: argparse.Namespace):
    from .engine.services import Engine

    return Engine.open(_settings(args))


def cmd_ingest(args: argparse.Namespace) -> int:
    from dataset_tools.progress import TqdmProgress
    from dataset_tools.readers import SourceError

    eng = _engine(args)
    service = eng.ingest
    if getattr(args, "ray", None) is not None:
        from .ray_ingest import ray_ingest_service

        service = ray_ingest_service(eng, args.ray, workers=args.ray_workers)
    try:
        with TqdmProgress("ingest", "img", quiet=args.quiet) as bar:
            summary = service.ingest(args.source, args.collection, observer=bar, limit=args.limit)
    except SourceError as exc:
        print(f"artsnap ingest: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        s = summary
        print(
            f"{s.collection}: {s.added} added, {s.exact_duplicates} exact + {s.near_duplicates} near duplicates linked, "
            f"{s.already_done} already done, {len(s.failed)} failed"
            + (f", {s.skipped_non_images} non-image files skipped" if s.skipped_non_images else "")
            + (f", {s.reembedded} re-embedded after an interruption" if s.reembedded else "")
            + f" — {s.elapsed_s:.1f} s ({s.images_per_s:.0f} img/s)",
            file=sys.stderr,
        )
    for line in summary.notes():
        print(line, file=sys.stderr)
    return 1 if summary.failed and not (summary.added or summary.already_done) else 0


def _parse_weights(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        out[name.strip()] = float(value)
    return out


def cmd_search(args: argparse.Namespace) -> int:
    from dataset_tools.images import ImageDecodeError

    from .engine.catalog.store import UnknownCollection
    from .engine.search_options import OptionsError, SearchOptions
    from .serve import limit_library_threads

    limit_library_threads()  # one query at a time, as a server worker runs it
    eng = _engine(args)
    try:
        eng.catalog.collection_id(args.collection)
        raw = {"top_k": args.top_k}
        if args.weights:
            raw["weights"] = _parse_weights(args.weights)
        if args.label:
            raw["labels"] = args.label
        if args.no_locate:
            raw["locate"] = False
        options = SearchOptions.from_json(raw, eng.settings, list(eng.descriptors))
    except UnknownCollection as exc:
        known = ", ".join(eng.catalog.collection_names()) or "none yet; run artsnap ingest"
        print(f"artsnap search: {exc} (known: {known})", file=sys.stderr)
        return 2
    except (OptionsError, ValueError) as exc:
        print(f"artsnap search: {exc}", file=sys.stderr)
        return 2
    failures = 0
    for path in args.images:
        try:
            data = Path(path).read_bytes()
            result = eng.search.search_image(args.collection, data, options)
        except (OSError, ImageDecodeError) as exc:
            failures += 1
            code = getattr(exc, "code", "unreadable")
            msg = getattr(exc, "message", str(exc))
            if args.json:
                print(json.dumps({"query": path, "error": {"code": code, "message": msg}}))
            print(f"error: {path}: {code}: {msg}", file=sys.stderr)
            continue
        if args.json:
            body = result.to_dict()
            # "query" is the PATH (the documented contract); what the engine saw in the photo
            # (artwork region, query labels) moves to "query_info" instead of overwriting it.
            info = body.pop("query", None)
            print(json.dumps({"query": path, **body, "query_info": info}))
        else:
            print(f"{path}  ({result.timings.total_ms:.0f} ms)")
            for rank, hit in enumerate(result.hits, 1):
                labels = ", ".join(hit.item.label_names)
                print(
                    f"  {rank:>3}. {hit.score:.3f}  #{hit.item.id}  {hit.item.source_path}"
                    + (f"  [{labels}]" if labels else "")
                )
    return 1 if failures == len(args.images) else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve_dev, serve_gunicorn, serving_settings

    settings, notice = serving_settings(_settings(args), args.host, args.port)
    print(notice, file=sys.stderr, flush=True)
    if args.dev:
        serve_dev(settings, args.host, args.port)
    else:
        serve_gunicorn(settings, args.host, args.port, args.workers)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate the demo collection (and ingest it), or ingest DATA when given."""
    settings = _settings(args)
    source = Path(args.data) if args.data else settings.data_dir / "demo-source"
    if not args.data:
        from dataset_tools.demo import generate_demo_collection

        if not (source / ".complete").exists():
            print(f"generating the demo collection in {source} …", file=sys.stderr)
            generate_demo_collection(source, per_family=args.per_family, seed=0)
            (source / ".complete").write_text("ok\n")
    if args.no_ingest:
        print(source)
        return 0
    ns = argparse.Namespace(**{**vars(args), "source": str(source), "limit": None, "json": False})
    return cmd_ingest(ns)


def cmd_collections(args: argparse.Namespace) -> int:
    from .engine.recognition import backfill_command

    eng = _engine(args)
    rows = [eng.catalog.collection_info(n) for n in eng.catalog.collection_names()]
    features = {r.id: eng.feature_store.describe(r.id) for r in rows}
    if args.json:
        print(json.dumps([{**r.__dict__, "local_features": features[r.id]} for r in rows]))
    else:
        if not rows:
            print("no collections yet: run `artsnap ingest SOURCE --collection NAME`", file=sys.stderr)
        for r in rows:
            f = features[r.id]
            local = (
                f"local features for {f['items']} ({f['bytes_per_item']} bytes each)"
                if f["exists"]
                else f"no local features: run `{backfill_command(r.name)}`"
            )
            print(
                f"{r.name}: {r.indexed} indexed, {r.duplicates} duplicates, {r.pending} pending; {local}; labels: {r.labels}"
            )
    return 0


def _backfill_local_features(eng, args: argparse.Namespace) -> int:  # eng: Engine (imported lazily)
    from dataset_tools.progress import TqdmProgress

    with TqdmProgress("local features", "img", quiet=args.quiet) as bar:
        s = eng.ingest.backfill_local_features(args.collection, observer=bar, rebuild=args.rebuild)
    print(
        f"{args.collection}: local features extracted for {s.extracted} items ({s.already_had} had them"
        + (f", {len(s.missing_media)} without a stored copy" if s.missing_media else "")
        + f"), {s.bytes_per_item} bytes per item, visual words: {'yes' if s.vocabulary else 'not yet (small collection)'}"
        + f" — {s.elapsed_s:.1f} s",
        file=sys.stderr,
    )
    return 1 if s.missing_media and not s.extracted else 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild a collection's indexes and local features from the media store (new model,
    new index factory).

    ``--only local-features`` just gives the collection its local features (after an
    upgrade); ``--only code`` rebuilds derived descriptors from the vectors already indexed.
    """
    eng = _engine(args)
    cid = eng.catalog.collection_id(args.collection)
    if args.only == "local-features":
        return _backfill_local_features(eng, args)
    if args.only:
        from .engine.reindex import NotDerived, rebuild_derived

        names = [n.strip() for n in args.only.split(",") if n.strip()]
        try:
            done = rebuild_derived(eng.index_store, eng.descriptors, cid, names)
        except NotDerived as exc:
            print(f"artsnap reindex: {exc}", file=sys.stderr)
            return 2
        for d in done:
            factory = eng.index_store._meta(d.descriptor).factory
            print(
                f"{args.collection}: {d.descriptor} of {d.items} items from their {d.source} vectors ({factory!r})",
                file=sys.stderr,
            )
        return 0
    n = eng.ingest.reindex(args.collection)
    print(
        f"{args.collection}: re-embedded {n} items into {eng.settings.index_factory!r} indexes, with local features",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="artsnap", description="Visual search for art and cultural heritage collections.")
    p.add_argument("--version", action="version", version=f"artsnap {__version__}")
    p.add_argument(
        "--data-dir", default=None, help="catalog, indexes, media and models (default ./var or $ARTSNAP_DATA_DIR)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", help="add a folder, .zip or CSV manifest of images to a collection")
    s.add_argument("source", help="folder (first-level folder = label), .zip, or .csv manifest (path,label,title,...)")
    s.add_argument("--collection", required=True)
    s.add_argument("--limit", type=int, default=None, help="only the first N images (in sorted order)")
    s.add_argument(
        "--index-factory", default=None, help="faiss index_factory string for a new collection (default Flat)"
    )
    s.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    s.add_argument("--quiet", action="store_true", help="no progress bar or duplicate lines")
    s.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="decode and embed on a Ray cluster (ADDRESS, e.g. ray://head:10001; alone: start a local one)",
    )
    s.add_argument("--ray-workers", type=int, default=None, help="describe actors to start (default: cluster CPUs)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("search", help="search a collection with one or more photos")
    s.add_argument("images", nargs="+")
    s.add_argument("--collection", required=True)
    s.add_argument("--top-k", type=int, default=10)
    s.add_argument("--weights", help="per-descriptor weights, e.g. cnn=1,color=0.3")
    s.add_argument("--label", action="append", help="an on-device label to favour (repeatable)")
    s.add_argument("--no-locate", action="store_true", help="use the whole photo, do not look for the artwork in it")
    s.add_argument("--json", action="store_true", help="one JSON object per query on its own line")
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("serve", help="serve the web page and the HTTP API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--dev", action="store_true", help="Flask's development server instead of gunicorn")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("demo", help="generate the demo collection and ingest it (or ingest --data PATH)")
    s.add_argument("--collection", default="demo")
    s.add_argument("--data", default=None, help="a folder or .zip to use instead of the generated demo")
    s.add_argument("--per-family", type=int, default=40)
    s.add_argument("--no-ingest", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--index-factory", default=None)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("collections", help="list collections and their counts")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_collections)

    s = sub.add_parser("reindex", help="rebuild a collection's indexes (and local features) from stored media")
    s.add_argument("--collection", required=True)
    s.add_argument("--index-factory", default=None)
    s.add_argument(
        "--only",
        default=None,
        help="'local-features': only extract the local features items lack (after an upgrade); or derived "
        "descriptors to rebuild from the indexed vectors, e.g. 'code' (no images decoded)",
    )
    s.add_argument("--rebuild", action="store_true", help="with --only local-features: start the store afresh")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_reindex)

    from .cli_models import register as register_model_commands

    register_model_commands(sub)
    from .cli_style import register as register_style_commands

    register_style_commands(sub)
    from .cli_sync import register as register_sync_commands

    register_sync_commands(sub)
    from .cli_keys import register as register_key_commands

    register_key_commands(sub)

    from .cli_scale import register as register_scale_commands

    register_scale_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_third_party()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        # Conditions a user fixes (stale indexes, a running ingest) get their message, not a traceback.
        from .engine.index import IndexConfigError
        from .engine.index_store import CollectionBusy, VectorStoreUnavailable

        if isinstance(exc, (IndexConfigError, CollectionBusy, VectorStoreUnavailable)):
            print(f"artsnap {args.command}: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
