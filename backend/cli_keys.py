"""``artsnap keys create|list|revoke|origins`` and ``artsnap audit``: API keys and the write log.

A key's token is printed once, by ``create``, on stdout (so ``$(artsnap keys create ...)``
captures it) and never again: only its SHA-256 is kept. Everything else goes to stderr.
Creating, revoking and re-scoping a key's origins are writes too: each goes to the audit log
(actor ``cli:<user>``, status 0), beside the HTTP writes.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .config import Settings


@contextmanager
def _services(args: argparse.Namespace) -> Iterator[Any]:
    """The key service and the audit log over the catalog (no models or indexes are loaded)."""
    from .engine.audit import AuditLog
    from .engine.catalog.access_store import AccessStore
    from .engine.catalog.store import Catalog
    from .engine.keys import KeyService

    settings = Settings.from_env(args.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.database_url)
    try:
        access = AccessStore(catalog)
        yield KeyService(access), AuditLog(access)
    finally:
        catalog.close()


def _audited(audit: Any, action: str, key: Any) -> None:
    """One audit row for a key action (``key`` is the key acted on, not the actor)."""
    from .engine.audit import AuditEntry

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = "unknown"
    detail = {"key_id": key.key_id, "name": key.name, "scopes": sorted(key.scopes), "origins": list(key.origins)}
    audit.record(AuditEntry(actor=f"cli:{user}", action=action, status=0, outcome="ok", detail=detail))


def _describe(key: Any) -> str:
    state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked else "live"
    origins = f" origins {', '.join(key.origins)}" if key.origins else ""
    limit = f" limit {key.rate_limit}" if key.rate_limit else ""
    return f"{key.key_id}  {key.kind:<11} {','.join(sorted(key.scopes)):<20} {state:<22} {key.name}{origins}{limit}"


def cmd_keys_create(args: argparse.Namespace) -> int:
    scopes = args.scope or ["search"]
    with _services(args) as (keys, audit):
        try:
            new = keys.create(
                args.name, scopes, publishable=args.publishable, origins=args.origin or (), rate_limit=args.rate_limit
            )
        except ValueError as exc:
            print(f"artsnap keys create: {exc}", file=sys.stderr)
            return 2
        _audited(audit, "keys.create", new.key)
    if args.json:
        print(json.dumps({**new.key.to_dict(), "token": new.token}))
    else:
        print(new.token)
    print(f"created {_describe(new.key)}", file=sys.stderr)
    print("the token above is shown this once: store it now (only its hash is kept)", file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    with _services(args) as (keys, _audit):
        found = keys.list()
    if args.json:
        print(json.dumps([k.to_dict() for k in found]))
    elif not found:
        print("no keys yet: artsnap keys create NAME --scope search|write|admin", file=sys.stderr)
    for key in found if not args.json else ():
        print(_describe(key))
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from .engine.keys import UnknownKey

    with _services(args) as (keys, audit):
        try:
            key = keys.revoke(args.key_id)
        except UnknownKey as exc:
            print(f"artsnap keys revoke: {exc}", file=sys.stderr)
            return 2
        _audited(audit, "keys.revoke", key)
    print(f"revoked {_describe(key)}", file=sys.stderr)
    return 0


def cmd_keys_origins(args: argparse.Namespace) -> int:
    from .engine.keys import UnknownKey

    with _services(args) as (keys, audit):
        try:
            key = keys.set_origins(args.key_id, args.origins)
        except (UnknownKey, ValueError) as exc:
            print(f"artsnap keys origins: {exc}", file=sys.stderr)
            return 2
        _audited(audit, "keys.origins", key)
    print(f"updated {_describe(key)}", file=sys.stderr)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    with _services(args) as (_keys, audit):
        rows = audit.recent(args.limit, key_id=args.key)
    for row in reversed(rows):  # oldest first, like a log
        if args.json:
            print(json.dumps(row.to_dict()))
        else:
            acted_on = row.detail.get("key_id")
            ids = ",".join(str(i) for i in row.item_ids) or "-"
            what = f"key {acted_on}" if acted_on else f"{row.collection or '-'} items {ids}"
            print(
                f"{row.at:%Y-%m-%d %H:%M:%S}  {row.actor:<18} {row.action:<13} {row.status} {row.outcome:<18} "
                f"{what}  {row.address or ''}"
            )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="API keys: create, list, revoke, set web origins")
    ks = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    s = ks.add_parser("create", help="create a key and print its token (once)")
    s.add_argument("name", help="who or what uses it, e.g. 'curators' or 'portal www.example.org'")
    s.add_argument(
        "--scope",
        action="append",
        choices=["search", "write", "admin"],
        help="search (read), write (add/delete items), admin (all, and /metrics); repeatable; default search",
    )
    s.add_argument(
        "--publishable",
        action="store_true",
        help="a pk_ key for a web page (the widget): search only, bound to its --origin list",
    )
    s.add_argument("--origin", action="append", help="a web origin that may use the key, e.g. https://portal.example")
    s.add_argument("--rate-limit", default=None, help="e.g. 600/minute (default: ARTSNAP_RATE_LIMIT, 600/minute)")
    s.add_argument("--json", action="store_true", help="print the key and its token as JSON")
    s.set_defaults(func=cmd_keys_create)

    s = ks.add_parser("list", help="list keys (never their tokens)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_keys_list)

    s = ks.add_parser("revoke", help="revoke a key at once (every worker checks each request)")
    s.add_argument("key_id", help="the 12 hex digits after sk_/pk_ (artsnap keys list)")
    s.set_defaults(func=cmd_keys_revoke)

    s = ks.add_parser("origins", help="replace the web origins a key serves")
    s.add_argument("key_id")
    s.add_argument("origins", nargs="*", help="e.g. https://portal.example https://www.portal.example")
    s.set_defaults(func=cmd_keys_origins)

    s = sub.add_parser("audit", help="the audit log of writes (oldest first)")
    s.add_argument("--limit", type=int, default=50, help="the newest N events (default 50)")
    s.add_argument("--key", default=None, help="only this key id's events")
    s.add_argument("--json", action="store_true", help="one JSON object per event")
    s.set_defaults(func=cmd_audit)
