"""Acceptance (issue 15, item 4): a test MBTiles basemap declared in the catalogue is served by
the console and drawn under the territory map and the event map, at desk and tablet sizes, with
no request leaving the origin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import auth, events
from app.db import connect
from app.playbooks import load_playbooks
from tests.basemap_tiles import data_dir_with_basemap
from tests.browser.conftest import DESK, TABLET, LiveServer, Page
from tests.conftest import PROJECT, T0, make_app

pytestmark = pytest.mark.browser


@pytest.fixture
def basemap_app(tmp_path: Path, territory_template: Path) -> Flask:
    return make_app(
        tmp_path, territory_template, CRISIS_DATA=str(data_dir_with_basemap(tmp_path / "data"))
    )


@pytest.fixture
def server(basemap_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(basemap_app) as s:
        yield s


@pytest.fixture
def event(basemap_app: Flask) -> events.Event:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors
    db = connect(basemap_app.config["CRISIS_DB"])
    try:
        return events.declare(
            db,
            T0,
            found["toxic-release"],
            actor=auth.get_user_by_login(db, "director"),
            title="Fuite toxique FICTIF Chimie",
            site="FICTIF-1",
            params={"wind_from_deg": 240, "wind_speed_ms": 4},
        )
    finally:
        db.conn.close()


def _tiles_drawn(page: Any, container: str) -> int:
    page.wait_for_selector(f"{container} .raster-basemap img.leaflet-tile-loaded", timeout=20000)
    page.wait_for_load_state("networkidle")
    return int(
        page.evaluate(
            """(sel) => Array.from(document.querySelectorAll(sel + ' .raster-basemap img'))
                .filter((i) => i.complete && i.naturalWidth === 256).length""",
            container,
        )
    )


@pytest.mark.parametrize(("size", "viewport"), [("desk", DESK), ("tablet", TABLET)])
def test_raster_basemap_under_the_maps(browser: Any, server: LiveServer, event, size, viewport):
    p = Page(browser, server.url, viewport)
    problems: list[str] = []
    p.page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    p.page.on("pageerror", lambda e: problems.append(str(e)))
    tiles: list[str] = []
    p.page.on(
        "response",
        lambda r: tiles.append(r.url) if "/basemaps/" in r.url and r.status == 200 else None,
    )
    try:
        p.login("liaison")
        p.page.goto("/map")
        p.page.wait_for_selector("#map[data-raster='test']")
        assert _tiles_drawn(p.page, "#map") >= 4
        # The tile pane is under the vector overlays (communes outlined, roads, the Seine).
        assert p.page.locator(".leaflet-tile-pane .raster-basemap").count() == 1
        assert p.page.locator(".leaflet-overlay-pane canvas").count() >= 1
        assert "Fond de test" in p.page.locator(".leaflet-control-attribution").inner_text()
        p.shot(f"basemap-map-{size}")

        p.page.goto(f"/events/{event.id}/impact")
        p.page.wait_for_selector("#event-map[data-loaded='1']", timeout=20000)
        assert p.page.locator("#event-map").get_attribute("data-raster") == "test"
        assert _tiles_drawn(p.page, "#event-map") >= 2
        assert p.page.locator(".leaflet-zones-pane path").count() == 3
        p.shot(f"basemap-event-map-{size}")
        assert tiles and all(u.startswith(server.url + "/basemaps/test/") for u in tiles)
        assert p.external == []
        assert problems == [], problems
    finally:
        p.close()
