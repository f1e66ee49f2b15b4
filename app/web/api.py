"""JSON API under /api/v1/: the same access rules as the pages, Bearer tokens or the session."""

from __future__ import annotations

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from .context import require_user
from .security import allow

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/whoami")
@allow()
def whoami() -> Response:
    user = require_user()
    return jsonify(
        login=user.login,
        name=user.name,
        roles=sorted(user.roles),
        organisation={"slug": user.org_slug, "name": user.org_name},
    )
