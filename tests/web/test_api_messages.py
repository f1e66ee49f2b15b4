"""Issue 17's acceptance through the API: a declared toxic release, alert → wind shift → update
→ close → cancel, every CAP valid against the OASIS schema with the right ``references`` chain,
the EMSI valid at each stage; the feed and the stable alert URLs behind tokens; a validated
situation report reaching a real SMTP server with its PDF; an unreachable relay failing visibly
on the page and delivering at the retry, nothing lost."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask

from app import auth
from app.db import connect, rows
from tests.conftest import make_app
from tests.messages_support import (
    CAP,
    EMSI,
    cap_schema,
    emsi_schema,
    free_port,
    smtp_server,
)

ATOM = "{http://www.w3.org/2005/Atom}"


class Api:
    """A Bearer-token client of the JSON API for one demo login."""

    def __init__(self, app: Flask, login: str) -> None:
        db = connect(app.config["CRISIS_DB"])
        token = auth.create_token(db, app.config["CLOCK"].now(), login, name="test")
        db.conn.close()
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def __call__(self, method: str, url: str, **kw: Any) -> Any:
        return self.client.open(url, method=method, headers=self.headers, **kw)

    def ok(self, method: str, url: str, status: int = 200, **kw: Any) -> Any:
        response = self(method, url, **kw)
        assert response.status_code == status, (url, response.status_code, response.data[:400])
        return response


def declare(cell: Api) -> int:
    body = {
        "playbook": "toxic-release",
        "title": "FICTIF — fuite d'ammoniac",
        "site": "FICTIF-1",
        "params": {"wind_from_deg": 200, "wind_speed_ms": 3, "substance": "Ammoniac"},
    }
    return int(cell.ok("POST", "/api/v1/events", 201, json=body).get_json()["id"])


def issue(cell: Api, director: Api, event_id: int, kind: str, template: str) -> dict[str, Any]:
    made = cell.ok("POST", f"/api/v1/events/{event_id}/messages", 201,
                   json={"kind": kind, "template": template}).get_json()  # fmt: skip
    assert made["status"] == "brouillon" and made["id"]
    validated = director.ok("POST", f"/api/v1/messages/{made['id']}/validate").get_json()
    assert validated["status"] == "validé"
    sent = cell.ok("POST", f"/api/v1/messages/{made['id']}/send").get_json()
    assert sent["status"] == "émis"
    return dict(sent)


def emsi_now(api: Api, event_id: int) -> ET.Element:
    response = api.ok("GET", f"/api/v1/events/{event_id}/emsi")
    assert response.mimetype == "application/xml"
    emsi_schema().validate(response.data.decode())
    return ET.fromstring(response.data)


@pytest.fixture
def apis(territory_app: Flask) -> tuple[Api, Api]:
    return Api(territory_app, "cell"), Api(territory_app, "director")


def test_toxic_release_alert_update_close_cancel_through_the_api(territory_app, apis):
    cell, director = apis
    event_id = declare(cell)
    assert emsi_now(cell, event_id).findtext(f"{EMSI}CONTEXT/{EMSI}MSGTYPE") == "ALERT"

    alert = issue(cell, director, event_id, "cap", "mise-a-l-abri")
    assert alert["skipped"] == alert["deliveries"]  # no relay configured: nothing sent, said so
    got = cell.ok("GET", f"/api/v1/messages/{alert['id']}").get_json()
    assert (got["status"], got["msg_type"], got["references"]) == ("émis", "Alert", [])
    assert cell.ok("GET", f"/api/v1/events/{event_id}/messages").get_json()["cap_update_due"] == []

    # the wind turns: new zones, the alert in force must be updated
    shifted = director.ok("POST", f"/api/v1/events/{event_id}/params",
                          json={"params": {"wind_from_deg": 290},
                                "reason": "Météo-France : vent d'ouest"}).get_json()  # fmt: skip
    assert shifted["params"]["wind_from_deg"] == 290 and shifted["zones_version"] == 2
    due = cell.ok("GET", f"/api/v1/events/{event_id}/messages").get_json()["cap_update_due"]
    assert due and "zones" in due[0]
    log = cell.ok("GET", f"/api/v1/events/{event_id}/log").get_json()["entries"]
    assert any("Motif : Météo-France" in e["text"] for e in log)

    update = issue(cell, director, event_id, "cap", "evacuation")
    emsi_msg = issue(cell, director, event_id, "emsi", "point-de-situation")
    assert emsi_msg["msg_type"] == "ALERT"
    assert emsi_now(cell, event_id).findtext(f"{EMSI}CONTEXT/{EMSI}MSGTYPE") == "UPDATE"
    director.ok(
        "POST", f"/api/v1/events/{event_id}/level", json={"level": 4, "reason": "extension"}
    )

    statement = {"statement": "Fuite colmatée, mesures négatives."}
    closed = director.ok("POST", f"/api/v1/events/{event_id}/close", json=statement).get_json()
    assert closed["status"] == "closed"
    assert emsi_now(cell, event_id).findtext(f"{EMSI}CONTEXT/{EMSI}MSGTYPE") == "CANCEL"
    refused = cell("POST", f"/api/v1/events/{event_id}/messages",
                   json={"kind": "cap", "template": "evacuation"})  # fmt: skip
    assert refused.status_code == 409 and "clos" in refused.get_json()["error"]

    cancel = issue(cell, director, event_id, "cap", "levee")
    chain = [alert, update, cancel]
    assert [m["msg_type"] for m in chain] == ["Alert", "Update", "Cancel"]
    refs = []
    for m in chain:
        got = cell.ok("GET", f"/api/v1/messages/{m['id']}").get_json()
        assert got["references"] == refs
        body = cell.ok("GET", f"/api/v1/messages/{m['id']}/content")
        assert body.mimetype == "application/cap+xml"
        assert body.headers["X-Content-SHA256"] == got["sha256"]
        cap_schema().validate(body.data.decode())
        root = ET.fromstring(body.data)
        assert root.findtext(f"{CAP}msgType") == m["msg_type"]
        written = root.findtext(f"{CAP}references")
        assert (written.split() if written else []) == refs
        refs = [*refs, f"{root.findtext(f'{CAP}sender')},{root.findtext(f'{CAP}identifier')},"
                       f"{root.findtext(f'{CAP}sent')}"]  # fmt: skip
        # the stable URL serves the same bytes
        alert_url = f"/cap/alerts/{got['identifier']}.xml"
        stable = cell.ok("GET", alert_url)
        assert stable.data == body.data and stable.mimetype == "application/cap+xml"

    feed = cell.ok("GET", "/cap/feed.atom")
    assert feed.mimetype == "application/atom+xml"
    entries = ET.fromstring(feed.data).findall(f"{ATOM}entry")
    identifiers = [
        cell.ok("GET", "/api/v1/messages/" + str(m["id"])).get_json()["identifier"]
        for m in reversed(chain)
    ]
    hrefs = [e.find(f"{ATOM}link").get("href") for e in entries]
    assert [h.rsplit("/", 1)[1] for h in hrefs] == [f"{i}.xml" for i in identifiers]
    assert not ET.fromstring(cell.ok("GET", "/cap/exercise.atom").data).findall(f"{ATOM}entry")


def test_partners_read_the_feed_with_their_own_token(territory_app, apis):
    cell, director = apis
    event_id = declare(cell)
    alert = issue(cell, director, event_id, "cap", "mise-a-l-abri")
    identifier = cell.ok("GET", f"/api/v1/messages/{alert['id']}").get_json()["identifier"]
    cod = director.ok("POST", "/api/v1/partners", 201, json={
        "organisation": "FICTIF — COD", "role": "COD", "email": "cod@prefecture.example",
        "kinds": ["cap"]}).get_json()  # fmt: skip
    drill = director.ok("POST", "/api/v1/partners", 201, json={
        "organisation": "FICTIF — COD exercice", "role": "COD", "email": "ex@prefecture.invalid",
        "kinds": ["cap"], "drill_only": True}).get_json()  # fmt: skip
    assert cell("POST", f"/api/v1/partners/{cod['id']}/feed-token").status_code == 403
    issued = director.ok("POST", f"/api/v1/partners/{cod['id']}/feed-token", 201).get_json()
    token = issued["token"]
    assert issued["feed"].endswith("/cap/feed.atom")
    assert director.ok("GET", f"/api/v1/partners/{cod['id']}").get_json()["feed_token"] is True
    partner = territory_app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert partner.get("/cap/feed.atom", headers=bearer).status_code == 200
    assert partner.get(f"/cap/alerts/{identifier}.xml", headers=bearer).status_code == 200
    # a feed token opens the feed and the alerts, nothing else
    assert partner.get("/api/v1/events", headers=bearer).status_code == 401
    assert partner.get("/cap/exercise.atom", headers=bearer).status_code == 403
    assert partner.get("/cap/feed.atom").status_code == 401
    assert (
        partner.get("/cap/feed.atom", headers={"Authorization": "Bearer cfeed_x"}).status_code
        == 401
    )
    drill_token = director.ok("POST", f"/api/v1/partners/{drill['id']}/feed-token", 201).get_json()
    drill_bearer = {"Authorization": f"Bearer {drill_token['token']}"}
    assert partner.get("/cap/exercise.atom", headers=drill_bearer).status_code == 200
    assert partner.get(f"/cap/alerts/{identifier}.xml", headers=drill_bearer).status_code == 404
    # revoked: it stops at once; the audit chain has both
    director.ok("DELETE", f"/api/v1/partners/{cod['id']}/feed-token")
    assert partner.get("/cap/feed.atom", headers=bearer).status_code == 401
    db = connect(territory_app.config["CRISIS_DB"])
    actions = [
        r["action"] for r in rows(db, "SELECT action FROM audit_log WHERE object_type = 'partner'")
    ]
    db.conn.close()
    assert (
        actions.count("partner.feed_token_issued") == 2 and "partner.feed_token_revoked" in actions
    )
    assert token not in str(actions)


@pytest.fixture
def smtp_app(tmp_path, territory_template) -> Flask:
    port = free_port()
    return make_app(
        tmp_path,
        territory_template,
        CRISIS_SMTP_HOST="127.0.0.1",
        CRISIS_SMTP_PORT=port,
        CRISIS_SMTP_FROM="crise@caux-seine.example",
        CRISIS_SMTP_STARTTLS="0",
    )


def test_a_validated_report_reaches_the_smtp_server_with_its_pdf(smtp_app):
    cell, director = Api(smtp_app, "cell"), Api(smtp_app, "director")
    director.ok("POST", "/api/v1/partners", 201, json={
        "organisation": "FICTIF — COD", "role": "COD", "email": "cod@prefecture.example",
        "kinds": ["report"]})  # fmt: skip
    event_id = declare(cell)
    report = cell.ok("POST", f"/api/v1/events/{event_id}/reports", 201).get_json()
    pdf = cell.ok("GET", report["url"])
    assert pdf.mimetype == "application/pdf" and pdf.headers["X-Content-SHA256"] == report["sha256"]
    with smtp_server(smtp_app.config["CRISIS_SMTP_PORT"]) as (inbox, _port):
        sent = issue(cell, director, event_id, "report", "point-de-situation")
    assert [d["result"] for d in sent["deliveries"]] == ["sent"] and sent["skipped"] == []
    mails = inbox.mails()
    assert len(mails) == 1 and mails[0]["To"] == "cod@prefecture.example"
    attachment = next(mails[0].iter_attachments())
    content = cell.ok("GET", f"/api/v1/messages/{sent['id']}/content")
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == content.data == pdf.data  # byte for byte
    log = cell.ok("GET", f"/api/v1/events/{event_id}/log?category=message émis").get_json()
    assert any(sent["sha256"] in e["text"] for e in log["entries"])
    db = connect(smtp_app.config["CRISIS_DB"])
    emitted = rows(db, "SELECT details FROM audit_log WHERE action = 'message.emitted'")
    delivered = rows(db, "SELECT 1 FROM audit_log WHERE action = 'message.delivery_sent'")
    db.conn.close()
    assert sent["sha256"] in emitted[0]["details"] and len(delivered) == 1


def test_an_unreachable_relay_fails_visibly_and_the_retry_delivers(smtp_app):
    cell, director = Api(smtp_app, "cell"), Api(smtp_app, "director")
    director.ok("POST", "/api/v1/partners", 201, json={
        "organisation": "FICTIF — SDIS", "role": "CODIS", "email": "codis@sdis.example",
        "kinds": ["cap"]})  # fmt: skip
    event_id = declare(cell)
    sent = issue(cell, director, event_id, "cap", "mise-a-l-abri")  # nobody listens yet
    assert [d["result"] for d in sent["deliveries"]] == ["failed"]
    assert "injoignable" in sent["deliveries"][0]["error"]
    page = smtp_app.test_client()
    page.login("cell")
    html = page.get(f"/messages/{sent['id']}").get_data(as_text=True)
    assert "échec, nouvel essai prévu" in html and "injoignable" in html
    assert "Réessayer maintenant" in html
    with smtp_server(smtp_app.config["CRISIS_SMTP_PORT"]) as (inbox, _port):
        response = page.post(f"/messages/{sent['id']}/retry")
        assert response.status_code == 302
    html = page.get(f"/messages/{sent['id']}").get_data(as_text=True)
    assert "remis au relais" in html
    mails = inbox.mails()
    content = cell.ok("GET", f"/api/v1/messages/{sent['id']}/content").data
    assert len(mails) == 1 and next(mails[0].iter_attachments()).get_content() == content


def test_the_director_writes_the_synthesis_through_the_api(territory_app, apis):
    cell, director = apis
    event_id = declare(cell)
    text = "Situation : fuite d'ammoniac.\n\nMesures prises : mise à l'abri.\n"
    body = {"text": text}
    refused = cell("PUT", f"/api/v1/events/{event_id}/synthesis", json=body)
    assert refused.status_code == 403 and refused.get_json()["error"]
    written = director.ok("PUT", f"/api/v1/events/{event_id}/synthesis", json=body).get_json()
    assert written["synthesis"]["text"] == text.strip() and written["synthesis"]["by"]
    got = cell.ok("GET", f"/api/v1/events/{event_id}").get_json()
    assert got["synthesis"]["text"] == text.strip()
    log = cell.ok("GET", f"/api/v1/events/{event_id}/log").get_json()["entries"]
    assert any(e["text"].startswith("Synthèse du directeur, version 1") for e in log)
    again = director("PUT", f"/api/v1/events/{event_id}/synthesis", json=body)
    assert again.status_code == 422 and "Rien n'a changé" in again.get_json()["error"]
    url = f"/api/v1/events/{event_id}/synthesis"
    typo = director("PUT", url, json={"text": "Autre", "txt": text})
    assert typo.status_code == 400 and typo.get_json()["field"] == "txt"
