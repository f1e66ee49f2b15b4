"""Report pages: list, generate now, download with its SHA-256, printable log; access rules."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from app import auth, events
from app.db import connect
from app.playbooks import load_playbooks
from tests.conftest import PROJECT


@pytest.fixture
def event_id(app: Any) -> int:
    db = connect(app.config["CRISIS_DB"])
    try:
        found, _ = load_playbooks(PROJECT / "playbooks")
        director = auth.get_user_by_login(db, "director")
        assert director is not None
        event = events.declare(
            db,
            app.config["CLOCK"].now(),
            found["toxic-release"],
            actor=director,
            title="Fuite toxique — essai",
            params={"wind_from_deg": 240, "wind_speed_ms": 4},
            point=[0.548, 49.47],
            drill=True,
        )
        return event.id
    finally:
        db.conn.close()


def test_cell_generates_and_downloads_a_report(client: Any, event_id: int) -> None:
    client.login("cell")
    page = client.get(f"/events/{event_id}/reports")
    assert page.status_code == 200
    assert "Aucun point de situation" in page.get_data(as_text=True)
    response = client.post(f"/events/{event_id}/reports")
    assert response.status_code == 302
    html = client.get(f"/events/{event_id}/reports").get_data(as_text=True)
    assert "PS n°1" in html and "EXERCICE" in html
    download = client.get("/reports/1.pdf")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/pdf"
    digest = hashlib.sha256(download.data).hexdigest()
    assert download.headers["X-Content-SHA256"] == digest
    assert digest in html  # the hash a recipient checks a copy against


def test_each_manual_report_signs_a_checkpoint(app: Any, client: Any, event_id: int) -> None:
    client.login("cell")
    client.post(f"/events/{event_id}/reports")
    db = connect(app.config["CRISIS_DB"])
    try:
        reasons = [r[0] for r in db.execute("SELECT reason FROM audit_checkpoints")]
    finally:
        db.conn.close()
    assert reasons == [f"report:{event_id}:1"]


def test_htmx_generation_returns_the_fragment(client: Any, event_id: int) -> None:
    client.login("director")
    response = client.post(f"/events/{event_id}/reports", headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section class="card" id="report-list">')
    assert response.headers["HX-Trigger"] == "reports-changed"


def test_printable_log(client: Any, event_id: int) -> None:
    client.login("liaison")
    response = client.get(f"/events/{event_id}/log.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")


@pytest.mark.parametrize("login", ["admin", "steward"])
def test_admin_and_steward_read_no_report(client: Any, event_id: int, login: str) -> None:
    client.login("director")
    client.post(f"/events/{event_id}/reports")
    client.post("/logout")
    client.login(login)
    assert client.get(f"/events/{event_id}/reports").status_code == 403
    assert client.get("/reports/1.pdf").status_code == 403
    assert client.get(f"/events/{event_id}/log.pdf").status_code == 403


def test_liaison_reads_but_does_not_generate(client: Any, event_id: int) -> None:
    client.login("liaison")
    assert client.get(f"/events/{event_id}/reports").status_code == 200
    assert client.post(f"/events/{event_id}/reports").status_code == 403


def test_director_changes_cadence(client: Any, event_id: int) -> None:
    client.login("director")
    assert (
        client.post(f"/events/{event_id}/reports/cadence", data={"cadence": "15"}).status_code
        == 302
    )
    assert "toutes les 15 min" in client.get(f"/events/{event_id}/reports").get_data(as_text=True)
    bad = client.post(f"/events/{event_id}/reports/cadence", data={"cadence": "abc"})
    assert bad.status_code == 422


def test_unknown_report_is_404(client: Any, event_id: int) -> None:
    client.login("cell")
    assert client.get("/reports/999.pdf").status_code == 404
