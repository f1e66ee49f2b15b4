"""The vulnerable-persons call campaign through the API and the pages: personal fields only
under a valid grant, statuses kept after it, every read and change in the owner's review."""

from __future__ import annotations

import json
from datetime import timedelta
from html import unescape

import pytest

from app.db import connect
from app.web.security import rule_for
from tests.builders import open_register
from tests.web.test_access_rules import ROLES, placeholder_url, routes


def register_values(app) -> dict[str, list[str]]:
    """Every personal value of the register (names, addresses, phones, needs…)."""
    db = connect(app.config["CRISIS_DB"])
    values: dict[str, list[str]] = {}
    for r in db.query(
        "SELECT f.fid, f.properties FROM features f JOIN datasets d ON d.id = f.dataset_id"
        " WHERE d.slug = 'vulnerable-persons'"
    ):
        p = json.loads(r["properties"])
        values[r["fid"]] = [p[k] for k in ("name", "address", "phone", "emergency_phone") if p[k]]
    db.conn.close()
    return values


@pytest.fixture
def drill(territory_app):
    event_id = open_register(territory_app, territory_app.test_client)
    return territory_app, event_id


def test_call_list_under_a_grant_then_ids_and_statuses_only(drill):
    app, event_id = drill
    clock = app.config["CLOCK"]
    values = register_values(app)
    director = app.test_client()
    director.login("director")
    r = director.get(f"/api/v1/events/{event_id}/calls", headers={"X-Request-Id": "calls-1"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["personal"] is True and body["classification"] == "DIFFUSION RESTREINTE"
    items = body["items"]
    assert len(items) >= 3, "the demo register has persons under the FICTIF-1 plume"
    first = items[0]
    assert set(first) >= {"person_id", "status", "name", "address", "phone", "needs"}
    assert "birth_year" not in first and "emergency_phone" not in first  # not whitelisted
    assert all(i["status"] == "a_appeler" for i in items)
    ids = [i["person_id"] for i in items]

    # The cell works the list: statuses with notes, an idempotent resend from a tablet.
    done = {ids[0]: "evacue", ids[1]: "pas_de_reponse", ids[2]: "joint"}
    for pid, status in done.items():
        r = director.post(
            f"/api/v1/events/{event_id}/calls/{pid}",
            json={"status": status, "note": "Partie chez sa fille (FICTIF)"},
        )
        assert r.status_code == 200 and r.get_json()["status"] == status, r.get_json()
    key = {"Idempotency-Key": "tablet-call-0001"}
    for _ in range(2):
        r = director.post(
            f"/api/v1/events/{event_id}/calls/{ids[0]}",
            json={"status": "pris_en_charge", "note": ""},
            headers=key,
        )
        assert r.status_code == 200
    db = connect(app.config["CRISIS_DB"])
    assert (
        db.execute(
            "SELECT COUNT(*) FROM call_changes WHERE person_id = ? AND status = 'pris_en_charge'",
            [ids[0]],
        ).fetchone()[0]
        == 1
    )
    db.conn.close()
    r = director.post(
        f"/api/v1/events/{event_id}/calls/{ids[0]}",
        json={"status": "evacue", "note": ""},
        headers=key,
    )
    assert r.status_code == 422  # the same key for another request
    assert (
        director.post(
            f"/api/v1/events/{event_id}/calls/{ids[0]}", json={"status": "parti", "note": ""}
        ).status_code
        == 422
    )
    assert (
        director.post(
            f"/api/v1/events/{event_id}/calls/DEMO-VUL-999", json={"status": "joint"}
        ).status_code
        == 404
    )

    # A cell member without a grant: ids and statuses only, by the API and the page.
    cell = app.test_client()
    cell.login("cell")
    r = cell.get(f"/api/v1/events/{event_id}/calls")
    assert r.status_code == 200
    assert r.get_json()["personal"] is False
    assert all(set(i) == {"person_id", "status"} for i in r.get_json()["items"])
    page = unescape(cell.get(f"/events/{event_id}/calls").get_data(as_text=True))
    assert ids[0] in page and "pris en charge" in page and "identifiants et statuts" in page
    for pid in ids:
        for value in values[pid]:
            assert value not in r.get_data(as_text=True) and value not in page
    assert "Partie chez sa fille" not in page  # notes are not shown without a grant
    # The liaison records a status in the field (no grant needed for the cell's own data).
    liaison = app.test_client()
    liaison.login("liaison")
    r = liaison.post(f"/api/v1/events/{event_id}/calls/{ids[2]}", json={"status": "a_evacuer"})
    assert r.status_code == 200

    # The grant expires: the list stays, ids and statuses only, for its holder too.
    clock.advance(minutes=61)
    r = director.get(f"/api/v1/events/{event_id}/calls")
    assert r.status_code == 200 and r.get_json()["personal"] is False
    got = {i["person_id"]: i["status"] for i in r.get_json()["items"]}
    assert got[ids[0]] == "pris_en_charge" and got[ids[1]] == "pas_de_reponse"
    assert got[ids[2]] == "a_evacuer"
    text = r.get_data(as_text=True) + director.get(f"/events/{event_id}/calls").get_data(
        as_text=True
    )
    for pid in ids:
        for value in values[pid]:
            assert value not in text

    # The register's owner reviews every read and every change.
    steward = app.test_client()
    steward.login("steward-ccas")
    review = steward.get(f"/acces/revue?event={event_id}")
    assert review.status_code == 200
    html = unescape(review.get_data(as_text=True))
    assert "calls-1" in html and "campagne d'appels" in html
    assert "Changements enregistrés par la cellule" in html
    for pid in done:
        assert pid in html
    assert "pas_de_reponse" in html and "a_evacuer" in html
    pdf = steward.get(f"/acces/revue.pdf?event={event_id}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_no_call_list_without_a_grant_and_no_status(territory_app):
    client = territory_app.test_client()
    client.login("director")
    r = client.post(
        "/api/v1/events",
        json={
            "playbook": "toxic-release",
            "title": "Essai",
            "site": "FICTIF-1",
            "params": {"wind_from_deg": 240, "wind_speed_ms": 4},
        },
    )
    event_id = r.get_json()["id"]
    r = client.get(f"/api/v1/events/{event_id}/calls")
    assert r.status_code == 403 and "registre" in r.get_json()["error"]
    page = client.get(f"/events/{event_id}/calls")
    assert page.status_code == 200 and "Ouvrir l'accès au registre" in page.get_data(as_text=True)
    r = client.post(f"/api/v1/events/{event_id}/calls/DEMO-VUL-001", json={"status": "joint"})
    assert r.status_code == 404  # nobody is on a list that was never read


def test_no_personal_field_by_any_route_for_any_role_without_a_grant(drill):
    """Walk every GET route of the app for every role (none of whom holds a grant but the
    director, whose grant has expired): no value of the register appears anywhere."""
    app, event_id = drill
    director = app.test_client()
    director.login("director")
    director.get(f"/api/v1/events/{event_id}/calls")  # the list exists
    first = director.get(f"/api/v1/events/{event_id}/calls").get_json()["items"][0]["person_id"]
    director.post(f"/api/v1/events/{event_id}/calls/{first}", json={"status": "evacue"})
    app.config["CLOCK"].advance(minutes=61)
    values = register_values(app)
    secrets = {v for vs in values.values() for v in vs}
    for role in ROLES:
        client = app.test_client()
        client.login(role)
        for rule, method in routes(app):
            if method != "GET" or rule_for(app, rule.endpoint).public:
                continue
            if rule.endpoint in ("catalogue.api_features", "catalogue.show_dataset"):
                continue  # the catalogue's own pages refuse personal datasets (tested there)
            url = placeholder_url(rule)
            url = url.replace("999999", str(event_id))
            response = client.get(url)
            kind = response.mimetype or ""
            if not (kind.startswith("text/") or "json" in kind or "xml" in kind):
                continue  # PDFs, tiles, icons: personal data is never printed (reports tests)
            text = unescape(response.get_data(as_text=True))
            leaked = [s for s in secrets if s in text]
            assert not leaked, (role, url, leaked[:2])


def test_pcs_routes_keep_their_rules(territory_app):
    """The write routes of the response refuse the roles that may not write (403)."""
    client = territory_app.test_client()
    client.login("exercise")
    for url in (
        "/events/1/callout/1",
        "/events/1/calls/DEMO-VUL-001",
        "/events/1/centres/DEMO-CARE-01/open",
        "/events/1/means/1",
        "/events/1/tasks",
        "/api/v1/events/1/calls/DEMO-VUL-001",
    ):
        assert client.post(url, json={}).status_code == 403, url


def test_call_status_after_expiry_by_page_form(drill):
    app, event_id = drill
    director = app.test_client()
    director.login("director")
    items = director.get(f"/api/v1/events/{event_id}/calls").get_json()["items"]
    app.config["CLOCK"].advance(minutes=90)
    r = director.post(
        f"/events/{event_id}/calls/{items[0]['person_id']}", data={"status": "evacue", "note": ""}
    )
    assert r.status_code == 302
    r = director.get(f"/api/v1/events/{event_id}/calls")
    assert {i["person_id"]: i["status"] for i in r.get_json()["items"]}[
        items[0]["person_id"]
    ] == "evacue"
    assert timedelta(minutes=90)
