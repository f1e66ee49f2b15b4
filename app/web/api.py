"""JSON API under /api/v1/: the same access rules as the pages, Bearer tokens or the session."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, make_response, request
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from .. import events, live
from ..clock import iso
from . import api_models as m
from .context import get_db, now, require_user
from .openapi import describe
from .security import allow

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/whoami")
@allow()
@describe("Qui est connecté", tag="Session", response=m.Whoami)
def whoami() -> Response:
    """Who is signed in, and the server's time. With the session (not a Bearer token) also a
    CSRF token: the tablet's offline queue (static/js/offline.js) sends its writes with it."""
    user = require_user()
    body: dict[str, Any] = {
        "login": user.login,
        "name": user.name,
        "roles": sorted(user.roles),
        "organisation": {"slug": user.org_slug, "name": user.org_name},
        "server_time": iso(now()),
    }
    if not g.get("bearer"):
        body["csrf_token"] = generate_csrf()
    return jsonify(body)


@bp.get("/state")
@allow(*events.READ_ROLES)
@describe(
    "État de l'ensemble des événements",
    tag="Session",
    response=m.GlobalStateOut,
    notes="Renvoyez l'ETag reçu dans If-None-Match : 304 tant que rien n'a changé.",
)
def state() -> Response:
    """The state of all events together (the home page's lists follow it): a number that grows
    with every change to any event, and how many events there are. ETag and 304 as for one
    event's state; for those who read events (stewards and the admin read none)."""
    found = live.global_state(get_db())
    if request.if_none_match.contains_raw(found.etag):
        response = make_response("", 304)
    else:
        response = jsonify(
            version=found.version,
            events=found.events,
            changed_at=found.changed_at,
            server_time=iso(now()),
        )
    response.headers["ETag"] = found.etag
    return response
