"""The message pages (issue 17): the event's region and page, one message from draft to émis
or annulé with the FR-Alert counter, the EMSI download, and the partner directory — each with
who may do it and what the page says when no SMTP relay is configured."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape

from app import messages as msgs
from app.db import connect
from tests.messages_support import declare_toxic, emsi_schema, playbooks, user


def _login(app: Flask, login: str) -> Any:
    client = app.test_client()
    client.login(login)
    return client


@pytest.fixture
def event_id(territory_app: Flask) -> int:
    db = connect(territory_app.config["CRISIS_DB"])
    event = declare_toxic(db, territory_app.config["CLOCK"].now())
    db.conn.close()
    return int(event.id)


def _message_id(response: Any) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    found = re.search(r"/messages/(\d+)$", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def test_a_message_from_draft_to_emitted_on_the_pages(territory_app: Flask, event_id: int):
    cell, director = _login(territory_app, "cell"), _login(territory_app, "director")
    partner = {"organisation": "FICTIF — COD", "role": "COD", "email": "cod@prefecture.example",
               "kinds": ["cap"]}  # fmt: skip
    assert director.post("/partners", data=partner).status_code == 302
    dashboard = cell.get(f"/events/{event_id}").get_data(as_text=True)
    assert 'id="event-messages"' in dashboard and 'data-live-part="messages"' in dashboard
    assert "rien ne sera envoyé par courriel" in dashboard
    assert f"/events/{event_id}/emsi.xml" in dashboard

    made = cell.post(f"/events/{event_id}/messages", data={"kind": "cap", "template": "nope"})
    assert made.status_code == 422 and "modèle" in made.get_data(as_text=True).lower()
    message_id = _message_id(
        cell.post(f"/events/{event_id}/messages", data={"kind": "cap", "template": "mise-a-l-abri"})
    )
    page = cell.get(f"/messages/{message_id}").get_data(as_text=True)
    assert 'id="cbs-count"' in page and "brouillon" in page
    assert "rien ne sera envoyé par courriel" in page

    text = "Fuite d'ammoniac à Port-Jérôme : restez chez vous, fermez portes et fenêtres."
    edited = cell.post(f"/messages/{message_id}", data={"cbs": text, "headline": "Mise à l'abri"})
    assert edited.status_code == 302
    assert str(escape(text)) in cell.get(f"/messages/{message_id}").get_data(as_text=True)

    # the cell cannot validate; the director validates what the cell wrote
    assert cell.post(f"/messages/{message_id}/validate").status_code == 403
    assert director.post(f"/messages/{message_id}/validate").status_code == 302
    assert "validé" in director.get(f"/messages/{message_id}").get_data(as_text=True)
    assert cell.post(f"/messages/{message_id}/send").status_code == 302
    page = cell.get(f"/messages/{message_id}").get_data(as_text=True)
    assert "émis" in page and "cod@prefecture.example" in page
    assert "non envoyé (relais SMTP non configuré)" in page  # no relay: the delivery says so

    region = cell.get(f"/events/{event_id}/messages?compact=1").get_data(as_text=True)
    assert f"/messages/{message_id}" in region and "Mise à jour de l'alerte CAP" not in region


def test_the_director_cannot_validate_what_they_wrote_and_a_draft_is_cancelled(
    territory_app: Flask, event_id: int
):
    director = _login(territory_app, "director")
    message_id = _message_id(
        director.post(
            f"/events/{event_id}/messages", data={"kind": "emsi", "template": "evacuation"}
        )
    )
    assert "un autre directeur" in director.get(f"/messages/{message_id}").get_data(as_text=True)
    refused = director.post(f"/messages/{message_id}/validate")
    assert refused.status_code == 403, refused.status_code  # the domain's refusal, on the page
    assert "autre directeur" in refused.get_data(as_text=True)
    cancelled = director.post(f"/messages/{message_id}/cancel", data={"reason": "doublon"})
    assert cancelled.status_code == 302
    assert "annulé" in director.get(f"/messages/{message_id}").get_data(as_text=True)


def test_a_wind_shift_shows_the_cap_update_banner(territory_app: Flask, event_id: int):
    db = connect(territory_app.config["CRISIS_DB"])
    now = territory_app.config["CLOCK"].now()
    toxic = playbooks()["toxic-release"]
    alert = msgs.draft(db, now, event_id, toxic, kind="cap", template="mise-a-l-abri",
                       actor=user(db, "cell"))  # fmt: skip
    msgs.validate(db, now, alert.id, toxic, actor=user(db, "director"))
    msgs.send(db, now, alert.id, actor=user(db, "cell"))
    db.conn.close()
    cell = _login(territory_app, "cell")
    body = {"p_wind_from_deg": "290", "reason": "vent d'ouest"}
    assert cell.post(f"/events/{event_id}/params", data=body).status_code == 302
    for url in (f"/events/{event_id}", f"/events/{event_id}/messages"):
        html = cell.get(url).get_data(as_text=True)
        assert "Mise à jour de l'alerte CAP à émettre" in html, url
        assert "Les zones ont changé" in html, url


def test_the_counter_is_the_servers_count(territory_app: Flask, event_id: int):
    cell = _login(territory_app, "cell")
    message_id = _message_id(
        cell.post(f"/events/{event_id}/messages", data={"kind": "cap", "template": "mise-a-l-abri"})
    )
    for text in ("Restez chez vous.", "x" * 94, "Évacuez « vite »", "y" * 93 * 16):
        answer = cell.post(f"/messages/{message_id}/count", data={"cbs": text})
        html = answer.get_data(as_text=True)
        expected = msgs.cbs_text_count(text)
        assert f'data-pages="{expected.pages}"' in html, text
        assert f'data-encoding="{expected.encoding}"' in html, text
        assert ("Trop long" in html) == (expected.pages > expected.max_pages), text


def test_the_emsi_download_is_valid(territory_app: Flask, event_id: int):
    response = _login(territory_app, "liaison").get(f"/events/{event_id}/emsi.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert "attachment" in response.headers["Content-Disposition"]
    emsi_schema().validate(response.data.decode())
    assert _login(territory_app, "steward").get(f"/events/{event_id}/emsi.xml").status_code == 403


def test_the_partner_directory(territory_app: Flask):
    director, cell = _login(territory_app, "director"), _login(territory_app, "cell")
    form = {"organisation": "FICTIF — SDIS", "role": "CODIS", "email": "codis@sdis.example",
            "kinds": ["cap", "emsi"]}  # fmt: skip
    assert cell.post("/partners", data=form).status_code == 403
    bad = director.post("/partners", data={**form, "email": "pas une adresse"})
    assert bad.status_code == 422 and "FICTIF — SDIS" in bad.get_data(as_text=True)
    assert director.post("/partners", data=form).status_code == 302
    listing = cell.get("/partners").get_data(as_text=True)
    assert "codis@sdis.example" in listing and "Ajouter un partenaire" not in listing
    assert "rien ne sera envoyé par courriel" in listing
    partner_id = int(re.findall(r"/partners/(\d+)", listing)[0])
    edited = director.post(
        f"/partners/{partner_id}", data={**form, "role": "CTA-CODIS", "active": "1"}
    )
    assert edited.status_code == 302
    assert "CTA-CODIS" in director.get("/partners").get_data(as_text=True)
    issued = director.post(f"/partners/{partner_id}/feed-token").get_data(as_text=True)
    token = re.search(r"cfeed_[A-Za-z0-9_-]+", issued)
    assert token and "/cap/feed.atom" in issued
    feed = territory_app.test_client().get(
        "/cap/feed.atom", headers={"Authorization": f"Bearer {token.group(0)}"}
    )
    assert feed.status_code == 200
    assert token.group(0) not in director.get(f"/partners/{partner_id}").get_data(as_text=True)
    assert director.post(f"/partners/{partner_id}/feed-token/revoke").status_code == 302
    assert _login(territory_app, "steward").get("/partners").status_code == 403
