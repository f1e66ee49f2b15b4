"""Zones, impact, map SVG and printable extract of an event, through the web layer.

Hand-computed cases: the zones are checked against the plant's own effect distances and simple
trigonometry from the source (bearings clockwise from north, wind *from* 240° blows towards 60°).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from typing import Any

import pytest
import shapely
from flask import Flask
from pyproj import Geod
from shapely.geometry import Point, shape

from app import auth, catalogue, events
from app.db import connect, rows
from app.geo import proj
from app.playbooks import load_playbooks
from app.web.geoindex import get_index
from tests.conftest import PROJECT, T0

READERS = ("director", "cell", "liaison", "exercise")
REFUSED = ("admin", "steward")


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Any]:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors, errors
    return found


def declare(app: Flask, playbooks: dict[str, Any], kind: str, **kw: Any) -> events.Event:
    db = connect(app.config["CRISIS_DB"])
    try:
        actor = auth.get_user_by_login(db, "director")
        assert actor is not None
        return events.declare(
            db, T0, playbooks[kind], actor=actor, title=kw.pop("title", kind), **kw
        )
    finally:
        db.conn.close()


@pytest.fixture
def toxic(territory_app: Flask, playbooks: dict[str, Any]) -> events.Event:
    return declare(
        territory_app,
        playbooks,
        "toxic-release",
        site="FICTIF-1",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
    )


def login(app: Flask, role: str = "cell") -> Any:
    client = app.test_client()
    client.login(role)
    return client


def source_l93(event: events.Event) -> Point:
    x, y = proj.lonlat_to_l93(event.lon, event.lat)
    return Point(float(x), float(y))


def at(src: Point, bearing: float, dist: float) -> Point:
    b = math.radians(bearing)
    return Point(src.x + dist * math.sin(b), src.y + dist * math.cos(b))


def zone_geoms(fc: dict[str, Any]) -> dict[str, Any]:
    return {f["properties"]["id"]: proj.to_l93(shape(f["geometry"])) for f in fc["features"]}


# -- zones: hand-computed cases ----------------------------------------------------------------


def test_toxic_release_wind_from_240_puts_the_zones_north_east(territory_app, toxic):
    client = login(territory_app)
    response = client.get(f"/api/v1/events/{toxic.id}/zones")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    fc = response.get_json()
    assert fc["type"] == "FeatureCollection"
    assert [f["properties"]["level"] for f in fc["features"]] == ["red", "orange", "yellow"]
    site = events.get_site(connect(territory_app.config["CRISIS_DB"]), "FICTIF-1")
    effects = site["effects"]["toxic"]
    src = source_l93(toxic)
    geoms = zone_geoms(fc)
    for f in fc["features"]:
        p = f["properties"]
        assert p["family"].startswith("Effets toxiques")
        assert p["threshold"] in ("SELS", "SEL", "SEI")
        assert p["distance_source"] == "site"
        assert p["distance_m"] == pytest.approx(effects[p["threshold"]])
        assert p["parameters"]["wind_from_deg"] == 240
        assert p["parameters"]["wind_speed_ms"] == 4
        assert p["params"]["wind_from_deg"] == 240
        d = p["distance_m"]
        g = geoms[p["id"]]
        # Downwind (towards 60°) at 99 % of the distance: inside; upwind at half: outside.
        assert g.contains(at(src, 60, 0.99 * d))
        assert g.contains(at(src, 60 + 25, 0.9 * d))  # within the 4 m/s half-angle
        assert not g.contains(at(src, 240, 0.5 * d))
        assert not g.contains(at(src, 60, 1.02 * d))
        assert not g.contains(at(src, 150, 0.5 * d))  # abeam, outside the sector
        c = g.centroid  # its true (geodesic) bearing from the source: the wind's, downwind
        (lon0, lon1), (lat0, lat1) = proj.l93_to_lonlat([src.x, c.x], [src.y, c.y])
        bearing = Geod(ellps="GRS80").inv(lon0, lat0, lon1, lat1)[0] % 360
        assert bearing == pytest.approx(60, abs=1.0)


def test_calm_wind_gives_a_full_circle(territory_app, playbooks):
    event = declare(
        territory_app,
        playbooks,
        "toxic-release",
        site="FICTIF-1",
        params={"wind_from_deg": 240, "wind_speed_ms": 0.5},
    )
    fc = login(territory_app).get(f"/api/v1/events/{event.id}/zones").get_json()
    src = source_l93(event)
    for f in fc["features"]:
        d = f["properties"]["distance_m"]
        assert f["properties"]["params"]["calm"] is True
        g = proj.to_l93(shape(f["geometry"]))
        for bearing in range(0, 360, 30):
            assert g.contains(at(src, bearing, 0.99 * d))
            assert not g.contains(at(src, bearing, 1.01 * d))
        assert g.area == pytest.approx(math.pi * d * d, rel=2e-3)


def test_flood_vigilance_zone_is_the_forecast_level_plus_half_a_metre(territory_app, playbooks):
    event = declare(
        territory_app, playbooks, "seine-flood", point=[0.55, 49.48], params={"seine_level_m": 9.0}
    )
    fc = login(territory_app).get(f"/api/v1/events/{event.id}/zones").get_json()
    by_id = {f["properties"]["id"]: f["properties"] for f in fc["features"]}
    assert by_id["flooded"]["distance_source"] == "data"
    assert by_id["flood-watch"]["params"] == {"seine_level_m": 9.0, "select_margin": 0.5}
    db = connect(territory_app.config["CRISIS_DB"])
    extents = {
        f["properties"]["seine_level_m"]: proj.to_l93(shape(f["geometry"]))
        for f in catalogue.features(db, "flood-extents")
    }
    geoms = zone_geoms(fc)
    red_expected = shapely.union_all([g for lvl, g in extents.items() if lvl <= 9.0])
    yellow_expected = shapely.union_all([g for lvl, g in extents.items() if lvl <= 9.5])
    assert geoms["flooded"].area == pytest.approx(red_expected.area, rel=1e-4)
    assert geoms["flood-watch"].area == pytest.approx(yellow_expected.area, rel=1e-4)
    assert geoms["flood-watch"].area > geoms["flooded"].area
    assert geoms["flooded"].geom_type == "MultiPolygon"  # multi-part extents stay multi-part


# -- impact ------------------------------------------------------------------------------------


def test_impact_per_zone_is_cumulative_and_lists_public_layers(territory_app, toxic):
    response = login(territory_app, "liaison").get(f"/api/v1/events/{toxic.id}/impact")
    assert response.status_code == 200
    data = response.get_json()
    assert data["event"] == toxic.id
    zones = data["zones"]
    assert [z["level"] for z in zones] == ["red", "orange", "yellow"]
    pops = [z["population"]["total"] for z in zones]
    assert pops == sorted(pops)  # nested zones: each milder zone holds the worse ones
    assert "200 m" in zones[0]["population"]["method"]
    items = zones[-1]["establishments"]["items"]
    assert items, "the SEI zone reaches schools of Port-Jérôme"
    assert [i["distance_m"] for i in items] == sorted(i["distance_m"] for i in items)
    assert {"name", "type", "capacity", "distance_m"} <= set(items[0])
    for z in zones:
        for r in z["restricted"]:
            assert r["request_access"] == (f"/events/{toxic.id}/grants/new?dataset={r['dataset']}")


def test_closure_points_lie_on_the_outer_boundary_and_on_a_road_one_per_crossing(
    territory_app, toxic
):
    client = login(territory_app)
    data = client.get(f"/api/v1/events/{toxic.id}/impact").get_json()
    fc = client.get(f"/api/v1/events/{toxic.id}/zones").get_json()
    outer = shapely.union_all(list(zone_geoms(fc).values()))
    boundary = outer.boundary
    db = connect(territory_app.config["CRISIS_DB"])
    roads = {
        f["id"]: (f, proj.to_l93(shape(f["geometry"]))) for f in catalogue.features(db, "roads")
    }
    points = data["closure_points"]
    assert points, "roads cross the SEI zone"
    for p in points:
        pt = Point(p["x"], p["y"])
        # The stored zones are rounded to ~1 cm in WGS84: a centimetre of tolerance.
        assert boundary.distance(pt) < 0.02, p
        assert roads[p["road_id"]][1].distance(pt) < 1e-6, p
        lon, lat = proj.l93_to_lonlat(p["x"], p["y"])
        assert (p["lon"], p["lat"]) == pytest.approx((lon, lat), abs=1e-6)
    # One per crossing: merge each named road's segments, count where it crosses the boundary.
    by_road: dict[str, list[Any]] = {}
    for f, g in roads.values():
        key = f["properties"].get("ref") or f["properties"].get("name") or f["id"]
        by_road.setdefault(key, []).append(g)
    expected = 0
    for lines in by_road.values():
        merged = shapely.line_merge(shapely.union_all(lines))
        crossing = shapely.intersection(merged, boundary)
        expected += len(shapely.get_parts(crossing)) if not crossing.is_empty else 0
    assert len(points) == expected
    keys = [(p["ref"] or p["name"], round(p["x"]), round(p["y"])) for p in points]
    assert len(set(keys)) == len(keys)


def test_restricted_counts_never_leak_features(territory_app, toxic):
    client = login(territory_app, "cell")
    impact = client.get(f"/api/v1/events/{toxic.id}/impact").get_data(as_text=True)
    features = client.get(f"/api/v1/events/{toxic.id}/map-features").get_data(as_text=True)
    fragment = client.get(f"/events/{toxic.id}/impact").get_data(as_text=True)
    data = json.loads(impact)
    counted = {r["dataset"]: r["count"] for r in data["outer"]["restricted"]}
    assert counted.get("vulnerable-persons", 0) > 0
    assert counted.get("plant-inventory", 0) > 0
    db = connect(territory_app.config["CRISIS_DB"])
    secret = [
        r["slug"] for r in rows(db, "SELECT slug FROM datasets WHERE sensitivity != 'public'")
    ]
    for slug in secret:
        assert all(e["dataset"] != slug for e in data["outer"]["establishments"]["items"])
        assert all(n["dataset"] != slug for n in data["outer"]["networks"])
        for f in catalogue.features(db, slug):
            needles = {f["id"]} | {
                str(f["properties"][k])
                for k in ("name", "phone", "address")
                if f["properties"].get(k)
            }
            for needle in needles:
                for text in (impact, features, fragment):
                    assert needle not in text, (slug, needle)
    assert "ouvrir l'accès" in fragment


# -- map: SVG and printable extract ------------------------------------------------------------


def _pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "extract.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _svg_text(svg: str) -> str:
    return " ".join(re.findall(r">([^<>]+)</text>", svg))


def test_svg_and_printable_extract_show_the_same_map(territory_app, toxic, tmp_path):
    client = login(territory_app)
    svg_response = client.get(f"/events/{toxic.id}/map.svg")
    assert svg_response.status_code == 200
    assert svg_response.mimetype == "image/svg+xml"
    assert svg_response.headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    )
    svg = svg_response.get_data(as_text=True)
    assert "<script" not in svg
    for paper in ("A4", "A3"):
        pdf_response = client.get(f"/events/{toxic.id}/extract.pdf?paper={paper}")
        assert pdf_response.status_code == 200
        assert pdf_response.mimetype == "application/pdf"
        pdf = pdf_response.data
        assert pdf.startswith(b"%PDF")
        text = _pdf_text(pdf, tmp_path)
        svg_text = _svg_text(svg)
        # The same legend (zones and layers), the same zone labels, title and markings.
        expected = [
            toxic.title,
            "SELS — 900 m",
            "SEL — 1,6 km",
            "SEI — 3,8 km",
            "Points de bouclage",
            "Établissements scolaires",
            "Sites Seveso",
            "La Seine",
            "Routes principales",
        ]
        for label in expected:
            assert label in svg_text, label
            assert label in text, (paper, label)
        assert "DIFFUSION RESTREINTE" not in text
        assert "DIFFUSION RESTREINTE" not in svg_text
    assert client.get(f"/events/{toxic.id}/extract.pdf?paper=A5").status_code == 400


def test_drill_maps_are_marked_exercice(territory_app, playbooks, tmp_path):
    event = declare(
        territory_app,
        playbooks,
        "toxic-release",
        site="FICTIF-1",
        drill=True,
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
    )
    client = login(territory_app, "exercise")
    svg = client.get(f"/events/{event.id}/map.svg").get_data(as_text=True)
    assert "EXERCICE" in _svg_text(svg)
    text = _pdf_text(client.get(f"/events/{event.id}/extract.pdf").data, tmp_path)
    assert "EXERCICE" in text


# -- fragment, access, shared index ------------------------------------------------------------


def test_figures_fragment_and_page(territory_app, toxic):
    client = login(territory_app, "liaison")
    page = client.get(f"/events/{toxic.id}/impact")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and 'id="event-impact"' in html and 'id="event-map"' in html
    fragment = client.get(
        f"/events/{toxic.id}/impact?zone=sei&sort=name", headers={"HX-Request": "true"}
    )
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    assert body.lstrip().startswith('<section class="card impact" id="event-impact"')
    assert "HX-Request" in fragment.headers["Vary"]
    names = re.findall(r"<tr><td>([^<]+)</td><td>", body)
    assert names and names == sorted(names)
    assert "Points de bouclage" in body


@pytest.mark.parametrize("role", REFUSED)
def test_admin_and_steward_are_refused(territory_app, toxic, role):
    client = login(territory_app, role)
    for url in (
        f"/api/v1/events/{toxic.id}/zones",
        f"/api/v1/events/{toxic.id}/impact",
        f"/api/v1/events/{toxic.id}/map-features",
        f"/events/{toxic.id}/map.svg",
        f"/events/{toxic.id}/extract.pdf",
        f"/events/{toxic.id}/impact",
    ):
        assert client.get(url).status_code == 403, url


def test_unknown_event_is_404(territory_app):
    client = login(territory_app)
    assert client.get("/api/v1/events/4242/zones").status_code == 404
    assert client.get("/events/4242/map.svg").status_code == 404


def test_the_index_is_shared_and_rebuilt_when_a_dataset_changes(territory_app, toxic):
    client = login(territory_app)
    assert client.get(f"/api/v1/events/{toxic.id}/impact").status_code == 200
    index = get_index(territory_app)
    built = index.builds
    assert client.get(f"/api/v1/events/{toxic.id}/impact").status_code == 200
    assert get_index(territory_app) is index
    assert index.builds == built  # nothing rebuilt between requests
    db = connect(territory_app.config["CRISIS_DB"])
    with db.conn:
        db.execute("UPDATE datasets SET revision = revision + 1 WHERE slug = 'schools'")
    assert client.get(f"/api/v1/events/{toxic.id}/impact").status_code == 200
    assert index.builds == built + 1
    assert index.cached("schools").revision == catalogue.revision_of(db, "schools")
