"""The live state of an event (app.live): bumped with every change a view shows, in the same
transaction, never by a read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app import audit, events, live, schema
from app.db import connect, rows, transaction
from tests.conftest import T0
from tests.unit.test_events import playbooks, site_db, toxic, user  # noqa: F401

__all__ = ["playbooks", "site_db"]


@pytest.mark.parametrize(
    ("action", "part"),
    [
        ("event.params_changed", "zones"),
        ("event.level_changed", "event"),
        ("event.closed", "event"),
        ("event.declared", "event"),
        ("event.synthesis_changed", "event"),
        ("checklist.item_undone", "checklist"),
        ("checklist.item_corrected", "checklist"),
        ("grant.denied", "grants"),
        ("log.entry_added", "log"),
        ("checklist.item_done", "checklist"),
        ("grant.requested", "grants"),
        ("grant.expired", "grants"),
        ("drill.inject_fired", "injects"),
        ("drill.inject_acknowledged", "injects"),
        ("drill.paused", "drill"),
        ("report.generated", "reports"),
        ("message.sent", "messages"),
        ("call.status", "calls"),
        ("callout.status", "callouts"),
        ("centre.opened", "centres"),
        ("means.status", "means"),
        ("task.updated", "tasks"),
        ("contact.read", None),  # reading the directory's numbers is a read
        # Reads and refused attempts change nothing a view shows.
        ("grant.refused", None),
        ("data.read", None),
        ("data.denied", None),
        ("session.started", None),
        ("user.created", None),
    ],
)
def test_part_of_an_action(action: str, part: str | None) -> None:
    assert live.part_of(action) == part


def test_every_change_bumps_its_part_and_reads_do_not(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    first = live.state(db, event.id)
    assert first is not None and first.version == 1 and set(first.parts) == {"event"}
    assert first.parts["event"].by == user(db, "director").name

    cell = user(db, "cell")
    events.add_log(db, T0, event.id, actor=cell, category="information", text="RAS")
    after_log = live.state(db, event.id)
    assert after_log is not None and after_log.version == 2
    assert after_log.parts["log"].version == 2 and after_log.parts["log"].by == cell.name
    assert after_log.parts["event"].version == 1  # the other parts keep their stamp

    later = T0 + timedelta(minutes=3)
    events.change_params(
        db,
        later,
        event.id,
        playbooks["toxic-release"],
        {"wind_from_deg": 260},
        actor=user(db, "director"),
    )
    zoned = live.state(db, event.id)
    assert zoned is not None and zoned.version == 3
    assert zoned.parts["zones"].version == 3 and zoned.parts["zones"].at == "2026-11-23T13:03:00Z"
    assert zoned.changed_at == "2026-11-23T13:03:00Z"

    # The director's synthesis shows on the event's pages (its region follows "event").
    written = events.set_synthesis(
        db, later, event, "Situation : fuite maîtrisée.", actor=user(db, "director")
    )
    assert written.synthesis
    synthesised = live.state(db, event.id)
    assert synthesised is not None and synthesised.version == 4
    assert synthesised.parts["event"].version == 4
    zoned = synthesised

    # A read (an access record) is in the audit chain but does not move the state.
    with transaction(db):
        audit.append(db, later, "data.read", actor="cell", event_id=event.id, details={})
    assert live.state(db, event.id) == zoned


def test_the_bump_is_in_the_transaction_of_the_change(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    before = live.state(db, event.id)
    with pytest.raises(RuntimeError), transaction(db):
        audit.append(db, T0, "log.entry_added", actor="cell", event_id=event.id)
        raise RuntimeError("the change fails after its audit record")
    assert live.state(db, event.id) == before
    with pytest.raises(RuntimeError, match="inside the transaction"):
        live.bump(db, T0, event.id, "log.entry_added")


def test_events_do_not_mix_and_unknown_events_have_no_state(site_db: Any, playbooks: Any) -> None:
    db = site_db
    one = toxic(db, playbooks)
    two = toxic(db, playbooks, title="Autre fuite")
    events.add_log(db, T0, two.id, actor=user(db, "cell"), category="action", text="x")
    one_state, two_state = live.state(db, one.id), live.state(db, two.id)
    assert one_state is not None and two_state is not None
    assert (one_state.version, two_state.version) == (1, 2)
    assert one_state.etag != two_state.etag
    assert live.state(db, 999) is None and live.current_version(db, 999) is None
    assert live.current_version(db, two.id) == 2
    # An action naming an event that does not exist bumps nothing (and fails nothing).
    with transaction(db):
        assert live.bump(db, T0, 999, "log.entry_added") == "log"
    assert live.state(db, 999) is None
    overall = live.global_state(db)
    assert (overall.version, overall.events) == (3, 2)


def test_migration_backfills_existing_events(tmp_path: Any) -> None:
    db = connect(tmp_path / "old.db")
    schema.migrations.apply(db, stop_before="0024_event_state")  # a database of the last version
    db.execute("PRAGMA foreign_keys = OFF")  # a bare event row, no user needed
    db.execute(
        "INSERT INTO events (kind, title, is_drill, level, status, declared_by, declared_at,"
        " closed_at, lon, lat, place, params, report_cadence_min) VALUES"
        " ('toxic-release', 'Ancien', 0, 2, 'closed', 1, '2026-11-23T12:00:00Z',"
        " '2026-11-23T15:00:00Z', 0.5, 49.5, 'ici', '{}', 60)"
    )
    assert "0024_event_state" in schema.migrate(db)
    assert rows(db, "SELECT event_id, version, changed_at, parts FROM event_state") == [
        {"event_id": 1, "version": 1, "changed_at": "2026-11-23T15:00:00Z", "parts": "{}"}
    ]
    found = live.state(db, 1)
    assert found is not None and found.status == "closed" and found.parts == {}
    db.conn.close()
