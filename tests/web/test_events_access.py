"""Who may use each event route: signed out, every role, for pages and API alike.

Decisions: read = director, cell, liaison, exercise; declare = director, cell; level and close =
director; parameters = director, cell; log entries = director, cell, liaison; checklist =
director, cell (liaison: only items owned by the liaison role). Stewards and the admin (IT) read
no event (separation of duties).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app import events
from tests.web.test_events import WIND_240, declare

ROLES = ("director", "cell", "liaison", "steward", "exercise", "admin")

# (method, url template, allowed roles, form/json body)
ROUTES: list[tuple[str, str, tuple[str, ...], dict[str, Any] | None]] = [
    ("GET", "/events/", events.READ_ROLES, None),
    ("GET", "/events/open", events.READ_ROLES, None),
    ("GET", "/events/new", events.DECLARE_ROLES, None),
    ("POST", "/events/", events.DECLARE_ROLES, {"playbook": "nope"}),
    ("GET", "/events/{id}", events.READ_ROLES, None),
    ("GET", "/events/{id}/log", events.READ_ROLES, None),
    ("GET", "/events/{id}/checklist", events.READ_ROLES, None),
    ("GET", "/events/{id}/upcoming", events.READ_ROLES, None),
    ("GET", "/events/{id}/liaison", events.READ_ROLES, None),
    ("GET", "/events/{id}/situation-line", events.READ_ROLES, None),
    ("GET", "/events/{id}/facts", events.READ_ROLES, None),
    ("GET", "/events/{id}/access", events.READ_ROLES, None),
    ("POST", "/events/{id}/log", events.LOG_ROLES, {"category": "information", "text": ""}),
    ("POST", "/events/{id}/level", events.COMMAND_ROLES, {"level": "99"}),
    ("POST", "/events/{id}/params", events.PARAMS_ROLES, {"p_wind_from_deg": "999"}),
    ("POST", "/events/{id}/close", events.COMMAND_ROLES, {"statement": ""}),
    ("POST", "/events/{id}/checklist/999999", events.CHECKLIST_ROLES, {}),
    ("GET", "/api/v1/events", events.READ_ROLES, None),
    ("POST", "/api/v1/events", events.DECLARE_ROLES, {"playbook": "nope"}),
    ("GET", "/api/v1/events/{id}", events.READ_ROLES, None),
    ("GET", "/api/v1/events/{id}/log", events.READ_ROLES, None),
    ("GET", "/api/v1/events/{id}/state", events.READ_ROLES, None),
    ("POST", "/api/v1/events/{id}/log", events.LOG_ROLES, {"text": ""}),
    ("POST", "/api/v1/events/{id}/checklist/nope", events.CHECKLIST_ROLES, {}),
    ("POST", "/api/v1/events/{id}/level", events.COMMAND_ROLES, {"level": 99, "reason": "x"}),
    (
        "POST",
        "/api/v1/events/{id}/params",
        events.PARAMS_ROLES,
        {"params": {"wind_from_deg": 999}, "reason": "x"},
    ),
    ("POST", "/api/v1/events/{id}/close", events.COMMAND_ROLES, {"statement": ""}),
    ("PUT", "/api/v1/events/{id}/synthesis", events.SYNTHESIS_ROLES, {"text": ""}),
]


def _call(client: Any, method: str, url: str, body: dict[str, Any] | None) -> Any:
    if method == "GET":
        return client.get(url)
    if url.startswith("/api/"):
        return client.open(url, method=method, json=body or {})
    return client.post(url, data=body or {})


@pytest.fixture
def event_id(app: Flask) -> int:
    return declare(app, params=WIND_240).id


@pytest.mark.parametrize(("method", "template", "allowed", "body"), ROUTES)
def test_signed_out_is_refused(
    app: Flask, client: Any, event_id: int, method: str, template: str, allowed: Any, body: Any
) -> None:
    url = template.format(id=event_id)
    response = _call(client, method, url, body)
    if url.startswith("/api/"):
        assert response.status_code in (400, 401)  # 400: CSRF refused before authentication
    else:
        assert response.status_code in (302, 400)
        if response.status_code == 302:
            assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_routes(
    app: Flask, client: Any, event_id: int, role: str
) -> None:
    client.login(role)
    for method, template, allowed, body in ROUTES:
        url = template.format(id=event_id)
        response = _call(client, method, url, body)
        if role in allowed:
            # Allowed: the request reaches the view (bad bodies give 4xx of the view, never 403).
            assert response.status_code in (200, 302, 400, 404, 422), (role, method, url)
        else:
            assert response.status_code == 403, (role, method, url, response.status_code)


def test_every_event_route_is_covered(app: Flask) -> None:
    covered = {(m, t.replace("{id}", "<int:event_id>")) for m, t, _, _ in ROUTES}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("events", "api_events"):
            continue
        path = rule.rule.replace("999999", "<int:item_id>")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            normalised = (
                path.replace("<int:item_id>", "999999")
                .replace("<item>", "nope")
                .replace("<int:event_id>", "<int:event_id>")
            )
            assert (method, normalised) in covered, (method, rule.rule)


def test_liaison_cannot_tick_a_cell_item(app: Flask, client: Any, event_id: int) -> None:
    client.login("liaison")
    response = client.post(f"/api/v1/events/{event_id}/checklist/bouclage")
    assert response.status_code == 403 and response.get_json()["field"] == "item"
    assert client.post(f"/api/v1/events/{event_id}/checklist/liaison-cod").status_code == 200
