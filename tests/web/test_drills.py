"""Drill pages through the test client: start, players' view, controls, after-action, CAP."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask

from app import drills
from app.db import connect, scalar
from tests.conftest import Client

TOXIC = "toxic-fictif-port-jerome"


class _Page(HTMLParser):
    """Collects element ids and the text of the page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def body(self) -> str:
        return " ".join(" ".join(self.text).split())


def page(response: Any) -> _Page:
    return _Page(response.get_data(as_text=True))


@pytest.fixture
def tclient(territory_app: Flask) -> Client:
    return territory_app.test_client()  # type: ignore[return-value]


def start(client: Client) -> int:
    client.login("exercise")
    response = client.post("/drills/", data={"scenario": TOXIC})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def test_exercise_director_starts_a_drill_and_sees_the_msel(tclient):
    listing = tclient.login("exercise") and tclient.get("/drills/")
    assert listing.status_code == 200
    assert "drill-start" in page(listing).ids
    event_id = start(tclient)
    shown = tclient.get(f"/drills/{event_id}")
    p = page(shown)
    assert shown.status_code == 200
    assert "drill-banner" in p.ids and "EXERCICE" in p.body
    assert "inject-fuite-isolee" in p.ids  # the whole MSEL, future injects included
    assert "Action attendue" in p.body


def test_players_see_only_fired_injects_and_acknowledge_them(tclient, territory_app):
    event_id = start(tclient)
    tclient.login("cell")
    p = page(tclient.get(f"/drills/{event_id}"))
    assert "drill-banner" in p.ids
    assert "inject-alerte-exploitant" in p.ids
    assert "inject-fuite-isolee" not in p.ids and "Action attendue" not in p.body
    assert tclient.post(f"/drills/{event_id}/injects/fuite-isolee/fire").status_code == 403
    ack = tclient.post(f"/drills/{event_id}/injects/alerte-exploitant/ack")
    assert ack.status_code == 302
    db = connect(territory_app.config["CRISIS_DB"])
    try:
        assert scalar(
            db,
            "SELECT acknowledged_by FROM drill_injects WHERE event_id = ? AND inject_id = ?",
            [event_id, "alerte-exploitant"],
        )
    finally:
        db.conn.close()
    # Said where it was done: a second acknowledgement is refused with a visible message.
    again = tclient.post(f"/drills/{event_id}/injects/alerte-exploitant/ack")
    assert again.status_code == 302
    assert "déjà marqué traité" in page(tclient.get(f"/drills/{event_id}")).body


def test_an_inject_is_a_notice_on_the_event_pages_with_a_note(tclient, territory_app):
    event_id = start(tclient)
    tclient.login("cell")
    for url in (f"/events/{event_id}", f"/events/{event_id}/liaison"):
        assert "inject-notice-alerte-exploitant" in page(tclient.get(url)).ids, url
    home = page(tclient.get("/"))
    assert any(i.startswith("inbox-inject-") for i in home.ids)
    assert "Alerte de l'exploitant" in home.body
    fragment = tclient.get(f"/drills/{event_id}/notices", headers={"HX-Request": "true"})
    assert "inject-notice-alerte-exploitant" in page(fragment).ids
    r = tclient.post(
        f"/drills/{event_id}/injects/alerte-exploitant/ack",
        data={"note": "Événement déclaré", "next": f"/events/{event_id}"},
    )
    assert r.status_code == 302 and r.headers["Location"] == f"/events/{event_id}"
    shown = page(tclient.get(f"/events/{event_id}"))
    assert "inject-notice-alerte-exploitant" not in shown.ids
    assert "Inject « Alerte de l'exploitant » marqué traité" in shown.body
    assert "Événement déclaré" in shown.body  # the note, in the main courante
    tclient.login("liaison")  # not an addressee of this inject
    assert "inject-notice-alerte-exploitant" not in page(tclient.get(f"/events/{event_id}")).ids


def test_starting_a_drill_during_a_real_event_asks_and_names_it(tclient, territory_app):
    from app import auth, events
    from app.playbooks.library import load
    from tests.conftest import PROJECT

    db = connect(territory_app.config["CRISIS_DB"])
    try:
        real = events.declare(
            db,
            territory_app.config["CLOCK"].now(),
            load(PROJECT / "playbooks").playbooks["toxic-release"],
            actor=auth.get_user_by_login(db, "director"),
            title="Fuite réelle au port",
            params={"wind_from_deg": 200, "wind_speed_ms": 3},
            site="FICTIF-1",
        )
    finally:
        db.conn.close()
    tclient.login("exercise")
    listing = page(tclient.get("/drills/"))
    assert "Un événement réel est en cours" in listing.body
    asked = tclient.post("/drills/", data={"scenario": TOXIC})
    assert asked.status_code == 409
    p = page(asked)
    assert "confirm-real" in p.ids and "Fuite réelle au port" in p.body
    assert "Lancer l'exercice quand même" in p.body
    started = tclient.post("/drills/", data={"scenario": TOXIC, "confirm_real": str(real.id)})
    assert started.status_code == 302


def test_fire_pause_resume_and_real_emergency(tclient, territory_app):
    event_id = start(tclient)
    assert tclient.post(f"/drills/{event_id}/injects/appel-ecole/fire").status_code == 302
    assert tclient.post(f"/drills/{event_id}/injects/appel-ecole/fire").status_code == 409
    assert tclient.post(f"/drills/{event_id}/pause").status_code == 302
    assert "en pause" in page(tclient.get(f"/drills/{event_id}")).body
    assert tclient.post(f"/drills/{event_id}/resume").status_code == 302
    tclient.login("director")
    stopped = tclient.post(f"/drills/{event_id}/stop", data={"reason": "Incendie réel"})
    assert stopped.status_code == 302
    p = page(tclient.get(f"/drills/{event_id}"))
    assert "Urgence réelle" in p.body
    db = connect(territory_app.config["CRISIS_DB"])
    try:
        assert drills.get_drill(db, event_id).state == "stopped"
    finally:
        db.conn.close()
    html = tclient.get(f"/drills/{event_id}").get_data(as_text=True)
    if "events.new_event" in territory_app.view_functions:
        assert "/events/new?" in html  # the real event is declared from there


def test_after_action_page_debrief_and_pdf(tclient):
    event_id = start(tclient)
    assert tclient.post(f"/drills/{event_id}/end").status_code == 302
    shown = tclient.get(f"/drills/{event_id}/after-action")
    assert shown.status_code == 200
    assert "drill-banner" in page(shown).ids and "Délais mesurés" in page(shown).body
    saved = tclient.post(
        f"/drills/{event_id}/after-action",
        data={"went_well": "Déclenchement rapide", "to_improve": "Liaison COD tardive"},
    )
    assert saved.status_code == 302
    assert "Liaison COD tardive" in tclient.get(f"/drills/{event_id}/after-action").get_data(
        as_text=True
    )
    pdf = tclient.get(f"/drills/{event_id}/after-action.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    cap = tclient.get(f"/drills/{event_id}/cap.xml")
    assert cap.status_code == 200 and b"<status>Exercise</status>" in cap.data
    tclient.login("cell")
    assert tclient.get(f"/drills/{event_id}/after-action").status_code == 403
    assert tclient.post(f"/drills/{event_id}/after-action", data={}).status_code == 403


def test_start_requires_a_known_scenario(tclient):
    tclient.login("exercise")
    refused = tclient.post("/drills/", data={"scenario": "nope"})
    assert refused.status_code == 422
    assert "Choisissez un scénario" in page(refused).body


def test_drills_are_listed_apart_from_real_events(tclient, territory_app):
    from app import auth, events
    from app.playbooks.library import load
    from tests.conftest import PROJECT

    event_id = start(tclient)
    db = connect(territory_app.config["CRISIS_DB"])
    try:
        events.declare(
            db,
            territory_app.config["CLOCK"].now(),
            load(PROJECT / "playbooks").playbooks["toxic-release"],
            actor=auth.get_user_by_login(db, "director"),
            title="Fuite réelle au port",
            params={"wind_from_deg": 200, "wind_speed_ms": 3},
            site="FICTIF-1",
        )
    finally:
        db.conn.close()
    tclient.login("cell")
    for url in ("/events/", "/events/open"):
        text = page(tclient.get(url)).body
        real, drill = text.index("Fuite réelle au port"), text.index("Exercices en cours")
        assert real < drill < text.index("EXERCICE — ", drill), url
    tclient.login("exercise")
    tclient.post(f"/drills/{event_id}/end")
    closed = page(tclient.get("/events/"))
    assert "closed-drills" in closed.ids and "Exercices terminés" in closed.body
