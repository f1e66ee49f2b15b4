"""IDOR: other people's agreements, reviews, notifications, grants, reports and data, by id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from app import access
from app.db import scalar
from tests.conftest import T0, Client
from tests.unit import test_access_support as support

from .conftest import audit_length, enrol


def _client(app: Flask, login: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(login)
    return client


@pytest.fixture
def grant(sdb: Any, world: support.World) -> access.Grant:
    """cell's live grant on GRDF's gas network (no approval: GRDF is notified)."""
    return access.request_grant(
        sdb,
        T0,
        support.user(sdb, "cell"),
        world.event_id,
        "gas-network",
        reason_code="intervention_reseau",
        justification=support.JUSTIFICATION,
        duration_min=60,
    )


def test_a_steward_cannot_edit_or_withdraw_another_orgs_agreement(
    app: Flask, sdb: Any, world: support.World
) -> None:
    ccas = scalar(
        sdb,
        "SELECT id FROM agreements WHERE dataset_id ="
        " (SELECT id FROM datasets WHERE slug = 'vulnerable-persons')",
    )
    grdf = _client(app, "steward")
    before = audit_length(sdb)
    assert grdf.get(f"/acces/conventions/{ccas}/edit").status_code == 403
    assert grdf.post(f"/acces/conventions/{ccas}/withdraw").status_code == 403
    r = grdf.post(f"/acces/conventions/{ccas}", data={"roles": "cell", "approval": "none"})
    assert r.status_code == 403
    r = grdf.post("/acces/conventions", data={"dataset": "vulnerable-persons", "roles": "cell"})
    assert r.status_code == 403
    assert grdf.get("/acces/conventions/new?dataset=vulnerable-persons").status_code == 403
    assert audit_length(sdb) == before
    assert scalar(sdb, "SELECT withdrawn_at FROM agreements WHERE id = ?", [ccas]) is None


def test_a_steward_cannot_read_another_orgs_review(
    app: Flask, world: support.World, grant: access.Grant
) -> None:
    ccas = _client(app, "steward-ccas")
    eid = world.event_id
    for url in (
        f"/acces/revue?org=grdf&event={eid}",
        f"/acces/revue.pdf?org=grdf&event={eid}",
        "/acces/revue?org=grdf",
    ):
        assert ccas.get(url).status_code == 403, url
    assert _client(app, "steward").get(f"/acces/revue.pdf?event={eid}").status_code == 200
    assert _client(app, "director").get(f"/acces/revue?org=grdf&event={eid}").status_code == 200
    for role in ("cell", "liaison", "admin"):
        assert _client(app, role).get(f"/acces/revue.pdf?org=grdf&event={eid}").status_code == 403


def test_a_steward_cannot_read_or_mark_another_orgs_notifications(
    app: Flask, sdb: Any, grant: access.Grant
) -> None:
    note = scalar(
        sdb,
        "SELECT id FROM notifications WHERE org_id ="
        " (SELECT id FROM organisations WHERE slug = 'grdf')",
    )
    assert note is not None
    ccas = _client(app, "steward-ccas")
    assert "Jeu gas-network" not in ccas.get("/acces").get_data(as_text=True)
    before = audit_length(sdb)
    ccas.post(f"/acces/notifications/{note}/read")
    assert scalar(sdb, "SELECT read_at FROM notifications WHERE id = ?", [note]) is None
    assert audit_length(sdb) == before
    grdf = _client(app, "steward")
    grdf.post(f"/acces/notifications/{note}/read")
    assert scalar(sdb, "SELECT read_at FROM notifications WHERE id = ?", [note]) is not None


@pytest.mark.parametrize("login", ["liaison", "steward-ccas", "exercise"])
def test_others_cannot_revoke_a_grant_page_or_api(
    app: Flask, sdb: Any, grant: access.Grant, login: str
) -> None:
    client = _client(app, login)
    before = audit_length(sdb)
    assert client.post(f"/acces/grants/{grant.id}/revoke").status_code == 403
    assert client.post(f"/api/v1/grants/{grant.id}/revoke", json={}).status_code == 403
    assert audit_length(sdb) == before
    assert scalar(sdb, "SELECT status FROM grants WHERE id = ?", [grant.id]) == "active"


@pytest.mark.parametrize("login", ["steward", "director", "cell"])
def test_holder_director_and_owner_steward_may_revoke(
    app: Flask, sdb: Any, grant: access.Grant, login: str
) -> None:
    r = _client(app, login).post(f"/api/v1/grants/{grant.id}/revoke", json={"reason": "fin"})
    assert r.status_code == 200, r.get_json()
    assert scalar(sdb, "SELECT status FROM grants WHERE id = ?", [grant.id]) == "revoked"


def test_revoke_does_not_redirect_off_site(app: Flask, grant: access.Grant) -> None:
    r = _client(app, "cell").post(
        f"/acces/grants/{grant.id}/revoke", data={"next": "https://evil.example/phish"}
    )
    assert r.status_code == 302
    assert not r.headers["Location"].startswith(("http", "//")), r.headers["Location"]
    r2 = _client(app, "director").post(
        f"/acces/grants/{grant.id}/revoke", data={"next": "//evil.example/"}
    )
    assert "evil.example" not in r2.headers.get("Location", "")


def test_self_approval_and_non_director_approval_are_refused(
    app: Flask, sdb: Any, world: support.World
) -> None:
    totp = enrol(sdb, "director")
    pending = access.request_grant(
        sdb,
        T0,
        support.user(sdb, "director"),
        world.event_id,
        "vulnerable-persons",
        reason_code="secours_personnes",
        justification=support.JUSTIFICATION,
        duration_min=60,
        totp=totp.at(T0),
    )
    assert pending.status == "pending"
    director, cell, ccas = (_client(app, x) for x in ("director", "cell", "steward-ccas"))
    before = audit_length(sdb)
    assert director.post(f"/api/v1/grants/{pending.id}/approve").status_code == 403
    assert director.post(f"/acces/grants/{pending.id}/approve").status_code == 403
    assert cell.post(f"/api/v1/grants/{pending.id}/approve").status_code == 403
    assert ccas.post(f"/acces/grants/{pending.id}/approve").status_code == 403
    assert audit_length(sdb) == before
    ok = _client(app, "director2").post(f"/api/v1/grants/{pending.id}/approve")
    assert ok.status_code == 200 and ok.get_json()["status"] == "active"


def test_grant_list_api_shows_only_ones_own(app: Flask, grant: access.Grant) -> None:
    assert [g["id"] for g in _client(app, "cell").get("/api/v1/grants").get_json()["grants"]] == [
        grant.id
    ]
    for login in ("liaison", "director", "steward"):
        assert _client(app, login).get("/api/v1/grants").get_json()["grants"] == []


def test_restricted_features_need_ones_own_grant(
    app: Flask, world: support.World, grant: access.Grant
) -> None:
    eid = world.event_id
    cell = _client(app, "cell")
    assert cell.get(f"/api/v1/events/{eid}/datasets/gas-network/features").status_code == 200
    for login in ("liaison", "director", "exercise"):
        other = _client(app, login)
        r = other.get(f"/api/v1/events/{eid}/datasets/gas-network/features")
        assert r.status_code == 403 and support.MARKER not in r.get_data(as_text=True)
        assert other.get(f"/events/{eid}/datasets/gas-network").status_code == 403
        r = other.get(f"/api/v1/datasets/gas-network/features?event={eid}")
        assert r.status_code == 403
    for login in ("steward", "admin"):
        assert _client(app, login).get(f"/events/{eid}/datasets/gas-network").status_code == 403
    assert cell.get("/api/v1/datasets/gas-network/features").status_code == 403
    assert cell.get("/catalogue/gas-network/export.geojson").status_code == 403


def test_reports_and_log_pdfs_are_not_for_stewards_or_admin(
    app: Flask, world: support.World
) -> None:
    eid = world.event_id
    cell = _client(app, "cell")
    assert cell.post(f"/events/{eid}/reports").status_code == 302
    assert cell.get("/reports/1.pdf").status_code == 200
    for login in ("steward", "admin"):
        client = _client(app, login)
        assert client.get("/reports/1.pdf").status_code == 403
        assert client.get(f"/events/{eid}/log.pdf").status_code == 403
        assert client.get(f"/api/v1/events/{eid}").status_code == 403
        assert client.get(f"/events/{eid}/extract.pdf").status_code == 403


def test_sequential_ids_beyond_the_last_give_404_not_500(
    app: Flask, world: support.World, grant: access.Grant
) -> None:
    cell = _client(app, "cell")
    for n in range(grant.id + 1, grant.id + 4):
        assert cell.get(f"/reports/{n}.pdf").status_code == 404
        assert cell.post(f"/api/v1/grants/{n}/revoke", json={}).status_code == 404
        assert cell.get(f"/api/v1/events/{world.drill_id + n}").status_code == 404
    # A steward probing event ids learns nothing: every id, real or not, is refused alike.
    steward = _client(app, "steward")
    assert {steward.get(f"/api/v1/events/{i}").status_code for i in (1, 2, 999)} == {403}


# --- the owner's side (issue 20) ------------------------------------------------------------


def test_a_steward_cannot_sign_or_read_another_orgs_review(
    app: Flask, sdb: Any, world: support.World, grant: access.Grant
) -> None:
    eid = world.event_id
    ccas = _client(app, "steward-ccas")
    before = audit_length(sdb)
    assert ccas.get(f"/api/v1/events/{eid}/review?org=grdf").status_code == 403
    r = ccas.post(f"/api/v1/events/{eid}/review?org=grdf", json={"verdict": "conforme"})
    assert r.status_code == 403 and r.get_json()["error"]
    r = ccas.post("/acces/revue/verdict", data={"org": "grdf", "event": eid, "verdict": "conforme"})
    assert r.status_code == 403
    assert audit_length(sdb) == before
    assert scalar(sdb, "SELECT count(*) FROM review_verdicts") == 0


def test_only_a_director_answers_a_contest_and_only_once(
    app: Flask, sdb: Any, world: support.World, grant: access.Grant
) -> None:
    steward = _client(app, "steward")
    made = steward.post(
        f"/api/v1/events/{world.event_id}/review",
        json={"verdict": "contestee", "comment": f"Accès n° {grant.id} : lecture injustifiée."},
    )
    assert made.status_code == 201
    vid = made.get_json()["id"]
    answer = {"answer": "Intervention sur la conduite rue Victor Hugo, vérifiée."}
    for login in ("steward", "cell", "liaison", "admin"):
        client = _client(app, login)
        before = audit_length(sdb)
        r = client.post(f"/acces/revue/verdicts/{vid}/reponse", data=answer)
        assert r.status_code == 403, login
        assert audit_length(sdb) == before
    director = _client(app, "director")
    assert director.post(f"/acces/revue/verdicts/{vid + 1}/reponse", data=answer).status_code == 404
    assert director.post(f"/acces/revue/verdicts/{vid}/reponse", data=answer).status_code == 302
    again = _client(app, "director2").post(f"/acces/revue/verdicts/{vid}/reponse", data=answer)
    assert again.status_code == 409
    assert scalar(sdb, "SELECT count(*) FROM review_answers") == 1


def test_one_cannot_mark_someone_elses_notification(
    app: Flask, sdb: Any, world: support.World, grant: access.Grant
) -> None:
    access.remind(sdb, T0 + timedelta(minutes=50))  # warns the holder (cell) of the grant's end
    note = scalar(sdb, "SELECT id FROM notifications WHERE kind = 'grant_expiring'")
    assert note is not None
    for login in ("liaison", "director", "steward"):
        client = _client(app, login)
        before = audit_length(sdb)
        client.post(f"/acces/mes-notifications/{note}/read")
        assert scalar(sdb, "SELECT read_at FROM notifications WHERE id = ?", [note]) is None
        assert audit_length(sdb) == before
    cell = _client(app, "cell")
    cell.post(f"/acces/mes-notifications/{note}/read")
    assert scalar(sdb, "SELECT read_at FROM notifications WHERE id = ?", [note]) is not None


def test_a_reports_annex_needs_ones_own_valid_grant(
    app: Flask, sdb: Any, world: support.World, grant: access.Grant
) -> None:
    cell = _client(app, "cell")  # holds the gas grant: the report opens it
    assert cell.post(f"/events/{world.event_id}/reports").status_code == 302
    rid = scalar(sdb, "SELECT report_id FROM report_annexes")
    assert rid is not None
    for login in ("liaison", "director", "exercise"):
        client = _client(app, login)
        before = audit_length(sdb)
        r = client.get(f"/reports/{rid}/annexe.pdf")
        assert r.status_code == 403, login
        assert not scalar(
            sdb,
            "SELECT count(*) FROM audit_log WHERE seq > ? AND action = 'data.read'",
            [before],
        )
    for login in ("steward", "admin"):
        assert _client(app, login).get(f"/reports/{rid}/annexe.pdf").status_code == 403
    assert cell.get(f"/reports/{rid}/annexe.pdf").status_code == 200
    assert _client(app, "cell").get(f"/reports/{rid + 1}/annexe.pdf").status_code == 404
