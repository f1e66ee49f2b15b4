"""Third-party assets served from their installed packages (htmx, Leaflet): nothing pasted."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from flask import Blueprint, abort, send_from_directory
from werkzeug.wrappers import Response

from .security import allow

bp = Blueprint("assets", __name__, url_prefix="/vendor")


def htmx_dir() -> Path:
    return Path(str(resources.files("js_lib_htmx").joinpath("static/htmx")))


def leaflet_dir() -> Path:
    import xstatic.pkg.leaflet as leaflet

    return Path(leaflet.BASE_DIR)


@bp.get("/htmx/<path:name>")
@allow(public=True)
def htmx_file(name: str) -> Response:
    if name not in ("htmx.min.js", "htmx.js"):
        abort(404)
    return send_from_directory(htmx_dir(), name, max_age=86400)


@bp.get("/leaflet/<path:name>")
@allow(public=True)
def leaflet_file(name: str) -> Response:
    if not (name.endswith((".js", ".css", ".png", ".svg"))):
        abort(404)
    return send_from_directory(leaflet_dir(), name, max_age=86400)
