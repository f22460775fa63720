"""``/openapi.json`` and request validation, from one declaration (spectree + :mod:`.schemas`).

Each route is decorated with ``@api.validate(...)``: its request models (``json``, ``form``,
``query``, ``headers``; the view reads them with :func:`declared`) validate the request before the view runs, and the
same models, with the answers it declares, make its entry in the OpenAPI document. The
document therefore cannot promise a range the server does not enforce, or miss one it does.

spectree's Flask plugin is adapted in :class:`ArtsnapPlugin` so that:

* a JSON body is read the way phase 1 made safe (size, depth and finiteness checked before
  anything else: ``bad_json``/``too_large``), and a body of the wrong type is a 415;
* validation failures answer ``{"error": {"code", "message"}}`` with the code the request
  model names (``bad_options``, ``bad_embedding`` ...), not spectree's 422 list;
* answers are checked against their declared model only when ``Settings.check_responses``
  is on (the tests and the schemathesis run), where a mismatch is a 500 with the reason.

:func:`openapi_document` adds what is not a model: the security schemes, each route's
scope (which key it needs) and the 401/403/429 answers that follow from it, 64-bit path ids,
and the JSON encoding of multipart JSON fields.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from flask import Flask, Request, Response, current_app, make_response, request
from pydantic import BaseModel, ValidationError
from spectree import Response as Answers
from spectree import SpecTree
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import get_multidict_items

from .. import __version__
from .errors import APIError
from .requests_parsing import json_body
from .response_models import ErrorBody
from .schemas import MAX_ITEM_ID, RequestModel

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

#: What each error status means across the API (a route's own text replaces it).
ERROR_TEXT = {
    400: "Bad request: the `code` says which part (bad_json, bad_options, bad_embedding, bad_request ...)",
    401: "key_required, invalid_key or revoked_key: send `Authorization: Bearer <key>` with a live key",
    403: "insufficient_scope (the key lacks this scope) or origin_not_allowed (a publishable key from a page "
    "it does not list)",
    404: "Not found",
    405: "Method not allowed (the `Allow` header lists the methods)",
    408: "request_timeout: the body stopped arriving (under `artsnap serve`)",
    409: "Conflict",
    413: "too_large: over the upload limit, a JSON body over 1 MB, or an image whose decode needs more memory "
    "than the server's budget",
    415: "unsupported_media_type or unsupported_format",
    429: "rate_limited: over the caller's rate limit; `Retry-After` says when to try again",
    503: "collection_busy (an ingest holds the collection; `Retry-After`) or degraded",
}


def answers(ok: Mapping[int, Any], *errors: int, text: Mapping[int, str] | None = None) -> Answers:
    """A route's declared answers: ``{status: model or None}`` plus error statuses (ErrorBody)."""
    kwargs: dict[str, Any] = {}
    for status, model in ok.items():
        kwargs[f"HTTP_{status}"] = (model, (text or {}).get(status, "OK"))
    for status in errors:
        kwargs[f"HTTP_{status}"] = (ErrorBody, (text or {}).get(status, ERROR_TEXT[status]))
    return Answers(**kwargs)


class ArtsnapPlugin(FlaskPlugin):
    """spectree's Flask plugin with phase 1's body rules and the API's error shape (module docstring)."""

    def find_routes(self) -> Iterator[Any]:
        # Every route of the app, /static included (spectree's own skips it).
        for rule in current_app.url_map.iter_rules():
            if not rule.endpoint.startswith("openapi"):
                yield rule

    def request_validation(
        self,
        request: Request,
        query: type[BaseModel] | None,
        json: type[BaseModel] | None,
        form: type[BaseModel] | None,
        headers: type[BaseModel] | None,
        cookies: type[BaseModel] | None,
    ) -> None:
        q = _validate(query, get_multidict_items(request.args, query)) if query else None
        h = _validate(headers, dict(request.headers.items())) if headers else None
        body_json = body_form = None
        if json is not None or form is not None:
            mimetype = request.mimetype
            form_types = ("multipart/form-data",) if json is not None else self.FORM_MIMETYPE
            if form is not None and mimetype in form_types:
                body_form = _validate(form, self.fill_form(request))
            elif json is not None and request.is_json:
                raw = json_body(request)
                body_json = _validate(json, raw)
            else:
                wanted = " or ".join(
                    t for t, m in (("multipart/form-data", form), ("application/json", json)) if m is not None
                )
                raise APIError(415, "unsupported_media_type", f"send {wanted}")
        request.context = Context(q, body_json, body_form, h, None)  # type: ignore[attr-defined]  # where spectree keeps it

    def validate_response(
        self, resp: Any, resp_model: Answers | None, skip_validation: bool, force_resp_serialize: bool
    ) -> tuple[Response, None]:
        response = make_response(resp)
        if resp_model is not None and current_app.config.get("ARTSNAP_CHECK_RESPONSES"):
            model = resp_model.find_model(response.status_code)
            if model is not None and response.is_json:
                try:
                    model.model_validate(response.get_json())
                except ValidationError as exc:
                    log.error("%s %s answered outside its declaration: %s", request.method, request.path, exc)
                    raise APIError(
                        500, "response_schema", f"the answer does not match its declared {model.__name__}: {exc}"
                    ) from exc
        return response, None


def declared_if(model: type[M]) -> M | None:
    """The validated part of the current request that is a ``model`` (its query, JSON body or form), if sent."""
    ctx: Context = request.context  # type: ignore[attr-defined]  # set by ArtsnapPlugin.request_validation
    return next((part for part in ctx if isinstance(part, model)), None)


def declared(model: type[M]) -> M:
    """:func:`declared_if` for a part the route's declaration requires (so it is always there)."""
    part = declared_if(model)
    if part is None:
        raise LookupError(f"the route does not declare a {model.__name__}")
    return part


def _validate(model: type[BaseModel], raw: Any) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        code = model.code_for(errors, raw) if issubclass(model, RequestModel) else "bad_request"
        raise APIError(400, code, _message(errors)) from None


def _message(errors: Sequence[Mapping[str, Any]]) -> str:
    """``options.top_k: Input should be less than or equal to 200`` (the first three problems)."""
    parts = []
    for e in errors[:3]:
        # Union branches show up in ``loc`` as type names; a client knows fields and indexes.
        where = ".".join(str(p) for p in e["loc"] if isinstance(p, int) or str(p).isidentifier())
        parts.append(f"{where}: {e['msg']}" if where else str(e["msg"]))
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


api = SpecTree(
    "flask",
    backend=ArtsnapPlugin,
    mode="strict",  # only what is declared is documented (and everything served is declared: a test checks)
    annotations=False,  # models are named in @api.validate(...); views read them with ``declared()``
    title="artsnap",
    version=__version__,
    validation_error_status=400,
    validation_error_model=ErrorBody,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)


# ----------------------------------------------------------------------------- scopes


def scope_of(view: Callable[..., Any] | None) -> str | None:
    """The scope a view needs (``None``: public). Undeclared views need ``admin`` (fail closed)."""
    if view is None:
        return None
    return getattr(view, "artsnap_scope", "admin")


def requires(scope: str | None, *, audit: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the scope a route needs (``None``: public) and, for writes, its audit action."""

    def mark(view: Callable[..., Any]) -> Callable[..., Any]:
        view.artsnap_scope = scope  # type: ignore[attr-defined]  # read back by scope_of
        if audit is not None:
            view.artsnap_audit = audit  # type: ignore[attr-defined]  # read back by the audit hook
        return view

    return mark


# ----------------------------------------------------------------------------- the document

_SECURITY_SCHEMES = {
    "secretKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A secret key (`sk_...`) in `Authorization: Bearer`: for servers, scripts and curators.",
    },
    "publishableKey": {
        "type": "apiKey",
        "in": "query",
        "name": "key",
        "description": (
            "A publishable key (`pk_...`, search only, bound to the web origins it lists): in `Authorization: "
            "Bearer`, or as `?key=` where a header cannot be sent (an <img> thumbnail)."
        ),
    },
}
_INT64_ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ITEM_ID}
_DESCRIPTION = (
    "Visual search for art collections: snap a painting, find similar works.\n\n"
    "**Keys.** A server that listens only on 127.0.0.1 lets callers on the same machine do anything "
    "without a key. Bound anywhere else (or with ARTSNAP_REQUIRE_KEYS=1), writes need a `write` key, "
    "`/metrics` an `admin` key, and reads a `search` key unless the deployment makes search public "
    "(ARTSNAP_PUBLIC_SEARCH, on by default). Every keyed answer carries `RateLimit` and `RateLimit-Policy` "
    "(draft-ietf-httpapi-ratelimit-headers); a 429 carries `Retry-After`."
)


def _with_scope_answers(op: dict[str, Any], scope: str) -> None:
    errors = op.setdefault("responses", {})
    for status in (401, 403, 429):
        errors.setdefault(
            str(status),
            {
                "description": ERROR_TEXT[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            },
        )
    errors["429"]["headers"] = {
        "Retry-After": {"schema": {"type": "integer"}, "description": "seconds until the window resets"},
        "RateLimit": {"schema": {"type": "string"}, "description": '"default";r=<remaining>;t=<seconds to reset>'},
        "RateLimit-Policy": {"schema": {"type": "string"}, "description": '"default";q=<quota>;w=<window seconds>'},
    }
    if scope == "search":
        op["security"] = [{"secretKey": []}, {"publishableKey": []}, {}]
        needs = "Needs a `search` key unless search is public on this server."
    else:
        op["security"] = [{"secretKey": []}]
        needs = f"Needs a `{scope}` key (or a local caller of a server that listens on 127.0.0.1 only)."
    op["description"] = "\n\n".join(p for p in (op.get("description"), needs) if p)


def openapi_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app`` (cached per app: routes do not change while it runs)."""
    cached: dict[str, Any] | None = app.extensions.get("artsnap.openapi")
    if cached is not None:
        return cached
    doc: dict[str, Any] = copy.deepcopy(api.spec)
    doc["info"]["description"] = _DESCRIPTION
    doc.pop("tags", None)
    doc.pop("security", None)
    doc["components"]["securitySchemes"] = _SECURITY_SCHEMES
    for rule in app.url_map.iter_rules():
        path = _openapi_path(rule.rule)
        item = doc["paths"].get(path, {})
        for method in rule.methods or ():
            op = item.get(method.lower())
            if op is None:
                continue
            op.pop("tags", None)
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["name"] == "item_id":
                    param["schema"] = dict(_INT64_ID)
            multipart = op.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            if multipart is not None:
                _json_parts(multipart, doc)
            scope = scope_of(app.view_functions.get(rule.endpoint))
            if scope is None:
                op["security"] = [{}]
            else:
                _with_scope_answers(op, scope)
    app.extensions["artsnap.openapi"] = doc
    return doc


def _json_parts(content: dict[str, Any], doc: dict[str, Any]) -> None:
    """Multipart fields that carry JSON (``options``, ``labels``) are sent as JSON parts."""
    ref = content.get("schema", {}).get("$ref", "")
    schema = doc["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    parts = {
        name: {"contentType": "application/json"}
        for name, prop in schema.get("properties", {}).items()
        if name in ("options", "labels")
    }
    if parts and "schema" in content and ref:
        content["encoding"] = parts


def _openapi_path(rule: str) -> str:
    import re

    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>", r"{\1}", rule)
