"""Idempotency keys on the main courante and the checklist: a resend is answered, not redone."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from app import audit, events, idempotency
from app.clock import iso
from app.db import row, scalar
from app.playbooks import Playbook, load_playbooks
from tests.conftest import PROJECT, T0
from tests.unit.test_events import ensure_site, toxic, user

KEY = "0b6f2c1e-4a57-4c1b-9a53-7d0c9d9b1f10"


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Playbook]:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors, errors
    return found


@pytest.fixture
def site_db(db: Any) -> Any:
    ensure_site(db)
    return db


def count(db: Any, sql: str, params: Any = ()) -> int:
    return int(scalar(db, sql, params) or 0)


def test_valid_keys() -> None:
    assert idempotency.valid_key(KEY)
    assert idempotency.valid_key("a" * 128) and idempotency.valid_key("tablet:1.2_x")
    for bad in ("", "a" * 129, "clé", "a b", "a/b", None, 12):
        assert not idempotency.valid_key(bad), bad


def test_same_key_twice_makes_one_entry_and_answers_it(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    liaison = user(db, "liaison")
    fact = "2026-11-23T12:55:00Z"
    first = events.add_log(
        db, T0, event.id, actor=liaison, category="message reçu", text="Nuage vers Lillebonne",
        fact_at=fact, idempotency_key=KEY,
    )  # fmt: skip
    later = T0 + timedelta(minutes=3)
    again = events.add_log(
        db, later, event.id, actor=liaison, category="message reçu", text="Nuage vers Lillebonne",
        fact_at=fact, idempotency_key=KEY,
    )  # fmt: skip
    assert again == first
    assert first.fact_at == fact and first.recorded_at == iso(T0)
    assert count(db, "SELECT COUNT(*) FROM log_entries WHERE text = 'Nuage vers Lillebonne'") == 1
    record = row(db, "SELECT * FROM audit_log WHERE action = 'log.entry_added'")
    assert record is not None and json.loads(record["details"])["idempotency_key"] == KEY
    assert count(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'log.entry_added'") == 1
    assert audit.verify(db).ok


def test_key_reused_for_another_request_is_refused(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    liaison = user(db, "liaison")
    events.add_log(db, T0, event.id, actor=liaison, category="information", text="A",
                   idempotency_key=KEY)  # fmt: skip
    before = count(db, "SELECT COUNT(*) FROM log_entries")
    for change in ({"text": "B"}, {"category": "action"}, {"fact_at": "2026-11-23T12:00:00Z"}):
        args: dict[str, Any] = {"category": "information", "text": "A", **change}
        with pytest.raises(events.EventError) as err:
            events.add_log(db, T0, event.id, actor=liaison, idempotency_key=KEY, **args)
        assert err.value.status == 422 and err.value.field == "Idempotency-Key"
        assert "déjà servi" in err.value.message
    # The same key on a checklist tick is another request too.
    item = next(i for i in events.checklist(db, event.id) if i.role == "liaison")
    with pytest.raises(events.EventError) as err:
        events.tick_item(db, T0, event.id, item.id, actor=liaison, idempotency_key=KEY)
    assert err.value.status == 422
    assert count(db, "SELECT COUNT(*) FROM log_entries") == before
    assert not any(i.done for i in events.checklist(db, event.id))


def test_keys_are_per_user(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    for login in ("liaison", "cell"):
        events.add_log(db, T0, event.id, actor=user(db, login), category="information",
                       text="Même clé, deux personnes", idempotency_key=KEY)  # fmt: skip
    assert count(db, "SELECT COUNT(*) FROM log_entries WHERE text LIKE 'Même clé%'") == 2
    assert count(db, "SELECT COUNT(*) FROM idempotency_keys WHERE key = ?", [KEY]) == 2


def test_malformed_key_is_refused_before_anything(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    with pytest.raises(events.EventError) as err:
        events.add_log(db, T0, event.id, actor=user(db, "cell"), category="information",
                       text="x", idempotency_key="pas une clé")  # fmt: skip
    assert err.value.status == 400 and err.value.field == "Idempotency-Key"


def test_resend_after_the_event_closed_answers_the_entry(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    cell = user(db, "cell")
    entry = events.add_log(db, T0, event.id, actor=cell, category="information", text="Envoyé",
                           idempotency_key=KEY)  # fmt: skip
    events.close(db, T0, event.id, "Fin", actor=user(db, "director"))
    # The answer was lost on the way back: the resend gets the entry, not "event closed".
    again = events.add_log(db, T0, event.id, actor=cell, category="information", text="Envoyé",
                           idempotency_key=KEY)  # fmt: skip
    assert again.id == entry.id
    # A new key after closing is refused as before.
    with pytest.raises(events.EventError) as err:
        events.add_log(db, T0, event.id, actor=cell, category="information", text="Envoyé",
                       idempotency_key=KEY + "-2")  # fmt: skip
    assert err.value.status == 409


def test_tick_with_fact_time_and_key(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    liaison = user(db, "liaison")
    item = next(i for i in events.checklist(db, event.id) if i.role == "liaison")
    done_at = T0 + timedelta(minutes=1)  # done offline in time...
    sent = T0 + timedelta(hours=3)  # ...sent when the network came back, after its due time
    assert iso(sent) > item.due_at
    ticked = events.tick_item(db, sent, event.id, item.id, actor=liaison, note="fait",
                              fact_at=iso(done_at), idempotency_key=KEY)  # fmt: skip
    assert ticked.done_at == iso(done_at) and not ticked.done_late()
    again = events.tick_item(db, sent, event.id, item.id, actor=liaison, note="fait",
                             fact_at=iso(done_at), idempotency_key=KEY)  # fmt: skip
    assert again == ticked
    logged = events.log_entries(db, event.id, category="action")
    assert len(logged) == 1 and "en retard" not in logged[0].text
    assert logged[0].fact_at == iso(done_at) and logged[0].recorded_at == iso(sent)
    # Without a key, a second tick is the usual 409.
    with pytest.raises(events.EventError) as err:
        events.tick_item(db, sent, event.id, item.id, actor=liaison)
    assert err.value.status == 409
    # A fact time in the future is refused like the log's.
    other = next(i for i in events.checklist(db, event.id) if not i.done and i.role == "liaison")
    with pytest.raises(events.EventError) as err:
        events.tick_item(db, T0, event.id, other.id, actor=liaison,
                         fact_at=iso(T0 + timedelta(hours=1)))  # fmt: skip
    assert err.value.field == "fact_at"
