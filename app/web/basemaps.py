"""Raster basemap tiles served by the console itself, from the territory's MBTiles/PMTiles.

``GET /basemaps/<name>/<z>/<x>/<y>.<ext>`` (signed-in users): the tile read from the file
(``app.basemap``, cached in this process), with an ETag and a private, long ``Cache-Control``:
the URL carries the file's version (``?v=``), so a new file is new URLs. A tile the file does
not have is a 404 (not cached, like every other response of the console). The map pages get
the layer options from :func:`raster_basemaps`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for

from ..basemap import Library, load_library
from .errors import fail
from .security import allow

bp = Blueprint("basemaps", __name__)

MAX_AGE = 7 * 24 * 3600
_KEY = "crisis_basemaps"


def library() -> Library:
    """The catalogue's basemaps, opened once per application (``CRISIS_DATA/catalogue.yaml``)."""
    lib = current_app.extensions.get(_KEY)
    if lib is None:
        lib = load_library(Path(current_app.config["CRISIS_DATA"]) / "catalogue.yaml")
        current_app.extensions[_KEY] = lib
    return lib


def raster_basemaps() -> list[dict[str, Any]]:
    """Leaflet options of the raster basemap to draw under the maps ([] : the outline one)."""
    b = library().default
    if b is None:
        return []
    url = url_for("basemaps.tile", name=b.name, z=0, x=0, y=0, ext=b.tile_type, v=b.version)
    return [b.public(url.replace("/0/0/0.", "/{z}/{x}/{y}.", 1))]


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {"raster_basemaps": raster_basemaps}


@bp.get("/basemaps/<name>/<int:z>/<int:x>/<int:y>.<ext>")
@allow()
def tile(name: str, z: int, x: int, y: int, ext: str) -> Response:
    b = library().get(name)
    if b is None or ext != b.tile_type:
        fail(404, "Fond de carte inconnu.")
    found = b.tile(z, x, y)
    if found is None:
        return Response(status=404, mimetype="text/plain")
    data, etag = found
    response = Response(data, mimetype=b.mimetype)
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"private, max-age={MAX_AGE}"
    return response.make_conditional(request)
