"""Events, main courante and checklist: the domain module, without a server."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app import audit, auth, events
from app.clock import iso
from app.db import dumps, row, rows, scalar, transaction
from app.playbooks import Playbook, load_playbooks
from app.playbooks.library import known_datasets, known_for
from tests.conftest import PROJECT, T0

FICTIF_1 = {
    "id": "FICTIF-1",
    "name": "FICTIF — Chimie de l'Estuaire (site de démonstration)",
    "commune": "Port-Jérôme-sur-Seine",
    "effects": {
        "toxic": {"SELS": 900, "SEL": 1600, "SEI": 3800},
        "thermal": {"8kW": 180, "5kW": 260, "3kW": 370},
        "overpressure": {"200mbar": 140, "140mbar": 210, "50mbar": 520, "20mbar": 1100},
    },
    "source": "synthetic",
}
FICTIF_1_POINT = (0.5420, 49.4780)


def ensure_site(db: Any) -> None:
    """Make sure ``seveso-sites`` holds FICTIF-1 (the demo territory may not be loaded)."""
    if events.get_site(db, "FICTIF-1") is not None:
        return
    stamp = iso(T0)
    with transaction(db):
        dataset_id = scalar(db, "SELECT id FROM datasets WHERE slug = 'seveso-sites'")
        if dataset_id is None:
            org = scalar(db, "SELECT id FROM organisations WHERE slug = 'prefecture-76'")
            cur = db.execute(
                "INSERT INTO datasets (slug, title, owner_org_id, theme, geometry_type,"
                " sensitivity, created_at, updated_at) VALUES"
                " ('seveso-sites', 'Sites Seveso', ?, 'industrial', 'Point', 'public', ?, ?)",
                [org, stamp, stamp],
            )
            dataset_id = cur.lastrowid
        lon, lat = FICTIF_1_POINT
        db.execute(
            "INSERT INTO features (dataset_id, fid, geometry, properties, minx, miny, maxx, maxy)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [
                dataset_id,
                "FICTIF-1",
                dumps({"type": "Point", "coordinates": [lon, lat]}),
                dumps(FICTIF_1),
                lon,
                lat,
                lon,
                lat,
            ],
        )


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Playbook]:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors, errors
    return found


@pytest.fixture
def site_db(db: Any) -> Any:
    ensure_site(db)
    return db


def user(db: Any, login: str) -> auth.User:
    found = auth.get_user_by_login(db, login)
    assert found is not None
    return found


def toxic(db: Any, playbooks: dict[str, Playbook], **kw: Any) -> events.Event:
    args: dict[str, Any] = {
        "actor": user(db, "director"),
        "title": "Fuite d'ammoniac",
        "site": "FICTIF-1",
        "params": {"wind_from_deg": 240, "wind_speed_ms": 4},
    }
    args.update(kw)
    return events.declare(db, T0, playbooks["toxic-release"], **args)


# --- declaration --------------------------------------------------------------------------------


def test_declare_creates_event_checklist_log_zones_and_audit(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    assert event.is_open and event.kind == "toxic-release" and event.level == 3
    assert event.site_fid == "FICTIF-1" and (event.lon, event.lat) == FICTIF_1_POINT
    assert event.params["wind_from_deg"] == 240.0 and event.params["release_type"] == "continu"
    assert "Port-Jérôme-sur-Seine" in event.place

    items = events.checklist(db, event.id)
    spec = playbooks["toxic-release"].checklist
    assert [i.item_key for i in items] == [s.id for s in spec]
    assert items[0].due_at == iso(T0 + timedelta(minutes=spec[0].due_min))
    assert not any(i.done or i.late(T0) for i in items)

    log = events.log_entries(db, event.id)
    assert [e.category for e in log] == ["décision", "information"]
    assert "Déclaration" in log[0].text and "Nuage toxique" in log[0].text
    assert "Vent venant du (direction) : 240°" in log[1].text
    assert all(e.is_system and e.author_name == "Claire Morel (démo)" for e in log)

    zones = events.latest_zones(db, event.id)
    assert zones is not None and zones["version"] == 1
    features = zones["geojson"]["features"]
    assert [f["id"] for f in features] == ["sels", "sel", "sei"]
    # The site's own effect distances are used, not the playbook's generic defaults.
    assert features[0]["properties"]["distance_m"] == 900
    assert features[0]["properties"]["distance_source"] == "site"

    record = row(db, "SELECT * FROM audit_log WHERE action = 'event.declared'")
    assert record is not None and record["event_id"] == event.id and record["actor"] == "director"
    assert json.loads(record["details"])["playbook"] == "toxic-release"
    assert audit.verify(db).ok


def test_declare_at_a_point_and_drill(site_db: Any, playbooks: Any) -> None:
    event = toxic(site_db, playbooks, site=None, point=[0.6, 49.5], drill=True, level=2)
    assert event.is_drill and event.level == 2 and event.site_fid is None
    assert events.log_entries(site_db, event.id)[0].text.startswith("EXERCICE")
    zones = events.latest_zones(site_db, event.id)
    assert zones is not None
    assert zones["geojson"]["features"][0]["properties"]["distance_source"] == "playbook"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"title": "  "}, "title"),
        ({"site": "NOPE"}, "site"),
        ({"site": None}, "site"),
        ({"site": None, "point": [2.35, 48.85]}, "point"),
        ({"site": None, "point": [0.5]}, "point"),
        ({"site": None, "point": ["0.5", 49.5]}, "point"),
        ({"params": {"wind_from_deg": 400}}, "params"),
        ({"params": {"wind_speed_ms": 3}}, "params"),
        ({"params": {"wind_from_deg": 240, "colour": "red"}}, "params"),
        ({"level": 9}, "level"),
        ({"level": "haut"}, "level"),
        ({"drill": "yes"}, "drill"),
        ({"point": [0.6, 49.5]}, "site"),
    ],
)
def test_declare_refuses_bad_input_naming_the_field(
    site_db: Any, playbooks: Any, kw: dict[str, Any], field: str
) -> None:
    with pytest.raises(events.EventError) as info:
        toxic(site_db, playbooks, **kw)
    assert info.value.field == field
    assert scalar(site_db, "SELECT COUNT(*) FROM events") == 0


def test_wind_out_of_bounds_message_names_the_parameter(site_db: Any, playbooks: Any) -> None:
    with pytest.raises(events.EventError) as info:
        toxic(site_db, playbooks, params={"wind_from_deg": 400})
    # Named as the form labels it, never by its internal key (issue 12); the field says which.
    assert "« Vent venant du (direction) »" in info.value.message
    assert "wind_from_deg" not in info.value.message and info.value.field == "params"


def test_point_only_playbook_refuses_a_site(site_db: Any, playbooks: Any) -> None:
    with pytest.raises(events.EventError) as info:
        events.declare(
            site_db,
            T0,
            playbooks["seine-flood"],
            actor=user(site_db, "cell"),
            title="Crue",
            site="FICTIF-1",
            params={"seine_level_m": 8.5},
        )
    assert info.value.field == "site"


# --- lifecycle ----------------------------------------------------------------------------------


def test_level_params_and_close_each_log_and_audit(site_db: Any, playbooks: Any) -> None:
    db = site_db
    pb = playbooks["toxic-release"]
    director = user(db, "director")
    event = toxic(db, playbooks)
    later = T0 + timedelta(minutes=12)

    raised = events.change_level(db, later, event.id, 4, actor=director, reason="extension")
    assert raised.level == 4
    with pytest.raises(events.EventError):
        events.change_level(db, later, event.id, 4, actor=director)

    shifted = events.change_params(db, later, event.id, pb, {"wind_from_deg": 290}, actor=director)
    assert shifted.params["wind_from_deg"] == 290.0 and shifted.params["wind_speed_ms"] == 4
    zones = events.latest_zones(db, event.id)
    assert zones is not None and zones["version"] == 2 and zones["params"]["wind_from_deg"] == 290
    with pytest.raises(events.EventError, match="Aucun paramètre"):
        events.change_params(db, later, event.id, pb, {"wind_from_deg": 290}, actor=director)

    texts = [e.text for e in events.log_entries(db, event.id)]
    assert "Élévation du niveau : 3 → 4. Motif : extension" in texts
    assert "Changement de paramètres : vent du 240° → 290°" in texts

    with pytest.raises(events.EventError) as info:
        events.close(db, later, event.id, "   ", actor=director)
    assert info.value.field == "statement"
    closed = events.close(db, later, event.id, "Fuite maîtrisée, confinement levé.", actor=director)
    assert not closed.is_open and closed.closing_statement == "Fuite maîtrisée, confinement levé."
    assert events.log_entries(db, event.id)[-1].text.startswith("Clôture de l'événement")

    actions = [
        r["action"] for r in rows(db, "SELECT action FROM audit_log WHERE event_id = ?", [event.id])
    ]
    assert actions == [
        "event.declared",
        "event.level_changed",
        "event.params_changed",
        "event.closed",
    ]
    assert audit.verify(db).ok


def test_closed_event_is_read_only(site_db: Any, playbooks: Any) -> None:
    db = site_db
    director = user(db, "director")
    event = toxic(db, playbooks)
    item = events.checklist(db, event.id)[0]
    events.close(db, T0, event.id, "Fin de l'alerte.", actor=director)
    before = scalar(db, "SELECT COUNT(*) FROM log_entries")
    attempts = [
        lambda: events.change_level(db, T0, event.id, 2, actor=director),
        lambda: events.change_params(
            db, T0, event.id, playbooks["toxic-release"], {"wind_from_deg": 10}, actor=director
        ),
        lambda: events.close(db, T0, event.id, "encore", actor=director),
        lambda: events.add_log(
            db, T0, event.id, actor=director, category="information", text="après"
        ),
        lambda: events.tick_item(db, T0, event.id, item.id, actor=director),
    ]
    for attempt in attempts:
        with pytest.raises(events.EventError, match="est clos") as info:
            attempt()
        assert info.value.status == 409
    assert scalar(db, "SELECT COUNT(*) FROM log_entries") == before


# --- main courante ------------------------------------------------------------------------------


def test_log_entries_fact_time_and_corrections(site_db: Any, playbooks: Any) -> None:
    db = site_db
    cell = user(db, "cell")
    event = toxic(db, playbooks)
    now = T0 + timedelta(minutes=20)
    first = events.add_log(
        db,
        now,
        event.id,
        actor=cell,
        category="message reçu",
        text="Exploitant : fuite sur la ligne 3",
        fact_at=iso(T0 - timedelta(minutes=3)),
    )
    assert first.fact_at == iso(T0 - timedelta(minutes=3)) and first.recorded_at == iso(now)
    assert first.author_name == "Julien Lefebvre (démo)"
    # A naive time typed in the form is Paris time (UTC+1 in November).
    naive = events.add_log(
        db, now, event.id, actor=cell, category="information", text="x", fact_at="2026-11-23T14:10"
    )
    assert naive.fact_at == "2026-11-23T13:10:00Z"

    fix = events.add_log(
        db,
        now,
        event.id,
        actor=cell,
        category="message reçu",
        text="Exploitant : fuite sur la ligne 4",
        corrects_id=first.id,
    )
    assert fix.corrects_id == first.id
    shown = {e.id: e for e in events.log_entries(db, event.id)}
    assert shown[first.id].corrected_by == fix.id and shown[first.id].text.endswith("ligne 3")

    for kw, field in [
        ({"category": "rumeur"}, "category"),
        ({"text": " "}, "text"),
        ({"fact_at": iso(now + timedelta(minutes=6))}, "fact_at"),
        ({"fact_at": "hier"}, "fact_at"),
        ({"fact_at": iso(T0 - timedelta(days=2))}, "fact_at"),
        ({"corrects_id": 99999}, "corrects_id"),
        ({"corrects_id": "abc"}, "corrects_id"),
    ]:
        args: dict[str, Any] = {"category": "information", "text": "ok"}
        args.update(kw)
        with pytest.raises(events.EventError) as info:
            events.add_log(db, now, event.id, actor=cell, **args)
        assert info.value.field == field, kw
    # Within the 5-minute tolerance for drifting tablet clocks.
    events.add_log(
        db,
        now,
        event.id,
        actor=cell,
        category="information",
        text="ok",
        fact_at=iso(now + timedelta(minutes=4)),
    )


def test_filters_and_since(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    cell, liaison = user(db, "cell"), user(db, "liaison")
    a = events.add_log(db, T0, event.id, actor=cell, category="action", text="a")
    b = events.add_log(db, T0, event.id, actor=liaison, category="message reçu", text="b")
    assert [e.id for e in events.log_entries(db, event.id, category="action")] == [a.id]
    assert [e.id for e in events.log_entries(db, event.id, author=liaison.name)] == [b.id]
    assert [e.id for e in events.log_entries(db, event.id, since=a.id)] == [b.id]
    assert events.last_log_id(db, event.id) == b.id
    assert liaison.name in events.log_authors(db, event.id)


def test_log_is_append_only_at_the_sql_level(site_db: Any, playbooks: Any) -> None:
    db = site_db
    event = toxic(db, playbooks)
    entry_id = events.log_entries(db, event.id)[0].id
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE log_entries SET text = 'réécrit' WHERE id = ?", [entry_id])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM log_entries WHERE id = ?", [entry_id])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM log_entries")
    assert events.log_entries(db, event.id)[0].text.startswith("Déclaration")


def test_two_events_do_not_mix(site_db: Any, playbooks: Any) -> None:
    db = site_db
    cell = user(db, "cell")
    fire = events.declare(
        db,
        T0,
        playbooks["industrial-fire"],
        actor=cell,
        title="Incendie entrepôt",
        site="FICTIF-1",
        params={"wind_from_deg": 200, "wind_speed_ms": 3},
    )
    leak = toxic(db, playbooks)
    events.add_log(db, T0, fire.id, actor=cell, category="information", text="feu")
    item = events.checklist(db, leak.id)[0]
    with pytest.raises(events.EventError) as info:
        events.tick_item(db, T0, fire.id, item.id, actor=cell)
    assert info.value.status == 404
    with pytest.raises(events.EventError):
        events.add_log(
            db,
            T0,
            fire.id,
            actor=cell,
            category="information",
            text="x",
            corrects_id=events.log_entries(db, leak.id)[0].id,
        )
    assert all(e.event_id == leak.id for e in events.log_entries(db, leak.id))
    assert "feu" not in [e.text for e in events.log_entries(db, leak.id)]
    assert {i.event_id for i in events.checklist(db, fire.id)} == {fire.id}
    events.change_level(db, T0, fire.id, 4, actor=user(db, "director"))
    assert events.get_event(db, leak.id).level == 3  # type: ignore[union-attr]
    assert [e.id for e in events.list_events(db, "open")] == [leak.id, fire.id]


# --- checklist ----------------------------------------------------------------------------------


def test_tick_item_logs_and_late_items(site_db: Any, playbooks: Any) -> None:
    db = site_db
    cell = user(db, "cell")
    event = toxic(db, playbooks)
    items = events.checklist(db, event.id)
    later = T0 + timedelta(minutes=12)
    assert [i.item_key for i in items if i.late(later)] == [
        "declencher-ppi",
        "sirenes-fr-alert",
        "mise-a-l-abri",
    ]
    assert events.upcoming(items, 2)[0].item_key == "declencher-ppi"

    done = events.tick_item(db, later, event.id, items[1].id, actor=cell, note="sirènes OK")
    assert done.done and done.done_by_name == cell.name and done.note == "sirènes OK"
    assert done.done_late() and not done.late(later)
    last = events.log_entries(db, event.id)[-1]
    assert last.category == "action"
    assert last.text == f"Action réalisée : {items[1].title} (en retard). Note : sirènes OK"
    with pytest.raises(events.EventError) as info:
        events.tick_item(db, later, event.id, items[1].id, actor=cell)
    assert info.value.status == 409


def test_liaison_ticks_only_liaison_items(site_db: Any, playbooks: Any) -> None:
    db = site_db
    liaison = user(db, "liaison")
    event = toxic(db, playbooks)
    items = {i.item_key: i for i in events.checklist(db, event.id)}
    with pytest.raises(events.EventError) as info:
        events.tick_item(db, T0, event.id, items["bouclage"].id, actor=liaison)
    assert info.value.status == 403
    assert events.tick_item(db, T0, event.id, items["liaison-cod"].id, actor=liaison).done


def test_a_tick_is_undone_by_its_author_and_both_facts_stay(site_db: Any, playbooks: Any) -> None:
    db = site_db
    cell = user(db, "cell")
    event = toxic(db, playbooks)
    item = events.checklist(db, event.id)[0]
    later = T0 + timedelta(minutes=3)
    events.tick_item(db, T0, event.id, item.id, actor=cell, note="par erreur")
    tick = events.log_entries(db, event.id)[-1]
    # Another cell member may not; a director may (below), the author may.
    with pytest.raises(events.EventError) as info:
        events.undo_item(db, later, event.id, item.id, actor=user(db, "liaison"))
    assert info.value.status == 403
    undone = events.undo_item(db, later, event.id, item.id, actor=cell, reason="mauvaise ligne")
    assert not undone.done and undone.note is None and undone.done_by is None
    entries = events.log_entries(db, event.id)
    assert entries[-2].id == tick.id and entries[-2].corrected_by == entries[-1].id
    assert entries[-1].corrects_id == tick.id and entries[-1].category == "action"
    assert entries[-1].text.startswith(f"Coche annulée : {item.title}")
    assert entries[-1].text.endswith("Motif : mauvaise ligne")
    with pytest.raises(events.EventError) as info:
        events.undo_item(db, later, event.id, item.id, actor=cell)
    assert info.value.status == 409  # nothing to undo
    # Ticked again: a new fact, the item reflects it.
    again = events.tick_item(db, later, event.id, item.id, actor=cell)
    assert again.done and again.done_at == iso(later)
    actions = [
        r["action"]
        for r in rows(
            db, "SELECT action FROM audit_log WHERE object_type = 'checklist_item' ORDER BY seq"
        )
    ]
    assert actions == ["checklist.item_done", "checklist.item_undone", "checklist.item_done"]
    assert audit.verify(db).ok


def test_a_director_corrects_the_time_and_note_of_a_tick(site_db: Any, playbooks: Any) -> None:
    db = site_db
    cell, director = user(db, "cell"), user(db, "director")
    event = toxic(db, playbooks)
    item = events.checklist(db, event.id)[0]  # due at +5 min
    events.tick_item(db, T0 + timedelta(minutes=9), event.id, item.id, actor=cell)
    first = events.log_entries(db, event.id)[-1]
    assert "(en retard)" in first.text
    fixed = events.correct_item(
        db,
        T0 + timedelta(minutes=10),
        event.id,
        item.id,
        actor=director,
        fact_at="2026-11-23T14:04",  # Paris time: 13:04 UTC, before the due time
        note="fait par téléphone",
    )
    assert fixed.done_at == iso(T0 + timedelta(minutes=4)) and fixed.note == "fait par téléphone"
    assert fixed.done_by == cell.id and not fixed.done_late()
    last = events.log_entries(db, event.id)[-1]
    assert last.corrects_id == first.id and last.fact_at == iso(T0 + timedelta(minutes=4))
    assert last.text == (
        f"Correction : {item.title} réalisée à 14:04 (et non 14:09). Note : fait par téléphone."
    )
    with pytest.raises(events.EventError, match="Rien n'a changé"):
        events.correct_item(
            db,
            T0 + timedelta(minutes=11),
            event.id,
            item.id,
            actor=director,
            note="fait par téléphone",
        )
    with pytest.raises(events.EventError) as info:
        events.correct_item(db, T0, event.id, item.id, actor=cell, fact_at="2026-11-24T09:00")
    assert info.value.field == "fact_at"  # in the future


def test_next_report_time(site_db: Any, playbooks: Any) -> None:
    event = toxic(site_db, playbooks)
    assert events.next_report_at(event, T0) == T0 + timedelta(minutes=30)
    assert events.next_report_at(event, T0 + timedelta(minutes=30)) == T0 + timedelta(minutes=60)
    assert events.next_report_at(event, T0 + timedelta(minutes=71)) == T0 + timedelta(minutes=90)


def test_known_datasets(tmp_path: Path, db: Any) -> None:
    slugs = known_datasets(db, PROJECT / "data")
    if (PROJECT / "data" / "catalogue.yaml").exists():
        assert slugs is not None and "seveso-sites" in slugs
    assert known_datasets(db, tmp_path) is None  # nothing known: no check
    ensure_site(db)
    assert known_datasets(db, tmp_path) == {"seveso-sites"}
    assert known_for({"DATA": tmp_path, "DB": ":memory:"}, db) == {"seveso-sites"}


def test_flood_zone_without_extents_is_logged_not_fatal(site_db: Any, playbooks: Any) -> None:
    db = site_db
    has_extents = scalar(db, "SELECT COUNT(*) FROM datasets WHERE slug = 'flood-extents'")
    event = events.declare(
        db,
        T0,
        playbooks["seine-flood"],
        actor=user(db, "cell"),
        title="Crue de la Seine",
        point=[0.53, 49.47],
        params={"seine_level_m": 8.5},
    )
    assert event.is_open
    if not has_extents:
        zones = events.latest_zones(db, event.id)
        assert zones is None or zones["geojson"]["features"] is not None
