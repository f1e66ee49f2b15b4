"""The process-wide spatial-index cache: one ``SpatialIndex`` per database file.

The web server, the scheduler and the CLI all analyse impact through one index per database, so
the territory is projected and indexed once per process (docs/decisions.md). Layers are rebuilt
when a dataset's revision changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlite_utils

from . import catalogue
from .db import connect
from .geo.index import LayerData, SpatialIndex

_lock = threading.Lock()
# A server has one database; a bound keeps test runs (a database per test) from hoarding indexes.
_MAX_DATABASES = 4
_indexes: OrderedDict[str, SpatialIndex] = OrderedDict()


def database_path(db: sqlite_utils.Database) -> str:
    """The file behind a connection ('' for an in-memory database)."""
    for r in db.execute("PRAGMA database_list").fetchall():
        if r[1] == "main":
            return str(r[2] or "")
    return ""


def _on_own_connection(path: str, fn: Callable[[sqlite_utils.Database, str], Any]) -> Any:
    def call(slug: str) -> Any:
        # The index outlives requests and is filled from any thread: its own short connection.
        own = connect(path)
        try:
            return fn(own, slug)
        finally:
            own.conn.close()

    return call


def index_for_path(path: str) -> SpatialIndex:
    """The shared index of the database file at ``path``."""
    with _lock:
        index = _indexes.get(path)
        if index is None:
            loader: Callable[[str], LayerData] = _on_own_connection(path, catalogue.layer_data)
            revision: Callable[[str], int] = _on_own_connection(path, catalogue.revision_of)
            index = _indexes[path] = SpatialIndex(loader, revision)
            while len(_indexes) > _MAX_DATABASES:
                _indexes.popitem(last=False)
        _indexes.move_to_end(path)
        return index


def index_for(db: sqlite_utils.Database) -> SpatialIndex:
    """The shared index of the database behind ``db`` (a private one for in-memory databases)."""
    path = database_path(db)
    if not path:
        return SpatialIndex(lambda slug: catalogue.layer_data(db, slug))
    return index_for_path(path)
