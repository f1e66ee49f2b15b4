"""Event pages and the events JSON API through the test client."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from markupsafe import Markup

from app import auth, events
from app.db import connect, scalar
from tests.conftest import PROJECT, T0
from tests.unit.test_events import ensure_site

WIND_240 = {"wind_from_deg": 240, "wind_speed_ms": 4}


class _Ids(HTMLParser):
    """Collects element ids and classes: HTML is checked by parsing, not string matching."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.classes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids[str(found["id"])] = found
        self.classes.extend((found.get("class") or "").split())


def parse(html: str) -> _Ids:
    p = _Ids()
    p.feed(html)
    return p


@pytest.fixture
def site_app(app: Flask) -> Flask:
    db = connect(app.config["CRISIS_DB"])
    ensure_site(db)
    db.conn.close()
    return app


def declare(app: Flask, **kw: Any) -> events.Event:
    db = connect(app.config["CRISIS_DB"])
    try:
        ensure_site(db)
        actor = auth.get_user_by_login(db, "director")
        assert actor is not None
        args: dict[str, Any] = {
            "actor": actor,
            "title": "Fuite d'ammoniac",
            "site": "FICTIF-1",
            "params": WIND_240,
        }
        args.update(kw)
        return events.declare(
            db,
            app.config["CLOCK"].now(),
            app.extensions["library"].playbooks["toxic-release"],
            **args,
        )
    finally:
        db.conn.close()


def count(app: Flask, sql: str, params: Any = ()) -> Any:
    db = connect(app.config["CRISIS_DB"])
    try:
        return scalar(db, sql, params)
    finally:
        db.conn.close()


# --- acceptance: declare a toxic release at FICTIF-1, wind from 240° --------------------------


def test_declare_through_the_web_form(site_app: Flask, client: Any) -> None:
    client.login("cell")
    form = client.get("/events/new?playbook=toxic-release")
    assert form.status_code == 200
    ids = parse(form.get_data(as_text=True)).ids
    assert {"playbook", "title", "site", "p_wind_from_deg", "p_wind_speed_ms"} <= set(ids)
    # A direction is typed as degrees or a point of the compass (its arrow drawn as you type).
    assert "data-direction" in ids["p_wind_from_deg"] and "required" in ids["p_wind_from_deg"]

    response = client.post(
        "/events/",
        data={
            "playbook": "toxic-release",
            "title": "Fuite d'ammoniac — FICTIF-1",
            "level": "3",
            "site": "FICTIF-1",
            "p_wind_from_deg": "240",
            "p_wind_speed_ms": "3,5",
            "p_release_type": "continu",
        },
    )
    assert response.status_code == 302
    event_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    page = client.get(f"/events/{event_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    ids = parse(html).ids
    assert {"event-log", "event-checklist", "event-upcoming", "event-facts", "log-form"} <= set(ids)
    assert "Déclaration de l&#39;événement" in html and "240°" in html
    assert "drill-banner" not in ids
    assert (
        count(site_app, "SELECT COUNT(*) FROM checklist_items WHERE event_id = ?", [event_id]) > 10
    )
    assert count(site_app, "SELECT COUNT(*) FROM log_entries WHERE event_id = ?", [event_id]) == 2
    assert count(site_app, "SELECT status FROM events WHERE id = ?", [event_id]) == "open"


def test_declare_through_the_api(site_app: Flask, client: Any) -> None:
    client.login("director")
    response = client.post(
        "/api/v1/events",
        json={
            "playbook": "toxic-release",
            "title": "Fuite d'ammoniac",
            "site": "FICTIF-1",
            "params": WIND_240,
            "drill": False,
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"] and body["status"] == "open" and body["params"]["wind_from_deg"] == 240
    assert response.headers["Location"].endswith(f"/api/v1/events/{body['id']}")
    assert len(body["checklist"]) > 10 and not any(i["done"] for i in body["checklist"])
    assert [e["category"] for e in body["log"]] == ["décision", "information"]
    assert body["zones"]["version"] == 1
    again = client.get(f"/api/v1/events/{body['id']}").get_json()
    assert again["title"] == "Fuite d'ammoniac"
    listed = client.get("/api/v1/events?status=open").get_json()["events"]
    assert [e["id"] for e in listed] == [body["id"]]


def test_api_with_a_bearer_token(site_app: Flask) -> None:
    db = connect(site_app.config["CRISIS_DB"])
    token = auth.create_token(db, T0, "cell", "tests", actor="tests")
    db.conn.close()
    client = site_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post(
        "/api/v1/events",
        json={"playbook": "toxic-release", "title": "T", "point": [0.6, 49.5], "params": WIND_240},
        headers=headers,
    )
    assert response.status_code == 201
    event_id = response.get_json()["id"]
    entry = client.post(
        f"/api/v1/events/{event_id}/log",
        json={"category": "message reçu", "text": "SDIS sur place"},
        headers=headers,
    )
    assert entry.status_code == 201 and entry.get_json()["author"] == "Julien Lefebvre (démo)"
    log = client.get(f"/api/v1/events/{event_id}/log?since=2", headers=headers).get_json()
    assert [e["text"] for e in log["entries"]] == ["SDIS sur place"]
    ticked = client.post(f"/api/v1/events/{event_id}/checklist/sirenes-fr-alert", headers=headers)
    assert ticked.status_code == 200 and ticked.get_json()["done"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"playbook": "meteorite", "title": "x", "site": "FICTIF-1"}, 422, "playbook"),
        ({"playbook": "toxic-release", "title": "", "site": "FICTIF-1"}, 422, "title"),
        ({"playbook": "toxic-release", "title": "x", "site": "NOPE"}, 422, "site"),
        ({"playbook": "toxic-release", "title": "x", "point": [2.3, 48.8]}, 422, "point"),
        ({"playbook": "toxic-release", "title": "x", "point": "0.5,49.5"}, 422, "point"),
        ({"playbook": "toxic-release", "title": "x", "site": 12}, 422, "site"),
        ({"playbook": "toxic-release", "title": "x", "site": "FICTIF-1"}, 422, "params"),
        (
            {
                "playbook": "toxic-release",
                "title": "x",
                "site": "FICTIF-1",
                "params": {"wind_from_deg": -5},
            },
            422,
            "params",
        ),
        (
            {"playbook": "toxic-release", "title": "x", "site": "FICTIF-1", "params": []},
            422,
            "params",
        ),
        ({"playbook": "toxic-release", "title": "x", "colour": "red"}, 400, "colour"),
        ([1, 2], 400, "body"),
    ],
)
def test_api_errors_name_the_field(
    site_app: Flask, client: Any, body: Any, status: int, field: str
) -> None:
    client.login("director")
    response = client.post("/api/v1/events", json=body)
    assert response.status_code == status
    payload = response.get_json()
    assert payload["field"] == field and payload["error"]
    assert count(site_app, "SELECT COUNT(*) FROM events") == 0


def test_form_errors_rerender_the_form(site_app: Flask, client: Any) -> None:
    client.login("cell")
    response = client.post(
        "/events/",
        data={
            "playbook": "toxic-release",
            "title": "X",
            "site": "FICTIF-1",
            "p_wind_from_deg": "999",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "wind_from_deg" in html and 'value="999"' in html
    fragment = client.post(
        "/events/",
        data={"playbook": "toxic-release", "title": "", "site": "FICTIF-1"},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 422
    assert fragment.get_data(as_text=True).lstrip().startswith('<form id="declare-form"')


def test_playbook_select_swaps_the_form(site_app: Flask, client: Any) -> None:
    client.login("cell")
    response = client.get("/events/new?playbook=seine-flood", headers={"HX-Request": "true"})
    ids = parse(response.get_data(as_text=True)).ids
    assert "p_seine_level_m" in ids and "site" not in ids and "lon" in ids
    assert (
        response.headers["Vary"] == "HX-Request, Cookie" or "HX-Request" in response.headers["Vary"]
    )


# --- lifecycle through the pages --------------------------------------------------------------


def test_drill_pages_carry_the_banner(site_app: Flask, client: Any) -> None:
    event = declare(site_app, drill=True)
    client.login("liaison")
    for url in (f"/events/{event.id}", f"/events/{event.id}/liaison", f"/events/{event.id}/log"):
        assert "drill-banner" in parse(client.get(url).get_data(as_text=True)).ids, url


def test_level_params_close_and_read_only(site_app: Flask, client: Any, clock: Any) -> None:
    event = declare(site_app)
    client.login("director")
    assert client.post(f"/events/{event.id}/level", data={"level": "4"}).status_code == 302
    bad = client.post(f"/events/{event.id}/level", data={"level": "4"})
    assert bad.status_code == 422 and "déjà au niveau 4" in bad.get_data(as_text=True)
    clock.advance(minutes=10)
    shifted = client.post(
        f"/events/{event.id}/params",
        data={"p_wind_from_deg": "290", "p_wind_speed_ms": "4", "p_release_type": "continu"},
    )
    assert shifted.status_code == 302
    html = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "Changement de paramètres : vent du 240° → 290°" in html
    assert client.post(f"/events/{event.id}/close", data={"statement": ""}).status_code == 422
    closed = client.post(f"/events/{event.id}/close", data={"statement": "Fin de l'alerte."})
    assert closed.status_code == 302
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    ids = parse(page).ids
    assert "Événement clos" in page and "log-form" not in ids and "statement" not in ids
    before = count(site_app, "SELECT COUNT(*) FROM log_entries")
    item = count(site_app, "SELECT id FROM checklist_items WHERE event_id = ?", [event.id])
    for url, data in [
        (f"/events/{event.id}/level", {"level": "2"}),
        (f"/events/{event.id}/params", {"p_wind_from_deg": "10"}),
        (f"/events/{event.id}/close", {"statement": "encore"}),
        (f"/events/{event.id}/log", {"category": "information", "text": "après"}),
        (f"/events/{event.id}/checklist/{item}", {}),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 409, url
        assert "clos" in response.get_data(as_text=True)
    api = client.post(f"/api/v1/events/{event.id}/log", json={"text": "après"})
    assert api.status_code == 409 and api.get_json()["field"] == "event"
    assert count(site_app, "SELECT COUNT(*) FROM log_entries") == before


def test_log_entry_htmx_and_polling(site_app: Flask, client: Any) -> None:
    event = declare(site_app)
    client.login("cell")
    last = count(site_app, "SELECT MAX(id) FROM log_entries WHERE event_id = ?", [event.id])
    nothing = client.get(f"/events/{event.id}/log?since={last}", headers={"HX-Request": "true"})
    assert nothing.status_code == 204 and nothing.data == b""

    added = client.post(
        f"/events/{event.id}/log",
        data={"category": "message reçu", "text": "Appel de l'exploitant"},
        headers={"HX-Request": "true"},
    )
    assert added.status_code == 200 and added.headers["HX-Trigger"] == "log-changed"
    assert "log-form" in parse(added.get_data(as_text=True)).ids

    new = client.get(f"/events/{event.id}/log?since={last}", headers={"HX-Request": "true"})
    html = new.get_data(as_text=True)
    assert new.status_code == 200 and "Appel de l&#39;exploitant" in html
    assert html.count('class="log-entry') == 1  # only the new entry travels
    assert f"since={last + 1}" in html  # the next poll asks for what follows

    bad = client.post(
        f"/events/{event.id}/log",
        data={"category": "rumeur", "text": "x"},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422 and 'data-field="category"' in bad.get_data(as_text=True)


def test_corrections_are_struck_through_and_linked(site_app: Flask, client: Any) -> None:
    event = declare(site_app)
    client.login("cell")
    client.post(f"/events/{event.id}/log", data={"category": "information", "text": "3 blessés"})
    wrong = count(site_app, "SELECT MAX(id) FROM log_entries")
    form = client.get(f"/events/{event.id}?corrects={wrong}").get_data(as_text=True)
    assert f'name="corrects_id" value="{wrong}"' in form
    response = client.post(
        f"/events/{event.id}/log",
        data={"category": "information", "text": "2 blessés", "corrects_id": str(wrong)},
    )
    assert response.status_code == 302
    html = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "<del>3 blessés</del>" in html
    assert f'href="#entry-{wrong + 1}">corrigée par n°{wrong + 1}' in html
    assert f'href="#entry-{wrong}">Correction de n°{wrong}' in html
    poll = client.get(f"/events/{event.id}/log?since={wrong}", headers={"HX-Request": "true"})
    assert poll.headers["HX-Trigger"] == "log-corrected"


def test_log_filters(site_app: Flask, client: Any) -> None:
    event = declare(site_app)
    client.login("liaison")
    client.post(f"/events/{event.id}/log", data={"category": "message reçu", "text": "Du terrain"})
    fragment = client.get(
        f"/events/{event.id}/log?category=message+reçu", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section class="card log-card" id="event-log"')
    assert "Du terrain" in fragment and "Déclaration" not in fragment
    by_author = client.get(f"/events/{event.id}/log?author=Claire+Morel+(démo)").get_data(
        as_text=True
    )
    assert "Du terrain" not in by_author and "Déclaration" in by_author


def test_checklist_tick_and_late_items(site_app: Flask, client: Any, clock: Any) -> None:
    event = declare(site_app)
    clock.advance(minutes=12)
    client.login("cell")
    page = parse(client.get(f"/events/{event.id}").get_data(as_text=True))
    assert page.classes.count("late") >= 3
    item = count(
        site_app,
        "SELECT id FROM checklist_items WHERE event_id = ? AND item_key = 'sirenes-fr-alert'",
        [event.id],
    )
    response = client.post(
        f"/events/{event.id}/checklist/{item}",
        data={"note": "SAIP déclenché"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "log-changed, checklist-changed"
    html = response.get_data(as_text=True)
    assert "SAIP déclenché" in html and "Julien Lefebvre" in html
    log = client.get(f"/api/v1/events/{event.id}/log").get_json()["entries"]
    assert log[-1]["text"].startswith("Action réalisée : Vérifier le déclenchement des sirènes")
    again = client.post(f"/events/{event.id}/checklist/{item}", headers={"HX-Request": "true"})
    assert again.status_code == 409 and "déjà" in again.get_data(as_text=True)


def test_liaison_view_is_small_and_live(site_app: Flask, client: Any) -> None:
    event = declare(site_app)
    client.login("liaison")
    response = client.get(f"/events/{event.id}/liaison")
    html = response.get_data(as_text=True)
    ids = parse(html).ids
    assert response.status_code == 200 and "liaison-view" in html
    # One live mechanism: the log follows the event's state (any part), no poll of its own.
    assert "every 5s" not in html and 'hx-trigger="live-refresh, log-changed from:body"' in html
    assert ids["live-state"]["data-live-state"] == f"/api/v1/events/{event.id}/state"
    assert ids["event-log"] and "log-poll" in parse(html).classes
    assert "category-c" in ids and "filter-category" not in ids
    assert len(response.data) < 40_000


def test_home_lists_open_events_for_readers(site_app: Flask, client: Any) -> None:
    event = declare(site_app)
    client.login("liaison")
    home = client.get("/").get_data(as_text=True)
    assert 'hx-get="/events/open"' in home
    panel = client.get("/events/open", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert str(Markup.escape(event.title)) in panel
    client.login("admin")
    assert "/events/open" not in client.get("/").get_data(as_text=True)


def test_two_events_pages_do_not_mix(site_app: Flask, client: Any) -> None:
    a = declare(site_app, title="Fuite A")
    b = declare(site_app, title="Fuite B", site=None, point=[0.7, 49.6])
    client.login("cell")
    client.post(f"/events/{a.id}/log", data={"category": "information", "text": "seulement A"})
    assert "seulement A" not in client.get(f"/events/{b.id}").get_data(as_text=True)
    item_of_a = count(site_app, "SELECT id FROM checklist_items WHERE event_id = ?", [a.id])
    assert client.post(f"/events/{b.id}/checklist/{item_of_a}").status_code == 404


def test_unknown_event_is_404(site_app: Flask, client: Any) -> None:
    client.login("director")
    assert client.get("/events/999").status_code == 404
    assert client.get("/api/v1/events/999").get_json()["field"] == "event"


def test_playbooks_check_cli(runner: Any, tmp_path: Any) -> None:
    ok = runner("playbooks", "check")
    assert ok.exit_code == 0, ok.output
    assert "OK      toxic-release.yaml (toxic-release)" in ok.output
    (tmp_path / "pb").mkdir()
    good = PROJECT / "playbooks" / "toxic-release.yaml"
    (tmp_path / "pb" / "toxic-release.yaml").write_text(good.read_text(encoding="utf-8"))
    (tmp_path / "pb" / "broken.yaml").write_text("id: broken\ntitle: Cassé\n")
    bad = runner("playbooks", "check", str(tmp_path / "pb"))
    assert bad.exit_code == 2
    assert "OK      toxic-release.yaml" in bad.output
    assert re.search(r"ERREUR  .*broken\.yaml: \S+: missing required key", bad.output)


def test_broken_playbook_does_not_stop_the_app(tmp_path: Any, base_template: Any) -> None:
    from tests.conftest import make_app

    folder = tmp_path / "pb"
    folder.mkdir()
    (folder / "bad.yaml").write_text("id: bad\n")
    app = make_app(tmp_path, base_template, CRISIS_PLAYBOOKS=str(folder))
    assert app.extensions["library"].playbooks == {}
    assert "bad.yaml" in str(app.extensions["library"].errors[0])


def test_fact_time_in_the_future_is_refused(site_app: Flask, client: Any) -> None:
    event = declare(site_app)
    client.login("cell")
    future = (T0 + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/events/{event.id}/log",
        data={"category": "information", "text": "x", "fact_at": future},
    )
    assert response.status_code == 422 and "futur" in response.get_data(as_text=True)


def test_log_form_returns_to_the_default_category_after_an_entry(
    site_app: Flask, client: Any
) -> None:
    event = declare(site_app)
    client.login("cell")
    r = client.post(
        f"/events/{event.id}/log",
        data={"category": "décision", "text": "Fermeture de la D982."},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    selected = re.findall(r'<option value="([^"]+)" selected', r.get_data(as_text=True))
    assert "décision" not in selected


def test_declare_where_it_happens_without_typing_coordinates(territory_app: Flask) -> None:
    """A point picked on the map, or a commune from the list; a wind as a compass point; errors
    named by the form's French labels (issue 12, item 6)."""
    db = connect(territory_app.config["CRISIS_DB"])
    try:
        communes = events.list_communes(db)
    finally:
        db.conn.close()
    assert len(communes) >= 40 and all(c["lon"] and c["lat"] for c in communes)
    client = territory_app.test_client()
    client.login("cell")
    form = parse(client.get("/events/new?playbook=toxic-release").get_data(as_text=True)).ids
    assert {"declare-map", "commune", "lon", "lat", "place-read"} <= set(form)
    base = {"playbook": "toxic-release", "title": "Fuite sur canalisation", "site": ""}
    wind = {"p_wind_from_deg": "sud-ouest", "p_wind_speed_ms": "4", "p_release_type": "continu"}
    lillebonne = next(c for c in communes if c["name"] == "Lillebonne")
    made = client.post("/events/", data={**base, **wind, "commune": lillebonne["insee"]})
    assert made.status_code == 302, made.get_data(as_text=True)[:400]
    event = client.get("/api/v1/events").get_json()["events"][0]
    assert event["place"] == "Lillebonne (commune, position à préciser)"
    assert event["point"] == [lillebonne["lon"], lillebonne["lat"]]
    picked = client.post("/events/", data={**base, **wind, "lon": "0.6", "lat": "49.5"})
    assert picked.status_code == 302
    event = client.get("/api/v1/events").get_json()["events"][0]
    assert event["params"]["wind_from_deg"] == 225.0
    # The place names the commune the point lies in.
    assert event["place"].endswith(" — point 49.50000 N, 0.60000 E"), event["place"]
    # Errors name the fields as the form labels them, never by an internal key.
    bad = client.post(
        "/events/", data={**base, "p_wind_from_deg": "brise", "lon": "0.6", "lat": "49.5"}
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "« Vent venant du (direction) »" in text
    assert "wind_from_deg" not in text.replace('name="p_wind_from_deg"', "").replace(
        'id="p_wind_from_deg"', ""
    ).replace('for="p_wind_from_deg"', "").replace("p_wind_from_deg-", "")
    nowhere = client.post("/events/", data={**base, **wind})
    assert nowhere.status_code == 422
    assert "Indiquez le lieu : un site, une commune ou un point sur la carte." in nowhere.get_data(
        as_text=True
    )
    unknown = client.post("/events/", data={**base, **wind, "commune": "00000"})
    assert unknown.status_code == 422 and "Commune inconnue" in unknown.get_data(as_text=True)
