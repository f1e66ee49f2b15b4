"""app.situation: layer roles, event zones, the one impact analysis, the map spec."""

from __future__ import annotations

from typing import Any

import pytest
from shapely.geometry import box

from app import auth, catalogue, events, records, situation
from app.db import connect, transaction
from app.geo.index import SpatialIndex
from app.geo.zones import area
from app.playbooks import load_playbooks
from tests.conftest import PROJECT, T0


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Any]:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors, errors
    return found


@pytest.fixture
def tdb(territory_app: Any) -> Any:
    db = connect(territory_app.config["CRISIS_DB"])
    yield db
    db.conn.close()


@pytest.fixture
def index(tdb: Any) -> SpatialIndex:
    return SpatialIndex(
        lambda slug: catalogue.layer_data(tdb, slug), lambda slug: catalogue.revision_of(tdb, slug)
    )


def declare(db: Any, playbooks: dict[str, Any], kind: str, **kw: Any) -> events.Event:
    actor = auth.get_user_by_login(db, "director")
    return events.declare(db, T0, playbooks[kind], actor=actor, title=kw.pop("title", kind), **kw)


@pytest.mark.parametrize(
    ("slug", "theme", "geometry", "role"),
    [
        ("population-grid", "population", "Polygon", "population_grid"),
        ("communes", "reference", "MultiPolygon", "communes"),
        ("schools", "population", "Point", "establishments"),
        ("health-care", "population", "Point", "establishments"),
        ("gas-network", "network", "LineString", "network_lines"),
        ("gas-transport", "network", "LineString", "network_lines"),
        ("power-assets", "network", "Point", "network_assets"),
        ("roads", "reference", "LineString", "roads"),
        ("vulnerable-persons", "population", "Point", "other"),
        ("plant-inventory", "industrial", "Point", "other"),
        ("seine", "reference", "LineString", None),
        ("territory", "reference", "MultiPolygon", None),
        ("flood-extents", "reference", "MultiPolygon", None),
    ],
)
def test_layer_role(slug: str, theme: str, geometry: str, role: str | None) -> None:
    assert situation.layer_role(slug, theme, geometry) == role


def test_layer_specs_of_the_demo_catalogue(tdb: Any) -> None:
    specs = {s.slug: s for s in situation.layer_specs(tdb)}
    assert specs["population-grid"].role == "population_grid"
    assert "synthetic" in specs["population-grid"].source
    assert specs["vulnerable-persons"].sensitivity == "personal"
    assert "seine" not in specs and "territory" not in specs


def test_area_honours_select_op_and_margin() -> None:
    polys = [box(0, 0, 10, 10), box(100, 0, 110, 10), box(200, 0, 210, 10)]
    props = [{"v": 8.5}, {"v": 9.0}, {"v": 9.5}]
    assert area(polys, props, "v", 9.0).area == pytest.approx(200)
    assert area(polys, props, "v", 9.0, "<=", 0.5).area == pytest.approx(300)
    assert area(polys, props, "v", 9.0, "==").area == pytest.approx(100)
    assert area(polys, props, "v", 9.0, ">=").area == pytest.approx(200)
    with pytest.raises(ValueError):
        area(polys, props, "v", 9.0, "<")


def test_event_zones_and_impact(tdb: Any, index: SpatialIndex, playbooks: Any) -> None:
    event = declare(
        tdb,
        playbooks,
        "toxic-release",
        site="FICTIF-1",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
    )
    stored = records.latest_zones(tdb, event.id)
    zones = situation.event_zones(stored)
    assert [z.level for z in zones] == ["red", "orange", "yellow"]
    impact = situation.event_impact(tdb, index, event, stored)
    assert [z.id for z in impact.zones] == [z.id for z in zones]
    assert impact.outer.population is not None and impact.outer.population["total"] > 0
    restricted = {r["dataset"] for r in impact.outer.restricted}
    assert {"plant-inventory", "vulnerable-persons", "gas-network"} <= restricted
    opened = situation.event_impact(tdb, index, event, stored, {"plant-inventory"})
    assert "plant-inventory" not in {r["dataset"] for r in opened.outer.restricted}
    assert opened.outer.other_items["plant-inventory"].to_list()


def test_an_analysis_serves_every_view_until_the_zones_or_the_data_change(
    tdb: Any, index: SpatialIndex, playbooks: Any
) -> None:
    """When the zones change every open view asks for the figures: the same zones over the same
    data are analysed once; new zones, another set of opened layers or a new revision of a
    dataset make a new analysis."""
    event = declare(
        tdb, playbooks, "toxic-release", site="FICTIF-1",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
    )  # fmt: skip
    stored = records.latest_zones(tdb, event.id)
    first = situation.event_impact(tdb, index, event, stored)
    assert situation.event_impact(tdb, index, event, stored) is first
    opened = situation.event_impact(tdb, index, event, stored, {"plant-inventory"})
    assert opened is not first and "plant-inventory" in opened.outer.other_items
    director = auth.get_user_by_login(tdb, "director")
    assert director is not None
    events.change_params(
        tdb, T0, event.id, playbooks["toxic-release"], {"wind_from_deg": 60}, actor=director
    )
    shifted = records.latest_zones(tdb, event.id)
    again = situation.event_impact(tdb, index, event, shifted)
    assert again is not first and shifted is not None and shifted["version"] == 2
    with transaction(tdb):
        tdb.execute("UPDATE datasets SET revision = revision + 1 WHERE slug = 'schools'")
    assert situation.event_impact(tdb, index, event, shifted) is not again


def test_map_spec_draws_public_layers_and_marks_restricted_ones(
    tdb: Any, index: SpatialIndex, playbooks: Any
) -> None:
    event = declare(
        tdb,
        playbooks,
        "toxic-release",
        site="FICTIF-1",
        drill=True,
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
    )
    stored = records.latest_zones(tdb, event.id)
    spec = situation.event_map_spec(tdb, index, event, stored)
    assert spec.is_drill and not spec.is_restricted
    assert [z.level for z in spec.zones] == ["red", "orange", "yellow"]
    assert spec.wind_from_deg == 240 and spec.wind_speed_ms == 4
    titles = {layer.title for layer in spec.layers}
    assert {"Communes", "La Seine", "Routes principales", "Établissements scolaires"} <= titles
    assert not any(layer.restricted for layer in spec.layers)
    assert spec.closure_points
    feats = list(catalogue.features(tdb, "plant-inventory"))
    spec = situation.event_map_spec(
        tdb, index, event, stored, open_layers={"plant-inventory": feats}
    )
    assert spec.is_restricted
    drawn = [layer for layer in spec.layers if layer.restricted]
    assert len(drawn) == 1 and len(drawn[0].geometries) > 0


def test_event_without_zones_still_has_a_map_and_an_impact(
    tdb: Any, index: SpatialIndex, playbooks: Any
) -> None:
    event = declare(
        tdb, playbooks, "seine-flood", point=[0.55, 49.48], params={"seine_level_m": 9.0}
    )
    tdb.execute("DROP TRIGGER event_zones_no_delete")  # zones are append-only: force the case
    tdb.execute("DELETE FROM event_zones WHERE event_id = ?", [event.id])
    stored = records.latest_zones(tdb, event.id)
    assert stored is None and situation.event_zones(stored) == []
    impact = situation.event_impact(tdb, index, event, stored)
    assert impact.zones == [] and impact.closure_points == []
    spec = situation.event_map_spec(tdb, index, event, stored)
    x0, y0, x1, y1 = spec.extent
    assert x1 - x0 >= 6000 and y1 - y0 >= 6000
    fc = situation.zones_collection(event, stored)
    assert fc["features"] == [] and fc["version"] is None
