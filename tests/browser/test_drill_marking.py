"""Every page of a drill carries the red EXERCICE banner: the drill's own pages and every event
page that exists under /events/<id>… (listed from the app's URL map, so new pages are covered)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import DESK, TABLET, LiveServer, Page

pytestmark = pytest.mark.browser

TOXIC = "toxic-fictif-port-jerome"


def event_pages(app: Any, event_id: int) -> list[str]:
    """GET routes taking only the event id, under /events/ and /drills/."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or set(rule.arguments) != {"event_id"}:
            continue
        if not rule.rule.startswith(("/events/", "/drills/")):
            continue
        if rule.rule.endswith((".pdf", ".xml", ".json", ".geojson", ".csv", ".png", ".svg")):
            continue  # files, checked elsewhere (PDF text per page, CAP status)
        urls.append(rule.build({"event_id": event_id}, append_unknown=False)[1])
    return sorted(set(urls))


def banner_on(p: Page, url: str) -> tuple[int, bool]:
    response = p.page.goto(url)
    p.page.wait_for_load_state("networkidle")
    banner = p.page.locator("#drill-banner")
    marked = banner.count() == 1 and banner.is_visible() and "EXERCICE" in banner.inner_text()
    return (response.status if response else 0), marked


def test_every_drill_page_shows_the_exercice_banner(browser, live_territory_server: LiveServer):
    director = Page(browser, live_territory_server.url, DESK)
    player = Page(browser, live_territory_server.url, TABLET)
    try:
        director.login("exercise")
        director.page.goto("/drills/")
        director.shot("drills-list-desk")
        director.page.check(f"input[name=scenario][value={TOXIC}]")
        director.page.click("#drill-start button[type=submit]")
        director.page.wait_for_load_state("networkidle")
        event_id = int(director.page.url.rstrip("/").split("/")[-1])
        director.shot("drill-detail-desk")

        player.login("cell")
        player.page.goto(f"/drills/{event_id}")
        player.page.click("#inject-alerte-exploitant button[type=submit]")
        player.page.wait_for_load_state("networkidle")
        player.shot("drill-detail-player-tablet")

        urls = event_pages(live_territory_server.app, event_id)
        assert f"/drills/{event_id}" in urls and f"/events/{event_id}" in urls
        unmarked = []
        for url in urls:
            # The director of exercise reads every event page; the after-action report is
            # for the exercise role and directors; fall back to a player for any other page.
            status, marked = banner_on(director, url)
            if status == 403:
                status, marked = banner_on(player, url)
            if status == 404 and url.endswith("/grants/new"):
                url += "?dataset=gas-network"  # the form needs the dataset it opens
                status, marked = banner_on(player, url)
            assert status == 200, (url, status)
            if not marked:
                unmarked.append(url)
            name = url.strip("/").replace("/", "-").replace("?", "-").replace("=", "-")
            director.shot(f"drill-page-{name}")
        assert unmarked == []

        director.page.goto(f"/drills/{event_id}")
        director.page.click("#real-emergency button[type=submit]")
        director.page.wait_for_load_state("networkidle")
        director.shot("drill-stopped-desk")
        status, marked = banner_on(director, f"/drills/{event_id}/after-action")
        assert status == 200 and marked
        director.shot("drill-after-action-desk")
        assert director.external == [] and player.external == []
    finally:
        director.close()
        player.close()
