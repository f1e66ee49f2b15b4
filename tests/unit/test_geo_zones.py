"""Zone geometry: hand-computed cases and properties."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from app.geo import proj
from app.geo.zones import (
    Zone,
    area,
    circle,
    compute_zones,
    corridor,
    covers,
    outer_zone,
    plume,
    plume_half_angle,
    zone_from_geojson,
    zones_from_geojson,
    zones_to_geojson,
)

# A point in the Caux Seine area (Lillebonne), Lambert-93.
CX, CY = 505_000.0, 6_934_000.0
SRC = Point(CX, CY)


def at(bearing_deg: float, dist_m: float) -> Point:
    b = math.radians(bearing_deg)
    return Point(CX + dist_m * math.sin(b), CY + dist_m * math.cos(b))


@dataclass(frozen=True)
class Spec:
    """Stands in for app.playbooks.ZoneSpec (read by attribute only)."""

    id: str
    label: str
    level: str
    family: str
    threshold: str
    shape: str
    effect: str | None = None
    default_m: float | None = None
    calm_below_ms: float | None = None
    half_angle_deg: tuple[float, float] | None = None
    dataset: str | None = None
    section_m: float | None = None
    select_property: str | None = None
    select_param: str | None = None


# -- circle -------------------------------------------------------------------------------------


def test_circle_contains_point_exactly_at_radius_in_every_direction():
    c = circle(SRC, 1000)
    for bearing in [0, 0.5, 13.37, 45, 90, 179.9, 271.25, 359.5]:
        assert c.intersects(at(bearing, 1000.0)), bearing
        assert not c.intersects(at(bearing, 1000.5)), bearing
    assert c.area == pytest.approx(math.pi * 1000**2, rel=1e-4)
    assert c.is_valid


def test_circle_of_zero_radius_is_empty():
    assert circle(SRC, 0).is_empty


# -- plume --------------------------------------------------------------------------------------


def test_wind_from_240_blows_towards_north_east():
    z = plume(SRC, wind_from_deg=240, wind_speed_ms=5, distance_m=3000)
    assert z.contains(at(60, 2000))  # north-east, downwind
    assert not z.intersects(at(240, 2000))  # south-west, upwind
    assert z.is_valid


def test_wind_from_north_plume_points_south():
    z = plume(SRC, wind_from_deg=0, wind_speed_ms=5, distance_m=3000)
    assert z.contains(Point(CX, CY - 2000))
    assert not z.intersects(Point(CX, CY + 2000))
    assert not z.intersects(Point(CX + 2000, CY))
    # The sector's far edge is south: the bounds reach exactly y = CY - 3000.
    assert z.bounds[1] == pytest.approx(CY - 3000, abs=1e-3)


def test_calm_wind_gives_full_circle():
    z = plume(SRC, wind_from_deg=240, wind_speed_ms=0.5, distance_m=2000, calm_below_ms=1.0)
    full = circle(SRC, 2000)
    assert shapely.equals_exact(z.normalize(), full.normalize(), tolerance=1e-6)
    for bearing in range(0, 360, 30):
        assert z.intersects(at(bearing, 1999))


def test_calm_threshold_itself_is_not_calm():
    z = plume(SRC, 240, 1.0, 2000, calm_below_ms=1.0)
    assert not z.intersects(at(240, 1500))


def test_sector_edges_and_radius():
    # Strong wind: half-angle 30° around bearing 60° -> sector 30°..90°.
    z = plume(SRC, 240, 8, 2000, half_angle_deg=(30, 60), calm_below_ms=1)
    assert z.intersects(at(30.05, 1500)) and z.intersects(at(89.95, 1500))
    assert not z.intersects(at(29.9, 1500)) and not z.intersects(at(90.1, 1500))
    assert z.intersects(at(60, 2000))  # exactly at the distance
    assert z.intersects(at(31, 2000))
    assert not z.intersects(at(60, 2001))


def test_source_circle_catches_upwind_neighbours():
    z = plume(SRC, 240, 8, 2000)
    assert z.intersects(at(240, 199))  # 10 % of 2000 m
    assert not z.intersects(at(240, 201))
    small = plume(SRC, 240, 8, 300)
    assert small.intersects(at(240, 49.9))  # minimum 50 m


def test_half_angle_interpolation():
    assert plume_half_angle(1.0, (30, 60), 1.0) == 60
    assert plume_half_angle(3.0, (30, 60), 1.0) == pytest.approx(45)
    assert plume_half_angle(5.0, (30, 60), 1.0) == 30
    assert plume_half_angle(12.0, (30, 60), 1.0) == 30


def test_arc_is_smooth():
    z = plume(SRC, 240, 8, 10_000)
    # Vertices on the far arc: at most 1° apart -> at least 60 for a 60° sector.
    coords = shapely.get_coordinates(z)
    far = [c for c in coords if math.hypot(c[0] - CX, c[1] - CY) > 9_999]
    assert len(far) >= 60


@settings(max_examples=40, deadline=None)
@given(
    wind=st.floats(0, 360, allow_nan=False),
    turn=st.floats(-180, 180, allow_nan=False),
    speed=st.floats(1.5, 15),
)
def test_rotating_the_wind_rotates_the_zone(wind, turn, speed):
    a = plume(SRC, wind, speed, 2500)
    b = plume(SRC, wind + turn, speed, 2500)
    # Bearings turn clockwise, shapely.rotate turns counter-clockwise for positive angles.
    rotated = shapely.affinity.rotate(a, -turn, origin=(CX, CY))
    assert a.area == pytest.approx(b.area, rel=1e-3)
    assert rotated.symmetric_difference(b).area < 1e-3 * b.area


# -- corridor and area --------------------------------------------------------------------------


def test_corridor_keeps_the_section_around_the_source():
    line = LineString([(CX - 5000, CY), (CX + 5000, CY)])
    z = corridor([line], SRC, section_m=2000, width_m=100)
    assert z.intersects(Point(CX + 999, CY + 99))
    assert z.intersects(Point(CX + 1000 + 99, CY))  # round cap
    assert not z.intersects(Point(CX + 1200, CY))
    assert not z.intersects(Point(CX, CY + 101))
    # Area: a 2000 m x 200 m band plus two half discs.
    assert z.area == pytest.approx(2000 * 200 + math.pi * 100**2, rel=1e-3)


def test_corridor_without_line_near_source_is_source_circle():
    far = LineString([(CX + 50_000, CY), (CX + 60_000, CY)])
    z = corridor([far], SRC, 2000, 150)
    assert z.intersects(at(10, 149))
    assert not z.intersects(at(10, 151))


def test_area_selects_extents_reached_by_level_multi_part():
    polys = [box(0, 0, 10, 10), box(100, 0, 110, 10), box(200, 0, 210, 10)]
    props = [{"seine_level_m": 8.5}, {"seine_level_m": 9.0}, {"seine_level_m": 9.5}]
    z = area(polys, props, "seine_level_m", 9.0)
    assert z.geom_type == "MultiPolygon"
    assert len(z.geoms) == 2
    assert z.area == pytest.approx(200)
    assert area(polys, props, "seine_level_m", 8.0).is_empty
    assert area(polys, [{}, {"seine_level_m": "x"}, {}], "seine_level_m", 99).is_empty


# -- compute_zones ------------------------------------------------------------------------------

TOXIC = [
    Spec("z1", "Létale significative", "red", "toxic", "SELS", "plume", "toxic.SELS", 500),
    Spec("z2", "Létale", "orange", "toxic", "SEL", "plume", "toxic.SEL", 1000),
    Spec("z3", "Irréversible", "yellow", "toxic", "SEI", "plume", "toxic.SEI", 2000),
]


def test_distances_come_from_site_else_playbook():
    effects = {"toxic": {"SELS": 900, "SEI": 3800}}
    zones = compute_zones(
        TOXIC[::-1], SRC, {"wind_from_deg": 240, "wind_speed_ms": 4}, effects, None, None
    )
    assert [z.id for z in zones] == ["z1", "z2", "z3"]  # worst first
    got = {z.id: (z.distance_m, z.distance_source) for z in zones}
    assert got == {"z1": (900, "site"), "z2": (1000, "playbook"), "z3": (3800, "site")}
    assert zones[0].params["wind_from_deg"] == 240


def test_milder_zone_contains_worse_one_of_same_family():
    # Inconsistent data: the SELS distance exceeds the SEL default.
    effects = {"toxic": {"SELS": 1500}}
    zones = compute_zones(
        TOXIC, SRC, {"wind_from_deg": 240, "wind_speed_ms": 4}, effects, None, None
    )
    z1, z2, z3 = zones
    assert covers(z2.geometry, z1.geometry)
    assert covers(z3.geometry, z2.geometry)
    assert z1.geometry.difference(z2.geometry).area < 1e-6
    assert z2.enlarged_by == ("z1",)
    assert z3.enlarged_by == ()
    assert outer_zone(zones) is z3.geometry


def test_other_families_are_not_merged():
    specs = [
        Spec("t", "Thermique", "red", "thermal", "8kW", "circle", "thermal.8kW", 300),
        Spec("x", "Toxique", "yellow", "toxic", "SEI", "plume", None, 2000),
    ]
    zones = compute_zones(specs, SRC, {"wind_from_deg": 0, "wind_speed_ms": 6}, None, None, None)
    assert zones[1].enlarged_by == ()
    assert not zones[1].geometry.covers(zones[0].geometry)


def test_corridor_and_area_specs():
    pipe = LineString([(CX - 5000, CY), (CX + 5000, CY)])
    flood = [(box(CX, CY, CX + 100, CY + 100), {"seine_level_m": 8.0})]
    specs = [
        Spec(
            "c",
            "Canalisation",
            "red",
            "thermal",
            "8kW",
            "corridor",
            None,
            80,
            dataset="gas-transport",
            section_m=1000,
        ),
        Spec(
            "f",
            "Inondation",
            "orange",
            "flood",
            "crue",
            "area",
            None,
            None,
            dataset="flood-extents",
            select_property="seine_level_m",
            select_param="seine_level_m",
        ),
    ]
    zones = compute_zones(
        specs,
        SRC,
        {"seine_level_m": 8.2},
        None,
        lambda ds: [pipe],
        lambda ds: flood,
    )
    c, f = zones
    assert c.geometry.area == pytest.approx(1000 * 160 + math.pi * 80**2, rel=1e-3)
    assert f.geometry.area == pytest.approx(10_000)
    assert f.distance_source == "data" and f.params == {"seine_level_m": 8.2}
    with pytest.raises(ValueError, match="seine_level_m"):
        compute_zones(specs[1:], SRC, {}, None, None, lambda ds: flood)


def test_missing_distance_is_an_error():
    spec = Spec("z", "Z", "red", "toxic", "SELS", "circle", "toxic.SELS", None)
    with pytest.raises(ValueError, match="default_m"):
        compute_zones([spec], SRC, {}, {}, None, None)


# -- GeoJSON round trip -------------------------------------------------------------------------


def test_zones_geojson_round_trip():
    zones = compute_zones(TOXIC, SRC, {"wind_from_deg": 200, "wind_speed_ms": 3}, None, None, None)
    fc = zones_to_geojson(zones)
    text = json.dumps(fc)  # JSON-serialisable
    feat = fc["features"][0]
    assert feat["properties"]["level"] == "red"
    assert feat["properties"]["params"]["wind_from_deg"] == 200
    lon, lat = feat["geometry"]["coordinates"][0][0]
    assert -1 < lon < 1.5 and 49 < lat < 50
    back = zones_from_geojson(json.loads(text))
    for a, b in zip(zones, back, strict=True):
        assert isinstance(b, Zone)
        assert (a.id, a.level, a.distance_m, a.params) == (b.id, b.level, b.distance_m, b.params)
        assert a.geometry.symmetric_difference(b.geometry).area < 1e-4 * a.geometry.area
    assert zone_from_geojson(feat).id == "z1"


def test_projection_round_trip():
    x, y = proj.lonlat_to_l93(0.5356, 49.5197)
    assert 510_000 < x < 530_000 and 6_930_000 < y < 6_945_000
    p = proj.to_wgs84(proj.to_l93(Point(0.5356, 49.5197)))
    assert p.x == pytest.approx(0.5356, abs=1e-9) and p.y == pytest.approx(49.5197, abs=1e-9)
    g = proj.shape_to_geojson(Point(0.123456789, 49.1), precision=6)
    assert g == {"type": "Point", "coordinates": [0.123457, 49.1]}
    assert proj.geojson_to_shape({"type": "Feature", "geometry": g, "properties": {}}).x == 0.123457
