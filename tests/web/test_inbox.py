"""The inbox through the web: the home block, the menu badge, the cheap poll (ETag / 304, not
activity), and the visible confirmation of approving and denying."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app import events
from app.db import connect, row, rows
from tests.conftest import T0, Client
from tests.unit.test_access_support import JUSTIFICATION, build_world, sign_gas


@pytest.fixture
def pending(app):
    """An open event and a request by the cell waiting for a second director."""
    db = connect(app.config["CRISIS_DB"])
    world = build_world(db, T0)
    sign_gas(db, T0, approval="second_person", roles=["cell", "director"])
    db.conn.close()
    cell: Client = app.test_client()
    cell.login("cell")
    r = cell.post(
        f"/api/v1/events/{world.event_id}/grants",
        json={
            "dataset": "gas-network",
            "reason_code": "intervention_reseau",
            "justification": JUSTIFICATION,
            "duration_min": 60,
        },
    )
    assert r.status_code == 201 and r.json["status"] == "pending"
    return world, r.json["id"]


def log_texts(app, event_id):
    db = connect(app.config["CRISIS_DB"])
    try:
        return [e.text for e in events.log_entries(db, event_id)]
    finally:
        db.conn.close()


def test_the_poll_answers_304_until_something_changes(app, client):
    client.login("director")
    first = client.get("/api/v1/inbox")
    assert first.status_code == 200 and first.json["count"] == 0
    tag = first.headers["ETag"]
    assert first.json["server_time"] == "2026-11-23T13:00:00Z"
    again = client.get("/api/v1/inbox", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.get_data() == b""
    # The badge of every page carries the same tag, so the first poll of a page costs nothing.
    assert f'data-etag="{tag.replace(chr(34), "&#34;")}"' in client.get("/").get_data(as_text=True)


def test_a_request_shows_on_the_approvers_home_and_badge(app, client, pending):
    world, gid = pending
    client.login("director")
    r = client.get("/api/v1/inbox")
    assert r.json["count"] == 1 and r.json["counts"]["approval"] == 1
    (item,) = r.json["items"]
    assert item["id"] == f"approval:{gid}" and item["url"] == f"/acces#grant-{gid}"
    assert item["until"] == (T0 + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    home = client.get("/").get_data(as_text=True)
    assert f'id="inbox-approval-{gid}"' in home and 'class="nav-badge"' in home
    assert "30 min 00 s" in home  # time left before it expires


def test_the_poll_is_not_activity(app, client, clock):
    client.login("cell")
    db = connect(app.config["CRISIS_DB"])
    try:
        seen = row(db, "SELECT last_seen_at FROM sessions ORDER BY id DESC LIMIT 1")["last_seen_at"]
        clock.advance(minutes=5)
        assert client.get("/api/v1/inbox").status_code == 200
        assert (
            row(db, "SELECT last_seen_at FROM sessions ORDER BY id DESC LIMIT 1")["last_seen_at"]
            == seen
        )
        client.get("/")
        assert (
            row(db, "SELECT last_seen_at FROM sessions ORDER BY id DESC LIMIT 1")["last_seen_at"]
            != seen
        )
    finally:
        db.conn.close()


def test_approving_from_home_confirms_after_the_redirect_and_logs_it(app, client, pending):
    world, gid = pending
    client.login("director")
    r = client.post(f"/acces/grants/{gid}/approve", data={"next": "/"})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    home = client.get("/").get_data(as_text=True)
    assert "Accès approuvé : Julien Lefebvre (démo) peut lire « Jeu gas-network »" in home
    assert "Accès approuvé" not in client.get("/").get_data(as_text=True)  # shown once
    assert any("approuvé par" in t for t in log_texts(app, world.event_id))


def test_denying_needs_a_reason_logged_in_the_main_courante_and_the_audit(app, client, pending):
    world, gid = pending
    client.login("director")
    for blank in ("", "."):
        r = client.post(f"/acces/grants/{gid}/deny", data={"reason": blank, "next": "/"})
        assert r.status_code == 302
        assert "Motif du refus obligatoire" in client.get("/").get_data(as_text=True)
    assert client.get("/api/v1/inbox").json["count"] == 1  # still waiting
    hx = {"HX-Request": "true"}
    r = client.post(f"/acces/grants/{gid}/deny", data={"reason": "Pas utile ici"}, headers=hx)
    assert r.status_code == 204
    trigger = json.loads(r.headers["HX-Trigger"])
    assert trigger["crisis-flash"]["level"] == "ok" and trigger["inbox-changed"] is True
    assert "Demande refusée" in trigger["crisis-flash"]["message"]
    assert any(t.endswith("Motif : Pas utile ici") for t in log_texts(app, world.event_id))
    db = connect(app.config["CRISIS_DB"])
    try:
        (denied,) = rows(db, "SELECT details FROM audit_log WHERE action = 'grant.denied'")
        assert json.loads(denied["details"])["reason"] == "Pas utile ici"
    finally:
        db.conn.close()
    assert client.get("/api/v1/inbox").json["count"] == 0


def test_the_inbox_page_and_its_fragment(app, client, pending):
    client.login("director")
    page = client.get("/a-traiter")
    assert page.status_code == 200 and "<h1>À traiter</h1>" in page.get_data(as_text=True)
    fragment = client.get("/a-traiter", headers={"HX-Request": "true", "HX-Current-URL": "/"})
    text = fragment.get_data(as_text=True)
    assert text.lstrip().startswith("{#") or text.lstrip().startswith("<section")
    assert 'name="next" value="/"' in text and "<html" not in text
