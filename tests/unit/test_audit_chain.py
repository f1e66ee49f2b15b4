"""The hash chain: appends, verification, the append-only triggers."""

from __future__ import annotations

import sqlite3

import pytest

from app import audit, schema
from app.db import connect, transaction
from tests.conftest import T0


@pytest.fixture
def db():
    database = connect(":memory:")
    schema.migrate(database)
    yield database
    database.conn.close()


def fill(db, n=5):
    for i in range(n):
        with transaction(db):
            audit.append(db, T0, "test.action", actor="alice", object_id=i, details={"i": i})


def test_chain_verifies_and_head_moves(db):
    assert audit.head(db) == (0, audit.GENESIS)
    fill(db)
    result = audit.verify(db)
    # 5 records and, first of all, the one that starts covering the content kinds
    assert result.ok and result.count == 6 and result.head_seq == 6
    assert audit.head(db)[1] == result.head_hash


def test_append_outside_a_transaction_is_refused(db):
    with pytest.raises(RuntimeError):
        audit.append(db, T0, "x")


def test_triggers_refuse_update_and_delete(db):
    fill(db, 2)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("DELETE FROM audit_log WHERE seq = 1")


def test_a_changed_record_is_named(db):
    fill(db)
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("""UPDATE audit_log SET details = '{"i": 9}' WHERE seq = 3""")
    result = audit.verify(db)
    assert not result.ok and result.first_bad_seq == 3
