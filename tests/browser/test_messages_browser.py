"""The message pages in a real browser: the FR-Alert counter follows the text as it is typed
(the server's count, through htmx), and the screenshots of the event's messages page (an alert
emitted, the CAP Update banner after a wind shift, the no-SMTP notice), a draft being edited and
the partner directory, at desk (1366×768) and tablet (820×1180) sizes (tests/screenshots/)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app import events
from app import messages as msgs
from app.db import connect
from tests.browser.conftest import DESK, TABLET, LiveServer, Page
from tests.messages_support import declare_toxic, playbooks, user

pytestmark = pytest.mark.browser


def _world(app: Flask) -> tuple[int, int]:
    """A declared toxic release with the demo directory, an alert emitted then a wind shift
    (an Update is due), and a draft of the update: (event id, draft id)."""
    db = connect(app.config["CRISIS_DB"])
    clock = app.config["CLOCK"]
    toxic = playbooks()["toxic-release"]
    msgs.demo_partners(db, clock.now())
    event = declare_toxic(db, clock.now(), title="FICTIF — fuite d'ammoniac à Port-Jérôme")
    clock.advance(minutes=4)
    alert = msgs.draft(db, clock.now(), event.id, toxic, kind="cap", template="mise-a-l-abri",
                       actor=user(db, "cell"))  # fmt: skip
    msgs.validate(db, clock.now(), alert.id, toxic, actor=user(db, "director"))
    msgs.send(db, clock.now(), alert.id, actor=user(db, "cell"))
    clock.advance(minutes=12)
    events.change_params(
        db,
        clock.now(),
        event.id,
        toxic,
        {"wind_from_deg": 290},
        actor=user(db, "director"),
        reason="Météo-France : vent d'ouest",
    )
    update = msgs.draft(db, clock.now(), event.id, toxic, kind="cap", template="evacuation",
                        actor=user(db, "cell"))  # fmt: skip
    db.conn.close()
    return int(event.id), int(update.id)


def test_counter_and_screens_of_messages_and_partners(
    territory_app: Flask, live_territory_server: LiveServer, browser: Any
) -> None:
    event_id, draft_id = _world(territory_app)
    for size, viewport in (("desk", DESK), ("tablet", TABLET)):
        p = Page(browser, live_territory_server.url, viewport)
        try:
            p.login("cell")
            p.page.goto(f"/events/{event_id}/messages")
            assert p.page.locator(".cap-update-due").is_visible()
            assert p.page.locator(".smtp-off").first.is_visible()
            p.shot(f"messages-page-{size}")

            p.page.goto(f"/messages/{draft_id}")
            counter = p.page.locator("#cbs-count")
            text = "Évacuez « immédiatement » le secteur ouest : " + "suivez les consignes. " * 8
            p.page.fill("#f-cbs", text)
            expected = msgs.cbs_text_count(text)
            p.page.wait_for_function(
                "([pages, enc]) => { const c = document.querySelector('#cbs-count');"
                " return c && c.dataset.pages === String(pages) && c.dataset.encoding === enc; }",
                arg=[expected.pages, expected.encoding],
                timeout=5000,
            )
            assert counter.is_visible()
            p.shot(f"message-draft-{size}")

            p.context.clear_cookies()
            p.login("director")
            p.page.goto("/partners")
            assert p.page.locator("table.partners tbody tr").count() >= 5
            p.shot(f"partners-{size}")
            assert p.external == []
        finally:
            p.close()
