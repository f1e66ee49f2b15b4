"""Centres, means, tasks and the call counts: append-only histories (state rebuilt at a past
time), main-courante entries, and what the report, the EMSI message and a drill inject take."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest

from app import auth, events, reports
from app.clock import iso
from app.db import connect
from app.messages import emsi
from app.messages.facts import load_facts
from app.pcs import PcsError, centres, means, summarise, tasks
from tests.conftest import T0


@pytest.fixture
def world(territory_app):
    db = connect(territory_app.config["CRISIS_DB"])
    playbook = territory_app.extensions["library"].playbook("toxic-release")
    director = auth.get_user_by_login(db, "director")
    event = events.declare(
        db,
        T0,
        playbook,
        actor=director,
        title="Fuite toxique FICTIF",
        site="FICTIF-1",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
        drill=True,
    )
    yield db, event, playbook, director
    db.conn.close()


def test_a_centre_opens_fills_and_keeps_its_history(world):
    db, event, _, director = world
    liaison = auth.get_user_by_login(db, "liaison")
    with pytest.raises(PcsError):  # not open yet
        centres.register(db, T0, event.id, "DEMO-CARE-01", actor=liaison, arrivals=10)
    c = centres.open_centre(db, T0, event.id, "DEMO-CARE-01", actor=director)
    assert c.is_open and c.occupancy == 0 and c.capacity > 0
    t1 = T0 + timedelta(minutes=10)
    centres.register(db, t1, event.id, "DEMO-CARE-01", actor=liaison, arrivals=c.capacity - 5)
    t2 = T0 + timedelta(minutes=20)
    full = centres.register(db, t2, event.id, "DEMO-CARE-01", actor=liaison, arrivals=20)
    assert full.over == 15 and full.remaining == 0 and full.arrived == c.capacity + 15
    log = events.log_entries(db, event.id)[-1].text
    assert "CAPACITÉ DÉPASSÉE de 15" in log and "20 arrivées" in log
    with pytest.raises(PcsError, match="départs"):
        centres.register(db, t2, event.id, "DEMO-CARE-01", actor=liaison, departures=10_000)
    left = centres.register(db, t2, event.id, "DEMO-CARE-01", actor=liaison, departures=40)
    assert left.occupancy == c.capacity - 25 and left.arrived == c.capacity + 15
    # The state as at t1, rebuilt from the append-only rows.
    then = centres.open_centres(db, event.id, at=iso(t1))
    assert [x.occupancy for x in then] == [c.capacity - 5]
    assert centres.evacuation_figures(db, event.id) == (c.capacity + 15, c.capacity - 25)
    with pytest.raises(Exception, match="append-only"):
        db.execute("UPDATE centre_changes SET occupancy = 0")
    # The map's API gives the open centres with their places left.
    feature = then[0].feature()
    assert feature["properties"]["kind"] == "centre" and feature["properties"]["remaining"] == 5


def test_means_tasks_and_the_summary(world):
    db, event, playbook, director = world
    bus = next(m for m in means.board(db, event.id) if m.kind == "bus")
    means.set_status(db, T0, event.id, bus.id, "en_route", actor=director, place="Lillebonne")
    means.set_status(db, T0, event.id, bus.id, "engage", actor=director, place="Lillebonne")
    with pytest.raises(PcsError):
        means.set_status(db, T0, event.id, bus.id, "engage", actor=director, place="Lillebonne")
    assert means.counts(db, event.id)["engage"] == 1
    item = events.checklist(db, event.id)[0]
    task = tasks.create_task(
        db,
        T0,
        event.id,
        actor=director,
        title="",
        due=15,
        assignee_role="liaison",
        checklist_item_id=item.id,
    )
    assert task.title == item.title and task.checklist_item_id == item.id
    liaison = auth.get_user_by_login(db, "liaison")
    cell = auth.get_user_by_login(db, "cell")
    other = tasks.create_task(
        db,
        T0,
        event.id,
        actor=director,
        title="Ouvrir le CARE",
        due="14:30",
        assignee_id=cell.id,
    )
    later = T0 + timedelta(minutes=40)
    assert [t.id for t in tasks.late_tasks(db, event.id, later)] == [task.id, other.id] or (
        {t.id for t in tasks.late_tasks(db, event.id, later)} == {task.id, other.id}
    )
    with pytest.raises(PcsError):  # the liaison changes only their own tasks
        tasks.update_task(db, later, event.id, other.id, actor=liaison, status="fait")
    tasks.update_task(db, later, event.id, task.id, actor=liaison, status="fait", note="Fait")
    assert {t.id for t in tasks.late_tasks(db, event.id, later)} == {other.id}
    texts = [e.text for e in events.log_entries(db, event.id)]
    assert any(f"Tâche n°{task.id}" in t and "fait" in t for t in texts)
    assert any(bus.name in t and "engagé" in t for t in texts)
    s = summarise(db, later, event, playbook)
    assert s.means_engaged == 1 and [t.id for t in s.tasks_late] == [other.id]
    assert not s.calls and not s.centres


def test_report_emsi_and_inject_take_their_figures_from_here(world, tmp_path, territory_app):
    db, event, playbook, director = world
    centres.open_centre(db, T0, event.id, "DEMO-CARE-01", actor=director)
    centres.register(db, T0, event.id, "DEMO-CARE-01", actor=director, arrivals=42)
    bus = next(m for m in means.board(db, event.id) if m.kind == "bus")
    means.set_status(db, T0, event.id, bus.id, "engage", actor=director)
    tasks.create_task(
        db, T0, event.id, actor=director, title="Prévenir le COD", due=5, assignee_role="liaison"
    )
    later = T0 + timedelta(minutes=30)
    report = reports.generate(db, later, event, author="Test", playbook=playbook)
    assert report is not None
    path = tmp_path / "r.pdf"
    path.write_bytes(reports.report_pdf(db, report.id) or b"")
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "Réponse opérationnelle" in text and "42 personnes accueillies" in text
    assert "Moyens engagés" in text and bus.name in text
    assert "Tâches en retard" in text and "Prévenir le COD" in text
    assert "campagne d'appels" not in text  # no call list: the section is left out
    facts = load_facts(db, later, event, playbook)
    assert (facts.evacuated, facts.displaced) == (42, 42)
    xml = emsi.build(facts, context_id="x", msg_type="ALERT", creation=iso(later), freetext="x")
    body = xml if isinstance(xml, str) else xml.decode()
    assert "<EVACUATED>42</EVACUATED>" in body and "<DISPLACED>42</DISPLACED>" in body


def test_the_scenario_inject_fills_a_centre(territory_app):
    from app import drills

    db = connect(territory_app.config["CRISIS_DB"])
    library = territory_app.extensions["library"]
    scenario = library.scenarios["toxic-fictif-port-jerome"]
    exercise = auth.get_user_by_login(db, "exercise")
    drill = drills.start_drill(db, T0, scenario, exercise, library.playbooks)
    for inject_id in ("arrivees-care", "care-sature"):
        drills.fire_inject(
            db, T0, drill.event_id, scenario.inject(inject_id), "exercise", library.playbooks
        )
    bolbec = next(c for c in centres.open_centres(db, drill.event_id) if c.id == "DEMO-CARE-01")
    assert bolbec.occupancy == 330 and bolbec.over > 0
    db.conn.close()
