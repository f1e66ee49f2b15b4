"""The past of an event (issue 19): the situation "as at" a time (API, page, report) and the
chronology (page, filter, CSV). One event with three zones versions serves every test."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from app import history
from app.clock import iso
from app.db import connect
from tests.builders import history_story
from tests.conftest import T0


@pytest.fixture
def story(territory_app: Flask) -> dict[str, Any]:
    return history_story(territory_app)


def test_as_at_between_versions_1_and_2_gives_version_1(story):
    client, event_id = story["client"], story["id"]
    at = iso(T0 + timedelta(minutes=5))
    zones = client.get(f"/api/v1/events/{event_id}/zones?at={at}").get_json()
    now_zones = client.get(f"/api/v1/events/{event_id}/zones").get_json()
    assert zones["version"] == 1 and now_zones["version"] == 3
    assert zones["as_at"] == at and "as_at" not in now_zones
    assert zones["parameters"]["wind_from_deg"] == 240
    assert zones["features"] != now_zones["features"]
    impact = client.get(f"/api/v1/events/{event_id}/impact?at={at}").get_json()
    assert impact["zones_version"] == 1 and impact["as_at"] == at
    assert impact["analysed_against"]["catalogue"] == "current"
    live = client.get(f"/api/v1/events/{event_id}/impact").get_json()
    assert [z["id"] for z in impact["zones"]] == [z["id"] for z in live["zones"]]
    event = client.get(f"/api/v1/events/{event_id}?at={at}").get_json()
    assert event["as_at"] == at and event["zones"]["version"] == 1
    assert event["level"] == 2 and event["params"]["wind_from_deg"] == 240
    assert not any("HYPERLINK" in e["text"] for e in event["log"])  # written at +25
    later = client.get(f"/api/v1/events/{event_id}?at={iso(T0 + timedelta(minutes=15))}")
    assert later.get_json()["level"] == 3 and later.get_json()["zones"]["version"] == 2
    # A Paris time without offset is what the cell types (T0 is UTC).
    paris = (T0 + timedelta(minutes=12)).astimezone(history.PARIS).strftime("%Y-%m-%dT%H:%M")
    assert client.get(f"/api/v1/events/{event_id}/zones?at={paris}").get_json()["version"] == 2


@pytest.mark.parametrize(
    ("at", "words"),
    [
        ("hier soir", "illisible"),
        (iso(T0 - timedelta(hours=1)), "précède la déclaration"),
        (iso(T0 + timedelta(days=1)), "dans le futur"),
        ("", "Indiquez le moment"),
    ],
)
def test_bad_at_is_a_400_in_french(story, at, words):
    client, event_id = story["client"], story["id"]
    for path in ("", "/zones", "/impact"):
        r = client.get(f"/api/v1/events/{event_id}{path}", query_string={"at": at})
        assert r.status_code == 400, (path, r.get_data(as_text=True))
        assert words in r.get_json()["error"] and r.get_json()["field"] == "at"
    assert (
        client.get(f"/events/{event_id}/situation", query_string={"at": at or "x"}).status_code
        == 400
    )


def test_historical_page_shows_the_situation_then(story):
    client, event_id = story["client"], story["id"]
    at = iso(T0 + timedelta(minutes=5))
    page = client.get(f"/events/{event_id}/situation?at={at}").get_data(as_text=True)
    assert "Vue historique — situation au" in page
    assert "Zones en vigueur : version 1" in page
    assert "N2" in page and "HYPERLINK" not in page
    assert f"/api/v1/events/{event_id}/zones?at=" in page  # the map reads that version
    assert f'href="/events/{event_id}"' in page  # back to the live view
    fragment = client.get(f"/events/{event_id}/impact?at={at}", headers={"HX-Request": "true"})
    assert "Zones version 1" in fragment.get_data(as_text=True)
    live = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert 'id="event-as-at"' in live and f"/events/{event_id}/chronologie" in live


def test_report_as_at_says_so_on_every_page(story, tmp_path):
    client, event_id = story["client"], story["id"]
    at = iso(T0 + timedelta(minutes=5))
    r = client.post(
        f"/events/{event_id}/situation/report", data={"at": at, "csrf_token": client.refresh_csrf()}
    )
    assert r.status_code == 302
    db = connect(story["app"].config["CRISIS_DB"])
    try:
        stored = db.execute(
            "SELECT id, as_at FROM reports WHERE event_id = ?", [event_id]
        ).fetchall()
        assert [row[1] for row in stored] == [at]
        audit = db.execute(
            "SELECT details FROM audit_log WHERE action = 'report.generated'"
        ).fetchone()[0]
        assert at in audit
    finally:
        db.conn.close()
    pdf = client.get(f"/reports/{stored[0][0]}.pdf")
    assert pdf.status_code == 200 and "-au-" in pdf.headers["Content-Disposition"]
    path = tmp_path / "ps.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    assert len(pages) >= 2
    assert all("reconstitué" in p for p in pages), "every page is marked"
    assert "Point de situation au" in pages[0] and "version 1" in text
    assert "catalogue" in pages[0]  # what the figures are analysed against
    assert "HYPERLINK" not in text  # the log as it was known then
    # The tablet's "last report" is never a reconstitution.
    liaison = client.get(f"/events/{event_id}/liaison").get_data(as_text=True)
    assert f"/reports/{stored[0][0]}.pdf" not in liaison


def test_timeline_orders_filters_and_exports(story):
    client, event_id = story["client"], story["id"]
    page = client.get(f"/events/{event_id}/chronologie").get_data(as_text=True)
    assert "Chronologie" in page and "Zones version 3 calculées" in page
    db = connect(story["app"].config["CRISIS_DB"])
    try:
        from app import events

        event = events.get_event(db, event_id)
        items = history.timeline(db, T0 + timedelta(minutes=30), event)
    finally:
        db.conn.close()
    assert [i.at for i in items] == sorted(i.at for i in items)
    kinds = [i.kind for i in items]
    assert kinds.count("zones") == 3 and "niveau" in kinds and "parametres" in kinds
    level = next(i for i in items if i.kind == "niveau")
    assert level.text.startswith("Élévation du niveau : 2 → 3")
    assert not any(i.kind == "main_courante" and "du niveau" in i.text for i in items)
    only = client.get(
        f"/events/{event_id}/chronologie?kind=zones", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert only.count("Zones version") == 3 and "Élévation" not in only
    assert only.lstrip().startswith('<section class="card timeline" id="event-timeline">')
    csv = client.get(f"/events/{event_id}/chronologie.csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    body = csv.data.decode("utf-8")
    assert body.startswith("\ufeffHeure du fait;")
    line = next(x for x in body.splitlines() if "HYPERLINK" in x)
    assert ";'=HYPERLINK(" in line.replace('"', "")
    assert history.csv_cell("+33 6") == "'+33 6" and history.csv_cell("@a") == "'@a"
    assert history.csv_cell("-1") == "'-1" and history.csv_cell("ok = 1") == "ok = 1"
    zones_only = client.get(f"/events/{event_id}/chronologie.csv?kind=zones").data.decode()
    assert len(zones_only.strip().splitlines()) == 1 + 3


def test_checklist_log_and_grants_as_they_stood(story):
    from app import access, auth, events

    db = connect(story["app"].config["CRISIS_DB"])
    try:
        t = T0 + timedelta(minutes=30)
        director = auth.get_user_by_login(db, "director")
        liaison = auth.get_user_by_login(db, "liaison")
        event = events.get_event(db, story["id"])
        item = events.checklist(db, event.id)[0]
        events.tick_item(db, t, event.id, item.id, actor=director, note="fait")
        entry = events.add_log(db, t, event.id, actor=director, category="information", text="A")
        grant = access.request_grant(
            db, t, liaison, event.id, "gas-network", reason_code="intervention_reseau",
            justification="Repérer les conduites de gaz à couper.", duration_min=30,
        )  # fmt: skip
        assert grant.status == "active"
        later = t + timedelta(minutes=10)
        events.undo_item(db, later, event.id, item.id, actor=director, reason="erreur")
        events.add_log(
            db, later, event.id, actor=director, category="information", text="B",
            corrects_id=entry.id,
        )  # fmt: skip
        access.revoke_grant(db, later, director, grant.id, "plus utile")
        then = history.situation_at(db, event, t + timedelta(minutes=5))
        now = history.situation_at(db, event, later)
    finally:
        db.conn.close()
    assert next(i for i in then.checklist if i.id == item.id).done_at == iso(t)
    assert next(i for i in now.checklist if i.id == item.id).done_at is None
    assert next(e for e in then.log if e.id == entry.id).corrected_by is None
    assert next(e for e in now.log if e.id == entry.id).corrected_by is not None
    assert [g.id for g in then.grants] == [grant.id] and now.grants == []
