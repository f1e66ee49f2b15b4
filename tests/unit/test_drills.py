"""Drills: injects fired once and in order, pause, real emergency, isolation, after-action report.

Runs on the demo territory (FICTIF-1, the population grid, the flood extents) with a FixedClock.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from flask import Flask

from app import access, audit, auth, drills, events, inbox, messages
from app.clock import FixedClock, iso
from app.db import connect, rows, scalar, transaction
from app.messages import cap
from app.playbooks import Playbook, Scenario
from app.playbooks.library import load as load_library
from tests.conftest import PROJECT

TOXIC = "toxic-fictif-port-jerome"
FLOOD = "seine-flood-rising"


@pytest.fixture(scope="module")
def library() -> tuple[dict[str, Playbook], dict[str, Scenario]]:
    loaded = load_library(PROJECT / "playbooks")
    playbooks, scenarios = dict(loaded.playbooks), dict(loaded.scenarios)
    assert {TOXIC, FLOOD} <= set(scenarios)
    return playbooks, scenarios


@pytest.fixture
def tdb(territory_app: Flask) -> Iterator[Any]:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def tclock(territory_app: Flask) -> FixedClock:
    return territory_app.config["CLOCK"]


def user(db: Any, login: str) -> auth.User:
    found = auth.get_user_by_login(db, login)
    assert found is not None
    return found


def start(db: Any, clock: FixedClock, library: Any, scenario_id: str = TOXIC) -> drills.Drill:
    playbooks, scenarios = library
    return drills.start_drill(
        db, clock.now(), scenarios[scenario_id], user(db, "exercise"), playbooks
    )


def play(db: Any, clock: FixedClock, library: Any, minutes: int) -> None:
    """Move the clock minute by minute, sweeping twice each time (the sweep is idempotent)."""
    playbooks, scenarios = library
    for _ in range(minutes):
        clock.advance(minutes=1)
        drills.sweep(db, clock.now(), scenarios, playbooks)
        drills.sweep(db, clock.now(), scenarios, playbooks)


def fired_ids(db: Any, event_id: int) -> list[str]:
    return [
        r["inject_id"]
        for r in rows(
            db,
            "SELECT inject_id FROM drill_injects WHERE event_id = ? AND outcome = 'fired'"
            " ORDER BY id",
            [event_id],
        )
    ]


def test_drill_fires_every_inject_once_and_in_order(tdb, tclock, library):
    scenario = library[1][TOXIC]
    drill = start(tdb, tclock, library)
    event = events.get_event(tdb, drill.event_id)
    assert event.is_drill and event.title.startswith("EXERCICE — ")
    assert fired_ids(tdb, drill.event_id) == ["alerte-exploitant"]  # the 0 min inject at once

    play(tdb, tclock, library, 130)

    # Nobody acknowledged anything, so both backups fired too; order = scenario order.
    assert fired_ids(tdb, drill.event_id) == [i.id for i in scenario.injects]
    fired_at = [
        r["fired_at"]
        for r in rows(
            tdb,
            "SELECT fired_at FROM drill_injects WHERE event_id = ? ORDER BY id",
            [drill.event_id],
        )
    ]
    assert fired_at == sorted(fired_at)
    assert fired_at[1] == iso(tclock.now() - timedelta(minutes=130 - 10))  # relance at +10
    entries = [e for e in events.log_entries(tdb, drill.event_id) if e.is_inject]
    assert len(entries) == len(scenario.injects)
    assert all(e.category == "message reçu" and e.text.startswith("[INJECT] ") for e in entries)
    assert [e.text.split(" — ")[0] for e in entries] == [
        f"[INJECT] {i.title}" for i in scenario.injects
    ]
    # The scenario applies only the duration change (apply: true); the escalation and the wind
    # shift ask the players, who did nothing here. Casualty figures are recorded as received.
    event = events.get_event(tdb, drill.event_id)
    assert event.level == 3
    assert event.params["wind_from_deg"] == 240
    assert event.params["duration_min"] == 180
    assert drills.latest_casualties(tdb, drill.event_id)["seriously_injured"] == 2
    # Firing by hand an inject already played is refused.
    with pytest.raises(drills.DrillError):
        drills.fire_inject(
            tdb, tclock.now(), drill.event_id, scenario.injects[0], "exercise", library[0]
        )


def test_a_wind_shift_asks_the_players_and_leaves_the_event_alone(tdb, tclock, library):
    drill = start(tdb, tclock, library)
    play(tdb, tclock, library, 49)
    before = events.latest_zones(tdb, drill.event_id)
    play(tdb, tclock, library, 1)  # +50: bascule-vent
    assert events.latest_zones(tdb, drill.event_id) == before
    assert events.get_event(tdb, drill.event_id).params["wind_from_deg"] == 240
    entry = next(e for e in events.log_entries(tdb, drill.event_id) if "Le vent tourne" in e.text)
    assert entry.is_inject and drills.ASK_PLAYERS["wind_shift"] in entry.text
    fired = scalar(
        tdb,
        "SELECT details FROM audit_log WHERE action = 'drill.inject_fired'"
        " AND object_id = 'bascule-vent'",
    )
    assert '"effect":"requested"' in fired.replace(" ", "")
    # The cell does what the message asks: the zones follow, as for a real message.
    playbooks = library[0]
    events.change_params(
        tdb,
        tclock.now(),
        drill.event_id,
        playbooks["toxic-release"],
        {"wind_from_deg": 290, "wind_speed_ms": 5},
        actor=user(tdb, "cell"),
    )
    assert events.latest_zones(tdb, drill.event_id)["version"] == before["version"] + 1


def test_a_scenario_that_says_apply_changes_the_event_itself(tdb, tclock, library):
    playbooks, scenarios = library
    toxic = scenarios[TOXIC]
    applied = toxic.model_copy(
        update={
            "injects": tuple(
                i.model_copy(update={"apply": True})
                if i.id in ("bascule-vent", "montee-niveau")
                else i
                for i in toxic.injects
            )
        }
    )
    drill = drills.start_drill(tdb, tclock.now(), applied, user(tdb, "exercise"), playbooks)
    before = events.latest_zones(tdb, drill.event_id)
    play(tdb, tclock, (playbooks, {TOXIC: applied}), 90)
    after = events.latest_zones(tdb, drill.event_id)
    assert after["version"] > before["version"]
    assert after["params"]["wind_from_deg"] == 290 and after["params"]["wind_speed_ms"] == 5
    event = events.get_event(tdb, drill.event_id)
    assert event.params["wind_from_deg"] == 290 and event.level == 4
    assert not any(
        drills.ASK_PLAYERS["wind_shift"] in e.text for e in events.log_entries(tdb, drill.event_id)
    )


def test_flood_forecasts_wait_for_the_cell(tdb, tclock, library):
    drill = start(tdb, tclock, library, FLOOD)
    first = events.latest_zones(tdb, drill.event_id)
    play(tdb, tclock, library, 150)
    assert events.latest_zones(tdb, drill.event_id)["version"] == first["version"]
    assert fired_ids(tdb, drill.event_id) == [i.id for i in library[1][FLOOD].injects]
    assert events.get_event(tdb, drill.event_id).level == 2  # the escalation asked, no more


def test_starting_a_drill_during_a_real_event_asks_first_and_names_it(tdb, tclock, library):
    playbooks, scenarios = library
    real = events.declare(
        tdb,
        tclock.now(),
        playbooks["toxic-release"],
        actor=user(tdb, "director"),
        title="Fuite réelle au port",
        params={"wind_from_deg": 200, "wind_speed_ms": 3},
        site="FICTIF-1",
    )
    with pytest.raises(drills.RealEventOpen) as asked:
        start(tdb, tclock, library)
    assert asked.value.status == 409 and "« Fuite réelle au port »" in asked.value.message
    assert [e.id for e in asked.value.events] == [real.id]
    assert drills.list_drills(tdb) == []
    drill = drills.start_drill(
        tdb,
        tclock.now(),
        scenarios[TOXIC],
        user(tdb, "exercise"),
        playbooks,
        confirmed_real=[real.id],
    )
    texts = [e.text for e in events.log_entries(tdb, drill.event_id)]
    assert any("pendant l'événement réel « Fuite réelle au port »" in t for t in texts)
    started = scalar(tdb, "SELECT details FROM audit_log WHERE action = 'drill.started'")
    assert f'"during_real_events":[{real.id}]' in started.replace(" ", "")
    assert all("EXERCICE" not in e.text for e in events.log_entries(tdb, real.id))


def test_an_inject_notifies_its_addressees_until_acknowledged(tdb, tclock, library):
    scenario = library[1][TOXIC]
    drill = start(tdb, tclock, library)
    (item,) = inbox.inbox_for(tdb, tclock.now(), user(tdb, "cell")).items
    assert (item.kind, item.key, item.event_id) == ("inject", "alerte-exploitant", drill.event_id)
    assert item.is_drill and item.title == "Alerte de l'exploitant" and "POI" in item.detail
    assert inbox.inbox_for(tdb, tclock.now(), user(tdb, "liaison")).count == 0
    assert inbox.inbox_for(tdb, tclock.now(), user(tdb, "director")).count == 0
    drills.acknowledge_inject(
        tdb,
        tclock.now(),
        drill.event_id,
        scenario.inject("alerte-exploitant"),
        user(tdb, "cell"),
        note="Événement déclaré, directeur prévenu",
    )
    assert inbox.inbox_for(tdb, tclock.now(), user(tdb, "cell")).count == 0
    ack = [e for e in events.log_entries(tdb, drill.event_id) if e.category == "action"][-1]
    assert ack.text.endswith(": Événement déclaré, directeur prévenu")
    play(tdb, tclock, library, 15)  # +15: the prefect's call, to the director
    (item,) = inbox.inbox_for(tdb, tclock.now(), user(tdb, "director")).items
    assert item.key == "declenchement-ppi"
    drills.end(tdb, tclock.now(), drill.event_id, user(tdb, "exercise"))
    assert inbox.inbox_for(tdb, tclock.now(), user(tdb, "director")).count == 0


def test_pause_stops_the_injects_and_resume_does_not_count_it(tdb, tclock, library):
    exercise = user(tdb, "exercise")
    drill = start(tdb, tclock, library)
    play(tdb, tclock, library, 5)
    drills.pause(tdb, tclock.now(), drill.event_id, exercise)
    play(tdb, tclock, library, 60)
    assert fired_ids(tdb, drill.event_id) == ["alerte-exploitant"]
    assert drills.get_drill(tdb, drill.event_id).scenario_seconds(tclock.now()) == 5 * 60
    drills.resume(tdb, tclock.now(), drill.event_id, exercise)
    play(tdb, tclock, library, 4)  # scenario time 9 min
    assert fired_ids(tdb, drill.event_id) == ["alerte-exploitant"]
    play(tdb, tclock, library, 1)  # scenario time 10 min: the backup of the operator's call
    assert fired_ids(tdb, drill.event_id) == ["alerte-exploitant", "relance-exploitant"]
    assert drills.get_drill(tdb, drill.event_id).paused_seconds == 60 * 60


def test_real_emergency_stops_everything(tdb, tclock, library):
    playbooks, scenarios = library
    drill = start(tdb, tclock, library)
    play(tdb, tclock, library, 20)
    played = fired_ids(tdb, drill.event_id)
    stopped = drills.real_emergency(
        tdb, tclock.now(), drill.event_id, user(tdb, "director"), "Feu réel sur le port"
    )
    assert stopped.state == "stopped" and stopped.ended_at == iso(tclock.now())
    assert events.get_event(tdb, drill.event_id).status == "closed"
    texts = [e.text for e in events.log_entries(tdb, drill.event_id)]
    assert any(t.startswith("URGENCE RÉELLE") and "Feu réel sur le port" in t for t in texts)
    play(tdb, tclock, library, 200)
    assert fired_ids(tdb, drill.event_id) == played
    with pytest.raises(drills.DrillError):
        drills.fire_inject(
            tdb, tclock.now(), drill.event_id, scenarios[TOXIC].injects[-1], "exercise", playbooks
        )
    with pytest.raises(drills.DrillError):
        drills.resume(tdb, tclock.now(), drill.event_id, user(tdb, "exercise"))


def test_acknowledged_inject_cancels_its_backup(tdb, tclock, library):
    scenario = library[1][TOXIC]
    drill = start(tdb, tclock, library)
    play(tdb, tclock, library, 3)
    drills.acknowledge_inject(
        tdb, tclock.now(), drill.event_id, scenario.inject("alerte-exploitant"), user(tdb, "cell")
    )
    play(tdb, tclock, library, 20)
    decided = drills.inject_rows(tdb, drill.event_id)
    assert decided["relance-exploitant"]["outcome"] == "skipped"
    assert "relance-exploitant" not in fired_ids(tdb, drill.event_id)
    ack = next(e for e in events.log_entries(tdb, drill.event_id) if e.category == "action")
    assert "Alerte de l'exploitant" in ack.text and ack.author_name == user(tdb, "cell").name


def test_a_drill_never_changes_a_real_event(tdb, tclock, library):
    playbooks, scenarios = library
    real = events.declare(
        tdb,
        tclock.now(),
        playbooks["toxic-release"],
        actor=user(tdb, "director"),
        title="Fuite réelle",
        params={"wind_from_deg": 200, "wind_speed_ms": 3},
        site="FICTIF-1",
    )
    before = (events.get_event(tdb, real.id), len(events.log_entries(tdb, real.id)))
    wind = scenarios[TOXIC].inject("bascule-vent")
    with pytest.raises(drills.DrillError) as refused:
        drills.fire_inject(tdb, tclock.now(), real.id, wind, "exercise", playbooks)
    assert refused.value.status == 403
    assert (events.get_event(tdb, real.id), len(events.log_entries(tdb, real.id))) == before
    assert not scalar(tdb, "SELECT COUNT(*) FROM drill_injects WHERE event_id = ?", [real.id])


def _report_row(db: Any, event_id: int, at: Any) -> None:
    """A situation report as app.reports stores it (its PDF does not matter here)."""
    pdf = b"%PDF-1.4 EXERCICE"
    with transaction(db):
        seq, head = audit.head(db)
        db.execute(
            "INSERT INTO reports (event_id, number, trigger, generated_at, due_at, author, pdf,"
            " sha256, audit_seq, audit_hash, classification) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                event_id,
                1,
                "manual",
                iso(at),
                None,
                "cell",
                pdf,
                hashlib.sha256(pdf).hexdigest(),
                seq,
                head,
                "EXERCICE",
            ],
        )


def test_after_action_lists_the_delays_of_a_scripted_run(tdb, tclock, library):
    playbooks, scenarios = library
    scenario = scenarios[TOXIC]
    t0 = tclock.now()
    access.demo_agreements(tdb, t0)
    drill = start(tdb, tclock, library)
    cell = user(tdb, "cell")

    play(tdb, tclock, library, 4)  # +4: the cell acknowledges the operator's alert
    drills.acknowledge_inject(
        tdb, tclock.now(), drill.event_id, scenario.inject("alerte-exploitant"), cell
    )
    items = {i.item_key: i for i in events.checklist(tdb, drill.event_id)}
    play(tdb, tclock, library, 8)  # +12: break glass on the gas network (drills allowed)
    grant = access.request_grant(
        tdb,
        tclock.now(),
        cell,
        drill.event_id,
        "gas-network",
        reason_code="mise_a_l_abri",
        justification="Repérer les vannes GRDF dans la zone de mise à l'abri",
        duration_min=60,
    )
    assert grant.status == "active"
    events.tick_item(tdb, tclock.now(), drill.event_id, items["declencher-ppi"].id, actor=cell)
    play(tdb, tclock, library, 18)  # +30: first situation report
    _report_row(tdb, drill.event_id, tclock.now())
    play(tdb, tclock, library, 10)
    drills.save_debrief(
        tdb, tclock.now(), drill.event_id, "Alerte rapide.", "PPI tardif.", user(tdb, "exercise")
    )
    drills.end(tdb, tclock.now(), drill.event_id, user(tdb, "exercise"))

    report = drills.after_action(tdb, drill.event_id, scenario)
    assert report.first_grant_at == iso(t0 + timedelta(minutes=12))
    assert report.first_report_at == iso(t0 + timedelta(minutes=30))
    assert [d.minutes for d in report.delays] == [12.0, 30.0, 18.0]
    ppi = next(c for c in report.checklist if c.title == items["declencher-ppi"].title)
    assert ppi.late and ppi.status == "en retard"
    assert ppi.gap_min == 12.0 - 5  # due at +5, done at +12
    alert = next(i for i in report.injects if i.id == "alerte-exploitant")
    assert alert.outcome == "fired" and alert.response_min == 4.0
    assert alert.acknowledged_by == cell.name
    assert next(i for i in report.injects if i.id == "relance-exploitant").outcome == "skipped"
    school = next(i for i in report.injects if i.id == "appel-ecole")
    assert school.outcome == "fired" and school.acknowledged_at is None
    assert next(i for i in report.injects if i.id == "fuite-isolee").outcome == "not_played"
    assert [g["dataset_slug"] for g in report.grants] == ["gas-network"]
    assert report.drill.went_well == "Alerte rapide." and report.drill.to_improve == "PPI tardif."
    kinds = {t.kind for t in report.timeline}
    assert {"inject", "reponse", "acces", "rapport"} <= kinds
    assert drills.format_minutes(12.0) == "12 min"
    assert drills.format_minutes(75) == "1 h 15"


def test_drill_grants_only_through_agreements_that_allow_drills(tdb, tclock, library):
    playbooks, _ = library
    steward = user(tdb, "steward-chimie")
    # Only the agreement signed here may apply (the demo territory signs its own demo ones).
    for existing in access.list_agreements(tdb, dataset_slug="plant-inventory"):
        access.withdraw_agreement(tdb, tclock.now(), steward, existing.id)
    access.sign_agreement(
        tdb,
        tclock.now(),
        steward,
        "plant-inventory",
        roles=["cell"],
        event_kinds=["toxic-release"],
        drills_allowed=False,
    )
    drill = start(tdb, tclock, library)
    real = events.declare(
        tdb,
        tclock.now(),
        playbooks["toxic-release"],
        actor=user(tdb, "director"),
        title="Fuite réelle",
        params={"wind_from_deg": 200, "wind_speed_ms": 3},
        site="FICTIF-1",
    )
    cell = user(tdb, "cell")
    ask = {
        "reason_code": "secours_personnes",
        "justification": "Connaître les produits stockés pour les secours",
        "duration_min": 30,
    }
    with pytest.raises(access.AccessDenied):
        access.request_grant(tdb, tclock.now(), cell, drill.event_id, "plant-inventory", **ask)
    assert access.request_grant(tdb, tclock.now(), cell, real.id, "plant-inventory", **ask)


def _pages_text(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    pages = int(
        next(line.split()[-1] for line in info.stdout.splitlines() if line.startswith("Pages:"))
    )
    return [
        subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), str(path), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for n in range(1, pages + 1)
    ]


def test_every_page_of_the_after_action_pdf_says_exercice(tdb, tclock, library, tmp_path):
    drill = start(tdb, tclock, library)
    play(tdb, tclock, library, 125)
    drills.end(tdb, tclock.now(), drill.event_id, user(tdb, "exercise"))
    scenario = library[1][TOXIC]
    pdf = drills.after_action_pdf(drills.after_action(tdb, drill.event_id, scenario), tclock.now())
    pages = _pages_text(pdf, tmp_path)
    assert len(pages) >= 2
    for n, text in enumerate(pages, start=1):
        assert "EXERCICE" in text, f"page {n} has no EXERCICE"
        assert f"page {n} / {len(pages)}" in text
    assert "Rapport de fin d'exercice" in pages[0] and "Délais mesurés" in pages[0]


def test_cap_alert_status_is_exercise_for_a_drill_and_actual_otherwise(tdb, tclock, library):
    playbooks, _ = library
    drill = start(tdb, tclock, library)
    real = events.declare(
        tdb,
        tclock.now(),
        playbooks["toxic-release"],
        actor=user(tdb, "director"),
        title="Fuite réelle",
        params={"wind_from_deg": 200, "wind_speed_ms": 3},
        site="FICTIF-1",
    )
    ns = {"cap": cap.CAP_NS}
    for event_id, status in ((drill.event_id, "Exercise"), (real.id, "Actual")):
        event = events.get_event(tdb, event_id)
        root = ET.fromstring(messages.event_cap(tdb, tclock.now(), event_id, playbooks[event.kind]))
        assert root.findtext("cap:status", namespaces=ns) == status
        assert root.findtext("cap:msgType", namespaces=ns) == "Alert"
        assert root.findtext("cap:info/cap:category", namespaces=ns) == "CBRNE"
        polygons = root.findall("cap:info/cap:area/cap:polygon", ns)
        assert polygons
        for polygon in polygons:
            pairs = polygon.text.split()
            assert len(pairs) >= 4 and pairs[0] == pairs[-1]
    drill_xml = messages.event_cap(tdb, tclock.now(), drill.event_id, playbooks["toxic-release"])
    assert "EXERCICE" in drill_xml.decode()


def test_rehearse_command_writes_a_marked_report(runner, tmp_path):
    out = tmp_path / "retex.pdf"
    result = runner("drill", "rehearse", FLOOD, str(out))
    assert result.exit_code == 0, result.output
    assert "injects joués" in result.output and "NON JOUÉ" not in result.output
    pages = _pages_text(out.read_bytes(), tmp_path)
    assert all("EXERCICE" in text for text in pages)
    assert runner("drill", "rehearse", "nope", str(out)).exit_code == 2


def test_rehearse_accepts_a_scenario_file_being_drafted(runner, tmp_path):
    """Guards item 9: a drill director rehearses a draft file before installing it; the report
    is the one an installed scenario gives (same numbers, EXERCICE on every page)."""
    from tests.conftest import PROJECT

    source = PROJECT / "playbooks" / "scenarios" / f"{FLOOD}.yaml"
    draft = tmp_path / "brouillon-crue.yaml"
    draft.write_text(source.read_text("utf-8"), "utf-8")
    by_id, by_path = tmp_path / "id.pdf", tmp_path / "path.pdf"
    assert runner("drill", "rehearse", FLOOD, str(by_id)).exit_code == 0
    result = runner("drill", "rehearse", str(draft), str(by_path))
    assert result.exit_code == 0, result.output
    assert _pages_text(by_path.read_bytes(), tmp_path) == _pages_text(by_id.read_bytes(), tmp_path)
    assert all("EXERCICE" in text for text in _pages_text(by_path.read_bytes(), tmp_path))

    broken = tmp_path / "casse.yaml"
    broken.write_text("id: casse\ntitle: Cassé\n", "utf-8")
    refused = runner("drill", "rehearse", str(broken), str(tmp_path / "x.pdf"))
    assert refused.exit_code == 2 and "casse.yaml" in refused.output
    missing = runner("drill", "rehearse", str(tmp_path / "absent.yaml"), str(tmp_path / "x.pdf"))
    assert missing.exit_code == 2 and "introuvable" in missing.output
