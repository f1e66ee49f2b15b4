"""No back door through stored documents (issue 20): a situation report's body gives restricted
data as counts only; its restricted annex is downloaded only under a grant valid at that moment,
each download an access record the owner's review counts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from flask import Flask

from app import auth, messages
from app.clock import iso
from app.db import connect, scalar, transaction
from app.records import get_event
from tests.builders import declare_with_grant
from tests.messages_support import playbooks

GAS_ID = re.compile(r"DEMO-GAS-\d+")
ROLES = ("director", "cell", "liaison", "exercise")


def _client(app: Flask, login: str) -> Any:
    client = app.test_client()
    client.login(login)
    return client


def text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True)
    return out.stdout


def _gas_grant(client: Any, event_id: int) -> int:
    r = client.post(
        f"/api/v1/events/{event_id}/grants",
        json={
            "dataset": "gas-network",
            "reason_code": "intervention_reseau",
            "justification": "Repérer les conduites de gaz à couper dans la zone de confinement.",
            "duration_min": 60,
        },
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    return int(r.get_json()["id"])


def test_report_body_holds_counts_and_the_annex_follows_the_grant(
    territory_app: Flask, tmp_path: Path
) -> None:
    app = territory_app
    clock = app.config["CLOCK"]
    event_id = declare_with_grant(lambda: app.test_client(), holder="liaison")
    cell = _client(app, "cell")
    _gas_grant(cell, event_id)
    assert cell.post(f"/events/{event_id}/reports").status_code == 302
    db = connect(app.config["CRISIS_DB"])
    try:
        report_id = scalar(db, "SELECT id FROM reports WHERE event_id = ?", [event_id])
        held = json.loads(
            scalar(db, "SELECT holdings FROM report_annexes WHERE report_id = ?", [report_id])
        )
        classification = scalar(db, "SELECT classification FROM reports WHERE id = ?", [report_id])
    finally:
        db.conn.close()
    assert classification == "DIFFUSION RESTREINTE"  # the marking is unchanged
    ids = held["gas-network"]
    assert len(ids) > 10 and all(GAS_ID.fullmatch(i) for i in ids)

    # While the liaison holds a grant, the annex is theirs to download, and it is a read.
    liaison = _client(app, "liaison")
    annex = liaison.get(f"/reports/{report_id}/annexe.pdf")
    assert annex.status_code == 200 and annex.data.startswith(b"%PDF")
    annex_text = text_of(annex.data, tmp_path)
    assert ids[0] in annex_text and "Annexe restreinte" in annex_text
    assert "DIFFUSION RESTREINTE" in annex_text
    steward = _client(app, "steward")
    review = steward.get(f"/api/v1/events/{event_id}/review?org=grdf").get_json()
    downloads = [
        r
        for g in review["grants"]
        for r in g["reads"]
        if r["purpose"] == "annex" and r["user"]["login"] == "liaison"
    ]
    assert len(downloads) == 1 and downloads[0]["ids"] == ids
    assert review["summary"]["annex_downloads"] == 1
    assert "X-Offline" not in annex.headers  # a tablet never keeps it
    # A printed map extract during the grant draws the opened layer and is a recorded read.
    extract = liaison.get(f"/events/{event_id}/extract.pdf")
    assert extract.status_code == 200 and "(restreint)" in text_of(extract.data, tmp_path)
    review = steward.get(f"/api/v1/events/{event_id}/review?org=grdf").get_json()
    assert any(r["purpose"] == "export" for g in review["grants"] for r in g["reads"])

    # The grants end (the event goes on): nobody downloads the annex, everybody the body.
    clock.advance(minutes=61)
    for login in ROLES:
        client = _client(app, login)
        body = client.get(f"/reports/{report_id}.pdf")
        assert body.status_code == 200, login
        text = text_of(body.data, tmp_path)
        assert not GAS_ID.search(text), login
        assert "annexe restreinte" in text
        refused = client.get(f"/reports/{report_id}/annexe.pdf")
        assert refused.status_code == 403, login
        assert "accès valide" in refused.get_data(as_text=True)
        # Map extracts are drawn at each download from the reader's grants: none now.
        extract = client.get(f"/events/{event_id}/extract.pdf")
        assert extract.status_code == 200 and "(restreint)" not in text_of(extract.data, tmp_path)
    db = connect(app.config["CRISIS_DB"])
    try:
        denied = scalar(
            db,
            "SELECT count(*) FROM audit_log WHERE action = 'data.denied'"
            " AND json_extract(details, '$.purpose') = 'annex'",
        )
    finally:
        db.conn.close()
    assert denied == len(ROLES)
    # A message to partners attaches the body, never the annex.
    db = connect(app.config["CRISIS_DB"])
    try:
        director = auth.get_user_by_login(db, "director")
        event = get_event(db, event_id)
        assert event is not None
        m = messages.draft(
            db, clock.now(), event_id, playbooks()[event.kind], kind="report",
            template="point-de-situation", actor=director, report_id=report_id,
        )  # fmt: skip
        media, _name, attached = messages.preview(db, clock.now(), m.id)
    finally:
        db.conn.close()
    assert media == "application/pdf" and not GAS_ID.search(text_of(attached, tmp_path))


def test_a_report_stored_before_the_annex_is_served_under_the_annex_rule(
    territory_app: Flask, tmp_path: Path
) -> None:
    """A body that still holds restricted detail (made before the split) is no back door."""
    app = territory_app
    clock = app.config["CLOCK"]
    event_id = declare_with_grant(lambda: app.test_client(), holder="cell")
    cell = _client(app, "cell")
    assert cell.post(f"/events/{event_id}/reports").status_code == 302
    db = connect(app.config["CRISIS_DB"])
    try:
        report_id = scalar(db, "SELECT id FROM reports WHERE event_id = ?", [event_id])
        # As an older console stored it: no annex row (the table refuses deletes, so rebuild).
        with transaction(db):
            db.execute("DROP TRIGGER report_annexes_no_delete")
            db.execute("DELETE FROM report_annexes WHERE report_id = ?", [report_id])
    finally:
        db.conn.close()
    assert cell.get(f"/reports/{report_id}.pdf").status_code == 200  # grant valid: a read
    clock.advance(minutes=61)
    for login in ROLES:
        assert _client(app, login).get(f"/reports/{report_id}.pdf").status_code == 403, login
    assert iso(clock.now())
