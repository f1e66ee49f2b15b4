"""Backups (online, consistent, atomic) and restores that refuse what is not a sound console DB."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import audit, backup, schema
from app.db import connect, scalar, transaction
from tests.conftest import T0


def _append(db: Any, n: int, tag: str = "test") -> None:
    for i in range(n):
        with transaction(db):
            audit.append(db, T0, "test.write", actor=tag, details={"i": i})


def _count(path: Path) -> int:
    db = connect(path, readonly=True)
    try:
        return int(scalar(db, "SELECT count(*) FROM audit_log"))
    finally:
        db.conn.close()


@pytest.fixture
def live(app: Flask) -> Path:
    return Path(app.config["CRISIS_DB"])


def test_backup_is_a_checked_self_contained_copy(live: Path, tmp_path: Path) -> None:
    done = backup.backup(live, tmp_path / "out" / "copy.db")
    assert done.path == tmp_path / "out" / "copy.db"
    assert done.size == done.path.stat().st_size > 0
    conn = sqlite3.connect(done.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    seq, digest, pending, warnings = backup.check(done.path)
    assert (seq, digest) == (done.audit_seq, done.audit_hash) and seq > 0
    assert pending == [] and warnings == []
    assert not list((tmp_path / "out").glob(".*tmp*")), "no temporary file left behind"


def test_backup_while_another_connection_writes(live: Path, tmp_path: Path) -> None:
    writer = connect(live)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                _append(writer, 5, "writer")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    before = _count(live)
    thread = threading.Thread(target=write)
    thread.start()
    try:
        copies = [backup.backup(live, tmp_path / f"b{i}.db") for i in range(5)]
    finally:
        stop.set()
        thread.join(timeout=30)
        writer.conn.close()
    assert not errors
    after = _count(live)
    assert after > before, "the writer made progress during the backups"
    for c in copies:
        n = _count(c.path)
        assert before <= n <= after
        seq, digest, _, _ = backup.check(c.path)  # the chain verifies: a consistent snapshot
        assert seq == n and digest == c.audit_hash


def test_directory_destination_names_by_time_and_prune_keeps_the_newest(
    live: Path, tmp_path: Path
) -> None:
    out = tmp_path / "backups"
    made = [backup.backup(live, f"{out}/", T0.replace(minute=m)).path for m in (1, 2, 3, 4)]
    assert [p.name for p in made] == sorted(p.name for p in made)
    assert all(p.parent == out and p.name.startswith("crisis-") for p in made)
    removed = backup.prune(out, keep=2)
    assert removed == made[:2]
    assert sorted(out.iterdir()) == made[2:]
    with pytest.raises(backup.BackupError):
        backup.prune(out, keep=0)


def test_backup_of_a_missing_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="introuvable"):
        backup.backup(tmp_path / "nope.db", tmp_path / "b.db")


def test_restore_replaces_the_database_and_keeps_the_previous_one(
    live: Path, tmp_path: Path
) -> None:
    saved = backup.backup(live, tmp_path / "saved.db")
    db = connect(live)
    _append(db, 7, "after-backup")
    db.conn.close()
    assert _count(live) == saved.audit_seq + 7

    done = backup.restore(saved.path, live, T0)
    assert done.db_path == live and done.audit_seq == saved.audit_seq
    assert _count(live) == saved.audit_seq
    assert done.previous is not None
    assert done.previous.name.startswith(live.name + ".before-restore-")
    assert _count(done.previous) == saved.audit_seq + 7, "the replaced database is kept whole"
    db = connect(live)
    try:
        assert db.journal_mode == "wal"
        assert audit.verify(db).ok
        _append(db, 1, "after-restore")  # the restored database takes writes again
        assert audit.verify(db).ok
    finally:
        db.conn.close()
    assert not list(tmp_path.glob(".*restore*"))


def test_restore_over_a_corrupt_database_keeps_it_as_evidence(live: Path, tmp_path: Path) -> None:
    saved = backup.backup(live, tmp_path / "saved.db")
    db = connect(live)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    damaged = bytearray(live.read_bytes())
    damaged[0:100] = b"\x00" * 100  # the header is gone: SQLite cannot even open it
    live.write_bytes(bytes(damaged))

    done = backup.restore(saved.path, live, T0)
    assert _count(live) == saved.audit_seq
    assert done.previous is not None and done.previous.read_bytes()[:100] == b"\x00" * 100


def test_restore_onto_a_lost_server(live: Path, tmp_path: Path) -> None:
    saved = backup.backup(live, tmp_path / "saved.db")
    target = tmp_path / "new-machine" / "crisis.db"
    target.parent.mkdir()
    Path(f"{target}-wal").write_bytes(b"stale")  # must not be replayed onto the restored file
    done = backup.restore(saved.path, target, T0)
    assert done.previous is None
    assert not Path(f"{target}-wal").exists() or Path(f"{target}-wal").read_bytes() != b"stale"
    assert _count(target) == saved.audit_seq


def _refused(src: Path, live: Path, match: str) -> None:
    before = live.read_bytes()
    with pytest.raises(backup.BackupError, match=match):
        backup.restore(src, live, T0)
    assert live.read_bytes() == before, "a refused restore leaves the database untouched"
    assert not list(live.parent.glob("*.before-restore-*"))


def test_restore_refuses_a_file_that_is_not_sqlite(live: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("ceci n'est pas une base\n")
    _refused(text, live, "n'est pas une base SQLite")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    _refused(empty, live, "n'est pas une base SQLite")
    _refused(tmp_path / "missing.db", live, "introuvable")


def test_restore_refuses_a_corrupt_file(live: Path, tmp_path: Path) -> None:
    saved = backup.backup(live, tmp_path / "saved.db").path
    data = bytearray(saved.read_bytes())
    page = 4096
    for start in range(2 * page, len(data) - page, 7 * page):
        data[start : start + page // 2] = b"\xa5" * (page // 2)
    saved.write_bytes(bytes(data))
    _refused(saved, live, "corrompue")


def test_restore_refuses_a_foreign_database(live: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, hash TEXT)")
    conn.commit()
    conn.close()
    _refused(other, live, "n'est pas une base de la console")

    another = tmp_path / "another-app.db"
    conn = sqlite3.connect(another)
    conn.execute("CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at TEXT)")
    conn.execute("INSERT INTO _sqlite_migrations VALUES ('other-app', '0001', 'now')")
    conn.commit()
    conn.close()
    _refused(another, live, "n'est pas une base de la console")


def test_restore_refuses_a_backup_from_a_newer_version(live: Path, tmp_path: Path) -> None:
    newer = backup.backup(live, tmp_path / "newer.db").path
    conn = sqlite3.connect(newer)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        [schema.migrations.name, "9999_future", "2030-01-01"],
    )
    conn.commit()
    conn.close()
    _refused(newer, live, "version plus récente")


def test_restore_refuses_a_backup_whose_audit_chain_is_broken(live: Path, tmp_path: Path) -> None:
    tampered = backup.backup(live, tmp_path / "tampered.db").path
    conn = sqlite3.connect(tampered)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    conn.commit()
    conn.close()
    _refused(tampered, live, "journal d'audit .* invalide")


def test_restore_compares_with_the_latest_signed_checkpoint(live: Path, tmp_path: Path) -> None:
    saved = backup.backup(live, tmp_path / "saved.db")
    db = connect(live)
    _append(db, 3)
    cp, _ = audit.checkpoint(db, T0, tmp_path / "k.key", tmp_path / "cps", "test")
    db.conn.close()
    public = audit.trusted_public_key(tmp_path / "k.key")

    done = backup.restore(saved.path, live, T0, cp, public)
    assert len(done.warnings) == 1 and f"n° {saved.audit_seq + 1} à {cp.seq}" in done.warnings[0]

    # A backup whose log was rewritten below a signed checkpoint is refused.
    rewritten = backup.backup(live, tmp_path / "rewritten.db").path
    old = audit.Checkpoint(**{**cp.__dict__, "seq": 2, "hash": "0" * 64})
    with pytest.raises(backup.BackupError):
        backup.restore(rewritten, live, T0, old, None)


def test_cli_backup_and_restore(runner: Any, live: Path, tmp_path: Path) -> None:
    result = runner("backup", str(tmp_path / "bk"), "--keep", "2")
    assert result.exit_code == 0, result.output
    assert "Sauvegarde écrite" in result.output
    (made,) = (tmp_path / "bk").glob("crisis-*.db")
    result = runner("restore", "--check", str(made))
    assert result.exit_code == 0, result.output
    assert "Sauvegarde saine" in result.output
    assert not list(live.parent.glob("*.before-restore-*"))
    result = runner("restore", str(made))
    assert result.exit_code == 0, result.output
    assert "journal d'audit vérifié" in result.output

    bad = tmp_path / "bad.db"
    bad.write_text("garbage")
    result = runner("restore", str(bad))
    assert result.exit_code == 2
    assert "restauration refusée" in result.output and "n'est pas une base SQLite" in result.output
    assert runner("restore", "--check", str(bad)).exit_code == 2
    shutil.copy(made, tmp_path / "copy.db")
    assert runner("backup", str(tmp_path / "missing-dir" / "x.db")).exit_code == 0
