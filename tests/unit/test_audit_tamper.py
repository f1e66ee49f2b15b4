"""Signed checkpoints and tamper detection on copies of a database, through the API and the CLI."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from app import audit
from app.db import connect, transaction
from tests.conftest import T0, Runner


def fill(db, n=8):
    for i in range(n):
        with transaction(db):
            audit.append(db, T0, "test.action", actor="alice", object_id=i, details={"i": i})


def tamper(path, *statements):
    """Change the file through a connection that drops the append-only triggers first."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


@pytest.fixture
def original(app, db):
    fill(db)
    return app.config["CRISIS_DB"]


def copy_db(source, target):
    """A consistent copy (the WAL included), as a backup would make."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()
    return str(target)


@pytest.fixture
def copy(original, tmp_path):
    return copy_db(original, tmp_path / "copy.db")


def runner_for(path, tmp_path):
    return Runner(
        {
            "CRISIS_DB": path,
            "CRISIS_SECRET_KEY": "test-secret",
            "CRISIS_CHECKPOINT_KEY": str(tmp_path / "checkpoint.key"),
            "CRISIS_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        }
    )


def middle(path):
    conn = sqlite3.connect(path)
    n = conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
    conn.close()
    return n // 2, n


def test_checkpoint_key_is_created_0600_and_signs(app, db, tmp_path):
    fill(db, 3)
    key = tmp_path / "checkpoint.key"
    cp, path = audit.checkpoint(db, T0, key, tmp_path / "checkpoints", "test")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (cp.seq, cp.hash) == audit.head(db)
    assert audit.Checkpoint.from_file(path) == cp
    assert audit.last_checkpoint(db)["seq"] == cp.seq
    assert audit.check_signature(cp, audit.trusted_public_key(key)) == ""
    assert audit.verify(db, cp, audit.trusted_public_key(key)).ok


def test_a_checkpoint_from_another_key_is_refused(app, db, tmp_path):
    fill(db, 3)
    cp, _ = audit.checkpoint(db, T0, tmp_path / "other.key", tmp_path / "elsewhere", "forged")
    trusted = (
        audit.trusted_public_key(tmp_path / "mine.key")
        or audit.load_or_create_key(tmp_path / "mine.key").public_key()
    )
    result = audit.verify(db, cp, trusted)
    assert not result.ok and "unknown key" in result.problem


def test_a_tampered_signature_is_refused(app, db, tmp_path):
    fill(db, 3)
    cp, _ = audit.checkpoint(db, T0, tmp_path / "k.key", tmp_path / "cps", "x")
    forged = audit.Checkpoint(**{**cp.__dict__, "seq": cp.seq + 5})
    assert "signature" in audit.check_signature(forged)


def test_intact_copy_exits_0(original, copy, tmp_path):
    runner = runner_for(original, tmp_path)
    assert runner("audit", "checkpoint").exit_code == 0
    result = runner_for(copy, tmp_path)("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intacte" in result.output


def test_changed_byte_is_named(copy, tmp_path):
    k, _ = middle(copy)
    tamper(copy, f"UPDATE audit_log SET at = replace(at, '2026', '2025') WHERE seq = {k}")
    assert audit.verify(connect(copy)).first_bad_seq == k
    result = runner_for(copy, tmp_path)("audit", "verify")
    assert result.exit_code == 1 and f"n° {k} " in result.output


def test_changed_hash_byte_is_named(copy, tmp_path):
    k, _ = middle(copy)
    tamper(
        copy,
        "UPDATE audit_log SET hash = CASE WHEN substr(hash, 1, 1) = '0' THEN '1' ELSE '0' END"
        f" || substr(hash, 2) WHERE seq = {k}",
    )
    assert audit.verify(connect(copy)).first_bad_seq == k


def test_removed_middle_record_is_named(copy, tmp_path):
    k, _ = middle(copy)
    tamper(copy, f"DELETE FROM audit_log WHERE seq = {k}")
    result = runner_for(copy, tmp_path)("audit", "verify")
    assert result.exit_code == 1 and f"n° {k} " in result.output


def test_removed_and_renumbered_is_named(copy, tmp_path):
    k, n = middle(copy)
    tamper(
        copy,
        f"DELETE FROM audit_log WHERE seq = {k}",
        f"UPDATE audit_log SET seq = seq - 1 WHERE seq > {k}",
    )
    assert audit.verify(connect(copy)).first_bad_seq == k


def test_swapped_records_are_named(copy, tmp_path):
    k, _ = middle(copy)
    tamper(
        copy,
        f"UPDATE audit_log SET seq = -1 WHERE seq = {k}",
        f"UPDATE audit_log SET seq = {k} WHERE seq = {k + 1}",
        f"UPDATE audit_log SET seq = {k + 1} WHERE seq = -1",
    )
    result = runner_for(copy, tmp_path)("audit", "verify")
    assert result.exit_code == 1 and f"n° {k} " in result.output


def test_tail_cut_relative_to_a_checkpoint_is_named(original, tmp_path):
    runner = runner_for(original, tmp_path)
    assert runner("audit", "checkpoint").exit_code == 0
    cp_file = audit.latest_checkpoint_file(tmp_path / "checkpoints")
    copy = copy_db(original, tmp_path / "cut.db")
    _, n = middle(copy)
    tamper(
        copy,
        "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete",
        "DELETE FROM audit_checkpoints",
        f"DELETE FROM audit_log WHERE seq > {n - 2}",
    )
    result = runner_for(copy, tmp_path)("audit", "verify", "--checkpoint", str(cp_file))
    assert result.exit_code == 1, result.output
    assert f"n° {n - 1} " in result.output and "tail cut" in result.output
    # Without the file the stored checkpoint is gone too: the default directory still catches it.
    result = runner_for(copy, tmp_path)("audit", "verify")
    assert result.exit_code == 1


def test_rewritten_log_after_a_checkpoint_is_caught(original, tmp_path):
    runner = runner_for(original, tmp_path)
    runner("audit", "checkpoint")
    cp_file = audit.latest_checkpoint_file(tmp_path / "checkpoints")
    copy = copy_db(original, tmp_path / "rewritten.db")
    # Rewrite the whole chain consistently from record 3 (an attacker with the DB, not the key).
    db = connect(copy)
    db.execute("DROP TRIGGER audit_log_no_update")
    prev = db.execute("SELECT hash FROM audit_log WHERE seq = 2").fetchone()[0]
    for rec in list(db.query("SELECT * FROM audit_log WHERE seq >= 3 ORDER BY seq")):
        rec["actor"] = "mallory" if rec["seq"] == 3 else rec["actor"]
        digest = audit.chain_hash(prev, rec)
        db.execute(
            "UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            [rec["actor"], prev, digest, rec["seq"]],
        )
        prev = digest
    db.conn.commit()
    assert audit.verify(db).ok is False  # the stored checkpoint already disagrees
    result = runner_for(copy, tmp_path)("audit", "verify", "--checkpoint", str(cp_file))
    assert result.exit_code == 1


def test_unreadable_checkpoint_is_bad_input(original, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = runner_for(original, tmp_path)("audit", "verify", "--checkpoint", str(bad))
    assert result.exit_code == 2


def test_head_command(original, tmp_path):
    seq, digest = audit.head(connect(original))
    result = runner_for(original, tmp_path)("audit", "head")
    assert result.output.strip() == f"{seq} {digest}"
