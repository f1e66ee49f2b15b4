"""One shared, live operating picture (issue 12), in Debian's chromium.

- Two users on the same event: the director shifts the wind; within 5 s the other user's map,
  zone table, key figures and situation line show the new zones version, and the notice says
  "Zones recalculées (version 2, vent 260°) à 14:00 par …" — at desk and tablet sizes.
- The console stops: the page says "Connexion perdue — données de 14:00", and recovers.
- The desk dashboard at 1366×768: map, key figures, the entry form with the newest entries and
  what is due next are all inside the viewport (bounding boxes); keyboard-first entry.
- The tablet view at 820×1180: map and figures above the fold, the entry form before the log,
  every control at least 44 px, a confirmation after each entry, the liaison's own items.
- The map: commune names, scale, north arrow, wind, a legend of every drawn layer including the
  opened restricted ones (each its colour, marked), "plein écran".
Screenshots: tests/screenshots/live-*.png.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app import auth, events
from app.db import connect
from tests.browser.conftest import DESK, SCREENSHOTS, TABLET, LiveServer, Page, RestartableServer

pytestmark = pytest.mark.browser

DIRECTOR = "Claire Morel (démo)"


def _declare(app: Flask, **kw: Any) -> events.Event:
    db = connect(app.config["CRISIS_DB"])
    try:
        actor = auth.get_user_by_login(db, "director")
        assert actor is not None
        args: dict[str, Any] = {
            "actor": actor,
            "title": "Fuite toxique FICTIF Chimie",
            "site": "FICTIF-1",
            "params": {"wind_from_deg": 240, "wind_speed_ms": 4},
        }
        args.update(kw)
        return events.declare(
            db, app.config["CLOCK"].now(), app.extensions["library"].playbooks["toxic-release"],
            **args,
        )  # fmt: skip
    finally:
        db.conn.close()


def _write(app: Flask, event_id: int, login: str, text: str, category: str) -> None:
    db = connect(app.config["CRISIS_DB"])
    try:
        actor = auth.get_user_by_login(db, login)
        assert actor is not None
        now = app.config["CLOCK"].now()
        events.add_log(db, now, event_id, actor=actor, category=category, text=text)
    finally:
        db.conn.close()


def _populate(app: Flask) -> events.Event:
    """A drill 13 minutes in: entries of several people, items late, one done."""
    event = _declare(app, drill=True, title="Fuite d'ammoniac — FICTIF-1")
    clock = app.config["CLOCK"]
    clock.advance(minutes=7)
    _write(app, event.id, "cell", "Appel de l'exploitant : fuite sur la ligne 3", "message reçu")
    _write(app, event.id, "director", "Déclenchement du PPI demandé au préfet", "décision")
    db = connect(app.config["CRISIS_DB"])
    director = auth.get_user_by_login(db, "director")
    assert director is not None
    items = events.checklist(db, event.id)
    events.tick_item(db, clock.now(), event.id, items[0].id, actor=director, note="PPI déclenché")
    db.conn.close()
    clock.advance(minutes=6)
    _write(app, event.id, "liaison", "Le COD a reçu la zone retenue", "message émis")
    _write(app, event.id, "cell", "Mairie de Lillebonne prévenue, gymnase ouvert", "action")
    return event


def _grant(app: Flask, event_id: int, login: str, dataset: str) -> None:
    client = app.test_client()
    client.login(login)
    r = client.post(
        f"/api/v1/events/{event_id}/grants",
        json={
            "dataset": dataset,
            "reason_code": "intervention_reseau",
            "justification": "Repérer les conduites de gaz à couper dans la zone de confinement.",
            "duration_min": 60,
        },
    )
    assert r.status_code == 201 and r.get_json()["status"] == "active", r.get_data(as_text=True)


def _committed(
    app: Flask, page: Any, event_id: int, zones_version: int, within: float = 15
) -> float:
    """The moment (time.monotonic) the event's zones of that version are committed. Waits through
    ``page`` (the pages' requests are routed by this process: a bare sleep would hold them)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        db = connect(app.config["CRISIS_DB"])
        try:
            found = events.zones_summary(db, event_id)
        finally:
            db.conn.close()
        if found and found["version"] >= zones_version:
            return time.monotonic()
        page.wait_for_timeout(20)
    raise AssertionError(f"zones version {zones_version} never committed")


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"{m.text} @ {m.location}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _inside(page: Any, selector: str, viewport: dict[str, int]) -> dict[str, float]:
    """The element's box, asserted to be wholly inside the viewport (no scrolling)."""
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not displayed"
    assert box["y"] >= 0 and box["x"] >= 0, (selector, box)
    assert box["y"] + box["height"] <= viewport["height"] + 0.5, (selector, box)
    assert box["x"] + box["width"] <= viewport["width"] + 0.5, (selector, box)
    assert box["height"] > 0 and box["width"] > 0, (selector, box)
    return box


def _fold_shot(page: Any, name: str) -> None:
    """What the screen shows without scrolling (the viewport only)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    # caret="initial": hiding the caret leaves style="" on the form fields, which htmx then
    # copies on a swap and the CSP refuses (a test artefact, not the console's).
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), caret="initial")


@pytest.fixture
def two(browser: Any, live_territory_server: LiveServer) -> Iterator[tuple[Any, LiveServer]]:
    yield browser, live_territory_server


# --- two users, one picture -----------------------------------------------------------------


@pytest.mark.parametrize("size", ["desk", "tablet"])
def test_the_other_user_sees_the_wind_change_within_5_seconds(
    territory_app: Flask, two: tuple[Any, LiveServer], size: str
) -> None:
    browser, server = two
    event = _declare(territory_app)
    viewport = DESK if size == "desk" else TABLET
    other_login, other_url = ("cell", f"/events/{event.id}")
    if size == "tablet":
        other_login, other_url = ("liaison", f"/events/{event.id}/liaison")
    director = Page(browser, server.url, DESK)
    other = Page(browser, server.url, viewport)
    try:
        problems = _watch(other.page)
        other.login(other_login)
        other.page.goto(other_url)
        other.page.wait_for_selector("#event-map[data-zones-version='1']", timeout=20000)
        other.page.wait_for_selector("#event-impact .impact-summary", timeout=20000)
        assert other.page.locator("#live-notice").is_hidden()
        assert "Vent du 240° (OSO) · 4 m/s" in other.page.inner_text(".map-wind")

        director.login("director")
        director.page.goto(f"/events/{event.id}")
        director.page.locator("#event-facts summary", has_text="Modifier les paramètres").click()
        wind = director.page.locator("#p_wind_from_deg")
        wind.fill("")
        wind.type("260")
        # The arrow is drawn as the director types: pointing downwind (260 + 180 = 80).
        needle = director.page.locator("#event-facts .direction-needle")
        assert needle.evaluate("e => e.style.transform") == "rotate(80deg)"
        assert "260° (O)" in director.page.inner_text("#event-facts .direction-read")
        save = director.page.locator("#event-facts button", has_text="Enregistrer")
        save.click(no_wait_after=True)
        # The clock starts when the change is committed (the new zones are in the database).
        started = _committed(territory_app, director.page, event.id, zones_version=2)

        notice = other.page.locator("#live-notice")
        notice.wait_for(state="visible", timeout=5000)
        for selector in (
            "#event-map[data-zones-version='2'][data-loaded='1']",
            "#event-key-figures [data-zones-version='2']",
            "#event-situation [data-zones-version='2']",
        ):
            other.page.wait_for_selector(selector, timeout=5000)
        other.page.locator("#event-impact .hint", has_text="Zones version 2").wait_for(timeout=5000)
        elapsed = time.monotonic() - started
        print(f"the other {size} page showed zones version 2 after {elapsed:.2f} s")
        assert elapsed < 5, elapsed
        assert (
            notice.inner_text()
            .strip()
            .endswith(f"Zones recalculées (version 2, vent 260°) à 14:00 par {DIRECTOR}")
        )
        assert "Vent du 260° (O) · 4 m/s" in other.page.inner_text(".map-wind")
        assert "Vent du 260° (O)" in other.page.inner_text("#event-situation")
        # The new zones, not the old ones: the map draws exactly the current three.
        assert other.page.locator(".leaflet-zones-pane path").count() == 3
        _fold_shot(other.page, f"live-wind-change-{size}")
        director.page.wait_for_load_state()
        assert other.external == [] and director.external == []
        assert problems == [], problems
    finally:
        director.close()
        other.close()


def test_connection_lost_banner(
    territory_app: Flask, browser: Any, restartable_territory_server: RestartableServer
) -> None:
    server = restartable_territory_server
    event = _declare(territory_app)
    desk = Page(browser, server.url, DESK)
    try:
        desk.page.clock.set_fixed_time(territory_app.config["CLOCK"].now())  # the same day
        desk.login("cell")
        desk.page.goto(f"/events/{event.id}")
        desk.page.wait_for_selector("#event-map[data-loaded='1']", timeout=20000)
        banner = desk.page.locator("#connection-banner")
        assert banner.is_hidden()
        server.stop()
        banner.wait_for(state="visible", timeout=10000)
        assert banner.get_attribute("data-state") == "offline"
        assert banner.inner_text().startswith("Connexion perdue — données de 14:00")
        _fold_shot(desk.page, "live-connection-lost-desk")
        # Back on the same port: the next poll brings the banner down, the page is current.
        territory_app.config["CLOCK"].advance(minutes=3)
        _write(territory_app, event.id, "director", "Retour du serveur", "information")
        server.start()
        banner.wait_for(state="hidden", timeout=15000)
        assert banner.get_attribute("data-state") == "online"
        desk.page.locator("#event-log .log-entry", has_text="Retour du serveur").wait_for(
            timeout=10000
        )
    finally:
        desk.close()


def test_a_session_that_ended_signs_in_again_unless_someone_is_typing(
    territory_app: Flask, browser: Any, live_territory_server: LiveServer
) -> None:
    """The poll answered 401: an idle page goes to the sign-in page (and back after it); a page
    with words typed in it stays (its send carries the draft, tests/browser/test_drafts.py)."""
    event = _declare(territory_app)
    idle = Page(browser, live_territory_server.url, DESK)
    busy = Page(browser, live_territory_server.url, DESK)
    try:
        for p, login in ((idle, "cell"), (busy, "liaison")):
            p.login(login)
            p.page.goto(f"/events/{event.id}")
            p.page.wait_for_selector("#event-map[data-loaded='1']", timeout=20000)
        busy.page.fill("#log-form textarea[name=text]", "Appel de la mairie en cours")
        db = connect(territory_app.config["CRISIS_DB"])
        try:
            for login in ("cell", "liaison"):
                auth.end_all_sessions(db, territory_app.config["CLOCK"].now(), login, actor="test")
        finally:
            db.conn.close()
        idle.page.wait_for_url("**/login**", timeout=10000)
        busy.page.wait_for_timeout(3000)  # more than a poll: the 401 was seen
        assert f"/events/{event.id}" in busy.page.url and "/login" not in busy.page.url
        assert busy.page.input_value("#log-form textarea[name=text]") == (
            "Appel de la mairie en cours"
        )
    finally:
        idle.close()
        busy.close()


# --- the desk dashboard: a crisis-room screen --------------------------------------------------


def test_desk_dashboard_above_the_fold_and_keyboard_entry(
    territory_app: Flask, browser: Any, live_territory_server: LiveServer
) -> None:
    event = _populate(territory_app)
    p = Page(browser, live_territory_server.url, DESK)
    try:
        problems = _watch(p.page)
        p.login("director")
        p.page.goto(f"/events/{event.id}")
        p.page.wait_for_selector("#event-map[data-loaded='1']", timeout=20000)
        p.page.wait_for_selector("#event-upcoming .late")
        p.page.wait_for_timeout(300)  # the map settles in its final size
        assert p.page.locator("#drill-banner").is_visible()
        _fold_shot(p.page, "live-dashboard-desk")
        for selector in (
            "#event-situation",
            "#event-map",
            "#event-key-figures .key-tiles",
            "#event-key-figures .key-zones",
            "#log-form textarea",
            "#log-form button[type=submit]",
            "#event-upcoming li.late",
        ):
            _inside(p.page, selector, DESK)
        for i in range(3):  # the newest entries
            _inside(p.page, f"#event-log .log-entry >> nth={i}", DESK)
        assert p.page.evaluate("document.documentElement.scrollWidth") <= DESK["width"]

        # Keyboard first: the text has the focus; Alt+D picks "Décision"; Enter inscribes.
        assert p.page.evaluate("document.activeElement.id") == "text"
        p.page.keyboard.type("Évacuation du collège Victor-Hugo décidée")
        p.page.keyboard.press("Alt+d")
        assert p.page.locator("#category-d").is_checked()
        p.page.keyboard.press("Enter")
        confirm = p.page.locator("#log-form .log-confirm")
        confirm.wait_for(state="visible", timeout=5000)
        assert "Inscrit à la main courante" in confirm.inner_text()
        assert "décision" in confirm.inner_text()
        first = p.page.locator("#event-log .log-entry").first
        first.filter(has_text="Évacuation du collège").wait_for(timeout=5000)
        assert "Décision" in first.inner_text()
        # Ready for the next one: focus back in the empty text, category back to the default.
        assert p.page.evaluate("document.activeElement.id") == "text"
        assert p.page.locator("#text").input_value() == ""
        _fold_shot(p.page, "live-dashboard-desk-entry")
        assert p.external == []
        assert problems == [], problems
        # Last: a full-page shot leaves empty style attributes on form fields (Playwright).
        p.shot("live-dashboard-desk-full")
    finally:
        p.close()


# --- the tablet view: a liaison standing up ----------------------------------------------------


def test_tablet_view_for_a_liaison_standing_up(
    territory_app: Flask, browser: Any, live_territory_server: LiveServer
) -> None:
    event = _populate(territory_app)
    p = Page(browser, live_territory_server.url, TABLET)
    try:
        problems = _watch(p.page)
        p.login("liaison")
        p.page.goto(f"/events/{event.id}/liaison")
        p.page.wait_for_selector("#event-map[data-loaded='1']", timeout=20000)
        p.page.wait_for_selector("#event-impact .impact-summary", timeout=20000)
        p.page.wait_for_timeout(300)  # the map settles in its final size
        _fold_shot(p.page, "live-tablet")
        _inside(p.page, "#event-situation", TABLET)
        _inside(p.page, "#event-map", TABLET)
        _inside(p.page, "#event-key-figures .key-tiles", TABLET)
        situation = p.page.inner_text("#event-situation").lower()
        assert "niveau\n3" in situation and "version 1" in situation
        assert "vent du 240° (oso) · 4 m/s" in situation
        form = p.page.locator("#log-form").bounding_box()
        log = p.page.locator("#event-log").bounding_box()
        assert form is not None and log is not None and form["y"] < log["y"]
        assert p.page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]

        # Every control a finger can reach is at least 44 px; nothing hides in a tooltip.
        small = p.page.evaluate(
            """() => Array.from(document.querySelectorAll(
                'main button, main a.btn, main input:not([type=hidden]):not([type=radio]),'
                + ' main select, main textarea, main summary, main label.chip, main .zone-tab,'
                + ' main .leaflet-bar a, main .impact-list th a'))
              .filter(e => e.offsetParent !== null)
              .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height,
                         e.getBoundingClientRect().width])
              .filter(([_, h, w]) => h < 44 || w < 44)"""
        )
        assert small == [], small
        # A title (tooltip) only ever repeats what the element shows.
        hidden_only = p.page.evaluate(
            """() => Array.from(document.querySelectorAll('main [title], main abbr'))
              .filter(e => e.tagName === 'ABBR' || !(e.innerText || '').trim())
              .map(e => e.outerHTML.slice(0, 80))"""
        )
        assert hidden_only == [], hidden_only

        # An entry: a visible confirmation, the log shows it at the top (newest first). The
        # tablet's clock says when the fact happened: the console's (fixed) time.
        p.page.clock.set_fixed_time(territory_app.config["CLOCK"].now())
        p.page.locator("label.chip", has_text="Message reçu").click()
        p.page.fill("#text-c", "Le maire de Lillebonne ouvre le gymnase")
        p.page.click("#log-form button[type=submit]")
        confirm = p.page.locator("#log-form .log-confirm")
        confirm.filter(has_text="Inscrit à la main courante").wait_for(timeout=10000)
        first = p.page.locator("#event-log .log-entry").first
        first.filter(has_text="ouvre le gymnase").wait_for(timeout=10000)
        # Their own checklist items first, ticked here.
        assert p.page.inner_text("#event-checklist h2").startswith("Mes actions")
        item = p.page.locator("#event-checklist li.check-item", has_text="COD").first
        item.locator("button", has_text="Fait").click()
        p.page.locator("#event-checklist li.done", has_text="COD").wait_for(timeout=10000)
        _fold_shot(p.page, "live-tablet-entry")
        # The reports page's download buttons are reachable on the tablet.
        director = territory_app.test_client()
        director.login("director")
        assert director.post(f"/events/{event.id}/reports").status_code == 302
        p.page.goto(f"/events/{event.id}/reports")
        download = p.page.locator("#report-list a", has_text="Télécharger").first
        _inside(p.page, "#report-list a:has-text('Télécharger')", TABLET)
        box = download.bounding_box()
        assert box is not None and box["height"] >= 44
        _fold_shot(p.page, "live-tablet-reports")
        assert p.external == []
        assert problems == [], problems
        p.page.goto(f"/events/{event.id}/liaison")
        p.page.wait_for_selector("#event-map[data-loaded='1']", timeout=20000)
        p.shot("live-tablet-full")
    finally:
        p.close()


# --- the map: readable, with what is drawn named ------------------------------------------------


def test_map_reads_like_a_map(
    territory_app: Flask, browser: Any, live_territory_server: LiveServer
) -> None:
    event = _declare(territory_app)
    _grant(territory_app, event.id, "liaison", "gas-network")
    _grant(territory_app, event.id, "liaison", "gas-assets")
    p = Page(browser, live_territory_server.url, TABLET)
    try:
        problems = _watch(p.page)
        p.login("liaison")
        p.page.goto(f"/events/{event.id}/liaison")
        node = p.page.locator("#event-map")
        p.page.wait_for_selector("#event-map[data-loaded='1'][data-opened='2']", timeout=20000)
        p.page.wait_for_selector("#event-map[data-communes]", timeout=20000)
        assert int(node.get_attribute("data-communes") or 0) >= 40
        labels = p.page.locator("#event-map .commune-label")
        assert labels.count() >= 40 and labels.filter(has_text="Lillebonne").count() == 1
        assert p.page.locator("#event-map .leaflet-control-scale-line").is_visible()
        assert p.page.locator("#event-map .map-north").is_visible()
        assert p.page.locator("#event-map .map-restricted-mark").is_visible()
        legend = p.page.locator("#event-map-legend")
        text = legend.inner_text()
        for expected in (
            "SELS",
            "SEL —",
            "SEI",
            "Source",
            "Points de bouclage",
            "Établissements scolaires",
            "Routes",
            "La Seine",
            "noms",
        ):
            assert expected in text, (expected, text)
        restricted = legend.locator("li.legend-restricted")
        assert restricted.count() == 2
        assert restricted.nth(0).locator(".restricted-mark").inner_text() == "DIFFUSION RESTREINTE"
        # Two opened layers, two colours, each different from the zones'.
        colours = p.page.evaluate(
            """() => [0, 1].map(i => {
                const el = document.querySelector('#event-map path.restricted-' + i);
                return el ? el.getAttribute('stroke') : null; })"""
        )
        assert None not in colours and colours[0] != colours[1], colours
        assert not {c.lower() for c in colours} & {"#b2182b", "#e06000", "#c9a400"}
        # A tap on a point opens its popup (the invisible tap area counts).
        p.page.locator(".leaflet-points-pane path.map-hit").first.click(force=True)
        p.page.wait_for_selector(".leaflet-popup-content strong", timeout=5000)
        _fold_shot(p.page, "live-map-tablet")
        # Full screen for the wall: the panel fills the screen, legend and title included.
        p.page.click("#event-map-panel [data-fullscreen]")
        p.page.wait_for_function(
            "() => document.querySelector('#event-map').getBoundingClientRect().width > 760"
            " && document.querySelector('#event-map-panel').matches('.is-fullscreen')"
        )
        assert p.page.locator("#event-map-panel .map-wall-title").is_visible()
        assert p.page.locator("#event-map-legend").is_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        p.page.screenshot(path=str(SCREENSHOTS / "live-map-fullscreen.png"))
        p.page.click("#event-map-panel [data-fullscreen]")
        p.page.wait_for_function(
            "() => !document.querySelector('#event-map-panel').matches('.is-fullscreen')"
        )
        assert p.external == []
        assert problems == [], problems
    finally:
        p.close()


# --- declaring where it happens ----------------------------------------------------------------


@pytest.mark.parametrize("size", ["desk", "tablet"])
def test_declare_a_point_on_the_map(
    territory_app: Flask, browser: Any, live_territory_server: LiveServer, size: str
) -> None:
    viewport = DESK if size == "desk" else TABLET
    p = Page(browser, live_territory_server.url, viewport)
    try:
        problems = _watch(p.page)
        p.login("director")
        p.page.goto("/events/new?playbook=toxic-release")
        node = p.page.locator("#declare-map")
        p.page.wait_for_selector("#declare-map[data-communes]", timeout=20000)
        assert node.is_visible() and p.page.locator("#lon").is_hidden()  # folded away
        p.page.fill("#title", "Nuage d'origine inconnue — Lillebonne")
        assert p.page.input_value("#site") == ""  # no site: a point or a commune
        # A tap on the map places the point; the readout names the commune it lies in.
        box = node.bounding_box()
        assert box is not None
        node.click(position={"x": box["width"] * 0.45, "y": box["height"] * 0.45})
        read = p.page.locator("#place-read")
        assert read.inner_text().startswith("Point : 49,")
        lon, lat = float(p.page.input_value("#lon")), float(p.page.input_value("#lat"))
        assert 0.3 < lon < 1.0 and 49.35 < lat < 49.75
        assert p.page.locator(".place-pin").count() == 1
        # The wind as a compass point: the arrow is drawn from the point as it is typed.
        wind = p.page.locator("#p_wind_from_deg")
        wind.type("OSO")
        assert node.get_attribute("data-wind-arrow") == "247.5"
        assert p.page.locator("#declare-map path.wind-line").count() == 2
        assert "247,5° (OSO)" in p.page.inner_text(".direction-read")
        # An address from the local table places the point too (the marker follows).
        p.page.fill("#address-q-declare", "rue pasteur bolbec")
        p.page.locator(".address-result").first.click(timeout=10000)
        assert read.inner_text().startswith("Point : 49,") and read.inner_text().endswith("Bolbec")
        assert p.page.input_value("#lon") != "" and p.page.locator(".place-pin").count() == 1
        # A commune from the list moves the marker there and drops the typed point.
        p.page.select_option("#commune", label="Lillebonne")
        assert p.page.input_value("#lon") == "" and "Lillebonne" in read.inner_text()
        p.page.wait_for_timeout(600)  # the map glides to the commune
        node.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.3})
        assert p.page.input_value("#commune") == ""
        node.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        p.page.screenshot(path=str(SCREENSHOTS / f"live-declare-{size}.png"), caret="initial")
        with p.page.expect_navigation():
            p.page.click("#declare-form button[type=submit]:has-text('Déclarer')")
        assert "/events/" in p.page.url
        p.page.wait_for_selector("#event-situation", timeout=20000)
        sub = p.page.inner_text("#event-situation .situation-sub")
        assert "point 49." in sub, sub
        assert "Vent du 247,5° (OSO)" in p.page.inner_text("#event-situation")
        assert p.external == []
        assert problems == [], problems
    finally:
        p.close()
