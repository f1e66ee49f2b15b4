"""The live state API: GET /api/v1/events/<id>/state (ETag, 304) and GET /api/v1/state."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.web.test_events import declare, site_app  # noqa: F401


def test_state_answers_304_until_something_changes(site_app: Flask, client: Any) -> None:  # noqa: F811
    event = declare(site_app)
    client.login("liaison")
    first = client.get(f"/api/v1/events/{event.id}/state")
    assert first.status_code == 200
    body = first.get_json()
    assert body["event"] == event.id and body["version"] == 1
    assert body["parts"] == {"event": 1} and body["status"] == "open" and body["level"] == 3
    assert body["zones"]["version"] == 1 and body["zones"]["wind_from_deg"] == 240
    assert body["zones"]["notice"] is None  # zones computed at the declaration: no notice
    etag = first.headers["ETag"]
    assert etag == f'W/"e{event.id}.v1"' and first.headers["Cache-Control"] == "no-store"
    assert first.headers["X-Situation-At"] == "2026-11-23T13:00:00Z"

    same = client.get(f"/api/v1/events/{event.id}/state", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.data == b"" and same.headers["ETag"] == etag

    # The director shifts the wind: the state moves, with what the notice says.
    clock = site_app.config["CLOCK"]
    clock.advance(minutes=2)
    director = site_app.test_client()
    director.login("director")
    changed = director.post(f"/events/{event.id}/params", data={"p_wind_from_deg": "OSO"})
    assert changed.status_code == 302
    moved = client.get(f"/api/v1/events/{event.id}/state", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["ETag"] != etag
    state = moved.get_json()
    assert state["version"] == 2 and state["parts"] == {"event": 1, "zones": 2}
    zones = state["zones"]
    assert zones["version"] == 2 and zones["wind_from_deg"] == 247.5
    assert zones["by"] == "Claire Morel (démo)"
    assert zones["notice"] == (
        "Zones recalculées (version 2, vent 247,5°) à 14:02 par Claire Morel (démo)"
    )
    assert state["changes"]["zones"]["at"] == "2026-11-23T13:02:00Z"


def test_state_of_each_kind_of_change(site_app: Flask, client: Any) -> None:  # noqa: F811
    event = declare(site_app)
    client.login("director")
    url = f"/api/v1/events/{event.id}/state"

    def parts() -> dict[str, int]:
        return dict(client.get(url).get_json()["parts"])

    client.post(f"/events/{event.id}/log", data={"category": "action", "text": "x"})
    assert parts()["log"] == 2
    client.post(f"/events/{event.id}/level", data={"level": "4"})
    assert parts()["event"] == 3
    item = client.get(f"/api/v1/events/{event.id}").get_json()["checklist"][0]["id"]
    client.post(f"/events/{event.id}/checklist/{item}", data={"note": ""})
    assert parts()["checklist"] == 4
    # Reading pages, figures or the log changes nothing.
    for page in (f"/events/{event.id}", f"/events/{event.id}/log", url):
        client.get(page)
    assert client.get(url).get_json()["version"] == 4
    client.post(f"/events/{event.id}/close", data={"statement": "Fin"})
    final = client.get(url).get_json()
    assert final["status"] == "closed" and final["parts"]["event"] == 5


def test_state_access_rules(site_app: Flask, client: Any) -> None:  # noqa: F811
    event = declare(site_app)
    url = f"/api/v1/events/{event.id}/state"
    assert client.get(url).status_code == 401
    for login, status in (("admin", 403), ("steward", 403), ("exercise", 200), ("cell", 200)):
        client.login(login)
        assert client.get(url).status_code == status, login
    missing = client.get("/api/v1/events/999/state")
    assert missing.status_code == 404 and missing.get_json()["field"] == "event"


def test_global_state(site_app: Flask, client: Any) -> None:  # noqa: F811
    client.login("steward")  # who reads no event does not follow them either
    assert client.get("/api/v1/state").status_code == 403
    client.login("liaison")
    empty = client.get("/api/v1/state")
    assert empty.status_code == 200 and empty.get_json()["version"] == 0
    tag = empty.headers["ETag"]
    assert client.get("/api/v1/state", headers={"If-None-Match": tag}).status_code == 304
    site_app.config["CLOCK"].advance(minutes=1)
    declare(site_app)
    grown = client.get("/api/v1/state", headers={"If-None-Match": tag})
    assert grown.status_code == 200 and grown.get_json()["events"] == 1
    client.post("/logout")
    assert client.get("/api/v1/state").status_code == 401


def test_pages_carry_the_state_they_were_rendered_at(site_app: Flask, client: Any) -> None:  # noqa: F811
    """Every live page says which state it shows (read before its content) and marks its
    regions with the parts they follow; each region has its own fragment route."""
    from tests.web.test_events import parse

    event = declare(site_app)
    client.login("director")
    client.post(f"/events/{event.id}/log", data={"category": "action", "text": "x"})
    for url in (
        f"/events/{event.id}",
        f"/events/{event.id}/liaison",
        f"/events/{event.id}/impact",
        f"/events/{event.id}/log",
        f"/events/{event.id}/checklist",
    ):
        ids = parse(client.get(url).get_data(as_text=True)).ids
        live = ids["live-state"]
        assert live["data-live-state"] == f"/api/v1/events/{event.id}/state", url
        assert live["data-live-version"] == "2" and live["data-live-etag"] == f'W/"e{event.id}.v2"'
    page = parse(client.get(f"/events/{event.id}").get_data(as_text=True)).ids
    follows = {
        "event-situation": "event zones",
        "event-map": "zones grants",
        "event-key-figures": "zones",
        "event-impact": "zones grants",
        "event-facts": "event zones",
        "event-access": "grants event",
        "event-checklist": "checklist event",
        "event-upcoming": "checklist event reports",
    }
    for region, parts in follows.items():
        assert page[region]["data-live-part"] == parts, region
    for region, route in (
        ("event-situation", "situation-line"),
        ("event-facts", "facts"),
        ("event-access", "access"),
        ("event-key-figures", "key-figures"),
    ):
        fragment = client.get(f"/events/{event.id}/{route}", headers={"HX-Request": "true"})
        html = fragment.get_data(as_text=True)
        assert fragment.status_code == 200 and parse(html).ids[region], route
        assert "<html" not in html  # the fragment alone; without htmx, a page holding it
        full = client.get(f"/events/{event.id}/{route}").get_data(as_text=True)
        assert "<html" in full and f'id="{region}"' in full
    # The response boards follow their parts too (the state read when the page renders).
    for board, region, part in (
        ("centres", "event-centres", "centres"),
        ("tasks", "event-tasks", "tasks"),
        ("means", "event-means", "means"),
    ):
        ids = parse(client.get(f"/events/{event.id}/{board}").get_data(as_text=True)).ids
        assert ids["live-state"]["data-live-state"] == f"/api/v1/events/{event.id}/state"
        assert ids[region]["data-live-part"] == part and ids[region]["hx-trigger"] == "live-refresh"
    # The home page's list follows every event through the global state.
    home = parse(client.get("/").get_data(as_text=True)).ids
    assert home["live-state"]["data-live-state"] == "/api/v1/state"
    assert home["open-events"]["data-live-part"] == "*"
