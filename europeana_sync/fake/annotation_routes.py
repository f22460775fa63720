"""Fake OIDC token endpoint and Annotations API.

Status codes follow the real services: 401 for a missing, unknown or expired token, 403 for
a valid token without the ``annotations`` scope or the write role, 400 with the API's
wording for invalid or duplicate annotations, 404 for unknown ids, 410 for soft-deleted
ones, 201 on creation, 204 on delete. Error bodies use the Europeana API error shape
(``success``/``status``/``error``/``message``).
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Response, jsonify, request

from .annotation_store import AnnotationRefused
from .auth import ANNOTATIONS_SCOPE, IssuedToken
from .state import fake_state

blueprint = Blueprint("fake_annotations", __name__)

TOKEN_PATH = "/auth/realms/europeana/protocol/openid-connect/token"

#: The 403 of a token whose ``scope`` lacks ``annotations``. api-commons
#: ``OAuthUtils.processJwtToken`` skips a token that fails ``verifyScope`` (the scope must
#: contain the API name, ``authorization.api.name=annotations``), and
#: ``BaseAuthorizationService.authorizeOperation`` then throws OPERATION_NOT_AUTHORIZED with
#: 403 (europeana/api-commons tag commons-api-services-0.3.24, afabc7a, the version
#: europeana/annotation bcb72be builds with), worded by the annotation service's
#: messages_en.properties ``error.operation_not_authorized``.
SCOPE_REFUSAL = (
    "The user is not authorized to perform the given operation! Invalid token or ApiKey, resource access not granted!"
)
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


def api_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(
        {
            "success": False,
            "status": status,
            "error": HTTPStatus(status).phrase,
            "message": message,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "path": request.path,
        }
    ), status


def _oauth_error(status: int, error: str, description: str) -> tuple[Response, int]:
    return jsonify({"error": error, "error_description": description}), status


# -- token endpoint ------------------------------------------------------------------------


@blueprint.post(TOKEN_PATH)
def token() -> Any:
    state = fake_state()
    form = request.form
    client = state.accounts.clients.get(form.get("client_id", ""))
    if client is None or (client.secret and form.get("client_secret") != client.secret):
        return _oauth_error(401, "invalid_client", "Invalid client or Invalid client credentials")
    grant = form.get("grant_type")
    lifetime = state.faults.config.token_lifetime_seconds
    scopes = client.granted_scopes(form.get("scope"))
    if grant == "client_credentials":
        issued = state.tokens.issue(client.client_id, client.client_id, client.can_write, lifetime, scopes)
    elif grant == "password":
        user = state.accounts.users.get(form.get("username", ""))
        if user is None or user.password != form.get("password"):
            return _oauth_error(401, "invalid_grant", "Invalid user credentials")
        issued = state.tokens.issue(user.username, client.client_id, user.can_write, lifetime, scopes)
    elif grant == "refresh_token":
        previous = state.tokens.redeem_refresh(form.get("refresh_token", ""), client.client_id)
        if previous is None:
            return _oauth_error(400, "invalid_grant", "Invalid refresh token")
        # a refresh keeps the scopes of the original grant (RFC 6749 section 6)
        issued = state.tokens.issue(previous.subject, client.client_id, previous.can_write, lifetime, previous.scopes)
    else:
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type: {grant}")
    return jsonify(
        {
            "access_token": issued.access_token,
            # Whole seconds, as RFC 6749 section 5.1 defines expires_in and Keycloak sends it.
            "expires_in": round(lifetime),
            "refresh_expires_in": 1800,
            "refresh_token": issued.refresh_token,
            "token_type": "Bearer",
            "scope": issued.scope,
        }
    )


# -- authentication helpers ---------------------------------------------------------------


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _writer() -> IssuedToken | tuple[Response, int]:
    token, reason = fake_state().tokens.check(_bearer())
    if token is None:
        return api_error(401, f"The provided authentication token is invalid! {reason}")
    if ANNOTATIONS_SCOPE not in token.scopes:
        return api_error(403, SCOPE_REFUSAL)
    if not token.can_write:
        return api_error(
            403,
            f"The user is not authorized to perform the given operation! {token.subject} has no annotation write role",
        )
    return token


def _reader_problem() -> tuple[Response, int] | None:
    state = fake_state()
    if _bearer():
        token, reason = state.tokens.check(_bearer())
        return None if token else api_error(401, f"The provided authentication token is invalid! {reason}")
    key = request.headers.get("X-Api-Key") or request.args.get("wskey")
    if not key:
        return api_error(401, "The apiKey must be provided in the request!")
    if not state.accounts.api_key_ok(key):
        return api_error(401, f"Invalid apiKey: {key}")
    return None


# -- annotations --------------------------------------------------------------------------


@blueprint.post("/annotation/")
@blueprint.post("/annotation")
def create() -> Any:
    state = fake_state()
    writer = _writer()
    if not isinstance(writer, IssuedToken):
        return writer
    payload = request.get_json(silent=True)
    try:
        if state.faults.consume("duplicate_refusals"):
            try:  # someone else tags the same thing a moment before us
                state.annotations.create(payload, creator="another-curator", generator="another-app")
            except AnnotationRefused:
                pass
        created = state.annotations.create(payload, creator=writer.subject, generator=writer.client_id)
    except AnnotationRefused as exc:
        return api_error(exc.status, exc.message)
    if state.faults.consume("lost_responses"):
        # The annotation is stored, but the gateway gives up before the service answers:
        # the client never learns its id (nor, on a first run, its creator).
        return api_error(504, "Gateway Timeout (injected fault: the answer to this creation was lost)")
    response = jsonify(created.to_json())
    response.status_code = 201
    response.headers["Location"] = created.id
    return response


@blueprint.get("/annotation/<int:number>")
@blueprint.get("/annotation/<int:number>.json")
@blueprint.get("/annotation/<int:number>.jsonld")
def get(number: int) -> Any:
    problem = _reader_problem()
    if problem:
        return problem
    stored = fake_state().annotations.get(number)
    if stored is None:
        return api_error(404, f"No annotation found with the given identifier! {number}")
    if stored.deleted:
        return api_error(
            410, f"The user is not allowed to access the annotation in the current state! {stored.id} was deleted"
        )
    return jsonify(stored.to_json())


@blueprint.delete("/annotation/<int:number>")
def delete(number: int) -> Any:
    state = fake_state()
    writer = _writer()
    if not isinstance(writer, IssuedToken):
        return writer
    stored = state.annotations.get(number)
    if stored is None:
        return api_error(404, f"No annotation found with the given identifier! {number}")
    if stored.deleted:
        return api_error(
            410, f"The user is not allowed to access the annotation in the current state! {stored.id} was deleted"
        )
    if stored.creator != writer.subject:
        return api_error(
            403,
            f"The user is not authorized to perform the given action! "
            f"{writer.subject} is not the creator of {stored.id}",
        )
    state.annotations.delete(number)
    return Response(status=204)


@blueprint.get("/annotation/search")
@blueprint.get("/annotation/search.json")
def search() -> Any:
    problem = _reader_problem()
    if problem:
        return problem
    query = request.args.get("query", "").strip()
    if not query:
        return api_error(400, "Invalid request. Parameter value must not be null or empty! query")
    try:
        page_size = int(request.args.get("pageSize", DEFAULT_PAGE_SIZE))
        page = int(request.args.get("page", 0))
    except ValueError:
        return api_error(400, "Invalid request. Parameter value not supported or not allowed! pageSize/page")
    if not 1 <= page_size <= MAX_PAGE_SIZE or page < 0:
        return api_error(400, f"Invalid request. Parameter value not supported or not allowed! pageSize:{page_size}")
    profile = request.args.get("profile", "standard").lower()
    qf = request.args.getlist("qf")
    hits = fake_state().annotations.search(query, qf)
    chunk = hits[page * page_size : (page + 1) * page_size]

    def page_uri(number: int) -> str:
        params = [
            ("query", query),
            *(("qf", f) for f in qf),
            ("pageSize", str(page_size)),
            ("page", str(number)),
            ("profile", profile),
        ]
        return f"{request.host_url}annotation/search?{urllib.parse.urlencode(params)}"

    collection_params = urllib.parse.urlencode([("query", query), *(("qf", f) for f in qf)])
    payload: dict[str, Any] = {
        "@context": "http://www.w3.org/ns/anno.jsonld",
        "id": page_uri(page),
        "type": "AnnotationPage",
        "total": len(chunk),
        "partOf": {"id": f"{request.host_url}annotation/search?{collection_params}", "total": len(hits)},
    }
    if chunk:
        payload["items"] = [a.id if profile == "minimal" else a.to_json() for a in chunk]
    if page > 0:
        payload["prev"] = page_uri(page - 1)
    if (page + 1) * page_size < len(hits):
        payload["next"] = page_uri(page + 1)
    return jsonify(payload)
