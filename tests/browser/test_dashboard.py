"""The integrated event dashboard and liaison view: map, figures, break-glass panel, log."""

from __future__ import annotations

import pytest

from tests.browser.conftest import DESK, TABLET, Page
from tests.builders import declare_with_grant

pytestmark = pytest.mark.browser


def test_dashboard_and_liaison_view(browser, territory_app, live_territory_server):
    event_id = declare_with_grant(territory_app.test_client)
    for size, viewport in (("desk", DESK), ("tablet", TABLET)):
        p = Page(browser, live_territory_server.url, viewport)
        try:
            p.login("liaison")
            p.page.goto(f"/events/{event_id}")
            p.page.wait_for_selector(
                "#event-map .leaflet-interactive", state="attached", timeout=15000
            )
            p.page.wait_for_selector("#event-impact table, #event-impact .figures", timeout=15000)
            access_panel = p.page.locator("#event-access")
            assert "DIFFUSION RESTREINTE" in access_panel.inner_text()
            assert "Réseau" in access_panel.inner_text() or "gaz" in access_panel.inner_text()
            assert p.page.locator("#drill-banner").count() == 0
            # The granted gas network is drawn on the interactive map, marked as restricted.
            p.page.wait_for_selector("#event-map-opened", timeout=15000)
            assert "DIFFUSION RESTREINTE" in p.page.inner_text("#event-map-opened")
            assert p.page.locator("#event-map path.restricted-feature").count() > 0
            p.shot(f"dashboard-{size}")
            p.page.goto(f"/events/{event_id}/liaison")
            p.page.wait_for_selector(
                "#event-map .leaflet-interactive", state="attached", timeout=15000
            )
            p.page.wait_for_selector("#event-impact table", timeout=15000)
            p.shot(f"liaison-{size}")
            assert p.external == []
        finally:
            p.close()
