"""JSON API under /api/v1/: the same access rules as the pages, Bearer tokens or the session."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from ..clock import iso
from . import api_models as m
from .context import now, require_user
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
