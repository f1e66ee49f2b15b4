"""The event's map and impact figures in a real browser, at desk and tablet sizes.

Checks: Leaflet draws the zones, closure points and establishments with no request leaving the
server and no CSP violation; popups are built as text; the SVG displays inside an <img>; the
sort links of the figures work through htmx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app import auth, events
from app.db import connect
from app.playbooks import load_playbooks
from tests.browser.conftest import DESK, SCREENSHOTS, TABLET, LiveServer, Page
from tests.conftest import PROJECT, T0

pytestmark = pytest.mark.browser


@pytest.fixture
def toxic_event(territory_app: Any) -> events.Event:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors
    db = connect(territory_app.config["CRISIS_DB"])
    try:
        actor = auth.get_user_by_login(db, "director")
        return events.declare(
            db,
            T0,
            found["toxic-release"],
            actor=actor,
            title="Fuite toxique FICTIF Chimie",
            site="FICTIF-1",
            params={"wind_from_deg": 240, "wind_speed_ms": 4},
        )
    finally:
        db.conn.close()


@pytest.fixture
def pages(browser: Any, live_territory_server: LiveServer) -> Iterator[dict[str, Page]]:
    made = {
        "desk": Page(browser, live_territory_server.url, DESK),
        "tablet": Page(browser, live_territory_server.url, TABLET),
    }
    yield made
    for p in made.values():
        p.close()


def _watch_console(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


@pytest.mark.parametrize("size", ["desk", "tablet"])
def test_event_map_and_figures(pages: dict[str, Page], toxic_event: events.Event, size: str):
    p = pages[size]
    p.login("liaison")
    problems = _watch_console(p.page)
    p.page.goto(f"/events/{toxic_event.id}/impact")
    p.page.wait_for_selector("#event-map[data-loaded='1']", timeout=20000)
    p.page.wait_for_load_state("networkidle")
    node = p.page.locator("#event-map")
    assert node.get_attribute("data-zones") == "3"
    assert int(node.get_attribute("data-closures") or 0) > 0
    assert int(node.get_attribute("data-establishments") or 0) > 0
    # Three zone polygons (SVG paths in the zones pane), the basemap below them.
    assert p.page.locator(".leaflet-zones-pane path").count() == 3
    assert p.page.locator(".leaflet-overlay-pane path").count() > 10
    assert p.page.locator("#event-map-restricted").is_visible()
    assert "ouvrir l'accès" in p.page.locator("#event-map-restricted").inner_text()
    p.shot(f"impact-map-{size}")
    # A popup is plain text built with textContent.
    p.page.locator(".leaflet-points-pane path").first.click(force=True)
    p.page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    assert p.page.locator(".leaflet-popup-content strong").count() >= 1
    # Sorting the establishments by name through htmx.
    p.page.locator("#impact-establishments th a", has_text="Nom").click()
    p.page.wait_for_selector("#impact-establishments th[aria-sort] a:has-text('Nom')")
    names = p.page.locator("#impact-establishments tbody tr td:first-child").all_inner_texts()
    assert names == sorted(names)
    p.page.locator("#event-impact").scroll_into_view_if_needed()
    p.shot(f"impact-figures-{size}")
    assert p.external == []
    assert problems == [], problems


def test_svg_map_displays_inside_an_img(pages: dict[str, Page], toxic_event: events.Event):
    p = pages["desk"]
    p.login("cell")
    problems = _watch_console(p.page)
    p.page.goto(f"/events/{toxic_event.id}/impact")
    size = p.page.evaluate(
        """(url) => new Promise((resolve) => {
            const img = document.createElement('img');
            img.className = 'svg-check';
            img.onload = () => resolve([img.naturalWidth, img.naturalHeight]);
            img.onerror = () => resolve([0, 0]);
            img.src = url;
            document.querySelector('#event-map-panel').appendChild(img);
        })""",
        f"/events/{toxic_event.id}/map.svg",
    )
    assert size[0] > 500 and size[1] > 300, size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    p.page.locator("img.svg-check").scroll_into_view_if_needed()
    p.page.locator("img.svg-check").screenshot(path=str(SCREENSHOTS / "impact-svg-img.png"))
    # Opened alone, the SVG renders under its own CSP.
    response = p.page.goto(f"/events/{toxic_event.id}/map.svg")
    assert response is not None and response.ok
    assert "style-src 'unsafe-inline'" in response.headers["content-security-policy"]
    p.page.screenshot(path=str(SCREENSHOTS / "impact-svg-alone.png"))
    assert p.external == []
    assert problems == [], problems
