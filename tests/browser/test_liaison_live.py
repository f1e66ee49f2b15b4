"""A liaison officer on a tablet sees a new main-courante entry within 10 s, untouched.

Also takes the screenshots of the desk dashboard and the liaison view at desk (1366×768) and
tablet (820×1180) sizes (tests/screenshots/, git-ignored).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask

from app import auth, events
from app.db import connect
from tests.browser.conftest import DESK, TABLET, Page
from tests.web.test_events import declare

pytestmark = pytest.mark.browser


def _write(app: Flask, event_id: int, login: str, text: str, category: str = "information") -> None:
    db = connect(app.config["CRISIS_DB"])
    try:
        actor = auth.get_user_by_login(db, login)
        assert actor is not None
        events.add_log(
            db, app.config["CLOCK"].now(), event_id, actor=actor, category=category, text=text
        )
    finally:
        db.conn.close()


def test_liaison_sees_a_new_entry_within_10_seconds(app: Flask, tablet: Page) -> None:
    event = declare(app)
    tablet.login("liaison")
    tablet.page.goto(f"/events/{event.id}/liaison")
    tablet.page.wait_for_selector("#event-log .log-entry")
    assert tablet.page.locator("#event-log .log-entry").count() == 2

    started = time.monotonic()
    _write(app, event.id, "cell", "Le SDIS confirme un nuage vers Lillebonne", "message reçu")
    entry = tablet.page.locator("#event-log .log-entry", has_text="nuage vers Lillebonne")
    entry.wait_for(state="visible", timeout=10_000)
    assert time.monotonic() - started < 10
    # Newest first, and no duplicate after further polls.
    tablet.page.wait_for_timeout(5_500)
    assert tablet.page.locator("#event-log .log-entry").count() == 3
    first = tablet.page.locator("#event-log .log-entry").first
    assert "nuage vers Lillebonne" in first.inner_text()
    assert tablet.external == []


def test_correction_strikes_through_live(app: Flask, tablet: Page) -> None:
    event = declare(app)
    tablet.login("liaison")
    tablet.page.goto(f"/events/{event.id}/liaison")
    _write(app, event.id, "cell", "3 blessés")
    tablet.page.locator(".log-entry", has_text="3 blessés").wait_for(timeout=10_000)
    db = connect(app.config["CRISIS_DB"])
    wrong = events.last_log_id(db, event.id)
    cell = auth.get_user_by_login(db, "cell")
    assert cell is not None
    events.add_log(
        db, app.config["CLOCK"].now(), event.id, actor=cell, category="information",
        text="2 blessés", corrects_id=wrong,
    )  # fmt: skip
    db.conn.close()
    tablet.page.locator(f"#entry-{wrong} del").wait_for(timeout=10_000)


def _populate(app: Flask) -> events.Event:
    event = declare(app, drill=True, title="Fuite d'ammoniac — FICTIF-1")
    clock = app.config["CLOCK"]
    clock.advance(minutes=7)
    _write(app, event.id, "cell", "Appel de l'exploitant : fuite sur la ligne 3", "message reçu")
    _write(app, event.id, "director", "Déclenchement du PPI demandé au préfet", "décision")
    db = connect(app.config["CRISIS_DB"])
    director = auth.get_user_by_login(db, "director")
    assert director is not None
    items = events.checklist(db, event.id)
    events.tick_item(db, clock.now(), event.id, items[0].id, actor=director, note="PPI déclenché")
    clock.advance(minutes=6)
    events.change_params(
        db,
        clock.now(),
        event.id,
        app.extensions["library"].playbooks["toxic-release"],
        {"wind_from_deg": 290},
        actor=director,
    )
    db.conn.close()
    _write(app, event.id, "liaison", "Le COD a reçu la zone retenue", "message émis")
    return event


@pytest.mark.parametrize("size", ["desk", "tablet"])
def test_screenshots(app: Flask, browser: Any, live_server: Any, size: str) -> None:
    event = _populate(app)
    viewport = DESK if size == "desk" else TABLET
    for login, url, name in [
        ("director", f"/events/{event.id}", "dashboard"),
        ("liaison", f"/events/{event.id}/liaison", "liaison"),
    ]:
        page = Page(browser, live_server.url, viewport)
        try:
            page.login(login)
            page.page.goto(url)
            page.page.wait_for_selector("#event-upcoming .late")
            page.page.wait_for_selector("#event-log .log-entry")
            assert page.page.locator("#drill-banner").is_visible()
            page.shot(f"event-{name}-{size}")
            # No horizontal scrolling at either size.
            width = page.page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], (name, width)
            assert page.external == []
        finally:
            page.close()
