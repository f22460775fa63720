"""``artsnap europeana …``, ``artsnap labels …`` and ``artsnap with …``: the curator's sync commands.

Wired into the main parser by :func:`register` (two lines in ``backend/cli.py``). Each
command builds its clients from flags whose defaults come from the environment through
:class:`~backend.config.SyncSettings` (secrets preferably from the environment, so they stay
out of shell history and ``ps``), runs one job from ``backend.sync`` and prints a summary on
stderr (``--json``: on stdout).

Exit codes, for cron (:mod:`europeana_sync.exit_codes`): 0 done; 1 done, but some items
failed or were refused (see the summary); 2 the command is wrong (a bad flag, an invalid
mapping file, a query the API refuses); 75 stopped early for a temporary reason (rate limit,
service down): run the same command later and it resumes; 78 configuration or credentials
wrong (no or a refused key, login or token scope): fix the settings, retrying will not help.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from europeana_sync.exit_codes import EXIT_CONFIG, EXIT_USAGE

from .config import Settings, SyncSettings


def register(sub: Any) -> None:
    """Add the sync sub-commands to ``artsnap``'s sub-parsers."""
    env = SyncSettings.from_env()
    _register_europeana(sub, env)
    _register_labels(sub)
    _register_with(sub, env)


# -- parsers --------------------------------------------------------------------------------


def _register_europeana(sub: Any, env: SyncSettings) -> None:
    p = sub.add_parser("europeana", help="pull collections from Europeana; publish labels as annotations")
    actions = p.add_subparsers(dest="europeana_command", required=True, metavar="ACTION")

    s = actions.add_parser(
        "pull",
        help="download the images of a Europeana search into a collection",
        description="Pages through a Search API query, downloads edmIsShownBy "
        "(else edmPreview) of every openly licensed result and ingests it with its "
        "provenance. Resumes from a checkpoint after a crash or a stop.",
    )
    s.add_argument("query", help="Search API query, e.g. 'impressionism' or 'who:\"Claude Monet\"'")
    s.add_argument("--collection", required=True)
    s.add_argument("--qf", action="append", default=[], help="a Search API filter, e.g. TYPE:IMAGE (repeatable)")
    s.add_argument(
        "--reusability",
        default=None,
        help="licence classes to ask the API for and accept: open, restricted, permission, or a "
        "comma list (default: open)",
    )
    s.add_argument(
        "--allow-licence",
        action="append",
        default=[],
        metavar="CODE",
        help="also accept this licence code, e.g. CC-BY-NC or InC-EDU (repeatable)",
    )
    s.add_argument("--rows", type=int, default=100, help="results per page (1-100)")
    s.add_argument("--limit", type=int, default=None, help="at most N results this run; the next run continues")
    s.add_argument("--batch-size", type=int, default=32, help="images per ingest batch and checkpoint")
    s.add_argument("--workers", type=int, default=4, help="parallel downloads")
    s.add_argument("--restart", action="store_true", help="ignore an unfinished checkpoint; start at page 1")
    _europeana_api_args(s, env)
    _output_args(s)
    s.set_defaults(func=cmd_europeana_pull)

    s = actions.add_parser(
        "push-annotations",
        help="publish accepted labels as tagging annotations",
        description="Accepted labels with a vocabulary URI become tagging annotations "
        "on their Europeana records; labels a curator rejected are withdrawn. "
        "Idempotent: what is done is recorded in the catalog and never sent twice.",
    )
    _push_args(s)
    _europeana_api_args(s, env)
    s.add_argument(
        "--token-url",
        default=env.europeana_token_url,
        help="OpenID Connect token endpoint (default: Europeana's; env EUROPEANA_TOKEN_URL)",
    )
    s.add_argument("--client-id", default=env.europeana_client_id, help="OIDC client id (env EUROPEANA_CLIENT_ID)")
    s.add_argument(
        "--client-secret",
        default=env.europeana_client_secret,
        help="OIDC client secret (prefer env EUROPEANA_CLIENT_SECRET)",
    )
    s.add_argument(
        "--username",
        default=env.europeana_username,
        help="Europeana account for the password grant (env EUROPEANA_USERNAME)",
    )
    s.add_argument("--password", default=env.europeana_password, help="its password (prefer env EUROPEANA_PASSWORD)")
    s.add_argument(
        "--scope",
        default=env.europeana_token_scope,
        help="scope the token asks for; writes need 'annotations' (env EUROPEANA_TOKEN_SCOPE)",
    )
    s.set_defaults(func=cmd_europeana_push)

    s = actions.add_parser(
        "check",
        help="dry run: check the API key, one record and its image, the OIDC token and the WITH login",
        description="Makes the fewest requests that prove each configured credential works "
        "(one search, one record, its image, a token and its scope, a WITH login) and writes "
        "nothing. Exit 0: all configured steps passed; 78: a credential or setting is wrong; "
        "75: a service is unavailable; 1: anything else (e.g. the record's image is unusable).",
    )
    s.add_argument("query", nargs="?", default="*", help="the search to try (best: the one the nightly pull runs)")
    s.add_argument("--qf", action="append", default=[], help="a Search API filter (repeatable)")
    s.add_argument("--reusability", default=None, help="licence classes, as for pull (default: open)")
    s.add_argument("--record", default=None, metavar="ID", help="check this record (/dataset/local) instead")
    s.add_argument("--token-url", default=env.europeana_token_url, help="OIDC token endpoint (env EUROPEANA_TOKEN_URL)")
    s.add_argument("--client-id", default=env.europeana_client_id, help="OIDC client id (env EUROPEANA_CLIENT_ID)")
    s.add_argument("--client-secret", default=env.europeana_client_secret, help="(prefer env EUROPEANA_CLIENT_SECRET)")
    s.add_argument("--username", default=env.europeana_username, help="(env EUROPEANA_USERNAME)")
    s.add_argument("--password", default=env.europeana_password, help="(prefer env EUROPEANA_PASSWORD)")
    s.add_argument("--scope", default=env.europeana_token_scope, help="(env EUROPEANA_TOKEN_SCOPE)")
    s.add_argument("--with-url", default=env.with_api_url, help="WITH base URL (env WITH_API_URL)")
    s.add_argument("--with-username", default=env.with_username, help="WITH login (env WITH_USERNAME)")
    s.add_argument("--with-password", default=env.with_password, help="(prefer env WITH_PASSWORD)")
    _europeana_api_args(s, env)
    s.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    s.set_defaults(func=cmd_europeana_check)


def _register_labels(sub: Any) -> None:
    p = sub.add_parser("labels", help="export labels for curators; accept or reject a label")
    actions = p.add_subparsers(dest="labels_command", required=True, metavar="ACTION")

    s = actions.add_parser("export", help="labels with record ids and vocabulary URIs as CSV or JSON-LD")
    s.add_argument("--collection", required=True)
    s.add_argument("--format", choices=("csv", "jsonld"), default="csv")
    s.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="drop machine labels below this confidence (curator labels count as 1.0)",
    )
    s.add_argument("--status", choices=("accepted", "proposed", "rejected", "any"), default="accepted")
    s.add_argument("--source", choices=("curator", "machine", "any"), default="any")
    s.add_argument(
        "--mapping", type=Path, default=None, help="category → vocabulary URI file (.json or .csv), validated first"
    )
    s.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    s.set_defaults(func=cmd_labels_export)

    s = actions.add_parser("review", help="a curator's verdict on one label of one item")
    s.add_argument("--item", type=int, required=True, help="item id")
    s.add_argument("--label", required=True)
    verdict = s.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--accept", dest="verdict", action="store_const", const="accepted")
    verdict.add_argument("--reject", dest="verdict", action="store_const", const="rejected")
    s.add_argument(
        "--source",
        choices=("curator", "machine", "any"),
        default="any",
        help="only the label from this source (default: every source)",
    )
    s.set_defaults(func=cmd_labels_review)


def _register_with(sub: Any, env: SyncSettings) -> None:
    p = sub.add_parser("with", help="publish labels to the WITH platform")
    actions = p.add_subparsers(dest="with_command", required=True, metavar="ACTION")
    s = actions.add_parser(
        "push-annotations",
        help="publish accepted labels as WITH annotations",
        description="Accepted labels with a vocabulary URI become 'Tagging' annotations "
        "on the WITH records whose externalId is the Europeana record id; rejected "
        "labels are withdrawn. Idempotent and resumable like the Europeana push.",
    )
    _push_args(s)
    s.add_argument("--api-url", default=env.with_api_url, help="WITH base URL (env WITH_API_URL)")
    s.add_argument("--username", default=env.with_username, help="WITH login (env WITH_USERNAME)")
    s.add_argument("--password", default=env.with_password, help="WITH password (prefer env WITH_PASSWORD)")
    s.add_argument("--generator", default="artsnap", help="generator name stored on each annotation")
    s.set_defaults(func=cmd_with_push)


def _europeana_api_args(s: argparse.ArgumentParser, env: SyncSettings) -> None:
    s.add_argument(
        "--api-url",
        default=env.europeana_api_url,
        help="Europeana API base (env EUROPEANA_API_URL; the local fake's URL to try things)",
    )
    s.add_argument(
        "--api-key",
        default=env.europeana_api_key,
        help="your Europeana API key (prefer env EUROPEANA_API_KEY)",
    )
    s.add_argument(
        "--api-version",
        choices=("v2", "v3"),
        default=env.europeana_api_version,
        help="Search/Record API version (env EUROPEANA_API_VERSION; default v2)",
    )


def _push_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--collection", required=True)
    s.add_argument("--mapping", type=Path, required=True, help="category → vocabulary URI file (.json or .csv)")
    s.add_argument("--dry-run", action="store_true", help="say what would be sent; send and record nothing")
    s.add_argument("--source", choices=("curator", "machine", "any"), default="any")
    s.add_argument("--min-confidence", type=float, default=None)
    s.add_argument("--retry-refused", action="store_true", help="send again what the service refused before")
    _output_args(s)


def _output_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    s.add_argument("--quiet", action="store_true", help="no progress bar")


# -- helpers ----------------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(args.data_dir)


def _fail(command: str, message: str, code: int = EXIT_USAGE) -> int:
    print(f"artsnap {command}: {message}", file=sys.stderr)
    return code


def _catalog(args: argparse.Namespace):
    from .engine.catalog.store import Catalog

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Catalog(settings.database_url)


def _load_mapping(path: Path, command: str):
    """The validated mapping, or ``None`` after printing every problem of the file."""
    from europeana_sync.vocabulary import VocabularyMappingError, load_mapping

    try:
        mapping, report = load_mapping(path)
    except VocabularyMappingError as exc:
        print(f"artsnap {command}: mapping file {path} is invalid; {exc}", file=sys.stderr)
        return None
    except (OSError, ValueError) as exc:
        print(f"artsnap {command}: cannot read mapping file {path}: {exc}", file=sys.stderr)
        return None
    for warning in report.warnings:
        print(f"artsnap {command}: {warning}", file=sys.stderr)
    return mapping


def _print_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    for line in summary.lines():
        print(line, file=sys.stderr)


# -- commands -------------------------------------------------------------------------------


def cmd_europeana_pull(args: argparse.Namespace) -> int:
    from europeana_sync.rights import parse_reusability
    from europeana_sync.search_api import SearchApiClient

    from .sync.pull import PullOptions, pull

    command = "europeana pull"
    if not args.api_key:
        return _fail(
            command,
            "no API key: set EUROPEANA_API_KEY or pass --api-key (free at https://pro.europeana.eu/pages/get-api)",
            EXIT_CONFIG,
        )
    if not 1 <= args.rows <= 100:
        return _fail(command, "--rows must be between 1 and 100")
    if args.limit is not None and args.limit < 1:
        return _fail(command, "--limit must be at least 1")
    try:
        if args.reusability:
            parse_reusability(args.reusability)
        options = PullOptions(
            query=args.query,
            collection=args.collection,
            qf=tuple(args.qf),
            reusability=args.reusability,
            allow_licences=tuple(args.allow_licence),
            rows=args.rows,
            limit=args.limit,
            batch_size=max(1, args.batch_size),
            workers=max(1, args.workers),
            restart=args.restart,
        )
    except ValueError as exc:
        return _fail(command, str(exc))
    from dataset_tools.progress import TqdmProgress

    from .engine.services import Engine

    engine = Engine.open(_settings(args))
    try:
        with TqdmProgress("pull", "rec", quiet=args.quiet) as bar:
            client = SearchApiClient(args.api_key, base_url=args.api_url, api_version=args.api_version)
            summary = pull(engine, client, options, observer=bar)
    finally:
        engine.close()
    _print_summary(summary, args.json)
    return summary.exit_code


def _push(args: argparse.Namespace, command: str, target_factory: Any) -> int:
    from .engine.catalog.store import UnknownCollection
    from .engine.catalog.sync_store import SyncStore
    from .sync.push import PushOptions, push

    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        return _fail(command, "--min-confidence must be between 0 and 1")
    mapping = _load_mapping(args.mapping, command)
    if mapping is None:
        return EXIT_USAGE
    from dataset_tools.progress import TqdmProgress

    catalog = _catalog(args)
    bar = TqdmProgress("push", "tag", quiet=args.quiet)
    try:
        store = SyncStore(catalog)
        try:
            store.catalog.collection_id(args.collection)
        except UnknownCollection as exc:
            return _fail(command, str(exc))
        target = None if args.dry_run else target_factory(store)
        if isinstance(target, str):
            return _fail(command, target, EXIT_CONFIG)
        options = PushOptions(
            collection=args.collection,
            dry_run=args.dry_run,
            sources=None if args.source == "any" else (args.source,),
            min_confidence=args.min_confidence,
            retry_refused=args.retry_refused,
        )
        summary = push(store, target or _DryRunTarget(command), mapping, options, observer=bar)
    finally:
        bar.close()
        catalog.close()
    _print_summary(summary, args.json)
    return summary.exit_code


class _DryRunTarget:
    """A dry run plans from the local map alone: no credentials, no request."""

    def __init__(self, command: str) -> None:
        self.service = "with" if command.startswith("with") else "europeana"

    def publish(self, *args: Any) -> Any:  # pragma: no cover - never called in a dry run
        raise AssertionError("dry run must not send")

    def withdraw(self, *args: Any) -> Any:  # pragma: no cover
        raise AssertionError("dry run must not send")

    def owns(self, annotation_id: str) -> bool:  # pragma: no cover
        raise AssertionError("dry run must not ask the service")


def cmd_europeana_push(args: argparse.Namespace) -> int:
    def make_target(store: Any) -> Any:
        from europeana_sync.annotations_api import AnnotationsClient
        from europeana_sync.http import RetryingSession
        from europeana_sync.oidc import EUROPEANA_TOKEN_URL, OidcTokenProvider

        from .sync.targets import EuropeanaTarget

        if not args.api_key:
            return "no API key: set EUROPEANA_API_KEY or pass --api-key"
        if not args.client_id:
            return "no OIDC client: set EUROPEANA_CLIENT_ID (and EUROPEANA_CLIENT_SECRET) or pass --client-id"
        http = RetryingSession()
        tokens = OidcTokenProvider(
            args.token_url or EUROPEANA_TOKEN_URL,
            args.client_id,
            args.client_secret,
            username=args.username,
            password=args.password,
            scope=args.scope or None,
            http=http,
        )
        client = AnnotationsClient(args.api_key, tokens, base_url=args.api_url, http=http)
        return EuropeanaTarget(client, known_creator=store.known_creator("europeana"))

    return _push(args, "europeana push-annotations", make_target)


def cmd_europeana_check(args: argparse.Namespace) -> int:
    from europeana_sync.dry_run import DryRunSettings, dry_run
    from europeana_sync.rights import parse_reusability

    try:
        if args.reusability:
            parse_reusability(args.reusability)
    except ValueError as exc:
        return _fail("europeana check", str(exc))
    settings = DryRunSettings(
        api_key=args.api_key,
        api_url=args.api_url,
        api_version=args.api_version,
        query=args.query,
        qf=tuple(args.qf),
        reusability=args.reusability,
        record_id=args.record,
        token_url=args.token_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        username=args.username,
        password=args.password,
        scope=args.scope or None,
        with_url=args.with_url,
        with_username=args.with_username,
        with_password=args.with_password,
    )
    report = dry_run(settings)
    _print_summary(report, args.json)
    return report.exit_code


def cmd_with_push(args: argparse.Namespace) -> int:
    def make_target(store: Any) -> Any:
        from europeana_sync.with_api import WithClient

        from .sync.targets import WithTarget

        if not args.api_url:
            return "no WITH URL: set WITH_API_URL or pass --api-url"
        if not (args.username and args.password):
            return "no WITH login: set WITH_USERNAME and WITH_PASSWORD (or pass --username/--password)"
        return WithTarget(
            WithClient(args.api_url, username=args.username, password=args.password), generator=args.generator
        )

    return _push(args, "with push-annotations", make_target)


def cmd_labels_export(args: argparse.Namespace) -> int:
    from . import __version__
    from .engine.catalog.store import UnknownCollection
    from .engine.catalog.sync_store import SyncStore
    from .sync.export_labels import ExportFilters, export_labels, write_csv, write_jsonld

    command = "labels export"
    try:
        filters = ExportFilters.from_words(args.status, args.source, args.min_confidence)
    except ValueError as exc:
        return _fail(command, str(exc))
    mapping = None
    if args.mapping is not None:
        mapping = _load_mapping(args.mapping, command)
        if mapping is None:
            return EXIT_USAGE
    catalog = _catalog(args)
    try:
        try:
            export = export_labels(SyncStore(catalog), args.collection, filters, mapping)
        except UnknownCollection as exc:
            return _fail(command, str(exc))
    finally:
        catalog.close()
    handle = args.out.open("w", newline="", encoding="utf-8") if args.out else sys.stdout
    try:
        if args.format == "csv":
            write_csv(export, handle)
        else:
            write_jsonld(export, handle, generator=f"artsnap {__version__}")
    finally:
        if args.out:
            handle.close()
    for label in export.unmapped:
        print(f"artsnap {command}: label {label!r} has no vocabulary URI in {args.mapping}", file=sys.stderr)
    where = f" to {args.out}" if args.out else ""
    print(f"{args.collection}: exported {len(export.rows)} labels as {args.format}{where}", file=sys.stderr)
    return 0


def cmd_labels_review(args: argparse.Namespace) -> int:
    from .engine.catalog.store import UnknownItem
    from .engine.catalog.sync_store import SyncStore
    from .sync.review import review_label

    command = "labels review"
    catalog = _catalog(args)
    try:
        result = review_label(
            SyncStore(catalog),
            args.item,
            args.label,
            args.verdict,
            source=None if args.source == "any" else args.source,
        )
    except UnknownItem as exc:
        return _fail(command, str(exc))
    except LookupError as exc:
        return _fail(command, str(exc.args[0]) if exc.args else str(exc))
    finally:
        catalog.close()
    for line in result.lines():
        print(line, file=sys.stderr)
    return 0
