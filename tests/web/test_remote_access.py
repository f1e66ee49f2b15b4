"""Acceptance (issue 15, item 3): a liaison's grant on a dataset kept by its owner reads the
zone live from the owner's pygeoapi; with pygeoapi stopped it reads the synced copy with its age
shown; both reads are in the audit log with their source."""

from __future__ import annotations

import json

import pytest

from app import scheduler
from app.db import connect, rows
from app.remote import spec, sync
from tests.conftest import T0
from tests.owner_server import Pygeoapi, demo_features, write_gpkg
from tests.unit.test_access_support import JUSTIFICATION, add_event

GAS = "gas-network"


@pytest.fixture
def owner(tmp_path):
    write_gpkg(tmp_path / "grdf.gpkg", "reseau_gaz", "LineString", demo_features(GAS))
    server = Pygeoapi(tmp_path, tmp_path / "grdf.gpkg", "reseau-gaz", "reseau_gaz", "id")
    yield server.start()
    server.stop()


def test_liaison_reads_live_then_the_copy_when_the_owner_is_down(
    territory_app, tmp_path, owner, monkeypatch
):
    creds = tmp_path / "remote-credentials.yaml"
    creds.write_text("grdf: {bearer: jeton-grdf}\n")
    creds.chmod(0o600)
    monkeypatch.setattr(spec, "_default", spec.Credentials(creds))
    clock = territory_app.config["CLOCK"]
    db = connect(territory_app.config["CRISIS_DB"])
    block = {"kind": "ogcapi", "url": owner.url, "collection": "reseau-gaz", "credentials": "grdf"}
    sync.register(db, T0, GAS, spec.parse_remote({"slug": GAS, "remote": block}), "test")
    # The scheduler's sweep makes the copy (the source is due as soon as it is declared).
    result = scheduler.run_sweeps(db, T0, scheduler.Settings(remote_credentials=str(creds)))
    assert result.ok and [o.ok for o in result.results["remote_sync"]] == [True]
    event_id = add_event(db, T0, lon=0.4585, lat=49.5735)
    db.conn.close()

    client = territory_app.test_client()
    client.login("liaison")
    r = client.post(
        f"/api/v1/events/{event_id}/grants",
        json={
            "dataset": GAS,
            "reason_code": "intervention_reseau",
            "justification": JUSTIFICATION,
            "duration_min": 120,
        },
    )
    assert r.status_code == 201, r.json
    grant_id = r.json["id"]

    page = client.get(f"/events/{event_id}/datasets/{GAS}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "lecture en direct du serveur de GRDF à 14:00" in text
    api = client.get(f"/api/v1/events/{event_id}/datasets/{GAS}/features").json
    assert api["source"]["kind"] == "live"
    live_ids = [f["id"] for f in api["features"]]
    assert live_ids and all(i in text for i in live_ids[:5])

    owner.stop()
    clock.advance(hours=1, minutes=20)
    page = client.get(f"/events/{event_id}/datasets/{GAS}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert (
        "copie du 23/11 à 14:00 (il y a 1 h 20) — le serveur du gestionnaire ne répond pas" in text
    )
    api = client.get(f"/api/v1/events/{event_id}/datasets/{GAS}/features").json
    assert api["source"]["kind"] == "copy" and api["source"]["copy_at"] == "2026-11-23T13:00:00Z"
    assert sorted(f["id"] for f in api["features"]) == sorted(live_ids)

    db = connect(territory_app.config["CRISIS_DB"])
    reads = [
        json.loads(r["details"])
        for r in rows(db, "SELECT details FROM audit_log WHERE action = 'data.read' ORDER BY seq")
    ]
    db.conn.close()
    assert [(d["grant"], d["purpose"], d["source"]) for d in reads] == [
        (grant_id, "view", "live"),
        (grant_id, "api", "live"),
        (grant_id, "view", "copy"),
        (grant_id, "api", "copy"),
    ]
    assert reads[2]["copy_at"] == "2026-11-23T13:00:00Z"
    assert reads[2]["live_error"] == "le serveur du gestionnaire ne répond pas"

    # The dataset page shows the last good copy and its age.
    client.login("steward")
    page = client.get(f"/catalogue/{GAS}").get_data(as_text=True)
    assert "Serveur du gestionnaire" in page and "reseau-gaz" in page
    assert "23/11/2026 14:00 (il y a 1 h 20)" in page
    # The owner's review names the source of each read next to the grant id its server saw.
    review = client.get(f"/acces/revue?event={event_id}").get_data(as_text=True)
    assert "lu en direct chez le gestionnaire" in review and "copie du 23/11/2026 14:00" in review
