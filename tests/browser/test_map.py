"""The map and catalogue pages in a real browser: the territory shows, nothing leaves the origin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import DESK, TABLET, LiveServer, Page

pytestmark = pytest.mark.browser


@pytest.fixture(params=[("desk", DESK), ("tablet", TABLET)], ids=["desk", "tablet"])
def page(request: Any, browser: Any, live_territory_server: LiveServer) -> Iterator[Page]:
    p = Page(browser, live_territory_server.url, request.param[1])
    p.name = request.param[0]  # type: ignore[attr-defined]
    yield p
    p.close()


def test_map_draws_the_territory_offline(page: Page) -> None:
    errors: list[str] = []
    page.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.login("liaison")
    page.page.goto("/map")
    page.page.wait_for_selector("#map[data-ready='1']")
    page.page.wait_for_load_state("networkidle")
    # Canvas renderer: the basemap layers drew something and the layer control lists layers.
    assert page.page.locator(".leaflet-overlay-pane canvas").count() >= 1
    labels = page.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert any("Communes" in t for t in labels) and any("Seveso" in t for t in labels)
    assert not any("gaz" in t.lower() and "réseau" in t.lower() for t in labels)
    # A public overlay loads on demand.
    seveso = page.page.locator("label", has_text="Établissements Seveso").locator("input")
    seveso.dispatch_event("click")  # works with the control collapsed (tablet) or expanded
    page.page.wait_for_load_state("networkidle")
    page.shot(f"map-{page.name}")  # type: ignore[attr-defined]
    assert page.external == []
    assert errors == []


def test_catalogue_page(page: Page) -> None:
    page.login("steward")
    page.page.goto("/catalogue")
    page.page.select_option("#f-theme", "network")
    page.page.wait_for_load_state("networkidle")
    rows = page.page.locator("#catalogue-results tbody tr")
    assert rows.count() == 7
    page.shot(f"catalogue-{page.name}")  # type: ignore[attr-defined]
    page.page.goto("/catalogue/gas-assets")
    assert page.page.locator("#import-form").count() == 1
    page.shot(f"dataset-{page.name}")  # type: ignore[attr-defined]
    assert page.external == []
