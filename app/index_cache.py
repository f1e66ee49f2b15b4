"""The process-wide spatial-index cache: one ``SpatialIndex`` per database file.

The web server, the scheduler and the CLI all analyse impact through one index per database, so
the territory is projected and indexed once per process (docs/decisions.md). Layers are rebuilt
when a dataset's revision changes: callers pass the revision they read on their own connection
(one query per request, ``app.situation``); the loader reads on a connection of its own, since
the index outlives requests and is filled from any thread (the background build included).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils

from . import catalogue, config
from .db import connect
from .geo.index import LayerRows, SpatialIndex
from .geo.store import LayerStore

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


def _rows_on_own_connection(path: str) -> Callable[[str], LayerRows]:
    def load(slug: str) -> LayerRows:
        own = connect(path)
        try:
            rows = catalogue.layer_rows(own, slug)
        except BaseException:
            own.conn.close()
            raise
        end_read = rows.close

        def close() -> None:
            try:
                end_read()
            finally:
                own.conn.close()

        rows.close = close
        return rows

    return load


def _revision_on_own_connection(path: str) -> Callable[[str], int]:
    def revision(slug: str) -> int:
        own = connect(path)
        try:
            return catalogue.revision_of(own, slug)
        finally:
            own.conn.close()

    return revision


def index_for_path(path: str) -> SpatialIndex:
    """The shared index of the database file at ``path``."""
    with _lock:
        index = _indexes.get(path)
        if index is None:
            # Without a revision from the caller, the index asks on a connection of its own.
            files = config.index_files_dir(path)
            index = _indexes[path] = SpatialIndex(
                _rows_on_own_connection(path),
                _revision_on_own_connection(path),
                files=LayerStore(Path(files)) if files else None,
            )
            while len(_indexes) > _MAX_DATABASES:
                _indexes.popitem(last=False)
        _indexes.move_to_end(path)
        return index


def index_for(db: sqlite_utils.Database) -> SpatialIndex:
    """The shared index of the database behind ``db`` (a private one for in-memory databases)."""
    path = database_path(db)
    if not path:
        return SpatialIndex(lambda slug: catalogue.layer_rows(db, slug))
    return index_for_path(path)


def warm(path: str, layers: list[tuple[str, int | None]], keep: set[str] | None = None) -> Any:
    """Start building ``layers`` of the database at ``path`` in the background (server start).

    ``keep``: the datasets whose layer files may stay; the others' files are removed first.
    """
    index = index_for_path(path)
    if keep is not None and isinstance(index.files, LayerStore):
        index.files.prune(keep)
    return index.warm(layers)
