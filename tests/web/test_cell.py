"""Mistakes are correctable, restricted data reads well, a refused read says where to ask:
checklist ticks undone or corrected, French field labels and dialable phone numbers, and
"demander l'accès" instead of a bare 403."""

from __future__ import annotations

import html
import json

import pyotp
import pytest

from app import auth, events
from app.db import connect, transaction
from tests.conftest import T0, Client
from tests.unit.test_access_support import JUSTIFICATION, build_world, sign_vp
from tests.web.test_events import declare

VP_FIELDS = [
    {"name": "id", "type": "str", "label": "Identifiant"},
    {"name": "name", "type": "str", "label": "Nom"},
    {"name": "address", "type": "str", "label": "Adresse"},
    {"name": "needs", "type": "str", "label": "Besoins"},
    {"name": "phone", "type": "str", "label": "Téléphone"},
    {"name": "birth_year", "type": "int", "label": "Année de naissance"},
]


def checklist(app, event_id):
    db = connect(app.config["CRISIS_DB"])
    try:
        return events.checklist(db, event_id)
    finally:
        db.conn.close()


def test_a_tick_is_undone_from_the_dashboard_and_the_log_keeps_both(app, client):
    event = declare(app)
    item = checklist(app, event.id)[0]
    client.login("cell")
    assert client.post(f"/events/{event.id}/checklist/{item.id}", data={"note": "ok"}).status_code
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert f'action="/events/{event.id}/checklist/{item.id}/undo"' in page
    hx = {"HX-Request": "true"}
    r = client.post(
        f"/events/{event.id}/checklist/{item.id}/undo", data={"reason": "erreur"}, headers=hx
    )
    assert r.status_code == 200 and 'id="event-checklist"' in r.get_data(as_text=True)
    fired = json.loads(r.headers["HX-Trigger"])
    assert {"log-changed", "checklist-changed", "crisis-flash"} <= set(fired)
    assert "de nouveau à faire" in fired["crisis-flash"]["message"]
    assert not checklist(app, event.id)[0].done
    log = html.unescape(client.get(f"/events/{event.id}/log").get_data(as_text=True))
    assert f"Action réalisée : {item.title}" in log and f"Coche annulée : {item.title}" in log
    # Undone twice: said in the checklist, nothing written.
    again = client.post(f"/events/{event.id}/checklist/{item.id}/undo", headers=hx)
    assert again.status_code == 409 and "rien à corriger" in again.get_data(as_text=True)


def test_only_the_author_or_a_director_corrects_a_tick(app, client):
    event = declare(app)
    item = checklist(app, event.id)[0]
    client.login("cell")
    client.post(f"/events/{event.id}/checklist/{item.id}")
    other: Client = app.test_client()
    other.login("liaison")
    assert other.post(f"/events/{event.id}/checklist/{item.id}/undo").status_code == 403
    assert f"/checklist/{item.id}/undo" not in other.get(f"/events/{event.id}").get_data(
        as_text=True
    )
    other.login("director")
    r = other.post(
        f"/events/{event.id}/checklist/{item.id}/correct",
        data={"fact_at": "2026-11-23T14:02", "note": "confirmé par radio"},
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("#event-checklist")
    page = other.get(f"/events/{event.id}").get_data(as_text=True)
    assert "Correction notée" in page and "confirmé par radio" in page
    fixed = checklist(app, event.id)[0]
    assert (
        fixed.done_at == "2026-11-23T13:02:00Z" and fixed.done_by_name == "Julien Lefebvre (démo)"
    )


@pytest.fixture
def vp_world(app):
    db = connect(app.config["CRISIS_DB"])
    world = build_world(db, T0)
    with transaction(db):
        db.execute(
            "UPDATE datasets SET fields = ? WHERE slug = 'vulnerable-persons'",
            [json.dumps(VP_FIELDS)],
        )
    sign_vp(db, T0)
    secret = auth.enrol_totp(db, T0, "director")
    db.conn.close()
    return world, secret


def test_a_refused_read_offers_to_ask_on_the_open_events(app, client, vp_world):
    world, _ = vp_world
    client.login("director")
    r = client.get(f"/events/{world.event_id}/datasets/vulnerable-persons")
    assert r.status_code == 403
    page = r.get_data(as_text=True)
    assert 'id="access-needed"' in page and "Demander l'accès" in page
    ask = f"/events/{world.event_id}/grants/new?dataset=vulnerable-persons"
    assert f'href="{ask}"' in page
    assert f'href="/events/{world.drill_id}/grants/new?dataset=vulnerable-persons"' in page
    assert page.index(ask) < page.index("EXERCICE</span>")  # real event first, drill apart
    catalogue = client.get("/catalogue/vulnerable-persons").get_data(as_text=True)
    assert f'href="{ask}"' in catalogue
    client.login("liaison")  # no agreement names the liaison: said, no link
    page = client.get(f"/events/{world.event_id}/datasets/vulnerable-persons").get_data(
        as_text=True
    )
    assert "Aucune convention en vigueur ne permet à vos rôles" in page and ask not in page


def test_restricted_rows_have_french_labels_and_dialable_phones(app, client, vp_world):
    world, secret = vp_world
    client.login("director")
    r = client.post(
        f"/api/v1/events/{world.event_id}/grants",
        json={
            "dataset": "vulnerable-persons",
            "reason_code": "secours_personnes",
            "justification": JUSTIFICATION,
            "duration_min": 60,
            "totp": pyotp.TOTP(secret).at(T0),
        },
    )
    assert r.status_code == 201
    other: Client = app.test_client()
    other.login("director2")
    assert other.post(f"/api/v1/grants/{r.json['id']}/approve").status_code == 200
    page = client.get(f"/events/{world.event_id}/datasets/vulnerable-persons").get_data(
        as_text=True
    )
    assert '<th scope="col">Téléphone</th>' in page and '<th scope="col">Adresse</th>' in page
    assert '<a class="tel" href="tel:+33600000000">06 00 00 00 00</a>' in page
    assert '<th scope="col">phone</th>' not in page
    assert "2 objets dans le périmètre" in page


def test_the_director_writes_the_synthesis_from_the_event_page(app, client):
    event = declare(app)
    client.login("cell")
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert 'id="event-synthesis"' in page and "Rédiger la synthèse" not in page
    assert client.post(f"/events/{event.id}/synthesis", data={"text": "x"}).status_code == 403
    client.login("director")
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "Rédiger la synthèse" in page and "Mesures prises :" in page  # the template
    hx = {"HX-Request": "true"}
    empty = client.post(f"/events/{event.id}/synthesis", data={"text": " "}, headers=hx)
    assert empty.status_code == 422 and "Synthèse : valeur obligatoire" in empty.get_data(
        as_text=True
    )
    text = "Situation : nuage vers Lillebonne.\nMesures prises : écoles à l'abri."
    r = client.post(f"/events/{event.id}/synthesis", data={"text": text}, headers=hx)
    assert r.status_code == 200 and "nuage vers Lillebonne" in r.get_data(as_text=True)
    assert "log-changed" in json.loads(r.headers["HX-Trigger"])
    log = html.unescape(client.get(f"/events/{event.id}/log").get_data(as_text=True))
    assert "Synthèse du directeur, version 1" in log
    shown = client.get(f"/events/{event.id}/synthesis", headers=hx).get_data(as_text=True)
    assert "Modifier la synthèse" in shown and "<html" not in shown
