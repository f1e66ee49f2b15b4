"""``db.Pool``: the connections the web's requests take and give back."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from flask import Flask

from app import db as db_module
from app.db import Pool, connect
from app.web import context


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "pool.db"
    db = connect(p)
    db.execute("CREATE TABLE t (x INTEGER)")
    db.conn.commit()
    db.conn.close()
    return p


def test_a_connection_given_back_is_the_next_one_taken(path: Path) -> None:
    pool = Pool(path, size=2)
    first = pool.take()
    pool.give(first)
    assert pool.take() is first
    other = pool.take()  # the idle one is in use: a new one
    assert other is not first
    assert other.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # opened as connect() does


def test_a_transaction_left_open_is_rolled_back(path: Path) -> None:
    pool = Pool(path)
    db = pool.take()
    db.conn.execute("BEGIN")
    db.conn.execute("INSERT INTO t VALUES (1)")
    pool.give(db)  # a request that failed half-way
    again = pool.take()
    assert again is db and not again.conn.in_transaction
    assert again.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    fresh = connect(path)  # and no lock is held: another connection writes at once
    fresh.execute("INSERT INTO t VALUES (2)")
    fresh.conn.commit()
    fresh.conn.close()


def test_beyond_its_size_connections_are_closed(path: Path) -> None:
    pool = Pool(path, size=1)
    a, b = pool.take(), pool.take()
    pool.give(a)
    pool.give(b)
    with pytest.raises(Exception, match="closed"):
        b.execute("SELECT 1")
    assert pool.take() is a


def test_close_closes_the_idle_ones(path: Path) -> None:
    pool = Pool(path)
    a = pool.take()
    pool.give(a)
    pool.close()
    with pytest.raises(Exception, match="closed"):
        a.execute("SELECT 1")
    assert pool.take() is not a


def test_after_a_fork_the_parents_connections_are_not_reused(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = Pool(path)
    parents = pool.take()
    pool.give(parents)
    child = os.getpid() + 1
    monkeypatch.setattr(db_module.os, "getpid", lambda: child)  # now in a forked child
    mine = pool.take()
    assert mine is not parents
    pool.give(mine)
    assert pool.take() is mine


def test_memory_databases_are_not_pooled() -> None:
    pool = Pool(":memory:")
    a = pool.take()
    a.execute("CREATE TABLE scratch (x)")
    pool.give(a)
    b = pool.take()
    assert b is not a
    assert "scratch" not in b.table_names()


def test_a_request_gives_its_connection_back_without_its_transaction(app: Flask) -> None:
    """In the app: the connection a request took is the next request's, and a transaction the
    request left open (a failure half-way) holds no lock once the request has ended."""
    with app.app_context():
        first = context.get_db()
        first.conn.execute("BEGIN IMMEDIATE")  # the write lock
    other = sqlite3.connect(app.config["CRISIS_DB"], timeout=0.2)
    other.execute("BEGIN IMMEDIATE")  # would raise "database is locked" if it were still held
    other.rollback()
    other.close()
    with app.app_context():
        assert context.get_db() is first
        assert not first.conn.in_transaction


def test_an_app_moved_to_another_database_uses_connections_to_it(
    app: Flask, tmp_path: Path
) -> None:
    with app.app_context():
        before = context.get_db()
    moved = tmp_path / "elsewhere.db"
    connect(moved).conn.close()
    app.config["CRISIS_DB"] = str(moved)
    with app.app_context():
        now = context.get_db()
        assert now is not before
        assert now.execute("PRAGMA database_list").fetchone()[2] == str(moved)
    with pytest.raises(Exception, match="closed"):  # the old pool's idle connection is closed
        before.execute("SELECT 1")
