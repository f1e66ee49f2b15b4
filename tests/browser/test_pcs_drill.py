"""Acceptance of the response boards in a browser: a toxic-release drill where the register is
opened (second director, TOTP), the cell works the call list, a CARE opens and fills, and after
the grant expires the call board shows no name, phone or address (desk and tablet)."""

from __future__ import annotations

import json

import pytest

from app.db import connect
from tests.browser.conftest import DESK, TABLET, Page
from tests.builders import open_register

pytestmark = pytest.mark.browser


def personal_values(app) -> set[str]:
    db = connect(app.config["CRISIS_DB"])
    out = set()
    for r in db.query(
        "SELECT f.properties FROM features f JOIN datasets d ON d.id = f.dataset_id"
        " WHERE d.slug = 'vulnerable-persons'"
    ):
        p = json.loads(r["properties"])
        out.update(v for k, v in p.items() if k in ("name", "address", "phone") and v)
    db.conn.close()
    return out


def test_call_campaign_and_care_in_a_drill(browser, territory_app, live_territory_server):
    event_id = open_register(territory_app, territory_app.test_client)
    secrets = personal_values(territory_app)
    p = Page(browser, live_territory_server.url, DESK)
    try:
        p.login("director")
        p.page.goto(f"/events/{event_id}/calls")
        rows = p.page.locator("#event-calls tr.call-row")
        assert rows.count() >= 3
        assert "DIFFUSION RESTREINTE" in p.page.inner_text("#event-calls")
        assert any(s in p.page.inner_text("#event-calls") for s in secrets)  # names shown
        for i in range(2):
            # The status forms go through the tablet's queue (offline.js), then the list reloads.
            row = p.page.locator("#event-calls tr.call-row:not(.status-evacue)").first
            row.locator("select[name=status]").select_option("evacue")
            row.locator("button[type=submit]").click()
            p.page.locator("#event-calls tr.status-evacue").nth(i).wait_for(timeout=15000)
        p.shot("pcs-calls-granted-desk")
        p.page.goto(f"/events/{event_id}/centres")
        p.page.locator("#centre-DEMO-CARE-01 button", has_text="Ouvrir").click()
        p.page.wait_for_selector("#centre-DEMO-CARE-01 input[name=arrivals]")
        p.page.fill("#a-DEMO-CARE-01", "120")
        p.page.locator("#centre-DEMO-CARE-01 .centre-count button").click()
        p.page.locator("#centre-DEMO-CARE-01", has_text="120 présentes").wait_for(timeout=15000)
        p.shot("pcs-centres-desk")
        p.page.goto(f"/events/{event_id}")
        p.page.wait_for_selector("#event-map[data-loaded='1']", timeout=15000)
        assert p.page.get_attribute("#event-map", "data-centres") == "1"
        panel = p.page.inner_text("#event-response")
        assert "évacué" in panel and "120" in panel
        p.shot("pcs-dashboard-desk")
        assert p.external == []
    finally:
        p.close()

    territory_app.config["CLOCK"].advance(minutes=61)  # the grant has expired
    for size, viewport in (("desk", DESK), ("tablet", TABLET)):
        p = Page(browser, live_territory_server.url, viewport)
        try:
            p.login("director")
            p.page.goto(f"/events/{event_id}/calls")
            text = p.page.inner_text("#event-calls")
            assert "identifiants et statuts" in text and "évacué" in text
            html = p.page.content()
            assert not [s for s in secrets if s in html]
            p.shot(f"pcs-calls-expired-{size}")
            p.page.goto(f"/events/{event_id}/liaison")
            p.page.wait_for_selector("#event-response")
            assert "120" in p.page.inner_text("#event-response")
            assert not [s for s in secrets if s in p.page.content()]
            p.shot(f"pcs-liaison-{size}")
            assert p.external == []
        finally:
            p.close()
