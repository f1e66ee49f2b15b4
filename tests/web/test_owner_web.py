"""The owner's side over HTTP (issue 20): the review's JSON and its content hash, verdicts by
the API and the page, the director's answer, the steward's dashboard, what waits for a person,
the versions of an agreement, the review date in the agreement form."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from app import access
from app.db import connect, scalar
from tests.conftest import T0, Client
from tests.unit.test_access_support import JUSTIFICATION, build_world, close_event, sign_gas, user


@pytest.fixture
def world(app: Flask) -> Any:
    db = connect(app.config["CRISIS_DB"])
    try:
        found = build_world(db, T0)
        sign_gas(db, T0)
        g = access.request_grant(
            db, T0, user(db, "liaison"), found.event_id, "gas-network",
            reason_code="intervention_reseau", justification=JUSTIFICATION, duration_min=60,
        )  # fmt: skip
        access.read_features(db, T0, user(db, "liaison"), found.event_id, "gas-network", "view",
                             "req-1")  # fmt: skip
        close_event(db, T0 + timedelta(minutes=30), found.event_id)
        found.grant_id = g.id  # type: ignore[attr-defined]
    finally:
        db.conn.close()
    return found


def _client(app: Flask, login: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(login)
    return client


def canonical_hash(doc: dict[str, Any]) -> str:
    """What docs/owner-review.md tells an owner to do, written independently of the console."""
    content = {
        k: v
        for k, v in doc.items()
        if k not in ("content_sha256", "verdict", "generated_at", "audit_head", "checkpoint")
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_review_json_for_the_owner(app: Flask, world: Any) -> None:
    steward = _client(app, "steward")
    r = steward.get(f"/api/v1/events/{world.event_id}/review?org=grdf")
    assert r.status_code == 200, r.get_data(as_text=True)
    doc = r.get_json()
    assert {"grants", "summary", "content_sha256", "audit_seqs", "verdict"} <= set(doc)
    assert doc["verdict"] is None
    assert [g["id"] for g in doc["grants"]] == [world.grant_id]
    reads = doc["grants"][0]["reads"]
    assert reads[0]["usage"] == "consultation de la liste" and reads[0]["request_id"] == "req-1"
    assert doc["grants"][0]["holder"]["name"] == "Sophie Bernard (démo)"
    assert doc["grants"][0]["state"] == "révoqué à la clôture de l'événement"
    assert canonical_hash(doc) == doc["content_sha256"]
    db = connect(app.config["CRISIS_DB"])
    try:
        records = scalar(
            db,
            "SELECT count(*) FROM audit_log WHERE action = 'data.read' AND event_id = ?"
            " AND json_extract(details, '$.dataset') IN ('gas-network')",
            [world.event_id],
        )
        seqs = [
            s
            for (s,) in db.execute(
                "SELECT seq FROM audit_log WHERE event_id = ?"
                " AND json_extract(details, '$.dataset') = 'gas-network' ORDER BY seq",
                [world.event_id],
            )
        ]
    finally:
        db.conn.close()
    assert doc["summary"]["reads"] == records == sum(len(g["reads"]) for g in doc["grants"])
    assert doc["audit_seqs"] == seqs
    # The same review again: the same hash (the moment of reading is not hashed).
    again = steward.get(f"/api/v1/events/{world.event_id}/review").get_json()
    assert again["content_sha256"] == doc["content_sha256"]
    # A director reads any organisation's review; nobody else.
    assert _client(app, "director").get(
        f"/api/v1/events/{world.event_id}/review?org=grdf"
    ).status_code == 200  # fmt: skip
    other = _client(app, "steward-ccas").get(f"/api/v1/events/{world.event_id}/review?org=grdf")
    assert other.status_code == 403 and "organisation" in other.get_json()["error"]
    for login in ("cell", "liaison", "admin"):
        got = _client(app, login).get(f"/api/v1/events/{world.event_id}/review?org=grdf")
        assert got.status_code == 403, login


def test_review_verdict_by_the_api(app: Flask, world: Any) -> None:
    url = f"/api/v1/events/{world.event_id}/review?org=grdf"
    steward = _client(app, "steward")
    assert steward.post(url, data="x", content_type="text/plain").status_code == 400
    bad = steward.post(url, json={"verdict": "ok", "comment": ""})
    assert bad.status_code == 422 and "Verdict attendu" in bad.get_json()["error"]
    vague = steward.post(url, json={"verdict": "contestee", "comment": "Pas justifié du tout."})
    assert vague.status_code == 422 and "désigner" in vague.get_json()["error"]
    for login in ("director", "steward-ccas", "cell"):
        refused = _client(app, login).post(url, json={"verdict": "conforme", "comment": ""})
        assert refused.status_code == 403, login
        assert refused.get_json()["error"][0].isupper()  # a French sentence, not a code
    made = steward.post(
        url,
        json={
            "verdict": "contestee",
            "comment": f"L'accès n° {world.grant_id} a duré après la coupure du réseau.",
        },
    )
    assert made.status_code == 201, made.get_json()
    v = made.get_json()
    assert v["verdict"] == "contestee" and v["label"] == "contestée" and v["matches_content"]
    doc = steward.get(url).get_json()
    assert (
        doc["verdict"]["id"] == v["id"]
        and doc["verdict"]["content_sha256"] == doc["content_sha256"]
    )
    # On the director's home block until a director answers on the review page.
    director = _client(app, "director")
    block = director.get("/a-traiter", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "GRDF conteste la revue des accès" in block and "inbox-contested" in block
    assert "conteste la revue" in director.get("/").get_data(as_text=True)  # the home page
    inbox = director.get("/api/v1/inbox").get_json()
    contested = [i for i in inbox["items"] if i["kind"] == "contested"]
    assert len(contested) == 1 and contested[0]["url"].endswith("#review-verdict")
    short = director.post(f"/acces/revue/verdicts/{v['id']}/reponse", data={"answer": "Vu."})
    assert short.status_code == 422 and "au moins" in short.get_data(as_text=True)
    ok = director.post(
        f"/acces/revue/verdicts/{v['id']}/reponse",
        data={"answer": "Le réseau a été coupé à 14 h 20 : l'accès a été révoqué à la clôture."},
    )
    assert ok.status_code == 302
    assert "conteste la revue" not in director.get("/a-traiter").get_data(as_text=True)
    page = steward.get(f"/acces/revue?event={world.event_id}").get_data(as_text=True)
    assert "Le réseau a été coupé à 14 h 20" in page
    notes = steward.get("/acces").get_data(as_text=True)
    assert "a répondu à votre contestation" in notes


def test_review_page_verdict_form(app: Flask, world: Any) -> None:
    steward = _client(app, "steward")
    page = steward.get(f"/acces/revue?event={world.event_id}").get_data(as_text=True)
    assert 'id="review-verdict-form"' in page and "Pas encore de verdict" in page
    assert "Sophie Bernard (démo)" in page and "Officier de liaison préfecture" in page
    refused = steward.post(
        "/acces/revue/verdict",
        data={"org": "grdf", "event": world.event_id, "verdict": "contestee", "comment": ""},
    )
    assert refused.status_code == 422 and "au moins" in refused.get_data(as_text=True)
    ok = steward.post(
        "/acces/revue/verdict",
        data={"org": "grdf", "event": world.event_id, "verdict": "conforme", "comment": ""},
    )
    assert ok.status_code == 302
    page = steward.get(f"/acces/revue?event={world.event_id}").get_data(as_text=True)
    assert "Verdict : conforme" in page
    # The PDF states the verdict.
    pdf = steward.get(f"/acces/revue.pdf?event={world.event_id}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    # Directors see the review, not the form.
    page = _client(app, "director").get(f"/acces/revue?org=grdf&event={world.event_id}")
    assert 'id="review-verdict-form"' not in page.get_data(as_text=True)


def test_steward_dashboard_and_overdue_flag(app: Flask, world: Any) -> None:
    steward = _client(app, "steward")
    home = steward.get("/").get_data(as_text=True)
    assert 'hx-get="/acces/proprietaire"' in home
    board = steward.get("/acces/proprietaire", headers={"HX-Request": "true"})
    text = board.get_data(as_text=True)
    assert board.status_code == 200 and 'id="owner-dashboard"' in text
    assert "Événement toxic-release" in text and "à signer" in text
    assert "gas-network-1, version 1" in text and "en vigueur" in text
    clock = app.config["CLOCK"]
    clock.set(T0 + timedelta(days=20))
    steward = _client(app, "steward")  # a new shift: the old session has ended
    assert "délai dépassé" in steward.get("/acces/proprietaire").get_data(as_text=True)
    db = connect(app.config["CRISIS_DB"])
    try:
        access.remind(db, clock.now(), access.ReminderPolicy(review_delay=timedelta(days=14)))
    finally:
        db.conn.close()
    director = _client(app, "director").get("/a-traiter").get_data(as_text=True)
    assert "Revue propriétaire non signée" in director and "inbox-personal" in director
    # The owner's stewards have it in their inbox too (an organisation notification).
    assert "pas signée après 14 jours" in steward.get("/a-traiter").get_data(as_text=True)
    for login in ("cell", "liaison", "director", "admin"):
        assert _client(app, login).get("/acces/proprietaire").status_code == 403


def test_agreement_review_date_in_the_form_and_versions(app: Flask, world: Any) -> None:
    steward = _client(app, "steward")
    db = connect(app.config["CRISIS_DB"])
    try:
        a = access.list_agreements(db, dataset_slug="gas-network")[0]
    finally:
        db.conn.close()
    form = steward.get(f"/acces/conventions/{a.id}/edit").get_data(as_text=True)
    assert 'name="review_at"' in form and 'name="on_lapse"' in form
    data = {
        "roles": ["liaison", "cell"],
        "event_kinds": "toxic-release, gas-pipeline-leak",
        "max_duration_min": "60",
        "approval": "none",
        "scope": "zone",
        "margin_m": "0",
        "fields": "pressure, diameter_mm, material",
        "review_at": "2020-01-01",
        "on_lapse": "stop",
    }
    bad = steward.post(f"/acces/conventions/{a.id}", data=data)
    assert bad.status_code == 422 and "date de revue" in bad.get_data(as_text=True)
    data["review_at"] = "2027-03-01"
    assert steward.post(f"/acces/conventions/{a.id}", data=data).status_code == 302
    page = steward.get(f"/acces/conventions/{a.id}/versions").get_data(as_text=True)
    assert "Version 2" in page and "Ce qui a changé par rapport à la version 1" in page
    assert "120 min" in page and "60 min" in page and "01/03/2027" in page
    listing = steward.get("/acces/conventions").get_data(as_text=True)
    assert "01/03/2027" in listing and "n&#39;ouvre plus de nouvel accès" in listing
    assert _client(app, "cell").get(f"/acces/conventions/{a.id}/versions").status_code == 200
    assert _client(app, "admin").get(f"/acces/conventions/{a.id}/versions").status_code == 403
