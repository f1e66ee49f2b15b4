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
