"""The application's spatial index: the process-wide one of its database (app.index_cache)."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from .. import index_cache, situation
from ..db import connect
from ..geo.index import SpatialIndex
from ..index_cache import index_for_path


def get_index(app: Flask | None = None) -> SpatialIndex:
    """The SpatialIndex shared by every request and thread of this app's database."""
    app = app or current_app
    return index_for_path(app.config["CRISIS_DB"])


def warm(app: Flask) -> threading.Thread | None:
    """Build the layers the console reads in a background thread (server start).

    The console answers meanwhile; a request needing a layer waits for that layer only.
    """
    path = app.config["CRISIS_DB"]
    if path == ":memory:":
        return None
    db = connect(path)
    try:
        order = situation.index_warm_order(db)
        datasets = situation.read_layers(db).datasets
    finally:
        db.conn.close()
    keep = {slug for slug, _ in order if datasets[slug].sensitivity != "personal"}
    thread: threading.Thread = index_cache.warm(path, order, keep)
    return thread
