"""The historical view and the chronology in a browser, at desk and tablet sizes (issue 19)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.clock import iso
from tests.browser.conftest import DESK, SCREENSHOTS, TABLET, LiveServer, Page
from tests.builders import history_story
from tests.conftest import T0


@pytest.mark.parametrize(("size", "viewport"), [("desk", DESK), ("tablet", TABLET)])
def test_history_view_and_timeline(browser: Any, territory_app, size, viewport):
    event_id = history_story(territory_app)["id"]
    with LiveServer(territory_app) as server:
        p = Page(browser, server.url, viewport)
        try:
            p.login("cell")
            at = iso(T0 + timedelta(minutes=5))
            p.page.goto(f"/events/{event_id}/situation?at={at}")
            banner = p.page.locator(".history-banner")
            assert banner.is_visible() and "Vue historique — situation au" in banner.inner_text()
            p.page.wait_for_selector("#event-map[data-loaded='1']", timeout=40000)
            assert "version 1" in p.page.locator("#history-facts").inner_text()
            p.shot(f"history-view-{size}")
            p.page.goto(f"/events/{event_id}/chronologie")
            rows = p.page.locator(".timeline-table tbody tr:not(.timeline-day)")
            everything = rows.count()
            p.page.locator("input[name=kind][value=main_courante]").uncheck()
            p.page.wait_for_function(
                "(n) => document.querySelectorAll("
                "'.timeline-table tbody tr:not(.timeline-day)').length < n",
                arg=everything,
            )
            assert "kind=" in p.page.url  # the filter is in the address (shareable, printable)
            p.shot(f"timeline-{size}")
            p.page.emulate_media(media="print")
            assert not p.page.locator(".timeline-filter").is_visible()
            assert p.page.locator(".print-only").is_visible()
            p.page.screenshot(path=str(SCREENSHOTS / f"timeline-print-{size}.png"), full_page=True)
            if size == "desk":
                p.page.pdf(path=str(SCREENSHOTS / "timeline.pdf"), format="A4")
            assert p.external == []
        finally:
            p.close()
