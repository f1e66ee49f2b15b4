"""Opening the database: one sqlite3 driver, WAL, foreign keys, a busy timeout."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils


def connect(path: str | Path, *, readonly: bool = False) -> sqlite_utils.Database:
    """Open the database with the pragmas every connection needs."""
    if str(path) == ":memory:":
        conn = sqlite3.connect(":memory:", check_same_thread=False)
    elif readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=15, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 15000")
    db = sqlite_utils.Database(conn, execute_plugins=False)
    if str(path) != ":memory:" and not readonly and db.journal_mode != "wal":
        db.enable_wal()
    conn.execute("PRAGMA synchronous = NORMAL")
    return db


def row(db: sqlite_utils.Database, sql: str, params: Any = ()) -> dict[str, Any] | None:
    """The first row of a query as a dict, or None."""
    for r in db.query(sql, params):
        return r
    return None


def rows(db: sqlite_utils.Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    """All rows of a query as dicts."""
    return list(db.query(sql, params))


def scalar(db: sqlite_utils.Database, sql: str, params: Any = ()) -> Any:
    """The first column of the first row, or None."""
    cur = db.execute(sql, params)
    found = cur.fetchone()
    return found[0] if found else None


def dumps(value: Any) -> str:
    """Compact, stable JSON for storage."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


BEFORE_WRITE: list[Callable[[sqlite_utils.Database], None]] = []
"""Functions run on a connection before each unit of work (a layer above storage registers
here: the audit log's content tracking, ``app.audit.track``). Each must be cheap once done."""
BEFORE_COMMIT: list[Callable[[sqlite_utils.Database], None]] = []
"""Functions run inside a unit of work just before it commits (``app.audit`` seals there the
rows written after the unit's last audit record)."""


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A unit of work: BEGIN IMMEDIATE (writers queue, not fail), or a savepoint when nested."""
    for prepare in BEFORE_WRITE:
        prepare(db)
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        try:
            for finish in BEFORE_COMMIT:
                finish(db)
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
