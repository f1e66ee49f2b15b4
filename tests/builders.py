"""Builders shared by tests of several areas (kept out of the test modules that use them)."""

from __future__ import annotations

from typing import Any


def declare_with_grant(client_factory: Any, holder: str = "liaison", drill: bool = False) -> int:
    """A toxic release on the fictitious plant declared by the director, ``holder`` holding a
    break-glass grant on the gas network (a role the demo agreements allow)."""
    director = client_factory()
    director.login("director")
    r = director.post(
        "/api/v1/events",
        json={
            "playbook": "toxic-release",
            "title": "Fuite d'ammoniac — FICTIF Chimie de l'Estuaire",
            "site": "FICTIF-1",
            "params": {"wind_from_deg": 240, "wind_speed_ms": 4},
            "drill": drill,
        },
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    event_id = r.get_json()["id"]
    grantee = client_factory()
    grantee.login(holder)
    g = grantee.post(
        f"/api/v1/events/{event_id}/grants",
        json={
            "dataset": "gas-network",
            "reason_code": "intervention_reseau",
            "justification": "Repérer les conduites de gaz à couper dans la zone de confinement.",
            "duration_min": 60,
        },
    )
    assert g.status_code == 201, g.get_data(as_text=True)
    return event_id


def open_register(app: Any, client_factory: Any, holders: tuple[str, ...] = ("director",)) -> int:
    """The toxic-release drill of the acceptance: a release on FICTIF-1 (wind 240°, 4 m/s)
    declared by the director; each of ``holders`` (director or cell) opens the register of
    vulnerable persons (TOTP step-up, second director's approval). Returns the event id."""
    import pyotp

    from app import auth
    from app.db import connect

    director = client_factory()
    director.login("director")
    r = director.post(
        "/api/v1/events",
        json={
            "playbook": "toxic-release",
            "title": "EXERCICE — fuite toxique FICTIF-1",
            "site": "FICTIF-1",
            "params": {"wind_from_deg": 240, "wind_speed_ms": 4},
            "drill": True,
        },
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    event_id = int(r.get_json()["id"])
    clock = app.config["CLOCK"]
    approver = client_factory()
    approver.login("director2")
    for login in holders:
        db = connect(app.config["CRISIS_DB"])
        secret = auth.enrol_totp(db, clock.now(), login)
        db.conn.close()
        holder = client_factory()
        holder.login(login)
        g = holder.post(
            f"/api/v1/events/{event_id}/grants",
            json={
                "dataset": "vulnerable-persons",
                "reason_code": "evacuation",
                "justification": "Appeler les personnes vulnérables sous le nuage (évacuation).",
                "duration_min": 60,
                "totp": pyotp.TOTP(secret).at(clock.now()),
            },
        )
        assert g.status_code == 201, g.get_data(as_text=True)
        ok = approver.post(f"/api/v1/grants/{g.get_json()['id']}/approve")
        assert ok.status_code == 200 and ok.get_json()["status"] == "active", ok.get_json()
    return event_id


def history_story(app: Any) -> dict[str, Any]:
    """A toxic release on FICTIF-1 at T0 (zones v1, level 2); at +10 min the wind turns (v2) and
    the level goes up; at +20 min it turns again (v3); a log entry at +25 that looks like a
    formula; the clock stops at +30. Returns the event id, the director's client and the app."""
    clock = app.config["CLOCK"]
    director = app.test_client()
    director.login("director")
    r = director.post(
        "/api/v1/events",
        json={"playbook": "toxic-release", "title": "Fuite FICTIF", "site": "FICTIF-1",
              "params": {"wind_from_deg": 240, "wind_speed_ms": 4}, "level": 2},
    )  # fmt: skip
    assert r.status_code == 201, r.get_data(as_text=True)
    event_id = r.get_json()["id"]
    clock.advance(minutes=10)
    token = director.refresh_csrf()
    for path, data in (
        ("params", {"p_wind_from_deg": "300", "csrf_token": token}),
        ("level", {"level": "3", "reason": "Panache vers Lillebonne", "csrf_token": token}),
    ):
        assert director.post(f"/events/{event_id}/{path}", data=data).status_code == 302
    clock.advance(minutes=10)
    data = {"p_wind_from_deg": "20", "csrf_token": token}
    assert director.post(f"/events/{event_id}/params", data=data).status_code == 302
    clock.advance(minutes=5)
    r = director.post(
        f"/api/v1/events/{event_id}/log",
        json={"category": "information", "text": '=HYPERLINK("http://x";"clic")'},
    )
    assert r.status_code == 201
    clock.advance(minutes=5)
    return {"id": event_id, "client": director, "app": app}
