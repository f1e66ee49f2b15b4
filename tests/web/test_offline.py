"""The offline tablet through the test client: idempotent writes, what may be kept, sign-out.

The browser side (service worker, queue, banner) is tested in tests/browser/test_offline.py.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask

from app.db import connect, scalar
from tests.conftest import T0
from tests.unit.test_access_support import JUSTIFICATION
from tests.web.test_events import declare

KEY = "5f0c8f7e-9a2b-4d4e-8f00-3b9e3c1d2a10"
MARK = "X-Offline"


def count(app: Flask, sql: str, params: Any = ()) -> int:
    db = connect(app.config["CRISIS_DB"])
    try:
        return int(scalar(db, sql, params) or 0)
    finally:
        db.conn.close()


@pytest.fixture
def event_id(app: Flask) -> int:
    return declare(app).id


# --- Idempotency-Key on the JSON API ---------------------------------------------------------


def test_same_key_twice_creates_one_entry_and_answers_it_both_times(
    app: Flask, client: Any, event_id: int
) -> None:
    client.login("liaison")
    body = {
        "category": "message reçu",
        "text": "Nuage vers Lillebonne",
        "fact_at": "2026-11-23T12:58:00Z",
    }
    url = f"/api/v1/events/{event_id}/log"
    first = client.post(url, json=body, headers={"Idempotency-Key": KEY})
    again = client.post(url, json=body, headers={"Idempotency-Key": KEY})
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    entry = first.get_json()
    assert (
        entry["fact_at"] == "2026-11-23T12:58:00Z"
        and entry["recorded_at"] == "2026-11-23T13:00:00Z"
    )
    assert count(app, "SELECT COUNT(*) FROM log_entries WHERE text = ?", [body["text"]]) == 1


def test_key_reused_with_another_body_is_refused_422(
    app: Flask, client: Any, event_id: int
) -> None:
    client.login("liaison")
    url = f"/api/v1/events/{event_id}/log"
    assert client.post(url, json={"text": "A"}, headers={"Idempotency-Key": KEY}).status_code == 201
    refused = client.post(url, json={"text": "B"}, headers={"Idempotency-Key": KEY})
    assert refused.status_code == 422
    error = refused.get_json()
    assert error["field"] == "Idempotency-Key" and "déjà servi" in error["error"]
    assert count(app, "SELECT COUNT(*) FROM log_entries WHERE text IN ('A', 'B')") == 1
    malformed = client.post(url, json={"text": "C"}, headers={"Idempotency-Key": "é" * 3})
    assert malformed.status_code == 400 and malformed.get_json()["field"] == "Idempotency-Key"


def test_keys_are_per_user(app: Flask, event_id: int) -> None:
    url = f"/api/v1/events/{event_id}/log"
    for login in ("liaison", "cell"):
        client = app.test_client()
        client.login(login)
        r = client.post(url, json={"text": "Même clé"}, headers={"Idempotency-Key": KEY})
        assert r.status_code == 201, r.get_json()
    assert count(app, "SELECT COUNT(*) FROM log_entries WHERE text = 'Même clé'") == 2


def test_checklist_tick_honours_the_key_and_the_fact_time(
    app: Flask, client: Any, event_id: int
) -> None:
    client.login("liaison")
    url = f"/api/v1/events/{event_id}/checklist/liaison-cod"
    body = {"note": "Arrivé au COD", "fact_at": "2026-11-23T13:00:00Z"}
    first = client.post(url, json=body, headers={"Idempotency-Key": KEY})
    assert first.status_code == 200, first.get_json()
    again = client.post(url, json=body, headers={"Idempotency-Key": KEY})
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert first.get_json()["done_at"] == "2026-11-23T13:00:00Z"
    # Without the key, ticking a done item is the usual conflict, named for the queue's list.
    conflict = client.post(url, json=body)
    assert conflict.status_code == 409 and conflict.get_json()["error"]
    other = client.post(url, json={"note": "autre"}, headers={"Idempotency-Key": KEY})
    assert other.status_code == 422


def test_closed_event_conflict_is_a_409_with_a_french_reason(
    app: Flask, client: Any, event_id: int
) -> None:
    director = app.test_client()
    director.login("director")
    closed = director.post(f"/events/{event_id}/close", data={"statement": "Fin de l'alerte"})
    assert closed.status_code == 302
    client.login("liaison")
    r = client.post(f"/api/v1/events/{event_id}/log", json={"text": "trop tard"},
                    headers={"Idempotency-Key": KEY})  # fmt: skip
    assert r.status_code == 409 and "clos" in r.get_json()["error"]


# --- manifest, service worker, session probe, sign-out -------------------------------------


def test_manifest_and_service_worker_at_the_root(app: Flask) -> None:
    client = app.test_client()  # signed out: both are public code
    with client.get("/sw.js") as sw:
        assert sw.status_code == 200 and sw.mimetype == "text/javascript"
        assert sw.headers["Service-Worker-Allowed"] == "/"
        assert b"X-Offline" in sw.get_data()
    manifest = client.get("/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.mimetype == "application/manifest+json"
    body = json.loads(manifest.data)
    assert body["scope"] == "/" and body["start_url"] == "/" and body["display"] == "standalone"
    assert body["lang"] == "fr"
    sizes = set()
    for icon in body["icons"]:
        with client.get(icon["src"]) as png:
            assert png.status_code == 200 and png.mimetype == "image/png"
            assert png.get_data().startswith(b"\x89PNG")
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes
    assert any(i["purpose"] == "maskable" for i in body["icons"])


def test_session_probe(app: Flask, client: Any, event_id: int) -> None:
    assert client.get("/api/v1/whoami").status_code == 401
    client.login("liaison")
    r = client.get("/api/v1/whoami")
    body = r.get_json()
    assert r.status_code == 200 and body["login"] == "liaison" and body["csrf_token"]
    assert body["server_time"] == "2026-11-23T13:00:00Z"
    assert MARK not in r.headers and r.headers["X-Situation-At"] == "2026-11-23T13:00:00Z"
    # The token it hands out is the one the queue's writes carry.
    write = client.post(
        f"/api/v1/events/{event_id}/log",
        json={"text": "par la file"},
        headers={"X-CSRFToken": body["csrf_token"], "Idempotency-Key": KEY},
    )
    assert write.status_code == 201
    refused = client.post(
        f"/api/v1/events/{event_id}/log", json={"text": "x"}, headers={"X-CSRFToken": "faux"}
    )
    assert refused.status_code == 400


def test_sign_out_clears_the_tablet(client: Any) -> None:
    client.login("liaison")
    r = client.post("/logout")
    assert r.status_code == 302
    assert r.headers["Clear-Site-Data"] == '"cache", "storage"'


# --- what a tablet may keep -----------------------------------------------------------------


class _Config(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.config: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id") == "offline-queue":
            self.config = json.loads(found["data-config"] or "{}")


def offline_config(html: str) -> dict[str, Any]:
    parser = _Config()
    parser.feed(html)
    assert parser.config is not None
    return parser.config


def test_liaison_page_is_marked_and_declares_its_queue(
    app: Flask, client: Any, event_id: int
) -> None:
    client.login("liaison")
    page = client.get(f"/events/{event_id}/liaison")
    assert page.status_code == 200 and page.headers[MARK] == "cache"
    config = offline_config(page.get_data(as_text=True))
    assert config["register"] is True and config["user"] == "liaison"
    assert config["at"] == T0.timestamp() * 1000  # the page's time, for the offline banner
    assert config["session"] == "/api/v1/whoami" and config["logout"] == "/logout"
    kinds = {r["kind"]: r for r in config["routes"]}
    assert kinds["log"]["form"] == f"/events/{event_id}/log"
    assert kinds["log"]["api"] == f"/api/v1/events/{event_id}/log"
    assert kinds["tick"]["api"] == f"/api/v1/events/{event_id}/checklist/"
    keys = [w["key"] for w in config["warm"]]
    assert f"/events/{event_id}/liaison" in keys and f"/events/{event_id}/impact" in keys
    # The dashboard, the log polls, the probe and the pages of other areas are never marked.
    for url in (f"/events/{event_id}", f"/events/{event_id}/log?since=0&compact=1", "/"):
        r = client.get(url)
        assert r.status_code == 200 and MARK not in r.headers, url
    # A page that is not the liaison view has the banner but no queue routes.
    other = offline_config(client.get(f"/events/{event_id}").get_data(as_text=True))
    assert "routes" not in other and "register" not in other


def test_fallback_page_holds_no_user_data(app: Flask, client: Any) -> None:
    client.login("liaison")
    r = client.get("/offline")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers[MARK] == "cache"
    assert "Sophie Bernard" not in html and "Se déconnecter" not in html
    assert offline_config(html)["user"] is None
    assert '"X-CSRFToken": ""' in html


# --- grant-opened data are never marked (territory) -----------------------------------------


@pytest.fixture
def gas_event(territory_app: Flask) -> tuple[Flask, int, Any]:
    event = declare(territory_app, title="Fuite toxique FICTIF Chimie")
    client = territory_app.test_client()
    client.login("liaison")
    r = client.post(
        f"/api/v1/events/{event.id}/grants",
        json={
            "dataset": "gas-network",
            "reason_code": "intervention_reseau",
            "justification": JUSTIFICATION,
            "duration_min": 60,
        },
    )
    assert r.status_code == 201 and r.get_json()["status"] == "active", r.get_json()
    return territory_app, event.id, client


def test_grant_opened_views_are_not_marked_and_name_their_unrestricted_copy(
    gas_event: tuple[Flask, int, Any],
) -> None:
    app, event_id, client = gas_event
    opened = client.get(f"/api/v1/events/{event_id}/datasets/gas-network/features")
    gas_ids = [f["id"] for f in opened.get_json()["features"]]
    assert gas_ids and MARK not in opened.headers
    for url in (f"/events/{event_id}/impact", f"/api/v1/events/{event_id}/map-features"):
        r = client.get(url, headers={"HX-Request": "true"})
        text = r.get_data(as_text=True)
        assert r.status_code == 200 and MARK not in r.headers, url
        assert "gas-network" in text or "Réseau" in text
        alternate = r.headers["X-Offline-Alternate"]
        assert alternate.startswith(url) and "unrestricted=1" in alternate
        reads = count(app, "SELECT COUNT(*) FROM audit_log WHERE action = 'data.read'")
        copy = client.get(alternate, headers={"HX-Request": "true"})
        kept = copy.get_data(as_text=True)
        assert copy.status_code == 200 and copy.headers[MARK] == "cache", url
        assert "DIFFUSION RESTREINTE" not in kept
        assert not any(fid in kept for fid in gas_ids)
        # The copy reads nothing restricted: no access record for the owner to review.
        assert count(app, "SELECT COUNT(*) FROM audit_log WHERE action = 'data.read'") == reads
    points = client.get(f"/api/v1/events/{event_id}/map-features?unrestricted=1").get_json()
    assert points["opened"] == [] and any(
        r["dataset"] == "gas-network" for r in points["restricted"]
    )
    # The liaison page itself shows no grant-opened data: marked. Zones and basemap too.
    for url in (
        f"/events/{event_id}/liaison",
        f"/api/v1/events/{event_id}/zones",
        "/api/v1/datasets/communes/features",
    ):
        r = client.get(url)
        assert r.status_code == 200 and r.headers[MARK] == "cache", url
    restricted = client.get(f"/api/v1/datasets/gas-network/features?event={event_id}")
    assert restricted.status_code == 200 and MARK not in restricted.headers


def test_only_unrestricted_reports_are_marked(territory_app: Flask) -> None:
    app = territory_app
    event_id = declare(app, title="Fuite toxique FICTIF Chimie").id
    director = app.test_client()
    director.login("director")
    assert director.post(f"/events/{event_id}/reports").status_code == 302  # no grant: plain
    cell = app.test_client()
    cell.login("cell")
    grant = cell.post(
        f"/api/v1/events/{event_id}/grants",
        json={
            "dataset": "gas-network",
            "reason_code": "intervention_reseau",
            "justification": JUSTIFICATION,
            "duration_min": 60,
        },
    )
    assert grant.status_code == 201
    assert cell.post(f"/events/{event_id}/reports").status_code == 302  # opens gas: restricted
    db = connect(app.config["CRISIS_DB"])
    try:
        found = db.execute(
            "SELECT id, classification FROM reports WHERE event_id = ? ORDER BY number", [event_id]
        ).fetchall()
    finally:
        db.conn.close()
    assert [c for _, c in found] == ["NON PROTÉGÉ", "DIFFUSION RESTREINTE"]
    liaison = app.test_client()
    liaison.login("liaison")
    plain, restricted = (liaison.get(f"/reports/{rid}.pdf") for rid, _ in found)
    assert plain.status_code == 200 and plain.headers[MARK] == "cache"
    assert restricted.status_code == 200 and MARK not in restricted.headers
    # The liaison view keeps no restricted report: the latest is restricted, nothing to warm.
    page = liaison.get(f"/events/{event_id}/liaison").get_data(as_text=True)
    assert not any(w["key"].startswith("/reports/") for w in offline_config(page)["warm"])


def test_favicon_is_served_to_everyone(app) -> None:
    """Guards item 9: `/favicon.ico` answered 404 (every browser asks for it)."""
    client = app.test_client()
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    client.login("cell")
    page = client.get("/").get_data(as_text=True)
    assert 'rel="icon" href="/favicon.ico"' in page
