"""Opening the database: one sqlite3 driver, WAL, foreign keys, a busy timeout."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
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


class Pool:
    """Open connections kept between the requests of one process.

    Opening a connection costs about a millisecond (SQLite maps the WAL index and reads the
    schema again), more than a cached request's whole work; a request takes a connection, gives
    it back at its end, and the next request of any thread reuses it. One connection serves one
    request at a time. A connection given back inside a transaction is rolled back first (a
    request that failed half-way leaves nothing open); one inherited through a fork is never
    reused (a child process opens its own). ``:memory:`` databases are not pooled: each
    connection to one is another database.
    """

    def __init__(self, path: str | Path, size: int = 8) -> None:
        self.path = str(path)
        self.size = max(0, size)
        self._idle: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def take(self) -> sqlite_utils.Database:
        """A connection: an idle one of this process, or a new one."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return connect(self.path)

    def give(self, db: sqlite_utils.Database) -> None:
        """Take back a connection; closed instead when the pool is full or it is unusable."""
        keep = self.path != ":memory:" and os.getpid() == self._pid
        try:
            if db.conn.in_transaction:
                db.conn.rollback()
        except sqlite3.Error:
            keep = False
        with self._lock:
            if keep and len(self._idle) < self.size:
                self._idle.append(db)
                return
        db.conn.close()

    def close(self) -> None:
        """Close every idle connection (the database file is about to be replaced, or the
        process ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.conn.close()


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
