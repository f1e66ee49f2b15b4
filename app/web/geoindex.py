"""One spatial index per application, shared by every request and thread."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app, has_app_context

from .. import catalogue
from ..db import connect
from ..geo.index import LayerData, SpatialIndex

_lock = threading.Lock()
_KEY = "crisis_geoindex"


def _with_db(app: Flask, fn: Any, slug: str) -> Any:
    # The index outlives requests, so it opens its own short-lived connection.
    db = connect(app.config["CRISIS_DB"])
    try:
        return fn(db, slug)
    finally:
        db.conn.close()


def get_index(app: Flask | None = None) -> SpatialIndex:
    """The application's SpatialIndex (built lazily, layers rebuilt when a revision changes)."""
    if app is None:
        if not has_app_context():
            raise RuntimeError("get_index() needs an app or an app context")
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    index = app.extensions.get(_KEY)
    if index is None:
        with _lock:
            index = app.extensions.get(_KEY)
            if index is None:
                bound: Flask = app

                def loader(slug: str) -> LayerData:
                    return _with_db(bound, catalogue.layer_data, slug)  # type: ignore[no-any-return]

                def revision_of(slug: str) -> int:
                    return _with_db(bound, catalogue.revision_of, slug)  # type: ignore[no-any-return]

                index = SpatialIndex(loader, revision_of)
                app.extensions[_KEY] = index
    return index  # type: ignore[no-any-return]
