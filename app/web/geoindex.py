"""The application's spatial index: the process-wide one of its database (app.index_cache)."""

from __future__ import annotations

from flask import Flask, current_app

from ..geo.index import SpatialIndex
from ..index_cache import index_for_path


def get_index(app: Flask | None = None) -> SpatialIndex:
    """The SpatialIndex shared by every request and thread of this app's database."""
    app = app or current_app
    return index_for_path(app.config["CRISIS_DB"])
