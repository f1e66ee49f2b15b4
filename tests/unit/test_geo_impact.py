"""Impact analysis: hand-computed figures, access rules, fast path == full clipping."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from app.geo import proj
from app.geo.impact import LayerSpec, analyse, closure_points
from app.geo.index import LayerData, SpatialIndex, build_layer
from app.geo.zones import Zone, circle, plume

CX, CY = 520_000.0, 6_934_000.0
SRC = Point(CX, CY)


def wgs(geom):
    return proj.shape_to_geojson(proj.to_wgs84(geom), precision=None)


def data(geometry_type, rows, revision=1):
    """rows: (id, Lambert-93 geometry, properties)."""
    return LayerData(
        revision,
        geometry_type,
        [r[0] for r in rows],
        [wgs(r[1]) for r in rows],
        [r[2] for r in rows],
    )


def zone(zid, geom, level="red", family="toxic"):
    return Zone(zid, zid.upper(), level, family, "T", "circle", geom, None, "playbook", {})


def cell(ix, iy):
    x0, y0 = CX + 200 * ix, CY + 200 * iy
    return box(x0, y0, x0 + 200, y0 + 200)


def territory():
    grid = [
        (f"CRS-{ix}-{iy}", cell(ix, iy), {"ind": 100.0, "source": "synthetic"})
        for ix in range(-10, 10)
        for iy in range(-10, 10)
    ]
    communes = [
        (
            "76001",
            box(CX - 2000, CY - 2000, CX, CY + 2000),
            {"insee": "76001", "name": "FICTIF — Ouest", "population": 20_000},
        ),
        (
            "76002",
            box(CX, CY - 2000, CX + 2000, CY + 2000),
            {"insee": "76002", "name": "FICTIF — Est", "population": 40_000},
        ),
    ]
    schools = [
        (
            "DEMO-S1",
            Point(CX + 300, CY),
            {"name": "FICTIF — École A", "type": "ecole", "capacity": 120, "commune": "Est"},
        ),
        (
            "DEMO-S2",
            Point(CX - 500, CY),
            {"name": "FICTIF — Collège B", "type": "college", "capacity": 400, "commune": "Ouest"},
        ),
        (
            "DEMO-S3",
            Point(CX + 1500, CY),
            {"name": "FICTIF — Lycée C", "type": "lycee", "capacity": 900, "commune": "Est"},
        ),
        (
            "DEMO-S4",
            Point(CX, CY - 800),
            {"name": "FICTIF — École D", "type": "ecole", "capacity": 80, "commune": "Ouest"},
        ),
    ]
    vulnerable = [
        (
            "DEMO-V1",
            Point(CX + 100, CY + 100),
            {"name": "FICTIF — Mme Secret", "phone": "0600000000"},
        ),
        ("DEMO-V2", Point(CX + 5000, CY), {"name": "FICTIF — M. Loin", "phone": "0611111111"}),
    ]
    gas = [
        ("DEMO-G1", LineString([(CX - 400, CY + 50), (CX + 400, CY + 50)]), {"pressure": "MP"}),
        ("DEMO-G2", LineString([(CX + 500, CY - 100), (CX + 1500, CY - 100)]), {"pressure": "BP"}),
    ]
    gas_assets = [("DEMO-GA1", Point(CX + 10, CY + 10), {"type": "valve", "name": "FICTIF — V1"})]
    # The D982 is split into two segments that meet exactly on the 1 km circle.
    roads = [
        (
            "DEMO-R1",
            LineString([(CX - 3000, CY), (CX + 1000, CY)]),
            {"name": "FICTIF — D982", "ref": "D982", "kind": "primary"},
        ),
        (
            "DEMO-R2",
            LineString([(CX + 1000, CY), (CX + 3000, CY)]),
            {"name": "FICTIF — D982", "ref": "D982", "kind": "primary"},
        ),
        (
            "DEMO-R3",
            LineString([(CX + 300, CY - 3000), (CX + 300, CY + 3000)]),
            {"name": "FICTIF — N15", "ref": "N15", "kind": "primary"},
        ),
    ]
    return {
        "population-grid": data("Polygon", grid),
        "communes": data("MultiPolygon", communes),
        "schools": data("Point", schools),
        "vulnerable-persons": data("Point", vulnerable),
        "gas-network": data("LineString", gas),
        "gas-assets": data("Point", gas_assets),
        "roads": data("LineString", roads),
    }


SPECS = [
    LayerSpec(
        "population-grid",
        "Carroyage",
        "population",
        "public",
        "Polygon",
        "population_grid",
        "INSEE Filosofi (synthétique)",
        2019,
    ),
    LayerSpec("communes", "Communes", "reference", "public", "MultiPolygon", "communes"),
    LayerSpec("schools", "Écoles", "population", "public", "Point", "establishments"),
    LayerSpec(
        "vulnerable-persons",
        "Personnes vulnérables",
        "population",
        "personal",
        "Point",
        "establishments",
    ),
    LayerSpec("gas-network", "Réseau gaz", "network", "restricted", "LineString", "network_lines"),
    LayerSpec("gas-assets", "Ouvrages gaz", "network", "restricted", "Point", "network_assets"),
    LayerSpec("roads", "Routes", "reference", "public", "LineString", "roads"),
]


@pytest.fixture(scope="module")
def index():
    layers = territory()
    return SpatialIndex(lambda slug: layers[slug])


def test_half_cell_counts_half_its_population(index):
    # Cell (0, 0) spans x in [CX, CX + 200]: the zone stops in its middle.
    z = zone("half", box(CX - 100_000, CY, CX + 100, CY + 200))
    imp = analyse([z], index, SPECS[:1], SRC)
    # Cells (-10..-1, 0) whole (10 x 100) + half of cell (0, 0).
    assert imp.zones[0].population["total"] == pytest.approx(1050, abs=1e-6)
    pop = imp.to_json()["zones"][0]["population"]
    assert pop["method"] == (
        "pondération surfacique sur la grille de 200 m (INSEE, données synthétiques)"
    )
    assert pop["source"] == "INSEE Filosofi (synthétique)" and pop["year"] == 2019


def test_full_analysis_of_nested_zones(index):
    red = zone("red", circle(SRC, 600))
    yellow = zone("yellow", circle(SRC, 1000), level="yellow")
    imp = analyse([yellow, red], index, SPECS, SRC)
    out = imp.to_json()
    json.dumps(out)
    assert [z["id"] for z in out["zones"]] == ["red", "yellow"]
    r, y = out["zones"]
    # Schools: S1 (300 m) and S2 (500 m) in red; S4 (800 m) added in yellow.
    assert [i["id"] for i in r["establishments"]["items"]] == ["DEMO-S1", "DEMO-S2"]
    assert r["establishments"]["items"][0]["distance_m"] == pytest.approx(300, abs=0.1)
    assert y["establishments"]["by_type"] == {
        "college": {"count": 1, "capacity": 400},
        "ecole": {"count": 2, "capacity": 200},
    }
    # Population inside <= total and grows outwards.
    assert 0 < r["population"]["total"] < y["population"]["total"] <= 40_000
    assert y["population"]["total"] == pytest.approx(np.pi * 1000**2 / 40_000 * 100, rel=1e-3)
    # Communes split the circle in two halves (the source is on their border).
    communes = {c["insee"]: c for c in y["communes"]}
    assert set(communes) == {"76001", "76002"}
    total = y["population"]["total"]
    assert communes["76002"]["population_inside"] == pytest.approx(total / 2, rel=0.05)
    assert communes["76002"]["share"] == pytest.approx(
        communes["76002"]["population_inside"] / 40_000, abs=1e-4
    )
    # The outer zone is the yellow one (nested).
    assert out["outer"]["population"]["total"] == y["population"]["total"]


def test_restricted_layers_give_counts_only(index):
    z = zone("z", circle(SRC, 1000))
    out = analyse([z], index, SPECS, SRC).to_json()
    text = json.dumps(out, ensure_ascii=False)
    for secret in ("DEMO-V1", "DEMO-G1", "DEMO-GA1", "Secret", "0600000000", "V1", "valve", "MP"):
        assert secret not in text, secret
    restricted = {r["dataset"]: r for r in out["zones"][0]["restricted"]}
    assert restricted["vulnerable-persons"]["count"] == 1
    assert restricted["gas-assets"]["count"] == 1
    assert restricted["gas-network"]["count"] == 2
    # G1 fully inside (800 m) + G2 from x = 500 to the circle at y = -100.
    g2 = np.sqrt(1000**2 - 100**2) - 500
    assert restricted["gas-network"]["length_m"] == pytest.approx(800 + g2, abs=0.1)
    assert out["zones"][0]["networks"] == []


def test_open_datasets_are_listed_in_full(index):
    z = zone("z", circle(SRC, 1000))
    opened = {"vulnerable-persons", "gas-network", "gas-assets"}
    out = analyse([z], index, SPECS, SRC, open_datasets=opened).to_json()
    zj = out["zones"][0]
    assert zj["restricted"] == []
    items = {i["id"]: i for i in zj["establishments"]["items"]}
    assert items["DEMO-V1"]["name"] == "FICTIF — Mme Secret"
    nets = {n["dataset"]: n for n in zj["networks"]}
    assert nets["gas-assets"]["by_type"] == {"valve": 1}
    assert nets["gas-network"]["count"] == 2
    assert {i["id"] for i in nets["gas-network"]["items"]} == {"DEMO-G1", "DEMO-G2"}


def test_closure_points_on_boundary_and_road_one_per_crossing(index):
    z = zone("z", circle(SRC, 1000))
    out = analyse([z], index, SPECS, SRC).to_json()
    pts = out["closure_points"]
    by_ref: dict[str, list] = {}
    for p in pts:
        by_ref.setdefault(p["ref"], []).append(p)
    # D982 crosses twice (west, and east at the segment junction: deduped); N15 twice.
    assert len(by_ref["D982"]) == 2 and len(by_ref["N15"]) == 2
    boundary = z.geometry.boundary
    road_lines = {
        "D982": LineString([(CX - 3000, CY), (CX + 3000, CY)]),
        "N15": LineString([(CX + 300, CY - 3000), (CX + 300, CY + 3000)]),
    }
    for p in pts:
        pt = Point(p["x"], p["y"])
        assert boundary.distance(pt) < 1e-6
        assert road_lines[p["ref"]].distance(pt) < 1e-6
        x, y = proj.lonlat_to_l93(p["lon"], p["lat"])
        assert abs(x - p["x"]) < 0.05 and abs(y - p["y"]) < 0.05
    bearings = [p["bearing_deg"] for p in pts]
    assert bearings == sorted(bearings)


def test_closure_points_for_a_plume_outer_zone(index):
    z = zone("p", plume(SRC, 270, 6, 1500))  # blows towards the east
    pts = closure_points(index.layer("roads"), z.geometry, CX, CY)
    refs = sorted(p["ref"] for p in pts)
    # D982 leaves the source circle westwards and the sector eastwards; N15 crosses the sector.
    assert refs == ["D982", "D982", "N15", "N15"]


def test_communes_fallback_without_grid(index):
    z = zone("z", box(CX - 1000, CY - 2000, CX + 1000, CY + 2000))
    out = analyse([z], index, SPECS[1:3], SRC).to_json()
    pop = out["zones"][0]["population"]
    # Half of each commune's area: 10 000 + 20 000.
    assert pop["total"] == pytest.approx(30_000, abs=1e-6)
    assert pop["method"].startswith("pondération surfacique sur les communes")
    shares = {c["insee"]: c["share"] for c in out["zones"][0]["communes"]}
    assert shares == {"76001": 0.5, "76002": 0.5}


def test_empty_zone_list_and_empty_results(index):
    z = zone("far", circle(Point(CX + 500_000, CY), 100))
    out = analyse([z], index, SPECS, SRC).to_json()
    zj = out["zones"][0]
    assert zj["population"]["total"] == 0
    assert zj["establishments"]["items"] == [] and out["closure_points"] == []


# -- property-based: fast path == full intersection ---------------------------------------------


def full_intersection_population(layer, geom):
    cand = layer.tree.query(geom, predicate="intersects")
    geoms = layer.geoms[cand]
    inter = shapely.intersection(geoms, geom)
    ind = layer.properties.numeric("ind")[cand]
    return float(np.sum(ind * shapely.area(inter) / shapely.area(geoms)))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 14),
    radius=st.floats(50, 1800),
    wind=st.floats(0, 360),
    speed=st.floats(0, 10),
    dx=st.floats(-600, 600),
    dy=st.floats(-600, 600),
)
def test_fast_path_equals_full_intersection(seed, n, radius, wind, speed, dx, dy):
    rng = np.random.default_rng(seed)
    rows = []
    for ix in range(-n, n):
        for iy in range(-n, n):
            if rng.random() < 0.8:  # inhabited squares only, as in INSEE's grid
                rows.append((f"c{ix}_{iy}", cell(ix, iy), {"ind": float(rng.integers(0, 500))}))
    layer_data = data("Polygon", rows)
    idx = SpatialIndex(lambda slug: layer_data)
    centre = Point(CX + dx, CY + dy)
    z = zone("z", plume(centre, wind, speed, radius))
    imp = analyse([z], idx, SPECS[:1], centre)
    layer = idx.layer("population-grid")
    expected = full_intersection_population(layer, z.geometry)
    got = imp.zones[0].population["total"]
    assert got == pytest.approx(expected, abs=1e-6)
    assert got <= float(layer.properties.numeric("ind").sum()) + 1e-6


def test_build_layer_used_directly_matches_index():
    layer = build_layer("population-grid", territory()["population-grid"])
    assert len(layer) == 400
    assert layer.geoms[0].area == pytest.approx(40_000, abs=1e-3)


def test_the_share_outside_each_coverage_and_the_layers_stopping_there():
    """Guards item 3 (issue 13): per coverage, the share of the zone beyond it and the layers
    that stop there, in French; `uncovered_share` is beyond any of them (hand-computed)."""
    from shapely.geometry import box

    from app.geo.impact import LayerSpec, ZoneImpact, _coverage, coverage_note

    zone = box(0, 0, 10, 10)
    territory = box(0, 0, 10, 6)  # 40 % of the zone beyond
    gas = box(0, 0, 5, 10)  # 50 % beyond
    specs = [
        LayerSpec("population-grid", "Pop", "population", "public", "Polygon", "population_grid",
                  coverage=territory),
        LayerSpec("schools", "Écoles", "population", "public", "Point", "establishments",
                  coverage=territory),
        LayerSpec("gas-network", "Réseau gaz", "network", "restricted", "LineString",
                  "network_lines", coverage=gas,
                  coverage_label="de la couverture de « Réseau gaz »"),
    ]  # fmt: skip
    zi = ZoneImpact("z", "Z", "red", "toxic", "SEI", "circle", 100.0)
    _coverage(zi, zone, specs)
    assert zi.uncovered_share == pytest.approx(0.7)  # beyond their intersection (0..5 × 0..6)
    assert coverage_note(zi.uncovered) == (
        "50\u202f% de la zone hors de la couverture de « Réseau gaz » : réseaux non comptés"
        " au-delà ; 40\u202f% de la zone hors du territoire couvert : population et"
        " établissements non comptés au-delà"
    )
    inside = ZoneImpact("y", "Y", "red", "toxic", "SEI", "circle", 10.0)
    _coverage(inside, box(1, 1, 2, 2), specs)
    assert inside.uncovered_share == 0 and inside.uncovered == []
