"""Write requests go to the audit log (``engine/audit.py``), refused ones included.

Routes mark themselves with ``requires(..., audit="items.add")``; a route adds what only it
knows (the collection of a deleted item, the ids it touched) to ``g.audit``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, g, request

from ..engine.audit import AuditEntry
from .context import engine

log = logging.getLogger(__name__)


def note(**facts: Any) -> None:
    """What a write route learned for the audit log: ``collection``, ``item_ids``, ``detail``."""
    g.setdefault("audit", {}).update(facts)


def record_write(resp: Response) -> Response:
    """After a request to a route with an audit action: one audit row, whatever the outcome."""
    view = current_app.view_functions.get(request.endpoint or "")
    action = getattr(view, "artsnap_audit", None)
    if action is None:
        return resp
    facts: dict[str, Any] = g.get("audit", {})
    args = request.view_args or {}
    caller = g.get("caller")
    outcome = "ok"
    if resp.status_code >= 400:
        body = resp.get_json(silent=True) if resp.is_json else None
        outcome = str(((body or {}).get("error") or {}).get("code", f"http_{resp.status_code}"))
    ids = facts.get("item_ids")
    if ids is None:
        ids = [args["item_id"]] if "item_id" in args and 0 <= args["item_id"] < 2**63 else []
    entry = AuditEntry(
        actor=caller.actor if caller is not None else "anonymous",
        key_id=caller.key.key_id if caller is not None and caller.key is not None else None,
        address=request.remote_addr,
        action=action,
        collection=facts.get("collection", args.get("name")),
        item_ids=[int(i) for i in ids],
        status=resp.status_code,
        outcome=outcome,
        detail=dict(facts.get("detail", {})),
    )
    try:
        engine().audit.record(entry)
    except Exception:  # the answer stands; a lost audit row is logged loudly
        log.exception("could not write the audit row for %s %s", request.method, request.path)
    return resp
