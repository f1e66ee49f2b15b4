"""The chain proves the content it records: the main courante, the checklist, zones, parameters,
stored reports and outgoing messages (issue 13, item 1).

One demo database with an event that has all of them is built once; each test tampers with a
copy the way someone holding the file would (dropping the append-only trigger first) and checks
that ``audit verify`` exits 1 naming the thing, while the untouched copy exits 0.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app import audit, events, reports, schema
from app import messages as msgs
from app.db import connect, row, transaction
from tests.conftest import T0, Runner, _build_template
from tests.messages_support import declare_toxic, playbooks, user


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo database with an event: entries, a correction, a tick, a wind shift, a report,
    a validated CAP message."""
    path = _build_template(tmp_path_factory.mktemp("content") / "demo.db", territory=True)
    db = connect(path)
    now = T0
    event = declare_toxic(db, now)
    cell = user(db, "cell")
    first = events.add_log(db, now, event.id, actor=cell, category="information", text="Odeur")
    events.add_log(
        db, now, event.id, actor=cell, category="information", text="Odeur forte",
        corrects_id=first.id,
    )  # fmt: skip
    item = events.checklist(db, event.id)[0]
    events.tick_item(db, now, event.id, item.id, actor=user(db, "director"), note="fait")
    events.change_params(
        db, now, event.id, playbooks()["toxic-release"], {"wind_from_deg": 250},
        actor=user(db, "director"),
    )  # fmt: skip
    report = reports.generate(db, now + timedelta(minutes=2), event, author="Claire Morel")
    assert report is not None
    draft = msgs.draft(
        db, now, event.id, playbooks()["toxic-release"], kind="cap",
        template="mise-a-l-abri", actor=cell,
    )  # fmt: skip
    msgs.validate(db, now, draft.id, playbooks()["toxic-release"], actor=user(db, "director"))
    db.conn.close()
    return {"path": path, "event": event.id, "entry": first.id, "item": item, "report": report,
            "message": draft.id}  # fmt: skip


def tamper(path: Path, *statements: str, params: tuple[Any, ...] = ()) -> None:
    """Change the file as its holder could: another program, the append-only triggers dropped."""
    conn = sqlite3.connect(path)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        conn.execute(statement, params if "?" in statement else ())
    conn.commit()
    conn.close()


@pytest.fixture
def copy(demo: dict[str, Any], tmp_path: Path) -> Path:
    target = tmp_path / "copy.db"
    shutil.copy(demo["path"], target)
    return target


def verify(path: Path, tmp_path: Path) -> Any:
    run = Runner(
        {
            "CRISIS_DB": str(path),
            "CRISIS_CHECKPOINT_KEY": str(tmp_path / "checkpoint.key"),
            "CRISIS_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        }
    )
    return run("audit", "verify")


def test_the_untouched_copy_verifies(copy: Path, tmp_path: Path) -> None:
    """Guards against false alarms: every row the console wrote is sealed and matches."""
    result = verify(copy, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Chaîne intacte" in result.output and "contenus vérifiés" in result.output
    done = audit.verify(connect(copy))
    assert done.ok and done.content_uncovered == 0 and done.content_checked > 20


def test_a_changed_log_entry_is_named(demo: dict[str, Any], copy: Path, tmp_path: Path) -> None:
    """Guards the issue's first finding: an entry's text changed with its trigger dropped was
    "Chaîne intacte" on the main of before."""
    tamper(copy, f"UPDATE log_entries SET text = 'Rien' WHERE id = {demo['entry']}")
    result = verify(copy, tmp_path)
    assert result.exit_code == 1
    want = f"entrée n° {demo['entry']} de la main courante de l'événement {demo['event']} modifiée"
    assert want in result.output


def test_a_deleted_log_entry_and_an_added_one_are_named(
    demo: dict[str, Any], copy: Path, tmp_path: Path
) -> None:
    """Guards deletion and insertion: a row removed, a row slipped in by another program."""
    tamper(
        copy,
        f"DELETE FROM log_entries WHERE id = {demo['entry'] + 1}",
        "INSERT INTO log_entries (event_id, fact_at, recorded_at, author_name, category, text)"
        f" VALUES ({demo['event']}, '2026-11-23T12:00:00Z', '2026-11-23T12:00:00Z', 'X',"
        " 'information', 'Antidaté')",
    )
    out = verify(copy, tmp_path).output
    e = demo["event"]
    assert f"entrée n° {demo['entry'] + 1} de la main courante de l'événement {e} supprimée" in out
    assert f"de l'événement {e} ajoutée hors de la console (absente de la chaîne)" in out


def test_a_deleted_checklist_tick_is_named(
    demo: dict[str, Any], copy: Path, tmp_path: Path
) -> None:
    """Guards checklist ticks: un-ticking a done item behind the console's back."""
    item = demo["item"]
    tamper(copy, f"UPDATE checklist_items SET done_at = NULL, done_by = NULL WHERE id = {item.id}")
    result = verify(copy, tmp_path)
    assert result.exit_code == 1
    assert (
        f"action « {item.title} » de la liste de l'événement {demo['event']} : coche supprimée"
        in result.output
    )


def test_a_replaced_report_pdf_is_named(demo: dict[str, Any], copy: Path, tmp_path: Path) -> None:
    """Guards the issue's second finding: a stored PDF replaced (its own sha256 column updated
    too) was "Chaîne intacte" on the main of before."""
    forged = b"%PDF-1.4 forged"
    tamper(
        copy,
        "UPDATE reports SET pdf = ?, sha256 = ? WHERE id = ?",
        params=(forged, hashlib.sha256(forged).hexdigest(), demo["report"].id),
    )
    result = verify(copy, tmp_path)
    assert result.exit_code == 1
    assert f"PS n°1 de l'événement {demo['event']} : PDF remplacé" in result.output


def test_changed_parameters_zones_and_message_bytes_are_named(
    demo: dict[str, Any], copy: Path, tmp_path: Path
) -> None:
    """Guards the other kinds: parameters, a zones version, the frozen bytes of a message."""
    e = demo["event"]
    tamper(
        copy,
        f"""UPDATE events SET params = '{{"wind_from_deg": 90}}' WHERE id = {e}""",
        f"UPDATE event_zones SET geojson = '{{}}' WHERE event_id = {e} AND version = 1",
        f"UPDATE message_contents SET body = X'00' WHERE message_id = {demo['message']}",
    )
    out = verify(copy, tmp_path).output
    assert f"paramètres de l'événement {e} modifiés" in out
    assert f"zones v1 de l'événement {e} modifiées" in out
    assert f"message n° {demo['message']} de l'événement {e} : contenu émis remplacé" in out


def test_a_dropped_trigger_fails_restore_check(copy: Path, tmp_path: Path) -> None:
    """Guards the schema: every trigger the migrations create must be in the file (the list
    comes from running the schema's own migrations, not from a hand copy)."""
    expected = schema.expected_triggers(connect(copy))
    assert {"log_entries_no_update", "reports_no_update", "event_zones_no_delete"} <= set(expected)
    conn = sqlite3.connect(copy)
    conn.execute("DROP TRIGGER log_entries_no_update")
    conn.commit()
    conn.close()
    run = Runner({"CRISIS_DB": str(tmp_path / "live.db")})
    result = run("restore", "--check", str(copy))
    assert result.exit_code == 1
    assert "log_entries_no_update" in result.output and "absent" in result.output


def test_rows_written_before_the_upgrade_are_sealed_once(tmp_path: Path) -> None:
    """Guards the decision on existing databases: rows without a content hash are counted as not
    covered, then sealed by the first audit record; tampering after that is named."""
    path = tmp_path / "old.db"
    db = connect(path)
    schema.migrate(db)
    db.conn.close()
    old = sqlite3.connect(path)  # what an older console wrote: rows, no seals
    old.execute("INSERT INTO organisations (id, slug, name, created_at) VALUES (1, 'o', 'O', 'x')")
    old.execute(
        "INSERT INTO users (id, login, name, org_id, password_hash, created_at,"
        " password_changed_at) VALUES (1, 'u', 'U', 1, 'x', 'x', 'x')"
    )
    old.execute(
        "INSERT INTO events (id, kind, title, declared_by, declared_at, lon, lat)"
        " VALUES (7, 'toxic-release', 'Ancien', 1, '2026-01-01T00:00:00Z', 0.5, 49.5)"
    )
    for i in range(3):
        old.execute(
            "INSERT INTO log_entries (event_id, fact_at, recorded_at, author_name, category, text)"
            f" VALUES (7, 'x', 'x', 'U', 'information', 'entrée {i}')"
        )
    old.commit()
    old.close()
    db = connect(path)
    before = audit.verify(db)
    assert before.ok and before.content_uncovered == 5  # 3 entries, the event and its params
    assert any("non couverts" in note for note in before.notes)
    with transaction(db):
        audit.append(db, T0, "test.first_write")
    sealed = row(db, "SELECT * FROM audit_log WHERE action = 'audit.rows_sealed'")
    assert sealed is not None and sealed["event_id"] == 7
    after = audit.verify(db)
    assert after.ok and after.content_uncovered == 0 and after.content_checked == 5
    db.conn.close()
    tamper(path, "UPDATE log_entries SET text = 'autre' WHERE id = 2")
    broken = audit.verify(connect(path))
    assert not broken.ok
    assert broken.content_problems == ("entrée n° 2 de la main courante de l'événement 7 modifiée",)
